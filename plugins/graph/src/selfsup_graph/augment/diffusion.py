"""Graph diffusion views: personalised PageRank as a dense propagation matrix (MVGRL)."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["MAX_DENSE_NODES", "ppr_diffusion"]

#: Largest graph :func:`ppr_diffusion` builds: its ``N x N`` matrix and the inversion are dense.
MAX_DENSE_NODES = 20_000


def ppr_diffusion(edge_index: Tensor, num_nodes: int, alpha: float = 0.2) -> Tensor:
    """Personalised-PageRank diffusion ``S = alpha (I - (1 - alpha) T)^{-1}``.

    ``T = D^{-1/2} (A + I) D^{-1/2}`` is the symmetrically normalised adjacency with one
    self-loop per node (``D`` the degrees of ``A + I``), as MVGRL's reference computes it; the
    edges are read as given (add both directions for an undirected graph) and duplicates count
    once. ``alpha`` is the teleport probability. The inverse is computed in float64 and
    returned as float32.

    Args:
        edge_index: ``(2, E)`` int64 edges ``source -> target`` within ``[0, num_nodes)``.
        num_nodes: ``N``.
        alpha: Teleport probability in ``(0, 1]`` (default 0.2, MVGRL's).

    Shapes:
        edge_index: ``(2, E)`` -> ``(N, N)`` float32; row ``i`` holds node ``i``'s diffusion.

    Raises:
        ValueError: ``alpha`` outside ``(0, 1]``, or more than :data:`MAX_DENSE_NODES` nodes.

    Examples:
        >>> s = ppr_diffusion(torch.tensor([[0, 1], [1, 0]]), 3)
        >>> s.shape, bool(torch.allclose(s, s.T))
        (torch.Size([3, 3]), True)
    """
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"alpha must lie in (0, 1], got {alpha}.")
    if num_nodes > MAX_DENSE_NODES:
        raise ValueError(
            f"the dense PPR diffusion of {num_nodes} nodes needs an {num_nodes} x {num_nodes} "
            f"matrix; it is built for graphs up to {MAX_DENSE_NODES} nodes (sample subgraphs, "
            "e.g. with the graph data modules' batch_size, for larger ones)."
        )
    adj = torch.zeros(num_nodes, num_nodes, dtype=torch.float64, device=edge_index.device)
    adj[edge_index[1], edge_index[0]] = 1.0  # row = target: node i gathers from its sources
    adj = adj + torch.eye(num_nodes, dtype=torch.float64, device=edge_index.device)
    adj = adj.clamp(max=1.0)  # a given self-loop and the added one are one loop
    d = adj.sum(dim=1).rsqrt()
    transition = d[:, None] * adj * d[None, :]
    eye = torch.eye(num_nodes, dtype=torch.float64, device=edge_index.device)
    return (alpha * torch.linalg.inv(eye - (1.0 - alpha) * transition)).float()
