"""``sxhub train``: fine-tune the student on labelled texts."""

from __future__ import annotations

import click
from click.core import ParameterSource

from ..errors import UserError
from . import emit_json, min_agreement_option
from .params import OutputPath, only_applies, requires, resumable_after_option, threads_option


@click.command()
@click.argument("task", metavar="TASK", type=click.Path(dir_okay=False))
@click.argument("labelled", metavar="LABELLED")
@click.option("-o", "--output", "output_dir", required=True, type=OutputPath(folder=True), help="Model folder.")
@click.option(
    "--base",
    "base_model",
    metavar="PATH_OR_ID",
    help="Base model [all-MiniLM-L6-v2 from sxhub[student]]. A student folder continues its training (its head "
    "kept for the same labels, reordered by name, else fresh).",
)
@click.option("--backend", type=click.Choice(["local", "autotrain"]), default="local", show_default=True)
@click.option(
    "--epochs",
    type=float,
    default=10.0,
    show_default=True,
    help="Most epochs: training ends sooner once validation stops improving (early stopping) or at --max-minutes.",
)
@click.option("--soft-labels", is_flag=True, help="Learn the teachers' vote shares instead of the winning label.")
@min_agreement_option
@click.option("--batch-size", type=int, help="Texts per step [16 below 2,000 texts, 32 below 20,000, else 64].")
@click.option("--learning-rate", type=float, help="[1e-4 for MiniLM-sized bases, 5e-5 up to BERT-base, 2e-5 above].")
@click.option(
    "--max-minutes", type=float, default=60.0, show_default=True, help="Cap on training time (best checkpoint kept)."
)
@click.option(
    "--search",
    "search_trials",
    type=click.IntRange(min=1),
    help="Hyperparameter search: N trials with Optuna (learning rate, batch size, weight decay); the best is kept. "
    "A --batch-size or --learning-rate you give is kept and not searched. Ctrl-C keeps the best finished trial.",
)
@click.option(
    "--search-minutes",
    type=click.FloatRange(min=0, min_open=True),
    help="With --search: a cap on the whole search; no trial starts after it, and the one under way stops at it.",
)
@click.option("--max-length", type=int, help="Tokens per text [95th percentile of the training texts].")
@click.option(
    "--layers",
    type=click.IntRange(min=1),
    help="A thinner, faster student: keep the base's first N transformer layers [all]. Prediction time scales "
    "about linearly with depth.",
)
@click.option(
    "--distill",
    metavar="MODEL_DIR",
    help="Also learn this trained classifier's softened outputs on the training texts (knowledge distillation): "
    "typically a --layers student learning from a full-depth one.",
)
@click.option("--distill-temperature", type=float, default=2.0, show_default=True, help="With --distill: softening.")
@click.option(
    "--distill-weight",
    type=float,
    default=0.5,
    show_default=True,
    help="With --distill: the teacher's share of the loss.",
)
@click.option(
    "--bf16",
    is_flag=True,
    help="bfloat16 mixed precision (weights stay fp32): about 1.5x faster on CPUs with AVX-512 BF16 or AMX.",
)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--no-class-weights", is_flag=True, help="Do not reweight rare labels in the loss.")
@click.option("--val-size", type=float, default=0.1, show_default=True, help="Share of rows held out for validation.")
@click.option(
    "--validation",
    metavar="FILE",
    help="Validate on this labelled file (early stopping, the checkpoint kept, thresholds) instead of --val-size "
    "of LABELLED, and train on every row of LABELLED: e.g. expert-labelled texts beside teacher-labelled ones.",
)
@threads_option("CPU threads for torch [all]")
@click.option(
    "--min-steps", type=int, default=100, show_default=True, help="On small sets, raise epochs to this many steps."
)
@click.option(
    "--text-column",
    metavar="COLUMN",
    help="Column with the texts, in LABELLED and --validation [text or a usual synonym].",
)
@click.option(
    "--label-column",
    metavar="COLUMN",
    help="Column with the labels to learn, in LABELLED and --validation (e.g. an expert `gold` column) [label or "
    "labels, or one 0/1 column per label].",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the run stopped part-way (Ctrl-C, SIGTERM, kill -9) from the last checkpoint it left in -o "
    "(optimizer, scheduler, RNG, epoch and step); it must train the same data, base, labels and options.",
)
@click.option("--restart", is_flag=True, help="Remove a stopped run's checkpoint from -o and train from the start.")
@resumable_after_option(
    "Minutes of training after which every epoch is checkpointed with the optimizer state (3x the weights), "
    "so --resume can continue it; before, only the best epochs' weights are saved and a run stopped then starts over. "
    "0: from the first epoch."
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
    min_agreement: float | None,
    batch_size: int | None,
    learning_rate: float | None,
    max_minutes: float,
    search_trials: int | None,
    search_minutes: float | None,
    max_length: int | None,
    layers: int | None,
    distill: str | None,
    distill_temperature: float,
    distill_weight: float,
    bf16: bool,
    seed: int,
    no_class_weights: bool,
    val_size: float,
    validation: str | None,
    threads: int | None,
    min_steps: int,
    text_column: str | None,
    label_column: str | None,
    resume: bool,
    restart: bool,
    resumable_after: float,
    as_json: bool,
) -> None:
    """Fine-tune a student classifier on LABELLED (text + label/labels) for the task in TASK.

    Writes a transformers model folder to -o that from_pretrained and pipeline("text-classification") load, with
    sxhub.json (labels, thresholds, training figures).
    """
    from ..train import train as run_train
    from ..train_config import TrainConfig

    requires("--search-minutes", "--search N", when=search_trials is not None)
    requires("--distill-temperature", "--distill", when=distill is not None)
    if search_trials is not None and (resume or restart):
        raise UserError(
            f"{'--resume' if resume else '--restart'} applies to one training; --search trains its trials anew: "
            f"drop {'--resume' if resume else '--restart'} or --search."
        )
    requires("--distill-weight", "--distill", when=distill is not None)
    only_applies(
        "--resumable-after",
        "to one training (--search trains its trials anew and keeps no checkpoint of them)",
        "drop --resumable-after, or --search",
        when=search_trials is None,
    )
    for option, why in (
        ("--no-class-weights", "AutoTrain's loss has no class weights"),
        ("--min-steps", "AutoTrain does not raise the epochs on small sets"),
        ("--threads", "AutoTrain trains in a process of its own"),
        ("--resumable-after", "AutoTrain keeps no checkpoint in -o to resume from"),
    ):
        only_applies(
            option,
            f"with --backend local ({why})",
            f"drop {option}, or train with --backend local",
            when=backend == "local",
        )
    given = click.get_current_context().get_parameter_source("val_size") is not ParameterSource.DEFAULT
    if validation is not None and given:
        raise UserError("--val-size and --validation both choose the validation rows; pass one of them.")
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
        min_agreement=min_agreement,
        val_size=val_size,
        validation_file=validation,
        text_column=text_column,
        label_column=label_column,
        threads=threads,
        min_steps=min_steps,
        max_minutes=max_minutes,
        layers=layers,
        distill=distill,
        distill_temperature=distill_temperature,
        distill_weight=distill_weight,
        bf16=bf16,
        resume=resume,
        restart=restart,
        resumable_after=resumable_after,
    )
    if search_trials:
        from ..search import search

        result = search(task, labelled, config, trials=search_trials, minutes=search_minutes)
    else:
        result = run_train(task, labelled, config)
    from ..distributed import is_main_process

    if not is_main_process():
        return  # under torchrun / accelerate launch every process trains; rank 0 alone saves and reports
    if as_json:
        emit_json(result.to_dict())
    else:
        click.echo(result.summary_line())
