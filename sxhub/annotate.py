"""The annotate stage: teachers label texts, votes become decisions, a ledger (:mod:`sxhub.ledger`) says what it cost.

:func:`annotate` (and its async twin :func:`aannotate`) asks every teacher ``samples`` times per text (each sample
with its own seed), with at most ``concurrency`` requests in flight. Transient failures (429, 5xx, timeouts, lost
connections) are retried with exponential backoff and jitter, honouring ``Retry-After``; an answer that is not a
valid label is asked again with a fresh seed up to ``max_invalid`` times and then recorded as a failed vote with
its raw text. Votes are combined by :func:`sxhub.vote.decide` (or Dawid-Skene, when the spec says
``vote: dawid-skene``: :mod:`sxhub.reliability`); a text whose votes all failed is ``failed=True`` and
has no label. Every successful reply is committed to the :class:`~sxhub.cache.LabelCache` as it arrives, so a rerun
is free and a killed run resumes.

Seeds: sample ``s`` on its ``k``-th invalid-answer retry uses ``seed + s + 1000 * k``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

from .cache import CacheKeys, LabelCache
from .data import PreparedTexts, prepare_texts
from .errors import InputError, TeacherError, TeacherUnavailableError, UserError
from .ledger import (
    TeacherLedger,
    cached_note,
    dry_run_estimate,
    enforced_note,
    format_cost,
    format_tokens,
    teacher_prices,
    total_ledger,
    unique_names,
)
from .prompt import InvalidAnswer, message_builder, reply_parser
from .reliability import decide_all
from .spec import TaskSpec, TeacherSpec
from .teachers import (
    ContextLengthError,
    RejectedRequestError,
    Reply,
    RetryableTeacherError,
    ServerGoneError,
    Teacher,
    open_teachers,
)
from .teachers.base import TimedOutError, timed_out
from .vote import Decision, summarize, vote_scores

logger = logging.getLogger(__name__)
_WARNED: set[str] = set()


def _warn_once(key: str, message: str, *args: Any) -> None:
    """A warning given once per process (generate labels every round through a new engine)."""
    if key not in _WARNED:
        _WARNED.add(key)
        logger.warning(message, *args)


SEED_STRIDE = 1000
TEACHER_SEED_STRIDE = 1_000_000  # the same teacher listed twice samples with other seeds
EARLY_STOP_HUNG = 3  # texts in a row whose every try timed out: the teacher answers nothing, stop
EARLY_STOP_REJECTIONS = 3  # a teacher's first answers all refusing the request: stop, the shape is wrong
RAW_LIMIT = 2000
INVALID_ANSWER = "invalid answer"  # a failed vote's error when every answer was invalid (the cache replays them)


def unanswered(vote: Mapping[str, Any]) -> bool:
    """Whether a vote failed for want of an answer (the server down, retries exhausted, the request refused), not on
    invalid answers: asking again may give it one, while the cache would replay the same invalid answers."""
    return vote.get("labels") is None and not str(vote.get("error") or "").startswith(INVALID_ANSWER)


@dataclass
class AnnotateResult:
    """The labelled rows (``frame``), one decision per row, and the run's ledger."""

    frame: pd.DataFrame
    decisions: list[Decision]
    ledger: dict[str, Any]

    @property
    def rows(self) -> list[dict[str, Any]]:
        return self.frame.to_dict(orient="records")

    def summary_line(self) -> str:
        """One line for humans: counts, failures, duplicates, tokens, seconds, cost."""
        led = self.ledger
        if led.get("dry_run"):
            return (
                f"dry run: {led['n_texts']} texts, {led['requests_planned']} requests planned, "
                f"~{led['input_tokens']:,} input + ~{led['output_tokens']:,} output tokens, "
                f"estimated cost {format_cost(led['cost_usd'])} (at most {format_cost(led['cost_usd_max'])})"
            )
        return (
            f"labelled {led['n_texts'] - led['failed_texts']}/{led['n_texts']} texts, {led['failed_texts']} failed, "
            f"{led['n_duplicates']} duplicates dropped, {led['requests']} requests ({led['cached']} from cache), "
            f"{led['retries']} retries, {led['ties']} ties, {format_tokens(led)}, {led['seconds']:.1f} s, estimated cost "
            f"{format_cost(led['cost_usd'])}{cached_note(led)}{enforced_note(led)}"
        )


