"""``sxhub annotate --engine ray``: the input split into shards by text, each shard a Ray task running the
async engine of :mod:`sxhub.annotate`, the parts merged at the end (see :mod:`sxhub.distributed`)."""

import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from .cache import CACHE_FILE, default_cache_dir
from .distributed import (
    RayError,
    check_address,
    connect,
    disconnect,
    ray_module,
    sigterm_handler,
    sxhub_cause,
    task_failure,
)
from .errors import UserError
from .parts import CHUNK_ROWS as ANNOTATE_CHUNK_ROWS
from .parts import PartsResult, ShardJob, ShardState, finish, label_shard, prepare_job, shard_dir
from .spec import TaskSpec, TeacherSpec
from .stream import RowSlice

logger = logging.getLogger(__name__)

TASK_RETRIES = 3  # a shard whose worker died is run again this many times (its parts and cache are kept)


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
    before_asking: Callable[[], object] | None = None,
) -> PartsResult:
    """Label ``source`` into ``out`` with ``shards`` Ray tasks (module docstring); the arguments are those of
    :func:`sxhub.parts.annotate_to_file` plus the cluster (``address``), the number of shards and ``workers`` (shards
    running at once; default: the cluster's CPUs). Teachers must be specs (each task opens its own).
    ``before_asking`` is called once the input is split and Ray joined, before the first shard runs, unless every
    shard's parts leave nothing to ask (a finished job run again): the run's Inference Endpoints are resumed there.
    The label cache is not read for it as one process reads it: each shard reads its own and the user's cache where
    it runs, on another node perhaps."""
    if teachers is not None and any(not isinstance(t, (TeacherSpec, str, dict)) for t in teachers):
        raise UserError("--engine ray opens the teachers in each task: pass teacher specs, not Teacher objects.")
    if shards < 1:
        raise UserError(f"shards={shards} must be at least 1.")
    ray_module()  # without sxhub[ray], one line: not after OUT.parts/ was made and split into shards
    if address := address or os.environ.get("RAY_ADDRESS"):
        check_address(address)  # before the parts folder and a pass over the input
    # the shards' tasks run in the folder their node was started in, not this one: paths as this process reads them
    out = Path(out).absolute()
    if Path(source).is_file():
        source = Path(source).absolute()
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
        check_folder_teachers(job)  # before the pass over the input and Ray's start
        # the user's label cache, read by every shard that sees it: its answers were asked again, paid twice
        job.read_caches = [str((default_cache_dir() / CACHE_FILE).absolute())]  # the driver's, not the node's folder
        start = time.perf_counter()
        todo = [i for i in range(shards) if not _complete(shard_dir(parts, i, shards), job.max_chars)]
        if todo:
            split_by_text(job, parts, shards)
            owned = connect(address, quiet=not progress)
            try:
                if before_asking is not None:
                    before_asking()
                _run_shards(
                    job, parts, todo, shards=shards, workers=workers, task_retries=task_retries, progress=progress
                )
            finally:
                disconnect(owned)
        return finish(job, parts, out, shards=shards, start=start)


def check_folder_teachers(job: ShardJob) -> None:
    """Refuse on the driver, in the line one process gives, a teacher folder that cannot label this task: a synthetic
    model tuned for other labels (:meth:`~sxhub.teachers.tuned.TunedTeacher.check_task`) or a folder that is not
    there. The shards open the teachers only in their Ray tasks, so the refusal came after the driver's pass over
    the whole input and Ray's start (61 s on a 1M-row file, against 4 s in one process). Only folders are opened
    here: that costs no request and loads no weights."""
    from .teachers import _is_folder, _names_a_path, make_teacher

    for entry in job.teachers or job.spec.default_teachers():
        spec = TeacherSpec.parse(entry)
        if not spec.base_url and not spec.endpoint and (_is_folder(spec.model) or _names_a_path(spec.model)):
            make_teacher(spec).check_task(job.spec)


def folders_as_paths_here(job: ShardJob) -> list[Any]:
    """``job``'s teachers for its shards' tasks: a teacher folder (`sxhub tune`'s) named by a relative path as a
    spec with this process's absolute path. The tasks run in the folder their node was started in, not this one,
    and refused ``--teacher ./model`` there (``teacher folder './model' not found``). The job's own entries, which
    its manifest and ledger record, stay as given."""
    from dataclasses import replace

    from .teachers import _is_folder

    entries = job.teachers or job.spec.default_teachers()
    found = []
    for entry in entries:
        spec = TeacherSpec.parse(entry)
        if not spec.base_url and not spec.endpoint and _is_folder(spec.model):
            absolute = str(Path(str(spec.model)).expanduser().absolute())
            if absolute != spec.model:
                entry = replace(spec, model=absolute)
        found.append(entry)
    return found if found != list(entries) else job.teachers


