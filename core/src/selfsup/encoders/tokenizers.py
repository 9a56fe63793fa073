"""Turn flat vectors (and small images stored as vectors) into trunk tokens."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["VectorTokenizer"]


class VectorTokenizer(nn.Module):
    """Split each vector into equal chunks and embed each chunk as one token.

    .. math::

        t_j = W x_{[j]} + b + p_j, \\qquad j = 1..L

    with ``x_[j]`` the ``j``-th chunk of ``C = in_dim / L`` values and ``p_j`` a learned position
    embedding. With ``image_shape=(H, W)`` and ``patch=(h, w)`` the vector is read as an ``H x W``
    image and the chunks are its ``h x w`` patches in raster order (ViT patchification).

    Args:
        in_dim: Vector length.
        dim: Token width ``D``.
        num_tokens: ``L`` for plain chunking (must divide ``in_dim``; ignored with ``patch``).
        image_shape: ``(H, W)`` with ``H * W == in_dim`` to patchify an image.
        patch: ``(h, w)`` dividing ``(H, W)``.

    Shapes:
        x: ``(B, in_dim)`` (an ``(x, y)`` pair's ``x``) -> ``(B, L, D)``.

    Raises:
        ValueError: On sizes that do not divide.
    """

    def __init__(
        self,
        in_dim: int,
        dim: int,
        num_tokens: int = 8,
        image_shape: tuple[int, int] | None = None,
        patch: tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        self.in_dim = int(in_dim)
        if (image_shape is None) != (patch is None):
            raise ValueError("image_shape and patch go together: pass both or neither.")
        if image_shape is not None and patch is not None:
            height, width = image_shape
            ph, pw = patch
            if height * width != in_dim or height % ph or width % pw:
                raise ValueError(
                    f"image_shape {tuple(image_shape)} must hold in_dim={in_dim} values and be "
                    f"divisible by patch {tuple(patch)}."
                )
            self.grid: tuple[int, int, int, int] | None = (height // ph, ph, width // pw, pw)
            num_tokens = (height // ph) * (width // pw)
        else:
            if num_tokens < 1 or in_dim % num_tokens:
                raise ValueError(f"num_tokens ({num_tokens}) must divide in_dim ({in_dim}).")
            self.grid = None
        self.num_tokens = int(num_tokens)
        self.chunk = in_dim // num_tokens
        self.embed = nn.Linear(self.chunk, dim)
        self.position = nn.Parameter(torch.empty(num_tokens, dim))
        nn.init.trunc_normal_(self.position, std=0.02)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 2 or x.shape[1] != self.in_dim:
            raise ValueError(f"expected (B, {self.in_dim}) vectors, got {tuple(x.shape)}.")
        b = x.shape[0]
        if self.grid is not None:
            gh, ph, gw, pw = self.grid
            x = x.view(b, gh, ph, gw, pw).permute(0, 1, 3, 2, 4)  # (B, gh, gw, ph, pw)
        chunks = x.reshape(b, self.num_tokens, self.chunk)
        return self.embed(chunks) + self.position
