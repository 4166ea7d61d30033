"""``sxhub evaluate``: score the student against expert labels (same metrics as ``sxhub agree``)."""

from __future__ import annotations

import click

from . import emit_json


@click.command()
@click.argument("model_dir", metavar="MODEL_DIR", type=click.Path(file_okay=False))
@click.argument("data", metavar="DATA")
@click.option(
    "--gold",
    "gold_column",
    metavar="COLUMN",
    help="Column with the expert labels [label/labels]; 'labels' or a label's name reads a multi-label "
    "file's one true/false column per label.",
)
@click.option("--text-column", metavar="COLUMN", help="Column with the texts [text or a usual synonym].")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--onnx", is_flag=True, help="Use the ONNX export (sxhub export) instead of torch.")
@click.option("--int8", is_flag=True, help="With --onnx: the int8-quantised export (sxhub export --int8), as predict.")
@click.option(
    "--no-recheck",
    is_flag=True,
    help="With --int8: do not rerun in fp32 the near-ties int8 might label differently (as predict --no-recheck).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout and nothing else.")
def evaluate(
    model_dir: str,
    data: str,
    gold_column: str | None,
    text_column: str | None,
    batch_size: int,
    onnx: bool,
    int8: bool,
    no_recheck: bool,
    as_json: bool,
) -> None:
    """Predict the texts of DATA with the student in MODEL_DIR and score them against the --gold column."""
    from ..errors import UserError
    from ..evaluate import evaluate as run_evaluate
    from ..metrics import format_report
    from .params import requires

    requires("--no-recheck", "--int8", when=int8)
    if int8 and not onnx:
        raise UserError("--int8 scores the quantised ONNX export; add --onnx (and run sxhub export --int8 first).")
    result = run_evaluate(
        model_dir,
        data,
        gold=gold_column,
        text_column=text_column,
        batch_size=batch_size,
        onnx=onnx,
        int8=int8,
        recheck=not no_recheck,
    )
    if as_json:
        emit_json(result)
    else:
        click.echo(format_report(result))
