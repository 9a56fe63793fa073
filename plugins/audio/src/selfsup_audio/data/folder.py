"""``AudioFolderDataModule``: your own recordings, as a folder of audio files or a CSV manifest.

The CSV format lives in :mod:`selfsup_audio.data.manifest` and the waveform batches in
:mod:`selfsup_audio.data.waveform_batches`; :data:`MANIFEST_COLUMNS` and
:class:`WaveformCollate` are re-exported here, so ``selfsup_audio.data.folder.<name>`` imports
keep working.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import torch
from torch import Tensor

from selfsup.data.roots import data_root_or_none, resolve_data_root
from selfsup_audio.data.clip_module import FbankClipsDataModule, RawSplit
from selfsup_audio.data.clips import FbankSplit
from selfsup_audio.data.manifest import MANIFEST_COLUMNS, read_manifest
from selfsup_audio.data.waveform_batches import WaveformCollate, WaveformEmbeddingCollate
from selfsup_audio.frontends.audio_io import (
    AudioLoadError,
    check_channel,
    prepare_waveform,
    read_wav,
)
from selfsup_audio.frontends.fbank import kaldi_fbank

__all__ = ["MANIFEST_COLUMNS", "AudioFolderDataModule", "WaveformCollate"]

_FEATURES = ("fbank", "waveform")


class AudioFolderDataModule(FbankClipsDataModule):
    """Your own recordings: every audio file under a folder, or the files a CSV manifest lists.

    Two layouts:

    - **folder** (``manifest=None``): every file under ``root`` (recursively, hidden files and
      folders skipped) whose suffix is in ``extensions``. With ``folder_labels=True`` a clip's
      label is its first sub-folder (``root/dog/a.wav`` is a ``dog``), otherwise clips are
      unlabelled.
    - **manifest** (``manifest="clips.csv"``, UTF-8): a CSV with a header row, a ``path``
      column and optionally a ``label`` column and a ``sample_rate`` column (each file's rate
      in Hz as you expect it: a file whose header says otherwise is refused); paths are relative
      to the CSV's folder (or absolute). Other columns are ignored; blank rows are skipped.

    A clip's id (``selfsup embed``'s ``id`` column) is its path relative to ``root`` (folder)
    or as written in the manifest, with ``/`` separators. Files are read with
    :func:`~selfsup_audio.frontends.read_wav` (PCM and float WAV need nothing else, other
    formats ``pip install 'selfsup-audio[soundfile]'``), made mono (``channel``: the mean of
    the channels, with a :class:`~selfsup_audio.frontends.DownmixWarning` naming any file whose
    channels cancel out, or one channel) and resampled to ``sample_rate``.

    ``features="fbank"`` (default) caches normalised Kaldi fbanks in memory and yields what the
    BEATs methods read (see :class:`~selfsup_audio.data.FbankClipsDataModule`): training
    batches of random ``max_frames`` crops, padded, with frame padding masks;
    ``predict_dataloader`` gives every clip once, whole. ``features="waveform"`` caches the
    waveforms and yields what :class:`~selfsup_audio.methods.COLA` reads: ``(B, clip_samples)``
    training batches (a random window of longer clips, zero padding after shorter ones) and
    ``{"waveform": (B, N), "lengths": (B,)}`` for probes and ``selfsup embed``.

    Labels (strings) become class ids in sorted order (:attr:`classes`); they are used by probes
    (``ProbeMonitor``) and fine-tuning only. ``val_fraction`` and ``test_fraction`` of the clips
    (seeded) form the validation and test splits; ``selfsup embed`` embeds all three.

    Everything is computed once and kept in memory: about 51 kB per second of audio for
    128-bin fbanks (some 180 MB per hour), 64 kB per second for 16 kHz waveforms.

    Args:
        root: The audio folder, or the folder a relative ``manifest`` path starts from (default
            None: the environment variable ``SELFSUP_DATA``).
        manifest: CSV file listing the clips (default None: read the folder). A relative path
            is taken from ``root`` / ``SELFSUP_DATA`` when one is given, else from the working
            directory.
        extensions: Suffixes read in folder mode (default ``[".wav"]``; case-insensitive).
        folder_labels: Label clips by their first sub-folder (default False).
        features: ``"fbank"`` (default) or ``"waveform"``.
        sample_rate: Model rate in Hz (default 16000). num_mel_bins: Bins (default 128).
        normalization: ``"audioset"`` (default, BEATs' constants) or ``"dataset"``.
        val_fraction: Share of clips for validation (default 0.1).
        test_fraction: Share of clips for testing (default 0.0).
        batch_size: Clips per batch (default 32).
        patch_frames: Time patch size; fbank batches are padded to a multiple of it (default 16).
        max_frames: Random crop of longer training clips, in frames (default 1024, ~10 s).
        clip_samples: Waveform mode: training clip length in samples (default 32000, 2 s).
        seed: Split and crop seed (default 0). num_workers: Loader workers (default 0).
        skip_bad_files: Skip files that cannot be read (missing, corrupt, truncated, NaN, a
            rate other than the manifest's) with one warning that counts them (default False:
            raise). :attr:`skipped_files` lists them.
        channel: How multi-channel files become mono: ``"mean"`` (default), ``"left"``,
            ``"right"`` or a channel index (mono files are read as they are).

    Raises:
        selfsup.data.DataRootError: folder mode with neither ``root`` nor ``SELFSUP_DATA``, or a
            ``root`` that does not exist.
        FileNotFoundError: no audio file found, or a manifest path that does not exist.
        ValueError: bad arguments; a manifest that is not UTF-8, has no ``path`` column, a
            column named like a known one in another case (``Label``), a row with more or fewer
            cells than the header, an empty ``path``, a file listed twice, an empty ``label``
            in a ``label`` column or a ``sample_rate`` cell that is not a whole number > 0; or
            ``folder_labels`` with files directly in ``root``.
        AudioLoadError: a file that cannot be read (unless ``skip_bad_files``); for a manifest
            the message starts with the manifest's path and line.

    Examples:
        >>> data = AudioFolderDataModule(root="/data/my_audio", batch_size=16)
        >>> data.features, data.max_frames
        ('fbank', 1024)
    """

    def __init__(
        self,
        root: str | None = None,
        manifest: str | None = None,
        extensions: Sequence[str] = (".wav",),
        folder_labels: bool = False,
        features: str = "fbank",
        sample_rate: int = 16000,
        num_mel_bins: int = 128,
        normalization: str = "audioset",
        val_fraction: float = 0.1,
        test_fraction: float = 0.0,
        batch_size: int = 32,
        patch_frames: int = 16,
        max_frames: int | None = 1024,
        clip_samples: int = 32000,
        seed: int = 0,
        num_workers: int = 0,
        skip_bad_files: bool = False,
        channel: str | int = "mean",
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
        if features not in _FEATURES:
            raise ValueError(f"features must be 'fbank' or 'waveform', got {features!r}.")
        if not 0.0 <= test_fraction < 1.0 or val_fraction + test_fraction >= 1.0:
            raise ValueError(
                f"need 0 <= test_fraction and val_fraction + test_fraction < 1, got "
                f"val_fraction={val_fraction}, test_fraction={test_fraction}."
            )
        if clip_samples < 1:
            raise ValueError(f"clip_samples must be >= 1, got {clip_samples}.")
        if isinstance(extensions, str):
            extensions = [extensions]
        if not extensions:
            raise ValueError("extensions must name at least one suffix, e.g. ['.wav'].")
        self.root = root
        self.manifest = manifest
        self.extensions = tuple(f".{e.lower().lstrip('.')}" for e in extensions)
        self.folder_labels = folder_labels
        self.features = features
        self.test_fraction = test_fraction
        self.clip_samples = clip_samples
        self.skip_bad_files = skip_bad_files
        self.channel = check_channel(channel)
        self.classes: list[str] = []
        # manifest mode: clip id -> (manifest line, declared sample rate or None), for messages
        # and the rate check
        self._rows: dict[str, tuple[int, int | None]] = {}
        self._manifest_file: Path | None = None

    # -- finding the files -----------------------------------------------------------------
    def _manifest_path(self) -> Path:
        path = Path(str(self.manifest)).expanduser()
        if not path.is_absolute():
            base = data_root_or_none(self.root)
            path = (base / path) if base is not None else path
        if not path.is_file():
            raise FileNotFoundError(
                f"AudioFolderDataModule: the manifest {str(path)!r} does not exist (manifest="
                f"{self.manifest!r}, root={self.root!r}); a relative manifest path starts at "
                "root= (or SELFSUP_DATA) when one is given, else at the working directory."
            )
        return path

    def _read_manifest(self) -> tuple[Path, list[tuple[str, str | None]]]:
        path = self._manifest_path()
        self._rows = {}
        entries, self._rows = read_manifest(path)
        self._manifest_file = path
        return path.parent, entries

    def _scan_folder(self) -> tuple[Path, list[tuple[str, str | None]]]:
        root = resolve_data_root(self.root, owner="AudioFolderDataModule", parameter="root")
        files = []
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in filenames:
                if not name.startswith(".") and Path(name).suffix.lower() in self.extensions:
                    files.append(Path(dirpath, name).relative_to(root).as_posix())
        if not files:
            raise FileNotFoundError(
                f"AudioFolderDataModule: no {'/'.join(self.extensions)} file under {str(root)!r}; "
                "check root= (or SELFSUP_DATA) and extensions=."
            )
        entries: list[tuple[str, str | None]] = []
        for rel in sorted(files):
            label = None
            if self.folder_labels:
                parts = PurePosixPath(rel).parts
                if len(parts) < 2:
                    raise ValueError(
                        f"AudioFolderDataModule(folder_labels=True): {rel!r} is directly in "
                        f"{str(root)!r}; put each clip in a sub-folder named after its label."
                    )
                label = parts[0]
            entries.append((rel, label))
        return root, entries

    def clip_list(self) -> tuple[Path, list[tuple[str, str | None]]]:
        """``(folder the ids are relative to, [(id, label or None), ...])``, sorted by id."""
        if self.manifest is not None:
            base, entries = self._read_manifest()
        else:
            base, entries = self._scan_folder()
        return base, sorted(entries)

    def _read(self, base: Path, clip_id: str) -> Tensor | None:
        path = str(base / clip_id)
        line, declared = self._rows.get(clip_id, (0, None))
        try:
            waveform, rate = read_wav(path)
            if declared is not None and declared != rate:
                raise AudioLoadError(
                    f"audio file {path!r} is {rate} Hz by its header, but the manifest declares "
                    f"{declared} Hz: one of them is wrong (a wrong header plays the clip at the "
                    "wrong speed and pitch); fix the sample_rate cell or re-export the file."
                )
            wave = prepare_waveform(waveform, rate, self.sample_rate, self.channel, source=path)
        except AudioLoadError as err:
            message = f"{self._manifest_file}, line {line}: {err}" if line else str(err)
            if not self.skip_bad_files:
                raise AudioLoadError(message) from err
            self.skipped_files.append((clip_id, message))
            return None
        if self.features == "waveform":
            return wave
        return kaldi_fbank(wave, self.sample_rate, self.num_mel_bins)

    # -- setup -----------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        base, entries = self.clip_list()
        self.skipped_files = []
        feats, names, raw_labels = [], [], []
        for clip_id, label in entries:
            f = self._read(base, clip_id)
            if f is None:
                continue
            feats.append(f)
            names.append(clip_id)
            raw_labels.append(label)
        self.report_skipped(len(entries))
        if not feats:
            raise FileNotFoundError(
                f"AudioFolderDataModule: no readable clip under {str(base)!r} (all "
                f"{len(entries)} skipped as unreadable)."
            )
        labels = None
        self.classes = []
        if raw_labels[0] is not None:
            self.classes = sorted({str(v) for v in raw_labels})
            index = {name: i for i, name in enumerate(self.classes)}
            labels = [index[str(v)] for v in raw_labels]
        n = len(feats)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed)).tolist()
        n_val = int(round(n * self.val_fraction))
        n_test = int(round(n * self.test_fraction))
        if n - n_val - n_test < 1:
            raise ValueError(
                f"AudioFolderDataModule: {n} clips leave none for training with val_fraction="
                f"{self.val_fraction} and test_fraction={self.test_fraction}."
            )
        groups = {
            "val": sorted(perm[:n_val]),
            "test": sorted(perm[n_val : n_val + n_test]),
            "train": sorted(perm[n_val + n_test :]),
        }
        parts: dict[str, RawSplit] = {
            split: (
                [feats[i] for i in idx],
                None if labels is None else [labels[i] for i in idx],
                [names[i] for i in idx],
            )
            for split, idx in groups.items()
        }
        if self.features == "fbank":
            self.store_splits(parts)
            return
        for split, (waves, split_labels, split_names) in parts.items():
            if waves:
                y = None if split_labels is None else torch.tensor(split_labels, dtype=torch.long)
                self.splits[split] = FbankSplit(waves, y, split_names)

    # -- waveform batches ------------------------------------------------------------------
    def _collate(self, split: FbankSplit, train: bool, pairs: bool) -> Any:
        if self.features == "fbank":
            return super()._collate(split, train, pairs)
        return WaveformCollate(
            split.features,
            split.labels,
            None if pairs else self.clip_samples,
            train=train,
            pairs=pairs,
        )

    def _predict_collate(self, clips: Sequence[tuple[str | int, Tensor]]) -> Any:
        if self.features == "fbank":
            return super()._predict_collate(clips)
        return WaveformEmbeddingCollate(clips)
