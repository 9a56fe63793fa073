"""FeatureTwoTower: main loss (logQ, accidental hits), SSL term, state and serving."""

from __future__ import annotations

import io
import math

import pytest
import torch

from selfsup_recsys.examples import (
    EXAMPLE_ITEM_FEATURES,
    EXAMPLE_QUERY_FEATURES,
    random_feature_batch,
    tiny_feature_two_tower,
)
from selfsup_recsys.methods import FeatureTwoTower

QUERY, ITEM = EXAMPLE_QUERY_FEATURES, EXAMPLE_ITEM_FEATURES


def _reference(
    u: torch.Tensor,
    v: torch.Tensor,
    tau: float,
    log_p: torch.Tensor | None,
    ids: torch.Tensor | None,
) -> torch.Tensor:
    """Yi et al. (2019) in float64 loops: s_ij = u_i.v_j / tau - log p_j; hits j != i, id_j = id_i
    leave the denominator."""
    u, v = u.double(), v.double()
    total = torch.zeros((), dtype=torch.float64)
    for i in range(len(u)):
        logits = []
        for j in range(len(v)):
            if ids is not None and j != i and int(ids[j]) == int(ids[i]):
                continue
            s = (u[i] @ v[j]) / tau - (float(log_p[j]) if log_p is not None else 0.0)
            logits.append(s)
            if j == i:
                positive = s
        total = total - (positive - torch.logsumexp(torch.stack(logits), 0))
    return total / len(u)


def _batch(seed: int = 0, b: int = 6) -> dict:
    batch = random_feature_batch(b, torch.Generator().manual_seed(seed))
    batch["item"]["item_id"][:2] = 7  # an accidental hit: rows 0 and 1 are the same item
    batch["item_ids"] = batch["item"]["item_id"].clone()
    batch["item_log_prob"] = (
        torch.rand(b, generator=torch.Generator().manual_seed(9)).add(0.05).log()
    )
    return batch


@pytest.mark.parametrize("hits", [True, False])
def test_main_loss_with_batch_logq_matches_reference(hits: bool) -> None:
    method = tiny_feature_two_tower("none", logq="batch", remove_accidental_hits=hits)
    batch = _batch()
    out = method.training_losses(batch)
    u, v = method.query_tower(batch["query"]), method.item_tower(batch["item"])
    ref = _reference(u, v, 0.2, batch["item_log_prob"], batch["item_ids"] if hits else None)
    torch.testing.assert_close(out["loss"].double(), ref, atol=1e-5, rtol=1e-5)


def test_streaming_logq_uses_the_estimate_after_each_step() -> None:
    method = tiny_feature_two_tower("none", logq="streaming", remove_accidental_hits=False)
    method.frequency.alpha = 0.5
    first = _batch()
    method.training_losses(first)  # step 1: every item of the first batch seen at t = 1
    second = _batch(seed=1)
    loss = method.training_losses(second)["loss"]
    seen = set(first["item_ids"].tolist())
    log_p = []
    for y in second["item_ids"].tolist():  # step 2, hand formula with B0 = 2**18 buckets' init 100
        b1 = 0.5 * 100 + 0.5 * 1 if y in seen else 100.0
        last = 1.0 if y in seen else 0.0
        log_p.append(-math.log(0.5 * b1 + 0.5 * (2 - last)))
    u, v = method.query_tower(second["query"]), method.item_tower(second["item"])
    ref = _reference(u, v, 0.2, torch.tensor(log_p), None)
    torch.testing.assert_close(loss.double(), ref, atol=1e-5, rtol=1e-5)
    method.eval()
    step = method.frequency.step.clone()
    method.training_losses(second)
    assert torch.equal(method.frequency.step, step)  # evaluation does not feed the estimator


