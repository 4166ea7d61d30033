"""The annotate stage: teachers label texts, votes become decisions, a ledger (:mod:`sxhub.ledger`) says what it cost.

:func:`annotate` (and its async twin :func:`aannotate`) asks every teacher ``samples`` times per text (each sample
with its own seed), with at most ``concurrency`` requests in flight. Transient failures (429, 5xx, timeouts, lost
connections) are retried with exponential backoff and jitter, honouring ``Retry-After``; an answer that is not a
valid label is asked again with a fresh seed up to ``max_invalid`` times and then recorded as a failed vote with
its raw text. Votes are combined by :func:`sxhub.vote.decide` (or Dawid-Skene, when the spec says
``vote: dawid-skene``: :mod:`sxhub.reliability`); a text whose votes all failed is ``failed=True`` and
has no label. Every successful reply is committed to the :class:`~sxhub.cache.LabelCache` as it arrives, so a rerun
is free and a killed run resumes. The requests and retries are :mod:`sxhub.annotate_engine`'s, the stops
:mod:`sxhub.annotate_stops`'; this module takes the inputs, votes and writes the result and its ledger.

Seeds: sample ``s`` on its ``k``-th invalid-answer retry uses ``shift + s + 1000 * k``, where the shift is 0 for
``--seed 0`` and a hash of any other seed (:func:`sxhub.annotate_engine.seed_shift`): ``seed + s`` made
``--seed 1`` send two of the three samples of ``--seed 0``.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from .annotate_engine import (
    _Engine,
    _Options,
    _run_jobs,
    tries_left,
)
from .cache import CACHE_FILE, Claim, LabelCache, default_cache_dir
from .data import PreparedTexts, check_text_values, find_text_column, prepare_texts
from .errors import InputError, SxhubError, TeacherError, UserError
from .ledger import (
    cached_note,
    dry_run_estimate,
    enforced_note,
    format_cost,
    format_tokens,
    teacher_prices,
    total_ledger,
    unique_names,
)
from .reliability import decide_all
from .sequences import SequenceNotStr, refuse_one_string
from .spec import TaskSpec, TeacherSpec, load_spec
from .sync import run_sync, synchronous
from .teachers import (
    Reply,
    Teacher,
    open_teachers,
)
from .vote import Decision, summarize

logger = logging.getLogger(__name__)


@dataclass
class AnnotateResult:
    """The labelled rows (``frame``), one decision per row, and the run's ledger."""

    frame: pd.DataFrame
    # out of the repr: a notebook cell ending in ``result`` printed every Decision (about 100 characters a text:
    # 100 MB for a million texts) after the frame, whose own repr pandas already cuts short
    decisions: list[Decision] = field(repr=False)
    ledger: dict[str, Any]

    @property
    def rows(self) -> list[dict[str, Any]]:
        return self.frame.to_dict(orient="records")

    def summary_line(self) -> str:
        """One line for humans: counts, failures, duplicates, tokens, seconds, cost."""
        led = self.ledger
        if led.get("dry_run"):
            tries = int(led.get("max_invalid", 0)) + 1
            worst = "every answer at max_tokens" + (f" and invalid, so asked {tries} times" if tries > 1 else "")
            bound = (
                f" (at most {format_cost(led['cost_usd_max'])}: {worst})"
                if led["cost_usd_max"] is not None and led.get("requests_planned")
                else ""
            )
            cached = f" ({led['cached']} answers in the label cache)" if led.get("cached") else ""
            if led.get("being_asked"):  # planned all the same: that run may fail or be stopped
                cached += (
                    f" ({led['being_asked']} of those planned being asked now by another sxhub run "
                    f"({', '.join(led['being_asked_by'])}) with this label cache: a run started before it ends waits "
                    "for those answers instead of paying for them)"
                )
            return (
                f"dry run: {led['n_texts']} texts, {led['requests_planned']} requests planned{cached}, "
                f"~{led['input_tokens']:,} input + ~{led['output_tokens']:,} output tokens, "
                f"estimated cost {format_cost(led['cost_usd'])}{bound}{dry_over_max_chars_note(led)}"
            )
        return (
            f"labelled {led['n_texts'] - led['failed_texts']}/{led['n_texts']} texts, {led['failed_texts']} failed, "
            f"{led['n_duplicates']} duplicates dropped, "
            + (f"{led['n_empty']} empty texts left out, " if led.get("n_empty") else "")
            + f"{led['requests']} requests ({led['cached']} from cache), "
            f"{led['retries']} retries, {led['ties']} ties, {format_tokens(led)}, {led['seconds']:.1f} s, estimated cost "
            f"{format_cost(led['cost_usd'])}{cached_note(led)}{enforced_note(led)}{context_cuts_note(led)}{capped_note(led)}"
            f"{reasked_note(led)}{too_long_note(led)}{over_max_chars_note(led)}"
        )


