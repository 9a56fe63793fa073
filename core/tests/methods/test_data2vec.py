"""Data2Vec (data2vec 2.0 on tokens): loss and targets against float64 references, no leak of
masked content, the EMA teacher, a shared trunk, and one step on two processes."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import selfsup.methods.data2vec as data2vec_module
from selfsup.encoders import TransformerTrunk, VectorTokenizer
from selfsup.experiment import SSLModule, Task
from selfsup.masking import padded_token_mask
from selfsup.methods import Data2Vec
from selfsup.testing.boring import BoringDataModule, quiet_trainer
from selfsup.testing.step_equivalence import StepCase, check_step_equivalence, rows_of_global_draw


class PaddedTokenizer(nn.Module):
    """Dict batches ``{"x": (B, L, F), "padding_mask": (B, L)}`` -> tokens with positions."""

    def __init__(self, features: int = 3, dim: int = 8, length: int = 6) -> None:
        super().__init__()
        self.embed = nn.Linear(features, dim)
        self.position = nn.Parameter(torch.randn(length, dim) * 0.1)

    def forward(self, batch):
        return self.embed(batch["x"]) + self.position, batch["padding_mask"]


def _method(**kwargs) -> Data2Vec:
    settings = {"mask_ratio": 0.5, "num_masks": 2, "top_k_layers": 2, "decoder_depth": 2}
    return Data2Vec(
        PaddedTokenizer(), TransformerTrunk(8, depth=3, num_heads=2), 8, **{**settings, **kwargs}
    )


def _batch(b: int = 4, seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    padding = torch.zeros(b, 6, dtype=torch.bool)
    padding[0, 4:] = True
    padding[b - 1, 2:] = True
    return {"x": torch.randn(b, 6, 3, generator=gen, dtype=torch.float64), "padding_mask": padding}


def _teacher_targets(method: Data2Vec, tokens, padding) -> torch.Tensor:
    # the teacher by hand: EMA blocks one by one, top 2 instance-normalised over real tokens
    trunk = method.teacher.teacher
    x, layers = tokens, []
    for block in trunk.blocks:
        x = block(x, padding)
        layers.append(x)
    b, length, c = tokens.shape
    out = torch.zeros(b, length, c, dtype=torch.float64)
    for layer in layers[-2:]:
        for i in range(b):
            real = ~padding[i]
            values = layer[i][real]
            mean = values.mean(0)
            var = ((values - mean) ** 2).mean(0)
            out[i][real] += (values - mean) / torch.sqrt(var + 1e-5)
    return out / 2


def test_loss_is_the_scaled_squared_error_on_masked_tokens_in_float64(monkeypatch) -> None:
    torch.manual_seed(0)
    method = _method().double()
    batch = _batch()
    seen = {}
    predict = method.predict

    def recording(tokens, padding):
        seen["pred"], seen["mask"] = predict(tokens, padding)
        return seen["pred"], seen["mask"]

    monkeypatch.setattr(method, "predict", recording)
    out = method.training_losses(batch)
    tokens, padding = method.tokenizer(batch)
    target = _teacher_targets(method, tokens.detach(), padding).repeat_interleave(2, 0)
    pred, mask = seen["pred"], seen["mask"]
    assert not bool((mask & padding.repeat_interleave(2, 0)).any())  # padding is never a target
    total, count = 0.0, 0
    for i in range(pred.shape[0]):
        for t in range(pred.shape[1]):
            if mask[i, t]:
                total = total + ((pred[i, t] - target[i, t]) ** 2).sum() / math.sqrt(8)
                count += 1
    reference = total / count
    torch.testing.assert_close(out["loss"], reference, rtol=0, atol=1e-10)
    params = [p for p in method.parameters() if p.requires_grad]
    got = torch.autograd.grad(out["loss"], params, allow_unused=True, retain_graph=True)
    want = torch.autograd.grad(reference, params, allow_unused=True)
    for g, w in zip(got, want, strict=True):
        if w is not None:
            torch.testing.assert_close(g, w, rtol=0, atol=1e-10)
    assert all(p.grad is None for p in method.teacher.parameters())


def test_the_student_never_reads_masked_content() -> None:
    method = _method(mask_noise_std=0.0).double()
    batch = _batch()
    tokens, padding = method.tokenizer(batch)
    torch.manual_seed(3)
    pred, mask = method.predict(tokens, padding)
    noise = 50.0 * torch.randn_like(tokens)
    altered = torch.where(mask.unsqueeze(-1), tokens + noise, tokens)
    torch.manual_seed(3)
    pred2, mask2 = method.predict(altered, padding)
    assert torch.equal(mask, mask2)
    torch.testing.assert_close(pred2, pred, rtol=0, atol=1e-12)
    torch.manual_seed(3)
    pred3, _ = method.predict(torch.where(mask.unsqueeze(-1), tokens, tokens + noise), padding)
    assert not torch.allclose(pred3, pred)  # visible content does reach it


def test_training_moves_the_teacher_on_a_trunk_shared_with_another_task() -> None:
    trunk = TransformerTrunk(8, depth=2, num_heads=2)

    def task(name: str) -> Task:
        # a placeholder trunk of another depth: the EMA teacher restarts from the shared one
        method = Data2Vec(VectorTokenizer(16, 8, num_tokens=4), TransformerTrunk(8, depth=1,
                          num_heads=2), 8, mask_ratio=0.5, num_masks=2)  # fmt: skip
        return Task(name, method, BoringDataModule(), share={"trunk": "trunk"})

    module = SSLModule([task("a"), task("b")], shared={"trunk": trunk})
    a = module.tasks["a"].method
    assert a.trunk is trunk and a.teacher.student is trunk
    start = [p.clone() for p in a.teacher.parameters()]
    quiet_trainer(max_steps=3, max_epochs=-1).fit(module)
    assert any(not torch.equal(s, p) for s, p in zip(start, a.teacher.parameters()))
    assert torch.isfinite(a.training_losses(torch.randn(4, 16))["loss"])
    again = Data2Vec(VectorTokenizer(16, 8, num_tokens=4), TransformerTrunk(8, depth=2,
                     num_heads=2), 8)  # fmt: skip
    again.load_state_dict(a.state_dict())
    torch.testing.assert_close(again.teacher.teacher.blocks[0].qkv.weight,
                               a.teacher.teacher.blocks[0].qkv.weight)  # fmt: skip


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="block_outputs"):
        Data2Vec(nn.Identity(), nn.Identity(), 8)
    with pytest.raises(ValueError, match=r"top_k_layers must be in \[1, 3\]"):
        _method(top_k_layers=4)
    with pytest.raises(ValueError, match="mask_ratio"):
        _method(mask_ratio=1.0)


def _ddp_method() -> Data2Vec:
    # every rank draws its samples' rows of the single process's mask draw
    data2vec_module.padded_token_mask = rows_of_global_draw(padded_token_mask)
    torch.manual_seed(0)
    return _method(mask_noise_std=0.0).double()


@pytest.mark.distributed
def test_one_step_on_two_processes_equals_one(monkeypatch) -> None:
    monkeypatch.setattr(data2vec_module, "padded_token_mask", padded_token_mask)
    result = check_step_equivalence(StepCase("data2vec", _ddp_method, _batch))
    assert result.loss_error < 1e-10
    assert result.param_error < 1e-10
