"""Table files by extension: the formats sxhub reads and writes (CSV, TSV, JSONL, JSON, Parquet), reading a whole
file is :mod:`sxhub.table_read`; writing one, and an output's ledger, are here.

In CSV files, list and dict cells (``labels``, ``votes``, ``agreement``, ``reviewers``...) are JSON-encoded so that they read back
intact. :mod:`sxhub.stream` (chunks) and :mod:`sxhub.data` (whole tables, slices, Hub datasets) build on it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .csv_checks import (  # the quote scans; their names stay importable from here, where they were first
    check_csv_quotes as check_csv_quotes,
)
from .csv_checks import (
    check_tsv_quotes as check_tsv_quotes,
)
from .errors import InputError

TABLE_SUFFIXES = {".csv", ".tsv", ".jsonl", ".json", ".parquet", ".pq"}
# the usual names of a text column (any case): find_text_column's guesses, and a .txt file's first line naming one
# beside other columns is a table's header (sxhub.stream.check_input)
TEXT_COLUMN_GUESSES = ("text", "sentence", "content", "tweet", "body", "document")
# sxhub's own list and dict columns (apply-review's too: from a reviewed CSV, `teacher_labels` and `reviewers` came
# back as JSON text while Parquet and JSONL gave lists, so `publish dataset` typed them string or list by format);
# oof_probs: sxhub doubts' queue
JSON_COLUMNS = ("labels", "votes", "agreement", "probabilities", "oof_probs", "teacher_labels", "reviewers")


def table_suffix(path: str | os.PathLike[str]) -> str:
    """The file's extension in lower case; ``.pq`` counts as ``.parquet``."""
    suffix = Path(path).suffix.lower()
    return ".parquet" if suffix == ".pq" else suffix


def output_suffix(path: str | os.PathLike[str]) -> str:
    """The extension of an output table (``table_suffix``), or the one line naming the ones sxhub writes: it named
    .csv, .jsonl and .parquet only, while .tsv and .json are written too."""
    suffix = table_suffix(path)
    if suffix not in TABLE_SUFFIXES:
        raise InputError(
            f"output {str(path)!r} has extension {Path(path).suffix!r}; use .csv, .tsv, .jsonl, .json or .parquet."
        )
    return suffix


def check_file(source: str | os.PathLike[str], *, suffixes: Collection[str] = TABLE_SUFFIXES) -> Path:
    """The input file's path, or the one-line error: not found, a folder, an extension not in ``suffixes``, empty."""
    text = str(source)
    path = Path(text)
    if not path.exists():
        from ._paths import shipped_example

        shipped = shipped_example(path)
        if shipped is not None:
            raise InputError(
                f"input {text!r} not found here; sxhub ships that example as {str(shipped)!r}: pass that path."
            )
        raise InputError(f"input {text!r} not found; pass a .csv, .jsonl, .parquet file or a Hub dataset id.")
    if path.is_dir():
        raise InputError(f"input {text!r} is a folder; pass a .csv, .jsonl or .parquet file.")
    if table_suffix(path) not in suffixes:
        raise InputError(
            not_a_table_line(path)
            or f"input {text!r} has extension {path.suffix!r}; use .csv, .tsv, .jsonl, .json or .parquet."
        )
    if path.stat().st_size == 0:
        raise empty_input(text)
    return path


# files that are not text, known by their first bytes (else their extension): a gzip'd CSV or an Excel workbook named
# .csv was told it is not UTF-8 and to convert it with `iconv -f cp1252`, which wrote garbage; named .csv.gz or .xlsx,
# only to use .csv
_COMPRESSED = {".gz": (b"\x1f\x8b\x08", "gzip"), ".bz2": (b"BZh[1-9](?:1AY&SY|\x17rE8P\x90)", "bzip2"),
               ".xz": (b"\xfd7zXZ\x00", "xz"), ".zst": (b"\x28\xb5\x2f\xfd", "zstd")}  # fmt: skip
_ZIP, _OLE = b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xlsx/.ods/.zip, .xls (old Office files)
_WORKBOOKS = {".xlsx", ".xlsm", ".xls", ".ods"}


