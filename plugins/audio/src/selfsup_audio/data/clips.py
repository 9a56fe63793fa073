"""In-memory fbank clips: splits, padded batches with padding masks, length-bucketed sampling."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.utils.data import Sampler

from selfsup_audio.frontends.fbank import pad_features

__all__ = ["BucketBatchSampler", "FbankCollate", "FbankSplit"]


@dataclass
class FbankSplit:
    """Cached normalised fbanks of one split.

    Attributes:
        features: ``[(T_i, n_mels), ...]`` float32 (or ``[(N_i,), ...]`` waveforms for
            :class:`~selfsup_audio.data.AudioFolderDataModule` with ``features="waveform"``).
        labels: ``(N,)`` class ids, or ``None`` for unlabelled clips.
        names: Clip ids in the same order (file names / paths relative to the data folder).
    """

    features: list[Tensor]
    labels: Tensor | None
    names: list[str]

    def __len__(self) -> int:
        return len(self.features)


class FbankCollate:
    """Collate clip indices into ``{"fbank", "padding_mask", "label"}`` (or an
    ``(inputs, labels)`` pair with ``pairs=True``, the probe format). Unlabelled clips
    (``labels=None``) give ``{"fbank", "padding_mask"}``.

    Frames are zero-padded (0 is the mean of normalised features) to the batch's longest clip,
    at least ``min_frames`` and a multiple of ``multiple_of`` (the time patch). With
    ``max_frames`` a longer clip is cut to a random window of that many frames (training only:
    bounds the cost of the rare long clips).

    Args:
        features: Normalised fbanks ``[(T_i, n_mels), ...]``.
        labels: Class per clip ``(N,)`` long, or None (no ``"label"`` entry; no ``pairs``).
        min_frames, multiple_of: Padding rules (default 16, 16).
        max_frames: Random-crop length (default None: whole clips).
        pairs: Yield ``(inputs, labels)`` (default False).
        generator: RNG for crops (default None: global).
    """

    def __init__(
        self,
        features: Sequence[Tensor],
        labels: Tensor | None,
        min_frames: int = 16,
        multiple_of: int = 16,
        max_frames: int | None = None,
        pairs: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        if pairs and labels is None:
            raise ValueError("FbankCollate(pairs=True) needs labels: probes need class ids.")
        self.features = features
        self.labels = labels
        self.min_frames = min_frames
        self.multiple_of = multiple_of
        self.max_frames = max_frames
        self.pairs = pairs
        self.generator = generator

    def _crop(self, f: Tensor) -> Tensor:
        if self.max_frames is None or f.shape[0] <= self.max_frames:
            return f
        start = int(
            torch.randint(0, f.shape[0] - self.max_frames + 1, (1,), generator=self.generator)
        )
        return f[start : start + self.max_frames]

    def __call__(self, idx: list[int]) -> object:
        clips = [self._crop(self.features[i]) for i in idx]
        fbank, mask = pad_features(clips, min_frames=self.min_frames, multiple_of=self.multiple_of)
        if self.labels is None:
            return {"fbank": fbank, "padding_mask": mask}
        labels = self.labels[torch.as_tensor(idx, dtype=torch.long)]
        if self.pairs:
            return {"fbank": fbank, "padding_mask": mask}, labels
        return {"fbank": fbank, "padding_mask": mask, "label": labels}


class BucketBatchSampler(Sampler[list[int]]):
    """Shuffled batches of clips of similar length (less padding, faster CPU epochs).

    Each epoch: shuffle, cut into pools of ``pool_batches * batch_size`` clips, sort each pool by
    length, cut into batches, shuffle the batches. Deterministic given ``seed`` and the epoch
    count (incremented per ``__iter__``).

    Args:
        lengths: Frames per clip. batch_size: Clips per batch.
        drop_last: Drop each pool's incomplete batch (default True).
        pool_batches: Batches per sorting pool (default 50). seed: RNG seed (default 0).
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        drop_last: bool = True,
        pool_batches: int = 50,
        seed: int = 0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
        self.lengths = torch.as_tensor(list(lengths))
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.pool = pool_batches * batch_size
        self.seed = seed
        self.epoch = 0

    def _batches(self) -> list[list[int]]:
        return self.batches_for(self.seed + self.epoch)

    def batches_for(self, key: int) -> list[list[int]]:
        """The batches of the pass whose generator is seeded with ``key`` (pure function).

        ``selfsup.experiment.make_resumable`` uses it to replay any pass exactly after a resume.
        """
        gen = torch.Generator().manual_seed(int(key))
        order = torch.randperm(len(self.lengths), generator=gen)
        batches: list[list[int]] = []
        for start in range(0, len(order), self.pool):
            pool = order[start : start + self.pool]
            pool = pool[self.lengths[pool].argsort(stable=True)]
            for b in range(0, len(pool), self.batch_size):
                chunk = pool[b : b + self.batch_size].tolist()
                if len(chunk) == self.batch_size or not self.drop_last:
                    batches.append(chunk)
        perm = torch.randperm(len(batches), generator=gen).tolist()
        return [batches[i] for i in perm]

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._batches()
        self.epoch += 1
        return iter(batches)

    def __len__(self) -> int:
        n = len(self.lengths)
        full = sum(min(self.pool, n - s) // self.batch_size for s in range(0, n, self.pool))
        if self.drop_last:
            return full
        return sum(-(-min(self.pool, n - s) // self.batch_size) for s in range(0, n, self.pool))
