"""A tiny watcher that ends AutoTrain's process group when sxhub dies, even by ``kill -9`` (Linux only).

Run as a script (standard library only, so it starts in tens of milliseconds):
``python -I -S group_watch.py PARENT_PID [REMOVE_DIR...] -- CMD...``. sxhub starts it in a new session, so it leads the
process group that AutoTrain and everything AutoTrain launches (accelerate, its trainer) run in; it starts ``CMD``
there, waits for it and exits with its status.

Why a watcher: sxhub's own handlers end the group on Ctrl-C, SIGTERM and timeouts, but ``kill -9`` (or the
out-of-memory killer) gives sxhub no chance, and AutoTrain, in a session of its own, trained on, holding the cores
and its work folder in /tmp. Linux's parent-death signal (``prctl(PR_SET_PDEATHSIG)``) tells a process that its
parent died, but it reaches only the direct child, while AutoTrain runs its trainer as a grandchild: so the direct
child is this watcher, which on its parent's death sends SIGTERM to the whole group, SIGKILL to whatever is left
after a grace period, and removes each ``REMOVE_DIR`` (sxhub's temporary folders).

The parent-death signal fires when the *thread* that started the watcher ends, not only the process: the watcher
therefore checks that its parent really changed (``getppid``) before acting, and also polls ``getppid`` every
second, so a run started from a worker thread that then ends is still watched. prctl is called through ctypes on
libc: the PyPI wrappers for it are unmaintained (pyprctl, last release 2021) or need a C build (python-prctl).

Not used on other systems (there is no parent-death signal): there the AutoTrain group is started directly, as
before, and still ended by sxhub on Ctrl-C, SIGTERM and timeouts but not when sxhub is killed with SIGKILL.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time

PR_SET_PDEATHSIG = 1
PARENT_DIED = signal.SIGUSR1  # not SIGTERM: sxhub's own end of the group sends SIGTERM, which only the child heeds
GRACE_S = 10.0


class _ParentDied(Exception):
    pass


def _on_parent_death(signum: int, frame: object) -> None:
    raise _ParentDied


def _ignore(signum: int, frame: object) -> None:
    """SIGTERM to the group (sxhub's _end_group) ends AutoTrain; the watcher waits for it and reports its status."""


def _group_members(pgid: int) -> list[int]:
    """The live processes of group ``pgid`` other than this one (from /proc; zombies are already dead)."""
    me, members = os.getpid(), []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry))
    return members


def _end_group(child: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM to the group, SIGKILL to whatever of it is still alive after :data:`GRACE_S` (everything in the
    group was started by the watcher's child, whether or not its Popen returned)."""
    pgid = os.getpgrp()
    os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    while time.monotonic() < deadline:
        if child is not None:
            child.poll()  # reap the direct child, or it stays a zombie of ours
        if not _group_members(pgid):
            return
        time.sleep(0.1)
    for pid in _group_members(pgid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _exit_as(code: int) -> None:
    """Exit with the child's status: its exit code, or death by the same signal."""
    if code < 0:
        if -code != signal.SIGKILL:  # its handler cannot be set (EINVAL): the watcher died of that, exit 1
            signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    sys.exit(code if code >= 0 else 128 - code)


def main(argv: list[str]) -> None:
    if "--" not in argv[1:] or argv[-1] == "--":
        sys.exit("usage: group_watch.py PARENT_PID [REMOVE_DIR...] -- CMD...")
    split = argv.index("--", 1)
    parent_pid, remove, cmd = int(argv[0]), argv[1:split], argv[split + 1 :]
    signal.signal(signal.SIGTERM, _ignore)
    signal.signal(PARENT_DIED, _on_parent_death)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(PARENT_DIED), 0, 0, 0) != 0:
        sys.exit(f"prctl(PR_SET_PDEATHSIG) failed: {os.strerror(ctypes.get_errno())}")
    child = None
    try:
        if os.getppid() == parent_pid:  # else sxhub died before the signal was set: start nothing
            child = subprocess.Popen(cmd)
            while os.getppid() == parent_pid:
                try:
                    code = child.wait(timeout=1.0)
                except subprocess.TimeoutExpired:
                    continue
                except _ParentDied:
                    continue  # checked by the loop: the thread that started the watcher ended, maybe not sxhub
                signal.signal(PARENT_DIED, signal.SIG_IGN)
                _exit_as(code)
    except _ParentDied:
        pass
    signal.signal(PARENT_DIED, signal.SIG_IGN)
    _end_group(child)
    for folder in remove:
        shutil.rmtree(folder, ignore_errors=True)
    sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
