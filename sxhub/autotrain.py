"""The AutoTrain training backend (``sxhub train --backend autotrain``).

autotrain-advanced pins transformers 4.x / datasets 3.x / huggingface_hub 0.x, so it cannot share sxhub's
environment: it lives in a venv of its own (``make autotrain-env`` builds ``.venv-autotrain``) and runs as a
subprocess. This module writes the data and an AutoTrain YAML config into a work folder, trains it there as
``autotrain --config`` would but with AutoTrain's trainer as the only process (:mod:`sxhub.autotrain_launch`), checks the files it wrote (its exit code says nothing: 0 on failure happens), and normalises the result into
sxhub's model layout: labels in the task's order (AutoTrain sorts them alphabetically, so the classifier rows are
permuted), tokenizer, ``model.safetensors`` and ``sxhub.json``. Running the subprocess and reading what it wrote
live in :mod:`sxhub.autotrain_run`.
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

import numpy as np
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
from .data import preprocessing_config
from .errors import BackendError, InputError, ModelError, UserError
from .labelled import LabelledData
from .progress import bars_off
from .recipe import fit_batch_size, fit_learning_rate, over_limit_note, truncated_count
from .run_record import SXHUB_JSON, _file_name, base_lineage, task_record, weights_record
from .spec import TaskSpec
from .targets import data_notes, holdout
from .train_config import DEFAULT_BASE, TrainConfig, TrainResult, default_base_model
from .validation import best_metric_name, validate

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


# ------------------------------------------------------------------------------------------------------------------
# the backend as sxhub train runs it
# ------------------------------------------------------------------------------------------------------------------
def _local_max_length(
    base: str | Path, texts: list[str], given: int | None = None, *, student: bool = False
) -> tuple[int, list[int], int]:
    """The max_length the local backend would choose for these training texts and this base
    (:func:`sxhub.recipe.choose_max_length`: their 95th percentile of tokens, capped by the model), not AutoTrain's
    fixed 128, so both backends truncate alike; with the texts' token lengths and the most the base takes, for the
    local backend's note and counts of the texts cut (:func:`sxhub.recipe.over_limit_note`). A ``given`` one
    (``--max-length``) past what the base takes is refused as the local backend refuses it: AutoTrain started, then
    failed in the embeddings (exit 1). ``student``: the base given is an sxhub student (``base`` may be a folder of
    links to it without its ``sxhub.json``), whose tokenizer's model_max_length is its training max_length, not a
    limit (as :func:`sxhub.train.load_base` reads it): a student trained at 16 tokens capped the next at 16."""
    from transformers import AutoConfig, AutoTokenizer

    from .recipe import choose_max_length, length_limit, token_lengths

    tokenizer = AutoTokenizer.from_pretrained(base)
    model_config = AutoConfig.from_pretrained(base)
    if student or (Path(base) / SXHUB_JSON).is_file():
        tokenizer.model_max_length = int(getattr(model_config, "max_position_embeddings", 512) or 512)
    limit = length_limit(tokenizer, model_config)
    if given and given > limit:
        raise InputError(
            f"--max-length {given} is more than the base model takes ({limit} tokens); pass --max-length "
            f"{limit} or less, or leave it out to fit it to the texts."
        )
    lengths = token_lengths(tokenizer, texts)
    return given or choose_max_length(tokenizer, texts, model_config, lengths=lengths), lengths, limit


def base_tokenizer_for_autotrain(base: str, folder: Path) -> tuple[str, str | None]:
    """``base`` with a tokenizer AutoTrain's transformers 4 can load and pad with, for a local base folder: a
    decoder's (GPT-2, Llama, Qwen, SmolLM) has no pad token, and AutoTrain stopped at transformers' 'Asking to pad but
    the tokenizer does not have a padding token' (the local backend pads with the end-of-text token:
    :func:`sxhub.head.give_pad_token`); a tokenizer transformers 5 saved under its generic class name
    (``TokenizersBackend``) stopped it at 'Tokenizer class TokenizersBackend does not exist'. ``folder`` then holds
    the tokenizer with the end-of-text token as its pad token (padding on the right, where AutoTrain's transformers
    4 looks for a decoder's last token), ``config.json`` with that ``pad_token_id``, and links to the base's other
    files. Returns the base to load and the note for the training notes; the base as given and None otherwise."""
    from transformers import AutoTokenizer

    from .head import give_pad_token

    path = Path(base).expanduser()
    if not path.is_dir():
        return base, None
    settings_file = path / "tokenizer_config.json"
    settings = json.loads(settings_file.read_text(encoding="utf-8")) if settings_file.is_file() else {}
    tokenizer = AutoTokenizer.from_pretrained(path)
    note = give_pad_token(base, tokenizer)
    if note is None and settings.get("tokenizer_class") != "TokenizersBackend":
        return base, None
    folder.mkdir(parents=True, exist_ok=True)
    if note is not None:
        tokenizer.padding_side = "right"
        model_config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        model_config["pad_token_id"] = tokenizer.pad_token_id
        (folder / "config.json").write_text(json.dumps(model_config, indent=2) + "\n", encoding="utf-8")
    tokenizer.save_pretrained(folder)
    readable_by_transformers4(folder)
    present = {item.name for item in folder.iterdir()}
    for item in path.iterdir():
        if item.name not in present:
            (folder / item.name).symlink_to(item.resolve())  # the weights and the rest, not copied
    return str(folder), note


def check_options(spec: TaskSpec, config: TrainConfig) -> None:
    """What the AutoTrain backend cannot do, refused before anything is loaded (and by ``run`` before a teacher is
    asked): a multi-label task, the local backend's own options, part of an epoch."""
    if spec.multi_label:
        raise UserError(
            "--backend autotrain trains single-label classifiers only; use --backend local for this multi-label task."
        )
    if config.soft_labels:
        raise UserError("--soft-labels needs --backend local (AutoTrain trains on hard labels only).")
    if config.layers is not None:
        raise UserError("--layers needs --backend local (AutoTrain trains the base model's full depth).")
    if config.distill:
        raise UserError("--distill needs --backend local (AutoTrain trains on the labels only).")
    if config.bf16:
        raise UserError("--bf16 needs --backend local (AutoTrain is run with its own precision settings).")
    if config.epochs != int(config.epochs):
        raise UserError(
            f"epochs={config.epochs!r}: the autotrain backend trains whole epochs only; give a whole number (e.g. "
            f"--epochs {max(1, round(config.epochs))}) or use --backend local for part of an epoch."
        )


def train_autotrain(
    spec: TaskSpec,
    data: LabelledData,
    config: TrainConfig,
    early_notes: Sequence[str] = (),
    *,
    split: tuple[list[int], list[int]] | None = None,
) -> TrainResult:
    """Train with AutoTrain Advanced (single-label only) on the same stratified split. ``early_notes`` are the
    warnings :func:`sxhub.train.train` gave before the run (a label no training text has, conflicting rows): the
    result and ``sxhub.json`` carry them, as the local backend's do."""
    check_options(spec, config)
    base = config.base_model or default_base_model()
    train_idx, val_idx = split or holdout(data, val_size=config.val_size, seed=config.seed)  # train()'s, if given
    frame = pd.DataFrame({"text": data.texts, "label": data.labels})
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sxhub-autotrain-base-") as tmp:
        from .head import base_in_label_order
        from .symbol_split import base_with_isolated_symbols, keep_split_on_load

        # a classifier as the base (a student, written texts first): its head in AutoTrain's label order (sorted),
        # since AutoTrain, like transformers, would keep any head of the right size whatever its rows stood for
        base_read, head_note = base_in_label_order(base, spec, sorted(spec.label_names), Path(tmp) / "head")
        base_read, pad_note = base_tokenizer_for_autotrain(base_read, Path(tmp) / "tokenizer")
        # the local backend's tokenizer (symbols split off words, sxhub.symbol_split), so that both backends
        # read "thanks👍" as a word and a symbol; AutoTrain loads the base by path from a folder of links to it
        read_base, split_inputs = base_with_isolated_symbols(base_read, Path(tmp) / "base")
        train_texts = [data.texts[i] for i in train_idx]
        student = Path(base).expanduser().joinpath(SXHUB_JSON).is_file()
        max_length, lengths, limit = _local_max_length(read_base, train_texts, config.max_length, student=student)
        # the local backend's note on the texts cut at max_length, said now, before a long run (_train_local)
        cut_note = over_limit_note(lengths, len(train_texts), limit, max_length, given=bool(config.max_length))
        if cut_note:
            logger.warning(cut_note)
        out = Path(
            run_autotrain(
                frame.iloc[train_idx].reset_index(drop=True),
                frame.iloc[val_idx].reset_index(drop=True),
                label_names=spec.label_names,
                base_model=read_base,
                output_dir=Path(config.output_dir),
                epochs=int(config.epochs),
                batch_size=config.batch_size or fit_batch_size(len(data.texts)),  # train() fitted both already
                learning_rate=config.learning_rate or fit_learning_rate(None),
                max_length=max_length,
                seed=config.seed,
                early_stopping_patience=config.early_stopping_patience,
                weight_decay=config.weight_decay,
                max_minutes=config.max_minutes,
                threads=config.threads,
                echo=not bars_off(),  # AutoTrain's log and bars on stderr; none under sxhub -q, as sxhub's own bars
                temp_dirs=[tmp],
            )
        )
    if split_inputs is not None and (out / "tokenizer_config.json").is_file():
        keep_split_on_load(out, split_inputs)  # as the local backend saves it, whatever AutoTrain's transformers wrote
    seconds = time.perf_counter() - start
    info = json.loads((out / SXHUB_JSON).read_text(encoding="utf-8")) if (out / SXHUB_JSON).is_file() else {}
    if (out / "tokenizer_config.json").is_file() and info.get("max_length"):
        # the training max_length, as the local backend saves it (train._save): the base's (AutoTrain keeps it) made
        # pipeline(..., truncation=True) read 128 tokens of a text the student learned and sxhub predicts at 64
        tokenizer_config = json.loads((out / "tokenizer_config.json").read_text(encoding="utf-8"))
        tokenizer_config["model_max_length"] = int(info["max_length"])
        (out / "tokenizer_config.json").write_text(
            json.dumps(tokenizer_config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    info["base_model"] = str(base)  # the base, not the folder of links AutoTrain read it from
    if lineage := base_lineage(base):  # a student folder as the base: what it was fine-tuned from
        info["base_lineage"] = lineage
    info.setdefault("task", task_record(spec))
    info.setdefault("thresholds", None)
    max_length = int(info.get("max_length") or config.max_length or 128)
    # predict, the Space and the card apply this block: the one train() cleaned the training texts with
    info["preprocessing"] = preprocessing_config(spec.preprocess, max_length=max_length)
    # accuracy and macro F1 of the kept model on the validation rows, computed as the local backend computes them
    val_gold = np.asarray(data.label_ids())[val_idx]
    val_logits = validation_logits(out, [data.texts[i] for i in val_idx], max_length)
    validation, _ = validate(spec, val_logits, val_gold, seed=config.seed)
    metric = best_metric_name(False)
    figures = info.setdefault("train", {})
    selection_note = (
        f"AutoTrain kept the epoch with the lowest validation loss (it cannot select by {metric}); the validation "
        f"figures are that model's."
    )
    stopped_note = (
        [
            f"Stopped by the time cap after {config.max_minutes:g} min at epoch {figures.get('epochs', 0):g} "
            f"({config.max_minutes_from}); the best checkpoint so far is kept."
        ]
        if figures.get("stopped_by_time")
        else []
    )
    base_notes = [note for note in (pad_note, head_note) if note]
    cut = [cut_note] if cut_note else []
    notes = [*data_notes(data), *early_notes, *base_notes, *cut, selection_note, *stopped_note]
    figures.update(validation=validation, best_metric=metric, best_score=validation[metric], notes=notes)
    # what the local backend's record says of the data (write_sxhub_json), which the model card reads: without them
    # the card's evaluation counted "unknown" rows and called a --validation file's rows "held out of its training
    # file"
    figures.update(
        n_val=len(val_idx),
        val_size=None if config.validation_file is not None else config.val_size,
        validation_file=_file_name(config.validation_file),
        min_agreement=config.min_agreement,
        class_weights=False,  # AutoTrain's loss has none
        soft_labels=False,
        # what the local backend counts of the texts cut at max_length, which the model card's limitations say
        n_truncated=truncated_count(lengths, len(train_texts), max_length),
        longest_tokens=max(lengths, default=None),
    )
    # the sha256 of the weights normalise_model saved, as the local backend records it (write_sxhub_json): without it
    # an ONNX-only folder of an autotrain student loaded another student's export copied into onnx/, and the Space
    # had nothing to check its export against
    info.update(weights_record(out))
    (out / SXHUB_JSON).write_text(json.dumps(info, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    if (out / "config.json").is_file():  # for plain transformers users, as the local backend saves it (train._save)
        model_config = json.loads((out / "config.json").read_text(encoding="utf-8"))
        # this model's block, not the one AutoTrain carried over from a student base's config: a base trained with
        # block 4 left its block (no NFC) beside a model trained on NFC texts cleaned by block 6
        model_config["sxhub_preprocessing"] = info["preprocessing"]
        # nor that base's thresholds (a multi-label student's, for its labels): this model is single-label
        model_config.pop("sxhub_thresholds", None)
        (out / "config.json").write_text(json.dumps(model_config, indent=2) + "\n", encoding="utf-8")
    return TrainResult(
        model_dir=out,
        backend="autotrain",
        base_model=base if config.base_model else DEFAULT_BASE,
        multi_label=False,
        labels=spec.label_names,
        max_length=max_length,
        n_train=len(train_idx),
        n_val=len(val_idx),
        epochs=float(figures.get("epochs", 0.0)),
        seconds=round(float(figures.get("seconds", seconds)), 1),
        best_metric=metric,
        best_score=float(validation[metric]),
        validation=validation,
        notes=notes,
        n_truncated=figures["n_truncated"],
        longest_tokens=figures["longest_tokens"],
    )
