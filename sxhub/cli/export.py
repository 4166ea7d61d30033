"""``sxhub export``: ONNX (and int8) export beside the weights, with an agreement and speed check."""

from __future__ import annotations

import click

from . import emit_json
from .params import locks_output, requires


@click.command()
@click.argument("model_dir", metavar="MODEL_DIR", type=click.Path(file_okay=False), callback=locks_output)
@click.option("--int8", is_flag=True, help="Also write onnx/model_int8.onnx (int8 weights, see --quantization).")
@click.option(
    "--data",
    metavar="PATH_OR_ID",
    help="The training data, or unlabelled texts like those the model will serve (a file or a Hub dataset id): "
    "--check-n of them check agreement and speed, up to 1,000 others fit the int8 recipe. Without it a few built-in "
    "sentences are checked and int8 is not made the default.",
)
@click.option("--text-column", metavar="COLUMN", help="Column of --data with the texts [text or a usual synonym].")
@click.option(
    "--check-n",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="With --data: how many of its texts to check on.",
)
@click.option(
    "--quantization",
    type=click.Choice(["auto", "per-channel", "smooth", "mixed", "dynamic", "static"]),
    default="auto",
    show_default=True,
    help="int8 recipe; auto tries each in turn until one gives the fp32 label on >= 99.5% of the texts. smooth: "
    "per-channel after moving the activations' range into the weights (SmoothQuant, fitted on --data); mixed: "
    "per-channel with the MatMuls that int8 moves most kept fp32 (ranking them takes a minute or two).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout and nothing else.")
def export(
    model_dir: str,
    int8: bool,
    data: str | None,
    text_column: str | None,
    check_n: int,
    quantization: str,
    as_json: bool,
) -> None:
    """Export the student in MODEL_DIR to MODEL_DIR/onnx/model.onnx (and model_int8.onnx), check how often each
    export gives the torch model's label and how fast it runs here, and record both (and which variant is the
    default) in sxhub.json for the model card."""
    requires("--quantization", "--int8", when=int8)
    requires("--check-n", "--data", when=data is not None)  # without it, every built-in sample text is checked
    requires("--text-column", "--data", when=data is not None)
    from ..export import export_onnx

    result = export_onnx(
        model_dir, int8=int8, data=data, text_column=text_column, check_n=check_n, quantization=quantization
    )
    if as_json:
        emit_json(result.to_dict())
    else:
        click.echo("\n".join(result.summary_lines()))
