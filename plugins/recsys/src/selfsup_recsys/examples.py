"""A small example schema, random feature batches and a tiny model (tests, docs, smoke runs).

The batches follow :class:`~selfsup_recsys.methods.FeatureTwoTower`'s layout: one categorical id,
a bag (``-1`` pads), a categorical and a dense vector per item; an id and a number per query.
"""

from __future__ import annotations

from typing import Any

import torch

from selfsup_recsys.methods.feature_two_tower import FeatureTwoTower

__all__ = [
    "EXAMPLE_ITEM_FEATURES",
    "EXAMPLE_QUERY_FEATURES",
    "random_feature_batch",
    "random_item_features",
    "tiny_feature_two_tower",
]

EXAMPLE_QUERY_FEATURES: list[dict[str, Any]] = [
    {"name": "user_id", "kind": "categorical", "cardinality": 20},
    {"name": "age", "kind": "numeric"},
]
EXAMPLE_ITEM_FEATURES: list[dict[str, Any]] = [
    {"name": "item_id", "kind": "categorical", "cardinality": 30},
    {"name": "genres", "kind": "bag", "cardinality": 6},
    {"name": "year", "kind": "categorical", "cardinality": 5},
    {"name": "content", "kind": "dense", "dim": 3},
]


def random_item_features(b: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """``b`` random items of :data:`EXAMPLE_ITEM_FEATURES`."""
    return {
        "item_id": torch.randint(0, 30, (b,), generator=generator),
        "genres": torch.randint(-1, 6, (b, 3), generator=generator),
        "year": torch.randint(0, 5, (b,), generator=generator),
        "content": torch.randn(b, 3, generator=generator),
    }


def random_feature_batch(b: int, generator: torch.Generator, ssl: int = 5) -> dict[str, Any]:
    """A training batch of ``b`` (query, item) pairs plus ``ssl`` separately drawn SSL items."""
    items = random_item_features(b, generator)
    return {
        "query": {
            "user_id": torch.randint(0, 20, (b,), generator=generator),
            "age": torch.randn(b, generator=generator),
        },
        "item": items,
        "item_ids": items["item_id"].clone(),
        "ssl_item": random_item_features(ssl, generator),
    }


def tiny_feature_two_tower(ssl: str = "rfm", **kwargs: Any) -> FeatureTwoTower:
    """A 4-wide :class:`FeatureTwoTower` on the example schema, with a fixed random MI matrix."""
    method = FeatureTwoTower(
        EXAMPLE_QUERY_FEATURES,
        EXAMPLE_ITEM_FEATURES,
        embedding_dim=4,
        hidden_dims=[8],
        output_dim=4,
        temperature=0.2,
        ssl=ssl,
        frequency_buckets=64,
        **kwargs,
    )
    mi = torch.rand(4, 4, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    method.set_feature_correlation((mi + mi.T) / 2)
    return method
