"""Exported encoders: waveforms in, the vectors `selfsup embed` writes out."""

from __future__ import annotations

import json

import pytest
import torch

from selfsup.export import load_pretrained, save_pretrained
from selfsup_audio.data import AudioFolderDataModule, SyntheticClipsDataModule
from selfsup_audio.encoders import (
    AudioConvNet,
    AudioEmbedder,
    AudioEncoder,
    FbankPatchTokenizer,
    LogMelConvNet,
)
from selfsup_audio.frontends import AUDIOSET_MEAN, LogMelSpectrogram, load_waveform
from selfsup_audio.methods import COLA, BEATs, BEATsFineTuning, BEATsTokenizerTraining


def _feed(data, method) -> None:
    """What SSLModule does at fit: set the data module up, then bind the method to it."""
    data.setup("fit")
    method.bind_data(data, "fit")


@pytest.mark.parametrize("normalization", ["audioset", "dataset"])
def test_exported_beats_reads_waveforms_like_the_data_module(my_audio, normalization) -> None:
    data = AudioFolderDataModule(
        root=str(my_audio), normalization=normalization, batch_size=4, patch_frames=4
    )
    torch.manual_seed(0)
    method = BEATs(
        size="tiny",
        depth=2,
        patch=(4, 16),
        codebook_size=16,
        code_dim=8,
        pooling="band",
        embed_layers="mean",
    )
    _feed(data, method)
    method.eval()
    embedder = method.export_encoder()
    assert embedder.frontend.mean == data.mean and embedder.frontend.std == data.std
    assert (data.mean == AUDIOSET_MEAN) == (normalization == "audioset")
    for batch in data.predict_dataloader():
        waves = [load_waveform(str(my_audio / clip_id), 16000) for clip_id in batch.ids]
        lengths = torch.tensor([w.numel() for w in waves])
        padded = torch.zeros(len(waves), int(lengths.max()))
        for i, w in enumerate(waves):
            padded[i, : w.numel()] = w
        with torch.no_grad():
            expected = method.embed(batch.inputs)
            torch.testing.assert_close(embedder(padded, lengths), expected, atol=1e-5, rtol=1e-5)
            # fbank in: exactly the method's computation
            assert torch.equal(embedder.embed_fbank(**_fbank_args(batch.inputs)), expected)


def _fbank_args(inputs: dict) -> dict:
    return {"fbank": inputs["fbank"], "padding_mask": inputs["padding_mask"]}


def test_the_exported_folder_rebuilds_the_embedder(tmp_path) -> None:
    data = SyntheticClipsDataModule(num_clips=20, num_classes=2, num_mel_bins=32, sample_rate=8000)
    method = BEATs(size="tiny", depth=1, patch=(4, 16), num_mel_bins=32, codebook_size=16)
    _feed(data, method)
    folder = save_pretrained(method.eval().export_encoder(), tmp_path / "encoder")
    config = json.loads((folder / "config.json").read_text())
    assert config["component"] == "audio:audio_embedder"
    args = config["init_args"]
    assert (args["sample_rate"], args["mean"], args["std"]) == (8000, data.mean, data.std)
    assert args["encoder"] == method.encoder.config and args["num_mel_bins"] == 32
    loaded = load_pretrained(folder)
    assert isinstance(loaded, AudioEmbedder) and isinstance(loaded.encoder, AudioEncoder)
    assert not [k for k in loaded.state_dict() if "extra_state" in k]  # weights only
    wave = 0.1 * torch.randn(2, 4000)
    with torch.no_grad():
        assert torch.equal(loaded(wave), method.export_encoder()(wave))
        tokens, padding = loaded.encode(*loaded.frontend(wave))
    assert tokens.shape[0] == 2 and tokens.shape[:2] == padding.shape


@pytest.mark.parametrize(
    "method",
    [
        BEATsTokenizerTraining(patch=(4, 16), num_mel_bins=32, codebook_size=16, estimator_depth=1),
        BEATsFineTuning(num_classes=3, patch=(4, 16), num_mel_bins=32),
    ],
    ids=["tokenizer", "finetune"],
)
def test_tokenizer_and_fine_tuning_export_the_encoder_embed_uses(method) -> None:
    method.eval()
    fbank = 0.5 * torch.randn(3, 12, 32)
    mask = torch.zeros(3, 12, dtype=torch.bool)
    mask[1, 7:] = True
    embedder = method.export_encoder()
    with torch.no_grad():
        expected = method.embed({"fbank": fbank, "padding_mask": mask})
        assert torch.equal(embedder.embed_fbank(fbank, mask), expected)
    trained = method.tokenizer.encoder if hasattr(method, "tokenizer") else method.encoder
    assert embedder.encoder.config == trained.config


def test_embedder_refuses_what_it_cannot_read() -> None:
    embedder = AudioEmbedder({"patch": [4, 16]}, num_mel_bins=32)
    with pytest.raises(ValueError, match="mono float waveforms"):
        embedder(torch.zeros(2, 1, 800))
    with pytest.raises(ValueError, match="mono float waveforms"):
        embedder(torch.zeros(2, 800, dtype=torch.int16))
    with pytest.raises(ValueError, match="lengths"):
        embedder(torch.zeros(2, 800), torch.tensor([800, 900]))
    with pytest.raises(ValueError, match="unknown AudioEncoder options"):
        AudioEmbedder({"width": 3})
    with pytest.raises(ValueError, match="multiple of the frequency patch"):
        AudioEmbedder({"patch": [4, 16]}, num_mel_bins=40)


def test_exported_cola_is_its_front_end_and_convnet(tmp_path) -> None:
    cola = COLA(
        crop_samples=1600,
        n_fft=256,
        win_length=256,
        hop_length=128,
        n_mels=16,
        width=4,
        feature_dim=16,
        projection_dim=8,
    ).eval()
    encoder = cola.export_encoder()
    assert isinstance(encoder, LogMelConvNet) and encoder.encoder is cola.encoder
    wave, lengths = torch.randn(3, 3000), torch.tensor([3000, 1000, 2200])
    loaded = load_pretrained(save_pretrained(encoder, tmp_path / "cola"))
    with torch.no_grad():
        expected = cola.embed({"waveform": wave, "lengths": lengths})
        assert torch.equal(loaded(wave, lengths), expected)
        assert torch.equal(loaded(wave[1:2, :1000]), expected[1:2])  # batch-independent
    with pytest.raises(ValueError, match="win_length"):
        loaded(wave, torch.tensor([3000, 100, 2200]))


@pytest.mark.parametrize(
    ("module", "inputs"),
    [
        (AudioConvNet(width=4, out_dim=8), (torch.randn(2, 16, 30),)),
        (LogMelSpectrogram(n_mels=16), (torch.randn(2, 4000),)),
        (
            FbankPatchTokenizer(dim=16, patch=(4, 16), num_mel_bins=32),
            ({"fbank": torch.randn(2, 12, 32), "padding_mask": torch.zeros(2, 12, dtype=bool)},),
        ),
    ],
    ids=["audio_convnet", "log_mel", "fbank_patch_tokenizer"],
)
def test_building_blocks_export_on_their_own(tmp_path, module, inputs) -> None:
    module.eval()
    loaded = load_pretrained(save_pretrained(module, tmp_path / "block"))
    assert type(loaded) is type(module)
    with torch.no_grad():
        first, second = module(*inputs), loaded(*inputs)
    first, second = (x if isinstance(x, tuple) else (x,) for x in (first, second))
    assert len(first) == len(second)
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a, b)
