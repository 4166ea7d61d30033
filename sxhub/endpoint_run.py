"""A run's Inference Endpoints (:mod:`sxhub.endpoints` manages one): those its teachers name, made ready before the
first request and, with ``--pause-after``, paused after the last; what they cost, for the ledger and the end-of-run
line."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .endpoints import (
    DEFAULT_TIMEOUT,
    FAILED,
    PAUSED,
    all_unwoken,
    cli_name,
    get,
    hourly_price,
    pause,
    split_ref,
    wake,
)
from .errors import UserError

if TYPE_CHECKING:
    from huggingface_hub import InferenceEndpoint

    from .spec import TeacherSpec

logger = logging.getLogger("sxhub.endpoints")  # the lines a run's endpoints give, under the logger they always had
# what the request engine awaits before a request the label cache cannot answer (EndpointRun.on_first_request)
_BEFORE_ASKING: ContextVar[Callable[[], Awaitable[None]] | None] = ContextVar("sxhub_before_asking", default=None)


async def before_asking() -> None:
    """Awaited by the request engine before it sends a request that the label cache cannot answer: within
    :meth:`EndpointRun.on_first_request`, the run's sleeping Inference Endpoints are woken first (once); elsewhere
    nothing."""
    hook = _BEFORE_ASKING.get()
    if hook is not None:
        await hook()


def endpoint_names(teachers: list[TeacherSpec]) -> list[str]:
    """The Inference Endpoints a run resumes (and, with ``pause_after``, pauses): the teachers named by ``endpoint``
    without a ``base_url`` of their own, each once."""
    return list(dict.fromkeys(t.endpoint for t in teachers if t.endpoint and not t.base_url))


@dataclass
class EndpointRun:
    """The endpoints a run labels with, ready before the first request and (``pause_after``) paused after it."""

    names: list[str]
    pause_after: bool = False
    timeout: float = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        self.started = time.monotonic()
        self.info: dict[str, dict[str, Any]] = {}

    @classmethod
    def of(cls, teachers: list[TeacherSpec], *, pause_after: bool = False) -> EndpointRun:
        return cls(endpoint_names(teachers), pause_after=pause_after)

    def start(self) -> None:
        self.started = time.monotonic()
        for name in self.names:
            short, namespace = split_ref(name)
            found = get(short, namespace=namespace)
            # from here on this run may have woken it: finish() pauses it (pause_after) even when the wait below
            # timed out or was interrupted, which left a resumed endpoint starting and billing under --pause-after
            if found.status not in FAILED:  # a failed one bills nothing and cannot wake: its error line says why
                self.info[name] = {
                    "url": found.url,
                    "price_per_hour": hourly_price(found),
                    "replicas": kept_replicas(found),
                }
            try:
                endpoint = wake(found, namespace=namespace, timeout=self.timeout)
            except UserError:  # the Hub refused to wake it (402, 403...): it is as it was, not this run's to report
                self.info.pop(name, None)  # or pause: it said "left running" of a paused one, and paused it again
                raise
            self.info[name]["url"] = endpoint.url  # a failed one raised above (wait() refuses it)

    @contextmanager
    def on_first_request(self, specs: Sequence[TeacherSpec], *, now: bool = False) -> Iterator[list[TeacherSpec]]:
        """The teacher specs to open, the endpoints woken before the first request the label cache cannot answer
        rather than now (:func:`before_asking`): generate and twins woke them before they began, so that a rerun the
        cache answered whole started a replica (billed) for nothing. Each endpoint teacher gets the URL the Hub gives
        while it sleeps (:func:`sxhub.endpoints.all_unwoken`, as annotate's parts have it); where that cannot key
        the cache (a teacher without ``model:``, no URL now), or with ``now``, they are woken now and ``specs`` come
        back as given."""
        if not self.names:
            yield list(specs)
            return
        asleep = None if now else all_unwoken(list(specs))
        if asleep is None:
            self.start()
            yield list(specs)
            return
        token = _BEFORE_ASKING.set(self._wake_once())
        try:
            yield asleep
        finally:
            _BEFORE_ASKING.reset(token)

    def _wake_once(self) -> Callable[[], Awaitable[None]]:
        """:meth:`start`, run once for every request that awaits it, in a daemon thread: the event loop goes on
        (an interrupt cancels the waiting requests at once) and the wait does not hold the process at its exit."""
        woken: dict[asyncio.AbstractEventLoop, asyncio.Future[None]] = {}

        async def wake() -> None:
            loop = asyncio.get_running_loop()
            if loop not in woken:
                future = woken[loop] = loop.create_future()

                def settle(error: BaseException | None) -> None:
                    if not future.done():
                        future.set_result(None) if error is None else future.set_exception(error)

                def run() -> None:
                    error: BaseException | None = None
                    try:
                        self.start()
                    except BaseException as exc:  # the wake's own line (a refusal, a timeout) is the run's error
                        error = exc
                    with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: the run was interrupted
                        loop.call_soon_threadsafe(settle, error)

                threading.Thread(target=run, name="sxhub-endpoint-wake", daemon=True).start()
            await asyncio.shield(woken[loop])

        return wake

    def __enter__(self) -> EndpointRun:
        return self

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        """:meth:`finish`; when the run failed or was interrupted, what the endpoints it leaves running cost and how
        to stop them (on success the endpoints line says it): Ctrl-C said only what a rerun of annotate does."""
        self.finish()
        if exc is None or not self.info:
            return
        left = "; ".join(
            f"endpoint {name!r} is left running (billed while it runs): stop it with `sxhub endpoint pause "
            f"{cli_name(*split_ref(name))}`"
            for name, entry in list(self.info.items())  # a copy: a wake in its thread may add one meanwhile
            if not entry.get("paused_after") and self._still_up(name)
        )
        if isinstance(exc, KeyboardInterrupt):  # over the line of a wait it interrupted: this says what is now
            exc.sxhub_left = left or "the endpoints it had resumed were paused (--pause-after)"  # type: ignore[attr-defined]
        elif left and not self.pause_after:  # a pause that failed has its own line (finish)
            logger.warning("%s", left)
        elif self.pause_after and not left:  # the error line may speak of the endpoint as it was before the pause
            logger.warning("%s paused (--pause-after)", ", ".join(f"endpoint {name!r}" for name in self.info))

    def _still_up(self, name: str) -> bool:
        """Whether endpoint ``name`` may still run (and bill) as the run ends: not when it is paused or failed now.
        A run stopped because someone paused the endpoint while it labelled said it "is left running (billed while
        it runs)"; a state that cannot be read counts as running, so the line that says how to stop it stays."""
        short, namespace = split_ref(name)
        try:
            state = get(short, namespace=namespace).status
        except Exception as exc:
            logger.debug("could not read the state of endpoint %s: %s", name, exc)
            return True
        return state not in (PAUSED, *FAILED)

    def finish(self) -> dict[str, Any]:
        """Pause (with ``pause_after``) the endpoints this run resumed or used, and their ledger entries: the
        hourly price (of one replica), the hours of this run and the cost estimate (the replicas the endpoint keeps,
        one at least, for that long: one replica's price said half the cost of an endpoint that keeps two)."""
        hours = (time.monotonic() - self.started) / 3600
        for name, entry in list(self.info.items()):  # a copy: a wake in its thread may add one meanwhile
            price = entry.get("price_per_hour")
            entry["hours"] = round(hours, 4)
            replicas = entry.get("replicas", 1)
            entry["cost_usd_estimate"] = None if price is None else round(price * replicas * hours, 4)
            if self.pause_after:
                try:
                    short, namespace = split_ref(name)
                    pause(short, namespace=namespace)
                    entry["paused_after"] = True
                except Exception as exc:  # the run's own result or error matters more: say it, loudly (a network
                    # error, httpx's, not the Hub's refusal, escaped the run: exit 1, no ledger, no way to pause)
                    logger.error(
                        "could not pause endpoint %s (%s): pause it with `sxhub endpoint pause %s`", name, exc, name
                    )
                    entry["paused_after"] = False
        return self.info


