"""Tables that ship inside scikit-learn, as data modules (quickstart and examples; no files)."""

from __future__ import annotations

from typing import Any

from selfsup.imports import require
from selfsup_tabular.data.datamodule import TabularCSVDataModule

__all__ = ["BUILTIN_TABLES", "BuiltinTableDataModule"]

#: Name -> scikit-learn loader and task. Every table has its label in the column ``target``.
BUILTIN_TABLES = {
    "breast_cancer": ("load_breast_cancer", "classification"),
    "wine": ("load_wine", "classification"),
    "iris": ("load_iris", "classification"),
    "diabetes": ("load_diabetes", "regression"),
}


class BuiltinTableDataModule(TabularCSVDataModule):
    """:class:`~selfsup_tabular.data.TabularCSVDataModule` over a table bundled with scikit-learn.

    Same splits, preprocessing and batches as the CSV module; the rows come from
    ``sklearn.datasets.load_<name>(as_frame=True)`` (files inside the installed scikit-learn, so
    nothing is downloaded and no data folder is needed). The label is the column ``target``.
    ``selfsup embed`` gets every row once (:meth:`predict_dataloader`); the ids are the row
    numbers of scikit-learn's frame.

    Needs scikit-learn: ``pip install "selfsup-tabular[builtin]"``.

    Args:
        name: One of :data:`BUILTIN_TABLES` (default ``"breast_cancer"``).
        val_fraction: Share of rows held out for validation and probes (default 0.25).
        batch_size: Training batch size (default 128).
        **kwargs: Other arguments of :class:`~selfsup_tabular.data.TabularCSVDataModule`
            (``scaling``, ``seed``, ...).

    Raises:
        ValueError: On an unknown table name.
        ImportError: Without scikit-learn (the message gives the pip command).

    Examples:
        >>> data = BuiltinTableDataModule("wine")
        >>> data.task, data.target
        ('classification', 'target')
    """

    def __init__(
        self,
        name: str = "breast_cancer",
        val_fraction: float = 0.25,
        batch_size: int = 128,
        **kwargs: Any,
    ) -> None:
        if name not in BUILTIN_TABLES:
            raise ValueError(f"name must be one of {sorted(BUILTIN_TABLES)}, got {name!r}.")
        loader, task = BUILTIN_TABLES[name]
        super().__init__(
            path=f"sklearn:{name}",
            target="target",
            task=task,
            val_fraction=val_fraction,
            batch_size=batch_size,
            **kwargs,
        )
        self.name = name
        self._loader_name = loader

    def _read(self, path: str) -> Any:
        datasets = require("sklearn.datasets", "scikit-learn", extra="selfsup-tabular[builtin]")
        return getattr(datasets, self._loader_name)(as_frame=True).frame
