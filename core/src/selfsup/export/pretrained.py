"""Encoders out: a trained encoder as a folder (``model.safetensors`` + ``config.json``).

The ``save_pretrained`` / ``from_pretrained`` convention: the folder rebuilds the
encoder without the training config, and loading it never runs code from the
folder. ``config.json`` names a *registered* component (``"graph:gat"``) and its
constructor arguments as JSON values; the weights are safetensors (tensors only,
no pickle). A component is exportable when its class is decorated with
:func:`exportable`, which records the constructor arguments each instance was
built with; :func:`load_pretrained` only instantiates classes so decorated,
resolved through the installed plugins' registries (or core's own table).
"""

from __future__ import annotations

import functools
import inspect
import json
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from selfsup.export.atomic import atomic_folder

__all__ = [
    "CONFIG_NAME",
    "CORE_COMPONENTS",
    "FORMAT",
    "WEIGHTS_NAME",
    "ExportError",
    "exportable",
    "export_config",
    "is_exportable",
    "load_pretrained",
    "read_pretrained_config",
    "resolve_component",
    "save_pretrained",
]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
#: ``config.json``'s ``format`` entry; ``format_version`` changes when the layout does.
FORMAT = "selfsup-encoder"
FORMAT_VERSION = 1

#: Exportable components of selfsup-core itself, by the name after ``selfsup:``.
CORE_COMPONENTS: Mapping[str, str] = {
    "mlp_encoder": "selfsup.demo.vector_simclr:MLPEncoder",
    "transformer_trunk": "selfsup.encoders.transformer:TransformerTrunk",
}

_NAME_ATTR = "__selfsup_export_name__"
_ARGS_ATTR = "_selfsup_export_args"

M = TypeVar("M", bound=type[nn.Module])


class ExportError(ValueError):
    """A module cannot be exported, or a folder is not a valid exported encoder."""


def _jsonable(value: Any, where: str) -> Any:
    """``value`` as plain JSON data (tuples become lists), or :class:`ExportError`."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ExportError(f"{where} is {value}, which JSON cannot hold.")
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for key, v in value.items():
            if not isinstance(key, str):
                raise ExportError(f"{where} has a non-string key {key!r}.")
            out[key] = _jsonable(v, f"{where}[{key!r}]")
        return out
    raise ExportError(
        f"{where} is a {type(value).__name__}, not JSON data (None, bool, int, float, str, "
        "list, dict); override export_config() to describe it with JSON values."
    )


def exportable(name: str) -> Callable[[M], M]:
    """Class decorator: instances record their constructor arguments for :func:`save_pretrained`.

    ``name`` is the registry name the folder will name: ``"plugin:component"`` of an
    installed plugin's ``Plugin.components`` (``"graph:gat"``), or ``"selfsup:<name>"`` for
    :data:`CORE_COMPONENTS`. A subclass that should export as itself needs its own decorator.

    Examples:
        >>> @exportable("selfsup:my_mlp")
        ... class MyMLP(nn.Module):
        ...     def __init__(self, dim: int = 4) -> None:
        ...         super().__init__()
        ...         self.net = nn.Linear(dim, dim)
        >>> export_config(MyMLP(dim=8))
        {'dim': 8}
    """
    plugin, sep, component = name.partition(":")
    if not sep or not plugin or not component:
        raise ValueError(f"exportable name must be 'plugin:component', got {name!r}.")

    def decorate(cls: M) -> M:
        original = cls.__init__
        signature = inspect.signature(original)

        @functools.wraps(original)
        def __init__(self: nn.Module, *args: Any, **kwargs: Any) -> None:
            original(self, *args, **kwargs)
            if type(self) is not cls:
                # an exportable subclass's own decorator (outermost) records its arguments
                return
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            arguments = dict(bound.arguments)
            arguments.pop(next(iter(signature.parameters)))  # self
            for pname, param in signature.parameters.items():
                if param.kind is inspect.Parameter.VAR_KEYWORD and pname in arguments:
                    arguments.update(arguments.pop(pname))
                elif param.kind is inspect.Parameter.VAR_POSITIONAL and arguments.get(pname):
                    raise ExportError(
                        f"{cls.__name__} was built with *{pname}; exportable constructors "
                        "take keyword arguments only."
                    )
                elif param.kind is inspect.Parameter.VAR_POSITIONAL:
                    arguments.pop(pname, None)
            object.__setattr__(self, _ARGS_ATTR, arguments)

        cls.__init__ = __init__  # type: ignore[method-assign]
        setattr(cls, _NAME_ATTR, name)
        return cls

    return decorate


def is_exportable(module_or_class: nn.Module | type) -> bool:
    """Whether the object's own class carries :func:`exportable` (subclasses need their own)."""
    cls = module_or_class if isinstance(module_or_class, type) else type(module_or_class)
    return _NAME_ATTR in cls.__dict__


