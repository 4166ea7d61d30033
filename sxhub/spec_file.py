"""What a task spec *file* is refused for before :class:`sxhub.spec.TaskSpec` reads it, each with the fix in the
file's own terms: an empty or non-mapping file, a table of texts passed as TASK (the arguments swapped), and one
YAML string where a list goes. Split out of :mod:`sxhub.spec`, whose :func:`~sxhub.spec.load_spec` calls them; a spec
built in Python keeps TaskSpec's own lines.
"""

from __future__ import annotations

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
