"""The README's "Your own data" section, end to end: a folder of WAV files, the README's YAML
(scaled down), `selfsup fit`, `selfsup embed` (Parquet and .npy), `selfsup export`, and the
exported encoder reproducing the embeddings from the audio files."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import torch
import yaml

from selfsup.cli import main
from selfsup.export import load_pretrained, read_embeddings
from selfsup.plugins.configs import find_config
from selfsup_audio.encoders import AudioEmbedder
from selfsup_audio.frontends import load_waveform

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_config() -> str:
    """The YAML block of the README's "Your own data" section."""
    section = README.read_text().split("## Your own data", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```yaml\n(.*?)```", section, flags=re.DOTALL)
    assert len(blocks) == 1, "the 'Your own data' section should hold exactly one YAML block"
    return blocks[0]


def test_readme_config_is_the_shipped_one() -> None:
    assert readme_config() == find_config("audio:beats_audio_folder").read_text()


def test_fit_embed_export_on_a_folder_of_wavs(my_audio, my_audio_ids, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SELFSUP_DATA", raising=False)
    config = yaml.safe_load(readme_config())
    config["trainer"].update(
        max_epochs=1,
        limit_train_batches=2,
        limit_val_batches=1,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    task = config["model"]["tasks"][0]["init_args"]
    task["method"]["init_args"].update(size="tiny", depth=1, codebook_size=16, code_dim=8)
    task["data"]["init_args"].update(root=str(my_audio), batch_size=2)
    Path("my.yaml").write_text(yaml.safe_dump(config, sort_keys=False))

    assert main(["fit", "--config", "my.yaml"]) == 0
    ckpt = tmp_path / "outputs" / "beats_audio_folder" / "last.ckpt"  # cwd-relative, as documented
    assert ckpt.is_file()

    outputs = ["embeddings.npy"]
    if importlib.util.find_spec("pyarrow") is not None:
        outputs.append("embeddings.parquet")
    found = {}
    for output in outputs:
        argv = ["embed", "--config", "my.yaml", "--ckpt_path", str(ckpt), "--output", output]
        assert main([*argv, "--accelerator", "cpu"]) == 0
        ids, vectors = read_embeddings(output)
        # every file once (train and validation clips alike), 8 bands x the tiny encoder's 64
        assert sorted(ids) == my_audio_ids and len(set(ids)) == len(ids)
        assert vectors.shape == (8, 8 * 64) and np.isfinite(vectors).all()
        found[output] = dict(zip(ids, vectors, strict=True))
    if len(found) == 2:
        npy, parquet = found["embeddings.npy"], found["embeddings.parquet"]
        for clip_id in my_audio_ids:
            assert np.array_equal(npy[clip_id], parquet[clip_id])

    assert main(["export", "--config", "my.yaml", "--ckpt_path", str(ckpt), "--output", "enc"]) == 0
    encoder = load_pretrained(tmp_path / "enc")
    assert isinstance(encoder, AudioEmbedder) and encoder.sample_rate == 16000
    embedded = found["embeddings.npy"]
    # the README's recipe: read a file, feed the waveform, get the vector `selfsup embed` wrote
    for clip_id in my_audio_ids[:2] + my_audio_ids[-2:]:  # 8 and 16 kHz files
        wave = load_waveform(str(my_audio / clip_id), encoder.sample_rate)
        with torch.no_grad():
            vector = encoder(wave[None])[0].numpy()
        np.testing.assert_allclose(vector, embedded[clip_id], atol=1e-5, rtol=1e-5)