def export_config(module: nn.Module) -> dict[str, Any]:
    """The JSON constructor arguments that rebuild ``module``.

    A module may define ``export_config(self) -> dict`` to override what was recorded
    (for state computed after construction, such as a schema learned from data, which
    its constructor must then accept).

    Raises:
        ExportError: the class is not :func:`exportable`, or an argument is not JSON data.
    """
    if not is_exportable(module):
        raise ExportError(
            f"{type(module).__name__} is not exportable: decorate the class with "
            "@selfsup.export.exportable('plugin:component') and register that component in the "
            "plugin's Plugin.components."
        )
    custom = getattr(module, "export_config", None)
    if callable(custom):
        args = custom()
    else:
        args = getattr(module, _ARGS_ATTR, None)
        if args is None:
            raise ExportError(f"{type(module).__name__} did not record its constructor arguments.")
    return _jsonable(dict(args), f"{type(module).__name__} argument")


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, distributions

    found = {}
    for dist in distributions():
        name = (dist.metadata["Name"] or "").lower()
        if name == "selfsup-core" or name.startswith("selfsup-") or name == "torch":
            found[name] = dist.version
    try:
        found.setdefault("torch", torch.__version__)
    except PackageNotFoundError:  # pragma: no cover
        pass
    return dict(sorted(found.items()))


