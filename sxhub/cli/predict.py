"""``sxhub predict``: label a file of texts with the student."""

from __future__ import annotations

from typing import Any

import click

from . import emit_json, is_quiet, say
from .params import OutputPath, requires, threads_option


@click.command()
@click.argument("model_dir", metavar="MODEL_DIR", type=click.Path(file_okay=False))
@click.argument("input_path", metavar="INPUT")
@click.option(
    "-o",
    "--output",
    default="-",
    type=OutputPath(allow_dash=True),
    help="Output file (.csv/.tsv/.jsonl/.json/.parquet); - or none: JSON lines on stdout, one per text, in input "
    "order.",
)
@click.option("--onnx", is_flag=True, help="Run the ONNX export (sxhub export) with ONNX Runtime.")
@click.option("--int8", is_flag=True, help="With --onnx: the int8-quantised export.")
@click.option(
    "--no-recheck",
    is_flag=True,
    help="With --int8: do not rerun in fp32 the near-ties int8 might label differently (sxhub export fits the margin; "
    "rerunning them keeps fp32's labels on them at the cost of a few texts run twice).",
)
@click.option(
    "--bf16",
    is_flag=True,
    help="torch in bfloat16 (autocast): about 2.5x faster on CPUs with AVX-512 BF16 or AMX; sxhub export measures "
    "its agreement with fp32.",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--text-column", metavar="COLUMN", help="Column with the texts [text or a usual synonym].")
@threads_option("CPU threads [all; with --engine ray: per student actor, 1]")
@click.option("--offset", type=click.IntRange(min=0), default=0, help="Skip the first N rows of INPUT.")
@click.option("--limit", type=click.IntRange(min=1), help="Only N rows of INPUT (after --offset).")
@click.option("--shard", metavar="I/N", help="Only shard I of N (rows whose position is I modulo N), e.g. 0/4.")
@click.option(
    "--engine",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="ray: Ray Data reads INPUT, an actor pool of students labels it, Parquet is written (-o .parquet).",
)
@click.option(
    "--address",
    help="With --engine ray: the Ray cluster to join (default $RAY_ADDRESS, else one `ray start` left running here "
    "that answers, else a local one for the run; local: always a new one).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="With --engine ray: student actors, each running --threads threads on a CPU each [as many as the cluster's "
    "CPUs hold].",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout and nothing else.")
def predict(
    model_dir: str,
    input_path: str,
    output: str,
    onnx: bool,
    int8: bool,
    no_recheck: bool,
    bf16: bool,
    batch_size: int,
    text_column: str | None,
    threads: int | None,
    offset: int,
    limit: int | None,
    shard: str | None,
    engine: str,
    address: str | None,
    workers: int | None,
    as_json: bool,
) -> None:
    """Label every text of INPUT with the student in MODEL_DIR; writes the input columns plus label(s) and
    one prob_<label> column per label to -o.

    INPUT is a .csv, .tsv, .jsonl, .json or .parquet file, a Hub dataset id, or texts one per line: a .txt file, or
    - for stdin (an empty line is a text left unlabelled, as an empty cell is). Without -o (or with -o -) the
    results go to stdout as JSON lines, a chunk of 8,192 texts at a time; the summary goes to stderr."""
    from ..errors import UserError
    from ..predict_files import predict_file
    from ..stream import RowSlice

    to_stdout = output == "-"
    if to_stdout and as_json:
        raise UserError(
            "--json prints the summary on stdout, where the results go without -o; pass -o FILE, or drop --json."
        )
    requires("--address", "--engine ray", when=engine == "ray")
    requires("--workers", "--engine ray", when=engine == "ray")
    requires("--no-recheck", "--int8", when=int8)
    if int8 and not onnx:
        raise UserError("--int8 runs the quantised ONNX export; add --onnx (and run sxhub export --int8 first).")
    if bf16 and onnx:
        raise UserError(
            "--bf16 runs the torch model in bfloat16; drop --onnx, or drop --bf16 (--onnx --int8 is the fast ONNX variant)."
        )
    rows = RowSlice.parse(offset=offset, limit=limit, shard=shard)
    from ..tables import refuse_input_as_output

    if not to_stdout:
        refuse_input_as_output(output, input_path, "-o")
    options: dict[str, Any] = {
        "onnx": onnx,
        "int8": int8,
        "bf16": bf16,
        "batch_size": batch_size,
        "text_column": text_column,
        "threads": threads,
        "recheck": not no_recheck,
    }
    if engine == "ray":
        from ..ray_predict import predict_ray

        summary = predict_ray(
            model_dir,
            input_path,
            output,
            address=address,
            workers=workers,
            rows=rows,
            progress=not is_quiet(),
            **options,
        )
    else:
        from ..predict_files import StdoutClosed

        try:
            summary = predict_file(model_dir, input_path, output, rows=rows, **options)  # type: ignore[arg-type]
        except StdoutClosed:  # `sxhub predict ... | head`: the reader has what it wanted; no traceback, no line
            import contextlib
            import os
            import sys

            with contextlib.suppress(OSError, ValueError):  # Python's exit flush of stdout would fail again
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(141)  # 128 + SIGPIPE, as a shell reports any program the closed pipe stopped
    if as_json:
        emit_json(summary.to_dict())
    elif to_stdout:  # the results hold stdout: the summary is an informational line on stderr
        say(summary.summary_line())
    else:
        click.echo(summary.summary_line())
