"""The teacher behind a Hub model id (Inference Providers) or any server's ``base_url``.

Requests go through ``huggingface_hub.AsyncInferenceClient``, except ``structured: json_schema`` on a base_url, whose
form the client would rewrite, sent with a plain HTTP client in the same OpenAI chat-completions shape, and Ollama's,
sent to its native ``/api/chat`` with ``truncate: false`` so that a prompt over the model's context is refused rather
than cut (see :mod:`sxhub.teachers.servers`). The kind of server is detected on the
first request that the cache cannot answer, so a fully cached rerun contacts nobody.

``HF_HUB_OFFLINE`` (no traffic to the Hugging Face Hub) refuses a Hub model id and a base_url on a Hugging Face host
before any request; any other base_url is the user's own server and is called as usual (:func:`own_server_client`).

The Hugging Face token comes from ``HF_TOKEN`` or ``hf auth login`` (huggingface_hub's default) and is only sent to
Hugging Face hosts; other ``base_url`` servers get ``$SXHUB_API_KEY`` (or a placeholder). It is never logged.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
from typing import Any
from urllib.parse import urlparse

from ..errors import TeacherError, TeacherUnavailableError
from ..spec import TeacherSpec
from .base import (
    ANSWER_CONTEXT_FIX,
    SERVER_CONTEXT_FIX,
    AnswerCutError,
    RefusedError,
    Reply,
    RetryableTeacherError,
    ServerGoneError,
    Teacher,
    classify_error,
    classify_status,
    request_identity,
    spec_identity,
)
from .servers import (
    RequestShape,
    detect_server,
    listed_models,
    ollama_openai_route,
    ollama_warning,
    pick_served_model,
    request_shape,
    root_url,
)

logger = logging.getLogger(__name__)

CONTEXT_CUTS_WARNING = 3  # answers stopped by a full context before the teacher's warning names the server's fix
HF_HOST_SUFFIXES = ("huggingface.co", "hf.co", "huggingface.cloud", "hf.space")


def is_hf_host(url: str) -> bool:
    host = (urlparse(url).hostname or "").lower()
    return any(host == s or host.endswith("." + s) for s in HF_HOST_SUFFIXES)


def is_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def api_key_for(base_url: str) -> str | None:
    """The key sent to ``base_url``: the HF token for Hugging Face hosts (None lets huggingface_hub find it)."""
    if is_hf_host(base_url):
        return None
    return os.environ.get("SXHUB_API_KEY", "sxhub-no-key")


class InferenceClientTeacher(Teacher):
    """A teacher behind ``huggingface_hub.AsyncInferenceClient``: a Hub model id or any OpenAI-compatible URL.

    The client is created on first use with the spec's explicit timeout. ``seed`` is sent with every request, so an
    endpoint's response cache cannot hand the same sample back twice.
    """

    def __init__(self, spec: TeacherSpec, *, base_url: str | None = None, name: str | None = None) -> None:
        self.spec = spec
        self.base_url = base_url or spec.base_url
        self.name = name or spec.name or "teacher"
        self.server = None if self.base_url else "providers"
        self.version: str | None = None
        self.enforced = None
        self._client: Any = None
        self._http: Any = None
        self._model: str | None = None
        self.listed_model: str | None = None  # the one model /v1/models listed, for a URL-only teacher
        self._detecting = asyncio.Lock()
        self._answered = False  # a server that never answered and refuses connections is not there: stop, do not retry
        self._context_cuts = 0  # answers the server stopped because its context was full (AnswerCutError)
        self._native_missing = False  # Ollama's /api/chat answered 404 (a /v1-only gateway): its OpenAI route is used

    # -- which server, which form ----------------------------------------------------------------------------------
    async def resolve_server(self) -> str:
        """The server kind: ``server:`` from the spec, else detected once from the server's routes."""
        if self.server is not None:
            return self.server
        assert self.spec is not None and self.base_url
        async with self._detecting:
            if self.server is None:
                if self.spec.server:
                    self.server = self.spec.server
                else:
                    self.server, self.version = await detect_server(self.base_url, headers=self._auth_headers())
                    warning = ollama_warning(self.version) if self.server == "ollama" else None
                    if warning:
                        where = "" if self.base_url in self.name else f" at {self.base_url}"
                        logger.warning("teacher %r%s: %s", self.name, where, warning)
        return self.server

    async def resolve_model(self) -> str | None:
        """The model to name in requests: the spec's, else the one model the server lists at ``/v1/models``."""
        assert self.spec is not None
        if self.spec.model or not self.base_url:
            return self.spec.model
        if self._model is None:
            async with self._detecting:
                if self._model is None:
                    listed = await listed_models(self.base_url, self._auth_headers())
                    self._model = pick_served_model(self.base_url, listed, kind=self.server)
                    self.listed_model = listed[0] if listed else None
        return self._model

    @property
    def identity(self) -> dict[str, Any]:
        """The spec's identity; for a teacher given by URL only, also the model the server lists (resolved by
        :meth:`resolve_model` before the first request): the same URL serving another model after a restart must
        not answer from the first model's cached replies."""
        identity = spec_identity(self.name, self.spec)
        if self.listed_model is not None and self.spec is not None and not self.spec.model:
            identity["served_model"] = self.listed_model
        return identity

    @property
    def cache_identity(self) -> dict[str, Any]:
        """What the server receives: model (as served), normalised URL, provider and structured-output settings;
        not the name, which only labels the votes (:func:`~sxhub.teachers.base.request_identity`)."""
        return request_identity(self.identity)

    def _auth_headers(self) -> dict[str, str]:
        assert self.base_url
        key = api_key_for(self.base_url) or _hf_token()
        return {"Authorization": f"Bearer {key}"} if key else {}

    async def shape(self, schema: dict[str, Any] | None) -> RequestShape:
        """What this teacher's requests carry to enforce ``schema`` on its server."""
        assert self.spec is not None
        kind = await self.resolve_server()
        if kind == "ollama" and self._native_missing:
            shape = ollama_openai_route(schema, structured=self.spec.structured, version=self.version)
        else:
            shape = request_shape(kind, schema, structured=self.spec.structured, version=self.version)
        self.enforced = shape.enforced
        self.request_form = shape.describe()
        return shape

    # -- clients ---------------------------------------------------------------------------------------------------
    def _check_online(self) -> None:
        """HF_HUB_OFFLINE means no traffic to the Hugging Face Hub: a Hub model id and a base_url on a Hugging Face
        host (Inference Endpoints, router.huggingface.co) are refused before any request or probe. A server of the
        user's own (vLLM on the LAN, the embedded llama.cpp on 127.0.0.1) is not the Hub, and is called as usual
        (:func:`own_server_client`): it was refused too, and unsetting HF_HUB_OFFLINE on an air-gapped node sent the
        rest of the run (the student's backbone) to the network."""
        if is_offline() and (not self.base_url or is_hf_host(self.base_url)):
            at = "" if not self.base_url or self.base_url in self.name else f" at {self.base_url}"
            what = "on a Hugging Face host" if self.base_url else "a Hub model id (called through Inference Providers)"
            raise TeacherUnavailableError(
                f"HF_HUB_OFFLINE is set, so no request goes to the Hugging Face Hub, and teacher {self.name!r}{at} is "
                f"{what}; unset HF_HUB_OFFLINE to call this teacher (sxhub downloads nothing), or give it the "
                "base_url of a server of your own."
            )

    def check_callable(self) -> None:
        """The checks of the first request, made before it: HF_HUB_OFFLINE for a teacher on the Hub, and a token for a
        Hub model id."""
        self._check_online()
        if not self.base_url:
            self._check_token()

    def _check_token(self) -> None:
        """A Hub model id goes through Inference Providers, which answer nothing without a token: every request
        failed ("You must provide an api_key"), each text was written as failed, and annotate exited 0."""
        if _hf_token() is None:
            raise TeacherUnavailableError(
                f"teacher {self.name!r} is a Hub model id, called through Hugging Face Inference Providers, which "
                "need a token, and none is set; run `hf auth login` or set HF_TOKEN to a token allowed to call "
                "Inference Providers, or give the teacher a base_url (a server of your own)."
            )

    def _get_client(self) -> Any:
        if self._client is None:
            from huggingface_hub import AsyncInferenceClient

            assert self.spec is not None
            if self.base_url:
                client = AsyncInferenceClient if is_hf_host(self.base_url) else own_server_client()
                self._client = client(
                    base_url=self.base_url, api_key=api_key_for(self.base_url), timeout=self.spec.timeout
                )
            else:
                self._check_token()
                self._client = AsyncInferenceClient(
                    model=self.spec.model,
                    provider=self.spec.provider,  # type: ignore[arg-type]  # checked by huggingface_hub
                    timeout=self.spec.timeout,
                )
        return self._client

    def _get_http(self) -> Any:
        if self._http is None:
            import httpx2

            assert self.spec is not None and self.base_url
            key = api_key_for(self.base_url) or _hf_token()
            self._http = httpx2.AsyncClient(
                base_url=self.base_url.rstrip("/") + "/",
                timeout=self.spec.timeout,
                headers={"Authorization": f"Bearer {key}"} if key else {},
            )
        return self._http

    # -- the one method --------------------------------------------------------------------------------------------
    async def acomplete(
        self,
        messages: list[dict[str, str]],
        *,
        schema: dict[str, Any] | None,
        temperature: float,
        seed: int,
        max_tokens: int,
    ) -> Reply:
        try:
            return await self._complete(
                messages, schema=schema, temperature=temperature, seed=seed, max_tokens=max_tokens
            )
        except AnswerCutError:
            self._context_cuts += 1
            if self._context_cuts == CONTEXT_CUTS_WARNING:
                self._warn_context_cuts()
            raise

    def _warn_context_cuts(self) -> None:
        """Say once, when answers keep being stopped by a full context, which setting of this server to raise."""
        if self.server == "ollama":
            logger.warning(
                "teacher %r: %d answers so far ran past the model's context window and were stopped (Ollama's "
                "num_ctx, the context it loads the model with, is too small for these prompts and their answers): "
                "raise num_ctx on the Ollama server (OLLAMA_CONTEXT_LENGTH, or PARAMETER num_ctx in a Modelfile), "
                "shorten the texts (annotate --max-chars N) or ask for shorter answers (reasoning: false).",
                self.name,
                self._context_cuts,
            )
            return
        logger.warning(
            "teacher %r%s: %d answers so far ran past the server's context window and were stopped before "
            "max_tokens (finish_reason length), too small for these prompts and their answers; %s.",
            self.name,
            "" if not self.base_url or self.base_url in self.name else f" at {self.base_url}",
            self._context_cuts,
            self._context_fix(),
        )

    def _context_fix(self) -> str:
        return ANSWER_CONTEXT_FIX if self.server == "ollama" else SERVER_CONTEXT_FIX

    async def _complete(
        self,
        messages: list[dict[str, str]],
        *,
        schema: dict[str, Any] | None,
        temperature: float,
        seed: int,
        max_tokens: int,
    ) -> Reply:
        assert self.spec is not None
        self._check_online()  # before the server's detection probes too
        try:
            shape = await self.shape(schema)
            model = await self.resolve_model()
            if shape.plain_http:
                post = self._post_native if shape.native is not None else self._post
                try:
                    reply = await post(
                        messages, shape, model=model, temperature=temperature, seed=seed, max_tokens=max_tokens
                    )
                except Exception as exc:
                    if shape.native is None or not self._no_native_route(exc):
                        raise
                    shape = await self.shape(schema)  # Ollama's OpenAI route, from now on
                    reply = await self._post(
                        messages, shape, model=model, temperature=temperature, seed=seed, max_tokens=max_tokens
                    )
                self._answered = True
                return reply
            client = self._get_client()
            out = await client.chat_completion(
                messages,
                model=model if self.base_url else None,
                response_format=shape.response_format,
                extra_body=shape.extra_body,
                temperature=temperature,
                seed=seed,
                max_tokens=max_tokens,
            )
        except (TeacherUnavailableError, AnswerCutError):
            raise
        except Exception as exc:  # sorted into retryable / permanent; anything unknown is re-raised as is
            self._raise_if_never_reached(exc)
            hub = not self.base_url or is_hf_host(self.base_url)
            error = classify_error(exc, self.name, hub=hub, timeout=self.spec.timeout)
            if _refused(exc):  # it answered before: a restart, or gone for good (the engine decides after retries)
                error = ServerGoneError(str(error))
            error = self._root_url_404(exc, error)
            if error is exc:
                raise
            raise error from exc
        self._answered = True
        hub = not self.base_url or is_hf_host(self.base_url)
        return read_completion(out, self.name, hub=hub, max_tokens=max_tokens, fix=self._context_fix())

    def _no_native_route(self, exc: BaseException) -> bool:
        """Whether ``exc`` says that this Ollama's native ``/api/chat`` is not there (HTTP 404, and not Ollama's own
        404 for a model it has not pulled, "model 'X' not found"): a gateway in front of Ollama that serves only the
        OpenAI-compatible ``/v1`` routes (LiteLLM, an nginx that forwards /v1 only), reached with ``server: ollama``
        or through an ``/api/version`` it forwards. Every request got that 404 and the run stopped with "check the
        model id or base_url". It falls back to ``/v1/chat/completions`` (once, for every request from then on) and
        says, once, what that route cannot do."""
        from .base import error_detail

        response = getattr(exc, "response", None)
        if getattr(response, "status_code", None) != 404:
            return False
        detail = error_detail(response)
        if "model" in detail.lower() and "not found" in detail.lower():
            return False
        if not self._native_missing:
            self._native_missing = True
            logger.warning(
                "teacher %r: %s/api/chat answered HTTP 404 (%s), so sxhub sends its requests to Ollama's "
                "OpenAI-compatible /v1/chat/completions instead, which takes no `truncate: false` or `shift: false`: "
                "a prompt, or a prompt and its answer, longer than the model's context (num_ctx) is then cut at its "
                "head, the task's instructions, without an error. Serve /api/chat through the proxy, or keep every "
                "text well within num_ctx (annotate --max-chars N; a larger num_ctx on the Ollama server).",
                self.name,
                root_url(self.base_url or ""),
                detail or "no message",
            )
        return True

    def _root_url_404(self, exc: BaseException, error: BaseException) -> BaseException:
        """A 404 from a base_url without a path (``http://localhost:11434``, ``http://localhost:8000``: the address
        Ollama and vLLM print) names the fix: their OpenAI-compatible routes are under ``/v1``. sxhub's own requests
        (the served model, the plain-HTTP form) went to the root and the error said only "check the model id or
        base_url"; huggingface_hub adds ``/v1`` to a root URL, so TGI and llama.cpp worked there and these did not."""
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status != 404 or not self.base_url or urlparse(self.base_url).path.strip("/"):
            return error
        fixed = self.base_url.rstrip("/") + "/v1"
        return TeacherUnavailableError(
            f"{error} OpenAI-compatible servers (vLLM, Ollama, llama.cpp, TGI) serve their routes under /v1: use "
            f"base_url {fixed} for teacher {self.name!r}."
        )

    def _raise_if_never_reached(self, exc: BaseException) -> None:
        """A connection refused (or a host that does not resolve) before the server ever answered: a wrong
        ``base_url`` or a server not started. Retried like a dropped connection, it cost minutes of backoff per text
        and ended with every text failed; it stops the run at once instead (answers so far stay cached). Once the
        server has answered, the same error is a restart or a blip, and is retried."""
        import httpx2

        if self._answered or not self.base_url or not isinstance(exc, httpx2.ConnectError):
            return
        raise TeacherUnavailableError(
            f"teacher {self.name!r}: nothing answers at {self.base_url} ({exc or type(exc).__name__}); start its "
            "server or fix base_url, then run again."
        ) from exc

    async def _post(
        self,
        messages: list[dict[str, str]],
        shape: RequestShape,
        *,
        model: str | None,
        temperature: float,
        seed: int,
        max_tokens: int,
    ) -> Reply:
        """One OpenAI chat-completions request over plain HTTP (the form reaches the server as written)."""
        assert self.spec is not None
        body: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "temperature": temperature,
            "seed": seed,
            "max_tokens": max_tokens,
            "stream": False,
        }
        if shape.response_format is not None:
            body["response_format"] = shape.response_format
        body.update(shape.extra_body or {})
        response = await self._get_http().post("chat/completions", json=body)
        response.raise_for_status()
        hub = is_hf_host(self.base_url or "")
        return read_completion(response.json(), self.name, hub=hub, max_tokens=max_tokens, fix=self._context_fix())

    async def _post_native(
        self,
        messages: list[dict[str, str]],
        shape: RequestShape,
        *,
        model: str | None,
        temperature: float,
        seed: int,
        max_tokens: int,
    ) -> Reply:
        """One Ollama ``/api/chat`` request (api.ChatRequest), not streamed; the sampling settings go in ``options``
        as Ollama's OpenAI route puts them (``num_predict`` for max_tokens)."""
        assert self.base_url
        body: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "stream": False,
            "options": {"temperature": temperature, "seed": seed, "num_predict": max_tokens},
            **(shape.native or {}),
        }
        response = await self._get_http().post(root_url(self.base_url) + "/api/chat", json=body)
        response.raise_for_status()
        return read_ollama_chat(response.json(), self.name, max_tokens=max_tokens)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._http is not None:
            await self._http.aclose()
            self._http = None


