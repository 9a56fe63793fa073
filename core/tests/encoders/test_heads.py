"""Projection / prediction heads: each paper's layout, shapes, and checkpoints of the old layout."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import selfsup.encoders as encoders
from selfsup.encoders import (
    BarlowTwinsProjectionHead,
    BYOLPredictionHead,
    BYOLProjectionHead,
    ProjectionHead,
    SimCLRProjectionHead,
    VICRegProjectionHead,
    mlp_blocks,
)
from selfsup.teachers import EMATeacher

# (type, in, out, bias) per Linear; (type, features, affine) per BatchNorm1d; ("ReLU",) per ReLU
Layer = tuple[object, ...]


def _layout(head: nn.Module) -> list[Layer]:
    out: list[Layer] = []
    for m in head.children():
        if isinstance(m, nn.Linear):
            out.append(("Linear", m.in_features, m.out_features, m.bias is not None))
        elif isinstance(m, nn.BatchNorm1d):
            out.append(("BN", m.num_features, m.affine))
        elif isinstance(m, nn.ReLU):
            assert m.inplace, "the heads always used in-place ReLUs"
            out.append(("ReLU",))
        else:
            raise AssertionError(f"unexpected layer {m!r}")
    return out


def _hidden(d_in: int, d_out: int) -> list[Layer]:
    """``Linear(no bias)-BN-ReLU``: a norm cancels the bias, so the Linear has none."""
    return [("Linear", d_in, d_out, False), ("BN", d_out, True), ("ReLU",)]


PAPER_LAYOUTS = {
    # SimCLR, arXiv 2002.05709: 2048 -> 2048 -> 128, BN on the hidden layer, no output BN
    "simclr": (
        SimCLRProjectionHead(),
        [*_hidden(2048, 2048), ("Linear", 2048, 128, True)],
    ),
    # BYOL, arXiv 2006.07733 (Sec. 3.3): 2048 -> 4096 -> 256 and the predictor 256 -> 4096 -> 256
    "byol_projection": (
        BYOLProjectionHead(),
        [*_hidden(2048, 4096), ("Linear", 4096, 256, True)],
    ),
    "byol_prediction": (
        BYOLPredictionHead(),
        [*_hidden(256, 4096), ("Linear", 4096, 256, True)],
    ),
    # Barlow Twins, arXiv 2103.03230: three Linears of 8192, BN + ReLU after the first two
    "barlow_twins": (
        BarlowTwinsProjectionHead(),
        [*_hidden(2048, 8192), *_hidden(8192, 8192), ("Linear", 8192, 8192, True)],
    ),
    # VICReg, arXiv 2105.04906: the same three-layer 8192 expander
    "vicreg": (
        VICRegProjectionHead(),
        [*_hidden(2048, 8192), *_hidden(8192, 8192), ("Linear", 8192, 8192, True)],
    ),
}


@pytest.mark.parametrize("name", list(PAPER_LAYOUTS))
def test_presets_follow_the_paper_layout_with_the_reference_sizes(name: str) -> None:
    head, want = PAPER_LAYOUTS[name]
    assert isinstance(head, ProjectionHead)
    assert _layout(head) == want


@pytest.mark.parametrize(
    ("head", "d_in", "d_out"),
    [
        (SimCLRProjectionHead(12, 16, 6), 12, 6),
        (SimCLRProjectionHead(12, 16, 6, num_layers=3, batch_norm=False), 12, 6),
        (BYOLProjectionHead(12, 16, 6), 12, 6),
        (BYOLPredictionHead(6, 16, 6), 6, 6),
        (BarlowTwinsProjectionHead(12, 16, 20, num_layers=2), 12, 20),
        (VICRegProjectionHead(12, 16, 20), 12, 20),
    ],
)
def test_shapes_in_train_and_eval_mode(head: nn.Module, d_in: int, d_out: int) -> None:
    x = torch.randn(5, d_in)
    assert head(x).shape == (5, d_out)
    assert head.eval()(x[:1]).shape == (1, d_out)


def test_num_layers_and_batch_norm_switches() -> None:
    assert _layout(SimCLRProjectionHead(8, 16, 4, batch_norm=False)) == [
        ("Linear", 8, 16, True),
        ("ReLU",),
        ("Linear", 16, 4, True),
    ]
    assert _layout(SimCLRProjectionHead(8, 16, 4, num_layers=3)) == [
        *_hidden(8, 16),
        *_hidden(16, 16),
        ("Linear", 16, 4, True),
    ]
    assert _layout(BarlowTwinsProjectionHead(8, 16, 4, num_layers=2)) == [
        *_hidden(8, 16),
        ("Linear", 16, 4, True),
    ]


def test_forward_is_the_written_out_mlp() -> None:
    torch.manual_seed(0)
    head = BYOLProjectionHead(6, 10, 3).eval()
    with torch.no_grad():
        head[1].running_mean.uniform_(-1, 1)
        head[1].running_var.uniform_(0.5, 2)
        head[1].weight.uniform_(0.5, 2)
        head[1].bias.uniform_(-1, 1)
    x = torch.randn(4, 6, dtype=torch.float64)
    w1, bn, w2, b2 = head[0].weight.double(), head[1], head[3].weight.double(), head[3].bias
    u = x @ w1.T
    u = (u - bn.running_mean.double()) / torch.sqrt(bn.running_var.double() + bn.eps)
    u = torch.relu(u * bn.weight.double() + bn.bias.double())
    want = u @ w2.T + b2.double()
    torch.testing.assert_close(head.double()(x), want)


def test_custom_blocks() -> None:
    head = ProjectionHead(
        [(8, 16, nn.LayerNorm(16), nn.GELU()), (16, 4, None, None), (4, 4, nn.BatchNorm1d(4), None)]
    )
    assert [type(m).__name__ for m in head] == [
        "Linear",
        "LayerNorm",
        "GELU",
        "Linear",
        "Linear",
        "BatchNorm1d",
    ]
    # only a BatchNorm cancels the bias; a LayerNorm (a mean across features) does not
    assert [m.bias is not None for m in head if isinstance(m, nn.Linear)] == [True, True, False]
    assert head(torch.randn(3, 8)).shape == (3, 4)


def test_mlp_blocks_activation_builds_one_module_per_hidden_layer() -> None:
    head = ProjectionHead(mlp_blocks([8, 16, 16, 4], batch_norm=False, activation=nn.PReLU))
    assert [type(m).__name__ for m in head] == [
        "Linear",
        "PReLU",
        "Linear",
        "PReLU",
        "Linear",
    ]
    assert head[1] is not head[3], "a learned activation must not be shared between layers"
    assert [m.bias is not None for m in head if isinstance(m, nn.Linear)] == [True, True, True]
    # the default stays the in-place ReLU
    assert [type(a).__name__ for *_, a in mlp_blocks([8, 16, 4], activation=None)] == [
        "ReLU",
        "NoneType",
    ]
    x = torch.randn(3, 8)
    a1, a2 = head[1], head[3]
    want = head[4](a2(head[2](a1(head[0](x)))))
    torch.testing.assert_close(head(x), want)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one block"):
        ProjectionHead([])
    with pytest.raises(ValueError, match="block 1 takes 5 features but block 0 gives 4"):
        ProjectionHead([(3, 4, None, None), (5, 2, None, None)])
    with pytest.raises(ValueError, match="at least an input and an output size"):
        mlp_blocks([8])
    with pytest.raises(ValueError, match=">= 1"):
        mlp_blocks([8, 0, 4])
    for bad in (1, 0, 2.5, True):
        with pytest.raises(ValueError, match="num_layers must be an int >= 2"):
            VICRegProjectionHead(8, 16, 4, num_layers=bad)  # type: ignore[arg-type]


def test_exported_from_selfsup_encoders() -> None:
    for name in (
        "ProjectionHead",
        "HeadBlock",
        "mlp_blocks",
        "SimCLRProjectionHead",
        "BYOLProjectionHead",
        "BYOLPredictionHead",
        "BarlowTwinsProjectionHead",
        "VICRegProjectionHead",
    ):
        assert name in encoders.__all__ and hasattr(encoders, name)


# -- checkpoints saved before the heads moved to core -----------------------------------------
def _old_mlp(dims: list[int]) -> nn.Sequential:
    """The hand-written head the vision methods built until now (``joint_embedding.mlp``)."""
    layers: list[nn.Module] = []
    for i in range(len(dims) - 2):
        layers += [nn.Linear(dims[i], dims[i + 1], bias=False), nn.BatchNorm1d(dims[i + 1])]
        layers.append(nn.ReLU(inplace=True))
    layers.append(nn.Linear(dims[-2], dims[-1], bias=True))
    return nn.Sequential(*layers)


#: ``state_dict`` keys of one ``Linear-BN-ReLU-Linear`` head as checkpoints hold them today.
OLD_HEAD_KEYS = [
    "0.weight",
    "1.weight",
    "1.bias",
    "1.running_mean",
    "1.running_var",
    "1.num_batches_tracked",
    "3.weight",
    "3.bias",
]


def _trained(module: nn.Module, d_in: int) -> nn.Module:
    """A few train-mode passes so the BatchNorm buffers hold something to carry over."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.1 * torch.randn_like(p))
        for _ in range(3):
            module.train()(torch.randn(8, d_in))
    return module.eval()


