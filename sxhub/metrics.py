"""Agreement metrics: labels against gold labels, and teachers against each other.

Everything is computed by scikit-learn and, for alpha, by the ``krippendorff`` package's formula, with the
coincidence matrix summed here (:func:`alpha_with_note`; tests hold the figures equal to the package's); this module
only shapes the data.

* **Single-label.** ``accuracy``, ``macro_f1``, ``weighted_f1`` (``micro_f1`` equals accuracy), per-label
  precision/recall/F1/support and the confusion matrix (rows gold, columns predicted, in label order).
* **Multi-label.** Multi-hot matrices in label order: ``accuracy`` is subset accuracy (every label right),
  ``micro_f1`` / ``macro_f1`` / ``weighted_f1`` over the label columns, and one 2x2 matrix per label
  (``[[tn, fp], [fn, tp]]``).
* **Macro averages** take the labels that occur in gold or predictions (scikit-learn's default for single-label
  data): a label absent from both has no defined F1. Per-label rows list every label, with ``zero_division=0``.
* **Krippendorff's alpha.** Units are the texts. Single-label: nominal alpha of two coders (gold, predicted).
  Multi-label: each coder's answer for a text is its *set* of labels, and two answers differ by the Jaccard
  distance ``1 - |A & B| / |A | B|`` (two empty sets agree: distance 0; ``"nominal"`` on single labels is the
  special case of one-element sets). When alpha is undefined (one value only, or no unit rated by two coders) it
  is ``None`` and ``alpha_note`` says why.
* **Between raters** (:func:`inter_rater_alpha`): every ``(teacher, sample)`` pair of the votes is a coder; a failed
  vote is a missing value (NaN).
* **What "agreement" means for multi-label figures: a label every rater left off is not agreement.** Alpha over
  flattened binary ``(text, label)`` units would count each label nobody named on a text as a unit of perfect
  agreement, and the chance correction does not undo it: on the same votes, ten labels no one uses lift such an
  alpha from 0.28 to 0.56. With label sets a label no rater named never enters a distance. The raw vote share
  (:func:`sxhub.vote.mean_agreement`, used by :func:`most_split`) leaves such labels out in the same way. The F1
  scores count true positives, false positives and false negatives only, so an all-off label changes none of them.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .errors import InputError
from .sequences import refuse_one_string


# --------------------------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------------------------
def _as_list(value: Any) -> Any:
    """numpy arrays (parquet cells) → lists; anything else unchanged."""
    return value.tolist() if hasattr(value, "tolist") and not isinstance(value, str) else value


def _check_inputs(gold: Sequence[Any], pred: Sequence[Any], label_names: Sequence[str], multi_label: bool) -> None:
    if len(gold) != len(pred):
        raise InputError(f"gold has {len(gold)} labels but predictions have {len(pred)}; score rows in pairs.")
    if len(gold) == 0:
        raise InputError("nothing to score: no text has both a gold and a predicted label.")
    if not label_names:
        raise InputError("no label names given; pass the task's labels (--task TASK.yaml).")
    known = set(label_names)
    for name, column in (("gold", gold), ("predicted", pred)):
        seen = {lab for cell in column for lab in (_as_list(cell) if multi_label else [cell])}
        unknown = sorted(map(str, seen - known))
        if unknown:
            raise InputError(
                f"{name} label(s) {unknown[:10]} are not among the labels {list(label_names)}; fix the data or the "
                "task's labels."
            )


def _multi_hot(rows: Sequence[Any], label_names: Sequence[str]) -> np.ndarray:
    from sklearn.preprocessing import MultiLabelBinarizer

    return MultiLabelBinarizer(classes=list(label_names)).fit_transform([list(_as_list(r)) for r in rows])


# --------------------------------------------------------------------------------------------------------------
# Krippendorff's alpha
# --------------------------------------------------------------------------------------------------------------
def alpha_with_note(reliability_data: Any, *, distance: np.ndarray | None = None) -> tuple[float | None, str]:
    """Krippendorff's alpha of ``(coders x units)`` data (NaN = missing), or ``(None, why)``: nominal, or with
    ``distance[i, j]`` between the integer values ``i`` and ``j``.

    The krippendorff package's figure and its checks (a test holds them equal): 1 - observed / expected disagreement
    from the coincidence matrix. The coincidences are summed here, one coder pair at a time, because the package
    first builds a units x values x values array: 24 GB for GoEmotions' 5,426 dev texts as label sets (576 distinct
    sets), and ``sxhub agree`` was killed.
    """
    data = np.asarray(reliability_data, dtype=float)
    if data.ndim != 2 or data.shape[0] < 2:
        return None, "alpha needs at least two coders"
    present = ~np.isnan(data)
    # the distinct values a coder at a time, and each value's code by a search in them (np.unique of every value at
    # once, return_inverse, sorted a copy of them all with int64 indices: ~400 MB above the data for the 2.9M
    # pooled votes of 1M texts, the peak of `publish dataset --gold`); the codes are the same
    values = np.unique(np.concatenate([np.unique(row[~np.isnan(row)]) for row in data]))
    if len(values) <= 1:
        return None, "Krippendorff's alpha is undefined here: There has to be more than one value in the domain."
    per_unit = present.sum(axis=0)
    pairable = per_unit >= 2
    if not pairable.any():
        return None, (
            "Krippendorff's alpha is undefined here: There has to be at least one unit with values assigned by at "
            "least two coders."
        )
    ids = np.zeros(data.shape, dtype=np.int64)
    for row, (coder, given) in enumerate(zip(data, present, strict=True)):
        ids[row, given] = np.searchsorted(values, coder[given])
    weight = np.where(pairable, 1.0 / np.maximum(per_unit - 1, 1), 0.0)  # each pair of a unit's m values: 1/(m-1)
    n_values = len(values)
    coincidences = np.zeros(n_values * n_values)
    for a, b in itertools.permutations(range(data.shape[0]), 2):
        both = pairable & present[a] & present[b]
        pairs = ids[a, both] * n_values + ids[b, both]
        coincidences += np.bincount(pairs, weights=weight[both], minlength=n_values * n_values)
    o = coincidences.reshape(n_values, n_values)
    n_v = o.sum(axis=0)
    expected = (np.outer(n_v, n_v) - np.diag(n_v)) / (n_v.sum() - 1)
    if distance is None:
        d = 1.0 - np.eye(n_values)
    else:
        index = values.astype(int)
        d = np.asarray(distance, dtype=float)[np.ix_(index, index)]
    expected_disagreement = float((expected * d).sum())
    if expected_disagreement == 0:
        return None, "alpha undefined: no expected disagreement"
    return 1.0 - float((o * d).sum()) / expected_disagreement, ""


def set_alpha_with_note(answers: Sequence[Sequence[Any]]) -> tuple[float | None, str]:
    """Alpha over label *sets*: ``answers[coder][unit]`` is a collection of names, or ``None`` when missing.

    Every distinct set becomes one value; the distance between two values is the Jaccard distance of their sets
    (0 for two empty sets).
    """
    sets = sorted({frozenset(a) for row in answers for a in row if a is not None}, key=lambda s: sorted(s))
    code = {s: i for i, s in enumerate(sets)}
    data = [[np.nan if a is None else code[frozenset(a)] for a in row] for row in answers]
    names = sorted({name for s in sets for name in s})
    hot = np.array([[name in s for name in names] for s in sets], dtype=float).reshape(len(sets), len(names))
    inter = hot @ hot.T
    union = hot.sum(axis=1)[:, None] + hot.sum(axis=1)[None, :] - inter
    distance = 1.0 - np.divide(inter, union, out=np.ones_like(inter), where=union > 0)
    return alpha_with_note(data, distance=distance)


# --------------------------------------------------------------------------------------------------------------
# labels against gold
# --------------------------------------------------------------------------------------------------------------
def _per_label(y_true: np.ndarray, y_pred: np.ndarray, label_names: Sequence[str], labels: Any) -> dict[str, Any]:
    from sklearn.metrics import precision_recall_fscore_support

    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return {
        name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, name in enumerate(label_names)
    }


def _confusion(y_true: np.ndarray, y_pred: np.ndarray, n_labels: int) -> list[list[int]]:
    """The confusion matrix over every label id; a task of one label (``agree`` without ``--task`` on a file that
    holds one name) is a 1x1 matrix, not worth sklearn's warning on the user's terminal."""
    import warnings

    from sklearn.metrics import confusion_matrix

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="A single label was found", category=UserWarning)
        return confusion_matrix(y_true, y_pred, labels=list(range(n_labels))).tolist()


def _score_single(gold: Sequence[str], pred: Sequence[str], label_names: Sequence[str]) -> dict[str, Any]:
    from sklearn.metrics import accuracy_score, f1_score

    index = {name: i for i, name in enumerate(label_names)}
    y_true = np.array([index[g] for g in gold])
    y_pred = np.array([index[p] for p in pred])
    present = sorted(set(y_true.tolist()) | set(y_pred.tolist()))
    alpha, note = alpha_with_note([y_true, y_pred])
    accuracy = float(accuracy_score(y_true, y_pred))
    return {
        "accuracy": accuracy,
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "micro_f1": accuracy,
        "weighted_f1": float(f1_score(y_true, y_pred, labels=present, average="weighted", zero_division=0)),
        "krippendorff_alpha": alpha,
        "alpha_note": note,
        "per_label": _per_label(y_true, y_pred, label_names, list(range(len(label_names)))),
        "confusion_matrix": _confusion(y_true, y_pred, len(label_names)),
    }


def _score_multi(gold: Sequence[Any], pred: Sequence[Any], label_names: Sequence[str]) -> dict[str, Any]:
    from sklearn.metrics import accuracy_score, f1_score, multilabel_confusion_matrix

    y_true = _multi_hot(gold, label_names)
    y_pred = _multi_hot(pred, label_names)
    present = [i for i in range(len(label_names)) if y_true[:, i].any() or y_pred[:, i].any()]
    alpha, note = set_alpha_with_note([[list(_as_list(r)) for r in gold], [list(_as_list(r)) for r in pred]])
    matrices = multilabel_confusion_matrix(y_true, y_pred)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0))
        if present
        else 0.0,
        "micro_f1": float(f1_score(y_true, y_pred, average="micro", zero_division=0)),
        "weighted_f1": float(f1_score(y_true, y_pred, labels=present, average="weighted", zero_division=0))
        if present
        else 0.0,
        "krippendorff_alpha": alpha,
        "alpha_note": note,
        "per_label": _per_label(y_true, y_pred, label_names, None),
        "confusion_matrices": {name: matrices[i].tolist() for i, name in enumerate(label_names)},
    }


def score(gold: Sequence[Any], pred: Sequence[Any], label_names: Sequence[str], multi_label: bool) -> dict[str, Any]:
    """Score predicted labels against gold labels (names; lists of names for multi-label). JSON-able result."""
    for name, value, items in (
        ("gold", gold, "labels"),
        ("pred", pred, "labels"),
        ("label_names", label_names, "names"),
    ):
        refuse_one_string(name, value, items)  # read letter by letter: "gold label(s) ['o', 'p', 's'] are not among"
    gold, pred = [_as_list(g) for g in gold], [_as_list(p) for p in pred]
    if multi_label:  # a comma-separated cell split a label name with a comma ("joy, pure"): joined again
        from .spec import rejoin_comma_names

        names = list(label_names)
        gold = [rejoin_comma_names(g, names) if isinstance(g, list) else g for g in gold]
        pred = [rejoin_comma_names(p, names) if isinstance(p, list) else p for p in pred]
    _check_inputs(gold, pred, label_names, multi_label)
    figures = _score_multi(gold, pred, label_names) if multi_label else _score_single(gold, pred, label_names)
    return {"n": len(gold), **figures, "labels": list(label_names), "multi_label": multi_label}


# --------------------------------------------------------------------------------------------------------------
# raters against each other
# --------------------------------------------------------------------------------------------------------------
def _valid_vote_labels(vote: dict[str, Any], known: set[str], multi_label: bool) -> list[str] | None:
    labels = _as_list(vote.get("labels"))
    if not isinstance(labels, list) or any(lab not in known for lab in labels):
        return None
    if not multi_label and len(labels) != 1:
        return None
    return labels


def _coders(votes_column: Sequence[Any]) -> dict[tuple[str, int], int]:
    """Every (teacher, sample) pair, in order of first appearance → a coder row."""
    coders: dict[tuple[str, int], int] = {}
    for votes in votes_column:
        for vote in _as_list(votes) or []:
            coders.setdefault((str(vote.get("teacher")), int(vote.get("sample") or 0)), len(coders))
    return coders


def inter_rater_reliability(
    votes_column: Sequence[Any], label_names: Sequence[str], multi_label: bool
) -> tuple[float | None, str, int]:
    """Alpha between the (teacher, sample) coders, a note when undefined, and the number of coders."""
    coders = _coders(votes_column)
    if len(coders) < 2:
        return None, "alpha between raters needs at least two (teacher, sample) pairs", len(coders)
    answers: list[list[Any]] = [[None] * len(votes_column) for _ in coders]  # None: failed vote, a missing value
    known = set(label_names)
    for unit, votes in enumerate(votes_column):
        for vote in _as_list(votes) or []:
            labels = _valid_vote_labels(vote, known, multi_label)
            if labels is not None:
                answers[coders[(str(vote.get("teacher")), int(vote.get("sample") or 0))]][unit] = labels
    if multi_label:
        alpha, note = set_alpha_with_note(answers)
    else:
        index = {n: i for i, n in enumerate(label_names)}
        alpha, note = alpha_with_note([[np.nan if a is None else index[a[0]] for a in row] for row in answers])
    return alpha, note, len(coders)


def inter_rater_alpha(votes_column: Sequence[Any], label_names: Sequence[str], multi_label: bool) -> float | None:
    """Nominal alpha between every (teacher, sample) pair over a labelled dataset's ``votes`` column."""
    return inter_rater_reliability(votes_column, label_names, multi_label)[0]


