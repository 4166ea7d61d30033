"""What a task spec *file* is refused for before :class:`sxhub.spec.TaskSpec` reads it, each with the fix in the
file's own terms: an empty or non-mapping file, a table of texts passed as TASK (the arguments swapped), and one
YAML string where a list goes. Split out of :mod:`sxhub.spec`, whose :func:`~sxhub.spec.load_spec` calls them; a spec
built in Python keeps TaskSpec's own lines.
"""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path
from typing import Any, NoReturn

import yaml

from .errors import SpecError
from .label_names import comma_separated_labels


def _example_spec() -> str:
    """Where the financial-sentiment example's task.yaml is here: ``examples/...`` at the top of a checkout, inside
    the installed package for a wheel (a pip user has no ``examples/`` folder where they run)."""
    from ._paths import asset_dir

    try:
        path = asset_dir("examples") / "financial-sentiment" / "task.yaml"
    except FileNotFoundError:
        return "sxhub's examples/financial-sentiment/task.yaml"
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class _SpecLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key written twice in one mapping: YAML keeps the last one, and a second
    ``teachers:`` block (or a label written twice in a ``labels:`` mapping) dropped the first without a word."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key, line = self.construct_object(key_node), key_node.start_mark.line + 1
            if key in seen:
                raise _Twice(f"{key!r} is written twice (lines {seen[key]} and {line}), and YAML keeps only the last")
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


class _Twice(ValueError):
    """A key written twice in a spec file (:class:`_SpecLoader`); :func:`read_spec_file` names the file."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object's ``object_pairs_hook`` refusing a key written twice (JSON, too, keeps only the last)."""
    keys = [key for key, _ in pairs]
    twice = next((key for key in keys if keys.count(key) > 1), None)
    if twice is not None:
        raise _Twice(f"{twice!r} is written twice in one object, and JSON keeps only the last")
    return dict(pairs)


def read_spec_file(path: Path) -> Any:
    """The data of a task spec file: YAML, or JSON for a ``.json`` file (JSON indented with tabs is no YAML);
    each slip refused in one line naming the file and the fix."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark (Notepad's) is no part of the spec
    except UnicodeDecodeError as exc:
        # a Parquet file passed as TASK (the arguments swapped) was told to "save it as UTF-8"
        if looks_like_table(path):
            raise SpecError(f"task spec {str(path)!r} is not a YAML file{SWAPPED}.") from exc
        raise SpecError(f"task spec {str(path)!r} is not UTF-8 text; save it as UTF-8.") from exc
    try:
        if path.suffix.lower() == ".json":
            return _read_json(path, text)
        data = yaml.load(text, Loader=_SpecLoader)  # a SafeLoader that refuses keys written twice
    except _Twice as exc:
        raise SpecError(f"task spec {str(path)!r}: {exc}; write it once.") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        if looks_like_table(path):
            raise SpecError(f"task spec {str(path)!r} is not valid YAML{where}{SWAPPED}.") from exc
        problem = str(getattr(exc, "problem", "") or "")
        if "'\\t'" in problem or " tab " in problem:  # "found character '\\t' that cannot start any token"
            raise SpecError(
                f"task spec {str(path)!r} is not valid YAML{where}: a tab; YAML indents with spaces, so replace the "
                "tabs with spaces."
            ) from exc
        raise SpecError(f"task spec {str(path)!r} is not valid YAML{where}; fix the syntax.") from exc
    refuse_yaml_non_text(data, text)
    refuse_numbers_as_text(data)
    return data


def _read_json(path: Path, text: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        # JSON Lines, or a table's records, under .json: the arguments swapped; an object with a slip: the slip
        if exc.msg == "Extra data" or not text.lstrip().startswith("{"):
            raise SpecError(f"task spec {str(path)!r} is not valid JSON at line {exc.lineno}{SWAPPED}.") from exc
        raise SpecError(
            f"task spec {str(path)!r} is not valid JSON at line {exc.lineno} ({exc.msg}); fix the syntax."
        ) from exc


def _not_text(value: Any) -> str | None:
    """What YAML made of an unquoted label that is not text (``yes`` is true, ``1`` a number); None for text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, (datetime.date, datetime.datetime)):
        return "a date"
    return None


