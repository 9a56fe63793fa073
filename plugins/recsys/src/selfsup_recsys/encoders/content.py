"""Content encoders: raw per-item content (attributes, audio clips, ...) -> one vector per item.

A ``content`` feature (:mod:`selfsup_recsys.batch`) holds each item's raw input, e.g. a row of
tabular attributes ``(F,)`` or an fbank clip ``(T, n_mels)``. Its :class:`ContentEncoder` runs
any ``torch.nn.Module`` on it — typically another plugin's encoder, named in YAML by
``class_path`` — so a recommender's item tower consumes item content end to end. This module
never imports another plugin: the encoder is built from its import path at run time.

A content encoder config (the value of ``FeatureTwoTower(content_encoders={name: ...})``)::

    encoder: {class_path: selfsup_tabular.encoders.TabularMLP, init_args: {in_dim: 8}}
    trainable: true          # false: frozen weights, kept in eval mode, no gradients
    checkpoint: null         # a .pt/.ckpt state dict to initialise the encoder from
    checkpoint_prefix: null  # keep only the keys under this prefix (e.g. "tasks.t.method.encoder.")
    pool: null               # "mean" or "first" for encoders that return (B, T, D) tokens

Export (``selfsup export``, :func:`selfsup.export.save_pretrained`): a :class:`ContentEncoder`
is written with its inner encoder described as JSON, which must be one of

- an :func:`~selfsup.export.exportable` class registered by an installed plugin:
  ``{"component": "tabular:tabular_mlp", "init_args": {...}}`` (its own ``export_config``);
- a ``torch.nn`` module built from ``{"class_path": "torch.nn.Linear", "init_args": {...}}``.

Loading an exported folder builds only these two kinds (never an arbitrary import path from
a file); any other encoder makes the export fail with a message saying so.

Checkpoints: a :class:`~selfsup_recsys.methods.FeatureTwoTower` saves its content encoder
configs in its state dict with the encoder named as a ``torch.nn`` class or a registered
component (:func:`saved_content_config`); rebuilding from a state dict
(:func:`build_content_encoder` with ``saved=True``) resolves only those two kinds, checks the
class is an ``nn.Module`` subclass before building it and takes JSON ``init_args`` only. A
config's ``class_path`` (written by the user) may be any import path, but it too is checked to
be an ``nn.Module`` class before it is called.
"""

from __future__ import annotations

import importlib
import types
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from selfsup.checkpoints import load_matching, read_state_dict, select_prefix
from selfsup.export import ExportError, exportable, is_exportable
from selfsup.export import export_config as _export_config

__all__ = [
    "CONTENT_ENCODER_KEYS",
    "ContentEncoder",
    "build_content_encoder",
    "import_class",
    "load_encoder_checkpoint",
    "saved_content_config",
]

CONTENT_ENCODER_KEYS = ("encoder", "trainable", "checkpoint", "checkpoint_prefix", "pool")
_POOLS = (None, "mean", "first")
_TORCH_NN = "torch.nn."


def _torch_nn_class(class_path: str) -> type[nn.Module] | None:
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
    if not class_path.startswith(_TORCH_NN):
        return None
    obj: Any = nn
    for part in class_path[len(_TORCH_NN) :].split("."):
        within = isinstance(obj, types.ModuleType) and (
            obj.__name__ == "torch.nn" or obj.__name__.startswith(_TORCH_NN)
        )
        if not within or not part or part.startswith("_"):
            return None
        obj = getattr(obj, part, None)
    if not (isinstance(obj, type) and issubclass(obj, nn.Module)):
        return None
    return obj if obj.__module__.startswith(_TORCH_NN) else None


def _check_json(value: Any, where: str) -> None:
    """Refuse anything but plain JSON data (``None``, bool, int, float, str, lists, str-keyed
    dicts): what a saved state hands to a constructor must not be an object of any kind."""
    if value is None or isinstance(value, bool | int | float | str):
        return
    if isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_json(v, f"{where}[{i}]")
        return
    if isinstance(value, Mapping):
        for key, v in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where} has a non-string key {key!r}; expected JSON data.")
            _check_json(v, f"{where}[{key!r}]")
        return
    raise ValueError(
        f"{where} is a {type(value).__name__}; init_args must be plain JSON data (None, bool, "
        "int, float, str, lists, dicts)."
    )


def _module_class(obj: Any, name: str, origin: str) -> type[nn.Module]:
    """``obj`` if it is an ``nn.Module`` subclass; checked before anything calls it."""
    if isinstance(obj, type) and issubclass(obj, nn.Module):
        return obj
    kind = f"the class {obj.__name__}" if isinstance(obj, type) else type(obj).__name__
    raise ValueError(
        f"{origin} {name!r} is {kind}, not a torch.nn.Module class; refusing to call it. A "
        "content encoder is a module class: a torch.nn class, a registered selfsup component "
        "or your own nn.Module subclass."
    )


def _registered_module_class(name: str, origin: str) -> type[nn.Module]:
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
    return _module_class(obj, name, origin)


