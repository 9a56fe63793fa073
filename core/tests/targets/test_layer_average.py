"""layer_average_targets: data2vec's top-K instance-normalised average, against float64 loops."""

from __future__ import annotations

import pytest
import torch

from selfsup.targets import instance_norm_tokens, layer_average_targets


def _reference(layers, k, padding, instance_norm, layer_norm):
    b, length, c = layers[0].shape
    out = torch.zeros(b, length, c, dtype=torch.float64)
    for layer in layers[-k:]:
        for i in range(b):
            real = [t for t in range(length) if padding is None or not bool(padding[i, t])]
            for ch in range(c):
                values = torch.stack([layer[i, t, ch] for t in real])
                mean = values.sum() / len(real)
                var = ((values - mean) ** 2).sum() / len(real)
                for t in real:
                    x = layer[i, t, ch]
                    out[i, t, ch] += (x - mean) / torch.sqrt(var + 1e-5) if instance_norm else x
    out = out / k
    if layer_norm:
        for i in range(b):
            for t in range(length):
                v = out[i, t]
                out[i, t] = (v - v.mean()) / torch.sqrt(((v - v.mean()) ** 2).mean() + 1e-5)
    if padding is not None:
        out[padding] = 0.0
    return out


@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize(("k", "instance_norm", "layer_norm"), [(2, True, False), (3, True, True),
                                                                 (1, False, False)])  # fmt: skip
def test_matches_the_reference(padded: bool, k: int, instance_norm: bool, layer_norm: bool) -> None:
    gen = torch.Generator().manual_seed(0)
    layers = [torch.randn(3, 5, 4, generator=gen, dtype=torch.float64) * (i + 1) for i in range(3)]
    padding = None
    if padded:
        padding = torch.zeros(3, 5, dtype=torch.bool)
        padding[0, 3:] = True
        padding[2, 1:] = True  # one real token: zero variance, the eps keeps it finite
    got = layer_average_targets(
        layers, k, padding_mask=padding, instance_norm=instance_norm, layer_norm=layer_norm
    )
    want = _reference(layers, k, padding, instance_norm, layer_norm)
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, want, rtol=0, atol=1e-10)


def test_no_gradient_reaches_the_teacher_and_padding_does_not_move_the_statistics() -> None:
    x = torch.randn(2, 6, 3, requires_grad=True)
    target = layer_average_targets([x, x * 2])
    assert not target.requires_grad
    padding = torch.zeros(2, 6, dtype=torch.bool)
    padding[:, 4:] = True
    changed = x.detach().clone()
    changed[:, 4:] = 1e6  # garbage in padded slots changes nothing on real tokens
    torch.testing.assert_close(
        instance_norm_tokens(changed, padding), instance_norm_tokens(x.detach(), padding)
    )
    unpadded = instance_norm_tokens(x.detach()[:, :4])
    torch.testing.assert_close(instance_norm_tokens(x.detach(), padding)[:, :4], unpadded)


def test_bad_arguments_are_refused() -> None:
    layers = [torch.randn(2, 3, 4)] * 2
    with pytest.raises(ValueError, match=r"top_k must be in \[1, 2\]"):
        layer_average_targets(layers, 3)
    with pytest.raises(ValueError, match="at least one layer"):
        layer_average_targets([])
    with pytest.raises(ValueError, match="one \\(B, L, C\\) shape"):
        layer_average_targets([torch.randn(2, 3, 4), torch.randn(2, 3, 5)])
