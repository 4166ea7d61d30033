"""The task spec: what to label, with which labels, by which teachers.

A spec is YAML (see ``../shared/DESIGN.md``) or built in Python::

    spec = TaskSpec(
        name="financial-sentiment",
        description="Sentiment of a sentence from financial news.",
        labels=[Label("positive"), Label("neutral"), Label("negative")],
    )

Every dataclass checks itself in ``__post_init__`` and raises :class:`~sxhub.errors.SpecError` with one line that
names the field, the bad value and the fix. Where ``__post_init__`` normalises a field (label names to
:class:`Label`, teacher strings and mappings to :class:`TeacherSpec`), an ``__init__`` declared for type checkers
only says what the constructor takes; the dataclass still generates the one that runs, and ``tests/test_typing.py``
keeps the two in step.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from .card_language import card_language
from .errors import SpecError
from .label_names import comma_separated_labels
from .label_names import label_key as label_key  # re-exported: sxhub.spec.label_key
from .label_names import rejoin_comma_names as rejoin_comma_names  # re-exported: sxhub.spec.rejoin_comma_names
from .sequences import SequenceNotStr
from .spec_file import SWAPPED, looks_like_table, refuse_not_a_mapping
from .spec_file import refuse_one_yaml_string as _refuse_one_yaml_string  # sxhub.spec's name, as before the split

LOCAL_TEACHER = "local"
SERVER_KINDS = ("tgi", "vllm", "llamacpp", "llamacpp-python", "ollama", "transformers", "openai")
# the license the cards and the Space declare when the task spec states none: the Hub's "other", not a license
# nobody chose (the model card says so)
UNSTATED_LICENSE = "other"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


@dataclass
class Label:
    name: str
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise SpecError(f"labels: every label needs a non-empty 'name', got {self.name!r}.")
        self.name = self.name.strip()
        _text_field(f"labels: description of {self.name!r}", self.description)
        self.description = (self.description or "").strip()


@dataclass
class Example:
    text: str
    labels: list[str]
    reason: str = ""

    if TYPE_CHECKING:  # one label name is a list of one; a tuple is a list

        def __init__(self, text: str, labels: str | Sequence[str], reason: str = ...) -> None: ...

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise SpecError(f"examples: every example needs a non-empty 'text', got {self.text!r}.")
        if isinstance(self.labels, str):
            self.labels = [self.labels]
        where = f"examples: example {self.text[:40]!r}"
        if self.labels is not None and not isinstance(self.labels, (list, tuple)):
            raise SpecError(f"{where}: 'labels' must be a list of label names, got {self.labels!r}.")
        if any(not isinstance(x, str) for x in self.labels or []):
            raise SpecError(f"{where}: 'labels' must be label names (text), got {self.labels!r}.")
        self.labels = list(self.labels or [])
        twice = sorted({x for x in self.labels if self.labels.count(x) > 1})
        if twice:
            raise SpecError(f"{where} lists {twice} more than once; name each label once.")
        _text_field(f"{where}: reason", self.reason)
        self.reason = self.reason or ""


def _text_field(where: str, value: Any) -> None:
    """One clear error for a spec field that must be text (or left out): a number there crashed on ``.strip()``
    or went into the prompt as written."""
    if value is not None and not isinstance(value, str):
        raise SpecError(f"{where}: must be text, got {value!r}; quote it in the YAML if it is meant as text.")


def _flag(where: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise SpecError(f"{where}: must be true or false, got {value!r}.")


TEMPLATE_SUFFIXES = (".jinja", ".jinja2", ".j2")


def is_template_file(source: str) -> bool:
    """Whether a spec's ``prompt_template`` names a file (one line ending in .jinja, .jinja2 or .j2)."""
    return source.strip().endswith(TEMPLATE_SUFFIXES) and "\n" not in source.strip()


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
    ``server`` names the kind of server behind ``base_url`` (tgi, vllm, llamacpp, llamacpp-python, ollama, openai)
    and skips its detection; ``structured`` forces one response_format form (``none``: send no constraint).
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
        unknown = sorted(set(value) - known)
        if unknown:
            raise SpecError(f"teachers: unknown key(s) {unknown}; allowed: {sorted(known)}.")
        return cls(**value)


