from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from sxhub.data import (
    _compile_steps,
    apply_preprocessing,
    is_missing_text,
    mask_pii,
    prepare_texts,
    preprocess_text,
    read_table,
    write_table,
)
from sxhub.errors import InputError, PublishError
from sxhub.labelled import load_labelled
from sxhub.predict import iter_chunks


def test_mask_pii() -> None:
    text = "Mail jane.doe@example.com or call +44 20 7946 0958, see https://x.co/a?b=1 via @JaneDoe"
    masked = mask_pii(text)
    assert masked == "Mail EMAIL or call PHONE, see URL via @user"
    assert mask_pii("Sales rose 12 % to EUR 31.5 mn in 2023") == "Sales rose 12 % to EUR 31.5 mn in 2023"
    assert preprocess_text("  two\n\tlines  ") == "two lines"


def test_saved_steps_apply_as_written() -> None:
    """A saved block's replacement is literal text (a backslash is not a group reference) and ``min_digits`` keeps
    a match with fewer digits as it was; the steps are compiled once and reused."""
    block = {
        "steps": [
            {"pattern": r"(x)", "replacement": r"\1\g<0>"},
            {"pattern": r"\d[\d ]+\d", "replacement": "NUM", "min_digits": 5},
        ],
        "strip": False,
    }
    assert apply_preprocessing("axb 12 3 and 123 45", block) == "a\\1\\g<0>b 12 3 and NUM"
    hits = _compile_steps.cache_info().hits
    assert apply_preprocessing("x", json.loads(json.dumps(block))) == "\\1\\g<0>"  # an equal block, read back
    assert _compile_steps.cache_info().hits == hits + 1
    assert apply_preprocessing(" x ", {"steps": [], "strip": True}) == "x"


def test_prepare_drops_duplicates_and_empties() -> None:
    df = pd.DataFrame({"Sentence": ["a  b", "a b", "", "c"], "gold": ["x", "x", "y", "z"]})
    prepared = prepare_texts(df, keep_columns=["gold"])
    assert prepared.text_column == "Sentence"
    assert prepared.texts == ["a b", "c"]
    assert prepared.n_duplicates == 1 and prepared.n_empty == 1 and prepared.n_input == 4
    assert prepared.frame["gold"].tolist() == ["x", "z"]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet", ".json"])
