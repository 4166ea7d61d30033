"""Doubts: rank every labelled text by how likely its label is wrong, without expert labels.

:func:`find_doubts` reads any labelled table sxhub reads (``text``, ``label`` or ``labels``, optionally ``votes``
or ``agreement``) and scores every row with up to three signals, each in [0, 1] where higher means "more likely
wrong":

* ``signal_vote_split``: ``1 -`` the share of the row's valid votes that agree with its current label (per label for
  multi-label: agreeing on whether that label is on). Without votes, ``1 -`` the ``agreement`` column
  (:func:`sxhub.vote.mean_agreement`); without either it is missing and left out of the doubt. A row without a valid
  vote in a file with votes has none (missing): its ``agreement`` was computed from no vote.
* ``signal_oof_disagreement``: ``1 - p(current label)`` under an out-of-fold model: the texts are embedded once
  (mean-pooled MiniLM, :func:`embed_texts`), and a logistic regression on the embeddings is cross-fitted over
  ``folds`` folds, so that no text is scored by a model that saw it (multi-label: one binary model per label, and
  ``1 - p(current on/off state)`` per label).
* ``signal_label_quality``: ``1 -`` cleanlab's label-quality score on those out-of-fold probabilities
  (``normalized_margin`` with ``adjust_pred_probs``: class-conditional thresholds, as in confident learning;
  :func:`cleanlab.rank.get_label_quality_scores`, or the ``multilabel_classification`` variants per label).

``doubt`` is the mean of the row's available signals (for multi-label, the mean of each label's signals, and the
row's doubt is its most doubtful label's; the per-label values are kept as dicts). ``suggested`` is the label the evidence
favours: the arg-max of the out-of-fold probability times the vote share smoothed with half a pseudo-vote per label
(Jeffreys' prior; multi-label: per label, on against off, a label on fewer than 5% of the rows read against its
fitted threshold rather than 0.5, ``CALIBRATE_BELOW``). On the simulated PhraseBank teacher of
``bench/review.py`` this suggested the expert's label more often, on all rows, on the true errors and in the top
10%, than the plain mean of the two, the out-of-fold arg-max alone, or one or two pseudo-votes. A row is **doubtful** when ``doubt >= 0.5``: on average its signals say the label is more likely
wrong than right.

The queue (:func:`write_queue`) holds every row that has a label, highest doubt first, with these columns: ``row``
(the row's 0-based index in the input), ``text``, ``label`` or ``labels``, ``doubt``, ``suggested``, the three
``signal_*`` columns, ``oof_probs`` (label -> probability) and ``votes`` when the input has them. Rows without a
label (failed, or no text) and the twins of a ``sxhub twins`` file that failed a check (``ok`` false) are left out
and counted in the summary (``left_out``).

The signals, the suggestion and the doubt are computed by :mod:`sxhub.doubt_signals`; this module reads the rows,
embeds them, fits the out-of-fold model and writes the queue.
"""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .data import find_text_column, is_missing_text, not_a_source, read_table, write_table
from .doubt_signals import (
    _agreement_split,
    _multi_signals,
    _require_cleanlab,
    _Rows,
    _single_signals,
    _vote_shares,
    _worst,
    combine,
)
from .errors import InputError
from .labelled import _as_named, expert_label_cell, failed_flags, flagged_twins, flagged_twins_line, with_flag_labels
from .predict_files import truncated_note
from .reliability import plain_votes
from .sequences import SequenceNotStr, refuse_one_string

logger = logging.getLogger(__name__)

DEFAULT_FOLDS = 5
DOUBTFUL = 0.5  # doubt at or above which a row is counted as doubtful
SIGNALS = ("signal_vote_split", "signal_oof_disagreement", "signal_label_quality")
QUEUE_COLUMNS = ("row", "text", "label", "doubt", "suggested", *SIGNALS, "oof_probs")

Embedder = Callable[[list[str]], np.ndarray]


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
# the input
# --------------------------------------------------------------------------------------------------------------


