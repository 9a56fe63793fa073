"""Synthetic interactions with item/user metadata, for tests, demos and smoke runs.

Items belong to ``num_clusters`` genres; each user prefers one genre; interactions pick the
preferred genre with probability ``affinity`` and items inside a genre with a Zipf-like
popularity, so a two-tower model can learn something and head/tail items exist.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["synthetic_interactions"]


def synthetic_interactions(
    num_users: int = 60,
    num_items: int = 40,
    per_user: int = 8,
    num_clusters: int = 4,
    affinity: float = 0.8,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``(interactions, items, users)`` frames in the layout of the generic loader.

    Returns:
        interactions: ``user, item, timestamp`` (string user ids ``"u0"..``, int item ids);
        items: ``item, genres ("|"-joined: the genre plus sometimes a second one), decade
        (categorical), price (numeric)``; users: ``user, age (categorical)``.

    Raises:
        ValueError: ``num_items < num_clusters`` or ``per_user < 1``.
    """
    if num_items < num_clusters or per_user < 1:
        raise ValueError("need num_items >= num_clusters and per_user >= 1.")
    rng = np.random.default_rng(seed)
    cluster = np.arange(num_items) % num_clusters
    popularity = 1.0 / (1.0 + np.arange(num_items)) ** 0.8
    rows = []
    for u in range(num_users):
        pref = rng.integers(num_clusters)
        n = min(per_user, num_items)
        same = (cluster == pref) * affinity + (cluster != pref) * (1 - affinity)
        p = popularity * same
        items = rng.choice(num_items, size=n, replace=False, p=p / p.sum())
        for t, i in enumerate(items):
            rows.append((f"u{u}", int(i), 1000 * u + t))
    interactions = pd.DataFrame(rows, columns=["user", "item", "timestamp"])
    second = rng.integers(num_clusters, size=num_items)
    genres = [
        f"g{c}" + (f"|g{s}" if rng.random() < 0.3 and s != c else "")
        for c, s in zip(cluster, second, strict=True)
    ]
    items = pd.DataFrame(
        {
            "item": np.arange(num_items),
            "genres": genres,
            "decade": [f"{1970 + 10 * (i % 5)}s" for i in range(num_items)],
            "price": rng.gamma(2.0, 5.0, size=num_items).round(2),
        }
    )
    users = pd.DataFrame(
        {"user": [f"u{u}" for u in range(num_users)], "age": rng.integers(1, 7, size=num_users)}
    )
    return interactions, items, users
