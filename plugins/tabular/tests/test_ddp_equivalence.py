"""T-JEPA, the tabular main method: one step on two gloo processes on half batches equals one
process on the whole batch — parameters, the EMA target encoder and the mean loss."""

from __future__ import annotations

import pytest
import torch

import selfsup_tabular.methods.tjepa as tjepa_module
from selfsup.masking import feature_subset_mask
from selfsup.testing.step_equivalence import (
    StepCase,
    check_step_equivalence,
    rows_of_global_draw,
)
from selfsup_tabular.methods import TJEPA

pytestmark = pytest.mark.distributed


def _method(target_norm: str = "none") -> TJEPA:
    # every rank draws its rows of the one mask draw the single process makes (per-row masks)
    tjepa_module.feature_subset_mask = rows_of_global_draw(feature_subset_mask)
    method = TJEPA(
        num_numerical=3,
        cardinalities=[3, 5],
        d_token=8,
        num_heads=2,
        ffn_dim=16,
        encoder_layers=1,
        predictor_dim=8,
        predictor_layers=1,
        predictor_heads=2,
        target_norm=target_norm,
    )
    return method.double()


def _batch_norm_method() -> TJEPA:
    return _method("batch")


def _batch() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(2)
    return {
        "x_num": torch.randn(8, 3, generator=gen, dtype=torch.float64),
        "num_missing": torch.rand(8, 3, generator=gen) < 0.2,
        "x_cat": torch.stack([torch.randint(0, c + 2, (8,), generator=gen) for c in (3, 5)], 1),
    }


@pytest.mark.parametrize(
    "factory", [_method, _batch_norm_method], ids=["target_norm_none", "target_norm_batch"]
)
def test_tjepa_step_on_two_processes_equals_one(factory, monkeypatch) -> None:
    # the factory swaps T-JEPA's mask sampler in this process too: restore it afterwards
    monkeypatch.setattr(tjepa_module, "feature_subset_mask", feature_subset_mask)
    result = check_step_equivalence(StepCase("tjepa", factory, _batch))
    assert result.loss_error < 1e-10
    assert result.param_error < 1e-10
    assert result.buffer_error < 1e-10  # the EMA target encoder
    assert result.rank_spread < 1e-12