def _assert_loads(
    old: nn.Module, new: nn.Module, keys: list[str], d_in: int, head: str = ""
) -> None:
    """``old``'s state (key names ``keys``) loads strictly into ``new``; the heads then agree."""
    state = old.state_dict()
    assert list(state) == keys  # the names a checkpoint written today holds
    assert list(new.state_dict()) == keys  # the new heads keep them
    new.load_state_dict(state, strict=True)
    old_head, new_head = (old.get_submodule(head), new.get_submodule(head)) if head else (old, new)
    x = torch.randn(5, d_in)
    with torch.no_grad():
        torch.testing.assert_close(new_head.eval()(x), old_head.eval()(x), rtol=0, atol=0)


def test_a_simclr_projector_saved_today_loads() -> None:
    keys = [f"projector.{k}" for k in OLD_HEAD_KEYS]
    old = nn.Module()
    old.projector = _trained(_old_mlp([12, 16, 6]), 12)
    new = nn.Module()
    new.projector = SimCLRProjectionHead(12, 16, 6)
    _assert_loads(old, new, keys, 12, head="projector")


def test_a_byol_projector_predictor_and_target_saved_today_load() -> None:
    keys = [
        *(f"projector.{k}" for k in OLD_HEAD_KEYS),
        *(f"predictor.{k}" for k in OLD_HEAD_KEYS),
        "target_projector.last_step",
        *(f"target_projector.teacher.{k}" for k in OLD_HEAD_KEYS),
    ]

    def byol_heads(projector: nn.Module, predictor: nn.Module) -> nn.Module:
        module = nn.Module()
        module.projector, module.predictor = projector, predictor
        module.target_projector = EMATeacher(projector, 0.99)
        return module

    old = byol_heads(_trained(_old_mlp([12, 16, 6]), 12), _trained(_old_mlp([6, 16, 6]), 6))
    new = byol_heads(BYOLProjectionHead(12, 16, 6), BYOLPredictionHead(6, 16, 6))
    _assert_loads(old.projector, new.projector, OLD_HEAD_KEYS, 12)
    _assert_loads(old.predictor, new.predictor, OLD_HEAD_KEYS, 6)
    state = old.state_dict()
    assert list(state) == keys and list(new.state_dict()) == keys
    new.load_state_dict(state, strict=True)
    x = torch.randn(5, 12)
    with torch.no_grad():
        torch.testing.assert_close(
            new.eval().target_projector(x), old.eval().target_projector(x), rtol=0, atol=0
        )


