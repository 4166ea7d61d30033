"""Voting: turn the votes of every teacher and sample on one text into one decision.

A vote is a dict ``{"teacher", "sample", "labels", "reason", "error", "raw"}`` (see ``docs/CONTRACTS.md``);
``labels`` is a list of label names (one element for single-label tasks) or ``None`` when the vote failed. A teacher
that scores labels adds ``scores`` (:func:`vote_scores`); the majority rule counts labels only, whatever the scores
say, and the ``scores`` rule (:func:`decide_by_scores`) decides on them.

Rules (deterministic, the same on every run):

* **Valid votes.** Only votes whose ``labels`` is a list of the task's label names count; for a single-label task a
  valid vote holds exactly one name. Failed votes (``labels=None``) and votes with unknown names or the wrong count
  are left out of the count; their errors explain a failed decision.
* **Single-label.** The label with the most valid votes wins. ``agreement`` is the share of valid votes for it.
* **Single-label tie rule.** When several labels share the top count, the winner is the tied label given by the
  *earliest valid vote in vote order*. Votes are ordered by teacher (spec order) then sample index, so the first
  teacher's first valid sample breaks ties. The decision is marked ``tie=True``.
* **Multi-label.** A label is on when *more than half* of the valid votes have it (strict majority). ``agreement``
  is a dict: per label, the share of valid votes that agree with the decision on that label (have it when it is
  on, lack it when it is off). A label that *no* valid vote named is ``None`` there, not ``1.0``: the votes never
  considered it, so leaving it off together is no evidence that they agree (with eight labels and two named, a
  share that counted the other six would read 0.75 or more whatever the votes said about the two).
* **One number per text** (:func:`mean_agreement`, ``summarize``, the dataset card's histogram, ``agree``): the
  single-label share, or the mean of the multi-label shares over the labels some vote named. When every valid vote
  named no label at all, the votes gave one identical answer ("none of these") and the number is ``1.0``.
* **Multi-label tie rule.** A label held by exactly half of the valid votes is a tie and is **off** (strict
  majority); the decision is marked ``tie=True`` when any label was such a tie.
* **Scores** (``vote: scores``, :func:`decide_by_scores`; a soft vote). A vote that carries label scores (the tuned
  teacher of ``sxhub tune``) counts as those probabilities, any other valid vote as a one-hot of its labels, and the
  decision is made on their mean over the valid votes: single-label, the label with the highest mean (ties as in the
  majority rule, else label order), and ``agreement`` is that mean, the text's confidence; multi-label, a label is on
  when its mean exceeds one half (exactly one half is a tie and off), and ``agreement`` per label is its mean (on) or
  one minus it (off): a scored vote scores every label, so none is ``None``. A scoring teacher's samples at a
  temperature above 0 are draws from its scores: counting them would add their noise back. Without any scores the
  rule *is* the majority rule (same winners, shares and ties).
* **No valid vote.** The decision is ``failed=True`` with no label (``label`` and ``labels`` are ``None``; never a
  guessed one), ``agreement`` is ``0.0`` (``0.0`` per label for multi-label) and ``error`` holds the votes'
  distinct errors joined by ``"; "`` (``"no votes"`` when there were none).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Decision:
    """The outcome of voting on one text."""

    label: str | None  # single-label winner (None for multi-label or failed)
    labels: list[str] | None  # multi-label winners in label order (None for single-label or failed)
    agreement: float | dict[str, float | None]  # single: share for the winner; multi: per label (None: never named)
    failed: bool  # no valid vote
    error: str  # "" unless failed: the votes' distinct errors joined by "; "
    tie: bool  # the decision needed the tie rule
    n_valid: int  # number of valid votes counted

    def to_dict(self) -> dict[str, Any]:
        """The decision as a plain (JSON-able) dict."""
        return asdict(self)

    @property
    def mean_agreement(self) -> float:
        """One number per text (:func:`mean_agreement`); ``0.0`` for a failed decision."""
        value = mean_agreement(self.agreement)
        return 0.0 if value is None else value


def mean_agreement(agreement: Any) -> float | None:
    """One number per text from an ``agreement`` cell: the share, or the mean over the labels some vote named.

    ``None``, NaN or ``""`` (no agreement recorded) gives ``None``; a number written as text (a CSV cell) is read.
    A multi-label dict whose every value is ``None`` (every vote named no label: one identical empty answer) gives
    ``1.0``; see the module docstring.
    """
    if isinstance(agreement, Mapping):
        shares = [_share(v) for v in agreement.values() if not _is_missing(v)]
        if shares:
            return sum(shares) / len(shares)
        return 1.0 if agreement else None
    if _is_missing(agreement):
        return None
    return _share(agreement)


def _share(value: Any) -> float:
    from .errors import InputError

    try:
        share = float(value)
    except (TypeError, ValueError) as exc:  # 'high', a list: not a share (it was a ValueError, exit 1)
        raise InputError(
            f"agreement cell {str(value)[:60]!r} is not a number; agreement is the share of votes for the label, "
            "0 to 1 (multi-label: a JSON object of shares per label): fix the column or drop it."
        ) from exc
    # a file's own agreement in percent (PhraseBank's 50/66/75/100): read as shares, every row passed any
    # --min-agreement, and 0 rows were left out, exit 0
    if not 0.0 <= share <= 1.0 + 1e-9:
        raise InputError(
            f"agreement cell {str(value)[:60]!r} is not a share from 0 to 1 (a percentage? divide the column by 100); "
            "agreement is the share of votes for the label: fix the column or drop it."
        )
    return share


def vote_teachers(rows: Iterable[Any], *, valid_only: bool = False) -> list[str]:
    """The teachers named in ``votes`` cells (one list of votes per text), each once, in order of first appearance.

    ``valid_only`` leaves out a teacher none of whose votes gave labels (every request failed): it labelled nothing.
    """
    names: dict[str, None] = {}
    for row in rows:
        if row is None or isinstance(row, (str, Mapping)) or not isinstance(row, Iterable):
            continue  # a text without votes (NaN, None)
        for vote in row:
            gave_labels = isinstance(vote, Mapping) and vote.get("labels") is not None
            if isinstance(vote, Mapping) and vote.get("teacher") and (gave_labels or not valid_only):
                names.setdefault(str(vote["teacher"]), None)
    return list(names)


def _is_missing(value: Any) -> bool:
    if value is None or (isinstance(value, str) and not value.strip()):
        return True
    try:
        return math.isnan(float(value))
    except TypeError:  # pandas' NA
        return True
    except ValueError:  # text that is no number: there, and wrong (the caller says so)
        return False


def vote_error(vote: dict[str, Any], label_names: Sequence[str], multi_label: bool) -> str:
    """Why a vote does not count ("" when it is valid)."""
    labels = vote.get("labels")
    if labels is None:
        return str(vote.get("error") or "vote failed without an error message")
    if not isinstance(labels, (list, tuple)):
        return f"vote labels {labels!r} are not a list of names"
    unknown = [lab for lab in labels if lab not in label_names]
    if unknown:
        return f"label(s) {unknown} not in the task's labels {list(label_names)}"
    if not multi_label and len(labels) != 1:
        return f"single-label vote holds {len(labels)} labels {list(labels)}, needs exactly one"
    return ""


def _split_votes(
    votes: Sequence[dict[str, Any]], label_names: Sequence[str], multi_label: bool
) -> tuple[list[list[str]], list[str]]:
    """The valid votes' label lists (in vote order) and the distinct errors of the others (first seen first)."""
    valid: list[list[str]] = []
    errors: list[str] = []
    for vote in votes:
        error = vote_error(vote, label_names, multi_label)
        if error:
            if error not in errors:
                errors.append(error)
        else:
            valid.append(list(dict.fromkeys(vote["labels"])))  # a label named twice in one vote counts once
    return valid, errors