def refuse_yaml_non_text(data: Any, text: str) -> None:
    """A label name that YAML read as a boolean, a number or a date (``labels: [yes, no]``, ``[1, 2, 3]``), refused
    with what was written and the quoted YAML: TaskSpec's line said "got True" of a ``yes`` the user wrote."""
    if not isinstance(data, dict):
        return

    def line(where: str, written: Any, value: Any, fix: str) -> SpecError:
        return SpecError(
            f"{where}: YAML reads {written} unquoted as {_not_text(value)}, not as a label name; quote {fix}."
        )

    labels, examples = data.get("labels"), data.get("examples")
    if not any(_not_text(v) for v in _label_values(labels)) and not _example_non_text(examples):
        return
    try:
        raw = yaml.load(text, Loader=yaml.BaseLoader)  # every scalar as the text written
    except yaml.YAMLError:  # what the safe loader read and this one cannot: TaskSpec's own line
        return
    raw_labels, raw_examples = raw.get("labels"), raw.get("examples")
    if isinstance(labels, list) and isinstance(raw_labels, list) and len(raw_labels) == len(labels):
        for item, written in zip(labels, raw_labels, strict=True):
            if isinstance(item, dict) and isinstance(written, dict):
                if _not_text(item.get("name")) and isinstance(written.get("name"), str):
                    raise line("labels", written["name"], item["name"], f"it: name: {_flow(written['name'])}")
            elif _not_text(item) and isinstance(written, str):
                names = raw_labels if all(isinstance(r, str) for r in raw_labels) else [written]
                raise line("labels", written, item, f"the labels: labels: {_flow(names)}")
    if isinstance(labels, dict) and isinstance(raw_labels, dict) and len(raw_labels) == len(labels):
        for key, written in zip(labels, raw_labels, strict=True):
            if _not_text(key):
                raise line("labels", written, key, f"it: {_flow(written)}")
    if isinstance(examples, list) and isinstance(raw_examples, list) and len(raw_examples) == len(examples):
        for i, (example, written) in enumerate(zip(examples, raw_examples, strict=True)):
            if not isinstance(example, dict) or not isinstance(written, dict):
                continue
            for key in ("labels", "label"):
                value, shown = example.get(key), written.get(key)
                values = value if isinstance(value, list) else [value]
                bad = next((v for v in values if _not_text(v)), None)
                if bad is not None and isinstance(shown, (str, list)):
                    first = shown if isinstance(shown, str) else shown[values.index(bad)]
                    raise line(f"examples[{i}].{key}", first, bad, f"it: {key}: {_flow(shown)}")


_NUMBER = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$")


def refuse_numbers_as_text(data: Any) -> None:
    """A number field that YAML read as text: ``temperature: 1e-1`` (YAML 1.1 reads an exponent without a dot as a
    string) or one quoted, ``samples: '3'``; TaskSpec's line said "must be a number ..., got '1e-1'" of what the
    user wrote as a number."""
    if not isinstance(data, dict):
        return
    fields = [(key, key, data.get(key)) for key in ("temperature", "samples")]
    teachers = data.get("teachers")
    for i, teacher in enumerate(teachers if isinstance(teachers, list) else []):
        if isinstance(teacher, dict):
            keys = ("price_input", "price_output", "timeout", "max_tokens")
            fields += [(f"teachers[{i}].{key}", key, teacher.get(key)) for key in keys]
    for where, key, value in fields:
        if not isinstance(value, str) or not _NUMBER.match(value.strip()):  # 'inf', 'nan': left to TaskSpec's line
            continue
        number = float(value)
        shown = int(number) if number.is_integer() and key in ("samples", "max_tokens") else number
        exponent = "e" in value.lower()
        why = " (YAML 1.1 reads an exponent without a dot as text)" if exponent else ""
        how = "as" if exponent else "unquoted:"
        raise SpecError(f"{where}: {value!r} is text to YAML, not a number{why}; write it {how} {key}: {shown!r}.")


def _label_values(labels: Any) -> list[Any]:
    if isinstance(labels, dict):
        return list(labels)
    if isinstance(labels, list):
        return [item.get("name") if isinstance(item, dict) else item for item in labels]
    return []


def _example_non_text(examples: Any) -> bool:
    if not isinstance(examples, list):
        return False
    for example in examples:
        if isinstance(example, dict):
            for key in ("labels", "label"):
                value = example.get(key)
                if any(_not_text(v) for v in (value if isinstance(value, list) else [value])):
                    return True
    return False


