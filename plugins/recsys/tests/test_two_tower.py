"""Two-tower retrieval: the in-batch softmax with and without logQ correction."""

from __future__ import annotations

import pytest
import torch

from selfsup.losses import info_nce
from selfsup_recsys.encoders import IdTower
from selfsup_recsys.methods import TwoTowerRetrieval


def _method(**kwargs: object) -> TwoTowerRetrieval:
    base = {"num_users": 20, "num_items": 30, "embedding_dim": 8, "hidden_dim": 8, "output_dim": 4}
    return TwoTowerRetrieval(**{**base, **kwargs})  # type: ignore[arg-type]


def _batch(b: int = 6, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "user_ids": torch.randint(0, 20, (b,), generator=g),
        "item_ids": torch.randint(0, 30, (b,), generator=g),
        "item_log_prob": torch.rand(b, generator=g).mul(0.9).add(0.05).log(),
    }


def _reference(
    u: torch.Tensor, v: torch.Tensor, tau: float, log_p: torch.Tensor | None
) -> torch.Tensor:
    """Yi et al. (2019) eq. 3-4 in float64: s_ij = cos(u_i, v_j) / tau - log p_j, softmax CE."""
    u, v = u.double(), v.double()
    b = len(u)
    total = torch.zeros((), dtype=torch.float64)
    for i in range(b):
        s = torch.stack(
            [
                (u[i] @ v[j]) / (u[i].norm() * v[j].norm()) / tau
                - (log_p[j].double() if log_p is not None else 0.0)
                for j in range(b)
            ]
        )
        total = total - (s[i] - torch.logsumexp(s, 0))
    return total / b


def test_loss_applies_logq_correction() -> None:
    method = _method(temperature=0.3)
    batch = _batch()
    loss = method.training_losses(batch)["loss"]
    u, v = method.user_tower(batch["user_ids"]), method.item_tower(batch["item_ids"])
    torch.testing.assert_close(loss, info_nce(u, v, 0.3, bias=-batch["item_log_prob"]))
    ref = _reference(u, v, 0.3, batch["item_log_prob"])
    torch.testing.assert_close(loss.double(), ref, atol=1e-5, rtol=1e-5)


def test_without_probabilities_or_correction_it_is_plain_in_batch_softmax() -> None:
    method = _method(temperature=0.3)
    batch = _batch()
    u, v = method.user_tower(batch["user_ids"]), method.item_tower(batch["item_ids"])
    plain = _reference(u, v, 0.3, None)
    no_probs = {k: batch[k] for k in ("user_ids", "item_ids")}
    torch.testing.assert_close(
        method.training_losses(no_probs)["loss"].double(), plain, atol=1e-5, rtol=1e-5
    )
    method.logq_correction = False
    torch.testing.assert_close(
        method.training_losses(batch)["loss"].double(), plain, atol=1e-5, rtol=1e-5
    )


def test_uniform_sampling_correction_changes_nothing() -> None:
    method = _method()
    batch = _batch()
    uniform = {**batch, "item_log_prob": torch.full((6,), -3.0)}
    plain = {k: batch[k] for k in ("user_ids", "item_ids")}
    torch.testing.assert_close(
        method.training_losses(uniform)["loss"], method.training_losses(plain)["loss"]
    )


def test_embed_picks_the_tower_and_normalises() -> None:
    method = _method().eval()
    with torch.no_grad():
        users = method.embed({"user_ids": torch.tensor([1, 2, 3])})
        items = method.embed({"item_ids": torch.tensor([0, 29])})
    assert users.shape == (3, 4) and items.shape == (2, 4)
    torch.testing.assert_close(users.norm(dim=1), torch.ones(3))
    torch.testing.assert_close(
        items,
        torch.nn.functional.normalize(method.item_tower(torch.tensor([0, 29])), dim=1).detach(),
    )


def test_unnormalised_towers_use_raw_dot_products() -> None:
    method = _method(normalize=False, temperature=1.0)
    batch = {k: v for k, v in _batch().items() if k != "item_log_prob"}
    u, v = method.user_tower(batch["user_ids"]), method.item_tower(batch["item_ids"])
    expected = torch.nn.functional.cross_entropy(u @ v.T, torch.arange(6))
    torch.testing.assert_close(method.training_losses(batch)["loss"], expected)


def test_id_tower_shapes() -> None:
    tower = IdTower(10, embedding_dim=3, hidden_dim=5, out_dim=2)
    assert tower(torch.tensor([0, 9])).shape == (2, 2)


def _reference_with_extra(
    u: torch.Tensor, keys: torch.Tensor, tau: float, log_p: torch.Tensor
) -> torch.Tensor:
    """Eq. 3-4 with extra negatives: row i's softmax over the batch's items and the queue's."""
    total = torch.zeros((), dtype=torch.float64)
    for i in range(len(u)):
        s = torch.stack(
            [
                (u[i].double() @ k.double()) / (u[i].double().norm() * k.double().norm()) / tau
                - log_p[j].double()
                for j, k in enumerate(keys)
            ]
        )
        total = total - (s[i] - torch.logsumexp(s, 0))
    return total / len(u)


def test_cross_batch_negatives_add_the_queued_items_with_their_log_probs() -> None:
    torch.manual_seed(0)
    model = _method(cross_batch_negatives=5, temperature=0.2)
    first, second = _batch(4, seed=1), _batch(4, seed=2)
    model.training_losses(first)  # empty queue: in-batch only; then queues 4 items
    assert len(model.item_queue) == 4
    past_v = model.item_tower(first["item_ids"]).detach()
    out = model.training_losses(second)
    u, v = model.user_tower(second["user_ids"]), model.item_tower(second["item_ids"])
    keys = torch.cat([v, past_v])
    log_p = torch.cat([second["item_log_prob"], first["item_log_prob"]])
    expected = _reference_with_extra(u, keys, 0.2, log_p)
    torch.testing.assert_close(out["loss"].double(), expected, rtol=1e-5, atol=1e-6)
    assert len(model.item_queue) == 5  # the oldest rows were overwritten
    restored = _method(cross_batch_negatives=5, temperature=0.2)
    restored.load_state_dict(model.state_dict())
    torch.testing.assert_close(restored.item_queue.keys(), model.item_queue.keys())


def test_matryoshka_sums_the_softmax_over_prefixes_in_float64() -> None:
    torch.manual_seed(0)
    model = _method(temperature=0.3, matryoshka_dims=[2, 4]).double()
    batch = _batch()
    loss = model.training_losses(batch)["loss"]
    u, v = model.user_tower(batch["user_ids"]), model.item_tower(batch["item_ids"])
    ref = sum(_reference(u[:, :d], v[:, :d], 0.3, batch["item_log_prob"]) for d in (2, 4))
    torch.testing.assert_close(loss, ref, rtol=0, atol=1e-10)
    params = [p for p in model.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, params)
    expected = torch.autograd.grad(ref, params)
    for got, want in zip(grads, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-10)
    with pytest.raises(ValueError, match="exceed the embedding size 4"):
        _method(matryoshka_dims=[2, 8])
