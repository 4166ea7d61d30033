"""Annotate in parts: results written as they arrive, a rerun resumes, memory flat in the input's size.

``sxhub annotate INPUT -o OUT`` reads INPUT in chunks (:func:`sxhub.stream.iter_table`), labels each chunk with the
async engine of :mod:`sxhub.annotate` and commits it as a Parquet part file under ``OUT.parts/``; OUT is assembled
from the parts at the end and equals what the in-memory :func:`sxhub.annotate.annotate` writes (same rows, columns
and order; a text seen in an earlier chunk is dropped as a duplicate, as today). Layout::

    OUT.parts/
      manifest.json                  the run's parameters: a rerun with other parameters refuses to mix parts
      lock                           held (flock) by the run writing OUT: a second one on the same OUT stops
      shard-00000-of-00001/          one folder per shard (``--engine ray`` runs several; one process runs one)
        state.sqlite                 chunks done (counts, ledger), hashes of the texts seen (duplicates), the
                                     teachers' identities (a URL-only one's served model: a resume must match)
        part-000000.parquet ...      one part per chunk, written to a temporary name and moved into place
        labels.sqlite                (``--engine ray``) the shard's own label cache; ``--restart`` keeps it, and a
                                     run with other shards (or one process) reads it for the answers it holds
        rows.npy                     (``--engine ray``) the positions of the rows this shard labels

A chunk is done when ``state.sqlite`` says so; it records the chunk and the hashes of its texts in one transaction
after the part file is in place, so a run killed at any moment resumes from the parts plus the label cache and
never writes a row twice. A chunk with failed rows (every vote failed: a server down, retries exhausted) or with
votes that got no answer (one of two teachers down: its rows carry the other's votes alone) or with texts a teacher
refused as too long for its context window (the server may have been restarted with a longer context: the summary
says "re-asking N texts refused as too long earlier") is labelled again by a rerun, as the in-memory engine asks
failed votes again: the label cache answers the votes that succeeded and replays invalid answers, only the failed
votes are asked, and its part and state row are replaced. The folder stays
after the run: a rerun of a finished job without such votes only assembles OUT again (no request); delete it when
it is no longer needed.

The package: :mod:`~sxhub.parts.layout` (folders, manifest, shard state), :mod:`~sxhub.parts.shard` (labelling one
shard), :mod:`~sxhub.parts.assembly` (OUT from the parts, vote totals); here, the run's ledger and the driver,
:func:`annotate_to_file`.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..annotate import AnnotateResult, check_kept_columns, resolve_samples
from ..errors import UserError
from ..ledger import TeacherLedger, sum_ledgers, total_ledger, unique_names
from ..spec import TaskSpec, TeacherSpec
from ..stream import STDIN, RowSlice, TableWriter, check_input
from ..teachers import Teacher, check_installed
from .assembly import Assembled, VoteTotals, assemble
from .layout import (
    CHUNK_ROWS,
    MANIFEST,
    ROW,
    STATE,
    ShardState,
    check_manifest,
    chunk_answers,
    input_identity,
    locked,
    make_manifest,
    parts_dir,
    parts_file,
    prompt_identity_before_nfc,
    settle_caches,
    shard_dir,
    text_hash,
)
from .shard import ShardJob, alabel_shard, label_shard, shard_chunks, shard_done

__all__ = [
    "CHUNK_ROWS",
    "MANIFEST",
    "ROW",
    "STATE",
    "Assembled",
    "PartsResult",
    "ShardJob",
    "ShardState",
    "VoteTotals",
    "alabel_shard",
    "annotate_to_file",
    "assemble",
    "check_manifest",
    "finish",
    "input_identity",
    "label_shard",
    "locked",
    "make_manifest",
    "new_run_id",
    "parts_dir",
    "prepare_job",
    "refuse_stdin",
    "run_ledger",
    "shard_chunks",
    "shard_dir",
    "text_hash",
]


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
    max_chars: int | None = None,
) -> dict[str, Any]:
    """The run's ledger, with the keys :func:`sxhub.annotate.aannotate` gives: the output's counts over every part,
    and the whole job's bill. What this run spent (requests, tokens, cost) is summed over the chunks it labelled;
    the chunks an earlier run labelled (``resumed_chunks``) count as cached answers: their answers and tokens go
    to ``cached``/``cached_*`` (so ``cached_cost_usd`` keeps what they cost), not to this run's requests. Counted
    as this run's, a rerun of a finished job billed $0 and its seconds made the teacher look thousands of texts
    per second fast on the model card (``sxhub.cards.ledger_speed`` gives no speed for a ledger with cached
    answers)."""
    counts: Counter[str] = Counter({"n_input": 0, "n_empty": 0, "n_duplicates": 0})
    spent: dict[str, list[dict[str, Any]]] = {}  # each teacher's chunk ledgers
    votes = VoteTotals()
    chunks = resumed = reasked = over = reasked_over = 0
    lengths: list[int] = []  # the shortest and longest text over --max-chars of each chunk that has one
    for i in range(shards):
        state = ShardState(shard_dir(parts, i, shards))
        try:
            done = state.chunks()
        finally:
            state.close()
        for part, stats in done.values():
            chunks += 1
            counts.update({k: int(stats.get(k, 0)) for k in counts})
            if stats.get("votes"):
                votes.add(stats["votes"])
            ledgers = stats.get("teachers") or {}
            over += int(stats.get("over_max_chars_rows") or 0)
            if stats.get("over_max_chars_rows"):  # an older chunk recorded its shortest only
                shortest = int(stats.get("over_max_chars_shortest") or 0)
                lengths += [shortest, int(stats.get("over_max_chars_longest") or shortest)]
            if stats.get("run") == run_id:
                reasked += int(stats.get("reasked_too_long") or 0)
                reasked_over += int(stats.get("reasked_over_max_chars") or 0)
            else:
                resumed += 1
                answers = stats.get("answers")
                if answers is None and part:  # a part written before answers were recorded
                    answers = _part_answers(shard_dir(parts, i, shards) / part, ledgers)
                ledgers = {name: _as_cached(led, (answers or {}).get(name, 0)) for name, led in ledgers.items()}
            for name, led in ledgers.items():
                spent.setdefault(name, []).append(led)
    votes.add(assembled.fix)
    if assembled.votes is not None:
        votes = assembled.votes
    names, prices = _names_and_prices(teachers)
    summed = {name: sum_ledgers(parts_of, latest=True) for name, parts_of in spent.items()}
    ledgers = {name: TeacherLedger(**summed.get(name, {})) for name in names}
    ledgers.update({name: TeacherLedger(**led) for name, led in summed.items() if name not in ledgers})
    summary = votes.summary()
    return {
        "n_texts": assembled.written,
        "n_input": counts["n_input"],
        "n_duplicates": counts["n_duplicates"] + assembled.dropped,
        "n_empty": counts["n_empty"],
        "samples": samples,
        "concurrency": concurrency,
        "dry_run": False,
        **total_ledger(ledgers, prices),
        "failed_texts": assembled.failed,
        "ties": summary["ties"],
        "seconds": seconds,
        "votes": summary,
        "vote_method": vote_method,
        "parts": str(parts),
        "chunks": chunks,
        "resumed_chunks": resumed,
        # texts an earlier run's teacher refused as too long for its context, asked again by this one
        "reasked_too_long": reasked,
        # rows over --max-chars (failed, never asked), and those an earlier run left out that this one asked
        "max_chars": max_chars,
        "over_max_chars": over,
        **({"over_max_chars_lengths": [min(lengths), max(lengths)]} if lengths else {}),
        "reasked_over_max_chars": reasked_over,
        # a CSV/TSV OUT's columns of JSON cells: publish dataset reads them back as the lists and dicts they were
        **({"json_columns": assembled.json_columns} if assembled.json_columns else {}),
    }


_LATEST = {"server", "enforced", "request_form"}


def _as_cached(led: dict[str, Any], answers: int) -> dict[str, Any]:
    """An earlier run's chunk as the engine counts answers read from the cache: no request, their first tokens
    in ``cached_*``; the invalid answers and failed votes stay, as they describe the labels in OUT."""
    return {
        "cached": answers,
        "cached_input_tokens": int(led.get("input_tokens") or 0) + int(led.get("cached_input_tokens") or 0),
        "cached_output_tokens": int(led.get("output_tokens") or 0) + int(led.get("cached_output_tokens") or 0),
        # answers whose server sent no token counts: their first cost stays unknown, never $0
        "cached_without_usage": int(led.get("replies_without_usage") or 0) + int(led.get("cached_without_usage") or 0),
        "invalid_answers": int(led.get("invalid_answers") or 0),
        "failed_votes": int(led.get("failed_votes") or 0),
        "too_long": int(led.get("too_long") or 0),  # its failed rows' reason, which the summary gives
        **{key: led.get(key) for key in _LATEST},
    }


def _part_answers(path: Path, ledgers: dict[str, dict[str, Any]]) -> dict[str, int]:
    import pyarrow.parquet as pq

    with parts_file(path):
        return chunk_answers(pq.read_table(path, columns=["votes"])["votes"].to_pylist(), ledgers)


def _names_and_prices(teachers: Sequence[Any]) -> tuple[list[str], dict[str, Any]]:
    """The ledger's teacher names (as the engine names them) and their prices, from Teacher objects or specs."""
    specs = [
        (t.name, t.spec) if isinstance(t, Teacher) else (TeacherSpec.parse(t).name, TeacherSpec.parse(t))
        for t in teachers
    ]
    names = unique_names([str(base) for base, _ in specs])
    prices = {
        n: (s.price_input, s.price_output) if s is not None and s.priced else None
        for n, (_, s) in zip(names, specs, strict=True)
    }
    return names, prices


