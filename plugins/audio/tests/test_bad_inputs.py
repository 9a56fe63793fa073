"""Bad-input corpus: malformed audio files, manifests, data-module arguments, batches and
checkpoints, each with the error it must raise or the documented behaviour it must keep.

Files are written byte by byte (``riff``), so every header field can be wrong on purpose.
"""

from __future__ import annotations

import math
import struct
import sys
import warnings
from pathlib import Path

import pytest
import torch

from selfsup.checkpoints import read_state_dict
from selfsup.experiment.method import MalformedBatchError
from selfsup_audio.data import AudioFolderDataModule, FSDDDataModule
from selfsup_audio.frontends import (
    AudioLoadError,
    DownmixWarning,
    kaldi_fbank,
    load_waveform,
    read_wav,
)
from selfsup_audio.methods import COLA, BEATs

PCM, FLOAT, ALAW, EXTENSIBLE = 1, 3, 6, 0xFFFE
SMALL_BEATS = {"patch": (4, 16), "num_mel_bins": 32, "codebook_size": 16, "code_dim": 8}
SMALL_COLA = {
    "sample_rate": 8000,
    "crop_samples": 800,
    "n_fft": 128,
    "win_length": 128,
    "hop_length": 64,
    "n_mels": 16,
    "f_min": 0.0,
    "f_max": None,
    "width": 4,
    "feature_dim": 16,
    "projection_dim": 8,
}


def riff(
    data: bytes,
    *,
    tag: int = PCM,
    channels: int = 1,
    rate: int = 8000,
    bits: int = 16,
    block: int | None = None,
    declared: int | None = None,
    extensible: int | None = None,
) -> bytes:
    """A RIFF/WAVE file: a ``fmt`` chunk with these fields and a ``data`` chunk holding
    ``data``, whose header claims ``declared`` bytes (default: ``len(data)``)."""
    width = (bits + 7) // 8
    block = width * channels if block is None else block
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)
    if extensible is not None:  # cbSize, valid bits, channel mask, sub-format GUID
        guid = struct.pack("<H", extensible) + bytes.fromhex("000000001000800000aa00389b71")
        fmt += struct.pack("<HHI", 22, bits, 0) + guid
    size = len(data) if declared is None else declared
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", size) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def pcm16(samples: torch.Tensor) -> bytes:
    """``(C, N)`` or ``(N,)`` floats in [-1, 1] as interleaved int16 bytes."""
    samples = torch.atleast_2d(samples)
    return (samples.T.reshape(-1) * 32767).round().to(torch.int16).numpy().tobytes()


def tone(n: int = 800, freq: float = 440.0, rate: int = 8000) -> torch.Tensor:
    return 0.5 * torch.sin(2 * math.pi * freq * torch.arange(n) / rate)


def float32_with(value: float) -> bytes:
    x = tone(100)
    x[3] = value
    return x.numpy().astype("<f4").tobytes()


def stereo_wav(path: Path, left: torch.Tensor, right: torch.Tensor) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(riff(pcm16(torch.stack([left, right])), channels=2))