def test_the_demo_head_without_batch_norm_keeps_its_keys() -> None:
    """``selfsup.demo.VectorSimCLR`` / the plugin template: ``Linear-ReLU-Linear``."""
    old = nn.Sequential(nn.Linear(8, 16), nn.ReLU(inplace=True), nn.Linear(16, 4))
    new = SimCLRProjectionHead(8, 16, 4, batch_norm=False)
    _assert_loads(old, new, ["0.weight", "0.bias", "2.weight", "2.bias"], 8)


def test_same_seed_same_weights_as_the_old_heads() -> None:
    """The Linears are created in the same order, so seeded runs draw the same weights."""
    torch.manual_seed(7)
    old = _old_mlp([12, 16, 16, 6])
    torch.manual_seed(7)
    new = VICRegProjectionHead(12, 16, 6)
    for (k_old, v_old), (k_new, v_new) in zip(
        old.state_dict().items(), new.state_dict().items(), strict=True
    ):
        assert k_old == k_new and torch.equal(v_old, v_new)


def test_a_hand_written_head_with_a_bias_before_batch_norm_loads_exactly() -> None:
    torch.manual_seed(0)
    old = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3)).double()
    nn.init.normal_(old[0].bias)
    old.train()
    for _ in range(3):  # move the running statistics away from their initial values
        old(torch.randn(16, 6, dtype=torch.float64))
    head = ProjectionHead(mlp_blocks([6, 8, 3])).double()
    head.load_state_dict(old.state_dict(), strict=True)
    x = torch.randn(10, 6, dtype=torch.float64)
    for mode in (False, True):
        old.train(mode)
        head.train(mode)
        torch.testing.assert_close(head(x), old(x), rtol=1e-12, atol=1e-12)
    # and further training keeps them equal (the running mean carries the bias along)
    torch.testing.assert_close(head[1].running_mean, old[1].running_mean - old[0].bias)
