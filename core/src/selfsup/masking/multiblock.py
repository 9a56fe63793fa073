"""I-JEPA multi-block context/target masks on a 2-D token grid (arXiv 2301.08243).

Built on the CPU for a DataLoader ``collate_fn`` (as I-JEPA's ``MaskCollator``), with three fixes
to the reference ``facebookresearch/ijepa`` ``src/masks/multiblock.py``:

* no truncation to the batch minimum: every sample keeps all of its context and target tokens;
  index tensors are padded to the batch maximum and come with validity masks;
* blocks can touch the last row and column (the reference draws ``randint(0, H - h)``, whose upper
  bound is exclusive, and also forbids ``h == H``);
* a documented, deterministic fallback guarantees a context of at least ``min_context`` tokens.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch
from torch import Tensor

from selfsup.masking._sampling import check_count, check_grid, check_range, host_rng

__all__ = ["MultiBlockMask", "multiblock_mask"]


@dataclass(frozen=True)
class MultiBlockMask:
    """Result of :func:`multiblock_mask`: padded context and target indices per sample.

    Padded entries hold index 0 and are ``False`` in the matching ``*_valid`` mask; gather with
    the index and use the validity mask as attention/key-padding mask and loss weight. Valid
    indices are ascending (raster order, ``index = row * W + col``).

    Attributes:
        context_idx: Context (encoder) token positions.
        context_valid: ``True`` for real context entries.
        target_idx: Target (predictor) token positions, one block per target.
        target_valid: ``True`` for real target entries. A target removed by the context fallback
            (see :func:`multiblock_mask`) is all ``False``.
        num_tokens: ``L = H * W``.

    Shapes:
        context_idx, context_valid: ``(B, Lc)`` with ``Lc`` the largest context in the batch;
        target_idx, target_valid: ``(B, T, Lt)`` with ``Lt`` the largest target block.
    """

    context_idx: Tensor
    context_valid: Tensor
    target_idx: Tensor
    target_valid: Tensor
    num_tokens: int

    @property
    def context_mask(self) -> Tensor:
        """``(B, L)`` bool, ``True`` at context tokens."""
        return _to_dense(self.context_idx, self.context_valid, self.num_tokens)

    @property
    def target_mask(self) -> Tensor:
        """``(B, T, L)`` bool, ``True`` at the tokens of each target block."""
        return _to_dense(self.target_idx, self.target_valid, self.num_tokens)


def _to_dense(idx: Tensor, valid: Tensor, num_tokens: int) -> Tensor:
    # scatter_add (not scatter) so padded duplicates of index 0 cannot erase a real entry.
    out = torch.zeros(*idx.shape[:-1], num_tokens, dtype=torch.int32, device=idx.device)
    return out.scatter_add_(-1, idx, valid.to(torch.int32)) > 0


def _block_size(
    rng: random.Random,
    height: int,
    width: int,
    scale: tuple[float, float],
    aspect: tuple[float, float],
) -> tuple[int, int]:
    """I-JEPA ``_sample_block_size`` with independent scale/aspect draws and ``h <= H, w <= W``."""
    area = int(height * width * rng.uniform(*scale))
    ratio = rng.uniform(*aspect)
    h = int(round(math.sqrt(area * ratio)))
    w = int(round(math.sqrt(area / ratio)))
    return min(max(h, 1), height), min(max(w, 1), width)


def _place(rng: random.Random, size: tuple[int, int], height: int, width: int) -> list[int]:
    """Raster-ordered cells of an ``h x w`` block at a uniform position (last row/col allowed)."""
    h, w = size
    top = rng.randint(0, height - h)  # randint is inclusive on both ends
    left = rng.randint(0, width - w)
    return [r * width + c for r in range(top, top + h) for c in range(left, left + w)]


def multiblock_mask(
    batch_size: int,
    grid: tuple[int, int],
    *,
    num_targets: int = 4,
    target_scale: tuple[float, float] = (0.15, 0.2),
    target_aspect: tuple[float, float] = (0.75, 1.5),
    context_scale: tuple[float, float] = (0.85, 1.0),
    context_aspect: tuple[float, float] = (1.0, 1.0),
    allow_overlap: bool = False,
    min_context: int = 4,
    max_tries: int = 20,
    per_sample_size: bool = False,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> MultiBlockMask:
    """Sample ``num_targets`` target blocks and one context block per sample (I-JEPA).

    Block size: area ``a = int(H * W * s)`` with ``s ~ U(scale)``, aspect ``r ~ U(aspect)``,
    ``h = round(sqrt(a r))``, ``w = round(sqrt(a / r))``, clipped to ``[1, H] x [1, W]``; the
    top-left corner is uniform over every position where the block fits. As in I-JEPA, one
    target size and one context size are drawn per batch and shared by all samples (so all valid
    targets have the same length); ``per_sample_size=True`` draws a size per block instead.
    (I-JEPA reuses one uniform draw for scale and aspect; here they are independent.)

    Targets may overlap each other. With ``allow_overlap=False`` the context is the context block
    minus the union of the targets, so context and targets are disjoint.

    Context fallback (only when the context would have fewer than ``min_context`` tokens):

    1. re-place the context block, up to ``max_tries`` positions in total;
    2. use every grid token outside the targets as context;
    3. if that is still too small, drop targets (last first; their ``target_valid`` becomes all
       ``False``) until the tokens outside the remaining targets reach ``min_context``.

    Context and valid targets therefore never share a token when ``allow_overlap=False``.
    (I-JEPA instead relaxes the constraint and lets the context overlap some targets.)

    Runs on the CPU with Python's ``random`` seeded from ``generator`` — call it in the DataLoader's
    ``collate_fn``; ``device=`` moves the result with one copy per tensor.

    Args:
        batch_size: ``B``, number of samples.
        grid: ``(H, W)`` patch grid, e.g. ``(14, 14)``.
        num_targets: ``T``, target blocks per sample (I-JEPA: 4).
        target_scale: ``(min, max)`` fraction of the grid per target block (I-JEPA: (0.15, 0.2)).
        target_aspect: ``(min, max)`` target aspect ratio ``h / w`` (I-JEPA: (0.75, 1.5)).
        context_scale: ``(min, max)`` fraction of the grid of the context block (I-JEPA: (0.85, 1)).
        context_aspect: ``(min, max)`` context aspect ratio (I-JEPA: (1, 1)).
        allow_overlap: Keep target tokens in the context (default ``False``).
        min_context: Smallest acceptable context, in tokens (default 4, I-JEPA's ``min_keep``).
        max_tries: Context block placements before falling back (default 20).
        per_sample_size: Draw block sizes per block instead of per batch (default ``False``).
        generator: Optional **CPU** generator seeding the proposals.
        device: Device of the returned tensors (default: the default device).

    Returns:
        A :class:`MultiBlockMask`.

    Shapes:
        context_idx, context_valid: ``(B, Lc)``; target_idx, target_valid: ``(B, T, Lt)``.

    Raises:
        ValueError: On non-positive sizes, scales outside ``(0, 1]``, non-positive aspect
            ratios, ``min_context`` outside ``[1, H * W]`` or a non-CPU generator.
    """
    check_count("batch_size", batch_size)
    height, width = check_grid(grid)
    check_count("num_targets", num_targets)
    t_scale = check_range("target_scale", target_scale, open_low=True)
    c_scale = check_range("context_scale", context_scale, open_low=True)
    t_aspect = check_range("target_aspect", target_aspect, high=math.inf, open_low=True)
    c_aspect = check_range("context_aspect", context_aspect, high=math.inf, open_low=True)
    num_tokens = height * width
    check_count("min_context", min_context)
    if min_context > num_tokens:
        raise ValueError(
            f"min_context ({min_context}) exceeds the grid's {num_tokens} tokens; lower it."
        )
    check_count("max_tries", max_tries)
    dev = torch.device(device) if device is not None else torch.get_default_device()
    rng = host_rng(generator)

    t_size = _block_size(rng, height, width, t_scale, t_aspect)
    c_size = _block_size(rng, height, width, c_scale, c_aspect)
    contexts: list[list[int]] = []
    targets: list[list[list[int]]] = []
    for _ in range(batch_size):
        blocks = []
        for _ in range(num_targets):
            size = _block_size(rng, height, width, t_scale, t_aspect) if per_sample_size else t_size
            blocks.append(_place(rng, size, height, width))
        if per_sample_size:
            c_size = _block_size(rng, height, width, c_scale, c_aspect)
        contexts.append(
            _context(rng, blocks, c_size, height, width, allow_overlap, min_context, max_tries)
        )
        targets.append(blocks)

    ctx_len = max(len(c) for c in contexts)
    tgt_len = max(len(t) for blocks in targets for t in blocks)
    context_idx = torch.tensor([c + [0] * (ctx_len - len(c)) for c in contexts], dtype=torch.long)
    context_valid = torch.tensor(
        [[True] * len(c) + [False] * (ctx_len - len(c)) for c in contexts], dtype=torch.bool
    )
    target_idx = torch.tensor(
        [[t + [0] * (tgt_len - len(t)) for t in blocks] for blocks in targets], dtype=torch.long
    )
    target_valid = torch.tensor(
        [[[True] * len(t) + [False] * (tgt_len - len(t)) for t in blocks] for blocks in targets],
        dtype=torch.bool,
    )
    return MultiBlockMask(
        context_idx=context_idx.to(dev),
        context_valid=context_valid.to(dev),
        target_idx=target_idx.to(dev),
        target_valid=target_valid.to(dev),
        num_tokens=num_tokens,
    )


def _context(
    rng: random.Random,
    blocks: list[list[int]],
    size: tuple[int, int],
    height: int,
    width: int,
    allow_overlap: bool,
    min_context: int,
    max_tries: int,
) -> list[int]:
    """Context for one sample; may empty (drop) trailing target blocks in the last fallback."""
    excluded: set[int] = set() if allow_overlap else {i for t in blocks for i in t}
    for _ in range(max_tries):
        context = [i for i in _place(rng, size, height, width) if i not in excluded]
        if len(context) >= min_context:
            return context
    num_tokens = height * width
    kept = len(blocks)
    while num_tokens - len(excluded) < min_context:  # never entered when allow_overlap
        kept -= 1
        blocks[kept] = []
        excluded = {i for t in blocks[:kept] for i in t}
    return [i for i in range(num_tokens) if i not in excluded]
