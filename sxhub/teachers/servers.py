"""Teacher server kinds: which one a ``base_url`` is, and the request that makes it enforce the answer schema.

Every server reads structured-output requests in its own form, and huggingface_hub rewrites some forms before they
leave the client, so sxhub detects the kind once per ``base_url`` (from routes each server documents) and sends the
form that kind enforces:

========================  ==========================================================  ==========  ================
kind                      what sxhub sends                                            enforces    detected by
========================  ==========================================================  ==========  ================
``providers``             ``response_format`` json_schema (a Hub model id)            schema      no base_url
``tgi``                   ``response_format={"type": "json", "value": S}``            schema      ``GET /info``
``vllm``                  ``structured_outputs={"json": S}`` (``guided_json`` < 0.10.2) schema    ``/version`` + owner
``llamacpp``              ``response_format={"type": "json_object", "schema": S}``    schema      ``GET /props``
``llamacpp-python``       ``response_format={"type": "json_object", "schema": S}``    schema      ``/openapi.json``
``ollama``                native ``/api/chat``: ``format=S``, ``truncate``/``shift`` false schema   ``/api/version`` only
``sglang``                ``response_format`` json_schema, over plain HTTP                 schema      ``/v1/models`` owner
``transformers``          nothing (it ignores ``response_format``)                     none        ``/openapi.json`` paths
``openai`` (anything else)  ``response_format={"type": "json_object"}``               json        none of the above
========================  ==========================================================  ==========  ================

"owner": ``GET /v1/models`` lists a model ``owned_by: "vllm"`` (``"sglang"``); "only": no ``GET /version`` beside
it. A ``{"version": ...}`` route alone is what many other servers answer (see :func:`classify_probes`).

Why plain HTTP for ``structured: json_schema``: huggingface_hub (>= 0.32) turns a ``json_schema`` response_format into
TGI's ``{"type": "json_object", "value": S}`` for every ``base_url`` (``inference/_providers/hf_inference.py``,
``HFInferenceConversational._prepare_payload_as_dict``), even inside ``extra_body``; Ollama reads that as "any JSON".
vLLM's ``structured_outputs`` travels in ``extra_body``, which huggingface_hub passes through unchanged. SGLang
enforces only the OpenAI form (``response_format`` json_schema -> its sampling params' ``json_schema``,
sgl-project/sglang serving_chat.py; ``json_object`` -> any JSON object) and drops unknown fields
(``ChatCompletionRequest`` is a plain pydantic model, protocol.py at 9b116dff): huggingface_hub's rewrite reaches it
as ``json_object``, ``structured_outputs`` not at all, so its json_schema goes over plain HTTP.

Why Ollama's native ``/api/chat``: given a prompt longer than the model's context (``num_ctx``), Ollama by default
drops the oldest messages and then the prompt's head (the task's instructions and examples) and answers 200; the
schema still yields a label, from a model that never saw the task. Only the native route takes ``truncate: false``
(Ollama >= 0.12.6; ``api.ChatRequest``, not ``openai.ChatCompletionRequest``), which makes it refuse such a prompt
with HTTP 400 instead: a context error, that text failed, the run going on. A prompt that fits but whose answer
fills the context is worse: Ollama drops the prompt's head mid-answer and finishes it, and nothing in the response
says so; ``shift: false`` (same versions) makes it stop the answer with ``done_reason: "length"`` instead, which sxhub
reads as a failed vote that names ``num_ctx``. Every ``structured`` setting gets the
``format`` that Ollama's OpenAI route would have made of its ``response_format`` (``openai.FromChatRequest``), so
what is enforced is unchanged. Older Ollama ignores the field and still truncates: sxhub warns once (see
:func:`ollama_warning`).

``server:`` in a teacher's spec (or ``--server``) skips the detection; ``structured: none`` sends no constraint.
Whatever was sent, every reply is validated against the schema by sxhub itself (:mod:`sxhub.prompt`).
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

KINDS = ("providers", "tgi", "vllm", "llamacpp", "llamacpp-python", "ollama", "sglang", "transformers", "openai")
PROBE_TIMEOUT = 5.0
# vLLM 0.10.2 added ``structured_outputs`` (the ``guided_*`` fields were deprecated then and later removed)
VLLM_STRUCTURED_OUTPUTS = (0, 10, 2)
# Ollama 0.12.6 added ``truncate`` to /api/chat (ollama commit 6544e1473, "Reapply \"add truncate and shift
# parameters\""); older versions ignore it
OLLAMA_TRUNCATE = (0, 12, 6)

_DETECTED: dict[str, str] = {}  # root URL -> kind, once per process


@dataclass(frozen=True)
class RequestShape:
    """What to add to a chat request for one server kind, and what that server then enforces."""

    kind: str
    enforced: str  # schema | json | none
    response_format: dict[str, Any] | None = None
    extra_body: dict[str, Any] | None = None
    plain_http: bool = False  # send with a plain HTTP client (huggingface_hub would rewrite the form)
    native: dict[str, Any] | None = None  # Ollama: the fields of a native /api/chat request (sent there instead)

    def describe(self) -> str:
        """One line for logs and reports: the form sent."""
        if self.native is not None:
            fmt = self.native.get("format")
            shown = "format json schema" if isinstance(fmt, dict) else f'format "{fmt}"' if fmt else "no format"
            return f"/api/chat {shown}, truncate false, shift false"
        if self.extra_body:
            return f"{next(iter(self.extra_body))} (extra_body)"
        if self.response_format:
            fmt = self.response_format
            keys = sorted(k for k in fmt if k not in ("type", fmt["type"]))
            return f"response_format {fmt['type']}" + (f" + {', '.join(keys)}" if keys else "")
        return "no constraint (prompt only)"


def root_url(base_url: str) -> str:
    """``http://host:port/v1`` -> ``http://host:port`` (where the servers' own routes live)."""
    return re.sub(r"/v1/?$", "", base_url.rstrip("/"))


