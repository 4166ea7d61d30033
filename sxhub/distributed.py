"""Ray as the engine for runs that outgrow one process or one machine (``--engine ray``).

* ``sxhub predict ... --engine ray``: Ray Data reads the input (CSV, JSONL, Parquet: a local path or any fsspec URL
  pyarrow reads; or a Hub dataset, streamed), an actor pool holds the student (int8 ONNX, ONNX or torch: one
  :class:`~sxhub.predict.Predictor` per actor) and labels it batch by batch with the code of single-process
  ``predict`` (:func:`~sxhub.predict_files.predict_chunk`), and the rows are written as Parquet, in input order
  (``preserve_order``), then joined into one file.
* ``sxhub annotate ... --engine ray``: the input is split into shards by text (:func:`split_by_text`: every copy
  of a text, after preprocessing, lands in the same shard, so it is asked once and later copies are dropped there
  as in one process); each shard is a Ray task that runs the async engine of :mod:`sxhub.annotate` chunk by chunk
  (:func:`sxhub.parts.label_shard`), with its own label cache and its own part files under ``OUT.parts/`` (it
  reads the user's label cache, ``$SXHUB_CACHE``, too, where its node has it); the parts are merged at the end
  (:func:`sxhub.parts.assemble`). A rerun skips finished shards and resumes unfinished ones from their parts and
  caches. At most ``parallel`` shards run at once and each gets a share of
  ``--concurrency``, so the requests in flight against the teacher never exceed it, whatever the cluster's size.
  A worker that dies is retried by Ray (``max_retries``): its parts and cached answers are reused, and every input
  row is in OUT exactly once.

``--address`` or ``$RAY_ADDRESS`` joins a cluster; without one a local Ray is started for the run and stopped after
it. On a cluster of several machines OUT (and its ``OUT.parts/``) must be on storage every node sees (NFS, a shared
volume), and every node needs sxhub installed. ``import sxhub`` never imports Ray: only this module does, when called.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from .cache import CACHE_FILE, default_cache_dir
from .errors import InputError, SxhubError, UserError
from .parts import CHUNK_ROWS as ANNOTATE_CHUNK_ROWS
from .parts import PartsResult, ShardJob, ShardState, finish, label_shard, parts_dir, prepare_job, shard_dir
from .spec import TaskSpec, TeacherSpec
from .stream import CHUNK_ROWS, RowSlice, is_hub_source

logger = logging.getLogger(__name__)

TASK_RETRIES = 3  # a shard whose worker died is run again this many times (its parts and cache are kept)
# Ray schedules by CPU count: a student actor takes most of one CPU and leaves room for the read and write tasks
# (with whole CPUs, N actors on N CPUs would leave none for reading, and the job would wait forever)
ACTOR_CPUS = 0.8
IO_CPUS = 0.1


class RayError(SxhubError):
    """Ray could not run the job (no cluster at the address, a shard that kept losing its worker)."""


class RayAddressError(RayError, UserError):
    """Nothing answers at the cluster address given (exit code 2: the command's argument is wrong)."""


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise UserError('--engine ray needs Ray; run pip install "sxhub[ray]" (or pass --engine local).') from exc
    return ray


def connect(address: str | None = None) -> bool:
    """Join the cluster at ``address`` (or ``$RAY_ADDRESS``), else start a local Ray; True when this call started
    or joined it (then :func:`disconnect` ends it), False when this process was already connected."""
    ray = _ray()
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address is not None:
        check_address(address)
    options: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
    if address is None:
        options["include_dashboard"] = False
    sigterm = _sigterm_handler()
    try:
        ray.init(address=address, **options)
    except ValueError as exc:  # an address Ray cannot read
        raise RayAddressError(
            f"--address {address!r} is not a Ray cluster address ({str(exc)[:120]}); write HOST:PORT (the head node's "
            "`ray start --head` prints it), ray://HOST:10001 for Ray Client, or auto."
        ) from exc
    except (ConnectionError, RuntimeError) as exc:
        raise RayError(
            f"could not join the Ray cluster at {address!r} ({type(exc).__name__}: {str(exc)[:120]}); start one with "
            "`ray start --head` and pass its address (--address or RAY_ADDRESS), or leave both out for a local Ray."
        ) from exc
    _restore_sigterm(sigterm)
    return True


def _sigterm_handler() -> Any:
    """The SIGTERM handler set now (None outside the main thread, where none can be set)."""
    import signal
    import threading

    return signal.getsignal(signal.SIGTERM) if threading.current_thread() is threading.main_thread() else None


def _restore_sigterm(handler: Any) -> None:
    """Set ``handler`` (one of Python code: the CLI's raises :class:`~sxhub.interrupts.Terminated`) for SIGTERM again.

    ``ray.init`` replaces it with its own, which exits: a SIGTERM on the driver ended it with exit code 1 and no
    line, the shards' workers killed with their requests in flight, instead of a tidy stop (143 'Terminated; ...')."""
    import signal

    if callable(handler) and signal.getsignal(signal.SIGTERM) is not handler:
        signal.signal(signal.SIGTERM, handler)


PROBE_SECONDS = 5.0


def check_address(address: str) -> None:
    """Refuse at once, in one line, a ``host:port`` (or ``ray://host:port``) where nothing takes connections: Ray
    retries a cluster that is not there for some twenty minutes (a connect timeout and a 30 s wait per try,
    printing warnings) before it gives up. ``auto`` and other forms are left to Ray."""
    import socket

    host_port = address.removeprefix("ray://")
    host, sep, port = host_port.rpartition(":")
    if not sep or not host or not port.isdigit() or "/" in host_port:
        return  # "auto", "local", or a form Ray reads (and refuses at once)
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_SECONDS).close()
    except OSError as exc:
        why = exc.strerror or str(exc) or type(exc).__name__
        raise RayAddressError(
            f"no Ray cluster answers at {address!r} ({why}); check the address (the head node's `ray start --head` "
            "prints it, port 6379 by default; ray://HOST:10001 for Ray Client) and that the node is up, or leave "
            "out --address and RAY_ADDRESS for a local Ray."
        ) from exc


