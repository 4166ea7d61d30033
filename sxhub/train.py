"""Fine-tune the student: a transformers sequence classifier trained with ``Trainer`` on the teacher's labels.

Single-label tasks get a softmax head and cross-entropy; multi-label tasks a sigmoid head, BCE-with-logits and
``problem_type="multi_label_classification"``, so the saved folder loads with plain
``AutoModelForSequenceClassification`` and ``pipeline("text-classification", top_k=None)``. Per-label decision
thresholds (multi-label) are tuned on the validation split and saved in ``sxhub.json`` and in ``config.json``
(``sxhub_thresholds``). ``soft_labels`` distils from the teachers' vote shares instead of the winning label.

    from sxhub.train import TrainConfig, train
    result = train("task.yaml", "labelled.parquet", TrainConfig(output_dir="student"))

This module is the entry point: it reads and checks the inputs, splits the data, runs a backend and moves the model
into ``-o``. Its neighbours: the local backend's run (the base model, the Trainer, saving) in :mod:`sxhub.train_local`,
the config and result in :mod:`sxhub.train_config`, validation scores and thresholds in :mod:`sxhub.validation`, ``sxhub.json`` in
:mod:`sxhub.run_record`, data splits and targets in :mod:`sxhub.targets`, the tokenizer's symbol split in
:mod:`sxhub.symbol_split`, loading a base with its head fitted in :mod:`sxhub.head`, distillation's targets and loss
in :mod:`sxhub.distill`, the AutoTrain backend in :mod:`sxhub.autotrain`. ``TrainConfig``, ``TrainResult``,
``default_base_model``, ``library_versions`` and the distillation functions are re-exported here.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from . import trained_texts
from .data import preprocessing_config
from .distill import (  # noqa: F401  (distillation_loss, teacher_logits, people_overrule: imported from here too)
    TeacherLogits,
    check_distill_teacher,
    distillation_loss,
    people_overrule,
    teacher_logits,
)
from .errors import InputError
from .head import check_base
from .labelled import LabelledData, load_labelled, preprocessed
from .model_folder import check_complete, drop_leftovers, move_into, staging_folder
from .recipe import base_width, choose_max_length
from .run_record import SXHUB_JSON, label_teachers, library_versions, record_inputs, record_teachers
from .spec import TaskSpec, load_spec
from .targets import (
    always_on_note,
    check_trainable,
    conflicting_note,
    holdout,
    keep_agreed,
    unlearnable_note,
    unscored_note,
    with_validation,
)
from .train_config import DEFAULT_BASE, LABEL_COLUMN_OPTION, TrainConfig, TrainResult, default_base_model
from .train_local import train_local
from .train_resume import RESUME_HOW, RUN_HOW, fingerprint, prepare, stopped_runs, where

__all__ = [
    "DEFAULT_BASE",
    "TrainConfig",
    "TrainResult",
    "choose_max_length",
    "default_base_model",
    "library_versions",
    "train",
]

logger = logging.getLogger(__name__)


def train(
    spec: TaskSpec | str | os.PathLike[str] | dict[str, Any],
    data: LabelledData | pd.DataFrame | str | os.PathLike[str],
    config: TrainConfig,
    *,
    teacher: TeacherLogits | None = None,
    keep_checkpoints: bool = True,
    resume_if_same: bool = False,
) -> TrainResult:
    """Fine-tune the student on labelled data and write a transformers model folder to ``config.output_dir``.

    ``teacher``: where the distillation teacher's logits (``config.distill``) are kept between calls on the same
    texts (the trials of a search); None computes them for this call alone. ``keep_checkpoints``: a local
    one-process run stopped part-way keeps its checkpoints in ``-o`` for ``config.resume``
    (:mod:`sxhub.train_resume`); False (a --search trial) removes them however it ends. ``resume_if_same`` (a rerun
    of ``sxhub run``): a stopped run's checkpoint in ``-o`` is continued when it trains the same thing, as with
    ``config.resume``, and otherwise this run starts over, saying why in one line."""
    if not isinstance(config, TrainConfig):  # train(spec, data, "student") ended in AttributeError: 'str' object...
        folder = str(config) if isinstance(config, (str, os.PathLike)) else "student"
        raise InputError(
            f"config= takes a TrainConfig, not a {type(config).__name__}: pass TrainConfig(output_dir={folder!r})."
        )
    spec = load_spec(spec, name="spec")
    data_file = data if isinstance(data, (str, os.PathLike)) else None  # its name goes into sxhub.json
    if not isinstance(data, LabelledData):
        # the votes (most of an annotated file) are read only to learn their shares; label_teachers streams them
        data = load_labelled(data, text_column=config.text_column, label_names=spec.label_names,
                             multi_label=spec.multi_label, label_column=config.label_column,
                             label_option=LABEL_COLUMN_OPTION, read_votes=config.soft_labels)  # fmt: skip
    elif data.label_names != spec.label_names or data.multi_label != spec.multi_label:
        raise InputError(f"the data's labels {data.label_names} do not match the task's labels {spec.label_names}.")
    # trained on the texts as every reader of the model will clean them (the block saved with it, max_length aside)
    cleaning = preprocessing_config(spec.preprocess)
    data = training_columns(preprocessed(keep_agreed(data, config.min_agreement), cleaning))
    check_trainable(data)
    teachers = label_teachers(data)  # the labels trained on, before --validation's rows join them
    if config.validation_file is not None:
        try:
            held_out = load_labelled(config.validation_file, text_column=config.text_column,
                                     label_names=spec.label_names, multi_label=spec.multi_label,
                                     label_column=config.label_column, label_option=LABEL_COLUMN_OPTION,
                                     read_votes=config.soft_labels)  # fmt: skip
        except InputError as exc:
            raise InputError(f"validation file {str(config.validation_file)!r}: {exc}") from exc
        data = with_validation(data, preprocessed(held_out, cleaning))
    if config.distill and config.backend == "local":
        check_distill_teacher(config.distill, spec)  # before anything is loaded or written
    # a student trained further: the texts it already learned from stay out of validation (trained_texts)
    before = trained_texts.trained_on(config.base_model, data.texts)
    # both backends split alike (the validation file's rows are the validation set, whoever trained on them)
    train_idx, val_idx = holdout(
        data, val_size=config.val_size, seed=config.seed, trained_before=None if data.n_validation else before
    )
    checks = [conflicting_note(data), unlearnable_note(data, train_idx), always_on_note(data, train_idx)]
    if before is not None and before[val_idx].any():
        # said for --validation too: a file of texts the --base student trained on validated it without a word
        checks.append(
            f"{int(before[val_idx].sum())} of the {len(val_idx)} texts of the validation file were trained on by the "
            "--base student: the validation score, the epoch kept and the thresholds flatter it; validate on texts "
            "it has not seen."
            if data.n_validation
            else f"{int(before[val_idx].sum())} of the {len(val_idx)} validation texts were trained on by the --base "
            "student (too few new texts to validate on): the validation score, the epoch kept and the thresholds "
            "flatter it; pass --validation with texts it has not seen."
        )
    checks.append(unscored_note(data, val_idx))
    early_notes = [note for note in checks if note]
    for note in early_notes:
        logger.warning(note)  # now, before a long run; the result's notes repeat it at the end
    if config.backend == "autotrain":
        from .autotrain_train import check_options

        check_options(spec, config)  # what AutoTrain cannot do is said first, whatever the base
    if config.base_model and Path(config.base_model).expanduser().is_dir():
        check_complete(Path(config.base_model).expanduser(), "--base ")  # half of two models is no base
    # the base's config and tokenizer before its config.json is read for the recipe: a config that was not JSON
    # ended in a bare JSONDecodeError, an empty folder under autotrain in a ValueError (exit 1)
    base = check_base(config.base_model)
    config, fitted_note = config.fitted(len(train_idx), base_width(base))
    if fitted_note:
        logger.info(fitted_note)
    from .distributed import is_main_process, world_size

    # the whole new model is written into a hidden folder inside -o and moved in once written (model_folder): saved
    # straight into -o, a run stopped after the weights left them beside the earlier model's sxhub.json (its
    # labels, thresholds, preprocessing), which predict, evaluate, export and the Space served as one model
    out = Path(config.output_dir)
    if config.resume and world_size() > 1:
        raise InputError(
            f"--resume continues a one-process run; this one has {world_size()} processes (torchrun / accelerate "
            "launch), whose checkpoints are not kept: drop --resume, or resume without the launcher."
        )
    created = not out.exists()  # removed again if training ends without a model (Ctrl-C, SIGTERM, an error)
    # one local process: its checkpoints are kept until the model has moved in, for --resume (sxhub.train_resume)
    resumable = config.backend == "local" and world_size() == 1 and keep_checkpoints
    if config.resume and not resumable:
        raise InputError("--resume continues a run of sxhub train alone; drop --resume.")
    record = fingerprint(spec, data, config, base) if resumable else None
    resume_dir, resume_from = (
        prepare(out, record, resume=config.resume, restart=config.restart, if_same=resume_if_same)
        if record is not None
        else (None, None)
    )
    staging = staging_folder(out) if is_main_process() else None
    try:
        if staging is not None:
            # a killed run's work folders; the newest stopped training's checkpoints stay until this run completes
            kept = [folder for folder, _, _ in stopped_runs(out)] if resumable else []
            launcher = "a run of several processes (torchrun / accelerate launch)" if world_size() > 1 else None
            if (config.backend == "autotrain" or launcher) and not config.restart:
                # AutoTrain and a distributed run keep no checkpoint of their own: AutoTrain dropped the newest
                # stopped training's without a word (as --search did), a distributed run left it without one, and
                # a model of their own does not make that one's --resume pointless either
                for folder, checkpoint, _ in stopped_runs(out)[:1]:
                    logger.warning(
                        "%s holds the checkpoint of a stopped training (%s): %s leaves it there; sxhub train --resume "
                        "(%s) continues it, --restart removes it.",
                        out,
                        where(checkpoint),
                        launcher or "--backend autotrain",
                        "one process, without the launcher" if launcher else "--backend local",
                    )
                    kept = [folder]
            elif launcher:  # --restart: drop_leftovers leaves a distributed run's checkpoint folders alone
                for folder, checkpoint, _ in stopped_runs(out):
                    shutil.rmtree(folder, ignore_errors=True)
                    logger.info("--restart: removed the checkpoint of a stopped training (%s).", where(checkpoint))
            drop_leftovers(out, staging, checkpoints=world_size() == 1, also_keep=kept)
        if config.backend == "autotrain":
            from .autotrain_train import train_autotrain

            result = train_autotrain(
                spec, data, replace(config, output_dir=staging or out), early_notes, split=(train_idx, val_idx)
            )
        else:
            if config.threads:
                from .torch_threads import set_torch_threads

                set_torch_threads(config.threads)
            result = train_local(
                spec, data, config, early_notes, split=(train_idx, val_idx), save_dir=staging, teacher=teacher,
                resume=(resume_dir, resume_from, record), how=RUN_HOW if resume_if_same else RESUME_HOW,
            )  # fmt: skip
        if staging is not None:
            stale = stale_export(out, staging, result)
            # what the model card and the Space name, and the column learned (label, or the experts' gold)
            record_teachers(staging, teachers, label_column=data.label_column)
            # what a rerun checks it has the same of: the rows (training and validation), the base's weights
            record_inputs(staging, data, base, data_file, soft_labels=config.soft_labels)
            # what publish and evaluate must not count as held out (sxhub.trained_texts)
            trained_texts.save(
                staging,
                [data.texts[i] for i in train_idx],
                [data.texts[i] for i in val_idx],
                base=config.base_model,  # a student trained further: what it learned from first counts too
            )
            move_into(staging, out, stale=stale)
            logger.info("saved the student to %s", out)
            if resumable:  # the model is in: this run's checkpoints and a stopped run's kept ones go
                drop_leftovers(out, staging)
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
            if created and out.is_dir() and not any(out.iterdir()):
                out.rmdir()  # an empty -o folder looked like a model folder, though nothing was saved
    return replace(result, model_dir=out)


# what training reads of the table once the rows are chosen: the votes (--soft-labels' shares, the teachers' names)
# and who gave each label (a person's label is never overruled, nor its votes counted)
TRAINING_COLUMNS = ("votes", "label_source")


def training_columns(data: LabelledData) -> LabelledData:
    """``data`` with a frame of the columns training reads (:data:`TRAINING_COLUMNS`) and no others: the texts and
    labels are in ``data.texts`` and ``data.labels`` already, and the rest (the label column as read, ``agreement``,
    an expert ``gold``, ``error``) is used no more. Kept, a 1M-row multi-label file held ~400 MB of them (a numpy
    array of names and a dict of shares per row) through tokenizing, where training peaks."""
    kept = [column for column in data.frame.columns if column in TRAINING_COLUMNS]
    return replace(data, frame=data.frame[kept])


def stale_export(out: Path, staging: Path, result: TrainResult) -> list[str]:
    """``["onnx"]`` where the previous model in ``out`` (training again into it, or ``-o`` the same as ``--base``)
    left its ``onnx/`` export, which goes when the new model moves in, said in the result's notes and the new
    ``sxhub.json``: exported from other weights, it would have served ``predict --onnx``, ``evaluate --onnx`` and the
    Space the old model's answers, while ``sxhub.json`` (rewritten) no longer said it was there."""
    if not (out / "onnx").is_dir():
        return []
    note = (
        "Removed onnx/, the previous model's export from this folder (other weights); run sxhub export again for "
        "ONNX and int8."
    )
    logger.warning(note)
    result.notes.append(note)
    record = staging / SXHUB_JSON  # the folder's own record says it too
    if record.is_file():
        info = json.loads(record.read_text(encoding="utf-8"))
        notes = info.setdefault("train", {}).setdefault("notes", [])
        notes.append(note)
        record.write_text(json.dumps(info, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return ["onnx"]
