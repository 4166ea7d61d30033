"""Inputs and outputs of any size, in chunks: row slices, streamed reading, streamed writing.

:func:`iter_table` reads a CSV, TSV, JSONL or Parquet file, or a Hub dataset (``datasets`` streaming), chunk by
chunk; :class:`RowSlice` picks the rows (``--offset``, ``--limit``, ``--shard I/N``) the same way for any input;
:class:`TableWriter` writes what :func:`sxhub.tables.write_table` writes, one chunk at a time. ``annotate``,
``predict`` and ``insights`` use them, so their memory does not grow with the input.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError
from .stream_write import TableWriter  # noqa: F401  (the writing stage: importable from here as before)
from .table_read import (
    check_csv_fields,
    check_parquet_names,
    decode_class_labels,
    decode_json_cells,
    frame_from_records,
    iter_jsonl,
    legacy_encoding,
    parquet_features,
    read_errors,
    read_file,
)
from .tables import (
    ColumnFilter,
    empty_input,
    table_suffix,
)

CHUNK_ROWS = 8192
STREAMED_SUFFIXES = {".csv", ".tsv", ".jsonl", ".parquet"}
STDIN = "-"  # INPUT (and ``-o``) for the standard stream, as shell tools spell it
LINES_SUFFIX = ".txt"  # one text per line, as fasttext and most text tools take them


@dataclass(frozen=True)
class RowSlice:
    """Which rows of an input to use (``--offset``, ``--limit``, ``--shard I/N``), the same for any input.

    The first ``offset`` rows are skipped, then at most ``limit`` rows are taken; of those, shard ``(i, n)`` keeps
    the rows whose position (from 0) is ``i`` modulo ``n``. The shards ``0/n`` ... ``n-1/n`` of a slice hold each of
    its rows exactly once, and a shard is read in one pass without knowing the input's length.
    """

    offset: int = 0
    limit: int | None = None
    shard: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.offset, int) or self.offset < 0:
            raise InputError(f"--offset {self.offset!r} must be an integer >= 0.")
        if self.limit is not None and (not isinstance(self.limit, int) or self.limit < 1):
            raise InputError(f"--limit {self.limit!r} must be a positive integer.")
        if self.shard is not None:
            index, count = self.shard
            if count < 1 or not 0 <= index < count:
                raise InputError(f"--shard {index}/{count}: write I/N with 0 <= I < N, e.g. --shard 0/4 ... 3/4.")
            object.__setattr__(self, "shard", (int(index), int(count)))

    @classmethod
    def parse(cls, *, offset: int | None = None, limit: int | None = None, shard: str | None = None) -> RowSlice:
        """From CLI options; ``shard`` is ``"I/N"``."""
        parsed = None
        if shard is not None:
            match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", shard)
            if not match:
                raise InputError(f"--shard {shard!r} is not I/N; write e.g. --shard 0/4 for the first of 4 shards.")
            parsed = (int(match[1]), int(match[2]))
        return cls(offset=offset or 0, limit=limit, shard=parsed)

    @property
    def is_all(self) -> bool:
        return self.offset == 0 and self.limit is None and (self.shard is None or self.shard[1] == 1)

    def subshard(self, index: int, count: int) -> RowSlice:
        """Shard ``index/count`` of this slice (of its shard, when it has one: shard i/n, sub-shard j/m is the
        rows at positions p with p % n == i and (p // n) % m == j, that is p % (n * m) == i + n * j)."""
        i, n = self.shard or (0, 1)
        return replace(self, shard=(i + n * index, n * count))

    def count(self, total: int | None) -> int | None:
        """How many of an input's ``total`` rows this slice holds (None when ``total`` is unknown): the progress
        bars' total, so that a slice (``--shard I/N`` on each of N machines, ``--limit``) shows its ETA too."""
        if total is None:
            return None
        rows = max(0, total - self.offset)
        if self.limit is not None:
            rows = min(rows, self.limit)
        if self.shard is not None:
            index, n = self.shard
            rows = max(0, (rows - index + n - 1) // n)
        return rows

    def describe(self) -> str:
        parts = [f"offset {self.offset}"] if self.offset else []
        parts += [f"limit {self.limit}"] if self.limit is not None else []
        parts += [f"shard {self.shard[0]}/{self.shard[1]}"] if self.shard else []
        return ", ".join(parts) or "all rows"

    def to_dict(self) -> dict[str, Any]:
        return {"offset": self.offset, "limit": self.limit, "shard": list(self.shard) if self.shard else None}


def looks_like_hub_id(source: str) -> bool:
    return bool(re.match(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?(:[\w.-]+)?$", source)) and not Path(source).suffix


def is_hub_source(source: str) -> bool:
    """Whether ``source`` names a Hub dataset (``user/name`` or ``user/name:split``) rather than a file."""
    return looks_like_hub_id(source) and "/" in source and not Path(source).exists()


def iter_table(
    source: str | os.PathLike[str],
    *,
    chunk_rows: int = CHUNK_ROWS,
    rows: RowSlice | None = None,
    split: str = "train",
    decode_json: bool = False,
    usecols: ColumnFilter | None = None,
) -> Iterator[pd.DataFrame]:
    """The rows of ``rows`` (default: all) of an input, in chunks of ``chunk_rows`` rows (the last may be shorter).

    Each chunk's index is the rows' positions in the input (from 0). CSV, TSV, JSONL and Parquet files and Hub
    datasets are streamed; a ``.json`` array is read whole. Reading stops once the slice's last row is read. The
    chunk boundaries depend only on the input, the slice and ``chunk_rows``, so a resumed run meets the same chunks.
    ``decode_json`` decodes JSON list cells of CSV files as :func:`read_table` does. ``usecols`` (true for each
    column name to read) leaves the other columns unread where the format allows (Parquet column chunks, CSV
    fields), else drops them chunk by chunk.
    """
    rows = rows or RowSlice()
    raw = _raw_chunks(str(source), chunk_rows, split, decode_json, usecols)
    yield from _rechunk(_sliced(raw, rows), chunk_rows)


def _raw_chunks(
    text: str, chunk_rows: int, split: str, decode_json: bool, usecols: ColumnFilter | None = None
) -> Iterator[pd.DataFrame]:
    path = Path(text)
    if is_hub_source(text):
        for chunk in _iter_hub_dataset(text, split=split, chunk_rows=chunk_rows):
            yield chunk if usecols is None else chunk[[c for c in chunk.columns if usecols(str(c))]]
        return
    if not path.is_file():
        read_file(text)  # raises the one-line error (not found, a folder)
    suffix = table_suffix(path)
    if suffix not in STREAMED_SUFFIXES:
        yield read_file(text, usecols=usecols)
        return
    if path.stat().st_size == 0:
        raise empty_input(text)
    with read_errors(path):  # a bad line or a corrupt file: one line and exit code 2, as read_table
        if suffix in {".csv", ".tsv"}:
            for chunk in pd.read_csv(
                path,
                sep="\t" if suffix == ".tsv" else ",",
                chunksize=chunk_rows,
                dtype=str,
                keep_default_na=False,
                encoding="utf-8-sig",
                usecols=usecols,
            ):
                chunk = check_csv_fields(chunk, path)
                yield decode_json_cells(chunk, path) if decode_json else chunk
        elif suffix == ".jsonl":
            yield from iter_jsonl(path, chunk_rows, usecols=usecols)
        else:
            import pyarrow.parquet as pq

            parquet = pq.ParquetFile(path)
            features = parquet_features(parquet.schema_arrow)  # a ClassLabel column comes back as its names
            names = parquet.schema_arrow.names
            check_parquet_names(names, path)
            columns = None if usecols is None else [name for name in names if usecols(name)]
            for batch in parquet.iter_batches(batch_size=chunk_rows, columns=columns):
                # integers with a null stay integers
                yield decode_class_labels(batch.to_pandas(integer_object_nulls=True), features)


def is_lines_source(source: Any) -> bool:
    """Whether ``source`` is texts one per line: standard input (``-``) or a ``.txt`` file."""
    text = str(source)
    return text == STDIN or (not is_hub_source(text) and table_suffix(text) == LINES_SUFFIX)


def source_name(source: Any) -> str:
    """How a line names an input: ``stdin`` for ``-``, else the path as given, quoted."""
    return "stdin" if str(source) == STDIN else repr(str(source))


def iter_lines(
    source: str | os.PathLike[str], *, chunk_rows: int = CHUNK_ROWS, rows: RowSlice | None = None
) -> Iterator[pd.DataFrame]:
    r"""The lines of a ``.txt`` file or of standard input (``-``) as a ``text`` column, in chunks of ``chunk_rows``
    rows indexed by line (from 0), like :func:`iter_table`'s; read as they come, so a stream of any length is held
    one chunk at a time.

    A line ends at ``\n`` only (a ``\r`` before it is dropped: CRLF files); a text may hold any other character
    (``\u2028``, form feeds), which ``str.splitlines`` would have split. An empty line is an empty text (a row
    without a text, as an empty CSV cell is); a final line without ``\n`` is a text. A UTF-8 byte order mark at the
    start is dropped. A line that is not UTF-8 is one line naming it."""

    def lines() -> Iterator[pd.DataFrame]:
        import contextlib

        text = str(source)
        batch: list[str] = []
        with contextlib.nullcontext(_stdin_bytes()) if text == STDIN else Path(text).open("rb") as stream:
            live = _live_fd(stream) if text == STDIN else None
            number = 0
            for raw in _live_lines(live) if live is not None else stream:
                if raw is None:  # the pipe went quiet: what came so far is labelled now
                    if batch:
                        yield pd.DataFrame({"text": batch})
                        batch = []
                        yield _FLUSH
                    continue
                number += 1
                if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                raw = raw[:-1] if raw.endswith(b"\n") else raw
                raw = raw[:-1] if raw.endswith(b"\r") else raw
                try:
                    batch.append(raw.decode("utf-8"))
                except UnicodeDecodeError as exc:
                    raise InputError(
                        f"input {source_name(source)} is not UTF-8 (line {number}, byte {exc.start + 1} of the line: "
                        f"{raw[max(0, exc.start - 10) : exc.start + 10]!r}); re-save it as UTF-8, e.g. "
                        f"`iconv -f {legacy_encoding(raw)} -t utf-8`."
                    ) from None
                # a TSV or CSV piped in (`cat export.tsv | sxhub predict MODEL -`): its header was a text and each
                # row's labels were labelled with its text, where the same file named .txt is refused (a .txt
                # file's first line is checked before any model loads: check_input)
                if number == 1 and text == STDIN and (kind := header_kind(batch[-1])) is not None:
                    raise InputError(
                        f"input stdin looks like a {kind} file: its first line {batch[-1]!r} names columns, and stdin "
                        f"is read as one text per line, that line too; save it as a file (e.g. texts.{kind.lower()}) "
                        "and pass that to read its columns."
                    )
                if len(batch) == chunk_rows:
                    yield pd.DataFrame({"text": batch})
                    batch = []
        if batch:
            yield pd.DataFrame({"text": batch})

    yield from _rechunk(_sliced(lines(), rows or RowSlice()), chunk_rows)


def iter_input(
    source: str | os.PathLike[str],
    *,
    chunk_rows: int = CHUNK_ROWS,
    rows: RowSlice | None = None,
    split: str = "train",
    decode_json: bool = False,
) -> Iterator[pd.DataFrame]:
    """The texts a verb labels (``predict``, ``annotate``, ``twins``, ``insights``), in chunks: a table or a Hub
    dataset as :func:`iter_table` reads it, or texts one per line (a ``.txt`` file, or ``-`` for standard input) as
    :func:`iter_lines` reads them, in a ``text`` column. Every such verb reads its INPUT here, so that one file reads
    the same in each."""
    if is_lines_source(source):
        return iter_lines(source, chunk_rows=chunk_rows, rows=rows)
    return iter_table(source, chunk_rows=chunk_rows, rows=rows, split=split, decode_json=decode_json)


def check_input(source: str | os.PathLike[str], text_column: str | None) -> None:
    """The one line for an INPUT of texts (:func:`iter_input`) that cannot be read, before any model or teacher is
    started: a missing, empty or unknown file (:func:`sxhub.tables.check_file`; ``.txt`` is one text per line), or
    ``--text-column`` given with texts one per line, which have no columns."""
    from .tables import TABLE_SUFFIXES, check_file, not_a_table_line

    text = str(source)
    if is_lines_source(text):
        if text_column:
            raise InputError(
                f"--text-column picks a column of a table, and input {source_name(text)} is one text per line; "
                "drop --text-column."
            )
        if text != STDIN:
            check_file(text, suffixes={LINES_SUFFIX})
            table_named_txt_check(Path(text))
        elif stdin_is_empty():  # as an empty .txt file: said before the model loads, not after
            raise no_rows_error(text, None)
        return
    if is_hub_source(text):
        return
    path = Path(text)
    if path.is_file() and table_suffix(path) not in TABLE_SUFFIXES:
        raise InputError(
            not_a_table_line(path)
            or f"input {text!r} has extension {path.suffix!r}; use .csv, .tsv, .jsonl, .json, .parquet, or .txt (one "
            "text per line), or - to read one text per line from stdin."
        )
    check_file(text)


def table_named_txt_check(path: Path) -> None:
    """The one line for a ``.txt`` file that is a TSV or CSV (Excel's "Text (Tab delimited)", a Kaggle download):
    read one text per line, its header was a text and each row's labels were labelled (and paid for) with its
    text (:func:`header_kind`)."""
    try:
        with path.open("rb") as fh:
            first = fh.readline(4096).decode("utf-8-sig", errors="replace").rstrip("\r\n")
    except OSError:
        return
    kind = header_kind(first)
    if kind is not None:
        raise InputError(
            f"input {str(path)!r} looks like a {kind} file: its first line {first!r} names columns, and a .txt "
            f"file is read as one text per line, that line too; name it {path.stem}.{kind.lower()} to read its "
            "columns."
        )


def header_kind(first: str) -> str | None:
    """``"TSV"`` or ``"CSV"`` when ``first``, the first line of texts one per line, is a table's header: split at tabs
    (else commas) into short names without spaces, one of them a text column's usual name
    (:data:`~sxhub.tables.TEXT_COLUMN_GUESSES`); else None."""
    import csv

    from .tables import TEXT_COLUMN_GUESSES

    for sep, kind in (("\t", "TSV"), (",", "CSV")):
        names = [name.strip() for name in next(csv.reader([first], delimiter=sep), [])]
        plain = all(name and len(name) <= 40 and len(name.split()) == 1 for name in names)
        if len(names) > 1 and plain and any(name.lower() in TEXT_COLUMN_GUESSES for name in names):
            return kind
    return None


def no_rows_error(source: str | os.PathLike[str], rows: RowSlice | None) -> InputError:
    """The line for an input (or its slice ``rows``) that gave no row to label."""
    if rows is not None and not rows.is_all:  # the input has rows, the slice picked none of them
        return InputError(
            f"input {source_name(source)} has no rows in {rows.describe()}: it ends before them; pass a smaller "
            "--offset, or fewer shards."
        )
    if str(source) == STDIN:
        return InputError("stdin gave no line; pipe the texts to it, one per line (e.g. cat texts.txt | ...).")
    return InputError(f"input {str(source)!r} has no rows; give it at least one text.")


# a pipe that gives no new line for this long has its lines so far labelled and written (a person typing, `tail -f`)
QUIET_PIPE_S = 0.25
_FLUSH = pd.DataFrame({"text": []})  # iter_lines' mark: a chunk ends here, however short (never yielded on)


def _live_fd(stream: Any) -> int | None:
    """The file descriptor of standard input when it is a pipe or a terminal that ``select`` can wait on (POSIX),
    else None (a file redirected with ``<``, a test's stand-in, Windows): those are read as files."""
    import stat

    try:
        fd = stream.fileno()
        mode = os.fstat(fd).st_mode
    except (AttributeError, OSError, ValueError):
        return None
    if os.name != "posix" or not (stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISSOCK(mode)):
        return None
    return fd


def _live_lines(fd: int) -> Iterator[bytes | None]:
    """The lines read from ``fd`` as they come (each with its ``\n``; the last may lack one), and None whenever the
    pipe has been quiet for :data:`QUIET_PIPE_S` with no whole line left unread: with 8,192 lines to a chunk,
    `tail -f log | sxhub predict MODEL -` or a person typing saw nothing until 8,192 lines or the end of input."""
    import select

    buffer = b""
    while True:
        end = buffer.find(b"\n")
        while end >= 0:
            yield buffer[: end + 1]
            buffer = buffer[end + 1 :]
            end = buffer.find(b"\n")
        if not select.select([fd], [], [], QUIET_PIPE_S)[0]:
            yield None  # then wait as long as it takes: os.read blocks
        data = os.read(fd, 1 << 16)
        if not data:
            break
        buffer += data
    if buffer:
        yield buffer


def stdin_is_empty() -> bool:
    """Whether standard input is known to hold no byte, without reading any of it: an empty file or /dev/null given
    with ``<``, or a pipe closed with nothing written (``printf '' |``). A pipe still open or a terminal may yet give
    lines: False, and the reading says so when it ends (predict loaded the model first, seconds, for ``</dev/null``)."""
    import select
    import stat

    stream = _stdin_bytes()
    try:
        fd = stream.fileno()
        info = os.fstat(fd)
    except (AttributeError, OSError, ValueError):  # no descriptor (a test's stand-in): a seekable one is peeked at
        try:
            if not stream.seekable():
                return False
            start = stream.tell()
            empty = not stream.read(1)
            stream.seek(start)
            return empty
        except (AttributeError, OSError, ValueError):
            return False
    try:
        if stat.S_ISREG(info.st_mode):
            return info.st_size <= os.lseek(fd, 0, os.SEEK_CUR)
        if stat.S_ISCHR(info.st_mode):
            return info.st_rdev == os.stat(os.devnull).st_rdev
        if os.name == "posix" and (stat.S_ISFIFO(info.st_mode) or stat.S_ISSOCK(info.st_mode)):
            import array
            import fcntl
            import termios

            if not select.select([fd], [], [], 0)[0]:
                return False  # nothing yet, the writer still there
            waiting = array.array("i", [0])
            fcntl.ioctl(fd, termios.FIONREAD, waiting)
            return waiting[0] == 0  # readable with no byte waiting: the end of input
    except OSError:
        pass
    return False


def _stdin_bytes() -> Any:
    """Standard input as bytes (its own buffer: the text layer's encoding is the locale's, not UTF-8)."""
    import sys

    return getattr(sys.stdin, "buffer", sys.stdin)


def _sliced(chunks: Iterator[pd.DataFrame], rows: RowSlice) -> Iterator[pd.DataFrame]:
    end = None if rows.limit is None else rows.offset + rows.limit
    position = 0
    for chunk in chunks:
        if chunk is _FLUSH:
            yield chunk
            continue
        index = np.arange(position, position + len(chunk))
        position += len(chunk)
        keep = index >= rows.offset
        if end is not None:
            keep &= index < end
        if rows.shard is not None:
            keep &= (index - rows.offset) % rows.shard[1] == rows.shard[0]
        chunk = chunk.set_axis(index, axis=0)
        if keep.all():
            yield chunk
        elif keep.any():
            yield chunk[keep]
        if end is not None and position >= end:
            return  # the slice is complete: read no further


def _rechunk(chunks: Iterator[pd.DataFrame], chunk_rows: int) -> Iterator[pd.DataFrame]:
    buffer: list[pd.DataFrame] = []
    held = 0
    for chunk in chunks:
        if chunk is _FLUSH:  # iter_lines' quiet pipe: what is held goes on now
            if held:
                yield pd.concat(buffer) if len(buffer) > 1 else buffer[0]
            buffer, held = [], 0
            continue
        buffer.append(chunk)
        held += len(chunk)
        while held >= chunk_rows:
            joined = pd.concat(buffer) if len(buffer) > 1 else buffer[0]
            yield joined.iloc[:chunk_rows]
            rest = joined.iloc[chunk_rows:]
            buffer, held = ([rest] if len(rest) else []), len(rest)
    if held:
        yield pd.concat(buffer) if len(buffer) > 1 else buffer[0]


def only_positions(chunks: Iterator[pd.DataFrame], positions: np.ndarray, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """The rows of ``chunks`` (indexed by their positions in the input, as :func:`iter_table` yields them) whose
    position is in ``positions`` (sorted), in chunks of ``chunk_rows`` rows; reading stops after the last one."""
    if len(positions) == 0:
        return

    def kept() -> Iterator[pd.DataFrame]:
        last = positions[-1]
        for chunk in chunks:
            index = chunk.index.to_numpy()
            at = np.searchsorted(positions, index).clip(max=len(positions) - 1)
            keep = positions[at] == index
            if keep.any():
                yield chunk[keep]
            if len(index) and index[-1] >= last:
                return

    yield from _rechunk(kept(), chunk_rows)


def _iter_hub_dataset(repo_id: str, *, split: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """A Hub dataset in chunks, streamed (``datasets`` streaming: rows are fetched as they are read)."""
    import datasets

    if ":" in repo_id:
        repo_id, split = repo_id.split(":", 1)
    try:
        ds = datasets.load_dataset(repo_id, split=split, streaming=True)
        for batch in ds.iter(batch_size=chunk_rows):
            frame = frame_from_records(
                [dict(zip(batch, row, strict=True)) for row in zip(*batch.values(), strict=True)]
            )
            yield decode_class_labels(frame, ds.features)  # ClassLabel ids as their names
    except Exception as exc:  # datasets raises many types; all mean "cannot use this id"
        from huggingface_hub import constants

        if constants.HF_HUB_OFFLINE:  # no request was sent, and a streamed dataset is read from the Hub itself
            raise InputError(
                f"Hub dataset {repo_id!r} is read from the Hub as it streams, and HF_HUB_OFFLINE is set; unset "
                "HF_HUB_OFFLINE, or pass a local file (e.g. datasets' Dataset.to_parquet of the cached dataset)."
            ) from exc
        line = _hub_layout_line(repo_id, split) if isinstance(exc, ValueError) else None
        raise InputError(
            line
            or f"Hub dataset {repo_id!r} (split {split!r}) could not be loaded ({type(exc).__name__}); check the id "
            "and HF_TOKEN, or pass a local file."
        ) from exc


def _hub_layout_line(repo_id: str, split: str) -> str | None:
    """The line for a Hub dataset that loads but not as asked (``datasets`` says so in a ValueError): it has configs,
    or no split ``split``; None when it is neither (or cannot be told). "Check the id and HF_TOKEN" was no fix for
    a dataset whose only split is ``test``."""
    import datasets

    try:
        configs = datasets.get_dataset_config_names(repo_id)
        if len(configs) > 1:
            return (
                f"Hub dataset {repo_id!r} has configs {configs[:10]}, and sxhub reads one without configs; save the "
                f'config you want as a file and pass that, e.g. `python -c "import datasets; datasets.load_dataset('
                f"'{repo_id}', '{configs[0]}', split='{split}').to_parquet('{repo_id.split('/')[-1]}-{configs[0]}"
                ".parquet')\"`."
            )
        splits = datasets.get_dataset_split_names(repo_id, configs[0] if configs else None)
    except Exception:  # any failure here: the caller's own line
        return None
    if split in splits or not splits:
        return None
    return f"Hub dataset {repo_id!r} has no split {split!r} (its splits: {splits}); pass {repo_id}:{splits[0]} (a split after the id)."
