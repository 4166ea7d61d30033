"""``sxhub run``: the whole pipeline, from a task spec and raw texts to three repos and a report."""

from __future__ import annotations

from pathlib import Path

import click

from ..progress import bars_off
from ..spec import SERVER_KINDS
from . import check_pause_after, doing, emit_json, min_agreement_option, vote_option
from .params import OutputPath, given, only_applies, requires, resumable_after_option, threads_option


@click.command("run")
@click.argument("task", type=click.Path(dir_okay=False))
@click.argument("input_path", metavar="INPUT")
@click.option("--gold", help="Column of expert labels in INPUT: scores teacher and student against them.")
@click.option(
    "--keep-column",
    "keep_columns",
    multiple=True,
    help="Input column to keep in the labelled dataset, e.g. an id to join the labels back on (repeatable).",
)
@click.option(
    "--out",
    "out",
    type=OutputPath(folder=True),
    default="out",
    show_default=True,
    help="Folder for every stage's output, the repo folders and the report.",
)
@click.option("--push", metavar="NAMESPACE", help="Push dataset, model and Space to the Hub under this user/org.")
@click.option("--private", is_flag=True, help="Make the Hub repos private, new or existing (with --push).")
@click.option("--exist-ok", is_flag=True, help="Update repos that already exist instead of failing.")
@click.option(
    "--teacher", "teachers", multiple=True, help="Teacher(s) instead of the spec's: local, a Hub id or a URL."
)
@click.option(
    "--server",
    type=click.Choice(SERVER_KINDS),
    help="The kind of server behind the teachers' base_url (default: detected from its routes).",
)
@click.option(
    "--samples", type=click.IntRange(1, 64), help="Self-consistency samples per teacher (default: the spec's)."
)
@vote_option
@click.option(
    "--concurrency", type=click.IntRange(1, 512), default=8, show_default=True, help="Teacher requests in flight."
)
@click.option("--text-column", help="Column holding the texts (default: text or a usual synonym).")
@click.option("--limit", type=click.IntRange(1), help="Only the first N rows of INPUT.")
@click.option("--base", "base_model", help="Student base model: a local folder or Hub id (default: all-MiniLM-L6-v2).")
@click.option("--backend", type=click.Choice(["local", "autotrain"]), default="local", show_default=True)
@click.option(
    "--epochs",
    type=float,
    default=10.0,
    show_default=True,
    help="Most epochs: training ends sooner once validation stops improving (early stopping).",
)
@min_agreement_option
@click.option(
    "--min-steps",
    type=click.IntRange(0),
    default=100,
    show_default=True,
    help="On small sets, raise epochs to this many optimizer steps (0: never); as train --min-steps.",
)
@resumable_after_option(
    "Minutes of training after which its checkpoints can be continued by running the same command again (they "
    "then hold the optimizer state too); as train --resumable-after."
)
@threads_option("CPU threads for training and prediction")
@click.option("--no-int8", is_flag=True, help="Skip the int8 ONNX export.")
@click.option(
    "--retrain",
    is_flag=True,
    help="Train the student anew even when OUT/model holds the one an earlier run trained on the same labels, task "
    "and options (reused by default with its ONNX export, e.g. to finish a failed --push); exports it anew too.",
)
@click.option(
    "--cache-dir", type=OutputPath(folder=True, lock=False), help="Label cache folder (default: $SXHUB_CACHE)."
)
@click.option(
    "--pause-after",
    is_flag=True,
    help="Pause the teachers' Inference Endpoints once annotate is done (even when it fails).",
)
@click.option(
    "--cpu-usd-per-hour",
    type=click.FloatRange(min=0),
    help="Price of the CPU machine the student runs on (card's $ figure).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object on stdout.")
def run(
    task: str,
    input_path: str,
    gold: str | None,
    keep_columns: tuple[str, ...],
    out: str,
    push: str | None,
    private: bool,
    exist_ok: bool,
    teachers: tuple[str, ...],
    server: str | None,
    samples: int | None,
    vote: str | None,
    concurrency: int,
    text_column: str | None,
    limit: int | None,
    base_model: str | None,
    backend: str,
    epochs: float,
    min_agreement: float | None,
    min_steps: int,
    resumable_after: float,
    threads: int | None,
    no_int8: bool,
    retrain: bool,
    cache_dir: str | None,
    pause_after: bool,
    cpu_usd_per_hour: float | None,
    as_json: bool,
) -> None:
    """Annotate INPUT with the teachers of TASK, train a student, evaluate, export and publish it.

    Without --push the three repos (dataset, model, Space) are written as folders under OUT/repos; the report is
    OUT/report.md (and report.json).
    """
    requires("--private", "--push NAMESPACE", when=push is not None)  # without it the repos are folders
    # the report's "10 epochs raised to 50 to reach 100 optimizer steps (--min-steps)" named an option run lacked
    only_applies(
        "--min-steps",
        "with --backend local (AutoTrain does not raise the epochs on small sets)",
        "drop --min-steps, or train with --backend local",
        when=backend == "local",
    )
    only_applies(
        "--resumable-after",
        "with --backend local (AutoTrain keeps no checkpoint to continue)",
        "drop --resumable-after, or train with --backend local",
        when=backend == "local",
    )
    if given("--pause-after"):
        from ..spec import load_spec

        spec = load_spec(task)
        check_pause_after(spec.with_teachers(list(teachers)) if teachers else spec)
    from ..pipeline import RunConfig, run_pipeline

    config = RunConfig(
        out=Path(out),
        gold=gold,
        keep_columns=list(keep_columns),
        text_column=text_column,
        teachers=list(teachers),
        server=server,
        samples=samples,
        vote=vote,
        concurrency=concurrency,
        limit=limit,
        base_model=base_model,
        backend=backend,
        epochs=epochs,
        min_agreement=min_agreement,
        min_steps=min_steps,
        resumable_after=resumable_after,
        threads=threads,
        push=push,
        private=private,
        exist_ok=exist_ok,
        int8=not no_int8,
        retrain=retrain,
        cpu_usd_per_hour=cpu_usd_per_hour,
        cache_dir=cache_dir,
        pause_after=pause_after,
        progress=not bars_off(),
        on_stage=doing,
    )
    report = run_pipeline(task, input_path, config)
    if as_json:
        emit_json(report)
        return
    click.echo((Path(out) / "report.md").read_text(encoding="utf-8"))
