"""Spectrogram patches: flattening, patch padding masks, the patch embedding and positions."""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.export import exportable

__all__ = [
    "FbankPatchTokenizer",
    "PatchEmbed",
    "patch_grid",
    "patch_padding_mask",
    "patchify",
    "sincos_positions",
]


def _check_fbank(fbank: Tensor, patch_freq: int) -> None:
    if not isinstance(fbank, Tensor) or fbank.dim() != 3 or not fbank.is_floating_point():
        got = f"{tuple(fbank.shape)} {fbank.dtype}" if isinstance(fbank, Tensor) else type(fbank)
        raise ValueError(f"fbank must be a float tensor (B, T, n_mels), got {got}.")
    if fbank.shape[2] % patch_freq:
        raise ValueError(
            f"fbank has {fbank.shape[2]} mel bins, not a multiple of the frequency patch size "
            f"{patch_freq}; use num_mel_bins = k * {patch_freq}."
        )


def _pad_time(fbank: Tensor, frame_mask: Tensor | None, patch_time: int) -> tuple[Tensor, Tensor]:
    """Right-pad the time axis to a multiple of ``patch_time`` (new frames count as padding)."""
    b, t, _ = fbank.shape
    if frame_mask is None:
        frame_mask = torch.zeros(b, t, dtype=torch.bool, device=fbank.device)
    extra = (-t) % patch_time
    if extra:
        fbank = F.pad(fbank, (0, 0, 0, extra))
        frame_mask = F.pad(frame_mask, (0, extra), value=True)
    return fbank, frame_mask


