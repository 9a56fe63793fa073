"""``KMeans``: seeded k-means on embeddings, for offline cluster targets (HuBERT, DeepCluster).

Rows are assigned to their nearest centroid in blocks (``||x||^2 - 2 x c + ||c||^2``, never
the full ``N x K`` distance matrix at once), so it runs on the device the data is on, GPU
included, and on more rows than fit one matrix product. The centroids are a buffer: a fitted
``KMeans`` saves and loads with ``state_dict`` (no pickle), which is how a labelling model
travels from one training stage to the next.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from selfsup.checks import check_matrix

__all__ = ["KMeans"]


class KMeans(nn.Module):
    """k-means (Lloyd) with k-means++ seeding, on the rows' device, reproducible by ``seed``.

    :meth:`fit` seeds ``k`` centroids by k-means++ (Arthur & Vassilvitskii 2007: each next
    centroid drawn with probability proportional to the squared distance to the nearest one
    chosen), then alternates assignment and centroid means for ``iterations`` rounds or until
    no centroid moves more than ``tolerance`` (relative to the data's mean squared norm). A
    centroid left without rows is moved to the row farthest from its centroid, so every one
    of the ``k`` labels stays in use. ``minibatch`` fits on a seeded sample of that many rows
    per round (Sculley's mini-batch k-means with per-centroid learning rates ``1 / count``),
    for data too large for full passes; :meth:`predict` always labels every row.

    Args:
        k: Clusters.
        dim: Row size.
        iterations: Lloyd rounds at most (default 50).
        tolerance: Stop when the largest centroid shift squared falls below this share of the
            mean squared row norm (default 1e-6).
        minibatch: Rows per mini-batch round (default None: full passes).
        seed: Seed of the initialisation and of the mini-batches (default 0).
        block_size: Rows per assignment block (default 16384).

    Shapes:
        fit / predict: ``(N, dim)``; predict returns ``(N,)`` int64; centroids ``(k, dim)``.

    Raises:
        ValueError: ``k`` or ``dim`` < 1, fewer rows than clusters, NaN/inf rows, rows of
            another width, or :meth:`predict` before :meth:`fit`.

    Examples:
        >>> x = torch.cat([torch.randn(50, 2) - 5, torch.randn(50, 2) + 5])
        >>> labels = KMeans(2, 2, seed=0).fit(x).predict(x)
        >>> bool((labels[:50] == labels[0]).all() and (labels[50:] != labels[0]).all())
        True
    """

    centroids: Tensor
    fitted: Tensor

    def __init__(
        self,
        k: int,
        dim: int,
        iterations: int = 50,
        tolerance: float = 1e-6,
        minibatch: int | None = None,
        seed: int = 0,
        block_size: int = 16384,
    ) -> None:
        super().__init__()
        if k < 1 or dim < 1 or iterations < 1 or block_size < 1:
            raise ValueError(
                f"need k, dim, iterations and block_size >= 1, got {k}, {dim}, {iterations}, "
                f"{block_size}."
            )
        if minibatch is not None and minibatch < k:
            raise ValueError(f"minibatch ({minibatch}) must hold at least k = {k} rows.")
        self.k, self.dim = int(k), int(dim)
        self.iterations, self.tolerance = int(iterations), float(tolerance)
        self.minibatch, self.seed, self.block_size = minibatch, int(seed), int(block_size)
        self.register_buffer("centroids", torch.zeros(k, dim))
        self.register_buffer("fitted", torch.tensor(False))
        self.inertia: float | None = None

    # -- assignment -------------------------------------------------------------------------
    def _nearest(self, x: Tensor, centroids: Tensor) -> tuple[Tensor, Tensor]:
        """Nearest centroid and squared distance per row, block by block."""
        c_norm = (centroids * centroids).sum(1)
        labels, dists = [], []
        for start in range(0, x.shape[0], self.block_size):
            block = x[start : start + self.block_size]
            d = (block * block).sum(1, keepdim=True) - 2 * block @ centroids.T + c_norm
            best, index = d.min(1)
            labels.append(index)
            dists.append(best.clamp(min=0))
        return torch.cat(labels), torch.cat(dists)

    def _check(self, x: Tensor) -> Tensor:
        check_matrix("x", x)
        if x.shape[1] != self.dim:
            raise ValueError(f"rows must have {self.dim} features, got {tuple(x.shape)}.")
        return x.to(torch.promote_types(x.dtype, torch.float32))

    def _seed(self, x: Tensor, gen: torch.Generator) -> Tensor:
        """k-means++ initialisation."""
        first = int(torch.randint(x.shape[0], (1,), generator=gen))
        chosen = [x[first]]
        nearest = ((x - x[first]) ** 2).sum(1)
        for _ in range(1, self.k):
            weights = nearest.double().cpu()
            if float(weights.sum()) <= 0:  # fewer distinct rows than clusters
                index = int(torch.randint(x.shape[0], (1,), generator=gen))
            else:
                index = int(torch.multinomial(weights, 1, generator=gen))
            chosen.append(x[index])
            nearest = torch.minimum(nearest, ((x - x[index]) ** 2).sum(1))
        return torch.stack(chosen)

    # -- fitting ----------------------------------------------------------------------------
    @torch.no_grad()
    def fit(self, x: Tensor) -> KMeans:
        """Fit the centroids to the rows of ``x``; returns ``self``."""
        x = self._check(x)
        if x.shape[0] < self.k:
            raise ValueError(
                f"k-means with k = {self.k} needs at least {self.k} rows, got {x.shape[0]}."
            )
        gen = torch.Generator().manual_seed(self.seed)
        centroids = self._seed(x, gen)
        scale = float((x * x).sum(1).mean()) or 1.0
        counts = torch.zeros(self.k, device=x.device, dtype=x.dtype)
        for _ in range(self.iterations):
            rows = x
            if self.minibatch is not None and self.minibatch < x.shape[0]:
                pick = torch.randperm(x.shape[0], generator=gen)[: self.minibatch]
                rows = x[pick.to(x.device)]
            labels, dists = self._nearest(rows, centroids)
            sums = torch.zeros_like(centroids).index_add_(0, labels, rows)
            hits = torch.bincount(labels, minlength=self.k).to(x.dtype)
            if self.minibatch is not None:
                counts += hits
                rate = (hits / counts.clamp(min=1))[:, None]
                means = sums / hits.clamp(min=1)[:, None]
                new = torch.where(
                    hits[:, None] > 0, centroids + rate * (means - centroids), centroids
                )
            else:
                new = torch.where(hits[:, None] > 0, sums / hits.clamp(min=1)[:, None], centroids)
            new = self._refill_empty(new, hits, rows, dists)
            shift = float(((new - centroids) ** 2).sum(1).max())
            centroids = new
            if shift <= self.tolerance * scale:
                break
        self.centroids = centroids.to(self.centroids.dtype)
        self.fitted.fill_(True)
        self.inertia = float(self._nearest(x, centroids)[1].sum())
        return self

    def _refill_empty(self, centroids: Tensor, hits: Tensor, rows: Tensor, dists: Tensor) -> Tensor:
        empty = (hits == 0).nonzero().flatten().tolist()
        if not empty:
            return centroids
        far = dists.argsort(descending=True)[: len(empty)]
        centroids = centroids.clone()
        centroids[torch.tensor(empty, device=rows.device)] = rows[far]
        return centroids

    @torch.no_grad()
    def predict(self, x: Tensor) -> Tensor:
        """The nearest centroid of every row ``(N,)`` int64."""
        if not bool(self.fitted):
            raise ValueError("KMeans.predict before fit: fit it, or load a fitted state_dict.")
        x = self._check(x)
        return self._nearest(x, self.centroids.to(x.dtype))[0]

    def extra_repr(self) -> str:
        return f"k={self.k}, dim={self.dim}, fitted={bool(self.fitted)}"
