"""Bad inputs: every malformed file, batch or argument is refused with a message naming what is
wrong (file, line, column, node), or handled as documented (a warning, or a stated rule)."""

from __future__ import annotations

import gzip
import pickle
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from selfsup.experiment.method import MalformedBatchError
from selfsup_graph.data import (
    PLANETOID_NAMES,
    PLANETOID_SHA256,
    EdgeListDataModule,
    GraphDataModule,
    NodeDataModule,
    OGBNodeDataModule,
    PlanetoidDataModule,
    TUDataModule,
    UntrustedPickleError,
    neighbor_loader,
    read_edge_list_graph,
)
from selfsup_graph.methods import GRACE, GraphMAE

TinyPlanetoid = Callable[..., None]
TinyArxiv = Callable[..., dict[str, np.ndarray]]
TinyTU = Callable[[Path, str, bool], None]


def _ring(n: int = 8, f: int = 4, seed: int = 0) -> Data:
    g = torch.Generator().manual_seed(seed)
    src = torch.arange(n)
    dst = (src + 1) % n
    edge_index = torch.cat([torch.stack([src, dst]), torch.stack([dst, src])], dim=1)
    return Data(x=torch.randn(n, f, generator=g), edge_index=edge_index)


def _with(x_row: int, value: float, graph: Data | None = None) -> Data:
    graph = (graph or _ring()).clone()
    graph.x[x_row, 1] = value
    return graph


def _graphmae() -> GraphMAE:
    return GraphMAE(in_channels=4, hidden_channels=8, num_heads=2).eval()


def _grace() -> GRACE:
    return GRACE(in_channels=4, hidden_channels=8, out_channels=4, projection_hidden=4).eval()


METHODS = {"graphmae": _graphmae, "grace": _grace}


# -- batches handed to the methods (training and embed) -----------------------------------------

BAD_BATCHES: list[tuple[str, Any, str]] = [
    ("nan feature", _with(3, float("nan")), r"1 non-finite value.*node 3.*column 1.*nan"),
    ("inf feature", _with(5, float("inf")), r"node 5.*column 1.*inf"),
    (
        "nan in many nodes",
        Data(x=torch.full((8, 4), float("nan")), edge_index=_ring().edge_index),
        r"32 non-finite values in 8 nodes.*nodes \[0, 1, 2, 3, 4, \.\.\.\]",
    ),
    (
        "no nodes",
        Data(x=torch.zeros(0, 4), edge_index=torch.zeros(2, 0, dtype=torch.long)),
        "has no nodes",
    ),
    ("tensors instead of Data", (_ring().x, _ring().edge_index), "torch_geometric.data.Data"),
    ("feature width", Data(x=torch.zeros(8, 3), edge_index=_ring().edge_index), r"\(N, 4\)"),
    ("integer features", Data(x=torch.ones(8, 4, dtype=torch.long)), "floating-point"),
    ("edge list (E, 2)", Data(x=_ring().x, edge_index=_ring().edge_index.t()), r"\(2, E\)"),
    ("float edge ids", Data(x=_ring().x, edge_index=_ring().edge_index.float()), "int64"),
    ("id out of range", Data(x=_ring().x, edge_index=_ring().edge_index + 1), r"\[1, 8\].*8 nodes"),
    ("negative id", Data(x=_ring().x, edge_index=_ring().edge_index - 1), r"\[-1, 6\]"),
]


@pytest.mark.parametrize("method_name", sorted(METHODS))
@pytest.mark.parametrize(("case", "batch", "match"), BAD_BATCHES, ids=[c[0] for c in BAD_BATCHES])
def test_bad_batches_are_refused_in_training_and_embed(
    method_name: str, case: str, batch: Any, match: str
) -> None:
    method = METHODS[method_name]()
    with pytest.raises(MalformedBatchError, match=match):
        method.train().training_losses(batch)
    with pytest.raises(MalformedBatchError, match=match), torch.no_grad():
        method.eval().embed(batch)


