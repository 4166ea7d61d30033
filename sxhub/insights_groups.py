"""The groups and periods of ``sxhub insights``: reading the date column, the group of every text, and the tables of
label shares (per group, per period, per group and period) and of sentiment per group and label.

Split out of :mod:`sxhub.insights` (the stage: predicting, plots, outputs), which re-exports every public name here.
"""

from __future__ import annotations

import json
import re
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from .data import HANDLE_RE
from .errors import InputError

DATE_KEYS = {"month": "M", "quarter": "Q", "year": "Y", "week": "W"}
DERIVED_KEYS = (*DATE_KEYS, "handle")


def parse_dates(df: pd.DataFrame, date_column: str, *, dayfirst: bool | None = None) -> pd.Series:
    """The date column as datetimes; an InputError names the column when it is missing or unreadable.

    Dates written in numbers only (31/01/2026) are read day-first or month-first as :func:`date_order` finds in the
    column (``dayfirst`` decides where every date could be either)."""
    if date_column not in df.columns:
        raise InputError(f"date column {date_column!r} not found; columns are {list(df.columns)[:20]}.")
    column = df[date_column]
    # pandas read 12/01/2026 month-first (1 December) and, once the first date had set the format, 31/01/2026 the
    # other way round: a European export had its months swapped where the day was 12 or less. Every such date is
    # written as ISO in the order the column shows; one impossible in that order has no readable date
    order = date_order(column, date_column, dayfirst).dayfirst
    if order is not None:
        column = column.map(lambda value: _numeric_date_iso(value, dayfirst=order))
    # Unix time (an API's or BI tool's export: 1578268800): pandas read numbers as nanoseconds, so every text of a
    # JSONL or Parquet corpus fell in 1970-01, and in a CSV the digits were no date at all. A number of 9 digits
    # or more is Unix time, in seconds, milliseconds, microseconds or nanoseconds by its size; shorter numbers
    # (20200105, 2020) are read as the text they are written as
    epoch = _epoch_dates(column)
    # Excel's day numbers (a date column saved in the General format: 43833 for 2020-01-03, a fraction for the time):
    # each was a text without a readable date, nothing said why. A number of 5 digits is one (1927 to 2173)
    excel = _excel_dates(column)
    column = column.where(epoch.isna() & excel.isna(), None).map(_date_text)
    with warnings.catch_warnings():  # dates in another format than ISO (a tweet's "Wed Oct 10 20:19:24 +0000
        # 2018") are read one by one, as meant: pandas said so in a UserWarning of two lines on stderr, -q or not, and
        # before the one error line of a column with no dates
        warnings.filterwarnings("ignore", message="Could not infer format", category=UserWarning)
        dates = pd.to_datetime(column, errors="coerce", utc=True)
        # pandas takes the format of the first date for the whole column: in a corpus joined from two exports
        # ("2023-01-05" and "2023-06-05 09:00:00"), every date in the other form was NaT, counted as "without a
        # readable date" and left out of the table over time and of the month groups. Those are read one by one
        missed = dates.isna() & ~column.map(_no_value)
        if missed.any():
            dates = dates.fillna(pd.to_datetime(column[missed], errors="coerce", utc=True, format="mixed"))
    dates = dates.dt.tz_localize(None)
    for found in (epoch, excel):
        if found.notna().any():
            dates = dates.fillna(found.dt.tz_localize(None).astype(dates.dtype))
    _refuse_misread(df[date_column], dates, date_column)
    if dates.isna().all():
        raise InputError(
            f"date column {date_column!r} holds no readable dates (e.g. 2020-12-31 or Unix time 1609372800); pick another."
        )
    return dates