# --------------------------------------------------------------------------------------------------------------
# texts for human review
# --------------------------------------------------------------------------------------------------------------
def _answers(votes: Any) -> list[tuple[str, ...]]:
    """The valid votes' answers (sorted label tuples), in vote order."""
    out = []
    for vote in _as_list(votes) or []:
        labels = _as_list(vote.get("labels"))
        if isinstance(labels, list):
            out.append(tuple(sorted(map(str, labels))))
    return out


def _row_agreement(row: dict[str, Any], answers: list[tuple[str, ...]]) -> float | None:
    """The row's agreement (:func:`sxhub.vote.mean_agreement`), else the share of votes giving the commonest answer."""
    from .vote import mean_agreement

    agreement = _as_list(row.get("agreement"))
    if agreement not in (None, ""):
        value = mean_agreement(agreement if isinstance(agreement, dict) else float(agreement))
        if value is not None:
            return value
    if answers:  # whole answers (label sets) compared: an all-off label is not counted on its own
        return Counter(answers).most_common(1)[0][1] / len(answers)
    return None


def summarize_votes(votes: Any) -> str:
    """One cell: ``neutral ×2 | positive ×1 | failed ×1`` (an empty answer is ``(none)``)."""
    items = _as_list(votes) or []
    counts = Counter(", ".join(a) or "(none)" for a in _answers(items))
    failed = len(items) - sum(counts.values())
    parts = [f"{answer} ×{count}" for answer, count in counts.most_common()]
    return " | ".join([*parts, f"failed ×{failed}"] if failed else parts)


