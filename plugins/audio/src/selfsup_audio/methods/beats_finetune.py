"""Supervised fine-tuning of a pre-trained audio encoder with BEATs' recipe (layer-wise
learning-rate decay, SpecAugment, mixup, per-patch linear head with mean pooling)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from selfsup.experiment.method import MalformedBatchError
from selfsup.optim import layer_decay_param_groups
from selfsup_audio.augment.spec_augment import mixup, spec_augment
from selfsup_audio.batch import parse_fbank_batch
from selfsup_audio.encoders.transformer import AudioEncoder
from selfsup_audio.evaluation.downstream import AudioClassifier
from selfsup_audio.frontends.fbank import FbankSettings
from selfsup_audio.methods.fbank_method import FbankMethod

__all__ = ["BEATsFineTuning", "encoder_layer_id"]


def encoder_layer_id(name: str, depth: int, norm_first: bool) -> int:
    """Layer id of an :class:`AudioEncoder` parameter (name relative to the encoder) for
    layer-wise learning-rate decay, BEiT's convention with ``L = depth + 1``:

    - ``patch_embed.*`` and the positional convolution: 0 (the embeddings);
    - ``transformer.layers.{i}.*``: ``i + 1``;
    - the input LayerNorm of a post-LN stack (BEATs'): 0; the final LayerNorm of a pre-LN stack
      and the relative position bias shared by every block: ``L`` (full rate, as BEiT does
      for its shared ``rel_pos_bias``).
    """
    if name.startswith(("patch_embed.", "transformer.pos_conv.")):
        return 0
    if name.startswith("transformer.layers."):
        return int(name.split(".")[2]) + 1
    if name.startswith("transformer.layer_norm."):
        return depth + 1 if norm_first else 0
    return depth + 1


def _labels(batch: Any, name: str) -> Tensor:
    if isinstance(batch, list | tuple) and len(batch) == 2:
        return torch.as_tensor(batch[1])
    if isinstance(batch, dict) and "label" in batch:
        return torch.as_tensor(batch["label"])
    raise MalformedBatchError(
        f"{name} needs labels: a dict with key 'label' (FSDDDataModule's batches) or an "
        "(inputs, labels) pair."
    )


class BEATsFineTuning(FbankMethod):
    """Fine-tune a pre-trained encoder on labelled clips: :class:`AudioClassifier` (dropout ->
    per-patch ``Linear(D, C)`` -> mean over real patches, BEATs' ``finetuned_model`` head)
    trained with cross-entropy (or BCE for ``multi_label``), SpecAugment-style masking and
    optional mixup on the training batches, and layer-wise learning-rate decay
    (:meth:`optimizer_groups`, which ``SSLModule`` applies with any optimiser of a
    ``selfsup fit`` config, or :meth:`param_groups` for a hand-written loop).

    BEATs' fine-tuning settings used as defaults (the official release has no fine-tuning
    script; these come from its checkpoint config and paper): head dropout 0.1
    (``predictor_dropout``), layer-wise decay 0.6 (``layer_wise_gradient_decay_ratio``, which
    the official code applies as a gradient multiplier at each block input; here it is the
    per-layer learning-rate ratio ``lr * 0.6^(L - l)``), SpecAugment time/frequency masking,
    cross-entropy for single-label and BCE for multi-label targets, mixup off by default
    (mixed targets use soft-target cross-entropy). Not reproduced: layer drop (0.05).

    :meth:`embed` is the mean of the fine-tuned encoder's outputs over non-padded patches (the
    features under the classification head); :meth:`export_encoder` gives that fine-tuned
    encoder with the training front end as an :class:`~selfsup_audio.encoders.AudioEmbedder`
    (waveforms in, :meth:`embed`'s vectors out). The classification head is not exported:
    ``AudioClassifier`` in the training checkpoint has it (``.predict``).

    Args:
        num_classes: Classes ``C`` (default 10).
        checkpoint: Encoder source: a ``selfsup fit`` checkpoint of a BEATs iteration, a state
            dict saved from one, or an official BEATs ``.pt`` (default None: a fresh encoder of
            ``size`` / ``patch``).
        size: Fresh encoder size when there is no checkpoint (default ``"tiny"``).
        patch: Fresh encoder patch size (default ``(16, 16)``).
        num_mel_bins: Input bins (default 128).
        multi_label: Sigmoid/BCE (default False: softmax/CE).
        dropout: Dropout before the head (default 0.1).
        layer_decay: Per-layer learning-rate ratio in ``(0, 1]`` (default 0.6).
        label_smoothing: CE label smoothing for class ids (default 0).
        freq_masks, freq_width, time_masks, time_width: SpecAugment bands per clip and their
            maximum widths in mel bins / frames (defaults 2, 24, 2, 20; 0 disables).
        mixup_alpha: Mixup ``Beta(alpha, alpha)``; 0 disables (default).

    Shapes:
        batch ``{"fbank": (B, T, n_mels), "padding_mask": (B, T), "label": (B,)}`` (or
        ``((fbank dict), labels)``) -> ``{"loss", "accuracy"}``; embed -> ``(B, D)``.

    Raises:
        MalformedBatchError: malformed fbank batches or no labels.
        ValueError: ``layer_decay`` outside ``(0, 1]``, negative mixup alpha.
    """

    def __init__(
        self,
        num_classes: int = 10,
        checkpoint: str | None = None,
        size: str = "tiny",
        patch: tuple[int, int] = (16, 16),
        num_mel_bins: int = 128,
        multi_label: bool = False,
        dropout: float = 0.1,
        layer_decay: float = 0.6,
        label_smoothing: float = 0.0,
        freq_masks: int = 2,
        freq_width: int = 24,
        time_masks: int = 2,
        time_width: int = 20,
        mixup_alpha: float = 0.0,
    ) -> None:
        super().__init__()
        if not 0.0 < layer_decay <= 1.0:
            raise ValueError(f"layer_decay must be in (0, 1], got {layer_decay}.")
        if mixup_alpha < 0:
            raise ValueError(f"mixup_alpha must be >= 0 (0 disables), got {mixup_alpha}.")
        encoder = None if checkpoint is not None else AudioEncoder(size, patch=patch)
        self.classifier = AudioClassifier(
            num_classes, checkpoint, encoder, multi_label, dropout, num_mel_bins
        )
        self.num_classes = num_classes
        self.num_mel_bins = num_mel_bins
        self.fbank_settings = FbankSettings()
        self.layer_decay = float(layer_decay)
        self.label_smoothing = label_smoothing
        self.spec = {
            "freq_masks": freq_masks,
            "freq_width": freq_width,
            "time_masks": time_masks,
            "time_width": time_width,
        }
        self.mixup_alpha = float(mixup_alpha)

    @property
    def encoder(self) -> AudioEncoder:
        """The classifier's encoder (one module, one set of state-dict keys)."""
        return self.classifier.encoder

    @property
    def num_layers(self) -> int:
        """``L = depth + 1``: the head's layer id."""
        return int(self.encoder.config["depth"]) + 1

    def layer_id(self, name: str) -> int:
        """Layer id of a parameter of this method (name relative to the method)."""
        prefix = "classifier.encoder."
        if name.startswith(prefix):
            c = self.encoder.config
            return encoder_layer_id(name[len(prefix) :], c["depth"], c["norm_first"])
        return self.num_layers  # the head

    def param_groups(
        self, lr: float, weight_decay: float = 0.01, layer_decay: float | None = None
    ) -> list[dict[str, Any]]:
        """Optimiser groups with ``lr * layer_decay^(L - l)`` per layer and no weight decay on
        biases and norms (:func:`selfsup.optim.layer_decay_param_groups`)."""
        return layer_decay_param_groups(
            self.named_parameters(),
            self.layer_id,
            self.num_layers,
            lr,
            self.layer_decay if layer_decay is None else layer_decay,
            weight_decay,
        )

    def optimizer_groups(self) -> list[dict[str, Any]]:
        """Layer-wise decay for ``SSLModule``: ``lr_scale = layer_decay^(L - l)`` per layer of the
        optimiser's learning rate (the head's), no weight decay on biases and norms."""
        return layer_decay_param_groups(
            self.named_parameters(), self.layer_id, self.num_layers, None, self.layer_decay, None
        )

    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        name = type(self).__name__
        fbank, mask = parse_fbank_batch(batch, name, self.num_mel_bins)
        targets = _labels(batch, name).to(fbank.device)
        if targets.shape[0] != fbank.shape[0]:
            raise MalformedBatchError(
                f"{name}: {targets.shape[0]} labels for {fbank.shape[0]} clips."
            )
        if self.training:
            if self.spec["freq_width"] or self.spec["time_width"]:
                fbank = spec_augment(fbank, mask, **self.spec)
            if self.mixup_alpha > 0:
                if not targets.is_floating_point():
                    targets = F.one_hot(targets.long(), self.num_classes).to(fbank.dtype)
                fbank, targets, mask = mixup(fbank, targets, mask, alpha=self.mixup_alpha)
        inputs = {"fbank": fbank, "padding_mask": mask} if mask is not None else fbank
        logits = self.classifier(inputs)
        loss = self.classifier.loss(logits, targets, self.label_smoothing)
        with torch.no_grad():
            if targets.is_floating_point() and not self.classifier.multi_label:
                correct = logits.argmax(-1) == targets.argmax(-1)
            elif self.classifier.multi_label:
                correct = (logits > 0) == (targets > 0.5)
            else:
                correct = logits.argmax(-1) == targets
        return {"loss": loss, "accuracy": correct.float().mean()}
