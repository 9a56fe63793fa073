"""Audio data modules (torch and lightning are imported when used)."""

from selfsup_audio.data.clips import BucketBatchSampler, FbankCollate
from selfsup_audio.data.fsdd import FbankSplit, FSDDDataModule, default_data_root, parse_fsdd_name
from selfsup_audio.data.synthetic import SyntheticClipsDataModule, synthetic_clip

__all__ = [
    "BucketBatchSampler",
    "FSDDDataModule",
    "FbankCollate",
    "FbankSplit",
    "SyntheticClipsDataModule",
    "default_data_root",
    "parse_fsdd_name",
    "synthetic_clip",
]