def _split_path(class_path: str) -> tuple[str, str]:
    if ":" in class_path:
        module, _, attr = class_path.partition(":")
    else:
        module, _, attr = class_path.rpartition(".")
    return module, attr


def _component_of_path(class_path: str) -> str | None:
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


def _component_of_class(cls: type) -> str | None:
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


def _encoder_from_json(spec: Mapping[str, Any]) -> nn.Module:
    """Build an inner encoder from its export description (see the module docstring)."""
    init_args = dict(spec.get("init_args") or {})
    try:
        _check_json(init_args, "a content encoder description's init_args")
    except ValueError as err:
        raise ExportError(str(err)) from err
    if "component" in spec:
        # registered @exportable classes only, as load_pretrained itself would accept
        from selfsup.export import resolve_component

        cls = resolve_component(str(spec["component"]))
    else:
        cls = _torch_nn_class(spec.get("class_path", ""))
        if cls is None:
            raise ExportError(
                f"a content encoder description names {spec.get('class_path')!r}; only torch.nn "
                "classes or registered @exportable components ({'component': 'plugin:name'}) "
                "are built from a description."
            )
    try:
        return cls(**init_args)
    except TypeError as err:
        raise ExportError(f"cannot build the content encoder {dict(spec)!r}: {err}") from err


