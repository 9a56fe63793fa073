"""Every config slot builds only what it declares, checked before anything is called.

jsonargparse instantiates a ``class_path`` in a callable-typed slot (an optimiser or
scheduler factory) by *calling* whatever the path names with the ``init_args``:
``optimizer: {class_path: os.system, init_args: {command: ...}}`` would run a shell
command while the model is built. :func:`check_config_types` walks the parsed config
first and refuses any ``class_path`` that is not a class, and, in the optimiser and
scheduler slots, any class of the wrong kind. (Configs are still code you write or
review — see ``docs/security.md`` — this keeps a slot from becoming something else.)
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

__all__ = ["ConfigTypeError", "SLOT_TYPES", "check_config_types"]


class ConfigTypeError(TypeError):
    """A config names something other than what its slot declares."""


def _slot_types() -> dict[str, tuple[type, ...]]:
    import torch

    schedulers: tuple[type, ...] = (
        torch.optim.lr_scheduler.LRScheduler,
        torch.optim.lr_scheduler.ReduceLROnPlateau,
    )
    return {"optimizer": (torch.optim.Optimizer,), "scheduler": schedulers}


#: Config keys (anywhere under ``model``) whose ``class_path`` must name a subclass of these.
SLOT_TYPES = ("optimizer", "scheduler")


def _import(path: str) -> Any:
    """The object ``package.module.Name`` (or ``package.module:Name.Inner``) names."""
    parts = path.replace(":", ".").split(".")
    for cut in range(len(parts) - 1, 0, -1):  # the longest importable module prefix
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            obj = getattr(obj, part)
        return obj
    raise ImportError(f"no importable module in {path!r}")


def _resolve(class_path: str, path: str) -> Any:
    try:
        return _import(class_path)
    except (ImportError, AttributeError) as err:
        raise ConfigTypeError(
            f"{path}: class_path {class_path!r} cannot be imported: {err}"
        ) from err


def _check_class(obj: Any, class_path: str, path: str) -> None:
    if not isinstance(obj, type):
        raise ConfigTypeError(
            f"{path}: class_path {class_path!r} names a {type(obj).__name__}, not a class; "
            "a config slot may only name a class of the kind it declares."
        )
    slot = path.rpartition(".")[2]
    if slot in SLOT_TYPES:
        allowed = _slot_types()[slot]
        if not issubclass(obj, allowed):
            kinds = " or ".join(f"{t.__module__}.{t.__qualname__}" for t in allowed)
            raise ConfigTypeError(
                f"{path}: class_path {class_path!r} is not a {slot} (a subclass of {kinds})."
            )


def check_config_types(node: Any, path: str = "") -> None:
    """Raise :class:`ConfigTypeError` for a ``class_path`` that is not a class of its slot's kind.

    Args:
        node: A parsed config (nested dicts and lists, ``class_path``/``init_args`` nodes).
        path: Where ``node`` sits, for the message (``model.optimizer``).

    Examples:
        >>> check_config_types({"optimizer": {"class_path": "torch.optim.SGD"}})
        >>> try:
        ...     check_config_types({"optimizer": {"class_path": "os.system"}})
        ... except ConfigTypeError as err:
        ...     print(str(err)[:47])
        optimizer: class_path 'os.system' names a built
    """
    if isinstance(node, list):
        for i, item in enumerate(node):
            check_config_types(item, f"{path}[{i}]")
        return
    slot = path.rpartition(".")[2]
    if slot in SLOT_TYPES and (isinstance(node, str) or callable(node)):
        # a bare import path (or the object jsonargparse resolved it to) in a factory slot is
        # called the same way: it must be a class of the slot's kind too
        _check_class(node if not isinstance(node, str) else _resolve(node, path), str(node), path)
        return
    if not isinstance(node, Mapping):
        return
    class_path = node.get("class_path")
    if isinstance(class_path, str):
        _check_class(_resolve(class_path, path), class_path, path)
    for key, value in node.items():
        if key == "class_path":
            continue
        child = path if key in ("init_args", "dict_kwargs") else f"{path}.{key}" if path else key
        check_config_types(value, child)
