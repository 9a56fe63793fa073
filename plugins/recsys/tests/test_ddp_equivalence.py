"""FeatureTwoTower, the recsys main method: one step on two gloo processes on half batches equals
one process on the whole batch — parameters, the streaming logQ estimator and the mean loss."""

from __future__ import annotations

import pytest
import torch

from selfsup.testing.step_equivalence import StepCase, check_step_equivalence
from selfsup_recsys.examples import random_feature_batch, tiny_feature_two_tower

pytestmark = pytest.mark.distributed


def _method():
    # the main config's loss: streaming logQ, accidental-hit removal, CFM item-tower SSL;
    # bag dropout (a per-row draw) off, so both runs see the same inputs
    return tiny_feature_two_tower("cfm", bag_dropout=0.0, logq="streaming")


def _batch():
    return random_feature_batch(8, torch.Generator().manual_seed(5), ssl=8)


def test_two_tower_step_on_two_processes_equals_one() -> None:
    result = check_step_equivalence(StepCase("feature_two_tower", _method, _batch))
    assert result.loss_error < 1e-5
    assert result.param_error < 1e-5
    assert result.buffer_error < 1e-5  # the frequency estimator's gaps and last-seen steps
    assert result.rank_spread < 1e-6
