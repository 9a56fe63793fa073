"""GraphMAE (Hou et al., KDD 2022, arXiv 2205.10803) and GraphMAE2 (Hou et al., WWW 2023,
arXiv 2304.04779): masked graph autoencoders on PyTorch Geometric."""

from __future__ import annotations

import math
from typing import Any, Literal, NamedTuple

import torch
from torch import Tensor, nn
from torch_geometric.nn import global_add_pool, global_max_pool, global_mean_pool
from torch_geometric.utils import coalesce, dropout_edge, remove_self_loops, to_undirected

from selfsup.experiment.method import MalformedBatchError, Method
from selfsup.losses import scaled_cosine_error
from selfsup.masking import apply_node_mask, node_mask
from selfsup.teachers import EMATeacher
from selfsup_graph.encoders.blocks import check_choice
from selfsup_graph.encoders.build import DECODERS, ENCODERS, build_decoder, build_encoder
from selfsup_graph.encoders.gat import GATEncoder
from selfsup_graph.encoders.sparse_attention import CSRGraph, csr_graph
from selfsup_graph.methods.graph_batch import node_features_and_edges

__all__ = ["GraphInput", "GraphMAE", "GraphMAE2", "GraphMAEGraphLevel"]

_POOLS = {"mean": global_mean_pool, "max": global_max_pool, "sum": global_add_pool}


class GraphInput(NamedTuple):
    """A validated, pre-processed batch (see :meth:`GraphMAE.graph`).

    Attributes:
        x: Node features ``(N, F)``.
        edge_index: ``(2, E)`` without self-loops (the convolutions add one per node),
            symmetrised unless the method was built with ``undirected=False``.
        batch: Graph id of every node ``(N,)`` (zeros for a single graph).
        num_graphs: Number of graphs in the batch.
        seed_nodes: For neighbour-sampled batches (``NeighborLoader``), the number of seed
            nodes (the first rows); None otherwise.
        csr: ``edge_index`` sorted for the fused GAT layers (with one self-loop per node), built
            once per batch when the encoder or decoder is a fused GAT; None otherwise.
    """

    x: Tensor
    edge_index: Tensor
    batch: Tensor
    num_graphs: int
    seed_nodes: int | None
    csr: CSRGraph | None = None

    def edges_for(self, module: nn.Module) -> Tensor | CSRGraph:
        """The pre-sorted :class:`CSRGraph` for fused GAT modules, else ``edge_index``."""
        if self.csr is not None and _is_fused_gat(module):
            return self.csr
        return self.edge_index


def _is_fused_gat(module: nn.Module) -> bool:
    return isinstance(module, GATEncoder) and bool(module.layers[0].fused)


