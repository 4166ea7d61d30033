"""Reading and writing tables, and reading texts: the text column, its cells, preprocessing (the cleaning saved with
a model), and the texts a teacher labels (:func:`prepare_texts`).

Inputs are CSV, TSV, JSONL/JSON, Parquet, or a Hub dataset id; outputs are chosen by the file's extension. In CSV
files, list and dict cells (``labels``, ``votes``, ``agreement``) are JSON-encoded so that they read back intact.
The file formats live in :mod:`sxhub.tables` (``write_table`` is re-exported here), reading in chunks, slices and
Hub datasets in :mod:`sxhub.stream`; this module builds on both and neither imports it. Reading the labels a table
holds (label cells, :func:`~sxhub.labelled.load_labelled`) is :mod:`sxhub.labelled`'s stage, which builds on this one.
"""

from __future__ import annotations

import functools
import json
import os
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from .errors import InputError
from .stream import RowSlice, check_input, is_hub_source, is_lines_source, iter_input, iter_table, no_rows_error
from .table_read import headerless_hint, read_file
from .tables import TEXT_COLUMN_GUESSES as TEXT_COLUMN_GUESSES  # re-exported: sxhub.data's since it was written
from .tables import ColumnFilter, plain_json
from .tables import write_table as write_table  # re-exported: sxhub.data.write_table is public

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
    usecols: ColumnFilter | None = None,
    lines: bool = False,
) -> pd.DataFrame:
    """Read a CSV/TSV/JSONL/JSON/Parquet file, or a Hub dataset id (``user/name`` or ``user/name:split``).

    ``rows`` picks a slice (offset, limit, shard; :class:`RowSlice`), read in chunks so that only the slice is held;
    a Hub dataset is always streamed (``datasets`` streaming), never downloaded whole. ``usecols`` (true for each
    column name to read) leaves the other columns unread (:func:`sxhub.tables.read_file`). ``lines=True`` (a verb
    that reads texts to label) also reads texts one per line, a ``.txt`` file or ``-`` for stdin, into a ``text``
    column, as predict reads them (:func:`sxhub.stream.iter_input`).
    """
    if not isinstance(source, (str, os.PathLike)):
        raise not_a_source(source)
    text = str(source)
    if lines and is_lines_source(text):
        check_input(text, None)
        rows = rows or RowSlice()
        if limit is not None:
            rows = replace(rows, limit=min(limit, rows.limit or limit))
        chunks = list(iter_input(text, rows=rows))
        if not chunks:
            raise no_rows_error(text, rows)
        return pd.concat(chunks).reset_index(drop=True)
    if (rows is not None and not rows.is_all) or is_hub_source(text):
        rows = rows or RowSlice()
        limits = [n for n in (limit, rows.limit) if n is not None]
        rows = replace(rows, limit=min(limits) if limits else None)
        chunks = list(iter_table(text, rows=rows, split=split, decode_json=True, usecols=usecols))
        if not chunks:
            raise InputError(f"input {text!r} has no rows{' in ' + rows.describe() if not rows.is_all else ''}.")
        return pd.concat(chunks).reset_index(drop=True)
    return read_file(text, limit=limit, usecols=usecols)


def not_a_source(source: object) -> InputError:
    """A Python caller's data that is neither a path, a Hub id nor a DataFrame (where a DataFrame goes): a
    datasets.Dataset was refused as 'input "Dataset({ features: [...] })" not found', its repr taken for a path."""
    kind = type(source).__name__
    if isinstance(source, pd.DataFrame):  # where only a path goes (run_pipeline): "pass a pandas DataFrame" to one
        return InputError(
            "the data is a DataFrame, where this call takes the path of a file or a Hub dataset id; write it to a "
            "file first (df.to_parquet('texts.parquet')) and pass that path."
        )
    if hasattr(source, "to_pandas"):  # a datasets.Dataset (or a polars / pyarrow table)
        fix = "pass ds.to_pandas() (a pandas DataFrame)"
    elif kind.endswith("Dict") and hasattr(source, "column_names"):  # datasets.DatasetDict: one split of it
        fix = "pick a split and pass ds['train'].to_pandas() (a pandas DataFrame)"
    else:
        fix = "pass a pandas DataFrame"
    return InputError(f"the data is a {kind}, not a file; {fix}, or the path of a .csv, .jsonl or .parquet file.")


