"""T-JEPA: [REG] never masked, targets outside the context, loss wiring, EMA, embed round trip."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from selfsup.experiment.method import MalformedBatchError
from selfsup_tabular.data import TabularPreprocessor
from selfsup_tabular.encoders import FeatureTokenizer
from selfsup_tabular.evaluation.downstream import FineTuneModel, RawMLP, fit_supervised, predict
from selfsup_tabular.methods import TJEPA
from selfsup_tabular.methods.tjepa import pool_tokens

SMALL = dict(
    d_token=8,
    num_heads=2,
    ffn_dim=16,
    encoder_layers=1,
    predictor_dim=8,
    predictor_layers=1,
    predictor_heads=2,
)


def _method(registers: int = 2, **kw: object) -> TJEPA:
    return TJEPA(num_numerical=4, cardinalities=[3, 2], num_registers=registers, **SMALL, **kw)


def _batch(rows: int = 16, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "x_num": torch.randn(rows, 4, generator=g),
        "num_missing": torch.rand(rows, 4, generator=g) < 0.1,
        "x_cat": torch.stack(
            [torch.randint(0, 5, (rows,), generator=g), torch.randint(0, 4, (rows,), generator=g)],
            dim=1,
        ),
    }


def _capture(method: TJEPA) -> list[tuple[torch.Tensor, ...]]:
    calls: list[tuple[torch.Tensor, ...]] = []

    def hook(module, args, output):
        calls.append((*(a.detach() for a in args), output.detach()))

    method.predictor.register_forward_hook(hook)
    return calls


def test_registers_always_in_context_never_targets_and_every_feature_reachable() -> None:
    method = _method(registers=2)
    calls = _capture(method)
    torch.manual_seed(0)
    for _ in range(12):
        method.training_losses(_batch(rows=8))
    ctx_seen, tgt_seen = set(), set()
    for _, ctx_pos, tgt_pos, _ in calls:
        rows = ctx_pos.shape[0]
        assert torch.equal(ctx_pos[:, :2], torch.arange(2).expand(rows, 2))
        assert (ctx_pos[:, 2:] >= 2).all() and (tgt_pos >= 2).all()  # [REG] never a target
        ctx = torch.zeros(rows, 8).scatter_(1, ctx_pos[:, 2:], 1.0)
        tgt = torch.zeros(rows, tgt_pos.shape[1], 8).scatter_(2, tgt_pos, 1.0)
        assert (ctx.unsqueeze(1) * tgt).sum() == 0  # targets outside the context
        ctx_seen |= set(ctx_pos[:, 2:].flatten().tolist())
        tgt_seen |= set(tgt_pos.flatten().tolist())
    # The last feature (position R + F - 1 = 7) is sampled: T-JEPA's off-by-one is fixed.
    assert ctx_seen == tgt_seen == set(range(2, 8))


def test_subset_sizes_follow_the_configured_ranges() -> None:
    method = _method(context_ratio=(0.5, 0.5), target_ratio=(0.34, 0.34), num_targets=3)
    calls = _capture(method)
    method.training_losses(_batch())
    _, ctx_pos, tgt_pos, _ = calls[0]
    # context: R + round(6 * 0.5); targets: 3 sets of round(6 * 0.34)
    assert ctx_pos.shape[1] == 2 + 3 and tgt_pos.shape[1:] == (3, 2)


@pytest.mark.parametrize("norm", ["none", "batch"])
def test_loss_is_mse_between_predictions_and_target_encoder_latents(norm: str) -> None:
    method = _method(target_norm=norm)
    calls = _capture(method)
    batch = _batch()
    torch.manual_seed(3)
    loss = method.training_losses(batch)["loss"]
    _, _, tgt_pos, pred = calls[0]
    full = method.target.teacher(batch).double()
    if norm == "batch":  # standardise each (token, channel) over the rows
        rows = full.shape[0]
        mean = full.sum(0) / rows
        std = ((full - mean).pow(2).sum(0) / (rows - 1)).sqrt()
        full = (full - mean) / (std + 1e-5)
    expected = 0.0
    b, t, n = tgt_pos.shape
    for i in range(b):
        for k in range(t):
            for j in range(n):
                expected += (pred[i, k, j].double() - full[i, tgt_pos[i, k, j]]).pow(2).sum()
    expected = expected / (b * t * n * full.shape[-1])
    torch.testing.assert_close(loss.double(), torch.as_tensor(expected), rtol=1e-5, atol=1e-6)


def test_target_encoder_is_an_ema_from_0996_to_1() -> None:
    method = _method()
    student = dict(method.encoder.named_parameters())
    before = {k: v.detach().clone() for k, v in method.target.teacher.named_parameters()}
    with torch.no_grad():
        for p in student.values():
            p.add_(1.0)
    m = method.update_teacher(1, 10)
    assert m == pytest.approx(0.996 + 0.004 / 10)
    for name, p in method.target.teacher.named_parameters():
        expected = m * before[name] + (1 - m) * student[name].detach()
        torch.testing.assert_close(p, expected)
    assert method.update_teacher(10, 10) == 1.0
    assert all(not p.requires_grad for p in method.target.parameters())


def test_tokenizer_missing_token_and_register_layout() -> None:
    tok = FeatureTokenizer(2, [3], d_token=4, num_registers=2)
    batch = {
        "x_num": torch.tensor([[1.0, 2.0]]),
        "num_missing": torch.tensor([[False, True]]),
        "x_cat": torch.tensor([[4]]),
    }
    out = tok(batch)
    assert out.shape == (1, 5, 4)
    torch.testing.assert_close(out[0, :2], tok.registers)
    pos = tok.feature_embedding
    torch.testing.assert_close(out[0, 2], tok.num_weight[0] + tok.num_bias[0] + pos[0])
    torch.testing.assert_close(out[0, 3], tok.num_missing[1] + pos[1])
    torch.testing.assert_close(out[0, 4], tok.cat_embedding.weight[4] + tok.cat_bias[0] + pos[2])


def _frame(rows: int = 24, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "a": rng.normal(size=rows),
            "b": [str(v) for v in rng.integers(0, 9, rows)],
            "c": rng.choice(["x", "y", "z", "?"], rows),
            "d": rng.choice(["u", "v"], rows),
        }
    )


def test_embed_dataframe_round_trips_through_a_weights_only_state_dict() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pre = TabularPreprocessor().fit(_frame())
    method = TJEPA(**SMALL, pooling="concat").materialize(pre)
    method.training_losses(pre.transform(_frame()))
    buffer = io.BytesIO()
    torch.save(method.state_dict(), buffer)
    buffer.seek(0)
    fresh = TJEPA(**SMALL, pooling="concat")  # unmaterialised: the checkpoint brings the schema
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    new = _frame(5, seed=1).assign(c=["never seen", "x", None, "y", "z"], extra=1)
    method.eval()
    fresh.eval()
    emb = fresh.embed(new)
    assert emb.shape == (5, 16)
    torch.testing.assert_close(emb, method.embed(new))
    assert fresh.embed(new, pooling="flatten").shape == (5, (1 + 4) * 8)
    with pytest.raises(ValueError, match="schema mismatch"):
        fresh.embed(new.drop(columns=["d"]))


def test_materialize_checks_the_schema_and_unbuilt_models_say_how_to_fix() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pre = TabularPreprocessor().fit(_frame())
    with pytest.raises(ValueError, match="schema mismatch"):
        _method().materialize(pre)
    with pytest.raises(RuntimeError, match="materialize"):
        TJEPA().training_losses(_batch())
    with pytest.raises(MalformedBatchError, match="2 features"):
        TJEPA(num_numerical=1, **SMALL).training_losses({"x_num": torch.randn(4, 1)})


def test_supervised_heads_train_on_val_selection() -> None:
    torch.manual_seed(0)
    batch = _batch(64)
    y = (batch["x_num"][:, 0] > 0).long()
    model, val = fit_supervised(
        RawMLP(4, [3, 2], 2, hidden_dim=16),
        batch,
        y,
        batch,
        y,
        epochs=30,
        patience=30,
        batch_size=16,
        lr=1e-2,
    )
    assert val > 0.9 and predict(model, batch).shape == (64, 2)
    method = _method()
    tuned = FineTuneModel(method, out_dim=1, pooling="concat", hidden_dim=8)
    _, rmse = fit_supervised(
        tuned,
        batch,
        batch["x_num"][:, 1],
        batch,
        batch["x_num"][:, 1],
        task="regression",
        epochs=2,
    )
    assert np.isfinite(rmse)
    assert all(p.requires_grad for p in tuned.backbone.parameters())


def test_supervised_training_stops_after_the_epoch_that_passes_max_seconds(monkeypatch) -> None:
    # a fake clock: 0 s when training starts, 10 s at every later reading
    import selfsup_tabular.evaluation.downstream as downstream

    readings = iter([0.0])
    monkeypatch.setattr(downstream.time, "monotonic", lambda: next(readings, 10.0))
    model = RawMLP(4, [3, 2], 2, hidden_dim=8)
    epochs = []
    model.register_forward_pre_hook(lambda m, _: epochs.append(1) if m.training else None)
    batch = _batch(64)
    y = (batch["x_num"][:, 0] > 0).long()
    fit_supervised(model, batch, y, batch, y, epochs=5, patience=5, batch_size=16, max_seconds=5)
    assert len(epochs) == 4  # one epoch of 64 / 16 batches, then the budget is spent


def test_exported_encoder_is_the_ema_target_and_embeds_raw_rows_from_its_folder(tmp_path) -> None:
    from selfsup.export import load_pretrained, read_pretrained_config, save_pretrained
    from selfsup_tabular.methods import TJEPAEncoder

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pre = TabularPreprocessor().fit(_frame())
    method = TJEPA(**SMALL, pooling="concat").materialize(pre)
    with torch.no_grad():  # student and EMA target now differ: the export must be the target
        for p in method.encoder.parameters():
            p.add_(0.1)
    folder = save_pretrained(method.export_encoder(), tmp_path / "encoder")
    config = read_pretrained_config(folder)
    assert config["component"] == "tabular:tjepa_encoder"
    assert config["init_args"]["preprocessing"]["categorical"][0]["name"] == "c"
    loaded = load_pretrained(folder)
    assert isinstance(loaded, TJEPAEncoder) and not loaded.training
    new = _frame(6, seed=2).assign(c=["never seen", "x", None, "y", "z", "?"], extra="ignored")
    method.eval()
    with torch.no_grad():
        out = loaded(new)
        torch.testing.assert_close(out, method.embed(new))
        torch.testing.assert_close(loaded(new, pooling="flatten"), method.embed(new, "flatten"))
        student = pool_tokens(method.encoder(pre.transform(new)), 1, "concat")
    assert not torch.allclose(out, student)
    with pytest.raises(ValueError, match="schema mismatch"):
        loaded(new.drop(columns=["a"]))


def test_exported_encoder_refuses_a_preprocessing_of_another_schema_and_frames_without_one() -> (
    None
):
    from selfsup_tabular.methods import TJEPAEncoder

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec = TabularPreprocessor().fit(_frame()).to_dict()
    kw = dict(d_token=8, num_heads=2, ffn_dim=16, num_layers=1)
    with pytest.raises(ValueError, match="2 numerical features"):
        TJEPAEncoder(num_numerical=1, cardinalities=[4, 2], preprocessing=spec, **kw)
    bare = TJEPAEncoder(num_numerical=2, cardinalities=[3, 2], **kw)
    with pytest.raises(ValueError, match="no fitted preprocessing"):
        bare(_frame())
    with pytest.raises(RuntimeError, match="materialize"):
        TJEPA().export_encoder()
