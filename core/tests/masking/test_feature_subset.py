"""Tests for selfsup.masking.feature_subset (T-JEPA context/target feature subsets)."""

from __future__ import annotations

import pytest
import torch

from selfsup.masking import FeatureSubsetMask, feature_subset_mask


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_shapes_counts_and_disjointness() -> None:
    for seed in range(20):
        m = feature_subset_mask(8, 10, num_targets=3, generator=_gen(seed))
        assert isinstance(m, FeatureSubsetMask)
        context, targets = m  # unpacks like a tuple
        assert context.shape == (8, 10) and targets.shape == (8, 3, 10)
        assert context.dtype == targets.dtype == torch.bool
        n_ctx, n_tgt = context.sum(1), targets.sum(2)
        assert len(set(n_ctx.tolist())) == 1 and len(set(n_tgt.flatten().tolist())) == 1
        assert (
            2 <= int(n_ctx[0]) <= 4 and 2 <= int(n_tgt[0, 0]) <= 4
        )  # round(10*0.2)..round(10*0.4)
        assert not bool((context.unsqueeze(1) & targets).any())


def test_per_sample_sizes_vary_and_stay_in_bounds() -> None:
    m = feature_subset_mask(
        64,
        20,
        context_ratio=(0.1, 0.5),
        target_ratio=(0.1, 0.9),
        per_sample_size=True,
        generator=_gen(0),
    )
    n_ctx, n_tgt = m.context.sum(1), m.targets.sum(2)
    assert len(set(n_ctx.tolist())) > 1 and len(set(n_tgt.flatten().tolist())) > 1
    assert int(n_ctx.min()) >= 2 and int(n_ctx.max()) <= 10
    assert int(n_tgt.min()) >= 2
    assert bool((n_tgt <= 20 - n_ctx.unsqueeze(1)).all())  # target capped by the free features
    assert not bool((m.context.unsqueeze(1) & m.targets).any())


def test_allow_overlap_and_full_coverage() -> None:
    m = feature_subset_mask(
        256,
        6,
        context_ratio=(0.5, 0.5),
        target_ratio=(0.5, 0.5),
        allow_overlap=True,
        generator=_gen(1),
    )
    assert bool((m.context.unsqueeze(1) & m.targets).any())
    assert bool(m.context.any(0).all()) and bool(
        m.targets.any(1).any(0).all()
    )  # every feature drawn
    # without overlap all 6 features are still reachable, incl. the last one (T-JEPA's off-by-one)
    d = feature_subset_mask(
        256, 6, context_ratio=(0.5, 0.5), target_ratio=(0.5, 0.5), generator=_gen(1)
    )
    assert bool(d.context.any(0).all()) and bool(d.targets.any(1).any(0).all())
    assert bool((d.context.unsqueeze(1) | d.targets).all())  # 3 + 3 = 6: exact partition


def test_determinism_seeds_and_meta() -> None:
    a = feature_subset_mask(4, 30, generator=_gen(2))
    b = feature_subset_mask(4, 30, generator=_gen(2))
    c = feature_subset_mask(4, 30, generator=_gen(3))
    assert torch.equal(a.context, b.context) and torch.equal(a.targets, b.targets)
    assert not torch.equal(a.targets, c.targets)
    m = feature_subset_mask(4, 30, per_sample_size=True, device="meta")
    assert m.context.device.type == "meta" and m.targets.shape == (4, 4, 30)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"num_features": 0}, "num_features"),
        ({"num_features": 1}, "too small"),
        ({"num_targets": 0}, "num_targets"),
        ({"context_ratio": (0.0, 0.4)}, "context_ratio"),
        ({"target_ratio": (0.5, 0.2)}, "target_ratio"),
        ({"context_ratio": (0.7, 0.8), "target_ratio": (0.5, 0.6)}, "disjoint"),
        ({"device": "cuda", "generator": torch.Generator()}, "generator lives on cpu"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    args = {"batch_size": 2, "num_features": 10} | kwargs
    with pytest.raises(ValueError, match=match):
        feature_subset_mask(**args)
