"""Shared plumbing of the two-view (joint-embedding) image methods: batches, views, encoders.

The projection / prediction heads live in :mod:`selfsup.encoders` (``heads.py``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from selfsup.experiment.method import MalformedBatchError, Method
from selfsup.losses import check_matryoshka_dims, matryoshka
from selfsup_vision.augment.presets import device_augments
from selfsup_vision.batch import ImageBatch, parse_image_batch

__all__ = [
    "JointEmbeddingMethod",
    "default_encoder",
    "frozen_prototypes_reason",
    "mlp",
    "view_pairs",
]


def default_encoder(encoder: nn.Module | None, in_channels: int) -> nn.Module:
    """``encoder`` itself, or a CIFAR-stem ResNet-18 when None; checks ``out_dim``.

    Raises:
        ValueError: the encoder has no integer ``out_dim`` attribute.
    """
    if encoder is None:
        from selfsup_vision.encoders.resnet import ResNetEncoder

        encoder = ResNetEncoder(18, in_channels=in_channels, cifar_stem=True)
    out_dim = getattr(encoder, "out_dim", None)
    if not isinstance(out_dim, int) or out_dim < 1:
        raise ValueError(
            f"encoder {type(encoder).__name__} must expose its feature size as an int attribute "
            "out_dim (every selfsup_vision encoder does)."
        )
    return encoder


def mlp(dims: Sequence[int], *, last_bn: bool = False, last_bias: bool = True) -> nn.Sequential:
    """Deprecated: use :mod:`selfsup.encoders` heads (removed in the next release).

    ``mlp(dims)`` is ``ProjectionHead(mlp_blocks(dims))`` (same layers, same ``state_dict``
    keys), or the paper presets ``SimCLRProjectionHead``, ``BYOLProjectionHead``, ... built the
    same way. ``last_bn`` appends an affine-free BatchNorm; ``last_bias=False`` drops the last
    bias (kept as they were, for callers of this function).
    """
    warnings.warn(
        "selfsup_vision.methods.joint_embedding.mlp is deprecated: use "
        "selfsup.encoders.ProjectionHead(mlp_blocks(dims)) or a preset such as "
        "selfsup.encoders.SimCLRProjectionHead (mlp is removed in the next release).",
        DeprecationWarning,
        stacklevel=2,
    )
    if len(dims) < 2:
        raise ValueError(f"an MLP needs at least input and output sizes, got {list(dims)}.")
    layers: list[nn.Module] = []
    for i in range(len(dims) - 2):
        layers += [nn.Linear(dims[i], dims[i + 1], bias=False), nn.BatchNorm1d(dims[i + 1])]
        layers.append(nn.ReLU(inplace=True))
    layers.append(nn.Linear(dims[-2], dims[-1], bias=last_bias))
    if last_bn:
        layers.append(nn.BatchNorm1d(dims[-1], affine=False))
    return nn.Sequential(*layers)


def frozen_prototypes_reason(steps: int) -> str | None:
    """What DINO and SwAV tell DDP while their prototypes are frozen (``Method.
    unused_parameters_reason``): a sentence for ``steps > 0``, else None."""
    if steps > 0:
        return (
            f"the prototypes get no gradient in the first {steps} steps (freeze_prototypes_steps)"
        )
    return None


def view_pairs(num_views: int) -> list[tuple[int, int]]:
    """Pairs a loss is applied to: the two global views, then every local crop with each global.

    ``[(0, 1)] + [(l, g) for l in 2..V-1 for g in (0, 1)]`` (multi-crop, SwAV arXiv 2006.09882).
    """
    return [(0, 1)] + [(v, g) for v in range(2, num_views) for g in (0, 1)]


class JointEmbeddingMethod(Method):
    """Base of SimCLR, BYOL, Barlow Twins and VICReg: views -> encoder -> head -> loss on pairs.

    Subclasses set ``self.encoder`` (features, with ``out_dim``), ``self.augments`` (one
    on-device augmentation per view, or one shared) and implement ``training_losses`` with
    :meth:`views` / :meth:`encode` / :meth:`embedding_loss`. Evaluation features are the encoder
    outputs of un-augmented images.

    The Matryoshka switch (``matryoshka_dims``, Kusupati et al., arXiv 2205.13147) applies the
    embedding loss to nested prefixes of the head output through
    :func:`selfsup.losses.matryoshka` (sum over prefixes, weights 1).
    """

    modality = "vision"
    in_channels: int
    matryoshka_dims: tuple[int, ...] | None

    def _setup(
        self,
        encoder: nn.Module | None,
        in_channels: int,
        views: str | None,
        matryoshka_dims: Sequence[int] | None,
        head_dim: int,
    ) -> None:
        self.in_channels = int(in_channels)
        self.encoder = default_encoder(encoder, in_channels)
        if views is not None:
            self.augments = nn.ModuleList(device_augments(views))
        self.matryoshka_dims = check_matryoshka_dims(matryoshka_dims or None, head_dim)

    @property
    def feature_dim(self) -> int:
        return int(self.encoder.out_dim)  # type: ignore[arg-type]

    # -- batches ------------------------------------------------------------------------------
    def parse(self, batch: Any, min_batch: int = 2) -> ImageBatch:
        parsed = parse_image_batch(batch, self.in_channels, type(self).__name__)
        if parsed.batch_size < min_batch:
            raise MalformedBatchError(
                f"{type(self).__name__} needs at least {min_batch} images per batch (batch "
                f"statistics / in-batch negatives), got {parsed.batch_size}; use drop_last=True "
                "in the DataLoader (the default of the selfsup_vision data modules)."
            )
        return parsed

    def draw_views(self, images: Tensor) -> list[Tensor]:
        """Two augmented views of un-augmented images, drawn on their device."""
        augments = list(self.augments)
        if len(augments) == 1:  # one distribution: draw both views in one call
            return list(augments[0](images.repeat(2, 1, 1, 1)).chunk(2))
        return [augments[0](images), augments[1](images)]

    def views(self, batch: Any) -> list[Tensor]:
        parsed = self.parse(batch)
        return parsed.views if parsed.views is not None else self.draw_views(parsed.images)

    def encode(self, views: list[Tensor], head: Callable[[Tensor], Tensor]) -> list[Tensor]:
        """``head(encoder(view))`` per view; views of one shape share a forward pass."""
        out: list[Tensor | None] = [None] * len(views)
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, v in enumerate(views):
            groups.setdefault(tuple(v.shape), []).append(i)
        for idx in groups.values():
            z = head(self.encoder(torch.cat([views[i] for i in idx])))
            for i, part in zip(idx, z.chunk(len(idx)), strict=True):
                out[i] = part
        return out  # type: ignore[return-value]

    def embedding_loss(self, fn: Callable[..., Tensor], *embeddings: Tensor) -> Tensor:
        """``fn(*embeddings)``, or its Matryoshka sum over ``matryoshka_dims`` prefixes."""
        if self.matryoshka_dims is None:
            return fn(*embeddings)
        return matryoshka(fn, *embeddings, dims=self.matryoshka_dims)

    def pair_mean(self, zs: list[Tensor], fn: Callable[[Tensor, Tensor], Tensor]) -> Tensor:
        """Mean of :meth:`embedding_loss` over :func:`view_pairs`."""
        pairs = view_pairs(len(zs))
        total = sum(self.embedding_loss(fn, zs[a], zs[b]) for a, b in pairs)
        return total / len(pairs)  # type: ignore[return-value]

    # -- evaluation ---------------------------------------------------------------------------
    def _plain(self, batch: Any) -> Tensor:
        return parse_image_batch(batch, self.in_channels, type(self).__name__).first

    def representations(self, batch: Any) -> Tensor:
        """Encoder features of the un-augmented training images (first view), detached."""
        return self.encoder(self._plain(batch)).detach()

    def embed(self, batch: Any) -> Tensor:
        """Encoder features ``(B, D)`` of un-augmented images (or an ``(images, labels)`` pair)."""
        return self.encoder(self._plain(batch))

    def export_encoder(self) -> nn.Module:
        """The encoder :meth:`embed` runs (``self.encoder``), without projector or predictor.

        Its ``forward(images)`` is :meth:`embed` of an image tensor. For BYOL / DirectPred this
        is the *online* encoder, the one BYOL keeps after training (arXiv 2006.07733, Sec. 3.1);
        the EMA target is left behind. Exportable when the encoder is one of
        :mod:`selfsup_vision.encoders` (``vision:resnet``, ``vision:resnet18``,
        ``vision:small_convnet``, ``vision:vit``).
        """
        return self.encoder
