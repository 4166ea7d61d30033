"""The student an earlier ``sxhub run`` trained into ``OUT/model``, reused by a rerun that would train it on the
same labels with the same settings: a push that failed after hours of training was finished only by a rerun that
trained the student again from the start (the label cache made annotate free, not training).

After training, ``OUT/train.fingerprint.json`` records a hash of what training saw (the task spec, every column of
the rows trained on but the experts' labels, the training options) and of the student's weights. A rerun whose hash
is the same, and whose ``OUT/model`` still holds those weights, whole, skips training; any other change (a text, a
label, a vote, the task, an option, weights written over by ``sxhub train -o OUT/model``) trains again, and
``--retrain`` always does. The file is removed before training starts, so a stopped training leaves none.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from .model_folder import INCOMPLETE
from .run_report import jsonable
from .spec import TaskSpec
from .train_config import TrainConfig, TrainResult

logger = logging.getLogger(__name__)

FINGERPRINT_FILE = "train.fingerprint.json"
WEIGHTS = ("*.safetensors", "*.bin")  # what a student's weights are saved as (any shard)
# options that change how fast training runs, not what it learns from (output_dir: always OUT/model)
NOT_TRAINING_INPUT = ("output_dir", "threads")


def train_fingerprint(spec: TaskSpec, rows: pd.DataFrame, config: TrainConfig, *, gold: str | None) -> str:
    """A hash of what training sees: the task spec (labels, descriptions, teachers: the model's record and card come
    from it), each row trained on (every column but the experts' ``gold``, which training never reads), in order,
    and the training options."""
    digest = hashlib.sha256()
    options = {k: v for k, v in asdict(config).items() if k not in NOT_TRAINING_INPUT}
    head = {"spec": spec.to_dict(), "options": options, "columns": [c for c in rows.columns if c != gold]}
    digest.update(json.dumps(head, sort_keys=True, default=jsonable).encode())
    columns = head["columns"]
    for row in rows[columns].itertuples(index=False, name=None):
        digest.update(json.dumps(row, sort_keys=True, default=jsonable).encode() + b"\n")
    return digest.hexdigest()


def _weights_hash(model_dir: Path) -> str | None:
    """A hash of the student's weight files (their names and contents), or None when the folder has none."""
    files = sorted({p for pattern in WEIGHTS for p in model_dir.glob(pattern) if p.is_file()})
    if not files:
        return None
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as f:
            digest.update(hashlib.file_digest(f, "sha256").digest())
    return digest.hexdigest()


def forget_student(out: Path) -> None:
    """Remove the record before the student is trained (again): a training stopped part-way leaves no record that
    a rerun could take for the earlier student's."""
    (out / FINGERPRINT_FILE).unlink(missing_ok=True)


def record_student(out: Path, fingerprint: str, result: TrainResult) -> None:
    """Record what the student in ``result.model_dir`` was trained on (:func:`train_fingerprint`) and its figures."""
    record = {
        "fingerprint": fingerprint,
        "weights": _weights_hash(Path(result.model_dir)),
        "result": result.to_dict(),
    }
    (out / FINGERPRINT_FILE).write_text(json.dumps(record, indent=1, default=jsonable) + "\n", encoding="utf-8")


def reusable_student(out: Path, model_dir: Path, fingerprint: str) -> TrainResult | None:
    """The figures of the student in ``model_dir`` when an earlier run trained it on what ``fingerprint`` hashes and
    its weights are still those, whole; else None (train again)."""
    try:
        record: dict[str, Any] = json.loads((out / FINGERPRINT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("fingerprint") != fingerprint:
        return None
    if (model_dir / INCOMPLETE).exists() or not (model_dir / "sxhub.json").is_file():
        return None
    weights = record.get("weights")
    if weights is None or weights != _weights_hash(model_dir):
        logger.info("the student in %s is not the one the last run trained: training it again", model_dir)
        return None
    try:
        fields = dict(record["result"])
        fields["model_dir"] = model_dir
        return TrainResult(**fields)
    except (KeyError, TypeError, ValueError):
        return None


def file_hash(path: Path) -> str | None:
    """The sha256 of a file's bytes, or None when there is no file."""
    try:
        with path.open("rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except FileNotFoundError:
        return None


def earlier_ledger(ledger_path: Path) -> dict[str, Any] | None:
    """The ledger an earlier run wrote at ``ledger_path`` (None when there is none, or it cannot be read)."""
    try:
        data = json.loads(ledger_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def kept_ledger(new: dict[str, Any], earlier: dict[str, Any] | None, *, same_output: bool) -> dict[str, Any]:
    """The ledger a rerun writes: ``new``, or the earlier run's when the rerun asked the teachers nothing (every
    answer came from the label cache), wrote a byte-identical labelled file (``same_output``), and the earlier run
    asked the teachers everything (its figures measured them). A rerun to finish a failed push replaced the
    ledger with one of cached answers only, and the republished model card lost the teacher's measured speed and
    the speedup, the dataset card the run's real figures."""
    if not (same_output and earlier and new.get("cached") and not new.get("requests")):
        return new
    if earlier.get("cached") or not earlier.get("requests") or earlier.get("n_texts") != new.get("n_texts"):
        return new
    logger.info("every teacher answer came from the label cache: the ledger of the run that asked them is kept")
    return {**earlier, "reread_from_cache": {"cached": new.get("cached"), "seconds": new.get("seconds")}}
