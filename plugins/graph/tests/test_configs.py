"""The shipped configs: each parses without its data, builds the papers' settings, and the TU and
OGB ones train a step on tiny data in their raw layouts."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from selfsup.cli import main
from selfsup.cli.lightning import run_lightning_cli
from selfsup.metrics import ProbeMonitor
from selfsup.plugins.configs import find_config, shipped_configs
from selfsup_graph.evaluation import NodeProbe
from selfsup_graph.methods import (
    BGRL,
    DGI,
    GRACE,
    MVGRL,
    GraphMAE,
    GraphMAE2,
    GraphMAEGraphLevel,
)

# The values of the authors' files (THUDM/GraphMAE configs.yml @ b14f080, THUDM/GraphMAE2
# configs/*.yaml @ bc473e8), written out again here.
# Model: (method class, in_channels, hidden, heads, layers, mask_rate, replace_rate, alpha)
NODE = {
    "graphmae_cora": (GraphMAE, 1433, 512, 4, 2, 0.5, 0.05, 3),
    "graphmae_citeseer": (GraphMAE, 3703, 512, 2, 2, 0.5, 0.1, 1),
    "graphmae_pubmed": (GraphMAE, 500, 1024, 4, 2, 0.75, 0.0, 3),
    "graphmae2_cora": (GraphMAE2, 1433, 1024, 8, 2, 0.5, 0.0, 3),
    "graphmae2_citeseer": (GraphMAE2, 3703, 1024, 4, 2, 0.5, 0.0, 1),
    "graphmae2_pubmed": (GraphMAE2, 500, 512, 2, 2, 0.9, 0.0, 4),
    "graphmae2_ogbn_arxiv": (GraphMAE2, 128, 1024, 8, 4, 0.5, 0.0, 6),
}
# Training: (max_epochs, lr, weight_decay, probe lr, probe weight decay, probe epochs)
NODE_TRAINING = {
    "graphmae_cora": (1500, 1e-3, 2e-4, 0.01, 1e-4, 300),
    "graphmae_citeseer": (300, 1e-3, 2e-5, 0.01, 0.01, 300),
    "graphmae_pubmed": (1000, 1e-3, 1e-5, 0.01, 1e-4, 300),
    "graphmae2_cora": (2000, 1e-3, 2e-4, 0.025, 1e-4, 300),
    "graphmae2_citeseer": (500, 5e-4, 1e-4, 0.025, 1e-2, 500),
    "graphmae2_pubmed": (2000, 5e-3, 1e-5, 0.025, 5e-4, 500),
    "graphmae2_ogbn_arxiv": (60, 2.5e-3, 0.06, 5e-3, 1e-4, 1000),
}
# GraphMAE2's latent prediction: (lam, momentum).
LATENT = {
    "graphmae2_cora": (0.15, 0.0),
    "graphmae2_citeseer": (0.1, 1.0),
    "graphmae2_pubmed": (1.0, 0.995),
    "graphmae2_ogbn_arxiv": (10.0, 0.996),
}
# Graph level, model: (in_channels, hidden, layers, mask, replace, alpha, pooling, norm, activation)
GRAPH = {
    "graphmae_mutag": (7, 32, 5, 0.75, 0.1, 2, "sum", "batchnorm", "prelu"),
    "graphmae_imdb_binary": (136, 512, 2, 0.5, 0.0, 1, "mean", "batchnorm", "prelu"),
    "graphmae_imdb_multi": (89, 512, 3, 0.5, 0.0, 1, "mean", "batchnorm", "prelu"),
    "graphmae_proteins": (3, 512, 3, 0.5, 0.0, 1, "max", "batchnorm", "prelu"),
    "graphmae_collab": (401, 256, 2, 0.75, 0.0, 1, "max", "batchnorm", "relu"),
    "graphmae_reddit_binary": (401, 512, 2, 0.75, 0.1, 2, "sum", "layernorm", "prelu"),
    "graphmae_nci1": (37, 512, 2, 0.25, 0.1, 2, "mean", "batchnorm", "prelu"),
}
# Graph level, training: (dataset, max_epochs, batch_size, lr, cosine T_max in steps or None)
GRAPH_TRAINING = {
    "graphmae_mutag": ("MUTAG", 20, 64, 5e-4, None),
    "graphmae_imdb_binary": ("IMDB-BINARY", 60, 32, 1.5e-4, None),
    "graphmae_imdb_multi": ("IMDB-MULTI", 50, 32, 1.5e-4, None),
    "graphmae_proteins": ("PROTEINS", 100, 32, 1.5e-4, None),
    "graphmae_collab": ("COLLAB", 20, 32, 1.5e-4, 20 * 157),  # 5,000 graphs / 32 per step
    "graphmae_reddit_binary": ("REDDIT-BINARY", 100, 8, 1.5e-4, 100 * 250),  # 2,000 / 8
    "graphmae_nci1": ("NCI1", 300, 16, 1e-3, 300 * 257),  # 4,110 graphs / 16 per step
}

# Contrastive / bootstrapped / infomax node methods: (class, epochs, optimizer, lr, weight decay,
# method arguments), from GRACE's config.yaml (Cora), BGRL's Amazon Computers config, DGI's
# execute.py and MVGRL's node/train.py.
CONTRAST = {
    "grace_cora": (
        GRACE,
        200,
        "Adam",
        5e-4,
        1e-5,
        {"temperature": 0.4, "drop_edge": (0.2, 0.4), "drop_feature": (0.3, 0.4)},
    ),
    "bgrl_cora": (
        BGRL,
        1000,
        "AdamW",
        5e-4,
        1e-5,
        {"drop_edge": (0.5, 0.4), "drop_feature": (0.2, 0.1)},
    ),
    "dgi_cora": (DGI, 300, "Adam", 1e-3, 0.0, {}),
    "mvgrl_cora": (MVGRL, 300, "Adam", 1e-3, 0.0, {}),
}

NAMES = sorted([*NODE, *GRAPH, *CONTRAST])


@pytest.fixture
def no_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No data folder anywhere: parsing a config must not need one."""
    monkeypatch.delenv("SELFSUP_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_shipped_graph_configs_are_these() -> None:
    assert sorted(c.name for c in shipped_configs() if c.owner == "graph") == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_config_header_describes_and_says_how_to_run(name: str) -> None:
    text = find_config(f"graph:{name}").read_text()
    first = text.splitlines()[0]
    assert first.startswith("# ") and first.endswith(".") and len(first) <= 100, first
    assert f"selfsup fit --config graph:{name}" in text
    assert "SELFSUP_DATA=/path/to/data" in text
    for stale in ("repository root", "shared/data", "plugins/graph/configs"):
        assert stale not in text


@pytest.mark.parametrize("name", NAMES)
def test_config_parses_without_its_data(name: str, no_data: Path) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", f"graph:{name}", "--print_config"])
    assert exit_info.value.code == 0
    printed = yaml.safe_load(out.getvalue())
    assert printed["model"]["tasks"][0]["init_args"]["data"]["init_args"]["root"] is None


def _build(name: str, *extra: str) -> Any:
    return run_lightning_cli(
        ["--config", f"graph:{name}", "--trainer.logger=false", *extra], run=False
    )


def _optimizer(name: str) -> dict[str, float]:
    return yaml.safe_load(find_config(f"graph:{name}").read_text())["model"]["optimizer"][
        "init_args"
    ]


@pytest.mark.parametrize("name", sorted(NODE))
def test_node_configs_build_the_papers_settings(name: str, no_data: Path) -> None:
    cls, f, h, heads, layers, mask, replace, alpha = NODE[name]
    epochs, lr, wd, p_lr, p_wd, p_ep = NODE_TRAINING[name]
    cli = _build(name)
    (task,) = cli.model.tasks.values()
    method = task.method
    assert type(method) is cls
    assert (method.in_channels, method.hidden_channels) == (f, h)
    assert len(method.encoder.layers) == layers
    assert method.encoder.layers[0].conv.heads == heads
    assert (method.mask_rate, method.replace_rate, method.alpha) == (mask, replace, alpha)
    assert cli.trainer.max_epochs == epochs
    assert _optimizer(name) == pytest.approx({"lr": lr, "weight_decay": wd})
    (monitor,) = [c for c in cli.trainer.callbacks if isinstance(c, ProbeMonitor)]
    (probe,) = [p for p in monitor.probes if isinstance(p, NodeProbe)]
    assert (probe.lr, probe.weight_decay, probe.epochs) == pytest.approx((p_lr, p_wd, p_ep))
    if name in LATENT:
        lam, momentum = LATENT[name]
        assert method.latent_weight == lam
        assert method.target_encoder.schedule.kind == "constant"
        assert method.target_encoder.schedule.base == momentum
    else:
        assert method.latent_weight == 0.0
    if name == "graphmae2_ogbn_arxiv":
        assert (method.remask, method.num_remask, method.remask_rate) == ("random", 3, 0.5)
        assert method.drop_edge_rate == 0.5 and cli.trainer.gradient_clip_val == 3.0
        assert task.data.batch_size == 512 and task.data.split == "time"
        assert method.target_encoder.start_step == 40 * 331 + 1  # delayed_ema_epoch 40
    else:
        assert method.remask == "fixed" and method.drop_edge_rate == 0.0
        assert task.data.batch_size is None  # full batch


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_graph_configs_build_the_papers_settings(name: str, no_data: Path) -> None:
    f, h, layers, mask, replace, alpha, pool, norm, act = GRAPH[name]
    dataset, epochs, batch, lr, t_max = GRAPH_TRAINING[name]
    cli = _build(name)
    (task,) = cli.model.tasks.values()
    method = task.method
    assert type(method) is GraphMAEGraphLevel
    assert (method.in_channels, method.hidden_channels, len(method.encoder.convs)) == (f, h, layers)
    assert (method.mask_rate, method.replace_rate, method.alpha) == (mask, replace, alpha)
    assert method.pooling == pool and method.encoder_name == "gin" and method.decoder_name == "gin"
    config = yaml.safe_load(find_config(f"graph:{name}").read_text())
    init = config["model"]["tasks"][0]["init_args"]["method"]["init_args"]
    assert (init["norm"], init["activation"]) == (norm, act)
    assert (task.data.name, task.data.batch_size, task.data.max_degree) == (dataset, batch, 400)
    assert cli.trainer.max_epochs == epochs
    assert _optimizer(name) == pytest.approx({"lr": lr, "weight_decay": 0.0})
    scheduler = config["model"].get("scheduler")
    assert (scheduler["init_args"]["T_max"] if scheduler else None) == t_max


TinyTU = Callable[[Path, str, bool], None]
TinyArxiv = Callable[..., dict[str, np.ndarray]]


def _fit(name: str, *overrides: str) -> None:
    rc = main(
        [
            "fit",
            "--config",
            f"graph:{name}",
            "--trainer.max_epochs=1",
            "--trainer.logger=false",
            "--trainer.enable_progress_bar=false",
            "--trainer.accelerator=cpu",
            *overrides,
        ]
    )
    assert rc in (0, None)


def test_tu_config_trains_on_tiny_tu_files(no_data: Path, tiny_tu: TinyTU) -> None:
    tiny_tu(no_data / "data" / "MUTAG" / "raw", "MUTAG", True)  # 3 node labels, not MUTAG's 7
    _fit(
        "graphmae_mutag",
        "--model.tasks.init_args.data.init_args.root=data",
        "--model.tasks.init_args.data.init_args.cache_dir=cache",
        "--model.tasks.init_args.method.init_args.in_channels=3",
    )
    assert list((no_data / "outputs" / "graphmae_mutag").rglob("*.ckpt"))


def test_ogbn_arxiv_config_trains_on_tiny_raw_files(
    no_data: Path, monkeypatch: pytest.MonkeyPatch, tiny_arxiv: TinyArxiv
) -> None:
    tiny_arxiv(no_data / "data")
    monkeypatch.setenv("SELFSUP_DATA", str(no_data / "data"))
    _fit(
        "graphmae2_ogbn_arxiv",
        "--model.tasks.init_args.method.init_args.in_channels=3",
        "--model.tasks.init_args.method.init_args.hidden_channels=16",
    )
    assert list((no_data / "outputs" / "graphmae2_ogbn_arxiv").rglob("*.ckpt"))


@pytest.mark.parametrize("name", sorted(CONTRAST))
def test_contrastive_node_configs_build_the_papers_settings(name: str, no_data: Path) -> None:
    cls, epochs, optimizer, lr, wd, attributes = CONTRAST[name]
    cli = _build(name)
    method = cli.model.tasks["cora"].method
    assert type(method) is cls and method.in_channels == 1433
    for key, value in attributes.items():
        assert getattr(method, key) == value, key
    assert cli.trainer.max_epochs == epochs
    config = yaml.safe_load(find_config(f"graph:{name}").read_text())
    assert config["model"]["optimizer"]["class_path"] == f"torch.optim.{optimizer}"
    assert _optimizer(name) == {"lr": lr, "weight_decay": wd}
