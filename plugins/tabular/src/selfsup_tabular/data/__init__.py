"""Reading tables and turning them into tensors (pandas; imported on demand)."""

from selfsup_tabular.data.builtin import BUILTIN_TABLES, BuiltinTableDataModule
from selfsup_tabular.data.cells import DEFAULT_MISSING_VALUES
from selfsup_tabular.data.datamodule import TabularCSVDataModule
from selfsup_tabular.data.labels import TargetEncoder
from selfsup_tabular.data.preprocessing import MISSING_INDEX, UNKNOWN_INDEX, TabularPreprocessor
from selfsup_tabular.data.preprocessing_state import PreprocessingState
from selfsup_tabular.data.tables import detect_delimiter, read_table, resolve_column

__all__ = [
    "BUILTIN_TABLES",
    "DEFAULT_MISSING_VALUES",
    "BuiltinTableDataModule",
    "MISSING_INDEX",
    "PreprocessingState",
    "UNKNOWN_INDEX",
    "TabularCSVDataModule",
    "TabularPreprocessor",
    "TargetEncoder",
    "detect_delimiter",
    "read_table",
    "resolve_column",
]
