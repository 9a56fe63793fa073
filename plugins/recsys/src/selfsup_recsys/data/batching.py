"""What the interaction data module's loaders yield: training-pair batches (with uniform SSL
items) and embedding batches of every item or user."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader

from selfsup.data.embedding import EmbeddingBatch
from selfsup_recsys.data.metadata import plain_key
from selfsup_recsys.data.retrieval_data import RetrievalData

__all__ = ["EmbeddingCollate", "PairCollate", "embedding_ids", "embedding_rows_loader"]


class PairCollate:
    """Turns a list of pair indices into a batch; draws the SSL items uniformly from the catalog."""

    def __init__(
        self,
        data: RetrievalData,
        pairs: Tensor,
        ssl_batch_size: int,
        log_prob: Tensor | None,
        seed: int,
    ) -> None:
        self.data, self.pairs, self.ssl_batch_size = data, pairs, ssl_batch_size
        self.log_prob = log_prob
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, idx: list[int]) -> dict[str, Any]:
        pairs = self.pairs[torch.as_tensor(idx, dtype=torch.long)]
        ssl = None
        if self.ssl_batch_size:
            m = self.data.num_items
            if self.ssl_batch_size <= m:  # without replacement: no duplicate SSL items
                ssl = torch.randperm(m, generator=self.generator)[: self.ssl_batch_size]
            else:
                ssl = torch.randint(m, (self.ssl_batch_size,), generator=self.generator)
        return self.data.batch(pairs, ssl, self.log_prob)


def embedding_ids(keys: Sequence[Hashable]) -> Tensor | list[str]:
    """Raw ids as ``EmbeddingBatch`` ids: an int64 tensor when every id is an integer (or an
    integral float, as pandas reads an id column with gaps), else their strings.

    Examples:
        >>> embedding_ids([3, 1.0])
        tensor([3, 1])
        >>> embedding_ids(["u1", 2])
        ['u1', '2']
    """
    plain = [plain_key(k) for k in keys]

    def integral(k: Any) -> bool:
        if isinstance(k, bool):
            return False
        return isinstance(k, int) or (isinstance(k, float) and k.is_integer())

    if all(integral(k) for k in plain):
        return torch.tensor([int(k) for k in plain], dtype=torch.long)
    return [str(k) for k in plain]


class EmbeddingCollate:
    """A chunk of row numbers -> ``EmbeddingBatch(ids, {side: features})``."""

    def __init__(self, ids: Tensor | list[str], features: dict[str, Tensor], side: str) -> None:
        self.ids, self.features, self.side = ids, features, side

    def __call__(self, rows: list[int]) -> EmbeddingBatch:
        index = torch.as_tensor(rows, dtype=torch.long)
        ids = self.ids[index] if isinstance(self.ids, Tensor) else [self.ids[r] for r in rows]
        return EmbeddingBatch(ids, {self.side: {k: v[index] for k, v in self.features.items()}})


def embedding_rows_loader(
    keys: Sequence[Hashable], features: dict[str, Tensor], side: str, batch_size: int
) -> DataLoader:
    """Rows ``0..len(keys)-1`` in order, ``batch_size`` at a time, as
    :class:`~selfsup.data.EmbeddingBatch` es ``(ids, {side: features})``."""
    collate = EmbeddingCollate(embedding_ids(keys), features, side)
    # a dataset of row numbers: the collate gathers each batch's rows from the encoded tables
    return DataLoader(range(len(keys)), batch_size=batch_size, shuffle=False, collate_fn=collate)
