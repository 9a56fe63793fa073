"""Waveform batches of :class:`~selfsup_audio.data.AudioFolderDataModule` (``features=
"waveform"``, what COLA reads): fixed-length training windows, whole padded clips with their
lengths for probes and ``selfsup embed``.

Split out of :mod:`selfsup_audio.data.folder`, which re-exports :class:`WaveformCollate`
(``selfsup_audio.data.folder.WaveformCollate`` is this class).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from selfsup.data.embedding import EmbeddingBatch
from selfsup_audio.data.clip_module import _ids

__all__ = ["WaveformCollate", "WaveformEmbeddingCollate"]


def _pad_waveforms(waves: Sequence[Tensor], length: int | None = None) -> tuple[Tensor, Tensor]:
    """Zero-padded ``(B, max(N_i))`` waveforms (or ``(B, length)``) and their lengths ``(B,)``."""
    lengths = torch.tensor([w.numel() for w in waves], dtype=torch.long)
    size = int(lengths.max()) if length is None else length
    out = torch.zeros(len(waves), size)
    for i, w in enumerate(waves):
        n = min(w.numel(), size)
        out[i, :n] = w[:n]
    return out, lengths.clamp(max=size)


class WaveformCollate:
    """Collate clip indices of mono waveforms into the batches COLA reads.

    - ``clip_samples`` set (training and validation): a ``(B, clip_samples)`` tensor; longer
      clips are cut to a window (random with ``train``, else the first ``clip_samples``),
      shorter ones zero-padded at the end.
    - ``clip_samples=None`` (probes, embedding): whole clips, ``{"waveform": (B, N), "lengths":
      (B,)}`` with ``N`` the longest clip and zeros after each clip's length; with ``pairs``
      an ``(inputs, labels)`` pair.

    Args:
        waveforms: ``[(N_i,), ...]`` mono float waveforms.
        labels: ``(len(waveforms),)`` class ids or None.
        clip_samples: Fixed length, or None for whole clips.
        train: Random windows (default False: the first ``clip_samples``).
        pairs: Return ``(inputs, labels)`` (default False).
        generator: RNG of the random windows (default None: global).

    Examples:
        >>> collate = WaveformCollate([torch.ones(5), torch.ones(3)], None, clip_samples=4)
        >>> collate([0, 1]).tolist()
        [[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 0.0]]
    """

    def __init__(
        self,
        waveforms: Sequence[Tensor],
        labels: Tensor | None,
        clip_samples: int | None,
        train: bool = False,
        pairs: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        if pairs and labels is None:
            raise ValueError("WaveformCollate(pairs=True) needs labels: probes need class ids.")
        self.waveforms = waveforms
        self.labels = labels
        self.clip_samples = clip_samples
        self.train = train
        self.pairs = pairs
        self.generator = generator

    def _window(self, w: Tensor, size: int) -> Tensor:
        if w.numel() <= size:
            return w
        start = 0
        if self.train:
            start = int(torch.randint(0, w.numel() - size + 1, (1,), generator=self.generator))
        return w[start : start + size]

    def __call__(self, idx: list[int]) -> Any:
        if self.clip_samples is not None:
            clips = [self._window(self.waveforms[i], self.clip_samples) for i in idx]
            return _pad_waveforms(clips, self.clip_samples)[0]
        wave, lengths = _pad_waveforms([self.waveforms[i] for i in idx])
        inputs = {"waveform": wave, "lengths": lengths}
        if self.pairs:
            assert self.labels is not None  # checked in __init__
            return inputs, self.labels[torch.as_tensor(idx, dtype=torch.long)]
        return inputs


class WaveformEmbeddingCollate:
    """Collate ``selfsup embed`` batches of whole waveforms: ids and ``{"waveform", "lengths"}``."""

    def __init__(self, clips: Sequence[tuple[str | int, Tensor]]) -> None:
        self.clips = clips

    def __call__(self, idx: list[int]) -> EmbeddingBatch:
        wave, lengths = _pad_waveforms([self.clips[i][1] for i in idx])
        ids = _ids([self.clips[i][0] for i in idx])
        return EmbeddingBatch(ids, {"waveform": wave, "lengths": lengths})
