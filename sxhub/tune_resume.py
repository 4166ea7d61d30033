"""``sxhub tune --resume``: continue a stopped tune from the last checkpoint it left in ``-o``, as ``sxhub train
--resume`` does (:mod:`sxhub.train_resume`, whose rules and words these are).

A local tune saves a checkpoint about 20 times over its run (the LoRA adapter, optimizer, scheduler and RNG states,
the Trainer's state: 23 MB for SmolLM2-135M with the default LoRA, measured; ``save_total_limit=1``) into a hidden
``.checkpoints-*`` folder inside ``-o`` with
:data:`~sxhub.train_resume.RESUME_FILE`, what it tunes (:meth:`Checkpoints.open`): its examples as encoded (the
data, the task's prompts, the tokenizer, the options that pick and group them), the base's weights, the labels and
the options that change the model (not ``--threads``). The folder goes once the merged model has moved in; a tune
stopped before keeps it for ``--resume``."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .model_folder import CHECKPOINTS_PREFIX
from .train_resume import RESUME_FILE, differences, keep_note, last_checkpoint, prepare, stopped_runs, where

logger = logging.getLogger(__name__)

KIND = "tune"  # a fingerprint's kind: sxhub train's runs and tune's never continue one another
# the tune options a resumed run must share with the stopped one, as the CLI names them
SAME_OPTIONS = {
    "epochs": "--epochs", "group_size": "--group-size", "learning_rate": "--learning-rate", "lora_r": "--lora-r",
    "lora_alpha": "--lora-alpha", "lora_dropout": "--lora-dropout", "target_modules": "--target-modules",
    "lora_layers": "--lora-layers", "writing": "--writing", "topic_share": "topic_share", "holdout": "--holdout",
    "max_train": "--max-train", "max_length": "--max-length", "seed": "--seed",
}  # fmt: skip
TUNE_HOW = "the same command with --resume (Python: TuneOptions(resume=True)) continues from it, --restart starts over"
SAVES = 20  # checkpoints over a run: a stop loses at most a twentieth of it


def save_steps(steps: int) -> int:
    """Steps between two checkpoints of a run of ``steps`` optimizer steps (:data:`SAVES` over the run)."""
    return max(1, steps // SAVES)


def fingerprint(spec: Any, base: Any, opts: Any) -> dict[str, Any]:
    """What a tune trains but for its examples (added by :meth:`Checkpoints.open`): the base (its weights' hash,
    :func:`sxhub.run_record.base_record`, else its name), the labels and the options of :data:`SAME_OPTIONS`."""
    from .run_record import base_record

    return {
        "kind": KIND,
        "base": base_record(base.path) or {"base_model": base.name},
        "labels": {"labels": list(spec.label_names), "multi_label": bool(spec.multi_label)},
        "options": json.loads(json.dumps({name: getattr(opts, name) for name in SAME_OPTIONS})),
    }


def rows_sha256(rows: list[dict[str, Any]]) -> str:
    """The sha256 of the training rows as encoded and grouped (token ids, labels): what the run learns from."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps(row, sort_keys=True).encode("utf-8") + b"\n")
    return digest.hexdigest()


@dataclass
class Checkpoints:
    """The checkpoints of one local tune into ``out``: :meth:`open` before training (which stopped run, if any, it
    continues), :meth:`stopped` when it is stopped, :meth:`done` once its model has moved in."""

    out: Path
    record: dict[str, Any]  # the fingerprint but for the examples (known once encoded)
    resume: bool = False
    restart: bool = False
    folder: Path | None = None
    resumed_from: str | None = None  # where() of the checkpoint continued, read before training rotates it away
    resumed_step: int | None = None  # the optimizer step it holds
    opened: dict[str, Any] | None = None  # the whole fingerprint, examples included (open)

    def open(self, rows: list[dict[str, Any]]) -> Path | None:
        """The checkpoint folder to train in (a stopped run's with ``resume``, else a new one) and the checkpoint to
        continue from (None: from step 0); refuses in one line as :func:`sxhub.train_resume.prepare`."""
        record = {**self.record, "examples_sha256": rows_sha256(rows)}
        self.opened = record
        folder, checkpoint = prepare(self.out, record, resume=self.resume, restart=self.restart, named=SAME_OPTIONS)
        if folder is None:
            self.out.mkdir(parents=True, exist_ok=True)
            folder = Path(tempfile.mkdtemp(prefix=CHECKPOINTS_PREFIX, dir=self.out))
            (folder / RESUME_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        self.folder = folder
        drop_tune_checkpoints(self.out, keep=folder)  # a tune killed before its first checkpoint left its folder
        self.resumed_from = where(checkpoint) if checkpoint is not None else None
        self.resumed_step = int(checkpoint.name.rpartition("-")[2]) if checkpoint is not None else None
        return checkpoint

    def stopped(self, exc: BaseException) -> None:
        """A stop (Ctrl-C, SIGTERM): the interruption line names the checkpoint kept and how to continue it; a run
        stopped before its first checkpoint has none, and its folder goes."""
        note = keep_note(self.folder, TUNE_HOW) if self.folder is not None else None
        if note is None:
            self.drop_unsaved()
            note = self.earlier_note()
        if note is None:
            return
        exc.sxhub_rerun = note  # type: ignore[attr-defined]
        logger.warning("tuning stopped; %s.", note)

    def earlier_note(self) -> str | None:
        """The note of the newest stopped run of this same tune, which a run stopped before its own first checkpoint
        leaves in -o (it removes it only once its model is in): its line said "a rerun starts over", while --resume
        would continue that one. None where there is none, or it tuned other settings (--resume refuses it)."""
        runs = stopped_runs(self.out, KIND) if self.opened is not None and self.out.is_dir() else []
        if not runs or differences(runs[0][2], self.opened or {}, SAME_OPTIONS):
            return None
        return keep_note(runs[0][0], TUNE_HOW)

    def drop_unsaved(self) -> None:
        """This run's folder, where it holds no whole checkpoint to continue (stopped or failed before one)."""
        if self.folder is not None and last_checkpoint(self.folder) is None:
            shutil.rmtree(self.folder, ignore_errors=True)

    def done(self) -> None:
        """The model is in: this run's checkpoints and every stopped tune's go (sxhub train's are left)."""
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
        drop_tune_checkpoints(self.out)


def drop_tune_checkpoints(out: Path, keep: Path | None = None) -> None:
    """The checkpoint folders of tunes in ``out`` (their fingerprint's kind, or a tune killed before it wrote one
    and left an empty folder), but ``keep`` and those :func:`~sxhub.train_resume.stopped_runs` finds of a stopped
    tune while ``keep`` is given (the one a new run keeps until it completes)."""
    kept = {keep} if keep is not None else set()
    if keep is not None:
        kept |= {folder for folder, _, _ in stopped_runs(out, KIND)}
    for folder in out.glob(CHECKPOINTS_PREFIX + "*"):
        if folder not in kept and tune_checkpoints(folder):
            shutil.rmtree(folder, ignore_errors=True)


def tune_checkpoints(folder: Path) -> bool:
    """Whether ``folder`` is a tune's checkpoint folder (a stopped one's, or one a tune killed at once left empty)."""
    if not folder.name.startswith(CHECKPOINTS_PREFIX) or not folder.is_dir() or folder.is_symlink():
        return False
    return _kind(folder) == KIND or not any(folder.iterdir())


def _kind(folder: Path) -> str | None:
    try:
        record = json.loads((folder / RESUME_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return str(record.get("kind", "train")) if isinstance(record, dict) else None
