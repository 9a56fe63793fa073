"""MAE (He et al., arXiv 2111.06377) on a Hugging Face ViT, with GMML-style group masking."""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor, nn

from selfsup.encoders.transformer import TransformerTrunk
from selfsup.experiment.method import Method
from selfsup.losses import latent_regression
from selfsup.masking import TokenMask, block_mask, random_token_mask, restore_tokens
from selfsup_vision.augment.simclr import SimCLRAugment
from selfsup_vision.batch import parse_vit_images
from selfsup_vision.encoders.vit import ViTEncoder, require_vit
from selfsup_vision.patches import host_generator, pixel_targets, token_mask_from_bool

__all__ = ["MAE", "MAEDecoder"]

_MASKINGS = ("random", "group")


class MAEDecoder(nn.Module):
    """MAE's light decoder: embed visible tokens, insert mask tokens, Transformer, pixel head.

    Shapes:
        tokens ``(B, 1 + K, d_enc)`` ([CLS] first), restore_idx ``(B, L)`` ->
        ``(B, L, patch_dim)``.
    """

    def __init__(
        self, enc_dim: int, dim: int, layers: int, heads: int, num_patches: int, patch_dim: int
    ) -> None:
        super().__init__()
        self.embed = nn.Linear(enc_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.zeros(1, 1 + num_patches, dim))
        nn.init.trunc_normal_(self.pos, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)
        self.blocks = TransformerTrunk(dim, depth=layers, num_heads=heads)
        self.head = nn.Linear(dim, patch_dim)

    def forward(self, tokens: Tensor, restore_idx: Tensor) -> Tensor:
        x = self.embed(tokens)
        b, length = restore_idx.shape
        masks = self.mask_token.expand(b, length - (x.shape[1] - 1), -1)
        full = restore_tokens(torch.cat([x[:, 1:], masks], dim=1), restore_idx)
        h = torch.cat([x[:, :1], full], dim=1) + self.pos
        return self.head(self.blocks(h)[:, 1:])


