"""Checks for modules that forward moved names (:func:`selfsup.deprecation.forwarder`)."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Iterable

__all__ = ["check_forwarded"]


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