# the text column's option as the CLI and the Python API spell it: these messages reach both, and a Python caller
# (load_labelled(df, text_column=...), prepare_texts) read "pass --text-column", an option it had no way to pass
# (the form of predict's "add --onnx (Python: onnx=True)")
TEXT_COLUMN_OPTION = "--text-column (Python: text_column=)"


def check_text_not_labels(text_column: str, label_column: str | None, label_option: str | None) -> None:
    """One error line when the text column is the label column (``--text-column label``, or ``--label-column text``
    and ``--gold text``): train learned its own label names as the texts, and doubts refused it by accident ("only
    20 labelled texts (3 distinct)"). ``label_option``: the caller's option for the label column, None if none."""
    if text_column != label_column:
        return
    labels = f", or {label_option} with the column of labels" if label_option else ""
    raise InputError(
        f"the text column {text_column!r} is also the label column; pass {TEXT_COLUMN_OPTION} with the column of "
        f"texts{labels}."
    )


def find_text_column(df: pd.DataFrame, text_column: str | None = None) -> str:
    """The text column: the one asked for, else ``text`` or a usual synonym (the exact name, else its one variant in
    case or spaces; two variants and no exact name are one line asking to rename one or pass the column)."""
    if text_column:
        if text_column not in df.columns:
            raise InputError(
                f"text column {text_column!r} not found; the input has columns {list(df.columns)[:20]}; "
                f"pass {TEXT_COLUMN_OPTION} with one of them{headerless_hint(df.columns)}."
            )
        return text_column
    names = [str(c) for c in df.columns]
    for guess in TEXT_COLUMN_GUESSES:  # the exact name, else its one variant in case or spaces around it (a header
        # typed "id, text": " text"), as find_column finds a label column; "text" beside "Text" is "text"
        if guess in names:
            return guess
        found = [n for n in names if n.strip().lower() == guess]
        if len(found) > 1:  # TEXT and Text: the first was taken without a word, neither more likely the one meant
            raise InputError(
                f"columns {found[0]!r} and {found[1]!r} both read as {guess!r}; rename one of them, or pass "
                f"{TEXT_COLUMN_OPTION} with the column of texts."
            )
        if found:
            return found[0]
    raise InputError(
        f"no text column found in columns {list(df.columns)[:20]}; pass {TEXT_COLUMN_OPTION} with the column of "
        f"texts, or name it 'text'{headerless_hint(df.columns)}."
    )


def find_column(columns: Iterable[Any], name: str) -> str | None:
    """The column ``name`` of a user's own file (``label``, ``labels``, a ``--gold`` column): that exact name, else
    its variant in case or spaces around it (a Kaggle ``Text,Label`` header, one typed ``id, label``), as
    :func:`find_text_column` finds the texts; None when there is neither. Two variants and no exact name
    (``Label`` and ``LABEL``) are refused: neither is more likely the column meant."""
    names = [c for c in columns if isinstance(c, str)]
    if name in names:
        return name
    found = [c for c in names if c.strip().lower() == name.strip().lower()]
    if len(found) > 1:
        raise InputError(f"columns {found[0]!r} and {found[1]!r} both read as {name!r}; rename one of them.")
    return found[0] if found else None


def with_column_named(df: pd.DataFrame, *names: str, text_column: str | None = None) -> pd.DataFrame:
    """``df`` with the variant of each of ``names`` that :func:`find_column` finds renamed to that name (``Label``
    read as ``label``), the ``text_column`` never; else ``df`` itself."""
    found = {name: find_column(df.columns, name) for name in names}
    renames = {old: name for name, old in found.items() if old not in (None, name, text_column)}
    return df.rename(columns=renames) if renames else df


# --------------------------------------------------------------------------------------------------------------
# preprocessing
# --------------------------------------------------------------------------------------------------------------
# Scripts written without spaces between words (Thai, Lao, Myanmar, Khmer, kana, Han) and Hangul, whose particles
# follow a word without a space: Python's \w matches their letters, so a URL, e-mail or @handle ran on over the words
# after it ("请访问 https://example.com了解更多。价格很好" became "请访问 URL", "お問い合わせはinfo@example.jpまで" became
# "EMAIL"). A mask stops at them. Combining marks (NFD accents, Hebrew and Arabic points, Indic vowel signs) are part
# of a word although \w does not match them: "@राहुल" became "@userाहुल", and "josé@x.com" written NFD was no e-mail.
_UNSPACED = (
    r"\u0e00-\u0eff\u1000-\u109f\u1100-\u11ff\u1780-\u17ff\u3005\u3040-\u30ff\u3130-\u318f\u31f0-\u31ff"
    r"\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff66-\uffdc\U00020000-\U0003ffff"
)
_MARKS = (
    r"\u0300-\u036f\u0483-\u0489\u0591-\u05bd\u05bf\u05c1\u05c2\u05c4\u05c5\u05c7\u0610-\u061a\u064b-\u065f\u0670"
    r"\u06d6-\u06ed\u0900-\u0963\u0966-\u0dff\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
)


