"""ConvDecoder: data2vec 2.0's convolution decoder, against a float64 loop reference."""

from __future__ import annotations

import pytest
import torch

from selfsup.encoders import ConvDecoder


def _reference(decoder: ConvDecoder, x: torch.Tensor, padding) -> torch.Tensor:
    b, length, _ = x.shape
    h = x
    for i, conv in enumerate(decoder.convs):
        inp = h if padding is None else h * (~padding).unsqueeze(-1).double()
        k = conv.kernel_size[0]
        pad = k // 2
        out = torch.zeros(b, length, conv.out_channels, dtype=torch.float64)
        for t in range(length):
            for j in range(k):
                s = t + j - pad
                if 0 <= s < length:
                    out[:, t] += inp[:, s] @ conv.weight[:, :, j].T
            out[:, t] += conv.bias
        mean = out.mean(-1, keepdim=True)
        var = ((out - mean) ** 2).mean(-1, keepdim=True)
        out = torch.nn.functional.gelu((out - mean) / torch.sqrt(var + 1e-5))
        h = out + h if i > 0 else out
    return h @ decoder.proj.weight.T + decoder.proj.bias


@pytest.mark.parametrize("padded", [False, True])
def test_matches_the_reference_with_gradients(padded: bool) -> None:
    torch.manual_seed(0)
    decoder = ConvDecoder(6, hidden_dim=8, depth=3, kernel_size=3).double()
    x = torch.randn(2, 7, 6, dtype=torch.float64, requires_grad=True)
    padding = None
    if padded:
        padding = torch.zeros(2, 7, dtype=torch.bool)
        padding[1, 4:] = True
    got = decoder(x, padding)
    want = _reference(decoder, x, padding)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-10)
    weights = torch.randn_like(got)
    (g,) = torch.autograd.grad((got * weights).sum(), x)
    (w,) = torch.autograd.grad((want * weights).sum(), x)
    torch.testing.assert_close(g, w, rtol=0, atol=1e-10)
    if padded:
        changed = x.detach().clone()
        changed[1, 4:] = 100.0  # padding never reaches a real token through the kernel
        torch.testing.assert_close(decoder(changed, padding)[1, :4], got.detach()[1, :4])


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="odd kernel_size"):
        ConvDecoder(8, kernel_size=4)
    with pytest.raises(ValueError, match="groups"):
        ConvDecoder(8, groups=3)
