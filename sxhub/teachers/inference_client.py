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
when the client is built, so a patch of it here takes effect.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any
from urllib.parse import urlparse

from ..errors import HubUnreachableError, TeacherUnavailableError
from ..spec import TeacherSpec
from .base import (
    ANSWER_CONTEXT_FIX,
    RESUME,
    SERVER_CONTEXT_FIX,
    AnswerCutError,
    HubBusyError,
    Reply,
    ServerGoneError,
    Teacher,
    classify_error,
    classify_status,
    error_detail,
    request_identity,
    spec_identity,
)
from .hub_client import HF_HOST_SUFFIXES as HF_HOST_SUFFIXES
from .hub_client import _hf_token, api_key_for, is_hf_host, is_offline, own_server_client
from .replies import read_completion, read_ollama_chat
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
ENDPOINT_CHECK_EVERY = 10.0  # seconds between two reads of an endpoint teacher's state after an HTTP error


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
            self._raise_if_no_provider(exc)
            self._raise_if_no_mapping(exc)
            hub = not self.base_url or is_hf_host(self.base_url)
            error = classify_error(exc, self.name, hub=hub, timeout=self.spec.timeout)
            if _refused(exc):  # it answered before: a restart, or gone for good (the engine decides after retries)
                error = ServerGoneError(str(error))
            error = self._root_url_404(exc, error)
            await self._check_endpoint(exc)
            if error is exc:
                raise
            raise error from exc
        self._answered = True
        hub = not self.base_url or is_hf_host(self.base_url)
        return read_completion(out, self.name, hub=hub, max_tokens=max_tokens, fix=self._context_fix())

    async def _check_endpoint(self, exc: BaseException) -> None:
        """Stop the run in one line when the Inference Endpoint this teacher names (``endpoint:``) no longer runs.

        An endpoint paused while a run used it (by someone else, on the Hub's page or with ``sxhub endpoint
        pause``) answers its URL with an error: HTTP 400 "Bad Request: Invalid state" (elastic/elasticsearch issue
        #112033) or 502 (huggingface/huggingface_hub issue #1605). A 400 failed each remaining text at once and
        annotate exited 0 ("labelled 4/12 texts, 8 failed"); a 502 was retried for every text until the run stopped
        with "restart the server", and a warning said the endpoint "is left running (billed while it runs)". After
        an HTTP error, the endpoint's state is read (at most every ENDPOINT_CHECK_EVERY seconds): one that does not
        run stops the run with what to do; a run that resumes it is the same command. A state that cannot be read
        changes nothing: the error goes on as it came."""
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if self.spec is None or not self.spec.endpoint or status is None:
            return
        if status in (401, 402, 403, 422, 429):  # the token's, the request's, the load: not the endpoint's state
            return
        now = time.monotonic()
        if now - self._endpoint_checked < ENDPOINT_CHECK_EVERY:
            return
        self._endpoint_checked = now
        from .. import endpoints

        ref = self.spec.endpoint
        name, namespace = endpoints.split_ref(ref)
        try:
            found = await asyncio.to_thread(endpoints.get, name, namespace=namespace)
        except Exception as read:  # the run's own error says enough
            logger.debug("could not read the state of endpoint %s: %s", ref, read)
            return
        if found.status == endpoints.RUNNING:
            return
        where = endpoints.cli_name(name, namespace)
        if found.status == endpoints.PAUSED:
            fix = (
                f"it was paused while this run used it; run the same command to resume it (or `sxhub endpoint "
                f"resume {where}` first)"
            )
        elif found.status in endpoints.FAILED:
            fix = f"see its logs on the Hub (`sxhub endpoint status {where}`), fix it, then run the same command"
        else:
            fix = "run the same command: it waits until the endpoint runs again"
        raise TeacherUnavailableError(
            f"teacher {self.name!r}: endpoint {ref!r} is {found.status}, not running (its URL answered HTTP "
            f"{status}); {fix}. Every answer so far is kept in the label cache."
        ) from exc

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

    def _raise_if_no_provider(self, exc: BaseException) -> None:
        """huggingface_hub's refusal, before any request, of a Hub model id that the named ``provider:`` does not
        serve (or not for chat): a ``ValueError`` from its provider mapping (``inference/_providers/_common.py``
        ``_fetch_inference_provider_mapping`` / ``TaskProviderHelper._prepare_mapping_info``, 2.4.0: "Model M is not
        supported by provider P.", "... not supported for task T and provider P", "No provider mapping found for
        model M"). It was read as an unreadable answer: every text failed alone, the ledger counted a request per
        text that never left, and the run ended with "every text failed". It stops the run at once."""
        if self.base_url or not isinstance(exc, ValueError):
            return
        said = str(exc)
        if "supported by provider" not in said and "and provider" not in said and "provider mapping" not in said:
            return
        assert self.spec is not None
        provider = self.spec.provider or "auto"
        raise TeacherUnavailableError(
            f"teacher {self.name!r}: Inference Providers cannot serve model {self.spec.model!r} with provider "
            f"{provider!r} ({said.rstrip('.')}); set `provider:` for this teacher to one that serves it for chat (the "
            "model's page on the Hub lists them), drop `provider:` to let the router pick one, or serve the model on "
            "an Inference Endpoint (`sxhub endpoint up MODEL`)."
        ) from exc

    def _raise_if_no_mapping(self, exc: BaseException) -> None:
        """The Hub's refusal of the provider-mapping request that huggingface_hub sends, before any chat request, for
        a ``provider:`` other than the router's own (``GET /api/models/{id}?expand=inferenceProviderMapping``:
        ``inference/_providers/_common.py`` ``_fetch_inference_provider_mapping`` -> ``HfApi.model_info``, 2.4.0).
        It was read as the provider's answer: a model id the Hub does not show this token (404, a typo or a private
        model) said "check the model id or base_url" with no base_url in sight and nothing about the rerun; a gated or
        disabled model (403) said to give the token the "Make calls to Inference Providers" permission; a Hub that
        could not be reached said "start the server again" after 17 s of retries. Each now names the Hub, the model
        and the fix in one line; answers so far stay cached. A 429 or 5xx (the Hub's load) is a
        :class:`HubBusyError`: retried as the teacher's own (waiting a 429's ``RateLimit`` reset), and the run's stop
        names the Hub, not the teacher. Errors from the provider's own route go on as before."""
        import httpx2
        from huggingface_hub.errors import DisabledRepoError, GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

        if self.base_url:
            return
        response = getattr(exc, "response", None)
        try:  # httpx raises RuntimeError for a request that was never set
            request = response.request if response is not None else exc.request  # type: ignore[attr-defined]
        except (AttributeError, RuntimeError):
            return
        if not urlparse(str(request.url)).path.startswith("/api/models/"):
            return
        assert self.spec is not None
        model, provider = self.spec.model, self.spec.provider or "auto"
        hub = f"{request.url.scheme}://{request.url.netloc.decode()}"
        asked = (
            f"teacher {self.name!r}: the Hugging Face Hub, asked under which id provider {provider!r} serves {model!r}"
        )
        if isinstance(exc, httpx2.TransportError):
            raise HubUnreachableError(
                f"{asked}, could not be reached at {hub} ({type(exc).__name__}: {exc}); check the network (a proxy, "
                f"HF_ENDPOINT), then {RESUME}."
            ) from exc
        if not isinstance(exc, HfHubHTTPError) or response is None:
            return
        status = response.status_code
        said = f"HTTP {status}" + (f": {detail}" if (detail := error_detail(response)) else "")
        if isinstance(exc, GatedRepoError):
            fix = (
                f"model {model!r} is gated and this token's account has not been granted access: request it on "
                f"{hub}/{model}, or pick another model"
            )
        elif isinstance(exc, DisabledRepoError):
            fix = f"model {model!r} is disabled on the Hub: pick another model"
        elif isinstance(exc, RepositoryNotFoundError):
            fix = (
                f"check the model id {model!r} (org/name, as on its Hub page), or, for a private model, set HF_TOKEN "
                "(or run `hf auth login`) to a token of an account that can read it"
            )
        elif status == 401:
            fix = "set HF_TOKEN (or run `hf auth login`) with a valid token (this one is revoked, expired or mistyped)"
        elif status == 403:
            fix = (
                f"the token may not read model {model!r}: give it read access to that repo at {hub}/settings/tokens, "
                "or set HF_TOKEN to one that has it"
            )
        elif status == 429 or status >= 500:  # the Hub's load: retried as the teacher's would be, named as the Hub's
            busy = classify_status(status, "", response.headers, self.name, hub=True)
            raise HubBusyError(
                f"{asked}, answered HTTP {status}" + (f" ({detail})" if detail else ""),
                hub=hub,
                retry_after=getattr(busy, "retry_after", None),
                status=status,
            ) from exc
        else:
            return
        raise TeacherUnavailableError(f"{asked}, refused ({said}); {fix}, then {RESUME}.") from exc

    def _raise_if_never_reached(self, exc: BaseException) -> None:
        """A connection refused (or a host that does not resolve) before the server ever answered: a wrong
        ``base_url`` or a server not started. Retried like a dropped connection, it cost minutes of backoff per text
        and ended with every text failed; it stops the run at once instead (answers so far stay cached). Once the
        server has answered, the same error is a restart or a blip, and is retried."""
        import httpx2

        if self._answered or not self.base_url or not isinstance(exc, httpx2.ConnectError):
            return
        url = urlparse(self.base_url)
        # the TLS hello got a plain-HTTP answer (OpenSSL 3.0-3.1 say WRONG_VERSION_NUMBER, 3.2 on RECORD_LAYER_FAILURE)
        if url.scheme == "https" and any(
            code in str(exc) for code in ("WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE")
        ):
            plain = url._replace(scheme="http").geturl()
            raise TeacherUnavailableError(
                f"teacher {self.name!r}: the server at {self.base_url} speaks plain HTTP, not HTTPS ({exc}); write "
                f"base_url {plain}, then run again."
            ) from exc
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


def _refused(exc: BaseException) -> bool:
    """A connection that could not be made (refused, or the host no longer resolves)."""
    import httpx2

    return isinstance(exc, httpx2.ConnectError)
