"""A fitted preprocessing kept in a method's ``state_dict``, and the one a data module offers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from selfsup.experiment.schema import SchemaState
from selfsup_tabular.data.preprocessing import TabularPreprocessor

__all__ = ["PreprocessingState", "fitted_preprocessor"]


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
