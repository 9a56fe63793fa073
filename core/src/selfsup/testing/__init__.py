"""Test utilities for selfsup and its plugins (install ``selfsup-core[testing]``).

- :class:`PluginContract`, :class:`MethodContract` (:mod:`selfsup.testing.contract`):
  contract suites a plugin subclasses in its tests.
- :mod:`selfsup.testing.boring`, :mod:`selfsup.testing.distributed`: tiny fixtures
  and multi-process helpers (import those modules directly).
- :func:`selfsup.testing.deprecations.check_forwarded`: a moved module's old path forwards
  its names with a warning.

The contract classes are loaded on first access, so importing a sibling module
(``selfsup.testing.boring``) does not import pytest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["MethodContract", "PluginContract", "imported_modules"]

if TYPE_CHECKING:
    from selfsup.testing.contract import MethodContract, PluginContract, imported_modules


def __getattr__(name: str) -> Any:
    if name in __all__:
        from selfsup.testing import contract

        return getattr(contract, name)
    raise AttributeError(f"module 'selfsup.testing' has no attribute {name!r}")
