"""Defaults and formulas pinned against the reference implementations (float64 re-implementations).

Sources (see the plugin README's "Defaults against the references" table):
``wgcban/mix-bt`` ``main.py`` / ``scripts-pretrain-resnet18/cifar10.sh`` / ``model.py`` (Mixed
Barlow Twins), ``facebookresearch/luckmatters`` ``ssl/real-dataset`` (DirectPred: ``README.md``
command, ``byol_trainer.py`` ``Accumulator`` / ``compute_w_corr`` / the training loop), and the
papers' CIFAR settings for SimCLR, BYOL, Barlow Twins and VICReg.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
import yaml

from selfsup.losses import mixed_barlow_regularizer
from selfsup.plugins.configs import find_config
from selfsup_vision.augment import PRESETS
from selfsup_vision.encoders import SmallConvNet
from selfsup_vision.methods import BYOL, BarlowTwins, DirectPredictor, SimCLR, VICReg


def _defaults(cls: type) -> dict[str, object]:
    return {
        k: v.default
        for k, v in inspect.signature(cls.__init__).parameters.items()
        if v.default is not inspect.Parameter.empty
    }


def _method_args(config: str) -> dict[str, object]:
    cfg = yaml.safe_load(find_config(f"vision:{config}").read_text())
    return cfg["model"]["tasks"][0]["init_args"]["method"]["init_args"]


# -- Mixed Barlow Twins -------------------------------------------------------------------------
def _mix_bt_main(z1, z2, zm, perm, alpha, lmbda, scale):  # type: ignore[no-untyped-def]
    """mix-bt main.py's regulariser, written out in float64 NumPy (batch-matrix form)."""
    a, b, m = (np.asarray(z, dtype=np.float64) for z in (z1, z2, zm))
    n = a.shape[0]

    def norm(x):  # type: ignore[no-untyped-def]
        return (x - x.mean(0)) / x.std(0, ddof=1)

    a, b, m = norm(a), norm(b), norm(m)
    bp = b[np.asarray(perm)]
    cc_m_1 = m.T @ a / n
    cc_m_1_gt = alpha * (a.T @ a) / n + (1 - alpha) * (bp.T @ a) / n
    cc_m_2 = m.T @ b / n
    cc_m_2_gt = alpha * (a.T @ b) / n + (1 - alpha) * (bp.T @ b) / n
    return scale * lmbda * (((cc_m_1 - cc_m_1_gt) ** 2).sum() + ((cc_m_2 - cc_m_2_gt) ** 2).sum())


def test_mixed_barlow_weight_is_scale_times_lambda_without_a_half() -> None:
    g = torch.Generator().manual_seed(0)
    z1, z2, zm = (torch.randn(16, 8, generator=g, dtype=torch.float64) for _ in range(3))
    perm = torch.randperm(16, generator=g)
    got = mixed_barlow_regularizer(z1, z2, zm, perm, 0.37, lambda_offdiag=1 / 128, scale=4.0)
    want = _mix_bt_main(z1, z2, zm, perm, 0.37, 1 / 128, 4.0)
    assert got.item() == pytest.approx(want, rel=1e-12)
    # mix-bt's ImageNet script weights lambda_mixup * 0.5 * lambda: scale = lambda_mixup / 2.
    imagenet = 0.5 * (1 / 128) * _mix_bt_main(z1, z2, zm, perm, 0.37, 1.0, 1.0)
    got_in = mixed_barlow_regularizer(z1, z2, zm, perm, 0.37, lambda_offdiag=1 / 128, scale=0.5)
    assert got_in.item() == pytest.approx(imagenet, rel=1e-12)


def test_mixed_barlow_defaults_and_config() -> None:
    d = _defaults(BarlowTwins)
    assert d["mix_scale"] == 4.0  # mixup_loss_scale of the CIFAR-10/100 and TinyImageNet scripts
    assert d["mix_beta"] == 1.0  # np.random.beta(1.0, 1.0)
    assert d["lambda_offdiag"] == 0.0051  # Barlow Twins paper
    args = _method_args("mixed_barlow_cifar10.yaml")
    # mix-bt README / cifar10.sh: d = 1024, lambda_BT = 0.0078125 (= 1/128, not 1/d), s = 4.
    assert args["projection_dim"] == 1024
    assert args["lambda_offdiag"] == 0.0078125 == 1 / 128
    assert args["mix_scale"] == 4.0 and args["mix_beta"] == 1.0 and args["mixup"] is True
    # model.py: Linear(512, 512, bias=False)-BN-ReLU-Linear(512, feature_dim).
    assert args["hidden_dim"] == 512 and args["projector_layers"] == 2
    # utils.CifarPairTransform: crop, flip, jitter (0.4, 0.4, 0.4, 0.1) p 0.8, gray 0.2.
    assert args["views"] == "simclr-cifar"
    v = PRESETS["simclr-cifar"][0]
    assert (v.brightness, v.contrast, v.saturation, v.hue) == pytest.approx((0.4, 0.4, 0.4, 0.1))
    assert (v.jitter_prob, v.grayscale_prob, v.blur_prob, v.solarize_prob) == (0.8, 0.2, 0.0, 0.0)


def test_barlow_projector_layers() -> None:
    enc = SmallConvNet(width=4, out_dim=8)
    two = BarlowTwins(enc, hidden_dim=16, projection_dim=12, projector_layers=2)
    linears = [m for m in two.projector if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(8, 16), (16, 12)]
    three = BarlowTwins(SmallConvNet(width=4, out_dim=8), hidden_dim=16, projection_dim=12)
    assert sum(isinstance(m, torch.nn.Linear) for m in three.projector) == 3
    with pytest.raises(ValueError, match="projector_layers"):
        BarlowTwins(SmallConvNet(width=4, out_dim=8), projector_layers=1)


