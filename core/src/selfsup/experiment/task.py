"""A task: one method trained on one data module, with its loss weight."""

from __future__ import annotations

from collections.abc import Mapping

from lightning.pytorch import LightningDataModule
from torch import nn

from selfsup.experiment.method import Method

__all__ = ["Task"]


class Task(nn.Module):
    """One self-supervised objective of an experiment.

    Args:
        name: Identifier used in logs (``"{name}/loss"``) and as the key of this
            task's batches. A Python identifier without ``/`` or ``.``.
        method: The :class:`~selfsup.experiment.method.Method` that turns a batch
            into losses.
        data: The data module this task trains on.
        weight: Multiplier of this task's ``"loss"`` in the joint objective.
        share: Method attribute -> key of a module in ``SSLModule(shared=...)``:
            the experiment replaces ``method.<attribute>`` by that shared module,
            so several tasks train one backbone. Dotted attributes reach
            submodules (``"encoder.backbone"``).

    Example::

        Task("digits", method=VectorSimCLR(in_dim=64), data=DigitsDataModule())
    """

    def __init__(
        self,
        name: str,
        method: Method,
        data: LightningDataModule,
        weight: float = 1.0,
        share: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        if not name.isidentifier():
            raise ValueError(
                f"task name must be a Python identifier (letters, digits, '_'), got {name!r}."
            )
        if not isinstance(method, Method):
            raise TypeError(
                f"task {name!r}: method must be a selfsup Method, got {type(method).__name__}; "
                "subclass selfsup.experiment.Method and implement training_losses()."
            )
        if not isinstance(data, LightningDataModule):
            raise TypeError(
                f"task {name!r}: data must be a LightningDataModule, got {type(data).__name__}."
            )
        if not weight >= 0:
            raise ValueError(f"task {name!r}: weight must be >= 0, got {weight}.")
        self.name = name
        self.method = method
        # A data module is not an nn.Module: kept as a plain attribute so it is
        # neither moved to devices nor part of the state dict.
        self.data = data
        self.weight = float(weight)
        self.share = dict(share or {})

    def extra_repr(self) -> str:
        return f"name={self.name!r}, weight={self.weight}, data={type(self.data).__name__}"
