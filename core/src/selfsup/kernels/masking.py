"""MAE token plumbing: gather the visible tokens, scatter them back among mask tokens.

``gather_visible`` builds the MAE encoder input (``x[b, keep_idx[b]]``) and
``scatter_with_mask_token`` the decoder input (visible tokens at their positions, a learned mask
token everywhere else), each with a PyTorch path (default) and an opt-in Triton path
(``backend="triton"`` or ``SELFSUP_KERNELS=triton``).

Why PyTorch is the default: both operations are pure data movement (B = 256, L = 196, D = 768
bf16 is 77 MB; gathering 25 % moves ~39 MB, ~13 us at 3 TB/s), a fraction of a percent of an
MAE step (see the kernels notes). The Triton path saves passes rather than FLOPs: the gather's
backward writes ``grad_x`` once through an inverse index (no zero fill, no scatter-add), the
scatter's forward writes each output row once, and the mask-token gradient reads only masked rows
(PyTorch clones the gradient and zeroes the visible rows first). ``benchmarks/kernels/masking.py``
measures both at B = 256, L in {196, 576, 1024}, D = 768, bf16; the default switches to Triton
only if those numbers show a gain (no GPU measurement recorded yet).

Triton is imported on the first Triton call, never by ``import selfsup``.
"""

from __future__ import annotations

import os

import torch
from torch import Tensor

from selfsup.imports import module_available

__all__ = ["gather_visible", "scatter_with_mask_token"]

#: Backend used when neither ``backend=`` nor ``SELFSUP_KERNELS`` says otherwise.
DEFAULT_BACKEND = "torch"
_BACKENDS = ("torch", "triton")


def _resolve_backend(backend: str | None, device: torch.device) -> str:
    """``backend`` > ``SELFSUP_KERNELS`` > :data:`DEFAULT_BACKEND`.

    An explicit ``backend="triton"`` on CPU tensors raises unless the kernels run in Triton's
    interpreter; an environment or default choice of Triton falls back to PyTorch there.
    """
    explicit = backend is not None
    if backend is None:
        backend = os.environ.get("SELFSUP_KERNELS", "").strip().lower() or DEFAULT_BACKEND
        source = "SELFSUP_KERNELS"
    else:
        source = "backend"
    if backend not in _BACKENDS:
        raise ValueError(f"{source} must be one of {_BACKENDS}, got {backend!r}.")
    if backend == "torch":
        return backend
    if not module_available("triton"):
        raise ImportError(
            f"{source}='triton' needs Triton: pip install 'selfsup-core[kernels]' "
            "(or use the PyTorch path: backend='torch')."
        )
    from selfsup.kernels import _masking_triton

    if device.type != "cuda" and not _masking_triton.INTERPRETED:
        if explicit:
            raise ValueError(
                f"backend='triton' needs CUDA tensors, got {device.type}; move the tensors to the "
                "GPU, use backend='torch', or set TRITON_INTERPRET=1 before selfsup.kernels is "
                "first used (CPU simulation, slow)."
            )
        return "torch"
    return "triton"


def _check_tokens(name: str, x: Tensor) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}.")
    if x.dim() != 3:
        raise ValueError(
            f"{name} must have shape (B, L, D), got {tuple(x.shape)}; "
            "for extra feature dimensions use selfsup.masking.gather_tokens."
        )
    if not x.is_floating_point():
        raise ValueError(f"{name} must be floating point, got {x.dtype}.")


def _check_keep_idx(keep_idx: Tensor, x: Tensor, name: str) -> None:
    if not isinstance(keep_idx, Tensor):
        raise TypeError(f"keep_idx must be a torch.Tensor, got {type(keep_idx).__name__}.")
    if keep_idx.dim() != 2 or keep_idx.shape[0] != x.shape[0]:
        raise ValueError(
            f"keep_idx must have shape (B, K) with B = {name}.shape[0] = {x.shape[0]}, "
            f"got {tuple(keep_idx.shape)}."
        )
    if keep_idx.dtype not in (torch.int64, torch.int32):
        raise ValueError(
            f"keep_idx must be int64 or int32, got {keep_idx.dtype}; "
            "use TokenMask.keep_idx from selfsup.masking.random_token_mask."
        )
    if keep_idx.device != x.device:
        raise ValueError(f"keep_idx is on {keep_idx.device} but {name} is on {x.device}; move one.")