def _decide_single(valid: list[list[str]]) -> tuple[str, float, bool]:
    counts = Counter(labels[0] for labels in valid)
    top = max(counts.values())
    tied = {name for name, count in counts.items() if count == top}
    winner = next(labels[0] for labels in valid if labels[0] in tied)  # earliest valid vote breaks ties
    return winner, top / len(valid), len(tied) > 1


def _decide_multi(
    valid: list[list[str]], label_names: Sequence[str]
) -> tuple[list[str], dict[str, float | None], bool]:
    n = len(valid)
    counts = Counter(name for labels in valid for name in labels)
    on = [name for name in label_names if 2 * counts[name] > n]
    tie = any(2 * counts[name] == n for name in label_names)
    agreement: dict[str, float | None] = {
        name: (counts[name] if name in on else n - counts[name]) / n if counts[name] else None  # None: never named
        for name in label_names
    }
    return on, agreement, tie


def decide(votes: Sequence[dict[str, Any]], label_names: Sequence[str], multi_label: bool) -> Decision:
    """Majority vote over the valid votes of one text (rules in the module docstring)."""
    valid, errors = _split_votes(votes, label_names, multi_label)
    if not valid:
        agreement: float | dict[str, float | None] = dict.fromkeys(label_names, 0.0) if multi_label else 0.0
        return Decision(
            label=None,
            labels=None,
            agreement=agreement,
            failed=True,
            error="; ".join(errors) if errors else "no votes",
            tie=False,
            n_valid=0,
        )
    if multi_label:
        on, per_label, tie = _decide_multi(valid, label_names)
        return Decision(
            label=None, labels=on, agreement=per_label, failed=False, error="", tie=tie, n_valid=len(valid)
        )
    winner, share, tie = _decide_single(valid)
    return Decision(label=winner, labels=None, agreement=share, failed=False, error="", tie=tie, n_valid=len(valid))


