"""Streaming images from tar shards larger than a memory budget: flat memory and images/s.

Generates (once) a shard folder of random-noise JPEGs totalling ``--gib`` GiB on disk, more than
the ``--budget-mib`` memory budget, then reads one epoch through
``selfsup_vision.data.ImageShardsDataModule`` (``selfsup.data.shards.ShardLoader``: each worker
holds one shard at a time) with ``--workers`` loader processes, as training would. Every
``--every`` batches it records the memory of the training process and its workers as the sum of
their proportional set sizes (PSS, ``/proc/<pid>/smaps_rollup``: pages shared between the forked
workers are counted once), and the images per second. The budget is met when the largest sum
stays below it while the data read is larger.

The images are noise (``--distinct`` different JPEG files, repeated under new keys), so every
sample is a real file on disk that is read and decoded; only the pixel statistics are not
natural images'.

    python benchmarks/vision/stream_shards.py --out /tmp/noise-shards --gib 3 --budget-mib 2048

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
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from selfsup.data.shards import INDEX_NAME, read_index, write_shards
from selfsup_vision.data import ImageShardsDataModule

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # process_memory.py
from process_memory import add_stream_arguments, plot_memory, tree_pss_mib


def generate(out: Path, gib: float, size: int, distinct: int, per_shard: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    files = []
    for _ in range(distinct):
        pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
        files.append(buffer.getvalue())
    mean_bytes = sum(len(f) for f in files) / len(files)
    count = math.ceil(gib * 2**30 / mean_bytes)
    print(f"writing {count:,} JPEGs of ~{mean_bytes / 1024:.1f} KiB to {out}", file=sys.stderr)

    def samples():
        for i in range(count):
            yield {"__key__": f"{i:09d}", "jpg": files[i % distinct], "cls": str(i % 10)}

    write_shards(samples(), out, samples_per_shard=per_shard)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_stream_arguments(parser, every=20)
    parser.add_argument("--gib", type=float, default=3.0, help="data on disk to generate, GiB")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--distinct", type=int, default=2000)
    parser.add_argument("--samples-per-shard", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    out = Path(args.out)
    if not (out / INDEX_NAME).is_file():
        generate(out, args.gib, args.image_size, args.distinct, args.samples_per_shard, args.seed)
    shards = read_index(out)
    disk_bytes = sum(s.path.stat().st_size for s in shards)
    data = ImageShardsDataModule(
        str(out.resolve()), batch_size=args.batch_size, num_workers=args.workers, seed=args.seed
    )
    data.setup("fit")
    loader = data.train_dataloader()
    total = len(loader)
    rows: list[dict[str, float]] = []
    images = 0
    start = last = time.perf_counter()
    for i, (batch, _) in enumerate(loader, start=1):
        images += batch.shape[0]
        if i % args.every == 0 or i == total:
            now = time.perf_counter()
            rows.append(
                {"batch": i, "pss_mib": tree_pss_mib(), "images_per_s": args.every
                 * args.batch_size / (now - last) if i % args.every == 0 else float("nan")}
            )  # fmt: skip
            last = now
            print(
                f"batch {i}/{total}: {rows[-1]['pss_mib']:.0f} MiB, "
                f"{images / (now - start):.0f} images/s",
                file=sys.stderr,
            )
    wall = time.perf_counter() - start
    pss = [r["pss_mib"] for r in rows]
    result: dict[str, Any] = {
        "benchmark": "vision_stream_shards",
        "data_gib_on_disk": disk_bytes / 2**30,
        "shards": len(shards),
        "samples": sum(s.count for s in shards),
        "images_read": images,
        "image_size": args.image_size,
        "batch_size": args.batch_size,
        "workers": args.workers,
        "budget_mib": args.budget_mib,
        "pss_first_mib": pss[0],
        "pss_last_mib": pss[-1],
        "pss_max_mib": max(pss),
        "within_budget": max(pss) < args.budget_mib < disk_bytes / 2**20,
        "images_per_s": images / wall,
        "mib_per_s": images / wall * disk_bytes / sum(s.count for s in shards) / 2**20,
        "epoch_s": wall,
        "measurements": len(rows),
        "series": [[int(r["batch"]), round(r["pss_mib"], 1)] for r in rows],
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": args.machine or platform.processor() or platform.machine(),
    }
    if args.plot:
        plot_memory(result, args.plot, unit="images")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
