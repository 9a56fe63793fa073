"""Audio data modules (torch and lightning are imported when used)."""

from selfsup_audio.data.clip_module import FbankClipsDataModule
from selfsup_audio.data.clips import BucketBatchSampler, FbankCollate, FbankSplit
from selfsup_audio.data.folder import AudioFolderDataModule, WaveformCollate
from selfsup_audio.data.fsdd import FSDDDataModule, parse_fsdd_name
from selfsup_audio.data.shards import AudioShardsDataModule, write_audio_shards
from selfsup_audio.data.synthetic import SyntheticClipsDataModule, synthetic_clip

__all__ = [
    "AudioFolderDataModule",
    "AudioShardsDataModule",
    "BucketBatchSampler",
    "FSDDDataModule",
    "FbankClipsDataModule",
    "FbankCollate",
    "FbankSplit",
    "SyntheticClipsDataModule",
    "WaveformCollate",
    "parse_fsdd_name",
    "synthetic_clip",
    "write_audio_shards",
]
