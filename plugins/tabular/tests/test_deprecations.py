"""Old module paths of the tabular plugin forward to the skeleton's for one release."""

from __future__ import annotations

import pytest

from selfsup.testing.deprecations import check_forwarded

MOVED = [
    ("selfsup_tabular.downstream", "selfsup_tabular.evaluation.downstream"),
    ("selfsup_tabular.encoders", "selfsup_tabular.batch"),
]


@pytest.mark.parametrize(("old", "new"), MOVED, ids=[o for o, _ in MOVED])
def test_every_public_name_is_forwarded_with_a_warning(old: str, new: str) -> None:
    # selfsup_tabular.encoders stays a package: only the batch checks left it
    names = ["check_tabular_batch", "encode_rows", "is_frame"] if old.endswith("encoders") else None
    assert check_forwarded(old, new, names)


@pytest.mark.parametrize(
    ("new", "names"),
    [
        ("selfsup_tabular.data.labels", ["TargetEncoder"]),
        ("selfsup_tabular.data.preprocessing_state", ["PreprocessingState", "fitted_preprocessor"]),
    ],
)
def test_names_split_out_of_preprocessing_are_forwarded(new: str, names: list[str]) -> None:
    assert check_forwarded("selfsup_tabular.data.preprocessing", new, names) == names
