"""The six packages agree and can be adopted: versions, licence, metadata, extras."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = sorted(
    [ROOT / "core", *(p.parent for p in (ROOT / "plugins").glob("*/pyproject.toml"))],
    key=lambda p: p.name,
)
IDS = [p.name for p in PACKAGES]


def _pyproject(pkg: Path) -> dict:
    return tomllib.loads((pkg / "pyproject.toml").read_text())


def _import_dir(pkg: Path) -> Path:
    (src,) = [p for p in (pkg / "src").iterdir() if p.is_dir() and not p.name.endswith("-info")]
    return src


def _version(pkg: Path) -> str:
    text = (_import_dir(pkg) / "__init__.py").read_text()
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.M)
    assert match, f"{pkg.name}: no __version__ in __init__.py"
    return match.group(1)


def test_all_versions_agree():
    versions = {pkg.name: _version(pkg) for pkg in PACKAGES}
    assert len(set(versions.values())) == 1, versions
    assert len(versions) == 6


@pytest.mark.parametrize("pkg", PACKAGES, ids=IDS)
def test_plugins_pin_the_core_minor_they_are_released_with(pkg):
    if pkg.name == "core":
        return
    major, minor, *_ = _version(pkg).split(".")
    deps = _pyproject(pkg)["project"]["dependencies"]
    core = [d for d in deps if d.startswith("selfsup-core")]
    assert core == [f"selfsup-core>={major}.{minor},<{major}.{int(minor) + 1}"], core


@pytest.mark.parametrize("pkg", [*PACKAGES, ROOT / "templates" / "plugin"], ids=[*IDS, "template"])
def test_license_ships_in_every_package(pkg):
    assert (pkg / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()
    project = _pyproject(pkg)["project"]
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    assert "Apache License" in (ROOT / "LICENSE").read_text()


@pytest.mark.parametrize("pkg", PACKAGES, ids=IDS)
def test_metadata_people_look_for(pkg):
    project = _pyproject(pkg)["project"]
    assert project["authors"] and project["keywords"]
    assert "Typing :: Typed" in project["classifiers"]
    assert {"Homepage", "Repository", "Issues", "Changelog"} <= set(project["urls"])
    assert (_import_dir(pkg) / "py.typed").is_file()
    for dep in project["dependencies"]:
        assert re.search(r">=|<", dep) or dep.startswith("selfsup-"), f"unbounded {dep!r}"
        assert "==" not in dep, f"exact pin {dep!r}"


def _require_calls(src: Path) -> list[tuple[str, str | None, str, str]]:
    """``(module, extra, where, distribution)`` of every ``require(...)`` call in a package."""
    found = []
    for path in src.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name != "require" or not node.args or not isinstance(node.args[0], ast.Constant):
                continue
            extra = next(
                (k.value.value for k in node.keywords if k.arg == "extra"), None
            )  # e.g. "selfsup-tabular[builtin]"
            dist = node.args[1].value if len(node.args) > 1 else node.args[0].value
            found.append(
                (node.args[0].value, extra, f"{path.relative_to(ROOT)}:{node.lineno}", dist)
            )
    return found


@pytest.mark.parametrize("pkg", PACKAGES, ids=IDS)
def test_every_optional_import_names_an_extra_the_package_has(pkg):
    project = _pyproject(pkg)["project"]
    extras = set(project.get("optional-dependencies", {}))
    dist = project["name"]
    required = {
        re.split(r"[\s<>=!~;\[(]", d, maxsplit=1)[0].lower()
        for d in project["dependencies"] + _pyproject(ROOT / "core")["project"]["dependencies"]
    }
    for _, extra, where, dist_name in _require_calls(_import_dir(pkg)):
        if extra is None:  # allowed for a hard dependency (a clear error if it is broken)
            assert dist_name.lower() in required, f"{where}: {dist_name} is in no extra"
            continue
        match = re.fullmatch(r"([\w-]+)\[([\w,-]+)\]", extra)
        assert match, f"{where}: extra={extra!r} is not 'dist[extra]'"
        owner, names = match.group(1), match.group(2).split(",")
        owner_extras = (
            extras
            if owner == dist
            else set(_pyproject(ROOT / "core")["project"]["optional-dependencies"])
        )
        assert owner in (dist, "selfsup-core"), f"{where}: {extra!r} names another package"
        assert set(names) <= owner_extras, f"{where}: {owner} has no extra {names}"
