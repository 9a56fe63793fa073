"""Generic transformer pieces of the audio encoder: BEATs/WavLM bucketed relative position
bias, the fairseq-named attention + MLP block, and wav2vec 2.0 convolutional positions.

:mod:`selfsup_audio.encoders.transformer` stacks them into :class:`AudioTransformer` and
:class:`AudioEncoder` and re-exports every name here, so ``selfsup_audio.encoders.transformer.
TransformerBlock`` (and the others) keep working.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.experiment.fsdp import register_block

__all__ = [
    "ConvPositions",
    "RelativePositionBias",
    "TransformerBlock",
    "attention_mask",
    "relative_position_bucket",
]


def attention_mask(padding_mask: Tensor | None) -> Tensor | None:
    """SDPA mask ``(B, 1, 1, L)``, True = may attend. A row that is entirely padding attends to
    everything instead, so it yields finite (ignored) values rather than NaN."""
    if padding_mask is None:
        return None
    valid = ~padding_mask
    valid = valid | ~valid.any(dim=1, keepdim=True)
    return valid[:, None, None, :]


def relative_position_bucket(
    relative_position: Tensor, num_buckets: int = 320, max_distance: int = 800
) -> Tensor:
    """Bidirectional T5/WavLM/BEATs log buckets of relative positions ``r = j - i``.

    Half of the buckets are for ``r > 0``, half for ``r <= 0``; with ``n = num_buckets / 2``
    and ``e = n / 2``, a distance ``|r| < e`` has its own bucket and larger ones share
    logarithmically wider buckets up to ``max_distance``:

    .. math::

        b(r) = n [r > 0] + \\begin{cases} |r| & |r| < e \\\\
            \\min\\big(n - 1,\\ e + \\lfloor \\frac{\\log(|r| / e)}{\\log(d_{max} / e)}
            (n - e) \\rfloor\\big) & \\text{otherwise} \\end{cases}

    The logarithm is taken in float32, as in the reference code, so bucket edges agree.

    Shapes:
        relative_position: integer tensor of any shape -> long tensor of the same shape.
    """
    half = num_buckets // 2
    exact = half // 2
    buckets = (relative_position > 0).long() * half
    distance = relative_position.abs()
    # clamp only avoids log(0); those distances take the exact branch
    scaled = torch.log(distance.clamp(min=1).float() / exact) / math.log(max_distance / exact)
    large = (exact + (scaled * (half - exact)).long()).clamp(max=half - 1)
    return buckets + torch.where(distance < exact, distance, large)


class RelativePositionBias(nn.Module):
    """BEATs/WavLM bucketed relative position bias, one learned scalar per bucket and head,
    computed once per forward and shared by every block (BEATs creates it in layer 0 and
    passes it on).

    .. math::

        P_{h, i, j} = E[b(j - i), h]

    Args:
        heads: Attention heads. num_buckets: Buckets (default 320, BEATs/WavLM base).
        max_distance: Distance of the last logarithmic bucket (default 800, the released
            BEATs models' value; the reference code's default is 1280).

    Shapes:
        length ``L`` -> ``(heads, L, L)`` (queries ``i``, keys ``j``).
    """

    def __init__(self, heads: int, num_buckets: int = 320, max_distance: int = 800) -> None:
        super().__init__()
        if num_buckets < 4 or num_buckets % 2:
            raise ValueError(f"num_buckets must be an even number >= 4, got {num_buckets}.")
        if max_distance <= num_buckets // 4:
            raise ValueError(
                f"max_distance ({max_distance}) must exceed num_buckets / 4 ({num_buckets // 4}),"
                " where the logarithmic buckets start."
            )
        self.num_buckets = num_buckets
        self.max_distance = max_distance
        self.embedding = nn.Embedding(num_buckets, heads)
        nn.init.xavier_normal_(self.embedding.weight)

    def forward(self, length: int) -> Tensor:
        pos = torch.arange(length, device=self.embedding.weight.device)
        buckets = relative_position_bucket(
            pos[None, :] - pos[:, None], self.num_buckets, self.max_distance
        )
        return self.embedding(buckets).permute(2, 0, 1)


@register_block  # one FSDP unit per block under ModelParallelStrategy
class TransformerBlock(nn.Module):
    """Self-attention + GELU MLP with fairseq/BEATs parameter names.

    Pre-LN (``norm_first=True``, stable for small models trained from scratch):
    ``x + Attn(LN(x))``, ``x + MLP(LN(x))``. Post-LN (BEATs, DeepNorm with ``alpha``):
    ``LN(alpha x + Attn(x))``, ``LN(alpha x + MLP(x))``. Attention is
    ``F.scaled_dot_product_attention`` with a key padding mask and, when given, a relative
    position bias ``P`` ``(H, L, L)`` added to the logits as a float mask:
    ``softmax(q k^T / sqrt(d_h) + G P)``.

    With ``gated_bias=True`` (BEATs/WavLM ``gru_rel_pos``) each query scales the bias of its
    head by a GRU-like gate of its own (unscaled) projection ``q_{h,i}``:

    .. math::

        u = W q_{h,i} + c \\in R^8, \\quad g_a = \\sigma(\\textstyle\\sum_{k<4} u_k), \\quad
        g_b = \\sigma(\\textstyle\\sum_{k \\ge 4} u_k), \\quad
        G_{h,i} = g_a (g_b a_h - 1) + 2

    (``grep_linear`` holds ``W, c``, ``grep_a`` holds ``a``; for ``a_h >= 0`` the gate lies
    in ``(1, max(2, 1 + a_h))``).

    Args:
        dim: Width. heads: Attention heads (``dim % heads == 0``). ffn_dim: MLP hidden width.
        dropout: Dropout on attention weights and residual branches (default 0).
        norm_first: Pre-LN (default True) or post-LN.
        alpha: Residual scale of post-LN DeepNorm (default 1.0; BEATs uses ``(2 N)^{1/4}``).
        gated_bias: Gate the relative position bias per query (default False).

    Shapes:
        x ``(B, L, dim)``, attn_mask ``(B, 1, 1, L)`` bool (True = may attend) or None,
        position_bias ``(H, L, L)`` or None -> ``(B, L, dim)``.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        ffn_dim: int,
        dropout: float = 0.0,
        norm_first: bool = True,
        alpha: float = 1.0,
        gated_bias: bool = False,
    ) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim ({dim}) must be divisible by heads ({heads}).")
        self.heads = heads
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)
        self.self_attn_layer_norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, dim)
        self.final_layer_norm = nn.LayerNorm(dim)
        self.dropout = dropout
        self.norm_first = norm_first
        self.alpha = alpha
        if gated_bias:
            self.grep_linear = nn.Linear(dim // heads, 8)
            self.grep_a = nn.Parameter(torch.ones(1, heads, 1, 1))
        self.gated_bias = gated_bias

    def bias_mask(self, q: Tensor, attn_mask: Tensor | None, position_bias: Tensor) -> Tensor:
        """Float SDPA mask ``(B, H, L, L)``: the (gated) position bias, ``-inf`` on padded keys.

        ``q`` is the unscaled query projection ``(B, H, L, d_h)``."""
        bias = position_bias.to(q.dtype)[None]
        if self.gated_bias:
            b, h, length, _ = q.shape
            gates = torch.sigmoid(self.grep_linear(q).view(b, h, length, 2, 4).sum(-1))
            gate_a, gate_b = gates[..., :1], gates[..., 1:]
            bias = (gate_a * (gate_b * self.grep_a - 1.0) + 2.0) * bias
        if attn_mask is None:
            return bias
        return bias.masked_fill(~attn_mask, float("-inf"))

    def attention(
        self, x: Tensor, attn_mask: Tensor | None, position_bias: Tensor | None = None
    ) -> Tensor:
        b, length, dim = x.shape

        def split(t: Tensor) -> Tensor:
            return t.view(b, length, self.heads, dim // self.heads).transpose(1, 2)

        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        if position_bias is not None:
            attn_mask = self.bias_mask(q, attn_mask, position_bias)
        drop = self.dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=drop)
        return self.out_proj(out.transpose(1, 2).reshape(b, length, dim))

    def mlp(self, x: Tensor) -> Tensor:
        return self.fc2(F.dropout(F.gelu(self.fc1(x)), self.dropout, self.training))

    def forward(
        self, x: Tensor, attn_mask: Tensor | None = None, position_bias: Tensor | None = None
    ) -> Tensor:
        drop = self.dropout if self.training else 0.0
        if self.norm_first:
            attn = self.attention(self.self_attn_layer_norm(x), attn_mask, position_bias)
            x = x + F.dropout(attn, drop, self.training)
            return x + F.dropout(self.mlp(self.final_layer_norm(x)), drop, self.training)
        attn = self.attention(x, attn_mask, position_bias)
        x = self.self_attn_layer_norm(self.alpha * x + F.dropout(attn, drop, self.training))
        return self.final_layer_norm(self.alpha * x + F.dropout(self.mlp(x), drop, self.training))


class ConvPositions(nn.Module):
    """BEATs/wav2vec 2.0 convolutional positions: grouped ``Conv1d`` with weight norm, trimmed
    to the input length ("SamePad"), GELU, added to the input (out of place:
    ``x = x + conv(x)``; the in-place form broke fine-tuning in the reference code).

    Shapes:
        x ``(B, L, dim)``, padding_mask ``(B, L)`` or None -> ``(B, L, dim)``.
    """

    def __init__(self, dim: int, kernel: int = 128, groups: int = 16) -> None:
        super().__init__()
        if dim % groups:
            raise ValueError(f"dim ({dim}) must be divisible by groups ({groups}).")
        conv = nn.Conv1d(dim, dim, kernel, padding=kernel // 2, groups=groups)
        nn.init.normal_(conv.weight, 0.0, (4.0 / (kernel * dim)) ** 0.5)
        nn.init.zeros_(conv.bias)
        self.conv = nn.utils.parametrizations.weight_norm(conv, name="weight", dim=2)
        self.trim = 1 if kernel % 2 == 0 else 0

    def forward(self, x: Tensor, padding_mask: Tensor | None = None) -> Tensor:
        if padding_mask is not None:  # padded tokens must not leak into their neighbours
            x = x.masked_fill(padding_mask[..., None], 0.0)
        y = self.conv(x.transpose(1, 2))
        if self.trim:
            y = y[..., : -self.trim]
        return x + F.gelu(y).transpose(1, 2)
