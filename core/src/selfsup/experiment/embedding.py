"""Own data in, embeddings out: one trained method over a data module's ``predict_dataloader``.

``selfsup embed`` builds the experiment from its config, loads the checkpoint's
weights, and runs :func:`embed_to_file`: Lightning's predict loop (devices,
precision, a progress bar) over :class:`EmbeddingModule`, with an
:class:`~selfsup.export.EmbeddingWriter` streaming ``(ids, vectors)`` to disk.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import LightningDataModule, LightningModule, Trainer
from lightning.pytorch.utilities.model_helpers import is_overridden
from torch import Tensor

from selfsup.data.embedding import check_embedding_batch, ids_to_list
from selfsup.experiment.method import Method
from selfsup.export.embeddings import EmbeddingWriter

__all__ = ["EmbeddingModule", "embed_to_file", "load_weights"]


class EmbeddingModule(LightningModule):
    """Lightning wrapper whose ``predict_step`` turns an ``EmbeddingBatch`` into ``(ids, vectors)``.

    In ``setup`` (after Lightning set up the trainer's data module) it calls
    ``method.bind_data(datamodule, stage)``, so a data module that encodes rows with the
    trained model's state (vocabularies, preprocessing) gets it before
    ``predict_dataloader()`` is asked for, without looking for the model itself.

    Args:
        method: The trained method; its :meth:`~selfsup.experiment.Method.embed` gives the vectors.

    Examples:
        >>> from selfsup.demo import VectorSimCLR
        >>> module = EmbeddingModule(VectorSimCLR(in_dim=4)).eval()
        >>> ids, vectors = module.predict_step((["a", "b"], torch.zeros(2, 4)), 0)
        >>> vectors.shape
        torch.Size([2, 256])
    """

    def __init__(self, method: Method) -> None:
        super().__init__()
        self.method = method

    def setup(self, stage: str) -> None:
        # the trainer set up its data module just before this hook; loaders come later
        data = self.trainer.datamodule
        if data is not None:
            self.method.bind_data(data, stage)

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> Any:
        item = check_embedding_batch(batch)
        vectors = self.method.embed(item.inputs)
        if not isinstance(vectors, Tensor):
            raise TypeError(
                f"{type(self.method).__name__}.embed must return a tensor, got "
                f"{type(vectors).__name__}."
            )
        return ids_to_list(item.ids), vectors.float()


def load_weights(module: torch.nn.Module, checkpoint: str | os.PathLike[str]) -> None:
    """Load a Lightning checkpoint's ``state_dict`` into ``module`` (tensors only, strict).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a Lightning checkpoint, or weights that do not fit the module
            (the message lists missing and unexpected keys).
    """
    from selfsup.checkpoints import load_checkpoint_file

    path = Path(checkpoint)
    # weights_only: a checkpoint from a stranger can hold tensors and plain data, never code
    ckpt = load_checkpoint_file(path)
    state = ckpt.get("state_dict") if isinstance(ckpt, Mapping) else None
    if not isinstance(state, Mapping):
        raise ValueError(
            f"{path} is not a Lightning checkpoint (no 'state_dict'); pass the .ckpt that "
            "`selfsup fit` wrote (checkpoints/ under the run folder)."
        )
    result = module.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(
            f"{path} does not fit the model the config builds: missing "
            f"{list(result.missing_keys)[:6]}, unexpected {list(result.unexpected_keys)[:6]}. "
            "Use the config the checkpoint was trained with."
        )


def embed_to_file(
    method: Method,
    data: LightningDataModule,
    output: str | os.PathLike[str],
    *,
    metadata: Mapping[str, Any] | None = None,
    accelerator: str = "auto",
    precision: str | int | None = None,
    chunk_rows: int = 65536,
    overwrite: bool = False,
    limit_batches: int | float | None = None,
    progress_bar: bool = True,
) -> Path:
    """Embed every sample of ``data.predict_dataloader()`` with ``method`` into ``output``.

    Lightning's predict loop runs ``data.setup("predict")``, then
    ``method.bind_data(data, "predict")`` (:class:`EmbeddingModule`), then reads the loader.

    Args:
        method: The trained method (its weights already loaded).
        data: A data module whose ``predict_dataloader()`` yields
            :class:`~selfsup.data.EmbeddingBatch` es.
        output: ``*.parquet`` or ``*.npy`` (see :mod:`selfsup.export.embeddings`).
        metadata: JSON facts stored with the vectors.
        accelerator: Lightning accelerator (``"cpu"``, ``"gpu"``, ``"auto"``); one device.
        precision: Lightning precision (``"bf16-mixed"`` ...); vectors are stored as float32.
        chunk_rows: Rows per chunk written to disk.
        overwrite: Replace an existing output.
        limit_batches: Embed only this many batches (or this fraction), for a quick look.
        progress_bar: Show Lightning's progress bar.

    Returns:
        The output path (written atomically: it appears only when complete).

    Raises:
        TypeError: ``data`` has no ``predict_dataloader``.
    """
    if not is_overridden("predict_dataloader", data, LightningDataModule):
        raise TypeError(
            f"{type(data).__name__} has no predict_dataloader(), so `selfsup embed` cannot read "
            "it; use a data module that yields selfsup.data.EmbeddingBatch(ids, inputs) there."
        )
    writer = EmbeddingWriter(output, metadata, chunk_rows=chunk_rows, overwrite=overwrite)
    trainer = Trainer(
        accelerator=accelerator,
        devices=1,
        precision=precision,  # type: ignore[arg-type]
        logger=False,
        callbacks=[writer],
        enable_checkpointing=False,
        enable_progress_bar=progress_bar,
        enable_model_summary=False,
        limit_predict_batches=limit_batches,
        default_root_dir=str(Path(output).parent),
    )
    try:
        trainer.predict(EmbeddingModule(method), datamodule=data, return_predictions=False)
    except BaseException:
        writer.file.abort()
        raise
    return writer.file.path
