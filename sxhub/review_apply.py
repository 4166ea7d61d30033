"""Corrections back into the dataset (``sxhub apply-review``): the reviewers' decisions set the human labels; the
cards and the expert read what changed (:func:`review_facts`, :func:`pre_review_labels`). :mod:`sxhub.review`
gathers the texts to review and serves the app."""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import InputError
from .labelled import expert_label_cell, failed_flags, flagged_twins, flagged_twins_line, parse_label_cell
from .repo import names_a_repo
from .review import REVIEWERS_COLUMN, SOURCE_COLUMN, _plain, _read_labelled
from .review_log import (
    ACTIONS,
    DECISIONS_IN_REPO,
    broken_decisions,
    placer,
    read_events,
    replay,
    unusable_decision,
)
from .spec import TaskSpec, load_spec

logger = logging.getLogger(__name__)


@dataclass
class AppliedReview:
    """The corrected table and what changed: texts people labelled, labels they changed, ties left to the teacher."""

    frame: pd.DataFrame
    reviewers: list[str]
    n_decisions: int  # final decisions (one per reviewer and text)
    n_reviewed: int  # texts whose label now comes from people
    n_changed: int  # of those, texts whose label differs from the teacher's
    ties: list[int]  # rows where reviewers tied: the teacher's label kept
    n_unlabelled: int = 0  # texts with no label at all (every vote failed, and no person labelled it)
    # rows of a sxhub twins file whose twin failed a check or was not written/labelled (ok false): their decisions
    # are not applied, as train, evaluate and tune leave such rows out (sxhub.labelled.flagged_twins)
    twins_left_out: list[int] = field(default_factory=list)
    # the labelled file read (None for a DataFrame): its ledger is carried beside a CSV written by write()
    source: str | None = field(default=None, repr=False)

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write :attr:`frame` to ``path`` (by its extension) as ``sxhub apply-review -o`` does: it gets its
        ``<stem>.ledger.json`` beside it, a CSV/TSV's naming its list and dict columns (``json_columns``), with the labelled
        file's ledger carried (:func:`sxhub.tables.carry_ledger`), so that ``publish dataset`` reads a kept column
        of lists back as lists; a ``<stem>.ledger.json`` of another output of the same stem is refused in one line
        (:class:`InputError`) before anything is written. ``write_table(result.frame, "reviewed.csv")`` wrote no
        ledger, and that column was published as JSON text."""
        from .tables import carry_ledger, refuse_others_ledger, write_table

        refuse_others_ledger(path, tail="-reviewed")
        out = write_table(self.frame, path)
        carry_ledger(self.source, out, self.frame)
        return out

    def summary(self) -> dict[str, Any]:
        return {
            "rows": len(self.frame),
            "reviewers": self.reviewers,
            "decisions": self.n_decisions,
            "reviewed": self.n_reviewed,
            "changed": self.n_changed,
            # the rows, told apart: reviewed + by_teachers + unlabelled == rows
            "by_teachers": len(self.frame) - self.n_reviewed - self.n_unlabelled,
            "unlabelled": self.n_unlabelled,
            "ties": self.ties,
            "twins_left_out": self.twins_left_out,
        }


DECISIONS_FIX = (
    "pass the decisions file `sxhub review` wrote (<LABELLED stem>.decisions.jsonl), a folder of them, or a dataset "
    "repo id (owner/name)."
)


def read_decisions(source: str | os.PathLike[str], *, token: str | None = None) -> list[dict[str, Any]]:
    """Decision lines from a JSONL file, a folder of them, or the dataset repo a review Space writes to."""
    path = Path(source).expanduser()
    if path.is_file():
        paths = [path]
    elif path.is_dir():
        paths = sorted(path.rglob("*.jsonl"))
    elif names_a_repo(str(source)):
        paths = _hub_decisions(str(source), DECISIONS_IN_REPO, token=token)
    else:
        raise InputError(f"decisions file {str(source)!r} does not exist; {DECISIONS_FIX}")
    skipped: list[str] = []
    events = read_events(paths, skipped=skipped)
    if events:
        for warning in skipped:
            logger.warning("%s", warning)
    else:
        # a file with lines but no decision among them is another file (the labelled table, a CSV of corrections,
        # a parquet): "review some texts first" sent the user to review texts they had reviewed
        if path.is_dir() and not paths:
            raise InputError(f"folder {str(source)!r} holds no .jsonl decisions file; {DECISIONS_FIX}")
        broken = broken_decisions(paths)
        if broken:
            # decision lines edited by hand into a broken form: warnings are hidden under -q, and "is it another
            # file?" was no help: the one error line names the first and why, and counts the rest; a warning names
            # each of the rest (one on the first too repeated the error line's reason). Another file (no line meant
            # as a decision) gets no warning: "a write cut short?" on each line contradicted "is it another file?"
            for other, line, reason in broken[1:]:
                logger.warning("skipping line %d of %s: %s", line, other, reason)
            where, number, why = broken[0]
            at = f"line {number}" if path.is_file() else f"line {number} of {where}"
            more = f" (and {len(broken) - 1} more such line(s))" if len(broken) > 1 else ""
            raise InputError(
                f"{str(source)!r} holds no usable decision line of `sxhub review`: {at}: {why}{more}; mend "
                f"{'those lines' if more else 'that line'} to the form `sxhub review` writes (one JSON object a line), or {DECISIONS_FIX}"
            )
        if any(_has_text(p) for p in paths):
            raise InputError(
                f"{str(source)!r} holds no decision line of `sxhub review` (is it another file?); {DECISIONS_FIX}"
            )
        raise InputError(f"no decisions in {str(source)!r}; review some texts first (`sxhub review LABELLED`).")
    return events


def decisions_given(decisions: Any) -> list[dict[str, Any]]:
    """``apply_review``'s ``decisions=`` given as decision lines in memory, each checked as :func:`read_decisions`
    checks a file's: a mapping such as ``{"row": 0, "label": "negative"}`` (no reviewer, id nor action) ended in
    ``KeyError: 'reviewer'`` from deep inside the replay, and one mapping in a ``TypeError``."""
    form = "mappings as `sxhub review` writes them (id, time, reviewer, action, row, text_hash, labels)"
    if isinstance(decisions, Mapping) or not isinstance(decisions, Sequence):
        raise InputError(
            f"decisions= takes a list of decision {form}, or the path of a decisions file, not a "
            f"{type(decisions).__name__}."
        )
    events = []
    for i, event in enumerate(decisions):
        if not isinstance(event, Mapping):
            why: str | None = f"it is a {type(event).__name__}, not a mapping"
        elif event.get("action") not in ACTIONS:
            why = f"its action {event.get('action')!r} is not one of {', '.join(ACTIONS)}"
        elif not event.get("id"):
            why = "it has no 'id'"
        else:
            why = unusable_decision(event)
        if why:
            raise InputError(f"decisions[{i}] is not a decision line: {why}; pass decision {form}.")
        events.append(dict(event))
    return sorted(events, key=lambda e: str(e.get("time", "")))  # in time order, as read_decisions gives them


def _has_text(path: Path) -> bool:
    """Whether ``path`` holds anything but blank lines (a file of no decisions yet is empty)."""
    with path.open("rb") as fh:
        return any(line.strip() for line in fh)


def _hub_decisions(repo_id: str, folder: str, *, token: str | None) -> list[Path]:
    import httpx2
    from huggingface_hub import snapshot_download
    from huggingface_hub.constants import is_offline_mode
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    local_fix = "pass the decisions file `sxhub review` wrote or a folder of them"
    try:
        local = snapshot_download(repo_id, repo_type="dataset", allow_patterns=[f"{folder}/*.jsonl"], token=token)
    except RepositoryNotFoundError as exc:  # also a private or gated repo the token cannot read
        raise InputError(
            f"dataset repo {repo_id!r} not found on the Hub, or the token cannot read it; check the id and the token "
            f"(--token or HF_TOKEN), or {local_fix}."
        ) from exc
    except (HfHubHTTPError, httpx2.TransportError, OSError) as exc:  # OSError: LocalEntryNotFoundError, no network
        if is_offline_mode():
            raise InputError(
                f"dataset repo {repo_id!r} could not be reached: HF_HUB_OFFLINE is set and its decisions are not in "
                f"the local cache; unset HF_HUB_OFFLINE, or {local_fix}."
            ) from exc
        cause = exc.__cause__ or exc  # the LocalEntryNotFoundError for no network is raised from a ConnectError
        raise InputError(
            f"dataset repo {repo_id!r} could not be read from the Hub ({type(cause).__name__}); check the id, the "
            f"network (HF_ENDPOINT) and the token (--token or HF_TOKEN), or {local_fix}."
        ) from exc
    return sorted((Path(local) / folder).glob("*.jsonl"))


def apply_review(
    labelled: str | os.PathLike[str] | pd.DataFrame,
    decisions: str | os.PathLike[str] | Sequence[Mapping[str, Any]],
    *,
    spec: TaskSpec | str | os.PathLike[str] | None = None,
    token: str | None = None,
    text_column: str | None = None,
) -> AppliedReview:
    """The labelled table with the reviewers' labels applied (nothing is written: :meth:`AppliedReview.write` writes
    it as ``sxhub apply-review -o`` does, a CSV's ledger too).

    Per text, each reviewer's latest decision counts once; the answer most reviewers gave wins, and a tie keeps the
    teacher's label (the row is listed in ``ties``). The teacher's label is kept in ``teacher_label`` (or
    ``teacher_labels``) and is the base on every run, so the whole decisions file can be applied again. A row
    that an earlier ``apply_review`` gave a human label and that these decisions do not decide (nor undo) keeps it:
    a second round of review on the reviewed file, with its own decisions file, adds to the first.

    A decision on a twin of a ``sxhub twins`` file with ``ok`` false (a check failed, or the twin was not written or
    not labelled: a failed row) is not applied: train, evaluate and tune leave such a row out whatever its label, so
    it is not counted as labelled by people; its row keeps what twins wrote (``failed`` and ``error`` too), is listed
    in ``twins_left_out`` and one warning says how many.
    """
    task = load_spec(spec) if spec is not None else None
    data = _read_labelled(labelled, task, text_column)
    frame = data.frame
    events = (
        read_decisions(decisions, token=token)
        if isinstance(decisions, (str, os.PathLike))
        else decisions_given(decisions)
    )
    teacher_col = f"teacher_{data.column}"
    if teacher_col in frame.columns:
        # an empty cell is a text the teachers gave no label (every vote failed), as pre_review_labels reads it; as
        # "none of the labels" a second run on this output gave a failed multi-label text the label []
        teacher = [expert_label_cell(_plain(v), multi_label=data.multi_label) for v in frame[teacher_col]]
    else:
        teacher = [None if labs is None else (labs if data.multi_label else labs[0]) for labs in data.labels]
    # a decision's labels must be ones this file can hold: never the first of two, nor one nobody gave
    if task:
        known, where = set(task.label_names), f"the task's labels {task.label_names}; fix the decisions or --task"
    else:
        known = {n for labs in data.labels if labs for n in labs}
        known |= {n for votes in data.votes for v in votes for n in (v["labels"] or [])}
        known |= {str(n) for t in teacher if t is not None for n in (t if isinstance(t, list) else [t])}
        where = f"this file's labels {sorted(known)}; if they are the task's, pass --task TASK.yaml"
    # a decision goes to its row when that row holds its text, else to the one row that does (the file was sorted
    # after review); a text on no row, or on several and not the one decided, is not guessed
    here = placer(dict(enumerate(data.texts)))
    states = replay(events, here)  # each decision on the row of its text: the app places them the same way
    finals = {who: state.decided for who, state in states.items() if state.decided}
    by_row: dict[int, dict[str, tuple[str, ...]]] = {}
    wrong_text = [int(event["row"]) for state in states.values() for event in state.elsewhere]
    # a twin that failed a check, or a failed one (ok false either way): every verb that reads labels leaves it out,
    # so a decision on it labels nothing; it had been counted "labelled by people" and its failed flag cleared
    twin_out = flagged_twins(frame, with_failed=True).to_numpy()
    skipped: set[int] = set()
    for who, decided in finals.items():
        for row, event in decided.items():
            if twin_out[row]:
                skipped.add(row)
                continue
            labels = tuple(sorted(str(v) for v in event.get("labels") or []))
            if not data.multi_label and len(labels) != 1:
                raise InputError(
                    f"{who}'s decision on row {row} has labels {list(labels)}: a single-label file needs one label per "
                    "decision; apply multi-label decisions to the multi-label file they were made on."
                )
            if not set(labels) <= known:
                raise InputError(
                    f"{who}'s decision on row {row} has labels {list(labels)}: {sorted(set(labels) - known)} are not "
                    f"among {where}."
                )
            by_row.setdefault(row, {})[who] = labels
    if wrong_text:
        # a line an older sxhub wrote on a text that mixed NFC and NFD characters (its raw bytes' hash) is matched on
        # its own row only (review_log.placer): searching every row for it took 74 s on 1M French-like rows (24
        # spellings a row, up to 4,096), so in a file sorted since the review it is refused, and the line says how
        sorted_since = any(
            here(e) not in (None, int(e["row"])) for e in events if e.get("action") in ("label", "keep")
        )
        raise InputError(
            f"{len(wrong_text)} decision(s) (rows {sorted(set(wrong_text))[:8]}) were made on other texts than this "
            "file holds at those rows (nor on exactly one other row); apply the decisions to the labelled file they "
            "were made on"
            + (
                ", in the row order it was reviewed in (this file was sorted since: a decision an older sxhub wrote "
                "on a text mixing NFC and NFD characters is found on its own row only), then sort apply-review's "
                "output."
                if sorted_since
                else "."
            )
        )
    order = task.label_names if task else None
    labels_out: list[Any] = list(teacher)
    source = ["teacher"] * len(frame)
    reviewers: list[list[str]] = [[] for _ in range(len(frame))]
    # a file that was reviewed before (sxhub review on apply-review's output writes a new decisions file): a row
    # these decisions do not decide, nor undo, keeps the label people gave it and its reviewers
    decides = {here(e) for e in events if e.get("action") in ("label", "keep")}
    if SOURCE_COLUMN in frame.columns:
        before = [_plain(v) for v in frame[REVIEWERS_COLUMN]] if REVIEWERS_COLUMN in frame.columns else None
        for row, was in enumerate(frame[SOURCE_COLUMN].astype(str)):
            if row in decides or twin_out[row]:
                continue
            now = data.labels[row]
            if was == "human" and now is not None:
                labels_out[row], source[row] = (now if data.multi_label else now[0]), "human"
            if before is not None and isinstance(before[row], list):
                reviewers[row] = [str(v) for v in before[row]]
    ties = []
    for row, answers in sorted(by_row.items()):
        reviewers[row] = sorted(answers)
        counts = Counter(answers.values()).most_common()
        if len(counts) > 1 and counts[0][1] == counts[1][1]:
            ties.append(row)
            continue
        answer = list(counts[0][0])
        if order:
            answer = [n for n in order if n in answer]
        labels_out[row], source[row] = (answer if data.multi_label else answer[0]), "human"
    out = frame.copy()
    if teacher_col not in out.columns:
        out.insert(list(out.columns).index(data.column) + 1, teacher_col, pd.Series(teacher, dtype=object))
    out[data.column] = pd.Series(labels_out, dtype=object)
    if "agreement" in out.columns:
        out["agreement"] = _shares(out["agreement"])
    out[SOURCE_COLUMN] = source
    out[REVIEWERS_COLUMN] = pd.Series(reviewers, dtype=object)
    humans = [r for r, s in enumerate(source) if s == "human"]
    if data.multi_label:
        changed = sum(set(teacher[r] or []) != set(labels_out[r]) for r in humans)
    else:
        changed = sum(teacher[r] != labels_out[r] for r in humans)
    if humans:  # a text people labelled has a label now
        if "failed" in out.columns:
            # as booleans: a CSV's column is text ("False"), and a bool beside it is a column pyarrow cannot write
            flags = failed_flags(out["failed"]).to_numpy(copy=True)
            flags[humans] = False
            out["failed"] = flags
        if "error" in out.columns:
            out["error"] = out["error"].astype(object)
            out.loc[humans, "error"] = ""
    if skipped:
        logger.warning(
            "%s",
            flagged_twins_line(
                "apply-review", len(skipped), f": their decisions are not applied (rows {sorted(skipped)[:20]})"
            ),
        )
    return AppliedReview(
        frame=out.rename(columns=data.renamed),  # the texts under the file's own column name, as read
        reviewers=sorted(finals),
        n_decisions=sum(len(a) for a in by_row.values()),
        n_reviewed=len(humans),
        n_changed=changed,
        ties=ties,
        n_unlabelled=sum(label is None for label in labels_out),
        twins_left_out=sorted(skipped),
        source=None if isinstance(labelled, pd.DataFrame) else str(labelled),
    )


def _shares(cells: pd.Series) -> pd.Series:
    """A single-label ``agreement`` column read from a CSV (text: ``'0.6666666666666666'``, ``''`` for a failed row)
    as the numbers annotate wrote (NaN where empty): ``apply-review labelled.csv ... -o OUT.parquet`` wrote it as
    strings, where the Parquet annotate writes, and apply-review's from it, hold numbers. Any other column (numbers
    already, multi-label objects, a cell that is not a number) is returned as it is."""
    if not len(cells) or not all(isinstance(v, str) for v in cells):
        return cells
    empty = cells.str.strip() == ""
    numbers = pd.to_numeric(cells.where(~empty), errors="coerce")
    return cells if bool((numbers.isna() & ~empty).any()) else numbers


def pre_review_labels(frame: pd.DataFrame, spec: TaskSpec) -> list[Any] | None:
    """The teachers' own labels of reviewed data (``teacher_label`` / ``teacher_labels``, kept by ``apply-review``),
    what scores the teachers once people changed the label column; None per text the teachers gave no label (every
    vote failed, then a person labelled it). None for data that was not reviewed (no such column)."""
    column = f"teacher_{spec.label_column}"
    if column not in frame.columns:
        return None
    return [expert_label_cell(value, multi_label=spec.multi_label) for value in frame[column]]


def review_facts(frame: pd.DataFrame, spec: TaskSpec) -> dict[str, Any] | None:
    """What a card says about human review: texts people labelled and changed, ties, reviewers; ``None`` without."""
    if SOURCE_COLUMN not in frame.columns:
        return None
    teacher_col = f"teacher_{spec.label_column}"
    human = [str(s) == "human" for s in frame[SOURCE_COLUMN]]
    names = [_plain(v) or [] for v in frame[REVIEWERS_COLUMN]] if REVIEWERS_COLUMN in frame.columns else []
    changed = 0
    if teacher_col in frame.columns:
        for is_human, now, before in zip(human, frame[spec.label_column], frame[teacher_col], strict=True):
            then = parse_label_cell(_plain(before), multi_label=spec.multi_label)
            if spec.multi_label:  # a Parquet file's list cells come back as arrays
                changed += is_human and set(_plain(now) or []) != set(then or [])
            else:
                changed += is_human and now != then
    return {
        "n": len(frame),
        "n_reviewed": sum(human),
        "n_changed": changed,
        "n_ties": sum(bool(n) and not h for n, h in zip(names, human, strict=False)),
        "reviewers": sorted({str(n) for row in names for n in (row if isinstance(row, list) else [row])}),
        "teacher_column": teacher_col,
    }
