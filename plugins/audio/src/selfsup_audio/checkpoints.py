"""Finding our modules inside ``selfsup fit`` checkpoints: how iterations chain by path."""

from __future__ import annotations

import os
from typing import Any

import torch

__all__ = ["find_prefix", "load_checkpoint_file", "read_state_dict"]


def load_checkpoint_file(path: str) -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)``, with clear errors.

    Loading a checkpoint never runs code: ``weights_only=True`` rebuilds tensors and plain
    containers only, and refuses a pickle that asks for anything else (a class, a function).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a torch checkpoint, or it holds Python objects that
            weights-only loading refuses (the message names the file).

    Examples:
        >>> import tempfile
        >>> path = tempfile.mkdtemp() + "/w.pt"
        >>> torch.save({"w": torch.ones(2)}, path)
        >>> load_checkpoint_file(path)
        {'w': tensor([1., 1.])}
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"checkpoint {path!r} not found; pass the .ckpt written by the previous `selfsup fit` "
            "stage (e.g. outputs/<run>/lightning_logs/version_0/checkpoints/last.ckpt)."
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(
            f"checkpoint {path!r} cannot be loaded as tensors and plain data "
            f"(torch.load(weights_only=True): {first}); it is not a torch checkpoint, is "
            "truncated, or holds Python objects, which are never loaded because that would run "
            "code from the file."
        ) from err


def read_state_dict(path: str) -> dict[str, Any]:
    """The model state dict of a checkpoint file, loaded on CPU with ``weights_only=True``.

    Accepts a Lightning checkpoint (``{"state_dict": ...}``), an official BEATs file
    (``{"model": ..., "cfg": ...}``) or a plain state dict.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a state dict, or not loadable with ``weights_only=True``.
    """
    obj = load_checkpoint_file(path)
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    elif isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]
    if not isinstance(obj, dict):
        raise ValueError(f"checkpoint {path!r} holds a {type(obj).__name__}, not a state dict.")
    return obj


def find_prefix(state_dict: dict[str, Any], attribute: str, marker: str) -> str:
    """Key prefix of the module stored as ``attribute`` whose ``_extra_state`` holds ``marker``.

    A ``selfsup fit`` checkpoint stores a method's encoder under
    ``tasks.<task>.method.encoder.``; this finds that prefix (the shortest when nested modules
    share the attribute name, e.g. a tokenizer's own encoder).

    Raises:
        KeyError: no module or several tasks' modules match.
    """
    found = []
    for key, value in state_dict.items():
        if not key.endswith("_extra_state") or not isinstance(value, dict) or marker not in value:
            continue
        prefix = key[: -len("_extra_state")]
        if prefix.rstrip(".").split(".")[-1] == attribute:
            found.append(prefix)
    if not found:
        raise KeyError(
            f"no '{attribute}' module (with {marker!r} in its _extra_state) in the checkpoint; "
            "was it written by the right stage?"
        )
    depth = min(p.count(".") for p in found)
    shallow = [p for p in found if p.count(".") == depth]
    if len(shallow) > 1:
        raise KeyError(f"several '{attribute}' modules in the checkpoint: {shallow}.")
    return shallow[0]