def score_distribution(
    vote: Mapping[str, Any], label_names: Sequence[str], multi_label: bool
) -> dict[str, float] | None:
    """The vote's label scores as probabilities per label, or None when it has none that score every label.

    Single-label scores are a distribution (renormalised to sum to one; None if they sum to zero); multi-label ones
    are each label's probability of being on. Used by the ``scores`` rule and by ``train --soft-labels``.
    """
    scores = scores_of(vote)
    if scores is None or set(scores) != set(label_names):
        return None
    if multi_label:
        return {name: scores[name] for name in label_names}
    total = sum(scores.values())
    return {name: scores[name] / total for name in label_names} if total > 0 else None


def _score_rows(
    votes: Sequence[dict[str, Any]], label_names: Sequence[str], multi_label: bool
) -> tuple[list[dict[str, float]], bool]:
    """Per valid vote, a probability per label (its scores, else a one-hot of its labels), and whether any scored."""
    rows: list[dict[str, float]] = []
    scored = False
    for vote in votes:
        if vote_error(vote, label_names, multi_label):
            continue
        distribution = score_distribution(vote, label_names, multi_label)
        scored = scored or distribution is not None
        rows.append(distribution or {name: float(name in vote["labels"]) for name in label_names})
    return rows, scored


def decide_by_scores(votes: Sequence[dict[str, Any]], label_names: Sequence[str], multi_label: bool) -> Decision:
    """Soft vote over the valid votes of one text: their label scores (one-hots for votes without) averaged.

    Rules in the module docstring ("Scores"); without a scored vote this is :func:`decide`.
    """
    rows, scored = _score_rows(votes, label_names, multi_label)
    majority = decide(votes, label_names, multi_label)
    if not scored or majority.failed:
        return majority
    n = len(rows)
    mean = {name: sum(row[name] for row in rows) / n for name in label_names}
    if multi_label:
        on = [name for name in label_names if mean[name] > 0.5 and not math.isclose(mean[name], 0.5)]
        # a scored vote scored every label, so none is left unconsidered (no None here)
        agreement: dict[str, float | None] = {
            name: mean[name] if name in on else 1.0 - mean[name] for name in label_names
        }
        tie = any(math.isclose(mean[name], 0.5) for name in label_names)
        return Decision(label=None, labels=on, agreement=agreement, failed=False, error="", tie=tie, n_valid=n)
    top = max(mean.values())
    tied = [name for name in label_names if math.isclose(mean[name], top, rel_tol=0.0, abs_tol=1e-12)]
    first = [v["labels"][0] for v in votes if not vote_error(v, label_names, multi_label)]
    winner = next((name for name in first if name in tied), tied[0])  # earliest valid vote, else label order
    return Decision(
        label=winner, labels=None, agreement=mean[winner], failed=False, error="", tie=len(tied) > 1, n_valid=n
    )


def summarize(decisions: Sequence[Decision]) -> dict[str, Any]:
    """Counts over many decisions (JSON-able).

    ``n``, ``decided``, ``failed``, ``ties``, ``tie_rate`` (over decided texts), ``unanimous`` (decided texts whose
    valid votes all agree), ``mean_agreement`` (over decided texts; multi-label: the mean over the labels some vote
    named first, see :func:`mean_agreement`),
    ``min_agreement``, ``mean_valid_votes`` (over all texts) and ``label_counts`` (decided texts per label).
    """
    decided = [d for d in decisions if not d.failed]
    shares = [d.mean_agreement for d in decided]
    label_counts: Counter[str] = Counter()
    for d in decided:
        label_counts.update(d.labels if d.labels is not None else [d.label] if d.label is not None else [])
    return {
        "n": len(decisions),
        "decided": len(decided),
        "failed": len(decisions) - len(decided),
        "ties": sum(d.tie for d in decided),
        "tie_rate": sum(d.tie for d in decided) / len(decided) if decided else 0.0,
        "unanimous": sum(share == 1.0 for share in shares),
        "mean_agreement": sum(shares) / len(shares) if shares else None,
        "min_agreement": min(shares) if shares else None,
        "mean_valid_votes": sum(d.n_valid for d in decisions) / len(decisions) if decisions else 0.0,
        "label_counts": dict(label_counts),
    }


def vote_scores(scores: Mapping[str, float], label_names: Sequence[str]) -> list[dict[str, Any]]:
    """A vote's ``scores``: ``[{"label", "p"}]`` in the task's label order (one Arrow type for every vote and file,
    where a dict keyed by label would make a struct per task)."""
    return [{"label": name, "p": float(scores.get(name, 0.0))} for name in label_names]


def scores_of(vote: Mapping[str, Any]) -> dict[str, float] | None:
    """The label probabilities a vote carries (:func:`vote_scores`), or None when it has none."""
    cells = vote.get("scores")
    if cells is None or len(cells) == 0:
        return None
    return {str(c["label"]): float(c["p"]) for c in cells}
