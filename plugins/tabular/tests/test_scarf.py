"""SCARF: the corruption's distribution and the loss wiring."""

from __future__ import annotations

import pytest
import torch

from selfsup.losses import info_nce
from selfsup_tabular.augment import scarf_corrupt, scarf_corrupt_columns
from selfsup_tabular.encoders import TabularMLP
from selfsup_tabular.methods import SCARF


def _rows(b: int = 8, f: int = 10) -> torch.Tensor:
    # Row i, column j holds 100 i + j: every value names its row and column.
    return (100 * torch.arange(b)[:, None] + torch.arange(f)[None, :]).float()


def test_exactly_int_rate_times_f_features_change_per_row() -> None:
    x = _rows()
    torch.manual_seed(0)
    out = scarf_corrupt(x, 0.6)
    assert ((out != x).sum(1) == 6).all()


def test_replacements_come_from_the_same_column_of_other_rows() -> None:
    x = _rows()
    torch.manual_seed(1)
    out = scarf_corrupt(x, 0.6)
    col = out.long() % 100
    row = out.long() // 100
    assert torch.equal(col, torch.arange(10).expand(8, 10))  # same feature column
    changed = out != x
    assert bool((row[changed] != torch.arange(8)[:, None].expand(8, 10)[changed]).all())


def test_corrupted_positions_and_donors_are_spread_uniformly() -> None:
    x = _rows(b=4, f=5)
    counts = torch.zeros(5)
    donors = torch.zeros(4)
    torch.manual_seed(2)
    for _ in range(400):
        out = scarf_corrupt(x, 0.4)
        counts += (out != x).sum(0)
        donors += torch.bincount((out[0][out[0] != x[0]] // 100).long(), minlength=4)
    assert torch.allclose(counts / counts.sum(), torch.full((5,), 0.2), atol=0.03)
    assert donors[0] == 0
    assert torch.allclose(donors[1:] / donors.sum(), torch.full((3,), 1 / 3), atol=0.05)


def test_rate_zero_is_identity_and_input_is_untouched() -> None:
    x = _rows()
    copy = x.clone()
    assert torch.equal(scarf_corrupt(x, 0.0), x)
    scarf_corrupt(x, 1.0)
    assert torch.equal(x, copy)


@pytest.mark.parametrize(
    ("x", "rate"), [(torch.ones(1, 3), 0.5), (torch.ones(4), 0.5), (torch.ones(3, 3), 1.5)]
)
def test_bad_corruption_inputs_raise(x: torch.Tensor, rate: float) -> None:
    with pytest.raises(ValueError):
        scarf_corrupt(x, rate)


def test_loss_is_core_info_nce_between_anchor_and_corrupted_view() -> None:
    method = SCARF(num_features=10, hidden_dim=8, temperature=0.7)
    x = torch.randn(6, 10)
    torch.manual_seed(5)
    loss = method.training_losses(x)["loss"]
    torch.manual_seed(5)
    corrupted = scarf_corrupt(x, 0.6)
    z, z_tilde = method.head(method.encoder(x)), method.head(method.encoder(corrupted))
    torch.testing.assert_close(loss, info_nce(z, z_tilde, 0.7))


def test_encoder_and_head_follow_the_paper() -> None:
    method = SCARF(num_features=7)
    enc = [m for m in method.encoder.net if isinstance(m, torch.nn.Linear)]
    head = [m for m in method.head.net if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in enc] == [(7, 256)] + [(256, 256)] * 3
    assert len(head) == 2
    assert TabularMLP(3, 4, out_dim=2, num_layers=1)(torch.ones(5, 3)).shape == (5, 2)


def test_pool_donors_come_from_the_pool_same_column() -> None:
    x = _rows(b=4, f=6)
    pool = 1000 + _rows(b=50, f=6)
    torch.manual_seed(3)
    out = scarf_corrupt(x, 0.5, pool=pool)
    changed = out != x
    assert (changed.sum(1) == 3).all()
    assert (out[changed] >= 1000).all()  # from the pool
    assert torch.equal(out.long() % 100, torch.arange(6).expand(4, 6))  # same column
    with pytest.raises(ValueError, match="pool"):
        scarf_corrupt(x, 0.5, pool=pool[:, :3])


def test_table_corruption_is_columnwise_and_keeps_value_and_missing_flag_together() -> None:
    b = 8
    batch = {
        "x_num": (100 * torch.arange(b)[:, None] + torch.arange(3)).float(),
        "num_missing": (torch.arange(b)[:, None] % 2 == 0).expand(b, 3).clone(),
        "x_cat": (torch.arange(b)[:, None] * 10 + torch.arange(2)).long(),
    }
    torch.manual_seed(4)
    out = scarf_corrupt_columns(batch, 0.6)  # int(0.6 * 5) = 3 columns per row
    num_changed = out["x_num"] != batch["x_num"]
    cat_changed = out["x_cat"] != batch["x_cat"]
    assert ((num_changed.sum(1) + cat_changed.sum(1)) == 3).all()
    donor = out["x_num"].long() // 100
    assert torch.equal(out["num_missing"], donor % 2 == 0)  # flag travels with its value
    assert torch.equal(out["x_cat"] % 10, torch.arange(2).expand(b, 2))  # same column
    assert torch.equal(batch["x_num"], (100 * torch.arange(b)[:, None] + torch.arange(3)).float())
