"""Fixtures shared by the repository-level tests."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load_benchmark(domain: str, name: str) -> ModuleType:
    # benchmark scripts are not a package: load each by path under a name that cannot collide
    spec = importlib.util.spec_from_file_location(
        f"bench_{domain}_{name}", BENCHMARKS / domain / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def load_benchmark() -> Callable[[str, str], ModuleType]:
    """``load_benchmark("vision", "grid")`` loads ``benchmarks/vision/grid.py`` as a module."""
    return _load_benchmark
