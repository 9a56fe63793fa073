"""Serving: load a trained two-tower model and export item and query embeddings.

The command-line path is ``selfsup embed`` (``InteractionDataModule.predict_dataloader``, one
side per file: ``predict_side: item`` or ``query``) and ``selfsup export`` (both towers and the
vocabularies as a :class:`~selfsup_recsys.encoders.TwoTowerEncoder` folder). These helpers are
the in-Python path: a ``selfsup fit`` checkpoint without its config, both sides at once.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from selfsup.checkpoints import read_state_dict
from selfsup_recsys.data.datamodule import InteractionDataModule
from selfsup_recsys.data.retrieval_data import RetrievalData
from selfsup_recsys.methods.feature_two_tower import FeatureTwoTower

__all__ = ["export_embeddings", "load_two_tower"]


def load_two_tower(
    path: str,
    task: str | None = None,
    content_encoders: dict[str, Any] | None = None,
) -> FeatureTwoTower:
    """A :class:`FeatureTwoTower` in eval mode from a ``selfsup fit`` checkpoint or a state dict.

    The feature schema and tower sizes are stored in the state dict, so no config is needed.
    Loads with ``torch.load(weights_only=True)`` (tensors and plain values only), and nothing
    the file names is imported or called: saved content encoders are rebuilt only when they
    name a ``torch.nn`` class or a registered component (an ``nn.Module`` class).

    Args:
        path: a Lightning ``.ckpt`` (``state_dict`` with ``tasks.<task>.method.`` keys) or a file
            holding ``method.state_dict()``.
        task: task name inside a multi-task checkpoint (default: the only task with a recsys
            schema).
        content_encoders: ``{feature: config or module}`` for content features whose saved
            encoder is not rebuilt from the file (e.g. your own, unregistered class); as
            :class:`FeatureTwoTower`'s argument. The weights still come from the file.

    Raises:
        FileNotFoundError: no such file.
        ValueError: no (or several, without ``task``) two-tower model in the file, or a saved
            schema naming something other than a ``torch.nn`` class or a registered module.

    Examples:
        >>> model = load_two_tower("runs/checkpoints/last.ckpt")  # doctest: +SKIP
    """
    state = read_state_dict(path, wrappers=("state_dict",))
    suffix = "schema._extra_state"
    prefixes = sorted(k[: -len(suffix)] for k in state if k.endswith(suffix))
    if task is not None:
        prefixes = [p for p in prefixes if p == f"tasks.{task}.method."]
    if len(prefixes) != 1:
        raise ValueError(
            f"expected one FeatureTwoTower in {path!r}, found prefixes {prefixes}; pass task=."
        )
    prefix = prefixes[0]
    own = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    gap = own.get("frequency.gap")
    if not isinstance(gap, Tensor) or gap.dim() != 2:
        raise ValueError(f"{path!r} has no FeatureTwoTower frequency.gap tensor under {prefix!r}.")
    buckets = gap.shape[1]
    method = FeatureTwoTower(frequency_buckets=buckets, content_encoders=content_encoders)
    method.load_state_dict(own)
    return method.eval()


@torch.no_grad()
def export_embeddings(
    method: FeatureTwoTower,
    data: RetrievalData | InteractionDataModule,
    batch_size: int = 4096,
) -> dict[str, Any]:
    """Embeddings of every catalog item and every user, with their raw ids.

    Args:
        method: The trained model.
        data: An :class:`~selfsup_recsys.data.InteractionDataModule` — its files are encoded
            with the model's saved vocabularies (:attr:`FeatureTwoTower.feature_tables`), the
            rows ``selfsup embed`` writes — or a :class:`RetrievalData` whose encoded tables
            are used as they are (they must be the encoding the model was trained on).
        batch_size: Rows per forward pass.

    Returns:
        ``{"item": (M, D), "query": (U, D), "item_keys": [...], "user_keys": [...]}``; row ``r``
        of ``"item"`` is the item ``item_keys[r]``. Index ``"item"`` (e.g. with
        :func:`selfsup.kernels.topk.similarity_topk` or FAISS) and embed users at request time
        with :meth:`FeatureTwoTower.query_embeddings`.

    Examples:
        >>> out = export_embeddings(load_two_tower("last.ckpt"), data_module)  # doctest: +SKIP
        >>> out["item"].shape, len(out["item_keys"])  # doctest: +SKIP
        (torch.Size([1682, 64]), 1682)
    """
    method.eval()
    if isinstance(data, InteractionDataModule):
        out: dict[str, Any] = {}
        for side, name in (("item", "item_keys"), ("query", "user_keys")):
            keys, features, _ = data.embedding_features(side, method.feature_tables)
            rows = torch.arange(len(keys))
            out[side] = torch.cat(
                [
                    method.embed({side: {k: v[r] for k, v in features.items()}})
                    for r in rows.split(batch_size)
                ]
            )
            out[name] = keys
        return out

    def run(table: Any, embed: Any) -> Tensor:
        rows = torch.arange(len(table))
        return torch.cat([embed(table.gather(r)) for r in rows.split(batch_size)])

    return {
        "item": run(data.items, method.item_embeddings),
        "query": run(data.users, method.query_embeddings),
        "item_keys": list(data.items.keys),
        "user_keys": list(data.users.keys),
    }
