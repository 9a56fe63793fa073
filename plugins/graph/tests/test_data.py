"""Data modules: Planetoid offline from a read-only folder, any PyG graph, many graphs, sampling."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.loader import NodeLoader

from selfsup.data.roots import DataRootError
from selfsup_graph.data import (
    GraphDataModule,
    NodeDataModule,
    PlanetoidDataModule,
    UniformNeighborSampler,
    add_missing_features,
    synthetic_graph_dataset,
    synthetic_node_graph,
)
from selfsup_graph.data.node import FullGraphLoader

# development data beside the checkout (tests skip without it; shipped code never reads it)
SHARED = Path(
    os.environ.get("SELFSUP_DATA", Path(__file__).resolve().parents[4] / "shared" / "data")
)
HAS_CORA = (SHARED / "planetoid" / "Cora" / "raw" / "ind.cora.x").is_file()


@pytest.mark.skipif(not HAS_CORA, reason="Cora raw files not available")
def test_planetoid_copies_raw_files_and_loads_offline(tmp_path: Path) -> None:
    data = PlanetoidDataModule(name="cora", root=str(SHARED), cache_dir=str(tmp_path))
    data.prepare_data()
    graph = data.graph
    (cache,) = (tmp_path / "planetoid").glob("Cora-*")  # named after the raw files' digests
    assert (cache / "Cora" / "raw" / "ind.cora.graph").is_file()
    assert (cache / "Cora" / "processed").is_dir()
    assert graph.num_nodes == 2708 and data.num_features == 1433
    assert graph.edge_index.shape[1] == 10556
    masks = [int(graph[k].sum()) for k in ("train_mask", "val_mask", "test_mask")]
    assert masks == [140, 500, 1000]
    torch.testing.assert_close(graph.x.sum(1), torch.ones(2708))  # row-normalised
    assert isinstance(data.train_dataloader(), FullGraphLoader)


@pytest.mark.skipif(not HAS_CORA, reason="Cora raw files not available")
def test_planetoid_root_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SELFSUP_DATA", str(SHARED))
    data = PlanetoidDataModule(name="Cora", cache_dir=str(tmp_path))
    assert data.num_features == 1433


def test_missing_planetoid_root_names_the_paths_tried(tmp_path: Path) -> None:
    data = PlanetoidDataModule(root=str(tmp_path / "nowhere"), cache_dir=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="SELFSUP_DATA"):
        data.prepare_data()
    (tmp_path / "empty").mkdir()
    data = PlanetoidDataModule(root=str(tmp_path / "empty"), cache_dir=str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"(?s)ind.cora.x.*looked in.*planetoid/Cora/raw"):
        data.prepare_data()
    with pytest.raises(ValueError, match="Cora"):
        PlanetoidDataModule(name="Reddit")


def test_no_data_root_names_the_argument_and_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SELFSUP_DATA", raising=False)
    monkeypatch.chdir(tmp_path)  # no fallback to ../shared/data or anything else
    data = PlanetoidDataModule(cache_dir=str(tmp_path))
    with pytest.raises(
        DataRootError, match=r"PlanetoidDataModule.*root=/path/to/data.*SELFSUP_DATA"
    ):
        data.prepare_data()


def test_node_data_module_full_batch_and_probe_graph() -> None:
    graph = synthetic_node_graph(num_nodes=40)
    data = NodeDataModule(graph)
    batches = list(data.train_dataloader())
    assert len(batches) == 1 and batches[0] is graph
    assert data.probe_graph() is graph
    with pytest.raises(ValueError, match="train_mask"):
        NodeDataModule(Data(x=graph.x, edge_index=graph.edge_index)).probe_graph()
    with pytest.raises(ValueError, match="GraphDataModule"):
        NodeDataModule(synthetic_graph_dataset(num_graphs=3)).graph  # noqa: B018


def test_node_data_module_mini_batches() -> None:
    graph = synthetic_node_graph(num_nodes=50)
    data = NodeDataModule(graph, batch_size=8, num_neighbors=[3, 2])
    batches = list(data.train_dataloader())
    assert sum(b.batch_size for b in batches) == 50
    first = batches[0]
    torch.testing.assert_close(first.x, graph.x[first.n_id])  # seeds first, global ids kept


def test_uniform_sampler_respects_fan_out_and_keeps_edges_of_the_graph() -> None:
    torch.manual_seed(0)
    graph = synthetic_node_graph(num_nodes=80, p_in=0.3)
    loader = NodeLoader(
        graph, node_sampler=UniformNeighborSampler(graph, [2, 2]), batch_size=5, shuffle=False
    )
    batch = next(iter(loader))
    assert batch.batch_size == 5 and torch.equal(batch.n_id[:5], torch.arange(5))
    src, dst = batch.n_id[batch.edge_index[0]], batch.n_id[batch.edge_index[1]]
    original = set(map(tuple, graph.edge_index.t().tolist()))
    assert all((s, d) in original for s, d in zip(src.tolist(), dst.tolist(), strict=True))
    seed_in = torch.bincount(batch.edge_index[1], minlength=batch.num_nodes)[:5]
    assert int(seed_in.max()) <= 2  # at most 2 sampled neighbours per seed at hop 1


def test_missing_features_refused_or_added() -> None:
    bare = Data(edge_index=torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]), num_nodes=4)
    with pytest.raises(ValueError, match="one_hot_degree"):
        add_missing_features(bare)
    x = add_missing_features(bare, "one_hot_degree").x
    assert x.shape == (4, 3) and torch.equal(x.sum(1), torch.ones(4))  # degrees 0..2
    assert add_missing_features(bare, "constant").x.shape == (4, 1)


def test_graph_data_module_batches_many_graphs_and_probe_split() -> None:
    graphs = synthetic_graph_dataset(num_graphs=10, num_features=5)
    data = GraphDataModule(graphs, batch_size=4)
    batch = next(iter(data.train_dataloader()))
    assert batch.num_graphs == 4 and batch.batch.max() == 3
    train, test = data.probe_dataloaders()
    pairs = list(train) + list(test)
    assert sum(len(y) for _, y in pairs) == 10
    assert all(b.num_graphs == len(y) for b, y in pairs)


def test_synthetic_node_data_module_builds_the_generated_graph() -> None:
    from selfsup_graph.data import SyntheticNodeDataModule, synthetic_node_graph

    data = SyntheticNodeDataModule(num_nodes=60, num_features=12, num_classes=3, seed=4)
    data.setup("fit")
    expected = synthetic_node_graph(num_nodes=60, num_features=12, num_classes=3, seed=4)
    assert data.num_features == 12
    assert torch.equal(data.graph.edge_index, expected.edge_index)
    assert torch.equal(data.probe_graph().y, expected.y)
    (batch,) = list(data.train_dataloader())
    assert batch.num_nodes == 60
