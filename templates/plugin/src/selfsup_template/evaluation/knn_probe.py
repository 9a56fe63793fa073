"""The frozen-feature kNN probe: labelled training rows are the bank, held-out rows are scored.

Core supplies the pieces (:func:`selfsup.metrics.frozen_eval`, :func:`selfsup.metrics.
knn_accuracy`); a plugin's probe only knows how to turn its batches into embeddings.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from selfsup.metrics import frozen_eval, knn_accuracy

__all__ = ["knn_probe"]


def _embed(method: Any, loader: Iterable[Any]) -> tuple[torch.Tensor, torch.Tensor]:
    feats, labels = [], []
    for x, y in loader:
        feats.append(method.embed(x))
        labels.append(y)
    return torch.cat(feats), torch.cat(labels)


def knn_probe(
    method: Any, train: Iterable[Any], test: Iterable[Any], k: int = 20, temperature: float = 0.1
) -> float:
    """kNN accuracy of ``method.embed`` features: ``(x, y)`` batches of ``train`` as the bank.

    The method runs in eval mode without gradients; its modes are restored afterwards.

    Examples:
        >>> from selfsup_template.methods import TemplateMethod
        >>> x, y = torch.randn(40, 16), torch.arange(40) % 2
        >>> pairs = [(x[i : i + 10], y[i : i + 10]) for i in range(0, 40, 10)]
        >>> 0.0 <= knn_probe(TemplateMethod(), pairs[:3], pairs[3:], k=5) <= 1.0
        True
    """
    with frozen_eval(method):
        bank, bank_y = _embed(method, train)
        query, query_y = _embed(method, test)
    return knn_accuracy(bank, bank_y, query, query_y, k=k, temperature=temperature)
