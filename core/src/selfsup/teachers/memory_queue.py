"""``MemoryQueue``: the last keys of past batches, as extra negatives (MoCo's queue).

MoCo (He et al., arXiv 1911.05722) contrasts each query with its key and with a queue of keys
from earlier batches, encoded by the momentum teacher; the queue decouples the number of
negatives from the batch size. The keys of every rank enter the queue (gathered), so all ranks
hold the same queue and :func:`~selfsup.losses.info_nce` treats it as shared negatives (it does
not gather extra keys). The queue, its write position and fill level are persistent buffers:
a checkpoint resumes with the negatives it had, not with an empty or random queue.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup import distributed as sdist

__all__ = ["MemoryQueue"]


class MemoryQueue(nn.Module):
    """A first-in, first-out queue of ``size`` key vectors, the same on every rank.

    :meth:`keys` returns what is stored (fewer than ``size`` rows until the queue has filled:
    no zero or random placeholder rows ever act as negatives); :meth:`push` adds a batch of
    keys (detached; all ranks' keys in rank order), overwriting the oldest. Use the keys of a
    step *before* pushing that step's own keys, as MoCo does.

    Args:
        size: Rows kept (MoCo v2: 65536 on ImageNet; CIFAR setups use 4096-32768).
        dim: Key size.
        normalize: L2-normalise keys as they enter (default True; cosine-similarity losses).

    Shapes:
        push: ``(B, dim)``; keys: ``(min(pushed, size), dim)``.

    Raises:
        ValueError: ``size`` or ``dim`` < 1, or keys of another width.

    Examples:
        >>> queue = MemoryQueue(size=4, dim=2, normalize=False)
        >>> queue.push(torch.ones(3, 2))
        >>> queue.push(2 * torch.ones(3, 2))
        >>> queue.keys()[:, 0].tolist()  # the two oldest rows were overwritten
        [2.0, 2.0, 1.0, 2.0]
    """

    queue: Tensor
    position: Tensor
    filled: Tensor

    def __init__(self, size: int, dim: int, normalize: bool = True) -> None:
        super().__init__()
        if size < 1 or dim < 1:
            raise ValueError(f"size and dim must be >= 1, got {size}, {dim}.")
        self.size, self.dim, self.normalize = int(size), int(dim), normalize
        self.register_buffer("queue", torch.zeros(size, dim))
        self.register_buffer("position", torch.tensor(0, dtype=torch.long))
        self.register_buffer("filled", torch.tensor(0, dtype=torch.long))
        self._position = 0
        self._filled = 0
        self.register_load_state_dict_pre_hook(_read_mirrors)

    def __len__(self) -> int:
        return self._filled

    def keys(self) -> Tensor:
        """The stored keys (a copy, so a later :meth:`push` cannot change a step's negatives)."""
        return self.queue[: self._filled].clone()

    @torch.no_grad()
    def push(self, keys: Tensor) -> None:
        """Add every rank's ``keys`` (gathered, detached), overwriting the oldest rows."""
        if keys.dim() != 2 or keys.shape[1] != self.dim:
            raise ValueError(f"keys must be (B, {self.dim}), got {tuple(keys.shape)}.")
        rows = sdist.gather_no_grad(keys.detach())
        if self.normalize:
            rows = F.normalize(rows, dim=1)
        rows = rows[-self.size :].to(self.queue.dtype)  # more than the queue holds: the newest
        n = rows.shape[0]
        first = min(n, self.size - self._position)
        self.queue[self._position : self._position + first] = rows[:first]
        self.queue[: n - first] = rows[first:]
        self._position = (self._position + n) % self.size
        self._filled = min(self.size, self._filled + n)
        self.position.fill_(self._position)
        self.filled.fill_(self._filled)

    def extra_repr(self) -> str:
        return f"size={self.size}, dim={self.dim}, filled={self._filled}"


def _read_mirrors(
    module: MemoryQueue, state_dict: Mapping[str, Any], prefix: str, *args: object
) -> None:
    if prefix + "position" in state_dict:
        module._position = int(state_dict[prefix + "position"])
    if prefix + "filled" in state_dict:
        module._filled = int(state_dict[prefix + "filled"])
