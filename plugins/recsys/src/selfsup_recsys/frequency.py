"""Item sampling probabilities for the logQ correction: streaming estimate or counts.

The in-batch softmax uses the batch's items as negatives, so item ``j`` is a negative with a
probability ``p_j`` proportional to its frequency in the training stream; the logQ correction
subtracts ``log p_j`` from every logit (Yi et al., RecSys 2019, Sec. 3-4).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from selfsup.distributed import gather_rows

__all__ = ["StreamingFrequencyEstimator", "count_log_prob"]

_PRIME = 2_147_483_647  # 2^31 - 1: a * id stays below 2^63 for ids < 2^32


class StreamingFrequencyEstimator(nn.Module):
    """Yi et al. 2019, Algorithms 2-3: hashed last-seen steps and an EMA of the gap.

    ``m`` hash functions ``h_i(y) = ((a_i y + b_i) mod P) mod H`` index arrays ``A_i`` (last
    step an item was seen) and ``B_i`` (estimated gap between its occurrences). At global step
    ``t``, for each *distinct* item ``y`` of the batch,

    .. math::

        B_i[h_i(y)] \\leftarrow (1 - \\alpha) B_i[h_i(y)] + \\alpha (t - A_i[h_i(y)]), \\qquad
        A_i[h_i(y)] \\leftarrow t, \\qquad \\hat p(y) = 1 / \\max_i B_i[h_i(y)]

    Items repeated inside one batch are updated once (a sequential pass would feed a gap of 0
    for the repeats); estimates are read after the step's update. ``p̂`` is the expected number
    of occurrences per step (it can exceed 1 for very frequent items); only differences of
    ``log p̂`` between items matter to the softmax.

    Distributed: :meth:`update` gathers every rank's ids first, so the estimate follows the
    global batch (the negatives the gathered softmax really sees) and every rank holds the same
    state, the state one process on the concatenated batch reaches.

    Args:
        num_buckets: ``H``, slots per hash array (default 2**20).
        alpha: EMA rate ``α`` (default 0.01, the paper's value).
        num_hashes: ``m`` (default 1).
        initial_gap: initial value of ``B`` (default 100.0, the paper's simulation).
        seed: seed of the hash parameters (default 0).

    Shapes:
        ids: ``(N,)`` int64, ``0 <= id < 2**32``. Outputs ``(N,)`` float32.

    Raises:
        ValueError: invalid hyper-parameters or ids.
    """

    def __init__(
        self,
        num_buckets: int = 2**20,
        alpha: float = 0.01,
        num_hashes: int = 1,
        initial_gap: float = 100.0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if num_buckets < 1 or num_hashes < 1:
            raise ValueError(
                f"num_buckets and num_hashes must be >= 1, got {num_buckets}, {num_hashes}."
            )
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"alpha must be in (0, 1], got {alpha}.")
        if not initial_gap > 0:
            raise ValueError(f"initial_gap must be > 0, got {initial_gap}.")
        self.num_buckets = num_buckets
        self.alpha = alpha
        self.num_hashes = num_hashes
        g = torch.Generator().manual_seed(seed)
        a = torch.randint(1, _PRIME, (num_hashes,), generator=g)
        b = torch.randint(0, _PRIME, (num_hashes,), generator=g)
        self.register_buffer("hash_params", torch.stack([a, b], dim=1))
        self.register_buffer("last_step", torch.zeros(num_hashes, num_buckets, dtype=torch.float64))
        self.register_buffer(
            "gap", torch.full((num_hashes, num_buckets), float(initial_gap), dtype=torch.float64)
        )
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    def buckets(self, ids: Tensor) -> Tensor:
        """Hash slots ``(m, N)`` of ``ids``."""
        if ids.dtype != torch.long or ids.dim() != 1:
            raise ValueError(
                f"ids must be an int64 (N,) tensor, got {ids.dtype} {tuple(ids.shape)}."
            )
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= 2**32):
            raise ValueError("ids must lie in [0, 2**32) to be hashed without overflow.")
        a, b = self.hash_params[:, :1], self.hash_params[:, 1:]
        return ((a * ids[None, :] + b) % _PRIME) % self.num_buckets

    @torch.no_grad()
    def update(self, ids: Tensor) -> None:
        """Advance the global step by one and record the batch's items (Algorithm 2)."""
        ids = gather_rows(ids)
        self.step += 1
        t = self.step.to(torch.float64)
        for i, slots in enumerate(self.buckets(ids.unique())):
            slots = slots.unique()  # two items in one slot update it once, as one item
            gap = t - self.last_step[i, slots]
            self.gap[i, slots] = (1 - self.alpha) * self.gap[i, slots] + self.alpha * gap
            self.last_step[i, slots] = t

    @torch.no_grad()
    def probability(self, ids: Tensor) -> Tensor:
        """``p̂(y) = 1 / max_i B_i[h_i(y)]`` (Algorithm 3; Algorithm 2 when ``m = 1``)."""
        slots = self.buckets(ids)
        gaps = torch.stack([self.gap[i, s] for i, s in enumerate(slots)])
        return gaps.max(dim=0).values.clamp_min(1e-12).reciprocal().float()

    def log_prob(self, ids: Tensor) -> Tensor:
        """``log p̂(y)`` ``(N,)``."""
        return self.probability(ids).log()

    def forward(self, ids: Tensor) -> Tensor:
        """``update(ids)`` then ``log_prob(ids)``: the training-step call."""
        self.update(ids)
        return self.log_prob(ids)


def count_log_prob(counts: Tensor, smoothing: float = 1.0) -> Tensor:
    """``log p_j`` from item counts: :math:`p_j = (c_j + s) / \\sum_k (c_k + s)`.

    Args:
        counts: training interactions per item.
        smoothing: additive smoothing ``s`` so unseen items get a finite value (default 1.0).

    Shapes:
        counts: ``(M,)`` -> ``(M,)`` float32.

    Raises:
        ValueError: negative counts, ``smoothing < 0``, or an all-zero vector without smoothing.
    """
    counts = torch.as_tensor(counts, dtype=torch.float64)
    if counts.dim() != 1 or bool((counts < 0).any()) or smoothing < 0:
        raise ValueError("counts must be a (M,) tensor of non-negative values and smoothing >= 0.")
    c = counts + smoothing
    if not bool((c > 0).any()):
        raise ValueError("counts are all zero; pass smoothing > 0.")
    return (c / c.sum()).clamp_min(1e-300).log().float()
