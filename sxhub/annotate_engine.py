"""Asking the teachers: the engine behind :func:`sxhub.annotate.aannotate` (and the writers of generate and twins).

Each request goes to its teacher with its own seed, at most ``concurrency`` in flight; transient failures (429,
5xx, timeouts, lost connections) are retried with exponential backoff and jitter, honouring ``Retry-After``; an
answer that is not a valid label is asked again with a fresh seed up to ``max_invalid`` times, then recorded as a
failed vote with its raw text. Every reply is committed to the label cache as it arrives. A teacher whose first
requests are all refused the same way, whose server went away, or that answers nothing stops the run in one line.
A teacher that answers only errors (429, 5xx) for several texts in a row, or whose first texts got only invalid
answers, stops the run too.
A first Ctrl-C or SIGTERM stops sending and lets the requests in flight finish, so that their answers are kept
(:meth:`~sxhub.annotate_stops._Stops.run_workers`); a second one abandons them. These stops are
:mod:`sxhub.annotate_stops`' (:class:`_Engine` inherits them); this module sends, retries, caches and votes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

from .annotate_stops import _Stopped, _Stops, named_wait_cap
from .cache import POLL_S, CacheKeys, Claim, Failed, LabelCache
from .endpoint_run import before_asking
from .errors import TeacherError
from .ledger import TeacherLedger
from .prompt import InvalidAnswer, message_builder, reply_parser
from .spec import TaskSpec
from .teachers import (
    AnswerCappedError,
    AnswerCutError,
    ContextLengthError,
    RejectedRequestError,
    Reply,
    RetryableTeacherError,
    ServerGoneError,
    Teacher,
)
from .teachers.base import ANSWER_CUT, TOO_LONG, TimedOutError, identity_before_server_kinds, timed_out
from .vote import vote_scores

logger = logging.getLogger(__name__)
_WARNED: set[str] = set()


def _warn_once(key: str, message: str, *args: Any) -> None:
    """A warning given once per process (generate labels every round through a new engine)."""
    if key not in _WARNED:
        _WARNED.add(key)
        logger.warning(message, *args)


SEED_STRIDE = 1000
TEACHER_SEED_STRIDE = 1_000_000  # the same teacher listed twice samples with other seeds


def seed_shift(seed: int) -> int:
    """How far ``--seed`` moves a run's request seeds: 0 for ``--seed 0`` (earlier runs' caches answer it), else a
    multiplicative hash of it under 2**31. A shift of ``--seed`` itself made ``--seed 1`` send the requests of
    ``--seed 0`` (sample s + 1 of a vote, request k + 1 of generate) and read their answers from the cache."""
    return 0 if seed == 0 else (seed * 2_654_435_761) % 2**31


RAW_LIMIT = 2000
INVALID_ANSWER = "invalid answer"  # a failed vote's error when every answer was invalid (the cache replays them)


def unanswered(vote: Mapping[str, Any]) -> bool:
    """Whether a vote failed for want of an answer (the server down, retries exhausted, the request refused), not on
    invalid answers: asking again may give it one, while the cache would replay the same invalid answers. A text
    too long for the teacher's context window is counted apart (:func:`refused_too_long`: a rerun asks it again
    only in case the server now has a longer context, and says so). Nor is an answer that ran past the context
    window: its prompt fitted, and the same answer would fill it again."""
    error = str(vote.get("error") or "")
    if vote.get("labels") is not None or error.startswith(INVALID_ANSWER):
        return False
    return TOO_LONG not in error and ANSWER_CUT not in error


def refused_too_long(vote: Mapping[str, Any]) -> bool:
    """Whether a vote failed because its teacher refused the text as longer than its context window. A rerun asks
    it again: the user may have restarted the server with a longer context (the refusal is never cached)."""
    return vote.get("labels") is None and TOO_LONG in str(vote.get("error") or "")


def new_vote(teacher: str, sample: int, scored: bool) -> dict[str, Any]:
    """A vote before its answer (every vote has these keys, and ``scores`` in a run with a teacher scoring labels,
    so that every chunk of a run writes the same votes type)."""
    vote: dict[str, Any] = {"teacher": teacher, "sample": sample, "labels": None, "reason": "", "error": "", "raw": ""}
    if scored:
        vote["scores"] = None
    return vote


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
class _Engine(_Stops):
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
        self.failing_texts: list[set[str]] = [set() for _ in self.teachers]  # every try 429/5xx, since the last reply
        self.answered: list[tuple[list[dict[str, str]], int] | None] = [None for _ in self.teachers]  # a request
        # each teacher answered (this run or from the cache): asked again before a stop for failing or hung texts
        self.probing = [asyncio.Lock() for _ in self.teachers]
        self.cut_texts: list[set[str]] = [set() for _ in self.teachers]  # every reply cut off, since the last vote
        self.valid_votes = [0] * len(self.teachers)
        # text -> the error of a request refused as too long for teacher idx's context window: its other samples
        # fail with it unasked (another seed is the same prompt, refused the same way; they were sent one each)
        self.too_long: list[dict[str, str]] = [{} for _ in self.teachers]
        # text -> its first sample's vote for teacher idx, while that is asked: once teacher idx has refused a text
        # as too long, the other samples of each text wait for the first, so that a refusal is shared (asked at
        # once, each was refused: "3 requests were refused"). Not before: waiting cost a run with --samples 3 and
        # no long text a quarter of its requests/s (160 texts, 0.1 s server, concurrency 8: 72 -> 54)
        self.first_asked: list[dict[str, asyncio.Future[None]]] = [{} for _ in self.teachers]
        self.invalid_texts: list[set[str]] = [set() for _ in self.teachers]  # every answer invalid, before any vote
        self._in_flight: dict[str, asyncio.Future[Reply]] = {}  # cache key -> the request on its way
        self._waited_on: set[Claim] = set()  # other runs whose claims this one waited on (each named once)
        self.sending = 0  # requests whose answer is awaited from a teacher now
        self.stopping = asyncio.Event()  # set by a first interrupt: nothing more is sent
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
        if self.opts.samples > 1 and self.spec.temperature == 0:
            _warn_once(
                "samples-at-temperature-0",
                "samples: %d at temperature 0: each teacher decodes greedily, so its %d samples of a text are one "
                "answer paid %d times, and their agreement says nothing; set samples: 1 (or --samples 1), or a "
                "temperature above 0 (e.g. 0.7) for self-consistency.",
                self.opts.samples,
                self.opts.samples,
                self.opts.samples,
            )
        self.keys, self.legacy_keys = self._make_keys()

    def _make_keys(self) -> tuple[list[CacheKeys], list[list[CacheKeys]]]:
        """Each teacher's cache keys (by what its server receives: :attr:`Teacher.cache_identity`) and, where they
        differ, the keys sxhub made before (by :attr:`Teacher.identity`, the name and the URL as written; and before
        that by name, model and URL alone: :func:`identity_before_server_kinds`): replies stored under those are
        still found, and copied to the new key, instead of being paid for again."""

        def keys(identity: dict[str, Any], teacher: Teacher) -> CacheKeys:
            return CacheKeys(
                teacher=identity,
                schema=self.schema,
                temperature=self.spec.temperature,
                max_tokens=self._max_tokens(teacher),
            )

        current: list[CacheKeys] = []
        legacy: list[list[CacheKeys]] = []
        for t in self.teachers:
            ident, old = t.cache_identity, t.identity
            current.append(keys(ident, t))
            olds = [old, identity_before_server_kinds(old)]
            legacy.append([keys(o, t) for o in olds if o is not None and o != ident])
        return current, legacy

    async def resolve_teachers(self) -> None:
        """Ask each teacher given by URL only which model its server lists, before the first cache key is made:
        that model is part of its identity, so a server restarted with another model behind the same URL is not
        answered from the first model's cached replies. Also keys made for ``schema`` set after construction."""
        await resolve_served_models(self.teachers)
        self.keys, self.legacy_keys = self._make_keys()

    def _note_server(self, idx: int) -> None:
        teacher, ledger = self.teachers[idx], self.ledgers[self.names[idx]]
        ledger.server = teacher.server
        ledger.enforced = teacher.enforced
        ledger.request_form = getattr(teacher, "request_form", None)

    def _wait(self, state: RetryCallState) -> float:
        base = wait_exponential_jitter(initial=self.opts.backoff, max=self.opts.max_wait, jitter=self.opts.backoff)
        seconds = base(state)
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:  # a 429's wait in full up to the cap (a longer one stops the run); others' capped
            cap = named_wait_cap(self.opts.max_wait) if getattr(exc, "status", None) == 429 else self.opts.max_wait
            seconds = max(seconds, min(float(retry_after), cap))
        return float(seconds)

    async def _send(self, idx: int, messages: list[dict[str, str]], seed: int) -> Reply:
        teacher, ledger = self.teachers[idx], self.ledgers[self.names[idx]]

        def count_retry(_: RetryCallState) -> None:
            ledger.retries += 1

        retrying = AsyncRetrying(
            retry=retry_if_exception(
                lambda exc: isinstance(exc, RetryableTeacherError) and self._quota_spent(idx, exc) is None
            ),
            stop=stop_after_attempt(self.opts.max_retries + 1),
            wait=self._wait,
            before_sleep=count_retry,
            sleep=self._backoff,
            reraise=True,
        )
        started = time.monotonic()
        try:
            async for attempt in retrying:
                with attempt:
                    if self.stopping.is_set():
                        raise _Stopped
                    try:
                        return await self._send_once(idx, messages, seed)
                    except TimeoutError as exc:
                        raise timed_out(teacher.name, teacher.spec.timeout if teacher.spec else None) from exc
        except ServerGoneError as exc:
            raise self._gone(idx, exc, time.monotonic() - started) from exc
        except TimedOutError as exc:
            await self._check_hung(idx, exc, messages)
            raise
        except RetryableTeacherError as exc:
            spent = self._quota_spent(idx, exc)
            if spent is not None:
                raise spent from exc
            await self._check_failing(idx, exc, messages)
            raise
        raise AssertionError("unreachable: tenacity reraises the last error")

    async def request(self, idx: int, messages: list[dict[str, str]], seed: int) -> Reply:
        """One reply, from the cache or the teacher (then committed to the cache).

        A request already on its way (the same text twice in a list given to :func:`annotate`, asked side by side)
        is not sent again: its reply is awaited and counted as a cached answer. Each copy was paid for, and the bill
        depended on the concurrency (8 copies in flight, 8 requests; one at a time, 1).
        """
        return (await self._reply(idx, messages, seed))[0]

    async def _reply(self, idx: int, messages: list[dict[str, str]], seed: int) -> tuple[Reply, bool]:
        """:meth:`request`, and whether the reply came from the cache (or a copy of the request in flight)."""
        ledger = self.ledgers[self.names[idx]]
        key = self.keys[idx](messages, seed)
        hit = self._cached(idx, key, messages, seed)
        if hit is None and key in self._in_flight:
            hit = await asyncio.shield(self._in_flight[key])  # its error, if it fails, is this vote's too
        if hit is None and self.cache is not None:
            hit = await self._claim(idx, key)
        if hit is not None:
            self.answered[idx] = (messages, seed)
            ledger.cached += 1
            if hit.input_tokens is None or hit.output_tokens is None:
                ledger.cached_without_usage += 1
            else:
                ledger.cached_input_tokens += hit.input_tokens
                ledger.cached_output_tokens += hit.output_tokens
            return hit, True
        asking = asyncio.ensure_future(self._ask(idx, key, messages, seed))
        self._in_flight[key] = asking
        try:
            return await asking, False
        finally:
            del self._in_flight[key]

    async def _claim(self, idx: int, key: str) -> Reply | None:
        """None once this run holds the cache's claim on ``key`` (it asks the teacher), or the reply that another
        run holding it got meanwhile: that answer is waited for (a cached answer here, paid once) instead of asked
        again. Its run dying or hanging hands the claim over (:meth:`LabelCache.claim`); its request failing for good
        fails this vote with its error (raised here), as for a copy of a request in flight in this run: each waiting
        run asked again, so a failing teacher was paid its retries once per run."""
        assert self.cache is not None
        waiting = False
        while True:
            got = self.cache.claim(key, waiting=waiting)
            if isinstance(got, Failed):
                raise TeacherError(f"{got.error} (asked by another sxhub run, pid {got.pid} on {got.host})")
            if not isinstance(got, Claim):
                return got
            waiting = True
            if got not in self._waited_on:
                self._waited_on.add(got)
                logger.warning(
                    "another sxhub run (%s) is asking teacher %r for some of these texts now, with the same label "
                    "cache (%s): this run waits for its answers (counted as from the cache) instead of paying for "
                    "them twice.",
                    got,
                    self.names[idx],
                    self.cache.path,
                )
            await self._backoff(POLL_S)  # an interrupt stops the wait: no vote, as for a request not sent

    def _cached(self, idx: int, key: str, messages: list[dict[str, str]], seed: int) -> Reply | None:
        """The cached reply under ``key``, else under the key an earlier sxhub made for the same request (then
        copied to ``key``, so that the next run finds it at once)."""
        if self.cache is None:
            return None
        hit = self.cache.get(key)
        for legacy in self.legacy_keys[idx] if hit is None else ():
            if (hit := self.cache.get(legacy(messages, seed))) is not None:
                self.cache.put(key, hit, teacher=self.names[idx])
                break
        return hit

    async def _ask(self, idx: int, key: str, messages: list[dict[str, str]], seed: int) -> Reply:
        """One request to teacher ``idx``, counted in its ledger; the reply committed to the cache."""
        ledger = self.ledgers[self.names[idx]]
        try:
            # a run's sleeping Inference Endpoints, woken only for a request the cache cannot answer
            await before_asking()
            reply = await self._send(idx, messages, seed)
        except AnswerCutError as exc:  # answered, and paid for, but stopped by a full context: a failed vote
            if self.cache is not None:
                self.cache.release(key)  # not cached: once the server's context is raised, the rerun asks again
            if isinstance(exc, AnswerCappedError):  # the server's own cap on answers, not its context
                ledger.capped_answers += 1
            else:
                ledger.context_cuts += 1
            self._count_tokens(idx, exc.input_tokens, exc.output_tokens)
            self._note_server(idx)
            raise
        except RejectedRequestError as exc:
            if self.cache is not None:  # not cached either: a rerun asks again, the server's context may be longer
                self.cache.release(key, str(exc))
            ledger.rejected += 1
            if isinstance(exc, ContextLengthError):
                ledger.too_long += 1
            self._note_server(idx)
            self._check_rejection(idx, exc, messages)
            raise
        except TeacherError as exc:  # failed for good: the runs waiting on the claim get this vote's error
            if self.cache is not None:
                tries = f" (gave up after {self.opts.max_retries + 1} tries)"
                self.cache.release(key, f"{exc}{tries if isinstance(exc, RetryableTeacherError) else ''}")
            raise
        except BaseException:  # no answer (interrupted, abandoned, the run stops): a run waiting on it asks itself
            if self.cache is not None:
                self.cache.release(key)
            raise
        self.successes[idx] += 1
        self.answered[idx] = (messages, seed)
        self.hung_texts[idx].clear()  # it answers: timeouts since were not a hung server
        self.failing_texts[idx].clear()  # nor were errors since a server that answers only errors
        self._note_server(idx)
        self._count_tokens(idx, reply.input_tokens, reply.output_tokens)
        if self.cache is not None:
            self.cache.put(key, reply, teacher=self.names[idx])
        return reply

    def vote_seed(self, idx: int, sample: int, k: int) -> int:
        """The seed of sample ``sample`` of teacher ``idx`` on its ``k``-th invalid-answer retry, under 2**31."""
        return (seed_shift(self.opts.seed) + self.seed_offsets[idx] + sample + SEED_STRIDE * k) % 2**31

    async def vote(self, text: str, idx: int, sample: int) -> dict[str, Any]:
        """One vote of teacher ``idx`` on ``text``: labels and reason, or the error and raw reply."""
        name = self.names[idx]
        messages = self.messages_for(text)
        vote = new_vote(name, sample, self.scored)
        first = self.first_asked[idx].get(text)
        if first is not None:
            await asyncio.shield(first)
        elif sample == 0 and self.opts.samples > 1 and self.too_long[idx] and text not in self.too_long[idx]:
            # only the first sample registers: a later one taken after it was answered would make the next wait
            # for it in turn, and the samples of every later text went one after the other
            self.first_asked[idx][text] = asyncio.get_running_loop().create_future()
            try:
                return await self._vote(text, idx, vote, messages)
            finally:
                self.first_asked[idx].pop(text).set_result(None)
        return await self._vote(text, idx, vote, messages)

    async def _vote(self, text: str, idx: int, vote: dict[str, Any], messages: list[dict[str, str]]) -> dict[str, Any]:
        ledger = self.ledgers[self.names[idx]]
        sample = vote["sample"]
        if text in self.too_long[idx]:  # refused as too long for this teacher already (an earlier sample)
            vote["error"] = self.too_long[idx][text]
            ledger.failed_votes += 1
            return vote
        cut_off = True  # every reply so far stopped at max_tokens
        replayed = True  # every reply so far came from the cache
        for k in range(self.opts.max_invalid + 1):
            seed = self.vote_seed(idx, sample, k)
            try:
                reply, cached = await self._reply(idx, messages, seed)
            except RetryableTeacherError as exc:
                vote["error"] = f"{exc} (gave up after {self.opts.max_retries + 1} tries)"
                cut_off = False
                break
            except TeacherError as exc:  # permanent for this request (e.g. HTTP 400): a failed vote
                vote["error"] = str(exc)
                cut_off = False
                if isinstance(exc, ContextLengthError) and not isinstance(exc, AnswerCutError):
                    self.too_long[idx][text] = vote["error"]
                break
            try:
                labels, reason = self.parse(reply.text)
            except InvalidAnswer as exc:
                ledger.invalid_answers += 1
                replayed = replayed and cached
                why = self._cut_off(idx, reply)
                cut_off = cut_off and bool(why)
                vote["error"] = f"{INVALID_ANSWER}: {exc}{why}"
                vote["raw"] = reply.text[:RAW_LIMIT]
                continue
            vote.update(labels=labels, reason=reason, error="", raw="")
            if self.scored and reply.scores is not None:
                vote["scores"] = vote_scores(reply.scores, self.spec.label_names)
            self.cut_texts[idx].clear()  # it answers within max_tokens
            self.valid_votes[idx] += 1
            return vote
        ledger.failed_votes += 1
        if cut_off:
            self._check_cut_off(idx, messages, vote["error"])
        elif vote["error"].startswith(INVALID_ANSWER) and not replayed:
            self._check_invalid(idx, messages, vote)
        return vote


