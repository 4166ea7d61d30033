"""Ctrl-C and SIGTERM: the CLI's ``Terminated``, and the two-step stop of a request loop.

A teacher's server still computes a request the client abandons, and a paid endpoint bills it: an interrupted
annotate lost the answers already on their way and its rerun paid for them again. While a request loop runs
(:meth:`sxhub.annotate_stops._Stops.run_workers`), :class:`TwoStepStop` takes the signal over: the first Ctrl-C or
SIGTERM only asks the loop to stop sending and to finish the requests in flight (each within its request timeout),
so that their answers reach the label cache; the loop then ends as the signal would have ended it
(``KeyboardInterrupt``, :class:`Terminated`, or death by SIGTERM). A second one abandons them at once.
"""

from __future__ import annotations

import asyncio
import functools
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any, NoReturn


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a scheduler's time limit, ``docker stop``), raised in the main thread so that the code that
    tidies up runs as it does for Ctrl-C, whose exception it is a kind of (asyncio, for one, passes it on as it does
    Ctrl-C's). Killed outright, train left its ``.checkpoints-*`` folder and predict its ``OUT.tmp``."""


def raise_terminated(signum: int, frame: FrameType | None) -> None:
    """The CLI's SIGTERM handler."""
    raise Terminated


def _raises_keyboard_interrupt(handler: Any) -> bool:
    """Whether a SIGINT handler is Python's own or ``asyncio.run``'s (both end the run in KeyboardInterrupt). A
    program's own handler is left alone: it may mean something else than "stop"."""
    if handler is signal.default_int_handler:
        return True
    owner = (
        getattr(getattr(handler, "func", None), "__self__", None) if isinstance(handler, functools.partial) else None
    )
    return isinstance(owner, asyncio.Runner)


def _ends_the_run(handler: Any) -> bool:
    """Whether a SIGTERM handler ends the process anyway: none set (death), or the CLI's (:class:`Terminated`)."""
    return handler in (signal.SIG_DFL, raise_terminated)


class TwoStepStop:
    """Within ``with``: the first Ctrl-C or SIGTERM calls ``drain`` (on the event loop), a second one ``abandon``.

    On leaving, after an interrupt, :meth:`deliver` ends the run as the signal would have. Only in the main thread,
    and only over the handlers that end the run (Python's, asyncio.run's and the CLI's; SIGTERM's default); a
    program's own handlers are kept."""

    def __init__(self, drain: Callable[[int], None], abandon: Callable[[], None]) -> None:
        self._drain, self._abandon = drain, abandon
        self._previous: dict[int, Any] = {}
        self.signum: int | None = None  # the last interrupt received
        self._count = 0

    def __enter__(self) -> TwoStepStop:
        if threading.current_thread() is not threading.main_thread():
            return self
        self._loop = asyncio.get_running_loop()
        for sig, ours in ((signal.SIGINT, _raises_keyboard_interrupt), (signal.SIGTERM, _ends_the_run)):
            previous = signal.getsignal(sig)
            if ours(previous):
                try:
                    signal.signal(sig, self._received)
                except ValueError:  # an interpreter whose main thread takes no signals (embedded)
                    continue
                self._previous[sig] = previous
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        if self.signum is not None:
            self.deliver(self.signum)

    def _received(self, signum: int, frame: FrameType | None) -> None:
        """The signal handler: it may run between any two bytecodes of the loop, so it only schedules the work."""
        self.signum = signum
        self._count += 1
        if self._count == 1:
            self._loop.call_soon_threadsafe(self._drain, signum)
        else:
            self._loop.call_soon_threadsafe(self._abandon)

    def deliver(self, signum: int) -> NoReturn:
        """End the run as ``signum`` would have, had the loop not taken it over (the handlers are restored)."""
        previous = self._previous.get(signum)
        if signum == signal.SIGTERM and previous == signal.SIG_DFL:
            signal.raise_signal(signal.SIGTERM)  # no handler: the process ends as a SIGTERM ends it
        elif signum == signal.SIGTERM and callable(previous):
            previous(signum, None)  # the CLI's: raises Terminated
        raise KeyboardInterrupt
