"""Reading the ``votes`` column of an annotate output, the stage before :mod:`sxhub.dataset_build` types and splits
the labelled dataset (split out of it, which imports what it needs from here). Each vote is read as
``sxhub annotate`` writes it (:func:`_vote`: the fields ``VOTE_KEYS``, then ``scores``):

* from CSV or JSONL (or a frame): as Python, one list of vote dicts per cell (:func:`_votes_column`);
* from Parquet in annotate's layout: kept as one Arrow ``list<struct>`` array, normalised in Arrow
  (:func:`_read_parquet_votes`, :func:`_arrow_votes_column`), and turned into Python a batch at a time where it is
  read (:func:`vote_batches`, :class:`VoteRows`; :mod:`sxhub.dataset_card`'s figures, :mod:`sxhub.doubts`).

This module does not import :mod:`sxhub.dataset_build`.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Collection, Iterator, Mapping
from typing import Any

import pandas as pd

from .data import read_table
from .stream import is_hub_source
from .table_read import read_errors
from .tables import table_suffix

VOTE_KEYS = ("teacher", "sample", "labels", "reason", "error", "raw")


def _plain(value: Any) -> Any:
    """numpy / pandas cells as plain Python (lists, dicts, None for NaN)."""
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _vote(value: Any) -> dict[str, Any]:
    vote = dict(value) if isinstance(value, Mapping) else {}
    labels = vote.get("labels")
    out: dict[str, Any] = {
        "teacher": str(vote.get("teacher") or ""),
        "sample": int(vote.get("sample") or 0),
        "labels": [str(v) for v in labels] if isinstance(labels, (list, tuple)) else None,
        "reason": str(vote.get("reason") or ""),
        "error": str(vote.get("error") or ""),
        "raw": str(vote.get("raw") or ""),
    }
    scores = vote.get("scores")
    if scores is not None and len(scores):  # a scoring teacher's (sxhub tune's): what `vote: scores` decides on
        out["scores"] = [{"label": str(c["label"]), "p": float(c["p"])} for c in scores]
    return out


def _votes_column(column: pd.Series) -> pd.Series:
    """Every ``votes`` cell as a list of :func:`_vote` dicts, converted cell by cell in place: each cell as read
    (numpy arrays of dicts from parquet) is released as its plain list replaces it, so the votes, the bulk of an
    annotate output, are held once rather than two or three times over (a 1M-row file held ~2 copies at its peak).
    Teacher names repeat in every vote and are interned (one string per teacher, not one per vote)."""
    cells, index = column.to_numpy(dtype=object, copy=True), column.index
    del column
    scored = False
    for i, cell in enumerate(cells):
        votes = []
        for value in _plain(cell) or []:
            vote = _vote(value)
            vote["teacher"] = sys.intern(vote["teacher"])
            scored = scored or "scores" in vote
            votes.append(vote)
        cells[i] = votes
    if scored:  # one vote type for the dataset's features
        for row in cells:
            for v in row:
                v.setdefault("scores", None)
    return pd.Series(cells, index=index, dtype=object)


# ==============================================================================================================
# the votes of a Parquet file, kept as Arrow
# ==============================================================================================================
# A 1M-row annotate output (3 votes a row, with reasons) peaked at 4.2 GB: every vote became a Python dict (and was
# read as one by pandas first). Its votes now stay one Arrow array (list<struct>), normalised in Arrow the way
# :func:`_vote` normalises a dict, taken per split, and read batch by batch where the card counts them.
_STRING_KEYS = ("teacher", "reason", "error", "raw")
VOTES_BATCH = 20_000  # votes rows turned into Python at a time where the card's figures read them


def _is_string(t: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def _is_list(t: Any) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_list(t) or pa.types.is_large_list(t))


def _arrow_votes_type_ok(t: Any) -> bool:
    """``votes`` as ``sxhub annotate`` (or a published dataset) writes it: a list of structs whose known fields have
    the types :func:`_vote` reads; any other layout (JSON text, other field types) takes the pandas path."""
    import pyarrow as pa

    if not _is_list(t) or not pa.types.is_struct(t.value_type):
        return False
    vote = t.value_type
    for field in vote:
        ft = field.type
        if pa.types.is_null(ft):  # never given (pandas writes a key every vote left None so)
            continue
        if field.name in _STRING_KEYS and not _is_string(ft):
            return False
        if field.name == "sample" and not pa.types.is_integer(ft):
            return False
        if field.name == "labels" and not (_is_list(ft) and _is_string(ft.value_type)):
            return False
        if field.name == "scores":
            if not (_is_list(ft) and pa.types.is_struct(ft.value_type)):
                return False
            inner = {f.name: f.type for f in ft.value_type}
            if set(inner) != {"label", "p"} or not _is_string(inner["label"]):
                return False
            if not (pa.types.is_floating(inner["p"]) or pa.types.is_integer(inner["p"])):
                return False
    return True


def _read_parquet_votes(source: str | os.PathLike[str] | pd.DataFrame) -> tuple[pd.DataFrame, Any]:
    """A Parquet annotate output as (its frame without the votes, a placeholder ``votes`` column in their place;
    the file, to read the votes from a batch at a time: :func:`_arrow_votes_column`), or ``(None, None)`` for any
    other source (read the pandas way)."""
    if isinstance(source, pd.DataFrame) or is_hub_source(str(source)) or table_suffix(source) != ".parquet":
        return None, None
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(source)
    except Exception:  # unreadable: read_table says so in its one line
        return None, None
    if "votes" not in schema.names or not _arrow_votes_type_ok(schema.field("votes").type):
        return None, None
    frame = read_table(source, usecols=lambda name: name != "votes")
    if pq.read_metadata(source).num_rows != len(frame):  # read_table read another number of rows: the pandas path
        return None, None
    frame.insert(schema.names.index("votes"), "votes", pd.Series([None] * len(frame), dtype=object))
    return frame, source


def _filled(values: Any, default: Any, type_: Any) -> Any:
    import pyarrow.compute as pc

    values = values.cast(type_)
    return pc.fill_null(values, default) if values.null_count else values


def _relist(lists: Any, values: Any, mask: Any = None) -> Any:
    """``lists`` (a list array) with ``values`` in place of its values (one for each), as ``list<...>``."""
    import pyarrow as pa

    offsets = lists.offsets
    if mask is None and lists.null_count:
        mask = lists.is_null()
    if pa.types.is_large_list(lists.type):
        offsets = offsets.cast(pa.int32())
    return pa.ListArray.from_arrays(offsets, values, mask=mask)


def _normal_votes(lists: Any) -> Any:
    """One chunk of ``votes`` as :func:`_vote` makes each vote: the fields ``VOTE_KEYS`` (then ``scores``), missing
    strings ``""``, a missing sample 0, labels a list of strings or null, empty ``scores`` null; a null cell is no
    votes and a null vote one of defaults, other fields dropped."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_large_list(lists.type):
        lists = lists.cast(pa.list_(lists.type.value_type))
    lengths = pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False)
    votes = lists.flatten()  # the votes of non-null cells, in order
    n = len(votes)
    given = {  # a null vote: null fields; a field of type null: never given
        f.name: child for f, child in zip(votes.type, votes.flatten(), strict=True) if not pa.types.is_null(f.type)
    }
    children, fields = [], []
    for key in VOTE_KEYS:
        if key == "sample":
            # int32 as the dataset's feature (a split is then taken without a cast that copies every vote)
            child = _filled(given[key], 0, pa.int32()) if key in given else pa.array(np.zeros(n, np.int32))
        elif key == "labels":
            child = given.get(key)
            if child is None:
                child = pa.nulls(n, pa.list_(pa.string()))
            else:
                child = child.cast(pa.list_(pa.string()))
                if child.values.null_count:  # [str(v) for v in labels]: a null name is "None"
                    child = _relist(child, pc.fill_null(child.values, "None"))
        else:
            child = _filled(given[key], "", pa.string()) if key in given else pa.array([""] * n, pa.string())
        children.append(child)
        fields.append(pa.field(key, child.type))
    if "scores" in given:  # a scoring teacher's; `len(scores)` 0 is no scores
        scores = given["scores"]
        if pa.types.is_large_list(scores.type):
            scores = scores.cast(pa.list_(scores.type.value_type))
        cells = scores.values
        label = _filled(cells.field("label"), "None", pa.string())
        p = cells.field("p").cast(pa.float64())
        empty = pc.fill_null(pc.equal(pc.list_value_length(scores), 0), True)
        child = _relist(scores, pa.StructArray.from_arrays([label, p], names=["label", "p"]), mask=empty)
        children.append(child)
        fields.append(pa.field("scores", child.type))
    structs = pa.StructArray.from_arrays(children, fields=fields)
    offsets = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), structs)