def refuse_not_a_mapping(path: Path, data: Any) -> NoReturn:
    """A spec file that is empty, or holds a list or one string (a CSV of texts passed as TASK, the arguments
    swapped), refused naming the file and what a spec holds: TaskSpec's line ("must be a YAML mapping, got
    NoneType") named neither the file nor the fix."""
    fix = f"write a YAML mapping with at least name: and labels: (see {_example_spec()})"
    if data is None:
        raise SpecError(f"task spec {str(path)!r} is empty; {fix}.")
    kind = (
        "a list" if isinstance(data, list) else "plain text" if isinstance(data, str) else f"a {type(data).__name__}"
    )
    hint = SWAPPED if looks_like_table(path) else ""
    raise SpecError(f"task spec {str(path)!r} is {kind}, not a mapping{hint}; {fix}.")


SWAPPED = " (it looks like a table of texts: pass the task YAML here and the texts as INPUT)"


def looks_like_table(path: Path) -> bool:
    """True for a file that INPUT reads (by its suffix, or Parquet's magic bytes under any name): passed as TASK, it
    is the arguments swapped, and the fix is to swap them, not to edit the file."""
    if path.suffix.lower() in {".csv", ".tsv", ".jsonl", ".json", ".parquet", ".txt"}:
        return True
    try:
        with path.open("rb") as file:
            return file.read(4) == b"PAR1"
    except OSError:
        return False


def refuse_one_yaml_string(data: Any) -> None:
    """One string written in a task spec file where a list goes (``labels: positive, negative``, without the
    brackets), refused with the fix in YAML terms: TaskSpec's own line ("labels: must be a list of names or of
    {name, description} mappings ...") spoke of the data it got, not of what to write. A spec built in Python keeps
    TaskSpec's line."""
    if not isinstance(data, dict):
        return
    labels, examples = data.get("labels"), data.get("examples")
    if isinstance(labels, str):
        names = [name.strip() for name in labels.split(",") if name.strip()] or ["positive", "negative"]
        raise SpecError(
            f"labels: {_shown(labels)!r} is one string, not a list; write it as a YAML list: labels: {_flow(names)}."
        )
    if isinstance(examples, str):
        first = labels[0] if isinstance(labels, list) and labels and isinstance(labels[0], str) else "LABEL"
        example = [{"text": _shown(examples), "labels": [first]}]
        raise SpecError(
            f"examples: {_shown(examples)!r} is one string, not a list; write it as a YAML list of {{text, labels}} "
            f"mappings: examples: {_flow(example)}."
        )
    if data.get("multi_label") is True and isinstance(examples, list):
        _refuse_one_string_of_labels(examples, _yaml_label_names(labels))


def _refuse_one_string_of_labels(examples: list[Any], names: list[str]) -> None:
    """A multi-label example's ``labels: price, place`` (the brackets left out) is the one label 'price, place',
    refused by TaskSpec as "not in labels": where every comma-separated part is a label of the spec (a label with a
    comma of its own kept whole, :func:`rejoin_comma_names`), the line gives the YAML list to write instead."""
    for i, example in enumerate(examples):
        if not isinstance(example, dict):
            continue
        key = "labels" if "labels" in example else "label"
        value = example.get(key)
        if not isinstance(value, str) or "," not in value or value.strip() in names:
            continue
        parts = comma_separated_labels(value, names)
        if parts is not None:
            raise SpecError(
                f"examples[{i}].{key}: {_shown(value)!r} is one string, not a list; write it as a YAML list: "
                f"labels: {_flow(parts)}."
            )


def _yaml_label_names(labels: Any) -> list[str]:
    """The label names of a spec file's ``labels:`` as written (names, {name, description} mappings, or one mapping
    of name to description); what is not a name is left to TaskSpec's own lines."""
    items = list(labels) if isinstance(labels, (dict, list)) else []
    names = [item.get("name") if isinstance(item, dict) else item for item in items]
    return [name.strip() for name in names if isinstance(name, str)]


def _shown(value: str) -> str:
    return value if len(value) <= 60 else f"{value[:40]}..."


def _flow(value: Any) -> str:
    """``value`` in YAML's one-line flow style (``[positive, negative]``), quoted where YAML needs it."""
    return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, allow_unicode=True, width=10**6).strip()
