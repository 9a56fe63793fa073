"""The tabular benchmark's settings sweep: grid files, validation-only ranking, probe heads."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TABULAR = ROOT / "benchmarks" / "tabular"


def test_committed_grids_parse_with_unique_names(load_benchmark):
    sweep = load_benchmark("tabular", "sweep")
    for path in sorted((TABULAR / "grids").glob("*.txt")):
        runs = sweep.read_grid(str(path))
        assert len({name for name, _ in runs}) == len(runs), path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: --x 1\na: --x 2\n", "appears twice"),
        ("no colon here\n", "expected"),
        ("# only\n", "no runs"),
    ],
)
def test_read_grid_refuses_malformed_files(tmp_path, text, message, load_benchmark):
    sweep = load_benchmark("tabular", "sweep")
    path = tmp_path / "g.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        sweep.read_grid(str(path))


def test_rank_uses_validation_means_over_every_seed_only(load_benchmark):
    sweep = load_benchmark("tabular", "sweep")

    def rec(name, seed, val, metric="accuracy", test=0.99):
        return {"name": name, "seed": seed, "metric": metric, "val": {"m": val}, "m": test}

    records = [
        rec("a", 0, 0.80),
        rec("a", 1, 0.82),
        rec("b", 0, 0.85, test=0.1),
        rec("b", 1, 0.83, test=0.1),
        rec("c", 0, 0.99),  # seed 1 missing: not ranked
    ]
    ranking = sweep.rank(records, ["a", "b", "c"], [0, 1], "m")
    assert [r["name"] for r in ranking] == ["b", "a"]  # test scores never enter
    rmse = [rec("a", 0, 5.0, "rmse"), rec("b", 0, 4.0, "rmse")]
    assert [r["name"] for r in sweep.rank(rmse, ["a", "b"], [0], "m")] == ["b", "a"]


def test_probe_heads_parse_and_refuse_nonsense(load_benchmark):
    tjepa = load_benchmark("tabular", "tjepa")
    assert tjepa.parse_head("2x64:0.2:3e-4:1e-5") == {
        "num_layers": 2,
        "hidden_dim": 64,
        "dropout": 0.2,
        "lr": 3e-4,
        "weight_decay": 1e-5,
    }
    for bad in ("2x64:0.2:3e-4", "2x:0.1:1e-3:0", "0x64:0.1:1e-3:0", "2x64:1.5:1e-3:0"):
        with pytest.raises(argparse.ArgumentTypeError):
            tjepa.parse_head(bad)


def test_rankme_selection_reads_nested_sweep_fields_and_histories(tmp_path, load_benchmark):
    module = load_benchmark("core", "rankme_selection")
    lines = [
        {"name": "a", "seed": 0, "val": {"r": 10.0, "p": 0.8}},
        {"name": "b", "seed": 1, "val": {"r": 20.0, "p": 0.9}},
        {"name": "c", "seed": 0, "error": "timeout"},  # failed runs are skipped
        {
            "name": "d",
            "seed": 0,
            "val": {"r": 5.0, "p": 0.7},
            "eval_history": [{"val": {"r": 1.0, "p": 0.5}}, {"val": {"r": 2.0, "p": 0.6}}],
        },
    ]
    path = tmp_path / "s.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    runs = module.from_jsonl(path, "val.r", "val.p")
    assert [r["settings"] for r in runs] == ["a/seed0", "b/seed1", "d/seed0"]
    assert runs[1]["final"] == {"rankme": 20.0, "val.p": 0.9}
    assert [c["rankme"] for c in runs[2]["checkpoints"]] == [1.0, 2.0]
    summary = module._summary(runs, "val.p")
    assert summary["spearman"] == pytest.approx(1.0) and summary["run_regret"] == 0
    path.write_text(json.dumps({"name": "x", "val": {"r": 1.0}}) + "\n")
    with pytest.raises(SystemExit, match="lacks"):
        module.from_jsonl(path, "val.r", "val.p")


def test_pretrain_follows_a_batch_plan_of_distinct_clusters(load_benchmark):
    import torch

    from selfsup.data import DistinctLabelBatchSampler

    tjepa = load_benchmark("tabular", "tjepa")
    labels = torch.arange(40) % 10
    sampler = DistinctLabelBatchSampler(labels, 5, seed=0)
    seen = []

    class Recorder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def training_losses(self, batch):
            seen.append(batch["row"].tolist())
            return {"loss": (self.w * batch["x"].sum()) ** 2}

    data = {"x": torch.randn(40, 3), "row": torch.arange(40)}
    tjepa.pretrain(Recorder(), data, epochs=2, batch_size=5, lr=0.1, weight_decay=0.0, seed=1,
                   name="t", time_budget=float("inf"), batch_plan=sampler.batches_for)  # fmt: skip
    assert len(seen) == 2 * len(sampler)
    for rows in seen:
        assert len(rows) == 5 and len({int(labels[r]) for r in rows}) == 5
    assert seen[: len(sampler)] != seen[len(sampler) :]  # a new plan each epoch
