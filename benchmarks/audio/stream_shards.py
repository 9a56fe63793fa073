"""Streaming audio from tar shards larger than a memory budget: flat memory and clips/s.

Fills a shard folder once, then reads one epoch through
``selfsup_audio.data.AudioShardsDataModule`` (``selfsup.data.shards.ShardLoader``: each loader
worker holds one shard at a time and computes the Kaldi fbanks of its clips) with ``--workers``
processes, as BEATs pre-training would. Every ``--every`` batches it records the memory of the
training process and its workers (sum of proportional set sizes, so pages shared by the forked
workers count once) and the throughput.

The folder is filled either by packing a real audio folder (``--audio-root``, e.g. the Free
Spoken Digit recordings; ``--repeat`` packs it several times under new keys) or, without one,
with ``--gib`` GiB of generated 16 kHz PCM WAV clips of 2-10 s (``--distinct`` different clips of
tones in noise, repeated under new keys): every sample is a real WAV file that is decoded,
resampled when needed, cropped to ``--max-frames`` and turned into a normalised fbank.

    python benchmarks/audio/stream_shards.py --out /tmp/wav-shards --gib 2 --budget-mib 2048

Prints progress to stderr and one JSON line last on stdout.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import platform
import sys
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from selfsup.data.shards import INDEX_NAME, iter_tar_samples, read_index, write_shards
from selfsup_audio.data import AudioShardsDataModule, write_audio_shards

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # process_memory.py
from process_memory import add_stream_arguments, plot_memory, tree_pss_mib


def _wav_bytes(samples: torch.Tensor, rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes((samples.clamp(-1, 1) * 32767).to(torch.int16).numpy().tobytes())
    return buffer.getvalue()


def generated_clips(distinct: int, seed: int, rate: int = 16000) -> list[bytes]:
    """``distinct`` WAV files of 2-10 s: a few tones with random pitch glides in noise."""
    gen = torch.Generator().manual_seed(seed)
    files = []
    for _ in range(distinct):
        n = int(rate * (2 + 8 * torch.rand((), generator=gen)))
        t = torch.arange(n) / rate
        x = 0.05 * torch.randn(n, generator=gen)
        for _ in range(3):
            f0, glide = 100 + 2000 * torch.rand(2, generator=gen)
            x += 0.2 * torch.sin(2 * math.pi * (f0 + (glide - f0) * t / t[-1] / 2) * t)
        files.append(_wav_bytes(x, rate))
    return files


def fill(args: argparse.Namespace, out: Path) -> None:
    if args.audio_root:
        packed = out.with_name(out.name + ".once")
        if not (packed / INDEX_NAME).is_file():
            write_audio_shards(args.audio_root, packed, args.samples_per_shard)
        originals = [s for shard in read_index(packed) for s in iter_tar_samples(shard.path)]
        count = len(originals) * args.repeat
    else:
        files = generated_clips(args.distinct, args.seed)
        mean_bytes = sum(len(f) for f in files) / len(files)
        count = math.ceil(args.gib * 2**30 / mean_bytes)
        originals = [{"wav": f, "cls": str(i % 10)} for i, f in enumerate(files)]
    print(f"writing {count:,} clips to {out}", file=sys.stderr)

    def samples() -> Iterator[dict[str, Any]]:
        for i in range(count):
            sample = {k: v for k, v in originals[i % len(originals)].items() if k != "__key__"}
            yield {**sample, "__key__": f"{i:09d}"}

    write_shards(samples(), out, samples_per_shard=args.samples_per_shard)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_stream_arguments(parser, every=10)
    parser.add_argument("--audio-root", default=None, help="pack this audio folder instead")
    parser.add_argument("--repeat", type=int, default=1, help="--audio-root: times packed")
    parser.add_argument("--gib", type=float, default=2.0, help="generated data on disk, GiB")
    parser.add_argument("--distinct", type=int, default=200)
    parser.add_argument("--samples-per-shard", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--sample-rate", type=int, default=16000)
    parser.add_argument("--max-frames", type=int, default=1024)
    args = parser.parse_args()
    out = Path(args.out)
    if not (out / INDEX_NAME).is_file():
        fill(args, out)
    shards = read_index(out)
    disk_bytes = sum(s.path.stat().st_size for s in shards)
    data = AudioShardsDataModule(
        str(out.resolve()),
        batch_size=args.batch_size,
        sample_rate=args.sample_rate,
        max_frames=args.max_frames,
        num_workers=args.workers,
        seed=args.seed,
    )
    data.setup("fit")
    loader = data.train_dataloader()
    total = len(loader)
    rows: list[list[float]] = []
    clips = frames = 0
    start = time.perf_counter()
    for i, batch in enumerate(loader, start=1):
        clips += batch["fbank"].shape[0]
        frames += int((~batch["padding_mask"]).sum())
        if i % args.every == 0 or i == total:
            rows.append([i, round(tree_pss_mib(), 1)])
            rate = clips / (time.perf_counter() - start)
            print(f"batch {i}/{total}: {rows[-1][1]:.0f} MiB, {rate:.0f} clips/s", file=sys.stderr)
    wall = time.perf_counter() - start
    pss = [r[1] for r in rows]
    result: dict[str, Any] = {
        "benchmark": "audio_stream_shards",
        "source": args.audio_root and f"{Path(args.audio_root).name} x{args.repeat}" or "generated",
        "data_gib_on_disk": disk_bytes / 2**30,
        "shards": len(shards),
        "samples": sum(s.count for s in shards),
        "clips_read": clips,
        "batch_size": args.batch_size,
        "max_frames": args.max_frames,
        "workers": args.workers,
        "budget_mib": args.budget_mib,
        "pss_first_mib": pss[0],
        "pss_last_mib": pss[-1],
        "pss_max_mib": max(pss),
        "within_budget": max(pss) < args.budget_mib < disk_bytes / 2**20,
        "clips_per_s": clips / wall,
        "fbank_seconds_per_s": frames / 100 / wall,  # 10 ms frames: audio seconds delivered
        "epoch_s": wall,
        "series": rows,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": args.machine or platform.processor() or platform.machine(),
    }
    if args.plot:
        plot_memory(result, args.plot, unit="clips")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
