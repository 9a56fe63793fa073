"""Cross-modal alignment of paired samples (CLIP-style symmetric InfoNCE) over any two encoders."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.experiment.method import MalformedBatchError, Method
from selfsup.losses import info_nce

__all__ = ["CrossModalAlignment"]


class CrossModalAlignment(Method):
    """Align two modalities of paired samples in one embedding space.

    With encoders ``f_a, f_b``, linear projections ``W_a, W_b`` and L2-normalised
    ``u_i = W_a f_a(a_i) / ||.||``, ``v_i = W_b f_b(b_i) / ||.||`` (CLIP, Radford et al.,
    arXiv 2103.00020):

    .. math::

        \\mathcal{L} = \\tfrac12 \\big(\\mathrm{InfoNCE}(u, v; \\tau)
                     + \\mathrm{InfoNCE}(v, u; \\tau)\\big), \\qquad
        \\mathrm{InfoNCE}(u, v; \\tau) = -\\frac1B \\sum_i
            \\log \\frac{e^{u_i \\cdot v_i / \\tau}}{\\sum_j e^{u_i \\cdot v_j / \\tau}}

    both directions computed by :func:`selfsup.losses.info_nce`. With a learnable temperature
    ``tau = exp(-s)`` and ``s`` clamped at ``log(max_logit_scale)`` (CLIP: 100, i.e.
    ``tau >= 0.01``) so the logits cannot blow up.

    Each encoder comes from its modality's plugin (for instance the audio plugin's encoder and
    the tabular plugin's backbone) and must map its side of the batch to ``(B, D_side)``
    features; whatever its input type (tensor, dict, PyG batch) it is passed through untouched.

    Args:
        encoder_a: Encoder of the first modality.
        encoder_b: Encoder of the second modality.
        dim_a: Feature width of ``encoder_a``'s output.
        dim_b: Feature width of ``encoder_b``'s output.
        embed_dim: Width of the shared space (default 128).
        temperature: Initial (or fixed) ``tau`` (default 0.07, CLIP's initial value).
        learnable_temperature: Learn ``tau`` (default True).
        max_logit_scale: Upper bound of ``1 / tau`` when learned (default 100).
        keys: Names of the two sides in dict batches (default ``("a", "b")``).
        gather: Gather embeddings across ranks before the loss (default None: when distributed).

    Shapes:
        batch: ``{keys[0]: side_a, keys[1]: side_b}`` or a 2-tuple ``(side_a, side_b)`` with
        ``B`` pairs; ``training_losses`` -> scalars; ``embed`` -> ``(B, embed_dim)``.

    Distributed:
        ``info_nce`` gathers both sides across ranks (gradients flow back to their rank), so
        every pair in the global batch is a negative for every other.

    Raises:
        ValueError: On non-positive sizes or temperatures.
        MalformedBatchError: On a batch without two sides, or encoders whose outputs do not
            match ``dim_a``/``dim_b`` or each other's batch size.
    """

    modality = "paired"

    def __init__(
        self,
        encoder_a: nn.Module,
        encoder_b: nn.Module,
        dim_a: int,
        dim_b: int,
        embed_dim: int = 128,
        temperature: float = 0.07,
        learnable_temperature: bool = True,
        max_logit_scale: float = 100.0,
        keys: tuple[str, str] = ("a", "b"),
        gather: bool | None = None,
    ) -> None:
        super().__init__()
        for name, value in (("dim_a", dim_a), ("dim_b", dim_b), ("embed_dim", embed_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}.")
        if not (0 < temperature and math.isfinite(temperature)):
            raise ValueError(f"temperature must be > 0, got {temperature}.")
        if not max_logit_scale > 1.0 / temperature:
            raise ValueError(
                f"max_logit_scale ({max_logit_scale}) must exceed 1 / temperature "
                f"({1.0 / temperature:.4g}), or the initial temperature is already clamped."
            )
        if len(keys) != 2 or keys[0] == keys[1]:
            raise ValueError(f"keys must name two different sides, got {keys!r}.")
        self.encoder_a = encoder_a
        self.encoder_b = encoder_b
        self.dims = (dim_a, dim_b)
        self.project_a = nn.Linear(dim_a, embed_dim, bias=False)
        self.project_b = nn.Linear(dim_b, embed_dim, bias=False)
        scale = torch.tensor(math.log(1.0 / temperature))
        if learnable_temperature:
            self.logit_scale = nn.Parameter(scale)
        else:
            self.register_buffer("logit_scale", scale)
        self.max_log_scale = math.log(max_logit_scale)
        self.keys = tuple(keys)
        self.gather = gather

    # -- batch handling ------------------------------------------------------
    def _sides(self, batch: Any) -> tuple[Any, Any]:
        if isinstance(batch, Mapping):
            missing = [k for k in self.keys if k not in batch]
            if missing:
                raise MalformedBatchError(
                    f"CrossModalAlignment expects a dict with keys {self.keys}, missing "
                    f"{missing} (got keys {sorted(batch)})."
                )
            return batch[self.keys[0]], batch[self.keys[1]]
        if isinstance(batch, list | tuple) and len(batch) == 2:
            return batch[0], batch[1]
        raise MalformedBatchError(
            "CrossModalAlignment expects {side_a_key: ..., side_b_key: ...} or a pair "
            f"(side_a, side_b), got {type(batch).__name__}."
        )

    def _encode(self, side: int, inputs: Any) -> Tensor:
        encoder, project = (
            (self.encoder_a, self.project_a) if side == 0 else (self.encoder_b, self.project_b)
        )
        features = encoder(inputs)
        if not isinstance(features, Tensor) or features.dim() != 2:
            raise MalformedBatchError(
                f"encoder_{'ab'[side]} must return (B, D) features, got "
                f"{getattr(features, 'shape', type(features).__name__)}; wrap it to pool tokens."
            )
        if features.shape[1] != self.dims[side]:
            raise MalformedBatchError(
                f"encoder_{'ab'[side]} returned {features.shape[1]} features, but "
                f"dim_{'ab'[side]}={self.dims[side]}."
            )
        return F.normalize(project(features), dim=-1)

    @property
    def temperature(self) -> Tensor:
        """Current ``tau = exp(-min(s, log max_logit_scale))``."""
        return torch.exp(-self.logit_scale.clamp(max=self.max_log_scale))

    # -- method contract ----------------------------------------------------
    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        side_a, side_b = self._sides(batch)
        u, v = self._encode(0, side_a), self._encode(1, side_b)
        if u.shape[0] != v.shape[0]:
            raise MalformedBatchError(
                f"the two sides hold {u.shape[0]} and {v.shape[0]} samples; pairs must align."
            )
        tau = self.temperature
        loss_ab = info_nce(u, v, tau, normalize=False, gather=self.gather)
        loss_ba = info_nce(v, u, tau, normalize=False, gather=self.gather)
        with torch.no_grad():
            hits = (u @ v.T).argmax(dim=1) == torch.arange(u.shape[0], device=u.device)
        return {
            "loss": 0.5 * (loss_ab + loss_ba),
            "loss_a_to_b": loss_ab.detach(),
            "loss_b_to_a": loss_ba.detach(),
            "temperature": tau.detach(),
            "retrieval_top1": hits.float().mean(),
        }

    def embed(self, batch: Any) -> Tensor:
        """Shared-space embeddings of side ``a`` (a dict with only ``keys[1]`` embeds side b)."""
        if isinstance(batch, Mapping) and self.keys[0] not in batch and self.keys[1] in batch:
            return self._encode(1, batch[self.keys[1]])
        if isinstance(batch, Mapping):
            return self._encode(0, batch[self.keys[0]])
        return self._encode(0, batch)

    def embed_pair(self, batch: Any) -> tuple[Tensor, Tensor]:
        """Both sides' shared-space embeddings ``(B, embed_dim)`` each (for retrieval)."""
        side_a, side_b = self._sides(batch)
        return self._encode(0, side_a), self._encode(1, side_b)

    def representations(self, batch: Any) -> Tensor | None:
        with torch.no_grad():
            return self._encode(0, self._sides(batch)[0])
