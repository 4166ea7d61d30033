"""Stand-in for SGLang's OpenAI-compatible server (``python -m sglang.launch_server``).

Written from sgl-project/sglang (the repository is too large to fetch whole; files read from the public index):

- python/sglang/srt/entrypoints/openai/protocol.py at 9b116dffe828b2dfa7ec0e4d061555b6c354b67a: ``ModelCard`` with
  ``owned_by: str = "sglang"`` (what ``/v1/models`` lists); ``ChatCompletionRequest`` is a plain pydantic
  ``BaseModel`` (unknown fields such as vLLM's ``structured_outputs`` or ``guided_json`` are dropped, never
  rejected) whose ``response_format`` is ``ResponseFormat`` (``type: Literal["text", "json_object",
  "json_schema"]``, ``json_schema: JsonSchemaResponseFormat`` with ``name`` required and ``schema`` optional; a
  ``value`` or ``schema`` beside ``type`` is dropped) or ``StructuralTagResponseFormat``;
- python/sglang/srt/entrypoints/openai/serving_chat.py (``_build_sampling_params``; in later versions
  ``ChatCompletionRequest.to_sampling_params``): ``json_schema`` -> ``sampling_params["json_schema"]`` = the schema
  (enforced by the grammar backend), ``json_object`` -> ``'{"type": "object"}'`` (any JSON object);
- python/sglang/srt/entrypoints/http_server.py at 0025436eab0556737d615b36a4dd3e1e26e82f3d: ``FastAPI(openapi_url=
  "/openapi.json")`` (title "FastAPI"), ``GET /get_model_info`` (``model_path``, ``tokenizer_path``,
  ``is_generation``, ...), ``GET /get_server_info`` (the server args and ``version``), ``/health``,
  ``/v1/models``; no ``/info``, ``/version``, ``/props`` or ``/api/version``. Its ``HTTPException`` handler answers
  ``ErrorResponse`` (``{"object": "error", "message", "type": str(status), "param": null, "code": status}``), a
  404 included; its ``RequestValidationError`` handler answers 400 with ``type`` "Bad Request" and the message
  ``f"{exc} {exc.errors()}"``.

So huggingface_hub's rewrite of ``json_schema`` into ``{"type": "json_object", "value": S}`` reaches SGLang as
``json_object``: JSON only. The OpenAI form sent as plain HTTP is enforced.

Not modelled (501): ``structural_tag``, ``stream: true``, ``tools``, and a ``json_schema`` without its
``json_schema`` object or without its ``schema`` (SGLang reads ``.schema_`` of None, or converts a None schema).
"""

from __future__ import annotations

import json
from typing import Any, Literal

import pydantic

from .base import FASTAPI_OPENAPI, ConformanceServer, Reply, Verdict, not_modelled


class JsonSchemaResponseFormat(pydantic.BaseModel):
    """Mirror of sglang's protocol.py (field for field)."""

    name: str
    description: str | None = None
    schema_: dict[str, object] | None = pydantic.Field(alias="schema", default=None)
    strict: bool | None = False


class ResponseFormat(pydantic.BaseModel):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaResponseFormat | None = None


class ChatCompletionRequest(pydantic.BaseModel):
    """The part of sglang's ChatCompletionRequest that structured output touches (messages simplified to dicts)."""

    messages: list[dict[str, Any]]
    model: str
    response_format: ResponseFormat | None = None


_REQUEST = pydantic.TypeAdapter(ChatCompletionRequest)


class SGLangServer(ConformanceServer):
    """SGLang: ``response_format`` json_schema enforces the schema, json_object any JSON object."""

    kind = "sglang"
    default_version = "0.5.3"

    def get_routes(self) -> dict[str, Any]:
        model_info = {"model_path": self.model, "tokenizer_path": self.model, "is_generation": True}
        return {
            "/health": Reply(200, b"", None),
            "/get_model_info": Reply(200, model_info),
            "/get_server_info": Reply(200, {"model_path": self.model, "version": self.version}),
            "/v1/models": Reply(200, self.model_list("sglang", max_model_len=4096)),
            "/openapi.json": Reply(200, FASTAPI_OPENAPI),
        }

    def not_found(self, method: str, path: str) -> Reply:
        return Reply(404, {"object": "error", "message": "Not Found", "type": "404", "param": None, "code": 404})

    @staticmethod
    def _bad_request(message: str) -> Verdict:
        body = {"object": "error", "message": message, "type": "Bad Request", "param": None, "code": 400}
        return Verdict.reject(Reply(400, body))

    def judge(self, raw: bytes, headers: dict[str, str]) -> tuple[Any, Verdict]:
        try:
            body = json.loads(raw)
        except ValueError as exc:
            return None, self._bad_request(f"JSON decode error: {exc}")
        if not isinstance(body, dict):
            return body, self._bad_request("Input should be a valid dictionary")
        if body.get("stream") or body.get("tools"):
            return body, not_modelled(self.kind, "stream or tools")
        fmt = body.get("response_format")
        if isinstance(fmt, dict) and fmt.get("type") == "structural_tag":
            return body, not_modelled(self.kind, "a structural_tag response_format")
        try:
            request = _REQUEST.validate_python(body)
        except pydantic.ValidationError as exc:
            return body, self._bad_request(f"{exc} {exc.errors()}")
        rf = request.response_format
        if rf is None or rf.type == "text":
            return body, Verdict("none")
        if rf.type == "json_object":
            return body, Verdict("json")
        if rf.json_schema is None:
            return body, not_modelled(self.kind, "a json_schema response_format without its json_schema object")
        if rf.json_schema.schema_ is None:
            return body, not_modelled(self.kind, "a json_schema response_format without a schema")
        return body, Verdict("schema", dict(rf.json_schema.schema_))

    def completion(self, body: dict[str, Any], content: str) -> Reply:
        usage = self.usage(body, content)
        return Reply(
            200,
            {
                "id": f"{self.next_id():032x}",
                "object": "chat.completion",
                "created": self.started,
                "model": body.get("model") or self.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": content,
                            "reasoning_content": None,
                            "tool_calls": None,
                        },
                        "logprobs": None,
                        "finish_reason": "stop",
                        "matched_stop": 2,
                    }
                ],
                "usage": {**usage, "prompt_tokens_details": None},
            },
        )
