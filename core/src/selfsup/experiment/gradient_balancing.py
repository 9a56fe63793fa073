"""Balancing the gradients of tasks that share parameters: MGDA and PCGrad.

Tasks trained jointly on a shared trunk pull its parameters in different directions; a fixed
weighted sum lets the larger or conflicting gradient win. Both rules here work on the
per-task gradients ``g_t`` of the *shared* parameters and reduce to weights over the tasks, read
from the Gram matrix ``G = [g_s . g_t]``:

* **MGDA** (Sener & Koltun, arXiv 1810.04650; the balancing of ParetoGNN, arXiv 2210.02016):
  the min-norm point of the convex hull of the ``g_t``, a common descent direction for every
  task (Pareto-stationary when it is 0). Its weights scale each task's loss, as the reference
  code does (``loss = sum(scale[t] * loss_t)``).
* **PCGrad** (Yu et al., arXiv 2001.06782): each ``g_i`` in turn loses its component along every
  ``g_j`` (random order) it conflicts with (``g_i . g_j < 0``); the shared gradient is the sum
  of the projected ``g_i``. Each projected gradient is a combination of the ``g_t``, so the sum
  is ``sum_t w_t g_t``, computed here from ``G`` alone; task-specific parameters keep their own
  gradients, as in the reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from selfsup import distributed as sdist

__all__ = [
    "BALANCING_RULES",
    "BalancedStep",
    "balance_losses",
    "mgda_weights",
    "pcgrad_weights",
    "shared_parameters",
    "task_gradients",
]

#: ``SSLModule(balancing=...)`` values.
BALANCING_RULES = ("sum", "mgda", "pcgrad")


def mgda_weights(gram: Tensor, iterations: int = 250, tolerance: float = 1e-10) -> Tensor:
    """Weights ``a`` on the simplex minimising ``|| sum_t a_t g_t ||^2 = a^T G a``.

    Two tasks: the closed form ``a_1 = clamp((g_2 - g_1) . g_2 / ||g_1 - g_2||^2, 0, 1)``.
    More: Frank-Wolfe from the best pair, with an exact line search per step (the solver of
    the MGDA reference, ``MinNormSolver``).

    Shapes:
        gram: ``(T, T)`` -> ``(T,)``, non-negative, summing to 1.

    Examples:
        >>> g = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # orthogonal gradients
        >>> mgda_weights(g @ g.T).tolist()
        [0.5, 0.5]
    """
    gram = gram.double()
    t = gram.shape[0]
    if t == 1:
        return torch.ones(1, dtype=gram.dtype, device=gram.device)

    def pair(i: int, j: int) -> tuple[float, float]:
        """Best ``a`` on the segment ``a g_i + (1 - a) g_j`` and its squared norm."""
        ii, jj, ij = float(gram[i, i]), float(gram[j, j]), float(gram[i, j])
        denom = ii + jj - 2 * ij
        a = 0.5 if denom <= 0 else min(1.0, max(0.0, (jj - ij) / denom))
        return a, a * a * ii + (1 - a) ** 2 * jj + 2 * a * (1 - a) * ij

    best = min(((i, j) + pair(i, j) for i in range(t) for j in range(i + 1, t)), key=lambda r: r[3])
    weights = torch.zeros(t, dtype=gram.dtype, device=gram.device)
    weights[best[0]], weights[best[1]] = best[2], 1 - best[2]
    for _ in range(iterations):
        grad = gram @ weights  # half the gradient of a^T G a
        k = int(grad.argmin())
        # line search between the current point and vertex k
        v_vv = float(weights @ gram @ weights)
        v_vk = float(grad[k])
        v_kk = float(gram[k, k])
        denom = v_vv + v_kk - 2 * v_vk
        step = 0.0 if denom <= 0 else min(1.0, max(0.0, (v_vv - v_vk) / denom))
        new = (1 - step) * weights
        new[k] += step
        if float((new - weights).abs().sum()) < tolerance:
            weights = new
            break
        weights = new
    return weights


def pcgrad_weights(gram: Tensor, order: Sequence[Sequence[int]] | None = None) -> Tensor:
    """The weights ``w`` with ``sum_i PCGrad(g_i) = sum_t w_t g_t``.

    Task ``i``'s gradient is projected, in the order ``order[i]`` (default: the other tasks in
    index order; PCGrad draws a random order per step), off every ``g_j`` it then conflicts
    with: ``g_i <- g_i - min(0, g_i . g_j) / ||g_j||^2 g_j``. Tracked as coefficients ``C``
    (``g_i' = sum_t C_it g_t``), so only dot products are needed.

    Shapes:
        gram: ``(T, T)`` -> ``(T,)``.

    Examples:
        >>> g = torch.tensor([[1.0, 0.0], [-1.0, 1.0]])  # conflicting: g_0 . g_1 = -1
        >>> w = pcgrad_weights(g @ g.T)
        >>> (w.float() @ g).tolist()  # g_0 + g_1 with each conflicting part removed
        [0.5, 1.5]
    """
    gram = gram.double()
    t = gram.shape[0]
    coef = torch.eye(t, dtype=gram.dtype, device=gram.device)
    for i in range(t):
        others = [j for j in range(t) if j != i] if order is None else list(order[i])
        for j in others:
            dot = float(coef[i] @ gram[:, j])
            if dot < 0 and float(gram[j, j]) > 0:
                coef[i, j] -= dot / float(gram[j, j])
    return coef.sum(0)


def shared_parameters(methods: Sequence[nn.Module]) -> list[nn.Parameter]:
    """Trainable parameters that belong to two or more of ``methods`` (shared modules), in a
    stable order."""
    owners: dict[int, int] = {}
    params: dict[int, nn.Parameter] = {}
    for method in methods:
        for p in {id(p): p for p in method.parameters() if p.requires_grad}.values():
            owners[id(p)] = owners.get(id(p), 0) + 1
            params[id(p)] = p
    return [params[k] for k in params if owners[k] >= 2]


def task_gradients(losses: Sequence[Tensor], params: Sequence[nn.Parameter]) -> Tensor:
    """Each loss's gradient on ``params``, flattened: ``(T, P)``, averaged over ranks under DDP
    (so every rank balances with the global-batch gradients and takes the same weights).

    The graphs are kept (``retain_graph``) for the training backward that follows.
    """
    rows = []
    for loss in losses:
        grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
        rows.append(
            torch.cat(
                [
                    (g if g is not None else torch.zeros_like(p)).reshape(-1).float()
                    for g, p in zip(grads, params, strict=True)
                ]
            )
        )
    stacked = torch.stack(rows)
    if sdist.is_distributed():
        torch.distributed.all_reduce(stacked)
        stacked = stacked / sdist.world_size()
    return stacked


@dataclass
class BalancedStep:
    """One step's balancing: the loss to back-propagate, the task weights (for logging), and
    for PCGrad the shared parameters with the gradient they must take after the backward."""

    loss: Tensor
    weights: list[float]
    shared_gradient: tuple[list[nn.Parameter], Tensor] | None = None


def balance_losses(
    rule: str, losses: Sequence[Tensor], shared: Sequence[nn.Parameter], seed: int = 0
) -> BalancedStep:
    """Apply ``rule`` (``"mgda"`` or ``"pcgrad"``) to the weighted task losses of one step.

    MGDA returns ``sum_t a_t L_t``; PCGrad returns ``sum_t L_t`` and the shared parameters'
    projected gradient ``sum_t w_t g_t`` (projection orders drawn from ``seed``). Without
    shared parameters the losses are summed.

    Examples:
        >>> w = nn.Parameter(torch.tensor([1.0, 1.0]))
        >>> step = balance_losses("mgda", [(w**2).sum(), (w - 3).pow(2).sum()], [w])
        >>> [round(x, 3) for x in step.weights]  # opposite gradients 2w and 2(w - 3): they cancel
        [0.667, 0.333]
    """
    if not shared:
        return BalancedStep(sum(losses), [1.0] * len(losses))  # type: ignore[arg-type]
    grads = task_gradients(losses, shared)
    gram = grads.double() @ grads.double().T
    if rule == "mgda":
        weights = mgda_weights(gram)
        loss = sum(w * item for w, item in zip(weights.tolist(), losses, strict=True))
        return BalancedStep(loss, weights.tolist())  # type: ignore[arg-type]
    if rule != "pcgrad":
        raise ValueError(f"rule must be 'mgda' or 'pcgrad', got {rule!r}.")
    gen = torch.Generator().manual_seed(seed)
    t = len(losses)
    order = [[j for j in torch.randperm(t, generator=gen).tolist() if j != i] for i in range(t)]
    weights = pcgrad_weights(gram, order)
    flat = weights.to(grads.dtype) @ grads
    return BalancedStep(sum(losses), weights.tolist(), (list(shared), flat))  # type: ignore[arg-type]
