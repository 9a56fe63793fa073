"""VIME: the pretext generator's distribution, the loss against a float64 reference written from
the paper (values and gradients), the method's wiring and table mode."""

from __future__ import annotations

import io
import math

import pytest
import torch

from selfsup.experiment.method import MalformedBatchError
from selfsup_tabular.augment import vime_corrupt, vime_corrupt_columns
from selfsup_tabular.data import TabularPreprocessor
from selfsup_tabular.methods import VIME, SCARFEncoder, vime_loss


def _rows(b: int = 8, f: int = 10) -> torch.Tensor:
    # Row i, column j holds 100 i + j: every value names its row and column.
    return (100 * torch.arange(b)[:, None] + torch.arange(f)[None, :]).float()


def test_entries_are_chosen_independently_with_probability_p_m() -> None:
    x = _rows(64, 50)
    torch.manual_seed(0)
    x_tilde, changed = vime_corrupt(x, 0.3)
    # distinct values per column and donors from other rows: chosen <=> changed
    rate = changed.float().mean().item()
    assert abs(rate - 0.3) < 0.02  # 3,200 draws: 0.02 is > 2.4 standard deviations
    per_row = changed.sum(1)
    assert per_row.min() < per_row.max()  # a Bernoulli draw per entry, not a fixed count
    assert torch.equal(changed, x_tilde != x)
    assert torch.equal(x_tilde.long() % 100, torch.arange(50).expand(64, 50))  # same column
    assert ((x_tilde.long() // 100) != torch.arange(64)[:, None])[changed].all()  # other rows


def test_changed_marks_only_entries_whose_value_changed() -> None:
    x = torch.tensor([[1.0, 5.0], [1.0, 6.0], [1.0, 7.0]])  # column 0 is constant
    torch.manual_seed(1)
    x_tilde, changed = vime_corrupt(x, 1.0)
    assert not changed[:, 0].any() and changed[:, 1].all()
    assert torch.equal(x_tilde[:, 0], x[:, 0])


def test_pool_donors_and_bad_inputs() -> None:
    x, pool = _rows(4, 6), _rows(3, 6) + 1000
    torch.manual_seed(2)
    x_tilde, changed = vime_corrupt(x, 0.5, pool=pool)
    assert (x_tilde[changed] >= 1000).all() and changed.any()
    with pytest.raises(ValueError, match="pool"):
        vime_corrupt(x, 0.5, pool=pool[:, :3])
    with pytest.raises(ValueError, match="mask_prob"):
        vime_corrupt(x, 1.5)
    with pytest.raises(ValueError, match="B >= 2"):
        vime_corrupt(x[:1], 0.5)


def test_table_corruption_moves_value_and_flag_together_and_counts_flag_changes() -> None:
    b = 40
    batch = {
        "x_num": torch.zeros(b, 2),  # every value alike: only a flag change is a change
        "num_missing": (torch.arange(b)[:, None] % 2 == 0).expand(b, 2).clone(),
        "x_cat": (torch.arange(b)[:, None] * 10 + torch.arange(3)).long(),
    }
    torch.manual_seed(3)
    out, changed = vime_corrupt_columns(batch, 0.5)
    assert changed.shape == (b, 5)
    assert torch.equal(changed[:, :2], out["num_missing"] != batch["num_missing"])
    assert torch.equal(changed[:, 2:], out["x_cat"] != batch["x_cat"])
    assert changed[:, :2].any() and changed[:, 2:].any()
    assert torch.equal(out["x_cat"] % 10, torch.arange(3).expand(b, 3))  # same column


def _reference_loss(mask_logits, changed, num_pred, num_target, num_valid, cat_logits, cat_y, a):
    """Eq. 4-5 of the VIME paper written out in float64, entry by entry."""
    b, f = mask_logits.shape
    l_m = 0.0
    for i in range(b):
        for j in range(f):
            p = 1.0 / (1.0 + torch.exp(-mask_logits[i, j]))
            m = float(changed[i, j])
            l_m = l_m - (m * torch.log(p) + (1 - m) * torch.log(1 - p))
    l_m = l_m / (b * f)
    l_r = 0.0
    for i in range(b):
        for j in range(num_pred.shape[1]):
            if num_valid[i, j]:
                l_r = l_r + (num_target[i, j] - num_pred[i, j]) ** 2
        for k, logits in enumerate(cat_logits):
            row = logits[i]
            l_r = l_r - (row[cat_y[i, k]] - torch.log(torch.exp(row).sum()))
    l_r = l_r / (b * f)
    return l_m + a * l_r


def test_loss_matches_the_paper_in_float64_values_and_gradients() -> None:
    g = torch.Generator().manual_seed(0)
    b, n_num, cards = 5, 3, [4, 6]
    f = n_num + len(cards)
    mask_logits = torch.randn(b, f, generator=g, dtype=torch.float64, requires_grad=True)
    changed = torch.rand(b, f, generator=g) < 0.4
    num_pred = torch.randn(b, n_num, generator=g, dtype=torch.float64, requires_grad=True)
    num_target = torch.randn(b, n_num, generator=g, dtype=torch.float64)
    num_valid = torch.rand(b, n_num, generator=g) > 0.3
    cat_logits = [
        torch.randn(b, c, generator=g, dtype=torch.float64, requires_grad=True) for c in cards
    ]
    cat_y = torch.stack([torch.randint(0, c, (b,), generator=g) for c in cards], 1)
    inputs = [mask_logits, num_pred, *cat_logits]

    out = vime_loss(mask_logits, changed, num_pred, num_target, num_valid, cat_logits, cat_y, 1.7)
    ref = _reference_loss(
        mask_logits, changed, num_pred, num_target, num_valid, cat_logits, cat_y, 1.7
    )
    torch.testing.assert_close(out["loss"], ref, rtol=1e-12, atol=1e-12)
    grads = torch.autograd.grad(out["loss"], inputs)
    ref_grads = torch.autograd.grad(ref, inputs)
    for got, want in zip(grads, ref_grads):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(
        out["loss"], out["mask_loss"] + 1.7 * out["reconstruction_loss"], rtol=1e-12, atol=0
    )
    # a missing value has nothing to reconstruct: its prediction gets no gradient
    assert (grads[1][~num_valid] == 0).all() and (grads[1][num_valid] != 0).all()


def test_loss_checks_that_every_column_is_reconstructed_once() -> None:
    with pytest.raises(ValueError, match="covers 2 features but the mask 3"):
        vime_loss(
            torch.zeros(4, 3),
            torch.zeros(4, 3, dtype=torch.bool),
            torch.zeros(4, 2),
            torch.zeros(4, 2),
        )
    with pytest.raises(ValueError, match="changed must have shape"):
        vime_loss(torch.zeros(4, 3), torch.zeros(4, 2, dtype=torch.bool))


def test_tensor_mode_loss_is_vime_loss_of_the_heads_on_the_corrupted_rows() -> None:
    torch.manual_seed(0)
    method = VIME(num_features=6, hidden_dim=16, mask_prob=0.4, alpha=3.0)
    x = torch.randn(10, 6)
    torch.manual_seed(5)
    out = method.training_losses(x)
    torch.manual_seed(5)
    x_tilde, changed = vime_corrupt(x, 0.4)
    h = method.encoder(x_tilde)
    want = vime_loss(method.mask_estimator(h), changed, method.feature_estimator(h), x, alpha=3.0)
    torch.testing.assert_close(out["loss"], want["loss"])
    # the plain-formula form of the reference code (BCE + alpha * MSE)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(
        method.mask_estimator(h), changed.float()
    )
    mse = (method.feature_estimator(h) - x).pow(2).mean()
    torch.testing.assert_close(out["loss"], bce + 3.0 * mse)


def test_table_mode_heads_cover_each_column_and_reconstruct_the_clean_row() -> None:
    torch.manual_seed(0)
    method = VIME(hidden_dim=16, num_numerical=2, cardinalities=[3, 5])
    assert method.mask_estimator.out_features == 4
    assert method.feature_estimator.out_features == 2
    assert [h.out_features for h in method.category_estimators] == [5, 7]  # + missing, unknown
    g = torch.Generator().manual_seed(1)
    batch = {
        "x_num": torch.randn(12, 2, generator=g),
        "num_missing": torch.rand(12, 2, generator=g) < 0.3,
        "x_cat": torch.stack([torch.randint(0, c + 2, (12,), generator=g) for c in (3, 5)], 1),
    }
    torch.manual_seed(7)
    out = method.training_losses(batch)
    torch.manual_seed(7)
    corrupted, changed = vime_corrupt_columns(batch, 0.3)
    h = method.encoder(method.input(corrupted))
    want = vime_loss(
        method.mask_estimator(h),
        changed,
        method.feature_estimator(h),
        batch["x_num"],
        ~batch["num_missing"],
        [head(h) for head in method.category_estimators],
        batch["x_cat"],
    )
    torch.testing.assert_close(out["loss"], want["loss"])
    out["loss"].backward()
    assert all(p.grad is not None for p in method.parameters())


def test_training_lowers_the_loss_and_checkpoint_brings_the_schema(tmp_path) -> None:
    import pandas as pd

    rng = torch.Generator().manual_seed(0)
    a = torch.randn(200, generator=rng)
    frame = pd.DataFrame(
        {
            "a": [f"{v:.3f}" for v in a.tolist()],
            "b": [f"{2 * v + 0.1:.3f}" for v in a.tolist()],  # b is a function of a
            "c": ["x" if v > 0 else "y" for v in a.tolist()],  # c too
        }
    )
    pre = TabularPreprocessor().fit(frame)
    data = pre.transform(frame)
    torch.manual_seed(0)
    method = VIME(hidden_dim=32).materialize(pre)
    method.set_marginals(data)
    opt = torch.optim.Adam(method.parameters(), lr=3e-3)
    losses = []
    for _ in range(150):
        out = method.training_losses(data)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(float(out["loss"].detach()))
    # correlated columns: corruptions are detectable and values recoverable from the others
    assert sum(losses[-10:]) / 10 < 0.6 * sum(losses[:10]) / 10
    buffer = io.BytesIO()
    torch.save(method.state_dict(), buffer)
    buffer.seek(0)
    fresh = VIME(hidden_dim=32)
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    method.eval()
    fresh.eval()
    with torch.no_grad():
        torch.testing.assert_close(fresh.embed(frame.head(5)), method.embed(frame.head(5)))
        encoder = method.export_encoder()
        torch.testing.assert_close(encoder(frame.head(5)), method.embed(frame.head(5)))
    assert isinstance(encoder, SCARFEncoder) and not hasattr(encoder, "mask_estimator")


def test_bad_settings_and_batches_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="mask_prob"):
        VIME(num_features=3, mask_prob=-0.1)
    with pytest.raises(ValueError, match="alpha"):
        VIME(num_features=3, alpha=-1.0)
    with pytest.raises(ValueError, match="either num_features"):
        VIME(num_features=3, num_numerical=2)
    with pytest.raises(MalformedBatchError, match="at least 2 rows"):
        VIME(num_features=3).training_losses(torch.randn(1, 3))
    with pytest.raises(RuntimeError, match="materialize"):
        VIME().training_losses(torch.randn(4, 3))
    assert math.isfinite(float(VIME(num_features=3).training_losses(torch.randn(4, 3))["loss"]))
