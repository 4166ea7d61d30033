"""Teacher labels scored against expert (gold) labels, and teachers against each other: :func:`agree`, what
``sxhub agree`` prints (``--json``: the same figures), as a function that prints nothing and returns them.

Failed rows, and the twins of a ``sxhub twins`` file that failed a check (``ok`` false), are left out and counted;
so are rows without a text and rows whose gold or teacher cell is empty. With a ``votes`` column the figures add
the alpha between the teachers' samples, the vote summary and each teacher's and sample's reliability.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, TypedDict, cast

import pandas as pd

from .data import check_text_values, find_column, find_text_column, is_missing_text, read_table
from .errors import InputError
from .labelled import (
    as_task_names,
    expert_label_cell,
    failed_flags,
    flagged_twins,
    gold_from_flag_columns,
    has_flag_columns,
    na_words_as_empty,
    parse_label_cell,
    with_flag_labels,
)
from .metrics import inter_rater_reliability, score
from .reliability import VOTE_METHODS, decide_all, plain_votes, teacher_reliability
from .spec import TaskSpec, load_spec
from .vote import summarize


class _AgreeReportKeys(TypedDict):
    title: str  # "Agreement of 'label' with gold 'gold' (file.csv)"
    gold_column: str
    pred_column: str  # the teachers' column scored
    labels: list[str]  # the task's names in its order, else every name the cells hold, sorted
    multi_label: bool
    n: int  # the rows scored
    n_rows: int  # the rows read; left out and counted:
    n_failed: int  # failed true
    n_flagged_twins: int  # twins that failed a check (ok false)
    n_missing: int  # a gold or teacher cell empty
    n_empty_text: int  # no text
    accuracy: float  # multi-label: exact match of the label sets
    macro_f1: float
    micro_f1: float
    weighted_f1: float
    krippendorff_alpha: float | None  # gold against the teachers' labels; None where undefined (alpha_note says why)
    alpha_note: str
    per_label: dict[str, dict[str, float]]  # name -> precision, recall, f1, support


class AgreeReport(_AgreeReportKeys, total=False):
    """What :func:`agree` returns and ``sxhub agree --json`` prints: a dict, typed (at run time a dict whose repr is
    the headline figures: :class:`_AgreeFigures`)."""

    confusion_matrix: list[list[int]]  # single-label: gold rows, teacher columns, in ``labels`` order
    confusion_matrices: dict[str, list[list[int]]]  # multi-label: each label's 2x2 (tn fp / fn tp)
    # with a votes column: alpha between the (teacher, sample) raters, why it is undefined, how many there are
    inter_rater_alpha: float | None
    inter_rater_note: str
    n_raters: int
    votes: dict[str, Any]  # the vote summary (sxhub.vote.summarize): decided, failed, ties, mean_agreement...
    reliability: dict[str, Any]  # each teacher's and sample's reliability (sxhub.reliability.teacher_reliability)


class _AgreeFigures(dict):  # type: ignore[type-arg]
    """:func:`agree`'s dict, shown by its headline figures: a notebook cell ending in ``agree(...)`` printed all of it
    (4 KB: the per-label table, the confusion matrix, each teacher's and sample's reliability). It is a dict in all
    else (keys, ``==``, ``json.dumps``); ``dict(report)`` or ``report["per_label"]`` show the rest."""

    def __repr__(self) -> str:
        def figure(key: str) -> str:
            value = self.get(key)
            return f"{key}={value:.3f}" if isinstance(value, float) else f"{key}={value!r}"

        rows = f"n={self.get('n')!r} of {self.get('n_rows')!r} rows"
        headline = ", ".join(figure(k) for k in ("accuracy", "macro_f1", "micro_f1", "krippendorff_alpha"))
        rest = [k for k in self if k not in {"title", "n", "n_rows", "accuracy", "macro_f1", "micro_f1",
                                              "krippendorff_alpha"}]  # fmt: skip
        shown = ", ".join(rest[:6]) + (", ..." if len(rest) > 6 else "")
        return f"AgreeReport({self.get('title')!r}: {rows}, {headline}; also {shown})"


@dataclass(frozen=True)
class _Says:
    """How a message names an option: ``sxhub agree``'s flag (``--gold 'x'``) or :func:`agree`'s parameter
    (``gold='x'``): a Python caller read "pass --gold" and had no such thing to pass."""

    flags: bool

    def name(self, option: str) -> str:
        return _FLAGS[option] if self.flags else _PARAMETERS[option]

    def given(self, option: str, value: str, *, quoted: bool = True) -> str:
        if self.flags:
            return f"{_FLAGS[option]} {value!r}" if quoted else f"{_FLAGS[option]} {value}"
        return f"{option}={value!r}"


_FLAGS = {
    "gold": "--gold",
    "pred": "--pred",
    "task": "--task TASK.yaml",
    "vote": "--vote",
    "text_column": "--text-column",
}
_PARAMETERS = {
    "gold": "gold=",
    "pred": "pred=",
    "task": "task= (the TaskSpec or its YAML)",
    "vote": "vote=",
    "text_column": "text_column=",
}


def agree(
    labelled: str | os.PathLike[str] | pd.DataFrame,
    *,
    gold: str,
    pred: str | None = None,
    task: TaskSpec | str | os.PathLike[str] | None = None,
    vote: str | None = None,
    text_column: str | None = None,
) -> AgreeReport:
    """Score the teachers' labels in ``labelled`` (a csv/jsonl/parquet file or a DataFrame) against the experts'
    labels in column ``gold``: the figures ``sxhub agree --json`` prints, printing nothing.

    ``pred`` is the teachers' column (default: the task's label column, else ``label`` or ``labels``); ``task`` (a
    TaskSpec or its YAML) gives the label order and multi_label and reads labels written as one true/false column
    per label (else the names are the cells', sorted); ``vote`` re-decides the labels from the ``votes`` column by
    that rule (``majority``, ``dawid-skene``, ``scores``) and scores those; ``text_column`` names the texts' column.
    Bad input raises :class:`sxhub.InputError` with the CLI's message, naming these parameters where the CLI names
    its flags (``gold='x'``, not ``--gold 'x'``).
    """
    result, _ = score_labelled(labelled, gold=gold, pred=pred, task=task, vote=vote, text_column=text_column)
    return result


def score_labelled(
    labelled: str | os.PathLike[str] | pd.DataFrame,
    *,
    gold: str,
    pred: str | None = None,
    task: TaskSpec | str | os.PathLike[str] | None = None,
    vote: str | None = None,
    text_column: str | None = None,
    flags: bool = False,
) -> tuple[AgreeReport, pd.DataFrame]:
    """:func:`agree`'s figures and the rows that were scored (``sxhub agree --review`` ranks them); ``flags``: the
    messages name the CLI's flags, not the parameters."""
    says = _Says(flags)
    if vote is not None and vote not in VOTE_METHODS:
        raise InputError(f"vote={vote!r} is not one of {list(VOTE_METHODS)}.")
    spec = load_spec(task, name="task") if task is not None else None
    if isinstance(labelled, pd.DataFrame):
        # numbered 0..n-1 as a file's rows are: the rows scored keep their numbers (--review's row column)
        df, where, name = labelled.reset_index(drop=True), "the DataFrame", "the DataFrame"
    else:
        df, where, name = read_table(labelled), repr(str(labelled)), Path(labelled).name
    # a user's own names, found as its text column is: "--gold expert" reads "Expert", "label" a Kaggle "Label"
    gold = find_column(df.columns, gold) or gold
    pred = None if pred is None else find_column(df.columns, pred) or pred
    if text_column is not None:  # the rows without a text and --review's texts are read from "text"
        if text_column not in df.columns:
            raise InputError(
                f"{says.given('text_column', text_column)} is not a column of {where}; its columns are "
                f"{list(df.columns)[:20]}."
            )
        candidates = [pred] if pred is not None else [spec.label_column if spec else None, "label", "labels"]
        scored = next((found for c in candidates if c and (found := find_column(df.columns, c))), None)
        for column, role in ((gold, "the gold column"), (scored, "the column being scored")):
            if text_column == column:  # renamed "text", it was "not found" among columns the file has not
                raise InputError(
                    f"{says.given('text_column', text_column)} is also {role}; pass {says.name('text_column')} with "
                    "the column of texts."
                )
        check_text_values(df, text_column)  # ids (--text-column id) are not texts: refused as train refuses them
        df = df.rename(columns={"text": "text_input"} if text_column != "text" else {}).rename(
            columns={text_column: "text"}
        )
    gold_column = gold
    if spec is not None:
        # the experts' labels as one true/false column per label (GoEmotions' layout), when --gold names them
        df, gold_column = gold_from_flag_columns(df, spec.label_names, spec.multi_label, gold_column)
        # else the teachers' labels in that layout (the 4P tweets')
        df = with_flag_labels(df, spec.label_names, spec.multi_label, column=spec.label_column)
    pred_column = _pick_pred_column(df, pred, spec.label_column if spec else None, says)
    if spec is not None and gold_column == pred_column and has_flag_columns(df, spec.label_names, spec.multi_label):
        # --gold's help says 'labels' reads them, but here 'labels' is the teachers' column (annotate --keep-column)
        raise InputError(
            f"{says.given('gold', gold_column)} is the teachers' column of {name}; its experts' labels are the "
            f"true/false columns {', '.join(spec.label_names[:4])}{', ...' if len(spec.label_names) > 4 else ''}: "
            f"pass {says.given('gold', spec.label_names[0])} (any label's name reads them all)."
        )
    if vote:
        df = _revote(df, pred_column, vote, spec, gold_column, says)
    result, kept = compare(
        df,
        gold_column=gold_column,
        pred_column=pred_column,
        label_names=spec.label_names if spec else None,
        multi_label=spec.multi_label if spec else None,
        says=says,
    )
    _add_vote_figures(result, kept, vote or "majority")
    _add_reliability(result, kept, vote or f"the {pred_column!r} column")
    result["title"] = f"Agreement of {pred_column!r} with gold {gold_column!r} ({name})"
    # compare's dict holds every required key (tests/test_agree.py); shown by its headline figures
    return cast(AgreeReport, _AgreeFigures(result)), kept


def _pick_pred_column(df: pd.DataFrame, pred: str | None, spec_column: str | None, says: _Says) -> str:
    if pred is not None:
        if pred not in df.columns:
            raise InputError(
                f"{says.given('pred', pred)} is not a column; the file has columns {list(df.columns)[:20]}."
            )
        return pred
    for candidate in (spec_column, "label", "labels"):
        if candidate and (found := find_column(df.columns, candidate)):
            return found
    raise InputError(
        f"no 'label' or 'labels' column in columns {list(df.columns)[:20]}; name the teacher's column with "
        f"{says.name('pred')}."
    )


def _looks_multi(column: str, values: Sequence[Any]) -> bool:
    """Multi-label when the column is ``labels`` or its first 200 non-empty cells hold a list (or a JSON list in a
    CSV); the empty cells are skipped, so a sorted file whose first texts have no label is still read as lists."""
    if column == "labels":
        return True
    for value in islice((value for value in values if not is_missing_text(value)), 200):
        if isinstance(value, (list, tuple)) or (hasattr(value, "tolist") and not isinstance(value, str)):
            return True
        if isinstance(value, str) and value.strip().startswith("["):
            return True
    return False


def _label_names(gold: list[Any], pred: list[Any], multi_label: bool, votes: Sequence[Any] = ()) -> list[str]:
    """Without a task: every name seen in the gold and label cells and in the votes, sorted (a vote for a label
    neither column holds is still a valid vote, not a failed one)."""
    cells = [*gold, *pred]
    names = {lab for cell in cells for lab in (cell if multi_label else [cell])}
    for cell in votes:
        for vote in plain_votes(cell):
            if isinstance(vote.get("labels"), list):
                names.update(str(lab) for lab in vote["labels"])
    return sorted(names)


def compare(
    df: pd.DataFrame,
    *,
    gold_column: str,
    pred_column: str,
    label_names: Sequence[str] | None = None,
    multi_label: bool | None = None,
    says: _Says = _Says(flags=False),
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Score ``pred_column`` against ``gold_column``; returns the result and the rows that were kept (not failed),
    under their index in ``df``.

    Failed rows (``failed`` true) are left out and counted in ``n_failed``; the twins of a ``sxhub twins`` file
    that failed a check (``ok`` false) in ``n_flagged_twins``; rows whose text is empty or NaN (when
    there is a text column) in ``n_empty_text``; rows whose gold or predicted cell is empty in ``n_missing`` (for
    multi-label too: no label at all is written ``[]``).
    """
    if gold_column not in df.columns:
        raise InputError(
            f"gold column {gold_column!r} not found; the file has columns {list(df.columns)[:20]}; pass "
            f"{says.name('gold')} with one of them."
        )
    if gold_column == pred_column:
        raise InputError(
            f"{says.given('gold', gold_column)} is also the column being scored; pass {says.name('pred')} with the "
            f"teacher's label column, or {says.name('gold')} with the experts' one."
        )
    failed = failed_flags(df["failed"]) if "failed" in df.columns else pd.Series(False, index=df.index)
    # a twin that failed a check may carry a label it lost (or a name it kept): scored, it was the teacher's miss
    flagged = flagged_twins(df)
    kept = df[~(failed | flagged)].copy()  # under their numbers in df: --review names each by its row
    for column in {gold_column, pred_column} & set(kept.columns):
        if label_names is None:  # names read off the cells: "NA", "null" or "None" is a cell left empty, not a label
            kept[column] = na_words_as_empty(kept[column])
        else:  # the task's names, as train and evaluate read them: an expert's "Positive" is the task's "positive"
            multi = multi_label if multi_label is not None else _looks_multi(pred_column, kept[pred_column].tolist())
            kept[column] = as_task_names(kept[column], label_names, multi_label=multi)
    kept, n_empty_text = _drop_rows_without_text(kept)
    if multi_label is None:
        multi_label = _looks_multi(pred_column, kept[pred_column].tolist())
    # an empty gold cell is a text the experts did not label (no label at all is "[]"), as the cards read it; an
    # empty label cell a text the teacher did not label, as train reads it (a multi-label one scored as "no label"
    # made a teacher that labelled a sample of the texts look wrong on every other one)
    gold = [expert_label_cell(v, multi_label=multi_label) for v in kept[gold_column].tolist()]
    pred = [expert_label_cell(v, multi_label=multi_label) for v in kept[pred_column].tolist()]
    complete = [g is not None and p is not None for g, p in zip(gold, pred, strict=True)]
    no_gold = bool(gold) and all(g is None for g in gold)  # the experts' column empty in every row left
    gold = [g for g, ok in zip(gold, complete, strict=True) if ok]
    pred = [p for p, ok in zip(pred, complete, strict=True) if ok]
    if not gold:
        # annotating again (the teachers' fix) fills the label column, never the experts'
        fix = (
            f"column {gold_column!r} has no label in any row with a text: fill it with the experts' labels, or pass "
            f"{says.name('gold')} with the column that holds them"
            if no_gold
            else "annotate again or fix the file"
        )
        raise InputError(
            f"nothing to score: of {len(df)} rows, {int(failed.sum())} failed, "
            + (f"{int(flagged.sum())} are twins that failed a check (ok false), " if flagged.any() else "")
            + f"{n_empty_text} have no text and "
            f"{len(complete)} lack a {gold_column!r} or {pred_column!r} label; {fix}."
        )
    if label_names is not None:
        names = list(label_names)
    else:
        _refuse_flag_gold(gold_column, kept[gold_column].tolist(), pred, multi_label, says)
        _refuse_numbers_beside_names(gold, pred, multi_label, gold_column, pred_column)
        names = _label_names(gold, pred, multi_label, kept["votes"].tolist() if "votes" in kept.columns else ())
        _refuse_names_that_differ_in_case(names, gold_column, pred_column, says)
    result = score(gold, pred, names, multi_label)
    result.update(
        gold_column=gold_column,
        pred_column=pred_column,
        n_rows=len(df),
        n_failed=int(failed.sum()),
        n_flagged_twins=int(flagged.sum()),
        n_missing=len(complete) - sum(complete),
        n_empty_text=n_empty_text,
    )
    return result, kept


FLAG_CELLS = frozenset({"0", "1", "0.0", "1.0", "true", "false", "yes", "no"})


def _refuse_flag_gold(gold_column: str, cells: list[Any], pred: list[Any], multi_label: bool, says: _Says) -> None:
    """Without a task, a gold column of true/false cells beside label names is one label's flag column (GoEmotions'
    layout): scored as label sets, every text's experts' labels would be "1" or "0"."""
    values = {str(v).strip().lower() for v in cells if not (isinstance(v, float) and v != v)}
    named = {str(lab) for cell in pred if cell is not None for lab in (cell if multi_label else [cell])}
    if values and values <= FLAG_CELLS and named and not named & FLAG_CELLS:
        raise InputError(
            f"{says.given('gold', gold_column)} holds true/false cells, not label names: pass {says.name('task')} to "
            "read the experts' labels from the file's one true/false column per label, or "
            f"{says.name('gold')} with a column of label names."
        )


_NUMBER_RE = re.compile(r"[+-]?\d+(?:\.\d*)?")


def _refuse_numbers_beside_names(
    gold: list[Any], pred: list[Any], multi_label: bool, gold_column: str, pred_column: str
) -> None:
    """Without a task the labels are the names the cells hold: a column of class ids (a Hub dataset's ClassLabel,
    PhraseBank's 0/1/2) beside one of names shares no label with it, and every text was scored a disagreement
    (accuracy 0.0, exit 0)."""

    def names(cells: list[Any]) -> set[str]:
        return {str(lab).strip() for cell in cells for lab in (cell if multi_label else [cell])}

    columns = {gold_column: names(gold), pred_column: names(pred)}
    numbers = [c for c, found in columns.items() if found and all(_NUMBER_RE.fullmatch(v) for v in found)]
    words = [c for c, found in columns.items() if found and not any(_NUMBER_RE.fullmatch(v) for v in found)]
    if len(numbers) == 1 and len(words) == 1:
        shown = ", ".join(sorted(columns[numbers[0]], key=lambda v: float(v))[:10])
        raise InputError(
            f"{numbers[0]!r} holds numbers ({shown}) where {words[0]!r} holds label names "
            f"({', '.join(sorted(columns[words[0]])[:10])}), so no text could agree; write the label names in "
            f"{numbers[0]!r} (a Hub dataset's class ids: its ClassLabel's int2str)."
        )


def _refuse_names_that_differ_in_case(names: Sequence[str], gold_column: str, pred_column: str, says: _Says) -> None:
    """Without a task the labels are the names the cells hold: an expert's ``Positive`` (or ``positive ``) beside the
    teacher's ``positive`` would be two labels, and every such text scored as a disagreement."""
    seen: dict[str, str] = {}
    for name in names:
        other = seen.setdefault(name.strip().casefold(), name)
        if other != name:
            raise InputError(
                f"labels {other!r} and {name!r} in {gold_column!r} / {pred_column!r} differ only in case or spaces, so "
                f"they would be scored as two labels; write them alike in the file, or pass {says.name('task')}: its "
                "names are matched ignoring case and spaces."
            )


def _drop_rows_without_text(df: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Rows with a text (a file without a text column is kept whole) and the number left out."""
    try:
        column = find_text_column(df)
    except InputError:
        return df, 0
    no_text = df[column].map(is_missing_text).astype(bool)  # an empty frame maps to an object Series
    return df[~no_text], int(no_text.sum())


def _add_vote_figures(result: dict[str, Any], kept: pd.DataFrame, method: str = "majority") -> None:
    """Alpha between (teacher, sample) raters and the vote summary, decided by ``method`` (``--vote``'s rule, else
    majority), when the file has a ``votes`` column."""
    if "votes" not in kept.columns:
        return
    votes_column = [plain_votes(cell) for cell in kept["votes"].tolist()]
    alpha, note, n_coders = inter_rater_reliability(votes_column, result["labels"], result["multi_label"])
    decisions = decide_all(votes_column, result["labels"], result["multi_label"], method=method)
    result.update(inter_rater_alpha=alpha, inter_rater_note=note, n_raters=n_coders, votes=summarize(decisions))


def _revote(df: pd.DataFrame, pred: str, method: str, spec: Any, gold_column: str, says: _Says) -> pd.DataFrame:
    """``df`` with ``pred`` (and ``failed``) re-decided from its votes by ``method``."""
    if "votes" not in df.columns:
        raise InputError(
            f"{says.given('vote', method, quoted=False)} needs a 'votes' column (sxhub annotate writes it); this file "
            f"has {list(df.columns)[:20]}."
        )
    votes = [plain_votes(cell) for cell in df["votes"].tolist()]
    if spec is not None:
        names, multi = spec.label_names, spec.multi_label
    else:
        multi = _looks_multi(pred, df[pred].tolist())
        gold = na_words_as_empty(df[gold_column]).tolist() if gold_column in df.columns else []
        cells = [c for c in (parse_label_cell(g, multi_label=multi) for g in gold) if c is not None]
        names = _label_names(cells, [], multi, votes)
    decisions = decide_all(votes, names, multi, method=method)
    out = df.copy()
    out[pred] = pd.Series([d.labels if multi else d.label for d in decisions], index=out.index, dtype=object)
    out["failed"] = [d.failed for d in decisions]
    # the vote share of the label now shown (--review ranks by it), not the old rule's
    out["agreement"] = pd.Series([d.agreement for d in decisions], index=out.index, dtype=object)
    return out


def _add_reliability(result: dict[str, Any], kept: pd.DataFrame, method: str) -> None:
    """Each teacher's and sample's reliability (:func:`sxhub.reliability.teacher_reliability`), given votes."""
    if "votes" not in kept.columns:
        return
    multi = result["multi_label"]
    result["reliability"] = teacher_reliability(
        kept["votes"].tolist(),
        [expert_label_cell(v, multi_label=multi) for v in kept[result["pred_column"]].tolist()],
        result["labels"],
        multi,
        gold=[expert_label_cell(v, multi_label=multi) for v in kept[result["gold_column"]].tolist()],
        method=method,
    )
