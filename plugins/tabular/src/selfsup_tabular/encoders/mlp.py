"""The ReLU MLP SCARF uses for its encoder and head."""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["TabularMLP"]


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