def _version_tuple(text: str | None) -> tuple[int, ...]:
    parts = re.findall(r"\d+", text or "")[:3]
    return tuple(int(p) for p in parts) if parts else ()


def request_shape(
    kind: str, schema: dict[str, Any] | None, *, structured: str = "auto", version: str | None = None
) -> RequestShape:
    """The request extras that make ``kind`` enforce ``schema`` (``structured`` overrides the automatic choice)."""
    shape = _openai_shape(kind, schema, structured=structured, version=version)
    return ollama_native(shape) if kind == "ollama" else shape


def ollama_native(shape: RequestShape) -> RequestShape:
    """The native ``/api/chat`` request for an OpenAI-route shape: the ``format`` Ollama's OpenAI route makes of that
    ``response_format`` (openai/openai.go ``FromChatRequest``: ``json_object`` -> ``"json"``, ``json_schema`` -> its
    schema, anything else -> none), ``truncate: false``, so that a prompt over the context is refused, not cut, and
    ``shift: false``, so that an answer that fills the context is stopped (``done_reason: "length"``) instead of
    finished after Ollama dropped the prompt's head, the task's instructions (server/sched.go
    ``resolveContextShift``; a runner loaded with context shift is reloaded once without it)."""
    fmt = shape.response_format or {}
    kind = str(fmt.get("type") or "").strip().lower()
    native: dict[str, Any] = {"truncate": False, "shift": False}
    if kind == "json_object":
        native["format"] = "json"
    elif kind == "json_schema" and isinstance(fmt.get("json_schema"), dict):
        native["format"] = fmt["json_schema"].get("schema")
    return RequestShape(shape.kind, shape.enforced, plain_http=True, native=native)


