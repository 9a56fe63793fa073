"""Row-wise log-sum-exp of a scaled similarity matrix, dense or streamed in column blocks.

Every contrastive loss in :mod:`selfsup.losses` splits into an O(N) positive term and a
row-wise log-sum-exp (Inf-CL, arXiv 2410.17243, Eq. 2):

.. math::

    \\ell_i = \\operatorname{lse}_i - S_{i, y_i}, \\qquad
    \\operatorname{lse}_i = \\log \\sum_{j \\notin E_i} \\exp(S_{ij}), \\qquad
    S_{ij} = s \\, q_i \\cdot k_j + b_j

with scale ``s = 1 / temperature``, an optional per-column bias ``b`` and per-row excluded
columns ``E_i`` (self-similarity, the positive in decoupled losses). Only the log-sum-exp is
quadratic. :func:`similarity_logsumexp` computes it densely (autograd, O(N·M) saved) or, with
``chunk_size``, through :class:`ChunkedLogSumExp`: the forward streams column blocks of ``K``
keeping a running max and sum (online log-sum-exp) and saves only the inputs and the ``lse``
vector; the backward recomputes each block,

.. math::

    P_{ij} = \\exp(S_{ij} - \\operatorname{lse}_i), \\quad
    dq_i = s \\, g_i \\sum_j P_{ij} k_j, \\quad
    dk_j = s \\sum_i P_{ij} (g_i q_i), \\quad
    db_j = \\sum_i g_i P_{ij}, \\quad
    ds = \\sum_i g_i \\, q_i \\cdot \\sum_j P_{ij} k_j,

so the extra memory is O(N·chunk). The positive term's gradient is left to autograd.

Masks: ``exclude`` drops listed columns per row (self-similarity, the positive of a decoupled
loss); ``key_ids`` + ``positive`` drop *accidental hits*, the columns whose item id equals the id
of the row's positive, except the positive itself (``tensorflow_recommenders``
``remove_accidental_hits``). With ``symmetric=True`` (``q is k``, a symmetric mask, no bias:
NT-Xent / DCL on one device) ``S`` is symmetric, so ``lse`` also serves the columns and the
backward is one pass, ``dz_a = s sum_b (g_a P_ab + g_b exp(S_ab - lse_b)) z_b``.

The maths of one pass lives in an :class:`LSEBackend` (a ``forward``/``backward`` pair).
The PyTorch backend here runs anywhere. Selection (``backend=None``):

- ``SELFSUP_KERNELS=torch``: always PyTorch (dense when ``chunk_size`` is None).
- ``SELFSUP_KERNELS=triton``: always the fused Triton kernel (:mod:`selfsup.kernels.contrastive`);
  CPU tensors only under ``TRITON_INTERPRET=1`` (for tests), PyTorch otherwise.
- unset / ``auto``: the most recently registered backend whose ``supports(q, k)`` is True; for
  CUDA tensors the built-in ``"triton"`` backend is imported on first use (never at
  ``import selfsup``) and used when Triton is installed, ``chunk_size`` or not (same values and
  gradients, O(N + M) memory). Otherwise PyTorch: dense for ``chunk_size=None``, else chunked.

``backend="torch"`` / ``"triton"`` / a registered name overrides both.
"""

from __future__ import annotations

import importlib
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from selfsup.precision import accumulation_dtype, autocast_off

__all__ = [
    "AccidentalHits",
    "ChunkedLogSumExp",
    "LSEBackend",
    "lse_backends",
    "register_lse_backend",
    "similarity_logsumexp",
]

_NEG_INF = float("-inf")


class AccidentalHits(NamedTuple):
    """Accidental-hit mask: column ``j`` is dropped from row ``i`` when
    ``key_ids[j] == row_ids[i]`` and ``j != positive[i]``.

    Attributes:
        row_ids: int64 ``(N,)``, the item id of row ``i``'s positive (``key_ids[positive]``).
        key_ids: int64 ``(M,)``, the item id of every column.
        positive: int64 ``(N,)``, the column of row ``i``'s positive (always kept).
    """

    row_ids: Tensor
    key_ids: Tensor
    positive: Tensor