class RequestShapeError(TeacherUnavailableError):
    """A teacher's server refused the first requests as sent: the request shape does not fit that server."""


# ------------------------------------------------------------------------------------------------------------------
# inputs
# ------------------------------------------------------------------------------------------------------------------
def _as_prepared(spec: TaskSpec, inputs: Sequence[str] | PreparedTexts | pd.DataFrame) -> PreparedTexts:
    if isinstance(inputs, PreparedTexts):
        return inputs
    if isinstance(inputs, pd.DataFrame):
        return prepare_texts(inputs, preprocess=spec.preprocess)
    if isinstance(inputs, str) or not all(isinstance(t, str) for t in inputs):
        raise UserError("annotate: pass a list of texts (str), a pandas DataFrame or data.prepare_texts(...).")
    return prepare_texts(pd.DataFrame({"text": list(inputs)}), preprocess=False, drop_duplicates=False)


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


def _teacher_specs(spec: TaskSpec, teachers: Sequence[Teacher | TeacherSpec | str] | None) -> list[Any]:
    if teachers is None:
        return list(spec.default_teachers())
    if not teachers:
        raise UserError("annotate: teachers is empty; give at least one teacher (or None for the spec's).")
    return list(teachers)


# ------------------------------------------------------------------------------------------------------------------
# the engine
# ------------------------------------------------------------------------------------------------------------------
@dataclass
class _Options:
    samples: int
    concurrency: int
    max_retries: int
    max_invalid: int
    backoff: float
    max_wait: float
    seed: int


