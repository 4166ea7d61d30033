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

import yaml

from .card_language import card_language
from .errors import SpecError
from .label_names import comma_separated_labels
from .label_names import label_key as label_key  # re-exported: sxhub.spec.label_key
from .label_names import rejoin_comma_names as rejoin_comma_names  # re-exported: sxhub.spec.rejoin_comma_names
from .sequences import SequenceNotStr
from .spec_file import read_spec_file, refuse_not_a_mapping
from .spec_file import refuse_one_yaml_string as _refuse_one_yaml_string  # sxhub.spec's name, as before the split
from .teacher_spec import CHAT_ROUTE as CHAT_ROUTE  # re-exported: every name sxhub.spec had before the split
from .teacher_spec import ENDPOINT_NAME as ENDPOINT_NAME
from .teacher_spec import ENDPOINT_REF as ENDPOINT_REF
from .teacher_spec import LOCAL_TEACHER as LOCAL_TEACHER
from .teacher_spec import SERVER_ADDRESS as SERVER_ADDRESS
from .teacher_spec import SERVER_KINDS as SERVER_KINDS
from .teacher_spec import TeacherSpec as TeacherSpec
from .teacher_spec import (
    _text_field,  # the spec's check of a text field, shared with TeacherSpec
    did_you_mean,
)
from .teacher_spec import redact_url as redact_url

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


def _flag(where: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise SpecError(f"{where}: must be true or false, got {value!r}.")


TEMPLATE_SUFFIXES = (".jinja", ".jinja2", ".j2")


def is_template_file(source: str) -> bool:
    """Whether a spec's ``prompt_template`` names a file (one line ending in .jinja, .jinja2 or .j2)."""
    return source.strip().endswith(TEMPLATE_SUFFIXES) and "\n" not in source.strip()


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
        unknown = sorted(set(data) - known, key=str)
        if unknown:
            raise SpecError(
                f"unknown field(s) {unknown} in the task spec{did_you_mean(unknown, known)}; allowed: {sorted(known)}."
            )
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
        unknown = sorted(set(value) - {"name", "description"}, key=str)
        if unknown:
            guess = did_you_mean(unknown, ["name", "description"])
            raise SpecError(f"labels: unknown key(s) {unknown}{guess} in {value!r}; allowed: name, description.")
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
    unknown = sorted(set(value) - {"text", "labels", "reason"}, key=str)
    if unknown:
        guess = did_you_mean(unknown, ["text", "labels", "reason"])
        raise SpecError(f"examples: unknown key(s) {unknown}{guess}; allowed: text, labels, reason.")
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
    if path.is_dir():  # it was "not found"
        inside = next((p for p in (path / n for n in ("task.yaml", "task.yml", "task.json")) if p.is_file()), None)
        fix = f"pass its task YAML, {str(inside)!r}" if inside else "pass the path of a task YAML file (see examples/)"
        raise SpecError(f"task spec {str(path)!r} is a folder; {fix}.")
    if not path.is_file():
        from ._paths import shipped_example

        shipped = shipped_example(path)
        if shipped is not None:
            raise SpecError(
                f"task spec {str(path)!r} not found here; sxhub ships that example as {str(shipped)!r}: pass that path."
            )
        raise SpecError(f"task spec {str(path)!r} not found; pass the path of a YAML file (see examples/).")
    data = read_spec_file(path)
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
