"""Data from local folders: your own edge list, OGB's raw layout, TU raw files (tiny generated)."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from selfsup.data.roots import DataRootError
from selfsup_graph.data import (
    EdgeListDataModule,
    OGBNodeDataModule,
    TUDataModule,
    read_edge_list_graph,
    standardize,
)

# writers of tiny data sets in OGB's and TU's raw layouts (fixtures of conftest.py)
TinyArxiv = Callable[..., dict[str, np.ndarray]]
TinyTU = Callable[[Path, str, bool], None]

# -- edge list + node features ------------------------------------------------------------------


def _write(folder: Path, edges: str, nodes: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "edges.csv").write_text(edges)
    (folder / "nodes.csv").write_text(nodes)
    return folder


NODES = "node,f1,f2\nann,1,0\nbob,0,1.5\ncid,2,2\ndee,0,0\n"


def test_edge_list_maps_names_to_rows_and_symmetrises(tmp_path: Path) -> None:
    folder = _write(tmp_path, "src,dst\nann,bob\nbob,cid\nann,bob\n", NODES)
    graph, names = read_edge_list_graph(folder / "edges.csv", folder / "nodes.csv")
    assert names == ["ann", "bob", "cid", "dee"]
    torch.testing.assert_close(graph.x, torch.tensor([[1, 0], [0, 1.5], [2, 2], [0, 0]]))
    pairs = set(map(tuple, graph.edge_index.t().tolist()))
    assert pairs == {(0, 1), (1, 0), (1, 2), (2, 1)}  # reversed, duplicate merged, dee isolated
    directed, _ = read_edge_list_graph(folder / "edges.csv", folder / "nodes.csv", undirected=False)
    assert set(map(tuple, directed.edge_index.t().tolist())) == {(0, 1), (1, 2)}


def test_edge_list_columns_can_be_named_and_selected(tmp_path: Path) -> None:
    (tmp_path / "e.csv").write_text("from,to,weight\nx,y,3\n")
    (tmp_path / "n.csv").write_text("id,label,a,b\nx,cat,1,2\ny,dog,3,4\n")
    data = EdgeListDataModule(
        root=str(tmp_path),
        edges="e.csv",
        nodes="n.csv",
        source_column="from",
        target_column="to",
        node_column="id",
        feature_columns=["b", "a"],
    )
    torch.testing.assert_close(data.graph.x, torch.tensor([[2.0, 1.0], [4.0, 3.0]]))
    assert data.node_ids() == ["x", "y"] and data.node_index() == {"x": 0, "y": 1}


@pytest.mark.parametrize(
    ("edges", "nodes", "match"),
    [
        ("src,dst\nann,zed\n", NODES, r"line 2 names node 'zed'.*add a row for it"),
        ("src,dst\n", NODES + "bob,1,1\n", r"node 'bob' is listed twice.*lines 3 and 6"),
        ("src,dst\n", "node,f1\nann,high\n", r"line 2, column 'f1': 'high' is not a finite"),
        ("src,dst\n", "node,f1\nann,nan\n", r"'nan' is not a finite number"),
        ("src,dst\n", "node,f1\nann,\n", r"'' is not a finite number"),
        ("a,b\nann,bob\n", NODES, r"no column 'src'"),
        ("src,dst\n", "name,f1\nann,1\n", r"no column 'node'"),
        ("src,dst\n", "node\nann\n", r"no feature columns"),
        ("src,dst\n", "node,f1\n", r"no node rows"),
        ("src,dst\n", "node,f1,f2\nann,1\n", r"line 2 has 2 cells"),
    ],
)
def test_edge_list_refuses_bad_files_with_the_line(
    tmp_path: Path, edges: str, nodes: str, match: str
) -> None:
    data = EdgeListDataModule(root=str(_write(tmp_path, edges, nodes)))
    with pytest.raises(ValueError, match=match):
        data.setup("fit")


def test_edge_list_missing_root_or_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SELFSUP_DATA", raising=False)
    with pytest.raises(DataRootError, match=r"root=/path/to/data.*SELFSUP_DATA"):
        EdgeListDataModule().setup("fit")
    monkeypatch.setenv("SELFSUP_DATA", str(_write(tmp_path, "src,dst\nann,bob\n", NODES)))
    assert EdgeListDataModule().num_features == 2  # the folder from the environment
    with pytest.raises(FileNotFoundError, match="edge-list file .*other.csv"):
        EdgeListDataModule(edges="other.csv").setup("fit")


def test_edge_list_reads_a_spreadsheets_byte_order_mark(tmp_path: Path) -> None:
    (tmp_path / "edges.csv").write_text("\ufeffsrc,dst\nann,bob\n", encoding="utf-8")
    (tmp_path / "nodes.csv").write_text("\ufeff" + NODES, encoding="utf-8")
    graph, names = read_edge_list_graph(tmp_path / "edges.csv", tmp_path / "nodes.csv")
    assert names[0] == "ann" and graph.edge_index.shape == (2, 2)


def test_edge_list_reads_gzip_and_absolute_paths(tmp_path: Path) -> None:
    with gzip.open(tmp_path / "edges.csv.gz", "wt") as f:
        f.write("src,dst\nann,bob\n")
    (tmp_path / "nodes.csv").write_text(NODES)
    data = EdgeListDataModule(
        edges=str(tmp_path / "edges.csv.gz"), nodes=str(tmp_path / "nodes.csv")
    )  # absolute paths need no root
    assert data.graph.edge_index.shape == (2, 2)


# -- OGB raw layout ---------------------------------------------------------------------------


def test_ogb_reads_the_raw_layout_without_ogb(tmp_path: Path, tiny_arxiv: TinyArxiv) -> None:
    arrays = tiny_arxiv(tmp_path)
    data = OGBNodeDataModule("ogbn-arxiv", root=str(tmp_path), standardize_features=False)
    g = data.graph
    assert g.num_nodes == 6 and data.num_features == 3
    torch.testing.assert_close(g.x, torch.from_numpy(arrays["feat"]), atol=1e-6, rtol=0)
    assert torch.equal(g.y, torch.tensor([0, 1, 2, 0, 1, 2]))
    assert torch.equal(g.node_year, torch.tensor([2010, 2011, 2012, 2013, 2019, 2020]))
    assert g.train_mask.tolist() == [True, True, True, False, False, False]
    assert g.val_mask.nonzero().view(-1).tolist() == [3]
    assert g.test_mask.nonzero().view(-1).tolist() == [4, 5]
    pairs = set(map(tuple, g.edge_index.t().tolist()))
    assert pairs == {(s, d) for s, d in arrays["edges"].tolist()} | {
        (d, s) for s, d in arrays["edges"].tolist()
    }
    assert data.probe_graph() is g
    assert torch.equal(data.node_ids(), torch.arange(6))


def test_ogb_standardises_features_like_graphmae(tmp_path: Path, tiny_arxiv: TinyArxiv) -> None:
    arrays = tiny_arxiv(tmp_path, folder="arxiv")  # the zip's folder name works too
    x = OGBNodeDataModule(root=str(tmp_path)).graph.x
    feat = arrays["feat"].astype(np.float64)
    expected = (feat - feat.mean(0)) / feat.std(0)  # StandardScaler: population std
    torch.testing.assert_close(x, torch.from_numpy(expected).float(), atol=1e-4, rtol=0)
    constant = standardize(torch.tensor([[1.0, 2.0], [1.0, 4.0]]))
    assert torch.equal(constant[:, 0], torch.zeros(2))  # a constant column is only centred


def test_ogb_missing_files_and_bad_sizes_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_arxiv: TinyArxiv
) -> None:
    monkeypatch.delenv("SELFSUP_DATA", raising=False)
    with pytest.raises(DataRootError, match="SELFSUP_DATA"):
        OGBNodeDataModule().setup("fit")
    with pytest.raises(FileNotFoundError, match=r"raw/edge.csv.gz.*split/time/test.csv.gz"):
        OGBNodeDataModule(root=str(tmp_path)).setup("fit")
    tiny_arxiv(tmp_path)
    (tmp_path / "ogbn_arxiv" / "split" / "time" / "valid.csv.gz").unlink()
    with pytest.raises(FileNotFoundError, match=r"lacks split/time/valid.csv.gz"):
        OGBNodeDataModule(root=str(tmp_path)).setup("fit")
    tiny_arxiv(tmp_path)
    with gzip.open(tmp_path / "ogbn_arxiv" / "raw" / "edge.csv.gz", "wt") as f:
        f.write("0,9\n")
    with pytest.raises(ValueError, match=r"node ids in \[0, 9\] but the graph has 6 nodes"):
        OGBNodeDataModule(root=str(tmp_path)).setup("fit")
    with pytest.raises(ValueError, match="split="):
        OGBNodeDataModule("ogbn-mystery")


# -- TU raw files -----------------------------------------------------------------------------


@pytest.fixture
def no_download(monkeypatch: pytest.MonkeyPatch) -> None:
    from torch_geometric.datasets import TUDataset

    def refuse(self: object) -> None:
        raise AssertionError("TUDataModule must never download")

    monkeypatch.setattr(TUDataset, "download", refuse)


def test_tu_node_labels_become_one_hot_features(
    tmp_path: Path, no_download: None, tiny_tu: TinyTU
) -> None:
    tiny_tu(tmp_path / "data" / "TOY" / "raw", "TOY", node_labels=True)
    data = TUDataModule("TOY", root=str(tmp_path / "data"), cache_dir=str(tmp_path / "cache"))
    data.prepare_data()
    graphs = data.graphs
    assert [g.num_nodes for g in graphs] == [3, 3, 4] and data.num_features == 3
    assert torch.equal(graphs[0].x, torch.eye(3))
    assert [int(g.y) for g in graphs] == [1, 0, 1]  # PyG maps the labels -1/1 to 0/1
    (cache,) = (tmp_path / "cache" / "tudataset").glob("TOY-*")  # named after the digests
    assert (cache / "TOY" / "processed").is_dir()
    assert torch.equal(data.graph_ids(), torch.arange(3))


def test_tu_degrees_are_capped_like_graphmae(
    tmp_path: Path, no_download: None, tiny_tu: TinyTU
) -> None:
    tiny_tu(tmp_path / "TOY", "TOY", node_labels=False)  # the TU zip's own layout
    cache = str(tmp_path / "cache")
    data = TUDataModule("TOY", root=str(tmp_path), cache_dir=cache, max_degree=2)
    star = data.graphs[2]
    assert data.num_features == 3  # min(largest in-degree 3, cap 2) + 1
    assert star.x.argmax(1).tolist() == [2, 1, 1, 1]  # the centre's degree 3 counts as 2
    uncapped = TUDataModule("TOY", root=str(tmp_path), cache_dir=cache)
    assert uncapped.num_features == 4  # largest in-degree 3 < 400: GraphMAE's width 3 + 1


def test_tu_missing_files_are_named_before_any_download(
    tmp_path: Path, no_download: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "MUTAG" / "raw").mkdir(parents=True)
    (tmp_path / "MUTAG" / "raw" / "MUTAG_A.txt").write_text("1, 2\n")
    data = TUDataModule("MUTAG", root=str(tmp_path), cache_dir=str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match=r"MUTAG_A.txt and MUTAG_graph_indicator.txt"):
        data.prepare_data()
    monkeypatch.delenv("SELFSUP_DATA", raising=False)
    with pytest.raises(DataRootError, match=r"root=.*SELFSUP_DATA"):
        TUDataModule("MUTAG").prepare_data()
    with pytest.raises(ValueError, match="features"):
        TUDataModule("MUTAG", features="attributes")  # type: ignore[arg-type]
