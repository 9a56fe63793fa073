"""Fused contrastive log-sum-exp on the GPU (Triton): the ``"triton"`` LSE backend.

The host side: launch configuration, argument packing and the ``forward``/``backward`` pair that
:class:`~selfsup.kernels.lse.ChunkedLogSumExp` calls; the ``@triton.jit`` kernels are in
:mod:`._triton_kernels`. Importing this module imports ``triton``; the dispatch
(:mod:`.dispatch`) does so on first use only. Over 400 lines: one backend, one concern (the
launch logic of four kernels and its documented numerics), kept whole.

Every softmax contrastive loss of :mod:`selfsup.losses` (InfoNCE / MoCo with extra negatives and
logQ, NT-Xent, DCL) is an O(N) positive term plus the row log-sum-exp of the scaled similarity
matrix (Inf-CL, arXiv 2410.17243, Eq. 2),

.. math::

    S_{ij} = s\\, q_i \\cdot k_j + b_j, \\qquad
    \\operatorname{lse}_i = \\log \\sum_{j \\notin E_i} \\exp S_{ij},

with ``s = 1 / temperature``, an optional per-column bias ``b`` (logQ) and dropped columns
``E_i`` (self-similarity, the positive of a decoupled loss, accidental hits). These kernels
compute ``lse`` and its gradients without ever materialising ``S`` (FlashAttention-style,
arXiv 2205.14135; the layout of Inf-CL's ``_prob_fwd_kernel``, ``_dq_prob_bwd_kernel`` and
``_dk_prob_bwd_kernel``):

- **Forward** (row-parallel): a program keeps ``BLOCK_M`` rows of ``q`` and streams column tiles
  of ``k``; per row an fp32 running max ``m`` and sum ``l`` (rescaled by ``exp2(m_old -
  m_new)``). Only ``lse`` ``(N,)`` fp32 leaves the kernel. Base-2 logits: ``log2(e)`` is folded
  into the scale and bias so every exponential is an ``exp2``. With few row tiles (``N << M``,
  e.g. a MoCo queue) the columns are split over extra programs and the partial ``lse`` merged
  with a log-sum-exp.
- **Backward** (recompute): ``P_ij = exp(S_ij - lse_i)``, ``dS_ij = g_i P_ij``;
  ``dq_i = s g_i sum_j P_ij k_j`` in a row-parallel kernel and ``dk_j = s sum_i g_i P_ij q_i``,
  ``db_j = sum_i g_i P_ij`` in a column-parallel kernel, each recomputing its ``S`` tiles: 2
  matmul-sized products per kernel, 4 per backward, 5 with the forward (``D > max_block_d``:
  each output feature chunk recomputes ``S``, see :func:`matmul_count`). No atomics, no
  ``N x M`` buffer, deterministic. The positive term's gradient is left to autograd (an
  O(N·D) product outside).
- **Temperature**: ``ds = sum_ij dS_ij q_i . k_j = (1/s) sum_i q_i . dq_i``, from a per-row dot
  written by the dQ kernel (no in-kernel global reduction); holds with a logQ bias.
- **Symmetric NT-Xent / DCL** (``symmetric=True``: ``q is k``, self and positive-pair exclusion):
  ``S`` is symmetric, so one ``lse`` serves rows and columns and the backward is one row-parallel
  pass ``dz_a = s sum_b (g_a P_ab + g_b exp(S_ab - lse_b)) z_b`` (2 products per tile), with
  ``ds = (1 / 2s) sum_a z_a . dz_a``.
- **Masks**: ``exclude`` ``(N, E <= 2)`` int64 column indices are loaded once per row tile and
  compared with the tile's column indices (``-1`` = none; ``E > 2`` falls back to PyTorch);
  accidental hits drop column ``j`` from row ``i`` when ``key_ids[j] == row_ids[i]`` and
  ``j != positive[i]``. Dropped entries are ``-inf`` before any reduction; fully dropped tiles
  are handled by shifting with 0 instead of ``-inf``.

Numerics: inputs float16 / bfloat16 / float32 (float64 under the interpreter), ``tl.dot`` with an
fp32 accumulator; ``m``, ``l``, ``lse``, ``P`` and every reduction in fp32. For float32 inputs
``tl.dot`` runs in exact ``"ieee"`` precision unless PyTorch's own float32 matmuls may use TF32
(``torch.get_float32_matmul_precision() != "highest"``), then ``"tf32"`` (half the bf16
throughput; ~1e-3 relative error per product). Probabilities are cast to the input dtype for the
second-stage products; ``g`` enters them as ``g_i / max|g|`` and float16 probabilities are
multiplied by ``2**14`` first (``P ~ 1/N`` is subnormal in float16 for N > 16k); both factors are
undone in fp32.

Dispatch (:func:`selfsup.kernels.lse.similarity_logsumexp`, so :func:`~selfsup.losses.info_nce`,
:func:`~selfsup.losses.nt_xent`, :func:`~selfsup.losses.dcl`):

- CUDA tensors (float16 / bfloat16 / float32) with Triton installed: this backend, with or
  without ``chunk_size`` (the kernel picks its own tiles). This module is imported on the first
  CUDA call, never by ``import selfsup``.
- ``SELFSUP_KERNELS=torch``: the PyTorch paths everywhere (dense, or chunked with ``chunk_size``).
- ``SELFSUP_KERNELS=triton``: this backend for every input, CPU included when Triton runs in its
  interpreter (``TRITON_INTERPRET=1`` in the environment **before** ``triton`` is first
  imported: Triton decorates its own ``triton.language`` helpers at import and every kernel at
  definition, reading the variable then); CPU tensors without the interpreter stay on PyTorch.
- ``similarity_logsumexp(..., backend="triton" | "torch")`` overrides both.

Shapes: ``q`` ``(N, D)``, ``k`` ``(M, D)`` (same dtype and device; any N, M, D: partial tiles are
masked, ``D`` is processed in chunks of up to ``max_block_d`` features), ``bias`` ``(M,)``,
``exclude`` ``(N, E)`` int64, ``lse`` ``(N,)`` float32 (float64 for float64 inputs).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace

import torch
import triton
import triton.language as tl
from torch import Tensor

from selfsup.kernels.lse import _triton_kernels as _k
from selfsup.kernels.lse.dispatch import AccidentalHits, LSEBackend
from selfsup.kernels.lse.torch_ref import torch_backward, torch_forward
from selfsup.precision import accumulation_dtype

__all__ = [
    "BACKEND",
    "KernelConfig",
    "interpreted",
    "kernel_config",
    "lse_backward",
    "lse_forward",
    "matmul_count",
    "override_config",
    "runs_on",
    "supports",
]

_LOG2E = 1.4426950408889634
_LN2 = 0.6931471805599453
_GPU_DTYPES = (torch.float16, torch.bfloat16, torch.float32)
_MAX_EXCLUDE = 2
_TL_DTYPES = {torch.float32: tl.float32, torch.float64: tl.float64}


def interpreted() -> bool:
    """Whether the kernels run in Triton's CPU interpreter (``TRITON_INTERPRET=1`` was set
    before Triton was imported)."""
    return not isinstance(_k.lse_fwd, triton.runtime.JITFunction)


def runs_on(q: Tensor, k: Tensor) -> bool:
    """Whether the kernels can run these inputs at all: CUDA tensors, or any under the
    interpreter."""
    return (q.is_cuda and k.is_cuda) or interpreted()


def supports(q: Tensor, k: Tensor) -> bool:
    """Automatic selection: compiled kernels, CUDA float16 / bfloat16 / float32 on one device."""
    return (
        q.is_cuda
        and k.is_cuda
        and q.device == k.device
        and q.dtype == k.dtype
        and q.dtype in _GPU_DTYPES
        and not interpreted()
    )


@dataclass(frozen=True)
class KernelConfig:
    """Launch parameters of one kernel.

    Attributes:
        block_m: rows per tile (>= 16).
        block_n: columns per tile (>= 16).
        max_block_d: largest feature chunk; ``D`` above it is processed in
            ``cdiv(D, max_block_d)`` chunks (each backward chunk program recomputes ``S``).
        num_warps: warps per program (ignored by the interpreter).
        num_stages: software-pipelining stages (ignored by the interpreter).
        split: splits of the reduction axis (forward / dQ: columns, dK: rows), each written
            as a partial result the host adds; None picks enough programs to fill the GPU when
            there are few output tiles.
    """

    block_m: int = 64
    block_n: int = 64
    max_block_d: int = 256
    num_warps: int = 8
    num_stages: int = 2
    split: int | None = None


_OVERRIDE: dict[str, object] = {}
_SM_COUNT: dict[int, int] = {}


def _next_pow2(x: int) -> int:
    return 1 << max(0, x - 1).bit_length()


def _block_d(d: int, cfg: KernelConfig) -> tuple[int, int]:
    """``(BLOCK_D, NUM_DC)``: a power of two >= 16 covering ``D`` or ``max_block_d`` chunks."""
    block = min(max(16, _next_pow2(d)), max(16, cfg.max_block_d))
    return block, triton.cdiv(d, block)


def kernel_config(kind: str, dtype: torch.dtype, d: int) -> KernelConfig:
    """Launch parameters for ``kind`` in {"fwd", "dq", "dk", "sym"} (heuristic, no autotuning).

    16-bit inputs use the best of tile sweeps at N = 65,536 (docs/performance.md: H200 for
    D = 256, H100 for D = 128 and 512), as ``rows x columns / warps / stages``:

    * D <= 64: forward 128 x 64 / 8 / 3; backward 64 x 64 / 4 / 2.
    * 65 <= D <= 128: forward 128 x 64 / 8 / 3; dQ and dK 128 x 64 / 4 / 3; symmetric
      backward 128 x 32 / 4 / 3.
    * 129 <= D <= 256: every kernel 64 x 64 / 4 / 2.
    * D > 256: forward 64 x 128 / 4 / 2 in feature chunks of 128; backward 128 x 64 / 8 / 2 in
      chunks of 256 (each chunk recomputes the logits).

    float32 with TF32: 64 x 64 and chunks of 128; exact float32 (``tl.dot`` on FMA units, far
    more registers): 32 x 32 and chunks of 64. The interpreter uses 16 x 16 tiles (its cost
    grows with the number of program instances and loop iterations). :func:`override_config`
    replaces any field.
    """
    if interpreted():
        cfg = KernelConfig(block_m=16, block_n=16, max_block_d=32, num_warps=1, num_stages=1)
    else:
        cfg = _gpu_config(kind, dtype, d)
    return replace(cfg, **_OVERRIDE) if _OVERRIDE else cfg  # type: ignore[arg-type]


def _gpu_config(kind: str, dtype: torch.dtype, d: int) -> KernelConfig:
    """The compiled-mode defaults of :func:`kernel_config` (tests run them in the interpreter)."""
    if dtype == torch.float32 and _precision(dtype) == "ieee":
        return KernelConfig(32, 32, 64, 4, 2)
    if dtype == torch.float32:
        return KernelConfig(64, 64, 128, 8, 2)
    if d > 256:
        # D = 512 sweep (H100): 1.6x (forward) and 1.8x (backward) faster than the first choice
        # (128 x 64 forward tiles, 64 x 64 / 4-warp backward tiles).
        return (
            KernelConfig(64, 128, 128, 4, 2) if kind == "fwd" else KernelConfig(128, 64, 256, 8, 2)
        )
    if kind == "fwd":
        return KernelConfig(128, 64, 256, 8, 3) if d <= 128 else KernelConfig(64, 64, 256, 4, 2)
    if 64 < d <= 128:
        # D = 128 sweep (H100): 2.4x (dQ + dK) and 2.5x (symmetric) faster backward than the
        # first choice (64 x 64 tiles, 8 warps).
        return (
            KernelConfig(128, 64, 256, 4, 3) if kind != "sym" else KernelConfig(128, 32, 256, 4, 3)
        )
    return KernelConfig(64, 64, 256, 4, 2)


@contextmanager
def override_config(**changes: object) -> Iterator[None]:
    """Temporarily replace :class:`KernelConfig` fields of every kernel (tests, benchmarks).

    Example: ``with override_config(block_m=16, block_n=32, split=2): ...``.
    """
    names = {f.name for f in fields(KernelConfig)}
    unknown = set(changes) - names
    if unknown:
        raise ValueError(f"unknown KernelConfig fields {sorted(unknown)}; known: {sorted(names)}.")
    saved = dict(_OVERRIDE)
    _OVERRIDE.update(changes)
    try:
        yield
    finally:
        _OVERRIDE.clear()
        _OVERRIDE.update(saved)


def _sm_count(device: torch.device) -> int:
    if device.type != "cuda":
        return 1
    index = device.index if device.index is not None else torch.cuda.current_device()
    if index not in _SM_COUNT:
        _SM_COUNT[index] = torch.cuda.get_device_properties(index).multi_processor_count
    return _SM_COUNT[index]


def _splits(row_programs: int, m: int, cfg: KernelConfig, device: torch.device) -> int:
    """Splits of the reduction axis (``m`` entries in tiles of ``cfg.block_n``) for kernels
    with ``row_programs`` output tiles: 1 unless those leave SMs idle."""
    tiles = max(1, triton.cdiv(m, cfg.block_n))
    if cfg.split is not None:
        return max(1, min(cfg.split, tiles))
    sms = _sm_count(device)
    if device.type != "cuda" or row_programs >= sms:
        return 1
    # >= 2 waves of programs, >= 4 column tiles per split.
    return max(1, min(triton.cdiv(2 * sms, row_programs), tiles // 4))


def _kernel_path(q: Tensor, k: Tensor, exclude: Tensor | None) -> bool:
    if not runs_on(q, k):
        raise ValueError(
            f"the 'triton' LSE backend needs CUDA tensors, got {q.device} / {k.device}; move "
            "them to the GPU, use backend='torch', or set TRITON_INTERPRET=1 before triton is "
            "first imported (CPU simulation, slow)."
        )
    if q.dtype != k.dtype or (q.is_cuda and q.dtype not in _GPU_DTYPES):
        return False  # PyTorch handles (or reports) these
    small = q.shape[0] == 0 or k.shape[0] == 0 or q.shape[1] == 0
    return not small and (exclude is None or exclude.shape[1] <= _MAX_EXCLUDE)


def _p_scale(dtype: torch.dtype) -> float:
    """Power of two applied to probabilities before a float16 cast (``P ~ 1/N`` is subnormal
    in float16 for N > 16k); products accumulate in fp32, so ``2**14 (|P| + |P^T|) <= 2**15`` cannot
    overflow. 1 for every other dtype."""
    return 2.0**14 if dtype == torch.float16 else 1.0


def _row_major(x: Tensor) -> Tensor:
    return x if x.stride(-1) == 1 else x.contiguous()


def _scalar(value: float | Tensor, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``value`` as a one-element tensor (no host sync for a tensor)."""
    if isinstance(value, Tensor):
        return value.detach().to(device=device, dtype=dtype).reshape(1)
    return torch.full((1,), float(value), dtype=dtype, device=device)