@dataclass
class TaskSpec:
    name: str
    labels: list[Label]
    description: str = ""
    multi_label: bool = False
    examples: list[Example] = field(default_factory=list)
    teachers: list[TeacherSpec] = field(default_factory=list)
    samples: int = 1
    reasoning: bool = False
    temperature: float = 0.7
    prompt_template: str | None = None
    preprocess: bool = True
    language: str = "en"
    license: str | None = None  # none stated: every card and the Space declare UNSTATED_LICENSE
    # a license off the Hub's list: its id and the URL of its text (the cards declare license: other; sxhub.licenses)
    license_name: str | None = None
    license_link: str | None = None
    vote: str = "majority"  # how votes become labels: majority | dawid-skene | scores (sxhub.reliability)

    if TYPE_CHECKING:  # what __post_init__ turns into list[Label], list[Example] and list[TeacherSpec]

        def __init__(
            self,
            name: str,
            labels: SequenceNotStr[str | Label | dict[str, str]] | dict[str, str],
            description: str = ...,
            multi_label: bool = ...,
            examples: Sequence[Example | dict[str, Any]] = ...,
            teachers: SequenceNotStr[str | dict[str, Any] | TeacherSpec] = ...,
            samples: int = ...,
            reasoning: bool = ...,
            temperature: float = ...,
            prompt_template: str | None = ...,
            preprocess: bool = ...,
            language: str = ...,
            license: str | None = ...,
            license_name: str | None = ...,
            license_link: str | None = ...,
            vote: str = ...,
        ) -> None: ...

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name or ""):
            raise SpecError(
                f"name: {self.name!r} is not usable as a repo name; use letters, digits, '-', '_' or '.' "
                "(e.g. financial-sentiment)."
            )
        if isinstance(self.labels, dict):  # {name: description, ...}: YAML keeps their order
            self.labels = [_label({"name": k, "description": v}) for k, v in self.labels.items()]
        if not isinstance(self.labels, (list, tuple)):
            raise SpecError(
                f"labels: must be a list of names or of {{name, description}} mappings (or one mapping of name to "
                f"description), got {self.labels!r}."
            )
        self.labels = [lab if isinstance(lab, Label) else _label(lab) for lab in self.labels]
        if len(self.labels) < 1 or (not self.multi_label and len(self.labels) < 2):
            raise SpecError(
                f"labels: a {'multi' if self.multi_label else 'single'}-label task needs at least "
                f"{1 if self.multi_label else 2} labels, got {len(self.labels)}."
            )
        names = [lab.name for lab in self.labels]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise SpecError(f"labels: duplicate label name(s) {dupes}; each label must appear once.")
        keys = [label_key(n) for n in names]
        alike = [n for n, k in zip(names, keys, strict=True) if keys.count(k) > 1]
        if alike:
            raise SpecError(
                f"labels: {alike} differ only in case or spacing, and answers are matched ignoring both (one could "
                "never be chosen); rename one."
            )
        _flag("multi_label", self.multi_label)
        if self.examples is not None and not isinstance(self.examples, (list, tuple)):
            raise SpecError(f"examples: must be a list of {{text, labels}} mappings, got {self.examples!r}.")
        self.examples = [ex if isinstance(ex, Example) else _example(ex) for ex in (self.examples or [])]
        for ex in self.examples:
            bad = [lab for lab in ex.labels if lab not in names]
            if bad and not self.multi_label and len(ex.labels) == 1 and "," in ex.labels[0]:
                # `label: price, place`: two of the task's labels, refused as the one label 'price, place' "not in
                # labels"; a label named with a comma of its own is kept whole
                parts = comma_separated_labels(ex.labels[0], names)
                if parts is not None:
                    raise SpecError(_one_label_line(ex, parts, f" (in {ex.labels[0]!r})"))
            if bad:
                raise SpecError(f"examples: label(s) {bad} of example {ex.text[:40]!r} are not in labels {names}.")
            if not self.multi_label and len(ex.labels) > 1:
                raise SpecError(_one_label_line(ex, ex.labels))
            if not self.multi_label and not ex.labels:
                raise SpecError(
                    f"examples: single-label example {ex.text[:40]!r} must have exactly one label, got {ex.labels}."
                )
        if self.teachers is not None and not isinstance(self.teachers, (list, tuple)):
            raise SpecError(f"teachers: must be a list of teachers (names, URLs or mappings), got {self.teachers!r}.")
        self.teachers = [TeacherSpec.parse(t) for t in (self.teachers or [])]
        if not isinstance(self.samples, int) or isinstance(self.samples, bool) or not 1 <= self.samples <= 64:
            raise SpecError(f"samples: must be an integer from 1 to 64, got {self.samples!r}.")
        bad_number = not isinstance(self.temperature, (int, float)) or isinstance(self.temperature, bool)
        if bad_number or not 0 <= self.temperature <= 2:
            raise SpecError(f"temperature: must be a number from 0 to 2, got {self.temperature!r}.")
        _flag("reasoning", self.reasoning)
        _flag("preprocess", self.preprocess)  # a string 'false' is true in Python: masking went on
        for key in ("description", "prompt_template", "language", "license", "license_name", "license_link", "vote"):
            _text_field(key, getattr(self, key))
        from .licenses import hub_license_id

        # the Hub's spelling of a license it knows ('MIT', 'Apache 2.0'); one it does not know is refused only where
        # a card is made (card_license), so that a spec or model folder with it still labels, trains and predicts
        self.license = hub_license_id(self.license) or self.license
        if self.license_name is not None or self.license_link is not None:
            self.card_license()
        from .reliability import VOTE_METHODS

        if self.vote not in VOTE_METHODS:
            raise SpecError(f"vote: {self.vote!r} is not a vote method; use {' or '.join(VOTE_METHODS)}.")

    # -- views -------------------------------------------------------------------------------------------------
    @property
    def label_names(self) -> list[str]:
        return [lab.name for lab in self.labels]

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.label_names))

    @property
    def label2id(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.label_names)}

    @property
    def label_column(self) -> str:
        """``labels`` for multi-label tasks, ``label`` for single-label ones (DESIGN.md)."""
        return "labels" if self.multi_label else "label"

    def answer_schema(self) -> dict[str, Any]:
        """JSON schema of one teacher answer: an enum (single-label) or a list of enums (multi-label)."""
        enum = {"type": "string", "enum": self.label_names}
        props: dict[str, Any] = {}
        if self.reasoning:
            props["reason"] = {"type": "string", "maxLength": 400}
        if self.multi_label:
            props["labels"] = {"type": "array", "items": enum, "uniqueItems": True}
        else:
            props["label"] = enum
        return {
            "type": "object",
            "properties": props,
            "required": list(props),
            "additionalProperties": False,
        }

    def with_teachers(
        self, teachers: str | dict[str, Any] | TeacherSpec | Sequence[str | dict[str, Any] | TeacherSpec]
    ) -> TaskSpec:
        """A copy whose teachers are replaced (``--teacher`` on the command line). One teacher may be given alone
        (a URL string was taken letter by letter: 24 teachers named 'h', 't', 't', 'p'...)."""
        if isinstance(teachers, (str, dict, TeacherSpec)):
            teachers = [teachers]
        data = self.to_dict()
        data["teachers"] = [TeacherSpec.parse(t) for t in teachers]
        return TaskSpec.from_dict(data)

    def with_vote(self, vote: str) -> TaskSpec:
        """A copy that decides labels by another vote rule (``--vote``)."""
        return TaskSpec.from_dict({**self.to_dict(), "vote": vote})

    def with_server(self, server: str) -> TaskSpec:
        """A copy whose base_url teachers name their server kind (``--server``: no detection)."""
        data = self.to_dict()
        data["teachers"] = [{**t, "server": server} if t.get("base_url") else t for t in data["teachers"]]
        if not any(t.get("base_url") for t in data["teachers"]):
            raise SpecError(f"--server {server}: no teacher has a base_url; give one with --teacher URL.")
        return TaskSpec.from_dict(data)

    def card_license(self) -> dict[str, Any]:
        """The cards' license metadata (``license``, and ``license_name`` / ``license_link`` for one off the Hub's
        list); a SpecError naming the fix when the Hub would refuse it (:func:`sxhub.licenses.card_license`)."""
        from .licenses import card_license

        return card_license(self.license, name=self.license_name, link=self.license_link)

    def card_language(self) -> dict[str, Any]:
        """The cards' language metadata; a SpecError naming the code when the Hub would not take it
        (:func:`card_language`)."""
        return card_language(self.language)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("license_name", "license_link"):  # unset: left out, as specs and model folders wrote them before
            if data[key] is None:
                del data[key]
        data["teachers"] = [asdict(t) if isinstance(t, TeacherSpec) else t for t in self.teachers]
        return data

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskSpec:
        if not isinstance(data, dict):
            raise SpecError(f"the task spec must be a YAML mapping, got {type(data).__name__}.")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise SpecError(f"unknown field(s) {unknown} in the task spec; allowed: {sorted(known)}.")
        for required in ("name", "labels"):
            if required not in data:
                raise SpecError(f"{required}: missing; every task spec needs 'name' and 'labels'.")
        data = dict(data)
        if isinstance(data.get("teachers"), (str, dict)):
            data["teachers"] = [data["teachers"]]
        return cls(**data)

    def default_teachers(self) -> list[TeacherSpec]:
        """The teachers to use: the spec's, else ``$SXHUB_TEACHER``, else the embedded ``local`` teacher."""
        if self.teachers:
            return list(self.teachers)
        env = os.environ.get("SXHUB_TEACHER")
        return [TeacherSpec.parse(env or LOCAL_TEACHER)]


