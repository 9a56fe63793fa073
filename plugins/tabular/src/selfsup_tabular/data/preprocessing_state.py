"""A fitted preprocessing kept in a method's ``state_dict``, and the one a data module offers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from selfsup.experiment.schema import SchemaState
from selfsup_tabular.data.preprocessing import TabularPreprocessor

__all__ = ["PreprocessingState", "checked_schema", "fitted_preprocessor"]


class PreprocessingState(SchemaState):
    """Keeps a fitted :class:`TabularPreprocessor` in a method's ``state_dict``.

    The state is the JSON-serialisable :meth:`TabularPreprocessor.to_dict` (``{}`` while the
    method has no fitted preprocessing), saved as this module's extra state (a
    :class:`~selfsup.experiment.SchemaState`) so that it travels with checkpoints and loads with
    ``torch.load(weights_only=True)``. Exported encoders carry the same dict in ``config.json``
    instead (safetensors holds tensors only).

    Examples:
        >>> import pandas as pd
        >>> state = PreprocessingState()
        >>> state.set(TabularPreprocessor().fit(pd.DataFrame({"a": ["1", "2"]})).to_dict())
        >>> state.preprocessor.feature_names
        ['a']
    """

    def __init__(self) -> None:
        super().__init__()
        self._preprocessor: TabularPreprocessor | None = None

    @property
    def fitted(self) -> bool:
        """Whether a fitted preprocessing is held."""
        return self.is_set

    @property
    def preprocessor(self) -> TabularPreprocessor:
        """The fitted preprocessor (rebuilt from the spec on first use).

        Raises:
            RuntimeError: nothing was fitted (the message says how to provide it).
        """
        if not self.spec:
            raise RuntimeError(
                "this model carries no fitted preprocessing, so it cannot read raw rows (a "
                "DataFrame); train it with TabularCSVDataModule, call materialize(fitted_"
                "preprocessor), or pass encoded batches (TabularPreprocessor.transform) instead."
            )
        if self._preprocessor is None:
            self._preprocessor = TabularPreprocessor.from_dict(self.spec)
        return self._preprocessor

    def set(self, spec: Mapping[str, Any]) -> None:
        """Hold ``spec`` (a :meth:`TabularPreprocessor.to_dict`, or ``{}`` for none)."""
        super().set(spec)
        self._preprocessor = None


def fitted_preprocessor(data: Any) -> TabularPreprocessor | None:
    """The fitted :class:`TabularPreprocessor` a data module exposes as ``data.preprocessor``
    (e.g. :class:`~selfsup_tabular.data.TabularCSVDataModule` after ``setup("fit")``), else
    ``None``. What the tabular methods' ``bind_data`` materialise from.

    Examples:
        >>> from types import SimpleNamespace
        >>> fitted_preprocessor(SimpleNamespace(preprocessor=TabularPreprocessor())) is None
        True
    """
    pre = getattr(data, "preprocessor", None)
    if isinstance(pre, TabularPreprocessor) and pre.fitted:
        return pre
    return None


def checked_schema(
    preprocessor: Any, current: tuple[int, list[int]] | None
) -> tuple[dict[str, Any], int, list[int]]:
    """``(spec, num_numerical, cardinalities)`` of a fitted preprocessor (or its ``to_dict()``),
    checked before anything is built from it and, when the model already has a schema
    (``current``), checked against that.

    Raises:
        ValueError: a malformed state (a dict may come from a stranger's checkpoint), or a
            schema other than ``current``.
    """
    spec = preprocessor if isinstance(preprocessor, dict) else preprocessor.to_dict()
    TabularPreprocessor.from_dict(spec)
    num = len(spec["numerical"])
    cards = [len(s["vocab"]) for s in spec["categorical"]]
    if current is not None and (num, cards) != tuple(current):
        raise ValueError(
            f"schema mismatch: the model has {current[0]} numerical features and "
            f"cardinalities {current[1]}, the preprocessor {num} and {cards}."
        )
    return spec, num, cards
