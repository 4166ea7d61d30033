"""torch's CPU threads (``--threads``) for the whole process, and put back after a command of the CLI.

``torch.set_num_threads`` holds for the whole process: ``sxhub predict --threads 2`` run in-process (``main([...])``,
click's CliRunner) left the caller's torch on 2 threads after the command returned. The CLI puts back what torch had
before (:func:`torch_threads_restored`, on the group's context), also where the command first imported torch. A
program that calls ``Predictor(threads=2)`` or ``train`` with ``threads`` asked for the setting and keeps it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


class _Watch:
    before: int | None = None  # torch's threads before sxhub first set them within the watch


_watches: list[_Watch] = []  # the restores under way (the CLI group's; a group invoked inside another nests)


def set_torch_threads(threads: int) -> None:
    """``torch.set_num_threads(threads)``; a restore under way notes the threads torch had before its first change."""
    import torch

    for watch in _watches:
        if watch.before is None:
            watch.before = torch.get_num_threads()
    torch.set_num_threads(threads)


@contextlib.contextmanager
def torch_threads_restored() -> Iterator[None]:
    """torch's threads as they were when the block began, once it ends (an error too), if sxhub set them in it."""
    watch = _Watch()
    _watches.append(watch)
    try:
        yield
    finally:
        _watches[:] = [w for w in _watches if w is not watch]
        if watch.before is not None:
            import torch

            torch.set_num_threads(watch.before)
