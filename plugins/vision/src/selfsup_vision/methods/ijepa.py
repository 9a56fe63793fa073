"""I-JEPA (Assran et al., arXiv 2301.08243) on a Hugging Face ViT."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from selfsup.deprecation import replaced_by
from selfsup.encoders.jepa_predictor import JEPAPredictor
from selfsup.experiment.method import Method
from selfsup.losses import latent_regression
from selfsup.masking import gather_tokens, multiblock_mask
from selfsup.teachers import EMATeacher
from selfsup_vision.augment.simclr import SimCLRAugment
from selfsup_vision.batch import parse_vit_images
from selfsup_vision.encoders.vit import ViTEncoder, require_vit
from selfsup_vision.patches import host_generator

__all__ = ["IJEPA"]


#: Deprecated: the predictor is core's JEPAPredictor (positional arguments in the old order).
IJEPAPredictor = replaced_by(
    "selfsup_vision.methods.ijepa.IJEPAPredictor",
    "selfsup.encoders.JEPAPredictor(enc_dim, dim, depth=, num_heads=, num_positions=)",
    lambda enc_dim, dim, layers, heads, num_patches: JEPAPredictor(
        enc_dim, dim, depth=layers, num_heads=heads, num_positions=num_patches
    ),
)


class IJEPA(Method):
    """I-JEPA: from one large context block, predict an EMA target encoder's latents of
    several target blocks of the same image.

    Per batch, :func:`selfsup.masking.multiblock_mask` draws ``num_targets`` target blocks
    (scale ``target_scale``, aspect ``target_aspect``) and a context block (``context_scale``)
    minus the targets, padded with validity masks instead of truncated. With context encoder
    ``f`` (:class:`~selfsup_vision.encoders.ViTEncoder` on the context patches only, padding
    masked out of attention), target encoder ``\\bar f`` (EMA of ``f``, momentum linear
    0.996 -> 1, on the whole image, outputs layer-normed without affine as I-JEPA) and the
    narrow predictor ``g``:

    .. math::

        L = \\frac{1}{\\sum_k |T_k|} \\sum_k \\sum_{j \\in T_k}
            \\frac{1}{d} \\sum_c \\rho\\big(g(f(x_C), j)_c - \\mathrm{LN}(\\bar f(x))_{j,c}\\big)

    computed by :func:`selfsup.losses.latent_regression` (``rho`` smooth-L1 as the official
    code, or ``"mse"``) over the valid target tokens. The view is a random resized crop with
    scale ``(0.3, 1)`` and no flip/colour (the official recipe). Evaluation features: mean of the
    target encoder's patch outputs (I-JEPA's probe protocol).

    Args:
        encoder: A :class:`~selfsup_vision.encoders.ViTEncoder` (default None: 32x32, patch 4).
        in_channels: Image channels (default 3).
        predictor_dim: Predictor width (default 96; narrower than the encoder).
        predictor_layers: Predictor blocks (default 2).
        predictor_heads: Predictor heads (default 4).
        num_targets: Target blocks per image (default 4).
        target_scale: Target block area range (default (0.15, 0.2)).
        target_aspect: Target block aspect range (default (0.75, 1.5)).
        context_scale: Context block area range (default (0.85, 1.0)).
        momentum: EMA schedule (default ``"linear:0.996:1.0"``).
        loss: ``"smooth_l1"`` (default) or ``"mse"``.
        crop_scale_min: Smallest crop area fraction (default 0.3).

    Shapes:
        batch: images ``(B, C, S, S)`` in ``[0, 1]`` (``S`` the ViT's size) or ``(images, labels)``.
        embed: the same -> ``(B, d)``.

    Raises:
        MalformedBatchError: malformed batches or images of the wrong size.
        ValueError: a non-ViT encoder, bad scales.
    """

    modality = "vision"

    def __init__(
        self,
        encoder: nn.Module | None = None,
        in_channels: int = 3,
        predictor_dim: int = 96,
        predictor_layers: int = 2,
        predictor_heads: int = 4,
        num_targets: int = 4,
        target_scale: tuple[float, float] = (0.15, 0.2),
        target_aspect: tuple[float, float] = (0.75, 1.5),
        context_scale: tuple[float, float] = (0.85, 1.0),
        momentum: str | float = "linear:0.996:1.0",
        loss: str = "smooth_l1",
        crop_scale_min: float = 0.3,
    ) -> None:
        super().__init__()
        if loss not in ("smooth_l1", "mse"):
            raise ValueError(f"loss must be 'smooth_l1' or 'mse', got {loss!r}.")
        self.encoder: ViTEncoder = require_vit(encoder, in_channels, "IJEPA")
        self.in_channels = in_channels
        self.target = EMATeacher(self.encoder, momentum)
        self.predictor = JEPAPredictor(
            self.encoder.out_dim,
            predictor_dim,
            depth=predictor_layers,
            num_heads=predictor_heads,
            num_positions=self.encoder.num_patches,
        )
        self.mask_kwargs = {
            "num_targets": int(num_targets),
            "target_scale": tuple(target_scale),
            "target_aspect": tuple(target_aspect),
            "context_scale": tuple(context_scale),
        }
        multiblock_mask(1, self.encoder.grid, **self.mask_kwargs)  # validate the arguments now
        self.loss_kind = loss
        self.augment = SimCLRAugment(
            crop_scale_min=crop_scale_min, flip_prob=0.0, jitter_prob=0.0, grayscale_prob=0.0
        )

    def images(self, batch: Any) -> Tensor:
        """The batch's plain images (or first view), checked against the ViT's image size."""
        return parse_vit_images(
            batch, self.in_channels, type(self).__name__, self.encoder.image_size
        )

    def target_tokens(self, images: Tensor) -> Tensor:
        """Layer-normed target-encoder patch outputs ``(B, L, d)`` (no grad)."""
        with torch.no_grad():
            tokens = self.target.teacher.tokens(images)[:, 1:]
            return F.layer_norm(tokens, tokens.shape[-1:])

    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        images = self.augment(self.images(batch))
        b = images.shape[0]
        m = multiblock_mask(
            b,
            self.encoder.grid,
            generator=host_generator(),
            device=images.device,
            **self.mask_kwargs,  # type: ignore[arg-type]
        )
        full = self.target_tokens(images)
        t, lt = m.target_idx.shape[1:]
        target = gather_tokens(full, m.target_idx.reshape(b, t * lt)).reshape(b, t, lt, -1)
        pad = ~m.context_valid
        ctx = self.encoder.tokens(images, keep_idx=m.context_idx, key_padding_mask=pad)[:, 1:]
        pred = self.predictor(ctx, m.context_idx, m.target_idx, pad)
        loss = latent_regression(pred, target, kind=self.loss_kind, mask=m.target_valid)
        return {"loss": loss, "context_tokens": m.context_valid.sum(1).float().mean()}

    def representations(self, batch: Any) -> Tensor:
        """Mean target-encoder patch features of the training images, detached."""
        return self.embed(batch).detach()

    def embed(self, batch: Any) -> Tensor:
        """Mean of the target encoder's patch outputs ``(B, d)``."""
        with torch.no_grad():
            return self.target.teacher.tokens(self.images(batch))[:, 1:].mean(dim=1)

    def export_encoder(self) -> ViTEncoder:
        """The EMA *target* encoder (``vision:vit``), not the context encoder nor the predictor.

        I-JEPA's downstream protocol evaluates the target encoder, average-pooling its patch
        outputs (arXiv 2301.08243), as :meth:`embed` does; the context encoder is the one
        trained by gradient, the target its EMA. Its ``forward(images)`` is
        :meth:`embed` with ``pooling="mean"`` (the default); with ``"cls"`` it returns the [CLS]
        output instead.
        """
        return self.target.teacher  # type: ignore[return-value]