def test_ssl_term_is_one_directional_infonce_between_complementary_views() -> None:
    item = [
        ITEM[0],
        ITEM[2],
    ]  # two categorical features: RFM masks one per view
    method = FeatureTwoTower(
        QUERY, item, embedding_dim=4, hidden_dims=[8], output_dim=4, temperature=0.2,
        logq="none", remove_accidental_hits=False, ssl="rfm", ssl_weight=0.7,
        ssl_temperature=0.5, frequency_buckets=8,
    )  # fmt: skip
    batch = _batch()
    batch["item"] = {k: batch["item"][k] for k in ("item_id", "year")}
    batch["ssl_item"] = {k: batch["ssl_item"][k] for k in ("item_id", "year")}
    torch.manual_seed(0)
    out = method.training_losses(batch)
    torch.testing.assert_close(out["loss"], out["main_loss"] + 0.7 * out["ssl_loss"])
    x = batch["ssl_item"]
    candidates = []
    for first in (0, 1):
        za = method.item_tower(x, torch.tensor([first == 0, first == 1]))
        zb = method.item_tower(x, torch.tensor([first == 1, first == 0]))
        candidates.append(_reference(za, zb, 0.5, None, None))
    assert any(
        torch.allclose(out["ssl_loss"].double(), c, atol=1e-5, rtol=1e-5) for c in candidates
    )


