"""A stand-in for Hugging Face's Inference Providers router, for a teacher given as a Hub model id.

The router itself is not open source, so this stand-in is written from the client that talks to it,
huggingface_hub 2.4.0 (the version installed here; wheel ``huggingface_hub-2.4.0-py3-none-any.whl``):

- ``inference/_providers/__init__.py`` ``get_provider_helper``: a chat request without a provider goes to the
  ``CONVERSATIONAL_AUTO_ROUTER`` (``_common.py`` ``AutoRouterConversationalTask``: base URL
  ``https://router.huggingface.co``, route ``/v1/chat/completions``, the body's ``model`` is the Hub model id, no
  provider mapping is fetched). With a provider, the mapping comes from ``GET /api/models/{id}?expand=
  inferenceProviderMapping`` on the Hub (``_common.py`` ``_fetch_inference_provider_mapping``; ``hf_api.py``
  ``ModelInfo`` reads it as a dict provider -> ``{providerId, status, task}``), and an ``hf_`` token routes the
  request through ``INFERENCE_PROXY_TEMPLATE`` = ``https://router.huggingface.co/{provider}`` + ``/v1/chat/completions``
  (``_common.py`` ``TaskProviderHelper._prepare_base_url``), with ``model`` set to the provider's id.
- ``inference/_providers/together.py`` ``TogetherConversationalTask._prepare_payload_as_dict``: for Together the
  client flattens the OpenAI form into ``{"type": "json_schema", "schema": S}``, the form Together reads.

From huggingface_hub 2.5.0 (wheel ``huggingface_hub-2.5.0-py3-none-any.whl``, ``_common.py``
``BaseConversationalTask.prepare_request``: "With a HF token, the router resolves `model:provider` server-side, no Hub
mapping lookup"), a chat request with a named provider and an ``hf_`` token goes to a fresh
``AutoRouterConversationalTask`` instead: ``/v1/chat/completions`` with ``model`` = ``{id}:{provider}`` in the OpenAI
form, and the Hub is not asked. The router then refuses a provider that does not serve the model with an HTTP 400,
"Model not supported by provider P" (the router's words on a provider's route, huggingface/huggingface.js issue
#2225; Hugging Face's ml-intern matches the same words as the answer to a pinned ``:provider``,
``agent/core/agent_loop.py`` ``_friendly_error_message`` at commit d9283ec), and a name that is no provider with
"the provider you attempted to explicitly specify 'P' is not a valid provider." (maximhq/bifrost issue #1381), each in
the OpenAI error object that route answers in. :func:`routes_named_providers` says which of the two clients is
installed; :func:`point_client_at` points either at a stand-in.

So the stand-in checks what each route must receive to constrain the answer: the OpenAI ``json_schema`` form on the
auto router (OpenAI-compatible, documented as supporting structured outputs), Together's flattened form on
``/together``; it answers schema-valid JSON then, and JSON that breaks the schema otherwise. It serves the Hub's
model-info route for the mapping, so ``constants.ENDPOINT`` can point here too.

A test scripts the router's error answers with ``ProviderRouter(fault)``: ``fault(n)`` is called for the n-th chat
request (from 1, all routes together) and returns a :class:`RouterFault` to answer it with, or None to answer it as
usual. The builders below give the bodies the router is seen to send; huggingface_hub turns every one into an
``HfHubHTTPError`` (``utils/_http.py`` ``hf_raise_for_status``; installed 2.4.0, and huggingface/huggingface_hub at
commit ee0a4510f4bc15e26cb722be2efc2bdb01383ca0): a 403 as "403 Forbidden: {X-Error-Message}. ... Make sure your token
has the correct permissions.", a 429 as "429 Too Many Requests" (with the reset time when the ``RateLimit`` header says
the window is spent), and 401 and 402 as the plain status line; each with the body's ``error`` appended and the
response kept on the exception.

``ProviderRouter(hub=RouterFault)`` answers the Hub's model-info route (the provider mapping, fetched before the first
chat request with a ``provider:`` other than the auto router) with that error instead (``hub=fault``: the n-th). huggingface_hub reads those
answers in the same ``hf_raise_for_status`` (installed 2.4.0), by the ``X-Error-Code`` and ``X-Error-Message`` headers
first: ``RepoNotFound`` becomes ``RepositoryNotFoundError`` (the Hub's 404 for a model that does not exist or that the
token cannot see, a private one: it does not tell them apart), ``GatedRepo`` ``GatedRepoError``, the message "Access
to this resource is disabled." ``DisabledRepoError``; a 401 whose message is "Invalid credentials in Authorization
header" (a revoked or mistyped token, on any route: huggingface/huggingface_hub pull request #2847) stays a plain
``HfHubHTTPError``, where any other 401 on a repo route is read as ``RepositoryNotFoundError``. The Hub shows a gated
model's info to everyone (its files are what it gates), so :func:`gated_repo` is the Hub's gated answer as
huggingface_hub handles it on any route, for a Hub that one day gates the info too.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from servers.answers import invalid_instance, user_text, valid_instance

MODEL = "org/teacher-model"
TOGETHER_ID = "together-org/teacher-model-turbo"
# the providers that serve MODEL, as the Hub's model info lists them
MAPPING = {"together": {"providerId": TOGETHER_ID, "status": "live", "task": "conversational"}}


def auto_router_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema" and isinstance(fmt.get("json_schema"), dict):
        return fmt["json_schema"].get("schema")
    return None


def routes_named_providers() -> bool:
    """Whether the installed huggingface_hub sends a named provider, with an ``hf_`` token, to the router as
    ``model:provider`` (2.5 on: no provider mapping is fetched from the Hub) rather than to ``/{provider}`` after
    asking the Hub for the mapping (up to 2.4)."""
    from huggingface_hub.inference._providers._common import BaseConversationalTask

    return "prepare_request" in vars(BaseConversationalTask)


def point_client_at(router: ProviderRouter, monkeypatch: Any, hub_root: str | None = None) -> None:
    """Point huggingface_hub's Hub address (``hub_root``, else the stand-in), its provider routes and its auto router
    at the stand-in. 2.5 builds a new ``AutoRouterConversationalTask`` for each named-provider request, with the
    router's address written in its ``__init__``: that is patched too, besides the module's own instance."""
    from huggingface_hub import constants
    from huggingface_hub.inference._providers import CONVERSATIONAL_AUTO_ROUTER, _common

    monkeypatch.setattr(constants, "ENDPOINT", hub_root or router.root)
    monkeypatch.setattr(constants, "INFERENCE_PROXY_TEMPLATE", router.root + "/{provider}")
    monkeypatch.setattr(CONVERSATIONAL_AUTO_ROUTER, "base_url", router.root)
    init = _common.AutoRouterConversationalTask.__init__

    def routed_init(self: Any) -> None:
        init(self)
        self.base_url = router.root

    monkeypatch.setattr(_common.AutoRouterConversationalTask, "__init__", routed_init)


def together_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    fmt = body.get("response_format") or {}
    return fmt.get("schema") if fmt.get("type") == "json_schema" else None


def unsupported_model(model: str) -> dict[str, Any]:
    """The router's answer to a model that no provider enabled for the token serves: HTTP 400 "The requested model
    'M' is not supported by any provider you have enabled." (as users met it through the router's OpenAI-compatible
    route: cline/cline issue #5098, n4ze3m/page-assist issue #727), in the OpenAI error object's form."""
    return {
        "error": {
            "message": f"The requested model '{model}' is not supported by any provider you have enabled.",
            "type": "invalid_request_error",
            "param": "model",
            "code": "model_not_supported",
        }
    }


