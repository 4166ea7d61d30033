"""The AutoTrain training backend (``sxhub train --backend autotrain``).

autotrain-advanced pins transformers 4.x / datasets 3.x / huggingface_hub 0.x, so it cannot share sxhub's
environment: it lives in a venv of its own (``make autotrain-env`` builds ``.venv-autotrain``) and runs as a
subprocess. This module writes the data and an AutoTrain YAML config into a work folder, runs ``autotrain --config``
there, checks the files it wrote (its exit code says nothing: 0 on failure happens), and normalises the result into
sxhub's model layout: labels in the task's order (AutoTrain sorts them alphabetically, so the classifier rows are
permuted), tokenizer, ``model.safetensors`` and ``sxhub.json``.
"""

from __future__ import annotations

import codecs
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import yaml

from .data import LabelledData, preprocessing_config
from .errors import BackendError, InputError, ModelError, UserError
from .recipe import fit_batch_size, fit_learning_rate
from .run_record import SXHUB_JSON, base_lineage, task_record
from .spec import TaskSpec
from .targets import data_notes, holdout
from .train_config import DEFAULT_BASE, TrainConfig, TrainResult, default_base_model
from .validation import best_metric_name, validate

REPO_ROOT = Path(__file__).resolve().parent.parent
ENV_VAR = "SXHUB_AUTOTRAIN_ENV"
DEFAULT_ENV = REPO_ROOT / ".venv-autotrain"
PROJECT_NAME = "autotrain-project"
DEFAULT_TIMEOUT = 6 * 3600.0
INSTALL_HINT = (
    "run `make autotrain-env` (or `bash scripts/autotrain-env.sh`) to build .venv-autotrain, "
    f"or point {ENV_VAR} at a venv with autotrain-advanced==0.8.36"
)
FAILURE_MARKER = "has failed due to an exception"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer.model", "vocab.json")


class AutoTrainMissingError(UserError):
    """No AutoTrain installation was found (the fix is to build its venv)."""


class AutoTrainTimeout(BackendError):
    """AutoTrain ran past its time limit and was stopped (its process group ended)."""


@dataclass(frozen=True)
class AutoTrainEnv:
    """Where the AutoTrain executable lives; its ``bin`` folder also holds the ``accelerate`` it launches."""

    executable: Path

    @property
    def bin_dir(self) -> Path:
        return self.executable.parent

    def versions(self) -> dict[str, str | None]:
        """Versions of autotrain-advanced, transformers and torch in that env, read from their dist-info folders."""
        found: dict[str, str | None] = {"autotrain": None, "transformers": None, "torch": None}
        dist_names = {"autotrain_advanced": "autotrain", "transformers": "transformers", "torch": "torch"}
        for site in self.bin_dir.parent.glob("lib/python*/site-packages"):
            for info in site.glob("*.dist-info"):
                name, _, version = info.name[: -len(".dist-info")].partition("-")
                if name in dist_names:
                    found[dist_names[name]] = version
        return found


def find_autotrain() -> AutoTrainEnv:
    """``$SXHUB_AUTOTRAIN_ENV/bin/autotrain``, else ``.venv-autotrain`` at the repo root, else ``autotrain`` on PATH."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        executable = Path(configured).expanduser() / "bin" / "autotrain"
        if not executable.is_file():
            raise AutoTrainMissingError(f"{ENV_VAR}={configured} has no bin/autotrain: {INSTALL_HINT}")
        return AutoTrainEnv(executable.absolute())
    default = DEFAULT_ENV / "bin" / "autotrain"
    if default.is_file():
        return AutoTrainEnv(default)
    on_path = shutil.which("autotrain")
    if on_path:
        return AutoTrainEnv(Path(on_path).absolute())
    raise AutoTrainMissingError(f"AutoTrain is not installed: {INSTALL_HINT}")


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


def _subprocess_env(env: AutoTrainEnv, *, offline: bool) -> dict[str, str]:
    """The caller's environment with AutoTrain's venv first on PATH, no tracking, and offline for a local base."""
    child = dict(os.environ)
    for key in ("PYTHONPATH", "PYTHONHOME"):
        child.pop(key, None)
    child["PATH"] = os.pathsep.join([str(env.bin_dir), child.get("PATH", "")])
    child["VIRTUAL_ENV"] = str(env.bin_dir.parent)
    child.update(
        WANDB_DISABLED="true",
        WANDB_MODE="disabled",
        DISABLE_MLFLOW_INTEGRATION="TRUE",
        HF_HUB_DISABLE_TELEMETRY="1",
        TOKENIZERS_PARALLELISM="false",
        PAUSE_ON_FAILURE="0",
    )
    if offline:
        child.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1")
    return child


def _pump(source: IO[bytes], log: IO[bytes], echo: bool) -> None:
    """Copy the subprocess output to the log file (and to stderr) as it comes."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    for chunk in iter(lambda: source.read1(65536), b""):  # type: ignore[attr-defined]
        log.write(chunk)
        log.flush()
        if echo:
            sys.stderr.write(decoder.decode(chunk))
            sys.stderr.flush()


