"""SwAV on images: the loss is SwAV's swapped prediction written out with core Sinkhorn codes,
the prototypes are unit vectors, and they stay frozen while the progress says so."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from selfsup.targets import sinkhorn_knopp
from selfsup_vision.encoders import SmallConvNet
from selfsup_vision.methods import SwAV


def _swav(**kwargs) -> SwAV:
    torch.manual_seed(0)
    args = {"hidden_dim": 16, "projection_dim": 8, "num_prototypes": 5, "local_crop_size": 4}
    return SwAV(SmallConvNet(width=4, out_dim=8), **{**args, **kwargs}).double()


def _views() -> dict:
    gen = torch.Generator().manual_seed(3)
    sizes = (8, 8, 4)
    return {"views": [torch.rand(6, 3, s, s, generator=gen, dtype=torch.float64) for s in sizes]}


def _ref_swav_loss(scores: list[torch.Tensor], tau: float) -> torch.Tensor:
    """The reference's swav_loss: for each assigned crop, the mean over the other crops of
    -mean_b sum_k q log softmax(s / tau); averaged over the assigned crops."""
    loss = 0.0
    for crop in (0, 1):
        q = sinkhorn_knopp(scores[crop].detach(), 0.05, 3)
        sub = 0.0
        for v in range(len(scores)):
            if v != crop:
                sub = sub - torch.mean(torch.sum(q * F.log_softmax(scores[v] / tau, dim=1), dim=1))
        loss = loss + sub / (len(scores) - 1)
    return loss / 2


def test_the_loss_is_swapped_prediction_of_sinkhorn_codes() -> None:
    method = _swav()
    batch = _views()
    out = method.training_losses(batch)
    weight = method.prototypes.weight
    torch.testing.assert_close(weight.norm(dim=1), torch.ones(5, dtype=torch.float64))
    scores = [
        F.linear(
            F.normalize(method.projector(method.encoder(torch.cat(batch["views"][:2]))), dim=1),
            weight,
        )[:6],
        F.linear(
            F.normalize(method.projector(method.encoder(torch.cat(batch["views"][:2]))), dim=1),
            weight,
        )[6:],
        F.linear(F.normalize(method.projector(method.encoder(batch["views"][2])), dim=1), weight),
    ]
    torch.testing.assert_close(out["loss"], _ref_swav_loss(scores, 0.1), rtol=0, atol=1e-12)


def test_prototypes_are_frozen_for_the_first_steps() -> None:
    method = _swav(freeze_prototypes_steps=1)
    assert method.unused_parameters_reason() is not None
    method.training_losses(_views())["loss"].backward()
    assert method.prototypes.weight.grad is None
    method.progress.advance(1, 10)
    method.training_losses(_views())["loss"].backward()
    assert method.prototypes.weight.grad is not None