def not_served_by(provider: str) -> dict[str, Any]:
    """The router's 400 to ``model:provider`` for a provider that does not serve the model (see the module
    docstring)."""
    return {
        "error": {
            "message": f"Model not supported by provider {provider}",
            "type": "invalid_request_error",
            "param": "model",
            "code": "model_not_supported",
        }
    }


def not_a_provider(provider: str) -> dict[str, Any]:
    """The router's 400 to ``model:name`` for a name that is no provider (maximhq/bifrost issue #1381)."""
    return {
        "error": {
            "message": f"the provider you attempted to explicitly specify '{provider}' is not a valid provider.",
            "type": "invalid_request_error",
            "param": "model",
            "code": "model_not_supported",
        }
    }


@dataclass
class RouterFault:
    """An error answer of the router: the HTTP status, the JSON body and any headers (``Retry-After``, ``RateLimit``)."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def out_of_credits() -> RouterFault:
    """HTTP 402 once the account's monthly included credits are spent (the free tier's end; PRO users past theirs
    without pay-as-you-go): "You have exceeded your monthly included credits for Inference Providers. Subscribe to PRO
    to get 20x more monthly included credits." (huggingface/agents-course issue #386, through InferenceClient)."""
    return RouterFault(
        402,
        {
            "error": "You have exceeded your monthly included credits for Inference Providers. Subscribe to PRO to "
            "get 20x more monthly included credits."
        },
    )


