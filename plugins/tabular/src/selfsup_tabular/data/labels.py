"""The label column -> tensor, fitted on training rows (classification or regression)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from selfsup_tabular.data.cells import DEFAULT_MISSING_VALUES, as_strings, to_float

__all__ = ["TargetEncoder"]


class TargetEncoder:
    """Label column -> tensor, fitted on training rows.

    Classification: labels are stripped strings with a trailing ``.`` removed (UCI ``adult.test``
    writes ``>50K.``); classes are sorted; an unseen class at transform raises. Regression: floats
    standardised with the training mean/std (:meth:`inverse` undoes it). Rows whose label is
    missing must be removed beforehand (:meth:`present`).

    Args:
        task: ``"classification"`` or ``"regression"``.
    """

    def __init__(self, task: str = "classification") -> None:
        if task not in ("classification", "regression"):
            raise ValueError(f"task must be 'classification' or 'regression', got {task!r}.")
        self.task = task
        self.classes: list[str] = []
        self.mean = 0.0
        self.std = 1.0

    @staticmethod
    def _clean(series: Any) -> Any:
        strings = as_strings(series, frozenset(DEFAULT_MISSING_VALUES))
        return strings.map(lambda v: v[:-1] if isinstance(v, str) and v.endswith(".") else v)

    def present(self, series: Any) -> np.ndarray:
        """Boolean mask of rows whose label is present (and numeric for regression)."""
        clean = self._clean(series)
        ok = clean.notna().to_numpy().copy()
        if self.task == "regression":
            ok &= np.isfinite(to_float(clean))
        return ok

    def fit(self, series: Any) -> TargetEncoder:
        clean = self._clean(series).dropna()
        if self.task == "classification":
            self.classes = sorted({str(v) for v in clean})
            if len(self.classes) < 2:
                raise ValueError(f"the label column has {len(self.classes)} class(es); need >= 2.")
        else:
            values = to_float(clean)
            values = values[np.isfinite(values)]
            if values.size == 0:
                raise ValueError("the regression label column has no numeric value.")
            self.mean, self.std = float(values.mean()), float(values.std()) or 1.0
        return self

    def transform(self, series: Any) -> Tensor:
        clean = self._clean(series)
        if self.task == "classification":
            index = {c: i for i, c in enumerate(self.classes)}
            unseen = sorted({str(v) for v in clean if v not in index})
            if unseen:
                raise ValueError(
                    f"labels {unseen[:5]} were not in the training labels {self.classes[:10]}."
                )
            return torch.tensor([index[v] for v in clean], dtype=torch.long)
        values = to_float(clean)
        if not np.isfinite(values).all():
            raise ValueError("regression labels contain missing/non-numeric values; drop them.")
        return torch.from_numpy((values - self.mean) / self.std).float()

    def inverse(self, y: Tensor) -> Tensor:
        """Undo the regression standardisation (identity for classification)."""
        return y * self.std + self.mean if self.task == "regression" else y

    @property
    def num_classes(self) -> int:
        return len(self.classes)
