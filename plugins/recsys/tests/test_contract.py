"""selfsup-recsys passes the selfsup contract suites."""

from __future__ import annotations

from typing import Any

import torch

from selfsup.experiment.method import Method
from selfsup.testing import MethodContract, PluginContract
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