def test_write_read_round_trip_keeps_lists(tmp_path: Path, suffix: str) -> None:
    rows = [
        {"text": "a", "labels": ["x", "y"], "votes": [{"teacher": "t", "sample": 0, "labels": ["x"]}]},
        {"text": "b", "labels": [], "votes": []},
    ]
    path = write_table(rows, tmp_path / f"out{suffix}")
    back = read_table(path)
    assert list(back["text"]) == ["a", "b"]
    assert [list(v) for v in back["labels"]] == [["x", "y"], []]
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".json", ".parquet"])
def test_a_write_cut_short_leaves_the_old_output_and_no_partial_file(
    tmp_path: Path, suffix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C (or a full disk) while a CSV/TSV/JSON output was written left its partial ``OUT.tmp`` beside OUT (only
    Parquet's was removed on an error, and none on Ctrl-C): a table named like the output, holding part of it."""
    import sxhub.tables

    out = write_table([{"text": "old"}], tmp_path / f"out{suffix}")
    before = out.read_bytes()

    def interrupted(src: Any, dst: Any) -> None:
        assert Path(src).exists()  # the new table written in full, not yet in place
        raise KeyboardInterrupt

    monkeypatch.setattr(sxhub.tables.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_table([{"text": "new"}], out)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_a_text_with_a_carriage_return_reads_back_as_one_row(tmp_path: Path, suffix: str) -> None:
    """pandas' CSV writer quotes a field holding a line feed, not one holding a lone carriage return (old Mac line
    ends, a cell pasted from Excel): "a\rb" was written bare, and every reader (pandas, sxhub, a spreadsheet) took
    the CR for the end of a row: one row became two, the columns after it shifted, without a word. Such a cell is
    quoted, in a file and in one written chunk by chunk."""
    from sxhub.stream import TableWriter

    texts = ["profit\rrose", "sales fell", "one\r\ntwo", "three\nfour", "flat"]
    frame = pd.DataFrame({"text": texts, "id": [f"r{i}" for i in range(5)]})
    whole = write_table(frame, tmp_path / f"whole{suffix}")
    writer = TableWriter(tmp_path / f"chunked{suffix}")
    for start in range(0, 5, 2):
        writer.write(frame.iloc[start : start + 2])
    chunked = writer.close()
    for path in (whole, chunked):
        back = read_table(path)
        assert back["text"].tolist() == texts and back["id"].tolist() == frame["id"].tolist(), path.name
        assert [t for c in iter_chunks(path, 2) for t in c["text"].tolist()] == texts


@pytest.mark.parametrize(
    ("first", "kind", "named"),
    [("text\tlabel\tgold", "TSV", "export.tsv"), ("id,Sentence,label", "CSV", "export.csv")],
)
def test_a_table_named_txt_is_one_line_not_its_rows_as_texts(
    tmp_path: Path, first: str, kind: str, named: str
) -> None:
    """A TSV or CSV saved as .txt (Excel's "Text (Tab delimited)", a Kaggle download) was read as one text per line:
    its header became a text, and each row's labels were labelled (and paid for) with its text. Its first line
    naming a text column beside others tells it; a file of texts whose first one has a comma or tab still reads."""
    from sxhub.stream import check_input

    sep = "\t" if kind == "TSV" else ","
    path = tmp_path / "export.txt"
    path.write_text(first + "\n" + sep.join(["1", "Profit rose", "positive"]) + "\n", encoding="utf-8")
    message = f"input {str(path)!r} looks like a {kind} file: its first line {first!r} names columns"
    for read in (lambda p: check_input(p, None), lambda p: read_table(p, lines=True)):
        with pytest.raises(InputError, match=re.escape(message)) as info:
            read(path)
        assert f"name it {named} to read its columns" in str(info.value)
    texts = tmp_path / "texts.txt"
    texts.write_text("Great results, text me later\nsentence\tbody of text\ntext\n", encoding="utf-8")
    check_input(texts, None)
    assert read_table(texts, lines=True)["text"].tolist()[0] == "Great results, text me later"


@pytest.mark.parametrize(("first", "kind"), [("text\tlabel\tgold", "TSV"), ("id,Sentence,label", "CSV")])
def test_a_table_on_stdin_is_one_line_not_its_rows_as_texts(
    first: str, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`cat export.tsv | sxhub predict MODEL -`: stdin is read one text per line, so the header was a text and each
    row's labels were labelled with its text, where the same file named .txt is refused. Its first line naming a
    text column beside others is one line saying to save it as a file of its kind; texts with a tab still read."""
    import io
    import sys

    from sxhub.stream import iter_lines

    def stdin_of(data: str) -> None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data.encode()), encoding="utf-8"))

    sep = "\t" if kind == "TSV" else ","
    message = (
        f"input stdin looks like a {kind} file: its first line {first!r} names columns, and stdin is read as one "
        f"text per line, that line too; save it as a file (e.g. texts.{kind.lower()}) and pass that to read its "
        "columns."
    )
    for read in (lambda: read_table("-", lines=True), lambda: list(iter_lines("-"))):
        stdin_of(first + "\n" + sep.join(["1", "Profit rose", "positive"]) + "\n")
        with pytest.raises(InputError) as info:
            read()
        assert str(info.value) == message
    stdin_of("Great results, text me later\nsentence\tbody of text\ntext\n")
    assert read_table("-", lines=True)["text"].tolist()[1] == "sentence\tbody of text"


def test_bad_inputs_give_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        read_table(tmp_path / "nope.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="is empty"):
        read_table(empty)
    header_only = tmp_path / "header.csv"
    header_only.write_text("text,label\n", encoding="utf-8")
    with pytest.raises(InputError, match=re.escape(f"input {str(header_only)!r} has no rows")):
        read_table(header_only)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("text\ncaf\xe9 cr\xe8me\n".encode("latin-1"))
    with pytest.raises(InputError, match=r"not UTF-8.*iconv"):
        read_table(latin)
    odd = tmp_path / "data.docx"
    odd.write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match=re.escape("use .csv")):
        read_table(odd)
    with pytest.raises(InputError, match=re.escape("is a spreadsheet workbook, not a table file sxhub reads; save")):
        read_table(odd.rename(tmp_path / "data.xlsx"))
    with pytest.raises(InputError, match="no text column found"):
        prepare_texts(pd.DataFrame({"foo": ["a"]}))
    with pytest.raises(InputError, match="text column 'body2' not found"):
        prepare_texts(pd.DataFrame({"text": ["a"]}), text_column="body2")
    huge = pd.DataFrame({"text": ["x" * 1_000_000]})
    with pytest.raises(InputError, match="1,000,000 characters"):
        prepare_texts(huge)


def test_a_file_without_a_header_line_is_named_as_such(tmp_path: Path) -> None:
    """GoEmotions' TSVs have no header line: the error listed a sentence, '27' and an id as the columns and asked for
    --text-column, which no name there fixes. It now says the file may lack a header line; a column named by a
    question (a form's export) with no number beside it does not get that clause."""
    headerless = tmp_path / "dev.tsv"
    headerless.write_text(
        "Is this in New Orleans?? I really feel like this is New Orleans.\t27\tedgurhb\n"
        "I've never been this sad in my life!\t25\tedcu99z\n",
        encoding="utf-8",
    )
    hint = "(if the file has no header line, as these names suggest, add one naming the columns, e.g. `text`"
    frame = read_table(headerless)
    for column in (None, "text"):
        with pytest.raises(InputError, match=re.escape(hint)):
            prepare_texts(frame, text_column=column)
    with pytest.raises(InputError, match=re.escape(hint)):
        prepare_texts(pd.DataFrame({"1": ["a"], "2": ["b"], "x": ["c"]}))
    form = pd.DataFrame({"Timestamp": ["2026-01-01"], "What did you think of the product?": ["fine"]})
    with pytest.raises(InputError, match="no text column found") as refused:
        prepare_texts(form)
    assert "header line" not in str(refused.value)


MISSING = [None, float("nan"), pd.NA, "nan", "NaN", "  ", "", "None", "<NA>"]


def test_missing_texts_are_dropped_and_counted_never_the_word_nan() -> None:
    assert [is_missing_text(v) for v in MISSING] == [True] * len(MISSING)
    assert not any(is_missing_text(v) for v in ["Nancy rose", "0", 0, "nano", "n/a is fine"])
    df = pd.DataFrame({"text": ["profit rose", *MISSING], "gold": ["x"] * (1 + len(MISSING))}, dtype=object)
    prepared = prepare_texts(df, keep_columns=["gold"])
    assert prepared.texts == ["profit rose"] and prepared.n_empty == len(MISSING)

    labelled = pd.DataFrame({"text": ["profit rose", None, float("nan"), "nan"], "label": ["a", "b", "a", "b"]})
    data = load_labelled(labelled, label_names=["a", "b"], multi_label=False)
    assert data.texts == ["profit rose"] and data.labels == ["a"] and data.n_empty_text == 3


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_every_reader_drops_missing_texts(tmp_path: Path, suffix: str) -> None:
    """A missing text survives each format as None/NaN/"" and is never read back as the word "nan"."""
    frame = pd.DataFrame({"text": ["profit rose", None, "loss fell", ""], "label": ["a", "b", "b", "a"]})
    path = write_table(frame, tmp_path / f"labelled{suffix}")
    data = load_labelled(path, label_names=["a", "b"], multi_label=False)
    assert data.texts == ["profit rose", "loss fell"] and data.n_empty_text == 2
    assert prepare_texts(read_table(path)).texts == ["profit rose", "loss fell"]


def _truncated_parquet(path: Path) -> None:
    pd.DataFrame({"text": ["a"] * 50}).to_parquet(path)
    path.write_bytes(path.read_bytes()[:-30])


@pytest.mark.parametrize(
    ("name", "write", "message"),
    [
        ("bad.csv", lambda p: p.write_text('text,label\n"unclosed,a\nb,c\n'), r"as csv .*quotes are closed"),
        ("ragged.csv", lambda p: p.write_text("text,label\na,b\nc,d,e\n"), r"Expected 2 fields in line 3.*header"),
        ("bad.jsonl", lambda p: p.write_text('{"text": "a"}\n{"text": \n'), r"line 2 is not JSON.*one JSON object"),
        ("list.jsonl", lambda p: p.write_text('{"text": "a"}\n[1, 2]\n'), r"line 2 is a JSON list, not an object"),
        (  # a JSON array named .jsonl: the .json file's line names .jsonl, this one names .json
            "array.jsonl",
            lambda p: p.write_text('[\n {"text": "a"}\n]\n'),
            r"line 1 is not JSON.*one JSON object.*a JSON array of objects: name it \.json",
        ),
        (  # a byte order mark (a file re-saved on Windows) is no bad line 1: the line named was 1, not 3
            "bom.jsonl",
            lambda p: p.write_text('\ufeff{"text": "a"}\n{"text": "b"}\n{"text": \n', encoding="utf-8"),
            r"line 3 is not JSON.*one JSON object",
        ),
        ("scalar.json", lambda p: p.write_text('{"text": "a"}'), r"as json .*array of objects"),
        # an array of texts read as one column named 0: "no text column found in columns [0]", told to add a header
        ("texts.json", lambda p: p.write_text('["a", "b"]'), r"item 0 is a JSON str, not an object.*array of objects"),
        ("junk.parquet", lambda p: p.write_bytes(b"PAR1 not really parquet"), r"as parquet .*not a readable Parquet"),
        ("cut.parquet", _truncated_parquet, r"as parquet .*not a readable Parquet"),
        (
            "utf16.csv",
            lambda p: p.write_text("text\nSales rose\n", encoding="utf-16"),
            r"not UTF-8 \(UTF-16.*iconv -f utf-16",
        ),
    ],
    ids=[
        "csv-quote",
        "csv-ragged",
        "jsonl-bad-line",
        "jsonl-list-line",
        "jsonl-array",
        "jsonl-bom-bad-line",
        "json-object",
        "json-texts",
        "parquet-junk",
        "parquet-cut",
        "utf-16",
    ],
)
def test_unreadable_files_are_one_line_with_the_reason_and_fix(tmp_path: Path, name: str, write, message: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / name
    write(path)
    with pytest.raises(InputError, match=message) as err:
        read_table(path)
    assert "\n" not in str(err.value)
    with pytest.raises(InputError, match=message):  # the streaming reader of sxhub predict says the same
        list(iter_chunks(path, 10))


def test_csv_with_a_byte_order_mark_has_its_text_column(tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("text,label\nSales rose,a\n".encode("utf-8-sig"))
    assert list(read_table(path).columns) == ["text", "label"]
    assert [list(c.columns) for c in iter_chunks(path, 10)] == [["text", "label"]]


@pytest.mark.parametrize(
    ("body", "said", "fix"),
    [
        ("text;gold\nI am so sad today;sadness\nThanks a lot;gratitude\n", "semicolons", "re-save it with commas"),
        # a comma in a text made pandas' field-count error instead of the missing text column
        ("id;text\n1;Sales rose, and profit too\n2;Sales fell, then rose, then fell\n", "semicolons", "with commas"),
        ("id\ttext\n1\tSales rose\n", "tabs", "name it sep.tsv"),
    ],
)
def test_a_csv_separated_by_semicolons_or_tabs_is_one_line_naming_the_separator(
    tmp_path: Path, capsys, body: str, said: str, fix: str
) -> None:
    """A .csv separated by semicolons (Excel where the decimal mark is a comma) read as one column, 'text;gold': every
    verb said 'no text column found ...; pass --text-column', which would have labelled each whole line (or, with a
    comma in a text, pandas' error about field counts). The line now names the separator and the fix."""
    from conftest import run_cli

    path = tmp_path / "sep.csv"
    path.write_text(body, encoding="utf-8-sig")
    with pytest.raises(
        InputError, match=f"is separated by {said} .* but a .csv file is read as comma-separated; .*{fix}"
    ):
        read_table(path)
    with pytest.raises(InputError, match=f"is separated by {said}"):  # the streaming reader of predict and annotate
        list(iter_chunks(path, 10))
    task = tmp_path / "task.yaml"
    task.write_text("name: emo\nmulti_label: true\nlabels: [sadness, gratitude]\n", encoding="utf-8")
    code, _, err = run_cli(["annotate", str(task), str(path), "-o", str(tmp_path / "o.csv"), "--dry-run"], capsys)
    assert code == 2 and f"is separated by {said}" in err and "--text-column" not in err
    # one column of texts that hold a semicolon is still a CSV
    single = tmp_path / "single.csv"
    single.write_text("text\nhello; there\nfine\n", encoding="utf-8")
    assert read_table(single)["text"].tolist() == ["hello; there", "fine"]


def test_label_ids_in_a_csv_are_one_line_that_shows_the_task_order(tmp_path: Path, capsys) -> None:
    """A CSV whose label column holds ids (GoEmotions' TSVs, a numpy export) said only "fix the data or the spec";
    the line now says they are ids and which name each id stands for in the task's order."""
    from conftest import run_cli

    path = tmp_path / "ids.csv"
    pd.DataFrame({"text": ["up", "flat", "down", "up again"], "label": [0, 1, 2, 0]}).to_csv(path, index=False)
    with pytest.raises(
        InputError, match=re.escape("label(s) ['0', '1', '2'] in column 'label' are numbers, not in the task's labels")
    ):
        load_labelled(path, label_names=["positive", "neutral", "negative"])
    multi = tmp_path / "multi.csv"
    pd.DataFrame({"text": ["a", "b"], "labels": ["4,27", "3"]}).to_csv(multi, index=False)
    with pytest.raises(InputError, match=re.escape("0 = x, 1 = y")):
        load_labelled(multi, label_names=["x", "y"], multi_label=True)
    task = tmp_path / "task.yaml"
    task.write_text("name: fin\nlabels: [positive, neutral, negative]\n", encoding="utf-8")
    code, _, err = run_cli(["train", str(task), str(path), "-o", str(tmp_path / "m")], capsys)
    assert code == 2
    assert err.strip().splitlines() == [
        "Error: label(s) ['0', '1', '2'] in column 'label' are numbers, not in the task's labels ['positive', "
        "'neutral', 'negative']; write each row's label name instead (if they are ids in the task's order: "
        "0 = positive, 1 = neutral, 2 = negative), or save the data with datasets as Parquet (Dataset.to_parquet "
        "keeps a ClassLabel column's names; to_csv and to_json write the ids only)."
    ]
    assert not (tmp_path / "m").exists()


def test_the_class_id_hint_is_true_of_each_datasets_writer(tmp_path: Path) -> None:
    """The hint said "save the data with datasets (a ClassLabel column keeps the names)", but a dataset saved with
    Dataset.to_json (or to_csv) holds the ids only and was refused the same way; only Parquet keeps the names. The
    hint names Parquet, and a file of each writer reads as it says."""
    import datasets

    names = ["positive", "neutral", "negative"]
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=names)})
    ds = datasets.Dataset.from_dict({"text": ["up", "flat", "down"], "label": [0, 1, 2]}, features=features)
    ds.to_parquet(tmp_path / "d.parquet")
    assert load_labelled(tmp_path / "d.parquet", label_names=names).labels == names
    for writer, suffix in ((ds.to_json, "jsonl"), (ds.to_csv, "csv")):
        writer(tmp_path / f"d.{suffix}")
        with pytest.raises(InputError, match=re.escape("as Parquet (Dataset.to_parquet keeps a ClassLabel")):
            load_labelled(tmp_path / f"d.{suffix}", label_names=names)


def test_load_labelled_variants(tmp_path: Path) -> None:
    single = tmp_path / "single.csv"
    pd.DataFrame({"text": ["a", "b", "c"], "label": ["pos", "neg", "pos"], "failed": [False, False, True]}).to_csv(
        single, index=False
    )
    data = load_labelled(single, label_names=["pos", "neg"])
    assert data.labels == ["pos", "neg"] and data.n_failed == 1 and not data.multi_label
    assert data.label_ids() == [0, 1]
    with pytest.raises(InputError, match=r"label\(s\) \['neg'\].*not in the task's labels"):
        load_labelled(single, label_names=["pos", "neutral"])

    multi = tmp_path / "multi.csv"
    pd.DataFrame({"text": ["a", "b"], "labels": [json.dumps(["x"]), json.dumps(["x", "y"])]}).to_csv(
        multi, index=False
    )
    m = load_labelled(multi, label_names=["x", "y"], multi_label=True)
    assert m.multi_hot() == [[1, 0], [1, 1]]

    hot = tmp_path / "hot.csv"
    pd.DataFrame({"Text": ["a", "b"], "x": [True, False], "y": [True, True]}).to_csv(hot, index=False)
    h = load_labelled(hot, label_names=["x", "y"], multi_label=True)
    assert h.labels == [["x", "y"], ["y"]]

    nolabel = tmp_path / "nolabel.csv"
    pd.DataFrame({"text": ["a"]}).to_csv(nolabel, index=False)
    with pytest.raises(InputError, match="no 'label' or 'labels' column"):
        load_labelled(nolabel)


def test_a_labels_column_pandas_wrote_as_python_lists_reads(tmp_path: Path) -> None:
    """DataFrame.to_csv writes a list cell as Python's repr (['joy', 'anger']): it was refused as not JSON."""
    path = tmp_path / "pandas.csv"
    pd.DataFrame({"text": ["a", "b", "c"], "labels": [["joy", "anger"], ["joy"], []]}).to_csv(path, index=False)
    assert path.read_text().splitlines()[1] == "a,\"['joy', 'anger']\""
    data = load_labelled(path, label_names=["joy", "anger"], multi_label=True)
    assert data.labels == [["joy", "anger"], ["joy"], []]
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"text": ["a"], "labels": ["['joy', __import__('os')]"]}).to_csv(bad, index=False)
    with pytest.raises(InputError, match="is not a JSON list of names"):  # literals only, never evaluated
        load_labelled(bad, label_names=["joy"], multi_label=True)


def test_labels_written_in_another_case_or_spacing_are_the_tasks(tmp_path: Path) -> None:
    """Teachers' answers are matched to the task's labels ignoring case and spacing (spec.label_key); a labelled
    file with "Joy" or " anger " for a task of joy and anger was refused instead."""
    multi = pd.DataFrame({"text": ["a", "b"], "labels": [json.dumps(["Joy", " anger "]), "JOY"]})
    assert load_labelled(multi, label_names=["joy", "anger"], multi_label=True).labels == [["joy", "anger"], ["joy"]]
    single = pd.DataFrame({"text": ["a", "b"], "label": ["Positive", "very  negative"]})
    data = load_labelled(single, label_names=["positive", "very negative"], multi_label=False)
    assert data.label_ids() == [0, 1]
    with pytest.raises(InputError, match=r"label\(s\) \['joyful'\]"):  # another word is still another label
        load_labelled(pd.DataFrame({"text": ["a"], "labels": ['["joyful"]']}), label_names=["joy"], multi_label=True)


@pytest.mark.parametrize("multi", [False, True])
def test_publish_reads_labels_in_another_case_or_spacing_as_the_tasks_as_train_does(multi: bool) -> None:
    """train, evaluate, agree --task and apply-review read "Positive " as the task's positive; publish dataset
    refused the same file ("labels ['NEGATIVE', 'Positive '] are not in the task's labels; fix the spec"), and its
    --gold column likewise, so a file a student was trained on could not be published with it."""
    from sxhub.dataset_build import load_annotated
    from sxhub.spec import TaskSpec

    names = ["positive", "neutral", "negative"]
    spec = TaskSpec.from_dict({"name": "t", "description": "d", "labels": names, "multi_label": multi})
    column = "labels" if multi else "label"
    written = ["Positive ", "NEGATIVE", "neutral", ""]
    cells = [json.dumps([w]) if w and multi else w for w in written]
    frame = pd.DataFrame({"text": ["profit rose", "sales fell", "met analysts", "no label"], column: cells})
    frame["gold"] = ["positive", " Negative", "NEUTRAL", "neutral"]
    published = load_annotated(frame, spec, gold="gold")[0]
    wanted = ["positive", "negative", "neutral"]
    if multi:
        assert [list(v) for v in published[column]] == [[w] for w in wanted] + [[]]
        assert [list(v) for v in published["gold"]] == [[w] for w in wanted] + [["neutral"]]
    else:
        assert published[column].tolist() == wanted and published["gold"].tolist() == wanted
    data = load_labelled(frame, label_names=names, multi_label=multi)
    assert data.labels[:3] == ([[w] for w in wanted] if multi else wanted)
    with pytest.raises(PublishError, match=r"\['joyful'\] are not in the task's labels"):  # another word still is
        load_annotated(frame.assign(**{column: [json.dumps(["joyful"]) if multi else "joyful"] * 4}), spec)


def test_load_labelled_where_every_row_failed(tmp_path: Path) -> None:
    """train and evaluate read a file whose every row failed as nothing left to learn from or score (exit 2), not a
    ValueError from summing the empty text column."""
    path = tmp_path / "failed.csv"
    pd.DataFrame({"text": ["a", "b"], "label": ["", ""], "failed": [True, True]}).to_csv(path, index=False)
    with pytest.raises(InputError, match=r"no labelled rows left \(2 failed"):
        load_labelled(path, label_names=["pos", "neg"])


def test_read_a_hub_dataset_id(hub) -> None:
    """INPUT may be a Hub dataset id (``user/name`` or ``user/name:split``), read with the real datasets client."""
    from datasets import Dataset, DatasetDict

    repo = f"{hub.user}/texts"
    DatasetDict(
        {"train": Dataset.from_dict({"text": ["a", "b", "c"]}), "test": Dataset.from_dict({"text": ["d"]})}
    ).push_to_hub(repo)
    assert read_table(repo)["text"].tolist() == ["a", "b", "c"]
    assert read_table(f"{repo}:test")["text"].tolist() == ["d"]
    assert read_table(repo, limit=2)["text"].tolist() == ["a", "b"]
    with pytest.raises(InputError, match=r"Hub dataset 'tester/missing' \(split 'train'\) could not be loaded"):
        read_table(f"{hub.user}/missing")


def test_a_hub_dataset_without_the_split_or_with_configs_names_the_fix(hub) -> None:
    """A Hub dataset with no ``train`` split (only ``test``), or with configs, was "could not be loaded (ValueError);
    check the id and HF_TOKEN": neither was the fix. The line names the splits there are and the id to pass, or the
    configs and how to save one as a file."""
    from datasets import Dataset, DatasetDict

    repo = f"{hub.user}/only-test"
    DatasetDict({"test": Dataset.from_dict({"text": ["d"]})}).push_to_hub(repo)
    for given, split in ((repo, "train"), (f"{repo}:validation", "validation")):
        with pytest.raises(InputError) as info:
            read_table(given)
        assert str(info.value) == (
            f"Hub dataset {repo!r} has no split {split!r} (its splits: ['test']); pass {repo}:test (a split after "
            "the id)."
        )
    assert read_table(f"{repo}:test")["text"].tolist() == ["d"]
    configs = f"{hub.user}/configs"
    for name, text in (("en", "a"), ("fr", "b")):
        Dataset.from_dict({"text": [text]}).push_to_hub(configs, config_name=name)
    with pytest.raises(InputError, match=r"has configs \['en', 'fr'\], and sxhub reads one without") as info:
        read_table(configs)
    assert f"load_dataset('{configs}', 'en', split='train').to_parquet('configs-en.parquet')" in str(info.value)


def test_class_label_ids_of_a_datasets_parquet_file_read_as_their_names(tmp_path: Path) -> None:
    """A Parquet file written by ``datasets`` (``sxhub publish dataset``'s splits, ``Dataset.to_parquet``) stores
    a ClassLabel column as ids with the names in its metadata: train refused its own published dataset with
    "label(s) ['0', '1', '2'] ... are not in the task's labels"."""
    from datasets import ClassLabel, Dataset, Features, List, Value

    from sxhub.stream import iter_table

    names = ["positive", "neutral", "negative"]
    features = Features(
        {"text": Value("string"), "label": ClassLabel(names=names), "labels": List(ClassLabel(names=names))}
    )
    rows = {"text": ["up", "flat", "down", "?"], "label": [0, 1, 2, -1], "labels": [[0], [1, 2], [], [2]]}
    path = tmp_path / "train-00000-of-00001.parquet"
    Dataset.from_dict(rows, features=features).to_parquet(str(path))
    df = read_table(path)
    assert df["label"].tolist() == ["positive", "neutral", "negative", None]
    assert [list(v) for v in df["labels"]] == [["positive"], ["neutral", "negative"], [], ["negative"]]
    streamed = pd.concat(list(iter_table(path, chunk_rows=3)))
    assert streamed["label"].tolist() == ["positive", "neutral", "negative", None]
    data = load_labelled(path, label_names=names, multi_label=False)
    assert data.labels == ["positive", "neutral", "negative"] and data.n_no_label == 1
    plain = tmp_path / "plain.parquet"  # ids without datasets' metadata stay numbers
    pd.DataFrame({"text": ["a"], "label": [1]}).to_parquet(plain)
    assert read_table(plain)["label"].tolist() == [1]


def test_class_label_ids_of_a_hub_dataset_read_as_their_names(hub) -> None:
    from datasets import ClassLabel, Dataset, Features, Value

    repo = f"{hub.user}/labelled"
    features = Features({"text": Value("string"), "label": ClassLabel(names=["pos", "neg"])})
    Dataset.from_dict({"text": ["a", "b"], "label": [1, 0]}, features=features).push_to_hub(repo)
    assert read_table(repo)["label"].tolist() == ["neg", "pos"]


def test_a_label_column_named_in_the_one_flag_column_per_label_layout_reads_every_flag() -> None:
    """``evaluate --gold Price`` (or ``labels`` where the file has none) on GoEmotions' layout: the experts' label
    sets come from every flag column. Before, the one 0/1 column named was read as each text's label set."""
    names = ["Product", "Place", "Price", "Promotion"]
    df = pd.DataFrame(
        {
            "text": ["cheap shoes in store", "great ad", "nice day"],
            "labels": [["Product"], ["Promotion"], []],  # the teacher's, kept apart
            "Product": [1, 0, 0],
            "Place": [1, 0, 0],
            "Price": [1, 0, 0],
            "Promotion": [0, 1, 0],
        }
    )
    experts = [["Product", "Place", "Price"], ["Promotion"], []]
    from_flags = load_labelled(df, label_names=names, multi_label=True, label_column="Price")
    assert from_flags.labels == experts
    assert from_flags.label_column == "the 4 true/false label columns"  # evaluate's title: not "vs Price"
    assert load_labelled(df, label_names=names, multi_label=True, label_column="labels").labels == [
        ["Product"],
        ["Promotion"],
        [],
    ]
    flags_only = df.drop(columns=["labels"])
    assert load_labelled(flags_only, label_names=names, multi_label=True, label_column="labels").labels == experts
    single = pd.DataFrame({"text": ["a", "b"], "Price": [1, 0], "Place": [0, 1]})
    with pytest.raises(InputError, match="not in the task's labels"):  # single-label: a column is a column
        load_labelled(single, label_names=["Price", "Place"], multi_label=False, label_column="Price")


def test_preprocessing_twice_is_preprocessing_once() -> None:
    """train cleans annotate's already-cleaned texts again: a second pass must change nothing, or the student
    learns texts predict never produces (and trained_texts no longer recognises them). Whitespace between digit
    groups other than a space ("555\\n123\\n4567") was normalised after the phone step, then masked the second time."""
    from sxhub.data import apply_preprocessing, preprocessing_config

    block = preprocessing_config(True)
    texts = [
        "Call 555\n123\n4567 today",
        "Revenue\t2019\t2020\t2021 up",
        "Market cap 1\u00a0234\u00a0567\u00a0890 EUR",
        "mail me at  a.b@example.com\tor @jo_hn,  see https://x.co/a?b=1 \n now",
        "plain text, nothing to mask",
    ]
    once = [apply_preprocessing(t, block) for t in texts]
    assert [apply_preprocessing(t, block) for t in once] == once
    assert once[0] == "Call PHONE today"


def test_rows_with_an_empty_label_cell_are_counted_in_the_training_notes() -> None:
    """They were left out without a word: the notes counted failed rows and rows without a text only."""
    from sxhub.targets import data_notes

    df = pd.DataFrame({"text": ["a", "b", "c", "d"], "label": ["pos", None, "", "neg"]})
    data = load_labelled(df, label_names=["pos", "neg"], multi_label=False)
    assert data.texts == ["a", "d"] and data.n_no_label == 2
    assert "2 row(s) with an empty label cell were left out." in data_notes(data)


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".parquet"])
def test_integers_with_a_null_stay_integers_through_read_and_write(tmp_path: Path, suffix: str) -> None:
    """pandas reads an integer column with a null as floats: a JSONL or Parquet input's ``year: 2024`` came back as
    2024.0 in every output. JSON's own types are kept (a float stays a float), and a missing list cell is an empty
    CSV field that reads back as no value."""
    rows = [
        {"text": "a", "year": 2024, "score": 0.5, "created_at": "2024-01-02", "labels": ["x"]},
        {"text": "b", "year": None, "score": 1.0, "created_at": None, "labels": None},
        {"text": "c", "year": 2025, "score": None, "created_at": "2024-03-04", "labels": []},
    ]
    source = tmp_path / f"in{suffix}"
    if suffix == ".parquet":  # as datasets, polars or DuckDB write it: no pandas metadata
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), source)
    elif suffix == ".json":
        source.write_text(json.dumps(rows), encoding="utf-8")
    else:  # with a byte-order mark and a blank line, as editors leave them
        source.write_text("\ufeff" + "\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    back = read_table(source)
    assert back["year"].tolist() == [2024, None, 2025] and all(type(v) is int for v in back["year"][[0, 2]])
    assert back["created_at"].tolist()[::2] == ["2024-01-02", "2024-03-04"]
    write_table(back, tmp_path / "out.csv")
    lines = (tmp_path / "out.csv").read_text(encoding="utf-8").splitlines()
    assert lines[1:] == ['a,2024,0.5,2024-01-02,"[""x""]"', "b,,1.0,,", "c,2025,,2024-03-04,[]"]
    again = read_table(tmp_path / "out.csv")
    assert [v if v is None else list(v) for v in again["labels"]] == [["x"], None, []]
    write_table(back, tmp_path / "out.jsonl")
    assert [json.loads(line)["year"] for line in (tmp_path / "out.jsonl").read_text().splitlines()] == [
        2024,
        None,
        2025,
    ]
    write_table(back, tmp_path / "out.parquet")
    import pyarrow.parquet as pq

    assert str(pq.read_schema(tmp_path / "out.parquet").field("year").type) == "int64"


def test_jsonl_chunks_keep_integers_with_a_null(tmp_path: Path) -> None:
    """The streamed reader (``predict`` on millions of rows) reads JSONL as :func:`read_table` does, chunk by chunk."""
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"text": t, "n": n}) + "\n" for t, n in [("a", 1), ("b", None), ("c", 3)]))
    chunks = list(iter_chunks(str(source), chunk_rows=2))
    assert [c["n"].tolist() for c in chunks] == [[1, None], [3]]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a"}\n["b"]\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"line 2 is a JSON list, not an object"):
        read_table(bad)


