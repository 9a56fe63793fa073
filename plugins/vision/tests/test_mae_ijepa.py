"""MAE (patch targets, random and GMML group masks) and I-JEPA against explicit references."""

from __future__ import annotations

import pytest
import torch

from selfsup.masking import gather_tokens, restore_tokens
from selfsup_vision.encoders import ViTEncoder
from selfsup_vision.methods import IJEPA, MAE
from selfsup_vision.patches import patchify, pixel_targets, token_mask_from_bool, unpatchify


def _vit(size: int = 8, patch: int = 2) -> ViTEncoder:
    return ViTEncoder(image_size=size, patch_size=patch, hidden_size=16, num_layers=1, num_heads=2)


def test_patchify_layout_matches_loops() -> None:
    x = torch.rand(2, 3, 4, 6, dtype=torch.float64)
    p = 2
    out = patchify(x, p)
    assert out.shape == (2, 6, 12)
    for b in range(2):
        for i in range(2):
            for j in range(3):
                want = [
                    x[b, c, i * p + u, j * p + v]
                    for u in range(p)
                    for v in range(p)
                    for c in range(3)
                ]
                torch.testing.assert_close(out[b, i * 3 + j], torch.stack(want))
    torch.testing.assert_close(unpatchify(out, p, 3, (2, 3)), x)
    with pytest.raises(ValueError, match="does not divide"):
        patchify(x, 4)


def test_pixel_targets_are_normalised_per_patch_with_unbiased_variance() -> None:
    x = torch.rand(2, 3, 4, 4, dtype=torch.float64)
    t = pixel_targets(x, 2)
    raw = patchify(x, 2)
    for b in range(2):
        for k in range(4):
            vals = raw[b, k].tolist()
            n = len(vals)
            mean = sum(vals) / n
            var = sum((v - mean) ** 2 for v in vals) / (n - 1)
            want = torch.tensor(
                [(v - mean) / (var + 1e-6) ** 0.5 for v in vals], dtype=torch.float64
            )
            torch.testing.assert_close(t[b, k], want)
    torch.testing.assert_close(pixel_targets(x, 2, normalize=False), raw)


def test_token_mask_from_bool_indices_and_restore() -> None:
    mask = torch.tensor([[True, False, True, False, False], [False, False, True, True, False]])
    m = token_mask_from_bool(mask)
    assert m.keep_idx.tolist() == [[1, 3, 4], [0, 1, 4]]
    assert m.mask_idx.tolist() == [[0, 2], [2, 3]]
    x = torch.rand(2, 5, 3)
    shuffled = torch.cat([gather_tokens(x, m.keep_idx), gather_tokens(x, m.mask_idx)], 1)
    torch.testing.assert_close(restore_tokens(shuffled, m.restore_idx), x)
    with pytest.raises(ValueError, match="same number"):
        token_mask_from_bool(torch.tensor([[True, False], [True, True]]))


def _components(row: torch.Tensor, grid: tuple[int, int]) -> int:
    """4-connected components of the masked cells (explicit flood fill)."""
    h, w = grid
    cells = {(i, j) for i in range(h) for j in range(w) if row[i * w + j]}
    seen, count = set(), 0
    for start in cells:
        if start in seen:
            continue
        count += 1
        stack = [start]
        while stack:
            i, j = stack.pop()
            if (i, j) in seen:
                continue
            seen.add((i, j))
            stack += [c for c in ((i + 1, j), (i - 1, j), (i, j + 1), (i, j - 1)) if c in cells]
    return count


def test_gmml_group_masks_are_exact_and_grouped() -> None:
    method = MAE(
        _vit(16, 2),
        masking="group",
        mask_ratio=0.5,
        group_min_block=4,
        decoder_dim=8,
        decoder_layers=1,
        decoder_heads=2,
    )
    torch.manual_seed(0)
    group = method.draw_mask(16, torch.device("cpu"))
    method.masking = "random"
    torch.manual_seed(0)
    rand = method.draw_mask(16, torch.device("cpu"))
    assert (group.mask.sum(1) == 32).all() and (rand.mask.sum(1) == 32).all()
    n_group = sum(_components(r, (8, 8)) for r in group.mask) / 16
    n_rand = sum(_components(r, (8, 8)) for r in rand.mask) / 16
    assert n_group < n_rand / 2  # groups of adjacent patches, not scattered ones


def test_mae_loss_is_masked_mse_on_normalised_patches(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    method = MAE(_vit(), decoder_dim=8, decoder_layers=1, decoder_heads=2, crop_scale_min=1.0)
    method.augment.flip_prob = 0.0
    method.augment.crop_log_ratio = (0.0, 0.0)
    x = torch.rand(2, 3, 8, 8, dtype=torch.float32)
    torch.manual_seed(1)
    m = method.draw_mask(2, x.device)
    monkeypatch.setattr(method, "draw_mask", lambda b, d: m)
    loss = method.training_losses(x)["loss"]
    pred = method.decoder(method.encoder.tokens(x, keep_idx=m.keep_idx), m.restore_idx)
    target = pixel_targets(x, 2)
    per_patch = ((pred - target) ** 2).mean(-1)
    want = per_patch[m.mask].sum() / m.mask.sum()
    torch.testing.assert_close(loss, want, atol=1e-5, rtol=1e-4)


def test_mae_rejects_bad_configuration() -> None:
    with pytest.raises(ValueError, match="masking"):
        MAE(_vit(), masking="blocks")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ViTEncoder"):
        MAE(torch.nn.Linear(2, 2))


def test_ijepa_predictor_ignores_padded_context() -> None:
    method = IJEPA(_vit(), predictor_dim=8, predictor_layers=1, predictor_heads=2).eval()
    ctx = torch.randn(1, 4, 16)
    idx = torch.tensor([[0, 3, 5, 7]])
    tgt = torch.tensor([[[9, 10]]])
    with torch.no_grad():
        padded = method.predictor(ctx, idx, tgt, torch.tensor([[False, False, True, True]]))
        short = method.predictor(ctx[:, :2], idx[:, :2], tgt, torch.tensor([[False, False]]))
    torch.testing.assert_close(padded, short, atol=1e-5, rtol=1e-5)


def test_ijepa_targets_are_layer_normed_ema_tokens_and_embed_uses_the_target() -> None:
    method = IJEPA(_vit(), predictor_dim=8, predictor_layers=1, predictor_heads=2).eval()
    x = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        t = method.target_tokens(x)
        raw = method.target.teacher.tokens(x)[:, 1:]
        torch.testing.assert_close(t.mean(-1), torch.zeros(2, 16), atol=1e-5, rtol=0)
        torch.testing.assert_close(method.embed(x), raw.mean(1))
    method.train()
    out = method.training_losses(x)
    assert out["loss"].requires_grad and float(out["context_tokens"]) >= 4
    assert not any(p.requires_grad for p in method.target.parameters())
