"""SimCLR (Chen et al., arXiv 2002.05709) on images."""

from __future__ import annotations

from typing import Any, Literal

from torch import Tensor, nn
from torch.nn import functional as F

from selfsup.checks import check_positive
from selfsup.experiment.method import MalformedBatchError, Method
from selfsup.losses import nt_xent
from selfsup_vision.encoders.convnet import SmallConvNet
from selfsup_vision.encoders.resnet import ResNet18Encoder
from selfsup_vision.transforms.simclr import SimCLRAugment

__all__ = ["SimCLR"]


class SimCLR(Method):
    """SimCLR: two augmented views per image, an encoder ``f``, an MLP head ``g`` and NT-Xent.

    .. math::

        h = f(\\tilde x), \\quad z = g(h) = W_2\\, \\mathrm{ReLU}(\\mathrm{BN}(W_1 h)), \\quad
        L = \\mathrm{NT\\text{-}Xent}_\\tau(z^{(1)}, z^{(2)})

    (:func:`selfsup.losses.nt_xent`: for each of the ``2B`` views the positive is the other
    view of the same image and the negatives are the ``2(B-1)`` views of the other images.)
    Both views are drawn on the images' device by :class:`~selfsup_vision.transforms.SimCLRAugment`
    (crop, flip, colour jitter of strength ``s``, grayscale) and encoded in one forward pass.
    Evaluation features (:meth:`embed`) are the encoder output ``h`` of un-augmented images.

    Args:
        backbone: ``"small_convnet"`` (:class:`~selfsup_vision.encoders.SmallConvNet`) or
            ``"resnet18"`` (:class:`~selfsup_vision.encoders.ResNet18Encoder`, torchvision).
        in_channels: Image channels ``C`` (default 3).
        width: SmallConvNet base width (default 32).
        feature_dim: SmallConvNet output size (ResNet-18: always 512) (default 128).
        cifar_stem: ResNet-18 with the 3x3 stride-1 stem for small images (default True).
        hidden_dim: Projection-head hidden size (default 512).
        projection_dim: Projection size, the loss space (default 128).
        temperature: NT-Xent temperature (default 0.5, the paper's CIFAR-10 value).
        crop_scale_min: Smallest random-crop area fraction (default 0.08).
        jitter_strength: Colour-jitter strength ``s`` (brightness/contrast/saturation ``0.8 s``,
            hue ``0.2 s``; default 0.5, the CIFAR-10 value; 1.0 on ImageNet).
        jitter_prob: Probability of colour jitter (default 0.8).
        grayscale_prob: Probability of grayscale (default 0.2).
        flip_prob: Probability of a horizontal flip (default 0.5).
        chunk_size: Stream the loss's similarity matrix in blocks of this many columns
            (default None: dense).

    Shapes:
        batch: images ``(B, C, H, W)`` floating point in ``[0, 1]``, ``B >= 2``, or an
            ``(images, labels)`` pair / list (torchvision datasets' default collation; the
            labels are ignored and may be None).
        embed: the same inputs -> ``(B, D)`` with ``D = feature_dim`` (512 for ResNet-18).

    Raises:
        MalformedBatchError: the batch is not images of shape ``(B, in_channels, H, W)``
            with ``B >= 2``, or not floating point.
    """

    modality = "vision"

    def __init__(
        self,
        backbone: Literal["small_convnet", "resnet18"] = "small_convnet",
        in_channels: int = 3,
        width: int = 32,
        feature_dim: int = 128,
        cifar_stem: bool = True,
        hidden_dim: int = 512,
        projection_dim: int = 128,
        temperature: float = 0.5,
        crop_scale_min: float = 0.08,
        jitter_strength: float = 0.5,
        jitter_prob: float = 0.8,
        grayscale_prob: float = 0.2,
        flip_prob: float = 0.5,
        chunk_size: int | None = None,
    ) -> None:
        super().__init__()
        check_positive("temperature", temperature)
        self.encoder: nn.Module
        if backbone == "small_convnet":
            self.encoder = SmallConvNet(in_channels, width, feature_dim)
        elif backbone == "resnet18":
            self.encoder = ResNet18Encoder(in_channels, cifar_stem=cifar_stem)
        else:
            raise ValueError(f"backbone must be 'small_convnet' or 'resnet18', got {backbone!r}.")
        self.in_channels = in_channels
        self.temperature = temperature
        self.chunk_size = chunk_size
        self.augment = SimCLRAugment(
            crop_scale_min=crop_scale_min,
            flip_prob=flip_prob,
            jitter_prob=jitter_prob,
            brightness=0.8 * jitter_strength,
            contrast=0.8 * jitter_strength,
            saturation=0.8 * jitter_strength,
            hue=min(0.5, 0.2 * jitter_strength),
            grayscale_prob=grayscale_prob,
        )
        out_dim = int(self.encoder.out_dim)  # type: ignore[arg-type]
        self.projector = nn.Sequential(
            nn.Linear(out_dim, hidden_dim, bias=False),
            nn.BatchNorm1d(hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, projection_dim),
        )

    def images(self, batch: Any) -> Tensor:
        """The ``(B, C, H, W)`` images of a batch, validated."""
        name = type(self).__name__
        images = batch
        if isinstance(batch, list | tuple):
            if len(batch) != 2:
                raise MalformedBatchError(
                    f"{name} expects images (B, C, H, W) or an (images, labels) pair, got a "
                    f"{type(batch).__name__} of length {len(batch)}; pass un-augmented images: "
                    "SimCLR draws its two views itself."
                )
            images = batch[0]
        if not isinstance(images, Tensor):
            raise MalformedBatchError(
                f"{name} expects images as a tensor (B, C, H, W), got {type(images).__name__}."
            )
        if images.dim() != 4 or images.shape[1] != self.in_channels:
            raise MalformedBatchError(
                f"{name} expects images of shape (B, {self.in_channels}, H, W), got "
                f"{tuple(images.shape)}; set in_channels or add the channel dimension."
            )
        if not images.is_floating_point():
            raise MalformedBatchError(
                f"{name} expects floating-point images in [0, 1], got {images.dtype}; convert "
                "uint8 images with images.float() / 255."
            )
        return images

    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        images = self.images(batch)
        if images.shape[0] < 2:
            raise MalformedBatchError(
                f"{type(self).__name__} needs at least 2 images per batch (in-batch negatives), "
                f"got {images.shape[0]}; use drop_last=True in the DataLoader."
            )
        views = self.augment(images.repeat(2, 1, 1, 1))
        z1, z2 = self.projector(self.encoder(views)).chunk(2)
        loss = nt_xent(z1, z2, self.temperature, chunk_size=self.chunk_size)
        positive_cosine = F.cosine_similarity(z1.detach(), z2.detach(), dim=1).mean()
        return {"loss": loss, "positive_cosine": positive_cosine}

    def representations(self, batch: Any) -> Tensor:
        """Encoder features of the un-augmented training images, detached."""
        return self.encoder(self.images(batch)).detach()

    def embed(self, batch: Any) -> Tensor:
        """Encoder features ``h`` of un-augmented images (or an ``(images, labels)`` pair)."""
        return self.encoder(self.images(batch))
