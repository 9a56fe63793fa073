"""The ``graph`` plugin record, read by :func:`selfsup.plugins.discover`.

Imports only :mod:`selfsup.plugins`: components (and torch_geometric) load on first use.
"""

from selfsup.plugins import Plugin

__all__ = ["PLUGIN"]

PLUGIN = Plugin(
    name="graph",
    modality="graph",
    components={
        "grace": "selfsup_graph.methods.grace:GRACE",
        "gcn": "selfsup_graph.encoders.gcn:GCNEncoder",
        "drop_edges": "selfsup_graph.augment.views:drop_edges",
        "drop_feature_columns": "selfsup_graph.augment.views:drop_feature_columns",
    },
    description="Graphs (PyG): GRACE node contrastive learning, GCN encoder, graph corruptions.",
    distribution="selfsup-graph",
)
