"""Linear probe: multinomial logistic regression on frozen features, fitted with L-BFGS."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from selfsup.checks import check_matrix, check_positive
from selfsup.metrics._labels import check_labels

__all__ = ["LinearProbeResult", "linear_probe"]


@dataclass(frozen=True, eq=False)
class LinearProbeResult:
    """The outcome of :func:`linear_probe`.

    Attributes:
        accuracy: Top-1 accuracy on the test features, in ``[0, 1]``.
        train_accuracy: Top-1 accuracy on the training features.
        train_loss: Final objective (mean cross-entropy + L2 penalty) on the train set.
        num_iterations: L-BFGS iterations actually run (stops early on convergence).
        weight: Classifier weights ``(C, D)``, acting on standardised features.
        bias: Classifier bias ``(C,)``.
        mean: Per-feature train mean ``(D,)`` subtracted before the classifier
            (zeros when ``standardize=False``).
        std: Per-feature train standard deviation ``(D,)`` divided by (ones when
            ``standardize=False``; constant features get 1).
    """

    accuracy: float
    train_accuracy: float
    train_loss: float
    num_iterations: int
    weight: Tensor
    bias: Tensor
    mean: Tensor
    std: Tensor

    def predict(self, features: Tensor) -> Tensor:
        """Class indices ``(N,)`` for raw (unstandardised) features ``(N, D)``."""
        x = (features.to(self.weight) - self.mean) / self.std
        return (x @ self.weight.T + self.bias).argmax(dim=1)


def linear_probe(
    train_features: Tensor,
    train_labels: Tensor,
    test_features: Tensor,
    test_labels: Tensor,
    *,
    epochs: int = 100,
    lr: float = 1.0,
    weight_decay: float = 1e-4,
    batch_size: int | None = None,
    standardize: bool = True,
    seed: int = 0,
) -> LinearProbeResult:
    """Fit a multinomial logistic regression on frozen train features; score the test set.

    The standard frozen-feature linear evaluation of self-supervised
    representations (e.g. SimCLR, arXiv 2002.05709, which uses L-BFGS-fitted
    L2-regularised logistic regression for its transfer experiments). Features are
    standardised with the TRAIN mean ``mu`` and standard deviation ``s`` (the same
    ``mu``, ``s`` are applied to the test features), then

    .. math::

        \\min_{W, b} \\; \\frac{1}{N} \\sum_{i=1}^{N}
        -\\log \\operatorname{softmax}\\big(W \\tilde{x}_i + b\\big)_{y_i}
        + \\frac{\\lambda}{2} \\lVert W \\rVert_F^2, \\qquad
        \\tilde{x} = (x - \\mu) / s

    is minimised by full-batch L-BFGS with a strong-Wolfe line search
    (``torch.optim.LBFGS``). The problem is convex, so the result does not depend
    on the initialisation beyond optimiser tolerance. The bias is not penalised.
    This matches scikit-learn's ``LogisticRegression(C=1 / (lambda * N))``.

    Computation happens on ``train_features``' device in float32 (float64 when the
    features are float64), with gradients enabled even when called under
    ``torch.no_grad``/``torch.inference_mode`` (e.g. from a validation hook).
    Deterministic for a given ``seed`` on CPU.

    Args:
        train_features: Frozen features of the training set.
        train_labels: Integer class of each training row.
        test_features: Frozen features of the test set.
        test_labels: Integer class of each test row; classes never seen in
            training are counted as errors.
        epochs: Maximum number of L-BFGS iterations (default 100); each iteration
            is one or more full passes over the training features (line search).
        lr: L-BFGS step length (default 1.0; the line search adapts it).
        weight_decay: L2 penalty ``lambda >= 0`` on ``W`` (default ``1e-4``).
        batch_size: ``None`` (default) evaluates the full-batch objective in one
            go; an integer evaluates it in chunks of that many rows and accumulates
            gradients (same objective and result, bounded memory).
        standardize: Standardise features with the train statistics (default ``True``).
        seed: Seeds the small random initialisation of ``W`` (default 0).

    Returns:
        A :class:`LinearProbeResult` (``.accuracy`` is the test accuracy).

    Shapes:
        - train_features: ``(N, D)`` with ``N >= 2``; train_labels: ``(N,)``.
        - test_features: ``(M, D)`` with ``M >= 1``; test_labels: ``(M,)``.

    Raises:
        TypeError: if an input is not a tensor.
        ValueError: for non-finite or mis-shaped features, mismatched labels,
            feature dimensions that differ, or hyper-parameters out of range.
    """
    check_matrix("train_features", train_features, min_rows=2)
    check_matrix("test_features", test_features)
    if test_features.shape[1] != train_features.shape[1]:
        raise ValueError(
            f"test_features has {test_features.shape[1]} feature dimensions but "
            f"train_features has {train_features.shape[1]}; extract both with the same encoder."
        )
    check_labels("train_labels", train_labels, train_features.shape[0], "train_features")
    check_labels("test_labels", test_labels, test_features.shape[0], "test_features")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be an integer >= 1, got {epochs!r}.")
    check_positive("lr", lr)
    if not (math.isfinite(weight_decay) and weight_decay >= 0):
        raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay}.")
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
    ):
        raise ValueError(
            f"batch_size must be None (full batch) or an integer >= 1, got {batch_size!r}."
        )

    device = train_features.device
    dtype = torch.float64 if train_features.dtype == torch.float64 else torch.float32
    num_classes = int(max(int(train_labels.max()), int(test_labels.max()))) + 1

    # Leave any surrounding inference mode: its tensors cannot be saved for
    # backward, so features are cloned into ordinary tensors first.
    with torch.inference_mode(False), torch.enable_grad():
        x_train = train_features.detach().to(device=device, dtype=dtype).clone()
        x_test = test_features.detach().to(device=device, dtype=dtype).clone()
        y_train = train_labels.detach().to(device=device, dtype=torch.long).clone()
        y_test = test_labels.detach().to(device=device, dtype=torch.long).clone()
        n, d = x_train.shape

        if standardize:
            mean = x_train.mean(dim=0)
            std = x_train.std(dim=0, unbiased=False)
            std = torch.where(std > 0, std, torch.ones_like(std))
        else:
            mean = torch.zeros(d, device=device, dtype=dtype)
            std = torch.ones(d, device=device, dtype=dtype)
        x_train = (x_train - mean) / std
        x_test = (x_test - mean) / std

        generator = torch.Generator(device="cpu").manual_seed(seed)
        init = torch.randn(num_classes, d, generator=generator, dtype=dtype) * 0.01
        weight = init.to(device).requires_grad_(True)
        bias = torch.zeros(num_classes, device=device, dtype=dtype, requires_grad=True)
        chunk = n if batch_size is None else batch_size

        optimizer = torch.optim.LBFGS(
            [weight, bias],
            lr=lr,
            max_iter=epochs,
            history_size=20,
            tolerance_grad=1e-7,
            tolerance_change=1e-10,
            line_search_fn="strong_wolfe",
        )

        def closure() -> Tensor:
            optimizer.zero_grad(set_to_none=False)
            total = torch.zeros((), device=device, dtype=dtype)
            for start in range(0, n, chunk):
                logits = x_train[start : start + chunk] @ weight.T + bias
                loss = F.cross_entropy(logits, y_train[start : start + chunk], reduction="sum") / n
                loss.backward()
                total = total + loss.detach()
            penalty = 0.5 * weight_decay * weight.pow(2).sum()
            penalty.backward()
            return total + penalty.detach()

        optimizer.step(closure)
        state = optimizer.state[weight]
        num_iterations = int(state.get("n_iter", 0))

        with torch.no_grad():
            w, b = weight.detach(), bias.detach()
            train_logits = _logits(x_train, w, b, chunk)
            test_logits = _logits(x_test, w, b, chunk)
            final_loss = float(
                F.cross_entropy(train_logits, y_train) + 0.5 * weight_decay * w.pow(2).sum()
            )
            train_pred = train_logits.argmax(dim=1)
            test_pred = test_logits.argmax(dim=1)

    return LinearProbeResult(
        accuracy=float((test_pred == y_test).sum()) / y_test.shape[0],
        train_accuracy=float((train_pred == y_train).sum()) / n,
        train_loss=final_loss,
        num_iterations=num_iterations,
        weight=w,
        bias=b,
        mean=mean,
        std=std,
    )


def _logits(x: Tensor, weight: Tensor, bias: Tensor, chunk: int) -> Tensor:
    """Logits ``(N, C)`` of the probe, computed ``chunk`` rows at a time."""
    return torch.cat([x[s : s + chunk] @ weight.T + bias for s in range(0, x.shape[0], chunk)])
