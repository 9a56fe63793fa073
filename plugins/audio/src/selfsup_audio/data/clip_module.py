"""``FbankClipsDataModule``: what the audio data modules share once their clips are read.

Splits of cached, normalised fbanks; length-bucketed training batches; probe loaders; the
``selfsup embed`` loader over every clip; and the hand-over of the front-end settings (sample
rate, normalisation) as public attributes, which the methods they feed take in
``Method.bind_data`` so that an exported encoder reads waveforms the way the data module did.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from lightning.pytorch import LightningDataModule
from torch import Tensor
from torch.utils.data import DataLoader

from selfsup.data.embedding import EmbeddingBatch
from selfsup_audio.data.clips import BucketBatchSampler, FbankCollate, FbankSplit
from selfsup_audio.frontends.fbank import (
    AUDIOSET_MEAN,
    AUDIOSET_STD,
    FbankSettings,
    bind_fbank_settings,
    fbank_statistics,
    normalize_fbank,
    pad_features,
)

__all__ = ["NORMALIZATIONS", "FbankClipsDataModule", "RawSplit"]

#: ``normalization=`` values: BEATs' AudioSet constants, or the training split's statistics.
NORMALIZATIONS = ("audioset", "dataset")

#: One split before normalisation: ``(fbanks, labels or None, ids)``.
RawSplit = tuple[list[Tensor], list[int] | None, list[str]]


def _ids(values: Sequence[str | int]) -> Tensor | list[str]:
    if all(isinstance(v, int) for v in values):
        return torch.tensor(list(values), dtype=torch.long)
    return [str(v) for v in values]


class _EmbeddingCollate:
    """Clip positions -> :class:`~selfsup.data.EmbeddingBatch` of padded fbanks and masks."""

    def __init__(
        self, clips: Sequence[tuple[str | int, Tensor]], min_frames: int, multiple_of: int
    ) -> None:
        self.clips = clips
        self.min_frames = min_frames
        self.multiple_of = multiple_of

    def __call__(self, idx: list[int]) -> EmbeddingBatch:
        ids = [self.clips[i][0] for i in idx]
        fbank, mask = pad_features(
            [self.clips[i][1] for i in idx],
            min_frames=self.min_frames,
            multiple_of=self.multiple_of,
        )
        return EmbeddingBatch(_ids(ids), {"fbank": fbank, "padding_mask": mask})


class FbankClipsDataModule(LightningDataModule):
    """Base of the audio data modules: normalised Kaldi fbanks in memory, split three ways.

    A subclass reads or generates its clips in ``setup`` and hands them, unnormalised, to
    :meth:`store_splits`, which normalises them (``(F - mean) / (2 std)`` with BEATs' AudioSet
    constants, or with the scalar mean/std of the ``"train"`` split). ``sample_rate``, ``mean``
    and ``std`` are what the methods it feeds record in their ``fbank_settings`` (their
    ``bind_data``, which ``SSLModule`` calls after ``setup``); this module never looks for them.

    Batches: ``{"fbank": (B, T, n_mels), "padding_mask": (B, T), "label": (B,)}`` (no
    ``"label"`` for unlabelled clips), padded to a multiple of ``patch_frames``; the training
    loader uses length buckets, drops incomplete batches and crops clips longer than
    ``max_frames`` to a random window. ``probe_dataloaders`` gives ``(train, validation)``
    loaders of ``(inputs, labels)``; ``predict_dataloader`` (``selfsup embed``) gives every clip
    of every split once, whole and unaugmented, as :class:`~selfsup.data.EmbeddingBatch` es.

    Args:
        sample_rate: Model rate in Hz (default 16000). num_mel_bins: Bins (default 128).
        normalization: ``"audioset"`` (default) or ``"dataset"``.
        val_fraction: Share of training clips held out for validation (default 0.1).
        batch_size: Clips per batch (default 64).
        patch_frames: Time patch size; batches are padded to a multiple of it (default 16).
        max_frames: Random crop of longer training clips (default None: whole clips).
        seed: Split and shuffling seed (default 0). num_workers: Loader workers (default 0).

    Files that cannot be read: subclasses that read files and skip bad ones
    (``skip_bad_files=True``) list them in :attr:`skipped_files` (``[(file, reason), ...]``) and
    report them in one warning with their count (:meth:`report_skipped`).

    Raises:
        ValueError: an unknown ``normalization``, ``val_fraction`` outside ``[0, 1)``, or a
            ``sample_rate``, ``num_mel_bins``, ``batch_size``, ``patch_frames`` or
            ``max_frames`` below 1.

    Examples:
        >>> from selfsup_audio.frontends import kaldi_fbank
        >>> class Noise(FbankClipsDataModule):
        ...     def setup(self, stage=None):
        ...         if not self.splits:
        ...             clips = [kaldi_fbank(0.1 * torch.randn(800 * n)) for n in (1, 2, 3)]
        ...             self.store_splits({"train": (clips, None, ["a.wav", "b.wav", "c.wav"])})
        >>> batch = next(iter(Noise(batch_size=3).predict_dataloader()))
        >>> batch.ids, batch.inputs["fbank"].shape
        (['a.wav', 'b.wav', 'c.wav'], torch.Size([3, 16, 128]))
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        num_mel_bins: int = 128,
        normalization: str = "audioset",
        val_fraction: float = 0.1,
        batch_size: int = 64,
        patch_frames: int = 16,
        max_frames: int | None = None,
        seed: int = 0,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        if normalization not in NORMALIZATIONS:
            raise ValueError(
                f"normalization must be 'audioset' or 'dataset', got {normalization!r}."
            )
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}.")
        if batch_size < 1 or patch_frames < 1:
            raise ValueError(
                f"batch_size and patch_frames must be >= 1, got {batch_size}, {patch_frames}."
            )
        if sample_rate < 1 or num_mel_bins < 1:
            raise ValueError(
                f"sample_rate and num_mel_bins must be >= 1, got sample_rate={sample_rate}, "
                f"num_mel_bins={num_mel_bins}."
            )
        if max_frames is not None and max_frames < 1:
            raise ValueError(f"max_frames must be >= 1 or None (whole clips), got {max_frames}.")
        self.sample_rate = sample_rate
        self.num_mel_bins = num_mel_bins
        self.normalization = normalization
        self.val_fraction = val_fraction
        self.batch_size = batch_size
        self.patch_frames = patch_frames
        self.max_frames = max_frames
        self.seed = seed
        self.num_workers = num_workers
        self.splits: dict[str, FbankSplit] = {}
        self.mean, self.std = AUDIOSET_MEAN, AUDIOSET_STD
        self.skipped_files: list[tuple[str, str]] = []

    def report_skipped(self, total: int) -> None:
        """Warn once about the files :attr:`skipped_files` lists: how many of ``total``, and the
        first five with their reasons (one line per file would drown a large folder's log)."""
        count = len(self.skipped_files)
        if not count:
            return
        shown = "; ".join(reason for _, reason in self.skipped_files[:5])
        more = f"; and {count - 5} more" if count > 5 else ""
        warnings.warn(
            f"{type(self).__name__} skipped {count} of {total} audio files that cannot be read "
            f"(skip_bad_files=True): {shown}{more}. The full list is in .skipped_files.",
            UserWarning,
            stacklevel=3,
        )

    # -- filling the splits ----------------------------------------------------------------
    def store_splits(self, parts: Mapping[str, RawSplit]) -> None:
        """Normalise and keep unnormalised fbank splits (``"train"``, ``"val"``, ``"test"``).

        With ``normalization="dataset"`` the statistics come from ``parts["train"]`` only.
        Empty splits are left out.
        """
        if self.normalization == "dataset":
            self.mean, self.std = fbank_statistics(parts["train"][0])
        for split, (feats, labels, names) in parts.items():
            if feats:
                self.splits[split] = FbankSplit(
                    [normalize_fbank(f, self.mean, self.std) for f in feats],
                    None if labels is None else torch.tensor(labels, dtype=torch.long),
                    list(names),
                )

    def share_frontend(self, *methods: Any) -> None:
        """Write this module's sample rate and normalisation into the ``fbank_settings`` of
        ``methods`` (those without one are skipped), e.g. for a hand-written training loop.

        ``selfsup fit`` needs no call: each method takes the settings itself in
        ``Method.bind_data`` once this module is set up. Without ``methods`` this does nothing
        (it used to find the methods through the attached trainer).

        Examples:
            >>> dm.setup("fit")  # doctest: +SKIP
            >>> dm.share_frontend(method)  # doctest: +SKIP
            >>> method.fbank_settings.mean == dm.mean  # doctest: +SKIP
            True
        """
        for method in methods:
            settings = getattr(method, "fbank_settings", None)
            if isinstance(settings, FbankSettings):
                bind_fbank_settings(settings, self, "fit")

    # -- loaders ---------------------------------------------------------------------------
    def _split(self, name: str) -> FbankSplit:
        if name not in self.splits:
            raise RuntimeError(f"no {name!r} clips: call setup() first (or raise val_fraction).")
        return self.splits[name]

    def _collate(self, split: FbankSplit, train: bool, pairs: bool) -> Any:
        return FbankCollate(
            split.features,
            split.labels,
            min_frames=self.patch_frames,
            multiple_of=self.patch_frames,
            max_frames=self.max_frames if train else None,
            pairs=pairs,
        )

    def _lengths(self, split: FbankSplit) -> list[int]:
        return [f.shape[0] for f in split.features]

    def _eval_loader(self, name: str, pairs: bool = False) -> DataLoader:
        split = self._split(name)
        if pairs and split.labels is None:
            raise RuntimeError(
                f"{type(self).__name__} has no labels, so there is nothing to probe; give the "
                "clips labels or remove the ProbeMonitor callback."
            )
        sampler = BucketBatchSampler(
            self._lengths(split), self.batch_size, drop_last=False, seed=self.seed
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
            self._lengths(split), self.batch_size, drop_last=True, seed=self.seed
        )
        return DataLoader(
            list(range(len(split))),
            batch_sampler=sampler,
            collate_fn=self._collate(split, True, False),
            num_workers=self.num_workers,
        )

    def val_dataloader(self) -> DataLoader | list[Any]:
        """Validation batches (as training batches, whole clips); none with ``val_fraction=0``."""
        if self.splits and "val" not in self.splits:
            return []  # no validation split: Lightning skips validation
        return self._eval_loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader("test")

    def probe_dataloaders(self) -> tuple[DataLoader, DataLoader]:
        """``(train, validation)`` loaders of ``(inputs, labels)`` pairs (never the test set)."""
        return self._eval_loader("train", pairs=True), self._eval_loader("val", pairs=True)

    def predict_clips(self) -> list[tuple[str | int, Tensor]]:
        """``(id, normalised features)`` of every clip of every split, once, by id."""
        clips = [(n, f) for s in self.splits.values() for n, f in zip(s.names, s.features)]
        return sorted(clips, key=lambda clip: clip[0])

    def _predict_collate(self, clips: Sequence[tuple[str | int, Tensor]]) -> Any:
        return _EmbeddingCollate(clips, self.patch_frames, self.patch_frames)

    def predict_dataloader(self) -> DataLoader:
        """Every clip once, whole, as :class:`~selfsup.data.EmbeddingBatch` es (``selfsup embed``).

        Inputs are ``{"fbank": (B, T, n_mels), "padding_mask": (B, T)}`` (what the methods'
        ``embed`` reads); batches hold clips of similar length (less padding), in a fixed
        order, so rows come grouped by length: the ids say which clip each row is.
        """
        self.setup("predict")
        clips = self.predict_clips()
        # the "dataset" is the clip positions by length (stable: equal lengths keep their id
        # order), read in order by Lightning's plain sampler: no drop_last, nothing reshuffled
        order = sorted(range(len(clips)), key=lambda i: clips[i][1].shape[0])
        return DataLoader(
            order,
            batch_size=self.batch_size,
            shuffle=False,
            collate_fn=self._predict_collate(clips),
            num_workers=self.num_workers,
        )
