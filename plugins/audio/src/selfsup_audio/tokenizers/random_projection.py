"""Frozen random-projection tokenizers for iteration 1: BEATs' and BEST-RQ's."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup_audio.encoders.patch_embed import patch_padding_mask, patchify

__all__ = ["BestRQTokenizer", "RandomProjectionTokenizer", "mask_padded_labels"]


def _check_sizes(patch: tuple[int, int], codebook_size: int, code_dim: int) -> None:
    if min(patch) < 1 or codebook_size < 2 or code_dim < 1:
        raise ValueError(
            f"need patch sizes >= 1, codebook_size >= 2 and code_dim >= 1, got patch={patch}, "
            f"codebook_size={codebook_size}, code_dim={code_dim}."
        )


class RandomProjectionTokenizer(nn.Module):
    """BEATs iteration-1 tokenizer (Chen et al., ICML 2023, arXiv 2212.09058, Sec. 3.2).

    .. math::

        z_t = \\arg\\min_i \\lVert v_i - \\mathrm{LN}(W x_t) \\rVert_2^2

    with ``x_t`` the flattened ``p_t x p_f`` patch, ``W`` a frozen Xavier-normal
    ``code_dim x (p_t p_f)`` matrix and ``v`` a frozen standard-normal ``codebook_size x
    code_dim`` codebook (paper: 1024 x 256). The paper's formula has no normalisation; the
    parameter-free LayerNorm (``layer_norm=True``, as ESPnet's ``BeatsRandomTokenizer``) puts
    ``W x_t`` on the codebook's scale (norm ``sqrt(code_dim)``); without it the smallest-norm
    codes win for most patches. Everything is a buffer drawn from ``seed``, so the labels
    depend only on the seed and the input.

    Args:
        patch: ``(time, frequency)`` patch size, the encoder's (default ``(16, 16)``).
        codebook_size: ``K`` (default 1024). code_dim: Projection size (default 256).
        layer_norm: Normalise ``W x_t`` (default True). seed: RNG seed (default 0).

    Shapes:
        fbank ``(B, T, n_mels)``, frame_mask ``(B, T)`` or None -> labels ``(B, N)`` long
        (padded patches get label -100).
    """

    def __init__(
        self,
        patch: tuple[int, int] = (16, 16),
        codebook_size: int = 1024,
        code_dim: int = 256,
        layer_norm: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__()
        _check_sizes(patch, codebook_size, code_dim)
        self.patch = (int(patch[0]), int(patch[1]))
        gen = torch.Generator().manual_seed(seed)
        fan_in = self.patch[0] * self.patch[1]
        std = (2.0 / (fan_in + code_dim)) ** 0.5  # Xavier normal
        self.register_buffer("projection", torch.randn(code_dim, fan_in, generator=gen) * std)
        self.register_buffer("codebook", torch.randn(codebook_size, code_dim, generator=gen))
        self.layer_norm = layer_norm
        self.codebook_size = codebook_size

    def project(self, patches: Tensor) -> Tensor:
        """``LN(W x)`` ``(B, N, code_dim)`` of flattened patches ``(B, N, p_t p_f)``."""
        z = patches @ self.projection.T.to(patches.dtype)
        return F.layer_norm(z, z.shape[-1:]) if self.layer_norm else z

    @torch.no_grad()
    def forward(self, fbank: Tensor, frame_mask: Tensor | None = None) -> Tensor:
        z = self.project(patchify(fbank, self.patch))
        codebook = self.codebook.to(z.dtype)
        # ||v||^2 - 2 v.z  (||z||^2 is constant per patch and cannot change the argmin)
        dist = codebook.pow(2).sum(-1) - 2.0 * z @ codebook.T
        labels = dist.argmin(dim=-1)
        return mask_padded_labels(labels, fbank, frame_mask, self.patch)


class BestRQTokenizer(nn.Module):
    """BEST-RQ random-projection quantizer (Chiu et al., ICML 2022, arXiv 2202.01855).

    .. math::

        z_t = \\arg\\min_i \\lVert \\bar c_i - \\overline{A x_t} \\rVert_2
            = \\arg\\max_i \\bar c_i \\cdot \\overline{A x_t},
        \\qquad \\bar u = u / \\lVert u \\rVert

    ``A`` frozen Xavier-uniform (as speechbrain's ``RandomProjectionQuantizer``), codebook
    frozen standard normal, both sides L2-normalised (cosine nearest neighbour). Here ``x_t`` is
    a flattened spectrogram patch (BEST-RQ stacks 4 frames of 80 mels; pass
    ``patch=(4, n_mels)`` for that). Inputs are the normalised fbanks.

    Args:
        patch: ``(time, frequency)`` patch size (default ``(16, 16)``).
        codebook_size: ``K`` (default 8192, BEST-RQ's). code_dim: Projection size (default 16).
        seed: RNG seed (default 0).

    Shapes:
        fbank ``(B, T, n_mels)``, frame_mask ``(B, T)`` or None -> labels ``(B, N)`` long
        (padded patches get label -100).
    """

    def __init__(
        self,
        patch: tuple[int, int] = (16, 16),
        codebook_size: int = 8192,
        code_dim: int = 16,
        seed: int = 0,
    ) -> None:
        super().__init__()
        _check_sizes(patch, codebook_size, code_dim)
        self.patch = (int(patch[0]), int(patch[1]))
        gen = torch.Generator().manual_seed(seed)
        fan_in = self.patch[0] * self.patch[1]
        bound = (6.0 / (fan_in + code_dim)) ** 0.5  # Xavier uniform
        proj = (torch.rand(fan_in, code_dim, generator=gen) * 2 - 1) * bound
        self.register_buffer("projection", proj)
        codebook = F.normalize(torch.randn(codebook_size, code_dim, generator=gen), dim=-1)
        self.register_buffer("codebook", codebook)
        self.codebook_size = codebook_size

    @torch.no_grad()
    def forward(self, fbank: Tensor, frame_mask: Tensor | None = None) -> Tensor:
        patches = patchify(fbank, self.patch)
        z = F.normalize(patches @ self.projection.to(patches.dtype), dim=-1)
        labels = (z @ self.codebook.to(z.dtype).T).argmax(dim=-1)
        return mask_padded_labels(labels, fbank, frame_mask, self.patch)


def mask_padded_labels(
    labels: Tensor, fbank: Tensor, frame_mask: Tensor | None, patch: tuple[int, int]
) -> Tensor:
    """Label -100 (cross-entropy's ignore index) on padded patches."""
    if frame_mask is None:
        return labels
    pad = patch_padding_mask(frame_mask, patch[0], fbank.shape[2] // patch[1])
    return labels.masked_fill(pad, -100)
