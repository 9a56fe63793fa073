"""AudioFolderDataModule: a user's folder or manifest, splits, labels, both feature kinds, the
embedding loader, bad files and missing roots."""

from __future__ import annotations

import sys

import pytest
import torch

from selfsup.data import DataRootError, EmbeddingBatch
from selfsup_audio.data import AudioFolderDataModule
from selfsup_audio.frontends import AudioLoadError, load_waveform, num_frames
from selfsup_audio.methods import COLA, BEATs

SMALL_COLA = {
    "sample_rate": 16000,
    "crop_samples": 1600,
    "n_fft": 256,
    "win_length": 256,
    "hop_length": 128,
    "n_mels": 16,
    "width": 4,
    "feature_dim": 16,
    "projection_dim": 8,
}


def _beats() -> BEATs:
    return BEATs(size="tiny", depth=1, patch=(4, 16), codebook_size=16, code_dim=8).eval()


def _predicted(data: AudioFolderDataModule) -> list[EmbeddingBatch]:
    batches = list(data.predict_dataloader())
    assert all(isinstance(b, EmbeddingBatch) for b in batches)
    return batches


def test_folder_clips_are_the_audio_files_by_relative_path(my_audio, my_audio_ids) -> None:
    data = AudioFolderDataModule(root=str(my_audio), val_fraction=0.25, batch_size=3)
    base, entries = data.clip_list()
    assert base == my_audio and [clip_id for clip_id, _ in entries] == my_audio_ids
    assert all(label is None for _, label in entries)  # unlabelled unless asked
    data.setup("fit")
    names = {split: s.names for split, s in data.splits.items()}
    assert sorted(names) == ["train", "val"] and len(names["val"]) == 2
    assert sorted(names["train"] + names["val"]) == my_audio_ids
    # 16 kHz Kaldi frames of each file, whatever its own rate
    clips = dict(data.predict_clips())
    assert clips["birds/day1/clip_1.wav"].shape == (num_frames(int(0.3 * 16000)), 128)
    assert clips["birds/day2/clip_0.wav"].shape == (num_frames(int(0.2 * 16000)), 128)  # 8 kHz
    batch = next(iter(data.train_dataloader()))
    assert set(batch) == {"fbank", "padding_mask"}  # no labels
    with pytest.raises(RuntimeError, match="no labels"):
        data.probe_dataloaders()


def test_folder_labels_are_the_first_sub_folder(my_audio) -> None:
    data = AudioFolderDataModule(root=str(my_audio), folder_labels=True, val_fraction=0.25)
    data.setup("fit")
    assert data.classes == ["birds", "engines"]
    split = data.splits["train"]
    for name, label in zip(split.names, split.labels.tolist(), strict=True):
        assert data.classes[label] == name.split("/")[0]
    (inputs, labels), _ = (next(iter(loader)) for loader in data.probe_dataloaders())
    assert set(inputs) == {"fbank", "padding_mask"} and labels.dtype == torch.long
    (my_audio / "loose.wav").write_bytes((my_audio / "birds/day1/clip_1.wav").read_bytes())
    with pytest.raises(ValueError, match="loose.wav"):
        AudioFolderDataModule(root=str(my_audio), folder_labels=True).setup()


def test_training_crops_and_predict_covers_every_clip_once_whole(my_audio, my_audio_ids) -> None:
    data = AudioFolderDataModule(
        root=str(my_audio),
        val_fraction=0.25,
        test_fraction=0.25,
        batch_size=2,
        patch_frames=4,
        max_frames=12,
    )
    data.setup("fit")
    assert sum(len(s) for s in data.splits.values()) == 8 and len(data.splits["test"]) == 2
    for batch in data.train_dataloader():
        assert batch["fbank"].shape[1] == 12  # every clip is longer than 12 frames: cropped
    method = _beats()
    ids, vectors = [], []
    for batch in _predicted(data):
        assert set(batch.inputs) == {"fbank", "padding_mask"}
        real = (~batch.inputs["padding_mask"]).sum(1)
        assert bool((real > 12).all())  # whole clips, not training crops
        with torch.no_grad():
            vectors.append(method.embed(batch.inputs))
        ids += batch.ids
    vectors = torch.cat(vectors)
    assert sorted(ids) == my_audio_ids and vectors.shape == (8, 64)  # train, val and test
    # a clip's vector does not depend on the clips it was batched with
    alone = AudioFolderDataModule(root=str(my_audio), batch_size=1, patch_frames=4)
    for batch in _predicted(alone):
        with torch.no_grad():
            single = method.embed(batch.inputs)
        torch.testing.assert_close(single[0], vectors[ids.index(batch.ids[0])])


