"""Which class a content encoder config names: ``torch.nn`` paths, registered components and
import paths, resolved without calling anything that is not an ``nn.Module`` class.

Used by :class:`~selfsup_recsys.encoders.content.ContentEncoder` (its JSON description) and by
:mod:`~selfsup_recsys.encoders.content_config` (configs and saved state dicts). A name read from
a file resolves only through :func:`torch_nn_class` or :func:`registered_module_class`, never
through :func:`import_class`.
"""

from __future__ import annotations

import importlib
import types
from collections.abc import Mapping
from typing import Any

from torch import nn

from selfsup.export import ExportError, is_exportable

__all__ = [
    "TORCH_NN",
    "check_json",
    "component_of_class",
    "component_of_path",
    "import_class",
    "module_class",
    "registered_module_class",
    "torch_nn_class",
    "torch_nn_path",
]

TORCH_NN = "torch.nn."


def torch_nn_class(class_path: str) -> type[nn.Module] | None:
    """The ``torch.nn`` module class ``class_path`` names (``"torch.nn.Linear"`` or
    ``"torch.nn:Linear"``), else ``None``.

    Only the ``torch.nn`` namespace is searched: every step is a public ``torch.nn`` module and
    the class is defined under ``torch.nn``, so a path such as
    ``"torch.nn.modules.module.torch.fx.GraphModule"`` (an attribute walk out of ``torch.nn``)
    names nothing.
    """
    if not isinstance(class_path, str):
        return None
    if class_path.startswith("torch.nn:"):
        class_path = "torch.nn." + class_path[len("torch.nn:") :]
    if not class_path.startswith(TORCH_NN):
        return None
    obj: Any = nn
    for part in class_path[len(TORCH_NN) :].split("."):
        within = isinstance(obj, types.ModuleType) and (
            obj.__name__ == "torch.nn" or obj.__name__.startswith(TORCH_NN)
        )
        if not within or not part or part.startswith("_"):
            return None
        obj = getattr(obj, part, None)
    if not (isinstance(obj, type) and issubclass(obj, nn.Module)):
        return None
    return obj if obj.__module__.startswith(TORCH_NN) else None


def check_json(value: Any, where: str) -> None:
    """Refuse anything but plain JSON data (``None``, bool, int, float, str, lists, str-keyed
    dicts): what a saved state hands to a constructor must not be an object of any kind."""
    if value is None or isinstance(value, bool | int | float | str):
        return
    if isinstance(value, list | tuple):
        for i, v in enumerate(value):
            check_json(v, f"{where}[{i}]")
        return
    if isinstance(value, Mapping):
        for key, v in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where} has a non-string key {key!r}; expected JSON data.")
            check_json(v, f"{where}[{key!r}]")
        return
    raise ValueError(
        f"{where} is a {type(value).__name__}; init_args must be plain JSON data (None, bool, "
        "int, float, str, lists, dicts)."
    )


def module_class(obj: Any, name: str, origin: str) -> type[nn.Module]:
    """``obj`` if it is an ``nn.Module`` subclass; checked before anything calls it."""
    if isinstance(obj, type) and issubclass(obj, nn.Module):
        return obj
    kind = f"the class {obj.__name__}" if isinstance(obj, type) else type(obj).__name__
    raise ValueError(
        f"{origin} {name!r} is {kind}, not a torch.nn.Module class; refusing to call it. A "
        "content encoder is a module class: a torch.nn class, a registered selfsup component "
        "or your own nn.Module subclass."
    )


def registered_module_class(name: str, origin: str) -> type[nn.Module]:
    """The ``nn.Module`` class a registered component name (``"tabular:tabular_mlp"``,
    ``"selfsup:mlp_encoder"``) resolves to through the plugin registry (or core's table)."""
    from selfsup.export import resolve_component
    from selfsup.plugins import PluginNotFoundError, resolve

    try:
        if name.partition(":")[0] == "selfsup":
            obj: Any = resolve_component(name)  # core's exportable table
        else:
            obj = resolve(name)
    except (PluginNotFoundError, ExportError, ImportError, AttributeError) as err:
        raise ValueError(f"{origin} {name!r} names no installed component: {err}") from err
    return module_class(obj, name, origin)


