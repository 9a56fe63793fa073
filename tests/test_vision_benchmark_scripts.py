"""The CIFAR-10 benchmark's settings search: grid files, optimiser groups, overrides, plots."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
VISION = ROOT / "benchmarks" / "vision"


def test_committed_grids_parse_with_unique_names(load_benchmark):
    grid = load_benchmark("vision", "grid")
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
def test_read_grid_refuses_malformed_files(tmp_path, text, message, load_benchmark):
    path = tmp_path / "grid.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_benchmark("vision", "grid").read_grid(str(path))


def test_read_grid_keeps_quoted_arguments_and_drops_comments(tmp_path, load_benchmark):
    path = tmp_path / "grid.txt"
    path.write_text("run_1: --method byol --ema-momentum 'constant:0.99'  # why\n")
    assert load_benchmark("vision", "grid").read_grid(str(path)) == [
        ("run_1", ["--method", "byol", "--ema-momentum", "constant:0.99"])
    ]


def test_grid_records_a_failing_run_instead_of_stopping(tmp_path, monkeypatch, load_benchmark):
    grid = load_benchmark("vision", "grid")
    failing = tmp_path / "fail.py"
    failing.write_text("import sys\nsys.exit(3)\n")
    monkeypatch.setattr(grid, "SCRIPT", failing)
    result = grid.run_one("x", [], [], tmp_path, timeout=60, threads=1)
    assert result == {"name": "x", "error": "exit 3", "args": []}


def test_param_groups_scale_the_predictor_and_skip_decay_on_vectors(load_benchmark):
    bench = load_benchmark("vision", "cifar10")
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


def test_param_groups_refuse_a_predictor_multiplier_without_a_predictor(load_benchmark):
    bench = load_benchmark("vision", "cifar10")
    method = bench.build_method("vicreg", bench.build_encoder("small_convnet"), 32)
    with pytest.raises(ValueError, match="needs a method with a predictor, not VICReg"):
        bench.param_groups(method, 1e-3, predictor_lr_mult=3.0)


def test_build_method_overrides_reach_the_method(load_benchmark):
    bench = load_benchmark("vision", "cifar10")
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


@pytest.mark.parametrize("name", ["moco_v3", "supcon"])
def test_every_benchmark_method_builds_and_takes_one_step(name, load_benchmark):
    bench = load_benchmark("vision", "cifar10")
    method = bench.build_method(name, bench.build_encoder("small_convnet"), 32)
    batch = (torch.rand(4, 3, 32, 32), torch.tensor([0, 1, 0, 2]))
    assert torch.isfinite(method.training_losses(batch)["loss"])


def test_plot_grid_draws_every_finished_run(tmp_path, monkeypatch, capsys, load_benchmark):
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
    load_benchmark("vision", "plot_grid").main()
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["runs"] == 2 and summary["methods"] == ["barlow", "byol"]
    assert png.stat().st_size > 0


def test_validation_images_are_stratified_disjoint_and_leave_the_subset_alone(load_benchmark):
    cifar = load_benchmark("vision", "cifar10")
    labels = [i % 3 for i in range(90)] + [0] * 30  # class 0: 60 images, classes 1, 2: 30 each
    pretrain, val = cifar.split_training_images(labels, train_subset=40, val_size=20, seed=5)
    same_subset, none = cifar.split_training_images(labels, train_subset=40, val_size=0, seed=5)
    assert pretrain == same_subset and none == []
    assert len(pretrain) == 40 and len(val) == 20 and not set(pretrain) & set(val)
    rest = [labels[i] for i in range(len(labels)) if i not in set(pretrain)]
    for c in range(3):  # each class's share follows its share of the images left over
        share = 20 * rest.count(c) / len(rest)
        assert abs(sum(labels[i] == c for i in val) - share) < 1
    full, held = cifar.split_training_images(labels, train_subset=None, val_size=12, seed=1)
    assert sorted(full + held) == list(range(len(labels)))


def test_validation_split_refuses_more_images_than_are_left(load_benchmark):
    cifar = load_benchmark("vision", "cifar10")
    with pytest.raises(ValueError, match="lower --val-size"):
        cifar.split_training_images([0, 1] * 10, train_subset=15, val_size=6, seed=0)
    with pytest.raises(ValueError, match=">= 0"):
        cifar.split_training_images([0, 1], train_subset=None, val_size=-1, seed=0)


def test_selection_reads_validation_only(load_benchmark):
    cifar = load_benchmark("vision", "cifar10")
    history = [
        {"epoch": 1, "val_knn_acc": 0.4, "test_knn_acc": 0.9},
        {"epoch": 2, "val_knn_acc": 0.5, "test_knn_acc": 0.1},
        {"epoch": 3, "val_knn_acc": 0.5, "test_knn_acc": 0.2},
    ]
    assert cifar.select_best(history)["epoch"] == 2  # best validation, earliest on ties
    with pytest.raises(ValueError):
        cifar.select_best([])


def test_lightly_table_renders_rows_and_refuses_files_without_them(
    tmp_path, capsys, load_benchmark
):
    table = load_benchmark("vision", "lightly_table")
    row = {
        "method": "simclr",
        "table_method": "simclr",
        "device": "GPU",
        "epochs": 120.0,
        "epochs_scheduled": 120,
        "batch_size": 512,
        "pretrain_seconds": 420.0,
        "eval_seconds": 30.0,
        "images_per_sec": 15000.0,
        "best_val_epoch": 110.0,
        "test_knn_at_best_val": 0.81,
        "test_knn_best_over_evals": 0.815,
    }
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(row) + "\n" + json.dumps({"method": "byol", "error": "x"}) + "\n")
    table.main([str(path), "--plot", str(tmp_path / "t.png")])
    out = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(out[-1])
    assert [r["method"] for r in summary["rows"]] == ["simclr"]  # the failed run is left out
    assert summary["rows"][0]["wall_min"] == 7.5
    assert summary["rows"][0]["lightly"] == table.LIGHTLY_B512_E200["simclr"]
    assert "| simclr | GPU | 120.0 / 120 | 7.5 | 15,000 | 0.810 | 0.815 | 0.848 |" in out
    assert (tmp_path / "t.png").stat().st_size > 0
    empty = tmp_path / "empty.jsonl"
    empty.write_text(json.dumps({"method": "byol", "error": "x"}) + "\n")
    with pytest.raises(SystemExit, match="test_knn_at_best_val"):
        table.main([str(empty)])


def test_grid_selects_on_validation_never_on_test(load_benchmark):
    grid = load_benchmark("vision", "grid")
    runs = [
        {"name": "a", "method": "simclr", "knn_acc": 0.9, "linear_acc": 0.9, "val_knn_acc": 0.3},
        {"name": "b", "method": "simclr", "knn_acc": 0.1, "linear_acc": 0.1, "val_knn_acc": 0.4},
        {"name": "c", "method": "byol", "knn_acc": 0.5, "linear_acc": 0.5},
        {"name": "d", "method": "byol", "error": "timeout"},
    ]
    best = grid.best_per_method(runs)
    assert best["simclr"]["name"] == "b"
    assert "unselected" in best["byol"] and "name" not in best["byol"]


def test_the_streaming_benchmark_runs_small(tmp_path, capsys, monkeypatch, load_benchmark):
    bench = load_benchmark("vision", "stream_shards")
    args = ["--out", str(tmp_path / "shards"), "--gib", "0.002", "--budget-mib", "0.5",
            "--image-size", "16", "--distinct", "20", "--samples-per-shard", "50",
            "--batch-size", "16", "--workers", "2", "--every", "2",
            "--plot", str(tmp_path / "memory.png")]  # fmt: skip
    monkeypatch.setattr("sys.argv", ["stream_shards.py", *args])
    bench.main()
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["images_read"] > 0 and result["images_per_s"] > 0
    assert result["pss_max_mib"] > 100  # the training process with torch loaded
    assert result["within_budget"] is False  # a budget of 0.5 MiB cannot hold it
    assert len(result["series"]) == result["measurements"]
    assert (tmp_path / "memory.png").read_bytes().startswith(b"\x89PNG")
