"""The signals of :func:`sxhub.doubts.find_doubts`: how likely each row's label is wrong, from its votes (or
``agreement``) and its out-of-fold probabilities, each in [0, 1]; the label the evidence suggests; and
:func:`combine`, a row's doubt from its signals. :mod:`sxhub.doubts` reads the rows, embeds them, fits the
out-of-fold model and writes the queue; its docstring defines each signal.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from .errors import InputError
from .reliability import label_shares, plain_votes, valid_labels


@dataclass
class _Rows:
    """The rows :func:`sxhub.doubts.find_doubts` scores, as it read them; the signals below read them."""

    frame: pd.DataFrame  # the input
    positions: list[int]  # input row of each scored row
    texts: list[str]
    labels: list[Any]  # name, or list of names
    label_names: list[str]
    multi_label: bool
    label_column: str
    left_out: dict[str, int] = field(default_factory=dict)
    human: list[bool] = field(default_factory=list)  # per scored row: a person set its label (sxhub apply-review)
    # the votes of a Parquet annotate output, held as read (Arrow) and made plain a batch at a time where they are
    # read (sxhub.doubts_read.ParquetVotes); the frame's votes column is then a placeholder. None: the frame's column
    parquet_votes: VoteCells | None = None


class VoteCells(Protocol):
    """Votes held outside the frame: each wanted input row's cell, in the order of ``positions`` (ascending)."""

    def cells(self, positions: Sequence[int] | None = None) -> Iterator[Any]: ...


Shares = tuple[np.ndarray, int]  # the share of valid votes naming each label, and the number of valid votes


class VoteShares:
    """Per scored row, its :data:`Shares` or None, held as one (rows, labels) array and one count per row: a tuple
    and an array per row were about 300 bytes a row, held from before the embedding to the signals (1M rows: 0.3 GB
    of the out-of-fold fit's peak). Iterated or indexed, a row reads as before."""

    def __init__(self, n: int, n_labels: int) -> None:
        self.shares = np.zeros((n, n_labels), dtype=float)
        self.counts = np.full(n, -1, dtype=np.int64)  # -1: None (no valid vote, or a label a person set)

    def __len__(self) -> int:
        return len(self.counts)

    def __getitem__(self, i: int) -> Shares | None:
        n = int(self.counts[i])
        return None if n < 0 else (self.shares[i], n)

    def __iter__(self) -> Iterator[Shares | None]:
        return (self[i] for i in range(len(self)))

    def set(self, i: int, value: Shares | None) -> None:
        if value is not None:
            self.shares[i], self.counts[i] = value


def _vote_shares(rows: _Rows) -> VoteShares | list[None]:
    """Per scored row, the vote shares per label and the number of valid votes (None without a valid vote)."""
    if "votes" not in rows.frame.columns:
        return [None] * len(rows.positions)
    out = VoteShares(len(rows.positions), len(rows.label_names))
    if rows.parquet_votes is not None:  # made plain a batch at a time, not kept: the queue makes its rows' again
        cells = rows.parquet_votes.cells(rows.positions)
        for r, (cell, human) in enumerate(zip(cells, rows.human, strict=True)):
            out.set(r, _row_shares(rows, plain_votes(cell), human))
        return out
    # each scored row's cell is replaced by its plain votes, which the queue then carries as they are: made here and
    # again for the queue, every vote was held twice over with the cells as read (a 1M-row file: GBs). Out of the
    # frame first (pointers copied), so that each cell as read is released as it is replaced
    at = rows.frame.columns.get_loc("votes")
    cells = rows.frame.pop("votes").to_numpy(dtype=object, copy=True)
    try:
        for r, (i, human) in enumerate(zip(rows.positions, rows.human, strict=True)):
            cells[i] = votes = plain_votes(cells[i])
            out.set(r, _row_shares(rows, votes, human))
    finally:
        rows.frame.insert(at, "votes", pd.Series(cells, index=rows.frame.index, dtype=object))
    return out


def _row_shares(rows: _Rows, votes: list[dict[str, Any]], human: bool) -> Shares | None:
    if human:  # the votes are the teachers' on the label a person replaced
        return None
    shares = label_shares(votes, rows.label_names, rows.multi_label)
    n = sum(valid_labels(v, rows.label_names, rows.multi_label) is not None for v in votes)
    return None if shares is None else (shares, n)


