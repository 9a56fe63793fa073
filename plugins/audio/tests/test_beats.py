"""BEATs masked label prediction, tokenizer distillation and checkpoint chaining."""

from __future__ import annotations

import math

import pytest
import torch

from selfsup.experiment.method import MalformedBatchError
from selfsup.masking import padded_token_mask
from selfsup_audio.methods import BEATs, BEATsTokenizerTraining
from selfsup_audio.methods.beats import masked_mean

SMALL = {"patch": (4, 16), "num_mel_bins": 32, "codebook_size": 16, "code_dim": 8}


def batch(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    fbank = torch.randn(3, 16, 32, generator=g) * 0.5
    mask = torch.zeros(3, 16, dtype=torch.bool)
    mask[1, 9:] = True  # 3 time patches (the last one partial)
    mask[2, 2:] = True  # 1 time patch
    return {"fbank": fbank, "padding_mask": mask}


def test_loss_is_cross_entropy_on_masked_real_patches_float64() -> None:
    torch.manual_seed(0)
    method = BEATs(**SMALL, label_smoothing=0.1).double().train()
    b = {"fbank": batch()["fbank"].double(), "padding_mask": batch()["padding_mask"]}
    torch.manual_seed(7)
    loss = method.training_losses(b)["loss"]

    torch.manual_seed(7)
    fbank = b["fbank"].masked_fill(b["padding_mask"][..., None], 0.0)  # padding = the mean
    labels = method.tokenizer(fbank, b["padding_mask"])
    tokens, pad = method.encoder.embed_patches(fbank, b["padding_mask"])
    m = padded_token_mask(pad, 0.75)
    visible = torch.stack([tokens[i, m.keep_idx[i]] for i in range(3)])
    hidden = method.predictor(
        method.encoder.encode(visible, m.keep_padding), m.keep_idx, m.keep_padding, (4, 2), pad
    )
    logits = method.predictor.head(hidden)
    total, count, eps = 0.0, 0, 0.1
    for i in range(3):
        for t in range(pad.shape[1]):
            if pad[i, t] or not m.mask[i, t]:
                continue
            logp = logits[i, t] - torch.logsumexp(logits[i, t], 0)
            k = logits.shape[-1]
            total += -(1 - eps) * float(logp[labels[i, t]].detach()) - eps / k * float(
                logp.sum().detach()
            )
            count += 1
    # 3 clips with 8, 6 (3 time patches x 2, last partial) and 2 real patches: 6 + 4 + 1 masked
    assert count == 11
    assert float(loss.detach()) == pytest.approx(total / count, rel=1e-9)


def test_padded_frames_and_unmasked_labels_do_not_change_the_loss() -> None:
    torch.manual_seed(0)
    method = BEATs(**SMALL).train()
    b = batch()
    torch.manual_seed(3)
    ref = method.training_losses(b)["loss"]
    junk = dict(b, fbank=b["fbank"].masked_fill(b["padding_mask"][..., None], 9.0))
    torch.manual_seed(3)
    torch.testing.assert_close(method.training_losses(junk)["loss"], ref)


def test_only_visible_patches_enter_the_encoder() -> None:
    method = BEATs(**SMALL).train()
    seen = []
    method.encoder.transformer.register_forward_hook(lambda m, i, o: seen.append(i[0].shape))
    method.training_losses(batch())
    # longest clip has 8 real patches -> 8 - floor(0.75 * 8) = 2 visible
    assert seen == [torch.Size([3, 2, method.encoder.dim])]


def test_single_patch_batch_gives_zero_finite_loss() -> None:
    method = BEATs(**SMALL)
    b = {"fbank": torch.randn(2, 4, 16) * 0.5}
    method = BEATs(patch=(4, 16), num_mel_bins=16, codebook_size=8, code_dim=4)
    out = method.training_losses(b)
    assert float(out["loss"].detach()) == 0.0 and float(out["masked"]) == 0.0


def test_embed_is_mean_over_real_patches_and_padding_invariant() -> None:
    torch.manual_seed(0)
    method = BEATs(**SMALL).eval()
    b = batch()
    with torch.no_grad():
        z = method.embed(b)
        x, pad = method.encode(b)
        alone = method.embed({"fbank": b["fbank"][2:, :2]})
    ref = torch.stack([x[i][~pad[i]].double().mean(0) for i in range(3)])
    torch.testing.assert_close(z.double(), ref, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(alone[0], z[2], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(masked_mean(x, pad), z)


def lightning_file(path, method: torch.nn.Module) -> str:
    """A checkpoint laid out as `selfsup fit` writes it."""
    state = {f"tasks.digits.method.{k}": v for k, v in method.state_dict().items()}
    torch.save({"state_dict": state, "epoch": 1}, path)
    return str(path)


def test_iterations_chain_through_checkpoint_paths(tmp_path) -> None:
    torch.manual_seed(0)
    iter1 = BEATs(**SMALL, size="tiny", depth=1)
    p1 = lightning_file(tmp_path / "iter1.ckpt", iter1)
    tok = BEATsTokenizerTraining(
        teacher_checkpoint=p1, codebook_size=16, code_dim=8, num_mel_bins=32, estimator_depth=1
    )
    assert tok.patch == (4, 16)
    for k, v in iter1.encoder.state_dict().items():
        if isinstance(v, torch.Tensor):
            assert torch.equal(tok.teacher.state_dict()[k], v)
    tok.training_losses(batch())  # k-means init + one EMA step
    p2 = lightning_file(tmp_path / "tok.ckpt", tok)
    iter2 = BEATs(num_mel_bins=32, patch=(4, 16), tokenizer_checkpoint=p2, init_checkpoint=p1)
    b = batch()
    tok.eval()
    assert torch.equal(
        iter2.tokenizer(b["fbank"], b["padding_mask"]), tok.tokenizer(b["fbank"], b["padding_mask"])
    )
    assert torch.equal(iter2.encoder.patch_embed.conv.weight, iter1.encoder.patch_embed.conv.weight)
    assert not any(p.requires_grad for p in iter2.tokenizer.parameters())
    out = iter2.training_losses(b)
    assert math.isfinite(float(out["loss"].detach()))
    with pytest.raises(ValueError, match="patches"):
        BEATs(num_mel_bins=32, patch=(8, 16), tokenizer_checkpoint=p2)
    with pytest.raises(FileNotFoundError, match="selfsup fit"):
        BEATs(tokenizer_checkpoint=str(tmp_path / "missing.ckpt"))


def test_tokenizer_training_logs_codebook_usage() -> None:
    torch.manual_seed(0)
    method = BEATsTokenizerTraining(
        patch=(4, 16), num_mel_bins=32, codebook_size=8, code_dim=4, estimator_depth=1
    )
    out = method.training_losses(batch())
    assert 1.0 <= float(out["perplexity"]) <= 8.0 and 1 <= int(out["codes_used"]) <= 8
    assert 0.0 <= float(out["distill"]) <= 2.0
    assert not any(p.requires_grad for p in method.teacher.parameters())


def test_bad_constructor_arguments() -> None:
    with pytest.raises(ValueError, match="tokenizer must be"):
        BEATs(tokenizer="kmeans")
    with pytest.raises(ValueError, match="tokenizer_checkpoint"):
        BEATs(tokenizer="trained")
    with pytest.raises(ValueError, match="mask_ratio"):
        BEATs(mask_ratio=1.0)
    with pytest.raises(ValueError, match="multiple"):
        BEATs(num_mel_bins=40)


def test_all_padding_clip_is_rejected() -> None:
    b = batch()
    b["padding_mask"] = b["padding_mask"].clone()
    b["padding_mask"][0] = True
    with pytest.raises(MalformedBatchError, match="no real frame"):
        BEATs(**SMALL).training_losses(b)


def test_band_pooling_is_per_band_mean_over_real_time_patches() -> None:
    torch.manual_seed(0)
    method = BEATs(**SMALL, pooling="band").eval()
    b = batch()
    with torch.no_grad():
        z = method.embed(b)
        x, pad = method.encode(b)
    d = method.encoder.dim
    assert z.shape == (3, 2 * d)  # 32 mel bins / 16 = 2 bands
    for i in range(3):
        for f in range(2):
            rows = [x[i, t * 2 + f].double() for t in range(4) if not pad[i, t * 2 + f]]
            torch.testing.assert_close(
                z[i, f * d : (f + 1) * d].double(), sum(rows) / len(rows), atol=1e-6, rtol=1e-6
            )
    with pytest.raises(ValueError, match="pooling"):
        BEATs(pooling="max")


def test_layer_average_embedding_float64() -> None:
    """``embed_layers="mean"``: the mean over blocks of each block's output (the last one after
    the final LayerNorm) normalised without affine, then pooled; block outputs observed by
    hooks."""
    torch.manual_seed(0)
    method = BEATs(**SMALL, depth=3, embed_layers="mean").double().eval()
    b = batch()
    b["fbank"] = b["fbank"].double()
    seen: list[torch.Tensor] = []
    hooks = [
        blk.register_forward_hook(lambda _m, _i, out: seen.append(out))
        for blk in method.encoder.transformer.layers
    ]
    z = method.embed(b)
    for h in hooks:
        h.remove()
    final = method.encoder.transformer.layer_norm
    seen[-1] = final(seen[-1])
    normed = []
    for h in seen:
        mu = h.mean(-1, keepdim=True)
        var = ((h - mu) ** 2).mean(-1, keepdim=True)
        normed.append((h - mu) / torch.sqrt(var + 1e-5))
    _, pad = method.encode(b)
    expected = masked_mean(sum(normed) / 3, pad)
    torch.testing.assert_close(z, expected, rtol=1e-10, atol=1e-10)
    method.embed_layers = "last"
    assert not torch.allclose(method.embed(b), z)
    with pytest.raises(ValueError, match="embed_layers"):
        BEATs(**SMALL, embed_layers="all")