def _label_column(df: pd.DataFrame, multi_label: bool | None) -> str:
    order = ("labels", "label") if multi_label is not False else ("label", "labels")
    for name in order:
        if name in df.columns:
            return name
    raise InputError(
        f"no 'label' or 'labels' column in columns {list(df.columns)[:20]}; doubts needs the labels to check "
        "(sxhub annotate writes them; for one true/false column per label, pass --task)."
    )


def _read_rows(
    source: str | os.PathLike[str] | pd.DataFrame,
    *,
    label_names: SequenceNotStr[str] | None,
    multi_label: bool | None,
    text_column: str | None,
) -> _Rows:
    if not isinstance(source, (pd.DataFrame, str, os.PathLike)):  # a list ended in os.fspath's TypeError
        raise not_a_source(source)
    refuse_one_string("label_names", label_names, "label names")  # "positive" was the labels 'p', 'o', 's'...
    given = list(label_names) if label_names is not None else None
    df, parquet_votes = (source, None) if isinstance(source, pd.DataFrame) else _read_labelled(source)
    df = with_flag_labels(df.reset_index(drop=True), given, multi_label)
    tcol = find_text_column(df, text_column)
    lcol = _label_column(df, multi_label)
    multi = lcol == "labels" if multi_label is None else multi_label
    failed = failed_flags(df["failed"]) if "failed" in df.columns else None
    # a twin that failed a check (ok false) may carry a label it lost or a name it kept: not queued, as not trained on
    flagged = flagged_twins(df).to_numpy()
    positions, texts, labels = [], [], []
    left_out = {"failed": 0, "flagged_twins": 0, "no_text": 0, "no_label": 0}
    for i, (text, cell) in enumerate(zip(df[tcol].tolist(), df[lcol].tolist(), strict=True)):
        if failed is not None and failed.iloc[i]:
            left_out["failed"] += 1
            continue
        if flagged[i]:
            left_out["flagged_twins"] += 1
            continue
        if is_missing_text(text):
            left_out["no_text"] += 1
            continue
        # empty is unlabelled, multi-label too (none is []); without a task, so is "NA", "null" or "None"
        label = expert_label_cell(cell, multi_label=multi, inferred=not given)
        if label is None:
            left_out["no_label"] += 1
            continue
        positions.append(i)
        texts.append(str(text))
        labels.append(label)
    if left_out["flagged_twins"]:
        logger.warning("%s", flagged_twins_line("doubts", left_out["flagged_twins"], " of the queue"))
    names = list(given) if given else _names_seen(labels, df, multi, parquet_votes)
    if given:  # the task's names, as train reads them: a "Positive" cell is the task's "positive"
        labels = _as_named(labels, names, multi_label=multi)[0]
    seen = {lab for cell in labels for lab in (cell if multi else [cell])}
    unknown = sorted(seen - set(names))
    if unknown:
        raise InputError(
            f"label(s) {unknown[:10]} are not among the task's labels {names}; fix the data or pass the right --task."
        )
    # a label a person set (label_source "human", from apply-review) is not doubted by the teacher votes it replaced
    sources = df["label_source"].astype(str).tolist() if "label_source" in df.columns else None
    human = [sources is not None and sources[i] == "human" for i in positions]
    return _Rows(df, positions, texts, labels, names, multi, lcol, left_out, human, parquet_votes)


def _read_labelled(source: str | os.PathLike[str]) -> tuple[pd.DataFrame, ParquetVotes | None]:
    """The file as :func:`read_table` reads it, except the ``votes`` of a Parquet file in annotate's layout
    (:func:`sxhub.votes_column._read_parquet_votes`): those are held as read, in Arrow (:class:`ParquetVotes`),
    and the frame's ``votes`` column is a placeholder."""
    from .votes_column import _read_parquet_votes

    frame, path = _read_parquet_votes(source)
    if frame is None:
        return read_table(source), None
    return frame, ParquetVotes(path)


