"""How label names are matched: case and spacing ignored (:func:`label_key`), and a multi-label cell split at a
label's own comma joined again (:func:`rejoin_comma_names`). Split out of :mod:`sxhub.spec`, which re-exports them,
so that the spec file's checks (:mod:`sxhub.spec_file`) use them without importing the spec.
"""

from __future__ import annotations

import re
from typing import Any


def label_key(name: str) -> str:
    """How replies are matched to label names (case and spacing ignored, :func:`sxhub.prompt.parse_answer`): two
    labels with one key could never both be chosen."""
    return " ".join(name.split()).casefold()


def _comma_key(name: str) -> str:
    return re.sub(r"\s*,\s*", ",", label_key(name))


def rejoin_comma_names(row: list[Any], names: list[str]) -> list[Any]:
    """A multi-label cell's names with those a comma-separated cell split at their own comma joined again: the
    cell ``joy, pure`` of a task with a label ``joy, pure`` was read as the labels ``joy`` and ``pure`` and refused
    as not the task's. A row with a part that names no label is read again: from each part on, the longest run of
    parts that spells a label with a comma is joined (case and spacing ignored, as :func:`label_key` does). A row
    whose every part is a label is kept as it is (where the task names ``joy``, ``pure`` and ``joy, pure``, the
    cell ``joy, pure`` cannot say which it means: a JSON list cell, ``["joy, pure"]``, can)."""
    joined = {_comma_key(n): n for n in names if "," in n}
    keys = {label_key(n) for n in names}
    if not joined or len(row) < 2 or all(isinstance(p, str) and label_key(p) in keys for p in row):
        return row
    out, i = [], 0
    while i < len(row):
        part = row[i]
        for j in range(len(row), i + 1, -1):
            parts = row[i:j]
            name = joined.get(_comma_key(",".join(parts))) if all(isinstance(p, str) for p in parts) else None
            if name is not None:
                out.append(name)
                i = j
                break
        else:
            out.append(part)
            i += 1
    return out


def comma_separated_labels(value: str, names: list[str]) -> list[str] | None:
    """The labels of ``names`` that one string lists separated by commas (``price, place``, a list's brackets left
    out), a label with a comma of its own kept whole (:func:`rejoin_comma_names`); None where it names fewer than two
    or a part names no label."""
    parts = rejoin_comma_names([part.strip() for part in value.split(",")], names)
    return parts if len(parts) > 1 and all(part in names for part in parts) else None
