"""The part every conformance server shares: a threaded HTTP server on 127.0.0.1 that records what it was sent.

A subclass says, from the real server's source, three things: which GET routes exist (and the 404 of the rest),
how a chat request is judged (:class:`Verdict`: rejected with the server's own status and body, or accepted with
the level it enforces: schema, json or none), and how an accepted answer is wrapped. This module does the HTTP,
the recording, the ``delay`` and the message content (:mod:`servers.answers`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, ClassVar

from .answers import StandInError, content_for, schema_hint

if TYPE_CHECKING:
    from typing import Self

logger = logging.getLogger(__name__)

ENFORCED = ("schema", "json", "none", "rejected")
# the OpenAPI document a FastAPI app (vLLM, SGLang) serves at /openapi.json, its paths left out
FASTAPI_OPENAPI = {"openapi": "3.1.0", "info": {"title": "FastAPI", "version": "0.1.0"}, "paths": {}}


@dataclass(frozen=True)
class Exchange:
    """One HTTP exchange as the server saw it: method, path (query included), parsed JSON body or None, status."""

    method: str
    path: str
    body: Any
    status: int


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: a JSON value (dict/list), text (str) or raw bytes, with its content type."""

    status: int
    body: Any = b""
    content_type: str | None = "application/json"
    headers: tuple[tuple[str, str], ...] = ()

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Verdict:
    """What the real server's request handling makes of one chat request."""

    enforced: str  # schema | json | none | rejected
    schema: dict[str, Any] | None = None  # the schema it enforces, or (json) the one it ignores, for the answer
    error: Reply | None = None  # the rejection, when enforced == "rejected"

    @classmethod
    def reject(cls, reply: Reply) -> Verdict:
        return cls("rejected", None, reply)


def not_modelled(kind: str, what: str) -> Verdict:
    """A request the real server would handle in a way this stand-in does not reproduce: fail loudly (501)."""
    message = f"conformance stand-in ({kind}) does not model {what}; extend tests/servers/{kind.split('-')[0]}.py"
    return Verdict.reject(Reply(501, {"stand_in_error": message}))


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # handler threads never keep the process (or __exit__) waiting
    request_queue_size = 256  # the default backlog of 5 drops connections under concurrency