# -- DirectPred ---------------------------------------------------------------------------------
def _luckmatters_weights(batches, rho, eps, freq, dim):  # type: ignore[no-untyped-def]
    """The predictor weight each iteration uses, as luckmatters' training loop (float64 NumPy).

    ``Accumulator(dyn_lambda=rho)``: the first batch initialises the correlation, later ones are
    folded in with ``rho``; ``regulate_predictor`` runs after the optimiser step when
    ``niter % freq == 0`` (``compute_w_corr``, ``boost_scale``, ``dyn_convert = 2``, ``dyn_eps``
    outside the power, then ``clamp(1e-4)``). The initial weight is taken as the identity.
    """
    w, cum, used = np.eye(dim), None, []
    for niter, z in enumerate(batches):
        z = np.asarray(z, dtype=np.float64)
        used.append(w)
        d = np.mean([np.outer(row, row) for row in z], axis=0)
        cum = d if cum is None else rho * cum + (1 - rho) * d
        if niter % freq == 0:
            s, q = np.linalg.eigh(cum)
            ev = np.clip(s, 0, None) / s.max()
            ev = np.clip(ev ** (1 / 2) + eps, 1e-4, None)
            w = q @ np.diag(ev) @ q.T
    return used


@pytest.mark.parametrize("freq", [1, 3])
def test_directpred_weight_sequence_matches_luckmatters(freq: int) -> None:
    g = torch.Generator().manual_seed(4)
    batches = [torch.randn(10, 4, generator=g, dtype=torch.float64) for _ in range(7)]
    want = _luckmatters_weights(batches, rho=0.3, eps=0.01, freq=freq, dim=4)
    pred = DirectPredictor(4, rho=0.3, eps=0.01, freq=freq, trainable=False).double()
    for t, z in enumerate(batches):
        pred.observe(z)  # called before the step's predictions
        np.testing.assert_allclose(pred.weight.numpy(), want[t], rtol=1e-10, atol=1e-12)
    # First batch initialises F (no (1 - rho) shrink towards 0).
    first = DirectPredictor(4, rho=0.3).double()
    first.observe(batches[0])
    torch.testing.assert_close(first.corr, batches[0].T @ batches[0] / 10)


def test_directpred_defaults_and_config() -> None:
    d = _defaults(DirectPredictor)
    assert (d["rho"], d["eps"], d["freq"], d["trainable"]) == (0.3, 0.01, 1, True)
    b = _defaults(BYOL)
    assert (b["directpred_rho"], b["directpred_eps"], b["directpred_freq"]) == (0.3, 0.01, 1)
    assert b["directpred_trainable"] is True
    args = _method_args("directpred_cifar10.yaml")
    assert args["predictor"] == "directpred"
    assert (args["directpred_rho"], args["directpred_eps"], args["directpred_freq"]) == (
        0.3,
        0.01,
        1,
    )
    # byol_config.yaml: projector 512 -> 128, m = 0.996 (constant).
    assert (args["hidden_dim"], args["projection_dim"], args["momentum"]) == (512, 128, 0.996)


def test_directpred_trainable_weight_is_trained_between_refreshes() -> None:
    pred = DirectPredictor(3, freq=2)
    assert isinstance(pred.weight, torch.nn.Parameter)
    z = torch.randn(5, 3)
    pred.observe(z)  # t = 0: no refresh yet (identity)
    pred(z).sum().backward()
    assert pred.weight.grad is not None
    with torch.no_grad():
        pred.weight.add_(1.0)  # an optimiser step
    pred.observe(z)  # t = 1: refreshed from F
    refreshed = pred.weight.detach().clone()
    with torch.no_grad():
        pred.weight.sub_(0.5)  # an optimiser step
    pred.observe(z)  # t = 2: no refresh, the trained value stays
    torch.testing.assert_close(pred.weight.detach(), refreshed - 0.5)
    frozen = DirectPredictor(3, trainable=False)
    assert not any(p.requires_grad for p in frozen.parameters())
    assert "weight" in dict(frozen.named_buffers())


# -- SimCLR / BYOL / Barlow Twins / VICReg CIFAR defaults --------------------------------------
def test_joint_embedding_cifar_defaults() -> None:
    s = _defaults(SimCLR)
    # google-research/simclr CIFAR-10: temperature 0.5, colour-jitter strength 0.5, no blur.
    assert (s["temperature"], s["jitter_strength"], s["jitter_prob"], s["grayscale_prob"]) == (
        0.5,
        0.5,
        0.8,
        0.2,
    )
    assert s["crop_scale_min"] == 0.08 and s["dclw_sigma"] == 0.5  # DCLW sigma (lightly)
    b = _defaults(BYOL)
    assert (b["hidden_dim"], b["projection_dim"], b["momentum"]) == (4096, 256, "cosine:0.99:1.0")
    assert _defaults(BarlowTwins)["lambda_offdiag"] == 0.0051
    v = _defaults(VICReg)
    assert (v["sim_coeff"], v["std_coeff"], v["cov_coeff"]) == (25.0, 25.0, 1.0)
    assert _method_args("dcl_cifar10.yaml")["temperature"] == 0.1  # lightly DCLLoss default
    assert _method_args("simclr_cifar10.yaml")["temperature"] == 0.5
