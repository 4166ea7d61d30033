"""Stand-in for Text Generation Inference (TGI; also what Hugging Face Inference Endpoints run).

Written from huggingface/text-generation-inference at commit db931fcf42da018a3657580c64bf2720f167f9ab (router
version 3.3.6-dev0), its axum 0.7.9 and serde 1.0.219 / serde_json 1.0.140 / serde_path_to_error 0.1.17 (versions
from its Cargo.lock). Each rule below names the file it comes from.

Request handling of ``POST /v1/chat/completions``, in the order the router applies it:

1. ``Json<ChatRequest>`` (router/src/server.rs ``chat_completions``) is axum's extractor
   (tokio-rs/axum axum-v0.7.9, axum/src/json.rs ``Json::from_bytes`` and axum/src/extract/rejection.rs):
   no ``application/json`` content type -> 415 "Expected request with `Content-Type: application/json`"; bad JSON
   -> 400 "Failed to parse the request body as JSON: ..."; JSON that does not deserialize -> 422 "Failed to
   deserialize the JSON body into the target type: <path>: <serde message> at line L column C". These bodies are
   ``text/plain``, not JSON.
2. ``response_format`` is ``Option<GrammarType>`` (router/src/lib.rs): ``#[serde(tag = "type", content = "value")]``
   with variants ``json`` (alias ``json_object``) holding any JSON value, ``regex`` holding a string and
   ``json_schema`` holding ``JsonSchemaConfig {name: Option<String>, schema: Value}``. Other keys (``schema``,
   ``json_schema``) are ignored, so the OpenAI and llama.cpp forms fail with "missing field `value`".
3. ``ChatRequest::try_into_generate`` (lib.rs): ``response_format`` together with ``tools`` -> 422
   ``{"error": "Tool error: Grammar and tools are mutually exclusive", "error_type": "tool_error"}``.
4. ``Validation::validate`` (router/src/validation.rs): a ``json`` value that is a string is parsed as JSON, any other
   non-object is "grammar is not supported"; the schema must pass the draft 2020-12 meta-schema and must have a
   top-level ``properties`` ("Grammar must have a 'properties' field"); then it is compiled to a regex
   (outlines-core) and enforced. Errors are 422 ``{"error": "Input validation error: ...", "error_type":
   "validation"}`` (router/src/infer/mod.rs ``InferError``, server.rs ``From<InferError>``).

Not modelled (answered 501 by the stand-in, so a test notices): ``regex`` grammars, ``stream: true``, outlines-core
regex-compilation failures for exotic schemas, ``--disable-grammar-support``. The serde message for bad JSON syntax
is Python's, not serde_json's; positions follow serde_json (1-based byte column after the offending value).

Routes (server.rs ``create_router`` ...): ``GET /info`` (the ``Info`` struct, lib.rs), ``/health``, ``/``,
``/v1/models``; anything else is axum's fallback: 404 with an empty body.
"""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema

from .base import ConformanceServer, Reply, Verdict, not_modelled

_DECODER = json.JSONDecoder()
_WS = re.compile(r"[ \t\n\r]*")


def _skip_ws(text: str, i: int) -> int:
    """The index of the first non-whitespace character at or after ``i`` (JSON whitespace)."""
    match = _WS.match(text, i)
    return match.end() if match else i


PARSE_PREFIX = "Failed to parse the request body as JSON"
DESERIALIZE_PREFIX = "Failed to deserialize the JSON body into the target type"
VARIANTS = "`json`, `json_object`, `regex`, `json_schema`"  # serde_derive lists aliases too (VARIANTS const)


class SerdeError(Exception):
    """A serde deserialization error: path (serde_path_to_error), message, end index of the offending value."""

    def __init__(self, path: str, message: str, index: int) -> None:
        super().__init__(message)
        self.path, self.message, self.index = path, message, index


def _members(text: str, start: int) -> list[tuple[str, int, int]]:
    """(key, start, end) of each member of the JSON object at ``text[start] == "{"`` (end: index after the value)."""
    out: list[tuple[str, int, int]] = []
    i = _skip_ws(text, start + 1)
    if text[i] == "}":
        return out
    while True:
        key, i = _DECODER.raw_decode(text, i)  # the member's name, a JSON string
        i = _skip_ws(text, _skip_ws(text, i) + 1)  # past the ':'
        _, end = _DECODER.raw_decode(text, i)
        out.append((key, i, end))
        i = _skip_ws(text, end)
        if text[i] != ",":
            return out
        i = _skip_ws(text, i + 1)


