"""batch_tensor: the one (x, y) unpack and shape/dtype/finite check every method shares."""

from __future__ import annotations

import pytest
import torch

from selfsup.checks import MalformedBatchError, batch_tensor
from selfsup.experiment import method as method_module


def test_tensor_and_pair_give_the_same_tensor() -> None:
    x = torch.randn(4, 3)
    assert batch_tensor(x, "M", (None, 3)) is x
    assert batch_tensor((x, torch.arange(4)), "M", (None, 3)) is x
    assert batch_tensor([x, None], "M", (None, 3)) is x


@pytest.mark.parametrize(
    ("batch", "kwargs", "message"),
    [
        ((torch.ones(2, 3),) * 3, {}, r"or an \(inputs, labels\) pair, got a tuple of length 3"),
        ({"x": torch.ones(2, 3)}, {}, r"expects inputs as a tensor \(B, 3\), got dict"),
        (torch.ones(2, 4), {"hint": "set width=4."}, r"shape \(B, 3\), got \(2, 4\); set width=4."),
        (torch.ones(2, 3, 1), {}, r"shape \(B, 3\), got \(2, 3, 1\)\."),
        (torch.ones(2, 3, dtype=torch.long), {}, "floating-point inputs, got torch.int64"),
        (torch.ones(1, 3), {"min_rows": 2}, "at least 2 rows per batch, got 1; use drop_last"),
        (torch.tensor([[0.0] * 3, [float("nan"), 0.0, 0.0]]), {}, r"1 NaN/inf .* rows \[1\]"),
    ],
)
def test_each_malformation_says_what_and_how(batch, kwargs, message) -> None:
    with pytest.raises(MalformedBatchError, match=message):
        batch_tensor(batch, "M", (None, 3), **kwargs)


def test_switches_and_the_error_type_methods_import() -> None:
    ints = torch.ones(2, 3, dtype=torch.long)
    assert batch_tensor(ints, "M", (None, 3), floating=False) is ints
    nan = torch.full((2, 3), float("nan"))
    assert batch_tensor(nan, "M", (None, 3), finite=False) is nan
    assert method_module.MalformedBatchError is MalformedBatchError
    assert issubclass(MalformedBatchError, ValueError)
