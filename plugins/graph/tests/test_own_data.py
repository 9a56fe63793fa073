"""The README's "Your own data" recipe, scaled down: a generated edge list + node-feature table,
``selfsup fit`` with the README's YAML, ``selfsup embed`` (Parquet and .npy), ``selfsup export``
and ``load_pretrained`` reproducing the embeddings."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from torch_geometric.utils import remove_self_loops, to_undirected

from selfsup.cli import main
from selfsup.export import load_pretrained, read_embeddings
from selfsup_graph.data import read_edge_list_graph
from selfsup_graph.encoders import GATEncoder

# Parquet output needs pyarrow (selfsup-core[parquet]); without it only the .npy output is checked
FORMATS = (
    ("my_graph.parquet", "my_graph.npy")
    if importlib.util.find_spec("pyarrow")
    else ("my_graph.npy",)
)
README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_section() -> str:
    text = README.read_text(encoding="utf-8")
    return text.split("## Your own data", 1)[1].split("\n## ", 1)[0]


def _readme_config() -> dict:
    """The YAML block of the README's "Your own data" section."""
    block = re.search(r"```yaml\n(.*?)```", _readme_section(), re.S)
    assert block is not None, "the README's 'Your own data' section lost its YAML config"
    assert block.group(1).startswith("# ")  # a config's first line describes it
    return yaml.safe_load(block.group(1))


def _write_graph(folder: Path, num_nodes: int, num_features: int, seed: int) -> list[str]:
    """``edges.csv`` + ``nodes.csv`` of the README's layout: two communities, named nodes."""
    rng = np.random.default_rng(seed)
    names = [f"user_{i:03d}" for i in rng.permutation(num_nodes)]  # not in sorted order
    group = np.arange(num_nodes) % 2
    edges = set()
    for i in range(num_nodes):
        edges.add((i, (i + 2) % num_nodes))  # a ring within each group
        j = int(rng.integers(num_nodes))
        if group[j] == group[i] and j != i:
            edges.add((i, j))
    rows = ["src,dst"] + [f"{names[a]},{names[b]}" for a, b in sorted(edges)]
    (folder / "edges.csv").write_text("\n".join(rows) + "\n")
    header = ",".join(["node", *(f"f{k + 1}" for k in range(num_features))])
    lines = [header]
    for i, name in enumerate(names):
        x = rng.normal(size=num_features) + 2.0 * group[i]
        lines.append(",".join([name, *(f"{v:.5f}" for v in x)]))
    (folder / "nodes.csv").write_text("\n".join(lines) + "\n")
    return names


def test_fit_embed_export_on_my_own_graph(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = _readme_config()
    method_args = config["model"]["tasks"][0]["init_args"]["method"]["init_args"]
    data = tmp_path / "my_graph"
    data.mkdir()
    names = _write_graph(data, num_nodes=40, num_features=method_args["in_channels"], seed=0)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SELFSUP_DATA", str(data))
    # the README's YAML, scaled down: 3 epochs (one full-graph step each), small width
    config["trainer"].update(max_epochs=3, enable_progress_bar=False, logger=False)
    method_args["hidden_channels"] = 16
    (tmp_path / "my_graph.yaml").write_text(yaml.safe_dump(config))

    assert main(["fit", "--config", "my_graph.yaml", "--trainer.accelerator=cpu"]) in (0, None)
    # the checkpoint where the README's commands look for it
    ckpt = tmp_path / "outputs" / "my_graph" / "checkpoints" / "graphmae.ckpt"
    assert ckpt.is_file()
    assert f"--ckpt_path {ckpt.relative_to(tmp_path)}" in _readme_section()

    outputs = {}
    for name in FORMATS:
        rc = main(
            [
                "embed",
                "--config",
                "my_graph.yaml",
                "--ckpt_path",
                str(ckpt),
                "--output",
                name,
                "--accelerator",
                "cpu",
            ]
        )
        assert rc == 0
        ids, vectors = read_embeddings(tmp_path / name)
        assert ids == names  # the node names, in the order of nodes.csv
        assert vectors.shape == (40, 16) and np.isfinite(vectors).all()
        outputs[name] = vectors
    first = outputs[FORMATS[0]]
    for vectors in outputs.values():
        np.testing.assert_array_equal(vectors, first)

    rc = main(
        [
            "export",
            "--config",
            "my_graph.yaml",
            "--ckpt_path",
            str(ckpt),
            "--output",
            "my_graph_encoder",
        ]
    )
    assert rc == 0
    encoder = load_pretrained(tmp_path / "my_graph_encoder")
    assert isinstance(encoder, GATEncoder) and not encoder.training
    # the README's Python: the encoder on the graph as GraphMAE.embed sees it gives the vectors
    graph, read_names = read_edge_list_graph(data / "edges.csv", data / "nodes.csv")
    assert read_names == names
    edge_index = to_undirected(remove_self_loops(graph.edge_index)[0])
    with torch.no_grad():
        z = encoder(graph.x, edge_index)
    np.testing.assert_allclose(z.numpy(), first, rtol=1e-4, atol=1e-5)
    # a few nodes, looked up by name
    index = {name: i for i, name in enumerate(read_names)}
    for name in ("user_000", "user_017", "user_039"):
        np.testing.assert_allclose(
            z[index[name]].numpy(), first[ids.index(name)], rtol=1e-4, atol=1e-5
        )

    # new nodes: the same encoder over another folder of the same layout (README: --data)
    other = tmp_path / "more_nodes"
    other.mkdir()
    more = _write_graph(other, num_nodes=45, num_features=method_args["in_channels"], seed=1)
    spec = f"{{class_path: edge_list, init_args: {{root: {other}}}}}"
    rc = main(
        [
            "embed",
            "--config",
            "my_graph.yaml",
            "--ckpt_path",
            str(ckpt),
            "--output",
            "more.npy",
            "--accelerator",
            "cpu",
            "--data",
            spec,
        ]
    )
    assert rc == 0
    ids, vectors = read_embeddings(tmp_path / "more.npy")
    assert ids == more and vectors.shape == (45, 16)
