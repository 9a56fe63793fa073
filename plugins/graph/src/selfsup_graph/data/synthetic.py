"""Small synthetic graphs with label signal, for tests and examples (no files, no downloads)."""

from __future__ import annotations

import torch
from torch_geometric.data import Data
from torch_geometric.utils import to_undirected

from selfsup_graph.data.node import NodeDataModule

__all__ = ["SyntheticNodeDataModule", "synthetic_graph_dataset", "synthetic_node_graph"]


def synthetic_node_graph(
    num_nodes: int = 120,
    num_features: int = 32,
    num_classes: int = 3,
    p_in: float = 0.15,
    p_out: float = 0.01,
    feature_noise: float = 0.5,
    seed: int = 0,
) -> Data:
    """A stochastic block model with class-dependent bag-of-words features and a split.

    Node ``v`` of class ``c`` links to same-class nodes with probability ``p_in`` and to others
    with ``p_out``; its features are Bernoulli with rate 0.5 on the class's block of
    ``num_features // num_classes`` columns and ``feature_noise * 0.5`` elsewhere, then
    row-normalised. Split: 20% train, 20% validation, 60% test (``*_mask``).

    Returns:
        ``Data(x (N, F), edge_index (2, E) undirected, y (N,), train_mask, val_mask, test_mask)``.
    """
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(num_nodes) % num_classes
    y = y[torch.randperm(num_nodes, generator=g)]
    same = y[:, None] == y[None, :]
    prob = torch.where(same, torch.tensor(p_in), torch.tensor(p_out))
    adj = torch.rand(num_nodes, num_nodes, generator=g) < prob
    adj = torch.triu(adj, diagonal=1)
    edge_index = to_undirected(adj.nonzero().t().contiguous(), num_nodes=num_nodes)
    block = max(1, num_features // num_classes)
    rate = torch.full((num_nodes, num_features), 0.5 * feature_noise)
    for c in range(num_classes):
        cols = slice(c * block, min(num_features, (c + 1) * block))
        rate[y == c, cols] = 0.5
    x = (torch.rand(num_nodes, num_features, generator=g) < rate).float()
    x[x.sum(1) == 0, 0] = 1.0
    x = x / x.sum(1, keepdim=True)
    perm = torch.randperm(num_nodes, generator=g)
    n_train, n_val = int(0.2 * num_nodes), int(0.2 * num_nodes)
    masks = [torch.zeros(num_nodes, dtype=torch.bool) for _ in range(3)]
    masks[0][perm[:n_train]] = True
    masks[1][perm[n_train : n_train + n_val]] = True
    masks[2][perm[n_train + n_val :]] = True
    return Data(
        x=x, edge_index=edge_index, y=y, train_mask=masks[0], val_mask=masks[1], test_mask=masks[2]
    )


def synthetic_graph_dataset(
    num_graphs: int = 40,
    num_features: int = 8,
    min_nodes: int = 6,
    max_nodes: int = 14,
    seed: int = 0,
) -> list[Data]:
    """Two classes of small graphs: rings (label 0) and denser random graphs (label 1).

    Node features are one-hot "atom types" drawn from class-dependent distributions (types
    ``0..F/2-1`` are more frequent in class 0), so both structure and features carry the label.

    Returns:
        A list of ``Data(x (n, F), edge_index (2, E) undirected, y (1,))``.
    """
    g = torch.Generator().manual_seed(seed)
    graphs = []
    half = max(1, num_features // 2)
    for i in range(num_graphs):
        label = i % 2
        n = int(torch.randint(min_nodes, max_nodes + 1, (1,), generator=g))
        if label == 0:
            src = torch.arange(n)
            edges = torch.stack([src, (src + 1) % n])
        else:
            adj = torch.triu(torch.rand(n, n, generator=g) < 0.4, diagonal=1)
            edges = adj.nonzero().t()
        edge_index = to_undirected(edges.contiguous(), num_nodes=n)
        weights = torch.ones(num_features)
        weights[:half] = 4.0 if label == 0 else 0.25
        types = torch.multinomial(weights, n, replacement=True, generator=g)
        x = torch.nn.functional.one_hot(types, num_features).float()
        graphs.append(Data(x=x, edge_index=edge_index, y=torch.tensor([label])))
    return graphs


class SyntheticNodeDataModule(NodeDataModule):
    """:class:`~selfsup_graph.data.NodeDataModule` over :func:`synthetic_node_graph`.

    Generated on the fly (no files): the quickstart's and the tests' graph, usable from a
    ``selfsup fit`` config. Arguments are those of :func:`synthetic_node_graph`, plus
    ``batch_size``/``num_neighbors``/``predict_num_neighbors`` of
    :class:`~selfsup_graph.data.NodeDataModule`; ``selfsup embed`` ids are the node numbers.

    Examples:
        >>> data = SyntheticNodeDataModule(num_nodes=40, num_features=12)
        >>> data.num_features
        12
    """

    def __init__(
        self,
        num_nodes: int = 300,
        num_features: int = 48,
        num_classes: int = 3,
        p_in: float = 0.15,
        p_out: float = 0.01,
        feature_noise: float = 0.5,
        seed: int = 0,
        batch_size: int | None = None,
        num_neighbors: list[int] | None = None,
        predict_num_neighbors: list[int] | None = None,
    ) -> None:
        super().__init__(
            batch_size=batch_size,
            num_neighbors=num_neighbors,
            predict_num_neighbors=predict_num_neighbors,
        )
        self.graph_args = {
            "num_nodes": num_nodes,
            "num_features": num_features,
            "num_classes": num_classes,
            "p_in": p_in,
            "p_out": p_out,
            "feature_noise": feature_noise,
            "seed": seed,
        }

    def load(self) -> Data:
        return synthetic_node_graph(**self.graph_args)
