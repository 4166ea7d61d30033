"""Per-teacher reliability, and votes weighted by it (Dawid-Skene).

Two things live here:

* **Deciding every text at once** (:func:`decide_all`). ``majority`` is :func:`sxhub.vote.decide` text by text (its
  contract is the default). ``dawid-skene`` reads the votes (:func:`dawid_skene`) and weighs each teacher by its
  estimated reliability; the model, its caps and its rules (which winner, which tie) are :mod:`sxhub.dawid_skene`'s
  (its names are imported from here too).
* **Reliability figures** (:func:`teacher_reliability`): for every teacher, pooled over its samples, and for every
  sample of it: how many valid votes, how often it agrees with the final label, and, given expert (gold) labels,
  accuracy, macro-F1, micro-F1 and Krippendorff's alpha against them (:func:`sxhub.metrics.score`) with a per-label
  table (precision, recall, F1, support, and a one-vs-rest binary alpha per label). Pooled figures count every
  valid vote of the teacher as one (gold, vote) pair.
"""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from .dawid_skene import (  # noqa: F401  (DS_ITERATIONS, DS_TOLERANCE, check_vote_method: imported from here too)
    DS_ITERATIONS,
    DS_TOLERANCE,
    Answers,
    _shared_decision,
    check_vote_method,
    dawid_skene_fit,
    say_few_teachers,
    teacher_answers,
)
from .errors import InputError
from .metrics import md_cell
from .vote import Decision, decide, decide_by_scores, vote_error

VOTE_METHODS = ("majority", "dawid-skene", "scores")


def check_method(method: str) -> str:
    """``method`` if it is a known vote method, else a one-line error naming the choices."""
    if method not in VOTE_METHODS:
        raise InputError(f"vote method {method!r} is unknown; use one of {', '.join(VOTE_METHODS)}.")
    return method


# --------------------------------------------------------------------------------------------------------------
# votes as plain data
# --------------------------------------------------------------------------------------------------------------
def plain_votes(cell: Any) -> list[dict[str, Any]]:
    """A ``votes`` cell as a list of plain dicts with list labels (parquet gives numpy arrays, CSV gives JSON).

    A vote that is already a plain dict with list labels is returned as it is, not copied: read the votes, never
    change them in place."""
    if hasattr(cell, "tolist") and not isinstance(cell, str):
        cell = cell.tolist()
    if isinstance(cell, str):
        stripped = cell.strip()
        if not stripped:
            return []
        try:
            cell = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise InputError(f"votes cell {stripped[:60]!r} is not a JSON list of votes.") from exc
    if cell is None or (isinstance(cell, float) and np.isnan(cell)):
        return []
    if not isinstance(cell, list) or not all(isinstance(item, Mapping) for item in cell):
        raise InputError(
            f"votes cell {str(cell)[:60]!r} is not a list of votes: each vote is an object such as "
            '{"teacher": "t", "sample": 0, "labels": ["positive"]} (sxhub annotate writes them); fix the column or '
            "drop it."
        )
    votes = []
    for item in cell:
        labels = item.get("labels")
        if type(item) is dict and not isinstance(labels, np.ndarray):
            votes.append(item)  # already plain: not copied (a copy of every vote of a 1M-row dataset is GBs)
            continue
        vote = dict(item)
        vote["labels"] = labels.tolist() if isinstance(labels, np.ndarray) else labels
        votes.append(vote)
    return votes


def valid_labels(vote: Mapping[str, Any], label_names: Sequence[str], multi_label: bool) -> list[str] | None:
    """The vote's labels when it counts (the rule of :mod:`sxhub.vote`), else ``None``."""
    if vote_error(dict(vote), label_names, multi_label):
        return None
    return list(dict.fromkeys(vote["labels"]))


def _vote_key(vote: Mapping[str, Any]) -> tuple[str, int]:
    return str(vote.get("teacher")), int(vote.get("sample") or 0)


# --------------------------------------------------------------------------------------------------------------
# deciding every text
# --------------------------------------------------------------------------------------------------------------
def decide_all(
    votes_column: Sequence[Any], label_names: Sequence[str], multi_label: bool, *, method: str = "majority"
) -> list[Decision]:
    """One :class:`~sxhub.vote.Decision` per text, by ``majority``, ``dawid-skene`` (module docstring) or ``scores``
    (the teachers' label scores averaged: :func:`sxhub.vote.decide_by_scores`)."""
    check_method(method)
    votes = [plain_votes(cell) for cell in votes_column]
    if method == "scores":
        return [decide_by_scores(v, label_names, multi_label) for v in votes]
    majority = [decide(v, label_names, multi_label) for v in votes]
    if method == "majority":
        return majority
    return dawid_skene(votes, label_names, multi_label, majority=majority)[0]


