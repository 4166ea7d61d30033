"""Running AutoTrain and reading what it wrote (:mod:`sxhub.autotrain` prepares the work folder and turns the
result into a student): its venv's environment, the subprocess in its own process group with a time limit and a
log, the checks of its output folder (its exit code says nothing), and the model put into the task's label order,
with the epochs it ran and its validation logits.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from .errors import BackendError

logger = logging.getLogger(__name__)

FAILURE_MARKER = "has failed due to an exception"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer.model", "vocab.json")
# a LoRA adapter, as AutoTrain's llm-sft trainer saves it unmerged (PEFT's save_pretrained)
ADAPTER_FILES = ("adapter_config.json", ("adapter_model.safetensors", "adapter_model.bin"), "adapter weights")


class AutoTrainTimeout(BackendError):
    """AutoTrain ran past its time limit and was stopped (its process group ended)."""


@dataclass(frozen=True)
class AutoTrainEnv:
    """Where the AutoTrain executable lives (its ``bin`` folder also holds the ``accelerate`` it launches) and the
    Python that runs it, which sxhub starts AutoTrain's trainer with (:func:`trainer_command`)."""

    executable: Path
    python: Path

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


LAUNCHER = Path(__file__).with_name("autotrain_launch.py")


def trainer_command(env: AutoTrainEnv, config: str) -> list[str]:
    """The command that trains ``config`` (a YAML file in the work folder) as ``autotrain --config`` does, but with
    AutoTrain's trainer as the only process: :mod:`sxhub.autotrain_launch`, run by AutoTrain's Python, prepares
    the data and ``training_params.json`` with AutoTrain's own functions and then becomes the trainer (``exec``).
    ``autotrain --config`` kept its CLI and ``accelerate launch`` waiting the whole run, 0.93 GB together."""
    return [str(env.python), str(LAUNCHER), config]


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


def _watched(cmd: list[str], remove: Sequence[Path]) -> list[str]:
    """``cmd`` behind :mod:`sxhub.group_watch` on Linux, which ends the group (and removes ``remove``) if sxhub dies
    without ending it itself (``kill -9``); elsewhere ``cmd`` as it is (no parent-death signal: a killed sxhub
    leaves the group running there)."""
    if not sys.platform.startswith("linux") or not sys.executable:
        return cmd
    watcher = Path(__file__).with_name("group_watch.py")
    return [sys.executable, "-I", "-S", str(watcher), str(os.getpid()), *map(str, remove), "--", *cmd]


def run_subprocess(
    cmd: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    log_path: Path,
    timeout: float | None,
    echo: bool = True,
    remove_if_orphaned: Sequence[Path] = (),
) -> int:
    """Run ``cmd`` in its own process group, log to ``log_path``; on timeout (None: none) end the group and raise
    BackendError. If sxhub dies without ending the group (``kill -9``), the group is ended and
    the folders in ``remove_if_orphaned`` (sxhub's temporary ones) removed, on Linux (:mod:`sxhub.group_watch`)."""
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            _watched(cmd, remove_if_orphaned),
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
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
        except BaseException:
            # Ctrl-C or SIGTERM (Terminated): the group is in a session of its own, so the terminal's Ctrl-C never
            # reached it; left alone, AutoTrain trained on (holding the CPUs or GPU) after sxhub had said it stopped
            _end_group(proc)
            pump.join(timeout=10)
            raise
        pump.join(timeout=30)
    return code


