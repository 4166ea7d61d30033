"""Publish: the labelled dataset, the student and its Space as Hugging Face Hub repos.

Each ``publish_*`` function first writes the exact repo folder (cards, plots, data files), then either leaves it in
``to`` (offline review) or uploads it in one commit (:func:`sxhub.hub.publish_folder`). The dataset itself is built
in :mod:`sxhub.dataset_build`, the model repo's folder (its card and the figures it states) in :mod:`sxhub.student_repo`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .cards import LABEL_PLOT, plot_label_distribution, render_dataset_card
from .commits import dataset_commit, generator_commit, model_commit, space_commit
from .dataset_build import build_dataset as build_dataset  # sxhub.publish.build_dataset, as before the split
from .dataset_build import release_arrow_memory, with_flag_gold
from .dataset_card import agreement_facts, dataset_card_data, dataset_context, label_counts
from .errors import PublishError, SpecError
from .hub import publish_folder
from .hub_read import hub_model_record, latest_revision, warn_unloadable_model
from .repo import (
    NOT_PUBLISHED,
    card_load_id,
    check_model_dir,
    check_namespaced,
    check_repo_id,
    copy_tree,
    generator_without_local_paths,
    model_info,
    names_a_repo,
)
from .space_folder import check_space_export, write_space_folder
from .spec import TaskSpec, load_spec
from .student_repo import _eval_note, evaluate_student, write_model_folder

logger = logging.getLogger(__name__)


# ==============================================================================================================
# the labelled dataset
# ==============================================================================================================
def write_dataset_folder(
    source: str | os.PathLike[str] | pd.DataFrame,
    spec: TaskSpec | str | os.PathLike[str],
    folder: Path,
    *,
    repo_id: str,
    gold: str | None = None,
    ledger: str | Path | Mapping[str, Any] | None = None,
    seed: int = 42,
    test_size: float = 0.1,
    revision: str | None = None,
) -> Path:
    """Write the dataset repo folder: ``data/<split>-00000-of-00001.parquet``, ``README.md``, the plot.

    Without ``ledger``, the file's own ledger beside it (``<stem>.ledger.json``, which annotate, twins and
    apply-review leave, naming the file as their ``output``) gives the card its cost table: the card said "No cost
    ledger was given" for a file whose ledger lay beside it, which publish read already for the CSV's list columns."""
    spec = load_spec(spec)
    if ledger is None and isinstance(source, (str, os.PathLike)):
        from .tables import ledger_path, own_ledger

        ledger = own_ledger(source)
        if ledger is not None:
            logger.info(
                "the card's cost table reads %s, the ledger beside the file (--ledger names another)",
                ledger_path(source),
            )
    source, gold = with_flag_gold(source, spec, gold)
    dd, facts = build_dataset(source, spec, seed=seed, test_size=test_size, gold=gold)  # checks gold's column
    (folder / "data").mkdir(parents=True, exist_ok=True)
    for name in dd:  # no loop name left holding a split past its release below
        dd[name].to_parquet(str(folder / "data" / f"{name}-00000-of-00001.parquet"))
    counts = label_counts(facts["splits"], spec)
    plot_label_distribution(counts, spec.label_names, folder / LABEL_PLOT)
    card_data = dataset_card_data(
        dd,
        spec,
        repo_id=repo_id,
        has_votes="votes" in facts["frame"].columns,
        download_size=sum(f.stat().st_size for f in (folder / "data").glob("*.parquet")),
    )
    sizes = {name: len(ds) for name, ds in dd.items()}
    # The splits are written and what the card states of them taken: released before the card's figures, which
    # read the votes of the whole frame. They held a second copy of every vote and the texts as Arrow (~470 MB of
    # the 2.1 GB peak for 1M texts) while the reliability figures made the command's peak.
    del dd, facts["splits"]
    release_arrow_memory()
    agreement = agreement_facts(facts["frame"], spec)
    card = render_dataset_card(
        card_data,
        **dataset_context(
            spec, sizes, facts, counts, agreement, repo_id=repo_id, gold=gold, ledger=ledger, revision=revision
        ),
    )
    card.save(folder / "README.md")
    return folder


