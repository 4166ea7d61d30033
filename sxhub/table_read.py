"""Reading a table file (the read stage of :mod:`sxhub.tables`): a whole CSV/TSV/JSONL/JSON/Parquet file
(:func:`read_file`), the readers and decoders :mod:`sxhub.stream` reads chunks with, and the one-line error for a file
that cannot be read (:func:`read_errors`). Its names stay importable from :mod:`sxhub.tables`, where they were first.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .csv_checks import check_csv_quotes, check_tsv_quotes
from .errors import InputError
from .tables import (
    JSON_COLUMNS,
    TEXT_COLUMN_GUESSES,
    ColumnFilter,
    check_file,
    ledger_json_columns,
    not_a_table_line,
    table_suffix,
)


def read_file(
    source: str | os.PathLike[str], *, limit: int | None = None, usecols: ColumnFilter | None = None
) -> pd.DataFrame:
    """Read a whole CSV/TSV/JSONL/JSON/Parquet file (the first ``limit`` rows), or raise the one-line error.

    ``usecols`` (as pandas' ``read_csv`` takes it: true for each column name to read) leaves the other columns
    unread: Parquet reads only those column chunks, CSV parses only those fields, JSONL drops the others line by
    line. ``train`` reads a labelled file without its ``votes`` (most of the file's size), which it only needs for
    ``--soft-labels``.
    """
    text = str(source)
    path = check_file(text)
    suffix = table_suffix(path)
    with read_errors(path):
        if suffix in {".csv", ".tsv"}:
            df = pd.read_csv(
                path,
                sep="\t" if suffix == ".tsv" else ",",
                nrows=limit,
                encoding="utf-8-sig",  # a byte-order mark (Excel's "CSV UTF-8") is not part of the first column name
                keep_default_na=False,
                dtype=str,
                usecols=usecols,
            )
            df = decode_json_cells(check_csv_fields(df, path), path)
        elif suffix == ".jsonl":
            df = next(iter_jsonl(path, limit, usecols=usecols), None)
            if df is None:
                raise InputError(f"input {text!r} has no rows; give it at least one text.")
        elif suffix == ".json":
            with path.open(encoding="utf-8-sig") as fh:
                content = fh.read()
            records = json_value(content, path)
            if isinstance(records, list):  # an array of texts was read as one column named 0
                other = next((i for i, r in enumerate(records) if not isinstance(r, dict)), None)
                if other is not None:
                    raise ValueError(f"item {other} is a JSON {type(records[other]).__name__}, not an object")
                df = frame_from_records(records)
            elif _rows_by_index(records):  # DataFrame.to_json(orient="index"): read as rows, not transposed
                df = frame_from_records(list(records.values()))
            else:  # pandas' other JSON layouts ({"column": {"row": value}}, ...)
                wrapped_rows_check(records, path)
                # the text read past a byte order mark: pandas read the file itself and failed on one
                df = pd.read_json(io.StringIO(content), orient=_json_orient(records), dtype=False, convert_dates=False)
            if usecols is not None:
                df = df[[c for c in df.columns if usecols(str(c))]]
        else:
            import pyarrow.parquet as pq

            schema = pq.read_schema(path)
            check_parquet_names(schema.names, path)
            columns = None if usecols is None else [name for name in schema.names if usecols(name)]
            table = pq.read_table(path, columns=columns)
            # integers with a null stay integers; a datasets ClassLabel column comes back as its names (the features
            # are the whole file's: its metadata names every column, also those left unread)
            df = decode_class_labels(table.to_pandas(integer_object_nulls=True), parquet_features(schema))
    if limit is not None:
        df = df.head(limit)
    if len(df) == 0:
        raise InputError(f"input {text!r} has no rows; give it at least one text.")
    return df.reset_index(drop=True)


def _json_orient(records: Any) -> str | None:
    """The ``DataFrame.to_json`` layout of a ``.json`` object that names its columns apart from its rows: "split"
    (``columns``, ``data`` and ``index``) or "table" (``schema`` and ``data``), read by pandas' default as columns
    named columns and data ("All arrays must be of the same length"); None for the others (pandas' default)."""
    if isinstance(records, dict) and isinstance(records.get("data"), list):
        if {"columns", "data"} <= set(records) <= {"columns", "data", "index"}:
            return "split"
        if set(records) == {"schema", "data"} and isinstance(records["schema"], dict):
            return "table"
    return None


def _rows_by_index(records: Any) -> bool:
    """Whether a ``.json`` object holds rows by their index (``{"0": {"text": ...}, "1": {...}}``, as
    ``DataFrame.to_json(orient="index")`` writes them), not pandas' default layout of columns (``{"text": {"0": ...}}``),
    which read it transposed: a column per text, and "no text column found in ['0', '1']". Each value is an object,
    and either its keys name a text column (:data:`~sxhub.tables.TEXT_COLUMN_GUESSES`) and the outer keys none, or
    the outer keys are row numbers and the inner keys are not all numbers."""
    if not isinstance(records, dict) or not records or not all(isinstance(v, dict) and v for v in records.values()):
        return False
    inner = {str(k) for row in records.values() for k in row}
    outer = {str(k) for k in records}

    def texts(keys: set[str]) -> bool:
        return any(k.strip().lower() in TEXT_COLUMN_GUESSES for k in keys)

    def numbers(keys: set[str]) -> bool:
        return all(k.strip().lstrip("-").isdigit() for k in keys)

    return (texts(inner) and not texts(outer)) or (numbers(outer) and not numbers(inner))


def wrapped_rows_check(records: Any, path: str | os.PathLike[str]) -> None:
    """The one line for a ``.json`` file whose rows are an array under one key (``{"data": [{...}, ...]}``, as APIs
    and exports wrap them): read as one column named ``data``, every verb said it found no text column in
    ``['data']``."""
    if not isinstance(records, dict) or len(records) != 1:
        return
    [(key, rows)] = records.items()
    if isinstance(rows, list) and rows and all(isinstance(row, dict) for row in rows[:100]):
        raise InputError(
            f"input {str(path)!r} holds its rows as an array under {key!r}; give the array itself (e.g. "
            f"`jq '.[{json.dumps(key)}]' {Path(path).name} > rows.json`) or the rows as JSON lines (.jsonl)."
        )


def check_csv_fields(df: pd.DataFrame, path: str | os.PathLike[str]) -> pd.DataFrame:
    """``df`` as read from CSV/TSV ``path``, or the one line when its rows have one field more than the header.

    pandas then takes the first field for an implicit row index, without a word: with ``id,text`` and a row ``1,Sales
    rose, and profit too`` (a text with an unquoted comma), ``id`` became "Sales rose" and the text " and profit
    too", and every verb labelled the fragments. A row with more fields than the first one is pandas' own error."""
    sep = "tab" if table_suffix(path) == ".tsv" else "comma"
    if sep == "comma" and len(df.columns) <= 1:
        other_separator_check(path)
    check_csv_names(df.columns, path)
    if isinstance(df.index, pd.RangeIndex):
        return check_tsv_quotes(df, path) if sep == "tab" else check_csv_quotes(df, path)
    raise InputError(
        f"input {str(path)!r}: its first rows have one field more than the header ({len(df.columns)} names), so a "
        f"{sep} inside a field (a text with an unquoted {sep}?) split it; quote the fields that contain one, or "
        "re-export the file (e.g. DataFrame.to_csv)."
    )


_MANGLED = re.compile(r"(.*)\.\d+")


def check_csv_names(columns: Collection[Any], path: str | os.PathLike[str]) -> None:
    """The one line for a CSV/TSV header that names a column twice (``text,label,label``), as for Parquet
    (:func:`check_parquet_names`): pandas renamed the second ``label.1`` without a word, and every verb read the
    first. Only a name pandas could have renamed so (``label.1`` beside ``label``) sends it to the header line."""
    names = {str(c) for c in columns}
    if not any((m := _MANGLED.fullmatch(name)) and m.group(1) in names for name in names):
        return
    try:
        with Path(path).open(encoding="utf-8-sig", errors="replace", newline="") as fh:
            delimiter = "\t" if table_suffix(path) == ".tsv" else ","
            header = next((r for r in csv.reader(fh, delimiter=delimiter) if any(f.strip(" \t") for f in r)), [])
    except (OSError, csv.Error):
        return
    check_parquet_names(header, path, fix="rename one in the header line" + headerless_hint(header))


NUMBER_RE = re.compile(r"[-+]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][-+]?\d+)?")


def headerless_hint(columns: Any) -> str:
    """A clause for the no-text-column errors when the column names look like a first row of data (a column named by
    a sentence beside one named by a number, or mostly numbers): GoEmotions' TSVs have no header line, and the error
    listed a sentence, '27' and an id as the columns and asked for --text-column, which no name there could fix.
    A column named by a sentence alone (a form's question) is not enough."""
    names = [str(c) for c in columns]
    numbers = [n for n in names if NUMBER_RE.fullmatch(n.strip())]
    sentence = any(len(n.split()) >= 4 for n in names)
    if not names or not numbers or not (sentence or len(numbers) * 2 > len(names)):
        return ""
    return (
        " (if the file has no header line, as these names suggest, add one naming the columns, e.g. `text`: sxhub "
        "reads a CSV/TSV's first line as the column names)"
    )


_SEPARATORS = {";": "semicolons", "\t": "tabs", "|": "pipes"}


def other_separator_check(path: str | os.PathLike[str]) -> None:
    """The one line for a ``.csv`` file whose header is separated by semicolons, tabs or pipes, not commas.

    Such a file (Excel's CSV where the decimal mark is a comma, a TSV named .csv) read as one column named
    ``text;gold``: every verb said it found no text column and to pass ``--text-column``, which would have labelled
    each whole line; a comma in a text made it a parse error about field counts instead."""
    try:
        with Path(path).open(encoding="utf-8-sig", errors="replace", newline="") as fh:
            header = next((line for line in fh if line.strip()), "")
    except OSError:
        return
    fields = next(csv.reader([header]), [])
    if len(fields) != 1:
        return
    found = [(header.count(sep), sep) for sep in _SEPARATORS if sep in fields[0]]
    if not found:
        return
    sep = max(found)[1]
    fix = (
        f"name it {Path(path).stem}.tsv"
        if sep == "\t"
        else f"re-save it with commas (e.g. pandas.read_csv(path, sep={sep!r}).to_csv('fixed.csv', index=False))"
    )
    raise InputError(
        f"input {str(path)!r} is separated by {_SEPARATORS[sep]} (its header {header.strip()[:60]!r} has no comma), "
        f"but a .csv file is read as comma-separated; {fix}."
    )


_FIXES = {
    ".csv": "check that every row has as many fields as the header and that quotes are closed, or re-export it "
    "(e.g. DataFrame.to_csv)",
    ".tsv": "check that every row has as many tab-separated fields as the header and that a text starting with a "
    "quote closes it, or re-export it",
    ".jsonl": 'each line must be one JSON object like {"text": "..."} (a JSON array of objects: name it .json)',
    ".json": 'it must be one JSON array of objects like [{"text": "..."}] (one object per line: name it .jsonl)',
    ".parquet": "it is not a readable Parquet file (truncated, or another format renamed); re-export it with "
    "DataFrame.to_parquet or pass a .csv/.jsonl file",
}


@contextlib.contextmanager
def read_errors(path: str | os.PathLike[str]) -> Iterator[None]:
    """Turn any failure to read the table ``path`` into one :class:`InputError` line: the reason and the fix.

    :func:`read_file` and streaming readers (``sxhub predict``) wrap their reads in it, so an unreadable file (bad
    CSV, bad JSON line, corrupt Parquet, wrong encoding, no permission) exits with code 2, never a traceback.
    """
    path = Path(path)
    suffix = table_suffix(path)
    where = f"input {str(path)!r}"
    try:
        try:
            yield
        except (ValueError, TypeError, OSError, EOFError) as exc:  # a gzip'd CSV or a workbook named .csv: what it
            line = not_a_table_line(path)  # is, not a fix for text (iconv)
            if line is None:
                raise
            raise InputError(line) from exc
    except InputError:
        raise
    except UnicodeDecodeError as exc:
        found = _first_bad_utf8(path)
        utf16 = _head(path)[:2] in (b"\xff\xfe", b"\xfe\xff")
        source = "utf-16" if utf16 else legacy_encoding(_window(path, found[0] if found else 0))
        at = f"line {found[1]}, byte {found[0]}" if found else f"byte {exc.start}"
        raise InputError(
            f"{where} is not UTF-8 ({'UTF-16, ' if source == 'utf-16' else ''}{at}); re-save it as UTF-8, "
            f"e.g. `iconv -f {source} -t utf-8 {path.name} > fixed{path.suffix}`."
        ) from exc
    except pd.errors.EmptyDataError as exc:
        raise InputError(f"{where} has no rows; give it a header row and at least one text.") from exc
    except PermissionError as exc:
        raise InputError(f"{where} cannot be read (permission denied); check the file's permissions.") from exc
    except (ValueError, TypeError, OSError, NotImplementedError, AttributeError) as exc:  # pandas/pyarrow parse errors
        # (AttributeError: pandas < 3.1 read_json on a JSONL line that is a list)
        if suffix == ".csv":
            other_separator_check(path)
        first_line = (str(exc).strip().splitlines() or [""])[0]
        reason = (_bad_json_line(path) if suffix == ".jsonl" else None) or f"{type(exc).__name__}: {first_line}"
        reason = reason[:200].rstrip(". ")
        fix = _FIXES.get(suffix, "pass a .csv, .jsonl or .parquet file")
        raise InputError(f"{where} could not be read as {suffix[1:] or 'a table'} ({reason}); {fix}.") from exc


def _first_bad_utf8(path: Path, block: int = 1 << 20) -> tuple[int, int] | None:
    """The file offset and line (from 1) of the first byte that is not UTF-8, or None. The decode error's own
    position counts from the start of the reader's buffer, not of the file: past the first buffer (8 KiB for JSONL,
    256 KiB for CSV) it named a byte where nothing was wrong."""
    carry, base, lines = b"", 0, 1
    try:
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(block), b""):
                data = carry + chunk
                try:
                    data.decode("utf-8")
                except UnicodeDecodeError as exc:
                    if exc.end == len(data) and exc.reason == "unexpected end of data":  # a character cut by the block
                        carry, base, lines = (
                            data[exc.start :],
                            base + exc.start,
                            lines + data.count(b"\n", 0, exc.start),
                        )
                        continue
                    return base + exc.start, lines + data.count(b"\n", 0, exc.start)
                carry, base, lines = b"", base + len(data), lines + data.count(b"\n")
    except OSError:
        return None
    return (base, lines) if carry else None


def legacy_encoding(data: bytes) -> str:
    """The 8-bit encoding to name in the fix for bytes that are not UTF-8: ``cp1252`` (what Excel on Windows saves a
    CSV in) where they are valid cp1252, else ``latin1``. Advised for an Excel export, ``iconv -f latin1`` wrote
    its ’ “ ” – € as invisible control characters: the "fixed" file read without an error, a tweet's "20€" reached
    the model as "20"."""
    try:
        data.decode("cp1252")
    except UnicodeDecodeError:
        return "latin1"
    return "cp1252"


def _window(path: Path, start: int, n: int = 1 << 16) -> bytes:
    try:
        with path.open("rb") as fh:
            fh.seek(start)
            return fh.read(n)
    except OSError:
        return b""


def _head(path: Path, n: int = 4) -> bytes:
    try:
        with path.open("rb") as fh:
            return fh.read(n)
    except OSError:
        return b""


def iter_jsonl(
    path: str | os.PathLike[str], chunk_rows: int | None = None, *, usecols: ColumnFilter | None = None
) -> Iterator[pd.DataFrame]:
    """A JSONL file as frames of ``chunk_rows`` rows (all of it in one frame when None), each value as JSON wrote it;
    ``usecols`` keeps only the keys it is true for, dropped as each line is read.

    pandas' ``read_json`` turns an integer column with a null into floats (a year 2024 came back as 2024.0 in every
    output); here the numbers stay as written. A line that names a key twice (``{"text": "a", "text": "b"}``) is one
    line naming it: json keeps the last value without a word, as pandas renamed a CSV header's second ``label``.
    """
    records: list[dict[str, Any]] = []
    with Path(path).open(encoding="utf-8-sig") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            record = json_value(line, path, line=number)
            if not isinstance(record, dict):
                raise ValueError(f"line {number} is a JSON {type(record).__name__}, not an object")
            if usecols is not None:
                record = {key: value for key, value in record.items() if usecols(key)}
            records.append(record)
            if chunk_rows is not None and len(records) == chunk_rows:
                yield frame_from_records(records)
                records = []
    if records:
        yield frame_from_records(records)


def json_value(text: str, path: str | os.PathLike[str], *, line: int | None = None) -> Any:
    """``json.loads(text)`` of the file ``path`` (its line ``line`` for JSONL), or the one line for an object that
    names a key twice (``{"text": "a", "text": "b"}``): json keeps the last value without a word."""
    try:
        return json.loads(text, object_pairs_hook=_one_value_a_key)
    except _KeyTwice as twice:
        where, unit = (f"line {line}", "a line") if line is not None else ("an object", "an object")
        raise InputError(
            f"input {str(path)!r}: {where} names the key {twice.key!r} twice (JSON keeps only the last); give each "
            f"key of {unit} its own name."
        ) from None


class _KeyTwice(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _one_value_a_key(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object's pairs as a dict, or :class:`_KeyTwice` naming a key it gives twice (json's own dict keeps the
    last value). About 5% of reading a labelled JSONL file (200,000 rows: 0.8 s of 16 s)."""
    record = dict(pairs)
    if len(record) != len(pairs):
        raise _KeyTwice(next(key for i, (key, _) in enumerate(pairs) if any(key == k for k, _ in pairs[:i])))
    return record


def frame_from_records(records: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """JSON objects as a frame whose columns keep JSON's types.

    A column of strings (missing ones as NaN) is pandas' string column, one of numbers or booleans with no gap is
    numeric, and any other column (integers with a null, lists, mixed types) keeps its Python values with None for
    a null or a missing key: pandas would widen integers with a null to floats.
    """
    frame = pd.DataFrame(list(records), dtype=object)
    for column in frame.columns:
        values = frame[column].tolist()
        present = [v for v in values if v is not None and v == v]  # None, and NaN for a missing key
        kinds = {type(v) for v in present}
        if kinds == {str}:
            frame[column] = frame[column].astype("str")
        elif (
            len(present) == len(values)
            and kinds
            and kinds <= {int, float, bool}
            and (bool not in kinds or kinds == {bool})
        ):
            frame[column] = pd.Series(values, index=frame.index)
        else:
            frame[column] = pd.Series(
                [v if v is not None and v == v else None for v in values], index=frame.index, dtype=object
            )
    return frame


def _bad_json_line(path: Path) -> str | None:
    """The first line of a JSONL file that is not a JSON object, as a reason ("line 3 is not ..."); read past a byte
    order mark as :func:`iter_jsonl` reads it (else line 1 was named, for the mark)."""
    try:
        with path.open(encoding="utf-8-sig") as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    value = json.loads(line)
                except json.JSONDecodeError as exc:
                    return f"line {number} is not JSON: {exc.msg} at column {exc.colno}"
                if not isinstance(value, dict):
                    return f"line {number} is a JSON {type(value).__name__}, not an object"
    except (OSError, UnicodeDecodeError):
        return None
    return None


def check_parquet_names(names: Sequence[str], path: str | os.PathLike[str], *, fix: str | None = None) -> None:
    """The one line for a Parquet file that names two columns alike, which Arrow allows: the whole-file reader called
    it unreadable (truncated, or another format renamed), the streaming one went on with two ``text`` columns to a
    traceback."""
    twice = sorted({name for name in names if list(names).count(name) > 1})
    if twice:
        raise InputError(
            f"input {str(path)!r} names columns twice ({twice}); give each column its own name, e.g. "
            + (fix or "table.rename_columns([...]) before pyarrow.parquet.write_table")
            + "."
        )


def parquet_features(schema: Any) -> Any:
    """The ``datasets`` features a Parquet file's schema records (``Dataset.to_parquet``, ``push_to_hub`` and
    ``sxhub publish dataset`` write them in its ``huggingface`` metadata), or None for a file without them."""
    if not (schema.metadata or {}).get(b"huggingface"):
        return None
    from datasets import Features

    try:
        return Features.from_arrow_schema(schema)
    except Exception:  # metadata of another datasets version or tool: the file reads as its plain columns
        return None


def decode_class_labels(df: pd.DataFrame, features: Any) -> pd.DataFrame:
    """``df`` with each ``datasets.ClassLabel`` column (or list of them) of ``features`` as label names instead of
    ids: a dataset on the Hub, or sxhub's own published one, stores labels as ids with the names in its features,
    and ``train`` / ``evaluate`` / ``agree`` refused its ids 0, 1, 2 as labels the task does not have. A missing
    label (None, or ``ClassLabel``'s -1) becomes None."""
    if not features:
        return df
    from datasets import ClassLabel

    def name(feature: Any, value: Any) -> Any:
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            return feature.int2str(int(value)) if 0 <= value < feature.num_classes else None
        return value

    for column, feature in features.items():
        if column not in df.columns:
            continue
        if isinstance(feature, ClassLabel):
            values = [name(feature, v) for v in df[column].tolist()]
            df[column] = pd.Series(values, index=df.index, dtype=object)
        elif isinstance(getattr(feature, "feature", None), ClassLabel):  # List / Sequence of ClassLabel
            inner = feature.feature
            values = [
                None if v is None else [name(inner, i) for i in (v.tolist() if hasattr(v, "tolist") else v)]
                for v in df[column].tolist()
            ]
            df[column] = pd.Series(values, index=df.index, dtype=object)
    return df


def decode_json_cells(
    df: pd.DataFrame, path: str | os.PathLike[str] | None = None, *, columns: Collection[str] = JSON_COLUMNS
) -> pd.DataFrame:
    """``df`` (CSV cells, strings) with each list/dict column (``columns``: :data:`JSON_COLUMNS`, or those a file's
    ledger names, :func:`ledger_json_columns`) decoded from JSON; a cell in
    Python's own list notation (pandas' ``to_csv`` writes ``['joy', 'anger']``) is read too. A column none of whose
    cells decode stays text (not JSON after all).

    A cell that is neither among cells that decode (a ``votes`` cell cut short by a truncated copy: ``[{"teacher":
    "A", "scores": [{"label": "positive", "p": 0.7}, {"lab``) is one line naming ``path``, the row and the column:
    the whole column stayed text, and ``agree`` ended in a bare JSONDecodeError while ``publish dataset`` wrote every
    row's votes as one empty vote per character of the text, exit 0. A ``labels`` column with such a cell stays
    text: the label reader's line for it (:func:`sxhub.labelled._list_cell`) names the fix for a list written by
    hand."""
    import ast

    for col in df.columns:
        if col not in columns:
            continue
        values = df[col].tolist()
        if not values or not all(isinstance(v, str) and v[:1] in "[{" for v in values if v != ""):
            continue
        decoded: list[Any] = []
        damaged: tuple[int, str, json.JSONDecodeError] | None = None
        n_json = 0
        for position, value in enumerate(values):
            if value == "":
                decoded.append(None)
                continue
            try:
                decoded.append(json.loads(value))
                n_json += 1
                continue
            except json.JSONDecodeError as exc:
                error = exc
            try:
                literal = ast.literal_eval(value)  # literals only: no names, no calls
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                literal = None
            if isinstance(literal, (list, dict)):
                decoded.append(literal)
                continue
            decoded.append(value)
            if damaged is None:
                damaged = (position, value, error)
        if damaged is None:
            df[col] = decoded
        elif n_json and col != "labels":  # a labels cell is often written by hand: its reader names that fix
            position, value, error = damaged
            row = int(df.index[position]) + 1 if isinstance(df.index[position], (int, np.integer)) else position + 1
            where = f"input {str(path)!r}: " if path is not None else ""
            raise InputError(
                f"{where}row {row} (after the header), column {col!r}: the cell is not valid JSON ({error.msg} at "
                f"character {error.pos} of {len(value)}: {value[:50]!r}...), as a file cut short or damaged leaves "
                "it; restore that cell from an intact copy, or empty it (or delete the row) and read the file again."
            )
    return df


def decode_ledger_columns(df: pd.DataFrame, path: str | os.PathLike[str]) -> pd.DataFrame:
    """``df`` as :func:`read_file` read the CSV/TSV ``path``, with the columns its ledger names as JSON
    (:func:`ledger_json_columns`) decoded too, besides :data:`JSON_COLUMNS` (decoded already): a list column of the
    input kept with ``annotate --keep-column``, a list there as in a Parquet OUT."""
    more = [c for c in ledger_json_columns(path) if c not in JSON_COLUMNS]
    return decode_json_cells(df, path, columns=more) if more else df
