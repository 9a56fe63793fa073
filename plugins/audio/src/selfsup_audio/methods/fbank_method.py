"""What every fbank-trained audio method shares: batch parsing, the recorded front end, and
the trunk that :meth:`embed` pools and :meth:`export_encoder` ships."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from selfsup.experiment.method import Method
from selfsup_audio.batch import parse_fbank_batch
from selfsup_audio.encoders.embedder import AudioEmbedder, clip_embedding
from selfsup_audio.encoders.transformer import AudioEncoder
from selfsup_audio.frontends.fbank import FbankSettings, bind_fbank_settings

__all__ = ["FbankMethod"]


class FbankMethod(Method):
    """Base of the audio methods trained on Kaldi fbanks (BEATs, its tokenizer training and
    fine-tuning, audio DINO).

    A subclass sets ``num_mel_bins`` and ``fbank_settings`` (a
    :class:`~selfsup_audio.frontends.FbankSettings`, recorded from the data module by
    :meth:`bind_data`), may set ``pooling`` / ``embed_layers`` (default ``"mean"`` /
    ``"last"``) and overrides :meth:`embedding_encoder` when the trunk it ships is not
    ``self.encoder``. Evaluation then needs nothing more: :meth:`embed` pools that trunk's
    outputs on whole clips (:func:`~selfsup_audio.encoders.clip_embedding`) and
    :meth:`export_encoder` ships it with the training front end and the same pooling.

    Shapes:
        batch: ``{"fbank": (B, T, n_mels), "padding_mask": (B, T)}`` (extra keys ignored), a bare
            fbank tensor, or an ``(inputs, labels)`` pair.
        embed: -> ``(B, dim)`` (``"mean"``) or ``(B, F' dim)`` (``"band"``).
    """

    modality = "audio"
    num_mel_bins: int
    fbank_settings: FbankSettings
    pooling: str = "mean"
    embed_layers: str = "last"

    def embedding_encoder(self) -> AudioEncoder:
        """The trunk :meth:`embed` pools and :meth:`export_encoder` ships (default
        ``self.encoder``)."""
        return self.encoder  # type: ignore[return-value]

    def _inputs(self, batch: Any) -> tuple[Tensor, Tensor | None]:
        return parse_fbank_batch(batch, type(self).__name__, self.num_mel_bins)

    def bind_data(self, data: Any, stage: str | None) -> None:
        """Record the set-up data module's sample rate and normalisation in ``fbank_settings``
        (:func:`~selfsup_audio.frontends.fbank.bind_fbank_settings`; not in ``"predict"``), so
        checkpoints and :meth:`export_encoder` read waveforms as the data module did."""
        bind_fbank_settings(self.fbank_settings, data, stage)

    def embed(self, batch: Any) -> Tensor:
        """Clip embeddings of :meth:`embedding_encoder` on whole clips: the mean over
        non-padded patches (``pooling="mean"``) or per-band means (``"band"``), of the last
        block's output or of the layer average (``embed_layers``)."""
        fbank, frame_mask = self._inputs(batch)
        return clip_embedding(
            self.embedding_encoder(),
            fbank,
            frame_mask,
            num_mel_bins=self.num_mel_bins,
            pooling=self.pooling,
            embed_layers=self.embed_layers,
        )

    def representations(self, batch: Any) -> Tensor:
        return self.embed(batch).detach()

    def export_encoder(self) -> AudioEmbedder:
        """:meth:`embedding_encoder` (a copy of its weights) with the training front end and
        :meth:`embed`'s pooling: waveforms at ``fbank_settings.sample_rate`` in, :meth:`embed`'s
        vectors out."""
        return AudioEmbedder.from_encoder(
            self.embedding_encoder(),
            self.fbank_settings,
            num_mel_bins=self.num_mel_bins,
            pooling=self.pooling,
            embed_layers=self.embed_layers,
        )
