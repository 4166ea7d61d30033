"""Doubts: rank every labelled text by how likely its label is wrong, without expert labels.

:func:`find_doubts` reads any labelled table sxhub reads (``text``, ``label`` or ``labels``, optionally ``votes``
or ``agreement``) and scores every row with up to three signals, each in [0, 1] where higher means "more likely
wrong":

* ``signal_vote_split``: ``1 -`` the share of the row's valid votes that agree with its current label (per label for
  multi-label: agreeing on whether that label is on). Without votes, ``1 -`` the ``agreement`` column
  (:func:`sxhub.vote.mean_agreement`); without either it is missing and left out of the doubt. A row without a valid
  vote in a file with votes has none (missing): its ``agreement`` was computed from no vote.
* ``signal_oof_disagreement``: ``1 - p(current label)`` under an out-of-fold model: the texts are embedded once
  (mean-pooled MiniLM, :func:`sxhub.doubts_oof.embed_texts`), and a logistic regression on the embeddings is
  cross-fitted over ``folds`` folds, so that no text is scored by a model that saw it (the copies of a text written
  more than once fall in one fold; multi-label: one binary model per label, and ``1 - p(current on/off state)`` per
  label).
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

The stages: :mod:`sxhub.doubts_read` reads the rows, :mod:`sxhub.doubts_oof` embeds them and fits the out-of-fold
model, :mod:`sxhub.doubt_signals` computes the signals, the suggestion and the doubt; this module runs them
(:func:`find_doubts`) and builds, writes and reads the queue.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .data import read_table, write_table
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
from .doubts_oof import SpilledRows, embed_texts, oof_probabilities
from .doubts_read import _read_rows
from .errors import InputError
from .predict_files import truncated_note
from .reliability import plain_votes
from .sequences import SequenceNotStr

logger = logging.getLogger(__name__)

DEFAULT_FOLDS = 5
DOUBTFUL = 0.5  # doubt at or above which a row is counted as doubtful
SIGNALS = ("signal_vote_split", "signal_oof_disagreement", "signal_label_quality")
QUEUE_COLUMNS = ("row", "text", "label", "doubt", "suggested", *SIGNALS, "oof_probs")

Embedder = Callable[[list[str]], np.ndarray]


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
    multi-label when the column is ``labels``). ``embedder`` maps texts to vectors (default
    :func:`sxhub.doubts_oof.embed_texts` with ``model``, itself defaulting to the packaged MiniLM).
    """
    if not isinstance(folds, int) or folds < 2:
        raise InputError(f"folds={folds!r} must be an integer of at least 2 (e.g. --folds 5).")
    # before the texts are embedded (minutes on a large file): with sxhub[student] alone, the whole file was embedded
    # and then the missing cleanlab named
    _require_cleanlab()
    started = time.perf_counter()
    rows = _read_rows(source, label_names=label_names, multi_label=multi_label, text_column=text_column)
    n = len(rows.positions)
    # one id per distinct text: the copies of a text written twice are cross-fitted in one fold
    groups, distinct = pd.factorize(pd.Series(rows.texts, dtype=object))
    if n < max(folds, 4) or len(distinct) < folds:
        raise InputError(
            f"only {n} labelled texts"
            + (f" ({len(distinct)} distinct)" if len(distinct) < n else "")
            + f"; doubts needs at least {max(folds, 4)} (and --folds at most the number of distinct texts)."
        )
    del distinct
    if rows.multi_label and not any(rows.labels):  # cleanlab's "max() arg is an empty sequence" otherwise
        raise InputError(
            f"no text has any label: all {n} labelled texts have none of the labels ([]); doubts needs some texts "
            "with a label to learn what each looks like."
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
            held,
            targets,
            n_labels=len(rows.label_names),
            multi_label=rows.multi_label,
            folds=folds,
            seed=seed,
            groups=groups,
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