def _word(extra: str = "") -> str:
    """One character of a word that a mask may take (see _UNSPACED), or of ``extra``."""
    return rf"(?:[^\W{_UNSPACED}]|[{_MARKS}{extra}])"


_W = _word()
_EDGE = rf"(?:(?<={_W})(?!{_W})|(?<!{_W})(?={_W}))"  # \b of such words
URL_RE = re.compile(rf"(?i)(?<!{_W})(?:https?://|www\.)[^\s<>\"'{_UNSPACED}\u3000-\u303f\uff01-\uff65]+")
# Every run bounded by the RFC 5321/1035 limits (local part <= 64 characters, a domain label <= 63, at most 127 labels
# in 253 characters): with open-ended runs each start inside a long run of word characters and dots rescanned it to
# its end, so 40,000 characters of "a.a.a." took 3-5 s to clean (one crafted paste could hold a Space's worker).
# Bounded, cleaning is linear; on the 397,800 text cells of ../shared/data's CSV files it masks exactly what the
# open pattern did (bench/clean.py, bench/results/clean.md).
_LOCAL, _LABEL = _word(".+-"), _word("-")
EMAIL_RE = re.compile(rf"(?i){_EDGE}{_LOCAL}{{1,64}}@{_LABEL}{{1,63}}(?:\.{_LABEL}{{1,63}}){{1,126}}{_EDGE}")
# A handle of unspaced script (Weibo's: Han, with Latin letters, digits, "_" and "-"; Twitter's handles are
# [A-Za-z0-9_]{1,15} and take the first alternative) is masked where the writer ended it with a space or a colon
# ("//@人民日报:", "回复@张三:", "@张三 你好", as Weibo writes a mention picked from its list: "@name " with a space),
# up to that delimiter, as Weibo links it: "@小米公司的支持 太棒了" becomes "@user 太棒了", since a picked "@小米公司 "
# and a typed "@小米公司的支持 " cannot be told apart and leaving both unmasked would publish every picked name. The run
# must fit a Weibo nickname (at most 30 characters, a Han character counting two: at most 15 of unspaced script),
# else it is words, not a name, and is kept; up to version 6 a run of up to 30 was masked, so a clause glued to a name
# ("@张三你这个人真的太过分了我再也不想理你了 好吗") became "@user 好吗". Inside a sentence ("感谢@小米公司的支持",
# "@张三你好吗") and at the end of the text ("分享给@张三", which cannot be told from "感谢@小米公司的支持": an ending
# the writer did not type) where it ends is unknown, and the text is kept, before punctuation ("！") alike; up to
# version 5 the end of the text ended it, so "感谢@小米公司的支持" was cleaned to "感谢@user" and "@田中さんありがとう"
# to "@user", but with a "！" after it was kept whole. A picked mention at the end keeps its space ("分享给@张三 ")
# and is masked: the whitespace step runs before the masks, the strip after them.
_LONGER_THAN_A_NICKNAME = rf"(?:[^\W{_UNSPACED}]*[{_UNSPACED}]){{16}}"  # 16 characters of unspaced script in the run
HANDLE_RE = re.compile(
    rf"(?<!{_W})(?<!@)@(?:{_W}{{1,30}}{_EDGE}|(?!{_LONGER_THAN_A_NICKNAME})\w{{1,30}}(?=[\s:\uff1a]))"
)
PHONE_RE = re.compile(rf"(?<!{_W})(?:\+?\d[\d()./ -]{{7,}}\d)(?!{_W})")
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
# 4: the masks stop at scripts written without spaces and take combining marks (_UNSPACED, _MARKS)
# 5: texts are put in NFC first (``normalize``): a cased tokenizer (BERT cased, RoBERTa's and ModernBERT's byte-level
# BPE) reads "café" typed NFD (e + U+0301, as macOS writes it) as other tokens ([UNK], or bytes), so one sentence
# got two labels. A block saved before has no ``normalize`` and reads texts in the form given, as it was trained.
# 6: a handle of unspaced script is no longer ended by the end of the text (HANDLE_RE)
# 7: nor does it take more than 15 characters of unspaced script, a Weibo nickname's limit (HANDLE_RE): a longer run
# before a space is a clause glued to a name, and is kept
PREPROCESSING_VERSION = 7
UNICODE_FORM = "NFC"


