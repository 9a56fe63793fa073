"""SimCLR for images: augmentation properties and the loss wiring."""

from __future__ import annotations

import pytest
import torch

from selfsup.checks import MalformedBatchError
from selfsup.losses import nt_xent, supcon
from selfsup_vision.augment import SimCLRAugment
from selfsup_vision.encoders import ResNet18Encoder, SmallConvNet
from selfsup_vision.methods import SimCLR

NO_COLOR = {"jitter_prob": 0.0, "grayscale_prob": 0.0}
FULL_CROP = {"crop_scale_min": 1.0, "crop_ratio_min": 1.0, "crop_ratio_max": 1.0}


def _images(b: int = 4, c: int = 3, h: int = 8, w: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, c, h, w, generator=torch.Generator().manual_seed(seed))


def test_identity_settings_return_the_input() -> None:
    x = _images()
    out = SimCLRAugment(flip_prob=0.0, **FULL_CROP, **NO_COLOR)(x)
    torch.testing.assert_close(out, x, atol=1e-5, rtol=0)


def test_flip_mirrors_the_width_axis() -> None:
    x = _images()
    out = SimCLRAugment(flip_prob=1.0, **FULL_CROP, **NO_COLOR)(x)
    torch.testing.assert_close(out, x.flip(-1), atol=1e-5, rtol=0)


def test_crop_of_a_quarter_area_zooms_by_two() -> None:
    # A horizontal ramp; a square crop of 1/4 of the area is half as wide, so the
    # resampled ramp rises half as fast per output pixel (bilinear is exact on linear data).
    w = 16
    ramp = torch.arange(w, dtype=torch.float32).div(w).expand(3, 2, 16, w).transpose(0, 1)
    aug = SimCLRAugment(
        crop_scale_min=0.25,
        crop_scale_max=0.25,
        crop_ratio_min=1.0,
        crop_ratio_max=1.0,
        flip_prob=0.0,
        **NO_COLOR,
    )
    torch.manual_seed(0)
    out = aug(ramp.contiguous())
    steps = out[..., 1:] - out[..., :-1]
    torch.testing.assert_close(steps, torch.full_like(steps, 0.5 / w), atol=1e-5, rtol=0)


def test_views_are_valid_images_and_differ() -> None:
    x = _images(b=8, h=16, w=12)
    aug = SimCLRAugment(jitter_prob=1.0, grayscale_prob=0.5)
    torch.manual_seed(0)
    v1, v2 = aug(x), aug(x)
    assert v1.shape == x.shape
    assert v1.min() >= 0 and v1.max() <= 1
    assert not torch.allclose(v1, v2)


def test_grayscale_makes_channels_equal() -> None:
    out = SimCLRAugment(jitter_prob=0.0, grayscale_prob=1.0, **FULL_CROP)(_images())
    torch.testing.assert_close(out[:, 0], out[:, 1])
    torch.testing.assert_close(out[:, 1], out[:, 2])


def test_hue_rotation_keeps_luma() -> None:
    # Desaturated colours never hit the [0, 1] clamp, so a hue rotation keeps luma exactly.
    x = 0.45 + 0.1 * _images()
    aug = SimCLRAugment(
        flip_prob=0.0,
        jitter_prob=1.0,
        brightness=0.0,
        contrast=0.0,
        saturation=0.0,
        hue=0.5,
        grayscale_prob=0.0,
        **FULL_CROP,
    )
    torch.manual_seed(0)
    out = aug(x)
    luma = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    torch.testing.assert_close((out * luma).sum(1), (x * luma).sum(1), atol=1e-4, rtol=0)
    assert not torch.allclose(out, x, atol=1e-3)


def test_brightness_scales_pixels() -> None:
    x = 0.5 * _images()
    aug = SimCLRAugment(
        flip_prob=0.0,
        jitter_prob=1.0,
        brightness=0.5,
        contrast=0.0,
        saturation=0.0,
        hue=0.0,
        grayscale_prob=0.0,
        **FULL_CROP,
    )
    torch.manual_seed(0)
    ratio = aug(x) / x
    per_image = ratio.flatten(1)
    torch.testing.assert_close(per_image, per_image[:, :1].expand_as(per_image), atol=1e-4, rtol=0)
    assert ((per_image >= 0.5 - 1e-4) & (per_image <= 1.5 + 1e-4)).all()


def test_single_channel_images_are_supported() -> None:
    out = SimCLRAugment(jitter_prob=1.0, grayscale_prob=1.0)(_images(c=1))
    assert out.shape == (4, 1, 8, 8)


