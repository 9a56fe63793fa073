"""FSDD data module on a synthetic recordings folder: split, caching, padding, bad files, data
root, the embedding loader, the front end handed to the methods."""

from __future__ import annotations

import warnings

import pytest
import torch

from selfsup.data import DataRootError, EmbeddingBatch
from selfsup.experiment import SSLModule, Task
from selfsup.testing.boring import quiet_trainer
from selfsup_audio.data import (
    BucketBatchSampler,
    FSDDDataModule,
    parse_fsdd_name,
)
from selfsup_audio.frontends import AUDIOSET_MEAN, AudioLoadError, num_frames
from selfsup_audio.methods import BEATs


def test_parse_fsdd_name() -> None:
    assert parse_fsdd_name("7_jackson_32.wav") == (7, "jackson", 32)
    assert parse_fsdd_name("notes.wav") is None


def test_split_by_take_and_validation_from_train_only(recordings) -> None:
    dm = FSDDDataModule(data_root=str(recordings), val_fraction=0.25, batch_size=4)
    dm.setup()
    test_names = dm.splits["test"].names
    assert sorted(test_names) == sorted(f"{d}_alice_{t}.wav" for d in range(3) for t in (0, 1))
    train_names, val_names = dm.splits["train"].names, dm.splits["val"].names
    assert len(val_names) == 4 and len(train_names) == 10
    assert not set(val_names) & set(test_names) and not set(val_names) & set(train_names)
    assert all(parse_fsdd_name(n)[2] >= 5 for n in train_names + val_names)
    # features are 16 kHz Kaldi frames of the right count
    i = dm.splits["test"].names.index("0_alice_0.wav")
    assert dm.splits["test"].features[i].shape == (num_frames(int(0.05 * 8000) * 2), 128)


def test_batches_are_padded_to_patches_with_masks(recordings) -> None:
    dm = FSDDDataModule(data_root=str(recordings), val_fraction=0.2, batch_size=4, patch_frames=8)
    dm.setup()
    batches = list(dm.train_dataloader())
    assert len(batches) == 2  # 11 training clips, the incomplete batch dropped
    for b in batches:
        assert b["fbank"].shape[1] % 8 == 0 and b["fbank"].shape[1] >= 8
        real = (~b["padding_mask"]).sum(1)
        assert bool((real >= 1).all())
        assert bool((b["fbank"][b["padding_mask"]] == 0).all())
    inputs, labels = next(iter(dm.probe_dataloaders()[0]))
    assert set(inputs) == {"fbank", "padding_mask"} and labels.dtype == torch.long


def test_dataset_normalisation_uses_training_statistics(recordings) -> None:
    dm = FSDDDataModule(data_root=str(recordings), normalization="dataset", val_fraction=0.0)
    dm.setup()
    allf = torch.cat(dm.splits["train"].features)
    assert float(allf.mean()) == pytest.approx(0.0, abs=1e-4)
    assert float(allf.std(unbiased=False)) == pytest.approx(0.5, rel=1e-3)


def test_corrupt_file_raises_or_is_skipped(recordings) -> None:
    (recordings / "fsdd" / "recordings" / "4_bob_20.wav").write_bytes(b"RIFFjunk")
    with pytest.raises(AudioLoadError, match="4_bob_20.wav"):
        FSDDDataModule(data_root=str(recordings)).setup()
    dm = FSDDDataModule(data_root=str(recordings), skip_bad_files=True)
    with pytest.warns(UserWarning, match="4_bob_20.wav"):
        dm.setup()
    assert "4_bob_20.wav" not in dm.splits["train"].names + dm.splits["val"].names


def test_missing_folder_says_how_to_set_the_root(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="SELFSUP_DATA"):
        FSDDDataModule(data_root=str(tmp_path)).setup()


def test_no_root_names_the_argument_and_the_environment_variable(monkeypatch) -> None:
    monkeypatch.delenv("SELFSUP_DATA", raising=False)
    with pytest.raises(DataRootError) as info:
        FSDDDataModule().setup()
    assert "data_root=" in str(info.value) and "SELFSUP_DATA" in str(info.value)


