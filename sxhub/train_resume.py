"""``sxhub train --resume``: continue a stopped training from the last checkpoint it left in ``-o``.

Every local, one-process run writes its checkpoints (weights, optimizer, scheduler, RNG states, the Trainer's state)
into a hidden ``.checkpoints-*`` folder inside ``-o`` with :data:`RESUME_FILE`, what it trains (the data's
``data_sha256``, the base, the labels and the training options: :func:`fingerprint`). The folder goes once the new
model has moved in. A run stopped before (Ctrl-C, SIGTERM, ``kill -9``, a lost machine, an error) leaves it; the
next run into ``-o`` continues from its last whole checkpoint with ``--resume`` when it trains the same thing
(:func:`prepare`), and otherwise starts over and keeps the newest such folder until it completes itself, saying in one
line that ``--resume`` would continue it; ``--restart`` removes it at once. At most one stopped run's folder is kept,
each holding at most the best and the last checkpoint (``save_total_limit``). A rerun of ``sxhub run`` continues
such a checkpoint of its own without ``--resume`` when it trains the same thing, and otherwise starts over saying why
(``prepare(..., if_same=True)``)."""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from .errors import UserError
from .model_folder import CHECKPOINTS_PREFIX, weights_files, weights_sha256

logger = logging.getLogger(__name__)

RESUME_FILE = "sxhub-resume.json"  # in a checkpoint folder: what its run trains (fingerprint)
# the training options a resumed run must share with the stopped one (max_minutes, threads: not the model's)
SAME_OPTIONS = (
    "epochs", "batch_size", "learning_rate", "max_length", "seed", "class_weights", "soft_labels", "min_agreement",
    "val_size", "validation_file", "text_column", "label_column", "early_stopping_patience", "weight_decay",
    "warmup_share", "min_steps", "layers", "distill", "distill_temperature", "distill_weight", "bf16",
)  # fmt: skip


def fingerprint(spec: Any, data: Any, config: Any, base: str) -> dict[str, Any]:
    """What a run trains: the rows (``data_sha256``, as ``sxhub.json`` records it), the base (name and weights
    hash), the labels and the options of :data:`SAME_OPTIONS`."""
    from .run_record import base_record, data_digest
    from .targets import vote_shares

    options = {name: getattr(config, name) for name in SAME_OPTIONS}
    # files by their absolute path: `--validation val.csv` and its absolute path were refused as other settings (the
    # validation rows are in data_sha256 already); the --distill model by its weights too, retrained in place
    for name in ("validation_file", "distill"):
        if options[name] is not None:
            options[name] = str(Path(options[name]).expanduser().resolve())
    record: dict[str, Any] = {
        "data_sha256": data_digest(data, vote_shares(data) if config.soft_labels else None),
        # its weights' hash where they are found (the same base by another path), else its name or Hub id
        "base": base_record(base) or {"base_model": config.base_model},
        "labels": {"labels": list(spec.label_names), "multi_label": bool(spec.multi_label)},
        "options": options,
    }
    if config.distill is not None:
        record["distill_sha256"] = weights_sha256(Path(config.distill).expanduser())
    return record


def differences(stopped: dict[str, Any], now: dict[str, Any], named: dict[str, str] | None = None) -> list[str]:
    """What differs between two fingerprints, in words (``the data (data_sha256)``, ``--epochs``); ``named``: the
    options' names as typed (``sxhub tune``'s, :mod:`sxhub.tune_resume`), else ``sxhub train``'s."""
    if named is None:
        from .train_config import OPTIONS

        named = {**OPTIONS, "validation_file": "--validation", "text_column": "--text-column",
                 "label_column": "--label-column", "class_weights": "--no-class-weights",
                 "soft_labels": "--soft-labels", "distill": "--distill", "bf16": "--bf16"}  # fmt: skip
    said = []
    if stopped.get("data_sha256") != now.get("data_sha256"):
        said.append("the data (data_sha256)")
    if stopped.get("examples_sha256") != now.get("examples_sha256"):  # sxhub tune's: its examples as encoded
        said.append("the examples (examples_sha256: the data, the task's prompt or the tokenizer)")
    if not same_base(stopped.get("base") or {}, now["base"]):
        said.append("the base model")
    if stopped.get("labels") != now["labels"]:
        said.append("the labels")
    if stopped.get("distill_sha256") != now.get("distill_sha256"):
        said.append("the --distill model's weights")
    old = stopped.get("options") or {}
    for name, value in now["options"].items():
        if old.get(name) != value:
            said.append(f"{named.get(name, name)} ({old.get(name)!r}, now {value!r})")
    return said


