"""Transformer encoder over spectrogram patches with key padding masks (BEATs' backbone, sized
from a CPU-test ``tiny`` to BEATs-base)."""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from selfsup_audio.encoders.patch_embed import PatchEmbed

__all__ = ["SIZES", "AudioEncoder", "AudioTransformer", "ConvPositions", "TransformerBlock"]

#: ``size -> (dim, depth, heads, ffn_dim)``; ``base`` is BEATs-base (12 x 768, FFN 3072).
SIZES: dict[str, tuple[int, int, int, int]] = {
    "tiny": (64, 2, 2, 128),
    "mini": (128, 4, 4, 512),
    "small": (192, 6, 3, 768),
    "base": (768, 12, 12, 3072),
}


def attention_mask(padding_mask: Tensor | None) -> Tensor | None:
    """SDPA mask ``(B, 1, 1, L)``, True = may attend. A row that is entirely padding attends to
    everything instead, so it yields finite (ignored) values rather than NaN."""
    if padding_mask is None:
        return None
    valid = ~padding_mask
    valid = valid | ~valid.any(dim=1, keepdim=True)
    return valid[:, None, None, :]


class TransformerBlock(nn.Module):
    """Self-attention + GELU MLP with fairseq/BEATs parameter names.

    Pre-LN (``norm_first=True``, stable for small models trained from scratch):
    ``x + Attn(LN(x))``, ``x + MLP(LN(x))``. Post-LN (BEATs, DeepNorm with ``alpha``):
    ``LN(alpha x + Attn(x))``, ``LN(alpha x + MLP(x))``. Attention is
    ``F.scaled_dot_product_attention`` with a key padding mask.

    Args:
        dim: Width. heads: Attention heads (``dim % heads == 0``). ffn_dim: MLP hidden width.
        dropout: Dropout on attention weights and residual branches (default 0).
        norm_first: Pre-LN (default True) or post-LN.
        alpha: Residual scale of post-LN DeepNorm (default 1.0; BEATs uses ``(2 N)^{1/4}``).

    Shapes:
        x ``(B, L, dim)``, attn_mask ``(B, 1, 1, L)`` bool or None -> ``(B, L, dim)``.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        ffn_dim: int,
        dropout: float = 0.0,
        norm_first: bool = True,
        alpha: float = 1.0,
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

    def attention(self, x: Tensor, attn_mask: Tensor | None) -> Tensor:
        b, length, dim = x.shape

        def split(t: Tensor) -> Tensor:
            return t.view(b, length, self.heads, dim // self.heads).transpose(1, 2)

        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        drop = self.dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=drop)
        return self.out_proj(out.transpose(1, 2).reshape(b, length, dim))

    def mlp(self, x: Tensor) -> Tensor:
        return self.fc2(F.dropout(F.gelu(self.fc1(x)), self.dropout, self.training))

    def forward(self, x: Tensor, attn_mask: Tensor | None = None) -> Tensor:
        drop = self.dropout if self.training else 0.0
        if self.norm_first:
            x = x + F.dropout(
                self.attention(self.self_attn_layer_norm(x), attn_mask), drop, self.training
            )
            return x + F.dropout(self.mlp(self.final_layer_norm(x)), drop, self.training)
        x = self.self_attn_layer_norm(
            self.alpha * x + F.dropout(self.attention(x, attn_mask), drop, self.training)
        )
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
    """A stack of :class:`TransformerBlock` s with optional convolutional positions.

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
    ) -> None:
        super().__init__()
        alpha = (2.0 * depth) ** 0.25 if deep_norm else 1.0
        self.pos_conv = ConvPositions(dim, conv_kernel, conv_groups) if conv_positions else None
        self.layer_norm = nn.LayerNorm(dim)
        self.layers = nn.ModuleList(
            TransformerBlock(dim, heads, ffn_dim, dropout, norm_first, alpha) for _ in range(depth)
        )
        self.norm_first = norm_first

    def forward(self, x: Tensor, padding_mask: Tensor | None = None) -> Tensor:
        if self.pos_conv is not None:
            x = self.pos_conv(x, padding_mask)
        if not self.norm_first:
            x = self.layer_norm(x)
        mask = attention_mask(padding_mask)
        for layer in self.layers:
            x = layer(x, mask)
        return self.layer_norm(x) if self.norm_first else x


class AudioEncoder(nn.Module):
    """Patch embedding + transformer: the SSL student, the tokenizer backbone, the probe model.

    The architecture is part of the state dict (``_extra_state``), so
    :meth:`from_state_dict` rebuilds an encoder from a checkpoint alone; this is how the
    iteration workflow chains runs by checkpoint path.

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
        )

    def get_extra_state(self) -> dict[str, Any]:
        return dict(self.config)

    def set_extra_state(self, state: dict[str, Any]) -> None:
        if dict(state) != self.config:
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
        config = dict(state_dict[key])
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

    def forward(self, fbank: Tensor, frame_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        x, pad = self.embed_patches(fbank, frame_mask)
        return self.encode(x, pad), pad
