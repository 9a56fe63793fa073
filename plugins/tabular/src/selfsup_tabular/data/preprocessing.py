"""Table -> tensors: column typing, categorical vocabularies, numeric scaling, missing values.

The fitted state is a JSON-serialisable dict (:meth:`TabularPreprocessor.to_dict`), stored with
the model (:class:`PreprocessingState`, the ``preprocessing`` extra state of ``TJEPA`` and
``SCARF``) and in exported encoders' ``config.json``, so ``embed(df)`` on new data applies
exactly the transform fitted on the training rows.
"""

from __future__ import annotations

import csv
import math
import os
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from selfsup.imports import require

__all__ = [
    "MISSING_INDEX",
    "UNKNOWN_INDEX",
    "DEFAULT_MISSING_VALUES",
    "PreprocessingState",
    "TabularPreprocessor",
    "TargetEncoder",
    "detect_delimiter",
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


def detect_delimiter(path: str | os.PathLike[str], candidates: str = ",;\t") -> str:
    """The delimiter of a text table among ``candidates`` (comma, semicolon, tab).

    Uses :class:`csv.Sniffer` on the first 64 KiB and falls back to the candidate that splits the
    first lines into the most equal, largest number of fields.
    """
    with open(path, encoding="utf-8", errors="replace") as fh:
        sample = fh.read(65536)
    lines = [ln for ln in sample.splitlines()[:50] if ln.strip()]
    if not lines:
        raise ValueError(f"{os.fspath(path)!r} is empty; expected a delimited text table.")
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=candidates).delimiter
    except csv.Error:
        pass
    best, best_score = ",", -1
    for cand in candidates:
        counts = [ln.count(cand) for ln in lines]
        mode = max(set(counts), key=counts.count)
        score = mode * counts.count(mode)
        if mode > 0 and score > best_score:
            best, best_score = cand, score
    return best


def read_table(
    path: str | os.PathLike[str],
    *,
    header: bool = True,
    delimiter: str | None = None,
    skip_malformed: bool = True,
) -> Any:
    """Read a CSV/TSV (delimiter detected) or Parquet file into a ``pandas.DataFrame``.

    Every value is read as a string (typing happens in :class:`TabularPreprocessor`), surrounding
    whitespace is stripped, and lines with a wrong field count (e.g. the ``|1x3 Cross validator``
    first line of UCI ``adult.test``) are skipped with a warning when ``skip_malformed``. Without a
    header the columns are named ``"0"``, ``"1"``, ...

    Raises:
        FileNotFoundError: ``path`` does not exist (the message names it).
        ImportError: a ``.parquet`` file without pyarrow installed.
    """
    pd = _pd()
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"table not found: {path!r}; check the path (or SELFSUP_DATA).")
    if path.endswith((".parquet", ".pq")):
        require("pyarrow", "pyarrow", extra="selfsup-tabular[parquet]")
        return pd.read_parquet(path).rename(columns=str)
    sep = delimiter or detect_delimiter(path)
    skip = _leading_malformed(path, sep)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = pd.read_csv(
            path,
            sep=sep,
            header=0 if header else None,
            dtype=str,
            keep_default_na=False,
            skipinitialspace=True,
            skiprows=skip,
            on_bad_lines="warn" if skip_malformed else "error",
            engine="python",
        )
    bad = len(skip) + sum("line" in str(w.message).lower() for w in caught)
    if bad:
        warnings.warn(f"{path}: skipped {bad} malformed line(s).", stacklevel=2)
    df.columns = [str(c).strip() for c in df.columns]
    for col in df.columns:
        df[col] = df[col].str.strip()
    return df


