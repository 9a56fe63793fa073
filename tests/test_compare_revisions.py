"""benchmarks/compare_revisions.py: what counts as the same result across two revisions."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "compare_revisions.py"


@pytest.fixture(scope="module")
def cmp():
    spec = importlib.util.spec_from_file_location("bench_compare_revisions", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_numbers_must_match_and_timings_are_ignored(cmp) -> None:
    old = {"acc": 0.5, "runs": [{"loss": 1.0, "sec_per_epoch": 3.0}], "name": "x"}
    same = {"acc": 0.5, "runs": [{"loss": 1.0, "sec_per_epoch": 9.0}], "name": "x"}
    assert cmp.differences(old, same, 0.0, cmp.DEFAULT_IGNORE) == []
    moved = {"acc": 0.5000001, "runs": [{"loss": 1.0}], "name": "y", "extra": 1}
    diff = cmp.differences(old, moved, 0.0, cmp.DEFAULT_IGNORE)
    assert ".acc: 0.5 vs 0.5000001" in diff and ".name: 'x' vs 'y'" in diff
    assert ".extra: only in new" in diff
    assert cmp.differences(old, moved, 1e-3, cmp.DEFAULT_IGNORE)[:1] == [".extra: only in new"]
    assert cmp.differences({"a": [1, 2]}, {"a": [1]}, 0.0, ()) == [".a: 2 vs 1 items"]
    assert cmp.differences({"a": float("nan")}, {"a": float("nan")}, 0.0, ()) == []


def test_last_json_line_and_checkout_paths(cmp, tmp_path) -> None:
    assert cmp.last_json('progress\n{"a": 1}\n{"b": 2}\nbye\n') == {"b": 2}
    with pytest.raises(ValueError, match="no JSON object"):
        cmp.last_json("no json here\n[1, 2]\n")
    with pytest.raises(SystemExit, match="not a selfsup checkout"):
        cmp.source_path(tmp_path)
    (tmp_path / "core" / "src").mkdir(parents=True)
    (tmp_path / "plugins" / "x" / "src").mkdir(parents=True)
    assert cmp.source_path(tmp_path).split(":") == [
        str(tmp_path / "core" / "src"),
        str(tmp_path / "plugins" / "x" / "src"),
    ]
