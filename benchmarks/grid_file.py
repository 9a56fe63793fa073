"""Grid files of the settings sweeps (``vision/grid.py``, ``tabular/sweep.py``).

One run per non-empty line, ``name: extra arguments`` (shell-quoted); ``#`` starts a comment.
Names are unique (they name the runs' logs) and use letters, digits, ``_``, ``-`` and ``.``.
"""

from __future__ import annotations

import shlex
from pathlib import Path

__all__ = ["read_grid"]


def read_grid(path: str | Path) -> list[tuple[str, list[str]]]:
    """``(name, args)`` per grid line, in file order.

    Raises:
        ValueError: a line without ``name:``, a name used twice, or no run at all; the message
            names the file and line.

    Examples:
        >>> import tempfile, os
        >>> with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        ...     _ = f.write("base: --lr 1e-3  # the default\\n")
        >>> read_grid(f.name)
        [('base', ['--lr', '1e-3'])]
        >>> os.unlink(f.name)
    """
    runs: list[tuple[str, list[str]]] = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, rest = line.partition(":")
        name = name.strip()
        if (
            not sep
            or not name
            or not name.replace("_", "").replace("-", "").replace(".", "").isalnum()
        ):
            raise ValueError(
                f"{path}:{number}: expected 'name: --arg value ...' (name: letters, digits, "
                f"'_', '-', '.'), got {line!r}"
            )
        if name in {n for n, _ in runs}:
            raise ValueError(f"{path}:{number}: run name {name!r} appears twice")
        runs.append((name, shlex.split(rest)))
    if not runs:
        raise ValueError(f"{path} holds no runs")
    return runs
