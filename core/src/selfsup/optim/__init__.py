"""Optimiser helpers: parameter groups with layer-wise learning-rate decay for fine-tuning."""

from __future__ import annotations

from selfsup.optim.layer_decay import layer_decay_param_groups, no_decay_bias_and_norm

__all__ = ["layer_decay_param_groups", "no_decay_bias_and_norm"]