def _end_of_object(text: str, start: int) -> int:
    return _DECODER.raw_decode(text, start)[1]


def unexpected(value: Any) -> str:
    """serde's ``Unexpected`` wording for a JSON value (serde/src/de/mod.rs; serde_json says "null")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean `{str(value).lower()}`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{value}`"
    if isinstance(value, str):
        return f"string {json.dumps(value)}"
    return "sequence" if isinstance(value, list) else "map"


def position(text: str, index: int) -> str:
    """serde_json's "at line L column C" for the byte just before ``index`` (SliceRead::position_of_index)."""
    head = text[:index]
    line_start = head.rfind("\n") + 1
    return f"at line {head.count(chr(10)) + 1} column {len(head[line_start:].encode())}"


def parse_grammar(text: str, start: int, end: int) -> tuple[str, Any] | None:
    """Deserialize ``Option<GrammarType>`` from ``text[start:end]`` the way serde_derive's adjacently tagged enum does."""
    value = json.loads(text[start:end])
    if value is None:
        return None
    if not isinstance(value, dict):
        raise SerdeError(
            "response_format", f"invalid type: {unexpected(value)}, expected adjacently tagged enum GrammarType", end
        )
    variant: str | None = None
    content: tuple[Any, int, int] | None = None
    for key, k_start, k_end in _members(text, start):
        if key == "type":
            tag = json.loads(text[k_start:k_end])
            if not isinstance(tag, str):
                raise SerdeError(
                    "response_format.type", f"invalid type: {unexpected(tag)}, expected variant identifier", k_end
                )
            if tag not in ("json", "json_object", "regex", "json_schema"):
                raise SerdeError("response_format.type", f"unknown variant `{tag}`, expected one of {VARIANTS}", k_end)
            variant = "json" if tag == "json_object" else tag
        elif key == "value":
            content = (json.loads(text[k_start:k_end]), k_start, k_end)
        # any other key is skipped (no deny_unknown_fields)
    if variant is None:
        raise SerdeError("response_format", "missing field `type`", end)
    if content is None:
        raise SerdeError("response_format", "missing field `value`", end)
    inner, c_start, c_end = content
    if variant == "regex" and not isinstance(inner, str):
        raise SerdeError("response_format.value", f"invalid type: {unexpected(inner)}, expected a string", c_end)
    if variant == "json_schema":
        if not isinstance(inner, dict):
            raise SerdeError(
                "response_format.value", f"invalid type: {unexpected(inner)}, expected struct JsonSchemaConfig", c_end
            )
        for key, k_start, k_end in _members(text, c_start):
            name = json.loads(text[k_start:k_end])
            if key == "name" and name is not None and not isinstance(name, str):
                raise SerdeError(
                    "response_format.value.name", f"invalid type: {unexpected(name)}, expected a string", k_end
                )
        if "schema" not in inner:
            raise SerdeError("response_format.value", "missing field `schema`", c_end)
    return variant, inner


