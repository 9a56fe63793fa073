"""Cross-modal alignment of spoken and handwritten digits, each side's encoder from its plugin.

A paired-modalities manifest is built from local data: every Free Spoken Digit Dataset clip
(``fsdd/recordings``; takes 5-49 train, 0-4 test) is paired with an MNIST image of the same digit
(``mnist-test``: images 0-4999 pair with training clips, 5000-9999 with test clips, so no image
is shared between the splits). ``selfsup.data.PairedManifestDataModule`` reads the manifest (WAV
files through the audio plugin's loader and log-mel front end, images from ``.npy`` files), and
``selfsup.methods.CrossModalAlignment`` trains ``selfsup_audio``'s ``AudioConvNet`` and
``selfsup_vision``'s ``SmallConvNet`` with the symmetric (CLIP) InfoNCE loss through
``SSLModule`` and a Lightning ``Trainer`` (progress bar on).

Nothing tells the model which digit a pair shows: agreement in digit is learnt from the pairing
alone. The test pairs measure it, for the trained model and for the same model untrained:

* ``zero_shot_acc``: each test clip gets the digit whose mean test-image embedding is closest
  (images as class prototypes, no labels used in training);
* ``audio_to_image_digit_acc``: the nearest test image shows the clip's digit;
* ``pair_recall_at_1``: the nearest test image is the clip's own pair (out of 300; a same-digit
  image is as good a match, so this stays low by design).

    python benchmarks/mixed/align_speech_digits.py --data-root /path/to/data [--epochs 15]

The manifest, the image files and the run live in ``--work-dir`` (a temporary folder by default);
nothing is written into the repository. One JSON line last.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import platform
import re
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch import Trainer, seed_everything
from torch import Tensor
from torch.utils.data import DataLoader

from selfsup.data import PairedDataset, PairedManifestDataModule, load_array, resolve_data_root
from selfsup.experiment import SSLModule, Task
from selfsup.methods import CrossModalAlignment
from selfsup_audio.encoders.convnet import AudioConvNet
from selfsup_audio.frontends.audio_io import load_waveform
from selfsup_audio.frontends.log_mel import LogMelSpectrogram
from selfsup_vision.encoders.convnet import SmallConvNet

SAMPLE_RATE = 8000  # FSDD's own rate: no resampling
FRAMES = 64  # 0.64 s at a 10 ms hop; longer clips are centre-cropped, shorter ones zero-padded
_CLIP = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    magic = int.from_bytes(data[:4], "big")
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(magic & 0xFF)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * len(dims)).reshape(dims)


def build_manifests(data_root: Path, work: Path, seed: int) -> tuple[Path, Path]:
    """Write the train and test manifests (``audio``, ``image``, ``digit`` columns) to ``work``."""
    recordings = data_root / "fsdd" / "recordings"
    mnist = data_root / "mnist-test"
    if not recordings.is_dir() or not mnist.is_dir():
        raise SystemExit(f"need {recordings} and {mnist}; pass --data-root (see its README.md).")
    images = _read_idx(mnist / "t10k-images-idx3-ubyte.gz").astype(np.float32) / 255.0
    labels = _read_idx(mnist / "t10k-labels-idx1-ubyte.gz").astype(np.int64)
    (work / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    split_of = {"train": range(0, 5000), "test": range(5000, 10000)}
    pools = {
        split: {d: [i for i in idx if labels[i] == d] for d in range(10)}
        for split, idx in split_of.items()
    }
    rows: dict[str, list[dict[str, str]]] = {"train": [], "test": []}
    for path in sorted(recordings.glob("*.wav")):
        match = _CLIP.match(path.name)
        if match is None:
            continue
        digit, take = int(match.group(1)), int(match.group(3))
        split = "test" if take < 5 else "train"
        index = int(rng.choice(pools[split][digit]))
        image = work / "images" / f"{index}.npy"
        if not image.exists():
            np.save(image, images[index][None])  # (1, 28, 28)
        rows[split].append({"audio": str(path), "image": str(image), "digit": str(digit)})
    out = []
    for split in ("train", "test"):
        manifest = work / f"{split}.csv"
        with manifest.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=["audio", "image", "digit"])
            writer.writeheader()
            writer.writerows(rows[split])
        out.append(manifest)
    return out[0], out[1]


class SpokenDigitReader:
    """WAV path -> ``(64, FRAMES)`` normalised log-mel (the audio plugin's loader and front end)."""

    def __init__(self) -> None:
        self.mel = LogMelSpectrogram(
            sample_rate=SAMPLE_RATE, n_fft=256, win_length=200, hop_length=80, f_max=None
        )
        self._cache: dict[str, Tensor] = {}  # every clip is read once per epoch

    def __call__(self, path: str) -> Tensor:
        if path not in self._cache:
            self._cache[path] = self._read(path)
        return self._cache[path]

    def _read(self, path: str) -> Tensor:
        with torch.no_grad():
            mel = self.mel(load_waveform(path, target_rate=SAMPLE_RATE)[None])[0]
        mel = (mel - mel.mean()) / mel.std().clamp_min(1e-5)
        frames = mel.shape[1]
        if frames >= FRAMES:
            start = (frames - FRAMES) // 2
            return mel[:, start : start + FRAMES].contiguous()
        return F.pad(mel, (0, FRAMES - frames))


def _model(embed_dim: int) -> CrossModalAlignment:
    return CrossModalAlignment(
        encoder_a=AudioConvNet(width=32, out_dim=128),
        encoder_b=SmallConvNet(in_channels=1, width=16, out_dim=128),
        dim_a=128,
        dim_b=128,
        embed_dim=embed_dim,
        temperature=0.1,
        keys=("audio", "image"),
    )


@torch.no_grad()
def evaluate(model: CrossModalAlignment, loader: DataLoader, digits: Tensor) -> dict:
    model.eval()
    audio, image = [], []
    for batch in loader:
        a, b = model.embed_pair(batch)
        audio.append(a)
        image.append(b)
    u, v = torch.cat(audio), torch.cat(image)
    prototypes = F.normalize(torch.stack([v[digits == d].mean(0) for d in range(10)]), dim=-1)
    nearest = (u @ v.T).argmax(dim=1)
    return {
        "zero_shot_acc": float(((u @ prototypes.T).argmax(dim=1) == digits).float().mean()),
        "audio_to_image_digit_acc": float((digits[nearest] == digits).float().mean()),
        "pair_recall_at_1": float((nearest == torch.arange(len(u))).float().mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data-root", default=None, help="folder holding fsdd/ and mnist-test/ ($SELFSUP_DATA)"
    )
    parser.add_argument("--work-dir", type=Path, default=None, help="default: a temporary folder")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--embed-dim", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON line here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    temporary = None
    if args.work_dir is None:
        temporary = tempfile.TemporaryDirectory(prefix="selfsup_align_")
        args.work_dir = Path(temporary.name)
    seed_everything(args.seed)
    train_csv, test_csv = build_manifests(
        resolve_data_root(args.data_root, owner="align_speech_digits.py", parameter="--data-root"),
        args.work_dir,
        args.seed,
    )
    reader = SpokenDigitReader()

    def data(manifest: Path, val_fraction: float) -> PairedManifestDataModule:
        return PairedManifestDataModule(
            manifest,
            columns=("audio", "image"),
            readers={"audio": reader},
            batch_size=args.batch_size,
            val_fraction=val_fraction,
            seed=args.seed,
        )

    train = data(train_csv, val_fraction=0.0)
    with test_csv.open(encoding="utf-8") as handle:
        test_rows = list(csv.DictReader(handle))
    readers = {"audio": reader, "image": load_array}
    test_set = PairedDataset(test_rows, ("audio", "image"), readers, test_csv.parent)
    test = DataLoader(test_set, batch_size=256)  # dicts of stacked tensors, in file order
    digits = torch.tensor([int(row["digit"]) for row in test_rows])

    untrained = _model(args.embed_dim)
    before = evaluate(untrained, test, digits)

    seed_everything(args.seed)
    model = _model(args.embed_dim)
    module = SSLModule(
        [Task("align", model, train)],
        optimizer=lambda params: torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-4),
    )
    trainer = Trainer(
        max_epochs=args.epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        default_root_dir=str(args.work_dir),
    )
    start, cpu_start = time.perf_counter(), time.process_time()
    trainer.fit(module)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    after = evaluate(model, test, digits)

    print("\n| model | zero-shot digit acc | nearest image same digit | own pair R@1 |")
    print("|---|---|---|---|")
    for name, scores in (("untrained", before), ("aligned", after)):
        print(
            f"| {name} | {scores['zero_shot_acc']:.3f} | "
            f"{scores['audio_to_image_digit_acc']:.3f} | {scores['pair_recall_at_1']:.3f} |"
        )
    result = {
        "benchmark": "mixed.align_speech_digits",
        "epochs": args.epochs,
        "train_pairs": len(train.train_set or []),
        "test_pairs": len(digits),
        **after,
        "untrained": before,
        "final_temperature": float(model.temperature.detach()),
        "sec_per_epoch": seconds / args.epochs,
        "cpu_seconds": cpu_seconds,
        "total_seconds": seconds,
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
    }
    line = json.dumps(result)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(line + "\n")
    if temporary is not None:
        temporary.cleanup()
    print(line)


if __name__ == "__main__":
    main()
