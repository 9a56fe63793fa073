"""The method contract: a module that turns one batch into named losses."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from torch import Tensor, nn

# defined beside the batch checks that raise it; this is where methods have always imported it
from selfsup.checks import MalformedBatchError
from selfsup.teachers import EMATeacher, TrainingProgress

if TYPE_CHECKING:  # the method contract itself does not need Lightning at import
    from lightning.pytorch import LightningDataModule

__all__ = ["Method", "MalformedBatchError"]


class Method(nn.Module, ABC):
    """Base class of every self-supervised method.

    A method owns its encoders, heads, teachers and loss. The experiment layer
    calls :meth:`training_losses` once per batch and optimises the ``"loss"``
    entry; every other entry is logged. EMA teachers
    (:class:`selfsup.teachers.EMATeacher`) anywhere inside the method are updated
    by the experiment layer after each optimiser step.

    Subclasses implement :meth:`training_losses`; to be probed by kNN/linear
    evaluation and used by ``selfsup embed``, :meth:`embed`; to be used by
    ``selfsup export``, :meth:`export_encoder`. A method that needs something from
    its data (a fitted schema, vocabularies, front-end settings) takes it in
    :meth:`bind_data`; data modules never look for the method.
    """

    #: The data modality this method trains on (``"graph"``, ``"vision"``, ...).
    modality: ClassVar[str] = "any"

    #: ``True`` when the batch format gives NaN a meaning (e.g. "this item has no content")
    #: and the method validates its own inputs: ``SSLModule``'s NaN/inf input check then skips
    #: this method's batches (the loss and gradient checks still apply).
    nan_inputs_allowed: ClassVar[bool] = False

    @abstractmethod
    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        """Return ``{"loss": scalar, **other_named_scalars}`` for one batch.

        Raises:
            MalformedBatchError: when ``batch`` does not have the expected structure.
        """

    def bind_data(self, data: LightningDataModule, stage: str | None) -> None:
        """Take what this method needs from its data module, or give it what it needs from us.

        The data -> model hand-over runs downward: the experiment layer calls this, never the
        data module. :class:`~selfsup.experiment.SSLModule` calls it in its ``setup`` for every
        task, with that task's data module, right after ``data.setup(stage)`` (so the data is
        read and fitted) and before any loader is asked for or the optimiser is built (so layers
        created here are trained). ``selfsup embed``, ``selfsup rankme`` and
        :func:`~selfsup.experiment.embedding.embed_to_file` call it with ``stage="predict"``
        after the checkpoint's weights are loaded and ``data.setup("predict")`` ran, before
        ``data.predict_dataloader()``. It may be called again (each ``fit``/``validate``/
        ``test`` of a trainer), so it must be idempotent.

        What a method may do here:

        - read the data module's fitted schema, vocabularies or front-end settings and build
          or check its layers (see :class:`~selfsup.experiment.schema.LazySchemaModule`);
        - with ``stage="predict"``, hand the data module what encoding new rows needs from the
          trained model (e.g. vocabularies saved in the checkpoint) through a public method
          of the data module; such state must not be re-fitted on the rows being embedded.

        A data module of a type the method does not know is left alone (duck-type on the
        public attributes the method reads). The default does nothing.

        Args:
            data: The task's data module (already ``setup(stage)``).
            stage: Lightning's stage: ``"fit"``, ``"validate"``, ``"test"``, ``"predict"``
                (or ``None`` outside a trainer).

        Examples:
            >>> class Sized(Method):
            ...     def bind_data(self, data, stage):
            ...         if stage != "predict":
            ...             self.in_dim = data.dim  # e.g. build the first layer here
            ...     def training_losses(self, batch):
            ...         raise NotImplementedError
            >>> from types import SimpleNamespace
            >>> method = Sized()
            >>> method.bind_data(SimpleNamespace(dim=16), "fit")
            >>> method.in_dim
            16
        """

    def embed(self, batch: Any) -> Tensor:
        """Frozen-evaluation features ``(B, D)`` for a batch of inputs."""
        raise NotImplementedError(f"{type(self).__name__} does not define embed().")

    def export_encoder(self) -> nn.Module:
        """The trained encoder, as a module :func:`selfsup.export.save_pretrained` can write.

        The returned module's class is :func:`~selfsup.export.exportable` and registered
        as a plugin component, so ``selfsup export`` writes it to a folder that
        :func:`selfsup.export.load_pretrained` rebuilds without the training config. It
        is the backbone ``embed`` runs (projection heads, predictors and teachers are
        left behind), unless the method documents otherwise.
        """
        raise NotImplementedError(
            f"{type(self).__name__} does not define export_encoder(); `selfsup export` needs it."
        )

    def representations(self, batch: Any) -> Tensor | None:
        """Encoder features ``(B, D)`` of a *training* batch for label-free monitors
        (RankMe); ``None`` (the default) leaves this method out of them."""
        return None

    def unused_parameters_reason(self) -> str | None:
        """Why a training step of this method may leave trainable parameters without a gradient.

        ``None`` (the default) promises that every trainable parameter gets a gradient from
        ``"loss"`` in every step (the method contract checks one step). A method that draws a
        branch per step, or trains a part only on some batches, returns one sentence saying so;
        under DDP, :class:`~selfsup.experiment.SSLModule` then turns on
        ``find_unused_parameters`` (which costs a graph traversal per step) and logs the reason.
        Parameters that are never trained should be frozen (``requires_grad_(False)``) instead.

        Examples:
            >>> class OneBranch(Method):
            ...     def unused_parameters_reason(self):
            ...         return "one of two heads is drawn per step"
            ...     def training_losses(self, batch):
            ...         return {"loss": batch.sum()}
            >>> OneBranch().unused_parameters_reason()
            'one of two heads is drawn per step'
        """
        return None

    def optimizer_groups(self) -> list[dict[str, Any]] | None:
        """This method's own optimiser parameter groups, or ``None`` (default) for the usual ones.

        For per-parameter learning rates such as layer-wise decay in fine-tuning. Each group is
        ``{"params": [...], "lr_scale": s, "weight_decay": wd, ...}``: ``lr_scale`` (default 1)
        multiplies the optimiser's learning rate (so the configured ``lr`` stays the base rate
        and schedulers keep the ratios), ``weight_decay`` when given overrides the optimiser's.
        Groups must not set ``lr`` itself. Trainable parameters of the method left out of every
        group get :class:`~selfsup.experiment.SSLModule`'s default groups.
        """
        return None

    def update_teacher(self, step: int, total_steps: int) -> float | None:
        """One EMA step of every :class:`~selfsup.teachers.EMATeacher` inside this method (and
        the step count of every :class:`~selfsup.teachers.TrainingProgress`).

        For hand-written training loops: call it after each ``optimizer.step()`` with the optimiser
        step index; :class:`~selfsup.experiment.SSLModule` does this itself.

        Returns:
            The momentum of the last teacher updated, or ``None`` when none moved (no teacher,
            a step already applied, or a delayed start).
        """
        momentum = None
        for module in self.modules():
            if isinstance(module, TrainingProgress):
                module.advance(step, total_steps)
            elif isinstance(module, EMATeacher):
                m = module.update(step, total_steps)
                momentum = m if m is not None else momentum
        return momentum

    def forward(self, batch: Any) -> dict[str, Tensor]:
        return self.training_losses(batch)
