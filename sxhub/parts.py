"""Annotate in parts: results written as they arrive, a rerun resumes, memory flat in the input's size.

``sxhub annotate INPUT -o OUT`` reads INPUT in chunks (:func:`sxhub.stream.iter_table`), labels each chunk with the
async engine of :mod:`sxhub.annotate` and commits it as a Parquet part file under ``OUT.parts/``; OUT is assembled
from the parts at the end and equals what the in-memory :func:`sxhub.annotate.annotate` writes (same rows, columns
and order; a text seen in an earlier chunk is dropped as a duplicate, as today). Layout::

    OUT.parts/
      manifest.json                  the run's parameters: a rerun with other parameters refuses to mix parts
      shard-00000-of-00001/          one folder per shard (``--engine ray`` runs several; one process runs one)
        state.sqlite                 chunks done (counts, ledger), hashes of the texts seen (duplicates)
        part-000000.parquet ...      one part per chunk, written to a temporary name and moved into place
        labels.sqlite                (``--engine ray``) the shard's own label cache
        rows.npy                     (``--engine ray``) the positions of the rows this shard labels

A chunk is done when ``state.sqlite`` says so; it records the chunk and the hashes of its texts in one transaction
after the part file is in place, so a run killed at any moment resumes from the parts plus the label cache and
never writes a row twice. The folder stays after the run: a rerun of a finished job only assembles OUT again
(no request); delete it when it is no longer needed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import pandas as pd

from .annotate import AnnotateResult, TeacherLedger, _ledger, _open_cache, aannotate
from .data import PreparedTexts, find_text_column, is_missing_text, prepare_texts
from .errors import InputError, UserError
from .spec import TaskSpec, TeacherSpec
from .stream import RowSlice, TableWriter, iter_table
from .teachers import Teacher, teachers_for
from .vote import Decision

ROW = "__sxhub_row"  # the row's position in the input, kept in the parts to merge shards in input order
CHUNK_ROWS = 1000
MANIFEST = "manifest.json"
STATE = "state.sqlite"


def parts_dir(out: str | os.PathLike[str]) -> Path:
    """``OUT.parts/`` beside OUT."""
    out = Path(out)
    return out.with_name(out.name + ".parts")


def shard_dir(parts: Path, index: int, count: int) -> Path:
    return parts / f"shard-{index:05d}-of-{count:05d}"


# ------------------------------------------------------------------------------------------------------------------
# the manifest: what decides the output
# ------------------------------------------------------------------------------------------------------------------
def input_identity(source: str) -> dict[str, Any]:
    """The input as the manifest records it: a file's path, size and modification time, or a Hub id."""
    path = Path(source)
    if path.is_file():
        stat = path.stat()
        return {"path": str(path.resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    return {"hub": source}


def make_manifest(
    spec: TaskSpec,
    source: str,
    *,
    teachers: Sequence[Any],
    samples: int,
    rows: RowSlice,
    split: str,
    text_column: str | None,
    keep_columns: Sequence[str],
    preprocess: bool,
    max_chars: int,
    chunk_rows: int,
    shards: int,
    max_invalid: int,
    seed: int,
) -> dict[str, Any]:
    return {
        "version": 1,
        "spec": spec.to_dict(),
        "teachers": [_teacher_key(t) for t in teachers],
        "samples": samples,
        "seed": seed,
        "max_invalid": max_invalid,
        "input": input_identity(source),
        "split": split,
        "rows": rows.to_dict(),
        "text_column": text_column,
        "keep_columns": list(keep_columns),
        "preprocess": preprocess,
        "max_chars": max_chars,
        "chunk_rows": chunk_rows,
        "shards": shards,
        **({"sharding": "text-hash"} if shards > 1 else {}),  # every copy of a text in one shard (sxhub.distributed)
    }


def _teacher_key(teacher: Any) -> Any:
    if isinstance(teacher, Teacher):
        return teacher.identity
    spec = TeacherSpec.parse(teacher)
    return {k: v for k, v in asdict(spec).items() if k not in {"timeout", "price_input", "price_output"}}


def check_manifest(parts: Path, manifest: dict[str, Any], *, restart: bool, out: Path) -> None:
    """Start ``parts`` (or start it over with ``restart``), or check that its parts were made with ``manifest``."""
    file = parts / MANIFEST
    if file.is_file() and restart:
        _remove_parts(parts)
    if file.is_file():
        found = json.loads(file.read_text(encoding="utf-8"))
        if found != manifest:
            key = next(k for k in sorted(set(found) | set(manifest)) if found.get(k) != manifest.get(k))
            raise UserError(
                f"{parts}/ holds the parts of an earlier run of {out.name} with another {key} "
                f"({_short(found.get(key))} there, {_short(manifest.get(key))} now): rerun with the same "
                "parameters to resume it, or add --restart to start over (the label cache keeps every answer)."
            )
        return
    parts.mkdir(parents=True, exist_ok=True)
    tmp = parts / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True, default=str), encoding="utf-8")
    os.replace(tmp, file)


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _remove_parts(parts: Path) -> None:
    import shutil

    if not (parts / MANIFEST).is_file():
        raise UserError(f"{parts} has no {MANIFEST}: it is not an sxhub parts folder; move it away first.")
    shutil.rmtree(parts)


