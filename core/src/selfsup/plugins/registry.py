"""Entry-point discovery and short-name resolution (see :mod:`selfsup.plugins`)."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import MappingProxyType
from typing import Any

__all__ = [
    "ENTRY_POINT_GROUP",
    "FIRST_PARTY",
    "Plugin",
    "PluginNotFoundError",
    "component_path",
    "discover",
    "install_hint",
    "resolve",
]

ENTRY_POINT_GROUP = "selfsup.plugins"

#: First-party plugins by name -> distribution, used for install hints only.
FIRST_PARTY: Mapping[str, str] = MappingProxyType(
    {
        "vision": "selfsup-vision",
        "audio": "selfsup-audio",
        "graph": "selfsup-graph",
        "tabular": "selfsup-tabular",
        "recsys": "selfsup-recsys",
    }
)


class PluginNotFoundError(LookupError):
    """A plugin or component is not installed or not known."""


@dataclass(frozen=True)
class Plugin:
    """What a domain package provides.

    Args:
        name: Short plugin name, unique across installed plugins (``"graph"``).
        modality: Data modality served (``"graph"``, ``"audio"``, ...).
        components: Short component name -> ``"module:Attribute"`` import string,
            e.g. ``{"graphmae": "selfsup_graph.methods:GraphMAE"}``.
        description: One line shown by ``selfsup plugins``.
        distribution: The pip distribution name, for install hints.
        configs: ``"package/folder"`` holding the plugin's shipped YAML configs as package
            data (``"selfsup_graph/configs"``), listed by ``selfsup configs`` and named as
            ``--config graph:graphmae_cora``; ``""`` for none.
    """

    name: str
    modality: str
    components: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    distribution: str = ""
    configs: str = ""

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"plugin name must be a Python identifier, got {self.name!r}.")
        for short, target in self.components.items():
            module, sep, attr = target.partition(":")
            if not sep or not module or not attr:
                raise ValueError(
                    f"plugin {self.name!r}: component {short!r} -> {target!r} must be "
                    "'package.module:Attribute'."
                )
        if self.configs:
            package, sep, folder = self.configs.partition("/")
            if not sep or not package.isidentifier() or not folder:
                raise ValueError(
                    f"plugin {self.name!r}: configs must be 'package/folder' (e.g. "
                    f"'selfsup_{self.name}/configs'), got {self.configs!r}."
                )
        object.__setattr__(self, "components", MappingProxyType(dict(self.components)))

    def load(self, component: str) -> Any:
        """Import and return one component by its short name."""
        if component not in self.components:
            known = ", ".join(sorted(self.components)) or "(none)"
            raise PluginNotFoundError(
                f"plugin {self.name!r} has no component {component!r}; it provides: {known}."
            )
        return import_target(self.components[component])


def import_target(target: str) -> Any:
    """Import ``"package.module:Attribute.sub"`` and return the attribute."""
    module, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def install_hint(name: str) -> str:
    """A pip command for a first-party plugin name, or a generic hint."""
    dist = FIRST_PARTY.get(name)
    if dist is not None:
        return f"pip install {dist}"
    return f"install the package that provides the selfsup plugin {name!r}"


def discover() -> dict[str, Plugin]:
    """Installed plugins by name, read from the ``selfsup.plugins`` entry points.

    Only each plugin's ``plugin.py`` is imported. Raises if two distributions claim
    the same name or an entry point does not point at a :class:`Plugin`.
    """
    found: dict[str, Plugin] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            plugin = ep.load()
        except Exception as err:  # a broken plugin must say which one it is
            raise ImportError(
                f"selfsup plugin entry point {ep.name!r} ({ep.value}) failed to import: {err}"
            ) from err
        if not isinstance(plugin, Plugin):
            raise TypeError(
                f"selfsup plugin entry point {ep.name!r} ({ep.value}) must point at a "
                f"selfsup.plugins.Plugin, got {type(plugin).__name__}."
            )
        if plugin.name in found:
            raise ValueError(f"two installed packages register the selfsup plugin {plugin.name!r}.")
        found[plugin.name] = plugin
    return dict(sorted(found.items()))


def _split(name: str) -> tuple[str | None, str]:
    plugin, sep, component = name.partition(":")
    return (plugin, component) if sep else (None, name)


def component_path(name: str, plugins: Mapping[str, Plugin] | None = None) -> str:
    """The ``module:Attribute`` import string for a short component name.

    ``name`` is ``"component"`` or ``"plugin:component"``.
    """
    plugins = discover() if plugins is None else plugins
    plugin_name, component = _split(name)
    if plugin_name is not None:
        if plugin_name not in plugins:
            raise PluginNotFoundError(
                f"the selfsup plugin {plugin_name!r} is not installed: {install_hint(plugin_name)}"
            )
        plugin = plugins[plugin_name]
        if component not in plugin.components:
            known = ", ".join(sorted(plugin.components)) or "(none)"
            raise PluginNotFoundError(
                f"plugin {plugin_name!r} has no component {component!r}; it provides: {known}."
            )
        return plugin.components[component]
    owners = [p for p in plugins.values() if component in p.components]
    if len(owners) == 1:
        return owners[0].components[component]
    if len(owners) > 1:
        names = ", ".join(f"{p.name}:{component}" for p in owners)
        raise PluginNotFoundError(
            f"component {component!r} is provided by several plugins; qualify it: {names}."
        )
    missing = [n for n in FIRST_PARTY if n not in plugins]
    hint = (
        " Not installed: "
        + ", ".join(f"{FIRST_PARTY[n]} ({install_hint(n)})" for n in missing)
        + "."
        if missing
        else ""
    )
    installed = ", ".join(sorted(plugins)) or "none"
    raise PluginNotFoundError(
        f"no installed selfsup plugin provides {component!r} "
        f"(installed plugins: {installed}).{hint} Run `selfsup plugins` to list components."
    )


def resolve(name: str, plugins: Mapping[str, Plugin] | None = None) -> Any:
    """Import the object a short name refers to (``"graphmae"`` or ``"graph:graphmae"``)."""
    return import_target(component_path(name, plugins))