class _ForwardEMATeacher(EMATeacher):
    """An :class:`EMATeacher` moved inside the training forward pass (``ema_timing="forward"``).

    Its :meth:`update` is a no-op, so the experiment layer's after-step update (which walks every
    ``EMATeacher``) leaves it alone; :meth:`update_in_forward` applies GraphMAE2's update.
    """

    def update(self, step: int, total_steps: int) -> float | None:
        return None

    def update_in_forward(self, step: int) -> float | None:
        # constant momentum only (checked in GraphMAE.__init__), so total_steps is irrelevant
        return EMATeacher.update(self, step, step + 1)


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
    - ``latent_weight = lambda > 0``: latent prediction. An EMA copy of the encoder (core's
      :class:`~selfsup.teachers.EMATeacher`, momentum ``momentum``, updated after each optimiser
      step, starting after ``ema_delay_steps`` steps) encodes the **unmasked** graph; its EMA
      projector gives targets ``t``; the student predicts ``p = predictor(projector(H))`` and
      ``L = L_rec + lambda * SCE_{alpha=1}(p, t)`` over ``latent_nodes`` (``"all"`` nodes — or
      the seed nodes of a neighbour-sampled batch — as GraphMAE2's full-batch script, or the
      unmasked ``"keep"`` nodes). Projector ``Linear(h, 256)-PReLU-Linear(256, h)``, predictor
      ``PReLU-Linear(h, h)``. ``ema_timing="forward"`` moves the EMA update into the training
      forward pass, after the targets are computed, as GraphMAE2's ``mask_attr_prediction``
      does: the targets of step ``t`` then come from the student of step ``t - 1`` (momentum 0),
      not from the current student.

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
        check_choice("ema_timing", ema_timing, ("after_step", "forward"))
        if ema_timing == "forward" and (
            isinstance(momentum, bool) or not isinstance(momentum, int | float)
        ):
            raise ValueError(
                f"ema_timing='forward' (GraphMAE2's in-forward update) needs a constant numeric "
                f"momentum, got {momentum!r}: a schedule needs the run's total step count."
            )
        check_choice("encoder", encoder, ENCODERS)
        check_choice("decoder", decoder, DECODERS)
        check_choice("remask", remask, ("fixed", "random"))
        check_choice("latent_nodes", latent_nodes, ("all", "keep"))
        check_choice("pooling", pooling, (None, *_POOLS))
        for name, value in (("in_channels", in_channels), ("hidden_channels", hidden_channels)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}.")
        if (
            isinstance(ema_delay_steps, bool)
            or not isinstance(ema_delay_steps, int)
            or ema_delay_steps < 0
        ):
            raise ValueError(f"ema_delay_steps must be an int >= 0, got {ema_delay_steps!r}.")
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
        if not (math.isfinite(latent_weight) and latent_weight >= 0.0):
            raise ValueError(f"latent_weight must be >= 0, got {latent_weight}.")
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
            self.projector = nn.Sequential(
                nn.Linear(hidden_channels, projector_hidden),
                nn.PReLU(),
                nn.Linear(projector_hidden, hidden_channels),
            )
            self.predictor = nn.Sequential(nn.PReLU(), nn.Linear(hidden_channels, hidden_channels))
            # GraphMAE2's delayed_ema_epoch: the target holds still for ema_delay_steps steps.
            if ema_timing == "forward":
                # GraphMAE2 updates when epoch >= delayed_ema_epoch, counting forwards from 0
                delayed = {"momentum": momentum, "start_step": ema_delay_steps}
                self.target_encoder = _ForwardEMATeacher(self.encoder, **delayed)
                self.target_projector = _ForwardEMATeacher(self.projector, **delayed)
                # training forwards so far; a buffer, so a resumed run continues the count
                self.register_buffer("ema_forward_steps", torch.zeros((), dtype=torch.long))
            else:
                delayed = {"momentum": momentum, "start_step": ema_delay_steps + 1}
                self.target_encoder = EMATeacher(self.encoder, **delayed)
                self.target_projector = EMATeacher(self.projector, **delayed)

    # -- input ---------------------------------------------------------------------------------
    def graph(self, batch: Any) -> GraphInput:
        """Validate a batch and return its :class:`GraphInput`.

        Self-loops are removed (the convolutions add exactly one per node), directed edges are
        symmetrised (unless ``undirected=False``) and duplicates merged. Isolated nodes are fine:
        their self-loop carries their own features. A graph too small to mask a node is refused
        by :meth:`training_losses` only; :meth:`embed` takes any graph with at least one node.

        Raises:
            MalformedBatchError: See the class docstring.
        """
        name = type(self).__name__
        x, edge_index = node_features_and_edges(
            batch,
            self.in_channels,
            name,
            no_features_hint=" GraphMAE reconstructs node features: add some, e.g. one-hot "
            "degrees with torch_geometric.transforms.OneHotDegree(max_degree) (GraphMAE's choice "
            "for social graphs), then set in_channels to their width.",
        )
        n = x.shape[0]
        edge_index, _ = remove_self_loops(edge_index)
        if self.undirected:
            edge_index = to_undirected(edge_index, num_nodes=n)  # also merges duplicates
        else:
            edge_index = coalesce(edge_index, num_nodes=n)
        graph_batch = getattr(batch, "batch", None)
        if isinstance(graph_batch, Tensor) and graph_batch.shape == (n,):
            num_graphs = int(getattr(batch, "num_graphs", 0) or int(graph_batch.max()) + 1)
        else:
            graph_batch = torch.zeros(n, dtype=torch.long, device=x.device)
            num_graphs = 1
        seeds = getattr(batch, "batch_size", None)
        seeds = int(seeds) if isinstance(seeds, int) and 0 < seeds <= n else None
        csr = None
        if _is_fused_gat(self.encoder) or _is_fused_gat(self.decoder):
            csr = csr_graph(edge_index, n)
        return GraphInput(x, edge_index, graph_batch, num_graphs, seeds, csr)

    # -- training ------------------------------------------------------------------------------
    def reconstruction_loss(self, rep: Tensor, g: GraphInput, mask_nodes: Tensor) -> Tensor:
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

    def decode(self, rep: Tensor, g: GraphInput, nodes: Tensor) -> Tensor:
        """Decoder output for ``nodes`` only (rows in that order), on the full graph.

        A GAT decoder computes just those rows (same values as decoding every node and
        selecting them); other decoders decode all nodes and select.
        """
        if isinstance(self.decoder, GATEncoder):
            return self.decoder(rep, g.edges_for(self.decoder), nodes)
        return self.decoder(rep, g.edge_index).index_select(0, nodes)

    def latent_loss(self, enc_rep: Tensor, g: GraphInput, keep_nodes: Tensor) -> Tensor:
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
            step = int(self.ema_forward_steps)
            for teacher in (self.target_encoder, self.target_projector):
                assert isinstance(teacher, _ForwardEMATeacher)
                teacher.update_in_forward(step)
            self.ema_forward_steps.add_(1)
        pred = self.predictor(self.projector(pred))
        return scaled_cosine_error(pred, target, 1.0)

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
        loss_rec = self.reconstruction_loss(rep, g, mask.mask_nodes)
        out = {"loss_rec": loss_rec.detach()}
        loss = loss_rec
        if self.latent_weight > 0:
            loss_latent = self.latent_loss(enc_rep, g, mask.keep_nodes)
            out["loss_latent"] = loss_latent.detach()
            loss = loss + self.latent_weight * loss_latent
        out["loss"] = loss
        return out

    # -- evaluation ----------------------------------------------------------------------------
    def _features(self, g: GraphInput) -> Tensor:
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


