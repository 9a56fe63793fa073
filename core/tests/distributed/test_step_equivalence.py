"""The step-equivalence check (selfsup.testing.step_equivalence) on a tiny BYOL-like method.

Two gloo processes on half batches against one process on the whole batch, in float64, so the
tolerances can be tight; and the ways a method goes wrong under DDP (per-rank BatchNorm
statistics, a loss that does not gather, random rows drawn per rank) must show as errors.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from selfsup.experiment import Method
from selfsup.losses import info_nce
from selfsup.masking import feature_subset_mask
from selfsup.teachers import EMATeacher
from selfsup.testing.step_equivalence import (
    StepCase,
    check_step_equivalence,
    rows_of_global_draw,
    split_rows,
)

pytestmark = pytest.mark.distributed


class _Tiny(Method):
    """Encoder with a norm layer, an EMA teacher, InfoNCE between the student's and teacher's
    view, and a random per-row feature mask (drawn like T-JEPA's)."""

    def __init__(
        self, gather: bool | None = None, masks=feature_subset_mask, norm=nn.LayerNorm
    ) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(6, 8), norm(8), nn.ReLU(), nn.Linear(8, 4))
        self.predictor = nn.Linear(4, 4)
        self.teacher = EMATeacher(self.encoder, momentum=0.9)
        self.gather = gather
        self.masks = masks

    def training_losses(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        keep = self.masks(batch["a"].shape[0], 6, num_targets=1).context
        q = self.predictor(self.encoder(batch["a"] * keep))
        k = self.teacher(batch["b"])
        return {"loss": info_nce(q, k, 0.5, gather=self.gather)}


def _batch() -> dict[str, Tensor]:
    gen = torch.Generator().manual_seed(3)
    a = torch.randn(8, 6, generator=gen, dtype=torch.float64)
    return {"a": a, "b": a + 0.3 * torch.randn(8, 6, generator=gen, dtype=torch.float64)}


def _right() -> Method:
    return _Tiny(masks=rows_of_global_draw(feature_subset_mask)).double()


def _local_masks() -> Method:
    return _Tiny().double()


def _batchnorm() -> Method:
    return _Tiny(masks=rows_of_global_draw(feature_subset_mask), norm=nn.BatchNorm1d).double()


def _no_gather() -> Method:
    return _Tiny(gather=False, masks=rows_of_global_draw(feature_subset_mask)).double()


def test_split_rows_splits_every_tensor_and_refuses_uneven_batches() -> None:
    shard = split_rows({"x": [torch.arange(4), torch.arange(8).reshape(4, 2)], "n": 3}, 1, 2)
    assert shard["x"][0].tolist() == [2, 3] and shard["x"][1].tolist() == [[4, 5], [6, 7]]
    assert shard["n"] == 3
    with pytest.raises(ValueError, match="does not split over 2 ranks"):
        split_rows(torch.arange(3), 0, 2)


def test_a_global_draw_gives_one_process_the_whole_draw() -> None:
    draw = rows_of_global_draw(feature_subset_mask)
    expected = feature_subset_mask(8, 6, generator=torch.Generator().manual_seed(1234))
    assert torch.equal(draw(8, 6).context, expected.context)
    assert torch.equal(draw(8, 6).targets, expected.targets)


def test_ddp_step_equals_one_process() -> None:
    result = check_step_equivalence(StepCase("tiny", _right, _batch))
    assert result.loss_error < 1e-12
    assert result.param_error < 1e-12
    assert result.buffer_error < 1e-12  # the EMA teacher
    assert result.rank_spread < 1e-12


def test_per_rank_batchnorm_statistics_show() -> None:
    # CPU ranks cannot use SyncBatchNorm (PyTorch runs it on CUDA modules only)
    result = check_step_equivalence(StepCase("batchnorm", _batchnorm, _batch))
    assert result.buffer_error > 1e-3 and result.param_error > 1e-4


def test_a_loss_that_does_not_gather_shows() -> None:
    result = check_step_equivalence(StepCase("no_gather", _no_gather, _batch))
    assert result.loss_error > 1e-3 and result.param_error > 1e-4


def test_masks_drawn_per_rank_show() -> None:
    result = check_step_equivalence(StepCase("local", _local_masks, _batch))
    assert result.param_error > 1e-4
