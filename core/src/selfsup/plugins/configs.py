"""Shipped configs: YAML presets inside the installed packages, named ``owner:name``.

Core ships its own under ``selfsup/configs`` (owner ``selfsup``); a plugin ships
them in the folder its :class:`~selfsup.plugins.Plugin` names in ``configs``
(owner: the plugin's name). ``selfsup configs`` lists them;
``selfsup fit --config graph:graphmae_cora`` runs one. A config's first comment
line is its description; the plugins it needs are read from its ``class_path``
entries.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import as_file, files
from pathlib import Path
from typing import Any

import yaml

from selfsup.plugins.registry import FIRST_PARTY, Plugin, PluginNotFoundError, discover

__all__ = [
    "CORE_CONFIGS",
    "ShippedConfig",
    "find_config",
    "looks_like_config_name",
    "shipped_configs",
]

#: Where selfsup-core keeps its own configs (owner ``selfsup``).
CORE_CONFIGS = "selfsup/configs"

_NAME = re.compile(r"^(?:(?P<owner>[A-Za-z_]\w*):)?(?P<name>[A-Za-z0-9_][\w.-]*)$")


@dataclass(frozen=True)
class ShippedConfig:
    """One YAML preset shipped inside an installed package.

    Attributes:
        owner: ``"selfsup"`` for core, else the plugin's name.
        name: The file name without ``.yaml``.
        path: The file on disk.
        description: The config's first comment line.
        needs: Plugin names the config's ``class_path`` entries refer to.
    """

    owner: str
    name: str
    path: Path
    description: str
    needs: tuple[str, ...]

    @property
    def qualified(self) -> str:
        """``owner:name``, the form ``--config`` accepts."""
        return f"{self.owner}:{self.name}"


def _description(text: str) -> str:
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            return stripped.lstrip("#").strip()
        break
    return ""


def _needs(node: Any, plugins: Mapping[str, Plugin], found: set[str]) -> None:
    if isinstance(node, list):
        for item in node:
            _needs(item, plugins, found)
        return
    if not isinstance(node, dict):
        return
    for value in node.values():
        _needs(value, plugins, found)
    path = node.get("class_path")
    if not isinstance(path, str):
        return
    if "." in path:
        top = path.split(".", 1)[0]
        if top.startswith("selfsup_"):
            found.add(top.removeprefix("selfsup_"))
        return
    owner, sep, short = path.partition(":")
    if sep:
        found.add(owner)
        return
    owners = [p.name for p in plugins.values() if short in p.components]
    found.update(owners[:1])


def _folder_configs(
    owner: str, location: str, plugins: Mapping[str, Plugin]
) -> list[ShippedConfig]:
    package, _, folder = location.partition("/")
    try:
        root = files(package).joinpath(folder)
    except ModuleNotFoundError:
        return []
    if not root.is_dir():
        return []
    out = []
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith((".yaml", ".yml")) or not entry.is_file():
            continue
        text = entry.read_text(encoding="utf-8")
        found: set[str] = set()
        try:
            _needs(yaml.safe_load(text), plugins, found)
        except yaml.YAMLError:
            pass  # listed anyway; running it reports the YAML error
        with as_file(entry) as path:  # wheels unpack to real files; zips are not supported
            out.append(
                ShippedConfig(
                    owner=owner,
                    name=entry.name.rsplit(".", 1)[0],
                    path=Path(path),
                    description=_description(text),
                    needs=tuple(sorted(found - {owner})),
                )
            )
    return out


def shipped_configs(plugins: Mapping[str, Plugin] | None = None) -> list[ShippedConfig]:
    """Every config shipped by selfsup-core and the installed plugins, core first.

    Examples:
        >>> [c.qualified for c in shipped_configs()][:1]
        ['selfsup:digits_simclr']
    """
    plugins = discover() if plugins is None else plugins
    out = _folder_configs("selfsup", CORE_CONFIGS, plugins)
    for plugin in plugins.values():
        if plugin.configs:
            out.extend(_folder_configs(plugin.name, plugin.configs, plugins))
    return out


def looks_like_config_name(value: str) -> bool:
    """Whether ``value`` has the ``[owner:]name`` form rather than a path."""
    return "/" not in value and "\\" not in value and _NAME.match(value) is not None


def find_config(value: str, plugins: Mapping[str, Plugin] | None = None) -> Path:
    """The file of the shipped config ``[owner:]name`` (a trailing ``.yaml`` is allowed).

    Raises:
        PluginNotFoundError: the owner is a plugin that is not installed, the name is not
            shipped (the message suggests close names and ``selfsup configs``), or a bare name
            is shipped by several packages.
    """
    match = _NAME.match(value)
    if match is None:
        raise PluginNotFoundError(f"{value!r} is not a config name of the form owner:name.")
    owner, name = match.group("owner"), match.group("name")
    name = re.sub(r"\.ya?ml$", "", name)
    plugins = discover() if plugins is None else plugins
    if owner is not None and owner != "selfsup" and owner not in plugins:
        hint = f"pip install {FIRST_PARTY[owner]}" if owner in FIRST_PARTY else "install it"
        raise PluginNotFoundError(
            f"the config {value!r} belongs to the selfsup plugin {owner!r}, which is not "
            f"installed: {hint}."
        )
    catalog = shipped_configs(plugins)
    hits = [c for c in catalog if c.name == name and (owner is None or c.owner == owner)]
    if len(hits) == 1:
        return hits[0].path
    if len(hits) > 1:
        names = ", ".join(c.qualified for c in hits)
        raise PluginNotFoundError(f"several packages ship a config {name!r}; qualify it: {names}.")
    pool = [c.qualified for c in catalog if owner is None or c.owner == owner]
    close = difflib.get_close_matches(f"{owner}:{name}" if owner else name, pool, n=3, cutoff=0.5)
    close += difflib.get_close_matches(name, [c.name for c in catalog], n=3, cutoff=0.6)
    suggestion = f" Did you mean {', '.join(dict.fromkeys(close))}?" if close else ""
    raise PluginNotFoundError(
        f"no shipped config {value!r} and no such file.{suggestion} `selfsup configs` lists the "
        "shipped configs; a path to your own YAML file works too."
    )
