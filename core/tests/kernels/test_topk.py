"""similarity_topk against a brute-force float64 search with the documented tie order."""

from __future__ import annotations

import math

import pytest
import torch

from selfsup.kernels.topk import similarity_topk

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs CUDA")


def reference_topk(
    queries: torch.Tensor,
    bank: torch.Tensor,
    k: int,
    normalize: bool = True,
    exclude: list[int] | None = None,
) -> tuple[list[list[float]], list[list[int]]]:
    """Explicit float64 sums over every (query, bank row) pair, ranked by (-score, index)."""
    q_rows = queries.double().cpu().tolist()
    b_rows = bank.double().cpu().tolist()
    if normalize:
        q_rows = [[x / max(math.sqrt(sum(v * v for v in r)), 1e-12) for x in r] for r in q_rows]
        b_rows = [[x / max(math.sqrt(sum(v * v for v in r)), 1e-12) for x in r] for r in b_rows]
    scores, indices = [], []
    for i, q in enumerate(q_rows):
        pairs = [
            (sum(a * b for a, b in zip(q, r, strict=True)), j)
            for j, r in enumerate(b_rows)
            if exclude is None or j != exclude[i]
        ]
        pairs.sort(key=lambda p: (-p[0], p[1]))
        scores.append([s for s, _ in pairs[:k]])
        indices.append([j for _, j in pairs[:k]])
    return scores, indices


