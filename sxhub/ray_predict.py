"""``sxhub predict --engine ray``: Ray Data reads the input, an actor pool of students labels it batch by batch,
the rows are written as Parquet in input order and joined (see :mod:`sxhub.distributed`)."""

import contextlib
import logging
import os
import shutil
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from .distributed import (
    RayError,
    check_address,
    connect,
    disconnect,
    ray_module,
    sxhub_cause,
    task_failure,
)
from .errors import InputError, UserError
from .parts import parts_dir
from .stream import CHUNK_ROWS, STDIN, RowSlice, check_input, is_hub_source, no_rows_error

logger = logging.getLogger(__name__)

# Ray schedules by CPU count: a student actor takes most of one CPU and leaves room for the read and write tasks
# (with whole CPUs, N actors on N CPUs would leave none for reading, and the job would wait forever)
ACTOR_CPUS = 0.8
IO_CPUS = 0.1
# each labelled block's count of texts cut at the student's max_length, on its first row (0 on the others): a
# count in an actor stays in its process, so the blocks carry it to the driver, which sums it and drops the column
TRUNCATED = "__sxhub_truncated__"
# and its count of near-ties an int8 student reran in fp32, carried alike; only where the student rechecks (its
# absence says there was no recheck: None, as one process reports it)
RECHECKED = "__sxhub_rechecked__"
COUNTS = (TRUNCATED, RECHECKED)


class StudentActor:
    """One student per actor, loaded once; labels a pandas batch exactly as single-process predict does."""

    def __init__(
        self,
        model: str,
        column: str,
        *,
        onnx: bool,
        int8: bool,
        batch_size: int,
        threads: int | None,
        bf16: bool = False,
        recheck: bool | float = True,
    ) -> None:
        from .predict import Predictor

        self.predictor = Predictor(
            model, onnx=onnx, int8=int8, bf16=bf16, batch_size=batch_size, threads=threads, recheck=recheck
        )
        self.column = column

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        import numpy as np

        from .predict_files import predict_chunk

        predictor = self.predictor
        before = predictor.truncated, predictor.rechecked
        labelled = predict_chunk(predictor, batch, self.column)
        counts = {TRUNCATED: predictor.truncated - before[0]}
        if predictor.recheck_margin:  # one process's summary reports rechecked then (0 when no text was near a tie)
            counts[RECHECKED] = predictor.rechecked - before[1]
        columns = {}
        for name, count in counts.items():
            column = np.zeros(len(labelled), dtype="int64")
            if len(column):
                column[0] = count
            columns[name] = column
        return labelled.assign(**columns)


def _read(source: str, rows: RowSlice, *, chunk_rows: int = CHUNK_ROWS) -> tuple[Any, list[str] | None]:
    """A Ray Dataset of the input (or its slice) and its columns when they are cheap to know.

    A local file or a Hub dataset is read by :func:`_read_chunks`, in the chunks single-process predict labels, so
    both give the same labels and probabilities. A URL is read by Ray's own parallel readers (CSV cells as strings,
    as single-process predict reads them); its batches are Ray's, so an int8 student's probabilities there may
    differ from one process in the last digits (its activation scales depend on which texts share a batch)."""
    ray = ray_module()
    if "://" not in source:
        return _read_chunks(source, rows, chunk_rows=chunk_rows)
    suffix = Path(source.split("?", 1)[0]).suffix.lower()
    columns: list[str] | None = None
    if suffix in {".csv", ".tsv"}:
        ds, columns = _read_csv(source, delimiter="\t" if suffix == ".tsv" else ",")
    elif suffix in {".jsonl", ".json"}:
        ds = ray.data.read_json(source, num_cpus=IO_CPUS)
    elif suffix in {".parquet", ".pq"}:
        ds = ray.data.read_parquet(source, num_cpus=IO_CPUS)
        columns = ds.schema().names  # from the files' metadata: reads no rows
    else:
        raise InputError(f"input {source!r}: --engine ray reads .csv, .tsv, .jsonl or .parquet (or a Hub dataset).")
    return (ds.limit(rows.limit) if rows.limit is not None else ds), columns


def _first_chunk(ds: Any, chunk_rows: int) -> pd.DataFrame:
    """The first ``chunk_rows`` rows of a URL's Dataset, read by Ray's reader as the students will get them (CSV
    cells as strings, JSON and Parquet values with their types), for the check a local file's first chunk has
    (:func:`sxhub.data.check_text_values`): a text column of numbers was labelled at a URL ("1", "2.5" as
    texts, exit 0) where the same file here was refused. Ray stops reading once it has the rows (the limit reaches
    its read tasks); the students are not started yet."""
    return ds.limit(chunk_rows).to_pandas()