def _split_path(class_path: str) -> tuple[str, str]:
    if ":" in class_path:
        module, _, attr = class_path.partition(":")
    else:
        module, _, attr = class_path.rpartition(".")
    return module, attr


def component_of_path(class_path: str) -> str | None:
    """The registered component a dotted import path names, found by comparing strings with the
    registry (the path itself is never imported): the component's own ``module:Class``, or a
    re-export of it from a parent package (``selfsup_tabular.encoders.TabularMLP`` for
    ``selfsup_tabular.encoders.mlp:TabularMLP``). ``None`` when no single component matches."""
    from selfsup.export import CORE_COMPONENTS
    from selfsup.plugins import discover

    module, attr = _split_path(class_path)
    if not module or not attr:
        return None
    targets = {f"selfsup:{k}": v for k, v in CORE_COMPONENTS.items()}
    for plugin in discover().values():
        targets.update({f"{plugin.name}:{k}": v for k, v in plugin.components.items()})
    found = []
    for name, target in targets.items():
        t_module, _, t_attr = target.partition(":")
        if t_attr == attr and (t_module == module or t_module.startswith(module + ".")):
            found.append(name)
    return found[0] if len(found) == 1 else None


def component_of_class(cls: type) -> str | None:
    """The registry name of a class: its ``@exportable`` name, else the component whose
    ``module:Class`` is exactly this class's (``None`` for an unregistered class)."""
    from selfsup.plugins import discover

    if is_exportable(cls):
        return str(cls.__selfsup_export_name__)  # type: ignore[attr-defined]
    target = f"{cls.__module__}:{cls.__qualname__}"
    for plugin in discover().values():
        for short, path in plugin.components.items():
            if path == target:
                return f"{plugin.name}:{short}"
    return None


def import_class(class_path: str) -> Any:
    """Import ``"package.module.Class"`` or ``"package.module:Class"``; a short plugin
    component name (``"scarf"``, ``"tabular:scarf"``) goes through core's plugin registry.

    For class paths a user wrote in a config only (a config is code its author reviews): a
    name read from a checkpoint or any other file never reaches this function (see
    :func:`~selfsup_recsys.encoders.content_config.build_content_encoder` with ``saved=True``).
    It returns what the path names; the caller checks it is an ``nn.Module`` class before
    calling it.

    Raises:
        ValueError: the path names no importable object (the message says which part failed).
    """
    if not isinstance(class_path, str) or not class_path:
        raise ValueError(f"class_path must be a non-empty string, got {class_path!r}.")
    if "." not in class_path:  # a short name never has a dot; an import path always does
        from selfsup.plugins import resolve  # short names are a core feature

        return resolve(class_path)
    if ":" in class_path:
        module_name, _, attr = class_path.partition(":")
    else:
        module_name, _, attr = class_path.rpartition(".")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as err:
        raise ValueError(
            f"cannot import the content encoder {class_path!r}: module {module_name!r} is not "
            f"installed ({err}). Install the plugin that provides it (e.g. pip install "
            f"selfsup-{module_name.split('.')[0].removeprefix('selfsup_')})."
        ) from err
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"cannot import {class_path!r}: {module_name!r} has no {attr!r}.")
        obj = getattr(obj, part)
    return obj


def torch_nn_path(class_path: Any) -> str | None:
    """``class_path`` in the ``"torch.nn.<Class>"`` form when it names a ``torch.nn`` class."""
    if torch_nn_class(class_path) is None:
        return None
    return TORCH_NN + class_path[len("torch.nn:") :] if ":" in class_path else class_path
