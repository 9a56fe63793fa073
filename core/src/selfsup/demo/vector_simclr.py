"""SimCLR on feature vectors: the core's built-in method for the demo and tests."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from selfsup.checks import MalformedBatchError, batch_tensor
from selfsup.encoders import SimCLRProjectionHead
from selfsup.experiment.method import Method
from selfsup.export.pretrained import exportable
from selfsup.losses import nt_xent

__all__ = ["MLPEncoder", "VectorSimCLR", "mlp_encoder"]


@exportable("selfsup:mlp_encoder")
class MLPEncoder(nn.Sequential):
    """Two ``Linear-BN-ReLU`` blocks: ``in_dim -> hidden_dim -> out_dim``.

    The representation is the last ReLU output; as in SimCLR, the projection
    head on top of it is separate and discarded for evaluation.

    Shapes:
        x: ``(B, in_dim)`` -> ``(B, out_dim)``.

    Examples:
        >>> MLPEncoder(64, 128, 32)(torch.zeros(4, 64)).shape
        torch.Size([4, 32])
    """

    def __init__(self, in_dim: int = 64, hidden_dim: int = 256, out_dim: int = 256) -> None:
        super().__init__(
            nn.Linear(in_dim, hidden_dim),
            nn.BatchNorm1d(hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, out_dim),
            nn.BatchNorm1d(out_dim),
            nn.ReLU(inplace=True),
        )


def mlp_encoder(in_dim: int, hidden_dim: int, out_dim: int) -> MLPEncoder:
    """:class:`MLPEncoder` ``in_dim -> hidden_dim -> out_dim``."""
    return MLPEncoder(in_dim, hidden_dim, out_dim)


class VectorSimCLR(Method):
    """SimCLR (Chen et al., arXiv 2002.05709) for fixed-length vectors.

    Two views of each vector are drawn by (optionally) shifting it as a small
    image by up to ``max_shift`` pixels, zeroing each entry with probability
    ``drop_prob`` and adding Gaussian noise of std ``noise_std``. An MLP encoder
    and a projection head (:class:`selfsup.encoders.SimCLRProjectionHead`, ``Linear-ReLU-Linear``)
    feed :func:`selfsup.losses.nt_xent`.

    Args:
        in_dim: Input feature count ``F``.
        hidden_dim: Width of the encoder's hidden layers.
        embed_dim: Encoder output (representation) size.
        proj_dim: Projection-head output size (the loss space).
        temperature: NT-Xent temperature.
        noise_std: Standard deviation of the additive Gaussian noise.
        drop_prob: Probability of zeroing each input entry.
        image_shape: ``(H, W)`` with ``H * W == in_dim`` to enable random shifts.
        max_shift: Largest shift in pixels along each axis.

    Shapes:
        batch: ``(B, F)`` or a ``(x, labels)`` pair whose labels are ignored.
    """

    modality = "vector"

    def __init__(
        self,
        in_dim: int = 64,
        hidden_dim: int = 256,
        embed_dim: int = 256,
        proj_dim: int = 64,
        temperature: float = 0.2,
        noise_std: float = 0.1,
        drop_prob: float = 0.2,
        image_shape: tuple[int, int] | None = None,
        max_shift: int = 1,
    ) -> None:
        super().__init__()
        if image_shape is not None and image_shape[0] * image_shape[1] != in_dim:
            raise ValueError(f"image_shape {image_shape} does not have in_dim={in_dim} entries.")
        if not 0.0 <= drop_prob < 1.0:
            raise ValueError(f"drop_prob must lie in [0, 1), got {drop_prob}.")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}.")
        self.in_dim = in_dim
        self.temperature = temperature
        self.noise_std = noise_std
        self.drop_prob = drop_prob
        self.image_shape = tuple(image_shape) if image_shape is not None else None
        self.max_shift = max_shift
        self.encoder = mlp_encoder(in_dim, hidden_dim, embed_dim)
        # the paper's g(h) = W2 ReLU(W1 h) (no BatchNorm), as this demo always had
        self.projector = SimCLRProjectionHead(embed_dim, hidden_dim, proj_dim, batch_norm=False)

    def _inputs(self, batch: Any) -> Tensor:
        # integer pixels are fine here (digits come as uint8-valued rows); the method casts
        hint = "set in_dim to the feature count."
        x = batch_tensor(batch, type(self).__name__, (None, self.in_dim), floating=False, hint=hint)
        if x.shape[0] < 2:
            raise MalformedBatchError(
                f"{type(self).__name__} needs at least 2 samples per batch (in-batch negatives), "
                f"got {x.shape[0]}; use drop_last=True in the DataLoader."
            )
        return x.float()

    def augment(self, x: Tensor) -> Tensor:
        """One random view of each row of ``x``."""
        if self.image_shape is not None and self.max_shift > 0:
            h, w = self.image_shape
            s = self.max_shift
            img = nn.functional.pad(x.view(-1, 1, h, w), (s, s, s, s))
            dy = torch.randint(0, 2 * s + 1, (x.shape[0],), device=x.device)
            dx = torch.randint(0, 2 * s + 1, (x.shape[0],), device=x.device)
            rows = (dy[:, None] + torch.arange(h, device=x.device)[None, :])[:, :, None]
            cols = (dx[:, None] + torch.arange(w, device=x.device)[None, :])[:, None, :]
            batch = torch.arange(x.shape[0], device=x.device)[:, None, None]
            x = img[batch, 0, rows, cols].reshape(x.shape[0], -1)
        keep = torch.rand_like(x) >= self.drop_prob
        return x * keep + self.noise_std * torch.randn_like(x)

    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        x = self._inputs(batch)
        h1, h2 = self.encoder(self.augment(x)), self.encoder(self.augment(x))
        loss = nt_xent(self.projector(h1), self.projector(h2), self.temperature)
        return {"loss": loss, "embedding_std": nn.functional.normalize(h1, dim=1).std(0).mean()}

    def representations(self, batch: Any) -> Tensor:
        return self.encoder(self._inputs(batch)).detach()

    def embed(self, batch: Any) -> Tensor:
        x = batch[0] if isinstance(batch, list | tuple) else batch
        return self.encoder(x.float())

    def export_encoder(self) -> MLPEncoder:
        """The MLP encoder (``(B, in_dim) -> (B, embed_dim)``), without the projection head."""
        return self.encoder
