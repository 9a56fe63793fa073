"""MoCo v2 on images: InfoNCE of queries against their keys and the queue (not the other
queries' keys), this step's keys queued after the loss, the queue checkpointed."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from selfsup.losses import info_nce
from selfsup_vision.encoders import SmallConvNet
from selfsup_vision.methods import MoCo


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
