"""Old module paths of the recsys plugin forward to the skeleton's for one release."""

from __future__ import annotations

import pytest

from selfsup.testing.deprecations import check_forwarded

MOVED = [
    ("selfsup_recsys.features", "selfsup_recsys.batch"),
    ("selfsup_recsys.monitor", "selfsup_recsys.evaluation.monitor"),
]


# helpers split out of modules over 400 lines: the module and its classes stay where configs and
# checkpoints name them (class_path), the moved functions forward from the old module
SPLIT = [
    (
        "selfsup_recsys.encoders.content",
        "selfsup_recsys.encoders.content_config",
        [
            "CONTENT_ENCODER_KEYS",
            "build_content_encoder",
            "load_encoder_checkpoint",
            "saved_content_config",
        ],
    ),
    (
        "selfsup_recsys.encoders.content",
        "selfsup_recsys.encoders.content_classes",
        ["import_class"],
    ),
    ("selfsup_recsys.data.datamodule", "selfsup_recsys.data.batching", ["embedding_ids"]),
    (
        "selfsup_recsys.data.feature_table",
        "selfsup_recsys.data.metadata",
        ["numeric_values", "plain_key", "prepare_metadata"],
    ),
]


@pytest.mark.parametrize(("old", "new"), MOVED, ids=[o for o, _ in MOVED])
def test_every_public_name_is_forwarded_with_a_warning(old: str, new: str) -> None:
    assert check_forwarded(old, new)


@pytest.mark.parametrize(("old", "new", "names"), SPLIT, ids=[n for _, n, _ in SPLIT])
def test_helpers_split_out_are_forwarded_with_a_warning(old: str, new: str, names: list) -> None:
    assert check_forwarded(old, new, names) == names


def test_classes_named_by_class_path_stay_in_place_without_a_warning() -> None:
    import importlib
    import warnings

    from selfsup.plugins import discover

    paths = [
        "selfsup_recsys.methods.feature_two_tower:FeatureTwoTower",
        "selfsup_recsys.data.datamodule:InteractionDataModule",
        "selfsup_recsys.encoders.content:ContentEncoder",
        "selfsup_recsys.data.feature_table:FeatureTable",
        *discover()["recsys"].components.values(),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        for path in paths:
            module, _, name = path.partition(":")
            obj = getattr(importlib.import_module(module), name)
            assert getattr(obj, "__module__", module) == module, path


def test_retrieval_monitor_is_core_probe_monitor_with_a_retrieval_probe() -> None:
    from selfsup.metrics import ProbeMonitor
    from selfsup_recsys.evaluation import RetrievalMonitor, RetrievalProbe

    with pytest.warns(DeprecationWarning, match="ProbeMonitor"):
        monitor = RetrievalMonitor(every_n_epochs=2, head_fraction=0.3)
    assert isinstance(monitor, ProbeMonitor) and monitor.every_n_epochs == 2
    (probe,) = monitor.probes
    assert isinstance(probe, RetrievalProbe) and (probe.split, probe.head_fraction) == ("val", 0.3)
