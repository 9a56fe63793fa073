"""Old import paths keep working for one release, and say where the name lives now."""

from __future__ import annotations

import importlib

import pytest

import selfsup.checkpoints as core_checkpoints


def test_audio_checkpoints_names_point_to_core() -> None:
    old = importlib.import_module("selfsup_audio.checkpoints")
    for name, new in [
        ("read_state_dict", "read_state_dict"),
        ("load_checkpoint_file", "load_checkpoint_file"),
        ("find_prefix", "find_module_prefix"),
    ]:
        with pytest.warns(DeprecationWarning, match=f"selfsup.checkpoints.*{new}|{new}.*selfsup"):
            value = getattr(old, name)
        assert value is getattr(core_checkpoints, new)
    with pytest.raises(AttributeError, match="nope"):
        _ = old.nope


def test_audio_masked_mean_is_the_core_one() -> None:
    from selfsup.encoders import masked_mean
    from selfsup_audio.methods.beats import masked_mean as via_beats
    from selfsup_audio.pooling import masked_mean as via_pooling

    assert via_pooling is masked_mean and via_beats is masked_mean


def test_downstream_names_forward_to_evaluation() -> None:
    old = importlib.import_module("selfsup_audio.downstream")
    new = importlib.import_module("selfsup_audio.evaluation.downstream")
    for name in new.__all__:
        with pytest.warns(
            DeprecationWarning, match=rf"selfsup_audio.downstream\.{name} is deprecated"
        ):
            assert getattr(old, name) is getattr(new, name)
