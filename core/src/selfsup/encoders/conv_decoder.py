"""data2vec 2.0's light decoder: a few 1-D convolutions over the token sequence."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ConvDecoder"]


class ConvDecoder(nn.Module):
    """Convolution blocks over the token axis, then a linear map back to the token width.

    .. math::

        h^{(0)} = x, \\qquad
        h^{(i)} = \\mathrm{GELU}(\\mathrm{LN}(\\mathrm{Conv1d}(h^{(i-1)}))) + h^{(i-1)}
            \\ (i \\ge 2), \\qquad y = W h^{(n)} + b

    (data2vec 2.0's ``Decoder1d``, Baevski et al. arXiv 2212.07525 Sec. 2: parameter-free
    LayerNorm, residual connections from the second block on). Each block zeroes the padded
    tokens before its convolution, so padding never reaches a real token through the kernel.
    The decoder sees every position: visible tokens carry the encoder's output, masked ones
    whatever the method fills in (data2vec: small Gaussian noise); position comes from the
    neighbours the kernel reads.

    Args:
        dim: Token width in and out.
        hidden_dim: Convolution width (default None: ``dim``).
        depth: Convolution blocks (default 4).
        kernel_size: Odd kernel over the tokens (default 5).
        groups: Convolution groups, dividing ``dim`` and ``hidden_dim`` (default 1).

    Shapes:
        x ``(B, L, dim)``, padding_mask ``(B, L)`` bool or None -> ``(B, L, dim)``.

    Raises:
        ValueError: an even or non-positive kernel, non-positive depth, or groups that do not
            divide the widths.

    Examples:
        >>> import torch
        >>> ConvDecoder(16, depth=2, kernel_size=3)(torch.randn(2, 7, 16)).shape
        torch.Size([2, 7, 16])
    """

    def __init__(
        self,
        dim: int,
        hidden_dim: int | None = None,
        depth: int = 4,
        kernel_size: int = 5,
        groups: int = 1,
    ) -> None:
        super().__init__()
        hidden = int(hidden_dim or dim)
        if kernel_size < 1 or kernel_size % 2 == 0 or depth < 1:
            raise ValueError(
                f"need an odd kernel_size >= 1 and depth >= 1, got {kernel_size} and {depth}."
            )
        if groups < 1 or dim % groups or hidden % groups:
            raise ValueError(
                f"groups ({groups}) must divide dim ({dim}) and hidden_dim ({hidden})."
            )
        self.convs = nn.ModuleList(
            nn.Conv1d(dim if i == 0 else hidden, hidden, kernel_size, padding=kernel_size // 2,
                      groups=groups)
            for i in range(depth)
        )  # fmt: skip
        self.hidden_dim = hidden
        self.proj = nn.Linear(hidden, dim)

    def forward(self, x: Tensor, padding_mask: Tensor | None = None) -> Tensor:
        keep = None if padding_mask is None else (~padding_mask).unsqueeze(-1).to(x.dtype)
        h = x
        for i, conv in enumerate(self.convs):
            inp = h if keep is None else h * keep
            out = conv(inp.transpose(1, 2)).transpose(1, 2)
            out = F.gelu(F.layer_norm(out, out.shape[-1:]))
            h = out + h if i > 0 else out
        return self.proj(h)
