"""Benchmark the contrastive losses, dense vs chunked: forward+backward time and peak memory.

For each loss (info_nce, nt_xent, dcl), each batch size N and each path (dense: the full
similarity matrix; chunked: ``chunk_size`` column blocks, O(N·chunk) extra memory), runs
forward + backward ``--repeats`` times after one warm-up and reports the median time.

Memory: on CUDA, ``torch.cuda.max_memory_allocated`` during one forward + backward minus the
memory allocated before it (``mem_method = "cuda_max_memory_allocated"``). On CPU there is no
allocator peak counter, so the figure is the bytes of the distinct storages autograd saves for
backward (``mem_method = "autograd_saved_tensor_bytes"``): it shows the O(N^2) vs O(N·D)
difference but not transient blocks.

Prints a table to stderr and one JSON line (last) to stdout::

    PYTHONPATH=core/src python benchmarks/core/losses.py --sizes 256,1024
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

try:
    from selfsup.losses import dcl, info_nce, nt_xent
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "core" / "src"))
    from selfsup.losses import dcl, info_nce, nt_xent

LOSSES = {
    "info_nce": lambda a, b, c: info_nce(a, b, 0.1, chunk_size=c),
    "nt_xent": lambda a, b, c: nt_xent(a, b, 0.5, chunk_size=c),
    "dcl": lambda a, b, c: dcl(a, b, 0.1, chunk_size=c),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    cuda = torch.cuda.is_available()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if cuda else "cpu")
    p.add_argument(
        "--sizes",
        default=None,
        help="comma-separated N (default 1024,4096,16384 on CUDA, 256,1024 on CPU)",
    )
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--chunk-size", type=int, default=1024)
    p.add_argument(
        "--dtype", default="float32", choices=["float32", "bfloat16", "float16", "float64"]
    )
    p.add_argument("--repeats", type=int, default=None, help="default 10 on CUDA, 3 on CPU")
    p.add_argument("--losses", default=",".join(LOSSES), help="subset of " + ",".join(LOSSES))
    args = p.parse_args(argv)
    on_cuda = args.device.startswith("cuda")
    args.sizes = [
        int(s) for s in (args.sizes or ("1024,4096,16384" if on_cuda else "256,1024")).split(",")
    ]
    args.repeats = args.repeats or (10 if on_cuda else 3)
    args.losses = [name.strip() for name in args.losses.split(",")]
    unknown = [name for name in args.losses if name not in LOSSES]
    if unknown:
        p.error(f"unknown loss(es) {unknown}; choose from {list(LOSSES)}")
    return args


def saved_tensor_bytes(fn) -> int:
    """Bytes of distinct storages saved for backward while ``fn`` builds its graph."""
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = fn()
    del loss
    return sum(storages.values())


def run_one(name: str, n: int, chunk: int | None, args: argparse.Namespace) -> dict:
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    on_cuda = device.type == "cuda"
    g = torch.Generator(device="cpu").manual_seed(n)
    a = torch.randn(n, args.dim, generator=g).to(device, dtype).requires_grad_()
    b = torch.randn(n, args.dim, generator=g).to(device, dtype).requires_grad_()
    fn = LOSSES[name]

    def step() -> None:
        loss = fn(a, b, chunk)
        loss.backward()
        a.grad = b.grad = None

    def sync() -> None:
        if on_cuda:
            torch.cuda.synchronize(device)

    row = {"loss": name, "n": n, "chunked": chunk is not None, "chunk_size": chunk}
    try:
        step()  # warm-up
        sync()
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            step()
            sync()
            times.append(time.perf_counter() - start)
        if on_cuda:
            torch.cuda.reset_peak_memory_stats(device)
            base = torch.cuda.memory_allocated(device)
            step()
            sync()
            row["peak_mem_bytes"] = torch.cuda.max_memory_allocated(device) - base
            row["mem_method"] = "cuda_max_memory_allocated"
        else:
            row["peak_mem_bytes"] = saved_tensor_bytes(lambda: fn(a, b, chunk))
            row["mem_method"] = "autograd_saved_tensor_bytes"
        row["time_ms_median"] = 1e3 * statistics.median(times)
        row["time_ms_min"] = 1e3 * min(times)
    except torch.cuda.OutOfMemoryError:
        row.update(error="oom", time_ms_median=None, peak_mem_bytes=None)
    if row.get("error"):
        a.grad = b.grad = None
        gc.collect()
        torch.cuda.empty_cache()
    return row


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return platform.processor() or platform.machine() or "cpu"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    results = []
    header = f"{'loss':<9} {'N':>7} {'path':<13} {'fwd+bwd ms':>11} {'peak MiB':>10}"
    print(
        f"device={args.device} ({device_name(args.device)}) dtype={args.dtype} "
        f"dim={args.dim} repeats={args.repeats}",
        file=sys.stderr,
    )
    print(header, file=sys.stderr)
    print("-" * len(header), file=sys.stderr)
    for name in args.losses:
        for n in args.sizes:
            for chunk in (None, args.chunk_size):
                row = run_one(name, n, chunk, args)
                results.append(row)
                path = f"chunk={chunk}" if chunk else "dense"
                ms = "oom" if row.get("error") else f"{row['time_ms_median']:.2f}"
                mem = "oom" if row.get("error") else f"{row['peak_mem_bytes'] / 2**20:.2f}"
                print(f"{name:<9} {n:>7} {path:<13} {ms:>11} {mem:>10}", file=sys.stderr)
    mem_method = (
        "cuda_max_memory_allocated"
        if args.device.startswith("cuda")
        else "autograd_saved_tensor_bytes"
    )
    print(f"peak memory method: {mem_method}", file=sys.stderr)
    print(
        json.dumps(
            {
                "benchmark": "core.losses",
                "device": args.device,
                "device_name": device_name(args.device),
                "torch": torch.__version__,
                "dtype": args.dtype,
                "dim": args.dim,
                "chunk_size": args.chunk_size,
                "repeats": args.repeats,
                "mem_method": mem_method,
                "results": results,
            }
        )
    )


if __name__ == "__main__":
    main()
