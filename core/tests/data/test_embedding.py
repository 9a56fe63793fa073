"""The (ids, inputs) batches of predict_dataloader()."""

from __future__ import annotations

import pytest
import torch

from selfsup.data import EmbeddingBatch, check_embedding_batch
from selfsup.data.embedding import ids_to_list


def test_pairs_become_embedding_batches():
    batch = check_embedding_batch((torch.arange(3), torch.zeros(3, 2)))
    assert isinstance(batch, EmbeddingBatch) and batch.inputs.shape == (3, 2)
    same = EmbeddingBatch(["a"], torch.zeros(1, 2))
    assert check_embedding_batch(same) is same


def test_other_batches_are_refused():
    with pytest.raises(TypeError, match="EmbeddingBatch"):
        check_embedding_batch(torch.zeros(3, 2))
    with pytest.raises(TypeError, match="EmbeddingBatch"):
        check_embedding_batch({"ids": [1], "x": torch.zeros(1)})


@pytest.mark.parametrize(
    ("ids", "expected"),
    [(torch.tensor([3, 1]), [3, 1]), (["a", "b"], ["a", "b"]), ((4, 5), [4, 5])],
)
def test_ids_to_list(ids, expected):
    assert ids_to_list(ids) == expected


@pytest.mark.parametrize(
    "ids",
    [torch.tensor([0.5]), torch.zeros(2, 2, dtype=torch.long), "ab", ["a", 1], [True], 3],
)
def test_bad_ids_are_refused(ids):
    with pytest.raises(TypeError, match="ids"):
        ids_to_list(ids)
