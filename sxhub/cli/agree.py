"""``sxhub agree``: score teacher labels against expert (gold) labels, and teachers against each other."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import pandas as pd

from ..data import find_text_column, is_missing_text, read_table, write_table
from ..errors import InputError
from ..labelled import (
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
from ..metrics import format_report, inter_rater_reliability, most_split, score
from ..reliability import VOTE_METHODS, decide_all, format_reliability, plain_votes, teacher_reliability
from ..vote import summarize
from . import emit_json
from .params import OutputPath, requires


def _pick_pred_column(df: pd.DataFrame, pred: str | None, spec_column: str | None) -> str:
    if pred is not None:
        if pred not in df.columns:
            raise InputError(f"--pred column {pred!r} not found; the file has columns {list(df.columns)[:20]}.")
        return pred
    for candidate in (spec_column, "label", "labels"):
        if candidate and candidate in df.columns:
            return candidate
    raise InputError(
        f"no 'label' or 'labels' column in columns {list(df.columns)[:20]}; name the teacher's column with --pred."
    )


def _looks_multi(column: str, values: Sequence[Any]) -> bool:
    """Multi-label when the column is ``labels`` or its cells are lists (or JSON lists in a CSV)."""
    if column == "labels":
        return True
    for value in values[:200]:
        if isinstance(value, (list, tuple)) or (hasattr(value, "tolist") and not isinstance(value, str)):
            return True
        if isinstance(value, str) and value.strip().startswith("["):
            return True
    return False


def _plain_votes(cell: Any) -> list[dict[str, Any]]:
    """A votes cell as plain dicts with list labels (parquet gives numpy arrays)."""
    cell = cell.tolist() if hasattr(cell, "tolist") and not isinstance(cell, str) else cell
    if isinstance(cell, str) and cell.strip().startswith("["):
        cell = json.loads(cell)
    if not isinstance(cell, list):
        return []
    votes = []
    for item in cell:
        vote: dict[str, Any] = dict(item)
        labels: Any = vote.get("labels")
        vote["labels"] = labels.tolist() if hasattr(labels, "tolist") else labels
        votes.append(vote)
    return votes


def _label_names(gold: list[Any], pred: list[Any], multi_label: bool, votes: Sequence[Any] = ()) -> list[str]:
    """Without a task: every name seen in the gold and label cells and in the votes, sorted (a vote for a label
    neither column holds is still a valid vote, not a failed one)."""
    cells = [*gold, *pred]
    names = {lab for cell in cells for lab in (cell if multi_label else [cell])}
    for cell in votes:
        for vote in _plain_votes(cell):
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
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Score ``pred_column`` against ``gold_column``; returns the result and the rows that were kept (not failed).

    Failed rows (``failed`` true) are left out and counted in ``n_failed``; the twins of a ``sxhub twins`` file
    that failed a check (``ok`` false) in ``n_flagged_twins``; rows whose text is empty or NaN (when
    there is a text column) in ``n_empty_text``; rows whose gold or predicted cell is empty in ``n_missing`` (for
    multi-label too: no label at all is written ``[]``).
    """
    if gold_column not in df.columns:
        raise InputError(
            f"gold column {gold_column!r} not found; the file has columns {list(df.columns)[:20]}; pass --gold with "
            "one of them."
        )
    if gold_column == pred_column:
        raise InputError(
            f"--gold {gold_column!r} is also the column being scored; pass --pred with the teacher's label column, "
            "or --gold with the experts' one."
        )
    failed = failed_flags(df["failed"]) if "failed" in df.columns else pd.Series(False, index=df.index)
    # a twin that failed a check may carry a label it lost (or a name it kept): scored, it was the teacher's miss
    flagged = flagged_twins(df)
    kept = df[~(failed | flagged)].reset_index(drop=True)
    kept = kept.copy()
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
            "--gold with the column that holds them"
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
        _refuse_flag_gold(gold_column, kept[gold_column].tolist(), pred, multi_label)
        _refuse_numbers_beside_names(gold, pred, multi_label, gold_column, pred_column)
        names = _label_names(gold, pred, multi_label, kept["votes"].tolist() if "votes" in kept.columns else ())
        _refuse_names_that_differ_in_case(names, gold_column, pred_column)
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