def ollama_openai_route(
    schema: dict[str, Any] | None, *, structured: str = "auto", version: str | None = None
) -> RequestShape:
    """The request for an Ollama whose native ``/api/chat`` answers 404 (a gateway in front of it that serves only its
    OpenAI-compatible ``/v1`` routes): the OpenAI form Ollama's ``/v1/chat/completions`` enforces, sent over plain HTTP
    (huggingface_hub would rewrite ``json_schema``). That route has no ``truncate`` or ``shift`` field."""
    from dataclasses import replace

    return replace(_openai_shape("ollama", schema, structured=structured, version=version), plain_http=True)


def ollama_warning(version: str | None) -> str | None:
    """What to tell the user about an Ollama that cannot refuse a prompt longer than its context (None: it can, or
    its version is unknown, as with ``server: ollama`` in the spec)."""
    v = _version_tuple(version)
    if not v or v >= OLLAMA_TRUNCATE:
        return None
    return (
        f"Ollama {version} cannot refuse a prompt longer than the model's context, nor stop an answer that fills it "
        "(`truncate: false` and `shift: false` need Ollama >= 0.12.6): it drops the prompt's head, the task's "
        "instructions, and labels the text anyway. Upgrade "
        "Ollama, or cap the texts with annotate --max-chars."
    )


def _openai_shape(
    kind: str, schema: dict[str, Any] | None, *, structured: str = "auto", version: str | None = None
) -> RequestShape:
    if schema is None or structured == "none":
        return RequestShape(kind, "none")
    if structured == "json_object":  # llama.cpp's form, forced
        return RequestShape(
            kind, "schema" if kind.startswith("llamacpp") else "json", {"type": "json_object", "schema": schema}
        )
    if structured == "grammar":  # TGI's form, forced: llama.cpp and vLLM refuse it (400), llama-cpp-python 500s
        return RequestShape(
            kind, "schema" if kind in {"tgi", "providers"} else "none", {"type": "json", "value": schema}
        )
    if structured == "json_schema":  # the OpenAI form, forced (sent over plain HTTP for base_urls: see above)
        fmt = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}}
        return RequestShape(kind, "schema", fmt, plain_http=kind != "providers")
    if kind == "providers":
        fmt = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}}
        return RequestShape(kind, "schema", fmt)
    if kind == "tgi":
        return RequestShape(kind, "schema", {"type": "json", "value": schema})
    if kind == "vllm":
        v = _version_tuple(version)
        field = "guided_json" if v and v < VLLM_STRUCTURED_OUTPUTS else "structured_outputs"
        value: Any = schema if field == "guided_json" else {"json": schema}
        return RequestShape(kind, "schema", extra_body={field: value})
    if kind in {"llamacpp", "llamacpp-python"}:
        return RequestShape(kind, "schema", {"type": "json_object", "schema": schema})
    if kind == "sglang":  # the OpenAI form, over plain HTTP (huggingface_hub would make it json_object)
        fmt = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}}
        return RequestShape(kind, "schema", fmt, plain_http=True)
    if kind == "ollama":  # sent as native /api/chat (ollama_native)
        fmt = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}}
        return RequestShape(kind, "schema", fmt)
    if kind == "transformers":  # `transformers serve` lists response_format among the fields it ignores
        return RequestShape(kind, "none")
    return RequestShape("openai", "json", {"type": "json_object"})


# ------------------------------------------------------------------------------------------------------------------
# detection
# ------------------------------------------------------------------------------------------------------------------
async def _probe(client: Any, url: str) -> Any:
    """The JSON body of ``GET url`` when it answers 200 with JSON, else None."""
    try:
        response = await client.get(url)
    except Exception as exc:  # any transport failure means "this route is not there", not a crash
        logger.debug("probe %s: %s", url, exc)
        return None
    if response.status_code != 200:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _owners(models: Any) -> set[str]:
    """The ``owned_by`` values of an OpenAI ``GET /v1/models`` body."""
    data = models.get("data") if isinstance(models, dict) else None
    return (
        {str(m["owned_by"]) for m in data if isinstance(m, dict) and m.get("owned_by")}
        if isinstance(data, list)
        else set()
    )


