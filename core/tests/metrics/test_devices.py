"""The metrics give the CPU answers on CUDA (skipped without a GPU)."""

from __future__ import annotations

import pytest
import torch

from selfsup.metrics import alignment, knn_predict, linear_probe, rankme, uniformity

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def test_metrics_on_cuda_match_cpu() -> None:
    g = torch.Generator().manual_seed(0)
    centers = torch.randn(4, 16, generator=g) * 2
    y = torch.arange(400) % 4
    x = centers[y] + torch.randn(400, 16, generator=g)
    cuda = torch.device("cuda")
    xc, yc = x.to(cuda), y.to(cuda)

    assert rankme(xc).device.type == "cuda"
    assert float(rankme(xc)) == pytest.approx(float(rankme(x)), rel=1e-9)
    assert float(alignment(xc[:200], xc[200:])) == pytest.approx(
        float(alignment(x[:200], x[200:])), rel=1e-4
    )
    assert float(uniformity(xc)) == pytest.approx(float(uniformity(x)), rel=1e-4)

    pred = knn_predict(xc[:300], yc[:300], xc[300:], k=10, chunk_size=32)
    assert pred.device.type == "cuda"
    assert torch.equal(pred.cpu(), knn_predict(x[:300], y[:300], x[300:], k=10))

    res_gpu = linear_probe(xc[:300], yc[:300], xc[300:], yc[300:])
    res_cpu = linear_probe(x[:300], y[:300], x[300:], y[300:])
    assert res_gpu.weight.device.type == "cuda"
    assert res_gpu.accuracy == pytest.approx(res_cpu.accuracy, abs=0.02)
