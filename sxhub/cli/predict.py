"""``sxhub predict``: label a file of texts with the student."""

from __future__ import annotations

import click

from . import emit_json


@click.command()
@click.argument("model_dir", metavar="MODEL_DIR", type=click.Path(file_okay=False))
@click.argument("input_path", metavar="INPUT")
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False), help="Output file (.csv/.jsonl/.parquet)."
)
@click.option("--onnx", is_flag=True, help="Run the ONNX export (sxhub export) with ONNX Runtime.")
@click.option("--int8", is_flag=True, help="With --onnx: the int8-quantised export.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--text-column", metavar="COLUMN", help="Column with the texts [text or a usual synonym].")
@click.option("--threads", type=click.IntRange(min=1), help="CPU threads [all].")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout and nothing else.")
def predict(
    model_dir: str,
    input_path: str,
    output: str,
    onnx: bool,
    int8: bool,
    batch_size: int,
    text_column: str | None,
    threads: int | None,
    as_json: bool,
) -> None:
    """Label every text of INPUT with the student in MODEL_DIR; writes the input columns plus label(s) and
    one prob_<label> column per label to -o."""
    from ..errors import UserError
    from ..predict import predict_file

    if int8 and not onnx:
        raise UserError("--int8 runs the quantised ONNX export; add --onnx (and run sxhub export --int8 first).")
    summary = predict_file(
        model_dir,
        input_path,
        output,
        onnx=onnx,
        int8=int8,
        batch_size=batch_size,
        text_column=text_column,
        threads=threads,
    )
    if as_json:
        emit_json(summary.to_dict())
    else:
        click.echo(summary.summary_line())
