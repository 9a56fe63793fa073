"""Input validation shared by losses, masks and methods.

Every check raises :class:`ValueError` with a message saying what was wrong and
how to fix it. Finiteness checks read one boolean back from the device; switch
them off for maximum throughput with :func:`set_finite_checks` once a pipeline is
known to be clean.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

from selfsup import distributed

__all__ = [
    "LabelledBatch",
    "MalformedBatchError",
    "batch_tensor",
    "check_finite",
    "check_matrix",
    "check_positive",
    "check_probability",
    "check_same_shape",
    "check_two_views",
    "finite_checks_enabled",
    "iter_tensors",
    "repeated",
    "set_finite_checks",
    "unpack_labelled",
]

_FINITE_CHECKS = True


class MalformedBatchError(ValueError):
    """A batch does not have the structure a method expects."""


def _dims(dims: Sequence[int | None]) -> str:
    return (
        "("
        + ", ".join("B" if i == 0 and d is None else str(d or "*") for i, d in enumerate(dims))
        + ")"
    )


def repeated(values: Iterable[Hashable]) -> list[Any]:
    """The values that occur more than once, sorted (for "names must be unique" errors).

    Examples:
        >>> repeated(["user", "item", "user", "", ""])
        ['', 'user']
    """
    return sorted(v for v, n in Counter(values).items() if n > 1)


class LabelledBatch(NamedTuple):
    """What :func:`unpack_labelled` returns: the inputs, the labels (None without) and where the
    inputs sat (``"batch"`` or ``"batch[0]"``, for error messages)."""

    inputs: Any
    labels: Any
    where: str


def unpack_labelled(batch: Any, owner: str, expects: str, *, hint: str = "") -> LabelledBatch:
    """Split a batch that is either the inputs alone or an ``(inputs, labels)`` pair (probe and
    labelled loaders give pairs); ``expects`` names the inputs in the error (e.g. ``"images
    (B, C, H, W)"``) and ``hint`` says how to fix it.

    Raises:
        MalformedBatchError: a list or tuple whose length is not 2.

    Examples:
        >>> unpack_labelled((1.0, 7), "M", "x").labels
        7
        >>> unpack_labelled([1, 2, 3], "M", "inputs (B, D)")
        Traceback (most recent call last):
        ...
        selfsup.checks.MalformedBatchError: M expects inputs (B, D) or an (inputs, labels) pair, got a list of length 3.
    """  # noqa: E501
    if not isinstance(batch, list | tuple):
        return LabelledBatch(batch, None, "batch")
    if len(batch) != 2:
        raise MalformedBatchError(
            f"{owner} expects {expects} or an (inputs, labels) pair, got a "
            f"{type(batch).__name__} of length {len(batch)}" + (f"; {hint}" if hint else ".")
        )
    return LabelledBatch(batch[0], batch[1], "batch[0]")


def batch_tensor(
    batch: Any,
    owner: str,
    dims: Sequence[int | None],
    *,
    what: str = "inputs",
    min_rows: int = 1,
    floating: bool = True,
    finite: bool = True,
    hint: str = "",
) -> Tensor:
    """The floating-point tensor of a batch, or an error that says what is wrong and how to fix it.

    Accepted: the tensor itself or an ``(inputs, labels)`` pair (probe and labelled loaders),
    whose labels are ignored. ``dims`` is the expected shape, ``None`` for any size (the batch
    axis is usually ``None``); ``hint`` is appended to a shape error (e.g. which constructor
    argument sets the width).

    Raises:
        MalformedBatchError: a pair of another length, not a tensor, another shape, integer
            dtype (with ``floating``), fewer than ``min_rows`` rows, or NaN/inf values (with
            ``finite``, listing the rows).

    Examples:
        >>> x = batch_tensor((torch.ones(4, 3), torch.zeros(4)), "MyMethod", (None, 3))
        >>> x.shape
        torch.Size([4, 3])
        >>> batch_tensor(torch.ones(4, 5), "M", (None, 3), hint="set F.")
        Traceback (most recent call last):
        ...
        selfsup.checks.MalformedBatchError: M expects inputs of shape (B, 3), got (4, 5); set F.
    """
    shape = _dims(dims)
    x = unpack_labelled(batch, owner, f"{what} {shape}").inputs
    if not isinstance(x, Tensor):
        raise MalformedBatchError(
            f"{owner} expects {what} as a tensor {shape}, got {type(x).__name__}."
        )
    if x.dim() != len(dims) or any(d is not None and n != d for n, d in zip(x.shape, dims)):
        raise MalformedBatchError(
            f"{owner} expects {what} of shape {shape}, got {tuple(x.shape)}"
            + (f"; {hint}" if hint else ".")
        )
    if floating and not x.is_floating_point():
        raise MalformedBatchError(
            f"{owner} expects floating-point {what}, got {x.dtype}; convert with x.float()."
        )
    if x.shape[0] < min_rows:
        raise MalformedBatchError(
            f"{owner} needs at least {min_rows} rows per batch, got {x.shape[0]}; use "
            "drop_last=True in the DataLoader (or a larger batch size)."
        )
    if finite and x.is_floating_point():
        bad = ~torch.isfinite(x)
        if bool(bad.any()):
            rows = bad.flatten(1).any(dim=1).nonzero().flatten().tolist()
            raise MalformedBatchError(
                f"{owner} got {int(bad.sum())} NaN/inf value(s) in {what}, rows {rows[:10]} of "
                "the batch; impute missing values (or drop those rows) before training."
            )
    return x


def set_finite_checks(enabled: bool) -> None:
    """Turn the NaN/inf checks on loss inputs on or off (default: on)."""
    global _FINITE_CHECKS
    _FINITE_CHECKS = bool(enabled)


def finite_checks_enabled() -> bool:
    """Whether NaN/inf checks are on."""
    return _FINITE_CHECKS


def check_finite(name: str, x: Tensor) -> None:
    """Raise if ``x`` holds NaN or inf (skipped when finite checks are off)."""
    if _FINITE_CHECKS and x.is_floating_point() and not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(
            f"{name} contains {bad} NaN/inf value(s): NaN/inf in the input data (selfsup's "
            "training loop names the task and input when it sees them), or a diverged model "
            "(too large a learning rate, unnormalised inputs)."
        )


def check_matrix(name: str, x: Tensor, *, min_rows: int = 1) -> None:
    """Require a finite floating 2-D ``(N, D)`` tensor with at least ``min_rows`` rows."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}.")
    if x.dim() != 2:
        raise ValueError(
            f"{name} must have shape (N, D), got {tuple(x.shape)}; "
            "flatten extra dimensions first (e.g. x.flatten(1)) or pool tokens."
        )
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {x.dtype}.")
    if x.shape[0] < min_rows:
        raise ValueError(
            f"{name} has {x.shape[0]} row(s) but this loss needs at least {min_rows}; "
            "an empty or too-small batch reached the loss (check drop_last / the sampler)."
        )
    if x.shape[1] == 0:
        raise ValueError(f"{name} has zero feature dimensions (shape {tuple(x.shape)}).")
    check_finite(name, x)


