"""The ``tabular`` plugin record, read by :func:`selfsup.plugins.discover`.

Imports only :mod:`selfsup.plugins`: components load on first use.
"""

from selfsup.plugins import Plugin

__all__ = ["PLUGIN"]

PLUGIN = Plugin(
    name="tabular",
    modality="tabular",
    components={
        "scarf": "selfsup_tabular.methods.scarf:SCARF",
        "tabular_mlp": "selfsup_tabular.encoders.mlp:TabularMLP",
        "scarf_corrupt": "selfsup_tabular.augment.corruption:scarf_corrupt",
    },
    description="Tabular data: SCARF contrastive learning with random feature corruption.",
    distribution="selfsup-tabular",
)
