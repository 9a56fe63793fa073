"""Supervised heads on top of tabular encoders: probes, raw-feature MLPs and fine-tuning.

A model maps inputs (a feature tensor ``(N, D)`` or an encoded table dict) to logits/values;
:func:`fit_supervised` trains it with early stopping on a **validation** split (never test).
"""

from __future__ import annotations

import copy
import math
import time
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from selfsup_tabular.encoders.mlp import TabularInput
from selfsup_tabular.methods.tjepa import TJEPA, pool_tokens

__all__ = ["FineTuneModel", "MLPHead", "RawMLP", "fit_supervised", "predict", "score"]

Inputs = Tensor | dict[str, Tensor]


def _rows(x: Inputs) -> int:
    return int(next(iter(x.values())).shape[0]) if isinstance(x, dict) else int(x.shape[0])


def _index(x: Inputs, idx: Tensor) -> Inputs:
    return {k: v[idx] for k, v in x.items()} if isinstance(x, dict) else x[idx]


def _check_finite(name: str, x: Inputs) -> None:
    """Refuse NaN/inf in inputs or labels (they would make the loss NaN without an error)."""
    parts = x.items() if isinstance(x, dict) else [(None, x)]
    for key, value in parts:
        if not isinstance(value, Tensor) or not value.is_floating_point():
            continue
        bad = ~torch.isfinite(value)
        if bool(bad.any()):
            label = name if key is None else f"{name}[{key!r}]"
            raise ValueError(
                f"{label} holds {int(bad.sum())} NaN/inf value(s) (first at index "
                f"{tuple(int(i) for i in bad.nonzero()[0])}); encode missing inputs with "
                "TabularPreprocessor (value 0 + num_missing) and drop rows without a label."
            )


class MLPHead(nn.Module):
    """``Linear - ReLU - Dropout`` blocks then a linear output (a probe when ``num_layers=1``).

    Shapes:
        ``(B, in_dim)`` -> ``(B, out_dim)``.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        hidden_dim: int = 256,
        num_layers: int = 3,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = in_dim
        for _ in range(num_layers - 1):
            layers += [nn.Linear(width, hidden_dim), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden_dim
        layers.append(nn.Linear(width, out_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class RawMLP(nn.Module):
    """Raw-feature baseline: :class:`~selfsup_tabular.encoders.TabularInput` + :class:`MLPHead`.

    ``numerical_embedding`` (``"linear"``: the numbers themselves, or ``"periodic"``: "MLP-PLR"),
    ``frequencies`` and ``frequency_scale`` go to the input layer; ``**head`` to the head.
    """

    def __init__(
        self,
        num_numerical: int,
        cardinalities: list[int],
        out_dim: int,
        numerical_embedding: str = "linear",
        frequencies: int = 16,
        frequency_scale: float = 1.0,
        **head: Any,
    ) -> None:
        super().__init__()
        self.input = TabularInput(
            num_numerical,
            cardinalities,
            numerical_embedding=numerical_embedding,
            frequencies=frequencies,
            frequency_scale=frequency_scale,
        )
        self.head = MLPHead(self.input.out_dim, out_dim, **head)

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        return self.head(self.input(batch))


class FineTuneModel(nn.Module):
    """A trainable copy of a T-JEPA target encoder + pooling + :class:`MLPHead` (fine-tuning).

    Shapes:
        encoded batch -> ``(B, out_dim)``.
    """

    def __init__(self, method: TJEPA, out_dim: int, pooling: str = "flatten", **head: Any) -> None:
        super().__init__()
        self.backbone = copy.deepcopy(method.target.teacher).requires_grad_(True)
        self.num_registers = method.num_registers
        self.pooling = pooling
        d = method.config["d_token"]
        tokens = method.num_registers + method.num_features
        width = {"reg": d, "mean": d, "concat": 2 * d, "flatten": tokens * d}[pooling]
        self.head = MLPHead(width, out_dim, **head)

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        return self.head(pool_tokens(self.backbone(batch), self.num_registers, self.pooling))


@torch.no_grad()
def predict(model: nn.Module, x: Inputs, batch_size: int = 4096) -> Tensor:
    """Model outputs for all rows, in eval mode."""
    model.eval()
    outs = [
        model(_index(x, torch.arange(s, min(s + batch_size, _rows(x)))))
        for s in range(0, _rows(x), batch_size)
    ]
    return torch.cat(outs)


def score(out: Tensor, y: Tensor, task: str) -> float:
    """Accuracy (classification) or RMSE (regression, in the units of ``y``)."""
    if task == "classification":
        return float((out.argmax(1) == y).float().mean())
    return float((out.squeeze(-1) - y).pow(2).mean().sqrt())


def fit_supervised(
    model: nn.Module,
    train_x: Inputs,
    train_y: Tensor,
    val_x: Inputs,
    val_y: Tensor,
    *,
    task: str = "classification",
    epochs: int = 100,
    patience: int = 10,
    lr: float = 1e-3,
    weight_decay: float = 1e-5,
    batch_size: int = 256,
    seed: int = 0,
    max_seconds: float | None = None,
) -> tuple[nn.Module, float]:
    """Train ``model`` (cross-entropy or MSE) with AdamW; keep the best validation epoch.

    Early stopping after ``patience`` epochs without improvement of the validation metric
    (accuracy up / RMSE down, :func:`score`). Returns the model with the best weights loaded and
    that validation score. The test split is not an argument: it cannot influence selection.
    ``max_seconds`` stops training after the first epoch that ends past that wall-clock time.

    Raises:
        ValueError: an unknown ``task``, or NaN/inf in the inputs or labels (the message names
            the argument, e.g. ``train_x['x_num']``).
    """
    if task not in ("classification", "regression"):
        raise ValueError(f"task must be 'classification' or 'regression', got {task!r}.")
    for name, value in (("train_x", train_x), ("train_y", train_y), ("val_x", val_x)):
        _check_finite(name, value)
    _check_finite("val_y", val_y)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=weight_decay
    )
    sign = 1.0 if task == "classification" else -1.0
    best, best_state, bad = -math.inf, copy.deepcopy(model.state_dict()), 0
    n = _rows(train_x)
    started = time.monotonic()
    for _ in range(epochs):
        model.train()
        order = torch.randperm(n, generator=gen)
        for first in range(0, n - 1, batch_size):
            idx = order[first : first + batch_size]
            if idx.numel() < 2:
                continue
            out = model(_index(train_x, idx))
            y = train_y[idx]
            if task == "classification":
                loss = F.cross_entropy(out, y)
            else:
                loss = F.mse_loss(out.squeeze(-1), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        current = sign * score(predict(model, val_x), val_y, task)
        if current > best:
            best, best_state, bad = current, copy.deepcopy(model.state_dict()), 0
        else:
            bad += 1
            if bad >= patience:
                break
        if max_seconds is not None and time.monotonic() - started > max_seconds:
            break
    model.load_state_dict(best_state)
    return model.eval(), sign * best
