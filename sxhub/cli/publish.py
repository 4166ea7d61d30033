"""``sxhub publish dataset|model|space|review|generator SOURCE``: push a repo to the Hub, or write its exact folder with ``--to``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..errors import PublishError
from .params import OutputPath, given, only_applies

# the targets each target's own option applies to (its --help says which); every other target ignored it
TARGETS_OF = {
    "--task": ("dataset", "review"),
    "--gold": ("dataset", "model", "space"),
    "--ledger": ("dataset", "model"),
    "--data": ("model", "space"),
    "--evaluation": ("model", "space"),
    "--benchmark": ("model", "space"),
    "--dataset-repo": ("model", "space", "review"),
    "--dataset-revision": ("model",),
    "--queue": ("review",),
    "--text-column": ("review",),
    "--model-repo": ("space",),
    "--seed": ("dataset", "model", "space"),
    "--test-size": ("dataset", "model", "space"),
}


def check_options(target: str, source: str, *, data: Path | None, to: Path | None) -> None:
    """Refuse an option that ``publish TARGET`` would ignore: another target's, a model's --data scoring options
    without --data, a Space's --data for a Hub model, and the push options with --to (which writes a folder and
    pushes nothing)."""
    for option, targets in TARGETS_OF.items():
        only_applies(
            option,
            f"to publish {' or '.join(targets)}, not publish {target}",
            f"drop {option}",
            when=target in targets,
        )
    if target in ("model", "space"):  # the seeded test split of --data, scored against its expert column
        for option in ("--gold", "--seed", "--test-size"):
            only_applies(
                option,
                f"to publish {target} with --data (the student is scored on the test split of --data)",
                f"add --data, or drop {option}",
                when=data is not None,
            )
    if target == "model":  # (a Space's --data also gives its example texts: it goes with --evaluation)
        only_applies(
            "--evaluation",
            "without --data (with --data, publish model scores the student on --data itself)",
            "drop --evaluation, or drop --data",
            when=data is None,
        )
    if target == "space":  # its example texts, picked from --data by the task the model folder records
        from ..repo import names_a_repo

        only_applies(
            "--data",
            "to publish space with a model folder as SOURCE (a Hub model id records no task to pick examples by)",
            "pass the model folder, or drop --data",
            when=Path(source).is_dir() or not names_a_repo(source),  # a folder mistyped: the library says so
        )
        # a Space scores --data only against --gold (else --data gives its example texts), and not over an
        # --evaluation, whose figures it shows instead
        for option in ("--seed", "--test-size"):
            only_applies(
                option,
                "to publish space with --gold (the student is scored on the test split of --data against it)",
                f"add --gold COLUMN, or drop {option}",
                when=given("--gold"),
            )
        only_applies(
            "--gold",
            "without --evaluation (with --evaluation, the Space shows the given figures)",
            "drop --gold, or drop --evaluation",
            when=not given("--evaluation"),
        )
    for option in ("--private", "--revision", "--token"):
        only_applies(
            option,
            "when pushing to the Hub (--repo-id without --to)",
            f"drop --to to push, or drop {option}",
            when=to is None,
        )


@click.command()
@click.argument("target", type=click.Choice(["dataset", "model", "space", "review", "generator"]))
@click.argument("source")
@click.option("--repo-id", help="NAMESPACE/NAME of the repo to push to (created unless it exists).")
@click.option(
    "--to",
    "to",
    type=OutputPath(folder=True, path_type=Path),
    help="Write the repo folder here instead of pushing.",
)
@click.option(
    "--task", "task", type=click.Path(dir_okay=False, path_type=Path), help="Task spec (needed for `dataset`)."
)
@click.option(
    "--private",
    is_flag=True,
    help="Make the repo private (an existing public one too, and said so); without it an existing repo keeps its "
    "visibility.",
)
@click.option(
    "--exist-ok",
    is_flag=True,
    help="Push a new commit to an existing repo (or write into a non-empty --to); files the last publish wrote "
    "and this one does not are deleted, others kept (in a repo, all files but .gitattributes are replaced).",
)
@click.option("--token", help="Hub token (default: HF_TOKEN or the saved `hf auth login`). Never written to a file.")
@click.option("--revision", help="Branch to push to; created from main when the repo has no branch of that name.")
@click.option(
    "--gold",
    help="Expert label column: scores teacher (and student) labels against it; a label's name reads a multi-label "
    "file's one true/false column per label.",
)
@click.option(
    "--ledger", type=click.Path(dir_okay=False, path_type=Path), help="The annotate run's <stem>.ledger.json (cost)."
)
@click.option(
    "--data",
    type=click.Path(dir_okay=False, path_type=Path),
    help="model/space: the labelled file (test split scores, examples).",
)
@click.option(
    "--evaluation",
    type=click.Path(dir_okay=False, path_type=Path),
    help="model/space: `sxhub evaluate --json` output.",
)
@click.option(
    "--benchmark",
    type=click.Path(dir_okay=False, path_type=Path),
    help="model/space: JSON with texts_per_s (and usd_per_hour).",
)
@click.option(
    "--dataset-repo", help="The dataset repo the model/Space links to (review: where the Space keeps decisions)."
)
@click.option(
    "--dataset-revision",
    help="model: the dataset commit the card cites (default when pushing: the dataset repo's latest commit).",
)
@click.option(
    "--queue",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="review: the queue `sxhub doubts` wrote (the texts' order, doubts and probabilities).",
)
@click.option(
    "--text-column",
    metavar="COLUMN",
    help="review: the column of texts in SOURCE [text or a usual synonym], as `sxhub review --text-column`.",
)
@click.option("--model-repo", help="space: the model repo the Space loads (default: the model folder is copied in).")
@click.option(
    "--seed", default=42, show_default=True, help="Split seed (the same for the dataset and the model card)."
)
@click.option(
    "--test-size",
    type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True),
    default=0.1,
    show_default=True,
    help="dataset, model: the test split's share (the same for both; sxhub run publishes with 0.2).",
)
def publish(
    target: str,
    source: str,
    repo_id: str | None,
    to: Path | None,
    task: Path | None,
    private: bool,
    exist_ok: bool,
    token: str | None,
    revision: str | None,
    gold: str | None,
    ledger: Path | None,
    data: Path | None,
    evaluation: Path | None,
    benchmark: Path | None,
    dataset_repo: str | None,
    dataset_revision: str | None,
    queue: Path | None,
    text_column: str | None,
    model_repo: str | None,
    seed: int,
    test_size: float,
) -> None:
    """Publish a labelled dataset, a trained student, or its Gradio Space on the Hub; prints the repo URL.

    \b
    sxhub publish dataset labelled.parquet --task task.yaml --repo-id me/fin-sent --gold expert
    sxhub publish model student/ --repo-id me/fin-sent-student --dataset-repo me/fin-sent --data labelled.parquet
    sxhub publish space student/ --repo-id me/fin-sent-demo --model-repo me/fin-sent-student
    sxhub publish review labelled.parquet --queue queue.parquet --repo-id me/fin-sent-review --dataset-repo me/fin-sent
    sxhub publish generator fin-synth/ --repo-id me/fin-sent-synth   (a synthetic model from `sxhub tune`)

    A review Space keeps decisions in --dataset-repo: give it an HF_TOKEN secret with write access to that dataset.
    """
    check_options(target, source, data=data, to=to)
    if to is not None:
        # pushing, a bare name is put in the token's namespace (sxhub.hub.with_namespace, publish.dataset_namespace);
        # --to asks no token, and the folder's card loaded the bare name (load_dataset("fin")) or named a dataset
        # repo it could not link, repos the upload later is never made as
        _refuse_bare_with_to("--repo-id", repo_id, "the folder would be written for the repo", "the folder")
        if target == "model":
            _refuse_bare_with_to(
                "--dataset-repo", dataset_repo, "the model card would name the dataset repo", "the dataset"
            )
    from .. import publish as pub

    common: dict[str, Any] = {
        "repo_id": repo_id,
        "to": to,
        "token": token,
        "private": private or None,
        "revision": revision,
        "exist_ok": exist_ok,
    }
    if target == "dataset":
        if task is None:
            raise PublishError("publish dataset needs the task spec: pass --task TASK.yaml.")
        where = pub.publish_dataset(
            source, spec=task, gold=gold, ledger=ledger, seed=seed, test_size=test_size, **common
        )
    elif target == "model":
        where = pub.publish_model(
            source,
            dataset_repo=dataset_repo,
            ledger=ledger,
            evaluation=evaluation,
            data=data,
            gold=gold,
            benchmark=benchmark,
            seed=seed,
            test_size=test_size,
            dataset_revision=dataset_revision,
            **common,
        )
    elif target == "generator":
        where = pub.publish_generator(source, **common)
    elif target == "review":
        from ..review import publish_review

        where = publish_review(
            source, dataset_repo=dataset_repo, queue=queue, spec=task, text_column=text_column, **common
        )
    else:
        where = pub.publish_space(
            source,
            model_repo=model_repo,
            dataset_repo=dataset_repo,
            data=data,
            evaluation=evaluation,
            benchmark=benchmark,
            gold=gold,
            seed=seed,
            test_size=test_size,
            **common,
        )
    click.echo(where)


def _refuse_bare_with_to(option: str, repo_id: str | None, what: str, uploaded: str) -> None:
    """One line for a repo id without a namespace given with ``--to`` (an invalid id keeps its own line)."""
    if repo_id is None or "/" in repo_id:
        return
    from ..repo import check_repo_id

    check_repo_id(repo_id)
    raise PublishError(
        f"{option} {repo_id!r} has no namespace, and with --to no token puts its own in front (as a push does): "
        f"{what} {repo_id!r}, which is no Hub repo; pass {option} NAMESPACE/NAME, the repo you will upload "
        f"{uploaded} to (e.g. 'your-name/{repo_id}')."
    )