@dataclass
class _Engine:
    spec: TaskSpec
    teachers: list[Teacher]
    names: list[str]
    cache: LabelCache | None
    opts: _Options
    ledgers: dict[str, TeacherLedger] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.schema: dict[str, Any] | None = self.spec.answer_schema()
        self.ledgers = {name: TeacherLedger() for name in self.names}
        self.seed_offsets = _seed_offsets(self.teachers)
        self.successes = [0] * len(self.teachers)
        self.rejections: list[list[RejectedRequestError]] = [[] for _ in self.teachers]
        self.rejected_texts: list[set[str]] = [set() for _ in self.teachers]  # which texts they were for
        self.hung_texts: list[set[str]] = [set() for _ in self.teachers]  # every try timed out, since the last reply
        self._in_flight: dict[str, asyncio.Future[Reply]] = {}  # cache key -> the request on its way
        # per request and reply: the parts that depend only on the spec and teacher are made once
        self.messages_for = message_builder(self.spec)
        self.parse = reply_parser(self.spec)
        # with a teacher that scores labels, every vote has ``scores`` (None where there are none), so that every
        # chunk of a run writes the same votes type
        self.scored = any(getattr(t, "scores_labels", False) for t in self.teachers)
        if self.scored and self.spec.vote == "majority" and self.opts.samples > 1 and self.spec.temperature > 0:
            _warn_once(
                "majority-over-scores",
                "a teacher of this run scores labels (sxhub tune's): its %d samples at temperature %g are draws from "
                "its scores and the majority counts them; --vote scores (vote: scores) labels each text by its most "
                "probable label instead.",
                self.opts.samples,
                self.spec.temperature,
            )
        self.keys = self._make_keys()

    def _make_keys(self) -> list[CacheKeys]:
        return [
            CacheKeys(
                teacher=t.identity,
                schema=self.schema,
                temperature=self.spec.temperature,
                max_tokens=self._max_tokens(t),
            )
            for t in self.teachers
        ]

    async def resolve_teachers(self) -> None:
        """Ask each teacher given by URL only which model its server lists, before the first cache key is made:
        that model is part of its identity, so a server restarted with another model behind the same URL is not
        answered from the first model's cached replies. Also keys made for ``schema`` set after construction."""
        await resolve_served_models(self.teachers)
        self.keys = self._make_keys()

    def _note_server(self, idx: int) -> None:
        teacher, ledger = self.teachers[idx], self.ledgers[self.names[idx]]
        ledger.server = teacher.server
        ledger.enforced = teacher.enforced
        ledger.request_form = getattr(teacher, "request_form", None)

    def _check_rejection(self, idx: int, exc: RejectedRequestError, messages: list[dict[str, str]]) -> None:
        """Stop the run when a teacher's first requests, for EARLY_STOP_REJECTIONS different texts, were all refused
        the same way (wrong request shape).

        A refusal of one text says nothing about the shape: one text refused first (too long for the context window,
        or caught by a content filter), asked once per sample, stopped the whole run with advice to change
        ``server:``. A text too long for the context window is a failed vote with its fix, never counted."""
        if isinstance(exc, ContextLengthError):
            return
        seen = self.rejections[idx]
        seen.append(exc)
        texts = self.rejected_texts[idx]
        texts.add(json.dumps(messages, sort_keys=True))
        if self.successes[idx] or len(texts) < EARLY_STOP_REJECTIONS or len({e.status for e in seen}) != 1:
            return
        teacher, where = self.teachers[idx], self._where(idx)
        kind = f" (a {teacher.server} server)" if teacher.server else ""
        form = getattr(teacher, "request_form", None)
        raise RequestShapeError(
            f"teacher {self.names[idx]!r}{where}{kind} refused its first {len(seen)} requests with HTTP {exc.status}: "
            f"{exc.detail or 'no message'!r}. sxhub sent {form or 'its default request'}; if the server is not "
            f"what sxhub detected, set `server:` for this teacher in the task spec (or --server) to its kind, or "
            f"`structured: none` to send no constraint. The cache keeps every answer so far."
        )

    def _cut_off(self, idx: int, reply: Reply) -> str:
        """The fix for an invalid answer that used every token it was allowed: the server stopped it at
        ``max_tokens`` (``finish_reason: "length"``), mid-JSON, and the error said only "reply holds no JSON object".
        Told from the reply's token count, which the label cache keeps, so a replayed answer says it too."""
        limit = self._max_tokens(self.teachers[idx])
        if reply.output_tokens is None or reply.output_tokens < limit:
            return ""
        shorter = ", or reasoning: false for shorter answers" if self.spec.reasoning else ""
        return (
            f" (the reply was cut off at max_tokens={limit}: raise max_tokens for teacher {self.names[idx]!r} in the "
            f"task spec{shorter})"
        )

    def _max_tokens(self, teacher: Teacher) -> int:
        return teacher.spec.max_tokens if teacher.spec else 256

    def _timeout(self, teacher: Teacher) -> float:
        return (teacher.spec.timeout if teacher.spec else 60.0) + 5.0  # the client's own timeout comes first

    def _wait(self, state: RetryCallState) -> float:
        base = wait_exponential_jitter(initial=self.opts.backoff, max=self.opts.max_wait, jitter=self.opts.backoff)
        seconds = base(state)
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            seconds = max(seconds, min(float(retry_after), self.opts.max_wait))
        return float(seconds)

    async def _send(self, idx: int, messages: list[dict[str, str]], seed: int) -> Reply:
        teacher, ledger = self.teachers[idx], self.ledgers[self.names[idx]]

        def count_retry(_: RetryCallState) -> None:
            ledger.retries += 1

        retrying = AsyncRetrying(
            retry=retry_if_exception_type(RetryableTeacherError),
            stop=stop_after_attempt(self.opts.max_retries + 1),
            wait=self._wait,
            before_sleep=count_retry,
            reraise=True,
        )
        started = time.monotonic()
        try:
            async for attempt in retrying:
                with attempt:
                    ledger.requests += 1
                    call = teacher.acomplete(
                        messages,
                        schema=self.schema,
                        temperature=self.spec.temperature,
                        seed=seed,
                        max_tokens=self._max_tokens(teacher),
                    )
                    try:
                        return await asyncio.wait_for(call, self._timeout(teacher))
                    except asyncio.TimeoutError as exc:
                        raise timed_out(teacher.name, teacher.spec.timeout if teacher.spec else None) from exc
        except ServerGoneError as exc:
            raise self._gone(idx, exc, time.monotonic() - started) from exc
        except TimedOutError as exc:
            self._check_hung(idx, exc, messages)
            raise
        raise AssertionError("unreachable: tenacity reraises the last error")

    def _where(self, idx: int) -> str:
        """`` at <base_url>`` of teacher ``idx`` for its error lines (empty for a Hub model id)."""
        spec = self.teachers[idx].spec
        return f" at {spec.base_url}" if spec and spec.base_url else ""

    def _check_hung(self, idx: int, exc: TimedOutError, messages: list[dict[str, str]]) -> None:
        """Stop the run when every try timed out for EARLY_STOP_HUNG different texts with no reply in between: a
        server that takes connections and answers nothing (hung, or far too slow for the timeout) cost the timeout
        times the tries for each remaining text, hours on a large input, and every one ended failed."""
        hung = self.hung_texts[idx]
        hung.add(json.dumps(messages, sort_keys=True))
        if len(hung) < EARLY_STOP_HUNG:
            return
        where = self._where(idx)
        raise TeacherUnavailableError(
            f"teacher {self.names[idx]!r}{where} answered nothing: every try for {len(hung)} texts in a row timed out "
            f"({self.opts.max_retries + 1} tries each; {exc}). If the server is only slow, raise its timeout in the "
            "task spec (or lower --concurrency); else restart it. Every answer so far is kept in the label cache: "
            "run the same command to resume."
        ) from exc

    def _gone(self, idx: int, exc: ServerGoneError, seconds: float) -> TeacherUnavailableError:
        """The run's end when a teacher that had answered refuses connections on every retry: it was retried for
        each remaining text (some 15 s of backoff each, hours on a large input) and every one ended failed."""
        where = self._where(idx)
        return TeacherUnavailableError(
            f"teacher {self.names[idx]!r}{where} stopped answering: it refused connections for {seconds:.0f} s "
            f"({self.opts.max_retries + 1} tries; {exc}). Every answer so far is kept in the label cache; start "
            "the server again and run the same command to resume."
        )

    async def request(self, idx: int, messages: list[dict[str, str]], seed: int) -> Reply:
        """One reply, from the cache or the teacher (then committed to the cache).

        A request already on its way (the same text twice in a list given to :func:`annotate`, asked side by side)
        is not sent again: its reply is awaited and counted as a cached answer. Each copy was paid for, and the bill
        depended on the concurrency (8 copies in flight, 8 requests; one at a time, 1).
        """
        ledger = self.ledgers[self.names[idx]]
        key = self.keys[idx](messages, seed)
        hit = self.cache.get(key) if self.cache is not None else None
        if hit is None and key in self._in_flight:
            hit = await asyncio.shield(self._in_flight[key])  # its error, if it fails, is this vote's too
        if hit is not None:
            ledger.cached += 1
            if hit.input_tokens is None or hit.output_tokens is None:
                ledger.cached_without_usage += 1
            else:
                ledger.cached_input_tokens += hit.input_tokens
                ledger.cached_output_tokens += hit.output_tokens
            return hit
        asking = asyncio.ensure_future(self._ask(idx, key, messages, seed))
        self._in_flight[key] = asking
        try:
            return await asking
        finally:
            del self._in_flight[key]

    async def _ask(self, idx: int, key: str, messages: list[dict[str, str]], seed: int) -> Reply:
        """One request to teacher ``idx``, counted in its ledger; the reply committed to the cache."""
        ledger = self.ledgers[self.names[idx]]
        try:
            reply = await self._send(idx, messages, seed)
        except RejectedRequestError as exc:
            ledger.rejected += 1
            self._note_server(idx)
            self._check_rejection(idx, exc, messages)
            raise
        self.successes[idx] += 1
        self.hung_texts[idx].clear()  # it answers: timeouts since were not a hung server
        self._note_server(idx)
        if reply.input_tokens is None or reply.output_tokens is None:
            ledger.replies_without_usage += 1  # its tokens, hence the run's, are unknown: never counted as 0
        else:
            ledger.input_tokens += reply.input_tokens
            ledger.output_tokens += reply.output_tokens
        if self.cache is not None:
            self.cache.put(key, reply, teacher=self.names[idx])
        return reply

    async def vote(self, text: str, idx: int, sample: int) -> dict[str, Any]:
        """One vote of teacher ``idx`` on ``text``: labels and reason, or the error and raw reply."""
        name, ledger = self.names[idx], self.ledgers[self.names[idx]]
        messages = self.messages_for(text)
        vote: dict[str, Any] = {
            "teacher": name,
            "sample": sample,
            "labels": None,
            "reason": "",
            "error": "",
            "raw": "",
        }
        if self.scored:
            vote["scores"] = None
        for k in range(self.opts.max_invalid + 1):
            seed = self.opts.seed + self.seed_offsets[idx] + sample + SEED_STRIDE * k
            try:
                reply = await self.request(idx, messages, seed)
            except RetryableTeacherError as exc:
                vote["error"] = f"{exc} (gave up after {self.opts.max_retries + 1} tries)"
                break
            except TeacherError as exc:  # permanent for this request (e.g. HTTP 400): a failed vote
                vote["error"] = str(exc)
                break
            try:
                labels, reason = self.parse(reply.text)
            except InvalidAnswer as exc:
                ledger.invalid_answers += 1
                vote["error"] = f"{INVALID_ANSWER}: {exc}{self._cut_off(idx, reply)}"
                vote["raw"] = reply.text[:RAW_LIMIT]
                continue
            vote.update(labels=labels, reason=reason, error="", raw="")
            if self.scored and reply.scores is not None:
                vote["scores"] = vote_scores(reply.scores, self.spec.label_names)
            return vote
        ledger.failed_votes += 1
        return vote


