"""The student an earlier ``sxhub run`` trained into ``OUT/model``, reused by a rerun that would train it on the
same labels with the same settings: a push that failed after hours of training was finished only by a rerun that
trained the student again from the start (the label cache made annotate free, not training).

After training, ``OUT/train.fingerprint.json`` records a hash of what training saw (the task spec, every column of
the rows trained on but the experts' labels, the training options) and of the student's weights. A rerun whose hash
is the same, and whose ``OUT/model`` still holds those weights, whole, skips training; any other change (a text, a
label, a vote, the task, an option, weights written over by ``sxhub train -o OUT/model``) trains again, and
``--retrain`` always does. The file is removed before training starts, so a stopped training leaves none; its
checkpoint in ``OUT/model`` is what the rerun continues from (``train(..., resume_if_same=True)``,
:mod:`sxhub.train_resume`).

The export stage (ONNX fp32 and int8, checked against torch: from seconds to minutes) is reused the same way: after
it, ``OUT/export.fingerprint.json`` records a hash of what it read (the model folder's files it loads,
:data:`EXPORT_READS`: configs, weights, tokenizer, ``sxhub.json`` without its ``export`` block, ``trained_texts.npz``;
not a notes.txt a person put there, nor ``onnx/``; the training texts its check samples, not the file's other
columns; its options, the libraries that write and run the graphs, this machine's CPU) with a hash of each file it
wrote and its ``export`` record. A rerun with the same hash whose files and record are still those skips the export.
Training the student (``--retrain`` included) removes the file, as does the export before it starts: a stopped or
failed export leaves none. It lies beside ``OUT/model``, not in it: publish copies ``onnx/`` into the model repo.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from .model_folder import INCOMPLETE
from .run_report import jsonable
from .spec import TaskSpec
from .train_config import TrainConfig, TrainResult
from .trained_texts import FILE as TRAINED_TEXTS_FILE

logger = logging.getLogger(__name__)

FINGERPRINT_FILE = "train.fingerprint.json"
EXPORT_FINGERPRINT_FILE = "export.fingerprint.json"
WEIGHTS = ("*.safetensors", "*.bin")  # what a student's weights are saved as (any shard)
# options that change how fast training runs, not what it learns from (output_dir: always OUT/model); how a run starts
# and when its checkpoints can be resumed (resumable_after), not what it trains: in the hash, another value trained the
# student again, and so did every rerun of an OUT whose hash was recorded before the option
NOT_TRAINING_INPUT = ("output_dir", "threads", "resume", "restart", "resumable_after")
# The files of a model folder the export reads (the student, its tokenizer, its check): every JSON file (config.json,
# sxhub.json, the tokenizer's, a weights index, an adapter's config), the weights in any format or shard, the
# tokenizer's vocabularies (vocab.txt, merges.txt, bpe.codes, a sentencepiece .model or .spm, a tiktoken file) and
# the texts the student trained on (trained_texts.npz: int8's fitting texts are those it did not). A file a person put
# there (notes.txt, README.md, an editor's backup such as config.json~) is none of them, nor is a folder (onnx/, where
# the export writes). Wider than what one model loads (an extra file only exports again): every vocabulary file name a
# transformers 5 tokenizer for classification declares matches.
EXPORT_READS = re.compile(
    r".*\.(json|safetensors|bin|gguf|pt|pth|h5|msgpack|model|spm|tiktoken)|(vocab|merges|dict)\.txt|bpe\.codes"
    rf"|chat_template\.jinja|{re.escape(TRAINED_TEXTS_FILE)}"
)


def train_fingerprint(spec: TaskSpec, rows: pd.DataFrame, config: TrainConfig, *, gold: str | None) -> str:
    """A hash of what training sees: the task spec (labels, descriptions, teachers: the model's record and card come
    from it), each row trained on (every column but the experts' ``gold``, which training never reads), in order,
    and the training options."""
    digest = hashlib.sha256()
    options = {k: v for k, v in asdict(config).items() if k not in NOT_TRAINING_INPUT}
    if options.get("label_column") is None:
        # run trains on the vote (it has no --label-column): unset, the hash is the one a run before the option
        # recorded, whose student a rerun reuses rather than trains again
        options.pop("label_column", None)
    head = {"spec": spec.to_dict(), "options": options, "columns": [c for c in rows.columns if c != gold]}
    digest.update(json.dumps(head, sort_keys=True, default=jsonable).encode())
    columns = head["columns"]
    for row in rows[columns].itertuples(index=False, name=None):
        digest.update(json.dumps(row, sort_keys=True, default=jsonable).encode() + b"\n")
    return digest.hexdigest()


def weights_hash(model_dir: Path) -> str | None:
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
        "weights": weights_hash(Path(result.model_dir)),
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
    if weights is None or weights != weights_hash(model_dir):
        logger.info("the student in %s is not the one the last run trained: training it again", model_dir)
        return None
    try:
        fields = dict(record["result"])
        fields["model_dir"] = model_dir
        return TrainResult(**fields)
    except (KeyError, TypeError, ValueError):
        return None


def _model_hash(model_dir: Path) -> str:
    """A hash of the files of the model folder the export reads (:data:`EXPORT_READS`; name and bytes), with
    ``sxhub.json`` (the labels, thresholds, preprocessing the check reads) without the ``export`` block it writes."""
    from .model_folder import SXHUB_JSON

    digest = hashlib.sha256()
    for path in sorted(p for p in model_dir.iterdir() if p.is_file() and _export_reads(p.name)):
        if path.name == SXHUB_JSON:
            try:
                info = json.loads(path.read_text(encoding="utf-8"))
            except ValueError:
                info = None
            if isinstance(info, dict):
                info.pop("export", None)
                if info:  # one the export wrote into a plain transformers folder holds nothing else
                    digest.update(path.name.encode() + b"\0" + json.dumps(info, sort_keys=True).encode())
                continue
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as f:
            digest.update(hashlib.file_digest(f, "sha256").digest())
    return digest.hexdigest()


def _export_reads(name: str) -> bool:
    """Whether the export reads the model folder's file ``name`` (a hidden one, such as the export's own work
    files, never)."""
    return not name.startswith(".") and EXPORT_READS.fullmatch(name) is not None


def export_fingerprint(model_dir: Path, data: Path, options: dict[str, Any]) -> str:
    """A hash of what the export stage sees: the model folder (:func:`_model_hash`), the training texts it checks
    and calibrates on (``data``), its options and constants, the libraries that write and run the graphs, and this
    machine's CPU (the speeds, and so int8's default, are measured here)."""
    from . import export
    from .run_record import library_versions

    versions = library_versions()
    head = {
        "model": _model_hash(model_dir),
        "data": _texts_hash(data),
        "options": options,
        "constants": [export.OPSET, export.AGREEMENT_BAR, export.CHECK_TEXTS, export.FITTING_TEXTS],
        "versions": {k: versions.get(k) for k in ("sxhub", "torch", "transformers", "onnx", "onnxruntime")},
        "machine": [platform.machine(), platform.processor(), os.cpu_count()],
    }
    return hashlib.sha256(json.dumps(head, sort_keys=True, default=jsonable).encode()).hexdigest()


def _texts_hash(data: Path) -> str | None:
    """A hash of the texts of the training file ``data`` (the run's ``splits/train.parquet``), in order: all the
    export reads of it (:func:`sxhub.export.check_sample`). Hashed as bytes, another ``--gold`` (or none, or another
    ``--keep-column``) wrote the same texts with other columns, and a rerun made and checked the export again."""
    if not data.is_file():
        return None
    digest = hashlib.sha256()
    for text in pd.read_parquet(data, columns=["text"])["text"].tolist():
        digest.update(json.dumps(text, default=jsonable).encode() + b"\n")
    return digest.hexdigest()


def _export_files(model_dir: Path) -> dict[str, str | None]:
    """The hash of each file the export writes (None: not there)."""
    from .model_info import ONNX_DIR, ONNX_FILE, ONNX_INT8_FILE

    return {name: file_hash(model_dir / ONNX_DIR / name) for name in (ONNX_FILE, ONNX_INT8_FILE)}


def _export_record(model_dir: Path) -> Any:
    """The ``export`` block of the model's ``sxhub.json`` (None when there is none)."""
    from .model_folder import SXHUB_JSON

    try:
        info = json.loads((model_dir / SXHUB_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info.get("export") if isinstance(info, dict) else None


def forget_export(out: Path) -> None:
    """Remove the record before the student is exported (or trained) again: an export stopped or failed part-way,
    or a new student, leaves no record that a rerun could take for the earlier export's."""
    (out / EXPORT_FINGERPRINT_FILE).unlink(missing_ok=True)


def record_export(out: Path, model_dir: Path, fingerprint: str, figures: dict[str, Any]) -> None:
    """Record what the export of ``model_dir`` saw (:func:`export_fingerprint`), the files it wrote and the
    figures the run's report gives of it."""
    record = {
        "fingerprint": fingerprint,
        "files": _export_files(model_dir),
        "export": _export_record(model_dir),
        "figures": figures,
    }
    path = out / EXPORT_FINGERPRINT_FILE
    tmp = path.with_name(f".{path.name}")  # replaced whole: a record cut short is no record
    tmp.write_text(json.dumps(record, indent=1, default=jsonable) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def reusable_export(out: Path, model_dir: Path, fingerprint: str) -> dict[str, Any] | None:
    """The report figures of the export in ``model_dir/onnx`` when an earlier run made it from what
    ``fingerprint`` hashes and its files and ``sxhub.json`` record are still those; else None (export again)."""
    try:
        record: dict[str, Any] = json.loads((out / EXPORT_FINGERPRINT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("fingerprint") != fingerprint:
        return None
    figures = record.get("figures")
    if not isinstance(figures, dict) or not isinstance(figures.get("summary"), str):
        return None
    files = record.get("files")
    if not isinstance(files, dict) or not any(files.values()) or files != _export_files(model_dir):
        logger.info("the ONNX export in %s is not the one the last run made: exporting again", model_dir)
        return None
    if record.get("export") is None or record.get("export") != _export_record(model_dir):
        logger.info("the export record in %s is not the one the last run wrote: exporting again", model_dir)
        return None
    return figures


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