def _precision(dtype: torch.dtype) -> str:
    if dtype == torch.float32 and torch.get_float32_matmul_precision() == "highest":
        return "ieee"
    return "ieee" if dtype == torch.float64 else "tf32"


class _Args:
    """Tensors and flags shared by the kernels of one call."""

    def __init__(self, q, k, scale, bias, exclude, hits):
        self.q, self.k = _row_major(q), _row_major(k)
        self.n, self.d = q.shape
        self.m = k.shape[0]
        self.acc = accumulation_dtype(q.dtype)
        self.tl_acc = _TL_DTYPES[self.acc]
        device = q.device
        self.s = _scalar(scale, self.acc, device)
        self.scale2 = self.s * _LOG2E
        dummy = self.scale2
        self.has_bias = bias is not None
        self.bias2 = (bias.to(self.acc) * _LOG2E).contiguous() if bias is not None else dummy
        self.num_excl = 0 if exclude is None else exclude.shape[1]
        self.excl = exclude.contiguous() if self.num_excl else dummy
        self.stride_e = self.num_excl
        self.has_hits = hits is not None
        if hits is not None:
            self.row_ids = hits.row_ids.contiguous()
            self.key_ids = hits.key_ids.contiguous()
            self.pos = hits.positive.contiguous()
        else:
            self.row_ids = self.key_ids = self.pos = dummy
        self.prec = _precision(q.dtype)
        self.p_scale = _p_scale(q.dtype)

    def common(self):
        return (self.scale2, self.bias2, self.excl, self.row_ids, self.key_ids, self.pos)

    def flags(self):
        return {
            "ACC": self.tl_acc,
            "PREC": self.prec,
            "HAS_BIAS": self.has_bias,
            "NUM_EXCL": self.num_excl,
            "HAS_HITS": self.has_hits,
        }