@pytest.mark.parametrize("dropout", [0.0, 1.0])
def test_cfm_ssl_term_matches_float64_reference_of_its_masks(dropout: float) -> None:
    """CFM end to end (Yao et al. Eq. 3, Sec. 3.2): view a masks {seed} + the floor(k/2) features
    of highest MI with it, view b the complement, both with bag dropout; L_self in float64."""
    # item features: 0 item_id, 1 genres (bag), 2 year, 3 content (dense, no MI)
    mi = torch.tensor(
        [[0.0, 0.9, 0.1, 0.0], [0.9, 0.0, 0.3, 0.0], [0.1, 0.3, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    )
    # seeds 0, 1, 2 -> {0, 1, 2} | {3}; seed 3 -> {3} + ties in feature order {0, 1} | {2}
    cfm_pairs = [((0, 1, 2), (3,)), ((0, 1, 3), (2,))]
    method = FeatureTwoTower(
        QUERY, ITEM, embedding_dim=4, hidden_dims=[8], output_dim=4, temperature=0.2,
        logq="none", remove_accidental_hits=False, ssl="cfm", ssl_weight=0.5,
        ssl_temperature=0.3, bag_dropout=dropout, frequency_buckets=8,
    )  # fmt: skip
    method.set_feature_correlation(mi)
    batch = _batch(b=6)
    x = batch["ssl_item"]
    assert bool((x["genres"] >= 0).any(1).all())  # every item has a genre to drop

    def views(masked_a: tuple[int, ...], masked_b: tuple[int, ...]) -> torch.Tensor:
        # dropout 1.0 empties every bag: the tower then reads genres' default embedding in both
        extra = (1,) if dropout == 1.0 else ()
        za = method.item_tower(x, torch.tensor([f in masked_a + extra for f in range(4)]))
        zb = method.item_tower(x, torch.tensor([f in masked_b + extra for f in range(4)]))
        return _reference(za, zb, 0.3, None, None)

    got = []
    for seed in range(12):  # the seed feature is uniform: every pattern shows up
        torch.manual_seed(seed)
        got.append(method.training_losses(batch)["ssl_loss"].double())
    candidates = [views(a, b) for a, b in cfm_pairs]
    for value in got:
        assert any(torch.allclose(value, c, atol=1e-5, rtol=1e-5) for c in candidates)
    for c in candidates:
        assert any(torch.allclose(value, c, atol=1e-5, rtol=1e-5) for value in got)
    # a complementary split CFM never draws (id alone against the rest: not seed + top-2) differs
    other = views((0,), (1, 2, 3))
    assert not any(torch.allclose(value, other, atol=1e-5, rtol=1e-5) for value in got)


def test_without_ssl_items_the_main_items_are_used_and_cfm_needs_mi() -> None:
    method = tiny_feature_two_tower("rfm")
    batch = _batch()
    del batch["ssl_item"]
    assert "ssl_loss" in method.training_losses(batch)
    fresh = FeatureTwoTower(QUERY, ITEM, ssl="cfm", frequency_buckets=8)
    with pytest.raises(RuntimeError, match="mutual information"):
        fresh.training_losses(_batch())


def test_unbuilt_model_and_schema_mismatch() -> None:
    method = FeatureTwoTower()
    with pytest.raises(RuntimeError, match="no feature schema"):
        method.training_losses(_batch())
    method.materialize(QUERY, ITEM)
    method.materialize(QUERY, ITEM)  # same schema: fine
    with pytest.raises(ValueError, match="schema mismatch"):
        method.materialize(QUERY, ITEM[:2])
    with pytest.raises(ValueError, match="ssl must be"):
        FeatureTwoTower(ssl="mask")


def test_saved_model_serves_item_and_query_embeddings() -> None:
    method = tiny_feature_two_tower("cfm").eval()
    buffer = io.BytesIO()
    torch.save(method.state_dict(), buffer)
    buffer.seek(0)
    served = FeatureTwoTower(frequency_buckets=64)  # schema comes from the checkpoint
    served.load_state_dict(torch.load(buffer, weights_only=True))
    served.eval()
    batch = _batch()
    with torch.no_grad():
        torch.testing.assert_close(
            served.item_embeddings(batch["item"]), method.item_embeddings(batch["item"])
        )
        q = served.embed({"query": batch["query"]})
    torch.testing.assert_close(q.norm(dim=1), torch.ones(6))
    assert torch.equal(served.feature_mi, method.feature_mi) and bool(served.feature_mi_ready)


def test_matryoshka_main_loss_renormalises_each_prefix_in_float64() -> None:
    torch.manual_seed(0)
    method = tiny_feature_two_tower("none", logq="batch", matryoshka_dims=[2, 4]).double()
    batch = _batch()
    batch["query"]["age"] = batch["query"]["age"].double()
    batch["item"]["content"] = batch["item"]["content"].double()
    loss = method.training_losses(batch)["loss"]
    u, v = method.query_tower(batch["query"]), method.item_tower(batch["item"])

    def unit(z: torch.Tensor, d: int) -> torch.Tensor:
        return z[:, :d] / z[:, :d].norm(dim=1, keepdim=True)

    ref = sum(
        _reference(unit(u, d), unit(v, d), 0.2, batch["item_log_prob"], batch["item_ids"])
        for d in (2, 4)
    )
    torch.testing.assert_close(loss, ref, rtol=0, atol=1e-10)
    params = [p for p in method.parameters() if p.requires_grad]
    for got, want in zip(
        torch.autograd.grad(loss, params, allow_unused=True),
        torch.autograd.grad(ref, params, allow_unused=True),
        strict=True,
    ):
        if want is not None:
            torch.testing.assert_close(got, want, rtol=0, atol=1e-10)


def test_cross_batch_negatives_join_with_their_log_probs_and_ids_in_float64() -> None:
    torch.manual_seed(0)
    method = tiny_feature_two_tower(
        "none", logq="batch", remove_accidental_hits=True, cross_batch_negatives=10
    ).double()

    def batch(seed: int) -> dict:
        b = _batch(seed=seed)
        b["query"]["age"] = b["query"]["age"].double()
        b["item"]["content"] = b["item"]["content"].double()
        return b

    first, second = batch(0), batch(1)  # item 7 in both: a hit across batch and queue
    method.training_losses(first)
    assert len(method.item_queue) == 6
    past_v = method.item_tower(first["item"]).detach()
    out = method.training_losses(second)
    u, v = method.query_tower(second["query"]), method.item_tower(second["item"])
    keys = torch.cat([v, past_v])
    log_p = torch.cat([second["item_log_prob"], first["item_log_prob"]])
    ids = torch.cat([second["item_ids"], first["item_ids"]])
    ref = _reference(u, keys, 0.2, log_p, ids)
    torch.testing.assert_close(out["loss"], ref, rtol=0, atol=1e-10)
    params = [p for p in method.parameters() if p.requires_grad]
    for got, want in zip(
        torch.autograd.grad(out["loss"], params, allow_unused=True),
        torch.autograd.grad(ref, params, allow_unused=True),
        strict=True,
    ):
        if want is not None:
            torch.testing.assert_close(got, want, rtol=0, atol=1e-10)
    restored = tiny_feature_two_tower(
        "none", logq="batch", remove_accidental_hits=True, cross_batch_negatives=10
    ).double()
    restored.load_state_dict(method.state_dict())
    torch.testing.assert_close(restored.item_queue.keys(), method.item_queue.keys())