def not_a_table_line(path: str | os.PathLike[str]) -> str | None:
    """The one line for an input file that is compressed, a zip archive or a spreadsheet workbook (by its first bytes,
    else its extension): what it is and how to make a table of it; None for any other file."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            head = fh.read(10)
    except OSError:
        head = b""
    suffix = path.suffix.lower()
    where = f"input {str(path)!r}"
    for extension, (magic, tool) in _COMPRESSED.items():
        if re.match(re.escape(magic) if tool != "bzip2" else magic, head):
            inner = Path(path.name[: -len(extension)] if suffix == extension else path.name).suffix or ".csv"
            return (
                f"{where} is {tool}-compressed; decompress it first (`{tool} -dc {path.name} > fixed{inner}`) and "
                "pass that file."
            )
    workbook = head.startswith(_OLE) or (suffix in _WORKBOOKS and not head.startswith(_ZIP))
    if head.startswith(_ZIP):
        import zipfile

        try:
            with zipfile.ZipFile(path) as archive:
                workbook = any(n.startswith("xl/") or n == "content.xml" for n in archive.namelist())
        except (zipfile.BadZipFile, OSError):
            workbook = suffix in _WORKBOOKS
        if not workbook:
            return f"{where} is a zip archive; unzip it (`unzip {path.name}`) and pass the .csv, .jsonl or .parquet file inside."
    if workbook:
        return (
            f"{where} is a spreadsheet workbook, not a table file sxhub reads; save the sheet as CSV (Excel: File > "
            "Save As > CSV UTF-8) and pass that file."
        )
    if suffix == ".zip":
        return f"{where} is a zip archive; unzip it (`unzip {path.name}`) and pass the .csv, .jsonl or .parquet file inside."
    return None


_EMPTY_FIXES = {
    ".jsonl": 'give it one JSON object per line, like {"text": "..."}',
    ".json": 'give it a JSON array of objects, like [{"text": "..."}]',
    ".parquet": "write it with a text column and at least one row",
    ".txt": "give it one text per line",
}


def empty_input(text: str) -> InputError:
    """The line for an input file of 0 bytes, with the fix for its format (a JSONL file was told to add a header
    row)."""
    fix = _EMPTY_FIXES.get(table_suffix(Path(text)), "give it a header row and at least one text")
    return InputError(f"input {text!r} is empty; {fix}.")


ColumnFilter = Callable[[str], bool]


def ledger_path(out: str | os.PathLike[str]) -> Path:
    """``OUT``'s sibling ``<stem>.ledger.json``, where ``sxhub annotate`` writes the run's ledger."""
    out = Path(out)
    return out.with_name(f"{out.stem}.ledger.json")


def _read_ledger(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The JSON object in ``path``'s ledger file (:func:`ledger_path`), or None where there is none or it is not one."""
    try:
        ledger = json.loads(ledger_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return ledger if isinstance(ledger, dict) else None


def own_ledger(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The ledger beside the file ``path`` (:func:`ledger_path`, ``<stem>.ledger.json``) when it is that file's own:
    its ``output`` names ``path`` (another output of the same stem, ``out.csv`` beside ``out.parquet``, is not).
    None where there is none, or it is not a ledger."""
    ledger = _read_ledger(path)
    return ledger if ledger is not None and ledger_owner(path, ledger) == Path(path).name else None


def ledger_json_columns(path: str | os.PathLike[str]) -> tuple[str, ...]:
    """The columns of the CSV/TSV file ``path`` whose cells ``sxhub annotate`` wrote as JSON (every list and dict
    column of its output: ``labels``, ``votes``, ``agreement``, and an input column of lists kept with
    ``--keep-column``), as its ledger (:func:`ledger_path`, naming ``path`` as its ``output``) records them in
    ``json_columns``. A CSV cannot say that ``'["a", "b"]'`` was a list, and a kept column is the user's: without
    that record it is read as the text it is. () for another format, or a file without such a ledger."""
    if table_suffix(path) not in {".csv", ".tsv"}:
        return ()
    ledger = own_ledger(path)
    columns = ledger.get("json_columns") if ledger is not None else None
    return tuple(str(c) for c in columns) if isinstance(columns, (list, tuple)) else ()


def ledger_owner(out: str | os.PathLike[str], ledger: dict[str, Any] | None = None) -> str | None:
    """The name of the output that ``OUT``'s ledger (:func:`ledger_path`, or ``ledger`` as read) records, or None
    where there is none (or it names no output): ``x.ledger.json`` is the ledger of ``x.csv`` or of ``x.parquet``,
    never both."""
    ledger = _read_ledger(out) if ledger is None else ledger
    return Path(str(ledger["output"])).name if ledger is not None and ledger.get("output") else None


def others_ledger(out: str | os.PathLike[str]) -> Path | None:
    """The other output whose ledger ``OUT``'s ledger file is (``x.parquet`` for ``-o x.csv``: both are
    ``x.ledger.json``), where that output is still there; None where the ledger is ``OUT``'s, is none, or its output
    is gone (written over, as annotate's ``hold_ledger`` does)."""
    out = Path(out)
    owner = ledger_owner(out)
    if owner is None or owner == out.name:
        return None
    other = out.with_name(owner)
    return other if other.exists() and not (out.exists() and other.samefile(out)) else None


def refuse_others_ledger(out: str | os.PathLike[str], option: str = "-o", *, tail: str = "-2") -> None:
    """One line, before anything is written, where the CSV/TSV ``out`` needs its own ledger (its list columns,
    :func:`carry_ledger`) and
    ``<stem>.ledger.json`` is the ledger of another output of the same stem that is still there (``x.csv`` beside
    ``x.parquet``): ``tail`` is put before the suffix in the name the line suggests."""
    out = Path(out)
    other = others_ledger(out) if table_suffix(out) in {".csv", ".tsv"} else None  # another format: no ledger needed
    if other is not None:
        raise InputError(
            f"{ledger_path(out)} is the ledger of {other.name}, and {option} {out} needs its own there (the same "
            f"<stem>.ledger.json); pass {option} with another name before the suffix (e.g. "
            f"{out.with_name(f'{out.stem}{tail}{out.suffix}')}), or move {other.name} and its ledger away."
        )


def writing_ledger(source: Any) -> dict[str, Any] | None:
    """What writing the texts of the input file ``source`` cost, where they were written by ``sxhub generate``: its
    own ledger (:func:`own_ledger`, naming its ``writers``), or the ``written`` block that an earlier labelling of
    them carried on. ``sxhub annotate`` puts it in its own ledger as ``written``, so that the dataset card's Cost
    table shows it: labelling the texts a stopped generate saved gave a ledger of the vote alone, and the card
    left out what writing them had cost. None for any other input (a DataFrame, a Hub dataset, standard input)."""
    if not isinstance(source, (str, os.PathLike)) or not Path(source).is_file():
        return None
    ledger = own_ledger(source)
    if ledger is None:
        return None
    if isinstance(ledger.get("written"), dict):
        return dict(ledger["written"])
    if "writers" not in ledger:
        return None
    return {k: v for k, v in ledger.items() if k not in {"output", "json_columns"}}


def carry_ledger(
    source: str | os.PathLike[str] | None,
    out: str | os.PathLike[str],
    frame: pd.DataFrame,
    *,
    ledger: dict[str, Any] | None = None,
) -> Path | None:
    """After ``frame`` (read from ``source``) was written to ``out``: its ledger beside it, carried from
    ``source``'s own ledger (the run that labelled those rows) where it has one, or ``ledger``: the run that wrote
    ``frame`` (``sxhub twins`` labels its twins itself); a CSV/TSV's names its list and dict columns
    (``json_columns``, as annotate's does, :func:`ledger_json_columns`). ``sxhub apply-review`` and ``sxhub twins``
    wrote no ledger: ``publish dataset`` read a CSV's kept column of lists back as the JSON text it is there, and
    its card had no cost table (:func:`own_ledger`) whatever the format. Nothing where ``out``'s ledger is another
    output's still there (:func:`others_ledger`: refused before for a CSV, which needs its own), nor where there is
    nothing to record."""
    if others_ledger(out) is not None:
        return None
    record: dict[str, Any] = dict(ledger or {})
    if ledger is None and source is not None:
        record = own_ledger(source) or record
    text_table = table_suffix(out) in {".csv", ".tsv"}
    columns = [
        str(c) for c in frame.columns if frame[c].map(lambda v: isinstance(v, (list, dict, tuple, np.ndarray))).any()
    ]
    if not record and not (text_table and set(columns) - set(JSON_COLUMNS)):  # publish reads those back unaided
        return None
    record["output"] = str(out)
    if text_table:
        record["json_columns"] = columns
    else:
        record.pop("json_columns", None)  # a CSV source's: this file holds its lists as lists
    target = ledger_path(out)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=1, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, target)
    return target


def refuse_input_as_output(output: str | os.PathLike[str] | None, source: Any, option: str) -> None:
    """One line, before any work, when an output path is the input file: agree --review, doubts -o and annotate -o
    wrote over LABELLED or INPUT and exited 0, the experts' columns gone."""
    if output is None or source is None or isinstance(source, pd.DataFrame):
        return
    if Path(output).expanduser().resolve() == Path(str(source)).expanduser().resolve():
        raise InputError(
            f"{option} {str(output)!r} is the input file: writing it would replace the input; pass another path."
        )


def write_table(data: pd.DataFrame | Sequence[dict[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Write a table by the file's extension (csv, tsv, jsonl, json, parquet); creates parent folders."""
    df = data if isinstance(data, pd.DataFrame) else pd.DataFrame(list(data))
    path = Path(path)
    suffix = output_suffix(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        if suffix in {".csv", ".tsv"}:
            cells = csv_cells(df)
            cells.to_csv(tmp, index=False, sep="\t" if suffix == ".tsv" else ",", lineterminator=csv_line_end(cells))
        elif suffix in {".jsonl", ".json"}:
            tmp.write_text(records_json(df, lines=suffix == ".jsonl"), encoding="utf-8")
        else:
            with parquet_errors(path):
                df.to_parquet(tmp, index=False)
        os.replace(tmp, path)  # never leave a half-written output behind
    except BaseException:  # Ctrl-C or a full disk: nor a partial OUT.tmp beside it
        tmp.unlink(missing_ok=True)
        raise
    return path


def arrow_table(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Any:
    """``frame`` as a pyarrow Table for the Parquet file ``path``; a column Arrow cannot type is one line."""
    import pyarrow as pa

    with parquet_errors(path):
        return pa.Table.from_pandas(frame, preserve_index=False)


@contextlib.contextmanager
def parquet_errors(
    path: str | os.PathLike[str], *, fix: str | None = None, where: str | None = None
) -> Iterator[None]:
    """A column of values of more than one type (ids as numbers and as text in one JSONL file) cannot be a Parquet
    column: pyarrow said so in a tuple ("Could not convert 'a2' with type str: tried to convert to int64",
    'Conversion failed for column id with type object') and the command exited 1 on it. Inside this block, that
    error is one line naming the column and the fix (``fix``, where writing another format is not one), after the
    file's name (or ``where``); any other error passes as it is."""
    import pyarrow as pa

    try:
        yield
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        parts = [str(a) for a in exc.args] if exc.args else [str(exc)]
        pattern = r"for column (.+?) with type|Field (.+?) has incompatible types"  # one chunk's table; chunks joined
        found = next((m for p in parts if (m := re.search(pattern, p))), None)
        column = f"column {found.group(1) or found.group(2)!r}" if found else "a column"
        fix = fix or "write .jsonl or .csv instead, or give the column one type in the input (e.g. every id as text)"
        raise InputError(
            f"{where or Path(path).name}: {column} holds values of more than one type, which Parquet cannot store "
            f"({parts[0]}); {fix}."
        ) from exc


def records_json(df: pd.DataFrame, *, lines: bool) -> str:
    """``df`` as JSON lines (``lines``) or as one indented JSON array of records, dates and times as ISO 8601 text
    ("2024-01-02T03:04:05.000000Z"): pandas' default, epoch milliseconds, read back as numbers, which a date parser
    (``insights --date-column``) took for nanoseconds of 1970."""
    if lines:
        return df.to_json(orient="records", lines=True, force_ascii=False, date_format="iso", date_unit="us")
    return df.to_json(orient="records", force_ascii=False, indent=1, date_format="iso", date_unit="us")


def csv_line_end(df: pd.DataFrame) -> str:
    """The line end to write ``df`` (its cells as written) to CSV/TSV with: ``"\\r\\n"`` when a cell holds a carriage
    return, else ``"\\n"``. Python's csv writer quotes a field holding a character of the line end only: with
    ``"\\n"`` a text with a lone CR (old Mac line ends, a cell pasted from Excel) was written bare, and every reader
    took the CR for the end of a row, one row read as two. A file of such texts has CRLF line ends (a chunked writer
    ends the chunks that hold one so). A header holding one (insights' label columns, named by a model) too."""
    if any("\r" in str(column) for column in df.columns):
        return "\r\n"
    for column in df.columns:
        cells = df[column]
        if not (cells.dtype == object or pd.api.types.is_string_dtype(cells)):
            continue
        try:
            if cells.str.contains("\r", regex=False, na=False).any():
                return "\r\n"
        except AttributeError:  # an object column without strings
            continue
    return "\n"


def csv_cells(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with the cells of every column that holds lists or dicts JSON-encoded (they read back intact)."""
    out = df.copy()
    for col in out.columns:
        # (numpy arrays: Parquet's list cells; written as-is they were "['x']", which reads back as a string)
        if out[col].map(lambda v: isinstance(v, (list, dict, tuple, np.ndarray))).any():
            out[col] = out[col].map(lambda v: "" if _missing(v) else json.dumps(plain_json(v), ensure_ascii=False))
    return out


def _missing(value: Any) -> bool:
    """None or NaN (a cell with no value), which a CSV writes as an empty field."""
    return value is None or (isinstance(value, float) and value != value)


def plain_json(value: Any) -> Any:
    """A cell as plain Python for ``json.dumps``: numpy arrays and scalars (Parquet's lists and structs) as lists and
    numbers, inside dicts and lists too."""
    if isinstance(value, dict):
        return {k: plain_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
        value = value.tolist() if hasattr(value, "tolist") else value
        return [plain_json(v) for v in value] if isinstance(value, list) else value
    return value
