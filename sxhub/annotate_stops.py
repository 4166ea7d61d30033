"""How a run of requests stops: the stops of :class:`sxhub.annotate_engine._Engine`, a base it inherits.

A teacher that cannot answer stops the run early in one line naming the fix, every answer so far kept in the label
cache: its first requests all refused the same way (:class:`RequestShapeError`), its server gone, every try timing
out or failing (429, 5xx) for several texts in a row, every reply cut off at ``max_tokens``, or only invalid answers
for its first texts. A first Ctrl-C or SIGTERM stops sending and lets the requests in flight finish, so that their
answers are kept (:meth:`_Stops.run_workers`); a second one abandons them. Also the teacher limits both read (its
``max_tokens`` and request timeout).
"""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Coroutine, Iterable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

from .errors import HubUnreachableError, TeacherError, TeacherUnavailableError
from .interrupts import TwoStepStop
from .ledger import TeacherLedger
from .spec import TaskSpec
from .teachers import (
    ContextLengthError,
    HubBusyError,
    RejectedRequestError,
    Reply,
    RetryableTeacherError,
    ServerGoneError,
    Teacher,
)
from .teachers.base import TimedOutError

# The longest wait a 429 names (``Retry-After``, the Hub's ``RateLimit`` reset) that a run waits out in full
# before its next try; past it (a spent monthly quota, a day's limit) the run stops at once with the time to rerun.
# The Hub's own rate-limit windows are 5 minutes (``RateLimit-Policy: "fixed window";"api";q=...;w=300``).
RATE_LIMIT_PATIENCE = 15 * 60.0


def named_wait_cap(max_wait: float) -> float:
    """The longest wait a 429 may name that a retry waits out in full (:data:`RATE_LIMIT_PATIENCE`, or
    ``max_wait`` where that is longer); sxhub's own backoff between tries stays within ``max_wait``."""
    return max(RATE_LIMIT_PATIENCE, max_wait)


class _Limits(Protocol):
    """What the stops read of the engine's options (``annotate_engine._Options``): how often a request is tried."""

    max_retries: int
    max_invalid: int
    max_wait: float


EARLY_STOP_HUNG = 3  # texts in a row whose every try timed out: the teacher answers nothing, stop
EARLY_STOP_FAILING = 3  # texts in a row whose every try failed (429, 5xx): the teacher answers only errors, stop
EARLY_STOP_REJECTIONS = 3  # a teacher's first answers all refusing the request: stop, the shape is wrong
EARLY_STOP_CUT_OFF = 3  # texts in a row whose every reply was cut off at max_tokens: every text would fail, stop
EARLY_STOP_INVALID = 5  # a teacher's first texts all answered invalidly (by the server), no valid vote yet: stop


class RequestShapeError(TeacherUnavailableError):
    """A teacher's server refused the first requests as sent: the request shape does not fit that server."""


class _Stopped(Exception):
    """Raised instead of sending a request (or a retry) once an interrupt asked the run to stop: no vote, no error."""


_Job = TypeVar("_Job")


