"""Shared machinery of the contract suites: failure helper, subprocess import probe,
and the no-override guard."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from typing import Any, NoReturn

__all__ = ["imported_modules"]

_MARK = "@@selfsup-modules@@"


def _fail(message: str) -> NoReturn:
    """Raise an ``AssertionError`` (kept under ``python -O``, unlike ``assert``)."""
    raise AssertionError(message)


def _normalize_dist(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def imported_modules(code: str, *, timeout: float = 300.0) -> frozenset[str]:
    """Names in ``sys.modules`` after running ``code`` in a fresh interpreter.

    The child sees this interpreter's ``sys.path`` (so uninstalled source trees
    on the path are found too).

    Raises:
        AssertionError: when ``code`` fails in the child.
    """
    script = (
        f"{code}\nimport json as _json, sys as _sys\n"
        f"_sys.stdout.write('\\n{_MARK}' + _json.dumps(sorted(_sys.modules)) + '\\n')\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=timeout
    )
    if proc.returncode != 0 or _MARK not in proc.stdout:
        _fail(f"`{code}` failed in a fresh interpreter (exit {proc.returncode}):\n{proc.stderr}")
    return frozenset(json.loads(proc.stdout.rpartition(_MARK)[2]))


def _top(module: str) -> str:
    return module.partition(".")[0]


def _xfail_reason(func: Any) -> str:
    for mark in getattr(func, "pytestmark", []) or []:
        if getattr(mark, "name", None) == "xfail":
            reason = str(mark.kwargs.get("reason", "")).strip()
            if reason:
                return reason
    return ""


#: Modules defining the standard checks; overrides from anywhere else are guarded.
_CONTRACT_MODULES = frozenset(
    {__name__, "selfsup.testing.plugin_contract", "selfsup.testing.method_contract"}
)


class _Contract:
    """The no-override guard shared by every contract."""

    def test_no_overrides_DO_NOT_OVERRIDE(self) -> None:
        """Standard checks may only be replaced when marked ``xfail(reason=...)``."""
        cls = type(self)
        problems: list[str] = []
        seen: set[str] = set()
        for base in cls.__mro__:
            if base.__module__ not in _CONTRACT_MODULES:
                continue
            for name in vars(base):
                if not name.startswith("test_") or name in seen:
                    continue
                seen.add(name)
                owner = next(k for k in cls.__mro__ if name in vars(k))
                if owner.__module__ in _CONTRACT_MODULES:
                    continue
                current = vars(owner)[name]
                if current is None or not callable(current):
                    problems.append(
                        f"{owner.__name__}.{name} deletes the standard check "
                        f"{base.__name__}.{name} "
                        f"(set to {current!r})"
                    )
                elif not _xfail_reason(current):
                    problems.append(
                        f"{owner.__name__}.{name} overrides the standard check "
                        f"{base.__name__}.{name} without @pytest.mark.xfail(reason=...)"
                    )
        if problems:
            _fail(
                "the contract's checks must not be overridden or deleted; to deviate, override "
                "the check with @pytest.mark.xfail(reason='why this plugin differs'):\n  "
                + "\n  ".join(problems)
            )