def test_a_hub_dataset_keeps_integers_with_a_null(hub) -> None:
    from datasets import Dataset

    repo = f"{hub.user}/years"
    Dataset.from_dict({"text": ["a", "b"], "year": [2024, None]}).push_to_hub(repo)
    assert read_table(repo)["year"].tolist() == [2024, None]


def test_an_empty_multi_label_cell_is_left_out_of_training_and_counted(tmp_path: Path) -> None:
    """``[]`` is "no label applies" and trains as such; an empty cell (or the word a missing value prints as) is a
    text nobody labelled, left out and counted as agree and the cards count it, not trained as "none of them"."""
    source = tmp_path / "in.csv"
    cells = ['["a"]', "[]", "", "nan", '["a", "b"]']
    pd.DataFrame({"text": list("vwxyz"), "labels": cells}).to_csv(source, index=False)
    data = load_labelled(source, label_names=["a", "b"], multi_label=True)
    assert data.texts == ["v", "w", "z"] and data.labels == [["a"], [], ["a", "b"]] and data.n_no_label == 2


@pytest.mark.parametrize("where", ["frame", "parquet"])
def test_multi_label_is_guessed_past_a_run_of_empty_cells(where: str, tmp_path: Path) -> None:
    """Without multi_label, the kind was guessed from the first 200 cells: a frame sorted so that its first 250
    texts have no label read its list cells as single-label and refused the first with two labels. A Parquet list
    column (read as arrays) failed the guess itself ("The truth value of an array ... is ambiguous")."""
    frame = pd.DataFrame({"text": [f"t{i}" for i in range(252)], "expert": [None] * 250 + [["a", "b"], ["a"]]})
    source: Any = frame
    if where == "parquet":
        source = tmp_path / "in.parquet"
        frame.to_parquet(source)
    data = load_labelled(source, label_column="expert")
    assert data.multi_label is True and data.labels == [["a", "b"], ["a"]] and data.n_no_label == 250


