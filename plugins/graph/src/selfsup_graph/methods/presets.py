"""Method presets: a subclass that only changes constructor defaults, without re-listing them.

A preset such as :class:`~selfsup_graph.methods.GraphMAE2` is its base class with other default
hyper-parameters. Configs (``class_path: selfsup_graph.methods.GraphMAE2``), the plugin registry,
saved hyperparameters and ``GraphMAE2()`` in Python all name the class, so it stays a class; but
LightningCLI/jsonargparse read the constructor's signature (names, annotations, defaults, help
from the docstrings of the class and its bases), so ``__init__(**kwargs)`` would hide every
argument from them. :func:`preset` therefore gives the subclass a copy of the base's
``__init__`` — the same code object, globals, closure and annotations — with the new defaults
in ``__defaults__``/``__kwdefaults__``: the signature is the base's, typed and explicit, and
calling it runs exactly the base's constructor.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["preset"]

C = TypeVar("C", bound=type)


def _with_defaults(init: types.FunctionType, defaults: dict[str, Any]) -> types.FunctionType:
    params = inspect.signature(init).parameters
    missing = sorted(set(defaults) - {n for n, p in params.items() if p.default is not p.empty})
    if missing:
        # a new default on an argument without one would reorder the positional defaults
        raise TypeError(f"{init.__qualname__} has no argument with a default named {missing}.")
    positional = [
        p for p in params.values() if p.kind is not p.KEYWORD_ONLY and p.default is not p.empty
    ]
    copy = types.FunctionType(
        init.__code__,
        init.__globals__,
        init.__name__,
        tuple(defaults.get(p.name, p.default) for p in positional),
        init.__closure__,
    )
    if init.__kwdefaults__ is not None:
        copy.__kwdefaults__ = {k: defaults.get(k, v) for k, v in init.__kwdefaults__.items()}
    copy.__annotations__ = dict(init.__annotations__)
    copy.__doc__ = init.__doc__
    copy.__module__ = init.__module__
    copy.__dict__.update(init.__dict__)
    return copy


def preset(**defaults: Any) -> Callable[[C], C]:
    """Class decorator: the subclass's constructor is its base's with ``defaults`` changed.

    The decorated class must not define ``__init__``; it gets a copy of its direct base's
    ``__init__`` whose signature differs only in the given defaults (every other argument,
    annotation and default is the base's). ``cls.preset_defaults`` records the changed ones.

    Args:
        defaults: ``argument=new default`` for arguments of the base constructor that already
            have a default.

    Raises:
        TypeError: The class defines ``__init__``, or a name is not an argument of the base
            constructor with a default.

    Examples:
        >>> import inspect
        >>> class Base:
        ...     def __init__(self, width: int = 8, depth: int = 2) -> None:
        ...         self.width, self.depth = width, depth
        >>> @preset(width=32)
        ... class Wide(Base):
        ...     '''Base, 32 wide.'''
        >>> {n: p.default for n, p in inspect.signature(Wide).parameters.items()}
        {'width': 32, 'depth': 2}
        >>> Wide().width, Wide(depth=3).depth, isinstance(Wide(), Base)
        (32, 3, True)
    """

    def decorate(cls: C) -> C:
        if "__init__" in vars(cls):
            raise TypeError(f"@preset class {cls.__name__} must not define __init__.")
        base = cls.__mro__[1]
        init = _with_defaults(base.__init__, defaults)
        init.__qualname__ = f"{cls.__qualname__}.__init__"
        if not init.__doc__ and base.__doc__ and "Args:" in base.__doc__:
            # the base documents its arguments in the class docstring; jsonargparse releases
            # that do not walk the bases read the preset's __init__ docstring for argument help
            init.__doc__ = base.__doc__[base.__doc__.index("Args:") :]
        cls.__init__ = init  # type: ignore[misc]
        cls.preset_defaults = types.MappingProxyType(dict(defaults))  # type: ignore[attr-defined]
        return cls

    return decorate
