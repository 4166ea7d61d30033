"""Stand-in for Ollama: its OpenAI-compatible ``/v1/chat/completions`` and its native ``/api/chat``.

Written from ollama/ollama at commit fb30760996871fa9460115c753afd2c60d4ab0f7 (tag v0.33.0-rc2):

- openai/openai.go ``FromChatRequest``: ``response_format.type`` (lower-cased, trimmed) ``json_object`` -> native
  ``format: "json"``; ``json_schema`` -> ``format: response_format.json_schema.schema`` (nothing when the
  ``json_schema`` wrapper is absent); any other type -> no format, no error. ``ResponseFormat`` has only ``type`` and
  ``json_schema``: a ``schema`` or ``value`` beside ``type`` is dropped, so llama.cpp's and TGI's forms get JSON only.
- middleware/openai.go ``ChatMiddleware``: a body that does not decode -> 400; no messages -> 400 "[] is too short -
  'messages'"; errors are ``openai.NewError``: ``{"error": {"message", "type", "param": null, "code": null}}`` with
  type invalid_request_error (400), not_found_error (404) or api_error.
- llm/llama_server.go: native ``format`` ``null``/``""`` -> none, ``"json"`` -> JSON grammar, an object -> the
  JSON schema is enforced, anything else -> "invalid format: %q; expected \\"json\\" or a valid JSON Schema object"
  (a 500 ``{"error": ...}`` from ``/api/chat``).
- server/routes.go: ``GET``/``HEAD /api/version`` -> ``{"version": ...}``; ``POST /api/chat`` (``stream`` defaults to
  true: NDJSON lines); ``GET /`` -> "Ollama is running"; unknown routes -> gin's 404 "404 page not found" (text).

Not modelled (501): ``tools``, ``stream: true`` on the OpenAI route. Ollama answers any model name here (a real one
404s models it has not pulled).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from .base import ConformanceServer, Reply, Verdict, not_modelled

INVALID_FORMAT = 'invalid format: {}; expected "json" or a valid JSON Schema object'


def openai_error(status: int, message: str) -> Reply:
    """openai.NewError (openai/openai.go)."""
    kind = {400: "invalid_request_error", 404: "not_found_error"}.get(status, "api_error")
    return Reply(status, {"error": {"message": message, "type": kind, "param": None, "code": None}})


def native_format(fmt: Any) -> Verdict:
    """How llm/llama_server.go reads a native ``format`` value."""
    if fmt is None or fmt == "":
        return Verdict("none")
    if fmt == "json":
        return Verdict("json", None)
    if isinstance(fmt, dict):
        return Verdict("schema", fmt)
    # %q of the raw JSON bytes, as Go prints it
    return Verdict.reject(Reply(500, {"error": INVALID_FORMAT.format(json.dumps(json.dumps(fmt)))}))


class OllamaServer(ConformanceServer):
    """Ollama: ``response_format`` json_schema (OpenAI route) or ``format`` (native ``/api/chat``)."""

    kind = "ollama"
    default_version = "0.33.0"

    def get_routes(self) -> dict[str, Any]:
        version = {"version": self.version}
        models = {
            "object": "list",
            "data": [{"id": self.model, "object": "model", "created": self.started, "owned_by": "library"}],
        }
        tags = {"models": [{"name": self.model, "model": self.model, "size": 0, "digest": "0" * 64, "details": {}}]}
        return {
            "/api/version": Reply(200, version),
            "/": Reply(200, "Ollama is running", "text/plain; charset=utf-8"),
            "/api/tags": Reply(200, tags),
            "/v1/models": Reply(200, models),
        }

    def post_routes(self) -> dict[str, Any]:
        return {"/api/chat": self._native_chat}

    def not_found(self, method: str, path: str) -> Reply:
        return Reply(404, "404 page not found", "text/plain")

    # ------------------------------------------------------------------------------------------------ OpenAI route
    def judge(self, raw: bytes, headers: dict[str, str]) -> tuple[Any, Verdict]:
        try:
            body = json.loads(raw)
        except ValueError as exc:
            return None, Verdict.reject(openai_error(400, str(exc)))
        if not isinstance(body, dict):
            message = "json: cannot unmarshal array into Go value of type openai.ChatCompletionRequest"
            return body, Verdict.reject(openai_error(400, message))
        fmt = body.get("response_format")
        if fmt is not None and not isinstance(fmt, dict):
            message = "json: cannot unmarshal string into Go struct field ChatCompletionRequest.response_format"
            return body, Verdict.reject(openai_error(400, message))
        if not body.get("messages"):
            return body, Verdict.reject(openai_error(400, "[] is too short - 'messages'"))
        if body.get("stream"):
            return body, not_modelled(self.kind, "stream: true on /v1/chat/completions")
        if body.get("tools"):
            return body, not_modelled(self.kind, "tools")
        native: Any = None
        if fmt is not None:
            kind = str(fmt.get("type") or "").strip().lower()
            if kind == "json_object":
                native = "json"
            elif kind == "json_schema" and isinstance(fmt.get("json_schema"), dict):
                native = fmt["json_schema"].get("schema")
        verdict = native_format(native)
        if verdict.error is not None:
            message = verdict.error.body["error"]
            return body, Verdict.reject(openai_error(500, message))
        return body, verdict

    def completion(self, body: dict[str, Any], content: str) -> Reply:
        """openai.ToChatCompletion."""
        return Reply(
            200,
            {
                "id": f"chatcmpl-{self.next_id()}",
                "object": "chat.completion",
                "created": self.started,
                "model": body.get("model") or self.model,
                "system_fingerprint": "fp_ollama",
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                ],
                "usage": self.usage(body, content),
            },
        )

    # ------------------------------------------------------------------------------------------------ native route
    def _native_chat(self, raw: bytes, headers: dict[str, str]) -> Reply:
        return self.answer_chat(raw, headers, judge=self._native_judge, wrap=self._native_wrap)

    def _native_judge(self, raw: bytes, headers: dict[str, str]) -> tuple[Any, Verdict]:
        try:
            body = json.loads(raw)
        except ValueError as exc:
            return None, Verdict.reject(Reply(400, {"error": str(exc)}))
        if not isinstance(body, dict):
            return body, Verdict.reject(
                Reply(400, {"error": "json: cannot unmarshal array into Go value of type api.ChatRequest"})
            )
        if body.get("tools"):
            return body, not_modelled(self.kind, "tools")
        verdict = native_format(body.get("format"))
        if verdict.error is not None and body.get("stream", True):  # streaming has sent 200 before the model fails
            error_line = json.dumps(verdict.error.body) + "\n"
            return body, Verdict.reject(Reply(200, error_line, "application/x-ndjson"))
        return body, verdict

    def _native_wrap(self, body: dict[str, Any], content: str) -> Reply:
        usage = self.usage(body, content)
        done = {
            "model": body.get("model") or self.model,
            "created_at": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
            "message": {"role": "assistant", "content": content},
            "done_reason": "stop",
            "done": True,
            "total_duration": 1_000_000,
            "load_duration": 1_000,
            "prompt_eval_count": usage["prompt_tokens"],
            "prompt_eval_duration": 1_000,
            "eval_count": usage["completion_tokens"],
            "eval_duration": 1_000,
        }
        if body.get("stream", True) is False:
            return Reply(200, done)
        chunk = {**{k: done[k] for k in ("model", "created_at")}, "message": done["message"], "done": False}
        last = {**done, "message": {"role": "assistant", "content": ""}}
        lines = json.dumps(chunk) + "\n" + json.dumps(last) + "\n"
        return Reply(200, lines, "application/x-ndjson")
