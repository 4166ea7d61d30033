"""Which texts a student learned from, so that no score presented as held out includes them.

``sxhub train`` writes ``trained_texts.npz`` beside the model: one 8-byte BLAKE2b hash per distinct text, as the
model cleaned it, for the rows it was trained on (``train``) and those it was validated on (``validation``: never
trained on, but they chose the epoch kept and the thresholds). A text is hashed as ``train`` tells texts apart
(:func:`sxhub.targets.same_text_key`: NFKC, case-folded, runs of spaces as one; the file's ``key`` says so), so "The
Market rose" counts as learned where the student trained on "the market  rose": the default base is uncased and saw
the same tokens. Files written before hashed the text stripped at its ends only; they are still read so (their keys
cannot be re-keyed), and a student trained further on such a base keeps them as ``stripped_train`` and
``stripped_validation``. ``publish model --data`` leaves the trained-on texts
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
    exact_only: bool = False  # some keys predate same_text_key: those texts match only as written (up to end spaces)

    @property
    def used(self) -> np.ndarray:
        return self.trained | self.validated

    def counts(self) -> dict[str, int]:
        return {"n_trained_on": int(self.trained.sum()), "n_validated_on": int((self.validated & ~self.trained).sum())}


PARTS = ("train", "validation")
KEY = "same_text_key"  # what the keys of a file written now hash (a file without ``key``: the stripped text)


def text_keys(texts: Iterable[str], *, folded: bool = True) -> np.ndarray:
    """One unsigned 64-bit key per text (BLAKE2b, 8 bytes, of the UTF-8 text as :func:`sxhub.targets.same_text_key`
    writes it; ``folded=False``: of the text stripped at its ends, as files from before ``key`` were written)."""
    from .targets import same_text_key

    as_key = same_text_key if folded else str.strip
    return np.fromiter(
        (int.from_bytes(hashlib.blake2b(as_key(t).encode("utf-8"), digest_size=8).digest(), "little") for t in texts),
        dtype=np.uint64,
    )


@dataclass(frozen=True)
class _Saved:
    """A ``trained_texts.npz``'s keys: ``folded`` (train, validation) hash the texts as :func:`text_keys` does now,
    ``stripped`` (train, validation) as files written before it did."""

    folded: tuple[np.ndarray, np.ndarray]
    stripped: tuple[np.ndarray, np.ndarray]

    def seen(self, texts: Sequence[str]) -> Seen:
        folded, stripped = text_keys(texts), text_keys(texts, folded=False)
        return Seen(
            trained=np.isin(folded, self.folded[0]) | np.isin(stripped, self.stripped[0]),
            validated=np.isin(folded, self.folded[1]) | np.isin(stripped, self.stripped[1]),
            exact_only=bool(len(self.stripped[0]) or len(self.stripped[1])),
        )


def _load(path: Path) -> _Saved:
    empty = np.array([], dtype=np.uint64)
    with np.load(path, allow_pickle=False) as saved:
        if "key" not in saved.files:  # written before the keys were folded: the stripped texts' hashes
            return _Saved(folded=(empty, empty), stripped=(saved["train"], saved["validation"]))
        return _Saved(
            folded=(saved["train"], saved["validation"]),
            stripped=(
                saved["stripped_train"] if "stripped_train" in saved.files else empty,
                saved["stripped_validation"] if "stripped_validation" in saved.files else empty,
            ),
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
    keys = {"train": text_keys(train), "validation": text_keys(validation)}
    inherited = Path(base) / FILE if base is not None else None
    arrays: dict[str, Any] = {"key": np.array(KEY)}
    if inherited is not None and inherited.is_file():
        saved = _load(inherited)
        for i, part in enumerate(PARTS):
            keys[part] = np.concatenate([keys[part], saved.folded[i]])
            if len(saved.stripped[i]):  # an older base's keys, which cannot be re-keyed: kept as they are
                arrays[f"stripped_{part}"] = np.unique(saved.stripped[i])
    path = Path(model_dir) / FILE
    arrays.update((part, np.unique(keys[part])) for part in PARTS)
    np.savez(path, **arrays)
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
    return _load(path).seen(texts).trained


def seen(model_dir: str | os.PathLike[str], texts: Sequence[str], preprocessing: Mapping[str, Any]) -> Seen | None:
    """Which of ``texts`` (cleaned by the model's ``preprocessing`` block) the model was trained or validated on;
    None when the model folder does not record them."""
    from .data import apply_preprocessing

    path = Path(model_dir) / FILE
    if not path.is_file():
        return None
    return _load(path).seen([apply_preprocessing(t, preprocessing) for t in texts])
