"""Reading a server's answer: the :class:`~sxhub.teachers.base.Reply` in an OpenAI chat-completion body
(:func:`read_completion`) or an Ollama ``/api/chat`` answer (:func:`read_ollama_chat`), with what servers send besides
a plain answer sorted into sxhub's errors. Used by :mod:`sxhub.teachers.inference_client`; no request is made here.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import TeacherError
from .base import (
    ANSWER_CONTEXT_FIX,
    SERVER_CONTEXT_FIX,
    AnswerCappedError,
    AnswerCutError,
    RefusedError,
    Reply,
    RetryableTeacherError,
    classify_status,
)


def read_completion(
    data: Any,
    name: str,
    *,
    hub: bool,
    max_tokens: int | None = None,
    fix: str = SERVER_CONTEXT_FIX,
    context: int | None = None,
) -> Reply:
    """The :class:`Reply` in a chat-completion body (a dict, or huggingface_hub's output, a dict too).

    What servers send besides a plain answer:

    * no ``choices`` but an ``error`` object, with HTTP 200: OpenRouter does this for an error that happens once the
      model started ("the returned HTTP response status will be 200 and any error occurred while the LLM is producing
      the output will be emitted in the response body", openrouter.ai/docs/api/reference/errors-and-debugging), its
      ``error.code`` an HTTP status. Sorted by that code like an HTTP error, with the server's message (it was
      retried three times as "the server returned no choices", whatever it said, a refused request included);
    * an OpenAI ``message.refusal`` or ``finish_reason: "content_filter"``: this text was refused; a
      :class:`RefusedError` with the server's words (it was "reply holds no JSON object: ''", asked again twice);
    * ``content`` null or empty, the answer's tokens spent in ``reasoning`` (vLLM >= 0.10's ``ChatMessage.reasoning``,
      older vLLM and llama.cpp ``reasoning_content``, Ollama ``reasoning``) when a reasoning model ran out of
      ``max_tokens`` while thinking: vLLM's ``BaseThinkingReasoningParser.extract_reasoning`` returns no content when
      ``</think>`` never came. An empty text, which the engine reports as empty and, at max_tokens, as cut off;
    * ``finish_reason: "length"`` with fewer ``completion_tokens`` than ``max_tokens``: the prompt fitted the
      server's context window, the answer filled it and was stopped there, mid-JSON. An :class:`AnswerCutError` that
      names ``fix`` (the server's context; it read "invalid answer: reply holds no JSON object" with no reason, asked
      three times, each filling the same context). llama-cpp-python 0.3.36 lowers ``max_tokens`` to ``n_ctx`` minus
      the prompt (llama_cpp/llama.py ``_create_completion``, "Truncate max_tokens if requested tokens would exceed
      the context window") and reports ``finish_reason`` "length" with ``completion_tokens`` the tokens made (seen
      from the running server with --n_ctx 512: 502 prompt + 10 completion tokens, max_tokens 256); llama.cpp's
      llama-server, without --context-shift (its default), stops the slot with STOP_TYPE_LIMIT, reported as
      "length" (tools/server/server-context.cpp, "stopped due to running out of context capacity"). At
      ``max_tokens`` it is the reply the engine says was cut off at max_tokens (raise max_tokens). Where the
      server's ``context`` is known (vLLM and SGLang list ``max_model_len``) and the prompt and answer are below it,
      the context did not fill up: the server capped the answer. vLLM answers at most the least of what its context
      leaves, the request's ``max_tokens`` and ``override_max_tokens`` (vllm/entrypoints/utils.py
      ``get_max_tokens`` at 00fc8809; ``--override-generation-config``'s ``max_new_tokens``, or that of the folder
      ``--generation-config`` names): an :class:`AnswerCappedError` that names that cap (it named the context and
      llama.cpp's --n_ctx, which change nothing there).
    """
    choices = _field(data, "choices") or []
    if not choices:
        error = _field(data, "error")
        if error:
            message = error.get("message") if isinstance(error, dict) else None
            detail = " ".join(str(message or json.dumps(error, default=str)).split())[:300]
            code = error.get("code") if isinstance(error, dict) else None
            status = int(code) if isinstance(code, int | str) and str(code).isdigit() else 0
            if 400 <= status < 600:
                raise classify_status(status, f"in an HTTP 200 body: {detail}", None, name, hub=hub)
            raise RetryableTeacherError(f"{name}: the server answered with an error: {detail}")
        shown = " ".join(json.dumps(data, default=str).split())[:300]
        raise RetryableTeacherError(f"{name}: the server returned no choices ({shown})")
    choice = choices[0]
    message = _field(choice, "message") or {}
    refusal = _field(message, "refusal")
    if refusal:
        raise RefusedError(f"{name} refused to answer this text: {' '.join(str(refusal).split())[:300]!r}")
    if _field(choice, "finish_reason") == "content_filter":
        raise RefusedError(
            f"{name}: the server's content filter withheld the answer to this text (finish_reason content_filter)"
        )
    usage = _field(data, "usage") or {}
    prompt, answer = _count(_field(usage, "prompt_tokens")), _count(_field(usage, "completion_tokens"))
    if (
        _field(choice, "finish_reason") == "length"
        and max_tokens is not None
        and answer is not None
        and answer < max_tokens
    ):
        if context is not None and prompt is not None and prompt + answer < context:
            detail = (
                f"finish_reason length after {answer} answer tokens, below max_tokens={max_tokens}, with "
                f"{prompt} + {answer} of its {context}-token context used"
            )
            raise AnswerCappedError(
                f"{name}: the server stopped the answer below max_tokens with room left in its context ({detail}): it "
                "caps answers below the request's max_tokens (vLLM: max_new_tokens in --override-generation-config, "
                "or in the folder --generation-config names); raise that cap on the server or ask for shorter "
                "answers (reasoning: false).",
                detail=detail,
                input_tokens=prompt,
                output_tokens=answer,
            )
        used = f" = {prompt + answer}" if prompt is not None else ""
        detail = f"finish_reason length after {answer} answer tokens, below max_tokens={max_tokens}"
        raise AnswerCutError(
            f"{name}: the server stopped the answer when its context window filled up ({prompt or 'unknown'} prompt "
            f"+ {answer} answer tokens{used}; {detail}); {fix}.",
            detail=detail,
            input_tokens=prompt,
            output_tokens=answer,
        )
    return Reply(text=_content_text(_field(message, "content")), input_tokens=prompt, output_tokens=answer)


def read_ollama_chat(data: Any, name: str, *, max_tokens: int | None = None) -> Reply:
    """The :class:`Reply` in an Ollama ``/api/chat`` answer (api.ChatResponse): ``message.content`` (its thinking is
    in ``message.thinking``, never read as the answer), ``prompt_eval_count`` and ``eval_count`` as the tokens (None
    where absent: Go omits a zero count). An ``error`` in a 200 body (a model that failed once started) is retried
    like any server error.

    ``done_reason: "length"`` before ``max_tokens`` (``num_predict``) answer tokens: the context window filled up
    and, under ``shift: false``, Ollama stopped the answer there (llama-server's ``stop_type`` "limit",
    llm/llama_server.go). An :class:`AnswerCutError` that names ``num_ctx``, with the tokens the server spent: a
    cut answer is never a label, and asking again with another seed fills the same context (it read "invalid answer:
    reply holds no JSON object", asked three times). At ``max_tokens`` it is the
    reply the engine says was cut off at max_tokens."""
    if not isinstance(data, dict):
        raise TeacherError(f"{name}: unreadable /api/chat answer: {' '.join(str(data).split())[:300]}")
    if data.get("error"):
        detail = " ".join(str(data["error"]).split())[:300]
        raise RetryableTeacherError(f"{name}: the server answered with an error: {detail}")
    message = data.get("message")
    if not isinstance(message, dict):
        message = {}
    prompt, answer = _count(data.get("prompt_eval_count")), _count(data.get("eval_count"))
    if data.get("done_reason") == "length" and max_tokens is not None and (answer or 0) < max_tokens:
        detail = f"done_reason length after {answer or 0} answer tokens, below max_tokens={max_tokens}"
        raise AnswerCutError(
            f"{name}: Ollama stopped the answer when the model's context window filled up ({prompt or 'unknown'} "
            f"prompt tokens, {detail}); {ANSWER_CONTEXT_FIX}.",
            detail=detail,
            input_tokens=prompt,
            output_tokens=answer,
        )
    return Reply(
        text=str(message.get("content") or ""),
        input_tokens=prompt,
        output_tokens=answer,
    )


def _content_text(content: Any) -> str:
    """The answer in a message's ``content``: a string, or a list of content chunks whose ``text`` chunks are joined.
    Mistral's API sends a reasoning model's (Magistral) answer as ``[{"type": "thinking", "thinking": [...]},
    {"type": "text", "text": ...}]`` (docs.mistral.ai/capabilities/reasoning): the list went on as the reply's text
    and the run stopped, blaming the label cache ("type 'list' is not supported"). Thinking chunks are not the
    answer, as vLLM's ``reasoning`` field is not."""
    if content is None:
        return ""
    if isinstance(content, list):
        texts = (
            chunk if isinstance(chunk, str) else _field(chunk, "text")
            for chunk in content
            if isinstance(chunk, str) or _field(chunk, "type") == "text"
        )
        return "".join(str(text or "") for text in texts)
    return content if isinstance(content, str) else json.dumps(content, default=str)


def _field(obj: Any, key: str) -> Any:
    """``obj[key]`` of a JSON object, or the attribute of huggingface_hub's output: fields its dataclasses do not
    declare (``message.refusal``, ``reasoning_content``, an ``error``) are attributes only, absent from the parent's
    dict view."""
    value = getattr(obj, key, None) if type(obj) is not dict else None
    return obj.get(key) if value is None and isinstance(obj, dict) else value


def _count(tokens: Any) -> int | None:
    """A token count from a reply's ``usage``, or None (unknown) where it has none. ``usage`` is optional in the
    OpenAI chat-completions schema: vLLM, TGI and llama.cpp send it, but a proxy or another OpenAI-compatible server
    may not, and taken as 0 such a teacher was billed $0.0000 for every request."""
    return None if tokens is None else int(tokens)
