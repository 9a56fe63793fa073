"""Select ``tjepa.py`` settings on the validation split, then score the chosen one on test.

    python benchmarks/tabular/sweep.py --grid benchmarks/tabular/grids/adult_round1.txt \
        --seeds 0 1 --output benchmarks/tabular/results/adult_sweep_round1_cpu.jsonl \
        -- --csv ../shared/data/adult/adult.data --test-csv ../shared/data/adult/adult.test \
        --target -1 --no-header --pretrain-budget inf

Each non-empty, non-``#`` line of the grid file is ``name: extra arguments`` for ``tjepa.py``.
Every (line, seed) runs ``tjepa.py`` with the arguments after ``--``, then ``--sweep-args``
(default: only T-JEPA and its probe), then the line's own (later arguments win), then
``--seed S --no-test``: the sweep runs never read the test rows into tensors and never score
them. One JSON line per finished run goes to ``--output`` (tagged ``name``, ``seed``, ``argv``,
``wall_s``); runs already there are not run again, so an interrupted sweep resumes.

Selection: the line with the best mean validation score of ``--select`` (default ``mlp_tjepa``)
over ``--seeds`` (higher accuracy, or lower RMSE), among lines finished for every seed; ties go
to the earlier line. With ``--final-seeds``, the selected line runs once per final seed *with*
test scoring (the arguments after ``--`` plus the line's, without ``--sweep-args``: every model of
the benchmark), each writing ``{--final-prefix}_seed{S}.json`` and ``.log``. Per-run stderr goes
to ``--log-dir``. The last stdout line is a JSON summary: the ranking, the selected line, and the
final runs' test scores.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/grid_file.py
from grid_file import read_grid

SCRIPT = Path(__file__).with_name("tjepa.py")


def run(argv: list[str], log_path: Path, threads: int) -> tuple[dict | None, float]:
    """One ``tjepa.py`` process: its last stdout line parsed (None on failure), wall seconds."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}
    start = time.time()
    with open(log_path, "w") as err:
        proc = subprocess.run(
            [sys.executable, str(SCRIPT), *argv], stdout=subprocess.PIPE, stderr=err, env=env
        )
    wall = round(time.time() - start, 1)
    lines = proc.stdout.decode().strip().splitlines()
    if proc.returncode != 0 or not lines:
        return None, wall
    return json.loads(lines[-1]), wall


def rank(
    records: list[dict], names: list[str], seeds: list[int], key: str
) -> list[dict[str, object]]:
    """Lines finished for every seed, best mean validation ``key`` first (stable: grid order)."""
    rows = []
    for name in names:
        got = {r["seed"]: r for r in records if r["name"] == name}
        if not all(s in got for s in seeds):
            continue
        vals = [got[s]["val"][key] for s in seeds]
        if any(v is None for v in vals):
            continue
        metric = got[seeds[0]]["metric"]
        mean = sum(vals) / len(vals)
        rows.append({"name": name, "val_mean": round(mean, 4), "val": vals, "metric": metric})
    sign = {"accuracy": -1.0, "rmse": 1.0}
    return sorted(rows, key=lambda r: sign[str(r["metric"])] * float(r["val_mean"]))


def main() -> None:
    argv = sys.argv[1:]
    common: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, common = argv[:cut], argv[cut + 1 :]
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--grid", required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--output", required=True, help="JSON lines, one per sweep run (appended)")
    ap.add_argument("--log-dir", default="sweep_logs")
    ap.add_argument(
        "--sweep-args",
        default="--skip gbdt mlp_raw finetune scarf",
        help="extra tjepa.py arguments for the sweep runs only",
    )
    ap.add_argument("--select", default="mlp_tjepa", help="validation score to select on")
    ap.add_argument("--only", nargs="*", help="run only these grid lines (rank all finished)")
    ap.add_argument("--final-seeds", type=int, nargs="*", default=[])
    ap.add_argument("--final-prefix", help="{prefix}_seed{S}.json/.log for the final runs")
    ap.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS of each run")
    args = ap.parse_args(argv)
    if args.final_seeds and not args.final_prefix:
        ap.error("--final-seeds needs --final-prefix")
    if any(a in ("--seed", "--no-test") for a in common):
        ap.error("--seed and --no-test are set by the sweep; leave them out after --")

    grid = read_grid(args.grid)
    names = [n for n, _ in grid]
    log_dir = Path(args.log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    out = Path(args.output)
    records = [json.loads(x) for x in out.read_text().splitlines() if x] if out.exists() else []
    sweep_extra = shlex.split(args.sweep_args)
    for name, extra in grid:
        if args.only is not None and name not in args.only:
            continue
        for seed in args.seeds:
            if any(r["name"] == name and r["seed"] == seed for r in records):
                continue
            full = [*common, *sweep_extra, *extra, "--seed", str(seed), "--no-test"]
            print(f"[{time.strftime('%H:%M:%S')}] {name} seed {seed}", file=sys.stderr, flush=True)
            result, wall = run(full, log_dir / f"{name}_seed{seed}.log", args.threads)
            if result is None:
                print(f"  failed: see {log_dir / f'{name}_seed{seed}.log'}", file=sys.stderr)
                continue
            record = {"name": name, "seed": seed, "argv": full, "wall_s": wall, **result}
            records.append(record)
            with out.open("a") as f:
                f.write(json.dumps(record) + "\n")
            print(f"  val {result['val']} ({wall:.0f}s)", file=sys.stderr, flush=True)

    ranking = rank(records, names, args.seeds, args.select)
    for row in ranking:
        print(f"{row['name']:<32} {row['val_mean']:.4f}  {row['val']}", file=sys.stderr)
    summary: dict[str, object] = {"select": args.select, "seeds": args.seeds, "ranking": ranking}
    if ranking:
        best = str(ranking[0]["name"])
        summary["selected"] = best
        summary["selected_args"] = dict(grid)[best]
        finals = []
        for seed in args.final_seeds:
            prefix = f"{args.final_prefix}_seed{seed}"
            full = [*common, *dict(grid)[best], "--seed", str(seed)]
            result, wall = run(full, Path(prefix + ".log"), args.threads)
            if result is None:
                finals.append({"seed": seed, "failed": prefix + ".log"})
                continue
            result = {"name": best, "seed": seed, "argv": full, "wall_s": wall, **result}
            Path(prefix + ".json").write_text(json.dumps(result) + "\n")
            finals.append({"seed": seed, args.select: result[args.select], "wall_s": wall})
        summary["final"] = finals
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
