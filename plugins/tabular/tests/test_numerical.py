"""Periodic numerical embeddings (PLR): formula, tokenizer and MLP input wiring, T-JEPA export."""

from __future__ import annotations

import io
import math
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from selfsup_tabular.data import TabularPreprocessor
from selfsup_tabular.encoders import FeatureTokenizer, PeriodicEmbedding, TabularInput
from selfsup_tabular.evaluation.downstream import RawMLP
from selfsup_tabular.methods import TJEPA


def _reference(x: torch.Tensor, emb: PeriodicEmbedding) -> torch.Tensor:
    """PLR written out with loops in float64: e_j = ReLU(W_j [sin 2pi c x, cos 2pi c x] + b_j)."""
    c = emb.frequencies.detach().double()
    w, b = emb.weight.detach().double(), emb.bias.detach().double()
    rows, n = x.shape
    k, d = c.shape[1], w.shape[2]
    out = torch.zeros(rows, n, d, dtype=torch.float64)
    for r in range(rows):
        for j in range(n):
            v = [math.sin(2 * math.pi * float(c[j, i]) * float(x[r, j])) for i in range(k)]
            v += [math.cos(2 * math.pi * float(c[j, i]) * float(x[r, j])) for i in range(k)]
            for o in range(d):
                s = float(b[j, o]) + sum(v[i] * float(w[j, i, o]) for i in range(2 * k))
                out[r, j, o] = max(s, 0.0)
    return out


def test_periodic_embedding_matches_the_formula_in_float64_with_gradients() -> None:
    torch.manual_seed(0)
    emb = PeriodicEmbedding(3, 4, frequencies=5, frequency_scale=0.7)
    x = torch.randn(6, 3)
    out = emb(x)
    assert out.shape == (6, 3, 4)
    torch.testing.assert_close(out.double(), _reference(x, emb), atol=1e-5, rtol=1e-5)
    # gradients of a weighted sum, against finite differences of the float64 reference
    weights = torch.randn(6, 3, 4)
    grad = torch.autograd.grad((out * weights).sum(), emb.frequencies)[0]
    eps = 1e-4
    for j, i in [(0, 0), (1, 3), (2, 4)]:
        with torch.no_grad():
            emb.frequencies[j, i] += eps
            up = (_reference(x, emb) * weights.double()).sum()
            emb.frequencies[j, i] -= 2 * eps
            down = (_reference(x, emb) * weights.double()).sum()
            emb.frequencies[j, i] += eps
        assert float(grad[j, i]) == pytest.approx(float(up - down) / (2 * eps), rel=1e-2, abs=1e-3)


def test_frequencies_start_at_the_requested_scale_and_bad_values_are_refused() -> None:
    torch.manual_seed(0)
    emb = PeriodicEmbedding(50, 2, frequencies=64, frequency_scale=3.0)
    c = emb.frequencies.detach()
    assert float(c.std()) == pytest.approx(3.0, rel=0.05)
    assert float(c.mean()) == pytest.approx(0.0, abs=0.1)
    x = torch.randn(16, 2)
    assert bool((PeriodicEmbedding(2, 8, activation=False)(x) < 0).any())  # "PL": no ReLU
    assert bool((PeriodicEmbedding(2, 8)(x) >= 0).all())  # "PLR"
    with pytest.raises(ValueError, match="frequency_scale"):
        PeriodicEmbedding(2, 4, frequency_scale=0.0)
    with pytest.raises(ValueError, match="frequencies >= 1"):
        PeriodicEmbedding(2, 4, frequencies=0)
    with pytest.raises(ValueError, match="numerical_embedding must be one of"):
        FeatureTokenizer(2, [3], d_token=4, numerical_embedding="quantile")
    with pytest.raises(ValueError, match="numerical_embedding must be one of"):
        TabularInput(2, [3], numerical_embedding="bins")


def test_tokenizer_periodic_tokens_and_the_missing_token() -> None:
    torch.manual_seed(0)
    tok = FeatureTokenizer(2, [3], d_token=4, num_registers=1, numerical_embedding="periodic")
    assert not hasattr(tok, "num_weight")
    batch = {
        "x_num": torch.tensor([[0.3, 2.0]]),
        "num_missing": torch.tensor([[False, True]]),
        "x_cat": torch.tensor([[4]]),
    }
    out = tok(batch)
    pos = tok.feature_embedding
    ref = _reference(batch["x_num"], tok.periodic).float()
    torch.testing.assert_close(out[0, 1], ref[0, 0] + pos[0])
    torch.testing.assert_close(out[0, 2], tok.num_missing[1] + pos[1])
    torch.testing.assert_close(out[0, 3], tok.cat_embedding.weight[4] + tok.cat_bias[0] + pos[2])


