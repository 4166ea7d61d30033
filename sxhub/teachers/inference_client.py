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

Those host, offline and key rules live in :mod:`sxhub.teachers.hub_client`, the reading of a server's answer in
:mod:`sxhub.teachers.replies`; their names stay importable from here. ``own_server_client`` is read from this module
when the client is built, so a patch of it here takes effect. This module holds the connection and completion stage;
what a failed request means (the run's stop or a retry) is the error stage in :mod:`sxhub.teachers.inference_errors`,
whose mixin the teacher inherits.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..errors import TeacherUnavailableError
from ..spec import TeacherSpec
from .base import (
    ANSWER_CONTEXT_FIX,
    SERVER_CONTEXT_FIX,
    AnswerCappedError,
    AnswerCutError,
    Reply,
    ServerGoneError,
    Teacher,
    classify_error,
    request_identity,
    spec_identity,
)
from .hub_client import HF_HOST_SUFFIXES as HF_HOST_SUFFIXES
from .hub_client import _hf_token, api_key_for, is_hf_host, is_offline, own_server_client
from .inference_errors import ENDPOINT_CHECK_EVERY, InferenceErrors, refused
from .replies import read_completion, read_ollama_chat
from .servers import (
    CONTEXT_LISTING_KINDS,
    RequestShape,
    detect_server,
    learn_context,
    listed_models,
    ollama_openai_route,
    ollama_warning,
    pick_served_model,
    request_shape,
    root_url,
    served_context,
)

logger = logging.getLogger(__name__)

CONTEXT_CUTS_WARNING = 3  # answers stopped by a full context before the teacher's warning names the server's fix


class InferenceClientTeacher(InferenceErrors, Teacher):
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
        self._endpoint_checked = -ENDPOINT_CHECK_EVERY  # when the endpoint's state was last read after an error

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
                    if self.server in CONTEXT_LISTING_KINDS and self.spec.model:  # what detection would read
                        await learn_context(self.base_url, headers=self._auth_headers())  # (else listed_models)
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
        except AnswerCappedError:  # a cap on answers, not a full context: the context warning would mislead
            raise
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

    def _context(self) -> int | None:
        """The server's context window, where its detection stated one (tells a full context from a capped answer)."""
        return served_context(self.base_url) if self.base_url else None

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
            self._raise_if_no_provider(exc)
            self._raise_if_no_mapping(exc)
            self._raise_if_not_json(exc)
            hub = not self.base_url or is_hf_host(self.base_url)
            error = classify_error(exc, self.name, hub=hub, timeout=self.spec.timeout)
            if refused(exc):  # it answered before: a restart, or gone for good (the engine decides after retries)
                error = ServerGoneError(str(error))
            error = self._root_url_404(exc, error)
            await self._check_endpoint(exc)
            if error is exc:
                raise
            raise error from exc
        self._answered = True
        hub = not self.base_url or is_hf_host(self.base_url)
        return read_completion(
            out, self.name, hub=hub, max_tokens=max_tokens, fix=self._context_fix(), context=self._context()
        )

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
        return read_completion(
            response.json(),
            self.name,
            hub=hub,
            max_tokens=max_tokens,
            fix=self._context_fix(),
            context=self._context(),
        )

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
