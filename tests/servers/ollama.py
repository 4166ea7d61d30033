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

A prompt longer than the context (``num_ctx=N`` here; the stand-in counts whitespace words as tokens), from the same
commit:

- server/routes.go ``ChatHandler``: ``truncate := req.Truncate == nil || *req.Truncate``; ``chatPrompt`` (server/prompt.go)
  with truncate on drops the oldest messages but the system ones and the last until the prompt fits, and passes
  ``Truncate`` on to the runner. The OpenAI route (openai/openai.go ``ChatCompletionRequest``) has no ``truncate``
  field: it always truncates.
- llm/llama_server.go ``completionPromptForRequest``: with truncate on and a prompt of more than ``num_ctx - 1``
  tokens, context shift (the default; off for deepseek2, server/sched.go ``supportsContextShift``) keeps the first
  ``num_keep`` tokens and drops the rest of the head, then answers 200 as for any prompt (``cut`` records it here);
  without context shift, 400 "the prompt is longer than the context length currently available to the model; ...".
  With ``truncate: false`` the prompt goes to llama-server whole, which refuses a prompt of ``n_ctx`` tokens or more
  (integration/context_test.go: "Initial prompts that fill or exceed the slot are still rejected by llama-server") with
  400 and its error body (llama.cpp ``server_task_result_error``: ``type`` exceed_context_size_error, its message
  worded differently across builds); Ollama relays that body as its error string (``statusErrorMessage``, a 400
  ``{"error": "<llama-server's JSON>"}`` from ``writeChatResponse``).
- Ollama 0.12.6 added ``truncate`` (commit 6544e1473, "Reapply \"add truncate and shift parameters\""); from then
  to 0.29 (before llama-server replaced the Go runners in 0.30.0, commit 9db4bdbad) the runners refused with 400
  "the input length exceeds the context length" (runner/ollamarunner/runner.go ``errorInputTooLong``). Older
  versions ignore the field (Go's JSON decoding drops unknown fields) and truncate. (The Go runners took a prompt of
  exactly ``num_ctx`` tokens; the stand-in uses llama-server's limit for every version.)

An answer that runs past the context (the prompt fits, prompt and answer do not), from the same commit:

- server/sched.go ``resolveContextShift``: the request's ``shift`` (``api.ChatRequest.Shift``, native route only, read
  from 0.12.6 like ``truncate``) when given, else the model's ``supportsContextShift`` (off for deepseek2 only);
  llm/llama_server.go ``appendContextShiftArgs`` starts llama-server with ``--context-shift`` (and ``--keep
  num_keep``, 4 by default, api/types.go ``DefaultOptions``) accordingly. (A runner loaded with the other setting is
  reloaded first, server/sched.go ``needsReload``: not modelled, it only costs time.)
- With context shift, llama-server drops half of the tokens after ``num_keep`` (the prompt's head: the task's
  instructions) when the context fills, and goes on answering: a whole answer, ``done_reason`` "stop", nothing in
  the response says so (``cut`` records "the prompt's head while answering" here).
- Without it, llama-server (tools/server/server-context.cpp: ``!params_base.ctx_shift && slot.prompt.n_tokens() + 1
  >= slot.n_ctx``) stops with ``stop_type`` "limit", which llm/llama_server.go maps to ``DoneReasonLength``:
  ``done_reason: "length"`` on ``/api/chat``, ``finish_reason: "length"`` on ``/v1`` (openai/openai.go), the answer cut
  after ``num_ctx - 1 - prompt`` tokens. (The Go runners from 0.12.6 to 0.29 did the same: runner/ollamarunner
  ``removeSequence(seqIdx, llm.DoneReasonLength)`` when ``!seq.shift``, commit 6544e1473.)

``api_chat=False`` stands for a gateway in front of Ollama that forwards only its OpenAI-compatible ``/v1`` routes
(and ``/api/version``): ``POST /api/chat`` gets the 404 of an unknown route.

Not modelled (501): ``tools``, ``stream: true`` on the OpenAI route, a streamed ``/api/chat`` whose prompt is
refused. The OpenAI route answers any model name here; ``/api/chat`` answers 404 "model 'X' not found" for any but
the served one (server/routes.go ``ChatHandler``), as the real one does for a model it has not pulled.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from .base import ConformanceServer, Reply, Verdict, not_modelled

INVALID_FORMAT = 'invalid format: {}; expected "json" or a valid JSON Schema object'
NO_SHIFT = (
    "the prompt is longer than the context length currently available to the model; shorten the prompt, adjust the "
    "context length in settings, or use a model with a longer context length"
)
RUNNER_TOO_LONG = "the input length exceeds the context length"
TRUNCATE_FIELD = (0, 12, 6)  # api.ChatRequest.Truncate
LLAMA_SERVER = (0, 30, 0)  # llama-server replaced the Go runners


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("-")[0].split(".")[:3])


