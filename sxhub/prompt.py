"""Prompts for teachers, and strict parsing of their replies.

Building (:func:`build_messages`) is kept apart from parsing (:func:`parse_reply`), as in distilabel's
``format_input`` / ``format_output``. The default prompt is built from the spec: a role, the task description, the
label definitions, the output format (naming the JSON schema) and the few-shot examples as earlier chat turns. A
spec's ``prompt_template`` (a path to a ``.jinja`` file or an inline Jinja string) replaces the user turn; it sees
the variables ``spec``, ``labels``, ``examples``, ``text`` and ``schema``.

Parsing is strict: a reply that is not one JSON object valid against the task's answer schema (checked with
``jsonschema``) raises :class:`InvalidAnswer`. The only tolerance is a JSON object wrapped in code fences or
surrounded by text (the first ``{...}`` object is taken), a model's ``<think>...</think>`` before it (skipped) and
case/whitespace differences in label names.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import jsonschema

from .errors import SpecError, TeacherError
from .spec import TEMPLATE_SUFFIXES, TaskSpec, is_template_file, label_key  # noqa: F401  (TEMPLATE_SUFFIXES: importable here)


class InvalidAnswer(TeacherError):
    """A teacher replied, but the reply is not a valid answer (not JSON, wrong shape, or an unknown label)."""


# ------------------------------------------------------------------------------------------------------------------
# building
# ------------------------------------------------------------------------------------------------------------------
def answer_example(spec: TaskSpec, labels: list[str], reason: str = "") -> str:
    """The JSON answer the teacher should give for ``labels`` (used for few-shot turns and the format line)."""
    answer: dict[str, Any] = {}
    if spec.reasoning:
        answer["reason"] = reason or "a short reason"
    if spec.multi_label:
        answer["labels"] = labels
    else:
        answer["label"] = labels[0]
    return json.dumps(answer, ensure_ascii=False)


def system_prompt(spec: TaskSpec) -> str:
    """Role, task, label definitions and output format."""
    lines = ["You are an expert annotator. You label texts carefully and answer only with JSON."]
    if spec.description:
        lines += ["", f"Task: {spec.description}"]
    lines += ["", "Labels:"]
    for label in spec.labels:
        lines.append(f"- {label.name}: {label.description}" if label.description else f"- {label.name}")
    lines += _listed_examples(spec)
    lines.append("")
    if spec.multi_label:
        lines.append("Give every label that applies (any number, possibly none) in the list 'labels'.")
    else:
        lines.append("Give exactly one label, the one that fits best, in 'label'.")
    if spec.reasoning:
        lines.append("First give a short reason (one sentence) in 'reason', then the label.")
    lines += [
        "Use the label names exactly as written above.",
        "Answer with one JSON object that follows this JSON schema, and nothing else:",
        json.dumps(spec.answer_schema(), ensure_ascii=False),
        f"For example: {answer_example(spec, spec.label_names[:1])}",
    ]
    return "\n".join(lines)


def shown_as_turns(spec: TaskSpec) -> list[Any]:
    """The examples given as answered turns. With ``reasoning``, an example without a ``reason`` is not: its
    answer would need a reason sxhub does not have (it showed the teacher the literal "a short reason"), so it is
    listed in the system prompt with its labels instead (:func:`system_prompt`)."""
    return [ex for ex in spec.examples if ex.reason or not spec.reasoning]


def _listed_examples(spec: TaskSpec) -> list[str]:
    listed = [ex for ex in spec.examples if spec.reasoning and not ex.reason]
    if not listed:
        return []
    lines = ["", "Labelled examples:"]
    for ex in listed:
        names = ", ".join(ex.labels) if ex.labels else "(no label)"
        lines.append(f"- {json.dumps(ex.text, ensure_ascii=False)}: {names}")
    return lines


def one_form(text: str) -> str:
    """``text`` in NFC, as a teacher is sent it (see :func:`build_messages`; :func:`sxhub.data.one_spelling` does
    the same where texts are compared, without loading pandas here)."""
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)


def user_prompt(text: str) -> str:
    """The default user turn: the text to label, in NFC."""
    return f"Text: {one_form(text)}\n\nAnswer with the JSON object."


def build_messages(spec: TaskSpec, text: str) -> list[dict[str, str]]:
    """Chat messages asking a teacher to label ``text`` under ``spec``.

    Every message is sent in NFC: the label cache keys a request by its NFC form (:func:`sxhub.cache.cache_key`), so
    "Café" typed with a combining accent (NFD, as macOS writes it) and precomposed are one question, and both must
    be asked in the same words (a teacher's tokenizer reads the two spellings as other tokens). The ``text`` column
    annotate writes keeps the spelling the input had: users diff their input against it, and train and predict put
    texts in NFC themselves (preprocessing block version 5)."""
    if spec.prompt_template:
        content = render_template(spec, one_form(text))
        return [{"role": "user", "content": one_form(content)}]
    messages = [{"role": "system", "content": one_form(system_prompt(spec))}]
    for ex in shown_as_turns(spec):
        messages.append({"role": "user", "content": user_prompt(ex.text)})
        messages.append({"role": "assistant", "content": one_form(answer_example(spec, ex.labels, ex.reason))})
    messages.append({"role": "user", "content": user_prompt(text)})
    return messages


def message_builder(spec: TaskSpec) -> Callable[[str], list[dict[str, str]]]:
    """:func:`build_messages` for many texts of one spec: the system prompt and few-shot turns are built once, and a
    ``prompt_template`` file is read once (edited while a run goes on, it would switch the later texts' prompt)."""
    if spec.prompt_template:
        pinned = pinned_template(spec)
        return lambda text: build_messages(pinned, text)
    prefix = build_messages(spec, "")[:-1]
    return lambda text: [*(dict(m) for m in prefix), {"role": "user", "content": user_prompt(text)}]


def pinned_template(spec: TaskSpec) -> TaskSpec:
    """``spec`` with a ``prompt_template`` file replaced by the text it holds now: one run sends one prompt (an edit
    while it goes on no longer moves its later texts or chunks to the new one), and Ray tasks on other machines need
    not see the file. An inline template (or none) is left as it is."""
    from dataclasses import replace

    if spec.prompt_template and is_template_file(spec.prompt_template):
        return replace(spec, prompt_template=template_text(spec.prompt_template))
    return spec


def render_template(spec: TaskSpec, text: str) -> str:
    """Render ``spec.prompt_template`` (a ``.jinja`` path or an inline template) for one text."""
    assert spec.prompt_template is not None
    template = _compile(spec.prompt_template, _file_version(spec.prompt_template))
    try:
        return template.render(
            spec=spec, labels=spec.labels, examples=spec.examples, text=text, schema=spec.answer_schema()
        )
    except jinja2.TemplateError as exc:
        raise SpecError(
            f"prompt_template could not be rendered ({exc}); it may use spec, labels, examples, text and schema."
        ) from exc


def template_text(source: str) -> str:
    """A spec's ``prompt_template`` as its text: the file's, when it names one (what the dataset card shows: the
    prompt, not a path on the machine that labelled)."""
    if not is_template_file(source):
        return source
    path = Path(source.strip()).expanduser()
    if not path.is_file():
        raise SpecError(
            f"prompt_template file {str(path)!r} not found; give a path to a .jinja file (relative to the task "
            "spec's folder) or an inline template."
        )
    return path.read_text(encoding="utf-8")


def _file_version(source: str) -> tuple[int, int] | None:
    """A template file's modification time and size (None for an inline template): part of :func:`_compile`'s
    key, so a file edited between two runs in one process (a notebook) is read again. Keyed on the path alone,
    the old prompt kept being sent and the label cache answered it, while the parts manifest recorded the new."""
    if not is_template_file(source):
        return None
    try:
        stat = Path(source.strip()).expanduser().stat()
    except OSError:
        return None  # template_text names the missing file
    return stat.st_mtime_ns, stat.st_size


@lru_cache(maxsize=16)
def _compile(source: str, version: tuple[int, int] | None = None) -> jinja2.Template:
    source = template_text(source)
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False)
    try:
        return env.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise SpecError(f"prompt_template has a Jinja syntax error at line {exc.lineno}: {exc.message}.") from exc


# ------------------------------------------------------------------------------------------------------------------
# parsing
# ------------------------------------------------------------------------------------------------------------------
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


def extract_json_object(raw: str) -> dict[str, Any]:
    """The reply as one JSON object: the whole text, or the first ``{...}`` object in it (fences allowed).

    A reasoning model's thinking left in the text (a server run without a reasoning parser: vLLM without
    ``--reasoning-parser``, llama.cpp with ``--reasoning-format none``, TGI) is not part of the answer: only what
    follows the last ``</think>`` is read, as vLLM's ``<think>`` reasoning parsers split it. A draft object in the
    thinking was taken as the answer (``<think>{"label": "positive"}? no...</think>{"label": "negative"}`` voted
    positive)."""
    text = raw.strip()
    if not text:
        raise InvalidAnswer("the reply has no content")
    if THINK_CLOSE in text:
        text = text.rsplit(THINK_CLOSE, 1)[1].strip()
        if not text:
            raise InvalidAnswer("the reply holds only the model's thinking, no answer after </think>")
    elif text.startswith(THINK_OPEN):
        raise InvalidAnswer(f"the reply holds only the model's thinking (no </think>): {_clip(text)!r}")
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = _first_object(text)
    if not isinstance(value, dict):
        raise InvalidAnswer(f"reply is not a JSON object: {_clip(raw)!r}")
    return value


def _first_object(text: str) -> dict[str, Any]:
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            value, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
            continue
        if isinstance(value, dict):
            return value
        start = text.find("{", start + 1)
    raise InvalidAnswer(f"reply holds no JSON object: {_clip(text)!r}")


def parse_reply(spec: TaskSpec, raw_text: str) -> tuple[list[str], str]:
    """The labels (canonical names, label order for multi-label) and the reason in a teacher's raw reply.

    The reply's JSON object is validated against :meth:`TaskSpec.answer_schema` with ``jsonschema`` (after label
    names are matched case- and whitespace-insensitively). Raises :class:`InvalidAnswer` for non-JSON, a reply that
    does not fit the schema (a missing or extra key, a label outside the task's labels, a too-long reason...).
    """
    return reply_parser(spec)(raw_text)


def reply_parser(spec: TaskSpec) -> Callable[[str], tuple[list[str], str]]:
    """:func:`parse_reply` for many replies under one spec, with the answer schema's validator looked up once."""
    schema = spec.answer_schema()
    validator = _validator(json.dumps(schema, sort_keys=True))
    return lambda raw_text: _parse(spec, validator, raw_text)


def _parse(spec: TaskSpec, validator: Any, raw_text: str) -> tuple[list[str], str]:
    obj = extract_json_object(raw_text or "")
    key = "labels" if spec.multi_label else "label"
    value = obj.get(key)
    if isinstance(value, str):
        obj[key] = _canonical(spec, value) if not spec.multi_label else value
    elif isinstance(value, list):  # canonical names, each once (a repeated label is no shape error)
        obj[key] = list(dict.fromkeys(_canonical(spec, v) if isinstance(v, str) else json.dumps(v) for v in value))
    error = None if validator.is_valid(obj) else _best_error(validator, obj)
    if error is not None:
        raise InvalidAnswer(f"reply does not fit the answer schema: {error}")
    if spec.multi_label:
        chosen = set(obj["labels"])
        labels = [name for name in spec.label_names if name in chosen]
    else:
        labels = [obj["label"]]
    return labels, str(obj.get("reason", "")).strip()


def best_schema_error(instance: Any, schema: dict[str, Any]) -> str | None:
    """None when ``instance`` is valid against ``schema``, else jsonschema's most relevant error, on one line."""
    return _best_error(_validator(json.dumps(schema, sort_keys=True)), instance)


def _best_error(validator: Any, instance: Any) -> str | None:
    error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path)
    message = error.message
    if len(message) > 160:  # jsonschema quotes the whole value: say which rule it broke instead
        message = f"value breaks {error.validator}={_clip(json.dumps(error.validator_value), 80)}"
    return _clip(f"{where + ': ' if where else ''}{message}")


@lru_cache(maxsize=32)
def _validator(schema_json: str) -> Any:
    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    cls.check_schema(schema)
    return cls(schema)


def _canonical(spec: TaskSpec, name: str) -> str:
    """The task's spelling of ``name`` when it matches one label up to case and whitespace, else ``name``."""
    key = label_key(name)
    for label in spec.label_names:
        if label_key(label) == key:
            return label
    return name


def _clip(text: str, n: int = 200) -> str:
    return text if len(text) <= n else text[:n] + "..."
