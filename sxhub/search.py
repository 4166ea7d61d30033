"""``sxhub train --search N``: a small hyperparameter search with Optuna around :func:`sxhub.train.train`.

from sxhub.search import search
result = search("task.yaml", "labelled.parquet", TrainConfig(output_dir="student"), trials=8, minutes=30)
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import pandas as pd

from .distill import TeacherLogits
from .errors import BackendError, UserError
from .interrupts import Terminated
from .labelled import LabelledData, load_labelled
from .model_folder import drop_leftovers, move_into, staging_folder
from .run_record import SXHUB_JSON
from .spec import TaskSpec, load_spec
from .train import stale_export, train
from .train_config import LABEL_COLUMN_OPTION, TrainConfig, TrainResult, check_int, check_number
from .train_resume import stopped_runs, where

logger = logging.getLogger(__name__)

SEARCH_SPACE = "learning_rate 2e-5..3e-4 (log), batch_size 16/32/64, weight_decay 0/0.01/0.1"
SEARCHED = ("learning_rate", "batch_size", "weight_decay")
MIN_TRIAL_MINUTES = 0.1  # a trial started just before the search's cap still trains this long


def held_settings(config: TrainConfig) -> dict[str, Any]:
    """The searched settings the caller chose, which the search keeps as given: batch size and learning rate when
    not None (None: sxhub fits them), weight decay when it differs from TrainConfig's default (the CLI has no option
    for it, so from ``sxhub train`` it is always searched)."""
    default_decay = next(f.default for f in fields(TrainConfig) if f.name == "weight_decay")
    held: dict[str, Any] = {}
    if config.learning_rate is not None:
        held["learning_rate"] = config.learning_rate
    if config.batch_size is not None:
        held["batch_size"] = config.batch_size
    if config.weight_decay != default_decay:
        held["weight_decay"] = config.weight_decay
    return held


def search(
    spec: TaskSpec | str | os.PathLike[str] | dict[str, Any],
    data: LabelledData | pd.DataFrame | str | os.PathLike[str],
    config: TrainConfig,
    *,
    trials: int,
    minutes: float | None = None,
) -> TrainResult:
    """A small hyperparameter search with Optuna (TPE sampler, seeded): learning rate, batch size and weight decay,
    those of them the config leaves to sxhub (:func:`held_settings`: a value the caller gave is kept, not replaced).

    Every trial is a full :func:`train` on the same train/validation split (class weights, early stopping,
    threshold tuning and the cross-fitted validation metric included), in its own folder; the trial with the best
    validation metric is kept as ``config.output_dir`` and the others are deleted. Optuna drives sxhub's own
    ``train`` rather than ``Trainer.hyperparameter_search``, which would rebuild the model through ``model_init``
    outside that recipe and train the winner a second time. ``minutes`` caps the whole search (no trial starts after
    it, and the trial under way stops at it, keeping its best checkpoint; it must be > 0, None for no cap). A trial whose validation metric is not a number counts as
    failed; when no trial gives one, :class:`~sxhub.errors.BackendError` says so. The best validation figure is
    chosen among trials, so it flatters the winner: quote the held-out test split (``sxhub evaluate``).

    Ctrl-C or SIGTERM ends the search as ``--search-minutes`` would, but at once: the trial under way is dropped,
    the best finished trial is kept as ``config.output_dir`` (its record says ``interrupted``), and the interrupt
    goes on (exit 130 / 143 from the CLI), its ``sxhub_rerun`` attribute saying what was kept. A search stopped
    after hours lost every finished trial: -o kept the earlier model, and neither the models nor the settings the
    trials found were left. Without a finished trial it ends as before, -o untouched.
    """
    try:
        import optuna
    except ImportError as exc:
        raise UserError('--search needs optuna; run pip install "sxhub[search]".') from exc
    import torch

    check_int("trials", trials, low=1)
    if minutes is not None:
        check_number("minutes", minutes, low=0, low_open=True, high=100_000)  # 0 would read as "no cap" below
    held = held_settings(config)
    if len(held) == len(SEARCHED):
        raise UserError(
            "--search has nothing left to search: learning rate, batch size and weight decay are all given; drop "
            "--learning-rate or --batch-size to search it, or drop --search."
        )
    spec = load_spec(spec)
    if not isinstance(data, LabelledData):
        data = load_labelled(data, text_column=config.text_column, label_names=spec.label_names,
                             multi_label=spec.multi_label, label_column=config.label_column,
                             label_option=LABEL_COLUMN_OPTION, read_votes=config.soft_labels)  # fmt: skip
    output_dir = Path(config.output_dir)
    created = not output_dir.exists()
    # inside -o (same filesystem), the kept trial moved in as train moves a student in (sxhub.model_folder): -o
    # was deleted and the trial moved in its place, which lost the user's files there (notes, a clone's .git)
    work = staging_folder(output_dir)
    # a killed run's work folders, but for the checkpoint of a stopped `sxhub train` that --resume continues (the
    # newest, as train keeps): the search removed it without a word, and with it the epochs trained before the stop
    stopped = stopped_runs(output_dir)[:1]
    for _, checkpoint, _ in stopped:
        logger.warning(
            "%s holds the checkpoint of a stopped training (%s): --search leaves it there; sxhub train with --resume "
            "in place of --search continues it; sxhub train --restart (without --search), or deleting the folder, removes "
            "it.",
            output_dir,
            where(checkpoint),
        )
    drop_leftovers(output_dir, work, also_keep=[folder for folder, _, _ in stopped])
    results: dict[int, TrainResult] = {}
    start = time.monotonic()
    leader: list[int] = []  # the trial whose folder is the best so far; every other trial's folder is removed
    out_of_memory: list[int] = []  # the trials that ran out of (GPU) memory, counted as failed
    # --distill: the teacher's logits on the training texts, the same in every trial, computed by the first trial
    # and reused by the others (each ran the teacher over every training text again: N x its inference)
    teacher = TeacherLogits()

    def objective(trial: Any) -> float:
        suggested: dict[str, Any] = {}
        if minutes is not None:
            # Optuna's timeout only stops starting trials: a trial begun near the cap trained up to --max-minutes
            # (60 by default) past it. Each trial gets what is left of the search's minutes at most.
            left = max(minutes - (time.monotonic() - start) / 60, MIN_TRIAL_MINUTES)
            suggested["max_minutes"] = min(config.max_minutes or left, left)
            if config.max_minutes is None or left < config.max_minutes:
                suggested["max_minutes_from"] = "what was left of --search-minutes"
        if "learning_rate" not in held:
            suggested["learning_rate"] = trial.suggest_float("learning_rate", 2e-5, 3e-4, log=True)
        if "batch_size" not in held:
            suggested["batch_size"] = trial.suggest_categorical("batch_size", [16, 32, 64])
        if "weight_decay" not in held:
            suggested["weight_decay"] = trial.suggest_categorical("weight_decay", [0.0, 0.01, 0.1])
        trial_config = replace(config, output_dir=work / f"trial-{trial.number}", **suggested)
        try:
            results[trial.number] = train(spec, data, trial_config, teacher=teacher, keep_checkpoints=False)
        except torch.OutOfMemoryError:
            # a searched batch size (64) or learning rate the GPU cannot hold: that trial fails, the search goes
            # on. Raised, it ended the search and every finished trial was lost (-o kept the earlier model)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            logger.warning(
                "--search: trial %d ran out of memory (%s); counted as failed",
                trial.number,
                ", ".join(f"{k}={v:g}" for k, v in trial.params.items()),
            )
            out_of_memory.append(trial.number)
            return math.nan
        score = results[trial.number].best_score
        # only the best trial's model is kept: each trial's folder (a whole model, ~90 MB for MiniLM) waited for
        # the end of the search, 20 trials 1.8 GB beside -o
        best = results[leader[0]].best_score if leader else math.nan
        if not math.isnan(score) and (math.isnan(best) or score > best):
            for number in leader:
                shutil.rmtree(work / f"trial-{number}", ignore_errors=True)
            leader[:] = [trial.number]
        else:
            shutil.rmtree(work / f"trial-{trial.number}", ignore_errors=True)
        # NaN (a backend that gave no figure): Optuna marks the trial failed, and best_trial skips it
        return score

    # ERROR: a trial that raised (Ctrl-C, SIGTERM, a bad input) was logged as a WARNING with its whole traceback
    # before the one line the CLI prints; trials without a score are counted in the record and the note. Put back
    # after: Optuna's level holds for the process, and the caller's own studies (a notebook that ran the CLI
    # in-process, or search() itself) were silenced after the search
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    stop: KeyboardInterrupt | None = None  # Ctrl-C or SIGTERM (Terminated) during a trial
    try:
        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=config.seed))
        try:
            study.optimize(objective, n_trials=trials, timeout=minutes * 60 if minutes is not None else None)
        except KeyboardInterrupt as exc:
            if not leader:  # no finished trial with a score: nothing to keep, -o as it was
                raise
            stop = exc
        scored = [t for t in study.trials if t.value is not None and not math.isnan(t.value)]
        if not scored:
            metric = next(iter(results.values())).best_metric if results else "metric"
            if out_of_memory and len(out_of_memory) == len(study.trials):
                raise BackendError(
                    f"--search: all {len(study.trials)} trial(s) ran out of memory, so none can be kept; pass "
                    "--batch-size 16 (or a smaller --max-length) with --search."
                )
            raise BackendError(
                f"--search: none of the {len(study.trials)} trial(s) gave a validation {metric}, so none can be "
                "kept; train once without --search to see why."
            )
        best = next(t for t in study.trials if t.number == leader[0])  # the first of equal scores, as Optuna's
        kept = work / f"trial-{best.number}"
        result = replace(results[best.number], model_dir=output_dir)
        stale = stale_export(output_dir, kept, result)  # an earlier model's onnx/ goes when this one moves in
        elapsed = time.monotonic() - start  # the whole search; the result's seconds are the kept trial's training
        done = [{"number": t.number, "value": t.value, **t.params} for t in scored]
        record = {
            "trials": done,
            # the trial under way when Ctrl-C came (Optuna marked it failed) was dropped, not counted as failed
            "failed_trials": len(study.trials) - len(scored) - (stop is not None),
            **({"out_of_memory_trials": out_of_memory} if out_of_memory else {}),
            "best": {"number": best.number, "value": best.value, **best.params},
            "held": held,
            "metric": result.best_metric,
            "minutes": minutes,
            "seconds": round(elapsed, 1),
            "note": "best of the trials on validation (optimistic); the held-out test split is the figure to quote",
        }
        if stop is not None:
            record["interrupted"] = "SIGTERM" if isinstance(stop, Terminated) else "Ctrl-C"
        result.notes.append(
            f"Hyperparameter search: {len(done)} trial(s) in {elapsed / 60:.1f} min, best {result.best_metric} "
            f"{best.value:.4f} with "
            + ", ".join(f"{k}={v:g}" for k, v in best.params.items())
            + "."
            + (" Held as given: " + ", ".join(f"{k}={v:g}" for k, v in held.items()) + "." if held else "")
            + (
                f" Stopped by {record['interrupted']} after {len(done)} finished of the {trials} trials."
                if stop is not None
                else f" Stopped at --search-minutes {minutes:g} after {len(study.trials)} of the {trials} trials."
                if len(study.trials) < trials
                else ""
            )
        )
        info_path = kept / SXHUB_JSON
        info = json.loads(info_path.read_text(encoding="utf-8"))
        info.setdefault("train", {})["search"] = record
        info_path.write_text(json.dumps(info, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
        move_into(kept, output_dir, stale=stale)
        if stop is not None:  # what the CLI's interruption line says was kept, in place of "a rerun starts over"
            stop.sxhub_rerun = (  # type: ignore[attr-defined]
                f"the search stopped after {len(done)} finished of {trials} trials, the one under way dropped; the "
                f"best ({result.best_metric} {best.value:.4f}, "
                + ", ".join(f"{k}={v:g}" for k, v in best.params.items())
                + f") is kept in {output_dir}, its trials in sxhub.json's train.search"
            )
            raise stop
    finally:
        optuna.logging.set_verbosity(verbosity)
        shutil.rmtree(work, ignore_errors=True)
        if created and output_dir.is_dir() and not any(output_dir.iterdir()):
            output_dir.rmdir()
    return result
