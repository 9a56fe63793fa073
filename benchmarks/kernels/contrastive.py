"""Benchmark the fused contrastive log-sum-exp: naive PyTorch vs chunked PyTorch vs Triton.

For each loss (``info_nce`` with M = N keys; ``nt_xent`` on 2N rows), batch size N, feature
dimension D and mode (``fwd``: forward under ``torch.no_grad``; ``fwd_bwd``: forward + backward
to both inputs), times three paths:

* ``naive``: dense logits + ``F.cross_entropy`` (what most codebases write): O(N^2) memory;
* ``chunked``: ``selfsup.losses`` with ``chunk_size`` and ``SELFSUP_KERNELS=torch``
  (streamed column blocks, O(N·chunk) memory);
* ``triton``: ``selfsup.losses`` with ``SELFSUP_KERNELS=triton``
  (:mod:`selfsup.kernels.lse.triton`).

Time: median (and min) of ``--repeats`` runs after ``--warmup`` runs (the first compiles the
kernels), CUDA events on CUDA, ``perf_counter`` on CPU. Memory: ``torch.cuda.max_memory_allocated``
during one run minus the memory allocated before it (inputs excluded), CUDA only. OOM (and any
other failure) is recorded per row as ``error`` and the sweep goes on.

FLOP accounting: one similarity product is ``2·R·C·D`` FLOP (R rows, C columns: ``N x N`` for
info_nce, ``2N x 2N`` for nt_xent). ``products`` is what the path executes (forward 1; backward:
naive autograd 2, chunked PyTorch 3 (recompute + two products; 2 for the symmetric nt_xent
form), Triton ``2 (NUM_DC + 1)`` (dQ and dK kernels each recompute S once per output feature
chunk of 256 and do one product; symmetric ``NUM_DC + 1``)); ``tflops`` = executed FLOP / time,
``tflops_useful`` = FLOP of the minimal algorithm (forward 1 product, forward+backward 3) / time,
comparable across paths. Normalisation and the O(N·D) positive term are included in the times
but not in the FLOP counts.

Prints a table to stderr and one JSON line (last) to stdout::

    python benchmarks/kernels/contrastive.py --quick            # CUDA subset, a few minutes
    python benchmarks/kernels/contrastive.py                    # N up to 262144, D 128/256/512
    python benchmarks/kernels/contrastive.py --device cpu       # tiny CPU smoke run
    TRITON_INTERPRET=1 python benchmarks/kernels/contrastive.py --device cpu   # + interpreter
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
import torch.nn.functional as F

try:
    from selfsup.losses import info_nce, nt_xent
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "core" / "src"))
    from selfsup.losses import info_nce, nt_xent

from selfsup.imports import module_available

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
LOSSES = ("info_nce", "nt_xent")
PATHS = ("naive", "chunked", "triton")
MODES = ("fwd", "fwd_bwd")
TAU = {"info_nce": 0.1, "nt_xent": 0.5}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    cuda = torch.cuda.is_available()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if cuda else "cpu")
    p.add_argument("--dtype", default=None, choices=list(DTYPES), help="default bfloat16 (CUDA)")
    p.add_argument("--sizes", default=None, help="comma-separated N")
    p.add_argument("--dims", default=None, help="comma-separated D")
    p.add_argument("--losses", default=",".join(LOSSES))
    p.add_argument("--paths", default=",".join(PATHS))
    p.add_argument("--modes", default=",".join(MODES))
    p.add_argument("--chunk-size", type=int, default=4096, help="chunked path block (columns)")
    p.add_argument("--repeats", type=int, default=None, help="default 10 (quick: 5; CPU: 2)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument(
        "--max-tflop",
        type=float,
        default=1500.0,
        help="skip a row whose executed FLOP per run exceeds this many TFLOP (time budget)",
    )
    p.add_argument(
        "--triton-configs",
        default=None,
        help="also time the triton path under KernelConfig overrides, ';'-separated "
        "'block_m,block_n,num_warps,num_stages[,max_block_d]' (all kernels), "
        "e.g. '64,64,8,2;128,64,8,3,128'",
    )
    p.add_argument("--quick", action="store_true", help="N 4096,16384,65536; D 128,256; 5 reps")
    args = p.parse_args(argv)
    on_cuda = args.device.startswith("cuda")
    if args.dtype is None:
        args.dtype = "bfloat16" if on_cuda else "float32"
    if on_cuda:
        sizes = "4096,16384,65536" if args.quick else "4096,16384,65536,262144"
        dims = "128,256" if args.quick else "128,256,512"
    else:
        sizes, dims = "64,96", "16,40"
    args.sizes = [int(s) for s in (args.sizes or sizes).split(",")]
    args.dims = [int(s) for s in (args.dims or dims).split(",")]
    args.repeats = args.repeats or (2 if not on_cuda else 5 if args.quick else 10)
    args.losses = _names(p, args.losses, LOSSES, "loss")
    args.paths = _names(p, args.paths, PATHS, "path")
    args.modes = _names(p, args.modes, MODES, "mode")
    args.configs = []
    if args.triton_configs:
        for spec in args.triton_configs.split(";"):
            values = [int(v) for v in spec.split(",")]
            if len(values) not in (4, 5):
                p.error(
                    f"--triton-configs entry {spec!r} needs 4 or 5 integers: "
                    "block_m,block_n,num_warps,num_stages[,max_block_d]"
                )
            names = ("block_m", "block_n", "num_warps", "num_stages", "max_block_d")
            args.configs.append(dict(zip(names, values, strict=False)))
    return args


def _names(p: argparse.ArgumentParser, value: str, known: tuple, what: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in names if v not in known]
    if unknown:
        p.error(f"unknown {what}(s) {unknown}; choose from {list(known)}")
    return names


@contextlib.contextmanager
def kernels_env(value: str) -> Iterator[None]:
    """Set ``SELFSUP_KERNELS`` for the duration (the losses read it on every call)."""
    old = os.environ.get("SELFSUP_KERNELS")
    os.environ["SELFSUP_KERNELS"] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("SELFSUP_KERNELS", None)
        else:
            os.environ["SELFSUP_KERNELS"] = old


def naive_info_nce(q: torch.Tensor, k: torch.Tensor, tau: float) -> torch.Tensor:
    logits = F.normalize(q, dim=1) @ F.normalize(k, dim=1).T / tau
    return F.cross_entropy(logits, torch.arange(q.shape[0], device=q.device))


def naive_nt_xent(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> torch.Tensor:
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n2 = z.shape[0]
    eye = torch.eye(n2, dtype=torch.bool, device=z.device)
    sim = (z @ z.T / tau).masked_fill(eye, float("-inf"))
    labels = (torch.arange(n2, device=z.device) + n2 // 2) % n2
    return F.cross_entropy(sim, labels)


def loss_fn(loss: str, path: str, chunk_size: int) -> Callable[..., torch.Tensor]:
    """``fn(a, b)`` computing ``loss`` along ``path``."""
    tau = TAU[loss]
    if path == "naive":
        return (
            (lambda a, b: naive_info_nce(a, b, tau))
            if loss == "info_nce"
            else (lambda a, b: naive_nt_xent(a, b, tau))
        )
    chunk = chunk_size if path == "chunked" else None
    if loss == "info_nce":
        return lambda a, b: info_nce(a, b, tau, chunk_size=chunk)
    return lambda a, b: nt_xent(a, b, tau, chunk_size=chunk)


def products(loss: str, path: str, mode: str, d: int, dtype: torch.dtype) -> int:
    """Similarity-sized products the path executes (see the module docstring)."""
    if mode == "fwd":
        return 1
    symmetric = loss == "nt_xent"
    if path == "naive":
        return 3
    if path == "chunked":
        return 3 if symmetric else 4
    from selfsup.kernels.lse.triton import matmul_count

    return 1 + matmul_count(d, dtype, symmetric=symmetric)["backward"]


def triton_runs(device: torch.device) -> bool:
    """Whether the Triton path can run here (CUDA, or CPU under ``TRITON_INTERPRET=1``)."""
    if not module_available("triton"):
        return False
    if device.type == "cuda":
        return True
    return os.environ.get("TRITON_INTERPRET") == "1"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_runs(step: Callable[[], None], device: torch.device, repeats: int, warmup: int):
    """Per-run milliseconds (CUDA events on CUDA, perf_counter on CPU)."""
    for _ in range(warmup):
        step()
    _sync(device)
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            step()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            step()
            times.append(1e3 * (time.perf_counter() - t0))
    return times


def run_one(
    loss: str,
    n: int,
    d: int,
    path: str,
    mode: str,
    args: argparse.Namespace,
    config: dict | None = None,
) -> dict:
    """Time one (loss, N, D, path, mode) cell; returns a JSON-able row."""
    device, dtype = torch.device(args.device), DTYPES[args.dtype]
    rows = n if loss == "info_nce" else 2 * n
    row = {"loss": loss, "n": n, "d": d, "path": path, "mode": mode, "rows": rows, "cols": rows}
    if config:
        row["config"] = config
    if path == "triton" and not triton_runs(device):
        row["error"] = "skipped: triton needs CUDA (or TRITON_INTERPRET=1 on CPU)"
        return row
    if config:  # max_block_d changes the backward's recomputations
        from selfsup.kernels.lse.triton import override_config

        with override_config(**config):
            n_products = products(loss, path, mode, d, dtype)
    else:
        n_products = products(loss, path, mode, d, dtype)
    flop = 2.0 * rows * rows * d
    row["products"] = n_products
    row["useful_products"] = 1 if mode == "fwd" else 3
    if flop * n_products / 1e12 > args.max_tflop:
        row["error"] = f"skipped: {flop * n_products / 1e12:.0f} TFLOP > --max-tflop"
        return row
    g = torch.Generator(device="cpu").manual_seed(n + d)
    a = torch.randn(n, d, generator=g).to(device, dtype).requires_grad_(mode == "fwd_bwd")
    b = torch.randn(n, d, generator=g).to(device, dtype).requires_grad_(mode == "fwd_bwd")
    fn = loss_fn(loss, path, args.chunk_size)
    env = "torch" if path in ("naive", "chunked") else "triton"

    def step() -> None:
        if mode == "fwd":
            with torch.no_grad():
                fn(a, b)
        else:
            fn(a, b).backward()
            a.grad = b.grad = None

    override = contextlib.nullcontext()
    if config:
        from selfsup.kernels.lse.triton import override_config

        override = override_config(**config)
    try:
        with kernels_env(env), override:
            times = time_runs(step, device, args.repeats, args.warmup)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
                base = torch.cuda.memory_allocated(device)
                step()
                _sync(device)
                row["peak_mem_bytes"] = torch.cuda.max_memory_allocated(device) - base
        row["time_ms_median"] = statistics.median(times)
        row["time_ms_min"] = min(times)
        seconds = row["time_ms_median"] / 1e3
        row["tflops"] = flop * n_products / seconds / 1e12
        row["tflops_useful"] = flop * row["useful_products"] / seconds / 1e12
    except torch.cuda.OutOfMemoryError:
        row["error"] = "oom"
    except Exception as err:  # record and go on (e.g. a kernel out of resources)
        row["error"] = f"{type(err).__name__}: {str(err)[:200]}"
    finally:
        a.grad = b.grad = None
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return row


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return platform.processor() or platform.machine() or "cpu"


def format_row(row: dict) -> str:
    cfg = row.get("config")
    path = row["path"] + (
        f"[{cfg['block_m']}x{cfg['block_n']}w{cfg['num_warps']}s{cfg['num_stages']}"
        + (f"d{cfg['max_block_d']}" if "max_block_d" in cfg else "")
        + "]"
        if cfg
        else ""
    )
    head = f"{row['loss']:<9} {row['n']:>7} {row['d']:>5} {row['mode']:<8} {path:<24}"
    if row.get("error"):
        return f"{head} {row['error']}"
    mem = row.get("peak_mem_bytes")
    mem_s = f"{mem / 2**20:>10.1f}" if mem is not None else f"{'-':>10}"
    return (
        f"{head} {row['time_ms_median']:>10.3f} {row['tflops']:>8.1f} "
        f"{row['tflops_useful']:>8.1f} {mem_s}"
    )


def run(args: argparse.Namespace) -> dict:
    """The whole sweep; prints the table to stderr, returns the JSON document."""
    header = (
        f"{'loss':<9} {'N':>7} {'D':>5} {'mode':<8} {'path':<24} {'ms (med)':>10} "
        f"{'TFLOP/s':>8} {'useful':>8} {'peak MiB':>10}"
    )
    versions = {"torch": torch.__version__}
    if module_available("triton"):
        import triton

        versions["triton"] = triton.__version__
    print(
        f"device={args.device} ({device_name(args.device)}) dtype={args.dtype} "
        f"repeats={args.repeats} chunk_size={args.chunk_size} {versions}",
        file=sys.stderr,
    )
    print(header, file=sys.stderr)
    print("-" * len(header), file=sys.stderr)
    results = []
    for loss in args.losses:
        for n in args.sizes:
            for d in args.dims:
                for mode in args.modes:
                    cells = [(path, None) for path in args.paths]
                    if "triton" in args.paths:
                        cells += [("triton", cfg) for cfg in args.configs]
                    for path, cfg in cells:
                        row = run_one(loss, n, d, path, mode, args, cfg)
                        results.append(row)
                        print(format_row(row), file=sys.stderr, flush=True)
    return {
        "benchmark": "kernels.contrastive",
        "device": args.device,
        "device_name": device_name(args.device),
        **versions,
        "dtype": args.dtype,
        "chunk_size": args.chunk_size,
        "repeats": args.repeats,
        "warmup": args.warmup,
        "time_method": "cuda_events_median" if args.device.startswith("cuda") else "perf_counter",
        "mem_method": "cuda_max_memory_allocated" if args.device.startswith("cuda") else None,
        "flop_per_product": "2*rows*cols*D (info_nce rows=cols=N; nt_xent rows=cols=2N)",
        "products_note": (
            "executed similarity-sized products per run: fwd 1; fwd_bwd naive 3, chunked 4 "
            "(nt_xent symmetric 3), triton 1 + 2*(NUM_DC+1) (nt_xent symmetric 1 + NUM_DC+1), "
            "NUM_DC = ceil(D / 256) for 16-bit inputs; useful_products: fwd 1, fwd_bwd 3"
        ),
        "results": results,
    }


def main(argv: list[str] | None = None) -> None:
    doc = run(parse_args(argv))
    print(json.dumps(doc))


if __name__ == "__main__":
    main()
