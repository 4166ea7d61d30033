"""The student's model repo folder: its files, its card, and the evaluation figures and notes the card states.

:func:`write_model_folder` copies a student folder from ``sxhub train`` and adds its card and confusion plot;
:func:`evaluate_student` scores the student on the dataset's seeded test split without the texts it was trained on
(the Space's ``--gold`` figures too), and the notes say where a card's figures come from. ``sxhub.publish`` pushes
the folder (``publish_model``); this module does not import it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from . import __version__, trained_texts
from .cards import against_column, agreeing, comparison_name, fmt, load_ledger, reference_name, table_cell
from .data import find_column
from .dataset_build import build_dataset, with_flag_gold
from .dataset_card import check_gold_column
from .errors import PublishError
from .recipe import LENGTH_SAMPLE
from .repo import (
    DEFAULT_EXAMPLE,
    card_load_id,
    card_revision,
    check_model_dir,
    copy_model,
    evaluated_against,
    given_evaluations,
    hub_endpoint,
    hub_link_id,
    is_evaluate_result,
    load_json_arg,
    model_info,
    without_local_paths,
)
from .spec import TaskSpec


def evaluate_student(
    model_dir: Path,
    data: str | os.PathLike[str] | pd.DataFrame,
    spec: TaskSpec,
    info: Mapping[str, Any],
    *,
    gold: str | None,
    seed: int,
    limit: int = 2000,
    test_size: float = 0.1,
) -> tuple[dict[str, dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """Score the student on the dataset's test split (the same seeded split the dataset repo has), without the texts
    it was trained on (``sxhub.trained_texts``), and its speed; the third value says what was left out, and how many
    of the texts scored were its validation texts (never trained on, but they chose the epoch kept and the
    thresholds: for a student trained on this very file with the default split they are the whole test split, since
    both splits are the same seeded stratified 10%).

    A file too small for a test split (fewer than 10 texts, or a ``test_size`` that rounds to no row) makes a dataset
    of one train split: all its texts are scored, and ``held_out["split"]`` is then ``"train"``, so that the card
    says so (it said "test split" of figures on every text).
    """
    from .evaluate import compare_on_split, measure_speed
    from .model_info import read_model_info
    from .predict import Predictor

    source, gold = with_flag_gold(data, spec, gold)
    _, facts = build_dataset(source, spec, seed=seed, test_size=test_size)
    split = "test" if "test" in facts["splits"] else "train"
    part = facts["splits"][split]
    if gold is not None:
        gold = find_column(part.columns, gold) or gold  # "--gold expert" reads "Expert", as publish dataset does
        check_gold_column(gold, spec, part.columns)
    was = trained_texts.seen(model_dir, part["text"].tolist(), read_model_info(model_dir).preprocessing)
    held_out: dict[str, Any] = {
        "n_test": len(part),
        "split": split,
        "checked": was is not None,
        "votes": "votes" in part.columns,
    }
    if was is not None:
        held_out |= was.counts()
        if was.trained.all():
            where = "the test split" if split == "test" else "the texts (too few for a test split)"
            raise PublishError(
                f"the student was trained on all {len(part)} texts of {where} of {data}, so the card would "
                "state no held-out score: give --data a labelled file with texts it never saw, or --evaluation from "
                "`sxhub evaluate --json` on such texts."
            )
        part = part[~was.trained]
    predictor = Predictor(model_dir)
    results = compare_on_split(predictor, part.head(limit), spec, gold=gold)
    return results, measure_speed(predictor, facts["frame"]["text"].tolist()), held_out


def write_model_folder(
    model_dir: str | os.PathLike[str],
    folder: Path,
    *,
    repo_id: str,
    dataset_repo: str | None = None,
    ledger: str | Path | Mapping[str, Any] | None = None,
    evaluation: str | Path | Mapping[str, Any] | None = None,
    data: str | os.PathLike[str] | pd.DataFrame | None = None,
    gold: str | None = None,
    benchmark: str | Path | Mapping[str, Any] | None = None,
    seed: int = 42,
    dataset_revision: str | None = None,
    test_size: float = 0.1,
    revision: str | None = None,
) -> Path:
    """Copy the student folder (weights, tokenizer, config, ``sxhub.json``, ``onnx/``) and add its card and plot."""
    from .cards import CONFUSION_PLOT, plot_confusion, render_model_card, versions
    from .model_card import (
        base_lineage_rows,
        eval_results,
        eval_table,
        expert_facts,
        export_facts,
        hub_base_model,
        labelled_by_local,
        model_card_data,
        speed_rows,
        teacher_names,
        training_rows,
    )
    from .model_info import read_model_info

    src = check_model_dir(model_dir)
    info, spec = model_info(src)
    info = without_local_paths(info)
    given = load_json_arg(evaluation, "evaluation")
    evaluations = given_evaluations(given, info)
    student_speed = load_json_arg(benchmark, "benchmark")
    split = "test"
    index_split: str | None = "test"  # the dataset split the model-index cites; None: the figures are not one
    held_out = None
    eval_note = None
    if data is not None:
        evaluations, measured, held_out = evaluate_student(
            src, data, spec, info, gold=gold, seed=seed, test_size=test_size
        )
        split = index_split = held_out["split"]  # "train": too few texts for a test split, all of them scored
        if student_speed:  # the given benchmark's figures, never under the source line of sxhub's own measurement
            kept = {k: v for k, v in measured.items() if k not in {"texts_per_s", "n", "source"}}
            student_speed = {**kept, "source": "given with --benchmark", **student_speed}
        else:
            student_speed = measured
    elif is_evaluate_result(given):  # `sxhub evaluate --json` on a file of the caller's: not a split of the dataset
        split, index_split = "given", None
        eval_note = _evaluate_note(next(iter(evaluations.values())))
    elif evaluations and "validation" in next(iter(evaluations)):
        split = "validation"
        index_split = None  # the training run's validation texts: not a split of the dataset repo
        eval_note = _validation_note(info, next(iter(evaluations.values())))
    linked_dataset = hub_link_id(dataset_repo)  # a bare name's namespace is unknown: named, never linked
    about = expert_facts(
        info,
        spec,
        evaluations=evaluations,
        speed=student_speed,
        split=split,
        model_repo=hub_link_id(repo_id),
        dataset_repo=linked_dataset,
    )
    copy_model(src, folder, about=about)
    # the experts' comparison where there is one; the plot and the card's alt text name the one drawn
    compared = "student vs experts" if "student vs experts" in evaluations else next(iter(evaluations), None)
    main = evaluations.get(compared) if compared else None
    gold = against_column(evaluations)  # the --gold column the "vs experts" figures were scored against
    compared = comparison_name(compared, gold) if compared else None
    confusion = plot_confusion(main, folder / CONFUSION_PLOT, title=str(compared)) if main else None
    ledger_dict = load_ledger(ledger)
    teachers = teacher_names(info, spec)
    preprocessing = read_model_info(src).preprocessing
    thresholds = info.get("thresholds") or {}
    untuned = set((info.get("train") or {}).get("untuned_labels") or ())  # no validation positive: 0.5, not tuned
    thin = (info.get("train") or {}).get("thinly_tuned") or {}  # tuned on 1-4 validation positives
    labels = [
        {
            "name": lab.name,
            "description": table_cell(lab.description),
            "threshold": fmt(thresholds.get(lab.name))
            + (" (not tuned: no validation example)" if lab.name in untuned else "")
            + (f" (tuned on {thin[lab.name]} validation example(s) only)" if lab.name in thin else ""),
        }
        for lab in spec.labels
    ]
    card = render_model_card(
        model_card_data(
            info=info,
            spec=spec,
            repo_id=repo_id,
            dataset_repo=linked_dataset,
            # a result names a dataset on the Hub, whose leaderboard shows it too: without one (the task's name was
            # cited, and a task named `emotion` scored the student on the Hub's `emotion`), the table alone has them
            results=eval_results(
                evaluations,
                dataset=linked_dataset,
                split=index_split,
                revision=dataset_revision,
                multi_label=spec.multi_label,
            )
            if linked_dataset
            else [],
        ),
        repo_id=card_load_id(repo_id),  # a bare name (sxhub run without --push): NAMESPACE/name, said so
        unpushed=hub_link_id(repo_id) is None,
        load_revision=card_revision(revision),  # the branch pushed to (--revision), which pipeline must name
        model_name=repo_id.split("/")[-1],
        description=spec.description,
        multi_label=spec.multi_label,
        labels=labels,
        dataset_repo=linked_dataset,
        dataset_revision=dataset_revision,
        base_model=info.get("base_model") or "unknown",
        base_model_id=hub_base_model(info.get("base_model")),
        hub_url=hub_endpoint(),  # the links name the Hub pushed to ($HF_ENDPOINT), as the repos' ids do
        base_lineage=base_lineage_rows(info),
        layers=(info.get("train") or {}).get("layers"),
        distilled_from=(info.get("train") or {}).get("distilled_from"),
        # a Python string literal: a newline, a backslash or a quote in the example broke the snippet as written
        example_text=json.dumps(spec.examples[0].text if spec.examples else DEFAULT_EXAMPLE, ensure_ascii=False),
        max_length=preprocessing["max_length"],
        truncated=_truncated(info),
        masks=[step["name"] for step in preprocessing["steps"] if step.get("name") != "whitespace"],
        has_onnx=(src / "onnx").is_dir(),
        has_int8=(src / "onnx" / "model_int8.onnx").is_file(),
        threshold_fit=threshold_fit(info),
        export=export_facts(info),
        eval_rows=eval_table(evaluations),
        eval_note=eval_note or _eval_note(split, held_out, gold=gold),
        confusion_file=CONFUSION_PLOT if confusion else None,
        confusion_title=compared,
        speed_rows=speed_rows(teachers=teachers, ledger=ledger_dict, student=student_speed),
        training=training_rows(info),
        has_gold=any("experts" in name for name in evaluations),
        local_teacher=labelled_by_local(teachers),
        no_votes=teachers == [],  # trained on labels without teacher votes: no teacher is credited
        # the column it learned when not the teachers' own (train --label-column gold: the experts' labels)
        label_column=_learned_column(info),
        license_stated=bool(spec.license),
        sxhub_version=__version__,
        versions=versions(),
    )
    card.save(folder / "README.md")
    return folder


def _truncated(info: Mapping[str, Any]) -> str:
    """How many training texts were cut at max_length, and the longest's length, for the card's limitations ("12 of
    the 400 training texts were (3%; the longest had 2,310 tokens)"); empty when none was, or before sxhub counted them
    (the card said only "Texts longer than 64 tokens are truncated", not that a tenth of the training texts were)."""
    train = info.get("train") or {}
    n, of, longest = train.get("n_truncated"), train.get("n_train"), train.get("longest_tokens")
    if not isinstance(n, int) or not n or not isinstance(of, int):
        return ""
    about = "about " if of > LENGTH_SAMPLE else ""  # counted in a seeded sample of the training texts
    were = agreeing(n, "was", "were")
    return f"{about}{n:,} of the {of:,} training texts {were} ({n / of:.0%}; the longest had {longest:,} tokens)"


def _learned_column(info: Mapping[str, Any]) -> str | None:
    """Where the labels a student learned came from, as the card names it beside "the labels came with the texts":
    ``column `gold``` (``train --label-column gold``), or the true/false columns of a multi-label file; None for
    ``label``/``labels`` (the usual columns) or a student trained before sxhub recorded it."""
    column = (info.get("train") or {}).get("label_column")
    if not isinstance(column, str) or column in ("label", "labels"):
        return None
    # LabelledData.label_column of a file with one true/false column per label names them, not one column
    return (
        column if column.startswith("the ") and column.endswith(" true/false label columns") else f"column `{column}`"
    )


def threshold_fit(info: Mapping[str, Any]) -> str | None:
    """What a multi-label student's saved thresholds were fitted for (``sxhub.validation.THRESHOLD_FIT``); a student
    trained before sxhub recorded it fitted each label for its own F1; ``None`` when it saved no thresholds."""
    if not info.get("thresholds"):
        return None
    return ((info.get("train") or {}).get("validation") or {}).get("threshold_fit") or "own F1"


def _reference_words(gold: str | None) -> str:
    """What the figures' reference labels are: people's when the ``--gold`` column is named so, else the column."""
    name = reference_name(gold)
    if name == "experts":
        return '"experts" are human labels.'
    return f"{name} is the --gold column the figures are scored against, as given (who labelled it is not recorded)."


def _eval_note(split: str, held_out: Mapping[str, Any] | None, *, gold: str | None = None) -> str:
    """Where the card's figures come from; with ``--data`` (``held_out``), which test texts were left out; ``gold``:
    the column the "vs experts" figures were scored against, named unless it is named for experts."""
    labels = f'"teacher labels" are the voted LLM labels the student learned from; {_reference_words(gold)}'
    if held_out is None:
        return f"Figures on the {split} split. {labels}"
    if not held_out["checked"]:
        how = (
            " This student does not record the texts it learned from (`trained_texts.npz`, written by `sxhub train`), "
            "so they could not be left out: if it was trained on this dataset, these figures are not held out."
        )
    else:
        n_trained, n_validated = held_out["n_trained_on"], held_out["n_validated_on"]
        how = (
            f" {n_trained:,} of the split's {held_out['n_test']:,} texts {agreeing(n_trained, 'is', 'are')} left out: "
            f"the student was trained on {agreeing(n_trained, 'it', 'them')}."
            if n_trained
            else " The student was trained on none of its texts."
        )
        if n_validated:
            how += (
                f" {n_validated:,} of the texts scored {agreeing(n_validated, 'was one of', 'were')} its validation "
                "texts: never trained on, but they chose the "
                "epoch kept (and the thresholds), so the figures on them lean optimistic."
            )
    if not held_out.get("votes", True):
        labels = (
            'The file scored holds no teacher votes (it is not `sxhub annotate` output): "teacher labels" are its '
            f"label column as given, whoever labelled it; {_reference_words(gold)}"
        )
    if held_out.get("split", "test") == "test":
        where = "the dataset's test split"
    else:  # split_frame keeps no test split for so few texts: every text was scored, as the card must say
        where = (
            f"all {held_out['n_test']:,} texts of the dataset (its one train split: too few texts to hold out a test "
            "split, which needs 10 or more and a --test-size that leaves it a row)"
        )
    return f"Figures on {where}, scored when this card was made.{how} {labels}"


def _validation_note(info: Mapping[str, Any], result: Mapping[str, Any]) -> str:
    """Where the training run's validation figures come from: the texts ``sxhub train`` validated on (not the
    dataset repo's ``validation`` split, which it may have trained on), and with ``--search`` the best of its trials."""
    train = info.get("train") or {}
    n = result.get("n")
    rows = f"{n:,} texts" if isinstance(n, int) else "texts"
    where = "from its --validation-file" if train.get("validation_file") else "held out of its training file"
    search = train.get("search") if isinstance(train.get("search"), Mapping) else None
    trials = len(search.get("trials") or ()) if search else 0
    if trials:
        how = (
            f"are the best of {trials} trials of a hyperparameter search (`sxhub train --search`) on the validation split, "
            f"{rows} {where}: optimistic, since the search kept the trial that scored best on these very texts."
        )
    else:
        how = (
            f"come from the training run's validation split, {rows} {where}: never trained on, but they chose the epoch kept "
            "(and the thresholds), so the figures lean optimistic."
        )
    if info.get("teachers") == []:  # trained on labels without votes (the experts' own, say): no LLM voted them
        labels = '"teacher labels" are the labels the student learned from; they carry no LLM teacher votes.'
    else:
        labels = '"teacher labels" are the voted LLM labels the student learned from.'
    return (
        f"Figures {how} They are not the dataset's `validation` split (the student may have trained on that), so "
        f"the model-index cites no split; score held-out texts (`publish model --data` or `--evaluation`) for a "
        f"figure to quote. {labels}"
    )


def _evaluate_note(result: Mapping[str, Any]) -> str:
    """Where the figures of a given ``sxhub evaluate --json`` result come from, with its own notes: the file the
    caller scored (not a split of the dataset), its reference column, and whether its texts were held out."""
    column = evaluated_against(result)
    n = result.get("n")
    rows = f"{n:,} texts" if isinstance(n, int) else "the texts"
    against = f" against its `{column}` column" if column else ""
    if column and re.fullmatch(r"the \d+ true/false label columns", str(column)):  # GoEmotions' layout, not one column
        against = f" against its {str(column)[4:]}"
    backend = result.get("backend")
    # evaluate --onnx [--int8] scores the export predict serves with those options: the card names which it was
    variant = f" with the `{backend}` runtime" if isinstance(backend, str) and backend != "torch" else ""
    note = (
        f"Figures from `sxhub evaluate`{variant} on {rows} of a file given when this card was made{against}, not a "
        "split of the dataset."
    )
    if "n_trained_on" not in result:
        note += (
            " The evaluation does not say whether the student learned from these texts (only a student folder from "
            "`sxhub train` records them): if they were its training data, these figures are not held out."
        )
    elif result.get("n_validated_on"):
        note += (
            f" {result['n_validated_on']:,} of them {agreeing(result['n_validated_on'], 'was one of', 'were')} its "
            "validation texts: never trained on, but they chose the "
            "epoch kept (and the thresholds), so the figures on them lean optimistic."
        )
    else:
        note += " The student learned from none of them."
    notes = [str(line) for line in result.get("notes") or ()]
    if notes:
        note += " `sxhub evaluate` noted: " + " ".join(notes)
    return note
