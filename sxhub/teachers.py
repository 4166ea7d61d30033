"""Teachers: the LLMs that label texts, behind one interface with one async method.

A backend implements :meth:`Teacher.acomplete` and returns a :class:`Reply` (the raw text and token counts).
Errors are sorted into two kinds so the annotate engine knows what to do:

* :class:`RetryableTeacherError`: 429, 5xx, timeouts and connection errors; worth another try (``retry_after``
  holds the server's ``Retry-After`` in seconds when it sent one).
* :class:`TeacherError` (permanent): 400 and friends; :class:`TeacherUnavailableError` for 401/403/404, which no
  retry can fix and which stop the run.

Backends: :class:`InferenceClientTeacher` (any ``huggingface_hub.AsyncInferenceClient`` target: a Hub model id via
Inference Providers, or an OpenAI-compatible / TGI ``base_url`` such as vLLM, llama.cpp or Ollama), the embedded
``local`` llama.cpp teacher (started by :func:`open_teachers`, see :mod:`sxhub.local_teacher`), and
:class:`FakeTeacher`, a scripted fake for tests.

The Hugging Face token comes from ``HF_TOKEN`` or ``hf auth login`` (huggingface_hub's default) and is only sent to
Hugging Face hosts; other ``base_url`` servers get ``$SXHUB_API_KEY`` (or a placeholder). It is never logged.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from .errors import TeacherError, TeacherUnavailableError
from .spec import TaskSpec, TeacherSpec

HF_HOST_SUFFIXES = ("huggingface.co", "hf.co", "huggingface.cloud", "hf.space")
PERMANENT_STATUS = {401, 403, 404}


@dataclass(frozen=True)
class Reply:
    """What a teacher answered: the raw text, and the tokens it cost."""

    text: str
    input_tokens: int = 0
    output_tokens: int = 0


class RetryableTeacherError(TeacherError):
    """A failure that may pass on another try: 429, 5xx, a timeout or a lost connection."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Teacher:
    """The teacher interface. Subclasses implement :meth:`acomplete` (and :meth:`aclose` if they hold resources).

    ``name`` labels the votes; ``identity`` holds what makes answers differ between teachers (model, URL) and goes
    into the cache key.
    """

    name: str = "teacher"
    spec: TeacherSpec | None = None

    @property
    def identity(self) -> dict[str, Any]:
        """The teacher's part of the cache key: what changes its output (not timeouts or concurrency)."""
        spec = self.spec
        return {"name": self.name, "model": spec.model if spec else None, "base_url": spec.base_url if spec else None}

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

    async def aclose(self) -> None:
        """Release connections (nothing to do by default)."""


# ------------------------------------------------------------------------------------------------------------------
# InferenceClient backend
# ------------------------------------------------------------------------------------------------------------------
def response_format(mode: str, schema: dict[str, Any] | None, *, name: str = "answer") -> dict[str, Any] | None:
    """The ``response_format`` that asks a server to enforce ``schema``, in the form ``mode`` names.

    ``json_object`` is what llama.cpp's server enforces (``{"type": "json_object", "schema": ...}``; it ignores
    the json_schema form); ``json_schema`` is the OpenAI form TGI and Inference Providers accept; ``grammar`` is
    TGI's own ``{"type": "json", "value": schema}``; ``none`` sends nothing (the prompt alone asks for JSON).
    """
    if schema is None or mode == "none":
        return None
    if mode == "json_object":
        return {"type": "json_object", "schema": schema}
    if mode == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}
    if mode == "grammar":
        return {"type": "json", "value": schema}
    raise ValueError(f"unknown structured-output mode {mode!r}")


def structured_mode(spec: TeacherSpec) -> str:
    """``auto`` resolves to json_object for the local teacher and base_urls, json_schema for Hub model ids."""
    if spec.structured != "auto":
        return spec.structured
    return "json_object" if (spec.base_url or spec.is_local) else "json_schema"


def _is_hf_host(url: str) -> bool:
    host = (urlparse(url).hostname or "").lower()
    return any(host == s or host.endswith("." + s) for s in HF_HOST_SUFFIXES)


def _is_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


