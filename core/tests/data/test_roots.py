"""Data folders come from the user (argument or SELFSUP_DATA), never from a default of ours."""

from __future__ import annotations

import pytest

from selfsup.data import DATA_ENV, DataRootError, data_root_or_none, resolve_data_root


def test_argument_wins_over_environment(tmp_path, monkeypatch):
    other = tmp_path / "env"
    other.mkdir()
    monkeypatch.setenv(DATA_ENV, str(other))
    assert resolve_data_root(tmp_path) == tmp_path
    assert resolve_data_root(None) == other
    assert resolve_data_root("") == other


def test_neither_given_names_both_ways(monkeypatch):
    monkeypatch.delenv(DATA_ENV, raising=False)
    assert data_root_or_none(None) is None
    with pytest.raises(DataRootError, match=r"data_root=/path/to/data.*SELFSUP_DATA") as err:
        resolve_data_root(None, owner="MyData", parameter="data_root")
    assert "MyData" in str(err.value)
    assert isinstance(err.value, FileNotFoundError)


def test_missing_folder_says_where_it_came_from(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "nope"))
    with pytest.raises(DataRootError, match="from SELFSUP_DATA="):
        resolve_data_root(None)
    with pytest.raises(DataRootError, match="from root="):
        resolve_data_root(tmp_path / "absent")
    assert resolve_data_root(tmp_path / "absent", must_exist=False) == tmp_path / "absent"


def test_tilde_is_expanded(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_data_root("~") == tmp_path