def dawid_skene(
    votes: Sequence[Sequence[dict[str, Any]]],
    label_names: Sequence[str],
    multi_label: bool,
    *,
    majority: Sequence[Decision] | None = None,
) -> tuple[list[Decision], dict[str, Any]]:
    """Dawid-Skene decisions for every text, and what the model estimated (each teacher's confusion matrix).

    Each teacher gives one answer per text: the majority of its own valid samples (:func:`sxhub.vote.decide`).
    Samples of one teacher err together, so counting them as separate evidence would let a teacher with more
    samples outvote the others, the very thing the weighting is for.
    """
    majority = list(majority) if majority is not None else [decide(v, label_names, multi_label) for v in votes]
    valid = [
        [labels for v in row if (labels := valid_labels(v, label_names, multi_label)) is not None] for row in votes
    ]
    answers = [teacher_answers(row, label_names, multi_label) for row in votes]
    say_few_teachers(answers)
    return dawid_skene_fit(answers, valid, label_names, multi_label, majority)


# --------------------------------------------------------------------------------------------------------------
# reliability figures
# --------------------------------------------------------------------------------------------------------------
def _binary_alpha(gold: Sequence[Any], pred: Sequence[Any], name: str, multi_label: bool) -> float | None:
    """One-vs-rest alpha of label ``name``: is it (among) the gold labels, and the predicted ones, of each pair;
    as two float arrays (a Python float per pair and label was ~40 MB a label at 600k votes)."""
    from .metrics import alpha_with_note

    def on(cells: Sequence[Any]) -> np.ndarray:
        return np.fromiter((name in c if multi_label else c == name for c in cells), dtype=float, count=len(cells))

    return alpha_with_note([on(gold), on(pred)])[0]


def _gold_figures(gold: list[Any], pred: list[Any], label_names: Sequence[str], multi_label: bool) -> dict[str, Any]:
    """accuracy, macro/micro-F1, alpha and per-label rows (with a binary alpha) of ``pred`` against ``gold``."""
    from .metrics import score

    result = score(gold, pred, label_names, multi_label)
    per_label = {
        name: {**row, "alpha": _binary_alpha(gold, pred, name, multi_label)}
        for name, row in result["per_label"].items()
    }
    keys = ("n", "accuracy", "macro_f1", "micro_f1", "krippendorff_alpha", "alpha_note")
    return {**{k: result[k] for k in keys}, "per_label": per_label}


def _same(a: Any, b: Any, multi_label: bool) -> bool:
    return set(a) == set(b) if multi_label else a == b


class VotesColumn(Protocol):
    """The ``votes`` cells of every text, in order: a list, a pandas column, or one read in batches."""

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[Any]: ...