# ------------------------------------------------------------------------------------------------------------------
# one shard's state
# ------------------------------------------------------------------------------------------------------------------
class ShardState:
    """Chunks done (with their counts and ledger) and hashes of the texts labelled, in one sqlite file."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self._db = sqlite3.connect(folder / STATE, timeout=60, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS chunks (idx INTEGER PRIMARY KEY, part TEXT, stats TEXT)")
        self._db.execute("CREATE TABLE IF NOT EXISTS seen (h BLOB PRIMARY KEY)")
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT)")

    def chunks(self) -> dict[int, tuple[str | None, dict[str, Any]]]:
        rows = self._db.execute("SELECT idx, part, stats FROM chunks ORDER BY idx").fetchall()
        return {int(i): (part, json.loads(stats)) for i, part, stats in rows}

    def seen_among(self, hashes: Sequence[bytes]) -> set[bytes]:
        found: set[bytes] = set()
        for start in range(0, len(hashes), 500):
            batch = hashes[start : start + 500]
            marks = ",".join("?" * len(batch))
            found.update(r[0] for r in self._db.execute(f"SELECT h FROM seen WHERE h IN ({marks})", batch))
        return found

    def commit(self, idx: int, part: str | None, stats: dict[str, Any], hashes: Sequence[bytes]) -> None:
        """Record chunk ``idx`` and its texts' hashes, in one transaction."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute(
                "INSERT OR REPLACE INTO chunks VALUES (?, ?, ?)", (idx, part, json.dumps(stats, default=str))
            )
            self._db.executemany("INSERT OR IGNORE INTO seen VALUES (?)", [(h,) for h in hashes])
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @property
    def complete(self) -> bool:
        return self._db.execute("SELECT v FROM meta WHERE k = 'complete'").fetchone() is not None

    def mark_complete(self) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('complete', ?)", (str(time.time()),))

    def close(self) -> None:
        self._db.close()


