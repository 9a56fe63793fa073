"""Audio streamed from tar shards: packing, fbanks equal to the in-memory path, crops, resume,
bad clips, BEATs training on them."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from selfsup.data.shards import iter_tar_samples, read_index, write_shards
from selfsup.experiment import SSLModule, Task
from selfsup.testing.boring import quiet_trainer
from selfsup_audio.data import AudioFolderDataModule, AudioShardsDataModule, write_audio_shards
from selfsup_audio.frontends import AudioLoadError, kaldi_fbank, load_waveform
from selfsup_audio.methods import BEATs

BINS = 32


def _streamed_ids(folder: Path) -> list[str]:
    """Clip ids in the order an unshuffled one-worker stream reads them."""
    return [s["id"].decode() for shard in read_index(folder) for s in iter_tar_samples(shard.path)]


def _rows(batch: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    return [f[~m] for f, m in zip(batch["fbank"], batch["padding_mask"])]


def test_a_folder_packs_into_shards_whose_fbanks_match_the_folder_module(
    my_audio: Path, my_audio_ids: list[str], tmp_path: Path
) -> None:
    shards = write_audio_shards(my_audio, tmp_path / "shards", 3, folder_labels=True)
    assert [s.count for s in shards] == [3, 3, 2]
    assert sorted(_streamed_ids(tmp_path / "shards")) == my_audio_ids
    data = AudioShardsDataModule(
        str(tmp_path / "shards"), batch_size=2, num_mel_bins=BINS, max_frames=None, shuffle=False
    )
    data.setup("fit")
    batches = list(data.train_dataloader())
    assert len(batches) == 4 and batches[0]["fbank"].shape[0] == 2
    assert all(b["fbank"].shape[1] % 16 == 0 for b in batches)

    folder = AudioFolderDataModule(
        root=str(my_audio), folder_labels=True, num_mel_bins=BINS, val_fraction=0.0
    )
    folder.setup("fit")
    expected = dict(folder.predict_clips())
    labels = {name: folder.classes.index(name.split("/")[0]) for name in my_audio_ids}
    rows = [row for b in batches for row in _rows(b)]
    streamed = [int(y) for b in batches for y in b["label"]]
    for clip_id, row, label in zip(_streamed_ids(tmp_path / "shards"), rows, streamed):
        torch.testing.assert_close(row, expected[clip_id], rtol=0, atol=1e-5)
        assert label == labels[clip_id]


def test_a_waveform_crop_is_exactly_a_window_of_the_whole_clips_fbank(
    tmp_path: Path, wav_tone
) -> None:
    (tmp_path / "clips").mkdir()
    for i in range(4):
        wav_tone(tmp_path / "clips" / f"{i}.wav", 0.5 + 0.1 * i, 200.0 + 90 * i, 16000)
    write_audio_shards(tmp_path / "clips", tmp_path / "shards", 2)
    data = AudioShardsDataModule(
        str(tmp_path / "shards"), batch_size=2, num_mel_bins=BINS, max_frames=20, seed=3
    )
    data.setup("fit")
    rows = [row for b in data.train_dataloader() for row in _rows(b)]
    assert all(row.shape[0] == 20 for row in rows)
    waves = [load_waveform(str(tmp_path / "clips" / f"{i}.wav")) for i in range(4)]
    whole = [(kaldi_fbank(w, 16000, BINS) - data.mean) / (2 * data.std) for w in waves]
    for row in rows:  # each crop is one window of some clip's fbank
        hits = [
            start
            for f in whole
            for start in range(f.shape[0] - 19)
            if torch.allclose(f[start : start + 20], row, atol=1e-4)
        ]
        assert len(hits) == 1


@pytest.mark.parametrize("workers", [0, 2])
def test_a_resumed_stream_continues_with_the_same_batches_and_crops(
    tmp_path: Path, workers: int, wav_tone
) -> None:
    (tmp_path / "clips").mkdir()
    for i in range(12):
        wav_tone(tmp_path / "clips" / f"{i:02d}.wav", 0.3 + 0.05 * i, 150.0 + 40 * i, 8000)
    write_audio_shards(tmp_path / "clips", tmp_path / "shards", 3)

    def module() -> AudioShardsDataModule:
        return AudioShardsDataModule(
            str(tmp_path / "shards"),
            batch_size=2,
            sample_rate=8000,
            num_mel_bins=BINS,
            max_frames=12,
            num_workers=workers,
            seed=5,
        )

    data = module()
    data.setup("fit")
    loader = data.train_dataloader()
    loader.set_epoch(1)
    run = iter(loader)
    head = [next(run) for _ in range(3)]
    state = loader.state_dict()
    tail = list(run)
    assert len(head) + len(tail) == len(loader) == 6

    again = module()
    again.setup("fit")
    resumed = again.train_dataloader()
    resumed.load_state_dict(state)
    rest = list(resumed)
    assert len(rest) == len(tail)
    for a, b in zip(rest, tail):
        assert torch.equal(a["fbank"], b["fbank"]) and torch.equal(a["label"], b["label"])
    # another epoch draws other crops from the same clips
    loader.set_epoch(2)
    assert not all(torch.equal(a["fbank"], b["fbank"]) for a, b in zip(loader, head + tail))


def test_bad_clips_are_refused_when_packing_and_named_when_streaming(
    tmp_path: Path, wav_tone
) -> None:
    (tmp_path / "clips").mkdir()
    wav_tone(tmp_path / "clips" / "good.wav", 0.2)
    (tmp_path / "clips" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    with pytest.raises(AudioLoadError, match="broken.wav"):
        write_audio_shards(tmp_path / "clips", tmp_path / "shards")
    assert not (tmp_path / "shards" / "index.json").exists()

    write_shards([{"__key__": "000003", "id": "x/bad.wav", "wav": b"RIFFjunk"}], tmp_path / "s1")
    data = AudioShardsDataModule(str(tmp_path / "s1"), batch_size=1)
    data.setup("fit")
    with pytest.raises(AudioLoadError, match=r"x/bad\.wav \(shard sample 000003\)"):
        next(iter(data.train_dataloader()))
    write_shards([{"__key__": "000004", "txt": b"hello"}], tmp_path / "s2")
    data = AudioShardsDataModule(str(tmp_path / "s2"), batch_size=1)
    data.setup("fit")
    with pytest.raises(AudioLoadError, match="no audio field"):
        next(iter(data.train_dataloader()))


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="max_frames"):
        AudioShardsDataModule("shards", max_frames=0)
    with pytest.raises(ValueError, match="std"):
        AudioShardsDataModule("shards", std=0.0)
    with pytest.raises(ValueError, match="channel"):
        AudioShardsDataModule("shards", channel="middle")


def test_beats_trains_on_streamed_shards_and_records_their_front_end(
    recordings: Path, tmp_path: Path
) -> None:
    write_audio_shards(recordings / "fsdd" / "recordings", tmp_path / "shards", 5)
    data = AudioShardsDataModule(
        str(tmp_path / "shards"),
        batch_size=4,
        sample_rate=8000,
        num_mel_bins=BINS,
        max_frames=32,
        mean=3.0,
        std=2.5,
        num_workers=2,
    )
    method = BEATs(patch=(4, 16), num_mel_bins=BINS, codebook_size=16, code_dim=8, depth=1)
    trainer = quiet_trainer(max_steps=3, max_epochs=-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(SSLModule([Task("shards", method, data)]))
    assert trainer.global_step == 3
    assert torch.isfinite(trainer.callback_metrics["train/loss"])
    settings = method.fbank_settings
    assert (settings.sample_rate, settings.mean, settings.std) == (8000, 3.0, 2.5)
