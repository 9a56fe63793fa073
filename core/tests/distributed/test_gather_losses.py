"""Two gloo processes on CPU: gathered losses equal one process on the concatenated batch.

Criterion (see ``selfsup.testing.distributed``): mean of per-rank losses equals the
single-process loss, and each rank's input gradient equals ``W`` times the
single-process gradient of its rows, which DDP's averaging turns into the exact
full-batch gradient.
"""

from __future__ import annotations

import pytest
import torch

from selfsup.losses import barlow_twins, dcl, info_nce, nt_xent, supcon, vicreg
from selfsup.testing.distributed import GatherCase, check_gather_equivalence

pytestmark = pytest.mark.distributed

WORLD = 2
N, D = 8, 6  # global batch 8 -> 4 rows per rank


def _views(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    z1 = torch.randn(N, D, generator=gen, dtype=torch.float64)
    z2 = z1 + 0.5 * torch.randn(N, D, generator=gen, dtype=torch.float64)
    return z1, z2


def _cases() -> list[GatherCase]:
    z1, z2 = _views(0)
    log_q = torch.log(torch.linspace(0.05, 0.3, N, dtype=torch.float64))
    return [
        GatherCase("nt_xent", nt_xent, (z1, z2), {"temperature": 0.5}),
        GatherCase("nt_xent_chunked", nt_xent, (z1, z2), {"temperature": 0.5, "chunk_size": 3}),
        GatherCase("nt_xent_decoupled", nt_xent, (z1, z2), {"temperature": 0.3, "decoupled": True}),
        GatherCase("info_nce", info_nce, (z1, z2), {"temperature": 0.2}),
        GatherCase("info_nce_chunked", info_nce, (z1, z2), {"temperature": 0.2, "chunk_size": 3}),
        GatherCase(
            "info_nce_logq",
            info_nce,
            (z1, z2),
            {"temperature": 0.2},
            sharded_kwargs={"bias": -log_q},
        ),
        GatherCase("info_nce_dcl", info_nce, (z1, z2), {"temperature": 0.2, "decoupled": True}),
        GatherCase("dcl", dcl, (z1, z2), {"temperature": 0.1}),
        GatherCase("dclw", dcl, (z1, z2), {"temperature": 0.1, "weight_fn": "vmf"}),
        GatherCase("barlow_twins", barlow_twins, (z1, z2), {"lambda_offdiag": 0.0051}),
        GatherCase("vicreg", vicreg, (z1, z2), {}),
        GatherCase("supcon_unlabelled", supcon, (z1, z2), {"temperature": 0.3}),
        GatherCase(
            "supcon",
            supcon,
            (z1, z2, z1.flip(1)),
            {"temperature": 0.3},
            sharded_kwargs={"labels": torch.tensor([0, 1, 2, 0, 1, 1, 3, 2])},
        ),
        GatherCase(
            "supcon_chunked",
            supcon,
            (z1, z2),
            {"temperature": 0.3, "chunk_size": 3},
            sharded_kwargs={"labels": torch.tensor([0, 1, 2, 0, 1, 1, 3, 2])},
        ),
    ]


@pytest.fixture(scope="module")
def results():
    cases = _cases()
    return {r.name: r for r in check_gather_equivalence(cases, world_size=WORLD)}


@pytest.mark.parametrize("name", [c.name for c in _cases()])
def test_gathered_loss_matches_single_process(results, name):
    result = results[name]
    assert result.loss_error < 1e-10, f"{name}: loss differs by {result.loss_error:.3g}"
    assert result.grad_error < 1e-10, f"{name}: gradient differs by {result.grad_error:.3g}"


def _local_only_nt_xent(z1, z2, *, gather, temperature):
    # What lightly's default (gather_distributed=False) computes: local negatives only.
    return nt_xent(z1, z2, temperature=temperature, gather=False)


def test_checker_detects_local_only_negatives():
    """The criterion is not vacuous: a loss that ignores other ranks fails it."""
    z1, z2 = _views(1)
    (result,) = check_gather_equivalence(
        [GatherCase("local_only", _local_only_nt_xent, (z1, z2), {"temperature": 0.5})], WORLD
    )
    assert result.loss_error > 1e-3 or result.grad_error > 1e-3
