"""Reading and writing tables, preprocessing texts, and reading labelled data.

Inputs are CSV, TSV, JSONL/JSON, Parquet, or a Hub dataset id; outputs are chosen by the file's extension. In CSV
files, list and dict cells (``labels``, ``votes``, ``agreement``) are JSON-encoded so that they read back intact.
The file formats live in :mod:`sxhub.tables` (``write_table`` is re-exported here), reading in chunks, slices and
Hub datasets in :mod:`sxhub.stream`; this module builds on both and neither imports it.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from .errors import InputError
from .stream import RowSlice, is_hub_source, iter_table
from .tables import plain_json, read_file
from .tables import write_table as write_table  # re-exported: sxhub.data.write_table is public

TEXT_COLUMN_GUESSES = ("text", "sentence", "content", "tweet", "body", "document")
MAX_CHARS = 20_000  # a longer "text" is almost always a broken file (a whole document in one cell)


# --------------------------------------------------------------------------------------------------------------
# reading tables: a whole file, a slice or a Hub dataset (writing: sxhub.tables.write_table)
# --------------------------------------------------------------------------------------------------------------
def read_table(
    source: str | os.PathLike[str],
    *,
    limit: int | None = None,
    split: str = "train",
    rows: Any = None,
) -> pd.DataFrame:
    """Read a CSV/TSV/JSONL/JSON/Parquet file, or a Hub dataset id (``user/name`` or ``user/name:split``).

    ``rows`` picks a slice (offset, limit, shard; :class:`RowSlice`), read in chunks so that only the slice is held;
    a Hub dataset is always streamed (``datasets`` streaming), never downloaded whole.
    """
    text = str(source)
    if (rows is not None and not rows.is_all) or is_hub_source(text):
        rows = rows or RowSlice()
        limits = [n for n in (limit, rows.limit) if n is not None]
        rows = replace(rows, limit=min(limits) if limits else None)
        chunks = list(iter_table(text, rows=rows, split=split, decode_json=True))
        if not chunks:
            raise InputError(f"input {text!r} has no rows{' in ' + rows.describe() if not rows.is_all else ''}.")
        return pd.concat(chunks).reset_index(drop=True)
    return read_file(text, limit=limit)


def find_text_column(df: pd.DataFrame, text_column: str | None = None) -> str:
    """The text column: the one asked for, else ``text`` or a usual synonym (any case)."""
    if text_column:
        if text_column not in df.columns:
            raise InputError(
                f"text column {text_column!r} not found; the input has columns {list(df.columns)[:20]}; "
                "pass --text-column with one of them."
            )
        return text_column
    lower = {str(c).lower(): c for c in df.columns}
    for guess in TEXT_COLUMN_GUESSES:
        if guess in lower:
            return str(lower[guess])
    raise InputError(f"no text column found in columns {list(df.columns)[:20]}; pass --text-column NAME.")


# --------------------------------------------------------------------------------------------------------------
# preprocessing
# --------------------------------------------------------------------------------------------------------------
URL_RE = re.compile(r"(?i)\b(?:https?://|www\.)[^\s<>\"']+")
# Every run bounded by the RFC 5321/1035 limits (local part <= 64 characters, a domain label <= 63, at most 127 labels
# in 253 characters): with open-ended runs each start inside a long run of word characters and dots rescanned it to
# its end, so 40,000 characters of "a.a.a." took 3-5 s to clean (one crafted paste could hold a Space's worker).
# Bounded, cleaning is linear; on the 397,800 text cells of ../shared/data's CSV files it masks exactly what the
# open pattern did (bench/clean.py, bench/results/clean.md).
EMAIL_RE = re.compile(r"(?i)\b[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,126}\b")
HANDLE_RE = re.compile(r"(?<![\w@])@\w{1,30}\b")
PHONE_RE = re.compile(r"(?<!\w)(?:\+?\d[\d()./ -]{7,}\d)(?!\w)")
_WS_RE = re.compile(r"\s+")

# The rules as data: saved with every trained model (``sxhub.json`` ``preprocessing``, ``config.json``
# ``sxhub_preprocessing``) and applied from there by ``predict``, the Space and the model card's snippet, so the
# texts a model sees after training are cleaned exactly as its training texts were. A step replaces each match of
# ``pattern`` (flags inline) with ``replacement``, only when the match has at least ``min_digits`` digits.
PII_STEPS: tuple[dict[str, Any], ...] = (
    {"name": "url", "pattern": URL_RE.pattern, "replacement": "URL"},
    {"name": "email", "pattern": EMAIL_RE.pattern, "replacement": "EMAIL"},
    {"name": "handle", "pattern": HANDLE_RE.pattern, "replacement": "@user"},
    {"name": "phone", "pattern": PHONE_RE.pattern, "replacement": "PHONE", "min_digits": 9},
)
WHITESPACE_STEP: dict[str, Any] = {"name": "whitespace", "pattern": _WS_RE.pattern, "replacement": " "}
# 2: whitespace is normalised first, so that cleaning is idempotent ("555\n123\n4567" was left alone, then
# normalised to "555 123 4567", which a second pass (train cleans annotate's output again) masked as PHONE)
# 3: the e-mail pattern's runs are bounded (above); a model saved with version 2 keeps and applies its own pattern
PREPROCESSING_VERSION = 3


def preprocessing_config(enabled: bool, *, max_length: int | None = None) -> dict[str, Any]:
    """The preprocessing block saved with a model: the replacement steps, ``strip``, and ``max_length`` (tokens).

    ``enabled=False`` (a task with ``preprocess: false``) saves no steps: texts reach the tokenizer as given.
    """
    steps = [dict(step) for step in (WHITESPACE_STEP, *PII_STEPS)] if enabled else []
    block: dict[str, Any] = {"version": PREPROCESSING_VERSION, "steps": steps, "strip": enabled}
    if max_length is not None:
        block["max_length"] = int(max_length)
    return block


def apply_preprocessing(text: str, preprocessing: Mapping[str, Any]) -> str:
    """Apply a saved preprocessing block to one text (the Space and the card's snippet do the same in 6 lines)."""
    for pattern, replacement in _compiled(preprocessing.get("steps") or ()):
        text = pattern.sub(replacement, text)
    return text.strip() if preprocessing.get("strip") else text


def _compiled(steps: Any) -> tuple[tuple[re.Pattern[str], Any], ...]:
    """Each step as a compiled pattern and its replacement: the plain string where the step counts no digits, so the
    substitution stays in C (a Python callback per match cost ``sxhub predict`` 7% of its time on PhraseBank, one
    call per space for the whitespace step), a function where it does. Cached by the steps' content."""
    key = tuple((s["pattern"], s["replacement"], int(s.get("min_digits") or 0)) for s in steps)
    return _compile_steps(key)


@functools.lru_cache(maxsize=32)
def _compile_steps(key: tuple[tuple[str, str, int], ...]) -> tuple[tuple[re.Pattern[str], Any], ...]:
    return tuple((re.compile(pattern), _replacer(replacement, need)) for pattern, replacement, need in key)


def _replacer(replacement: str, need: int) -> Any:
    if not need:  # a literal: backslashes would otherwise start group references in re's template syntax
        return replacement.replace("\\", "\\\\")
    return lambda m: replacement if sum(ch.isdigit() for ch in m[0]) >= need else m[0]


def mask_pii(text: str) -> str:
    """Mask URLs → ``URL``, e-mails → ``EMAIL``, @handles → ``@user``, phone numbers → ``PHONE``."""
    return apply_preprocessing(text, {"steps": PII_STEPS})


def preprocess_text(text: str) -> str:
    """The default preprocessing: PII masked and whitespace normalised."""
    return apply_preprocessing(text, preprocessing_config(True))


@dataclass
class PreparedTexts:
    """Texts ready for a teacher: one row per distinct text, input columns kept as asked."""

    frame: pd.DataFrame  # a ``text`` column first, then the kept columns
    n_input: int
    n_duplicates: int
    n_empty: int
    text_column: str
    kept_columns: list[str] = field(default_factory=list)

    @property
    def texts(self) -> list[str]:
        return self.frame["text"].tolist()


def prepare_texts(
    df: pd.DataFrame,
    *,
    text_column: str | None = None,
    keep_columns: Iterable[str] = (),
    preprocess: bool = True,
    max_chars: int = MAX_CHARS,
    drop_duplicates: bool = True,
) -> PreparedTexts:
    """Pick the text column, check sizes, preprocess, drop empty texts and exact duplicates (both counted)."""
    column = find_text_column(df, text_column)
    keep = [c for c in keep_columns if c != column]
    missing = [c for c in keep if c not in df.columns]
    if missing:
        raise InputError(f"column(s) {missing} to keep are not in the input (columns: {list(df.columns)[:20]}).")
    cells = df[column].map(lambda v: text_cell(v, column)) if df[column].dtype == object else df[column]
    raw = cells.map(lambda v: "" if is_missing_text(v) else str(v))  # NaN is no text, never the word "nan"
    too_long = raw.map(len) > max_chars
    if too_long.any():
        idx = int(too_long.idxmax())
        raise InputError(
            f"row {idx} of column {column!r} has {len(raw[idx]):,} characters (limit {max_chars:,}); split long "
            "documents into passages or raise the limit with --max-chars."
        )
    texts = raw.map(preprocess_text) if preprocess else raw.map(str.strip)
    frame = pd.DataFrame({"text": texts})
    for col in keep:
        frame[col] = df[col].values
    empty = frame["text"] == ""
    n_empty = int(empty.sum())
    frame = frame[~empty]
    n_before = len(frame)
    if drop_duplicates:
        frame = frame.drop_duplicates(subset="text", keep="first")
    if len(frame) == 0:
        raise InputError(f"column {column!r} holds no non-empty text; check --text-column.")
    return PreparedTexts(
        frame=frame.reset_index(drop=True),
        n_input=len(df),
        n_duplicates=n_before - len(frame),
        n_empty=n_empty,
        text_column=column,
        kept_columns=keep,
    )


# --------------------------------------------------------------------------------------------------------------
# labelled data (train / agree / evaluate read this)
# --------------------------------------------------------------------------------------------------------------
def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""


# what a missing value turns into when something calls str() on it (pandas, numpy, Python, JSON)
MISSING_TEXT_STRINGS = frozenset({"nan", "none", "null", "<na>", "nat"})


def text_cell(value: Any, column: str) -> Any:
    """A text column's cell as the text it holds: bytes (a Parquet ``binary`` column) decoded as UTF-8. A list or an
    object (a Parquet list or struct, a JSONL object: not the column of texts) is refused in one line: its Python
    repr, ``"['a', 'b']"``, was labelled, trained on or predicted as if it were a text. Other cells are returned as
    they are (:func:`is_missing_text` reads them next)."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(
                f"column {column!r} holds bytes that are not UTF-8 text ({value[:40]!r}); write the texts as UTF-8 "
                "strings, or pass --text-column with the column of texts."
            ) from None
    if isinstance(value, (list, tuple, dict, np.ndarray)):
        kind = "an object" if isinstance(value, dict) else "a list"
        shown = json.dumps(plain_json(value), ensure_ascii=False, default=str)[:60]
        raise InputError(
            f"column {column!r} holds {kind} ({shown}), not a text; pass --text-column with the column of texts."
        )
    return value


def is_missing_text(value: Any) -> bool:
    """Whether a text cell holds no text: None, NaN/NA, blank, or the string a missing value prints as (``nan``,
    ``None``, ``null``, ``<NA>``, ``NaT``). Such a row is dropped and counted by every reader; it is never labelled,
    trained on, predicted or scored as that word."""
    if value is None:
        return True
    if isinstance(value, str):
        stripped = value.strip()
        return not stripped or stripped.lower() in MISSING_TEXT_STRINGS
    return bool(pd.api.types.is_scalar(value) and pd.isna(value))


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
    from .spec import label_key

    exact = set(names)
    by_key = {label_key(n): n for n in names}

    def named(label: str) -> str:
        return label if label in exact else by_key.get(label_key(label), label)

    if multi_label:
        labels = [[named(lab) for lab in row] for row in labels]
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
    return replace(data, texts=[apply_preprocessing(text, preprocessing) for text in data.texts])


TRUE_CELLS = frozenset({"1", "true", "yes", "1.0"})


def labels_from_flag_columns(df: pd.DataFrame, label_names: Sequence[str]) -> list[list[str]]:
    """Multi-label rows from one 0/1 (or true/false, yes/no) column per label, as the 4P tweets come."""
    flags = df[list(label_names)].astype(str).apply(lambda c: c.str.strip().str.lower().isin(TRUE_CELLS))
    return [[n for n, on in zip(label_names, row, strict=True) if on] for row in flags.itertuples(index=False)]


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


def with_text_column(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with its text column named ``text`` when it has another usual name (``Text``, ``sentence``: see
    :func:`find_text_column`); else ``df`` itself."""
    try:
        found = find_text_column(df)
    except InputError:  # none of the usual names: the caller's own error names what it needs
        return df
    return df if found == "text" else df.rename(columns={found: "text"})


def load_labelled(
    source: str | os.PathLike[str] | pd.DataFrame,
    *,
    label_names: Sequence[str] | None = None,
    multi_label: bool | None = None,
    label_column: str | None = None,
    text_column: str | None = None,
    limit: int | None = None,
    label_option: str | None = "--label-column",
    labels_of: Literal["task", "model"] = "task",
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
    """
    df = source if isinstance(source, pd.DataFrame) else read_table(source, limit=limit)
    tcol = find_text_column(df, text_column)
    col = label_column
    n_no_label = 0
    names = list(label_names or ())
    if col is not None and has_flag_columns(df, names, multi_label) and _names_flags(df, names, col):
        col = None  # one of the label columns (or ``labels`` where there is none): read them all, as below
    elif col is None:
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
            raise InputError(f"no 'label' or 'labels' column in columns {list(df.columns)[:20]}; {how}.")
    elif col not in df.columns:
        raise InputError(f"label column {col!r} not found; columns are {list(df.columns)[:20]}.")
    # a failed row has no teacher label; another column (the experts' gold, --label-column expert) still holds one
    n_failed = 0
    if "failed" in df.columns and col in ("label", "labels"):
        failed = df["failed"].map(lambda v: str(v).lower() in {"true", "1"})
        n_failed = int(failed.sum())
        df = df[~failed].reset_index(drop=True)
    if df[tcol].dtype == object:  # bytes decoded; a list or an object refused (not the column of texts)
        df = df.assign(**{tcol: df[tcol].map(lambda v: text_cell(v, tcol))})
    no_text = df[tcol].map(is_missing_text).astype(bool)  # an empty frame (every row failed) maps to object dtype
    n_empty_text = int(no_text.sum())
    df = df[~no_text].reset_index(drop=True)
    if col is None:
        assert label_names is not None
        labels: list[Any] = labels_from_flag_columns(df, label_names)
        is_multi = True
    else:
        if multi_label is None:
            sample = [v for v in df[col].head(200).tolist() if not _is_missing(v)]
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
            labels = [lab for lab in labels if lab is not None]
    if len(df) == 0:
        raise InputError(
            f"no labelled rows left ({n_failed} failed, {n_empty_text} without a text, the rest without a label); "
            "annotate again or fix the file."
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
                "or save the data with datasets (a ClassLabel column keeps the names)."
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
        label_column=col or f"the {len(label_names or ())} true/false label columns",
        n_empty_text=n_empty_text,
        n_no_label=n_no_label,
    )