def teacher_reliability(
    votes_column: VotesColumn,
    final: Sequence[Any],
    label_names: Sequence[str],
    multi_label: bool,
    *,
    gold: Sequence[Any] | None = None,
    method: str = "majority",
) -> dict[str, Any]:
    """Reliability of every teacher and every sample of it (module docstring); JSON-able.

    ``final`` is the label (or list of labels) of every text (``None`` where the text has none), ``gold`` the
    expert labels (``None`` or NaN where missing; lists for multi-label). ``method`` is the rule that made
    ``final`` (it is reported, and for ``dawid-skene`` each teacher's estimated accuracy is added, and ``ties``: the
    texts whose Dawid-Skene decision needed a tie rule, the votes being decided here anyway).
    """
    n_texts = len(votes_column)
    if len(final) != n_texts or (gold is not None and len(gold) != n_texts):
        raise InputError("votes, final labels and gold labels must have one entry per text; pass aligned columns.")
    # the votes are counted as they are read and never kept (a 1M-row dataset's votes as Python were GBs, and with
    # --gold every vote was kept for the figures below): the figures against gold and Dawid-Skene keep per text
    # only what they read, the majority decision, the valid votes' labels and each teacher's answer
    keep_all = gold is not None or method == "dawid-skene"
    # Dawid-Skene beside the vote against gold is a comparison: without crowd-kit (sxhub[review]) it is left out and
    # said so, rather than stopping `run --gold` or `publish dataset --gold` of a plain install
    compare_ds = keep_all and (method == "dawid-skene" or importlib.util.find_spec("crowdkit") is not None)
    by_scores = gold is not None and method == "scores"
    majority: list[Decision] = []
    scores: list[Decision] = []
    valid: list[list[list[str]]] = []
    answers: Answers = []
    # one object for each distinct valid answer and (teacher, answer): read-only, shared by every text that gave
    # it, rather than a list (and the strings Arrow made) per vote kept to the end
    same_labels: dict[tuple[str, ...], list[str]] = {}
    same_answer: dict[tuple[str, tuple[str, ...]], tuple[str, list[str]]] = {}
    # and one list (of those shared objects) and one Decision for each distinct row of them: a Decision and two
    # lists per text were ~600 MB of a 1M-text dataset, held under the figures against gold (the command's peak)
    same_row: dict[tuple[int, ...], list[Any]] = {}
    same_decision: dict[tuple[Any, ...], Decision] = {}
    any_votes = False
    raters: dict[tuple[str, int | None], dict[str, Any]] = {}
    for i, cell in enumerate(votes_column):
        row = plain_votes(cell)
        any_votes = any_votes or bool(row)
        given: list[list[str]] = []
        for vote in row:
            teacher, sample = _vote_key(vote)
            labels = valid_labels(vote, label_names, multi_label)
            if labels is not None:
                labels = same_labels.setdefault(tuple(labels), labels)
                given.append(labels)
            for key in ((teacher, None), (teacher, sample)):
                entry = raters.get(key)
                if entry is None:
                    entry = raters[key] = {"votes": 0, "valid": 0, "decided": 0, "agree": 0, "gold": [], "pred": []}
                _count(entry, labels, i, final, gold, multi_label)
        if keep_all:
            majority.append(_shared_decision(same_decision, decide(row, label_names, multi_label)))
            if compare_ds:
                valid.append(_shared_row(same_row, given))
                answers.append(
                    _shared_row(
                        same_row,
                        [
                            same_answer.setdefault((t, tuple(a)), (t, a))
                            for t, a in teacher_answers(row, label_names, multi_label)
                        ],
                    )
                )
            if by_scores:
                scores.append(_shared_decision(same_decision, decide_by_scores(row, label_names, multi_label)))
    order = list(dict.fromkeys(teacher for teacher, _ in raters))  # teachers in vote order, pooled row first
    keys = sorted(raters, key=lambda k: (order.index(k[0]), -1 if k[1] is None else k[1]))
    rows = [_rater_row(t, s, raters[(t, s)], gold is not None, label_names, multi_label) for t, s in keys]
    del raters
    out: dict[str, Any] = {"method": method, "n_texts": n_texts, "teachers": rows}
    if not any_votes or not keep_all:
        return out
    weighted, estimates = (
        dawid_skene_fit(answers, valid, label_names, multi_label, majority, same=same_decision)
        if compare_ds
        else ([], {})
    )
    del answers, valid
    if not compare_ds:
        out["dawid_skene_note"] = 'Dawid-Skene not compared: it needs crowd-kit (pip install "sxhub[review]").'
    if gold is not None:
        rules: list[tuple[str, list[Decision]]] = [("majority", majority)]
        if compare_ds:
            rules.append(("dawid-skene", weighted))
        if by_scores:
            rules.append(("scores", scores))
        out["vote_vs_gold"] = {
            name: figures
            for name, decisions in rules
            if (figures := _decisions_vs_gold(decisions, gold, label_names, multi_label)) is not None
        }
    if method == "dawid-skene":
        out["dawid_skene"] = estimates
        # the decisions made by the rule (not the majority's): the dataset card's "decisions that needed the tie rule"
        out["ties"] = sum(d.tie for d in weighted if not d.failed)
    return out


def _shared_row(same: dict[tuple[int, ...], list[Any]], row: list[Any]) -> list[Any]:
    """``row`` (a list of shared, read-only objects), or the equal list kept before: the same objects in order."""
    return same.setdefault(tuple(map(id, row)), row)


def _count(
    entry: dict[str, Any],
    labels: list[str] | None,
    i: int,
    final: Sequence[Any],
    gold: Sequence[Any] | None,
    multi_label: bool,
) -> None:
    """One vote (its valid labels, or None) of text ``i`` added to a rater's counts."""
    entry["votes"] += 1
    if labels is None:
        return
    entry["valid"] += 1
    answer = labels if multi_label else labels[0]
    if not _missing(final[i]):
        entry["decided"] += 1
        entry["agree"] += _same(answer, final[i], multi_label)
    if gold is not None and not _missing(gold[i]):  # two lists of shared cells: a tuple per pair was 3x the memory
        entry["gold"].append(gold[i])
        entry["pred"].append(answer)


def _rater_row(
    teacher: str,
    sample: int | None,
    entry: dict[str, Any],
    has_gold: bool,
    label_names: Sequence[str],
    multi_label: bool,
) -> dict[str, Any]:
    decided = entry["decided"]
    row: dict[str, Any] = {
        "teacher": teacher,
        "sample": sample,
        "votes": entry["votes"],
        "valid": entry["valid"],
        "agreement_with_vote": entry["agree"] / decided if decided else None,
    }
    if has_gold:
        row["gold"] = _gold_figures(entry["gold"], entry["pred"], label_names, multi_label) if entry["gold"] else None
    return row


