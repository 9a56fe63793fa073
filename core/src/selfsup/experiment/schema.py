"""Methods built once their data's schema is known, with the schema saved in checkpoints.

Some methods cannot create their layers in ``__init__``: the number of features, their
vocabularies or the preprocessing come from the data (a fitted table, feature declarations).
Such a method is *unmaterialised* until :meth:`~selfsup.experiment.Method.bind_data` (or a
direct call) gives it the schema; it then builds its layers and keeps the schema as plain data
in :class:`SchemaState`, the extra state of a submodule, so every ``state_dict`` and Lightning
checkpoint carries it. :class:`LazySchemaModule` adds what every such method repeats:
``materialized``, :meth:`~LazySchemaModule.require_built` with an error that says how to give
the schema, and rebuilding an unmaterialised method from the schema saved in a state dict when
it is loaded.

Loading never runs code: checkpoints are read with ``torch.load(weights_only=True)``, the
schema is JSON-like data (``dict`` / ``list`` / ``str`` / numbers / ``bool`` / ``None``, checked by
:func:`check_plain_data` when :class:`SchemaState` stores it), and a method's
:meth:`~LazySchemaModule.rebuild_from_schema` validates what it reads before building (it never
imports or calls a name found there).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any, ClassVar

from torch import nn

__all__ = ["LazySchemaModule", "SchemaState", "check_plain_data"]

# numbers.Real also admits NumPy scalars, which fitted statistics often are
_LEAVES = (str, numbers.Real, type(None))
_MAX_DEPTH = 64


def check_plain_data(value: Any, where: str = "schema") -> None:
    """Raise unless ``value`` is plain data: nested ``dict`` / ``list`` / ``tuple`` of ``str``,
    real numbers (``bool``, ``int``, ``float``, NumPy scalars) and ``None``; dict keys are
    ``str``, numbers or ``None`` (vocabularies of raw ids need numeric keys).

    Raises:
        ValueError: anything else (a tensor, an object, a function), naming its path, or
            nesting deeper than 64 levels.

    Examples:
        >>> check_plain_data({"columns": ["age", "job"], "vocab": {"a": 1}, "scale": 0.5})
        >>> check_plain_data({"f": print}, "spec")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: spec['f'] must be plain data (...), got builtin_function_or_method.
    """
    # iterative, so a deeply nested state dict cannot exhaust the interpreter's stack
    stack: list[tuple[Any, str, int]] = [(value, where, 0)]
    while stack:
        item, path, depth = stack.pop()
        if depth > _MAX_DEPTH:
            raise ValueError(f"{path} is nested deeper than {_MAX_DEPTH} levels.")
        if isinstance(item, _LEAVES):
            continue
        if isinstance(item, Mapping):
            for key, sub in item.items():
                if not isinstance(key, _LEAVES):
                    raise ValueError(
                        f"{path} has a key of type {type(key).__name__}; keys must be str, "
                        "numbers, bool or None."
                    )
                stack.append((sub, f"{path}[{key!r}]", depth + 1))
            continue
        if isinstance(item, list | tuple):
            stack.extend((sub, f"{path}[{i}]", depth + 1) for i, sub in enumerate(item))
            continue
        raise ValueError(
            f"{path} must be plain data (dict, list, str, number, bool, None), got "
            f"{type(item).__name__}."
        )


class SchemaState(nn.Module):
    """A JSON-like schema dict kept as this module's extra state, so checkpoints carry it.

    ``spec`` is ``{}`` until set. ``built`` (not saved) records whether the owning method has
    built its layers, from this schema or otherwise (e.g. sizes given to ``__init__``); it is
    what :attr:`LazySchemaModule.materialized` reports. Extra state is saved as the key
    ``"<prefix><attribute>._extra_state"``, so an owner that keeps the attribute name keeps its
    checkpoint layout.

    Shapes:
        spec: a plain-data ``dict`` (see :func:`check_plain_data`); no tensors.

    Raises:
        ValueError: :meth:`set` (and loading) with something that is not plain data.

    Examples:
        >>> state = SchemaState()
        >>> state.set({"columns": ["age", "job"]})
        >>> state.state_dict()["_extra_state"]
        {'columns': ['age', 'job']}
        >>> fresh = SchemaState()
        >>> _ = fresh.load_state_dict(state.state_dict())
        >>> fresh.spec, fresh.built
        ({'columns': ['age', 'job']}, False)
    """

    def __init__(self) -> None:
        super().__init__()
        self.spec: dict[str, Any] = {}
        self.built = False

    @property
    def is_set(self) -> bool:
        """Whether a schema is held (``spec`` is not empty)."""
        return bool(self.spec)

    def set(self, spec: Mapping[str, Any]) -> None:
        """Hold ``spec`` (``{}`` for none), checked to be plain data; the dict is copied."""
        spec = dict(spec or {})
        check_plain_data(spec, f"{type(self).__name__} spec")
        self.spec = spec

    def get_extra_state(self) -> Any:
        return self.spec

    def set_extra_state(self, state: Any) -> None:
        if state is not None and not isinstance(state, Mapping):
            raise ValueError(
                f"the saved schema must be a dict, got {type(state).__name__}; load a state dict "
                "saved by the same method."
            )
        self.set(state or {})


class LazySchemaModule(nn.Module):
    """Mixin for a method whose layers are built from its data's schema (see the module docs).

    A subclass keeps a :class:`SchemaState` (or a subclass of it) in the attribute named by
    :attr:`schema_attribute`, sets its ``built`` flag when it builds its layers, and implements
    :meth:`rebuild_from_schema`. In return it gets :attr:`materialized`,
    :meth:`require_built`, and loading: an unmaterialised instance whose ``load_state_dict``
    finds a saved schema rebuilds its layers from it first, so a bare ``Method()`` loads any
    checkpoint it wrote (the key layout is the method's own: nothing is added). Put it before
    :class:`~selfsup.experiment.Method` in the bases.

    Class attributes:
        schema_attribute: Name of the :class:`SchemaState` attribute (default ``"schema"``).
        schema_name: What the schema is called in errors (default ``"feature schema"``).
        build_hint: How to give the schema, ending the :meth:`require_built` error.

    Examples:
        >>> import torch
        >>> class Lazy(LazySchemaModule):
        ...     build_hint = "call build(in_dim)."
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.schema = SchemaState()
        ...     def build(self, in_dim):
        ...         self.linear = torch.nn.Linear(in_dim, 2)
        ...         self.schema.set({"in_dim": in_dim})
        ...         self.schema.built = True
        ...     def rebuild_from_schema(self, spec):
        ...         self.build(int(spec["in_dim"]))
        >>> trained = Lazy()
        >>> trained.build(3)
        >>> fresh = Lazy()
        >>> fresh.materialized
        False
        >>> _ = fresh.load_state_dict(trained.state_dict())
        >>> fresh.materialized, fresh.linear.in_features
        (True, 3)
    """

    schema_attribute: ClassVar[str] = "schema"
    schema_name: ClassVar[str] = "feature schema"
    build_hint: ClassVar[str] = "build it with its data's schema before use."

    @property
    def schema_state(self) -> SchemaState:
        """The :class:`SchemaState` holding this method's schema."""
        state = getattr(self, self.schema_attribute, None)
        if not isinstance(state, SchemaState):
            raise TypeError(
                f"{type(self).__name__}.{self.schema_attribute} must be a SchemaState (set it in "
                "__init__ before building anything)."
            )
        return state

    @property
    def materialized(self) -> bool:
        """Whether the layers exist (built from a schema, or from sizes given to ``__init__``)."""
        return self.schema_state.built

    def require_built(self) -> None:
        """Raise unless :attr:`materialized`.

        Raises:
            RuntimeError: ``"<Method> has no <schema_name> yet: <build_hint>"``.
        """
        if not self.materialized:
            raise RuntimeError(
                f"{type(self).__name__} has no {self.schema_name} yet: {self.build_hint}"
            )

    def rebuild_from_schema(self, spec: Any) -> None:
        """Build the layers from a schema saved by this class, as read from a state dict.

        Called by ``load_state_dict`` on an unmaterialised instance, before the weights are
        copied. ``spec`` comes from a file: check its structure and types (raise ``ValueError``
        naming the entry) before building, and never import or call a name read from it. The
        :class:`SchemaState` then stores it, refusing anything but plain data.
        """
        raise NotImplementedError(
            f"{type(self).__name__} saves a schema but does not define rebuild_from_schema()."
        )

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        # torch loads a module's own entries and then walks its children, so layers built here
        # receive their saved weights in this very call
        spec = state_dict.get(f"{prefix}{self.schema_attribute}._extra_state")
        if spec and not self.materialized:
            self.rebuild_from_schema(spec)
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )
