"""The plugin skeleton: one package layout for every domain, and the check that enforces it.

Every plugin package ``selfsup_<name>/`` holds the same seven places, so a reader who knows one
plugin knows where everything lives in the next:

============== ============================================================================
``plugin.py``  the registry record (:class:`~selfsup.plugins.Plugin`), nothing heavy imported
``batch.py``   the batch contract: what the methods accept, validated in one place
``methods/``   one method family per file
``encoders/``  modules ``inputs -> features``; each owns its input format
``augment/``   stochastic views
``data/``      Lightning data modules (they never reach into the trainer or the model)
``evaluation/`` probes of frozen embeddings (and offline evaluation commands)
============== ============================================================================

Anything else at the top of the package is a *domain extra* (audio ``frontends/``, recsys
``serving.py``) and must be named, as ```frontends/``` or ```serving.py```, in the ``## Layout``
section of the plugin's README, which says what it holds. ``__init__.py``, ``py.typed`` and
``configs/`` (YAML presets shipped in the wheel) are always allowed.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["ALWAYS_ALLOWED", "SKELETON", "declared_extras", "layout_problems", "package_entries"]

#: The places every plugin package has (a trailing ``/`` marks a sub-package).
SKELETON: tuple[str, ...] = (
    "plugin.py",
    "batch.py",
    "methods/",
    "encoders/",
    "augment/",
    "data/",
    "evaluation/",
)

#: Entries allowed in every package without a declaration.
ALWAYS_ALLOWED: frozenset[str] = frozenset({"__init__.py", "__main__.py", "py.typed", "configs/"})

_SECTION = re.compile(r"^##\s+Layout\s*$", re.MULTILINE)
_NAME = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*(?:/|\.py))`")


def package_entries(package_dir: str | Path) -> set[str]:
    """Top-level modules (``name.py``), sub-packages (``name/``) and ``py.typed`` of a package.

    Folders without Python files (caches, data folders) are not entries.

    Examples:
        >>> import selfsup, pathlib
        >>> "plugins/" in package_entries(pathlib.Path(selfsup.__file__).parent)
        True
    """
    root = Path(package_dir)
    out: set[str] = set()
    for path in root.iterdir():
        if path.is_file() and (path.suffix == ".py" or path.name == "py.typed"):
            out.add(path.name)
        elif path.is_dir() and path.name == "configs":
            out.add("configs/")
        elif path.is_dir() and any(path.glob("*.py")):
            out.add(f"{path.name}/")
    return out


def declared_extras(readme: str) -> set[str]:
    """The backticked ``name/`` and ``name.py`` entries of a README's ``## Layout`` section.

    Examples:
        >>> readme = "# x\\n## Layout\\n- `frontends/`: fbanks; `interop.py`\\n## Next\\n`a.py`"
        >>> sorted(declared_extras(readme))
        ['frontends/', 'interop.py']
    """
    match = _SECTION.search(readme)
    if match is None:
        return set()
    rest = readme[match.end() :]
    following = re.search(r"^##\s", rest, re.MULTILINE)
    section = rest[: following.start()] if following else rest
    return set(_NAME.findall(section))


def layout_problems(package_dir: str | Path, readme: str) -> list[str]:
    """What keeps a package from the skeleton: missing places and undeclared extras.

    Returns an empty list for a package that follows it.

    Examples:
        >>> import tempfile
        >>> pkg = Path(tempfile.mkdtemp())
        >>> for name in ("__init__.py", "plugin.py", "batch.py", "helpers.py"):
        ...     _ = (pkg / name).write_text("")
        >>> layout_problems(pkg, "## Layout\\n`helpers.py`: shared helpers")[0][:44]
        'missing methods/ (one method family per file'
        >>> layout_problems(pkg, "no layout section")[1][:42]
        "undeclared domain extras ['helpers.py']: m"
    """
    entries = package_entries(package_dir)
    problems = []
    missing = [name for name in SKELETON if name not in entries]
    if missing:
        problems.append("missing " + ", ".join(f"{m} ({_ROLE[m]})" for m in missing))
    extras = sorted(entries - set(SKELETON) - ALWAYS_ALLOWED)
    undeclared = [e for e in extras if e not in declared_extras(readme)]
    if undeclared:
        problems.append(
            f"undeclared domain extras {undeclared}: move them into the skeleton's places or "
            "name each (as `name/` or `name.py`) in the README's '## Layout' section with what "
            "it holds."
        )
    return problems


_ROLE = {
    "plugin.py": "the registry record",
    "batch.py": "the batch contract",
    "methods/": "one method family per file",
    "encoders/": "modules inputs -> features",
    "augment/": "stochastic views",
    "data/": "Lightning data modules",
    "evaluation/": "probes of frozen embeddings",
}