# ------------------------------------------------------------------------------------------------------------------
# the driver
# ------------------------------------------------------------------------------------------------------------------
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
    before_asking: Callable[[], object] | None = None,
) -> PartsResult:
    """Label ``source`` (a file or Hub dataset id, or its slice ``rows``) into ``out``, in parts (module docstring).

    The arguments are those of :func:`sxhub.annotate.aannotate` plus the input's reading (``text_column``,
    ``keep_columns``, ``preprocess`` (default: the spec's), ``max_chars``); ``restart`` starts over when
    ``OUT.parts/`` holds parts of a run with other parameters. ``before_asking`` is called once the parts are
    checked, unless they leave nothing to ask (a finished job run again) or the label cache answers every vote left
    (texts labelled before into another OUT, :func:`_asleep`): the run's Inference Endpoints are resumed there
    (:meth:`sxhub.endpoint_run.EndpointRun.start`), not for a run that sends no request.
    """
    new_parts = not parts_dir(out).exists()
    with ExitStack() as hold:  # OUT.parts/ locked from before its manifest is read until OUT is written
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
            hold=hold,
        )
        job.folder, job.cache, job.progress = shard_dir(parts, 0, 1), cache, progress
        job.max_retries, job.backoff, job.max_wait = max_retries, backoff, max_wait
        start = time.perf_counter()
        try:
            if before_asking is not None and not shard_done(job):
                asleep = _asleep(job)
                if asleep is None:
                    before_asking()
                else:  # opened with these, the shard wakes no endpoint; the manifest keeps the spec's own teachers
                    job.teachers = asleep
            label_shard(job)
        except BaseException:
            if new_parts:
                drop_if_untouched(parts)
            raise
        return finish(job, parts, Path(out), shards=1, start=start)


