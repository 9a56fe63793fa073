"""``predict_dataloader()`` of every graph data module: each sample once, ids beside embed rows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Batch

from selfsup.experiment.embedding import embed_to_file
from selfsup.export import read_embeddings
from selfsup_graph.data import (
    EdgeListDataModule,
    GraphDataModule,
    NodeDataModule,
    OGBNodeDataModule,
    PlanetoidDataModule,
    SyntheticNodeDataModule,
    TUDataModule,
    synthetic_graph_dataset,
    synthetic_node_graph,
)
from selfsup_graph.evaluation import embed_nodes
from selfsup_graph.methods import GRACE, GraphMAE, GraphMAEGraphLevel

TinyArxiv = Callable[..., dict[str, np.ndarray]]
TinyTU = Callable[[Path, str, bool], None]


def _embed(method: torch.nn.Module, data: object, path: Path) -> tuple[list, np.ndarray]:
    method.eval()
    out = embed_to_file(method, data, path, progress_bar=False, accelerator="cpu")  # type: ignore[arg-type]
    return read_embeddings(out)


def test_full_graph_is_one_batch_of_every_node(tmp_path: Path) -> None:
    torch.manual_seed(0)
    graph = synthetic_node_graph(num_nodes=40, num_features=12)
    data = NodeDataModule(graph)
    (batch,) = list(data.predict_dataloader())
    assert batch.ids.dtype == torch.int64 and torch.equal(batch.ids, torch.arange(40))
    assert batch.inputs is graph
    method = GraphMAE(in_channels=12, hidden_channels=8, num_heads=2)
    ids, vectors = _embed(method, data, tmp_path / "e.npy")
    assert ids == list(range(40))
    np.testing.assert_allclose(vectors, embed_nodes(method, graph).numpy(), rtol=1e-5, atol=1e-6)


def test_seed_node_batches_cover_every_node_with_full_graph_embeddings(tmp_path: Path) -> None:
    torch.manual_seed(0)
    graph = synthetic_node_graph(num_nodes=50, num_features=12)
    data = NodeDataModule(graph, batch_size=8, num_neighbors=[3, 3])
    batches = list(data.predict_dataloader())
    assert [len(b.ids) for b in batches] == [8] * 6 + [2]
    assert torch.equal(torch.cat([b.ids for b in batches]), torch.arange(50))
    method = GraphMAE(in_channels=12, hidden_channels=8, num_heads=2)  # 2 GAT layers
    ids, vectors = _embed(method, data, tmp_path / "e.parquet")
    assert ids == list(range(50))
    # all neighbours for len(num_neighbors) = 2 hops: the seeds see what the full graph shows
    full = embed_nodes(method, graph).numpy()
    np.testing.assert_allclose(vectors, full, rtol=1e-4, atol=1e-5)
    sampled = NodeDataModule(graph, batch_size=8, predict_num_neighbors=[1, 1])
    assert torch.equal(torch.cat([b.ids for b in sampled.predict_dataloader()]), torch.arange(50))


def test_edge_list_ids_are_the_node_names(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    names = [f"n{i:02d}" for i in range(12)]
    (folder / "nodes.csv").write_text(
        "node,a,b,c\n" + "".join(f"{n},{i % 3},{i % 2},1\n" for i, n in enumerate(names))
    )
    (folder / "edges.csv").write_text(
        "src,dst\n" + "".join(f"{names[i]},{names[(i + 1) % 12]}\n" for i in range(12))
    )
    method = GRACE(in_channels=3, hidden_channels=8, out_channels=4, projection_hidden=4)
    full = EdgeListDataModule(root=str(folder))
    ids, vectors = _embed(method, full, tmp_path / "full.parquet")
    assert ids == names and vectors.shape == (12, 4)
    mini = EdgeListDataModule(root=str(folder), batch_size=5, num_neighbors=[2, 2])
    batch_ids = [i for b in mini.predict_dataloader() for i in b.ids]
    assert batch_ids == names


def test_graph_data_ids_are_graph_indices_with_pooled_rows(tmp_path: Path) -> None:
    torch.manual_seed(0)
    graphs = synthetic_graph_dataset(num_graphs=11, num_features=6)
    data = GraphDataModule(graphs, batch_size=4)
    method = GraphMAEGraphLevel(in_channels=6, hidden_channels=8, num_layers=2).eval()
    ids, vectors = _embed(method, data, tmp_path / "g.npy")
    assert ids == list(range(11)) and vectors.shape == (11, 8)
    with torch.no_grad():
        alone = torch.cat([method.embed(Batch.from_data_list([g])) for g in graphs])
    np.testing.assert_allclose(vectors, alone.numpy(), rtol=1e-4, atol=1e-5)


def test_synthetic_tu_and_ogb_modules_embed_every_sample(
    tmp_path: Path, tiny_arxiv: TinyArxiv, tiny_tu: TinyTU
) -> None:
    synthetic = SyntheticNodeDataModule(num_nodes=30, num_features=9)
    ids, vectors = _embed(GraphMAE(9, 8, num_heads=2), synthetic, tmp_path / "s.npy")
    assert ids == list(range(30)) and vectors.shape == (30, 8)

    tiny_tu(tmp_path / "tu" / "TOY", "TOY", node_labels=True)
    tu = TUDataModule("TOY", root=str(tmp_path / "tu"), cache_dir=str(tmp_path / "cache"))
    method = GraphMAEGraphLevel(in_channels=3, hidden_channels=8, num_layers=2)
    ids, vectors = _embed(method, tu, tmp_path / "t.npy")
    assert ids == [0, 1, 2] and vectors.shape == (3, 8)

    tiny_arxiv(tmp_path / "ogb")
    ogb = OGBNodeDataModule(root=str(tmp_path / "ogb"), batch_size=4, num_neighbors=[2, 2])
    ids, vectors = _embed(GraphMAE(3, 8, num_heads=2), ogb, tmp_path / "o.npy")
    assert ids == list(range(6)) and np.isfinite(vectors).all()


def test_cora_embeds_every_node(tmp_path: Path, cora_root: Path) -> None:
    data = PlanetoidDataModule("Cora", root=str(cora_root), cache_dir=str(tmp_path))
    ids, vectors = _embed(GraphMAE(1433, 8, num_heads=2), data, tmp_path / "cora.npy")
    assert ids == list(range(2708)) and vectors.shape == (2708, 8)