def _vote_fields(votes: Any, names: Any) -> Any:
    """``votes`` (a list<struct> array without nulls) with only the vote fields ``names`` (those it has)."""
    import pyarrow as pa

    structs = votes.values
    keep = [i for i, f in enumerate(structs.type) if f.name in names]
    inner = pa.StructArray.from_arrays([structs.field(i) for i in keep], fields=[structs.type.field(i) for i in keep])
    return pa.ListArray.from_arrays(votes.offsets, inner)


def parquet_votes_chunks(path: str | os.PathLike[str], batch_size: int) -> Iterator[Any]:
    """The ``votes`` column of the Parquet file ``path``, ``batch_size`` rows at a time, as Arrow arrays; a corrupt
    page of votes is read_table's one line and exit 2 (:func:`sxhub.tables.read_errors`), not pyarrow's traceback."""
    import pyarrow.parquet as pq

    with read_errors(path):
        batches = pq.ParquetFile(path).iter_batches(batch_size=batch_size, columns=["votes"])
    while True:
        with read_errors(path):
            batch = next(batches, None)
        if batch is None:
            return
        yield batch.column(0)


def _arrow_votes_column(path: str | os.PathLike[str], keep: Any) -> pd.Series:
    """The kept rows' votes (``keep``: a bool per row of the file) as one normalised Arrow array in a pandas column,
    read a batch at a time; the ``scores`` field only where some kept vote has scores (:func:`_votes_column`'s one
    vote type)."""
    import numpy as np
    import pyarrow as pa

    keep = np.asarray(keep, dtype=bool)
    pieces, start = [], 0
    for chunk in parquet_votes_chunks(path, VOTES_BATCH * 5):
        mask = keep[start : start + len(chunk)]
        start += len(chunk)
        if mask.any():
            pieces.append(_normal_votes(chunk.filter(pa.array(mask))))
        del chunk
    if not pieces:
        return pd.Series([], dtype=object)
    merged = pa.concat_arrays(pieces) if len(pieces) > 1 else pieces[0]
    del pieces
    structs = merged.values
    if "scores" in [f.name for f in structs.type] and structs.field("scores").null_count == len(structs):
        merged = _vote_fields(merged, VOTE_KEYS)  # no kept vote has scores
    return pd.Series(pd.arrays.ArrowExtensionArray(pa.chunked_array([merged])))


