"""T-JEPA (Thimonier et al., ICLR 2025, arXiv 2410.05016): predict feature-subset latents."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor

from selfsup.deprecation import replaced_by
from selfsup.distributed import all_reduce_sum
from selfsup.encoders.jepa_predictor import JEPAPredictor
from selfsup.experiment.method import MalformedBatchError, Method
from selfsup.experiment.schema import LazySchemaModule
from selfsup.losses import latent_regression
from selfsup.masking import feature_subset_mask
from selfsup.metrics import rankme
from selfsup.teachers import EMATeacher
from selfsup_tabular.batch import encode_rows, is_frame
from selfsup_tabular.data.preprocessing import TabularPreprocessor
from selfsup_tabular.data.preprocessing_state import (
    PreprocessingState,
    checked_schema,
    fitted_preprocessor,
)
from selfsup_tabular.encoders.tjepa_encoder import TJEPAEncoder
from selfsup_tabular.encoders.token_pooling import POOLINGS, pool_tokens
from selfsup_tabular.encoders.transformer import TabularBackbone

__all__ = [
    "POOLINGS",
    "TARGET_NORMS",
    "PreprocessingState",
    "TJEPA",
    "TJEPAEncoder",  # lives in selfsup_tabular.encoders.tjepa_encoder
    "pool_tokens",
]


#: Deprecated: the predictor is core's JEPAPredictor (positional arguments in the old order).
TJEPAPredictor = replaced_by(
    "selfsup_tabular.methods.tjepa.TJEPAPredictor",
    "selfsup.encoders.JEPAPredictor(d_token, dim, depth=, num_heads=, num_positions=)",
    lambda d_token, num_positions, dim, num_layers, num_heads: JEPAPredictor(
        d_token,
        dim,
        depth=num_layers,
        num_heads=num_heads,
        num_positions=num_positions,
        mlp_ratio=2.0,
        init="torch",
    ),
)

#: Normalisations of the target latents (see :class:`TJEPA`).
TARGET_NORMS = ("none", "batch")


def _standardize_rows(x: Tensor) -> Tensor:
    """``(x - mean) / (std + 1e-5)`` over dim 0 (unbiased std) of the global batch: the sums run
    over every rank, so DDP on half batches equals one process on the whole batch."""
    rows = all_reduce_sum(x.new_tensor(float(x.shape[0])))
    mean = all_reduce_sum(x.sum(0)) / rows
    var = all_reduce_sum((x - mean).pow(2).sum(0)) / (rows - 1)
    return (x - mean) / var.sqrt().add(1e-5)


class TJEPA(LazySchemaModule, Method):
    """T-JEPA: from a context subset of a row's features, predict the target encoder's latents
    of other feature subsets of the same row; no augmentation.

    Per batch, :func:`selfsup.masking.feature_subset_mask` draws a context size
    ``n_c ~ U{round(F c_min)..round(F c_max)}`` and a target size likewise from ``target_ratio``,
    then per row a random context subset ``C`` and ``num_targets`` target subsets ``T_k`` drawn
    from the features **not** in ``C``. Indices are over the ``F`` features; the ``R`` [REG]
    tokens sit at positions ``0..R-1``, are always in the context and never targets (the
    official code samples from ``range(F)`` on a sequence whose position 0 is [REG]: [REG] is
    maskable and the last feature never selected; fixed here). With context encoder ``f``
    (tokenizer + Transformer on [REG] + ``C``), EMA target encoder ``\\bar f`` (whole row,
    momentum ``0.996 -> 1``) and predictor ``g``:

    .. math::

        L = \\frac{1}{T |T_k| d} \\sum_k \\sum_{j \\in T_k}
            \\lVert g(f(x_C), j) - \\bar f(x)_j \\rVert^2

    computed by :func:`selfsup.losses.latent_regression`. ``"rankme"`` of the pooled target
    embeddings (:func:`selfsup.metrics.rankme`) is returned for logging (collapse monitor).

    The feature schema comes from ``num_numerical`` / ``cardinalities`` or from a fitted
    :class:`~selfsup_tabular.data.TabularPreprocessor` via :meth:`materialize` (``selfsup fit``
    does this through :meth:`bind_data` once the data module is set up); a model built without
    either is *unmaterialised* until then. A checkpoint holding a preprocessing state
    materialises a fresh model on ``load_state_dict``
    (:class:`~selfsup.experiment.LazySchemaModule`).
    :meth:`export_encoder` gives the downstream encoder (the EMA target encoder, pooling and
    the saved preprocessing) as a :class:`TJEPAEncoder` for ``selfsup export``.

    Args:
        num_numerical: Numerical features (default 0: take the schema from :meth:`materialize`).
        cardinalities: Vocabulary size per categorical feature (default None).
        d_token: Token width (default 64).
        num_registers: [REG] tokens ``R`` (default 1; T-JEPA: "critical" against collapse).
        encoder_layers, num_heads, ffn_dim, dropout: Encoder Transformer (default 2, 4, 128, 0).
        predictor_dim, predictor_layers, predictor_heads: Predictor (default 64, 2, 4).
        context_ratio: ``(min, max)`` context share of ``F`` (default (0.136, 0.368): T-JEPA's
            launch script).
        target_ratio: ``(min, max)`` target share (default (0.156, 0.622), launch script).
        num_targets: Target subsets per row (default 4, T-JEPA ``num_preds``).
        momentum: EMA schedule name (default ``"linear:0.996:1.0"``, T-JEPA/I-JEPA).
        loss: ``latent_regression`` kind: ``"mse"`` (default, T-JEPA), ``"smooth_l1"`` or ``"l1"``.
        pooling: Default pooling of :meth:`embed`, one of :data:`POOLINGS` (default ``"concat"``:
            [REG] output and mean feature token side by side).
        log_rankme: Return ``"rankme"`` from ``training_losses`` (default True).
        target_norm: ``"none"`` (default, T-JEPA: the encoder's final LayerNorm only) or
            ``"batch"``: standardise every (token, channel) of the target latents over the batch
            rows before the regression, so latents that only encode *which* feature a token is
            (constant over rows — the trivial solution the loss otherwise drifts towards, seen as
            a falling RankMe) carry no signal and only value-dependent variation is predicted.
            Under DDP the statistics are those of the global batch (summed over ranks), so a
            split batch standardises as one process would.
        numerical_embedding: How the tokenizer embeds numbers: ``"linear"`` (default, T-JEPA /
            FT-Transformer ``x w + b``) or ``"periodic"`` (PLR,
            :class:`~selfsup_tabular.encoders.PeriodicEmbedding`, arXiv 2203.05556).
        frequencies, frequency_scale: Of the periodic embedding (default 16, 1.0).

    Shapes:
        batch: a dict from ``TabularPreprocessor.transform`` (``"x_num"`` ``(B, n_num)``,
            ``"num_missing"``, ``"x_cat"`` ``(B, n_cat)``), or a ``(dict, y)`` pair.
        embed: such a dict or a ``pandas.DataFrame`` -> ``(B, D)`` (``D`` from ``pooling``).

    Raises:
        MalformedBatchError: see :func:`~selfsup_tabular.encoders.check_tabular_batch`.

    Examples:
        >>> method = TJEPA(num_numerical=3, cardinalities=[4], d_token=8, num_heads=2)
        >>> batch = {"x_num": torch.randn(5, 3), "x_cat": torch.randint(0, 6, (5, 1))}
        >>> sorted(method.training_losses(batch))
        ['loss', 'rankme']
        >>> method.eval().embed(batch).shape
        torch.Size([5, 16])
    """

    modality = "tabular"
    # the preprocessing is the schema: its checkpoint key stays "preprocessing._extra_state"
    schema_attribute = "preprocessing"
    build_hint = (
        "pass num_numerical/cardinalities, call materialize(fitted_preprocessor), or train it "
        "with TabularCSVDataModule."
    )

    def __init__(
        self,
        num_numerical: int = 0,
        cardinalities: list[int] | None = None,
        d_token: int = 64,
        num_registers: int = 1,
        encoder_layers: int = 2,
        num_heads: int = 4,
        ffn_dim: int = 128,
        dropout: float = 0.0,
        predictor_dim: int = 64,
        predictor_layers: int = 2,
        predictor_heads: int = 4,
        context_ratio: tuple[float, float] = (0.136, 0.368),
        target_ratio: tuple[float, float] = (0.156, 0.622),
        num_targets: int = 4,
        momentum: str = "linear:0.996:1.0",
        loss: str = "mse",
        pooling: str = "concat",
        log_rankme: bool = True,
        target_norm: str = "none",
        numerical_embedding: str = "linear",
        frequencies: int = 16,
        frequency_scale: float = 1.0,
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}.")
        if target_norm not in TARGET_NORMS:
            raise ValueError(f"target_norm must be one of {TARGET_NORMS}, got {target_norm!r}.")
        if num_registers < 1:
            raise ValueError(f"num_registers must be >= 1 (T-JEPA's [REG]), got {num_registers}.")
        self.config = {
            "d_token": d_token,
            "num_registers": num_registers,
            "num_layers": encoder_layers,
            "num_heads": num_heads,
            "ffn_dim": ffn_dim,
            "dropout": dropout,
            "numerical_embedding": numerical_embedding,
            "frequencies": int(frequencies),
            "frequency_scale": float(frequency_scale),
        }
        self.predictor_config = (predictor_dim, predictor_layers, predictor_heads)
        self.context_ratio = tuple(context_ratio)
        self.target_ratio = tuple(target_ratio)
        self.num_targets = int(num_targets)
        self.momentum = momentum
        self.loss_kind = loss
        self.pooling = pooling
        self.log_rankme = log_rankme
        self.target_norm = target_norm
        self.num_registers = int(num_registers)
        self.preprocessing = PreprocessingState()
        self.num_numerical = 0
        self.cardinalities: list[int] = []
        if num_numerical or cardinalities:
            self._build(int(num_numerical), list(cardinalities or []))

    # -- construction --------------------------------------------------------------------------
    @property
    def num_features(self) -> int:
        return self.num_numerical + len(self.cardinalities)

    def _build(self, num_numerical: int, cardinalities: list[int]) -> None:
        self.num_numerical, self.cardinalities = num_numerical, cardinalities
        self.encoder = TabularBackbone(num_numerical, cardinalities, **self.config)
        self.target = EMATeacher(self.encoder, momentum=self.momentum)
        dim, layers, heads = self.predictor_config
        positions = self.num_registers + self.num_features
        self.predictor = JEPAPredictor(
            self.config["d_token"],
            dim,
            depth=layers,
            num_heads=heads,
            num_positions=positions,
            mlp_ratio=2.0,  # twice its width, like the encoder's MLP
            init="torch",  # what the T-JEPA settings were chosen with (plugin README)
        )
        self.preprocessing.built = True

    def materialize(self, preprocessor: Any) -> TJEPA:
        """Take the schema (and the saved transform) from a fitted preprocessor.

        Builds the networks if the model is unmaterialised; otherwise checks that the schema
        matches. Accepts a ``TabularPreprocessor`` or its ``to_dict()``.

        Raises:
            ValueError: the preprocessor's schema differs from the model's, or a malformed
                state dict (see :meth:`TabularPreprocessor.from_dict`).
        """
        current = (self.num_numerical, self.cardinalities) if self.materialized else None
        spec, num, cards = checked_schema(preprocessor, current)
        if not self.materialized:
            self._build(num, cards)
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
        """Materialise from the data module's fitted ``preprocessor`` (a
        :class:`~selfsup_tabular.data.TabularCSVDataModule` after ``setup``), or check that it
        matches. In ``"predict"`` the model keeps the preprocessing it was trained with.

        Examples:
            >>> dm = TabularCSVDataModule(path="adult.csv", target=-1)  # doctest: +SKIP
            >>> dm.setup("fit")  # doctest: +SKIP
            >>> method = TJEPA()  # doctest: +SKIP
            >>> method.bind_data(dm, "fit")  # doctest: +SKIP
            >>> method.materialized  # doctest: +SKIP
            True
        """
        pre = fitted_preprocessor(data) if stage != "predict" else None
        if pre is not None:
            self.materialize(pre)

    # -- batches -------------------------------------------------------------------------------
    def encoded(self, batch: Any) -> dict[str, Tensor]:
        """Validated encoded batch; a ``DataFrame`` goes through the saved preprocessing."""
        self.require_built()
        frame = is_frame(batch)
        return encode_rows(
            batch,
            self.num_numerical,
            self.cardinalities,
            type(self).__name__,
            preprocessor=self.preprocessing.preprocessor if frame else None,
            device=next(self.parameters()).device if frame else None,
        )

    # -- training ------------------------------------------------------------------------------
    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        b = self.encoded(batch)
        rows = next(iter(b.values())).shape[0]
        if rows < 1:
            raise MalformedBatchError("TJEPA got an empty batch.")
        if self.num_features < 2:
            raise MalformedBatchError(
                "TJEPA needs at least 2 features (a context and a disjoint target)."
            )
        device = next(self.parameters()).device
        masks = feature_subset_mask(
            rows,
            self.num_features,
            context_ratio=self.context_ratio,
            num_targets=self.num_targets,
            target_ratio=self.target_ratio,
            device=device,
        )
        n_c = int(masks.context[0].sum())
        n_t = int(masks.targets[0, 0].sum())
        # Indices of the True entries (exact counts per row): a stable sort puts them first.
        ctx_idx = (~masks.context).to(torch.uint8).argsort(dim=1, stable=True)[:, :n_c]
        tgt_idx = (~masks.targets).to(torch.uint8).argsort(dim=-1, stable=True)[..., :n_t]
        r = self.num_registers
        ctx = self.encoder(b, keep=ctx_idx)
        regs = torch.arange(r, device=device).expand(rows, r)
        ctx_pos = torch.cat([regs, ctx_idx + r], dim=1)
        full = self.target(b)  # (B, R + F, d), no grad
        d = full.shape[-1]
        if self.target_norm == "batch" and rows > 1:
            full = _standardize_rows(full)
        gather = (tgt_idx + r).reshape(rows, -1, 1).expand(-1, -1, d)
        target = full.gather(1, gather).reshape(rows, self.num_targets, n_t, d)
        pred = self.predictor(ctx, ctx_pos, tgt_idx + r)
        out = {"loss": latent_regression(pred, target, kind=self.loss_kind)}
        if self.log_rankme and rows > 1:
            out["rankme"] = rankme(pool_tokens(full, r, self.pooling)).float()
        return out

    def update_teacher(self, step: int, total_steps: int) -> float | None:
        """EMA step for hand-written loops (``SSLModule`` does this itself)."""
        self.require_built()
        return super().update_teacher(step, total_steps)

    # -- downstream ----------------------------------------------------------------------------
    def tokens(self, batch: Any) -> Tensor:
        """Target-encoder outputs of whole rows ``(B, R + F, d)`` (no grad)."""
        return self.target(self.encoded(batch))

    def representations(self, batch: Any) -> Tensor:
        """Pooled target-encoder embeddings of a training batch (for RankMe), detached."""
        return pool_tokens(self.tokens(batch), self.num_registers, self.pooling).detach()

    def embed(self, batch: Any, pooling: str | None = None, chunk_size: int = 4096) -> Tensor:
        """Row embeddings from the EMA target encoder (T-JEPA's downstream protocol).

        ``batch`` is an encoded dict or a ``pandas.DataFrame`` (transformed with the saved
        preprocessing: unseen categories -> unknown code, missing -> missing tokens, extra
        columns ignored, absent columns raise). ``pooling`` (default: the model's) is one of
        :data:`POOLINGS`; see :func:`pool_tokens`. Rows are encoded ``chunk_size`` at a time.
        """
        b = self.encoded(batch)
        rows = next(iter(b.values())).shape[0]
        outs = []
        for start in range(0, rows, chunk_size):
            part = {k: v[start : start + chunk_size] for k, v in b.items()}
            tok = self.target(part)
            outs.append(pool_tokens(tok, self.num_registers, pooling or self.pooling))
        return torch.cat(outs) if outs else torch.zeros(0, 1)

    def export_encoder(self) -> TJEPAEncoder:
        """The downstream encoder as a :class:`TJEPAEncoder`: a copy of the EMA target encoder
        (T-JEPA's protocol, as in :meth:`embed`) with this model's pooling and its saved
        preprocessing, so the exported folder embeds raw rows (a ``DataFrame``).

        Raises:
            RuntimeError: the model has no feature schema yet (unmaterialised).
        """
        self.require_built()
        encoder = TJEPAEncoder(
            num_numerical=self.num_numerical,
            cardinalities=list(self.cardinalities),
            **self.config,
            pooling=self.pooling,
            preprocessing=copy.deepcopy(self.preprocessing.spec) or None,
        )
        encoder.backbone.load_state_dict(self.target.teacher.state_dict())
        return encoder.to(next(self.parameters()).device).eval()