def _label(value: Any) -> Label:
    if isinstance(value, str):
        return Label(name=value)
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"name", "description"})
        if unknown:
            raise SpecError(f"labels: unknown key(s) {unknown} in {value!r}; allowed: name, description.")
        return Label(**value)
    raise SpecError(f"labels: each label is a name or a mapping with 'name' and 'description', got {value!r}.")


def _one_label_line(example: Example, found: list[str], written: str = "") -> str:
    """The line for a single-label task's example that names several of its labels."""
    return (
        f"examples: example {example.text[:40]!r} names {len(found)} labels, {found}{written}, but a single-label "
        "task's example takes exactly one label; pick one of them, or set multi_label: true if a text can have "
        "several labels."
    )


def _example(value: Any) -> Example:
    if not isinstance(value, dict):
        raise SpecError(f"examples: each example is a mapping with 'text' and 'labels', got {value!r}.")
    value = dict(value)
    if "label" in value and "labels" not in value:
        value["labels"] = value.pop("label")
    unknown = sorted(set(value) - {"text", "labels", "reason"})
    if unknown:
        raise SpecError(f"examples: unknown key(s) {unknown}; allowed: text, labels, reason.")
    if "labels" not in value:
        raise SpecError(f"examples: example {str(value.get('text'))[:40]!r} has no 'labels'.")
    return Example(**value)