def text_hash(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


# ------------------------------------------------------------------------------------------------------------------
# labelling one shard, chunk by chunk
# ------------------------------------------------------------------------------------------------------------------
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


def shard_chunks(job: ShardJob) -> Iterator[pd.DataFrame]:
    """The chunks of the shard's rows: those of ``job.rows``, or (``job.positions``) the ones listed there."""
    if job.positions is None:
        return iter_table(job.source, chunk_rows=job.chunk_rows, rows=job.rows, split=job.split, decode_json=True)
    import numpy as np

    from .stream import only_positions

    chunks = iter_table(job.source, rows=job.rows, split=job.split, decode_json=True)
    return only_positions(chunks, np.load(job.positions), job.chunk_rows)


async def alabel_shard(job: ShardJob) -> None:
    """Label every chunk of the shard not yet done; each becomes a part file and a row of the shard's state."""
    from tqdm.auto import tqdm

    from .predict import count_rows

    state = ShardState(job.folder)
    store, owned = _open_cache(job.cache)
    chunk_spec = _majority(job.spec)  # Dawid-Skene needs every vote: it decides when OUT is assembled
    total = count_rows(job.source) if job.rows.is_all and job.positions is None else None
    bar = tqdm(total=total, unit="row", desc="annotate", file=sys.stderr, disable=not job.progress)
    try:
        if state.complete:
            return
        done = state.chunks()
        column: str | None = job.text_column
        async with teachers_for(job.spec, job.teachers) as opened:
            for idx, chunk in enumerate(shard_chunks(job)):
                column = column or find_text_column(chunk, None)
                if idx not in done:
                    part, stats, hashes = await _label_chunk(job, chunk_spec, opened, store, state, idx, chunk, column)
                    state.commit(idx, part, stats, hashes)
                bar.update(len(chunk))
        state.mark_complete()
    finally:
        bar.close()
        if owned and store is not None:
            store.close()
        state.close()


def label_shard(job: ShardJob) -> None:
    """Synchronous :func:`alabel_shard` (a Ray task runs this)."""
    asyncio.run(alabel_shard(job))


def _majority(spec: TaskSpec) -> TaskSpec:
    return replace(spec, vote="majority") if getattr(spec, "vote", "majority") != "majority" else spec  # type: ignore[call-arg]


async def _label_chunk(
    job: ShardJob,
    spec: TaskSpec,
    teachers: list[Teacher],
    store: Any,
    state: ShardState,
    idx: int,
    chunk: pd.DataFrame,
    column: str,
) -> tuple[str | None, dict[str, Any], list[bytes]]:
    stats: dict[str, Any] = {"run": job.run_id, "n_input": len(chunk), "n_empty": 0, "n_duplicates": 0, "n_texts": 0}
    if column not in chunk.columns:
        find_text_column(chunk, column)  # the one-line error naming the columns
    if chunk[column].map(is_missing_text).all():
        stats["n_empty"] = len(chunk)
        return None, stats, []
    chunk = chunk.assign(**{ROW: chunk.index.to_numpy()})
    prepared = prepare_texts(
        chunk,
        text_column=column,
        keep_columns=[*job.keep_columns, ROW],
        preprocess=job.preprocess,
        max_chars=job.max_chars,
    )
    hashes = [text_hash(t) for t in prepared.texts]
    seen = state.seen_among(hashes)
    fresh = [h not in seen for h in hashes]
    frame = prepared.frame[fresh].reset_index(drop=True)
    stats.update(n_empty=prepared.n_empty, n_duplicates=prepared.n_duplicates + len(hashes) - len(frame))
    if len(frame) == 0:
        return None, stats, []
    todo = PreparedTexts(frame, len(frame), 0, 0, prepared.text_column, prepared.kept_columns)
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
    name = f"part-{idx:06d}.parquet"
    tmp = job.folder / (name + ".tmp")
    result.frame.to_parquet(tmp, index=False)
    os.replace(tmp, job.folder / name)
    stats.update(
        n_texts=len(result.frame),
        teachers=result.ledger["teachers"],
        votes=VoteTotals.of(result.decisions).to_dict(),
    )
    return name, stats, [h for h, keep in zip(hashes, fresh, strict=True) if keep]


# ------------------------------------------------------------------------------------------------------------------
# vote counts that add up across chunks (summarize() gives means, which do not)
# ------------------------------------------------------------------------------------------------------------------
@dataclass
class VoteTotals:
    n: int = 0
    decided: int = 0
    ties: int = 0
    unanimous: int = 0
    sum_agreement: float = 0.0
    min_agreement: float | None = None
    sum_valid: int = 0
    label_counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, decisions: Sequence[Decision], sign: int = 1) -> VoteTotals:
        decided = [d for d in decisions if not d.failed]
        shares = [d.mean_agreement for d in decided]
        counts: Counter[str] = Counter()
        for d in decided:
            counts.update(d.labels if d.labels is not None else [d.label] if d.label is not None else [])
        return cls(
            n=sign * len(decisions),
            decided=sign * len(decided),
            ties=sign * sum(d.tie for d in decided),
            unanimous=sign * sum(share == 1.0 for share in shares),
            sum_agreement=sign * float(sum(shares)),
            min_agreement=min(shares) if shares and sign > 0 else None,
            sum_valid=sign * sum(d.n_valid for d in decisions),
            label_counts={k: sign * v for k, v in counts.items()},
        )

    def add(self, other: VoteTotals | dict[str, Any]) -> None:
        other = other if isinstance(other, VoteTotals) else VoteTotals(**other)
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if f.name == "label_counts":
                merged = Counter(mine)
                merged.update(theirs)
                self.label_counts = {k: v for k, v in merged.items() if v}
            elif f.name == "min_agreement":
                known = [v for v in (mine, theirs) if v is not None]
                self.min_agreement = min(known) if known else None
            else:
                setattr(self, f.name, mine + theirs)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> dict[str, Any]:
        """The same keys as :func:`sxhub.vote.summarize`."""
        return {
            "n": self.n,
            "decided": self.decided,
            "failed": self.n - self.decided,
            "ties": self.ties,
            "tie_rate": self.ties / self.decided if self.decided else 0.0,
            "unanimous": self.unanimous,
            "mean_agreement": self.sum_agreement / self.decided if self.decided else None,
            "min_agreement": self.min_agreement,
            "mean_valid_votes": self.sum_valid / self.n if self.n else 0.0,
            "label_counts": dict(self.label_counts),
        }