def classify_probes(probes: dict[str, Any]) -> tuple[str, str | None]:
    """``(kind, version)`` from the bodies of the detection routes (None where a route did not answer JSON).

    A ``{"version": ...}`` body is no evidence by itself: many apps answer ``GET /version`` so, and LocalAI answers
    both ``/version`` and Ollama's ``/api/version`` (mudler/LocalAI 82c191af, core/http/routes/localai.go and
    routes/ollama.go) while it ignores vLLM's ``structured_outputs`` and the ``format`` of its ``/api/chat``
    (endpoints/ollama/chat.go drops it). So vLLM also needs a model it lists as its own (``ModelCard.owned_by =
    "vllm"``, vllm-project/vllm d7e52523, vllm/entrypoints/openai/engine/protocol.py; a gateway that rewrites the
    listing is not recognised: ``server: vllm`` says it), and Ollama needs ``/version`` to be absent (ollama/ollama
    fb307609, server/routes.go serves ``/api/version`` only). Such a look-alike is a generic OpenAI server: asked for
    JSON, never reported as enforcing the schema. SGLang answers none of these routes (sgl-project/sglang 0025436e,
    http_server.py: ``/get_model_info``, ``/get_server_info``, FastAPI's ``/openapi.json``) and lists its model as
    ``owned_by: "sglang"``."""
    info = probes.get("/info")
    if isinstance(info, dict) and "model_id" in info and ("max_input_tokens" in info or "version" in info):
        return "tgi", str(info.get("version") or "") or None
    body = probes.get("/version")
    version = body["version"] if isinstance(body, dict) and isinstance(body.get("version"), str) else None
    ollama = probes.get("/api/version")
    if isinstance(ollama, dict) and isinstance(ollama.get("version"), str) and version is None:
        return "ollama", ollama["version"]
    owners = _owners(probes.get("/v1/models"))
    if version is not None and "vllm" in owners:
        return "vllm", version
    if "sglang" in owners:  # sgl-project/sglang protocol.py ``ModelCard.owned_by = "sglang"``
        return "sglang", version
    props = probes.get("/props")
    if isinstance(props, dict) and ("default_generation_settings" in props or "build_info" in props):
        return "llamacpp", str(props.get("build_info") or "") or None
    openapi = probes.get("/openapi.json")
    title = ((openapi or {}).get("info") or {}).get("title", "") if isinstance(openapi, dict) else ""
    if "llama.cpp" in str(title).lower() or "llama-cpp" in str(title).lower():
        return "llamacpp-python", str(((openapi or {}).get("info") or {}).get("version") or "") or None
    paths = (openapi or {}).get("paths") or {} if isinstance(openapi, dict) else {}
    if "/load_model" in paths and "/v1/chat/completions" in paths:  # transformers/cli/serving/server.py routes
        return "transformers", None
    if version is not None or isinstance(ollama, dict):
        logger.info(
            "the server answers GET /version or /api/version but lists no model owned by vLLM, or answers both: "
            "taken for a generic OpenAI-compatible server (name its kind with `server:` if it is vLLM or Ollama)"
        )
    return "openai", None


PROBE_ROUTES = ("/info", "/api/version", "/version", "/props", "/openapi.json", "/v1/models")
_VERSIONS: dict[str, str | None] = {}
_CONTEXTS: dict[str, int] = {}  # root URL -> the context window its /v1/models states (vLLM, SGLang: max_model_len)
CONTEXT_LISTING_KINDS = frozenset({"vllm", "sglang"})  # the kinds whose /v1/models states max_model_len


def _listed_context(models: Any) -> int | None:
    """The ``max_model_len`` a ``/v1/models`` body states for its models (the smallest, where they differ)."""
    data = models.get("data") if isinstance(models, dict) else None
    lens = [m["max_model_len"] for m in data or [] if isinstance(m, dict) and type(m.get("max_model_len")) is int]
    return min(lens) if lens else None


