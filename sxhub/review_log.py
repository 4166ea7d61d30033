"""Review decisions: the queue a reviewer works through, the append-only decisions file, and agreement.

**Nothing is lost.** Every reviewer action is one JSON line appended to a decisions file and flushed to disk before
the app answers, with the reviewer and the time (UTC). The file is the only state: a killed app loses nothing, and a
restarted one replays it and resumes each reviewer at their first undecided text. Undo appends an ``undo`` line
that cancels the reviewer's latest action; nothing is ever rewritten. One line::

    {"id": "3f0c...", "time": "2026-12-01T10:00:00.123456+00:00", "reviewer": "alice", "action": "label",
     "row": 12, "text_hash": "9b1d...", "labels": ["negative"], "previous": ["neutral"]}

``action`` is ``label`` (the reviewer's choice), ``keep`` (the current label is right), ``skip`` or ``undo``
(with ``undoes``: the id of the cancelled line). ``row`` is the 0-based row of the labelled file and ``text_hash``
the SHA-256 prefix of the text in NFC, so decisions are applied only to the texts they were made on, whichever
Unicode form a re-saved file writes them in (lines of older versions, hashed from the raw text, still match, on a
text that mixed both forms too). ``sxhub apply-review``
reads the same file with :func:`final_decisions`.

This module, :mod:`sxhub.review_app` and :mod:`sxhub.review_space` import nothing else from sxhub (krippendorff only
when agreement is computed): ``sxhub publish review`` copies the three into the Space as they are (the package
``sxhub_review/``).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import math
import os
import re
import threading
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

ACTIONS = ("label", "keep", "skip", "undo")
ITEMS_FILE = "items.jsonl"
CONFIG_FILE = "config.json"
DECISIONS_IN_REPO = "review/decisions"  # where a review Space keeps decisions in the dataset repo


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def text_hash(text: str) -> str:
    """The SHA-256 prefix that ties a decision to its text, of its NFC form: "Café" typed with a combining accent
    (NFD, as macOS writes it) and re-saved precomposed (an editor, pandas) is the same text."""
    return _digest(unicodedata.normalize("NFC", text))


def text_hashes(text: str) -> set[str]:
    """Every hash a decision on ``text`` may carry: :func:`text_hash`, and the raw bytes' hash that sxhub wrote
    before it hashed in NFC, of the text as it is and in NFD (a decision made on an NFD file re-saved in NFC)."""
    return {text_hash(text), _digest(text), _digest(unicodedata.normalize("NFD", text))}


MIXED_SPELLINGS_MAX = 12  # accented characters of one text tried both ways: 4,096 hashes at most, for one line


def mixed_hashes(text: str) -> Iterator[str]:
    """The raw bytes' hash of every spelling of ``text`` that mixes NFC and NFD characters (each character that
    NFD decomposes, precomposed or not: a text pasted together from a Mac and elsewhere), which sxhub wrote before it
    hashed in NFC: after a re-save in one form, :func:`text_hashes` no longer holds it. None beyond
    :data:`MIXED_SPELLINGS_MAX` such characters."""
    parts = [(c, unicodedata.normalize("NFD", c)) for c in unicodedata.normalize("NFC", text)]
    if sum(nfc != nfd for nfc, nfd in parts) > MIXED_SPELLINGS_MAX:
        return
    for spelling in itertools.product(*({nfc, nfd} for nfc, nfd in parts)):
        yield _digest("".join(spelling))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


# ==============================================================================================================
# what is reviewed
# ==============================================================================================================
@dataclass(frozen=True)
class Item:
    """One text to review. ``current``: its label(s) now (one name for a single-label task)."""

    row: int
    text: str
    current: list[str]
    votes: list[dict[str, Any]] = field(default_factory=list)
    probs: dict[str, float] = field(default_factory=dict)
    doubt: float | None = None
    suggested: list[str] = field(default_factory=list)
    signals: dict[str, Any] = field(default_factory=dict)

    @property
    def text_hash(self) -> str:
        return text_hash(self.text)

    def to_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "text": self.text,
            "current": self.current,
            "votes": self.votes,
            "probs": self.probs,
            "doubt": self.doubt,
            "suggested": self.suggested,
            "signals": self.signals,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Item:
        return cls(
            row=int(data["row"]),
            text=str(data["text"]),
            current=[str(v) for v in data.get("current") or []],
            votes=list(data.get("votes") or []),
            probs={str(k): float(v) for k, v in (data.get("probs") or {}).items()},
            doubt=None if data.get("doubt") is None else float(data["doubt"]),
            suggested=[str(v) for v in data.get("suggested") or []],
            signals=dict(data.get("signals") or {}),
        )


@dataclass(frozen=True)
class ReviewConfig:
    """The task as the app needs it: label names in order, their definitions, single or multi-label."""

    labels: list[str]
    multi_label: bool = False
    descriptions: dict[str, str] = field(default_factory=dict)
    title: str = "Review the teacher's labels"
    dataset_repo: str | None = None
    every: float = 1.0  # minutes between the Space's commits of decisions to the dataset repo

    def __post_init__(self) -> None:
        # a multi-label task of one label (a flag) is reviewed on or off; a single-label one needs a choice
        if len(self.labels) < (1 if self.multi_label else 2) or len(set(self.labels)) != len(self.labels):
            needs = "one or more distinct labels" if self.multi_label else "two or more distinct labels"
            raise ValueError(f"a review needs {needs}, got {self.labels!r}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "labels": self.labels,
            "multi_label": self.multi_label,
            "descriptions": self.descriptions,
            "title": self.title,
            "dataset_repo": self.dataset_repo,
            "every": self.every,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReviewConfig:
        keys = ("labels", "multi_label", "descriptions", "title", "dataset_repo", "every")
        return cls(**{k: data[k] for k in keys if k in data})


def write_items(items: Iterable[Item], path: Path) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for item in items:
            fh.write(json.dumps(item.to_dict(), ensure_ascii=False) + "\n")
    return path


def read_items(path: Path) -> list[Item]:
    with path.open(encoding="utf-8") as fh:
        return [Item.from_dict(json.loads(line)) for line in fh if line.strip()]


# ==============================================================================================================
# the decisions file: append-only, replayed on start
# ==============================================================================================================
def read_events(paths: Iterable[Path], *, skipped: list[str] | None = None) -> list[dict[str, Any]]:
    """Every decision line of ``paths`` (files), each once (by id), in time order.

    A line that is not JSON (the tail of a write cut short when the machine died) is skipped with a warning; given
    ``skipped``, the warnings are listed there instead, for the caller to give (``apply-review`` gives one error line
    instead when no line is usable).
    """

    def skip(number: int, path: Path, what: str, *args: Any) -> None:
        if skipped is None:
            logger.warning(what, number, path, *args)
        else:
            skipped.append(what % (number, path, *args))

    events: dict[str, dict[str, Any]] = {}
    for path in paths:
        if not path.is_file():
            continue
        with path.open(encoding=_encoding(path), errors="replace") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    skip(number, path, "skipping a broken line %d of %s (a write cut short?)")
                    continue
                if isinstance(event, dict) and event.get("action") in ACTIONS and event.get("id"):
                    problem = unusable_decision(event)
                    if problem:  # an edited or foreign line: replaying it failed every click with a KeyError
                        skip(number, path, "skipping line %d of %s: %s", problem)
                        continue
                    events.setdefault(str(event["id"]), event)
    return sorted(events.values(), key=lambda e: str(e.get("time", "")))  # stable: a file's own order on ties


def _encoding(path: Path) -> str:
    """How to read the decisions file ``path``: as UTF-16 where it starts with its byte order mark (PowerShell 5's
    ``>`` writes so: ``type a.jsonl b.jsonl > all.jsonl``, and every line was unreadable, "is it another file?"),
    else as UTF-8 past a byte order mark (a file re-saved on Windows: its line 1 was "a broken line")."""
    with path.open("rb") as fh:
        head = fh.read(2)
    return "utf-16" if head in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"


def unusable_decision(event: Mapping[str, Any]) -> str | None:
    """What a decision line lacks for :func:`replay` (``None``: nothing)."""
    if not isinstance(event.get("reviewer"), str) or not event["reviewer"].strip():
        return "it names no reviewer"
    row = event.get("row")
    if not isinstance(row, int) or isinstance(row, bool) or row < 0:
        return f"its row {row!r} is not a row number"
    if event["action"] == "undo" and not event.get("undoes"):
        return "the undo names no line it undoes"
    labels = event.get("labels")
    if event["action"] in ("label", "keep") and not (
        isinstance(labels, list) and all(isinstance(v, str) for v in labels)
    ):
        return f"its labels {labels!r} are not a list of label names"
    if event["action"] in ("label", "keep") and not (isinstance(event.get("text_hash"), str) and event["text_hash"]):
        # without it the line was placed on no row, and refused as "made on other texts than this file holds"
        return "it has no 'text_hash' (sxhub.review_log.text_hash of its text)"
    return None


# keys only a decision line has (another file's rows, a labelled table's or a queue's, have none of them)
_DECISION_KEYS = ("action", "reviewer", "undoes")
_DECISION_KEY_WRITTEN = re.compile(r"""["']?\b(?:action|reviewer|undoes)\b["']?\s*:""")


def broken_decisions(paths: Iterable[Path]) -> list[tuple[Path, int, str]]:
    """The lines of ``paths`` that :func:`read_events` skips but that were meant as decision lines (edited by hand
    into a broken form), each as ``(path, line number, why)``: "not JSON", "no 'action'", "it names no reviewer".
    A line of another file (a table's row, a CSV line) is not one: it names none of a decision's own keys."""
    found = []
    for path in paths:
        if not path.is_file():
            continue
        with path.open(encoding=_encoding(path), errors="replace") as fh:
            for number, line in enumerate(fh, 1):
                why = _broken_decision(line.strip())
                if why:
                    found.append((path, number, why))
    return found


def _broken_decision(line: str) -> str | None:
    """Why :func:`read_events` skips ``line`` when it was meant as a decision line (``None``: it is usable, blank,
    or no decision line at all), judged in the order read_events judges it."""
    if not line:
        return None
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return "not JSON" if line.startswith("{") and _DECISION_KEY_WRITTEN.search(line) else None
    if not isinstance(event, dict) or not any(key in event for key in _DECISION_KEYS):
        return None
    if "action" not in event:
        return "no 'action'"
    if event["action"] not in ACTIONS:
        return f"its action {event['action']!r} is not one of {', '.join(ACTIONS)}"
    if not event.get("id"):
        return "no 'id'"
    return unusable_decision(event)


@dataclass
class ReviewerState:
    """What one reviewer has done: their live actions (undone ones removed), decisions and skips by row."""

    actions: list[dict[str, Any]] = field(default_factory=list)
    decided: dict[int, dict[str, Any]] = field(default_factory=dict)  # row -> the latest label/keep line
    skipped: set[int] = field(default_factory=set)
    elsewhere: list[dict[str, Any]] = field(default_factory=list)  # label/keep lines whose text is on no row here


Placer = Callable[[Mapping[str, Any]], int | None]


def placer(texts: Mapping[int, str]) -> Placer:
    """Where a decision line goes in the file at hand (``texts``: row -> its text): its own row when that row holds
    its text (any of :func:`text_hashes`), else the one row that does (the file was sorted since); ``None`` when no
    row, or several other rows, hold it: which text was meant is never guessed."""
    hashes = {row: text_hashes(text) for row, text in texts.items()}
    holders: dict[str, list[int]] = {}
    for row, digests in hashes.items():
        for digest in digests:
            holders.setdefault(digest, []).append(row)

    def where(event: Mapping[str, Any]) -> int | None:
        row, digest = int(event["row"]), str(event.get("text_hash"))
        if digest in hashes.get(row, ()):
            return row
        rows = holders.get(digest, [])
        if not rows and row in texts and digest in mixed_hashes(texts[row]):
            return row  # an older line on a text of mixed spellings, re-saved in one form: on its own row only
        return rows[0] if len(rows) == 1 else None

    return where


def replay(events: Iterable[Mapping[str, Any]], where: Placer | None = None) -> dict[str, ReviewerState]:
    """Each reviewer's state from the log: undo cancels the line it names; the latest decision on a text wins.

    ``where`` (see :func:`placer`) puts each line on the row of the file at hand that holds its text; without it,
    on the row it names. A decision is keyed by its text, never by a row number alone: in a file sorted after
    review, a new decision on row 1 (another text now) replaced the decision made on the text row 1 held before.
    """
    live: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        actions = live.setdefault(str(event["reviewer"]), [])
        if event["action"] == "undo":
            actions[:] = [a for a in actions if a["id"] != event.get("undoes")]
        else:
            actions.append(dict(event))
    states = {}
    for reviewer, actions in live.items():
        state = ReviewerState(actions=actions)
        for action in actions:
            row = int(action["row"]) if where is None else where(action)
            if row is None:
                if action["action"] in ("label", "keep"):
                    state.elsewhere.append(action)
                continue
            if action["action"] in ("label", "keep"):
                state.decided[row] = action
                state.skipped.discard(row)
            elif row not in state.decided:
                state.skipped.add(row)
        states[reviewer] = state
    return states


def final_decisions(
    events: Iterable[Mapping[str, Any]], where: Placer | None = None
) -> dict[str, dict[int, dict[str, Any]]]:
    """reviewer -> row -> that reviewer's final decision line (``labels``, ``text_hash``, ``previous``, ...); rows
    as :func:`replay` places them."""
    return {who: state.decided for who, state in replay(events, where).items() if state.decided}


class DecisionLog:
    """An append-only JSONL decisions file (``path``), plus earlier files that are only read (``read_paths``).

    Each append is written, flushed and fsynced before it returns. ``lock`` serialises writes (a Space passes its
    ``CommitScheduler``'s lock so that no upload reads half a line). The file is re-read when another process
    appended to it, so two local apps on one file see each other's decisions.
    """

    def __init__(self, path: Path, *, read_paths: Sequence[Path] = (), lock: Any = None) -> None:
        self.path = Path(path)
        self.read_paths = [Path(p) for p in read_paths if Path(p) != self.path]
        self.lock = lock or threading.Lock()
        self._earlier = read_events(self.read_paths)
        self._own: list[dict[str, Any]] = []
        self._size = -1

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            size = self.path.stat().st_size if self.path.is_file() else 0
            if size != self._size:
                self._own = read_events([self.path])
                self._size = size
            if not self._earlier:
                return list(self._own)
            return read_events_merged(self._earlier, self._own)

    def append(self, event: Mapping[str, Any]) -> dict[str, Any]:
        line = {"id": uuid.uuid4().hex, "time": _now(), **event}
        if line["action"] not in ACTIONS:
            raise ValueError(f"unknown action {line['action']!r}; expected one of {ACTIONS}")
        data = (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8")
        with self.lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                if _ends_without_newline(self.path):
                    data = b"\n" + data  # a write cut short earlier: start a fresh line
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
        return line


def read_events_merged(*groups: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for group in groups:
        for event in group:
            seen.setdefault(str(event["id"]), event)
    return sorted(seen.values(), key=lambda e: str(e.get("time", "")))


def _ends_without_newline(path: Path) -> bool:
    size = path.stat().st_size
    if size == 0:
        return False
    with path.open("rb") as fh:
        fh.seek(size - 1)
        return fh.read(1) != b"\n"


# ==============================================================================================================
# agreement: between reviewers, and with the teacher
# ==============================================================================================================
def set_alpha(answers: Sequence[Sequence[Any]]) -> float | None:
    """Krippendorff's alpha of ``answers[coder][unit]`` (a collection of label names, or ``None`` when missing).

    Answers are label sets, two of which differ by their Jaccard distance (for one-label sets: nominal alpha). The
    same figure as ``sxhub.metrics.set_alpha_with_note`` (a test holds them equal); this copy keeps the app free of
    sxhub. ``None`` when alpha is undefined (one value only, or no text rated twice).
    """
    import krippendorff
    import numpy as np

    sets = sorted({frozenset(a) for row in answers for a in row if a is not None}, key=sorted)
    if len(answers) < 2 or not sets:
        return None
    code = {s: i for i, s in enumerate(sets)}
    data = np.array([[np.nan if a is None else code[frozenset(a)] for a in row] for row in answers], dtype=float)
    names = sorted({name for s in sets for name in s})
    hot = np.array([[name in s for name in names] for s in sets], dtype=float).reshape(len(sets), len(names))
    inter = hot @ hot.T
    union = hot.sum(axis=1)[:, None] + hot.sum(axis=1)[None, :] - inter
    distance = 1.0 - np.divide(inter, union, out=np.ones_like(inter), where=union > 0)

    def jaccard(v1: Any, v2: Any, i1: Any, i2: Any, n_v: Any, dtype: Any = np.float64) -> Any:
        return distance[v1.astype(int), v2.astype(int)].astype(dtype)

    try:
        value = float(krippendorff.alpha(reliability_data=data, level_of_measurement=jaccard))
    except ValueError:  # one value only, or no unit rated by two coders
        return None
    return None if math.isnan(value) else value


def agreement(
    events: Iterable[Mapping[str, Any]], teacher: Mapping[int, Sequence[str]], where: Placer | None = None
) -> dict[str, Any]:
    """Reviewers against each other (alpha over the texts two or more decided) and each against the teacher.

    ``teacher``: row -> the teacher's label(s). Per reviewer: texts decided, how many kept the teacher's label, and
    alpha with the teacher on those texts. ``where``: as for :func:`replay`.
    """
    finals = final_decisions(events, where)
    reviewers = sorted(finals)
    rows = sorted({row for decided in finals.values() for row in decided})
    shared = [row for row in rows if sum(row in finals[who] for who in reviewers) >= 2]
    between = set_alpha([[_answer(finals[who].get(row)) for row in shared] for who in reviewers]) if shared else None
    per_reviewer = []
    for who in reviewers:
        mine = [row for row in finals[who] if row in teacher]
        answers = [_answer(finals[who][row]) for row in mine]
        same = sum(set(a or ()) == set(teacher[row]) for a, row in zip(answers, mine, strict=True))
        per_reviewer.append(
            {
                "reviewer": who,
                "decided": len(finals[who]),
                "same_as_teacher": same,
                "alpha_with_teacher": set_alpha([answers, [list(teacher[row]) for row in mine]]) if mine else None,
            }
        )
    return {"reviewers": reviewers, "n_shared": len(shared), "alpha_between": between, "per_reviewer": per_reviewer}


def _answer(decision: Mapping[str, Any] | None) -> list[str] | None:
    return None if decision is None else [str(v) for v in decision.get("labels") or []]


# ==============================================================================================================
# the rules: what a reviewer sees next and what each action records
# ==============================================================================================================
class Review:
    """The queue and the log. Positions are indexes into ``items`` (queue order); ``len(items)`` means done."""

    def __init__(self, items: Sequence[Item], config: ReviewConfig, log: DecisionLog) -> None:
        if not items:
            raise ValueError("nothing to review: the queue has no labelled text")
        self.items = list(items)
        self.config = config
        self.log = log
        self._pos_of_row = {item.row: i for i, item in enumerate(self.items)}
        self._where = placer({item.row: item.text for item in self.items})

    # -- reading ------------------------------------------------------------------------------------------------
    def state(self, reviewer: str) -> ReviewerState:
        return replay(self.log.events(), self._where).get(reviewer, ReviewerState())

    def next_open(self, reviewer: str, after: int = -1) -> int:
        """The first text after ``after`` this reviewer has neither decided nor skipped (wrapping round to the
        start); with none left, the first skipped one; with none at all, ``len(items)`` (done)."""
        state = self.state(reviewer)
        order = list(range(after + 1, len(self.items))) + list(range(0, after + 1))
        for pos in order:
            row = self.items[pos].row
            if row not in state.decided and row not in state.skipped:
                return pos
        for pos in order:
            if self.items[pos].row not in state.decided:
                return pos
        return len(self.items)

    def resume(self, reviewer: str) -> int:
        return self.next_open(reviewer)

    def progress(self, reviewer: str) -> dict[str, int]:
        state = self.state(reviewer)
        rows = set(self._pos_of_row)
        decided = len(rows & set(state.decided))
        changed = sum(
            set(d.get("labels") or []) != set(self.items[self._pos_of_row[row]].current)
            for row, d in state.decided.items()
            if row in rows
        )
        skipped = len(rows & (state.skipped - set(state.decided)))
        return {"total": len(rows), "decided": decided, "changed": changed, "skipped": skipped}

    def agreement(self) -> dict[str, Any]:
        return agreement(self.log.events(), {item.row: item.current for item in self.items}, self._where)

    # -- acting -------------------------------------------------------------------------------------------------
    def decide(self, pos: int, reviewer: str, labels: Sequence[str]) -> int:
        """Record ``labels`` as the right label(s) of the text at ``pos``; returns the next position."""
        reviewer, item = _check_reviewer(reviewer), self._item(pos)
        labels = self._check_labels(labels)
        action = "keep" if set(labels) == set(item.current) else "label"
        self._record(action, item, reviewer, labels=labels)
        return self.next_open(reviewer, pos)

    def keep(self, pos: int, reviewer: str) -> int:
        reviewer, item = _check_reviewer(reviewer), self._item(pos)
        if not item.current and not self.config.multi_label:
            raise ValueError("this text has no current label to keep; pick one")
        self._record("keep", item, reviewer, labels=list(item.current))
        return self.next_open(reviewer, pos)

    def skip(self, pos: int, reviewer: str) -> int:
        reviewer, item = _check_reviewer(reviewer), self._item(pos)
        self._record("skip", item, reviewer)
        return self.next_open(reviewer, pos)

    def back(self, pos: int) -> int:
        return max(0, min(pos, len(self.items)) - 1)

    def undo(self, reviewer: str) -> int | None:
        """Cancel the reviewer's latest action; returns the position of its text (``None``: nothing to undo)."""
        reviewer = _check_reviewer(reviewer)
        actions = self.state(reviewer).actions
        if not actions:
            return None
        last = actions[-1]
        self.log.append({"reviewer": reviewer, "action": "undo", "undoes": last["id"], "row": last["row"]})
        row = self._where(last)
        return 0 if row is None else self._pos_of_row.get(row, 0)

    def _item(self, pos: int) -> Item:
        if not 0 <= pos < len(self.items):
            raise ValueError("every text has been reviewed; go back to change a decision")
        return self.items[pos]

    def _check_labels(self, labels: Sequence[str]) -> list[str]:
        labels = [str(v) for v in labels]
        unknown = [v for v in labels if v not in self.config.labels]
        if unknown:
            raise ValueError(f"unknown label(s) {unknown}; the labels are {self.config.labels}")
        if not self.config.multi_label and len(labels) != 1:
            raise ValueError(f"a single-label task needs exactly one label, got {labels}")
        return [name for name in self.config.labels if name in labels]  # the task's order

    def _record(self, action: str, item: Item, reviewer: str, *, labels: list[str] | None = None) -> None:
        event: dict[str, Any] = {
            "reviewer": _check_reviewer(reviewer),
            "action": action,
            "row": item.row,
            "text_hash": item.text_hash,
        }
        if labels is not None:
            event.update(labels=labels, previous=list(item.current))
        self.log.append(event)


def _check_reviewer(reviewer: str) -> str:
    name = (reviewer or "").strip()
    if not name:
        raise ValueError("type your name in the Reviewer box first: every decision is saved with its reviewer")
    return name