def test_rows_the_teachers_failed_on_keep_their_expert_label(tmp_path: Path) -> None:
    """``tune --label-column expert`` (or evaluate's gold) on an annotate output: a row whose teacher vote failed
    still has the experts' label, and was dropped with the failed ones. Only the teachers' own column loses it."""
    frame = pd.DataFrame(
        {
            "text": ["a", "b", "c"],
            "label": ["positive", None, "negative"],
            "failed": [False, True, False],
            "expert": ["positive", "neutral", "negative"],
        }
    )
    teacher = load_labelled(frame)
    assert teacher.texts == ["a", "c"] and teacher.n_failed == 1
    expert = load_labelled(frame, label_column="expert")
    assert expert.texts == ["a", "b", "c"] and expert.labels[1] == "neutral" and expert.n_failed == 0


def test_the_email_step_masks_what_it_did_and_leaves_crafted_runs() -> None:
    """The e-mail step's runs are bounded by the RFC limits (local part 64, domain label 63) so that cleaning stays
    linear on a crafted run of word characters and dots (bench/results/clean.md); a valid address is masked as
    before, a local part or label longer than the limits is left, and the saved block records version 3."""
    from sxhub.data import EMAIL_RE, preprocessing_config

    assert mask_pii("write to first.last+tag@mail.example.co.uk today") == "write to EMAIL today"
    assert mask_pii("x" * 64 + "@example.com") == "EMAIL"
    assert mask_pii("ops@" + "d" * 63 + ".io") == "EMAIL"
    assert mask_pii("ops@" + "d" * 64 + ".io") == "ops@" + "d" * 64 + ".io"
    crafted = "a." * 5_000
    assert EMAIL_RE.search(crafted) is None and mask_pii(crafted) == crafted
    assert preprocessing_config(True)["version"] >= 3


