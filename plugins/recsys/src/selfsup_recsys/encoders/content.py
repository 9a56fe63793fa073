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
component (:func:`~selfsup_recsys.encoders.content_config.saved_content_config`); rebuilding
from a state dict (:func:`~selfsup_recsys.encoders.content_config.build_content_encoder` with
``saved=True``) resolves only those two kinds, checks the
class is an ``nn.Module`` subclass before building it and takes JSON ``init_args`` only. A
config's ``class_path`` (written by the user) may be any import path, but it too is checked to
be an ``nn.Module`` class before it is called.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from selfsup.deprecation import moved_attribute
from selfsup.export import ExportError, exportable, is_exportable
from selfsup.export import export_config as _export_config
from selfsup_recsys.encoders.content_classes import check_json, torch_nn_class

__all__ = ["ContentEncoder"]

_POOLS = (None, "mean", "first")

# moved to their own modules; forwarded with a DeprecationWarning for one release
_MOVED = {
    "CONTENT_ENCODER_KEYS": "selfsup_recsys.encoders.content_config",
    "build_content_encoder": "selfsup_recsys.encoders.content_config",
    "load_encoder_checkpoint": "selfsup_recsys.encoders.content_config",
    "saved_content_config": "selfsup_recsys.encoders.content_config",
    "import_class": "selfsup_recsys.encoders.content_classes",
}


def __getattr__(name: str) -> Any:
    return moved_attribute(__name__, _MOVED, name)


def _encoder_from_json(spec: Mapping[str, Any]) -> nn.Module:
    """Build an inner encoder from its export description (see the module docstring)."""
    init_args = dict(spec.get("init_args") or {})
    try:
        check_json(init_args, "a content encoder description's init_args")
    except ValueError as err:
        raise ExportError(str(err)) from err
    if "component" in spec:
        # registered @exportable classes only, as load_pretrained itself would accept
        from selfsup.export import resolve_component

        cls = resolve_component(str(spec["component"]))
    else:
        cls = torch_nn_class(spec.get("class_path", ""))
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