SHARD_ROWS = "rows.npy"
SPLIT_DONE = "split.json"


def split_by_text(job: ShardJob, parts: Path, shards: int) -> None:
    """Give each input row of ``job.rows`` to the shard its text hashes to (the text as labelled: preprocessed),
    writing each shard's positions to ``<shard>/rows.npy``: a text repeated anywhere in the input is asked once.

    One pass over the input in this process (the preprocessing a single-process run does anyway); it holds 8 bytes
    per row. Done once per parts folder (``split.json``); a resumed run reuses it.

    The same pass checks that the kept columns have one type over the whole input: each shard checks only its own
    rows, so ids that were numbers in one shard and text in another stopped the run at OUT's assembly, after every
    text was labelled; here the line comes before Ray starts and before any request."""
    import json

    import numpy as np

    from .data import check_text_values, find_text_column, is_missing_text, preprocess_text
    from .parts import text_hash
    from .parts.shard import KeptTypes
    from .stream import is_lines_source, iter_input

    done = parts / SPLIT_DONE
    if done.is_file():
        return
    found: list[list[Any]] = [[] for _ in range(shards)]
    column = job.text_column
    kept = KeptTypes(job, parts=False)
    for idx, chunk in enumerate(iter_input(job.source, rows=job.rows, split=job.split, decode_json=True)):
        column = column or find_text_column(chunk, None)
        if column not in chunk.columns:
            find_text_column(chunk, column)  # the one-line error naming the columns
        if idx == 0 and not is_lines_source(job.source):  # ids (--text-column idx): refused before Ray starts
            check_text_values(chunk, column)
        missing = chunk[column].map(is_missing_text)
        if all(c in chunk.columns for c in job.keep_columns):  # else the shard says which is missing
            kept.check(chunk[~missing])  # the rows a shard labels: an empty text keeps nothing
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


def _complete(folder: Path, max_chars: int) -> bool:
    if not (folder / "state.sqlite").is_file():
        return False
    state = ShardState(folder, max_chars)  # rows an earlier run left out over a lower --max-chars: not complete
    try:
        return state.complete
    finally:
        state.close()


def _run_shards(
    job: ShardJob, parts: Path, todo: list[int], *, shards: int, workers: int | None, task_retries: int, progress: bool
) -> None:
    from dataclasses import replace

    from .progress import progress_bar

    ray = ray_module()
    cpus = int(ray.cluster_resources().get("CPU", 1)) or 1
    slots = concurrency_slots(job.concurrency, min(len(todo), workers or cpus))
    task = ray.remote(_run_shard).options(num_cpus=1, max_retries=task_retries, retry_exceptions=False)
    teachers = folders_as_paths_here(job)
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
                        teachers=teachers,
                    )
                    running[task.remote(shard_job)] = (index, slot)
                done, _ = ray.wait(list(running), num_returns=1)
                for ref in done:
                    index, slot = running.pop(ref)
                    try:
                        ray.get(ref)
                    except Exception as exc:
                        cause = sxhub_cause(exc)
                        error = (
                            cause
                            if cause is not exc
                            else RayError(
                                f"shard {index} of {shards} failed ({task_failure(exc)}); "
                                "finished shards and cached answers are kept: rerun the same command to resume."
                            )
                        )
                        # the other shards' requests in flight are paid for: let them reach the label caches, as
                        # Ctrl-C does (they were force-cancelled, their answers lost); a Ctrl-C meanwhile abandons them
                        others = list(running)
                        running.clear()
                        finish_in_flight(others, job, terminated=False, failed=f"shard {index} of {shards} failed")
                        raise error from exc
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
    previous = sigterm_handler()
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


def finish_in_flight(refs: list[Any], job: ShardJob, *, terminated: bool, failed: str | None = None) -> None:
    """A first Ctrl-C or SIGTERM on the driver: let the running shards finish their requests in flight.

    The interrupt ended the run at once: Ray killed the shards' workers with their requests on their way (the
    server computed them, a paid endpoint billed them) and their answers never reached the shards' label caches.
    Each running shard's task is now cancelled gently (``ray.cancel`` without ``force`` raises Ctrl-C in the task,
    which its request loop takes as a first interrupt: :class:`sxhub.interrupts.TwoStepStop` sends nothing more and
    caches the answers in flight), and the driver waits for them, within :func:`drain_bound`. A second interrupt,
    or the bound passed, kills the shards' workers at once. ``failed``: the same after a shard failed (what
    failed), where the other shards were killed with their requests on their way too."""
    if not refs:
        return
    from .progress import say

    ray = ray_module()
    for ref in refs:
        ray.cancel(ref, force=False)
    bound = drain_bound(job)
    word, again = (
        ("Terminated", "send SIGTERM again or press Ctrl-C") if terminated else ("Interrupted", "press Ctrl-C again")
    )
    if failed:
        word, again = failed, "press Ctrl-C"
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
