"""Augmentations, the fine-tuning head, probes and official BEATs checkpoint conversion."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from selfsup_audio.augment import mixup, spec_augment
from selfsup_audio.encoders import AudioEncoder
from selfsup_audio.evaluation.downstream import AudioClassifier, probe_embeddings
from selfsup_audio.interop import convert_official_state_dict, load_official_beats
from selfsup_audio.methods import BEATs


def padded(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(3, 40, 32, generator=g) + 5.0
    mask = torch.zeros(3, 40, dtype=torch.bool)
    mask[1, 25:] = True
    mask[2, 6:] = True
    return x.masked_fill(mask[..., None], 0.0), mask


def test_spec_augment_masks_bands_inside_real_frames() -> None:
    x, mask = padded()
    y = spec_augment(
        x,
        mask,
        freq_masks=1,
        freq_width=5,
        time_masks=1,
        time_width=4,
        generator=torch.Generator().manual_seed(0),
    )
    hit = (y == 0) & (x != 0)
    assert not bool(hit[mask].any())  # padding untouched (and already 0)
    for b in range(3):
        cols = hit[b].all(0).nonzero().flatten().tolist()  # fully masked mel bins
        assert (
            len(cols) <= 5 and cols == list(range(cols[0], cols[0] + len(cols))) if cols else True
        )
    assert torch.equal(x, padded()[0])  # out of place


def test_mixup_matches_formula() -> None:
    x, mask = padded()
    y = F.one_hot(torch.tensor([0, 1, 2]), 3).float()
    torch.manual_seed(0)
    mx, my, mm = mixup(x, y, mask, alpha=0.5)
    torch.manual_seed(0)
    lam = float(torch.distributions.Beta(torch.tensor(0.5), torch.tensor(0.5)).sample())
    perm = torch.randperm(3)
    torch.testing.assert_close(mx, lam * x + (1 - lam) * x[perm])
    torch.testing.assert_close(my, lam * y + (1 - lam) * y[perm])
    assert torch.equal(mm, mask & mask[perm])
    with pytest.raises(ValueError, match="one_hot"):
        mixup(x, torch.tensor([0, 1, 2]), mask)


def test_classifier_head_is_mean_of_per_patch_logits() -> None:
    torch.manual_seed(0)
    clf = AudioClassifier(
        num_classes=4, encoder=AudioEncoder("tiny", patch=(8, 16)), num_mel_bins=32
    ).eval()
    x, mask = padded()
    logits = clf({"fbank": x, "padding_mask": mask})
    h, pad = clf.encoder(x, mask)
    per_patch = clf.head(h).double()
    ref = torch.stack([per_patch[i][~pad[i]].mean(0) for i in range(3)])
    torch.testing.assert_close(logits.double(), ref, atol=1e-6, rtol=1e-6)
    ce = clf.loss(logits, torch.tensor([0, 1, 2]))
    torch.testing.assert_close(ce, F.cross_entropy(logits, torch.tensor([0, 1, 2])))
    soft = F.one_hot(torch.tensor([0, 1, 2]), 4).float()
    torch.testing.assert_close(clf.loss(logits, soft), ce)
    clf.multi_label = True
    torch.testing.assert_close(
        clf.loss(logits, soft), F.binary_cross_entropy_with_logits(logits, soft)
    )


def test_classifier_from_a_beats_checkpoint(tmp_path) -> None:
    method = BEATs(patch=(8, 16), num_mel_bins=32, codebook_size=8, code_dim=4, depth=1)
    path = tmp_path / "m.ckpt"
    torch.save(
        {"state_dict": {f"tasks.a.method.{k}": v for k, v in method.state_dict().items()}}, path
    )
    clf = AudioClassifier(num_classes=3, checkpoint=str(path), num_mel_bins=32)
    assert torch.equal(clf.encoder.patch_embed.proj.weight, method.encoder.patch_embed.proj.weight)


def test_probe_embeddings_uses_frozen_features() -> None:
    torch.manual_seed(0)
    method = BEATs(patch=(8, 16), num_mel_bins=32, codebook_size=8, code_dim=4, depth=1)
    x, mask = padded()
    loader = [({"fbank": x, "padding_mask": mask}, torch.tensor([0, 1, 0]))] * 2
    result = probe_embeddings(method, loader, loader[:1])
    assert 0.0 <= result.accuracy <= 1.0 and result.weight.shape == (2, method.encoder.dim)


def official_state(
    layers: int = 2, dim: int = 64, conv: int = 32, ffn: int = 96, classes: int = 5
) -> dict[str, torch.Tensor]:
    """A synthetic state dict with the names and shapes of microsoft/unilm BEATs.py."""
    g = torch.Generator().manual_seed(0)

    def r(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * 0.02

    s = {
        "patch_embedding.weight": r(conv, 1, 16, 16),
        "layer_norm.weight": 1 + r(conv),
        "layer_norm.bias": r(conv),
        "post_extract_proj.weight": r(dim, conv),
        "post_extract_proj.bias": r(dim),
        "encoder.pos_conv.0.bias": r(dim),
        "encoder.pos_conv.0.weight_g": 1 + r(1, 1, 128),
        "encoder.pos_conv.0.weight_v": r(dim, dim // 16, 128),
        "encoder.layer_norm.weight": 1 + r(dim),
        "encoder.layer_norm.bias": r(dim),
        "predictor.weight": r(classes, dim),
        "predictor.bias": r(classes),
    }
    for i in range(layers):
        p = f"encoder.layers.{i}."
        for n in ("q", "k", "v", "out"):
            s[p + f"self_attn.{n}_proj.weight"] = r(dim, dim)
            s[p + f"self_attn.{n}_proj.bias"] = r(dim)
        for n in ("self_attn_layer_norm", "final_layer_norm"):
            s[p + f"{n}.weight"] = 1 + r(dim)
            s[p + f"{n}.bias"] = r(dim)
        s[p + "fc1.weight"], s[p + "fc1.bias"] = r(ffn, dim), r(ffn)
        s[p + "fc2.weight"], s[p + "fc2.bias"] = r(dim, ffn), r(dim)
        if i == 0:  # the shared relative position bias lives in layer 0
            s[p + "self_attn.relative_attention_bias.weight"] = r(320, 4)
        s[p + "self_attn.grep_linear.weight"], s[p + "self_attn.grep_linear.bias"] = r(8, 16), r(8)
        s[p + "self_attn.grep_a"] = r(1, 4, 1, 1)
    return s


def test_official_checkpoint_maps_every_weight(tmp_path) -> None:
    state = official_state()
    cfg = {"encoder_attention_heads": 4, "deep_norm": True, "layer_norm_first": False}
    torch.save({"cfg": cfg, "model": state}, tmp_path / "BEATs_iter3.pt")
    conv = load_official_beats(str(tmp_path / "BEATs_iter3.pt"))
    enc = conv.encoder
    assert enc.config["depth"] == 2 and enc.config["heads"] == 4 and enc.patch == (16, 16)
    assert not enc.config["sincos_positions"] and not enc.config["norm_first"]
    ours = enc.state_dict()
    assert torch.equal(ours["patch_embed.conv.weight"], state["patch_embedding.weight"])
    assert torch.equal(
        ours["transformer.layers.1.fc2.weight"], state["encoder.layers.1.fc2.weight"]
    )
    assert torch.equal(
        ours["transformer.pos_conv.conv.parametrizations.weight.original1"],
        state["encoder.pos_conv.0.weight_v"],
    )
    # weight norm: w = g * v / ||v|| over every dim but 2
    v, g_ = state["encoder.pos_conv.0.weight_v"], state["encoder.pos_conv.0.weight_g"]
    expected = g_ * v / v.norm(dim=(0, 1), keepdim=True)
    torch.testing.assert_close(enc.transformer.pos_conv.conv.weight, expected)
    assert conv.head is not None and conv.head.weight.shape == (5, 64)
    assert conv.unmapped == [] and enc.config["gated_relative_positions"]
    y, pad = enc(torch.randn(1, 32, 128))
    assert y.shape == (1, 16, 64) and bool(torch.isfinite(y).all())
    clf = AudioClassifier(num_classes=5, checkpoint=str(tmp_path / "BEATs_iter3.pt"))
    assert clf.encoder.config == enc.config


def test_official_conversion_rejects_wrong_files() -> None:
    with pytest.raises(KeyError, match="patch_embedding"):
        convert_official_state_dict({"encoder.weight": torch.zeros(1)})
    state = official_state()
    state["encoder.layers.0.fc1.weight"] = torch.zeros(96, 63)
    with pytest.raises(ValueError, match="shape mismatch"):
        convert_official_state_dict(state, {"encoder_attention_heads": 4})