def load_spec(source: str | os.PathLike[str] | dict[str, Any] | TaskSpec, *, name: str | None = None) -> TaskSpec:
    """Load a task spec from a YAML file (or a dict, or pass a TaskSpec through); ``name`` is the caller's parameter,
    named in the one line that refuses anything else (``annotate(3, texts)`` met ``expected str, bytes or
    os.PathLike object, not int``, and the texts in its place an AttributeError)."""
    if isinstance(source, TaskSpec):
        return source
    if isinstance(source, dict):
        return TaskSpec.from_dict(source)
    if not isinstance(source, (str, os.PathLike)):
        takes = f"{name}= takes" if name else "a task spec is"
        raise SpecError(
            f"{takes} a TaskSpec, a dict or the path of its YAML file, not {_what(source)}: pass "
            "sxhub.TaskSpec(...) or the path of a task YAML."
        )
    path = Path(source)
    if not path.is_file():
        from ._paths import shipped_example

        shipped = shipped_example(path)
        if shipped is not None:
            raise SpecError(
                f"task spec {str(path)!r} not found here; sxhub ships that example as {str(shipped)!r}: pass that path."
            )
        raise SpecError(f"task spec {str(path)!r} not found; pass the path of a YAML file (see examples/).")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        if looks_like_table(path):
            raise SpecError(f"task spec {str(path)!r} is not valid YAML{where}{SWAPPED}.") from exc
        raise SpecError(f"task spec {str(path)!r} is not valid YAML{where}; fix the syntax.") from exc
    except UnicodeDecodeError as exc:
        # a Parquet file passed as TASK (the arguments swapped) was told to "save it as UTF-8"
        if looks_like_table(path):
            raise SpecError(f"task spec {str(path)!r} is not a YAML file{SWAPPED}.") from exc
        raise SpecError(f"task spec {str(path)!r} is not UTF-8 text; save it as UTF-8.") from exc
    if not isinstance(data, dict):
        refuse_not_a_mapping(path, data)
    template = data.get("prompt_template")
    if isinstance(template, str):
        # a template file named relative to the spec is found from any working folder (it was looked up in the
        # folder the command ran in)
        beside = path.parent / Path(template.strip()).expanduser()
        if is_template_file(template) and not Path(template.strip()).expanduser().is_absolute() and beside.is_file():
            data = {**data, "prompt_template": str(beside)}
    _refuse_one_yaml_string(data)
    return TaskSpec.from_dict(data)


def _what(value: Any) -> str:
    """``int 3``, ``list ['a text']``; a value whose repr is long or spans lines (a DataFrame) by its type alone."""
    shown = repr(value)
    kind = type(value).__name__
    return f"{kind} {shown}" if len(shown) <= 40 and "\n" not in shown else f"a {kind}"