def kept_replicas(endpoint: InferenceEndpoint) -> int:
    """The replicas an endpoint runs at least while it runs: its ``minReplica``, one at least (scaled to zero, it
    runs one while it answers); the catalogue's price is per replica (``InferenceEndpointHardware.price_per_hour``)."""
    scaling = (endpoint.raw.get("compute") or {}).get("scaling") or {}
    try:
        return max(1, int(scaling.get("minReplica") or 0))
    except (TypeError, ValueError):
        return 1


def format_endpoints(info: dict[str, dict[str, Any]]) -> str:
    """One line: each endpoint's price, hours and cost estimate, and whether it was paused."""
    parts = []
    for name, entry in info.items():
        price, cost = entry.get("price_per_hour"), entry.get("cost_usd_estimate")
        replicas = entry.get("replicas", 1)
        each = f" x {replicas} replicas" if replicas > 1 else ""
        money = (
            f"${price:.2f}/h{each} x {entry.get('hours', 0):.2f} h = ~${cost:.2f}"
            if price is not None
            else "price unknown"
        )
        state = (
            ", paused"
            if entry.get("paused_after")
            else f", still running: `sxhub endpoint pause {cli_name(*split_ref(name))}` stops it"
        )
        parts.append(f"{name} ({money}{state})")
    return "endpoints: " + "; ".join(parts)
