"""Human review: people check the teacher's labels (``sxhub review``), and their corrections flow back into the
dataset (``sxhub apply-review``), its card and the expert trained on it.

* :func:`load_review` turns a labelled file (and the queue ``sxhub doubts`` wrote, if any) into the texts to review,
  in queue order; without a queue, the texts whose votes split most come first (file order without votes).
* :func:`launch_review` serves the review app (:mod:`sxhub.review_app`) on this machine; decisions go to an
  append-only JSONL beside the labelled file (:mod:`sxhub.review_log`).
* :func:`apply_review` sets the human labels: per text, the reviewers' majority decides; a tie keeps the teacher's
  label and is listed. It writes ``label_source`` (``teacher`` / ``human``), ``reviewers`` and the teacher's own
  label (``teacher_label`` / ``teacher_labels``), so applying the same, longer decisions file again is safe.
* :func:`publish_review` publishes the app as a Space that keeps decisions in the dataset repo.
"""

from __future__ import annotations

import getpass
import json
import math
import os
import shutil
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ._paths import asset_dir
from .data import expert_label_cell, is_missing_text, parse_label_cell, read_table, with_flag_labels, with_text_column
from .errors import InputError, PublishError, require
from .repo import names_a_repo
from .review_log import (
    CONFIG_FILE,
    DECISIONS_IN_REPO,
    ITEMS_FILE,
    DecisionLog,
    Item,
    Review,
    ReviewConfig,
    final_decisions,
    read_events,
    text_hash,
    write_items,
)
from .spec import TaskSpec, load_spec

__all__ = [
    "AppliedReview",
    "apply_review",
    "decisions_path",
    "launch_review",
    "load_review",
    "publish_review",
    "review_facts",
    "write_review_space",
]

SOURCE_COLUMN = "label_source"
REVIEWERS_COLUMN = "reviewers"
SPACE_PACKAGE = "sxhub_review"  # the app's two modules in the Space
REVIEW_COLUMNS = (SOURCE_COLUMN, REVIEWERS_COLUMN, "teacher_label", "teacher_labels")  # what apply-review adds


def _plain(value: Any) -> Any:
    """A cell as plain Python: numpy arrays as lists, JSON text (a CSV cell) decoded, NaN as None."""
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
    if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
        try:
            return _plain(json.loads(value))
        except json.JSONDecodeError:
            return value
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _number(value: Any) -> Any:
    """A number cell as a float (a CSV gives text), a dict of them per label as such; NaN as None."""
    value = _plain(value)
    if isinstance(value, dict):
        return {k: _number(v) for k, v in value.items()}
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    return None if math.isnan(number) else number


def _is_failed(value: Any) -> bool:
    return str(value).strip().lower() in {"true", "1", "1.0"}


def decisions_path(labelled: str | os.PathLike[str]) -> Path:
    """Where ``sxhub review`` keeps decisions by default: ``<stem>.decisions.jsonl`` beside the labelled file."""
    path = Path(labelled)
    return path.with_name(f"{path.stem}.decisions.jsonl")


# ==============================================================================================================
# what to review
# ==============================================================================================================
@dataclass
class _Labelled:
    """The labelled file as review needs it: every row (failed ones too, so that row numbers hold)."""

    frame: pd.DataFrame
    column: str  # label or labels
    multi_label: bool
    texts: list[str]
    labels: list[list[str] | None]  # None: no label (failed, or no text)
    votes: list[list[dict[str, Any]]]
    label_names: list[str] = field(default_factory=list)


