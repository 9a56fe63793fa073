"""Audio larger than memory: tar shards streamed by rank and worker (``selfsup.data.shards``).

:func:`write_audio_shards` packs the clips an audio folder or CSV manifest lists (the
layouts of :class:`~selfsup_audio.data.AudioFolderDataModule`) into shards: each file's bytes as
they are, checked to decode, with its label and id. :class:`AudioShardsDataModule` streams them
for pre-training as the fbank batches the BEATs-style methods read: each worker holds one shard
at a time, ranks and workers read disjoint shards, every rank gets the same number of batches,
and a checkpoint resumes with the very next batch, random crops included.

The fbanks are computed in the loader workers. A crop of ``max_frames`` frames is cut from the
waveform at a frame boundary before the filterbank (frames are computed window by window, so
these are exactly frames ``k .. k + max_frames - 1`` of the whole clip's fbank), which keeps the
cost of a long clip at the cost of its crop.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from selfsup.data.shard_module import ShardsDataModule
from selfsup.data.shards import ShardInfo, write_shards
from selfsup_audio.frontends.audio_io import (
    AudioLoadError,
    check_channel,
    decode_wav,
    prepare_waveform,
)
from selfsup_audio.frontends.fbank import (
    AUDIOSET_MEAN,
    AUDIOSET_STD,
    frame_span,
    kaldi_fbank,
    normalize_fbank,
    num_frames,
    pad_features,
)

__all__ = ["AUDIO_FIELDS", "AudioShardsDataModule", "write_audio_shards"]

#: Field names (file suffixes) read as the audio, in this order of preference.
AUDIO_FIELDS = ("wav", "flac", "ogg", "mp3", "opus")


def write_audio_shards(
    root: str | Path,
    out: str | Path,
    samples_per_shard: int = 1000,
    *,
    manifest: str | None = None,
    extensions: Sequence[str] = (".wav",),
    folder_labels: bool = False,
    shuffle_seed: int = 0,
) -> list[ShardInfo]:
    """Pack the clips under ``root`` (or listed in ``manifest``) into tar shards in ``out``.

    The clips are found as :class:`~selfsup_audio.data.AudioFolderDataModule` finds them (same
    ``manifest``, ``extensions`` and ``folder_labels``), shuffled once (seeded) so each shard
    holds a mix, and stored with their file bytes unchanged under their suffix, their id
    (path relative to ``root``) as ``id`` and, when labelled, their class id (labels in sorted
    order, as ``AudioFolderDataModule.classes``) as ``cls``. Every clip is decoded once while
    packing, so a shard never holds a file that cannot be read.

    Raises:
        AudioLoadError: a clip that cannot be decoded (the message names it); fix or remove it.
        FileNotFoundError, ValueError: as ``AudioFolderDataModule`` for a bad folder or manifest.

    Examples:
        >>> write_audio_shards("fsdd/recordings", "fsdd-shards", 500)  # doctest: +SKIP
    """
    from selfsup_audio.data.folder import AudioFolderDataModule

    listing = AudioFolderDataModule(
        root=str(root), manifest=manifest, extensions=extensions, folder_labels=folder_labels
    )
    base, entries = listing.clip_list()
    classes = sorted({label for _, label in entries if label is not None})
    index = {name: i for i, name in enumerate(classes)}
    order = torch.randperm(len(entries), generator=torch.Generator().manual_seed(shuffle_seed))

    def records() -> Iterator[dict[str, Any]]:
        for i, position in enumerate(order.tolist()):
            clip_id, label = entries[position]
            raw = (base / clip_id).read_bytes()
            decode_wav(raw, str(base / clip_id))  # refuse a bad file now, not mid-training
            record: dict[str, Any] = {"__key__": f"{i:08d}", "id": clip_id}
            record[Path(clip_id).suffix.lower().lstrip(".") or "wav"] = raw
            if label is not None:
                record["cls"] = str(index[label])
            yield record

    return write_shards(records(), out, samples_per_shard=samples_per_shard)


class _DecodeClip:
    """Shard sample -> ``(normalised fbank (T, n_mels), label)`` (picklable for workers)."""

    def __init__(self, data: AudioShardsDataModule) -> None:
        self.sample_rate = data.sample_rate
        self.num_mel_bins = data.num_mel_bins
        self.max_frames = data.max_frames
        self.mean, self.std = data.mean, data.std
        self.channel = data.channel
        self.label_field = data.label_field

    def _crop(self, wave: Tensor, seed: int) -> Tensor:
        frames = num_frames(wave.numel(), self.sample_rate)
        if self.max_frames is None or frames <= self.max_frames:
            return wave
        gen = torch.Generator().manual_seed(seed)
        first = int(torch.randint(0, frames - self.max_frames + 1, (1,), generator=gen))
        start, stop = frame_span(first, self.max_frames, self.sample_rate)
        return wave[start:stop]

    def __call__(self, sample: dict[str, Any]) -> tuple[Tensor, int]:
        key = sample["__key__"]
        field = next((f for f in AUDIO_FIELDS if f in sample), None)
        if field is None:
            raise AudioLoadError(
                f"shard sample {key!r} has no audio field (one of {AUDIO_FIELDS}); its fields: "
                f"{sorted(k for k in sample if not k.startswith('__'))}."
            )
        name = sample["id"].decode() if "id" in sample else f"{key}.{field}"
        source = f"{name} (shard sample {key})"
        waveform, rate = decode_wav(sample[field], source)
        wave = prepare_waveform(waveform, rate, self.sample_rate, self.channel, source=source)
        wave = self._crop(wave, int(sample.get("__seed__", 0)))
        fbank = kaldi_fbank(wave, self.sample_rate, self.num_mel_bins)
        raw = sample.get(self.label_field)
        label = int(raw.decode()) if raw is not None else -1
        return normalize_fbank(fbank, self.mean, self.std), label


class _PadClips:
    """``[(fbank, label), ...]`` -> ``{"fbank", "padding_mask", "label"}`` (picklable)."""

    def __init__(self, patch_frames: int) -> None:
        self.patch_frames = patch_frames

    def __call__(self, items: list[tuple[Tensor, int]]) -> dict[str, Tensor]:
        fbank, mask = pad_features(
            [f for f, _ in items], min_frames=self.patch_frames, multiple_of=self.patch_frames
        )
        labels = torch.tensor([label for _, label in items], dtype=torch.long)
        return {"fbank": fbank, "padding_mask": mask, "label": labels}


class AudioShardsDataModule(ShardsDataModule):
    """Pre-training clips streamed from tar shards, for audio larger than memory.

    Batches are ``{"fbank": (B, T, n_mels), "padding_mask": (B, T), "label": (B,)}`` as the
    in-memory audio modules give (``label`` is ``-1`` for a clip without ``cls``): Kaldi fbanks
    normalised ``(F - mean) / (2 std)``, zero-padded to the batch's longest clip and a multiple
    of ``patch_frames``, longer clips cut to a random ``max_frames`` window (seeded by the
    sample's place in the run, so a resumed run draws the same). ``sample_rate``, ``mean`` and
    ``std`` are what the BEATs methods record in ``bind_data``. Under DDP every rank streams
    its own shards; no sampler is injected.

    The streamed statistics cannot be known before the stream is read, so normalisation uses
    ``mean``/``std`` as given: BEATs' AudioSet constants by default, or your data set's (e.g.
    :func:`~selfsup_audio.frontends.fbank_statistics` of a sample of clips).

    Args:
        folder: The shard folder (with ``index.json``), absolute or under ``data_root``.
        batch_size: Clips per batch (default 64).
        sample_rate: Model rate in Hz; clips are resampled to it (default 16000).
        num_mel_bins: Mel bands (default 128).
        patch_frames: Time patch; batches are padded to a multiple of it (default 16).
        max_frames: Random crop of longer clips, in frames (default 1024, about 10 s; None:
            whole clips).
        mean, std: Normalisation statistics (default: AudioSet's).
        channel: How multi-channel clips become mono (``"mean"``, ``"left"``, ``"right"``, an
            index; default ``"mean"``).
        data_root: Base of a relative ``folder`` (default: ``$SELFSUP_DATA``).
        num_workers: Loader workers per rank (default 0).
        shuffle: Shuffle shards per epoch and clips within each shard (default True).
        seed: Seed of that shuffling and of the crops.
        label_field: The field holding the class id (default ``"cls"``).

    Raises:
        ValueError: a size below 1, ``std <= 0`` or a bad ``channel``; at ``setup``: no index,
            missing shards, too few shards for the ranks x workers.
        AudioLoadError: while streaming, a clip that cannot be decoded (named with its id).

    Examples:
        >>> data = AudioShardsDataModule("fsdd-shards", batch_size=32, max_frames=256)
        ... # doctest: +SKIP
    """

    def __init__(
        self,
        folder: str,
        batch_size: int = 64,
        sample_rate: int = 16000,
        num_mel_bins: int = 128,
        patch_frames: int = 16,
        max_frames: int | None = 1024,
        mean: float = AUDIOSET_MEAN,
        std: float = AUDIOSET_STD,
        channel: str | int = "mean",
        data_root: str | None = None,
        num_workers: int = 0,
        shuffle: bool = True,
        seed: int = 0,
        label_field: str = "cls",
    ) -> None:
        sizes = {
            "sample_rate": sample_rate,
            "num_mel_bins": num_mel_bins,
            "patch_frames": patch_frames,
            "max_frames": 1 if max_frames is None else max_frames,
        }
        small = {k: v for k, v in sizes.items() if v < 1}
        if small:
            raise ValueError(f"these sizes must be >= 1 (max_frames may be None): {small}.")
        if not std > 0:
            raise ValueError(f"std must be > 0, got {std}.")
        super().__init__(folder, batch_size, data_root, num_workers, shuffle, seed)
        self.sample_rate = sample_rate
        self.num_mel_bins = num_mel_bins
        self.patch_frames = patch_frames
        self.max_frames = max_frames
        self.mean = float(mean)
        self.std = float(std)
        self.channel = check_channel(channel)
        self.label_field = label_field

    def decoder(self) -> _DecodeClip:
        return _DecodeClip(self)

    def collate(self) -> _PadClips:
        return _PadClips(self.patch_frames)
