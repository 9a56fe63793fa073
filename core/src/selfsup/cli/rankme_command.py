"""``selfsup rankme``: rank checkpoints or runs by RankMe of their embeddings, without labels.

Each candidate is a training config plus a checkpoint (one config for many checkpoints of a
run, or ``--run CONFIG CKPT`` pairs for runs with different settings). Every candidate embeds
the same rows (``--data``, or the first candidate's task data, in ``predict_dataloader`` order,
at most ``--max_rows``), and the table lists them by RankMe, highest first. Whether the highest
RankMe is the best choice depends on what is compared: ``docs/selection.md`` measures it per
method family (on digits it picked the encoder width, and failed across checkpoints of one run).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

__all__ = ["embed_rows", "rankme_main"]

CAVEAT = (
    "RankMe is label-free; where it agrees with a probe is measured per method family in "
    "docs/selection.md (it ranked encoder widths on digits, not checkpoints within one run)."
)


def embed_rows(
    method: Any, data: Any, max_rows: int, device: str = "cpu", *, prepare: bool = True
) -> Tensor:
    """The first ``max_rows`` embeddings of ``data.predict_dataloader()``: ``(N, D)`` float32.

    ``prepare=False`` skips ``data.prepare_data()`` / ``data.setup("predict")`` for a data module
    the caller already set up (``selfsup rankme`` sets it up once for all candidates);
    ``method.bind_data(data, "predict")`` runs either way, before the loader is read.

    Examples:
        >>> from selfsup.testing.boring import BoringDataModule, BoringMethod
        >>> embed_rows(BoringMethod(), BoringDataModule(num_samples=10), max_rows=6).shape
        torch.Size([6, 16])
    """
    from lightning.fabric.utilities.apply_func import move_data_to_device

    from selfsup.data.embedding import check_embedding_batch

    if max_rows < 1:
        raise ValueError(f"max_rows must be >= 1, got {max_rows}.")
    if prepare:
        data.prepare_data()
        data.setup("predict")
    # every candidate binds, also to a data module set up for an earlier one: a data module
    # that encodes rows with the model's saved vocabularies must get this model's
    method.bind_data(data, "predict")
    method = method.to(device).eval()
    parts: list[Tensor] = []
    rows = 0
    with torch.inference_mode():
        for batch in data.predict_dataloader():
            inputs = move_data_to_device(check_embedding_batch(batch).inputs, device)
            vectors = method.embed(inputs)
            if not isinstance(vectors, Tensor) or vectors.ndim != 2:
                raise TypeError(
                    f"{type(method).__name__}.embed must return a (N, D) tensor, got "
                    f"{getattr(vectors, 'shape', type(vectors).__name__)}."
                )
            parts.append(vectors[: max_rows - rows].float().cpu())
            rows += parts[-1].shape[0]
            if rows >= max_rows:
                break
    if not rows:
        raise ValueError(f"{type(data).__name__}.predict_dataloader() yielded no rows.")
    return torch.cat(parts)


def _candidates(args: argparse.Namespace) -> list[tuple[list[str], str]]:
    out = [(list(args.config), c) for c in args.ckpt_path or []] if args.config else []
    if args.ckpt_path and not args.config:
        raise SystemExit("selfsup rankme: --ckpt_path needs the run's --config.")
    out += [([config], ckpt) for config, ckpt in args.run or []]
    if len(out) < 1:
        raise SystemExit(
            "selfsup rankme: nothing to rank; give --config CONFIG --ckpt_path A.ckpt B.ckpt "
            "(one run's checkpoints) and/or --run CONFIG CKPT pairs (runs with other settings)."
        )
    return out


def rankme_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="selfsup rankme",
        description=(
            "Rank checkpoints by RankMe (effective rank) of their embeddings of the same rows, "
            "without labels. Other arguments (--model.*) override every config."
        ),
    )
    parser.add_argument("--config", "-c", action="append", help="config of --ckpt_path runs")
    parser.add_argument("--ckpt_path", nargs="+", help="checkpoints trained with --config")
    parser.add_argument(
        "--run",
        nargs=2,
        action="append",
        metavar=("CONFIG", "CKPT"),
        help="a config and its checkpoint; repeat for runs with different settings",
    )
    parser.add_argument("--task", help="which task's method (needed when a config has several)")
    parser.add_argument(
        "--data",
        help="the rows to embed (YAML data module, as in selfsup embed); default: the "
        "first candidate's task data",
    )
    parser.add_argument("--max_rows", type=int, default=8192, help="rows embedded per candidate")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--output", "-o", help="also write the table as JSON here")
    args, overrides = parser.parse_known_args(argv)
    from selfsup.cli.embed import build_from_checkpoint, data_module_from_spec, quiet_lightning
    from selfsup.metrics import rankme

    data = data_module_from_spec(args.data) if args.data else None
    prepared = False
    table: list[dict[str, Any]] = []
    with quiet_lightning():
        for configs, ckpt in _candidates(args):
            build = argparse.Namespace(config=configs, ckpt_path=ckpt, task=args.task)
            _, name, task = build_from_checkpoint(build, overrides)
            data = data if data is not None else task.data
            # every candidate embeds the same rows: scan and split the data once, not per checkpoint
            z = embed_rows(task.method, data, args.max_rows, args.device, prepare=not prepared)
            prepared = True
            score = float(rankme(z))
            if not math.isfinite(score):
                raise SystemExit(f"selfsup rankme: {ckpt} gives non-finite embeddings.")
            table.append(
                {
                    "config": configs,
                    "checkpoint": str(ckpt),
                    "task": name,
                    "rows": z.shape[0],
                    "dim": z.shape[1],
                    "rankme": round(score, 3),
                }
            )
    table.sort(key=lambda r: -r["rankme"])
    width = max(len(r["checkpoint"]) for r in table)
    print(f"{'rank':>4}  {'RankMe':>8}  {'dim':>5}  checkpoint")
    for i, r in enumerate(table, 1):
        print(f"{i:>4}  {r['rankme']:>8.2f}  {r['dim']:>5}  {r['checkpoint']:<{width}}")
    print(f"highest RankMe: {table[0]['checkpoint']} ({table[0]['rows']} rows). {CAVEAT}")
    if args.output:
        Path(args.output).write_text(json.dumps({"ranking": table, "caveat": CAVEAT}, indent=1))
    return 0