def _read_chunks(source: str, rows: RowSlice, *, chunk_rows: int) -> tuple[Any, list[str]]:
    """The rows of a local file or Hub dataset (or of their slice: ``--offset``, ``--limit``, ``--shard``) as a Ray
    Dataset, read by the reader of single-process predict (:func:`sxhub.stream.iter_table`), in its chunks.

    One read task streams the input chunk by chunk (reading costs little beside the students, which run in the
    actor pool), on the driver's node, where the path the user gave exists. Each chunk is one block and one actor
    batch, the very chunk single-process predict labels at once: the student sorts a call's texts by length into
    batches, and an int8 model's activation scales depend on which texts share a batch, so other chunks would give
    other probabilities in the last digits (and, at a near tie, another label). A row's place after an offset or in
    a shard is its position in the whole input, which Ray's parallel readers do not know either.
    """
    from ray.data.block import BlockMetadata
    from ray.data.datasource import Datasource, ReadTask

    from .stream import iter_input

    split = "train"
    if is_hub_source(source):
        source, _, split = source.partition(":")
        split = split or "train"
    else:
        source = str(Path(source).resolve())  # the read task's working folder is Ray's, not ours

    def chunks(size: int, part: RowSlice | None = None) -> Iterator[pd.DataFrame]:
        # a .txt file: one text per line, as single-process predict reads it
        return iter_input(source, chunk_rows=size, rows=part, split=split)

    head = next(chunks(1), None)  # the columns, from the first row
    if head is None:
        raise InputError(f"input {source!r} has no rows; give it at least one text.")

    def read() -> Iterator[pd.DataFrame]:
        for chunk in chunks(chunk_rows, rows):
            yield chunk.reset_index(drop=True)

    class ChunkDatasource(Datasource):
        def estimate_inmemory_data_size(self) -> int | None:
            return None

        def get_read_tasks(
            self, parallelism: int, per_task_row_limit: int | None = None, data_context: Any = None
        ) -> list[ReadTask]:
            metadata = BlockMetadata(num_rows=None, size_bytes=None, exec_stats=None, input_files=None)
            return [ReadTask(read, metadata, per_task_row_limit=per_task_row_limit)]

        @property
        def supports_distributed_reads(self) -> bool:
            return False  # run the one read task on the driver's node

    # one read task whose blocks are never split (Ray splits blocks to reach its parallelism otherwise)
    ds = ray_module().data.read_datasource(ChunkDatasource(), num_cpus=IO_CPUS, override_num_blocks=1)
    return ds, [str(c) for c in head.columns]


def check_csv_source(source: str, rows: RowSlice) -> None:
    """Refuse, in the one line single-process predict gives, a CSV whose rows would be read merged or split.

    A local CSV or TSV is read here once by the reader of single-process predict (:func:`sxhub.stream.iter_table`,
    the reader the read task uses): its refusals (a quote that runs over lines, a row with an extra field) came from
    inside a Ray task, as a RayTaskError with its traceback, after the students had loaded. A CSV at a URL is read by
    pyarrow, which took a text starting with an unpaired quote as a field running to the next quote, lines later
    (6 rows read as 4, without a word): it is scanned here with the csv module in strict mode, as
    :func:`sxhub.csv_checks.check_csv_quotes` scans a local one, in one streamed pass that also keeps what
    :class:`sxhub.csv_checks.RecordSample` needs to find a row swallowed by a quote closed right before a comma. A TSV at a URL is read by pyarrow
    with the same quoting, so it is scanned for :func:`sxhub.csv_checks.check_tsv_quotes`' sign (a cell holding tabs
    and line breaks) the same way."""
    import io

    from .csv_checks import (
        RecordSample,
        csv_run_over_error,
        quoted_field_run_over,
        tsv_field_run_over,
        tsv_run_over_error,
    )
    from .stream import iter_table

    suffix = Path(source.split("?", 1)[0]).suffix.lower()
    if suffix not in {".csv", ".tsv"}:
        return
    if "://" not in source:
        for _ in iter_table(source, rows=rows):
            pass
        return
    from pyarrow import fs

    filesystem, path = fs.FileSystem.from_uri(source)
    end = None if rows.limit is None else rows.offset + rows.limit  # the slice's rows are counted from the start
    with filesystem.open_input_stream(path) as stream:
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
        if suffix == ".tsv":
            merged = tsv_field_run_over(text, rows=end)
            error = None if merged is None else tsv_run_over_error(source, *merged)
        else:
            sample = RecordSample()
            found = quoted_field_run_over(text, rows=end, sample=sample)
            swallowed = sample.swallowed() if found is None else None
            if swallowed is not None:
                error = csv_run_over_error(source, swallowed[0], row_line=swallowed[1])
            else:
                error = None if found is None else csv_run_over_error(source, found)
    if error is not None:
        raise error


