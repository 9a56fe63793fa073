"""Old module paths of the graph plugin forward to the skeleton's for one release."""

from __future__ import annotations

import importlib

import pytest

from selfsup.testing.deprecations import check_forwarded

MOVED = [("selfsup_graph.methods.graph_batch", "selfsup_graph.batch")]
# names that moved out of modules that stay: (old module, name, new module)
MOVED_NAMES = [
    ("selfsup_graph.methods.graphmae", "GraphInput", "selfsup_graph.batch"),
    ("selfsup_graph.methods", "GraphInput", "selfsup_graph.batch"),
]


@pytest.mark.parametrize(("old", "new"), MOVED, ids=[o for o, _ in MOVED])
def test_every_public_name_is_forwarded_with_a_warning(old: str, new: str) -> None:
    assert check_forwarded(old, new)


@pytest.mark.parametrize(("old", "name", "new"), MOVED_NAMES, ids=[o for o, _, _ in MOVED_NAMES])
def test_moved_names_are_forwarded_with_a_warning(old: str, name: str, new: str) -> None:
    module, target = importlib.import_module(old), importlib.import_module(new)
    with pytest.warns(DeprecationWarning, match=rf"{old}\.{name} is deprecated.*{new}"):
        assert getattr(module, name) is getattr(target, name)
    with pytest.raises(AttributeError):
        _ = module.no_such_name


def test_node_probe_monitor_is_core_probe_monitor_with_a_node_probe() -> None:
    from selfsup.metrics import ProbeMonitor
    from selfsup_graph.evaluation import NodeProbe, NodeProbeMonitor

    with pytest.warns(DeprecationWarning, match="ProbeMonitor"):
        monitor = NodeProbeMonitor(every_n_epochs=3, lr=0.5, epochs=7)
    assert isinstance(monitor, ProbeMonitor) and monitor.every_n_epochs == 3
    (probe,) = monitor.probes
    assert isinstance(probe, NodeProbe) and (probe.lr, probe.epochs) == (0.5, 7)
    assert monitor.node_results is probe.results
