"""Tests for selfsup.teachers.schedules (constant, BYOL cosine, I-JEPA linear momentum)."""

from __future__ import annotations

import dataclasses
import math

import pytest

from selfsup.teachers import (
    MomentumSchedule,
    constant,
    cosine,
    linear,
    schedule_from_name,
)


def _byol(base: float, final: float, k: int, total: int) -> float:
    k = min(k, total)
    return final - (final - base) * (math.cos(math.pi * k / total) + 1) / 2


def _ijepa(base: float, final: float, k: int, total: int) -> float:
    return base + (final - base) * min(k, total) / total


@pytest.mark.parametrize("total", [1, 10, 1000])
@pytest.mark.parametrize(("base", "final"), [(0.996, 1.0), (0.99, 0.999), (0.5, 0.5)])
def test_cosine_and_linear_match_formulas(total: int, base: float, final: float) -> None:
    cos, lin = cosine(base, final), linear(base, final)
    for k in (0, total // 2, total, total + 1, 10 * total):
        assert cos(k, total) == pytest.approx(_byol(base, final, k, total), abs=1e-15)
        assert lin(k, total) == pytest.approx(_ijepa(base, final, k, total), abs=1e-15)
        assert type(cos(k, total)) is float and type(lin(k, total)) is float
    assert cos(0, total) == pytest.approx(base, abs=1e-15)
    assert cos(total, total) == final and cos(total + 5, total) == final  # clamped beyond K
    assert lin(total, total) == pytest.approx(final, abs=1e-15)


def test_cosine_midpoint_and_monotone() -> None:
    sched = cosine(0.996, 1.0)
    assert sched(50, 100) == pytest.approx(0.998, abs=1e-12)
    values = [sched(k, 100) for k in range(101)]
    assert values == sorted(values)


def test_constant() -> None:
    sched = constant(0.999)
    assert [sched(k, 10) for k in (0, 5, 10, 20)] == [0.999] * 4
    assert constant(0.0)(3, 10) == 0.0


def test_frozen_dataclass_round_trip() -> None:
    sched = cosine(0.99, 1.0)
    assert sched.kind == "cosine"
    fields = dataclasses.asdict(sched)
    assert fields == {"kind": "cosine", "base": 0.99, "final": 1.0}
    assert MomentumSchedule(**fields) == sched
    with pytest.raises(dataclasses.FrozenInstanceError):
        sched.base = 0.5  # type: ignore[misc]
    assert MomentumSchedule("linear", 1, 1).base == 1.0  # ints are stored as floats


def test_jsonargparse_round_trip() -> None:
    jsonargparse = pytest.importorskip("jsonargparse")
    parser = jsonargparse.ArgumentParser()
    parser.add_class_arguments(MomentumSchedule, "momentum")
    cfg = parser.parse_args(["--momentum.kind=linear", "--momentum.base=0.99"])
    instantiate = getattr(parser, "instantiate", None) or parser.instantiate_classes
    sched = instantiate(cfg).momentum
    assert sched == linear(0.99, 1.0)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (0.99, constant(0.99)),
        (1, constant(1.0)),
        ("cosine", cosine()),
        ("linear", linear()),
        ("constant:0.999", constant(0.999)),
        ("Cosine:0.99:1.0", cosine(0.99, 1.0)),
        (" linear : 0.9 ", linear(0.9)),
        (cosine(0.5), cosine(0.5)),
    ],
)
def test_schedule_from_name(spec: object, expected: MomentumSchedule) -> None:
    assert schedule_from_name(spec) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("exponential", "unknown momentum schedule"),
        ("cosine:0.9:1.0:3", "unknown momentum schedule"),
        ("constant:0.9:1.0", "unknown momentum schedule"),
        ("cosine:abc", "non-numeric"),
        (1.5, r"\[0, 1\]"),
        (True, "float"),
        ([0.9], "float"),
    ],
)
def test_schedule_from_name_errors(spec: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        schedule_from_name(spec)  # type: ignore[arg-type]


def test_invalid_schedules_and_steps() -> None:
    with pytest.raises(ValueError, match="kind"):
        MomentumSchedule("exp", 0.9, 1.0)
    with pytest.raises(ValueError, match="final"):
        cosine(0.9, 1.1)
    with pytest.raises(ValueError, match="base"):
        linear(-0.1)
    with pytest.raises(ValueError, match="step"):
        cosine()(-1, 10)
    with pytest.raises(ValueError, match="total_steps"):
        cosine()(0, 0)
