"""Towers: declared features -> one L2-normalised embedding per example.

:class:`FeatureTower` is the feature-rich tower of Yi et al. (RecSys 2019) and Yao et al.
(CIKM 2021, arXiv 2007.12865); :class:`IdTower` is the id-only tower of
:class:`~selfsup_recsys.methods.TwoTowerRetrieval`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from selfsup.export import ExportError, exportable
from selfsup.export import export_config as _export_config
from selfsup_recsys.batch import FeatureSpec, parse_features, specs_to_dicts
from selfsup_recsys.encoders.content import ContentEncoder
from selfsup_recsys.encoders.embedding_tables import EmbeddingTables, LocalEmbeddingTables

__all__ = ["FeatureTower", "IdTower"]


@exportable("recsys:feature_tower")
class FeatureTower(nn.Module):
    """Per-feature embeddings, concatenated, through a ReLU MLP, L2-normalised.

    Every feature ``f`` becomes a ``d``-dim vector ``e_f``: a table row (categorical), the mean
    of its values' rows (bag, :class:`LocalEmbeddingTables`), ``x w_f + b_f`` (numeric), a
    linear projection (dense) or a linear projection of a content encoder's output
    ``W_f c_f(x) + b_f`` (content, :class:`~selfsup_recsys.encoders.content.ContentEncoder`).
    Then

    .. math::

        z = \\mathrm{MLP}([e_1; \\dots; e_F]), \\qquad \\text{out} = z / \\lVert z \\rVert_2

    Where ``mask[., f]`` is True (feature masking of Yao et al., Sec. 3.2) and for empty bags,
    ``e_f`` is the feature's learned *default embedding* ``d_f`` — not zeros, so a masked feature
    is distinguishable from a feature whose value embeds near the origin. Items without content
    (an all-NaN content row) take ``d_f`` too. A content feature masked for the whole batch
    skips its encoder.

    Args:
        features: The declared features (:class:`~selfsup_recsys.batch.FeatureSpec` or
            dicts).
        embedding_dim: ``d``, width of every per-feature vector (default 32).
        hidden_dims: Hidden widths of the MLP (default ``[128]``).
        output_dim: Embedding size (default 64).
        normalize: L2-normalise the output (default True).
        tables: Embedding tables of the sparse features (default: :class:`LocalEmbeddingTables`).
        content_encoders: ``{name: module}`` for every ``content`` feature: a
            :class:`~selfsup_recsys.encoders.content.ContentEncoder`, any ``nn.Module``
            (wrapped as a trainable one) or a ``ContentEncoder``'s export config (a dict).

    Shapes:
        features: ``{name: tensor}`` as in :mod:`selfsup_recsys.batch`, ``B`` rows.
        mask: ``None``, ``(F,)`` (one pattern for the batch) or ``(B, F)`` bool, feature order
        as declared.
        Output: ``(B, output_dim)``.

    Raises:
        ValueError: bad declarations, ``tables`` lacking a sparse feature, or a content feature
            without an encoder (or with one for another input shape).

    Examples:
        >>> tower = FeatureTower([{"name": "item_id", "kind": "categorical", "cardinality": 10},
        ...                       {"name": "price", "kind": "numeric"}], output_dim=8)
        >>> tower({"item_id": torch.tensor([1, 2]), "price": torch.zeros(2)}).shape
        torch.Size([2, 8])
    """

    def __init__(
        self,
        features: Sequence[FeatureSpec | Mapping[str, Any]],
        embedding_dim: int = 32,
        hidden_dims: Sequence[int] = (128,),
        output_dim: int = 64,
        normalize: bool = True,
        tables: EmbeddingTables | None = None,
        content_encoders: Mapping[str, nn.Module | Mapping[str, Any]] | None = None,
    ) -> None:
        super().__init__()
        self.specs = tuple(parse_features(features))
        self.hidden_dims = [int(h) for h in hidden_dims]
        self.embedding_dim = embedding_dim
        self.output_dim = output_dim
        self.normalize = normalize
        self.tables = (
            tables if tables is not None else LocalEmbeddingTables(self.specs, embedding_dim)
        )
        have = {s.name for s in self.tables.specs}
        missing = [s.name for s in self.specs if s.sparse and s.name not in have]
        if missing or self.tables.embedding_dim != embedding_dim:
            raise ValueError(
                f"tables must cover the sparse features {missing} with width {embedding_dim} "
                f"(got width {self.tables.embedding_dim})."
            )
        self.numeric = nn.ParameterDict()
        self.dense = nn.ModuleDict()
        self.content = nn.ModuleDict()
        encoders = dict(content_encoders or {})
        extra = sorted(set(encoders) - {s.name for s in self.specs if s.kind == "content"})
        if extra:
            raise ValueError(f"content encoders {extra} name no content feature of this tower.")
        for spec in self.specs:
            if spec.kind == "numeric":
                self.numeric[spec.name] = nn.Parameter(torch.randn(2, embedding_dim) * 0.05)
            elif spec.kind == "dense":
                self.dense[spec.name] = nn.Linear(spec.dim, embedding_dim)
            elif spec.kind == "content":
                self.content[spec.name] = _content_encoder(spec, encoders.get(spec.name))
                # same projection role as a dense feature's, on the encoder's output
                self.dense[spec.name] = nn.Linear(self.content[spec.name].out_dim, embedding_dim)
        self.default = nn.Parameter(torch.randn(len(self.specs), embedding_dim) * 0.05)
        layers: list[nn.Module] = []
        width = len(self.specs) * embedding_dim
        for hidden in hidden_dims:
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        layers.append(nn.Linear(width, output_dim))
        self.mlp = nn.Sequential(*layers)

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.specs]

    def export_config(self) -> dict[str, Any]:
        """JSON constructor arguments (the declarations, sizes and content encoder configs).

        Raises:
            ExportError: embedding tables other than :class:`LocalEmbeddingTables` (a sharded
                backend is not rebuilt from a folder), or a content encoder that cannot be
                described.
        """
        if type(self.tables) is not LocalEmbeddingTables:
            raise ExportError(
                f"a FeatureTower with {type(self.tables).__name__} tables cannot be exported; "
                "copy the weights into LocalEmbeddingTables first."
            )
        return {
            "features": specs_to_dicts(self.specs),
            "embedding_dim": self.embedding_dim,
            "hidden_dims": list(self.hidden_dims),
            "output_dim": self.output_dim,
            "normalize": self.normalize,
            "content_encoders": {k: _export_config(v) for k, v in self.content.items()},
        }

    def feature_embeddings(
        self, features: Mapping[str, Tensor], mask: Tensor | None = None
    ) -> Tensor:
        """The per-feature vectors ``(B, F, d)`` after masking and empty-bag substitution."""
        sparse, empty = self.tables(features)
        parts, replace = [], []
        # a (F,) pattern masks a feature for every row: its content encoder need not run
        batch_masked = mask.tolist() if mask is not None and mask.dim() == 1 else None
        for f, spec in enumerate(self.specs):
            x = features[spec.name]
            if spec.sparse:
                e = sparse[spec.name]
                replace.append(empty[spec.name])
            elif spec.kind == "numeric":
                w, b = self.numeric[spec.name]
                e = x[:, None].to(w.dtype) * w + b
                replace.append(torch.zeros_like(x, dtype=torch.bool))
            elif spec.kind == "content":
                no_content = torch.isnan(x.flatten(1)).all(dim=1)
                if batch_masked is not None and batch_masked[f]:
                    e = self.default.new_zeros(x.shape[0], self.embedding_dim)
                else:
                    c = self.content[spec.name](x).to(self.default.dtype)
                    e = self.dense[spec.name](c)
                replace.append(no_content)
            else:
                e = self.dense[spec.name](x.to(self.default.dtype))
                replace.append(x.new_zeros(x.shape[0], dtype=torch.bool))
            parts.append(e)
        emb = torch.stack(parts, dim=1)
        use_default = torch.stack(replace, dim=1)
        if mask is not None:
            use_default = use_default | mask.to(device=emb.device).expand_as(use_default)
        return torch.where(use_default[..., None], self.default.to(emb.dtype), emb)

    def forward(self, features: Mapping[str, Tensor], mask: Tensor | None = None) -> Tensor:
        emb = self.feature_embeddings(features, mask)
        z = self.mlp(emb.flatten(1))
        return F.normalize(z, dim=1) if self.normalize else z


def _content_encoder(
    spec: FeatureSpec, module: nn.Module | Mapping[str, Any] | None
) -> ContentEncoder:
    if isinstance(module, Mapping):  # an exported ContentEncoder's config
        module = ContentEncoder(**dict(module))
    if module is None:
        raise ValueError(
            f"content feature {spec.name!r} has no encoder: pass content_encoders={{"
            f"{spec.name!r}: ...}} (in YAML: the method's content_encoders)."
        )
    encoder = module if isinstance(module, ContentEncoder) else ContentEncoder(module, spec.shape)
    if encoder.shape != spec.shape:
        raise ValueError(
            f"content feature {spec.name!r} has input shape {spec.shape} but its encoder was "
            f"built for {encoder.shape}."
        )
    return encoder


@exportable("recsys:id_tower")
class IdTower(nn.Module):
    """``Embedding(num_ids, embedding_dim)`` then ``Linear-ReLU-Linear``.

    Args:
        num_ids: Vocabulary size (ids ``0 .. num_ids - 1``).
        embedding_dim: Embedding table width (default 64).
        hidden_dim: MLP hidden width (default 128).
        out_dim: Output size (default 64).

    Shapes:
        ids: ``(B,)`` int64 -> ``(B, out_dim)``.

    Examples:
        >>> IdTower(100, out_dim=16)(torch.tensor([0, 7])).shape
        torch.Size([2, 16])
    """

    def __init__(
        self, num_ids: int, embedding_dim: int = 64, hidden_dim: int = 128, out_dim: int = 64
    ) -> None:
        super().__init__()
        if num_ids < 1:
            raise ValueError(f"num_ids must be >= 1, got {num_ids}.")
        self.num_ids = num_ids
        self.out_dim = out_dim
        self.embedding = nn.Embedding(num_ids, embedding_dim)
        self.mlp = nn.Sequential(
            nn.Linear(embedding_dim, hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, out_dim),
        )

    def forward(self, ids: Tensor) -> Tensor:
        return self.mlp(self.embedding(ids))
