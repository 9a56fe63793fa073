"""GraphMAE2's latent prediction (Hou et al., WWW 2023, arXiv 2304.04779), the parts
:class:`~selfsup_graph.methods.GraphMAE` builds when ``latent_weight > 0``.

An EMA copy of the encoder (core's :class:`~selfsup.teachers.EMATeacher`, momentum ``m``)
encodes the **unmasked** graph and its EMA projector gives targets ``t``; the student predicts
``p = predictor(projector(H))`` from the codes ``H`` of the masked graph, and

.. math::

    \\mathcal{L} = \\mathcal{L}_{rec} + \\lambda \\, \\mathrm{SCE}_{\\alpha=1}(p, t),
    \\qquad \\theta_{target} \\leftarrow m \\, \\theta_{target} + (1 - m) \\, \\theta.

Projector ``Linear(h, p)-PReLU-Linear(p, h)``, predictor ``PReLU-Linear(h, h)`` (``p`` =
``projector_hidden``, 256 in GraphMAE2). Shapes: ``H`` ``(N, h)`` -> ``p``, ``t`` ``(N, h)``.
The modules stay attributes of the method (``projector``, ``predictor``, ``target_encoder``,
``target_projector``), so checkpoints keep their keys.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from selfsup.encoders import ProjectionHead, mlp_blocks
from selfsup.teachers import EMATeacher
from selfsup_graph.encoders.blocks import check_choice

__all__ = ["check_latent_arguments", "ema_targets", "latent_heads", "update_in_forward"]


class _ForwardEMATeacher(EMATeacher):
    """An :class:`EMATeacher` moved inside the training forward pass (``ema_timing="forward"``).

    Its :meth:`update` is a no-op, so the experiment layer's after-step update (which walks every
    ``EMATeacher``) leaves it alone; :meth:`update_in_forward` applies GraphMAE2's update.
    """

    def update(self, step: int, total_steps: int) -> float | None:
        return None

    def update_in_forward(self, step: int) -> float | None:
        # constant momentum only (check_latent_arguments), so total_steps is irrelevant
        return EMATeacher.update(self, step, step + 1)


def check_latent_arguments(
    latent_weight: float,
    momentum: float | str,
    ema_delay_steps: int,
    ema_timing: str,
    latent_nodes: str,
) -> None:
    """Raise ``ValueError`` on latent-prediction options out of range (see
    :class:`~selfsup_graph.methods.GraphMAE` for their meaning).

    Examples:
        >>> check_latent_arguments(0.15, 0.0, 0, "forward", "all")  # GraphMAE2 Cora: fine
        >>> check_latent_arguments(0.15, "cosine:0.996", 0, "forward", "all")
        Traceback (most recent call last):
        ...
        ValueError: ema_timing='forward' (GraphMAE2's in-forward update) needs a constant numeric momentum, got 'cosine:0.996': a schedule needs the run's total step count.
    """  # noqa: E501
    check_choice("ema_timing", ema_timing, ("after_step", "forward"))
    if ema_timing == "forward" and (
        isinstance(momentum, bool) or not isinstance(momentum, int | float)
    ):
        raise ValueError(
            f"ema_timing='forward' (GraphMAE2's in-forward update) needs a constant numeric "
            f"momentum, got {momentum!r}: a schedule needs the run's total step count."
        )
    check_choice("latent_nodes", latent_nodes, ("all", "keep"))
    if (
        isinstance(ema_delay_steps, bool)
        or not isinstance(ema_delay_steps, int)
        or ema_delay_steps < 0
    ):
        raise ValueError(f"ema_delay_steps must be an int >= 0, got {ema_delay_steps!r}.")
    if not (math.isfinite(latent_weight) and latent_weight >= 0.0):
        raise ValueError(f"latent_weight must be >= 0, got {latent_weight}.")


def latent_heads(hidden_channels: int, projector_hidden: int) -> tuple[nn.Module, nn.Module]:
    """GraphMAE2's student ``(projector, predictor)``: ``(N, h) -> (N, h)`` each.

    Examples:
        >>> projector, predictor = latent_heads(8, 16)
        >>> predictor(projector(torch.randn(3, 8))).shape
        torch.Size([3, 8])
    """
    # Linear-PReLU-Linear; keys projector.0.*, .1.weight (PReLU), .2.* as before
    projector = ProjectionHead(
        mlp_blocks(
            [hidden_channels, projector_hidden, hidden_channels],
            batch_norm=False,
            activation=nn.PReLU,
        )
    )
    predictor = nn.Sequential(nn.PReLU(), nn.Linear(hidden_channels, hidden_channels))
    return projector, predictor


def ema_targets(
    encoder: nn.Module,
    projector: nn.Module,
    momentum: float | str,
    ema_delay_steps: int,
    ema_timing: str,
) -> tuple[EMATeacher, EMATeacher]:
    """EMA copies ``(target_encoder, target_projector)`` of the student's encoder and projector.

    GraphMAE2's ``delayed_ema_epoch``: the targets hold still for ``ema_delay_steps`` steps.
    ``ema_timing="after_step"``: core's after-optimiser-step update, from step
    ``ema_delay_steps + 1``; ``"forward"``: updated by :func:`update_in_forward`, when the
    forward count (from 0) reaches ``ema_delay_steps``, as GraphMAE2 does.

    Examples:
        >>> projector, _ = latent_heads(8, 16)
        >>> target, _ = ema_targets(torch.nn.Linear(8, 8), projector, 0.996, 0, "after_step")
        >>> type(target).__name__
        'EMATeacher'
    """
    if ema_timing == "forward":
        delayed = {"momentum": momentum, "start_step": ema_delay_steps}
        return _ForwardEMATeacher(encoder, **delayed), _ForwardEMATeacher(projector, **delayed)
    delayed = {"momentum": momentum, "start_step": ema_delay_steps + 1}
    return EMATeacher(encoder, **delayed), EMATeacher(projector, **delayed)


def update_in_forward(teachers: tuple[nn.Module, ...], forward_steps: torch.Tensor) -> None:
    """``ema_timing="forward"``: one EMA step of each teacher, then count the forward.

    Called after the latent targets are computed and before backward (GraphMAE2's
    ``mask_attr_prediction`` order), so the targets of step ``t`` come from the student of step
    ``t - 1``. ``forward_steps`` is the method's ``()`` int64 buffer, so a resumed run continues
    the count.
    """
    step = int(forward_steps)
    for teacher in teachers:
        assert isinstance(teacher, _ForwardEMATeacher)
        teacher.update_in_forward(step)
    forward_steps.add_(1)
