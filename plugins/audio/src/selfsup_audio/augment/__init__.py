"""Spectrogram augmentations: SpecAugment masking and mixup (fine-tuning), speaker perturbation
and per-utterance normalisation (speaker-independent pre-training and probes)."""

from selfsup_audio.augment.speaker import frequency_warp, random_frequency_warp, utterance_cmvn
from selfsup_audio.augment.spec_augment import mixup, spec_augment

__all__ = ["frequency_warp", "mixup", "random_frequency_warp", "spec_augment", "utterance_cmvn"]