def arrow_votes(column: pd.Series) -> Any:
    """The ``pyarrow.ChunkedArray`` behind a ``votes`` column kept as Arrow, or None for a column of Python cells."""
    if isinstance(column.dtype, pd.ArrowDtype):
        return column.array.__arrow_array__()
    return None


def vote_batches(column: pd.Series, fields: Collection[str] | None = None) -> Iterator[list[Any]]:
    """The ``votes`` cells in order, in lists of up to ``VOTES_BATCH`` cells, each a list of vote dicts; a column
    kept as Arrow is turned into Python a batch at a time, so that the card's figures never hold every vote as
    Python at once (a column of Python cells is one batch). ``fields``: the vote fields to read (of a column kept
    as Arrow; the others, a reason above all, are left unread)."""
    votes = arrow_votes(column)
    if votes is None:
        yield list(column)
        return
    for start in range(0, len(votes), VOTES_BATCH):
        part = votes.slice(start, VOTES_BATCH).combine_chunks()
        yield (part if fields is None else _vote_fields(part, fields)).to_pylist()


class VoteRows:
    """The ``votes`` cells of a column, one list of vote dicts per text, read in batches (:func:`vote_batches`)."""

    def __init__(self, column: pd.Series, fields: Collection[str] | None = None) -> None:
        self.column, self.fields = column, fields

    def __len__(self) -> int:
        return len(self.column)

    def __iter__(self) -> Iterator[Any]:
        for batch in vote_batches(self.column, self.fields):
            yield from batch
