"""Graph augmentations: feature masking, node dropping, k-hop and random-walk subgraphs."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Data

from selfsup_graph.augment import drop_nodes, k_hop_view, mask_features, random_walk_subgraph


def _path(n: int = 10) -> Data:
    src = torch.arange(n - 1)
    edge_index = torch.cat([torch.stack([src, src + 1]), torch.stack([src + 1, src])], dim=1)
    return Data(x=torch.arange(n, dtype=torch.float).view(n, 1) + 1, edge_index=edge_index)


@pytest.mark.parametrize("mode", ["col", "row", "all"])
def test_mask_features_modes(mode: str) -> None:
    torch.manual_seed(0)
    x = torch.rand(60, 50) + 1.0
    out = mask_features(x, 0.4, mode=mode, fill_value=-1.0)
    masked = out == -1.0
    assert 0.2 < masked.float().mean() < 0.6
    if mode == "col":
        assert bool((masked.all(0) | ~masked.any(0)).all())
    if mode == "row":
        assert bool((masked.all(1) | ~masked.any(1)).all())
    assert bool((x >= 1).all())  # input untouched
    with pytest.raises(ValueError, match="mode"):
        mask_features(x, 0.1, mode="block")  # type: ignore[arg-type]


def test_drop_nodes_slices_attributes_and_relabels_edges() -> None:
    torch.manual_seed(0)
    data = _path(200)
    out = drop_nodes(data, 0.3)
    assert 100 < out.num_nodes < 180
    assert int(out.edge_index.max()) < out.num_nodes
    ids = out.x.view(-1).long() - 1  # original node ids
    pairs = set(map(tuple, data.edge_index.t().tolist()))
    assert all((int(ids[s]), int(ids[d])) in pairs for s, d in out.edge_index.t().tolist())
    assert drop_nodes(_path(3), 0.99).num_nodes >= 1


def test_k_hop_view_is_the_neighbourhood() -> None:
    out = k_hop_view(_path(10), num_hops=2, node_idx=5)
    assert sorted((out.x.view(-1).long() - 1).tolist()) == [3, 4, 5, 6, 7]


def test_random_walk_subgraph_is_connected_and_sized() -> None:
    torch.manual_seed(0)
    out = random_walk_subgraph(_path(30), ratio=0.2)
    ids = sorted((out.x.view(-1).long() - 1).tolist())
    assert len(ids) == 6
    assert ids == list(range(ids[0], ids[0] + 6))  # a contiguous stretch of the path
    with pytest.raises(ValueError, match="ratio"):
        random_walk_subgraph(_path(4), ratio=0.0)
