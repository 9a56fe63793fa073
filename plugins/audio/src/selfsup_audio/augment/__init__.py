"""Spectrogram augmentations for fine-tuning: SpecAugment masking and mixup."""

from selfsup_audio.augment.spec_augment import mixup, spec_augment

__all__ = ["mixup", "spec_augment"]
