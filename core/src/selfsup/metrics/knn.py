"""Weighted k-nearest-neighbour classification on frozen features (Wu et al. 2018, DINO)."""

from __future__ import annotations

import torch
from torch import Tensor

from selfsup.checks import check_matrix, check_positive
from selfsup.kernels.topk import similarity_topk
from selfsup.metrics._labels import check_labels

__all__ = ["knn_accuracy", "knn_predict"]


def _resolve_num_classes(train_labels: Tensor, num_classes: int | None) -> int:
    observed = int(train_labels.max()) + 1
    if num_classes is None:
        return observed
    if num_classes < observed:
        raise ValueError(
            f"num_classes={num_classes} but train_labels contains class {observed - 1}; "
            f"pass num_classes >= {observed} or leave it None."
        )
    return int(num_classes)


@torch.no_grad()
def knn_predict(
    train_features: Tensor,
    train_labels: Tensor,
    query_features: Tensor,
    *,
    k: int = 20,
    temperature: float = 0.07,
    num_classes: int | None = None,
    chunk_size: int = 1024,
) -> Tensor:
    """Predict classes by a temperature-weighted vote of the k most similar bank rows.

    The weighted kNN classifier of Wu, Xiong, Yu and Lin, "Unsupervised Feature
    Learning via Non-Parametric Instance Discrimination", CVPR 2018 (arXiv
    1805.01978), as used for evaluation by DINO (arXiv 2104.14294). With cosine
    similarity ``s_ij = <q_i, b_j> / (||q_i|| ||b_j||)`` and ``N_k(i)`` the ``k``
    bank rows most similar to query ``i``:

    .. math::

        \\mathrm{score}_i(c) = \\sum_{j \\in N_k(i)} e^{s_{ij} / T} \\, [y_j = c], \\qquad
        \\hat{y}_i = \\arg\\max_c \\mathrm{score}_i(c)

    Weights are computed as ``exp((s_ij - max_j s_ij) / T)``, which rescales each
    query's scores by a positive constant (same argmax) and cannot overflow for
    small ``T``. Ties between classes go to the smallest class index.

    Memory: neighbours come from :func:`selfsup.kernels.topk.similarity_topk`, which
    processes ``chunk_size`` queries against 32768 bank rows at a time, so at most
    ``chunk_size x 32768`` similarities exist at once (plus ``Q x k`` results and a
    ``chunk_size x C`` vote buffer). Computation happens on ``train_features``'
    device in at least float32 (half-precision features on CUDA: half matmul with
    float32 accumulation), without gradients. Equal similarities rank the smaller
    bank index first.

    Args:
        train_features: The memory bank of labelled features.
        train_labels: Integer class of each bank row, in ``[0, num_classes)``.
        query_features: Features to classify.
        k: Number of neighbours (default 20); clamped to the bank size ``M``.
        temperature: Temperature ``T > 0`` of the vote weights (default 0.07).
        num_classes: Number of classes ``C``; ``None`` means ``max(train_labels) + 1``.
        chunk_size: Query rows per chunk (default 1024); lower it to save memory.

    Returns:
        Predicted class indices (int64) on ``train_features``' device.

    Shapes:
        - train_features: ``(M, D)``; train_labels: ``(M,)``.
        - query_features: ``(Q, D)``.
        - output: ``(Q,)``.

    Raises:
        TypeError: if an input is not a tensor.
        ValueError: for non-finite or mis-shaped features, non-integer or negative
            labels, feature dimensions that differ, or ``k``, ``temperature``,
            ``chunk_size`` or ``num_classes`` out of range.
    """
    check_matrix("train_features", train_features)
    check_matrix("query_features", query_features, min_rows=0)
    if query_features.shape[1] != train_features.shape[1]:
        raise ValueError(
            f"query_features has {query_features.shape[1]} feature dimensions but "
            f"train_features has {train_features.shape[1]}; extract both with the same encoder."
        )
    check_labels("train_labels", train_labels, train_features.shape[0], "train_features")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}.")
    check_positive("temperature", temperature)
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an integer >= 1, got {chunk_size!r}.")
    n_classes = _resolve_num_classes(train_labels, num_classes)

    device = train_features.device
    bank_labels = train_labels.to(device=device, dtype=torch.long)
    k = min(k, train_features.shape[0])
    inv_t = 1.0 / temperature
    top_sims, top_idx = similarity_topk(
        query_features, train_features, k, normalize=True, chunk_size=chunk_size
    )
    # (Q, k) each; sorted by decreasing similarity, ties to the smaller bank index
    weights = torch.exp((top_sims - top_sims[:, :1]) * inv_t)
    top_labels = bank_labels[top_idx]
    predictions = torch.empty(top_sims.shape[0], dtype=torch.long, device=device)
    for start in range(0, top_sims.shape[0], chunk_size):
        w = weights[start : start + chunk_size]
        votes = torch.zeros(w.shape[0], n_classes, device=device, dtype=w.dtype)
        votes.scatter_add_(1, top_labels[start : start + chunk_size], w)
        predictions[start : start + chunk_size] = votes.argmax(dim=1)
    return predictions


def knn_accuracy(
    train_features: Tensor,
    train_labels: Tensor,
    query_features: Tensor,
    query_labels: Tensor,
    *,
    k: int = 20,
    temperature: float = 0.07,
    num_classes: int | None = None,
    chunk_size: int = 1024,
) -> float:
    """Top-1 accuracy of :func:`knn_predict` on labelled queries.

    .. math::

        \\mathrm{acc} = \\frac{1}{Q} \\sum_{i=1}^{Q} [\\hat{y}_i = y_i]

    Args:
        train_features: The memory bank of labelled features.
        train_labels: Integer class of each bank row.
        query_features: Features to classify.
        query_labels: True integer class of each query row. Classes absent from
            the bank are counted as errors.
        k: Number of neighbours (default 20).
        temperature: Vote temperature (default 0.07).
        num_classes: Number of classes; ``None`` infers it from ``train_labels``.
        chunk_size: Query rows per chunk (default 1024).

    Returns:
        Accuracy in ``[0, 1]`` as a Python float.

    Shapes:
        - train_features: ``(M, D)``; train_labels: ``(M,)``.
        - query_features: ``(Q, D)`` with ``Q >= 1``; query_labels: ``(Q,)``.

    Raises:
        ValueError: as :func:`knn_predict`, or if there are no queries or
            ``query_labels`` does not match ``query_features``.
    """
    check_matrix("query_features", query_features, min_rows=0)
    if query_features.shape[0] == 0:
        raise ValueError("query_features has no rows; accuracy needs at least one query.")
    check_labels("query_labels", query_labels, query_features.shape[0], "query_features")
    predicted = knn_predict(
        train_features,
        train_labels,
        query_features,
        k=k,
        temperature=temperature,
        num_classes=num_classes,
        chunk_size=chunk_size,
    )
    correct = (predicted == query_labels.to(predicted.device, torch.long)).sum()
    return float(correct) / query_features.shape[0]
