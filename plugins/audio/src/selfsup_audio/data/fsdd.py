"""``FSDDDataModule``: the Free Spoken Digit Dataset as cached, normalised fbank batches."""

from __future__ import annotations

import os
import re

import torch
from torch import Tensor

from selfsup.data.roots import resolve_data_root
from selfsup_audio.data.clip_module import FbankClipsDataModule, RawSplit
from selfsup_audio.data.clips import FbankSplit
from selfsup_audio.frontends.audio_io import AudioLoadError, load_waveform
from selfsup_audio.frontends.fbank import kaldi_fbank

__all__ = ["FSDDDataModule", "FbankSplit", "parse_fsdd_name"]

_NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")


def parse_fsdd_name(name: str) -> tuple[int, str, int] | None:
    """``(digit, speaker, take)`` of ``{digit}_{speaker}_{take}.wav``; None for other names.

    Examples:
        >>> parse_fsdd_name("7_jackson_32.wav")
        (7, 'jackson', 32)
    """
    match = _NAME.match(name)
    if match is None:
        return None
    return int(match.group(1)), match.group(2), int(match.group(3))


class FSDDDataModule(FbankClipsDataModule):
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
    ``(train, validation)`` loaders of ``(inputs, labels)`` for ``selfsup.metrics.ProbeMonitor``;
    ``predict_dataloader`` (``selfsup embed``) every recording once (ids: the file names), see
    :class:`~selfsup_audio.data.FbankClipsDataModule`.

    Bad files: an unreadable, empty, truncated or non-finite file raises
    :class:`~selfsup_audio.frontends.AudioLoadError` naming it, unless ``skip_bad_files`` (then
    it is skipped: one warning counts the skipped files and names the first ones, and
    :attr:`skipped_files` lists them all). Files not named ``{digit}_{speaker}_{take}.wav`` are
    ignored.

    Args:
        data_root: Folder holding ``folder`` (default None: the environment variable
            ``SELFSUP_DATA``; one of them must be given).
        folder: Recordings folder under the root, or an absolute path (then ``data_root`` is
            not needed; default ``"fsdd/recordings"``).
        sample_rate: Model rate in Hz (default 16000). num_mel_bins: Bins (default 128).
        normalization: ``"audioset"`` (default) or ``"dataset"``.
        val_fraction: Share of training clips held out (default 0.1).
        batch_size: Clips per batch (default 64).
        patch_frames: Time patch size; batches are padded to a multiple of it (default 16).
        max_frames: Random crop of longer training clips (default None: whole clips).
        seed: Split and shuffling seed (default 0). num_workers: Loader workers (default 0).
        skip_bad_files: Skip unreadable files with a warning (default False: raise).

    Raises:
        selfsup.data.DataRootError: neither ``data_root`` nor ``SELFSUP_DATA`` is given (at
            setup).
        FileNotFoundError: the folder does not exist or holds no FSDD file.

    Examples:
        >>> data = FSDDDataModule(data_root="/data", batch_size=32)  # reads /data/fsdd/recordings
        >>> data.folder
        'fsdd/recordings'
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
        super().__init__(
            sample_rate=sample_rate,
            num_mel_bins=num_mel_bins,
            normalization=normalization,
            val_fraction=val_fraction,
            batch_size=batch_size,
            patch_frames=patch_frames,
            max_frames=max_frames,
            seed=seed,
            num_workers=num_workers,
        )
        self.data_root = data_root
        self.folder = folder
        self.skip_bad_files = skip_bad_files

    def directory(self) -> str:
        """The recordings folder: ``folder`` if absolute, else under ``data_root`` /
        ``$SELFSUP_DATA``.

        Raises:
            selfsup.data.DataRootError: no root given, or the folder does not exist.
        """
        if os.path.isabs(self.folder):
            root = None
            path = self.folder
        else:
            root = resolve_data_root(
                self.data_root, owner="FSDDDataModule", parameter="data_root", must_exist=False
            )
            path = os.path.join(root, self.folder)
        if not os.path.isdir(path):
            where = f"data_root={str(root)!r}, " if root is not None else ""
            raise FileNotFoundError(
                f"FSDD recordings folder {path!r} not found ({where}folder={self.folder!r}); "
                "pass data_root= (or set the environment variable SELFSUP_DATA) to the folder "
                "that holds fsdd/recordings."
            )
        return path

    def _read(self, path: str) -> Tensor | None:
        try:
            wave = load_waveform(path, self.sample_rate)
        except AudioLoadError as err:
            if not self.skip_bad_files:
                raise
            self.skipped_files.append((os.path.basename(path), str(err)))
            return None
        return kaldi_fbank(wave, self.sample_rate, self.num_mel_bins)

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        folder = self.directory()
        files = sorted(f for f in os.listdir(folder) if parse_fsdd_name(f) is not None)
        if not files:
            raise FileNotFoundError(f"no '{{digit}}_{{speaker}}_{{take}}.wav' file in {folder!r}.")
        self.skipped_files = []
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
        self.report_skipped(len(files))
        train_f, train_y, train_n = raw["train"]
        if not train_f:
            raise FileNotFoundError(
                f"no readable training clip (takes 5-49) in {folder!r} ({len(files)} FSDD files, "
                f"{len(self.skipped_files)} skipped as unreadable)."
            )
        perm = torch.randperm(len(train_f), generator=torch.Generator().manual_seed(self.seed))
        n_val = int(round(len(train_f) * self.val_fraction))
        val_idx, fit_idx = sorted(perm[:n_val].tolist()), sorted(perm[n_val:].tolist())
        parts: dict[str, RawSplit] = {
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
        self.store_splits(parts)