def tries_left(
    engine: _Engine, texts: Sequence[str], asked: Counter[Claim] | None = None
) -> list[list[tuple[int, int]]]:
    """For each teacher of ``engine``, the votes that its label cache does not answer with a valid label, as
    ``(text index, tries left)``: the requests a run would still send (one each, at most ``tries left`` after
    invalid answers). A dry run's estimate; it reads the cache as :meth:`_Engine.vote` does and writes nothing.
    ``asked`` counts, by run, those of them that another run sharing the cache is asking for now (a run started
    now waits for those answers)."""
    left: list[list[tuple[int, int]]] = [[] for _ in engine.teachers]
    tries = engine.opts.max_invalid + 1
    for i, text in enumerate(texts):
        messages = engine.messages_for(text)
        for idx in range(len(engine.teachers)):
            legacy = engine.legacy_keys[idx]
            for sample in range(engine.opts.samples):
                for k in range(tries):
                    seed = engine.vote_seed(idx, sample, k)
                    hit = engine.cache.get(engine.keys[idx](messages, seed)) if engine.cache is not None else None
                    for old in legacy if hit is None else ():
                        if engine.cache is not None and (hit := engine.cache.get(old(messages, seed))) is not None:
                            break
                    if hit is None:
                        left[idx].append((i, tries - k))
                        if asked is not None and engine.cache is not None:
                            claim = engine.cache.asked_by(engine.keys[idx](messages, seed))
                            if claim is not None:
                                asked[claim] += 1
                        break
                    try:
                        engine.parse(hit.text)
                        break  # a valid label from the cache: no request
                    except InvalidAnswer:
                        continue  # the run asks again with the next seed
    return left


