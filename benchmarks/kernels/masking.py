"""Benchmark MAE token gather / mask-token scatter: PyTorch paths vs the Triton kernels.

For B = 256, L in {196, 576, 1024}, D = 768, bf16, 75 % masking (K = L / 4 visible tokens),
times four operations per backend:

* ``gather``: :func:`selfsup.kernels.masking.gather_visible` (encoder input), forward and
  forward+backward;
* ``scatter``: :func:`selfsup.kernels.masking.scatter_with_mask_token` (decoder input), forward
  and forward+backward (gradients for the visible tokens and the fp32 mask token).

Backends: ``torch`` (``torch.gather`` / ``Tensor.scatter``), ``triton`` and, for the scatter only,
``mae`` (MAE's ``cat([visible, mask_tokens])`` + unshuffle gather with ``ids_restore``).

Time: ``triton.testing.do_bench`` median (L2 flushed between runs) on CUDA, ``perf_counter``
median on CPU. GB/s counts the bytes an ideal implementation must move (token reads and writes;
indices and the mask token are ignored): gather fwd ``2·B·K·D·e``, gather bwd
``(B·K + B·L)·D·e``, scatter fwd ``(B·K + B·L)·D·e``, scatter bwd ``(B·L + B·K)·D·e``
(``e`` = bytes per element). Each backend's outputs and gradients are checked against the torch
path before timing.

Prints a table to stderr and one JSON line (last) to stdout::

    python benchmarks/kernels/masking.py                   # CUDA, the sizes above
    python benchmarks/kernels/masking.py --device cpu --batch 4 --lengths 196 --dim 64

``recommend_default`` in the JSON is ``"triton"`` only if Triton is at least 5 % faster than the
torch path for both operations, forward and forward+backward, at every L.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

try:
    from selfsup.kernels.masking import gather_visible, scatter_with_mask_token
except ImportError:  # running from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "core" / "src"))
    from selfsup.kernels.masking import gather_visible, scatter_with_mask_token

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    cuda = torch.cuda.is_available()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if cuda else "cpu")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lengths", default="196,576,1024", help="comma-separated L")
    p.add_argument("--dim", type=int, default=768)
    p.add_argument("--mask-ratio", type=float, default=0.75)
    p.add_argument("--dtype", default="bfloat16", choices=list(DTYPES))
    p.add_argument("--rep-ms", type=int, default=100, help="do_bench time budget per measurement")
    p.add_argument("--backends", default="torch,triton,mae")
    args = p.parse_args(argv)
    args.lengths = [int(x) for x in args.lengths.split(",")]
    args.backends = [b.strip() for b in args.backends.split(",")]
    return args


def bench(fn, device: str, rep_ms: int) -> float:
    """Median milliseconds per call."""
    if device.startswith("cuda"):
        import triton.testing

        return float(triton.testing.do_bench(fn, warmup=25, rep=rep_ms, return_mode="median"))
    fn()
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def mae_scatter(visible, restore_idx, mask_token):
    """MAE decoder input: append mask tokens, then unshuffle with ``ids_restore``."""
    b, k, d = visible.shape
    n_mask = restore_idx.shape[1] - k
    tokens = mask_token.to(visible.dtype).reshape(1, 1, d).expand(b, n_mask, d)
    full = torch.cat([visible, tokens], dim=1)
    return torch.gather(full, 1, restore_idx[:, :, None].expand(-1, -1, d))


def make_ops(backend: str, x, keep, restore, token, n_tok: int):
    """``{op: (forward_fn, forward_backward_fn)}`` for one backend."""
    ops = {}
    xg = x.detach().requires_grad_()
    vis = gather_visible(x, keep, backend="torch").detach()
    vg = vis.detach().requires_grad_()
    tg = token.detach().requires_grad_()
    g_gather = torch.randn_like(vis)
    g_scatter = torch.randn_like(x)
    if backend in ("torch", "triton"):

        def gather_fb():
            torch.autograd.grad(gather_visible(xg, keep, backend=backend), xg, g_gather)

        ops["gather"] = (lambda: gather_visible(x, keep, backend=backend), gather_fb)

        def scatter_f():
            return scatter_with_mask_token(vis, keep, token, n_tok, backend=backend)

        def scatter_fb():
            out = scatter_with_mask_token(vg, keep, tg, n_tok, backend=backend)
            torch.autograd.grad(out, (vg, tg), g_scatter)

    else:  # mae

        def scatter_f():
            return mae_scatter(vis, restore, token)

        def scatter_fb():
            torch.autograd.grad(mae_scatter(vg, restore, tg), (vg, tg), g_scatter)

    ops["scatter"] = (scatter_f, scatter_fb)
    return ops


def check(backend: str, x, keep, restore, token, n_tok: int) -> None:
    """Outputs and gradients equal the torch path (mask-token gradient: close)."""
    ref_v = gather_visible(x, keep, backend="torch")
    ref_full = scatter_with_mask_token(ref_v, keep, token, n_tok, backend="torch")
    if backend == "triton":
        assert torch.equal(gather_visible(x, keep, backend="triton"), ref_v), "gather differs"
        xg = x.detach().requires_grad_()
        g = torch.randn_like(ref_v)
        a = torch.autograd.grad(gather_visible(xg, keep, backend="triton"), xg, g)[0]
        b = torch.autograd.grad(gather_visible(xg, keep, backend="torch"), xg, g)[0]
        assert torch.equal(a, b), "gather backward differs"
        full = scatter_with_mask_token(ref_v, keep, token, n_tok, backend="triton")
    else:
        full = mae_scatter(ref_v, restore, token)
    assert torch.equal(full, ref_full), f"{backend} scatter differs"
    vg, tg = ref_v.detach().requires_grad_(), token.detach().requires_grad_()
    g = torch.randn_like(ref_full)
    if backend == "triton":
        got = torch.autograd.grad(
            scatter_with_mask_token(vg, keep, tg, n_tok, backend=backend), (vg, tg), g
        )
    else:
        got = torch.autograd.grad(mae_scatter(vg, restore, tg), (vg, tg), g)
    ref = torch.autograd.grad(
        scatter_with_mask_token(vg, keep, tg, n_tok, backend="torch"), (vg, tg), g
    )
    assert torch.equal(got[0], ref[0]), f"{backend} scatter backward (visible) differs"
    scale = float(ref[1].abs().max()) + 1.0
    assert float((got[1] - ref[1]).abs().max()) <= 0.05 * scale, f"{backend} token grad differs"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = torch.device(args.device)
    dtype = DTYPES[args.dtype]
    elem = torch.finfo(dtype).bits // 8
    on_cuda = device.type == "cuda"
    backends = list(args.backends)
    if not on_cuda and "triton" in backends:
        from selfsup.kernels import _masking_triton

        if not _masking_triton.INTERPRETED:
            print("triton skipped: CPU without TRITON_INTERPRET=1", file=sys.stderr)
            backends.remove("triton")
    gen = torch.Generator(device=device).manual_seed(0)
    rows = []
    header = (
        f"{'L':>5} {'K':>4} {'op':<8} {'pass':<8} {'backend':<7} {'ms':>9} {'GB/s':>8} "
        f"{'x torch':>8}"
    )
    print(
        f"B={args.batch} D={args.dim} {args.dtype} mask_ratio={args.mask_ratio} on {device}",
        file=sys.stderr,
    )
    print(header, file=sys.stderr)
    print("-" * len(header), file=sys.stderr)
    for n_tok in args.lengths:
        b, d = args.batch, args.dim
        k = n_tok - int(args.mask_ratio * n_tok)
        x = torch.randn(b, n_tok, d, device=device, dtype=dtype, generator=gen)
        order = torch.rand(b, n_tok, device=device, generator=gen).argsort(dim=1)
        keep = order[:, :k].sort(dim=1).values
        masked = order[:, k:].sort(dim=1).values
        restore = torch.empty_like(order).scatter_(
            1, torch.cat([keep, masked], 1), torch.arange(n_tok, device=device).expand(b, n_tok)
        )
        token = torch.randn(d, device=device, generator=gen)  # fp32 parameter, as in MAE
        moved = {
            ("gather", "fwd"): 2 * b * k * d * elem,
            ("gather", "fwd+bwd"): (2 * b * k + b * k + b * n_tok) * d * elem,
            ("scatter", "fwd"): (b * k + b * n_tok) * d * elem,
            ("scatter", "fwd+bwd"): 2 * (b * k + b * n_tok) * d * elem,
        }
        base = {}
        for backend in backends:
            if backend != "torch":
                check(backend, x, keep, restore, token, n_tok)
            for op, (fwd, fwd_bwd) in make_ops(backend, x, keep, restore, token, n_tok).items():
                for name, fn in (("fwd", fwd), ("fwd+bwd", fwd_bwd)):
                    ms = bench(fn, args.device, args.rep_ms)
                    if backend == "torch":
                        base[(op, name)] = ms
                    speedup = base[(op, name)] / ms if (op, name) in base else None
                    gbps = moved[(op, name)] / (ms * 1e-3) / 1e9
                    rows.append(
                        {
                            "L": n_tok,
                            "K": k,
                            "op": op,
                            "pass": name,
                            "backend": backend,
                            "ms": round(ms, 4),
                            "GB_per_s": round(gbps, 1),
                            "bytes": moved[(op, name)],
                            "speedup_vs_torch": None if speedup is None else round(speedup, 3),
                        }
                    )
                    sp = "" if speedup is None else f"{speedup:.2f}x"
                    print(
                        f"{n_tok:>5} {k:>4} {op:<8} {name:<8} {backend:<7} {ms:>9.4f} {gbps:>8.1f} "
                        f"{sp:>8}",
                        file=sys.stderr,
                    )
    triton_rows = [r for r in rows if r["backend"] == "triton"]
    recommend = (
        "triton"
        if triton_rows and all(r["speedup_vs_torch"] >= 1.05 for r in triton_rows)
        else "torch"
    )
    print(
        json.dumps(
            {
                "benchmark": "kernels_masking",
                "device": (
                    torch.cuda.get_device_name(device)
                    if on_cuda
                    else platform.processor() or platform.machine()
                ),
                "torch": torch.__version__,
                "triton": _triton_version(),
                "dtype": args.dtype,
                "batch": args.batch,
                "dim": args.dim,
                "mask_ratio": args.mask_ratio,
                "timer": "triton.testing.do_bench median" if on_cuda else "perf_counter median",
                "results": rows,
                "recommend_default": recommend,
            }
        )
    )


def _triton_version() -> str | None:
    try:
        import triton
    except ImportError:
        return None
    return triton.__version__


if __name__ == "__main__":
    main()