def _count_note(led: dict[str, Any], key: str, thing: str, what: str) -> str:
    """``; N <thing>(s) was/were <what>``, for the ledger's count ``key``; empty when it is 0."""
    n = int(led.get(key) or 0)
    if not n:
        return ""
    return f"; {n} {thing} was {what}" if n == 1 else f"; {n} {thing}s were {what}"


def context_cuts_note(led: dict[str, Any]) -> str:
    """The answers a server stopped when its context window filled up, and the fix: each such vote's error says
    it, but the summary said only "N failed" (a failed vote, never a label)."""
    return _count_note(
        led,
        "context_cuts",
        "answer",
        "stopped when the teacher's context window filled up (see the error column): serve the model with a longer "
        "context (llama.cpp --n_ctx / -c, Ollama num_ctx) or shorten the texts (--max-chars N)",
    )


def capped_note(led: dict[str, Any]) -> str:
    """The answers a server stopped at a cap it sets on answers, with room left in its context (vLLM's
    ``max_new_tokens``): they were counted as context cuts, and the summary named --n_ctx, which changes nothing."""
    return _count_note(
        led,
        "capped_answers",
        "answer",
        "stopped at the teacher server's own cap on answer length, not its context (see the error column): raise or "
        "drop that cap (vLLM: max_new_tokens in --override-generation-config or the model's generation_config.json)",
    )


def reasked_note(led: dict[str, Any]) -> str:
    """The texts an earlier run's teacher refused as too long for its context window, which this rerun asked again
    (the server may have a longer context now): ``; re-asking N texts refused as too long earlier``."""
    n = int(led.get("reasked_too_long") or 0)
    return f"; re-asking {n} text{'s' if n != 1 else ''} refused as too long earlier" if n else ""


def dry_over_max_chars_note(led: dict[str, Any]) -> str:
    """The texts over ``--max-chars`` a dry run left out of its plan, as a run fails their rows unasked (it stopped at
    the first such text while a run went on)."""
    n = int(led.get("over_max_chars") or 0)
    return (
        f"; {n} text{'s' if n != 1 else ''} over --max-chars {led.get('max_chars')} not planned (a run fails "
        "their rows unasked: split long texts into passages, or raise --max-chars)"
        if n
        else ""
    )


def over_max_chars_note(led: dict[str, Any]) -> str:
    """The texts over ``--max-chars`` (failed rows, never asked: one stopped the whole run), and those an earlier
    run left out that this rerun, its limit raised, asked."""
    n, asked = int(led.get("over_max_chars") or 0), int(led.get("reasked_over_max_chars") or 0)
    note = (
        f"; asking {asked} text{'s' if asked != 1 else ''} an earlier run left out over --max-chars" if asked else ""
    )
    if n:
        note += (
            f"; {n} text{'s' if n != 1 else ''} over --max-chars {led.get('max_chars')} not asked (see the error "
            "column: split long texts into passages, or raise --max-chars and run again)"
        )
    return note


def too_long_note(led: dict[str, Any]) -> str:
    """The texts a teacher refused as too long for its context window, and the fixes: the summary said only "N
    failed". A refusal is never cached, and each text is asked once per teacher (not once per sample): two
    teachers refusing one text are 2 refusals, not 2 texts."""
    return _count_note(
        led,
        "too_long",
        "request",
        "refused as a text too long for the teacher's context window (one per text and teacher; see the error "
        "column): split long texts into passages (--max-chars N names them before any request) or use a teacher "
        "with a longer context",
    )