def _end_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM then SIGKILL the process group that ``proc`` leads (AutoTrain spawns accelerate children); a second
    Ctrl-C while it waits for the group to end kills the group at once."""
    try:
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
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        raise


_PROGRESS = re.compile(r"\d+it/s|s/it\]|examples/s\]|^\s*\d+%\|")
# a tqdm bar at the start of a line: it ends in a carriage return, not a newline, so whatever is printed next (the
# traceback of a trainer killed mid-step, a log line) shares its line and was dropped with it
_BAR = re.compile(r"^\s*\d+%\|[^|]*\|[^\]]*\]")
_EXCEPTION_LINE = re.compile(r"^[\w.]*(Error|Exception|Interrupt)\w*: ")


_KILLED = re.compile(r"died with <Signals\.(SIG\w+): \d+>")


def readable_by_transformers4(folder: Path) -> None:
    """Give a tokenizer saved in ``folder`` by transformers 5 a class name AutoTrain's transformers 4 knows: 5 saves
    a generic fast tokenizer as ``TokenizersBackend`` ('Tokenizer class TokenizersBackend does not exist' in 4.x),
    which 4.x reads from the same ``tokenizer.json`` as ``PreTrainedTokenizerFast``."""
    settings_file = folder / "tokenizer_config.json"
    settings = json.loads(settings_file.read_text(encoding="utf-8"))
    if settings.get("tokenizer_class") == "TokenizersBackend":
        settings["tokenizer_class"] = "PreTrainedTokenizerFast"
        settings_file.write_text(json.dumps(settings, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def log_tail(log_path: Path, lines: int = 15) -> str:
    """The exception that ended the last traceback in AutoTrain's log (its trainer's, or accelerate's when the
    trainer died), if it logged one; else the last lines (progress bars dropped).

    Not only when AutoTrain's wrapper logged :data:`FAILURE_MARKER`: a trainer killed by the out-of-memory killer
    ends in accelerate's traceback, whose 15 last lines made a one-line error of file paths and carets."""
    if not log_path.is_file():
        return "(no log)"
    text = log_path.read_text(encoding="utf-8", errors="replace")
    unbarred = (_BAR.sub("", ln).strip() for ln in re.split(r"[\r\n]+", text))
    kept = [ln for ln in unbarred if ln and not _PROGRESS.search(ln)]
    starts = [i for i, ln in enumerate(kept) if "Traceback (most recent call last)" in ln]
    raised = [ln for ln in kept[starts[-1] :] if _EXCEPTION_LINE.match(ln)] if starts else []
    if raised:
        killed = _KILLED.search(raised[0])
        if killed and killed.group(1) == "SIGKILL":
            return (
                f"{raised[0]} (SIGKILL is what the kernel's out-of-memory killer sends: it likely ran out of memory)"
            )
        return raised[0]
    return " | ".join(kept[-lines:]) or "(empty log)"


def check_outputs(
    project: Path,
    log_path: Path,
    exit_code: int,
    *,
    files: tuple[str, Sequence[str], str] = ("config.json", WEIGHT_FILES, "model weights"),
) -> None:
    """AutoTrain's result counts only if it wrote config, weights (``files``: a model's by default, or
    :data:`ADAPTER_FILES`) and tokenizer and logged no failure."""
    config_file, weight_files, weights = files
    problems = []
    if exit_code < 0 and -exit_code in signal.Signals._value2member_map_:
        # the trainer is sxhub's child now (no accelerate to report its death in a traceback): the signal it died of
        killed = signal.Signals(-exit_code).name
        problems.append(
            f"killed by {killed}"
            + (
                ", what the kernel's out-of-memory killer sends: it likely ran out of memory"
                if killed == "SIGKILL"
                else ""
            )
        )
    elif exit_code != 0:
        problems.append(f"exit code {exit_code}")
    if log_path.is_file() and FAILURE_MARKER in log_path.read_text(encoding="utf-8", errors="replace"):
        problems.append("its log reports a failed training")
    if not (project / config_file).is_file():
        problems.append(f"no {config_file}")
    if not any((project / name).is_file() for name in weight_files):
        problems.append(f"no {weights}")
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
    """The Trainer state of AutoTrain's latest checkpoint whose state reads ({} when none was saved): the epochs run,
    the log, and which checkpoint was best (``best_model_checkpoint``).

    The Trainer writes a checkpoint's ``trainer_state.json`` after its weights; ``--max-minutes`` stops AutoTrain at
    any moment, so the latest one may be cut off mid-write: it is passed over for the one before (whose weights were
    whole when it was written), not read as a JSON error that lost the run."""
    states = sorted(project.glob("checkpoint-*/trainer_state.json"), key=lambda p: int(p.parent.name.split("-")[-1]))
    for path in reversed(states):
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            logger.warning("skipping %s: cut off or unreadable (AutoTrain was stopped while writing it)", path)
            continue
        if isinstance(state, dict):
            return state
    return {}


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
