"""Argument checks, exact counts and random-number plumbing shared by the mask generators.

Two kinds of generator live in :mod:`selfsup.masking`:

* **on-device** generators (:func:`~selfsup.masking.random_token_mask`,
  :func:`~selfsup.masking.feature_subset_mask`, :func:`~selfsup.masking.node_mask`) draw every
  random number with ``torch`` on the target device; all shapes depend only on Python arguments,
  so they never read a value back from the device.
* **host** generators (:func:`~selfsup.masking.block_mask`,
  :func:`~selfsup.masking.multiblock_mask`) need data-dependent control flow (rejection sampling of
  rectangles). They run on the CPU, are meant for ``collate_fn`` / DataLoader workers, and move the
  finished result to ``device`` with one copy.
"""

from __future__ import annotations

import math
import numbers
import random

import torch

from selfsup.checks import check_probability

__all__ = [
    "check_count",
    "check_grid",
    "check_range",
    "check_ratio",
    "host_rng",
    "num_masked",
    "resolve_device",
]


def num_masked(ratio: float, n: int) -> int:
    """Exact number of masked items: ``floor(ratio * n)`` (GraphMAE's ``int(rate * N)``).

    A tiny tolerance absorbs binary floating-point error, so ``ratio = 0.7, n = 10`` gives 7
    (plain ``int(0.7 * 10)`` is 7, but ``int(10 * (1 - 0.7))`` is 2 — MAE's keep count — which
    would mask 8).
    """
    return min(n, max(0, math.floor(ratio * n + 1e-9)))


def check_count(name: str, value: int, *, minimum: int = 1) -> None:
    """Require an ``int`` (not bool) ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int, got {type(value).__name__} ({value!r}).")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}.")


def check_range(
    name: str,
    value: tuple[float, float],
    *,
    low: float = 0.0,
    high: float = 1.0,
    open_low: bool = False,
) -> tuple[float, float]:
    """Require a ``(min, max)`` pair with ``low <= min <= max <= high`` (``low < min`` if open)."""
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a (min, max) pair of numbers, got {value!r}.") from None
    lower_ok = lo > low if open_low else lo >= low
    if not (lower_ok and lo <= hi <= high):
        bracket = "(" if open_low else "["
        raise ValueError(
            f"{name} must satisfy {low} {'<' if open_low else '<='} min <= max <= {high} "
            f"(interval {bracket}{low}, {high}]), got {value!r}."
        )
    return lo, hi


def check_ratio(name: str, value: float, *, inclusive_high: bool = True) -> None:
    """Require a probability-like number in ``[0, 1]`` (or ``[0, 1)``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a float, got {type(value).__name__} ({value!r}).")
    check_probability(name, float(value), inclusive_high=inclusive_high)


def resolve_device(
    device: torch.device | str | None, generator: torch.Generator | None
) -> torch.device:
    """Return the target device and require ``generator`` to live on it.

    ``None`` means the generator's device when a generator is given, else the default device.
    """
    if device is None:
        dev = generator.device if generator is not None else torch.get_default_device()
    else:
        dev = torch.device(device)
    if generator is not None and generator.device.type != dev.type:
        raise ValueError(
            f"generator lives on {generator.device} but the mask is drawn on {dev}; "
            f"create it with torch.Generator(device='{dev.type}') or pass "
            f"device='{generator.device}'."
        )
    return dev


def host_rng(generator: torch.Generator | None) -> random.Random:
    """A Python RNG seeded from one draw of ``generator`` (CPU) or torch's global CPU RNG.

    Host generators use Python's :mod:`random` for their many scalar draws (far cheaper than a
    ``torch`` call per scalar); seeding it from ``generator`` keeps them reproducible under
    ``generator.manual_seed`` or ``torch.manual_seed``.
    """
    if generator is not None and generator.device.type != "cpu":
        raise ValueError(
            f"this mask is built on the CPU (in a collate function) and needs a CPU generator, "
            f"got one on {generator.device}; use torch.Generator() and pass device= to move "
            "the result."
        )
    seed = torch.randint(0, 2**62, (1,), generator=generator, dtype=torch.long)
    return random.Random(int(seed))


def check_grid(grid: tuple[int, int]) -> tuple[int, int]:
    """Require ``grid = (H, W)`` with positive ints."""
    try:
        h, w = grid
    except (TypeError, ValueError):
        raise ValueError(f"grid must be a pair (H, W) of positive ints, got {grid!r}.") from None
    check_count("grid[0] (H)", h)
    check_count("grid[1] (W)", w)
    return h, w
