"""Where a data module reads its files: the user's folder, never a default of ours.

Every data module that reads files takes an explicit folder (``root=`` / ``data_root=``);
the environment variable ``SELFSUP_DATA`` may supply it instead. When neither is
given there is no fallback (in particular not into any development checkout): the
error names both ways to say where the data is.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DATA_ENV", "DataRootError", "data_root_or_none", "resolve_data_root"]

#: The environment variable that may name the data folder when a config does not.
DATA_ENV = "SELFSUP_DATA"


class DataRootError(FileNotFoundError):
    """No data folder was given, or the one given does not exist."""


def data_root_or_none(root: str | os.PathLike[str] | None = None) -> Path | None:
    """``root`` if given, else ``$SELFSUP_DATA`` if set, else ``None`` (no checks).

    Examples:
        >>> data_root_or_none("/data/cifar10")
        PosixPath('/data/cifar10')
    """
    if root is not None and str(root) != "":
        return Path(root).expanduser()
    env = os.environ.get(DATA_ENV, "")
    return Path(env).expanduser() if env else None


def resolve_data_root(
    root: str | os.PathLike[str] | None = None,
    *,
    owner: str = "this data module",
    parameter: str = "root",
    must_exist: bool = True,
) -> Path:
    """The folder a data module reads: ``root``, else ``$SELFSUP_DATA``.

    Args:
        root: The folder the user passed (a config's ``init_args``), or ``None``.
        owner: Who asks, for the error message (``"PlanetoidDataModule"``).
        parameter: The name of ``owner``'s argument, for the error message.
        must_exist: Also raise when the folder does not exist.

    Raises:
        DataRootError: neither ``root`` nor ``SELFSUP_DATA`` is given (the message names
            both), or the folder does not exist.

    Examples:
        >>> import os
        >>> os.environ["SELFSUP_DATA"] = "/tmp"
        >>> resolve_data_root(None, owner="MyDataModule")
        PosixPath('/tmp')
    """
    path = data_root_or_none(root)
    if path is None:
        raise DataRootError(
            f"{owner}: no data folder given. Pass {parameter}=/path/to/data (in a config: "
            f"`init_args: {{{parameter}: /path/to/data}}`) or set the environment variable "
            f"{DATA_ENV}=/path/to/data."
        )
    if must_exist and not path.is_dir():
        source = f"{parameter}={root!s}" if root not in (None, "") else f"{DATA_ENV}={path}"
        raise DataRootError(
            f"{owner}: the data folder {str(path)!r} (from {source}) does not exist or is not "
            f"a folder; pass {parameter}= or set {DATA_ENV} to the folder that holds the data."
        )
    return path