def preprocessing_config(enabled: bool, *, max_length: int | None = None) -> dict[str, Any]:
    """The preprocessing block saved with a model: the Unicode form (``normalize``), the replacement steps,
    ``strip``, and ``max_length`` (tokens).

    ``enabled=False`` (a task with ``preprocess: false``) saves no steps: texts reach the tokenizer as given.
    """
    steps = [dict(step) for step in (WHITESPACE_STEP, *PII_STEPS)] if enabled else []
    block: dict[str, Any] = {"version": PREPROCESSING_VERSION, "steps": steps, "strip": enabled}
    if enabled:
        block["normalize"] = UNICODE_FORM
    if max_length is not None:
        block["max_length"] = int(max_length)
    return block


def apply_preprocessing(text: str, preprocessing: Mapping[str, Any]) -> str:
    """Apply a saved preprocessing block to one text (the Space and the card's snippet do the same in a few lines)."""
    form = preprocessing.get("normalize")
    if form and not unicodedata.is_normalized(form, text):
        text = unicodedata.normalize(form, text)
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


_AS_WRITTEN = {**preprocessing_config(True), "normalize": None}


def one_spelling(text: str) -> str:
    """The NFC form of a text: what makes "café" typed with one code point and "cafe" + U+0301 (macOS file names,
    copies from a PDF) the same text where texts are compared. Only compared, never written: the text keeps its
    spelling."""
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)


def preprocess_text(text: str) -> str:
    """The default preprocessing: PII masked and whitespace normalised, the text kept in the Unicode form it was
    written in (annotate writes texts so; a model's block, which train and predict apply, also puts them in NFC)."""
    return apply_preprocessing(text, _AS_WRITTEN)


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
    max_chars: int | None = MAX_CHARS,
    drop_duplicates: bool = True,
) -> PreparedTexts:
    """Pick the text column, check sizes, preprocess, drop empty texts and exact duplicates (both counted).

    A text over ``max_chars`` characters (as written, before preprocessing) stops here in one line; ``None`` keeps
    every text (annotate fails such rows alone: :func:`over_max_chars_error`)."""
    column = find_text_column(df, text_column)
    keep = [c for c in keep_columns if c != column]
    missing = [c for c in keep if c not in df.columns]
    if missing:
        raise InputError(f"column(s) {missing} to keep are not in the input (columns: {list(df.columns)[:20]}).")
    raw = raw_texts(df, column)
    too_long = raw.map(len) > (max_chars if max_chars is not None else float("inf"))
    if too_long.any():
        idx = int(too_long.idxmax())
        raise InputError(
            f"row {idx} of column {column!r} has {len(raw[idx]):,} characters (limit {max_chars:,}); split long "
            "documents into passages or raise the limit with --max-chars (Python: max_chars=)."
        )
    texts = raw.map(preprocess_text) if preprocess else raw.map(str.strip)
    frame = pd.DataFrame({"text": texts})
    for col in keep:
        frame[col] = df[col].values
    empty = frame["text"] == ""
    n_empty = int(empty.sum())
    frame = frame[~empty]
    n_before = len(frame)
    if drop_duplicates:  # one text in two Unicode spellings (NFC, NFD) is one text: labelled once, as first written
        frame = frame[~frame["text"].map(one_spelling).duplicated(keep="first")]
    if len(frame) == 0:
        raise InputError(f"column {column!r} holds no non-empty text; check {TEXT_COLUMN_OPTION}.")
    return PreparedTexts(
        frame=frame.reset_index(drop=True),
        n_input=len(df),
        n_duplicates=n_before - len(frame),
        n_empty=n_empty,
        text_column=column,
        kept_columns=keep,
    )


def raw_texts(df: pd.DataFrame, column: str) -> pd.Series:
    """``df[column]``'s texts as written (before preprocessing): a missing cell is ``""``, never the word "nan"."""
    return text_cells(df[column], column).map(lambda v: "" if is_missing_text(v) else str(v))


