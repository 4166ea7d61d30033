"""Labelling one shard, chunk by chunk: each chunk is labelled by the async engine of :mod:`sxhub.annotate`, written
as a Parquet part file and recorded in the shard's state (:class:`~sxhub.parts.layout.ShardState`) with its counts,
its ledger and its vote totals. One process runs one shard; ``--engine ray`` runs several (:mod:`sxhub.distributed`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from ..annotate import _open_cache, _rows, aannotate
from ..annotate_engine import new_vote, refused_too_long, resolve_served_models, unanswered
from ..cache import LabelCache, ReadThroughCache
from ..data import (
    PreparedTexts,
    check_text_values,
    find_text_column,
    is_missing_text,
    over_max_chars_error,
    prepare_texts,
    raw_texts,
)
from ..spec import TaskSpec
from ..stream import RowSlice, is_lines_source, iter_input
from ..tables import parquet_errors
from ..teachers import Teacher, teachers_for
from .assembly import KEPT_TYPES_FIX, VoteTotals
from .layout import CHARS, CHUNK_ROWS, ROW, ShardState, chunk_answers, kept_caches, parts_file, text_hash


@dataclass
class ShardJob:
    """What one shard labels and how (picklable: ``--engine ray`` ships it to a worker)."""

    spec: TaskSpec
    source: str
    folder: Path
    rows: RowSlice
    teachers: list[Any]  # specs (opened in the shard) or Teacher objects (one process only)
    run_id: str
    split: str = "train"
    text_column: str | None = None
    keep_columns: list[str] = field(default_factory=list)
    preprocess: bool = True
    max_chars: int = 20_000
    chunk_rows: int = CHUNK_ROWS
    samples: int = 1
    concurrency: int = 8
    cache: Any = None  # a LabelCache, a folder, None ($SXHUB_CACHE) or False
    max_retries: int = 4
    max_invalid: int = 2
    backoff: float = 1.0
    max_wait: float = 60.0
    seed: int = 0
    progress: bool = True
    positions: str | None = None  # a .npy of the input positions (in ``rows``) this shard labels, else all
    # label caches read-only besides the shard's own (``--engine ray``: the user's $SXHUB_CACHE, where it exists on
    # the node running the shard); a hit is copied into the shard's cache
    read_caches: list[str] = field(default_factory=list)


def shard_chunks(job: ShardJob) -> Iterator[pd.DataFrame]:
    """The chunks of the shard's rows: those of ``job.rows``, or (``job.positions``) the ones listed there."""
    if job.positions is None:
        return iter_input(job.source, chunk_rows=job.chunk_rows, rows=job.rows, split=job.split, decode_json=True)
    import numpy as np

    from ..stream import only_positions

    chunks = iter_input(job.source, rows=job.rows, split=job.split, decode_json=True)
    return only_positions(chunks, np.load(job.positions), job.chunk_rows)


async def alabel_shard(job: ShardJob) -> None:
    """Label every chunk of the shard not yet done; each becomes a part file and a row of the shard's state."""
    from ..predict_files import count_rows
    from ..progress import progress_bar

    state = ShardState(job.folder, job.max_chars)
    store, owned = _shard_cache(job)
    chunk_spec = _majority(job.spec)  # Dawid-Skene needs every vote: it decides when OUT is assembled
    total = job.rows.count(count_rows(job.source)) if job.positions is None else None
    bar = progress_bar(total=total, unit="row", desc="annotate", enabled=job.progress)
    try:
        if state.complete:
            return
        done, again = state.chunks(), state.failed_chunks()
        column: str | None = job.text_column
        checked = False
        kept = KeptTypes(job)
        async with teachers_for(job.spec, job.teachers) as opened:
            for idx, chunk in enumerate(shard_chunks(job)):
                column = column or find_text_column(chunk, None)
                _check_ids(job, idx, chunk, column)
                if idx not in done or idx in again:
                    if not checked:  # before the first chunk this run labels: the teachers are the parts' ones
                        await resolve_served_models(opened)
                        state.check_teachers([t.identity for t in opened], _out_name(job.folder))
                        checked = True
                    own = _part_hashes(job.folder, done[idx][0]) if idx in again else set()
                    part, stats, hashes = await _label_chunk(
                        job, chunk_spec, opened, store, state, idx, chunk, column, own, kept
                    )
                    if idx in again:  # the run's summary says how many refused texts it asked again
                        before = done[idx][1]
                        stats["reasked_too_long"] = int(before.get("too_long_rows") or 0)
                        stats["reasked_over_max_chars"] = int(before.get("over_max_chars_rows") or 0) - int(
                            stats.get("over_max_chars_rows") or 0
                        )
                    state.commit(idx, part, stats, hashes)  # replaces a relabelled chunk's counts and ledger
                    if part:
                        kept.add(part)
                bar.update(len(chunk))
        state.mark_complete()
    finally:
        bar.close()
        if owned and store is not None:
            store.close()
        state.close()