def _read_labelled(source: str | os.PathLike[str] | pd.DataFrame, spec: TaskSpec | None) -> _Labelled:
    # rows numbered 0..n-1 as a file's are: the decisions' row numbers are positions, and the new columns are
    # assigned by position (a frame numbered 10..12 had every label blanked)
    frame = source.reset_index(drop=True) if isinstance(source, pd.DataFrame) else read_table(source)
    frame = with_text_column(frame)
    if spec is not None:
        frame = with_flag_labels(frame, spec.label_names, spec.multi_label, column=spec.label_column)
    if "text" not in frame.columns:
        raise InputError(f"the labelled file has no 'text' column (columns: {list(frame.columns)[:12]}).")
    if spec is not None:
        column, multi = spec.label_column, spec.multi_label
    elif "labels" in frame.columns:
        column, multi = "labels", True
    elif "label" in frame.columns:
        column, multi = "label", False
    else:
        column, multi = "", False
    if column not in frame.columns:
        raise InputError(
            f"the labelled file has no {column or 'label or labels'!r} column (columns: {list(frame.columns)[:12]}); "
            "review the output of `sxhub annotate` (or any file with text and label columns; for one true/false "
            "column per label, pass --task)."
        )
    failed = frame["failed"].map(_is_failed).tolist() if "failed" in frame.columns else [False] * len(frame)
    texts, labels = [], []
    for text, cell, bad in zip(frame["text"], frame[column], failed, strict=True):
        texts.append("" if is_missing_text(text) else str(text))
        parsed = None if bad or is_missing_text(text) else parse_label_cell(_plain(cell), multi_label=multi)
        labels.append(None if parsed is None else (list(parsed) if multi else [str(parsed)]))
    votes = [_votes(v) for v in frame["votes"]] if "votes" in frame.columns else [[] for _ in texts]
    return _Labelled(frame, column, multi, texts, labels, votes)


def _votes(cell: Any) -> list[dict[str, Any]]:
    votes = _plain(cell)
    if not isinstance(votes, list):
        return []
    out = []
    for vote in votes:
        if isinstance(vote, Mapping):
            labels = vote.get("labels")
            out.append(
                {
                    "teacher": str(vote.get("teacher") or ""),
                    "sample": int(vote.get("sample") or 0),
                    "labels": [str(v) for v in labels] if isinstance(labels, list) else None,
                    "reason": str(vote.get("reason") or vote.get("error") or ""),
                }
            )
    return out


def _label_names(data: _Labelled, spec: TaskSpec | None, probs: Sequence[Mapping[str, Any]]) -> list[str]:
    seen = {n for labs in data.labels if labs for n in labs}
    seen |= {n for votes in data.votes for v in votes for n in (v["labels"] or [])}
    if spec is not None:
        unknown = sorted(seen - set(spec.label_names))
        if unknown:
            raise InputError(f"label(s) {unknown[:10]} are not in the task's labels {spec.label_names}; fix the spec.")
        return list(spec.label_names)
    names = list(dict.fromkeys(str(k) for p in probs for k in p))  # the queue's model knows every label, in order
    names += sorted(seen - set(names))
    if len(names) < 2:
        raise InputError(
            f"the labelled file shows only the label(s) {names}; pass --task TASK.yaml so that every label can be "
            "picked."
        )
    return names


def _split_order(data: _Labelled, rows: Sequence[int]) -> list[int]:
    """Rows with the most split votes first (lowest agreement; ties in file order); file order without votes."""
    from .vote import mean_agreement

    agreement = data.frame["agreement"].tolist() if "agreement" in data.frame.columns else [None] * len(data.texts)

    def share(row: int) -> float:
        value = mean_agreement(_plain(agreement[row]))
        if value is None:
            answers = [tuple(sorted(v["labels"])) for v in data.votes[row] if v["labels"] is not None]
            value = Counter(answers).most_common(1)[0][1] / len(answers) if answers else 1.0
        return value

    return sorted(rows, key=share)