def read_completion(
    data: Any, name: str, *, hub: bool, max_tokens: int | None = None, fix: str = SERVER_CONTEXT_FIX
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
      ``max_tokens`` it is the reply the engine says was cut off at max_tokens (raise max_tokens).
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
        used = f" = {prompt + answer}" if prompt is not None else ""
        detail = f"finish_reason length after {answer} answer tokens, below max_tokens={max_tokens}"
        raise AnswerCutError(
            f"{name}: the server stopped the answer when its context window filled up ({prompt or 'unknown'} prompt "
            f"+ {answer} answer tokens{used}; {detail}); {fix}.",
            detail=detail,
            input_tokens=prompt,
            output_tokens=answer,
        )
    return Reply(text=_field(message, "content") or "", input_tokens=prompt, output_tokens=answer)


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


def _field(obj: Any, key: str) -> Any:
    """``obj[key]`` of a JSON object, or the attribute of huggingface_hub's output: fields its dataclasses do not
    declare (``message.refusal``, ``reasoning_content``, an ``error``) are attributes only, absent from the parent's
    dict view."""
    value = getattr(obj, key, None) if type(obj) is not dict else None
    return obj.get(key) if value is None and isinstance(obj, dict) else value


def _refused(exc: BaseException) -> bool:
    """A connection that could not be made (refused, or the host no longer resolves)."""
    import httpx2

    return isinstance(exc, httpx2.ConnectError)


def _count(tokens: Any) -> int | None:
    """A token count from a reply's ``usage``, or None (unknown) where it has none. ``usage`` is optional in the
    OpenAI chat-completions schema: vLLM, TGI and llama.cpp send it, but a proxy or another OpenAI-compatible server
    may not, and taken as 0 such a teacher was billed $0.0000 for every request."""
    return None if tokens is None else int(tokens)


@functools.cache
def own_server_client() -> Any:
    """huggingface_hub's ``AsyncInferenceClient`` for a ``base_url`` not on a Hugging Face host: the same requests
    (URL, body, headers, errors), built by huggingface_hub itself, sent by its own session less the request hook that
    refuses every request under HF_HUB_OFFLINE whatever the host (``hf_request_event_hook``, utils/_http.py;
    it also adds a request id for Hub support). HF_HUB_OFFLINE means no traffic to the Hub, and a user's server is
    not the Hub."""
    from huggingface_hub import AsyncInferenceClient, get_async_session
    from huggingface_hub.utils._http import async_hf_request_event_hook

    class OwnServerClient(AsyncInferenceClient):
        async def _get_async_client(self) -> Any:
            if self._async_client is None:
                session = get_async_session()
                hooks = session.event_hooks
                kept = [hook for hook in hooks["request"] if hook is not async_hf_request_event_hook]
                session.event_hooks = {**hooks, "request": kept}
                self._async_client = await self.exit_stack.enter_async_context(session)
            return self._async_client

    return OwnServerClient


def _hf_token() -> str | None:
    from huggingface_hub import get_token

    return get_token()