def _shard_cache(job: ShardJob) -> tuple[LabelCache | None, bool]:
    """The label cache the shard reads and writes, and whether it was opened here (to close)."""
    store, owned = _open_cache(job.cache)
    if store is not None and (earlier := [f for f in _read_caches(job) if not f.samefile(store.path)]):
        store, owned = ReadThroughCache(store, earlier, owns=owned), True  # answers a --restart kept
    return store, owned


def _check_ids(job: ShardJob, idx: int, chunk: pd.DataFrame, column: str) -> None:
    """On the input's first chunk, before any text is sent: ids (--text-column idx) are refused as predict refuses
    them (--engine ray checks on the driver's split pass)."""
    if idx == 0 and job.positions is None and not is_lines_source(job.source):
        check_text_values(chunk, column if column in chunk.columns else find_text_column(chunk, column))


def shard_asks(job: ShardJob) -> bool:
    """Whether labelling the shard would send a request: a chunk left to label (every chunk of a new OUT) holds a
    vote the label cache does not answer (:func:`sxhub.annotate.votes_left`: a dry run's count, with the engine's
    keys), or there is no cache. Reads the input as :func:`alabel_shard` does, up to the first such chunk, and its
    errors first (a text column of ids); ``job.teachers`` are opened for their cache keys, never asked, so they must
    not wake anything (an Inference Endpoint's spec as :func:`sxhub.endpoints.unwoken` gives it)."""
    from ..annotate import votes_left

    state = ShardState(job.folder, job.max_chars)
    try:
        if state.complete:
            return False
        done, again = state.chunks(), state.failed_chunks()
    finally:
        state.close()
    store, owned = _shard_cache(job)
    if store is None:
        return True
    spec, column = _majority(job.spec), job.text_column
    try:
        for idx, chunk in enumerate(shard_chunks(job)):
            column = column or find_text_column(chunk, None)
            _check_ids(job, idx, chunk, column)
            if idx in done and idx not in again:
                continue
            asked = _asked_texts(job, chunk, column)
            if not len(asked.frame):
                continue
            left = votes_left(
                spec, asked, job.teachers, samples=job.samples, cache=store, max_invalid=job.max_invalid, seed=job.seed
            )
            if left != 0:  # a count, or None: a teacher keyed by what its running server says
                return True
        return False
    finally:
        if owned:
            store.close()


def _asked_texts(job: ShardJob, chunk: pd.DataFrame, column: str) -> PreparedTexts:
    """The texts of a chunk that :func:`_label_chunk` sends: distinct, not empty, not over ``--max-chars``."""
    if column not in chunk.columns:
        find_text_column(chunk, column)  # the one-line error naming the columns
    if chunk[column].map(is_missing_text).all():
        return PreparedTexts(pd.DataFrame({"text": []}), len(chunk), 0, len(chunk), column)
    chars = raw_texts(chunk, column).map(len).to_numpy()
    prepared = prepare_texts(
        chunk.assign(**{CHARS: chars}),
        text_column=column,
        keep_columns=[CHARS],
        preprocess=job.preprocess,
        max_chars=None,
    )
    return replace(prepared, frame=prepared.frame[prepared.frame[CHARS] <= job.max_chars])


def _read_caches(job: ShardJob) -> list[Path]:
    """The cache files a shard reads besides its own: the earlier shards' in ``OUT.parts/`` (kept by --restart),
    and ``job.read_caches`` that exist here. Keys name the request, so an answer from any of them is the answer."""
    found = kept_caches(job.folder)
    for name in job.read_caches:
        file = Path(name)
        if file.is_file() and not any(file.samefile(f) for f in found):
            found.append(file)
    return found


def _out_name(folder: Path) -> str:
    """OUT's name, from its shard's folder (``OUT.parts/shard-...``)."""
    return folder.parent.name.removesuffix(".parts")


def _part_hashes(folder: Path, part: str | None) -> set[bytes]:
    """The hashes of the texts in a chunk's part file."""
    if not part:
        return set()
    import pyarrow.parquet as pq

    with parts_file(folder / part):
        return {text_hash(t) for t in pq.read_table(folder / part, columns=["text"])["text"].to_pylist()}


