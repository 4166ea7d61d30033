"""A persistent, content-keyed cache of teacher replies (sqlite3 in WAL mode).

The key hashes everything that changes a reply (teacher identity, messages, schema, temperature, max_tokens, seed)
and nothing that does not (timeouts, concurrency). Each reply is committed as it arrives, so a second run makes no
requests and a run killed with SIGKILL resumes without losing a finished answer. Only successful replies are stored:
transport failures are retried by the next run. A reply's label scores (:attr:`Reply.scores`, from the tuned
teacher) are stored with it; a cache file from before they existed gains the column when opened.

Two runs asking for the same replies at once (overlapping shards, a rerun started while the first still runs, a
notebook beside the CLI) paid for each of them twice: both missed the cache, asked the teacher, then wrote. A run now
*claims* a key before it asks (:meth:`LabelCache.claim`: a row of the ``claims`` table, in the same transaction as
the lookup) and gives the claim back with the reply (:meth:`~LabelCache.put`) or without one
(:meth:`~LabelCache.release`, when the request failed). A run that meets another's live claim waits for that answer,
polling the cache, instead of paying for it. A claim never blocks for good: its owner keeps it alive with a
heartbeat, and a claim whose owner died (its pid gone, on this host) or whose heartbeat stopped (``STALE_S``, a hung
or lost machine) is taken over.

A request that failed for good (retries exhausted, refused) leaves its error in the claim's row: the runs that were
waiting on that claim get it (:class:`Failed`, their vote fails with it) instead of asking again, as a copy of a
request in flight in one run does; each waiting run re-asked, so a failing teacher was paid its retries once per
run. Failures are still never cached: a run that was not waiting (a rerun, a run started later) takes the key over
and asks again.

Location: ``cache_dir`` if given, else ``$SXHUB_CACHE``, else ``~/.cache/sxhub``; the file is ``labels.sqlite``.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import socket
import sqlite3
import threading
import time
import unicodedata
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from .errors import InputError
from .teachers.base import Reply

logger = logging.getLogger(__name__)

CACHE_FILE = "labels.sqlite"
SCHEMA_VERSION = 1
HEARTBEAT_S = 5.0  # how often a run that holds claims says it is alive
STALE_S = 60.0  # a claim whose heartbeat is older than this is taken over (its run hangs, or its machine is gone)
POLL_S = 0.25  # how often a run waiting on another's claim looks for its answer


@dataclass(frozen=True)
class Failed:
    """The error of the request of the run whose claim another run waited on (it failed for good)."""

    error: str
    pid: int
    host: str


@dataclass(frozen=True)
class Claim:
    """Another run's live claim on a key: it is asking the teacher for that reply now."""

    pid: int
    host: str

    def __str__(self) -> str:
        return f"pid {self.pid} on {self.host}"


def _owner_alive(pid: int, host: str, heartbeat: float, this_host: str) -> bool:
    """Whether a claim's owner still runs: its heartbeat is recent and, on this host, its process exists."""
    if time.time() - heartbeat > STALE_S:
        return False
    if host != this_host:
        return True
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return True  # another user's process: it exists


