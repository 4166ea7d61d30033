"""insights: label shares per group and over time, sentiment per label and group, plots and CSVs."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import build_tiny_model

from sxhub.cli import cli
from sxhub.errors import InputError
from sxhub.insights import group_keys, insights, label_indicators, model_classifier, parse_dates, shares_by

LABELS = ["Product", "Place", "Price", "Promotion"]


def keyword_4p(texts: Sequence[str]) -> tuple[list[Any], list[str], bool]:
    """A transparent multi-label 'model': a label is on when its keyword is in the text."""
    words = {"Product": "coat", "Place": "store", "Price": "cheap", "Promotion": "ad"}
    labels = [[name for name, word in words.items() if word in t.split()] for t in texts]
    return labels, LABELS, True


def keyword_sentiment(texts: Sequence[str]) -> tuple[list[Any], list[str], bool]:
    return [("negative" if "bad" in t else "positive") for t in texts], ["negative", "neutral", "positive"], False


@pytest.fixture
def corpus() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "created_at": ["2020-01-03", "2020-01-20", "2020-02-02", "2020-02-10", "2020-02-11", "2020-03-01"],
            "brand": ["A", "A", "B", "B", "B", "A"],
            "text": [
                "love the coat @zara",
                "bad store service @zara @hm",
                "cheap coat",
                "bad store again",
                "great ad campaign @hm",
                "bad coat and bad store",
            ],
        }
    )


def test_texts_are_classified_a_chunk_at_a_time(corpus: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    """insights gave the model every text at once: 150k PhraseBank sentences took 1.8 GB against predict's 0.6 GB
    (the tokenized texts of all of them held together). It classifies a chunk at a time, as predict does, with the
    same tables."""
    whole = insights(keyword_4p, corpus, group_by="brand", date_column="created_at", sentiment=keyword_sentiment)
    sizes: list[int] = []

    def counted(classify: Any) -> Any:
        def run(texts: Sequence[str]) -> tuple[list[Any], list[str], bool]:
            sizes.append(len(texts))
            return classify(texts)  # type: ignore[no-any-return]

        return run

    monkeypatch.setattr("sxhub.insights.CHUNK_ROWS", 4)
    chunked = insights(
        counted(keyword_4p), corpus, group_by="brand", date_column="created_at", sentiment=counted(keyword_sentiment)
    )
    assert sizes == [4, 2, 4, 2]
    for table in ("shares", "over_time", "sentiment"):
        pd.testing.assert_frame_equal(getattr(chunked, table), getattr(whole, table))


def test_dates_in_a_tweet_format_are_read_without_a_warning() -> None:
    """Twitter's created_at ("Wed Oct 10 20:19:24 +0000 2018") is read one date at a time: pandas printed a
    UserWarning of two lines on stderr each time (twice per run, with -q too), and before the one error line of a
    --date-column that holds no dates."""
    import warnings

    from sxhub.insights import parse_dates

    frame = pd.DataFrame({"created_at": ["Wed Oct 10 20:19:24 +0000 2018", "Fri Nov 02 08:00:00 +0000 2018", ""]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dates = parse_dates(frame, "created_at")
        assert dates.dt.strftime("%Y-%m-%d %H:%M").tolist()[:2] == ["2018-10-10 20:19", "2018-11-02 08:00"]
        assert pd.isna(dates[2])
        with pytest.raises(InputError, match="holds no readable dates"):
            parse_dates(pd.DataFrame({"brand": ["A", "B"]}), "brand")


def test_dates_written_in_two_forms_are_all_read(corpus: pd.DataFrame) -> None:
    """A corpus joined from two exports ("2020-01-03" and "2020-02-10 09:30:00", or ISO with a zone): pandas took the
    first date's format for the column, so every date in the other form was NaT, counted as "without a readable
    date" and left out of the table over time and of the month groups."""
    import warnings

    corpus["created_at"] = [
        "2020-01-03",
        "2020-01-20 09:30:00",
        "2020-02-02T10:00:00Z",
        "Mon Feb 10 20:19:24 +0000 2020",
        "2020-02-11",
        "",
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = insights(keyword_4p, corpus, group_by="month", date_column="created_at")
    assert result.n_undated == 1, "only the empty cell has no date"
    assert result.over_time is not None
    assert result.over_time.set_index("group")["n"].to_dict() == {"2020-01": 2, "2020-02": 3}
    assert result.shares.set_index("group")["n"].to_dict() == {"2020-01": 2, "2020-02": 3}


@pytest.mark.parametrize("written", [int, str], ids=["jsonl-or-parquet-numbers", "csv-digits"])
def test_dates_in_unix_time_fall_in_their_months(corpus: pd.DataFrame, written: Any) -> None:
    """created_at in Unix seconds (an API's or BI tool's export): a JSONL or Parquet corpus, read as numbers, had
    every text in 1970-01 (pandas took the seconds as nanoseconds); a CSV's digits were no date at all, and the
    error said to pick another date column. Seconds and milliseconds are read by their size; an 8-digit number
    (20200210) and a year stay the dates they write."""
    seconds = [int(pd.Timestamp(d, tz="UTC").timestamp()) for d in corpus["created_at"]]
    corpus["created_at"] = [written(s) for s in seconds[:3]] + [written(s * 1000) for s in seconds[3:5]] + [None]
    result = insights(keyword_4p, corpus, group_by="month", date_column="created_at")
    assert result.over_time is not None
    assert result.over_time.set_index("group")["n"].to_dict() == {"2020-01": 2, "2020-02": 3}
    assert result.n_undated == 1, "only the missing cell has no date"
    corpus["created_at"] = [written(v) for v in [20200103, 20200120, 20200202, 20200210, 2020, 20200301]]
    result = insights(keyword_4p, corpus, group_by="month", date_column="created_at")
    assert result.shares.set_index("group")["n"].to_dict() == {"2020-01": 3, "2020-02": 2, "2020-03": 1}


@pytest.mark.parametrize("written", [int, str, lambda v: f"{v}.75"], ids=["numbers", "csv-digits", "with-a-time"])
def test_excel_serial_dates_fall_in_their_months(corpus: pd.DataFrame, written: Any) -> None:
    """A date column saved from Excel in the General format holds day numbers (43833 for 2020-01-03, a fraction for
    the time): each was a text "without a readable date", nothing said why, and a column of them "holds no readable
    dates". A number of 5 digits is read as Excel writes it (days since 1899-12-30); 8 digits and years as before."""
    serials = [(pd.Timestamp(d) - pd.Timestamp("1899-12-30")).days for d in corpus["created_at"]]
    assert serials[0] == 43833
    corpus["created_at"] = [written(s) for s in serials]
    result = insights(keyword_4p, corpus, group_by="month", date_column="created_at")
    assert result.n_undated == 0
    assert result.shares.set_index("group")["n"].to_dict() == {"2020-01": 2, "2020-02": 3, "2020-03": 1}
    assert parse_dates(pd.DataFrame({"d": ["43833.75"]}), "d")[0] == pd.Timestamp("2020-01-03 18:00")


def test_excel_day_numbers_say_which_date_system_they_were_read_in(corpus: pd.DataFrame) -> None:
    """A workbook in Excel's 1904 date system (the default of Excel for Mac before 2011, kept by its workbooks)
    writes a date in the General format as 1,462 days fewer (42371 for 2020-01-03): read in the 1900 system, as
    Windows Excel and Sheets write it, every period was 4 years early, and no CSV says which system wrote it. Where
    a date was read as a day number, the line and summary.json say how, and the fix for the other system."""
    note = (
        "dates written as Excel day numbers (e.g. 43833) read in Excel's 1900 date system (Windows Excel, Sheets); "
        "from a workbook in the 1904 date system (Excel for Mac before 2011) they are 4 years early: format the "
        "column as dates there and save the CSV again"
    )
    iso = insights(keyword_4p, corpus, group_by="month", date_column="created_at")
    assert iso.day_numbers_note == "" and iso.summary()["day_numbers_note"] == ""
    corpus["created_at"] = [(pd.Timestamp(d) - pd.Timestamp("1899-12-30")).days for d in corpus["created_at"]]
    result = insights(keyword_4p, corpus, group_by="month", date_column="created_at")
    assert result.day_numbers_note == note.replace("e.g. 43833", f"e.g. {corpus['created_at'][0]}")
    assert result.summary()["day_numbers_note"] == result.day_numbers_note


def test_texts_without_a_readable_date_are_counted(corpus: pd.DataFrame) -> None:
    """Texts whose date is empty or unreadable are in the group tables but not in the table over time: it reported
    6 texts while the periods counted 4, and nothing said where the other 2 went."""
    corpus.loc[1, "created_at"] = ""
    corpus.loc[4, "created_at"] = "not a date"
    result = insights(keyword_4p, corpus, group_by="brand", date_column="created_at")
    assert result.over_time is not None and int(result.over_time["n"].sum()) == 4
    assert result.summary()["n"] == 6 and result.summary()["n_undated"] == 2
    assert insights(keyword_4p, corpus, group_by="brand").summary()["n_undated"] == 0


def test_label_indicators_single_and_multi() -> None:
    single = label_indicators(["a", "b"], ["a", "b"])
    assert single.to_dict("list") == {"a": [True, False], "b": [False, True]}
    multi = label_indicators([["a", "b"], []], ["a", "b"])
    assert multi.to_dict("list") == {"a": [True, False], "b": [True, False]}


def test_shares_per_column_group(corpus: pd.DataFrame) -> None:
    result = insights(keyword_4p, corpus, group_by="brand")
    by = result.shares.set_index("group")
    assert by.loc["A", "n"] == 3 and by.loc["B", "n"] == 3
    assert by.loc["A", "Product"] == pytest.approx(2 / 3, abs=1e-4)
    assert by.loc["B", "Place"] == pytest.approx(1 / 3, abs=1e-4)
    assert by.loc["B", "Promotion"] == pytest.approx(1 / 3, abs=1e-4)
    assert result.over_time is None and result.sentiment is None


def test_group_names_spelled_differently_are_one_group(corpus: pd.DataFrame, tmp_path: Path) -> None:
    """A brand column typed by hand ("Nike", "nike ", "NIKE"): each spelling was a group of its own, so the brand's
    texts were split over three rows of the table (and --top could keep one of them). They are one group, named by
    the most frequent spelling, and the summary says which spellings it counts."""
    corpus["brand"] = ["Nike", "nike ", "NIKE", "Nike", "Adidas", None]
    result = insights(keyword_4p, corpus, group_by="brand", sentiment=keyword_sentiment, output_dir=tmp_path)
    by = result.shares.set_index("group")
    assert by["n"].to_dict() == {"Nike": 4, "Adidas": 1, "(missing)": 1}
    assert by.loc["Nike", "Product"] == pytest.approx(2 / 4) and by.loc["Nike", "Place"] == pytest.approx(2 / 4)
    assert result.sentiment is not None and set(result.sentiment["group"]) == {"Nike", "Adidas", "(missing)"}
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["merged_spellings"] == {"Nike": ["NIKE", "nike "]}
    assert "'NIKE' in 'Nike'" in result.merged_note()
    corpus["brand"] = ["A", "B", "A", "B", "B", "A"]
    assert insights(keyword_4p, corpus, group_by="brand").merged_note() == ""


def test_handle_groups_count_a_text_in_each_group(corpus: pd.DataFrame) -> None:
    keys = group_keys(corpus, "handle", text_column="text", date_column=None)
    assert keys[1] == ["@hm", "@zara"] and keys[2] == ["(none)"]
    frame = label_indicators(keyword_4p(corpus["text"].tolist())[0], LABELS)
    table = shares_by(frame, keys, LABELS, top=None).set_index("group")
    assert table.loc["@hm", "n"] == 2 and table.loc["@zara", "n"] == 2 and table.loc["(none)", "n"] == 3


def test_month_groups_over_time_sentiment_and_files(corpus: pd.DataFrame, tmp_path: Path) -> None:
    result = insights(
        keyword_4p,
        corpus,
        group_by="brand",
        date_column="created_at",
        freq="M",
        sentiment=keyword_sentiment,
        output_dir=tmp_path / "out",
    )
    assert result.over_time is not None
    assert result.over_time["group"].tolist() == ["2020-01", "2020-02", "2020-03"]
    assert result.over_time["n"].tolist() == [2, 3, 1]
    sent = result.sentiment
    assert sent is not None
    place_b = sent[(sent["group"] == "B") & (sent["label"] == "Place")].iloc[0]
    assert place_b["n"] == 1 and place_b["negative"] == 1.0
    price_a = sent[(sent["group"] == "A") & (sent["label"] == "Price")].iloc[0]
    assert price_a["n"] == 0 and pd.isna(price_a["negative"])
    names = {p.name for p in result.files}
    assert {"shares_by_group.csv", "shares_by_group.png", "shares_over_time.csv", "shares_over_time.png"} <= names
    assert {"sentiment_by_group_label.csv", "sentiment_negative.png", "summary.json"} <= names
    for png in (tmp_path / "out").glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size < 200_000
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["n"] == 6 and summary["overall_shares"]["Place"] == pytest.approx(0.5)


def test_a_second_run_into_the_same_folder_leaves_no_table_of_the_first(corpus: pd.DataFrame, tmp_path: Path) -> None:
    """A run with --date-column and --sentiment-model, then one without into the same -o: the first run's table
    and plot over time and its sentiment tables stayed beside the new ones (a plot of another corpus), unlisted in
    summary.json; a file of the user's own there is left alone."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    first = insights(
        keyword_4p, corpus, group_by="brand", date_column="created_at", sentiment=keyword_sentiment, output_dir=out
    )
    assert {"shares_over_time.png", "sentiment_negative.png"} <= {p.name for p in first.files}
    second = insights(keyword_4p, corpus.head(3), group_by="brand", output_dir=out)
    on_disk = {p.name for p in out.iterdir()}
    assert on_disk == {p.name for p in second.files} | {"notes.txt"}
    assert on_disk == {"shares_by_group.csv", "shares_by_group.png", "summary.json", "notes.txt"}


def test_derived_month_group_needs_date_column(corpus: pd.DataFrame) -> None:
    with pytest.raises(InputError, match="--date-column"):
        insights(keyword_4p, corpus, group_by="month")
    with pytest.raises(InputError, match="neither a column"):
        insights(keyword_4p, corpus, group_by="country")
    with pytest.raises(InputError, match="--freq"):
        insights(keyword_4p, corpus, group_by="brand", date_column="created_at", freq="fortnight")
    result = insights(keyword_4p, corpus, group_by="month", date_column="created_at")
    assert result.shares["group"].tolist() == ["2020-02", "2020-01", "2020-03"]  # largest first


def test_tiny_model_end_to_end_and_cli(corpus: pd.DataFrame, tmp_path: Path) -> None:
    model = build_tiny_model(tmp_path / "tiny", num_labels=3)
    classify = model_classifier(model)
    labels, names, multi = classify(["profit rose", "sales fell"])
    assert not multi and len(labels) == 2 and set(labels) <= set(names)
    source = tmp_path / "corpus.csv"
    corpus.to_csv(source, index=False)
    out = tmp_path / "ins"
    run = CliRunner().invoke(
        cli,
        [
            "insights",
            str(model),
            str(source),
            "--group-by",
            "month",
            "--date-column",
            "created_at",
            "--sentiment-model",
            str(model),
            "-o",
            str(out),
            "--json",
        ],
    )
    assert run.exit_code == 0, run.output
    summary = json.loads(run.stdout)
    assert summary["n"] == 6 and summary["periods"] == 3 and summary["sentiment"] is True
    assert (out / "shares_by_group.png").is_file() and (out / "shares_over_time.csv").is_file()
    total = pd.read_csv(out / "shares_by_group.csv")[names].sum(axis=1)
    assert total.round(3).eq(1.0).all()  # single-label: the shares of each group add up to one


@pytest.mark.parametrize(("group_by", "tables"), [("month", "the group tables and the table over time"),
                                                  ("brand", "the tables over time")])  # fmt: skip
def test_the_line_says_which_tables_leave_undated_texts_out(
    corpus: pd.DataFrame, group_by: str, tables: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--group-by month (any period of the dates) leaves the texts without a readable date out of the group table
    too, but the line said only "left out of the table over time". --group-by brand leaves them out of the table
    over time and of the one per brand and period."""
    from conftest import run_cli

    model = build_tiny_model(tmp_path / "tiny", num_labels=3)
    corpus.loc[1, "created_at"] = ""
    corpus.loc[4, "created_at"] = "not a date"
    corpus.to_csv(tmp_path / "corpus.csv", index=False)
    argv = ["-q", "insights", str(model), str(tmp_path / "corpus.csv"), "--group-by", group_by]
    code, stdout, err = run_cli([*argv, "--date-column", "created_at", "-o", str(tmp_path / "out")], capsys)
    assert code == 0, err
    assert f"6 texts (2 texts without a readable date left out of {tables}); overall: " in stdout.splitlines()[-1]
    groups = pd.read_csv(tmp_path / "out" / "shares_by_group.csv")
    assert int(groups["n"].sum()) == (4 if group_by == "month" else 6)


def test_cli_reads_a_txt_file_and_stdin_one_text_per_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``insights MODEL texts.txt`` was refused ("has extension '.txt'") while ``predict`` read the file one text per
    line; it is read by predict's reader now, and so is ``-`` (stdin). An empty line is a row without a text, left
    out and counted as an empty cell is."""
    import io
    import sys

    from conftest import run_cli

    model = build_tiny_model(tmp_path / "tiny", num_labels=3)
    lines = b"love the coat @zara\nbad store @hm\n\ncheap coat @zara\n"
    (tmp_path / "in.txt").write_bytes(lines)
    for source in (str(tmp_path / "in.txt"), "-"):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(lines)))
        out = tmp_path / f"ins-{len(source)}"
        code, stdout, err = run_cli(
            ["-q", "insights", str(model), source, "--group-by", "handle", "-o", str(out), "--json"], capsys
        )
        assert code == 0, err
        summary = json.loads(stdout)
        assert (summary["n"], summary["n_empty"], summary["groups"]) == (3, 1, 2)
        groups = pd.read_csv(out / "shares_by_group.csv")
        assert dict(zip(groups["group"], groups["n"], strict=True)) == {"@zara": 2, "@hm": 1}


@pytest.mark.parametrize("option", ["--batch-size", "--top"])
def test_a_count_below_one_is_a_usage_error_naming_the_option(tmp_path: Path, option: str) -> None:
    """--batch-size 0 was refused as 'batch_size=0 must be a positive integer', the Python field, once the input
    was read and the model was being set up; like evaluate's --batch-size it is a range click checks, as --top."""
    source = tmp_path / "corpus.csv"
    pd.DataFrame({"brand": ["A"], "text": ["coat"]}).to_csv(source, index=False)
    model = tmp_path / "model"
    model.mkdir()
    run = CliRunner().invoke(cli, ["insights", str(model), str(source), "--group-by", "brand", option, "0"])
    assert run.exit_code == 2 and f"Invalid value for '{option}': 0 is not in the range x>=1." in run.output


def test_top_keeps_the_same_groups_in_the_shares_and_the_sentiment_tables() -> None:
    """At --top's cut, among groups of one size, the shares table kept the first by name (B) and the sentiment
    table the first to appear in the file (C): the two tables of one run described different groups."""
    frame = pd.DataFrame({"brand": ["C", "A", "B", "A"], "text": ["bad coat", "coat", "cheap coat", "store"]})
    result = insights(keyword_4p, frame, group_by="brand", sentiment=keyword_sentiment, top=2)
    assert result.sentiment is not None
    assert result.shares["group"].tolist() == ["A", "B"]
    assert result.sentiment["group"].unique().tolist() == ["A", "B"]
    by = result.sentiment.set_index(["group", "label"])
    assert by.loc[("B", "Product"), "n"] == 1 and by.loc[("B", "Product"), "positive"] == 1.0


def test_the_summary_says_how_many_groups_top_left_out(corpus: pd.DataFrame) -> None:
    """--top 15 of 222 @handles showed 15 rows and "groups": 15 in summary.json; nothing said 207 groups were left
    out. The summary counts all groups and the line says how to show them."""
    result = insights(keyword_4p, corpus, group_by="handle", top=1)
    assert result.shares["group"].tolist() == ["(none)"]  # 3 texts, @zara and @hm 2 each
    assert result.summary()["groups"] == 1 and result.summary()["groups_total"] == 3
    assert result.top_note() == "the 1 largest of 3 groups shown; --top 3 shows all"
    everything = insights(keyword_4p, corpus, group_by="handle", top=3)
    assert everything.summary()["groups_total"] == 3 and everything.top_note() == ""


def test_rows_without_a_text_are_not_labelled_nor_counted(corpus: pd.DataFrame) -> None:
    """A model labels "" as something: rows without a text were labelled and counted in every share."""
    frame = pd.concat([corpus, pd.DataFrame({"brand": ["A"] * 4, "text": [None, "", "  ", "nan"]})])
    result = insights(keyword_4p, frame, group_by="brand")
    assert result.shares.set_index("group").loc["A", "n"] == 3 and result.summary()["n_empty"] == 4
    assert result.summary()["n"] == 6


def test_input_columns_named_like_a_label_are_kept_beside_the_predictions(corpus: pd.DataFrame) -> None:
    """The 4P tweets file carries the experts' Product/Place/Price/Promotion columns: side by side with the
    predictions every label was two columns, and insights ended in a TypeError."""
    frame = corpus.assign(Product=["x"] * 6, Price=[True] * 6)
    result = insights(keyword_4p, frame, group_by="brand")
    assert result.shares.set_index("group").loc["A", "Product"] == pytest.approx(2 / 3, abs=1e-4)
    assert result.frame["input_Product"].tolist() == ["x"] * 6 and result.summary()["overall_shares"][
        "Price"
    ] == pytest.approx(1 / 6, abs=1e-3)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_a_group_column_of_lists_counts_a_text_in_each_group(
    tmp_path: Path, corpus: pd.DataFrame, suffix: str
) -> None:
    """A list column read from Parquet is numpy arrays (insights crashed), from CSV JSON text: each counts the text
    in each of its groups, as ``handle`` does."""
    from sxhub.data import read_table, write_table

    tags = [["a", "b"], ["a"], [], ["b"], ["a", "b"], ["b"]]
    path = write_table(corpus.assign(tags=tags), tmp_path / f"in{suffix}")
    table = insights(keyword_4p, read_table(path), group_by="tags").shares.set_index("group")
    assert table["n"].to_dict() == {"a": 3, "b": 4, "(none)": 1}


def test_plots_draw_label_and_group_names_as_written(tmp_path: Path) -> None:
    """Two '$' in a group or label name ("$AAPL vs $TSLA", cashtags) were read as TeX by matplotlib: the plot failed
    with a ParseException or drew a formula. The names are plain text now (as the cards' plots draw them), and the
    global settings are left as they were."""
    import matplotlib

    from sxhub.insights import plot_sentiment, plot_shares

    labels = ["save $ on #1 $ deal", "other"]
    table = pd.DataFrame(
        {"group": ["$AAPL vs $TSLA", "plain"], "n": [2, 5], labels[0]: [0.5, 0.2], labels[1]: [0.5, 0.8]}
    )
    for kind in ("bar", "line"):
        path = plot_shares(table, labels, tmp_path / f"{kind}.png", title="shares of $x$ and $y$", kind=kind)
        assert path.stat().st_size > 0
    long = pd.DataFrame({"group": ["$A $B", "$A $B"], "label": labels, "n": [10, 3], "negative": [0.1, 0.3]})
    assert plot_sentiment(long, labels, "negative", tmp_path / "heat.png").stat().st_size > 0
    assert matplotlib.rcParams["text.parse_math"] is True


def test_bad_options_are_said_before_the_corpus_is_labelled(corpus: pd.DataFrame, tmp_path: Path) -> None:
    """A typo in --group-by, a --date-column with no dates, a bad --freq or a multi-label --sentiment-model was said
    only after the expert had labelled the whole corpus (and the sentiment model too): a full labelling pass, then
    one error line and nothing written. They are said before any text is classified."""
    calls: list[int] = []

    def counted(texts: Sequence[str]) -> tuple[list[Any], list[str], bool]:
        calls.append(len(texts))
        return keyword_4p(texts)

    for options, match in (
        ({"group_by": "brnad"}, "neither a column"),
        ({"group_by": "brand", "date_column": "brand"}, "no readable dates"),
        ({"group_by": "brand", "date_column": "created_at", "freq": "fortnight"}, "--freq"),
    ):
        with pytest.raises(InputError, match=match):
            insights(counted, corpus, **options)
    assert calls == []
    tiny = build_tiny_model(tmp_path / "tiny", num_labels=4)
    config = json.loads((tiny / "config.json").read_text(encoding="utf-8"))
    (tiny / "config.json").write_text(json.dumps({**config, "problem_type": "multi_label_classification"}))
    sentiment = model_classifier(tiny)
    with pytest.raises(InputError, match="sentiment model is multi-label"):
        insights(counted, corpus, group_by="brand", sentiment=sentiment)
    assert calls == []


def test_a_large_annotated_file_shows_progress_and_leaves_its_votes_unread(
    corpus: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parquet_columns_asked: list[Any]
) -> None:
    """insights on sxhub's 1M-row annotate output read every vote (2.7 GB) it never uses, then labelled the texts
    for many minutes without a word on stderr. It reads the file without its votes and counts the texts labelled."""
    from sxhub.data import write_table

    asked = parquet_columns_asked
    model = build_tiny_model(tmp_path / "tiny", num_labels=3)
    votes = [[{"teacher": "t", "sample": 0, "labels": ["A"], "reason": "why"}]] * len(corpus)
    write_table(corpus.assign(votes=votes), tmp_path / "labelled.parquet")
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    args = [
        "insights",
        str(model),
        str(tmp_path / "labelled.parquet"),
        "--group-by",
        "brand",
        "-o",
        str(tmp_path / "o"),
    ]
    run = CliRunner().invoke(cli, args)
    assert run.exit_code == 0, run.output
    assert asked == [["created_at", "brand", "text"]]
    assert "labelling" in run.stderr and "6/6" in run.stderr


# 4P tweets of two brands over three months, written as a European export: day-first, the day 12 or less in some
TWEETS = [
    ("Nike", "05/01/2026", "love this coat from the new drop"),
    ("Nike", "28/01/2026", "the store on 5th ave had my size"),
    ("Nike", "03/02/2026", "cheap coat at the outlet"),
    ("Nike", "14/02/2026", "cheap again and the ad was everywhere"),
    ("Nike", "12/03/2026", "cheap cheap cheap"),
    ("Nike", "31/03/2026", "cheap coat in the store"),
    ("Nike", "20/03/2026", "cheap prices on every coat"),
    ("Zara", "11/01/2026", "the coat fits"),
    ("Zara", "02/03/2026", "new ad with a famous face"),
    ("Adidas", "15/02/2026", "store closed early"),
]


def tweets(dates: Sequence[str] | None = None) -> pd.DataFrame:
    frame = pd.DataFrame(TWEETS, columns=["brand", "created_at", "text"])
    return frame if dates is None else frame.assign(created_at=list(dates))


def test_a_table_per_brand_and_month_with_counts_beside_the_shares(tmp_path: Path) -> None:
    """The analyst saw the label shares per brand and, apart, per month of the whole corpus, never Nike's Price talk
    per month. A table per brand and period (kept by --top as the brand table) gives n, each label's share and its
    count; a brand's month without a tweet is a row with n 0 and no shares (not 0%), written as CSV and PNG and
    listed in summary.json."""
    out = tmp_path / "out"
    result = insights(keyword_4p, tweets(), group_by="brand", date_column="created_at", top=2, output_dir=out)
    table = result.by_group_over_time
    assert table is not None
    assert list(table.columns) == ["group", "period", "n", *LABELS, *[f"n_{name}" for name in LABELS]]
    assert table["group"].unique().tolist() == ["Nike", "Zara"]  # --top 2: Adidas (1 tweet) left out, as above
    nike = table[table["group"] == "Nike"].set_index("period")
    assert nike["n"].to_dict() == {"2026-01": 2, "2026-02": 2, "2026-03": 3}
    assert nike["Price"].tolist() == [0.0, 1.0, 1.0] and nike["n_Price"].tolist() == [0, 2, 3]
    assert nike.loc["2026-03", "Place"] == pytest.approx(1 / 3, abs=1e-4) and nike.loc["2026-03", "n_Place"] == 1
    zara = table[table["group"] == "Zara"].set_index("period")
    assert zara["n"].to_dict() == {"2026-01": 1, "2026-02": 0, "2026-03": 1}
    assert zara.loc["2026-02", LABELS].isna().all() and (zara.loc["2026-02", [f"n_{n}" for n in LABELS]] == 0).all()
    written = pd.read_csv(out / "shares_by_group_over_time.csv")
    assert (
        written[["group", "period", "n", "n_Price"]].values.tolist()
        == table[["group", "period", "n", "n_Price"]].values.tolist()
    )
    assert (out / "shares_by_group_over_time.png").read_bytes()[:4] == b"\x89PNG"
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["group_periods"] == 6
    assert {str(out / "shares_by_group_over_time.csv"), str(out / "shares_by_group_over_time.png")} <= set(
        summary["files"]
    )
    # no dates, or groups that are periods themselves: no such table, and none left from an earlier run
    assert insights(keyword_4p, tweets(), group_by="brand").by_group_over_time is None
    again = insights(keyword_4p, tweets(), group_by="month", date_column="created_at", output_dir=out)
    assert again.by_group_over_time is None and not (out / "shares_by_group_over_time.csv").exists()


def test_handles_count_a_tweet_in_each_handles_months(corpus: pd.DataFrame) -> None:
    result = insights(keyword_4p, corpus, group_by="handle", date_column="created_at", top=None)
    assert result.by_group_over_time is not None
    by = result.by_group_over_time.set_index(["group", "period"])["n"]
    assert by[("@zara", "2020-01")] == 2 and by[("@hm", "2020-02")] == 1 and by[("(none)", "2020-03")] == 1
    assert int(by.sum()) == 6 + 1  # one tweet tags two handles: counted in each


def test_day_first_dates_are_read_day_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A European export (31/01/2026, 13/02/2026) whose first dates had the day 12 or less: pandas read those
    month-first (05/01/2026 as 1 May), so Nike's January tweets fell in May and December. A first number over 12 in
    some dates and a second never over 12 reads the whole column day-first."""
    from conftest import run_cli

    dates = parse_dates(tweets(), "created_at")
    assert dates.dt.strftime("%Y-%m-%d").tolist()[:3] == ["2026-01-05", "2026-01-28", "2026-02-03"]
    result = insights(keyword_4p, tweets(), group_by="brand", date_column="created_at")
    assert result.over_time is not None and result.summary()["date_order"] == "day-first"
    assert result.over_time.set_index("group")["n"].to_dict() == {"2026-01": 3, "2026-02": 3, "2026-03": 4}
    assert result.date_order_note == "" and result.n_undated == 0
    # month-first (an American export) is read month-first, the time of day kept; 2-digit years as strptime reads them
    us = ["01/05/2026 09:30", "01/28/2026", "2/3/26", "02/14/2026", "03/12/2026", "03/31/2026", "3/20/2026"]
    us_dates = parse_dates(tweets([*us, "01/11/2026", "03/02/2026", "02/15/2026"]), "created_at")
    assert us_dates.dt.strftime("%Y-%m-%d %H:%M").tolist()[:3] == [
        "2026-01-05 09:30",
        "2026-01-28 00:00",
        "2026-02-03 00:00",
    ]
    model = build_tiny_model(tmp_path / "tiny", num_labels=3)
    tweets().to_csv(tmp_path / "eu.csv", index=False)
    argv = ["-q", "insights", str(model), str(tmp_path / "eu.csv"), "--group-by", "brand", "--date-column"]
    code, stdout, err = run_cli([*argv, "created_at", "-o", str(tmp_path / "out"), "--json"], capsys)
    assert code == 0, err
    assert json.loads(stdout)["date_order"] == "day-first"
    over_time = pd.read_csv(tmp_path / "out" / "shares_over_time.csv")
    assert over_time["group"].tolist() == ["2026-01", "2026-02", "2026-03"]
    code, _, err = run_cli([*argv, "created_at", "--monthfirst", "-o", str(tmp_path / "o2")], capsys)
    assert code == 2 and err.strip().splitlines()[-1].endswith(
        "--monthfirst does not fit date column 'created_at': 28/01/2026 (row 1) is day-first; drop --monthfirst."
    )


def test_dates_that_could_be_either_way_say_so_and_take_dayfirst(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Where every date could be day- or month-first (12/01/2026), they were read month-first without a word. The
    line says how they were read and how to read them the other way; --dayfirst does."""
    from conftest import run_cli

    either = ["05/01/2026", "12/01/2026", "03/02/2026", "11/02/2026", "12/03/2026", "02/03/2026", "01/03/2026"]
    frame = tweets([*either, "11/01/2026", "02/03/2026", "10/02/2026"])
    month_first = insights(keyword_4p, frame, group_by="brand", date_column="created_at")
    note = "dates like 05/01/2026 could be day- or month-first: read month-first (2026-05-01); pass --dayfirst to read"
    assert month_first.date_order_note.startswith(note) and month_first.summary()["date_order"] == "month-first"
    day_first = insights(keyword_4p, frame, group_by="brand", date_column="created_at", dayfirst=True)
    assert day_first.over_time is not None and day_first.date_order_note == ""
    assert day_first.over_time.set_index("group")["n"].to_dict() == {"2026-01": 3, "2026-02": 3, "2026-03": 4}
    model = build_tiny_model(tmp_path / "tiny", num_labels=3)
    frame.to_csv(tmp_path / "eu.csv", index=False)
    argv = ["-q", "insights", str(model), str(tmp_path / "eu.csv"), "--group-by", "brand", "--date-column"]
    code, stdout, err = run_cli([*argv, "created_at", "-o", str(tmp_path / "out")], capsys)
    assert code == 0, err
    assert f"10 texts ({note} them day-first); overall: " in stdout.splitlines()[-1]
    code, stdout, err = run_cli([*argv, "created_at", "--dayfirst", "-o", str(tmp_path / "out")], capsys)
    assert code == 0, err
    assert "could be day- or month-first" not in stdout
    assert pd.read_csv(tmp_path / "out" / "shares_over_time.csv")["n"].tolist() == [3, 3, 4]


def test_dates_written_both_ways_are_refused_unless_an_order_is_given() -> None:
    """A column joined from a European and an American export (31/01/2026 and 01/31/2026) cannot be read one way:
    one line says so before anything is labelled; --dayfirst reads it day-first and counts the others as undated."""
    frame = tweets(["31/01/2026", "01/28/2026", *[d for _, d, _ in TWEETS[2:]]])
    both = r"day-first \(31/01/2026, row 0\) and month-first \(01/28/2026, row 1\); pass --dayfirst"
    with pytest.raises(InputError, match=both):
        insights(keyword_4p, frame, group_by="brand", date_column="created_at")
    result = insights(keyword_4p, frame, group_by="brand", date_column="created_at", dayfirst=True)
    assert (
        result.n_undated == 1
        and result.date_order_note == "dates written month-first left out (1, e.g. 01/28/2026): --dayfirst given"
    )


def test_the_cli_prints_every_table_it_built_each_under_a_title(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`sxhub insights --group-by brand --date-column created_at` printed the table per brand only: the tables over
    time (overall and per brand) and the sentiment one were written to -o but never shown. Each is printed under a
    one-line title naming its CSV; the summary line stays last."""
    from conftest import run_cli

    model = build_tiny_model(tmp_path / "tiny", num_labels=3)
    tweets().to_csv(tmp_path / "eu.csv", index=False)
    argv = ["-q", "insights", str(model), str(tmp_path / "eu.csv"), "--group-by", "brand"]
    argv += ["--date-column", "created_at", "--sentiment-model", str(model), "-o", str(tmp_path / "out")]
    code, stdout, err = run_cli(argv, capsys)
    assert code == 0, err
    lines = stdout.splitlines()
    titles = [line for line in lines if line.endswith(".csv):")]
    assert titles == [
        "Labels by brand (shares_by_group.csv):",
        "Labels over time (shares_over_time.csv):",
        "Labels by brand over time (shares_by_group_over_time.csv):",
        "Sentiment by brand and label (sentiment_by_group_label.csv):",
    ]
    for title in titles:  # each table is printed as written: its header and one line per row
        name = title.split("(")[1].split(")")[0]
        table = pd.read_csv(tmp_path / "out" / name)
        start = lines.index(title) + 1
        assert lines[start].split() == list(table.columns)
        assert [line.split()[0] for line in lines[start + 1 : start + 1 + len(table)]] == table.iloc[:, 0].tolist()
    assert lines[-1].startswith("10 texts; overall: ") and f"to {tmp_path / 'out'}" in lines[-1]


@pytest.mark.parametrize(
    ("written", "said"),
    [
        ("2026/31/01", "row 2: 2026/31/01 is no date read year, month, day"),  # year, day, month
        ("2026-13-05", "row 2: 2026-13-05 is no day of the calendar; correct it"),  # ISO already: not "write ISO"
        ("2026-02-30", "row 2: 2026-02-30 is no day of the calendar; correct it"),
        ("31/13/2026", "row 2: 31/13/2026 is no date, day- or month-first"),  # was cited as both orders
        # a real day and a time or zone not read after it: "no day of the calendar" was wrong (second reviewer)
        ("2026-01-31 10:00 PST", "row 2: 2026-01-31 10:00 PST could not be read after its day 2026-01-31"),
        ("2026-01-31 25:00", "row 2: 2026-01-31 25:00 could not be read after its day 2026-01-31 ('25:00')"),
        # a zone right after the day: it was "no date read year, month, day ... write ISO YYYY-MM-DD", which it is
        ("2026-01-31+05:00", "row 2: 2026-01-31+05:00 could not be read after its day 2026-01-31 ('+05:00')"),
    ],
)
def test_a_date_that_is_none_is_one_line_naming_the_column_its_row_and_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], written: str, said: str
) -> None:
    """2026/31/01 (year, day, month), 2026-13-05 or 2026-02-30 was read as no date and left out of the tables over
    time as "without a readable date" (while 2026/05/02 beside it was read as 2 May), 31/13/2026 was said to be
    written day-first and month-first. One line names the column, the value, its row in the input and the fix;
    an empty date is still a text without one. The row counts the input's rows, a row without a text among them."""
    from conftest import run_cli

    frame = tweets(["2026-01-05", "", written, *["2026-02-03"] * 7]).assign(text=["", *[t for *_, t in TWEETS[1:]]])
    fix = (
        "empty the cell" if "calendar" in said else "or the day alone" if "after its day" in said else "ISO YYYY-MM-DD"
    )
    with pytest.raises(InputError, match=f"date column 'created_at' {re.escape(said)}.*{fix}"):
        insights(keyword_4p, frame, group_by="brand", date_column="created_at")
    model = build_tiny_model(tmp_path / "tiny", num_labels=3)
    capsys.readouterr()  # the model's build, not the run
    frame.to_csv(tmp_path / "bad.csv", index=False)
    argv = ["-q", "insights", str(model), str(tmp_path / "bad.csv"), "--group-by", "brand"]
    code, stdout, err = run_cli([*argv, "--date-column", "created_at", "-o", str(tmp_path / "out")], capsys)
    assert code == 2 and stdout == "" and not (tmp_path / "out").exists()
    assert len(err.strip().splitlines()) == 1 and said in err
    frame.loc[2, "created_at"] = ""  # an empty date: a text without one, as before
    result = insights(keyword_4p, frame, group_by="brand", date_column="created_at")
    assert result.n_undated == 2 and result.n_empty == 1


@pytest.mark.parametrize(
    # an API's JSON writes the zero date with its zone (as JavaScript's toISOString): "no day of the calendar" stopped
    # the run on it
    "zero",
    ["0000-00-00", "00/00/0000", "0000-00-00 00:00:00", "0000-00-00T00:00:00.000Z", "0000-00-00 00:00:00+00:00"],
)
def test_a_zero_date_is_a_placeholder_not_a_mistake(zero: str) -> None:
    """MySQL's "zero date" (0000-00-00) and 00/00/0000 stand for "no date", as "n/a" does: they counted as without
    a readable date, until the check for impossible dates stopped the whole run on them."""
    frame = tweets(["2026-01-05", zero, "n/a", *["2026-02-03"] * 7])
    result = insights(keyword_4p, frame, group_by="brand", date_column="created_at")
    assert result.n_undated == 2


def test_insights_takes_a_model_folder_as_the_cli_does(tmp_path: Path) -> None:
    """The other stages take a TaskSpec or its path; insights took only a classify function, so a notebook had to
    know model_classifier to do what `sxhub insights MODEL` does. A model folder (and a sentiment one) is taken as
    it is; anything else is one line naming the parameter."""
    model = build_tiny_model(tmp_path / "tiny", num_labels=3)
    by_path = insights(str(model), tweets(), group_by="brand", sentiment=model)
    by_function = insights(model_classifier(model), tweets(), group_by="brand", sentiment=model_classifier(model))
    pd.testing.assert_frame_equal(by_path.shares, by_function.shares)
    assert by_path.sentiment is not None and by_function.sentiment is not None
    pd.testing.assert_frame_equal(by_path.sentiment, by_function.sentiment)
    with pytest.raises(InputError, match=r"classify= takes a model folder .* not int"):
        insights(3, tweets(), group_by="brand")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="sentiment='nowhere' is no model folder"):
        insights(model, tweets(), group_by="brand", sentiment="nowhere")


def test_one_undated_text_is_said_in_the_singular() -> None:
    """The line said "1 texts without a readable date"; the noun now agrees with the count."""
    from sxhub.insights import InsightsResult

    empty = pd.DataFrame()
    notes = {n: InsightsResult(empty, [], empty, None, None, n_undated=n).undated_note() for n in (1, 2)}
    assert notes[1] == "1 text without a readable date left out of the table over time"
    assert notes[2] == "2 texts without a readable date left out of the table over time"


def test_a_long_table_is_printed_in_part_with_where_the_rest_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every table is printed now, and one per brand and day (--freq D) of a year is thousands of rows on the
    terminal: its first rows are printed, then how many more there are and which file holds them all (here the
    limit is lowered to 8 rows, for a corpus of 10 tweets)."""
    from conftest import run_cli

    shown = 8
    monkeypatch.setattr("sxhub.cli.insights.SHOWN_ROWS", shown)

    model = build_tiny_model(tmp_path / "tiny", num_labels=3)
    tweets().to_csv(tmp_path / "eu.csv", index=False)
    argv = ["-q", "insights", str(model), str(tmp_path / "eu.csv"), "--group-by", "brand", "--freq", "D"]
    code, stdout, err = run_cli([*argv, "--date-column", "created_at", "-o", str(tmp_path / "out")], capsys)
    assert code == 0, err
    lines = stdout.splitlines()
    whole = pd.read_csv(tmp_path / "out" / "shares_by_group_over_time.csv")
    assert len(whole) > shown
    start = lines.index("Labels by brand over time (shares_by_group_over_time.csv):")
    assert lines[start + 2 + shown] == (
        f"... and {len(whole) - shown:,} more rows "
        f"(the whole table: {tmp_path / 'out' / 'shares_by_group_over_time.csv'})"
    )
    short = pd.read_csv(tmp_path / "out" / "shares_by_group.csv")  # 3 brands: the whole table, no such line
    first = lines.index("Labels by brand (shares_by_group.csv):")
    assert lines[first + 2 + len(short)].startswith("Labels ")


def test_a_text_column_of_numbers_is_refused_before_any_text_is_labelled(corpus: pd.DataFrame) -> None:
    """--text-column idx labelled the ids "0", "1", ... and tabulated their shares with exit 0; predict refuses it."""
    seen: list[Sequence[str]] = []

    def classify(texts: Sequence[str]) -> tuple[list[Any], list[str], bool]:
        seen.append(texts)
        return keyword_4p(texts)

    line = (
        r"^column 'idx' holds numbers \(.*\), not texts; pass --text-column \(Python: text_column=\) with the column"
    )
    with pytest.raises(InputError, match=line):
        insights(classify, corpus.assign(idx=range(len(corpus))), group_by="brand", text_column="idx")
    assert seen == []
    # texts one per line (a .txt file, stdin: a frame of the one column 'text') are texts whatever they read like
    result = insights(classify, pd.DataFrame({"text": ["1999", "2024"]}), group_by="handle")
    assert result.summary()["n"] == 2


def test_a_binary_text_column_is_labelled_as_its_texts_and_a_list_column_is_refused(corpus: pd.DataFrame) -> None:
    """predict decodes a Parquet ``binary`` text column as UTF-8 and refuses a list column in one line; insights
    labelled the Python reprs ("b'cheap coat'", "['a', 'b']") as the texts."""
    seen: list[str] = []

    def classify(texts: Sequence[str]) -> tuple[list[Any], list[str], bool]:
        seen.extend(texts)
        return keyword_4p(texts)

    insights(classify, corpus.assign(body=corpus["text"].map(str.encode)), group_by="brand", text_column="body")
    assert seen == corpus["text"].tolist()
    with pytest.raises(InputError, match=r"^column 'tags' holds a list \(\[\"a\"\]\), not a text; pass --text-column"):
        insights(classify, corpus.assign(tags=[["a"]] * len(corpus)), group_by="brand", text_column="tags")


@pytest.mark.filterwarnings("ignore:Glyph 13:UserWarning")  # the plots draw the CR as a box
def test_a_group_column_in_another_case_is_found_and_a_label_name_with_a_cr_reads_back(
    corpus: pd.DataFrame, tmp_path: Path
) -> None:
    """``--group-by brand`` on a ``Brand`` column was "neither a column nor one of handle, ..." although the text
    column is found in any case; a label name holding a lone CR (a model's id2label typed on an old Mac) was written
    unquoted by ``to_csv`` in the sentiment table, which read back split over two rows. The tables are written as
    every other sxhub CSV is (``write_table``: quoted, and whole or not at all)."""

    def with_cr(texts: Sequence[str]) -> tuple[list[Any], list[str], bool]:
        labels, names, multi = keyword_4p(texts)
        rename = {"Place": "Pla\rce"}
        return [[rename.get(n, n) for n in labs] for labs in labels], [rename.get(n, n) for n in names], multi

    corpus = corpus.rename(columns={"brand": "Brand"})
    result = insights(with_cr, corpus, group_by="brand", sentiment=keyword_sentiment, output_dir=tmp_path)
    assert result.shares.set_index("group")["n"].to_dict() == {"A": 3, "B": 3}
    assert result.sentiment is not None and "Pla\rce" in set(result.sentiment["label"])
    sentiment = pd.read_csv(tmp_path / "sentiment_by_group_label.csv")
    assert sentiment["label"].tolist() == result.sentiment["label"].tolist()
    assert pd.read_csv(tmp_path / "shares_by_group.csv").columns.tolist() == result.shares.columns.tolist()
    assert not list(tmp_path.glob("*.tmp"))


def test_a_date_column_in_another_case_is_found_as_the_group_column_is(corpus: pd.DataFrame) -> None:
    """``--date-column created_at`` on a ``Created_At`` header was "date column not found" while ``--group-by brand``
    read ``Brand``; the date column is found the same way (the exact name first, else its one variant), and two
    variants are one line asking to rename one."""
    renamed = corpus.rename(columns={"created_at": "Created_At"})
    found = insights(keyword_4p, renamed, group_by="month", date_column="created_at")
    exact = insights(keyword_4p, corpus, group_by="month", date_column="created_at")
    pd.testing.assert_frame_equal(found.shares, exact.shares)
    both = renamed.assign(CREATED_AT=renamed["Created_At"])
    with pytest.raises(InputError, match=r"^columns 'Created_At' and 'CREATED_AT' both read as 'created_at'; rename"):
        insights(keyword_4p, both, group_by="brand", date_column="created_at")


def test_a_run_stopped_while_drawing_leaves_the_earlier_report_whole(
    corpus: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The PNGs were drawn straight into their files and summary.json written in place: Ctrl-C while a plot was
    saved left a half-written PNG, the new tables beside the earlier run's plots and summary.json (the line said
    earlier outputs were untouched). The files are written aside and moved into place together."""
    from matplotlib.figure import Figure

    out = tmp_path / "out"
    insights(keyword_4p, corpus, group_by="brand", date_column="created_at", output_dir=out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    saved = Figure.savefig

    def stopped(self: Any, fname: Any, **kwargs: Any) -> None:
        if "over_time" not in str(getattr(fname, "name", fname)):
            return saved(self, fname, **kwargs)  # type: ignore[no-any-return]
        with open(fname, "wb") as fh:  # what a savefig cut off midway leaves
            fh.write(before["shares_over_time.png"][:10])
        raise KeyboardInterrupt

    monkeypatch.setattr(Figure, "savefig", stopped)
    with pytest.raises(KeyboardInterrupt):
        insights(keyword_4p, corpus.head(3), group_by="brand", date_column="created_at", output_dir=out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    monkeypatch.undo()
    done = insights(keyword_4p, corpus.head(3), group_by="brand", date_column="created_at", output_dir=out)
    assert sorted(out.iterdir()) == sorted(done.files)
    assert json.loads((out / "summary.json").read_text())["files"] == [str(p) for p in done.files]
    assert (out / "shares_by_group.csv").read_bytes() != before["shares_by_group.csv"]


def test_every_plotted_share_says_how_many_texts_it_is_of(
    corpus: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bar chart per brand drew a brand of 1 text at 100% beside one of 5,000, the line over time a month of 1
    text as the others, and the sentiment heatmap a 100 made of 1 text: the PNGs showed shares without their n,
    which only the CSVs had. Each group or period is named with its n, and each heatmap cell with its n (in white on
    the dark cells, where black could not be read)."""
    from matplotlib.figure import Figure

    drawn: dict[str, list[str]] = {}
    colours: dict[str, list[str]] = {}
    saved = Figure.savefig

    def keep(self: Any, fname: Any, **kwargs: Any) -> Any:
        ax = self.axes[0]
        texts = [t.get_text() for t in ax.get_xticklabels()] + [t.get_text() for t in ax.texts]
        colours[Path(str(fname)).name.split(".")[0]] = [t.get_color() for t in ax.texts]
        drawn[Path(str(fname)).name.split(".")[0]] = texts
        return saved(self, fname, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    corpus.loc[5, "brand"] = "C"  # one text
    insights(
        keyword_4p,
        corpus,
        group_by="brand",
        date_column="created_at",
        sentiment=keyword_sentiment,
        output_dir=tmp_path,
    )
    assert drawn["shares_by_group"] == ["B\n(n=3)", "A\n(n=2)", "C\n(n=1)"]
    assert drawn["shares_over_time"][:3] == ["2020-01\n(n=2)", "2020-02\n(n=3)", "2020-03\n(n=1)"]
    heat = drawn["sentiment_negative"][len(LABELS) :]  # after the label names under the columns
    # rows A, B, C; A's Place (1 text, negative): 100 of 1; A's Price (no text): none
    assert heat[:4] == ["0\n(n=1)", "100\n(n=1)", "–", "–"]
    assert heat[4:] == ["0\n(n=1)", "100\n(n=1)", "0\n(n=1)", "0\n(n=1)", "100\n(n=1)", "100\n(n=1)", "–", "–"]
    # and readable: white on the dark cells (100), black on the light ones
    assert colours["sentiment_negative"][:4] == ["black", "white", "black", "black"]


def test_a_date_with_an_offset_counts_in_its_utc_period_and_one_without_as_written() -> None:
    """What the README says of zones: 01:00 on 1 February in Tokyo is 31 January in UTC, where every zone of one
    column can be compared; a date without an offset is the day written."""
    frame = pd.DataFrame({"d": ["2026-02-01T01:00:00+09:00", "2026-02-01 01:00", "2026-01-31T23:30:00-05:00"]})
    assert parse_dates(frame, "d").dt.to_period("M").astype(str).tolist() == ["2026-01", "2026-02", "2026-02"]
