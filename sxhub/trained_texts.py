"""Which texts a student learned from, so that no score presented as held out includes them.

``sxhub train`` writes ``trained_texts.npz`` beside the model: one 8-byte BLAKE2b hash per distinct text, as the
model cleaned it, for the rows it was trained on (``train``) and those it was validated on (``validation``: never
trained on, but they chose the epoch kept and the thresholds). ``publish model --data`` leaves the trained-on texts
out of the test-split scores its card states and says how many of the rest were validation texts; ``sxhub
evaluate`` counts both. Without the file (a student from before it, or from another tool) nothing can be checked,
and the card says so.

The file stays on this machine: ``publish`` does not copy it into a repo (a short text's hash can be guessed back
from candidates). 8 bytes a text: a million training texts take 8 MB; two distinct texts share a hash with
probability about n^2 / 2^65, under 10^-7 for a million.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

FILE = "trained_texts.npz"


@dataclass(frozen=True)
class Seen:
    """For each text asked about: was it a training text, was it a validation text (of the model's own split)."""

    trained: np.ndarray
    validated: np.ndarray

    @property
    def used(self) -> np.ndarray:
        return self.trained | self.validated

    def counts(self) -> dict[str, int]:
        return {"n_trained_on": int(self.trained.sum()), "n_validated_on": int((self.validated & ~self.trained).sum())}


def text_keys(texts: Iterable[str]) -> np.ndarray:
    """One unsigned 64-bit key per text (BLAKE2b, 8 bytes, of the stripped UTF-8 text)."""
    return np.fromiter(
        (int.from_bytes(hashlib.blake2b(t.strip().encode("utf-8"), digest_size=8).digest(), "little") for t in texts),
        dtype=np.uint64,
    )


def save(
    model_dir: str | os.PathLike[str],
    train: Sequence[str],
    validation: Sequence[str],
    *,
    base: str | os.PathLike[str] | None = None,
) -> Path:
    """Write the keys of the ``train`` and ``validation`` texts (cleaned as the model read them) into ``model_dir``.

    A ``base`` that is a student folder with its own file (``train --base STUDENT``: trained further) passes its
    keys on: the new student learned from those texts too."""
    train_keys, validation_keys = text_keys(train), text_keys(validation)
    inherited = Path(base) / FILE if base is not None else None
    if inherited is not None and inherited.is_file():
        with np.load(inherited, allow_pickle=False) as saved:
            train_keys = np.concatenate([train_keys, saved["train"]])
            validation_keys = np.concatenate([validation_keys, saved["validation"]])
    path = Path(model_dir) / FILE
    np.savez(path, train=np.unique(train_keys), validation=np.unique(validation_keys))
    return path


def trained_on(model_dir: str | os.PathLike[str] | None, texts: Sequence[str]) -> np.ndarray | None:
    """Which of ``texts`` (cleaned as the model read them) ``model_dir`` was trained on; None when it is not a model
    folder that records them (a Hub id, a plain transformers folder). ``train --base STUDENT`` keeps those texts out
    of its validation split."""
    if model_dir is None:
        return None
    path = Path(model_dir).expanduser() / FILE
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as saved:
        return np.isin(text_keys(texts), saved["train"])


def seen(model_dir: str | os.PathLike[str], texts: Sequence[str], preprocessing: Mapping[str, Any]) -> Seen | None:
    """Which of ``texts`` (cleaned by the model's ``preprocessing`` block) the model was trained or validated on;
    None when the model folder does not record them."""
    from .data import apply_preprocessing

    path = Path(model_dir) / FILE
    if not path.is_file():
        return None
    keys = text_keys(apply_preprocessing(t, preprocessing) for t in texts)
    with np.load(path, allow_pickle=False) as saved:
        return Seen(trained=np.isin(keys, saved["train"]), validated=np.isin(keys, saved["validation"]))
