"""``FSDDDataModule``: the Free Spoken Digit Dataset as cached, normalised fbank batches."""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass

import torch
from lightning.pytorch import LightningDataModule
from torch import Tensor
from torch.utils.data import DataLoader

from selfsup_audio.data.clips import BucketBatchSampler, FbankCollate
from selfsup_audio.frontends.audio_io import AudioLoadError, load_waveform
from selfsup_audio.frontends.fbank import (
    AUDIOSET_MEAN,
    AUDIOSET_STD,
    fbank_statistics,
    kaldi_fbank,
    normalize_fbank,
)

__all__ = ["FSDDDataModule", "FbankSplit", "default_data_root", "parse_fsdd_name"]

_NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")


def default_data_root() -> str:
    """``$SELFSUP_DATA`` if set, else ``../shared/data`` (relative to the working directory)."""
    return os.environ.get("SELFSUP_DATA") or os.path.join("..", "shared", "data")


def parse_fsdd_name(name: str) -> tuple[int, str, int] | None:
    """``(digit, speaker, take)`` of ``{digit}_{speaker}_{take}.wav``; None for other names."""
    match = _NAME.match(name)
    if match is None:
        return None
    return int(match.group(1)), match.group(2), int(match.group(3))


@dataclass
class FbankSplit:
    """Cached normalised fbanks of one split.

    Attributes:
        features: ``[(T_i, n_mels), ...]`` float32. labels: ``(N,)`` digits.
        names: File names, in the same order.
    """

    features: list[Tensor]
    labels: Tensor
    names: list[str]

    def __len__(self) -> int:
        return len(self.features)


