"""Content encoders built from configs (YAML, a model's arguments) and from saved state dicts.

The config format is in :mod:`selfsup_recsys.encoders.content`. A config the user wrote may
name any import path; one read from a state dict (``saved=True``) resolves only through the
plugin registry or ``torch.nn`` (:mod:`~selfsup_recsys.encoders.content_classes`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from selfsup.checkpoints import load_matching, read_state_dict, select_prefix
from selfsup_recsys.encoders.content import ContentEncoder
from selfsup_recsys.encoders.content_classes import (
    check_json,
    component_of_class,
    component_of_path,
    import_class,
    module_class,
    registered_module_class,
    torch_nn_path,
)

__all__ = [
    "CONTENT_ENCODER_KEYS",
    "build_content_encoder",
    "load_encoder_checkpoint",
    "saved_content_config",
]

CONTENT_ENCODER_KEYS = ("encoder", "trainable", "checkpoint", "checkpoint_prefix", "pool")


def load_encoder_checkpoint(encoder: nn.Module, path: str, prefix: str | None = None) -> None:
    """Initialise ``encoder`` from a state dict file (strict: every key must match).

    The file holds ``encoder.state_dict()``, or a Lightning checkpoint / any dict with a
    ``"state_dict"`` entry; ``prefix`` keeps only the keys under it, stripped (e.g. the encoder
    of a ``selfsup fit`` checkpoint: ``"tasks.<task>.method.encoder."``). Loaded with
    ``weights_only=True`` (tensors and plain values only).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the keys do not match the encoder (the message lists both sides).
    """
    state = read_state_dict(path, wrappers=("state_dict",))
    if prefix:
        state = select_prefix(state, prefix)
    hint = "" if prefix else "Pass checkpoint_prefix to select the encoder's keys."
    load_matching(encoder, state, f"checkpoint {path!r} (prefix {prefix!r})", hint)


def _saved_encoder(spec: Any, feature: str) -> nn.Module | dict[str, Any]:
    """The inner encoder of a content encoder config read from a state dict.

    Nothing in it is imported by its path or called before its type is known: a
    ``{"component": "plugin:name"}`` resolves through the plugin registry, a ``class_path``
    must be a ``torch.nn`` class (returned as a description for :class:`ContentEncoder`) or a
    registered component's path, the class must be an ``nn.Module`` subclass, and ``init_args``
    must be JSON data.
    """
    origin = f"the saved content encoder of feature {feature!r}"
    if not isinstance(spec, Mapping):
        raise ValueError(
            f"{origin} must be {{'class_path' or 'component': ..., 'init_args': {{...}}}}, got "
            f"{type(spec).__name__}."
        )
    init_args = spec.get("init_args") or {}
    if not isinstance(init_args, Mapping):
        raise ValueError(f"{origin}: init_args must be a dict, got {type(init_args).__name__}.")
    check_json(init_args, f"{origin}: init_args")
    name = spec.get("component")
    if name is None:
        path = spec.get("class_path")
        if not isinstance(path, str) or not path:
            raise ValueError(f"{origin} names no class_path or component: {dict(spec)!r}.")
        torch_path = torch_nn_path(path)
        if torch_path is not None:  # ContentEncoder builds it and keeps it for export
            return {"class_path": torch_path, "init_args": dict(init_args)}
        name = path if "." not in path else component_of_path(path)
        if name is None:
            raise ValueError(
                f"{origin} names {path!r}, which is neither a torch.nn class nor a registered "
                "selfsup component; a checkpoint never imports a path it names. Give the encoder "
                f"yourself: FeatureTwoTower(content_encoders={{{feature!r}: {{'encoder': "
                "{'class_path': ..., 'init_args': ...}}}) before load_state_dict, or "
                f"load_two_tower(path, content_encoders=...) (the trained weights still come from "
                "the checkpoint)."
            )
    if not isinstance(name, str):
        raise ValueError(f"{origin}: component must be a string, got {type(name).__name__}.")
    cls = registered_module_class(name, origin)
    try:
        return cls(**dict(init_args))
    except TypeError as err:
        raise ValueError(f"cannot build {origin} ({name!r}): {err}") from err


def _configured_encoder(spec: Mapping[str, Any]) -> nn.Module | dict[str, Any]:
    """The inner encoder of a config the user wrote (``class_path``: any import path, as
    LightningCLI's; ``component``: a registry name); the class is checked to be an
    ``nn.Module`` subclass before it is called."""
    init_args = dict(spec.get("init_args") or {})
    if "component" in spec:
        cls = registered_module_class(str(spec["component"]), "the content encoder component")
    else:
        torch_path = torch_nn_path(spec["class_path"])
        if torch_path is not None:  # described, not built here: kept for export
            return {"class_path": torch_path, "init_args": init_args}
        cls = module_class(
            import_class(spec["class_path"]), spec["class_path"], "the content encoder class_path"
        )
    try:
        return cls(**init_args)
    except TypeError as err:
        name = spec.get("component", spec.get("class_path"))
        raise ValueError(f"cannot build {name!r}: {err}") from err


def saved_content_config(
    config: Mapping[str, Any] | nn.Module, feature: str = "?"
) -> dict[str, Any] | None:
    """The form of a content encoder config a state dict keeps, or ``None`` for a live module.

    The encoder is named the way :func:`build_content_encoder` (``saved=True``) can rebuild it
    without importing a path: a ``torch.nn`` ``class_path`` or a registered ``component``
    (``"tabular:tabular_mlp"`` for ``class_path: selfsup_tabular.encoders.TabularMLP``). An
    encoder class that is neither is kept by its path, with a warning: loading such a
    checkpoint needs the encoder given again.

    Examples:
        >>> saved_content_config({"encoder": {"class_path": "torch.nn:Linear"}})
        {'encoder': {'class_path': 'torch.nn.Linear', 'init_args': {}}}
    """
    if not isinstance(config, Mapping) or not isinstance(config.get("encoder"), Mapping):
        return None
    spec = config["encoder"]
    init_args = dict(spec.get("init_args") or {})
    encoder: dict[str, Any]
    if "component" in spec:
        encoder = {"component": spec["component"], "init_args": init_args}
    elif torch_nn_path(spec.get("class_path")) is not None:
        encoder = {"class_path": torch_nn_path(spec["class_path"]), "init_args": init_args}
    else:
        path = spec.get("class_path")
        cls = import_class(path)  # the user's own config: its class path was imported to build
        name = component_of_class(cls) if isinstance(cls, type) else None
        if name is None:
            warnings.warn(
                f"the content encoder {path!r} of feature {feature!r} is neither a torch.nn class "
                "nor a registered selfsup component: checkpoints of this model name it, but "
                "loading one never imports a path, so pass content_encoders= again to load it "
                "(or register the class as a component of a plugin).",
                stacklevel=3,
            )
            encoder = {"class_path": path, "init_args": init_args}
        else:
            encoder = {"component": name, "init_args": init_args}
    return {**dict(config), "encoder": encoder}


def build_content_encoder(
    config: Mapping[str, Any] | nn.Module,
    shape: Sequence[int],
    load_checkpoint: bool = True,
    *,
    saved: bool = False,
    feature: str = "?",
) -> ContentEncoder:
    """A :class:`ContentEncoder` from a config dict (see the module docstring) or a module.

    ``load_checkpoint=False`` skips ``checkpoint`` (a model rebuilt from its own state dict gets
    the trained weights from there). ``saved=True`` marks a config read from a state dict (a
    stranger's file): its encoder resolves only through the plugin registry or ``torch.nn``,
    is checked to be an ``nn.Module`` class before it is built, its ``init_args`` must be JSON
    data, and its ``checkpoint`` is never read. A config the user wrote may name any import
    path (like any ``class_path`` in a config), but only an ``nn.Module`` class is called.

    Raises:
        ValueError: unknown keys, no ``encoder``, an encoder that cannot be imported or built,
            a ``class_path`` that is not an ``nn.Module`` class, or (``saved``) a class that
            does not resolve through the registry / ``torch.nn``.
        FileNotFoundError: a ``checkpoint`` that does not exist.
    """
    if isinstance(config, nn.Module) and not saved:
        return ContentEncoder(config, shape)
    if not isinstance(config, Mapping):
        raise ValueError(
            "a content encoder is a module or a dict {encoder: {class_path, init_args}, "
            f"trainable, checkpoint, checkpoint_prefix, pool}}, got {type(config).__name__}."
        )
    unknown = sorted(set(config) - set(CONTENT_ENCODER_KEYS))
    if unknown:
        raise ValueError(
            f"unknown content encoder option(s) {unknown}; allowed: {list(CONTENT_ENCODER_KEYS)}."
        )
    trainable = config.get("trainable", True)
    if not isinstance(trainable, bool):
        raise ValueError(
            f"content encoder of feature {feature!r}: trainable must be true or false, got "
            f"{trainable!r}."
        )
    spec = config.get("encoder")
    encoder: nn.Module | Mapping[str, Any]
    if saved:
        encoder = _saved_encoder(spec, feature)
    elif isinstance(spec, nn.Module):
        encoder = spec
    elif isinstance(spec, Mapping) and ("class_path" in spec or "component" in spec):
        encoder = _configured_encoder(spec)
    else:
        raise ValueError(
            "a content encoder config needs encoder: {class_path: ..., init_args: {...}}, got "
            f"{spec!r}."
        )
    wrapped = ContentEncoder(encoder, shape, trainable=trainable, pool=config.get("pool"))
    if load_checkpoint and not saved and config.get("checkpoint"):
        load_encoder_checkpoint(
            wrapped.encoder, str(config["checkpoint"]), config.get("checkpoint_prefix")
        )
    return wrapped
