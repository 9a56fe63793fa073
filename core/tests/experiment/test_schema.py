"""SchemaState / LazySchemaModule: a method built from its data's schema, saved in checkpoints."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from selfsup.experiment import LazySchemaModule, Method, SchemaState, SSLModule, Task
from selfsup.experiment.embedding import load_weights
from selfsup.experiment.schema import check_plain_data
from selfsup.testing.boring import BoringDataModule, quiet_trainer


class LazyLinear(LazySchemaModule, Method):
    """A linear map whose input width comes from the data (``BoringDataModule``'s vectors)."""

    build_hint = "bind it to a data module with vectors (bind_data) or call build(dim)."

    def __init__(self) -> None:
        super().__init__()
        self.schema = SchemaState()
        self.rebuilds = 0

    def build(self, dim: int) -> None:
        if self.materialized:
            if dim != self.schema.spec["dim"]:
                raise ValueError(f"built for {self.schema.spec['dim']} features, got {dim}.")
            return
        self.net = nn.Linear(dim, 4)
        self.schema.set({"dim": dim, "names": [f"x{i}" for i in range(dim)]})
        self.schema.built = True

    def rebuild_from_schema(self, spec: Any) -> None:
        dim = spec.get("dim") if isinstance(spec, dict) else None
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise ValueError(f"not a LazyLinear schema: {spec!r}")
        self.rebuilds += 1
        self.build(dim)

    def bind_data(self, data: Any, stage: str | None) -> None:
        if stage != "predict":
            self.build(int(data.dataset.tensors[0].shape[1]))

    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        self.require_built()
        x = batch[0] if isinstance(batch, list | tuple) else batch
        return {"loss": self.net(x).pow(2).mean()}

    def embed(self, batch: Any) -> Tensor:
        self.require_built()
        return self.net(batch)


def _module(method: LazyLinear) -> SSLModule:
    return SSLModule([Task("t", method, BoringDataModule(num_samples=32, dim=6))])


def test_an_unbuilt_method_says_how_to_build_it() -> None:
    method = LazyLinear()
    assert not method.materialized and not method.schema.is_set
    with pytest.raises(RuntimeError, match=r"LazyLinear has no feature schema yet: bind it"):
        method.embed(torch.zeros(2, 6))


def test_schema_round_trips_through_a_lightning_checkpoint(tmp_path) -> None:
    trained = LazyLinear()
    trainer = quiet_trainer(max_steps=2, default_root_dir=str(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(_module(trained))  # bind_data builds it in SSLModule.setup
    assert trained.materialized and trained.net.in_features == 6
    path = tmp_path / "run.ckpt"
    trainer.save_checkpoint(path)
    # the key layout is the attribute's extra state; the schema is plain data
    state = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    assert state["tasks.t.method.schema._extra_state"] == {
        "dim": 6,
        "names": [f"x{i}" for i in range(6)],
    }
    fresh = LazyLinear()
    load_weights(_module(fresh), path)  # weights only, strict: every key fits
    assert fresh.materialized and fresh.rebuilds == 1
    assert fresh.schema.spec == trained.schema.spec
    torch.testing.assert_close(fresh.net.weight, trained.net.weight)
    # a built model loads its weights without rebuilding
    load_weights(_module(fresh), path)
    assert fresh.rebuilds == 1


def test_resuming_a_fit_binds_then_restores(tmp_path) -> None:
    trained = LazyLinear()
    trainer = quiet_trainer(max_steps=2, default_root_dir=str(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(_module(trained))
        trainer.save_checkpoint(tmp_path / "run.ckpt")
        resumed = LazyLinear()
        quiet_trainer(max_steps=3, default_root_dir=str(tmp_path)).fit(
            _module(resumed), ckpt_path=str(tmp_path / "run.ckpt")
        )
    assert resumed.materialized and resumed.rebuilds == 0  # built by bind_data, then loaded


def test_a_malformed_saved_schema_is_refused_before_anything_is_built() -> None:
    built = LazyLinear()
    built.build(3)
    state = built.state_dict()
    state["schema._extra_state"] = {"dim": "3"}
    with pytest.raises(ValueError, match="not a LazyLinear schema"):
        LazyLinear().load_state_dict(state)


def test_schema_state_holds_plain_data_only() -> None:
    state = SchemaState()
    with pytest.raises(ValueError, match=r"spec\['w'\] must be plain data.*Tensor"):
        state.set({"w": torch.ones(1)})
    with pytest.raises(ValueError, match="must be a dict"):
        state.load_state_dict({"_extra_state": "os.system"})
    with pytest.raises(ValueError, match="has a key of type object"):
        check_plain_data({object(): 1})
    deep: Any = []
    for _ in range(100):
        deep = [deep]
    with pytest.raises(ValueError, match="deeper than 64"):
        check_plain_data(deep)
    check_plain_data({"keys": [1, 2.5, "a", None, True], "vocab": {3: 0, "x": 1}})
