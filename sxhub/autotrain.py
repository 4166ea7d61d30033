"""The AutoTrain training backend (``sxhub train --backend autotrain``).

autotrain-advanced pins transformers 4.x / datasets 3.x / huggingface_hub 0.x, so it cannot share sxhub's
environment: it lives in a venv of its own (``make autotrain-env`` builds ``.venv-autotrain``) and runs as a
subprocess. This module writes the data and an AutoTrain YAML config into a work folder, trains it there as
``autotrain --config`` would but with AutoTrain's trainer as the only process (:mod:`sxhub.autotrain_launch`), checks the files it wrote (its exit code says nothing: 0 on failure happens), and normalises the result into
sxhub's model layout: labels in the task's order (AutoTrain sorts them alphabetically, so the classifier rows are
permuted), tokenizer, ``model.safetensors`` and ``sxhub.json``. Running the subprocess and reading what it wrote
live in :mod:`sxhub.autotrain_run`; the backend as ``sxhub train`` runs it (``train_autotrain``) in
:mod:`sxhub.autotrain_train`.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from .autotrain_env import (  # noqa: F401  (TESTED_VERSION, AutoTrainMissingError: imported from here too)
    TESTED_VERSION,
    AutoTrainMissingError,
    find_autotrain,
)
from .autotrain_run import (  # noqa: F401  (label_permutation, log_tail: tests and users import them from here)
    AutoTrainEnv,
    AutoTrainTimeout,
    _best_checkpoint,
    _eval_figures,
    _subprocess_env,
    check_outputs,
    epochs_run,
    label_permutation,
    log_tail,
    normalise_model,
    readable_by_transformers4,
    run_subprocess,
    trainer_command,
    validation_logits,
)
from .errors import BackendError, InputError, ModelError
from .run_record import SXHUB_JSON

PROJECT_NAME = "autotrain-project"
DEFAULT_TIMEOUT = 6 * 3600.0
logger = logging.getLogger(__name__)


def check_inputs(train_df: pd.DataFrame, valid_df: pd.DataFrame, label_names: Sequence[str]) -> None:
    """Refuse what AutoTrain's single-label text classifier cannot train, before anything runs."""
    names = list(label_names)
    if len(names) < 2 or len(set(names)) != len(names) or not all(isinstance(n, str) and n for n in names):
        raise InputError(f"label_names must be 2 or more distinct non-empty strings, got {names!r}")
    for split, df in (("train", train_df), ("validation", valid_df)):
        _check_split(split, df, names)
    for split, df in (("train", train_df), ("validation", valid_df)):
        missing = [n for n in names if n not in set(df["label"])]
        if missing:
            raise InputError(
                f"the {split} data has no example of label(s) {missing}: AutoTrain needs every label in both train "
                "and validation; add examples (or drop the label from the task), or use --backend local"
            )


def _check_split(split: str, df: pd.DataFrame, names: list[str]) -> None:
    """One split: columns ``text`` and ``label``, string labels from the task, non-missing texts."""
    if "labels" in df.columns and "label" not in df.columns:
        raise InputError("AutoTrain's text classifier is single-label only: use --backend local for multi-label tasks")
    missing_cols = {"text", "label"} - set(df.columns)
    if missing_cols:
        raise InputError(f"the {split} data needs columns 'text' and 'label', missing {sorted(missing_cols)}")
    if len(df) == 0:
        raise InputError(f"the {split} data is empty: AutoTrain needs examples in both train and validation")
    lists = [v for v in df["label"] if isinstance(v, list | tuple | set)]
    if lists:
        raise InputError(
            f"the {split} data has {len(lists)} multi-label (list) label(s): AutoTrain's text classifier is "
            "single-label only; use --backend local for multi-label tasks"
        )
    bad = [v for v in df["label"] if not isinstance(v, str)]
    if bad:
        raise InputError(
            f"the {split} data has {len(bad)} non-string ({bad[0]!r}) label(s): AutoTrain takes one label name per "
            "text; drop the rows whose label failed"
        )
    unknown = sorted(set(df["label"]) - set(names))
    if unknown:
        raise InputError(f"the {split} data has labels {unknown} that are not in the task's labels {names}")
    if df["text"].isna().any():
        raise InputError(f"the {split} data has {int(df['text'].isna().sum())} missing text(s): drop those rows")


