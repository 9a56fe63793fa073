"""Optional dependencies, checked in one place."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

__all__ = ["HEAVY_DOMAIN_MODULES", "module_available", "require"]

#: Libraries that ``import selfsup`` must never load (plugins bring them).
HEAVY_DOMAIN_MODULES = ("torch_geometric", "torchaudio", "torchvision", "transformers")


def module_available(name: str) -> bool:
    """Whether ``name`` can be imported, without importing it."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def require(module: str, package: str, *, extra: str | None = None) -> ModuleType:
    """Import ``module`` or raise an ImportError that says what to install."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        how = f"pip install {extra!r}" if extra else f"pip install {package}"
        raise ImportError(f"{module} is needed here but {package} is not installed: {how}") from err
