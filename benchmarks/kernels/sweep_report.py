"""Split a tile sweep of ``contrastive.py`` into forward and backward, and pick each one's best.

``contrastive.py --triton-configs`` applies one launch configuration to every kernel, but
:func:`selfsup.kernels.lse.triton.kernel_config` chooses the forward and the backward kernels'
tiles separately. For every configuration this script takes the forward time (``fwd`` row) and the
backward time (``fwd_bwd`` minus ``fwd`` of the same configuration), then reports, per loss, N and
D, the fastest forward, the fastest backward and their sum — the forward+backward time of a
default that uses both, derived from the measurements, not timed as one run.

    python benchmarks/kernels/sweep_report.py \
        benchmarks/results/kernels_contrastive_h100_bf16_sweep_d128.json

Prints a table to stderr and one JSON line (last) to stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict


def label(row: dict) -> str:
    cfg = row.get("config")
    if not cfg:
        return "default"
    text = f"{cfg['block_m']}x{cfg['block_n']}w{cfg['num_warps']}s{cfg['num_stages']}"
    return text + (f"d{cfg['max_block_d']}" if "max_block_d" in cfg else "")


def load_rows(paths: list[str]) -> list[dict]:
    rows = []
    for path in paths:
        with open(path) as f:
            lines = [line for line in f if line.strip()]
        if not lines:
            raise SystemExit(f"{path} is empty: the sweep did not finish (no JSON line)")
        rows += [r for r in json.loads(lines[-1])["results"] if r.get("path") == "triton"]
    return rows


def report(rows: list[dict]) -> list[dict]:
    groups: dict[tuple, dict[str, dict[str, dict]]] = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        if "time_ms_median" in r:
            groups[(r["loss"], r["n"], r["d"])][label(r)][r["mode"]] = r
    out = []
    for (loss, n, d), configs in sorted(groups.items()):
        fwd = {c: m["fwd"]["time_ms_median"] for c, m in configs.items() if "fwd" in m}
        bwd = {
            c: m["fwd_bwd"]["time_ms_median"] - m["fwd"]["time_ms_median"]
            for c, m in configs.items()
            if "fwd" in m and "fwd_bwd" in m
        }
        any_row = next(iter(next(iter(configs.values())).values()))
        product_tflop = 2.0 * any_row["rows"] * any_row["cols"] * d / 1e12
        print(f"{loss} N={n} D={d} (one product {product_tflop:.2f} TFLOP)", file=sys.stderr)
        for c in sorted(bwd, key=lambda c: fwd[c] + bwd[c]):
            print(
                f"  {c:<22} fwd {fwd[c]:8.3f} ms  bwd {bwd[c]:8.3f} ms  "
                f"fwd+bwd {fwd[c] + bwd[c]:8.3f} ms",
                file=sys.stderr,
            )
        best_f, best_b = min(fwd, key=fwd.get), min(bwd, key=bwd.get)
        total = fwd[best_f] + bwd[best_b]
        result = {
            "loss": loss,
            "n": n,
            "d": d,
            "best_fwd": best_f,
            "fwd_ms": round(fwd[best_f], 3),
            "fwd_tflops": round(product_tflop / fwd[best_f] * 1e3, 1),
            "best_bwd": best_b,
            "bwd_ms": round(bwd[best_b], 3),
            "fwd_bwd_ms_derived": round(total, 3),
            "fwd_bwd_useful_tflops_derived": round(3 * product_tflop / total * 1e3, 1),
        }
        if "default" in bwd:
            result["default_fwd_bwd_ms"] = round(fwd["default"] + bwd["default"], 3)
        print(f"  best: {result}", file=sys.stderr)
        out.append(result)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="+", help="JSON output of contrastive.py --triton-configs")
    args = p.parse_args()
    results = report(load_rows(args.files))
    print(json.dumps({"benchmark": "kernels.sweep_report", "results": results}))


if __name__ == "__main__":
    main()