def _leading_malformed(path: str, sep: str) -> list[int]:
    """Indices of leading lines whose field count differs from the usual one (junk preambles)."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        lines = [fh.readline() for _ in range(50)]
    counts = [ln.count(sep) for ln in lines if ln.strip()]
    if not counts:
        return []
    mode = max(set(counts), key=counts.count)
    skip = []
    for i, ln in enumerate(lines):
        if ln.strip() and ln.count(sep) == mode:
            break
        skip.append(i)
    return skip


def resolve_column(columns: Sequence[str], target: str | int) -> str:
    """The column name for ``target``: a name, or a 0-based index (negative from the end).

    Raises:
        KeyError: no such column (the message lists the available ones).
    """
    cols = [str(c) for c in columns]
    if isinstance(target, str) and target in cols:
        return target
    try:
        index = int(target)
    except (TypeError, ValueError):
        raise KeyError(
            f"label column {target!r} not found; columns are {cols[:20]}"
            + (" ..." if len(cols) > 20 else "")
            + " (pass a name or a 0-based index, negative counts from the end)."
        ) from None
    if not -len(cols) <= index < len(cols):
        raise KeyError(f"label column index {index} out of range for {len(cols)} columns.")
    return cols[index]


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


class TabularPreprocessor:
    """Fit column types, vocabularies and scalers on training rows; turn tables into tensors.

    **Typing** (overridable with ``numerical`` / ``categorical``): a column is numerical when every
    non-missing value parses as a number (numbers stored as strings included), categorical
    otherwise. A column with no non-missing value at all is categorical (only the missing token).
    Columns listed in ``drop`` (and the label) are ignored.

    **Missing values**: NaN/None and the strings in ``missing_values`` (after stripping). Numerical
    columns get a boolean ``num_missing`` flag and the value 0; categorical columns get code
    :data:`MISSING_INDEX` (0). NaN never reaches the model.

    **Categoricals**: vocabulary = training values seen at least ``min_frequency`` times, most
    frequent first, coded from 2; rarer and unseen values (at inference) get :data:`UNKNOWN_INDEX`
    (1). ``cardinalities`` are the vocabulary sizes (codes run over ``size + 2``).

    **Numerical scaling**, fitted on training rows only: ``"quantile"`` (default; empirical CDF at
    ``n_quantiles`` training quantiles mapped through the standard normal quantile function, as
    scikit-learn's ``QuantileTransformer(output_distribution="normal")``), ``"standard"``
    (``(x - mean) / std``) or ``"minmax"`` (to ``[0, 1]``, T-JEPA parity). Constant columns map to
    0 (a warning is issued). Values outside the training range are clipped (quantile) or
    extrapolated (standard/minmax). Non-numeric strings in a numerical column at inference are
    treated as missing (with a warning).

    **Schema**: :meth:`transform` requires every fitted feature column (a missing one raises
    ``ValueError`` naming it); extra columns are ignored.

    Args:
        numerical: Columns forced numerical (default None: automatic).
        categorical: Columns forced categorical (default None: automatic).
        drop: Columns ignored (default none).
        scaling: ``"quantile"``, ``"standard"`` or ``"minmax"`` (default ``"quantile"``).
        n_quantiles: Quantiles kept per numerical column (default 1000).
        min_frequency: Minimum training count for a category to get its own code (default 1).
        missing_values: Strings read as missing (default :data:`DEFAULT_MISSING_VALUES`).

    Shapes:
        transform(df) -> ``{"x_num": (N, n_num) float32, "num_missing": (N, n_num) bool,
        "x_cat": (N, n_cat) int64}``.
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
    ) -> None:
        if scaling not in _SCALINGS:
            raise ValueError(f"scaling must be one of {_SCALINGS}, got {scaling!r}.")
        if n_quantiles < 2:
            raise ValueError(f"n_quantiles must be >= 2, got {n_quantiles}.")
        if min_frequency < 1:
            raise ValueError(f"min_frequency must be >= 1, got {min_frequency}.")
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
        self.numerical: list[dict[str, Any]] = []
        self.categorical: list[dict[str, Any]] = []
        self.fitted = False

    # -- fitting -------------------------------------------------------------------------------
    def fit(self, df: Any, *, target: str | None = None) -> TabularPreprocessor:
        """Fit types, vocabularies and scalers on the training rows ``df`` (never on test rows).

        Raises:
            ValueError: ``df`` is not a DataFrame, has no rows, no feature columns, or override
                columns it lacks.
        """
        pd = _pd()
        if not isinstance(df, pd.DataFrame):
            raise ValueError(f"fit expects a pandas DataFrame, got {type(df).__name__}.")
        if len(df) == 0:
            raise ValueError("fit got an empty DataFrame; pass the training rows.")
        df = df.rename(columns=str)
        ignored = set(self.drop) | ({str(target)} if target is not None else set())
        columns = [c for c in df.columns if c not in ignored]
        for kind, override in (
            ("numerical", self.numerical_override),
            ("categorical", self.categorical_override),
        ):
            absent = sorted(set(override or ()) - set(columns))
            if absent:
                raise ValueError(f"{kind} columns {absent} are not in the table {columns[:20]}.")
        if not columns:
            raise ValueError("the table has no feature columns besides the label/dropped ones.")
        missing = frozenset(self.missing_values)
        self.numerical, self.categorical = [], []
        for col in columns:
            raw = df[col]
            strings = _as_strings(raw, missing)
            present = strings.notna()
            forced_num = col in (self.numerical_override or ())
            forced_cat = col in (self.categorical_override or ())
            values = _to_float(strings)
            parses = bool(np.isfinite(values[present.to_numpy()]).all()) and bool(present.any())
            if forced_num or (parses and not forced_cat):
                self.numerical.append(self._fit_numeric(col, values))
            else:
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
        """Rebuild a fitted preprocessor from :meth:`to_dict`."""
        if not isinstance(state, dict) or state.get("format") != _FORMAT_VERSION:
            raise ValueError(
                f"not a selfsup-tabular preprocessing state (format {_FORMAT_VERSION}): "
                f"{str(state)[:80]}"
            )
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
    def transform(self, df: Any) -> dict[str, Tensor]:
        """Encode a DataFrame with the fitted state (see the class docstring for the rules).

        Raises:
            ValueError: not a DataFrame, or a fitted feature column is absent (schema mismatch).
        """
        pd = _pd()
        self._require_fitted()
        if not isinstance(df, pd.DataFrame):
            raise ValueError(f"transform expects a pandas DataFrame, got {type(df).__name__}.")
        df = df.rename(columns=str)
        absent = [c for c in self.feature_names if c not in df.columns]
        if absent:
            raise ValueError(
                f"schema mismatch: columns {absent} were fitted but are missing from the table "
                f"(it has {list(df.columns)[:20]}); pass the same feature columns as in fit."
            )
        missing = frozenset(self.missing_values)
        n = len(df)
        x_num = np.zeros((n, len(self.numerical)), dtype=np.float32)
        miss = np.zeros((n, len(self.numerical)), dtype=bool)
        for j, spec in enumerate(self.numerical):
            strings = _as_strings(df[spec["name"]], missing)
            values = _to_float(strings)
            bad = strings.notna().to_numpy() & ~np.isfinite(values)
            if bad.any():
                examples = sorted({str(v) for v in strings[bad][:3]})
                warnings.warn(
                    f"numerical column {spec['name']!r}: {int(bad.sum())} non-numeric value(s) "
                    f"(e.g. {examples}) treated as missing.",
                    stacklevel=2,
                )
            isnan = ~np.isfinite(values)
            miss[:, j] = isnan
            x_num[:, j] = np.where(isnan, 0.0, self._scale(spec, np.where(isnan, 0.0, values)))
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

    def fit_transform(self, df: Any, *, target: str | None = None) -> dict[str, Tensor]:
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


