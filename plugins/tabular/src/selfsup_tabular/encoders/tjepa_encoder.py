"""T-JEPA's exported encoder: rows -> pooled target-encoder embeddings, with its preprocessing."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from selfsup.export import exportable
from selfsup_tabular.batch import encode_rows
from selfsup_tabular.data.preprocessing import TabularPreprocessor
from selfsup_tabular.encoders.token_pooling import POOLINGS, pool_tokens
from selfsup_tabular.encoders.transformer import TabularBackbone

__all__ = ["TJEPAEncoder"]


@exportable("tabular:tjepa_encoder")
class TJEPAEncoder(nn.Module):
    """T-JEPA's downstream encoder on its own: rows -> pooled target-encoder embeddings.

    What :meth:`TJEPA.export_encoder` returns and ``selfsup export`` writes: the
    :class:`~selfsup_tabular.encoders.TabularBackbone` (tokenizer + Transformer, the EMA target
    encoder's weights), the pooling of :func:`pool_tokens`, and — for a model trained on a table —
    the fitted preprocessing (:meth:`~selfsup_tabular.data.TabularPreprocessor.to_dict`: column
    names and kinds, category vocabularies, scaling statistics) as a JSON constructor argument,
    so :func:`selfsup.export.load_pretrained` rebuilds an encoder that embeds raw rows exactly as
    :meth:`TJEPA.embed` (and ``selfsup embed``) does, without the training config.

    Args:
        num_numerical: Numerical features (default 0).
        cardinalities: Vocabulary size per categorical feature (default None: none).
        d_token, num_registers, num_layers, num_heads, ffn_dim, dropout: The backbone (see
            :class:`~selfsup_tabular.encoders.TabularBackbone`; defaults 64, 1, 2, 4, 128, 0).
        pooling: One of :data:`POOLINGS` (default ``"concat"``).
        preprocessing: A fitted preprocessor's ``to_dict()``, or None (encoded batches only).
        numerical_embedding, frequencies, frequency_scale: The tokenizer's numerical embedding
            (see :class:`TJEPA`; defaults ``"linear"``, 16, 1.0).

    Shapes:
        rows: a ``pandas.DataFrame`` (needs ``preprocessing``) or an encoded batch dict
        (``"x_num"`` ``(B, n_num)``, ``"num_missing"``, ``"x_cat"`` ``(B, n_cat)``) -> ``(B, D)``.

    Raises:
        ValueError: a pooling not in :data:`POOLINGS`, or a ``preprocessing`` whose schema
            differs from ``num_numerical`` / ``cardinalities``.

    Examples:
        >>> import torch
        >>> encoder = TJEPAEncoder(num_numerical=2, cardinalities=[3], d_token=8, num_heads=2)
        >>> encoder({"x_num": torch.zeros(4, 2), "x_cat": torch.ones(4, 1, dtype=torch.long)}).shape
        torch.Size([4, 16])
    """

    def __init__(
        self,
        num_numerical: int = 0,
        cardinalities: list[int] | None = None,
        d_token: int = 64,
        num_registers: int = 1,
        num_layers: int = 2,
        num_heads: int = 4,
        ffn_dim: int | None = 128,
        dropout: float = 0.0,
        pooling: str = "concat",
        preprocessing: dict[str, Any] | None = None,
        numerical_embedding: str = "linear",
        frequencies: int = 16,
        frequency_scale: float = 1.0,
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}.")
        self.num_numerical = int(num_numerical)
        self.cardinalities = [int(c) for c in cardinalities or []]
        self.num_registers = int(num_registers)
        self.pooling = pooling
        self.preprocessor = preprocessor_for(
            preprocessing, self.num_numerical, self.cardinalities, type(self).__name__
        )
        self.backbone = TabularBackbone(
            self.num_numerical,
            self.cardinalities,
            d_token=d_token,
            num_registers=num_registers,
            num_layers=num_layers,
            num_heads=num_heads,
            ffn_dim=ffn_dim,
            dropout=dropout,
            numerical_embedding=numerical_embedding,
            frequencies=frequencies,
            frequency_scale=frequency_scale,
        )

    def forward(self, rows: Any, pooling: str | None = None) -> Tensor:
        """Pooled embeddings ``(B, D)`` of raw rows (a ``DataFrame``) or an encoded batch."""
        batch = encode_rows(
            rows,
            self.num_numerical,
            self.cardinalities,
            type(self).__name__,
            preprocessor=self.preprocessor,
            device=self.backbone.tokenizer.registers.device,
        )
        return pool_tokens(self.backbone(batch), self.num_registers, pooling or self.pooling)


def preprocessor_for(
    spec: dict[str, Any] | None, num_numerical: int, cardinalities: list[int], owner: str
) -> TabularPreprocessor | None:
    """The preprocessor rebuilt from ``spec`` (None for none), checked against the schema."""
    if not spec:
        return None
    pre = TabularPreprocessor.from_dict(spec)
    if (pre.num_numerical, pre.cardinalities) != (num_numerical, cardinalities):
        raise ValueError(
            f"{owner}: the preprocessing describes {pre.num_numerical} numerical features and "
            f"cardinalities {pre.cardinalities}, the encoder {num_numerical} and "
            f"{cardinalities}; export it again from the trained model."
        )
    return pre