def check_text_values(chunk: pd.DataFrame, column: str, fix: str | None = None) -> None:
    """One line when a text column holds only numbers or true/false values (an id or a score column:
    ``--text-column idx``), which were labelled as the strings "1", "2.5", "True" with exit 0. predict, annotate,
    train and evaluate refuse it alike, before any work; a column of texts some of which are numbers ("2024") is
    texts, read as written (:func:`text_cells`). Streamed readers check the first chunk only: a later chunk of a
    few rows that happen to be numbers must not end a long run. Texts one per line are never checked. ``fix``
    replaces the line's "pass --text-column ..." where the caller has no such option."""
    values = chunk[column]
    if pd.api.types.is_bool_dtype(values):
        kind = "true/false values"
    elif pd.api.types.is_numeric_dtype(values):
        kind = "numbers"
    else:  # CSV and TSV cells are read as strings: a column where every text is a number
        texts = values[~values.map(is_missing_text)]
        if not len(texts) or texts.map(lambda v: isinstance(v, (list, tuple, dict, bytes, np.ndarray))).any():
            return  # text_cell's own lines name those
        if pd.to_numeric(texts.astype(str).str.strip(), errors="coerce").isna().any():
            return
        kind = "numbers"
    present = values[~values.map(is_missing_text)]
    if not len(present):  # no text in the chunk (an all-null column reads as float): nothing to say yet
        return
    shown = json.dumps(plain_json(present.head(3).tolist()), default=str, ensure_ascii=False)
    fix = fix or f"pass {TEXT_COLUMN_OPTION} with the column of texts"
    raise InputError(f"column {column!r} holds {kind} ({shown}), not texts; {fix}.")


def check_frame_text_values(frame: pd.DataFrame, column: str, text_column: str | None) -> None:
    """:func:`check_text_values` for a verb that reads texts one per line into a frame (``read_table(lines=True)``:
    a ``.txt`` file or stdin, the one column ``text`` of strings), where they are texts whatever they read like, as
    predict reads them: such a frame is not checked unless ``text_column`` names its column."""
    values = frame[column]
    strings = not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values))
    lines = list(frame.columns) == ["text"] and strings
    if text_column is not None or not lines:
        check_text_values(frame, column)


def over_max_chars_error(chars: int, max_chars: int) -> str:
    """The ``error`` of a row whose text is over ``--max-chars``: annotate fails it alone, unasked."""
    return (
        f"not asked: the text has {chars} characters, over --max-chars {max_chars} (Python: max_chars=); split it "
        f"into passages, or raise the limit (--max-chars {chars} or more) and run again: a rerun into the same OUT "
        "asks only such texts"
    )


# --------------------------------------------------------------------------------------------------------------
# text cells (every reader of texts, labelled or not, reads them so)
# --------------------------------------------------------------------------------------------------------------
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
                f"strings, or pass {TEXT_COLUMN_OPTION} with the column of texts."
            ) from None
    if isinstance(value, (list, tuple, dict, np.ndarray)):
        kind = "an object" if isinstance(value, dict) else "a list"
        shown = json.dumps(plain_json(value), ensure_ascii=False, default=str)[:60]
        # a JSONL object holding the text ({"meta": {"text": ...}}): no column to pass names it
        inner = (
            next((k for k in value if str(k).lower() in TEXT_COLUMN_GUESSES), None) if kind == "an object" else None
        )
        flatten = (
            f" its texts are under {inner!r} inside it: flatten the file first (e.g. `jq -c '.text = "
            f".{json.dumps([column])}{json.dumps([inner])}' INPUT > flat.jsonl`), or"
            if inner is not None
            else ""
        )
        raise InputError(
            f"column {column!r} holds {kind} ({shown}), not a text;{flatten} pass {TEXT_COLUMN_OPTION} with the "
            "column of texts."
        )
    return value


def text_cells(cells: pd.Series, column: str) -> pd.Series:
    """A text column's cells as :func:`text_cell` reads each, in an object column: ``Series.map`` infers the result's
    type, and whole numbers with a null (a JSONL or Parquet column of texts such as 2024, 42) became floats there,
    read as the texts "2024.0" and "42.0"."""
    if cells.dtype != object:
        return cells
    return pd.Series([text_cell(v, column) for v in cells.tolist()], index=cells.index, dtype=object)


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


def with_text_column(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with its text column named ``text`` when it has another usual name (``Text``, ``sentence``: see
    :func:`find_text_column`); else ``df`` itself."""
    try:
        found = find_text_column(df)
    except InputError:  # none of the usual names: the caller's own error names what it needs
        return df
    return df if found == "text" else df.rename(columns={found: "text"})