@pytest.mark.parametrize(
    ("text", "cleaned"),
    [  # a mask ran on over the words after it in scripts without spaces: the review's sentiment was gone
        ("请访问 https://example.com了解更多。价格很好", "请访问 URL了解更多。价格很好"),
        ("请访问https://example.com 了解更多", "请访问URL 了解更多"),  # no \b between 问 and h: left unmasked
        ("お問い合わせはinfo@example.jpまで", "お問い合わせはEMAILまで"),  # was "EMAIL"
        ("URL：https://example.com（公式）です", "URL：URL（公式）です"),
        ("https://x.com에서 확인하세요", "URL에서 확인하세요"),
        ("電話03-1234-5678まで", "電話PHONEまで"),
        ("大家好 @张三你好吗今天天气很好。", "大家好 @张三你好吗今天天气很好。"),  # was "大家好 @user。"
        ("感谢 @张三 的推荐 //@人民日报:转发", "感谢 @user 的推荐 //@user:转发"),
        # where a handle glued to the words after it ends is unknown: kept whole, at the end of the text too (it
        # was "感谢@user", "@user", "大家好 @user", though a "！" or "。" after them kept them)
        ("感谢@小米公司的支持", "感谢@小米公司的支持"),
        ("感谢@小米公司的支持！", "感谢@小米公司的支持！"),
        ("@田中さんありがとう", "@田中さんありがとう"),
        ("大家好 @张三你好吗今天天气很好", "大家好 @张三你好吗今天天气很好"),
        ("感谢@小米公司 的支持，回复@张三:好的", "感谢@user 的支持，回复@user:好的"),  # a space or colon ends it
        ("感谢@xiaomi_official的支持", "感谢@user的支持"),  # a Latin handle ends at the first Han character
        # a run before a space is masked up to it, as Weibo links it: a typed "@小米公司的支持 " is a picked
        # "@小米公司 " to sxhub, and both are masked rather than both kept
        ("@小米公司的支持 太棒了", "@user 太棒了"),
        # at the end of the text, with no space typed, it is kept, as "感谢@小米公司的支持" is; a picked mention
        # keeps its space there and is masked
        ("分享给@张三", "分享给@张三"),
        ("分享给@张三 ", "分享给@user"),
        # a run longer than a Weibo nickname (15 characters of unspaced script) is a clause, not a name: kept (up
        # to version 6 it was "@user 好吗", the clause gone); a nickname of 15 is still masked
        ("@张三你这个人真的太过分了我再也不想理你了 好吗", "@张三你这个人真的太过分了我再也不想理你了 好吗"),
        ("回复@张三你这个人真的太过分了我再也不想理你了:好", "回复@张三你这个人真的太过分了我再也不想理你了:好"),
        ("@一二三四五六七八九十一二三四五 好", "@user 好"),
        ("@小米xiaomi_official_cn 好", "@user 好"),
        ("@राहुल बहुत अच्छा", "@user बहुत अच्छा"),  # was "@userाहुल": the vowel signs left behind
        ("שלום @דני מה נשמע https://ex.com/א", "שלום @user מה נשמע URL"),
        ("رقم ٠١٢٣٤٥٦٧٨٩ هاتف", "رقم PHONE هاتف"),
        ("Preis: 49,99 € — super! @anna_k 👍🏽", "Preis: 49,99 € — super! @user 👍🏽"),
    ],
)
def test_masks_end_where_the_word_ends_in_every_script(text: str, cleaned: str) -> None:
    assert preprocess_text(text) == cleaned


def test_a_model_saved_with_an_earlier_block_keeps_its_handle_rule() -> None:
    """Version 6 keeps a CJK handle glued to the words after it at the end of a text, and version 7 a run before a
    space that is longer than a Weibo nickname; a model saved with version 5 ended the handle at the end of the
    text, one saved with 6 masked a run of up to 30 before a space, and their saved patterns still do (their texts
    were trained so)."""
    from sxhub.data import _EDGE, _W, HANDLE_RE, apply_preprocessing, preprocessing_config

    block = preprocessing_config(True)
    assert block["version"] == 7
    v6_pattern = rf"(?<!{_W})(?<!@)@(?:{_W}{{1,30}}{_EDGE}|\w{{1,30}}(?=[\s:\uff1a]))"
    v5_pattern = v6_pattern.replace(r"(?=[\s:\uff1a]))", r"(?=[\s:\uff1a]|$))")

    def saved(version: int, pattern: str) -> dict[str, Any]:
        steps = [dict(s, pattern=pattern) if s["name"] == "handle" else s for s in block["steps"]]
        return {**block, "version": version, "steps": steps}

    assert HANDLE_RE.pattern in [s["pattern"] for s in block["steps"]] and HANDLE_RE.pattern != v6_pattern
    glued = "感谢@小米公司的支持"
    assert apply_preprocessing(glued, saved(5, v5_pattern)) == "感谢@user"
    assert apply_preprocessing(glued, saved(6, v6_pattern)) == glued == apply_preprocessing(glued, block)
    clause = "@张三你这个人真的太过分了我再也不想理你了 好吗"
    assert apply_preprocessing(clause, saved(6, v6_pattern)) == "@user 好吗"
    assert apply_preprocessing(clause, block) == clause
    picked = "感谢 @张三 的推荐"  # the rule every version shares
    for old in (saved(5, v5_pattern), saved(6, v6_pattern), block):
        assert apply_preprocessing(picked, old) == "感谢 @user 的推荐"


def test_a_text_written_nfd_is_cleaned_as_written_nfc() -> None:
    """Combining accents are part of a word: "josé@x.com" typed on a Mac (NFD) was no e-mail and "@José" left
    "@user\u0301"; both spellings now clean to the same text."""
    import unicodedata

    text = "Merci José ! écrivez à josé@exemple.fr ou @José_Núñez, café à 3€"
    nfc, nfd = unicodedata.normalize("NFC", text), unicodedata.normalize("NFD", text)
    assert preprocess_text(nfc) == "Merci José ! écrivez à EMAIL ou @user, café à 3€"
    assert unicodedata.normalize("NFC", preprocess_text(nfd)) == preprocess_text(nfc)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_a_byte_that_is_not_utf8_deep_in_a_streamed_file_is_named_where_it_is(tmp_path: Path, suffix: str) -> None:
    """The decode error counts from the start of the reader's buffer: past it (8 KiB for JSONL, 256 KiB for CSV) the
    line said "byte 5867" for a byte at 71,403, where nothing was wrong. Now it names the file's offset and line."""
    from sxhub.stream import iter_table

    good = [
        json.dumps({"text": f"text number {i} é"}) if suffix == ".jsonl" else f"text number {i} é"
        for i in range(20_000)
    ]
    bad = '{"text": "caf\xe9"}' if suffix == ".jsonl" else "caf\xe9"
    head = ("" if suffix == ".jsonl" else "text\n") + "\n".join(good) + "\n"
    body = head.encode("utf-8") + bad.encode("latin-1") + b"\n" + "\n".join(good[:10]).encode("utf-8") + b"\n"
    path = tmp_path / f"in{suffix}"
    path.write_bytes(body)
    offset, line = len(head.encode("utf-8")) + bad.index("\xe9"), head.count("\n") + 1
    with pytest.raises(InputError, match=re.escape(f"is not UTF-8 (line {line}, byte {offset})")):
        for _ in iter_table(path, chunk_rows=1000):
            pass


@pytest.mark.parametrize(
    ("suffix", "fix"),
    [
        (".csv", "give it a header row"),
        (".jsonl", "give it one JSON object per line"),
        (".json", "give it a JSON array"),
    ],
)
def test_an_empty_input_is_told_the_fix_for_its_format(tmp_path: Path, suffix: str, fix: str) -> None:
    """A 0-byte JSONL file was told to add a header row."""
    from sxhub.stream import iter_table

    path = tmp_path / f"in{suffix}"
    path.write_bytes(b"")
    for read in (read_table, lambda p: list(iter_table(p))):
        with pytest.raises(InputError, match=f"is empty; {fix}"):
            read(path)


@pytest.mark.parametrize("multi_label", [False, True])
def test_na_label_cells_without_label_names_are_unlabelled_rows(tmp_path: Path, multi_label: bool) -> None:
    """Reading labels off a CSV with no label names given (``load_labelled`` without a task, ``doubts`` without
    --task), "NA", "N/A", "null", "None" and "#N/A" cells were labels of those names. They are rows nobody labelled,
    left out and counted like an empty cell; with the names given, a label called "None" or "NA" is still one."""
    from sxhub.doubts_read import _read_rows

    column = "labels" if multi_label else "label"
    cells = ["pos", "NA", "neg", "N/A", " null ", "None", "#N/A", "pos"]
    path = tmp_path / "l.csv"
    pd.DataFrame({"text": [f"t{i}" for i in range(len(cells))], column: cells}).to_csv(path, index=False)
    data = load_labelled(path)
    assert data.label_names == ["neg", "pos"] and data.n_no_label == 5 and data.texts == ["t0", "t2", "t7"]
    rows = _read_rows(path, label_names=None, multi_label=None, text_column=None)
    assert rows.label_names == ["neg", "pos"] and rows.left_out["no_label"] == 5
    names = ["pos", "neg", "None", "NA"]
    named = pd.DataFrame({"text": ["a", "b", "c"], column: ["None", "NA", "pos"]})
    data = load_labelled(named, label_names=names, multi_label=multi_label)
    assert data.labels == ([["None"], ["NA"], ["pos"]] if multi_label else ["None", "NA", "pos"])
    assert data.n_no_label == 0


def test_na_label_words_are_pandas_missing_value_words() -> None:
    from pandas._libs.parsers import STR_NA_VALUES

    from sxhub.labelled import NA_LABEL_WORDS

    assert {word.lower() for word in STR_NA_VALUES} <= NA_LABEL_WORDS


