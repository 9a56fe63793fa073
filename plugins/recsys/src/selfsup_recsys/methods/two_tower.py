"""Two-tower retrieval with in-batch softmax and logQ correction (Yi et al., RecSys 2019)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from selfsup.checks import check_positive
from selfsup.experiment.method import MalformedBatchError, Method
from selfsup.losses import check_matryoshka_dims, info_nce, matryoshka
from selfsup.teachers import MemoryQueue
from selfsup_recsys.encoders.tower import IdTower
from selfsup_recsys.encoders.two_tower_encoder import TwoTowerEncoder

__all__ = ["TwoTowerRetrieval"]


class TwoTowerRetrieval(Method):
    """A user tower and an item tower trained with a sampled (in-batch) softmax.

    "Sampling-Bias-Corrected Neural Modeling for Large Corpus Item Recommendations"
    (Yi et al., RecSys 2019). For a batch of ``B`` (user, item) interactions with tower
    outputs ``u_i, v_j`` (L2-normalised when ``normalize``) and sampling probabilities
    ``p_j`` of the in-batch items,

    .. math::

        s_{ij} = \\frac{u_i \\cdot v_j}{\\tau} - \\log p_j, \\qquad
        L = -\\frac{1}{B} \\sum_i \\log \\frac{e^{s_{ii}}}{\\sum_j e^{s_{ij}}}

    The ``-log p_j`` term (logQ correction) removes the popularity bias of using the batch's
    items as negatives; it is applied when the batch holds ``"item_log_prob"`` (``log p_j``)
    and ``logq_correction`` is on. Computed by :func:`selfsup.losses.info_nce` with
    ``bias = -item_log_prob``. The other items of the batch are negatives even when they
    equal the positive item (no accidental-hit removal).

    ``cross_batch_negatives = M > 0`` adds the item vectors of the last ``M`` training
    interactions (every rank's) as extra negatives, with their own ``-log p`` (cross-batch
    negative sampling, Wang et al., SIGIR 2021, arXiv 2110.15154): a
    :class:`~selfsup.teachers.MemoryQueue`, filled after each step's loss, checkpointed. The
    queued vectors come from earlier item-tower weights and carry no gradient.

    ``matryoshka_dims = (d_1, ..., d_M)`` trains nested embeddings (Kusupati et al., NeurIPS
    2022): the loss is the sum of the same softmax over the first ``d_m`` features of both
    towers (:func:`selfsup.losses.matryoshka`; each prefix L2-normalised on its own when
    ``normalize``), so a prefix of the vectors (:func:`selfsup.losses.matryoshka_prefix`)
    retrieves on its own at a fraction of the scoring cost.

    Args:
        num_users: User vocabulary size (default 1000).
        num_items: Item vocabulary size (default 1000).
        embedding_dim: Embedding table width of both towers (default 64).
        hidden_dim: Tower MLP hidden width (default 128).
        output_dim: Tower output size (default 64).
        temperature: :math:`\\tau` (default 0.05).
        normalize: L2-normalise tower outputs (default True, as the paper).
        logq_correction: Subtract ``log p_j`` when the batch provides it (default True).
        chunk_size: Stream the ``B x B`` score matrix in column blocks (default None).
        cross_batch_negatives: Queue of past item vectors as extra negatives (default 0: off).
        matryoshka_dims: Nested prefix sizes, ascending, at most ``output_dim`` (default None:
            off); include ``output_dim`` to train the whole vector too.

    Shapes:
        batch: a mapping with ``"user_ids"`` ``(B,)`` int64 in ``[0, num_users)``,
            ``"item_ids"`` ``(B,)`` int64 in ``[0, num_items)``, ``B >= 2``, and optionally
            ``"item_log_prob"`` ``(B,)`` floating, finite, ``<= 0``.
        embed: a mapping with ``"user_ids"`` -> user vectors ``(B, output_dim)``, or with only
            ``"item_ids"`` -> item vectors (normalised when ``normalize``).

    Raises:
        MalformedBatchError: missing keys, wrong dtypes/shapes, ids out of range, bad log-probs.

    Examples:
        >>> model = TwoTowerRetrieval(num_users=10, num_items=20, output_dim=8)
        >>> model.embed({"item_ids": torch.tensor([0, 5])}).shape
        torch.Size([2, 8])
    """

    modality = "recsys"

    def __init__(
        self,
        num_users: int = 1000,
        num_items: int = 1000,
        embedding_dim: int = 64,
        hidden_dim: int = 128,
        output_dim: int = 64,
        temperature: float = 0.05,
        normalize: bool = True,
        logq_correction: bool = True,
        chunk_size: int | None = None,
        cross_batch_negatives: int = 0,
        matryoshka_dims: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        self.matryoshka_dims = check_matryoshka_dims(matryoshka_dims, output_dim)
        check_positive("temperature", temperature)
        if cross_batch_negatives < 0:
            raise ValueError(
                f"cross_batch_negatives must be >= 0 (0: off), got {cross_batch_negatives}."
            )
        self.num_users = num_users
        self.num_items = num_items
        self.temperature = temperature
        self.normalize = normalize
        self.logq_correction = logq_correction
        self.chunk_size = chunk_size
        self.user_tower = IdTower(num_users, embedding_dim, hidden_dim, output_dim)
        self.item_tower = IdTower(num_items, embedding_dim, hidden_dim, output_dim)
        # item vectors of earlier batches and their log-probabilities (last column), every rank's
        self.item_queue = (
            MemoryQueue(cross_batch_negatives, output_dim + 1, normalize=False)
            if cross_batch_negatives
            else None
        )

    # -- validation ----------------------------------------------------------
    def _mapping(self, batch: Any) -> Mapping[str, Any]:
        if not isinstance(batch, Mapping):
            raise MalformedBatchError(
                f"{type(self).__name__} expects a dict with 'user_ids' and 'item_ids' (and "
                f"optionally 'item_log_prob'), got {type(batch).__name__}."
            )
        return batch

    def _ids(self, batch: Mapping[str, Any], key: str, vocab: int, arg: str) -> Tensor:
        name = type(self).__name__
        if key not in batch:
            raise MalformedBatchError(
                f"{name} batch is missing {key!r} (keys: {sorted(map(str, batch))})."
            )
        ids = batch[key]
        if not isinstance(ids, Tensor) or ids.dim() != 1:
            got = tuple(ids.shape) if isinstance(ids, Tensor) else type(ids).__name__
            raise MalformedBatchError(f"{name} expects batch[{key!r}] of shape (B,), got {got}.")
        if ids.dtype != torch.long:
            raise MalformedBatchError(
                f"{name} expects batch[{key!r}] of dtype int64, got {ids.dtype}; use .long()."
            )
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= vocab):
            raise MalformedBatchError(
                f"{name}: batch[{key!r}] has ids in [{int(ids.min())}, {int(ids.max())}] but "
                f"{arg}={vocab} allows 0..{vocab - 1}; raise {arg} or re-index the ids."
            )
        return ids

    def _log_prob(self, batch: Mapping[str, Any], size: int) -> Tensor | None:
        if "item_log_prob" not in batch or batch["item_log_prob"] is None:
            return None
        name = type(self).__name__
        lp = batch["item_log_prob"]
        if not isinstance(lp, Tensor) or lp.shape != (size,) or not lp.is_floating_point():
            got = (tuple(lp.shape), lp.dtype) if isinstance(lp, Tensor) else type(lp).__name__
            raise MalformedBatchError(
                f"{name} expects batch['item_log_prob'] as a float tensor of shape ({size},), "
                f"got {got}."
            )
        if not bool(torch.isfinite(lp).all()) or bool((lp > 0).any()):
            raise MalformedBatchError(
                f"{name}: batch['item_log_prob'] must hold finite log-probabilities <= 0 "
                f"(log p of each item's sampling probability), got range "
                f"[{float(lp.min())}, {float(lp.max())}]."
            )
        return lp

    # -- towers --------------------------------------------------------------
    def _out(self, z: Tensor) -> Tensor:
        return F.normalize(z, dim=1) if self.normalize else z

    def user_embeddings(self, user_ids: Tensor) -> Tensor:
        """User vectors ``(B, output_dim)`` (normalised when ``normalize``)."""
        return self._out(self.user_tower(user_ids))

    def item_embeddings(self, item_ids: Tensor) -> Tensor:
        """Item vectors ``(B, output_dim)`` (normalised when ``normalize``)."""
        return self._out(self.item_tower(item_ids))

    # -- Method --------------------------------------------------------------
    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        batch = self._mapping(batch)
        users = self._ids(batch, "user_ids", self.num_users, "num_users")
        items = self._ids(batch, "item_ids", self.num_items, "num_items")
        if users.shape != items.shape:
            raise MalformedBatchError(
                f"{type(self).__name__}: 'user_ids' {tuple(users.shape)} and 'item_ids' "
                f"{tuple(items.shape)} must have the same length (one interaction per row)."
            )
        if users.shape[0] < 2:
            raise MalformedBatchError(
                f"{type(self).__name__} needs at least 2 interactions per batch (in-batch "
                f"negatives), got {users.shape[0]}; use drop_last=True."
            )
        log_prob = self._log_prob(batch, users.shape[0])
        u, v = self.user_tower(users), self.item_tower(items)
        use_logq = log_prob is not None and self.logq_correction
        bias = -log_prob if use_logq else None
        keys = v
        if self.item_queue is not None and len(self.item_queue):
            past = self.item_queue.keys().to(v.dtype)  # earlier batches' items, no gradient
            keys = torch.cat([v, past[:, :-1]])
            if use_logq:
                bias = torch.cat([bias, -past[:, -1]])  # type: ignore[list-item]
        softmax = partial(
            info_nce,
            temperature=self.temperature,
            bias=bias,
            normalize=self.normalize,
            chunk_size=self.chunk_size,
        )
        if self.matryoshka_dims is None:
            loss = softmax(u, keys)
        else:
            loss = matryoshka(softmax, u, keys, dims=self.matryoshka_dims)
        if self.item_queue is not None and self.training:
            lp = log_prob if log_prob is not None else v.new_zeros(v.shape[0])
            self.item_queue.push(torch.cat([v.detach(), lp[:, None].to(v.dtype)], dim=1))
        with torch.no_grad():
            scores = self._out(u) @ self._out(v).T
            hit = scores.argmax(1) == torch.arange(len(scores), device=scores.device)
        return {"loss": loss, "in_batch_accuracy": hit.float().mean()}

    def representations(self, batch: Any) -> Tensor:
        """User vectors of the training interactions, detached."""
        batch = self._mapping(batch)
        return self.user_embeddings(
            self._ids(batch, "user_ids", self.num_users, "num_users")
        ).detach()

    def embed(self, batch: Any) -> Tensor:
        """User vectors for ``{"user_ids": ...}``, else item vectors for ``{"item_ids": ...}``."""
        batch = self._mapping(batch)
        if "user_ids" in batch:
            return self.user_embeddings(self._ids(batch, "user_ids", self.num_users, "num_users"))
        return self.item_embeddings(self._ids(batch, "item_ids", self.num_items, "num_items"))

    def export_encoder(self) -> TwoTowerEncoder:
        """Both id towers as a :class:`~selfsup_recsys.encoders.TwoTowerEncoder` sharing this
        model's weights: ``query(user_ids)`` = :meth:`user_embeddings`, ``item(item_ids)`` =
        :meth:`item_embeddings` (``forward``: the item tower)."""
        return TwoTowerEncoder(self.user_tower, self.item_tower, normalize=self.normalize)