class ConformanceServer:
    """A stand-in for one teacher server kind, run in a daemon thread on a free port of 127.0.0.1.

    Subclasses set ``kind`` and ``default_version`` and implement :meth:`get_routes`, :meth:`not_found`,
    :meth:`judge` and :meth:`completion` (and :meth:`post_routes` for extra POST routes such as Ollama's
    ``/api/chat``).
    """

    kind: ClassVar[str] = ""
    default_version: ClassVar[str] = ""
    chat_path: ClassVar[str] = "/v1/chat/completions"

    def __init__(self, *, delay: float = 0.0, model: str = "stub-model", version: str | None = None) -> None:
        self.delay = delay
        self.model = model
        self.version = version or self.default_version
        self.requests: list[dict[str, Any]] = []
        self.exchanges: list[Exchange] = []
        self.enforced: list[str] = []
        self.started = int(time.time())
        self._lock = threading.Lock()
        self._count = 0
        self._httpd = _HTTPServer(("127.0.0.1", 0), self._handler_class())
        # a short poll interval makes __exit__ (shutdown) return within ~50 ms instead of 0.5 s
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=f"{self.kind}-stand-in", daemon=True
        )

    # ------------------------------------------------------------------------------------------------ lifecycle
    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def url(self) -> str:
        return self.root + "/v1"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()  # returns within one poll interval; handler threads are daemons, never joined
        self._httpd.server_close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind} {self.version} at {self.root}>"

    # ------------------------------------------------------------------------------------------------ subclass API
    def get_routes(self) -> dict[str, Any]:
        """GET path -> Reply (or a callable returning one) for the routes the real server has besides chat."""
        return {}

    def post_routes(self) -> dict[str, Any]:
        """Extra POST path -> handler(raw body, lower-cased headers) -> Reply."""
        return {}

    def not_found(self, method: str, path: str) -> Reply:
        raise NotImplementedError

    def judge(self, raw: bytes, headers: dict[str, str]) -> tuple[Any, Verdict]:
        """(parsed body or None, verdict) for a POST to the chat route, the way the real server decides."""
        raise NotImplementedError

    def completion(self, body: dict[str, Any], content: str) -> Reply:
        """The real server's success answer around ``content``."""
        raise NotImplementedError

    # ------------------------------------------------------------------------------------------------ helpers
    def next_id(self) -> int:
        with self._lock:
            self._count += 1
            return self._count

    @staticmethod
    def usage(body: dict[str, Any], content: str) -> dict[str, int]:
        """Token counts as whitespace words (deterministic; real servers count tokens)."""
        prompt = sum(len(str(m.get("content", "")).split()) for m in body.get("messages") or [] if isinstance(m, dict))
        completion = len(content.split())
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def openai_completion(
        self, body: dict[str, Any], content: str, *, finish_reason: str = "stop", **fields: Any
    ) -> Reply:
        """The OpenAI API's own ``chat.completion`` answer around ``content``, as the generic server, LocalAI and
        Ollama's ``/v1`` route write it; ``fields`` (Ollama's ``system_fingerprint``) stand after ``model``."""
        return Reply(
            200,
            {
                "id": f"chatcmpl-{self.next_id()}",
                "object": "chat.completion",
                "created": self.started,
                "model": body.get("model") or self.model,
                **fields,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish_reason}
                ],
                "usage": self.usage(body, content),
            },
        )

    def model_list(self, owned_by: str, **fields: Any) -> dict[str, Any]:
        """``/v1/models`` as the FastAPI servers (vLLM, SGLang) list their one model: its card, ``fields`` last."""
        card = {
            "id": self.model,
            "object": "model",
            "created": self.started,
            "owned_by": owned_by,
            "root": self.model,
            **fields,
        }
        return {"object": "list", "data": [card]}

    def answer_chat(self, raw: bytes, headers: dict[str, str], *, judge: Any = None, wrap: Any = None) -> Reply:
        """Judge, record, wait ``delay``, answer: the flow every chat route shares (``judge``/``wrap`` default to
        :meth:`judge` and :meth:`completion`; Ollama's native ``/api/chat`` passes its own)."""
        judge, wrap = judge or self.judge, wrap or self.completion
        body: Any = None
        content = ""
        try:
            body, verdict = judge(raw, headers)
            if verdict.error is None:
                schema = verdict.schema
                if verdict.enforced == "json" and schema is None:
                    schema = schema_hint(body)  # a schema the server ignored: the JSON-only answer must fail it
                content = content_for(verdict.enforced, schema, body)
        except StandInError as exc:
            verdict = Verdict.reject(Reply(501, {"stand_in_error": str(exc)}))
        if isinstance(body, dict):
            with self._lock:
                self.requests.append(body)
                self.enforced.append(verdict.enforced)
        if verdict.error is not None:
            return verdict.error  # real servers reject before any generation: no delay
        if self.delay:
            time.sleep(self.delay)
        return wrap(body, content)

    # ------------------------------------------------------------------------------------------------ HTTP
    def _record(self, method: str, path: str, raw: bytes | None, status: int) -> None:
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        with self._lock:
            self.exchanges.append(Exchange(method, path, body, status))

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no 40 ms delayed-ACK stalls per request

            def log_message(self, *args: Any) -> None:  # keep test output clean
                return

            def _send(self, reply: Reply, *, head: bool = False) -> None:
                data = reply.payload()
                self.send_response(reply.status)
                if reply.content_type:
                    self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(data)))
                for key, value in reply.headers:
                    self.send_header(key, value)
                self.end_headers()
                try:
                    if not head:
                        self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                    return

            def _read(self) -> bytes:
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _route(self, method: str) -> None:
                path = self.path.split("?", 1)[0]
                raw = self._read() if method == "POST" else None
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    if method == "POST" and path == server.chat_path:
                        reply = server.answer_chat(raw or b"", headers)
                    elif method == "POST" and path in server.post_routes():
                        reply = server.post_routes()[path](raw or b"", headers)
                    elif method in ("GET", "HEAD") and path in server.get_routes():
                        route = server.get_routes()[path]
                        reply = route() if callable(route) else route
                    else:
                        reply = server.not_found(method, path)
                except Exception as exc:  # a stand-in bug: answer it loudly instead of hanging the client
                    logger.exception("conformance stand-in %s failed on %s %s", server.kind, method, path)
                    reply = Reply(500, {"stand_in_error": f"{type(exc).__name__}: {exc}"})
                server._record(method, self.path, raw, reply.status)
                self._send(reply, head=method == "HEAD")

            def do_GET(self) -> None:
                self._route("GET")

            def do_HEAD(self) -> None:
                self._route("HEAD")

            def do_POST(self) -> None:
                self._route("POST")

        return Handler
