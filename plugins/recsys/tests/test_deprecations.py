"""Old module paths of the recsys plugin forward to the skeleton's for one release."""

from __future__ import annotations

import pytest

from selfsup.testing.deprecations import check_forwarded

MOVED = [
    ("selfsup_recsys.features", "selfsup_recsys.batch"),
    ("selfsup_recsys.monitor", "selfsup_recsys.evaluation.monitor"),
]


@pytest.mark.parametrize(("old", "new"), MOVED, ids=[o for o, _ in MOVED])
def test_every_public_name_is_forwarded_with_a_warning(old: str, new: str) -> None:
    assert check_forwarded(old, new)


def test_retrieval_monitor_is_core_probe_monitor_with_a_retrieval_probe() -> None:
    from selfsup.metrics import ProbeMonitor
    from selfsup_recsys.evaluation import RetrievalMonitor, RetrievalProbe

    with pytest.warns(DeprecationWarning, match="ProbeMonitor"):
        monitor = RetrievalMonitor(every_n_epochs=2, head_fraction=0.3)
    assert isinstance(monitor, ProbeMonitor) and monitor.every_n_epochs == 2
    (probe,) = monitor.probes
    assert isinstance(probe, RetrievalProbe) and (probe.split, probe.head_fraction) == ("val", 0.3)
