"""A teacher of the task spec (:class:`TeacherSpec`): a Hub model id, a server's ``base_url`` or an Inference
Endpoint, checked as the spec is read; and :func:`redact_url`, which keeps credentials out of what sxhub writes.
Split out of :mod:`sxhub.spec`, which re-exports every name here (``from sxhub.spec import TeacherSpec``)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .errors import SpecError

LOCAL_TEACHER = "local"
SERVER_KINDS = ("tgi", "vllm", "llamacpp", "llamacpp-python", "ollama", "sglang", "transformers", "openai")


def _text_field(where: str, value: Any) -> None:
    """One clear error for a spec field that must be text (or left out): a number there crashed on ``.strip()``
    or went into the prompt as written."""
    if value is not None and not isinstance(value, str):
        raise SpecError(f"{where}: must be text, got {value!r}; quote it in the YAML if it is meant as text.")


def did_you_mean(unknown: Iterable[Any], known: Iterable[str]) -> str:
    """`` (did you mean 'labels'?)`` for unknown keys that are a known key misspelt (``lables:``, ``teacher:``);
    empty where none is close to one. Several guesses say which key each is for."""
    known = sorted(known)
    guesses = {
        str(key): close[0]
        for key in unknown
        if (close := difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)) and close[0] != str(key)
    }
    if not guesses:
        return ""
    if len(guesses) == 1:
        return f" (did you mean {next(iter(guesses.values()))!r}?)"
    return " (did you mean " + ", ".join(f"{good!r} for {bad!r}" for bad, good in guesses.items()) + "?)"


_URL_RE = re.compile(r"https?://[^\s'\"<>]+")


def redact_url(url: str) -> str:
    """``url`` without user:password, query string or fragment: safe to write into datasets, cards and reports.

    ``http://user:pass@host:8080/v1?api_key=k`` becomes ``http://host:8080/v1``. URLs inside a longer text are
    redacted in place; text without a URL is returned unchanged.
    """

    def _one(match: re.Match[str]) -> str:
        parts = urlsplit(match.group())
        host = parts.netloc.rpartition("@")[2]  # drop "user:pass@" (a password may hold an encoded '@')
        return urlunsplit((parts.scheme, host, parts.path, "", ""))

    return _URL_RE.sub(_one, url)


# an Inference Endpoint: NAME (in the token's user's namespace) or NAMESPACE/NAME (an organisation's, as
# `sxhub endpoint up --namespace ORG` creates it)
ENDPOINT_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}"
ENDPOINT_REF = rf"^(?:{ENDPOINT_NAME}/)?{ENDPOINT_NAME}$"
# a base_url given as the chat route's full URL (sxhub appends /chat/completions to base_url itself)
CHAT_ROUTE = re.compile(r"/chat/completions/*$", re.IGNORECASE)
# HOST:PORT[/path] without a scheme (localhost, an IPv4 address or a dotted name): never a Hub model id, whose
# optional ':provider' suffix follows OWNER/NAME
SERVER_ADDRESS = re.compile(r"^(?:localhost|\d{1,3}(?:\.\d{1,3}){3}|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+):\d{1,5}(?:/|$)")


@dataclass
class TeacherSpec:
    """One teacher: a Hub model id (Inference Providers), or a ``base_url`` (TGI, vLLM, llama.cpp, Ollama...).

    ``model: local`` (without a base_url) is the embedded llama.cpp server with SmolLM2-135M-Instruct.
    Prices are US dollars per million tokens and only feed the cost estimate; without them the cost is unknown.
    ``server`` names the kind of server behind ``base_url`` (tgi, vllm, llamacpp, llamacpp-python, ollama, sglang,
    transformers, openai) and skips its detection; ``structured`` forces one response_format form (``none``: send no constraint).
    ``endpoint`` names a Hugging Face Inference Endpoint (``sxhub endpoint up``) instead of a URL: its URL is looked
    up when the teacher opens, after resuming it if it is paused or scaled to zero (:mod:`sxhub.endpoints`).
    """

    model: str | None = None
    base_url: str | None = None
    name: str | None = None
    provider: str | None = None
    price_input: float | None = None
    price_output: float | None = None
    max_tokens: int = 256
    timeout: float = 60.0
    structured: str = "auto"  # auto | json_object | json_schema | grammar | none
    server: str | None = None  # tgi | vllm | llamacpp | llamacpp-python | ollama | openai (None: detect)
    endpoint: str | None = (
        None  # an Inference Endpoint's [NAMESPACE/]NAME: resolved to its URL (server tgi) when opened
    )

    def __post_init__(self) -> None:
        for key in ("model", "base_url", "name", "provider", "endpoint", "structured", "server"):
            _text_field(f"teachers: {key}", getattr(self, key))
        if not self.model and not self.base_url and not self.endpoint:
            raise SpecError(
                "teachers: each teacher needs 'model' (a Hub model id or 'local'), 'base_url' or 'endpoint'."
            )
        if self.endpoint is not None and not re.match(ENDPOINT_REF, str(self.endpoint)):
            raise SpecError(
                f"teachers: endpoint {self.endpoint!r} is not an Inference Endpoint name; write the name `sxhub "
                "endpoint up` printed (letters, digits and dashes), as ORG/NAME for an organisation's endpoint."
            )
        if self.base_url and not re.match(r"^https?://", self.base_url):
            raise SpecError(
                f"teachers: base_url {self.base_url!r} is not an http(s) URL; write e.g. http://127.0.0.1:8080/v1."
            )
        if self.base_url:  # no host, or a port out of range: the run hung, or ended in a traceback
            parts = urlsplit(self.base_url)
            try:
                port_ok = parts.port is None or parts.port > 0
            except ValueError:
                port_ok = False
            if not parts.hostname or not port_ok:
                raise SpecError(
                    f"teachers: base_url {redact_url(self.base_url)!r} has no host or an invalid port (1-65535); "
                    "write e.g. http://127.0.0.1:8080/v1."
                )
        if self.base_url and CHAT_ROUTE.search(urlsplit(self.base_url).path):  # pasted from a server's docs
            parts = urlsplit(self.base_url)
            fixed = parts._replace(path=CHAT_ROUTE.sub("", parts.path)).geturl()
            raise SpecError(
                f"teachers: base_url {redact_url(self.base_url)!r} ends with /chat/completions, the route sxhub adds "
                f"itself; write {redact_url(fixed)!r}."
            )
        if self.model and not self.base_url and not self.endpoint and SERVER_ADDRESS.match(self.model):
            raise SpecError(
                f"teachers: {self.model!r} is a server's address without http://, not a Hub model id; write "
                f"http://{self.model} (a teacher's base_url)."
            )
        if self.structured not in {"auto", "json_object", "json_schema", "grammar", "none"}:
            raise SpecError(
                f"teachers: structured={self.structured!r}; use auto, json_object, json_schema, grammar or none."
            )
        if self.server is not None and self.server not in SERVER_KINDS:
            raise SpecError(
                f"teachers: server={self.server!r} is not a server kind sxhub knows; use one of "
                f"{', '.join(SERVER_KINDS)} (or leave it out to detect it)."
            )
        for key in ("price_input", "price_output", "timeout"):
            value = getattr(self, key)
            if value is None and key != "timeout":
                continue
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value < float("inf"):
                raise SpecError(f"teachers: {key}={value!r} must be a number >= 0.")
            if key == "timeout" and value == 0:
                raise SpecError("teachers: timeout=0 would fail every request; give seconds > 0 (e.g. 120).")
        if (self.price_input is None) != (self.price_output is None):
            raise SpecError("teachers: give both price_input and price_output (USD per million tokens), or neither.")
        if not isinstance(self.max_tokens, int) or isinstance(self.max_tokens, bool) or self.max_tokens < 1:
            raise SpecError(f"teachers: max_tokens={self.max_tokens!r} must be a positive integer.")
        # the name labels votes, ledgers, cards and sxhub.json: never the credentials or query a base_url may carry
        if not self.name and self.endpoint:
            self.name = f"{self.model or 'teacher'}@endpoint:{self.endpoint}"
        if not self.name and self.model and not self.base_url and Path(self.model).expanduser().is_dir():
            self.name = f"tuned:{Path(self.model).expanduser().resolve().name}"  # a `sxhub tune` folder: no local path
        if not self.name:
            self.name = (
                self.model if self.model and not self.base_url else f"{self.model or 'teacher'}@{self.base_url}"
            )
        self.name = redact_url(self.name)

    @property
    def is_local(self) -> bool:
        return self.model == LOCAL_TEACHER and not self.base_url

    @property
    def priced(self) -> bool:
        """Whether the spec gives token prices (else the cost is unknown)."""
        return self.price_input is not None and self.price_output is not None

    @classmethod
    def parse(cls, value: str | dict[str, Any] | TeacherSpec) -> TeacherSpec:
        """Accept a spec entry, a ``--teacher`` string (``local``, a Hub id, or a URL) or a TeacherSpec."""
        if isinstance(value, TeacherSpec):
            return value
        if isinstance(value, str):
            value = value.strip()
            if re.match(r"^https?://", value):
                return cls(base_url=value)  # the model: the one the server serves (asked on first use)
            if value.startswith("endpoint:"):
                return cls(endpoint=value.split(":", 1)[1].strip())  # --teacher endpoint:NAME
            return cls(model=value)
        if not isinstance(value, dict):
            raise SpecError(f"teachers: each entry must be a mapping or a string, got {value!r}.")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(value) - known, key=str)
        if unknown:
            raise SpecError(
                f"teachers: unknown key(s) {unknown}{did_you_mean(unknown, known)}; allowed: {sorted(known)}."
            )
        return cls(**value)