def patch_grid(num_frames: int, num_bins: int, patch: tuple[int, int]) -> tuple[int, int]:
    """``(time patches, frequency patches)`` of a ``(num_frames, num_bins)`` spectrogram after
    right-padding time to a multiple of ``patch[0]``."""
    return -(-num_frames // patch[0]), num_bins // patch[1]


def patchify(fbank: Tensor, patch: tuple[int, int]) -> Tensor:
    """Flattened non-overlapping patches in BEATs' time-major order (index ``t * F' + f``).

    The time axis is right-padded with zeros to a multiple of ``patch[0]``.

    Shapes:
        fbank: ``(B, T, n_mels)`` -> ``(B, T' * F', patch[0] * patch[1])`` with
        ``T' = ceil(T / patch[0])``, ``F' = n_mels / patch[1]``.

    Raises:
        ValueError: a non-float or non-3-D input, or bins not a multiple of ``patch[1]``.
    """
    pt, pf = patch
    _check_fbank(fbank, pf)
    x, _ = _pad_time(fbank, None, pt)
    b, t, f = x.shape
    x = x.view(b, t // pt, pt, f // pf, pf).permute(0, 1, 3, 2, 4)
    return x.reshape(b, (t // pt) * (f // pf), pt * pf)


def patch_padding_mask(frame_mask: Tensor, patch_time: int, freq_patches: int) -> Tensor:
    """Patch padding mask from a frame padding mask: a patch is padding only when every one of
    its frames is padding, so a clip shorter than one patch keeps one (zero-padded) patch.

    Shapes:
        frame_mask: ``(B, T)`` bool, True = padding -> ``(B, ceil(T / patch_time) * freq_patches)``.
    """
    b, t = frame_mask.shape
    extra = (-t) % patch_time
    if extra:
        frame_mask = F.pad(frame_mask, (0, extra), value=True)
    per_time = frame_mask.view(b, -1, patch_time).all(dim=-1)
    return per_time[:, :, None].expand(-1, -1, freq_patches).reshape(b, -1)


def sincos_positions(
    time_patches: int, freq_patches: int, dim: int, device: torch.device
) -> Tensor:
    """Fixed 2-D sine-cosine positions: ``dim / 2`` channels for the time index, ``dim / 2`` for
    the frequency index (MAE's 2-D variant), time-major like :func:`patchify`.

    .. math::

        P_{t, 2i} = \\sin(t / 10000^{4i / D}), \\quad P_{t, 2i+1} = \\cos(t / 10000^{4i / D})

    Shapes:
        -> ``(time_patches * freq_patches, dim)``; ``dim`` divisible by 4.
    """
    quarter = dim // 4
    omega = torch.exp(
        -math.log(10000.0) * torch.arange(quarter, device=device, dtype=torch.float32) / quarter
    )

    def embed(pos: Tensor) -> Tensor:
        angles = pos.float()[:, None] * omega[None]
        return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(1)

    t = embed(torch.arange(time_patches, device=device))
    f = embed(torch.arange(freq_patches, device=device))
    grid = torch.cat(
        [
            t[:, None, :].expand(-1, freq_patches, -1),
            f[None, :, :].expand(time_patches, -1, -1),
        ],
        dim=-1,
    )
    return grid.reshape(time_patches * freq_patches, dim)


class PatchEmbed(nn.Module):
    """BEATs' patch embedding: ``Conv2d(1, C, p, stride=p, bias=False) -> LayerNorm(C) ->
    Linear(C, D)`` over the ``(time, mel)`` plane, then fixed 2-D sine-cosine positions.

    Args:
        dim: Output width ``D``.
        patch: ``(time, frequency)`` patch size (default ``(16, 16)``, BEATs'); smaller time
            patches give more tokens for short clips.
        conv_dim: Convolution channels ``C`` (default None: ``dim``; BEATs-base uses 512).
        positions: Add sine-cosine positions (default True). Positions are added here, before
            masking, so visible-only encoding keeps where each patch came from.

    Shapes:
        fbank ``(B, T, n_mels)``, frame_mask ``(B, T)`` or None -> tokens ``(B, N, D)``,
        patch padding mask ``(B, N)`` (True = padding), ``N = ceil(T / p_t) * n_mels / p_f``.

    Raises:
        ValueError: bins not a multiple of the frequency patch size, or a bad input tensor.
    """

    def __init__(
        self,
        dim: int,
        patch: tuple[int, int] = (16, 16),
        conv_dim: int | None = None,
        positions: bool = True,
    ) -> None:
        super().__init__()
        if dim % 4:
            raise ValueError(f"dim must be divisible by 4 (2-D sine-cosine positions), got {dim}.")
        self.patch = (int(patch[0]), int(patch[1]))
        conv_dim = conv_dim or dim
        self.conv = nn.Conv2d(1, conv_dim, self.patch, stride=self.patch, bias=False)
        self.norm = nn.LayerNorm(conv_dim)
        self.proj = nn.Linear(conv_dim, dim)
        self.dim = dim
        self.positions = positions

    def forward(self, fbank: Tensor, frame_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        _check_fbank(fbank, self.patch[1])
        x, frame_mask = _pad_time(fbank, frame_mask, self.patch[0])
        x = self.conv(x[:, None])  # (B, C, T', F')
        _, _, tp, fp = x.shape
        x = self.proj(self.norm(x.permute(0, 2, 3, 1).flatten(1, 2)))
        if self.positions:
            x = x + sincos_positions(tp, fp, self.dim, x.device).to(x.dtype)
        return x, patch_padding_mask(frame_mask, self.patch[0], fp)


@exportable("audio:fbank_patch_tokenizer")
class FbankPatchTokenizer(PatchEmbed):
    """:class:`PatchEmbed` reading a whole fbank batch: a modality tokenizer for shared trunks.

    Takes what the audio data modules yield (``{"fbank", "padding_mask", ...}``, a bare fbank
    tensor, or an ``(inputs, labels)`` pair; validated by
    :func:`~selfsup_audio.batch.parse_fbank_batch`) and returns patch tokens with their padding
    mask — the ``(tokens, padding_mask)`` pair that :class:`selfsup.methods.TokenContrastive`
    and :class:`selfsup.encoders.TransformerTrunk` consume.

    Args:
        dim: Token width (the trunk's). patch, conv_dim, positions: As :class:`PatchEmbed`.
        num_mel_bins: Bins the batches must have (default 128).

    Shapes:
        batch -> tokens ``(B, N, dim)``, padding ``(B, N)`` bool (True = padding).

    Examples:
        >>> tokenizer = FbankPatchTokenizer(dim=16, patch=(4, 16), num_mel_bins=32)
        >>> tokens, padding = tokenizer({"fbank": torch.zeros(2, 8, 32)})
        >>> tokens.shape, padding.shape
        (torch.Size([2, 4, 16]), torch.Size([2, 4]))
    """

    def __init__(
        self,
        dim: int,
        patch: tuple[int, int] = (16, 16),
        num_mel_bins: int = 128,
        conv_dim: int | None = None,
        positions: bool = True,
    ) -> None:
        super().__init__(dim, patch, conv_dim, positions)
        self.num_mel_bins = int(num_mel_bins)

    def forward(self, batch: Any, frame_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        from selfsup_audio.batch import parse_fbank_batch

        if isinstance(batch, Tensor) and frame_mask is not None:
            return super().forward(batch, frame_mask)
        fbank, mask = parse_fbank_batch(batch, type(self).__name__, self.num_mel_bins)
        return super().forward(fbank, mask)