def _excluded(
    exclude: Tensor | None,
    start: int,
    stop: int,
    device: torch.device,
    hits: AccidentalHits | None = None,
) -> Tensor | None:
    """Boolean ``(N, stop - start)`` mask of dropped columns ``start..stop-1`` (None: none)."""
    cols = torch.arange(start, stop, device=device)
    hit = None
    if exclude is not None and exclude.shape[1] > 0:
        hit = exclude[:, :1] == cols
        for e in range(1, exclude.shape[1]):
            hit |= exclude[:, e : e + 1] == cols
    if hits is not None:
        acc = (hits.key_ids[start:stop] == hits.row_ids[:, None]) & (cols != hits.positive[:, None])
        hit = acc if hit is None else hit | acc
    return hit


def _block_logits(
    q: Tensor,
    k_blk: Tensor,
    scale: float | Tensor,
    bias_blk: Tensor | None,
    exclude: Tensor | None,
    start: int,
    hits: AccidentalHits | None = None,
) -> Tensor:
    """``S[:, start:start+c]`` in the accumulation dtype, dropped entries at ``-inf``."""
    acc = accumulation_dtype(q.dtype)
    s = (q @ k_blk.T).to(acc)
    s = s * (scale.to(acc) if isinstance(scale, Tensor) else scale)
    if bias_blk is not None:
        s = s + bias_blk.to(acc)
    hit = _excluded(exclude, start, start + k_blk.shape[0], q.device, hits)
    return s if hit is None else s.masked_fill(hit, _NEG_INF)


def _torch_forward(
    q: Tensor,
    k: Tensor,
    scale: float | Tensor,
    bias: Tensor | None,
    exclude: Tensor | None,
    chunk_size: int | None,
    *,
    hits: AccidentalHits | None = None,
) -> Tensor:
    """Online log-sum-exp over column blocks of ``k``; returns ``lse`` ``(N,)``."""
    acc = accumulation_dtype(q.dtype)
    chunk = chunk_size or max(k.shape[0], 1)
    m = torch.full((q.shape[0],), _NEG_INF, dtype=acc, device=q.device)
    total = torch.zeros_like(m)
    for start in range(0, k.shape[0], chunk):
        stop = min(start + chunk, k.shape[0])
        s = _block_logits(
            q,
            k[start:stop],
            scale,
            None if bias is None else bias[start:stop],
            exclude,
            start,
            hits,
        )
        m_new = torch.maximum(m, s.amax(dim=1))
        # A row whose columns so far are all excluded keeps m = -inf: shift by 0, not by -inf.
        shift = torch.where(m_new == _NEG_INF, torch.zeros_like(m_new), m_new)
        total = total * torch.exp(m - shift) + torch.exp(s - shift[:, None]).sum(dim=1)
        m = m_new
    return m + torch.log(total)