def run_subprocess(
    cmd: list[str], *, cwd: Path, env: dict[str, str], log_path: Path, timeout: float, echo: bool = True
) -> int:
    """Run ``cmd`` in its own process group, log to ``log_path``; on timeout end the group and raise BackendError."""
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
        )
        assert proc.stdout is not None
        pump = threading.Thread(target=_pump, args=(proc.stdout, log, echo), daemon=True)
        pump.start()
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _end_group(proc)
            pump.join(timeout=10)
            raise AutoTrainTimeout(
                f"AutoTrain ran past its {timeout:.0f} s timeout and was stopped; log: {log_path}. "
                f"Last lines: {log_tail(log_path)}"
            ) from None
        pump.join(timeout=30)
    return code


def _end_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM then SIGKILL the process group that ``proc`` leads (AutoTrain spawns accelerate children)."""
    for sig, wait_s in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 15.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


_PROGRESS = re.compile(r"\d+it/s|s/it\]|examples/s\]|^\s*\d+%\|")
_EXCEPTION_LINE = re.compile(r"^[\w.]*(Error|Exception|Interrupt)\w*: ")


def log_tail(log_path: Path, lines: int = 15) -> str:
    """The exception AutoTrain's trainer raised, if it logged one; else the last lines (progress bars dropped)."""
    if not log_path.is_file():
        return "(no log)"
    text = log_path.read_text(encoding="utf-8", errors="replace")
    kept = [ln.strip() for ln in re.split(r"[\r\n]+", text) if ln.strip() and not _PROGRESS.search(ln)]
    raised = [ln for ln in kept if _EXCEPTION_LINE.match(ln)]
    if FAILURE_MARKER in text and raised:
        return raised[-1]
    return " | ".join(kept[-lines:]) or "(empty log)"


def check_outputs(project: Path, log_path: Path, exit_code: int) -> None:
    """AutoTrain's result counts only if it wrote config, weights and tokenizer and logged no failure."""
    problems = []
    if exit_code != 0:
        problems.append(f"exit code {exit_code}")
    if log_path.is_file() and FAILURE_MARKER in log_path.read_text(encoding="utf-8", errors="replace"):
        problems.append("its log reports a failed training")
    if not (project / "config.json").is_file():
        problems.append("no config.json")
    if not any((project / name).is_file() for name in WEIGHT_FILES):
        problems.append("no model weights")
    if not any((project / name).is_file() for name in TOKENIZER_FILES):
        problems.append("no tokenizer files")
    if problems:
        raise BackendError(
            f"AutoTrain failed ({', '.join(problems)} in {project}); full log: {log_path}. "
            f"Last lines: {log_tail(log_path)}"
        )


def label_permutation(autotrain_id2label: dict[Any, str], label_names: Sequence[str]) -> list[int]:
    """Row ``j`` of the task-ordered classifier is row ``perm[j]`` of AutoTrain's (alphabetical) classifier."""
    label2row = {str(name): int(i) for i, name in autotrain_id2label.items()}
    if sorted(label2row) != sorted(label_names):
        raise BackendError(
            f"AutoTrain trained labels {sorted(label2row)} but the task has {list(label_names)}: "
            "the model does not fit the task"
        )
    return [label2row[name] for name in label_names]


def _classifier_head(model: Any, num_labels: int) -> Any:
    """The last Linear layer with ``num_labels`` outputs: the head whose rows are the labels."""
    import torch

    heads = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m.out_features == num_labels]
    if not heads:
        raise BackendError(f"found no classifier layer with {num_labels} outputs in the AutoTrain model")
    return heads[-1]


