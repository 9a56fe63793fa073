"""Deprecated: the checkpoint readers moved to core, :mod:`selfsup.checkpoints`.

``find_prefix`` is :func:`selfsup.checkpoints.find_module_prefix`; ``load_checkpoint_file``
and ``read_state_dict`` keep their names. This module is removed in the next release.
"""

from __future__ import annotations

import warnings

from selfsup.checkpoints import find_module_prefix as find_prefix
from selfsup.checkpoints import load_checkpoint_file, read_state_dict

__all__ = ["find_prefix", "load_checkpoint_file", "read_state_dict"]

warnings.warn(
    "selfsup_audio.checkpoints is deprecated: import load_checkpoint_file, read_state_dict and "
    "find_module_prefix (was find_prefix) from selfsup.checkpoints.",
    DeprecationWarning,
    stacklevel=2,
)
