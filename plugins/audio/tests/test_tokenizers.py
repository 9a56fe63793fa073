"""Iteration-1 tokenizers and the cosine EMA vector quantiser against float64 references."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from selfsup_audio.tokenizers import (
    AcousticTokenizer,
    BestRQTokenizer,
    NormEMAVectorQuantizer,
    RandomProjectionTokenizer,
)
from selfsup_audio.tokenizers.quantizer import spherical_kmeans


def fbank(b: int = 2, t: int = 8, f: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.randn(b, t, f, generator=torch.Generator().manual_seed(seed)) * 0.5


def test_random_projection_is_brute_force_nearest_code() -> None:
    tok = RandomProjectionTokenizer(patch=(4, 16), codebook_size=64, code_dim=8, seed=3)
    x = fbank()
    labels = tok(x)
    assert labels.shape == (2, 4)  # 2 time x 2 frequency patches
    w, v = tok.projection.double(), tok.codebook.double()
    for b in range(2):
        for t in range(2):
            for f in range(2):
                patch = x[b, 4 * t : 4 * t + 4, 16 * f : 16 * f + 16].double().reshape(-1)
                z = w @ patch
                z = (z - z.mean()) / torch.sqrt(z.var(unbiased=False) + 1e-5)
                dist = [float(((v[i] - z) ** 2).sum()) for i in range(64)]
                assert int(labels[b, t * 2 + f]) == min(range(64), key=dist.__getitem__)


def test_random_projection_without_layer_norm_is_the_paper_formula() -> None:
    tok = RandomProjectionTokenizer(patch=(8, 32), codebook_size=16, code_dim=4, layer_norm=False)
    x = fbank(1)
    z = tok.projection.double() @ x[0].double().reshape(-1)
    expected = int(((tok.codebook.double() - z) ** 2).sum(1).argmin())
    assert tok(x).tolist() == [[expected]]


def test_random_tokenizers_are_frozen_seeded_buffers() -> None:
    a, b = RandomProjectionTokenizer(seed=1), RandomProjectionTokenizer(seed=1)
    assert torch.equal(a.codebook, b.codebook) and not list(a.parameters())
    assert a.codebook.shape == (1024, 256) and a.projection.shape == (256, 256)
    assert not torch.equal(a.codebook, RandomProjectionTokenizer(seed=2).codebook)


def test_best_rq_is_brute_force_cosine_nearest_code() -> None:
    tok = BestRQTokenizer(patch=(4, 16), codebook_size=50, code_dim=6, seed=0)
    x = fbank(seed=4)
    labels = tok(x)
    assert torch.allclose(tok.codebook.norm(dim=1), torch.ones(50))
    a, c = tok.projection.double(), tok.codebook.double()
    for b in range(2):
        for t in range(2):
            for f in range(2):
                patch = x[b, 4 * t : 4 * t + 4, 16 * f : 16 * f + 16].double().reshape(-1)
                z = patch @ a
                z = z / z.norm()
                dist = [float((c[i] / c[i].norm() - z).norm()) for i in range(50)]
                assert int(labels[b, t * 2 + f]) == min(range(50), key=dist.__getitem__)


def test_padded_patches_get_ignore_label() -> None:
    mask = torch.zeros(2, 8, dtype=torch.bool)
    mask[1, 4:] = True
    for tok in (RandomProjectionTokenizer((4, 16), 32, 8), BestRQTokenizer((4, 16), 32, 8)):
        labels = tok(fbank(), mask)
        assert labels[1].tolist()[2:] == [-100, -100] and bool((labels[0] >= 0).all())


def test_spherical_kmeans_reaches_a_fixed_point() -> None:
    g = torch.Generator().manual_seed(0)
    centres = F.normalize(torch.eye(3, 5), dim=1)
    noise = 0.05 * torch.randn(60, 5, generator=g)
    x = F.normalize(centres.repeat_interleave(20, 0) + noise, dim=1).double()
    c = spherical_kmeans(x, 3, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(c.norm(dim=1), torch.ones(3, dtype=torch.float64))
    assign = (x @ c.T).argmax(1)
    for k in range(3):  # each centroid is the normalised mean of its members (Lloyd fixed point)
        members = x[assign == k]
        mean = members.sum(0) / members.sum(0).norm()
        torch.testing.assert_close(c[k], mean)
    one = spherical_kmeans(x, 1)
    torch.testing.assert_close(one[0], x.sum(0) / x.sum(0).norm())


def test_vq_ema_update_matches_a_hand_loop() -> None:
    torch.manual_seed(0)
    vq = NormEMAVectorQuantizer(6, 4, decay=0.9, kmeans_init=False, restart_dead_codes=False)
    before = vq.embedding.clone().double()
    z = torch.randn(10, 4)
    out = vq(z)
    zn = z.double() / z.double().norm(dim=1, keepdim=True)
    expected = before.clone()
    for i in range(6):
        members = [n for n in range(10) if int((zn[n] @ before.T).argmax()) == i]
        assert sorted(members) == sorted(torch.nonzero(out.codes == i).flatten().tolist())
        if not members:
            continue  # unused codes keep their vector
        mean = sum(zn[n] for n in members) / len(members)
        mean = mean / mean.norm()
        new = 0.9 * before[i] + 0.1 * mean
        expected[i] = new / new.norm()
    torch.testing.assert_close(vq.embedding.double(), expected, atol=1e-6, rtol=1e-6)
    # commitment: beta * mean squared distance to the (pre-update) codes, elementwise mean
    ref = sum(float(((zn[n] - before[int(out.codes[n])]) ** 2).sum()) for n in range(10)) / 40
    assert float(out.commitment) == pytest.approx(ref, rel=1e-5)


def test_vq_straight_through_gradient_and_eval_is_frozen() -> None:
    vq = NormEMAVectorQuantizer(8, 4, kmeans_init=False)
    z = torch.randn(5, 4, requires_grad=True)
    before = vq.embedding.clone()
    out = vq(z)  # forward values are the pre-update codes
    torch.testing.assert_close(out.quantized, before[out.codes], atol=1e-6, rtol=0)
    g = torch.randn(5, 4)
    (grad,) = torch.autograd.grad((out.quantized * g).sum(), z)
    # straight-through: d quantized / d z = d normalize(z) / d z
    zz = z.detach().clone().requires_grad_(True)
    (ref,) = torch.autograd.grad((F.normalize(zz, dim=-1) * g).sum(), zz)
    torch.testing.assert_close(grad, ref)
    vq.eval()
    frozen = vq.embedding.clone()
    vq(torch.randn(5, 4))
    assert torch.equal(frozen, vq.embedding)


def test_vq_kmeans_init_on_first_batch_and_perplexity() -> None:
    torch.manual_seed(0)
    vq = NormEMAVectorQuantizer(4, 3, decay=0.99, restart_dead_codes=False)
    assert not bool(vq.initialized)
    x = F.normalize(torch.eye(4, 3)[[0, 1, 2, 0]] * torch.tensor([1, 1, 1, -1.0])[:, None], dim=1)
    z = x.repeat_interleave(25, 0)
    out = vq(z)
    assert bool(vq.initialized)
    assert int(out.used) == 4
    assert float(out.perplexity) == pytest.approx(4.0, rel=1e-5)


def test_vq_restarts_dead_codes() -> None:
    torch.manual_seed(0)
    vq = NormEMAVectorQuantizer(8, 4, decay=0.5, kmeans_init=False, dead_threshold=0.5)
    z = torch.tensor([[1.0, 0, 0, 0]]).repeat(16, 1)
    for _ in range(4):
        vq(z)
    assert int(vq.restarts) > 0
    # every restarted code is a batch vector
    assert bool(((vq.embedding @ z[0]) > 0.999).sum() >= 1)


def test_vq_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(N >= 1, 4\)"):
        NormEMAVectorQuantizer(8, 4)(torch.randn(3, 5))


def test_trained_tokenizer_round_trips_and_labels_padding() -> None:
    tok = AcousticTokenizer("tiny", patch=(4, 16), codebook_size=16, code_dim=8, depth=1)
    mask = torch.zeros(2, 8, dtype=torch.bool)
    mask[0, 4:] = True
    labels = tok(fbank(), mask)
    assert labels.shape == (2, 4) and labels[0, 2:].tolist() == [-100, -100]
    again = AcousticTokenizer.from_state_dict(tok.state_dict())
    assert torch.equal(again(fbank(), mask), labels)
