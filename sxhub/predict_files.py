"""The file stage of ``sxhub predict``: a table of any size labelled in chunks, memory bounded whatever its size.

``predict_file`` reads the input in chunks (:func:`sxhub.stream.iter_table`: CSV, TSV, JSONL, Parquet, Hub datasets),
cleans and tokenizes the next chunk on a second thread while the :class:`~sxhub.predict.Predictor` runs this one
(ONNX), and writes each chunk as it is done (:class:`_ChunkWriter`). ``predict_chunk`` is the same work on one chunk,
which Ray's actors run (:mod:`sxhub.ray_predict`).
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from .data import check_text_values, find_text_column, is_missing_text, text_cells
from .errors import InputError
from .predict import Predictor, Prepared, check_predictor_model
from .stream import CHUNK_ROWS, STDIN, RowSlice, check_input, is_lines_source, no_rows_error
from .tables import arrow_table, csv_line_end, output_suffix, parquet_errors, plain_json, records_json, table_suffix

T = TypeVar("T")


@dataclass
class PredictSummary:
    output: Path
    n: int
    seconds: float
    backend: str
    n_empty: int = 0  # rows without a text (empty, NaN): written with no label and no probabilities
    rechecked: int | None = None  # int8: texts rerun in fp32 as near-ties (None: no recheck)
    # texts longer than the model's max_length (cut there, as in training): labelled on their first max_length tokens
    truncated: int = 0
    max_length: int | None = None

    @property
    def texts_per_second(self) -> float:
        """The texts labelled a second: rows without a text never reach the model (counting them, a file of blank
        lines read "Labelled 0 texts in 0.0 s (220 texts/s)")."""
        labelled = self.n - self.n_empty
        if not labelled:
            return 0.0
        return labelled / self.seconds if self.seconds > 0 else float("inf")

    def summary_line(self) -> str:
        empty = f"; {self.n_empty:,} row(s) without a text left unlabelled" if self.n_empty else ""
        labelled = self.n - self.n_empty
        recheck = ""
        if self.rechecked is not None:
            share = self.rechecked / labelled if labelled else 0.0
            recheck = f", {self.rechecked:,} near-ties ({share:.1%}) rerun in fp32"
        where = "stdout" if str(self.output) == STDIN else self.output
        return (
            f"Labelled {labelled:,} texts in {self.seconds:.1f} s ({rate(self.texts_per_second)} texts/s, "
            f"{self.backend}{recheck}){empty}{self.truncated_note()} -> {where}"
        )

    def truncated_note(self) -> str:
        """``; N text(s) longer than the model's M tokens ...``: they were labelled from their first M tokens alone
        (the student was trained so), which the summary never said: an article read as its first paragraph."""
        return truncated_note(self.truncated, self.n - self.n_empty, self.max_length)

    def to_dict(self) -> dict[str, Any]:
        return {
            "output": str(self.output),
            "n": self.n,
            "seconds": round(self.seconds, 3),
            "texts_per_second": round(self.texts_per_second, 1),
            "backend": self.backend,
            "n_empty": self.n_empty,
            "rechecked": self.rechecked,
            "truncated": self.truncated,
            "max_length": self.max_length,
        }


def truncated_note(
    truncated: int | None, n_texts: int, max_length: int | None, *, done: str = "labelled", do: str = "label"
) -> str:
    """``; N text(s) (P%) longer than the model's M tokens labelled on their first M tokens alone ...`` for the
    ``truncated`` of ``n_texts`` texts a model read only the first ``max_length`` tokens of; empty when none was
    (or None: not counted). ``done``/``do`` name what the model did with them (predict labels; doubts checks)."""
    if not truncated:
        return ""
    share = f" ({truncated / n_texts:.0%})" if n_texts else ""
    limit = f"{max_length} tokens" if max_length else "max_length"
    return (
        f"; {truncated:,} text(s){share} longer than the model's {limit} {done} on their first {limit} "
        f"alone (split long texts into passages to {do} all of them)"
    )


def rate(per_second: float) -> str:
    """A rate for a summary line: whole numbers from 10 up, two significant digits below (3 texts in 14.6 s on a
    Ray cluster read "0 texts/s")."""
    return f"{per_second:,.0f}" if per_second >= 10 or per_second == 0 else f"{per_second:.2g}"


def iter_chunks(
    source: str | os.PathLike[str], chunk_rows: int = CHUNK_ROWS, *, rows: RowSlice | None = None
) -> Iterator[pd.DataFrame]:
    """The input table (or its slice ``rows``) in chunks of ``chunk_rows`` rows (:func:`sxhub.stream.iter_table`:
    CSV, TSV, JSONL, Parquet and Hub datasets streamed; a .json array read whole); a ``.txt`` file or standard input
    (``-``) as one ``text`` per line (:func:`sxhub.stream.iter_lines`)."""
    from .stream import iter_input

    for chunk in iter_input(source, chunk_rows=chunk_rows, rows=rows):
        yield chunk.reset_index(drop=True)


def count_rows(source: str | os.PathLike[str]) -> int | None:
    """Row count for the progress bar when it is cheap to get (Parquet metadata, line count of text files)."""
    if str(source) == STDIN:
        return None
    path = Path(source)
    if not path.is_file():
        return None
    suffix = table_suffix(path)
    if suffix in {".txt", ".jsonl"}:
        return _line_count(path)
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return int(pq.ParquetFile(path).metadata.num_rows)
    if suffix in {".csv", ".tsv"}:
        records = _csv_records(path, suffix)
        return records if records is not None else max(0, _line_count(path) - 1)
    return None


def _line_count(path: Path) -> int:
    """The lines of a text file: a last line without "\\n" is one too (a JSONL file's last record was left out of the
    progress bar's total)."""
    with path.open("rb") as fh:
        lines = ends = 0
        for block in iter(lambda: fh.read(1 << 20), b""):
            lines, ends = lines + block.count(b"\n"), block.endswith(b"\n")
    return lines + (path.stat().st_size > 0 and not ends)


# bytes pyarrow parses at a time when it counts a CSV's records. pyarrow holds blocks read ahead of the parsing,
# tens of them: with 16 MiB blocks counting a 1.1 GB CSV (36,000,000 rows) peaked at 497 MB of Arrow memory (211 MB
# for 381 MB), growing with the file, before predict read a row; with 1 MiB, 36 MB for either, as fast. A record
# longer than a block fails the parse, and the lines are counted then.
CSV_BLOCK = 1 << 20


def _csv_records(path: Path, suffix: str) -> int | None:
    """The records of a CSV/TSV file as pandas reads them (a quoted cell may hold line breaks; blank lines are no
    row), counted by pyarrow's CSV parser: a file of 4 texts of 11 lines each showed ``0/44 rows``. Only the first
    column is read, as bytes: ``include_columns=[]`` reads them all, typed from the first block, so a column numeric
    there and text further on (ids 1, 2, ... then doc-7) failed and the lines were counted again. About 0.07 s for
    1,000,000 rows (64 MB, page-cached) on one thread. The header is parsed as a record and taken off (skip_rows
    skips lines: a blank line before the header, or a quoted line break in it, made a record of it). None where
    pyarrow cannot parse it (rows of uneven length: the reading says what is wrong); the lines are counted then."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=False, block_size=CSV_BLOCK, autogenerate_column_names=True),
            parse_options=pacsv.ParseOptions(delimiter="\t" if suffix == ".tsv" else ",", newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(include_columns=["f0"], column_types={"f0": pa.binary()}),
        )
        return max(0, sum(batch.num_rows for batch in reader) - 1)
    except (pa.ArrowException, OSError):
        return None


def _is_json_cell(value: Any) -> bool:
    """A list cell (multi-label ``labels``, Parquet arrays) or an object cell (a JSONL object, a Parquet struct)."""
    return isinstance(value, (list, tuple, dict, np.ndarray))


def _json_cell(value: Any) -> str:
    return json.dumps(plain_json(value), ensure_ascii=False, default=str)


class _ChunkWriter:
    """Appends output chunks to a temporary file and moves it into place when closed; :meth:`abort` leaves nothing.

    Parquet chunks are each written as a part file and joined when closed, under the schema that unifies theirs
    (``promote_options="permissive"``, as ``--engine ray``'s parts are joined): a column all null in the first chunk
    (rows without a text first, an optional JSONL field) is typed null there, and a file written with the first
    chunk's schema could not take a later chunk's strings."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stdout = str(path) == STDIN  # JSON lines on standard output, each chunk as it is done
        self._first = True
        self._columns: list[str] | None = None  # the first chunk's, which every later chunk is written in
        self._rows = 0
        if self._stdout:
            self.suffix = ".jsonl"
            return
        self.suffix = output_suffix(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = path.with_name(path.name + ".tmp")
        self.tmp.unlink(missing_ok=True)
        self.parts = path.with_name(path.name + ".tmp-parts")  # Parquet: one file per chunk
        self._remove_parts()
        self._schemas: list[Any] = []  # the Parquet parts'
        self._unified: Any = None  # their schemas unified so far

    def _in_first_columns(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with the first chunk's columns in their order: a JSONL input's records may list their keys in
        any order, and a CSV chunk appended in another order would put values under the wrong headers."""
        if self._columns is None:
            self._columns = list(frame.columns)
            return frame
        if list(frame.columns) == self._columns:
            return frame
        new = [c for c in frame.columns if c not in self._columns]
        if new and self.suffix in {".csv", ".tsv", ".parquet"}:
            raise InputError(
                f"column(s) {new[:5]} first appear after row {self._rows:,} of the input, but {self.suffix} output "
                "takes its columns from the first rows: give every record every key (null where it has none), or "
                "write .jsonl output."
            )
        return frame.reindex(columns=[*self._columns, *new])

    def write(self, frame: pd.DataFrame) -> None:
        frame = self._in_first_columns(frame)
        self._rows += len(frame)
        if self._stdout:
            write_stdout(records_json(frame, lines=True).encode("utf-8"))
        elif self.suffix in {".csv", ".tsv"}:
            out = frame.copy()
            # list and object cells (multi-label `labels`, kept list columns, JSONL objects) as JSON, which reads
            # back (an object was Python's repr, "{'k': 1}"); other cells as they are
            for name in out.columns:
                if out[name].dtype == object and out[name].map(_is_json_cell).any():
                    out[name] = out[name].map(lambda v: _json_cell(v) if _is_json_cell(v) else v)
            sep = "\t" if self.suffix == ".tsv" else ","
            out.to_csv(self.tmp, mode="a", header=self._first, index=False, sep=sep, lineterminator=csv_line_end(out))
        elif self.suffix == ".jsonl":
            with self.tmp.open("a", encoding="utf-8") as fh:
                fh.write(records_json(frame, lines=True))
        elif self.suffix == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            self.parts.mkdir(exist_ok=True)
            table = arrow_table(frame, self.path)
            # a column typed otherwise than in the chunks before (ids as numbers, then as text) stops here, not at
            # the join after every text was labelled
            with parquet_errors(self.path):
                so_far = [self._unified] if self._unified is not None else []
                self._unified = pa.unify_schemas([*so_far, table.schema], promote_options="permissive")
            pq.write_table(table, self._part(len(self._schemas)))
            self._schemas.append(table.schema)  # as written (a part read back names its list items "element")
        else:  # one JSON array, streamed: "[\n {...},\n {...}\n]" with each chunk's records inside
            body = records_json(frame, lines=False)[2:-2]
            if body:
                with self.tmp.open("a", encoding="utf-8") as fh:
                    fh.write(("[\n" if self._first else ",\n") + body)
                self._first = False
            return
        self._first = False

    def _part(self, i: int) -> Path:
        return self.parts / f"part-{i:06d}.parquet"

    def _join_parts(self) -> None:
        """The Parquet parts as one file (``tmp``), one row group per chunk, cast to their unified schema."""
        import pyarrow.parquet as pq

        schema = self._unified  # unified chunk by chunk in write(), where a column typed apart already stopped
        with pq.ParquetWriter(self.tmp, schema) as writer:
            for i in range(len(self._schemas)):
                writer.write_table(pq.read_table(self._part(i)).cast(schema))

    def _remove_parts(self) -> None:
        if self.parts.is_dir():
            import shutil

            shutil.rmtree(self.parts)

    def close(self) -> None:
        if self._stdout:
            return
        if self._schemas:
            self._join_parts()
            self._remove_parts()
        if self.suffix == ".json":
            with self.tmp.open("a", encoding="utf-8") as fh:
                fh.write("[]" if self._first else "\n]")
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        """Remove what was written: a failed run leaves neither a half-written output nor its temporary files. On
        standard output the lines written stay: each is a whole result, and a reader has them already."""
        if self._stdout:
            return
        self._remove_parts()
        self.tmp.unlink(missing_ok=True)


class StdoutClosed(Exception):
    """The reader of standard output went away (``sxhub predict ... | head``): nobody reads the rest."""


def write_stdout(data: bytes) -> None:
    """``data`` (whole JSON lines) on standard output, flushed, so that a reader gets each chunk as it is done.

    Ctrl-C and SIGTERM wait until the lines are out: the results already written are all whole lines, never one cut
    in the middle. (The signals are blocked in this thread only; another thread takes them and Python raises them
    here once the write is done.) A closed pipe is :class:`StdoutClosed`."""
    import signal
    import sys
    import threading

    out = getattr(sys.stdout, "buffer", None)
    block = hasattr(signal, "pthread_sigmask") and threading.current_thread() is threading.main_thread()
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM}) if block else None
    try:
        if out is None:  # a text stream without bytes under it (a caller's StringIO)
            sys.stdout.write(data.decode("utf-8"))
            sys.stdout.flush()
        else:
            out.write(data)
            out.flush()
    except BrokenPipeError as exc:
        raise StdoutClosed from exc
    finally:
        if previous is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def prediction_columns(
    predictor: Predictor, chunk: pd.DataFrame, labels: list[Any], probs: np.ndarray
) -> pd.DataFrame:
    """The input columns plus ``label``/``labels`` and one ``prob_<label>`` column per label; an input column of one
    of those names is kept as ``<name>_input`` (``<name>_input_2``, ... where that is taken too: predict run on its
    own output)."""
    out = chunk.reset_index(drop=True).copy()
    column = "labels" if predictor.multi_label else "label"
    new = [column, *(f"prob_{name}" for name in predictor.labels)]
    taken = {*out.columns, *new}
    renamed: dict[Any, str] = {}
    for name in new:
        if name in out.columns:
            free, k = f"{name}_input", 2
            while free in taken:
                free, k = f"{name}_input_{k}", k + 1
            renamed[name] = free
            taken.add(free)
    out = out.rename(columns=renamed)
    out[column] = labels
    for j, name in enumerate(predictor.labels):
        # in float64: float32's 0.72395 is 0.7239500284 as a JSON double, while CSV printed 0.72395
        out[f"prob_{name}"] = np.round(probs[:, j].astype(np.float64), 6)
    return out


def predict_chunk(predictor: Predictor, chunk: pd.DataFrame, column: str, *, progress: Any = None) -> pd.DataFrame:
    """One chunk of ``predict_file`` (and of ``--engine ray``'s actors): the input columns plus label(s) and
    probabilities; a row without a text is kept but never predicted (no label, NaN probabilities)."""
    return finish_chunk(predictor, prepare_chunk(predictor, chunk, column), progress=progress)


@dataclass
class _ReadyChunk:
    chunk: pd.DataFrame
    column: str
    missing: np.ndarray
    prepared: Prepared


def prepare_chunk(predictor: Predictor, chunk: pd.DataFrame, column: str) -> _ReadyChunk:
    """The first half of :func:`predict_chunk`: which rows have a text, and those texts made ready for the model."""
    chunk = chunk.reset_index(drop=True)
    texts = chunk[column]
    texts = text_cells(texts, column)
    missing = texts.map(is_missing_text).to_numpy(dtype=bool)
    return _ReadyChunk(chunk, column, missing, predictor.prepare(texts[~missing].tolist()))


def _ready_chunks(
    predictor: Predictor, chunks: Iterator[pd.DataFrame], source: Any, text_column: str | None, column: str | None
) -> Iterator[_ReadyChunk]:
    for chunk in chunks:
        if column is None:
            column = first_chunk_column(chunk, source, text_column)
        yield prepare_chunk(predictor, chunk, column)


def first_chunk_column(chunk: pd.DataFrame, source: Any, text_column: str | None) -> str:
    """The text column, found in the input's first chunk and checked to hold texts (:func:`check_text_values`);
    ``text`` for texts one per line, which are texts whatever they read like ("42" is a text there)."""
    if is_lines_source(source):
        return "text"
    column = find_text_column(chunk, text_column)
    check_text_values(chunk, column)
    return column


def finish_chunk(predictor: Predictor, ready: _ReadyChunk, *, progress: Any = None) -> pd.DataFrame:
    """The second half of :func:`predict_chunk`: the model's labels and probabilities, beside the input columns."""
    chunk, missing = ready.chunk, ready.missing
    labels: list[Any] = [None] * len(chunk)
    probs = np.full((len(chunk), len(predictor.labels)), np.nan, dtype=np.float32)
    if not missing.all():
        got, probs[~missing] = predictor.predict_prepared(ready.prepared, progress=progress)
        for i, label in zip(np.flatnonzero(~missing), got, strict=True):
            labels[i] = label
    if progress is not None:
        progress.update(int(missing.sum()))
    return prediction_columns(predictor, chunk, labels, probs)


def refuse_model_file(output: str | os.PathLike[str], model_dir: str | os.PathLike[str]) -> None:
    """One line when ``output`` is a file the model folder is loaded from (``-o MODEL_DIR/config.json``, its
    sxhub.json or tokenizer.json): the predictions replaced it and the run exited 0, leaving a folder that no longer
    loads. Other files in the folder (``MODEL_DIR/predictions.json``) may be written."""
    from .model_folder import INFO_FILE, MODEL_FILES

    out, folder = Path(output), Path(model_dir)
    if str(output) == STDIN or not folder.is_dir():
        return
    out = out.expanduser().resolve()
    if out.parent not in (folder.resolve(), folder.resolve() / "onnx"):
        return
    if out.name == INFO_FILE or MODEL_FILES.fullmatch(out.name):
        raise InputError(
            f"-o (Python: output=) {str(output)!r} is the model's own file: writing it would break the model in "
            f"{str(model_dir)!r}; pass another path."
        )


def _one_ahead(items: Iterator[T]) -> Iterator[T]:
    """The items of ``items``, each next one computed in a second thread while the caller works on this one.

    ``predict_file`` reads, cleans and tokenizes the next chunk so: that work is mostly single-threaded Python, which
    would leave a core idle between two chunks of model work. An error raised there reaches the caller at that item.
    """
    done = object()
    with ThreadPoolExecutor(1, thread_name_prefix="sxhub-read") as pool:
        future = pool.submit(next, items, done)
        while (item := future.result()) is not done:
            future = pool.submit(next, items, done)
            yield item  # type: ignore[misc]


def predict_file(
    model_dir: str | os.PathLike[str],
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    onnx: bool = False,
    int8: bool = False,
    bf16: bool = False,
    batch_size: int = 32,
    text_column: str | None = None,
    threads: int | None = None,
    recheck: bool | float = True,
    chunk_rows: int = CHUNK_ROWS,
    predictor: Predictor | None = None,
    rows: RowSlice | None = None,
) -> PredictSummary:
    """Label every row of ``source`` (or of its slice ``rows``) and write ``output`` (by extension), streaming in
    chunks: memory stays flat whatever the input's size, for every output format."""
    from .progress import progress_bar

    check_input(source, text_column)  # a missing or empty input fails before the model is loaded
    if predictor is not None:
        check_predictor_model(model_dir, predictor)
    refuse_model_file(output, predictor.model_dir if predictor is not None else model_dir)
    writer = _ChunkWriter(Path(output))  # so does an output of an unknown kind
    # and a table's first chunk: its text column found and holding texts (--text-column idx, a column of numbers, was
    # refused only once the model had loaded: seconds, an ONNX session). Texts one per line have nothing to check,
    # and stdin would hold the model back until its first chunk of lines came.
    source_chunks = iter_chunks(source, chunk_rows, rows=rows)
    first_column: str | None = None
    if not is_lines_source(source):
        first = next(source_chunks, None)
        if first is None:
            raise no_rows_error(source, rows)
        first_column = first_chunk_column(first, source, text_column)
        source_chunks = itertools.chain([first], source_chunks)
    predictor = predictor or Predictor(
        model_dir, onnx=onnx, int8=int8, bf16=bf16, batch_size=batch_size, threads=threads, recheck=recheck
    )
    n = n_empty = 0
    column: str | None = None
    # a predictor= given may have labelled texts before: the summary counts this file's
    truncated_before, rechecked_before = predictor.truncated, predictor.rechecked
    start = time.perf_counter()
    total = (rows or RowSlice()).count(count_rows(source))
    try:
        with progress_bar(total=total, unit="text", desc="predict", dynamic_ncols=True) as bar:
            chunks = _ready_chunks(predictor, source_chunks, source, text_column, first_column)
            # ONNX: the next chunk is prepared alongside (its threads never spin); torch's OpenMP threads wait for
            # each other at every operator, and a third busy thread on their cores makes them wait longer
            # (not stdin: a reading thread blocked on a quiet pipe or a terminal would hold Ctrl-C's exit until the
            # next line came)
            ahead = predictor.backend.startswith("onnx") and str(source) != STDIN
            for ready in _one_ahead(chunks) if ahead else chunks:
                column = ready.column
                writer.write(finish_chunk(predictor, ready, progress=bar))
                n += len(ready.chunk)
                n_empty += int(ready.missing.sum())
        if column is None:
            raise no_rows_error(source, rows)
        writer.close()
    except BaseException:
        writer.abort()
        raise
    seconds = time.perf_counter() - start
    rechecked = predictor.rechecked - rechecked_before if predictor.recheck_margin else None
    return PredictSummary(
        output=Path(output),
        n=n,
        seconds=seconds,
        backend=predictor.backend,
        n_empty=n_empty,
        rechecked=rechecked,
        truncated=predictor.truncated - truncated_before,
        max_length=predictor.info.max_length,
    )
