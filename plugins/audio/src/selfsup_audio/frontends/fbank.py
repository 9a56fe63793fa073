"""Kaldi-compatible log-mel filterbanks as BEATs computes them, normalisation and padding."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

__all__ = [
    "AUDIOSET_MEAN",
    "AUDIOSET_STD",
    "BEATS_FBANK_ARGS",
    "Fbank",
    "FbankSettings",
    "bind_fbank_settings",
    "fbank_statistics",
    "frame_span",
    "kaldi_fbank",
    "normalize_fbank",
    "num_frames",
    "pad_features",
]

#: BEATs' normalisation constants (``BEATs.preprocess`` defaults, AudioSet statistics).
AUDIOSET_MEAN = 15.41663
AUDIOSET_STD = 6.55582

#: Every argument of ``torchaudio.compliance.kaldi.fbank`` as BEATs uses it. Pinned explicitly:
#: older torchaudio releases defaulted to ``dither=1.0, energy_floor=0.0``, which silently changes
#: the features (and makes them random).
BEATS_FBANK_ARGS: dict[str, float | int | bool | str] = {
    "blackman_coeff": 0.42,
    "channel": -1,
    "dither": 0.0,
    "energy_floor": 1.0,
    "frame_length": 25.0,
    "frame_shift": 10.0,
    "high_freq": 0.0,
    "htk_compat": False,
    "low_freq": 20.0,
    "min_duration": 0.0,
    "num_mel_bins": 128,
    "preemphasis_coefficient": 0.97,
    "raw_energy": True,
    "remove_dc_offset": True,
    "round_to_power_of_two": True,
    "sample_frequency": 16000.0,
    "snip_edges": True,
    "subtract_mean": False,
    "use_energy": False,
    "use_log_fbank": True,
    "use_power": True,
    "vtln_high": -500.0,
    "vtln_low": 100.0,
    "vtln_warp": 1.0,
    "window_type": "povey",
}


def _window_samples(sample_rate: int, frame_length: float) -> int:
    return int(sample_rate * frame_length / 1000)


def num_frames(
    num_samples: int,
    sample_rate: int = 16000,
    frame_length: float = 25.0,
    frame_shift: float = 10.0,
) -> int:
    """Frames of :func:`kaldi_fbank` (``snip_edges=True``): ``1 + (N - W) // S``, at least 1.

    ``W``/``S`` are the window and shift in samples (400/160 at 16 kHz); clips shorter than one
    window are zero-padded to one window first, hence the minimum of 1.
    """
    window = _window_samples(sample_rate, frame_length)
    shift = int(sample_rate * frame_shift / 1000)
    return 1 + (max(num_samples, window) - window) // shift


def frame_span(
    first: int,
    frames: int,
    sample_rate: int = 16000,
    frame_length: float = 25.0,
    frame_shift: float = 10.0,
) -> tuple[int, int]:
    """``(start, stop)``: the samples that :func:`kaldi_fbank`'s frames ``first .. first +
    frames - 1`` read.

    Frames are computed window by window (``snip_edges=True``, no dither), so the fbank of
    ``waveform[start:stop]`` is exactly those frames of the whole clip's fbank: a crop taken on
    the waveform costs only the cropped frames.

    Examples:
        >>> frame_span(2, 3)  # frames 2, 3, 4 at 16 kHz: 160-sample hop, 400-sample window
        (320, 1040)
    """
    shift = int(sample_rate * frame_shift / 1000)
    start = first * shift
    return start, start + (frames - 1) * shift + _window_samples(sample_rate, frame_length)


def kaldi_fbank(
    waveform: Tensor,
    sample_rate: int = 16000,
    num_mel_bins: int = 128,
    frame_length: float = 25.0,
    frame_shift: float = 10.0,
    low_freq: float = 20.0,
    high_freq: float = 0.0,
) -> Tensor:
    """Log-mel filterbank energies of one mono clip, exactly as ``BEATs.preprocess``.

    .. math::

        F = \\operatorname{kaldi.fbank}(2^{15} x;\\ \\text{BEATS\\_FBANK\\_ARGS})

    The float waveform in ``[-1, 1]`` is scaled to the int16 range, then passed to
    ``torchaudio.compliance.kaldi.fbank`` with every argument given (:data:`BEATS_FBANK_ARGS`,
    with the rate, bins, frame sizes and band edges overridable). A clip shorter than one window
    (25 ms) is zero-padded to one window, so every non-empty clip has at least one frame.
    Computed in float32 (float64 input stays float64).

    Args:
        waveform: Mono waveform.
        sample_rate: Rate of ``waveform`` in Hz (default 16000; BEATs never resamples).
        num_mel_bins: Mel bands (default 128).
        frame_length: Window in ms (default 25).
        frame_shift: Hop in ms (default 10).
        low_freq: Lowest mel edge in Hz (default 20).
        high_freq: Highest mel edge in Hz; ``<= 0`` is relative to Nyquist (default 0).

    Shapes:
        waveform: ``(N,)`` or ``(1, N)`` -> ``(num_frames(N), num_mel_bins)``.

    Raises:
        ValueError: an empty, multi-channel or non-finite waveform.
    """
    from torchaudio.compliance import kaldi

    if waveform.dim() == 2 and waveform.shape[0] == 1:
        waveform = waveform[0]
    if waveform.dim() != 1:
        raise ValueError(
            f"kaldi_fbank expects one mono clip (N,) or (1, N), got {tuple(waveform.shape)}; "
            "downmix with waveform.mean(0) (see prepare_waveform)."
        )
    if waveform.numel() == 0:
        raise ValueError("kaldi_fbank got an empty waveform (0 samples).")
    if not torch.isfinite(waveform).all():
        raise ValueError("kaldi_fbank got NaN/inf samples; clean the waveform first.")
    if not waveform.is_floating_point():
        raise ValueError(
            f"kaldi_fbank expects a float waveform in [-1, 1], got {waveform.dtype}; convert "
            "int16 PCM with x.float() / 32768."
        )
    window = _window_samples(sample_rate, frame_length)
    if waveform.numel() < window:
        waveform = torch.nn.functional.pad(waveform, (0, window - waveform.numel()))
    args = dict(BEATS_FBANK_ARGS)
    args.update(
        sample_frequency=float(sample_rate),
        num_mel_bins=num_mel_bins,
        frame_length=frame_length,
        frame_shift=frame_shift,
        low_freq=low_freq,
        high_freq=high_freq,
    )
    return kaldi.fbank(waveform[None] * 2**15, **args)


def normalize_fbank(
    features: Tensor, mean: float = AUDIOSET_MEAN, std: float = AUDIOSET_STD
) -> Tensor:
    """BEATs/AST normalisation ``(F - mean) / (2 std)`` (AudioSet -> roughly N(0, 0.5^2)).

    Shapes:
        any -> same.

    Raises:
        ValueError: ``std <= 0``.
    """
    if not std > 0:
        raise ValueError(f"std must be > 0, got {std}.")
    return (features - mean) / (2.0 * std)


def fbank_statistics(features: Sequence[Tensor]) -> tuple[float, float]:
    """Scalar mean and standard deviation over every frame and bin of unnormalised fbanks.

    BEATs uses one scalar pair for the whole corpus; compute it on the training split only.
    Accumulated in float64.

    Shapes:
        features: ``[(T_i, F), ...]`` -> two floats.

    Raises:
        ValueError: no frames at all.
    """
    total, sq, count = 0.0, 0.0, 0
    for f in features:
        x = f.double()
        total += float(x.sum())
        sq += float(x.pow(2).sum())
        count += x.numel()
    if count == 0:
        raise ValueError("fbank_statistics needs at least one frame.")
    mean = total / count
    var = max(sq / count - mean * mean, 0.0)
    return mean, var**0.5


def pad_features(
    features: Sequence[Tensor], *, min_frames: int = 1, multiple_of: int = 1
) -> tuple[Tensor, Tensor]:
    """Stack variable-length fbanks into a zero-padded batch with a padding mask.

    Padding uses 0, the mean of normalised features; the mask says which frames are padding so
    that encoders, losses and pooling can ignore them. The padded length is at least
    ``min_frames`` and a multiple of ``multiple_of`` (the time patch size), so a clip shorter
    than one patch still yields one patch.

    Args:
        features: ``[(T_i, F), ...]`` with ``T_i >= 1``.
        min_frames: Minimum padded length (default 1).
        multiple_of: Round the padded length up to a multiple of this (default 1).

    Returns:
        ``(batch, padding_mask)``; ``padding_mask`` is True on padded frames.

    Shapes:
        -> ``(B, T, F)``, ``(B, T)`` bool with ``T >= max(T_i, min_frames)``.

    Raises:
        ValueError: an empty list, a clip without frames or mismatched bin counts.
    """
    if len(features) == 0:
        raise ValueError("pad_features needs at least one clip.")
    bins = {f.shape[-1] for f in features}
    if len(bins) != 1 or any(f.dim() != 2 or f.shape[0] == 0 for f in features):
        shapes = [tuple(f.shape) for f in features[:5]]
        raise ValueError(f"pad_features needs (T_i >= 1, F) tensors with one F, got {shapes}.")
    length = max(max(f.shape[0] for f in features), min_frames)
    length = -(-length // multiple_of) * multiple_of
    out = features[0].new_zeros(len(features), length, bins.pop())
    mask = torch.ones(len(features), length, dtype=torch.bool)
    for i, f in enumerate(features):
        out[i, : f.shape[0]] = f
        mask[i, : f.shape[0]] = False
    return out, mask


class Fbank(nn.Module):
    """Batch front end: padded waveforms -> normalised Kaldi fbanks + frame padding mask.

    Loops over clips (``kaldi.fbank`` does not batch), as ``BEATs.preprocess`` does. Use it for
    raw waveforms at inference; the data modules cache features instead.

    Args:
        sample_rate: Input rate in Hz (default 16000).
        num_mel_bins: Mel bands (default 128).
        mean: Normalisation mean (default :data:`AUDIOSET_MEAN`).
        std: Normalisation std (default :data:`AUDIOSET_STD`).
        multiple_of: Pad the frame axis to a multiple of this (default 16, one patch).

    Shapes:
        waveforms ``(B, N)``, optional lengths ``(B,)`` in samples (default: all ``N``)
        -> fbank ``(B, T, num_mel_bins)``, padding_mask ``(B, T)``.
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        num_mel_bins: int = 128,
        mean: float = AUDIOSET_MEAN,
        std: float = AUDIOSET_STD,
        multiple_of: int = 16,
    ) -> None:
        super().__init__()
        if not std > 0:
            raise ValueError(f"std must be > 0, got {std}.")
        self.sample_rate = sample_rate
        self.num_mel_bins = num_mel_bins
        self.mean = mean
        self.std = std
        self.multiple_of = multiple_of

    @torch.no_grad()
    def forward(self, waveforms: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if waveforms.dim() != 2:
            raise ValueError(
                f"Fbank expects mono waveforms (B, N), got {tuple(waveforms.shape)}; downmix "
                "multi-channel audio first."
            )
        n = waveforms.shape[1]
        lens = [n] * waveforms.shape[0] if lengths is None else [int(v) for v in lengths]
        feats = [
            normalize_fbank(
                kaldi_fbank(w[:length].float().cpu(), self.sample_rate, self.num_mel_bins),
                self.mean,
                self.std,
            )
            for w, length in zip(waveforms, lens, strict=True)
        ]
        batch, mask = pad_features(feats, min_frames=self.multiple_of, multiple_of=self.multiple_of)
        return batch.to(waveforms.device), mask.to(waveforms.device)


class FbankSettings(nn.Module):
    """The front end a model was trained with: sample rate and normalisation statistics.

    Kept as a buffer ``values = (sample_rate, mean, std)`` (float64) so that checkpoints carry
    it. The methods that read fbank batches hold one (``method.fbank_settings``) and take the
    rate and statistics of the audio data module that feeds them once it is set up
    (:func:`bind_fbank_settings`, from their ``Method.bind_data``), and ``export_encoder``
    builds the exported :class:`Fbank` front end from it, so an exported encoder normalises
    waveforms as training did. Checkpoints written before it existed load with the defaults
    (16 kHz, BEATs' AudioSet statistics).

    Args:
        sample_rate: Rate in Hz (default 16000).
        mean, std: Normalisation statistics (default :data:`AUDIOSET_MEAN`, :data:`AUDIOSET_STD`).

    Examples:
        >>> settings = FbankSettings()
        >>> settings.update(8000, 10.0, 4.0)
        >>> settings.sample_rate, settings.mean, settings.std
        (8000, 10.0, 4.0)
    """

    def __init__(
        self, sample_rate: int = 16000, mean: float = AUDIOSET_MEAN, std: float = AUDIOSET_STD
    ) -> None:
        super().__init__()
        self.register_buffer("values", torch.zeros(3, dtype=torch.float64))
        self.update(sample_rate, mean, std)
        self.register_load_state_dict_pre_hook(_keep_defaults)

    @property
    def sample_rate(self) -> int:
        return int(round(float(self.values[0])))

    @property
    def mean(self) -> float:
        return float(self.values[1])

    @property
    def std(self) -> float:
        return float(self.values[2])

    @torch.no_grad()
    def update(self, sample_rate: int, mean: float, std: float) -> None:
        """Record the rate and statistics (``std > 0``, ``sample_rate > 0``)."""
        if not (std > 0 and sample_rate > 0):
            raise ValueError(f"need sample_rate > 0 and std > 0, got {sample_rate}, {std}.")
        new = torch.tensor([float(sample_rate), float(mean), float(std)], dtype=torch.float64)
        self.values.copy_(new.to(self.values))


def _keep_defaults(
    module: FbankSettings, state_dict: dict[str, Any], prefix: str, *args: object
) -> None:
    # a checkpoint from before these settings has no "values": keep the defaults
    state_dict.setdefault(prefix + "values", module.values.detach().clone())


def bind_fbank_settings(settings: FbankSettings, data: Any, stage: str | None) -> None:
    """Record a set-up data module's front end in a method's ``fbank_settings``.

    What the fbank methods' ``Method.bind_data`` does: copy ``data.sample_rate``, ``data.mean``
    and ``data.std`` (an :class:`~selfsup_audio.data.FbankClipsDataModule` after ``setup``:
    the rate it resampled to and the statistics it normalised with) into ``settings``, so
    checkpoints and exported encoders read waveforms the way the data module did. With
    ``stage="predict"`` nothing changes: the model keeps the front end it was trained with.
    A data module without those three numbers is left alone.

    Examples:
        >>> from types import SimpleNamespace
        >>> settings, data = FbankSettings(), SimpleNamespace(sample_rate=8000, mean=1.0, std=2.0)
        >>> bind_fbank_settings(settings, data, "fit")
        >>> settings.sample_rate, settings.mean, settings.std
        (8000, 1.0, 2.0)
    """
    if stage == "predict":
        return
    values = [getattr(data, name, None) for name in ("sample_rate", "mean", "std")]
    if all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values):
        settings.update(int(values[0]), float(values[1]), float(values[2]))