class TGIServer(ConformanceServer):
    """TGI's router: grammar in ``response_format={"type": "json"|"json_object"|"json_schema", "value": ...}``."""

    kind = "tgi"
    default_version = "3.3.6-dev0"

    def info(self) -> dict[str, Any]:
        """``GET /info``: the ``Info`` struct of router/src/lib.rs (field for field)."""
        return {
            "model_id": self.model,
            "model_sha": None,
            "model_pipeline_tag": "text-generation",
            "max_concurrent_requests": 128,
            "max_best_of": 2,
            "max_stop_sequences": 4,
            "max_input_tokens": 4095,
            "max_total_tokens": 4096,
            "validation_workers": 2,
            "max_client_batch_size": 4,
            "router": "text-generation-router",
            "version": self.version,
            "sha": None,
            "docker_label": None,
        }

    def get_routes(self) -> dict[str, Any]:
        models = {
            "object": "list",
            "data": [{"id": self.model, "object": "model", "created": self.started, "owned_by": self.model}],
        }
        health = Reply(200, b"", None)
        return {
            "/info": lambda: Reply(200, self.info()),
            "/health": health,
            "/": health,
            "/v1/models": Reply(200, models),
        }

    def not_found(self, method: str, path: str) -> Reply:
        return Reply(404, b"", None)  # axum's default fallback: no body

    def judge(self, raw: bytes, headers: dict[str, str]) -> tuple[Any, Verdict]:
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        if not (ctype == "application/json" or ctype.endswith("+json")):
            return None, Verdict.reject(
                Reply(415, "Expected request with `Content-Type: application/json`", "text/plain; charset=utf-8")
            )
        text = raw.decode("utf-8", errors="replace")
        try:
            body = json.loads(text)
        except ValueError as exc:
            message = f"{PARSE_PREFIX}: {exc}"
            return None, Verdict.reject(Reply(400, message, "text/plain; charset=utf-8"))
        try:
            grammar = self._deserialize(text, body)
        except SerdeError as exc:
            where = f"{exc.path}: " if exc.path else ""
            message = f"{DESERIALIZE_PREFIX}: {where}{exc.message} {position(text, exc.index)}"
            return body, Verdict.reject(Reply(422, message, "text/plain; charset=utf-8"))
        if body.get("stream"):
            return body, not_modelled(self.kind, "stream: true")
        if grammar is not None and body.get("tools") is not None:
            return body, self._infer_error("Tool error: Grammar and tools are mutually exclusive", "tool_error")
        if grammar is None:
            return body, Verdict("none")
        variant, value = grammar
        if variant == "regex":
            return body, not_modelled(self.kind, "regex grammars")
        return body, self._validate_schema(
            value if variant == "json" else value["schema"], parse_string=variant == "json"
        )

    def _deserialize(self, text: str, body: Any) -> tuple[str, Any] | None:
        """``serde_json::from_slice::<ChatRequest>`` for the fields the stand-in checks (response_format, messages)."""
        start = _skip_ws(text, 0)
        if not isinstance(body, dict):
            raise SerdeError("", f"invalid type: {unexpected(body)}, expected struct ChatRequest", len(text.rstrip()))
        grammar = None
        for key, k_start, k_end in _members(text, start):
            if key == "response_format":
                grammar = parse_grammar(text, k_start, k_end)
            elif key == "messages" and not isinstance(body["messages"], list):
                raise SerdeError(
                    "messages", f"invalid type: {unexpected(body['messages'])}, expected a sequence", k_end
                )
        if "messages" not in body:
            raise SerdeError("", "missing field `messages`", _end_of_object(text, start))
        return grammar

    def _infer_error(self, message: str, error_type: str) -> Verdict:
        return Verdict.reject(Reply(422, {"error": message, "error_type": error_type}))

    def _validate_schema(self, value: Any, *, parse_string: bool) -> Verdict:
        """router/src/validation.rs ``Validation::validate``, the ``grammar`` arm."""
        if parse_string and isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as exc:
                return self._infer_error(f"Input validation error: grammar is not valid: {exc}", "validation")
        elif parse_string and not isinstance(value, dict):
            return self._infer_error("Input validation error: grammar is not supported", "validation")
        try:
            jsonschema.Draft202012Validator.check_schema(value)
        except jsonschema.SchemaError as exc:  # the Rust jsonschema crate words this differently
            return self._infer_error(f"Input validation error: grammar is not valid: {exc.message}", "validation")
        if not isinstance(value, dict) or "properties" not in value:
            message = "Input validation error: grammar is not valid: Grammar must have a 'properties' field"
            return self._infer_error(message, "validation")
        return Verdict("schema", value)

    def completion(self, body: dict[str, Any], content: str) -> Reply:
        """``ChatCompletion::new`` (lib.rs), serialized through ``CompletionType`` (``object`` tag first)."""
        model = body.get("model")
        return Reply(
            200,
            {
                "object": "chat.completion",
                "id": "",
                "created": self.started,
                "model": self.model if model in (None, "tgi") else model,
                "system_fingerprint": f"{self.version}-native",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": self.usage(body, content),
            },
        )
