"""Modality-agnostic data: paired samples of two modalities, data folders, embedding batches,
batches of distinct (pseudo-)labels."""

from selfsup.data.embedding import (
    EmbeddingBatch,
    check_embedding_batch,
    collate_embedding_batch,
)
from selfsup.data.label_batches import DistinctLabelBatchSampler, load_labels
from selfsup.data.paired import PairedDataset, PairedManifestDataModule, load_array
from selfsup.data.roots import DATA_ENV, DataRootError, data_root_or_none, resolve_data_root
from selfsup.data.shard_module import ShardsDataModule

__all__ = [
    "DATA_ENV",
    "DataRootError",
    "DistinctLabelBatchSampler",
    "EmbeddingBatch",
    "PairedDataset",
    "PairedManifestDataModule",
    "ShardsDataModule",
    "check_embedding_batch",
    "collate_embedding_batch",
    "data_root_or_none",
    "load_array",
    "load_labels",
    "resolve_data_root",
]
