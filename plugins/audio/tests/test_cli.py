"""The shipped FSDD configs chain through `selfsup fit` (tiny sizes, synthetic audio): iteration 1,
tokenizer, iteration 2, then fine-tuning from iteration 2's checkpoint."""

from __future__ import annotations

from pathlib import Path

import torch
import yaml

from selfsup.cli.lightning import run_lightning_cli
from selfsup.plugins.configs import find_config

STAGES = ["beats_iter1_fsdd", "beats_tokenizer_fsdd", "beats_iter2_fsdd", "beats_finetune_fsdd"]


def shrink(config: dict, root: Path, out: Path) -> dict:
    """The shipped config at test size, writing under ``out``."""
    trainer = config["trainer"]
    trainer.update(
        max_epochs=1,
        limit_train_batches=2,
        limit_val_batches=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer["default_root_dir"] = str(out / Path(trainer["default_root_dir"]).name)
    callbacks = []
    for cb in trainer["callbacks"]:
        if cb["class_path"].endswith("ModelCheckpoint"):
            cb["init_args"]["dirpath"] = str(out / Path(cb["init_args"]["dirpath"]).name)
            callbacks.append(cb)
    trainer["callbacks"] = callbacks
    task = config["model"]["tasks"][0]["init_args"]
    task["data"]["init_args"].update(data_root=str(root), batch_size=4)
    args = task["method"]["init_args"]
    for key in ("teacher_checkpoint", "tokenizer_checkpoint", "init_checkpoint", "checkpoint"):
        if key in args:
            parts = Path(args[key]).parts
            args[key] = str(out / parts[-2] / parts[-1])
    if "tokenizer_checkpoint" not in args and "checkpoint" not in args:
        args.update(size="tiny", depth=1)
        if "codebook_size" in args:
            args.update(codebook_size=16, code_dim=8)
    if "estimator_depth" in args:
        args["estimator_depth"] = 1
    return config


def test_three_stage_iteration_and_fine_tuning_through_the_cli(recordings, tmp_path) -> None:
    out = tmp_path / "outputs"
    for stage in STAGES:
        config = shrink(yaml.safe_load(find_config(f"audio:{stage}").read_text()), recordings, out)
        path = tmp_path / f"{stage}.yaml"
        path.write_text(yaml.safe_dump(config))
        run_lightning_cli(["fit", "--config", str(path)])
    for stage in ("iter1", "tokenizer", "iter2", "finetune"):
        assert (out / stage / "last.ckpt").is_file()
    # the fine-tuning optimiser decays the learning rate per layer: lr * 0.6^(L - l)
    cli = run_lightning_cli(["--config", str(path)], run=False)
    method = cli.model.tasks["fsdd"].method
    optimizer = cli.model.configure_optimizers()["optimizer"]
    depth = method.encoder.config["depth"]
    assert (
        method.encoder.config
        == torch.load(out / "iter2" / "last.ckpt", weights_only=True)["state_dict"][
            "tasks.fsdd.method.encoder._extra_state"
        ]
    )
    lrs = {g["layer_id"]: g["lr"] for g in optimizer.param_groups}
    assert sorted(lrs) == list(range(depth + 2))
    for layer, lr in lrs.items():
        assert abs(lr - 5e-4 * 0.6 ** (depth + 1 - layer)) < 1e-15


def test_the_dino_config_trains_through_the_cli(recordings, tmp_path) -> None:
    out = tmp_path / "outputs"
    config = yaml.safe_load(find_config("audio:dino_fsdd").read_text())
    config = shrink(config, recordings, out)
    config["model"]["tasks"][0]["init_args"]["method"]["init_args"].update(
        size="tiny", depth=1, num_prototypes=16, hidden_dim=16, bottleneck_dim=8
    )
    path = tmp_path / "dino.yaml"
    path.write_text(yaml.safe_dump(config))
    run_lightning_cli(["fit", "--config", str(path)])
    state = torch.load(out / "dino_fsdd" / "last.ckpt", weights_only=True)["state_dict"]
    assert int(state["tasks.fsdd.method.distillation.progress.steps_done"]) == 2
    assert state["tasks.fsdd.method.distillation.criterion.centering.center"].abs().sum() > 0