# ------------------------------------------------------------------------------------------------------------------
# inputs
# ------------------------------------------------------------------------------------------------------------------
def _as_prepared(
    spec: TaskSpec,
    inputs: SequenceNotStr[str] | PreparedTexts | pd.DataFrame,
    text_column: str | None = None,
    keep_columns: SequenceNotStr[str] = (),
) -> PreparedTexts:
    refuse_one_string("keep_columns", keep_columns, "column names")
    if isinstance(inputs, pd.DataFrame):
        check_text_values(inputs, find_text_column(inputs, text_column))  # ids: one line, as predict says it
        return prepare_texts(inputs, text_column=text_column, keep_columns=keep_columns, preprocess=spec.preprocess)
    if text_column is not None or keep_columns:
        raise UserError(
            "annotate: text_column= and keep_columns= pick the columns of a DataFrame input; pass the DataFrame "
            "itself (a list of texts has no columns, a PreparedTexts picked its own)."
        )
    if isinstance(inputs, PreparedTexts):
        return inputs
    refuse_one_string("inputs", inputs, "texts (or a DataFrame)")
    texts = list(inputs)  # a generator is read once, here
    if not all(isinstance(t, str) for t in texts):
        raise UserError("annotate: pass a list of texts (str), a pandas DataFrame or data.prepare_texts(...).")
    if not texts:
        raise UserError("annotate: inputs is an empty list; pass at least one text.")
    return prepare_texts(pd.DataFrame({"text": texts}), preprocess=False, drop_duplicates=False)


def output_columns(spec: TaskSpec) -> tuple[str, ...]:
    """The columns annotate writes (the labelled dataset's, DESIGN.md); a kept input column may not take one."""
    return ("text", spec.label_column, "votes", "agreement", "failed", "error")


def check_kept_columns(spec: TaskSpec, kept: Sequence[str]) -> None:
    """Refuse, before a teacher is asked, input columns to keep whose names annotate writes: kept as they are, an
    expert ``label`` column would silently replace the teachers' labels. (The text column itself, which
    ``prepare_texts`` leaves out of the kept ones, is not in ``kept``.)"""
    clash = [c for c in kept if c in output_columns(spec)]
    if clash:
        raise InputError(
            f"column(s) {clash} to keep would overwrite what annotate writes ({', '.join(output_columns(spec))}); "
            "rename them in the input (e.g. an expert 'label' column to 'gold') or keep other columns."
        )


def _teacher_specs(spec: TaskSpec, teachers: SequenceNotStr[Teacher | TeacherSpec | str] | None) -> list[Any]:
    if teachers is None:
        return list(spec.default_teachers())
    refuse_one_string("teachers", teachers, "teachers")  # it was read letter by letter: teachers 'l', 'o', 'c'...
    if not teachers:
        raise UserError("annotate: teachers is empty; give at least one teacher (or None for the spec's).")
    return list(teachers)


def _rows(spec: TaskSpec, prepared: PreparedTexts, votes: list[list[dict[str, Any]]]) -> tuple[pd.DataFrame, list]:
    # majority, dawid-skene or scores
    decisions = decide_all(votes, spec.label_names, spec.multi_label, method=spec.vote)
    frame = pd.DataFrame({"text": prepared.frame["text"].tolist()})
    frame[spec.label_column] = pd.Series([d.labels if spec.multi_label else d.label for d in decisions], dtype=object)
    frame["votes"] = votes
    frame["agreement"] = [d.agreement for d in decisions]
    frame["failed"] = [d.failed for d in decisions]
    frame["error"] = [d.error for d in decisions]
    for col in prepared.kept_columns:
        frame[col] = prepared.frame[col].tolist()
    return frame, decisions


def _open_cache(cache: LabelCache | str | os.PathLike[str] | bool | None) -> tuple[LabelCache | None, bool]:
    """(cache, whether we opened it and must close it)."""
    if cache is False:
        return None, False
    if isinstance(cache, LabelCache):
        return cache, False
    return LabelCache(None if cache in (None, True) else cache), True  # type: ignore[arg-type]