async def _run_jobs(engine: _Engine, texts: list[str], *, progress: bool) -> list[list[dict[str, Any]]]:
    """All votes, text by text, with at most ``concurrency`` requests in flight."""
    from .progress import progress_bar

    await engine.resolve_teachers()
    n_teachers, samples = len(engine.teachers), engine.opts.samples
    per_text = n_teachers * samples
    votes: list[list[dict[str, Any] | None]] = [[None] * per_text for _ in texts]
    remaining = [per_text] * len(texts)
    jobs = iter([(i, t, s) for i in range(len(texts)) for t in range(n_teachers) for s in range(samples)])
    bar = progress_bar(total=len(texts), unit="text", desc="annotate", enabled=progress)

    async def worker() -> None:
        for i, t, s in jobs:  # one shared iterator: each job is taken once
            votes[i][t * samples + s] = await engine.vote(texts[i], t, s)
            remaining[i] -= 1
            if remaining[i] == 0:
                bar.update(1)

    tasks = [
        asyncio.ensure_future(worker()) for _ in range(max(1, min(engine.opts.concurrency, len(texts) * per_text)))
    ]
    try:
        await asyncio.gather(*tasks)  # the first error (e.g. a teacher answering 401) stops the run
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        bar.close()
    return [[v for v in row if v is not None] for row in votes]


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


