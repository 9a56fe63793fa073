"""Resolve config names and short component names before LightningCLI reads a config.

``--config graph:graphmae_cora`` (a name, not a file) becomes the path of the config
the installed plugin ships (:mod:`selfsup.plugins.configs`). Inside a config,
``class_path: graphmae`` (or ``graph:graphmae``) becomes the full import path the
installed plugin registers; a full path into a plugin that is not installed fails
with the pip command that installs it, instead of jsonargparse's generic "import
failed".
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from selfsup.plugins import FIRST_PARTY, Plugin, PluginNotFoundError, component_path, discover
from selfsup.plugins.configs import find_config, looks_like_config_name

__all__ = ["resolve_config", "resolved_config_args"]

_CONFIG_FLAGS = ("--config", "-c")


def _check_importable(class_path: str) -> None:
    top = class_path.split(".", 1)[0]
    if importlib.util.find_spec(top) is not None:
        return
    if top.startswith("selfsup_"):
        name = top.removeprefix("selfsup_")
        dist = FIRST_PARTY.get(name, f"selfsup-{name}")
        raise PluginNotFoundError(
            f"the config names {class_path!r}, but {dist} is not installed: pip install {dist}"
        )
    raise PluginNotFoundError(
        f"the config names {class_path!r}, but the module {top!r} is not installed."
    )


def resolve_config(node: Any, plugins: Mapping[str, Plugin] | None = None) -> Any:
    """Return ``node`` with every short ``class_path`` replaced by its full import path.

    Raises:
        PluginNotFoundError: a short name no installed plugin provides, or a full
            path into a package that is not installed.
    """
    if isinstance(node, list):
        return [resolve_config(item, plugins) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: resolve_config(value, plugins) for key, value in node.items()}
    class_path = out.get("class_path")
    if isinstance(class_path, str):
        if "." not in class_path:
            if plugins is None:
                plugins = discover()
            module, _, attr = component_path(class_path, plugins).partition(":")
            out["class_path"] = f"{module}.{attr}"
        else:
            _check_importable(class_path)
    return out


@contextmanager
def resolved_config_args(argv: list[str]) -> Iterator[list[str]]:
    """Yield ``argv`` with ``--config`` names made paths and YAML needing resolution rewritten.

    A ``--config`` value that is not a file but has the ``owner:name`` form names a
    shipped config. Files that need no change are passed through untouched; rewritten
    ones go to temporary files, removed on exit. Paths inside a config are read
    relative to the working directory either way.

    Raises:
        PluginNotFoundError: a config name that no installed package ships.
    """
    out = list(argv)
    written: list[str] = []
    for i, arg in enumerate(out):
        flag, sep, value = arg.partition("=")
        if flag not in _CONFIG_FLAGS:
            continue
        if sep:
            path_str = value
        elif i + 1 < len(out):
            path_str = out[i + 1]
        else:
            continue
        path = Path(path_str)
        if not path.is_file() and looks_like_config_name(path_str):
            path = find_config(path_str)
            if sep:
                out[i] = f"{flag}={path}"
            else:
                out[i + 1] = str(path)
        if not path.is_file():
            continue  # jsonargparse also accepts inline YAML and reports missing files itself
        original = yaml.safe_load(path.read_text())
        resolved = resolve_config(original)
        if resolved == original:
            continue
        tmp = tempfile.NamedTemporaryFile(
            "w", suffix=".yaml", prefix=f"{path.stem}.resolved.", delete=False
        )
        with tmp:
            yaml.safe_dump(resolved, tmp, sort_keys=False)
        written.append(tmp.name)
        if sep:
            out[i] = f"{flag}={tmp.name}"
        else:
            out[i + 1] = tmp.name
    try:
        yield out
    finally:
        for name in written:
            os.unlink(name)