def test_manifest_paths_are_relative_to_the_csv_and_become_the_ids(my_audio) -> None:
    (my_audio / "lists").mkdir()
    manifest = my_audio / "lists" / "clips.csv"
    manifest.write_text(
        "path,label,comment\n"
        "../birds/day1/clip_1.wav,bird,first\n"
        "../engines/day2/clip_2.wav,engine,\n"
        f"{my_audio / 'engines' / 'day1' / 'clip_3.wav'},engine,absolute\n"
    )
    # a relative manifest path starts at root
    data = AudioFolderDataModule(root=str(my_audio), manifest="lists/clips.csv", val_fraction=0)
    data.setup()
    assert data.classes == ["bird", "engine"]
    ids = sorted(i for b in _predicted(data) for i in b.ids)
    absolute = str(my_audio / "engines" / "day1" / "clip_3.wav")
    assert ids == sorted(["../birds/day1/clip_1.wav", "../engines/day2/clip_2.wav", absolute])
    assert data.val_dataloader() == []  # val_fraction=0: Lightning skips validation
    # an absolute manifest needs no root
    assert len(AudioFolderDataModule(manifest=str(manifest)).clip_list()[1]) == 3


@pytest.mark.parametrize(
    ("text", "error", "match"),
    [
        ("file,label\na.wav,x\n", ValueError, "'path' column"),
        ("path\na.wav\n./a.wav\n", ValueError, "listed twice"),
        ("path,label\na.wav,x\nb.wav,\n", ValueError, "empty 'label'"),
        ("path\n", FileNotFoundError, "no clip"),
        ("path\nmissing.wav\n", AudioLoadError, "missing.wav"),
    ],
)
def test_bad_manifests_say_what_is_wrong(tmp_path, text, error, match) -> None:
    (tmp_path / "clips.csv").write_text(text)
    with pytest.raises(error, match=match):
        AudioFolderDataModule(manifest=str(tmp_path / "clips.csv")).setup()


def test_no_root_names_the_argument_and_the_environment_variable(monkeypatch, my_audio) -> None:
    monkeypatch.delenv("SELFSUP_DATA", raising=False)
    with pytest.raises(DataRootError) as info:
        AudioFolderDataModule().setup()
    assert "root=" in str(info.value) and "SELFSUP_DATA" in str(info.value)
    monkeypatch.setenv("SELFSUP_DATA", str(my_audio))
    assert AudioFolderDataModule().clip_list()[0] == my_audio
    with pytest.raises(FileNotFoundError, match="no .flac file"):
        AudioFolderDataModule(extensions=["flac"]).setup()


def test_other_formats_need_the_soundfile_extra_or_are_skipped(my_audio, monkeypatch) -> None:
    (my_audio / "birds" / "song.flac").write_bytes(b"fLaC not really")
    monkeypatch.setitem(sys.modules, "soundfile", None)  # soundfile not installed
    data = AudioFolderDataModule(root=str(my_audio), extensions=[".wav", ".flac"])
    with pytest.raises(AudioLoadError, match=r"song.flac.*selfsup-audio\[soundfile\]"):
        data.setup()
    data = AudioFolderDataModule(
        root=str(my_audio), extensions=[".wav", ".flac"], skip_bad_files=True, val_fraction=0
    )
    with pytest.warns(UserWarning, match="song.flac"):
        data.setup()
    assert len(data.splits["train"]) == 8


def test_waveform_features_feed_cola(my_audio, my_audio_ids) -> None:
    data = AudioFolderDataModule(
        root=str(my_audio), features="waveform", clip_samples=4000, batch_size=4, val_fraction=0.25
    )
    data.setup("fit")
    batch = next(iter(data.train_dataloader()))
    assert batch.shape == (4, 4000)  # windows of longer clips, zero padding after shorter ones
    val = data.splits["val"]
    window = data._collate(val, train=False, pairs=False)([0])[0]  # validation: from the start
    clip = val.features[0]
    n = min(clip.numel(), 4000)
    assert torch.equal(window[:n], clip[:n]) and not window[n:].any()
    torch.manual_seed(0)
    cola = COLA(**SMALL_COLA)
    assert torch.isfinite(cola.training_losses(batch)["loss"])
    cola.eval()
    ids, vectors = [], []
    for item in _predicted(data):
        assert set(item.inputs) == {"waveform", "lengths"}
        with torch.no_grad():
            vectors.append(cola.embed(item.inputs))
        ids += item.ids
    assert sorted(ids) == my_audio_ids and torch.cat(vectors).shape == (8, 16)
    # each row is the clip's own samples, unpadded
    first = load_waveform(str(my_audio / ids[0]), 16000)
    with torch.no_grad():
        torch.testing.assert_close(cola.embed(first[None]), torch.cat(vectors)[:1])
    with pytest.raises(Exception, match="fbank batches are for the BEATs"):
        cola.embed(
            next(iter(AudioFolderDataModule(root=str(my_audio)).predict_dataloader())).inputs
        )


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="features"):
        AudioFolderDataModule(features="mfcc")
    with pytest.raises(ValueError, match="test_fraction"):
        AudioFolderDataModule(val_fraction=0.5, test_fraction=0.5)
    with pytest.raises(ValueError, match="normalization"):
        AudioFolderDataModule(normalization="per_clip")
