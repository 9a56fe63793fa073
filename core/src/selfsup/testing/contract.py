"""Contract test suites that every selfsup plugin and method runs.

Subclass a contract in your package's tests, set its class attributes and
hooks, and pytest collects the standard checks::

    from selfsup.testing import MethodContract, PluginContract

    class TestGraphPlugin(PluginContract):
        plugin_name = "graph"
        distribution = "selfsup-graph"
        modality = "graph"

    class TestGRACE(MethodContract):
        method_cls = GRACE
        modality = "graph"

        def make_method(self):
            return GRACE(in_channels=8, hidden_channels=16)

        def make_batch(self, generator):
            return Data(x=torch.randn(10, 8, generator=generator), edge_index=...)

        def malformed_batches(self):
            return [(torch.zeros(3), "Data")]

The suites are self-contained: no pytest fixtures (the classes only use class
attributes and hooks), tiny CPU inputs, no network. The base classes are not
collected themselves (their names do not start with ``Test``); name your
subclass ``Test...``. Each check is also a plain method, so it can be called on
an instance outside pytest.

Do not override or delete the ``test_*`` methods: ``test_no_overrides_DO_NOT_OVERRIDE``
fails when one is replaced without ``@pytest.mark.xfail(reason=...)`` (the
langchain-tests rule), so every deviation from the contract is visible and explained.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import inspect
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from importlib import import_module
from importlib.metadata import PackageNotFoundError, entry_points
from importlib.metadata import distribution as _distribution
from typing import Any, ClassVar, NoReturn

import pytest
import torch
from torch import Tensor

from selfsup.experiment.method import Method
from selfsup.imports import HEAVY_DOMAIN_MODULES
from selfsup.plugins import ENTRY_POINT_GROUP, Plugin, discover, resolve

__all__ = ["MethodContract", "PluginContract", "imported_modules"]

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


class _Contract:
    """The no-override guard shared by every contract."""

    def test_no_overrides_DO_NOT_OVERRIDE(self) -> None:
        """Standard checks may only be replaced when marked ``xfail(reason=...)``."""
        cls = type(self)
        problems: list[str] = []
        seen: set[str] = set()
        for base in cls.__mro__:
            if base.__module__ != __name__:
                continue
            for name in vars(base):
                if not name.startswith("test_") or name in seen:
                    continue
                seen.add(name)
                owner = next(k for k in cls.__mro__ if name in vars(k))
                if owner.__module__ == __name__:
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


# --------------------------------------------------------------------------- plugins
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


# --------------------------------------------------------------------------- methods
def _tensors(obj: Any, path: str = "batch") -> Iterator[tuple[str, Tensor]]:
    """Every tensor inside a batch (tensors, mappings, sequences, ``to_dict()`` objects)."""
    if isinstance(obj, Tensor):
        yield path, obj
    elif isinstance(obj, Mapping):
        for key in obj:
            yield from _tensors(obj[key], f"{path}[{key!r}]")
    elif isinstance(obj, list | tuple):
        for i, item in enumerate(obj):
            yield from _tensors(item, f"{path}[{i}]")
    elif callable(getattr(obj, "to_dict", None)):
        try:
            as_dict = obj.to_dict()
        except Exception:  # not a container after all
            return
        if isinstance(as_dict, Mapping):
            yield from _tensors(as_dict, path)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            yield from _tensors(getattr(obj, f.name), f"{path}.{f.name}")


class MethodContract(_Contract):
    """Checks of a :class:`~selfsup.experiment.method.Method` on tiny synthetic batches.

    Class attributes:
        method_cls: The method class under test.
        modality: The modality the method must declare (the plugin's modality).
        seed: Seed for batches and for ``torch.manual_seed`` before every call.
        unused_parameters: ``fnmatch`` patterns of trainable parameter names that
            may legitimately receive no gradient from ``"loss"`` (default: none).

    Hooks:
        make_method(): a small instance (default ``method_cls()``).
        make_batch(generator): a small training batch drawn with ``generator``
            (required; at least 2 samples for in-batch negatives).
        malformed_batches(): ``[(batch, regex), ...]``: batches that
            ``training_losses`` must reject with a ``ValueError`` (e.g.
            :class:`~selfsup.experiment.method.MalformedBatchError`) whose message
            matches ``regex``. At least one is required.
        make_embed_inputs(generator): ``(inputs, rows)`` for ``embed``; ``rows``
            is the expected number of output rows or ``None`` to skip that check.
            Default: ``(make_batch(generator), None)``.
    """

    method_cls: ClassVar[type[Method] | None] = None
    modality: ClassVar[str] = ""
    seed: ClassVar[int] = 0
    unused_parameters: ClassVar[tuple[str, ...]] = ()

    # -- hooks ---------------------------------------------------------------
    def _method_cls(self) -> type[Method]:
        cls = self.method_cls
        if not isinstance(cls, type):
            _fail(f"{type(self).__name__} must set method_cls = YourMethod (got {cls!r}).")
        return cls  # type: ignore[return-value]

    def make_method(self) -> Method:
        """A small instance of the method under test."""
        return self._method_cls()()

    def make_batch(self, generator: torch.Generator) -> Any:
        """A small training batch drawn with ``generator``."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement make_batch(self, generator) returning a small "
            "training batch in the method's documented format."
        )

    def malformed_batches(self) -> list[tuple[Any, str]]:
        """``(batch, regex)`` pairs that ``training_losses`` must reject."""
        return []

    def make_embed_inputs(self, generator: torch.Generator) -> tuple[Any, int | None]:
        """Inputs for ``embed`` and the expected number of output rows (or ``None``)."""
        return self.make_batch(generator), None

    # -- helpers -------------------------------------------------------------
    def _generator(self) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed)

    def _batch(self) -> Any:
        return self.make_batch(self._generator())

    def _losses(self, method: Method, batch: Any) -> dict[str, Tensor]:
        torch.manual_seed(self.seed)
        out = method.training_losses(batch)
        name = type(method).__name__
        if not isinstance(out, Mapping):
            _fail(f"{name}.training_losses must return a dict, got {type(out).__name__}.")
        if "loss" not in out:
            _fail(f"{name}.training_losses must return a 'loss' entry, got keys {sorted(out)}.")
        for key, value in out.items():
            if not isinstance(key, str):
                _fail(f"{name}.training_losses keys must be strings, got {key!r}.")
            if not isinstance(value, Tensor):
                _fail(
                    f"{name}.training_losses()[{key!r}] must be a tensor, got "
                    f"{type(value).__name__}."
                )
            if value.dim() != 0:
                _fail(
                    f"{name}.training_losses()[{key!r}] must be a 0-dim scalar, got shape "
                    f"{tuple(value.shape)}; reduce it (e.g. .mean())."
                )
        return dict(out)

    # -- checks --------------------------------------------------------------
    def test_is_a_method(self) -> None:
        """The instance is a :class:`Method` of ``method_cls`` declaring ``modality``."""
        cls = self._method_cls()
        method = self.make_method()
        if not isinstance(method, Method):
            _fail(
                f"{type(method).__name__} must subclass selfsup.experiment.method.Method, "
                f"its bases are {[b.__name__ for b in type(method).__mro__[1:]]}."
            )
        if not isinstance(method, cls):
            _fail(f"make_method() returned {type(method).__name__}, not a {cls.__name__}.")
        if not self.modality:
            _fail(f"{type(self).__name__} must set modality = '<the plugin's modality>'.")
        if type(method).modality != self.modality:
            _fail(
                f"{type(method).__name__}.modality is {type(method).modality!r}, expected "
                f"{self.modality!r}; set the class attribute modality = {self.modality!r}."
            )

    def test_constructor_is_configurable(self) -> None:
        """Every ``__init__`` argument is typed with a default; jsonargparse round-trips it."""
        cls = self._method_cls()
        problems: list[str] = []
        for pname, param in inspect.signature(cls.__init__).parameters.items():
            if pname == "self":
                continue
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                problems.append(f"*{pname}/**{pname} cannot be configured; list the arguments")
                continue
            if param.annotation is param.empty:
                problems.append(f"{pname} has no type annotation")
            if param.default is param.empty:
                problems.append(f"{pname} has no default")
        if problems:
            _fail(
                f"{cls.__name__}.__init__ is not configurable from a config: {'; '.join(problems)}."
            )
        from jsonargparse import ArgumentParser

        parser = ArgumentParser(exit_on_error=False)
        try:
            parser.add_class_arguments(cls, "method", fail_untyped=True)
            cfg = parser.parse_args([])
            dumped = parser.dump(cfg)
            again = parser.parse_string(dumped)
        except Exception as err:
            _fail(f"jsonargparse cannot configure {cls.__name__}: {type(err).__name__}: {err}")
        if again != cfg:
            _fail(f"{cls.__name__}'s default config does not survive dump/parse:\n{dumped}")
        instantiate = getattr(parser, "instantiate", None) or parser.instantiate_classes
        built = instantiate(again).method
        if not isinstance(built, cls):
            _fail(f"jsonargparse built {type(built).__name__}, not {cls.__name__}.")

    def test_training_losses_are_finite_scalars(self) -> None:
        """``training_losses`` gives finite 0-dim tensors and a differentiable ``loss``."""
        method = self.make_method().train()
        out = self._losses(method, self._batch())
        name = type(method).__name__
        for key, value in out.items():
            if value.is_floating_point() and not bool(torch.isfinite(value)):
                _fail(f"{name}.training_losses()[{key!r}] is not finite: {value.item()}.")
        loss = out["loss"]
        if not loss.is_floating_point():
            _fail(f"{name}'s loss must be floating point, got {loss.dtype}.")
        if not loss.requires_grad:
            _fail(
                f"{name}'s loss does not require grad: it is detached from the parameters "
                "(torch.no_grad, .detach() or .item() somewhere on the way)."
            )

    def test_backward_gives_finite_gradients(self) -> None:
        """``loss.backward()`` reaches every trainable parameter with finite, not all-zero grads."""
        method = self.make_method().train()
        name = type(method).__name__
        loss = self._losses(method, self._batch())["loss"]
        if not loss.requires_grad:
            _fail(f"{name}'s loss does not require grad; nothing to back-propagate.")
        trainable = [(n, p) for n, p in method.named_parameters() if p.requires_grad]
        if not trainable:
            _fail(f"{name} has no trainable parameters.")
        loss.backward()
        allowed = self.unused_parameters
        missing = [
            n
            for n, p in trainable
            if p.grad is None and not any(fnmatch.fnmatchcase(n, pat) for pat in allowed)
        ]
        if missing:
            _fail(
                f"{name}: trainable parameters without a gradient from 'loss': {missing[:10]}; "
                "freeze them (requires_grad_(False)) or list them in unused_parameters."
            )
        nonfinite = [
            n for n, p in trainable if p.grad is not None and not torch.isfinite(p.grad).all()
        ]
        if nonfinite:
            _fail(f"{name}: NaN/inf gradients in {nonfinite[:10]}.")
        if not any(p.grad is not None and bool(p.grad.ne(0).any()) for _, p in trainable):
            _fail(f"{name}: every gradient is zero; the loss does not depend on the parameters.")

    def test_batch_is_not_modified_in_place(self) -> None:
        """``training_losses`` leaves the batch's tensors unchanged."""
        method = self.make_method().train()
        batch = self._batch()
        before = [(path, t.detach().clone()) for path, t in _tensors(batch)]
        self._losses(method, batch)
        after = list(_tensors(batch))
        if [p for p, _ in before] != [p for p, _ in after]:
            _fail(f"{type(method).__name__}.training_losses changed the batch's structure.")
        changed = [
            p
            for (p, old), (_, new) in zip(before, after, strict=True)
            if old.shape != new.shape or not torch.equal(old, new)
        ]
        if changed:
            _fail(
                f"{type(method).__name__}.training_losses modified the batch in place: {changed}; "
                "clone before in-place ops (loaders may reuse pinned buffers)."
            )

    def test_state_dict_round_trip(self) -> None:
        """A ``torch.save``/``torch.load(weights_only=True)`` round trip keeps the losses."""
        batch = self._batch()
        torch.manual_seed(self.seed)
        original = self.make_method().train()
        name = type(original).__name__
        buffer = io.BytesIO()
        torch.save(original.state_dict(), buffer)
        buffer.seek(0)
        try:
            state = torch.load(buffer, weights_only=True)
        except Exception as err:
            _fail(
                f"{name}.state_dict() does not load with weights_only=True ({err}); keep only "
                "tensors and plain values in the state dict."
            )
        torch.manual_seed(self.seed + 1)
        fresh = self.make_method().train()
        try:
            fresh.load_state_dict(state, strict=True)
        except Exception as err:
            _fail(f"a fresh {name} cannot load the saved state dict: {err}")
        first = self._losses(original, batch)
        second = self._losses(fresh, batch)
        if sorted(first) != sorted(second):
            _fail(f"{name}: loss keys differ after reload: {sorted(first)} vs {sorted(second)}.")
        diff = {
            k: (first[k].item(), second[k].item())
            for k in first
            if not torch.equal(first[k].detach(), second[k].detach())
        }
        if diff:
            _fail(
                f"{name}: losses differ after a state-dict round trip with the same seed: {diff}; "
                "state that affects the loss must be a parameter or a persistent buffer, and "
                "randomness must come from torch's global RNG."
            )

    def test_malformed_batches_raise(self) -> None:
        """Malformed batches raise ``ValueError`` (``MalformedBatchError``) matching a regex."""
        cases = self.malformed_batches()
        if not cases:
            _fail(
                f"{type(self).__name__}.malformed_batches() returned no cases; return at least one "
                "(batch, regex) pair, e.g. a batch of the wrong shape."
            )
        method = self.make_method().train()
        name = type(method).__name__
        problems: list[str] = []
        for i, (batch, pattern) in enumerate(cases):
            torch.manual_seed(self.seed)
            try:
                method.training_losses(batch)
            except ValueError as err:
                if not re.search(pattern, str(err)):
                    problems.append(f"case {i}: message {str(err)!r} does not match {pattern!r}")
            except Exception as err:
                problems.append(
                    f"case {i}: raised {type(err).__name__} ({err}) instead of a ValueError; "
                    "validate the batch and raise selfsup.experiment.method.MalformedBatchError"
                )
            else:
                problems.append(
                    f"case {i}: accepted silently (expected an error matching {pattern!r})"
                )
        if problems:
            _fail(f"{name}.training_losses on malformed batches:\n  " + "\n  ".join(problems))

    def test_representations_are_none_or_finite_matrix(self) -> None:
        """``representations`` of a training batch is ``None`` or detached finite ``(B, D)``."""
        method = self.make_method().train()
        name = type(method).__name__
        torch.manual_seed(self.seed)
        rep = method.representations(self._batch())
        if rep is None:
            return
        if not isinstance(rep, Tensor) or rep.dim() != 2 or not rep.is_floating_point():
            got = tuple(rep.shape) if isinstance(rep, Tensor) else type(rep).__name__
            _fail(f"{name}.representations must return None or floating (B, D), got {got}.")
        if rep.requires_grad:
            _fail(f"{name}.representations must be detached (monitors only read them).")
        if not bool(torch.isfinite(rep).all()):
            _fail(f"{name}.representations returned NaN/inf features.")

    def _embed(self, method: Method) -> tuple[Tensor, int | None]:
        if type(method).embed is Method.embed:
            pytest.skip(f"{type(method).__name__} does not implement embed()")
        inputs, rows = self.make_embed_inputs(self._generator())
        method.eval()
        with torch.no_grad():
            out = method.embed(inputs)
        return out, rows

    def test_embed_returns_finite_matrix(self) -> None:
        """``embed`` returns finite floating ``(B, D)`` features (skipped if not implemented)."""
        method = self.make_method()
        name = type(method).__name__
        torch.manual_seed(self.seed)
        out, rows = self._embed(method)
        if not isinstance(out, Tensor):
            _fail(f"{name}.embed must return a tensor, got {type(out).__name__}.")
        if out.dim() != 2 or out.shape[1] == 0:
            _fail(f"{name}.embed must return (B, D) features, got shape {tuple(out.shape)}.")
        if rows is not None and out.shape[0] != rows:
            _fail(f"{name}.embed returned {out.shape[0]} rows, expected {rows}.")
        if not out.is_floating_point():
            _fail(f"{name}.embed must return floating-point features, got {out.dtype}.")
        if not bool(torch.isfinite(out).all()):
            _fail(f"{name}.embed returned NaN/inf features.")

    def test_embed_is_deterministic_in_eval_mode(self) -> None:
        """In eval mode ``embed`` does not depend on the global RNG (no random views)."""
        method = self.make_method()
        torch.manual_seed(self.seed)
        first, _ = self._embed(method)
        torch.manual_seed(self.seed + 12345)
        second, _ = self._embed(method)
        if first.shape != second.shape or not torch.equal(first, second):
            _fail(
                f"{type(method).__name__}.embed gives different features for the same inputs; "
                "evaluation features must not use random augmentation or dropout in eval mode."
            )
