"""Reading labelled data: the labels a table holds, as ``train``, ``agree``, ``evaluate``, ``review``, ``publish``
and the cards read them.

One label cell (:func:`parse_label_cell`, :func:`expert_label_cell`: a name, a list, a cell nobody labelled), names
written in another case than the task's (:func:`as_task_names`), one true/false column per label
(:func:`with_flag_labels`, :func:`gold_from_flag_columns`), and a whole file as :class:`LabelledData`
(:func:`load_labelled`). Reading the texts (the table, its text column and cells, their cleaning) is
:mod:`sxhub.data`'s stage; this module builds on it, and it does not import this one.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from .data import (
    apply_preprocessing,
    check_text_not_labels,
    check_text_values,
    find_column,
    find_text_column,
    is_missing_text,
    read_table,
    text_cells,
    with_column_named,
)
from .errors import InputError


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""


def expert_label_cell(value: Any, *, multi_label: bool, inferred: bool = False) -> list[str] | str | None:
    """An expert column's cell, None where the experts gave no label: an empty cell (None, NaN, blank) means not
    labelled, for a multi-label task too, where no label at all is written ``[]`` (or one false per label); so does
    the word a missing value prints as (``nan``, ``<NA>``, ``NaT``), and, where the label names are ``inferred``
    from the cells (no task or model names them), any word that writes a missing value (:data:`NA_LABEL_WORDS`). The
    expert figures of the cards, the run report and ``evaluate`` leave such rows out alike."""
    if hasattr(value, "tolist") and not isinstance(value, str):  # a numpy array (Parquet lists) or scalar
        value = value.tolist()
    if isinstance(value, (list, tuple, dict)):
        return parse_label_cell(value, multi_label=multi_label)
    if pd.isna(value) or (isinstance(value, str) and value.strip().lower() in MISSING_LABEL_STRINGS):
        return None
    if inferred and is_na_word(value):
        return None
    return parse_label_cell(value, multi_label=multi_label)


# what a missing value prints as (pandas, numpy) and no task names a label: a cell that reads so was never labelled
MISSING_LABEL_STRINGS = frozenset({"", "nan", "<na>", "nat"})
# the words pandas' read_csv takes for a missing value by default (its na_values, in any case): R's write.csv writes
# NA, spreadsheets #N/A, database exports NULL. sxhub reads CSV cells as written, since a task may name a label
# "None" or "NA"; where no task names the labels and they are read off the cells, such a cell is a row nobody
# labelled (left out and counted, as an empty one), never a label called "NA"
NA_LABEL_WORDS = frozenset(
    {"", "#n/a", "#n/a n/a", "#na", "-1.#ind", "-1.#qnan", "-nan", "1.#ind", "1.#qnan", "<na>", "n/a", "na", "nan"}
    | {"none", "null", "nat"}
)


def is_na_word(value: Any) -> bool:
    """Whether a cell is a string that writes a missing value (:data:`NA_LABEL_WORDS`: ``NA``, ``N/A``, ``null``,
    ``None``, ``#N/A``, ...)."""
    return isinstance(value, str) and value.strip().lower() in NA_LABEL_WORDS


def na_words_as_empty(cells: pd.Series) -> pd.Series:
    """``cells`` with each one that writes a missing value (:func:`is_na_word`) as None: for label columns whose
    names are read off the cells."""
    return pd.Series([None if is_na_word(v) else v for v in cells.tolist()], index=cells.index, dtype=object)


def _as_named(labels: list[Any], names: list[str], *, multi_label: bool) -> tuple[list[Any], list[str]]:
    """``labels`` with each name written in another case or spacing than one of ``names`` (``Joy``, ``neutral ``)
    replaced by that name, as teachers' answers are matched (:func:`sxhub.spec.label_key`); and the names now seen.
    A file written by hand or another tool was refused for ``Joy`` in a task of ``joy``."""
    from .spec import label_key, rejoin_comma_names

    # each cell becomes the task's own name object: read from a file, every row's label was a str of its own
    # (990,000 of them for 3 names in a 1M-row file, 60 MB)
    exact = {n: n for n in names}
    by_key = {label_key(n): n for n in names}

    def named(label: str) -> str:
        found = exact.get(label)
        return found if found is not None else by_key.get(label_key(label), label)

    if multi_label:
        labels = [[named(lab) for lab in rejoin_comma_names(list(row), names)] for row in labels]
        seen = {lab for row in labels for lab in row}
    else:
        labels = [named(lab) for lab in labels]
        seen = set(labels)
    return labels, sorted(seen)


def as_task_names(cells: pd.Series, names: Sequence[str], *, multi_label: bool) -> pd.Series:
    """A label column with each name written in another case or spacing than one of the task's ``names`` (``Joy``,
    ``neutral ``) replaced by that name (:func:`_as_named`), as ``train`` and ``evaluate`` read it; a cell with no
    label (:func:`expert_label_cell`) is left as it is, and a name no label matches is left for the caller to refuse."""
    out = cells.tolist()
    parsed = [expert_label_cell(cell, multi_label=multi_label) for cell in out]
    labelled = [i for i, cell in enumerate(parsed) if cell is not None]
    named = _as_named([parsed[i] for i in labelled], list(names), multi_label=multi_label)[0]
    for i, cell in zip(labelled, named, strict=True):
        out[i] = cell
    return pd.Series(out, index=cells.index, dtype=object)


def parse_label_cell(value: Any, *, multi_label: bool) -> list[str] | str | None:
    """One label cell: a name (single-label), or a list / JSON list / comma-separated names (multi-label)."""
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
    if _is_missing(value):
        return [] if multi_label else None
    if multi_label:
        if isinstance(value, str):
            s = value.strip()
            value = _list_cell(s) if s.startswith("[") else [part.strip() for part in s.split(",") if part.strip()]
        if not isinstance(value, (list, tuple)):
            value = [value]
        return [str(v).strip() for v in value]
    if isinstance(value, str) and value.strip().startswith("["):  # a CSV's list cell: not a label name
        try:
            decoded = json.loads(value)
        except json.JSONDecodeError:
            decoded = None
        if isinstance(decoded, list):
            value = decoded
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise InputError(
                f"label cell {value!r} holds {len(value)} labels; a single-label task needs one per text: keep one, "
                "or make the task multi-label (a 'labels' column, multi_label: true)."
            )
        value = value[0]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _list_cell(cell: str) -> Any:
    """A labels cell written as a list: JSON (``["joy", "anger"]``), or Python's own repr of a list, which pandas'
    ``to_csv`` writes for list cells (``['joy', 'anger']``) and which was refused as "not a JSON list"."""
    try:
        return json.loads(cell)
    except json.JSONDecodeError as exc:
        import ast

        try:
            value = ast.literal_eval(cell)  # literals only: no names, no calls
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            value = None
        if isinstance(value, (list, tuple)) and all(isinstance(v, (str, int)) for v in value):
            return list(value)
        raise InputError(
            f"labels cell {cell[:60]!r} is not a JSON list of names; close its brackets and quotes, as in "
            '["joy", "anger"], or write the names comma-separated (joy, anger).'
        ) from exc


@dataclass
class LabelledData:
    texts: list[str]
    labels: list[Any]  # str per row (single-label) or list[str] per row (multi-label)
    label_names: list[str]
    multi_label: bool
    frame: pd.DataFrame
    n_failed: int = 0
    n_flagged_twins: int = 0  # twins that failed a check (ok false in a sxhub twins file): left out
    label_column: str = "label"
    n_empty_text: int = 0  # rows left out because their text was empty or missing (NaN, None)
    n_no_label: int = 0  # rows left out because their label cell was empty (missing, NaN, blank)
    n_low_agreement: int = 0  # rows left out by a minimum agreement (sxhub.targets.keep_agreed)
    min_agreement: float | None = None  # that minimum, when one was applied
    # train --validation: the last n_validation rows are the validation file's, never trained on
    # (sxhub.targets.with_validation); n_in_validation training rows were left out as their text is among them
    n_validation: int = 0
    n_in_validation: int = 0
    n_validation_dropped: int = 0  # the validation file's rows that were failed, without a text or without a label
    # read with read_votes=False: the file, and each training row's position in it (the validation file's rows,
    # appended by with_validation, have none), from which label_teachers streams the votes left unread
    source: str | None = None
    source_rows: np.ndarray | None = None

    def multi_hot(self) -> list[list[int]]:
        index = {n: i for i, n in enumerate(self.label_names)}
        rows = []
        for labs in self.labels:
            row = [0] * len(self.label_names)
            for lab in labs:
                row[index[lab]] = 1
            rows.append(row)
        return rows

    def label_ids(self) -> list[int]:
        index = {n: i for i, n in enumerate(self.label_names)}
        return [index[lab] for lab in self.labels]


def preprocessed(data: LabelledData, preprocessing: Mapping[str, Any]) -> LabelledData:
    """``data`` with every text cleaned by the ``preprocessing`` block a model is saved with, as ``predict``, the
    Space and the card's snippet will clean the texts it is given: training on the raw texts of a file that did not
    come through ``sxhub annotate`` (whose texts are cleaned already) would teach the model ``@BurgerKing`` and then
    serve it ``@user``. The steps are idempotent, so cleaned texts pass through unchanged."""
    if not preprocessing.get("steps") and not preprocessing.get("strip"):
        return data
    # a text cleaning leaves as it was (all of annotate's, cleaned already) is kept, not its equal copy: the
    # whitespace step rebuilt every text with a space, a second copy of a whole file's texts (120 MB at 1M rows)
    texts = []
    for text in data.texts:
        cleaned = apply_preprocessing(text, preprocessing)
        texts.append(text if cleaned == text else cleaned)
    return replace(data, texts=texts)


TRUE_CELLS = frozenset({"1", "true", "yes", "1.0"})
# off, and what an empty cell reads as (blank, NaN, None): a label not given, as before
FALSE_CELLS = frozenset({"0", "false", "no", "0.0", "", "nan", "none", "<na>"})


def failed_flags(cells: pd.Series) -> pd.Series:
    """A ``failed`` column as booleans: true/false in the spellings of :data:`TRUE_CELLS` and :data:`FALSE_CELLS`
    (``True``/``False``, ``yes``/``no``, ``1``/``0``, ``1.0``/``0.0``, bools from Parquet), an empty cell not failed.
    Only ``true`` and ``1`` were read as failed: a file whose ``failed`` column says ``yes`` (a spreadsheet, another
    tool) had its failed rows read as labelled. Any other cell (``maybe``, ``2``) is refused in one line."""
    words = cells.map(lambda v: str(v).strip().lower())
    unread = ~(words.isin(TRUE_CELLS) | words.isin(FALSE_CELLS))
    if unread.any():
        first = int(unread.to_numpy().argmax())
        raise InputError(
            f"column 'failed' holds {str(cells.iloc[first]).strip()!r} in row {first + 1} ({int(unread.sum())} such "
            "cell(s)); it says whether every teacher failed on the row: write true or false (yes/no, 1/0) there, "
            "or drop the column."
        )
    return words.isin(TRUE_CELLS)


TWIN_CHECK_COLUMNS = ("original", "leaked", "flags", "ok")  # what sxhub twins writes beside each twin


def flagged_twins(df: pd.DataFrame, *, with_failed: bool = False) -> pd.Series:
    """The rows of a ``sxhub twins`` file whose twin failed a check (``ok`` false; a failed row is not counted,
    unless ``with_failed``: the reader keeps failed rows, as generate's seed examples do): all false for any other
    file. Such a twin may still name someone of its original (``leaked``), or carry a label it lost, so every verb
    that reads labelled rows (train, tune, agree, evaluate, doubts, review, publish dataset, generate's seed examples)
    leaves them out, whichever column it reads the labels from, and says how many (:func:`flagged_twins_line`)."""
    if not all(c in df.columns for c in TWIN_CHECK_COLUMNS):
        return pd.Series(False, index=df.index)
    ok = df["ok"].map(lambda v: str(v).strip().lower() in TRUE_CELLS)
    if with_failed or "failed" not in df.columns:
        return ~ok
    return ~ok & ~failed_flags(df["failed"])


def flagged_twins_line(verb: str, n: int, where: str = "") -> str:
    """The one line a verb says of the ``n`` twins it left out (:func:`flagged_twins`)."""
    return f"{verb}: {n} twin(s) that failed a check of sxhub twins (ok false; see 'flags') left out{where}"


def labels_from_flag_columns(df: pd.DataFrame, label_names: Sequence[str]) -> list[list[str]]:
    """Multi-label rows from one 0/1 (or true/false, yes/no) column per label, as the 4P tweets come. A cell that
    is neither (``2``, a rater count; ``0.7``, a probability; ``x``) is refused: it was read as off, and the
    labels and every score on them were wrong without a word."""
    cells = df[list(label_names)].astype(str).apply(lambda c: c.str.strip().str.lower())
    unread = ~(cells.isin(TRUE_CELLS) | cells.isin(FALSE_CELLS))
    if unread.to_numpy().any():
        name = next(n for n in label_names if unread[n].any())
        value = str(df[name][unread[name]].iloc[0]).strip()
        n_bad = int(unread.to_numpy().sum())
        raise InputError(
            f"label column {name!r} holds {value!r} ({n_bad} such cell(s) in the label columns), but a column per "
            "label holds 1 or 0 (true/false, yes/no); write 1 where the label applies and 0 where not."
        )
    flags = cells.isin(TRUE_CELLS)
    return [[n for n, on in zip(label_names, row, strict=True) if on] for row in flags.itertuples(index=False)]


def missing_flag_columns_hint(df: pd.DataFrame, label_names: Sequence[str] | None, multi_label: bool | None) -> str:
    """For the error on a file with no label column: where it holds one true/false column for most of a
    multi-label task's labels but not for all, the ones it lacks (among 28 labels, the error's list of columns,
    cut at 20, did not show which); else ''."""
    from .spec import label_key

    names = list(label_names or ())
    have = [n for n in names if n in df.columns]
    lacking = [n for n in names if n not in df.columns]
    # a column written in another case or spacing ('Anger ' for anger) was told to be added: a second column of 0s
    # beside it would have trained and scored that label as never on
    by_key = {label_key(str(c)): str(c) for c in df.columns if c not in names}
    renames = {by_key[label_key(n)]: n for n in lacking if label_key(n) in by_key}
    if not multi_label or len(have) + len(renames) < 2 or (len(have) + len(renames)) * 2 < len(names) or not lacking:
        return ""
    hint = f" The file has one true/false column for {len(have) + len(renames)} of the task's {len(names)} labels"
    if renames:
        shown = ", ".join(f"{c!r} to {n!r}" for c, n in list(renames.items())[:10])
        hint += f", {len(renames)} of them named in another case or spacing: rename {shown}"
    missing = [n for n in lacking if n not in renames.values()]
    if missing:
        hint += (
            f"{';' if renames else ','} but none for {missing[:10]}: add {'it' if len(missing) == 1 else 'them'} "
            "(0 where the label never applies)"
        )
    return hint + "."


def with_flag_labels(
    df: pd.DataFrame, label_names: Sequence[str] | None, multi_label: bool | None, *, column: str = "labels"
) -> pd.DataFrame:
    """``df`` with ``column`` built from one true/false column per label (which it replaces), when the task is
    multi-label and ``df`` has no ``label``/``labels`` column but one column per label; else ``df`` itself. Every
    command that reads labelled data reads this layout the way ``train`` does."""
    names = list(label_names or ())
    if {"label", "labels", column} & set(df.columns) or not has_flag_columns(df, names, multi_label):
        return df
    out = df.drop(columns=names)
    out[column] = labels_from_flag_columns(df, names)
    return out


def has_flag_columns(df: pd.DataFrame, label_names: Sequence[str] | None, multi_label: bool | None) -> bool:
    """Whether ``df`` holds a multi-label task's labels as one true/false column per label (the 4P tweets' and
    GoEmotions' layout)."""
    names = list(label_names or ())
    return bool(multi_label and names and all(n in df.columns for n in names))


def gold_from_flag_columns(
    df: pd.DataFrame,
    label_names: Sequence[str] | None,
    multi_label: bool | None,
    gold: str,
    *,
    taken: Sequence[str] = (),
) -> tuple[pd.DataFrame, str]:
    """``df`` and the name of its experts' column, for ``--gold`` on a file whose experts' labels are one
    true/false column per label: ``gold`` naming one of those columns, or ``labels`` when the file has none, asks
    for all of them. They become one list column, ``gold`` (or ``expert``, ``gold_2``, ...: the first name neither
    in ``df`` nor in ``taken``), and replace the flag columns. Otherwise ``df`` and ``gold`` unchanged: a single
    true/false column scored as the experts' label set would turn every text's labels into "1" or "0"."""
    names = list(label_names or ())
    if not has_flag_columns(df, names, multi_label) or not _names_flags(df, names, gold):
        return df, gold
    reserved = {*df.columns, *taken}
    target = next(
        c for c in itertools.chain(("gold", "expert"), (f"gold_{i}" for i in itertools.count(2))) if c not in reserved
    )
    out = df.drop(columns=names)
    out[target] = labels_from_flag_columns(df, names)
    return out, target


def _names_flags(df: pd.DataFrame, label_names: Sequence[str], column: str) -> bool:
    """Whether ``column``, asked for as the labels of a file laid out as one true/false column per label, means
    all of those columns: it is one of them, or ``labels`` where the file has no such column."""
    return column in label_names or (column == "labels" and column not in df.columns)


def load_labelled(
    source: str | os.PathLike[str] | pd.DataFrame,
    *,
    label_names: Sequence[str] | None = None,
    multi_label: bool | None = None,
    label_column: str | None = None,
    text_column: str | None = None,
    limit: int | None = None,
    label_option: str | None = "--label-column (Python: label_column=)",
    labels_of: Literal["task", "model"] = "task",
    read_votes: bool = True,
) -> LabelledData:
    """Read any table with a text column and ``label`` (or ``labels``) column; rows the teachers failed on are
    left out when the labels read are theirs (``label``/``labels``), not when they are another column's.

    ``label_column`` picks another column (e.g. an expert ``gold`` column). For multi-label data with one 0/1
    (or true/false) column per label, pass ``label_names`` and ``multi_label=True`` and leave out ``labels``.
    ``label_option`` is the caller's option that sets ``label_column``, named in the error when no label column is
    found (None: the caller has none, and the error says to add a column). ``labels_of`` says whose labels
    ``label_names`` are (a task's, or the ``model``'s that ``evaluate`` scores), named in the error for a label
    outside them.
    Rows without a text (empty, NaN, None: :func:`is_missing_text`) are left out and counted in ``n_empty_text``.
    ``read_votes=False`` leaves a file's ``votes`` column unread (``train`` without ``--soft-labels``): it is most
    of an annotated file (a 1M-row file took 2.7 GB to read with it), and the teachers it names are read from the
    file in a streamed pass (:func:`sxhub.run_record.label_teachers`, through ``source`` and ``source_rows``).
    """
    from .stream import is_hub_source

    # a Hub dataset is streamed: its votes are read with it rather than streamed a second time
    from_file = not isinstance(source, pd.DataFrame) and not read_votes and not is_hub_source(str(source))
    if isinstance(source, pd.DataFrame):
        df = source
    else:
        needed = {text_column, label_column}
        usecols = None if not from_file else (lambda name: name != "votes" or name in needed)
        df = read_table(source, limit=limit, usecols=usecols)
    positions = np.arange(len(df))  # each row's position in the file, through the rows left out below
    tcol = find_text_column(df, text_column)
    check_text_values(df, tcol)  # ids or scores (--text-column idx): refused as predict refuses them
    col = label_column
    n_no_label = 0
    names = list(label_names or ())
    if col is not None and has_flag_columns(df, names, multi_label) and _names_flags(df, names, col):
        col = None  # one of the label columns (or ``labels`` where there is none): read them all, as below
    elif col is None:
        df = with_column_named(df, "labels", "label", text_column=tcol)  # a Kaggle "Text,Label" file's too
        if multi_label is not False and "labels" in df.columns:
            col = "labels"
        elif "label" in df.columns:
            col = "label"
        elif multi_label and label_names and all(n in df.columns for n in label_names):
            col = None  # one boolean column per label
        elif "labels" in df.columns:
            col = "labels"
        else:
            how = f"add one or name it with {label_option}" if label_option else "add one (rename the column)"
            raise InputError(
                f"no 'label' or 'labels' column in columns {list(df.columns)[:20]}; {how}."
                + missing_flag_columns_hint(df, names, multi_label)
            )
    elif (found := find_column(df.columns, col)) is not None:
        col = found  # "--gold expert" reads "Expert"
    else:
        fix = f"; pass {label_option} with one of them" if label_option else ""
        raise InputError(
            f"label column {col!r} not found; the file has columns {list(df.columns)[:20]}{fix}."
            + missing_flag_columns_hint(df, names, multi_label)
        )
    check_text_not_labels(tcol, col, label_option)
    # a failed row has no teacher label; another column (the experts' gold, --label-column expert) still holds one
    teachers = col in ("label", "labels")
    failed = failed_flags(df["failed"]) if teachers and "failed" in df.columns else pd.Series(False, index=df.index)
    # a twin that failed a check may keep a name of its original or carry a label it lost, whichever column is read:
    # left out and counted (evaluate --gold expert scored them, tune --label-column expert learned them); where
    # failed rows are kept (another column), a failed twin is counted among them
    flagged = flagged_twins(df, with_failed=not teachers)
    n_failed, n_flagged_twins = int(failed.sum()), int(flagged.sum())
    if n_failed or n_flagged_twins:
        df = df[~(failed | flagged)].reset_index(drop=True)
        positions = positions[~(failed | flagged).to_numpy()]
    if df[tcol].dtype == object:  # bytes decoded; a list or an object refused (not the column of texts)
        df = df.assign(**{tcol: text_cells(df[tcol], tcol)})
    no_text = df[tcol].map(is_missing_text).astype(bool)  # an empty frame (every row failed) maps to object dtype
    n_empty_text = int(no_text.sum())
    df = df[~no_text].reset_index(drop=True)
    positions = positions[~no_text.to_numpy()]
    if col is None:
        assert label_names is not None
        labels: list[Any] = labels_from_flag_columns(df, label_names)
        is_multi = True
    else:
        if multi_label is None:
            # the first 200 filled cells: a file sorted with its unlabelled rows first read as single-label
            sample = list(itertools.islice((v for v in df[col].tolist() if not is_missing_text(v)), 200))
            is_multi = col == "labels" or any(isinstance(v, (list, tuple)) or hasattr(v, "tolist") for v in sample)
        else:
            is_multi = multi_label
        # an empty cell is a row nobody labelled, multi-label too (no label at all is written [] there), as the
        # cards, agree and the run report read it (expert_label_cell); it used to train as "none of the labels".
        # Without label names, "NA", "null" or "None" is such a cell too, not a label of that name
        inferred = label_names is None
        labels = [expert_label_cell(v, multi_label=is_multi, inferred=inferred) for v in df[col].tolist()]
        keep = [lab is not None for lab in labels]
        n_no_label = len(keep) - sum(keep)
        if not all(keep):
            df = df[keep].reset_index(drop=True)
            positions = positions[np.asarray(keep, dtype=bool)]
            labels = [lab for lab in labels if lab is not None]
    if len(df) == 0:
        # the teachers' column empty: annotating again fills it; another column (the experts' --gold) is not theirs
        fix = "annotate again or fix the file"
        if col not in (None, "label", "labels") and n_no_label:
            fix = f"column {col!r} has no label in any row with a text: fill it with the experts' labels" + (
                f", or pass {label_option} with the column that holds them" if label_option else ""
            )
        raise InputError(
            f"no labelled rows left ({n_failed} failed, "
            + (f"{n_flagged_twins} twins that failed a check (ok false), " if n_flagged_twins else "")
            + f"{n_empty_text} without a text, the rest without a label); {fix}."
        )
    seen = sorted({lab for row in labels for lab in (row if is_multi else [row])})
    if label_names is None:
        names = seen
    else:
        names = list(label_names)
        labels, seen = _as_named(labels, names, multi_label=is_multi)
        unknown = sorted(set(seen) - set(names))
        if unknown and all(u.lstrip("-").isdigit() for u in unknown):
            # label ids (a file written from a ClassLabel column or a numpy array): which id is which label is not
            # in the file, so they are not guessed; the error shows the task's order, the usual id order
            order = ", ".join(f"{i} = {n}" for i, n in enumerate(names[:10])) + (", ..." if len(names) > 10 else "")
            raise InputError(
                f"label(s) {unknown[:10]} in column {col or 'labels'!r} are numbers, not in the {labels_of}'s labels "
                f"{names}; write each row's label name instead (if they are ids in the {labels_of}'s order: {order}), "
                "or save the data with datasets as Parquet (Dataset.to_parquet keeps a ClassLabel column's names; "
                "to_csv and to_json write the ids only)."
            )
        if unknown:
            raise InputError(
                f"label(s) {unknown[:10]} in column {col or 'labels'!r} are not in the {labels_of}'s labels {names}; "
                + (
                    "fix the data or the spec."
                    if labels_of == "task"
                    else f"name the experts' column of these labels with {label_option}, or evaluate a model trained "
                    "on the data's labels."
                )
            )
    texts = df[tcol].map(str).tolist()
    return LabelledData(
        texts=texts,
        labels=labels,
        label_names=names,
        multi_label=is_multi,
        frame=df,
        n_failed=n_failed,
        n_flagged_twins=n_flagged_twins,
        label_column=col or f"the {len(label_names or ())} true/false label columns",
        n_empty_text=n_empty_text,
        n_no_label=n_no_label,
        source=str(source) if from_file else None,
        source_rows=positions if from_file else None,
    )
