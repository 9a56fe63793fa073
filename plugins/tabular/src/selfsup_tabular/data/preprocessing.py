"""Table -> tensors: column typing, categorical vocabularies, numeric scaling, missing values.

The fitted state is a JSON-serialisable dict (:meth:`TabularPreprocessor.to_dict`), stored with
the model (:class:`PreprocessingState`, the ``preprocessing`` extra state of ``TJEPA`` and
``SCARF``) and in exported encoders' ``config.json``, so ``embed(df)`` on new data applies
exactly the transform fitted on the training rows.

One class, kept whole (~440 lines): its typing, vocabulary and scaling rules are documented
together in its docstring. Cells: :mod:`~selfsup_tabular.data.cells`; the saved form:
:mod:`~selfsup_tabular.data.preprocessing_format`; labels: :mod:`~selfsup_tabular.data.labels`;
the state a method saves: :mod:`~selfsup_tabular.data.preprocessing_state`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from selfsup.deprecation import moved_attribute
from selfsup_tabular.data.cells import (
    DEFAULT_MISSING_VALUES,
    as_strings,
    frequent_examples,
    ndtri,
    pandas_module,
    to_float,
    warn_infinite,
)
from selfsup_tabular.data.preprocessing_format import FORMAT_VERSION, SCALINGS, check_state
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
    "TabularPreprocessor",
    "detect_delimiter",
    "read_table",
    "resolve_column",
]

#: Categorical code of a missing value (NaN, empty, ``?``...).
MISSING_INDEX = 0
#: Categorical code of a category not seen (or too rare) in the training rows.
UNKNOWN_INDEX = 1

# moved to their own modules; forwarded with a DeprecationWarning for one release
_MOVED = {
    "TargetEncoder": "selfsup_tabular.data.labels",
    "PreprocessingState": "selfsup_tabular.data.preprocessing_state",
    "fitted_preprocessor": "selfsup_tabular.data.preprocessing_state",
}


def __getattr__(name: str) -> Any:
    return moved_attribute(__name__, _MOVED, name)


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
        if scaling not in SCALINGS:
            raise ValueError(f"scaling must be one of {SCALINGS}, got {scaling!r}.")
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
        pd = pandas_module()
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
            strings = as_strings(df[col], missing)
            if col in (self.categorical_override or ()):
                self.categorical.append(self._fit_categorical(col, strings))
                continue
            values = to_float(strings)
            present = strings.notna().to_numpy()
            strays = present & np.isnan(values)
            n, k = int(present.sum()), int(strays.sum())
            declared = col in (self.numerical_override or ())
            if declared or (n and k <= self.max_non_numeric * n):
                if k:
                    how = "(declared numerical)" if declared else "is typed numerical"
                    warnings.warn(
                        f"column {col!r} {how}: {k} of {n} value(s) are not numbers (e.g. "
                        f"{frequent_examples(strings[strays])}) and are treated as missing; fix "
                        "them in the file, or declare the column categorical=[...] if it is one.",
                        stacklevel=2,
                    )
                warn_infinite(col, strings, values, "fit")
                self.numerical.append(self._fit_numeric(col, values))
                continue
            if n and n - k >= k:
                warnings.warn(
                    f"column {col!r} is typed categorical: {k} of {n} value(s) are not numbers "
                    f"(e.g. {frequent_examples(strings[strays])}) although the others are; declare "
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
            "format": FORMAT_VERSION,
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
        if not isinstance(state, dict) or state.get("format") != FORMAT_VERSION:
            raise ValueError(
                f"not a selfsup-tabular preprocessing state (format {FORMAT_VERSION}): "
                f"{str(state)[:80]}"
            )
        check_state(state)
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
        pd = pandas_module()
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
            strings = as_strings(df[name], missing)
            values = to_float(strings)
            strays = strings.notna().to_numpy() & np.isnan(values)
            if strays.any():
                warnings.warn(
                    f"numerical column {name!r} of {where}: {int(strays.sum())} non-numeric "
                    f"value(s) (e.g. {frequent_examples(strings[strays])}) treated as missing.",
                    stacklevel=2,
                )
            warn_infinite(name, strings, values, f"transform of {where}")
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
            strings = as_strings(df[spec["name"]], missing)
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
            return ndtri(np.clip(u, eps, 1 - eps))
        if spec["scaling"] == "standard":
            return (values - spec["mean"]) / (spec["std"] or 1.0)
        return (values - spec["min"]) / (spec["max"] - spec["min"])
