"""Audio data modules (torch and lightning are imported when used)."""

from selfsup_audio.data.clips import BucketBatchSampler, FbankCollate
from selfsup_audio.data.fsdd import FbankSplit, FSDDDataModule, default_data_root, parse_fsdd_name

__all__ = [
    "BucketBatchSampler",
    "FSDDDataModule",
    "FbankCollate",
    "FbankSplit",
    "default_data_root",
    "parse_fsdd_name",
]