def import_class(class_path: str) -> Any:
    """Import ``"package.module.Class"`` or ``"package.module:Class"``; a short plugin
    component name (``"scarf"``, ``"tabular:scarf"``) goes through core's plugin registry.

    For class paths a user wrote in a config only (a config is code its author reviews): a
    name read from a checkpoint or any other file never reaches this function (see
    :func:`build_content_encoder` with ``saved=True``). It returns what the path names; the
    caller checks it is an ``nn.Module`` class before calling it.

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


@exportable("recsys:content_encoder")
class ContentEncoder(nn.Module):
    """Any ``nn.Module`` applied to a content feature, frozen or trainable, with pooling.

    For raw inputs ``x`` of shape ``(B, *shape)`` the output is

    .. math::

        c = \\mathrm{pool}(f_\\theta(x)) \\in \\mathbb{R}^{B \\times D}

    with ``pool`` = identity for encoders returning ``(B, D)``, the mean over every middle axis
    (``"mean"``) or the first token (``"first"``, a CLS token) for ``(B, T, D)`` outputs; of an
    encoder returning a tuple (e.g. ``(tokens, padding_mask)``) the first element is used. ``D``
    (:attr:`out_dim`) is found by one forward pass on zeros at construction. Rows of ``x`` that
    are all NaN (items without content) are fed as zeros; the tower replaces their output by the
    feature's default embedding.

    A frozen encoder (``trainable=False``) has ``requires_grad=False`` parameters, stays in eval
    mode when the model trains (dropout and batch-norm statistics of a pre-trained encoder are
    left alone) and runs under ``torch.no_grad``.

    Args:
        encoder: The module, called as ``encoder(x)``; or its JSON description
            ``{"component": "plugin:name", "init_args": {...}}`` (a registered
            :func:`~selfsup.export.exportable` class) or ``{"class_path": "torch.nn.<Class>",
            "init_args": {...}}`` — the forms :meth:`export_config` writes.
        shape: Per-item input shape (without the batch axis).
        trainable: Train the encoder with the towers (default True).
        pool: ``None``, ``"mean"`` or ``"first"`` (default None).

    Shapes:
        x: ``(B, *shape)`` floating -> ``(B, out_dim)``.

    Raises:
        ValueError: bad ``pool``, an encoder that is neither a module nor such a description,
            or an encoder whose (pooled) output is not ``(B, D)``.

    Examples:
        >>> enc = ContentEncoder({"class_path": "torch.nn.Linear",
        ...                       "init_args": {"in_features": 6, "out_features": 4}}, shape=(6,))
        >>> enc(torch.zeros(3, 6)).shape
        torch.Size([3, 4])
    """

    def __init__(
        self,
        encoder: nn.Module | Mapping[str, Any],
        shape: Sequence[int],
        trainable: bool = True,
        pool: str | None = None,
    ) -> None:
        super().__init__()
        self.source: dict[str, Any] | None = None
        if isinstance(encoder, Mapping):
            self.source = {k: encoder[k] for k in ("component", "class_path", "init_args")
                           if k in encoder}  # fmt: skip
            encoder = _encoder_from_json(encoder)
        if not isinstance(encoder, nn.Module):
            raise ValueError(
                f"a content encoder must be a torch.nn.Module, got {type(encoder).__name__}."
            )
        if pool not in _POOLS:
            raise ValueError(f"pool must be one of {_POOLS}, got {pool!r}.")
        self.encoder = encoder
        self.shape = tuple(int(n) for n in shape)
        self.trainable = bool(trainable)
        self.pool = pool
        if not self.trainable:
            self.encoder.requires_grad_(False)
        self.out_dim = self._probe_out_dim()
        self.train(True)

    def _probe_out_dim(self) -> int:
        was_training = self.encoder.training
        self.encoder.eval()  # batch-norm must not see the probe
        try:
            with torch.no_grad():
                param = next(self.encoder.parameters(), None)
                dtype = param.dtype if param is not None else torch.float32
                out = self._pooled(self.encoder(torch.zeros(2, *self.shape, dtype=dtype)))
        except MalformedOutput:
            raise
        except Exception as err:  # any failure means the input does not fit the encoder
            raise ValueError(
                f"the content encoder {type(self.encoder).__name__} failed on an input of shape "
                f"(B, {', '.join(map(str, self.shape))}): {err}"
            ) from err
        finally:
            self.encoder.train(was_training)
        return int(out.shape[1])

    def _pooled(self, out: Any) -> Tensor:
        if isinstance(out, (tuple, list)) and out and isinstance(out[0], Tensor):
            out = out[0]  # e.g. (tokens, padding mask) from a transformer encoder
        if not isinstance(out, Tensor):
            raise MalformedOutput(
                f"the content encoder {type(self.encoder).__name__} returned "
                f"{type(out).__name__}; it must return a (B, D) tensor (or (B, T, D) with pool)."
            )
        if out.dim() > 2 and self.pool == "mean":
            out = out.flatten(1, -2).mean(dim=1)
        elif out.dim() > 2 and self.pool == "first":
            out = out.flatten(1, -2)[:, 0]
        if out.dim() != 2:
            raise MalformedOutput(
                f"the content encoder {type(self.encoder).__name__} returned shape "
                f"{tuple(out.shape)}; it must be (B, D) — set pool: mean or first for token "
                "outputs."
            )
        return out

    def export_config(self) -> dict[str, Any]:
        """JSON constructor arguments: the inner encoder as a component or ``torch.nn`` class.

        Raises:
            ExportError: an inner encoder that is neither :func:`~selfsup.export.exportable`
                nor a ``torch.nn`` module built from a ``class_path`` description.
        """
        if is_exportable(self.encoder):
            name = type(self.encoder).__selfsup_export_name__  # type: ignore[attr-defined]
            inner: dict[str, Any] = {
                "component": name,
                "init_args": _export_config(self.encoder),
            }
        elif self.source is not None:
            inner = dict(self.source)
        else:
            raise ExportError(
                f"the content encoder {type(self.encoder).__name__} cannot be exported: it is "
                "not @selfsup.export.exportable and was not built from a torch.nn class_path. "
                "Use an exportable encoder (registered in its plugin's components) or a "
                "{class_path: torch.nn.<Class>, init_args: ...} config."
            )
        return {
            "encoder": inner,
            "shape": list(self.shape),
            "trainable": self.trainable,
            "pool": self.pool,
        }

    def train(self, mode: bool = True) -> ContentEncoder:
        super().train(mode)
        if not self.trainable:
            self.encoder.eval()
        return self

    def forward(self, x: Tensor) -> Tensor:
        x = torch.nan_to_num(x, nan=0.0)  # all-NaN rows = no content; replaced after encoding
        param = next(self.encoder.parameters(), None)
        if param is not None:
            x = x.to(param.dtype)
        if self.trainable:
            return self._pooled(self.encoder(x))
        with torch.no_grad():
            return self._pooled(self.encoder(x))


class MalformedOutput(ValueError):
    """A content encoder returned something other than a ``(B, D)`` tensor."""


def _torch_nn_path(class_path: Any) -> str | None:
    """``class_path`` in the ``"torch.nn.<Class>"`` form when it names a ``torch.nn`` class."""
    if _torch_nn_class(class_path) is None:
        return None
    return _TORCH_NN + class_path[len("torch.nn:") :] if ":" in class_path else class_path


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
    _check_json(init_args, f"{origin}: init_args")
    name = spec.get("component")
    if name is None:
        path = spec.get("class_path")
        if not isinstance(path, str) or not path:
            raise ValueError(f"{origin} names no class_path or component: {dict(spec)!r}.")
        torch_path = _torch_nn_path(path)
        if torch_path is not None:  # ContentEncoder builds it and keeps it for export
            return {"class_path": torch_path, "init_args": dict(init_args)}
        name = path if "." not in path else _component_of_path(path)
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
    cls = _registered_module_class(name, origin)
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
        cls = _registered_module_class(str(spec["component"]), "the content encoder component")
    else:
        torch_path = _torch_nn_path(spec["class_path"])
        if torch_path is not None:  # described, not built here: kept for export
            return {"class_path": torch_path, "init_args": init_args}
        cls = _module_class(
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
    elif _torch_nn_path(spec.get("class_path")) is not None:
        encoder = {"class_path": _torch_nn_path(spec["class_path"]), "init_args": init_args}
    else:
        path = spec.get("class_path")
        cls = import_class(path)  # the user's own config: its class path was imported to build
        name = _component_of_class(cls) if isinstance(cls, type) else None
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