def build_config(
    *,
    base_model: str,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    max_length: int,
    seed: int,
    project_name: str = PROJECT_NAME,
    early_stopping_patience: int = 2,
    weight_decay: float = 0.01,
) -> dict[str, Any]:
    """The AutoTrain YAML config (as a dict) for a local single-label text-classification run on data/train.jsonl.

    ``epochs`` is a cap, as in sxhub's own backend: AutoTrain stops once its validation loss has not improved for
    ``early_stopping_patience`` epochs (AutoTrain's own default is 5 epochs and a 0.01 threshold). Weight decay is
    the local recipe's (AutoTrain's default is none). AutoTrain's params cannot name the metric that picks the
    checkpoint: its Trainer keeps the one with the lowest validation loss (recorded as ``selected_by``)."""
    return {
        "task": "text_classification",
        "base_model": base_model,
        "project_name": project_name,
        "log": "none",
        "backend": "local",
        "data": {
            "path": "data",
            "train_split": "train",
            "valid_split": "valid",
            "column_mapping": {"text_column": "text", "target_column": "label"},
        },
        "params": {
            "epochs": int(epochs),
            "batch_size": int(batch_size),
            "lr": float(learning_rate),
            "weight_decay": float(weight_decay),
            "max_seq_length": int(max_length),
            "seed": int(seed),
            "early_stopping_patience": int(early_stopping_patience),
            "early_stopping_threshold": 0.0,
            "mixed_precision": None,
            "save_total_limit": 1,
        },
        "hub": {"username": None, "token": None, "push_to_hub": False},
    }


def _check_params(epochs: int, batch_size: int, learning_rate: float, max_length: int) -> None:
    """Training figures AutoTrain would accept only to fail later."""
    if int(epochs) < 1 or int(batch_size) < 1 or int(max_length) < 8 or not float(learning_rate) > 0:
        raise InputError(
            f"AutoTrain needs epochs >= 1, batch_size >= 1, max_length >= 8 and learning_rate > 0; got epochs={epochs}, "
            f"batch_size={batch_size}, max_length={max_length}, learning_rate={learning_rate}"
        )