class ParquetVotes:
    """The ``votes`` column of a Parquet annotate output, held as Arrow batches (tens of bytes a vote) and made
    plain dicts a batch at a time where it is read: the vote split, the label names seen, the queue's rows.

    pandas reads each cell as a slice of one array of every vote's dict (labels as slices of another), and plain
    dicts are a few hundred bytes a vote: held through the out-of-fold fit, beside the embeddings and a fold's
    float64 copy, the votes of a 1M-row file were GBs of the peak. Within a batch a repeated string (the teacher, a
    reason, a label) is one object, as pandas makes it."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        from .votes_column import VOTES_BATCH, parquet_votes_chunks

        self.chunks = list(parquet_votes_chunks(path, VOTES_BATCH))

    def cells(self, positions: Sequence[int] | None = None) -> Iterator[Any]:
        """The cells of the input rows ``positions`` (ascending; None: every row), in that order."""
        wanted = None if positions is None else np.asarray(positions, dtype=np.int64)
        at = start = 0
        for chunk in self.chunks:
            end = start + len(chunk)
            if wanted is None:
                picked = chunk
            else:
                stop = int(np.searchsorted(wanted, end))
                picked, at = chunk.take(wanted[at:stop] - start), stop
            start = end
            if not len(picked):
                continue
            strings: dict[str, str] = {}
            for cell in picked.to_pylist():
                for vote in cell or ():
                    for key, value in (vote or {}).items():
                        if isinstance(value, str):
                            vote[key] = strings.setdefault(value, value)
                        elif isinstance(value, list):  # labels
                            value[:] = [strings.setdefault(v, v) if isinstance(v, str) else v for v in value]
                yield cell


def _names_seen(labels: list[Any], df: pd.DataFrame, multi: bool, parquet_votes: ParquetVotes | None) -> list[str]:
    """Without a task: every label name in the label column and the votes, sorted."""
    names = {lab for cell in labels for lab in (cell if multi else [cell])}
    if "votes" in df.columns:
        for cell in parquet_votes.cells() if parquet_votes is not None else df["votes"].tolist():
            for vote in plain_votes(cell):
                if isinstance(vote.get("labels"), list):
                    names.update(str(lab) for lab in vote["labels"])
    return sorted(names)


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


def oof_probabilities(
    features: np.ndarray | SpilledRows,
    targets: np.ndarray,
    *,
    n_labels: int,
    multi_label: bool,
    folds: int,
    seed: int = 0,
) -> np.ndarray:
    """Cross-fitted probabilities: every row scored by a model trained on the other folds only.

    Single-label ``targets`` are label ids and the result is ``(n, n_labels)`` (a label a training fold lacks gets
    0 on that fold's rows; a fold whose training part has one label only gives it 1); multi-label ``targets`` are multi-hot and the result is one P(on) per label (a label constant in a training
    fold gets that constant).
    """
    from sklearn.model_selection import KFold, StratifiedKFold

    places = np.empty((len(features), 0))  # what the splitters read of X: its number of rows
    with warnings.catch_warnings():  # rare labels: fewer members than folds, or absent from a training fold
        warnings.simplefilter("ignore", UserWarning)
        cv: Any
        if multi_label:
            # one binary model per label, as OneVsRestClassifier fits them; not through cross_val_predict, which
            # re-encodes each label's column as class ids first: a label on in every row became "0" and every row
            # was scored P(on) = 0 (all doubted, never suggested), and a file of one label name crashed
            hot = np.asarray(targets, dtype=int).reshape(len(features), -1)
            out = np.zeros(hot.shape, dtype=float)
            for train, test in KFold(n_splits=folds, shuffle=True, random_state=seed).split(places):
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
        counts = np.bincount(targets, minlength=n_labels)
        present = np.flatnonzero(counts)
        if counts[present].min() >= folds:
            cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        else:
            cv = KFold(n_splits=folds, shuffle=True, random_state=seed)
        full = np.zeros((len(targets), n_labels), dtype=float)
        for train, test in cv.split(places, targets):
            seen = np.unique(targets[train])
            if len(seen) == 1:  # a rare label missing from this training fold leaves one: it is certain there
                full[test, seen[0]] = 1.0
                continue
            model = _classifier(seed).fit(_float64_rows(features, train), targets[train])
            probs = model.predict_proba(_float64_rows(features, test))
            full[np.ix_(test, model.classes_)] = probs  # a label not seen gets 0
    return full


# --------------------------------------------------------------------------------------------------------------
# the queue
# --------------------------------------------------------------------------------------------------------------
@dataclass
class DoubtsResult:
    queue: pd.DataFrame  # every labelled row, highest doubt first (columns: module docstring)
    summary: dict[str, Any]  # counts, settings, seconds

    def summary_line(self) -> str:
        s = self.summary
        return (
            f"{s['doubtful']} of {s['n']} texts are doubtful (doubt >= {s['threshold']}); "
            f"{s['suggested_changes']} with another suggested label; {s['seconds']:.1f} s"
            f"{truncated_note(s.get('truncated'), s['n'], s.get('max_length'), done='checked', do='check')}"
        )


def find_doubts(
    source: str | os.PathLike[str] | pd.DataFrame,
    *,
    label_names: SequenceNotStr[str] | None = None,
    multi_label: bool | None = None,
    folds: int = DEFAULT_FOLDS,
    embedder: Embedder | None = None,
    model: str | os.PathLike[str] | None = None,
    text_column: str | None = None,
    seed: int = 0,
) -> DoubtsResult:
    """Rank every labelled row of ``source`` by doubt (module docstring).

    ``label_names`` and ``multi_label`` come from the task when known (else the names seen, sorted, and
    multi-label when the column is ``labels``). ``embedder`` maps texts to vectors (default :func:`embed_texts`
    with ``model``, itself defaulting to the packaged MiniLM).
    """
    if not isinstance(folds, int) or folds < 2:
        raise InputError(f"folds={folds!r} must be an integer of at least 2 (e.g. --folds 5).")
    # before the texts are embedded (minutes on a large file): with sxhub[student] alone, the whole file was embedded
    # and then the missing cleanlab named
    _require_cleanlab()
    started = time.perf_counter()
    rows = _read_rows(source, label_names=label_names, multi_label=multi_label, text_column=text_column)
    n = len(rows.positions)
    if n < max(folds, 4):
        raise InputError(
            f"only {n} labelled texts; doubts needs at least {max(folds, 4)} (and --folds at most the number of texts)."
        )
    if not rows.multi_label and len(set(rows.labels)) < 2:
        raise InputError(
            f"every text has the label {rows.labels[0]!r}; doubts needs at least two labels to learn what each looks "
            "like."
        )
    shares = _vote_shares(rows)  # a bad votes or agreement cell is said before the texts are embedded
    _agreement_split(rows)
    # the default embedder's count of texts it read the first max_length tokens of (another embedder's: not known)
    cut: dict[str, int] = {}
    features = embedder(rows.texts) if embedder is not None else embed_texts(rows.texts, model, counts=cut)
    # float32 (embed_texts') kept as it is: a float64 copy of 1M x 384 is 3 GB more; each fold casts its rows
    features = np.asarray(features)
    if features.dtype not in (np.float32, np.float64):
        features = np.asarray(features, dtype=float)
    if features.shape[0] != n:
        raise InputError(f"the embedder returned {features.shape[0]} vectors for {n} texts; it must return one each.")
    embedded = time.perf_counter()
    index = {name: i for i, name in enumerate(rows.label_names)}
    if rows.multi_label:
        targets = np.array([[name in labs for name in rows.label_names] for labs in rows.labels], dtype=int)
    else:
        targets = np.array([index[lab] for lab in rows.labels])
    # the embeddings (1M texts: 1.5 GB) wait on disk while each fold's float64 rows are in memory (SpilledRows)
    held: np.ndarray | SpilledRows
    try:
        held = SpilledRows(features)
    except OSError as exc:  # no room in the temporary folder: held in memory, as before
        logger.info("the embeddings stay in memory during the fit (the temporary folder refused them: %s)", exc)
        held = features
    del features
    try:
        probs = oof_probabilities(
            held, targets, n_labels=len(rows.label_names), multi_label=rows.multi_label, folds=folds, seed=seed
        )
    finally:
        if isinstance(held, SpilledRows):
            held.close()
    del held
    signals = (_multi_signals if rows.multi_label else _single_signals)(rows, probs, shares)
    del shares
    queue = _queue(rows, probs, signals)
    doubtful = int((queue["doubt"] >= DOUBTFUL).sum())
    changes = sum(
        (set(s) != set(c)) if rows.multi_label else s != c
        for s, c in zip(queue["suggested"], queue[rows.label_column], strict=True)
    )
    summary = {
        "n": n,
        "n_input": len(rows.frame),
        "left_out": rows.left_out,
        "doubtful": doubtful,
        "threshold": DOUBTFUL,
        "suggested_changes": int(changes),
        "multi_label": rows.multi_label,
        "label_column": rows.label_column,  # the file's own: a multi-label task may keep its names in `label`
        "labels": rows.label_names,
        "folds": folds,
        "signals": [s for s in SIGNALS if queue[s].map(lambda v: _worst(v) is not None).any()],
        "truncated": cut.get("truncated"),  # None: another embedder's, not counted
        "max_length": cut.get("max_length"),
        "embedding_seconds": round(embedded - started, 2),
        "seconds": round(time.perf_counter() - started, 2),
    }
    return DoubtsResult(queue=queue, summary=summary)


def _queue(rows: _Rows, probs: np.ndarray, signals: dict[str, list[Any]]) -> pd.DataFrame:
    data: dict[str, Any] = {
        "row": rows.positions,
        "text": rows.texts,
        rows.label_column: pd.Series(rows.labels, dtype=object),
    }
    data.update({name: signals[name] for name in SIGNALS})
    queue = pd.DataFrame(data)
    queue.insert(3, "doubt", [combine(values) for values in zip(*(signals[s] for s in SIGNALS), strict=True)])
    queue.insert(4, "suggested", pd.Series(signals["suggested"], dtype=object))
    queue["oof_probs"] = [
        {name: round(float(p), 4) for name, p in zip(rows.label_names, row, strict=True)} for row in probs
    ]
    if rows.parquet_votes is not None:
        queue["votes"] = [plain_votes(cell) for cell in rows.parquet_votes.cells(rows.positions)]
    elif "votes" in rows.frame.columns:
        cells = rows.frame["votes"].tolist()
        queue["votes"] = [plain_votes(cells[i]) for i in rows.positions]
    queue = queue.sort_values(["doubt", "row"], ascending=[False, True], kind="stable").reset_index(drop=True)
    return queue


def write_queue(result: DoubtsResult | pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write the queue by extension (.parquet, .csv, .jsonl); dict and list cells become JSON in a CSV."""
    queue = result.queue if isinstance(result, DoubtsResult) else result
    return write_table(queue, path)


