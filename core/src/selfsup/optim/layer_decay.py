"""Layer-wise learning-rate decay for fine-tuning (BEiT, BEATs, data2vec, MAE).

Blocks near the input keep more of what pre-training learned when they move less: layer ``l``
of ``L`` gets the learning rate ``lr * decay^(L - l)``, with the embeddings at ``l = 0`` and the
task head at ``l = L`` (full rate).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from torch import Tensor

__all__ = ["layer_decay_param_groups", "no_decay_bias_and_norm"]


def no_decay_bias_and_norm(name: str, param: Tensor) -> bool:
    """The usual weight-decay exemption: every parameter with ``ndim <= 1`` (biases,
    normalisation scales, gates), as ``SSLModule(no_weight_decay="bias_and_norm")`` does."""
    return param.ndim <= 1


def layer_decay_param_groups(
    named_parameters: Iterable[tuple[str, Tensor]],
    layer_id: Callable[[str], int],
    num_layers: int,
    lr: float | None,
    decay: float,
    weight_decay: float | None = 0.0,
    no_weight_decay: Callable[[str, Tensor], bool] = no_decay_bias_and_norm,
) -> list[dict[str, Any]]:
    """Optimiser parameter groups with layer-wise learning-rate decay.

    Parameter ``p`` named ``n`` with ``l = layer_id(n)`` in ``[0, num_layers]`` goes to the group

    .. math::

        \\mathrm{lr}_p = \\mathrm{lr} \\cdot \\mathrm{decay}^{\\,L - l}, \\qquad
        \\mathrm{wd}_p = \\begin{cases} 0 & \\text{no\\_weight\\_decay}(n, p) \\\\
        \\mathrm{weight\\_decay} & \\text{otherwise} \\end{cases}

    with ``L = num_layers``: embeddings ``l = 0`` get ``lr * decay^L``, the head ``l = L`` gets
    ``lr``. One group per ``(layer, decayed or not)`` that has parameters, ordered by layer; each
    also holds ``lr_scale = decay^(L - l)`` and ``layer_id`` (torch optimisers keep extra keys,
    and per-group schedulers such as ``CosineAnnealingLR`` scale each group's own ``lr``).
    Parameters with ``requires_grad=False`` are left out (frozen parts stay frozen).

    Args:
        named_parameters: ``(name, parameter)`` pairs, e.g. ``model.named_parameters()``.
        layer_id: Maps a parameter name to its layer ``0..num_layers``.
        num_layers: ``L``, the head's layer id (for a ViT of ``N`` blocks: ``N + 1``).
        lr: Base (head) learning rate, ``> 0``; ``None`` leaves ``lr`` out of the groups (for
            :meth:`selfsup.experiment.Method.optimizer_groups`, which scales the optimiser's
            own rate by ``lr_scale``).
        decay: Ratio per layer, in ``(0, 1]`` (1 = no decay; BEiT/MAE use 0.65-0.75).
        weight_decay: Decoupled weight decay of the decayed parameters (default 0); ``None``
            leaves it out of their groups (the optimiser's own applies).
        no_weight_decay: ``(name, param) -> True`` for parameters without weight decay
            (default :func:`no_decay_bias_and_norm`).

    Returns:
        ``[{"params": [...], "lr": ..., "weight_decay": ..., "lr_scale": ..., "layer_id": ...}]``.

    Raises:
        ValueError: ``decay`` outside ``(0, 1]``, ``lr <= 0``, ``weight_decay < 0``,
            ``num_layers < 0``, or a layer id outside ``[0, num_layers]`` (the message names the
            parameter), or no trainable parameter at all.
    """
    if not (isinstance(num_layers, int) and num_layers >= 0):
        raise ValueError(f"num_layers must be an int >= 0, got {num_layers!r}.")
    if not (math.isfinite(decay) and 0.0 < decay <= 1.0):
        raise ValueError(f"decay must be in (0, 1], got {decay}.")
    if lr is not None and not (math.isfinite(lr) and lr > 0.0):
        raise ValueError(f"lr must be a finite number > 0, got {lr}.")
    if weight_decay is not None and not (math.isfinite(weight_decay) and weight_decay >= 0.0):
        raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay}.")
    groups: dict[tuple[int, bool], dict[str, Any]] = {}
    for name, param in named_parameters:
        if not param.requires_grad:
            continue
        layer = layer_id(name)
        if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer <= num_layers:
            raise ValueError(
                f"layer_id({name!r}) = {layer!r}: layer ids must be ints in [0, {num_layers}] "
                "(0 = embeddings, num_layers = head)."
            )
        decayed = not no_weight_decay(name, param)
        key = (layer, decayed)
        if key not in groups:
            scale = decay ** (num_layers - layer)
            group: dict[str, Any] = {"params": [], "lr_scale": scale, "layer_id": layer}
            if lr is not None:
                group["lr"] = lr * scale
            if not decayed:
                group["weight_decay"] = 0.0
            elif weight_decay is not None:
                group["weight_decay"] = weight_decay
            groups[key] = group
        groups[key]["params"].append(param)
    if not groups:
        raise ValueError("no trainable parameter (all have requires_grad=False or none given).")
    return [groups[k] for k in sorted(groups, key=lambda k: (k[0], not k[1]))]