def test_nan_in_a_sampled_subgraph_names_the_graph_node() -> None:
    graph = _with(6, float("nan"), _ring(12))  # a loader of one's own, past NodeDataModule
    loader = neighbor_loader(graph, [-1], batch_size=4, shuffle=False)
    with pytest.raises(MalformedBatchError, match=r"node \d+ of the batch = graph node 6"):
        with torch.no_grad():
            for batch in loader:
                _graphmae().embed(batch)


def test_nan_does_not_reach_the_neighbours_of_the_node() -> None:
    # before the check, one NaN feature made the embeddings of node 3 AND its neighbours NaN
    with pytest.raises(MalformedBatchError, match="node 3"), torch.no_grad():
        _graphmae().embed(_with(3, float("nan")))


@pytest.mark.parametrize("method_name", sorted(METHODS))
def test_one_node_graph_is_embedded_but_not_trained(method_name: str) -> None:
    one = Data(x=torch.randn(1, 4), edge_index=torch.zeros(2, 0, dtype=torch.long))
    with torch.no_grad():
        assert METHODS[method_name]().embed(one).shape[0] == 1  # e.g. the last seed of a batch
    with pytest.raises(MalformedBatchError, match="masks no node|at least 2 nodes"):
        METHODS[method_name]().train().training_losses(one)


def test_isolated_seed_node_alone_in_the_last_batch_is_embedded() -> None:
    graph = _ring(8)
    graph.x = torch.cat([graph.x, torch.randn(1, 4)])  # node 8: isolated, alone in batch 3
    data = NodeDataModule(graph, batch_size=4, num_neighbors=[-1, -1])
    method = _graphmae()
    with torch.no_grad():
        rows = torch.cat([method.embed(b.inputs) for b in data.predict_dataloader()])
        torch.testing.assert_close(rows, method.embed(graph))


@pytest.mark.parametrize("method_name", sorted(METHODS))
def test_isolated_nodes_are_embedded_from_their_own_features(method_name: str) -> None:
    """Documented: an isolated node's self-loop carries its own features, nothing else."""
    # seeded: the init came from whatever global RNG state earlier tests left, and with one such
    # state (a full run, GRACE) node 0 of both rings embedded identically, failing the last line
    torch.manual_seed(0)
    method = METHODS[method_name]()
    lonely = torch.randn(1, 4)
    a, b = _ring(6, seed=1), _ring(6, seed=2)
    a.x, b.x = torch.cat([a.x, lonely]), torch.cat([b.x, lonely])
    with torch.no_grad():
        torch.testing.assert_close(method.embed(a)[6], method.embed(b)[6])
        assert not torch.equal(method.embed(a)[0], method.embed(b)[0])


def test_self_loops_and_duplicates_are_documented_behaviour() -> None:
    """GraphMAE: self-loops removed, duplicates merged, directions symmetrised. GRACE: the GCN
    replaces self-loops by one per node and reads duplicates as parallel edges (as given)."""
    clean = _ring(6)
    loops = torch.arange(6).repeat(2, 1)
    messy = Data(x=clean.x, edge_index=torch.cat([clean.edge_index, loops, loops], dim=1))
    doubled = Data(x=clean.x, edge_index=torch.cat([clean.edge_index, clean.edge_index], dim=1))
    directed = Data(x=clean.x, edge_index=clean.edge_index[:, :6])
    with torch.no_grad():
        mae = _graphmae()
        for variant in (messy, doubled, directed):
            torch.testing.assert_close(mae.embed(variant), mae.embed(clean))
        grace = _grace()
        torch.testing.assert_close(grace.embed(messy), grace.embed(clean))
        torch.testing.assert_close(
            grace.embed(doubled), grace.encoder(doubled.x, doubled.edge_index)
        )


# -- in-memory graphs handed to the data modules ------------------------------------------------


def test_node_data_module_refuses_non_finite_features_at_setup() -> None:
    data = NodeDataModule(_with(2, float("-inf")))
    with pytest.raises(ValueError, match=r"NodeDataModule.*node 2.*column 1.*-inf"):
        data.setup("fit")


