"""Heads that end in prototypes: the outputs are scores against ``K`` learned unit vectors.

:class:`DINOProjectionHead` (DINO, iBOT): an MLP to a bottleneck, L2-normalised, then a
weight-normalised Linear without bias whose rows are the prototypes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.encoders.heads import ProjectionHead, mlp_blocks

__all__ = ["DINOProjectionHead"]


class DINOProjectionHead(nn.Module):
    """DINO's head (Caron et al., arXiv 2104.14294, Sec. 3.1 and App.): MLP, L2 norm, prototypes.

    .. math::

        u = \\frac{\\mathrm{MLP}(h)}{\\lVert \\mathrm{MLP}(h) \\rVert_2}, \\qquad
        z_k = g_k \\frac{v_k \\cdot u}{\\lVert v_k \\rVert_2}

    The MLP has ``num_layers`` Linears, ``Linear-[BN]-GELU`` to ``hidden_dim`` and a last Linear
    to ``bottleneck_dim``; its weights start from a truncated normal (std 0.02) with zero
    biases, as the reference. The prototypes ``v_k`` form a weight-normalised Linear without
    bias; with ``norm_last_layer=True`` (the reference's default) the scales ``g_k`` are fixed
    to 1, so every prototype is a unit vector and the outputs are cosine similarities.

    ``forward(h, freeze_prototypes=True)`` detaches the prototypes: the reference freezes the
    last layer during the first epoch (``freeze_last_layer``), which the methods express this
    way.

    Args:
        input_dim: Encoder feature size.
        hidden_dim: MLP width (default 2048).
        bottleneck_dim: Size before the prototypes (default 256).
        output_dim: Prototypes ``K`` (default 65536, the reference's ViT setting).
        num_layers: MLP Linears, >= 1 (default 3).
        batch_norm: BN after each hidden Linear (default False, the ViT setting).
        norm_last_layer: Fix the prototype scales to 1 (default True).

    Shapes:
        forward: ``(..., input_dim)`` -> ``(..., output_dim)`` (tokens too: iBOT's patch head).

    Examples:
        >>> head = DINOProjectionHead(384, 512, 64, 1024)
        >>> head(torch.randn(4, 384)).shape
        torch.Size([4, 1024])
    """

    def __init__(
        self,
        input_dim: int,
        hidden_dim: int = 2048,
        bottleneck_dim: int = 256,
        output_dim: int = 65536,
        num_layers: int = 3,
        batch_norm: bool = False,
        norm_last_layer: bool = True,
    ) -> None:
        super().__init__()
        if isinstance(num_layers, bool) or int(num_layers) != num_layers or num_layers < 1:
            raise ValueError(f"num_layers must be an int >= 1, got {num_layers!r}.")
        if output_dim < 1:
            raise ValueError(f"output_dim (prototypes) must be >= 1, got {output_dim}.")
        if num_layers == 1:
            self.mlp: nn.Module = nn.Linear(input_dim, bottleneck_dim)
        else:
            dims = [input_dim, *[hidden_dim] * (int(num_layers) - 1), bottleneck_dim]
            self.mlp = ProjectionHead(mlp_blocks(dims, batch_norm=batch_norm, activation=nn.GELU))
        for m in self.mlp.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        weight = torch.empty(output_dim, bottleneck_dim)
        nn.init.kaiming_uniform_(weight, a=math.sqrt(5))  # nn.Linear's default
        self.prototypes = nn.Parameter(weight)
        self.norm_last_layer = norm_last_layer
        # weight_norm's magnitude starts at ||v_k||, so both settings start from the same z
        scale = weight.norm(dim=1, keepdim=True)
        if norm_last_layer:
            self.prototype_scale = None
        else:
            self.prototype_scale = nn.Parameter(scale)
        self.output_dim = int(output_dim)

    def prototype_weight(self, freeze: bool = False) -> Tensor:
        """The prototypes as a ``(K, bottleneck_dim)`` Linear weight, scales applied."""
        v = self.prototypes.detach() if freeze else self.prototypes
        weight = F.normalize(v, dim=1)
        if self.prototype_scale is not None:
            g = self.prototype_scale.detach() if freeze else self.prototype_scale
            weight = g * weight
        return weight

    def forward(self, h: Tensor, freeze_prototypes: bool = False) -> Tensor:
        u = F.normalize(self.mlp(h), dim=-1)
        return F.linear(u, self.prototype_weight(freeze_prototypes))
