"""Doubts, out-of-fold stage: the texts embedded once (:func:`embed_texts`) and a logistic regression on the
embeddings cross-fitted over the folds (:func:`oof_probabilities`), so that no text is scored by a model that saw it.

While the folds are fitted the embeddings can wait in a temporary file (:class:`SpilledRows`); each fold's rows are
read back as float64 (:func:`_float64_rows`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np


# --------------------------------------------------------------------------------------------------------------
# embeddings
# --------------------------------------------------------------------------------------------------------------
def embed_texts(
    texts: Sequence[str],
    model: str | os.PathLike[str] | None = None,
    *,
    batch_size: int = 64,
    max_length: int = 128,
    counts: dict[str, int] | None = None,
) -> np.ndarray:
    """Mean-pooled, L2-normalised embeddings of ``texts`` from a transformers encoder (default: the packaged
    all-MiniLM-L6-v2). Texts are batched by length (less padding) and run under ``torch.inference_mode``.

    Each text is embedded from its first ``max_length`` tokens; ``counts`` (a dict), when given, gets how many were
    longer (``truncated``) and ``max_length``."""
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from .errors import ModelError
    from .train_config import default_base_model

    path = str(model) if model is not None else default_base_model()
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # a classifier folder loads as its encoder: "unused weights" is expected
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
        tokenizer.padding_side = "right"  # an encoder's embeddings of a text do not depend on its batch
        encoder = AutoModel.from_pretrained(path)
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"embedding model {path!r} could not be loaded ({type(exc).__name__}: {str(exc)[:160]}); pass a local "
            "transformers model folder."
        ) from exc
    finally:
        hf_logging.set_verbosity(verbosity)
    from .progress import progress_bar
    from .recipe import cut_count

    encoder.eval()
    order = np.argsort([len(t) for t in texts], kind="stable")
    out = np.zeros((len(texts), encoder.config.hidden_size), dtype=np.float32)
    truncated = 0
    # the longest step of sxhub doubts (minutes per 100k texts on a CPU): without a bar a large file showed nothing
    bar = progress_bar(total=len(texts), desc="embedding", unit="text")
    with torch.inference_mode(), bar:
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            chunk = [texts[i] for i in idx]
            batch = tokenizer(chunk, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
            # an article was embedded from its first max_length tokens alone, with no word (counted as predict does)
            truncated += cut_count(tokenizer, chunk, batch, max_length)
            hidden = encoder(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            out[idx] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
            bar.update(len(idx))
    if counts is not None:
        counts.update(truncated=truncated, max_length=max_length)
    return out


# --------------------------------------------------------------------------------------------------------------
# out-of-fold probabilities
# --------------------------------------------------------------------------------------------------------------
def _classifier(seed: int) -> Any:
    """Logistic regression on the (unit-length) embeddings; C=10 had the lowest out-of-fold log-loss on PhraseBank
    among 0.1 (scaled features), 10 and 30, and one fit of 1,800 texts takes a fraction of a second."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=10.0, max_iter=2000, random_state=seed)


class SpilledRows:
    """The embeddings in an unnamed temporary file, read back a window of rows at a time.

    Held in memory through the out-of-fold fit, the float32 embeddings (1M x 384: 1.5 GB) sat beside each fold's
    float64 training rows (2.5 GB), which the model needs: with them on disk the fit holds only the latter. The
    file is deleted when closed (or when the process ends, however it ends); the rows read back are the same
    numbers, so the queue is the same."""

    WINDOW = 4096  # rows read at a time (6 MB of 384 float32)

    def __init__(self, features: np.ndarray) -> None:
        import tempfile

        self.shape = features.shape
        self.dtype = features.dtype
        self._file = tempfile.TemporaryFile(prefix="sxhub-doubts-")  # noqa: SIM115 (closed by close(), after the fit)
        try:
            for start in range(0, len(features), self.WINDOW):
                self._file.write(np.ascontiguousarray(features[start : start + self.WINDOW]).tobytes())
            self._file.flush()
        except BaseException:
            self._file.close()
            raise

    def __len__(self) -> int:
        return int(self.shape[0])

    def float64_rows(self, rows: np.ndarray) -> np.ndarray:
        """The rows ``rows`` (any order) as float64: each window of the file read once, if it holds any of them."""
        row_shape = self.shape[1:]
        row_bytes = int(np.prod(row_shape, dtype=np.int64)) * self.dtype.itemsize
        order = np.argsort(rows, kind="stable")
        wanted = np.asarray(rows)[order]
        out = np.empty((len(rows), *row_shape), dtype=np.float64)
        starts = np.arange(0, len(self) + self.WINDOW, self.WINDOW)
        bounds = np.searchsorted(wanted, starts)
        for w, start in enumerate(starts[:-1]):
            lo, hi = bounds[w], bounds[w + 1]
            if lo == hi:
                continue
            count = min(self.WINDOW, len(self) - int(start))
            self._file.seek(int(start) * row_bytes)
            block = np.frombuffer(self._file.read(count * row_bytes), dtype=self.dtype).reshape(count, *row_shape)
            out[order[lo:hi]] = block[wanted[lo:hi] - start]
        return out

    def close(self) -> None:
        self._file.close()


