"""SCARF (Bahri et al., arXiv 2106.15147): contrastive learning with random feature corruption."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from selfsup.checks import check_positive, check_probability
from selfsup.losses import info_nce
from selfsup_tabular.augment.corruption import scarf_corrupt, scarf_corrupt_columns
from selfsup_tabular.encoders.mlp import TabularMLP
from selfsup_tabular.methods.row_mlp import RowMLPMethod, SCARFEncoder

__all__ = ["SCARF", "SCARFEncoder"]


class SCARF(RowMLPMethod):
    """SCARF: contrast each row with a corrupted copy of itself.

    The corrupted view ``\\tilde x`` replaces ``int(c F)`` random features of each row by values
    of the same feature from other rows (:func:`~selfsup_tabular.augment.scarf_corrupt`). With
    encoder ``f`` and pre-training head ``g`` (ReLU MLPs),

    .. math::

        z_i = g(f(x_i)), \\quad \\tilde z_i = g(f(\\tilde x_i)), \\quad
        L = -\\frac{1}{B} \\sum_i \\log \\frac{\\exp(\\cos(z_i, \\tilde z_i)/\\tau)}
            {\\sum_k \\exp(\\cos(z_i, \\tilde z_k)/\\tau)}

    computed by :func:`selfsup.losses.info_nce` (anchors as queries, corrupted rows as keys).
    Evaluation features (:meth:`embed`) are ``f(x)``; :meth:`export_encoder` gives ``f`` (with
    its input layer and the saved preprocessing) as a :class:`SCARFEncoder`. Randomness comes
    from torch's global RNG.

    Args:
        num_features: Tensor mode: number of (numeric, pre-processed) features ``F`` (default 0:
            table mode, schema from ``num_numerical`` / ``cardinalities`` or :meth:`materialize`).
        hidden_dim: Width of encoder and head (default 256, the paper's value).
        encoder_layers: Linear layers of the encoder ``f`` (default 4).
        head_layers: Linear layers of the head ``g`` (default 2).
        corruption_rate: Fraction ``c`` of features corrupted per row (default 0.6).
        temperature: :math:`\\tau` (default 1.0, the paper's value).
        chunk_size: Stream the ``B x B`` similarity matrix in column blocks (default None).
        num_numerical: Table mode: numerical columns of encoded batches (default 0).
        cardinalities: Table mode: vocabulary size per categorical column (default None).
        cat_embed_dim: Table mode: embedding width per categorical column (default 8).

    **Tensor mode** (``num_features > 0``): batches are ``(B, F)`` float tensors.

    **Table mode** (otherwise): batches are encoded dicts from
    :class:`~selfsup_tabular.data.TabularPreprocessor`; corruption works per *column*
    (:func:`~selfsup_tabular.augment.scarf_corrupt_columns`: a numerical value travels with its
    missing flag, a category code is swapped whole) and :class:`~selfsup_tabular.encoders.
    TabularInput` (values, missing flags, categorical embeddings) feeds the encoder. Without
    ``num_numerical`` / ``cardinalities`` the model is *unmaterialised* until
    :meth:`materialize` gives it a fitted preprocessor (``selfsup fit`` does this through
    :meth:`bind_data` once the ``TabularCSVDataModule`` is set up); the preprocessing is then
    saved in ``state_dict`` (extra state) and ``embed`` accepts raw rows (a ``DataFrame``). A
    checkpoint holding it materialises a fresh model on ``load_state_dict``
    (:class:`~selfsup.experiment.LazySchemaModule`).

    **Marginals**: by default replacements come from other rows of the batch (a uniform sample
    of the training set when batches are shuffled). :meth:`set_marginals` gives a donor pool
    (e.g. all training rows, the paper's empirical marginal); it is not saved in ``state_dict``.

    Shapes:
        batch: tensor mode: features ``(B, F)`` floating point, finite, ``B >= 2``, or an
            ``(x, y)`` pair (``y`` ignored); table mode: an encoded dict (or ``(dict, y)``).
        embed: the same (table mode: or a ``pandas.DataFrame``) -> ``(B, hidden_dim)``.

    Raises:
        MalformedBatchError: the batch is not a finite floating ``(B, num_features)`` tensor with
            ``B >= 2`` (or such a pair), or not a valid encoded table batch.

    Examples:
        >>> method = SCARF(num_features=5, hidden_dim=16)
        >>> method.training_losses(torch.randn(8, 5))["loss"].shape
        torch.Size([])
        >>> method.embed(torch.randn(3, 5)).shape
        torch.Size([3, 16])
    """

    def __init__(
        self,
        num_features: int = 0,
        hidden_dim: int = 256,
        encoder_layers: int = 4,
        head_layers: int = 2,
        corruption_rate: float = 0.6,
        temperature: float = 1.0,
        chunk_size: int | None = None,
        num_numerical: int = 0,
        cardinalities: list[int] | None = None,
        cat_embed_dim: int = 8,
    ) -> None:
        super().__init__()
        check_probability("corruption_rate", corruption_rate, inclusive_high=True)
        check_positive("temperature", temperature)
        self.head_layers = int(head_layers)
        self.corruption_rate = corruption_rate
        self.temperature = temperature
        self.chunk_size = chunk_size
        self._init_schema(
            num_features, hidden_dim, encoder_layers, num_numerical, cardinalities, cat_embed_dim
        )

    def build_heads(self) -> None:
        self.head = TabularMLP(self.hidden_dim, self.hidden_dim, num_layers=self.head_layers)

    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        x = self.training_rows(batch)
        if isinstance(x, dict):
            corrupted = scarf_corrupt_columns(x, self.corruption_rate, self.marginals)
            both = {k: torch.cat([x[k], corrupted[k]]) for k in x}
        else:
            both = torch.cat([x, scarf_corrupt(x, self.corruption_rate, self.marginals)])
        z, z_tilde = self.head(self.encoder(self.input(both))).chunk(2)
        loss = info_nce(z, z_tilde, self.temperature, chunk_size=self.chunk_size)
        return {"loss": loss}
