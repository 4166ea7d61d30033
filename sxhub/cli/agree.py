"""``sxhub agree``: score teacher labels against expert (gold) labels, and teachers against each other."""

from __future__ import annotations

from typing import Any

import click
import pandas as pd

from ..agreement import score_labelled
from ..data import find_column, find_text_column, write_table
from ..errors import InputError
from ..labelled import parse_label_cell
from ..metrics import format_report, most_split
from ..reliability import VOTE_METHODS, format_reliability, plain_votes
from . import emit_json, say
from .params import OutputPath, requires


def _review_rows(kept: pd.DataFrame, result: dict[str, Any], top: int) -> list[dict[str, Any]]:
    if "votes" not in kept.columns and "agreement" not in kept.columns:
        raise InputError(
            "--review needs a 'votes' or 'agreement' column (sxhub annotate writes both); this file has "
            f"{list(kept.columns)[:20]}."
        )
    text_column = find_text_column(kept)
    id_column = find_column(kept.columns, "id")
    key = "labels" if result["multi_label"] else "label"
    rows = []
    for position, record in zip(kept.index, kept.to_dict(orient="records"), strict=True):
        row = {
            "row": int(position),
            **({"id": record[id_column]} if id_column else {}),
            "text": record[text_column],
            key: parse_label_cell(record[result["pred_column"]], multi_label=key == "labels"),
        }
        row["gold"] = record[result["gold_column"]]
        if "votes" in record:
            row["votes"] = plain_votes(record["votes"])
        if "agreement" in record:
            row["agreement"] = record["agreement"]
        rows.append(row)
    return most_split(rows, top)


def _write_review(rows: list[dict[str, Any]], kept: pd.DataFrame, path: str) -> None:
    """The rows --review picked: ``row`` (0-based, in LABELLED, as the doubts queue's) and the input's ``id`` under
    its own name (as annotate keeps it) first, so that each is found in the file by more than its text."""
    id_column = find_column(kept.columns, "id")
    columns = ["row", *(["id"] if id_column else []), "text", "label", "gold", "agreement", "n_answers", "votes"]
    table = pd.DataFrame(rows, columns=columns)
    write_table(table.rename(columns={"id": id_column} if id_column else {}), path)


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
    from ..tables import refuse_input_as_output

    requires("--top", "--review", when=review is not None)
    refuse_input_as_output(review, labelled, "--review")
    report, kept = score_labelled(
        labelled, gold=gold_column, pred=pred_column, task=task, vote=vote, text_column=text_column, flags=True
    )
    result: dict[str, Any] = dict(report)
    if review:
        rows = _review_rows(kept, result, top)
        _write_review(rows, kept, review)
        result["review"] = {"path": str(review), "n": len(rows)}
        say(f"wrote the {len(rows)} most split texts to {review}")
    if as_json:
        emit_json(result)
    else:
        click.echo(format_report(result))
        if "reliability" in result:
            click.echo(format_reliability(result["reliability"]))
