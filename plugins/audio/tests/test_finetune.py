"""Fine-tuning: layer-wise learning rates, the loss and its gradient against float64 formulas."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from selfsup.experiment.method import MalformedBatchError
from selfsup_audio.encoders import AudioEncoder
from selfsup_audio.methods import BEATs, BEATsFineTuning


def batch(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    fbank = torch.randn(4, 24, 32, generator=g) * 0.5
    mask = torch.zeros(4, 24, dtype=torch.bool)
    mask[1, 14:] = True
    mask[2, 3:] = True  # shorter than one 4-frame patch: one partial patch
    return {"fbank": fbank, "padding_mask": mask, "label": torch.tensor([0, 2, 1, 2])}


def small(**kwargs: object) -> BEATsFineTuning:
    args = {"num_classes": 3, "patch": (4, 16), "num_mel_bins": 32, **kwargs}
    return BEATsFineTuning(**args)  # type: ignore[arg-type]


def expected_layer(name: str, depth: int) -> int:
    """BEiT's convention written out for our names (pre-LN encoder)."""
    if name.startswith(("classifier.encoder.patch_embed.", "classifier.encoder.transformer.pos")):
        return 0
    if name.startswith("classifier.encoder.transformer.layers."):
        return int(name.split(".")[4]) + 1
    return depth + 1  # final LayerNorm, head


def test_param_groups_decay_every_layer() -> None:
    method = small()
    depth = method.encoder.config["depth"]
    groups = method.param_groups(lr=1e-3, weight_decay=0.05)
    by_param = {id(p): g for g in groups for p in g["params"]}
    for name, p in method.named_parameters():
        g = by_param[id(p)]
        layer = expected_layer(name, depth)
        assert g["layer_id"] == layer, name
        assert math.isclose(g["lr"], 1e-3 * 0.6 ** (depth + 1 - layer), rel_tol=1e-15)
        assert g["weight_decay"] == (0.0 if p.ndim <= 1 else 0.05), name
    assert {g["layer_id"] for g in groups} == set(range(depth + 2))


def test_post_ln_official_layout_ids(tmp_path) -> None:
    """BEATs' post-LN input LayerNorm belongs to the embeddings; the shared relative bias to
    the top (BEiT: shared rel_pos_bias at full rate)."""
    enc = AudioEncoder(
        "tiny",
        depth=3,
        patch=(4, 16),
        norm_first=False,
        deep_norm=True,
        conv_positions=True,
        conv_kernel=8,
        relative_positions=True,
        num_buckets=16,
        max_distance=12,
        gated_relative_positions=True,
    )
    torch.save({f"encoder.{k}": v for k, v in enc.state_dict().items()}, tmp_path / "enc.pt")
    method = small(checkpoint=str(tmp_path / "enc.pt"))
    assert method.encoder.config == enc.config
    depth = method.encoder.config["depth"]
    assert method.layer_id("classifier.encoder.transformer.layer_norm.weight") == 0
    assert method.layer_id("classifier.encoder.transformer.pos_conv.conv.bias") == 0
    rel = "classifier.encoder.transformer.relative_position_bias.embedding.weight"
    assert method.layer_id(rel) == depth + 1
    assert method.layer_id("classifier.encoder.transformer.layers.2.grep_a") == 3


