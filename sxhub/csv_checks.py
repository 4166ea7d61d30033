"""The scans that keep a CSV or TSV file's rows from merging without a word: a text opening a quote it does not
close reads, with pandas' and pyarrow's CSV quoting, as a field running over the rows after it. :mod:`sxhub.tables`
runs them on every CSV/TSV it reads (:func:`~sxhub.tables.check_csv_fields`); ``predict --engine ray`` runs the
streamed ones on a file at a URL. Each returns the frame it was given, or raises the one-line error.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd

from .errors import InputError


def check_tsv_quotes(df: pd.DataFrame, path: str | os.PathLike[str]) -> pd.DataFrame:
    """``df`` as read from TSV ``path``, or the one line when a cell holds both a tab and a line break.

    TSV files are read with CSV quoting (GoEmotions' and pandas' own TSVs quote a text that holds a quote), so in a
    TSV written without quoting a text that starts with a quote (``"Great" he said``) opens a quoted field that ends
    at the next quote, rows later: the rows between were read as one text, tabs and line breaks included, without a
    word. Such a cell is the sign; a well-quoted text with a tab and a line break is rare enough to be named too."""
    for column in df.columns:
        cells = df[column]
        if not (pd.api.types.is_object_dtype(cells) or pd.api.types.is_string_dtype(cells)):
            continue
        cells = cells.astype(str)
        merged = cells.str.contains("\t", regex=False) & cells.str.contains("\n", regex=False)
        if merged.any():  # the index: chunks of a stream carry the rows' numbers in the file
            raise tsv_run_over_error(path, int(merged.idxmax()), column)
    return df


def tsv_run_over_error(source: str | os.PathLike[str], row: int, column: object) -> InputError:
    """The one line for a TSV cell holding tabs and line breaks (``row`` from 0 under the header)."""
    return InputError(
        f"input {str(source)!r}: row {row} of column {str(column)!r} holds tabs and line breaks, so a quote "
        'opened a field that ran over the rows after it (a text starting with an unpaired " in a TSV '
        "written without quoting?); double every quote inside a text and quote the field, or convert the "
        "file to .jsonl or .parquet."
    )


def tsv_field_run_over(lines: Iterable[str], *, rows: int | None = None) -> tuple[int, str] | None:
    """:func:`check_tsv_quotes`' sign on TSV text already open (``newline=""``), a stream read once such as a file
    at a URL: the first record under the header (its row from 0, as pandas numbers it) with a cell holding both a
    tab and a line break, and that cell's column; None when there is none. ``rows``: stop after that many records.
    Read with CSV quoting as pandas reads a TSV (lines blank or of spaces and tabs skipped)."""
    with _long_fields():
        reader = csv.reader(lines, delimiter="\t")
        header: list[str] | None = None
        read = 0
        for record in reader:
            if _blank(record):
                continue
            if header is None:
                header = record
                continue
            if rows is not None and read >= rows:
                return None
            for i, cell in enumerate(record):
                if "\t" in cell and "\n" in cell:
                    return read, header[i] if i < len(header) else str(i)
            read += 1
        return None


def check_csv_quotes(df: pd.DataFrame, path: str | os.PathLike[str]) -> pd.DataFrame:
    """``df`` as read from CSV ``path``, or the one line when a quote opened a field that ran over the lines after it.

    A text starting with a quote it does not close (``"Great start, said the CEO``) opens a quoted field that ends at
    the next quote, lines later: pandas read the lines between as one text, commas and line breaks included, and
    their rows vanished without a word. A well-quoted field may hold line breaks too, so when a cell holds one the
    file is read again with the csv module in strict mode: a quoted field that spans lines and whose closing quote is
    not followed by a comma or the line's end (``last "x`` closing it) is the sign."""
    if not any(_has_line_break(df[column]) for column in df.columns):
        return df
    path = Path(path)
    stat = path.stat()
    found = _quoted_field_run_over(str(path), stat.st_size, stat.st_mtime_ns)
    if found is not None and found[0] <= df.index.max():  # in the part read (a chunk, or the first --limit rows)
        raise csv_run_over_error(path, found)
    swallowed = swallowed_row(df)
    if swallowed is not None:
        row, line = swallowed
        with open(path, encoding="utf-8-sig", newline="") as fh:
            span = record_lines(fh, row)
        if span is not None:
            raise csv_run_over_error(path, (row, *span), row_line=line)
    return df


def csv_run_over_error(
    source: str | os.PathLike[str], found: tuple[int, int, int], *, row_line: str | None = None
) -> InputError:
    """The one line for a quoted field that ran over lines (``found``: its row, first and last line; ``row_line``:
    a line inside it that reads as a row of the file, when that is how it was found)."""
    _, start, end = found
    evidence = "" if row_line is None else f", though {_shorten(row_line)!r} inside it reads as a row of this file"
    return InputError(
        f"input {str(source)!r}: a quote at the start of a field on line {start} is closed only on line {end}, so "
        f'lines {start}-{end} would be read as one text{evidence} (a text starting with an unpaired " in a CSV '
        "written without quoting?); double every quote inside a text and quote the field, or re-export the file "
        "(e.g. DataFrame.to_csv)."
    )


def _shorten(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


# a column whose cells take few values, each repeated (a label, a flag, a source): the columns a swallowed row's
# fields are recognised by
_FEW_VALUES = 50


def swallowed_row(df: pd.DataFrame, delimiter: str = ",") -> tuple[int, str] | None:
    """The first row of ``df`` (read from CSV) with a cell whose lines read as the file's own rows, and that line.

    A text starting with an unpaired quote (``"Great start, said the CEO``) closed by a later text ending with one
    (``Margins grew",positive``) is one well-formed quoted field over the lines between: the strict scan cannot tell
    it from a text quoted over lines, and pandas reads the rows between as part of one text. What tells it is what
    those lines hold. In a file with columns of few repeated values (labels, True/False flags), a line of such a
    cell with the file's own field count whose fields there are values of those columns is a row swallowed (the
    first line: the fields after the text's column; the last: those before it). None when no cell holds one, or the
    file has no such column to tell by."""
    values: dict[int, set[str]] = {}
    for j in range(len(df.columns)):
        cells = df.iloc[:, j]
        if not (pd.api.types.is_object_dtype(cells) or pd.api.types.is_string_dtype(cells)):
            continue
        seen = set(cells.dropna().astype(str).unique())
        if len(seen) <= _FEW_VALUES and len(seen) < len(cells) and not any("\n" in v or "\r" in v for v in seen):
            values[j] = seen
    if not values:
        return None
    width = len(df.columns)
    for j in range(width):
        cells = df.iloc[:, j]
        if not (pd.api.types.is_object_dtype(cells) or pd.api.types.is_string_dtype(cells)):
            continue
        cells = cells.dropna().astype(str)
        for row, cell in cells[cells.str.contains("[\r\n]", regex=True)].items():
            line = row_like_line(cell, j, width, values, delimiter)
            if line is not None:
                return int(row), line  # type: ignore[arg-type]
    return None


def row_like_line(cell: str, j: int, width: int, values: dict[int, set[str]], delimiter: str = ",") -> str | None:
    """The first line of ``cell`` (column ``j`` of ``width``) that reads as a row of the file, else None: the
    fields it would give (the first line: those from the cell's column on; the last: those up to it; a line between:
    all) are as many as those columns, and in the columns of few values (``values``) they are values those hold."""
    lines = cell.splitlines()
    for i, line in enumerate(lines):
        first = j if i == 0 else 0
        last = j if i == len(lines) - 1 else width - 1
        known = [p for p in range(first, last + 1) if p in values]
        if not known or (last > first and delimiter not in line):
            continue
        fields = next(csv.reader([line], delimiter=delimiter), [])
        if len(fields) == last - first + 1 and all(fields[p - first] in values[p] for p in known):
            return line
    return None


class RecordSample:
    """What one streamed pass over CSV records keeps to find a swallowed row at its end (:func:`swallowed_row` for
    a stream read once, such as a file at a URL): each column's values while they are few, and the records whose
    fields span lines (the first ``limit``), with their lines."""

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self.values: list[set[str] | None] = []  # None: too many values, or one with a line break
        self.rows = 0
        self.spanning: list[tuple[int, int, int, list[str]]] = []  # row, first and last line, fields

    def add(self, row: int, start: int, end: int, record: list[str]) -> None:
        if not self.rows:
            self.values = [set() for _ in record]
        self.rows += 1
        for j, cell in enumerate(record[: len(self.values)]):
            seen = self.values[j]
            if seen is not None and cell not in seen:
                few = len(seen) < _FEW_VALUES and "\n" not in cell and "\r" not in cell
                self.values[j] = seen | {cell} if few else None
        if end > start and len(self.spanning) < self.limit:
            self.spanning.append((row, start, end, record))

    def swallowed(self, delimiter: str = ",") -> tuple[tuple[int, int, int], str] | None:
        """The first record kept whose cell holds a line that reads as a row, with its row and lines, else None."""
        values = {j: seen for j, seen in enumerate(self.values) if seen is not None and len(seen) < self.rows}
        if not values:
            return None
        width = len(self.values)
        for row, start, end, record in self.spanning:
            for j, cell in enumerate(record[:width]):
                line = row_like_line(cell, j, width, values, delimiter) if "\n" in cell or "\r" in cell else None
                if line is not None:
                    return (row, start, end), line
        return None


def record_lines(lines: Iterable[str], row: int) -> tuple[int, int] | None:
    """The first and last line (from 1) of record ``row`` (from 0, under the header) of CSV text opened with
    ``newline=""``, read as pandas reads it (blank lines and lines of spaces skipped); None past the end."""
    with _long_fields():
        reader = csv.reader(lines)
        read, end = 0, 0  # records read, the header first; end: the last line of the last one
        for record in reader:
            if not _blank(record):
                if read == row + 1:
                    return end + 1, reader.line_num
                read += 1
            end = reader.line_num
    return None


def _has_line_break(cells: pd.Series) -> bool:
    if not (pd.api.types.is_object_dtype(cells) or pd.api.types.is_string_dtype(cells)):
        return False
    return bool(cells.astype(str).str.contains("[\r\n]", regex=True).any())


@functools.lru_cache(maxsize=16)  # a streamed file is checked once, not once per chunk (size and time in the key)
def _quoted_field_run_over(path: str, size: int, mtime_ns: int) -> tuple[int, int, int] | None:
    """The first record of CSV ``path`` (its row from 0, after the header) whose quoted field spans lines and is not
    closed as CSV requires, with its first and last line (from 1); None when there is none. Read as pandas reads it
    (comma, double quote, doubled quotes inside a field, lines blank or of spaces and tabs skipped)."""
    del size, mtime_ns  # the cache key only
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            return quoted_field_run_over(fh)
    except (OSError, UnicodeDecodeError):
        return None  # pandas read it: its own errors are the ones to show


def quoted_field_run_over(
    lines: Iterable[str], *, rows: int | None = None, sample: RecordSample | None = None
) -> tuple[int, int, int] | None:
    """:func:`_quoted_field_run_over` on CSV text already open (``newline=""``): a stream read once, such as a file
    at a URL; ``rows``: stop after that many records under the header; ``sample``: given the records read well."""
    with _long_fields():
        source = _LastLine(lines)
        reader = csv.reader(source, strict=True)
        read, end = 0, 0  # records read, the header first; end: the last line of the last one
        while rows is None or read <= rows:
            try:
                record = next(reader)
            except StopIteration:
                return None
            except csv.Error as exc:
                spans = reader.line_num > end + 1 and "expected after" in str(exc)
                if spans and not closed_before_spaces(source.last, ","):
                    return read - 1, end + 1, reader.line_num
                record = ["one line that breaks a rule"]  # the reader starts afresh on the next line
            else:
                if sample is not None and read and not _blank(record):
                    sample.add(read - 1, end + 1, reader.line_num, record)
            if not _blank(record):
                read += 1
            end = reader.line_num
        return None


@contextlib.contextmanager
def _long_fields() -> Iterator[None]:
    """The csv module's field size limit raised for a scan: a long well-quoted field is not the error looked for."""
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, 1 << 30))
    try:
        yield
    finally:
        csv.field_size_limit(limit)


class _LastLine:
    """The lines of a stream, keeping the last one the csv reader took (the line its error is on)."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = iter(lines)
        self.last = ""

    def __iter__(self) -> _LastLine:
        return self

    def __next__(self) -> str:
        self.last = next(self._lines)
        return self.last


def closed_before_spaces(line: str, delimiter: str) -> bool:
    """Whether the quote closing a field continued onto ``line`` is followed by spaces or tabs only, then
    ``delimiter`` or the line's end (``lines" ,b``): pandas reads such a field whole, its spaces kept, so it is a
    well-quoted field with a stray space, not a quote that ran over lines (``last "x``)."""
    i = line.find('"')
    while i != -1 and line.startswith('""', i):  # a doubled quote inside the field
        i = line.find('"', i + 2)
    if i == -1:
        return False
    rest = line[i + 1 :].lstrip(" \t")
    return not rest.strip("\r\n") or rest.startswith(delimiter)


def _blank(record: list[str]) -> bool:
    """Whether pandas skips the csv module's ``record``: a blank line, or one of spaces and tabs only."""
    return not record or (len(record) == 1 and not record[0].strip(" \t"))
