"""Replacing the model in a folder that may hold one already (``sxhub train`` or ``sxhub tune`` again into ``-o``,
``-o`` the same as ``--base``), so that an interrupt never leaves a folder that serves a mix of two models.

The new model is written whole into a hidden staging folder inside the output folder (:func:`staging_folder`: the
same filesystem, even where ``-o`` is a mount point), then :func:`move_into` moves its files in: it marks the folder
incomplete (:data:`INCOMPLETE`) and removes ``sxhub.json`` first, the earlier model's loading files the new one does
not write next, moves the new files in with ``sxhub.json`` last, and drops the mark last of all. At every instant the
folder is the whole earlier model, the whole new one, or marked incomplete, which :func:`check_complete` (called by
``read_model_info`` and by ``train`` for ``--base``) refuses in one line. Files that are no model's (the user's notes,
a clone's ``.git``) are left as they are. A run killed outright leaves its hidden work folders behind; the next run
into the folder removes them (:func:`drop_leftovers`), but for a stopped training's checkpoints, which ``sxhub train
--resume`` and ``sxhub tune --resume`` continue (:mod:`sxhub.train_resume`, :mod:`sxhub.tune_resume`), and publish
copies no hidden work folder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import ModelError

INCOMPLETE = ".sxhub-incomplete"  # in a folder while a new model moves in; loaders refuse the folder
STAGING_PREFIX = ".sxhub-saving-"  # a new model written whole before it moves in
CHECKPOINTS_PREFIX = ".checkpoints-"  # the Trainer's checkpoints (sxhub.distributed.checkpoint_folder)
INFO_FILE = "sxhub.json"  # sxhub's record of the model in its folder (what trained it, on what, the export)
SXHUB_JSON = INFO_FILE  # the name the rest of sxhub reads it by

# Files a model folder is loaded from (weights in any format or shard, tokenizer, configs). An earlier model's that
# the new one does not write are removed when it moves in: transformers reads model.safetensors before an index, so
# a retune whose base saves shards (model-00001-of-00002.safetensors and its index) beside the earlier single file
# served the earlier weights, and an earlier tokenizer.model or chat template outlived the base it belonged to.
# The tokenizer's files are named one by one (``tokenizer.*`` also took a person's ``tokenizer_config.json~``), with the
# sentencepiece, BPE and tiktoken vocabularies a tokenizer may save (an earlier ``spiece.model`` outlived its base).
MODEL_FILES = re.compile(
    r"(.*\.(safetensors|bin|gguf|pt|pth|h5|msgpack|spm|tiktoken)|.*\.index\.json|tokenizer\.(json|model)"
    r"|tokenizer_config\.json|spiece\.model|sentencepiece\.bpe\.model|bpe\.codes|vocab\.(json|txt)|merges\.txt"
    r"|dict\.txt|special_tokens_map\.json|added_tokens\.json|chat_template\.(jinja|json)|(generation_)?config\.json"
    r"|adapter_(config\.json|model\.(safetensors|bin)))"
)


def staging_folder(out: Path) -> Path:
    """A new hidden folder inside ``out`` (created, with ``out``) to write a whole model into before it moves in.
    Only the process that saves (the main one of a distributed run) makes one."""
    out.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out))


def drop_leftovers(out: Path, keep: Path, *, checkpoints: bool = True, also_keep: Sequence[Path] = ()) -> None:
    """Remove the staging folders (and with ``checkpoints``, the checkpoint folders) that a run killed outright
    (SIGKILL, a lost machine) left in ``out``; ``keep`` (this run's own staging folder) and ``also_keep`` (a stopped
    run's checkpoints that ``--resume`` continues, :mod:`sxhub.train_resume`) stay. Only the main process calls it,
    and a distributed run leaves checkpoint folders alone: its other processes may have made theirs."""
    prefixes = (STAGING_PREFIX, CHECKPOINTS_PREFIX) if checkpoints else (STAGING_PREFIX,)
    kept = {keep.name, *(p.name for p in also_keep)}
    for item in out.iterdir():
        if item.name.startswith(prefixes) and item.name not in kept and item.is_dir() and not item.is_symlink():
            shutil.rmtree(item, ignore_errors=True)


def check_complete(folder: Path, what: str = "") -> None:
    """One :class:`ModelError` line for a folder a new model was moving into when the run was stopped: it may hold
    some of each model's files, so it must not be loaded as either."""
    if (folder / INCOMPLETE).exists():
        raise ModelError(
            f"{what}{str(folder)!r} is incomplete: a run that was replacing its model was stopped part-way, so it may "
            "hold files of two models; train again into it (sxhub train ... -o FOLDER, or sxhub tune again)."
        )


def move_into(staging: Path, out: Path, *, stale: Sequence[str] = ()) -> None:
    """The files of a whole model folder (``staging``) into ``out``, the earlier model's replaced: ``out`` is
    marked incomplete and its ``sxhub.json`` removed first, then the earlier model's loading files
    (:data:`MODEL_FILES`) that the new one lacks and the folders named in ``stale`` (an export of the earlier
    weights) are removed, the new files moved in with ``sxhub.json`` last, and the mark dropped last of all. Other
    files in ``out`` (a clone's ``.git``, the user's notes, hidden work folders) are left. ``staging`` may lie
    inside ``out``; it is emptied, not removed."""
    out.mkdir(parents=True, exist_ok=True)
    mark = out / INCOMPLETE
    mark.touch()
    (out / INFO_FILE).unlink(missing_ok=True)
    fresh = {item.name for item in staging.iterdir()}
    for old in out.iterdir():
        if old.name not in fresh and old.is_file() and MODEL_FILES.fullmatch(old.name):
            old.unlink()
    for name in stale:
        if (out / name).is_dir() and not (out / name).is_symlink() and name not in fresh:
            shutil.rmtree(out / name)
    for item in sorted(staging.iterdir(), key=lambda p: p.name == INFO_FILE):
        target = out / item.name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        os.replace(item, target)
    mark.unlink()


def weights_files(model_dir: str | os.PathLike[str]) -> list[Path]:
    """The files of the torch weights ``from_pretrained`` reads in ``model_dir`` (``model.safetensors`` first, as
    transformers; an index with its shards in order); none in a folder without weights (an ONNX-only folder)."""
    from .head import WEIGHTS_FILES

    folder = Path(model_dir)
    name = next((n for n in WEIGHTS_FILES if (folder / n).is_file()), None)
    if name is None:
        return []
    files = [folder / name]
    if name.endswith(".index.json"):
        try:
            shards = (json.loads(files[0].read_text(encoding="utf-8")).get("weight_map") or {}).values()
        except (OSError, ValueError, AttributeError):
            shards = []
        files += [folder / s for s in sorted(set(shards)) if (folder / s).is_file()]
    return files


def weights_sha256(model_dir: str | os.PathLike[str]) -> str | None:
    """The sha256 of the torch weights in ``model_dir`` (:func:`weights_files`), read 1 MiB at a time; None when the
    folder has none (an ONNX-only folder). About 0.1 s for MiniLM-L6's 90 MB (page-cached, 2-core EPYC), so
    ``sxhub train`` and ``sxhub export`` record it in ``sxhub.json`` (:func:`recorded_weights`) with the files' size
    and mtime (:func:`weights_stat`), and loading an export hashes again only files that changed since
    (:func:`current_weights_sha256`)."""
    import hashlib

    files = weights_files(model_dir)
    if not files:
        return None
    if len(files) == 1 and (named := _blob_sha256(files[0])) is not None:
        return named
    digest = hashlib.sha256()
    for path in files:
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def _blob_sha256(path: Path) -> str | None:
    """The sha256 of a file in a Hugging Face cache snapshot, from its name: ``snapshots/<commit>/model.safetensors``
    links to ``blobs/<sha256>`` for a file stored with Git LFS (the Hub's ETag for it, which huggingface_hub names
    the blob by). A model loaded by Hub id is downloaded into a snapshot whose files have new mtimes, so
    :func:`current_weights_sha256` would hash the weights again on every load (and in every Ray actor); None for any
    other file."""
    if not path.is_symlink():
        return None
    target = path.resolve()
    if target.parent.name == "blobs" and re.fullmatch(r"[0-9a-f]{64}", target.name):
        return target.name
    return None


def weights_stat(model_dir: str | os.PathLike[str]) -> list[list[Any]]:
    """``[name, size, mtime_ns]`` of each weights file (:func:`weights_files`): recorded beside their sha256, so that
    a load can tell, from one ``stat`` a file, whether they are still the files hashed."""
    out: list[list[Any]] = []
    for path in weights_files(model_dir):
        found = path.stat()
        out.append([path.name, found.st_size, found.st_mtime_ns])
    return out


def current_weights_sha256(model_dir: str | os.PathLike[str], recorded: str | None, stat: Any = None) -> str | None:
    """The sha256 of the weights in ``model_dir`` now: ``recorded`` (``sxhub.json``'s) while the files have the
    size and mtime recorded with it (``stat``, :func:`weights_stat`), else hashed again: a ``model.safetensors``
    replaced after the export (a retrain with plain ``save_pretrained``, another student's copied in) is the new
    file's, not the record's. A folder without weights (an ONNX-only one, what the Space downloads) has only the
    record."""
    if not weights_files(model_dir):
        return recorded
    if recorded and stat and stat == weights_stat(model_dir):
        return recorded
    return weights_sha256(model_dir)