def normalise_model(
    project: Path,
    output_dir: Path,
    label_names: Sequence[str],
    codes: dict[str, str] | None = None,
    tokenizer_from: str | Path | None = None,
) -> list[str]:
    """Load AutoTrain's model with sxhub's transformers, put labels in task order, save it in ``output_dir``.

    ``codes``: the labels AutoTrain was given in place of the names (:func:`label_codes`), None when it was given
    the names; ``tokenizer_from``: where the tokenizer is (a checkpoint has none), by default ``project``. Returns
    AutoTrain's own label order (by id, as names), for the record.
    """
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(project)
    names_of = {code: name for name, code in (codes or {}).items()}
    id2label = {
        i: names_of.get(str(label), str(label)) if codes else label for i, label in model.config.id2label.items()
    }
    autotrain_order = [id2label[i] for i in sorted(id2label)]
    perm = label_permutation(id2label, label_names)
    if perm != list(range(len(perm))):
        head = _classifier_head(model, len(perm))
        index = torch.tensor(perm)
        with torch.no_grad():
            head.weight.copy_(head.weight[index].clone())
            if head.bias is not None:
                head.bias.copy_(head.bias[index].clone())
    model.config.id2label = dict(enumerate(label_names))
    model.config.label2id = {name: i for i, name in enumerate(label_names)}
    model.config.problem_type = "single_label_classification"
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output_dir, safe_serialization=True)
    AutoTokenizer.from_pretrained(tokenizer_from or project).save_pretrained(output_dir)
    return autotrain_order


def _trainer_state(project: Path) -> dict[str, Any]:
    """The Trainer state of AutoTrain's latest checkpoint ({} when none was saved): the epochs run, the log, and
    which checkpoint was best (``best_model_checkpoint``)."""
    states = sorted(project.glob("checkpoint-*/trainer_state.json"), key=lambda p: int(p.parent.name.split("-")[-1]))
    return json.loads(states[-1].read_text(encoding="utf-8")) if states else {}


_LOGGED_EPOCH = re.compile(r"'epoch': ([0-9.]+)")


def epochs_run(project: Path, log_path: Path) -> float:
    """How far AutoTrain's Trainer got, in epochs: the last epoch its log reports (each loss, eval and the final
    summary line carry one), else the latest checkpoint's. Not the checkpoint alone: with ``save_total_limit`` 1
    the Trainer deletes the last checkpoint at the end when an earlier one was best, so the one left says the
    best epoch, not the last one run."""
    text = log_path.read_text(encoding="utf-8", errors="replace") if log_path.is_file() else ""
    logged = [float(value) for value in _LOGGED_EPOCH.findall(text)]
    return round(max([*logged, float(_trainer_state(project).get("epoch") or 0.0)]), 2)


def _best_checkpoint(project: Path) -> Path | None:
    """The checkpoint AutoTrain's Trainer counted best so far (what it would have loaded at the end), if saved."""
    best = _trainer_state(project).get("best_model_checkpoint")
    folder = project / Path(best).name if best else None
    return folder if folder is not None and any((folder / name).is_file() for name in WEIGHT_FILES) else None


def _eval_figures(project: Path) -> dict[str, float]:
    """The last evaluation figures AutoTrain's Trainer logged (accuracy, macro F1, loss), when it logged any."""
    history = _trainer_state(project).get("log_history", [])
    evals = [h for h in history if "eval_loss" in h]
    if not evals:
        return {}
    keep = ("eval_loss", "eval_accuracy", "eval_f1_macro", "eval_f1_micro", "eval_f1_weighted")
    return {k: float(evals[-1][k]) for k in keep if k in evals[-1]}