# ------------------------------------------------------------------------------------------------------------------
# assembling OUT from the parts
# ------------------------------------------------------------------------------------------------------------------
def _parts_in_order(folder: Path) -> list[Path]:
    state = ShardState(folder)
    try:
        return [folder / part for _, (part, _) in sorted(state.chunks().items()) if part]
    finally:
        state.close()


def _tables(paths: list[Path], schema: Any) -> Iterator[Any]:
    import pyarrow.parquet as pq

    for path in paths:
        yield pq.read_table(path).cast(schema)


def _merged(shards: list[list[Path]], schema: Any) -> Iterator[Any]:
    """Tables of rows in input order (by ROW) from shards whose parts are each in input order."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(shards) == 1:
        yield from _tables(shards[0], schema)
        return
    sources = [_tables(paths, schema) for paths in shards]
    current: list[Any] = [next(src, None) for src in sources]
    while any(t is not None for t in current):
        bound = min(t[ROW][-1].as_py() for t in current if t is not None)
        taken = []
        for i, table in enumerate(current):
            if table is None:
                continue
            n = int(pc.sum(pc.less_equal(table[ROW], bound)).as_py() or 0)
            if n:
                taken.append(table.slice(0, n))
            rest = table.slice(n)
            current[i] = rest if rest.num_rows else next(sources[i], None)
        yield pa.concat_tables(taken).sort_by(ROW)


@dataclass
class Assembled:
    """What :func:`assemble` wrote: rows, duplicates dropped across shards, failed rows, and the vote counts to
    add to the chunks' (``fix``: the dropped rows taken off) or to use instead (``votes``: Dawid-Skene decided)."""

    written: int = 0
    dropped: int = 0
    failed: int = 0
    fix: VoteTotals = field(default_factory=VoteTotals)
    votes: VoteTotals | None = None


