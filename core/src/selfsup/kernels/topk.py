"""Exact top-k similarity search without the full ``Q x M`` score matrix.

Queries are processed ``chunk_size`` rows at a time and the bank ``bank_chunk_size`` rows at a
time: one ``(chunk_size, bank_chunk_size)`` score tile exists at once, its best ``k`` (per query)
are merged into a running ``(chunk_size, k)`` result. Used by :func:`selfsup.metrics.knn_predict`
and meant for full-corpus recall (cosine or inner product, optional self-exclusion).

Why there is no Triton backend: the matmul is cuBLAS's job (a ``tl.dot`` tile kernel cannot beat
it), and a fused matmul + per-tile top-k needs an in-register sorting network per tile. At
``D = 256`` a bitonic sort of a ``64 x 128`` int64 key tile costs ~28 compare-exchange stages over
8k elements, about 18x the tensor-core time of the tile's ``tl.dot`` (derived estimate), so the
fused kernel would be slower than this chunked path, whose cost is one fp32 tile write plus
``torch.topk``'s passes over it. ``benchmarks/kernels/topk.py`` measures this path against the
naive full matmul + top-k.
"""

from __future__ import annotations

import os

import torch
from torch import Tensor

from selfsup.checks import check_matrix

__all__ = ["similarity_topk"]

_HALF = (torch.float16, torch.bfloat16)
_EPS = 1e-12  # as torch.nn.functional.normalize
_MM_OUT_DTYPE: bool | None = None  # whether torch.mm(..., out_dtype=float32) works on CUDA