def _decisions_vs_gold(
    decisions: Sequence[Decision], gold: Sequence[Any], label_names: Sequence[str], multi_label: bool
) -> dict[str, Any] | None:
    """Decisions against gold (majority's and Dawid-Skene's of the same votes show what the weighting buys)."""
    golds: list[Any] = []
    preds: list[Any] = []  # two lists of shared cells: a tuple per pair, then the two lists, was ~100 MB at 1M texts
    for g, d in zip(gold, decisions, strict=True):
        if not d.failed and not _missing(g):
            golds.append(g)
            preds.append(d.labels if multi_label else d.label)
    if not golds:
        return None
    return _gold_figures(golds, preds, label_names, multi_label)


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return bool(np.isnan(value))
    return False


# --------------------------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------------------------
def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def format_reliability(result: Mapping[str, Any], *, level: int = 2) -> str:
    """Markdown tables of a :func:`teacher_reliability` result; ``level`` is the heading level of its title."""
    has_gold = any(r.get("gold") for r in result["teachers"])
    h, sub = "#" * level, "#" * (level + 1)
    lines = [f"{h} Teacher reliability (final vote: {result['method']})", ""]
    head = "| teacher | sample | valid votes | agreement with vote |"
    if has_gold:
        head += " accuracy | macro-F1 | alpha vs gold |"
    lines += [head, "|---" * (head.count("|") - 1) + "|"]
    for row in result["teachers"]:
        sample = "all" if row["sample"] is None else str(row["sample"])
        line = f"| {md_cell(row['teacher'])} | {sample} | {row['valid']}/{row['votes']} | {_fmt(row['agreement_with_vote'])} |"
        if has_gold:
            g = row.get("gold") or {}
            line += f" {_fmt(g.get('accuracy'))} | {_fmt(g.get('macro_f1'))} | {_fmt(g.get('krippendorff_alpha'))} |"
        lines.append(line)
    lines.append("")
    if has_gold:
        pooled = [r for r in result["teachers"] if r["sample"] is None and r.get("gold")]
        names = list(pooled[0]["gold"]["per_label"]) if pooled else []
        # one row per label, one column per teacher: a row per teacher was as wide as the labels are many (28
        # labels: a 470-character line, wrapped into noise in a terminal)
        lines += [f"{sub} Per label, against gold (F1 / alpha; all samples of each teacher)", ""]
        lines += [
            "| label | " + " | ".join(md_cell(r["teacher"]) for r in pooled) + " |",
            "|---" * (len(pooled) + 1) + "|",
        ]
        for n in names:
            cells = [f"{_fmt(m['f1'])} / {_fmt(m['alpha'])}" for m in (r["gold"]["per_label"][n] for r in pooled)]
            lines.append(f"| {md_cell(n)} | " + " | ".join(cells) + " |")
        lines.append("")
    versus = result.get("vote_vs_gold") or {}
    if versus:
        lines += [
            f"{sub} The vote against gold",
            "",
            "| vote | n | accuracy | macro-F1 | alpha |",
            "|---|---|---|---|---|",
        ]
        for method, g in versus.items():
            lines.append(
                f"| {method} | {g['n']} | {_fmt(g['accuracy'])} | {_fmt(g['macro_f1'])} | "
                f"{_fmt(g['krippendorff_alpha'])} |"
            )
        lines.append("")
    if result.get("dawid_skene_note"):
        lines += [result["dawid_skene_note"], ""]
    estimates = result.get("dawid_skene") or {}
    if estimates.get("teachers"):
        lines += [f"{sub} Dawid-Skene's estimate of each teacher (no gold needed)", ""]
        lines += ["| teacher | estimated accuracy |", "|---|---|"]
        lines += [f"| {md_cell(t)} | {_fmt(v['estimated_accuracy'])} |" for t, v in estimates["teachers"].items()]
        lines.append("")
    if estimates.get("labels"):  # multi-label: one binary model per label
        names = list(estimates["labels"])
        teachers = list(dict.fromkeys(t for per in estimates["labels"].values() for t in per))
        lines += [f"{sub} Dawid-Skene's estimated accuracy per label (no gold needed)", ""]
        lines += ["| label | " + " | ".join(map(md_cell, teachers)) + " |", "|---" * (len(teachers) + 1) + "|"]
        for n in names:
            cells = [_fmt(estimates["labels"][n].get(t, {}).get("estimated_accuracy")) for t in teachers]
            lines.append(f"| {md_cell(n)} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def label_shares(votes: Sequence[dict[str, Any]], label_names: Sequence[str], multi_label: bool) -> np.ndarray | None:
    """Share of valid votes per label (in label order), or ``None`` without a valid vote."""
    valid = [labels for v in votes if (labels := valid_labels(v, label_names, multi_label)) is not None]
    if not valid:
        return None
    counts = Counter(name for labels in valid for name in labels)
    return np.array([counts[name] / len(valid) for name in label_names], dtype=float)
