"""The README's "Your own data" recipe, scaled down: a generated table with an id and a label
column, ``selfsup fit`` with the README's YAML, ``selfsup embed`` (Parquet and .npy, the training
table and another one), ``selfsup export`` and ``load_pretrained`` on raw rows."""

from __future__ import annotations

import importlib.util
import re
import warnings
from pathlib import Path

import numpy as np
import torch
import yaml

from selfsup.cli import main
from selfsup.export import load_pretrained, read_embeddings
from selfsup_tabular.data import read_table
from selfsup_tabular.methods import TJEPAEncoder

# Parquet output needs pyarrow (selfsup-core[parquet]); without it only the .npy output is checked
FORMATS = (
    ("customers.parquet", "customers.npy")
    if importlib.util.find_spec("pyarrow")
    else ("customers.npy",)
)
README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_config() -> dict:
    """The YAML block of the README's "Your own data" section."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Your own data", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block is not None, "the README's 'Your own data' section lost its YAML config"
    assert block.group(1).startswith("# ")  # a config's first line describes it
    return yaml.safe_load(block.group(1))


def _write_customers(path: Path, ids: list[str], seed: int, income_scale: float = 1.0) -> None:
    rng = np.random.default_rng(seed)
    lines = ["customer_id,age,income,city,plan,churned"]
    for cid in ids:
        income = "" if rng.random() < 0.1 else f"{rng.normal(40000, 9000) * income_scale:.0f}"
        city = rng.choice(["Lyon", "Paris", "Nantes", "?"])
        plan = rng.choice(["basic", "premium"])
        churned = rng.choice(["yes", "no", ""])
        lines.append(f"{cid},{rng.integers(18, 80)},{income},{city},{plan},{churned}")
    path.write_text("\n".join(lines) + "\n")


def test_fit_embed_export_on_my_own_table(tmp_path, monkeypatch) -> None:
    data = tmp_path / "my_data"
    data.mkdir()
    ids = [f"c{i:04d}" for i in range(96)]
    _write_customers(data / "customers.csv", ids, seed=0)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SELFSUP_DATA", str(data))

    config = _readme_config()
    config["trainer"].update(  # scaled down: 2 short epochs, no logs, checkpointing kept
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
    )
    config["model"]["tasks"][0]["init_args"]["data"]["init_args"]["batch_size"] = 32
    Path("customers.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    common = ["--config", "customers.yaml"]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["fit", *common]) == 0
        ckpts = sorted(tmp_path.rglob("*.ckpt"))
        assert ckpts == [tmp_path / "outputs/customers/checkpoints/tjepa.ckpt"]
        common += ["--ckpt_path", str(ckpts[0])]
        for output in FORMATS:
            assert main(["embed", *common, "--output", output, "--accelerator", "cpu"]) == 0
        assert main(["export", *common, "--output", "customers_encoder"]) == 0

    got_ids, vectors = read_embeddings("customers.npy")
    assert got_ids == ids  # every row once, by customer_id, in file order
    assert vectors.shape == (96, 64) and np.isfinite(vectors).all()  # concat pooling: 2 x 32
    if "customers.parquet" in FORMATS:
        parquet_ids, parquet_vectors = read_embeddings("customers.parquet")
        assert parquet_ids == ids
        np.testing.assert_array_equal(parquet_vectors, vectors)

    encoder = load_pretrained("customers_encoder")
    assert isinstance(encoder, TJEPAEncoder)
    rows = read_table(data / "customers.csv")
    with torch.no_grad():
        again = encoder(rows.iloc[[0, 7, 50, 95]]).numpy()
    np.testing.assert_allclose(again, vectors[[0, 7, 50, 95]], rtol=1e-4, atol=1e-5)

    # another table, other statistics: embedded with the training preprocessing, not re-fitted
    new_ids = [f"n{i:03d}" for i in range(10)]
    _write_customers(data / "new_customers.csv", new_ids, seed=3, income_scale=5.0)
    other = (
        "{class_path: tabular_csv, init_args: {path: new_customers.csv, id_column: customer_id}}"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["embed", *common, "--output", "new.npy", "--data", other]) == 0
    new_got, new_vectors = read_embeddings("new.npy")
    assert new_got == new_ids
    with torch.no_grad():
        expected = encoder(read_table(data / "new_customers.csv")).numpy()
    np.testing.assert_allclose(new_vectors, expected, rtol=1e-4, atol=1e-5)
