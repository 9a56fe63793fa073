"""SCARF (Bahri et al., arXiv 2106.15147): contrastive learning with random feature corruption."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn

from selfsup.checks import batch_tensor, check_positive, check_probability
from selfsup.experiment.method import MalformedBatchError, Method
from selfsup.experiment.schema import LazySchemaModule
from selfsup.export import exportable
from selfsup.losses import info_nce
from selfsup_tabular.augment.corruption import scarf_corrupt, scarf_corrupt_columns
from selfsup_tabular.batch import encode_rows, is_frame
from selfsup_tabular.data.preprocessing import TabularPreprocessor
from selfsup_tabular.data.preprocessing_state import PreprocessingState, fitted_preprocessor
from selfsup_tabular.encoders.mlp import TabularInput, TabularMLP

__all__ = ["SCARF", "SCARFEncoder"]


def _check_features(x: Any, num_features: int, owner: str) -> Tensor:
    """Tensor-mode rows: a finite floating ``(B, num_features)`` tensor (or ``(x, y)`` pair)."""
    hint = "set num_features to the column count (encode categorical columns numerically first)."
    return batch_tensor(x, owner, (None, num_features), what="features", hint=hint)


class SCARF(LazySchemaModule, Method):
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

    modality = "tabular"
    # the preprocessing is the schema: its checkpoint key stays "preprocessing._extra_state"
    schema_attribute = "preprocessing"
    build_hint = (
        "pass num_features (tensor mode) or num_numerical/cardinalities, call "
        "materialize(fitted_preprocessor), or train it with TabularCSVDataModule."
    )

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
        if num_features < 0:
            raise ValueError(f"num_features must be >= 0 (0: table mode), got {num_features}.")
        if num_features and (num_numerical or cardinalities):
            raise ValueError(
                "SCARF takes either num_features (tensor mode) or num_numerical/cardinalities "
                f"(table mode), got num_features={num_features} and a table schema."
            )
        self.num_features = int(num_features)
        self.hidden_dim = int(hidden_dim)
        self.encoder_layers = int(encoder_layers)
        self.head_layers = int(head_layers)
        self.cat_embed_dim = int(cat_embed_dim)
        self.corruption_rate = corruption_rate
        self.temperature = temperature
        self.chunk_size = chunk_size
        self.table_mode = not num_features
        self.num_numerical = 0
        self.cardinalities: list[int] = []
        self.marginals: Any = None
        self.preprocessing = PreprocessingState()
        if num_features:
            self._build(nn.Identity(), num_features)
        elif num_numerical or cardinalities:
            self._build_table(int(num_numerical), [int(c) for c in cardinalities or []])

    # -- construction --------------------------------------------------------------------------
    def _build(self, inputs: nn.Module, in_dim: int) -> None:
        self.input = inputs
        self.encoder = TabularMLP(in_dim, self.hidden_dim, num_layers=self.encoder_layers)
        self.head = TabularMLP(self.hidden_dim, self.hidden_dim, num_layers=self.head_layers)
        self.preprocessing.built = True  # tensor mode, or table mode with a schema

    def _build_table(self, num_numerical: int, cardinalities: list[int]) -> None:
        self.num_numerical, self.cardinalities = num_numerical, cardinalities
        self.num_features = num_numerical + len(cardinalities)
        inputs = TabularInput(num_numerical, cardinalities, self.cat_embed_dim)
        self._build(inputs, inputs.out_dim)

    def materialize(self, preprocessor: Any) -> SCARF:
        """Take the table schema (and the saved transform) from a fitted preprocessor.

        Builds the networks if the model is unmaterialised; otherwise checks that the schema
        matches. Accepts a ``TabularPreprocessor`` or its ``to_dict()``.

        Raises:
            ValueError: the model is in tensor mode, the preprocessor's schema differs, or a
                malformed state dict (see :meth:`TabularPreprocessor.from_dict`).
        """
        spec = preprocessor if isinstance(preprocessor, dict) else preprocessor.to_dict()
        # a dict may come from a stranger's checkpoint: check it before building anything
        TabularPreprocessor.from_dict(spec)
        num = len(spec["numerical"])
        cards = [len(s["vocab"]) for s in spec["categorical"]]
        if not self.table_mode:
            raise ValueError(
                f"SCARF was built in tensor mode (num_features={self.num_features}), so it cannot "
                "take a table's preprocessing; leave num_features at 0 (table mode) to train on "
                "a TabularCSVDataModule."
            )
        if self.materialized and (num, cards) != (self.num_numerical, self.cardinalities):
            raise ValueError(
                f"schema mismatch: the model has {self.num_numerical} numerical features and "
                f"cardinalities {self.cardinalities}, the preprocessor {num} and {cards}."
            )
        if not self.materialized:
            self._build_table(num, cards)
        self.preprocessing.set(spec)
        return self

    def rebuild_from_schema(self, spec: Any) -> None:
        """Materialise from a preprocessing state read from a state dict.

        Raises:
            ValueError: not a preprocessing state, or a malformed one.
        """
        # from_dict checks the state (a stranger's file) before anything is built from it
        self.materialize(TabularPreprocessor.from_dict(spec))

    def bind_data(self, data: Any, stage: str | None) -> None:
        """In table mode, materialise from the data module's fitted ``preprocessor`` (a
        :class:`~selfsup_tabular.data.TabularCSVDataModule` after ``setup``), or check that it
        matches; a tensor-mode model refuses a table (see :meth:`materialize`). In
        ``"predict"`` the model keeps the preprocessing it was trained with.

        Examples:
            >>> dm = TabularCSVDataModule(path="adult.csv", target=-1)  # doctest: +SKIP
            >>> dm.setup("fit")  # doctest: +SKIP
            >>> method = SCARF(hidden_dim=64)  # doctest: +SKIP
            >>> method.bind_data(dm, "fit")  # doctest: +SKIP
            >>> method.materialized  # doctest: +SKIP
            True
        """
        pre = fitted_preprocessor(data) if stage != "predict" else None
        if pre is not None:
            self.materialize(pre)

    def set_marginals(self, pool: Any) -> None:
        """Draw corruption values from ``pool`` (``(N, F)`` tensor, or an encoded dict in table
        mode), e.g. every training row; ``None`` returns to in-batch donors."""
        self.marginals = pool

    # -- batches -------------------------------------------------------------------------------
    def features(self, batch: Any) -> Any:
        """The ``(B, F)`` feature rows (or the encoded dict in table mode), validated.

        In table mode a ``DataFrame`` goes through the saved preprocessing.
        """
        name = type(self).__name__
        self.require_built()
        if self.table_mode:
            frame = is_frame(batch)
            return encode_rows(
                batch,
                self.num_numerical,
                self.cardinalities,
                name,
                preprocessor=self.preprocessing.preprocessor if frame else None,
                device=next(self.parameters()).device if frame else None,
            )
        return _check_features(batch, self.num_features, name)

    # -- training ------------------------------------------------------------------------------
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

    # -- downstream ----------------------------------------------------------------------------
    def representations(self, batch: Any) -> Tensor:
        """Encoder features of the uncorrupted training rows, detached."""
        return self.encoder(self.input(self.features(batch))).detach()

    def embed(self, batch: Any) -> Tensor:
        """Encoder features ``f(x)`` ``(B, hidden_dim)``."""
        return self.encoder(self.input(self.features(batch)))

    def export_encoder(self) -> SCARFEncoder:
        """``f`` (and, in table mode, its input layer and the saved preprocessing) as a
        :class:`SCARFEncoder`, a copy without the pre-training head ``g``.

        Raises:
            RuntimeError: the model has no feature schema yet (unmaterialised).
        """
        self.require_built()
        encoder = SCARFEncoder(
            num_features=0 if self.table_mode else self.num_features,
            hidden_dim=self.hidden_dim,
            num_layers=self.encoder_layers,
            num_numerical=self.num_numerical,
            cardinalities=list(self.cardinalities) or None,
            cat_embed_dim=self.cat_embed_dim,
            preprocessing=copy.deepcopy(self.preprocessing.spec) or None,
        )
        encoder.input.load_state_dict(self.input.state_dict())
        encoder.encoder.load_state_dict(self.encoder.state_dict())
        return encoder.to(next(self.parameters()).device).eval()


@exportable("tabular:scarf_encoder")
class SCARFEncoder(nn.Module):
    """SCARF's encoder ``f`` on its own: rows -> ``(B, hidden_dim)`` features.

    What :meth:`SCARF.export_encoder` returns and ``selfsup export`` writes: the input layer
    (table mode: :class:`~selfsup_tabular.encoders.TabularInput`; tensor mode: none) and the
    ReLU MLP ``f``, plus — for a model trained on a table — the fitted preprocessing
    (:meth:`~selfsup_tabular.data.TabularPreprocessor.to_dict`) as a JSON constructor argument,
    so the folder :func:`selfsup.export.load_pretrained` rebuilds embeds raw rows as
    :meth:`SCARF.embed` does.

    Args:
        num_features: Tensor mode: input width ``F`` (default 0: table mode).
        hidden_dim: Width (and output size) of ``f`` (default 256).
        num_layers: Linear layers of ``f`` (default 4).
        num_numerical: Table mode: numerical columns (default 0).
        cardinalities: Table mode: vocabulary size per categorical column (default None).
        cat_embed_dim: Table mode: embedding width per categorical column (default 8).
        preprocessing: Table mode: a fitted preprocessor's ``to_dict()``, or None (encoded
            batches only).

    Shapes:
        rows: tensor mode ``(B, F)``; table mode an encoded batch dict or a ``pandas.DataFrame``
        (needs ``preprocessing``) -> ``(B, hidden_dim)``.

    Raises:
        ValueError: neither mode's schema is given, or a ``preprocessing`` whose schema differs.

    Examples:
        >>> SCARFEncoder(num_features=5, hidden_dim=16)(torch.zeros(3, 5)).shape
        torch.Size([3, 16])
    """

    def __init__(
        self,
        num_features: int = 0,
        hidden_dim: int = 256,
        num_layers: int = 4,
        num_numerical: int = 0,
        cardinalities: list[int] | None = None,
        cat_embed_dim: int = 8,
        preprocessing: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.num_features = int(num_features)
        self.num_numerical = int(num_numerical)
        self.cardinalities = [int(c) for c in cardinalities or []]
        self.table_mode = not self.num_features
        if self.table_mode and not (self.num_numerical or self.cardinalities):
            raise ValueError(
                "SCARFEncoder needs num_features (tensor mode) or num_numerical/cardinalities "
                "(table mode)."
            )
        self.preprocessor: TabularPreprocessor | None = None
        if self.table_mode:
            self.input: nn.Module = TabularInput(
                self.num_numerical, self.cardinalities, cat_embed_dim
            )
            in_dim = self.input.out_dim
            if preprocessing:
                self.preprocessor = TabularPreprocessor.from_dict(preprocessing)
                schema = (self.preprocessor.num_numerical, self.preprocessor.cardinalities)
                if schema != (self.num_numerical, self.cardinalities):
                    raise ValueError(
                        f"SCARFEncoder: the preprocessing describes {schema[0]} numerical "
                        f"features and cardinalities {schema[1]}, the encoder "
                        f"{self.num_numerical} and {self.cardinalities}."
                    )
        else:
            self.input = nn.Identity()
            in_dim = self.num_features
        self.encoder = TabularMLP(in_dim, hidden_dim, num_layers=num_layers)

    def forward(self, rows: Any) -> Tensor:
        """Features ``(B, hidden_dim)`` of raw rows (table mode) or encoded/tensor rows."""
        name = type(self).__name__
        if not self.table_mode:
            return self.encoder(_check_features(rows, self.num_features, name))
        device = next(self.encoder.parameters()).device
        batch = encode_rows(
            rows, self.num_numerical, self.cardinalities, name, self.preprocessor, device
        )
        return self.encoder(self.input(batch))
