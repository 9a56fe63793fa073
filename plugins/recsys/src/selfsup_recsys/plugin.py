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
        "feature_two_tower": "selfsup_recsys.methods.feature_two_tower:FeatureTwoTower",
        "id_tower": "selfsup_recsys.encoders.tower:IdTower",
        "feature_tower": "selfsup_recsys.encoders.tower:FeatureTower",
        "content_encoder": "selfsup_recsys.encoders.content:ContentEncoder",
        "two_tower_encoder": "selfsup_recsys.encoders.two_tower_encoder:TwoTowerEncoder",
        "embedding_tables": "selfsup_recsys.encoders.embedding_tables:LocalEmbeddingTables",
        "interactions": "selfsup_recsys.data.datamodule:InteractionDataModule",
        "feature_table": "selfsup_recsys.data.feature_table:FeatureTable",
        "frequency_estimator": "selfsup_recsys.frequency:StreamingFrequencyEstimator",
        "rfm": "selfsup_recsys.augment.feature_masking:random_feature_masks",
        "cfm": "selfsup_recsys.augment.feature_masking:correlated_feature_masks",
        "feature_mutual_information": (
            "selfsup_recsys.augment.mutual_information:feature_mutual_information"
        ),
        "retrieval_probe": "selfsup_recsys.evaluation.probe:RetrievalProbe",
        # deprecated (one release): ProbeMonitor(probes=[retrieval_probe]) replaces it
        "retrieval_monitor": "selfsup_recsys.evaluation.monitor:RetrievalMonitor",
    },
    description=(
        "Recommendation: feature two-tower retrieval (in-batch softmax, streaming logQ, "
        "accidental-hit masking) with the item-tower SSL task of Yao et al. (RFM/CFM), "
        "full-corpus Recall/NDCG, MovieLens-100K and generic interaction loaders."
    ),
    distribution="selfsup-recsys",
    configs="selfsup_recsys/configs",
)
