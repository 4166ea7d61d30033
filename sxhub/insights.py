"""What the expert reveals: label shares per group and over time, and sentiment per label and group.

A trained student labels a corpus (:class:`sxhub.predict.Predictor`); the shares of texts with each label are then
reported per group (a column of the input, or a derived key: ``month``/``quarter``/``year``/``week`` of the date
column, or ``handle``: every @handle a text mentions) and per period of the date column. Given a sentiment model
(any text-classification folder, e.g. a sentiment expert made with sxhub), the sentiment of the texts of each
label and group is reported too ("which brands draw negative Place talk").

Every table is written as CSV and drawn as a small PNG (matplotlib, Agg backend) in the output folder.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .data import HANDLE_RE, find_text_column, is_missing_text
from .errors import InputError
from .stream import CHUNK_ROWS

Classify = Callable[[Sequence[str]], tuple[list[Any], list[str], bool]]
DATE_KEYS = {"month": "M", "quarter": "Q", "year": "Y", "week": "W"}
DERIVED_KEYS = (*DATE_KEYS, "handle")
MULTI_LABEL_SENTIMENT = "the sentiment model is multi-label; pass a single-label sentiment model."


@dataclass
class InsightsResult:
    """Predictions and the tables built from them (``None`` where the input did not allow one)."""

    frame: pd.DataFrame  # the input plus one bool column per label (and ``sentiment`` when asked)
    label_names: list[str]
    shares: pd.DataFrame  # per group: n and the share of texts with each label
    over_time: pd.DataFrame | None  # per period: n and the share of texts with each label
    sentiment: pd.DataFrame | None  # per group and label: n and the share of each sentiment
    files: list[Path] = field(default_factory=list)
    n_empty: int = 0  # input rows without a text: not labelled, in no table
    n_undated: int = 0  # texts without a readable date: not in the table over time (nor in any group: dated_groups)
    dated_groups: bool = False  # the groups are periods of the dates (--group-by month...): undated texts in none
    merged_spellings: dict[str, list[str]] = field(default_factory=dict)  # group -> other spellings counted in it
    groups_total: int | None = None  # the groups before --top kept the largest (None: as many as shown)
    # per group (the --top kept) and period: n, each label's share and count (None: no dates, or groups are periods)
    by_group_over_time: pd.DataFrame | None = None
    date_order: str | None = None  # how dates written in numbers only (31/01/2026) were read: day-first/month-first
    date_order_note: str = ""  # the dates could be read either way (or were written both ways): which way was taken

    def top_note(self) -> str:
        """How many groups --top left out of the group tables (empty when none were)."""
        total = self.groups_total or len(self.shares)
        if total <= len(self.shares):
            return ""
        return f"the {len(self.shares)} largest of {total} groups shown; --top {total} shows all"

    def merged_note(self) -> str:
        """Which spellings of a group name were counted in one group (empty when none were)."""
        if not self.merged_spellings:
            return ""
        pairs = [f"{other!r} in {group!r}" for group, others in self.merged_spellings.items() for other in others]
        more = f" and {len(pairs) - 3} more (summary.json)" if len(pairs) > 3 else ""
        return f"group names differing only in case or spaces counted as one: {', '.join(pairs[:3])}{more}"

    def undated_note(self) -> str:
        """Where the texts without a readable date are left out (empty when there are none)."""
        if not self.n_undated:
            return ""
        if self.dated_groups:
            tables = "the group tables and the table over time"
        elif self.by_group_over_time is not None:
            tables = "the tables over time"
        else:
            tables = "the table over time"
        return f"{self.n_undated} texts without a readable date left out of {tables}"

    def summary(self) -> dict[str, Any]:
        """A JSON-able summary: overall shares, the groups, and the files written."""
        overall = {name: round(float(self.frame[name].mean()), 4) for name in self.label_names}
        return {
            "n": len(self.frame),
            "n_empty": self.n_empty,
            "n_undated": self.n_undated,
            "labels": self.label_names,
            "overall_shares": overall,
            "groups": len(self.shares),
            "groups_total": self.groups_total or len(self.shares),
            "merged_spellings": self.merged_spellings,
            "periods": 0 if self.over_time is None else len(self.over_time),
            "group_periods": 0 if self.by_group_over_time is None else len(self.by_group_over_time),
            "date_order": self.date_order,
            "date_order_note": self.date_order_note,
            "sentiment": self.sentiment is not None,
            "files": [str(p) for p in self.files],
        }


# --------------------------------------------------------------------------------------------------------------
# predicting
# --------------------------------------------------------------------------------------------------------------
def model_classifier(model_dir: str | os.PathLike[str], *, batch_size: int = 32) -> Classify:
    """A classify function for a model folder: texts -> (labels per text, label names, multi_label)."""
    from .predict import Predictor

    predictor = Predictor(model_dir, batch_size=batch_size)

    def classify(texts: Sequence[str]) -> tuple[list[Any], list[str], bool]:
        labels, _ = predictor.predict(list(texts))
        return labels, predictor.labels, predictor.multi_label

    setattr(classify, "multi_label", predictor.multi_label)  # noqa: B010  (read before any text is classified)
    return classify


def classify_in_chunks(
    classify: Classify, texts: Sequence[str], *, desc: str = "labelling"
) -> tuple[list[Any], list[str], bool]:
    """``classify(texts)``, run on ``CHUNK_ROWS`` texts at a time as ``predict`` does: the model's tokenized input is
    held for one chunk only (150k texts at once took 1.1 GB more than one chunk, the output the same). A progress
    bar (``desc``) counts the texts: a 1M-row corpus is labelled for many minutes, and nothing showed on stderr."""
    from .progress import progress_bar

    labels: list[Any] = []
    names: list[str] = []
    multi = False
    with progress_bar(total=len(texts), desc=desc, unit="text", dynamic_ncols=True) as bar:
        for start in range(0, len(texts), CHUNK_ROWS):
            got, names, multi = classify(texts[start : start + CHUNK_ROWS])
            labels.extend(got)
            bar.update(len(got))
    return labels, names, multi


def label_indicators(labels: Sequence[Any], label_names: Sequence[str]) -> pd.DataFrame:
    """One bool column per label: does the text have it (single-label: exactly one True per row)."""
    rows = [set(labs) if isinstance(labs, (list, tuple)) else {labs} for labs in labels]
    return pd.DataFrame({name: [name in row for row in rows] for name in label_names})


# --------------------------------------------------------------------------------------------------------------
# groups and periods
# --------------------------------------------------------------------------------------------------------------
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
    column = column.where(epoch.isna(), None).map(_date_text)
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
    if epoch.notna().any():
        dates = dates.fillna(epoch.dt.tz_localize(None).astype(dates.dtype))
    if dates.isna().all():
        raise InputError(
            f"date column {date_column!r} holds no readable dates (e.g. 2020-12-31 or Unix time 1609372800); pick another."
        )
    return dates


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
    found = [m for m in (NUMERIC_DATE.fullmatch(v) for v in column if isinstance(v, str)) if m]
    if not found:
        return DateOrder()
    day_first = [m.group(0).strip() for m in found if int(m.group(1)) > 12]
    month_first = [m.group(0).strip() for m in found if int(m.group(3)) > 12]
    option = "--dayfirst" if dayfirst else "--monthfirst"
    if day_first and month_first:
        if dayfirst is None:
            raise InputError(
                f"date column {date_column!r} holds dates written day-first ({day_first[0]}) and month-first "
                f"({month_first[0]}); pass --dayfirst or --monthfirst to read it one way (the others then count as "
                "without a readable date)."
            )
        other = month_first if dayfirst else day_first
        way = "month-first" if dayfirst else "day-first"
        return DateOrder(dayfirst, f"dates written {way} left out ({len(other)}, e.g. {other[0]}): {option} given")
    if day_first or month_first:
        shown = bool(day_first)
        if dayfirst is not None and dayfirst != shown:
            sample = (day_first or month_first)[0]
            way = "day-first" if shown else "month-first"
            raise InputError(f"{option} does not fit date column {date_column!r}: {sample} is {way}; drop {option}.")
        return DateOrder(shown)
    if dayfirst is not None:
        return DateOrder(dayfirst)
    either = next((m for m in found if m.group(1) != m.group(3)), None)
    if either is None:  # 01/01/2026, 02/02/2026: the same date either way
        return DateOrder(False)
    sample = either.group(0).strip()
    read = _numeric_date_iso(sample, dayfirst=False)
    return DateOrder(
        False,
        f"dates like {sample} could be day- or month-first: read month-first ({read}); pass --dayfirst to read them day-first",
    )


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


# --------------------------------------------------------------------------------------------------------------
# plots
# --------------------------------------------------------------------------------------------------------------
def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_shares(table: pd.DataFrame, label_names: Sequence[str], path: Path, *, title: str, kind: str) -> Path:
    """A bar chart (groups) or line chart (periods) of label shares, saved as a small PNG."""
    from .cards import PLAIN_TEXT

    plt = _pyplot()
    with plt.rc_context(PLAIN_TEXT):  # label and group names as written: two '$' ("$AAPL vs $TSLA") are no TeX
        return _plot_shares(plt, table, label_names, path, title=title, kind=kind)


def _plot_shares(
    plt: Any, table: pd.DataFrame, label_names: Sequence[str], path: Path, *, title: str, kind: str
) -> Path:
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=80)
    data = table.set_index("group")[list(label_names)] * 100
    if kind == "line":
        data.plot(ax=ax, marker="o", markersize=3)
    else:
        data.plot.bar(ax=ax, width=0.8)
    ax.set_ylabel("% of texts")
    ax.set_xlabel("")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, ncol=min(len(label_names), 4))
    ax.tick_params(axis="x", labelsize=7, rotation=45 if kind == "line" else 30)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_group_periods(table: pd.DataFrame, label_names: Sequence[str], path: Path, *, title: str) -> Path:
    """One small line chart per group (label shares per period, a gap where the group has no text), saved as a PNG;
    each panel's title gives the group's number of texts."""
    from .cards import PLAIN_TEXT

    plt = _pyplot()
    with plt.rc_context(PLAIN_TEXT):
        return _plot_group_periods(plt, table, label_names, path, title=title)


def _plot_group_periods(plt: Any, table: pd.DataFrame, label_names: Sequence[str], path: Path, *, title: str) -> Path:
    groups = list(dict.fromkeys(table["group"]))
    periods = sorted(set(table["period"]))
    cols = min(len(groups), 3)
    rows = -(-len(groups) // cols)
    height = 2.0 * rows + 1.0
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, height), dpi=80, sharey=True, squeeze=False)
    step = max(1, -(-len(periods) // 6))  # at most about 6 period names under a panel
    for ax, group in zip(axes.flat, groups, strict=False):
        part = table[table["group"] == group].set_index("period").reindex(periods)
        for name in label_names:
            ax.plot(range(len(periods)), part[name] * 100, marker="o", markersize=3, label=name)
        ax.set_title(f"{group} (n={int(part['n'].sum())})", fontsize=8)
        ax.set_ylim(0, 100)
        ax.set_xticks(range(0, len(periods), step), periods[::step])
        ax.tick_params(axis="both", labelsize=6)
    for ax in list(axes.flat)[len(groups) :]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("% of texts", fontsize=7)
    handles, names = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=min(len(label_names), 4), fontsize=7, frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.35 / height, 1, 1))
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_sentiment(table: pd.DataFrame, label_names: Sequence[str], sentiment: str, path: Path) -> Path:
    """A heatmap of the share of ``sentiment`` texts per group (rows) and label (columns)."""
    from .cards import PLAIN_TEXT

    plt = _pyplot()
    with plt.rc_context(PLAIN_TEXT):
        return _plot_sentiment(plt, table, label_names, sentiment, path)


def _plot_sentiment(plt: Any, table: pd.DataFrame, label_names: Sequence[str], sentiment: str, path: Path) -> Path:
    grid = table.pivot(index="group", columns="label", values=sentiment).reindex(columns=list(label_names))
    values = grid.to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(grid) + 1.4), dpi=80)
    image = ax.imshow(np.nan_to_num(values * 100, nan=0.0), cmap="Reds", vmin=0, vmax=100, aspect="auto")
    ax.set_xticks(range(len(label_names)), label_names, fontsize=8)
    ax.set_yticks(range(len(grid)), [str(g) for g in grid.index], fontsize=7)
    for (i, j), value in np.ndenumerate(values):
        ax.text(j, i, "–" if np.isnan(value) else f"{value * 100:.0f}", ha="center", va="center", fontsize=7)
    ax.set_title(f"% {sentiment} texts per label and group", fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.04)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------------------------------------------
# the stage
# --------------------------------------------------------------------------------------------------------------
def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "group"


def insights(
    classify: Classify,
    data: pd.DataFrame,
    *,
    group_by: str,
    text_column: str | None = None,
    date_column: str | None = None,
    freq: str = "M",
    sentiment: Classify | None = None,
    negative_label: str | None = None,
    output_dir: str | os.PathLike[str] | None = None,
    top: int | None = 15,
    dayfirst: bool | None = None,
) -> InsightsResult:
    """Label ``data`` with ``classify`` and tabulate label shares per group, per period and (optionally) sentiment.

    ``classify`` is :func:`model_classifier` of a trained student (or any function with its signature). With
    ``output_dir`` the tables are written as CSV and drawn as PNGs there, with ``summary.json``. ``dayfirst``
    reads dates in numbers only that could be either way (12/01/2026) day-first (see :func:`date_order`).
    """
    column = find_text_column(data, text_column)
    data = data.reset_index(drop=True)
    if not len(data):
        raise InputError("the input has no rows; give it at least one text.")
    # rows without a text are not labelled (a model labels "" as something) nor counted in any share
    has_text = ~data[column].map(is_missing_text)
    n_empty = int((~has_text).sum())
    data = data[has_text].reset_index(drop=True)
    if not len(data):
        raise InputError(f"none of the {n_empty} rows has a text in column {column!r}; pass --text-column.")
    texts = data[column].map(str).tolist()
    # a bad --group-by, --date-column or --freq, or a multi-label sentiment model, is said before the corpus is
    # labelled, not after (a typo in --group-by cost a whole labelling pass, then one error line and nothing written)
    keys = group_keys(data, group_by, text_column=column, date_column=date_column, dayfirst=dayfirst)
    merged: dict[str, list[str]] = {}
    if (
        group_by in data.columns
    ):  # "Nike", "nike " and "NIKE" were three groups, each with a third of the brand's texts
        keys, merged = merge_spellings(keys)
    dates = parse_dates(data, date_column, dayfirst=dayfirst) if date_column else None
    order = date_order(data[date_column], date_column, dayfirst) if date_column else DateOrder()
    periods = None if dates is None else dates.dt.to_period(_period_freq(freq)).astype(str)
    n_undated = 0 if dates is None else int(dates.isna().sum())  # left out of the table over time: said so
    if sentiment is not None and getattr(sentiment, "multi_label", False):  # a model_classifier says so up front
        raise InputError(MULTI_LABEL_SENTIMENT)
    labels, label_names, _ = classify_in_chunks(classify, texts)
    # the predictions take the label names; an input column of the same name (the experts' 4P columns) is kept
    # as input_<name>: side by side, every table held two columns of each label and the shares could not be taken
    taken = {*label_names, *(["sentiment"] if sentiment is not None else [])}
    inputs = data.rename(columns={c: f"input_{c}" for c in data.columns if c in taken})
    frame = pd.concat([inputs, label_indicators(labels, label_names)], axis=1)
    shares = shares_by(frame, keys, label_names, top=top)
    over_time = None
    if periods is not None:
        over_time = shares_by(frame, periods, label_names, top=None).sort_values("group").reset_index(drop=True)
    dated_groups = group_by in DATE_KEYS and group_by not in data.columns  # a column named "month" is a column
    by_group_over_time = None
    if periods is not None and not dated_groups:  # Nike's Price talk per month, not only the corpus's
        by_group_over_time = shares_by_group_and_period(frame, keys, periods, label_names, shares["group"].tolist())
    sent_table = None
    sentiments: list[str] = []
    if sentiment is not None:
        sent_labels, sentiments, multi = classify_in_chunks(sentiment, texts, desc="sentiment")
        if multi:
            raise InputError(MULTI_LABEL_SENTIMENT)
        frame["sentiment"] = sent_labels
        sent_table = sentiment_by(frame, keys, label_names, sentiments, top=top)
    result = InsightsResult(
        frame,
        list(label_names),
        shares,
        over_time,
        sent_table,
        n_empty=n_empty,
        n_undated=n_undated,
        dated_groups=dated_groups,
        merged_spellings=merged,
        # --top 15 kept 15 of 57 handles, and nothing said the other 42 existed
        groups_total=int(keys.explode().nunique()),
        by_group_over_time=by_group_over_time,
        date_order=order.name,
        date_order_note=order.note,
    )
    if output_dir is not None:
        focus = negative_label or _negative_name(sentiments)
        result.files = write_outputs(result, Path(output_dir), group_by=group_by, sentiment_focus=focus)
    return result


def _period_freq(freq: str) -> str:
    aliases = {"ME": "M", "QE": "Q", "YE": "Y", "A": "Y", "D": "D", "W": "W", "M": "M", "Q": "Q", "Y": "Y"}
    value = aliases.get(freq.upper())
    if value is None:
        raise InputError(f"--freq {freq!r} is not a period; use D, W, M, Q or Y.")
    return value


def _negative_name(sentiments: Sequence[str]) -> str | None:
    for name in sentiments:
        if name.lower().startswith("neg"):
            return name
    return sentiments[0] if sentiments else None


def write_outputs(result: InsightsResult, out: Path, *, group_by: str, sentiment_focus: str | None) -> list[Path]:
    """CSV tables, PNG plots and ``summary.json`` in ``out``; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    names = result.label_names
    files = [out / "shares_by_group.csv"]
    result.shares.to_csv(files[-1], index=False)
    files.append(
        plot_shares(result.shares, names, out / "shares_by_group.png", title=f"Labels by {group_by}", kind="bar")
    )
    if result.over_time is not None:
        files.append(out / "shares_over_time.csv")
        result.over_time.to_csv(files[-1], index=False)
        files.append(
            plot_shares(result.over_time, names, out / "shares_over_time.png", title="Labels over time", kind="line")
        )
    if result.by_group_over_time is not None:
        files.append(out / "shares_by_group_over_time.csv")
        result.by_group_over_time.to_csv(files[-1], index=False)
        png = out / "shares_by_group_over_time.png"
        files.append(
            plot_group_periods(result.by_group_over_time, names, png, title=f"Labels by {group_by} over time")
        )
    if result.sentiment is not None:
        files.append(out / "sentiment_by_group_label.csv")
        result.sentiment.to_csv(files[-1], index=False)
        if sentiment_focus and sentiment_focus in result.sentiment.columns:
            png = out / f"sentiment_{_safe_name(sentiment_focus)}.png"
            files.append(plot_sentiment(result.sentiment, names, sentiment_focus, png))
    summary = out / "summary.json"
    payload = result.summary()
    payload["files"] = [str(p) for p in [*files, summary]]
    summary.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    files.append(summary)
    # the tables an earlier run wrote here that this one does not (run again without --date-column or
    # --sentiment-model): they stayed beside the new ones, a plot over time of another corpus among them
    earlier = [out / "shares_over_time.csv", out / "shares_over_time.png", out / "sentiment_by_group_label.csv"]
    earlier += [out / "shares_by_group_over_time.csv", out / "shares_by_group_over_time.png"]
    for stale in [*earlier, *out.glob("sentiment_*.png")]:
        if stale not in files:
            stale.unlink(missing_ok=True)
    return files
