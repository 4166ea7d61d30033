"""The labelled dataset as a typed ``DatasetDict``: the annotate output read without its failed rows
(:func:`load_annotated`, which the Space's examples are picked from too), features, the seeded stratified splits,
and the facts its card states (:func:`build_dataset`). ``sxhub.publish`` writes it as a dataset repo; the model card
scores the student on the same test split. Its ``votes`` column is read by :mod:`sxhub.votes_column`."""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Mapping
from typing import Any

import pandas as pd

from .data import read_table, with_column_named, with_text_column
from .errors import PublishError
from .labelled import (
    TWIN_CHECK_COLUMNS,
    _as_named,
    expert_label_cell,
    failed_flags,
    flagged_twins,
    flagged_twins_line,
    gold_from_flag_columns,
    has_flag_columns,
    parse_label_cell,
    with_flag_labels,
)
from .spec import TaskSpec, load_spec
from .table_read import decode_ledger_columns
from .tables import table_suffix
from .votes_column import (
    VOTE_KEYS,
    _arrow_votes_column,
    _plain,
    _read_parquet_votes,
    _relist,
    _votes_column,
    arrow_votes,
)

logger = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
_DROPPED = {"failed", "error"}
# what sxhub twins writes beside each twin and publish leaves out: the original (masked, but with every name, brand
# and place), its label and the identities a twin kept; and the checks' outcome, the same for every twin published
# (one that failed a check is left out, so its ok is true, its flags [], and its label_kept true: a changed or
# unchecked label is a flag)
TWIN_UNPUBLISHED = ("original", "leaked", "ok", "flags", "label_kept")
TWIN_NUMBERS = {"similarity": float, "shared_ngrams": int}  # what sxhub twins writes as numbers and publish keeps

SHARED_STRINGS = 10_000  # distinct strings of a column made one object each (a column of texts: its first ones)


def _shared_strings(values: list[Any]) -> list[Any]:
    """``values`` with equal strings as one object (the first ``SHARED_STRINGS`` distinct ones): every cell read is
    its own Python string, and a label or expert column of 1M rows held ~57 MB each for a few names."""
    seen: dict[str, str] = {}
    for i, value in enumerate(values):
        if type(value) is str:
            first = seen.get(value)
            if first is None:
                if len(seen) < SHARED_STRINGS:
                    seen[value] = value
            else:
                values[i] = first
    return values


def read_labelled(source: str | os.PathLike[str]) -> pd.DataFrame:
    """The labelled file ``source`` (:func:`~sxhub.data.read_table`), with every column of a CSV that annotate wrote
    as JSON decoded, as the file's ledger records them (:func:`~sxhub.tables.ledger_json_columns`): besides its own,
    a list column of the input kept with ``--keep-column``, which a JSONL or Parquet OUT holds as lists. From a CSV
    it was published as JSON text (``'["a", "b"]'``), from the other formats as a list. A queue of ``sxhub doubts``
    (:func:`is_queue`) with its numbers typed."""
    frame = read_table(source)
    if table_suffix(source) in {".csv", ".tsv"} and is_queue(frame.columns):  # its numbers: text in a CSV
        from .doubts import queue_cells

        return queue_cells(frame)
    return decode_ledger_columns(frame, source)


def is_queue(columns: Any) -> bool:
    """Whether a file of ``columns`` is a queue of ``sxhub doubts`` (its ``row``, ``doubt``, ``suggested`` and signal
    columns, :data:`sxhub.doubts.QUEUE_COLUMNS`; it holds no column of the input but ``votes``): a CSV's numbers are
    text, typed by :func:`sxhub.doubts.queue_cells`, and were published as strings from a CSV, as float64 and int64
    from Parquet."""
    return {"row", "doubt", "suggested"} <= set(columns) and any(str(c).startswith("signal_") for c in columns)