async def resolve_served_models(teachers: Sequence[Teacher]) -> None:
    """Ask each teacher given by URL only (no model) which model its server lists: that model is part of its
    ``identity`` from then on (the cache key, and what a resumed run in parts compares)."""
    for teacher in teachers:
        resolve = getattr(teacher, "resolve_model", None)
        spec = teacher.spec
        if resolve is not None and spec is not None and not spec.model and spec.base_url:
            await resolve()


def _seed_offsets(teachers: Sequence[Teacher]) -> list[int]:
    """0 for a teacher's first listing, then TEACHER_SEED_STRIDE per repeat: a teacher listed twice votes twice."""
    seen: list[str] = []
    offsets = []
    for t in teachers:
        key = json.dumps(t.identity, sort_keys=True, default=str)
        offsets.append(TEACHER_SEED_STRIDE * seen.count(key))
        seen.append(key)
    return offsets


def _open_cache(cache: LabelCache | str | os.PathLike[str] | bool | None) -> tuple[LabelCache | None, bool]:
    """(cache, whether we opened it and must close it)."""
    if cache is False:
        return None, False
    if isinstance(cache, LabelCache):
        return cache, False
    return LabelCache(None if cache in (None, True) else cache), True  # type: ignore[arg-type]


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
    spec: TaskSpec,
    inputs: Sequence[str] | PreparedTexts | pd.DataFrame,
    *,
    teachers: Sequence[Teacher | TeacherSpec | str] | None = None,
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
) -> AnnotateResult:
    """Label ``inputs`` with the teachers (default: the spec's, else ``$SXHUB_TEACHER``, else ``local``).

    ``inputs`` is a list of texts (used as given), a DataFrame (prepared with the spec's preprocessing) or a
    :class:`~sxhub.data.PreparedTexts`. ``teachers`` are :class:`Teacher` objects (used and left open) or specs
    (opened and closed here). ``cache`` is a LabelCache, a folder, None (``$SXHUB_CACHE``) or False (no cache).
    ``max_retries`` bounds retries of transient failures per request, ``max_invalid`` the re-asks after an invalid
    answer. ``dry_run`` only estimates tokens and cost.
    """
    if concurrency < 1:
        raise UserError(f"concurrency={concurrency} must be at least 1.")
    n_samples = resolve_samples(spec, samples)
    prepared = _as_prepared(spec, inputs)
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
        return AnnotateResult(
            frame=frame,
            decisions=[],
            ledger={**base, "dry_run": True, **dry_run_estimate(spec, prepared, entries, n_samples)},
        )
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
    engine = _Engine(spec, list(teachers), unique_names([t.name for t in teachers]), store, opts)
    votes = await _run_jobs(engine, prepared.texts, progress=progress)
    return votes, engine