def most_split(rows: Sequence[dict[str, Any]], k: int) -> list[dict[str, Any]]:
    """The ``k`` texts whose votes split most: lowest agreement first, then most distinct answers.

    ``rows`` are labelled-dataset rows (``text``, ``label``/``labels``, ``votes`` and/or ``agreement``); failed rows
    and rows with neither votes nor agreement are skipped. Ties keep the input order. Each result has ``text``,
    ``label``, ``agreement``, ``n_answers``, ``votes`` (summarised), and ``gold``, ``row`` and ``id`` when the row had
    them.
    """
    ranked = []
    for position, row in enumerate(rows):
        if str(row.get("failed", "")).strip().lower() in {"true", "1"}:
            continue
        answers = _answers(row.get("votes"))
        agreement = _row_agreement(row, answers)
        if agreement is None:
            continue
        ranked.append((agreement, -len(set(answers)), position, row, answers))
    ranked.sort(key=lambda item: item[:3])
    return [_review_row(agreement, row, answers) for agreement, _, _, row, answers in ranked[: max(k, 0)]]


def _review_row(agreement: float, row: dict[str, Any], answers: list[tuple[str, ...]]) -> dict[str, Any]:
    label = _as_list(row.get("labels", row.get("label")))
    out: dict[str, Any] = {
        **{key: row[key] for key in ("row", "id") if key in row},  # where the row is in its file, and its id
        "text": row.get("text"),
        # no label at all is "(none)", as in the votes cell and the review app: a blank cell read as "not labelled"
        "label": (", ".join(map(str, label)) or "(none)") if isinstance(label, list) else label,
        "agreement": round(agreement, 4),
        "n_answers": len(set(answers)),
        "votes": summarize_votes(row.get("votes")),
    }
    if "gold" in row:
        out["gold"] = row["gold"]
    return out


