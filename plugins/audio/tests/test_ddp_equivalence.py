"""BEATs, the audio main method: one step on two gloo processes on half batches equals one
process on the whole batch — parameters and mean loss — with padded clips, so the ranks mask
different numbers of patches (the loss weighs each rank by its share)."""

from __future__ import annotations

import pytest
import torch

import selfsup_audio.methods.beats as beats_module
from selfsup.masking import padded_token_mask
from selfsup.testing.step_equivalence import (
    StepCase,
    check_step_equivalence,
    rows_of_global_draw,
)
from selfsup_audio.methods import BEATs

pytestmark = pytest.mark.distributed


def _method() -> BEATs:
    # every rank draws its clips' rows of the one mask draw the single process makes
    beats_module.padded_token_mask = rows_of_global_draw(padded_token_mask)
    return BEATs(patch=(4, 16), num_mel_bins=32, codebook_size=16, code_dim=8, depth=1).double()


def _batch() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(6)
    fbank = torch.randn(4, 16, 32, generator=gen, dtype=torch.float64) * 0.5
    padding = torch.zeros(4, 16, dtype=torch.bool)
    padding[0, 12:] = True  # rank 0: 3 + 4 patches; rank 1: 1 + 4 patches
    padding[2, 4:] = True
    return {"fbank": fbank, "padding_mask": padding}


def test_beats_step_on_two_processes_equals_one(monkeypatch) -> None:
    # the factory swaps BEATs' mask sampler in this process too: restore it afterwards
    monkeypatch.setattr(beats_module, "padded_token_mask", padded_token_mask)
    result = check_step_equivalence(StepCase("beats", _method, _batch))
    assert result.loss_error < 1e-10
    assert result.param_error < 1e-10
    assert result.rank_spread < 1e-12


def test_the_audio_transformer_block_is_an_fsdp_unit() -> None:
    from selfsup.experiment.fsdp import block_types
    from selfsup_audio.encoders.blocks import TransformerBlock

    assert TransformerBlock in block_types()
