"""A local stand-in for an OpenAI-compatible chat-completions server, run in a thread (tests and benchmarks).

It answers ``POST /v1/chat/completions`` and ``GET /v1/models``, records every request body, and lets a test decide
each answer with a ``responder(body, n) -> Action`` (``n`` counts the calls for that text, from 1). The default
answer is a deterministic label chosen from the enum of the request's JSON schema, so replies are stable across runs.
It also answers ``GET /props`` the way llama.cpp's server does, so sxhub detects it as llama.cpp and sends the
schema in llama.cpp's form (``response_format={"type": "json_object", "schema": ...}``), which it reads. Tests of
how each real server kind validates and enforces requests use the stand-ins in ``tests/servers/`` instead.

    with FakeOpenAIServer(delay=0.1) as server:
        teacher = TeacherSpec(base_url=server.url, model="fake")
        ...
        assert len(server.requests) == 10
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Answer:
    """A 200 reply whose message content is ``content`` (any text, valid JSON or not); ``usage=False`` leaves out
    the token counts (``usage`` is optional in the OpenAI schema)."""

    content: str
    usage: bool = True


@dataclass
class Fail:
    """An HTTP error reply."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: str = '{"error": "injected failure"}'


@dataclass
class Hang:
    """Wait ``seconds`` before answering (past the client's timeout), then answer normally."""

    seconds: float


@dataclass
class Raw:
    """A 200 reply with exactly this JSON body (a reasoning model's null content, a refusal, an error payload)."""

    body: dict[str, Any]


Action = Answer | Fail | Hang | Raw
Responder = Callable[[dict[str, Any], int], Action]


def user_text(body: dict[str, Any]) -> str:
    """The content of the last user message of a request."""
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    return str(users[-1]["content"]) if users else ""


def schema_of(body: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema a request asks for, whatever response_format form it uses."""
    fmt = body.get("response_format") or {}
    return fmt.get("schema") or (fmt.get("json_schema") or {}).get("schema") or fmt.get("value") or {}


def default_answer(body: dict[str, Any]) -> str:
    """A valid answer: a label picked by hashing the user text (stable across runs and processes)."""
    props = schema_of(body).get("properties", {})
    if "labels" in props:
        names = props["labels"]["items"]["enum"]
    elif "label" in props:
        names = props["label"]["enum"]
    else:
        names = ["positive", "neutral", "negative"]
    digest = int(hashlib.sha256(user_text(body).encode()).hexdigest(), 16)
    name = names[digest % len(names)]
    answer: dict[str, Any] = {"reason": "stub reason"} if "reason" in props else {}
    answer.update({"labels": [name]} if "labels" in props else {"label": name})
    return json.dumps(answer)


def completion(content: str, model: str = "fake") -> dict[str, Any]:
    """A chat-completion response body."""
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fake",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 50, "completion_tokens": 8, "total_tokens": 58},
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default backlog of 5 drops connections under concurrency (1 s SYN retries)


class FakeOpenAIServer:
    """The server; a context manager that runs it in a daemon thread on a free port of 127.0.0.1."""

    def __init__(self, responder: Responder | None = None, *, delay: float = 0.0, port: int = 0) -> None:
        self.responder = responder
        self.delay = delay
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.per_text: Counter[str] = Counter()
        self.models = ["fake"]  # what GET /v1/models lists (a test may change it, as a server restarted with another)
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", port), self._handler())  # port: a restart where another one ran
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def decide(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> Action:
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers or {})
            text = user_text(body)
            self.per_text[text] += 1
            n = self.per_text[text]
        if self.responder is not None:
            return self.responder(body, n)
        return Answer(default_answer(body))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no 40 ms delayed-ACK stalls per request

            def log_message(self, *args: Any) -> None:  # keep test output clean
                return

            def _send(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                    return

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    listed = [{"id": m, "object": "model"} for m in server.models]
                    self._send(200, json.dumps({"object": "list", "data": listed}))
                elif self.path == "/props":  # says "llama.cpp" to sxhub's server detection (see the docstring)
                    self._send(200, json.dumps({"default_generation_settings": {}, "build_info": "fake"}))
                else:
                    self._send(404, '{"error": "not found"}')

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, '{"error": "not found"}')
                    return
                action = server.decide(body, {k.lower(): v for k, v in self.headers.items()})
                if server.delay:
                    time.sleep(server.delay)
                if isinstance(action, Hang):
                    time.sleep(action.seconds)
                    action = Answer(default_answer(body))
                if isinstance(action, Fail):
                    self._send(action.status, action.body, action.headers)
                elif isinstance(action, Raw):
                    self._send(200, json.dumps(action.body))
                else:
                    reply = completion(action.content, body.get("model") or "fake")
                    if not action.usage:
                        reply.pop("usage", None)
                    self._send(200, json.dumps(reply))

        return Handler