# --------------------------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------------------------
def md_cell(value: Any) -> str:
    """A name (a label's, a teacher's) as one Markdown table cell: a '|' in it (a label "anger|rage") opened a new
    column and shifted every figure after it."""
    return str(value).replace("|", "\\|")


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _main_table(result: dict[str, Any]) -> list[str]:
    multi = result.get("multi_label", False)
    rows = [
        ("texts scored", result.get("n")),
        ("subset accuracy" if multi else "accuracy", result.get("accuracy")),
        ("micro-F1", result.get("micro_f1")) if multi else None,
        ("macro-F1", result.get("macro_f1")),
        ("weighted-F1", result.get("weighted_f1")),
        ("Krippendorff's alpha (vs gold)", result.get("krippendorff_alpha")),
    ]
    if "inter_rater_alpha" in result:
        raters = f"{result['n_raters']} raters" if result.get("n_raters") else "raters"
        rows.append((f"Krippendorff's alpha (between {raters})", result["inter_rater_alpha"]))
    votes = result.get("votes")
    if isinstance(votes, dict):
        rows += [("mean agreement of the votes", votes.get("mean_agreement")), ("ties broken", votes.get("ties"))]
    for key, title in (
        ("n_failed", "failed rows left out"),
        ("n_flagged_twins", "twins that failed a check of sxhub twins (ok false) left out"),
        ("n_missing", "rows without a label left out"),
        ("n_empty_text", "rows without a text left out"),
        ("n_trained_on", "texts the student was trained on (not held out)"),
        ("n_validated_on", "texts the student was validated on (not held out)"),
    ):
        if result.get(key):
            rows.append((title, result[key]))
    lines = ["| metric | value |", "|---|---|"]
    lines += [f"| {name} | {_fmt(value)} |" for name, value in (r for r in rows if r is not None)]
    return lines


