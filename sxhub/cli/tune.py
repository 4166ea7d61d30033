"""``sxhub tune``: fine-tune a small LLM into a synthetic model that labels and writes texts for a task."""

from __future__ import annotations

import click

from . import emit_json, is_quiet
from .params import OutputPath, threads_option


@click.command()
@click.argument("task", metavar="TASK", type=click.Path(dir_okay=False))
@click.argument("labelled", metavar="LABELLED")
@click.option("-o", "--output", "output_dir", required=True, type=OutputPath(folder=True), help="Model folder.")
@click.option(
    "--base", metavar="MODEL", help="Base causal LM: a folder, a .gguf file or a Hub id [SmolLM2-135M-Instruct]."
)
@click.option("--backend", type=click.Choice(["local", "autotrain"]), default="local", show_default=True)
@click.option("--label-column", help="The column with the labels to learn (e.g. an expert `gold` column).")
@click.option("--text-column", metavar="COLUMN", help="Column with the texts [text or a usual synonym].")
@click.option(
    "--epochs",
    type=float,
    default=1.0,
    show_default=True,
    help="Passes over the examples (whole ones with autotrain).",
)
@click.option("--learning-rate", type=float, default=5e-4, show_default=True)
@click.option("--group-size", type=int, default=8, show_default=True, help="Examples per step (sharing a prefix).")
@click.option("--lora-r", type=int, default=16, show_default=True, help="LoRA rank.")
@click.option("--lora-alpha", type=int, default=32, show_default=True)
@click.option("--lora-dropout", type=float, default=0.0, show_default=True)
@click.option(
    "--lora-layers",
    default="10",
    show_default=True,
    help="Adapt the top N decoder layers only (backward stops there), or `all`.",
)
@click.option(
    "--target-modules",
    default=",".join(("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")),
    show_default=True,
    help="Comma-separated layer names LoRA adapts.",
)
@click.option(
    "--writing",
    type=float,
    default=1.0,
    show_default=True,
    help="Writing examples per training text, balanced over the labels.",
)
@click.option(
    "--holdout",
    type=float,
    default=0.1,
    show_default=True,
    help="Held-out share (below 0.5) or number of texts, scored after training; 0: none.",
)
@click.option("--max-train", type=int, help="Train on at most this many texts.")
@click.option("--max-length", type=int, default=1024, show_default=True, help="Longer examples are left out.")
@threads_option("CPU threads for torch [all]")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the tune stopped part-way (Ctrl-C, SIGTERM, kill -9) from the last checkpoint it left in -o "
    "(adapter, optimizer, scheduler, RNG, step); it must tune the same examples, base, labels and options.",
)
@click.option("--restart", is_flag=True, help="Remove a stopped tune's checkpoint from -o and tune from the start.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout and nothing else.")
def tune(
    task: str,
    labelled: str,
    output_dir: str,
    base: str | None,
    backend: str,
    label_column: str | None,
    text_column: str | None,
    epochs: float,
    learning_rate: float,
    group_size: int,
    lora_r: int,
    lora_alpha: int,
    lora_dropout: float,
    lora_layers: str,
    target_modules: str,
    writing: float,
    holdout: float,
    max_train: int | None,
    max_length: int,
    threads: int | None,
    seed: int,
    resume: bool,
    restart: bool,
    as_json: bool,
) -> None:
    """Fine-tune a small LLM (LoRA) on LABELLED into a synthetic model for TASK: a teacher and a text generator.

    \b
    sxhub tune task.yaml labelled.csv -o fin-synth --label-column expert
    sxhub annotate task.yaml texts.csv -o out.parquet --teacher fin-synth
    sxhub generate task.yaml -o new.parquet --n 1000 --teacher fin-synth

    It learns to answer the teachers' labelling prompt with the JSON answer and to write a new text for a label
    (and topic). -o gets the merged model, sxhub.json (base, LoRA, data, task, held-out scores) and a card.
    """
    if holdout >= 1 and holdout != int(holdout):
        raise click.BadParameter(
            f"{holdout} is neither a share below 0.5 nor a whole number of texts.", param_hint="--holdout"
        )
    if threads:
        from ..torch_threads import set_torch_threads

        set_torch_threads(threads)
    from ..tune import TuneOptions
    from ..tune import tune as run_tune

    options = TuneOptions(
        base=base,
        backend=backend,
        epochs=epochs,
        learning_rate=learning_rate,
        group_size=group_size,
        lora_r=lora_r,
        lora_alpha=lora_alpha,
        lora_dropout=lora_dropout,
        target_modules=[m.strip() for m in target_modules.split(",") if m.strip()],
        lora_layers=None if lora_layers.strip().lower() == "all" else _positive_int(lora_layers, "--lora-layers"),
        writing=writing,
        holdout=int(holdout) if holdout >= 1 else holdout,
        max_train=max_train,
        max_length=max_length,
        seed=seed,
        resume=resume,
        restart=restart,
    )
    result = run_tune(  # -q: no bars, and AutoTrain's log (--backend autotrain) is not echoed on stderr
        task,
        labelled,
        output_dir,
        options,
        label_column=label_column,
        text_column=text_column,
        progress=not is_quiet(),
    )
    if as_json:
        emit_json({"output_dir": str(result.output_dir), **result.info})
    else:
        click.echo(result.summary_line())


def _positive_int(value: str, option: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a whole number (or `all`).", param_hint=option) from None
