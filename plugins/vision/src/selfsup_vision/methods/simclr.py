"""SimCLR (Chen et al., arXiv 2002.05709) on images, with the DCL / DCLW and SupCon losses."""

from __future__ import annotations

from functools import partial
from typing import Any, Literal

from torch import Tensor, nn
from torch.nn import functional as F

from selfsup.checks import check_positive
from selfsup.encoders import SimCLRProjectionHead
from selfsup.experiment.method import MalformedBatchError
from selfsup.losses import dcl, nt_xent, supcon
from selfsup_vision.augment.simclr import SimCLRAugment
from selfsup_vision.encoders.convnet import SmallConvNet
from selfsup_vision.encoders.resnet import ResNet18Encoder
from selfsup_vision.methods.joint_embedding import JointEmbeddingMethod

__all__ = ["SimCLR"]

_LOSSES = ("nt_xent", "dcl", "dclw", "supcon")


class SimCLR(JointEmbeddingMethod):
    """SimCLR: two augmented views per image, an encoder ``f``, an MLP head ``g`` and NT-Xent.

    .. math::

        h = f(\\tilde x), \\quad z = g(h) = W_2\\, \\mathrm{ReLU}(\\mathrm{BN}(W_1 h)), \\quad
        L = \\mathrm{NT\\text{-}Xent}_\\tau(z^{(1)}, z^{(2)})

    (``g``: :class:`selfsup.encoders.SimCLRProjectionHead`; :func:`selfsup.losses.nt_xent`: for
    each of the ``2B`` views the positive is the other view of the same image and the negatives
    are the ``2(B-1)`` views of the other images.)
    ``loss="dcl"`` uses decoupled contrastive learning instead (Yeh et al., arXiv 2110.06848,
    :func:`selfsup.losses.dcl`: the positive is removed from the denominator, **one**
    log-sum-exp over the ``2B - 2`` negatives — lightly's pre-#1827 two-log-sum-exp form is
    wrong); ``"dclw"`` adds the von Mises-Fisher positive weights ``w_i = 2 - B softmax_i(s_ii /
    sigma)``. Both views are drawn on the images' device by
    :class:`~selfsup_vision.augment.SimCLRAugment` (crop, flip, colour jitter of strength
    ``s``, grayscale) and encoded in one forward pass, unless the batch brings its own views
    (``{"views": [...]}``, multi-crop allowed: local crops are contrasted with each global view).
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
        temperature: NT-Xent / DCL temperature (default 0.5, the paper's CIFAR-10 value).
        crop_scale_min: Smallest random-crop area fraction (default 0.08).
        jitter_strength: Colour-jitter strength ``s`` (brightness/contrast/saturation ``0.8 s``,
            hue ``0.2 s``; default 0.5, the CIFAR-10 value; 1.0 on ImageNet).
        jitter_prob: Probability of colour jitter (default 0.8).
        grayscale_prob: Probability of grayscale (default 0.2).
        flip_prob: Probability of a horizontal flip (default 0.5).
        chunk_size: Stream the loss's similarity matrix in blocks of this many columns
            (default None: dense).
        encoder: Any encoder module with an ``out_dim`` attribute (e.g.
            :class:`~selfsup_vision.encoders.ResNetEncoder` or
            :class:`~selfsup_vision.encoders.ViTEncoder`); overrides ``backbone`` (default None).
        loss: ``"nt_xent"`` (default), ``"dcl"``, ``"dclw"`` or ``"supcon"`` (supervised
            contrastive over all views with the batch's labels or pseudo-labels:
            :func:`selfsup.losses.supcon`; batches must carry labels >= 0).
        dclw_sigma: DCLW weight scale ``sigma`` (default 0.5).
        matryoshka_dims: Nested prefix sizes of ``z`` for the Matryoshka loss (default None: off).

    Shapes:
        batch: images ``(B, C, H, W)`` floating point in ``[0, 1]``, ``B >= 2``, or an
            ``(images, labels)`` pair / list (torchvision datasets' default collation; the
            labels are ignored and may be None), or ``{"views": [v1, v2, ...]}``.
        embed: the same inputs -> ``(B, D)`` with ``D = feature_dim`` (512 for ResNet-18).

    Raises:
        MalformedBatchError: the batch is not images of shape ``(B, in_channels, H, W)``
            with ``B >= 2``, or not floating point.
        ValueError: unknown backbone or loss, ``temperature <= 0``.
    """

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
        encoder: nn.Module | None = None,
        loss: Literal["nt_xent", "dcl", "dclw", "supcon"] = "nt_xent",
        dclw_sigma: float = 0.5,
        matryoshka_dims: list[int] | None = None,
    ) -> None:
        super().__init__()
        check_positive("temperature", temperature)
        check_positive("dclw_sigma", dclw_sigma)
        if loss not in _LOSSES:
            raise ValueError(f"loss must be one of {_LOSSES}, got {loss!r}.")
        if encoder is None:
            if backbone == "small_convnet":
                encoder = SmallConvNet(in_channels, width, feature_dim)
            elif backbone == "resnet18":
                encoder = ResNet18Encoder(in_channels, cifar_stem=cifar_stem)
            else:
                raise ValueError(
                    f"backbone must be 'small_convnet' or 'resnet18', got {backbone!r}; pass "
                    "encoder= for other encoders."
                )
        self._setup(encoder, in_channels, None, matryoshka_dims, projection_dim)
        self.temperature = temperature
        self.chunk_size = chunk_size
        self.loss_kind = loss
        self.dclw_sigma = dclw_sigma
        self.augments = nn.ModuleList(
            [
                SimCLRAugment(
                    crop_scale_min=crop_scale_min,
                    flip_prob=flip_prob,
                    jitter_prob=jitter_prob,
                    brightness=0.8 * jitter_strength,
                    contrast=0.8 * jitter_strength,
                    saturation=0.8 * jitter_strength,
                    hue=min(0.5, 0.2 * jitter_strength),
                    grayscale_prob=grayscale_prob,
                )
            ]
        )
        self.projector = SimCLRProjectionHead(self.feature_dim, hidden_dim, projection_dim)

    @property
    def augment(self) -> SimCLRAugment:
        """The on-device augmentation both views are drawn from."""
        return self.augments[0]  # type: ignore[return-value]

    def _labels(self, labels: Any, n: int) -> Tensor:
        if not isinstance(labels, Tensor) or labels.shape != (n,) or labels.is_floating_point():
            raise MalformedBatchError(
                f"SimCLR(loss='supcon') needs a class id per image (an (images, labels) batch "
                f"with integer labels of shape ({n},)), got {type(labels).__name__}"
                f"{tuple(labels.shape) if isinstance(labels, Tensor) else ''}."
            )
        if bool((labels < 0).any()):
            raise MalformedBatchError(
                "SimCLR(loss='supcon') got label -1 (an unlabelled image); give every image a "
                "class or pseudo-label (cluster id), or use loss='nt_xent'."
            )
        return labels.long()

    def contrastive_loss(self, z1: Tensor, z2: Tensor) -> Tensor:
        """NT-Xent, DCL or DCLW of two projection batches (see the class docstring)."""
        if self.loss_kind == "nt_xent":
            return nt_xent(z1, z2, self.temperature, chunk_size=self.chunk_size)
        weight_fn = "vmf" if self.loss_kind == "dclw" else None
        fn = partial(dcl, weight_fn=weight_fn, sigma=self.dclw_sigma, chunk_size=self.chunk_size)
        return fn(z1, z2, self.temperature)

    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        parsed = self.parse(batch)
        views = parsed.views if parsed.views is not None else self.draw_views(parsed.images)
        zs = self.encode(views, self.projector)
        if self.loss_kind == "supcon":
            labels = self._labels(parsed.labels, zs[0].shape[0])

            def fn(*z: Tensor) -> Tensor:
                return supcon(*z, labels=labels, temperature=self.temperature)

            loss = self.embedding_loss(fn, *zs)
        else:
            loss = self.pair_mean(zs, self.contrastive_loss)
        positive_cosine = F.cosine_similarity(zs[0].detach(), zs[1].detach(), dim=1).mean()
        return {"loss": loss, "positive_cosine": positive_cosine}
