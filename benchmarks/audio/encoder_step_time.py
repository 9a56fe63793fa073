"""BEATs-style audio encoder, forward + backward: patches per second at BEATs-base and our sizes.

The encoder is built exactly as the released BEATs-base (``--size beats-base``: 12 post-LN
DeepNorm blocks of 768, 12 heads, FFN 3072, 16x16 patches through a 512-channel convolution,
convolutional positions, gated bucketed relative position bias) or as one of our presets
(``tiny``, ``mini``, ``small``, ``base``: pre-LN, sine-cosine positions). One step is the
encoder on a batch of ``(B, T, 128)`` fbanks (``T / 16 x 8`` patches per clip), a scalar loss on
every output token and its backward, in float32; the median of ``--repeats`` steps after one
warm-up. Inputs are random: the time does not depend on the values. Prints one JSON line last::

    python benchmarks/audio/encoder_step_time.py --size beats-base --batch 2 --threads 1
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch

from selfsup_audio.encoders import AudioEncoder

#: The released BEATs-base architecture (what selfsup_audio.interop builds from its checkpoint).
BEATS_BASE = dict(
    dim=768,
    depth=12,
    heads=12,
    ffn_dim=3072,
    patch=(16, 16),
    conv_dim=512,
    norm_first=False,
    conv_positions=True,
    conv_kernel=128,
    deep_norm=True,
    sincos_positions=False,
    relative_positions=True,
    num_buckets=320,
    max_distance=800,
    gated_relative_positions=True,
)


def build(size: str) -> AudioEncoder:
    if size == "beats-base":
        return AudioEncoder("base", **BEATS_BASE)
    return AudioEncoder(size)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="beats-base", help="beats-base, tiny, mini, small or base")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--frames", type=int, default=1024, help="fbank frames per clip (10 ms each)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    encoder = build(args.size).train()
    fbank = torch.randn(args.batch, args.frames, 128)

    def step() -> int:
        tokens, _ = encoder(fbank)
        tokens.square().mean().backward()
        encoder.zero_grad(set_to_none=True)
        return tokens.shape[0] * tokens.shape[1]

    patches = step()  # warm-up
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    seconds = statistics.median(times)
    print(
        json.dumps(
            {
                "benchmark": "audio.encoder_step_time",
                "size": args.size,
                "parameters": sum(p.numel() for p in encoder.parameters()),
                "batch": args.batch,
                "frames": args.frames,
                "patches_per_step": patches,
                "threads": args.threads,
                "seconds_per_step": seconds,
                "patches_per_s": patches / seconds,
                "clips_per_s": args.batch / seconds,
                "machine": platform.processor() or platform.machine(),
                "torch": torch.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