def _refuse_flag_gold(gold_column: str, cells: list[Any], pred: list[Any], multi_label: bool) -> None:
    """Without a task, a gold column of true/false cells beside label names is one label's flag column (GoEmotions'
    layout): scored as label sets, every text's experts' labels would be "1" or "0"."""
    values = {str(v).strip().lower() for v in cells if not (isinstance(v, float) and v != v)}
    named = {str(lab) for cell in pred if cell is not None for lab in (cell if multi_label else [cell])}
    if values and values <= FLAG_CELLS and named and not named & FLAG_CELLS:
        raise InputError(
            f"--gold {gold_column!r} holds true/false cells, not label names: pass --task TASK.yaml to read the "
            "experts' labels from the file's one true/false column per label, or --gold with a column of label names."
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


def _refuse_names_that_differ_in_case(names: Sequence[str], gold_column: str, pred_column: str) -> None:
    """Without a task the labels are the names the cells hold: an expert's ``Positive`` (or ``positive ``) beside the
    teacher's ``positive`` would be two labels, and every such text scored as a disagreement."""
    seen: dict[str, str] = {}
    for name in names:
        other = seen.setdefault(name.strip().casefold(), name)
        if other != name:
            raise InputError(
                f"labels {other!r} and {name!r} in {gold_column!r} / {pred_column!r} differ only in case or spaces, so "
                "they would be scored as two labels; write them alike in the file, or pass --task TASK.yaml (its names are "
                "matched ignoring case and spaces)."
            )


def _drop_rows_without_text(df: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Rows with a text (a file without a text column is kept whole) and the number left out."""
    try:
        column = find_text_column(df)
    except InputError:
        return df, 0
    no_text = df[column].map(is_missing_text).astype(bool)  # an empty frame maps to an object Series
    return df[~no_text].reset_index(drop=True), int(no_text.sum())


def _add_vote_figures(result: dict[str, Any], kept: pd.DataFrame, method: str = "majority") -> None:
    """Alpha between (teacher, sample) raters and the vote summary, decided by ``method`` (``--vote``'s rule, else
    majority), when the file has a ``votes`` column."""
    if "votes" not in kept.columns:
        return
    votes_column = [_plain_votes(cell) for cell in kept["votes"].tolist()]
    alpha, note, n_coders = inter_rater_reliability(votes_column, result["labels"], result["multi_label"])
    decisions = decide_all(votes_column, result["labels"], result["multi_label"], method=method)
    result.update(inter_rater_alpha=alpha, inter_rater_note=note, n_raters=n_coders, votes=summarize(decisions))


def _revote(df: pd.DataFrame, pred: str, method: str, spec: Any, gold_column: str) -> pd.DataFrame:
    """``df`` with ``pred`` (and ``failed``) re-decided from its votes by ``method``."""
    if "votes" not in df.columns:
        raise InputError(
            f"--vote {method} needs a 'votes' column (sxhub annotate writes it); this file has {list(df.columns)[:20]}."
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


def _review_rows(kept: pd.DataFrame, result: dict[str, Any], top: int) -> list[dict[str, Any]]:
    if "votes" not in kept.columns and "agreement" not in kept.columns:
        raise InputError(
            "--review needs a 'votes' or 'agreement' column (sxhub annotate writes both); this file has "
            f"{list(kept.columns)[:20]}."
        )
    text_column = find_text_column(kept)
    key = "labels" if result["multi_label"] else "label"
    rows = []
    for record in kept.to_dict(orient="records"):
        row = {
            "text": record[text_column],
            key: parse_label_cell(record[result["pred_column"]], multi_label=key == "labels"),
        }
        row["gold"] = record[result["gold_column"]]
        if "votes" in record:
            row["votes"] = _plain_votes(record["votes"])
        if "agreement" in record:
            row["agreement"] = record["agreement"]
        rows.append(row)
    return most_split(rows, top)


@click.command()
@click.argument("labelled", metavar="LABELLED")
@click.option(
    "--gold",
    "gold_column",
    required=True,
    metavar="COLUMN",
    help="Column with the expert labels; with --task, 'labels' (or any label's name) reads them from one "
    "true/false column per label.",
)
@click.option("--pred", "pred_column", metavar="COLUMN", help="Column with the teacher's labels [label or labels].")
@click.option(
    "--task",
    type=click.Path(exists=True, dir_okay=False),
    help="Task spec: gives the label order and multi_label (else labels are sorted and guessed from the cells).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout and nothing else.")
@click.option("--review", type=OutputPath(), help="Write the texts whose votes split most to this CSV.")
@click.option("--top", default=50, show_default=True, type=click.IntRange(min=1), help="Rows in --review.")
@click.option(
    "--vote",
    type=click.Choice(VOTE_METHODS),
    help="Re-decide the labels from the votes column by this rule and score those (default: the label column).",
)
@click.option("--text-column", metavar="COLUMN", help="Column with the texts [text or a usual synonym].")
def agree(
    labelled: str,
    gold_column: str,
    pred_column: str | None,
    task: str | None,
    as_json: bool,
    review: str | None,
    top: int,
    vote: str | None,
    text_column: str | None,
) -> None:
    """Score teacher labels in LABELLED against expert labels in --gold.

    LABELLED is any csv/jsonl/parquet file with a text column and label columns (sxhub annotate's output or your
    own). Prints accuracy, macro-F1 (micro-F1 for multi-label), Krippendorff's alpha against gold (and between the
    teachers' samples when there is a votes column), per-label precision/recall/F1 and the confusion matrix.
    Failed rows, and the twins of a `sxhub twins` file that failed a check (ok false), are left out and counted.
    Gold cells are label names; for multi-label a JSON list or
    comma-separated names. With a votes column it also shows each teacher's reliability, and each sample's:
    agreement with the final vote, and accuracy, macro-F1 and alpha against gold, per label too.
    """
    from ..spec import load_spec
    from ..tables import refuse_input_as_output

    requires("--top", "--review", when=review is not None)
    refuse_input_as_output(review, labelled, "--review")
    spec = load_spec(task) if task else None
    df = read_table(labelled)
    if text_column is not None:  # the rows without a text and --review's texts are read from "text"
        if text_column not in df.columns:
            raise InputError(
                f"--text-column {text_column!r} is not a column of {labelled!r}; its columns are "
                f"{list(df.columns)[:20]}."
            )
        df = df.rename(columns={"text": "text_input"} if text_column != "text" else {}).rename(
            columns={text_column: "text"}
        )
    if spec is not None:
        # the experts' labels as one true/false column per label (GoEmotions' layout), when --gold names them
        df, gold_column = gold_from_flag_columns(df, spec.label_names, spec.multi_label, gold_column)
        # else the teachers' labels in that layout (the 4P tweets')
        df = with_flag_labels(df, spec.label_names, spec.multi_label, column=spec.label_column)
    pred = _pick_pred_column(df, pred_column, spec.label_column if spec else None)
    if spec is not None and gold_column == pred and has_flag_columns(df, spec.label_names, spec.multi_label):
        # --gold's help says 'labels' reads them, but here 'labels' is the teachers' column (annotate --keep-column)
        raise InputError(
            f"--gold {gold_column!r} is the teachers' column of {Path(labelled).name}; its experts' labels are the "
            f"true/false columns {', '.join(spec.label_names[:4])}{', ...' if len(spec.label_names) > 4 else ''}: "
            f"pass --gold {spec.label_names[0]!r} (any label's name reads them all)."
        )
    if vote:
        df = _revote(df, pred, vote, spec, gold_column)
    result, kept = compare(
        df,
        gold_column=gold_column,
        pred_column=pred,
        label_names=spec.label_names if spec else None,
        multi_label=spec.multi_label if spec else None,
    )
    _add_vote_figures(result, kept, vote or "majority")
    _add_reliability(result, kept, vote or f"the {pred!r} column")
    result["title"] = f"Agreement of {pred!r} with gold {gold_column!r} ({Path(labelled).name})"
    if review:
        rows = _review_rows(kept, result, top)
        write_table(pd.DataFrame(rows, columns=["text", "label", "gold", "agreement", "n_answers", "votes"]), review)
        result["review"] = {"path": str(review), "n": len(rows)}
        click.echo(f"wrote the {len(rows)} most split texts to {review}", err=True)
    if as_json:
        emit_json(result)
    else:
        click.echo(format_report(result))
        if "reliability" in result:
            click.echo(format_reliability(result["reliability"]))
