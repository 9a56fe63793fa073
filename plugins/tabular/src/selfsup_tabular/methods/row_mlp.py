"""The row-MLP methods' common part: one encoder ``f`` over a row's features, in tensor or table
mode, with the schema saved in checkpoints (SCARF, VIME)."""

from __future__ import annotations

import copy
from typing import Any

from torch import Tensor, nn

from selfsup.checks import batch_tensor
from selfsup.experiment.method import MalformedBatchError, Method
from selfsup.experiment.schema import LazySchemaModule
from selfsup.export import exportable
from selfsup_tabular.batch import encode_rows, is_frame
from selfsup_tabular.data.preprocessing import TabularPreprocessor
from selfsup_tabular.data.preprocessing_state import (
    PreprocessingState,
    checked_schema,
    fitted_preprocessor,
)
from selfsup_tabular.encoders.mlp import TabularInput, TabularMLP

__all__ = ["RowMLPMethod", "SCARFEncoder", "check_features"]


def check_features(x: Any, num_features: int, owner: str) -> Tensor:
    """Tensor-mode rows: a finite floating ``(B, num_features)`` tensor (or ``(x, y)`` pair)."""
    hint = "set num_features to the column count (encode categorical columns numerically first)."
    return batch_tensor(x, owner, (None, num_features), what="features", hint=hint)


class RowMLPMethod(LazySchemaModule, Method):
    """Base of the methods whose encoder ``f`` is a ReLU MLP over one row's features.

    **Tensor mode** (``num_features > 0``): batches are ``(B, F)`` float tensors. **Table mode**
    (otherwise): batches are encoded dicts from :class:`~selfsup_tabular.data.TabularPreprocessor`
    and :class:`~selfsup_tabular.encoders.TabularInput` (values, missing flags, categorical
    embeddings) feeds ``f``. Without ``num_numerical`` / ``cardinalities`` the model is
    *unmaterialised* until :meth:`materialize` gives it a fitted preprocessor (``selfsup fit``
    does this through :meth:`bind_data`); the preprocessing is then saved in ``state_dict`` and
    ``embed`` accepts raw rows (a ``DataFrame``).

    A subclass sets its own hyperparameters, calls :meth:`_init_schema` last in ``__init__`` and
    builds its pre-training heads in :meth:`build_heads` (called once ``f`` exists).
    :meth:`export_encoder` gives ``f`` as a :class:`~selfsup_tabular.methods.SCARFEncoder`.
    """

    modality = "tabular"
    # the preprocessing is the schema: its checkpoint key stays "preprocessing._extra_state"
    schema_attribute = "preprocessing"
    build_hint = (
        "pass num_features (tensor mode) or num_numerical/cardinalities, call "
        "materialize(fitted_preprocessor), or train it with TabularCSVDataModule."
    )

    def _init_schema(
        self,
        num_features: int,
        hidden_dim: int,
        encoder_layers: int,
        num_numerical: int,
        cardinalities: list[int] | None,
        cat_embed_dim: int,
    ) -> None:
        name = type(self).__name__
        if num_features < 0:
            raise ValueError(f"num_features must be >= 0 (0: table mode), got {num_features}.")
        if num_features and (num_numerical or cardinalities):
            raise ValueError(
                f"{name} takes either num_features (tensor mode) or num_numerical/cardinalities "
                f"(table mode), got num_features={num_features} and a table schema."
            )
        self.num_features = int(num_features)
        self.hidden_dim = int(hidden_dim)
        self.encoder_layers = int(encoder_layers)
        self.cat_embed_dim = int(cat_embed_dim)
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
    def build_heads(self) -> None:
        """Build the pre-training heads (``f`` and the schema exist when this runs)."""
        raise NotImplementedError

    def _build(self, inputs: nn.Module, in_dim: int) -> None:
        self.input = inputs
        self.encoder = TabularMLP(in_dim, self.hidden_dim, num_layers=self.encoder_layers)
        self.build_heads()
        self.preprocessing.built = True  # tensor mode, or table mode with a schema

    def _build_table(self, num_numerical: int, cardinalities: list[int]) -> None:
        self.num_numerical, self.cardinalities = num_numerical, cardinalities
        self.num_features = num_numerical + len(cardinalities)
        inputs = TabularInput(num_numerical, cardinalities, self.cat_embed_dim)
        self._build(inputs, inputs.out_dim)

    def materialize(self, preprocessor: Any) -> RowMLPMethod:
        """Take the table schema (and the saved transform) from a fitted preprocessor.

        Builds the networks if the model is unmaterialised; otherwise checks that the schema
        matches. Accepts a ``TabularPreprocessor`` or its ``to_dict()``.

        Raises:
            ValueError: the model is in tensor mode, the preprocessor's schema differs, or a
                malformed state dict (see :meth:`TabularPreprocessor.from_dict`).
        """
        if not self.table_mode:
            raise ValueError(
                f"{type(self).__name__} was built in tensor mode (num_features="
                f"{self.num_features}), so it cannot take a table's preprocessing; leave "
                "num_features at 0 (table mode) to train on a TabularCSVDataModule."
            )
        current = (self.num_numerical, self.cardinalities) if self.materialized else None
        spec, num, cards = checked_schema(preprocessor, current)
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
        return check_features(batch, self.num_features, name)

    def training_rows(self, batch: Any) -> Any:
        """:meth:`features` of a training batch, which needs 2 rows (donors come from others)."""
        x = self.features(batch)
        rows = next(iter(x.values())).shape[0] if isinstance(x, dict) else x.shape[0]
        if rows < 2:
            raise MalformedBatchError(
                f"{type(self).__name__} needs at least 2 rows per batch (corruption values "
                f"come from other rows), got {rows}; use drop_last=True."
            )
        return x

    # -- downstream ----------------------------------------------------------------------------
    def representations(self, batch: Any) -> Tensor:
        """Encoder features of the uncorrupted training rows, detached."""
        return self.encoder(self.input(self.features(batch))).detach()

    def embed(self, batch: Any) -> Tensor:
        """Encoder features ``f(x)`` ``(B, hidden_dim)``."""
        return self.encoder(self.input(self.features(batch)))

    def export_encoder(self) -> nn.Module:
        """``f`` (and, in table mode, its input layer and the saved preprocessing) as a
        :class:`~selfsup_tabular.methods.SCARFEncoder`, a copy without the pre-training heads.

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
    """The row-MLP encoder ``f`` on its own (SCARF's, VIME's): rows -> ``(B, hidden_dim)``.

    What :meth:`SCARF.export_encoder` and :meth:`VIME.export_encoder` return and ``selfsup
    export`` writes: the input layer (table mode: :class:`~selfsup_tabular.encoders.TabularInput`;
    tensor mode: none) and the ReLU MLP ``f``, plus — for a model trained on a table — the
    fitted preprocessing (:meth:`~selfsup_tabular.data.TabularPreprocessor.to_dict`) as a JSON
    constructor argument, so the folder :func:`selfsup.export.load_pretrained` rebuilds embeds
    raw rows as the method's ``embed`` does.

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
            return self.encoder(check_features(rows, self.num_features, name))
        device = next(self.encoder.parameters()).device
        batch = encode_rows(
            rows, self.num_numerical, self.cardinalities, name, self.preprocessor, device
        )
        return self.encoder(self.input(batch))
