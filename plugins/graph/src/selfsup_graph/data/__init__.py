"""Data modules: Planetoid offline, any single PyG graph (full batch or ``NeighborLoader``),
many small graphs (PyG ``DataLoader``), and synthetic graphs for tests."""

from selfsup_graph.data.graphs import GraphDataModule
from selfsup_graph.data.node import NodeDataModule, add_missing_features, single_graph
from selfsup_graph.data.planetoid import (
    PLANETOID_NAMES,
    PlanetoidDataModule,
    default_cache_dir,
    default_data_root,
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

__all__ = [
    "PLANETOID_NAMES",
    "GraphDataModule",
    "NodeDataModule",
    "PlanetoidDataModule",
    "SyntheticNodeDataModule",
    "UniformNeighborSampler",
    "add_missing_features",
    "default_cache_dir",
    "default_data_root",
    "find_raw_dir",
    "has_pyg_sampler_backend",
    "neighbor_loader",
    "single_graph",
    "synthetic_graph_dataset",
    "synthetic_node_graph",
]