def _refuse_misread(raw: pd.Series, dates: pd.Series, date_column: str) -> None:
    """An InputError for the first cell written like a date in numbers that was read as none (2026/31/01, year,
    day, month: pandas read 2026/05/02 beside it as 2 May; 2026-13-05; 2026-02-30): it was left out of the tables
    over time without a word. Dates in numbers only (31/01/2026) that a --dayfirst/--monthfirst left out are said
    by :func:`date_order`; an empty cell or a placeholder ("n/a") still counts as without a readable date."""
    for row, value in raw[dates.isna()].items():
        if not isinstance(value, str) or ZERO_DATE.fullmatch(value):
            continue
        if ISO_DATE.fullmatch(value):  # 2026-02-30, 2026-13-05: written as asked, but no day of the calendar
            day = value.strip()[:10]
            try:
                date.fromisoformat(day)
            except ValueError:
                raise InputError(
                    f"date column {date_column!r} row {row}: {value.strip()} is no day of the calendar; correct it, "
                    "or empty the cell to leave that text out of the tables over time."
                ) from None
            # a real day, and after it a time or zone not read (2026-01-31 25:00, 2026-01-31 10:00 PST)
            raise InputError(
                f"date column {date_column!r} row {row}: {value.strip()} could not be read after its day {day} "
                f"({value.strip()[10:].strip()!r}); write the time as HH:MM[:SS] with an offset such as +01:00 or Z, "
                "or the day alone."
            )
        if DATE_SHAPED.fullmatch(value) and not NUMERIC_DATE.fullmatch(value):
            raise InputError(
                f"date column {date_column!r} row {row}: {value.strip()} is no date read year, month, day (year, day, "
                "month is not read); write the column's dates as ISO YYYY-MM-DD (e.g. 2026-01-31)."
            )


# a date in numbers only, day and month in either order, then the year (31/01/2026, 1.2.26, 12-01-2026 09:30)
NUMERIC_DATE = re.compile(r"\s*(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})(?![\d/.-])(.*)", re.S)


@dataclass(frozen=True)
class DateOrder:
    """How a date column's dates in numbers only are read (``dayfirst`` None: the column has none)."""

    dayfirst: bool | None = None
    note: str = ""  # one line where the column did not decide it: every date could be either, or both were written

    @property
    def name(self) -> str | None:
        return None if self.dayfirst is None else ("day-first" if self.dayfirst else "month-first")


def date_order(column: pd.Series, date_column: str, dayfirst: bool | None = None) -> DateOrder:
    """Whether ``column``'s dates in numbers only are day-first: a first number over 12 in some (31/01/2026) and a
    second one never over 12 says day-first, the other way round month-first. Where every date could be either
    (12/01/2026), ``dayfirst`` decides, month-first by default (pandas' ``dayfirst=False``), and the note says so.
    An InputError where ``dayfirst`` contradicts the column, or where it holds both orders and ``dayfirst`` is not
    given."""
    found = [(row, m) for row, m in _numeric_matches(column) if m]
    if not found:
        return DateOrder()
    # 31/13/2026 or 30/02/2026 is no date either way round: it was cited as both day- and month-first, or was read
    # as no date without a word
    for row, m in found:
        if not (_is_date(m, dayfirst=True) or _is_date(m, dayfirst=False)):
            raise InputError(
                f"date column {date_column!r} row {row}: {m.group(0).strip()} is no date, day- or month-first; "
                "correct it, or write the column's dates as ISO YYYY-MM-DD."
            )
    day_first = [(row, m.group(0).strip()) for row, m in found if not _is_date(m, dayfirst=False)]
    month_first = [(row, m.group(0).strip()) for row, m in found if not _is_date(m, dayfirst=True)]
    option = "--dayfirst" if dayfirst else "--monthfirst"
    if day_first and month_first:
        if dayfirst is None:
            raise InputError(
                f"date column {date_column!r} holds dates written day-first ({day_first[0][1]}, row "
                f"{day_first[0][0]}) and month-first ({month_first[0][1]}, row {month_first[0][0]}); pass --dayfirst "
                "or --monthfirst to read it one way (the others then count as without a readable date), or write the "
                "dates as ISO YYYY-MM-DD."
            )
        other = month_first if dayfirst else day_first
        way = "month-first" if dayfirst else "day-first"
        return DateOrder(dayfirst, f"dates written {way} left out ({len(other)}, e.g. {other[0][1]}): {option} given")
    if day_first or month_first:
        shown = bool(day_first)
        if dayfirst is not None and dayfirst != shown:
            row, sample = (day_first or month_first)[0]
            way = "day-first" if shown else "month-first"
            raise InputError(
                f"{option} does not fit date column {date_column!r}: {sample} (row {row}) is {way}; drop {option}."
            )
        return DateOrder(shown)
    if dayfirst is not None:
        return DateOrder(dayfirst)
    either = next((m for _, m in found if m.group(1) != m.group(3)), None)
    if either is None:  # 01/01/2026, 02/02/2026: the same date either way
        return DateOrder(False)
    sample = either.group(0).strip()
    read = _numeric_date_iso(sample, dayfirst=False)
    return DateOrder(
        False,
        f"dates like {sample} could be day- or month-first: read month-first ({read}); pass --dayfirst to read them day-first",
    )


