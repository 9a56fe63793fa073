"""Every plugin in the repository, and the template, follows the one plugin skeleton."""

from __future__ import annotations

from pathlib import Path

import pytest

from selfsup.plugins.layout import SKELETON, layout_problems

ROOT = Path(__file__).resolve().parents[1]
PROJECTS = sorted(p.parent for p in (ROOT / "plugins").glob("*/pyproject.toml"))
PROJECTS.append(ROOT / "templates" / "plugin")


@pytest.mark.parametrize("project", PROJECTS, ids=[p.name for p in PROJECTS])
def test_package_has_the_skeleton_and_declares_its_extras(project: Path) -> None:
    (package,) = [p for p in (project / "src").iterdir() if p.name.startswith("selfsup_")]
    assert layout_problems(package, (project / "README.md").read_text()) == []


def test_the_check_fails_on_a_package_that_strays(tmp_path: Path) -> None:
    package = tmp_path / "selfsup_x"
    package.mkdir()
    for name in SKELETON:
        if name.endswith("/"):
            (package / name).mkdir()
            (package / name / "__init__.py").write_text("")
        else:
            (package / name).write_text("")
    assert layout_problems(package, "") == []
    (package / "helpers.py").write_text("")
    (package / "evaluation" / "__init__.py").unlink()
    problems = layout_problems(package, "## Layout\nnothing declared")
    assert problems[0].startswith("missing evaluation/")
    assert "undeclared domain extras ['helpers.py']" in problems[1]
    assert layout_problems(package, "## Layout\n- `helpers.py`: x\n")[1:] == []
