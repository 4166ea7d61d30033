"""The local backend's training run: the base model loaded with its head and the tokenizer's symbol split
(:func:`load_base`), the Trainer whose loss takes class weights, soft targets and a distillation teacher, the run
itself on every process (:func:`train_local`: the datasets, the callbacks, resuming, the validation scores and
thresholds) and saving the model folder (weights, config, tokenizer, ``sxhub.json``).

:func:`sxhub.train.train` checks the inputs, splits the data and moves the model in; it calls :func:`train_local`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .data import preprocessing_config
from .distill import TeacherLogits, distillation_loss, people_overrule
from .errors import InputError, ModelError
from .head import load_classifier
from .labelled import LabelledData
from .recipe import (
    choose_max_length,
    fit_batch_size,
    length_limit,
    over_limit_note,
    time_budget,
    token_lengths,
    truncated_count,
)
from .run_record import SXHUB_JSON, write_sxhub_json
from .spec import TaskSpec
from .symbol_split import isolate_symbols, keep_split_on_load, symbols_isolated
from .targets import data_notes, hard_targets, holdout, loss_weights, tokenized_dataset, vote_shares
from .train_config import DEFAULT_BASE, TrainConfig, TrainResult, default_base_model
from .train_resume import RESUME_FILE, RESUME_HOW, keep_note, last_checkpoint, resumable_after, where
from .validation import FEW_POSITIVES, best_metric_name, metrics_fn, thinly_tuned, untuned_labels, validate

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase

logger = logging.getLogger("sxhub.train")  # the stage's logger, as before the split (the CLI's lines name it)

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


def train_local(
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
    except RuntimeError as exc:
        from .predict import bf16_failure, no_bf16_reason

        if not (config.bf16 and bf16_failure(exc)):
            raise
        raise ModelError(
            f"base model {base!r}: {no_bf16_reason(model, exc)}; drop --bf16 to train it in fp32."
        ) from exc
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
