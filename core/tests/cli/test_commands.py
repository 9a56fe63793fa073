"""The command line as a user meets it: help, version, shipped configs, embed and export."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from selfsup import __version__
from selfsup.cli import main
from selfsup.export import load_pretrained, read_embeddings
from selfsup.plugins import Plugin, PluginNotFoundError
from selfsup.plugins.configs import find_config, looks_like_config_name, shipped_configs

BORING = {
    "seed_everything": 0,
    "trainer": {
        "max_steps": 3,
        "accelerator": "cpu",
        "logger": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "default_root_dir": "run",
        "callbacks": [
            {
                "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                "init_args": {"dirpath": "run/checkpoints", "save_last": True},
            }
        ],
    },
    "model": {
        "tasks": [
            {
                "class_path": "selfsup.experiment.Task",
                "init_args": {
                    "name": "blobs",
                    "method": {"class_path": "selfsup.testing.boring.BoringMethod"},
                    "data": {
                        "class_path": "selfsup.testing.boring.BoringDataModule",
                        "init_args": {"num_samples": 40, "batch_size": 8},
                    },
                },
            }
        ]
    },
}


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    commands = ("fit", "validate", "test", "predict", "embed", "export", "configs", "plugins")
    for command in (*commands, "rankme"):
        assert f"\n  {command}" in out
    assert "new-plugin" in out and "SELFSUP_DATA" in out
    assert main([]) == 2


def test_version(capsys):
    assert main(["--version"]) == 0
    assert f"selfsup-core {__version__}" in capsys.readouterr().out


def test_unknown_command_suggests(capsys):
    assert main(["embedd"]) == 2
    assert "Did you mean `selfsup embed`" in capsys.readouterr().err


def test_closed_pipe_is_quiet():
    # `selfsup configs | head -1`: the reader leaves early; no traceback, no BrokenPipeError
    code = "import sys; from selfsup.cli import main; sys.exit(main(['--help']))"
    proc = subprocess.run(
        f'{sys.executable} -c "{code}" | head -c 10', shell=True, capture_output=True, text=True
    )
    assert proc.stdout == "usage: sel"
    assert "BrokenPipe" not in proc.stderr and "Traceback" not in proc.stderr


def test_core_ships_its_configs_with_descriptions():
    configs = {c.qualified: c for c in shipped_configs({})}
    assert {"selfsup:digits_simclr", "selfsup:quickstart", "selfsup:shared_trunk"} <= set(configs)
    for config in configs.values():
        assert config.path.is_file()
        assert config.description and not config.description.endswith((":", ",")), config
    assert configs["selfsup:quickstart"].needs == ("audio", "graph", "tabular")
    assert configs["selfsup:digits_simclr"].needs == ()


def test_config_names_resolve_and_fail_helpfully(monkeypatch):
    assert find_config("selfsup:digits_simclr", {}).name == "digits_simclr.yaml"
    assert find_config("digits_simclr.yaml", {}).name == "digits_simclr.yaml"
    with pytest.raises(PluginNotFoundError, match="Did you mean selfsup:digits_simclr"):
        find_config("selfsup:digit_simclr", {})
    with pytest.raises(PluginNotFoundError, match="pip install selfsup-graph"):
        find_config("graph:graphmae_cora", {})
    assert looks_like_config_name("graph:graphmae_cora")
    assert not looks_like_config_name("configs/x.yaml") and not looks_like_config_name("{a: 1}")


def test_configs_command(capsys, monkeypatch):
    from selfsup.cli import configs_command

    fake = {"graph": Plugin("graph", "graph", {"x": "m:X"})}  # installed, ships nothing
    monkeypatch.setattr(configs_command, "discover", lambda: fake)
    assert main(["configs"]) == 0
    out = capsys.readouterr().out
    assert "selfsup:digits_simclr" in out
    line = next(x for x in out.splitlines() if x.startswith("selfsup:quickstart"))
    assert "selfsup-audio" in line and "selfsup-tabular" in line and "selfsup-graph" not in line
    assert main(["configs", "--show", "selfsup:digits_simclr"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["model"]["tasks"]
    assert main(["configs", "--path", "digits_simclr"]) == 0
    assert Path(capsys.readouterr().out.strip()).is_file()
    assert main(["configs", "--show", "selfsup:nope"]) == 2
    assert "no shipped config" in capsys.readouterr().err


def test_fit_by_name_and_no_self_inflicted_warning(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main(
            [
                "fit",
                "--config",
                "selfsup:digits_simclr",
                "--trainer.max_steps=2",
                "--trainer.logger=false",
                "--trainer.enable_checkpointing=false",
                "--trainer.enable_progress_bar=false",
                "--trainer.callbacks=[]",
            ]
        )
    assert code == 0
    ours = [w for w in caught if "args parameter" in str(w.message)]
    assert ours == []


def test_fit_then_embed_then_export(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(BORING))
    assert main(["fit", "--config", "cfg.yaml"]) == 0
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert ckpt.is_file()
    common = ["--config", "cfg.yaml", "--ckpt_path", str(ckpt)]
    assert main(["embed", *common, "--output", "emb.npy"]) == 0
    ids, vectors = read_embeddings(tmp_path / "emb.npy")
    assert ids == list(range(40)) and vectors.shape == (40, 16)
    # embedding other data: --data names a data module (resolved like a config entry)
    other = "{class_path: selfsup.testing.boring.BoringDataModule, init_args: {num_samples: 9}}"
    assert main(["embed", *common, "--output", "other.npy", "--data", other]) == 0
    assert len(read_embeddings(tmp_path / "other.npy")[0]) == 9
    assert main(["embed", *common, "--output", "emb.npy"]) == 2  # exists, no --overwrite
    assert "overwrite" in capsys.readouterr().err
    assert main(["export", *common, "--output", "encoder"]) == 0
    encoder = load_pretrained(tmp_path / "encoder")
    from selfsup.testing.boring import BoringDataModule

    x = BoringDataModule(num_samples=40, batch_size=8).dataset.tensors[0]
    with torch.no_grad():
        np.testing.assert_allclose(encoder(x).numpy(), vectors, rtol=1e-5, atol=1e-6)


def test_embed_refuses_unknown_flags_and_bad_data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(BORING))
    assert main(["fit", "--config", "cfg.yaml", "--trainer.max_steps=1"]) == 0
    common = ["--config", "cfg.yaml", "--ckpt_path", "run/checkpoints/last.ckpt", "-o", "e.npy"]
    with pytest.raises(SystemExit, match="unknown options"):
        main(["embed", *common, "--trainer.max_steps=3"])
    with pytest.raises(SystemExit, match="--data takes"):
        main(["embed", *common, "--data", "[1, 2]"])
    with pytest.raises(SystemExit, match="no task 'nope'"):
        main(["embed", *common, "--task", "nope"])
    with pytest.raises(FileNotFoundError):
        main(["embed", "--config", "cfg.yaml", "--ckpt_path", "absent.ckpt", "-o", "e.npy"])
    assert not (tmp_path / "e.npy").exists()


def _refused(argv: list[str]) -> bool:
    """Whether `selfsup` stops with exit code 2 (our check, or jsonargparse's parse error)."""
    try:
        return main(argv) == 2
    except SystemExit as stop:
        return stop.code == 2


@pytest.mark.parametrize(
    ("slot", "value", "message"),
    [
        (
            "optimizer",
            {"class_path": "os.system", "init_args": {"command": "touch PWNED"}},
            "not a class",
        ),
        (
            "scheduler",
            {"class_path": "os.system", "init_args": {"command": "touch PWNED"}},
            "not a class",
        ),
        (
            "optimizer",
            {"class_path": "subprocess.Popen", "init_args": {"args": "touch PWNED"}},
            "Popen",
        ),
        ("scheduler", {"class_path": "torch.optim.SGD"}, "SGD"),
        ("optimizer", {"class_path": "no_such_module.Thing"}, "no_such_module"),
    ],
)
def test_config_slots_build_only_what_they_declare(
    tmp_path, monkeypatch, capsys, slot, value, message
):
    monkeypatch.chdir(tmp_path)
    config = yaml.safe_load(yaml.safe_dump(BORING))
    config["model"][slot] = value
    (tmp_path / "evil.yaml").write_text(yaml.safe_dump(config))
    assert _refused(["fit", "--config", "evil.yaml"])
    assert message in capsys.readouterr().err
    assert not (tmp_path / "PWNED").exists()
    # a plain function path in the slot, from a command-line override: refused too
    config["model"].pop(slot)
    (tmp_path / "plain.yaml").write_text(yaml.safe_dump(config))
    assert _refused(["fit", "--config", "plain.yaml", f"--model.{slot}=os.getcwd"])


def test_check_config_types_directly():
    from selfsup.cli.config_checks import ConfigTypeError, check_config_types

    check_config_types({"model": {"optimizer": {"class_path": "torch.optim.AdamW"}}})
    check_config_types({"model": {"scheduler": "torch.optim.lr_scheduler.CosineAnnealingLR"}})
    with pytest.raises(ConfigTypeError, match="model.optimizer: class_path 'os.system'"):
        check_config_types({"model": {"optimizer": {"class_path": "os.system"}}})
    with pytest.raises(ConfigTypeError, match=r"model.tasks\[0\].method: .*'os.system'"):
        check_config_types(
            {"model": {"tasks": [{"init_args": {"method": {"class_path": "os.system"}}}]}}
        )
    with pytest.raises(ConfigTypeError, match="not a scheduler"):
        check_config_types({"model": {"scheduler": "torch.optim.SGD"}})


def _rankme_reference(z: np.ndarray) -> float:
    """RankMe in float64 from the paper's formula (arXiv 2210.02885, eq. 1)."""
    s = np.linalg.svd(z.astype(np.float64), compute_uv=False)
    p = s / s.sum() + 1e-7
    return float(np.exp(-(p * np.log(p)).sum()))


def test_rankme_ranks_checkpoints_by_the_effective_rank_of_their_embeddings(
    tmp_path, monkeypatch, capsys
):
    import json

    monkeypatch.chdir(tmp_path)
    config = yaml.safe_load(yaml.safe_dump(BORING))
    config["trainer"]["max_steps"] = 4
    config["trainer"]["callbacks"][0]["init_args"] = {
        "dirpath": "run/checkpoints",
        "every_n_train_steps": 2,
        "save_top_k": -1,
        "filename": "{step}",
    }
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(config))
    assert main(["fit", "--config", "cfg.yaml"]) == 0
    ckpts = sorted(str(p) for p in (tmp_path / "run" / "checkpoints").glob("*.ckpt"))
    assert len(ckpts) == 2
    # a second run with another setting (its own config), ranked in the same table
    config2 = yaml.safe_load(yaml.safe_dump({**config, "seed_everything": 1}))
    config2["trainer"]["callbacks"][0]["init_args"]["dirpath"] = "run2/checkpoints"
    (tmp_path / "cfg2.yaml").write_text(yaml.safe_dump(config2))
    assert main(["fit", "--config", "cfg2.yaml"]) == 0
    other = str(next((tmp_path / "run2" / "checkpoints").glob("*.ckpt")))
    capsys.readouterr()
    from selfsup.testing.boring import BoringDataModule

    stages: list[str | None] = []
    setup = BoringDataModule.setup

    def counting_setup(self, stage=None):
        stages.append(stage)
        return setup(self, stage)

    monkeypatch.setattr(BoringDataModule, "setup", counting_setup)
    argv = ["rankme", "--config", "cfg.yaml", "--ckpt_path", *ckpts, "--run", "cfg2.yaml", other]
    assert main([*argv, "--max_rows", "30", "-o", "rank.json"]) == 0
    assert stages == ["predict"]  # the rows are set up once, not once per candidate
    out = capsys.readouterr().out
    assert "highest RankMe" in out and "docs/selection.md" in out
    table = json.loads((tmp_path / "rank.json").read_text())["ranking"]
    assert sorted(r["checkpoint"] for r in table) == sorted([*ckpts, other])
    assert [r["rankme"] for r in table] == sorted((r["rankme"] for r in table), reverse=True)
    for row in table:  # each score is RankMe of what `selfsup embed` writes for those rows
        assert row["rows"] == 30
        cfg = row["config"][0]
        emb = f"e{abs(hash(row['checkpoint']))}.npy"
        embed = ["embed", "--config", cfg, "--ckpt_path", row["checkpoint"], "-o", emb]
        assert main(embed) == 0
        _, vectors = read_embeddings(tmp_path / emb)
        assert row["rankme"] == pytest.approx(_rankme_reference(vectors[:30]), abs=2e-3)


def test_rankme_says_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit, match="nothing to rank"):
        main(["rankme"])
    with pytest.raises(SystemExit, match="needs the run's --config"):
        main(["rankme", "--ckpt_path", "a.ckpt"])
    from selfsup.cli.rankme_command import embed_rows
    from selfsup.testing.boring import BoringDataModule, BoringMethod

    with pytest.raises(ValueError, match="max_rows"):
        embed_rows(BoringMethod(), BoringDataModule(num_samples=4), max_rows=0)
