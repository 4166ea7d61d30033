"""Doubts, reading stage: the labelled rows :func:`sxhub.doubts.find_doubts` scores, as :class:`_Rows`.

:func:`_read_rows` reads any labelled table sxhub reads (or a frame), finds its text and label columns, leaves out
the rows without a label or a text, failed rows and the twins that failed a check (counted in ``left_out``), and
names the labels (the task's, or those seen in the labels and votes). The ``votes`` of a Parquet annotate output
are held as Arrow batches (:class:`ParquetVotes`) rather than as plain dicts.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .data import (
    check_text_not_labels,
    check_text_values,
    find_text_column,
    is_missing_text,
    not_a_source,
    read_table,
    text_cells,
    with_column_named,
)
from .doubt_signals import _Rows
from .errors import InputError
from .labelled import _as_named, expert_label_cell, failed_flags, flagged_twins, flagged_twins_line, with_flag_labels
from .reliability import plain_votes
from .sequences import SequenceNotStr, refuse_one_string

logger = logging.getLogger("sxhub.doubts")  # the stage's logger, as before the split (the CLI's -v names it)


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
    check_text_values(df, tcol)  # ids or scores (--text-column idx): refused as train refuses them, before embedding
    df = with_column_named(df, "labels", "label", text_column=tcol)  # a Kaggle "Label", as train reads it
    lcol = _label_column(df, multi_label)
    check_text_not_labels(tcol, lcol, None)
    multi = lcol == "labels" if multi_label is None else multi_label
    failed = failed_flags(df["failed"]) if "failed" in df.columns else None
    # a twin that failed a check (ok false) may carry a label it lost or a name it kept: not queued, as not trained on
    flagged = flagged_twins(df).to_numpy()
    positions, texts, labels = [], [], []
    left_out = {"failed": 0, "flagged_twins": 0, "no_text": 0, "no_label": 0}
    # bytes (a Parquet binary column) decoded, a list refused, as train reads them: their reprs were embedded
    cells = text_cells(df[tcol], tcol).tolist()
    for i, (text, cell) in enumerate(zip(cells, df[lcol].tolist(), strict=True)):
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
