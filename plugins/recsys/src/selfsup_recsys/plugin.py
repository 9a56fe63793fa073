"""The ``recsys`` plugin record, read by :func:`selfsup.plugins.discover`.

Imports only :mod:`selfsup.plugins`: components load on first use.
"""

from selfsup.plugins import Plugin

__all__ = ["PLUGIN"]

PLUGIN = Plugin(
    name="recsys",
    modality="recsys",
    components={
        "two_tower": "selfsup_recsys.methods.two_tower:TwoTowerRetrieval",
        "id_tower": "selfsup_recsys.encoders.tower:IdTower",
    },
    description="Recommendation: two-tower retrieval, in-batch softmax with logQ correction.",
    distribution="selfsup-recsys",
)