def load_review(
    labelled: str | os.PathLike[str] | pd.DataFrame,
    *,
    queue: str | os.PathLike[str] | pd.DataFrame | None = None,
    spec: TaskSpec | str | os.PathLike[str] | None = None,
    title: str | None = None,
    dataset_repo: str | None = None,
) -> tuple[list[Item], ReviewConfig]:
    """The texts to review, in order, and the app's config (labels from ``spec``, else from the data).

    ``queue`` (``sxhub doubts`` output) gives the order, the doubt and its signals, the suggested label and the
    out-of-fold probabilities; its ``row`` numbers must point at the same texts in ``labelled``. Rows without a
    label (failed, or without a text) are not reviewed.
    """
    task = load_spec(spec) if spec is not None else None
    data = _read_labelled(labelled, task)
    open_rows = [r for r, labs in enumerate(data.labels) if labs is not None]
    extra: dict[int, dict[str, Any]] = {}
    if queue is not None:
        order, extra = _read_queue(queue, data)
    else:
        order = _split_order(data, open_rows) if data.votes and any(data.votes) else open_rows
    names = _label_names(data, task, [e["probs"] for e in extra.values()])
    items = []
    for row in order:
        more = extra.get(row, {})
        suggested = more.get("suggested")
        items.append(
            Item(
                row=row,
                text=data.texts[row],
                current=[n for n in names if n in (data.labels[row] or [])],
                votes=data.votes[row],
                probs=more.get("probs") or {},
                doubt=more.get("doubt"),
                suggested=[]
                if suggested is None
                else [str(s) for s in (suggested if isinstance(suggested, list) else [suggested])],
                signals=more.get("signals") or {},
            )
        )
    if not items and queue is not None and open_rows:  # the queue holds none of the labelled rows
        raise InputError(
            f"nothing to review: the queue holds none of the {len(open_rows)} labelled rows; make it again with "
            "`sxhub doubts LABELLED -o QUEUE`, or review without --queue."
        )
    if not items:
        raise InputError(
            "nothing to review: no row of the labelled file has a label (each is failed, or has no text); label "
            "them first (`sxhub annotate`)."
        )
    name = task.name if task else (Path(str(labelled)).stem if not isinstance(labelled, pd.DataFrame) else "data")
    config = ReviewConfig(
        labels=names,
        multi_label=data.multi_label,
        descriptions={lab.name: lab.description for lab in task.labels if lab.description} if task else {},
        title=title or f"Review: {name}",
        dataset_repo=dataset_repo,
    )
    return items, config


def _read_queue(
    queue: str | os.PathLike[str] | pd.DataFrame, data: _Labelled
) -> tuple[list[int], dict[int, dict[str, Any]]]:
    where = "the queue" if isinstance(queue, pd.DataFrame) else f"queue {str(queue)!r}"
    try:
        frame = queue if isinstance(queue, pd.DataFrame) else read_table(queue)
    except InputError as exc:
        if "has no rows" not in str(exc):
            raise
        frame = pd.DataFrame(columns=["row", "text"])  # a queue of no rows: said below, with the fix
    missing = [c for c in ("row", "text") if c not in frame.columns]
    if missing:
        raise InputError(f"{where} has no {missing} column(s); make it with `sxhub doubts LABELLED -o QUEUE`.")
    order: list[int] = []
    extra: dict[int, dict[str, Any]] = {}
    signals = [c for c in frame.columns if c.startswith("signal_")]
    for record in frame.to_dict("records"):
        row = int(record["row"])
        if not 0 <= row < len(data.texts) or str(record["text"]) != data.texts[row]:
            raise InputError(
                f"{where} does not match the labelled file at row {row}: it was made from another file; run "
                "`sxhub doubts LABELLED -o QUEUE` on this one."
            )
        if row in extra or data.labels[row] is None:
            continue
        doubt = _number(record.get("doubt"))
        order.append(row)
        extra[row] = {
            "doubt": doubt if isinstance(doubt, float) else None,
            "suggested": _plain(record.get("suggested")),
            "probs": {str(k): float(v) for k, v in (_plain(record.get("oof_probs")) or {}).items()},
            "signals": {c.removeprefix("signal_").replace("_", " "): _number(record[c]) for c in signals},
        }
    return order, extra


# ==============================================================================================================
# the app on this machine
# ==============================================================================================================
def launch_review(
    labelled: str | os.PathLike[str],
    *,
    queue: str | os.PathLike[str] | None = None,
    spec: TaskSpec | str | os.PathLike[str] | None = None,
    reviewer: str | None = None,
    decisions: str | os.PathLike[str] | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    block: bool = True,
) -> tuple[Any, str, Review]:
    """Serve the review app; returns ``(demo, url, review)``. With ``block=False`` it serves in a thread until
    ``demo.close()``. Decisions go to ``decisions`` (default :func:`decisions_path`), read back on every start."""
    require(["gradio"], "sxhub review", "space")
    from .review_app import HEAD, build_demo
    from .space import check_host, listen

    check_host(host)
    items, config = load_review(labelled, queue=queue, spec=spec)
    log_path = Path(decisions) if decisions is not None else decisions_path(labelled)
    review = Review(items, config, DecisionLog(log_path))
    demo = build_demo(review, reviewer=reviewer if reviewer is not None else getpass.getuser())
    _, url, _ = listen(demo, host=host, port=port, head=HEAD, prevent_thread_lock=True, quiet=True)
    if block:
        print(url, flush=True)
        demo.block_thread()
    return demo, url, review