def _twin_numbers(frame: pd.DataFrame) -> pd.DataFrame:
    """A twins file's :data:`TWIN_NUMBERS` as numbers: a CSV's cells are text (``'0.93'``, ``'0'``), and were
    published as strings from a CSV, as float64 and int64 from Parquet. An empty cell (a row without a twin) is None;
    a column that does not read as numbers (edited by hand) stays as it is."""
    for col, kind in TWIN_NUMBERS.items():
        if col not in frame.columns:
            continue
        try:
            cells = [(None if not v.strip() else kind(v)) if isinstance(v, str) else v for v in frame[col].tolist()]
        except ValueError:
            continue
        frame[col] = pd.Series(cells, index=frame.index, dtype=object)
    return frame


def _expert_cells(column: pd.Series, spec: TaskSpec, gold: str) -> pd.Series:
    """The experts' column ``gold`` as the label column holds its labels: a name (single-label) or a list of names,
    None where the experts gave none (:func:`~sxhub.labelled.expert_label_cell`), so that it is published typed as
    the labels are. A CSV's multi-label cell is JSON text (``'["joy", "anger"]'``) and was published as a string,
    a JSONL or Parquet one as a list of strings. Each distinct cell is read once and equal cells are one object. A
    name the task does not have is refused, in one line, before any split is built."""
    multi = spec.multi_label
    read: dict[Any, Any] = {}
    names: set[str] = set()

    def parsed(value: Any) -> Any:
        # a name in another case or spacing is the task's; a comma-separated cell that split a name: joined again
        cell = _task_named([expert_label_cell(value, multi_label=multi)], spec)[0]
        names.update(cell if isinstance(cell, list) else [] if cell is None else [cell])
        return cell

    cells = column.tolist()
    del column
    for i, value in enumerate(cells):
        key = (type(value), tuple(value) if isinstance(value, list) else value)
        try:
            cell = read[key]
        except KeyError:
            cell = read[key] = parsed(value)
        except TypeError:  # an unhashable cell (a list of lists, a dict)
            cell = parsed(value)
        cells[i] = cell
    unknown = sorted(names - set(spec.label_names))
    if unknown:
        raise PublishError(
            f"the --gold column {gold!r} holds label(s) {unknown[:10]} that are not among the task's labels "
            f"{spec.label_names}; fix the data or the task's labels."
        )
    return pd.Series(cells, dtype=object)


def _task_named(labels: list[Any], spec: TaskSpec) -> list[Any]:
    """``labels`` (parsed cells, None where there is none) with each name in another case or spacing than one of the
    task's replaced by it (:func:`~sxhub.labelled._as_named`)."""
    names = set(spec.label_names)
    if not spec.multi_label and all(lab is None or lab in names for lab in labels):  # annotate's own: as they are
        return labels
    at = [i for i, lab in enumerate(labels) if lab is not None]
    named = _as_named([labels[i] for i in at], list(spec.label_names), multi_label=spec.multi_label)[0]
    for i, lab in zip(at, named, strict=True):
        labels[i] = lab
    return labels