def test_root_from_the_environment_or_an_absolute_folder(recordings, monkeypatch) -> None:
    monkeypatch.setenv("SELFSUP_DATA", str(recordings))
    assert FSDDDataModule().directory() == str(recordings / "fsdd" / "recordings")
    monkeypatch.delenv("SELFSUP_DATA")
    absolute = str(recordings / "fsdd" / "recordings")
    assert FSDDDataModule(folder=absolute).directory() == absolute


def test_predict_embeds_every_recording_once(recordings) -> None:
    dm = FSDDDataModule(data_root=str(recordings), val_fraction=0.25, batch_size=4, patch_frames=4)
    method = BEATs(size="tiny", depth=1, patch=(4, 16), codebook_size=16, code_dim=8).eval()
    ids, rows = [], 0
    for batch in dm.predict_dataloader():  # sets itself up: Lightning's predict does too
        assert isinstance(batch, EmbeddingBatch) and set(batch.inputs) == {"fbank", "padding_mask"}
        with torch.no_grad():
            vectors = method.embed(batch.inputs)
        assert vectors.shape == (len(batch.ids), 64) and bool(torch.isfinite(vectors).all())
        ids += batch.ids
        rows += vectors.shape[0]
    files = sorted(p.name for p in (recordings / "fsdd" / "recordings").glob("*.wav"))
    assert sorted(ids) == files and len(set(ids)) == rows == 20  # train, val and test takes


def test_methods_take_the_front_end_of_the_data_module_they_are_bound_to(recordings) -> None:
    # no trainer anywhere: the data module is set up on its own, the method binds to it
    dm = FSDDDataModule(data_root=str(recordings), normalization="dataset", sample_rate=8000)
    method = BEATs(size="tiny", depth=1, codebook_size=16, code_dim=8)
    other = BEATs(size="tiny", depth=1, codebook_size=16, code_dim=8)
    dm.setup("fit")
    assert dm.trainer is None and method.fbank_settings.mean == AUDIOSET_MEAN
    method.bind_data(dm, "fit")
    other.bind_data(object(), "fit")  # a data module without a front end: left alone
    settings = method.fbank_settings
    assert (settings.sample_rate, settings.mean, settings.std) == (8000, dm.mean, dm.std)
    assert dm.mean != AUDIOSET_MEAN and other.fbank_settings.mean == AUDIOSET_MEAN
    # predict keeps the front end the model was trained with
    other.bind_data(dm, "predict")
    assert other.fbank_settings.mean == AUDIOSET_MEAN
    # share_frontend(methods) still writes the settings (no methods: nothing to do)
    dm.share_frontend()
    dm.share_frontend(other, object())
    assert (other.fbank_settings.sample_rate, other.fbank_settings.mean) == (8000, dm.mean)
    exported = method.export_encoder()
    assert exported.frontend.mean == dm.mean and exported.sample_rate == 8000
    # the settings travel in the state dict; checkpoints from before them still load
    state = method.state_dict()
    expected = torch.tensor([8000.0, dm.mean, dm.std], dtype=torch.float64)
    assert torch.equal(state["fbank_settings.values"], expected)
    del state["fbank_settings.values"]
    old = BEATs(size="tiny", depth=1, codebook_size=16, code_dim=8)
    assert old.load_state_dict(state, strict=True).missing_keys == []  # strict: raises if not
    assert old.fbank_settings.mean == AUDIOSET_MEAN


def test_ssl_module_binds_each_beats_method_to_its_data_at_fit(recordings) -> None:
    data = FSDDDataModule(
        data_root=str(recordings), normalization="dataset", sample_rate=8000, batch_size=4
    )
    method = BEATs(size="tiny", depth=1, codebook_size=16, code_dim=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quiet_trainer(max_steps=1).fit(SSLModule([Task("clips", method, data)]))
    settings = method.fbank_settings
    assert (settings.sample_rate, settings.mean, settings.std) == (8000, data.mean, data.std)
    assert data.mean != AUDIOSET_MEAN


def test_bucket_sampler_covers_every_clip_once() -> None:
    lengths = [5, 1, 9, 3, 7, 2, 8, 4, 6, 10]
    sampler = BucketBatchSampler(lengths, 3, drop_last=False, pool_batches=2, seed=1)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(10))
    assert len(batches) == len(sampler)
    assert list(sampler) != batches  # a new order every epoch
