"""Tests for selfsup.methods.token_contrastive and selfsup.encoders.tokenizers."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from selfsup.encoders import TransformerTrunk, VectorTokenizer
from selfsup.experiment import MalformedBatchError, SSLModule, Task
from selfsup.methods import TokenContrastive
from selfsup.testing.boring import BoringDataModule


def test_vector_tokenizer_patches_in_raster_order() -> None:
    tok = VectorTokenizer(in_dim=16, dim=3, image_shape=(4, 4), patch=(2, 2)).double()
    x = torch.arange(16, dtype=torch.float64).view(1, 16)
    image = x.view(4, 4)
    expected = []
    for i in range(2):
        for j in range(2):
            patch = image[2 * i : 2 * i + 2, 2 * j : 2 * j + 2].reshape(4)
            expected.append(tok.embed.weight @ patch + tok.embed.bias)
    ref = torch.stack(expected) + tok.position
    torch.testing.assert_close(tok(x)[0], ref)
    plain = VectorTokenizer(in_dim=12, dim=2, num_tokens=3)
    assert plain(torch.randn(5, 12)).shape == (5, 3, 2)
    with pytest.raises(ValueError, match="must divide in_dim"):
        VectorTokenizer(in_dim=10, dim=2, num_tokens=3)
    with pytest.raises(ValueError, match="go together"):
        VectorTokenizer(in_dim=16, dim=2, image_shape=(4, 4))
    with pytest.raises(ValueError, match=r"expected \(B, 12\)"):
        plain(torch.randn(2, 11))


def _method(trunk: nn.Module | None = None) -> TokenContrastive:
    return TokenContrastive(
        VectorTokenizer(in_dim=16, dim=8, num_tokens=4),
        trunk or TransformerTrunk(dim=8, depth=1, num_heads=2),
        dim=8,
        proj_dim=4,
        keep_ratio=0.5,
        temperature=0.5,
    )


def _nt_xent_reference(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> torch.Tensor:
    z = torch.cat([z1, z2]).double()
    z = z / z.norm(dim=1, keepdim=True)
    n = z1.shape[0]
    total = 0.0
    for a in range(2 * n):
        positive = (a + n) % (2 * n)
        logits = [z[a] @ z[b] / tau for b in range(2 * n) if b != a]
        total = total - (z[a] @ z[positive] / tau - torch.logsumexp(torch.stack(logits), 0))
    return total / (2 * n)


def test_loss_is_nt_xent_of_two_token_subsets() -> None:
    method = _method()
    x = torch.randn(6, 16)
    torch.manual_seed(3)
    loss = method.training_losses((x, torch.zeros(6)))["loss"]
    torch.manual_seed(3)  # replay the two views' masks
    tokens = method.tokenizer(x)
    views = []
    for _ in range(2):
        order = torch.rand(6, 4).argsort(dim=1)  # the same draw random_token_mask makes
        kept = torch.stack([tokens[i, order[i, :2].sort().values] for i in range(6)])
        views.append(method.projector(method.trunk(kept).mean(dim=1)))
    ref = _nt_xent_reference(views[0], views[1], 0.5)
    torch.testing.assert_close(loss.double(), ref, rtol=1e-5, atol=1e-6)
    assert math.isfinite(loss.item())


def test_embed_uses_every_token_and_drops_labels_from_dicts() -> None:
    method = _method().eval()
    x = torch.randn(3, 16)
    expected = method.trunk(method.tokenizer(x)).mean(dim=1)
    torch.testing.assert_close(method.embed(x), expected)

    class DictTokenizer(nn.Module):
        def forward(self, batch):
            assert "y" not in batch
            return torch.zeros(len(batch["x"]), 2, 8)

    dict_method = TokenContrastive(DictTokenizer(), TransformerTrunk(8, depth=1, num_heads=2), 8)
    assert dict_method.embed({"x": [1, 2], "y": [0, 1]}).shape == (2, 8)
    with pytest.raises(MalformedBatchError, match=r"\(B, L, 8\) tokens"):
        TokenContrastive(nn.Identity(), nn.Identity(), dim=8).training_losses(torch.randn(2, 8))
    with pytest.raises(ValueError, match="keep_ratio"):
        TokenContrastive(nn.Identity(), nn.Identity(), dim=8, keep_ratio=0.0)


def test_two_tasks_share_one_trunk() -> None:
    shared = TransformerTrunk(dim=8, depth=1, num_heads=2)
    tasks = [
        Task(name, _method(), BoringDataModule(dim=16, seed=seed), share={"trunk": "trunk"})
        for seed, name in enumerate(("first", "second"))
    ]
    module = SSLModule(tasks, shared={"trunk": shared})
    assert tasks[0].method.trunk is shared and tasks[1].method.trunk is shared
    optimizer = module.configure_optimizers()
    params = [p for group in optimizer.param_groups for p in group["params"]]
    assert sum(p is shared.blocks[0].qkv.weight for p in params) == 1  # optimised once
    batch = {t.name: next(iter(t.data.train_dataloader())) for t in tasks}
    module.log = lambda *args, **kwargs: None  # no trainer attached
    before = shared.blocks[0].qkv.weight.detach().clone()
    module.training_step(batch, 0).backward()
    grads = [p.grad for p in shared.parameters()]
    assert all(g is not None for g in grads)
    optimizer.step()
    assert not torch.equal(before, shared.blocks[0].qkv.weight)


class _PaddedTokenizer(nn.Module):
    """Variable-length inputs: ``{"x": (B, L, 8), "lengths": (B,)}`` -> tokens and padding."""

    def forward(self, batch):
        x, lengths = batch["x"], batch["lengths"]
        padding = torch.arange(x.shape[1])[None, :] >= lengths[:, None]
        return x, padding


def test_padded_tokens_never_reach_attention_or_the_means() -> None:
    method = TokenContrastive(
        _PaddedTokenizer(), TransformerTrunk(8, depth=1, num_heads=2), dim=8, keep_ratio=0.5
    ).eval()
    x = torch.randn(3, 6, 8)
    lengths = torch.tensor([6, 4, 2])
    junk = x.clone()
    junk[1, 4:] = 1e6  # padded positions hold garbage
    junk[2, 2:] = -1e6
    clean = method.embed({"x": x, "lengths": lengths})
    assert torch.allclose(method.embed({"x": junk, "lengths": lengths}), clean)
    # each row's embedding is the trunk's mean over its real tokens only
    for b, n in enumerate(lengths.tolist()):
        alone = method.trunk(x[b : b + 1, :n]).mean(dim=1)
        torch.testing.assert_close(clean[b : b + 1], alone, rtol=1e-5, atol=1e-6)
    torch.manual_seed(0)
    loss = method.train().training_losses({"x": junk, "lengths": lengths})["loss"]
    torch.manual_seed(0)
    assert torch.allclose(loss, method.training_losses({"x": x, "lengths": lengths})["loss"])
    assert math.isfinite(loss.item())
    with pytest.raises(MalformedBatchError, match="padding mask must be bool"):
        TokenContrastive(
            lambda b: (torch.zeros(2, 3, 8), torch.zeros(2, 3)), nn.Identity(), dim=8
        ).embed(torch.zeros(1))
