"""``sxhub train``: fine-tune the student on labelled texts."""

from __future__ import annotations

import click

from . import emit_json


@click.command()
@click.argument("task", metavar="TASK", type=click.Path(dir_okay=False))
@click.argument("labelled", metavar="LABELLED")
@click.option("-o", "--output", "output_dir", required=True, type=click.Path(file_okay=False), help="Model folder.")
@click.option("--base", "base_model", metavar="PATH_OR_ID", help="Base model [all-MiniLM-L6-v2 from sxhub[student]].")
@click.option("--backend", type=click.Choice(["local", "autotrain"]), default="local", show_default=True)
@click.option(
    "--epochs", type=float, default=3.0, show_default=True, help="Most epochs (early stopping may end sooner)."
)
@click.option("--soft-labels", is_flag=True, help="Learn the teachers' vote shares instead of the winning label.")
@click.option("--batch-size", type=int, default=16, show_default=True)
@click.option("--learning-rate", type=float, default=5e-5, show_default=True)
@click.option("--max-length", type=int, help="Tokens per text [95th percentile of the training texts].")
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--no-class-weights", is_flag=True, help="Do not reweight rare labels in the loss.")
@click.option("--val-size", type=float, default=0.1, show_default=True, help="Share of rows held out for validation.")
@click.option("--threads", type=int, help="CPU threads for torch [all].")
@click.option(
    "--min-steps", type=int, default=100, show_default=True, help="On small sets, raise epochs to this many steps."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout and nothing else.")
def train(
    task: str,
    labelled: str,
    output_dir: str,
    base_model: str | None,
    backend: str,
    epochs: float,
    soft_labels: bool,
    batch_size: int,
    learning_rate: float,
    max_length: int | None,
    seed: int,
    no_class_weights: bool,
    val_size: float,
    threads: int | None,
    min_steps: int,
    as_json: bool,
) -> None:
    """Fine-tune a student classifier on LABELLED (text + label/labels) for the task in TASK.

    Writes a transformers model folder to -o that from_pretrained and pipeline("text-classification") load, with
    sxhub.json (labels, thresholds, training figures).
    """
    from ..train import TrainConfig
    from ..train import train as run_train

    config = TrainConfig(
        output_dir=output_dir,
        base_model=base_model,
        backend=backend,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        max_length=max_length,
        seed=seed,
        class_weights=not no_class_weights,
        soft_labels=soft_labels,
        val_size=val_size,
        threads=threads,
        min_steps=min_steps,
    )
    result = run_train(task, labelled, config)
    if as_json:
        emit_json(result.to_dict())
    else:
        click.echo(result.summary_line())