class InferenceClientTeacher(Teacher):
    """A teacher behind ``huggingface_hub.AsyncInferenceClient``: a Hub model id or any OpenAI-compatible URL.

    The client is created on first use with the spec's explicit timeout. ``seed`` is sent with every request, so an
    endpoint's response cache cannot hand the same sample back twice.
    """

    def __init__(self, spec: TeacherSpec, *, base_url: str | None = None, name: str | None = None) -> None:
        self.spec = spec
        self.base_url = base_url or spec.base_url
        self.name = name or spec.name or "teacher"
        self.mode = structured_mode(spec)
        self._client: Any = None

    @property
    def identity(self) -> dict[str, Any]:
        assert self.spec is not None
        return {"name": self.name, "model": self.spec.model, "base_url": self.spec.base_url}

    def _get_client(self) -> Any:
        if self._client is None:
            if _is_offline():
                raise TeacherUnavailableError(
                    f"HF_HUB_OFFLINE is set, and huggingface_hub then refuses every request, even to "
                    f"{self.base_url or 'the Hub'}; unset HF_HUB_OFFLINE to annotate (sxhub downloads nothing)."
                )
            from huggingface_hub import AsyncInferenceClient

            assert self.spec is not None
            if self.base_url:
                token = None if _is_hf_host(self.base_url) else os.environ.get("SXHUB_API_KEY", "sxhub-no-key")
                self._client = AsyncInferenceClient(base_url=self.base_url, api_key=token, timeout=self.spec.timeout)
            else:
                self._client = AsyncInferenceClient(
                    model=self.spec.model,
                    provider=self.spec.provider,  # type: ignore[arg-type]  # checked by huggingface_hub
                    timeout=self.spec.timeout,
                )
        return self._client

    async def acomplete(
        self,
        messages: list[dict[str, str]],
        *,
        schema: dict[str, Any] | None,
        temperature: float,
        seed: int,
        max_tokens: int,
    ) -> Reply:
        client = self._get_client()
        assert self.spec is not None
        try:
            out = await client.chat_completion(
                messages,
                model=None if not self.base_url else self.spec.model,
                response_format=response_format(self.mode, schema),
                temperature=temperature,
                seed=seed,
                max_tokens=max_tokens,
            )
        except Exception as exc:  # sorted into retryable / permanent; anything unknown is re-raised as is
            raise classify_error(exc, self.name, hub=not self.base_url or _is_hf_host(self.base_url)) from exc
        if not out.choices:
            raise RetryableTeacherError(f"{self.name}: the server returned no choices")
        text = out.choices[0].message.content or ""
        usage = out.usage
        return Reply(
            text=text,
            input_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            output_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        )

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (a number of seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from datetime import datetime, timezone
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def classify_error(exc: BaseException, name: str, *, hub: bool = True) -> BaseException:
    """Turn a transport exception into RetryableTeacherError, TeacherUnavailableError or TeacherError."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError, InferenceTimeoutError

    if isinstance(exc, InferenceTimeoutError | httpx2.TimeoutException):
        return RetryableTeacherError(f"{name}: timed out")
    if isinstance(exc, httpx2.TransportError):
        return RetryableTeacherError(f"{name}: connection error ({type(exc).__name__}: {exc})")
    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        status = exc.response.status_code
        detail = _error_detail(exc.response)
        if status == 429 or status >= 500 or status == 408:
            retry_after = parse_retry_after(exc.response.headers.get("retry-after"))
            return RetryableTeacherError(f"{name}: HTTP {status}{detail}", retry_after=retry_after)
        if status in PERMANENT_STATUS:
            fix = {
                401: "set HF_TOKEN (or run `hf auth login`) with a token that may call Inference Providers"
                if hub
                else "set SXHUB_API_KEY to the key this server expects",
                403: "check that your token may use this model or provider",
                404: "check the model id or base_url",
            }[status]
            return TeacherUnavailableError(f"teacher {name!r} answered HTTP {status}{detail}; {fix}.")
        return TeacherError(f"{name}: HTTP {status}{detail}")
    if isinstance(exc, ValueError | KeyError | json.JSONDecodeError):
        return TeacherError(f"{name}: unreadable response ({type(exc).__name__}: {exc})")
    return exc


def _error_detail(response: Any) -> str:
    try:
        text = response.text
    except Exception:  # a streamed body that was never read: no detail, the status says enough
        return ""
    text = " ".join(str(text).split())[:200]
    return f" ({text})" if text else ""


# ------------------------------------------------------------------------------------------------------------------
# the scripted fake
# ------------------------------------------------------------------------------------------------------------------
@dataclass
class FakeCall:
    messages: list[dict[str, str]]
    schema: dict[str, Any] | None
    temperature: float
    seed: int
    max_tokens: int


@dataclass
class FakeTeacher(Teacher):
    """A scripted teacher for tests, after simonw/llm's MockModel.

    ``enqueue(*replies)`` scripts the next answers: a str (raw text), a dict (sent JSON-encoded) or an Exception
    instance (raised). With ``responder`` set, an empty queue is answered by ``responder(messages)``. Every call is
    recorded in ``history``.
    """

    name: str = "fake"
    responder: Callable[[list[dict[str, str]]], str | dict[str, Any]] | None = None
    model: str = "fake-model"
    queue: list[Any] = field(default_factory=list)
    history: list[FakeCall] = field(default_factory=list)

    @property
    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.model, "base_url": None}

    def enqueue(self, *replies: str | dict[str, Any] | BaseException) -> FakeTeacher:
        self.queue.extend(replies)
        return self

    async def acomplete(
        self,
        messages: list[dict[str, str]],
        *,
        schema: dict[str, Any] | None,
        temperature: float,
        seed: int,
        max_tokens: int,
    ) -> Reply:
        self.history.append(FakeCall(messages, schema, temperature, seed, max_tokens))
        if self.queue:
            item = self.queue.pop(0)
        elif self.responder is not None:
            item = self.responder(messages)
        else:
            raise AssertionError(f"FakeTeacher {self.name!r} got call {len(self.history)} but has no reply queued")
        if isinstance(item, BaseException):
            raise item
        text = item if isinstance(item, str) else json.dumps(item)
        prompt_chars = sum(len(m.get("content", "")) for m in messages)
        return Reply(text=text, input_tokens=prompt_chars // 4, output_tokens=max(1, len(text) // 4))


# ------------------------------------------------------------------------------------------------------------------
# factory
# ------------------------------------------------------------------------------------------------------------------
def make_teacher(spec: TeacherSpec | str, *, base_url: str | None = None) -> Teacher:
    """A teacher for one spec entry. The ``local`` teacher needs a running server: pass its ``base_url``
    (:func:`open_teachers` starts one)."""
    spec = TeacherSpec.parse(spec)
    if spec.is_local:
        if not base_url:
            raise TeacherUnavailableError(
                "the local teacher needs its llama.cpp server; use `open_teachers(...)` (it starts one) or pass "
                "base_url."
            )
        from .local_teacher import LocalTeacher

        return LocalTeacher(spec, base_url=base_url)
    return InferenceClientTeacher(spec, base_url=base_url)


@asynccontextmanager
async def open_teachers(specs: Sequence[TeacherSpec | str]) -> AsyncIterator[list[Teacher]]:
    """Teachers for ``specs``; a ``local`` one starts its llama.cpp server when first asked; all closed on exit."""
    parsed = [TeacherSpec.parse(s) for s in specs]
    async with AsyncExitStack() as stack:
        teachers: list[Teacher] = []
        for entry in parsed:
            if entry.is_local:  # its server starts on the first request that the cache cannot answer
                from .local_teacher import LocalTeacher

                teachers.append(LocalTeacher(entry, stack=stack))
            else:
                teachers.append(make_teacher(entry))
        for teacher in teachers:
            stack.push_async_callback(teacher.aclose)
        yield teachers


@asynccontextmanager
async def teachers_for(
    spec: TaskSpec, given: Sequence[Teacher | TeacherSpec | str] | None
) -> AsyncIterator[list[Teacher]]:
    """``given`` Teacher objects as they are (left open), else teachers opened from specs (default: the spec's)."""
    if given and all(isinstance(t, Teacher) for t in given):
        yield [t for t in given if isinstance(t, Teacher)]
        return
    specs = [t for t in (given or spec.default_teachers()) if not isinstance(t, Teacher)]
    async with open_teachers(specs) as opened:
        yield opened
