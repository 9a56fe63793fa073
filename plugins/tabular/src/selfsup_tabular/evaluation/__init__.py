"""Supervised evaluation of tabular encoders: probes, raw-feature MLPs and fine-tuning, early
stopping on validation."""

from selfsup_tabular.evaluation.downstream import (
    FineTuneModel,
    MLPHead,
    RawMLP,
    fit_supervised,
    predict,
    score,
)

__all__ = ["FineTuneModel", "MLPHead", "RawMLP", "fit_supervised", "predict", "score"]