def _launch(cfg: KernelConfig, block_d: int, num_dc: int) -> dict:
    return {
        "BLOCK_M": cfg.block_m,
        "BLOCK_N": cfg.block_n,
        "BLOCK_D": block_d,
        "NUM_DC": num_dc,
        "num_warps": cfg.num_warps,
        "num_stages": cfg.num_stages,
    }


def lse_forward(
    q: Tensor,
    k: Tensor,
    scale: float | Tensor,
    bias: Tensor | None,
    exclude: Tensor | None,
    chunk_size: int | None = None,
    *,
    hits: AccidentalHits | None = None,
) -> Tensor:
    """Row log-sum-exp ``(N,)`` (fp32; fp64 for fp64 inputs). ``chunk_size`` is ignored (the
    kernel tiles itself); ``exclude`` with more than 2 columns runs the PyTorch path."""
    if not _kernel_path(q, k, exclude):
        return torch_forward(q, k, scale, bias, exclude, chunk_size, hits=hits)
    a = _Args(q, k, scale, bias, exclude, hits)
    cfg = kernel_config("fwd", q.dtype, a.d)
    block_d, num_dc = _block_d(a.d, cfg)
    row_programs = triton.cdiv(a.n, cfg.block_m)
    splits = _splits(row_programs, a.m, cfg, q.device)
    per_split = triton.cdiv(triton.cdiv(a.m, splits), cfg.block_n) * cfg.block_n
    splits = triton.cdiv(a.m, per_split)
    part = torch.empty((splits, a.n), dtype=a.acc, device=q.device)
    _k.lse_fwd[(row_programs, splits)](
        a.q, a.k, *a.common(), part,
        a.n, a.m, a.d, a.q.stride(0), a.k.stride(0), a.stride_e, per_split,
        **a.flags(), **_launch(cfg, block_d, num_dc),
    )  # fmt: skip
    if splits == 1:
        return part[0] * _LN2
    return torch.logsumexp(part * _LN2, dim=0)


