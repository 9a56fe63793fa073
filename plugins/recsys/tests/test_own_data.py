"""The README's "Your own data" recipe end to end, scaled down.

Generated interaction, item and user files in its layout, its YAML (read from the README) with a
few steps, then ``selfsup fit``, ``selfsup embed`` (items and users, Parquet and .npy),
``selfsup export`` and ``load_pretrained``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from selfsup.cli import main
from selfsup.export import load_pretrained, read_embeddings
from selfsup_recsys.data.synthetic import synthetic_interactions
from selfsup_recsys.encoders import TwoTowerEncoder

README = Path(__file__).resolve().parents[1] / "README.md"
CKPT = "runs/my_two_tower/checkpoints/two_tower.ckpt"


def _readme_config() -> dict:
    """The YAML block of the README's "Your own data" section."""
    section = README.read_text().split("## Your own data", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block is not None, "the README's 'Your own data' section lost its YAML block"
    return yaml.safe_load(block.group(1))


def _write_data(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Files in the README's layout: string user ids, integer item ids, a bag, gaps."""
    folder.mkdir()
    inter, items, users = synthetic_interactions(num_users=40, num_items=30, per_user=6, seed=1)
    inter.columns = ["user_id", "item_id", "timestamp"]
    inter.to_csv(folder / "interactions.csv", index=False)
    items = pd.DataFrame(
        {
            "item_id": items["item"],
            "genres": items["genres"].str.replace("g", "genre"),
            "brand": [None if i % 7 == 3 else f"brand{i % 4}" for i in items["item"]],
            "price": items["price"],
        }
    )
    items.to_csv(folder / "items.csv", index=False)
    users = pd.DataFrame({"user_id": users["user"], "age_group": users["age"].map(str)})
    users.iloc[:-3].to_csv(folder / "users.csv", index=False)  # 3 users without a row
    return items, users


def _scaled_down(config: dict) -> dict:
    trainer = config["trainer"]
    trainer.pop("max_epochs")
    trainer.update(max_steps=8, accelerator="cpu", enable_progress_bar=False, logger=False)
    trainer["enable_model_summary"] = False
    task = config["model"]["tasks"][0]["init_args"]
    task["method"]["init_args"].update(
        embedding_dim=8, hidden_dims=[16], output_dim=8, frequency_buckets=1024
    )
    task["data"]["init_args"].update(batch_size=16, ssl_batch_size=8, min_count=1)
    return config


def test_own_data_recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    items, users = _write_data(tmp_path / "my_data")
    monkeypatch.setenv("SELFSUP_DATA", str(tmp_path / "my_data"))
    config = _scaled_down(_readme_config())
    assert config["model"]["tasks"][0]["init_args"]["data"]["init_args"].get("data_root") is None
    Path("my_two_tower.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    assert main(["fit", "--config", "my_two_tower.yaml"]) == 0
    assert Path(CKPT).is_file()

    base = ["embed", "--config", "my_two_tower.yaml", "--ckpt_path", CKPT]
    assert main([*base, "--output", "items.parquet"]) == 0
    side = "--model.tasks.init_args.data.init_args.predict_side=query"
    assert main([*base, "--output", "users.npy", side]) == 0
    item_ids, item_vectors = read_embeddings("items.parquet")
    user_ids, user_vectors = read_embeddings("users.npy")
    assert item_ids == sorted(items["item_id"]) and item_vectors.shape == (30, 8)
    assert user_ids == sorted(f"u{u}" for u in range(40)) and user_vectors.shape == (40, 8)
    for vectors in (item_vectors, user_vectors):
        assert np.isfinite(vectors).all()
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert main([*base, "--output", "items.npy"]) == 0  # the same vectors in the other format
    np.testing.assert_array_equal(read_embeddings("items.npy")[1], item_vectors)

    assert main(["export", "--config", "my_two_tower.yaml", "--ckpt_path", CKPT,
                 "--output", "my_two_tower_encoder"]) == 0  # fmt: skip
    encoder = load_pretrained("my_two_tower_encoder")
    assert isinstance(encoder, TwoTowerEncoder)
    # the encoder's item/query towers on raw rows encoded with its saved vocabularies give the
    # vectors `selfsup embed` wrote
    rows = pd.read_csv(Path(tmp_path / "my_data" / "items.csv")).iloc[[4, 0, 17]]
    some_users = pd.read_csv(Path(tmp_path / "my_data" / "users.csv")).iloc[[2, 30]]
    with torch.no_grad():
        again = encoder.item(encoder.encode("item", rows)).numpy()
        queries = encoder.query(encoder.encode("query", some_users)).numpy()
        cold = encoder.query(encoder.encode("query", pd.DataFrame({"user_id": ["new"]})))
    expected = item_vectors[[item_ids.index(i) for i in rows["item_id"]]]
    np.testing.assert_allclose(again, expected, rtol=1e-5, atol=1e-6)
    expected = user_vectors[[user_ids.index(u) for u in some_users["user_id"]]]
    np.testing.assert_allclose(queries, expected, rtol=1e-5, atol=1e-6)
    assert cold.shape == (1, 8) and bool(torch.isfinite(cold).all())  # an unseen user