def same_base(stopped: dict[str, Any], now: dict[str, Any]) -> bool:
    """Whether two runs' bases (:func:`sxhub.run_record.base_record`, else the name) are the same: by the weights'
    hash where both have it, else by the Hub snapshot's commit, else by name. A Hub base first used by the stopped
    run had only its config in the cache when its record was written (``base_revision`` alone); the weights came
    after, so a ``--resume`` finds ``base_sha256`` too, and comparing whole records refused it."""
    for key in ("base_sha256", "base_revision"):
        if key in stopped and key in now:
            return bool(stopped[key] == now[key])
    return stopped == now


# what a resumed run reads from a checkpoint beside its weights and trainer_state.json (rng_state.pth: without it the
# Trainer only warns, and the run no longer gives the unstopped one's model)
RESUME_STATES = ("optimizer.pt", "scheduler.pt", "rng_state.pth")
ADAPTER_WEIGHTS = "adapter_model.safetensors"  # what a checkpoint of sxhub tune's LoRA holds instead of the model


def last_checkpoint(folder: Path) -> Path | None:
    """The last whole checkpoint in ``folder``: the highest step whose ``trainer_state.json`` (saved last), weights
    and optimizer, scheduler and RNG states are there; a checkpoint cut short by ``kill -9``, while it was saved or
    while the Trainer removed it (the last one, not the best, once training ends), is passed over."""
    whole = [
        c
        for c in folder.glob("checkpoint-*")
        if c.name.split("-")[-1].isdigit()
        and all((c / name).is_file() for name in RESUME_STATES)
        and (weights_files(c) or (c / ADAPTER_WEIGHTS).is_file())
        and _state(c) is not None
    ]
    return max(whole, key=lambda c: int(c.name.split("-")[-1]), default=None)


