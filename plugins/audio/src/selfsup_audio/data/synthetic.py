"""``SyntheticClipsDataModule``: labelled audio generated on the fly (no files, no downloads).

For quickstarts, tests and mixed-modality demos that must run anywhere. Each of ``num_classes``
classes is a harmonic tone with its own pitch contour; clips vary in length, pitch, loudness and
noise so that the classes are learnable but not trivially separable by one number.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from selfsup_audio.data.clip_module import FbankClipsDataModule
from selfsup_audio.frontends.fbank import kaldi_fbank

__all__ = ["SyntheticClipsDataModule", "synthetic_clip"]


def synthetic_clip(
    label: int,
    num_classes: int,
    generator: torch.Generator,
    sample_rate: int = 16000,
    min_seconds: float = 0.4,
    max_seconds: float = 1.0,
) -> Tensor:
    """One clip of class ``label``: a 3-harmonic tone whose pitch glides, in noise.

    .. math::

        x(t) = a\\, e(t) \\sum_{h=1}^{3} h^{-1} \\sin\\!\\big(2\\pi h \\textstyle\\int_0^t f(s) ds
        \\big) + \\sigma \\varepsilon(t), \\qquad
        f(s) = f_c \\, 2^{\\,g_c s / T} (1 + \\delta)

    with ``f_c = 200 \\cdot 2^{2c/K}`` Hz (classes two octaves apart at most), glide ``g_c`` of
    ``+1/2`` octave for even and ``-1/2`` for odd classes, pitch jitter ``delta ~ U(-4%, 4%)``,
    amplitude ``a ~ U(0.2, 0.8)``, a raised-cosine envelope ``e``, noise ``sigma = a / snr`` with
    ``snr ~ U(3, 30)`` and duration ``T ~ U(min_seconds, max_seconds)``.

    Shapes:
        returns ``(samples,)`` float32 in ``[-1, 1]``.
    """
    u = torch.rand(5, generator=generator, dtype=torch.float64).tolist()
    seconds = min_seconds + (max_seconds - min_seconds) * u[0]
    n = max(int(seconds * sample_rate), 1)
    t = torch.arange(n, dtype=torch.float64) / sample_rate
    base = 200.0 * 2.0 ** (2.0 * label / num_classes) * (1.0 + 0.08 * (u[1] - 0.5))
    glide = 0.5 if label % 2 == 0 else -0.5
    freq = base * 2.0 ** (glide * t / seconds)
    phase = 2.0 * math.pi * torch.cumsum(freq, 0) / sample_rate
    tone = sum(torch.sin(h * phase) / h for h in (1, 2, 3))
    envelope = torch.sin(math.pi * t / seconds).clamp_min(0.0) ** 0.5
    amplitude = 0.2 + 0.6 * u[2]
    noise = torch.randn(n, generator=generator, dtype=torch.float64) * amplitude / (3 + 27 * u[3])
    wave = amplitude * envelope * tone / 1.84 + noise  # 1.84 = max of the harmonic sum
    return wave.clamp(-1.0, 1.0).float()


class SyntheticClipsDataModule(FbankClipsDataModule):
    """Generated labelled clips with the batches, splits and probes of the FSDD data module.

    ``num_clips`` clips (``seed``-reproducible, classes balanced) are generated at setup, turned
    into Kaldi fbanks and normalised by the training split's own mean/std; ``test_fraction`` of
    them form the test split and ``val_fraction`` of the rest the validation split. Batches are
    ``{"fbank": (B, T, n_mels), "padding_mask": (B, T), "label": (B,)}`` and
    ``probe_dataloaders()`` returns ``(train, validation)`` loaders, exactly as for FSDD, so every
    audio method and ``selfsup.metrics.ProbeMonitor`` work unchanged. ``predict_dataloader``
    (``selfsup embed``) gives every clip once; its ids are the clip numbers ``0 .. num_clips - 1``
    (generation order: the same for the same ``seed``).

    Args:
        num_clips: Clips generated in total (default 600).
        num_classes: Tone classes (default 10).
        sample_rate: Rate in Hz (default 16000). num_mel_bins: Bins (default 128).
        min_seconds, max_seconds: Clip duration range (default 0.4 to 1.0 s).
        test_fraction: Share of clips in the test split (default 0.2).
        val_fraction: Share of the remaining clips held out for validation (default 0.1).
        batch_size, patch_frames, max_frames, seed, num_workers: As for ``FSDDDataModule``.

    Raises:
        ValueError: Fewer clips than two per class, or fractions outside ``[0, 1)``.

    Examples:
        >>> data = SyntheticClipsDataModule(num_clips=40, num_classes=4, num_mel_bins=32)
        >>> data.setup("fit")
        >>> sorted(data.splits)
        ['test', 'train', 'val']
    """

    def __init__(
        self,
        num_clips: int = 600,
        num_classes: int = 10,
        sample_rate: int = 16000,
        num_mel_bins: int = 128,
        min_seconds: float = 0.4,
        max_seconds: float = 1.0,
        test_fraction: float = 0.2,
        val_fraction: float = 0.1,
        batch_size: int = 64,
        patch_frames: int = 16,
        max_frames: int | None = None,
        seed: int = 0,
        num_workers: int = 0,
    ) -> None:
        super().__init__(
            sample_rate=sample_rate,
            num_mel_bins=num_mel_bins,
            normalization="dataset",
            val_fraction=val_fraction,
            batch_size=batch_size,
            patch_frames=patch_frames,
            max_frames=max_frames,
            seed=seed,
            num_workers=num_workers,
        )
        if num_classes < 2 or num_clips < 2 * num_classes:
            raise ValueError(
                f"need num_classes >= 2 and at least two clips per class, got {num_clips} clips "
                f"for {num_classes} classes."
            )
        if not 0.0 <= test_fraction < 1.0:
            raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction}.")
        if not 0.0 < min_seconds <= max_seconds:
            raise ValueError(
                f"need 0 < min_seconds <= max_seconds, got {min_seconds}, {max_seconds}."
            )
        self.num_clips = int(num_clips)
        self.num_classes = int(num_classes)
        self.min_seconds, self.max_seconds = float(min_seconds), float(max_seconds)
        self.test_fraction = float(test_fraction)

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        gen = torch.Generator().manual_seed(self.seed)
        labels = torch.arange(self.num_clips) % self.num_classes
        labels = labels[torch.randperm(self.num_clips, generator=gen)]
        feats = [
            kaldi_fbank(
                synthetic_clip(
                    int(y),
                    self.num_classes,
                    gen,
                    self.sample_rate,
                    self.min_seconds,
                    self.max_seconds,
                ),
                self.sample_rate,
                self.num_mel_bins,
            )
            for y in labels.tolist()
        ]
        n_test = int(round(self.num_clips * self.test_fraction))
        n_val = int(round((self.num_clips - n_test) * self.val_fraction))
        bounds = {
            "test": (0, n_test),
            "val": (n_test, n_test + n_val),
            "train": (n_test + n_val, self.num_clips),
        }
        self.store_splits(
            {
                split: (
                    feats[lo:hi],
                    labels[lo:hi].tolist(),
                    [f"synthetic_{i}" for i in range(lo, hi)],
                )
                for split, (lo, hi) in bounds.items()
            }
        )

    def predict_clips(self) -> list[tuple[str | int, Tensor]]:
        """``(clip number, features)`` of every clip, in generation order."""
        clips = [
            (int(name.rsplit("_", 1)[1]), f)
            for split in self.splits.values()
            for name, f in zip(split.names, split.features, strict=True)
        ]
        return sorted(clips, key=lambda clip: clip[0])