def _smoothed(shares: Shares, n_values: int) -> np.ndarray:
    """Vote shares with half a pseudo-vote per value (Jeffreys' prior), so that unanimous votes are strong evidence
    for a label but not proof: ``(count + 0.5) / (n + 0.5 * n_values)``."""
    share, n = shares
    return (share * n + 0.5) / (n + 0.5 * n_values)


def _agreement_split(rows: _Rows) -> list[float | None]:
    """The vote split of the rows without a valid vote, from the ``agreement`` column: only for a file without
    votes. With votes, such a row has no split (None): annotate's agreement for it is computed from no vote (0.0
    for votes that all timed out), and as a split of 1.0 it put the row atop the queue as if its votes all
    disagreed; multi-label, that one number beside the other rows' per-label dicts could not even be written to
    Parquet ("cannot mix struct and non-struct")."""
    from .vote import mean_agreement

    if "agreement" not in rows.frame.columns:
        return [None] * len(rows.positions)
    cells = rows.frame["agreement"].tolist()
    out: list[float | None] = []
    for i, human in zip(rows.positions, rows.human, strict=True):
        if human:
            out.append(None)
            continue
        cell = cells[i]
        if isinstance(cell, str) and cell.strip().startswith("{"):  # a per-label dict left as JSON text
            try:
                cell = json.loads(cell)
            except json.JSONDecodeError as exc:
                raise InputError(
                    f"agreement cell {cell[:60]!r} is not a JSON object of shares per label; fix the column or drop it."
                ) from exc
        value = mean_agreement(cell)  # read (a bad cell is said) even where votes leave it unused
        out.append(None if value is None else 1.0 - value)
    return [None] * len(out) if "votes" in rows.frame.columns else out


def _require_cleanlab() -> None:
    import importlib.util

    if importlib.util.find_spec("cleanlab") is None:
        raise InputError('sxhub doubts needs cleanlab; run pip install "sxhub[review]".')


def _single_signals(rows: _Rows, probs: np.ndarray, shares: Iterable[Shares | None]) -> dict[str, list[Any]]:
    from cleanlab.rank import get_label_quality_scores

    index = {n: i for i, n in enumerate(rows.label_names)}
    ids = np.array([index[lab] for lab in rows.labels])
    given = probs[np.arange(len(ids)), ids]
    # on the labels the rows use: cleanlab gives a label no row has a threshold of 1e10, which squeezed every
    # row's adjusted probabilities together (a task label absent from a small batch blurred all the doubts)
    present = np.unique(ids)
    quality: list[float | None]
    if len(present) < 2:
        quality = [None] * len(ids)  # one label only: no margin to another label
    else:
        sub = probs[:, present] / probs[:, present].sum(axis=1, keepdims=True)
        sub_ids = np.searchsorted(present, ids)
        scores = get_label_quality_scores(sub_ids, sub, method="normalized_margin", adjust_pred_probs=True)
        quality = [float(v) for v in scores]
    fallback = _agreement_split(rows)
    split = [1.0 - float(s[0][k]) if s is not None else fb for s, k, fb in zip(shares, ids, fallback, strict=True)]
    suggested = []
    for p, s in zip(probs, shares, strict=True):
        evidence = p if s is None else p * _smoothed(s, len(rows.label_names))
        suggested.append(rows.label_names[int(np.argmax(evidence))])
    return {
        "signal_vote_split": split,
        "signal_oof_disagreement": (1.0 - given).tolist(),
        "signal_label_quality": [None if q is None else 1.0 - q for q in quality],
        "suggested": suggested,
    }


# multi-label: the out-of-fold disagreement and the suggestion read the probability of each label held by fewer than
# this share of the rows against that label's fitted threshold, the others against 0.5 (None: every label against
# 0.5). Adopted by bench/doubts_calibrated.py's stated rule (bench/results/doubts_calibrated_rare.md): on GoEmotions
# with votes, right suggestions on planted errors +1.8 points (SE 0.7), 40 fewer doubtful rows; the 4P tweets, whose
# labels are all above 5%, unchanged. Calibrating every label lost 5 points of right suggestions on 4P.
CALIBRATE_BELOW: float | None = 0.05