def publish_dataset(
    source: str | os.PathLike[str] | pd.DataFrame,
    *,
    spec: TaskSpec | str | os.PathLike[str],
    repo_id: str | None = None,
    to: str | os.PathLike[str] | None = None,
    token: str | None = None,
    private: bool | None = None,
    revision: str | None = None,
    exist_ok: bool = False,
    gold: str | None = None,
    ledger: str | Path | Mapping[str, Any] | None = None,
    seed: int = 42,
    test_size: float = 0.1,
) -> str:
    """Publish a labelled file as a dataset repo (``load_dataset(repo_id)`` loads it); returns the URL or folder."""
    spec = load_spec(spec, name="spec")
    spec.card_license()  # a license the Hub refuses: before the data is split and the card made
    spec.card_language()
    return publish_folder(
        lambda folder, rid: write_dataset_folder(
            source,
            spec,
            folder,
            repo_id=rid,
            gold=gold,
            ledger=ledger,
            seed=seed,
            test_size=test_size,
            revision=revision if to is None else None,  # the branch pushed to; --to pushes nothing
        ),
        repo_type="dataset",
        default_name=spec.name,
        repo_id=repo_id,
        to=to,
        token=token,
        private=private,
        revision=revision,
        exist_ok=exist_ok,
        commit=dataset_commit,
    )


# ==============================================================================================================
# the model
# ==============================================================================================================
def check_model_license(model_dir: Path) -> None:
    """The license a model folder's cards would declare, refused in one line where the Hub refuses it. The folder's
    task (and its license) was saved by ``sxhub train`` into its ``sxhub.json``, so the line says to fix it there: a
    folder trained before the licenses were checked carries the task's license as written."""
    saved = str(model_dir / "sxhub.json")
    spec = model_info(model_dir)[1]
    for what, check, fix in (
        ("license", spec.card_license,
         "edit 'license' (or add 'license_link') under its \"task\" there, or train again with the fixed task spec."),
        ("language", spec.card_language, "edit 'language' under its \"task\" there."),
    ):  # fmt: skip
        try:
            check()
        except SpecError as exc:
            raise SpecError(
                f"{exc} The {what} comes from the task saved in {saved!r} when the model was trained: {fix}"
            ) from exc


def publish_model(
    model_dir: str | os.PathLike[str],
    *,
    repo_id: str | None = None,
    to: str | os.PathLike[str] | None = None,
    token: str | None = None,
    private: bool | None = None,
    revision: str | None = None,
    exist_ok: bool = False,
    dataset_repo: str | None = None,
    ledger: str | Path | Mapping[str, Any] | None = None,
    evaluation: str | Path | Mapping[str, Any] | None = None,
    data: str | os.PathLike[str] | pd.DataFrame | None = None,
    gold: str | None = None,
    benchmark: str | Path | Mapping[str, Any] | None = None,
    seed: int = 42,
    dataset_revision: str | None = None,
    test_size: float = 0.1,
) -> str:
    """Publish a trained student folder as a model repo with its card; returns the repo URL or the folder.

    ``data`` (the labelled file, with ``gold`` its expert column) scores the student on the same seeded test split
    the dataset repo has (``seed`` and ``test_size`` as the dataset was published with: ``sxhub run`` uses 0.2);
    ``evaluation`` passes figures from ``sxhub evaluate --json`` instead. The card cites
    ``dataset_revision`` of ``dataset_repo``; when pushing without one, the dataset repo's latest commit.
    """
    src = check_model_dir(model_dir)
    check_model_license(src)  # a license the Hub refuses: before the student is scored for the card
    # the repo ships onnx/: a stale export (weights saved after sxhub export) would be served by a Space loading the
    # repo by id (its app.py has no sxhub to hash the weights) and by anyone loading the ONNX file
    check_space_export(src, served_by="a Space of the repo (and anyone loading its ONNX files)")
    if dataset_repo is not None:
        check_repo_id(dataset_repo)
        if to is None and "/" not in dataset_repo:  # pushed as the token's, as `publish dataset --repo-id NAME` is
            # (the card named a bare 'NAME', linking nothing, and a warning said the dataset just pushed was not there)
            dataset_repo = dataset_namespace(dataset_repo, token=token)
        if dataset_revision is None and to is None:
            dataset_revision = latest_revision(dataset_repo, token=token)
    return publish_folder(
        lambda folder, rid: write_model_folder(
            src,
            folder,
            repo_id=rid,
            dataset_repo=dataset_repo,
            ledger=ledger,
            evaluation=evaluation,
            data=data,
            gold=gold,
            benchmark=benchmark,
            seed=seed,
            dataset_revision=dataset_revision,
            test_size=test_size,
            revision=revision if to is None else None,  # the branch pushed to; --to pushes nothing
        ),
        repo_type="model",
        default_name=model_info(src)[1].name,
        repo_id=repo_id,
        to=to,
        token=token,
        private=private,
        revision=revision,
        exist_ok=exist_ok,
        source=src,
        commit=lambda folder: model_commit(folder, dataset_repo=dataset_repo, dataset_revision=dataset_revision),
    )


