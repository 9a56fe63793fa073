"""The saved form of a fitted preprocessing, checked before any of it is used.

A preprocessing state comes from a checkpoint or an exported ``config.json``: a stranger's
file. :func:`check_state` refuses a malformed one with the entry that is wrong.
"""

from __future__ import annotations

import math
from typing import Any, NoReturn

from selfsup.checks import repeated

__all__ = ["FORMAT_VERSION", "SCALINGS", "check_state"]

#: Numeric scalings a state may name.
SCALINGS = ("quantile", "standard", "minmax")
#: Version of :meth:`~selfsup_tabular.data.TabularPreprocessor.to_dict`'s layout.
FORMAT_VERSION = 1


def check_state(state: dict[str, Any]) -> None:
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
    if state["scaling"] not in SCALINGS:
        fail(f"scaling {state['scaling']!r} is not one of {SCALINGS}")
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
        if spec.get("scaling") not in SCALINGS or not isinstance(spec.get("constant"), bool):
            fail(f"{where} needs 'scaling' in {SCALINGS} and a boolean 'constant'")
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
    twice = repeated(names)
    if twice:
        fail(f"feature names {twice} appear more than once")