def read_queue(path: str | os.PathLike[str]) -> pd.DataFrame:
    """A queue written by :func:`write_queue`, with its JSON cells (CSV) decoded back into dicts and lists."""
    return queue_cells(read_table(path))


def queue_cells(queue: pd.DataFrame) -> pd.DataFrame:
    """A queue as read from its file (:func:`read_queue`): a CSV's JSON cells as dicts and lists, its ``row`` as
    integers and its ``doubt`` and signals as numbers (text in a CSV)."""
    for column in ("labels", "suggested", *SIGNALS, "oof_probs", "votes"):
        if column in queue.columns:
            queue[column] = [_json_cell(v) for v in queue[column]]
    queue["row"] = queue["row"].astype(int)
    for column in ("doubt", *SIGNALS):
        if column in queue.columns and queue[column].map(lambda v: not isinstance(v, (dict, list))).all():
            queue[column] = pd.to_numeric(queue[column], errors="coerce")
    return queue


def _json_cell(value: Any) -> Any:
    """A CSV cell as written: JSON lists and dicts decoded, an empty cell None (``"" in "[{"`` is true in Python)."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if text[0] in "[{":
            return json.loads(text)
    return value.tolist() if isinstance(value, np.ndarray) else value


def doubtful_count(queue: pd.DataFrame) -> int:
    """Rows with ``doubt >= DOUBTFUL``."""
    return int((queue["doubt"] >= DOUBTFUL).sum())