async def _left_to_ask(
    spec: TaskSpec,
    entries: list[Any],
    cache: LabelCache | str | os.PathLike[str] | bool | None,
    opts: _Options,
    prepared: PreparedTexts,
    asked: Counter[Claim] | None = None,
) -> list[list[tuple[int, int]]] | None:
    """A dry run's view of the label cache: per teacher, the votes it does not answer
    (:func:`~sxhub.annotate_engine.tries_left`); None (every vote planned) without a cache file, or with a teacher
    whose cache key needs its server (a URL without a model: the model it serves; an Inference Endpoint: its URL).
    ``asked`` counts those votes that another run is asking for now, by run. A dry run never creates a cache, and
    calls no teacher."""
    if cache is False:
        return None
    if not isinstance(cache, LabelCache):
        folder = default_cache_dir() if cache in (None, True) else Path(cache).expanduser()  # type: ignore[arg-type]
        if not (folder / CACHE_FILE).is_file():
            return None
    objects = all(isinstance(t, Teacher) for t in entries)
    specs = [t.spec if isinstance(t, Teacher) else TeacherSpec.parse(t) for t in entries]
    if any(ts is not None and ((ts.endpoint and not ts.base_url) or (ts.base_url and not ts.model)) for ts in specs):
        return None
    store, owned = _open_cache(cache)
    try:
        if objects:
            engine = _Engine(spec, list(entries), unique_names([t.name for t in entries]), store, opts)
            return tries_left(engine, prepared.texts, asked)
        given = [t if not isinstance(t, Teacher) else (t.spec or TeacherSpec(model=t.name)) for t in entries]
        async with open_teachers(given) as opened:  # no request: a local teacher starts on its first one
            engine = _Engine(spec, opened, unique_names([t.name for t in opened]), store, opts)
            return tries_left(engine, prepared.texts, asked)
    finally:
        if owned and store is not None:
            store.close()


def votes_left(
    spec: TaskSpec,
    prepared: PreparedTexts,
    teachers: list[TeacherSpec],
    *,
    samples: int | None = None,
    cache: LabelCache | str | os.PathLike[str] | bool | None = None,
    max_invalid: int = 2,
    seed: int = 0,
) -> int | None:
    """How many votes :func:`annotate` (these arguments, the others its defaults) would ask ``teachers`` for, the
    label cache answering the rest, as a dry run counts them; None when that cannot be told without a teacher's
    server. Sends nothing."""
    opts = _Options(resolve_samples(spec, samples), 1, 0, max_invalid, 1.0, 1.0, seed)
    left = run_sync(
        lambda: _left_to_ask(spec, list(teachers), cache, opts, prepared), name="votes_left", fix="aannotate"
    )
    return None if left is None else sum(len(votes) for votes in left)


def resolve_samples(spec: TaskSpec, samples: int | None) -> int:
    """The samples per teacher and text (``samples``, else the spec's), or one error line. Stages that write texts
    before they vote (generate, twins) call it first, so that a bad count fails before any text is paid for."""
    n_samples = spec.samples if samples is None else samples
    if not isinstance(n_samples, int) or isinstance(n_samples, bool) or n_samples < 1:
        raise UserError(f"samples={n_samples!r} must be a positive integer (e.g. --samples 1).")
    from .reliability import check_vote_method

    check_vote_method(spec.vote)  # a vote rule that cannot run stops here, not after every request is paid
    return n_samples