def _float64_rows(features: np.ndarray | SpilledRows, rows: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """``features[rows]`` as float64, cast a chunk of rows at a time (no whole float32 copy on the way). The model
    is fitted on float64 whatever the embeddings' dtype (scikit-learn fits float32 input in float32: other numbers)."""
    if isinstance(features, SpilledRows):
        return features.float64_rows(rows)
    if features.dtype == np.float64:
        return features[rows]
    out = np.empty((len(rows), *features.shape[1:]), dtype=np.float64)
    for start in range(0, len(rows), chunk):
        out[start : start + chunk] = features[rows[start : start + chunk]]
    return out


def _folds(
    n: int,
    folds: int,
    seed: int,
    *,
    targets: np.ndarray | None = None,
    n_labels: int = 0,
    groups: np.ndarray | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Each fold's (training rows, scored rows): shuffled, stratified by single-label ``targets`` when every label
    given has ``folds`` members, and with the rows of one ``groups`` id (one text written more than once) in one fold:
    the ids are split, each standing for its first row, and every row goes with its id."""
    from sklearn.model_selection import KFold, StratifiedKFold

    first, inverse = np.arange(n), None
    if groups is not None:
        _, first, inverse = np.unique(np.asarray(groups), return_index=True, return_inverse=True)
        if len(first) == n:  # every text once: the rows themselves, split as before
            first, inverse = np.arange(n), None
    places = np.empty((len(first), 0))  # what the splitters read of X: its number of rows
    kept = None if targets is None else np.asarray(targets)[first]
    cv: Any = KFold(n_splits=folds, shuffle=True, random_state=seed)
    if kept is not None:
        counts = np.bincount(kept, minlength=n_labels)
        if counts[np.flatnonzero(counts)].min() >= folds:
            cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in cv.split(places, kept):
        if inverse is None:
            yield train, test
        else:
            scored = np.isin(inverse, test)
            yield np.flatnonzero(~scored), np.flatnonzero(scored)


def oof_probabilities(
    features: np.ndarray | SpilledRows,
    targets: np.ndarray,
    *,
    n_labels: int,
    multi_label: bool,
    folds: int,
    seed: int = 0,
    groups: np.ndarray | None = None,
) -> np.ndarray:
    """Cross-fitted probabilities: every row scored by a model trained on the other folds only.

    ``groups`` (one id per row: rows of one id are one text written more than once) keeps every copy of a text in
    one fold (:func:`_folds`): split row by row, a copy was scored by a model fitted on another copy, label and all.

    Single-label ``targets`` are label ids and the result is ``(n, n_labels)`` (a label a training fold lacks gets
    0 on that fold's rows; a fold whose training part has one label only gives it 1); multi-label ``targets`` are multi-hot and the result is one P(on) per label (a label constant in a training
    fold gets that constant).
    """
    with warnings.catch_warnings():  # rare labels: fewer members than folds, or absent from a training fold
        warnings.simplefilter("ignore", UserWarning)
        if multi_label:
            # one binary model per label, as OneVsRestClassifier fits them; not through cross_val_predict, which
            # re-encodes each label's column as class ids first: a label on in every row became "0" and every row
            # was scored P(on) = 0 (all doubted, never suggested), and a file of one label name crashed
            hot = np.asarray(targets, dtype=int).reshape(len(features), -1)
            out = np.zeros(hot.shape, dtype=float)
            for train, test in _folds(len(features), folds, seed, groups=groups):
                x_train = x_test = None  # cast once per fold, for every label's model
                for k in range(hot.shape[1]):
                    seen = np.unique(hot[train, k])
                    if len(seen) == 1:  # constant in this training fold: that constant
                        out[test, k] = float(seen[0])
                        continue
                    if x_train is None:
                        x_train, x_test = _float64_rows(features, train), _float64_rows(features, test)
                    model = _classifier(seed).fit(x_train, hot[train, k])
                    out[test, k] = model.predict_proba(x_test)[:, 1]
                del x_train, x_test
            return out
        full = np.zeros((len(targets), n_labels), dtype=float)
        for train, test in _folds(len(targets), folds, seed, targets=targets, n_labels=n_labels, groups=groups):
            seen = np.unique(targets[train])
            if len(seen) == 1:  # a rare label missing from this training fold leaves one: it is certain there
                full[test, seen[0]] = 1.0
                continue
            model = _classifier(seed).fit(_float64_rows(features, train), targets[train])
            probs = model.predict_proba(_float64_rows(features, test))
            full[np.ix_(test, model.classes_)] = probs  # a label not seen gets 0
    return full