def disconnect(owned: bool) -> None:
    if owned:
        _ray().shutdown()


def _cause(exc: BaseException) -> BaseException:
    """The sxhub error inside a Ray task error (so the CLI gives its one line and exit code), else ``exc``."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, SxhubError) else exc


# ------------------------------------------------------------------------------------------------------------------
# annotate: shards as Ray tasks
# ------------------------------------------------------------------------------------------------------------------
def _run_shard(job: ShardJob) -> str:
    """The Ray task: one shard, labelled chunk by chunk into its folder (a retry resumes there).

    A first interrupt on the driver reaches it as Ctrl-C (:func:`finish_in_flight`: ``ray.cancel`` calls the task's
    SIGINT handler), which a worker may have inherited as ignored (its node started by a process that ignores it):
    the shard then never stopped sending. Python's handler is set for the task there."""
    import signal
    import threading

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.getsignal(signal.SIGINT)
        if previous == signal.SIG_IGN:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        label_shard(job)
    finally:
        if previous == signal.SIG_IGN:
            signal.signal(signal.SIGINT, previous)
    return str(job.folder)


def concurrency_slots(concurrency: int, parallel: int) -> list[int]:
    """``concurrency`` split over ``parallel`` running shards (each at least 1; the sum is ``concurrency``)."""
    parallel = max(1, min(parallel, concurrency))
    return [concurrency // parallel + (1 if s < concurrency % parallel else 0) for s in range(parallel)]


def annotate_ray(
    spec: TaskSpec,
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    address: str | None = None,
    shards: int = 16,
    workers: int | None = None,
    teachers: Sequence[TeacherSpec | str] | None = None,
    samples: int | None = None,
    concurrency: int = 8,
    rows: RowSlice | None = None,
    split: str = "train",
    text_column: str | None = None,
    keep_columns: Sequence[str] = (),
    preprocess: bool | None = None,
    max_chars: int = 20_000,
    chunk_rows: int = ANNOTATE_CHUNK_ROWS,
    restart: bool = False,
    progress: bool = True,
    max_retries: int = 4,
    max_invalid: int = 2,
    backoff: float = 1.0,
    max_wait: float = 60.0,
    seed: int = 0,
    task_retries: int = TASK_RETRIES,
) -> PartsResult:
    """Label ``source`` into ``out`` with ``shards`` Ray tasks (module docstring); the arguments are those of
    :func:`sxhub.parts.annotate_to_file` plus the cluster (``address``), the number of shards and ``workers`` (shards
    running at once; default: the cluster's CPUs). Teachers must be specs (each task opens its own)."""
    if teachers is not None and any(not isinstance(t, (TeacherSpec, str, dict)) for t in teachers):
        raise UserError("--engine ray opens the teachers in each task: pass teacher specs, not Teacher objects.")
    if shards < 1:
        raise UserError(f"shards={shards} must be at least 1.")
    if address := address or os.environ.get("RAY_ADDRESS"):
        check_address(address)  # before the parts folder and a pass over the input
    out = Path(out)
    with ExitStack() as hold:  # OUT.parts/ locked by the driver for the run (the shards' tasks run under it)
        job, parts = prepare_job(
            spec,
            str(source),
            out,
            teachers=teachers,
            samples=samples,
            concurrency=concurrency,
            rows=rows,
            split=split,
            text_column=text_column,
            keep_columns=keep_columns,
            preprocess=preprocess,
            max_chars=max_chars,
            chunk_rows=chunk_rows,
            restart=restart,
            shards=shards,
            max_invalid=max_invalid,
            seed=seed,
            hold=hold,
        )
        job.progress, job.max_retries, job.backoff, job.max_wait = False, max_retries, backoff, max_wait
        # the user's label cache, read by every shard that sees it: its answers were asked again, paid twice
        job.read_caches = [str(default_cache_dir() / CACHE_FILE)]
        start = time.perf_counter()
        todo = [i for i in range(shards) if not _complete(shard_dir(parts, i, shards))]
        if todo:
            split_by_text(job, parts, shards)
            owned = connect(address)
            try:
                _run_shards(
                    job, parts, todo, shards=shards, workers=workers, task_retries=task_retries, progress=progress
                )
            finally:
                disconnect(owned)
        return finish(job, parts, out, shards=shards, start=start)


SHARD_ROWS = "rows.npy"
SPLIT_DONE = "split.json"


def split_by_text(job: ShardJob, parts: Path, shards: int) -> None:
    """Give each input row of ``job.rows`` to the shard its text hashes to (the text as labelled: preprocessed),
    writing each shard's positions to ``<shard>/rows.npy``: a text repeated anywhere in the input is asked once.

    One pass over the input in this process (the preprocessing a single-process run does anyway); it holds 8 bytes
    per row. Done once per parts folder (``split.json``); a resumed run reuses it."""
    import json

    import numpy as np

    from .data import find_text_column, is_missing_text, preprocess_text
    from .parts import text_hash
    from .stream import iter_table

    done = parts / SPLIT_DONE
    if done.is_file():
        return
    found: list[list[Any]] = [[] for _ in range(shards)]
    column = job.text_column
    for chunk in iter_table(job.source, rows=job.rows, split=job.split, decode_json=True):
        column = column or find_text_column(chunk, None)
        if column not in chunk.columns:
            find_text_column(chunk, column)  # the one-line error naming the columns
        raw = chunk[column].map(lambda v: "" if is_missing_text(v) else str(v))
        texts = raw.map(preprocess_text) if job.preprocess else raw.map(str.strip)  # as prepare_texts does
        keys = np.fromiter((int.from_bytes(text_hash(t)[:8], "little") % shards for t in texts), np.int64, len(texts))
        positions = chunk.index.to_numpy(dtype=np.int64)
        for i in range(shards):
            found[i].append(positions[keys == i])
    counts = []
    for i, arrays in enumerate(found):
        folder = shard_dir(parts, i, shards)
        folder.mkdir(parents=True, exist_ok=True)
        rows = np.concatenate(arrays) if arrays else np.empty(0, np.int64)
        with (folder / (SHARD_ROWS + ".tmp")).open("wb") as fh:
            np.save(fh, rows)
        os.replace(folder / (SHARD_ROWS + ".tmp"), folder / SHARD_ROWS)
        counts.append(len(rows))
    done.write_text(json.dumps({"shards": shards, "by": "text hash", "rows": counts}), encoding="utf-8")


def _complete(folder: Path) -> bool:
    if not (folder / "state.sqlite").is_file():
        return False
    state = ShardState(folder)
    try:
        return state.complete
    finally:
        state.close()


def _run_shards(
    job: ShardJob, parts: Path, todo: list[int], *, shards: int, workers: int | None, task_retries: int, progress: bool
) -> None:
    from dataclasses import replace

    from .progress import progress_bar

    ray = _ray()
    cpus = int(ray.cluster_resources().get("CPU", 1)) or 1
    slots = concurrency_slots(job.concurrency, min(len(todo), workers or cpus))
    task = ray.remote(_run_shard).options(num_cpus=1, max_retries=task_retries, retry_exceptions=False)
    free = list(range(len(slots)))
    pending = list(todo)
    running: dict[Any, tuple[int, int]] = {}
    bar = progress_bar(total=len(todo), unit="shard", desc="annotate (ray)", enabled=progress)
    with sigterm_seen() as terminated:
        try:
            while pending or running:
                while pending and free:
                    slot, index = free.pop(0), pending.pop(0)
                    shard_job = replace(
                        job,
                        folder=shard_dir(parts, index, shards),
                        positions=str(shard_dir(parts, index, shards) / SHARD_ROWS),
                        concurrency=slots[slot],
                        cache=shard_dir(parts, index, shards),  # the shard's own label cache
                    )
                    running[task.remote(shard_job)] = (index, slot)
                done, _ = ray.wait(list(running), num_returns=1)
                for ref in done:
                    index, slot = running.pop(ref)
                    try:
                        ray.get(ref)
                    except Exception as exc:
                        for other in running:
                            ray.cancel(other, force=True)
                        cause = _cause(exc)
                        if cause is not exc:
                            raise cause from exc
                        raise RayError(
                            f"shard {index} of {shards} failed ({type(exc).__name__}: {str(exc).splitlines()[0][:160]}); "
                            "finished shards and cached answers are kept: rerun the same command to resume."
                        ) from exc
                    free.append(slot)
                    bar.update(1)
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM on the driver
            finish_in_flight(list(running), job, terminated=bool(terminated))
            raise
        finally:
            bar.close()


@contextmanager
def sigterm_seen() -> Iterator[list[int]]:
    """Within ``with``: a list that a SIGTERM on the driver appends to; on leaving by Ctrl-C's exception after one,
    :class:`~sxhub.interrupts.Terminated` is raised in its place.

    Ray turns any KeyboardInterrupt raised while it waits (``ray.wait``, ``ray.get``) into a plain one: the CLI's
    Terminated came out as Ctrl-C's (exit 130, 'Interrupted; ...', not 143 'Terminated; ...'). Only over the CLI's
    handler (a program's own is left alone)."""
    import signal

    from .interrupts import Terminated, raise_terminated

    seen: list[int] = []
    previous = _sigterm_handler()
    if previous is not raise_terminated:
        yield seen
        return

    def received(signum: int, frame: Any) -> None:
        seen.append(signum)
        raise Terminated

    signal.signal(signal.SIGTERM, received)
    try:
        yield seen
    except KeyboardInterrupt as exc:
        if seen and not isinstance(exc, Terminated):
            raise Terminated from exc
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)


