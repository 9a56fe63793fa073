"""Reading delimited text and Parquet tables as strings, and naming their columns.

:func:`read_table` is what ``TabularCSVDataModule`` and ``selfsup embed`` read files with: every
value a stripped string (typing is :class:`~selfsup_tabular.data.TabularPreprocessor`'s job), the
field count of the table decided so that trailing delimiters, junk preambles, broken quoting, bad
encodings and wrong delimiters are recognised and reported with the file and line.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import numbers
import os
import warnings
from collections.abc import Sequence
from typing import Any

from selfsup.imports import require

__all__ = [
    "check_unique_names",
    "close_names",
    "detect_delimiter",
    "did_you_mean",
    "read_table",
    "resolve_column",
]


def detect_delimiter(
    path: str | os.PathLike[str], candidates: str = ",;\t", encoding: str = "utf-8-sig"
) -> str:
    """The delimiter of a text table among ``candidates`` (comma, semicolon, tab).

    Uses :class:`csv.Sniffer` on the first 64 KiB and falls back to the candidate that splits the
    first lines into the most equal, largest number of fields. A trailing delimiter at the end of
    lines does not change the answer (it only adds one to every count).

    Raises:
        ValueError: the file is empty.
    """
    with open(path, encoding=encoding, errors="replace") as fh:
        sample = fh.read(65536)
    lines = [ln for ln in sample.splitlines()[:50] if ln.strip()]
    if not lines:
        raise ValueError(f"{os.fspath(path)!r} is empty; expected a delimited text table.")
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=candidates).delimiter
    except csv.Error:
        pass
    best, best_score = ",", -1
    for cand in candidates:
        counts = [ln.count(cand) for ln in lines]
        mode = max(set(counts), key=counts.count)
        score = mode * counts.count(mode)
        if mode > 0 and score > best_score:
            best, best_score = cand, score
    return best


def read_table(
    path: str | os.PathLike[str],
    *,
    header: bool = True,
    delimiter: str | None = None,
    skip_malformed: bool = True,
    encoding: str = "utf-8-sig",
) -> Any:
    r"""Read a CSV/TSV (delimiter detected) or Parquet file into a ``pandas.DataFrame``.

    Every value is read as a string (typing happens in :class:`TabularPreprocessor`) and
    surrounding whitespace is stripped; quoted fields may hold the delimiter. Without a header
    the columns are named ``"0"``, ``"1"``, ...

    **Field counts.** The table's width is the field count most of the first 50 lines agree on,
    where a line ending in the delimiter (an empty last field) also counts as one field shorter:
    such a *trailing delimiter* (``a,b,c`` then ``1,x,3,``) is not a column and is removed, also
    when every line, header included, ends with one. Leading lines of another width (e.g. the
    ``|1x3 Cross validator`` first line of UCI ``adult.test``) are skipped with a warning, except
    a header line with several fields (it raises: its names would not match the columns); later
    lines of another width are skipped with a warning naming their line numbers when
    ``skip_malformed``, else they raise.

    Args:
        path: The file (``.parquet``/``.pq`` read as Parquet).
        header: Whether the first (non-junk) line holds column names (default True).
        delimiter: Field separator (default None: :func:`detect_delimiter`).
        skip_malformed: Skip lines of another width with a warning (default True) or raise.
        encoding: Text encoding (default ``"utf-8-sig"``: UTF-8, a leading byte order mark
            removed); e.g. ``"latin-1"`` for files exported by older spreadsheet programs.

    Raises:
        FileNotFoundError: ``path`` does not exist (the message names it).
        ImportError: a ``.parquet`` file without pyarrow installed.
        ValueError: an empty file, bytes that are not valid in ``encoding`` (file, byte offset,
            line), duplicate column names, a header whose field count is not the rows', a line
            of another width with ``skip_malformed=False``,
            or a table read as one column whose first line contains another likely delimiter
            (the message names it).

    Examples:
        >>> import pathlib, tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
        >>> _ = path.write_text("a,b,c\n1,x,3,\n2,y,4,\n")
        >>> read_table(path).columns.tolist()
        ['a', 'b', 'c']
    """
    pd = require("pandas", "pandas")
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"table not found: {path!r}; check the path (or SELFSUP_DATA).")
    if path.endswith((".parquet", ".pq")):
        require("pyarrow", "pyarrow", extra="selfsup-tabular[parquet]")
        frame = pd.read_parquet(path).rename(columns=str)
        check_unique_names(list(frame.columns), repr(path))
        return frame
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValueError(
            f"unknown encoding {encoding!r} for {path!r}; pass a Python codec name such as "
            "'utf-8', 'latin-1' or 'cp1252'."
        ) from None
    sep = delimiter or detect_delimiter(path, encoding=encoding)
    try:
        rows = _split_lines(path, sep, encoding)
    except UnicodeDecodeError as exc:
        raise _decoding_error(path, encoding, exc) from None
    if not rows:
        raise ValueError(f"{path!r} is empty; expected a delimited text table.")
    width = _table_width([fields for _, fields in rows[:50]])
    first = next(i for i, (_, fields) in enumerate(rows) if _fit_width(fields, width) is not None)
    junk = [line for line, _ in rows[:first]]
    if header and any(len(fields) > 1 for _, fields in rows[:first]):
        # a delimited first line of another width is a header that disagrees with the rows,
        # not a preamble: skipping it would make the first data row the header
        line, fields = next((ln, f) for ln, f in rows[:first] if len(f) > 1)
        raise ValueError(
            f"{path}: line {line} (the header) has {len(fields)} fields but the rows have "
            f"{width}; give every column a name (and remove extra delimiters), or pass "
            "header=False if the file has no header line."
        )
    rows = rows[first:]
    if width == 1:
        _refuse_one_column(path, sep, rows[0][1][0])
    if header:
        names = [n or f"Unnamed: {i}" for i, n in enumerate(_fit_width(rows[0][1], width) or [])]
        names[0] = names[0].lstrip("\ufeff")
        check_unique_names(names, repr(path))
        rows = rows[1:]
    else:
        names = [str(i) for i in range(width)]
    data, malformed = [], []
    for line, fields in rows:
        fitted = _fit_width(fields, width)
        if fitted is None:
            if not skip_malformed:
                raise ValueError(
                    f"{path}: line {line} has {len(fields)} fields, expected {width} (the "
                    "field count of the table); fix the line, or pass skip_malformed=True to "
                    "skip such lines with a warning."
                )
            malformed.append(line)
        else:
            data.append(fitted)
    skipped = junk + malformed
    if skipped:
        more = " ..." if len(skipped) > 10 else ""
        warnings.warn(
            f"{path}: skipped {len(skipped)} malformed line(s) whose field count is not the "
            f"table's {width}: lines {skipped[:10]}{more}.",
            stacklevel=2,
        )
    # dtype=str: what read_csv(dtype=str) gives (object before pandas 3, "str" from pandas 3)
    if not data:
        return pd.DataFrame({name: pd.Series([], dtype=str) for name in names})
    return pd.DataFrame(data, columns=names, dtype=str)


def _split_lines(path: str, sep: str, encoding: str) -> list[tuple[int, list[str]]]:
    """``(first line number, stripped fields)`` of every non-blank record of a text table."""
    rows = []
    with open(path, encoding=encoding, newline="") as fh:
        reader = csv.reader(fh, delimiter=sep, skipinitialspace=True, strict=True)
        line = reader.line_num + 1
        try:
            for fields in reader:
                if len(fields) > 1 or (fields and fields[0].strip()):
                    rows.append((line, [f.strip() for f in fields]))
                line = reader.line_num + 1
        except csv.Error as exc:  # broken quoting, e.g. an unclosed quote
            raise ValueError(
                f"{path}: line {line}: {exc}; check the quotes on that line (a field that "
                "opens a '\"' must close it) and the delimiter."
            ) from None
    return rows


def _fit_width(fields: list[str], width: int) -> list[str] | None:
    """``fields`` as ``width`` values: as they are, or without one trailing empty field."""
    if len(fields) == width:
        return fields
    if len(fields) == width + 1 and fields[-1] == "":
        return fields[:-1]
    return None


def _table_width(sample: list[list[str]]) -> int:
    """The width most lines fit (:func:`_fit_width`); a tie goes to the narrower one.

    A line ending in the delimiter votes for both its field count and one less, so a trailing
    delimiter on the data lines cannot outvote a header without one (nor the other way round).
    """
    votes: dict[int, int] = {}
    for fields in sample:
        widths = {len(fields)}
        if len(fields) > 1 and fields[-1] == "":
            widths.add(len(fields) - 1)
        for w in widths:
            votes[w] = votes.get(w, 0) + 1
    return min(votes, key=lambda w: (-votes[w], w))


def _refuse_one_column(path: str, sep: str, first: str) -> None:
    """A one-column table whose first line holds another likely delimiter was misread."""
    others = {c: first.count(c) for c in ",;\t|" if c != sep and c in first}
    if others:
        cand = max(others, key=lambda c: others[c])
        raise ValueError(
            f"{path}: read as one column with delimiter {sep!r}, but its first line "
            f"{first[:60]!r} contains {cand!r} {others[cand]} time(s); the file is probably "
            f"{cand!r}-delimited: pass delimiter={cand!r} (read_table or the data module's "
            "delimiter argument)."
        )


def check_unique_names(names: Sequence[str], where: str) -> None:
    """Refuse repeated column names (pandas would silently rename the second one ``name.1``).

    Args:
        names: Column names, in order.
        where: What they name, for the message (a file name, ``"fit"``).

    Raises:
        ValueError: a name appears more than once (the message gives its 0-based positions).

    Examples:
        >>> check_unique_names(["a", "b"], "t.csv")  # fine: returns None
    """
    positions: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        positions.setdefault(name, []).append(i)
    for name, where_at in positions.items():
        if len(where_at) > 1:
            raise ValueError(
                f"{where}: column name {name!r} appears {len(where_at)} times (columns "
                f"{where_at}, 0-based); rename the columns so that every name is unique."
            )


def _decoding_error(path: str, encoding: str, exc: UnicodeDecodeError) -> ValueError:
    """Where the first byte that ``encoding`` cannot decode lies: file offset and line."""
    decoder = codecs.getincrementaldecoder(encoding)()
    offset, newlines, found = 0, 0, None
    with open(path, "rb") as fh:
        while found is None and (chunk := fh.read(1 << 20)):
            pending = decoder.getstate()[0]
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as err:
                data = pending + chunk
                at = offset - len(pending) + err.start
                found = (at, data[err.start], newlines + chunk[: max(0, at - offset)].count(b"\n"))
            else:
                newlines += chunk.count(b"\n")
                offset += len(chunk)
    at, byte, newlines = found or (exc.start, exc.object[exc.start], 0)
    name = codecs.lookup(encoding).name
    shown = "UTF-8" if name in ("utf-8", "utf-8-sig") else name
    return ValueError(
        f"{path}: byte 0x{byte:02x} at offset {at} (line {newlines + 1}) is not valid {shown}; "
        "the file is in another encoding (often Latin-1 or Windows-1252 for files saved by "
        "spreadsheet programs): pass encoding='latin-1' (or the file's encoding, e.g. 'cp1252') "
        "to read_table or the data module, or convert the file to UTF-8."
    )


def close_names(name: str, names: Sequence[str]) -> list[str]:
    """Up to 3 of ``names`` spelt like ``name`` (case-insensitive), for error messages.

    Examples:
        >>> close_names("lable", ["age", "label"])
        ['label']
    """
    lower: dict[str, str] = {}
    for n in names:
        lower.setdefault(str(n).lower(), str(n))
    return [
        lower[h]
        for h in difflib.get_close_matches(str(name).lower(), list(lower), n=3, cutoff=0.75)
    ]


def did_you_mean(name: str, names: Sequence[str]) -> str:
    """``" (did you mean [...]?)"`` with :func:`close_names`, or ``""`` when none is close.

    Examples:
        >>> did_you_mean("agee", ["age", "city"])
        " (did you mean ['age']?)"
    """
    close = close_names(name, names)
    return f" (did you mean {close}?)" if close else ""


def resolve_column(columns: Sequence[str], target: str | int) -> str:
    """The column name for ``target``: a name, or a 0-based index (negative from the end).

    A string that is not a column name but an integer literal (``"-1"``, from a command line)
    is an index.

    Raises:
        KeyError: no such column (the message lists the available ones and close spellings), or
            an index out of range.
        TypeError: ``target`` is neither a string nor an integer (``True``, ``1.5``).

    Examples:
        >>> resolve_column(["age", "city", "label"], -1)
        'label'
    """
    cols = [str(c) for c in columns]
    if isinstance(target, bool) or not isinstance(target, str | numbers.Integral):
        raise TypeError(
            f"the label column (target) must be a column name or an integer index, got "
            f"{type(target).__name__} {target!r}."
        )
    if isinstance(target, str):
        if target in cols:
            return target
        try:
            index = int(target.strip())
        except ValueError:
            listed = str(cols[:20]) + (" ..." if len(cols) > 20 else "")
            raise KeyError(
                f"label column {target!r} not found{did_you_mean(target, cols)}; columns are "
                f"{listed} (pass a name or a 0-based index, negative counts from the end)."
            ) from None
    else:
        index = int(target)
    if not -len(cols) <= index < len(cols):
        raise KeyError(
            f"label column index {index} out of range for {len(cols)} columns (valid: "
            f"{-len(cols)} to {len(cols) - 1}, negative counts from the end)."
        )
    return cols[index]
