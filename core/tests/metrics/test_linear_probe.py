from __future__ import annotations

import pytest
import torch

from selfsup.metrics import LinearProbeResult, linear_probe


def blobs(seed: int, n: int, d: int, c: int, spread: float, shift: float = 0.0):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(c, d, generator=g) * 3.0
    y = torch.arange(n) % c
    x = centers[y] + spread * torch.randn(n, d, generator=g)
    # large offset and scale: standardisation must handle it
    return x * 50.0 + shift, y


def test_separable_blobs_reach_full_accuracy() -> None:
    x, y = blobs(0, 300, 8, 3, spread=0.3, shift=1000.0)
    result = linear_probe(x[:200], y[:200], x[200:], y[200:])
    assert isinstance(result, LinearProbeResult)
    assert result.accuracy == 1.0 and result.train_accuracy == 1.0
    assert result.weight.shape == (3, 8) and result.bias.shape == (3,)
    assert torch.equal(result.predict(x[200:]), y[200:])
    # test features are standardised with the TRAIN statistics
    assert torch.allclose(result.mean, x[:200].mean(0))


def test_close_to_sklearn_on_overlapping_classes() -> None:
    sklearn_lm = pytest.importorskip("sklearn.linear_model")
    preprocessing = pytest.importorskip("sklearn.preprocessing")
    x, y = blobs(1, 900, 10, 4, spread=6.0)
    x_train, y_train, x_test, y_test = x[:600], y[:600], x[600:], y[600:]
    weight_decay = 1e-2
    result = linear_probe(x_train, y_train, x_test, y_test, weight_decay=weight_decay)

    scaler = preprocessing.StandardScaler().fit(x_train.numpy())
    clf = sklearn_lm.LogisticRegression(C=1.0 / (weight_decay * 600), max_iter=2000, tol=1e-8)
    clf.fit(scaler.transform(x_train.numpy()), y_train.numpy())
    reference = float((clf.predict(scaler.transform(x_test.numpy())) == y_test.numpy()).mean())
    assert 0.5 < reference < 0.95  # a genuinely hard problem
    assert abs(result.accuracy - reference) <= 0.03
    # same convex objective, so the solutions agree closely too
    ref_train = float(clf.score(scaler.transform(x_train.numpy()), y_train.numpy()))
    assert abs(result.train_accuracy - ref_train) <= 0.02


def test_deterministic_and_chunked_objective() -> None:
    x, y = blobs(2, 200, 6, 3, spread=2.0)
    a = linear_probe(x[:150], y[:150], x[150:], y[150:], seed=3, epochs=30)
    b = linear_probe(x[:150], y[:150], x[150:], y[150:], seed=3, epochs=30)
    assert torch.equal(a.weight, b.weight) and a.accuracy == b.accuracy
    chunked = linear_probe(x[:150], y[:150], x[150:], y[150:], batch_size=16)
    full = linear_probe(x[:150], y[:150], x[150:], y[150:])
    assert chunked.train_loss == pytest.approx(full.train_loss, rel=1e-4)
    assert chunked.accuracy == pytest.approx(full.accuracy, abs=0.02)


def test_works_under_inference_mode_and_without_standardize() -> None:
    x, y = blobs(4, 120, 5, 2, spread=0.5)
    with torch.inference_mode():
        feats = x * 1.0
        result = linear_probe(feats[:80], y[:80], feats[80:], y[80:], standardize=False)
    assert result.accuracy == 1.0
    assert torch.equal(result.std, torch.ones(5))


def test_constant_feature_and_float64() -> None:
    x, y = blobs(5, 100, 4, 2, spread=0.5)
    x = torch.cat([x, torch.ones(100, 1)], dim=1).double()
    result = linear_probe(x[:70], y[:70], x[70:], y[70:])
    assert result.weight.dtype == torch.float64
    assert result.accuracy == 1.0


def test_bad_input() -> None:
    x, y = blobs(6, 40, 4, 2, spread=1.0)
    with pytest.raises(ValueError, match="feature dimensions"):
        linear_probe(x, y, x[:, :2], y)
    with pytest.raises(ValueError, match="test_labels"):
        linear_probe(x, y, x, y[:5])
    with pytest.raises(ValueError, match="integer"):
        linear_probe(x, y.float(), x, y)
    with pytest.raises(ValueError, match="epochs"):
        linear_probe(x, y, x, y, epochs=0)
    with pytest.raises(ValueError, match="weight_decay"):
        linear_probe(x, y, x, y, weight_decay=-1.0)
    with pytest.raises(ValueError, match="batch_size"):
        linear_probe(x, y, x, y, batch_size=0)
    with pytest.raises(ValueError, match="row"):
        linear_probe(x[:1], y[:1], x, y)
