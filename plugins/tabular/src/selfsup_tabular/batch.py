"""The batch contract of the tabular methods: encoded tables (``x_num`` / ``num_missing`` /
``x_cat``) or raw ``pandas.DataFrame`` rows, validated in one place."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from selfsup.checks import MalformedBatchError, unpack_labelled

__all__ = ["check_tabular_batch", "encode_rows", "is_frame"]


def is_frame(obj: Any) -> bool:
    """Whether ``obj`` is a ``pandas.DataFrame`` (checked without importing pandas)."""
    return any(
        cls.__name__ == "DataFrame" and cls.__module__.startswith("pandas")
        for cls in type(obj).__mro__
    )


def encode_rows(
    rows: Any,
    num_numerical: int,
    cardinalities: Sequence[int],
    owner: str,
    preprocessor: Any = None,
    device: torch.device | str | None = None,
) -> dict[str, Tensor]:
    """An encoded, validated batch from raw rows or from an already encoded batch.

    A ``pandas.DataFrame`` goes through ``preprocessor.transform`` (the fitted
    :class:`~selfsup_tabular.data.TabularPreprocessor` saved with the model; its tensors are
    moved to ``device``); anything else must be an encoded batch (see
    :func:`check_tabular_batch`).

    Raises:
        ValueError: a DataFrame but no ``preprocessor``.
        MalformedBatchError: see :func:`check_tabular_batch`.

    Examples:
        >>> batch = encode_rows({"x_num": torch.zeros(2, 1)}, 1, [], "demo")
        >>> sorted(batch)
        ['num_missing', 'x_num']
    """
    if is_frame(rows):
        if preprocessor is None:
            raise ValueError(
                f"{owner} got a DataFrame but carries no fitted preprocessing; pass encoded "
                "batches (TabularPreprocessor.transform) or export the encoder from a model "
                "trained with TabularCSVDataModule (or materialize(fitted_preprocessor))."
            )
        rows = preprocessor.transform(rows)
        if device is not None:
            rows = {k: v.to(device) for k, v in rows.items()}
    return check_tabular_batch(rows, num_numerical, cardinalities, owner)


def check_tabular_batch(
    batch: Any, num_numerical: int, cardinalities: Sequence[int], owner: str
) -> dict[str, Tensor]:
    """Validate an encoded batch and fill defaults.

    A batch is a mapping with ``"x_num"`` ``(B, n_num)`` finite float, optional ``"num_missing"``
    ``(B, n_num)`` bool (default all False) and ``"x_cat"`` ``(B, n_cat)`` int64 codes in
    ``[0, cardinality + 2)`` (0 missing, 1 unknown); keys of empty groups may be omitted; other
    keys (``"y"``) are ignored. An ``(batch, y)`` pair is accepted too.

    Raises:
        MalformedBatchError: wrong container, keys, shapes, dtypes, NaN/inf or codes out of range.
    """
    batch = unpack_labelled(batch, owner, "an encoded batch dict").inputs
    if not isinstance(batch, Mapping):
        raise MalformedBatchError(
            f"{owner} expects a dict with 'x_num' / 'x_cat' tensors (from TabularPreprocessor."
            f"transform), got {type(batch).__name__}."
        )
    n_cat = len(cardinalities)
    rows: int | None = None
    out: dict[str, Tensor] = {}
    for key, width, want in (
        ("x_num", num_numerical, "float"),
        ("num_missing", num_numerical, "bool"),
        ("x_cat", n_cat, "int64"),
    ):
        value = batch.get(key)
        if value is None:
            if width and key != "num_missing":
                raise MalformedBatchError(
                    f"{owner} expects batch[{key!r}] of shape (B, {width}); the key is missing."
                )
            continue
        if not isinstance(value, Tensor):
            raise MalformedBatchError(
                f"{owner}: batch[{key!r}] must be a tensor, got {type(value).__name__}."
            )
        if value.dim() != 2 or value.shape[1] != width:
            raise MalformedBatchError(
                f"{owner}: batch[{key!r}] must have shape (B, {width}), got "
                f"{tuple(value.shape)}; the table's schema differs from the model's."
            )
        if rows is not None and value.shape[0] != rows:
            raise MalformedBatchError(
                f"{owner}: batch tensors disagree on the row count ({rows} vs {value.shape[0]})."
            )
        rows = value.shape[0]
        if want == "float":
            if not value.is_floating_point():
                raise MalformedBatchError(
                    f"{owner}: batch['x_num'] must be floating point, got {value.dtype}."
                )
            bad = ~torch.isfinite(value)
            if bool(bad.any()):
                row, col = (int(i) for i in bad.nonzero()[0])
                raise MalformedBatchError(
                    f"{owner}: the input batch['x_num'] holds {int(bad.sum())} NaN/inf value(s) "
                    f"(first at row {row}, column {col}); inputs must be finite, this is the "
                    "data, not the model: give a missing number the value 0 and num_missing="
                    "True (TabularPreprocessor.transform does so for NaN, empty cells and "
                    "infinities), and check how the batch was built."
                )
        elif want == "bool" and value.dtype != torch.bool:
            raise MalformedBatchError(f"{owner}: batch['num_missing'] must be bool.")
        elif want == "int64":
            if value.dtype != torch.long:
                raise MalformedBatchError(
                    f"{owner}: batch['x_cat'] must hold int64 codes, got {value.dtype}."
                )
            if value.numel():
                high = torch.tensor(list(cardinalities), device=value.device) + 2
                if bool((value < 0).any()) or bool((value >= high).any()):
                    raise MalformedBatchError(
                        f"{owner}: batch['x_cat'] codes out of range [0, cardinality + 2) for "
                        f"cardinalities {list(cardinalities)}."
                    )
        out[key] = value
    if rows is None:
        raise MalformedBatchError(f"{owner}: the batch holds no feature tensor.")
    if num_numerical and "num_missing" not in out:
        out["num_missing"] = torch.zeros_like(out["x_num"], dtype=torch.bool)
    return out