def test_a_text_column_of_bytes_is_read_as_text_and_one_of_lists_is_refused_by_every_reader(tmp_path: Path) -> None:
    """A Parquet ``binary`` text column was annotated and trained on as each cell's Python repr (``"b'profit
    rose'"``), and a column of lists or objects (a Parquet list, a JSONL object) as ``"['a', 'b']"``; predict already
    read the one and refused the other. Annotate's and train's readers now do the same, with the same one line."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "bin.parquet"
    texts = ["profit rose", "sales fell", ""]
    pq.write_table(pa.table({"text": pa.array([t.encode() for t in texts], pa.binary()),
                             "label": ["positive", "negative", "neutral"]}), path)  # fmt: skip
    assert prepare_texts(read_table(path)).frame["text"].tolist() == ["profit rose", "sales fell"]
    labelled = load_labelled(path)
    assert labelled.texts == ["profit rose", "sales fell"] and labelled.n_empty_text == 1

    lists = tmp_path / "lists.jsonl"
    lists.write_text('{"text": ["a", "b"], "label": "x"}\n{"text": "fine", "label": "y"}\n', encoding="utf-8")
    for read in (lambda: prepare_texts(read_table(lists)), lambda: load_labelled(lists)):
        with pytest.raises(
            InputError, match=r"column 'text' holds a list \(\[\"a\", \"b\"\]\), not a text; pass --text"
        ):
            read()
    nested = tmp_path / "nested.jsonl"  # the texts inside an object: "pass --text-column" could not reach them
    nested.write_text('{"meta": {"text": "profit rose", "lang": "en"}, "label": "x"}\n', encoding="utf-8")
    with pytest.raises(InputError) as info:
        prepare_texts(read_table(nested), text_column="meta")
    assert str(info.value).endswith(
        "not a text; its texts are under 'text' inside it: flatten the file first (e.g. `jq -c '.text = "
        """.["meta"]["text"]' INPUT > flat.jsonl`), or pass --text-column (Python: text_column=) with the """
        "column of texts."
    ) or pytest.fail(str(info.value))
    bad = tmp_path / "latin1.parquet"
    pq.write_table(pa.table({"text": pa.array(["caf\xe9".encode("latin-1")], pa.binary())}), bad)
    with pytest.raises(InputError, match="holds bytes that are not UTF-8 text"):
        prepare_texts(read_table(bad))


def test_a_flag_cell_that_is_neither_1_nor_0_is_refused_not_read_as_off(tmp_path: Path, capsys) -> None:
    """GoEmotions' layout, one 0/1 column per label: a cell '2' (a count of raters) or 'x' was read as off, and
    `evaluate --gold labels` scored the student against label sets that lost it, exit 0."""
    from conftest import run_cli

    names = ["joy", "anger", "neutral"]
    base = {"text": ["so happy", "so angry", "ok then"], "joy": [1, 0, 0], "anger": [0, 1, 0]}
    for cell, shown in (("2", "'2'"), ("x", "'x'"), (0.7, "'0.7'")):
        df = pd.DataFrame({**base, "neutral": [0, 0, cell]})
        with pytest.raises(InputError, match=rf"label column 'neutral' holds {re.escape(shown)} \(1 such cell"):
            load_labelled(df, label_names=names, multi_label=True)
    ok = pd.DataFrame({**base, "neutral": ["false", "", "True"]})  # blank: off, as before
    assert load_labelled(ok, label_names=names, multi_label=True).labels == [["joy"], ["anger"], ["neutral"]]

    # the command: one line, exit 2, before any model is loaded
    task = tmp_path / "task.yaml"
    task.write_text("name: emo\nmulti_label: true\nlabels: [joy, anger, neutral]\n", encoding="utf-8")
    data = tmp_path / "gold.csv"
    teacher = [json.dumps(x) for x in (["joy"], ["anger"], ["neutral"])]
    pd.DataFrame({**base, "neutral": [0, 0, 2], "labels": teacher}).to_csv(data, index=False)
    code, _out, err = run_cli(["agree", str(data), "--gold", "joy", "--task", str(task)], capsys)
    assert code == 2 and "label column 'neutral' holds" in err and len(err.strip().splitlines()) == 1, err


def test_a_missing_flag_column_among_28_is_named() -> None:
    """A GoEmotions file without its 'pride' column: the error listed the file's first 20 columns and said no
    label column was found, never which of the 28 was missing."""
    names = [f"emotion{i}" for i in range(27)] + ["pride"]
    df = pd.DataFrame({"text": ["a", "b"], **{n: [0, 1] for n in names[:-1]}})
    with pytest.raises(InputError, match=r"27 of the task's 28 labels, but none for \['pride'\]: add it"):
        load_labelled(df, label_names=names, multi_label=True, label_column="labels")
    with pytest.raises(InputError, match=r"none for \['pride'\]"):
        load_labelled(df, label_names=names, multi_label=True)


def test_a_flag_column_named_in_another_case_is_named_with_the_rename_not_to_be_added(tmp_path: Path, capsys) -> None:
    """GoEmotions columns with one written 'Anger ': train said "none for ['anger']: add it (0 where the label never
    applies)", and a user who added it trained anger as never on beside their own column. The line now says which
    column to rename to which label."""
    from conftest import run_cli

    names = ["admiration", "anger", "gratitude", "sadness", "neutral"]
    flags = {n: [1, 0, 0] for n in names}
    df = pd.DataFrame({"text": ["a", "b", "c"], **flags}).rename(columns={"anger": "Anger "})
    rename = r"5 of the task's 5 labels, 1 of them named in another case or spacing: rename 'Anger ' to 'anger'\."
    with pytest.raises(InputError, match=rename) as err:
        load_labelled(df, label_names=names, multi_label=True)
    assert "add it" not in str(err.value)
    titled = pd.DataFrame({"text": ["a"], **{n.title(): [1] for n in names[:4]}})  # and one column missing
    with pytest.raises(InputError, match=r"'Sadness' to 'sadness'; but none for \['neutral'\]: add it"):
        load_labelled(titled, label_names=names, multi_label=True)
    data = tmp_path / "gold.csv"
    df.to_csv(data, index=False)
    task = tmp_path / "task.yaml"
    task.write_text(f"name: emo\nmulti_label: true\nlabels: {names}\n", encoding="utf-8")
    code, _, err_text = run_cli(["train", str(task), str(data), "-o", str(tmp_path / "m")], capsys)
    assert code == 2 and "rename 'Anger ' to 'anger'" in err_text and "add it" not in err_text, err_text


@pytest.mark.parametrize(
    ("on", "off"), [("yes", "no"), ("Yes", "No"), ("True", "False"), ("1", "0"), ("1.0", "0.0"), (True, False)]
)
def test_failed_column_in_the_usual_boolean_spellings(on: object, off: object, tmp_path: Path) -> None:
    """A 'failed' column written yes/no (a spreadsheet, another tool) was read as never failed: only 'true' and
    '1' counted, so the failed rows were kept (trained on, scored, published) or counted as rows without a label.
    Every reader of the column (train/evaluate, agree, doubts, review, publish) reads the same spellings."""
    from sxhub.dataset_build import load_annotated
    from sxhub.doubts_read import _read_rows
    from sxhub.spec import TaskSpec

    frame = pd.DataFrame(
        {
            "text": ["profit rose", "loss widened", "a stale row", "sales fell"],
            "label": ["positive", "negative", "positive", "negative"],  # a failed row's stale label: not read
            "failed": [off, off, on, off],
        }
    )
    data = load_labelled(frame, label_names=["positive", "negative"], multi_label=False)
    assert data.n_failed == 1 and "a stale row" not in data.texts and len(data.texts) == 3
    spec = TaskSpec.from_dict({"name": "t", "description": "d", "labels": ["positive", "negative"]})
    published, n_input, n_failed = load_annotated(frame, spec)
    assert (n_input, n_failed) == (4, 1) and "a stale row" not in published["text"].tolist()
    rows = _read_rows(frame, label_names=["positive", "negative"], multi_label=False, text_column=None)
    assert "a stale row" not in rows.texts


def test_a_failed_column_that_is_not_true_or_false_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from conftest import run_cli

    path = tmp_path / "labelled.csv"
    pd.DataFrame(
        {"text": ["a", "b", "c"], "label": ["x", "y", "x"], "gold": ["x", "y", "y"], "failed": ["no", "maybe", "no"]}
    ).to_csv(path, index=False)
    with pytest.raises(InputError, match=r"column 'failed' holds 'maybe' in row 2 .*write true or false"):
        load_labelled(path)
    code, out, err = run_cli(["agree", str(path), "--gold", "gold"], capsys)
    assert code == 2 and out == "" and "column 'failed' holds 'maybe'" in err and len(err.strip().splitlines()) == 1


def test_text_column_messages_name_the_option_for_the_cli_and_python() -> None:
    """The text-column messages are shared by the CLI and the Python API, and named only the flag: a Python caller
    (load_labelled(df, text_column="body"), prepare_texts) read "pass --text-column NAME", which it cannot pass.
    Each names the flag and the parameter now, and a DataFrame without a usual column name is told to name it."""
    frame = pd.DataFrame({"contenu": ["profit rose", "sales fell"], "label": ["pos", "neg"]})
    refusals = []
    for call in (
        lambda: load_labelled(frame, text_column="body"),
        lambda: prepare_texts(frame),
        lambda: prepare_texts(frame.assign(contenu=[["a"], ["b"]]), text_column="contenu"),
        lambda: prepare_texts(frame.assign(contenu=["", " "]), text_column="contenu"),
    ):
        with pytest.raises(InputError) as refused:
            call()
        refusals.append(str(refused.value))
    for message in refusals:
        assert "--text-column (Python: text_column=)" in message, message
    assert "or name it 'text'" in refusals[1]
    with pytest.raises(InputError, match=re.escape("--max-chars (Python: max_chars=)")):
        prepare_texts(frame, text_column="contenu", max_chars=5)


