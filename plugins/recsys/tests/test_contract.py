"""selfsup-recsys passes the selfsup contract suites."""

from __future__ import annotations

from typing import Any

import torch

from selfsup.experiment.method import Method
from selfsup.testing import MethodContract, PluginContract
from selfsup_recsys.examples import (
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
    unused_parameters = ("query_tower.default",)  # query features are never masked

    def make_method(self) -> Method:
        return tiny_feature_two_tower("rfm")

    def make_batch(self, generator: torch.Generator) -> Any:
        return random_feature_batch(6, generator)

    def malformed_batches(self) -> list[tuple[Any, str]]:
        return _malformed_feature_batches()

    def make_embed_inputs(self, generator: torch.Generator) -> tuple[Any, int | None]:
        return {"item": random_item_features(7, generator)}, 7


class TestFeatureTwoTowerCFM(TestFeatureTwoTowerRFM):
    def make_method(self) -> Method:
        return tiny_feature_two_tower("cfm", logq="none", remove_accidental_hits=False)

    def make_embed_inputs(self, generator: torch.Generator) -> tuple[Any, int | None]:
        b = random_feature_batch(5, generator)
        return {"query": b["query"]}, 5
