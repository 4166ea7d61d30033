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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .data import check_frame_text_values, find_column, find_text_column, is_missing_text, text_cells
from .errors import InputError
from .insights_groups import (
    DATE_KEYS,
    DateOrder,
    date_order,
    day_numbers_note,
    group_keys,
    merge_spellings,
    parse_dates,
    sentiment_by,
    shares_by,
    shares_by_group_and_period,
)
from .insights_groups import DERIVED_KEYS as DERIVED_KEYS
from .insights_groups import EPOCH_UNITS as EPOCH_UNITS
from .insights_groups import NUMERIC_DATE as NUMERIC_DATE
from .insights_groups import largest_groups as largest_groups
from .stream import CHUNK_ROWS
from .tables import write_table

Classify = Callable[[Sequence[str]], tuple[list[Any], list[str], bool]]
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
    day_numbers_note: str = ""  # dates were Excel day numbers: read in its 1900 date system (insights_groups)

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
        texts = "text" if self.n_undated == 1 else "texts"
        return f"{self.n_undated} {texts} without a readable date left out of {tables}"

    def tables(self, group_by: str) -> list[tuple[str, pd.DataFrame]]:
        """Every table the run built, each with a one-line title naming the CSV it is written to."""
        found = [
            (f"Labels by {group_by} (shares_by_group.csv)", self.shares),
            ("Labels over time (shares_over_time.csv)", self.over_time),
            (f"Labels by {group_by} over time (shares_by_group_over_time.csv)", self.by_group_over_time),
            (f"Sentiment by {group_by} and label (sentiment_by_group_label.csv)", self.sentiment),
        ]
        return [(title, table) for title, table in found if table is not None]

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
            "day_numbers_note": self.day_numbers_note,
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