def _numeric_matches(column: pd.Series) -> list[tuple[Any, re.Match[str] | None]]:
    """Each text cell's row (the index) and its match of :data:`NUMERIC_DATE` (None: not a date in numbers only,
    or a placeholder of zeros)."""
    return [
        (row, None if ZERO_DATE.fullmatch(v) else NUMERIC_DATE.fullmatch(v))
        for row, v in column.items()
        if isinstance(v, str)
    ]


def _is_date(match: re.Match[str], *, dayfirst: bool) -> bool:
    """Whether a :data:`NUMERIC_DATE` match is a day of the calendar read in that order (30/02 is in none)."""
    iso = _numeric_date_iso(match.group(0), dayfirst=dayfirst)
    if iso is None:
        return False
    try:
        date.fromisoformat(iso[:10])
    except ValueError:
        return False
    return True


# a date of zeros (MySQL's "zero date" 0000-00-00, 00/00/0000, with or without 00:00:00 and a zone, as an API's JSON
# writes it: 0000-00-00T00:00:00.000Z): a placeholder for "no date", like "n/a", counted as without a readable date
# rather than refused as a mistake
ZERO_DATE = re.compile(
    r"\s*0{1,4}([/.-])0{1,2}\1(?:0{1,4})(?:[ T]0{1,2}(?::0{1,2}){1,2}(?:\.0+)?(?:Z|[+-]\d{2}:?\d{2})?)?\s*"
)
# a date written as ISO asks (YYYY-MM-DD, a time or a zone after it or not)
ISO_DATE = re.compile(r"\s*\d{4}-\d{2}-\d{2}(?:[ TZ+-].*)?", re.S)

# anything written like a date in numbers (2026-13-05, 2026/31/01, 2026-02-30T10:00): one that reads as no date is a
# mistake to say, not a text "without a readable date" to leave out quietly (a placeholder such as "n/a" is one)
DATE_SHAPED = re.compile(r"\s*\d{1,4}([/.-])\d{1,2}\1\d{1,4}(?!\d).*", re.S)


def _numeric_date_iso(value: Any, *, dayfirst: bool) -> Any:
    """A date in numbers only (31/01/2026 09:30) written as ISO (2026-01-31 09:30) in the order given; None where
    it is no date in that order (a month over 12); any other value as it is."""
    match = NUMERIC_DATE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        return value
    first, _, second, year, rest = match.groups()
    day, month = (int(first), int(second)) if dayfirst else (int(second), int(first))
    if not 1 <= month <= 12:
        return None
    full = int(year) if len(year) == 4 else int(year) + (1900 if int(year) >= 69 else 2000)  # strptime's %y
    return f"{full:04d}-{month:02d}-{day:02d}{rest}"


# Unix time by its size: seconds up to 1e11 (the year 5138), then milliseconds, microseconds, nanoseconds
EPOCH_UNITS = (("s", 1e8, 1e11), ("ms", 1e11, 1e14), ("us", 1e14, 1e17), ("ns", 1e17, float("inf")))


def _epoch_dates(column: pd.Series) -> pd.Series:
    """The cells of ``column`` that are Unix time (a number, or the digits of one, of 9 digits or more) as UTC
    datetimes; NaT elsewhere."""
    numbers = pd.to_numeric(column.map(_number_or_text), errors="coerce")
    dates = pd.Series(pd.NaT, index=column.index, dtype="datetime64[ns, UTC]")
    for unit, low, high in EPOCH_UNITS:
        part = numbers.abs().ge(low) & numbers.abs().lt(high)
        if part.any():
            dates[part] = pd.to_datetime(numbers[part], unit=unit, utc=True, errors="coerce")
    return dates


