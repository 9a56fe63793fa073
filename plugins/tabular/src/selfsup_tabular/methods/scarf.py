"""SCARF (Bahri et al., arXiv 2106.15147): contrastive learning with random feature corruption."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from selfsup.checks import check_positive, check_probability
from selfsup.experiment.method import MalformedBatchError, Method
from selfsup.losses import info_nce
from selfsup_tabular.augment.corruption import scarf_corrupt, scarf_corrupt_columns
from selfsup_tabular.encoders.mlp import TabularInput, TabularMLP
from selfsup_tabular.encoders.tokenizer import check_tabular_batch

__all__ = ["SCARF"]


class SCARF(Method):
    """SCARF: contrast each row with a corrupted copy of itself.

    The corrupted view ``\\tilde x`` replaces ``int(c F)`` random features of each row by values
    of the same feature from other rows (:func:`~selfsup_tabular.augment.scarf_corrupt`). With
    encoder ``f`` and pre-training head ``g`` (ReLU MLPs),

    .. math::

        z_i = g(f(x_i)), \\quad \\tilde z_i = g(f(\\tilde x_i)), \\quad
        L = -\\frac{1}{B} \\sum_i \\log \\frac{\\exp(\\cos(z_i, \\tilde z_i)/\\tau)}
            {\\sum_k \\exp(\\cos(z_i, \\tilde z_k)/\\tau)}

    computed by :func:`selfsup.losses.info_nce` (anchors as queries, corrupted rows as keys).
    Evaluation features (:meth:`embed`) are ``f(x)``. Randomness comes from torch's global RNG.

    Args:
        num_features: Number of (numeric, pre-processed) features ``F`` (default 16).
        hidden_dim: Width of encoder and head (default 256, the paper's value).
        encoder_layers: Linear layers of the encoder ``f`` (default 4).
        head_layers: Linear layers of the head ``g`` (default 2).
        corruption_rate: Fraction ``c`` of features corrupted per row (default 0.6).
        temperature: :math:`\\tau` (default 1.0, the paper's value).
        chunk_size: Stream the ``B x B`` similarity matrix in column blocks (default None).
        num_numerical: Table mode: numerical columns of encoded batches (default 0).
        cardinalities: Table mode: vocabulary size per categorical column (default None).
        cat_embed_dim: Table mode: embedding width per categorical column (default 8).

    **Table mode** (``num_numerical`` or ``cardinalities`` given): batches are encoded dicts
    from :class:`~selfsup_tabular.data.TabularPreprocessor`; corruption works per *column*
    (:func:`~selfsup_tabular.augment.scarf_corrupt_columns`: a numerical value travels with its
    missing flag, a category code is swapped whole) and :class:`~selfsup_tabular.encoders.
    TabularInput` (values, missing flags, categorical embeddings) feeds the encoder.

    **Marginals**: by default replacements come from other rows of the batch (a uniform sample
    of the training set when batches are shuffled). :meth:`set_marginals` gives a donor pool
    (e.g. all training rows, the paper's empirical marginal); it is not saved in ``state_dict``.

    Shapes:
        batch: features ``(B, F)`` floating point, finite, ``B >= 2``, or an ``(x, y)`` pair
            (``y`` ignored). Encode categorical features numerically beforehand.
        embed: the same -> ``(B, hidden_dim)``.

    Raises:
        MalformedBatchError: the batch is not a finite floating ``(B, num_features)`` tensor with
            ``B >= 2`` (or such a pair).
    """

    modality = "tabular"

    def __init__(
        self,
        num_features: int = 16,
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
        self.num_features = num_features
        self.corruption_rate = corruption_rate
        self.temperature = temperature
        self.chunk_size = chunk_size
        self.table_mode = bool(num_numerical or cardinalities)
        self.num_numerical = int(num_numerical)
        self.cardinalities = [int(c) for c in cardinalities or []]
        self.input: nn.Module = nn.Identity()
        in_dim = num_features
        if self.table_mode:
            self.input = TabularInput(self.num_numerical, self.cardinalities, cat_embed_dim)
            in_dim = self.input.out_dim
            self.num_features = self.num_numerical + len(self.cardinalities)
        self.marginals: Any = None
        self.encoder = TabularMLP(in_dim, hidden_dim, num_layers=encoder_layers)
        self.head = TabularMLP(hidden_dim, hidden_dim, num_layers=head_layers)

    def set_marginals(self, pool: Any) -> None:
        """Draw corruption values from ``pool`` (``(N, F)`` tensor, or an encoded dict in table
        mode), e.g. every training row; ``None`` returns to in-batch donors."""
        self.marginals = pool

    def features(self, batch: Any) -> Any:
        """The ``(B, F)`` feature rows (or the encoded dict in table mode), validated."""
        name = type(self).__name__
        if self.table_mode:
            return check_tabular_batch(batch, self.num_numerical, self.cardinalities, name)
        x = batch
        if isinstance(batch, list | tuple):
            if len(batch) != 2:
                raise MalformedBatchError(
                    f"{name} expects features (B, F) or an (x, y) pair, got a "
                    f"{type(batch).__name__} of length {len(batch)}."
                )
            x = batch[0]
        if not isinstance(x, Tensor):
            raise MalformedBatchError(
                f"{name} expects features as a tensor (B, {self.num_features}), got "
                f"{type(x).__name__}."
            )
        if x.dim() != 2 or x.shape[1] != self.num_features:
            raise MalformedBatchError(
                f"{name} expects features of shape (B, {self.num_features}), got "
                f"{tuple(x.shape)}; set num_features to the column count."
            )
        if not x.is_floating_point():
            raise MalformedBatchError(
                f"{name} expects floating-point features, got {x.dtype}; use x.float() "
                "(encode categorical columns numerically first)."
            )
        if not bool(torch.isfinite(x).all()):
            raise MalformedBatchError(
                f"{name} got {int((~torch.isfinite(x)).sum())} NaN/inf feature value(s); impute "
                "missing values before training."
            )
        return x

    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        x = self.features(batch)
        rows = next(iter(x.values())).shape[0] if isinstance(x, dict) else x.shape[0]
        if rows < 2:
            raise MalformedBatchError(
                f"{type(self).__name__} needs at least 2 rows per batch (corruption values and "
                f"negatives come from other rows), got {rows}; use drop_last=True."
            )
        if isinstance(x, dict):
            corrupted = scarf_corrupt_columns(x, self.corruption_rate, self.marginals)
            both = {k: torch.cat([x[k], corrupted[k]]) for k in x}
        else:
            both = torch.cat([x, scarf_corrupt(x, self.corruption_rate, self.marginals)])
        z, z_tilde = self.head(self.encoder(self.input(both))).chunk(2)
        loss = info_nce(z, z_tilde, self.temperature, chunk_size=self.chunk_size)
        return {"loss": loss}

    def representations(self, batch: Any) -> Tensor:
        """Encoder features of the uncorrupted training rows, detached."""
        return self.encoder(self.input(self.features(batch))).detach()

    def embed(self, batch: Any) -> Tensor:
        """Encoder features ``f(x)`` ``(B, hidden_dim)``."""
        return self.encoder(self.input(self.features(batch)))
