"""NT-Xent on the CPU: the plain formula, our dense path, our chunked path (and lightly's
``NTXentLoss`` when lightly is installed), forward + backward time and peak memory.

Each (path, N) runs in a fresh process (``--one`` mode) so one configuration's allocator state
cannot flatter the next: one warm-up step, then the median of ``--repeats`` forward + backward
steps. Peak memory is how far the steps raise the process's peak resident set size above what
it was with the inputs allocated, plus the two input views (inputs included, as the
measurements of issue 21 counted them). Large tensors are their own ``mmap`` on Linux, returned
when freed, so this tracks the live tensors; it also counts what the first step allocates
once (thread pools, library workspaces), the same for every path. The plain formula is the
five lines everyone writes::

    z = normalize(cat([z1, z2])); s = z @ z.T / t; s.fill_diagonal_(-inf)
    loss = cross_entropy(s, cat([arange(N, 2N), arange(N)]))

Prints a table to stderr and one JSON line (last) to stdout with the ratios the goals are
stated in (dense / plain time and memory, chunked / dense time)::

    python benchmarks/core/cpu_contrastive.py --sizes 2048,4096,8192 --threads 2
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

try:
    from selfsup.losses import nt_xent
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "core" / "src"))
    from selfsup.losses import nt_xent

PATHS = ("plain", "dense", "chunked", "lightly")


def plain(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    s = z @ z.T / temperature
    s.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    return F.cross_entropy(s, target)


def loss_fn(path: str, chunk_size: int, temperature: float):
    if path == "plain":
        return lambda a, b: plain(a, b, temperature)
    if path == "dense":
        return lambda a, b: nt_xent(a, b, temperature)
    if path == "chunked":
        return lambda a, b: nt_xent(a, b, temperature, chunk_size=chunk_size)
    from lightly.loss import NTXentLoss  # optional: not a dependency

    module = NTXentLoss(temperature=temperature)
    return module


def max_rss_bytes() -> int:
    """The process's peak resident set size so far (Linux reports KiB, macOS bytes)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def run_one(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    n, d = args.n, args.dim
    z1 = torch.randn(n, d, generator=g).requires_grad_()
    z2 = torch.randn(n, d, generator=g).requires_grad_()
    fn = loss_fn(args.path, args.chunk_size, args.temperature)

    def step() -> float:
        loss = fn(z1, z2)
        loss.backward()
        z1.grad = z2.grad = None
        return float(loss.detach())

    before = max_rss_bytes()
    value = step()  # warm-up
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    inputs = 2 * z1.numel() * z1.element_size()
    return {
        "path": args.path,
        "n": n,
        "seconds": statistics.median(times),
        "peak_mib": (max_rss_bytes() - before + inputs) / 2**20,
        "loss": value,
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="2048,4096,8192", help="comma-separated N")
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--chunk-size", type=int, default=1024)
    p.add_argument("--temperature", type=float, default=0.5)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--paths", default=",".join(PATHS), help="subset of " + ",".join(PATHS))
    p.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--path", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args)))
        return
    paths = [x for x in args.paths.split(",") if x]
    unknown = sorted(set(paths) - set(PATHS))
    if unknown:
        p.error(f"unknown paths {unknown}; choose from {list(PATHS)}")
    if "lightly" in paths:
        try:
            import lightly  # noqa: F401
        except ImportError:
            print("lightly is not installed: its row is skipped", file=sys.stderr)
            paths.remove("lightly")
    rows = []
    for n in [int(x) for x in args.sizes.split(",")]:
        for path in paths:
            cmd = [sys.executable, __file__, "--one", "--path", path, "--n", str(n)]
            for flag in ("dim", "chunk_size", "temperature", "repeats", "threads"):
                cmd += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(
                f"N={n:>6} {path:>8}: {row['seconds']:.3f} s  {row['peak_mib']:8.1f} MiB  "
                f"loss {row['loss']:.6f}",
                file=sys.stderr,
            )
    by = {(r["path"], r["n"]): r for r in rows}
    ratios = {}
    for n in sorted({r["n"] for r in rows}):
        entry = {}
        if ("plain", n) in by and ("dense", n) in by:
            entry["dense_over_plain_time"] = by["dense", n]["seconds"] / by["plain", n]["seconds"]
            entry["dense_over_plain_memory"] = (
                by["dense", n]["peak_mib"] / by["plain", n]["peak_mib"]
            )
        if ("dense", n) in by and ("chunked", n) in by:
            entry["chunked_over_dense_time"] = (
                by["chunked", n]["seconds"] / by["dense", n]["seconds"]
            )
        ratios[str(n)] = entry
    print(
        json.dumps(
            {
                "benchmark": "cpu_contrastive",
                "machine": platform.processor() or platform.machine(),
                "torch": torch.__version__,
                "threads": args.threads,
                "dim": args.dim,
                "chunk_size": args.chunk_size,
                "rows": rows,
                "ratios": ratios,
            }
        )
    )


if __name__ == "__main__":
    main()