def test_graph_data_module_names_the_graph_with_bad_features_or_no_nodes() -> None:
    graphs = [_ring(5, seed=s) for s in range(3)]
    graphs[1] = _with(4, float("nan"), graphs[1])
    with pytest.raises(ValueError, match=r"graph 1.*node 4.*column 1"):
        GraphDataModule(graphs).setup("fit")
    empty = Data(x=torch.zeros(0, 4), edge_index=torch.zeros(2, 0, dtype=torch.long))
    with pytest.raises(ValueError, match=r"graph 2 has no nodes"):
        GraphDataModule([_ring(5), _ring(5), empty]).setup("fit")


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: NodeDataModule(_ring(), missing_features="zeros"), "missing_features must be"),
        (lambda: GraphDataModule([_ring()], missing_features="zeros"), "missing_features must be"),
        (lambda: TUDataModule("MUTAG", root="/data", max_degree=-1), "max_degree must be"),
        (lambda: PlanetoidDataModule(split="geom-gcn"), "geom-gcn.*not read"),
        (lambda: PlanetoidDataModule(split="publc"), "split must be one of"),
        (lambda: PlanetoidDataModule(trust_pickle_files="no"), "trust_pickle_files must be"),
    ],
)
def test_bad_data_module_arguments_are_refused_at_construction(
    build: Callable[[], object], match: str
) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        build()


# -- Planetoid: pickled raw files -----------------------------------------------------------------


