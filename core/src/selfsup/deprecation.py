"""Moved names keep their old import path for one release, with a warning that names the new one.

A replaced class whose successor takes other arguments stays callable the old way through
:func:`replaced_by`.

A module at the old path lists what moved and forwards each name on first use (PEP 562)::

    from selfsup.deprecation import forwarder

    _MOVED = ("ImageBatch", "parse_image_batch")
    __all__ = list(_MOVED)
    __getattr__ = forwarder(__name__, "selfsup_vision.batch", _MOVED)

The warning fires where a name is read (``from old import name`` included) and points at the
caller's line. Configs and saved hyperparameters name classes by path (``class_path:
selfsup_vision.transforms.simclr.SimCLRAugment``), so such a module keeps them loading while
users update them. Private names are never forwarded.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["forwarder", "moved_attribute", "replaced_by"]


def moved_attribute(module: str, moved: Mapping[str, str], name: str) -> Any:
    """``name`` from its new module ``moved[name]``, with a :class:`DeprecationWarning`.

    Raises:
        AttributeError: ``name`` did not move from ``module`` (as a missing attribute would).

    Examples:
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     join = moved_attribute("old.paths", {"join": "os.path"}, "join")
        >>> import os
        >>> join is os.path.join, str(caught[0].message)
        (True, 'old.paths.join is deprecated: import it from os.path (the old path is removed in the next release).')
    """  # noqa: E501
    if name not in moved:
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    new = moved[name]
    # stacklevel 3: past this function and the old module's __getattr__, to the importing line
    warnings.warn(
        f"{module}.{name} is deprecated: import it from {new} (the old path is removed in the "
        "next release).",
        DeprecationWarning,
        stacklevel=3,
    )
    return getattr(importlib.import_module(new), name)


def forwarder(module: str, new: str, names: Iterable[str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` forwarding ``names`` from ``module`` to module ``new`` with a
    :class:`DeprecationWarning` (:func:`moved_attribute`); any other name is missing.

    Examples:
        >>> import warnings
        >>> getattr_ = forwarder("old.paths", "os.path", ["join"])
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("ignore")
        ...     import os
        ...     getattr_("join") is os.path.join
        True
    """
    moved = dict.fromkeys(names, new)

    def __getattr__(name: str) -> Any:
        return moved_attribute(module, moved, name)

    return __getattr__


def replaced_by(old: str, new: str, build: Callable[..., Any]) -> Callable[..., Any]:
    """A stand-in for the replaced callable ``old``: each call warns (:class:`DeprecationWarning`,
    naming ``new``) and returns ``build(*args, **kwargs)``, which maps the old arguments onto
    the replacement.

    Examples:
        >>> import warnings
        >>> Pair = replaced_by("old.Pair", "tuple", lambda a, b: (a, b))
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     pair = Pair(1, 2)
        >>> pair, str(caught[0].message)
        ((1, 2), 'old.Pair is deprecated: use tuple (the old name is removed in the next release).')
    """

    def stand_in(*args: Any, **kwargs: Any) -> Any:
        warnings.warn(
            f"{old} is deprecated: use {new} (the old name is removed in the next release).",
            DeprecationWarning,
            stacklevel=2,
        )
        return build(*args, **kwargs)

    stand_in.__name__ = stand_in.__qualname__ = old.rpartition(".")[2]
    stand_in.__doc__ = f"Deprecated: use {new}."
    return stand_in
