"""The error stage of :class:`~sxhub.teachers.inference_client.InferenceClientTeacher`: what a failed request means.

An HTTP or connection failure is sorted here into the run's stop (a server never reached, a provider that does not
serve the model, the Hub's refusal of its provider mapping, an endpoint that no longer runs, a base_url missing its
``/v1``) or a retry (a server that answered before and now refuses, the Hub's load), and Ollama's native route is given
up for its OpenAI route when a gateway serves only ``/v1``. :class:`InferenceErrors` is a mixin the teacher inherits:
it has no state of its own, it reads and sets the teacher's fields; :func:`refused` is a plain function.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from urllib.parse import urlparse

from ..errors import HubUnreachableError, TeacherError, TeacherUnavailableError
from ..spec import TeacherSpec
from .base import RESUME, HubBusyError, classify_status, error_detail
from .servers import root_url

logger = logging.getLogger("sxhub.teachers.inference_client")  # the teacher's logger, as before the split

ENDPOINT_CHECK_EVERY = 10.0  # seconds between two reads of an endpoint teacher's state after an HTTP error


class InferenceErrors:
    """The error methods of :class:`~sxhub.teachers.inference_client.InferenceClientTeacher` (a mixin: the fields
    below are the teacher's, set in its ``__init__``)."""

    name: str
    spec: TeacherSpec | None
    base_url: str | None
    _answered: bool
    _native_missing: bool
    _endpoint_checked: float

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
        """A named ``provider:`` that does not serve the Hub model id (or not for chat): the run stops at once.

        huggingface_hub up to 2.4 refuses it before any request, with a ``ValueError`` from its provider mapping
        (``inference/_providers/_common.py`` ``_fetch_inference_provider_mapping`` /
        ``TaskProviderHelper._prepare_mapping_info``, 2.4.0: "Model M is not supported by provider P.", "... not
        supported for task T and provider P", "No provider mapping found for model M"). It was read as an unreadable
        answer: every text failed alone, the ledger counted a request per text that never left, and the run ended
        with "every text failed". From 2.5 an ``hf_`` token sends ``M:P`` to the router's ``/v1/chat/completions``
        and no mapping is fetched (2.5.0 ``_common.py`` ``BaseConversationalTask.prepare_request``): the router
        refuses it with an HTTP 400, "Model not supported by provider P" (its words on a provider's route,
        huggingface/huggingface.js issue #2225; matched by Hugging Face's own ml-intern, ``agent/core/agent_loop.py``
        ``_friendly_error_message`` at commit d9283ec, as the answer to a pinned ``:provider``), or "the provider you
        attempted to explicitly specify 'P' is not a valid provider." (maximhq/bifrost issue #1381). That 400 stopped
        the run after three texts saying to set `server:` or `structured: none`, which change nothing here. Both
        now stop with the same line."""
        if self.base_url or self.spec is None:
            return
        response = getattr(exc, "response", None)
        if response is not None:  # an HTTP answer (huggingface_hub's BadRequestError is a ValueError too)
            if not self.spec.provider or getattr(response, "status_code", None) != 400:
                return
            said = error_detail(response)
            if "not supported by provider" not in said.lower() and "not a valid provider" not in said.lower():
                return
        elif isinstance(exc, ValueError):
            said = str(exc)
            if "supported by provider" not in said and "and provider" not in said and "provider mapping" not in said:
                return
        else:
            return
        raise TeacherUnavailableError(
            f"teacher {self.name!r}: Inference Providers cannot serve model {self.spec.model!r} with provider "
            f"{self.spec.provider or 'auto'!r} ({said.rstrip('.')}); set `provider:` for this teacher to one that serves it for "
            "chat (the model's page on the Hub lists them; check the model id there too), drop `provider:` to let the router pick one, or serve the "
            "model on an Inference Endpoint (`sxhub endpoint up MODEL`)."
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

    def _raise_if_not_json(self, exc: BaseException) -> None:
        """A success answer that is not JSON: a base_url that is a web application rather than the model server's
        API (a chat UI in front of it, a proxy's sign-in page) answers the chat request with HTTP 200 and an HTML
        page. Each text failed with "unreadable response (JSONDecodeError: Expecting value: line 1 column 1 (char
        0))", naming neither what came back nor the fix; the vote's error now shows the start of it (``doc`` of the
        JSONDecodeError, raised by huggingface_hub and by the plain HTTP client alike) and what to check."""
        if not isinstance(exc, json.JSONDecodeError):
            return
        sent = " ".join(str(exc.doc).split())[:120]
        fix = (
            f"check that base_url {self.base_url} is the server's OpenAI-compatible API (an address that usually "
            "ends in /v1), not a web page or an application in front of it"
            if self.base_url
            else "the Inference Providers router answered something other than a chat completion; run the same "
            "command again later (the label cache keeps every answer so far)"
        )
        raise TeacherError(f"{self.name}: the server's answer is not JSON: {sent!r}; {fix}.") from exc

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


def refused(exc: BaseException) -> bool:
    """A connection that could not be made (refused, or the host no longer resolves)."""
    import httpx2

    return isinstance(exc, httpx2.ConnectError)
