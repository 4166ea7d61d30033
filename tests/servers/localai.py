"""Stand-in for LocalAI: an OpenAI-compatible server that answers vLLM's and Ollama's detection routes too.

Written from mudler/LocalAI at commit 82c191afadf5f005281e798ccfa0ffd0d5805030:

- core/http/routes/localai.go: ``GET /version`` -> ``{"version": internal.PrintableVersion()}``, which is
  ``"<version> (<commit>)"`` (internal/version.go): the same ``{"version": ...}`` body vLLM's ``/version`` answers;
- core/http/routes/ollama.go (added in commit 85be4ff03c3290ec24376502ecb264219dcbaafd, "feat(api): add ollama
  compatibility", April 2026): ``GET``/``HEAD /api/version`` -> ``{"version": "0.9.0"}`` (a constant,
  ``ollamaCompatVersion`` in core/http/endpoints/ollama/models.go) and ``POST /api/chat``;
- core/http/endpoints/ollama/chat.go ``ChatEndpoint``: the request's ``format`` (``schema.OllamaChatRequest.Format``)
  is decoded but never copied into the OpenAI request it builds, and ``truncate``/``shift`` are not fields at all:
  whatever ``format`` says, nothing is enforced; the answer is ``schema.OllamaChatResponse`` with
  ``done_reason: "stop"``;
- core/http/endpoints/openai/chat.go: ``response_format`` ``json_object`` -> a JSON grammar
  (``functions.JSONBNF``), ``json_schema`` -> a grammar made from ``json_schema.schema``; any other field
  (``structured_outputs``, ``guided_json``) is not read;
- core/http/endpoints/openai/list.go: ``/v1/models`` lists ``{"id", "object": "model"}``, no ``owned_by``;
- core/http/render.go ``notFoundHandler``: an unknown route answers 404 ``{"error": {"code": 404, "message":
  "Resource not found", "type": ""}}`` to a client that does not ask for HTML.

``ollama_api=False`` stands for LocalAI before that commit (``/version`` only). The grammar is enforced only by the
backends that take one (llama.cpp); the stand-in enforces it, as for a llama.cpp-backed model.
"""

from __future__ import annotations

import json
import time
from typing import Any

from .base import ConformanceServer, Reply, Verdict

OLLAMA_COMPAT_VERSION = "0.9.0"


class LocalAIServer(ConformanceServer):
    """LocalAI: enforces ``response_format`` (as a grammar), ignores vLLM's and Ollama's constraint fields."""

    kind = "localai"
    default_version = "v3.5.0"

    def __init__(self, *, ollama_api: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ollama_api = ollama_api

    def get_routes(self) -> dict[str, Any]:
        models = {"object": "list", "data": [{"id": self.model, "object": "model"}]}
        routes: dict[str, Any] = {
            "/version": Reply(200, {"version": f"{self.version} (0000000)"}),
            "/v1/models": Reply(200, models),
        }
        if self.ollama_api:
            routes["/api/version"] = Reply(200, {"version": OLLAMA_COMPAT_VERSION})
        return routes

    def post_routes(self) -> dict[str, Any]:
        return {"/api/chat": self._native_chat} if self.ollama_api else {}

    def not_found(self, method: str, path: str) -> Reply:
        return Reply(404, {"error": {"code": 404, "message": "Resource not found", "type": ""}})

    def judge(self, raw: bytes, headers: dict[str, str]) -> tuple[Any, Verdict]:
        try:
            body = json.loads(raw)
        except ValueError as exc:
            return None, Verdict.reject(Reply(400, {"error": {"code": 400, "message": str(exc), "type": ""}}))
        fmt = body.get("response_format") if isinstance(body, dict) else None
        kind = fmt.get("type") if isinstance(fmt, dict) else None
        if kind == "json_object":
            return body, Verdict("json")
        if kind == "json_schema":
            schema = (fmt.get("json_schema") or {}).get("schema")
            return body, Verdict("schema", schema) if isinstance(schema, dict) else Verdict("none")
        return body, Verdict("none")

    def completion(self, body: dict[str, Any], content: str) -> Reply:
        return self.openai_completion(body, content)

    def _native_chat(self, raw: bytes, headers: dict[str, str]) -> Reply:
        def judge(raw: bytes, headers: dict[str, str]) -> tuple[Any, Verdict]:
            try:
                body = json.loads(raw)
            except ValueError as exc:
                return None, Verdict.reject(Reply(400, {"error": str(exc)}))
            return body, Verdict("none")  # `format` is decoded and dropped

        def wrap(body: dict[str, Any], content: str) -> Reply:
            usage = self.usage(body, content)
            return Reply(
                200,
                {
                    "model": body.get("model") or self.model,
                    "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "message": {"role": "assistant", "content": content},
                    "done": True,
                    "done_reason": "stop",
                    "total_duration": 1,
                    "prompt_eval_count": usage["prompt_tokens"],
                    "eval_count": usage["completion_tokens"],
                },
            )

        return self.answer_chat(raw, headers, judge=judge, wrap=wrap)
