"""The ``tabular`` plugin record, read by :func:`selfsup.plugins.discover`.

Imports only :mod:`selfsup.plugins`: components load on first use.
"""

from selfsup.plugins import Plugin

__all__ = ["PLUGIN"]

PLUGIN = Plugin(
    name="tabular",
    modality="tabular",
    components={
        "tjepa": "selfsup_tabular.methods.tjepa:TJEPA",
        "tjepa_encoder": "selfsup_tabular.encoders.tjepa_encoder:TJEPAEncoder",
        "scarf": "selfsup_tabular.methods.scarf:SCARF",
        "scarf_encoder": "selfsup_tabular.methods.scarf:SCARFEncoder",
        "vime": "selfsup_tabular.methods.vime:VIME",
        "tabular_csv": "selfsup_tabular.data.datamodule:TabularCSVDataModule",
        "builtin_table": "selfsup_tabular.data.builtin:BuiltinTableDataModule",
        "tabular_preprocessor": "selfsup_tabular.data.preprocessing:TabularPreprocessor",
        "feature_tokenizer": "selfsup_tabular.encoders.tokenizer:FeatureTokenizer",
        "tabular_backbone": "selfsup_tabular.encoders.transformer:TabularBackbone",
        "tabular_mlp": "selfsup_tabular.encoders.mlp:TabularMLP",
        "tabular_input": "selfsup_tabular.encoders.mlp:TabularInput",
        "scarf_corrupt": "selfsup_tabular.augment.corruption:scarf_corrupt",
        "vime_corrupt": "selfsup_tabular.augment.corruption:vime_corrupt",
    },
    description=(
        "Tabular data: T-JEPA (feature-subset latent prediction), SCARF and VIME, with CSV "
        "preprocessing and an FT-Transformer tokenizer."
    ),
    distribution="selfsup-tabular",
    configs="selfsup_tabular/configs",
)
