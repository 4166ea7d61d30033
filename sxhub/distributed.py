"""Ray as the engine for runs that outgrow one process or one machine (``--engine ray``).

* ``sxhub predict ... --engine ray``: Ray Data reads the input (CSV, JSONL, Parquet: a local path or any fsspec URL
  pyarrow reads; or a Hub dataset, streamed), an actor pool holds the student (int8 ONNX, ONNX or torch: one
  :class:`~sxhub.predict.Predictor` per actor) and labels it batch by batch with the code of single-process
  ``predict`` (:func:`~sxhub.predict_files.predict_chunk`), and the rows are written as Parquet, in input order
  (``preserve_order``), then joined into one file.
* ``sxhub annotate ... --engine ray``: the input is split into shards by text (:func:`~sxhub.ray_annotate.split_by_text`: every copy
  of a text, after preprocessing, lands in the same shard, so it is asked once and later copies are dropped there
  as in one process); each shard is a Ray task that runs the async engine of :mod:`sxhub.annotate` chunk by chunk
  (:func:`sxhub.parts.label_shard`), with its own label cache and its own part files under ``OUT.parts/`` (it
  reads the user's label cache, ``$SXHUB_CACHE``, too, where its node has it); the parts are merged at the end
  (:func:`sxhub.parts.assemble`). A rerun skips finished shards and resumes unfinished ones from their parts and
  caches. At most ``parallel`` shards run at once and each gets a share of
  ``--concurrency``, so the requests in flight against the teacher never exceed it, whatever the cluster's size.
  A worker that dies is retried by Ray (``max_retries``): its parts and cached answers are reused, and every input
  row is in OUT exactly once.

Which cluster, as ``ray.init`` picks it (Ray's convention): ``--address`` or ``$RAY_ADDRESS``; without either, the
cluster that ``ray start --head`` left running on this machine, if it answers; else a local Ray started for the run and
stopped after it (``--address local`` always starts one). The run's first line says which (:func:`connect`). On a cluster of several machines OUT (and its ``OUT.parts/``) must be on storage every node sees (NFS, a shared
volume), and every node needs sxhub installed. ``import sxhub`` never imports Ray: only this module (the connection,
here) and the two stages' modules, :mod:`sxhub.ray_annotate` and :mod:`sxhub.ray_predict`, do, when called.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import SxhubError, UserError

logger = logging.getLogger(__name__)


class RayError(SxhubError):
    """Ray could not run the job (no cluster at the address, a shard that kept losing its worker)."""


class RayAddressError(RayError, UserError):
    """Nothing answers at the cluster address given (exit code 2: the command's argument is wrong)."""


def ray_module() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise UserError('--engine ray needs Ray; run pip install "sxhub[ray]" (or pass --engine local).') from exc
    return ray


# per connect() that called ray.init: the "ray" logger's level and Ray's authentication variables before it
_saved: list[tuple[int, dict[str, str | None]]] = []
AUTH_VARIABLES = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")


def connect(address: str | None = None, *, quiet: bool = False) -> bool:
    """Join the cluster at ``address`` (or ``$RAY_ADDRESS``, or the one ``ray start`` left running here), else start a
    local Ray; True when this call started or joined it (then :func:`disconnect` ends it), False when this process was
    already connected. Its first line (none under ``quiet``) says which: ``Ray: starting a local cluster for this run``
    or ``Ray: joining the cluster at HOST:PORT``.

    ``quiet`` (``sxhub -q``: only errors on stderr) keeps Ray's own lines off stderr, where they came even so: the
    warning that token authentication is on (its ``ray`` logger, at ERROR here) and the driver's C++ core worker
    line that an actor has constructor arguments in the object store (Ray Data's actor pool always has: logged at
    ERROR level, which Ray's C++ logger always copies to stderr; :func:`quiet_backend_logs`). A local Ray it starts
    itself does not warn that it turned token authentication on (:func:`_without_local_auth_notice`), nor fails
    where Ray cannot write its token (:func:`_token_for_local_ray`)."""
    ray = ray_module()
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address is not None:
        check_address(address)
    joins = cluster_address(address)
    stale = ""
    if address is None and joins is not None and (dead := unreachable(joins)):
        # the address a `ray start` wrote, whose cluster is gone (killed, crashed, the machine restarted without
        # clearing /tmp): ray.init joined it and waited for minutes, printing warnings; a local Ray starts instead
        stale = f" (the cluster `ray start` left at {joins} does not answer: {dead}; `ray stop` forgets it)"
        address, joins = "local", None
    if not quiet:
        from .progress import say

        found = "" if address else " (left running by `ray start`; --address local starts one for this run)"
        say(
            f"Ray: joining the cluster at {joins}{found}"
            if joins
            else f"Ray: starting a local cluster for this run{stale}"
        )
    options: dict[str, Any] = {"logging_level": logging.ERROR if quiet else logging.WARNING, "log_to_driver": False}
    if joins is None:
        options["include_dashboard"] = False
    sigterm = sigterm_handler()
    # ray.init sets this process's "ray" logger to logging_level, and it stayed so after the command (a notebook's
    # own Ray lost its INFO lines after main(["-q", "predict", ..., "--engine", "ray"])): disconnect puts it back
    level = logging.getLogger("ray").level
    # ray.init sets RAY_AUTH_MODE=token in this process's environment (for a new local Ray, and for a found cluster
    # where a token exists): it stayed after the run, so a notebook's own ray.init(address=...) inherited it
    auth = {name: os.environ.get(name) for name in AUTH_VARIABLES}
    try:
        try:
            if joins is None:
                _token_for_local_ray()
            with quiet_backend_logs(quiet), _without_local_auth_notice(joins is None):
                ray.init(address=address, **options)
        except ValueError as exc:  # an address Ray cannot read
            raise RayAddressError(
                f"--address {address!r} is not a Ray cluster address ({str(exc)[:120]}); write HOST:PORT (the head node's "
                "`ray start --head` prints it), ray://HOST:10001 for Ray Client, auto, or local for a local Ray."
            ) from exc
        except (ConnectionError, RuntimeError, OSError, ray.exceptions.AuthenticationError) as exc:
            # an AuthenticationError's text reads Ray's mode when printed, after the environment is put back
            why = f"{type(exc).__name__}: {str(getattr(exc, 'message', exc))[:200]}"
            if joins is None:
                token = isinstance(exc, ray.exceptions.AuthenticationError) or (
                    isinstance(exc, OSError) and ".ray" in str(exc)
                )
                fix = (
                    "give Ray a token it can read (RAY_AUTH_TOKEN_PATH or RAY_AUTH_TOKEN; its own is "
                    "~/.ray/auth_token) or set RAY_AUTH_MODE=disabled"
                    if token
                    else "Ray's logs are in its temp folder (/tmp/ray/session_latest/logs by default)"
                )
                raise RayError(
                    f"could not start a local Ray ({why}); {fix}, or join a cluster with --address."
                ) from exc
            raise RayError(
                f"could not join the Ray cluster at {joins!r} ({why}); start one with `ray start --head` and pass its "
                "address (--address or RAY_ADDRESS), or pass --address local for a local Ray."
            ) from exc
    except BaseException:
        logging.getLogger("ray").setLevel(level)
        _restore_auth(auth)
        restore_sigterm(sigterm)  # a ray.init that failed after it set its own: a later SIGTERM ended the run with 1
        raise
    _saved.append((level, auth))
    restore_sigterm(sigterm)
    _ray_reports_to_stderr()
    return True


def _ray_reports_to_stderr() -> None:
    """Send what Ray's driver prints of its raylet's reports (a worker that died, a task it retries) to stderr.

    Ray prints them on stdout whatever ``log_to_driver`` says (``ray/_private/worker.py``: ``listen_error_messages``
    hands them to ``print_to_stdstream`` with ``is_err: False``, Ray 2.60), where ``predict --json`` and ``annotate
    --json`` print one JSON object and nothing else. The function is looked up by name when the driver's thread
    prints, so one that marks every batch as an error takes its place while sxhub's Ray runs (:func:`disconnect`
    puts Ray's back); a Ray without it is left as it is."""
    try:
        from ray._private import worker
    except ImportError:
        return
    original = getattr(worker, "print_to_stdstream", None)
    if original is None or getattr(original, "sxhub_to_stderr", False):
        return

    def to_stderr(data: dict[str, Any], ignore_prefix: bool) -> Any:
        return original({**data, "is_err": True}, ignore_prefix)

    to_stderr.sxhub_to_stderr = True  # type: ignore[attr-defined]
    to_stderr.sxhub_original = original  # type: ignore[attr-defined]
    worker.print_to_stdstream = to_stderr


def _ray_reports_back() -> None:
    """Put back the ``print_to_stdstream`` :func:`_ray_reports_to_stderr` replaced."""
    try:
        from ray._private import worker
    except ImportError:
        return
    original = getattr(getattr(worker, "print_to_stdstream", None), "sxhub_original", None)
    if original is not None:
        worker.print_to_stdstream = original


def cluster_address(address: str | None) -> str | None:
    """The cluster ``ray.init(address=address)`` joins, or None where it starts a local Ray: ``address`` as given,
    else (None or ``auto``) the address that ``ray start`` left in Ray's ``ray_current_cluster`` file, read as Ray
    reads it; ``local`` is always a new one. Where Ray's private reader moved, None (a start: Ray's default)."""
    if address == "local":
        return None
    if address is not None and address != "auto":
        return address
    try:
        from ray._private.services import canonicalize_bootstrap_address

        resolve: Any = canonicalize_bootstrap_address  # annotated as taking a str; ray.init passes it None too
        found = resolve(address)
        return str(found) if found is not None else None
    except ConnectionError:  # auto and no cluster: ray.init says so
        return "auto"
    except Exception:
        return None


def _token_for_local_ray() -> None:
    """Give the local Ray about to start a token of its own in ``$RAY_AUTH_TOKEN`` (put back by :func:`disconnect`)
    where Ray would turn token authentication on (``$RAY_AUTH_MODE`` unset) and has no token (none in the
    environment, no ``~/.ray/auth_token``) and cannot write one: a read-only home, as on many clusters and in CI
    containers, made ``ray.init`` fail with ``OSError: [Errno 30] Read-only file system: '~/.ray'``. Authentication
    stays on, for this run's cluster alone, and nothing is written to the home."""
    import secrets
    from pathlib import Path

    if any(os.environ.get(name) for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")):
        return
    try:
        folder = Path.home() / ".ray"
    except RuntimeError:  # no home at all: Ray's own write fails the same way
        folder = None
    if folder is not None:
        if (folder / "auth_token").exists():
            return
        existing = next(p for p in (folder, *folder.parents) if p.exists())
        if existing.is_dir() and os.access(existing, os.W_OK):
            return  # Ray writes its token there, as for any local Ray
    os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)  # as Ray makes one


def _restore_auth(saved: dict[str, str | None]) -> None:
    """Put Ray's authentication variables back as they were before :func:`connect`, and Ray's cached reading of them
    (``Config.initialize``, as Ray refreshes it when it sets them), so a later ``ray.init`` of the caller's own sees
    what it would have seen without sxhub's run."""
    if all(os.environ.get(name) == value for name, value in saved.items()):
        return
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    with contextlib.suppress(Exception):  # a Ray whose private config moved: the environment is back at least
        import importlib

        raylet: Any = importlib.import_module("ray._raylet")  # compiled; its stub does not list Config
        raylet.Config.initialize("")


AUTH_LOGGER = "ray._private.authentication.authentication_token_setup"
AUTH_NOTICE = "Token authentication is enabled for this Ray cluster"


def _drop_auth_notice(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith(AUTH_NOTICE)


@contextlib.contextmanager
def _without_local_auth_notice(local: bool) -> Iterator[None]:
    """Within ``with`` (``ray.init`` of the ``local`` Ray sxhub starts for one run and stops after it): without Ray's
    warning that it turned token authentication on. Ray 2.60 turns it on for every new local cluster when
    ``$RAY_AUTH_MODE`` is unset (``enable_token_auth_by_default``: a token in ``~/.ray/auth_token``, made where there
    is none) and says so at WARNING, ``Token authentication is enabled for this Ray cluster. Set RAY_AUTH_MODE=disabled
    to opt out``: every ``predict``/``annotate --engine ray`` without ``--address`` printed it, about a cluster the
    user never started, whose life is the run. Authentication stays on; only that line goes, and only here: joining
    a cluster (``--address``, ``$RAY_ADDRESS``, or one ``ray start`` left running, :func:`cluster_address`) keeps
    every line Ray writes about it, and so does a ``ray.init`` of the user's own after the run (the filter goes)."""
    if not local:
        yield
        return
    auth = logging.getLogger(AUTH_LOGGER)
    auth.addFilter(_drop_auth_notice)
    try:
        yield
    finally:
        auth.removeFilter(_drop_auth_notice)


BACKEND_LOG_LEVEL = "RAY_BACKEND_LOG_LEVEL"
LEVEL_NOTICE = b"Set ray log level from environment variable RAY_BACKEND_LOG_LEVEL"


@contextlib.contextmanager
def quiet_backend_logs(quiet: bool) -> Iterator[None]:
    """Within ``with`` (``ray.init`` under ``quiet``): Ray's C++ logs at ``fatal`` (``$RAY_BACKEND_LOG_LEVEL``, read
    as each of Ray's processes starts) unless the user set a level; this process's environment is put back after.

    Ray's C++ logger copies every line from ERROR up to stderr whatever its log file, and Ray Data's actor pool always
    passes its actors object references: each ``sxhub -q predict --engine ray`` printed ``core_worker.cc: Actor ...
    has constructor arguments in the object store and max_restarts > 0 ...``. No setting of Ray's turns that line
    off alone. The level does, and makes the driver log that it was set (``logging.cc: Set ray log level from
    environment variable ...``, at INFO, to stderr: its log file is not open yet); that one line is dropped from
    what ``ray.init`` writes on stderr (:func:`_without_level_notice`), everything else is shown as it came. The
    processes a local Ray starts here (raylet, GCS, workers) inherit the level, so their log files keep fatal lines
    only; a joined cluster's processes are not touched. A failure still ends the run with its error (Ray raises it
    in Python), and a run without ``-q`` keeps Ray's logs as they were."""
    if not quiet or BACKEND_LOG_LEVEL in os.environ:
        yield
        return
    os.environ[BACKEND_LOG_LEVEL] = "fatal"
    try:
        with _without_level_notice():
            yield
    finally:
        os.environ.pop(BACKEND_LOG_LEVEL, None)


@contextlib.contextmanager
def _without_level_notice() -> Iterator[None]:
    """File descriptor 2 (where Ray's C++ logger writes, whatever ``sys.stderr`` is) held in a temporary file within
    ``with``; its lines are written back to it after, less Ray's line that it read ``$RAY_BACKEND_LOG_LEVEL``."""
    import sys
    import tempfile

    def flush() -> None:  # Python's own buffered lines first, in their order
        for stream in (sys.stderr, sys.__stderr__):
            with contextlib.suppress(Exception):
                stream.flush()  # type: ignore[union-attr]

    flush()
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as held:
            os.dup2(held.fileno(), 2)
            try:
                yield
            finally:
                flush()
                os.dup2(saved, 2)
                held.seek(0)
                kept = [line for line in held.read().splitlines(keepends=True) if LEVEL_NOTICE not in line]
                if kept:
                    os.write(2, b"".join(kept))
    finally:
        os.close(saved)


def sigterm_handler() -> Any:
    """The SIGTERM handler set now (None outside the main thread, where none can be set)."""
    import signal
    import threading

    return signal.getsignal(signal.SIGTERM) if threading.current_thread() is threading.main_thread() else None


def restore_sigterm(handler: Any) -> None:
    """Set ``handler`` (one of Python code: the CLI's raises :class:`~sxhub.interrupts.Terminated`) for SIGTERM again.

    ``ray.init`` replaces it with its own, which exits: a SIGTERM on the driver ended it with exit code 1 and no
    line, the shards' workers killed with their requests in flight, instead of a tidy stop (143 'Terminated; ...')."""
    import signal

    if callable(handler) and signal.getsignal(signal.SIGTERM) is not handler:
        signal.signal(signal.SIGTERM, handler)


PROBE_SECONDS = 5.0


def check_address(address: str) -> None:
    """Refuse at once, in one line, a ``host:port`` (or ``ray://host:port``) where nothing takes connections: Ray
    retries a cluster that is not there for some twenty minutes (a connect timeout and a 30 s wait per try,
    printing warnings) before it gives up. ``auto`` and other forms are left to Ray."""
    why = unreachable(address)
    if why:
        raise RayAddressError(
            f"no Ray cluster answers at {address!r} ({why}); check the address (the head node's `ray start --head` "
            "prints it, port 6379 by default; ray://HOST:10001 for Ray Client) and that the node is up, or pass "
            "--address local for a local Ray."
        )


def unreachable(address: str) -> str | None:
    """Why nothing takes connections at a ``host:port`` (or ``ray://host:port``), e.g. ``Connection refused``; None
    where something does, or for ``auto``, ``local`` and other forms (left to Ray)."""
    import socket

    host_port = address.removeprefix("ray://")
    host, sep, port = host_port.rpartition(":")
    if not sep or not host or not port.isdigit() or "/" in host_port:
        return None
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_SECONDS).close()
    except OSError as exc:
        return exc.strerror or str(exc) or type(exc).__name__
    return None


def disconnect(owned: bool) -> None:
    """End the Ray that :func:`connect` started or joined (``owned``), and put back its ``"ray"`` logger's level and
    Ray's authentication variables in this process's environment."""
    if owned:
        ray_module().shutdown()
        _ray_reports_back()  # after the shutdown: the driver's thread printing them has stopped
        if _saved:
            level, auth = _saved.pop()
            logging.getLogger("ray").setLevel(level)
            _restore_auth(auth)


def task_cause(exc: BaseException) -> BaseException:
    """The error a Ray task or actor raised, out of Ray's wrappers: a ``RayTaskError``'s ``cause``, and the error a
    Ray Data ``UserCodeException`` was raised from; ``exc`` itself where it is no such wrapper."""
    try:
        from ray.exceptions import UserCodeException
    except ImportError:
        return exc
    for _ in range(8):  # a wrapper in a wrapper, at most a few deep
        inner = getattr(exc, "cause", None) if type(exc).__module__.startswith("ray.") else None
        if not isinstance(inner, BaseException) and isinstance(exc, UserCodeException):
            inner = exc.__cause__
        if not isinstance(inner, BaseException):
            break
        exc = inner
    return exc


def sxhub_cause(exc: BaseException) -> BaseException:
    """The sxhub error inside a Ray task error (so the CLI gives its one line and exit code), else ``exc``."""
    cause = task_cause(exc)
    return cause if isinstance(cause, SxhubError) and cause is not exc else exc


def task_failure(exc: BaseException) -> str:
    """What a Ray task's error says, in a few words: ``ValueError: the message`` of the error the task raised (its
    first line), not the first line of Ray's text (``ray::_run_shard() (pid=..., ip=...)``: where, not what). An
    error of Ray's own that carries a traceback as text (an actor that died in its constructor) gives its last
    line, the error raised there; one without (a worker lost to memory) its first."""
    import re

    cause = task_cause(exc)
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(cause))  # Ray colours the task's name
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return type(cause).__name__
    traceback = type(cause).__module__.startswith("ray.") and any(line.startswith('File "') for line in lines)
    line = lines[-1] if traceback else lines[0]  # a traceback's last line names the error; else Ray's first says it
    return f"{type(cause).__name__}: {line[:200]}"


# ------------------------------------------------------------------------------------------------------------------
# training beyond one process: `sxhub train` under torchrun / accelerate launch (the Trainer's DDP)
# ------------------------------------------------------------------------------------------------------------------
def world_size() -> int:
    """Processes in this training run (``WORLD_SIZE``, set by torchrun and accelerate launch; 1 otherwise)."""
    return max(1, int(os.environ.get("WORLD_SIZE", "1") or 1))


def is_main_process() -> bool:
    """Whether this process saves the model and writes files (global rank 0, or a run of one process)."""
    return int(os.environ.get("RANK", "0") or 0) == 0


def checkpoint_folder(output_dir: Path) -> Path:
    """The Trainer's checkpoint folder inside ``output_dir``: a fresh temporary one for one process; for a
    distributed run one name that every process derives alike (rank 0 saves the checkpoints there, and every rank
    loads the best one back from it at the end)."""
    import hashlib
    import tempfile

    if world_size() == 1:
        return Path(tempfile.mkdtemp(prefix=".checkpoints-", dir=output_dir))
    run = ":".join(os.environ.get(k, "") for k in ("MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RUN_ID"))
    folder = output_dir / f".checkpoints-ddp-{hashlib.sha256(run.encode()).hexdigest()[:10]}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
