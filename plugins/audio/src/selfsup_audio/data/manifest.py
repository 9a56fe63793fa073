"""Reading an :class:`~selfsup_audio.data.AudioFolderDataModule` CSV manifest: the header, the
rows and every cell checked, with messages that name the file and line.

Split out of :mod:`selfsup_audio.data.folder`, which re-exports :data:`MANIFEST_COLUMNS`: this
module is the file format, ``folder`` the data module that reads the clips a manifest lists.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path, PurePosixPath

from selfsup.checks import repeated

__all__ = ["MANIFEST_COLUMNS", "manifest_rows", "read_manifest"]

#: The manifest columns read; any other column (a comment, a duration) is ignored.
MANIFEST_COLUMNS = ("path", "label", "sample_rate")


def _parse_rate(text: str, where: str) -> int:
    """A manifest's ``sample_rate`` cell as a whole number of Hz > 0."""
    try:
        value = float(text.strip())
    except ValueError:
        value = float("nan")
    if not (value.is_integer() and value > 0):
        raise ValueError(
            f"{where}, column 'sample_rate': {text!r} is not a sample rate in Hz (a whole number "
            "> 0, e.g. 16000); fix the cell or drop the column."
        )
    return int(value)


def manifest_rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """``(header, [(line, cells), ...])`` of the CSV, blank rows left out."""
    rows: list[tuple[int, list[str]]] = []
    with open(path, newline="", encoding="utf-8-sig") as handle:  # -sig: Excel's BOM
        reader = csv.reader(handle)
        try:
            header = [c.strip() for c in next(reader, [])]
            for cells in reader:
                if any(c.strip() for c in cells):
                    rows.append((reader.line_num, cells))
        except UnicodeDecodeError as err:
            raise ValueError(
                f"{path}: the manifest is not UTF-8 text (byte {err.object[err.start]:#04x} "
                f"at offset {err.start}); save it as UTF-8 (Excel: 'CSV UTF-8')."
            ) from None
        except csv.Error as err:
            where = f"{path}, line {reader.line_num}"
            raise ValueError(f"{where}: not valid CSV ({err}).") from None
    return header, rows


def read_manifest(
    path: Path,
) -> tuple[list[tuple[str, str | None]], dict[str, tuple[int, int | None]]]:
    """The clips a manifest lists, checked: ``([(id, label or None), ...], {id: (line, rate)})``.

    ``id`` is the ``path`` cell with ``/`` separators, ``line`` its CSV line (for messages) and
    ``rate`` the ``sample_rate`` cell in Hz, or None without that column. Entries keep the
    manifest's order.

    Raises:
        ValueError: not UTF-8 or not CSV, no ``path`` column, a known column in another case,
            a repeated column, a row with the wrong number of cells, an empty ``path``, a file
            listed twice, an empty ``label`` or a bad ``sample_rate`` cell.
        FileNotFoundError: the manifest lists no clip.
    """
    header, rows = manifest_rows(path)
    for name in header:
        wanted = name.lower().replace(" ", "_").replace("-", "_")
        if name not in MANIFEST_COLUMNS and wanted in MANIFEST_COLUMNS:
            raise ValueError(
                f"{path}: column {name!r} would be ignored: column names are lower case, "
                f"rename it to {wanted!r}."
            )
    twice = repeated(c for c in header if c)
    if twice:
        raise ValueError(f"{path}: the header names the columns {twice} more than once.")
    if "path" not in header:
        raise ValueError(
            f"{path}: the manifest needs a header row with a 'path' column (and optionally "
            f"'label' and 'sample_rate'), got columns {header}."
        )
    column = {name: i for i, name in enumerate(header)}
    entries: list[tuple[str, str | None]] = []
    first: dict[str, tuple[int, str]] = {}  # the file -> its first (line, cell)
    declared: dict[str, tuple[int, int | None]] = {}
    for line, cells in rows:
        if len(cells) != len(header):
            raise ValueError(
                f"{path}, line {line}: {len(cells)} cells for the {len(header)} columns "
                f'{header}; quote a cell that holds a comma ("my, clip.wav").'
            )
        cell = cells[column["path"]].strip()
        if not cell:
            raise ValueError(f"{path}, line {line}: empty 'path'.")
        clip_id = PurePosixPath(cell.replace("\\", "/")).as_posix()
        # the same file under two spellings ("a.wav", "./x/../a.wav", absolute) counts once
        key = os.path.normcase(os.path.normpath(path.parent / clip_id))
        if key in first:
            was_line, was_cell = first[key]
            raise ValueError(
                f"{path}, line {line}: {cell!r} is listed twice (line {was_line}: "
                f"{was_cell!r}); list each clip once."
            )
        first[key] = (line, cell)
        label = None
        if "label" in column:
            label = cells[column["label"]].strip()
            if not label:
                raise ValueError(
                    f"{path}, line {line}: empty 'label' for {cell!r}; label every clip or "
                    "drop the label column."
                )
        rate = None
        if "sample_rate" in column:
            rate = _parse_rate(cells[column["sample_rate"]], f"{path}, line {line}")
        declared[clip_id] = (line, rate)
        entries.append((clip_id, label))
    if not entries:
        raise FileNotFoundError(f"{path}: the manifest lists no clip.")
    return entries, declared