def _read_csv(source: str, *, delimiter: str) -> tuple[Any, list[str]]:
    import io

    import pyarrow as pa
    from pyarrow import csv as pacsv
    from pyarrow import fs

    filesystem, path = fs.FileSystem.from_uri(source if "://" in source else str(Path(source).resolve()))
    with filesystem.open_input_stream(path) as stream:
        head = stream.read(1 << 16).decode("utf-8-sig", errors="replace")
    columns = list(pd.read_csv(io.StringIO(head), sep=delimiter, nrows=0, dtype=str).columns)
    if not columns:
        raise InputError(f"input {source!r} has no header row; give it one (e.g. text) and at least one text.")
    convert = pacsv.ConvertOptions(column_types={c: pa.string() for c in columns}, strings_can_be_null=False)
    ds = ray_module().data.read_csv(
        source,
        parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
        convert_options=convert,
        num_cpus=IO_CPUS,
    )
    return ds, columns


@contextlib.contextmanager
def ray_data_console(quiet: bool) -> Iterator[None]:
    """Ray Data's console lines while a quiet (``-q``) run executes: its INFO lines ("Starting execution of Dataset
    ...", "Execution plan ...", "Data sink Parquet finished ...") went to stderr under ``sxhub -q predict``; its
    console handler (``ray.data._internal.logging``'s ``console``, INFO) shows warnings only then, put back after.
    Its log file (``ray-data.log`` in the session's folder) keeps everything, and its warning that progress bars
    are off (what ``-q`` asked for) is not shown. Also hides Ray Data's UserWarning that
    a pool of N actors received fewer inputs than N (a small input: one chunk reaches one actor), which says nothing
    a user of sxhub's default pool size can act on."""
    handlers = [
        h
        for h in logging.getLogger("ray.data").handlers
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
    ]
    levels = [h.level for h in handlers]
    asked = _NoProgressNote()  # its warning that progress bars are off, which -q asked for
    notices = _NoErrorNotice()  # predict_ray says the error in one line
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The minimum number of concurrent actors", category=UserWarning)
        try:
            for handler in handlers:
                handler.addFilter(notices)
            if quiet:
                for handler in handlers:
                    handler.setLevel(max(handler.level, logging.WARNING))
                    handler.addFilter(asked)
            yield
        finally:
            for handler, level in zip(handlers, levels, strict=True):
                handler.setLevel(level)
                handler.removeFilter(asked)
                handler.removeFilter(notices)