def assemble(parts: Path, out: Path, spec: TaskSpec, *, shards: int) -> Assembled:
    """Write OUT from the parts of every shard, in input order; a text already written is dropped (a duplicate
    across shards: each shard drops its own)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    ordered = [_parts_in_order(shard_dir(parts, i, shards)) for i in range(shards)]
    every = [p for paths in ordered for p in paths]
    if not every:
        raise InputError(f"no row of the input had a text to label (see {parts}); check --text-column and the slice.")
    schema = pa.unify_schemas([pq.read_schema(p) for p in every], promote_options="permissive").remove_metadata()
    final = pa.schema([f for f in schema if f.name != ROW])
    decisions = _decide_all(ordered, schema, spec) if getattr(spec, "vote", "majority") != "majority" else None
    done = Assembled(votes=VoteTotals.of(decisions) if decisions is not None else None)
    seen = _SeenSet(parts / "assemble-seen.sqlite") if shards > 1 else None
    writer = TableWriter(out, schema=final)
    try:
        for table in _merged(ordered, schema):
            if seen is not None:
                keep = seen.first_times(table["text"].to_pylist())
                if not all(keep):
                    gone = table.filter(pa.array([not k for k in keep]))
                    done.dropped += gone.num_rows
                    done.fix.add(VoteTotals.of(_majority_of(gone, spec), sign=-1))
                    table = table.filter(pa.array(keep))
            table = table.drop_columns([ROW])
            if decisions is not None:
                table = _with_decisions(table, decisions[done.written : done.written + table.num_rows], spec, final)
            done.failed += int(pc.sum(table["failed"]).as_py() or 0)
            writer.write_arrow(table)
            done.written += table.num_rows
        writer.close()
    except BaseException:
        writer.abort()
        raise
    finally:
        if seen is not None:
            seen.close()
    return done


def _majority_of(table: Any, spec: TaskSpec) -> list[Decision]:
    from .reliability import decide_all

    return decide_all(table["votes"].to_pylist(), spec.label_names, spec.multi_label)


def _decide_all(ordered: list[list[Path]], schema: Any, spec: TaskSpec) -> list[Decision]:
    """Dawid-Skene weighs each teacher by all its votes: the one step that holds every vote in memory."""
    from .reliability import decide_all

    votes: list[Any] = []
    seen: set[str] = set()
    for table in _merged(ordered, schema):
        for text, cell in zip(table["text"].to_pylist(), table["votes"].to_pylist(), strict=True):
            if text not in seen:
                seen.add(text)
                votes.append(cell)
    return decide_all(votes, spec.label_names, spec.multi_label, method=spec.vote)  # type: ignore[attr-defined]


def _with_decisions(table: Any, decisions: list[Decision], spec: TaskSpec, schema: Any) -> Any:
    import pyarrow as pa

    values = {
        spec.label_column: [d.labels if spec.multi_label else d.label for d in decisions],
        "agreement": [d.agreement for d in decisions],
        "failed": [d.failed for d in decisions],
        "error": [d.error for d in decisions],
    }
    for name, column in values.items():
        i = table.schema.get_field_index(name)
        table = table.set_column(i, name, pa.array(column, type=schema.field(name).type))
    return table


class _SeenSet:
    """Texts written so far (hashes on disk: memory stays flat)."""

    def __init__(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE seen (h BLOB PRIMARY KEY)")

    def first_times(self, texts: list[str]) -> list[bool]:
        keep = []
        self._db.execute("BEGIN")
        for text in texts:
            cur = self._db.execute("INSERT OR IGNORE INTO seen VALUES (?)", (text_hash(text),))
            keep.append(cur.rowcount == 1)
        self._db.execute("COMMIT")
        return keep

    def close(self) -> None:
        self._db.close()
        self.path.unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------------------------------
# the ledger of a run in parts
# ------------------------------------------------------------------------------------------------------------------
def run_ledger(
    parts: Path,
    assembled: Assembled,
    *,
    shards: int,
    run_id: str,
    teachers: Sequence[Any],
    samples: int,
    concurrency: int,
    seconds: float,
    vote_method: str,
) -> dict[str, Any]:
    """The run's ledger, with the keys :func:`sxhub.annotate.aannotate` gives: the output's counts over every part,
    and what this run spent (requests, tokens, cost) over the chunks it labelled (``resumed_chunks`` were labelled
    by an earlier run: their cost is in that run's ledger)."""
    counts: Counter[str] = Counter({"n_input": 0, "n_empty": 0, "n_duplicates": 0})
    spent: dict[str, dict[str, Any]] = {}
    votes = VoteTotals()
    chunks = resumed = 0
    for i in range(shards):
        state = ShardState(shard_dir(parts, i, shards))
        try:
            done = state.chunks()
        finally:
            state.close()
        for _, stats in done.values():
            chunks += 1
            counts.update({k: int(stats.get(k, 0)) for k in counts})
            if stats.get("votes"):
                votes.add(stats["votes"])
            if stats.get("run") != run_id:
                resumed += 1
                continue
            for name, led in (stats.get("teachers") or {}).items():
                _add_ledger(spent.setdefault(name, {}), led)
    votes.add(assembled.fix)
    if assembled.votes is not None:
        votes = assembled.votes
    names, prices = _names_and_prices(teachers)
    ledgers = {name: TeacherLedger(**spent.get(name, {})) for name in names}
    ledgers.update({name: TeacherLedger(**led) for name, led in spent.items() if name not in ledgers})
    summary = votes.summary()
    return {
        "n_texts": assembled.written,
        "n_input": counts["n_input"],
        "n_duplicates": counts["n_duplicates"] + assembled.dropped,
        "n_empty": counts["n_empty"],
        "samples": samples,
        "concurrency": concurrency,
        "dry_run": False,
        **_ledger(ledgers, prices),
        "failed_texts": assembled.failed,
        "ties": summary["ties"],
        "seconds": seconds,
        "votes": summary,
        "vote_method": vote_method,
        "parts": str(parts),
        "chunks": chunks,
        "resumed_chunks": resumed,
    }


_SUMMED = {f.name for f in fields(TeacherLedger) if f.type in ("int", int)}
_LATEST = {"server", "enforced", "request_form"}


def _add_ledger(into: dict[str, Any], led: dict[str, Any]) -> None:
    for key, value in led.items():
        if key in _SUMMED:
            into[key] = into.get(key, 0) + int(value or 0)
        elif key in _LATEST and value:
            into[key] = value


def _names_and_prices(teachers: Sequence[Any]) -> tuple[list[str], dict[str, Any]]:
    """The ledger's teacher names (as the engine names them) and their prices, from Teacher objects or specs."""
    specs = [
        (t.name, t.spec) if isinstance(t, Teacher) else (TeacherSpec.parse(t).name, TeacherSpec.parse(t))
        for t in teachers
    ]
    names: list[str] = []
    for base, _ in specs:
        name, k = str(base), 2
        while name in names:
            name, k = f"{base}#{k}", k + 1
        names.append(name)
    prices = {
        n: (s.price_input, s.price_output) if s is not None and s.priced else None
        for n, (_, s) in zip(names, specs, strict=True)
    }
    return names, prices


@dataclass
class PartsResult:
    """What a run in parts returns: the output file and the ledger (no frame: the rows are in the file)."""

    output: Path
    ledger: dict[str, Any]

    def summary_line(self) -> str:
        return AnnotateResult(pd.DataFrame(), [], self.ledger).summary_line()


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def annotate_to_file(
    spec: TaskSpec,
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    teachers: Sequence[Teacher | TeacherSpec | str] | None = None,
    samples: int | None = None,
    concurrency: int = 8,
    cache: Any = None,
    rows: RowSlice | None = None,
    split: str = "train",
    text_column: str | None = None,
    keep_columns: Sequence[str] = (),
    preprocess: bool | None = None,
    max_chars: int = 20_000,
    chunk_rows: int = CHUNK_ROWS,
    restart: bool = False,
    progress: bool = True,
    max_retries: int = 4,
    max_invalid: int = 2,
    backoff: float = 1.0,
    max_wait: float = 60.0,
    seed: int = 0,
) -> PartsResult:
    """Label ``source`` (a file or Hub dataset id, or its slice ``rows``) into ``out``, in parts (module docstring).

    The arguments are those of :func:`sxhub.annotate.aannotate` plus the input's reading (``text_column``,
    ``keep_columns``, ``preprocess`` (default: the spec's), ``max_chars``); ``restart`` starts over when
    ``OUT.parts/`` holds parts of a run with other parameters.
    """
    job, parts = prepare_job(
        spec,
        str(source),
        Path(out),
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
        shards=1,
        max_invalid=max_invalid,
        seed=seed,
    )
    job.folder, job.cache, job.progress = shard_dir(parts, 0, 1), cache, progress
    job.max_retries, job.backoff, job.max_wait = max_retries, backoff, max_wait
    start = time.perf_counter()
    label_shard(job)
    return finish(job, parts, Path(out), shards=1, start=start)


def prepare_job(
    spec: TaskSpec,
    source: str,
    out: Path,
    *,
    teachers: Sequence[Any] | None,
    samples: int | None,
    concurrency: int,
    rows: RowSlice | None,
    split: str,
    text_column: str | None,
    keep_columns: Sequence[str],
    preprocess: bool | None,
    max_chars: int,
    chunk_rows: int,
    restart: bool,
    shards: int,
    max_invalid: int,
    seed: int,
) -> tuple[ShardJob, Path]:
    """Check the arguments and the parts folder (its manifest) before any request; the job every shard runs."""
    if concurrency < 1:
        raise UserError(f"concurrency={concurrency} must be at least 1.")
    n_samples = spec.samples if samples is None else samples
    if not isinstance(n_samples, int) or n_samples < 1:
        raise UserError(f"samples={n_samples!r} must be a positive integer.")
    TableWriter(out).abort()  # an unknown extension fails now, not after the labelling
    entries = list(spec.default_teachers()) if teachers is None else list(teachers)
    if not entries:
        raise UserError("annotate: teachers is empty; give at least one teacher (or None for the spec's).")
    rows = rows or RowSlice()
    keep = list(keep_columns)
    use_preprocess = spec.preprocess if preprocess is None else preprocess
    parts = parts_dir(out)
    manifest = make_manifest(
        spec,
        source,
        teachers=entries,
        samples=n_samples,
        rows=rows,
        split=split,
        text_column=text_column,
        keep_columns=keep,
        preprocess=use_preprocess,
        max_chars=max_chars,
        chunk_rows=chunk_rows,
        shards=shards,
        max_invalid=max_invalid,
        seed=seed,
    )
    check_manifest(parts, manifest, restart=restart, out=out)
    job = ShardJob(
        spec=spec,
        source=source,
        folder=parts,
        rows=rows,
        teachers=entries,
        run_id=new_run_id(),
        split=split,
        text_column=text_column,
        keep_columns=keep,
        preprocess=use_preprocess,
        max_chars=max_chars,
        chunk_rows=chunk_rows,
        samples=n_samples,
        concurrency=concurrency,
        max_invalid=max_invalid,
        seed=seed,
    )
    return job, parts


def finish(job: ShardJob, parts: Path, out: Path, *, shards: int, start: float) -> PartsResult:
    """Assemble OUT from the parts and write the run's ledger."""
    assembled = assemble(parts, out, job.spec, shards=shards)
    ledger = run_ledger(
        parts,
        assembled,
        shards=shards,
        run_id=job.run_id,
        teachers=job.teachers,
        samples=job.samples,
        concurrency=job.concurrency,
        seconds=time.perf_counter() - start,
        vote_method=getattr(job.spec, "vote", "majority"),
    )
    return PartsResult(output=out, ledger=ledger)
