"""The FSDD benchmark script's HuBERT-style iteration-2 targets, on generated clips."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from selfsup_audio.methods import BEATs

BENCH = Path(__file__).resolve().parents[3] / "benchmarks" / "audio" / "beats_fsdd.py"
pytestmark = pytest.mark.skipif(not BENCH.exists(), reason="benchmarks/ not in this checkout")


def _load():
    spec = importlib.util.spec_from_file_location("beats_fsdd", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["beats_fsdd"] = module
    spec.loader.exec_module(module)
    return module


def test_kmeans_targets_cluster_iteration_one_and_feed_iteration_two(tmp_path) -> None:
    bench = _load()
    args = bench.build_parser().parse_args(
        ["--kmeans-clusters", "5", "--kmeans-layer", "0", "--iter2-targets", "kmeans"]
    )
    gen = torch.Generator().manual_seed(0)
    clips = [torch.randn(n, 32, generator=gen) for n in (40, 24, 33, 16, 40, 12)]
    iter1 = BEATs(patch=(4, 16), num_mel_bins=32, codebook_size=8, code_dim=8, depth=1)
    path, results = str(tmp_path / "kmeans.pt"), {}
    assert bench.kmeans_targets(iter1, clips, args, path, results) == []
    assert results["tokenizer_codes_used"] <= 5 and results["kmeans_seconds"] > 0
    iter2 = BEATs(patch=(4, 16), num_mel_bins=32, tokenizer_checkpoint=path, depth=1)
    fbank = torch.stack([c[:12] for c in clips])
    assert torch.isfinite(iter2.training_losses(fbank)["loss"])
