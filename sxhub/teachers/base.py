"""The teacher interface, its reply and its errors (every backend and the cache depend on this module only).

A backend implements :meth:`Teacher.acomplete` and returns a :class:`Reply` (the raw text and token counts).
Errors are sorted into kinds so the annotate engine knows what to do:

* :class:`RetryableTeacherError`: 429, 5xx (and TGI's 424, a failed batch), timeouts and connection errors; worth
  another try (``retry_after`` holds the server's ``Retry-After`` in seconds when it sent one, or for a 429 the reset
  of the Hub's spent ``RateLimit`` window).
* :class:`RejectedRequestError` (a :class:`~sxhub.errors.TeacherError`): the server refused the request itself
  (400, 422, ...). One such answer is a failed vote; the same refusal for a teacher's first requests means the
  request shape is wrong for that server, and the engine stops the run (see :mod:`sxhub.annotate`).
  :class:`ContextLengthError` is the one refusal that is about the text, not the shape: the prompt and ``max_tokens``
  do not fit the server's context window. It fails that vote with the fix and never stops the run.
* :class:`~sxhub.errors.TeacherUnavailableError` for 401/402/403/404, which no retry can fix and which stop the run.
* :class:`RefusedError` (a :class:`~sxhub.errors.TeacherError`): the model refused this text (an OpenAI
  ``message.refusal``, or ``finish_reason: "content_filter"``). A failed vote with the server's words, never asked
  again with other seeds, never counted towards stopping the run.
* :class:`ServerGoneError` (retryable): a connection refused by a server that had answered before. Retried like any
  lost connection; still refused after every retry, the server is gone and the engine stops the run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING, Any

from ..errors import TeacherError, TeacherUnavailableError
from ..spec import TeacherSpec

if TYPE_CHECKING:
    from ..spec import TaskSpec

# 402 Payment Required: the account is out of credit (the Hugging Face router answers it once a token's monthly
# Inference Providers credits are spent: "You have exceeded your monthly included credits for Inference Providers";
# OpenRouter and other paid APIs answer it too). No retry and no other text can pass until credit is added.
PERMANENT_STATUS = {401, 402, 403, 404}
# 408 Request Timeout, 429 Too Many Requests, and 424 Failed Dependency: TGI's answer to every request of a batch
# that a model shard failed (a CUDA out-of-memory error, say; backends/v3/src/backend.rs ``send_errors``, mapped by
# router/src/server.rs, huggingface/text-generation-inference at db931fcf): the batch is discarded and the next one
# runs. Read as a refusal of the request, each text of that batch failed untried again, and a batch of the run's
# first texts stopped it blaming the request's shape.
RETRYABLE_STATUS = {408, 424, 429}


@dataclass(frozen=True)
class Reply:
    """What a teacher answered: the raw text, the tokens it cost and, from a teacher that scores labels (sxhub's
    tuned teacher), the label probabilities the answer was chosen from (``None`` from every other teacher, and for a
    written text). ``input_tokens``/``output_tokens`` are None when the server did not say (no ``usage`` in its
    reply): unknown, never counted as 0."""

    text: str
    input_tokens: int | None = 0
    output_tokens: int | None = 0
    scores: dict[str, float] | None = None


class RetryableTeacherError(TeacherError):
    """A failure that may pass on another try: 429, 5xx, a timeout or a lost connection (``status``: the HTTP
    status, when the server answered one)."""

    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class HubBusyError(RetryableTeacherError):
    """The Hugging Face Hub (``hub``: its address), not the teacher, answered a 429 or 5xx to the request
    huggingface_hub sends before a chat request for a ``provider:`` (the model's provider mapping). Retried like the
    teacher's own 429/5xx (``retry_after`` from the Hub's ``RateLimit`` reset); a run that stops on it names the Hub."""

    def __init__(self, message: str, *, hub: str, retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(message, retry_after=retry_after, status=status)
        self.hub = hub


class ServerGoneError(RetryableTeacherError):
    """The connection was refused (nothing listens at the teacher's address any more) after the server had answered:
    a restart is retried; refused on every retry, the engine stops the run (see :mod:`sxhub.annotate`)."""


class RejectedRequestError(TeacherError):
    """The server refused the request as sent (HTTP 400, 422, ...): ``status`` and the server's own ``detail``."""

    def __init__(self, message: str, *, status: int, detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


class RefusedError(TeacherError):
    """The server answered, but refused to label this text (a refusal or a content filter): about the text, so it
    fails that vote alone, and asking again with another seed would be refused the same way."""


class ContextLengthError(RejectedRequestError):
    """The server refused the request because the prompt and ``max_tokens`` exceed its context window: a property of
    this text (too long), not of the request shape, so it never counts towards stopping the run."""


class AnswerCutError(ContextLengthError):
    """The prompt fitted the server's context window, but the answer filled it and the server stopped it there, below
    ``max_tokens`` (``finish_reason``/``done_reason`` "length"): never a label, and another seed fills the same
    context. The server did the work: ``input_tokens``/``output_tokens`` are what it says it spent (None: unknown),
    counted in the run's ledger like any reply's."""

    def __init__(
        self,
        message: str,
        *,
        detail: str = "",
        input_tokens: int | None = None,
        output_tokens: int | None = None,
    ) -> None:
        super().__init__(message, status=200, detail=detail)
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens


class AnswerCappedError(AnswerCutError):
    """An answer the server stopped below ``max_tokens`` with room left in its context: a cap the server sets on
    answers (vLLM's ``max_new_tokens``), not its context window. A failed vote like any cut answer; its error names
    the cap instead of the context."""


# How servers word a prompt longer than the context window (lower case; matched in the error's message), each checked
# against the server's source:
# * llama-cpp-python 0.3.36's server (sxhub's embedded teacher) answers HTTP 400 "This model's maximum context length
#   is 256 tokens. However, you requested 730 tokens (474 in the messages, 256 in the completion). Please reduce the
#   length of the messages or completion." (code "context_length_exceeded", llama_cpp/server/errors.py; seen from the
#   running server with --n_ctx 256); OpenAI and vLLM before its renderers word it "This model's maximum context
#   length is N tokens ...".
# * vLLM: its renderer answers 400 "You passed N input tokens and requested M output tokens. However, the model's
#   context length is only T tokens, resulting in a maximum input length of K tokens. ..." (and "You passed N input
#   characters ..." before tokenizing; vllm/renderers/params.py TokenizeParams._token_len_check/_text_len_check,
#   vllm-project/vllm commit 1aa021e827032484a7f89194c7e528fc40655204); its engine "The decoder prompt (length N) is
#   longer than the maximum model length of M." (vllm/v1/engine/input_processor.py _validate_prompt_len, commit
#   a1799180e1fc12d2e900c767d7c619a10ceb9467).
# * llama.cpp's llama-server: 400 "request (N tokens) exceeds the available context size (M tokens), try increasing
#   it" ("input (N tokens) is larger than the max context size ..." for a task it cannot split), type
#   exceed_context_size_error (tools/server/server-context.cpp, ggml-org/llama.cpp commit
#   001d906a6d86e2490e394361e7cc6f478b100088; "the request exceeds the available context size" before).
# * TGI: 422 "Input validation error: `inputs` tokens + `max_new_tokens` must be <= N. Given: ..." or "`inputs` must
#   have less than N tokens. Given: ..." (router/src/validation.rs ValidationError::MaxTotalTokens/InputLength,
#   huggingface/text-generation-inference commit db931fcf42da018a3657580c64bf2720f167f9ab). Its "`max_new_tokens`
#   must be <= N" (MaxNewTokens) is about max_tokens, not the text: not matched.
# * Ollama, for a model it runs without context shift (deepseek2): 400 "the prompt is longer than the context length
#   currently available to the model; ..." (llm/llama_server.go completionPromptForRequest, ollama/ollama commit
#   fb30760996871fa9460115c753afd2c60d4ab0f7); with context shift, its default, it drops the prompt's head and answers
#   200 instead, unless the request says ``truncate: false``: sxhub's Ollama requests do, and are refused with
#   llama-server's exceed_context_size_error body from 0.30, "the input length exceeds the context length" from 0.12.6
#   to 0.29 (runner/ollamarunner/runner.go; llm/llama_server.go normalizeEmbeddingError at the same commit).
CONTEXT_OVERFLOW_MARKERS = (
    "maximum context length",
    "context_length_exceeded",
    "context size",
    "context window",
    "exceed_context_size",
    "`inputs` tokens + `max_new_tokens` must be <=",
    "`inputs` must have less than",
    "longer than the context length",
    "exceeds the context length",
    "the model's context length is only",
    "longer than the maximum model length",
)
# Every such vote's error holds TOO_LONG (the fix after it has been reworded): how a resumed run knows not to ask it
# again (annotate_engine.unanswered), as ANSWER_CUT below.
TOO_LONG = "the text is too long for this teacher's context window"
CONTEXT_FIX = (
    f"{TOO_LONG}: split it into passages or shorten it (annotate "
    "--max-chars N refuses longer texts before any request), lower the teacher's max_tokens, or use a teacher with a "
    "longer context (serve the model with one)"
)


# An answer the server stopped because the context window was full (the prompt fitted, prompt and answer did not):
# Ollama's ``done_reason: "length"`` below ``num_predict``, once sxhub's requests carry ``shift: false``; on the
# OpenAI route, ``finish_reason: "length"`` below ``max_tokens`` (llama.cpp). Every such vote's error starts its fix
# with ANSWER_CUT, which is how a resumed run knows not to ask it again (annotate_engine.unanswered).
ANSWER_CUT = "the prompt fitted the teacher's context window but its answer did not"
ANSWER_CONTEXT_FIX = (
    f"{ANSWER_CUT}: shorten the text (annotate --max-chars N), ask for shorter answers (reasoning: false), or serve "
    "the model with a longer context (Ollama: num_ctx)"
)
SERVER_CONTEXT_FIX = (
    f"{ANSWER_CUT}: serve the model with a longer context (llama.cpp: --n_ctx N for llama-cpp-python's server, -c N "
    "for llama-server, N at least the prompt plus the teacher's max_tokens), shorten the text (annotate --max-chars "
    "N) or ask for shorter answers (reasoning: false)"
)


def is_context_overflow(detail: str) -> bool:
    """Whether a server's refusal says the prompt (plus ``max_tokens``) exceeds its context window."""
    text = detail.lower()
    return any(marker.lower() in text for marker in CONTEXT_OVERFLOW_MARKERS)


class Teacher:
    """The teacher interface. Subclasses implement :meth:`acomplete` (and :meth:`aclose` if they hold resources).

    ``name`` labels the votes; ``identity`` holds what makes answers differ between teachers (model, URL, provider,
    structured-output setting) and goes into the cache key. ``server`` and ``enforced`` say, once the teacher has
    been asked something, which kind of server answered and what it enforced (``schema``, ``json`` or ``none``).
    ``scores_labels``: its labelling replies carry the label probabilities (:attr:`Reply.scores`).
    """

    name: str = "teacher"
    spec: TeacherSpec | None = None
    server: str | None = None
    enforced: str | None = None
    request_form: str | None = None
    scores_labels: bool = False

    @property
    def identity(self) -> dict[str, Any]:
        """What this teacher is (model, URL, provider, settings, and the name that labels its votes): what a resumed
        run in parts must find again."""
        return spec_identity(self.name, self.spec)

    @property
    def cache_identity(self) -> dict[str, Any]:
        """The teacher's part of the cache key: what changes its output (not timeouts or concurrency). By default
        :attr:`identity`; a teacher that sends requests to a server keys them by what that server receives."""
        return self.identity

    async def acomplete(
        self,
        messages: list[dict[str, str]],
        *,
        schema: dict[str, Any] | None,
        temperature: float,
        seed: int,
        max_tokens: int,
    ) -> Reply:
        """Answer one chat request. Raise RetryableTeacherError or TeacherError on failure."""
        raise NotImplementedError

    def check_task(self, spec: TaskSpec) -> None:
        """Refuse, before any request, a task this teacher cannot label (a synthetic model tuned for other labels);
        any task by default."""

    def check_writer(self) -> None:
        """Refuse, before any request, to write texts this teacher never learned to write (a synthetic model tuned
        without writing examples); any teacher writes by default."""

    def check_callable(self) -> None:
        """Refuse, before any work, a teacher that no request can reach (a Hub model id or a Hugging Face host under
        HF_HUB_OFFLINE, a Hub model id without a token); callable by default. generate asks it of the teachers that vote
        on the texts it is about to write, and writes only texts the cache holds when one fails (a rerun: their votes
        may be cached too); annotate does not: a run the cache answers sends no request."""

    #: whether the teacher follows a free instruction such as ``sxhub twins``' rewrite prompt; a synthetic model from
    #: ``sxhub tune`` learned two prompts only (label a text, write a new one) and does not
    rewrites: bool = True

    async def aclose(self) -> None:
        """Release connections (nothing to do by default)."""


def normalize_base_url(url: str) -> str:
    """``url`` written one way for every spelling that reaches the same server routes: scheme and host in lower case
    (both are case-insensitive), no default port (80, 443), no trailing slash (both request paths strip it before
    adding ``chat/completions``). The path's case and the query are kept: a server may tell them apart, and
    ``/v1`` is kept as written (huggingface_hub adds it where it is missing, the plain HTTP path does not)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if ":" in host:  # an IPv6 address keeps its brackets
        host = f"[{host}]"
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is not None and port != {"http": 80, "https": 443}.get(scheme):
        host = f"{host}:{port}"
    if parts.username is not None or parts.password is not None:  # the credentials as written (case matters)
        host = parts.netloc.rsplit("@", 1)[0] + "@" + host
    return urlunsplit((scheme, host, parts.path.rstrip("/"), parts.query, ""))


def request_identity(identity: dict[str, Any]) -> dict[str, Any]:
    """A teacher's :attr:`~Teacher.identity` as its server sees it, for the cache key: without the name (it labels
    the votes and is never sent), with ``base_url`` normalised (:func:`normalize_base_url`), and for a teacher given
    by URL only, the model its server lists as ``model`` (the model its requests name). A teacher renamed in the
    spec, its URL written with a trailing slash or an upper-case host, or ``model:`` added for the model the server
    serves, asked again every text it had answered."""
    found = {k: v for k, v in identity.items() if k != "name"}
    if found.get("served_model") and not found.get("model"):  # given by URL only: the one model it lists is sent
        found["model"] = found.pop("served_model")
    if isinstance(found.get("base_url"), str):
        found["base_url"] = normalize_base_url(found["base_url"])
    return found


def identity_before_server_kinds(identity: dict[str, Any]) -> dict[str, Any] | None:
    """The teacher's part of the cache key as sxhub wrote it before it detected server kinds (before 2026-12-01):
    ``{name, model, base_url}`` only. For a teacher with a model named in the spec and the default settings (no
    provider, detected server, ``structured: auto``: what those versions sent), so its replies are still found after
    an upgrade instead of being paid for again; None for any other (a teacher given by URL only was keyed by the
    placeholder model ``tgi``, not the model its server served; the local teacher by its name only)."""
    defaults = {"provider": None, "server": None, "structured": "auto"}
    if set(identity) != {"name", "model", "base_url", *defaults} or not identity.get("model"):
        return None
    if any(identity[key] != value for key, value in defaults.items()):
        return None
    return {"name": identity["name"], "model": identity["model"], "base_url": identity["base_url"]}


def spec_identity(name: str, spec: TeacherSpec | None) -> dict[str, Any]:
    """Model, URL, provider and the structured-output settings: what makes two teachers answer differently."""
    if spec is None:
        return {"name": name, "model": None, "base_url": None}
    return {
        "name": name,
        "model": spec.model,
        "base_url": spec.base_url,
        "provider": spec.provider,
        "server": spec.server,
        "structured": spec.structured,
    }


# ------------------------------------------------------------------------------------------------------------------
# sorting transport errors
# ------------------------------------------------------------------------------------------------------------------
def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (a number of seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from datetime import datetime
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


# The Inference Providers router's answer to a Hub model id that no provider enabled for the token serves: HTTP 400
# "The requested model 'M' is not supported by any provider you have enabled." (cline/cline issue #5098,
# n4ze3m/page-assist issue #727). A 400, so the run stopped after three texts saying to set `server:` or
# `structured: none`, which change nothing for a model nobody serves.
NOT_SERVED = "not supported by any provider"
NOT_SERVED_FIX = (
    "no Inference Provider you have enabled serves this model: enable one that does at "
    "https://huggingface.co/settings/inference-providers (the model's page on the Hub lists them), pick a model that a "
    "provider serves, or serve it yourself on an Inference Endpoint (`sxhub endpoint up MODEL`, then `endpoint: NAME` "
    "for the teacher in the task spec)"
)


# The Inference Providers router's 403 for a fine-grained token without the "Make calls to Inference Providers"
# permission: "This authentication method does not have sufficient permissions to call Inference Providers on behalf
# of user U" (huggingface/agents-course issue #558, CSOAI-ORG/councilof-ai issue #1102). A gated model needs no access
# approval through Inference Providers (huggingface/huggingface_hub issue #3301), so the token's permission is the fix;
# the line said only "check that your token may use this model or provider".
FORBIDDEN_FIX = (
    'the token may not call Inference Providers: create a fine-grained token with the "Make calls to Inference '
    'Providers" permission at https://huggingface.co/settings/tokens (or add it to yours) and set HF_TOKEN to it (or '
    "run `hf auth login`)"
)


def rate_limit_reset(headers: Any) -> float | None:
    """Seconds until a spent rate limit resets, from the IETF draft headers the Hugging Face Hub sends with a 429
    (``RateLimit: "api";r=0;t=55``; huggingface/huggingface_hub issue #3553, read by its own
    ``utils/_http.py`` ``parse_ratelimit_headers``); None unless they say the window is spent (r=0). A 429 without
    ``Retry-After`` was retried after the exponential backoff only, before the window had reset."""
    from huggingface_hub.utils import parse_ratelimit_headers

    try:
        info = parse_ratelimit_headers(headers)
    except (TypeError, ValueError):
        return None
    return float(info.reset_in_seconds) if info is not None and info.remaining == 0 else None


# what ends every refusal that a rerun gets past: nothing answered so far is asked again
RESUME = "run the same command to resume (the label cache keeps every answer so far)"


def classify_status(
    status: int, detail: str, headers: Any, name: str, *, hub: bool
) -> TeacherError | TeacherUnavailableError:
    """The error for an HTTP error answer: retryable (429, 408, 424, 5xx), unavailable (401/402/403/404) or
    rejected."""
    shown = f" ({detail})" if detail else ""
    if status in RETRYABLE_STATUS or status >= 500:
        retry_after = parse_retry_after(headers.get("retry-after") if headers is not None else None)
        if retry_after is None and status == 429 and headers is not None:
            retry_after = rate_limit_reset(headers)
        return RetryableTeacherError(f"{name}: HTTP {status}{shown}", retry_after=retry_after, status=status)
    if status in PERMANENT_STATUS:
        fix = {
            401: "set HF_TOKEN (or run `hf auth login`) with a token that may call Inference Providers"
            if hub
            else "set SXHUB_API_KEY to the key this server expects",
            402: "the account is out of credit: add credits (huggingface.co/settings/billing for Inference Providers), "
            f"then {RESUME}"
            if hub
            else f"the account behind SXHUB_API_KEY is out of credit with this provider: add credit, then {RESUME}",
            403: FORBIDDEN_FIX if hub else "check that the key in SXHUB_API_KEY may use this model",
            404: "check the model id or base_url",
        }[status]
        if status in (401, 403):  # the answers so far are cached whatever the status: say so, as for a 402
            fix += f", then {RESUME}"
        return TeacherUnavailableError(f"teacher {name!r} answered HTTP {status}{shown}; {fix}.")
    if hub and status == 400 and NOT_SERVED in detail.lower():
        return TeacherUnavailableError(f"teacher {name!r} answered HTTP {status}{shown}; {NOT_SERVED_FIX}.")
    if is_context_overflow(detail):
        return ContextLengthError(f"{name}: HTTP {status}{shown}; {CONTEXT_FIX}.", status=status, detail=detail)
    return RejectedRequestError(f"{name}: HTTP {status}{shown}", status=status, detail=detail)


class TimedOutError(RetryableTeacherError):
    """A request that got no answer within the teacher's timeout: retried; a teacher whose every try timed out for
    several texts in a row stops the run (see :mod:`sxhub.annotate`)."""


def timed_out(name: str, timeout: float | None) -> RetryableTeacherError:
    """A request that got no answer in time; with the limit and where to raise it (it said only "timed out")."""
    if timeout is None:
        return TimedOutError(f"{name}: timed out")
    return TimedOutError(
        f"{name}: timed out (no answer within {timeout:g} s; if the server is only slow, raise this teacher's "
        "timeout in the task spec)"
    )


def classify_error(exc: BaseException, name: str, *, hub: bool = True, timeout: float | None = None) -> BaseException:
    """Turn a transport exception into RetryableTeacherError, TeacherUnavailableError or TeacherError."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError, InferenceTimeoutError

    if isinstance(exc, InferenceTimeoutError | httpx2.TimeoutException):
        return timed_out(name, timeout)
    if isinstance(exc, httpx2.TransportError):
        return RetryableTeacherError(f"{name}: connection error ({type(exc).__name__}: {exc})")
    response = getattr(exc, "response", None)
    if isinstance(exc, HfHubHTTPError | httpx2.HTTPStatusError) and response is not None:
        return classify_status(response.status_code, error_detail(response), response.headers, name, hub=hub)
    if isinstance(exc, ValueError | KeyError | json.JSONDecodeError):
        return TeacherError(f"{name}: unreadable response ({type(exc).__name__}: {exc})")
    return exc


def error_detail(response: Any, limit: int = 300) -> str:
    """The server's own words from an error response: its ``error``/``message``/``detail`` field, else the body."""
    try:
        text = response.text
    except Exception:  # a streamed body that was never read: no detail, the status says enough
        return ""
    try:
        body = json.loads(text)
    except (TypeError, ValueError):
        body = None
    if isinstance(body, dict):
        for key in ("error", "message", "detail"):
            value = body.get(key)
            if isinstance(value, dict):
                value = value.get("message") or value
            if value:
                text = value if isinstance(value, str) else json.dumps(value)
                break
    return " ".join(str(text).split())[:limit]
