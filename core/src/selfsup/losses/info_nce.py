"""InfoNCE with one positive per query and optional extra negatives, logQ bias and DCL."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup import distributed as sdist
from selfsup.checks import check_finite, check_matrix
from selfsup.kernels.lse import similarity_logsumexp
from selfsup.losses._contrastive import MIN_TEMPERATURE as MIN_TEMPERATURE
from selfsup.losses._contrastive import check_temperature
from selfsup.precision import accumulation_dtype, autocast_off

__all__ = ["InfoNCELoss", "info_nce"]

_REDUCTIONS = ("mean", "sum", "none")


@autocast_off
def info_nce(
    query: Tensor,
    key: Tensor,
    temperature: float | Tensor = 0.1,
    *,
    bias: Tensor | None = None,
    key_ids: Tensor | None = None,
    decoupled: bool = False,
    in_batch_negatives: bool = True,
    normalize: bool = True,
    gather: bool | None = None,
    chunk_size: int | None = None,
    reduction: str = "mean",
) -> Tensor:
    """InfoNCE / CPC / MoCo contrastive loss with the positive of query ``i`` at key ``i``.

    .. math::

        S_{ij} = \\frac{q_i \\cdot k_j}{\\tau} + b_j, \\qquad
        \\ell_i = -S_{i,i} + \\log \\sum_{j \\in \\mathcal{D}_i} \\exp S_{ij}

    where :math:`\\mathcal{D}_i` holds every key (``decoupled=False``, van den Oord et al.,
    arXiv 1807.03748; MoCo, arXiv 1911.05722) or every key except the positive
    (``decoupled=True``, DCL, Yeh et al., arXiv 2110.06848). With ``normalize`` the rows are
    L2-normalised first, so ``q_i . k_j`` is a cosine similarity. The bias is added *after*
    dividing by the temperature and to every column, the positive included: pass
    ``bias = -log p_j`` for the logQ sampling-bias correction (Yi et al., RecSys 2019;
    ``tensorflow_recommenders`` ``tasks/retrieval.py``). Keys ``N..M-1`` are extra negatives
    (a queue, a memory bank, sampled items); ``in_batch_negatives=False`` keeps only those and
    the positive in :math:`\\mathcal{D}_i` (MoCo v2's logits ``[q.k+ | q.queue]``: the other
    queries' keys are not negatives, and nothing is gathered). With ``key_ids``,
    *accidental hits* are dropped from the denominator: key ``j`` leaves query ``i``'s sum
    when ``key_ids[j] == key_ids[i]`` and ``j != i`` (the positive's item sampled again as a
    negative; ``remove_accidental_hits`` in ``tensorflow_recommenders``).

    On CUDA the log-sum-exp runs in a fused Triton kernel when Triton is installed
    (:mod:`selfsup.kernels.lse`; O(N + M) memory, same values and gradients), with or
    without ``chunk_size``; ``SELFSUP_KERNELS=torch`` keeps the PyTorch paths.

    Args:
        query: query embeddings.
        key: key embeddings; rows ``0..N-1`` are the positives of the queries.
        temperature: :math:`\\tau > 0` (default 0.1). A one-element tensor is allowed and
            receives a gradient on both paths (learnable temperature).
        bias: optional per-key logit bias (not normalised, not scaled by the temperature).
        key_ids: optional int64 item id per key for accidental-hit masking (None: no masking).
        decoupled: drop the positive from the denominator (DCL).
        in_batch_negatives: use the other queries' keys ``key[:N]`` as negatives (default
            True); False needs extra negatives ``key[N:]``.
        normalize: L2-normalise query and key rows (default True).
        gather: see ``Distributed``; None gathers when ``torch.distributed`` runs with more
            than one rank.
        chunk_size: None computes the full ``N x M`` logit matrix; an int streams key blocks of
            that size (:mod:`selfsup.kernels.lse`), O(N·chunk) extra memory, same
            values and gradients.
        reduction: ``"mean"`` (over queries, default), ``"sum"`` or ``"none"`` (per query).

    Shapes:
        query: ``(N, D)``; key: ``(M, D)`` with ``M >= N``; bias, key_ids: ``(M,)``.
        Output: scalar, or ``(N,)`` for ``reduction="none"``.

    Raises:
        ValueError: wrong ndim, mismatched feature dims, ``M < N``, NaN/inf, empty batch,
            ``temperature <= 0``, bad ``bias`` or ``key_ids`` shape/dtype, ``chunk_size <= 0``,
            unknown ``reduction``, or ``decoupled`` with no negative left.

    Distributed:
        With gathering on, the in-batch keys ``key[:N]`` (and ``bias[:N]``, and without gradient
        ``key_ids[:N]``) of every rank are
        gathered **with gradient** (:func:`selfsup.distributed.gather`; gradients return to
        their source rank) and become negatives for every query; the positive of local query
        ``i`` is global column ``rank * N + i``. The extra negatives ``key[N:]`` are *not*
        gathered: they are treated as shared by all ranks (a MoCo queue is identical on every
        rank, so gathering it would count each entry ``W`` times). Every rank must pass the
        same ``N``. The loss is the mean over this rank's queries; with DDP's gradient
        averaging the parameter gradients equal those of one process on the concatenated
        batch. The dense path holds an ``N x (W·N + M - N)`` matrix per rank.
    """
    check_matrix("query", query)
    check_matrix("key", key)
    if key.shape[1] != query.shape[1]:
        raise ValueError(
            f"query and key must have the same feature dimension, got query "
            f"{tuple(query.shape)} and key {tuple(key.shape)}."
        )
    n, m = query.shape[0], key.shape[0]
    if m < n:
        raise ValueError(
            f"key has {m} rows but query has {n}; key[i] is the positive of query[i], so key "
            "needs at least N rows (extra rows are negatives)."
        )
    check_temperature(temperature, chunk_size)
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}.")
    if bias is not None:
        if not isinstance(bias, Tensor) or bias.shape != (m,):
            got = tuple(bias.shape) if isinstance(bias, Tensor) else type(bias).__name__
            raise ValueError(f"bias must be a tensor of shape (M,) = ({m},), got {got}.")
        check_finite("bias", bias)
    if key_ids is not None and (
        not isinstance(key_ids, Tensor) or key_ids.dtype != torch.int64 or key_ids.shape != (m,)
    ):
        got = (
            f"{key_ids.dtype} {tuple(key_ids.shape)}"
            if isinstance(key_ids, Tensor)
            else type(key_ids).__name__
        )
        raise ValueError(f"key_ids must be an int64 tensor of shape (M,) = ({m},), got {got}.")
    if not in_batch_negatives and (m == n or key_ids is not None):
        raise ValueError(
            "in_batch_negatives=False contrasts each query with its key and the extra "
            f"negatives key[N:] only: pass extra negatives (key has {m} rows for {n} queries) "
            "and no key_ids."
        )
    gathering = sdist.default_gather(gather) and in_batch_negatives
    if m < 2 and not (gathering and sdist.world_size() > 1):
        # one query and one key: the softmax has a single entry, so the loss is 0 with a zero
        # gradient whatever the embeddings are; training on it would silently do nothing
        raise ValueError(
            "info_nce got a single key and no other negative: the loss would be 0 with no "
            "gradient. Contrast at least 2 samples per batch (drop_last=True drops a last batch "
            "of 1) or pass extra negatives as key rows N..M-1."
        )

    if normalize:
        query = F.normalize(query, dim=1)
        key = F.normalize(key, dim=1)
    scale = 1.0 / temperature

    keys, col_bias, col_ids, offset = key, bias, key_ids, 0
    if gathering:
        offset = sdist.rank() * n
        keys = torch.cat([sdist.gather(key[:n]), key[n:]])
        if bias is not None:
            col_bias = torch.cat([sdist.gather(bias[:n]), bias[n:]])
        if key_ids is not None:
            col_ids = torch.cat([sdist.gather_no_grad(key_ids[:n]), key_ids[n:]])

    positive = (query * key[:n]).sum(dim=1).to(accumulation_dtype(query.dtype))
    positive = positive * scale
    if bias is not None:
        positive = positive + bias[:n]
    if not in_batch_negatives:
        extra_bias = None if bias is None else bias[n:]
        lse = similarity_logsumexp(query, key[n:], scale, bias=extra_bias, chunk_size=chunk_size)
        if not decoupled:
            lse = torch.logaddexp(lse, positive)
        return _reduce(lse - positive, reduction)
    positive_col = torch.arange(n, device=query.device) + offset
    exclude = positive_col[:, None] if decoupled else None
    lse = similarity_logsumexp(
        query,
        keys,
        scale,
        bias=col_bias,
        exclude=exclude,
        key_ids=col_ids,
        positive=positive_col if col_ids is not None else None,
        chunk_size=chunk_size,
    )
    return _reduce(lse - positive, reduction)


def _reduce(losses: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


class InfoNCELoss(nn.Module):
    """Module form of :func:`info_nce`; stores the hyper-parameters.

    Args:
        temperature: :math:`\\tau > 0` (default 0.1).
        decoupled: drop the positive from the denominator (DCL).
        in_batch_negatives: use the other queries' keys ``key[:N]`` as negatives (default
            True); False needs extra negatives ``key[N:]``.
        normalize: L2-normalise rows first.
        gather: gather in-batch keys across ranks (None: when distributed).
        chunk_size: stream key blocks of this size (None: dense).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Shapes:
        forward(query ``(N, D)``, key ``(M, D)``, bias ``(M,)`` and key_ids ``(M,)`` optional)
        -> scalar.

    Distributed:
        As :func:`info_nce`: ``key[:N]`` gathered with gradient, ``key[N:]`` shared.
    """

    def __init__(
        self,
        temperature: float = 0.1,
        *,
        decoupled: bool = False,
        in_batch_negatives: bool = True,
        normalize: bool = True,
        gather: bool | None = None,
        chunk_size: int | None = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        check_temperature(temperature, chunk_size)
        if reduction not in _REDUCTIONS:
            raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}.")
        self.temperature = temperature
        self.decoupled = decoupled
        self.in_batch_negatives = in_batch_negatives
        self.normalize = normalize
        self.gather = gather
        self.chunk_size = chunk_size
        self.reduction = reduction

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        bias: Tensor | None = None,
        key_ids: Tensor | None = None,
    ) -> Tensor:
        return info_nce(
            query,
            key,
            self.temperature,
            bias=bias,
            key_ids=key_ids,
            decoupled=self.decoupled,
            in_batch_negatives=self.in_batch_negatives,
            normalize=self.normalize,
            gather=self.gather,
            chunk_size=self.chunk_size,
            reduction=self.reduction,
        )

    def extra_repr(self) -> str:
        return (
            f"temperature={self.temperature}, decoupled={self.decoupled}, "
            f"normalize={self.normalize}, gather={self.gather}, chunk_size={self.chunk_size}"
        )