def test_loss_and_head_gradient_match_float64_formulas() -> None:
    torch.manual_seed(0)
    method = small().double().eval()  # eval: no SpecAugment, no dropout
    b = batch()
    b["fbank"] = b["fbank"].double()
    out = method.training_losses(b)
    out["loss"].backward()
    with torch.no_grad():  # the method zeroes padded frames (the normalised mean) first
        clean = b["fbank"].masked_fill(b["padding_mask"][..., None], 0.0)
        h, pad = method.encoder(clean, b["padding_mask"])
    w, bias = method.classifier.head.weight.detach(), method.classifier.head.bias.detach()
    logits, pooled = [], []
    for i in range(4):
        real = h[i][~pad[i]]
        pooled.append(real.mean(0))
        logits.append(torch.stack([w @ t + bias for t in real]).mean(0))
    logits_t, pooled_t = torch.stack(logits), torch.stack(pooled)
    y = b["label"]
    log_p = logits_t - torch.logsumexp(logits_t, dim=1, keepdim=True)
    loss = -log_p[torch.arange(4), y].mean()
    torch.testing.assert_close(out["loss"].detach(), loss, rtol=1e-12, atol=1e-12)
    # dL/dW = (1/B) sum_b (softmax_b - onehot_b) pooled_b^T
    delta = (log_p.exp() - F.one_hot(y, 3).double()) / 4
    torch.testing.assert_close(method.classifier.head.weight.grad, delta.T @ pooled_t)
    assert float(out["accuracy"]) == float((logits_t.argmax(1) == y).float().mean())


def test_training_mode_augments_and_mixup_trains() -> None:
    torch.manual_seed(0)
    method = small(dropout=0.0, freq_width=16, time_width=4)
    b = batch()
    eval_loss = method.eval().training_losses(b)["loss"]
    torch.manual_seed(1)
    train_loss = method.train().training_losses(b)["loss"]
    assert not torch.allclose(eval_loss, train_loss)  # SpecAugment changed the inputs
    mixed = small(mixup_alpha=0.4).train().training_losses(b)
    assert torch.isfinite(mixed["loss"]) and 0.0 <= float(mixed["accuracy"]) <= 1.0
    mixed["loss"].backward()


def test_fine_tunes_a_beats_iteration_checkpoint(tmp_path) -> None:
    ssl = BEATs(patch=(4, 16), num_mel_bins=32, codebook_size=16, code_dim=8, depth=1)
    torch.save(ssl.state_dict(), tmp_path / "iter1.pt")
    method = small(checkpoint=str(tmp_path / "iter1.pt"))
    for key, value in ssl.encoder.state_dict().items():
        if not key.endswith("_extra_state"):
            assert torch.equal(method.encoder.state_dict()[key], value)
    # no duplicated encoder keys in the fine-tuning state dict
    assert not any(k.startswith("encoder.") for k in method.state_dict())


def test_sslmodule_applies_the_layer_decay_to_any_optimizer() -> None:
    from selfsup.experiment import SSLModule, Task
    from selfsup.testing.boring import BoringDataModule, BoringMethod

    method = small()
    module = SSLModule(
        [Task("ft", method, BoringDataModule()), Task("other", BoringMethod(), BoringDataModule())],
        optimizer=lambda groups: torch.optim.AdamW(groups, lr=1e-3, weight_decay=0.02),
    )
    opt = module.configure_optimizers()
    depth = method.encoder.config["depth"]
    own = {id(p) for p in method.parameters()}
    seen = 0
    for g in opt.param_groups:
        for p in g["params"]:
            seen += 1
            if id(p) in own:
                assert math.isclose(g["lr"], 1e-3 * 0.6 ** (depth + 1 - g["layer_id"]))
                assert g["weight_decay"] == (0.0 if p.ndim <= 1 else 0.02)
            else:
                assert g["lr"] == 1e-3 and "lr_scale" not in g
    assert seen == sum(1 for p in module.parameters() if p.requires_grad)


def test_bad_arguments_and_batches() -> None:
    with pytest.raises(ValueError, match="layer_decay"):
        small(layer_decay=0.0)
    with pytest.raises(ValueError, match="mixup_alpha"):
        small(mixup_alpha=-1.0)
    method = small()
    b = batch()
    with pytest.raises(MalformedBatchError, match="needs labels"):
        method.training_losses({"fbank": b["fbank"], "padding_mask": b["padding_mask"]})
    with pytest.raises(MalformedBatchError, match="3 labels for 4 clips"):
        method.training_losses(dict(b, label=torch.tensor([0, 1, 2])))
