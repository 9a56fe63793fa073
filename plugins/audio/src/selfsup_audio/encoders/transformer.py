"""Transformer encoder over spectrogram patches with key padding masks (BEATs' backbone, sized
from a CPU-test ``tiny`` to BEATs-base).

:class:`AudioTransformer` stacks the generic pieces of :mod:`selfsup_audio.encoders.blocks`;
:class:`AudioEncoder` adds the patch embedding and keeps its architecture in the checkpoint.
The blocks' names are re-exported here (``selfsup_audio.encoders.transformer.TransformerBlock``
is the class in ``blocks``), so imports and ``class_path`` strings written before the split work
unchanged.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from selfsup_audio.encoders.blocks import (
    ConvPositions,
    RelativePositionBias,
    TransformerBlock,
    attention_mask,
    relative_position_bucket,
)
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
