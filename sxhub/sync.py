"""The synchronous twins of the async stages (``annotate``, ``make_twins``, ``generate``) run their coroutine here."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from .errors import UserError

R = TypeVar("R")


def run_sync(main: Callable[[], Coroutine[Any, Any, R]], *, name: str, fix: str) -> R:
    """``asyncio.run(main())``, or, inside a running event loop (a notebook's), one line naming ``fix``: the await
    of the async twin. ``main`` makes the coroutine only when it can run (none is left never awaited)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    raise UserError(f"{name}() was called inside a running event loop (a notebook's, say); use {fix} there.")
