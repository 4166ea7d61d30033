"""One run at a time per output: ``flock`` locks the system drops when the process ends, however it ends.

Two commands writing one output at once mixed their work without a word: two ``predict -o out.csv`` appended to the
same temporary file and one of them then moved the interleaved rows into place; two ``train -o student`` saved the
weights of one run beside the thresholds and ``sxhub.json`` of the other. :func:`output_lock` refuses the second one
at once with one line.

The lock of an output is a file named by the hash of the output's resolved path, in a folder of this user's under
the system's temporary folder: nothing is added beside the output, and two spellings of one path (``./out.csv``,
a symlinked folder) take one lock. It guards against runs on one machine; ``sxhub annotate`` also locks its
``OUT.parts/`` folder (:func:`sxhub.parts.layout.locked`), which guards runs on other machines that share it.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def try_lock(handle: Any) -> bool:
    """Take the exclusive lock of the open file ``handle`` without waiting; False when another process holds it."""
    if sys.platform == "win32":
        import msvcrt

        try:
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as exc:
        if exc.errno not in NO_LOCKS:
            raise
        _say_no_locks(Path(str(getattr(handle, "name", ""))).parent, exc)
    return True


# flock's answers on a file system that takes no locks: ENOLCK on NFS without a lock daemon (mounted ``nolock``, or
# NFSv3 without rpc.statd), EOPNOTSUPP/ENOTSUP and ENOSYS on FUSE mounts of object stores that do not implement it
NO_LOCKS = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS})
_SAID_NO_LOCKS: set[str] = set()


def _say_no_locks(folder: Path, exc: OSError) -> None:
    """Say once per folder that its file system takes no locks, so a run there goes on without them: the locks guard
    against a mistake (two commands writing one output), and refusing the run (it stopped with "OSError: [Errno 37]
    No locks available" before any work) would stop runs on the shared file systems a cluster's nodes write to."""
    if str(folder) in _SAID_NO_LOCKS:
        return
    _SAID_NO_LOCKS.add(str(folder))
    logger.warning(
        "%s: its file system does not take file locks (%s), so two sxhub commands writing one output are not "
        "refused there; run one sxhub command at a time on each output in it.",
        folder,
        exc.strerror or exc,
    )


def lock_file(output: str | os.PathLike[str]) -> Path:
    """The lock file of ``output``: in ``sxhub-locks-<uid>`` under the temporary folder, named by the hash of the
    output's resolved path (the path need not exist)."""
    resolved = str(Path(output).expanduser().resolve())
    user = getattr(os, "getuid", lambda: 0)()
    folder = Path(tempfile.gettempdir()) / f"sxhub-locks-{user}"
    return folder / (hashlib.sha256(resolved.encode("utf-8", "surrogateescape")).hexdigest()[:32] + ".lock")


class OutputBusy(Exception):
    """Another process holds the lock of the output."""


@contextmanager
def output_lock(output: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the lock of ``output`` while the block runs, or raise :class:`OutputBusy` at once.

    A lock that cannot be made (a read-only temporary folder) is skipped: it guards against a mistake, and must not
    stop a run that would work without it. The files are never deleted: a run waiting on a deleted file would lock a
    file nobody else sees."""
    path = lock_file(output)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle = open(path, "a+b")  # noqa: SIM115 - held open for the whole block: closing it unlocks
    except OSError:
        yield
        return
    try:
        if not try_lock(handle):
            raise OutputBusy(str(output))
        yield
    finally:
        handle.close()
