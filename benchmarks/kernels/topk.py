"""Benchmark exact cosine top-k search: chunked ``similarity_topk`` vs full matmul + topk.

For each query count Q, bank size M and k (D = 256, bf16 by default), times

* ``chunked``: :func:`selfsup.kernels.similarity_topk` for each ``--chunks`` setting
  (``query_rows x bank_rows`` per score tile; fp32 scores, O(tile) memory);
* ``naive``: ``F.normalize`` both, one ``Q x M`` score matrix in the input dtype, ``torch.topk``.

There is no Triton top-k kernel (see ``selfsup/kernels/topk.py``'s docstring for why).
Reported: median ms over ``--repeats`` runs after one warm-up, effective TFLOP/s of the
``2·Q·M·D`` matmul, extra peak memory (CUDA: ``torch.cuda.max_memory_allocated`` during the call
minus the memory allocated before it; not measured on CPU), and ``overlap``: the fraction of the
naive top-k indices the chunked result also returns (< 1 in bf16, whose scores round to 8
mantissa bits and rank differently). A naive run that does not fit is reported as ``oom``.

Prints a table to stderr and one JSON line (last) to stdout::

    python benchmarks/kernels/topk.py                           # CUDA defaults below
    python benchmarks/kernels/topk.py --device cpu --queries 256 --bank 20000 --dtype float32
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

try:
    import selfsup.kernels.topk as topk_module
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "core" / "src"))
    import selfsup.kernels.topk as topk_module

similarity_topk = topk_module.similarity_topk

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    cuda = torch.cuda.is_available()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if cuda else "cpu")
    p.add_argument("--queries", default=None, help="comma-separated Q (CUDA 1024,8192; CPU 256)")
    p.add_argument(
        "--bank", default=None, help="comma-separated M (CUDA 100000,1000000; CPU 20000)"
    )
    p.add_argument("--dim", type=int, default=256)
    p.add_argument("--k", default="20,100")
    p.add_argument("--dtype", default=None, choices=list(DTYPES), help="CUDA bf16, CPU fp32")
    p.add_argument(
        "--chunks",
        default="1024x32768,4096x65536",
        help="comma-separated QUERYxBANK tile sizes for the chunked path",
    )
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-naive", action="store_true")
    args = p.parse_args(argv)
    on_cuda = args.device.startswith("cuda")
    args.queries = [
        int(x) for x in (args.queries or ("1024,8192" if on_cuda else "256")).split(",")
    ]
    args.bank = [
        int(x) for x in (args.bank or ("100000,1000000" if on_cuda else "20000")).split(",")
    ]
    args.k = [int(x) for x in args.k.split(",")]
    args.dtype = args.dtype or ("bfloat16" if on_cuda else "float32")
    args.chunks = [tuple(int(v) for v in c.split("x")) for c in args.chunks.split(",")]
    return args


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(fn, device: torch.device, repeats: int):
    """(median ms, extra peak bytes or None, last result); None ms when it does not fit."""
    try:
        result = fn()  # warm-up
        sync(device)
        del result
        gc.collect()
        peak = None
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
            before = torch.cuda.memory_allocated(device)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            result = fn()
            sync(device)
            times.append((time.perf_counter() - t0) * 1e3)
        if device.type == "cuda":
            peak = torch.cuda.max_memory_allocated(device) - before
        return statistics.median(times), peak, result
    except torch.OutOfMemoryError:
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
        return None, None, None


def naive_topk(queries: torch.Tensor, bank: torch.Tensor, k: int):
    scores = F.normalize(queries, dim=1) @ F.normalize(bank, dim=1).T
    return scores.topk(k, dim=1)


def run_config(queries: torch.Tensor, bank: torch.Tensor, k: int, args, device) -> list[dict]:
    """Naive and chunked runs for one (Q, M, k); prints one table line each."""
    q, m = queries.shape[0], bank.shape[0]
    flop = 2.0 * q * m * args.dim
    results = []
    naive_idx = None
    if not args.no_naive:
        ms, peak, res = measure(lambda: naive_topk(queries, bank, k), device, args.repeats)
        naive_idx = None if res is None else res.indices
        results.append(("naive", ms, peak, None))
    for cq, cm in args.chunks:
        ms, peak, res = measure(
            lambda cq=cq, cm=cm: similarity_topk(
                queries, bank, k, chunk_size=cq, bank_chunk_size=cm
            ),
            device,
            args.repeats,
        )
        overlap = None
        if res is not None and naive_idx is not None:
            hit = (res[1][:, :, None] == naive_idx[:, None, :]).any(1)
            overlap = float(hit.float().mean())
        results.append((f"chunked {cq}x{cm}", ms, peak, overlap))
    rows = []
    for method, ms, peak, overlap in results:
        row = {
            "Q": q,
            "M": m,
            "k": k,
            "D": args.dim,
            "method": method,
            "ms": None if ms is None else round(ms, 3),
            "tflops": None if ms is None else round(flop / (ms * 1e-3) / 1e12, 2),
            "peak_bytes": peak,
            "overlap_with_naive": None if overlap is None else round(overlap, 4),
            "status": "ok" if ms is not None else "oom",
        }
        rows.append(row)
        ms_s = "oom" if ms is None else f"{ms:.3f}"
        tf_s = "" if ms is None else f"{row['tflops']:.1f}"
        mem_s = "" if peak is None else f"{peak / 2**20:.0f}"
        ov_s = "" if overlap is None else f"{overlap:.4f}"
        print(
            f"{q:>6} {m:>8} {k:>4} {method:<22} {ms_s:>10} {tf_s:>8} {mem_s:>9} {ov_s:>8}",
            file=sys.stderr,
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = torch.device(args.device)
    dtype = DTYPES[args.dtype]
    gen = torch.Generator(device=device).manual_seed(0)
    rows = []
    header = (
        f"{'Q':>6} {'M':>8} {'k':>4} {'method':<22} {'ms':>10} {'TFLOP/s':>8} "
        f"{'peak MiB':>9} {'overlap':>8}"
    )
    print(f"D={args.dim} {args.dtype} cosine on {device}", file=sys.stderr)
    print(header, file=sys.stderr)
    print("-" * len(header), file=sys.stderr)
    for m in args.bank:
        bank = torch.randn(m, args.dim, device=device, dtype=dtype, generator=gen)
        for q in args.queries:
            queries = torch.randn(q, args.dim, device=device, dtype=dtype, generator=gen)
            for k in args.k:
                rows += run_config(queries, bank, k, args, device)
            del queries
        del bank
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
    print(
        json.dumps(
            {
                "benchmark": "kernels_topk",
                "device": (
                    torch.cuda.get_device_name(device)
                    if device.type == "cuda"
                    else platform.processor() or platform.machine()
                ),
                "torch": torch.__version__,
                "dtype": args.dtype,
                "normalize": True,
                "repeats": args.repeats,
                "tf32": torch.backends.cuda.matmul.allow_tf32,
                # True: half inputs used torch.mm(out_dtype=float32); False: half output upcast
                "mm_out_dtype": topk_module._MM_OUT_DTYPE,
                "mem_method": "cuda_max_memory_allocated" if device.type == "cuda" else None,
                "results": rows,
            }
        )
    )


if __name__ == "__main__":
    main()
