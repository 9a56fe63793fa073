"""The ``graph`` plugin record, read by :func:`selfsup.plugins.discover`.

Imports only :mod:`selfsup.plugins`: components (and torch_geometric) load on first use.
"""

from selfsup.plugins import Plugin

__all__ = ["PLUGIN"]

PLUGIN = Plugin(
    name="graph",
    modality="graph",
    components={
        # methods
        "grace": "selfsup_graph.methods.grace:GRACE",
        "bgrl": "selfsup_graph.methods.bgrl:BGRL",
        "dgi": "selfsup_graph.methods.dgi:DGI",
        "mvgrl": "selfsup_graph.methods.mvgrl:MVGRL",
        "graphcl": "selfsup_graph.methods.graphcl:GraphCL",
        "mvgrl_encoder": "selfsup_graph.methods.mvgrl:MVGRLEncoder",
        "ppr_diffusion": "selfsup_graph.augment.diffusion:ppr_diffusion",
        "graphmae": "selfsup_graph.methods.graphmae:GraphMAE",
        "graphmae2": "selfsup_graph.methods.graphmae:GraphMAE2",
        "graphmae_graph": "selfsup_graph.methods.graphmae:GraphMAEGraphLevel",
        # encoders
        "gcn": "selfsup_graph.encoders.gcn:GCNEncoder",
        "gat": "selfsup_graph.encoders.gat:GATEncoder",
        "gin": "selfsup_graph.encoders.gin:GINEncoder",
        # augmentations
        "drop_edges": "selfsup_graph.augment.views:drop_edges",
        "drop_feature_columns": "selfsup_graph.augment.views:drop_feature_columns",
        "mask_features": "selfsup_graph.augment.views:mask_features",
        "drop_nodes": "selfsup_graph.augment.views:drop_nodes",
        "subgraph": "selfsup_graph.augment.views:random_walk_subgraph",
        "k_hop_subgraph": "selfsup_graph.augment.views:k_hop_view",
        # data
        "edge_list": "selfsup_graph.data.edge_list:EdgeListDataModule",
        "planetoid": "selfsup_graph.data.planetoid:PlanetoidDataModule",
        "ogb_node": "selfsup_graph.data.ogb:OGBNodeDataModule",
        "tu_dataset": "selfsup_graph.data.tu:TUDataModule",
        "node_data": "selfsup_graph.data.node:NodeDataModule",
        "synthetic_nodes": "selfsup_graph.data.synthetic:SyntheticNodeDataModule",
        "graph_data": "selfsup_graph.data.graphs:GraphDataModule",
        # evaluation
        "node_probe": "selfsup_graph.evaluation.node_probe:node_linear_probe",
        "node_classification_probe": "selfsup_graph.evaluation.probe:NodeProbe",
        # deprecated (one release): ProbeMonitor(probes=[node_classification_probe]) replaces it
        "node_probe_monitor": "selfsup_graph.evaluation.monitor:NodeProbeMonitor",
    },
    description=(
        "Graphs (PyG): GraphMAE/GraphMAE2 masked graph autoencoders (node and graph level), "
        "GRACE, BGRL, DGI, MVGRL, GraphCL, GAT/GCN/GIN encoders, graph augmentations, your own "
        "edge list, Planetoid/OGB/TU offline, node probe."
    ),
    distribution="selfsup-graph",
    configs="selfsup_graph/configs",
)
