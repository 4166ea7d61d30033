"""Dawid-Skene: votes weighted by each teacher's estimated reliability (the ``dawid-skene`` vote method).

:func:`sxhub.reliability.dawid_skene` reads the votes and :func:`dawid_skene_fit` here decides from them.
crowd-kit's :class:`~crowdkit.aggregation.DawidSkene` is fitted on every valid vote of the dataset: it estimates one
confusion matrix per teacher and weighs each teacher's answer by it. The worker is the *teacher*, and its answer on a
text is the majority of its own valid samples (:func:`teacher_answers`; samples of one teacher err together: counted
one by one they would let a teacher with more samples outvote the rest, and break Dawid-Skene's assumption that
workers err independently given the true label). Multi-label tasks get one binary Dawid-Skene per label ("is the
label on?"). What stays as :mod:`sxhub.vote` documents it: which votes are valid, ``failed`` rows (no valid vote: no
label, never a guessed one), and ``agreement``, the share of valid votes for the winner (per label for multi-label,
``None`` for a label no vote named), now measured against the Dawid-Skene winner. The winner is always a label some
valid vote gave (a multi-label label is on only if some vote named it): with little evidence from an unreliable
teacher the prior alone could otherwise pick a label no teacher said. ``tie`` is true only when the posterior itself
ties; the decision then falls back to the majority rule (and its tie rule).

Also here: :func:`check_vote_method` (crowd-kit is an extra, ``sxhub[review]``), the fit's caps
(``DS_ITERATIONS``, ``DS_TOLERANCE``) and :func:`_shared_decision` (equal decisions as one object, which
:func:`sxhub.reliability.teacher_reliability` uses too). Every name is imported from :mod:`sxhub.reliability` too.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Sequence
from typing import Any

from .errors import InputError
from .vote import Decision, decide

logger = logging.getLogger(__name__)

# Dawid-Skene tells a teacher's errors from the others' answers: with fewer teachers, where they disagree the label's
# prior decides, and a rare multi-label label loses (tests/test_reliability.py simulates two teachers: label sets
# exactly right 0.73 against majority vote's 0.87)
DS_MIN_TEACHERS = 3
_SAID_FEW: set[int] = set()

# crowd-kit's default cap; on bench/review.py's PhraseBank teachers 100 did as well as 20 or better in every seed
DS_ITERATIONS = 100
DS_TOLERANCE = 1e-4  # stop when the evidence lower bound gains less than this per vote (crowd-kit: 1e-5)


def check_vote_method(method: str) -> None:
    """One line now when the vote rule's library is missing (``dawid-skene`` needs crowd-kit): the vote comes after
    every teacher request, and the error came then."""
    if method == "dawid-skene" and importlib.util.find_spec("crowdkit") is None:
        raise InputError(
            'vote: dawid-skene needs crowd-kit; run pip install "sxhub[review]" (or use --vote majority).'
        )


def _fit(rows: list[tuple[int, str, Any]]) -> tuple[Any, Any]:
    """crowd-kit's Dawid-Skene on ``(task, worker, label)`` rows: the posteriors (task x label) and the model."""
    import pandas as pd

    try:
        from crowdkit.aggregation import DawidSkene
    except ImportError as exc:
        raise InputError(f'vote: dawid-skene needs crowd-kit; run pip install "sxhub[review]" ({exc}).') from exc

    model = DawidSkene(n_iter=DS_ITERATIONS, tol=DS_TOLERANCE)
    model.fit(pd.DataFrame(rows, columns=["task", "worker", "label"]))
    return model.probas_, model


Answers = list[list[tuple[str, list[str]]]]  # per text: (teacher, its answer) for every teacher with a valid vote


def teacher_answers(
    row: Sequence[dict[str, Any]], label_names: Sequence[str], multi_label: bool
) -> list[tuple[str, list[str]]]:
    """One text's (teacher, answer) pairs for Dawid-Skene: each teacher's answer is the majority of its own valid
    samples; a teacher with none is left out."""
    by_teacher: dict[str, list[dict[str, Any]]] = {}
    for vote in row:
        by_teacher.setdefault(str(vote.get("teacher")), []).append(vote)
    own = {t: decide(vs, label_names, multi_label) for t, vs in by_teacher.items()}
    return [(t, list(d.labels or []) if multi_label else [str(d.label)]) for t, d in own.items() if not d.failed]


def dawid_skene_fit(
    answers: Answers,
    valid: list[list[list[str]]],
    label_names: Sequence[str],
    multi_label: bool,
    majority: list[Decision],
    *,
    same: dict[tuple[Any, ...], Decision] | None = None,
) -> tuple[list[Decision], dict[str, Any]]:
    """:func:`dawid_skene` from what it needs of each text (:func:`teacher_answers`, the valid votes' labels and
    the majority decision), so that a caller reading the votes once need not keep them. ``same``: equal decisions
    are one object, kept there (:func:`_shared_decision`), for a caller that only reads them."""
    if multi_label:
        decisions, estimates = _ds_multi(answers, valid, label_names, majority)
    else:
        decisions, estimates = _ds_single(answers, valid, majority, same)
    if same is not None and multi_label:
        decisions = [_shared_decision(same, d) for d in decisions]
    return decisions, estimates