def drain_bound(job: ShardJob) -> float:
    """How long the shards' requests in flight may take: the longest teacher request timeout (the engine's bound
    on one request, its client's timeout plus 5 s), and time for the shard to end after its last answer."""
    timeouts = []
    for teacher in job.teachers or job.spec.default_teachers():
        timeout = teacher.get("timeout") if isinstance(teacher, dict) else getattr(teacher, "timeout", None)
        timeouts.append(float(timeout) if timeout else TeacherSpec.timeout)
    return max(timeouts, default=TeacherSpec.timeout) + 5.0 + 10.0


def finish_in_flight(refs: list[Any], job: ShardJob, *, terminated: bool) -> None:
    """A first Ctrl-C or SIGTERM on the driver: let the running shards finish their requests in flight.

    The interrupt ended the run at once: Ray killed the shards' workers with their requests on their way (the
    server computed them, a paid endpoint billed them) and their answers never reached the shards' label caches.
    Each running shard's task is now cancelled gently (``ray.cancel`` without ``force`` raises Ctrl-C in the task,
    which its request loop takes as a first interrupt: :class:`sxhub.interrupts.TwoStepStop` sends nothing more and
    caches the answers in flight), and the driver waits for them, within :func:`drain_bound`. A second interrupt,
    or the bound passed, kills the shards' workers at once."""
    if not refs:
        return
    from .progress import say

    ray = _ray()
    for ref in refs:
        ray.cancel(ref, force=False)
    bound = drain_bound(job)
    word, again = (
        ("Terminated", "send SIGTERM again or press Ctrl-C") if terminated else ("Interrupted", "press Ctrl-C again")
    )
    plural = "s" if len(refs) != 1 else ""
    say(
        f"{word}: waiting for the {len(refs)} running shard{plural} to finish their requests in flight so that their "
        f"label caches keep the answers (at most {bound:.0f} s); {again} to abandon them."
    )
    try:
        _, late = ray.wait(refs, num_returns=len(refs), timeout=bound)
    except KeyboardInterrupt:
        late = refs
        raise
    finally:
        for ref in late:
            ray.cancel(ref, force=True)


