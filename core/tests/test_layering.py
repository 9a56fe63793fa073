"""Layering rules of the core, checked on the source (``ast``) without importing it.

1. **No private name crosses a file boundary.** In every module under ``core/src/selfsup``, a
   ``from X import name`` (absolute or relative) where ``X`` is a ``selfsup`` module and
   ``name`` starts with one underscore (dunder names such as ``__version__`` excepted) fails,
   with two exceptions:

   - ``X`` is itself private: one of its dotted parts starts with an underscore
     (``selfsup.testing._contract_base``). A private module is the internal API of its package;
     its names may be shared by the package's modules, underscored or not.
   - ``name`` is a private *submodule* of ``X`` and the importing file lives in package ``X``
     (``from selfsup.kernels import _masking_triton`` in ``selfsup/kernels/masking.py``): a
     private module imported by its own package.

   Names of third-party libraries (Lightning's ``_ModeIterator``...) are out of scope: the rule is
   about our own files. A helper that several files need gets a name without an underscore,
   in a private module when it is not public API (``selfsup/losses/_contrastive.py``).
2. **Kernels sit below losses.** Nothing under ``selfsup/kernels`` imports ``selfsup.losses``
   (any import statement, including ones inside functions), and importing the kernels at run
   time does not load it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from selfsup.imports import module_available

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "selfsup"


def _modules() -> list[tuple[Path, str, bool]]:
    """``(path, dotted name, is_package)`` for every module under ``selfsup``."""
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        out.append((path, ".".join(parts[:-1] if is_package else parts), is_package))
    return out


def _resolve(node: ast.ImportFrom, name: str, is_package: bool) -> str:
    """The absolute module of a (possibly relative) ``from ... import``."""
    if not node.level:
        return node.module or ""
    base = name.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _private(part: str) -> bool:
    return part.startswith("_") and not part.startswith("__")


def _is_module(dotted: str) -> bool:
    rel = Path(*dotted.split("."))
    return (SRC / rel).with_suffix(".py").is_file() or (SRC / rel / "__init__.py").is_file()


def _private_imports() -> list[str]:
    bad = []
    for path, name, is_package in _modules():
        package = name if is_package else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.ImportFrom):
                continue
            source = _resolve(node, name, is_package)
            if source.split(".")[0] != "selfsup" or any(map(_private, source.split("."))):
                continue
            for alias in node.names:
                if not _private(alias.name):
                    continue
                if _is_module(f"{source}.{alias.name}") and source == package:
                    continue  # a private submodule imported by its own package
                where = f"{path.relative_to(SRC)}:{node.lineno}"
                bad.append(f"{where}: from {source} import {alias.name}")
    return bad


def test_no_private_name_is_imported_across_files():
    bad = _private_imports()
    assert not bad, (
        "private names imported from another file (give the helper a public name, in a "
        "private module if it is internal):\n" + "\n".join(bad)
    )


def test_the_rule_sees_relative_and_absolute_imports(tmp_path):
    # The resolver itself: a relative import from a module and from a package __init__.
    rel = ast.parse("from .info_nce import _x\nfrom ..kernels import lse").body
    assert _resolve(rel[0], "selfsup.losses.dcl", False) == "selfsup.losses.info_nce"
    assert _resolve(rel[1], "selfsup.losses.dcl", False) == "selfsup.kernels"
    assert _resolve(rel[0], "selfsup.losses", True) == "selfsup.losses.info_nce"
    assert _is_module("selfsup.kernels._masking_triton") and not _is_module("selfsup.kernels._x")


def _imported_modules(path: Path, name: str, is_package: bool) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(node, name, is_package)
            found.append((node.lineno, source))
            found += [(node.lineno, f"{source}.{alias.name}") for alias in node.names]
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))  # import_module("...") and the like
    return found


def test_kernels_do_not_import_losses():
    bad = []
    for path, name, is_package in _modules():
        if not name.startswith("selfsup.kernels"):
            continue
        for line, module in _imported_modules(path, name, is_package):
            if module == "selfsup.losses" or module.startswith("selfsup.losses."):
                bad.append(f"{path.relative_to(SRC)}:{line}: {module}")
    assert not bad, "selfsup.kernels must not import selfsup.losses:\n" + "\n".join(bad)


def test_importing_the_kernels_does_not_load_losses():
    modules = ["selfsup.kernels.lse", "selfsup.kernels.masking", "selfsup.kernels.topk"]
    if module_available("triton"):
        modules.append("selfsup.kernels.lse.triton")
    code = (
        f"import importlib, sys\nfor m in {modules!r}:\n    importlib.import_module(m)\n"
        "print(sorted(m for m in sys.modules if m.startswith('selfsup.losses')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("name", ["selfsup.kernels.lse", "selfsup.losses"])
def test_importing_lse_or_losses_does_not_import_triton(name):
    code = f"import sys, {name}\nprint('triton' in sys.modules)\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
