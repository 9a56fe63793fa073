"""GraphMAE (Hou et al., KDD 2022, arXiv 2205.10803) and GraphMAE2 (Hou et al., WWW 2023,
arXiv 2304.04779): masked graph autoencoders on PyTorch Geometric.

:class:`GraphMAE` is the method; :class:`GraphMAE2` and :class:`GraphMAEGraphLevel` are presets of
it. Design (issue 20): a preset stays a class, because configs, the registry (``graphmae2``,
``graphmae_graph``), saved hyperparameters and Python code name it
(``class_path: selfsup_graph.methods.GraphMAE2``, ``GraphMAE2()``), and moving its defaults into
the YAML configs alone would change what those paths build. It no longer re-lists the 29
arguments: :func:`~selfsup_graph.methods.presets.preset` gives it GraphMAE's own ``__init__``
with other defaults, so jsonargparse/LightningCLI see the full typed signature (and the help of
GraphMAE's docstring), ``isinstance(m, GraphMAE)`` holds, and the shipped configs still spell out
every paper value. Batch pre-processing (:class:`~selfsup_graph.batch.GraphInput`) lives in
:mod:`selfsup_graph.batch`; which edge format (``edge_index`` or the fused GAT's CSR) a module
reads is the encoders' business (:mod:`selfsup_graph.encoders.edges`).

Over 400 lines: one method, whose 29 hyper-parameters are documented (LightningCLI's help) here.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch_geometric.nn import global_add_pool, global_max_pool, global_mean_pool
from torch_geometric.utils import dropout_edge

from selfsup.deprecation import moved_attribute
from selfsup.distributed import global_mean_weight
from selfsup.experiment.method import MalformedBatchError, Method
from selfsup.losses import scaled_cosine_error
from selfsup.masking import apply_node_mask, node_mask
from selfsup.teachers import EMATeacher

# under another name: a module attribute "GraphInput" would shadow the deprecated forwarding
# below (and older jsonargparse releases copy TYPE_CHECKING imports into the module)
from selfsup_graph.batch import GraphInput as BatchInput
from selfsup_graph.batch import graph_input
from selfsup_graph.encoders.blocks import check_choice
from selfsup_graph.encoders.build import DECODERS, ENCODERS, build_decoder, build_encoder
from selfsup_graph.encoders.gat import GATEncoder
from selfsup_graph.methods.graphmae_latent import (
    check_latent_arguments,
    ema_targets,
    latent_heads,
    update_in_forward,
)
from selfsup_graph.methods.presets import preset

__all__ = ["GraphMAE", "GraphMAE2", "GraphMAEGraphLevel"]

# moved to selfsup_graph.batch; forwarded with a DeprecationWarning for one release
_MOVED = {"GraphInput": "selfsup_graph.batch"}

_POOLS = {"mean": global_mean_pool, "max": global_max_pool, "sum": global_add_pool}


def __getattr__(name: str) -> Any:
    return moved_attribute(__name__, _MOVED, name)


class GraphMAE(Method):
    """GraphMAE: reconstruct the features of masked nodes through a GNN encoder-decoder.

    One training step on a graph with features ``X`` (``N`` nodes):

    1. **Mask** exactly ``M = floor(mask_rate * N)`` random nodes
       (:func:`selfsup.masking.node_mask`); ``K = floor(replace_rate * M)`` of them get the
       features of random nodes, the other ``M - K`` the learnable, zero-initialised [MASK] token
       (:func:`selfsup.masking.apply_node_mask`). ``K = 0`` means no substitution (GraphMAE's
       ``perm_mask[-0:]`` would substitute every masked node).
    2. **Encode** ``H = f_E(A, X~)`` (optionally on a graph with edges dropped at
       ``drop_edge_rate``); GraphMAE's GAT by default.
    3. **Re-mask**: ``H' = H W`` (bias-free ``encoder_to_decoder``), rows of masked nodes set to 0
       (skipped for ``mlp``/``linear`` decoders).
    4. **Decode** ``Z = f_D(A, H')`` on the full graph (one GNN layer, width ``F``).
    5. **Loss**: scaled cosine error on the masked nodes only
       (:func:`selfsup.losses.scaled_cosine_error`):

       .. math::

           \\mathcal{L}_{rec} = \\frac{1}{M} \\sum_{v \\in \\mathcal{M}}
               \\left(1 - \\frac{x_v^\\top z_v}{\\|x_v\\| \\|z_v\\|}\\right)^{\\alpha}

    GraphMAE2 options (arXiv 2304.04779), off by default:

    - ``remask="random"``: ``num_remask`` decoding views; in each, a ``remask_rate`` share of
      **all** nodes gets a second learnable token (``dec_mask_token``, zero-initialised) instead
      of its code; the views' reconstruction losses (on the originally masked nodes) are summed.
    - ``latent_weight = lambda > 0``: latent prediction
      (:mod:`~selfsup_graph.methods.graphmae_latent`): an EMA copy of the encoder and projector
      (momentum ``momentum``, moving after ``ema_delay_steps`` steps) gives targets from the
      **unmasked** graph; ``L = L_rec + lambda * SCE_{alpha=1}(predictor(projector(H)), t)``
      over ``latent_nodes`` (``"all"`` nodes — or the seed nodes of a neighbour-sampled batch —
      as GraphMAE2's full-batch script, or the unmasked ``"keep"`` nodes).
      ``ema_timing="forward"`` updates the EMA inside the training forward, after the targets,
      as GraphMAE2 does: the targets of step ``t`` then come from the student of step ``t - 1``.

    Randomness comes from torch's global RNG. ``embed`` is the encoder on the unmasked graph in
    eval mode (no dropout), pooled per graph when ``pooling`` is set (graph-level pre-training).

    Args:
        in_channels: Node feature size ``F`` (default 1433, Cora).
        hidden_channels: Encoder width ``h`` (all heads together; default 512, GraphMAE Cora).
        num_layers: Encoder layers (default 2).
        num_heads: GAT heads in every encoder layer and of the decoder's input (default 4).
        num_out_heads: GAT decoder heads (default 1; averaged when > 1).
        encoder: ``"gat"`` (default), ``"gcn"`` or ``"gin"``.
        decoder: ``"gat"`` (default), ``"gcn"``, ``"gin"``, ``"mlp"`` or ``"linear"``.
        encoder_module: A custom encoder ``(x, edge_index) -> (N, hidden_channels)`` used
            instead of ``encoder`` (default None).
        activation: ``"prelu"`` (default), ``"relu"``, ``"elu"``, ``"gelu"`` or ``"identity"``.
        in_drop: Feature dropout before every GNN layer (default 0.2).
        attn_drop: GAT attention dropout (default 0.1).
        negative_slope: GAT LeakyReLU slope (default 0.2).
        residual: Residual connections in the encoder (default False).
        norm: None (default), ``"batchnorm"`` or ``"layernorm"``.
        mask_rate: Share of nodes masked, in ``(0, 1)`` (default 0.5).
        replace_rate: Share of masked nodes given random nodes' features, in ``[0, 1]``
            (default 0.05, GraphMAE Cora).
        alpha: SCE exponent ``alpha >= 1`` (GraphMAE ``alpha_l``; default 3).
        drop_edge_rate: DropEdge probability of the encoder's graph (default 0).
        remask: ``"fixed"`` (GraphMAE; default) or ``"random"`` (GraphMAE2 multi-view).
        num_remask: Decoding views of ``remask="random"`` (default 3).
        remask_rate: Share of nodes re-masked per view, in ``(0, 1]`` (default 0.5).
        latent_weight: ``lambda`` of the latent-prediction loss; 0 (default) disables it.
        momentum: EMA momentum: a float (constant), a schedule name such as ``"cosine:0.996"``
            (default 0.996, GraphMAE2's constant).
        ema_delay_steps: Optimiser steps before the EMA target starts to move (default 0).
        ema_timing: ``"after_step"`` (default: core's ``EMATeacher`` update after each optimiser
            step) or ``"forward"`` (GraphMAE2's order: inside the training forward, after the
            latent targets; needs a constant numeric ``momentum``).
        latent_nodes: ``"all"`` (default) or ``"keep"`` (see above).
        projector_hidden: Hidden width of the projector (default 256).
        pooling: None (node embeddings; default), ``"mean"``, ``"max"`` or ``"sum"`` readout
            for graph-level embeddings.
        undirected: Symmetrise ``edge_index`` (default True; GraphMAE's graphs are undirected).

    Shapes:
        batch: a ``torch_geometric.data.Data`` — one graph, a ``Batch`` of graphs (PyG
            ``DataLoader``) or a neighbour-sampled subgraph (``NeighborLoader``, seed nodes
            first, ``batch_size`` seeds) — with ``x`` ``(N, in_channels)`` floating point and
            ``edge_index`` ``(2, E)`` int64 in ``[0, N)``.
        embed: node embeddings ``(N, hidden_channels)`` (``(batch_size, h)``, the seed nodes,
            for neighbour-sampled batches), or ``(num_graphs, h)`` with ``pooling``.

    Raises:
        ValueError: On hyper-parameters out of range (at construction).
        MalformedBatchError: On a batch that is not such a ``Data`` object, has no node features,
            no nodes, NaN/inf features (training and ``embed``; the message names the nodes), or
            (training only) is too small to mask a node.
    """

    modality = "graph"

    def __init__(
        self,
        in_channels: int = 1433,
        hidden_channels: int = 512,
        num_layers: int = 2,
        num_heads: int = 4,
        num_out_heads: int = 1,
        encoder: Literal["gat", "gcn", "gin"] = "gat",
        decoder: Literal["gat", "gcn", "gin", "mlp", "linear"] = "gat",
        encoder_module: nn.Module | None = None,
        activation: str = "prelu",
        in_drop: float = 0.2,
        attn_drop: float = 0.1,
        negative_slope: float = 0.2,
        residual: bool = False,
        norm: str | None = None,
        mask_rate: float = 0.5,
        replace_rate: float = 0.05,
        alpha: float = 3.0,
        drop_edge_rate: float = 0.0,
        remask: Literal["fixed", "random"] = "fixed",
        num_remask: int = 3,
        remask_rate: float = 0.5,
        latent_weight: float = 0.0,
        momentum: float | str = 0.996,
        ema_delay_steps: int = 0,
        latent_nodes: Literal["all", "keep"] = "all",
        projector_hidden: int = 256,
        pooling: Literal["mean", "max", "sum"] | None = None,
        undirected: bool = True,
        ema_timing: Literal["after_step", "forward"] = "after_step",
    ) -> None:
        super().__init__()
        check_latent_arguments(latent_weight, momentum, ema_delay_steps, ema_timing, latent_nodes)
        check_choice("encoder", encoder, ENCODERS)
        check_choice("decoder", decoder, DECODERS)
        check_choice("remask", remask, ("fixed", "random"))
        check_choice("pooling", pooling, (None, *_POOLS))
        for name, value in (("in_channels", in_channels), ("hidden_channels", hidden_channels)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}.")
        if not 0.0 < mask_rate < 1.0:
            raise ValueError(
                f"mask_rate must lie strictly between 0 and 1, got {mask_rate}: 0 masks nothing "
                "(no loss), 1 hides every node from the encoder. GraphMAE uses 0.5 (Cora)."
            )
        if not 0.0 <= replace_rate <= 1.0:
            raise ValueError(
                f"replace_rate is the share of MASKED nodes given other nodes' features and must "
                f"lie in [0, 1], got {replace_rate}; more nodes cannot be replaced than are masked."
            )
        if not (math.isfinite(alpha) and alpha >= 1.0):
            raise ValueError(f"alpha (GraphMAE's alpha_l) must be >= 1, got {alpha}.")
        if not 0.0 <= drop_edge_rate < 1.0:
            raise ValueError(f"drop_edge_rate must lie in [0, 1), got {drop_edge_rate}.")
        if not 0.0 < remask_rate <= 1.0:
            raise ValueError(f"remask_rate must lie in (0, 1], got {remask_rate}.")
        if isinstance(num_remask, bool) or not isinstance(num_remask, int) or num_remask < 1:
            raise ValueError(f"num_remask must be an int >= 1, got {num_remask!r}.")
        if encoder == "gat" and encoder_module is None and hidden_channels % num_heads:
            raise ValueError(
                f"hidden_channels ({hidden_channels}) must be divisible by num_heads "
                f"({num_heads}): GAT heads are concatenated (GraphMAE Cora: 512 = 4 x 128)."
            )

        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.encoder_name = encoder if encoder_module is None else "custom"
        self.decoder_name = decoder
        self.mask_rate = float(mask_rate)
        self.replace_rate = float(replace_rate)
        self.alpha = float(alpha)
        self.drop_edge_rate = float(drop_edge_rate)
        self.remask = remask
        self.num_remask = num_remask
        self.remask_rate = float(remask_rate)
        self.latent_weight = float(latent_weight)
        self.latent_nodes = latent_nodes
        self.pooling = pooling
        self.undirected = undirected
        self.ema_timing = ema_timing

        gnn = {
            "in_drop": in_drop,
            "attn_drop": attn_drop,
            "negative_slope": negative_slope,
            "norm": norm,
            "activation": activation,
        }
        if encoder_module is not None:
            if not isinstance(encoder_module, nn.Module):
                raise ValueError(
                    f"encoder_module must be an nn.Module, got {type(encoder_module).__name__}."
                )
            self.encoder = encoder_module
        else:
            self.encoder = build_encoder(
                encoder,
                in_channels,
                hidden_channels,
                num_layers,
                heads=num_heads,
                residual=residual,
                **gnn,
            )
        self.encoder_to_decoder = nn.Linear(hidden_channels, hidden_channels, bias=False)
        self.decoder = build_decoder(
            decoder, hidden_channels, in_channels, heads=num_heads, out_heads=num_out_heads, **gnn
        )
        self.enc_mask_token = nn.Parameter(torch.zeros(1, in_channels))
        self.dec_mask_token: nn.Parameter | None = None
        if remask == "random":
            self.dec_mask_token = nn.Parameter(torch.zeros(1, hidden_channels))

        self.projector: nn.Module | None = None
        self.predictor: nn.Module | None = None
        self.target_encoder: EMATeacher | None = None
        self.target_projector: EMATeacher | None = None
        if latent_weight > 0:
            self.projector, self.predictor = latent_heads(hidden_channels, projector_hidden)
            self.target_encoder, self.target_projector = ema_targets(
                self.encoder, self.projector, momentum, ema_delay_steps, ema_timing
            )
            if ema_timing == "forward":
                # training forwards so far; a buffer, so a resumed run continues the count
                self.register_buffer("ema_forward_steps", torch.zeros((), dtype=torch.long))

    # -- input ---------------------------------------------------------------------------------
    def graph(self, batch: Any) -> BatchInput:
        """Validate a batch and return its :class:`~selfsup_graph.batch.GraphInput`.

        :func:`~selfsup_graph.batch.graph_input`: self-loops removed, edges symmetrised (unless
        ``undirected=False``), duplicates merged; the CSR form built once when the encoder or
        decoder reads it. A graph too small to mask a node is refused by
        :meth:`training_losses` only; :meth:`embed` takes any graph with at least one node.

        Raises:
            MalformedBatchError: See the class docstring.
        """
        return graph_input(
            batch,
            self.in_channels,
            type(self).__name__,
            undirected=self.undirected,
            edge_readers=(self.encoder, self.decoder),
            no_features_hint=" GraphMAE reconstructs node features: add some, e.g. one-hot "
            "degrees with torch_geometric.transforms.OneHotDegree(max_degree) (GraphMAE's choice "
            "for social graphs), then set in_channels to their width.",
        )

    # -- training ------------------------------------------------------------------------------
    def reconstruction_loss(self, rep: Tensor, g: BatchInput, mask_nodes: Tensor) -> Tensor:
        """Re-mask the decoder input, decode on the full graph, SCE on the masked nodes.

        Args:
            rep: ``encoder_to_decoder(H)``, ``(N, h)``.
            g: The (unmasked, full) graph.
            mask_nodes: Indices of the nodes masked at the encoder input, ``(M,)``.

        Returns:
            The fixed re-mask loss, or the sum over ``num_remask`` random re-mask views.
        """
        target = g.x.index_select(0, mask_nodes)
        if self.remask == "fixed":
            if self.decoder_name not in ("mlp", "linear"):
                rep = rep.index_fill(0, mask_nodes, 0.0)
            return scaled_cosine_error(self.decode(rep, g, mask_nodes), target, self.alpha)
        assert self.dec_mask_token is not None
        total = rep.new_zeros(())
        for _ in range(self.num_remask):
            view = node_mask(rep.shape[0], self.remask_rate, device=rep.device)
            recon = self.decode(apply_node_mask(rep, view, self.dec_mask_token), g, mask_nodes)
            total = total + scaled_cosine_error(recon, target, self.alpha)
        return total

    def decode(self, rep: Tensor, g: BatchInput, nodes: Tensor) -> Tensor:
        """Decoder output for ``nodes`` only (rows in that order), on the full graph.

        A GAT decoder computes just those rows (same values as decoding every node and
        selecting them); other decoders decode all nodes and select.
        """
        if isinstance(self.decoder, GATEncoder):
            return self.decoder(rep, g.edges_for(self.decoder), nodes)
        return self.decoder(rep, g.edge_index).index_select(0, nodes)

    def latent_loss(self, enc_rep: Tensor, g: BatchInput, keep_nodes: Tensor) -> Tensor:
        """GraphMAE2's latent prediction: SCE (alpha 1) of student predictions vs EMA targets."""
        assert self.projector is not None and self.predictor is not None
        assert self.target_encoder is not None and self.target_projector is not None
        if self.latent_nodes == "keep":
            nodes: Tensor | None = keep_nodes
        elif g.seed_nodes is not None:
            nodes = torch.arange(g.seed_nodes, device=g.x.device)
        else:
            nodes = None
        target = self.target_encoder(g.x, g.edges_for(self.encoder))
        pred = enc_rep
        if nodes is not None:
            target, pred = target.index_select(0, nodes), pred.index_select(0, nodes)
        target = self.target_projector(target)
        if self.ema_timing == "forward" and self.training:
            # GraphMAE2's order: targets first, then the EMA step, then (outside) backward
            update_in_forward((self.target_encoder, self.target_projector), self.ema_forward_steps)
        pred = self.predictor(self.projector(pred))
        loss = scaled_cosine_error(pred, target, 1.0)
        return loss * global_mean_weight(
            torch.tensor(pred.shape[0], device=loss.device), loss.dtype
        )

    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        g = self.graph(batch)
        num_nodes = g.x.shape[0]
        # only training masks: embed works on any graph, even one node alone in a last batch
        if math.floor(self.mask_rate * num_nodes + 1e-9) < 1:
            raise MalformedBatchError(
                f"{type(self).__name__}: a graph (batch) of {num_nodes} node(s) with mask_rate="
                f"{self.mask_rate} masks no node (floor({self.mask_rate} * {num_nodes}) = 0); use "
                "larger graphs or batches."
            )
        mask = node_mask(
            num_nodes, self.mask_rate, replace_rate=self.replace_rate, device=g.x.device
        )
        use_x = apply_node_mask(g.x, mask, self.enc_mask_token)
        enc_edges = g.edges_for(self.encoder)
        if self.drop_edge_rate > 0 and self.training:  # the decoder keeps the full graph
            enc_edges = dropout_edge(g.edge_index, p=self.drop_edge_rate)[0]
        enc_rep = self.encoder(use_x, enc_edges)
        rep = self.encoder_to_decoder(enc_rep)
        # Batches of graphs mask different numbers of nodes per rank: weigh each rank's mean by
        # its share, so DDP's average is the mean over every masked node (1 on one process or
        # when every rank holds the same graph).
        loss_rec = self.reconstruction_loss(rep, g, mask.mask_nodes)
        loss_rec = loss_rec * global_mean_weight(
            torch.tensor(mask.mask_nodes.numel(), device=loss_rec.device), loss_rec.dtype
        )
        out = {"loss_rec": loss_rec.detach()}
        loss = loss_rec
        if self.latent_weight > 0:
            loss_latent = self.latent_loss(enc_rep, g, mask.keep_nodes)
            out["loss_latent"] = loss_latent.detach()
            loss = loss + self.latent_weight * loss_latent
        out["loss"] = loss
        return out

    # -- evaluation ----------------------------------------------------------------------------
    def _features(self, g: BatchInput) -> Tensor:
        h = self.encoder(g.x, g.edges_for(self.encoder))
        if self.pooling is not None:
            return _POOLS[self.pooling](h, g.batch, size=g.num_graphs)
        if g.seed_nodes is not None:
            return h[: g.seed_nodes]
        return h

    def embed(self, batch: Any) -> Tensor:
        """Encoder output on the unmasked graph (pooled per graph with ``pooling``)."""
        return self._features(self.graph(batch))

    def representations(self, batch: Any) -> Tensor:
        """:meth:`embed` of a training batch, detached (for RankMe)."""
        return self._features(self.graph(batch)).detach()

    def export_encoder(self) -> nn.Module:
        """The encoder :meth:`embed` runs: ``(x, edge_index) -> (N, hidden_channels)``.

        A :class:`~selfsup_graph.encoders.GATEncoder`, ``GCNEncoder`` or ``GINEncoder``
        (components ``graph:gat`` / ``graph:gcn`` / ``graph:gin``), or ``encoder_module`` (which
        must then be ``@selfsup.export.exportable`` itself). The decoder, the [MASK] tokens and
        GraphMAE2's projector, predictor and EMA target are left behind.

        The encoder reads the graph exactly as given. :meth:`embed` first removes self-loops and
        symmetrises the edges (``undirected=True``), and with ``pooling`` pools the node rows per
        graph, so to reproduce its output feed the loaded encoder
        ``to_undirected(remove_self_loops(edge_index)[0])`` and pool its output with
        ``torch_geometric.nn.global_{mean,max,add}_pool``.

        Examples:
            >>> method = GraphMAE(in_channels=6, hidden_channels=8, num_heads=2)
            >>> type(method.export_encoder()).__name__
            'GATEncoder'
        """
        return self.encoder


@preset(hidden_channels=1024, num_heads=8, replace_rate=0.0, latent_weight=0.15, momentum=0.0)
class GraphMAE2(GraphMAE):
    """:class:`GraphMAE` with GraphMAE2's options on (arXiv 2304.04779).

    Defaults follow GraphMAE2's Cora config (``configs/cora.yaml``): hidden 1024, 8 heads,
    ``lam = 0.15`` latent prediction against a momentum-0 EMA target (the target equals the
    student after every step), fixed re-mask, no feature substitution (GraphMAE2 stores
    ``replace_rate`` but never uses it). For large graphs GraphMAE2 uses ``remask="random"``
    (3 views, rate 0.5), ``latent_weight`` 5-10, ``momentum`` 0.996, ``drop_edge_rate`` 0.5
    and ``norm="layernorm"``, ``residual=True``. Arguments as :class:`GraphMAE`.

    Examples:
        >>> method = GraphMAE2(in_channels=6, hidden_channels=8, num_heads=2)
        >>> isinstance(method, GraphMAE), method.latent_weight, method.target_encoder is None
        (True, 0.15, False)
    """


@preset(
    in_channels=7,
    hidden_channels=32,
    num_layers=5,
    encoder="gin",
    decoder="gin",
    norm="batchnorm",
    mask_rate=0.75,
    replace_rate=0.1,
    alpha=2.0,
    pooling="sum",
)
class GraphMAEGraphLevel(GraphMAE):
    """:class:`GraphMAE` for graph-level pre-training (graph classification), GIN by default.

    Batches are PyG ``Batch`` es of many small graphs (``torch_geometric.loader.DataLoader``,
    e.g. :class:`~selfsup_graph.data.GraphDataModule`): nodes are masked over the whole batch,
    and :meth:`embed` pools the encoder's node embeddings per graph (``pooling``). Defaults follow
    GraphMAE's MUTAG config (``configs.yml``): 7 one-hot node labels, GIN encoder and decoder,
    hidden 32, 5 layers, batch norm, PReLU, mask 0.75, replace 0.1, ``alpha_l`` 2, sum pooling
    (train with Adam lr 5e-4, batch 64, 20 epochs). Arguments as :class:`GraphMAE`.

    Examples:
        >>> method = GraphMAEGraphLevel()
        >>> method.encoder_name, method.pooling, type(method.export_encoder()).__name__
        ('gin', 'sum', 'GINEncoder')
    """
