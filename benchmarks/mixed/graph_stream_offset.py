"""Is the quickstart's graph task sensitive to where in the random stream it starts?

In the joint quickstart the graph task (GraphMAE on a generated graph) probes lower than alone with
every seed measured (docs/mixing.md), although no module is shared. Building the digits model first
shifts the random stream the graph model's initialisation and masks are drawn from. This script
trains the graph task ALONE for several seeds under three conditions and probes it, so the shift
can be told apart from seed noise:

* ``plain``: ``seed_everything(s)`` then the graph task;
* ``shifted``: ``seed_everything(s)``, then the digits model is built and discarded (the joint
  run's stream position), then the graph task;
* ``reseeded``: as ``shifted`` but seeded again before the graph task (must equal ``plain``).

    python benchmarks/mixed/graph_stream_offset.py --seeds 0-9 [--conditions plain,shifted]

One JSON line last: per condition the mean, std and per-seed probe test accuracy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
import yaml
from lightning.pytorch import seed_everything

from selfsup.demo import VectorSimCLR
from selfsup.experiment import SSLModule, Task
from selfsup.metrics import ProbeMonitor
from selfsup.plugins import resolve
from selfsup.plugins.configs import find_config
from selfsup.testing.boring import quiet_trainer
from selfsup_graph.evaluation import NodeProbe

ROOT = Path(__file__).resolve().parents[2]


def _config_path(value: str) -> Path:
    """A config file, or the file of a shipped config name (``selfsup:quickstart``)."""
    return Path(value) if Path(value).is_file() else find_config(value)


def _seeds(text: str) -> list[int]:
    if "-" in text:
        lo, hi = text.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(s) for s in text.split(",") if s.strip()]


def run(seed: int, condition: str, config: dict, steps: int) -> float:
    graph = next(t for t in config["model"]["tasks"] if t["init_args"]["name"] == "graph")
    digits = next(t for t in config["model"]["tasks"] if t["init_args"]["name"] == "digits")
    seed_everything(seed, verbose=False)
    if condition in ("shifted", "reseeded"):
        VectorSimCLR(**digits["init_args"]["method"]["init_args"])  # built, then discarded
    if condition == "reseeded":
        seed_everything(seed, verbose=False)
    spec = graph["init_args"]
    method = resolve(spec["method"]["class_path"])(**spec["method"]["init_args"])
    data = resolve(spec["data"]["class_path"])(**spec["data"]["init_args"])
    lr = config["model"]["optimizer"]["init_args"]
    module = SSLModule(
        [Task("graph", method, data)],
        optimizer=lambda groups: torch.optim.AdamW(groups, **lr),
    )
    probe = next(
        p.get("init_args", {})
        for c in config["trainer"]["callbacks"]
        for p in (c.get("init_args") or {}).get("probes") or []
        if p["class_path"].endswith("NodeProbe")
    )
    monitor = ProbeMonitor(probes=[NodeProbe(**probe)], every_n_epochs=0)
    trainer = quiet_trainer(max_steps=steps, max_epochs=-1, callbacks=[monitor])
    trainer.fit(module)
    return float(trainer.callback_metrics["graph/probe_test_acc"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--config", default="selfsup:quickstart", help="a YAML file or a shipped config name"
    )
    parser.add_argument("--seeds", default="0-9", help="'0-9' or '0,3,7'")
    parser.add_argument("--conditions", default="plain,shifted")
    parser.add_argument("--steps", type=int, default=300, help="the joint quickstart's steps")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = yaml.safe_load(_config_path(args.config).read_text())
    start = time.perf_counter()
    out: dict[str, dict] = {}
    for condition in args.conditions.split(","):
        accs = [run(s, condition, config, args.steps) for s in _seeds(args.seeds)]
        out[condition] = {
            "mean": statistics.mean(accs),
            "std": statistics.pstdev(accs),
            "per_seed": [round(a, 4) for a in accs],
        }
        print(f"{condition}: {out[condition]['mean']:.4f} ± {out[condition]['std']:.4f} {accs}")
    print(
        json.dumps(
            {
                "benchmark": "mixed.graph_stream_offset",
                "seeds": _seeds(args.seeds),
                "steps": args.steps,
                **out,
                "seconds": round(time.perf_counter() - start, 1),
                "threads": args.threads,
            }
        )
    )


if __name__ == "__main__":
    main()
