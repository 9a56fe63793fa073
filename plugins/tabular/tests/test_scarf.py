"""SCARF: the corruption's distribution, the loss wiring, table mode and the exported encoder."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import torch

from selfsup.experiment.method import MalformedBatchError
from selfsup.losses import info_nce
from selfsup_tabular.augment import scarf_corrupt, scarf_corrupt_columns
from selfsup_tabular.data import TabularPreprocessor
from selfsup_tabular.encoders import TabularMLP
from selfsup_tabular.methods import SCARF, SCARFEncoder


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


def _frame(rows: int = 24, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "a": [f"{v:.3f}" for v in rng.normal(size=rows)],
            "b": rng.choice(["x", "y", "z", "?"], rows),
            "label": rng.choice(["yes", "no"], rows),
        }
    )


def test_table_mode_from_a_preprocessor_saves_it_and_exports_an_encoder_for_raw_rows(
    tmp_path,
) -> None:
    from selfsup.export import load_pretrained, read_pretrained_config, save_pretrained

    pre = TabularPreprocessor().fit(_frame(), target="label")
    method = SCARF(hidden_dim=8, encoder_layers=2).materialize(pre)
    assert (method.num_numerical, method.cardinalities) == (1, [3])
    buffer = io.BytesIO()
    torch.save(method.state_dict(), buffer)
    buffer.seek(0)
    fresh = SCARF(hidden_dim=8, encoder_layers=2)  # unmaterialised: the state brings the schema
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    new = _frame(5, seed=1).assign(b=["never seen", "x", None, "y", "z"])
    method.eval()
    fresh.eval()
    with torch.no_grad():
        expected = method.embed(new)
        torch.testing.assert_close(fresh.embed(new), expected)
        folder = save_pretrained(method.export_encoder(), tmp_path / "scarf")
        loaded = load_pretrained(folder)
        torch.testing.assert_close(loaded(new), expected)
    assert isinstance(loaded, SCARFEncoder) and not hasattr(loaded, "head")
    config = read_pretrained_config(folder)
    assert config["component"] == "tabular:scarf_encoder"
    assert sorted(config["init_args"]["preprocessing"]["categorical"][0]["vocab"]) == [
        "x",
        "y",
        "z",
    ]


def test_scarf_modes_are_exclusive_and_an_unbuilt_model_says_how_to_fix() -> None:
    with pytest.raises(ValueError, match="either num_features"):
        SCARF(num_features=3, num_numerical=2)
    with pytest.raises(RuntimeError, match="materialize"):
        SCARF().training_losses({"x_num": torch.randn(4, 2)})
    with pytest.raises(RuntimeError, match="materialize"):
        SCARF().export_encoder()
    with pytest.raises(ValueError, match="num_features .* or num_numerical"):
        SCARFEncoder()
    with pytest.raises(MalformedBatchError, match=r"shape \(B, 3\)"):
        SCARFEncoder(num_features=3, hidden_dim=4)(torch.zeros(2, 4))