# ------------------------------------------------------------------------------------------------------------------
# predict: Ray Data and an actor pool of students
# ------------------------------------------------------------------------------------------------------------------
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
        from .predict_files import predict_chunk

        return predict_chunk(self.predictor, batch, self.column)


def _read(source: str, rows: RowSlice, *, chunk_rows: int = CHUNK_ROWS) -> tuple[Any, list[str] | None]:
    """A Ray Dataset of the input (or its slice) and its columns when they are cheap to know.

    A local file or a Hub dataset is read by :func:`_read_chunks`, in the chunks single-process predict labels, so
    both give the same labels and probabilities. A URL is read by Ray's own parallel readers (CSV cells as strings,
    as single-process predict reads them); its batches are Ray's, so an int8 student's probabilities there may
    differ from one process in the last digits (its activation scales depend on which texts share a batch)."""
    ray = _ray()
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

    from .stream import iter_table

    split = "train"
    if is_hub_source(source):
        source, _, split = source.partition(":")
        split = split or "train"
    else:
        source = str(Path(source).resolve())  # the read task's working folder is Ray's, not ours
    head = next(iter_table(source, chunk_rows=1, split=split), None)  # the columns, from the first row
    if head is None:
        raise InputError(f"input {source!r} has no rows; give it at least one text.")

    def read() -> Iterator[pd.DataFrame]:
        for chunk in iter_table(source, chunk_rows=chunk_rows, rows=rows, split=split):
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
    ds = _ray().data.read_datasource(ChunkDatasource(), num_cpus=IO_CPUS, override_num_blocks=1)
    return ds, [str(c) for c in head.columns]