def gather_visible(x: Tensor, keep_idx: Tensor, *, backend: str | None = None) -> Tensor:
    """Visible tokens of every sample, the MAE encoder input (arXiv 2111.06377).

    .. math::

        \\mathrm{out}_{b,j,:} = x_{b,\\,\\mathrm{keep}_{b,j},\\,:}

    Backward: ``grad_x[b, keep_idx[b, j]] = grad_out[b, j]``, zero at masked positions. The
    PyTorch path is ``torch.gather`` with an expanded index (its backward is a scatter-add, so
    repeated positions add up). The Triton path writes ``grad_x`` in one pass through the inverse
    index, which assumes the positions of a row are distinct (as
    :func:`~selfsup.masking.random_token_mask` produces); out-of-range positions read zeros in its
    forward and raise (CUDA: device-side assert) in its backward.

    Args:
        x: Tokens.
        keep_idx: Positions to keep per sample, in ``[0, L)``, distinct within a row (e.g.
            ``TokenMask.keep_idx``); int64 or int32.
        backend: ``"torch"``, ``"triton"`` or ``None`` (default): ``SELFSUP_KERNELS`` if set,
            else ``"torch"``. An environment choice of Triton falls back to PyTorch on CPU.

    Returns:
        The gathered tokens, same dtype and device as ``x``.

    Shapes:
        x: ``(B, L, D)``; keep_idx: ``(B, K)``; output: ``(B, K, D)``.

    Raises:
        TypeError: If an input is not a tensor.
        ValueError: On mismatched shapes, devices or dtypes, or an unknown backend.
        ImportError: If Triton is requested but not installed.
    """
    _check_tokens("x", x)
    _check_keep_idx(keep_idx, x, "x")
    if _resolve_backend(backend, x.device) == "triton":
        from selfsup.kernels._masking_triton import GatherVisible

        return GatherVisible.apply(x, keep_idx)
    index = keep_idx.long()[:, :, None].expand(-1, -1, x.shape[2])
    return torch.gather(x, 1, index)


def scatter_with_mask_token(
    visible: Tensor,
    keep_idx: Tensor,
    mask_token: Tensor,
    num_tokens: int,
    *,
    backend: str | None = None,
) -> Tensor:
    """Put the visible tokens back at their positions and a mask token everywhere else.

    The MAE decoder input, without MAE's concatenate-then-unshuffle (``ids_restore``) step:

    .. math::

        \\mathrm{out}_{b,l,:} = \\begin{cases} v_{b,j,:} & l = \\mathrm{keep}_{b,j} \\\\
        t & \\text{otherwise} \\end{cases}

    Backward: ``grad_visible[b, j] = grad_out[b, keep_idx[b, j]]`` and
    ``grad_mask_token = sum of grad_out over all masked (b, l)``. The PyTorch path is
    ``Tensor.scatter`` into the expanded mask token; the Triton path writes every output row
    once (gather through the inverse index, mask token where there is none) and sums only the
    masked rows of the gradient (fp32 accumulation, deterministic). Positions must be distinct
    within a row and in ``[0, L)``.

    Args:
        visible: Visible tokens (e.g. encoder output projected to the decoder width).
        keep_idx: Their positions, as given to :func:`gather_visible`; int64 or int32.
        mask_token: The learned mask token; any shape with ``D`` elements (``(D,)`` or MAE's
            ``(1, 1, D)``), floating point. Its values are cast to ``visible.dtype``; its
            gradient comes back in its own dtype (Triton: accumulated in fp32 without an
            intermediate rounding to ``visible.dtype``).
        num_tokens: ``L``, tokens per sample in the output, ``>= K``.
        backend: As for :func:`gather_visible`.

    Returns:
        The full token sequence, same dtype and device as ``visible``.

    Shapes:
        visible: ``(B, K, D)``; keep_idx: ``(B, K)``; mask_token: ``D`` elements;
        output: ``(B, L, D)``.

    Raises:
        TypeError: If an input is not a tensor.
        ValueError: On mismatched shapes, devices or dtypes, ``num_tokens < K`` or an unknown
            backend.
        ImportError: If Triton is requested but not installed.
    """
    _check_tokens("visible", visible)
    _check_keep_idx(keep_idx, visible, "visible")
    n_b, n_k, d = visible.shape
    if keep_idx.shape[1] != n_k:
        raise ValueError(
            f"keep_idx has {keep_idx.shape[1]} positions per sample but visible has {n_k} "
            "tokens; pass the keep_idx used to gather them."
        )
    if isinstance(num_tokens, bool) or not isinstance(num_tokens, int) or num_tokens < n_k:
        raise ValueError(
            f"num_tokens must be an int >= K = {n_k} (the full sequence length), got "
            f"{num_tokens!r}."
        )
    if not isinstance(mask_token, Tensor):
        raise TypeError(f"mask_token must be a torch.Tensor, got {type(mask_token).__name__}.")
    if mask_token.numel() != d:
        raise ValueError(
            f"mask_token must have D = {d} elements (shape (D,) or (1, 1, D)), "
            f"got shape {tuple(mask_token.shape)}."
        )
    if mask_token.device != visible.device:
        raise ValueError(
            f"mask_token is on {mask_token.device} but visible is on {visible.device}; move one."
        )
    if not mask_token.is_floating_point():
        raise ValueError(f"mask_token must be floating point, got {mask_token.dtype}.")
    if _resolve_backend(backend, visible.device) == "triton":
        from selfsup.kernels._masking_triton import ScatterWithMaskToken

        # the token's gradient is accumulated in fp32 and returned in the token's own dtype
        return ScatterWithMaskToken.apply(visible, keep_idx, mask_token.reshape(d), num_tokens)
    token = mask_token.reshape(d).to(visible.dtype)
    index = keep_idx.long()[:, :, None].expand(-1, -1, d)
    return token.expand(n_b, num_tokens, d).scatter(1, index, visible)