class _WritesMarker:
    """A pickle that runs code when loaded: it writes a file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (Path.write_text, (self.marker, "code from the data folder ran"))


def test_planetoid_refuses_a_tampered_pickle_before_unpickling_it(
    tmp_path: Path, tiny_planetoid: TinyPlanetoid
) -> None:
    raw = tmp_path / "data" / "planetoid" / "Cora" / "raw"
    tiny_planetoid(raw)
    marker = tmp_path / "marker.txt"
    (raw / "ind.cora.x").write_bytes(pickle.dumps(_WritesMarker(marker)))
    data = PlanetoidDataModule(root=str(tmp_path / "data"), cache_dir=str(tmp_path / "cache"))
    with pytest.raises(
        UntrustedPickleError,
        match=r"(?s)ind\.cora\.x.*SHA-256 [0-9a-f]{64}.*published [0-9a-f]{64}.*"
        r"runs any code.*trust_pickle_files: true.*runs code from the folder",
    ):
        data.setup("fit")
    with pytest.raises(UntrustedPickleError):
        data.prepare_data()
    assert not marker.exists()
    assert not list((tmp_path / "cache").rglob("ind.cora.x"))  # not even copied


def test_planetoid_opt_in_loads_unpublished_files_with_a_warning(
    tmp_path: Path, tiny_planetoid: TinyPlanetoid
) -> None:
    tiny_planetoid(tmp_path / "Cora" / "raw")
    kwargs = {"root": str(tmp_path), "cache_dir": str(tmp_path / "cache")}
    with pytest.raises(UntrustedPickleError, match=r"8 of the 8 raw files"):
        PlanetoidDataModule(**kwargs).setup("fit")
    data = PlanetoidDataModule(trust_pickle_files=True, **kwargs)
    with pytest.warns(UserWarning, match=r"trust_pickle_files=True.*ind\.cora\.graph"):
        graph = data.graph
    assert graph.num_nodes == 510 and data.num_features == 4
    assert [int(graph[k].sum()) for k in ("train_mask", "val_mask", "test_mask")] == [5, 500, 5]


def test_planetoid_cache_follows_the_raw_files(
    tmp_path: Path, tiny_planetoid: TinyPlanetoid
) -> None:
    raw = tmp_path / "Cora" / "raw"
    kwargs = {"root": str(tmp_path), "cache_dir": str(tmp_path / "cache")}
    tiny_planetoid(raw)
    with pytest.warns(UserWarning):
        before = PlanetoidDataModule(trust_pickle_files=True, **kwargs).graph
    tiny_planetoid(raw, extra_edge=True)  # a changed file: the graph must change with it
    with pytest.warns(UserWarning):
        after = PlanetoidDataModule(trust_pickle_files=True, **kwargs).graph
    assert after.edge_index.shape[1] == before.edge_index.shape[1] + 1  # PyG keeps 0 -> 250
    assert len(list((tmp_path / "cache" / "planetoid").glob("Cora-*"))) == 2


@pytest.mark.filterwarnings("ignore:.*trust_pickle_files=True")
def test_planetoid_cache_copies_are_checked_and_processed_files_cannot_run_code(
    tmp_path: Path, tiny_planetoid: TinyPlanetoid
) -> None:
    tiny_planetoid(tmp_path / "Cora" / "raw")
    kwargs = {
        "root": str(tmp_path),
        "cache_dir": str(tmp_path / "cache"),
        "trust_pickle_files": True,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = PlanetoidDataModule(**kwargs).graph
    (folder,) = (tmp_path / "cache" / "planetoid").glob("Cora-*")
    marker = tmp_path / "marker.txt"
    # a cached raw copy changed after the check is copied again from the checked source
    (folder / "Cora" / "raw" / "ind.cora.graph").write_bytes(pickle.dumps(_WritesMarker(marker)))
    # PyG reads processed/pre_transform.pt with torch.load(weights_only=False)
    torch.save(_WritesMarker(marker), folder / "Cora" / "processed" / "pre_transform.pt")
    with pytest.warns(UserWarning, match=r"pre_transform\.pt.*weights_only=True.*rebuilt"):
        graph = PlanetoidDataModule(**kwargs).graph
    assert not marker.exists()
    assert torch.equal(graph.edge_index, expected.edge_index)


def test_planetoid_published_hashes_cover_every_raw_file() -> None:
    suffixes = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")
    for name in PLANETOID_NAMES:
        assert sorted(PLANETOID_SHA256[name]) == sorted(f"ind.{name.lower()}.{s}" for s in suffixes)
        assert all(len(h) == 64 and int(h, 16) >= 0 for h in PLANETOID_SHA256[name].values())


def test_planetoid_published_cora_passes_without_a_warning(tmp_path: Path, cora_root: Path) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = PlanetoidDataModule("Cora", root=str(cora_root), cache_dir=str(tmp_path))
        assert data.graph.num_nodes == 2708
    assert not [w for w in caught if "PlanetoidDataModule" in str(w.message)]


# -- edge list CSV --------------------------------------------------------------------------------

NODES = "node,f1,f2\nann,1,0\nbob,0,1\ncid,1,1\n"


@pytest.mark.parametrize(
    ("edges", "nodes", "match"),
    [
        ("src,dst\nann,zed\n", NODES, r"edges\.csv line 2 names node 'zed'"),
        ("src,dst\nann,\n", NODES, r"line 2 names node ''"),
        (
            "src,dst\n",
            "node,f1\nann,inf\n",
            r"nodes\.csv line 2, column 'f1': 'inf' is not a finite",
        ),
        ("src,dst\n", "node,f1\nann,-Infinity\n", r"'-Infinity' is not a finite"),
        ("src,dst\n", "node,f1\nann,1e999\n", r"'1e999' is not a finite"),
        ("src,dst\n", "node,f1\nann,1\nbob,-1e39\n", r"line 3.*'-1e39' is beyond float32"),
        ("src,dst\n", "node,f1\nann,1\nann,2\n", r"'ann' is listed twice.*lines 2 and 3"),
        ("src,dst\n", "node,f1\n,1\n", r"line 2 has an empty node name"),
        ("", NODES, r"edges\.csv is empty"),
    ],
)
def test_edge_list_files_are_refused_with_file_and_line(
    tmp_path: Path, edges: str, nodes: str, match: str
) -> None:
    (tmp_path / "edges.csv").write_text(edges)
    (tmp_path / "nodes.csv").write_text(nodes)
    with pytest.raises(ValueError, match=match):
        EdgeListDataModule(root=str(tmp_path)).setup("fit")


def test_edge_list_without_edges_warns_that_every_node_is_isolated(tmp_path: Path) -> None:
    (tmp_path / "edges.csv").write_text("src,dst\n")
    (tmp_path / "nodes.csv").write_text(NODES)
    with pytest.warns(UserWarning, match=r"edges\.csv lists no edges.*3 nodes.*isolated"):
        graph, _ = read_edge_list_graph(tmp_path / "edges.csv", tmp_path / "nodes.csv")
    assert graph.edge_index.shape == (2, 0)


# -- OGB raw CSV files ----------------------------------------------------------------------------


def _rewrite(path: Path, text: str) -> None:
    with gzip.open(path, "wt") as f:
        f.write(text)


@pytest.mark.parametrize(
    ("file", "line", "value", "match"),
    [
        ("node-feat.csv.gz", 3, "0.5,nan,1", r"node-feat\.csv\.gz line 3, column 2: nan"),
        ("node-feat.csv.gz", 6, "inf,0,1", r"line 6, column 1: inf.*standardis"),
        ("node-label.csv.gz", 2, "1.5", r"node-label\.csv\.gz line 2: 1\.5 is not a class id"),
        ("node-label.csv.gz", 4, "inf", r"line 4: inf is not a class id"),
    ],
)
def test_ogb_non_finite_features_and_non_integer_labels_are_refused(
    tmp_path: Path, tiny_arxiv: TinyArxiv, file: str, line: int, value: str, match: str
) -> None:
    arrays = tiny_arxiv(tmp_path)
    rows = arrays["feat"] if file == "node-feat.csv.gz" else arrays["label"]
    text = [",".join(f"{v:.6f}" if file == "node-feat.csv.gz" else str(v) for v in r) for r in rows]
    text[line - 1] = value
    _rewrite(tmp_path / "ogbn_arxiv" / "raw" / file, "\n".join(text) + "\n")
    with pytest.raises(ValueError, match=match):
        OGBNodeDataModule(root=str(tmp_path)).setup("fit")


def test_ogb_missing_labels_are_documented_as_minus_one(
    tmp_path: Path, tiny_arxiv: TinyArxiv
) -> None:
    tiny_arxiv(tmp_path)
    _rewrite(tmp_path / "ogbn_arxiv" / "raw" / "node-label.csv.gz", "0\n1\nnan\n0\n1\n2\n")
    assert OGBNodeDataModule(root=str(tmp_path)).graph.y.tolist() == [0, 1, -1, 0, 1, 2]


# -- TU raw text files ----------------------------------------------------------------------------


@pytest.fixture
def no_download(monkeypatch: pytest.MonkeyPatch) -> None:
    from torch_geometric.datasets import TUDataset

    def refuse(self: object) -> None:
        raise AssertionError("TUDataModule must never download")

    monkeypatch.setattr(TUDataset, "download", refuse)


@pytest.mark.parametrize(
    ("suffix", "text", "match"),
    [
        ("node_labels", "0\n1\n1.5\n", r"TOY_node_labels\.txt line 3: '1\.5' is not"),
        ("node_labels", "0\nnan\n", r"line 2: 'nan'"),
        ("A", "1, 2\n2, x\n", r"TOY_A\.txt line 2: '2, x'"),
        ("graph_labels", "1\n-1\n0.5\n", r"TOY_graph_labels\.txt line 3"),
        ("graph_indicator", "1\n1\n1\n2\n2\n2\n3\n3\n3\n3e0\n", r"graph_indicator\.txt line 10"),
    ],
)
def test_tu_files_that_are_not_integers_are_refused_with_the_line(
    tmp_path: Path, no_download: None, tiny_tu: TinyTU, suffix: str, text: str, match: str
) -> None:
    tiny_tu(tmp_path / "TOY" / "raw", "TOY", True)
    (tmp_path / "TOY" / "raw" / f"TOY_{suffix}.txt").write_text(text)
    data = TUDataModule("TOY", root=str(tmp_path), cache_dir=str(tmp_path / "cache"))
    with pytest.raises(ValueError, match=match):
        data.setup("fit")


def test_tu_cache_follows_the_raw_files(tmp_path: Path, no_download: None, tiny_tu: TinyTU) -> None:
    raw = tmp_path / "TOY" / "raw"
    tiny_tu(raw, "TOY", True)
    kwargs = {"root": str(tmp_path), "cache_dir": str(tmp_path / "cache")}
    assert [int(g.y) for g in TUDataModule("TOY", **kwargs).graphs] == [1, 0, 1]
    (raw / "TOY_graph_labels.txt").write_text("-1\n1\n1\n")  # same size: a size check misses it
    assert [int(g.y) for g in TUDataModule("TOY", **kwargs).graphs] == [0, 1, 1]
