"""Does a label-free score rank runs the way a probe does? Rank correlations and selection regret.

RankMe (Garrido et al., arXiv 2210.02885) proposes choosing hyper-parameters and
checkpoints without labels, by the effective rank of the embeddings. Whether that
works for a method family is an empirical question: these functions measure it
against a validation probe.

- :func:`spearman`: Pearson correlation of the (average) ranks.
- :func:`kendall_tau`: Kendall's tau-b, ``(C - D) / sqrt((C + D + T_x)(C + D + T_y))``
  with ``C``/``D`` the concordant/discordant pairs and ``T_x``/``T_y`` the pairs tied in
  only one of the two sequences.
- :func:`selection_regret`: the probe score lost by picking the run a selector ranks
  first instead of the best run by the probe.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["average_ranks", "kendall_tau", "selection_regret", "spearman"]


def _floats(name: str, values: Sequence[float]) -> list[float]:
    out = [float(v) for v in values]
    if not all(math.isfinite(v) for v in out):
        raise ValueError(f"{name} holds NaN/inf values: {out}.")
    return out


def _pair(x: Sequence[float], y: Sequence[float]) -> tuple[list[float], list[float]]:
    xs, ys = _floats("x", x), _floats("y", y)
    if len(xs) != len(ys):
        raise ValueError(f"x and y must have the same length, got {len(xs)} and {len(ys)}.")
    if len(xs) < 2:
        raise ValueError(f"a rank correlation needs at least 2 runs, got {len(xs)}.")
    return xs, ys


def average_ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties sharing their average rank.

    Examples:
        >>> average_ranks([10, 30, 20, 30])
        [1.0, 3.5, 2.0, 3.5]
    """
    xs = _floats("values", values)
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    ranks = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation of two score sequences (ties: average ranks).

    Returns ``nan`` when one sequence is constant (no ranking to compare).

    Examples:
        >>> spearman([1, 2, 3, 4], [10, 20, 40, 30])
        0.8
    """
    xs, ys = _pair(x, y)
    rx, ry = average_ranks(xs), average_ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    vx = sum((a - mx) ** 2 for a in rx)
    vy = sum((b - my) ** 2 for b in ry)
    if vx == 0 or vy == 0:
        return math.nan
    return cov / math.sqrt(vx * vy)


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b of two score sequences (``nan`` when one is constant).

    Examples:
        >>> kendall_tau([1, 2, 3], [1, 3, 2])
        0.3333333333333333
    """
    xs, ys = _pair(x, y)
    concordant = discordant = tied_x = tied_y = 0
    n = len(xs)
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = xs[i] - xs[j], ys[i] - ys[j]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                tied_x += 1
            elif dy == 0:
                tied_y += 1
            elif (dx > 0) == (dy > 0):
                concordant += 1
            else:
                discordant += 1
    denom = math.sqrt((concordant + discordant + tied_x) * (concordant + discordant + tied_y))
    return (concordant - discordant) / denom if denom else math.nan


def selection_regret(selector: Sequence[float], target: Sequence[float]) -> float:
    """``max(target) - target[argmax(selector)]``: what choosing by ``selector`` costs.

    Ties in ``selector`` are broken by the worst ``target`` among them (a pessimistic
    regret: the selector cannot tell them apart).

    Examples:
        >>> selection_regret(selector=[5.0, 9.0, 7.0], target=[0.80, 0.70, 0.90])
        0.20000000000000007
    """
    sel, tgt = _pair(selector, target)
    best = max(sel)
    chosen = min(t for s, t in zip(sel, tgt, strict=True) if s == best)
    return max(tgt) - chosen