# ==============================================================================================================
# corrections back into the dataset
# ==============================================================================================================
@dataclass
class AppliedReview:
    """The corrected table and what changed: texts people labelled, labels they changed, ties left to the teacher."""

    frame: pd.DataFrame
    reviewers: list[str]
    n_decisions: int  # final decisions (one per reviewer and text)
    n_reviewed: int  # texts whose label now comes from people
    n_changed: int  # of those, texts whose label differs from the teacher's
    ties: list[int]  # rows where reviewers tied: the teacher's label kept

    def summary(self) -> dict[str, Any]:
        return {
            "rows": len(self.frame),
            "reviewers": self.reviewers,
            "decisions": self.n_decisions,
            "reviewed": self.n_reviewed,
            "changed": self.n_changed,
            "ties": self.ties,
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
    events = read_events(paths)
    if not events:
        raise InputError(f"no decisions in {str(source)!r}; review some texts first (`sxhub review LABELLED`).")
    return events


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
) -> AppliedReview:
    """The labelled table with the reviewers' labels applied (nothing is written; see :func:`write_table`).

    Per text, each reviewer's latest decision counts once; the answer most reviewers gave wins, and a tie keeps the
    teacher's label (the row is listed in ``ties``). The teacher's label is kept in ``teacher_label`` (or
    ``teacher_labels``) and is the base on every run, so the whole decisions file can be applied again. A row
    that an earlier ``apply_review`` gave a human label and that these decisions do not decide (nor undo) keeps it:
    a second round of review on the reviewed file, with its own decisions file, adds to the first.
    """
    task = load_spec(spec) if spec is not None else None
    data = _read_labelled(labelled, task)
    frame = data.frame
    events = read_decisions(decisions, token=token) if isinstance(decisions, (str, os.PathLike)) else list(decisions)
    finals = final_decisions(events)
    teacher_col = f"teacher_{data.column}"
    if teacher_col in frame.columns:
        teacher = [parse_label_cell(_plain(v), multi_label=data.multi_label) for v in frame[teacher_col]]
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
    hashes = [text_hash(t) for t in data.texts]
    rows_of: dict[str, list[int]] = {}
    for r, h in enumerate(hashes):
        rows_of.setdefault(h, []).append(r)

    def here(event: Mapping[str, Any]) -> int | None:
        row, digest = int(event["row"]), event.get("text_hash")
        if 0 <= row < len(frame) and hashes[row] == digest:
            return row
        holders = rows_of.get(str(digest), [])
        return holders[0] if len(holders) == 1 else None

    by_row: dict[int, dict[str, tuple[str, ...]]] = {}
    wrong_text = []
    for who, decided in finals.items():
        for made_on, event in decided.items():
            row = here(event)
            if row is None:
                wrong_text.append(made_on)
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
        raise InputError(
            f"{len(wrong_text)} decision(s) (rows {sorted(set(wrong_text))[:8]}) were made on other texts than this "
            "file holds at those rows (nor on exactly one other row); apply the decisions to the labelled file they "
            "were made on."
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
            if row in decides:
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
    out[SOURCE_COLUMN] = source
    out[REVIEWERS_COLUMN] = pd.Series(reviewers, dtype=object)
    humans = [r for r, s in enumerate(source) if s == "human"]
    if data.multi_label:
        changed = sum(set(teacher[r] or []) != set(labels_out[r]) for r in humans)
    else:
        changed = sum(teacher[r] != labels_out[r] for r in humans)
    for col, value in (("failed", False), ("error", "")):  # a text people labelled has a label now
        if col in out.columns and humans:
            out[col] = out[col].astype(object)
            out.loc[humans, col] = value
    return AppliedReview(
        frame=out,
        reviewers=sorted(finals),
        n_decisions=sum(len(a) for a in by_row.values()),
        n_reviewed=len(humans),
        n_changed=changed,
        ties=ties,
    )


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


# ==============================================================================================================
# the review Space
# ==============================================================================================================
def write_review_space(
    labelled: str | os.PathLike[str] | pd.DataFrame,
    folder: Path,
    *,
    repo_id: str,
    dataset_repo: str,
    queue: str | os.PathLike[str] | pd.DataFrame | None = None,
    spec: TaskSpec | str | os.PathLike[str] | None = None,
    title: str | None = None,
    every: float = 1.0,
) -> Path:
    """The review Space's folder: ``app.py``, the app's modules (``sxhub_review/``), ``items.jsonl`` (the texts in queue order),
    ``config.json`` (labels, the dataset repo for decisions), ``requirements.txt`` and ``README.md``."""
    import jinja2

    from .repo import gradio_version

    items, config = load_review(labelled, queue=queue, spec=spec, title=title, dataset_repo=dataset_repo)
    config = ReviewConfig.from_dict({**config.to_dict(), "every": every})
    template = asset_dir("spaces") / "review"
    here = Path(__file__).resolve().parent
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy2(template / "app.py", folder / "app.py")
    package = folder / SPACE_PACKAGE
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text('"""The review app, copied from sxhub as it is."""\n', encoding="utf-8")
    for module in ("review_app.py", "review_log.py"):
        shutil.copy2(here / module, package / module)
    requirements = (template / "requirements.txt").read_text(encoding="utf-8").rstrip("\n")
    (folder / "requirements.txt").write_text(f"{requirements}\ngradio=={gradio_version()}\n", encoding="utf-8")
    (folder / CONFIG_FILE).write_text(json.dumps(config.to_dict(), indent=2, ensure_ascii=False) + "\n", "utf-8")
    write_items(items, folder / ITEMS_FILE)
    readme = jinja2.Template((template / "README.md").read_text(encoding="utf-8"), keep_trailing_newline=True)
    (folder / "README.md").write_text(
        readme.render(
            title=config.title[:60],
            sdk_version=gradio_version(),
            dataset_repo=dataset_repo,
            repo_id=repo_id,
            n_items=len(items),
            labels=config.labels,
            multi_label=config.multi_label,
            every=every,
        ),
        encoding="utf-8",
    )
    return folder


def publish_review(
    labelled: str | os.PathLike[str] | pd.DataFrame,
    *,
    dataset_repo: str | None,
    queue: str | os.PathLike[str] | pd.DataFrame | None = None,
    spec: TaskSpec | str | os.PathLike[str] | None = None,
    repo_id: str | None = None,
    to: str | os.PathLike[str] | None = None,
    token: str | None = None,
    private: bool | None = None,
    revision: str | None = None,
    exist_ok: bool = False,
    title: str | None = None,
    every: float = 1.0,
) -> str:
    """Publish the review app as a Space whose decisions go to ``dataset_repo`` (``review/decisions/*.jsonl``,
    committed every ``every`` minutes); returns the Space URL or the folder.

    The Space needs an ``HF_TOKEN`` secret with write access to ``dataset_repo``; ``sxhub apply-review LABELLED
    DATASET_REPO`` then reads the decisions back.
    """
    from .hub import publish_folder
    from .repo import check_repo_id

    if not dataset_repo:
        raise PublishError(
            "publish review needs --dataset-repo NAMESPACE/NAME: the dataset repo where the Space keeps decisions."
        )
    check_repo_id(dataset_repo)
    load_review(labelled, queue=queue, spec=spec)  # bad input fails here, before any repo is created
    default = Path(str(labelled)).stem if not isinstance(labelled, pd.DataFrame) else "review"
    return publish_folder(
        lambda folder, rid: write_review_space(
            labelled, folder, repo_id=rid, dataset_repo=dataset_repo, queue=queue, spec=spec, title=title, every=every
        ),
        repo_type="space",
        default_name=f"{default}-review",
        repo_id=repo_id,
        to=to,
        token=token,
        private=private,
        revision=revision,
        exist_ok=exist_ok,
    )
