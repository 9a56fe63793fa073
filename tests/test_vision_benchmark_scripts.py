"""The CIFAR-10 benchmark's settings search: grid files, optimiser groups, overrides, plots."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
VISION = ROOT / "benchmarks" / "vision"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_vision_{name}", VISION / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_grids_parse_with_unique_names():
    grid = _load("grid")
    for path in sorted((VISION / "grids").glob("*.txt")):
        runs = grid.read_grid(str(path))
        assert len({name for name, _ in runs}) == len(runs)
        assert all("--method" in args for _, args in runs), path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: --method simclr\na: --method byol\n", "appears twice"),
        ("--method simclr\n", "expected 'name: --arg value"),
        ("# only a comment\n\n", "holds no runs"),
    ],
)
def test_read_grid_refuses_malformed_files(tmp_path, text, message):
    path = tmp_path / "grid.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        _load("grid").read_grid(str(path))


def test_read_grid_keeps_quoted_arguments_and_drops_comments(tmp_path):
    path = tmp_path / "grid.txt"
    path.write_text("run_1: --method byol --ema-momentum 'constant:0.99'  # why\n")
    assert _load("grid").read_grid(str(path)) == [
        ("run_1", ["--method", "byol", "--ema-momentum", "constant:0.99"])
    ]


def test_grid_records_a_failing_run_instead_of_stopping(tmp_path, monkeypatch):
    grid = _load("grid")
    failing = tmp_path / "fail.py"
    failing.write_text("import sys\nsys.exit(3)\n")
    monkeypatch.setattr(grid, "SCRIPT", failing)
    result = grid.run_one("x", [], [], tmp_path, timeout=60, threads=1)
    assert result == {"name": "x", "error": "exit 3", "args": []}


def test_param_groups_scale_the_predictor_and_skip_decay_on_vectors():
    bench = _load("cifar10")
    method = bench.build_method("byol", bench.build_encoder("small_convnet"), 32)
    groups = bench.param_groups(method, 1e-3, predictor_lr_mult=10.0)
    predictor = {id(p) for p in method.predictor.parameters()}
    trainable = [p for p in method.parameters() if p.requires_grad]
    assert sum(len(g["params"]) for g in groups) == len(trainable)
    for g in groups:
        in_predictor = {id(p) in predictor for p in g["params"]}
        assert len(in_predictor) == 1
        assert g["lr"] == pytest.approx(1e-2 if in_predictor.pop() else 1e-3)
        assert all(p.ndim <= 1 for p in g["params"]) == (g.get("weight_decay") == 0.0)


def test_param_groups_refuse_a_predictor_multiplier_without_a_predictor():
    bench = _load("cifar10")
    method = bench.build_method("vicreg", bench.build_encoder("small_convnet"), 32)
    with pytest.raises(ValueError, match="needs a method with a predictor, not VICReg"):
        bench.param_groups(method, 1e-3, predictor_lr_mult=3.0)


def test_build_method_overrides_reach_the_method():
    bench = _load("cifar10")
    enc = bench.build_encoder("small_convnet")
    barlow = bench.build_method(
        "mixed_barlow", enc, 64, views="simclr-cifar", projection_dim=48, barlow_lambda=0.002
    )
    out = barlow.projector(torch.randn(4, enc.out_dim))
    assert out.shape == (4, 48)
    assert barlow.lambda_offdiag == 0.002 and barlow.mixup
    with pytest.raises(ValueError, match="--barlow-lambda applies to barlow"):
        bench.build_method("vicreg", enc, 64, barlow_lambda=0.01)
    with pytest.raises(ValueError, match="--views applies to"):
        bench.build_method("simclr", enc, 64, views="byol-cifar")
    with pytest.raises(ValueError, match="--views applies to"):
        bench.build_method("mae", enc, 64, views="byol-cifar")
    with pytest.raises(ValueError, match="--projection-dim applies to"):
        bench.build_method("ijepa", enc, 64, projection_dim=64)


def test_plot_grid_draws_every_finished_run(tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    runs = [
        {"name": "a", "method": "barlow", "knn_acc": 0.40},
        {"name": "b", "method": "byol", "knn_acc": 0.33},
        {"name": "c", "error": "exit 1"},
    ]
    jsonl = tmp_path / "grid.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in runs))
    png = tmp_path / "grid.png"
    argv = [
        "plot_grid.py",
        str(jsonl),
        "--baseline",
        "0.3",
        "--target",
        "0.4",
        "--output",
        str(png),
    ]
    monkeypatch.setattr(sys, "argv", argv)
    _load("plot_grid").main()
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["runs"] == 2 and summary["methods"] == ["barlow", "byol"]
    assert png.stat().st_size > 0
