"""``sxhub insights``: what a trained expert reveals about a corpus (label shares per group, over time, sentiment)."""

from __future__ import annotations

from pathlib import Path

import click

from ..data import read_table
from . import emit_json
from .params import OutputPath, requires

SHOWN_ROWS = 30  # rows of each table printed; the CSV in -o has them all


@click.command()
@click.argument("model", type=click.Path(exists=True, file_okay=False))
@click.argument("input_path", metavar="INPUT")
@click.option(
    "--group-by",
    required=True,
    help="A column (names differing only in case or spaces are one group), or month/quarter/year/week (of "
    "--date-column) or handle.",
)
@click.option(
    "--date-column",
    default=None,
    help="Dates for the tables over time, overall and per group (e.g. created_at): ISO, 31/12/2020 or 12/31/2020 "
    "(the order the column shows), a tweet's date, Unix time or an Excel day number.",
)
@click.option(
    "--dayfirst/--monthfirst",
    default=None,
    help="Read dates in numbers only that could be either way (12/01/2026) day-first or month-first.  [default: "
    "the order the column shows; month-first where every date could be either, said in the output]",
)
@click.option("--freq", default="M", show_default=True, help="Period of the over-time table: D, W, M, Q or Y.")
@click.option(
    "--sentiment-model",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="A single-label sentiment model folder: sentiment per label and group.",
)
@click.option("--text-column", default=None, help="The text column (default: text or a usual synonym).")
@click.option("--limit", type=click.IntRange(1), default=None, help="Use only the first N rows (after --offset).")
@click.option("--offset", type=click.IntRange(min=0), default=0, help="Skip the first N rows of INPUT.")
@click.option("--shard", metavar="I/N", help="Only shard I of N (rows whose position is I modulo N), e.g. 0/4.")
@click.option("--top", type=click.IntRange(min=1), default=15, show_default=True, help="Keep the N largest groups.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option(
    "-o",
    "--output",
    "output_dir",
    type=OutputPath(folder=True),
    default="insights",
    show_default=True,
    help="Folder for the CSV tables, PNG plots and summary.json.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary on stdout.")
def insights(
    model: str,
    input_path: str,
    group_by: str,
    date_column: str | None,
    dayfirst: bool | None,
    freq: str,
    sentiment_model: str | None,
    text_column: str | None,
    limit: int | None,
    offset: int,
    shard: str | None,
    top: int,
    batch_size: int,
    output_dir: str,
    as_json: bool,
) -> None:
    """Label INPUT with the expert MODEL and report label shares per group and over time, with plots.

    INPUT is a table, a Hub dataset id, or texts one per line: a .txt file, or - for stdin.

    Example: sxhub insights 4p-expert tweets.csv --group-by month --date-column created_at -o insights/
    """
    from ..insights import insights as run_insights
    from ..insights import model_classifier

    requires("--freq", "--date-column", when=date_column is not None)  # the period of the over-time table
    requires("--dayfirst" if dayfirst else "--monthfirst", "--date-column", when=date_column is not None)
    from ..stream import RowSlice

    # the votes of an annotated file (most of its size: 2.7 GB read for 1M rows) are of no use here, unless named
    needed = {text_column, group_by, date_column}
    data = read_table(
        input_path,
        rows=RowSlice.parse(offset=offset, limit=limit, shard=shard),
        usecols=lambda name: name != "votes" or name in needed,
        lines=True,  # a .txt file or - (stdin): one text per line, as predict reads them
    )
    result = run_insights(
        model_classifier(model, batch_size=batch_size),
        data,
        group_by=group_by,
        text_column=text_column,
        date_column=date_column,
        freq=freq,
        sentiment=model_classifier(sentiment_model, batch_size=batch_size) if sentiment_model else None,
        output_dir=Path(output_dir),
        top=top,
        dayfirst=dayfirst,
    )
    summary = result.summary()
    if as_json:
        emit_json(summary)
        return
    # the table per brand was all that was printed: the tables over time (overall and per brand) and the sentiment
    # one were written to -o but never shown. Each is printed under its title; the summary line stays last
    for title, table in result.tables(group_by):
        click.echo(f"{title}:")
        # a table over days (--freq D) of a year per brand is thousands of rows: its first rows, then where it is
        click.echo(table.head(SHOWN_ROWS).to_string(index=False))
        if len(table) > SHOWN_ROWS:
            name = title.rsplit("(", 1)[-1].rstrip(")")
            click.echo(f"... and {len(table) - SHOWN_ROWS:,} more rows (the whole table: {Path(output_dir) / name})")
    shares = ", ".join(f"{k} {v:.0%}" for k, v in summary["overall_shares"].items())
    empty = f" ({summary['n_empty']} rows without a text left out)" if summary["n_empty"] else ""
    if result.date_order_note:
        empty += f" ({result.date_order_note})"
    if result.day_numbers_note:
        empty += f" ({result.day_numbers_note})"
    if summary["n_undated"]:
        empty += f" ({result.undated_note()})"
    if result.merged_spellings:
        empty += f" ({result.merged_note()})"
    if result.top_note():
        empty += f" ({result.top_note()})"
    click.echo(f"{summary['n']} texts{empty}; overall: {shares}; wrote {len(result.files)} files to {output_dir}")
