"""Preprocessing: typing, vocabularies, scaling fitted on train, missing values, bad input."""

from __future__ import annotations

import json
import warnings
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
import torch

from selfsup_tabular.data import (
    MISSING_INDEX,
    UNKNOWN_INDEX,
    TabularPreprocessor,
    TargetEncoder,
    detect_delimiter,
    read_table,
    resolve_column,
)


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [20, 30, 40, 50, np.nan, 60],
            "income": ["1.5", "2.5", " 3.5", "?", "4.5", "5.5"],  # numbers stored as strings
            "city": ["a", "b", "a", "?", "c", "a"],
            "const": [7.0] * 6,
            "empty": [None] * 6,
            "label": ["x", "y", "x", "y", "x", "y"],
        }
    )


def _fit(**kw: object) -> TabularPreprocessor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return TabularPreprocessor(**kw).fit(_frame(), target="label")  # type: ignore[arg-type]


def test_automatic_typing_and_overrides() -> None:
    pre = _fit()
    assert [s["name"] for s in pre.numerical] == ["age", "income", "const"]
    assert [s["name"] for s in pre.categorical] == ["city", "empty"]
    assert "label" not in pre.feature_names
    forced = _fit(categorical=["age"], numerical=[], drop=["empty"])
    assert [s["name"] for s in forced.categorical] == ["age", "city"]
    with pytest.raises(ValueError, match="not in the table"):
        TabularPreprocessor(numerical=["nope"]).fit(_frame())


def test_vocabulary_by_frequency_with_missing_and_unknown_codes() -> None:
    pre = _fit()
    assert pre.categorical[0]["vocab"] == ["a", "b", "c"]
    new = _frame().assign(city=["b", "zzz", None, "", "a", "c"])
    codes = pre.transform(new)["x_cat"][:, 0].tolist()
    assert codes == [3, UNKNOWN_INDEX, MISSING_INDEX, MISSING_INDEX, 2, 4]
    rare = _fit(min_frequency=2)
    assert rare.categorical[0]["vocab"] == ["a"]


def test_missing_numbers_become_flags_never_nan() -> None:
    out = _fit().transform(_frame())
    assert torch.isfinite(out["x_num"]).all()
    assert out["num_missing"][:, 0].tolist() == [False] * 4 + [True, False]
    assert out["num_missing"][:, 1].tolist() == [False] * 3 + [True, False, False]
    assert (out["x_num"][out["num_missing"]] == 0).all()


def test_constant_and_all_missing_columns_are_documented_not_fatal() -> None:
    with pytest.warns(UserWarning) as record:
        pre = TabularPreprocessor().fit(_frame(), target="label")
    messages = " ".join(str(w.message) for w in record)
    assert "'const' is constant" in messages and "'empty' is entirely missing" in messages
    out = pre.transform(_frame())
    assert (out["x_num"][:, 2] == 0).all()
    assert pre.categorical[1]["vocab"] == []  # "empty": only the missing token
    assert (out["x_cat"][:, 1] == MISSING_INDEX).all()


def test_quantile_scaling_matches_the_normal_quantile_of_the_training_ecdf() -> None:
    train = pd.DataFrame({"v": np.arange(1.0, 102.0)})  # 101 distinct values
    pre = TabularPreprocessor(n_quantiles=101).fit(train)
    test = pd.DataFrame({"v": [1.0, 51.0, 76.0, 101.0, 1000.0, -5.0]})
    got = pre.transform(test)["x_num"][:, 0].double()
    u = [1e-7, 0.5, 0.75, 1 - 1e-7, 1 - 1e-7, 1e-7]  # ECDF ranks, clipped outside the range
    expected = torch.tensor([NormalDist().inv_cdf(p) for p in u], dtype=torch.float64)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def test_standard_scaling_uses_training_statistics_only() -> None:
    train = pd.DataFrame({"v": [1.0, 2.0, 3.0]})
    pre = TabularPreprocessor(scaling="standard").fit(train)
    got = pre.transform(pd.DataFrame({"v": [2.0, 100.0]}))["x_num"][:, 0]
    std = float(np.std([1.0, 2.0, 3.0]))
    torch.testing.assert_close(got, torch.tensor([0.0, 98.0 / std]))


def test_state_is_json_and_round_trips() -> None:
    pre = _fit()
    state = json.loads(json.dumps(pre.to_dict()))
    again = TabularPreprocessor.from_dict(state)
    a, b = pre.transform(_frame()), again.transform(_frame())
    for key in a:
        assert torch.equal(a[key], b[key])
    with pytest.raises(ValueError, match="preprocessing state"):
        TabularPreprocessor.from_dict({"format": 99})


def test_schema_mismatch_and_non_numeric_values() -> None:
    pre = _fit()
    with pytest.raises(ValueError, match="schema mismatch.*'city'"):
        pre.transform(_frame().drop(columns=["city"]))
    extra = _frame().assign(unused=1)  # extra columns are ignored
    assert pre.transform(extra)["x_num"].shape == (6, 3)
    bad = _frame().assign(age=["20", "thirty", "40", "50", "60", "70"])
    with pytest.warns(UserWarning, match="non-numeric"):
        out = pre.transform(bad)
    assert bool(out["num_missing"][1, 0])
    with pytest.raises(RuntimeError, match="not fitted"):
        TabularPreprocessor().transform(_frame())


def test_target_encoder_strips_trailing_dot_and_rejects_unseen() -> None:
    enc = TargetEncoder().fit(pd.Series(["<=50K", ">50K", "<=50K"]))
    assert enc.transform(pd.Series([" >50K.", "<=50K."])).tolist() == [1, 0]
    with pytest.raises(ValueError, match="not in the training labels"):
        enc.transform(pd.Series(["other"]))
    assert enc.present(pd.Series(["a", "?", None])).tolist() == [True, False, False]
    reg = TargetEncoder("regression").fit(pd.Series(["1", "3"]))
    torch.testing.assert_close(reg.inverse(reg.transform(pd.Series(["5"]))), torch.tensor([5.0]))


@pytest.mark.parametrize("sep", [",", ";", "\t"])
def test_read_table_detects_delimiters_and_skips_a_junk_first_line(tmp_path, sep) -> None:
    rows = [sep.join(["1", "a b", "x"]), sep.join(["2", "c", "y."])]
    path = tmp_path / "t.csv"
    path.write_text("|1x3 Cross validator\n" + "\n".join(rows) + "\n")
    assert detect_delimiter(path) == sep
    with pytest.warns(UserWarning, match="skipped 1"):
        df = read_table(path, header=False)
    assert df.shape == (2, 3)
    assert df.iloc[0].tolist() == ["1", "a b", "x"]
    assert resolve_column(df.columns, -1) == "2"
    assert resolve_column(df.columns, "0") == "0"
    with pytest.raises(KeyError, match="not found"):
        resolve_column(df.columns, "label")
    with pytest.raises(FileNotFoundError, match="not found"):
        read_table(tmp_path / "missing.csv")
