"""Fine-tune the student: a transformers sequence classifier trained with ``Trainer`` on the teacher's labels.

Single-label tasks get a softmax head and cross-entropy; multi-label tasks a sigmoid head, BCE-with-logits and
``problem_type="multi_label_classification"``, so the saved folder loads with plain
``AutoModelForSequenceClassification`` and ``pipeline("text-classification", top_k=None)``. Per-label decision
thresholds (multi-label) are tuned on the validation split and saved in ``sxhub.json`` and in ``config.json``
(``sxhub_thresholds``). ``soft_labels`` distils from the teachers' vote shares instead of the winning label.

    from sxhub.train import TrainConfig, train
    result = train("task.yaml", "labelled.parquet", TrainConfig(output_dir="student"))

This module runs the local backend (the base model, the Trainer, saving). Its neighbours: the config and result in
:mod:`sxhub.train_config`, validation scores and thresholds in :mod:`sxhub.validation`, ``sxhub.json`` in
:mod:`sxhub.run_record`, data splits and targets in :mod:`sxhub.targets`, the tokenizer's symbol split in
:mod:`sxhub.symbol_split`, loading a base with its head fitted in :mod:`sxhub.head`, distillation's targets and loss
in :mod:`sxhub.distill`, the AutoTrain backend in :mod:`sxhub.autotrain`. ``TrainConfig``, ``TrainResult``,
``default_base_model``, ``library_versions`` and the distillation functions are re-exported here.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
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
from .head import check_base, load_classifier
from .labelled import LabelledData, load_labelled, preprocessed
from .model_folder import check_complete, drop_leftovers, move_into, staging_folder
from .recipe import (
    base_width,
    choose_max_length,
    fit_batch_size,
    length_limit,
    over_limit_note,
    time_budget,
    token_lengths,
    truncated_count,
)
from .run_record import (
    SXHUB_JSON,
    label_teachers,
    library_versions,
    record_inputs,
    record_teachers,
    write_sxhub_json,
)
from .spec import TaskSpec, load_spec
from .symbol_split import isolate_symbols, keep_split_on_load, symbols_isolated
from .targets import (
    always_on_note,
    check_trainable,
    conflicting_note,
    data_notes,
    hard_targets,
    holdout,
    keep_agreed,
    loss_weights,
    tokenized_dataset,
    unlearnable_note,
    unscored_note,
    vote_shares,
    with_validation,
)
from .train_config import DEFAULT_BASE, LABEL_COLUMN_OPTION, TrainConfig, TrainResult, default_base_model
from .train_resume import (
    RESUME_FILE,
    RESUME_HOW,
    RUN_HOW,
    fingerprint,
    keep_note,
    last_checkpoint,
    prepare,
    resumable_after,
    stopped_runs,
    where,
)
from .validation import FEW_POSITIVES, best_metric_name, metrics_fn, thinly_tuned, untuned_labels, validate

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

__all__ = [
    "DEFAULT_BASE",
    "TrainConfig",
    "TrainResult",
    "choose_max_length",
    "default_base_model",
    "library_versions",
    "load_base",
    "train",
]

logger = logging.getLogger(__name__)

EARLY_STOPPING_MIN_VAL = 50  # validation texts below which early stopping is switched off


# --------------------------------------------------------------------------------------------------------------
# the base model
# --------------------------------------------------------------------------------------------------------------
def load_base(
    base: str, spec: TaskSpec, layers: int | None = None, notes: list[str] | None = None
) -> tuple[Any, PreTrainedTokenizerBase]:
    """Tokenizer and a sequence classifier with a head in the task's label order: fresh, or a classifier base's own
    where its labels are the task's (:func:`sxhub.head.load_classifier`); ``layers`` keeps only the base's first N
    transformer layers (the rest of its weights are not loaded). What became of a classifier base's head is
    appended to ``notes``; the tokenizer splits symbols off words (:mod:`sxhub.symbol_split`)."""
    model, tokenizer, head_note = load_classifier(base, spec, layers)
    if head_note:
        logger.info(head_note)
        if notes is not None:
            notes.append(head_note)
    isolate_symbols(tokenizer)
    if (Path(base) / SXHUB_JSON).is_file():
        # an sxhub student as the base (continued fine-tuning): its tokenizer's model_max_length is the max_length
        # it was trained with (see _save), not a limit of the model, and must not cap the new training's
        tokenizer.model_max_length = int(getattr(model.config, "max_position_embeddings", 512) or 512)
    return model, tokenizer


# --------------------------------------------------------------------------------------------------------------
# the Trainer and the local backend
# --------------------------------------------------------------------------------------------------------------
def _weighted_trainer_class() -> type:
    from transformers import Trainer

    class WeightedTrainer(Trainer):
        """Trainer whose loss takes class weights / pos_weight and soft (probability) targets."""

        def __init__(
            self,
            *args: Any,
            multi_label: bool,
            weights: torch.Tensor | None,
            distill: tuple[float, float] | None = None,
            **kwargs: Any,
        ) -> None:
            super().__init__(*args, **kwargs)
            self.multi_label = multi_label
            self.weights = weights
            self.distill = distill  # (temperature, weight of the teacher's part)

        def compute_loss(
            self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
        ) -> Any:
            import torch.nn.functional as F

            labels = inputs.pop("labels")
            teacher = inputs.pop("teacher_logits", None)  # distillation: only the training set carries them
            outputs = model(**inputs)
            logits = outputs.logits
            weights = None if self.weights is None else self.weights.to(logits.device)
            if self.multi_label:
                loss = F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype), pos_weight=weights)
            elif labels.dim() == 2:  # soft targets: cross-entropy against the vote distribution
                log_probs = F.log_softmax(logits, dim=-1)
                per_class = -labels.to(logits.dtype) * log_probs
                if weights is not None:
                    per_class = per_class * weights
                loss = per_class.sum(dim=-1).mean()
            else:
                loss = F.cross_entropy(logits, labels, weight=weights)
            if teacher is not None and self.distill is not None:
                loss = distillation_loss(logits, teacher, self.multi_label, *self.distill, hard_loss=loss)
            return (loss, outputs) if return_outputs else loss

    return WeightedTrainer


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
    data = preprocessed(keep_agreed(data, config.min_agreement), cleaning)
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
            if config.backend == "autotrain" and not config.restart:
                # AutoTrain keeps no checkpoint of its own: it dropped the newest stopped training's without a word
                # (as --search did), and a model of its own does not make that one's --resume pointless either
                for folder, checkpoint, _ in stopped_runs(out)[:1]:
                    logger.warning(
                        "%s holds the checkpoint of a stopped training (%s): --backend autotrain leaves it there; "
                        "sxhub train --resume (--backend local) continues it, --restart removes it.",
                        out,
                        where(checkpoint),
                    )
                    kept = [folder]
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
            result = _train_local(
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


def _train_local(
    spec: TaskSpec,
    data: LabelledData,
    config: TrainConfig,
    early_notes: Sequence[str] = (),
    *,
    split: tuple[list[int], list[int]] | None = None,
    save_dir: Path | None = None,
    teacher: TeacherLogits | None = None,
    resume: tuple[Path | None, Path | None, dict[str, Any] | None] = (None, None, None),
    how: str = RESUME_HOW,
) -> TrainResult:
    """Train in ``config.output_dir`` (its checkpoint folder) on every process; the one given ``save_dir`` (the
    main one) saves the model and ``sxhub.json`` there; ``teacher`` as :func:`train`'s. ``resume``: a stopped run's
    checkpoint folder and the checkpoint to continue from (or None, None), and what this run trains
    (:func:`sxhub.train_resume.fingerprint`; None: its checkpoints are removed when it ends, however it ends), and
    ``how`` a stopped run is continued (what the interruption line says)."""
    import torch
    from transformers import DataCollatorWithPadding, EarlyStoppingCallback

    base = config.base_model or default_base_model()
    emulated_bf16 = ""
    if config.bf16:
        from .predict import native_bf16

        if not native_bf16():
            emulated_bf16 = (
                "this machine has no native bfloat16 (AVX-512 BF16, AMX, Arm BF16 or a bf16 GPU): --bf16 is emulated "
                "here and likely slower than fp32; drop --bf16."
            )
            logger.warning(emulated_bf16)  # now, before a slow run; the result's notes repeat it at the end
    targets = vote_shares(data) if config.soft_labels else None
    # train() made the split (and said once when it had to be random); the same one, not drawn again
    train_idx, val_idx = split or holdout(data, val_size=config.val_size, seed=config.seed)
    head_notes: list[str] = []
    # seeded before the base is loaded: a new head is drawn when the model is built, before the Trainer seeds;
    # drawn unseeded, two runs with one --seed started from different heads and ended with different weights
    from transformers import set_seed

    set_seed(config.seed)
    model, tokenizer = load_base(base, spec, config.layers, notes=head_notes)
    train_texts = [data.texts[i] for i in train_idx]
    if config.max_length and config.max_length > length_limit(tokenizer, model.config):
        # past the position table: training crashed in the embeddings, or a model was saved that predict could not run
        raise InputError(
            f"--max-length {config.max_length} is more than the base model takes "
            f"({length_limit(tokenizer, model.config)} tokens); pass --max-length "
            f"{length_limit(tokenizer, model.config)} or less, or leave it out to fit it to the texts."
        )
    lengths = token_lengths(tokenizer, train_texts)
    max_length = config.max_length or choose_max_length(tokenizer, train_texts, model.config, lengths=lengths)
    # texts past the base's limit were cut without a word (a transformers warning of 'indexing errors' aside), and
    # texts past a max_length below it (the 95th percentile: a few articles among tweets) still were
    limit = length_limit(tokenizer, model.config)
    cut_note = over_limit_note(lengths, len(train_texts), limit, max_length, given=bool(config.max_length))
    if cut_note:
        logger.warning(cut_note)
    # numpy arrays, not lists: 90,000 GoEmotions rows x 28 labels as Python floats held ~110 MB more at peak
    hard = hard_targets(data)
    if spec.multi_label:
        train_y: Any = (targets if targets is not None else hard)[train_idx]
        val_y: Any = hard[val_idx]
    else:
        train_y = targets[train_idx] if targets is not None else np.asarray(data.label_ids())[train_idx]
        val_y = np.asarray(data.label_ids())[val_idx]
    train_ds = tokenized_dataset(tokenizer, train_texts, train_y, max_length)
    if config.distill:
        logger.info("distillation: %s labels the %d training texts", config.distill, len(train_texts))
        distilled = (teacher or TeacherLogits())(config.distill, train_texts, spec, config.threads)
        train_ds = train_ds.add_column("teacher_logits", people_overrule(distilled, data, train_idx).tolist())
    val_ds = tokenized_dataset(tokenizer, [data.texts[i] for i in val_idx], val_y, max_length)
    weights = torch.tensor(loss_weights(data, train_idx)) if config.class_weights else None
    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    # under torchrun / accelerate launch every process trains on its share of each batch (DDP); rank 0 saves
    from .distributed import checkpoint_folder, is_main_process, world_size

    resume_dir, resume_from, record = resume
    checkpoint_dir = resume_dir or checkpoint_folder(output_dir)
    if record is not None and resume_dir is None:  # what a --resume of this run must train the same
        (checkpoint_dir / RESUME_FILE).write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
    steps_per_epoch = math.ceil(len(train_ds) / ((config.batch_size or fit_batch_size(len(train_ds))) * world_size()))
    notes = data_notes(data) + head_notes + list(early_notes) + ([cut_note] if cut_note else [])
    if emulated_bf16:
        notes.append(emulated_bf16[0].upper() + emulated_bf16[1:])
    if config.epochs_for(steps_per_epoch) > config.epochs:
        notes.append(
            f"Small set: {config.epochs:g} epochs raised to {config.epochs_for(steps_per_epoch):g} to reach "
            f"{config.min_steps} optimizer steps (--min-steps)."
        )
    # early stopping needs a validation set that can tell epochs apart; on a handful of texts it stops at random
    callbacks = []
    if len(val_idx) >= EARLY_STOPPING_MIN_VAL:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience))
    else:
        notes.append(f"No early stopping: {len(val_idx)} validation texts (< {EARLY_STOPPING_MIN_VAL}).")
    budget = time_budget(config.max_minutes) if config.max_minutes else None
    if budget is not None:
        callbacks.append(budget)
    if record is not None:  # resumable: from a resumed run's first checkpoint on, else after config.resumable_after
        callbacks.append(resumable_after(0.0 if resume_from is not None else config.resumable_after))
    trainer = _weighted_trainer_class()(
        model=model,
        args=config.training_arguments(
            checkpoint_dir,
            multi_label=spec.multi_label,
            steps_per_epoch=steps_per_epoch,
            extra_columns=bool(config.distill),
            resumable=record is not None,
        ),
        train_dataset=train_ds,
        eval_dataset=val_ds,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=metrics_fn(spec.multi_label, spec.label_names, config.seed),
        callbacks=callbacks,
        multi_label=spec.multi_label,
        weights=weights,
        distill=(config.distill_temperature, config.distill_weight) if config.distill else None,
    )
    if trainer.args.disable_tqdm:  # -q: without its bar Trainer prints every epoch's log dict; -q means errors only
        from transformers import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    resumed = where(resume_from) if resume_from is not None else None  # read before training rotates it away
    if resumed is not None:
        again = "--resume" if how == RESUME_HOW else "the same sxhub run again"
        notes.append(f"Resumed from {resumed} of a stopped run ({again}).")
    start = time.perf_counter()
    finished = False
    try:
        with contextlib.redirect_stdout(sys.stderr):  # Trainer prints its logs on stdout; keep stdout for data
            trainer.train(resume_from_checkpoint=str(resume_from) if resume_from is not None else None)
            # predictions and label_ids come in the same order (the eval sampler may group texts by length)
            val_out = trainer.predict(val_ds)
        seconds = time.perf_counter() - start
        epochs_run = float(trainer.state.epoch or 0.0)
        if budget is not None and budget.stopped:
            notes.append(
                f"Stopped by the time cap after {config.max_minutes:g} min at epoch {epochs_run:.2f} "
                f"({config.max_minutes_from}); the best checkpoint so far is kept."
            )
        val_gold = np.asarray(val_out.label_ids)
        validation, thresholds = validate(spec, np.asarray(val_out.predictions), val_gold, seed=config.seed)
        untuned = untuned_labels(val_gold >= 0.5, spec.label_names) if spec.multi_label else []
        if untuned:
            notes.append(
                f"No positive example in validation for {', '.join(untuned)}: threshold left at 0.5, not tuned, and "
                "not scored there (label more texts with them)."
            )
        few = thinly_tuned(val_gold >= 0.5, spec.label_names) if spec.multi_label else {}
        if few:
            counts = ", ".join(f"{name} ({n})" for name, n in few.items())
            notes.append(
                f"Thresholds tuned on fewer than {FEW_POSITIVES} validation positives: {counts}; they may be far "
                "from right (label more texts with them, or validate on a larger file with --validation)."
            )
        if save_dir is not None:
            _save(
                trainer,
                tokenizer,
                save_dir,
                thresholds,
                preprocessing_config(spec.preprocess, max_length=max_length),
            )
        trainer.accelerator.wait_for_everyone()  # every rank has loaded the best checkpoint: it may go
        finished = True
    except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM (Terminated): the CLI's line says how to continue
        kept = keep_note(checkpoint_dir, how) if record is not None else None
        if kept is None and record is not None:  # stopped before a checkpoint held the optimizer state
            kept = (
                f"training stopped after {time.perf_counter() - start:.0f} s, before its checkpoints could be resumed "
                f"(they can after {config.resumable_after:g} min of training, --resumable-after), so none is kept: "
                "the same command trains from the start"
            )
        if kept:
            exc.sxhub_rerun = kept  # type: ignore[attr-defined]
            logger.warning("training stopped; %s.", kept)
        raise
    finally:
        # a resumable run's checkpoints stay until its model has moved in (train() removes them), or for --resume
        # when it stopped; none saved yet, or not resumable (distributed, a --search trial): they go now
        if is_main_process() and (record is None or (not finished and last_checkpoint(checkpoint_dir) is None)):
            shutil.rmtree(checkpoint_dir, ignore_errors=True)
    metric = best_metric_name(spec.multi_label)
    result = TrainResult(
        model_dir=output_dir,
        backend="local",
        base_model=base if config.base_model else DEFAULT_BASE,
        multi_label=spec.multi_label,
        labels=spec.label_names,
        max_length=max_length,
        n_train=len(train_idx),
        n_val=len(val_idx),
        epochs=round(epochs_run, 2),
        seconds=round(seconds, 1),
        best_metric=metric,
        best_score=float(validation[metric]),
        thresholds=thresholds,
        validation=validation,
        notes=notes,
        untuned_labels=untuned,
        thinly_tuned=few,
        n_truncated=truncated_count(lengths, len(train_texts), max_length),
        longest_tokens=max(lengths, default=None),
        resumed_from=resumed,
    )
    if save_dir is not None:
        write_sxhub_json(save_dir, spec, result, config, processes=world_size(), threads=torch.get_num_threads())
    return result


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


def _save(
    trainer: Any, tokenizer: Any, output_dir: Path, thresholds: dict[str, float] | None, preprocessing: dict[str, Any]
) -> None:
    """Weights, config (thresholds and the preprocessing block, for plain transformers users) and tokenizer.

    The tokenizer's ``model_max_length`` becomes the training ``max_length``, so even ``pipeline(...,
    truncation=True)`` without ``max_length`` truncates where training did.
    """
    model = trainer.model
    if thresholds is not None:
        model.config.sxhub_thresholds = thresholds
    elif hasattr(model.config, "sxhub_thresholds"):
        # a single-label student trained from a multi-label one (--base): its config came with that student's
        # thresholds, for another task's labels, which read_model_info then took for this model's
        del model.config.sxhub_thresholds
    model.config.sxhub_preprocessing = preprocessing
    model.save_pretrained(output_dir)
    tokenizer.model_max_length = preprocessing["max_length"]
    tokenizer.save_pretrained(output_dir)
    if symbols_isolated(tokenizer):
        keep_split_on_load(output_dir, list(tokenizer.model_input_names))
