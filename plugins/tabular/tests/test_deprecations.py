"""Old module paths of the tabular plugin forward to the skeleton's for one release."""

from __future__ import annotations

import importlib

import pytest

MOVED = [
    ("selfsup_tabular.downstream", "selfsup_tabular.evaluation.downstream"),
    ("selfsup_tabular.encoders", "selfsup_tabular.batch"),
]


@pytest.mark.parametrize(("old", "new"), MOVED, ids=[o for o, _ in MOVED])
def test_every_public_name_is_forwarded_with_a_warning(old: str, new: str) -> None:
    module, target = importlib.import_module(old), importlib.import_module(new)
    for name in target.__all__:
        with pytest.warns(DeprecationWarning, match=rf"{old}\.{name} is deprecated.*{new}"):
            assert getattr(module, name) is getattr(target, name)
    with pytest.raises(AttributeError):
        _ = module.no_such_name