def default_cache_dir() -> Path:
    """``$SXHUB_CACHE`` or ``~/.cache/sxhub``."""
    env = os.environ.get("SXHUB_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "sxhub"


def cache_key(
    *,
    teacher: dict[str, Any],
    messages: list[dict[str, str]],
    schema: dict[str, Any] | None,
    temperature: float,
    max_tokens: int,
    seed: int,
) -> str:
    """A sha256 over the request parts that change the reply."""
    payload = {
        "v": SCHEMA_VERSION,
        "teacher": teacher,
        "messages": messages,
        "schema": schema,
        "temperature": round(float(temperature), 6),
        "max_tokens": int(max_tokens),
        "seed": int(seed),
    }
    return _digest(_dumps(payload))


def _digest(blob: str) -> str:
    """The sha256 of a request's parts, in NFC: a text in two Unicode spellings (NFC, NFD) is one question, asked
    once (a CSV that held "Café" both ways got two answers, one positive, one negative)."""
    if not unicodedata.is_normalized("NFC", blob):
        blob = unicodedata.normalize("NFC", blob)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


class CacheKeys:
    """:func:`cache_key` for the many requests of one teacher, schema, temperature and max_tokens: the same keys,
    with the parts that do not change between requests serialized once (the run's hot path: one key per request).
    """

    def __init__(
        self, *, teacher: dict[str, Any], schema: dict[str, Any] | None, temperature: float, max_tokens: int
    ) -> None:
        # json.dumps(payload, sort_keys=True) writes the keys in this order: max_tokens, messages, schema, seed,
        # teacher, temperature, v (test_cache_keys_equal_cache_key pins the equality)
        self._head = f'{{"max_tokens":{int(max_tokens)},"messages":'
        self._middle = f',"schema":{_dumps(schema)},"seed":'
        temperature_json = _dumps(round(float(temperature), 6))
        self._tail = f',"teacher":{_dumps(teacher)},"temperature":{temperature_json},"v":{SCHEMA_VERSION}}}'

    def __call__(self, messages: list[dict[str, str]], seed: int) -> str:
        return _digest(f"{self._head}{_dumps(messages)}{self._middle}{int(seed)}{self._tail}")


def cache_error(path: Path, exc: BaseException) -> InputError:
    """One line for a label cache that cannot be used: which file, why, and the fix (exit 2, before any request, or
    when it fails during the run)."""
    why = str(exc) or type(exc).__name__
    if any(w in why for w in ("disk is full", "disk I/O error")) or getattr(exc, "errno", None) == errno.ENOSPC:
        return InputError(
            f"label cache {str(path)!r} cannot be written ({why}{'' if 'full' in why else ': is its disk full?'}); "
            "free space there or pass "
            "--cache-dir (or set SXHUB_CACHE) to a folder on another disk, and run the same command to resume."
        )
    if isinstance(exc, OSError) or any(w in why for w in ("readonly", "unable to open", "read-only")):
        fix = "pass --cache-dir (or set SXHUB_CACHE) to a folder you can write, or make it writable"
        return InputError(f"label cache {str(path)!r} cannot be written ({why}); {fix}.")
    if isinstance(exc, sqlite3.DatabaseError) and any(w in why for w in ("not a database", "malformed")):
        return InputError(
            f"label cache {str(path)!r} is damaged ({why}); move it away or delete it (its answers are then asked "
            "again), or pass another --cache-dir."
        )
    return InputError(f"label cache {str(path)!r} cannot be used ({why}); pass another --cache-dir, or fix the file.")


class LabelCache:
    """Teacher replies by cache key, in one sqlite file shared safely by concurrent processes (WAL)."""

    def __init__(self, cache_dir: str | os.PathLike[str] | None = None) -> None:
        folder = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
        self.path = folder / CACHE_FILE
        self._lock = threading.Lock()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            # the schema made or brought up to date under the write lock: runs opening a cache of an older sxhub at
            # once each saw a column missing and added it, and all but one stopped in "cannot be used (duplicate
            # column name: scores)". Taking it also fails a cache that cannot be written here, before a request is
            # paid for (it failed at the first answer's put, and every rerun paid for those requests again).
            with self._transaction():
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, teacher TEXT, text TEXT NOT NULL, "
                    "input_tokens INTEGER, output_tokens INTEGER, created REAL, scores TEXT)"
                )
                if "scores" not in self._columns("replies"):  # a cache written before replies carried label scores
                    self._db.execute("ALTER TABLE replies ADD COLUMN scores TEXT")
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, owner TEXT NOT NULL, pid INTEGER, "
                    "host TEXT, heartbeat REAL, failed TEXT)"
                )
                # failed: the error of a request given up, for the runs that waited on it (NULL: a live claim)
                if "failed" not in self._columns("claims"):
                    self._db.execute("ALTER TABLE claims ADD COLUMN failed TEXT")
        except (sqlite3.Error, OSError) as exc:
            raise cache_error(self.path, exc) from exc
        # this object's claims: one owner per open cache (two in one process wait on each other like two runs)
        self._owner, self._pid, self._host = uuid.uuid4().hex, os.getpid(), socket.gethostname()
        self._beating: threading.Thread | None = None
        self._mine: set[str] = set()  # the keys this object holds: a second run through it waits on them too
        self._stop_beating = threading.Event()

    def _columns(self, table: str) -> set[str]:
        return {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}

    def get(self, key: str) -> Reply | None:
        """The stored reply for ``key``, or None."""
        with self._lock, self._failing():
            row = self._db.execute(
                "SELECT text, input_tokens, output_tokens, scores FROM replies WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        scores = json.loads(row[3]) if row[3] else None
        return Reply(text=row[0], input_tokens=row[1], output_tokens=row[2], scores=scores)  # NULL: not known

    def put(self, key: str, reply: Reply, *, teacher: str = "") -> None:
        """Store (and commit) one reply, and give back this run's claim on ``key`` in the same transaction."""
        try:
            self._put(key, reply, teacher)
        finally:
            self._mine.discard(key)  # a write that failed ends this run; another through this object asks itself

    def _put(self, key: str, reply: Reply, teacher: str) -> None:
        with self._lock, self._failing(), self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO replies (key, teacher, text, input_tokens, output_tokens, created, scores) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    teacher,
                    reply.text,
                    reply.input_tokens,
                    reply.output_tokens,
                    time.time(),
                    None if reply.scores is None else json.dumps(reply.scores),
                ),
            )
            self._db.execute("DELETE FROM claims WHERE key = ? AND owner = ?", (key, self._owner))

    def claim(self, key: str, *, waiting: bool = False) -> Reply | Claim | Failed | None:
        """In one transaction with the lookup: the reply stored under ``key``; else the live :class:`Claim` of
        another run that is asking for it now (wait for its answer: call again after a while, with ``waiting``);
        else, ``waiting``, the :class:`Failed` error of the request of the run waited on; else None, and this run
        holds the claim on ``key`` (ask the teacher, then :meth:`put` the reply or :meth:`release` the claim). A
        claim whose owner died or stopped its heartbeat is taken over, and so is a failure by a run not waiting.

        A failure seen while waiting is always that of a request made since the wait began: the row was a live
        claim then, and only its owner's :meth:`release` turns it into a failure."""
        with self._lock, self._failing(), self._transaction():
            row = self._db.execute(
                "SELECT text, input_tokens, output_tokens, scores FROM replies WHERE key = ?", (key,)
            ).fetchone()
            if row is not None:
                scores = json.loads(row[3]) if row[3] else None
                return Reply(text=row[0], input_tokens=row[1], output_tokens=row[2], scores=scores)
            if key in self._mine:  # two runs through this one object (asyncio.gather in a notebook)
                return Claim(pid=self._pid, host=self._host)
            held = self._db.execute(
                "SELECT owner, pid, host, heartbeat, failed FROM claims WHERE key = ?", (key,)
            ).fetchone()
            if held is not None and held[4] is not None:
                if waiting:
                    return Failed(error=held[4], pid=held[1], host=held[2])
            elif held is not None and held[0] != self._owner and _owner_alive(held[1], held[2], held[3], self._host):
                return Claim(pid=held[1], host=held[2])
            self._db.execute(
                "INSERT OR REPLACE INTO claims (key, owner, pid, host, heartbeat, failed) VALUES (?, ?, ?, ?, ?, NULL)",
                (key, self._owner, self._pid, self._host, time.time()),
            )
            self._mine.add(key)
        self._start_heartbeat()
        return None

    def asked_by(self, key: str) -> Claim | None:
        """The live :class:`Claim` of another run that is asking for ``key`` now, or None; claims nothing (a dry
        run's look)."""
        with self._lock, self._failing():
            held = self._db.execute(
                "SELECT owner, pid, host, heartbeat FROM claims WHERE key = ? AND failed IS NULL", (key,)
            ).fetchone()
        if held is None or held[0] == self._owner or not _owner_alive(held[1], held[2], held[3], self._host):
            return None
        return Claim(pid=held[1], host=held[2])

    def release(self, key: str, error: str | None = None) -> None:
        """Give back this run's claim on ``key`` without a reply. With ``error`` (the request failed for good), the
        runs waiting on it get that error (:class:`Failed`) instead of asking again; without (interrupted,
        abandoned, the run stopped), a run waiting on it asks itself. Best effort: a claim that cannot be given back
        goes when this cache closes, or goes stale."""
        with self._lock:
            self._mine.discard(key)
            try:
                if error is None:
                    self._db.execute("DELETE FROM claims WHERE key = ? AND owner = ?", (key, self._owner))
                else:
                    self._db.execute(
                        "UPDATE claims SET failed = ?, heartbeat = ? WHERE key = ? AND owner = ?",
                        (error, time.time(), key, self._owner),
                    )
            except sqlite3.Error:
                pass

    def _start_heartbeat(self) -> None:
        if self._beating is None:
            self._beating = threading.Thread(target=self._heartbeat, name="sxhub-cache-heartbeat", daemon=True)
            self._beating.start()

    def _heartbeat(self) -> None:
        """Every HEARTBEAT_S, this run's claims are marked alive; a run whose heartbeat stops loses them."""
        while not self._stop_beating.wait(HEARTBEAT_S):
            with self._lock:
                try:
                    self._db.execute(
                        "UPDATE claims SET heartbeat = ? WHERE owner = ? AND failed IS NULL",
                        (time.time(), self._owner),
                    )
                except sqlite3.Error:
                    pass  # the run's own reads and writes say what is wrong with the file

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction (the connection is in autocommit mode): committed, or rolled back on an error."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def __len__(self) -> int:
        with self._lock, self._failing():
            return int(self._db.execute("SELECT COUNT(*) FROM replies").fetchone()[0])

    @contextmanager
    def _failing(self) -> Iterator[None]:
        """sqlite's errors after the cache opened (a page damaged where the first reads did not go, the disk filled
        up during the run) as :func:`cache_error`'s line: they ended the run in "Error: DatabaseError: database
        disk image is malformed" or "OperationalError: database or disk is full", exit 1, naming neither the
        file nor the fix. The parts committed so far and the answers cached before stay."""
        try:
            yield
        except (sqlite3.Error, OSError) as exc:
            raise cache_error(self.path, exc) from exc

    def close(self) -> None:
        """Close the file; the claims this run still holds (requests abandoned) are given back first. Its failures
        stay a while (``STALE_S``) for the runs still waiting on them; older ones, any run's, go."""
        self._stop_beating.set()
        if self._beating is not None:
            self._beating.join()
        with self._lock:
            try:
                self._db.execute("DELETE FROM claims WHERE owner = ? AND failed IS NULL", (self._owner,))
                self._db.execute(
                    "DELETE FROM claims WHERE failed IS NOT NULL AND heartbeat < ?", (time.time() - STALE_S,)
                )
            except sqlite3.Error:
                pass  # they go stale
            self._db.close()

    def __enter__(self) -> LabelCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ReadThroughCache(LabelCache):
    """A label cache that also answers from earlier cache files, read-only: a hit there is copied into the cache it
    wraps (where :meth:`put` writes). ``--restart`` keeps the label caches of ``--engine ray``'s shards in
    ``OUT.parts/``; a run with another number of shards (or the one-process engine) reads their answers from them
    instead of asking again. The files must have no writer (:func:`settle`: they are in rollback-journal mode)."""

    def __init__(self, own: LabelCache, earlier: list[Path], *, owns: bool) -> None:
        # not LabelCache.__init__: ``own`` holds the file this cache writes
        self.own, self.path, self._owns = own, own.path, owns
        self._lock = threading.Lock()
        self._earlier: list[tuple[sqlite3.Connection, bool]] = []
        for file in earlier:
            try:
                db = sqlite3.connect(file.resolve().as_uri() + "?mode=ro", uri=True, check_same_thread=False)
                columns = {row[1] for row in db.execute("PRAGMA table_info(replies)")}
            except sqlite3.Error:
                continue  # unreadable: its answers are asked again, as without it
            self._earlier.append((db, "scores" in columns))

    def get(self, key: str) -> Reply | None:
        found = self.own.get(key)
        if found is not None:
            return found
        for db, scored in list(self._earlier):
            with self._lock:
                try:
                    row = db.execute(
                        f"SELECT text, input_tokens, output_tokens, {'scores' if scored else 'NULL'}, teacher "
                        "FROM replies WHERE key = ?",
                        (key,),
                    ).fetchone()
                except sqlite3.Error as exc:
                    # damaged past the pages read when it opened: read no more of it, as if unreadable then (its
                    # answers are asked again); the run stopped in "Error: DatabaseError: database disk image is
                    # malformed", for a file it only reads
                    logger.warning("an earlier label cache cannot be read (%s); its answers are asked again.", exc)
                    self._earlier.remove((db, scored))
                    db.close()
                    continue
            if row is not None:
                reply = Reply(
                    text=row[0],
                    input_tokens=row[1],  # NULL: the server sent no token counts; unknown, never 0
                    output_tokens=row[2],
                    scores=json.loads(row[3]) if row[3] else None,
                )
                self.own.put(key, reply, teacher=row[4] or "")
                return reply
        return None

    def put(self, key: str, reply: Reply, *, teacher: str = "") -> None:
        self.own.put(key, reply, teacher=teacher)

    def claim(self, key: str, *, waiting: bool = False) -> Reply | Claim | Failed | None:
        return self.own.claim(key, waiting=waiting)

    def asked_by(self, key: str) -> Claim | None:
        return self.own.asked_by(key)

    def release(self, key: str, error: str | None = None) -> None:
        self.own.release(key, error)

    def __len__(self) -> int:
        return len(self.own)

    def close(self) -> None:
        with self._lock:
            for db, _ in self._earlier:
                db.close()
            self._earlier = []
        if self._owns:
            self.own.close()


def settle(file: Path) -> None:
    """Leave a cache file that nothing writes now in rollback-journal mode (its WAL checkpointed into it), so that
    several processes, on other machines too, can read it read-only (a WAL file needs shared memory to be read)."""
    try:
        db = sqlite3.connect(file, timeout=5, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=DELETE")
        finally:
            db.close()
    except sqlite3.Error:
        pass  # busy or damaged: read as it is, or not at all