def invalid_token() -> RouterFault:
    """HTTP 401 for a token the Hub does not know (revoked, mistyped): ``{"error":"Invalid credentials in
    Authorization header"}`` (huggingface/huggingface_hub issue #3368; huggingface/mcp-course issue #104 from an
    inference client). huggingface_hub names the same words in ``hf_raise_for_status`` (see the module docstring)."""
    said = "Invalid credentials in Authorization header"
    return RouterFault(401, {"error": said}, {"X-Error-Message": said})


def no_inference_permission(user: str = "someone") -> RouterFault:
    """HTTP 403 for a fine-grained token without "Make calls to Inference Providers": ``{"error":"This authentication
    method does not have sufficient permissions to call Inference Providers on behalf of user U"}``
    (CSOAI-ORG/councilof-ai issue #1102, huggingface/serge pull request #56 ("on behalf of org O"),
    huggingface/agents-course issue #558 through InferenceClient). A gated model needs no access approval to be
    called through Inference Providers (huggingface/huggingface_hub issue #3301), so this is the router's 403. The
    words come in the ``X-Error-Message`` header too: huggingface_hub's "403 Forbidden: {X-Error-Message}." in #558
    quotes them."""
    said = f"This authentication method does not have sufficient permissions to call Inference Providers on behalf of user {user}"
    return RouterFault(403, {"error": said}, {"X-Error-Message": said})


def rate_limited(*, retry_after: str | None = None, reset_in: int | None = None) -> RouterFault:
    """HTTP 429. The Hub states a spent rate limit in the IETF draft's headers, ``RateLimit: "api";r=0;t=55`` and
    ``RateLimit-Policy: "fixed window";"api";q=500;w=300`` (huggingface/huggingface_hub issue #3553; read by
    ``utils/_http.py`` ``parse_ratelimit_headers``, which waits ``t`` seconds before a retry of its own requests, pull
    request #3577): ``reset_in`` sends them with ``t=reset_in``. ``retry_after`` sends a ``Retry-After`` header, the
    form other gateways use. The router's own 429 body is not quoted in any public report found; this one is
    huggingface_hub's ``{"error": ...}`` shape."""
    headers: dict[str, str] = {}
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    if reset_in is not None:
        headers["RateLimit"] = f'"api";r=0;t={reset_in}'
        headers["RateLimit-Policy"] = '"fixed window";"api";q=500;w=300'
    return RouterFault(429, {"error": "Too Many Requests: rate limit reached, retry later"}, headers)


def repo_not_found() -> RouterFault:
    """The Hub's answer to a repo that does not exist or that the token may not see (a private model of another
    account, which the Hub does not tell apart): HTTP 404, ``X-Error-Code: RepoNotFound``, ``X-Error-Message`` and
    body ``{"error": "Repository not found"}``, as Hub-compatible servers reproduce it for huggingface_hub (KohakuHub's
    ``HTTPException(404, {"error": ...}, X-Error-Code: RepoNotFound)``, an hf-mirror's ``error_repo_not_found``)."""
    said = "Repository not found"
    return RouterFault(404, {"error": said}, {"X-Error-Code": "RepoNotFound", "X-Error-Message": said})