def validation_logits(model_dir: Path, texts: Sequence[str], max_length: int, batch_size: int = 32) -> np.ndarray:
    """The logits of the model in ``model_dir`` (sxhub's layout, labels in task order) for ``texts``, truncated at
    ``max_length`` as in training: the validation figures are computed from the model that was kept, by sxhub's
    own metric code, rather than read from what AutoTrain logged (for two labels it logs no macro F1 at all, and
    its last log is the last epoch's, not the kept checkpoint's)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    chunks = []
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(
                list(texts[start : start + batch_size]),
                truncation=True,
                max_length=max_length,
                padding=True,
                return_tensors="pt",
            )
            chunks.append(model(**batch).logits.float().numpy())
    return np.concatenate(chunks) if chunks else np.zeros((0, model.config.num_labels), dtype=np.float32)


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
    echo: bool = True,
) -> Path:
    """Fine-tune ``base_model`` on ``train_df`` with AutoTrain; return ``output_dir`` in sxhub's model layout.

    ``train_df``/``valid_df`` have columns ``text`` and ``label`` (one label name per text; every task label must
    occur in both). ``workdir`` keeps AutoTrain's data, config, project folder and ``autotrain.log``; by default a
    temporary folder, removed after a success and kept (named in the error) after a failure. ``echo`` streams
    AutoTrain's log to stderr. ``max_minutes`` caps the run as ``--max-minutes`` caps the local backend's: AutoTrain
    has no time limit of its own, so it is stopped then (its start-up counts too) and the best checkpoint it saved
    is kept (sxhub.json: ``stopped_by_time``). Raises :class:`~sxhub.errors.UserError` subclasses for bad input or a
    missing AutoTrain, and :class:`~sxhub.errors.BackendError` when AutoTrain fails, saves no checkpoint within
    ``max_minutes``, or runs past ``timeout`` seconds.
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
    capped = max_minutes is not None and max_minutes * 60 < timeout
    start = time.monotonic()
    kept, tokenizer_from, stopped_by_time = project, None, False
    try:
        code = run_subprocess(
            [str(env.executable), "--config", conf.name],
            cwd=work,
            env=_subprocess_env(env, offline=offline),
            log_path=log_path,
            timeout=max_minutes * 60 if capped and max_minutes is not None else timeout,
            echo=echo,
        )
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
            "n_valid": len(valid_df),
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
def _local_max_length(base: str | Path, texts: list[str]) -> int:
    """The max_length the local backend would choose for these training texts and this base
    (:func:`sxhub.train.choose_max_length`: their 95th percentile of tokens, capped by the model), not AutoTrain's
    fixed 128, so both backends truncate alike."""
    from transformers import AutoConfig, AutoTokenizer

    from .train import choose_max_length

    tokenizer = AutoTokenizer.from_pretrained(base)
    model_config = AutoConfig.from_pretrained(base)
    if (Path(base) / SXHUB_JSON).is_file():  # a student's model_max_length is its training max_length (load_base)
        tokenizer.model_max_length = int(getattr(model_config, "max_position_embeddings", 512) or 512)
    return choose_max_length(tokenizer, texts, model_config)


def train_autotrain(spec: TaskSpec, data: LabelledData, config: TrainConfig) -> TrainResult:
    """Train with AutoTrain Advanced (single-label only) on the same stratified split."""
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
    base = config.base_model or default_base_model()
    train_idx, val_idx = holdout(data, val_size=config.val_size, seed=config.seed)
    frame = pd.DataFrame({"text": data.texts, "label": data.labels})
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sxhub-autotrain-base-") as tmp:
        from .head import base_in_label_order
        from .symbol_split import base_with_isolated_symbols, keep_split_on_load

        # a classifier as the base (a student, written texts first): its head in AutoTrain's label order (sorted),
        # since AutoTrain, like transformers, would keep any head of the right size whatever its rows stood for
        base_read, head_note = base_in_label_order(base, spec, sorted(spec.label_names), Path(tmp) / "head")
        # the local backend's tokenizer (symbols split off words, sxhub.symbol_split), so that both backends
        # read "thanks👍" as a word and a symbol; AutoTrain loads the base by path from a folder of links to it
        read_base, split_inputs = base_with_isolated_symbols(base_read, Path(tmp) / "base")
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
                max_length=config.max_length or _local_max_length(read_base, [data.texts[i] for i in train_idx]),
                seed=config.seed,
                early_stopping_patience=config.early_stopping_patience,
                weight_decay=config.weight_decay,
                max_minutes=config.max_minutes,
            )
        )
    if split_inputs is not None and (out / "tokenizer_config.json").is_file():
        keep_split_on_load(out, split_inputs)  # as the local backend saves it, whatever AutoTrain's transformers wrote
    seconds = time.perf_counter() - start
    info = json.loads((out / SXHUB_JSON).read_text(encoding="utf-8")) if (out / SXHUB_JSON).is_file() else {}
    info["base_model"] = str(base)  # the base, not the folder of links AutoTrain read it from
    if lineage := base_lineage(base):  # a student folder as the base: what it was fine-tuned from
        info["base_lineage"] = lineage
    info.setdefault("task", task_record(spec))
    info.setdefault("thresholds", None)
    max_length = int(info.get("max_length") or config.max_length or 128)
    # predict, the Space and the card apply this block
    info.setdefault("preprocessing", preprocessing_config(spec.preprocess, max_length=max_length))
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
            "(--max-minutes); the best checkpoint so far is kept."
        ]
        if figures.get("stopped_by_time")
        else []
    )
    figures.update(validation=validation, best_metric=metric, best_score=validation[metric])
    (out / SXHUB_JSON).write_text(json.dumps(info, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    if (out / "config.json").is_file():  # for plain transformers users, as the local backend saves it
        model_config = json.loads((out / "config.json").read_text(encoding="utf-8"))
        model_config.setdefault("sxhub_preprocessing", info["preprocessing"])
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
        notes=data_notes(data) + ([head_note] if head_note else []) + [selection_note] + stopped_note,
    )