def annotate(
    spec: TaskSpec,
    inputs: Sequence[str] | PreparedTexts | pd.DataFrame,
    **kwargs: Any,
) -> AnnotateResult:
    """Synchronous :func:`aannotate` (same arguments); use ``await aannotate(...)`` inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(aannotate(spec, inputs, **kwargs))
    raise UserError("annotate() was called inside a running event loop; use `await aannotate(...)` there.")


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
) -> tuple[list[Reply | TeacherError], dict[str, Any]]:
    """Free-form chat requests ``(teacher index, messages, seed)`` through the same engine as :func:`aannotate`.

    The same bounded concurrency, retries with backoff honouring Retry-After, cache and ledger; the reply's schema
    and temperature are given here instead of taken from the spec (Synthetic Twins and generated texts use it).
    Returns the replies in request order (a :class:`TeacherError` where one failed for good) and the ledger.
    """
    from .progress import progress_bar

    if concurrency < 1:
        raise UserError(f"concurrency={concurrency} must be at least 1.")
    run_spec = spec if temperature is None else replace(spec, temperature=temperature)
    names = unique_names([t.name for t in teachers])
    engine = _Engine(
        run_spec, list(teachers), names, cache, _Options(1, concurrency, max_retries, 0, backoff, max_wait, 0)
    )
    engine.schema = schema
    await engine.resolve_teachers()  # the keys carry this schema (and a URL-only teacher's served model)
    results: list[Reply | TeacherError | None] = [None] * len(requests)
    jobs = iter(list(enumerate(requests)))
    bar = progress_bar(total=len(requests), unit="request", desc=desc, enabled=progress)

    async def worker() -> None:
        for i, (idx, messages, seed) in jobs:  # one shared iterator: each request is taken once
            try:
                results[i] = await engine.request(idx, messages, seed)
            except TeacherError as exc:  # gave up after retries, or a permanent error for this request
                results[i] = exc
            bar.update(1)

    tasks = [asyncio.ensure_future(worker()) for _ in range(max(1, min(concurrency, len(requests))))]
    try:
        await asyncio.gather(*tasks)  # TeacherUnavailableError (401, 404) stops the run
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        bar.close()
    done = [r for r in results if r is not None]
    assert len(done) == len(requests)
    return done, total_ledger(engine.ledgers, teacher_prices(engine.teachers, names))