class _Stops:
    """The stops of :class:`~sxhub.annotate_engine._Engine`, which sets the state they read."""

    spec: TaskSpec
    teachers: list[Teacher]
    names: list[str]
    opts: _Limits
    successes: list[int]
    rejections: list[list[RejectedRequestError]]
    rejected_texts: list[set[str]]
    hung_texts: list[set[str]]
    failing_texts: list[set[str]]
    answered: list[tuple[list[dict[str, str]], int] | None]
    probing: list[asyncio.Lock]
    schema: dict[str, Any] | None
    ledgers: dict[str, TeacherLedger]
    cut_texts: list[set[str]]
    valid_votes: list[int]
    invalid_texts: list[set[str]]
    sending: int
    stopping: asyncio.Event

    def _count_tokens(self, idx: int, tokens_in: int | None, tokens_out: int | None) -> None:
        """A reply's tokens in teacher ``idx``'s ledger (a cut answer's too: the server spent them)."""
        ledger = self.ledgers[self.names[idx]]
        if tokens_in is None or tokens_out is None:
            ledger.replies_without_usage += 1  # its tokens, hence the run's, are unknown: never counted as 0
        else:
            ledger.input_tokens += tokens_in
            ledger.output_tokens += tokens_out

    def _max_tokens(self, teacher: Teacher) -> int:
        return teacher.spec.max_tokens if teacher.spec else 256

    def _timeout(self, teacher: Teacher) -> float:
        return (teacher.spec.timeout if teacher.spec else 60.0) + 5.0  # the client's own timeout comes first

    def _where(self, idx: int) -> str:
        """`` at <base_url>`` of teacher ``idx`` for its error lines (empty for a Hub model id)."""
        spec = self.teachers[idx].spec
        return f" at {spec.base_url}" if spec and spec.base_url else ""

    async def _backoff(self, seconds: float) -> None:
        """The wait before a retry, cut short by an interrupt (then no retry is sent)."""
        try:
            await asyncio.wait_for(self.stopping.wait(), seconds)
        except TimeoutError:
            return
        raise _Stopped

    def until_stopped(self, jobs: Iterable[_Job]) -> Iterator[_Job]:
        """``jobs``, up to an interrupt (the workers of a request loop share this iterator)."""
        for job in jobs:
            if self.stopping.is_set():
                return
            yield job

    async def run_workers(self, workers: Sequence[Coroutine[Any, Any, None]]) -> None:
        """Run a request loop's workers to their end; the first error (e.g. a teacher answering 401) stops the run.

        Ctrl-C or SIGTERM abandoned every request in flight: the server still computed it (a paid endpoint billed
        it), its answer never reached the cache and the rerun paid again. The first one now stops new requests and
        retries and waits for those in flight, each within its request timeout; their answers are cached as they
        come. The run then ends as the signal would have ended it. A second one abandons them at once."""
        tasks = [asyncio.ensure_future(w) for w in workers]

        def abandon() -> None:
            for task in tasks:
                task.cancel()

        with TwoStepStop(self._drain, abandon):
            try:
                pending: set[asyncio.Future[None]] = set(tasks)
                while pending:
                    done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
                    for task in done:
                        exc = None if task.cancelled() else task.exception()
                        if exc is not None and not isinstance(exc, _Stopped):
                            raise exc
            finally:
                abandon()
                await asyncio.gather(*tasks, return_exceptions=True)

    def _drain(self, signum: int) -> None:
        """A first interrupt: send nothing more, and say what is awaited and how to stop awaiting it."""
        self.stopping.set()
        if not self.sending:
            return
        from .progress import say

        word, again = (
            ("Interrupted", "press Ctrl-C again")
            if signum == signal.SIGINT
            else ("Terminated", "send SIGTERM again or press Ctrl-C")
        )
        bound = max(self._timeout(t) for t in self.teachers)
        plural = "s" if self.sending != 1 else ""
        say(
            f"{word}: finishing the {self.sending} request{plural} in flight so that the label cache keeps their "
            f"answers (at most {bound:.0f} s); {again} to abandon them."
        )

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
        if not reply.text.strip() or "<think>" in reply.text:  # every token went to a reasoning model's thinking
            shorter = ", or turn the model's thinking off on its server"
        return (
            f" (the reply was cut off at max_tokens={limit}: raise max_tokens for teacher {self.names[idx]!r} in the "
            f"task spec{shorter})"
        )

    async def _send_once(self, idx: int, messages: list[dict[str, str]], seed: int) -> Any:
        """One request to teacher ``idx``, counted in its ledger's ``requests`` and in flight (``sending``) while it
        runs, under the teacher's timeout (``TimeoutError``)."""
        teacher = self.teachers[idx]
        self.ledgers[self.names[idx]].requests += 1
        call = teacher.acomplete(
            messages,
            schema=self.schema,
            temperature=self.spec.temperature,
            seed=seed,
            max_tokens=self._max_tokens(teacher),
        )
        self.sending += 1
        try:
            return await asyncio.wait_for(call, self._timeout(teacher))
        finally:
            self.sending -= 1

    async def _still_answers(self, idx: int, texts: set[str], limit: int) -> bool:
        """Whether teacher ``idx`` answers, once, a request it answered before (in this run or from the cache),
        asked when ``texts`` reached ``limit`` with no reply in between; ``texts`` is then cleared.

        Texts the server fails on every try (a 500 for those inputs, a generation that never ends in time) are
        retried for seconds, so they end after every other reply, in a row: the run stopped as for a server
        answering nothing, and every rerun, which asks only them (the rest are cached), stopped again before OUT
        was written. A server that answers the earlier request fails those texts alone; one that does not stops the
        run. One request per such stop, counted in the ledger; an interrupt or a teacher that never answered asks
        nothing."""
        async with self.probing[idx]:
            if len(texts) < limit:  # a reply, or another worker's probe, came meanwhile
                return True
            good = self.answered[idx]
            if good is None or self.stopping.is_set():
                return False
            messages, seed = good
            try:
                reply = await self._send_once(idx, messages, seed)
            except (TeacherError, TimeoutError):
                return False
            self._count_tokens(idx, reply.input_tokens, reply.output_tokens)
            texts.clear()
            return True

    async def _check_hung(self, idx: int, exc: TimedOutError, messages: list[dict[str, str]]) -> None:
        """Stop the run when every try timed out for EARLY_STOP_HUNG different texts with no reply in between: a
        server that takes connections and answers nothing (hung, or far too slow for the timeout) cost the timeout
        times the tries for each remaining text, hours on a large input, and every one ended failed. Unless it
        still answers a request it answered before (:meth:`_still_answers`): then those texts time out alone."""
        hung = self.hung_texts[idx]
        hung.add(json.dumps(messages, sort_keys=True))
        if len(hung) < EARLY_STOP_HUNG or await self._still_answers(idx, hung, EARLY_STOP_HUNG):
            return
        where = self._where(idx)
        raise TeacherUnavailableError(
            f"teacher {self.names[idx]!r}{where} answered nothing: every try for {len(hung)} texts in a row timed out "
            f"({self.opts.max_retries + 1} tries each; {exc}). If the server is only slow, raise its timeout in the "
            "task spec (or lower --concurrency); else restart it. Every answer so far is kept in the label cache: "
            "run the same command to resume."
        ) from exc

    async def _check_failing(self, idx: int, exc: RetryableTeacherError, messages: list[dict[str, str]]) -> None:
        """Stop the run when every try failed with an error worth retrying (429, 5xx, an error body) for
        EARLY_STOP_FAILING different texts with no reply in between: a server behind a proxy whose backend died
        (nginx's 502 on every request), a daily quota (429 with a Retry-After of hours) or a broken model answered
        each remaining text with the same error after some 15 s of retries; 13 of 16 texts ended failed in 68 s and
        annotate exited 0 (a large input: hours). Sporadic errors between replies never add up to a stop, nor do
        texts that fail while the server still answers a request it answered before (:meth:`_still_answers`)."""
        failing = self.failing_texts[idx]
        failing.add(json.dumps(messages, sort_keys=True))
        if len(failing) < EARLY_STOP_FAILING or await self._still_answers(idx, failing, EARLY_STOP_FAILING):
            return
        tries = f"{self.opts.max_retries + 1} tries each"
        if isinstance(exc, HubBusyError):  # the Hub's provider-mapping request, not the teacher, failed
            said = f"{exc} on every try for {len(failing)} texts in a row ({tries})"
            if exc.status == 429:
                raise TeacherUnavailableError(
                    f"{said}. The Hub rate-limits this token's requests: wait for its limit to reset, or lower "
                    "--concurrency; then run the same command to resume (every answer so far is kept in the label "
                    "cache)."
                ) from exc
            raise HubUnreachableError(  # the Hub's outage, not the user's input: exit 1
                f"{said}. The Hub is down or overloaded (see status.huggingface.co), not the provider: run the same "
                "command to resume once it answers (every answer so far is kept in the label cache)."
            ) from exc
        fix = {
            429: "The server rate-limits this run: lower --concurrency, or wait for its quota to renew",
            503: "Check the server (its logs, or the proxy in front of it): it may still be starting (an Inference "
            "Endpoint scaled to zero: name it with `endpoint:` in the task spec and sxhub waits until it runs)",
        }.get(exc.status or 0, "Check the server (its logs, or the proxy in front of it) and restart it")
        raise TeacherUnavailableError(
            f"teacher {self.names[idx]!r}{self._where(idx)} answered only errors: every try for {len(failing)} texts "
            f"in a row failed ({tries}; last: {exc}). {fix}. Every answer so far is "
            "kept in the label cache: run the same command to resume."
        ) from exc

    def _quota_spent(self, idx: int, exc: BaseException) -> TeacherUnavailableError | None:
        """The run's end when a 429 names a wait (``Retry-After``, or the Hub's ``RateLimit`` reset) longer than
        :func:`named_wait_cap` (15 minutes): a monthly quota or a day's limit, which no retry of this run passes. Each
        try was held to ``max_wait`` and retried inside the spent window, for each remaining text, until three texts
        had failed (some 12 minutes for an hour's reset). A shorter wait (an OpenAI-style ``Retry-After: 90``, the
        Hub's 5-minute windows) is waited out, as the server asks, and the run goes on."""
        if not isinstance(exc, RetryableTeacherError) or exc.status != 429 or exc.retry_after is None:
            return None
        if exc.retry_after <= named_wait_cap(self.opts.max_wait):
            return None
        minutes = exc.retry_after / 60
        when = f"{minutes:.0f} min" if minutes >= 1 else f"{exc.retry_after:.0f} s"
        if isinstance(exc, HubBusyError):
            return TeacherUnavailableError(
                f"{exc}: the Hub rate-limits this token until its limit resets in {when}. Run the same command after "
                "that to resume (every answer so far is kept in the label cache), or lower --concurrency."
            )
        return TeacherUnavailableError(
            f"teacher {self.names[idx]!r}{self._where(idx)} is rate-limited until its limit resets in {when} ({exc}). "
            "Run the same command after that to resume (every answer so far is kept in the label cache), or lower "
            "--concurrency."
        )

    def _gone(self, idx: int, exc: ServerGoneError, seconds: float) -> TeacherUnavailableError:
        """The run's end when a teacher that had answered refuses connections on every retry: it was retried for
        each remaining text (some 15 s of backoff each, hours on a large input) and every one ended failed."""
        where = self._where(idx)
        return TeacherUnavailableError(
            f"teacher {self.names[idx]!r}{where} stopped answering: it refused connections for {seconds:.0f} s "
            f"({self.opts.max_retries + 1} tries; {exc}). Every answer so far is kept in the label cache; start "
            "the server again and run the same command to resume."
        )

    def _check_invalid(self, idx: int, messages: list[dict[str, str]], vote: dict[str, Any]) -> None:
        """Stop the run when a teacher's first EARLY_STOP_INVALID texts got only invalid answers, with no valid vote
        yet: a model that does not follow the format (a server that enforces no schema, label names of its own, a
        prompt_template that names other labels) answered every text that way, each asked ``max_invalid + 1``
        times, and the run paid for all of them to label nothing (40 texts, 240 requests, then "every text
        failed"). Once it gave a valid vote, invalid answers are the texts' own and never stop the run; nor do
        invalid answers the cache replays (texts a model refuses in prose, first in the input, stopped every rerun
        at once: the rerun goes on to new texts, and a teacher that answers those invalidly too stops it there)."""
        if self.valid_votes[idx]:
            return
        texts = self.invalid_texts[idx]
        texts.add(json.dumps(messages, sort_keys=True))
        if len(texts) < EARLY_STOP_INVALID:
            return
        teacher = self.teachers[idx]
        enforced = (
            f"; its server enforced {teacher.enforced}, not the schema" if teacher.enforced in ("json", "none") else ""
        )
        raise TeacherUnavailableError(
            f"teacher {self.names[idx]!r}{self._where(idx)} gave no valid answer for its first {len(texts)} texts "
            f"({self.opts.max_invalid + 1} tries each{enforced}; last: {vote['error']}; raw: {vote['raw'][:200]!r}). "
            "Check that the model follows the task's label names and JSON format (an instruct model; the task's "
            "prompt_template), or set `server:` for this teacher so that its server enforces the schema. Every "
            "answer so far is kept in the label cache: run the same command to resume."
        )

    def _check_cut_off(self, idx: int, messages: list[dict[str, str]], error: str) -> None:
        """Stop the run when every reply for EARLY_STOP_CUT_OFF different texts, with no valid vote in between,
        stopped at ``max_tokens``: a model that thinks or explains at length before its JSON (a reasoning model, a
        long ``reason``) fails every text that way, each asked ``max_invalid + 1`` times at the full token budget,
        and the run paid for all of them to label nothing."""
        cut = self.cut_texts[idx]
        cut.add(json.dumps(messages, sort_keys=True))
        if len(cut) < EARLY_STOP_CUT_OFF:
            return
        shorter = " or reasoning: false in the task spec," if self.spec.reasoning else ""
        raise TeacherUnavailableError(
            f"teacher {self.names[idx]!r}{self._where(idx)}: every reply for {len(cut)} texts in a row was cut off at "
            f"max_tokens={self._max_tokens(self.teachers[idx])} before its answer ended (last: {error}). Raise "
            f"max_tokens for this teacher,{shorter} or turn the model's thinking off on its server. Every answer so "
            "far is kept in the label cache: run the same command to resume."
        )
