"""The methods' heads come from core (selfsup.encoders) with the layout and keys they always had."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from selfsup.encoders import (
    BarlowTwinsProjectionHead,
    BYOLPredictionHead,
    BYOLProjectionHead,
    SimCLRProjectionHead,
    VICRegProjectionHead,
)
from selfsup_vision.encoders import SmallConvNet
from selfsup_vision.methods import BYOL, BarlowTwins, SimCLR, VICReg

#: One ``Linear-BN-ReLU-Linear`` head's keys, as checkpoints written before the move hold them.
HEAD_KEYS = [
    "0.weight",
    "1.weight",
    "1.bias",
    "1.running_mean",
    "1.running_var",
    "1.num_batches_tracked",
    "3.weight",
    "3.bias",
]


def _enc() -> SmallConvNet:
    return SmallConvNet(width=4, out_dim=8)


def _head_keys(method: nn.Module) -> list[str]:
    return [k for k in method.state_dict() if not k.startswith(("encoder.", "target_encoder."))]


def _old_mlp(dims: list[int]) -> nn.Sequential:
    """What ``joint_embedding.mlp`` built before the heads moved to core."""
    layers: list[nn.Module] = []
    for i in range(len(dims) - 2):
        layers += [nn.Linear(dims[i], dims[i + 1], bias=False), nn.BatchNorm1d(dims[i + 1])]
        layers.append(nn.ReLU(inplace=True))
    layers.append(nn.Linear(dims[-2], dims[-1]))
    return nn.Sequential(*layers)


def test_simclr_and_byol_state_dict_keys_are_unchanged() -> None:
    simclr = SimCLR(width=4, feature_dim=8, hidden_dim=16, projection_dim=6)
    assert isinstance(simclr.projector, SimCLRProjectionHead)
    assert _head_keys(simclr) == [f"projector.{k}" for k in HEAD_KEYS]
    byol = BYOL(_enc(), hidden_dim=16, projection_dim=6)
    assert isinstance(byol.projector, BYOLProjectionHead)
    assert isinstance(byol.predictor, BYOLPredictionHead)
    assert _head_keys(byol) == [
        *(f"projector.{k}" for k in HEAD_KEYS),
        *(f"predictor.{k}" for k in HEAD_KEYS),
        "target_projector.last_step",
        *(f"target_projector.teacher.{k}" for k in HEAD_KEYS),
    ]


@pytest.mark.parametrize(
    ("make", "cls", "dims"),
    [
        (lambda: SimCLR(width=4, feature_dim=8, hidden_dim=16, projection_dim=6),
         SimCLRProjectionHead, [8, 16, 6]),
        (lambda: BYOL(_enc(), hidden_dim=16, projection_dim=6), BYOLProjectionHead, [8, 16, 6]),
        (lambda: BarlowTwins(_enc(), hidden_dim=16, projection_dim=12),
         BarlowTwinsProjectionHead, [8, 16, 16, 12]),
        (lambda: BarlowTwins(_enc(), hidden_dim=16, projection_dim=12, projector_layers=2),
         BarlowTwinsProjectionHead, [8, 16, 12]),
        (lambda: VICReg(_enc(), hidden_dim=16, projection_dim=12),
         VICRegProjectionHead, [8, 16, 16, 12]),
    ],
)  # fmt: skip
def test_projectors_are_the_old_mlp_layer_for_layer(
    make: Callable[[], nn.Module], cls: type[nn.Module], dims: list[int]
) -> None:
    torch.manual_seed(0)
    method = make()
    assert isinstance(method.projector, cls)
    old = _old_mlp(dims)
    assert [repr(m) for m in method.projector] == [repr(m) for m in old]
    method.projector.load_state_dict(old.state_dict(), strict=True)


def test_the_old_mlp_helper_warns_and_builds_the_same_head() -> None:
    from selfsup_vision.methods.joint_embedding import mlp

    with pytest.warns(
        DeprecationWarning, match=r"joint_embedding\.mlp is deprecated.*selfsup\.enc"
    ):
        head = mlp([8, 16, 6])
    assert [repr(m) for m in head] == [repr(m) for m in SimCLRProjectionHead(8, 16, 6)]
    assert list(head.state_dict()) == HEAD_KEYS
