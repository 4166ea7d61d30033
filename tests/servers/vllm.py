"""Stand-in for vLLM's OpenAI-compatible server, behaving like the version given as ``version=``.

Written from vllm-project/vllm (the repository is too large to fetch whole; files read from the public index):

- vllm/entrypoints/openai/chat_completion/protocol.py at 002032ee2b18e1f7bd924ec47b62504ba3866063 (main, 2026):
  ``ChatCompletionRequest`` with ``response_format: AnyResponseFormat`` and ``structured_outputs:
  StructuredOutputsParams``; the ``mode="before"`` validators ``validate_response_format`` ("When response_format
  type is 'json_schema', the 'json_schema' field must be provided.") and ``check_structured_outputs_count`` ("You
  can only use one kind of constraints for structured outputs ('json', 'regex' or 'choice').");
- vllm/entrypoints/generate/base/protocol.py at 022e555dbb75a9a96363a04933bfdd1f0b5b123d:
  ``ResponseFormat.type: Literal["text", "json_object", "json_schema"]``, ``JsonSchemaResponseFormat`` (``name``
  required, ``schema`` optional) and ``structured_outputs_from_response_format``: ``json_object`` sets
  ``json_object=True``, ``json_schema`` sets ``json=<schema>``, both by ``replace()`` on the request's
  ``structured_outputs``, whose ``StructuredOutputsParams.__post_init__`` (vllm/sampling_params.py) refuses more than
  one of json/regex/choice/grammar/json_object/structural_tag ("You can only use one kind of structured outputs
  constraint but multiple are specified: ...");
- ``OpenAIBaseModel`` has ``extra="allow"``: unknown fields are logged and ignored, never rejected;
- ``_check_model`` (serving): a ``model`` that is not served -> 404 "The model `X` does not exist." (NotFoundError).

Versions:

- ``structured_outputs`` exists from 0.10.2 (PR #22772, merged 2025-08-13; the guided_* fields' descriptions then
  read "deprecated. This will be removed in v0.12.0"); before it the field is unknown, hence ignored;
- ``guided_json`` (and ``guided_regex``/``guided_choice``) are removed in 0.12.0 (PR #29326; docs.vllm.ai
  "Structured Outputs": "deprecated API fields which were removed in v0.12.0"), so from 0.12.0 they are ignored.
- Before 0.10.2 (read from vLLM-derived copies of protocol.py in the public index, not from a tagged vLLM release):
  the ``check_guided_decoding_count`` validator refuses two guided fields at once ("You can only use one kind of
  guided decoding ('guided_json', 'guided_regex' or 'guided_choice')."), a ``json_schema`` response_format
  overwrites ``guided_json``, and ``json_object`` with ``guided_json`` fails in ``GuidedDecodingParams`` ("You can
  only use one kind of guided decoding but multiple are specified: ...").
- A response_format that conflicts with ``structured_outputs`` is refused as on main (``replace()`` re-runs
  ``__post_init__``); some 0.11-era releases assigned the field instead and failed later, in the engine.

Errors are 400 ``{"error": {"message", "type", "param", "code"}}``: request-validation failures go through the app's
``RequestValidationError`` handler (type "Bad Request"; the message is ``f"{exc} {exc.errors()}"``, here built
from pydantic models that mirror vLLM's field for field), failures while building sampling params through
``create_error_response`` (type "BadRequestError").

Not modelled (501): ``guided_*`` together with ``structured_outputs`` in 0.10.2-0.11.x (how those two merged was not
verified), regex/choice/grammar/structural_tag constraints, ``stream: true``, and ``tools``.

Routes: ``GET /version`` -> ``{"version": ...}``, ``/health``, ``/v1/models`` (``owned_by: "vllm"``,
``max_model_len``: vllm/entrypoints/openai/engine/protocol.py ``ModelCard`` at
d7e52523a55cfd60207c99d9f3b7ed527d2115b7), and FastAPI's ``/openapi.json`` (title "FastAPI"); anything else is
FastAPI's 404 ``{"detail": "Not Found"}``.

A server-side cap on the answer (``max_new_tokens=N`` here, tokens counted as whitespace words), from
vllm/entrypoints/utils.py at 00fc88090e8c33cc3a21b9258bb2e0c09f34400a ``get_max_tokens``: the answer's limit is the
least of ``max_model_len - prompt``, the request's ``max_tokens``, ``override_max_tokens`` and the platform's limit.
``override_max_tokens`` is ``--override-generation-config``'s ``max_new_tokens`` (or, with ``--generation-config
<folder>``, that folder's), set in the serving classes' ``__init__``. An answer stopped there has
``finish_reason: "length"`` with fewer tokens than the request's ``max_tokens`` and the context far from full.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any, Literal

import pydantic

from .base import FASTAPI_OPENAPI, ConformanceServer, Reply, Verdict, not_modelled

STRUCTURED_OUTPUTS_FROM = (0, 10, 2)
GUIDED_REMOVED_IN = (0, 12, 0)
CONSTRAINTS = ("json", "regex", "choice", "grammar", "json_object", "structural_tag")


class _OpenAIBaseModel(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="allow")  # vLLM's OpenAIBaseModel: unknown fields are ignored


class JsonSchemaResponseFormat(_OpenAIBaseModel):
    """Mirror of vllm/entrypoints/generate/base/protocol.py (field for field)."""

    name: str
    description: str | None = None
    json_schema: dict[str, Any] | None = pydantic.Field(default=None, alias="schema")
    strict: bool | None = None


class ResponseFormat(_OpenAIBaseModel):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaResponseFormat | None = None


class LegacyStructuralTag(_OpenAIBaseModel):
    begin: str
    structural_tag_schema: dict[str, Any] | None = pydantic.Field(default=None, alias="schema")
    end: str


class LegacyStructuralTagResponseFormat(_OpenAIBaseModel):
    type: Literal["structural_tag"]
    structures: list[LegacyStructuralTag]
    triggers: list[str]


class StructuralTagResponseFormat(_OpenAIBaseModel):
    type: Literal["structural_tag"]
    format: Any


class ChatCompletionRequest(_OpenAIBaseModel):
    """The part of vLLM's ChatCompletionRequest that structured output touches (messages simplified to dicts)."""

    messages: list[dict[str, Any]]
    model: str | None = None
    response_format: ResponseFormat | StructuralTagResponseFormat | LegacyStructuralTagResponseFormat | None = None


