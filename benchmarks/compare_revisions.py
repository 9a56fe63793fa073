"""Run benchmark commands under two source trees and compare their results, for refactors.

A refactor that moves code must leave every number where it was. This runs each command of a
plan file twice, once with the packages of ``--old`` first on ``PYTHONPATH`` (a checkout of the
previous revision, e.g. ``git worktree add /tmp/old HEAD~3``) and once with ``--new``'s, and
compares the JSON line each prints last (each run in its own checkout, so each revision's
benchmark script drives its own code): every number must match to ``--rtol`` (timings and
other keys named by ``--ignore`` excepted). Prints one line per command and one JSON line last.

    git worktree add /tmp/old <rev>
    python benchmarks/compare_revisions.py --old /tmp/old --new . \
        --plan benchmarks/refactor_plan.txt --data-root DATA

A plan file holds one shell command per line (``{data}`` is replaced by ``--data-root``);
``#`` starts a comment.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

DEFAULT_IGNORE = (
    "seconds",
    "sec",
    "memory",
    "time",
    "wall",
    "per_s",
    "images_per",
    "throughput",
    "elapsed",
    "date",
    "pid",
)


def source_path(root: Path) -> str:
    """``PYTHONPATH`` putting a checkout's ``core/src`` and ``plugins/*/src`` first."""
    roots = [root / "core" / "src", *sorted((root / "plugins").glob("*/src"))]
    missing = [str(r) for r in roots[:1] if not r.is_dir()]
    if missing:
        raise SystemExit(f"{root} is not a selfsup checkout (no {missing[0]}).")
    return os.pathsep.join(str(r) for r in roots)


def last_json(text: str) -> dict[str, Any]:
    """The last line of ``text`` that parses as a JSON object."""
    for line in reversed(text.strip().splitlines()):
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    raise ValueError("the command printed no JSON object line")


def differences(
    old: Any, new: Any, rtol: float, ignore: tuple[str, ...], where: str = ""
) -> list[str]:
    """Paths where two JSON values differ (numbers beyond ``rtol``; ignored keys skipped)."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new)):
            if any(part in key.lower() for part in ignore):
                continue
            if key not in old or key not in new:
                out.append(f"{where}.{key}: only in {'new' if key in new else 'old'}")
                continue
            out += differences(old[key], new[key], rtol, ignore, f"{where}.{key}")
        return out
    if isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            return [f"{where}: {len(old)} vs {len(new)} items"]
        return [
            d
            for i, (a, b) in enumerate(zip(old, new, strict=True))
            for d in differences(a, b, rtol, ignore, f"{where}[{i}]")
        ]
    numbers = (int, float)
    if isinstance(old, numbers) and isinstance(new, numbers) and not isinstance(old, bool):
        same = (math.isnan(old) and math.isnan(new)) or math.isclose(old, new, rel_tol=rtol)
        return [] if same else [f"{where}: {old} vs {new}"]
    return [] if old == new else [f"{where}: {old!r} vs {new!r}"]


def run(command: str, pythonpath: str, cwd: Path) -> tuple[dict[str, Any], float]:
    env = dict(os.environ, PYTHONPATH=pythonpath)
    start = time.perf_counter()
    done = subprocess.run(
        command, shell=True, cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise SystemExit(f"failed ({done.returncode}): {command}\n{done.stderr[-2000:]}")
    # paths inside the checkout (a config's location) differ between the two trees by design
    return last_json(done.stdout.replace(str(cwd), "<checkout>")), time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", required=True, type=Path, help="checkout of the old revision")
    parser.add_argument("--new", required=True, type=Path, help="checkout of the new revision")
    parser.add_argument("--plan", required=True, type=Path, help="one command per line")
    parser.add_argument("--data-root", default=os.environ.get("SELFSUP_DATA", ""))
    parser.add_argument("--rtol", type=float, default=0.0, help="relative tolerance (0: exact)")
    parser.add_argument("--ignore", default=",".join(DEFAULT_IGNORE), help="key substrings")
    args = parser.parse_args(argv)
    ignore = tuple(s for s in args.ignore.split(",") if s)
    commands = [
        line.split("#", 1)[0].strip().replace("{data}", shlex.quote(args.data_root))
        for line in args.plan.read_text().splitlines()
    ]
    rows = []
    for command in filter(None, commands):
        old, t_old = run(command, source_path(args.old.resolve()), args.old.resolve())
        new, t_new = run(command, source_path(args.new.resolve()), args.new.resolve())
        diff = differences(old, new, args.rtol, ignore)
        rows.append({"command": command, "identical": not diff, "differences": diff[:20]})
        status = "same" if not diff else f"{len(diff)} differences: {diff[:3]}"
        print(f"[{t_old:.0f}s / {t_new:.0f}s] {status}: {command}", file=sys.stderr, flush=True)
    result = {"benchmark": "compare_revisions", "rtol": args.rtol, "commands": rows}
    result["all_identical"] = all(r["identical"] for r in rows)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