def load_annotated(
    source: str | os.PathLike[str] | pd.DataFrame, spec: TaskSpec, gold: str | None = None
) -> tuple[pd.DataFrame, int, int]:
    """The annotate output without its failed rows: (frame, rows read, rows failed); list cells as Python lists,
    except the ``votes`` of a Parquet file: one Arrow column (``pd.ArrowDtype``), each cell read as the list of
    :func:`~sxhub.votes_column._vote` dicts it holds (:class:`~sxhub.votes_column.VoteRows` reads them in batches).
    ``gold``: the experts' column, its cells read as the label column's are (:func:`_expert_cells`)."""
    frame, votes_read = _read_parquet_votes(source)
    if frame is None:
        frame = source.copy() if isinstance(source, pd.DataFrame) else read_labelled(source)
    # the layouts train and evaluate read too, so that a file a student was trained on can be scored and published
    # a Kaggle "Label", a --gold "expert" written "Expert": named as the task and --gold name them (found as the texts)
    named = with_column_named(
        with_text_column(frame), spec.label_column, *([gold] if gold else []), text_column="text"
    )
    frame = with_flag_labels(named, spec.label_names, spec.multi_label, column=spec.label_column)
    col = spec.label_column
    missing = [c for c in ("text", col) if c not in frame.columns]
    if missing == [col] and gold is not None and gold in frame.columns:
        # labelled by experts only (train --label-column takes such a file): --gold compares teachers with them,
        # and "pass the output of sxhub annotate" said nothing of how to publish the experts' own labels
        raise PublishError(
            f"the labelled data has no {col!r} column, only the experts' {gold!r}: --gold compares the teachers' "
            f"labels with it; to publish the experts' labels as the dataset's, rename {gold!r} to {col!r} and drop "
            "--gold, or pass the output of `sxhub annotate` to publish the teachers'."
        )
    if missing:
        raise PublishError(
            f"the labelled data has no {missing} column(s) (columns: {list(frame.columns)[:12]}); pass the output "
            f"of `sxhub annotate` for this {'multi' if spec.multi_label else 'single'}-label task"
            + (", or a file with one true/false column per label." if spec.multi_label else ".")
        )
    n_input = len(frame)
    failed = failed_flags(frame["failed"]) if "failed" in frame.columns else pd.Series(False, index=frame.index)
    flagged = flagged_twins(frame)
    if flagged.any() or all(c in frame.columns for c in TWIN_CHECK_COLUMNS):
        # a file of twins: the originals (masked, but with every name, brand and place), the identities a twin kept
        # and the twins that failed a check were published with the twins (the originals as the 'original' column)
        frame = frame.drop(columns=[*TWIN_UNPUBLISHED, f"original_{col}"], errors="ignore")
        frame = _twin_numbers(frame)
        if flagged.any():
            logger.warning("%s", flagged_twins_line("publish dataset", int(flagged.sum())))
        failed |= flagged
    labels = [parse_label_cell(_plain(v), multi_label=spec.multi_label) for v in frame[col]]
    # names in another case or spacing ("Positive ") as the task's, as train and evaluate read them; multi-label: a
    # comma-separated cell that split a label name with a comma ("joy, pure") joined again
    labels = _task_named(labels, spec)
    if not spec.multi_label:
        failed |= pd.Series([lab is None for lab in labels], index=frame.index)
    frame[col] = labels
    kept = ~failed.to_numpy(dtype=bool)
    for c in frame.columns:
        if c == "votes":  # converted once, below: a second whole copy of every vote was most of the peak memory
            continue
        # as objects: put back into a pandas 3 string column, None became NaN, which Arrow refuses as a string.
        # Before the failed rows are dropped: dropping rows of a pandas 3 (Arrow) string column copied it, and
        # held ~400 MB more for a 1M-row file; dropping them from object columns copies only pointers
        frame[c] = pd.Series(_shared_strings([_plain(v) for v in frame[c]]), index=frame.index, dtype=object)
    frame = frame[~failed].reset_index(drop=True)
    unknown = sorted({n for v in frame[col] for n in (v if spec.multi_label else [v])} - set(spec.label_names))
    if unknown:
        raise PublishError(f"labels {unknown[:10]} are not in the task's labels {spec.label_names}; fix the spec.")
    if gold is not None:
        from .dataset_card import check_gold_column

        check_gold_column(gold, spec, frame.columns)
        frame[gold] = _expert_cells(frame[gold], spec, gold)
    if "votes" in frame.columns:
        at = frame.columns.get_loc("votes")  # out of the frame first, so that each cell read can be released
        if votes_read is None:  # the popped column is not held here: _votes_column releases each cell it converts
            frame.insert(at, "votes", _votes_column(frame.pop("votes")))
        else:
            frame.pop("votes")  # the placeholder
            frame.insert(at, "votes", _arrow_votes_column(votes_read, kept))
    if len(frame) == 0:
        raise PublishError("nothing to publish: every row failed or has no label; annotate again.")
    return frame, n_input, int((failed & ~flagged).sum())  # the twins left out are not failed rows