# -- files: each refused with an AudioLoadError naming the file --------------------------------
BAD_FILES = {
    "empty": (b"", r"empty \(0 bytes\)"),
    "header_only": (riff(b""), r"no samples \(header only\)"),
    "truncated_mid_data": (
        riff(pcm16(torch.ones(1, 1000) * 0.5))[: 44 + 2 * 600],
        r"truncated: its header promises 1000 samples per channel .* holds 600",
    ),
    "truncated_stereo": (
        riff(pcm16(torch.ones(2, 500) * 0.5), channels=2)[: 44 + 4 * 123 + 2],
        r"promises 500 samples per channel .* holds 123",
    ),
    "truncated_in_the_header": (riff(pcm16(tone()))[:30], r"no complete 'fmt ' chunk"),
    "no_data_chunk": (riff(pcm16(tone()))[:36], r"no 'data' chunk"),
    "zero_sample_rate": (riff(pcm16(tone()), rate=0), r"1 channel\(s\) at 0 Hz"),
    "zero_channels": (riff(pcm16(tone()), channels=0, block=2), r"0 channel\(s\)"),
    "40_bit_pcm": (riff(bytes(500), bits=40), r"40-bit integer samples, which are not supported"),
    "16_bit_float": (riff(bytes(400), tag=FLOAT, bits=16), r"16-bit float samples"),
    "wrong_block_align": (riff(pcm16(tone()), block=3), r"3 bytes per frame .* \(expected 2\)"),
    "nan_float_wav": (
        riff(float32_with(math.nan), tag=FLOAT, bits=32),
        r"1 NaN or inf sample\(s\) \(the first at sample 3 of 100\)",
    ),
    "inf_float_wav": (
        riff(float32_with(math.inf), tag=FLOAT, bits=32, extensible=FLOAT),
        r"1 NaN or inf sample\(s\)",
    ),
    "text_named_wav": (b"just some notes, not audio\n" * 3, r"not a readable PCM WAV"),
    "alaw_without_soundfile": (
        riff(bytes(100), tag=ALAW, bits=8),
        r"WAV format 0x0006.*selfsup-audio\[soundfile\]",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_audio_files_are_refused_naming_the_file(tmp_path, monkeypatch, case) -> None:
    monkeypatch.setitem(sys.modules, "soundfile", None)  # the stdlib reader's own verdict
    content, message = BAD_FILES[case]
    path = tmp_path / f"{case}.wav"
    path.write_bytes(content)
    with pytest.raises(AudioLoadError, match=message) as info:
        load_waveform(str(path))
    assert f"{case}.wav" in str(info.value)


def test_missing_file_is_refused(tmp_path) -> None:
    with pytest.raises(AudioLoadError, match=r"nope\.wav' does not exist"):
        load_waveform(str(tmp_path / "nope.wav"))


# -- files: documented behaviour, read as described ---------------------------------------------
def test_streaming_wav_of_unknown_length_reads_to_the_end(tmp_path) -> None:
    # ffmpeg writing to a pipe puts 0xFFFFFFFF: the samples run to the end of the file
    path = tmp_path / "stream.wav"
    path.write_bytes(riff(pcm16(tone(640)[None]), declared=0xFFFFFFFF))
    wave, rate = read_wav(str(path))
    assert rate == 8000 and wave.shape == (1, 640)


def test_float_and_extensible_wavs_are_read_exactly(tmp_path) -> None:
    x = tone(300)
    (tmp_path / "f.wav").write_bytes(riff(x.numpy().astype("<f4").tobytes(), tag=FLOAT, bits=32))
    (tmp_path / "e.wav").write_bytes(riff(pcm16(x[None]), tag=EXTENSIBLE, extensible=PCM))
    assert torch.equal(read_wav(str(tmp_path / "f.wav"))[0][0], x)
    torch.testing.assert_close(read_wav(str(tmp_path / "e.wav"))[0][0], x, atol=1e-4, rtol=0)


def test_trailing_partial_frame_is_dropped(tmp_path) -> None:
    path = tmp_path / "odd.wav"
    path.write_bytes(riff(pcm16(torch.ones(2, 10) * 0.25) + b"\x01\x02", channels=2))
    wave, _ = read_wav(str(path))
    assert wave.shape == (2, 10)


# -- downmix --------------------------------------------------------------------------------
def test_opposite_phase_stereo_warns_and_a_channel_can_be_chosen(tmp_path) -> None:
    path = tmp_path / "phase.wav"
    stereo_wav(path, tone(), -tone())
    with pytest.warns(DownmixWarning, match=r"phase\.wav.*keeps 0\.00% .*channel='left'"):
        mono = load_waveform(str(path), 8000)
    assert mono.abs().max() < 1e-3  # the documented mean: silence
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        right = load_waveform(str(path), 8000, channel="right")
        left = load_waveform(str(path), 8000, channel=0)
    torch.testing.assert_close(right, -tone(), atol=1 / 32767, rtol=0)
    torch.testing.assert_close(left, tone(), atol=1 / 32767, rtol=0)
    with warnings.catch_warnings():  # the user's choice: a downmix that cancels is an error
        warnings.simplefilter("error", DownmixWarning)
        with pytest.raises(DownmixWarning):
            load_waveform(str(path), 8000)


def test_ordinary_stereo_downmixes_without_a_warning(tmp_path) -> None:
    stereo_wav(tmp_path / "same.wav", tone(), tone())
    stereo_wav(tmp_path / "one_side.wav", tone(), torch.zeros(800))  # keeps 25 %: fine
    stereo_wav(tmp_path / "silent.wav", torch.zeros(800), torch.zeros(800))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in ("same", "one_side", "silent"):
            load_waveform(str(tmp_path / f"{name}.wav"), 8000)


def test_channel_choices_on_files_that_lack_them(tmp_path) -> None:
    (tmp_path / "mono.wav").write_bytes(riff(pcm16(tone()[None])))
    stereo_wav(tmp_path / "st.wav", tone(), tone())
    # a folder may mix mono and stereo files: mono is read as it is
    mono = load_waveform(str(tmp_path / "mono.wav"), 8000, channel="right")
    torch.testing.assert_close(mono, tone(), atol=1 / 32767, rtol=0)
    with pytest.raises(AudioLoadError, match=r"st\.wav.*channel 2, but the audio has 2"):
        load_waveform(str(tmp_path / "st.wav"), 8000, channel=2)
    with pytest.raises(ValueError, match="channel must be 'mean'"):
        load_waveform(str(tmp_path / "st.wav"), 8000, channel="middle")


def test_folder_module_warns_on_cancelling_stereo_and_reads_the_chosen_channel(tmp_path) -> None:
    for i in range(3):
        stereo_wav(tmp_path / f"c{i}.wav", tone(1600 + 800 * i), -tone(1600 + 800 * i))
    data = AudioFolderDataModule(root=str(tmp_path), features="waveform", val_fraction=0)
    with pytest.warns(DownmixWarning, match=r"c\d\.wav") as caught:
        data.setup()
    assert sorted(Path(str(w.message).split("'")[1]).name for w in caught) == [
        "c0.wav",
        "c1.wav",
        "c2.wav",
    ]
    assert max(float(w.abs().max()) for w in data.splits["train"].features) < 1e-3
    data = AudioFolderDataModule(
        root=str(tmp_path), features="waveform", val_fraction=0, channel="left"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", DownmixWarning)
        data.setup()
    assert min(float(w.abs().max()) for w in data.splits["train"].features) > 0.4


# -- very short clips: documented padding -----------------------------------------------------
def test_clip_shorter_than_a_patch_is_padded_to_one_patch(tmp_path) -> None:
    (tmp_path / "blip.wav").write_bytes(riff(pcm16(tone(40)[None]), rate=16000))  # 2.5 ms
    (tmp_path / "long.wav").write_bytes(riff(pcm16(tone(8000)[None]), rate=16000))
    data = AudioFolderDataModule(root=str(tmp_path), num_mel_bins=32, patch_frames=4)
    data.val_fraction = 0.0
    batch = next(iter(data.predict_dataloader()))
    blip = batch.ids.index("blip.wav")
    assert int((~batch.inputs["padding_mask"][blip]).sum()) == 1  # one frame, then padding
    torch.manual_seed(0)
    vectors = BEATs(**SMALL_BEATS, depth=1).eval().embed(batch.inputs)
    assert vectors.shape[0] == 2 and bool(torch.isfinite(vectors).all())


# -- data modules: skipping bad files with a counted warning ------------------------------------
def test_folder_truncated_file_raises_or_is_skipped_with_a_count(my_audio) -> None:
    good = (my_audio / "birds" / "day1" / "clip_1.wav").read_bytes()
    (my_audio / "birds" / "cut.wav").write_bytes(good[: len(good) // 2])
    with pytest.raises(AudioLoadError, match=r"cut\.wav' is truncated"):
        AudioFolderDataModule(root=str(my_audio)).setup()
    data = AudioFolderDataModule(root=str(my_audio), skip_bad_files=True, val_fraction=0)
    with pytest.warns(UserWarning, match=r"skipped 1 of 9 audio files .*cut\.wav' is truncated"):
        data.setup()
    assert [name for name, _ in data.skipped_files] == ["birds/cut.wav"]
    assert "birds/cut.wav" not in data.splits["train"].names
    assert len(data.splits["train"]) == 8


def test_fsdd_truncated_and_nan_files_are_skipped_with_a_count(recordings) -> None:
    folder = recordings / "fsdd" / "recordings"
    good = (folder / "0_alice_5.wav").read_bytes()
    (folder / "3_bob_11.wav").write_bytes(good[: len(good) - 100])
    (folder / "3_bob_12.wav").write_bytes(riff(float32_with(math.nan), tag=FLOAT, bits=32))
    with pytest.raises(AudioLoadError, match=r"3_bob_11\.wav' is truncated"):
        FSDDDataModule(data_root=str(recordings)).setup()
    data = FSDDDataModule(data_root=str(recordings), skip_bad_files=True)
    with pytest.warns(UserWarning, match=r"skipped 2 of 22 .*3_bob_11\.wav.*3_bob_12\.wav.*NaN"):
        data.setup()
    names = [n for split in data.splits.values() for n in split.names]
    assert len(names) == 20 and "3_bob_11.wav" not in names


def test_all_files_bad_says_so(tmp_path) -> None:
    for name in ("a.wav", "b.wav"):
        (tmp_path / name).write_bytes(b"")
    data = AudioFolderDataModule(root=str(tmp_path), skip_bad_files=True)
    with pytest.warns(UserWarning, match="skipped 2 of 2"):
        with pytest.raises(FileNotFoundError, match=r"all 2 skipped as unreadable"):
            data.setup()


# -- manifests ---------------------------------------------------------------------------------
BAD_MANIFESTS = {
    "no_path_column": ("file,label\na.wav,x\n", ValueError, r"a 'path' column"),
    "capitalised_column": ("path,Label\na.wav,x\n", ValueError, r"'Label' .*rename it to 'label'"),
    "repeated_column": ("path,label,label\na.wav,x,y\n", ValueError, r"\['label'\] more than"),
    "same_file_twice": (
        "path\na.wav\nsub/../a.wav\n",
        ValueError,
        r"line 3: 'sub/\.\./a\.wav' is listed twice \(line 2: 'a\.wav'\)",
    ),
    "empty_label_cell": ("path,label\na.wav,x\nb.wav,\n", ValueError, r"line 3: empty 'label'"),
    "empty_path_cell": ("path,label\n,x\n", ValueError, r"line 2: empty 'path'"),
    "unquoted_comma": (
        "path,label\nmy,clip.wav,x\n",
        ValueError,
        r"line 2: 3 cells for the 2 columns",
    ),
    "short_row": ("path,label,comment\na.wav,x\n", ValueError, r"line 2: 2 cells for the 3"),
    "rate_not_a_number": (
        "path,sample_rate\na.wav,16k\n",
        ValueError,
        r"line 2, column 'sample_rate': '16k' is not a sample rate",
    ),
    "rate_zero": ("path,sample_rate\na.wav,0\n", ValueError, r"'0' is not a sample rate"),
    "rate_empty": ("path,sample_rate\na.wav,\n", ValueError, r"'' is not a sample rate"),
    "no_rows": ("path,label\n\n,\n", FileNotFoundError, r"lists no clip"),
}


@pytest.mark.parametrize("case", sorted(BAD_MANIFESTS))
def test_bad_manifests_name_the_line_and_the_fix(tmp_path, case) -> None:
    text, error, message = BAD_MANIFESTS[case]
    (tmp_path / "clips.csv").write_text(text)
    with pytest.raises(error, match=message):
        AudioFolderDataModule(manifest=str(tmp_path / "clips.csv")).clip_list()


def test_manifest_that_is_not_utf8(tmp_path) -> None:
    (tmp_path / "clips.csv").write_bytes("path\ncaf\u00e9.wav\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"clips\.csv: the manifest is not UTF-8 .*0xe9"):
        AudioFolderDataModule(manifest=str(tmp_path / "clips.csv")).clip_list()


def test_manifest_file_that_does_not_exist(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"manifest .*lists\.csv' does not exist"):
        AudioFolderDataModule(root=str(tmp_path), manifest="lists.csv").setup()


def test_manifest_row_of_a_missing_file_names_the_line(tmp_path) -> None:
    (tmp_path / "a.wav").write_bytes(riff(pcm16(tone()[None])))
    (tmp_path / "clips.csv").write_text("path\na.wav\ngone.wav\n")
    data = AudioFolderDataModule(manifest=str(tmp_path / "clips.csv"), val_fraction=0)
    with pytest.raises(AudioLoadError, match=r"clips\.csv, line 3: audio file .*gone\.wav' does"):
        data.setup()
    data.skip_bad_files = True
    with pytest.warns(UserWarning, match=r"skipped 1 of 2 .*line 3.*gone\.wav"):
        data.setup()
    assert data.splits["train"].names == ["a.wav"]


def test_manifest_sample_rate_that_the_file_contradicts(tmp_path) -> None:
    (tmp_path / "a.wav").write_bytes(riff(pcm16(tone()[None]), rate=8000))
    (tmp_path / "b.wav").write_bytes(riff(pcm16(tone()[None]), rate=8000))
    (tmp_path / "clips.csv").write_text("path,sample_rate\na.wav,8000\nb.wav,16000\n")
    data = AudioFolderDataModule(manifest=str(tmp_path / "clips.csv"), val_fraction=0)
    with pytest.raises(AudioLoadError, match=r"line 3: .*b\.wav' is 8000 Hz .*declares 16000 Hz"):
        data.setup()
    data.skip_bad_files = True
    with pytest.warns(UserWarning, match="skipped 1 of 2"):
        data.setup()
    assert data.splits["train"].names == ["a.wav"]


def test_manifest_blank_rows_and_extra_columns_are_ignored(tmp_path) -> None:
    (tmp_path / "a.wav").write_bytes(riff(pcm16(tone()[None])))
    (tmp_path / "clips.csv").write_text("path,comment,sample_rate\n\na.wav,hello,8000.0\n,,\n")
    base, entries = AudioFolderDataModule(manifest=str(tmp_path / "clips.csv")).clip_list()
    assert base == tmp_path and entries == [("a.wav", None)]


# -- data-module arguments ---------------------------------------------------------------------
BAD_ARGUMENTS = {
    "features": ({"features": "mfcc"}, r"features must be 'fbank' or 'waveform'"),
    "channel_name": ({"channel": "middle"}, r"channel must be 'mean'"),
    "channel_negative": ({"channel": -1}, r"got -1"),
    "sample_rate": ({"sample_rate": 0}, r"sample_rate=0"),
    "num_mel_bins": ({"num_mel_bins": 0}, r"num_mel_bins=0"),
    "max_frames": ({"max_frames": 0}, r"max_frames must be >= 1 or None"),
    "clip_samples": ({"clip_samples": 0}, r"clip_samples must be >= 1"),
    "extensions": ({"extensions": []}, r"extensions must name at least one"),
    "fractions": ({"val_fraction": 0.5, "test_fraction": 0.5}, r"val_fraction \+ test_fraction"),
    "normalization": ({"normalization": "per_clip"}, r"normalization must be"),
    "batch_size": ({"batch_size": 0}, r"batch_size and patch_frames must be >= 1"),
}


@pytest.mark.parametrize("case", sorted(BAD_ARGUMENTS))
def test_bad_data_module_arguments_are_refused(case) -> None:
    kwargs, message = BAD_ARGUMENTS[case]
    with pytest.raises(ValueError, match=message):
        AudioFolderDataModule(**kwargs)


# -- batches -----------------------------------------------------------------------------------
def _fbank_batch(bad: float | None = None, row: int = 1) -> dict[str, torch.Tensor]:
    fbank = torch.randn(3, 8, 32)
    if bad is not None:
        fbank[row, 2, 5] = bad
    return {"fbank": fbank, "padding_mask": torch.zeros(3, 8, dtype=torch.bool)}


BAD_FBANK_BATCHES = {
    "nan_in_dict": (
        lambda: _fbank_batch(math.nan),
        r"BEATs: batch\['fbank'\] \(fbank features, shape \(3, 8, 32\)\) holds 1 NaN/inf value"
        r"\(s\) in clip\(s\) \[1\]",
    ),
    "inf_bare_tensor": (lambda: _fbank_batch(math.inf, row=2)["fbank"], r"batch \(fbank .*\[2\]"),
    "nan_in_probe_pair": (
        lambda: (_fbank_batch(-math.inf, row=0), torch.zeros(3)),
        r"batch\[0\]\['fbank'\] .*clip\(s\) \[0\]",
    ),
    "raw_waveforms": (lambda: torch.randn(3, 1600), r"raw waveforms go through"),
    "wrong_mel_bins": (lambda: torch.randn(3, 8, 64), r"\(B, T, 32\), got \(3, 8, 64\)"),
    "integer_fbank": (lambda: torch.zeros(3, 8, 32, dtype=torch.long), r"torch\.int64"),
    "float_mask": (
        lambda: {"fbank": torch.randn(3, 8, 32), "padding_mask": torch.zeros(3, 8)},
        r"padding_mask must be a bool tensor",
    ),
    "all_padding_clip": (
        lambda: {"fbank": torch.randn(2, 8, 32), "padding_mask": torch.ones(2, 8).bool()},
        r"no real frame",
    ),
    "no_fbank_key": (lambda: {"waveform": torch.randn(3, 1600)}, r"got keys \['waveform'\]"),
}


@pytest.mark.parametrize("case", sorted(BAD_FBANK_BATCHES))
def test_bad_fbank_batches_are_refused_by_the_batch_check(case) -> None:
    make, message = BAD_FBANK_BATCHES[case]
    torch.manual_seed(0)
    method = BEATs(**SMALL_BEATS, depth=1)
    for call in (method.training_losses, method.embed):
        with pytest.raises(MalformedBatchError, match=message):
            call(make())


def _nan_waveforms() -> torch.Tensor:
    wave = torch.randn(4, 1000)
    wave[3, 10] = math.nan
    return wave


BAD_WAVEFORM_BATCHES = {
    "nan_tensor": (_nan_waveforms, r"COLA: batch \(waveforms, .*clip\(s\) \[3\]"),
    "nan_in_dict": (
        lambda: {"waveform": _nan_waveforms(), "lengths": torch.full((4,), 1000)},
        r"batch\['waveform'\] .*1 NaN/inf",
    ),
    "zero_length": (
        lambda: {"waveform": torch.randn(2, 1000), "lengths": torch.tensor([1000, 0])},
        r"integer sample counts from 1 to T = 1000, got \[1000, 0\]",
    ),
    "fbank_to_cola": (lambda: _fbank_batch(), r"fbank batches are for the BEATs methods"),
    "channel_axis": (lambda: torch.randn(2, 1, 1000), r"squeeze the channel dimension"),
}


@pytest.mark.parametrize("case", sorted(BAD_WAVEFORM_BATCHES))
def test_bad_waveform_batches_are_refused_by_cola(case) -> None:
    make, message = BAD_WAVEFORM_BATCHES[case]
    torch.manual_seed(0)
    with pytest.raises(MalformedBatchError, match=message):
        COLA(**SMALL_COLA).eval().embed(make())


def test_cola_names_clips_shorter_than_a_window_or_a_crop() -> None:
    cola = COLA(**SMALL_COLA).eval()
    short = {"waveform": torch.randn(3, 1000), "lengths": torch.tensor([1000, 50, 900])}
    with pytest.raises(MalformedBatchError, match=r"128 samples \(one STFT window\), got \[50\]"):
        cola.embed(short)
    with pytest.raises(MalformedBatchError, match=r"800 samples \(a crop\), got \[500, 500\]"):
        cola.training_losses(torch.randn(2, 500))


def test_nan_waveform_is_refused_by_the_fbank_front_end() -> None:
    x = tone(1000)
    x[7] = math.nan
    with pytest.raises(ValueError, match="NaN/inf samples"):
        kaldi_fbank(x)


# -- checkpoints from strangers -----------------------------------------------------------------
class _RunsCode:
    """Unpickling this calls ``Path.touch``: what a malicious checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[Path]]:
        return (Path.touch, (self.marker,))


def test_checkpoint_that_would_run_code_is_refused(tmp_path) -> None:
    marker = tmp_path / "code_ran"
    torch.save({"state_dict": {"w": torch.ones(1)}, "hook": _RunsCode(marker)}, tmp_path / "x.ckpt")
    with pytest.raises(ValueError, match=r"x\.ckpt' cannot be loaded as tensors"):
        read_state_dict(str(tmp_path / "x.ckpt"))
    assert not marker.exists()


def test_checkpoint_that_is_not_a_checkpoint(tmp_path) -> None:
    (tmp_path / "notes.ckpt").write_text("not a checkpoint")
    with pytest.raises(ValueError, match=r"notes\.ckpt' cannot be loaded"):
        read_state_dict(str(tmp_path / "notes.ckpt"))
    torch.save([torch.ones(1)], tmp_path / "list.ckpt")
    with pytest.raises(ValueError, match=r"holds a list, not a state dict"):
        read_state_dict(str(tmp_path / "list.ckpt"))
