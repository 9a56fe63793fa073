"""Waveforms in, clip vectors out: the exported form of the BEATs-style encoders."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.export import exportable
from selfsup_audio.encoders.transformer import SIZES, AudioEncoder
from selfsup_audio.frontends.fbank import AUDIOSET_MEAN, AUDIOSET_STD, Fbank, FbankSettings
from selfsup_audio.pooling import band_mean, masked_mean

__all__ = ["EMBED_LAYERS", "POOLINGS", "AudioEmbedder", "clip_embedding"]

#: ``pooling=`` values: one mean over the real patches, or one mean per frequency band.
POOLINGS = ("mean", "band")
#: ``embed_layers=`` values: the last block's output, or the average of every block's output.
EMBED_LAYERS = ("last", "mean")


def clip_embedding(
    encoder: AudioEncoder,
    fbank: Tensor,
    frame_mask: Tensor | None = None,
    *,
    num_mel_bins: int | None = None,
    pooling: str = "mean",
    embed_layers: str = "last",
) -> Tensor:
    """One vector per clip from an :class:`AudioEncoder`: pooled patch outputs.

    .. math::

        h = \\begin{cases} E_L(x) & \\text{embed\\_layers = last} \\\\
            \\frac{1}{L} \\sum_{l=1}^{L} \\mathrm{LN}(E_l(x)) & \\text{embed\\_layers = mean}
            \\end{cases}, \\qquad
        v = \\frac{1}{|V|} \\sum_{t \\in V} h_t \\ \\ (\\text{pooling = mean})

    ``E_l`` is block ``l``'s output, ``LN`` a parameter-free LayerNorm and ``V`` the non-padded
    patches; ``pooling="band"`` takes that mean per frequency band and concatenates the bands
    (:func:`~selfsup_audio.pooling.band_mean`). This is what ``BEATs.embed`` (and the other
    BEATs methods' ``embed``) and :class:`AudioEmbedder` compute.

    Args:
        encoder: The encoder.
        fbank: Normalised fbanks (padded frames are 0).
        frame_mask: Frame padding mask, True = padding (default None: no padding).
        num_mel_bins: Bins of ``fbank`` (default None: ``fbank.shape[2]``).
        pooling: ``"mean"`` (default) or ``"band"``.
        embed_layers: ``"last"`` (default) or ``"mean"``.

    Shapes:
        fbank ``(B, T, n_mels)``, frame_mask ``(B, T)`` -> ``(B, dim)`` (``"mean"``) or
        ``(B, (n_mels / patch_freq) dim)`` (``"band"``).

    Examples:
        >>> enc = AudioEncoder("tiny", patch=(4, 16))
        >>> clip_embedding(enc, torch.zeros(2, 8, 32), pooling="band").shape
        torch.Size([2, 128])
    """
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}.")
    if embed_layers not in EMBED_LAYERS:
        raise ValueError(f"embed_layers must be one of {EMBED_LAYERS}, got {embed_layers!r}.")
    if embed_layers == "mean":
        tokens, pad = encoder.embed_patches(fbank, frame_mask)
        layers = encoder.encode_layers(tokens, pad)
        # each block normalised first: the pre-LN residual stream grows with depth
        x = torch.stack([F.layer_norm(h, h.shape[-1:]) for h in layers]).mean(dim=0)
    else:
        x, pad = encoder(fbank, frame_mask)
    if pooling == "band":
        bins = fbank.shape[2] if num_mel_bins is None else num_mel_bins
        return band_mean(x, pad, bins // encoder.patch[1])
    return masked_mean(x, pad)


class _PlainAudioEncoder(AudioEncoder):
    """An :class:`AudioEncoder` whose state dict is weights only: inside an
    :class:`AudioEmbedder` the architecture is in ``config.json``, not in ``_extra_state``."""

    get_extra_state = nn.Module.get_extra_state  # type: ignore[assignment]
    set_extra_state = nn.Module.set_extra_state  # type: ignore[assignment]


def _encoder_from_config(config: Mapping[str, Any]) -> _PlainAudioEncoder:
    known = set(inspect.signature(AudioEncoder.__init__).parameters) - {"self", "size"}
    unknown = sorted(set(config) - known)
    if unknown:
        raise ValueError(f"unknown AudioEncoder options {unknown}; known: {sorted(known)}.")
    options = {k: v for k, v in config.items() if k != "patch"}
    patch = config.get("patch", (16, 16))
    return _PlainAudioEncoder(next(iter(SIZES)), **options, patch=(int(patch[0]), int(patch[1])))


@exportable("audio:audio_embedder")
class AudioEmbedder(nn.Module):
    """Mono waveforms in, one vector per clip out: Kaldi fbank front end + patch transformer +
    pooling. What ``selfsup export`` writes for the BEATs methods.

    ``forward(waveforms, lengths)`` computes :func:`~selfsup_audio.frontends.kaldi_fbank` of each
    clip (BEATs' settings at ``sample_rate``), normalises it with ``mean``/``std`` (the
    statistics the training data module used), pads the batch with a frame mask, runs the
    encoder and pools with :func:`clip_embedding`: the same vectors as ``selfsup embed`` on a
    data module that reads the same files. :meth:`embed_fbank` and :meth:`encode` take
    normalised fbanks directly (``(B, T, num_mel_bins)`` + padding mask), :meth:`encode` gives
    the per-patch outputs.

    Input: float waveforms in ``[-1, 1]``, mono, at ``sample_rate`` (16 kHz unless the data
    module said otherwise; read files with ``selfsup_audio.frontends.load_waveform(path,
    embedder.sample_rate)``, which downmixes and resamples). The fbank runs on the CPU, clip by
    clip (``torchaudio.compliance.kaldi`` does not batch); the encoder runs where the module is.

    Args:
        encoder: The :class:`AudioEncoder` architecture (its ``config``: ``dim``, ``depth``,
            ``heads``, ``ffn_dim``, ``patch``, ...; default None: the ``tiny`` preset).
        sample_rate: Input rate in Hz (default 16000).
        num_mel_bins: Mel bins (default 128).
        mean, std: Fbank normalisation (default BEATs' AudioSet constants).
        pooling: ``"mean"`` (default) or ``"band"`` (see :func:`clip_embedding`).
        embed_layers: ``"last"`` (default) or ``"mean"``.

    Shapes:
        waveforms ``(B, N)`` (or ``(N,)``), lengths ``(B,)`` samples (default: all ``N``)
        -> ``(B, D)``.

    Raises:
        ValueError: unknown encoder options, pooling or layers; waveforms that are not
            ``(B, N)`` floats; lengths out of range.

    Examples:
        >>> embedder = AudioEmbedder({"patch": [4, 16]}, num_mel_bins=32)
        >>> embedder(torch.zeros(2, 8000), torch.tensor([8000, 4000])).shape
        torch.Size([2, 64])
    """

    def __init__(
        self,
        encoder: Mapping[str, Any] | None = None,
        sample_rate: int = 16000,
        num_mel_bins: int = 128,
        mean: float = AUDIOSET_MEAN,
        std: float = AUDIOSET_STD,
        pooling: str = "mean",
        embed_layers: str = "last",
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}.")
        if embed_layers not in EMBED_LAYERS:
            raise ValueError(f"embed_layers must be one of {EMBED_LAYERS}, got {embed_layers!r}.")
        self.encoder = _encoder_from_config(encoder or {})
        if num_mel_bins % self.encoder.patch[1]:
            raise ValueError(
                f"num_mel_bins ({num_mel_bins}) must be a multiple of the frequency patch size "
                f"({self.encoder.patch[1]})."
            )
        self.frontend = Fbank(
            sample_rate, num_mel_bins, mean, std, multiple_of=self.encoder.patch[0]
        )
        self.sample_rate = sample_rate
        self.num_mel_bins = num_mel_bins
        self.pooling = pooling
        self.embed_layers = embed_layers

    @classmethod
    def from_encoder(
        cls,
        encoder: AudioEncoder,
        settings: FbankSettings | None = None,
        *,
        num_mel_bins: int = 128,
        pooling: str = "mean",
        embed_layers: str = "last",
    ) -> AudioEmbedder:
        """An embedder holding a copy of ``encoder``'s weights, with the front end of
        ``settings`` (default: 16 kHz, AudioSet statistics)."""
        settings = settings if settings is not None else FbankSettings()
        embedder = cls(
            dict(encoder.config),
            sample_rate=settings.sample_rate,
            num_mel_bins=num_mel_bins,
            mean=settings.mean,
            std=settings.std,
            pooling=pooling,
            embed_layers=embed_layers,
        )
        weights = {k: v for k, v in encoder.state_dict().items() if not k.endswith("_extra_state")}
        embedder.encoder.load_state_dict(weights)
        return embedder.to(next(encoder.parameters()).device).train(encoder.training)

    @staticmethod
    def _zero_padding(fbank: Tensor, padding_mask: Tensor | None) -> Tensor:
        # as the methods do (parse_fbank_batch): padding must be the normalised mean, 0
        return fbank if padding_mask is None else fbank.masked_fill(padding_mask[..., None], 0.0)

    def encode(self, fbank: Tensor, padding_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Per-patch outputs ``(B, N, dim)`` and the patch padding mask ``(B, N)`` of normalised
        fbanks ``(B, T, num_mel_bins)`` (frame padding mask ``(B, T)``, True = padding)."""
        return self.encoder(self._zero_padding(fbank, padding_mask), padding_mask)

    def embed_fbank(self, fbank: Tensor, padding_mask: Tensor | None = None) -> Tensor:
        """Clip vectors of normalised fbanks ``(B, T, num_mel_bins)`` (frame padding mask
        ``(B, T)``, True = padding)."""
        return clip_embedding(
            self.encoder,
            self._zero_padding(fbank, padding_mask),
            padding_mask,
            num_mel_bins=self.num_mel_bins,
            pooling=self.pooling,
            embed_layers=self.embed_layers,
        )

    def forward(self, waveforms: Tensor, lengths: Tensor | None = None) -> Tensor:
        if waveforms.dim() == 1:
            waveforms = waveforms[None]
        if waveforms.dim() != 2 or not waveforms.is_floating_point():
            raise ValueError(
                f"AudioEmbedder expects mono float waveforms (B, N) at {self.sample_rate} Hz, got "
                f"{tuple(waveforms.shape)} {waveforms.dtype}; read files with "
                "selfsup_audio.frontends.load_waveform(path, embedder.sample_rate)."
            )
        if lengths is not None:
            lengths = torch.as_tensor(lengths)
            if lengths.shape != waveforms.shape[:1] or bool(
                ((lengths < 1) | (lengths > waveforms.shape[1])).any()
            ):
                raise ValueError(
                    f"lengths must be (B,) = ({waveforms.shape[0]},) sample counts in "
                    f"[1, {waveforms.shape[1]}], got {lengths.tolist()}."
                )
        fbank, mask = self.frontend(waveforms, lengths)
        return self.embed_fbank(fbank, mask)
