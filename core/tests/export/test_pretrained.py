"""Encoder folders: exact round trips, and loading that never builds what was not registered."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from selfsup.demo import MLPEncoder
from selfsup.export import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    ExportError,
    export_config,
    exportable,
    is_exportable,
    load_pretrained,
    read_pretrained_config,
    save_pretrained,
)
from selfsup.plugins import Plugin, PluginNotFoundError
from selfsup.plugins import registry as registry_module


def trained_encoder() -> MLPEncoder:
    torch.manual_seed(0)
    encoder = MLPEncoder(6, 10, 4)
    with torch.no_grad():  # weights and BatchNorm statistics unlike a fresh init
        encoder(torch.randn(32, 6) * 3 + 1)
        for p in encoder.parameters():
            p.add_(torch.randn_like(p))
    return encoder.eval()


def test_round_trip_rebuilds_weights_buffers_and_outputs(tmp_path):
    encoder = trained_encoder()
    folder = save_pretrained(encoder, tmp_path / "enc", metadata={"task": "digits"})
    loaded = load_pretrained(folder)
    assert type(loaded) is MLPEncoder and not loaded.training
    for key, value in encoder.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    x = torch.randn(5, 6)
    assert torch.equal(loaded(x), encoder(x))
    config = read_pretrained_config(folder)
    assert config["component"] == "selfsup:mlp_encoder"
    assert config["init_args"] == {"in_dim": 6, "hidden_dim": 10, "out_dim": 4}
    assert config["metadata"] == {"task": "digits"}
    assert "selfsup-core" in config["versions"]
    # tensors only: a safetensors header (8-byte length, then JSON), no pickle
    raw = (folder / WEIGHTS_NAME).read_bytes()
    assert raw[8:9] == b"{" and b"pickle" not in raw[:2000]


def test_save_keeps_train_mode(tmp_path):
    encoder = MLPEncoder(3, 4, 2).train()
    save_pretrained(encoder, tmp_path / "enc")
    assert encoder.training


def test_expected_class_is_checked(tmp_path):
    save_pretrained(trained_encoder(), tmp_path / "enc")
    assert isinstance(load_pretrained(tmp_path / "enc", expected=nn.Sequential), MLPEncoder)
    with pytest.raises(ExportError, match="not a Linear"):
        load_pretrained(tmp_path / "enc", expected=nn.Linear)


def test_unregistered_modules_are_refused(tmp_path):
    with pytest.raises(ExportError, match="decorate the class with"):
        save_pretrained(nn.Linear(2, 2), tmp_path / "x")
    assert not (tmp_path / "x").exists()

    class Sub(MLPEncoder):  # inherits the decorator's recording, not its registration
        pass

    assert is_exportable(MLPEncoder) and not is_exportable(Sub)
    with pytest.raises(ExportError, match="not exportable"):
        export_config(Sub(2, 3, 4))


@exportable("selfsup:test_only")
class WithObject(nn.Module):
    def __init__(self, act: nn.Module | None = None, scale: float = 1.0) -> None:
        super().__init__()
        self.act = act or nn.ReLU()
        self.scale = scale


def test_non_json_arguments_are_named():
    assert export_config(WithObject(scale=2)) == {"act": None, "scale": 2}
    with pytest.raises(ExportError, match="act.*GELU"):
        export_config(WithObject(act=nn.GELU()))
    with pytest.raises(ExportError, match="inf"):
        export_config(WithObject(scale=float("inf")))


@exportable("selfsup:test_extra")
class WithExtraState(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(2, 2)

    def get_extra_state(self) -> dict:
        return {"vocab": ["a"]}

    def set_extra_state(self, state: dict) -> None:
        pass


def test_non_tensor_state_is_refused(tmp_path):
    with pytest.raises(ExportError, match="non-tensor state"):
        save_pretrained(WithExtraState(), tmp_path / "x")


def _tamper(folder, **changes) -> None:
    path = folder / CONFIG_NAME
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))


def test_folder_cannot_name_arbitrary_callables(tmp_path, monkeypatch):
    called = []
    monkeypatch.setattr("os.system", lambda *a: called.append(a))
    evil = {
        "evil": Plugin("evil", "vector", {"run": "os:system", "mlp": "selfsup.demo:MLPEncoder"})
    }
    monkeypatch.setattr(registry_module, "discover", lambda: evil)
    folder = save_pretrained(trained_encoder(), tmp_path / "enc")
    _tamper(folder, component="evil:run", init_args={})
    with pytest.raises(ExportError, match="refusing"):
        load_pretrained(folder)
    _tamper(folder, component="evil:mlp")  # a real encoder, but registered under another name
    with pytest.raises(ExportError, match="exports as 'selfsup:mlp_encoder'"):
        load_pretrained(folder)
    _tamper(folder, component="selfsup:nothing")
    with pytest.raises(ExportError, match="no exportable component 'nothing'"):
        load_pretrained(folder)
    _tamper(folder, component="graphx:gat")
    with pytest.raises(PluginNotFoundError, match="not installed"):
        load_pretrained(folder)
    assert called == []


def test_bad_folders_fail_clearly(tmp_path):
    folder = save_pretrained(trained_encoder(), tmp_path / "enc")
    _tamper(folder, init_args={"in_dim": 6, "hidden_dim": 11, "out_dim": 4})
    with pytest.raises(ExportError, match="weights do not match"):
        load_pretrained(folder)
    _tamper(folder, init_args={"width": 3})
    with pytest.raises(ExportError, match="cannot be built"):
        load_pretrained(folder)
    _tamper(folder, format_version=99)
    with pytest.raises(ExportError, match="upgrade selfsup-core"):
        load_pretrained(folder)
    (folder / CONFIG_NAME).write_text("{not json")
    with pytest.raises(ExportError, match="not valid JSON"):
        load_pretrained(folder)
    (folder / WEIGHTS_NAME).unlink()
    with pytest.raises(ExportError, match="model.safetensors is missing"):
        load_pretrained(folder)


def test_existing_folder_needs_overwrite_and_failures_leave_it_alone(tmp_path, monkeypatch):
    first = save_pretrained(MLPEncoder(2, 3, 4), tmp_path / "enc")
    with pytest.raises(FileExistsError, match="overwrite"):
        save_pretrained(MLPEncoder(2, 3, 5), first)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("safetensors.torch.save_model", broken)
    with pytest.raises(OSError, match="disk full"):
        save_pretrained(MLPEncoder(2, 3, 5), first, overwrite=True)
    monkeypatch.undo()
    assert read_pretrained_config(first)["init_args"]["out_dim"] == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["enc"]  # no partial copy left
    save_pretrained(MLPEncoder(2, 3, 5), first, overwrite=True)
    assert read_pretrained_config(first)["init_args"]["out_dim"] == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["enc"]


def test_folder_files_get_ordinary_permissions(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        folder = save_pretrained(MLPEncoder(2, 3, 4), tmp_path / "enc")
    finally:
        os.umask(old)
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o644, name
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