async def aannotate(
    spec: TaskSpec | str | os.PathLike[str],
    inputs: SequenceNotStr[str] | PreparedTexts | pd.DataFrame,
    *,
    teachers: SequenceNotStr[Teacher | TeacherSpec | str] | None = None,
    samples: int | None = None,
    concurrency: int = 8,
    cache: LabelCache | str | os.PathLike[str] | bool | None = None,
    progress: bool = True,
    dry_run: bool = False,
    max_retries: int = 4,
    max_invalid: int = 2,
    backoff: float = 1.0,
    max_wait: float = 60.0,
    seed: int = 0,
    text_column: str | None = None,
    keep_columns: SequenceNotStr[str] = (),
) -> AnnotateResult:
    """Label ``inputs`` with the teachers (default: the spec's, else ``$SXHUB_TEACHER``, else ``local``).

    ``spec`` is a :class:`TaskSpec` or the path of its YAML, as for :func:`sxhub.run_pipeline` and ``train``.

    ``inputs`` is a list of texts (used as given), a DataFrame (prepared with the spec's preprocessing: its texts are
    ``text_column``, default ``text`` or a usual synonym, and ``keep_columns`` are copied to the result, as
    ``--text-column`` and ``--keep-column`` do) or a :class:`~sxhub.data.PreparedTexts`. ``teachers`` are :class:`Teacher` objects (used and left open) or specs
    (opened and closed here). ``cache`` is a LabelCache, a folder, None (``$SXHUB_CACHE``) or False (no cache).
    ``max_retries`` bounds retries of transient failures per request, ``max_invalid`` the re-asks after an invalid
    answer. ``dry_run`` only estimates tokens and cost.
    """
    spec = load_spec(spec, name="spec")
    if concurrency < 1:
        raise UserError(f"concurrency={concurrency} must be at least 1.")
    n_samples = resolve_samples(spec, samples)
    prepared = _as_prepared(spec, inputs, text_column, keep_columns)
    check_kept_columns(spec, prepared.kept_columns)
    entries = _teacher_specs(spec, teachers)
    base = {
        "n_texts": len(prepared.texts),
        "n_input": prepared.n_input,
        "n_duplicates": prepared.n_duplicates,
        "n_empty": prepared.n_empty,
        "samples": n_samples,
        "concurrency": concurrency,
    }
    if dry_run:
        frame = prepared.frame.copy()
        opts = _Options(n_samples, concurrency, max_retries, max_invalid, backoff, max_wait, seed)
        asked: Counter[Claim] = Counter()
        left = await _left_to_ask(spec, entries, cache, opts, prepared, asked)
        estimate = dry_run_estimate(spec, prepared, entries, n_samples, max_invalid, left)
        # planned all the same (an upper bound: that run may fail or be stopped), and said: the run waits for them
        being_asked = {"being_asked": sum(asked.values()), "being_asked_by": [str(c) for c in asked]}
        return AnnotateResult(frame=frame, decisions=[], ledger={**base, "dry_run": True, **estimate, **being_asked})
    store, owned = _open_cache(cache)
    opts = _Options(n_samples, concurrency, max_retries, max_invalid, backoff, max_wait, seed)
    start = time.perf_counter()
    try:
        if all(isinstance(t, Teacher) for t in entries):
            votes, engine = await _annotate_with(spec, entries, store, opts, prepared, progress)
        else:
            specs = [t if not isinstance(t, Teacher) else (t.spec or TeacherSpec(model=t.name)) for t in entries]
            async with open_teachers(specs) as opened:
                votes, engine = await _annotate_with(spec, opened, store, opts, prepared, progress)
    finally:
        if owned and store is not None:
            store.close()
    frame, decisions = _rows(spec, prepared, votes)
    summary = summarize(decisions)
    ledger = {
        **base,
        "dry_run": False,
        **total_ledger(engine.ledgers, teacher_prices(engine.teachers, engine.names)),
        "failed_texts": summary["failed"],
        "ties": summary["ties"],
        "seconds": time.perf_counter() - start,
        "votes": summary,
        "vote_method": spec.vote,
    }
    return AnnotateResult(frame=frame, decisions=decisions, ledger=ledger)


async def _annotate_with(
    spec: TaskSpec,
    teachers: Sequence[Teacher],
    store: LabelCache | None,
    opts: _Options,
    prepared: PreparedTexts,
    progress: bool,
) -> tuple[list[list[dict[str, Any]]], _Engine]:
    for teacher in teachers:
        teacher.check_task(spec)
    engine = _Engine(spec, list(teachers), unique_names([t.name for t in teachers]), store, opts)
    try:
        votes = await _run_jobs(engine, prepared.texts, progress=progress)
    except (SxhubError, KeyboardInterrupt) as exc:
        spent_so_far(exc, engine)
        raise
    return votes, engine


def spent_so_far(exc: BaseException, engine: _Engine) -> None:
    """Put what a run that stopped part-way (a teacher that cannot be called, Ctrl-C) had spent on ``exc``, as
    ``exc.sxhub_ledger`` (:func:`total_ledger`): its answers are in the cache, and a caller that records the cost of
    what it did so far (generate's saved texts, :func:`sxhub.generate.stopped_ledger`) counts their requests too."""
    exc.sxhub_ledger = total_ledger(engine.ledgers, teacher_prices(engine.teachers, engine.names))  # type: ignore[attr-defined]


# annotate(spec, inputs, samples=..., ...): aannotate run to its end (its signature, for help() and type checkers)
annotate = synchronous(aannotate, "annotate")


