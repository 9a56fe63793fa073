"""All first-party plugins are found through their entry points and resolve by short name."""

from __future__ import annotations

import pytest

from selfsup.cli import main
from selfsup.experiment import Method
from selfsup.plugins import FIRST_PARTY, discover, resolve


def test_all_first_party_plugins_are_discovered():
    plugins = discover()
    assert sorted(plugins) == sorted(FIRST_PARTY)
    for name, plugin in plugins.items():
        assert plugin.modality == name
        assert plugin.distribution == FIRST_PARTY[name]


@pytest.mark.parametrize(
    "name",
    sorted(f"{p.name}:{c}" for p in discover().values() for c in p.components),
)
def test_every_component_resolves(name):
    assert resolve(name) is not None


def test_every_plugin_ships_a_method():
    for plugin in discover().values():
        methods = [
            c
            for c in plugin.components
            if isinstance(obj := plugin.load(c), type) and issubclass(obj, Method)
        ]
        assert methods, f"plugin {plugin.name!r} registers no Method"


def test_plugins_command_lists_all(capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    for name, dist in FIRST_PARTY.items():
        assert f"{name} ({dist}" in out
    assert "Not installed" not in out