class GraphMAE2(GraphMAE):
    """:class:`GraphMAE` with GraphMAE2's options on (arXiv 2304.04779).

    Defaults follow GraphMAE2's Cora config (``configs/cora.yaml``): hidden 1024, 8 heads,
    ``lam = 0.15`` latent prediction against a momentum-0 EMA target (the target equals the
    student after every step), fixed re-mask, no feature substitution (GraphMAE2 stores
    ``replace_rate`` but never uses it). For large graphs GraphMAE2 uses ``remask="random"``
    (3 views, rate 0.5), ``latent_weight`` 5-10, ``momentum`` 0.996, ``drop_edge_rate`` 0.5
    and ``norm="layernorm"``, ``residual=True``. Arguments as :class:`GraphMAE`.
    """

    def __init__(
        self,
        in_channels: int = 1433,
        hidden_channels: int = 1024,
        num_layers: int = 2,
        num_heads: int = 8,
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
        replace_rate: float = 0.0,
        alpha: float = 3.0,
        drop_edge_rate: float = 0.0,
        remask: Literal["fixed", "random"] = "fixed",
        num_remask: int = 3,
        remask_rate: float = 0.5,
        latent_weight: float = 0.15,
        momentum: float | str = 0.0,
        ema_delay_steps: int = 0,
        latent_nodes: Literal["all", "keep"] = "all",
        projector_hidden: int = 256,
        pooling: Literal["mean", "max", "sum"] | None = None,
        undirected: bool = True,
        ema_timing: Literal["after_step", "forward"] = "after_step",
    ) -> None:
        super().__init__(
            in_channels=in_channels,
            hidden_channels=hidden_channels,
            num_layers=num_layers,
            num_heads=num_heads,
            num_out_heads=num_out_heads,
            encoder=encoder,
            decoder=decoder,
            encoder_module=encoder_module,
            activation=activation,
            in_drop=in_drop,
            attn_drop=attn_drop,
            negative_slope=negative_slope,
            residual=residual,
            norm=norm,
            mask_rate=mask_rate,
            replace_rate=replace_rate,
            alpha=alpha,
            drop_edge_rate=drop_edge_rate,
            remask=remask,
            num_remask=num_remask,
            remask_rate=remask_rate,
            latent_weight=latent_weight,
            momentum=momentum,
            ema_delay_steps=ema_delay_steps,
            latent_nodes=latent_nodes,
            projector_hidden=projector_hidden,
            pooling=pooling,
            undirected=undirected,
            ema_timing=ema_timing,
        )