async def acomplete_requests(
    spec: TaskSpec,
    teachers: Sequence[Teacher],
    requests: Sequence[tuple[int, list[dict[str, str]], int]],
    *,
    schema: dict[str, Any] | None,
    temperature: float | None = None,
    cache: LabelCache | None = None,
    concurrency: int = 8,
    max_retries: int = 4,
    backoff: float = 1.0,
    max_wait: float = 60.0,
    progress: bool = True,
    desc: str = "requests",
    deadline: float | None = None,
) -> tuple[list[Reply | TeacherError], dict[str, Any]]:
    """Free-form chat requests ``(teacher index, messages, seed)`` through the same engine as :func:`aannotate`.

    The same bounded concurrency, retries with backoff honouring Retry-After, cache and ledger; the reply's schema
    and temperature are given here instead of taken from the spec (Synthetic Twins and generated texts use it).
    Returns the replies in request order (a :class:`TeacherError` where one failed for good) and the ledger. No
    request starts after ``deadline`` (``time.monotonic()``; generate's ``--max-minutes``): the replies are then
    those of the first requests, those sent before it (the requests in flight finish).
    """
    from .progress import progress_bar

    if concurrency < 1:
        raise UserError(f"concurrency={concurrency} must be at least 1.")
    options = _Options(1, concurrency, max_retries, 0, backoff, max_wait, 0)
    engine = await _request_engine(spec, teachers, schema, temperature, cache, options)
    results: list[Reply | TeacherError | None] = [None] * len(requests)
    jobs = engine.until_stopped(_until(list(enumerate(requests)), deadline))
    bar = progress_bar(total=len(requests), unit="request", desc=desc, enabled=progress)

    async def worker() -> None:
        for i, (idx, messages, seed) in jobs:  # one shared iterator: each request is taken once
            try:
                results[i] = await engine.request(idx, messages, seed)
            except TeacherError as exc:  # gave up after retries, or a permanent error for this request
                results[i] = exc
            bar.update(1)

    try:  # TeacherUnavailableError (401, 404) stops the run; Ctrl-C finishes the requests in flight first
        await engine.run_workers([worker() for _ in range(max(1, min(concurrency, len(requests))))])
    except (SxhubError, KeyboardInterrupt) as exc:
        spent_so_far(exc, engine)
        raise
    finally:
        bar.close()
    done = [r for r in results if r is not None]  # taken in order: a prefix, all of it without a deadline
    assert deadline is not None or len(done) == len(requests)
    assert all(r is not None for r in results[: len(done)])
    return done, total_ledger(engine.ledgers, teacher_prices(engine.teachers, engine.names))


def _until(jobs: list[Any], deadline: float | None) -> Iterator[Any]:
    """``jobs`` in order, up to ``deadline`` (``time.monotonic()``; None: all of them)."""
    for job in jobs:
        if deadline is not None and time.monotonic() >= deadline:
            return
        yield job


async def _request_engine(
    spec: TaskSpec,
    teachers: Sequence[Teacher],
    schema: dict[str, Any] | None,
    temperature: float | None,
    cache: LabelCache | None,
    options: _Options,
) -> _Engine:
    """The engine of :func:`acomplete_requests`, its keys made for ``schema`` and ``temperature``."""
    run_spec = spec if temperature is None else replace(spec, temperature=temperature)
    names = unique_names([t.name for t in teachers])
    engine = _Engine(run_spec, list(teachers), names, cache, options)
    engine.schema = schema
    await engine.resolve_teachers()  # the keys carry this schema (and a URL-only teacher's served model)
    return engine


async def uncached_requests(
    spec: TaskSpec,
    teachers: Sequence[Teacher],
    requests: Sequence[tuple[int, list[dict[str, str]], int]],
    *,
    schema: dict[str, Any] | None,
    temperature: float | None,
    cache: LabelCache,
) -> int:
    """How many of ``requests`` (as :func:`acomplete_requests` takes them) the cache cannot answer; sends none."""
    engine = await _request_engine(spec, teachers, schema, temperature, cache, _Options(1, 1, 0, 0, 1.0, 1.0, 0))
    return sum(
        engine._cached(idx, engine.keys[idx](messages, seed), messages, seed) is None
        for idx, messages, seed in requests
    )