def _asleep(job: ShardJob) -> list[Any] | None:
    """The job's teacher specs, each Inference Endpoint's URL as the Hub gives it while it sleeps
    (:func:`sxhub.endpoints.all_unwoken`), when the label cache answers every vote the shard would ask with them
    (:func:`~sxhub.parts.shard.shard_asks`: texts labelled before, into another OUT); else None, and the endpoints
    are resumed first: a vote to ask, a teacher keyed by what its running server says (no ``model:``), an endpoint
    the Hub gives no URL for now, or Teacher objects (opened already)."""
    from dataclasses import replace

    from ..endpoints import all_unwoken
    from .shard import shard_asks

    if any(isinstance(t, Teacher) for t in job.teachers):
        return None
    specs = all_unwoken([TeacherSpec.parse(t) for t in job.teachers])
    if specs is None or shard_asks(replace(job, teachers=specs)):
        return None
    return specs


def drop_if_untouched(parts: Path) -> None:
    """Remove ``OUT.parts/``, made by this run, when the run stopped before its shard wrote a file (a teacher that
    cannot be asked, a Hub id without a token: the first request fails): it held a lock, a manifest and an empty
    shard folder, nothing a rerun resumes, beside an OUT that was never written. Called with the lock held."""
    import shutil
    import sqlite3
    from contextlib import closing

    for shard in parts.glob("shard-*"):
        if any(p.is_file() and not p.name.startswith(STATE) for p in shard.rglob("*")):
            return  # a part (or a shard's cache): what a rerun resumes
        if (shard / STATE).is_file():
            try:
                with closing(sqlite3.connect(f"file:{shard / STATE}?mode=ro", uri=True)) as db:
                    if db.execute("SELECT 1 FROM chunks LIMIT 1").fetchone() is not None:
                        return  # a chunk done
            except sqlite3.Error:
                return  # unreadable: left for the rerun to name
    shutil.rmtree(parts, ignore_errors=True)


