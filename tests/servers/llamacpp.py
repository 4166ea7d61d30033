"""Stand-ins for llama.cpp's ``llama-server`` and for llama-cpp-python's server (two kinds: llamacpp, llamacpp-python).

**llama.cpp** (ggml-org/llama.cpp; too large to fetch whole, files read from the public index):

- tools/server/server-common.cpp at 006639c3ff51a3dbde5f52ebf4c5a55ad5306caf, ``oaicompat_chat_params_parse``:
  a top-level ``json_schema`` together with ``grammar`` -> std::runtime_error "Cannot use both json_schema and
  grammar"; ``response_format.type == "json_object"`` -> the schema is ``response_format.schema`` (``{}`` when
  absent, which overrides a top-level ``json_schema``); ``"json_schema"`` -> ``response_format.json_schema.schema``
  (``{}`` when absent: a ``schema`` directly under response_format is NOT read); ``"text"`` or no type -> no
  constraint; any other type -> std::invalid_argument "response_format type must be one of \\"text\\" or
  \\"json_object\\", but got: X". Then "'messages' is required", "Expected 'messages' to be an array", "All
  non-assistant messages must contain 'content'". The schema becomes a grammar (``common_chat_templates_apply``):
  ``{}`` means any JSON value (JSON only), a non-empty schema is enforced.
- Errors (``format_error_response`` / ``ex_wrapper``): std::invalid_argument -> 400 ``invalid_request_error``, other
  exceptions -> 500 ``server_error``; body ``{"error": {"code", "message", "type"}}``.
- tools/server/server-http.cpp at 00dd0816129a5210351c78bb90e0828f8eb69f99: unknown routes -> 404
  ``{"error": {"message": "File Not Found", "type": "not_found_error", "code": 404}}``.
- ``GET /props`` (server-context.cpp ``get_props``): default_generation_settings, total_slots, model_alias,
  model_path, modalities, endpoint_*, webui, chat_template, bos/eos tokens, build_info.

**llama-cpp-python** (abetlen/llama-cpp-python at 3691546f1c9e0c1bf93323dff02230bd959cf562, version 0.3.35; checked
against the installed 0.3.36 by driving its real FastAPI router with a fake model):

- llama_cpp/llama_types.py ``ChatCompletionRequestResponseFormat``: a TypedDict ``{type: Literal["text",
  "json_object"], schema: NotRequired[JsonType]}``; other keys (``value``) are dropped by pydantic.
- llama_cpp/llama_chat_format.py ``_grammar_for_response_format``: ``json_object`` with ``schema`` -> grammar from
  the schema; ``json_object`` without -> a JSON grammar; ``text`` -> none.
- Any other type fails request validation, and llama_cpp/server/errors.py ``RouteErrorHandler`` turns that
  exception into HTTP **500** ``{"error": {"message": <the RequestValidationError text>, "type":
  "internal_server_error", "param": null, "code": null}}``. ``messages`` defaults to ``[]`` (not required).
- llama_cpp/server/app.py: FastAPI titled "🦙 llama.cpp Python API" (so ``/openapi.json`` tells it apart from
  llama.cpp, which has no such route); ``GET /v1/models``; FastAPI's 404 ``{"detail": "Not Found"}``.
- The context window (``n_ctx=N`` here, tokens counted as whitespace words; 0.3.36's llama_cpp/llama.py
  ``_create_completion``): a prompt of ``n_ctx`` tokens or more raises ValueError "Requested tokens (P) exceed
  context window of N", which llama_cpp/server/errors.py turns into HTTP 400 "This model's maximum context length
  is N tokens. ..." (code ``context_length_exceeded``); otherwise ``max_tokens`` is lowered to ``n_ctx - P`` when
  ``max_tokens + P >= n_ctx`` ("Truncate max_tokens if requested tokens would exceed the context window"), and an
  answer stopped there ends with ``finish_reason: "length"`` and ``completion_tokens`` the tokens made (as the real
  server answered with --n_ctx 512: 502 prompt + 10 completion tokens for max_tokens 256).

Not modelled (501): ``grammar`` given by the client, ``stream: true``, ``tools``.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Literal, NotRequired

import pydantic
from typing_extensions import TypedDict

from .base import ConformanceServer, Reply, Verdict, not_modelled


class LlamaCppServer(ConformanceServer):
    """llama.cpp ``llama-server``: ``response_format={"type": "json_object", "schema": S}`` or json_schema."""

    kind = "llamacpp"
    default_version = "b6500-deadbee"

    def props(self) -> dict[str, Any]:
        return {
            "default_generation_settings": {"params": {"temperature": 0.8, "top_k": 40, "top_p": 0.95}, "n_ctx": 4096},
            "total_slots": 1,
            "model_alias": self.model,
            "model_path": f"/models/{self.model}.gguf",
            "modalities": {"vision": False, "audio": False},
            "endpoint_slots": True,
            "endpoint_props": False,
            "endpoint_metrics": False,
            "webui": True,
            "chat_template": "{% for message in messages %}{{ message['content'] }}{% endfor %}",
            "bos_token": "<s>",
            "eos_token": "</s>",
            "build_info": self.version,
        }

    def get_routes(self) -> dict[str, Any]:
        models = {
            "object": "list",
            "data": [
                {"id": self.model, "object": "model", "created": self.started, "owned_by": "llamacpp", "meta": None}
            ],
        }
        return {
            "/props": lambda: Reply(200, self.props()),
            "/health": Reply(200, {"status": "ok"}),
            "/v1/health": Reply(200, {"status": "ok"}),
            "/models": Reply(200, models),
            "/v1/models": Reply(200, models),
        }

    def not_found(self, method: str, path: str) -> Reply:
        return Reply(
            404,
            {"error": {"message": "File Not Found", "type": "not_found_error", "code": 404}},
            "application/json; charset=utf-8",
        )

    @staticmethod
    def _error(message: str, *, invalid_argument: bool) -> Verdict:
        code, kind = (400, "invalid_request_error") if invalid_argument else (500, "server_error")
        return Verdict.reject(Reply(code, {"error": {"code": code, "message": message, "type": kind}}))

    def judge(self, raw: bytes, headers: dict[str, str]) -> tuple[Any, Verdict]:
        try:
            body = json.loads(raw)
        except ValueError as exc:  # nlohmann::json::parse_error is not std::invalid_argument
            return None, self._error(f"[json.exception.parse_error] {exc}", invalid_argument=False)
        if not isinstance(body, dict):
            return body, self._error("[json.exception.type_error] body is not an object", invalid_argument=False)
        if body.get("stream"):
            return body, not_modelled(self.kind, "stream: true")
        if body.get("tools"):
            return body, not_modelled(self.kind, "tools")
        schema = body.get("json_schema")  # llama.cpp's own top-level field
        grammar = body.get("grammar")
        if schema is not None and isinstance(grammar, str) and grammar:
            return body, self._error("Cannot use both json_schema and grammar", invalid_argument=False)
        if "response_format" in body:
            fmt = body["response_format"] if isinstance(body["response_format"], dict) else {}
            fmt_type = fmt.get("type") if isinstance(fmt.get("type"), str) else ""
            if fmt_type == "json_object":
                schema = fmt.get("schema", {})
            elif fmt_type == "json_schema":
                wrapper = fmt.get("json_schema")
                schema = wrapper.get("schema", {}) if isinstance(wrapper, dict) else {}
            elif fmt_type not in ("", "text"):
                message = f'response_format type must be one of "text" or "json_object", but got: {fmt_type}'
                return body, self._error(message, invalid_argument=True)
        messages = body.get("messages")
        if "messages" not in body:
            return body, self._error("'messages' is required", invalid_argument=True)
        if not isinstance(messages, list):
            return body, self._error("Expected 'messages' to be an array", invalid_argument=True)
        for msg in messages:
            role = msg.get("role") if isinstance(msg, dict) else None
            if role != "assistant" and not (isinstance(msg, dict) and "content" in msg):
                return body, self._error("All non-assistant messages must contain 'content'", invalid_argument=True)
        if isinstance(grammar, str) and grammar:
            return body, not_modelled(self.kind, "client-supplied grammars")
        if schema is None:
            return body, Verdict("none")
        if schema == {}:
            return body, Verdict("json", None)
        return body, Verdict("schema", schema)

    def completion(self, body: dict[str, Any], content: str) -> Reply:
        """llama.cpp's OAI-compatible chat answer (``to_json_oaicompat_chat``)."""
        usage = self.usage(body, content)
        return Reply(
            200,
            {
                "choices": [
                    {"finish_reason": "stop", "index": 0, "message": {"role": "assistant", "content": content}}
                ],
                "created": self.started,
                "model": body.get("model") or "gpt-3.5-turbo",
                "system_fingerprint": self.version,
                "object": "chat.completion",
                "usage": {k: usage[k] for k in ("completion_tokens", "prompt_tokens", "total_tokens")},
                "id": f"chatcmpl-{uuid.uuid4().hex[:32]}",
                "timings": {"prompt_n": usage["prompt_tokens"], "predicted_n": usage["completion_tokens"]},
            },
        )


