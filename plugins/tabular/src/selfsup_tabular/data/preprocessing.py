"""Table -> tensors: column typing, categorical vocabularies, numeric scaling, missing values.

The fitted state is a JSON-serialisable dict (:meth:`TabularPreprocessor.to_dict`), stored with
the model (:class:`PreprocessingState`, the ``preprocessing`` extra state of ``TJEPA`` and
``SCARF``) and in exported encoders' ``config.json``, so ``embed(df)`` on new data applies
exactly the transform fitted on the training rows.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

import numpy as np
import torch
from torch import Tensor

from selfsup.experiment.schema import SchemaState
from selfsup.imports import require
from selfsup_tabular.data.tables import (
    check_unique_names,
    detect_delimiter,
    did_you_mean,
    read_table,
    resolve_column,
)

__all__ = [
    "MISSING_INDEX",
    "UNKNOWN_INDEX",
    "DEFAULT_MISSING_VALUES",
    "PreprocessingState",
    "TabularPreprocessor",
    "TargetEncoder",
    "detect_delimiter",
    "fitted_preprocessor",
    "read_table",
    "resolve_column",
]

#: Categorical code of a missing value (NaN, empty, ``?``...).
MISSING_INDEX = 0
#: Categorical code of a category not seen (or too rare) in the training rows.
UNKNOWN_INDEX = 1
#: Strings read as missing (after stripping whitespace), besides NaN/None.
DEFAULT_MISSING_VALUES = ("", "?", "NA", "N/A", "NaN", "nan", "null", "NULL", "None")
_SCALINGS = ("quantile", "standard", "minmax")
_FORMAT_VERSION = 1


def _pd() -> Any:
    # pandas is a dependency of selfsup-tabular, imported on first use (plugin.py stays light)
    return require("pandas", "pandas")


def _as_strings(series: Any, missing: frozenset[str]) -> Any:
    """Stripped strings with NaN/None and missing markers as None (object dtype)."""
    pd = _pd()
    out = []
    for v in series.to_numpy(dtype=object):
        if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
            out.append(None)
            continue
        s = str(v).strip()
        out.append(None if s in missing else s)
    return pd.Series(out, index=series.index, dtype=object)


def _to_float(strings: Any) -> np.ndarray:
    pd = _pd()
    return pd.to_numeric(strings, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _ndtri(u: np.ndarray) -> np.ndarray:
    return torch.special.ndtri(torch.from_numpy(u)).numpy()


def _examples(strings: Any, limit: int = 3) -> list[str]:
    """The most frequent values of ``strings`` (ties alphabetical), for warnings."""
    counts = strings.value_counts()
    return [str(v) for v, _ in sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))][:limit]


def _warn_infinite(name: str, strings: Any, values: np.ndarray, when: str) -> None:
    infinite = np.isinf(values)
    if infinite.any():
        warnings.warn(
            f"numerical column {name!r} ({when}): {int(infinite.sum())} infinite value(s) (e.g. "
            f"{_examples(strings[infinite])}) are treated as missing.",
            stacklevel=3,
        )


def _check_state(state: dict[str, Any]) -> None:
    """Refuse a malformed preprocessing state before any of it is used."""

    def fail(what: str) -> NoReturn:
        raise ValueError(
            f"malformed selfsup-tabular preprocessing state: {what}; the checkpoint or "
            "config.json was altered or not written by TabularPreprocessor.to_dict()."
        )

    def number(v: Any) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)

    for key in ("scaling", "n_quantiles", "min_frequency", "missing_values"):
        if key not in state:
            fail(f"it lacks {key!r}")
    for key in ("numerical", "categorical"):
        if not isinstance(state.get(key), list):
            fail(f"it lacks {key!r} (a list of column specs)")
    if state["scaling"] not in _SCALINGS:
        fail(f"scaling {state['scaling']!r} is not one of {_SCALINGS}")
    for key in ("n_quantiles", "min_frequency"):
        if not isinstance(state[key], int) or isinstance(state[key], bool):
            fail(f"{key} must be an integer, got {state[key]!r}")
    mv = state["missing_values"]
    if not isinstance(mv, list) or not all(isinstance(v, str) for v in mv):
        fail(f"missing_values must be a list of strings, got {str(mv)[:60]}")
    names: list[str] = []
    for i, spec in enumerate(state["numerical"]):
        where = f"numerical[{i}]"
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            fail(f"{where} must be a dict with a string 'name'")
        names.append(spec["name"])
        if spec.get("scaling") not in _SCALINGS or not isinstance(spec.get("constant"), bool):
            fail(f"{where} needs 'scaling' in {_SCALINGS} and a boolean 'constant'")
        if spec["constant"]:
            continue
        keys = {"quantile": ("quantiles",), "standard": ("mean", "std"), "minmax": ("min", "max")}
        if spec["scaling"] == "quantile":
            q = spec.get("quantiles")
            if not isinstance(q, list) or len(q) < 2 or not all(number(v) for v in q):
                fail(f"{where}['quantiles'] must be a list of >= 2 finite numbers")
            if any(b < a for a, b in zip(q[:-1], q[1:], strict=True)):
                fail(f"{where}['quantiles'] must be non-decreasing")
        else:
            for key in keys[spec["scaling"]]:
                if not number(spec.get(key)):
                    fail(f"{where}[{key!r}] must be a finite number, got {spec.get(key)!r}")
            if spec["scaling"] == "standard" and spec["std"] < 0:
                fail(f"{where}['std'] must be >= 0")
            if spec["scaling"] == "minmax" and not spec["max"] > spec["min"]:
                fail(f"{where}['max'] must exceed its 'min'")
    for i, spec in enumerate(state["categorical"]):
        where = f"categorical[{i}]"
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            fail(f"{where} must be a dict with a string 'name'")
        names.append(spec["name"])
        vocab = spec.get("vocab")
        if not isinstance(vocab, list) or not all(isinstance(v, str) for v in vocab):
            fail(f"{where}['vocab'] must be a list of strings")
        if len(set(vocab)) != len(vocab):
            fail(f"{where}['vocab'] repeats a category")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        fail(f"feature names {repeated} appear more than once")


class TabularPreprocessor:
    """Fit column types, vocabularies and scalers on training rows; turn tables into tensors.

    **Typing.** Among a column's non-missing training values, count those that are not numbers
    (``pandas.to_numeric`` fails; numbers stored as strings are numbers, and so are ``inf``,
    ``-inf``, ``Infinity`` and ``1e999``, which are *infinite*):

    - none, or at most a share ``max_non_numeric`` (default 5 %): **numerical**. The stray
      tokens (``"forty"`` among ages) and the infinite values are treated as missing, each with a
      warning giving the count and examples, so one typo cannot turn the column categorical;
    - more: **categorical**, with a warning when numbers are still at least half of the values
      (a numeric column with many bad values, or a categorical one with numeric codes: declare
      which it is);
    - a column with no non-missing value at all is categorical (only the missing token; warned).

    Declared types win and are never second-guessed: ``categorical=[...]`` reads the values as
    categories; ``numerical=[...]`` reads them as numbers, non-numbers becoming missing (warned
    with the count). Columns listed in ``drop`` (and the label) are ignored. Declared and dropped
    names must be columns of the table (a misspelt name raises and suggests close ones).

    **Missing values**: NaN/None and the strings in ``missing_values`` (after stripping). Numerical
    columns get a boolean ``num_missing`` flag and the value 0; categorical columns get code
    :data:`MISSING_INDEX` (0). NaN and infinities never reach the model.

    **Categoricals**: vocabulary = training values seen at least ``min_frequency`` times, most
    frequent first, coded from 2; rarer and unseen values (at inference) get :data:`UNKNOWN_INDEX`
    (1), without a warning (documented behaviour). ``cardinalities`` are the vocabulary sizes
    (codes run over ``size + 2``).

    **Numerical scaling**, fitted on training rows only: ``"quantile"`` (default; empirical CDF at
    ``n_quantiles`` training quantiles mapped through the standard normal quantile function, as
    scikit-learn's ``QuantileTransformer(output_distribution="normal")``), ``"standard"``
    (``(x - mean) / std``) or ``"minmax"`` (to ``[0, 1]``, T-JEPA parity). Constant columns map to
    0 (a warning is issued). Values outside the training range are clipped (quantile) or
    extrapolated (standard/minmax; a value whose scaled form overflows float32 raises).
    Non-numeric or infinite values in a numerical column at inference are treated as missing
    (with a warning giving the count and examples).

    **Schema**: :meth:`transform` requires every fitted feature column (a missing one raises
    ``ValueError`` naming it); extra columns are ignored.

    Args:
        numerical: Columns declared numerical (default None: automatic).
        categorical: Columns declared categorical (default None: automatic).
        drop: Columns ignored (default none).
        scaling: ``"quantile"``, ``"standard"`` or ``"minmax"`` (default ``"quantile"``).
        n_quantiles: Quantiles kept per numerical column (default 1000).
        min_frequency: Minimum training count for a category to get its own code (default 1).
        missing_values: Strings read as missing (default :data:`DEFAULT_MISSING_VALUES`).
        max_non_numeric: Largest share of a column's non-missing values that may fail to parse
            as numbers in a column still typed numerical automatically, in ``[0, 0.5)``
            (default 0.05; 0: every value must be a number).

    Shapes:
        transform(df) -> ``{"x_num": (N, n_num) float32, "num_missing": (N, n_num) bool,
        "x_cat": (N, n_cat) int64}``.

    Raises:
        ValueError: invalid arguments (the message names the argument).

    Examples:
        >>> import pandas as pd
        >>> ages = pd.DataFrame({"age": [str(a) for a in range(20, 60)] + ["forty"]})
        >>> pre = TabularPreprocessor().fit(ages)  # warns: 1 of 41 values are not numbers
        >>> pre.feature_names, pre.num_numerical
        (['age'], 1)
    """

    def __init__(
        self,
        numerical: Sequence[str] | None = None,
        categorical: Sequence[str] | None = None,
        drop: Sequence[str] = (),
        scaling: str = "quantile",
        n_quantiles: int = 1000,
        min_frequency: int = 1,
        missing_values: Sequence[str] = DEFAULT_MISSING_VALUES,
        max_non_numeric: float = 0.05,
    ) -> None:
        if scaling not in _SCALINGS:
            raise ValueError(f"scaling must be one of {_SCALINGS}, got {scaling!r}.")
        if n_quantiles < 2:
            raise ValueError(f"n_quantiles must be >= 2, got {n_quantiles}.")
        if min_frequency < 1:
            raise ValueError(f"min_frequency must be >= 1, got {min_frequency}.")
        if not 0.0 <= max_non_numeric < 0.5:
            raise ValueError(
                f"max_non_numeric must be in [0, 0.5), got {max_non_numeric}; it is the share of "
                "stray non-numbers a numerical column may hold (declare numerical=[...] to read "
                "a column as numbers whatever it holds)."
            )
        both = set(numerical or ()) & set(categorical or ())
        if both:
            raise ValueError(f"columns {sorted(both)} are listed as numerical and categorical.")
        self.numerical_override = list(numerical) if numerical is not None else None
        self.categorical_override = list(categorical) if categorical is not None else None
        self.drop = list(drop)
        self.scaling = scaling
        self.n_quantiles = int(n_quantiles)
        self.min_frequency = int(min_frequency)
        self.missing_values = list(missing_values)
        self.max_non_numeric = float(max_non_numeric)
        self.numerical: list[dict[str, Any]] = []
        self.categorical: list[dict[str, Any]] = []
        self.fitted = False

    # -- fitting -------------------------------------------------------------------------------
    def fit(self, df: Any, *, target: str | int | None = None) -> TabularPreprocessor:
        """Fit types, vocabularies and scalers on the training rows ``df`` (never on test rows).

        Args:
            df: The training rows.
            target: The label column, never a feature: a name or a 0-based index (negative
                counts from the end), as :func:`resolve_column` (default None: no label).

        Raises:
            ValueError: ``df`` is not a DataFrame, has no rows, repeats a column name, has no
                feature columns, or lacks a declared/dropped column (close names suggested).
            KeyError: ``target`` is not a column (close names suggested) or out of range.
            TypeError: ``target`` is neither a name nor an integer.
        """
        pd = _pd()
        if not isinstance(df, pd.DataFrame):
            raise ValueError(f"fit expects a pandas DataFrame, got {type(df).__name__}.")
        df = df.rename(columns=str)
        check_unique_names(list(df.columns), "fit")
        label = resolve_column(df.columns, target) if target is not None else None
        if len(df) == 0:
            raise ValueError("fit got an empty DataFrame (no rows); pass the training rows.")
        all_columns = list(df.columns)
        absent_drop = [c for c in self.drop if c not in all_columns]
        if absent_drop:
            raise ValueError(
                f"drop columns {absent_drop} are not in the table"
                f"{did_you_mean(absent_drop[0], all_columns)}; columns are {all_columns[:20]}."
            )
        ignored = set(self.drop) | ({label} if label is not None else set())
        columns = [c for c in all_columns if c not in ignored]
        for kind, override in (
            ("numerical", self.numerical_override),
            ("categorical", self.categorical_override),
        ):
            absent = [c for c in override or () if c not in columns]
            if absent:
                raise ValueError(
                    f"{kind} columns {absent} are not in the table's feature columns"
                    f"{did_you_mean(absent[0], columns)}; feature columns are {columns[:20]} "
                    "(the label and dropped columns are not features)."
                )
        if not columns:
            raise ValueError("the table has no feature columns besides the label/dropped ones.")
        missing = frozenset(self.missing_values)
        self.numerical, self.categorical = [], []
        for col in columns:
            strings = _as_strings(df[col], missing)
            if col in (self.categorical_override or ()):
                self.categorical.append(self._fit_categorical(col, strings))
                continue
            values = _to_float(strings)
            present = strings.notna().to_numpy()
            strays = present & np.isnan(values)
            n, k = int(present.sum()), int(strays.sum())
            declared = col in (self.numerical_override or ())
            if declared or (n and k <= self.max_non_numeric * n):
                if k:
                    how = "(declared numerical)" if declared else "is typed numerical"
                    warnings.warn(
                        f"column {col!r} {how}: {k} of {n} value(s) are not numbers (e.g. "
                        f"{_examples(strings[strays])}) and are treated as missing; fix them in "
                        "the file, or declare the column categorical=[...] if it is one.",
                        stacklevel=2,
                    )
                _warn_infinite(col, strings, values, "fit")
                self.numerical.append(self._fit_numeric(col, values))
                continue
            if n and n - k >= k:
                warnings.warn(
                    f"column {col!r} is typed categorical: {k} of {n} value(s) are not numbers "
                    f"(e.g. {_examples(strings[strays])}) although the others are; declare "
                    f"numerical=[{col!r}] to read it as numbers (non-numbers become missing), or "
                    f"categorical=[{col!r}] to keep it categorical without this warning.",
                    stacklevel=2,
                )
            self.categorical.append(self._fit_categorical(col, strings))
        self.fitted = True
        return self

    def _fit_numeric(self, name: str, values: np.ndarray) -> dict[str, Any]:
        ok = values[np.isfinite(values)]
        spec: dict[str, Any] = {"name": name, "scaling": self.scaling, "constant": False}
        if ok.size == 0 or ok.min() == ok.max():
            what = "has no numeric value" if ok.size == 0 else "is constant"
            warnings.warn(
                f"numerical column {name!r} {what} in the training rows; it maps to 0 "
                "(only its missing flag carries information).",
                stacklevel=3,
            )
            spec["constant"] = True
            return spec
        if self.scaling == "quantile":
            n = min(self.n_quantiles, ok.size)
            spec["quantiles"] = np.quantile(ok, np.linspace(0, 1, n)).tolist()
        elif self.scaling == "standard":
            spec["mean"], spec["std"] = float(ok.mean()), float(ok.std())
        else:
            spec["min"], spec["max"] = float(ok.min()), float(ok.max())
        if not all(math.isfinite(v) for k, v in spec.items() if k in ("mean", "std")):
            raise ValueError(
                f"numerical column {name!r}: its values are too large for scaling="
                f"{self.scaling!r} (the mean or standard deviation overflows); use "
                "scaling='quantile' or rescale the column."
            )
        return spec

    def _fit_categorical(self, name: str, strings: Any) -> dict[str, Any]:
        counts = strings.dropna().value_counts()
        if counts.empty:
            warnings.warn(
                f"column {name!r} is entirely missing in the training rows; it only carries the "
                "missing token.",
                stacklevel=3,
            )
        pairs = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        vocab = [str(k) for k, c in pairs if c >= self.min_frequency]
        return {"name": name, "vocab": vocab}

    # -- state ---------------------------------------------------------------------------------
    @property
    def feature_names(self) -> list[str]:
        """Feature columns in model order: numericals, then categoricals."""
        return [s["name"] for s in self.numerical] + [s["name"] for s in self.categorical]

    @property
    def num_numerical(self) -> int:
        return len(self.numerical)

    @property
    def cardinalities(self) -> list[int]:
        """Vocabulary size per categorical column (codes run over ``size + 2``)."""
        return [len(s["vocab"]) for s in self.categorical]

    def to_dict(self) -> dict[str, Any]:
        """The fitted state as JSON-serialisable plain values (also the model's extra state)."""
        self._require_fitted()
        return {
            "format": _FORMAT_VERSION,
            "scaling": self.scaling,
            "n_quantiles": self.n_quantiles,
            "min_frequency": self.min_frequency,
            "missing_values": list(self.missing_values),
            "numerical": [dict(s) for s in self.numerical],
            "categorical": [dict(s) for s in self.categorical],
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> TabularPreprocessor:
        """Rebuild a fitted preprocessor from :meth:`to_dict`.

        The state may come from a stranger's checkpoint or ``config.json``: it is checked
        (types, finite and ordered statistics, unique names) before use.

        Raises:
            ValueError: not a state of this format, or a malformed one (the message names the
                entry, e.g. ``numerical[0]['quantiles']``).
        """
        if not isinstance(state, dict) or state.get("format") != _FORMAT_VERSION:
            raise ValueError(
                f"not a selfsup-tabular preprocessing state (format {_FORMAT_VERSION}): "
                f"{str(state)[:80]}"
            )
        _check_state(state)
        pre = cls(
            scaling=state["scaling"],
            n_quantiles=state["n_quantiles"],
            min_frequency=state["min_frequency"],
            missing_values=state["missing_values"],
        )
        pre.numerical = [dict(s) for s in state["numerical"]]
        pre.categorical = [dict(s) for s in state["categorical"]]
        pre.fitted = True
        return pre

    def _require_fitted(self) -> None:
        if not self.fitted:
            raise RuntimeError("the preprocessor is not fitted; call fit(train_df) first.")

    # -- transform -----------------------------------------------------------------------------
    def transform(self, df: Any, *, where: str | None = None) -> dict[str, Tensor]:
        """Encode a DataFrame with the fitted state (see the class docstring for the rules).

        Args:
            df: Rows with (at least) the fitted feature columns.
            where: What ``df`` is, for messages (e.g. the file name; default "the table").

        Raises:
            ValueError: not a DataFrame, a fitted feature column absent or repeated (schema
                mismatch), or a value whose scaled form overflows float32.
        """
        pd = _pd()
        self._require_fitted()
        if not isinstance(df, pd.DataFrame):
            raise ValueError(f"transform expects a pandas DataFrame, got {type(df).__name__}.")
        where = where or "the table"
        df = df.rename(columns=str)
        absent = [c for c in self.feature_names if c not in df.columns]
        if absent:
            raise ValueError(
                f"schema mismatch: columns {absent} were fitted but are missing from {where} "
                f"(it has {list(df.columns)[:20]}); pass the same feature columns as in fit."
            )
        check_unique_names([c for c in df.columns if c in set(self.feature_names)], where)
        missing = frozenset(self.missing_values)
        n = len(df)
        x_num = np.zeros((n, len(self.numerical)), dtype=np.float32)
        miss = np.zeros((n, len(self.numerical)), dtype=bool)
        for j, spec in enumerate(self.numerical):
            name = spec["name"]
            strings = _as_strings(df[name], missing)
            values = _to_float(strings)
            strays = strings.notna().to_numpy() & np.isnan(values)
            if strays.any():
                warnings.warn(
                    f"numerical column {name!r} of {where}: {int(strays.sum())} non-numeric "
                    f"value(s) (e.g. {_examples(strings[strays])}) treated as missing.",
                    stacklevel=2,
                )
            _warn_infinite(name, strings, values, f"transform of {where}")
            isnan = ~np.isfinite(values)
            scaled = self._scale(spec, np.where(isnan, 0.0, values))
            with np.errstate(over="ignore", invalid="ignore"):
                column = np.where(isnan, 0.0, scaled).astype(np.float32)
            overflow = np.flatnonzero(~np.isfinite(column))
            if overflow.size:
                row = int(overflow[0])
                raise ValueError(
                    f"numerical column {name!r} of {where}: row {row} value "
                    f"{strings.iloc[row]!r} is not finite after {spec['scaling']} scaling "
                    f"(float32 overflow, {overflow.size} value(s) in all); check the value, or "
                    "fit with scaling='quantile' (bounded)."
                )
            miss[:, j] = isnan
            x_num[:, j] = column
        x_cat = np.zeros((n, len(self.categorical)), dtype=np.int64)
        for k, spec in enumerate(self.categorical):
            strings = _as_strings(df[spec["name"]], missing)
            index = {v: i + 2 for i, v in enumerate(spec["vocab"])}
            codes = strings.map(lambda v, index=index: MISSING_INDEX if v is None else index.get(v))
            codes = codes.fillna(UNKNOWN_INDEX).to_numpy(dtype=np.int64)
            x_cat[:, k] = codes
        return {
            "x_num": torch.from_numpy(x_num),
            "num_missing": torch.from_numpy(miss),
            "x_cat": torch.from_numpy(x_cat),
        }

    def fit_transform(self, df: Any, *, target: str | int | None = None) -> dict[str, Tensor]:
        return self.fit(df, target=target).transform(df)

    @staticmethod
    def _scale(spec: dict[str, Any], values: np.ndarray) -> np.ndarray:
        if spec["constant"]:
            return np.zeros_like(values)
        if spec["scaling"] == "quantile":
            q = np.asarray(spec["quantiles"])
            refs = np.linspace(0, 1, q.size)
            # Average of the forward and backward interpolation handles repeated quantiles
            # (discrete columns) like scikit-learn's QuantileTransformer.
            u = 0.5 * (np.interp(values, q, refs) - np.interp(-values, -q[::-1], -refs[::-1]))
            eps = 1e-7
            return _ndtri(np.clip(u, eps, 1 - eps))
        if spec["scaling"] == "standard":
            return (values - spec["mean"]) / (spec["std"] or 1.0)
        return (values - spec["min"]) / (spec["max"] - spec["min"])


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
        strings = _as_strings(series, frozenset(DEFAULT_MISSING_VALUES))
        return strings.map(lambda v: v[:-1] if isinstance(v, str) and v.endswith(".") else v)

    def present(self, series: Any) -> np.ndarray:
        """Boolean mask of rows whose label is present (and numeric for regression)."""
        clean = self._clean(series)
        ok = clean.notna().to_numpy().copy()
        if self.task == "regression":
            ok &= np.isfinite(_to_float(clean))
        return ok

    def fit(self, series: Any) -> TargetEncoder:
        clean = self._clean(series).dropna()
        if self.task == "classification":
            self.classes = sorted({str(v) for v in clean})
            if len(self.classes) < 2:
                raise ValueError(f"the label column has {len(self.classes)} class(es); need >= 2.")
        else:
            values = _to_float(clean)
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
        values = _to_float(clean)
        if not np.isfinite(values).all():
            raise ValueError("regression labels contain missing/non-numeric values; drop them.")
        return torch.from_numpy((values - self.mean) / self.std).float()

    def inverse(self, y: Tensor) -> Tensor:
        """Undo the regression standardisation (identity for classification)."""
        return y * self.std + self.mean if self.task == "regression" else y

    @property
    def num_classes(self) -> int:
        return len(self.classes)


class PreprocessingState(SchemaState):
    """Keeps a fitted :class:`TabularPreprocessor` in a method's ``state_dict``.

    The state is the JSON-serialisable :meth:`TabularPreprocessor.to_dict` (``{}`` while the
    method has no fitted preprocessing), saved as this module's extra state (a
    :class:`~selfsup.experiment.SchemaState`) so that it travels with checkpoints and loads with
    ``torch.load(weights_only=True)``. Exported encoders carry the same dict in ``config.json``
    instead (safetensors holds tensors only).

    Examples:
        >>> import pandas as pd
        >>> state = PreprocessingState()
        >>> state.set(TabularPreprocessor().fit(pd.DataFrame({"a": ["1", "2"]})).to_dict())
        >>> state.preprocessor.feature_names
        ['a']
    """

    def __init__(self) -> None:
        super().__init__()
        self._preprocessor: TabularPreprocessor | None = None

    @property
    def fitted(self) -> bool:
        """Whether a fitted preprocessing is held."""
        return self.is_set

    @property
    def preprocessor(self) -> TabularPreprocessor:
        """The fitted preprocessor (rebuilt from the spec on first use).

        Raises:
            RuntimeError: nothing was fitted (the message says how to provide it).
        """
        if not self.spec:
            raise RuntimeError(
                "this model carries no fitted preprocessing, so it cannot read raw rows (a "
                "DataFrame); train it with TabularCSVDataModule, call materialize(fitted_"
                "preprocessor), or pass encoded batches (TabularPreprocessor.transform) instead."
            )
        if self._preprocessor is None:
            self._preprocessor = TabularPreprocessor.from_dict(self.spec)
        return self._preprocessor

    def set(self, spec: Mapping[str, Any]) -> None:
        """Hold ``spec`` (a :meth:`TabularPreprocessor.to_dict`, or ``{}`` for none)."""
        super().set(spec)
        self._preprocessor = None


def fitted_preprocessor(data: Any) -> TabularPreprocessor | None:
    """The fitted :class:`TabularPreprocessor` a data module exposes as ``data.preprocessor``
    (e.g. :class:`~selfsup_tabular.data.TabularCSVDataModule` after ``setup("fit")``), else
    ``None``. What the tabular methods' ``bind_data`` materialise from.

    Examples:
        >>> from types import SimpleNamespace
        >>> fitted_preprocessor(SimpleNamespace(preprocessor=TabularPreprocessor())) is None
        True
    """
    pre = getattr(data, "preprocessor", None)
    if isinstance(pre, TabularPreprocessor) and pre.fitted:
        return pre
    return None