class MAE(Method):
    """Masked autoencoder: encode the visible patches, reconstruct the masked ones' pixels.

    .. math::

        L = \\frac{1}{|M|} \\sum_{(b, i) \\in M} \\frac{1}{P}
            \\lVert \\hat x_{b,i} - t_{b,i} \\rVert^2

    with ``M`` the masked patches, ``P = p^2 C`` and ``t`` the per-patch normalised pixels
    (:func:`selfsup_vision.patches.pixel_targets`, ``norm_pix_loss``), computed by
    :func:`selfsup.losses.latent_regression` with ``mask``. Masking:

    * ``"random"``: :func:`selfsup.masking.random_token_mask`, exactly
      ``floor(mask_ratio * L)`` patches per image (MAE);
    * ``"group"``: GMML-style group masking (Atito et al., arXiv 2104.03602 / 2205.14986):
      connected blocks of patches from :func:`selfsup.masking.block_mask` (BEiT's rectangle
      sampler, exact count ``floor(mask_ratio * L)``; ``group_min_block`` patches at least per
      block). The masked groups are dropped from the encoder input like MAE's random patches,
      not replaced by noise as in GMML's corrupted-input formulation.

    The view is a random resized crop (scale ``(crop_scale_min, 1)``) and a flip, drawn on the
    device (MAE's pre-training augmentation). Evaluation features: mean of the encoder's patch
    outputs on un-masked images (probes understate MAE; fine-tuning is its protocol).

    Args:
        encoder: A :class:`~selfsup_vision.encoders.ViTEncoder` (default None: 32x32, patch 4,
            width 192, 6 blocks).
        in_channels: Image channels (default 3).
        mask_ratio: Masked share of the patches (default 0.75).
        masking: ``"random"`` (default) or ``"group"``.
        group_min_block: Smallest group, in patches (default 4, BEiT's ``min_num_patches``).
        decoder_dim: Decoder width (default 128).
        decoder_layers: Decoder blocks (default 2).
        decoder_heads: Decoder heads (default 4).
        norm_pix_loss: Per-patch normalised targets (default True).
        crop_scale_min: Smallest crop area fraction (default 0.2, MAE).

    Shapes:
        batch: images ``(B, C, S, S)`` in ``[0, 1]`` with ``S`` the ViT's image size, or an
            ``(images, labels)`` pair.
        embed: the same -> ``(B, d)``.

    Raises:
        MalformedBatchError: malformed batches or images of the wrong size.
        ValueError: bad masking / ratio, a non-ViT encoder.
    """

    modality = "vision"

    def __init__(
        self,
        encoder: nn.Module | None = None,
        in_channels: int = 3,
        mask_ratio: float = 0.75,
        masking: Literal["random", "group"] = "random",
        group_min_block: int = 4,
        decoder_dim: int = 128,
        decoder_layers: int = 2,
        decoder_heads: int = 4,
        norm_pix_loss: bool = True,
        crop_scale_min: float = 0.2,
    ) -> None:
        super().__init__()
        if masking not in _MASKINGS:
            raise ValueError(f"masking must be one of {_MASKINGS}, got {masking!r}.")
        if not 0.0 < mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must lie in (0, 1), got {mask_ratio}.")
        self.encoder: ViTEncoder = require_vit(encoder, in_channels, "MAE")
        self.in_channels = in_channels
        self.mask_ratio = float(mask_ratio)
        self.masking = masking
        self.group_min_block = int(group_min_block)
        self.norm_pix_loss = norm_pix_loss
        p = self.encoder.patch_size
        self.decoder = MAEDecoder(
            self.encoder.out_dim,
            decoder_dim,
            decoder_layers,
            decoder_heads,
            self.encoder.num_patches,
            p * p * in_channels,
        )
        self.augment = SimCLRAugment(
            crop_scale_min=crop_scale_min, jitter_prob=0.0, grayscale_prob=0.0
        )

    def images(self, batch: Any) -> Tensor:
        """The batch's plain images (or first view), checked against the ViT's image size."""
        return parse_vit_images(
            batch, self.in_channels, type(self).__name__, self.encoder.image_size
        )

    def draw_mask(self, batch_size: int, device: torch.device) -> TokenMask:
        """This step's mask (``"random"`` on device; ``"group"`` on the CPU, moved once)."""
        length = self.encoder.num_patches
        if self.masking == "random":
            return random_token_mask(batch_size, length, self.mask_ratio, device=device)
        mask = block_mask(
            batch_size,
            self.encoder.grid,
            self.mask_ratio,
            min_block=self.group_min_block,
            generator=host_generator(),
            device=device,
        )
        return token_mask_from_bool(mask)

    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        images = self.augment(self.images(batch))
        m = self.draw_mask(images.shape[0], images.device)
        tokens = self.encoder.tokens(images, keep_idx=m.keep_idx)
        pred = self.decoder(tokens, m.restore_idx)
        target = pixel_targets(images, self.encoder.patch_size, self.norm_pix_loss)
        return {"loss": latent_regression(pred, target, mask=m.mask)}

    def representations(self, batch: Any) -> Tensor:
        """Mean patch features of the un-masked training images, detached."""
        return self.embed(batch).detach()

    def embed(self, batch: Any) -> Tensor:
        """Mean of the encoder's patch outputs on whole images ``(B, d)``."""
        tokens = self.encoder.tokens(self.images(batch))
        return tokens[:, 1:].mean(dim=1)

    def export_encoder(self) -> ViTEncoder:
        """The ViT encoder (``vision:vit``), without the decoder: MAE's downstream encoder.

        MAE keeps only the encoder for recognition (arXiv 2111.06377, Sec. 3). Its
        ``forward(images)`` pools as its ``pooling`` says; with ``"mean"`` (the default) that is
        :meth:`embed`, with ``"cls"`` the [CLS] output instead of the patch mean.
        """
        return self.encoder
