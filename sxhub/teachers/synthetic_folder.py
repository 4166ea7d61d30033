"""The folder ``sxhub tune`` writes: a transformers model folder with ``sxhub.json`` of kind ``synthetic-model``.

:func:`check_synthetic_model` says in one line what a folder lacks before anything is loaded. Its identity
(:func:`content_hash`) is the sha256 of the weight files and of ``sxhub.json``, not its path: a retuned model never
answers from a previous model's cache entries, and a moved folder still does. :mod:`sxhub.teachers.synthetic_model`
loads the model itself.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ..errors import TeacherUnavailableError
from ..model_folder import INCOMPLETE

INFO_FILE = "sxhub.json"
KIND = "synthetic-model"
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


def read_info(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """``sxhub.json`` of a synthetic model folder, or None when ``folder`` is not one."""
    path = Path(folder).expanduser()
    info_file = path / INFO_FILE
    if not path.is_dir() or not info_file.is_file():
        return None
    try:
        info = json.loads(info_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return info if isinstance(info, dict) and info.get("kind") == KIND else None


TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json")  # a fast, sentencepiece or BPE tokenizer


def has_chat_template(path: Path) -> bool:
    """Whether the folder's tokenizer has a chat template where transformers saves one: ``chat_template.jinja``
    (transformers 5, which ``sxhub tune`` writes) or ``chat_template`` in ``tokenizer_config.json`` (older ones).
    A copy without the .jinja file was published with exit 0 as a model no teacher could use, and as a teacher
    it failed only once loaded, telling the user to tune the folder they had tuned."""
    if (path / "chat_template.jinja").is_file() or (path / "additional_chat_templates").is_dir():
        return True
    try:
        config = json.loads((path / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return isinstance(config, dict) and bool(config.get("chat_template"))


def check_synthetic_model(folder: str | os.PathLike[str]) -> Path:
    """The folder, or one error line that says what is missing and how to make it."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise TeacherUnavailableError(f"synthetic model folder {str(path)!r} not found; write one with `sxhub tune`.")
    if (path / INCOMPLETE).exists():  # a retune stopped while moving in: "not a synthetic model" sent users away
        raise TeacherUnavailableError(
            f"synthetic model {str(path)!r} is incomplete: a `sxhub tune` that was replacing its model was stopped "
            "part-way, so it may hold files of two models; run `sxhub tune` into it again."
        )
    if read_info(path) is None:
        raise TeacherUnavailableError(
            f"{str(path)!r} is a folder but not a synthetic model (no sxhub.json of kind {KIND!r}); pass the folder "
            "`sxhub tune` wrote."
        )
    if not (path / "config.json").is_file() or not any((path / w).is_file() for w in WEIGHT_FILES):
        raise TeacherUnavailableError(
            f"synthetic model {str(path)!r} has no config.json or model weights; rerun `sxhub tune`."
        )
    if not any((path / name).is_file() for name in TOKENIZER_FILES):  # else transformers' sentencepiece advice
        raise TeacherUnavailableError(
            f"synthetic model {str(path)!r} has no tokenizer ({', '.join(TOKENIZER_FILES)}); copy the folder "
            "`sxhub tune` wrote again, or rerun `sxhub tune`."
        )
    if not has_chat_template(path):  # the prompts are chat turns: without it the folder neither labels nor writes
        raise TeacherUnavailableError(
            f"synthetic model {str(path)!r} has no chat template (chat_template.jinja, or chat_template in "
            "tokenizer_config.json); copy the folder `sxhub tune` wrote again, or rerun `sxhub tune`."
        )
    if (path / "model.safetensors").is_file():  # its header only: a copy or download cut short
        from safetensors import safe_open

        try:
            with safe_open(str(path / "model.safetensors"), framework="pt"):
                pass
        except Exception as exc:  # safetensors raises its own SafetensorError, and OSError
            raise TeacherUnavailableError(
                f"synthetic model {str(path)!r}: its model.safetensors does not read ({type(exc).__name__}: "
                f"{str(exc)[:120]}); copy the folder `sxhub tune` wrote again, or rerun `sxhub tune`."
            ) from exc
    return path


@functools.lru_cache(maxsize=8)
def _content_hash(folder: str, stamps: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for name, _, _ in stamps:
        digest.update(name.encode())
        with open(Path(folder) / name, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def content_hash(folder: str | os.PathLike[str]) -> str:
    """sha256 over the weight files and ``sxhub.json`` (recomputed only when a file's size or mtime changes)."""
    path = Path(folder).expanduser().resolve()
    names = sorted(p.name for p in path.iterdir() if p.suffix in {".safetensors", ".bin"} or p.name == INFO_FILE)
    stamps = tuple((n, (path / n).stat().st_size, (path / n).stat().st_mtime_ns) for n in names)
    return _content_hash(str(path), stamps)
