"""Old import paths keep working for one release, and say where the name lives now."""

from __future__ import annotations

import importlib
import sys

import pytest

import selfsup.checkpoints as core_checkpoints


def test_audio_checkpoints_module_points_to_core() -> None:
    sys.modules.pop("selfsup_audio.checkpoints", None)
    with pytest.warns(DeprecationWarning, match="selfsup.checkpoints"):
        old = importlib.import_module("selfsup_audio.checkpoints")
    assert old.read_state_dict is core_checkpoints.read_state_dict
    assert old.load_checkpoint_file is core_checkpoints.load_checkpoint_file
    assert old.find_prefix is core_checkpoints.find_module_prefix


def test_audio_masked_mean_is_the_core_one() -> None:
    from selfsup.encoders import masked_mean
    from selfsup_audio.methods.beats import masked_mean as via_beats
    from selfsup_audio.pooling import masked_mean as via_pooling

    assert via_pooling is masked_mean and via_beats is masked_mean
