from __future__ import annotations

from types import SimpleNamespace

import pytest

from selfsup.plugins import Plugin, PluginNotFoundError, component_path, discover, registry, resolve

GRAPH = Plugin("graph", "graph", {"grace": "selfsup.demo.vector_simclr:VectorSimCLR"})
VISION = Plugin(
    "vision", "vision", {"simclr": "selfsup.demo:VectorSimCLR", "grace": "selfsup.demo:mlp_encoder"}
)


def test_plugin_is_frozen_and_components_read_only():
    with pytest.raises(AttributeError):
        GRAPH.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        GRAPH.components["x"] = "a:b"  # type: ignore[index]


@pytest.mark.parametrize("target", ["no_colon", ":Attr", "module:"])
def test_plugin_rejects_malformed_import_strings(target):
    with pytest.raises(ValueError, match="package.module:Attribute"):
        Plugin("graph", "graph", {"x": target})


def test_plugin_rejects_non_identifier_name():
    with pytest.raises(ValueError, match="identifier"):
        Plugin("my-plugin", "graph")


def test_component_path_unique_and_qualified():
    plugins = {"graph": GRAPH, "vision": VISION}
    assert component_path("simclr", plugins) == "selfsup.demo:VectorSimCLR"
    assert component_path("graph:grace", plugins) == "selfsup.demo.vector_simclr:VectorSimCLR"


def test_component_path_ambiguous_asks_to_qualify():
    with pytest.raises(PluginNotFoundError, match="graph:grace, vision:grace"):
        component_path("grace", {"graph": GRAPH, "vision": VISION})


def test_missing_component_lists_install_hints():
    with pytest.raises(PluginNotFoundError, match="pip install selfsup-audio") as err:
        component_path("beats", {"graph": GRAPH})
    assert "installed plugins: graph" in str(err.value)


def test_missing_plugin_qualified_gives_pip_command():
    with pytest.raises(PluginNotFoundError, match="selfsup plugin 'graph' is not installed: pip"):
        component_path("graph:graphmae", {})


def test_unknown_component_of_installed_plugin_lists_what_it_provides():
    with pytest.raises(PluginNotFoundError, match="it provides: grace"):
        component_path("graph:nope", {"graph": GRAPH})


def test_resolve_imports_the_object():
    from selfsup.demo import VectorSimCLR

    assert resolve("graph:grace", {"graph": GRAPH}) is VectorSimCLR
    assert GRAPH.load("grace") is VectorSimCLR


def _fake_entry_points(*eps):
    def entry_points(group):
        assert group == "selfsup.plugins"
        return list(eps)

    return entry_points


def _ep(name, obj):
    return SimpleNamespace(name=name, value=f"fake:{name}", load=lambda: obj)


def test_discover_reads_entry_points(monkeypatch):
    monkeypatch.setattr(registry, "entry_points", _fake_entry_points(_ep("graph", GRAPH)))
    assert discover() == {"graph": GRAPH}


def test_discover_rejects_non_plugin_objects(monkeypatch):
    monkeypatch.setattr(registry, "entry_points", _fake_entry_points(_ep("bad", object())))
    with pytest.raises(TypeError, match="must point at a selfsup.plugins.Plugin"):
        discover()


def test_discover_rejects_duplicate_names(monkeypatch):
    eps = _fake_entry_points(_ep("graph", GRAPH), _ep("graph2", GRAPH))
    monkeypatch.setattr(registry, "entry_points", eps)
    with pytest.raises(ValueError, match="two installed packages"):
        discover()


def test_discover_names_the_broken_plugin(monkeypatch):
    def broken():
        raise ModuleNotFoundError("No module named 'torch_geometric'")

    ep = SimpleNamespace(name="graph", value="selfsup_graph.plugin:PLUGIN", load=broken)
    monkeypatch.setattr(registry, "entry_points", _fake_entry_points(ep))
    with pytest.raises(ImportError, match="'graph' .*failed to import"):
        discover()
