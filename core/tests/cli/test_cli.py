from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from selfsup.cli import main
from selfsup.cli.config_resolution import resolve_config, resolved_config_args
from selfsup.plugins import Plugin, PluginNotFoundError

BORING_CONFIG = {
    "seed_everything": 0,
    "trainer": {
        "fast_dev_run": 2,
        "accelerator": "cpu",
        "logger": False,
        "enable_progress_bar": False,
    },
    "model": {
        "tasks": [
            {
                "class_path": "selfsup.experiment.Task",
                "init_args": {
                    "name": "boring",
                    "method": {"class_path": "boring_method"},
                    "data": {"class_path": "selfsup.testing.boring.BoringDataModule"},
                },
            }
        ],
    },
}

FAKE = {"fake": Plugin("fake", "vector", {"boring_method": "selfsup.testing.boring:BoringMethod"})}


def test_resolve_config_replaces_short_names():
    out = resolve_config(BORING_CONFIG, FAKE)
    method = out["model"]["tasks"][0]["init_args"]["method"]
    assert method["class_path"] == "selfsup.testing.boring.BoringMethod"
    assert (
        BORING_CONFIG["model"]["tasks"][0]["init_args"]["method"]["class_path"] == "boring_method"
    )


def test_resolve_config_missing_plugin_package_hints_install():
    cfg = {"class_path": "selfsup_graph.methods.GraphMAE"}
    try:
        import selfsup_graph  # noqa: F401
    except ImportError:
        with pytest.raises(PluginNotFoundError, match="pip install selfsup-graph"):
            resolve_config(cfg, FAKE)
    else:
        assert resolve_config(cfg, FAKE) == cfg


def test_resolve_config_unknown_short_name():
    with pytest.raises(
        PluginNotFoundError, match="no installed selfsup plugin provides 'graphmae2'"
    ):
        resolve_config({"class_path": "graphmae2"}, FAKE)


def _write(tmp_path, cfg):
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_resolve_config_args_leaves_full_configs_alone(tmp_path):
    full = resolve_config(BORING_CONFIG, FAKE)
    path = _write(tmp_path, full)
    with resolved_config_args(["fit", "--config", str(path)]) as args:
        assert args == ["fit", "--config", str(path)]


def test_resolved_config_files_are_removed(tmp_path, monkeypatch):
    from selfsup.cli import config_resolution

    monkeypatch.setattr(config_resolution, "discover", lambda: FAKE)
    path = _write(tmp_path, BORING_CONFIG)
    with resolved_config_args(["fit", f"--config={path}"]) as args:
        written = Path(args[1].removeprefix("--config="))
        assert written != path
        method = yaml.safe_load(written.read_text())["model"]["tasks"][0]["init_args"]["method"]
        assert method["class_path"] == "selfsup.testing.boring.BoringMethod"
    assert not written.exists()


def test_fit_from_config(tmp_path, monkeypatch):
    path = _write(tmp_path, resolve_config(BORING_CONFIG, FAKE))
    monkeypatch.chdir(tmp_path)
    assert main(["fit", "--config", str(path)]) == 0


def test_short_name_without_plugin_fails_clearly(tmp_path, capsys):
    path = _write(tmp_path, BORING_CONFIG)
    assert main(["fit", "--config", str(path)]) == 2
    assert "no installed selfsup plugin provides 'boring_method'" in capsys.readouterr().err


def test_print_config_round_trips(tmp_path, capsys):
    path = _write(tmp_path, resolve_config(BORING_CONFIG, FAKE))
    with pytest.raises(SystemExit) as stop:
        main(["fit", "--config", str(path), "--print_config"])
    assert stop.value.code == 0
    printed = capsys.readouterr().out
    again = _write(tmp_path, yaml.safe_load(printed))
    with pytest.raises(SystemExit):
        main(["fit", "--config", str(again), "--print_config"])
    assert yaml.safe_load(capsys.readouterr().out) == yaml.safe_load(printed)


def test_plugins_command_lists_components_and_missing_with_hints(capsys, monkeypatch):
    from selfsup.cli import plugins_command

    monkeypatch.setattr(plugins_command, "discover", lambda: FAKE)
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "fake" in out and "boring_method" in out
    assert "pip install selfsup-graph" in out and "pip install selfsup-vision" in out


def test_new_plugin_fills_names(tmp_path):
    from selfsup.cli.new_plugin import find_template

    try:
        find_template()
    except FileNotFoundError:
        pytest.skip("no template in this checkout")
    assert main(["new-plugin", "timeseries", "--dest", str(tmp_path)]) == 0
    root = tmp_path / "timeseries"
    assert (root / "src" / "selfsup_timeseries" / "plugin.py").is_file()
    text = "\n".join(p.read_text() for p in root.rglob("*") if p.is_file())
    assert "selfsup_template" not in text and "selfsup-template" not in text
    pyproject = (root / "pyproject.toml").read_text()
    assert "selfsup-timeseries" in pyproject
    assert 'timeseries = "selfsup_timeseries.plugin:PLUGIN"' in pyproject
    assert main(["new-plugin", "timeseries", "--dest", str(tmp_path)]) == 2
    assert main(["new-plugin", "Bad-Name", "--dest", str(tmp_path)]) == 2