def save_pretrained(
    module: nn.Module,
    folder: str | os.PathLike[str],
    *,
    metadata: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``module`` to ``folder``: ``model.safetensors`` (weights) + ``config.json``.

    The folder is written beside its final place and renamed into it, so an interrupted
    export never leaves a half-written folder under that name.

    Args:
        module: An instance of an :func:`exportable` class.
        folder: The folder to create.
        metadata: Extra JSON facts to keep in ``config.json`` (``"metadata"``): the method,
            task, training checkpoint, input description.
        overwrite: Replace an existing folder (otherwise :class:`FileExistsError`).

    Returns:
        The folder's path.

    Raises:
        ExportError: the module is not exportable, has non-tensor state, or has arguments
            that are not JSON data.

    Examples:
        >>> from selfsup.demo import MLPEncoder
        >>> import tempfile
        >>> path = save_pretrained(MLPEncoder(8, 16, 4), tempfile.mkdtemp() + "/enc")
        >>> load_pretrained(path)(torch.zeros(2, 8)).shape
        torch.Size([2, 4])
    """
    from safetensors.torch import save_model

    name = getattr(type(module), _NAME_ATTR, None)
    init_args = export_config(module)
    extra = [k for k in module.state_dict(keep_vars=True) if k.endswith("_extra_state")]
    if extra:
        raise ExportError(
            f"{type(module).__name__} keeps non-tensor state ({', '.join(extra)}), which "
            "safetensors cannot hold; describe it in export_config() instead."
        )
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "component": name,
        "class": f"{type(module).__module__}.{type(module).__qualname__}",
        "init_args": init_args,
        "versions": _versions(),
        "metadata": _jsonable(dict(metadata or {}), "metadata"),
    }
    with atomic_folder(folder, overwrite=overwrite) as tmp:
        was_training = module.training
        save_model(module, str(tmp / WEIGHTS_NAME), metadata={"format": FORMAT})
        module.train(was_training)
        (tmp / CONFIG_NAME).write_text(json.dumps(config, indent=2, sort_keys=False) + "\n")
    return Path(folder)


def read_pretrained_config(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The checked ``config.json`` of an exported encoder folder.

    Raises:
        ExportError: a missing or malformed file, another format or a newer format version.
    """
    path = Path(folder)
    config_file, weights = path / CONFIG_NAME, path / WEIGHTS_NAME
    for required in (config_file, weights):
        if not required.is_file():
            raise ExportError(
                f"{path} is not an exported selfsup encoder: {required.name} is missing ("
                f"{CONFIG_NAME} and {WEIGHTS_NAME}, as save_pretrained / selfsup export write)."
            )
    try:
        config = json.loads(config_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ExportError(f"{config_file} is not valid JSON: {err}") from err
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ExportError(f"{config_file} does not describe a {FORMAT!r} folder.")
    version = config.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ExportError(
            f"{config_file} has format_version {version!r}; this selfsup-core reads up to "
            f"{FORMAT_VERSION}: upgrade selfsup-core."
        )
    if not isinstance(config.get("component"), str) or not isinstance(
        config.get("init_args"), dict
    ):
        raise ExportError(f"{config_file} needs a 'component' string and an 'init_args' object.")
    return config


def resolve_component(name: str) -> type:
    """The :func:`exportable` class registered as ``name`` (``"graph:gat"``, ``"selfsup:..."``).

    Only classes that carry :func:`exportable` under exactly that name are returned, so a
    name read from a stranger's file can never reach an arbitrary callable.

    Raises:
        ExportError: an unknown core name, or a component that is not such a class.
        PluginNotFoundError: the plugin that provides the component is not installed.
    """
    from selfsup.plugins import component_path
    from selfsup.plugins.registry import import_target

    plugin, _, component = name.partition(":")
    if plugin == "selfsup":
        if component not in CORE_COMPONENTS:
            known = ", ".join(sorted(CORE_COMPONENTS))
            raise ExportError(f"selfsup-core has no exportable component {component!r} ({known}).")
        target = CORE_COMPONENTS[component]
    else:
        target = component_path(name)  # raises PluginNotFoundError with the pip command
    cls = import_target(target)
    if not isinstance(cls, type) or not issubclass(cls, nn.Module) or not is_exportable(cls):
        raise ExportError(
            f"the component {name!r} ({target}) is not an exportable encoder class; refusing to "
            "build it from a folder."
        )
    if getattr(cls, _NAME_ATTR) != name:
        raise ExportError(
            f"the component {name!r} resolves to {cls.__name__}, which exports as "
            f"{getattr(cls, _NAME_ATTR)!r}."
        )
    return cls


def load_pretrained(
    folder: str | os.PathLike[str],
    *,
    map_location: str | torch.device = "cpu",
    expected: type | None = None,
) -> nn.Module:
    """Rebuild an encoder written by :func:`save_pretrained`, in eval mode.

    Only registered :func:`exportable` classes are built, with JSON arguments; the weights
    are read by safetensors. Nothing in the folder is executed.

    Args:
        folder: The exported folder.
        map_location: Device of the loaded weights.
        expected: When given, the class the folder must hold (``ResNetEncoder``).

    Raises:
        ExportError: not an exported folder, an unregistered component, a class other than
            ``expected``, or weights that do not match the rebuilt module.
        PluginNotFoundError: the plugin that provides the component is not installed.
    """
    from safetensors.torch import load_model

    config = read_pretrained_config(folder)
    cls = resolve_component(config["component"])
    if expected is not None and not issubclass(cls, expected):
        raise ExportError(
            f"{folder} holds a {cls.__name__} ({config['component']}), not a {expected.__name__}."
        )
    try:
        module = cls(**config["init_args"])
    except TypeError as err:
        raise ExportError(
            f"{folder}: {cls.__name__} cannot be built from config.json's init_args: {err}"
        ) from err
    try:
        load_model(module, str(Path(folder) / WEIGHTS_NAME), strict=True, device=str(map_location))
    except RuntimeError as err:
        raise ExportError(f"{folder}: the weights do not match {cls.__name__}: {err}") from err
    return module.eval()
