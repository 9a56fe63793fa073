"""selfsup-recsys passes the selfsup contract suites."""

from __future__ import annotations

from typing import Any

import torch

from selfsup.experiment.method import Method
from selfsup.testing import MethodContract, PluginContract
from selfsup_recsys.examples import (
    EXAMPLE_ITEM_FEATURES,
    EXAMPLE_QUERY_FEATURES,
    random_feature_batch,
    random_item_features,
    tiny_feature_two_tower,
)
from selfsup_recsys.methods.feature_two_tower import FeatureTwoTower
from selfsup_recsys.methods.two_tower import TwoTowerRetrieval


def interactions(b: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    return {
        "user_ids": torch.randint(0, 20, (b,), generator=generator),
        "item_ids": torch.randint(0, 30, (b,), generator=generator),
        "item_log_prob": torch.rand(b, generator=generator).mul(0.9).add(0.05).log(),
    }


class TestRecsysPlugin(PluginContract):
    plugin_name = "recsys"
    distribution = "selfsup-recsys"
    modality = "recsys"


class TestTwoTowerRetrieval(MethodContract):
    method_cls = TwoTowerRetrieval
    modality = "recsys"

    def make_method(self) -> Method:
        return TwoTowerRetrieval(
            num_users=20, num_items=30, embedding_dim=8, hidden_dim=8, output_dim=4, temperature=0.2
        )

    def make_batch(self, generator: torch.Generator) -> Any:
        return interactions(6, generator)

    def malformed_batches(self) -> list[tuple[Any, str]]:
        good = interactions(6, torch.Generator().manual_seed(0))
        return [
            ((good["user_ids"], good["item_ids"]), "expects a dict"),
            ({"user_ids": good["user_ids"]}, "missing 'item_ids'"),
            ({**good, "user_ids": good["user_ids"] + 20}, r"num_users=20"),
            ({**good, "item_ids": good["item_ids"] - 31}, r"num_items=30"),
            ({**good, "item_ids": good["item_ids"].float()}, "int64"),
            ({**good, "user_ids": good["user_ids"][:, None]}, r"shape \(B,\)"),
            ({**good, "item_ids": good["item_ids"][:5]}, "same length"),
            ({**good, "item_log_prob": -good["item_log_prob"] + 0.1}, "<= 0"),
            ({**good, "item_log_prob": good["item_log_prob"][:3]}, r"shape \(6,\)"),
            ({k: v[:1] for k, v in good.items()}, "at least 2"),
        ]

    def make_embed_inputs(self, generator: torch.Generator) -> tuple[Any, int | None]:
        return {"item_ids": torch.arange(7)}, 7

    def make_encoder_inputs(self, generator: torch.Generator) -> tuple[Any, ...]:
        return (torch.randint(0, 30, (5,), generator=generator),)  # item ids: the item tower


class TestTwoTowerCrossBatch(TestTwoTowerRetrieval):
    def make_method(self) -> Method:
        return TwoTowerRetrieval(
            num_users=20,
            num_items=30,
            embedding_dim=8,
            hidden_dim=8,
            output_dim=4,
            temperature=0.2,
            cross_batch_negatives=16,
        )


def _malformed_feature_batches() -> list[tuple[Any, str]]:
    good = random_feature_batch(6, torch.Generator().manual_seed(0))
    item = good["item"]
    return [
        ((good["query"], good["item"]), "expects a dict"),
        ({k: v for k, v in good.items() if k != "item"}, "missing 'item'"),
        ({**good, "item": {**item, "item_id": item["item_id"] + 30}}, "cardinality=30"),
        ({**good, "item": {**item, "genres": item["genres"][:, 0]}}, r"\(B, L\)"),
        ({**good, "item": {k: v[:5] for k, v in item.items()}}, "5 rows"),
        ({**good, "item_ids": good["item_ids"][:4]}, r"shape \(6,\)"),
        ({**good, "item_ids": good["item_ids"] - 40}, ">= 0"),
        ({**good, "query": {"user_id": good["query"]["user_id"]}}, "missing feature 'age'"),
        ({**good, "ssl_item": {k: v[:1] for k, v in good["ssl_item"].items()}}, "at least 2"),
        (
            {
                k: (v if k == "item_ids" else {f: t[:1] for f, t in v.items()})
                for k, v in good.items()
                if k != "item_ids"
            },
            "at least 2",
        ),
    ]


class TestFeatureTwoTowerRFM(MethodContract):
    method_cls = FeatureTwoTower
    modality = "recsys"

    def make_method(self) -> Method:
        return tiny_feature_two_tower("rfm")

    def make_batch(self, generator: torch.Generator) -> Any:
        return random_feature_batch(6, generator)

    def malformed_batches(self) -> list[tuple[Any, str]]:
        return _malformed_feature_batches()

    def make_embed_inputs(self, generator: torch.Generator) -> tuple[Any, int | None]:
        return {"item": random_item_features(7, generator)}, 7

    def make_encoder_inputs(self, generator: torch.Generator) -> tuple[Any, ...]:
        return (random_item_features(5, generator),)  # the exported encoder's forward: items


class TestFeatureTwoTowerCFM(TestFeatureTwoTowerRFM):
    def make_method(self) -> Method:
        return tiny_feature_two_tower("cfm", logq="none", remove_accidental_hits=False)

    def make_embed_inputs(self, generator: torch.Generator) -> tuple[Any, int | None]:
        b = random_feature_batch(5, generator)
        return {"query": b["query"]}, 5


CLIP = {"name": "clip", "kind": "content", "shape": [4, 3]}
CLIP_ENCODER = {
    "encoder": {
        "class_path": "torch.nn.Linear",
        "init_args": {"in_features": 3, "out_features": 2},
    },
    "pool": "mean",
}


def _with_clips(batch: dict[str, Any], generator: torch.Generator) -> dict[str, Any]:
    """Adds a raw ``(4, 3)`` content clip per item (and SSL item) to a feature batch."""
    out = dict(batch)
    for key in ("item", "ssl_item"):
        rows = len(batch[key]["item_id"])
        out[key] = {**batch[key], "clip": torch.randn(rows, 4, 3, generator=generator)}
    return out


class TestFeatureTwoTowerContent(TestFeatureTwoTowerRFM):
    """The item tower reads raw content through a (trainable) content encoder."""

    def make_method(self) -> Method:
        method = FeatureTwoTower(
            EXAMPLE_QUERY_FEATURES, [*EXAMPLE_ITEM_FEATURES, CLIP], embedding_dim=4,
            hidden_dims=[8], output_dim=4, temperature=0.2, ssl="rfm", frequency_buckets=64,
            content_encoders={"clip": CLIP_ENCODER},
        )  # fmt: skip
        return method

    def make_batch(self, generator: torch.Generator) -> Any:
        return _with_clips(random_feature_batch(6, generator), generator)

    def malformed_batches(self) -> list[tuple[Any, str]]:
        generator = torch.Generator().manual_seed(0)
        good = self.make_batch(generator)
        item = good["item"]
        partial = item["clip"].clone()
        partial[0, 0, 0] = float("nan")
        return [
            ({**good, "item": {k: v for k, v in item.items() if k != "clip"}}, "missing feature"),
            ({**good, "item": {**item, "clip": item["clip"][:, :3]}}, r"shape \(B, 4, 3\)"),
            ({**good, "item": {**item, "clip": partial}}, "all NaN for an item without content"),
            ({**good, "item": {**item, "clip": item["clip"].long()}}, "floating point"),
        ]

    def make_embed_inputs(self, generator: torch.Generator) -> tuple[Any, int | None]:
        items = random_item_features(7, generator)
        return {"item": {**items, "clip": torch.randn(7, 4, 3, generator=generator)}}, 7

    def make_encoder_inputs(self, generator: torch.Generator) -> tuple[Any, ...]:
        items = random_item_features(5, generator)
        return ({**items, "clip": torch.randn(5, 4, 3, generator=generator)},)