def check_csv_source(source: str, rows: RowSlice) -> None:
    """Refuse, in the one line single-process predict gives, a CSV whose rows would be read merged or split.

    A local CSV or TSV is read here once by the reader of single-process predict (:func:`sxhub.stream.iter_table`,
    the reader the read task uses): its refusals (a quote that runs over lines, a row with an extra field) came from
    inside a Ray task, as a RayTaskError with its traceback, after the students had loaded. A CSV at a URL is read by
    pyarrow, which took a text starting with an unpaired quote as a field running to the next quote, lines later
    (6 rows read as 4, without a word): it is scanned here with the csv module in strict mode, as
    :func:`sxhub.tables.check_csv_quotes` scans a local one, in one streamed pass. A TSV at a URL is read by pyarrow
    with the same quoting, so it is scanned for :func:`sxhub.tables.check_tsv_quotes`' sign (a cell holding tabs
    and line breaks) the same way."""
    import io

    from .stream import iter_table
    from .tables import csv_run_over_error, quoted_field_run_over, tsv_field_run_over, tsv_run_over_error

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
            found = quoted_field_run_over(text, rows=end)
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
    ds = _ray().data.read_csv(
        source,
        parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
        convert_options=convert,
        num_cpus=IO_CPUS,
    )
    return ds, columns


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
    """Label every row of ``source`` with an actor pool of ``workers`` students (default: the cluster's CPUs) and
    write ``output`` (Parquet) in input order; labels and probabilities equal :func:`sxhub.predict_files.predict_file`'s."""
    from .data import find_text_column
    from .predict import backend_name, onnx_path, read_model_info, resolve_model_dir
    from .predict_files import PredictSummary

    out = Path(output)
    if out.suffix.lower() not in {".parquet", ".pq"}:
        raise UserError(f"--engine ray writes Parquet; name the output .parquet (e.g. -o {out.stem}.parquet).")
    local = resolve_model_dir(model_dir)
    read_model_info(local)  # a bad folder fails here, in one line, before any worker starts
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
    check_csv_source(str(source), rows)  # on the driver, before the cluster and the students start
    ray = _ray()
    owned = connect(address)
    start = time.perf_counter()
    try:
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # rows come out in input order, as in one process
        context.enable_progress_bars = progress
        ds, columns = _read(str(source), rows, chunk_rows=chunk_rows)
        column = find_text_column(pd.DataFrame(columns=columns or ds.schema().names), text_column)
        size = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        labelled = ds.map_batches(
            StudentActor,
            fn_constructor_kwargs={
                "model": str(model_dir) if not Path(model_dir).exists() else str(Path(model_dir).resolve()),
                "column": column,
                "onnx": onnx,
                "int8": int8,
                "bf16": bf16,
                "batch_size": batch_size,
                "threads": threads or 1,
                "recheck": recheck,
            },
            batch_size=chunk_rows,
            batch_format="pandas",
            compute=ray.data.ActorPoolStrategy(size=size),
            num_cpus=ACTOR_CPUS,
        )
        folder = parts_dir(out)
        if folder.exists():
            shutil.rmtree(folder)
        labelled.write_parquet(str(folder), ray_remote_args={"num_cpus": IO_CPUS})
        n, n_empty = _join_parquet(folder, out)
        shutil.rmtree(folder)
    finally:
        disconnect(owned)
    backend = backend_name(onnx=onnx, int8=int8, bf16=bf16)
    return PredictSummary(
        output=out, n=n, seconds=time.perf_counter() - start, backend=f"{backend}, ray x{size}", n_empty=n_empty
    )