def label_thresholds(probs: np.ndarray, hot: np.ndarray) -> np.ndarray:
    """Per label, the out-of-fold probability at which calling labels on best matches the labels given (pooled
    micro-F1, as a multi-label student's thresholds are fitted; 0.5 for a label no row has): a rare label's
    probabilities stay low, so against 0.5 nearly every row that has it looked wrong and it was never suggested."""
    from .validation import tune_thresholds_micro

    names = [str(k) for k in range(probs.shape[1])]
    fitted = tune_thresholds_micro(probs, hot.astype(bool), names)
    return np.array([fitted[n] for n in names], dtype=float)


def prior_corrected(probs: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """``probs`` with each label's odds divided by its threshold's, so that the threshold reads as 0.5."""
    p = np.clip(probs, 1e-6, 1 - 1e-6)
    t = np.clip(thresholds, 1e-6, 1 - 1e-6)
    logit = np.log(p) - np.log1p(-p) - (np.log(t) - np.log1p(-t))
    return 1.0 / (1.0 + np.exp(-logit))


def _multi_signals(rows: _Rows, probs: np.ndarray, shares: Iterable[Shares | None]) -> dict[str, list[Any]]:
    from cleanlab.multilabel_classification.rank import get_label_quality_scores_per_class

    names = rows.label_names
    hot = np.array([[name in labs for name in names] for labs in rows.labels], dtype=float)
    raw = probs
    if CALIBRATE_BELOW is not None:
        rare = hot.mean(axis=0) < CALIBRATE_BELOW
        if rare.any():
            probs = prior_corrected(probs, np.where(rare, label_thresholds(probs, hot), 0.5))
    index = {n: i for i, n in enumerate(names)}
    ids = [[index[lab] for lab in labs] for labs in rows.labels]
    per_class = np.asarray(
        get_label_quality_scores_per_class(ids, raw, method="normalized_margin", adjust_pred_probs=True)
    )
    if per_class.shape != probs.shape:  # documented as K arrays of N scores; cleanlab 2.9 returns (N, K)
        per_class = per_class.T
    oof = np.abs(hot - probs)  # 1 - p(current on/off state), per label
    fallback = _agreement_split(rows)

    def per_label(values: np.ndarray) -> dict[str, float]:
        return {name: float(v) for name, v in zip(names, values, strict=True)}

    split: list[Any] = []
    suggested = []
    for r, s in enumerate(shares):
        split.append(per_label(np.abs(hot[r] - s[0])) if s is not None else fallback[r])
        on, off = probs[r], 1.0 - probs[r]
        if s is not None:  # each label is a two-valued (on/off) vote
            on, off = on * _smoothed(s, 2), off * _smoothed((1.0 - s[0], s[1]), 2)
        suggested.append([name for name, a, b in zip(names, on, off, strict=True) if a > b])
    return {
        "signal_vote_split": split,
        "signal_oof_disagreement": [per_label(row) for row in oof],
        "signal_label_quality": [per_label(1.0 - row) for row in per_class],
        "suggested": suggested,
    }


def _worst(value: Any) -> float | None:
    """A row's signal as one number: the value, or the worst (largest) label of a per-label dict."""
    if isinstance(value, dict):
        return max(value.values()) if value else 0.0
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return float(value)


def combine(signals: Sequence[Any]) -> float:
    """The doubt of one row: the mean of its available signals. With per-label dicts (multi-label), the mean is
    taken per label (a scalar signal counts for every label) and the row's doubt is its most doubtful label's.

    Before, each signal's worst label was taken first and those maxima averaged, which may mix three labels into
    one doubt. ``bench/doubts_multilabel.py`` (5 seeds of 2,000 rows, 7% planted errors) measured both: per label
    first, the doubtful rows' precision rose on the 4P tweets (+0.7 points, SE 0.2) and GoEmotions' 28 labels (+1.9,
    SE 0.3), and the errors found in the top 5% of the queue rose on GoEmotions by 8.5 points (SE 0.7)."""
    present = [s for s in signals if _worst(s) is not None]
    if not present:
        return 0.0
    names = list(dict.fromkeys(name for s in present if isinstance(s, dict) for name in s))
    if not names:
        return float(np.clip(np.mean([_worst(s) for s in present]), 0.0, 1.0))
    per_label = [
        np.mean(
            [float(s[n]) if isinstance(s, dict) else float(s) for s in present if not isinstance(s, dict) or n in s]
        )
        for n in names
    ]
    return float(np.clip(max(per_label), 0.0, 1.0))
