"""Dispatch of the row log-sum-exp: the backend contract, the registry, backend choice, the
autograd function and :func:`similarity_logsumexp`.

``lse_i = log sum_{j not in E_i} exp(s q_i . k_j + b_j)`` (the maths: :mod:`.torch_ref`).
``chunk_size=None`` on the PyTorch backend materialises ``S`` (:func:`.torch_ref.block_logits`
and autograd); everything else runs through :class:`ChunkedLogSumExp`, which saves the inputs
and ``lse`` only and lets the chosen backend recompute blocks in the backward.

The maths of one pass lives in an :class:`LSEBackend` (a ``forward``/``backward`` pair).
The PyTorch backend (:mod:`.torch_ref`) runs anywhere. Selection (``backend=None``):

- ``SELFSUP_KERNELS=torch``: always PyTorch (dense when ``chunk_size`` is None).
- ``SELFSUP_KERNELS=triton``: always the fused Triton kernel (:mod:`selfsup.kernels.lse.triton`);
  CPU tensors only under ``TRITON_INTERPRET=1`` (for tests), PyTorch otherwise.
- unset / ``auto``: the most recently registered backend whose ``supports(q, k)`` is True; for
  CUDA tensors the built-in ``"triton"`` backend is imported on first use (never at
  ``import selfsup``) and used when Triton is installed, ``chunk_size`` or not (same values and
  gradients, O(N + M) memory). Otherwise PyTorch: dense for ``chunk_size=None``, else chunked.

``backend="torch"`` / ``"triton"`` / a registered name overrides both.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from selfsup.kernels.lse.dense import DenseLogSumExp, dense_supported
from selfsup.kernels.lse.torch_ref import block_logits, torch_backward, torch_forward
from selfsup.precision import autocast_off

__all__ = [
    "KERNELS_ENV",
    "AccidentalHits",
    "ChunkedLogSumExp",
    "LSEBackend",
    "check_chunk_size",
    "lse_backends",
    "register_lse_backend",
    "similarity_logsumexp",
]


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
    "torch": LSEBackend("torch", torch_forward, torch_backward),
}


def _import_triton() -> LSEBackend:
    """The one place the optional Triton path is imported (it imports ``triton``)."""
    from selfsup.kernels.lse.triton import BACKEND

    return BACKEND


#: Built-in backends imported on first use: name -> function importing and returning it.
_LAZY_BACKENDS: dict[str, Callable[[], LSEBackend]] = {"triton": _import_triton}
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
        loaded = _LAZY_BACKENDS[name]()
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
        register_lse_backend(loaded)
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
        if hits is None and dense_supported(q, k):
            return DenseLogSumExp.apply(q, k, scale, bias, exclude, symmetric)
        s = block_logits(q, k, scale, bias, exclude, 0, hits)
        return torch.logsumexp(s, dim=1)
    options: tuple = ()
    if hits is not None or symmetric:
        options = (hits, symmetric)
    return ChunkedLogSumExp.apply(q, k, scale, bias, exclude, chunk_size, chosen, *options)
