"""selfsup-tabular passes the selfsup contract suites."""

from __future__ import annotations

import warnings
from typing import Any

import pandas as pd
import torch

from selfsup.experiment.method import Method
from selfsup.testing import MethodContract, PluginContract
from selfsup_tabular.data import TabularPreprocessor
from selfsup_tabular.methods.scarf import SCARF
from selfsup_tabular.methods.tjepa import TJEPA
from selfsup_tabular.methods.vime import VIME

CARDS = [3, 5]


def _fitted() -> TabularPreprocessor:
    """A preprocessor whose schema is that of ``_table``: 3 numericals, vocabularies 3 and 5."""
    frame = pd.DataFrame(
        {
            "n0": ["0.5", "1.5", "2.5", "?", "4", "9"],
            "n1": ["1", "2", "3", "4", "5", "6"],
            "n2": ["-1", "0", "1", "2", "", "7"],
            "c0": ["a", "b", "c", "a", "b", "a"],
            "c1": ["p", "q", "r", "s", "t", "p"],
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return TabularPreprocessor().fit(frame)


def _table(generator: torch.Generator, rows: int = 6) -> dict[str, torch.Tensor]:
    return {
        "x_num": torch.randn(rows, 3, generator=generator),
        "num_missing": torch.rand(rows, 3, generator=generator) < 0.2,
        "x_cat": torch.stack(
            [torch.randint(0, c + 2, (rows,), generator=generator) for c in CARDS], dim=1
        ),
    }


def _bad_tables() -> list[tuple[Any, str]]:
    good = _table(torch.Generator().manual_seed(0))
    nan = dict(good, x_num=good["x_num"].clone())
    nan["x_num"][0, 0] = float("nan")
    return [
        (good["x_num"], "dict"),
        (dict(good, x_num=good["x_num"][:, :2]), r"shape \(B, 3\)"),
        (nan, "NaN"),
        (dict(good, x_cat=good["x_cat"].float()), "int64"),
        (dict(good, x_cat=good["x_cat"] + 10), "out of range"),
        ({"x_cat": good["x_cat"]}, "'x_num'"),
        ((good, None, None), "length 3"),
    ]


class TestTabularPlugin(PluginContract):
    plugin_name = "tabular"
    distribution = "selfsup-tabular"
    modality = "tabular"


class TestSCARF(MethodContract):
    method_cls = SCARF
    modality = "tabular"

    def make_method(self) -> Method:
        return SCARF(num_features=5, hidden_dim=8)

    def make_batch(self, generator: torch.Generator) -> Any:
        return torch.randn(6, 5, generator=generator), torch.arange(6)

    def malformed_batches(self) -> list[tuple[Any, str]]:
        x = torch.randn(6, 5)
        nan = x.clone()
        nan[0, 0] = float("nan")
        return [
            (x[:, :4], r"shape \(B, 5\)"),
            (x[None], r"shape \(B, 5\)"),
            (x.long(), "floating-point"),
            (nan, "impute missing values"),
            (x[:1], "at least 2 rows"),
            ((x, None, None), "length 3"),
            ({"x": x}, "tensor"),
        ]

    def make_embed_inputs(self, generator: torch.Generator) -> tuple[Any, int | None]:
        return torch.randn(3, 5, generator=generator), 3

    def make_encoder_inputs(self, generator: torch.Generator) -> tuple[Any, ...]:
        return (torch.randn(3, 5, generator=generator),)


class TestSCARFTable(MethodContract):
    """SCARF in table mode (encoded dict batches, column-wise corruption)."""

    method_cls = SCARF
    modality = "tabular"

    def make_method(self) -> Method:
        return SCARF(hidden_dim=8, num_numerical=3, cardinalities=CARDS)

    def make_batch(self, generator: torch.Generator) -> Any:
        return _table(generator)

    def malformed_batches(self) -> list[tuple[Any, str]]:
        return _bad_tables()

    def make_embed_inputs(self, generator: torch.Generator) -> tuple[Any, int | None]:
        return _table(generator, rows=4), 4

    def make_encoder_inputs(self, generator: torch.Generator) -> tuple[Any, ...]:
        return (_table(generator, rows=4),)


class TestSCARFFitted(TestSCARFTable):
    """SCARF materialised from a fitted preprocessor: the export carries it in config.json."""

    def make_method(self) -> Method:
        return SCARF(hidden_dim=8).materialize(_fitted())


class TestTJEPA(MethodContract):
    method_cls = TJEPA
    modality = "tabular"

    def make_method(self) -> Method:
        return TJEPA(
            num_numerical=3,
            cardinalities=CARDS,
            d_token=8,
            num_heads=2,
            ffn_dim=16,
            encoder_layers=1,
            predictor_dim=8,
            predictor_layers=1,
            predictor_heads=2,
        )

    def make_batch(self, generator: torch.Generator) -> Any:
        return _table(generator)

    def malformed_batches(self) -> list[tuple[Any, str]]:
        return _bad_tables()

    def make_embed_inputs(self, generator: torch.Generator) -> tuple[Any, int | None]:
        return _table(generator, rows=4), 4

    def make_encoder_inputs(self, generator: torch.Generator) -> tuple[Any, ...]:
        return (_table(generator, rows=4),)


class TestTJEPAFitted(TestTJEPA):
    """T-JEPA materialised from a fitted preprocessor: the export carries it in config.json."""

    def make_method(self) -> Method:
        method = super().make_method()
        assert isinstance(method, TJEPA)
        return method.materialize(_fitted())


class TestVIME(TestSCARF):
    method_cls = VIME

    def make_method(self) -> Method:
        return VIME(num_features=5, hidden_dim=8)


class TestVIMETable(TestSCARFTable):
    """VIME in table mode (column-wise corruption, per-column reconstruction heads)."""

    method_cls = VIME

    def make_method(self) -> Method:
        return VIME(hidden_dim=8, num_numerical=3, cardinalities=CARDS)


class TestVIMEFitted(TestVIMETable):
    def make_method(self) -> Method:
        return VIME(hidden_dim=8).materialize(_fitted())
