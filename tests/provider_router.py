"""A stand-in for Hugging Face's Inference Providers router, for a teacher given as a Hub model id.

The router itself is not open source, so this stand-in is written from the client that talks to it,
huggingface_hub 2.4.0 (the version installed here; wheel ``huggingface_hub-2.4.0-py3-none-any.whl``):

- ``inference/_providers/__init__.py`` ``get_provider_helper``: a chat request without a provider goes to the
  ``CONVERSATIONAL_AUTO_ROUTER`` (``_common.py`` ``AutoRouterConversationalTask``: base URL
  ``https://router.huggingface.co``, route ``/v1/chat/completions``, the body's ``model`` is the Hub model id, no
  provider mapping is fetched). With a provider, the mapping comes from ``GET /api/models/{id}?expand=
  inferenceProviderMapping`` on the Hub (``_common.py`` ``_fetch_inference_provider_mapping``; ``hf_api.py``
  ``ModelInfo`` reads it as a dict provider -> ``{providerId, status, task}``), and an ``hf_`` token routes the
  request through ``INFERENCE_PROXY_TEMPLATE`` = ``https://router.huggingface.co/{provider}`` + ``/v1/chat/completions``
  (``_common.py`` ``TaskProviderHelper._prepare_base_url``), with ``model`` set to the provider's id.
- ``inference/_providers/together.py`` ``TogetherConversationalTask._prepare_payload_as_dict``: for Together the
  client flattens the OpenAI form into ``{"type": "json_schema", "schema": S}``, the form Together reads.

So the stand-in checks what each route must receive to constrain the answer: the OpenAI ``json_schema`` form on the
auto router (OpenAI-compatible, documented as supporting structured outputs), Together's flattened form on
``/together``; it answers schema-valid JSON then, and JSON that breaks the schema otherwise. It serves the Hub's
model-info route for the mapping, so ``constants.ENDPOINT`` can point here too.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from servers.answers import invalid_instance, user_text, valid_instance

MODEL = "org/teacher-model"
TOGETHER_ID = "together-org/teacher-model-turbo"


def auto_router_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema" and isinstance(fmt.get("json_schema"), dict):
        return fmt["json_schema"].get("schema")
    return None


def together_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    fmt = body.get("response_format") or {}
    return fmt.get("schema") if fmt.get("type") == "json_schema" else None


def unsupported_model(model: str) -> dict[str, Any]:
    """The router's answer to a model that no provider enabled for the token serves: HTTP 400 "The requested model
    'M' is not supported by any provider you have enabled." (as users met it through the router's OpenAI-compatible
    route: cline/cline issue #5098, n4ze3m/page-assist issue #727), in the OpenAI error object's form."""
    return {
        "error": {
            "message": f"The requested model '{model}' is not supported by any provider you have enabled.",
            "type": "invalid_request_error",
            "param": "model",
            "code": "model_not_supported",
        }
    }


class ProviderRouter:
    """``with ProviderRouter() as router:``; ``router.root`` is both the Hub endpoint and the router's base URL."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []  # (path, body) of every chat request
        self.enforced: list[str] = []
        self.model_info_calls = 0
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> ProviderRouter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def chat(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if path == "/v1/chat/completions":
            expected_model, schema = MODEL, auto_router_schema(body)
        elif path == "/together/v1/chat/completions":
            expected_model, schema = TOGETHER_ID, together_schema(body)
        else:
            return 404, {"error": f"no route {path}"}
        if body.get("model") != expected_model:
            return 400, unsupported_model(str(body.get("model")))
        with self._lock:
            self.requests.append((path, body))
            self.enforced.append("schema" if schema else "json")
        seed = user_text(body)
        answer = valid_instance(schema, seed) if schema else invalid_instance(None, seed)
        return 200, {
            "id": "chatcmpl-router",
            "object": "chat.completion",
            "model": expected_model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": json.dumps(answer)}}],
            "usage": {"prompt_tokens": 40, "completion_tokens": 6, "total_tokens": 46},
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        router = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.split("?")[0] == f"/api/models/{MODEL}":
                    router.model_info_calls += 1
                    mapping = {"together": {"providerId": TOGETHER_ID, "status": "live", "task": "conversational"}}
                    self._send(200, {"_id": "x", "id": MODEL, "inferenceProviderMapping": mapping})
                else:
                    self._send(404, {"error": "not found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                self._send(*router.chat(self.path, body))

        return Handler
