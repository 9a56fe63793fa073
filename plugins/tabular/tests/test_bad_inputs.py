"""Bad-input corpus: malformed files, tables, batches, states and config values.

Every case asserts the clear error (its message) or the documented behaviour (a warning with
counts and examples, a documented default). The README's "Bad input" section points here.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from selfsup.experiment.method import MalformedBatchError
from selfsup_tabular.data import (
    MISSING_INDEX,
    UNKNOWN_INDEX,
    TabularCSVDataModule,
    TabularPreprocessor,
    TargetEncoder,
    read_table,
)
from selfsup_tabular.evaluation.downstream import RawMLP, fit_supervised
from selfsup_tabular.methods import SCARF, TJEPA

SMALL = dict(
    d_token=8,
    num_heads=2,
    ffn_dim=8,
    encoder_layers=1,
    predictor_dim=8,
    predictor_layers=1,
    predictor_heads=2,
)


def _csv(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _table_text(rows: int = 12, sep: str = ",", trailing: str = "", label: bool = True) -> str:
    """A small labelled table; ``trailing`` is appended to every data line."""
    lines = [sep.join(["age", "city", "hours"] + (["label"] if label else []))]
    for i in range(rows):
        fields = [str(20 + i), "ab"[i % 2], f"{i / 4:.2f}"] + (["yn"[i % 2]] if label else [])
        lines.append(sep.join(fields) + trailing)
    return "\n".join(lines) + "\n"


def _quiet(fn: Any, *args: Any, **kwargs: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _module(tmp_path: Path, path: str = "t.csv", **kwargs: Any) -> TabularCSVDataModule:
    kwargs.setdefault("target", "label")
    return TabularCSVDataModule(path=path, data_root=str(tmp_path), batch_size=4, **kwargs)


# -- files: header, delimiters, trailing separators, encodings -----------------------------------
def test_trailing_comma_on_data_rows_keeps_the_header(tmp_path) -> None:
    # "a,b,c" then "1,x,3,": the empty last field is a trailing separator, not a 4th column;
    # it used to make the header look malformed (row 1 became the header) or shift columns
    path = _csv(tmp_path, "a,b,c\n1,x,3,\n2,y,4,\n5,z,6,\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing is skipped
        df = read_table(path)
    assert list(df.columns) == ["a", "b", "c"]
    assert df.values.tolist() == [["1", "x", "3"], ["2", "y", "4"], ["5", "z", "6"]]


def test_trailing_comma_on_every_line_is_not_a_column(tmp_path) -> None:
    df = read_table(_csv(tmp_path, "a,b,c,\n1,x,3,\n2,y,4,\n"))
    assert list(df.columns) == ["a", "b", "c"]
    headerless = read_table(_csv(tmp_path, "1,x,yes,\n2,y,no,\n", "h.csv"), header=False)
    assert list(headerless.columns) == ["0", "1", "2"]  # target=-1 is the label, not ""
    assert headerless["2"].tolist() == ["yes", "no"]


def test_a_missing_last_value_is_still_a_value(tmp_path) -> None:
    df = read_table(_csv(tmp_path, "a,b,c\n1,x,\n2,y,4\n"))
    assert df.values.tolist() == [["1", "x", ""], ["2", "y", "4"]]


def test_trailing_commas_through_the_data_module(tmp_path) -> None:
    _csv(tmp_path, _table_text(trailing=","))
    dm = _module(tmp_path)
    _quiet(dm.setup, "fit")
    assert dm.preprocessor.feature_names == ["age", "hours", "city"]
    assert dm.labels is not None and dm.labels.classes == ["n", "y"]


def test_latin1_file_names_the_file_byte_and_encoding_option(tmp_path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("name,city,n\nJos\xe9,Z\xfcrich,1\nA,B,2\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin\.csv.*byte 0xe9 at offset 15 \(line 2\)") as err:
        read_table(path)
    assert "encoding='latin-1'" in str(err.value)
    df = read_table(path, encoding="latin-1")
    assert df["name"].tolist() == ["José", "A"]
    dm = _module(tmp_path, "latin.csv", target=None, encoding="latin-1")
    assert _quiet(dm._read, "latin.csv")["city"].tolist() == ["Zürich", "B"]


def test_utf8_byte_order_mark_is_not_part_of_the_first_name(tmp_path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffid,v\nu1,1\nu2,2\n".encode())
    assert list(read_table(path).columns) == ["id", "v"]


def test_wrong_delimiter_says_which_one_the_header_uses(tmp_path) -> None:
    _csv(tmp_path, "a|b|c|label\n1|2|3|x\n4|5|6|y\n7|8|9|x\n", "pipe.csv")
    with pytest.raises(ValueError, match=r"pipe\.csv.*one column.*'\|'.*delimiter='\|'"):
        read_table(tmp_path / "pipe.csv")
    with pytest.raises(ValueError, match=r"delimiter='\|'"):
        _module(tmp_path, "pipe.csv", target=None).setup("fit")
    df = read_table(tmp_path / "pipe.csv", delimiter="|")
    assert list(df.columns) == ["a", "b", "c", "label"]


def test_empty_file_and_header_only(tmp_path) -> None:
    _csv(tmp_path, "", "empty.csv")
    with pytest.raises(ValueError, match=r"empty\.csv.*is empty"):
        read_table(tmp_path / "empty.csv")
    with pytest.raises(ValueError, match=r"empty\.csv.*is empty"):
        read_table(tmp_path / "empty.csv", delimiter=",")
    _csv(tmp_path, "age,city,label\n", "head.csv")
    assert list(read_table(tmp_path / "head.csv").columns) == ["age", "city", "label"]
    with pytest.raises(ValueError, match=r"head\.csv.*header but no data rows"):
        _module(tmp_path, "head.csv").setup("fit")


def test_duplicate_column_names_are_refused(tmp_path) -> None:
    # pandas would silently rename the second one to "a.1"
    _csv(tmp_path, "a,b,a\n1,2,3\n", "dup.csv")
    with pytest.raises(ValueError, match=r"dup\.csv.*'a' appears 2 times.*columns \[0, 2\]"):
        read_table(tmp_path / "dup.csv")
    _csv(tmp_path, "a, b,b \n1,2,3\n", "dup2.csv")  # equal once stripped
    with pytest.raises(ValueError, match="'b' appears 2 times"):
        read_table(tmp_path / "dup2.csv")
    frame = pd.DataFrame([[1, 2]], columns=[1, "1"])  # the same name once made a string
    with pytest.raises(ValueError, match="'1' appears 2 times"):
        TabularPreprocessor().fit(frame)


def test_rows_with_a_wrong_field_count_are_skipped_with_line_numbers(tmp_path) -> None:
    path = _csv(tmp_path, "a,b,c\n1,2,3\n4,5,6,7\n8,9\n1,1,1\n")
    with pytest.warns(UserWarning, match=r"skipped 2 malformed line\(s\).*lines \[3, 4\]"):
        df = read_table(path)
    assert df.values.tolist() == [["1", "2", "3"], ["1", "1", "1"]]
    with pytest.raises(ValueError, match=r"line 3 has 4 fields, expected 3"):
        read_table(path, skip_malformed=False)


def test_junk_first_line_is_skipped_with_a_warning(tmp_path) -> None:
    path = _csv(tmp_path, "|1x3 Cross validator\n1, a, x\n2, b, y.\n")
    with pytest.warns(UserWarning, match=r"skipped 1 malformed line\(s\).*lines \[1\]"):
        df = read_table(path, header=False)
    assert df.shape == (2, 3)


def test_a_header_that_disagrees_with_the_rows_never_becomes_data(tmp_path) -> None:
    path = _csv(tmp_path, "a,b\n1,2,3\n4,5,6\n7,8,9\n")
    with pytest.raises(ValueError, match=r"line 1 \(the header\) has 2 fields but the rows have 3"):
        read_table(path)
    with pytest.warns(UserWarning, match=r"skipped 1 malformed line\(s\).*lines \[1\]"):
        assert read_table(path, header=False).shape == (3, 3)  # as a junk line: warned


def test_a_one_column_table_is_fine(tmp_path) -> None:
    assert read_table(_csv(tmp_path, "v\n1\n2\n"))["v"].tolist() == ["1", "2"]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('a,b\n1,2\n3,"unclosed\n', r"line 3: unexpected end of data"),
        ('a,b\n"q"x,1\n', r"line 2: ',' expected after '\"'"),
    ],
)
def test_broken_quoting_names_the_line(tmp_path, text, match) -> None:
    with pytest.raises(ValueError, match=match):
        read_table(_csv(tmp_path, text))


def test_an_unknown_encoding_name_is_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"unknown encoding 'latin9x'"):
        read_table(_csv(tmp_path, "a\n1\n"), encoding="latin9x")


def test_quoted_delimiters_stay_inside_their_field(tmp_path) -> None:
    df = read_table(_csv(tmp_path, 'a,b\n"x, y",1\n"z",2\n'))
    assert df["a"].tolist() == ["x, y", "z"]


# -- labels, ids, test file ----------------------------------------------------------------------
def test_all_empty_labels_name_the_column_and_the_file(tmp_path) -> None:
    _csv(tmp_path, "a,b,label\n1,2,\n3,4,\n5,6,?\n", "nolabel.csv")
    with pytest.raises(ValueError, match=r"target column 'label' is empty.*nolabel\.csv.*3 rows"):
        _module(tmp_path, "nolabel.csv").setup("fit")


def test_rows_without_a_label_are_dropped_with_a_count(tmp_path) -> None:
    text = _table_text().replace(",y\n", ",\n", 2)
    _csv(tmp_path, text)
    dm = _module(tmp_path, val_fraction=0.0)
    with pytest.warns(UserWarning, match=r"left out 2 of 12 row\(s\).*label 'label' is missing"):
        dm.setup("fit")
    assert dm.splits["train"]["y"].shape == (10,)


def test_regression_labels_that_are_not_numbers_are_reported(tmp_path) -> None:
    lines = ["a,b,y"] + [f"{i},{i % 3},{i * 0.5}" for i in range(11)] + ["11,2,forty"]
    _csv(tmp_path, "\n".join(lines) + "\n")
    dm = _module(tmp_path, target="y", task="regression", val_fraction=0.0)
    with pytest.warns(UserWarning, match=r"left out 1 of 12 row\(s\).*not a number.*\['forty'\]"):
        dm.setup("fit")
    assert dm.splits["train"]["y"].shape == (11,)


@pytest.mark.parametrize(
    ("target", "error", "match"),
    [
        ("lable", KeyError, r"'lable' not found.*did you mean \['label'\]"),
        ("LABEL", KeyError, r"did you mean \['label'\]"),
        (7, KeyError, r"index 7 out of range for 4 columns"),
        (-5, KeyError, r"index -5 out of range for 4 columns"),
        (True, TypeError, "column name or an integer index, got bool"),
        (1.5, TypeError, "column name or an integer index, got float"),
    ],
)
def test_fit_refuses_a_target_that_is_not_a_column(target, error, match) -> None:
    frame = pd.DataFrame({"age": ["1", "2"], "city": ["a", "b"], "hours": ["3", "4"]})
    frame["label"] = ["x", "y"]
    with pytest.raises(error, match=match):
        TabularPreprocessor().fit(frame, target=target)


@pytest.mark.parametrize("target", ["label", -1, 3, "3"])
def test_fit_never_keeps_the_label_as_a_feature(target) -> None:
    frame = pd.DataFrame({"age": ["1", "2"], "city": ["a", "b"], "hours": ["3", "4"]})
    frame["label"] = ["x", "y"]
    pre = _quiet(TabularPreprocessor().fit, frame, target=target)
    assert pre.feature_names == ["age", "hours", "city"]


def test_misspelt_drop_and_type_declarations_are_refused() -> None:
    frame = pd.DataFrame({"customer_id": ["c1", "c2"], "age": ["1", "2"]})
    with pytest.raises(ValueError, match=r"drop.*'custmer_id'.*did you mean \['customer_id'\]"):
        TabularPreprocessor(drop=["custmer_id"]).fit(frame)
    with pytest.raises(ValueError, match=r"numerical.*'agee'.*did you mean \['age'\]"):
        TabularPreprocessor(numerical=["agee"]).fit(frame)


def test_target_or_feature_missing_from_the_test_file(tmp_path) -> None:
    _csv(tmp_path, _table_text())
    _csv(tmp_path, _table_text(label=False), "nolabel.csv")
    dm = _module(tmp_path, test_path="nolabel.csv")
    with pytest.raises(KeyError, match=r"label column 'label' is not in 'nolabel\.csv'.*age"):
        _quiet(dm.setup, "fit")
    _csv(tmp_path, _table_text().replace("city", "town"), "renamed.csv")
    dm = _module(tmp_path, test_path="renamed.csv")
    with pytest.raises(ValueError, match=r"schema mismatch.*'city'.*renamed\.csv"):
        _quiet(dm.setup, "fit")


def test_id_column_repeats_blanks_and_absence(tmp_path) -> None:
    _csv(tmp_path, "user,age,label\na,1,x\nb,2,y\na,3,x\n", "dup.csv")
    with pytest.raises(ValueError, match=r"repeats ids \['a'\]"):
        _module(tmp_path, "dup.csv", id_column="user").setup("fit")
    _csv(tmp_path, "user,age\nx,1\n,2\n", "gap.csv")
    with pytest.raises(ValueError, match=r"empty in rows \[1\]"):
        _module(tmp_path, "gap.csv", target=None, id_column="user").predict_dataloader()
    with pytest.raises(KeyError, match=r"id_column 'uid' is not in"):
        _module(tmp_path, "gap.csv", target=None, id_column="uid").predict_dataloader()


def test_unseen_test_class_is_an_error() -> None:
    enc = TargetEncoder().fit(pd.Series(["a", "b"]))
    with pytest.raises(ValueError, match=r"labels \['c'\] were not in the training labels"):
        enc.transform(pd.Series(["a", "c"]))


# -- column typing: stray tokens, infinities, declarations --------------------------------------
def _numbers(n: int, *extra: str) -> list[str]:
    return [str(i) for i in range(n)] + list(extra)


def test_one_stray_word_does_not_turn_a_numeric_column_categorical() -> None:
    frame = pd.DataFrame({"age": _numbers(50, "forty")})
    with pytest.warns(UserWarning, match=r"'age'.*1 of 51 value\(s\).*not numbers.*\['forty'\]"):
        pre = TabularPreprocessor().fit(frame)
    assert pre.feature_names == ["age"] and pre.num_numerical == 1
    with pytest.warns(UserWarning, match=r"1 non-numeric value\(s\).*\['forty'\]"):
        out = pre.transform(frame)
    assert bool(out["num_missing"][50, 0]) and float(out["x_num"][50, 0]) == 0.0


@pytest.mark.parametrize("token", ["inf", "-inf", "Infinity", "1e999"])
def test_infinite_values_in_a_numeric_column_are_missing_with_a_warning(token) -> None:
    frame = pd.DataFrame({"v": _numbers(10, token)})
    with pytest.warns(UserWarning, match=rf"'v'.*1 infinite value\(s\).*\['{token}'\].*missing"):
        pre = TabularPreprocessor().fit(frame)
    assert pre.num_numerical == 1
    out = _quiet(pre.transform, frame)
    assert torch.isfinite(out["x_num"]).all() and bool(out["num_missing"][10, 0])
    assert pre.numerical[0]["quantiles"][-1] == 9.0  # inf did not enter the scaling


def test_many_non_numbers_make_a_categorical_column_with_a_warning() -> None:
    frame = pd.DataFrame({"grade": _numbers(6, "A", "B", "C", "A")})
    with pytest.warns(UserWarning, match=r"'grade'.*categorical.*4 of 10.*numerical=\['grade'\]"):
        pre = TabularPreprocessor().fit(frame)
    assert pre.categorical[0]["name"] == "grade"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a declared column is never second-guessed
        TabularPreprocessor(categorical=["grade"]).fit(frame)


def test_a_declared_numeric_column_reports_its_non_numbers_at_fit() -> None:
    frame = pd.DataFrame({"v": _numbers(4, "x", "y")})
    with pytest.warns(UserWarning, match=r"'v'.*2 of 6 value\(s\).*not numbers.*\['x', 'y'\]"):
        pre = TabularPreprocessor(numerical=["v"]).fit(frame)
    assert pre.num_numerical == 1


def test_the_stray_share_is_configurable_and_checked() -> None:
    frame = pd.DataFrame({"v": _numbers(8, "x", "y")})  # 20 % non-numbers
    pre = _quiet(TabularPreprocessor(max_non_numeric=0.25).fit, frame)
    assert pre.num_numerical == 1
    assert _quiet(TabularPreprocessor(max_non_numeric=0.0).fit, frame).num_numerical == 0
    with pytest.raises(ValueError, match=r"max_non_numeric must be in \[0, 0\.5\)"):
        TabularPreprocessor(max_non_numeric=0.5)


def test_unseen_category_at_embed_time_is_the_unknown_code() -> None:
    train = pd.DataFrame({"city": ["a", "b", "a"], "v": ["1", "2", "3"]})
    pre = TabularPreprocessor().fit(train)
    out = pre.transform(pd.DataFrame({"city": ["c", "?", "a"], "v": ["1", "2", "3"]}))
    assert out["x_cat"][:, 0].tolist() == [UNKNOWN_INDEX, MISSING_INDEX, 2]


def test_constant_and_all_missing_columns_warn() -> None:
    frame = pd.DataFrame({"c": ["1"] * 3, "e": ["", "?", "NA"], "v": ["1", "2", "3"]})
    with pytest.warns(UserWarning) as record:
        pre = TabularPreprocessor().fit(frame)
    text = " ".join(str(w.message) for w in record)
    assert "'c' is constant" in text and "'e' is entirely missing" in text
    assert pre.transform(frame)["x_cat"][:, 0].tolist() == [MISSING_INDEX] * 3


def test_a_value_too_large_for_the_fitted_scaling_is_refused() -> None:
    pre = TabularPreprocessor(scaling="standard").fit(pd.DataFrame({"v": ["0", "1e-30"]}))
    with pytest.raises(ValueError, match=r"column 'v'.*row 0.*'1e\+20'.*overflow"):
        pre.transform(pd.DataFrame({"v": ["1e+20"]}))


# -- batches -------------------------------------------------------------------------------------
def _batch(rows: int = 4) -> dict[str, torch.Tensor]:
    return {
        "x_num": torch.randn(rows, 2),
        "num_missing": torch.zeros(rows, 2, dtype=torch.bool),
        "x_cat": torch.zeros(rows, 1, dtype=torch.long),
    }


@pytest.mark.parametrize("value", [math.nan, math.inf])
@pytest.mark.parametrize("kind", ["tjepa", "scarf"])
def test_non_finite_inputs_are_refused_as_inputs_not_encoder_outputs(kind, value) -> None:
    if kind == "tjepa":
        method: Any = TJEPA(num_numerical=2, cardinalities=[3], **SMALL)
    else:
        method = SCARF(hidden_dim=8, num_numerical=2, cardinalities=[3])
    batch = _batch()
    batch["x_num"][2, 1] = value
    with pytest.raises(MalformedBatchError) as err:
        method.training_losses(batch)
    text = str(err.value)
    assert "input batch['x_num'] holds 1 NaN/inf value(s)" in text
    assert "row 2, column 1" in text and "num_missing" in text
    assert "encoder output" not in text
    with pytest.raises(MalformedBatchError, match="input batch"):
        method.embed(batch)


def test_non_finite_inputs_to_supervised_training_name_the_argument() -> None:
    x, y = _batch(8), torch.randint(0, 2, (8,))
    x["x_num"][0, 0] = math.nan
    with pytest.raises(ValueError, match=r"train_x\['x_num'\] holds 1 NaN/inf value\(s\)"):
        fit_supervised(RawMLP(2, [1], 2, hidden_dim=4), x, y, _batch(8), y, epochs=1)
    bad_y = torch.full((8,), math.nan)
    with pytest.raises(ValueError, match=r"val_y holds 8 NaN/inf"):
        fit_supervised(
            RawMLP(2, [1], 1, hidden_dim=4), _batch(8), y.float(), _batch(8), bad_y,
            task="regression", epochs=1,
        )  # fmt: skip


def test_codes_out_of_range_and_wrong_dtypes() -> None:
    method = TJEPA(num_numerical=2, cardinalities=[3], **SMALL)
    batch = _batch()
    with pytest.raises(MalformedBatchError, match="out of range"):
        method.training_losses(dict(batch, x_cat=batch["x_cat"] + 9))
    with pytest.raises(MalformedBatchError, match="int64"):
        method.training_losses(dict(batch, x_cat=batch["x_cat"].float()))


# -- states from strangers (checkpoints, exported encoders) ---------------------------------------
def _state() -> dict[str, Any]:
    frame = pd.DataFrame({"v": ["1", "2", "3"], "c": ["a", "b", "a"]})
    return TabularPreprocessor().fit(frame).to_dict()


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda s: s.pop("numerical"), r"lacks 'numerical'"),
        (lambda s: s.update(scaling="zscore"), r"scaling 'zscore'"),
        (lambda s: s["numerical"][0].update(quantiles=[1.0, math.nan]), r"numerical\[0\]"),
        (lambda s: s["numerical"][0].update(quantiles=[3.0, 1.0]), r"non-decreasing"),
        (lambda s: s["categorical"][0].update(vocab=["a", 1]), r"categorical\[0\].*strings"),
        (lambda s: s["categorical"][0].update(name=["c"]), r"categorical\[0\].*name"),
        (lambda s: s.update(missing_values="?"), r"missing_values"),
    ],
)
def test_a_tampered_preprocessing_state_is_refused(edit, match) -> None:
    state = _state()
    edit(state)
    with pytest.raises(ValueError, match=match):
        TabularPreprocessor.from_dict(state)


@pytest.mark.parametrize("kind", ["tjepa", "scarf"])
def test_a_checkpoint_with_a_tampered_preprocessing_state_does_not_load(kind) -> None:
    import copy

    pre = TabularPreprocessor().fit(pd.DataFrame({"v": ["1", "2", "3"], "c": ["a", "b", "a"]}))
    make = (lambda: TJEPA(**SMALL)) if kind == "tjepa" else (lambda: SCARF(hidden_dim=8))
    state = copy.deepcopy(make().materialize(pre).state_dict())
    state["preprocessing._extra_state"]["categorical"][0]["vocab"] = [["a"]]
    with pytest.raises(ValueError, match=r"categorical\[0\]\['vocab'\] must be a list of strings"):
        make().load_state_dict(state)


# -- configuration values ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(val_fraction=1.0), r"val_fraction must be in \[0, 1\)"),
        (dict(batch_size=0), "batch_size must be >= 1"),
        (dict(scaling="zscore"), "scaling must be one of"),
        (dict(task="clasification"), "task must be 'classification' or 'regression'"),
        (dict(max_non_numeric=0.9), "max_non_numeric must be in"),
        (dict(numerical=["a"], categorical=["a"]), "listed as numerical and categorical"),
        (dict(target="user", id_column="user"), "target and id_column are the same"),
    ],
)
def test_data_module_config_values_are_checked(tmp_path, kwargs, match) -> None:
    _csv(tmp_path, "user,a,label\nu1,1,x\nu2,2,y\n")
    with pytest.raises(ValueError, match=match):
        TabularCSVDataModule(path="t.csv", data_root=str(tmp_path), **kwargs).setup("fit")


def test_a_too_small_table_says_the_validation_split_is_empty(tmp_path) -> None:
    _csv(tmp_path, _table_text(rows=4))
    dm = _module(tmp_path, val_fraction=0.1)
    _quiet(dm.setup, "fit")
    with pytest.raises(RuntimeError, match=r"val_fraction=0\.1 of 4 rows"):
        dm.val_dataloader()


def test_numeric_frame_values_are_typed_like_strings() -> None:
    # a DataFrame with float NaN/inf (not read from a file) follows the same rules
    frame = pd.DataFrame({"v": [float(i) for i in range(10)] + [np.inf, np.nan]})
    with pytest.warns(UserWarning, match="1 infinite value"):
        pre = TabularPreprocessor().fit(frame)
    out = _quiet(pre.transform, frame)
    assert out["num_missing"][:, 0].tolist() == [False] * 10 + [True, True]