def data(seed: int, q: int, m: int, d: int, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(q, d, generator=g, dtype=dtype), torch.randn(m, d, generator=g, dtype=dtype)


def tie_data(seed: int, q: int, m: int, d: int):
    """Small integers: every product is exact in fp32, scores repeat a lot."""
    g = torch.Generator().manual_seed(seed)
    queries = torch.randint(-2, 3, (q, d), generator=g).float()
    bank = torch.randint(-1, 2, (m, d), generator=g).float()
    return queries, bank


@pytest.mark.parametrize(
    ("chunk", "bank_chunk", "k"),
    [(1024, 32768, 5), (7, 10, 5), (5, 3, 10), (37, 101, 101), (4, 16, 1), (10, 33, 33)],
)
def test_matches_brute_force_float64(chunk: int, bank_chunk: int, k: int) -> None:
    queries, bank = data(0, 37, 101, 6)
    scores, idx = similarity_topk(queries, bank, k, chunk_size=chunk, bank_chunk_size=bank_chunk)
    ref_s, ref_i = reference_topk(queries, bank, k)
    assert idx.dtype == torch.long and idx.shape == (37, k) and scores.dtype == torch.float64
    assert idx.tolist() == ref_i
    torch.testing.assert_close(scores, torch.tensor(ref_s, dtype=torch.float64), rtol=0, atol=1e-12)


@pytest.mark.parametrize("normalize", [True, False])
def test_float32_inner_product_and_cosine(normalize: bool) -> None:
    queries, bank = data(1, 23, 250, 16, torch.float32)
    scores, idx = similarity_topk(queries, bank, 8, normalize=normalize, bank_chunk_size=64)
    ref_s, ref_i = reference_topk(queries, bank, 8, normalize=normalize)
    assert scores.dtype == torch.float32
    assert idx.tolist() == ref_i
    torch.testing.assert_close(
        scores.double(), torch.tensor(ref_s, dtype=torch.float64), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize(("chunk", "bank_chunk", "k"), [(9, 7, 4), (50, 1000, 12), (3, 5, 40)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ties_smaller_index_first(chunk: int, bank_chunk: int, k: int, dtype) -> None:
    queries, bank = tie_data(2, 50, 120, 4)
    queries, bank = queries.to(dtype), bank.to(dtype)
    scores, idx = similarity_topk(
        queries, bank, k, normalize=False, chunk_size=chunk, bank_chunk_size=bank_chunk
    )
    ref_s, ref_i = reference_topk(queries, bank, k, normalize=False)
    assert idx.tolist() == ref_i
    assert scores.double().tolist() == ref_s


def test_ties_with_cosine() -> None:
    # signed one-hot rows scaled by powers of two normalise exactly to +-e_c: exact ties
    g = torch.Generator().manual_seed(3)
    m, d = 60, 5
    bank = torch.zeros(m, d)
    signs = torch.randint(0, 2, (m,), generator=g).float() * 2 - 1
    scale = 2.0 ** torch.randint(0, 3, (m,), generator=g).float()
    bank[torch.arange(m), torch.randint(0, d, (m,), generator=g)] = signs * scale
    queries = torch.randn(11, d, generator=g)
    _, idx = similarity_topk(queries, bank, 15, bank_chunk_size=7)
    assert idx.tolist() == reference_topk(queries, bank, 15)[1]


def test_exclude_self_and_no_exclusion() -> None:
    queries, bank = data(4, 20, 45, 5)
    queries[:15] = bank[10:25]  # queries 0..14 are bank rows 10..24
    exclude = torch.tensor([10 + i for i in range(15)] + [-1, 45, 1000, -7, 0])
    scores, idx = similarity_topk(queries, bank, 6, exclude=exclude, bank_chunk_size=8)
    ref_s, ref_i = reference_topk(queries, bank, 6, exclude=exclude.tolist())
    assert idx.tolist() == ref_i
    assert all(int(e) not in row for e, row in zip(exclude[:15], idx.tolist()))
    torch.testing.assert_close(scores, torch.tensor(ref_s, dtype=torch.float64), rtol=0, atol=1e-12)
    # without exclusion every query 0..14 finds itself first
    _, own = similarity_topk(queries, bank, 1)
    assert own[:15, 0].tolist() == list(range(10, 25))


def test_exclude_with_k_equal_bank_minus_one() -> None:
    queries, bank = data(5, 4, 9, 3)
    exclude = torch.tensor([0, 8, 3, -1], dtype=torch.int32)
    _, idx = similarity_topk(queries, bank, 8, exclude=exclude, bank_chunk_size=4)
    assert idx.tolist() == reference_topk(queries, bank, 8, exclude=exclude.tolist())[1]


def test_half_inputs_on_cpu_are_upcast_and_empty_queries() -> None:
    queries, bank = data(6, 12, 40, 8, torch.float32)
    qh, bh = queries.bfloat16(), bank.bfloat16()
    scores, idx = similarity_topk(qh, bh, 5)
    assert scores.dtype == torch.float32
    assert idx.tolist() == reference_topk(qh, bh, 5)[1]
    empty_s, empty_i = similarity_topk(queries[:0], bank, 3)
    assert empty_s.shape == (0, 3) and empty_i.shape == (0, 3)


def test_bad_input() -> None:
    queries, bank = data(7, 5, 10, 4)
    with pytest.raises(ValueError, match="k must"):
        similarity_topk(queries, bank, 0)
    with pytest.raises(ValueError, match="k must"):
        similarity_topk(queries, bank, 11)
    with pytest.raises(ValueError, match="excluded"):
        similarity_topk(queries, bank, 10, exclude=torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match="feature dimensions"):
        similarity_topk(queries[:, :3], bank, 2)
    with pytest.raises(ValueError, match="exclude must be a tensor of shape"):
        similarity_topk(queries, bank, 2, exclude=torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="integer bank indices"):
        similarity_topk(queries, bank, 2, exclude=torch.zeros(5))
    with pytest.raises(ValueError, match="bank_chunk_size"):
        similarity_topk(queries, bank, 2, bank_chunk_size=0)
    with pytest.raises(ValueError, match="chunk_size"):
        similarity_topk(queries, bank, 2, chunk_size=-1)
    with pytest.raises(ValueError, match="no Triton kernel"):
        similarity_topk(queries, bank, 2, backend="triton")
    with pytest.raises(ValueError, match="backend"):
        similarity_topk(queries, bank, 2, backend="cuda")
    with pytest.raises(ValueError, match="NaN"):
        similarity_topk(queries, bank * float("nan"), 2)
    with pytest.raises(TypeError):
        similarity_topk(queries.tolist(), bank, 2)


@needs_cuda
def test_cuda_matches_reference_with_ties_and_exclude() -> None:
    queries, bank = tie_data(8, 300, 2000, 6)
    exclude = torch.randint(-1, 2000, (300,), generator=torch.Generator().manual_seed(0))
    cuda = torch.device("cuda")
    scores, idx = similarity_topk(
        queries.to(cuda),
        bank.to(cuda),
        25,
        normalize=False,
        exclude=exclude.to(cuda),
        chunk_size=128,
        bank_chunk_size=700,
    )
    ref_s, ref_i = reference_topk(queries, bank, 25, normalize=False, exclude=exclude.tolist())
    assert idx.device.type == "cuda"
    assert idx.cpu().tolist() == ref_i
    assert scores.double().cpu().tolist() == ref_s


@pytest.fixture
def no_tf32():
    """fp32 matmuls in full precision, whatever an earlier test set."""
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32 = old


@needs_cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_cuda_large_matches_full_matmul(dtype, no_tf32) -> None:
    g = torch.Generator(device="cuda").manual_seed(0)
    queries = torch.randn(1024, 256, device="cuda", generator=g).to(dtype)
    bank = torch.randn(200_000, 256, device="cuda", generator=g).to(dtype)
    k = 100
    scores, idx = similarity_topk(queries, bank, k, bank_chunk_size=65536)
    assert scores.dtype == torch.float32
    # reference: fp64 scores of the same (rounded) inputs, one full matrix per 128 queries
    qn = torch.nn.functional.normalize(queries.double(), dim=1)
    bn = torch.nn.functional.normalize(bank.double(), dim=1)
    ref_s = torch.cat([(qn[i : i + 128] @ bn.T).topk(k, dim=1).values for i in range(0, 1024, 128)])
    atol = 1e-5 if dtype == torch.float32 else 2e-2
    torch.testing.assert_close(scores.double(), ref_s, rtol=0, atol=atol)
    # the returned indices score what was returned (checked in fp64)
    picked = (qn[:, None, :] * bn[idx]).sum(-1)
    torch.testing.assert_close(picked, scores.double(), rtol=0, atol=atol)
    if dtype == torch.float32:
        ref_i = torch.cat(
            [(qn[i : i + 128] @ bn.T).topk(k, dim=1).indices for i in range(0, 1024, 128)]
        )
        recall = (idx[:, :, None] == ref_i[:, None, :]).any(-1).float().mean()
        assert float(recall) > 0.999
