"""Downstream use of a pre-trained encoder: frozen embeddings, linear probe, fine-tuning head."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.checkpoints import find_module_prefix, read_state_dict
from selfsup.metrics import LinearProbeResult, linear_probe
from selfsup_audio.batch import parse_fbank_batch
from selfsup_audio.encoders.transformer import AudioEncoder
from selfsup_audio.pooling import masked_mean

__all__ = ["AudioClassifier", "embed_loader", "probe_embeddings"]


@torch.no_grad()
def embed_loader(method: Any, loader: Iterable[Any]) -> tuple[Tensor, Tensor]:
    """Frozen ``method.embed`` features and labels of a loader of ``(inputs, labels)`` pairs.

    Shapes:
        -> ``(N, D)``, ``(N,)``.
    """
    was_training = getattr(method, "training", False)
    method.eval()
    feats, labels = [], []
    for inputs, y in loader:
        feats.append(method.embed(inputs))
        labels.append(torch.as_tensor(y).reshape(-1))
    if was_training:
        method.train()
    return torch.cat(feats), torch.cat(labels).long()


def probe_embeddings(
    method: Any, train_loader: Iterable[Any], test_loader: Iterable[Any], **kwargs: Any
) -> LinearProbeResult:
    """Linear probe (core :func:`selfsup.metrics.linear_probe`) on frozen embeddings."""
    x_tr, y_tr = embed_loader(method, train_loader)
    x_te, y_te = embed_loader(method, test_loader)
    return linear_probe(x_tr, y_tr, x_te, y_te, **kwargs)


class AudioClassifier(nn.Module):
    """Fine-tuning model: encoder -> dropout -> per-patch ``Linear(D, C)`` -> mean over real
    patches (BEATs' ``finetuned_model`` head).

    .. math::

        s = \\frac{1}{|V|} \\sum_{t \\in V} W\\, \\mathrm{drop}(h_t) + b

    Softmax cross-entropy for single-label tasks, sigmoid BCE for multi-label tasks or soft
    (mixup) targets (:meth:`loss`).

    Args:
        num_classes: Classes ``C`` (default 10).
        checkpoint: Encoder source: a ``selfsup fit`` checkpoint of a BEATs run, a state dict
            file saved from one, or an official BEATs ``.pt`` (mapped by
            :func:`selfsup_audio.interop.load_official_beats`); default None: ``encoder``.
        encoder: An encoder instance (default None: a fresh ``tiny`` one unless ``checkpoint``).
        multi_label: Sigmoid/BCE instead of softmax/CE (default False).
        dropout: Dropout before the head (default 0.1).
        num_mel_bins: Input bins (default 128).

    Shapes:
        batch (see :func:`selfsup_audio.batch.parse_fbank_batch`) -> logits ``(B, C)``.
    """

    def __init__(
        self,
        num_classes: int = 10,
        checkpoint: str | None = None,
        encoder: AudioEncoder | None = None,
        multi_label: bool = False,
        dropout: float = 0.1,
        num_mel_bins: int = 128,
    ) -> None:
        super().__init__()
        if checkpoint is not None:
            state = read_state_dict(checkpoint)
            if "patch_embedding.weight" in state:
                from selfsup_audio.interop import load_official_beats

                encoder = load_official_beats(checkpoint).encoder
            else:
                encoder = AudioEncoder.from_state_dict(
                    state, find_module_prefix(state, "encoder", "ffn_dim")
                )
        self.encoder = encoder if encoder is not None else AudioEncoder("tiny")
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.encoder.dim, num_classes)
        self.multi_label = multi_label
        self.num_mel_bins = num_mel_bins

    def forward(self, batch: Any) -> Tensor:
        fbank, frame_mask = parse_fbank_batch(batch, type(self).__name__, self.num_mel_bins)
        x, pad = self.encoder(fbank, frame_mask)
        return masked_mean(self.head(self.dropout(x)), pad)

    def loss(self, logits: Tensor, targets: Tensor, label_smoothing: float = 0.0) -> Tensor:
        """CE for class ids ``(B,)``; BCE-with-logits for float targets ``(B, C)`` (multi-label,
        or mixup's soft targets with ``multi_label=False`` -> soft-target CE)."""
        if targets.is_floating_point():
            if self.multi_label:
                return F.binary_cross_entropy_with_logits(logits, targets)
            return -(targets * F.log_softmax(logits, dim=-1)).sum(-1).mean()
        if self.multi_label:
            raise ValueError("multi_label=True needs float (B, C) multi-hot targets.")
        return F.cross_entropy(logits, targets, label_smoothing=label_smoothing)

    def predict(self, batch: Any) -> Tensor:
        """Class ids ``(B,)`` (softmax) or probabilities ``(B, C)`` (multi-label)."""
        logits = self(batch)
        return torch.sigmoid(logits) if self.multi_label else logits.argmax(-1)
