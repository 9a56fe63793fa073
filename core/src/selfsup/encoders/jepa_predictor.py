"""The JEPA predictor: context latents + one mask token per target position -> target latents.

I-JEPA (Assran et al., arXiv 2301.08243) predicts the latents of image patches, T-JEPA
(Thimonier et al., arXiv 2410.05016) those of table features; the predictor is the same narrow
transformer over positions that index a learned table (patches of a grid, feature identities).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from selfsup.encoders.transformer import TransformerTrunk

__all__ = ["JEPAPredictor"]


class JEPAPredictor(nn.Module):
    """Narrow predictor: every target set is predicted in its own sequence of the context.

    Context tokens are projected to ``dim`` and get the learned embedding of their position;
    each target slot is a shared learned mask token plus its position's embedding. For ``T``
    target sets the context is repeated ``T`` times and each copy runs through a
    :class:`~selfsup.encoders.TransformerTrunk` with its target slots appended; padded context
    slots (``ctx_pad``) are masked out of attention, so a row's prediction does not depend on
    how much padding its batch needed. Outputs at the target slots are projected back to
    ``in_dim``:

    .. math::

        \\hat s_{t,j} = W_{out}\\, \\mathrm{Trunk}\\big([W_{in} c_i + p_{x_i}]_i \\,\\Vert\\,
            [m + p_{y_{t,j}}]_j\\big)_{j}

    Positions are learned; I-JEPA and T-JEPA use fixed sin-cos tables.

    Args:
        in_dim: Width of the context latents and of the predicted latents.
        dim: Predictor width.
        depth: Trunk blocks (>= 1).
        num_heads: Attention heads (must divide ``dim``).
        num_positions: Size of the position table.
        mlp_ratio: Trunk MLP width as a multiple of ``dim`` (default 4; T-JEPA uses 2).
        init: The trunk's initialisation (:class:`~selfsup.encoders.TransformerTrunk`).

    Shapes:
        ctx ``(B, Lc, in_dim)``, ctx_pos ``(B, Lc)`` long, tgt_pos ``(B, T, Lt)`` long, ctx_pad
        ``(B, Lc)`` bool (True = padding) or None -> ``(B, T, Lt, in_dim)``.

    Examples:
        >>> predictor = JEPAPredictor(in_dim=8, dim=16, depth=1, num_heads=2, num_positions=10)
        >>> ctx, ctx_pos = torch.randn(2, 4, 8), torch.tensor([[0, 1, 2, 3], [4, 5, 6, 7]])
        >>> tgt_pos = torch.tensor([[[8, 9]], [[0, 1]]])
        >>> predictor(ctx, ctx_pos, tgt_pos).shape
        torch.Size([2, 1, 2, 8])
    """

    def __init__(
        self,
        in_dim: int,
        dim: int,
        depth: int,
        num_heads: int,
        num_positions: int,
        mlp_ratio: float = 4.0,
        init: str = "xavier",
    ) -> None:
        super().__init__()
        self.inp = nn.Linear(in_dim, dim)
        self.pos = nn.Parameter(torch.zeros(num_positions, dim))
        self.mask_token = nn.Parameter(torch.zeros(dim))
        nn.init.trunc_normal_(self.pos, std=0.02)
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        self.blocks = TransformerTrunk(
            dim, depth=depth, num_heads=num_heads, mlp_ratio=mlp_ratio, init=init
        )
        self.out = nn.Linear(dim, in_dim)
        self.register_load_state_dict_pre_hook(_rename_trunk)

    def forward(
        self, ctx: Tensor, ctx_pos: Tensor, tgt_pos: Tensor, ctx_pad: Tensor | None = None
    ) -> Tensor:
        b, t, lt = tgt_pos.shape
        lc = ctx.shape[1]
        h = self.inp(ctx) + self.pos[ctx_pos]
        h = h.unsqueeze(1).expand(b, t, lc, h.shape[-1]).reshape(b * t, lc, -1)
        q = (self.mask_token + self.pos[tgt_pos]).reshape(b * t, lt, -1)
        pad = None
        if ctx_pad is not None:
            pad = ctx_pad.unsqueeze(1).expand(b, t, lc).reshape(b * t, lc)
            pad = torch.cat([pad, pad.new_zeros(b * t, lt)], dim=1)
        out = self.blocks(torch.cat([h, q], dim=1), pad)[:, lc:]
        return self.out(out).reshape(b, t, lt, -1)


def _rename_trunk(
    module: nn.Module, state_dict: dict[str, Tensor], prefix: str, *args: object
) -> None:
    # T-JEPA's predictor kept its trunk under "transformer" before this class replaced it
    old = prefix + "transformer."
    for key in [k for k in state_dict if k.startswith(old)]:
        state_dict[prefix + "blocks." + key[len(old) :]] = state_dict.pop(key)
