"""MoCo v2 (Chen et al., arXiv 2003.04297: a momentum key encoder and a queue of negatives)
and MoCo v3 (arXiv 2104.02057: a predictor, batch negatives, no queue)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.encoders import (
    MoCoV3PredictionHead,
    MoCoV3ProjectionHead,
    ProjectionHead,
    mlp_blocks,
)
from selfsup.losses import info_nce
from selfsup.teachers import EMATeacher, MemoryQueue
from selfsup_vision.methods.joint_embedding import JointEmbeddingMethod

__all__ = ["MoCo", "MoCoV3"]


class MoCo(JointEmbeddingMethod):
    """MoCo v2: queries from the online network, keys from its EMA copy, negatives from a queue
    of past keys.

    .. math::

        \\ell_i = -\\log \\frac{e^{q_i \\cdot k_i / \\tau}}
            {e^{q_i \\cdot k_i / \\tau} + \\sum_{n \\in \\mathcal{Q}} e^{q_i \\cdot n / \\tau}}

    with ``q = g(f(v_1))``, ``k = \\bar g(\\bar f(v_2))`` (the :class:`~selfsup.teachers.
    EMATeacher` copies of encoder and head, normalised) and :math:`\\mathcal{Q}` the
    :class:`~selfsup.teachers.MemoryQueue` of the last ``queue_size`` keys, every rank's
    (:func:`selfsup.losses.info_nce` with ``in_batch_negatives=False``: the other queries' keys
    are not negatives, as the reference's ``[l_pos | l_neg]`` logits). After the loss, this
    step's keys enter the queue. ``symmetric=True`` adds the loss with the views swapped and
    pushes both views' keys (solo-learn's "MoCo v2+"). The queue never holds placeholders: in
    the first step, while it is empty, the other queries' keys serve as negatives instead (the
    reference starts from random unit vectors). The head is MoCo v2's MLP,
    ``Linear-ReLU-Linear``. The reference's shuffled BatchNorm across GPUs is not reproduced;
    under DDP, ``sync_batchnorm`` is the alternative.

    Args:
        encoder: Encoder with ``out_dim`` (default None: CIFAR-stem ResNet-18).
        in_channels: Image channels (default 3).
        hidden_dim: Head hidden width (default 2048).
        projection_dim: Key size (default 128).
        queue_size: Keys kept as negatives (default 65536, the paper's).
        temperature: :math:`\\tau` (default 0.2, MoCo v2).
        momentum: Key-encoder EMA schedule (default ``"constant:0.999"``, the paper's).
        symmetric: Both view orders, both keys queued (default False).
        views: View preset (default ``"simclr-imagenet"``: MoCo v2 adds blur to MoCo's views).

    Shapes:
        batch: images ``(B, C, H, W)`` in ``[0, 1]``, an ``(images, labels)`` pair or
            ``{"views": [v1, v2]}``.
        embed: ``(B, C, H, W)`` -> ``(B, encoder.out_dim)`` (the query encoder).

    Raises:
        ValueError: bad sizes, temperature or momentum.

    Examples:
        >>> from selfsup_vision.encoders import SmallConvNet
        >>> method = MoCo(SmallConvNet(width=8, out_dim=32), hidden_dim=64, projection_dim=16,
        ...               queue_size=64)
        >>> loss = method.training_losses(torch.rand(4, 3, 32, 32))["loss"]
        >>> len(method.queue)
        4
    """

    def __init__(
        self,
        encoder: nn.Module | None = None,
        in_channels: int = 3,
        hidden_dim: int = 2048,
        projection_dim: int = 128,
        queue_size: int = 65536,
        temperature: float = 0.2,
        momentum: str | float = "constant:0.999",
        symmetric: bool = False,
        views: str = "simclr-imagenet",
    ) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}.")
        self._setup(encoder, in_channels, views, None, projection_dim)
        dims = [self.feature_dim, hidden_dim, projection_dim]
        self.projector = ProjectionHead(mlp_blocks(dims, batch_norm=False))
        self.key_encoder = EMATeacher(self.encoder, momentum)
        self.key_projector = EMATeacher(self.projector, momentum)
        self.queue = MemoryQueue(queue_size, projection_dim)
        self.temperature = float(temperature)
        self.symmetric = symmetric

    def _contrast(self, q: Tensor, k: Tensor, negatives: Tensor) -> Tensor:
        if len(negatives) == 0:
            return info_nce(q, k, self.temperature)  # first step: in-batch negatives
        keys = torch.cat([k, negatives.to(k.dtype)])
        return info_nce(q, keys, self.temperature, in_batch_negatives=False)

    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        views = self.views(batch)[:2]
        queries = self.encode(views, self.projector)
        keys = F.normalize(self.key_projector(self.key_encoder(torch.cat(views))), dim=1)
        k1, k2 = keys.chunk(2)
        negatives = self.queue.keys()
        loss = self._contrast(queries[0], k2, negatives)
        if self.symmetric:
            loss = 0.5 * (loss + self._contrast(queries[1], k1, negatives))
        if self.training:
            self.queue.push(keys if self.symmetric else k2)
        with torch.no_grad():
            positive = F.cosine_similarity(queries[0], k2, dim=1).mean()
        return {"loss": loss, "positive_cosine": positive}


class MoCoV3(JointEmbeddingMethod):
    """MoCo v3 (Chen, Xie and He, arXiv 2104.02057): a query network with a predictor, its
    momentum copy without one, and the other samples of the (global) batch as negatives.

    .. math::

        \\mathcal{L} = \\mathrm{ctr}(q_1, k_2) + \\mathrm{ctr}(q_2, k_1), \\qquad
        \\mathrm{ctr}(q, k) = -\\frac{2\\tau}{N} \\sum_i
            \\log \\frac{e^{q_i \\cdot k_i / \\tau}}{\\sum_j e^{q_i \\cdot k_j / \\tau}}

    with ``q_v = h(g(f(x_v)))`` (encoder, :class:`~selfsup.encoders.MoCoV3ProjectionHead`,
    :class:`~selfsup.encoders.MoCoV3PredictionHead`) and ``k_v = \\bar g(\\bar f(x_v))`` from the
    :class:`~selfsup.teachers.EMATeacher` copies of encoder and projector, both normalised.
    :func:`selfsup.losses.info_nce` gathers every rank's keys (no queue: MoCo v3's negatives
    are the batch's); the ``2 tau`` factor is the reference's, which keeps the gradient scale
    independent of the temperature.

    Args:
        encoder: Encoder with ``out_dim`` (default None: CIFAR-stem ResNet-18; a ViT works too).
        in_channels: Image channels (default 3).
        hidden_dim: Projector and predictor hidden width (default 4096).
        projection_dim: Key size (default 256).
        temperature: :math:`\\tau` (default 0.2, the ViT setting; the reference uses 1.0 for
            ResNet-50).
        momentum: Key-network EMA schedule (default ``"cosine:0.99:1.0"``, the reference's).
        views: View preset (default ``"byol-cifar"``: MoCo v3 uses BYOL's asymmetric views).

    Shapes:
        batch: images ``(B, C, H, W)`` in ``[0, 1]``, an ``(images, labels)`` pair or
            ``{"views": [v1, v2]}``.
        embed: ``(B, C, H, W)`` -> ``(B, encoder.out_dim)`` (the query encoder).

    Raises:
        ValueError: bad sizes, temperature or momentum.

    Examples:
        >>> from selfsup_vision.encoders import SmallConvNet
        >>> method = MoCoV3(SmallConvNet(width=8, out_dim=32), hidden_dim=64, projection_dim=16)
        >>> sorted(method.training_losses(torch.rand(4, 3, 32, 32)))
        ['loss', 'positive_cosine']
    """

    def __init__(
        self,
        encoder: nn.Module | None = None,
        in_channels: int = 3,
        hidden_dim: int = 4096,
        projection_dim: int = 256,
        temperature: float = 0.2,
        momentum: str | float = "cosine:0.99:1.0",
        views: str = "byol-cifar",
    ) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}.")
        self._setup(encoder, in_channels, views, None, projection_dim)
        self.projector = MoCoV3ProjectionHead(self.feature_dim, hidden_dim, projection_dim)
        self.predictor = MoCoV3PredictionHead(projection_dim, hidden_dim, projection_dim)
        self.key_encoder = EMATeacher(self.encoder, momentum)
        self.key_projector = EMATeacher(self.projector, momentum)
        self.temperature = float(temperature)

    def _contrast(self, q: Tensor, k: Tensor) -> Tensor:
        return 2.0 * self.temperature * info_nce(q, k, self.temperature)

    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        views = self.views(batch)[:2]
        q1, q2 = self.encode(views, lambda h: self.predictor(self.projector(h)))
        k1, k2 = self.key_projector(self.key_encoder(torch.cat(views))).chunk(2)
        loss = self._contrast(q1, k2) + self._contrast(q2, k1)
        with torch.no_grad():
            positive = F.cosine_similarity(q1, k2, dim=1).mean()
        return {"loss": loss, "positive_cosine": positive}