UNSCORED_NOTE = (
    "– : not in the reference labels and never predicted: no precision, recall or F1 (scikit-learn's 0 in --json), "
    "and left out of the macro average"
)


def unscored_labels(result: Mapping[str, Any]) -> list[str]:
    """The labels of a :func:`score` result that no reference text has and no prediction gives: their precision,
    recall and F1 are undefined (``per_label`` holds scikit-learn's ``zero_division=0``) and the macro averages leave
    them out, so a table shows them as undefined, not as a 0 the student earned. A label in the reference that is
    never predicted is a miss, and keeps its 0."""
    per_label = result.get("per_label") or {}
    matrices = result.get("confusion_matrices")
    if isinstance(matrices, Mapping):  # multi-label: [[tn, fp], [fn, tp]] per label
        predicted = {name: m[0][1] + m[1][1] for name, m in matrices.items()}
    elif result.get("confusion_matrix") is not None:  # single-label: a label's column of the matrix
        columns = np.asarray(result["confusion_matrix"]).sum(axis=0)
        predicted = {name: int(columns[i]) for i, name in enumerate(result.get("labels") or []) if i < len(columns)}
    else:
        return []
    return [name for name, m in per_label.items() if not m.get("support") and predicted.get(name) == 0]


def _per_label_table(result: dict[str, Any]) -> list[str]:
    matrices = result.get("confusion_matrices")
    head = "| label | precision | recall | F1 | support |" + (" tn | fp | fn | tp |" if matrices else "")
    lines = [head, "|---" * (5 + (4 if matrices else 0)) + "|"]
    unscored = set(unscored_labels(result))
    for name, m in result.get("per_label", {}).items():
        figures = ["–"] * 3 if name in unscored else [f"{m[k]:.4f}" for k in ("precision", "recall", "f1")]
        line = f"| {md_cell(name)} | {' | '.join(figures)} | {m['support']} |"
        if matrices:
            (tn, fp), (fn, tp) = matrices[name]
            line += f" {tn} | {fp} | {fn} | {tp} |"
        lines.append(line)
    if unscored:
        lines += ["", UNSCORED_NOTE + "."]
    return lines


def _confusion_table(result: dict[str, Any]) -> list[str]:
    labels, matrix = result["labels"], result["confusion_matrix"]
    lines = ["| gold \\ predicted | " + " | ".join(map(md_cell, labels)) + " |", "|---" * (len(labels) + 1) + "|"]
    lines += [
        f"| {md_cell(name)} | " + " | ".join(str(v) for v in row) + " |"
        for name, row in zip(labels, matrix, strict=True)
    ]
    return lines


def format_report(result: dict[str, Any]) -> str:
    """A markdown report of a :func:`score` result (plus the optional keys ``agree`` adds)."""
    title = result.get("title", "Agreement")
    lines = [f"## {title}", "", *_main_table(result), ""]
    notes = [n for n in (result.get("alpha_note"), result.get("inter_rater_note"), *result.get("notes", [])) if n]
    if notes:
        lines += [*(f"- note: {n}" for n in notes), ""]
    lines += ["### Per label", "", *_per_label_table(result), ""]
    if result.get("confusion_matrix") is not None:
        lines += ["### Confusion matrix (rows gold, columns predicted)", "", *_confusion_table(result), ""]
    return "\n".join(lines).rstrip() + "\n"