def prompt_tokens(messages: list[Any]) -> int:
    """The stand-in's token count of a prompt: whitespace words, as ``ConformanceServer.usage`` counts them."""
    return sum(len(str(m.get("content", "")).split()) for m in messages if isinstance(m, dict))


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

    def __init__(
        self, *, num_ctx: int | None = None, context_shift: bool = True, api_chat: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.api_chat = api_chat  # False: a /v1-only gateway in front of Ollama
        self.num_ctx = num_ctx  # None: every prompt fits
        self.context_shift = context_shift
        self.cut: list[str] = []  # per chat request that was answered over a too-long prompt: what was dropped

    # ------------------------------------------------------------------------------------------------ context
    def fit(self, body: dict[str, Any], *, native: bool) -> Reply | None:
        """What the real server does with a prompt of ``num_ctx`` tokens or more: the refusal it answers, or None when
        it goes on, having dropped messages or the prompt's head (recorded in :attr:`cut`; the answer is made from the
        whole text all the same, and ``prompt_tokens`` says ``num_ctx - 1``)."""
        messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        if self.num_ctx is None or prompt_tokens(messages) < self.num_ctx:
            return None
        version = version_tuple(self.version)
        truncate = not (native and version >= TRUNCATE_FIELD and body.get("truncate") is False)
        if not truncate:  # the prompt goes to the runner whole, which refuses it
            if version < LLAMA_SERVER:
                return Reply(400, {"error": RUNNER_TOO_LONG})
            n_prompt = prompt_tokens(messages)
            error = {
                "code": 400,
                "message": "the request exceeds the available context size, try increasing it",
                "type": "exceed_context_size_error",
                "n_prompt_tokens": n_prompt,
                "n_ctx": self.num_ctx,
            }
            return Reply(400, {"error": json.dumps({"error": error}, separators=(",", ":"))})
        kept, dropped = list(messages), 0
        while prompt_tokens(kept) > self.num_ctx and len(kept) > 1:  # chatPrompt: system messages and the last stay
            index = next((i for i, m in enumerate(kept[:-1]) if m.get("role") != "system"), None)
            if index is None:
                break
            kept.pop(index)
            dropped += 1
        what = [f"{dropped} of the oldest messages"] if dropped else []
        if prompt_tokens(kept) >= self.num_ctx:
            if not self.context_shift:
                return Reply(400, {"error": NO_SHIFT})
            what.append("the prompt's head")  # num_keep (a few tokens) stays, the rest of the head goes
        with self._lock:
            self.cut.append(" and ".join(what))
        return None

    def shifts(self, body: dict[str, Any], *, native: bool) -> bool:
        """Whether the runner answering ``body`` runs with context shift (server/sched.go ``resolveContextShift``)."""
        shift = body.get("shift") if native and version_tuple(self.version) >= TRUNCATE_FIELD else None
        return self.context_shift if not isinstance(shift, bool) else shift

    def fit_answer(self, body: dict[str, Any], content: str, *, native: bool) -> tuple[str, str]:
        """``(content, done_reason)`` of an answer whose prompt fitted: with context shift the whole answer (the
        prompt's head dropped on the way, recorded in :attr:`cut`), without it the answer cut where the context is
        full, ``"length"``."""
        messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
        prompt = prompt_tokens(messages)
        if self.num_ctx is None or prompt >= self.num_ctx or prompt + len(content.split()) + 1 < self.num_ctx:
            return content, "stop"
        if self.shifts(body, native=native):
            with self._lock:
                self.cut.append("the prompt's head while answering")
            return content, "stop"
        room = max(self.num_ctx - 1 - prompt, 0)  # server-context.cpp: n_tokens() + 1 >= n_ctx stops it
        ends = [m.end() for m in re.finditer(r"\S+", content)]
        return (content[: ends[room - 1]] if room else ""), "length"

    def usage(self, body: dict[str, Any], content: str) -> dict[str, int]:  # type: ignore[override]
        counts = super().usage(body, content)
        if self.num_ctx is not None and counts["prompt_tokens"] >= self.num_ctx:  # what the model was given
            counts["prompt_tokens"] = self.num_ctx - 1
            counts["total_tokens"] = counts["prompt_tokens"] + counts["completion_tokens"]
        return counts

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
        return {"/api/chat": self._native_chat} if self.api_chat else {}

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
        refused = self.fit(body, native=False)
        if refused is not None:
            return body, Verdict.reject(openai_error(refused.status, refused.body["error"]))
        return body, verdict

    def completion(self, body: dict[str, Any], content: str) -> Reply:
        """openai.ToChatCompletion."""
        content, reason = self.fit_answer(body, content, native=False)
        return self.openai_completion(body, content, finish_reason=reason, system_fingerprint="fp_ollama")

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
        if body.get("model") != self.model:
            return body, Verdict.reject(Reply(404, {"error": f"model '{body.get('model')}' not found"}))
        verdict = native_format(body.get("format"))
        if verdict.error is not None and body.get("stream", True):  # streaming has sent 200 before the model fails
            error_line = json.dumps(verdict.error.body) + "\n"
            return body, Verdict.reject(Reply(200, error_line, "application/x-ndjson"))
        if verdict.error is not None:
            return body, verdict
        refused = self.fit(body, native=True)
        if refused is not None:
            if body.get("stream", True):
                return body, not_modelled(self.kind, "a refused prompt on a streamed /api/chat")
            return body, Verdict.reject(refused)
        return body, verdict

    def _native_wrap(self, body: dict[str, Any], content: str) -> Reply:
        content, reason = self.fit_answer(body, content, native=True)
        usage = self.usage(body, content)
        done = {
            "model": body.get("model") or self.model,
            "created_at": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z"),
            "message": {"role": "assistant", "content": content},
            "done_reason": reason,
            "done": True,
            "total_duration": 1_000_000,
            "load_duration": 1_000,
            "prompt_eval_count": usage["prompt_tokens"],
            "prompt_eval_duration": 1_000,
            "eval_count": usage["completion_tokens"],
            "eval_duration": 1_000,
        }
        done = {k: v for k, v in done.items() if v != 0 or k not in ("prompt_eval_count", "eval_count")}  # omitempty
        if body.get("stream", True) is False:
            return Reply(200, done)
        chunk = {**{k: done[k] for k in ("model", "created_at")}, "message": done["message"], "done": False}
        last = {**done, "message": {"role": "assistant", "content": ""}}
        lines = json.dumps(chunk) + "\n" + json.dumps(last) + "\n"
        return Reply(200, lines, "application/x-ndjson")
