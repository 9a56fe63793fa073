"""Raw per-item content (tabular attributes, audio clips, ...) read from local files and aligned
to the catalog, for the ``content`` features of an item tower.

One file per content feature, keyed by the raw item id:

=====================  ===============================================================
extension              layout
=====================  ===============================================================
``.csv``, ``.parquet``  a key column (default ``"item"``) plus numeric columns: ``(N, F)``
``.pt``                 ``{"keys": [...], "values": Tensor (N, *shape)}`` or
                        ``{raw_id: Tensor (*shape)}`` (``torch.load(weights_only=True)``)
``.npz``                arrays ``keys`` ``(N,)`` and ``values`` ``(N, *shape)``
=====================  ===============================================================

A bare ``.npy`` has no item keys and is refused (save ``keys`` and ``values`` in a ``.npz``).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from selfsup_recsys.data.interactions import read_table

__all__ = ["ContentSource", "align_content", "read_item_content"]

#: a file path, or the already loaded ``(keys, values)``
ContentSource = str | os.PathLike | tuple[Sequence[Hashable], Tensor]


def _key(v: Any) -> Hashable:
    # numpy scalars (from .npz/.parquet) must compare equal to the catalog's Python ids
    return v.item() if isinstance(v, np.generic) else v


def read_item_content(
    path: str | os.PathLike, key_column: str = "item"
) -> tuple[list[Hashable], Tensor]:
    """``(keys, values)`` of a content file: raw item ids and a float32 ``(N, *shape)`` tensor.

    Raises:
        FileNotFoundError: no such file.
        ValueError: unknown extension, a missing key column, non-numeric attributes, keys and
            values of different lengths, or tensors of different shapes.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"item content file {path!r} not found; pass an absolute path or one under data_root."
        )
    ext = os.path.splitext(path)[1].lower()
    if ext in (".csv", ".parquet", ".pq"):
        frame = read_table(path)
        if key_column not in frame.columns:
            raise ValueError(
                f"{path!r} has no key column {key_column!r} (columns: {list(frame.columns)})."
            )
        attrs = frame.drop(columns=[key_column])
        bad = [c for c in attrs.columns if not pd.api.types.is_numeric_dtype(attrs[c])]
        if bad or attrs.shape[1] == 0:
            raise ValueError(
                f"{path!r}: content columns must be numeric (encode categories first); "
                f"non-numeric: {bad}, numeric columns: {attrs.shape[1]}."
            )
        keys = [_key(k) for k in frame[key_column]]
        values = torch.tensor(attrs.to_numpy(dtype=np.float32))
    elif ext == ".pt":
        obj = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(obj, Mapping) and set(obj) == {"keys", "values"}:
            keys, values = [_key(k) for k in obj["keys"]], torch.as_tensor(obj["values"])
        elif isinstance(obj, Mapping) and obj:
            keys = list(obj)
            shapes = {tuple(torch.as_tensor(v).shape) for v in obj.values()}
            if len(shapes) != 1:
                raise ValueError(f"{path!r}: per-item tensors differ in shape: {sorted(shapes)}.")
            values = torch.stack([torch.as_tensor(v) for v in obj.values()])
        else:
            raise ValueError(
                f"{path!r} must hold {{'keys': [...], 'values': tensor}} or {{item_id: tensor}}."
            )
    elif ext == ".npz":
        with np.load(path, allow_pickle=False) as arrays:
            if "keys" not in arrays or "values" not in arrays:
                raise ValueError(f"{path!r} must hold the arrays 'keys' and 'values'.")
            keys = [_key(k) for k in arrays["keys"]]
            values = torch.from_numpy(np.ascontiguousarray(arrays["values"]))
    elif ext == ".npy":
        raise ValueError(
            f"{path!r}: a .npy array has no item ids; save np.savez(path, keys=ids, values=x)."
        )
    else:
        raise ValueError(
            f"{path!r}: item content must be .csv, .parquet, .pt or .npz, got {ext!r}."
        )
    if len(keys) != len(values):
        raise ValueError(f"{path!r}: {len(keys)} keys but {len(values)} value rows.")
    if values.dim() < 2:
        values = values[:, None]  # one number per item is a (N, 1) attribute row
    return keys, values.float()


def align_content(
    catalog: Sequence[Hashable], keys: Sequence[Hashable], values: Tensor, name: str
) -> Tensor:
    """Content rows in catalog order: ``(M, *shape)``, NaN rows for items without content.

    Duplicate keys keep the first row; keys outside the catalog are ignored; both are warned,
    as are catalog items without content (their tower input is the default embedding).

    Raises:
        ValueError: no catalog item has content, or a value row holds NaN/inf (only whole
            missing rows may be NaN).
    """
    values = values.float()
    finite = torch.isfinite(values.flatten(1)).all(dim=1)
    if not bool(finite.all()):
        raise ValueError(
            f"content {name!r}: {int((~finite).sum())} row(s) hold NaN/inf; impute them or leave "
            "those items out of the file (they then get the default embedding)."
        )
    first: dict[Hashable, int] = {}
    for r, k in enumerate(keys):
        first.setdefault(k, r)
    if len(first) < len(keys):
        warnings.warn(
            f"content {name!r}: {len(keys) - len(first)} duplicate item id(s); the first row of "
            "each is kept.",
            stacklevel=2,
        )
    index = {k: i for i, k in enumerate(catalog)}
    unknown = sum(1 for k in first if k not in index)
    if unknown:
        warnings.warn(
            f"content {name!r}: {unknown} item id(s) are not in the catalog and are ignored.",
            stacklevel=2,
        )
    out = torch.full((len(catalog), *values.shape[1:]), float("nan"))
    hit = [(index[k], r) for k, r in first.items() if k in index]
    if not hit:
        raise ValueError(
            f"content {name!r}: none of its {len(first)} item ids is in the catalog (e.g. "
            f"{list(first)[:3]} vs {list(catalog)[:3]}); check the key column and id types."
        )
    rows, src = zip(*hit, strict=True)
    out[list(rows)] = values[list(src)]
    missing = len(catalog) - len(hit)
    if missing:
        warnings.warn(
            f"content {name!r}: {missing} of {len(catalog)} catalog items have no content; they "
            "take the feature's default embedding.",
            stacklevel=2,
        )
    return out