async def _run_jobs(engine: _Engine, texts: list[str], *, progress: bool) -> list[list[dict[str, Any]]]:
    """All votes, text by text, with at most ``concurrency`` requests in flight."""
    from .progress import progress_bar

    await engine.resolve_teachers()
    n_teachers, samples = len(engine.teachers), engine.opts.samples
    per_text = n_teachers * samples
    votes: list[list[dict[str, Any] | None]] = [[None] * per_text for _ in texts]
    remaining = [per_text] * len(texts)
    # a window of texts' first samples before their other samples: once a teacher has refused a text as too long,
    # those wait for the first (a text refused is asked once), so the workers taking them find it mostly answered
    # instead of idling on it; before any refusal, the first's answer is mostly in when they are taken
    window = max(1, engine.opts.concurrency)
    jobs = engine.until_stopped(
        [
            (i, t, s)
            for start in range(0, len(texts), window)
            for first in (True, False)
            for i in range(start, min(start + window, len(texts)))
            for t in range(n_teachers)
            for s in range(samples)
            if (s == 0) == first
        ]
    )
    bar = progress_bar(total=len(texts), unit="text", desc="annotate", enabled=progress)

    async def worker() -> None:
        for i, t, s in jobs:  # one shared iterator: each job is taken once
            votes[i][t * samples + s] = await engine.vote(texts[i], t, s)
            remaining[i] -= 1
            if remaining[i] == 0:
                bar.update(1)

    n_workers = max(1, min(engine.opts.concurrency, len(texts) * per_text))
    try:
        await engine.run_workers([worker() for _ in range(n_workers)])
    finally:
        bar.close()
    return [[v for v in row if v is not None] for row in votes]


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
        key = json.dumps(t.cache_identity, sort_keys=True, default=str)
        offsets.append(TEACHER_SEED_STRIDE * seen.count(key))
        seen.append(key)
    return offsets
