"""``selfsup new-plugin NAME``: start a domain plugin from ``templates/plugin``."""

from __future__ import annotations

import keyword
import re
import shutil
from pathlib import Path

__all__ = ["create_plugin", "find_template", "substitutions"]

_TEXT_SUFFIXES = {".py", ".toml", ".md", ".yaml", ".yml", ".txt", ".cfg", ".ini", ""}


def substitutions(name: str) -> list[tuple[re.Pattern[str], str]]:
    """The ordered rewrites that turn the template into plugin ``name``.

    Documented in ``templates/plugin/README.md``: the entry-point key, then
    ``selfsup_template``, ``selfsup-template`` and ``Template``.
    """
    camel = "".join(part.capitalize() for part in name.split("_"))
    return [
        (re.compile(r"(?m)^template = "), f"{name} = "),
        (re.compile(re.escape("selfsup_template")), f"selfsup_{name}"),
        (re.compile(re.escape("selfsup-template")), f"selfsup-{name.replace('_', '-')}"),
        (re.compile(re.escape("Template")), camel),
    ]


def _substitute(text: str, subs: list[tuple[re.Pattern[str], str]]) -> str:
    for pattern, new in subs:
        text = pattern.sub(new, text)
    return text


def find_template(start: Path | None = None) -> Path:
    """``templates/plugin`` of the enclosing selfsup checkout.

    The template is not shipped in the wheel: contributors work from a clone (or
    pass ``--template``), where the template is tested together with core.
    """
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "templates" / "plugin"
        if (candidate / "pyproject.toml").is_file():
            return candidate
    raise FileNotFoundError(
        "no plugin template found: run inside a selfsup checkout (templates/plugin) or "
        "pass --template PATH."
    )


def create_plugin(name: str, dest: Path, template: Path | None = None) -> Path:
    """Copy the template to ``dest / name`` with the names filled in; return that folder."""
    if not name.isidentifier() or keyword.iskeyword(name) or name != name.lower():
        raise ValueError(
            f"plugin name must be a lowercase Python identifier (e.g. 'timeseries'), got {name!r}."
        )
    template = template or find_template()
    target = dest / name
    if target.exists():
        raise FileExistsError(f"{target} already exists; pick another name or remove it.")
    subs = substitutions(name)
    staging = dest / f".{name}.partial"
    if staging.exists():
        shutil.rmtree(staging)
    for src in sorted(template.rglob("*")):
        rel = src.relative_to(template)
        if "__pycache__" in rel.parts or src.suffix == ".pyc":
            continue
        out = staging / _substitute(str(rel), subs)
        if src.is_dir():
            out.mkdir(parents=True, exist_ok=True)
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        if src.suffix in _TEXT_SUFFIXES:
            out.write_text(_substitute(src.read_text(), subs))
        else:
            shutil.copy2(src, out)
    # Rename last so an interrupted copy never leaves a half-made plugin behind.
    staging.rename(target)
    return target
