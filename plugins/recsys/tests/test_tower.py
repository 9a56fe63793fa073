"""Feature declarations, embedding tables and the feature tower."""

from __future__ import annotations

import pytest
import torch

from selfsup.experiment.method import MalformedBatchError
from selfsup_recsys.batch import FeatureSpec, check_features, parse_features
from selfsup_recsys.encoders import FeatureTower, LocalEmbeddingTables

SPECS = [
    {"name": "id", "kind": "categorical", "cardinality": 7},
    {"name": "tags", "kind": "bag", "cardinality": 5},
    {"name": "price", "kind": "numeric"},
    {"name": "content", "kind": "dense", "dim": 3},
]


def _features(b: int = 4) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "id": torch.randint(0, 7, (b,), generator=g),
        "tags": torch.tensor([[0, 1, -1], [2, -1, -1], [-1, -1, -1], [4, 4, 3]])[:b],
        "price": torch.randn(b, generator=g),
        "content": torch.randn(b, 3, generator=g),
    }


def test_bag_is_mean_of_rows_and_empty_bag_uses_default() -> None:
    tower = FeatureTower(SPECS, embedding_dim=4, hidden_dims=[8], output_dim=5)
    x = _features()
    emb = tower.feature_embeddings(x)
    table = tower.tables.tables["tags"].weight
    torch.testing.assert_close(emb[0, 1], (table[1] + table[2]) / 2)  # values 0, 1 -> rows 1, 2
    torch.testing.assert_close(emb[3, 1], (2 * table[5] + table[4]) / 3)
    torch.testing.assert_close(emb[2, 1], tower.default[1])  # empty bag
    w, b = tower.numeric["price"]
    torch.testing.assert_close(emb[:, 2], x["price"][:, None] * w + b)
    out = tower(x)
    assert out.shape == (4, 5)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(4))


def test_mask_replaces_features_by_default_embedding() -> None:
    tower = FeatureTower(SPECS, embedding_dim=4, hidden_dims=[], output_dim=5)
    x = _features()
    plain = tower.feature_embeddings(x)
    mask = torch.tensor([True, False, False, True])
    masked = tower.feature_embeddings(x, mask)
    torch.testing.assert_close(masked[:, 0], tower.default[0].expand(4, -1))
    torch.testing.assert_close(masked[:, 3], tower.default[3].expand(4, -1))
    torch.testing.assert_close(masked[:, 1:3], plain[:, 1:3])
    per_row = torch.zeros(4, 4, dtype=torch.bool)
    per_row[1, 2] = True
    rows = tower.feature_embeddings(x, per_row)
    torch.testing.assert_close(rows[1, 2], tower.default[2])
    torch.testing.assert_close(rows[0], plain[0])


def test_zero_width_bags_are_empty() -> None:
    tables = LocalEmbeddingTables([FeatureSpec("tags", "bag", 3)], embedding_dim=2)
    out, empty = tables({"tags": torch.zeros(3, 0, dtype=torch.long)})
    assert out["tags"].shape == (3, 2) and bool(empty["tags"].all())


def test_bad_declarations_raise() -> None:
    with pytest.raises(ValueError, match="kind must be one of"):
        FeatureSpec("x", "text")
    with pytest.raises(ValueError, match="cardinality >= 1"):
        FeatureSpec("x", "bag", 0)
    with pytest.raises(ValueError, match="dim >= 1"):
        FeatureSpec("x", "dense")
    with pytest.raises(ValueError, match="repeated"):
        parse_features([SPECS[0], SPECS[0]])
    with pytest.raises(ValueError, match="at least one feature"):
        parse_features([])


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        ({"id": torch.tensor([0, 1, 2, 7])}, r"cardinality=7"),
        ({"tags": torch.full((4, 2), -2)}, r"-1 pads bags"),
        ({"id": torch.zeros(4)}, "int64"),
        ({"price": torch.tensor([0.0, float("nan"), 0.0, 0.0])}, "NaN"),
        ({"content": torch.zeros(4, 2)}, r"\(B, 3\)"),
        ({"price": torch.zeros(3)}, "3 rows"),
        ({"tags": torch.zeros(4, dtype=torch.long)}, r"\(B, L\)"),
    ],
)
def test_check_features_rejects(change: dict[str, torch.Tensor], pattern: str) -> None:
    specs = parse_features(SPECS)
    with pytest.raises(MalformedBatchError, match=pattern):
        check_features({**_features(), **change}, specs, "item")


def test_check_features_missing_and_not_a_dict() -> None:
    specs = parse_features(SPECS)
    x = _features()
    del x["price"]
    with pytest.raises(MalformedBatchError, match="missing feature 'price'"):
        check_features(x, specs, "item")
    with pytest.raises(MalformedBatchError, match="dict of feature tensors"):
        check_features([1], specs, "item")
