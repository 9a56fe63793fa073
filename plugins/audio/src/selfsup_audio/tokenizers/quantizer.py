"""Cosine-similarity vector quantiser with EMA codebook (BEATs' ``NormEMAVectorQuantizer``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["NormEMAVectorQuantizer", "QuantizerOutput", "spherical_kmeans"]


@dataclass(frozen=True)
class QuantizerOutput:
    """Result of :meth:`NormEMAVectorQuantizer.forward`.

    Attributes:
        quantized: ``z + sg(v_c - z)``: the code vectors forward, identity gradient backward
            (straight-through), ``(N, D)``.
        codes: Nearest code per vector ``(N,)`` long.
        commitment: ``beta * mean ||sg(v_c) - z||^2`` (0-dim).
        perplexity: ``exp(entropy)`` of the batch's code histogram (0-dim, no gradient).
        used: Distinct codes in the batch (0-dim long).
    """

    quantized: Tensor
    codes: Tensor
    commitment: Tensor
    perplexity: Tensor
    used: Tensor


def _all_reduce(x: Tensor) -> Tensor:
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(x)
    return x


def spherical_kmeans(
    x: Tensor, k: int, iterations: int = 10, generator: torch.Generator | None = None
) -> Tensor:
    """Spherical k-means on unit vectors: assign by cosine, centroid = L2-normalised mean.

    Initial centroids are ``k`` rows of ``x`` drawn without replacement (with replacement when
    ``N < k``); an empty cluster keeps its centroid.

    Shapes:
        x ``(N, D)`` unit rows -> ``(k, D)`` unit rows.
    """
    n = x.shape[0]
    if n >= k:
        idx = torch.randperm(n, generator=generator, device="cpu")[:k]
    else:
        idx = torch.randint(0, n, (k,), generator=generator, device="cpu")
    centroids = x[idx.to(x.device)].clone()
    for _ in range(iterations):
        assign = (x @ centroids.T).argmax(dim=1)
        sums = torch.zeros_like(centroids).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=k)
        centroids = torch.where(counts[:, None] > 0, F.normalize(sums, dim=1), centroids)
    return centroids


class NormEMAVectorQuantizer(nn.Module):
    """L2-normalised vector quantiser, EMA codebook, k-means init, dead-code restarts.

    With ``z`` L2-normalised and unit codes ``v``:

    .. math::

        c = \\arg\\max_i v_i \\cdot z, \\qquad
        L_{commit} = \\beta \\lVert \\mathrm{sg}(v_c) - z \\rVert^2, \\qquad
        v_i \\leftarrow \\overline{\\gamma v_i + (1 - \\gamma)\\, \\overline{m_i}}, \\;
        m_i = \\frac{1}{n_i} \\sum_{c(z) = i} z

    (BEATs ``quantizer.py``; ``gamma = decay``, bars = L2 normalisation). The EMA update runs in
    training mode only and skips codes no vector chose (``n_i = 0``). The first training batch
    initialises the codebook by :func:`spherical_kmeans`. Codebook collapse is the known failure,
    so ``usage`` (an EMA of per-code counts, decay ``decay``) is tracked and, when
    ``restart_dead_codes``, codes whose usage drops below ``dead_threshold`` are re-seeded with
    random vectors of the current batch. All state is buffers (never parameters: optimisers or
    mixed-precision master copies must not overwrite EMA writes). Histograms and sums are
    all-reduced under ``torch.distributed``.

    Args:
        codebook_size: ``K`` (default 1024). dim: Code size ``D`` (default 256).
        decay: EMA decay ``gamma`` (default 0.99). beta: Commitment weight (default 1.0).
        kmeans_init: Initialise by k-means on the first training batch (default True).
        kmeans_iters: k-means iterations (default 10).
        restart_dead_codes: Re-seed unused codes (default True).
        dead_threshold: Usage-EMA threshold (vectors per batch) below which a code is dead
            (default 1.0). A restarted code's usage is reset to the batch's mean usage
            ``N / K`` (at least the threshold), a grace period before it can die again.

    Shapes:
        z ``(N, D)`` (any scale; normalised inside) -> :class:`QuantizerOutput`.

    Raises:
        ValueError: ``z`` is not ``(N, D)`` with ``N >= 1``.
    """

    def __init__(
        self,
        codebook_size: int = 1024,
        dim: int = 256,
        decay: float = 0.99,
        beta: float = 1.0,
        kmeans_init: bool = True,
        kmeans_iters: int = 10,
        restart_dead_codes: bool = True,
        dead_threshold: float = 1.0,
    ) -> None:
        super().__init__()
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay}.")
        self.codebook_size = codebook_size
        self.dim = dim
        self.decay = decay
        self.beta = beta
        self.kmeans_iters = kmeans_iters
        self.restart_dead_codes = restart_dead_codes
        self.dead_threshold = dead_threshold
        self.register_buffer("embedding", F.normalize(torch.randn(codebook_size, dim), dim=1))
        self.register_buffer("usage", torch.ones(codebook_size))
        self.register_buffer("initialized", torch.tensor(not kmeans_init))
        self.register_buffer("restarts", torch.zeros((), dtype=torch.long))

    def nearest(self, z: Tensor) -> Tensor:
        """Code index of each row (max cosine = min L2 between unit vectors)."""
        return (F.normalize(z, dim=-1) @ self.embedding.to(z.dtype).T).argmax(dim=-1)

    @torch.no_grad()
    def _init(self, z: Tensor) -> None:
        centroids = spherical_kmeans(z.float(), self.codebook_size, self.kmeans_iters)
        self.embedding.copy_(centroids)
        self.usage.fill_(z.shape[0] / self.codebook_size)
        self.initialized.fill_(True)

    @torch.no_grad()
    def _ema(self, z: Tensor, codes: Tensor) -> None:
        onehot = F.one_hot(codes, self.codebook_size).to(z.dtype)
        bins = _all_reduce(onehot.sum(dim=0))
        sums = _all_reduce(onehot.T @ z)
        used = bins > 0
        means = F.normalize(sums / bins.clamp(min=1.0)[:, None], dim=1)
        updated = F.normalize(self.decay * self.embedding + (1 - self.decay) * means, dim=1)
        self.embedding.copy_(torch.where(used[:, None], updated, self.embedding))
        self.usage.mul_(self.decay).add_((1 - self.decay) * bins)
        if self.restart_dead_codes:
            dead = self.usage < self.dead_threshold
            n_dead = int(dead.sum())
            if n_dead:
                pick = torch.randint(0, z.shape[0], (n_dead,), device=z.device)
                # ranks would pick different vectors: rank 0's choice is broadcast
                fresh = z[pick]
                if dist.is_available() and dist.is_initialized():
                    dist.broadcast(fresh, 0)
                self.embedding[dead] = fresh
                self.usage[dead] = max(self.dead_threshold, z.shape[0] / self.codebook_size)
                self.restarts.add_(n_dead)

    def forward(self, z: Tensor) -> QuantizerOutput:
        if z.dim() != 2 or z.shape[0] == 0 or z.shape[1] != self.dim:
            raise ValueError(
                f"NormEMAVectorQuantizer expects (N >= 1, {self.dim}) vectors, got "
                f"{tuple(z.shape)}."
            )
        z = F.normalize(z, dim=-1)
        if self.training and not bool(self.initialized):
            self._init(z.detach())
        codes = self.nearest(z.detach())
        code_vectors = self.embedding[codes].to(z.dtype)
        commitment = self.beta * F.mse_loss(z, code_vectors.detach())
        if self.training:
            self._ema(z.detach().float(), codes)
        quantized = z + (code_vectors - z).detach()
        with torch.no_grad():
            counts = torch.bincount(codes, minlength=self.codebook_size).float()
            p = counts / counts.sum()
            entropy = -(p * torch.log(p.clamp(min=1e-12))).sum()
        return QuantizerOutput(quantized, codes, commitment, entropy.exp(), (counts > 0).sum())
