"""The ReLU MLP SCARF uses for its encoder and head."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from selfsup_tabular.encoders.numerical import NUMERICAL_EMBEDDINGS, PeriodicEmbedding

__all__ = ["TabularInput", "TabularMLP"]


class TabularMLP(nn.Module):
    """``num_layers`` linear layers of width ``hidden_dim`` with ReLU between them.

    ``Linear(in, h) - ReLU - ... - Linear(h, out)``; no activation after the last layer.

    Args:
        in_dim: Input size ``F``.
        hidden_dim: Width of the hidden layers (default 256).
        out_dim: Output size; None for ``hidden_dim`` (default None).
        num_layers: Number of linear layers, at least 1 (default 4).

    Shapes:
        x: ``(B, in_dim)`` -> ``(B, out_dim)``.
    """

    def __init__(
        self, in_dim: int, hidden_dim: int = 256, out_dim: int | None = None, num_layers: int = 4
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}.")
        out_dim = hidden_dim if out_dim is None else out_dim
        sizes = [in_dim] + [hidden_dim] * (num_layers - 1) + [out_dim]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layers.append(nn.Linear(a, b))
            if i < num_layers - 1:
                layers.append(nn.ReLU(inplace=True))
        self.net = nn.Sequential(*layers)
        self.out_dim = out_dim

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class TabularInput(nn.Module):
    """Encoded table batch -> one flat vector per row, the input of MLP models.

    ``[x_num, num_missing (as 0/1), E_1[c_1], ..., E_k[c_k]]`` with a learned embedding of
    ``embed_dim`` per categorical column (codes 0 missing, 1 unknown). With
    ``numerical_embedding="periodic"`` each number ``x_j`` enters as its
    :class:`~selfsup_tabular.encoders.PeriodicEmbedding` ``e_j(x_j)`` (``embed_dim`` wide; "MLP-PLR"
    of arXiv 2203.05556) instead of itself.

    Args:
        num_numerical: Numerical features.
        cardinalities: Vocabulary size per categorical feature.
        embed_dim: Width of each categorical (and periodic numerical) embedding (default 8).
        numerical_embedding: ``"linear"`` (default: the number itself) or ``"periodic"``.
        frequencies, frequency_scale: Of the periodic embedding (default 16, 1.0).

    Shapes:
        batch -> ``(B, out_dim)`` with ``out_dim = 2 n_num + embed_dim n_cat`` (periodic:
        ``(embed_dim + 1) n_num + embed_dim n_cat``).
    """

    def __init__(
        self,
        num_numerical: int,
        cardinalities: list[int],
        embed_dim: int = 8,
        numerical_embedding: str = "linear",
        frequencies: int = 16,
        frequency_scale: float = 1.0,
    ) -> None:
        super().__init__()
        if numerical_embedding not in NUMERICAL_EMBEDDINGS:
            raise ValueError(
                f"numerical_embedding must be one of {NUMERICAL_EMBEDDINGS}, got "
                f"{numerical_embedding!r}."
            )
        self.num_numerical = int(num_numerical)
        self.cardinalities = [int(c) for c in cardinalities]
        self.embeddings = nn.ModuleList(nn.Embedding(c + 2, embed_dim) for c in self.cardinalities)
        width = 1
        if numerical_embedding == "periodic" and self.num_numerical:
            self.periodic = PeriodicEmbedding(
                self.num_numerical, embed_dim, frequencies, frequency_scale
            )
            width = embed_dim
        self.out_dim = (width + 1) * self.num_numerical + embed_dim * len(self.cardinalities)

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        parts = []
        if self.num_numerical:
            x = batch["x_num"]
            if hasattr(self, "periodic"):
                x = self.periodic(x).flatten(1)
            parts += [x, batch["num_missing"].to(x.dtype)]
        for k, emb in enumerate(self.embeddings):
            parts.append(emb(batch["x_cat"][:, k]))
        return torch.cat(parts, dim=1)
