"""The Cora benchmark's validation-only sweep tools (``benchmarks/graph/*.py`` of the checkout)."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from types import ModuleType

import pytest
import torch

from selfsup_graph.evaluation import node_linear_probe

BENCH = Path(__file__).resolve().parents[3] / "benchmarks" / "graph"


def _load(name: str) -> ModuleType:
    path = BENCH / f"{name}.py"
    if not path.is_file():  # an installed plugin without the monorepo checkout
        pytest.skip(f"{path} is not in this checkout")
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _toy(n: int = 120, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    z = torch.nn.functional.one_hot(y, 3).float() + 0.9 * torch.randn(n, 3, generator=g)
    perm = torch.randperm(n, generator=g)
    masks = [torch.zeros(n, dtype=torch.bool) for _ in range(3)]
    for i, m in enumerate(masks):
        m[perm[i::3]] = True
    return z, y, masks


def test_overrides_reach_method_optimizer_model_and_trainer() -> None:
    bench = _load("graphmae_planetoid")
    overrides = bench.parse_overrides(
        [
            "method.latent_weight=0.5",
            "method.ema_timing=forward",
            "optimizer.lr=2.0e-3",
            "model.no_weight_decay=none",
            "trainer.max_epochs=7",
            "data.batch_size=512",
        ]
    )
    assert overrides["optimizer.lr"] == 2e-3 and overrides["method.ema_timing"] == "forward"
    base = {
        "model": {
            "tasks": [
                {
                    "init_args": {
                        "method": {"init_args": {"latent_weight": 0.15}},
                        "data": {"class_path": "x"},
                    }
                }
            ],
            "optimizer": {"init_args": {"lr": 1e-3}},
        }
    }
    bench.apply_overrides(base, overrides)
    assert base["model"]["tasks"][0]["init_args"]["method"]["init_args"] == {
        "latent_weight": 0.5,
        "ema_timing": "forward",
    }
    assert base["model"]["optimizer"]["init_args"]["lr"] == 2e-3
    assert base["model"]["no_weight_decay"] == "none" and base["trainer"]["max_epochs"] == 7
    assert base["model"]["tasks"][0]["init_args"]["data"]["init_args"] == {"batch_size": 512}
    for bad in ("latent_weight=0.5", "method.lr", "dataset.name=Cora", "method.=1"):
        with pytest.raises(ValueError, match="--set"):
            bench.parse_overrides([bad])


def test_summary_probe_history_matches_the_node_probe() -> None:
    summary = _load("sweep_summary")
    z, y, (train, val, test) = _toy()
    history = summary.val_history(z, y, train, val, lr=0.05, weight_decay=1e-4, epochs=40, seed=3)
    probe = node_linear_probe(z, y, train, val, None, lr=0.05, weight_decay=1e-4, epochs=40, seed=3)
    assert history.shape == (40, int(val.sum()))
    assert summary.best_epoch(history) == probe.best_epoch
    scores = summary.rule_scores(history, summary.split_halves(history.shape[1]))
    assert scores["best_val_in_sample"] == pytest.approx(probe.val_acc)
    assert scores["last"] == pytest.approx(probe.final_val_acc)


def test_cross_fitted_best_epoch_is_scored_on_the_other_half() -> None:
    summary = _load("sweep_summary")
    # 4 validation nodes, 3 epochs. Half a = nodes {0, 1}, half b = {2, 3}.
    history = torch.tensor(
        [
            [1, 1, 0, 0],  # epoch 0: best on half a, all wrong on half b
            [0, 0, 1, 1],  # epoch 1: best on half b, all wrong on half a
            [1, 0, 1, 0],  # epoch 2
        ],
        dtype=torch.bool,
    )
    halves = (torch.tensor([0, 1]), torch.tensor([2, 3]))
    scores = summary.rule_scores(history, halves)
    # the epoch chosen on one half (0, resp. 1) scores 0 on the other half
    assert scores["best_val"] == 0.0
    assert scores["best_val_in_sample"] == 0.5  # ties (all 0.5) go to the last epoch
    assert scores["last"] == 0.5
    a, b = summary.split_halves(500)
    assert len(a) == len(b) == 250 and not set(a.tolist()) & set(b.tolist())


def test_summary_refuses_runs_scored_on_test_and_chooses_by_validation(tmp_path: Path) -> None:
    summary = _load("sweep_summary")
    scored = tmp_path / "scored.jsonl"
    scored.write_text(json.dumps({"tag": "a", "seed": 0, "test_acc": 0.8}) + "\n")
    with pytest.raises(ValueError, match="--no-test"):
        summary.read_runs([str(scored)])
    runs = [
        {"tag": t, "seed": s, "rankme": r, "val_acc": v}
        for t, s, r, v in [("a", 0, 10.0, 0.70), ("a", 1, 20.0, 0.72), ("b", 0, 30.0, 0.80)]
    ]
    scores = {
        ("a", 0): {(0.01, 0.0): {"last": 0.70, "best_val": 0.69}},
        ("a", 1): {(0.01, 0.0): {"last": 0.72, "best_val": 0.71}},
        ("b", 0): {(0.01, 0.0): {"last": 0.79, "best_val": 0.81}},
    }
    out = summary.summarise(runs, scores, ["a", "b"])
    assert out["chosen"]["tag"] == "b" and out["chosen"]["probe_rule"] == "best_val"
    assert out["chosen"]["val_mean"] == pytest.approx(81.0)
    assert out["paired_seeds"] == [0]  # tag "b" has seed 0 only: "a" is compared on seed 0 too
    a_rows = [r for r in out["table"] if r["tag"] == "a"]
    assert {r["seeds"] for r in a_rows} == {1} and a_rows[0]["val_mean"] == pytest.approx(70.0)
    corr = out["rankme_correlation"]
    # RankMe orders these three runs exactly as their validation accuracy does
    assert corr["vs_config_probe_best_val_in_sample"]["spearman"] == pytest.approx(1.0)
    assert corr["vs_chosen_probe"]["kendall_tau"] == pytest.approx(1.0)


@pytest.mark.parametrize("rule", ["best_val", "last"])
def test_score_test_scores_only_the_chosen_setting_with_its_rule(tmp_path: Path, rule: str) -> None:
    from torch_geometric.data import Data

    summary = _load("sweep_summary")
    z, y, (train, val, test) = _toy()
    graph = Data(y=y, train_mask=train, val_mask=val, test_mask=test)
    runs = []
    for tag, seed in (("a", 0), ("a", 1), ("b", 0)):
        torch.save(z + 0.1 * seed, tmp_path / f"{tag}_seed{seed}.pt")
        runs.append(
            {
                "tag": tag,
                "seed": seed,
                "rankme": 1.0,
                "probe": {"epochs": 30},
                "overrides": {},
                "fit_seconds": 2.0,
                "sec_per_epoch": 1.0,
                "epochs": 2,
            }
        )
    chosen = {"tag": "a", "probe_lr": 0.05, "probe_weight_decay": 1e-4, "probe_rule": rule}
    out = summary.score_test(chosen, runs, tmp_path, graph)
    assert out["seeds"] == [0, 1]  # tag "b" is never scored
    expected = []
    for seed in (0, 1):
        r = node_linear_probe(z + 0.1 * seed, y, train, val, test, lr=0.05, epochs=30, seed=seed)
        expected.append(100 * (r.test_acc if rule == "best_val" else r.final_test_acc))
    assert out["test_acc_mean"] == pytest.approx(sum(expected) / 2)
    assert out["fit_seconds_total"] == 4.0


def test_paper_gap_is_welchs_t_against_a_population_std(tmp_path: Path) -> None:
    gap = _load("paper_gap")
    path = tmp_path / "runs.jsonl"
    path.write_text(
        json.dumps({"runs": [{"test_acc": 0.80}, {"test_acc": 0.82}]})
        + "\n"
        + json.dumps({"runs": [{"test_acc": 0.81}]})
        + "\n"
    )
    values = gap.per_seed([str(path)], "test_acc")
    assert values == pytest.approx([80.0, 82.0, 81.0])
    out = gap.welch_against_paper(values, 84.0, 0.5, 10, population=True)
    # Welch's t written out: sample std 1 on our side, 0.5 * sqrt(10 / 9) on the paper's
    paper_var = 0.25 * 10 / 9
    t = (81.0 - 84.0) / math.sqrt(1.0 / 3 + paper_var / 10)
    assert out["welch_t"] == pytest.approx(t) and out["gap"] == pytest.approx(-3.0)
    assert 0.0 < out["p_two_sided"] < 0.05  # 3 points apart with stds of ~1: a real gap
    with pytest.raises(ValueError, match="two values"):
        gap.welch_against_paper([80.0], 84.0, 0.5, 10, population=True)


def test_mini_batches_stretch_the_cosine_horizon_to_steps() -> None:
    bench = _load("graphmae_planetoid")
    base = {
        "model": {
            "tasks": [{"init_args": {"method": {"init_args": {}}, "data": {"init_args": {}}}}],
            "scheduler": {"init_args": {"T_max": 1500}},
        }
    }
    common = {"seed": 0, "dataset": "Cora", "data_root": None, "in_channels": 4, "epochs": 10}
    full = bench.seed_config(base, num_nodes=2708, **common)
    assert full["model"]["scheduler"]["init_args"]["T_max"] == 10
    mini = bench.seed_config(base, num_nodes=2708, overrides={"data.batch_size": 512}, **common)
    assert mini["model"]["scheduler"]["init_args"]["T_max"] == 10 * 6  # ceil(2708 / 512)


def test_the_million_node_benchmark_runs_small(capsys, monkeypatch) -> None:
    bench = _load("graphmae2_large")
    graph = bench.planted_partition(200, 6, 8, 4, p_in=1.0, seed=0)
    assert graph.edge_index.shape == (2, 200 * 6)
    src, dst = graph.edge_index
    assert bool((graph.y[src] == graph.y[dst]).all())  # p_in = 1: edges inside groups only
    args = ["--nodes", "300", "--features", "8", "--hidden", "8", "--heads", "2",
            "--batch-size", "32", "--steps", "3", "--warmup", "1"]  # fmt: skip
    monkeypatch.setattr("sys.argv", ["graphmae2_large.py", *args])
    bench.main()
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["steps"] == 3 and result["timed_steps"] == 2
    assert result["seed_nodes_per_s"] > 0 and math.isfinite(result["final_loss"])


def test_mnist_pixel_graphs_join_bright_8_neighbours_both_ways() -> None:
    bench = _load("mnist_graphs")
    image = torch.zeros(28, 28).numpy()
    image[5, 5] = image[5, 6] = image[6, 7] = 1.0  # a horizontal pair and a diagonal step
    image[20, 20] = 0.9  # alone
    image[10, 10] = 0.3  # below the threshold: not a node
    graph = bench.pixel_graph(image, 7, threshold=0.4)
    assert graph.num_nodes == 4 and int(graph.y) == 7
    edges = {tuple(e) for e in graph.edge_index.t().tolist()}
    # nodes in row-major order: (5,5)=0, (5,6)=1, (6,7)=2, (20,20)=3
    assert edges == {(0, 1), (1, 0), (1, 2), (2, 1)}
    torch.testing.assert_close(graph.x[2], torch.tensor([1.0, 7 / 27, 6 / 27]))