def refuse_stdin(source: Any) -> None:
    """One line for INPUT ``-`` (stdin), which annotate labels into ``OUT.parts/`` only from a file: a stopped run
    resumes by reading INPUT again and skipping its chunks already labelled (by their place), which a pipe read once
    cannot give, and another stream piped to the rerun would have been mixed with the first one's parts."""
    if str(source) == STDIN:
        raise UserError(
            "annotate cannot read INPUT from stdin: a stopped run resumes by reading INPUT again and skipping the "
            "chunks already labelled, which a pipe cannot give; save the texts to a file, one per line (e.g. "
            "`... > texts.txt`), and pass texts.txt."
        )


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
    hold: ExitStack | None = None,
) -> tuple[ShardJob, Path]:
    """Check the arguments and the parts folder (its manifest) before any request; the job every shard runs.

    With ``hold``, ``OUT.parts/`` is locked there (:func:`~sxhub.parts.layout.locked`) until ``hold`` closes: a
    second run on the same OUT stops with one line before it reads the manifest or asks anything."""
    if concurrency < 1:
        raise UserError(f"concurrency={concurrency} must be at least 1.")
    n_samples = resolve_samples(spec, samples)
    TableWriter(out).abort()  # an unknown extension fails now, not after the labelling
    entries = list(spec.default_teachers()) if teachers is None else list(teachers)
    if not entries:
        raise UserError("annotate: teachers is empty; give at least one teacher (or None for the spec's).")
    check_installed(entries)
    rows = rows or RowSlice()
    keep = list(keep_columns)
    # before the parts folder is made; "text" is left to each chunk's check, once the text column is known
    check_kept_columns(spec, [c for c in keep if c != "text"])
    use_preprocess = spec.preprocess if preprocess is None else preprocess
    refuse_stdin(source)
    # a missing or unreadable file: its one line before the parts folder is made (made first, its manifest named the
    # file a Hub id and refused the corrected rerun); a .txt file is one text per line, as predict reads it
    check_input(source, text_column)
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
    if hold is not None:
        hold.enter_context(locked(parts, out))
    before_nfc = prompt_identity_before_nfc(spec) if "prompt" in manifest else None
    check_manifest(parts, manifest, restart=restart, out=out, prompt_before_nfc=before_nfc)
    settle_caches(parts)
    from ..prompt import pinned_template

    job = ShardJob(
        spec=pinned_template(spec),  # a template file read once, as the manifest recorded it, for every shard
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
        max_chars=job.max_chars,
    )
    return PartsResult(output=out, ledger=ledger)
