"""KMeans against Lloyd's algorithm written out, recovery of separated clusters, empty
clusters, mini-batches, blocks, reproducibility and the state dict."""

from __future__ import annotations

import pytest
import torch

from selfsup.targets import KMeans


def _blobs(n: int = 60, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    centers = torch.tensor([[-6.0, 0.0], [6.0, 0.0], [0.0, 8.0]])
    y = torch.arange(n) % 3
    return centers[y] + torch.randn(n, 2, generator=gen), y


def _ref_lloyd(x: torch.Tensor, centroids: torch.Tensor, rounds: int) -> torch.Tensor:
    """Plain Lloyd: assign each row to the nearest centroid (loops), move each to its mean."""
    c = centroids.clone()
    for _ in range(rounds):
        labels = [min(range(len(c)), key=lambda j: float(((row - c[j]) ** 2).sum())) for row in x]
        c = torch.stack(
            [
                x[[i for i, lab in enumerate(labels) if lab == j]].mean(0) if j in labels else c[j]
                for j in range(len(c))
            ]
        )
    return c


def test_lloyd_rounds_equal_the_written_out_algorithm() -> None:
    x, _ = _blobs()
    x = x.double()
    km = KMeans(3, 2, iterations=4, tolerance=0.0, seed=3).fit(x)
    start = KMeans(3, 2, seed=3)._seed(x, torch.Generator().manual_seed(3))
    torch.testing.assert_close(km.centroids.double(), _ref_lloyd(x, start, 4), rtol=0, atol=1e-6)


@pytest.mark.parametrize("minibatch", [None, 30])
@pytest.mark.parametrize("block_size", [7, 16384])
def test_separated_clusters_are_recovered_reproducibly(minibatch, block_size) -> None:
    x, y = _blobs()
    km = KMeans(3, 2, minibatch=minibatch, block_size=block_size, seed=1).fit(x)
    labels = km.predict(x)
    # the same partition as the truth, whatever the label numbers
    for c in range(3):
        assert len(set(labels[y == c].tolist())) == 1
    assert len(set(labels.tolist())) == 3
    again = KMeans(3, 2, minibatch=minibatch, block_size=block_size, seed=1).fit(x)
    assert torch.equal(again.centroids, km.centroids)
    assert km.inertia is not None and km.inertia < 3 * len(x)


def test_no_cluster_is_left_empty() -> None:
    # duplicate rows: k-means++ may seed two centroids on one point; both must end up used
    x = torch.tensor([[0.0, 0.0]] * 10 + [[5.0, 5.0]] * 10 + [[9.0, 0.0]] * 2)
    labels = KMeans(3, 2, seed=0).fit(x).predict(x)
    assert sorted(set(labels.tolist())) == [0, 1, 2]


def test_state_dict_round_trip_and_bad_input() -> None:
    x, _ = _blobs()
    km = KMeans(3, 2).fit(x)
    loaded = KMeans(3, 2)
    loaded.load_state_dict(km.state_dict())
    assert torch.equal(loaded.predict(x), km.predict(x))
    with pytest.raises(ValueError, match="before fit"):
        KMeans(3, 2).predict(x)
    with pytest.raises(ValueError, match="at least 3 rows"):
        KMeans(3, 2).fit(x[:2])
    with pytest.raises(ValueError, match="2 features"):
        km.predict(torch.randn(4, 5))
    with pytest.raises(ValueError, match="NaN|inf|finite"):
        KMeans(3, 2).fit(torch.full((5, 2), float("nan")))