_REQUEST = pydantic.TypeAdapter(ChatCompletionRequest)


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)[:3])


class VLLMServer(ConformanceServer):
    """vLLM: ``response_format`` json_schema, ``structured_outputs={"json": S}`` (>= 0.10.2), ``guided_json`` (< 0.12)."""

    kind = "vllm"
    default_version = "0.12.0"
    max_model_len = 4096

    def __init__(self, *, max_new_tokens: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_new_tokens = max_new_tokens  # the server's override_max_tokens; None: no cap

    @property
    def has_structured_outputs(self) -> bool:
        return version_tuple(self.version) >= STRUCTURED_OUTPUTS_FROM

    @property
    def has_guided(self) -> bool:
        return version_tuple(self.version) < GUIDED_REMOVED_IN

    def get_routes(self) -> dict[str, Any]:
        models = self.model_list("vllm", parent=None, max_model_len=self.max_model_len, permission=[])
        return {
            "/version": lambda: Reply(200, {"version": self.version}),
            "/health": Reply(200, b"", None),
            "/v1/models": Reply(200, models),
            "/openapi.json": Reply(200, FASTAPI_OPENAPI),
        }

    def not_found(self, method: str, path: str) -> Reply:
        return Reply(404, {"detail": "Not Found"})

    # ------------------------------------------------------------------------------------------------ errors
    @staticmethod
    def _request_error(errors: list[dict[str, Any]], param: str | None = None) -> Verdict:
        """The app's RequestValidationError handler: 400, message ``f"{exc} {exc.errors()}"``, type "Bad Request"."""
        head = f"{len(errors)} validation error{'s' if len(errors) != 1 else ''}:"
        message = "\n".join([head, *(f"  {e}" for e in errors)]) + f"\n {errors}"
        error = {"message": message, "type": "Bad Request", "param": param, "code": 400}
        return Verdict.reject(Reply(400, {"error": error}))

    @classmethod
    def _value_error(cls, text: str, body: dict[str, Any], param: str | None = None) -> Verdict:
        """A ``mode="before"`` validator raising VLLMValidationError (a ValueError): pydantic's value_error entry."""
        return cls._request_error(
            [{"type": "value_error", "loc": ("body",), "msg": f"Value error, {text}", "input": body}], param
        )

    @staticmethod
    def _serving_error(
        text: str, *, err_type: str = "BadRequestError", status: int = 400, param: str | None = None
    ) -> Verdict:
        """``create_error_response`` in the serving layer (errors raised while building sampling params)."""
        return Verdict.reject(
            Reply(status, {"error": {"message": text, "type": err_type, "param": param, "code": status}})
        )

    # ------------------------------------------------------------------------------------------------ judging
    def judge(self, raw: bytes, headers: dict[str, str]) -> tuple[Any, Verdict]:
        try:
            body = json.loads(raw or b"null")
        except ValueError as exc:
            return None, self._request_error(
                [{"type": "json_invalid", "loc": ("body", getattr(exc, "pos", 0)), "msg": "JSON decode error"}]
            )
        if not isinstance(body, dict):
            return body, self._request_error(
                [
                    {
                        "type": "model_attributes_type",
                        "loc": ("body",),
                        "msg": "Input should be a valid dictionary or object to extract fields from",
                        "input": body,
                    }
                ]
            )
        verdict = self._validate(body) or self._constraint(body)
        return body, verdict

    def _validate(self, body: dict[str, Any]) -> Verdict | None:
        """The ``mode="before"`` validators, then pydantic's field validation, then the serving layer's model check."""
        fmt = body.get("response_format")
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and fmt.get("json_schema") is None:
            text = "When response_format type is 'json_schema', the 'json_schema' field must be provided."
            return self._value_error(text, body, "response_format")
        so = body.get("structured_outputs") if self.has_structured_outputs else None
        if isinstance(so, dict):
            if sum(so.get(k) is not None for k in ("json", "regex", "choice")) > 1:
                text = "You can only use one kind of constraints for structured outputs ('json', 'regex' or 'choice')."
                return self._value_error(text, body)
            if sum(so.get(k) is not None for k in CONSTRAINTS) > 1:  # StructuredOutputsParams.__post_init__
                return self._value_error(self._multiple(so), body)
        guided = sum(body.get(k) is not None for k in ("guided_json", "guided_regex", "guided_choice"))
        if guided > 1 and self.has_guided and not self.has_structured_outputs:  # check_guided_decoding_count
            text = "You can only use one kind of guided decoding ('guided_json', 'guided_regex' or 'guided_choice')."
            return self._value_error(text, body)
        try:
            _REQUEST.validate_python(body)
        except pydantic.ValidationError as exc:
            errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
            return self._request_error(errors)
        model = body.get("model")
        if model is not None and model != self.model:
            return self._serving_error(
                f"The model `{model}` does not exist.", err_type="NotFoundError", status=404, param="model"
            )
        return None

    @staticmethod
    def _multiple(params: dict[str, Any]) -> str:
        shown = {k: params.get(k) for k in CONSTRAINTS}
        return f"You can only use one kind of structured outputs constraint but multiple are specified: {shown}"

    def _constraint(self, body: dict[str, Any]) -> Verdict:
        """``to_sampling_params``: the constraint the engine gets, after response_format is merged in."""
        if body.get("stream"):
            return not_modelled(self.kind, "stream: true")
        if body.get("tools"):
            return not_modelled(self.kind, "tools")
        fmt = body.get("response_format") or {}
        fmt_type = fmt.get("type")
        if fmt_type == "structural_tag":
            return not_modelled(self.kind, "structural_tag response formats")
        so = body.get("structured_outputs") if self.has_structured_outputs else None
        guided = {k: body.get(k) for k in ("guided_json", "guided_regex", "guided_choice", "guided_grammar")}
        guided = {k: v for k, v in guided.items() if v is not None} if self.has_guided else {}
        if isinstance(so, dict) and guided:
            return not_modelled(self.kind, f"guided_* together with structured_outputs in {self.version}")
        params: dict[str, Any] = (
            dict(so) if isinstance(so, dict) else {k.removeprefix("guided_"): v for k, v in guided.items()}
        )
        if fmt_type == "json_object":
            params["json_object"] = True
        elif fmt_type == "json_schema":
            params["json"] = fmt["json_schema"].get("schema")
        present = [k for k in CONSTRAINTS if params.get(k) is not None]
        if len(present) > 1:
            if self.has_structured_outputs:
                return self._serving_error(self._multiple(params))
            shown = {k: params.get(k) for k in ("json", "regex", "choice", "grammar", "json_object")}
            return self._serving_error(
                f"You can only use one kind of guided decoding but multiple are specified: {shown}"
            )
        if not present:
            return Verdict("none")
        if present[0] == "json_object":
            return Verdict("json")
        if present[0] != "json":
            return not_modelled(self.kind, f"the {present[0]!r} constraint")
        schema = params["json"]
        if isinstance(schema, str):
            schema = json.loads(schema)
        return Verdict("schema", schema)

    def completion(self, body: dict[str, Any], content: str) -> Reply:
        """``ChatCompletionResponse`` (chat_completion/protocol.py), the answer cut at ``max_new_tokens``."""
        finish = "stop"
        ends = [m.end() for m in re.finditer(r"\S+", content)]
        if self.max_new_tokens is not None and len(ends) > self.max_new_tokens:
            content, finish = content[: ends[self.max_new_tokens - 1]], "length"
        usage = {**self.usage(body, content), "prompt_tokens_details": None}
        return Reply(
            200,
            {
                "id": f"chatcmpl-{uuid.uuid4().hex}",
                "object": "chat.completion",
                "created": self.started,
                "model": body.get("model") or self.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content, "refusal": None, "reasoning": None},
                        "logprobs": None,
                        "finish_reason": finish,
                        "stop_reason": None,
                    }
                ],
                "service_tier": None,
                "system_fingerprint": None,
                "usage": usage,
                "prompt_logprobs": None,
                "kv_transfer_params": None,
            },
        )
