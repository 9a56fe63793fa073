"""COLA (Saeed, Grangier and Zeghidour, arXiv 2010.10915): contrastive learning of audio."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from selfsup.checks import unpack_labelled
from selfsup.encoders import ProjectionHead
from selfsup.experiment.method import MalformedBatchError, Method
from selfsup.losses import info_nce
from selfsup_audio.augment.speaker import random_frequency_warp
from selfsup_audio.batch import check_finite_rows
from selfsup_audio.encoders.convnet import AudioConvNet, LogMelConvNet, waveform_features
from selfsup_audio.frontends.log_mel import LogMelSpectrogram

__all__ = ["COLA", "random_crops"]


def random_crops(waveform: Tensor, length: int) -> Tensor:
    """One random window of ``length`` samples per clip (offsets from torch's global RNG).

    Shapes:
        waveform: ``(B, T)`` with ``T >= length`` -> ``(B, length)``.
    """
    b, t = waveform.shape
    offsets = torch.randint(0, t - length + 1, (b,), device=waveform.device)
    index = offsets[:, None] + torch.arange(length, device=waveform.device)[None, :]
    return waveform.gather(1, index)


class COLA(Method):
    """COLA: two random crops of each clip, a log-mel ConvNet encoder and a bilinear
    similarity trained to pick the matching crop among the batch.

    .. math::

        g(x) = \\tanh(\\mathrm{LN}(W_g f(\\mathrm{logmel}(x)))), \\quad
        s(x, x') = g(x)^\\top W g(x'), \\quad
        L = -\\frac{1}{B} \\sum_i \\log \\frac{\\exp s(a_i, p_i)}{\\sum_j \\exp s(a_i, p_j)}

    where ``a_i, p_i`` are two crops of clip ``i`` and the other clips' crops ``p_j`` are the
    negatives (computed as :func:`selfsup.losses.info_nce` of ``g(a)`` against ``W g(p)`` with
    ``normalize=False`` and temperature 1). Crop offsets come from torch's global RNG.

    Speaker-perturbed views (``view_warp = a > 0``): the log-mel spectrogram of every crop (both
    views of every clip) is frequency-warped by its own factor drawn from ``U[1 - a, 1 + a]``
    (:func:`~selfsup_audio.augment.random_frequency_warp`, vocal-tract-length perturbation on
    the mel-bin axis, from torch's global RNG after the crop offsets), so the two views of a
    clip carry different formant scales and the loss, which must match them, rewards features
    that ignore that scale. Only training is perturbed: :meth:`embed`, :meth:`representations`
    and the exported encoder see the clean spectrogram. ``view_warp = 0`` (the default) draws
    nothing and is the plain COLA above, step for step.

    Evaluation features (:meth:`embed`) are the encoder output ``f`` of the whole clip; for
    ``{"waveform", "lengths"}`` batches (``AudioFolderDataModule(features="waveform")``) of each
    clip's own samples, so padding does not change a clip's vector. :meth:`export_encoder` gives
    the log-mel front end + ConvNet (:class:`~selfsup_audio.encoders.LogMelConvNet`, waveforms
    in, ``f`` out); the projection head and the bilinear similarity stay behind.

    Args:
        sample_rate: Sampling rate in Hz (default 16000).
        crop_samples: Length of each crop in samples (default 15360 = 960 ms at 16 kHz).
        n_fft: FFT size (default 512).
        win_length: STFT window in samples (default 400 = 25 ms).
        hop_length: STFT hop in samples (default 160 = 10 ms).
        n_mels: Mel bands (default 64).
        f_min: Lowest mel edge in Hz (default 60).
        f_max: Highest mel edge in Hz; None for Nyquist (default 7800).
        width: Encoder base width (default 32).
        feature_dim: Encoder output size ``f`` (default 512).
        projection_dim: Size of ``g`` (default 512, the paper's value).
        chunk_size: Stream the loss's score matrix in blocks of this many columns
            (default None: dense).
        view_warp: Half-width ``a`` of each view's frequency-warp factor ``U[1 - a, 1 + a]``
            (default 0: no warp); ``0 <= a < 1 - warp_cutoff`` (< 0.2 at the default cutoff)
            so that the warp stays monotone. 0.1 is VTLP's usual +-10 %.
        warp_cutoff: Knee of the piecewise-linear warp as a fraction of the mel axis
            (default 0.8; see :func:`~selfsup_audio.augment.frequency_warp`).

    Shapes:
        batch: waveforms ``(B, T)`` floating point, ``B >= 2``, ``T >= crop_samples``, or a
            ``(waveforms, labels)`` pair (labels ignored).
        embed: ``(B, T')`` waveforms of any length ``T' >= win_length``, or ``{"waveform":
            (B, T'), "lengths": (B,)}`` (every length ``>= win_length``), or a pair of either
            with labels -> ``(B, feature_dim)``.

    Raises:
        ValueError: at construction, ``crop_samples < win_length``, or ``view_warp`` /
            ``warp_cutoff`` out of range (the message gives the allowed range).
        MalformedBatchError: the batch is not a floating ``(B, T)`` tensor with ``B >= 2`` and
            ``T >= crop_samples``.

    Examples:
        >>> cola = COLA(sample_rate=8000, crop_samples=800, n_fft=128, win_length=128,
        ...             hop_length=64, n_mels=16, f_min=0.0, f_max=None, width=4,
        ...             feature_dim=16, projection_dim=8, view_warp=0.1)
        >>> out = cola.training_losses(torch.randn(4, 1200))
        >>> sorted(out), out["loss"].shape
        (['accuracy', 'loss'], torch.Size([]))
        >>> cola.eval().embed(torch.randn(2, 1600)).shape  # clean clips, no warp
        torch.Size([2, 16])
    """

    modality = "audio"

    def __init__(
        self,
        sample_rate: int = 16000,
        crop_samples: int = 15360,
        n_fft: int = 512,
        win_length: int = 400,
        hop_length: int = 160,
        n_mels: int = 64,
        f_min: float = 60.0,
        f_max: float | None = 7800.0,
        width: int = 32,
        feature_dim: int = 512,
        projection_dim: int = 512,
        chunk_size: int | None = None,
        view_warp: float = 0.0,
        warp_cutoff: float = 0.8,
    ) -> None:
        super().__init__()
        if crop_samples < win_length:
            raise ValueError(f"crop_samples ({crop_samples}) must be >= win_length ({win_length}).")
        if not 0.0 < warp_cutoff < 1.0:
            raise ValueError(
                f"warp_cutoff must be in (0, 1), got {warp_cutoff}; the default 0.8 puts the "
                "warp's knee at 80 % of the mel axis."
            )
        if not 0.0 <= view_warp < 1.0 - warp_cutoff:
            raise ValueError(
                f"view_warp must be in [0, {1.0 - warp_cutoff:.4g}) (below 1 - warp_cutoff, so "
                f"every factor U[1 - view_warp, 1 + view_warp] keeps the warp monotone), got "
                f"{view_warp}; use e.g. 0.1 (VTLP's +-10 %), 0 to turn the warp off, or lower "
                "warp_cutoff to allow a wider range."
            )
        self.crop_samples = crop_samples
        self.view_warp = float(view_warp)
        self.warp_cutoff = float(warp_cutoff)
        self.win_length = win_length
        self.chunk_size = chunk_size
        self.frontend = LogMelSpectrogram(
            sample_rate=sample_rate,
            n_fft=n_fft,
            win_length=win_length,
            hop_length=hop_length,
            n_mels=n_mels,
            f_min=f_min,
            f_max=f_max,
        )
        self.encoder = AudioConvNet(width=width, out_dim=feature_dim)
        self._encoder_args = {
            "sample_rate": sample_rate,
            "n_fft": n_fft,
            "win_length": win_length,
            "hop_length": hop_length,
            "n_mels": n_mels,
            "f_min": f_min,
            "f_max": f_max,
            "width": width,
            "out_dim": feature_dim,
        }
        # Linear-LayerNorm-Tanh; keys head.0.* (Linear), head.1.* (LayerNorm) as before
        self.head = ProjectionHead(
            [(feature_dim, projection_dim, nn.LayerNorm(projection_dim), nn.Tanh())]
        )
        self.bilinear = nn.Linear(projection_dim, projection_dim, bias=False)

    def waveforms(self, batch: Any, *, min_samples: int) -> Tensor:
        """The ``(B, T)`` waveforms of a batch, validated."""
        wave, lengths = self.clips(batch, min_samples=min_samples)
        if lengths is not None and bool((lengths != wave.shape[1]).any()):
            raise MalformedBatchError(
                f"{type(self).__name__} trains on equal-length clips (B, T); got clips of "
                f"lengths {lengths.tolist()} padded to {wave.shape[1]}: use the training loader "
                "of AudioFolderDataModule(features='waveform'), which cuts clip_samples windows."
            )
        return wave

    def clips(self, batch: Any, *, min_samples: int) -> tuple[Tensor, Tensor | None]:
        """``(waveforms (B, T), lengths (B,) or None)`` of a batch, validated: a tensor, a
        ``{"waveform", "lengths"}`` dict, or an ``(inputs, labels)`` pair of either."""
        name = type(self).__name__
        wave, _, where = unpack_labelled(batch, name, "waveforms (B, T)")
        lengths = None
        if isinstance(wave, Mapping):
            if "waveform" not in wave:
                raise MalformedBatchError(
                    f"{name} reads waveforms: a (B, T) tensor or a dict with key 'waveform' (and "
                    f"optionally 'lengths'), got keys {sorted(map(str, wave))}; fbank batches are "
                    "for the BEATs methods (AudioFolderDataModule(features='waveform') gives "
                    "waveforms)."
                )
            wave, lengths = wave["waveform"], wave.get("lengths")
            where += "['waveform']"
        if not isinstance(wave, Tensor):
            raise MalformedBatchError(
                f"{name} expects waveforms as a tensor (B, T), got {type(wave).__name__}."
            )
        if wave.dim() == 3 and wave.shape[1] == 1:
            raise MalformedBatchError(
                f"{name} expects mono waveforms (B, T), got {tuple(wave.shape)}; squeeze the "
                "channel dimension (waveforms.squeeze(1))."
            )
        if wave.dim() != 2:
            raise MalformedBatchError(
                f"{name} expects waveforms of shape (B, T), got {tuple(wave.shape)}; mix "
                "multi-channel audio down to mono first."
            )
        if not wave.is_floating_point():
            raise MalformedBatchError(
                f"{name} expects floating-point waveforms, got {wave.dtype}; convert int16 PCM "
                "with wave.float() / 32768."
            )
        check_finite_rows(wave, name, where, "waveforms")
        if lengths is not None:
            lengths = torch.as_tensor(lengths, device=wave.device)
            if (
                lengths.shape != wave.shape[:1]
                or lengths.is_floating_point()
                or bool((lengths > wave.shape[1]).any() | (lengths < 1).any())
            ):
                raise MalformedBatchError(
                    f"{name}: 'lengths' must be (B,) = ({wave.shape[0]},) integer sample counts "
                    f"from 1 to T = {wave.shape[1]}, got {lengths.tolist()}."
                )
        sizes = torch.full((wave.shape[0],), wave.shape[1]) if lengths is None else lengths
        short = (sizes < min_samples).nonzero().flatten().tolist()
        if short:
            what = "a crop" if min_samples == self.crop_samples else "one STFT window"
            raise MalformedBatchError(
                f"{name} needs clips of at least {min_samples} samples ({what}), got "
                f"{sizes[short].tolist()} samples in clip(s) {short[:10]} of the batch; drop "
                "those clips or zero-pad them to that length."
            )
        return wave, lengths

    def features(self, waveform: Tensor) -> Tensor:
        """Encoder features ``f(logmel(x))`` ``(B, feature_dim)``."""
        return self.encoder(self.frontend(waveform))

    def warp_views(self, spectrogram: Tensor) -> tuple[Tensor, Tensor]:
        """Frequency-warp every row of a log-mel batch by its own factor from
        ``U[1 - view_warp, 1 + view_warp]`` (torch's global RNG); the identity, with factors 1
        and nothing drawn, when ``view_warp == 0``.

        Shapes:
            spectrogram ``(N, n_mels, frames)`` (the front end's layout) -> warped
            ``(N, n_mels, frames)``, factors ``(N,)``.

        Examples:
            >>> cola = COLA(sample_rate=8000, crop_samples=800, n_fft=128, win_length=128,
            ...             hop_length=64, n_mels=16, f_min=0.0, f_max=None, width=4,
            ...             feature_dim=16, projection_dim=8, view_warp=0.1)
            >>> warped, alpha = cola.warp_views(torch.randn(6, 16, 13))
            >>> warped.shape, bool(((alpha >= 0.9) & (alpha <= 1.1)).all())
            (torch.Size([6, 16, 13]), True)
        """
        if self.view_warp == 0:
            return spectrogram, spectrogram.new_ones(spectrogram.shape[0])
        warped, alpha = random_frequency_warp(
            spectrogram.transpose(1, 2),  # (N, frames, n_mels): the warp's (B, T, F)
            low=1.0 - self.view_warp,
            high=1.0 + self.view_warp,
            cutoff=self.warp_cutoff,
        )
        return warped.transpose(1, 2), alpha

    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        """The bilinear InfoNCE loss between two crops of every clip (each view
        frequency-warped on its own when ``view_warp > 0``) and its top-1 accuracy.

        Shapes:
            batch: ``(B, T)`` waveforms (or as the class says) -> ``{"loss": (), "accuracy":
            ()}``.
        """
        wave = self.waveforms(batch, min_samples=self.crop_samples)
        if wave.shape[0] < 2:
            raise MalformedBatchError(
                f"{type(self).__name__} needs at least 2 clips per batch (in-batch negatives), "
                f"got {wave.shape[0]}; use drop_last=True in the DataLoader."
            )
        crops = torch.cat([random_crops(wave, self.crop_samples) for _ in range(2)])
        spectrogram, _ = self.warp_views(self.frontend(crops))
        anchor, positive = self.head(self.encoder(spectrogram)).chunk(2)
        key = self.bilinear(positive)
        loss = info_nce(anchor, key, 1.0, normalize=False, chunk_size=self.chunk_size)
        with torch.no_grad():
            scores = anchor @ key.T
            accuracy = scores.argmax(1) == torch.arange(len(scores), device=scores.device)
        return {"loss": loss, "accuracy": accuracy.float().mean()}

    def representations(self, batch: Any) -> Tensor:
        """Encoder features of the whole training clips, detached."""
        return self.features(self.waveforms(batch, min_samples=self.crop_samples)).detach()

    def embed(self, batch: Any) -> Tensor:
        """Encoder features of whole clips: ``(B, T)``, ``{"waveform", "lengths"}`` (each clip
        over its own samples) or an ``(inputs, labels)`` pair."""
        wave, lengths = self.clips(batch, min_samples=self.win_length)
        return waveform_features(self.frontend, self.encoder, wave, lengths)

    def export_encoder(self) -> LogMelConvNet:
        """The log-mel front end + ConvNet (this method's own modules): waveforms in,
        ``(B, feature_dim)`` out, as :meth:`embed`."""
        encoder = LogMelConvNet(**self._encoder_args)
        encoder.frontend = self.frontend
        encoder.encoder = self.encoder
        return encoder.train(self.training)
