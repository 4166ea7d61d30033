"""``sxhub review`` (the review app) and ``sxhub apply-review`` (corrections back into the dataset)."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import InputError
from . import emit_json, say
from .params import OutputPath, only_applies


@click.command()
@click.argument("labelled", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--queue",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The queue `sxhub doubts` wrote: texts in its order, with doubt, signals and probabilities.",
)
@click.option("--reviewer", help="Your name, saved with every decision (default: your login name).")
@click.option(
    "--port", type=click.IntRange(1, 65535), help="Port to serve on (default: the first free one from 7860)."
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on (0.0.0.0: the network).")
@click.option(
    "--task",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Task spec: label order and definitions.",
)
@click.option(
    "--decisions",
    type=OutputPath(path_type=Path, lock=False),
    help="Decisions file (append-only JSONL; default: <LABELLED stem>.decisions.jsonl beside LABELLED).",
)
@click.option("--text-column", metavar="COLUMN", help="Column with the texts [text or a usual synonym].")
def review(
    labelled: Path,
    queue: Path | None,
    reviewer: str | None,
    port: int | None,
    host: str,
    task: Path | None,
    decisions: Path | None,
    text_column: str | None,
) -> None:
    """Review the teacher's labels in the browser, one text at a time; prints the app's URL.

    Every decision is saved at once with the reviewer and the time; a restart resumes where each reviewer stopped.
    Apply the decisions with `sxhub apply-review LABELLED DECISIONS -o OUT`.

    \b
    sxhub doubts labelled.parquet -o queue.parquet
    sxhub review labelled.parquet --queue queue.parquet --reviewer alice
    """
    from ..errors import require
    from ..review import decisions_path, launch_review
    from ..space import check_host

    require(["gradio"], "sxhub review", "space")  # before the decisions line: a missing extra is the only line
    check_host(host)  # a bad host too
    from ..tables import refuse_input_as_output

    for source in (labelled, queue):  # decision lines appended to the labelled file (or the queue) broke it
        refuse_input_as_output(decisions, source, "--decisions")
    where = decisions or decisions_path(labelled)
    say(f"decisions: {where}")
    launch_review(
        labelled,
        queue=queue,
        spec=task,
        reviewer=reviewer,
        decisions=where,
        host=host,
        port=port,
        text_column=text_column,
    )


@click.command("apply-review")
@click.argument("labelled", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("decisions")
@click.option("-o", "--output", type=OutputPath(path_type=Path), help="Write the corrected file here.")
@click.option("--in-place", is_flag=True, help="Overwrite LABELLED instead of writing -o.")
@click.option(
    "--task", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Task spec: checks the labels."
)
@click.option("--token", help="Hub token to read decisions from a dataset repo (default: HF_TOKEN or the login).")
@click.option("--text-column", metavar="COLUMN", help="Column with the texts [text or a usual synonym].")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary on stdout.")
def apply_review(
    labelled: Path,
    decisions: str,
    output: Path | None,
    in_place: bool,
    task: Path | None,
    token: str | None,
    text_column: str | None,
    as_json: bool,
) -> None:
    """Set the reviewers' labels in LABELLED; DECISIONS is a decisions file, a folder of them, or the dataset repo
    a review Space writes to.

    Per text the reviewers' majority decides; a tie keeps the teacher's label and is listed. Writes `label_source`
    (teacher/human), `reviewers`, and the teacher's label in `teacher_label` (`teacher_labels`).

    \b
    sxhub apply-review labelled.parquet labelled.decisions.jsonl -o reviewed.parquet
    sxhub apply-review labelled.parquet me/fin-sent --in-place
    """
    from ..review_apply import apply_review as apply

    local = Path(decisions).expanduser()
    only_applies(
        "--token",
        "when DECISIONS is a dataset repo (NAMESPACE/NAME), not a file or folder here",
        "drop --token",
        when=not (local.is_file() or local.is_dir()),
    )
    if (output is None) == (not in_place):
        raise InputError("say where to write: pass -o OUT, or --in-place to overwrite LABELLED (not both).")
    from ..tables import refuse_input_as_output, refuse_others_ledger

    if not in_place:
        refuse_input_as_output(output, labelled, "-o (use --in-place to replace LABELLED)")
        assert output is not None
        if local.is_file() and output.expanduser().resolve() == local.resolve():  # the only record of their work
            raise InputError(
                f"-o {str(output)!r} is the DECISIONS file: writing it would replace the reviewers' decisions; pass "
                "another path."
            )
        # OUT's ledger names its list columns for publish dataset (AppliedReview.write): never over another output's
        refuse_others_ledger(output, tail="-reviewed")
    result = apply(labelled, decisions, spec=task, token=token, text_column=text_column)
    out = labelled if in_place else output
    assert out is not None
    result.write(out)  # a CSV's ledger too, for publish dataset
    summary = {**result.summary(), "output": str(out)}
    if as_json:
        emit_json(summary)
        return
    ties = f"; {len(result.ties)} tie(s) kept the teacher's label (rows {result.ties[:20]})" if result.ties else ""
    click.echo(
        f"{result.n_decisions} decision(s) by {len(result.reviewers)} reviewer(s): {result.n_reviewed} text(s) "
        f"now labelled by people, {result.n_changed} changed{ties}; wrote {out} ({summary['rows']} row(s): "
        f"{summary['reviewed']} labelled by people, {summary['by_teachers']} by the teachers, "
        f"{summary['unlabelled']} with no label)"
    )