def say_few_teachers(answers: Answers) -> None:
    """Say once a process (per teacher count) that Dawid-Skene with fewer than :data:`DS_MIN_TEACHERS` teachers
    decides their disagreements by the labels' priors, and name majority vote; it ran without a word. Called where
    Dawid-Skene decides the labels (:func:`sxhub.reliability.dawid_skene`), not where a card or ``agree`` only sets
    its decisions beside majority vote's."""
    teachers = {teacher for row in answers for teacher, _ in row}
    if not teachers or len(teachers) >= DS_MIN_TEACHERS or len(teachers) in _SAID_FEW:
        return
    _SAID_FEW.add(len(teachers))
    logger.warning(
        "vote: dawid-skene with %d teacher%s: Dawid-Skene learns each teacher's errors from how the teachers "
        "disagree, which takes three or more; with fewer, where they disagree the label's prior decides (a rare "
        "label loses). Add a teacher, or use vote: majority (--vote majority).",
        len(teachers),
        "" if len(teachers) == 1 else "s",
    )


def _ds_single(
    answers: Answers,
    valid: list[list[list[str]]],
    majority: list[Decision],
    same: dict[tuple[Any, ...], Decision] | None = None,
) -> tuple[list[Decision], dict[str, Any]]:
    rows = [(i, teacher, labels[0]) for i, row in enumerate(answers) for teacher, labels in row]
    if not rows:
        return majority, {}
    probas, model = _fit(rows)
    columns = [str(name) for name in probas.columns]
    posterior = probas.reindex(range(len(valid))).to_numpy(dtype=float)  # plain arrays: .loc per text is slow
    decisions = []
    for i, row in enumerate(valid):
        base = majority[i]
        if base.failed:
            decisions.append(base)
            continue
        named = {labels[0] for labels in row}  # the winner is a label some valid vote gave, never an invented one
        post = {name: posterior[i, k] for k, name in enumerate(columns) if name in named}
        top = max(post.values())
        best = [name for name, p in post.items() if abs(p - top) < 1e-12]
        if len(best) > 1:  # the posterior ties: the majority rule (and its tie rule) decides
            decisions.append(Decision(**{**base.to_dict(), "tie": True}))
            continue
        winner = best[0]
        share = sum(labels[0] == winner for labels in row) / len(row)
        decision = Decision(
            label=winner, labels=None, agreement=share, failed=False, error="", tie=False, n_valid=len(row)
        )
        decisions.append(decision if same is None else _shared_decision(same, decision))
    return decisions, {"teachers": _confusions(model)}


def _confusions(model: Any) -> dict[str, Any]:
    """Per teacher: P(answer | true label) as ``{true: {answer: p}}`` and the prior-weighted accuracy estimate."""
    errors, priors = model.errors_, model.priors_
    out: dict[str, Any] = {}
    for teacher in dict.fromkeys(errors.index.get_level_values("worker")):
        matrix = errors.loc[teacher]
        confusion = {
            str(true): {str(answer): float(matrix.loc[answer, true]) for answer in matrix.index}
            for true in matrix.columns
        }
        accuracy = sum(float(priors[true]) * confusion[str(true)].get(str(true), 0.0) for true in matrix.columns)
        out[str(teacher)] = {"estimated_accuracy": accuracy, "confusion": confusion}
    return out


def _ds_multi(
    answers: Answers, valid: list[list[list[str]]], label_names: Sequence[str], majority: list[Decision]
) -> tuple[list[Decision], dict[str, Any]]:
    on = {name: [False] * len(valid) for name in label_names}
    tied = [False] * len(valid)
    estimates: dict[str, Any] = {}
    for name in label_names:
        rows = [
            (i, teacher, "on" if name in labels else "off") for i, row in enumerate(answers) for teacher, labels in row
        ]
        if len({answer for _, _, answer in rows}) < 2:  # every teacher agrees on this label everywhere
            for i, row in enumerate(answers):
                on[name][i] = bool(row) and name in row[0][1]
            continue
        probas, model = _fit(rows)
        p_on = probas["on"].reindex(range(len(answers))).to_numpy(dtype=float)
        for i, row in enumerate(answers):
            if not row:
                continue
            p = float(p_on[i])
            if abs(p - 0.5) < 1e-12:  # the posterior ties: the majority rule (and its tie rule) decides
                tied[i] = True
                on[name][i] = name in (majority[i].labels or [])
                continue
            on[name][i] = p > 0.5 and any(name in labels for labels in valid[i])  # on only if some vote named it
        estimates[name] = {
            teacher: {"estimated_accuracy": value["estimated_accuracy"]}
            for teacher, value in _confusions(model).items()
        }
    decisions = []
    for i, given in enumerate(valid):
        base = majority[i]
        if base.failed:
            decisions.append(base)
            continue
        labels = [name for name in label_names if on[name][i]]
        agreement: dict[str, float | None] = {}
        for name in label_names:
            named = sum(name in vote for vote in given)
            agree = named if name in labels else len(given) - named
            agreement[name] = agree / len(given) if named else None
        decisions.append(
            Decision(
                label=None, labels=labels, agreement=agreement, failed=False, error="", tie=tied[i], n_valid=len(given)
            )
        )
    return decisions, {"labels": estimates}


def _shared_decision(same: dict[tuple[Any, ...], Decision], decision: Decision) -> Decision:
    """``decision``, or the equal one kept before (every field of the same value and type): read, never changed."""
    agreement = decision.agreement
    key = (
        decision.label,
        None if decision.labels is None else tuple(decision.labels),
        tuple((k, type(v), v) for k, v in agreement.items())
        if isinstance(agreement, dict)
        else (type(agreement), agreement),
        decision.failed,
        decision.error,
        decision.tie,
        decision.n_valid,
    )
    return same.setdefault(key, decision)