def _resolve_base(base_model: str | os.PathLike[str]) -> tuple[str, bool]:
    """An absolute path for a local folder (the subprocess runs elsewhere), else the Hub id as given."""
    path = Path(base_model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(f"base model folder {path} has no config.json: pass a transformers model folder")
        return str(path.resolve()), True
    if path.is_absolute() or str(base_model).startswith((".", "~")):
        raise ModelError(f"base model folder {path} does not exist: pass an existing folder or a Hub model id")
    return str(base_model), False


def label_codes(label_names: Sequence[str]) -> dict[str, str]:
    """Each label name and the label AutoTrain is given instead: ``label_0000``, ``label_0001``... numbered in the
    names' sorted order, so AutoTrain's own (sorted) label order is still the names' sorted order.

    AutoTrain reads its data files with pandas, which turns a label spelled like a missing value (``None``, ``NA``,
    ``null``, ``N/A``) into NaN (CSV) and a label spelled like a number into one (``01`` becomes ``1``, CSV and
    JSON lines alike); a code survives both, and :func:`normalise_model` puts the names back."""
    return {name: f"label_{i:04d}" for i, name in enumerate(sorted(label_names))}


def write_inputs(
    workdir: Path, train_df: pd.DataFrame, valid_df: pd.DataFrame, config: dict[str, Any], codes: dict[str, str]
) -> Path:
    """data/train.jsonl, data/valid.jsonl (labels as ``codes``) and conf.yml in ``workdir``; a stale project folder
    there is removed. JSON lines, not CSV: AutoTrain's pandas reads a CSV text ``None`` or ``NA`` as missing."""
    data_dir = workdir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    for name, df in (("train", train_df), ("valid", valid_df)):
        rows = pd.DataFrame({"text": df["text"].astype(str), "label": df["label"].map(codes)})
        rows.to_json(data_dir / f"{name}.jsonl", orient="records", lines=True, force_ascii=False)
    project = workdir / config["project_name"]
    if project.exists():
        shutil.rmtree(project)
    conf = workdir / "conf.yml"
    conf.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return conf


def _versions(env: AutoTrainEnv) -> dict[str, Any]:
    """Library versions on both sides: AutoTrain's env trained, sxhub's transformers wrote the final folder."""
    import torch
    import transformers

    from . import __version__

    return {
        "sxhub": __version__,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "autotrain_env": env.versions(),
    }


def run_autotrain(
    train_df: pd.DataFrame,
    valid_df: pd.DataFrame,
    *,
    label_names: Sequence[str],
    base_model: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    epochs: int,
    batch_size: int,
    learning_rate: float,
    max_length: int,
    seed: int,
    early_stopping_patience: int = 2,
    weight_decay: float = 0.01,
    workdir: str | os.PathLike[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    max_minutes: float | None = None,
    threads: int | None = None,
    echo: bool = True,
    temp_dirs: Sequence[str | os.PathLike[str]] = (),
) -> Path:
    """Fine-tune ``base_model`` on ``train_df`` with AutoTrain; return ``output_dir`` in sxhub's model layout.

    ``train_df``/``valid_df`` have columns ``text`` and ``label`` (one label name per text; every task label must
    occur in both). ``workdir`` keeps AutoTrain's data, config, project folder and ``autotrain.log``; by default a
    temporary folder, removed after a success and kept (named in the error) after a failure. ``echo`` streams
    AutoTrain's log to stderr. ``max_minutes`` caps the run as ``--max-minutes`` caps the local backend's: AutoTrain
    has no time limit of its own, so it is stopped then (its start-up counts too) and the best checkpoint it saved
    is kept (sxhub.json: ``stopped_by_time``); ``timeout`` bounds a run without ``max_minutes``. ``threads`` caps
    the CPU threads of AutoTrain's trainer (``OMP_NUM_THREADS``; None: its own default, every core). ``temp_dirs``:
    the caller's temporary folders for this run (the base's links), removed with the temporary work folder if sxhub
    is killed (``kill -9``) while AutoTrain runs, as AutoTrain is then ended (:mod:`sxhub.group_watch`). Raises
    :class:`~sxhub.errors.UserError` subclasses for bad input or a missing AutoTrain, and
    :class:`~sxhub.errors.BackendError` when AutoTrain fails, saves no checkpoint within ``max_minutes``, or runs
    past ``timeout`` seconds without ``max_minutes``.
    """
    names = list(label_names)
    check_inputs(train_df, valid_df, names)
    _check_params(epochs, batch_size, learning_rate, max_length)
    base, offline = _resolve_base(base_model)
    env = find_autotrain()
    config = build_config(
        base_model=base,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        max_length=max_length,
        seed=seed,
        early_stopping_patience=early_stopping_patience,
        weight_decay=weight_decay,
    )
    work = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="sxhub-autotrain-"))
    work.mkdir(parents=True, exist_ok=True)
    codes = label_codes(names)
    conf = write_inputs(work, train_df, valid_df, config, codes)
    project, log_path = work / PROJECT_NAME, work / "autotrain.log"
    # --max-minutes is the user's cap, whatever the default timeout: --max-minutes 600 (10 h) ended at the 6 h
    # timeout in an error that dropped every checkpoint saved, where the local backend trains the 10 h
    capped = max_minutes is not None
    start = time.monotonic()
    kept, tokenizer_from, stopped_by_time = project, None, False
    child_env = _subprocess_env(env, offline=offline)
    if threads:  # sxhub run --threads: AutoTrain's trainer, a process of its own, took every core whatever was given
        child_env["OMP_NUM_THREADS"] = str(int(threads))
    try:
        code = run_subprocess(
            trainer_command(env, conf.name),
            cwd=work,
            env=child_env,
            log_path=log_path,
            timeout=max_minutes * 60 if max_minutes is not None else timeout,
            echo=echo,
            remove_if_orphaned=[*([work] if workdir is None else []), *map(Path, temp_dirs)],
        )
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: AutoTrain was stopped; a rerun starts over, so nothing is kept
        if workdir is None:
            shutil.rmtree(work, ignore_errors=True)
        raise
    except AutoTrainTimeout:
        best = _best_checkpoint(project) if capped else None
        if best is None:
            if capped:
                raise BackendError(
                    f"AutoTrain saved no checkpoint within --max-minutes {max_minutes:g} (its start-up counts too); "
                    f"raise --max-minutes. Log: {log_path}"
                ) from None
            raise
        # stopped by max_minutes: the best checkpoint so far, with the base's tokenizer (AutoTrain trains with it
        # unchanged and saves it only at the end)
        kept, tokenizer_from, stopped_by_time, code = best, base, True, 0
    seconds = time.monotonic() - start
    if not stopped_by_time:
        check_outputs(project, log_path, code)
    out = Path(output_dir)
    autotrain_order = normalise_model(kept, out, names, codes, tokenizer_from=tokenizer_from)
    summary = {
        "backend": "autotrain",
        "labels": names,
        "multi_label": False,
        "max_length": int(max_length),
        "base_model": str(base_model),
        "train": {
            # the epochs AutoTrain ran (it stops early, and at max_minutes), and the cap it was given
            "epochs": epochs_run(project, log_path),
            "max_epochs": int(epochs),
            "max_minutes": max_minutes,
            "stopped_by_time": stopped_by_time,
            "batch_size": int(batch_size),
            "learning_rate": float(learning_rate),
            "weight_decay": float(weight_decay),
            "seed": int(seed),
            # AutoTrain's Trainer keeps the checkpoint with the lowest validation loss (it takes no other metric)
            "selected_by": "eval_loss",
            "n_train": len(train_df),
            "n_val": len(valid_df),
            "seconds": round(seconds, 2),
            "autotrain_label_order": autotrain_order,
            **_eval_figures(project),
        },
        "autotrain_version": env.versions()["autotrain"],
        "versions": _versions(env),
    }
    (out / SXHUB_JSON).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    if workdir is None:
        shutil.rmtree(work)
    return out
