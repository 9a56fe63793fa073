"""``selfsup embed`` and ``selfsup export``: a checkpoint to vectors, or to an encoder folder.

Both build the experiment from the config it was trained with (a file or a shipped
config name, plus any ``--model.*`` overrides), load the checkpoint's weights
(tensors only) and pick one task's method. ``embed`` then runs that method over a
data module's ``predict_dataloader()`` (the task's own, or ``--data``) and streams
ids + vectors to Parquet or ``.npy``; ``export`` writes the method's encoder as
``model.safetensors`` + ``config.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["embed_main", "export_main"]


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    # these commands build a Trainer only to load and run the model: Lightning's device report
    # and tips at INFO level say nothing here (warnings and the progress bar stay)
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        "-c",
        action="append",
        required=True,
        help="the training config: a YAML file or a shipped name (selfsup configs); repeatable",
    )
    parser.add_argument(
        "--ckpt_path", required=True, help="the Lightning checkpoint `selfsup fit` wrote (.ckpt)"
    )
    parser.add_argument("--task", help="which task's method (needed when the config has several)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")


def build_from_checkpoint(args: argparse.Namespace, overrides: list[str]) -> tuple[Any, str, Any]:
    """``(SSLModule with the checkpoint's weights, task name, task)``."""
    from selfsup.cli.lightning import run_lightning_cli
    from selfsup.experiment.embedding import load_weights

    bad = [o for o in overrides if o.startswith("-") and not o.startswith(("--model", "--seed"))]
    if bad:
        raise SystemExit(
            f"selfsup: unknown options {bad}; besides its own flags this command takes only "
            "--model.* and --seed_everything overrides of the config."
        )
    cli_args = [a for c in args.config for a in ("--config", c)]
    # only the model is used: a trainer section naming GPUs or DDP must not stop a CPU embed
    cli_args += [
        "--trainer.logger=false",
        "--trainer.callbacks=[]",
        "--trainer.accelerator=cpu",
        "--trainer.devices=1",
        "--trainer.strategy=auto",
        *overrides,
    ]
    model = run_lightning_cli(cli_args, run=False).model
    load_weights(model, args.ckpt_path)
    names = list(model.tasks.keys())
    if args.task is None and len(names) > 1:
        raise SystemExit(
            f"selfsup: the config has several tasks ({', '.join(names)}); pick one with --task."
        )
    name = args.task or names[0]
    if name not in model.tasks:
        raise SystemExit(f"selfsup: no task {name!r} in the config; tasks: {', '.join(names)}.")
    return model.eval(), name, model.tasks[name]


def data_module_from_spec(spec: str) -> Any:
    """A data module from ``--data``: YAML (a file or inline) with ``class_path``/``init_args``."""
    import yaml
    from jsonargparse import ArgumentParser
    from lightning.pytorch import LightningDataModule

    from selfsup.cli.config_resolution import resolve_config

    path = Path(spec)
    node = yaml.safe_load(path.read_text() if path.is_file() else spec)
    if isinstance(node, dict) and "data" in node and "class_path" not in node:
        node = node["data"]
    if not isinstance(node, dict) or "class_path" not in node:
        raise SystemExit(
            "selfsup: --data takes a YAML file or inline YAML naming a data module, e.g. "
            "--data '{class_path: image_folder, init_args: {root: /my/images}}'."
        )
    parser = ArgumentParser(exit_on_error=False)
    # only LightningDataModule subclasses: --data cannot name an arbitrary callable
    parser.add_subclass_arguments(LightningDataModule, "data", required=True)
    cfg = parser.parse_object({"data": resolve_config(node)})
    return parser.instantiate_classes(cfg).data


def embed_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="selfsup embed",
        description=(
            "Embed a data set with a trained checkpoint: ids + vectors to Parquet or .npy. Other "
            "arguments (--model.*) override the config, as in `selfsup fit`."
        ),
    )
    _common(parser)
    parser.add_argument(
        "--output", "-o", required=True, help="embeddings.parquet or embeddings.npy (+ .ids.npy)"
    )
    parser.add_argument(
        "--data",
        help="the data to embed, if not the task's own: a YAML file or inline YAML "
        "{class_path: ..., init_args: ...} of a data module with predict_dataloader()",
    )
    parser.add_argument("--accelerator", default="auto", help="cpu, gpu, auto (one device)")
    parser.add_argument("--precision", default=None, help="Lightning precision, e.g. bf16-mixed")
    parser.add_argument("--chunk_rows", type=int, default=65536, help="rows per chunk on disk")
    parser.add_argument(
        "--limit_batches", type=float, default=None, help="embed only this many batches"
    )
    args, overrides = parser.parse_known_args(argv)
    with quiet_lightning():
        _, name, task = build_from_checkpoint(args, overrides)
        data = data_module_from_spec(args.data) if args.data else task.data
        out = _embed(task, data, args, name)
    print(f"wrote {out}")
    return 0


def _embed(task: Any, data: Any, args: argparse.Namespace, name: str) -> Path:
    from selfsup import __version__
    from selfsup.experiment.embedding import embed_to_file

    limit = args.limit_batches
    limit = int(limit) if limit is not None and limit >= 1 and float(limit).is_integer() else limit
    return embed_to_file(
        task.method,
        data,
        args.output,
        metadata={
            "config": list(args.config),
            "checkpoint": str(args.ckpt_path),
            "task": name,
            "method": f"{type(task.method).__module__}.{type(task.method).__qualname__}",
            "data": type(data).__name__,
            "selfsup_version": __version__,
        },
        accelerator=args.accelerator,
        precision=args.precision,
        chunk_rows=args.chunk_rows,
        overwrite=args.overwrite,
        limit_batches=limit,
    )


def export_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="selfsup export",
        description=(
            "Write a trained task's encoder to a folder (model.safetensors + config.json) that "
            "selfsup.export.load_pretrained rebuilds without the training config."
        ),
    )
    _common(parser)
    parser.add_argument("--output", "-o", required=True, help="the folder to create")
    args, overrides = parser.parse_known_args(argv)
    from selfsup.export import save_pretrained

    with quiet_lightning():
        _, name, task = build_from_checkpoint(args, overrides)
    encoder = task.method.export_encoder()
    out = save_pretrained(
        encoder,
        args.output,
        metadata={
            "method": f"{type(task.method).__module__}.{type(task.method).__qualname__}",
            "task": name,
            "checkpoint": str(args.ckpt_path),
            "config": list(args.config),
        },
        overwrite=args.overwrite,
    )
    print(f"wrote {out} ({type(encoder).__name__}); load it with selfsup.export.load_pretrained")
    return 0
