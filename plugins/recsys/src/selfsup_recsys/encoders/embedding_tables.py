"""Embedding tables of the sparse (categorical and bag) features, behind a small interface.

Towers only call :meth:`EmbeddingTables.forward` (a feature dict in, one ``(B, D)`` vector per
sparse feature out, plus which rows are empty bags). :class:`LocalEmbeddingTables` keeps the
tables in this process with ``nn.Embedding`` / ``nn.EmbeddingBag``; a sharded backend (e.g.
TorchRec's ``EmbeddingBagCollection`` under ``DistributedModelParallel``) can implement the same
interface for catalogs whose tables do not fit one machine.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from selfsup_recsys.batch import FeatureSpec

__all__ = ["EmbeddingTables", "LocalEmbeddingTables"]


class EmbeddingTables(nn.Module, ABC):
    """Interface: look up every sparse feature of a batch.

    Implementations hold one table per sparse feature of ``specs`` (in that order) with width
    ``embedding_dim``.

    Shapes:
        features: ``{name: (B,) or (B, L)}`` int64 (bags padded with ``-1``).
        Returns: ``({name: (B, embedding_dim)}, {name: (B,) bool})`` — the embeddings and, per
        feature, which rows are empty (a bag of padding only; always False for categoricals).
    """

    specs: tuple[FeatureSpec, ...]
    embedding_dim: int

    @abstractmethod
    def forward(
        self, features: Mapping[str, Tensor]
    ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """Embeddings and empty-row flags of the sparse features."""


class LocalEmbeddingTables(EmbeddingTables):
    """In-process tables: ``nn.Embedding`` for categoricals, mean ``nn.EmbeddingBag`` for bags.

    A bag's embedding is the mean of its values' rows,
    :math:`e = \\frac{1}{|S|} \\sum_{v \\in S} E[v]`. Padding ``-1`` is shifted to row 0 of the
    bag table (``padding_idx=0``), so it contributes nothing; an empty bag gives a zero vector
    and is flagged so the tower can substitute its learned default embedding.

    Args:
        specs: The tower's features; non-sparse ones are ignored.
        embedding_dim: Width of every table (default 32).
        init_std: Standard deviation of the normal initialisation (default 0.05).

    Shapes:
        See :class:`EmbeddingTables`.
    """

    def __init__(
        self, specs: Sequence[FeatureSpec], embedding_dim: int = 32, init_std: float = 0.05
    ) -> None:
        super().__init__()
        self.specs = tuple(s for s in specs if s.sparse)
        self.embedding_dim = embedding_dim
        self.tables = nn.ModuleDict()
        for spec in self.specs:
            if spec.kind == "categorical":
                table: nn.Module = nn.Embedding(spec.cardinality, embedding_dim)
                nn.init.normal_(table.weight, std=init_std)
            else:
                table = nn.EmbeddingBag(
                    spec.cardinality + 1, embedding_dim, mode="mean", padding_idx=0
                )
                nn.init.normal_(table.weight, std=init_std)
                with torch.no_grad():
                    table.weight[0].zero_()
            self.tables[spec.name] = table

    def forward(
        self, features: Mapping[str, Tensor]
    ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        out: dict[str, Tensor] = {}
        empty: dict[str, Tensor] = {}
        for spec in self.specs:
            x = features[spec.name]
            if spec.kind == "categorical":
                out[spec.name] = self.tables[spec.name](x)
                empty[spec.name] = x.new_zeros(x.shape[0], dtype=torch.bool)
            elif x.shape[1] == 0:  # EmbeddingBag rejects zero-width input: every bag is empty
                weight = self.tables[spec.name].weight
                out[spec.name] = weight.new_zeros(x.shape[0], self.embedding_dim)
                empty[spec.name] = x.new_ones(x.shape[0], dtype=torch.bool)
            else:
                # shift so that the padding value -1 becomes padding_idx 0
                out[spec.name] = self.tables[spec.name](x + 1)
                empty[spec.name] = (x < 0).all(dim=1)
        return out, empty