EXCEL_DAY_ZERO = pd.Timestamp("1899-12-30", tz="UTC")  # Excel's day 0 (its 1900 date system, as Sheets writes too)


def _excel_dates(column: pd.Series) -> pd.Series:
    """The cells of ``column`` that are Excel day numbers (a number, or its digits, of 5 digits before any fraction)
    as UTC datetimes; NaT elsewhere."""
    numbers = pd.to_numeric(column.map(_number_or_text), errors="coerce")
    part = numbers.ge(10_000) & numbers.lt(100_000)
    dates = pd.Series(pd.NaT, index=column.index, dtype="datetime64[ns, UTC]")
    if part.any():
        dates[part] = EXCEL_DAY_ZERO + pd.to_timedelta(numbers[part], unit="D")
    return dates


def day_numbers_note(column: pd.Series) -> str:
    """The line for a date column holding Excel day numbers (:func:`_excel_dates`), empty for one without: they are
    read in Excel's 1900 date system, and a workbook in its 1904 system (Excel for Mac before 2011, and the workbooks
    it made) writes each date 1,462 days fewer, so every period came out 4 years early; a CSV does not say which
    system wrote it."""
    found = _excel_dates(column)
    if not found.notna().any():
        return ""
    first = column[found.notna()].iloc[0]
    return (
        f"dates written as Excel day numbers (e.g. {first}) read in Excel's 1900 date system (Windows Excel, Sheets); "
        "from a workbook in the 1904 date system (Excel for Mac before 2011) they are 4 years early: format the "
        "column as dates there and save the CSV again"
    )


