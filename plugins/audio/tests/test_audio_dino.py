"""DINO on fbanks: crops stay inside each clip's frames, the loss is core's dino_loss on the
student's and teacher's crops, and it trains through SSLModule on clips."""

from __future__ import annotations

import warnings

import torch

from selfsup.experiment import SSLModule, Task
from selfsup.losses import dino_loss
from selfsup.testing.boring import quiet_trainer
from selfsup_audio.data import SyntheticClipsDataModule
from selfsup_audio.methods import AudioDINO
from selfsup_audio.methods.audio_dino import random_frame_crops

SMALL = {
    "depth": 1,
    "patch": (4, 16),
    "num_mel_bins": 32,
    "global_frames": 8,
    "local_frames": 4,
    "num_local_crops": 2,
    "hidden_dim": 16,
    "bottleneck_dim": 8,
    "num_prototypes": 32,
}


def test_crops_are_windows_of_each_clips_real_frames() -> None:
    fbank = torch.arange(2 * 10 * 3, dtype=torch.float32).view(2, 10, 3)
    mask = torch.zeros(2, 10, dtype=torch.bool)
    mask[1, 5:] = True  # clip 1 has 5 real frames
    torch.manual_seed(0)
    for _ in range(20):
        crops, crop_mask = random_frame_crops(fbank, mask, 4)
        start = int(crops[0, 0, 0]) // 3
        assert torch.equal(crops[0], fbank[0, start : start + 4])
        real = crops[1][~crop_mask[1]]
        assert not crop_mask[1].any() and real.shape[0] == 4
        assert int(crops[1, 0, 0] - fbank[1, 0, 0]) // 3 <= 1  # starts within the 5 real frames
    crops, crop_mask = random_frame_crops(fbank, mask, 8)  # longer than clip 1: whole + padding
    assert (
        torch.equal(crops[1, :5], fbank[1, :5])
        and crop_mask[1].tolist() == [False] * 5 + [True] * 3
    )
    assert not crops[1, 5:].any()


def test_the_loss_is_dino_loss_of_the_crops() -> None:
    method = AudioDINO(**SMALL).double()
    batch = {"fbank": torch.randn(3, 20, 32, dtype=torch.float64)}
    torch.manual_seed(1)
    out = method.training_losses(batch)
    # the loss used the initial (zero) centre
    method.distillation.criterion.centering.center.zero_()
    torch.manual_seed(1)
    views = method.crops(batch)
    student = method._embed_views(method.encoder, method.head, views)
    teacher = method._embed_views(method.distillation.encoder, method.distillation.head, views[:2])
    assert student.shape == (4, 3, 32) and teacher.shape == (2, 3, 32)
    expected = dino_loss(student, teacher, torch.zeros(32, dtype=torch.float64), 0.1, 0.04)
    torch.testing.assert_close(out["loss"], expected, rtol=0, atol=1e-12)


def test_audio_dino_trains_on_clips_and_records_the_front_end() -> None:
    data = SyntheticClipsDataModule(num_clips=24, batch_size=6, num_mel_bins=32, sample_rate=8000)
    method = AudioDINO(**SMALL)
    trainer = quiet_trainer(max_steps=3, max_epochs=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(SSLModule([Task("clips", method, data)]))
    assert method.distillation.progress.step == 3
    assert torch.isfinite(trainer.callback_metrics["train/loss"])
    assert method.fbank_settings.sample_rate == 8000
    assert method.distillation.criterion.centering.center.abs().sum() > 0