def lse_backward(
    grad_lse: Tensor,
    q: Tensor,
    k: Tensor,
    scale: float | Tensor,
    bias: Tensor | None,
    exclude: Tensor | None,
    lse: Tensor,
    chunk_size: int | None,
    needs: tuple[bool, bool, bool, bool],
    *,
    hits: AccidentalHits | None = None,
    symmetric: bool = False,
) -> tuple[Tensor | None, Tensor | None, Tensor | None, Tensor | None]:
    """``(dq, dk, dscale, dbias)`` of ``sum_i grad_lse_i * lse_i`` (None where not needed).

    With ``symmetric`` (``q`` and ``k`` the same tensor) the whole input gradient is returned
    as ``dq``.
    """
    if not _kernel_path(q, k, exclude):
        return torch_backward(
            grad_lse, q, k, scale, bias, exclude, lse, chunk_size, needs,
            hits=hits, symmetric=symmetric,
        )  # fmt: skip
    a = _Args(q, k, scale, bias, exclude, hits)
    g = grad_lse.to(a.acc).contiguous()
    gmax = g.abs().amax().clamp_min(torch.finfo(a.acc).tiny).reshape(1)
    r = g / gmax
    lse2 = (lse.to(a.acc) * _LOG2E).contiguous()
    ps = a.p_scale
    dummy = a.scale2
    if symmetric:
        return _symmetric_backward(a, g, r, gmax, lse2, needs)
    dq = dk = dscale = dbias = None
    if needs[0] or needs[2]:
        cfg = kernel_config("dq", q.dtype, a.d)
        block_d, num_dc = _block_d(a.d, cfg)
        row_programs = triton.cdiv(a.n, cfg.block_m)
        splits = _splits(row_programs * num_dc, a.m, cfg, q.device)
        # Keep the fp32 split buffer (splits x N x D) below 256 MiB.
        max_splits = max(1, (256 << 20) // max(1, 4 * a.n * a.d))
        splits = min(splits, max_splits)
        per_split = triton.cdiv(triton.cdiv(a.m, splits), cfg.block_n) * cfg.block_n
        splits = triton.cdiv(a.m, per_split)
        raw_out = splits > 1
        out = torch.empty_like(a.q) if not raw_out else dummy
        raw = torch.empty((splits, a.n, a.d), dtype=a.acc, device=q.device) if raw_out else dummy
        need_rowdot = needs[2] and not raw_out
        rowdot = torch.empty((num_dc, a.n), dtype=a.acc, device=q.device) if need_rowdot else dummy
        _k.lse_bwd_dq[(row_programs, num_dc, splits)](
            a.q, a.k, *a.common(), lse2, g, a.s / ps, out, raw, rowdot,
            a.n, a.m, a.d, a.q.stride(0), a.k.stride(0), a.stride_e, per_split,
            P_SCALE=ps, RAW_OUT=raw_out, NEED_ROWDOT=need_rowdot,
            **a.flags(), **_launch(cfg, block_d, num_dc),
        )  # fmt: skip
        if raw_out:
            pk = raw.sum(dim=0)
            if needs[0]:
                dq = ((a.s / ps) * g[:, None] * pk).to(q.dtype)
            if needs[2]:
                dscale = (g * (a.q.to(a.acc) * pk).sum(dim=1)).sum() / ps
        else:
            dq = out if needs[0] else None
            if needs[2]:
                dscale = (g * rowdot.sum(dim=0)).sum() / ps
    if needs[1] or needs[3]:
        cfg = kernel_config("dk", q.dtype, a.d)
        block_d, num_dc = _block_d(a.d, cfg)
        col_programs = triton.cdiv(a.m, cfg.block_n)
        grid_d = num_dc if needs[1] else 1
        splits = _splits(col_programs * grid_d, a.n, replace(cfg, block_n=cfg.block_m), q.device)
        splits = min(splits, max(1, (256 << 20) // max(1, 4 * a.m * a.d)))
        per_split = triton.cdiv(triton.cdiv(a.n, splits), cfg.block_m) * cfg.block_m
        splits = triton.cdiv(a.n, per_split)
        raw_out = splits > 1
        out = torch.empty_like(a.k) if needs[1] and not raw_out else dummy
        db = torch.empty(a.m, dtype=a.acc, device=q.device) if needs[3] and not raw_out else dummy
        raw = dummy
        if raw_out and needs[1]:
            raw = torch.empty((splits, a.m, a.d), dtype=a.acc, device=q.device)
        db_raw = torch.empty((splits, a.m), dtype=a.acc, device=q.device) if raw_out else dummy
        _k.lse_bwd_dk[(col_programs, grid_d, splits)](
            a.q, a.k, *a.common(), lse2, r, a.s * gmax / ps, gmax, out, db, raw, db_raw,
            a.n, a.m, a.d, a.q.stride(0), a.k.stride(0), a.stride_e, per_split,
            P_SCALE=ps, NEED_DK=bool(needs[1]), NEED_DBIAS=bool(needs[3]), RAW_OUT=raw_out,
            **a.flags(), **_launch(cfg, block_d, num_dc),
        )  # fmt: skip
        if raw_out:
            if needs[1]:
                out = ((a.s * gmax / ps) * raw.sum(dim=0)).to(k.dtype)
            if needs[3]:
                db = gmax * db_raw.sum(dim=0)
        dk = out if needs[1] else None
        if needs[3] and bias is not None:
            dbias = db.to(bias.dtype)
    return dq, dk, dscale, dbias


def _symmetric_backward(a: _Args, g: Tensor, r: Tensor, gmax: Tensor, lse2: Tensor, needs):
    """One row-parallel pass for ``S = s Z Z^T`` (see :func:`._triton_kernels.lse_bwd_sym`)."""
    if not (needs[0] or needs[1] or needs[2]):
        return None, None, None, None
    cfg = kernel_config("sym", a.q.dtype, a.d)
    block_d, num_dc = _block_d(a.d, cfg)
    ps = a.p_scale
    out = torch.empty_like(a.q)
    rowdot = torch.empty((num_dc, a.n), dtype=a.acc, device=a.q.device) if needs[2] else a.scale2
    flags = a.flags()
    del flags["HAS_BIAS"]
    _k.lse_bwd_sym[(triton.cdiv(a.n, cfg.block_m), num_dc)](
        a.q, a.scale2, a.excl, a.row_ids, a.key_ids, a.pos, lse2, r, a.s * gmax / ps, out, rowdot,
        a.n, a.d, a.q.stride(0), a.stride_e,
        P_SCALE=ps, NEED_ROWDOT=bool(needs[2]), **flags, **_launch(cfg, block_d, num_dc),
    )  # fmt: skip
    dz = out if needs[0] or needs[1] else None
    dscale = (gmax / (2 * ps)) * rowdot.sum() if needs[2] else None
    return dz, None, dscale.reshape(()) if dscale is not None else None, None


def matmul_count(d: int, dtype: torch.dtype, *, symmetric: bool = False) -> dict[str, int]:
    """Similarity-sized products (``2 N M D`` FLOP each) the kernels run, for throughput
    figures: forward 1; backward ``2 (NUM_DC + 1)`` (dQ and dK each recompute ``S`` once per
    output feature chunk plus one product), symmetric ``NUM_DC + 1``."""
    _, num_dc = _block_d(d, kernel_config("dq", dtype, d))
    bwd = (num_dc + 1) if symmetric else 2 * (num_dc + 1)
    return {"forward": 1, "backward": bwd}


BACKEND = LSEBackend(
    "triton", lse_forward, lse_backward, supports=supports, available=runs_on
)  # registered by selfsup.kernels.lse.dispatch on first use