def _number_or_text(value: Any) -> Any:
    """A cell that may hold Unix time (a number or a text), or None (a datetime, a bool)."""
    plain = isinstance(value, (str, int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    return value if plain else None


def _date_text(value: Any) -> Any:
    """A whole number of a date column (JSONL or Parquet: 20200105, 2020) as its digits, read as the date they
    write; pandas took the number as nanoseconds since 1970."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)):
        return str(int(value)) if value == value and float(value).is_integer() else None
    return value


def group_keys(
    df: pd.DataFrame, group_by: str, *, text_column: str, date_column: str | None, dayfirst: bool | None = None
) -> pd.Series:
    """The group of every row: a column's value, a list of @handles (``handle``) or a period of the dates."""
    if group_by in df.columns:
        return df[group_by].map(_group_of)
    if group_by == "handle":
        return df[text_column].map(lambda t: sorted({h.lower() for h in HANDLE_RE.findall(str(t))}) or ["(none)"])
    if group_by in DATE_KEYS:
        if not date_column:
            raise InputError(f"--group-by {group_by} needs the dates: pass --date-column (e.g. created_at).")
        return parse_dates(df, date_column, dayfirst=dayfirst).dt.to_period(DATE_KEYS[group_by]).astype(str)
    raise InputError(
        f"--group-by {group_by!r} is neither a column ({list(df.columns)[:20]}) nor one of {list(DERIVED_KEYS)}."
    )


def _group_of(value: Any) -> str | list[str]:
    """A group column's cell as its group; a list cell (tags; Parquet gives arrays, CSV JSON text) as one group
    per item, so the text counts in each, as with ``handle``."""
    if isinstance(value, str) and value.startswith("[") and value.endswith("]"):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return value
    if isinstance(value, (list, tuple, np.ndarray)):
        items = sorted({str(v) for v in value if not _no_value(v)})
        return items or ["(none)"]
    return "(missing)" if _no_value(value) else str(value)


def merge_spellings(keys: pd.Series) -> tuple[pd.Series, dict[str, list[str]]]:
    """A group column's names that differ only in case or spaces ("Nike", "nike ", "NIKE") as one group, named by
    its most frequent spelling (spaces trimmed; ties: the first in sort order). Returns the keys and, per merged
    group, the other spellings found in the input, to say what each group counts."""
    counts: Counter[str] = Counter()
    for key in keys:
        counts.update(key if isinstance(key, list) else [key])
    spellings: dict[str, list[str]] = {}
    for name in counts:
        spellings.setdefault(" ".join(name.split()).casefold(), []).append(name)
    rename: dict[str, str] = {}
    merged: dict[str, list[str]] = {}
    for names in spellings.values():
        tidy: Counter[str] = Counter()
        for name in names:
            tidy[" ".join(name.split())] += counts[name]
        best = min(tidy, key=lambda name: (-tidy[name], name))
        rename.update((name, best) for name in names)
        if names != [best]:
            merged[best] = sorted(name for name in names if name != best)
    if not merged:
        return keys, {}
    keys = keys.map(lambda key: sorted({rename[k] for k in key}) if isinstance(key, list) else rename[key])
    return keys, dict(sorted(merged.items()))


def _no_value(value: Any) -> bool:
    return (
        value is None
        or (isinstance(value, str) and not value.strip())
        or (isinstance(value, float) and value != value)
    )


def shares_by(frame: pd.DataFrame, key: pd.Series, label_names: Sequence[str], *, top: int | None) -> pd.DataFrame:
    """Per key: the number of texts and the share with each label; lists in ``key`` count the text in each group.

    With ``top``, the ``top`` largest groups are kept (by number of texts), the rest left out.
    """
    data = frame[list(label_names)].copy()
    data["_key"] = key.values
    if data["_key"].map(lambda v: isinstance(v, list)).any():
        data = data.explode("_key")
    table = data.groupby("_key", sort=True)[list(label_names)].agg(["mean"])
    table.columns = [name for name, _ in table.columns]
    table.insert(0, "n", data.groupby("_key", sort=True).size())
    table = table.round(4)
    if top is not None:
        table = table.loc[largest_groups(table["n"], top)]
    return table.rename_axis("group").reset_index()


def largest_groups(sizes: pd.Series, top: int | None) -> list[Any]:
    """The ``top`` (all: None) groups of ``sizes`` (group -> number of texts), largest first and, among groups of
    one size, in the order of their names: the one choice of groups the shares and the sentiment tables both keep."""
    ranked = sizes.sort_index().sort_values(ascending=False, kind="stable")
    return ranked.index.tolist()[: top or None]


def shares_by_group_and_period(
    frame: pd.DataFrame, key: pd.Series, periods: pd.Series, label_names: Sequence[str], groups: Sequence[Any]
) -> pd.DataFrame:
    """Per group of ``groups`` (in their order) and period: the number of texts, the share with each label and, in
    ``n_<label>``, how many texts that share is. Every group has a row for every period of the corpus: where it has
    no text, n is 0 and the shares are empty (no 0% made of nothing). Texts without a period are in none."""
    data = frame[list(label_names)].astype(int)
    data["_key"] = key.values
    data["_period"] = periods.values
    data = data[data["_period"].notna()]
    if data["_key"].map(lambda v: isinstance(v, list)).any():
        data = data.explode("_key")
    grid = pd.MultiIndex.from_product([list(groups), sorted(data["_period"].unique())], names=["group", "period"])
    grouped = data[data["_key"].isin(list(groups))].groupby(["_key", "_period"])
    counts = grouped[list(label_names)].sum().reindex(grid, fill_value=0)
    n = grouped.size().reindex(grid, fill_value=0)
    shares = counts.div(n.where(n > 0), axis=0).round(4)
    table = pd.concat([n.rename("n"), shares, counts.add_prefix("n_")], axis=1)
    return table.reset_index()


def sentiment_by(
    frame: pd.DataFrame, key: pd.Series, label_names: Sequence[str], sentiments: Sequence[str], *, top: int | None
) -> pd.DataFrame:
    """Per group and label: the number of texts with the label and the share of each sentiment among them."""
    rows = []
    data = frame.assign(_key=key.values)
    if data["_key"].map(lambda v: isinstance(v, list)).any():
        data = data.explode("_key")
    # the groups shares_by keeps: value_counts ranked groups of one size otherwise, so at --top's cut the sentiment
    # table could describe another group than the shares table beside it
    groups = largest_groups(data["_key"].value_counts(), top)
    for group in groups:
        part = data[data["_key"] == group]
        for name in label_names:
            with_label = part[part[name]]
            row: dict[str, Any] = {"group": group, "label": name, "n": len(with_label)}
            for sent in sentiments:
                row[sent] = round(float((with_label["sentiment"] == sent).mean()), 4) if len(with_label) else None
            rows.append(row)
    return pd.DataFrame(rows)
