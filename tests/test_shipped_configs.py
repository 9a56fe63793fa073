"""Every config shipped in a wheel parses (`selfsup fit --config owner:name --print_config`).

Parsing checks every class path and argument against the installed code without reading any
data, so configs for data this machine does not have are checked too.
"""

from __future__ import annotations

import pytest
import yaml

from selfsup.cli import main
from selfsup.cli.config_checks import check_config_types
from selfsup.cli.config_resolution import resolve_config
from selfsup.plugins import discover
from selfsup.plugins.configs import shipped_configs

PLUGINS = discover()
CONFIGS = shipped_configs(PLUGINS)


def test_every_package_ships_configs():
    owners = {c.owner for c in CONFIGS}
    assert {"selfsup", *PLUGINS} <= owners


@pytest.mark.parametrize("config", CONFIGS, ids=[c.qualified for c in CONFIGS])
def test_config_parses_and_describes_itself(config, capsys):
    missing = [n for n in config.needs if n not in PLUGINS]
    if missing:
        pytest.skip(f"needs plugins {missing}")
    text = config.path.read_text()
    assert text.startswith("# "), "the first line is the description `selfsup configs` prints"
    assert 10 < len(config.description) <= 120, config.description
    assert not config.description.endswith((":", ",", "(")), "a complete sentence"
    assert "repository root" not in text and "shared/data" not in text
    with pytest.raises(SystemExit) as stop:
        main(["fit", "--config", config.qualified, "--print_config"])
    assert stop.value.code == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["model"]["tasks"], config.qualified
    # every class_path names a class of its slot's kind (what `selfsup fit` checks first)
    check_config_types(resolve_config(yaml.safe_load(text), PLUGINS))