def _join_parquet(folder: Path, out: Path) -> tuple[int, int]:
    """The Parquet files Ray wrote (named by write task, in input order) as one file; (rows, rows without label)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from .stream import TableWriter

    files = sorted(folder.glob("*.parquet"))
    if not files:
        raise InputError("the input has no rows; give it at least one text.")
    schema = pa.unify_schemas([pq.read_schema(f) for f in files], promote_options="permissive")
    label = "labels" if "labels" in schema.names else "label"
    writer = TableWriter(out, schema=schema)
    n = n_empty = 0
    try:
        for file in files:
            table = pq.read_table(file).cast(schema)
            writer.write_arrow(table)
            n += table.num_rows
            n_empty += int(pc.sum(pc.is_null(table[label])).as_py() or 0)
        writer.close()
    except BaseException:
        writer.abort()
        raise
    return n, n_empty


# ------------------------------------------------------------------------------------------------------------------
# training beyond one process: `sxhub train` under torchrun / accelerate launch (the Trainer's DDP)
# ------------------------------------------------------------------------------------------------------------------
def world_size() -> int:
    """Processes in this training run (``WORLD_SIZE``, set by torchrun and accelerate launch; 1 otherwise)."""
    return max(1, int(os.environ.get("WORLD_SIZE", "1") or 1))


def is_main_process() -> bool:
    """Whether this process saves the model and writes files (global rank 0, or a run of one process)."""
    return int(os.environ.get("RANK", "0") or 0) == 0


def checkpoint_folder(output_dir: Path) -> Path:
    """The Trainer's checkpoint folder inside ``output_dir``: a fresh temporary one for one process; for a
    distributed run one name that every process derives alike (rank 0 saves the checkpoints there, and every rank
    loads the best one back from it at the end)."""
    import hashlib
    import tempfile

    if world_size() == 1:
        return Path(tempfile.mkdtemp(prefix=".checkpoints-", dir=output_dir))
    run = ":".join(os.environ.get(k, "") for k in ("MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RUN_ID"))
    folder = output_dir / f".checkpoints-ddp-{hashlib.sha256(run.encode()).hexdigest()[:10]}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
