"""MoCo v2 on images: InfoNCE of queries against their keys and the queue (not the other
queries' keys), this step's keys queued after the loss, the queue checkpointed."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from selfsup.losses import info_nce
from selfsup_vision.encoders import SmallConvNet
from selfsup_vision.methods import MoCo, MoCoV3


def _moco(**kwargs) -> MoCo:
    torch.manual_seed(0)
    args = {"hidden_dim": 16, "projection_dim": 8, "queue_size": 12, "temperature": 0.2}
    return MoCo(SmallConvNet(width=4, out_dim=8), **{**args, **kwargs}).double()


def _views(seed: int) -> dict:
    gen = torch.Generator().manual_seed(seed)
    return {"views": [torch.rand(4, 3, 8, 8, generator=gen, dtype=torch.float64) for _ in "ab"]}


def _by_hand(method: MoCo, batch: dict, negatives: torch.Tensor) -> torch.Tensor:
    v1, v2 = batch["views"]
    q = method.projector(method.encoder(torch.cat([v1, v2])))[:4]
    k = F.normalize(method.key_projector(method.key_encoder(torch.cat([v1, v2]))), dim=1)[4:]
    if len(negatives) == 0:
        return info_nce(q, k, 0.2)
    return info_nce(q, torch.cat([k, negatives]), 0.2, in_batch_negatives=False)


def test_the_loss_uses_the_queue_of_earlier_keys_then_queues_this_steps() -> None:
    method = _moco()
    first, second = _views(0), _views(1)
    out = method.training_losses(first)
    torch.testing.assert_close(out["loss"], _by_hand(method, first, method.queue.keys()[:0]))
    assert len(method.queue) == 4  # the key view's keys
    before = method.queue.keys()
    out = method.training_losses(second)
    torch.testing.assert_close(out["loss"], _by_hand(method, second, before), rtol=0, atol=1e-12)
    assert len(method.queue) == 8
    torch.testing.assert_close(method.queue.keys()[:4], before)


def test_symmetric_queues_both_views_and_the_queue_resumes() -> None:
    method = _moco(symmetric=True)
    method.training_losses(_views(2))
    assert len(method.queue) == 8
    again = _moco(symmetric=True)
    again.load_state_dict(method.state_dict())
    torch.testing.assert_close(again.queue.keys(), method.queue.keys())
    method.eval()
    method.training_losses(_views(3))  # evaluation does not push
    assert len(method.queue) == 8


def _ctr_reference(q: torch.Tensor, k: torch.Tensor, tau: float) -> torch.Tensor:
    # MoCo v3's ctr(q, k) in float64 loops: 2 tau x cross-entropy of q.k / tau, labels = diagonal
    q, k = F.normalize(q.double(), dim=1), F.normalize(k.double(), dim=1)
    total = 0.0
    for i in range(len(q)):
        logits = torch.stack([q[i] @ k[j] / tau for j in range(len(k))])
        total = total - (logits[i] - torch.logsumexp(logits, 0))
    return 2 * tau * total / len(q)


def test_moco_v3_is_the_symmetric_scaled_contrast_of_predictions_and_keys() -> None:
    torch.manual_seed(0)
    method = MoCoV3(SmallConvNet(width=4, out_dim=8), hidden_dim=16, projection_dim=8).double()
    batch = _views(3)
    out = method.training_losses(batch)
    v1, v2 = batch["views"]
    q = method.predictor(method.projector(method.encoder(torch.cat([v1, v2]))))
    k = method.key_projector(method.key_encoder(torch.cat([v1, v2])))
    expected = _ctr_reference(q[:4], k[4:], 0.2) + _ctr_reference(q[4:], k[:4], 0.2)
    torch.testing.assert_close(out["loss"], expected, rtol=0, atol=1e-12)
    params = [p for p in method.parameters() if p.requires_grad]
    got = torch.autograd.grad(out["loss"], params)
    want = torch.autograd.grad(expected, params)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(g, w, rtol=0, atol=1e-10)
    assert all(not p.requires_grad for p in method.key_encoder.parameters())
    assert method.projector[-1].affine is False and method.predictor[-1].affine is False