def _torch_backward(
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
    """Recompute blocks; return ``(dq, dk, dscale, dbias)`` (None where not needed).

    With ``symmetric`` (``q is k``) one pass gives the whole gradient as ``dq``:
    ``dz_a = s sum_b (g_a P_ab + g_b P_ba) z_b`` with ``P_ba = exp(S_ab - lse_b)``, and
    ``dscale = (1/2) sum_a z_a . sum_b (g_a P_ab + g_b P_ba) z_b``.
    """
    acc = accumulation_dtype(q.dtype)
    chunk = chunk_size or max(k.shape[0], 1)
    g = grad_lse.to(acc)
    s_acc = scale.to(acc) if isinstance(scale, Tensor) else scale
    if symmetric:
        total = torch.zeros(q.shape, dtype=acc, device=q.device)
        for start in range(0, k.shape[0], chunk):
            stop = min(start + chunk, k.shape[0])
            s = _block_logits(q, k[start:stop], scale, None, exclude, start, hits)
            a = g[:, None] * torch.exp(s - lse[:, None]) + g[start:stop] * torch.exp(
                s - lse[start:stop]
            )
            total += (a.to(q.dtype) @ k[start:stop]).to(acc)
        dz = (s_acc * total).to(q.dtype) if needs[0] or needs[1] else None
        dscale = 0.5 * (q.to(acc) * total).sum() if needs[2] else None
        return dz, None, dscale, None
    gq = (g[:, None] * q.to(acc)).to(q.dtype)  # g folded into q: no tiny g*P products
    pk = torch.zeros(q.shape, dtype=acc, device=q.device)  # sum_j P_ij k_j
    dk = torch.empty(k.shape, dtype=acc, device=k.device) if needs[1] else None
    dbias = torch.empty(k.shape[0], dtype=acc, device=k.device) if needs[3] else None
    for start in range(0, k.shape[0], chunk):
        stop = min(start + chunk, k.shape[0])
        k_blk = k[start:stop]
        s = _block_logits(
            q, k_blk, scale, None if bias is None else bias[start:stop], exclude, start, hits
        )
        p = torch.exp(s - lse[:, None])
        p_c = p.to(q.dtype)
        if needs[0] or needs[2]:
            pk += (p_c @ k_blk).to(acc)
        if dk is not None:
            dk[start:stop] = (p_c.T @ gq).to(acc)
        if dbias is not None:
            dbias[start:stop] = (g[:, None] * p).sum(dim=0)
    dq = (s_acc * g[:, None] * pk).to(q.dtype) if needs[0] else None
    dk = (s_acc * dk).to(k.dtype) if dk is not None else None
    dscale = (g * (q.to(acc) * pk).sum(dim=1)).sum() if needs[2] else None
    dbias = dbias.to(bias.dtype) if dbias is not None and bias is not None else None
    return dq, dk, dscale, dbias


@dataclass(frozen=True)
class LSEBackend:
    """One implementation of the chunked log-sum-exp pass.

    Attributes:
        name: registry key (``"torch"``, ``"triton"``, ...).
        forward: ``(q, k, scale, bias, exclude, chunk_size, *, hits=None) -> lse`` with
            ``lse`` ``(N,)`` in float32 or wider; ``chunk_size`` may be None (no block-size
            preference). ``hits`` (:class:`AccidentalHits`) is passed only when used.
        backward: ``(grad_lse, q, k, scale, bias, exclude, lse, chunk_size, needs, *,
            hits=None, symmetric=False) -> (dq, dk, dscale, dbias)``; ``needs`` flags which of
            the four are required (return None for the others); ``hits`` and ``symmetric``
            are passed only when used. With ``symmetric`` (``q is k``) the whole gradient may
            be returned as ``dq`` (``dk`` None).
        supports: ``(q, k) -> bool``; whether this backend handles these inputs (device,
            dtype, alignment) when none is forced. Checked most-recently-registered first.
        available: ``(q, k) -> bool``; whether it can run them at all. A backend forced by
            ``SELFSUP_KERNELS`` that cannot (Triton on CPU tensors without the interpreter)
            leaves them to PyTorch; one forced by ``backend=`` raises instead.
    """

    name: str
    forward: Callable[..., Tensor]
    backward: Callable[..., tuple[Tensor | None, ...]]
    supports: Callable[[Tensor, Tensor], bool] = lambda q, k: True
    available: Callable[[Tensor, Tensor], bool] = lambda q, k: True


_BACKENDS: dict[str, LSEBackend] = {
    "torch": LSEBackend("torch", _torch_forward, _torch_backward),
}
#: Built-in backends imported on first use: name -> module defining ``BACKEND``.
_LAZY_BACKENDS = {"triton": "selfsup.kernels.contrastive"}
_LAZY_FAILED: dict[str, str] = {}
#: Environment variable choosing the backend when ``backend=None``: torch | triton | auto.
KERNELS_ENV = "SELFSUP_KERNELS"


def register_lse_backend(backend: LSEBackend, *, replace: bool = False) -> None:
    """Make ``backend`` available to :func:`similarity_logsumexp` (preferred when it supports
    the inputs). Raises ValueError if the name is taken and ``replace`` is False."""
    if backend.name in _BACKENDS and not replace:
        raise ValueError(
            f"an LSE backend named {backend.name!r} is already registered; "
            "pass replace=True to override it."
        )
    _BACKENDS.pop(backend.name, None)
    _BACKENDS[backend.name] = backend


def lse_backends() -> list[str]:
    """Names of the registered backends, most preferred first, then the built-in ones not
    imported yet (``"triton"``)."""
    return list(reversed(_BACKENDS)) + [n for n in _LAZY_BACKENDS if n not in _BACKENDS]


def _load_lazy(name: str, *, required: bool) -> LSEBackend | None:
    """Import a built-in backend on first use; None (or ImportError if ``required``) when its
    dependencies are missing."""
    if name in _BACKENDS:
        return _BACKENDS[name]
    if name in _LAZY_FAILED and not required:
        return None
    try:
        module = importlib.import_module(_LAZY_BACKENDS[name])
    except Exception as err:  # ImportError, or a broken triton install
        first = name not in _LAZY_FAILED
        _LAZY_FAILED[name] = f"{type(err).__name__}: {err}"
        if required:
            raise ImportError(
                f"the {name!r} LSE backend could not be imported ({_LAZY_FAILED[name]}); "
                "install Triton with: pip install 'selfsup-core[kernels]'"
            ) from err
        if first and not isinstance(err, ImportError):
            warnings.warn(
                f"the {name!r} LSE backend failed to import, using PyTorch: {_LAZY_FAILED[name]}",
                RuntimeWarning,
                stacklevel=3,
            )
        return None
    if name not in _BACKENDS:
        register_lse_backend(module.BACKEND)
    return _BACKENDS[name]


def _select_backend(name: str | None, q: Tensor, k: Tensor) -> LSEBackend:
    if name is not None:
        if name in _BACKENDS:
            return _BACKENDS[name]
        if name in _LAZY_BACKENDS:
            return _load_lazy(name, required=True)  # type: ignore[return-value]
        raise ValueError(f"unknown LSE backend {name!r}; registered: {lse_backends()}.")
    mode = os.environ.get(KERNELS_ENV, "").strip().lower() or "auto"
    if mode == "torch":
        return _BACKENDS["torch"]
    if mode in _LAZY_BACKENDS:
        forced = _load_lazy(mode, required=True)
        return forced if forced.available(q, k) else _BACKENDS["torch"]  # type: ignore[union-attr]
    if mode != "auto":
        raise ValueError(
            f"environment variable {KERNELS_ENV}={os.environ[KERNELS_ENV]!r} is not one of "
            f"'torch', 'triton', 'auto'; unset it to pick the backend automatically."
        )
    if q.is_cuda and "triton" not in _BACKENDS:
        _load_lazy("triton", required=False)
    for backend in reversed(_BACKENDS.values()):
        if backend.supports(q, k):
            return backend
    return _BACKENDS["torch"]


class ChunkedLogSumExp(torch.autograd.Function):
    """Autograd function for the streamed row log-sum-exp (see the module docstring).

    ``apply(q, k, scale, bias, exclude, chunk_size, backend[, hits[, symmetric]])``. Saves
    ``q``, ``k``, ``bias``, ``exclude``, the hit-mask ids and ``lse`` only (O((N + M)·D));
    every block of the N×M similarity matrix is recomputed in the backward.
    """

    @staticmethod
    def forward(ctx, q, k, scale, bias, exclude, chunk_size, backend, *options):  # type: ignore[override]
        hits = options[0] if options else None
        symmetric = bool(options[1]) if len(options) > 1 else False
        opts = {"hits": hits} if hits is not None else {}
        lse = backend.forward(q, k, scale, bias, exclude, chunk_size, **opts)
        scale_t = scale if isinstance(scale, Tensor) else None
        ids = tuple(hits) if hits is not None else (None, None, None)
        ctx.save_for_backward(q, k, scale_t, bias, exclude, lse, *ids)
        ctx.scale = None if scale_t is not None else scale
        ctx.chunk_size = chunk_size
        ctx.backend = backend
        ctx.symmetric = symmetric
        ctx.n_options = len(options)
        return lse

    @staticmethod
    def backward(ctx, grad_lse):  # type: ignore[override]
        q, k, scale_t, bias, exclude, lse, row_ids, key_ids, positive = ctx.saved_tensors
        scale = scale_t if scale_t is not None else ctx.scale
        needs = tuple(ctx.needs_input_grad[:4])
        opts: dict = {}
        if row_ids is not None:
            opts["hits"] = AccidentalHits(row_ids, key_ids, positive)
        if ctx.symmetric:
            opts["symmetric"] = True
        dq, dk, dscale, dbias = ctx.backend.backward(
            grad_lse.contiguous(), q, k, scale, bias, exclude, lse, ctx.chunk_size, needs, **opts
        )
        if dscale is not None and scale_t is not None:
            dscale = dscale.to(scale_t.dtype).reshape(scale_t.shape)
        return (dq, dk, dscale, dbias, None, None, None) + (None,) * ctx.n_options


def check_chunk_size(chunk_size: int | None) -> None:
    """Require ``chunk_size`` to be None or a positive int."""
    if chunk_size is None:
        return
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size <= 0:
        raise ValueError(
            f"chunk_size must be a positive int (columns per block) or None for the dense "
            f"path, got {chunk_size!r}."
        )


def _check_hits(
    key_ids: Tensor | None, positive: Tensor | None, n: int, m: int
) -> AccidentalHits | None:
    if key_ids is None and positive is None:
        return None
    if key_ids is None or positive is None:
        raise ValueError(
            "accidental-hit masking needs both key_ids (M,) and positive (N,); pass both or "
            "neither."
        )
    for name, t, size in (("key_ids", key_ids, m), ("positive", positive, n)):
        if not isinstance(t, Tensor) or t.dtype != torch.int64 or t.shape != (size,):
            got = f"{t.dtype} {tuple(t.shape)}" if isinstance(t, Tensor) else type(t).__name__
            raise ValueError(f"{name} must be an int64 tensor of shape ({size},), got {got}.")
    return AccidentalHits(key_ids[positive], key_ids, positive)


@autocast_off
def similarity_logsumexp(
    q: Tensor,
    k: Tensor,
    scale: float | Tensor,
    *,
    bias: Tensor | None = None,
    exclude: Tensor | None = None,
    key_ids: Tensor | None = None,
    positive: Tensor | None = None,
    symmetric: bool = False,
    chunk_size: int | None = None,
    backend: str | None = None,
) -> Tensor:
    """Row log-sum-exp ``lse_i = log sum_{j not in E_i} exp(scale * q_i . k_j + b_j)``.

    Args:
        q: row vectors (queries / anchors).
        k: column vectors (keys / candidates).
        scale: ``1 / temperature``; a float, or a 0-d tensor (gradients flow to it on both paths).
        bias: optional per-column logit bias added after scaling (e.g. logQ ``-log p_j``).
        exclude: optional int64 ``(N, E)`` column indices dropped from row ``i``'s sum;
            ``-1`` entries are ignored. Every row must keep at least one column.
        key_ids: optional int64 ``(M,)`` item ids for accidental-hit masking: column ``j`` is
            dropped from row ``i`` when ``key_ids[j] == key_ids[positive[i]]`` and
            ``j != positive[i]``. Needs ``positive``.
        positive: int64 ``(N,)`` column of each row's positive (with ``key_ids`` only).
        symmetric: declare ``S`` symmetric (``q is k``, no bias, a symmetric mask such as self
            and positive-pair exclusion): one backward pass serves rows and columns (2 instead
            of 3 matmul-sized products per block). Same values and gradients.
        chunk_size: None for the dense path (materialises ``S``) unless a fused backend is
            selected (CUDA + Triton: see the module docstring); otherwise the number of
            columns per block of the streamed path (:class:`ChunkedLogSumExp`).
        backend: force a registered :class:`LSEBackend` by name (``"torch"``, ``"triton"``);
            None picks one (``SELFSUP_KERNELS`` environment variable, then ``supports``).

    Shapes:
        q: ``(N, D)``; k: ``(M, D)``; bias: ``(M,)``; exclude: ``(N, E)``; key_ids: ``(M,)``;
        positive: ``(N,)`` -> ``(N,)``, in float32 or wider.

    Raises:
        ValueError: for a non-positive ``chunk_size``, an unknown backend, bad ``key_ids`` /
            ``positive``, or ``symmetric`` with ``k is not q`` or a bias.
        ImportError: a forced ``"triton"`` backend without Triton installed.
    """
    check_chunk_size(chunk_size)
    hits = _check_hits(key_ids, positive, q.shape[0], k.shape[0])
    if symmetric and (k is not q or bias is not None):
        raise ValueError(
            "symmetric=True needs the same tensor as q and k (k is q) and no bias; pass "
            "symmetric=False otherwise."
        )
    chosen = _select_backend(backend, q, k)
    if chosen.name == "torch" and chunk_size is None:
        s = _block_logits(q, k, scale, bias, exclude, 0, hits)
        return torch.logsumexp(s, dim=1)
    options: tuple = ()
    if hits is not None or symmetric:
        options = (hits, symmetric)
    return ChunkedLogSumExp.apply(q, k, scale, bias, exclude, chunk_size, chosen, *options)