class FSDDDataModule(LightningDataModule):
    """FSDD recordings -> 16 kHz Kaldi fbanks (computed once, kept in memory) -> padded batches.

    Split (the dataset's standard one, by take): takes 0-4 are the test set (300 clips), takes
    5-49 the training set (2,700); the validation set is a seeded ``val_fraction`` of the
    training clips (never test clips). Files are read with
    :func:`~selfsup_audio.frontends.load_waveform` (mono, resampled from 8 kHz), features are
    :func:`~selfsup_audio.frontends.kaldi_fbank` normalised by BEATs' AudioSet constants
    (``normalization="audioset"``) or by the training split's own scalar mean/std
    (``"dataset"``).

    Batches: ``{"fbank": (B, T, n_mels), "padding_mask": (B, T), "label": (B,)}``; the training
    loader uses length buckets and drops incomplete batches. ``probe_dataloaders`` gives
    ``(train, validation)`` loaders of ``(inputs, labels)`` for ``selfsup.metrics.ProbeMonitor``.

    Bad files: an unreadable, empty or non-finite file raises
    :class:`~selfsup_audio.frontends.AudioLoadError` naming it, unless ``skip_bad_files`` (then
    it is skipped with a warning). Files not named ``{digit}_{speaker}_{take}.wav`` are ignored.

    Args:
        data_root: Directory holding ``folder`` (default ``$SELFSUP_DATA`` or ``../shared/data``).
        folder: Recordings folder under the root (default ``"fsdd/recordings"``).
        sample_rate: Model rate in Hz (default 16000). num_mel_bins: Bins (default 128).
        normalization: ``"audioset"`` (default) or ``"dataset"``.
        val_fraction: Share of training clips held out (default 0.1).
        batch_size: Clips per batch (default 64).
        patch_frames: Time patch size; batches are padded to a multiple of it (default 16).
        max_frames: Random crop of longer training clips (default None: whole clips).
        seed: Split and shuffling seed (default 0). num_workers: Loader workers (default 0).
        skip_bad_files: Skip unreadable files with a warning (default False: raise).

    Raises:
        FileNotFoundError: the folder does not exist or holds no FSDD file.
    """

    def __init__(
        self,
        data_root: str | None = None,
        folder: str = "fsdd/recordings",
        sample_rate: int = 16000,
        num_mel_bins: int = 128,
        normalization: str = "audioset",
        val_fraction: float = 0.1,
        batch_size: int = 64,
        patch_frames: int = 16,
        max_frames: int | None = None,
        seed: int = 0,
        num_workers: int = 0,
        skip_bad_files: bool = False,
    ) -> None:
        super().__init__()
        if normalization not in ("audioset", "dataset"):
            raise ValueError(
                f"normalization must be 'audioset' or 'dataset', got {normalization!r}."
            )
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}.")
        self.data_root = data_root
        self.folder = folder
        self.sample_rate = sample_rate
        self.num_mel_bins = num_mel_bins
        self.normalization = normalization
        self.val_fraction = val_fraction
        self.batch_size = batch_size
        self.patch_frames = patch_frames
        self.max_frames = max_frames
        self.seed = seed
        self.num_workers = num_workers
        self.skip_bad_files = skip_bad_files
        self.splits: dict[str, FbankSplit] = {}
        self.mean, self.std = AUDIOSET_MEAN, AUDIOSET_STD

    def directory(self) -> str:
        """The recordings folder (absolute, or relative to the working directory)."""
        root = self.data_root or default_data_root()
        path = self.folder if os.path.isabs(self.folder) else os.path.join(root, self.folder)
        if not os.path.isdir(path):
            raise FileNotFoundError(
                f"FSDD recordings folder {path!r} not found (data_root={root!r}, "
                f"folder={self.folder!r}); set data_root or the environment variable SELFSUP_DATA."
            )
        return path

    def _read(self, path: str) -> Tensor | None:
        try:
            wave = load_waveform(path, self.sample_rate)
        except AudioLoadError as err:
            if not self.skip_bad_files:
                raise
            warnings.warn(f"skipping {err}", stacklevel=3)
            return None
        return kaldi_fbank(wave, self.sample_rate, self.num_mel_bins)

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        folder = self.directory()
        files = sorted(f for f in os.listdir(folder) if parse_fsdd_name(f) is not None)
        if not files:
            raise FileNotFoundError(f"no '{{digit}}_{{speaker}}_{{take}}.wav' file in {folder!r}.")
        raw: dict[str, tuple[list[Tensor], list[int], list[str]]] = {
            "train": ([], [], []),
            "test": ([], [], []),
        }
        for name in files:
            digit, _, take = parse_fsdd_name(name)  # type: ignore[misc]
            feats = self._read(os.path.join(folder, name))
            if feats is None:
                continue
            bucket = raw["test" if take <= 4 else "train"]
            bucket[0].append(feats)
            bucket[1].append(digit)
            bucket[2].append(name)
        train_f, train_y, train_n = raw["train"]
        if not train_f:
            raise FileNotFoundError(f"no training clip (takes 5-49) in {folder!r}.")
        perm = torch.randperm(len(train_f), generator=torch.Generator().manual_seed(self.seed))
        n_val = int(round(len(train_f) * self.val_fraction))
        val_idx, fit_idx = sorted(perm[:n_val].tolist()), sorted(perm[n_val:].tolist())
        if self.normalization == "dataset":
            self.mean, self.std = fbank_statistics([train_f[i] for i in fit_idx])
        parts = {
            "train": (
                [train_f[i] for i in fit_idx],
                [train_y[i] for i in fit_idx],
                [train_n[i] for i in fit_idx],
            ),
            "val": (
                [train_f[i] for i in val_idx],
                [train_y[i] for i in val_idx],
                [train_n[i] for i in val_idx],
            ),
            "test": raw["test"],
        }
        for split, (feats, labels, names) in parts.items():
            if feats:
                self.splits[split] = FbankSplit(
                    [normalize_fbank(f, self.mean, self.std) for f in feats],
                    torch.tensor(labels, dtype=torch.long),
                    names,
                )

    def _split(self, name: str) -> FbankSplit:
        if name not in self.splits:
            raise RuntimeError(f"no {name!r} clips: call setup() first (or raise val_fraction).")
        return self.splits[name]

    def _collate(self, split: FbankSplit, train: bool, pairs: bool) -> FbankCollate:
        return FbankCollate(
            split.features,
            split.labels,
            min_frames=self.patch_frames,
            multiple_of=self.patch_frames,
            max_frames=self.max_frames if train else None,
            pairs=pairs,
        )

    def _eval_loader(self, name: str, pairs: bool = False) -> DataLoader:
        split = self._split(name)
        sampler = BucketBatchSampler(
            [f.shape[0] for f in split.features], self.batch_size, drop_last=False, seed=self.seed
        )
        # sorted, unshuffled batches: pool covers the split, batch order fixed by seed
        sampler.pool = len(split)
        return DataLoader(
            list(range(len(split))),
            batch_sampler=sampler,
            collate_fn=self._collate(split, False, pairs),
            num_workers=self.num_workers,
        )

    def train_dataloader(self) -> DataLoader:
        split = self._split("train")
        sampler = BucketBatchSampler(
            [f.shape[0] for f in split.features], self.batch_size, drop_last=True, seed=self.seed
        )
        return DataLoader(
            list(range(len(split))),
            batch_sampler=sampler,
            collate_fn=self._collate(split, True, False),
            num_workers=self.num_workers,
        )

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader("test")

    def probe_dataloaders(self) -> tuple[DataLoader, DataLoader]:
        """``(train, validation)`` loaders of ``(inputs, labels)`` pairs (never the test set)."""
        return self._eval_loader("train", pairs=True), self._eval_loader("val", pairs=True)
