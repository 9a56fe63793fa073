"""Checks for modules that forward moved names (:func:`selfsup.deprecation.forwarder`)."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["check_forwarded", "check_old_layout_loads"]


def check_forwarded(old: str, new: str, names: Iterable[str] | None = None) -> list[str]:
    """Assert that module ``old`` forwards ``names`` (default: its ``__all__``) to module ``new``.

    Each name must come back as the very object ``new`` holds, with one ``DeprecationWarning``
    that names both paths; an unknown name must raise ``AttributeError``. Returns the names
    checked.

    Raises:
        AssertionError: a name missing, another object, or no (or a wrong) warning.

    Examples:
        >>> check_forwarded("selfsup_vision.batches", "selfsup_vision.batch")  # doctest: +SKIP
        ['PIXEL_TOLERANCE', 'ImageBatch', 'parse_image_batch']
    """
    module, target = importlib.import_module(old), importlib.import_module(new)
    checked = list(names if names is not None else module.__all__)
    for name in checked:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = getattr(module, name)
        messages = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]
        if not any(f"{old}.{name} is deprecated" in m and new in m for m in messages):
            raise AssertionError(
                f"{old}.{name}: no DeprecationWarning naming {new}, got {messages}"
            )
        if value is not getattr(target, name):
            raise AssertionError(f"{old}.{name} is not {new}.{name}")
    if hasattr(module, "no_such_name_forwarded"):
        raise AssertionError(f"{old} answers an unknown name instead of raising AttributeError")
    return checked


def check_old_layout_loads(
    build: Callable[[], Any], old_key: Callable[[str], str]
) -> dict[str, Any]:
    """Assert that a checkpoint in an older key layout loads into the current module.

    ``build()`` makes the module (seed it); its state dict is written in the old layout by
    renaming every key with ``old_key``, loaded strictly into a second ``build()``, and every
    tensor must arrive unchanged. Returns the old-layout state dict, for further checks.

    Raises:
        AssertionError: nothing was renamed, or a tensor differs after loading.
        RuntimeError: the strict load failed (missing / unexpected keys, shapes).

    Examples:
        >>> import torch
        >>> def build():
        ...     return torch.nn.Sequential(torch.nn.Linear(2, 2))
        >>> check_old_layout_loads(build, lambda k: k)  # doctest: +SKIP
    """
    import torch

    saved = build().state_dict()
    old = {old_key(k): v for k, v in saved.items()}
    assert set(old) != set(saved), "old_key renamed nothing: the test would prove nothing"
    fresh = build()
    fresh.load_state_dict(old, strict=True)
    loaded = fresh.state_dict()
    for key, value in saved.items():
        torch.testing.assert_close(loaded[key], value, rtol=0, atol=0, msg=key)
    return old