def served_context(base_url: str) -> int | None:
    """The context window (tokens) the server behind ``base_url`` stated when it was detected, or None."""
    return _CONTEXTS.get(root_url(base_url))


async def detect_server(base_url: str, *, headers: dict[str, str] | None = None) -> tuple[str, str | None]:
    """The kind of server behind ``base_url`` (and its version when it says), probed once per process."""
    root = root_url(base_url)
    if root in _DETECTED:
        return _DETECTED[root], _VERSIONS.get(root)
    import httpx2

    async with httpx2.AsyncClient(timeout=PROBE_TIMEOUT, headers=headers or {}, follow_redirects=True) as client:
        bodies = await asyncio.gather(*(_probe(client, root + route) for route in PROBE_ROUTES))
    probes = dict(zip(PROBE_ROUTES, bodies, strict=True))
    kind, version = classify_probes(probes)
    if kind in CONTEXT_LISTING_KINDS and (context := _listed_context(probes["/v1/models"])) is not None:
        _CONTEXTS[root] = context
    logger.info("teacher server at %s: %s%s", root, kind, f" {version}" if version else "")
    _DETECTED[root], _VERSIONS[root] = kind, version
    return kind, version


_CONTEXT_READ: set[str] = set()  # roots whose /v1/models was read for a context without detection


async def learn_context(base_url: str, *, headers: dict[str, str] | None = None) -> None:
    """Read the context window a vLLM or SGLang server named by ``server:`` (or by an Inference Endpoint's image)
    states at ``/v1/models``, once per process: detection reads it, and without it an answer the server capped
    below ``max_tokens`` (vLLM's ``max_new_tokens`` in ``--override-generation-config``) was blamed on a full
    context and the fix named the context. A server that does not answer leaves the context unknown, as before."""
    root = root_url(base_url)
    if root in _CONTEXTS or root in _CONTEXT_READ:
        return
    _CONTEXT_READ.add(root)
    import httpx2

    async with httpx2.AsyncClient(timeout=PROBE_TIMEOUT, headers=headers or {}, follow_redirects=True) as client:
        context = _listed_context(await _probe(client, root + "/v1/models"))
    if context is not None:
        _CONTEXTS[root] = context


def forget_detected() -> None:
    """Drop the per-process detection cache (tests start servers of different kinds on reused ports)."""
    _DETECTED.clear()
    _VERSIONS.clear()
    _CONTEXTS.clear()
    _CONTEXT_READ.clear()


async def listed_models(base_url: str, headers: dict[str, str]) -> list[str]:
    """The model ids a server lists at its OpenAI ``GET /v1/models`` (none when it does not answer)."""
    import httpx2

    async with httpx2.AsyncClient(timeout=PROBE_TIMEOUT, headers=headers, follow_redirects=True) as client:
        body = await _probe(client, base_url.rstrip("/") + "/models")
    root = root_url(base_url)
    _CONTEXT_READ.add(root)  # the context it states, read with the models (vLLM, SGLang): no second request for it
    if root not in _CONTEXTS and (context := _listed_context(body)) is not None:
        _CONTEXTS[root] = context
    data = body.get("data") if isinstance(body, dict) else None
    return [str(m.get("id")) for m in data or [] if isinstance(m, dict) and m.get("id")]


def pick_served_model(base_url: str, ids: list[str], *, kind: str | None = None) -> str:
    """One listed model is used; several are an error naming them (the spec must say which). TGI serves one model
    and ignores the field, so a server that lists nothing gets its kind's name."""
    from ..errors import TeacherUnavailableError

    if len(ids) > 1:
        raise TeacherUnavailableError(
            f"the server at {base_url} serves {len(ids)} models ({', '.join(ids[:8])}); name one with "
            f"`model:` for this teacher in the task spec."
        )
    return ids[0] if ids else (kind or "default")