class _NoProgressNote(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Progress bars disabled")


# Ray Data's console lines about an error that ends the run, with its traceback (an actor's error, raised as the
# actor raised it, reads to Ray Data as one of its own: "please open an issue"): the error is predict_ray's one
# line, and the lines and the traceback stay in Ray Data's log file, which that line names
ERROR_NOTICES = ("An exception was raised from a task of operator", "Exception occurred in", "Full stack trace")


class _NoErrorNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(ERROR_NOTICES)


def predict_ray(
    model_dir: str | os.PathLike[str],
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    address: str | None = None,
    workers: int | None = None,
    onnx: bool = False,
    int8: bool = False,
    bf16: bool = False,
    batch_size: int = 32,
    text_column: str | None = None,
    threads: int | None = None,
    recheck: bool | float = True,
    rows: RowSlice | None = None,
    chunk_rows: int = CHUNK_ROWS,
    progress: bool = True,
) -> Any:
    """Label every row of ``source`` with an actor pool of ``workers`` students (default: :func:`pool_shape`) and
    write ``output`` (Parquet) in input order; labels and probabilities equal :func:`sxhub.predict_files.predict_file`'s."""
    from .data import find_text_column
    from .model_info import onnx_path, read_model_info, resolve_model_dir
    from .predict import Predictor, backend_name
    from .predict_files import PredictSummary, first_chunk_column, iter_chunks

    if str(source) == STDIN:
        raise UserError(
            "--engine ray cannot read stdin: its reader runs in a Ray worker, which has none; save the texts to a "
            "file (one per line: texts.txt) and pass that, or drop --engine ray."
        )
    if str(output) == STDIN:
        raise UserError("--engine ray writes a Parquet file, not stdout; pass -o OUT.parquet, or drop --engine ray.")
    out = Path(output)
    if out.suffix.lower() not in {".parquet", ".pq"}:
        raise UserError(f"--engine ray writes Parquet; name the output .parquet (e.g. -o {out.stem}.parquet).")
    # Ray's write tasks run in the folder their node was started in: a relative OUT.parts/ was written there, and
    # this process, finding none of it, said the input had no rows
    out = out.absolute()
    local = resolve_model_dir(model_dir)
    info = read_model_info(local)  # a bad folder fails here, in one line, before any worker starts
    if onnx and not onnx_path(local, int8=int8).is_file():
        raise UserError(
            f"{onnx_path(local, int8=int8)} not found; run sxhub export {local}{' --int8' if int8 else ''}."
        )
    rows = rows or RowSlice()
    if (rows.offset or rows.shard) and "://" in str(source):
        raise UserError(
            f"--offset and --shard with --engine ray read a local file or a Hub dataset, not {str(source)!r}; copy "
            "it here first, or leave them out (--limit N works on any URL)."
        )
    if "://" not in str(source):  # a local file or a Hub dataset: refused as single-process predict refuses it
        check_input(source, text_column)
        first = next(iter_chunks(source, chunk_rows, rows=rows), None)
        if first is not None:  # (none: the slice is empty, said once Ray has read it)
            first_chunk_column(first, source, text_column)  # a text column of numbers: one line, not labelled
    check_csv_source(str(source), rows)  # on the driver, before the cluster and the students start
    ray = ray_module()
    if address := address or os.environ.get("RAY_ADDRESS"):
        check_address(address)  # before the student is opened
    # opened here once, as one process opens it: a student an actor cannot open (an int8 export without the fp32
    # one it reruns near-ties with, weights that do not load) failed in every actor's constructor, Ray printed
    # each traceback on stdout and the run ended in ActorDiedError's text, not in the line one process gives
    Predictor(local, onnx=onnx, int8=int8, bf16=bf16, batch_size=batch_size, recheck=recheck)
    # Ray Data's settings for the Datasets this process creates from here on (each Dataset takes a copy when it is
    # created): put back after, as they were; they stayed set for the caller's own Datasets after the command
    context = ray.data.DataContext.get_current()
    kept = (
        context.execution_options.preserve_order,
        context.enable_progress_bars,
        context.raise_original_map_exception,
    )
    owned = connect(address, quiet=not progress)
    start = time.perf_counter()
    folder = parts_dir(out)
    try:
        context.execution_options.preserve_order = True  # rows come out in input order, as in one process
        context.enable_progress_bars = progress
        # an actor's error as the actor raised it (an sxhub refusal keeps its type and line), not a UserCodeException
        # that carries only its traceback's text
        context.raise_original_map_exception = True
        with ray_data_console(quiet=not progress):
            ds, columns = _read(str(source), rows, chunk_rows=chunk_rows)
            first = _first_chunk(ds, chunk_rows) if "://" in str(source) else None
            if first is not None and len(first.columns):  # a text column of numbers: one line, not labelled
                column = first_chunk_column(first, source, text_column)
            else:
                column = find_text_column(pd.DataFrame(columns=columns or ds.schema().names), text_column)
            threads, size = pool_shape(threads, workers)
            labelled = ds.map_batches(
                StudentActor,
                fn_constructor_kwargs={
                    "model": str(model_dir) if not Path(model_dir).exists() else str(Path(model_dir).resolve()),
                    "column": column,
                    "onnx": onnx,
                    "int8": int8,
                    "bf16": bf16,
                    "batch_size": batch_size,
                    "threads": threads,
                    "recheck": recheck,
                },
                batch_size=chunk_rows,
                batch_format="pandas",
                compute=ray.data.ActorPoolStrategy(size=size),
                num_cpus=round(threads - (1 - ACTOR_CPUS), 2),  # a CPU per thread, less room for the I/O tasks
            )
            if folder.exists():
                shutil.rmtree(folder)
            labelled.write_parquet(str(folder), ray_remote_args={"num_cpus": IO_CPUS})
            if not any(folder.glob("*.parquet")):  # the input has rows (read above), the slice picked none
                raise no_rows_error(source, rows)
            n, n_empty, truncated, rechecked = _join_parquet(folder, out)
    except Exception as exc:
        # an actor's refusal (a later chunk's text a list, say) came as RayTaskError(UserCodeException), its text
        # the whole traceback: the CLI printed that on one line (exit 1) where one process gives sxhub's line
        cause = sxhub_cause(exc)
        if cause is not exc:
            raise _without_retry_note(cause) from exc
        if type(exc).__module__.startswith("ray."):
            raise RayError(
                f"predict failed on the cluster ({task_failure(exc)}); nothing is written. Ray Data's log on this "
                "machine (ray-data.log in Ray's session folder, /tmp/ray/session_latest/logs by default) has the "
                "traceback."
            ) from exc
        raise
    finally:
        (
            context.execution_options.preserve_order,
            context.enable_progress_bars,
            context.raise_original_map_exception,
        ) = kept
        disconnect(owned)
        # a run stopped (Ctrl-C, SIGTERM, a failed actor) left Ray's parts of the rows done: nothing half-written
        # is left, as one process leaves none (removed once the cluster this command started has stopped writing)
        shutil.rmtree(folder, ignore_errors=True)
    backend = backend_name(onnx=onnx, int8=int8, bf16=bf16)
    return PredictSummary(
        output=Path(output),  # as given, as one process reports it
        n=n,
        seconds=time.perf_counter() - start,
        backend=f"{backend}, ray x{size}",
        n_empty=n_empty,
        rechecked=rechecked,
        truncated=truncated,
        max_length=info.max_length,
    )


RETRY_NOTE = "\nFailed to apply UDF transform after "


def pool_shape(threads: int | None, workers: int | None) -> tuple[int, int]:
    """The student actors' threads each and their number: ``threads`` (1 by default; at most the CPUs of the
    cluster's largest node, where an actor must fit) and ``workers``, by default as many actors as fit on the
    cluster's nodes with a CPU per thread.

    Each actor reserves a CPU per thread (less :data:`ACTOR_CPUS`' room for reading and writing): with ``--threads
    2`` each actor reserved 0.8 of a CPU, and the pool had one actor per CPU, so every node ran twice as many threads
    as it has cores."""
    ray = ray_module()
    nodes = [n.get("Resources", {}).get("CPU", 0) for n in ray.nodes() if n.get("Alive")]
    largest = int(max(nodes, default=1)) or 1
    threads = max(1, min(threads or 1, largest))
    return threads, workers or max(1, sum(int(cpus // threads) for cpus in nodes))


def _without_retry_note(exc: BaseException) -> BaseException:
    """``exc`` without the lines Ray Data appends to an actor's error about its retries (``Failed to apply UDF
    transform after 1/1 attempts ... if you believe this to be transient.``): an sxhub refusal says what to fix."""
    if exc.args and isinstance(exc.args[0], str) and RETRY_NOTE in exc.args[0]:
        exc.args = (exc.args[0].split(RETRY_NOTE, 1)[0], *exc.args[1:])
    return exc


def _join_parquet(folder: Path, out: Path) -> tuple[int, int, int, int | None]:
    """The Parquet files Ray wrote (named by write task, in input order) as one file; (rows, rows without label,
    texts cut at max_length, near-ties rerun in fp32 or None without a recheck: the blocks' counts summed, their
    columns left out of the file)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from .stream import TableWriter

    files = sorted(folder.glob("*.parquet"))
    if not files:
        raise InputError("the input has no rows; give it at least one text.")
    schema = pa.unify_schemas([pq.read_schema(f) for f in files], promote_options="permissive")
    label = "labels" if "labels" in schema.names else "label"
    for name in COUNTS:
        if name in schema.names:
            schema = schema.remove(schema.get_field_index(name))
    writer = TableWriter(out, schema=schema)
    n = n_empty = 0
    counts: dict[str, int] = {}
    try:
        for file in files:
            table = pq.read_table(file)
            for name in COUNTS:
                if name in table.column_names:
                    counts[name] = counts.get(name, 0) + int(pc.sum(table[name]).as_py() or 0)
                    table = table.drop_columns([name])
            table = table.cast(schema)
            writer.write_arrow(table)
            n += table.num_rows
            n_empty += int(pc.sum(pc.is_null(table[label])).as_py() or 0)
        writer.close()
    except BaseException:
        writer.abort()
        raise
    return n, n_empty, counts.get(TRUNCATED, 0), counts.get(RECHECKED)