class PreprocessingState(nn.Module):
    """Keeps a fitted :class:`TabularPreprocessor` in a method's ``state_dict``.

    The state is the JSON-serialisable :meth:`TabularPreprocessor.to_dict` (``{}`` while the
    method has no fitted preprocessing), saved as this module's extra state so that it travels
    with checkpoints and loads with ``torch.load(weights_only=True)``. Exported encoders carry
    the same dict in ``config.json`` instead (safetensors holds tensors only).

    Examples:
        >>> import pandas as pd
        >>> state = PreprocessingState()
        >>> state.set(TabularPreprocessor().fit(pd.DataFrame({"a": ["1", "2"]})).to_dict())
        >>> state.preprocessor.feature_names
        ['a']
    """

    def __init__(self) -> None:
        super().__init__()
        self.spec: dict[str, Any] = {}
        self._preprocessor: TabularPreprocessor | None = None

    @property
    def fitted(self) -> bool:
        """Whether a fitted preprocessing is held."""
        return bool(self.spec)

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

    def set(self, spec: dict[str, Any]) -> None:
        """Hold ``spec`` (a :meth:`TabularPreprocessor.to_dict`, or ``{}`` for none)."""
        self.spec = dict(spec)
        self._preprocessor = None

    def get_extra_state(self) -> Any:
        return self.spec

    def set_extra_state(self, state: Any) -> None:
        self.set(state or {})