def shard_done(job: ShardJob) -> bool:
    """Whether the shard's parts leave nothing to ask (:attr:`ShardState.complete`, what :func:`alabel_shard` reads
    before it opens a teacher): a finished job run again only assembles OUT."""
    state = ShardState(job.folder, job.max_chars)
    try:
        return state.complete
    finally:
        state.close()


def label_shard(job: ShardJob) -> None:
    """Synchronous :func:`alabel_shard` (a Ray task runs this)."""
    asyncio.run(alabel_shard(job))


def _majority(spec: TaskSpec) -> TaskSpec:
    """The spec a chunk is labelled with: Dawid-Skene weighs each teacher by all its votes, so its chunks are
    decided by majority and OUT when it is assembled; the other rules decide a text by its own votes and keep theirs
    (the engine's warnings see the run's rule: with ``scores`` it warned that the majority counted the draws)."""
    return replace(spec, vote="majority") if getattr(spec, "vote", "majority") == "dawid-skene" else spec  # type: ignore[call-arg]


class KeptTypes:
    """The kept columns' types unified over the shard's parts written so far (a column null in every part so far
    takes the first other type it meets), against which each chunk is checked before it is labelled.

    A ``--keep-column id`` whose ids were numbers in one chunk and text in another was found only when OUT was
    assembled, after every text was labelled, as pyarrow's raw "ArrowTypeError: Unable to merge" (or, within one
    chunk, its raw tuple), whatever OUT's format: the parts are Parquet. Checked against the first part alone, ids
    null in the first chunk, numbers in the next and text after that passed both (null unifies with either) and
    still stopped at OUT. The types of the parts already on disk (a resumed run) are read from their footers, once;
    each part written adds its own, so a chunk costs one schema, whatever the number of rows.

    ``parts=False``: no parts to read, every chunk of the input checked against the ones before it (the Ray
    driver's pass over the input, where the shards' parts would each be of one type and clash only in OUT)."""

    def __init__(self, job: ShardJob, *, parts: bool = True) -> None:
        import pyarrow as pa

        self.job = job
        # pa.Schema of the kept columns, read from the parts on the first check
        self._schema: Any = None if parts else pa.schema([])

    def check(self, frame: pd.DataFrame) -> None:
        """Stop, in one line naming the column, its two types and the fix, when ``frame``'s kept columns cannot go
        into a Parquet part beside the parts written before it."""
        import pyarrow as pa

        if not self.job.keep_columns:
            return
        if self._schema is None:
            parts = sorted(self.job.folder.glob("part-*.parquet"))
            self._schema = self._unified([pa.schema([]), *(self._part_schema(p) for p in parts)])
        with self._errors():
            chunk = pa.Table.from_pandas(frame[self.job.keep_columns], preserve_index=False).schema
        self._unified([self._schema, chunk])

    def add(self, part: str) -> None:
        """Take in the types of the part just written (its footer)."""
        if self.job.keep_columns and self._schema is not None:
            self._schema = self._unified([self._schema, self._part_schema(self.job.folder / part)])

    def _part_schema(self, path: Path) -> Any:
        import pyarrow as pa
        import pyarrow.parquet as pq

        with parts_file(path):
            written = pq.read_schema(path)
        return pa.schema([written.field(n) for n in self.job.keep_columns if n in written.names])

    def _unified(self, schemas: list[Any]) -> Any:
        import pyarrow as pa

        with self._errors():
            return pa.unify_schemas([s.remove_metadata() for s in schemas], promote_options="permissive")

    def _errors(self) -> Any:
        return parquet_errors(
            self.job.source, fix=KEPT_TYPES_FIX, where=f"{Path(self.job.source).name} (--keep-column)"
        )