# ----------------------------------------------------------------------------------------------------------------
# llama-cpp-python
# ----------------------------------------------------------------------------------------------------------------
class ResponseFormat(TypedDict):
    """llama_cpp/llama_types.py ``ChatCompletionRequestResponseFormat``, verbatim in shape."""

    type: Literal["text", "json_object"]
    schema: NotRequired[Any]


_RESPONSE_FORMAT = pydantic.TypeAdapter(ResponseFormat)
LLAMA_CPP_PYTHON_TITLE = "🦙 llama.cpp Python API"


class LlamaCppPythonServer(ConformanceServer):
    """llama-cpp-python's server: ``response_format={"type": "json_object", "schema": S}``; json_schema -> 500."""

    kind = "llamacpp-python"
    default_version = "0.3.35"

    def __init__(self, *, n_ctx: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.n_ctx = n_ctx  # None: every prompt and answer fits

    def answer_chat(self, raw: bytes, headers: dict[str, str], *, judge: Any = None, wrap: Any = None) -> Reply:
        if self.n_ctx is not None:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            messages = body.get("messages") if isinstance(body, dict) else None
            prompt = self.usage({"messages": messages or []}, "")["prompt_tokens"]
            if prompt >= self.n_ctx:
                asked = body.get("max_tokens") if isinstance(body, dict) else None
                message = (
                    f"This model's maximum context length is {self.n_ctx} tokens. However, you requested "
                    f"{prompt + (asked or 0)} tokens ({prompt} in the messages, {asked} in the completion). Please "
                    "reduce the length of the messages or completion."
                )
                error = {"message": message, "type": "invalid_request_error", "param": "messages"}
                return Reply(400, {"error": {**error, "code": "context_length_exceeded"}})
        return super().answer_chat(raw, headers, judge=judge, wrap=wrap)

    def openapi(self) -> dict[str, Any]:
        paths: dict[str, Any] = {
            p: {} for p in ("/v1/completions", "/v1/embeddings", "/v1/chat/completions", "/v1/models")
        }
        return {"openapi": "3.1.0", "info": {"title": LLAMA_CPP_PYTHON_TITLE, "version": self.version}, "paths": paths}

    def get_routes(self) -> dict[str, Any]:
        models = {
            "object": "list",
            "data": [{"id": self.model, "object": "model", "owned_by": "me", "permissions": []}],
        }
        return {"/openapi.json": lambda: Reply(200, self.openapi()), "/v1/models": Reply(200, models)}

    def not_found(self, method: str, path: str) -> Reply:
        return Reply(404, {"detail": "Not Found"})

    def judge(self, raw: bytes, headers: dict[str, str]) -> tuple[Any, Verdict]:
        try:
            body = json.loads(raw)
        except ValueError as exc:  # FastAPI's json_invalid, also turned into a 500 by RouteErrorHandler
            return None, self._internal(
                f"1 validation error:\n  {{'type': 'json_invalid', 'loc': ('body', {getattr(exc, 'pos', 0)}), 'msg': 'JSON decode error'}}"
            )
        if not isinstance(body, dict):
            return body, self._internal("1 validation error:\n  {'type': 'model_attributes_type', 'loc': ('body',)}")
        if body.get("stream"):
            return body, not_modelled(self.kind, "stream: true")
        if body.get("tools") or body.get("grammar"):
            return body, not_modelled(self.kind, "tools or client-supplied grammars")
        fmt = body.get("response_format")
        if fmt is None:
            return body, Verdict("none")
        try:
            parsed = _RESPONSE_FORMAT.validate_python(fmt)
        except pydantic.ValidationError as exc:
            return body, self._internal(self._fastapi_text(exc))
        if parsed["type"] != "json_object":
            return body, Verdict("none")
        if "schema" in parsed:
            return body, Verdict("schema", parsed["schema"])
        return body, Verdict("json", None)

    @staticmethod
    def _fastapi_text(exc: pydantic.ValidationError) -> str:
        """str(fastapi.exceptions.RequestValidationError) for errors under body.response_format (FastAPI 0.165)."""
        errors = exc.errors(include_url=False)
        lines = [f"{len(errors)} validation error{'s' if len(errors) > 1 else ''}:"]
        for err in errors:
            err = {**err, "loc": ("body", "response_format", *err["loc"])}
            lines.append(f"  {err}")
        lines += [
            "",
            '  File "llama_cpp/server/app.py", line 376, in create_chat_completion',
            "    POST /v1/chat/completions",
        ]
        return "\n".join(lines)

    @staticmethod
    def _internal(message: str) -> Verdict:
        body = {"error": {"message": message, "type": "internal_server_error", "param": None, "code": None}}
        return Verdict.reject(Reply(500, body))

    def completion(self, body: dict[str, Any], content: str) -> Reply:
        """``Llama.create_chat_completion``'s dict (llama_cpp/llama_chat_format.py ``_convert_text_completion...``)."""
        finish_reason = "stop"
        words = content.split()
        asked = body.get("max_tokens") or len(words) + 1
        limit = asked if self.n_ctx is None else min(asked, self.n_ctx - self.usage(body, "")["prompt_tokens"])
        if len(words) > limit:  # the answer stopped at max_tokens, or where the context window is full
            content, finish_reason = " ".join(words[:limit]), "length"
        return Reply(
            200,
            {
                "id": f"chatcmpl-{uuid.uuid4()}",
                "object": "chat.completion",
                "created": self.started,
                "model": f"/models/{self.model}.gguf",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "logprobs": None,
                        "finish_reason": finish_reason,
                    }
                ],
                "usage": self.usage(body, content),
            },
            headers=(("openai-processing-ms", "1"),),
        )
