"""Reading checkpoints from strangers: one loader, one state-dict reader, one key selector.

Every plugin turns files into weights: a ``selfsup fit`` checkpoint (``{"state_dict": ...}``),
an exported ``torch.save(module.state_dict())`` file, or a foreign release (an official BEATs
file keeps its weights under ``"model"``). The key layout of a fit checkpoint is the core's own
``SSLModule``'s, ``tasks.<task>.method.<attribute>.<...>``, so the readers live here.

Loading never runs code: ``torch.load(weights_only=True)`` rebuilds tensors and plain containers
and refuses a pickle that asks for a class or a function.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

__all__ = [
    "find_module_prefix",
    "load_checkpoint_file",
    "load_matching",
    "read_state_dict",
    "select_prefix",
]


def load_checkpoint_file(path: str | os.PathLike[str]) -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)``, with errors that say why.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a torch checkpoint, is truncated, or holds Python objects
            that weights-only loading refuses (the message names the file).

    Examples:
        >>> import tempfile
        >>> path = tempfile.mkdtemp() + "/w.pt"
        >>> torch.save({"w": torch.ones(2)}, path)
        >>> load_checkpoint_file(path)
        {'w': tensor([1., 1.])}
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"checkpoint {path!r} not found; pass a .ckpt written by `selfsup fit` (e.g. "
            "<run>/checkpoints/last.ckpt) or a state dict saved with torch.save (nothing is "
            "downloaded)."
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


def read_state_dict(
    path: str | os.PathLike[str], wrappers: Sequence[str] = ("state_dict", "model")
) -> dict[str, Any]:
    """The state dict inside a checkpoint file.

    The first of ``wrappers`` that the file holds as a mapping is unwrapped: ``"state_dict"``
    for Lightning checkpoints, ``"model"`` for releases that keep their weights there (official
    BEATs files); a plain ``{name: tensor}`` file is returned as it is.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not loadable with ``weights_only=True``, or no mapping inside.

    Examples:
        >>> import tempfile
        >>> path = tempfile.mkdtemp() + "/fit.ckpt"
        >>> torch.save({"state_dict": {"tasks.a.method.w": torch.zeros(1)}, "epoch": 3}, path)
        >>> read_state_dict(path)
        {'tasks.a.method.w': tensor([0.])}
    """
    obj = load_checkpoint_file(path)
    if isinstance(obj, Mapping):
        for key in wrappers:
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping):
        raise ValueError(
            f"checkpoint {os.fspath(path)!r} holds a {type(obj).__name__}, not a state dict; "
            "save module.state_dict() or pass a `selfsup fit` .ckpt."
        )
    return dict(obj)


def select_prefix(state: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """The entries under ``prefix``, with the prefix stripped (``""`` keeps everything).

    Examples:
        >>> select_prefix({"tasks.a.method.encoder.w": 1, "tasks.a.method.head.w": 2},
        ...               "tasks.a.method.encoder.")
        {'w': 1}
    """
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def find_module_prefix(state: Mapping[str, Any], attribute: str, marker: str) -> str:
    """Key prefix of the module stored as ``attribute`` whose ``_extra_state`` holds ``marker``.

    A ``selfsup fit`` checkpoint stores a method's encoder under
    ``tasks.<task>.method.encoder.``; this finds that prefix without knowing the task name (the
    shallowest when nested modules share the attribute name, e.g. a tokenizer's own encoder).

    Raises:
        KeyError: no module, or several modules at the shallowest depth, match.

    Examples:
        >>> sd = {"tasks.a.method.encoder._extra_state": {"arch": 1},
        ...       "tasks.a.method.tokenizer.encoder._extra_state": {"arch": 1}}
        >>> find_module_prefix(sd, "encoder", "arch")
        'tasks.a.method.encoder.'
    """
    found = []
    for key, value in state.items():
        if not key.endswith("_extra_state") or not isinstance(value, Mapping):
            continue
        if marker not in value:
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


def load_matching(module: nn.Module, state: Mapping[str, Any], where: str, hint: str = "") -> None:
    """``module.load_state_dict(state)`` where every key must match, with an error that lists
    both sides (the first five of each) and ``hint`` on how to fix it.

    Raises:
        ValueError: missing or unexpected keys, or a tensor of another shape.

    Examples:
        >>> layer = nn.Linear(2, 1)
        >>> load_matching(layer, {"weight": torch.ones(1, 2), "bias": torch.zeros(1)}, "w.pt")
        >>> layer.weight.tolist()
        [[1.0, 1.0]]
    """
    want = module.state_dict()
    missing = sorted(set(want) - set(state))
    unexpected = sorted(set(state) - set(want))
    wrong = [
        f"{k}: file {tuple(v.shape)} vs module {tuple(want[k].shape)}"
        for k, v in state.items()
        if k in want and isinstance(v, torch.Tensor) and v.shape != want[k].shape
    ]
    if missing or unexpected or wrong:
        raise ValueError(
            f"{where} does not fit {type(module).__name__}: missing {missing[:5]}, unexpected "
            f"{unexpected[:5]} (of {len(missing)}/{len(unexpected)}), other shapes {wrong[:3]}."
            + (f" {hint}" if hint else "")
        )
    module.load_state_dict(dict(state))