@pytest.mark.parametrize(
    "kwargs", [{"crop_scale_min": 0.0}, {"flip_prob": 1.5}, {"hue": 0.7}, {"brightness": -1.0}]
)
def test_bad_augment_arguments_raise(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        SimCLRAugment(**kwargs)


def test_loss_is_core_nt_xent_on_the_projections() -> None:
    method = SimCLR(width=4, feature_dim=8, hidden_dim=16, projection_dim=8, temperature=0.3)
    x = _images()
    torch.manual_seed(3)
    loss = method.training_losses((x, None))["loss"]
    torch.manual_seed(3)
    z1, z2 = method.projector(method.encoder(method.augment(x.repeat(2, 1, 1, 1)))).chunk(2)
    torch.testing.assert_close(loss, nt_xent(z1, z2, 0.3))


def test_projection_head_is_a_two_layer_mlp() -> None:
    method = SimCLR(width=4, feature_dim=8, hidden_dim=16, projection_dim=6)
    linears = [m for m in method.projector if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(8, 16), (16, 6)]


def test_embed_gives_encoder_features() -> None:
    method = SimCLR(width=4, feature_dim=8).eval()
    x = _images(b=3)
    with torch.no_grad():
        torch.testing.assert_close(method.embed(x), method.encoder(x))
        assert method.embed((x, torch.zeros(3))).shape == (3, 8)


def test_encoders_report_out_dim() -> None:
    assert SmallConvNet(in_channels=1, width=4, out_dim=5)(_images(c=1)).shape == (4, 5)
    net = ResNet18Encoder(in_channels=1, cifar_stem=False)
    assert net.out_dim == 512
    assert net(_images(b=2, c=1, h=32, w=32)).shape == (2, 512)


def test_unknown_backbone_raises() -> None:
    with pytest.raises(ValueError, match="backbone"):
        SimCLR(backbone="vit")  # type: ignore[arg-type]


def _projections(method: SimCLR, views: list[torch.Tensor]) -> list[torch.Tensor]:
    return [method.projector(method.encoder(v)) for v in views]


def test_dcl_variants_use_the_core_decoupled_loss() -> None:
    from selfsup.losses import dcl

    x1, x2 = _images(seed=1), _images(seed=2)
    for loss, weight_fn in (("dcl", None), ("dclw", "vmf")):
        method = SimCLR(
            width=4, feature_dim=8, hidden_dim=16, projection_dim=8, loss=loss, temperature=0.2
        ).eval()
        got = method.training_losses({"views": [x1, x2]})["loss"]
        z1, z2 = _projections(method, [x1, x2])
        torch.testing.assert_close(got, dcl(z1, z2, 0.2, weight_fn=weight_fn))


def test_matryoshka_switch_sums_the_loss_over_prefixes() -> None:
    method = SimCLR(
        width=4, feature_dim=8, hidden_dim=16, projection_dim=8, matryoshka_dims=[2, 4, 8]
    ).eval()
    x1, x2 = _images(seed=1), _images(seed=2)
    got = method.training_losses({"views": [x1, x2]})["loss"]
    z1, z2 = _projections(method, [x1, x2])
    want = sum(nt_xent(z1[:, :d], z2[:, :d], 0.5) for d in (2, 4, 8))
    torch.testing.assert_close(got, want)
    with pytest.raises(ValueError, match="exceed the embedding size"):
        SimCLR(width=4, feature_dim=8, projection_dim=8, matryoshka_dims=[4, 16])


def test_multicrop_views_average_local_global_pairs() -> None:
    method = SimCLR(width=4, feature_dim=8, hidden_dim=16, projection_dim=8).eval()
    g1, g2, local = _images(seed=1), _images(seed=2), _images(h=4, w=4, seed=3)
    got = method.training_losses({"views": [g1, g2, local]})["loss"]
    z1, z2, zl = _projections(method, [g1, g2, local])
    want = (nt_xent(z1, z2, 0.5) + nt_xent(zl, z1, 0.5) + nt_xent(zl, z2, 0.5)) / 3
    torch.testing.assert_close(got, want)


def test_unknown_loss_raises() -> None:
    with pytest.raises(ValueError, match="loss must be one of"):
        SimCLR(loss="infonce")  # type: ignore[arg-type]


def test_supcon_uses_every_view_and_the_labels_and_refuses_unlabelled_images() -> None:
    torch.manual_seed(0)
    method = SimCLR(width=4, feature_dim=8, hidden_dim=16, projection_dim=8, loss="supcon")
    views = [torch.rand(4, 3, 8, 8) for _ in range(3)]
    labels = torch.tensor([0, 1, 0, 1])
    out = method.training_losses({"views": views, "labels": labels})
    zs = method.encode(views, method.projector)
    expected = supcon(*zs, labels=labels, temperature=method.temperature)
    torch.testing.assert_close(out["loss"], expected)
    with pytest.raises(MalformedBatchError, match="label -1"):
        method.training_losses((torch.rand(4, 3, 8, 8), torch.tensor([0, -1, 1, 1])))
    with pytest.raises(MalformedBatchError, match="class id per image"):
        method.training_losses(torch.rand(4, 3, 8, 8))
