"""``sxhub export``: ONNX (and int8) export beside the weights, with an agreement check."""

from __future__ import annotations

import click

from . import emit_json


@click.command()
@click.argument("model_dir", metavar="MODEL_DIR", type=click.Path(file_okay=False))
@click.option("--int8", is_flag=True, help="Also write onnx/model_int8.onnx (dynamic int8 quantisation).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout and nothing else.")
def export(model_dir: str, int8: bool, as_json: bool) -> None:
    """Export the student in MODEL_DIR to MODEL_DIR/onnx/model.onnx (and model_int8.onnx) and check that the
    exports give the same labels as the torch model."""
    from ..export import export_onnx

    result = export_onnx(model_dir, int8=int8)
    if as_json:
        emit_json(result.to_dict())
    else:
        click.echo("\n".join(result.summary_lines()))