def dataset_features(frame: pd.DataFrame, spec: TaskSpec, gold: str | None = None) -> Any:
    """Typed features: ClassLabel (or a list of them), the vote structs and agreement; the experts' column ``gold``
    typed as the labels are; other columns inferred (one empty on every row, from any format: a string column)."""
    from datasets import ClassLabel, Features, List, Value
    from datasets.features.features import generate_from_arrow_type

    label = ClassLabel(names=spec.label_names)
    feats: dict[str, Any] = {"text": Value("string"), spec.label_column: List(label) if spec.multi_label else label}
    if "votes" in frame.columns:
        vote = {k: Value("string") for k in VOTE_KEYS}
        vote.update(sample=Value("int32"), labels=List(Value("string")))
        votes = arrow_votes(frame["votes"])
        if (
            any("scores" in v for row in frame["votes"] for v in row)
            if votes is None
            else "scores" in [f.name for f in votes.type.value_type]
        ):  # a scoring teacher's label probabilities
            vote["scores"] = List({"label": Value("string"), "p": Value("float32")})
        feats["votes"] = List(vote)
    if "agreement" in frame.columns:
        per_label = any(isinstance(v, Mapping) for v in frame["agreement"])
        feats["agreement"] = {n: Value("float32") for n in spec.label_names} if per_label else Value("float32")
    import pyarrow as pa

    for col in frame.columns:
        if col == gold:  # its cells as the label column's (load_annotated): the same type, whatever the file
            feats[col] = feats[spec.label_column]
        elif col not in feats and col not in _DROPPED:
            typed = _column_type(frame[col])
            # a column empty on every row: a CSV's cells are "" (a string column), a Parquet file's are null, which
            # datasets types Value('null'): the same data was published with other features by format. A string
            # column of nulls from either, which also holds what a later publish puts in the column.
            feats[col] = Value("string") if pa.types.is_null(typed) else generate_from_arrow_type(typed)
    return Features(feats)


def _column_type(column: pd.Series) -> Any:
    """The Arrow type of a kept input column; one line naming it when its cells are of several types (a JSONL file's
    ids written as 123 and as "00123"): publish ended in "ArrowTypeError: Expected bytes, got a 'int' object"."""
    import pyarrow as pa

    try:
        return pa.array(column.tolist()).type
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        kinds = sorted({type(v).__name__ for v in column if v is not None and not (isinstance(v, float) and v != v)})
        raise PublishError(
            f"column {str(column.name)!r} holds cells of several types ({', '.join(kinds)}: {str(exc)[:80]}), and a "
            "dataset column has one; write its cells as one type (e.g. every one as a string), or drop the column."
        ) from exc


def _stratum(labels: Any, counts: Counter[str]) -> str:
    if isinstance(labels, list):
        return min(labels, key=lambda n: (counts[n], n)) if labels else "(none)"
    return str(labels)


