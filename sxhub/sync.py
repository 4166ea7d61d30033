"""The synchronous twins of the async stages (``annotate``, ``make_twins``, ``generate``) run their coroutine here."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from .errors import UserError

R = TypeVar("R")
P = ParamSpec("P")


def run_sync(main: Callable[[], Coroutine[Any, Any, R]], *, name: str, fix: str) -> R:
    """``asyncio.run(main())``, or, inside a running event loop (a notebook's), one line naming ``fix``: the await
    of the async twin. ``main`` makes the coroutine only when it can run (none is left never awaited)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    raise UserError(f"{name}() was called inside a running event loop (a notebook's, say); use {fix} there.")


def synchronous(afunc: Callable[P, Coroutine[Any, Any, R]], name: str) -> Callable[P, R]:
    """The synchronous twin ``name`` of ``afunc``, with its signature (``help``, a notebook's tips and type checkers
    see every option) and a docstring that sends to ``afunc``'s."""

    @functools.wraps(afunc)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        return run_sync(lambda: afunc(*args, **kwargs), name=name, fix=f"`await {afunc.__name__}(...)`")

    call.__name__ = call.__qualname__ = name
    call.__doc__ = (
        f"Synchronous :func:`{afunc.__name__}` (the same arguments and result); inside a running event loop (a "
        f"notebook's) use ``await {afunc.__name__}(...)``.\n\n{inspect.cleandoc(afunc.__doc__ or '')}"
    )
    return call