def gated_repo(model: str = MODEL) -> RouterFault:
    """The Hub's answer to an authenticated request for a gated repo's content without approved access: HTTP 403,
    ``X-Error-Code: GatedRepo``, "Access to model M is restricted and you are not in the authorized list. Visit
    https://huggingface.co/M to ask for access." (the words users quote from ``GatedRepoError``)."""
    said = (
        f"Access to model {model} is restricted and you are not in the authorized list. Visit "
        f"https://huggingface.co/{model} to ask for access."
    )
    return RouterFault(403, {"error": said}, {"X-Error-Code": "GatedRepo", "X-Error-Message": said})


def repo_disabled() -> RouterFault:
    """The Hub's answer to a repo it has disabled: HTTP 403 with ``X-Error-Message: Access to this resource is
    disabled.``, the words ``hf_raise_for_status`` matches to raise ``DisabledRepoError``."""
    said = "Access to this resource is disabled."
    return RouterFault(403, {"error": said}, {"X-Error-Message": said})


Fault = Callable[[int], RouterFault | None]


class ProviderRouter:
    """``with ProviderRouter() as router:``; ``router.root`` is both the Hub endpoint and the router's base URL.
    ``ProviderRouter(fault)`` answers the n-th chat request with ``fault(n)`` when it is a :class:`RouterFault`."""

    def __init__(self, fault: Fault | None = None, *, hub: RouterFault | Fault | None = None) -> None:
        self.fault = fault
        # the Hub's answer to every model-info request (the provider mapping), when not None; a Fault: to the n-th
        self.hub = hub
        self.model_info_times: list[float] = []  # time.monotonic() of every model-info request received
        self.chats = 0  # chat requests received, faults included
        self.times: list[float] = []  # time.monotonic() of every chat request received
        self.faults: list[int] = []  # the status of every fault answered, in order
        self.requests: list[tuple[str, dict[str, Any]]] = []  # (path, body) of every chat request answered
        self.enforced: list[str] = []
        self.model_info_calls = 0
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> ProviderRouter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def chat(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]] | RouterFault:
        with self._lock:
            self.chats += 1
            self.times.append(time.monotonic())
            fault = self.fault(self.chats) if self.fault is not None else None
            if fault is not None:
                self.faults.append(fault.status)
                return fault
        if path == "/v1/chat/completions":
            expected_model, schema = MODEL, auto_router_schema(body)
            named = str(body.get("model")).partition(":")[2]  # huggingface_hub >= 2.5: model:provider
            if named:
                from huggingface_hub.inference._providers import PROVIDERS

                if named not in PROVIDERS:
                    return 400, not_a_provider(named)
                if named not in MAPPING:
                    return 400, not_served_by(named)
                expected_model = f"{MODEL}:{named}"
        elif path == "/together/v1/chat/completions":
            expected_model, schema = TOGETHER_ID, together_schema(body)
        else:
            return 404, {"error": f"no route {path}"}
        if body.get("model") != expected_model:
            return 400, unsupported_model(str(body.get("model")))
        with self._lock:
            self.requests.append((path, body))
            self.enforced.append("schema" if schema else "json")
        seed = user_text(body)
        answer = valid_instance(schema, seed) if schema else invalid_instance(None, seed)
        return 200, {
            "id": "chatcmpl-router",
            "object": "chat.completion",
            "model": expected_model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": json.dumps(answer)}}],
            "usage": {"prompt_tokens": 40, "completion_tokens": 6, "total_tokens": 46},
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        router = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return

            def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.split("?")[0] == f"/api/models/{MODEL}":
                    router.model_info_calls += 1
                    router.model_info_times.append(time.monotonic())
                    hub = router.hub(router.model_info_calls) if callable(router.hub) else router.hub
                    if hub is not None:
                        self._send(hub.status, hub.body, hub.headers)
                        return
                    self._send(200, {"_id": "x", "id": MODEL, "inferenceProviderMapping": MAPPING})
                else:
                    self._send(404, {"error": "not found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                answer = router.chat(self.path, body)
                if isinstance(answer, RouterFault):
                    self._send(answer.status, answer.body, answer.headers)
                else:
                    self._send(*answer)

        return Handler