def test_a_datasets_dataset_where_a_file_goes_names_to_pandas(tmp_path: Path) -> None:
    """train/agree/evaluate(..., ds) with a datasets.Dataset said 'input "Dataset({\\n features: [...]})" not
    found; pass a .csv...', its repr read as a path; now one line that names ds.to_pandas(), which works."""
    datasets = pytest.importorskip("datasets")
    from sxhub import TaskSpec, TrainConfig, agree
    from sxhub.evaluate import evaluate
    from sxhub.train import train

    frame = pd.DataFrame({"text": ["profit rose", "loss fell"], "label": ["up", "down"], "gold": ["up", "up"]})
    ds = datasets.Dataset.from_pandas(frame)
    spec = TaskSpec(name="t", labels=["up", "down"])
    fix = "the data is a Dataset, not a file; pass ds.to_pandas() (a pandas DataFrame), or the path of a .csv"
    calls = [
        lambda: train(spec, ds, TrainConfig(output_dir=tmp_path / "m")),
        lambda: agree(ds, gold="gold"),
        lambda: evaluate(tmp_path / "no-model", ds),
        lambda: load_labelled(ds),
    ]
    for call in calls:
        with pytest.raises(InputError, match=re.escape(fix)):
            call()
    with pytest.raises(InputError, match=re.escape("the data is a DatasetDict, not a file; pick a split and pass")):
        agree(datasets.DatasetDict({"train": ds}), gold="gold")
    with pytest.raises(InputError, match=re.escape("the data is a list, not a file; pass a pandas DataFrame, or")):
        load_labelled(["profit rose"])  # type: ignore[arg-type]
    assert agree(ds.to_pandas(), gold="gold")["n"] == 2
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("suffix", [".csv", ".txt"])
def test_an_excel_csv_in_cp1252_is_told_to_convert_from_cp1252(tmp_path: Path, suffix: str) -> None:
    """Excel on Windows saves "CSV" in cp1252: the error said `iconv -f latin1`, which turns its ’ “ ” – € into
    invisible control characters, so the "fixed" file read without an error and a tweet's "20€" reached the model as
    "20". The fix now names cp1252, which gives the text back; bytes cp1252 has no character for still name latin1."""
    from sxhub.stream import iter_lines

    text = "New boots – only 20€ at the Nike store, “deal”"
    path = tmp_path / f"excel{suffix}"
    path.write_bytes(("text\r\n" if suffix == ".csv" else "").encode() + text.encode("cp1252") + b"\r\n")
    read = read_table if suffix == ".csv" else lambda p: pd.concat(iter_lines(p))
    with pytest.raises(InputError, match=r"`iconv -f (\S+) -t utf-8") as error:
        read(path)
    named = re.search(r"iconv -f (\S+)", str(error.value)).group(1)  # type: ignore[union-attr]
    assert path.read_bytes().decode(named).splitlines()[-1] == text
    other = tmp_path / f"other{suffix}"
    other.write_bytes(("text\n" if suffix == ".csv" else "").encode() + b"caf\xe9 \x81\n")
    with pytest.raises(InputError, match=r"`iconv -f latin1 -t utf-8"):
        read(other)


def test_a_dataframe_or_a_list_where_only_a_path_goes_is_refused_in_one_line(tmp_path: Path) -> None:
    """run_pipeline(spec, df, ...) said 'the data is a DataFrame, not a file; pass a pandas DataFrame, or the path
    ...': it asked for what it had just been given. find_doubts(["a text", ...]) ended in os.fspath's TypeError, and
    find_doubts(df, label_names="positive") took the labels 'p', 'o', 's'... Each is one line naming the fix."""
    from sxhub import RunConfig, TaskSpec, run_pipeline
    from sxhub.doubts import find_doubts

    frame = pd.DataFrame({"text": [f"profit rose {i}" for i in range(8)], "label": ["up", "down"] * 4})
    spec = TaskSpec(name="t", labels=["up", "down"], teachers=["http://127.0.0.1:9/v1"])
    with pytest.raises(InputError) as refused:
        run_pipeline(spec, frame, RunConfig(out=tmp_path / "run"))  # type: ignore[arg-type]
    assert str(refused.value) == (
        "the data is a DataFrame, where this call takes the path of a file or a Hub dataset id; write it to a file "
        "first (df.to_parquet('texts.parquet')) and pass that path."
    )
    assert not (tmp_path / "run").exists()
    with pytest.raises(InputError, match=re.escape("the data is a list, not a file; pass a pandas DataFrame, or")):
        find_doubts(frame.text.tolist())  # type: ignore[arg-type]
    with pytest.raises(InputError, match=re.escape("label_names= takes a list of label names, not one string")):
        find_doubts(frame, label_names="up")  # type: ignore[arg-type]


def test_the_column_named_text_is_the_text_column_beside_a_case_variant(tmp_path: Path) -> None:
    """With columns ``text`` and ``Text`` (an export that kept a raw and a cleaned copy), the last of the case variants
    was taken for the text column: annotate and train read ``Text``, the column not asked for by its exact name."""
    path = tmp_path / "two.csv"
    path.write_text("text,Text,label\nthe cleaned one,THE RAW ONE,a\n", encoding="utf-8")
    assert prepare_texts(read_table(path)).text_column == "text"
    assert load_labelled(path).texts == ["the cleaned one"]
    assert [c.columns[0] for c in iter_chunks(path, 10)] == ["text"]
    # no exact name and two variants: neither is more likely the column meant (the first was taken without a word,
    # as find_column refuses Label beside LABEL): one line naming both and the fix
    other = tmp_path / "upper.csv"
    other.write_text("TEXT,Text\nfirst,second\n", encoding="utf-8")
    with pytest.raises(
        InputError, match=r"^columns 'TEXT' and 'Text' both read as 'text'; rename one of them, or pass --text-column"
    ):
        prepare_texts(read_table(other))
    one = tmp_path / "one.csv"
    one.write_text("id,TEXT\n1,only\n", encoding="utf-8")
    assert prepare_texts(read_table(one)).texts == ["only"]


def test_a_text_column_of_integers_with_a_gap_reads_as_the_integers_written(tmp_path: Path) -> None:
    """A JSONL/Parquet text column of whole numbers with a null (texts such as "2024", "42") came back as "2024.0":
    mapping the cells turned the integers and the None into floats, and annotate and train read the ".0" texts."""
    path = tmp_path / "years.jsonl"
    path.write_text('{"text": 2024, "label": "a"}\n{"text": null, "label": "b"}\n{"text": 42, "label": "c"}\n')
    prepared = prepare_texts(read_table(path))
    assert prepared.texts == ["2024", "42"] and prepared.n_empty == 1
    # a file whose every text is a number is refused by train and evaluate as predict refuses it (ids, not texts:
    # check_text_values); beside a text (here a failed row's, left out) the numbers are texts, read as written
    with pytest.raises(InputError, match=r"column 'text' holds numbers \(\[2024, 42\]\), not texts"):
        load_labelled(path)
    with path.open("a") as f:
        f.write('{"text": "profit rose", "label": null, "failed": true}\n')
    labelled = load_labelled(path)
    assert labelled.texts == ["2024", "42"] and labelled.n_empty_text == 1 and labelled.n_failed == 1


def test_a_compressed_file_or_a_workbook_is_one_line_naming_how_to_make_it_a_table(tmp_path: Path) -> None:
    """A gzip'd CSV, or an Excel workbook, named .csv (a download kept compressed, a workbook renamed) was told it is
    not UTF-8 and to convert it with `iconv -f cp1252`, which wrote bytes of garbage; named .csv.gz or .xlsx it was
    told only to use .csv. Each is now one line saying what the file is and how to get a table from it."""
    import gzip
    import zipfile

    from sxhub.stream import check_input

    gz = tmp_path / "texts.csv.gz"
    gz.write_bytes(gzip.compress(b"text\nSales rose\n"))
    renamed = tmp_path / "texts.csv"
    renamed.write_bytes(gz.read_bytes())
    book = tmp_path / "book.xlsx"
    with zipfile.ZipFile(book, "w") as archive:  # an .xlsx is a zip archive of XML parts
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>" + "x" * 3000)
    book_csv = tmp_path / "book.csv"
    book_csv.write_bytes(book.read_bytes())
    table_readers = (read_table, lambda p: list(iter_chunks(p, 10)))
    for path, message, readers in (
        (gz, r"is gzip-compressed; decompress it first \(`gzip -dc texts.csv.gz > fixed.csv`\)", 3),
        (renamed, r"is gzip-compressed; decompress it first \(`gzip -dc texts.csv > fixed.csv`\)", 2),
        (book, r"is a spreadsheet workbook, .*save the sheet as CSV \(Excel: File > Save As > CSV UTF-8\)", 3),
        (book_csv, r"is a spreadsheet workbook, .*save the sheet as CSV \(Excel: File > Save As > CSV UTF-8\)", 2),
    ):  # a .csv passes predict's check of the extension: its reading says what it is
        for read in (*table_readers, lambda p: check_input(p, None))[:readers]:
            with pytest.raises(InputError, match=message) as err:
                read(path)
            assert "iconv" not in str(err.value) and "\n" not in str(err.value)


def test_a_text_column_named_with_spaces_around_text_is_found(tmp_path: Path) -> None:
    """``id, text, label`` (a header typed with a space after each comma) named the column ' text': every verb said
    it found no text column in ``['id', ' text', ' label']`` and to name it 'text'. Spaces around a name count as
    little as its case does; the column keeps its name as written."""
    path = tmp_path / "typed.csv"
    path.write_text("id, text, label\n1,hello there,pos\n2,bad day,neg\n", encoding="utf-8")
    prepared = prepare_texts(read_table(path))
    assert prepared.text_column == " text" and prepared.texts == ["hello there", "bad day"]
    assert load_labelled(path, label_column=" label").texts == ["hello there", "bad day"]
    both = tmp_path / "both.csv"  # the exact name first, as with a case variant
    both.write_text("text ,text\na,b\n", encoding="utf-8")
    assert prepare_texts(read_table(both)).texts == ["b"]


