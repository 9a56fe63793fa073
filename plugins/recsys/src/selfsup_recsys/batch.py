"""Feature declarations of a tower and validation of the feature tensors of a batch.

A tower is declared as a list of :class:`FeatureSpec` (or plain dicts, as written in a YAML
config). Five kinds exist, each with one tensor layout in a batch:

==============  =======================================  =====================================
kind            tensor                                   meaning
==============  =======================================  =====================================
``categorical`` ``(B,)`` int64 in ``[0, cardinality)``   one id (code 0: unknown / missing by
                                                         the data layer's convention)
``bag``         ``(B, L)`` int64 in ``[-1, cardinality)`` multi-valued ids, ``-1`` = padding;
                                                         an all-padding row is an *empty bag*
``numeric``     ``(B,)`` floating, finite                one standardised number
``dense``       ``(B, dim)`` floating, finite            a content vector (e.g. another
                                                         plugin's encoder output)
``content``     ``(B, *shape)`` floating                 raw item content (tabular attributes,
                                                         an fbank clip, ...) for a content
                                                         encoder; an all-NaN row = no content
==============  =======================================  =====================================
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor

from selfsup.checks import repeated
from selfsup.experiment.method import MalformedBatchError

__all__ = ["KINDS", "FeatureSpec", "check_features", "parse_features", "specs_to_dicts"]

KINDS = ("categorical", "bag", "numeric", "dense", "content")


@dataclass(frozen=True)
class FeatureSpec:
    """One input feature of a tower.

    Args:
        name: Key of the feature's tensor in the batch's feature dict.
        kind: ``"categorical"``, ``"bag"``, ``"numeric"``, ``"dense"`` or ``"content"``.
        cardinality: Vocabulary size of ``categorical``/``bag`` features (ids
            ``0 .. cardinality - 1``); 0 for the other kinds.
        dim: Width of a ``dense`` feature; 0 for the other kinds.
        shape: Per-example input shape of a ``content`` feature (e.g. ``(F,)`` attributes or
            ``(T, n_mels)`` fbank frames), read by the feature's content encoder; ``()`` for the
            other kinds.

    Raises:
        ValueError: unknown kind, or a cardinality/dim that does not fit the kind.
    """

    name: str
    kind: str
    cardinality: int = 0
    dim: int = 0
    shape: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        # YAML and JSON give lists; the frozen dataclass keeps a hashable tuple
        object.__setattr__(self, "shape", tuple(int(n) for n in self.shape))
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"feature name must be a non-empty string, got {self.name!r}.")
        if self.kind not in KINDS:
            raise ValueError(
                f"feature {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}."
            )
        if self.kind in ("categorical", "bag") and self.cardinality < 1:
            raise ValueError(
                f"feature {self.name!r} ({self.kind}) needs cardinality >= 1, got "
                f"{self.cardinality}."
            )
        if self.kind == "dense" and self.dim < 1:
            raise ValueError(f"feature {self.name!r} (dense) needs dim >= 1, got {self.dim}.")
        if self.kind == "content" and (not self.shape or min(self.shape) < 1):
            raise ValueError(
                f"feature {self.name!r} (content) needs a non-empty shape of positive sizes (the "
                f"per-item input of its encoder), got {self.shape}."
            )
        if self.kind != "content" and self.shape:
            raise ValueError(f"feature {self.name!r} ({self.kind}) takes no shape.")

    @property
    def sparse(self) -> bool:
        """Whether the feature is looked up in an embedding table (categorical or bag)."""
        return self.kind in ("categorical", "bag")


def parse_features(features: Sequence[FeatureSpec | Mapping[str, Any]]) -> list[FeatureSpec]:
    """Turn dicts (``{"name", "kind", "cardinality", "dim"}``) into :class:`FeatureSpec` s.

    Raises:
        ValueError: no feature, duplicate names, or an invalid declaration.
    """
    specs = [f if isinstance(f, FeatureSpec) else FeatureSpec(**dict(f)) for f in features]
    if not specs:
        raise ValueError("a tower needs at least one feature; declare e.g. an id feature.")
    dup = repeated(s.name for s in specs)
    if dup:
        raise ValueError(f"feature names must be unique within a tower; repeated: {dup}.")
    return specs


def specs_to_dicts(specs: Sequence[FeatureSpec]) -> list[dict[str, Any]]:
    """Plain, JSON-serialisable form of ``specs`` (for configs and checkpoints)."""
    return [asdict(s) for s in specs]


def check_features(
    features: Any, specs: Sequence[FeatureSpec], where: str, rows: int | None = None
) -> int:
    """Validate a batch's feature dict against the declaration and return its batch size.

    Raises:
        MalformedBatchError: not a mapping, a missing feature, wrong dtype/shape, an id outside
            ``[0, cardinality)`` (``[-1, cardinality)`` for bags), NaN/inf, or rows that differ
            from ``rows``.
    """
    if not isinstance(features, Mapping):
        raise MalformedBatchError(
            f"{where} must be a dict of feature tensors {[s.name for s in specs]}, got "
            f"{type(features).__name__}."
        )
    for spec in specs:
        if spec.name not in features:
            raise MalformedBatchError(
                f"{where} is missing feature {spec.name!r} (got keys {sorted(map(str, features))})."
            )
        x = features[spec.name]
        label = f"{where}[{spec.name!r}] ({spec.kind})"
        if not isinstance(x, Tensor):
            raise MalformedBatchError(f"{label} must be a tensor, got {type(x).__name__}.")
        ndim = {"categorical": 1, "numeric": 1, "bag": 2, "dense": 2}.get(
            spec.kind, 1 + len(spec.shape)
        )
        if (
            x.dim() != ndim
            or (spec.kind == "dense" and x.shape[1] != spec.dim)
            or (spec.kind == "content" and tuple(x.shape[1:]) != spec.shape)
        ):
            want = {
                "categorical": "(B,)",
                "numeric": "(B,)",
                "bag": "(B, L)",
                "dense": f"(B, {spec.dim})",
                "content": f"(B, {', '.join(map(str, spec.shape))})",
            }
            raise MalformedBatchError(
                f"{label} must have shape {want[spec.kind]}, got {tuple(x.shape)}."
            )
        if rows is None:
            rows = int(x.shape[0])
        elif x.shape[0] != rows:
            raise MalformedBatchError(
                f"{label} has {x.shape[0]} rows but the batch has {rows}; every feature needs one "
                "row per example."
            )
        if spec.sparse:
            _check_ids(x, spec, label)
        elif spec.kind == "content":
            _check_content(x, label)
        else:
            if not x.is_floating_point():
                raise MalformedBatchError(f"{label} must be floating point, got {x.dtype}.")
            if not bool(torch.isfinite(x).all()):
                raise MalformedBatchError(
                    f"{label} holds {int((~torch.isfinite(x)).sum())} NaN/inf value(s); impute "
                    "missing values (e.g. with the training mean) before batching."
                )
    return int(rows or 0)


def _check_ids(x: Tensor, spec: FeatureSpec, label: str) -> None:
    if x.dtype != torch.long:
        raise MalformedBatchError(f"{label} must be int64 ids, got {x.dtype}; use .long().")
    if not x.numel():
        return
    low = -1 if spec.kind == "bag" else 0
    lo, hi = int(x.min()), int(x.max())
    if lo < low or hi >= spec.cardinality:
        pad = " (-1 pads bags)" if spec.kind == "bag" else ""
        raise MalformedBatchError(
            f"{label} has ids in [{lo}, {hi}] but cardinality={spec.cardinality} allows "
            f"{low}..{spec.cardinality - 1}{pad}; map unknown values to 0 or raise the "
            "cardinality."
        )


def _check_content(x: Tensor, label: str) -> None:
    if not x.is_floating_point():
        raise MalformedBatchError(f"{label} must be floating point, got {x.dtype}.")
    bad = ~torch.isfinite(x.flatten(1))
    # a row of NaN only marks an item without content (default embedding); anything else is
    # a corrupt input the encoder would turn into NaN embeddings
    partial = bad.any(dim=1) & ~torch.isnan(x.flatten(1)).all(dim=1)
    if bool(partial.any()):
        raise MalformedBatchError(
            f"{label} has {int(partial.sum())} row(s) with some NaN/inf values; a row must be "
            "finite, or all NaN for an item without content."
        )