class GraphMAEGraphLevel(GraphMAE):
    """:class:`GraphMAE` for graph-level pre-training (graph classification), GIN by default.

    Batches are PyG ``Batch`` es of many small graphs (``torch_geometric.loader.DataLoader``,
    e.g. :class:`~selfsup_graph.data.GraphDataModule`): nodes are masked over the whole batch,
    and :meth:`embed` pools the encoder's node embeddings per graph (``pooling``). Defaults follow
    GraphMAE's MUTAG config (``configs.yml``): 7 one-hot node labels, GIN encoder and decoder,
    hidden 32, 5 layers, batch norm, PReLU, mask 0.75, replace 0.1, ``alpha_l`` 2, sum pooling
    (train with Adam lr 5e-4, batch 64, 20 epochs). Arguments as :class:`GraphMAE`.
    """

    def __init__(
        self,
        in_channels: int = 7,
        hidden_channels: int = 32,
        num_layers: int = 5,
        num_heads: int = 4,
        num_out_heads: int = 1,
        encoder: Literal["gat", "gcn", "gin"] = "gin",
        decoder: Literal["gat", "gcn", "gin", "mlp", "linear"] = "gin",
        encoder_module: nn.Module | None = None,
        activation: str = "prelu",
        in_drop: float = 0.2,
        attn_drop: float = 0.1,
        negative_slope: float = 0.2,
        residual: bool = False,
        norm: str | None = "batchnorm",
        mask_rate: float = 0.75,
        replace_rate: float = 0.1,
        alpha: float = 2.0,
        drop_edge_rate: float = 0.0,
        remask: Literal["fixed", "random"] = "fixed",
        num_remask: int = 3,
        remask_rate: float = 0.5,
        latent_weight: float = 0.0,
        momentum: float | str = 0.996,
        ema_delay_steps: int = 0,
        latent_nodes: Literal["all", "keep"] = "all",
        projector_hidden: int = 256,
        pooling: Literal["mean", "max", "sum"] | None = "sum",
        undirected: bool = True,
        ema_timing: Literal["after_step", "forward"] = "after_step",
    ) -> None:
        super().__init__(
            in_channels=in_channels,
            hidden_channels=hidden_channels,
            num_layers=num_layers,
            num_heads=num_heads,
            num_out_heads=num_out_heads,
            encoder=encoder,
            decoder=decoder,
            encoder_module=encoder_module,
            activation=activation,
            in_drop=in_drop,
            attn_drop=attn_drop,
            negative_slope=negative_slope,
            residual=residual,
            norm=norm,
            mask_rate=mask_rate,
            replace_rate=replace_rate,
            alpha=alpha,
            drop_edge_rate=drop_edge_rate,
            remask=remask,
            num_remask=num_remask,
            remask_rate=remask_rate,
            latent_weight=latent_weight,
            momentum=momentum,
            ema_delay_steps=ema_delay_steps,
            latent_nodes=latent_nodes,
            projector_hidden=projector_hidden,
            pooling=pooling,
            undirected=undirected,
            ema_timing=ema_timing,
        )