def test_a_parquet_file_with_two_columns_of_one_name_is_one_line_naming_them(tmp_path: Path) -> None:
    """Arrow lets a Parquet file name two columns alike (pyarrow.Table.from_arrays(..., names=["text", "text"])):
    the whole-file reader called it "not a readable Parquet file (truncated, or another format renamed)", and
    predict's streaming reader went on with two columns named text, to a traceback."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "twice.parquet"
    table = pa.Table.from_arrays([pa.array(["a"]), pa.array(["b"]), pa.array(["x"])], names=["text", "label", "text"])
    pq.write_table(table, path)
    message = r"names columns twice \(\['text'\]\); give each column its own name"
    for read in (read_table, lambda p: list(iter_chunks(p, 10))):
        with pytest.raises(InputError, match=message):
            read(path)


@pytest.mark.parametrize("name", ["twice.csv", "twice.tsv"])
def test_a_csv_file_with_two_columns_of_one_name_is_one_line_as_parquet_s(tmp_path: Path, name: str) -> None:
    """A CSV header naming a column twice (``text,label,label``: teacher and expert labels pasted side by side) was
    read with the second renamed ``label.1`` by pandas, without a word: every verb used the first, while the same
    columns in Parquet are refused. One line names them; a file whose header really says ``label.1`` reads."""
    from sxhub.data import read_table

    sep = "\t" if name.endswith(".tsv") else ","
    path = tmp_path / name
    path.write_text(
        sep.join(["text", "label", "label"]) + "\n" + sep.join(["profit rose", "positive", "neutral"]) + "\n"
    )
    message = r"names columns twice \(\['label'\]\); give each column its own name"
    for read in (read_table, lambda p: list(iter_chunks(p, 10))):
        with pytest.raises(InputError, match=message):
            read(path)
    named = tmp_path / ("named" + path.suffix)
    named.write_text(
        sep.join(["text", "label", "label.1"]) + "\n" + sep.join(["profit rose", "positive", "neutral"]) + "\n"
    )
    assert list(read_table(named).columns) == ["text", "label", "label.1"]
    assert [list(c.columns) for c in iter_chunks(named, 10)] == [["text", "label", "label.1"]]
    headerless = tmp_path / ("headerless" + path.suffix)  # a first row of data taken for the header: said so
    headerless.write_text(sep.join(["Great day", "1", "0", "0"]) + "\n" + sep.join(["Bad day", "0", "1", "0"]) + "\n")
    with pytest.raises(InputError, match=r"names columns twice \(\['0'\]\).*if the file has no header line"):
        read_table(headerless)


def test_a_json_file_of_rows_wrapped_under_one_key_names_the_array(tmp_path: Path) -> None:
    """`{"data": [{"text": ...}, ...]}` (how APIs and exports wrap rows) read as one column named data: every verb
    said it found no text column in ['data']. One line says where the rows are and how to give them."""
    from sxhub.data import read_table

    path = tmp_path / "dump.json"
    path.write_text(json.dumps({"data": [{"text": "profit rose", "label": "positive"}]}), encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_table(path)
    assert str(info.value) == (
        f"input {str(path)!r} holds its rows as an array under 'data'; give the array itself (e.g. "
        """`jq '.["data"]' dump.json > rows.json`) or the rows as JSON lines (.jsonl)."""
    )
    columns = tmp_path / "columns.json"  # pandas' layout of columns: read as before
    columns.write_text(json.dumps({"text": {"0": "profit rose", "1": "loss"}}), encoding="utf-8")
    assert read_table(columns)["text"].tolist() == ["profit rose", "loss"]
    frame = pd.DataFrame({"text": ["profit rose", "loss"], "id": [7, 8]})
    for orient in ("split", "table"):  # DataFrame.to_json's layouts that name their columns apart from the rows:
        written = tmp_path / f"{orient}.json"  # "could not be read as json (All arrays must be of the same length)"
        frame.to_json(written, orient=orient)
        back = read_table(written)
        assert back["text"].tolist() == ["profit rose", "loss"] and back["id"].tolist() == [7, 8], orient
    columns.write_text("\ufeff" + columns.read_text(encoding="utf-8"), encoding="utf-8")  # saved with a BOM: it
    assert read_table(columns)["text"].tolist() == ["profit rose", "loss"]  # read, as an array did ("Expected object")


def test_label_and_gold_columns_are_found_in_any_case_as_the_text_column_is(tmp_path: Path) -> None:
    """A hand-written or Kaggle ``Text,Label`` file: the text column was found whatever its case, but train and agree
    said "no 'label' column", review and publish that the file has none. Every verb that reads a label, labels or
    gold column finds it as the text column is found (the exact name first, else its variant in case or spaces
    around it); two variants and no exact name are one line asking to rename one."""
    from sxhub.agreement import agree
    from sxhub.dataset_build import load_annotated
    from sxhub.review import _read_labelled
    from sxhub.run_checks import gold_column
    from sxhub.spec import TaskSpec

    path = tmp_path / "kaggle.csv"
    path.write_text("Text,Label, Expert\nrates rose,up,up\nrates fell,down,up\n", encoding="utf-8")
    spec = TaskSpec(name="t", labels=["up", "down"])
    assert load_labelled(path).labels == ["up", "down"]
    assert load_labelled(path, label_column="expert", label_option="--gold").labels == ["up", "up"]
    report = agree(path, gold="expert")
    assert report["n"] == 2 and report["accuracy"] == 0.5
    assert _read_labelled(path, None).labels == [["up"], ["down"]]
    assert _read_labelled(path, spec).labels == [["up"], ["down"]]
    frame, _, _ = load_annotated(path, spec, gold="expert")
    assert frame["label"].tolist() == ["up", "down"] and frame["expert"].tolist() == ["up", "up"]
    experts, name = gold_column(read_table(path), spec, "expert")  # sxhub run --gold expert
    assert experts[name].tolist() == ["up", "up"]
    # the exact name first: annotate's "label" beside the experts' "Label" it kept is the teachers'
    kept = tmp_path / "kept.csv"
    kept.write_text("text,label,Label\nrates rose,up,down\n", encoding="utf-8")
    assert load_labelled(kept).labels == ["up"] and agree(kept, gold="Label")["accuracy"] == 0.0
    two = tmp_path / "two.csv"
    two.write_text("text,Label,LABEL\nrates rose,up,down\n", encoding="utf-8")
    message = r"columns 'Label' and 'LABEL' both read as 'label'; rename one of them\.$"
    for read in (
        lambda: load_labelled(two),
        lambda: agree(two, gold="expert"),
        lambda: _read_labelled(two, None),
        lambda: load_annotated(two, spec),
    ):
        with pytest.raises(InputError, match=message):
            read()


def test_a_jsonl_line_that_names_a_key_twice_is_one_line_naming_it(tmp_path: Path) -> None:
    """``{"text": "a", "text": "b"}``: json keeps the last value without a word, so the line's first text was never
    labelled, while a CSV header naming a column twice is refused. One line names the line and the key, for the whole
    file read and the streamed one alike; the same key in a nested object (a vote) is named too."""
    path = tmp_path / "twice.jsonl"
    path.write_text('{"text": "profit rose"}\n{"text": "loss", "label": "negative", "text": "gain"}\n')
    message = (
        f"input {str(path)!r}: line 2 names the key 'text' twice (JSON keeps only the last); give each key of a line "
        "its own name."
    )
    for read in (read_table, lambda p: list(iter_chunks(p, 10))):
        with pytest.raises(InputError) as info:
            read(path)
        assert str(info.value) == message
    nested = tmp_path / "nested.jsonl"
    nested.write_text('{"text": "a", "votes": [{"labels": ["x"], "labels": ["y"]}]}\n')
    with pytest.raises(InputError, match=r"line 1 names the key 'labels' twice"):
        read_table(nested)
    array = tmp_path / "twice.json"  # a .json array of objects alike
    array.write_text('[{"text": "profit rose"}, {"text": "loss", "text": "gain"}]')
    with pytest.raises(InputError) as info:
        read_table(array)
    assert str(info.value) == (
        f"input {str(array)!r}: an object names the key 'text' twice (JSON keeps only the last); give each key of an "
        "object its own name."
    )
    fine = tmp_path / "fine.jsonl"  # one key at two levels is no repeat
    fine.write_text('{"text": "a", "labels": ["x"], "votes": [{"labels": ["x"]}]}\n')
    assert read_table(fine)["labels"].tolist() == [["x"]]


def test_a_json_file_of_rows_by_index_is_read_as_rows(tmp_path: Path) -> None:
    """``DataFrame.to_json(orient="index")`` (``{"0": {"text": ...}, "1": {...}}``) was read as pandas' layout of
    columns, transposed: one column per text, and every verb said it found no text column in ['0', '1']. Its rows
    are read as rows, in the file's order, with JSON's types (as an array of objects is read); pandas' layout of
    columns still reads as before."""
    frame = pd.DataFrame({"text": ["profit rose", "loss", "flat"], "id": [7, 8, 9]}, index=[0, 10, 2])
    path = tmp_path / "index.json"
    frame.to_json(path, orient="index")
    back = read_table(path)
    assert list(back.columns) == ["text", "id"]
    assert back["text"].tolist() == ["profit rose", "loss", "flat"] and back["id"].tolist() == [7, 8, 9]
    named = tmp_path / "named.json"  # rows keyed by an id, not a number: known by their text column
    named.write_text(json.dumps({"a1": {"sentence": "profit rose"}, "b2": {"sentence": "loss"}}), encoding="utf-8")
    assert read_table(named)["sentence"].tolist() == ["profit rose", "loss"]
    columns = tmp_path / "columns.json"
    frame.to_json(columns, orient="columns")
    assert read_table(columns)["text"].tolist() == ["profit rose", "loss", "flat"]
