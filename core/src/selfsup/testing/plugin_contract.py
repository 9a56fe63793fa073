"""The contract every selfsup plugin package passes (see :mod:`selfsup.testing.contract`)."""

from __future__ import annotations

import dataclasses
import re
from importlib import import_module
from importlib.metadata import PackageNotFoundError, entry_points
from importlib.metadata import distribution as _distribution
from pathlib import Path
from typing import Any, ClassVar

from selfsup.experiment.method import Method
from selfsup.imports import HEAVY_DOMAIN_MODULES
from selfsup.plugins import ENTRY_POINT_GROUP, Plugin, discover, resolve
from selfsup.plugins.layout import layout_problems
from selfsup.testing._contract_base import (
    _Contract,
    _fail,
    _normalize_dist,
    _top,
    imported_modules,
)

__all__ = ["PluginContract"]


class PluginContract(_Contract):
    """Checks of a plugin's registration (entry point, ``PLUGIN`` object, laziness).

    Class attributes:
        plugin_name: The plugin's short name (the entry-point name), e.g. ``"graph"``.
        distribution: The pip distribution providing it, e.g. ``"selfsup-graph"``.
        modality: The modality the plugin declares, e.g. ``"graph"``.
        heavy_modules: Top-level modules that importing the plugin module (and
            ``selfsup``) must not load; default :data:`selfsup.imports.HEAVY_DOMAIN_MODULES`.

    Hooks (override to test an uninstalled source tree):
        load_plugin(): the :class:`~selfsup.plugins.Plugin`; default from
            :func:`selfsup.plugins.discover`.
        plugin_module(): the module holding ``PLUGIN``; default from the entry point.
    """

    plugin_name: ClassVar[str] = ""
    distribution: ClassVar[str] = ""
    modality: ClassVar[str] = ""
    heavy_modules: ClassVar[tuple[str, ...]] = HEAVY_DOMAIN_MODULES

    # -- hooks ---------------------------------------------------------------
    def _config(self) -> tuple[str, str, str]:
        missing = [
            attr
            for attr in ("plugin_name", "distribution", "modality")
            if not isinstance(getattr(self, attr), str) or not getattr(self, attr)
        ]
        if missing:
            _fail(
                f"{type(self).__name__} must set the class attribute(s) {', '.join(missing)} "
                "(e.g. plugin_name = 'graph', distribution = 'selfsup-graph', modality = 'graph')."
            )
        return self.plugin_name, self.distribution, self.modality

    def _entry_points(self) -> list[Any]:
        return [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == self.plugin_name]

    def load_plugin(self) -> Plugin:
        """The installed plugin object (via :func:`selfsup.plugins.discover`)."""
        name, dist, _ = self._config()
        plugins = discover()
        if name not in plugins:
            installed = ", ".join(plugins) or "none"
            _fail(
                f"no installed selfsup plugin is named {name!r} (installed: {installed}); declare "
                f'[project.entry-points."{ENTRY_POINT_GROUP}"] {name} = '
                f'"selfsup_{name}.plugin:PLUGIN" in pyproject.toml and reinstall {dist} '
                "(pip install -e .)."
            )
        return plugins[name]

    def plugin_module(self) -> str:
        """The import name of the module defining ``PLUGIN``."""
        name, _, _ = self._config()
        eps = self._entry_points()
        if eps:
            return str(eps[0].value.partition(":")[0]).strip()
        return f"selfsup_{name}.plugin"

    def _component_modules(self, plugin: Plugin) -> set[str]:
        own = self.plugin_module()
        parents = {own.rsplit(".", i)[0] for i in range(own.count(".") + 1)}
        return {t.partition(":")[0] for t in plugin.components.values()} - parents

    # -- checks --------------------------------------------------------------
    def test_entry_point_declared(self) -> None:
        """One ``selfsup.plugins`` entry point named ``plugin_name``, from ``distribution``."""
        name, dist, _ = self._config()
        eps = self._entry_points()
        if len(eps) != 1:
            _fail(
                f"expected exactly one entry point {name!r} in group {ENTRY_POINT_GROUP!r}, "
                f"found {len(eps)}: {[ep.value for ep in eps]}; declare it once in {dist}'s "
                "pyproject.toml and reinstall."
            )
        ep = eps[0]
        module, sep, attr = ep.value.partition(":")
        if not sep or not module.strip() or not attr.strip():
            _fail(f"entry point {name!r} = {ep.value!r} must be 'package.plugin:PLUGIN'.")
        owner = getattr(ep, "dist", None)
        if owner is not None and _normalize_dist(owner.metadata["Name"]) != _normalize_dist(dist):
            _fail(
                f"entry point {name!r} is declared by {owner.metadata['Name']!r}, "
                f"expected {dist!r}."
            )
        loaded = ep.load()
        plugin = self.load_plugin()
        if loaded is not plugin:
            _fail(f"discover()[{name!r}] is not the object the entry point {ep.value!r} points at.")

    def test_distribution_metadata(self) -> None:
        """The distribution is installed, depends on selfsup-core and matches ``__version__``."""
        _, dist_name, _ = self._config()
        try:
            dist = _distribution(dist_name)
        except PackageNotFoundError:
            _fail(f"the distribution {dist_name!r} is not installed: pip install -e <its folder>.")
        requires = [
            _normalize_dist(re.split(r"[\s<>=!~;\[(]", r, maxsplit=1)[0])
            for r in (dist.requires or [])
        ]
        if "selfsup-core" not in requires:
            _fail(
                f"{dist_name} must depend on selfsup-core with a minor-version range, e.g. "
                '"selfsup-core>=0.1,<0.2" in [project] dependencies.'
            )
        package = import_module(_top(self.plugin_module()))
        version = getattr(package, "__version__", None)
        if version != dist.version:
            _fail(
                f"{package.__name__}.__version__ is {version!r} but the installed {dist_name} is "
                f"{dist.version!r}; take the version from __init__.py ([tool.hatch.version]) and "
                "reinstall."
            )

    def test_plugin_is_frozen_and_valid(self) -> None:
        """``PLUGIN`` is a frozen, valid ``Plugin`` whose fields match the attributes."""
        name, dist, modality = self._config()
        plugin = self.load_plugin()
        if not isinstance(plugin, Plugin):
            _fail(f"PLUGIN must be a selfsup.plugins.Plugin, got {type(plugin).__name__}.")
        try:
            plugin.name = "changed"  # type: ignore[misc]
        except dataclasses.FrozenInstanceError:
            pass
        else:
            _fail("Plugin instances must be frozen (assigning .name succeeded).")
        try:
            plugin.components["__contract_probe__"] = "x:y"  # type: ignore[index]
        except TypeError:
            pass
        else:
            _fail("Plugin.components must be read-only (item assignment succeeded).")
        dataclasses.replace(plugin)  # re-runs validation in __post_init__
        expected = {"name": name, "modality": modality, "distribution": dist}
        wrong = {k: getattr(plugin, k) for k, v in expected.items() if getattr(plugin, k) != v}
        if wrong:
            _fail(f"PLUGIN fields {wrong} differ from the contract's expected {expected}.")
        if not plugin.components:
            _fail("PLUGIN.components is empty; map short names to 'module:Attribute' strings.")
        if not plugin.description.strip():
            _fail("PLUGIN.description is empty; give one line for `selfsup plugins`.")

    def test_components_resolve(self) -> None:
        """Every component import string resolves; methods declare the plugin's modality."""
        plugin = self.load_plugin()
        problems: list[str] = []
        for short, target in plugin.components.items():
            try:
                obj = resolve(f"{plugin.name}:{short}", {plugin.name: plugin})
            except Exception as err:  # report every broken component at once
                problems.append(f"{short} -> {target}: {type(err).__name__}: {err}")
                continue
            if (
                isinstance(obj, type)
                and issubclass(obj, Method)
                and obj.modality != plugin.modality
            ):
                problems.append(
                    f"{short} -> {target}: modality {obj.modality!r} != plugin modality "
                    f"{plugin.modality!r}"
                )
        if problems:
            _fail("components that do not resolve:\n  " + "\n  ".join(problems))

    def test_plugin_module_is_light(self) -> None:
        """Importing the plugin module loads no heavy library and no component module."""
        plugin = self.load_plugin()
        module = self.plugin_module()
        mods = imported_modules(f"import {module}")
        problems = []
        eager = sorted(self._component_modules(plugin) & mods)
        if eager:
            problems.append(
                f"`import {module}` imports component modules {eager}; keep the package "
                "__init__.py and plugin.py free of component imports (discovery must stay cheap)."
            )
        heavy = sorted(m for m in mods if _top(m) in self.heavy_modules)
        if heavy:
            problems.append(
                f"`import {module}` loads heavy libraries {heavy[:8]}; plugin.py may import only "
                "selfsup.plugins — import domain libraries inside the components that use them."
            )
        if problems:
            _fail("\n".join(problems))

    def test_import_selfsup_is_light(self) -> None:
        """``import selfsup`` loads no plugin and no heavy library."""
        self._config()
        mods = imported_modules("import selfsup")
        own = _top(self.plugin_module())
        bad = sorted(
            m
            for m in mods
            if _top(m) in self.heavy_modules or _top(m) == own or _top(m).startswith("selfsup_")
        )
        if bad:
            _fail(
                f"`import selfsup` loads {bad[:8]}; core must not import plugins or domain "
                "libraries."
            )

    def test_discover_is_light(self) -> None:
        """``discover()`` loads no heavy library and none of this plugin's components."""
        plugin = self.load_plugin()
        mods = imported_modules("import selfsup.plugins as _p\n_p.discover()")
        heavy = sorted(m for m in mods if _top(m) in self.heavy_modules)
        if heavy:
            _fail(f"discover() loads heavy libraries {heavy[:8]}; some plugin.py imports them.")
        eager = sorted(self._component_modules(plugin) & mods)
        if eager:
            _fail(f"discover() imports {plugin.name}'s component modules {eager}.")

    def readme(self) -> str:
        """The plugin's README: the source tree's (``<project>/README.md`` next to ``src/``) when
        the package runs from one, else the installed distribution's long description."""
        _, dist_name, _ = self._config()
        package_dir = Path(import_module(_top(self.plugin_module())).__file__).parent
        project = package_dir.parent.parent
        if (project / "README.md").is_file() and (project / "pyproject.toml").is_file():
            return (project / "README.md").read_text(encoding="utf-8")
        try:
            meta = _distribution(dist_name).metadata
        except PackageNotFoundError:
            return ""
        return meta.get("Description") or meta.get_payload() or ""

    def test_package_follows_the_skeleton(self) -> None:
        """The package has the skeleton's places and declares every other top-level entry in
        its README's ``## Layout`` section (:mod:`selfsup.plugins.layout`)."""
        package_dir = Path(import_module(_top(self.plugin_module())).__file__).parent
        problems = layout_problems(package_dir, self.readme())
        if problems:
            _fail(f"{package_dir.name} does not follow the plugin skeleton: " + "; ".join(problems))
