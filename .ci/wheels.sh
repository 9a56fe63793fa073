#!/usr/bin/env bash
# The stranger's path, from the built wheels: install selfsup-core and one plugin (audio) into a
# fresh venv and, from a folder outside the repository, run --version, configs, a short fit of a
# shipped config on data given by path, embed on its checkpoint and the export round trip.
#
#   PYTHON=.venv/bin/python bash .ci/wheels.sh
#
# torch comes from the shared base venv (.ci/torch_base.sh) through a .pth file: every other
# dependency is resolved from the wheels' metadata.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
PYTHON=${PYTHON:-python3}
bash .ci/build_dists.sh dist
BASE_SITE=$(PYTHON="$PYTHON" bash .ci/torch_base.sh)
ENV=$REPO/.venv-isolated/wheels
rm -rf "$ENV"
"$PYTHON" -m venv "$ENV"
echo "$BASE_SITE" > "$("$ENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/_selfsup_torch_base.pth"
"$ENV/bin/python" -m pip install -q "$(ls dist/selfsup_core-*.whl)[parquet]" dist/selfsup_audio-*.whl

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
export PATH="$ENV/bin:$PATH"
set -x
selfsup --version | grep -q "selfsup-audio"
selfsup --help | grep -q "embed"
selfsup configs | grep "audio:beats_audio_folder"
python - <<'PY'
# installed from the wheels, not from the checkout; then 40 one-second tone clips as 16-bit WAV
import pathlib, wave
import numpy as np
import selfsup, selfsup_audio
for module in (selfsup, selfsup_audio):
    assert "site-packages" in module.__file__, module.__file__
rng = np.random.default_rng(0)
for i in range(40):
    folder = pathlib.Path("my_audio") / f"speaker{i % 4}"
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(16000) / 16000
    x = 0.3 * np.sin(2 * np.pi * (200 + 40 * i) * t) + 0.01 * rng.standard_normal(16000)
    with wave.open(str(folder / f"clip{i:02d}.wav"), "wb") as out:
        out.setnchannels(1); out.setsampwidth(2); out.setframerate(16000)
        out.writeframes((x * 32767).astype("<i2").tobytes())
PY
export SELFSUP_DATA=$WORK/my_audio
selfsup fit --config audio:beats_audio_folder --trainer.max_epochs=1 --trainer.accelerator=cpu \
  --trainer.enable_progress_bar=false --trainer.logger=false
CKPT=outputs/beats_audio_folder/last.ckpt
selfsup embed --config audio:beats_audio_folder --ckpt_path "$CKPT" --output emb.parquet \
  --accelerator cpu
selfsup embed --config audio:beats_audio_folder --ckpt_path "$CKPT" --output emb.npy \
  --accelerator cpu
selfsup export --config audio:beats_audio_folder --ckpt_path "$CKPT" --output encoder
unset SELFSUP_DATA
python - <<'PY'
import numpy as np
import torch
from selfsup.export import load_pretrained, read_embeddings
from selfsup_audio.frontends import load_waveform

ids, vectors = read_embeddings("emb.parquet")
ids_npy, vectors_npy = read_embeddings("emb.npy")
assert len(ids) == 40 == len(set(ids)) and np.isfinite(vectors).all(), (len(ids), vectors.shape)
assert ids == ids_npy and np.array_equal(vectors, vectors_npy)
encoder = load_pretrained("encoder")
row = {clip: i for i, clip in enumerate(ids)}
for clip in ids[:3]:
    wave = load_waveform(f"my_audio/{clip}", encoder.sample_rate)
    with torch.no_grad():
        again = encoder(wave[None]).numpy()[0]
    assert np.allclose(again, vectors[row[clip]], atol=1e-4), clip
print(f"wheels OK: {len(ids)} clips embedded, {vectors.shape[1]}-d; export round trip exact")
PY