def _state(checkpoint: Path) -> dict[str, Any] | None:
    """A checkpoint's Trainer state; None where it is missing or cut short (a stop while it was written)."""
    try:
        state = json.loads((checkpoint / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def where(checkpoint: Path) -> str:
    """``epoch 2 of 5, step 340`` from a checkpoint's Trainer state."""
    state = _state(checkpoint) or {}
    epochs = state.get("num_train_epochs")
    of = f" of {epochs:g}" if isinstance(epochs, (int, float)) else ""
    return f"epoch {float(state.get('epoch') or 0):g}{of}, step {state.get('global_step', 0)}"


def stopped_runs(out: Path, kind: str = "train") -> list[tuple[Path, Path, dict[str, Any]]]:
    """The checkpoint folders of stopped runs in ``out`` that can be resumed, newest first: (folder, its last
    whole checkpoint, its fingerprint); those of ``kind`` alone (a fingerprint's ``kind``: ``tune`` for sxhub tune's,
    none for sxhub train's)."""
    found = []
    for folder in out.glob(CHECKPOINTS_PREFIX + "*"):
        record = folder / RESUME_FILE
        checkpoint = last_checkpoint(folder) if record.is_file() and not folder.is_symlink() else None
        if checkpoint is None:
            continue
        try:
            fingerprint = json.loads(record.read_text(encoding="utf-8"))
        except ValueError:
            continue
        if isinstance(fingerprint, dict) and fingerprint.get("kind", "train") == kind:
            found.append((folder, checkpoint, fingerprint))
    return sorted(found, key=lambda f: (f[1] / "trainer_state.json").stat().st_mtime_ns, reverse=True)


def prepare(
    out: Path,
    now: dict[str, Any],
    *,
    resume: bool,
    restart: bool,
    if_same: bool = False,
    named: dict[str, str] | None = None,
) -> tuple[Path | None, Path | None]:
    """Before a one-process local run into ``out``: (the checkpoint folder to train in, the checkpoint to resume
    from), both None for a new one. ``resume`` continues the newest stopped run of the same training or refuses in
    one line (none there, or what differs); ``restart`` removes every stopped run's folder. ``if_same`` (a rerun of
    ``sxhub run``) continues the newest stopped run when it trains the same thing and otherwise starts over, saying
    why in one line. Otherwise the newest is kept until this run completes (said in one line: that ``--resume`` would
    continue it, or what differs) and older ones removed. The stopped runs are those of ``now``'s kind
    (:func:`stopped_runs`); ``named`` as :func:`differences`'s."""
    runs = stopped_runs(out, now.get("kind", "train")) if out.is_dir() else []
    if restart:
        for folder, _, _ in runs:
            shutil.rmtree(folder, ignore_errors=True)
        return None, None
    if if_same and runs:
        folder, checkpoint, stopped = runs[0]
        differ = differences(stopped, now, named)
        if not differ:
            for other, _, _ in runs[1:]:
                shutil.rmtree(other, ignore_errors=True)
            logger.warning("train: resuming the stopped run from %s (%s)", where(checkpoint), checkpoint)
            return folder, checkpoint
        logger.warning(
            "train: the stopped run in %s trained on other settings (%s), so this one starts from step 0; its "
            "checkpoint (%s) is removed once this run completes.",
            out,
            "; ".join(differ),
            where(checkpoint),
        )
    if resume:
        if not runs:
            raise UserError(
                f"--resume: {str(out)!r} holds no checkpoint of a stopped run to continue; drop --resume to train "
                "from the start."
            )
        folder, checkpoint, stopped = runs[0]
        differ = differences(stopped, now, named)
        if differ:
            raise UserError(
                f"--resume: the stopped run in {str(out)!r} trained on other settings ({'; '.join(differ)}); pass "
                "the same ones to continue it, or --restart (or a new -o) to train from the start."
            )
        logger.warning("resuming from %s (%s)", where(checkpoint), checkpoint)
        return folder, checkpoint
    if runs:
        folder, checkpoint, stopped = runs[0]
        differ = differences(stopped, now, named)
        if not differ:
            logger.warning(
                "%s holds the checkpoint of a stopped run of this same training (%s): --resume would continue it; "
                "this run starts over and removes it once it completes (--restart removes it now).",
                out,
                where(checkpoint),
            )
        elif not if_same:  # (sxhub run's rerun said so above)
            logger.warning(
                "%s holds the checkpoint of a stopped run (%s) of other settings (%s): this run removes it once it "
                "completes (Ctrl-C now, and those settings with --resume, continue that one instead).",
                out,
                where(checkpoint),
                "; ".join(differ),
            )
        for other, _, _ in runs[1:]:
            shutil.rmtree(other, ignore_errors=True)
    return None, None


# how a stopped run is continued: sxhub train's --resume, or the same sxhub run again (prepare's if_same)
RESUME_HOW = (
    "the same command with --resume (Python: TrainConfig(resume=True)) continues from it, --restart starts over"
)
RUN_HOW = "the same command continues training from it (--retrain starts over)"


def resumable_after(minutes: float) -> Any:
    """A callback for a resumable run: until it has trained ``minutes`` it saves a checkpoint only at a new best
    epoch, of the weights alone (``save_strategy="best"``, ``save_only_model``: what ``load_best_model_at_end``
    needs), then every epoch with the optimizer, scheduler and RNG states too (what :func:`last_checkpoint`
    needs). Every epoch with them from the first, the demo's 50 epochs of 26 texts wrote 13.8 GB and trained 30 s
    (0.18 GB and 22 s so); a run stopped in its first minutes loses only them. Once on, it stays
    on: a checkpoint of the weights alone after it would rotate the resumable one away (``save_total_limit``).
    0: on from the first epoch (a resumed run, whose checkpoint must not be rotated away so)."""
    from transformers import TrainerCallback
    from transformers.trainer_utils import SaveStrategy

    class ResumableAfter(TrainerCallback):
        def __init__(self) -> None:
            self.start = time.monotonic()

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.start = time.monotonic()
            resumable = minutes <= 0
            args.save_strategy = SaveStrategy.EPOCH if resumable else SaveStrategy.BEST
            args.save_only_model = not resumable

        def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            # after the Trainer's own on_epoch_end (which sets should_save for "epoch" alone); it evaluates, then
            # saves, reading both arguments then (_maybe_log_save_evaluate, _save_checkpoint)
            if args.save_only_model and time.monotonic() - self.start >= minutes * 60:
                args.save_strategy, args.save_only_model = SaveStrategy.EPOCH, False
                control.should_save = True
            return control

    return ResumableAfter()


def keep_note(folder: Path, how: str = RESUME_HOW) -> str | None:
    """What the interruption line says of a run stopped with a checkpoint in ``folder`` (None: it saved none)."""
    checkpoint = last_checkpoint(folder)
    if checkpoint is None:
        return None
    return f"the checkpoint of {where(checkpoint)} is kept in {folder}: {how}"
