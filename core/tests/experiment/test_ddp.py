"""SSLModule tells DDP when a step may leave parameters unused (selfsup.experiment.ddp)."""

from __future__ import annotations

import pytest
import torch
from lightning.pytorch.strategies import DDPStrategy, SingleDeviceStrategy

from selfsup.experiment import SSLModule
from selfsup.experiment.ddp import configure_ddp, unused_parameter_reasons
from selfsup.testing.boring import BoringMethod, boring_task, quiet_trainer


class _DrawsAHead(BoringMethod):
    def unused_parameters_reason(self) -> str | None:
        return "one of two heads is drawn per step"


def test_lightning_still_keeps_the_ddp_kwargs_where_we_set_them() -> None:
    # configure_ddp writes DDPStrategy._ddp_kwargs before setup() wraps the model: a Lightning
    # release that renames it must fail here, not silently stop the unused-parameter search.
    strategy = DDPStrategy(static_graph=False)
    assert strategy._ddp_kwargs == {"static_graph": False}
    assert configure_ddp(strategy, ["a reason"])
    assert strategy._ddp_kwargs["find_unused_parameters"] is True


def test_an_explicit_choice_and_other_strategies_are_kept() -> None:
    refused = DDPStrategy(find_unused_parameters=False)
    assert not configure_ddp(refused, ["a reason"])
    assert refused._ddp_kwargs["find_unused_parameters"] is False
    assert not configure_ddp(SingleDeviceStrategy(torch.device("cpu")), ["a reason"])
    plain = DDPStrategy()
    assert not configure_ddp(plain, [])
    assert "find_unused_parameters" not in plain._ddp_kwargs


def test_reasons_come_from_the_experiment_and_its_methods() -> None:
    one = {"a": boring_task("a")}
    two = {"a": boring_task("a"), "b": boring_task("b", seed=1)}
    assert unused_parameter_reasons(one) == []
    assert unused_parameter_reasons(two) == []
    # one task per step only leaves parameters unused when there are several tasks
    assert unused_parameter_reasons(one, sampling="round_robin") == []
    assert unused_parameter_reasons(two, sampling="temperature") == [
        "sampling='temperature' trains one task per step"
    ]
    assert unused_parameter_reasons(two, loader_mode="max_size") == [
        "loader_mode='max_size' lets exhausted tasks sit out"
    ]
    two["b"].method = _DrawsAHead()
    assert unused_parameter_reasons(two) == ["task 'b': one of two heads is drawn per step"]


def test_the_base_method_promises_every_parameter_a_gradient() -> None:
    assert BoringMethod().unused_parameters_reason() is None


def _round_robin_fit(tmp_path, strategy: str):
    module = SSLModule(
        [boring_task("a"), boring_task("b", seed=1)], sampling="round_robin", steps_per_epoch=4
    )
    trainer = quiet_trainer(
        max_steps=4, strategy=strategy, accelerator="cpu", devices=2, default_root_dir=tmp_path
    )
    trainer.fit(module)
    return trainer


@pytest.mark.distributed
def test_one_task_per_step_trains_under_plain_ddp(tmp_path) -> None:
    # Two tasks drawn one per step: the other task's parameters get no gradient, which stops
    # DDP's default at the second step; SSLModule turns the search on by itself.
    assert _round_robin_fit(tmp_path, "ddp_spawn").state.finished
    # the same run with the search refused fails: the check above can fail
    with pytest.raises(Exception, match="(?s)finished reduction|unused"):
        _round_robin_fit(tmp_path, "ddp_spawn_find_unused_parameters_false")


def test_fsdp_refuses_modules_shared_between_tasks() -> None:
    from types import SimpleNamespace

    from lightning.pytorch.strategies import ModelParallelStrategy

    from selfsup.encoders import TransformerTrunk

    module = SSLModule([boring_task("a")], shared={"trunk": TransformerTrunk(dim=8, depth=1)})
    module._trainer = SimpleNamespace(strategy=ModelParallelStrategy())
    with pytest.raises(ValueError, match="shared between tasks.*--trainer.strategy ddp"):
        module.configure_model()
    # any other strategy: nothing to shard
    module._trainer = SimpleNamespace(strategy=DDPStrategy())
    module.configure_model()