async def _label_chunk(
    job: ShardJob,
    spec: TaskSpec,
    teachers: list[Teacher],
    store: Any,
    state: ShardState,
    idx: int,
    chunk: pd.DataFrame,
    column: str,
    own: set[bytes],
    kept: KeptTypes,
) -> tuple[str | None, dict[str, Any], list[bytes]]:
    """Label one chunk into its part file (written under a temporary name, then moved over any earlier one).

    ``own`` are the hashes of the texts an earlier run labelled in this chunk (one with failed rows, labelled
    again): they are in the shard's ``seen`` but are this chunk's own texts, not duplicates of another chunk's."""
    stats: dict[str, Any] = {"run": job.run_id, "n_input": len(chunk), "n_empty": 0, "n_duplicates": 0, "n_texts": 0}
    if column not in chunk.columns:
        find_text_column(chunk, column)  # the one-line error naming the columns
    if chunk[column].map(is_missing_text).all():
        stats["n_empty"] = len(chunk)
        return None, stats, []
    # each text's length as written: one over --max-chars fails its row alone, unasked (it stopped the whole run)
    chunk = chunk.assign(**{ROW: chunk.index.to_numpy(), CHARS: raw_texts(chunk, column).map(len).to_numpy()})
    prepared = prepare_texts(
        chunk,
        text_column=column,
        keep_columns=[*job.keep_columns, ROW, CHARS],
        preprocess=job.preprocess,
        max_chars=None,
    )
    kept.check(prepared.frame)  # before any text of the chunk is sent
    hashes = [text_hash(t) for t in prepared.texts]
    seen = state.seen_among(hashes) - own
    fresh = [h not in seen for h in hashes]
    frame = prepared.frame[fresh].reset_index(drop=True)
    stats.update(n_empty=prepared.n_empty, n_duplicates=prepared.n_duplicates + len(hashes) - len(frame))
    if len(frame) == 0:
        return None, stats, []
    chars = frame.pop(CHARS)
    over = (chars > job.max_chars).to_numpy()
    columns = [c for c in prepared.kept_columns if c != CHARS]
    todo = PreparedTexts(frame[~over].reset_index(drop=True), int((~over).sum()), 0, 0, prepared.text_column, columns)
    result = await aannotate(
        spec,
        todo,
        teachers=teachers,
        samples=job.samples,
        concurrency=job.concurrency,
        cache=store if store is not None else False,
        progress=False,
        max_retries=job.max_retries,
        max_invalid=job.max_invalid,
        backoff=job.backoff,
        max_wait=job.max_wait,
        seed=job.seed,
    )
    labelled, decisions = result.frame, result.decisions
    if over.any():
        unasked = PreparedTexts(frame[over].reset_index(drop=True), int(over.sum()), 0, 0, "text", columns)
        labelled, decisions = _with_unasked(job, spec, teachers, result, unasked, chars[over].tolist())
        stats.update(
            over_max_chars_rows=int(over.sum()),
            over_max_chars_shortest=int(chars[over].min()),
            over_max_chars_longest=int(chars[over].max()),
        )
    name = f"part-{idx:06d}.parquet"
    tmp = job.folder / (name + ".tmp")
    labelled.to_parquet(tmp, index=False)
    os.replace(tmp, job.folder / name)
    stats.update(
        n_texts=len(labelled),
        teachers=result.ledger["teachers"],
        answers=chunk_answers(result.frame["votes"], result.ledger["teachers"]),
        votes=VoteTotals.of(decisions).to_dict(),
        # votes that got no answer (a row can keep a label from its other votes): a rerun asks them again
        unanswered_votes=sum(unanswered(v) for row in result.frame["votes"] for v in row),
        # rows a teacher refused as longer than its context window: a rerun asks them again (a longer context now?)
        too_long_rows=sum(any(refused_too_long(v) for v in row) for row in result.frame["votes"]),
    )
    return name, stats, [h for h, keep in zip(hashes, fresh, strict=True) if keep]


def _with_unasked(
    job: ShardJob, spec: TaskSpec, teachers: list[Teacher], result: Any, unasked: PreparedTexts, chars: list[int]
) -> tuple[pd.DataFrame, list[Any]]:
    """The chunk's labelled rows and the rows over ``--max-chars``, in input order: each of those is a failed row
    whose every vote (one per teacher and sample, as a teacher's refusal gives) has the error naming the limit."""
    samples = int(result.ledger["samples"])
    scored = any(getattr(t, "scores_labels", False) for t in teachers)
    votes = [
        [
            {**new_vote(name, s, scored), "error": over_max_chars_error(n, job.max_chars)}
            for name in result.ledger["teachers"]
            for s in range(samples)
        ]
        for n in chars
    ]
    frame, decisions = _rows(spec, unasked, votes)
    if not len(result.frame):  # an empty frame's columns have no types: concatenated, failed became a float
        return frame, decisions
    both = pd.concat([result.frame, frame], ignore_index=True)
    order = both[ROW].to_numpy().argsort(kind="stable")
    every = [*result.decisions, *decisions]
    return both.iloc[order].reset_index(drop=True), [every[i] for i in order]
