"""FT-Transformer-style feature tokenizer with [REG] tokens, and the encoded-batch checks."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from selfsup.experiment.method import MalformedBatchError
from selfsup_tabular.encoders.numerical import NUMERICAL_EMBEDDINGS, PeriodicEmbedding

__all__ = ["FeatureTokenizer", "check_tabular_batch", "encode_rows", "is_frame"]


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
    if isinstance(batch, list | tuple):
        if len(batch) != 2:
            raise MalformedBatchError(
                f"{owner} expects an encoded batch dict or a (batch, y) pair, got a "
                f"{type(batch).__name__} of length {len(batch)}."
            )
        batch = batch[0]
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


class FeatureTokenizer(nn.Module):
    """One token per feature plus ``R`` [REG] tokens (FT-Transformer, arXiv 2106.11959).

    .. math::

        t_j = x_j w_j + b_j + p_j \\ (m_j + p_j \\text{ if missing}), \\qquad
        t_k = E_k[c_k] + b_k + p_k \\ (\\text{categorical})

    (with ``numerical_embedding="periodic"``, ``x_j w_j + b_j`` is replaced by the
    :class:`~selfsup_tabular.encoders.PeriodicEmbedding` ``e_j(x_j)``), with ``p`` learned
    feature-identity embeddings and ``E_k`` an embedding of ``card_k + 2`` codes (0 missing,
    1 unknown). The [REG] tokens are learned, input-independent vectors
    prepended to the sequence: positions ``0..R-1`` are [REG], position ``R + j`` is feature ``j``
    (numericals first, then categoricals). Masks over features must be shifted by ``R``.

    Args:
        num_numerical: Numerical features ``n_num``.
        cardinalities: Vocabulary size per categorical feature.
        d_token: Token width ``d`` (default 64).
        num_registers: [REG] tokens ``R`` (default 1).
        numerical_embedding: ``"linear"`` (default, FT-Transformer / T-JEPA) or ``"periodic"``
            (:class:`~selfsup_tabular.encoders.PeriodicEmbedding`, "PLR", arXiv 2203.05556).
        frequencies: Periodic frequencies per feature (default 16; periodic only).
        frequency_scale: Their initial standard deviation (default 1.0; periodic only).

    Shapes:
        batch (see :func:`check_tabular_batch`) -> ``(B, R + F, d)`` with ``F = n_num + n_cat``.
    """

    def __init__(
        self,
        num_numerical: int,
        cardinalities: Sequence[int],
        d_token: int = 64,
        num_registers: int = 1,
        numerical_embedding: str = "linear",
        frequencies: int = 16,
        frequency_scale: float = 1.0,
    ) -> None:
        super().__init__()
        if numerical_embedding not in NUMERICAL_EMBEDDINGS:
            raise ValueError(
                f"numerical_embedding must be one of {NUMERICAL_EMBEDDINGS}, got "
                f"{numerical_embedding!r}."
            )
        self.numerical_embedding = numerical_embedding
        if num_numerical < 0 or num_registers < 0 or d_token < 1:
            raise ValueError("num_numerical, num_registers must be >= 0 and d_token >= 1.")
        self.num_numerical = int(num_numerical)
        self.cardinalities = [int(c) for c in cardinalities]
        self.num_features = self.num_numerical + len(self.cardinalities)
        if self.num_features == 0:
            raise ValueError("FeatureTokenizer needs at least one feature.")
        self.num_registers = int(num_registers)
        self.d_token = int(d_token)
        d = self.d_token
        bound = 1 / math.sqrt(d)
        n_num = self.num_numerical
        if numerical_embedding == "linear":
            self.num_weight = nn.Parameter(torch.empty(n_num, d).uniform_(-bound, bound))
            self.num_bias = nn.Parameter(torch.empty(n_num, d).uniform_(-bound, bound))
        elif n_num:
            self.periodic = PeriodicEmbedding(n_num, d, frequencies, frequency_scale)
        self.num_missing = nn.Parameter(torch.empty(n_num, d).uniform_(-bound, bound))
        sizes = [c + 2 for c in self.cardinalities]
        offsets = torch.tensor([0] + sizes[:-1], dtype=torch.long).cumsum(0)
        self.register_buffer("cat_offsets", offsets[: len(sizes)], persistent=False)
        self.cat_embedding = nn.Embedding(max(sum(sizes), 1), d)
        nn.init.uniform_(self.cat_embedding.weight, -bound, bound)
        self.cat_bias = nn.Parameter(torch.empty(len(sizes), d).uniform_(-bound, bound))
        self.feature_embedding = nn.Parameter(torch.zeros(self.num_features, d))
        nn.init.trunc_normal_(self.feature_embedding, std=0.02)
        self.registers = nn.Parameter(torch.zeros(self.num_registers, d))
        nn.init.trunc_normal_(self.registers, std=0.02)

    def feature_tokens(self, batch: Mapping[str, Tensor]) -> Tensor:
        """Tokens of the features only, ``(B, F, d)``."""
        parts = []
        if self.num_numerical:
            x = batch["x_num"]
            if self.numerical_embedding == "periodic":
                tok = self.periodic(x)
            else:
                tok = x.unsqueeze(-1) * self.num_weight + self.num_bias
            miss = batch["num_missing"].unsqueeze(-1)
            parts.append(torch.where(miss, self.num_missing.expand_as(tok), tok))
        if self.cardinalities:
            codes = batch["x_cat"] + self.cat_offsets
            parts.append(self.cat_embedding(codes) + self.cat_bias)
        return torch.cat(parts, dim=1) + self.feature_embedding

    def forward(self, batch: Mapping[str, Tensor]) -> Tensor:
        tokens = self.feature_tokens(batch)
        reg = self.registers.expand(tokens.shape[0], -1, -1)
        return torch.cat([reg, tokens], dim=1)