def split_frame(
    frame: pd.DataFrame, spec: TaskSpec, *, seed: int = 42, validation_size: float = 0.1, test_size: float = 0.1
) -> tuple[dict[str, pd.DataFrame], bool]:
    """Seeded train/validation/test split, stratified by label (multi-label: by each row's rarest label).

    Rows that repeat a text up to case and spacing (:func:`sxhub.targets.same_text_key`, as ``train`` and
    ``trained_texts`` tell texts apart) stay on one side: the texts are split by their first row, and the shares are
    of texts. Split by rows, "Profit rose." was trained on and "PROFIT ROSE." scored as a test text (annotate keeps
    both, they differ as written; the default base is uncased and saw the same tokens), so the run's report and the
    cards scored the student on what it learned. Without such copies this is the row split it always was."""
    from sklearn.model_selection import train_test_split

    from .targets import same_text_key

    col = spec.label_column
    counts: Counter[str] = Counter(n for v in frame[col] for n in (v if isinstance(v, list) else [v]))
    row_keys = [_stratum(v, counts) for v in frame[col]]
    text_of = [same_text_key(str(t)) for t in frame["text"]]
    first: dict[str, int] = {}  # each text's first row, in order of appearance
    for i, text in enumerate(text_of):
        first.setdefault(text, i)
    heads = list(first.values())
    keys = [row_keys[i] for i in heads]
    n = len(heads)
    n_test, n_val = (round(n * test_size), round(n * validation_size)) if n >= 10 else (0, 0)
    if n_test == 0 or n_val == 0:  # too few rows for one of the shares (train_test_split refuses a size of 0)
        return {"train": frame}, False
    n_train = n - n_test - n_val
    if n_train < 1:  # --test-size 0.95: a ValueError from scikit-learn, exit 1
        raise PublishError(
            f"a test share of {test_size} and a validation share of {validation_size} leave none of the {n} texts "
            "to train on; pass a smaller --test-size (Python: test_size=)."
        )
    per_key = Counter(keys)
    # every split holds each stratum at least once (a train split of 1 row and 3 labels was a ValueError, exit 1)
    stratified = min(per_key.values()) >= 3 and min(n_test, n_val, n_train) >= len(per_key)
    idx = list(range(n))
    rest, test = train_test_split(idx, test_size=n_test, random_state=seed, stratify=keys if stratified else None)
    rest_keys = [keys[i] for i in rest]
    train, val = train_test_split(rest, test_size=n_val, random_state=seed, stratify=rest_keys if stratified else None)
    side = {
        text_of[heads[j]]: name for name, part in (("train", train), ("validation", val), ("test", test)) for j in part
    }
    parts: dict[str, list[int]] = {"train": [], "validation": [], "test": []}
    for i, text in enumerate(text_of):  # each row goes where its text's first row went, in file order
        parts[side[text]].append(i)
    return {name: frame.iloc[ix].reset_index(drop=True) for name, ix in parts.items()}, stratified


def build_dataset(
    source: str | os.PathLike[str] | pd.DataFrame,
    spec: TaskSpec | str | os.PathLike[str],
    *,
    seed: int = 42,
    validation_size: float = 0.1,
    test_size: float = 0.1,
    gold: str | None = None,
) -> tuple[Any, dict[str, Any]]:
    """A typed ``DatasetDict`` (train/validation/test) from annotate output, and the facts the card states;
    ``gold``: the experts' column, published typed as the labels are."""
    from datasets import DatasetDict

    spec = load_spec(spec)
    frame, n_input, n_failed = load_annotated(source, spec, gold)
    features = dataset_features(frame, spec, gold)
    splits, stratified = split_frame(frame, spec, seed=seed, validation_size=validation_size, test_size=test_size)
    dd = DatasetDict({name: _split_dataset(part, features, gold) for name, part in splits.items()})
    facts = {"n_input": n_input, "n_failed": n_failed, "stratified": stratified, "seed": seed, "frame": frame}
    facts["splits"] = splits
    return dd, facts


