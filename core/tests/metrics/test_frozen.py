"""frozen_eval: eval mode and no gradients inside, every submodule's own mode back afterwards."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from selfsup.metrics import frozen_eval


def _net() -> nn.Sequential:
    net = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Dropout(0.5))
    net[2].eval()  # e.g. a frozen sub-encoder that must stay in eval mode
    return net


def test_eval_mode_and_no_grad_inside_modes_restored_after() -> None:
    net = _net()
    stats = net[1].running_mean.clone()
    with frozen_eval(net):
        assert not any(m.training for m in net.modules())
        out = net(torch.randn(8, 4))
    assert not out.requires_grad
    assert torch.equal(net[1].running_mean, stats)  # BatchNorm statistics untouched
    assert [m.training for m in net.modules()] == [True, True, True, False]


def test_modes_come_back_when_the_block_raises() -> None:
    net = _net()
    with pytest.raises(RuntimeError, match="probe failed"), frozen_eval(net):
        raise RuntimeError("probe failed")
    assert [m.training for m in net.modules()] == [True, True, True, False]


def test_a_bound_method_switches_its_module_and_a_plain_callable_is_left_alone() -> None:
    net = _net()
    with frozen_eval(net.forward):
        assert not net.training
    assert net.training
    with frozen_eval(lambda x: x):
        assert not torch.is_grad_enabled()
