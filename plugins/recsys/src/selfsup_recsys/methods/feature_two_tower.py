"""Feature-rich two-tower retrieval with the item-tower SSL task of Yao et al. (CIKM 2021).

Over 400 lines on purpose: one method whose retrieval loss, logQ correction, cross-batch queue,
Matryoshka prefixes and item-tower SSL all act on the same two towers and batch; the towers,
features and losses it uses live in their own modules.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import torch
from torch import Tensor

from selfsup.checks import check_positive
from selfsup.experiment.method import MalformedBatchError, Method
from selfsup.experiment.schema import LazySchemaModule, SchemaState
from selfsup.losses import check_matryoshka_dims, info_nce, matryoshka
from selfsup.teachers import MemoryQueue
from selfsup_recsys.batch import FeatureSpec, check_features, parse_features, specs_to_dicts
from selfsup_recsys.encoders.tower import FeatureTower
from selfsup_recsys.encoders.two_tower_encoder import TwoTowerEncoder
from selfsup_recsys.frequency import StreamingFrequencyEstimator
from selfsup_recsys.methods._two_tower_batch import (
    LOGQ_MODES,
    batch_key,
    batch_mapping,
    item_ids,
    logq_bias,
    pair_rows,
)
from selfsup_recsys.methods._two_tower_schema import (
    build_content_encoders,
    saved_encoder_configs,
    schema_settings,
)
from selfsup_recsys.methods._two_tower_views import SSL_MODES, ssl_views

__all__ = ["FeatureTwoTower"]


class FeatureTwoTower(LazySchemaModule, Method):
    """Query and item towers over declared features, in-batch softmax + optional item SSL.

    **Main task** (Yi et al., RecSys 2019): for ``B`` (query, item) pairs with L2-normalised tower
    outputs ``u_i, v_j`` and in-batch item sampling probabilities ``p_j``,

    .. math::

        s_{ij} = \\frac{u_i \\cdot v_j}{\\tau} - \\log p_j, \\qquad
        L_{main} = -\\frac{1}{B} \\sum_i \\log \\frac{e^{s_{ii}}}{\\sum_{j \\in D_i} e^{s_{ij}}}

    (logQ applied to every logit, the positive included), computed by
    :func:`selfsup.losses.info_nce` with ``bias = -log p``. ``p_j`` comes from a
    :class:`~selfsup_recsys.frequency.StreamingFrequencyEstimator` updated on every training call
    (``logq="streaming"``), from the batch's ``"item_log_prob"`` (``logq="batch"``, e.g. training
    counts) or is not used (``"none"``). With ``remove_accidental_hits``, ``D_i`` leaves out the
    other in-batch copies of item ``i`` (key ids = ``batch["item_ids"]``).

    **SSL task** (Yao et al., arXiv 2007.12865, Eq. 3 and 5), on the item tower only (shared with
    the main task): two views of each SSL item, masked by complementary feature sets (RFM or CFM,
    :mod:`selfsup_recsys.augment.feature_masking`; masked features take the tower's learned
    default embedding) and bag dropout of rate ``dr``,

    .. math::

        L_{self} = -\\frac{1}{N} \\sum_i \\log
            \\frac{e^{s(z_i, z'_i)/\\tau'}}{\\sum_j e^{s(z_i, z'_j)/\\tau'}}, \\qquad
        L = L_{main} + \\alpha L_{self}

    SSL items come from ``batch["ssl_item"]``, which :class:`~selfsup_recsys.data.
    InteractionDataModule` samples uniformly from the catalog, separately from the training
    pairs (the paper calls the different distribution critical). Without that key the main
    batch's items are used (popularity-biased: a fallback, not the paper's setting).

    **Nested embeddings**: ``matryoshka_dims = (d_1, ..., d_M)`` replaces ``L_main`` by its sum
    over the first ``d_m`` features of both towers, each prefix L2-normalised on its own
    (Kusupati et al., NeurIPS 2022; :func:`selfsup.losses.matryoshka`), so the first ``d_m``
    features of the exported vectors (:func:`selfsup.losses.matryoshka_prefix`) retrieve on
    their own. The SSL task stays on the whole vector.

    **Cross-batch negatives**: ``cross_batch_negatives = M > 0`` adds the item vectors of the
    last ``M`` training pairs (every rank's) to every query's softmax (Wang et al., SIGIR 2021,
    arXiv 2110.15154), each with the ``-log p`` it had when queued and its item id, so the
    positive item's queued copies are removed like in-batch accidental hits: a
    :class:`~selfsup.teachers.MemoryQueue` filled after each training step's loss,
    checkpointed, without gradient (earlier item-tower weights).

    Args:
        query_features, item_features: Feature declarations (dicts ``{"name", "kind",
            "cardinality", "dim"}``); None until :meth:`materialize` (:meth:`bind_data` calls
            it with the data module's fitted features).
        embedding_dim: Per-feature embedding width (default 32).
        hidden_dims: Tower MLP hidden widths (default ``[128]``).
        output_dim: Embedding size (default 64).
        temperature: ``τ`` of the main task (default 0.05).
        logq: ``"streaming"`` (default), ``"batch"`` or ``"none"``.
        remove_accidental_hits: Mask in-batch duplicates of the positive item (default True).
        ssl: ``"none"`` (default), ``"rfm"`` or ``"cfm"``.
        ssl_weight: ``α`` (default 0.3).
        ssl_temperature: ``τ'`` (default None: ``temperature``).
        bag_dropout: ``dr``, dropout of values in bag features of SSL views (default 0.3).
        num_correlated: CFM's ``n`` (default None: ``floor(k/2)``).
        frequency_buckets, frequency_alpha: Streaming estimator ``H`` and ``α`` (default
            2**18, 0.01).
        chunk_size: Stream the ``B x B`` logits in column blocks (default None).
        matryoshka_dims: Nested prefix sizes of the main task, ascending, at most
            ``output_dim`` (default None: off); include ``output_dim`` to train the whole vector.
        cross_batch_negatives: Queued past items as extra negatives (default 0: off).
        content_encoders: ``{feature: config}`` for the towers' ``content`` features (raw item
            content such as tabular attributes or audio clips): ``{"encoder": {"class_path",
            "init_args"}, "trainable", "checkpoint", "checkpoint_prefix", "pool"}`` (see
            :mod:`selfsup_recsys.encoders.content`) or a ready ``nn.Module``. Dict configs are
            saved with the schema, so a checkpoint rebuilds its encoders without a config —
            when the encoder is a ``torch.nn`` class or a registered component: a state dict
            never makes the model import a path it names (pass the config again otherwise).

    Shapes:
        batch: ``{"query": {name: tensor}, "item": {name: tensor}, "item_ids": (B,) int64 >= 0,
        "item_log_prob": (B,) optional, "ssl_item": {name: tensor} optional}``, ``B >= 2``;
        feature layouts as in :mod:`selfsup_recsys.batch`.
        embed: ``{"query": {...}}`` -> ``(B, output_dim)`` query vectors, or ``{"item": {...}}``
        -> item vectors (L2-normalised).

    Raises:
        MalformedBatchError: missing keys, features that do not match the declaration, bad ids or
            log-probabilities, ``B < 2``.
        RuntimeError: no feature schema yet, or ``ssl="cfm"`` without mutual information.

    Examples:
        >>> from selfsup_recsys.examples import EXAMPLE_ITEM_FEATURES, EXAMPLE_QUERY_FEATURES
        >>> model = FeatureTwoTower(EXAMPLE_QUERY_FEATURES, EXAMPLE_ITEM_FEATURES, ssl="rfm")
        >>> encoder = model.export_encoder()  # both towers, for selfsup export
        >>> sorted(name for name, _ in encoder.named_children())
        ['item_tower', 'query_tower']
    """

    modality = "recsys"
    # an all-NaN content row means "this item has no content"; training_losses checks the rest
    nan_inputs_allowed = True
    # the schema (features, architecture, vocabularies) is saved as "schema._extra_state"
    build_hint = (
        "pass query_features/item_features, call materialize(...), or train it with "
        "InteractionDataModule."
    )

    def __init__(
        self,
        query_features: list[dict[str, Any]] | None = None,
        item_features: list[dict[str, Any]] | None = None,
        embedding_dim: int = 32,
        hidden_dims: list[int] | None = None,
        output_dim: int = 64,
        temperature: float = 0.05,
        logq: str = "streaming",
        remove_accidental_hits: bool = True,
        ssl: str = "none",
        ssl_weight: float = 0.3,
        ssl_temperature: float | None = None,
        bag_dropout: float = 0.3,
        num_correlated: int | None = None,
        frequency_buckets: int = 2**18,
        frequency_alpha: float = 0.01,
        chunk_size: int | None = None,
        content_encoders: dict[str, dict[str, dict[str, Any] | bool | str | None]] | None = None,
        matryoshka_dims: Sequence[int] | None = None,
        cross_batch_negatives: int = 0,
    ) -> None:
        super().__init__()
        self.matryoshka_dims = check_matryoshka_dims(matryoshka_dims, output_dim)
        if cross_batch_negatives < 0:
            raise ValueError(
                f"cross_batch_negatives must be >= 0 (0: off), got {cross_batch_negatives}."
            )
        # rows: item vector, its -log p when queued (0 without logQ), its id (-1 when unknown)
        self.item_queue = (
            MemoryQueue(cross_batch_negatives, output_dim + 2, normalize=False)
            if cross_batch_negatives
            else None
        )
        check_positive("temperature", temperature)
        if ssl_temperature is not None:
            check_positive("ssl_temperature", ssl_temperature)
        if logq not in LOGQ_MODES:
            raise ValueError(f"logq must be one of {LOGQ_MODES}, got {logq!r}.")
        if ssl not in SSL_MODES:
            raise ValueError(f"ssl must be one of {SSL_MODES}, got {ssl!r}.")
        if ssl_weight < 0 or not 0.0 <= bag_dropout <= 1.0:
            raise ValueError(
                f"ssl_weight must be >= 0 and bag_dropout in [0, 1], got {ssl_weight}, "
                f"{bag_dropout}."
            )
        self.embedding_dim = embedding_dim
        self.hidden_dims = list(hidden_dims) if hidden_dims is not None else [128]
        self.output_dim = output_dim
        self.temperature = temperature
        self.logq = logq
        self.remove_accidental_hits = remove_accidental_hits
        self.ssl = ssl
        self.ssl_weight = ssl_weight
        self.ssl_temperature = ssl_temperature or temperature
        self.bag_dropout = bag_dropout
        self.num_correlated = num_correlated
        self.chunk_size = chunk_size
        if content_encoders is not None and not isinstance(content_encoders, Mapping):
            raise ValueError(
                "content_encoders must map content feature names to encoder configs, got "
                f"{type(content_encoders).__name__}."
            )
        self.content_encoders = dict(content_encoders or {})
        # configs read from a state dict (a stranger's file): rebuilt with saved=True only
        self._restored_encoders: dict[str, dict[str, Any]] = {}
        self.schema = SchemaState()
        self.frequency = StreamingFrequencyEstimator(frequency_buckets, frequency_alpha)
        if query_features is not None and item_features is not None:
            self.materialize(query_features, item_features)

    # -- schema ----------------------------------------------------------------------------------
    def materialize(
        self,
        query_features: list[FeatureSpec | Mapping[str, Any]],
        item_features: list[FeatureSpec | Mapping[str, Any]],
        mutual_information: Tensor | None = None,
        load_checkpoints: bool = True,
        tables: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> FeatureTwoTower:
        """Build the towers from feature declarations (no-op check if already built).

        ``mutual_information`` (``(k, k)`` over the item features, see
        :func:`~selfsup_recsys.augment.feature_mutual_information`) is stored for CFM.
        ``content`` features get their encoders from ``content_encoders`` (initialised from
        their ``checkpoint`` unless ``load_checkpoints=False``). ``tables`` (``{"query": ...,
        "item": ...}`` :meth:`FeatureTable.to_config <selfsup_recsys.data.FeatureTable.to_config>`
        encodings, JSON data) are kept with the schema (in every state dict, and in the exported
        encoder), so data embedded later is encoded with the vocabularies of training time.

        Raises:
            ValueError: declarations differ from an already built model's, or a content feature
                without an encoder config.
        """
        q, i = parse_features(query_features), parse_features(item_features)
        spec = {"query": specs_to_dicts(q), "item": specs_to_dicts(i)}
        if self.materialized:
            built = {k: self.schema.spec[k] for k in ("query", "item")}
            if spec != built:
                raise ValueError(
                    f"feature schema mismatch: the model was built for {built}, got {spec}."
                )
        else:
            kw = {"embedding_dim": self.embedding_dim, "hidden_dims": self.hidden_dims}
            self.query_tower = FeatureTower(
                q,
                output_dim=self.output_dim,
                content_encoders=self._encoders(q, load_checkpoints),
                **kw,
            )
            self.item_tower = FeatureTower(
                i,
                output_dim=self.output_dim,
                content_encoders=self._encoders(i, load_checkpoints),
                **kw,
            )
            # the architecture travels with the schema: a bare FeatureTwoTower() can load it
            self.schema.set(
                {
                    **spec,
                    "embedding_dim": self.embedding_dim,
                    "hidden_dims": list(self.hidden_dims),
                    "output_dim": self.output_dim,
                    "content_encoders": saved_encoder_configs(
                        self.content_encoders, self._restored_encoders
                    ),
                }
            )
            self.register_buffer("feature_mi", torch.zeros(len(i), len(i), dtype=torch.float64))
            self.register_buffer("feature_mi_ready", torch.zeros((), dtype=torch.bool))
            self.schema.built = True
        if tables is not None:
            saved = {side: dict(tables[side]) for side in ("query", "item")}
            self.schema.set({**self.schema.spec, "tables": saved})
        if mutual_information is not None:
            self.set_feature_correlation(mutual_information)
        return self

    @property
    def feature_tables(self) -> dict[str, dict[str, Any]] | None:
        """The saved ``{"query": ..., "item": ...}`` encodings (see :meth:`materialize`), or
        ``None`` for a model built without them."""
        return self.schema.spec.get("tables")

    def _encoders(self, specs: list[FeatureSpec], load_checkpoints: bool) -> dict[str, Any]:
        return build_content_encoders(
            specs, self.content_encoders, self._restored_encoders, load_checkpoints
        )

    def set_feature_correlation(self, mi: Tensor) -> None:
        """Store the ``(k, k)`` item-feature mutual information used by CFM."""
        self.require_built()
        k = len(self.item_tower.specs)
        if not isinstance(mi, Tensor) or mi.shape != (k, k):
            got = tuple(mi.shape) if isinstance(mi, Tensor) else type(mi).__name__
            raise ValueError(f"mutual information must be a ({k}, {k}) tensor, got {got}.")
        self.feature_mi.copy_(mi.double())
        self.feature_mi_ready.fill_(True)

    def rebuild_from_schema(self, spec: Any) -> None:
        """Build the towers from a schema read from a state dict (checked first: sizes, feature
        declarations, and content encoders rebuilt through the registry / ``torch.nn`` only).

        Raises:
            ValueError: not a FeatureTwoTower schema, or a malformed one.
        """
        settings = schema_settings(spec)
        self.embedding_dim = settings.get("embedding_dim", self.embedding_dim)
        self.hidden_dims = settings.get("hidden_dims", self.hidden_dims)
        self.output_dim = settings.get("output_dim", self.output_dim)
        # encoders given at construction win (live modules are not saved); the saved ones are
        # rebuilt through the registry / torch.nn only, and no encoder checkpoint is read
        # again: the trained weights come from the state dict
        self._restored_encoders = {
            k: v for k, v in settings["content_encoders"].items() if k not in self.content_encoders
        }
        self.materialize(spec["query"], spec["item"], load_checkpoints=False)

    def bind_data(self, data: Any, stage: str | None) -> None:
        """Take the schema from the data module, or give it this model's vocabularies.

        Outside ``"predict"``, a data module with ``feature_schema()`` (e.g.
        :class:`~selfsup_recsys.data.InteractionDataModule`) gives the fitted feature
        declarations, item-feature mutual information and encodings: the towers are built from
        them (or checked against them) by :meth:`materialize`. With ``"predict"``
        (``selfsup embed``), a data module with ``use_model_vocabularies(...)`` gets this model's
        saved vocabularies (:attr:`feature_tables`) and tower features, so new rows are encoded
        as at training time. Other data modules are left alone.

        Examples:
            >>> dm = InteractionDataModule(data_root="my_data")  # doctest: +SKIP
            >>> dm.setup("fit")  # doctest: +SKIP
            >>> method = FeatureTwoTower(ssl="cfm")  # doctest: +SKIP
            >>> method.bind_data(dm, "fit")  # doctest: +SKIP
            >>> method.materialized, bool(method.feature_mi_ready)  # doctest: +SKIP
            (True, True)
        """
        if stage == "predict":
            hand = getattr(data, "use_model_vocabularies", None)
            if callable(hand):
                # also when unbuilt (None): a data module bound to an earlier model forgets it
                specs = None
                if self.materialized:
                    specs = {"query": self.query_tower.specs, "item": self.item_tower.specs}
                hand(self.feature_tables, specs)
            return
        schema = getattr(data, "feature_schema", None)
        if callable(schema):
            self.materialize(**schema())

    # -- towers ----------------------------------------------------------------------------------
    def query_embeddings(self, features: Mapping[str, Tensor]) -> Tensor:
        """L2-normalised query vectors ``(B, output_dim)``."""
        self.require_built()
        check_features(features, self.query_tower.specs, "query features")
        return self.query_tower(features)

    def item_embeddings(self, features: Mapping[str, Tensor]) -> Tensor:
        """L2-normalised item vectors ``(B, output_dim)``."""
        self.require_built()
        check_features(features, self.item_tower.specs, "item features")
        return self.item_tower(features)

    # -- Method ----------------------------------------------------------------------------------
    def training_losses(self, batch: Any) -> dict[str, Tensor]:
        self.require_built()
        owner = type(self).__name__
        batch = batch_mapping(batch, owner)
        rows = pair_rows(batch, self.query_tower.specs, self.item_tower.specs, owner)
        needs_ids = self.logq == "streaming" or self.remove_accidental_hits
        ids = item_ids(batch, rows, owner) if needs_ids or "item_ids" in batch else None
        # only training steps feed the streaming estimator; validation reads it
        bias = logq_bias(self.logq, batch, rows, ids, self.frequency, self.training, owner)
        u = self.query_tower(batch["query"])
        v = self.item_tower(batch["item"])
        keys, key_bias, key_ids = self._with_queue(
            v, bias, ids if self.remove_accidental_hits else None
        )
        softmax = partial(
            info_nce,
            temperature=self.temperature,
            bias=key_bias,
            key_ids=key_ids,
            # the towers L2-normalise the whole vector; a prefix needs its own normalisation
            normalize=self.matryoshka_dims is not None,
            chunk_size=self.chunk_size,
        )
        if self.matryoshka_dims is None:
            main = softmax(u, keys)
        else:
            main = matryoshka(softmax, u, keys, dims=self.matryoshka_dims)
        if self.item_queue is not None and self.training:
            self._push(v, bias, ids)
        out = {"main_loss": main.detach()}
        loss = main
        if self.ssl != "none" and self.ssl_weight > 0:
            ssl_items = batch.get("ssl_item")
            if ssl_items is None:
                ssl_items = batch["item"]
            else:
                n = check_features(ssl_items, self.item_tower.specs, "batch['ssl_item']")
                if n < 2:
                    raise MalformedBatchError(
                        f"batch['ssl_item'] needs at least 2 items (in-batch negatives), got {n}."
                    )
            za, zb = ssl_views(
                self.item_tower, ssl_items, self.ssl, self.feature_mi,
                bool(self.feature_mi_ready), self.num_correlated, self.bag_dropout,
            )  # fmt: skip
            ssl_loss = info_nce(za, zb, self.ssl_temperature, normalize=False)
            loss = loss + self.ssl_weight * ssl_loss
            out["ssl_loss"] = ssl_loss.detach()
        with torch.no_grad():
            hit = (u @ v.T).argmax(1) == torch.arange(rows, device=u.device)
        return {"loss": loss, **out, "in_batch_accuracy": hit.float().mean()}

    def _with_queue(
        self, v: Tensor, bias: Tensor | None, ids: Tensor | None
    ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """Keys, their biases and ids: the batch's items, then the queued ones."""
        if self.item_queue is None or len(self.item_queue) == 0:
            return v, bias, ids
        past = self.item_queue.keys().to(v.dtype)
        keys = torch.cat([v, past[:, :-2]])
        if bias is not None:
            bias = torch.cat([bias, past[:, -2].to(bias.dtype)])
        if ids is not None:
            ids = torch.cat([ids, past[:, -1].round().long()])
        return keys, bias, ids

    def _push(self, v: Tensor, bias: Tensor | None, ids: Tensor | None) -> None:
        assert self.item_queue is not None
        if ids is not None and bool((ids >= 2**24).any()):
            raise ValueError(
                "cross_batch_negatives keeps item ids in float32 rows, exact below 2**24; "
                f"got id {int(ids.max())}: re-index the items or turn off remove_accidental_hits."
            )
        rows = v.new_zeros(v.shape[0], v.shape[1] + 2)
        rows[:, :-2] = v.detach()
        if bias is not None:
            rows[:, -2] = bias.detach().to(v.dtype)
        rows[:, -1] = ids.to(v.dtype) if ids is not None else -1.0
        self.item_queue.push(rows)

    def representations(self, batch: Any) -> Tensor:
        """Query vectors of a training batch, detached."""
        batch = batch_mapping(batch, type(self).__name__)
        return self.query_embeddings(batch_key(batch, "query", type(self).__name__)).detach()

    def embed(self, batch: Any) -> Tensor:
        """Query vectors for ``{"query": ...}``, else item vectors for ``{"item": ...}``."""
        batch = batch_mapping(batch, type(self).__name__)
        if "query" in batch:
            return self.query_embeddings(batch["query"])
        return self.item_embeddings(batch_key(batch, "item", type(self).__name__))

    def export_encoder(self) -> TwoTowerEncoder:
        """Both towers (and the vocabularies, when trained from files) as a
        :class:`~selfsup_recsys.encoders.TwoTowerEncoder` sharing this model's weights:
        ``item(features)`` / ``query(features)`` equal :meth:`item_embeddings` /
        :meth:`query_embeddings`, and its ``forward`` is the item tower.

        Raises:
            RuntimeError: no feature schema yet.
        """
        self.require_built()
        return TwoTowerEncoder(self.query_tower, self.item_tower, vocabularies=self.feature_tables)
