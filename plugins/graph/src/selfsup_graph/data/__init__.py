"""Data modules: your own edge list + node features, Planetoid, OGB node graphs and TU graph
datasets offline from local folders, any single PyG graph (full batch or ``NeighborLoader``),
many small graphs (PyG ``DataLoader``), and synthetic graphs for tests. Planetoid's pickled raw
files are checked against the published files' SHA-256 before anything reads them.

Every data module a user would embed has a ``predict_dataloader()`` for ``selfsup embed``."""

from selfsup_graph.data.edge_list import EdgeListDataModule, read_edge_list_graph
from selfsup_graph.data.graphs import GraphDataModule
from selfsup_graph.data.node import (
    NodeDataModule,
    SeedNodeCollate,
    add_missing_features,
    one_hot_degree,
    single_graph,
)
from selfsup_graph.data.ogb import (
    OGB_NODE_SPLITS,
    OGBNodeDataModule,
    find_ogb_dir,
    read_ogb_node_graph,
    standardize,
)
from selfsup_graph.data.planetoid import (
    PLANETOID_NAMES,
    PLANETOID_SHA256,
    PLANETOID_SOURCE,
    PlanetoidDataModule,
    UntrustedPickleError,
    check_raw_files,
    default_cache_dir,
    find_raw_dir,
)
from selfsup_graph.data.sampling import (
    UniformNeighborSampler,
    has_pyg_sampler_backend,
    neighbor_loader,
)
from selfsup_graph.data.synthetic import (
    SyntheticNodeDataModule,
    synthetic_graph_dataset,
    synthetic_node_graph,
)
from selfsup_graph.data.tu import TU_REQUIRED_FILES, TUDataModule, find_tu_raw_dir

__all__ = [
    "OGB_NODE_SPLITS",
    "PLANETOID_NAMES",
    "PLANETOID_SHA256",
    "PLANETOID_SOURCE",
    "TU_REQUIRED_FILES",
    "EdgeListDataModule",
    "GraphDataModule",
    "NodeDataModule",
    "OGBNodeDataModule",
    "PlanetoidDataModule",
    "SeedNodeCollate",
    "SyntheticNodeDataModule",
    "TUDataModule",
    "UniformNeighborSampler",
    "UntrustedPickleError",
    "add_missing_features",
    "check_raw_files",
    "default_cache_dir",
    "find_ogb_dir",
    "find_raw_dir",
    "find_tu_raw_dir",
    "has_pyg_sampler_backend",
    "neighbor_loader",
    "one_hot_degree",
    "read_edge_list_graph",
    "read_ogb_node_graph",
    "single_graph",
    "standardize",
    "synthetic_graph_dataset",
    "synthetic_node_graph",
]