def test_mlp_input_with_periodic_numbers() -> None:
    torch.manual_seed(0)
    inp = TabularInput(2, [3, 2], embed_dim=5, numerical_embedding="periodic")
    assert inp.out_dim == 2 * 5 + 2 + 2 * 5
    batch = {
        "x_num": torch.randn(4, 2),
        "num_missing": torch.tensor([[True, False]] * 4),
        "x_cat": torch.zeros(4, 2, dtype=torch.long),
    }
    out = inp(batch)
    ref = _reference(batch["x_num"], inp.periodic).float().flatten(1)
    torch.testing.assert_close(out[:, :10], ref)
    torch.testing.assert_close(out[:, 10:12], batch["num_missing"].float())
    assert RawMLP(2, [3, 2], 2, numerical_embedding="periodic")(batch).shape == (4, 2)
    # the default input is unchanged: numbers, missing flags, category embeddings
    assert TabularInput(2, [3, 2], embed_dim=5).out_dim == 2 + 2 + 10


def _frame(rows: int = 24, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "a": rng.normal(size=rows),
            "b": [str(v) for v in rng.integers(0, 9, rows)],
            "c": rng.choice(["x", "y", "z", "?"], rows),
        }
    )


def test_tjepa_with_periodic_tokens_trains_round_trips_and_exports(tmp_path) -> None:
    from selfsup.export import load_pretrained, read_pretrained_config, save_pretrained

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pre = TabularPreprocessor().fit(_frame())
    kw = dict(d_token=8, num_heads=2, ffn_dim=16, encoder_layers=1, predictor_dim=8)
    periodic = dict(numerical_embedding="periodic", frequencies=3, frequency_scale=0.5)
    torch.manual_seed(0)
    method = TJEPA(**kw, **periodic, pooling="concat").materialize(pre)
    losses = method.training_losses(pre.transform(_frame()))
    losses["loss"].backward()
    assert method.encoder.tokenizer.periodic.frequencies.grad is not None
    # a fresh model rebuilds from a weights-only state dict
    buffer = io.BytesIO()
    torch.save(method.state_dict(), buffer)
    buffer.seek(0)
    again = TJEPA(**kw, **periodic, pooling="concat")
    again.load_state_dict(torch.load(buffer, weights_only=True))
    new = _frame(5, seed=3)
    with torch.no_grad():
        torch.testing.assert_close(again.eval().embed(new), method.eval().embed(new))
        folder = save_pretrained(method.export_encoder(), tmp_path / "encoder")
        args = read_pretrained_config(folder)["init_args"]
        assert (args["numerical_embedding"], args["frequencies"]) == ("periodic", 3)
        torch.testing.assert_close(load_pretrained(folder)(new), method.embed(new))
    plain = TJEPA(**kw).materialize(pre).export_encoder()
    folder = save_pretrained(plain, tmp_path / "plain")
    assert read_pretrained_config(folder)["init_args"]["numerical_embedding"] == "linear"


@pytest.mark.parametrize(
    ("num_numerical", "cardinalities"),
    [(3, []), (0, [4, 2]), (2, [3])],
    ids=["numbers", "categories", "both"],
)
@pytest.mark.parametrize("embedding", ["linear", "periodic"])
def test_every_tokenizer_parameter_gets_a_gradient(num_numerical, cardinalities, embedding) -> None:
    # a parameter no step uses stops DistributedDataParallel, so the tokenizer builds none
    tok = FeatureTokenizer(num_numerical, cardinalities, 8, 1, numerical_embedding=embedding)
    batch = {
        "x_num": torch.randn(5, num_numerical),
        "num_missing": torch.zeros(5, num_numerical, dtype=torch.bool),
        "x_cat": torch.stack([torch.randint(0, c, (5,)) for c in cardinalities], 1)
        if cardinalities
        else torch.zeros(5, 0, dtype=torch.long),
    }
    tok(batch).square().sum().backward()
    assert [n for n, p in tok.named_parameters() if p.grad is None] == []


def test_checkpoints_with_the_old_placeholder_parameters_still_load() -> None:
    numbers_only = FeatureTokenizer(3, [], 8, 1)
    old = dict(numbers_only.state_dict())
    old["cat_embedding.weight"] = torch.zeros(1, 8)  # what tokenizers without categories saved
    old["cat_bias"] = torch.zeros(0, 8)
    numbers_only.load_state_dict(old, strict=True)
    categories_only = FeatureTokenizer(0, [4], 8, 1)
    old = dict(categories_only.state_dict())
    old.update({k: torch.zeros(0, 8) for k in ("num_weight", "num_bias", "num_missing")})
    categories_only.load_state_dict(old, strict=True)
    # a real categorical embedding is not a placeholder: the strict load still refuses it
    old = dict(numbers_only.state_dict())
    old["cat_embedding.weight"] = torch.zeros(6, 8)
    with pytest.raises(RuntimeError, match="cat_embedding.weight"):
        numbers_only.load_state_dict(old, strict=True)
