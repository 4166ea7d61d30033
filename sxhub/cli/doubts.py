"""``sxhub doubts``: rank every labelled text by how likely its label is wrong, without expert labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..errors import InputError
from ..metrics import md_cell
from . import emit_json, say
from .params import OutputPath, only_applies


def _short(value: Any, width: int = 70) -> str:
    text = " ".join(str(value).split()).replace("|", "/")
    return text if len(text) <= width else text[: width - 1] + "…"


def _top_table(queue: Any, label_column: str, top: int) -> list[str]:
    lines = ["| doubt | row | label | suggested | text |", "|---:|---:|---|---|---|"]
    for record in queue.head(top).to_dict(orient="records"):
        label, suggested = record[label_column], record["suggested"]
        if isinstance(label, list):
            label, suggested = ", ".join(label) or "(none)", ", ".join(suggested) or "(none)"
        label, suggested = md_cell(label), md_cell(suggested)
        lines.append(f"| {record['doubt']:.3f} | {record['row']} | {label} | {suggested} | {_short(record['text'])} |")
    return lines


@click.command("doubts")
@click.argument("labelled", metavar="LABELLED")
@click.option(
    "-o",
    "--out",
    "queue_path",
    required=True,
    type=OutputPath(path_type=Path),
    help="The queue to write (.parquet, .csv or .jsonl).",
)
@click.option("--folds", type=int, default=5, show_default=True, help="Cross-fitting folds of the out-of-fold model.")
@click.option(
    "--task",
    type=click.Path(exists=True, dir_okay=False),
    help="Task spec: gives the label order and multi_label (else the labels seen, and multi-label for 'labels').",
)
@click.option("--model", "model", help="Embedding model folder (default: the packaged all-MiniLM-L6-v2).")
@click.option("--text-column", help="Column holding the texts (default: text or a usual synonym).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the fold split.")
@click.option("--top", type=click.IntRange(min=0), default=10, show_default=True, help="Rows shown in the report.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object on stdout.")
def doubts(
    labelled: str,
    queue_path: Path,
    folds: int,
    task: str | None,
    model: str | None,
    text_column: str | None,
    seed: int,
    top: int,
    as_json: bool,
) -> None:
    """Rank the rows of LABELLED by how likely their label is wrong, and write them to the queue -o QUEUE.

    LABELLED is any csv/jsonl/parquet file with a text column and label (or labels), optionally votes or agreement
    (sxhub annotate's output or your own). Signals: the vote split, out-of-fold disagreement of an embedding +
    logistic-regression model cross-fitted over --folds folds, and cleanlab's label quality on those
    probabilities. The queue holds every labelled row (not the twins of a `sxhub twins` file that failed a
    check, ok false: left out and counted), highest doubt first, with the signals and a suggested
    label; rows with doubt >= 0.5 are counted as doubtful.
    """
    from ..doubts import find_doubts, write_queue
    from ..spec import load_spec

    only_applies(
        "--top",
        "without --json (it sets the rows of the printed report)",
        "drop --json, or drop --top",
        when=not as_json,
    )
    if folds < 2:
        raise InputError(f"--folds {folds} must be at least 2 (e.g. --folds 5).")
    if queue_path.suffix.lower() not in {".parquet", ".csv", ".jsonl"}:  # checked before the work, not after
        raise InputError(f"-o {queue_path}: use .parquet, .csv or .jsonl for the queue.")
    from ..tables import refuse_input_as_output

    refuse_input_as_output(queue_path, labelled, "-o")
    spec = load_spec(task) if task else None
    result = find_doubts(
        labelled,
        label_names=spec.label_names if spec else None,
        multi_label=spec.multi_label if spec else None,
        folds=folds,
        model=model,
        text_column=text_column,
        seed=seed,
    )
    path = write_queue(result, queue_path)
    summary = {**result.summary, "queue": str(path)}
    say(result.summary_line() + f"; queue: {path}")
    if as_json:
        emit_json(summary)
        return
    label_column = result.summary["label_column"]
    lines = [
        f"## Doubts ({Path(labelled).name})",
        "",
        result.summary_line(),
        "",
        f"Signals: {', '.join(summary['signals'])}. Queue: `{path}`.",
        "",
    ]
    if top:
        lines += [
            f"### The {min(top, len(result.queue))} most doubtful",
            "",
            *_top_table(result.queue, label_column, top),
        ]
    click.echo("\n".join(lines))