def dataset_namespace(dataset_repo: str, *, token: str | None) -> str:
    """A bare ``--dataset-repo NAME`` of a model being pushed, with the token's namespace in front (said so)."""
    from .hub import hub_api, hub_errors, resolve_token

    with hub_errors(f"finding the namespace of the token for --dataset-repo {dataset_repo!r}"):
        user = str(hub_api(resolve_token(token)).whoami()["name"])
    logger.warning(
        "--dataset-repo %r has no namespace: the model card links %r, the token's own",
        dataset_repo,
        f"{user}/{dataset_repo}",
    )
    return f"{user}/{dataset_repo}"


# ==============================================================================================================
# the synthetic model (sxhub tune)
# ==============================================================================================================
def publish_generator(
    model_dir: str | os.PathLike[str],
    *,
    repo_id: str | None = None,
    to: str | os.PathLike[str] | None = None,
    token: str | None = None,
    private: bool | None = None,
    revision: str | None = None,
    exist_ok: bool = False,
) -> str:
    """Publish a synthetic model folder (``sxhub tune``) as a model repo with its card; returns the URL or folder.

    The repo holds the merged weights, tokenizer and ``sxhub.json``; ``AutoModelForCausalLM.from_pretrained(repo_id)``
    loads it. The card (base model, LoRA settings, the data it learned from, held-out scores) is rendered again
    for the repo id.
    """
    from .model_folder import INCOMPLETE
    from .teachers.synthetic_folder import read_info
    from .tune_record import write_card

    src = check_model_dir(model_dir, made_by="sxhub tune")  # a missing folder was sent to `sxhub train`
    if (src / INCOMPLETE).exists():  # a retune stopped part-way: "not a synthetic model" sent users away
        raise PublishError(
            f"synthetic model {str(src)!r} is incomplete: a `sxhub tune` that was replacing its model was stopped "
            "part-way, so it may hold files of two models; run `sxhub tune` into it again."
        )
    info = read_info(src)
    if info is None:
        raise PublishError(
            f"{str(src)!r} is not a synthetic model (no sxhub.json of kind 'synthetic-model'); pass the folder "
            "`sxhub tune` wrote (a student from `sxhub train` is published with `sxhub publish model`)."
        )

    _check_generator_loads(src)
    info = generator_without_local_paths(info)

    def write(folder: Path, rid: str) -> None:
        copy_tree(src, folder, ignore=NOT_PUBLISHED)
        (folder / "sxhub.json").write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        # a bare name (--to without --repo-id) loads NAMESPACE/name, the placeholder publish_folder's warning names
        write_card(folder, info, repo_id=card_load_id(rid), revision=revision if to is None else None)

    return publish_folder(
        write,
        repo_type="model",
        default_name=src.resolve().name,
        repo_id=repo_id,
        to=to,
        token=token,
        private=private,
        revision=revision,
        exist_ok=exist_ok,
        source=src,
        commit=generator_commit,
    )


def _check_generator_loads(src: Path) -> None:
    """The folder's config and weights (their header) are whole and its tokenizer loads: a repo whose card says
    ``from_pretrained`` loads it must, and a cut-short copy published with exit 0."""
    from .errors import TeacherUnavailableError
    from .teachers.synthetic_folder import check_synthetic_model

    try:
        check_synthetic_model(src)
    except TeacherUnavailableError as exc:
        raise PublishError(str(exc)) from exc
    from transformers import AutoTokenizer

    try:
        AutoTokenizer.from_pretrained(src)
    except (OSError, ValueError) as exc:
        raise PublishError(
            f"synthetic model {str(src)!r}: its tokenizer does not load ({str(exc)[:120]}); copy the folder "
            "`sxhub tune` wrote again, or rerun `sxhub tune`."
        ) from exc


