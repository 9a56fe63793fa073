"""An id tower: embedding table followed by an MLP."""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["IdTower"]


class IdTower(nn.Module):
    """``Embedding(num_ids, embedding_dim)`` then ``Linear-ReLU-Linear``.

    Args:
        num_ids: Vocabulary size (ids ``0 .. num_ids - 1``).
        embedding_dim: Embedding table width (default 64).
        hidden_dim: MLP hidden width (default 128).
        out_dim: Output size (default 64).

    Shapes:
        ids: ``(B,)`` int64 -> ``(B, out_dim)``.
    """

    def __init__(
        self, num_ids: int, embedding_dim: int = 64, hidden_dim: int = 128, out_dim: int = 64
    ) -> None:
        super().__init__()
        if num_ids < 1:
            raise ValueError(f"num_ids must be >= 1, got {num_ids}.")
        self.num_ids = num_ids
        self.out_dim = out_dim
        self.embedding = nn.Embedding(num_ids, embedding_dim)
        self.mlp = nn.Sequential(
            nn.Linear(embedding_dim, hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, out_dim),
        )

    def forward(self, ids: Tensor) -> Tensor:
        return self.mlp(self.embedding(ids))
