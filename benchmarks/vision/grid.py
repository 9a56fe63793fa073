"""Run a grid of ``cifar10.py`` settings side by side and collect their JSON lines.

    python benchmarks/vision/grid.py --grid benchmarks/vision/grids/cpu_protocol.txt \
        --parallel 8 --output grid.jsonl -- --data-root ../shared/data/cifar10-jpg \
        --train-subset 10000 --epochs 6 --precision bf16 --no-baselines

Each non-empty, non-``#`` line of the grid file is ``name: extra arguments``; every run gets the
arguments after ``--`` plus its own (later arguments win in argparse). Small CIFAR ResNets leave a
large GPU mostly idle, so ``--parallel`` runs share it (and ``--threads-per-run`` CPU threads
each). The point is hyper-parameter search for the 2-core CPU protocol at a fraction of its cost:
a run here replays the protocol's steps (same subset, batch size, epochs and schedule) but not its
wall-clock budget, so confirm a chosen setting with the CPU run itself. Per-run stderr goes to
``--log-dir``; ``--output`` gets one JSON line per finished run, tagged with its ``name``; the last
stdout line is a summary JSON object (runs, failures, per method the run with the best
validation kNN: pass ``--val-size N`` after ``--``; the test kNN never selects).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/grid_file.py
from grid_file import read_grid

SCRIPT = Path(__file__).with_name("cifar10.py")


def run_one(
    name: str, args: list[str], common: list[str], log_dir: Path, timeout: float, threads: int
) -> dict:
    """One ``cifar10.py`` process; its last stdout line parsed, or the failure recorded."""
    cmd = [sys.executable, str(SCRIPT), *common, *args]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}
    start = time.time()
    with open(log_dir / f"{name}.log", "w") as err:
        try:
            proc = subprocess.run(
                cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=env, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            return {"name": name, "error": f"timed out after {timeout:.0f} s", "args": args}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return {"name": name, "error": f"exit {proc.returncode}", "args": args}
    result = json.loads(lines[-1])
    return {"name": name, "args": args, "wall_seconds": round(time.time() - start, 1), **result}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--grid", required=True, help="file of 'name: --arg value ...' lines")
    p.add_argument("--parallel", type=int, default=1, help="runs at a time")
    p.add_argument("--threads-per-run", type=int, default=2)
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per run")
    p.add_argument("--only", default=None, help="comma-separated run names to keep")
    p.add_argument("--output", default=None, help="append one JSON line per run here")
    p.add_argument("--log-dir", default="grid-logs")
    p.add_argument("common", nargs=argparse.REMAINDER, help="-- then arguments for every run")
    args = p.parse_args()
    common = args.common[1:] if args.common[:1] == ["--"] else args.common
    if args.parallel < 1:
        raise SystemExit(f"--parallel must be >= 1, got {args.parallel}")
    runs = read_grid(args.grid)
    if args.only:
        keep = set(args.only.split(","))
        unknown = keep - {n for n, _ in runs}
        if unknown:
            raise SystemExit(f"--only names not in {args.grid}: {sorted(unknown)}")
        runs = [r for r in runs if r[0] in keep]
    log_dir = Path(args.log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    results: list[dict] = []
    with ThreadPoolExecutor(args.parallel) as pool:
        futures = [
            pool.submit(run_one, n, a, common, log_dir, args.timeout, args.threads_per_run)
            for n, a in runs
        ]
        for future in as_completed(futures):
            r = future.result()
            results.append(r)
            brief = r.get("error") or f"kNN {r['knn_acc']} linear {r['linear_acc']}"
            print(f"{r['name']}: {brief}", file=sys.stderr, flush=True)
            if args.output:
                with open(args.output, "a") as f:
                    f.write(json.dumps(r) + "\n")
    best = best_per_method(results)
    failures = [r["name"] for r in results if "error" in r]
    print(json.dumps({"runs": len(results), "failures": failures, "best": best}))


def best_per_method(results: list[dict]) -> dict[str, dict]:
    """Per method, the run with the best validation kNN (``--val-size`` runs; ties: the first).

    The test kNN never chooses: a method whose runs lack ``val_knn_acc`` is reported under
    ``"unselected"`` with no winner (add ``--val-size`` to the common arguments).
    """
    best: dict[str, dict] = {}
    for r in results:
        if r.get("knn_acc") is None:
            continue
        m, val = r["method"], r.get("val_knn_acc")
        if val is None:
            best.setdefault(m, {"unselected": "no val_knn_acc: run with --val-size"})
            continue
        if "val_knn_acc" not in best.get(m, {}) or val > best[m]["val_knn_acc"]:
            best[m] = {
                "name": r["name"],
                "val_knn_acc": val,
                "knn_acc": r["knn_acc"],
                "linear_acc": r["linear_acc"],
            }
    return best


if __name__ == "__main__":
    main()
