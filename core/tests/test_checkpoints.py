"""selfsup.checkpoints: loading runs no code, wrappers unwrap, keys select, mismatches explain."""

from __future__ import annotations

import pickle

import pytest
import torch
from torch import nn

from selfsup.checkpoints import (
    find_module_prefix,
    load_checkpoint_file,
    load_matching,
    read_state_dict,
    select_prefix,
)


class _RunsCode:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_missing_file_says_what_to_pass(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="selfsup fit"):
        load_checkpoint_file(tmp_path / "absent.ckpt")


def test_a_pickle_that_asks_for_code_is_refused(tmp_path, capsys) -> None:
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"w": _RunsCode()}, protocol=2))
    with pytest.raises(ValueError, match="never loaded because that would run code"):
        load_checkpoint_file(path)
    assert "this must never run" not in capsys.readouterr().out


def test_truncated_and_foreign_files_are_refused(tmp_path) -> None:
    good = tmp_path / "good.pt"
    torch.save({"w": torch.ones(3)}, good)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good.read_bytes()[:40])
    text = tmp_path / "text.pt"
    text.write_text("not a checkpoint")
    for path in (cut, text):
        with pytest.raises(ValueError, match=path.name):
            load_checkpoint_file(path)


@pytest.mark.parametrize(
    "saved",
    [
        {"state_dict": {"a": torch.ones(1)}, "epoch": 2},  # Lightning
        {"model": {"a": torch.ones(1)}, "cfg": {"depth": 2}},  # official BEATs release
        {"a": torch.ones(1)},  # torch.save(module.state_dict())
    ],
)
def test_read_state_dict_unwraps_each_layout(tmp_path, saved) -> None:
    torch.save(saved, tmp_path / "w.pt")
    state = read_state_dict(tmp_path / "w.pt")
    assert list(state) == ["a"] and torch.equal(state["a"], torch.ones(1))


def test_read_state_dict_refuses_a_non_mapping(tmp_path) -> None:
    torch.save([torch.ones(1)], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="holds a list, not a state dict"):
        read_state_dict(tmp_path / "list.pt")


def test_select_and_find_prefix_on_a_fit_layout() -> None:
    state = {
        "tasks.speech.method.encoder.w": 1,
        "tasks.speech.method.encoder._extra_state": {"arch": "x"},
        "tasks.speech.method.tokenizer.encoder._extra_state": {"arch": "y"},
        "tasks.speech.method.head.w": 2,
    }
    prefix = find_module_prefix(state, "encoder", "arch")
    assert prefix == "tasks.speech.method.encoder."
    assert select_prefix(state, prefix) == {"w": 1, "_extra_state": {"arch": "x"}}
    with pytest.raises(KeyError, match="no 'head' module"):
        find_module_prefix(state, "head", "arch")
    two = {f"tasks.{t}.method.encoder._extra_state": {"arch": t} for t in ("a", "b")}
    with pytest.raises(KeyError, match="several 'encoder' modules"):
        find_module_prefix(two, "encoder", "arch")


def test_load_matching_loads_or_lists_both_sides() -> None:
    layer = nn.Linear(3, 2)
    load_matching(layer, {"weight": torch.ones(2, 3), "bias": torch.zeros(2)}, "w.pt")
    assert torch.equal(layer.weight, torch.ones(2, 3))
    with pytest.raises(ValueError, match=r"missing \['bias'\].*unexpected \['b'\].*try this"):
        load_matching(layer, {"weight": torch.ones(2, 3), "b": torch.zeros(2)}, "w.pt", "try this")
    with pytest.raises(ValueError, match=r"weight: file \(3, 3\) vs module \(2, 3\)"):
        load_matching(layer, {"weight": torch.ones(3, 3), "bias": torch.zeros(2)}, "w.pt")
    assert torch.equal(layer.weight, torch.ones(2, 3))  # a refused file changes nothing