def check_same_shape(names: Sequence[str], *xs: Tensor) -> None:
    """Require tensors of identical shape, e.g. two views of one batch."""
    shapes = [tuple(x.shape) for x in xs]
    if len(set(shapes)) > 1:
        listed = ", ".join(f"{n}={s}" for n, s in zip(names, shapes, strict=True))
        raise ValueError(
            f"shape mismatch: {listed}; both views must hold the same samples in the same order."
        )


def check_two_views(z1: Tensor, z2: Tensor, *, gathering: bool, need: str) -> None:
    """Require two ``(N, D)`` views of the same samples with ``N >= 2`` over all ranks.

    ``need`` completes the error message: why this loss needs two samples.
    """
    check_matrix("z1", z1)
    check_matrix("z2", z2)
    check_same_shape(("z1", "z2"), z1, z2)
    n_global = z1.shape[0] * (distributed.world_size() if gathering else 1)
    if n_global < 2:
        raise ValueError(f"z1 and z2 hold {z1.shape[0]} sample(s) but {need}")


def check_positive(name: str, value: float) -> None:
    """Require a strictly positive number (temperatures, scales)."""
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value}.")


def check_probability(name: str, value: float, *, inclusive_high: bool = False) -> None:
    """Require ``0 <= value < 1`` (or ``<= 1`` with ``inclusive_high``)."""
    ok = 0.0 <= value <= 1.0 if inclusive_high else 0.0 <= value < 1.0
    if not ok:
        bound = "[0, 1]" if inclusive_high else "[0, 1)"
        raise ValueError(f"{name} must lie in {bound}, got {value}.")


def iter_tensors(obj: Any, path: str = "batch") -> Iterator[tuple[str, Tensor]]:
    """``(path, tensor)`` for every tensor inside a batch: tensors, mappings, sequences,
    dataclasses and objects with ``to_dict()`` (PyG ``Data``), depth first.

    Examples:
        >>> [p for p, _ in iter_tensors({"x": torch.zeros(2), "y": [torch.ones(1)]})]
        ["batch['x']", "batch['y'][0]"]
    """
    if isinstance(obj, Tensor):
        yield path, obj
    elif isinstance(obj, Mapping):
        for key in obj:
            yield from iter_tensors(obj[key], f"{path}[{key!r}]")
    elif isinstance(obj, list | tuple):
        for i, item in enumerate(obj):
            yield from iter_tensors(item, f"{path}[{i}]")
    elif callable(getattr(obj, "to_dict", None)):
        try:
            as_dict = obj.to_dict()
        except Exception:  # not a container after all
            return
        if isinstance(as_dict, Mapping):
            yield from iter_tensors(as_dict, path)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            yield from iter_tensors(getattr(obj, f.name), f"{path}.{f.name}")
