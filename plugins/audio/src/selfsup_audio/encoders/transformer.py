"""Transformer encoder over spectrogram patches with key padding masks (BEATs' backbone, sized
from a CPU-test ``tiny`` to BEATs-base)."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup_audio.encoders.patch_embed import PatchEmbed

__all__ = [
    "SIZES",
    "AudioEncoder",
    "AudioTransformer",
    "ConvPositions",
    "RelativePositionBias",
    "TransformerBlock",
    "relative_position_bucket",
]

#: ``size -> (dim, depth, heads, ffn_dim)``; ``base`` is BEATs-base (12 x 768, FFN 3072).
SIZES: dict[str, tuple[int, int, int, int]] = {
    "tiny": (64, 2, 2, 128),
    "mini": (128, 4, 4, 512),
    "small": (192, 6, 3, 768),
    "base": (768, 12, 12, 3072),
}


#: Options added after the first release, with the values older checkpoints were built with.
_LATER_OPTIONS: dict[str, Any] = {
    "sincos_positions": True,
    "relative_positions": False,
    "num_buckets": 320,
    "max_distance": 800,
    "gated_relative_positions": False,
}


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


class AudioTransformer(nn.Module):
    """A stack of :class:`TransformerBlock` s with optional convolutional positions and an
    optional relative position bias shared by every block.

    Pre-LN stacks end with a LayerNorm; post-LN stacks (BEATs) normalise the input after the
    positional convolution instead.

    Args:
        dim, depth, heads, ffn_dim: Width, blocks, heads, MLP width.
        dropout: Dropout (default 0).
        norm_first: Pre-LN (default True) or BEATs' post-LN.
        conv_positions: Add :class:`ConvPositions` before the blocks (default False).
        conv_kernel: Kernel of the positional convolution (default 128, BEATs').
        conv_groups: Groups of the positional convolution (default 16).
        deep_norm: Post-LN DeepNorm residual scale ``(2 depth)^{1/4}`` (default False).
        relative_positions: Add BEATs' bucketed :class:`RelativePositionBias` to the attention
            logits of every block (default False).
        num_buckets, max_distance: Its buckets (default 320 / 800, BEATs-base).
        gated_relative_positions: Gate the bias per query and head in each block (BEATs'
            ``gru_rel_pos``; default False; needs ``relative_positions``).

    Shapes:
        x ``(B, L, dim)``, padding_mask ``(B, L)`` (True = padding) or None -> ``(B, L, dim)``.
    """

    def __init__(
        self,
        dim: int,
        depth: int,
        heads: int,
        ffn_dim: int,
        dropout: float = 0.0,
        norm_first: bool = True,
        conv_positions: bool = False,
        conv_kernel: int = 128,
        conv_groups: int = 16,
        deep_norm: bool = False,
        relative_positions: bool = False,
        num_buckets: int = 320,
        max_distance: int = 800,
        gated_relative_positions: bool = False,
    ) -> None:
        super().__init__()
        if gated_relative_positions and not relative_positions:
            raise ValueError("gated_relative_positions=True needs relative_positions=True.")
        alpha = (2.0 * depth) ** 0.25 if deep_norm else 1.0
        self.pos_conv = ConvPositions(dim, conv_kernel, conv_groups) if conv_positions else None
        self.relative_position_bias = (
            RelativePositionBias(heads, num_buckets, max_distance) if relative_positions else None
        )
        self.layer_norm = nn.LayerNorm(dim)
        self.layers = nn.ModuleList(
            TransformerBlock(
                dim, heads, ffn_dim, dropout, norm_first, alpha, gated_relative_positions
            )
            for _ in range(depth)
        )
        self.norm_first = norm_first

    def forward(self, x: Tensor, padding_mask: Tensor | None = None) -> Tensor:
        return self.forward_layers(x, padding_mask)[-1]

    def forward_layers(self, x: Tensor, padding_mask: Tensor | None = None) -> list[Tensor]:
        """Every block's output ``[(B, L, dim)] * depth``; the last one is the stack's output
        (after the final LayerNorm of a pre-LN stack), the others are the raw residual stream."""
        if self.pos_conv is not None:
            x = self.pos_conv(x, padding_mask)
        if not self.norm_first:
            x = self.layer_norm(x)
        mask = attention_mask(padding_mask)
        bias = None
        if self.relative_position_bias is not None:
            bias = self.relative_position_bias(x.shape[1])  # once, shared by every block
        outputs = []
        for layer in self.layers:
            x = layer(x, mask, bias)
            outputs.append(x)
        if self.norm_first:
            outputs[-1] = self.layer_norm(x)
        return outputs


class AudioEncoder(nn.Module):
    """Patch embedding + transformer: the SSL student, the tokenizer backbone, the probe model.

    The architecture is part of the state dict (``_extra_state``), so
    :meth:`from_state_dict` rebuilds an encoder from a checkpoint alone; this is how the
    iteration workflow chains runs by checkpoint path. For the same reason it is not exported
    on its own (an exported folder holds tensors only): ``selfsup export`` writes it inside an
    :class:`~selfsup_audio.encoders.AudioEmbedder`, with its architecture in ``config.json``.

    Args:
        size: ``"tiny"``, ``"mini"``, ``"small"`` or ``"base"`` (:data:`SIZES`; default tiny).
        dim, depth, heads, ffn_dim: Override the preset (default None: from ``size``).
        patch: ``(time, frequency)`` patch size (default ``(16, 16)``).
        conv_dim: Patch convolution channels (default None: ``dim``; BEATs-base 512).
        dropout: Dropout (default 0).
        norm_first: Pre-LN (default True) or BEATs' post-LN.
        conv_positions: BEATs' convolutional positions (default False: sine-cosine only).
        conv_kernel: Positional convolution kernel (default 128).
        deep_norm: DeepNorm residual scaling for post-LN (default False).
        sincos_positions: Add fixed 2-D sine-cosine positions to the patches (default True;
            official BEATs has none and relies on its convolutional/relative positions).
        relative_positions: BEATs' bucketed relative position bias (default False).
        num_buckets, max_distance: Its buckets (default 320 / 800, the released BEATs').
        gated_relative_positions: BEATs' per-query gate on that bias (default False).

    Shapes:
        fbank ``(B, T, n_mels)``, frame_mask ``(B, T)`` or None -> tokens ``(B, N, dim)`` and
        patch padding mask ``(B, N)``.
    """

    def __init__(
        self,
        size: str = "tiny",
        dim: int | None = None,
        depth: int | None = None,
        heads: int | None = None,
        ffn_dim: int | None = None,
        patch: tuple[int, int] = (16, 16),
        conv_dim: int | None = None,
        dropout: float = 0.0,
        norm_first: bool = True,
        conv_positions: bool = False,
        conv_kernel: int = 128,
        deep_norm: bool = False,
        sincos_positions: bool = True,
        relative_positions: bool = False,
        num_buckets: int = 320,
        max_distance: int = 800,
        gated_relative_positions: bool = False,
    ) -> None:
        super().__init__()
        if size not in SIZES:
            raise ValueError(f"size must be one of {sorted(SIZES)}, got {size!r}.")
        d, n, h, f = SIZES[size]
        self.config: dict[str, Any] = {
            "dim": dim or d,
            "depth": depth or n,
            "heads": heads or h,
            "ffn_dim": ffn_dim or f,
            "patch": [int(patch[0]), int(patch[1])],
            "conv_dim": conv_dim or dim or d,
            "dropout": float(dropout),
            "norm_first": bool(norm_first),
            "conv_positions": bool(conv_positions),
            "conv_kernel": int(conv_kernel),
            "deep_norm": bool(deep_norm),
            "sincos_positions": bool(sincos_positions),
            "relative_positions": bool(relative_positions),
            "num_buckets": int(num_buckets),
            "max_distance": int(max_distance),
            "gated_relative_positions": bool(gated_relative_positions),
        }
        self._build()

    def _build(self) -> None:
        c = self.config
        self.dim = c["dim"]
        self.patch = tuple(c["patch"])
        self.patch_embed = PatchEmbed(
            c["dim"], self.patch, c["conv_dim"], positions=c.get("sincos_positions", True)
        )
        self.dropout = nn.Dropout(c["dropout"])
        self.transformer = AudioTransformer(
            c["dim"],
            c["depth"],
            c["heads"],
            c["ffn_dim"],
            c["dropout"],
            c["norm_first"],
            c["conv_positions"],
            c["conv_kernel"],
            deep_norm=c["deep_norm"],
            relative_positions=c["relative_positions"],
            num_buckets=c["num_buckets"],
            max_distance=c["max_distance"],
            gated_relative_positions=c["gated_relative_positions"],
        )

    def get_extra_state(self) -> dict[str, Any]:
        return dict(self.config)

    def set_extra_state(self, state: dict[str, Any]) -> None:
        state = {**_LATER_OPTIONS, **dict(state)}
        if state != self.config:
            raise ValueError(
                f"checkpoint encoder architecture {dict(state)} differs from this encoder's "
                f"{self.config}; build it with AudioEncoder.from_state_dict(state_dict)."
            )

    @classmethod
    def from_state_dict(cls, state_dict: dict[str, Any], prefix: str = "") -> AudioEncoder:
        """Build an encoder with the architecture recorded in ``state_dict`` and load it.

        Raises:
            KeyError: ``state_dict`` has no ``{prefix}_extra_state`` (not saved by this class).
        """
        key = f"{prefix}_extra_state"
        if key not in state_dict:
            raise KeyError(
                f"{key!r} not in the state dict: it was not saved by AudioEncoder (keys start "
                f"with {sorted(state_dict)[:3]})."
            )
        config = {**_LATER_OPTIONS, **dict(state_dict[key])}
        size = next(iter(SIZES))
        encoder = cls(
            size, **{k: v for k, v in config.items() if k != "patch"}, patch=tuple(config["patch"])
        )
        own = {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}
        encoder.load_state_dict(own)
        return encoder

    def embed_patches(
        self, fbank: Tensor, frame_mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Positioned patch tokens ``(B, N, dim)`` and the patch padding mask ``(B, N)``."""
        x, pad = self.patch_embed(fbank, frame_mask)
        return self.dropout(x), pad

    def encode(self, tokens: Tensor, padding_mask: Tensor | None = None) -> Tensor:
        """Run the transformer on (possibly a visible subset of) patch tokens."""
        return self.transformer(tokens, padding_mask)

    def encode_layers(self, tokens: Tensor, padding_mask: Tensor | None = None) -> list[Tensor]:
        """Every block's output, ``[(B, N, dim)] * depth`` (see
        :meth:`AudioTransformer.forward_layers`)."""
        return self.transformer.forward_layers(tokens, padding_mask)

    def forward(self, fbank: Tensor, frame_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        x, pad = self.embed_patches(fbank, frame_mask)
        return self.encode(x, pad), pad
