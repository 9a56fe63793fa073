"""``TwoTowerEncoder``: the exported form of a trained two-tower model (both towers, one module).

A retrieval model is used in two places: the **item** tower fills an approximate-nearest-neighbour
index once, the **query** (user) tower runs at request time, and the two vectors are compared
by a dot product. So ``export_encoder()`` of :class:`~selfsup_recsys.methods.FeatureTwoTower` and
:class:`~selfsup_recsys.methods.TwoTowerRetrieval` returns this module holding both towers, with
:meth:`TwoTowerEncoder.item` and :meth:`TwoTowerEncoder.query`; its ``forward`` is the item
tower (what ``selfsup embed`` writes by default). The training-only parts (logQ frequency
estimator, SSL masks, mutual information) are left behind.

A feature model trained with :class:`~selfsup_recsys.data.InteractionDataModule` also carries its
**vocabularies** (the fitted :class:`~selfsup_recsys.data.FeatureTable` encodings, as JSON in
``config.json``): :meth:`TwoTowerEncoder.encode` turns raw metadata rows (a ``DataFrame`` with the
training columns) into the tensors the towers read, with the codes of training time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from selfsup.experiment.method import MalformedBatchError
from selfsup.export import ExportError, exportable
from selfsup.export import export_config as _export_config
from selfsup_recsys.batch import check_features
from selfsup_recsys.encoders.tower import FeatureTower, IdTower

__all__ = ["SIDES", "TwoTowerEncoder"]

#: The two towers, by the name ``item(...)`` / ``query(...)`` and ``predict_side`` use.
SIDES = ("item", "query")
_TOWERS: dict[str, type[nn.Module]] = {
    "recsys:feature_tower": FeatureTower,
    "recsys:id_tower": IdTower,
}


def _tower(value: nn.Module | Mapping[str, Any], side: str) -> nn.Module:
    if isinstance(value, FeatureTower | IdTower):
        return value
    if isinstance(value, Mapping) and value.get("component") in _TOWERS:
        return _TOWERS[str(value["component"])](**dict(value.get("init_args") or {}))
    raise ExportError(
        f"the {side} tower must be a FeatureTower or IdTower, or its description "
        f"{{'component': one of {sorted(_TOWERS)}, 'init_args': {{...}}}}; got "
        f"{type(value).__name__}."
    )


@exportable("recsys:two_tower_encoder")
class TwoTowerEncoder(nn.Module):
    """A query tower and an item tower: ``item(x)`` for the index, ``query(x)`` per request.

    Scores are dot products ``s(q, i) = query(q) · item(i)`` (cosine similarities: both
    :class:`FeatureTower` s L2-normalise; :class:`IdTower` s are normalised here when
    ``normalize``).

    Args:
        query_tower: A :class:`FeatureTower` (feature inputs) or :class:`IdTower` (id inputs),
            or its description ``{"component": "recsys:feature_tower", "init_args": {...}}``.
        item_tower: The same for items.
        normalize: L2-normalise the towers' outputs (``TwoTowerRetrieval(normalize=True)``;
            default False: feature towers normalise themselves).
        vocabularies: ``{"query": ..., "item": ...}`` :meth:`FeatureTable.to_config
            <selfsup_recsys.data.FeatureTable.to_config>` encodings for :meth:`encode`, or
            ``None``.

    Shapes:
        FeatureTower inputs: ``{name: tensor}`` of ``B`` rows (:mod:`selfsup_recsys.batch`);
        IdTower inputs: ``(B,)`` int64 ids. Output: ``(B, D)``.

    Raises:
        ExportError: a tower that is neither kind nor a description of one.

    Examples:
        >>> items = IdTower(50, out_dim=8)
        >>> encoder = TwoTowerEncoder(IdTower(20, out_dim=8), items, normalize=True)
        >>> encoder.item(torch.tensor([3, 4])).norm(dim=1)
        tensor([1.0000, 1.0000], grad_fn=<LinalgVectorNormBackward0>)
    """

    def __init__(
        self,
        query_tower: nn.Module | Mapping[str, Any],
        item_tower: nn.Module | Mapping[str, Any],
        normalize: bool = False,
        vocabularies: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        super().__init__()
        self.query_tower = _tower(query_tower, "query")
        self.item_tower = _tower(item_tower, "item")
        self.normalize = bool(normalize)
        self.vocabularies = dict(vocabularies) if vocabularies else None
        self._tables: dict[str, Any] = {}

    def export_config(self) -> dict[str, Any]:
        """JSON constructor arguments: both towers as descriptions, and the vocabularies."""

        def describe(tower: nn.Module) -> dict[str, Any]:
            name = type(tower).__selfsup_export_name__  # type: ignore[attr-defined]
            return {"component": name, "init_args": _export_config(tower)}

        return {
            "query_tower": describe(self.query_tower),
            "item_tower": describe(self.item_tower),
            "normalize": self.normalize,
            "vocabularies": self.vocabularies,
        }

    # -- towers ----------------------------------------------------------------------------------
    def _run(self, tower: nn.Module, inputs: Any, side: str) -> Tensor:
        if isinstance(tower, FeatureTower):
            check_features(inputs, tower.specs, f"{side} features")
        elif (
            not isinstance(inputs, Tensor)
            or inputs.dim() != 1
            or inputs.dtype != torch.long
            or (inputs.numel() and not 0 <= int(inputs.min()) <= int(inputs.max()) < tower.num_ids)
        ):
            got = f"{inputs.dtype} {tuple(inputs.shape)}" if isinstance(inputs, Tensor) else inputs
            raise MalformedBatchError(
                f"the {side} tower takes (B,) int64 ids in [0, {tower.num_ids}), got {got}."
            )
        out = tower(inputs)
        return F.normalize(out, dim=1) if self.normalize else out

    def item(self, inputs: Any) -> Tensor:
        """Item vectors ``(B, D)`` (feature dict or ids, as the item tower takes)."""
        return self._run(self.item_tower, inputs, "item")

    def query(self, inputs: Any) -> Tensor:
        """Query (user) vectors ``(B, D)``."""
        return self._run(self.query_tower, inputs, "query")

    def forward(self, inputs: Any, side: str = "item") -> Tensor:
        """``item(inputs)`` or, with ``side="query"``, ``query(inputs)``."""
        if side not in SIDES:
            raise ValueError(f"side must be one of {SIDES}, got {side!r}.")
        return self.item(inputs) if side == "item" else self.query(inputs)

    # -- raw metadata ----------------------------------------------------------------------------
    def table(self, side: str) -> Any:
        """The :class:`~selfsup_recsys.data.FeatureTable` of ``side``, rebuilt from the
        vocabularies (encode only: it holds no rows).

        Raises:
            ValueError: an unknown side, or an encoder saved without vocabularies.
        """
        if side not in SIDES:
            raise ValueError(f"side must be one of {SIDES}, got {side!r}.")
        if not self.vocabularies or side not in self.vocabularies:
            raise ValueError(
                "this encoder carries no vocabularies (it was not trained with "
                "InteractionDataModule): build the feature tensors yourself."
            )
        if side not in self._tables:
            from selfsup_recsys.data.feature_table import FeatureTable

            self._tables[side] = FeatureTable.from_config(self.vocabularies[side])
        return self._tables[side]

    def encode(self, side: str, frame: Any) -> dict[str, Tensor]:
        """Feature tensors of raw metadata rows, with the vocabularies of training time.

        ``frame`` is a ``pandas.DataFrame`` with the id column and the metadata columns of the
        training files (missing columns count as missing values). Unknown ids get id code 0
        (the model embeds them from their other features); ``content`` features come back as
        NaN rows (the default embedding): put the raw content in their place to use it.

        Raises:
            ValueError: no vocabularies (see :meth:`table`).
            KeyError: ``frame`` lacks the id column.

        Examples:
            >>> import pandas as pd
            >>> from selfsup.export import load_pretrained
            >>> encoder = load_pretrained("encoder/")  # doctest: +SKIP
            >>> rows = pd.DataFrame({"item_id": [7], "genres": ["drama|war"]})
            >>> encoder.item(encoder.encode("item", rows)).shape  # doctest: +SKIP
            torch.Size([1, 64])
        """
        table = self.table(side)
        if table.key_column not in frame.columns:
            raise KeyError(
                f"the {side} rows need the id column {table.key_column!r}; got "
                f"{list(frame.columns)}."
            )
        return table.encode(frame, table.key_column)
