"""Blockwise masking on a 2-D token grid with an exact count (BEiT, arXiv 2106.08254; GMML).

Built on the CPU (Python ``random`` seeded from the torch generator): rectangle rejection sampling
has data-dependent control flow, which on a GPU would cost one host sync per attempt (lightly's
``random_block_mask`` reads ``mask.sum().item()`` per block). Call it in the DataLoader's
``collate_fn``; ``device=`` moves the finished mask with a single copy.
"""

from __future__ import annotations

import math
import random

import torch
from torch import Tensor

from selfsup.masking._sampling import (
    check_count,
    check_grid,
    check_range,
    check_ratio,
    host_rng,
    num_masked,
)

__all__ = ["block_mask"]

_ATTEMPTS_PER_BLOCK = 10  # BEiT MaskingGenerator._mask


def block_mask(
    batch_size: int,
    grid: tuple[int, int],
    mask_ratio: float,
    *,
    min_block: int = 4,
    max_block: int | None = None,
    aspect: tuple[float, float] = (0.3, 1 / 0.3),
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """Mask exactly ``floor(mask_ratio * H * W)`` tokens per sample with random rectangles.

    Follows BEiT's ``MaskingGenerator``: while fewer than ``N = floor(mask_ratio * H * W)`` tokens
    are masked, propose up to 10 rectangles with area ``a ~ U(min_block, N_left)`` (capped by
    ``max_block``) and log-uniform aspect ratio ``r``, ``h = round(sqrt(a r))``,
    ``w = round(sqrt(a / r))``, top-left corner uniform over all positions where the block fits
    (last row/column included); a proposal is accepted when it adds between 1 and ``N_left`` new
    tokens, so blocks never overshoot. BEiT stops when 10 proposals in a row fail, leaving fewer
    than ``N`` tokens masked; here the remainder is topped up with uniformly drawn unmasked tokens,
    so every sample has exactly ``N`` masked tokens. Unlike BEiT, a block may span the whole
    height or width of the grid.

    Runs on the CPU (see the module docstring); the result is moved to ``device`` once.

    Args:
        batch_size: ``B``, number of masks.
        grid: ``(H, W)`` token grid, e.g. ``(14, 14)`` for a ViT-B/16 at 224 px.
        mask_ratio: Fraction of the ``H * W`` tokens to mask, in ``[0, 1]`` (BEiT: 0.4).
        min_block: Smallest proposed block area in tokens (default 4, as BEiT).
        max_block: Largest proposed block area (default ``None``: no cap beyond the remainder).
        aspect: ``(min, max)`` aspect ratio ``h / w``, sampled log-uniformly
            (default ``(0.3, 1/0.3)``).
        generator: Optional **CPU** generator; seeds the Python RNG used for the proposals.
        device: Device of the returned mask (default: the default device).

    Returns:
        Boolean mask, ``True`` = masked, rows in raster order (``index = row * W + col``).

    Shapes:
        output: ``(B, H * W)`` bool, each row summing to ``floor(mask_ratio * H * W)``.

    Raises:
        ValueError: On non-positive sizes, a ratio outside ``[0, 1]``, ``min_block < 1``,
            ``max_block < min_block``, an invalid aspect range or a non-CPU generator.
    """
    check_count("batch_size", batch_size)
    height, width = check_grid(grid)
    check_ratio("mask_ratio", mask_ratio)
    check_count("min_block", min_block)
    if max_block is not None:
        check_count("max_block", max_block)
        if max_block < min_block:
            raise ValueError(f"max_block ({max_block}) must be >= min_block ({min_block}).")
    lo_aspect, hi_aspect = check_range("aspect", aspect, low=0.0, high=math.inf, open_low=True)
    dev = torch.device(device) if device is not None else torch.get_default_device()
    rng = host_rng(generator)

    num_tokens = height * width
    target = num_masked(mask_ratio, num_tokens)
    log_aspect = (math.log(lo_aspect), math.log(hi_aspect))
    cap = max_block if max_block is not None else num_tokens
    buf = bytearray(batch_size * num_tokens)
    for b in range(batch_size):
        row = memoryview(buf)[b * num_tokens : (b + 1) * num_tokens]
        count = 0
        while count < target:
            max_new = min(target - count, cap)
            delta = _add_block(row, rng, height, width, max_new, min_block, log_aspect)
            if delta == 0:
                break
            count += delta
        if count < target:  # BEiT would stop here; top up to the exact count
            free = [i for i in range(num_tokens) if not row[i]]
            for i in rng.sample(free, target - count):
                row[i] = 1
    mask = torch.frombuffer(buf, dtype=torch.uint8).view(batch_size, num_tokens).bool()
    return mask.to(dev)


def _add_block(
    row: memoryview,
    rng: random.Random,
    height: int,
    width: int,
    max_new: int,
    min_block: int,
    log_aspect: tuple[float, float],
) -> int:
    """Try up to 10 rectangles; mask the first that adds ``1..max_new`` tokens; return the gain."""
    uniform, randint = rng.uniform, rng.randint
    for _ in range(_ATTEMPTS_PER_BLOCK):
        area = uniform(min_block, max_new)
        ratio = math.exp(uniform(*log_aspect))
        h = int(round(math.sqrt(area * ratio)))
        w = int(round(math.sqrt(area / ratio)))
        if not (1 <= h <= height and 1 <= w <= width):
            continue
        top = randint(0, height - h)  # inclusive: blocks may touch the last row/column
        left = randint(0, width - w)
        cells = [r * width + c for r in range(top, top + h) for c in range(left, left + w)]
        new = [i for i in cells if not row[i]]
        if 0 < len(new) <= max_new:
            for i in new:
                row[i] = 1
            return len(new)
    return 0