# ==============================================================================================================
# the Space
# ==============================================================================================================
def publish_space(
    model: str | os.PathLike[str],
    *,
    repo_id: str | None = None,
    to: str | os.PathLike[str] | None = None,
    token: str | None = None,
    private: bool | None = None,
    revision: str | None = None,
    exist_ok: bool = False,
    model_repo: str | None = None,
    dataset_repo: str | None = None,
    data: str | os.PathLike[str] | pd.DataFrame | None = None,
    examples: Sequence[str] | None = None,
    title: str | None = None,
    evaluation: str | Path | Mapping[str, Any] | None = None,
    benchmark: str | Path | Mapping[str, Any] | None = None,
    gold: str | None = None,
    seed: int = 42,
    test_size: float = 0.1,
) -> str:
    """Publish the Gradio Space that runs ``model`` (a local folder or a Hub id); returns the URL or the folder.

    The Space serves ``onnx/model_int8.onnx`` when the model has one, and shows the expert's teachers, scores
    (``evaluation``, e.g. ``sxhub evaluate --json``; else, with ``gold``, the student scored on the test split of
    ``data`` as the model card scores it; else the training validation figures), speed (``benchmark``) and its repos.
    """
    if not Path(model).is_dir() and not model_repo:
        if not names_a_repo(str(model)):  # a mistyped folder became a Space for a Hub model of that name
            raise PublishError(
                f"model {str(model)!r} is neither a model folder here nor a Hub model id (owner/name); pass the "
                "folder sxhub train wrote, or the model's repo id."
            )
        check_repo_id(str(model))
    if model_repo is not None:
        check_namespaced(model_repo, "--model-repo", use="loads")
    if dataset_repo is not None:
        check_namespaced(dataset_repo, "--dataset-repo", use="links")
    if Path(model).is_dir():  # a license the Hub refuses, an export of other weights: before the student is scored
        check_model_license(check_model_dir(model))
        if not model_repo:  # the Space ships this folder's onnx/ and serves it
            check_space_export(Path(model))
    split: str | None = None  # the dataset split --gold's figures are on (train: too few texts for a test split)
    if gold is not None and evaluation is None:
        if data is None or not Path(model).is_dir():
            raise PublishError(
                "publish space --gold scores a local model folder on the test split of --data: pass --data with the "
                "labelled file (or --evaluation from `sxhub evaluate --gold COLUMN --json`)."
            )
        src = check_model_dir(model)
        _, spec = model_info(src)
        evaluation, measured, held_out = evaluate_student(
            src, data, spec, {}, gold=gold, seed=seed, test_size=test_size
        )
        benchmark = benchmark if benchmark is not None else measured
        # which test texts were left out, and how many chose the checkpoint: the model card's words (the Space
        # called these figures "held-out" when the student had validated on them, or might have trained on them)
        split = held_out["split"]
        note = _eval_note(split, held_out, gold=gold)
    elif gold is not None:  # the given figures would be shown, and gold silently unused
        raise PublishError("publish space takes gold or evaluation, not both: the Space shows one set of figures.")
    else:
        note = None
    loads = model_repo or (None if Path(model).is_dir() else str(model))  # the Hub model the Space loads by id
    hub_record = None
    if loads is not None and to is None:
        warn_unloadable_model(loads, token=token)
        if not Path(model).is_dir():  # its task, teachers and scores, as a local folder gives them
            hub_record = hub_model_record(loads, token=token)
            if hub_record is None or not hub_record.get("task"):
                logger.warning(
                    "%r has no sxhub.json with its task that this token can read: the Space shows stand-in "
                    "examples (financial news; pass --examples) and no task description.",
                    loads,
                )
    return publish_folder(
        lambda folder, rid: write_space_folder(
            model,
            folder,
            repo_id=rid,
            model_repo=model_repo,
            dataset_repo=dataset_repo,
            data=data,
            examples=examples,
            title=title,
            evaluation=evaluation,
            benchmark=benchmark,
            note=note,
            split=split,
            hub_record=hub_record,
        ),
        repo_type="space",
        default_name=Path(str(model)).name,
        repo_id=repo_id,
        to=to,
        token=token,
        private=private,
        revision=revision,
        exist_ok=exist_ok,
        source=None if model_repo else model,  # a local model folder is copied into model/ without --model-repo
        commit=space_commit,
    )
