"""The fbank batch format shared by the BEATs-style methods, and its validation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from selfsup.checks import MalformedBatchError, unpack_labelled

__all__ = ["check_finite_rows", "parse_fbank_batch"]


def check_finite_rows(x: Tensor, name: str, where: str, what: str) -> None:
    """Refuse NaN/inf in a batch tensor, naming the input, the count and the clips (rows).

    Raises:
        MalformedBatchError: ``x`` holds a NaN or an inf.

    Examples:
        >>> check_finite_rows(torch.zeros(2, 3), "BEATs", "batch['fbank']", "fbank features")
    """
    bad = ~torch.isfinite(x)
    if not bool(bad.any()):
        return
    rows = bad.flatten(1).any(dim=1).nonzero().flatten().tolist()
    shown = rows[:10] + (["..."] if len(rows) > 10 else [])
    raise MalformedBatchError(
        f"{name}: {where} ({what}, shape {tuple(x.shape)}) holds {int(bad.sum())} NaN/inf "
        f"value(s) in clip(s) {shown} of the batch; check those clips' audio (load_waveform "
        "refuses non-finite samples) and the normalisation statistics."
    )


def parse_fbank_batch(batch: Any, name: str, num_mel_bins: int) -> tuple[Tensor, Tensor | None]:
    """``(fbank, frame_mask)`` of a batch, validated.

    Accepted: ``{"fbank": (B, T, n_mels) float, "padding_mask": (B, T) bool (True = padding),
    ...}`` (extra keys such as ``"label"`` are ignored), a bare ``(B, T, n_mels)`` tensor, or an
    ``(inputs, labels)`` pair of either (probe loaders). Features are expected normalised
    (:func:`selfsup_audio.frontends.normalize_fbank`); raw waveforms are rejected with a pointer
    to the front end. Padded frames are set to 0 (the normalised mean, as the data modules pad),
    so whatever a caller left there cannot leak into a partially padded patch.

    Raises:
        MalformedBatchError: anything else, mismatched shapes, NaN/inf features, or a clip whose
            frames are all padding.
    """
    inputs, _, where = unpack_labelled(batch, name, "an fbank dict/tensor")
    mask = None
    if isinstance(inputs, Mapping):
        if "fbank" not in inputs:
            raise MalformedBatchError(
                f"{name} expects a dict with key 'fbank' (and optionally 'padding_mask'), got "
                f"keys {sorted(map(str, inputs))}."
            )
        fbank, mask = inputs["fbank"], inputs.get("padding_mask")
        where += "['fbank']"
    else:
        fbank = inputs
    if not isinstance(fbank, Tensor):
        raise MalformedBatchError(
            f"{name} expects fbank features as a tensor (B, T, n_mels), got {type(fbank).__name__}."
        )
    if fbank.dim() == 2:
        raise MalformedBatchError(
            f"{name} expects fbank features (B, T, {num_mel_bins}), got {tuple(fbank.shape)}: "
            "raw waveforms go through selfsup_audio.frontends.Fbank (or FSDDDataModule) first."
        )
    if fbank.dim() != 3 or fbank.shape[2] != num_mel_bins or not fbank.is_floating_point():
        raise MalformedBatchError(
            f"{name} expects float fbank features of shape (B, T, {num_mel_bins}), got "
            f"{tuple(fbank.shape)} {fbank.dtype}."
        )
    if fbank.shape[0] == 0 or fbank.shape[1] == 0:
        raise MalformedBatchError(f"{name} got an empty batch {tuple(fbank.shape)}.")
    check_finite_rows(fbank, name, where, "fbank features")
    if mask is not None:
        if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
            raise MalformedBatchError(f"{name}: padding_mask must be a bool tensor (B, T).")
        if tuple(mask.shape) != tuple(fbank.shape[:2]):
            raise MalformedBatchError(
                f"{name}: padding_mask has shape {tuple(mask.shape)}, expected (B, T) = "
                f"{tuple(fbank.shape[:2])}."
            )
        if bool(mask.all(dim=1).any()):
            raise MalformedBatchError(
                f"{name}: a clip has no real frame (padding_mask all True); drop empty clips."
            )
        # a partial patch mixes real and padded frames: padding must be the normalised mean (0)
        fbank = fbank.masked_fill(mask[..., None], 0.0)
    return fbank, mask
