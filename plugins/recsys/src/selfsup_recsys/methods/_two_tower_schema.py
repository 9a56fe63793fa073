"""FeatureTwoTower's schema: the saved architecture settings and the content encoders of its towers.

Helpers of :class:`~selfsup_recsys.methods.FeatureTwoTower` only (``materialize`` and
``rebuild_from_schema``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from selfsup_recsys.batch import FeatureSpec
from selfsup_recsys.encoders.content_config import build_content_encoder, saved_content_config

__all__ = ["build_content_encoders", "saved_encoder_configs", "schema_settings"]


def schema_settings(spec: Any) -> dict[str, Any]:
    """The architecture settings of a saved schema, checked to be the plain data they claim."""
    if not isinstance(spec, Mapping) or not {"query", "item"} <= set(spec):
        raise ValueError(
            "the state dict's schema._extra_state is not a FeatureTwoTower schema (a dict with "
            f"'query' and 'item' feature lists), got {type(spec).__name__}; load a state dict "
            "saved by FeatureTwoTower."
        )
    out: dict[str, Any] = {}
    for key in ("embedding_dim", "output_dim"):
        if key in spec:
            value = spec[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"the saved schema's {key} must be a positive int, got {value!r}.")
            out[key] = value
    if "hidden_dims" in spec:
        dims = spec["hidden_dims"]
        if not isinstance(dims, list | tuple) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in dims
        ):
            raise ValueError(
                f"the saved schema's hidden_dims must be a list of positive ints, got {dims!r}."
            )
        out["hidden_dims"] = list(dims)
    encoders = spec.get("content_encoders") or {}
    if not isinstance(encoders, Mapping) or not all(
        isinstance(k, str) and isinstance(v, Mapping) for k, v in encoders.items()
    ):
        raise ValueError(
            "the saved schema's content_encoders must map feature names to encoder configs, got "
            f"{encoders!r}."
        )
    out["content_encoders"] = {k: dict(v) for k, v in encoders.items()}
    return out


def build_content_encoders(
    specs: list[FeatureSpec],
    configured: Mapping[str, Any],
    restored: Mapping[str, dict[str, Any]],
    load_checkpoints: bool,
) -> dict[str, nn.Module]:
    """The encoders of the ``content`` features among ``specs``: from the user's ``configured``
    configs, else from configs ``restored`` from a state dict (rebuilt with ``saved=True``).

    Raises:
        ValueError: a content feature with neither.
    """
    out = {}
    for spec in specs:
        if spec.kind != "content":
            continue
        if spec.name in configured:
            out[spec.name] = build_content_encoder(
                configured[spec.name], spec.shape,
                load_checkpoint=load_checkpoints, feature=spec.name,
            )  # fmt: skip
        elif spec.name in restored:
            out[spec.name] = build_content_encoder(
                restored[spec.name], spec.shape, saved=True, feature=spec.name
            )
        else:
            raise ValueError(
                f"content feature {spec.name!r} has no encoder: add content_encoders: "
                f"{{{spec.name}: {{encoder: {{class_path: ..., init_args: ...}}}}}} to the "
                f"method (configured: {sorted(configured)})."
            )
    return out


def saved_encoder_configs(
    configured: Mapping[str, Any], restored: Mapping[str, dict[str, Any]]
) -> dict[str, Any]:
    """The content encoder configs a state dict carries (see :func:`~selfsup_recsys.encoders.
    content_config.saved_content_config`): the user's dict configs with their encoder named by
    registry or ``torch.nn`` path, and configs restored from a state dict as they were read (and
    checked)."""
    out = dict(restored)
    for name, config in configured.items():
        saved = saved_content_config(config, name)
        if saved is not None:
            out[name] = saved
        else:
            out.pop(name, None)  # a live module is not saved
    return out
