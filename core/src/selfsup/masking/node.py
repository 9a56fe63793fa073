"""GraphMAE node-feature masking with exact counts (arXiv 2205.10803).

Runs on ``device`` with two ``randperm`` calls; all sizes are Python ints computed from
``num_nodes`` and the rates, so nothing is read back from the device.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from selfsup.masking._sampling import check_count, check_ratio, num_masked, resolve_device

__all__ = ["NodeMask", "apply_node_mask", "node_mask"]


@dataclass(frozen=True)
class NodeMask:
    """Result of :func:`node_mask` (node indices, random order).

    Attributes:
        mask_nodes: All masked nodes (``token_nodes`` then ``noise_nodes``); the loss covers these.
        keep_nodes: Unmasked nodes.
        token_nodes: Masked nodes whose features become the [MASK] token.
        noise_nodes: Masked nodes whose features are replaced by another node's features.
        noise_source: ``noise_source[i]`` is the node whose features are copied into
            ``noise_nodes[i]`` (drawn without replacement from all nodes; may be the node itself).

    Shapes:
        mask_nodes: ``(M,)``; keep_nodes: ``(N - M,)``; token_nodes: ``(M - K,)``;
        noise_nodes, noise_source: ``(K,)``; all long.
    """

    mask_nodes: Tensor
    keep_nodes: Tensor
    token_nodes: Tensor
    noise_nodes: Tensor
    noise_source: Tensor

    @property
    def num_nodes(self) -> int:
        """``N``."""
        return self.mask_nodes.numel() + self.keep_nodes.numel()

    @property
    def mask(self) -> Tensor:
        """``(N,)`` bool, ``True`` at masked nodes."""
        out = torch.zeros(self.num_nodes, dtype=torch.bool, device=self.mask_nodes.device)
        return out.index_fill_(0, self.mask_nodes, True)


def node_mask(
    num_nodes: int,
    mask_rate: float,
    *,
    replace_rate: float = 0.0,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> NodeMask:
    """Mask exactly ``M = floor(mask_rate * N)`` nodes; substitute features on ``K`` of them.

    GraphMAE ``encoding_mask_noise``: ``perm = randperm(N)``, the first ``M = int(mask_rate * N)``
    nodes are masked. Of those, ``K = floor(replace_rate * M)`` get the features of random nodes
    (``randperm(N)[:K]``) and the other ``M - K`` get the [MASK] token.

    Differences from the reference, both at the edges: GraphMAE selects noise nodes with
    ``perm_mask[-int(r * M):]``, which is the **whole** array when ``int(r * M) == 0`` (every
    masked node becomes a noise node); here ``K = 0`` gives no noise nodes. GraphMAE makes
    ``int((1 - r) * M)`` token nodes, so when ``r * M`` is fractional one masked node gets neither
    treatment and keeps its own features; here the counts add up: ``(M - K) + K = M``.

    Args:
        num_nodes: ``N``, nodes in the (batched) graph.
        mask_rate: Fraction of nodes to mask, in ``[0, 1]`` (GraphMAE Cora: 0.5).
        replace_rate: Fraction of the masked nodes given random-node features instead of the
            token, in ``[0, 1]`` (default 0; GraphMAE Cora: 0.05).
        generator: Optional generator on ``device``.
        device: Output device (default: the generator's device, else the default device).

    Returns:
        A :class:`NodeMask`.

    Shapes:
        See :class:`NodeMask`; ``M = floor(mask_rate * N)``, ``K = floor(replace_rate * M)``.

    Raises:
        ValueError: On ``num_nodes < 1``, rates outside ``[0, 1]`` or a generator on another device.
    """
    check_count("num_nodes", num_nodes)
    check_ratio("mask_rate", mask_rate)
    check_ratio("replace_rate", replace_rate)
    dev = resolve_device(device, generator)
    num_mask = num_masked(mask_rate, num_nodes)
    num_noise = num_masked(replace_rate, num_mask)
    num_token = num_mask - num_noise

    perm = torch.randperm(num_nodes, generator=generator, device=dev)
    # perm is uniform: splitting its head into token/noise nodes = GraphMAE's second shuffle.
    source = torch.randperm(num_nodes, generator=generator, device=dev)[:num_noise]
    return NodeMask(
        mask_nodes=perm[:num_mask],
        keep_nodes=perm[num_mask:],
        token_nodes=perm[:num_token],
        noise_nodes=perm[num_token:num_mask],
        noise_source=source,
    )


def apply_node_mask(x: Tensor, node_mask: NodeMask, mask_token: Tensor) -> Tensor:
    """Return a corrupted copy of ``x``: token nodes get ``mask_token``, noise nodes other rows.

    ``out[token_nodes] = mask_token``, ``out[noise_nodes] = x[noise_source]``, other rows equal
    ``x`` (GraphMAE: ``x[token_nodes] = 0; x[token_nodes] += enc_mask_token``). Out of place and
    differentiable with respect to ``x`` and ``mask_token`` (a learnable ``nn.Parameter``).

    Args:
        x: Node features.
        node_mask: Output of :func:`node_mask` for ``N = x.shape[0]`` nodes.
        mask_token: The [MASK] features, broadcastable to one row of ``x``.

    Returns:
        The corrupted feature matrix.

    Shapes:
        x: ``(N, *F)``; mask_token: ``(*F)`` or ``(1, *F)``; output: ``(N, *F)``.

    Raises:
        ValueError: If ``x`` has the wrong number of rows, ``mask_token`` does not broadcast to a
            row, or tensors are on different devices.
    """
    if not isinstance(x, Tensor) or x.dim() < 1:
        raise ValueError("x must be a tensor of node features with shape (N, ...).")
    if x.shape[0] != node_mask.num_nodes:
        raise ValueError(
            f"x has {x.shape[0]} rows but node_mask was drawn for {node_mask.num_nodes} nodes; "
            "draw a new mask with node_mask(x.shape[0], ...)."
        )
    if mask_token.device != x.device or node_mask.mask_nodes.device != x.device:
        raise ValueError(
            f"x ({x.device}), mask_token ({mask_token.device}) and node_mask "
            f"({node_mask.mask_nodes.device}) must be on the same device."
        )
    row_shape = x.shape[1:]
    try:
        squeeze = mask_token.dim() == x.dim() and mask_token.shape[0] == 1
        token = mask_token[0] if squeeze else mask_token
        rows = token.to(x.dtype).expand(node_mask.token_nodes.numel(), *row_shape)
    except RuntimeError:
        raise ValueError(
            f"mask_token of shape {tuple(mask_token.shape)} does not broadcast to a row of x "
            f"with shape {tuple(row_shape)}; use shape (1, {', '.join(map(str, row_shape))})."
        ) from None
    out = x.index_copy(0, node_mask.token_nodes, rows)
    return out.index_copy(0, node_mask.noise_nodes, x.index_select(0, node_mask.noise_source))
