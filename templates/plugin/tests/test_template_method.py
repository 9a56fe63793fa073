"""Unit tests of the starting method: replace them with your method's properties."""

from __future__ import annotations

import torch
from selfsup_template.methods.template_method import TemplateMethod

from selfsup.losses import nt_xent


def test_views_add_noise_of_the_configured_scale() -> None:
    method = TemplateMethod(num_features=200, noise_std=0.5)
    x = torch.zeros(100, 200)
    torch.manual_seed(0)
    v1, v2 = method.views(x)
    assert abs(float(v1.std()) - 0.5) < 0.02
    assert not torch.equal(v1, v2)


def test_loss_is_core_nt_xent_on_the_projections() -> None:
    method = TemplateMethod(num_features=5, temperature=0.3)
    x = torch.randn(6, 5)
    torch.manual_seed(1)
    loss = method.training_losses(x)["loss"]
    torch.manual_seed(1)
    v1, v2 = method.views(x)
    z1, z2 = method.projector(method.encoder(v1)), method.projector(method.encoder(v2))
    torch.testing.assert_close(loss, nt_xent(z1, z2, 0.3))


def test_views_come_from_the_augment_module_and_batches_from_the_contract() -> None:
    import pytest
    from selfsup_template.batch import parse_template_batch

    from selfsup.checks import MalformedBatchError

    method = TemplateMethod(num_features=3)
    with pytest.raises(MalformedBatchError, match="at least 2 rows"):
        method.training_losses(torch.randn(1, 3))
    x = torch.randn(4, 3)
    assert parse_template_batch((x, torch.zeros(4)), 3, "M") is x
