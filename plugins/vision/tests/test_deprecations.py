"""Old module paths of the vision plugin forward to the skeleton's for one release."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

MOVED = [
    ("selfsup_vision.batches", "selfsup_vision.batch"),
    ("selfsup_vision.transforms", "selfsup_vision.augment"),
    ("selfsup_vision.transforms.simclr", "selfsup_vision.augment.simclr"),
    ("selfsup_vision.transforms.views", "selfsup_vision.augment.views"),
    ("selfsup_vision.transforms.presets", "selfsup_vision.augment.presets"),
    ("selfsup_vision.evaluate", "selfsup_vision.evaluation.encoder_probe"),
    ("selfsup_vision.losses", "selfsup.losses.mixed_barlow"),
    ("selfsup_vision.losses.mixed_barlow", "selfsup.losses.mixed_barlow"),
]


@pytest.mark.parametrize(("old", "new"), MOVED, ids=[o for o, _ in MOVED])
def test_every_public_name_is_forwarded_with_a_warning(old: str, new: str) -> None:
    module, target = importlib.import_module(old), importlib.import_module(new)
    # every name the old path had (names added at the new place since are not forwarded)
    assert set(module.__all__) <= set(target.__all__)
    for name in module.__all__:
        with pytest.warns(DeprecationWarning, match=rf"{old}\.{name} is deprecated.*{new}"):
            assert getattr(module, name) is getattr(target, name)


def test_a_config_class_path_at_the_old_place_still_resolves() -> None:
    from selfsup.plugins.registry import import_target

    with pytest.warns(DeprecationWarning, match="selfsup_vision.augment.simclr"):
        cls = import_target("selfsup_vision.transforms.simclr:SimCLRAugment")
    assert cls is importlib.import_module("selfsup_vision.augment.simclr").SimCLRAugment


def test_the_old_command_line_entry_still_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "selfsup_vision.evaluate", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--encoder-dir" in out.stdout