def release_arrow_memory() -> None:
    """Hand the memory Arrow has freed back to the system. Its allocator keeps freed pages for Arrow's own later
    allocations, but what follows the written splits (the card's figures) allocates Python objects and numpy
    arrays: without this, dropping the splits' tables left the process as large as before."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def _lean(array: Any) -> Any:
    """``array`` without the validity bitmaps of its parts that hold no null (``take`` and ``cast`` allocate them,
    ``pyarrow.array`` does not): the card's ``num_bytes`` (the table's ``nbytes``) counts them."""
    import pyarrow as pa

    kind = array.type
    if array.offset:
        return array
    own = array.buffers()[: kind.num_buffers]
    if array.null_count == 0:
        own[0] = None
    children = None
    if pa.types.is_struct(kind):
        children = [_lean(array.field(i)) for i in range(kind.num_fields)]
    elif pa.types.is_list(kind):
        children = [_lean(array.values)]
    return pa.Array.from_buffers(kind, len(array), own, null_count=array.null_count, children=children)


def _label_codes(cells: list[Any], feature: Any) -> Any:
    """An experts' column (:func:`_expert_cells`) as the Arrow array of its ``ClassLabel`` feature (or list of them),
    made column-wise by Arrow: each name's index, null where the experts gave none. ``Features.encode_column`` made
    one Python int (a list of them per multi-label row) per cell, the peak of a 1M-row publish."""
    import pyarrow as pa
    import pyarrow.compute as pc

    multi = not hasattr(feature, "names")
    names = pa.array(feature.feature.names if multi else feature.names, pa.string())
    if not multi:
        return pc.index_in(pa.array(cells, pa.string()), value_set=names).cast(pa.int64())
    lists = pa.array(cells, pa.list_(pa.string()))
    return _relist(lists, pc.index_in(lists.values, value_set=names).cast(pa.int64()))


def _split_dataset(part: pd.DataFrame, features: Any, gold: str | None = None) -> Any:
    """One split as a typed ``Dataset``: its columns made as ``Dataset.from_dict`` makes them, the votes of an Arrow
    ``votes`` column cast to their feature's type (the same table, without a Python copy of every vote), and the
    experts' column ``gold`` made by Arrow (:func:`_label_codes`)."""
    from datasets import Dataset, DatasetInfo, Features
    from datasets.fingerprint import generate_random_fingerprint
    from datasets.table import InMemoryTable

    arrow: dict[str, Any] = {}  # the columns made as Arrow arrays
    votes = arrow_votes(part["votes"]) if "votes" in part.columns else None
    if votes is not None:
        arrow["votes"] = votes.combine_chunks() if votes.num_chunks != 1 else votes.chunk(0)
    if gold is not None:
        arrow[gold] = _label_codes(part[gold].tolist(), features[gold])
    if not arrow:
        return Dataset.from_dict({c: part[c].tolist() for c in features}, features=features)
    import pyarrow as pa

    rest = Features({c: f for c, f in features.items() if c not in arrow})
    try:  # datasets' own typing of a column, internal to it: its public from_dict below if a release moves it
        from datasets.arrow_writer import OptimizedTypedSequence
    except ImportError:  # datasets 5.1 to 5.2 have it (a test hides it)
        table = Dataset.from_dict({c: part[c].tolist() for c in rest}, features=rest).data.table
    else:
        # each column as Dataset.from_dict types it, without the Dataset it makes: that one hashes its table for a
        # fingerprint, serialising a copy of it (+270 MB for the train split of 1M texts)
        table = InMemoryTable.from_pydict(
            {
                c: OptimizedTypedSequence(rest.encode_column(part[c].tolist(), c), type=f, col=c)
                for c, f in rest.items()
            }
        ).table
    for at, name in enumerate(features):  # in the features' order: each one before it is in the table already
        if name in arrow:
            typed = features.arrow_schema.field(name).type
            table = table.add_column(at, pa.field(name, typed), [_lean(arrow.pop(name).cast(typed))])
    # a fingerprint given: hashing the table to make one serialised a copy of it (written nowhere, and the split's
    # cache is never saved)
    return Dataset(
        InMemoryTable(table), info=DatasetInfo(features=features), fingerprint=generate_random_fingerprint()
    )


def with_flag_gold(
    source: str | os.PathLike[str] | pd.DataFrame, spec: TaskSpec, gold: str | None
) -> tuple[str | os.PathLike[str] | pd.DataFrame, str | None]:
    """``source`` and its experts' column: ``--gold`` naming one of a multi-label file's true/false label columns (or
    ``labels`` where it has none) reads them all as one list column, ``gold``, as ``run``, ``agree`` and
    ``evaluate`` do (:func:`sxhub.labelled.gold_from_flag_columns`)."""
    if gold is None or not spec.multi_label:
        return source, gold
    frame = source if isinstance(source, pd.DataFrame) else read_labelled(source)
    if not has_flag_columns(frame, spec.label_names, spec.multi_label):
        return source, gold
    return gold_from_flag_columns(frame, spec.label_names, spec.multi_label, gold, taken=[spec.label_column])