def _check_chunk(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")


def _resolve_backend(backend: str | None) -> str:
    if backend is None:
        # SELFSUP_KERNELS=triton selects Triton where a kernel exists; here none does.
        env = os.environ.get("SELFSUP_KERNELS", "").strip().lower()
        if env not in ("", "torch", "triton"):
            raise ValueError(
                f"SELFSUP_KERNELS={env!r} is not a backend; use 'torch', 'triton' or unset it."
            )
        return "torch"
    if backend == "torch":
        return backend
    if backend == "triton":
        raise ValueError(
            "similarity_topk has no Triton kernel: the chunked cuBLAS matmul + torch.topk path is "
            "the fast one (see the module docstring); pass backend='torch' or None."
        )
    raise ValueError(f"backend must be None or 'torch', got {backend!r}.")


def _compute_dtype(queries: Tensor, bank: Tensor, device: torch.device) -> torch.dtype:
    """Matmul operand dtype: half inputs stay half on CUDA (fp32 accumulation and output)."""
    if device.type == "cuda" and queries.dtype in _HALF and bank.dtype == queries.dtype:
        return queries.dtype
    return torch.promote_types(torch.promote_types(queries.dtype, bank.dtype), torch.float32)


def _inv_norms(x: Tensor, chunk: int) -> Tensor:
    """``1 / max(||x_i||, eps)`` in at least float32, computed ``chunk`` rows at a time."""
    acc = torch.promote_types(x.dtype, torch.float32)
    parts = [
        torch.linalg.vector_norm(x[i : i + chunk].to(acc), dim=1) for i in range(0, len(x), chunk)
    ]
    return torch.cat(parts).clamp_min_(_EPS).reciprocal_()


def _prepare(x: Tensor, inv_norm: Tensor | None, dtype: torch.dtype, device) -> Tensor:
    x = x.to(device=device)
    if inv_norm is not None:
        x = x.to(inv_norm.dtype) * inv_norm[:, None]
    return x.to(dtype)


def _scores(q: Tensor, b: Tensor) -> Tensor:
    """``q @ b.T`` with float32 (or float64) output; half operands accumulate in fp32."""
    global _MM_OUT_DTYPE
    if q.dtype not in _HALF:
        return q @ b.T
    if _MM_OUT_DTYPE is not False:
        try:
            out = torch.mm(q, b.T, out_dtype=torch.float32)
            _MM_OUT_DTYPE = True
            return out
        except torch.OutOfMemoryError:
            raise
        except (TypeError, RuntimeError):  # no fp32-output half matmul in this build
            if _MM_OUT_DTYPE:
                raise
            _MM_OUT_DTYPE = False
    return (q @ b.T).float()


def _exclude(s: Tensor, exclude: Tensor, start: int) -> None:
    """Set ``s[i, exclude[i] - start] = -inf`` where that column lies in this tile (no sync)."""
    m = s.shape[1]
    col = exclude - start
    hit = (col >= 0) & (col < m)
    col = col.clamp(0, m - 1)[:, None]
    s.scatter_(1, col, torch.where(hit[:, None], float("-inf"), s.gather(1, col)))


def _tile_topk(s: Tensor, k: int, exact: bool) -> tuple[Tensor, Tensor, Tensor | None]:
    """Best ``min(k, m)`` of a tile and, on the fast path, rows with a tie at the k-th place.

    ``torch.topk`` returns the right values, but among equal values at the k-th place it may pick
    any of them. Asking for ``k + 1`` exposes such rows (``v[k-1] == v[k]``); they are redone with a
    stable sort. With ``exact`` the stable sort is used directly.
    """
    m = s.shape[1]
    if exact or m <= k:
        vals, idx = s.sort(dim=1, descending=True, stable=True)
        return vals[:, :k], idx[:, :k], None
    vals, idx = s.topk(k + 1, dim=1, sorted=True)
    return vals[:, :k], idx[:, :k], vals[:, k - 1] == vals[:, k]


def _merge(
    best_s: Tensor, best_i: Tensor, new_s: Tensor, new_i: Tensor, k: int
) -> tuple[Tensor, Tensor]:
    """Top ``k`` of the union, ordered by (score descending, index ascending)."""
    s = torch.cat([best_s, new_s], dim=1)
    i = torch.cat([best_i, new_i], dim=1)
    i, perm = i.sort(dim=1)  # indices are distinct: index-ascending order
    s, perm = s.gather(1, perm).sort(dim=1, descending=True, stable=True)
    return s[:, :k], i.gather(1, perm)[:, :k]


def _search(
    q: Tensor,
    bank: Tensor,
    bank_inv: Tensor | None,
    exclude: Tensor | None,
    k: int,
    bank_chunk: int,
    dtype: torch.dtype,
    exact: bool,
) -> tuple[Tensor, Tensor, Tensor | None]:
    best_s = best_i = None
    ties = None
    for start in range(0, bank.shape[0], bank_chunk):
        stop = min(start + bank_chunk, bank.shape[0])
        inv = None if bank_inv is None else bank_inv[start:stop]
        s = _scores(q, _prepare(bank[start:stop], inv, dtype, q.device))
        if exclude is not None:
            _exclude(s, exclude, start)
        vals, idx, tie = _tile_topk(s, k, exact)
        del s
        idx = idx + start
        if best_s is None:
            best_s, best_i = vals[:, :0], idx[:, :0]
        # also orders a single tile: topk leaves equal values in any order
        best_s, best_i = _merge(best_s, best_i, vals, idx, k)
        if tie is not None:
            ties = tie if ties is None else ties | tie
    return best_s, best_i, ties


@torch.no_grad()
def similarity_topk(
    queries: Tensor,
    bank: Tensor,
    k: int,
    *,
    normalize: bool = True,
    exclude: Tensor | None = None,
    chunk_size: int = 1024,
    bank_chunk_size: int = 32768,
    backend: str | None = None,
) -> tuple[Tensor, Tensor]:
    """The ``k`` bank rows most similar to each query, exactly, in bounded memory.

    .. math::

        s_{ij} = \\frac{\\langle q_i, b_j \\rangle}{\\max(\\lVert q_i \\rVert, \\epsilon)
        \\max(\\lVert b_j \\rVert, \\epsilon)} \\;(\\text{cosine}), \\qquad
        s_{ij} = \\langle q_i, b_j \\rangle \\;(\\text{``normalize=False``})

    and, per query, the ``k`` largest ``s_ij`` in decreasing order, with ``j = exclude[i]``
    left out.

    Ties: deterministic. Rows are ordered by score descending, then by bank index ascending, so
    among equal scores the smaller index comes first (also across chunk borders and at the k-th
    place; ``-0.0 == +0.0``). A tile whose k-th and (k+1)-th scores are equal is re-ranked with a
    stable sort, so tie-heavy data (duplicated rows) is slower, not wrong. NaN scores are
    undefined behaviour (inputs are checked for NaN/inf while :mod:`selfsup.checks` finite
    checks are on).

    Precision: float32/float64 inputs are compared in that precision (at least float32; on CUDA
    fp32 matmuls follow ``torch.backends.cuda.matmul.allow_tf32``). float16/bfloat16 inputs on
    CUDA are multiplied in half precision with float32 accumulation and float32 scores; on the CPU
    they are upcast to float32. Normalisation scales rows by ``1 / max(||x||, 1e-12)`` (as
    ``F.normalize``) computed in at least float32.

    Memory: one ``chunk_size x bank_chunk_size`` score tile plus ``chunk_size x k`` running
    results, one normalised ``bank_chunk_size x D`` bank slice and ``M`` inverse norms; the bank
    is never copied whole. The loop reads one boolean from the device per query chunk (to find
    rows with a k-th place tie).

    Gradients: none (runs under ``torch.no_grad``). For differentiable scores, recompute them from
    the returned indices, e.g. ``(q[:, None] * bank[indices]).sum(-1)``.

    Args:
        queries: Query vectors.
        bank: Database vectors (the memory bank / corpus). Queries are moved to its device.
        k: Number of neighbours, ``1 <= k <= M`` (``M - 1`` when ``exclude`` is given).
        normalize: Cosine similarity if ``True`` (default), inner product otherwise.
        exclude: Optional bank index to leave out per query (e.g. the query's own row in the
            bank); entries outside ``[0, M)`` (use ``-1``) exclude nothing.
        chunk_size: Query rows per chunk (default 1024).
        bank_chunk_size: Bank rows per tile (default 32768).
        backend: ``None`` or ``"torch"``; there is no Triton kernel (see the module docstring),
            so ``SELFSUP_KERNELS=triton`` still runs this path.

    Returns:
        ``(scores, indices)``: scores in the compute dtype (float32, or float64 for float64
        inputs) and int64 bank indices, both on ``bank``'s device, sorted by decreasing score.

    Shapes:
        - queries: ``(Q, D)``; bank: ``(M, D)``; exclude: ``(Q,)`` integer.
        - scores, indices: ``(Q, k)``.

    Raises:
        TypeError: If ``queries`` or ``bank`` is not a tensor.
        ValueError: On mis-shaped or non-finite inputs, different feature dimensions, ``k`` or a
            chunk size out of range, a malformed ``exclude`` or an unknown backend.
    """
    _resolve_backend(backend)
    check_matrix("bank", bank)
    check_matrix("queries", queries, min_rows=0)
    if queries.shape[1] != bank.shape[1]:
        raise ValueError(
            f"queries has {queries.shape[1]} feature dimensions but bank has {bank.shape[1]}; "
            "embed both with the same encoder."
        )
    n_bank = bank.shape[0]
    limit = n_bank - (exclude is not None)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= limit:
        extra = " minus the excluded row" if exclude is not None else ""
        raise ValueError(
            f"k must be an integer in [1, {limit}] (the bank size{extra}), got {k!r}; "
            "clamp it with min(k, M)."
        )
    _check_chunk("chunk_size", chunk_size)
    _check_chunk("bank_chunk_size", bank_chunk_size)
    device = bank.device
    if exclude is not None:
        if not isinstance(exclude, Tensor) or exclude.shape != (queries.shape[0],):
            got = tuple(exclude.shape) if isinstance(exclude, Tensor) else type(exclude).__name__
            raise ValueError(
                f"exclude must be a tensor of shape (Q,) = ({queries.shape[0]},), got {got}."
            )
        if exclude.is_floating_point() or exclude.is_complex() or exclude.dtype == torch.bool:
            raise ValueError(f"exclude must hold integer bank indices, got {exclude.dtype}.")
        exclude = exclude.to(device=device, dtype=torch.long)

    dtype = _compute_dtype(queries, bank, device)
    score_dtype = torch.promote_types(dtype, torch.float32)
    n_q = queries.shape[0]
    out_s = torch.empty(n_q, k, dtype=score_dtype, device=device)
    out_i = torch.empty(n_q, k, dtype=torch.long, device=device)
    bank_inv = _inv_norms(bank, bank_chunk_size) if normalize else None
    for start in range(0, n_q, chunk_size):
        stop = min(start + chunk_size, n_q)
        q = queries[start:stop].to(device)
        q_inv = _inv_norms(q, chunk_size) if normalize else None
        q = _prepare(q, q_inv, dtype, device)
        ex = None if exclude is None else exclude[start:stop]
        s, i, ties = _search(q, bank, bank_inv, ex, k, bank_chunk_size, dtype, exact=False)
        if ties is not None and bool(ties.any()):
            rows = ties.nonzero().squeeze(1)
            ex_rows = None if ex is None else ex[rows]
            s[rows], i[rows], _ = _search(
                q[rows], bank, bank_inv, ex_rows, k, bank_chunk_size, dtype, exact=True
            )
        out_s[start:stop] = s
        out_i[start:stop] = i
    return out_s, out_i