def as_classifier(model: Classify | str | os.PathLike[str], *, name: str) -> Classify:
    """A classify function as given, or :func:`model_classifier` of a model folder (what ``sxhub insights MODEL``
    takes), as ``load_spec`` takes a TaskSpec or its path for the other stages; ``name`` is the parameter, named in
    the one line that refuses anything else."""
    if isinstance(model, (str, os.PathLike)):
        if not Path(model).is_dir():
            raise InputError(f"{name}={str(model)!r} is no model folder; pass the folder of a trained student.")
        return model_classifier(model)
    if not callable(model):
        raise InputError(
            f"{name}= takes a model folder (the path of a trained student) or a classify function, not "
            f"{type(model).__name__}."
        )
    return model


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
# plots
# --------------------------------------------------------------------------------------------------------------
def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_whole(path: Path, write: Callable[[Path], object]) -> None:
    """``write(tmp)`` to ``<path>.tmp``, then moved onto ``path``: a plot or summary.json is whole or not there
    (Ctrl-C while a PNG was saved left half of it, the earlier run's plot gone), and no ``.tmp`` is left behind."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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
    # each group or period named with its n: a brand of 1 text at 100% looked like one of 5,000
    named = [f"{group}\n(n={int(n):,})" for group, n in zip(table["group"], table["n"], strict=True)]
    data = (table[list(label_names)] * 100).set_axis(named)
    if kind == "line":  # every period's name where there is room (pandas placed a few ticks, some blank)
        data.reset_index(drop=True).plot(ax=ax, marker="o", markersize=3)
        step = max(1, -(-len(named) // 12))
        ax.set_xticks(range(0, len(named), step), named[::step])
    else:
        data.plot.bar(ax=ax, width=0.8)
    ax.set_ylabel("% of texts")
    ax.set_xlabel("")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, ncol=min(len(label_names), 4))
    ax.tick_params(axis="x", labelsize=7, rotation=45 if kind == "line" else 30)
    fig.tight_layout()
    save_whole(path, lambda tmp: fig.savefig(tmp, format="png"))
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
    save_whole(path, lambda tmp: fig.savefig(tmp, format="png"))
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
    counts = table.pivot(index="group", columns="label", values="n").reindex(index=grid.index, columns=grid.columns)
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(grid) + 1.4), dpi=80)
    image = ax.imshow(np.nan_to_num(values * 100, nan=0.0), cmap="Reds", vmin=0, vmax=100, aspect="auto")
    ax.set_xticks(range(len(label_names)), label_names, fontsize=8)
    ax.set_yticks(range(len(grid)), [str(g) for g in grid.index], fontsize=7)
    for (i, j), value in np.ndenumerate(values):
        # each share with the n it is of: 100 of 1 text read as 100 of 500
        shown = "–" if np.isnan(value) else f"{value * 100:.0f}\n(n={int(counts.iat[i, j]):,})"
        dark = not np.isnan(value) and value >= 0.6  # black on the darkest reds could not be read
        ax.text(j, i, shown, ha="center", va="center", fontsize=6, color="white" if dark else "black")
    ax.set_title(f"% {sentiment} texts per label and group", fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.04)
    fig.tight_layout()
    save_whole(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)
    return path


# --------------------------------------------------------------------------------------------------------------
# the stage
# --------------------------------------------------------------------------------------------------------------
def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "group"


def insights(
    classify: Classify | str | os.PathLike[str],
    data: pd.DataFrame,
    *,
    group_by: str,
    text_column: str | None = None,
    date_column: str | None = None,
    freq: str = "M",
    sentiment: Classify | str | os.PathLike[str] | None = None,
    negative_label: str | None = None,
    output_dir: str | os.PathLike[str] | None = None,
    top: int | None = 15,
    dayfirst: bool | None = None,
) -> InsightsResult:
    """Label ``data`` with ``classify`` and tabulate label shares per group, per period and (optionally) sentiment.

    ``classify`` is a trained student's model folder (as ``sxhub insights MODEL``), :func:`model_classifier` of one,
    or any function with its signature; ``sentiment`` likewise. With
    ``output_dir`` the tables are written as CSV and drawn as PNGs there, with ``summary.json``. ``dayfirst``
    reads dates in numbers only that could be either way (12/01/2026) day-first (see :func:`date_order`).
    """
    classify = as_classifier(classify, name="classify")
    sentiment = None if sentiment is None else as_classifier(sentiment, name="sentiment")
    column = find_text_column(data, text_column)
    # ids or scores (--text-column idx): refused before labelling, as predict does (texts one per line are texts)
    check_frame_text_values(data, column, text_column)
    # bytes (a Parquet binary column) decoded, a list refused, as predict reads them: their reprs were labelled
    data = data.reset_index(drop=True)  # a copy: the caller's frame is not changed
    data[column] = text_cells(data[column], column)
    if not len(data):
        raise InputError("the input has no rows; give it at least one text.")
    # rows without a text are not labelled (a model labels "" as something) nor counted in any share
    has_text = ~data[column].map(is_missing_text)
    n_empty = int((~has_text).sum())
    data = data[has_text]  # the input's row numbers kept until the dates are read: a date error names its row
    if not len(data):
        raise InputError(f"none of the {n_empty} rows has a text in column {column!r}; pass --text-column.")
    texts = data[column].map(str).tolist()
    # a bad --group-by, --date-column or --freq, or a multi-label sentiment model, is said before the corpus is
    # labelled, not after (a typo in --group-by cost a whole labelling pass, then one error line and nothing written)
    if group_by not in data.columns and group_by not in DERIVED_KEYS:  # "brand" reads "Brand", as the texts are found
        group_by = find_column(data.columns, group_by) or group_by
    if date_column:  # "created_at" reads "Created_At" too: it had to match exactly ("date column not found")
        date_column = find_column(data.columns, date_column) or date_column
    keys = group_keys(data, group_by, text_column=column, date_column=date_column, dayfirst=dayfirst)
    merged: dict[str, list[str]] = {}
    if (
        group_by in data.columns
    ):  # "Nike", "nike " and "NIKE" were three groups, each with a third of the brand's texts
        keys, merged = merge_spellings(keys)
    dates = parse_dates(data, date_column, dayfirst=dayfirst) if date_column else None
    order = date_order(data[date_column], date_column, dayfirst) if date_column else DateOrder()
    data, keys = data.reset_index(drop=True), keys.reset_index(drop=True)
    dates = None if dates is None else dates.reset_index(drop=True)
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
        day_numbers_note=day_numbers_note(data[date_column]) if date_column else "",
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
    """CSV tables, PNG plots and ``summary.json`` in ``out``; returns the files written.

    They are written into a folder inside ``out`` first, then moved into place together: a run stopped while it
    drew (Ctrl-C, a full disk) left its new tables beside the earlier run's plots and summary.json."""
    import shutil

    out.mkdir(parents=True, exist_ok=True)
    stage = out / STAGE
    shutil.rmtree(stage, ignore_errors=True)  # left by a run killed while it wrote
    stage.mkdir()
    try:
        made = _write_files(result, stage, out, group_by=group_by, sentiment_focus=sentiment_focus)
        files = []
        for path in made:  # summary.json last
            os.replace(path, out / path.name)
            files.append(out / path.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    # the tables an earlier run wrote here that this one does not (run again without --date-column or
    # --sentiment-model): they stayed beside the new ones, a plot over time of another corpus among them
    earlier = [out / "shares_over_time.csv", out / "shares_over_time.png", out / "sentiment_by_group_label.csv"]
    earlier += [out / "shares_by_group_over_time.csv", out / "shares_by_group_over_time.png"]
    for stale in [*earlier, *out.glob("sentiment_*.png")]:
        if stale not in files:
            stale.unlink(missing_ok=True)
    return files


STAGE = ".insights-writing"  # the folder inside OUT that a run's files are written to before they are moved out


def _write_files(
    result: InsightsResult, stage: Path, out: Path, *, group_by: str, sentiment_focus: str | None
) -> list[Path]:
    """Every file of :func:`write_outputs` in ``stage``, summary.json last (listing them as they will be in ``out``)."""
    names = result.label_names
    # as every sxhub CSV is written: whole or not at all, and a group name holding a lone CR quoted (write_table)
    files = [write_table(result.shares, stage / "shares_by_group.csv")]
    files.append(
        plot_shares(result.shares, names, stage / "shares_by_group.png", title=f"Labels by {group_by}", kind="bar")
    )
    if result.over_time is not None:
        files.append(write_table(result.over_time, stage / "shares_over_time.csv"))
        png = stage / "shares_over_time.png"
        files.append(plot_shares(result.over_time, names, png, title="Labels over time", kind="line"))
    if result.by_group_over_time is not None:
        files.append(write_table(result.by_group_over_time, stage / "shares_by_group_over_time.csv"))
        png = stage / "shares_by_group_over_time.png"
        files.append(
            plot_group_periods(result.by_group_over_time, names, png, title=f"Labels by {group_by} over time")
        )
    if result.sentiment is not None:
        files.append(write_table(result.sentiment, stage / "sentiment_by_group_label.csv"))
        if sentiment_focus and sentiment_focus in result.sentiment.columns:
            png = stage / f"sentiment_{_safe_name(sentiment_focus)}.png"
            files.append(plot_sentiment(result.sentiment, names, sentiment_focus, png))
    summary = stage / "summary.json"
    payload = result.summary()
    payload["files"] = [str(out / p.name) for p in [*files, summary]]
    summary.write_text(json.dumps(payload, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return [*files, summary]
