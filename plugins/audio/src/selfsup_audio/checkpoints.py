"""Deprecated: the checkpoint readers moved to :mod:`selfsup.checkpoints` (kept for one release).

``find_prefix`` is :func:`selfsup.checkpoints.find_module_prefix`; ``load_checkpoint_file`` and
``read_state_dict`` keep their names.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from selfsup.deprecation import moved_attribute

if TYPE_CHECKING:
    from selfsup.checkpoints import find_module_prefix as find_prefix
    from selfsup.checkpoints import load_checkpoint_file, read_state_dict

__all__ = ["find_prefix", "load_checkpoint_file", "read_state_dict"]

_MOVED = dict.fromkeys(["load_checkpoint_file", "read_state_dict"], "selfsup.checkpoints")


def __getattr__(name: str) -> Any:
    if name == "find_prefix":  # renamed as well as moved
        warnings.warn(
            "selfsup_audio.checkpoints.find_prefix is deprecated: use "
            "selfsup.checkpoints.find_module_prefix (same arguments).",
            DeprecationWarning,
            stacklevel=2,
        )
        from selfsup.checkpoints import find_module_prefix

        return find_module_prefix
    return moved_attribute(__name__, _MOVED, name)
