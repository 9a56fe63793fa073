"""The MovieLens benchmark scripts on synthetic data: checkpoint choice, test use, sweep rule."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

from selfsup_recsys.data import build_retrieval_data, synthetic_interactions

BENCH = Path(__file__).resolve().parents[3] / "benchmarks" / "recsys"
pytestmark = pytest.mark.skipif(
    not (BENCH / "two_tower_ml100k.py").exists(), reason="benchmarks/ not in this checkout"
)


def _load(name: str):
    # sweep_cfm imports two_tower_ml100k by name, as when run as a script
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


def _data():
    inter, items, users = synthetic_interactions(num_users=40, num_items=30, per_user=8)
    return build_retrieval_data(
        inter, items, users, item_columns={"genres": "bag", "decade": "categorical"},
        user_columns={"age": "categorical"},
    )  # fmt: skip


def _args(bench, *extra: str):
    args = bench.build_parser().parse_args(
        ["--steps", "12", "--eval-every", "2", "--min-steps", "4", "--batch-size", "16",
         "--ssl-batch-size", "8", "--embedding-dim", "4", "--hidden-dim", "8",
         "--output-dim", "4", "--lr", "0.05", *extra]
    )  # fmt: skip
    return args


def _spy(data):
    """Record every evaluate call: split, step order, a copy of the weights and the result."""
    calls = []
    real = data.evaluate

    def evaluate(method, split="test", **kw):
        out = real(method, split, **kw)
        weights = torch.cat([p.detach().flatten().clone() for p in method.parameters()])
        calls.append((split, weights, out))
        return out

    data.evaluate = evaluate
    return calls


@pytest.mark.parametrize("select_on", ["recall@50", "tail/recall@50"])
def test_test_split_is_scored_once_on_the_best_validation_state(select_on: str) -> None:
    bench = _load("two_tower_ml100k")
    data = _data()
    calls = _spy(data)
    run = bench.train_one(data, "cfm", 0, _args(bench, "--select-on", select_on))
    splits = [c[0] for c in calls]
    assert splits.count("test") == 1 and splits[-1] == "test"
    vals = [c for c in calls if c[0] == "val"]
    steps = list(range(2, 13, 2))
    assert len(vals) == len(steps)
    # candidates from --min-steps on; the first state with the highest score wins
    candidates = [(c, s) for c, s in zip(vals, steps, strict=True) if s >= 4]
    best_score = max(c[2][select_on] for c, _ in candidates)
    best, best_step = next((c, s) for c, s in candidates if c[2][select_on] == best_score)
    assert run["best_step"] == best_step
    assert run[f"val_{select_on}"] == best_score
    # the test split saw the weights of that state, not the last ones
    assert torch.equal(calls[-1][1], best[1])
    assert run["recall@50"] == calls[-1][2]["recall@50"]


def test_val_only_never_scores_the_test_split() -> None:
    bench = _load("two_tower_ml100k")
    data = _data()
    calls = _spy(data)
    run = bench.train_one(data, "none", 0, _args(bench, "--val-only"))
    assert {c[0] for c in calls} == {"val"}
    assert "recall@50" not in run and "val_recall@50" in run


def test_paired_gains_are_per_seed_against_the_same_seed() -> None:
    bench = _load("two_tower_ml100k")
    base = [{"tail/recall@50": 0.2, "recall@50": 0.4}, {"tail/recall@50": 0.25, "recall@50": 0.5}]
    cfm = [{"tail/recall@50": 0.23, "recall@50": 0.38}, {"tail/recall@50": 0.24, "recall@50": 0.55}]
    out = bench.paired_gains({"no_ssl": base, "cfm": cfm}, [3, 7])["cfm"]
    tail = out["tail/recall@50"]
    assert tail["per_seed"] == pytest.approx({"3": 0.15, "7": -0.04})
    assert tail["mean"] == pytest.approx(0.055) and tail["min"] == pytest.approx(-0.04)
    assert tail["all_positive"] is False
    assert tail["gain_of_means"] == pytest.approx(0.47 / 0.45 - 1)
    overall = out["recall@50"]
    assert overall["per_seed"] == pytest.approx({"3": -0.05, "7": 0.1})
    # a zero baseline has no relative gain: reported as None, never as all positive
    zero = bench.paired_gains(
        {"no_ssl": [{"tail/recall@50": 0.0, "recall@50": 0.1}], "cfm": cfm[:1]}, [0]
    )["cfm"]["tail/recall@50"]
    assert zero["per_seed"] == {"0": None} and zero["all_positive"] is False


def _record(config: str, seed: int, tail: float, overall: float, **settings) -> dict:
    base = {"variants": "no_ssl", "alpha": 0.3, "item_features": "base", "lr": 0.003}
    return {
        "config": config, "seed": seed, "settings": {**base, **settings},
        "val": {"tail/recall@50": tail, "recall@50": overall},
    }  # fmt: skip


def test_sweep_selection_rule(tmp_path) -> None:
    sweep = _load("sweep_cfm")
    rows = [
        _record("no_ssl", 0, 0.30, 0.42), _record("no_ssl", 1, 0.28, 0.40),
        _record("no_ssl_ext", 0, 0.31, 0.42, item_features="extended"),
        _record("no_ssl_ext", 1, 0.29, 0.41, item_features="extended"),
        # highest tail but overall below the reference's mean (0.41): not eligible
        _record("cfm_greedy", 0, 0.40, 0.30, variants="cfm"),
        _record("cfm_greedy", 1, 0.40, 0.30, variants="cfm"),
        _record("cfm_ok", 0, 0.33, 0.42, variants="cfm", alpha=1.0),
        _record("cfm_ok", 1, 0.30, 0.41, variants="cfm", alpha=1.0),
        _record("cfm_ext", 0, 0.32, 0.43, variants="cfm", item_features="extended"),
        _record("cfm_ext", 1, 0.29, 0.42, variants="cfm", item_features="extended"),
        # one seed only: not complete, never selected
        _record("cfm_partial", 0, 0.50, 0.50, variants="cfm", alpha=3.0),
    ]  # fmt: skip
    path = tmp_path / "sweep.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ns = sweep.argparse.Namespace(
        jsonl=str(path), seed_list=None, reference="no_ssl", selected=str(tmp_path / "sel.json")
    )
    out = sweep.select(ns)
    assert out["ssl"]["config"] == "cfm_ok" and out["no_ssl"]["config"] == "no_ssl_ext"
    assert out["floor"] == pytest.approx(0.41)
    rows_by = {r["config"]: r for r in out["rows"]}
    assert "cfm_partial" not in rows_by and not rows_by["cfm_greedy"]["eligible"]
    # paired with the no-SSL run of the same shared settings (item features), seed by seed
    assert rows_by["cfm_ext"]["paired_baseline"] == "no_ssl_ext"
    assert rows_by["cfm_ok"]["paired_baseline"] == "no_ssl"
    assert rows_by["cfm_ok"]["paired_tail_gain_mean"] == pytest.approx(
        (0.33 / 0.30 + 0.30 / 0.28) / 2 - 1
    )
    assert json.loads((tmp_path / "sel.json").read_text())["ssl"]["config"] == "cfm_ok"


def test_merge_joins_parallel_outputs_by_seed_and_refuses_other_settings(tmp_path) -> None:
    bench = _load("two_tower_ml100k")
    settings = {"steps": 10, "alpha": 0.3, "variants": "no_ssl", "seed_list": "1,0"}

    def write(name: str, variant: str, seeds: list[int], **changed) -> str:
        part = {
            "settings": {**settings, "variants": variant, **changed},
            "timing": {"total_seconds": 5.0},
            "runs": {variant: [{"seed": s, "tail/recall@50": 0.1 * (s + 1)} for s in seeds]},
            "popularity_runs": [{"seed": s} for s in seeds],
        }
        path = tmp_path / name
        path.write_text(json.dumps(part))
        return str(path)

    a, b = write("a.json", "no_ssl", [1, 0]), write("b.json", "cfm", [0, 1])
    results, popularity, merged = bench.merge([a, b])
    assert [p["seed"] for p in popularity] == [0, 1]
    assert [r["seed"] for r in results["no_ssl"]] == [0, 1] == [r["seed"] for r in results["cfm"]]
    assert merged["seconds"] == 10.0 and merged["alpha"] == 0.3
    other = write("c.json", "cfm", [0, 1], alpha=1.0)
    with pytest.raises(SystemExit, match="alpha"):
        bench.merge([a, other])
    # a difference the caller names is allowed and kept per variant
    _, _, merged = bench.merge([a, other], ("alpha",))
    assert merged["by_variant"] == {"no_ssl": {"alpha": 0.3}, "cfm": {"alpha": 1.0}}


def test_matryoshka_benchmark_scores_the_selected_state_at_every_prefix() -> None:
    bench = _load("matryoshka_ml100k")
    data = _data()
    args = bench.parser().parse_args(
        ["--steps", "6", "--eval-every", "2", "--min-steps", "2", "--batch-size", "16",
         "--embedding-dim", "4", "--hidden-dim", "8", "--output-dim", "8", "--dims", "2,8"]
    )  # fmt: skip
    args.prefix_dims, args.matryoshka_dims = [2, 8], [2, 8]
    run = bench.train_one(data, "none", 0, args)
    # the whole-vector prefix is the unsliced model: the same numbers
    for key in ("recall@50", "ndcg@10", "tail/recall@50"):
        assert run[f"dim8/test_{key}"] == pytest.approx(run[key], abs=1e-12)
        assert run[f"dim8/val_{key}"] == pytest.approx(run[f"val_{key}"], abs=1e-12)
    assert 0.0 <= run["dim2/test_recall@50"] <= 1.0
    scoring, total = bench.retrieval_seconds(torch.randn(64, 8), torch.randn(8, 8), 2, 5)
    assert scoring > 0 and total > 0
