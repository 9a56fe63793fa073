"""recsys:two_tower_ml100k, the recsys plugin's main config, trains on two DDP processes (gloo)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from selfsup.testing.ddp_fit import fit_on_processes, shipped_config, task_init_args
from selfsup_recsys.data.movielens import GENRES

pytestmark = pytest.mark.distributed


def _movielens_like(folder, users: int = 30, items: int = 40) -> None:
    """Random ratings, movies and users in the ml-100k file formats (not MovieLens data)."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    ratings = [
        f"{u}\t{i}\t{rng.integers(1, 6)}\t{1000 * u + k}"
        for u in range(1, users + 1)
        for k, i in enumerate(rng.choice(np.arange(1, items + 1), size=8, replace=False))
    ]
    (folder / "u.data").write_text("\n".join(ratings) + "\n")
    movies = []
    for i in range(1, items + 1):
        flags = ["0"] * len(GENRES)
        flags[int(rng.integers(0, len(GENRES)))] = "1"
        movies.append("|".join([str(i), f"Movie {i} (199{i % 10})", "01-Jan-1995", "", ""] + flags))
    (folder / "u.item").write_text("\n".join(movies) + "\n")
    jobs = ["student", "writer", "other"]
    people = [
        f"{u}|{20 + u % 40}|{'MF'[u % 2]}|{jobs[u % 3]}|0{u:04d}" for u in range(1, users + 1)
    ]
    (folder / "u.user").write_text("\n".join(people) + "\n")


def test_two_tower_ml100k_config_trains_on_two_processes(tmp_path) -> None:
    _movielens_like(tmp_path / "data" / "movielens-100k" / "ml-100k")
    config = shipped_config("recsys:two_tower_ml100k")
    _, data = task_init_args(config)
    data.update(batch_size=16, ssl_batch_size=16)
    run = fit_on_processes(config, tmp_path / "run", env={"SELFSUP_DATA": str(tmp_path / "data")})
    assert math.isfinite(run.last("train/movielens/loss"))
    assert any(name.startswith("movielens/val/") for name in run.metrics[0])
