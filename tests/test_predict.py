"""Predicting with a trained student: input order, chunked files, output columns, thresholds, plain HF folders."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import build_tiny_model, require_modules, run_cli, slow_tokenizer_copy, tiny_deberta
from test_train import MULTI, SINGLE, fast_config, multi_frame, single_frame

import sxhub.predict
from sxhub.errors import InputError, ModelError
from sxhub.model_info import read_model_info
from sxhub.predict import Predictor, predict_file
from sxhub.stream import RowSlice
from sxhub.train import train


@pytest.fixture(scope="module")
def single_model(tiny_base_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("single") / "student"
    train(SINGLE, single_frame(), fast_config(out, tiny_base_model))
    return out


@pytest.fixture(scope="module")
def multi_model(tiny_base_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("multi") / "student"
    train(MULTI, multi_frame(), fast_config(out, tiny_base_model))
    return out


TEXTS = [
    "loss fell weak decline the market of the year bank",
    "profit rose",
    "the company is in the city",
    "profit rose strong growth a",
    "loss fell",
]


def test_batches_sorted_by_length_come_back_in_input_order(single_model: Path) -> None:
    predictor = Predictor(single_model, batch_size=2)
    labels, probs = predictor.predict(TEXTS)
    one_by_one = np.vstack([predictor.predict_proba([t]) for t in TEXTS])
    np.testing.assert_allclose(probs, one_by_one, atol=1e-5)
    assert labels == ["negative", "positive", "neutral", "positive", "negative"]
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_one_string_is_refused_not_read_as_its_characters(single_model: Path) -> None:
    # a str is a Sequence[str]: predict("profit rose") labelled each of its 11 characters, without a word
    predictor = Predictor(single_model)
    for call in (predictor.predict, predictor.predict_proba):
        with pytest.raises(
            InputError, match=re.escape("texts= takes a list of texts, not one string: pass ['profit rose'].")
        ):
            call("profit rose")
    assert predictor.predict(["profit rose"])[0] == ["positive"]


def test_multi_label_uses_the_saved_thresholds(multi_model: Path) -> None:
    predictor = Predictor(multi_model)
    probs = predictor.predict_proba(["price cheap discount store city"])
    thresholds = predictor.info.threshold_vector()
    expected = [name for j, name in enumerate(MULTI.label_names) if probs[0, j] >= thresholds[j]]
    labels, _ = predictor.predict(["price cheap discount store city"])
    assert labels == [expected]
    predictor.info.thresholds = dict.fromkeys(MULTI.label_names, 1.01)
    assert predictor.decide(probs) == [[]], "no label over an unreachable threshold: an empty set, not a guess"


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_predict_file_writes_input_columns_label_and_probabilities(
    single_model: Path, tmp_path: Path, suffix: str
) -> None:
    source = tmp_path / f"in{suffix}"
    frame = pd.DataFrame({"id": [str(i) for i in range(23)], "sentence": (TEXTS * 5)[:23], "label": "expert"})
    if suffix == ".csv":
        frame.to_csv(source, index=False)
    elif suffix == ".parquet":
        frame.to_parquet(source)
    else:
        frame.to_json(source, orient="records", lines=True)
    out = tmp_path / f"out{suffix}"
    summary = predict_file(single_model, source, out, batch_size=4, chunk_rows=7)
    assert summary.n == 23 and summary.texts_per_second > 0
    result = (
        pd.read_csv(out, dtype=str)
        if suffix == ".csv"
        else (
            pd.read_parquet(out)
            if suffix == ".parquet"
            else pd.read_json(out, lines=True, dtype=False, precise_float=True)
        )
    )
    assert list(result.columns) == [
        "id",
        "sentence",
        "label_input",
        "label",
        "prob_positive",
        "prob_neutral",
        "prob_negative",
    ]
    assert [str(v) for v in result["id"]] == [str(i) for i in range(23)], "input order kept across chunks"
    assert result["label"].tolist()[:5] == ["negative", "positive", "neutral", "positive", "negative"]
    assert (result["label_input"] == "expert").all()
    probs = result[["prob_positive", "prob_neutral", "prob_negative"]].astype(float).to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    assert not out.with_name(out.name + ".tmp").exists()
    # six decimals in every format: JSON wrote float32's 0.72395 as 0.7239500284
    assert (np.round(probs, 6) == probs).all()


def test_multi_label_csv_has_json_label_lists(multi_model: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    pd.DataFrame({"text": ["price cheap discount", "product launch store city"]}).to_csv(source, index=False)
    predict_file(multi_model, source, tmp_path / "out.csv")
    result = pd.read_csv(tmp_path / "out.csv")
    assert list(result.columns) == ["text", "labels", "prob_product", "prob_place", "prob_price"]
    labels = [json.loads(cell) for cell in result["labels"]]
    assert all(isinstance(cell, list) and set(cell) <= set(MULTI.label_names) for cell in labels)
    assert labels == Predictor(multi_model).predict(["price cheap discount", "product launch store city"])[0]


def test_an_input_labels_column_of_a_single_label_model_is_kept_as_written(single_model: Path, tmp_path: Path) -> None:
    """Only list cells become JSON in CSV output: an input ``labels`` column of names (an expert column beside a
    single-label model's ``label``) was JSON-encoded letter by letter, '["p", "o", "s", ...]'."""
    source = tmp_path / "in.csv"
    pd.DataFrame({"text": TEXTS[:2], "labels": ["negative", "positive"]}).to_csv(source, index=False)
    predict_file(single_model, source, tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv")
    assert out["labels"].tolist() == ["negative", "positive"] and "label" in out.columns


def test_nested_json_cells_are_json_in_csv_output(single_model: Path, tmp_path: Path) -> None:
    """A JSONL object cell (or a Parquet struct) went into CSV/TSV output as Python's repr, "{'k': 1}", which no
    JSON reader takes back; like list cells, it is written as JSON. Other cells of such a column stay as written."""
    source = tmp_path / "in.jsonl"
    records = [
        {"text": TEXTS[0], "meta": {"k": 1, "n": {"x": [1, 2]}, "s": "é"}},
        {"text": TEXTS[1], "meta": None},
        {"text": TEXTS[2], "meta": "plain"},
    ]
    source.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    pd.DataFrame({"text": TEXTS[:2], "meta": [{"k": 1, "n": [1, 2]}, {"k": 2, "n": []}]}).to_parquet(
        tmp_path / "in.parquet"
    )
    for suffix in (".csv", ".tsv"):
        predict_file(single_model, source, tmp_path / f"out{suffix}")
        out = pd.read_csv(tmp_path / f"out{suffix}", sep="\t" if suffix == ".tsv" else ",", keep_default_na=False)
        assert json.loads(out["meta"][0]) == records[0]["meta"]
        assert out["meta"].tolist()[1:] == ["", "plain"]
        predict_file(single_model, tmp_path / "in.parquet", tmp_path / f"pq{suffix}")
        out = pd.read_csv(tmp_path / f"pq{suffix}", sep="\t" if suffix == ".tsv" else ",")
        assert [json.loads(cell) for cell in out["meta"]] == [{"k": 1, "n": [1, 2]}, {"k": 2, "n": []}]


def test_predict_on_its_own_output_keeps_every_column(single_model: Path, tmp_path: Path) -> None:
    """An input column named like an output column is kept as <name>_input; where that name is taken too (predict
    run again on its own output, with a new model), it ended in 'Error: ValueError: Duplicate column names' (Parquet,
    JSONL) or an AttributeError (CSV), exit 1. The next free name, <name>_input_2, ... is taken instead."""
    source = tmp_path / "in.csv"
    pd.DataFrame({"text": TEXTS[:3], "label": ["expert"] * 3}).to_csv(source, index=False)
    predict_file(single_model, source, tmp_path / "once.csv")
    for suffix in (".csv", ".jsonl", ".parquet"):
        out = tmp_path / f"twice{suffix}"
        predict_file(single_model, tmp_path / "once.csv", out)
        result = (
            pd.read_csv(out)
            if suffix == ".csv"
            else (pd.read_parquet(out) if suffix == ".parquet" else pd.read_json(out, lines=True))
        )
        assert list(result.columns) == [
            "text",
            "label_input",
            "label_input_2",
            "prob_positive_input",
            "prob_neutral_input",
            "prob_negative_input",
            "label",
            "prob_positive",
            "prob_neutral",
            "prob_negative",
        ]
        assert result["label_input"].tolist() == ["expert"] * 3
        assert result["label_input_2"].tolist() == result["label"].tolist()


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_dates_in_json_output_are_iso_text(single_model: Path, tmp_path: Path, suffix: str) -> None:
    """A Parquet date or timestamp column went into JSONL/JSON output as epoch milliseconds (pandas' default),
    created_at 1609372800000: insights --date-column created_at on that output then put every text in 1970. Dates
    are ISO 8601 text, as CSV output writes them, and read back as the same instants."""
    import datetime as dt

    from sxhub.insights import parse_dates
    from sxhub.stream import TableWriter
    from sxhub.tables import write_table

    stamps = [dt.datetime(2020, 12, 31, 23, 59, 1, 500), None]
    frame = pd.DataFrame({"text": TEXTS[:2], "created_at": pd.to_datetime(stamps), "day": [dt.date(2019, 1, 2), None]})
    frame.to_parquet(tmp_path / "in.parquet")
    out = tmp_path / f"out{suffix}"
    predict_file(single_model, tmp_path / "in.parquet", out)
    rows = (
        [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        if suffix == ".jsonl"
        else json.loads(out.read_text(encoding="utf-8"))
    )
    assert [r["created_at"] for r in rows] == ["2020-12-31T23:59:01.000500", None]
    assert rows[0]["day"].startswith("2019-01-02")
    read = pd.DataFrame(rows)
    assert parse_dates(read, "created_at").tolist()[0] == pd.Timestamp(stamps[0])

    whole, chunked = tmp_path / f"whole{suffix}", tmp_path / f"chunked{suffix}"
    write_table(frame, whole)
    writer = TableWriter(chunked)
    writer.write(frame.iloc[:1])
    writer.write(frame.iloc[1:])
    writer.close()
    assert whole.read_text(encoding="utf-8") == chunked.read_text(encoding="utf-8")
    assert "2020-12-31T23:59:01.000500" in whole.read_text(encoding="utf-8")


def test_jsonl_records_with_keys_in_another_order_keep_their_columns(single_model: Path, tmp_path: Path) -> None:
    """JSONL records list their keys in any order; each output chunk is written in the first chunk's column order
    (CSV chunks are appended under one header: values went under the wrong headers). A key first seen in a later
    chunk is one clear error for CSV and Parquet output (a CSV row with one field more than its header), and a
    column of its own in JSONL output."""
    source = tmp_path / "in.jsonl"
    records = [{"id": f"i{k}", "text": TEXTS[k], "source": f"s{k}"} for k in range(2)]
    records += [{"source": f"s{k}", "text": TEXTS[k], "id": f"i{k}"} for k in range(2, 4)]
    source.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    predict_file(single_model, source, tmp_path / "out.csv", chunk_rows=2)
    out = pd.read_csv(tmp_path / "out.csv")
    assert out["id"].tolist() == [f"i{k}" for k in range(4)] and out["source"].tolist() == [f"s{k}" for k in range(4)]
    assert list(out.columns[:3]) == ["id", "text", "source"]

    later = tmp_path / "later.jsonl"
    records[3]["lang"] = "en"
    later.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    with pytest.raises(InputError, match=re.escape("column(s) ['lang'] first appear after row 2 of the input")):
        predict_file(single_model, later, tmp_path / "later.csv", chunk_rows=2)
    predict_file(single_model, later, tmp_path / "later.jsonl", chunk_rows=2)
    rows = [json.loads(line) for line in (tmp_path / "later.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == [f"i{k}" for k in range(4)] and rows[3]["lang"] == "en"


def test_parquet_output_takes_columns_all_null_in_the_first_chunk(single_model: Path, tmp_path: Path) -> None:
    """A first chunk without a text (label all null there) or with an optional field all null gave the Parquet
    file a null column that no later chunk could be cast to; the chunks are joined under their unified schema. An
    error mid-way leaves neither the output nor a temporary file."""
    n = 6
    frame = pd.DataFrame(
        {
            "text": [None, None, None, *TEXTS[: n - 3]],
            "note": [None, None, None, "checked", None, "checked"],
            "id": range(n),
        }
    )
    frame.to_parquet(tmp_path / "in.parquet")
    frame.to_json(tmp_path / "in.jsonl", orient="records", lines=True)
    expected = predict_file(single_model, tmp_path / "in.parquet", tmp_path / "whole.parquet", chunk_rows=n)
    whole = pd.read_parquet(tmp_path / "whole.parquet")
    for source in ("in.parquet", "in.jsonl"):
        out = tmp_path / f"{source}.out.parquet"
        summary = predict_file(single_model, tmp_path / source, out, chunk_rows=3)
        assert (summary.n, summary.n_empty) == (expected.n, expected.n_empty) == (6, 3)
        pd.testing.assert_frame_equal(pd.read_parquet(out), whole)
    assert sorted(p.name for p in tmp_path.iterdir() if ".tmp" in p.name) == []

    records = [{"text": t, "id": i} for i, t in enumerate(TEXTS[:4])]
    records[3]["lang"] = "en"  # a column first seen in a later chunk: an error after the first chunk is written
    (tmp_path / "later.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    for suffix in (".parquet", ".csv"):
        with pytest.raises(InputError, match="first appear after row 2"):
            predict_file(single_model, tmp_path / "later.jsonl", tmp_path / f"later{suffix}", chunk_rows=2)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("later")) == ["later.jsonl"]


def test_a_plain_transformers_folder_works_without_sxhub_json(single_model: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    shutil.copytree(single_model, plain)
    (plain / "sxhub.json").unlink()
    info = read_model_info(plain)
    assert info.labels == SINGLE.label_names and not info.multi_label
    labels, _ = Predictor(plain).predict(["loss fell weak decline"])
    assert labels == ["negative"]


@pytest.mark.parametrize("kind", ["single", "multi"])
def test_bf16_follows_fp32(kind: str, single_model: Path, multi_model: Path) -> None:
    """--bf16 runs the same weights under torch autocast: the probabilities move by bf16's rounding only (on a CPU
    without native bf16 it is emulated, slower but the same numbers, so this holds on any machine)."""
    model = single_model if kind == "single" else multi_model
    fp32 = Predictor(model).predict_proba(TEXTS)
    bf16 = Predictor(model, bf16=True)

    probs = bf16.predict_proba(TEXTS)

    assert bf16.backend == "torch-bf16" and bf16._model.dtype == torch.float32  # fp32 weights, bf16 matmuls
    assert 0 < np.abs(probs - fp32).max() < 0.05  # not the fp32 path, and close to it


def test_bf16_is_torch_only_and_warns_where_it_is_emulated(
    single_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(InputError, match="drop --onnx, or drop --bf16"):
        Predictor(single_model, onnx=True, bf16=True)
    monkeypatch.setattr(sxhub.predict, "native_bf16", lambda device=None: False)
    with caplog.at_level(logging.WARNING, logger="sxhub.predict"):
        Predictor(single_model, bf16=True)
        Predictor(single_model)
    assert [r.getMessage() for r in caplog.records if "bfloat16" in r.getMessage()] == [
        "this CPU has no native bfloat16 (AVX-512 BF16, AMX or Arm BF16): --bf16 is emulated here and likely slower "
        "than fp32; drop --bf16."
    ]


def test_bf16_of_a_model_that_cannot_run_in_bf16_is_one_line_naming_fp32(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A DeBERTa (v1) student under --bf16 failed in the middle of the first batch in transformers' words ("Error:
    RuntimeError: value cannot be converted to type c10::BFloat16 without overflow"), exit 1, naming no fix."""
    folder = tiny_deberta(tmp_path / "deberta")
    (tmp_path / "in.txt").write_text("profit rose\nsales fell\n")
    capsys.readouterr()

    code, _, err = run_cli(
        ["predict", str(folder), str(tmp_path / "in.txt"), "-o", str(tmp_path / "out.csv"), "--bf16"], capsys
    )

    assert code != 0
    line = err.strip().splitlines()[-1]
    assert line.startswith("Error: DebertaForSequenceClassification does not run in bfloat16 (")
    assert line.endswith("drop --bf16 to run it in fp32.")
    assert Predictor(folder).predict_proba(["profit rose"]).shape == (1, 3)  # the fix the line names


def test_int8_without_onnx_is_refused_in_python_as_on_the_command_line(single_model: Path, tmp_path: Path) -> None:
    """``Predictor(model, int8=True)`` (and predict_file's and evaluate's int8=) without onnx=True ran the torch
    model in fp32 without a word, so a notebook that meant to check int8 scored torch; ``--int8`` without ``--onnx``
    is refused on the command line."""
    from sxhub.evaluate import evaluate

    source = tmp_path / "in.csv"
    pd.DataFrame({"text": TEXTS, "label": ["negative"] * len(TEXTS)}).to_csv(source, index=False)
    calls = [
        lambda: Predictor(single_model, int8=True),
        lambda: predict_file(single_model, source, tmp_path / "out.csv", int8=True),
        lambda: evaluate(single_model, source, gold="label", int8=True),
    ]
    for call in calls:
        with pytest.raises(InputError, match=re.escape("add --onnx (Python: onnx=True)")):
            call()
    assert not (tmp_path / "out.csv").exists()


def test_cli_predict_bf16(single_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    pd.DataFrame({"text": TEXTS}).to_csv(source, index=False)

    code, stdout, err = run_cli(
        ["predict", str(single_model), str(source), "-o", str(out), "--bf16", "--json"], capsys
    )

    assert code == 0, err
    assert json.loads(stdout)["backend"] == "torch-bf16"
    assert pd.read_csv(out)["label"].tolist() == Predictor(single_model, bf16=True).predict(TEXTS)[0]
    capsys.readouterr()
    code, stdout, err = run_cli(
        ["predict", str(single_model), str(source), "-o", str(out), "--bf16", "--onnx"], capsys
    )
    assert code == 2 and len(err.strip().splitlines()) == 1 and "drop --onnx, or drop --bf16" in err


@pytest.mark.parametrize("problem_type", [None, "regression"])
def test_a_one_output_score_head_is_refused_not_labelled_at_probability_one(
    problem_type: str | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A plain transformers folder with one output (a regression or score head: num_labels=1, as Hub quality and
    reward scorers ship) was read as a single-label classifier of one label: the softmax of one logit labelled every
    text LABEL_0 at probability 1.0, exit 0, where transformers' pipeline gives that output's sigmoid."""
    folder = build_tiny_model(tmp_path / "scorer", num_labels=1)
    if problem_type:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        config["problem_type"] = problem_type
        (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(ModelError, match="one output"):
        Predictor(folder)
    (tmp_path / "in.txt").write_text("profit rose\nloss fell\n", encoding="utf-8")
    capsys.readouterr()  # the folder's build (transformers' saving bar), not predict's
    code, _, err = run_cli(["predict", str(folder), str(tmp_path / "in.txt"), "-o", str(tmp_path / "out.csv")], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "not a classifier" in err
    assert not (tmp_path / "out.csv").exists()


def test_a_multi_label_head_of_one_label_is_still_a_classifier(tmp_path: Path) -> None:
    folder = build_tiny_model(tmp_path / "one", num_labels=1)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config["problem_type"] = "multi_label_classification"
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    labels, probs = Predictor(folder).predict(["profit rose"])
    assert labels in ([[]], [["LABEL_0"]]) and 0 < probs[0, 0] < 1  # a sigmoid, not a softmax of one logit


def test_not_a_model_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a model folder"):
        Predictor(tmp_path)


def test_onnx_without_export_names_the_command(single_model: Path) -> None:
    with pytest.raises(ModelError, match=re.escape(f"run sxhub export {single_model} first")):
        Predictor(single_model, onnx=True)


def test_an_output_that_is_a_file_of_the_model_is_refused_before_the_run(
    single_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``-o MODEL_DIR/config.json`` (or sxhub.json, tokenizer.json) replaced the model's own file with the
    predictions and exited 0: the model folder no longer loaded. Other files in the folder may be written."""
    model = tmp_path / "student"
    shutil.copytree(single_model, model)
    before = {name: (model / name).read_bytes() for name in ("config.json", "sxhub.json", "tokenizer.json")}
    (tmp_path / "in.txt").write_text("profit rose\n", encoding="utf-8")
    for name in before:
        code, _, err = run_cli(["predict", str(model), str(tmp_path / "in.txt"), "-o", str(model / name)], capsys)
        assert code == 2 and len(err.strip().splitlines()) == 1 and "is the model's own file" in err, err
    assert {name: (model / name).read_bytes() for name in before} == before
    assert predict_file(model, tmp_path / "in.txt", model / "predictions.json").n == 1


def test_the_progress_total_counts_a_last_jsonl_record_without_a_line_break(tmp_path: Path) -> None:
    """A JSONL file whose last record has no "\\n" after it (as many writers leave it) is read whole, but the bar's
    total counted line breaks: 2 records showed "2/1". A .txt file's last line was already counted so."""
    from sxhub.predict_files import count_rows, iter_chunks

    for body, n in {'{"text": "a"}\n{"text": "b"}': 2, '{"text": "a"}\n{"text": "b"}\n': 2, "": 0}.items():
        (tmp_path / "in.jsonl").write_text(body, encoding="utf-8")
        assert count_rows(tmp_path / "in.jsonl") == n, body
        if n:
            assert sum(len(chunk) for chunk in iter_chunks(tmp_path / "in.jsonl")) == n


def test_the_rate_counts_the_texts_labelled_not_the_rows_without_one(single_model: Path, tmp_path: Path) -> None:
    """Rows without a text are never run through the model, yet the summary's texts/s divided every row by the
    seconds: a file of blank lines read "Labelled 0 texts in 0.0 s (220 texts/s, torch)"."""
    from sxhub.predict_files import PredictSummary

    summary = PredictSummary(output=tmp_path / "o.csv", n=10, seconds=2.0, backend="torch", n_empty=6)
    assert summary.texts_per_second == 2.0 and "(2 texts/s, torch)" in summary.summary_line()
    assert summary.to_dict()["texts_per_second"] == 2.0
    (tmp_path / "blank.txt").write_text("\n\n\n", encoding="utf-8")
    blank = predict_file(single_model, tmp_path / "blank.txt", tmp_path / "blank.csv")
    assert blank.n_empty == blank.n == 3 and blank.texts_per_second == 0
    assert "Labelled 0 texts in " in blank.summary_line() and "(0 texts/s, torch)" in blank.summary_line()


def test_missing_text_column_and_empty_file(single_model: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    pd.DataFrame({"body_text": ["a"]}).to_csv(source, index=False)
    with pytest.raises(InputError, match="pass --text-column"):
        predict_file(single_model, source, tmp_path / "out.csv")
    summary = predict_file(single_model, source, tmp_path / "out.csv", text_column="body_text")
    assert summary.n == 1
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError, match="is empty"):
        predict_file(single_model, empty, tmp_path / "out2.csv")
    # a slice past the end: the input has rows, so "give it at least one text" sent the user the wrong way
    with pytest.raises(InputError, match=re.escape("has no rows in offset 5, shard 0/2: it ends before them; pass a")):
        predict_file(single_model, source, tmp_path / "out3.csv", rows=RowSlice(offset=5, shard=(0, 2)))
    assert not (tmp_path / "out3.csv").exists()


def test_an_unreachable_hub_id_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(ModelError, match="neither a local folder nor a Hub model"):
        Predictor("nobody/missing-student")


def test_a_hub_id_missing_from_the_cache_offline_names_hf_hub_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """With HF_HUB_OFFLINE set no request is sent: the line said to check the repo id and HF_TOKEN, neither of which
    was the question."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read when huggingface_hub is imported
    with pytest.raises(ModelError, match=r"nor in the Hugging Face cache, and HF_HUB_OFFLINE is set; .*hf download"):
        Predictor("nobody/missing-student")


def test_damaged_weights_are_one_clear_error(single_model: Path, tmp_path: Path) -> None:
    """A truncated safetensors file (an interrupted copy or download) or ONNX file: a ModelError naming the folder
    and what to do, not the loader's own exception (exit 1)."""
    damaged = tmp_path / "damaged"
    shutil.copytree(single_model, damaged)
    weights = damaged / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(
        ModelError, match=r"could not be loaded \(SafetensorError: .*copy or download the folder again"
    ):
        Predictor(damaged)
    pytest.importorskip("onnxruntime")
    (damaged / "onnx").mkdir()
    (damaged / "onnx" / "model.onnx").write_bytes(b"not a protobuf" * 40)
    with pytest.raises(ModelError, match=r"model\.onnx' could not be loaded .*export it again \(sxhub export "):
        Predictor(damaged, onnx=True)


@pytest.mark.parametrize(
    "damage", ["config.json", "sxhub.json", "weights", "no weights", "no labels", "no tokenizer", "no tokenizer.json"]
)
@pytest.mark.parametrize("verb", ["predict", "export", "evaluate"])
def test_a_damaged_model_folder_is_one_line_on_every_verb(
    single_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str, verb: str
) -> None:
    """Half-copied JSON in a model folder ended in 'Error: JSONDecodeError: Expecting value' and exit 1 (predict,
    export), and export of missing or truncated weights in the loader's own words: each is one line naming the
    file or folder and the fix, exit 2. A folder without its tokenizer files was labelled with exit 0: transformers 5
    builds a tokenizer of special tokens alone from config.json, so every text was [UNK]s and got the same label.
    A student's folder without tokenizer.json alone (its tokenizer_config.json kept: the one file a student's
    tokenizer needs) ended in transformers' 'ValueError: Couldn't instantiate the backend tokenizer ... install
    sentencepiece', exit 1."""
    damaged = tmp_path / "damaged"
    shutil.copytree(single_model, damaged)
    if damage in ("config.json", "sxhub.json"):
        (damaged / damage).write_text('{"id2label": {"0": "neg', encoding="utf-8")
        expected = f"'{damaged / damage}' is not valid JSON (Unterminated string"
    elif damage == "weights":
        weights = damaged / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:1000])
        expected = f"'{damaged}' could not be loaded (SafetensorError"
    elif damage == "no weights":
        (damaged / "model.safetensors").unlink()
        expected = f"'{damaged}' could not be loaded (OSError"
    elif damage == "no tokenizer":
        for item in damaged.iterdir():
            if item.name.startswith(("tokenizer", "vocab", "special_tokens")):
                item.unlink()
        expected = f"'{damaged}' has no tokenizer vocabulary (no tokenizer.json, vocab.txt"
    elif damage == "no tokenizer.json":
        (damaged / "tokenizer.json").unlink()
        assert (damaged / "tokenizer_config.json").is_file()
        expected = f"'{damaged}' has no tokenizer vocabulary (no tokenizer.json, vocab.txt"
    else:
        config = json.loads((damaged / "config.json").read_text(encoding="utf-8"))
        config.pop("id2label"), config.pop("label2id")
        (damaged / "config.json").write_text(json.dumps(config), encoding="utf-8")
        (damaged / "sxhub.json").unlink()
        expected = "config.json names no labels (id2label), so it is not a classifier sxhub can run"
    data = tmp_path / "texts.csv"
    pd.DataFrame({"text": ["profit rose", "loss widened"], "label": ["positive", "negative"]}).to_csv(data)
    argv = {
        "predict": ["predict", str(damaged), str(data), "-o", str(tmp_path / "out.csv")],
        "export": ["export", str(damaged)],
        "evaluate": ["evaluate", str(damaged), str(data)],
    }[verb]
    code, _, err = run_cli(argv, capsys)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("Error: ")
    assert expected in err and ("copy or download" in err or "pass the folder sxhub train wrote" in err)
    assert not (tmp_path / "out.csv").exists() and not (damaged / "onnx").exists()


def test_evaluate_without_a_gold_column_names_its_own_option(
    single_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The hint named --label-column, which evaluate does not have (nor train; tune does)."""
    data = tmp_path / "texts.csv"
    pd.DataFrame({"text": ["profit rose"], "expert": ["positive"]}).to_csv(data, index=False)
    code, _, err = run_cli(["evaluate", str(single_model), str(data)], capsys)
    assert code == 2
    last = err.strip().splitlines()[-1]  # after the weights' loading bar
    assert (
        last == "Error: no 'label' or 'labels' column in columns ['text', 'expert']; add one or name it with --gold "
        "(Python: gold=)."
    )


def test_more_threads_than_cpus_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """--threads 100000 ended in 'Error: ImportError: ... failed to map segment' and exit 1."""
    import os

    for verb in (["predict", "m", "in.csv", "-o", str(tmp_path / "o.csv")], ["train", "t.yaml", "in.csv", "-o", "m"]):
        code, _, err = run_cli([*verb, "--threads", str((os.cpu_count() or 1) + 1)], capsys)
        assert code == 2 and f"is not in the range 1<=x<={os.cpu_count()}" in err


def test_a_tokenizer_saved_with_left_padding_predicts_as_one_text_at_a_time(
    single_model: Path, tmp_path: Path
) -> None:
    """A model folder whose tokenizer says ``padding_side: left`` (as decoder tokenizers and some hand-saved folders
    do) padded each batch on the left, which moves every BERT position: a text's probabilities depended on the
    texts it was batched with, and torch disagreed with the ONNX path (never padded). Batches pad on the right."""
    import shutil

    folder = tmp_path / "left"
    shutil.copytree(single_model, folder)
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["padding_side"] = "left"
    config_path.write_text(json.dumps(config), encoding="utf-8")
    predictor = Predictor(folder, batch_size=8)
    batched = predictor.predict_proba(TEXTS)
    one_by_one = np.vstack([predictor.predict_proba([t]) for t in TEXTS])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
    np.testing.assert_allclose(batched, Predictor(single_model, batch_size=8).predict_proba(TEXTS), atol=1e-5)


def test_evaluate_leaves_out_texts_the_experts_did_not_label_multi_label_too(
    multi_model: Path, single_model: Path, tmp_path: Path
) -> None:
    """An empty gold cell is a text nobody labelled; ``[]`` is "no label applies". evaluate scored the empty
    multi-label cells as "no label applies" (agree and the cards leave them out), and left out empty single-label
    cells without saying how many."""
    from sxhub.evaluate import evaluate
    from sxhub.metrics import format_report

    texts = ["price cheap discount", "store city place", "new product launch", "sale promo", "a b", "c d"]
    gold = ['["price"]', '["place"]', "[]", "", "", "nan"]
    source = tmp_path / "multi.csv"
    pd.DataFrame({"text": texts, "gold": gold}).to_csv(source, index=False)
    result = evaluate(multi_model, source, gold_column="gold")
    assert result["n"] == 3 and result["n_missing"] == 3
    assert "| rows without a label left out | 3 |" in format_report(result)

    single = tmp_path / "single.csv"
    pd.DataFrame({"text": TEXTS, "label": ["negative", "", "neutral", None, "negative"]}).to_csv(single, index=False)
    result = evaluate(single_model, single)
    assert result["n"] == 3 and result["n_missing"] == 2


def test_a_text_column_of_bytes_lists_or_objects(single_model: Path, tmp_path: Path) -> None:
    """A Parquet ``binary`` text column was labelled as its Python repr ("b'profit rose'"), and a list or an object
    cell (a Parquet list or struct, a JSONL object: not the column of texts) as "['a', 'b']" or "{'a': 1}"; bytes are
    read as UTF-8 text now, and a list or an object is one line naming --text-column, with no output written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = tmp_path / "binary.parquet"
    pq.write_table(pa.table({"text": pa.array([b"profit rose", b"", "caf\u00e9 loss".encode()], pa.binary())}), source)
    summary = predict_file(single_model, source, tmp_path / "out.jsonl")
    assert summary.n_empty == 1  # b"" holds no text
    got = pd.read_json(tmp_path / "out.jsonl", lines=True)
    labels, probs = Predictor(single_model).predict(["profit rose", "caf\u00e9 loss"])
    assert got["label"].tolist()[::2] == labels
    np.testing.assert_allclose(
        got[["prob_positive", "prob_neutral", "prob_negative"]].to_numpy()[::2], probs, atol=1e-5
    )

    for cells, kind in (
        ([["profit", "rose"], ["loss"]], "a list"),
        ([{"a": "profit rose"}, {"a": "loss"}], "an object"),
    ):
        bad = tmp_path / "bad.jsonl"
        pd.DataFrame({"text": cells, "id": [1, 2]}).to_json(bad, orient="records", lines=True)
        with pytest.raises(InputError, match=rf"column 'text' holds {kind} \(.*\), not a text; pass --text-column"):
            predict_file(single_model, bad, tmp_path / "bad_out.csv")
        assert not (tmp_path / "bad_out.csv").exists()
    undecodable = tmp_path / "latin1.parquet"
    pq.write_table(pa.table({"text": pa.array([b"caf\xe9 loss"], pa.binary())}), undecodable)
    with pytest.raises(InputError, match=r"holds bytes that are not UTF-8 text"):
        predict_file(single_model, undecodable, tmp_path / "bad_out.csv")


def test_evaluate_in_the_model_folder_names_the_folder(
    single_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sxhub evaluate . test.csv` from inside the student's folder titled its report
    "Student  vs label": the name of '.' is empty."""
    from sxhub.evaluate import evaluate

    data = tmp_path / "test.csv"
    pd.DataFrame({"text": ["profit rose", "loss widened"], "label": ["positive", "negative"]}).to_csv(
        data, index=False
    )
    monkeypatch.chdir(single_model)
    assert evaluate(".", data)["title"] == "Student student vs label"


def test_a_text_column_of_numbers_or_true_false_is_one_line(single_model: Path, tmp_path: Path) -> None:
    """A text column of numbers or true/false values (an id or a score: --text-column idx) was labelled as the
    strings "1", "2.5", "True" with exit 0; it is one line naming --text-column (Python: text_column=) now, as predict_file reads it, with no output written. A
    column with no text in its first chunk (all null, read as float) still runs, its rows left unlabelled."""
    source = tmp_path / "in.parquet"
    pd.DataFrame(
        {
            "text": ["profit rose", None, "loss fell"],
            "idx": [1, 2, 3],
            "score": [0.5, np.nan, 2.5],
            "ok": [True, False, True],
        }
    ).to_parquet(source)
    csv = tmp_path / "in.csv"
    pd.read_parquet(source).to_csv(csv, index=False)
    out = tmp_path / "out.csv"
    for data, column, kind in (
        (source, "idx", "numbers"),
        (source, "score", "numbers"),
        (source, "ok", "true/false values"),
        (csv, "idx", "numbers"),
        (csv, "score", "numbers"),
    ):
        with pytest.raises(
            InputError,
            match=rf"column '{column}' holds {kind} \(.*\), not texts; pass --text-column \(Python: text_column=\) with the column of texts\.$",
        ):
            predict_file(single_model, data, out, text_column=column)
        assert not out.exists()
    assert predict_file(single_model, csv, out).n == 3  # the texts themselves
    empty = tmp_path / "no_text.parquet"
    pd.DataFrame({"text": [np.nan, np.nan], "idx": [1, 2]}).to_parquet(empty)
    summary = predict_file(single_model, empty, tmp_path / "empty_out.csv")
    assert summary.n == 2 and summary.n_empty == 2


def test_a_bad_text_column_is_refused_before_the_model_loads(
    single_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--text-column idx (a column of numbers), a text column the input lacks, or a slice with no rows was refused
    only once the model had loaded (seconds for a real student, an ONNX session with --onnx); the first chunk is
    read and checked first now, and the model is loaded only for an input that passes."""
    import sxhub.predict_files

    loaded: list[Any] = []
    real = sxhub.predict_files.Predictor

    def recording(*args: Any, **kwargs: Any) -> Predictor:
        loaded.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(sxhub.predict_files, "Predictor", recording)
    source = tmp_path / "in.csv"
    pd.DataFrame({"idx": [1, 2, 3], "text": TEXTS[:3]}).to_csv(source, index=False)
    out = tmp_path / "out.csv"
    for column, line in (("idx", "column 'idx' holds numbers"), ("body", "text column 'body' not found")):
        argv = ["predict", str(single_model), str(source), "--text-column", column, "-o", str(out)]
        code, _, err = run_cli(argv, capsys)
        assert code == 2 and line in err
        assert not loaded and not out.exists()
    with pytest.raises(InputError, match="has no rows in offset 5"):
        predict_file(single_model, source, out, rows=RowSlice(offset=5))
    assert not loaded and not out.exists()
    code, _, _ = run_cli(["predict", str(single_model), str(source), "-o", str(out)], capsys)
    assert code == 0 and len(loaded) == 1
    assert pd.read_csv(out)["text"].tolist() == TEXTS[:3]


def test_the_int8_warning_gives_the_reason_export_recorded(caplog: pytest.LogCaptureFixture) -> None:
    """int8 that agreed on 1,000+ texts but ran no faster than fp32 was warned about as if it had been measured under
    the bar ("export again with --data to check on more texts"); the warning now gives export's own reason."""
    from sxhub.predict import _warn_if_int8_is_not_the_default

    slow = "it ran at 480 texts/s here, no faster than ONNX fp32 (500); serve onnx/model.onnx."
    record = {
        "default": "onnx",
        "agreement_bar": 0.995,
        "variants": {"onnx-int8": {"n": 1000, "label_agreement": 0.999, "max_abs_diff": 0.01}},
        "notes": ["graph not fused", f"int8 is not the default: {slow}"],
    }
    with caplog.at_level("WARNING", logger="sxhub.predict"):
        _warn_if_int8_is_not_the_default(record)
    assert f"onnx/model_int8.onnx is not this model's default; sxhub export noted: {slow}" in caplog.text
    assert "check on more texts" not in caplog.text
    # Predictor(..., int8=True) logs it too: the fix names the parameter as well as the flag
    assert "Drop --int8 (Python: int8=False) for fp32 ONNX." in caplog.text


def test_a_column_of_mixed_types_to_parquet_is_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An input column that holds numbers and text (ids in a JSONL file, some written as numbers, some as strings)
    cannot be a Parquet column. predict kept it and exited 1 on pyarrow's raw tuple ("ArrowInvalid: ('Could not
    convert 'a2' with type str: tried to convert to int64', ...)"), or, when the types differ between chunks, on
    "ArrowTypeError: Unable to merge" after every text was labelled. Both are now one line naming the column and
    the fix, exit 2, with no output file left; the second at the first chunk of the other type."""
    from conftest import build_tiny_model

    from sxhub import predict_files
    from sxhub.tables import write_table

    model = build_tiny_model(tmp_path / "model")
    capsys.readouterr()  # the bar of its saving
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": 1, "text": "profit rose"}\n{"id": "a2", "text": "sales fell"}\n')
    out = tmp_path / "out.parquet"
    code, _, err = run_cli(["-q", "predict", str(model), str(source), "-o", str(out)], capsys)
    assert code == 2, err
    # (transformers' bar of loading the model shows in a test process, whose transformers was imported before -q)
    assert [line for line in err.splitlines() if line and not line.startswith("Loading weights")] == [
        "Error: out.parquet: column 'id' holds values of more than one type, which Parquet cannot store (Could not "
        "convert 'a2' with type str: tried to convert to int64); write .jsonl or .csv instead, or give the column "
        "one type in the input (e.g. every id as text)."
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "model"]
    # chunks typed alike each, unlike each other: found at the first chunk of the other type (it was found when
    # they were joined, after every chunk was labelled)
    rows = [{"id": i, "text": "profit rose"} for i in range(4)] + [{"id": f"x{i}", "text": "loss"} for i in range(4)]
    rows += [{"id": i, "text": "sales fell"} for i in range(3)]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    labelled: list[int] = []

    def finish_chunk(predictor: Any, ready: Any, **kw: Any) -> pd.DataFrame:
        labelled.append(len(ready.chunk))
        return real_finish(predictor, ready, **kw)

    real_finish = predict_files.finish_chunk
    monkeypatch.setattr(predict_files, "finish_chunk", finish_chunk)
    with pytest.raises(InputError, match=r"^out\.parquet: column 'id' holds values of more than one type.*Unable to"):
        predict_file(model, source, out, chunk_rows=4)
    assert labelled == [4, 4]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "model"]
    assert predict_file(model, source, tmp_path / "out.jsonl", chunk_rows=4).n == 11  # the fix the line names
    with pytest.raises(InputError, match=r"^t\.parquet: column 'id' holds values of more than one type"):
        write_table(pd.DataFrame(rows), tmp_path / "t.parquet")
    assert not (tmp_path / "t.parquet").exists() and not (tmp_path / "t.parquet.tmp").exists()


@pytest.mark.slow
def test_quiet_predict_on_ray_in_process_leaves_the_callers_ray_settings(tmp_path: Path) -> None:
    """``main(["-q", "predict", ..., "--engine", "ray"])`` in a script left Ray's settings of the process as the
    command had them: the "ray" logger at ERROR (ray.init's logging_level: the script's own Ray lost its INFO lines)
    and Ray Data's rows-in-order and bars-off for every Dataset after. They are as they were once main returns; the
    Ray it started is shut down. A process of its own, and not in test_ray: a local Ray beside that module's running
    cluster lost its actors on this machine's CPUs."""
    import subprocess
    import sys

    require_modules("ray", install='pip install "sxhub[ray]"')
    model = build_tiny_model(tmp_path / "student")
    (tmp_path / "in.txt").write_text("profit rose\nsales fell\n")
    script = (
        "import logging, os\nimport ray.data\nfrom sxhub.cli import main\n"
        "c = ray.data.DataContext.get_current()\n"
        "show = lambda: (c.execution_options.preserve_order, c.enable_progress_bars, logging.getLogger('ray').level,"
        " os.environ.get('RAY_BACKEND_LOG_LEVEL'), [h.level for h in logging.getLogger('ray.data').handlers])\n"
        "before = show()\n"
        f"main(['-q', 'predict', {str(model)!r}, 'in.txt', '-o', 'out.parquet', '--engine', 'ray', '--workers', '1'])\n"
        "print(ray.is_initialized(), before == show(), before, show())\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=180
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].split()[:2] == ["False", "True"], done.stdout  # its summary line first
    assert len(pd.read_parquet(tmp_path / "out.parquet")) == 2


def test_a_dataframe_a_dataset_or_items_that_are_not_texts_are_refused(single_model: Path) -> None:
    """predict(df) labelled the DataFrame's column names, predict(Dataset) each row's dict repr (its gold label
    inside), and None, NaN or a number were labelled as a text: all without a word."""
    datasets = pytest.importorskip("datasets")
    predictor = Predictor(single_model)
    frame = pd.DataFrame({"text": ["profit rose", "loss fell"], "label": ["positive", "negative"]})
    for call in (predictor.predict, predictor.predict_proba):
        with pytest.raises(InputError, match=re.escape("not a DataFrame: pass its column of texts, e.g. df['text']")):
            call(frame)  # type: ignore[arg-type]
        with pytest.raises(InputError, match=re.escape("not a Dataset: pass its column of texts, e.g. ds['text']")):
            call(datasets.Dataset.from_pandas(frame))
        for bad, shown in ((None, "None (NoneType)"), (float("nan"), "nan (float)"), (3, "3 (int)")):
            with pytest.raises(InputError, match=re.escape(f"texts[1] is {shown}, not a text: pass a list of str")):
                call(["profit rose", bad])  # type: ignore[list-item]
    # what those messages say to pass works, and a tuple, a Series or a generator are lists of texts too
    labels, probs = predictor.predict(frame["text"].tolist())
    assert labels == ["positive", "negative"] and probs.shape == (2, 3)
    assert predictor.predict(datasets.Dataset.from_pandas(frame)["text"])[0] == labels
    assert predictor.predict(pd.Series(["x", "profit rose", "loss fell"]).iloc[1:])[0] == labels
    assert predictor.predict(t for t in ("profit rose", "loss fell"))[0] == labels  # type: ignore[arg-type]
    assert predictor.predict([""])[1].shape == (1, 3)  # an empty text (a Space's empty box) is still a text


def test_a_predictor_of_another_model_is_refused_not_scored_as_this_one(
    single_model: Path, multi_model: Path, tmp_path: Path
) -> None:
    """``evaluate(other, data, predictor=p)`` scored ``p``'s model and returned it as the result for ``other``
    (``predict_file`` likewise wrote ``p``'s labels): one line now says which folder the predictor was loaded from.
    The same folder, however written, is accepted."""
    from sxhub.errors import UserError
    from sxhub.evaluate import evaluate
    from sxhub.predict_files import predict_file

    source = tmp_path / "single.csv"
    pd.DataFrame({"text": TEXTS, "label": ["negative"] * len(TEXTS)}).to_csv(source, index=False)
    predictor = Predictor(single_model)
    with pytest.raises(UserError, match="is not the model predictor= was loaded from") as caught:
        evaluate(multi_model, source, predictor=predictor)
    assert len(str(caught.value).splitlines()) == 1 and str(single_model) in str(caught.value)
    with pytest.raises(UserError, match="is not the model predictor= was loaded from"):
        predict_file(multi_model, source, tmp_path / "out.csv", predictor=predictor)
    assert not (tmp_path / "out.csv").exists()
    same = Path(os.path.relpath(single_model, Path.cwd()))
    assert evaluate(same, source, predictor=predictor)["n"] == len(TEXTS)


def test_evaluate_and_train_in_python_name_their_parameters_beside_the_flags(
    single_model: Path, tmp_path: Path
) -> None:
    """A notebook's evaluate(model, df) read 'name it with --gold' (the parameter is gold_column=) and train's
    'name it with --label-column' (a TrainConfig field there): neither option exists in Python."""
    from sxhub import TaskSpec, TrainConfig
    from sxhub.errors import InputError
    from sxhub.evaluate import evaluate
    from sxhub.train import train

    frame = pd.DataFrame({"text": ["profit rose", "loss fell"], "expert": ["positive", "negative"]})
    with pytest.raises(InputError, match=r"add one or name it with --gold \(Python: gold=\)\.$"):
        evaluate(single_model, frame)
    with pytest.raises(InputError, match=r"pass --gold \(Python: gold=\) with one of them\.$"):
        evaluate(single_model, frame, gold="gold")
    spec = TaskSpec(name="t", labels=["positive", "negative"])
    with pytest.raises(InputError, match=r"name it with --label-column \(Python: TrainConfig\(label_column=\)\)\.$"):
        train(spec, frame, TrainConfig(output_dir=tmp_path / "m"))
    assert evaluate(single_model, frame, gold="expert")["n"] == 2


def test_evaluate_spells_gold_as_agree_does_and_keeps_gold_column(single_model: Path) -> None:
    """agree(df, gold="expert") but evaluate(model, df, gold_column="expert"): the same option spelt two ways, and
    evaluate(model, df, gold="expert") was a TypeError. gold= now works in both; gold_column= still runs."""
    import inspect

    from sxhub import agree
    from sxhub.errors import InputError
    from sxhub.evaluate import evaluate

    assert "gold" in inspect.signature(agree).parameters and "gold" in inspect.signature(evaluate).parameters
    frame = pd.DataFrame({"text": ["profit rose", "loss fell"], "expert": ["positive", "negative"]})
    by_gold = evaluate(single_model, frame, gold="expert")
    assert by_gold["label_column"] == "expert" and by_gold["n"] == 2
    old = evaluate(single_model, frame, gold_column="expert")  # the earlier spelling, as bench/ and notebooks wrote
    assert (old["label_column"], old["accuracy"]) == (by_gold["label_column"], by_gold["accuracy"])
    assert evaluate(single_model, frame, gold="expert", gold_column="expert")["n"] == 2
    with pytest.raises(
        InputError, match=r"^gold='expert' and gold_column='gold' name the same option .*pass gold= alone\.$"
    ):
        evaluate(single_model, frame, gold="expert", gold_column="gold")


def test_a_sentence_typed_nfc_or_nfd_gets_one_answer_from_a_cased_tokenizer(
    tiny_base_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A cased tokenizer (BERT cased; RoBERTa's and ModernBERT's byte-level BPE likewise) reads "café" typed NFD
    (e + U+0301, as macOS writes it) as other tokens than "café": trained on a file written on a Mac, a student
    labelled the same sentence pasted from the web 'negative' where its NFD copy was 'positive'. The block saved
    with a model (version 5) puts texts in NFC before anything else, in train and predict; a model saved with an
    earlier block reads texts in the form given, as before. Uncased bases (all-MiniLM-L6-v2, the tiny test base)
    strip accents and were already the same."""
    import unicodedata

    from transformers import AutoTokenizer

    def nfd(text: str) -> str:
        return unicodedata.normalize("NFD", text)

    sentences = ["café crème strong growth", "naïve café crème the market", "loss fell weak", "the company city"]
    uncased = AutoTokenizer.from_pretrained(tiny_base_model)
    assert [uncased(s)["input_ids"] for s in sentences] == [uncased(nfd(s))["input_ids"] for s in sentences]
    base = build_tiny_model(tmp_path / "cased-base", cased=True, words=["café", "crème", "naïve"])
    cased = AutoTokenizer.from_pretrained(base)
    assert cased(sentences[0])["input_ids"] != cased(nfd(sentences[0]))["input_ids"]

    frame = single_frame()
    frame["text"] = [nfd(t.replace("profit rose", "café crème")) for t in frame["text"]]  # written on a Mac
    out = tmp_path / "student"
    train(SINGLE, frame, fast_config(out, base))
    assert read_model_info(out).preprocessing["normalize"] == "NFC"
    given = tmp_path / "in.csv"
    pd.DataFrame({"text": [f(s) for s in sentences for f in (str, nfd)]}).to_csv(given, index=False)
    code, _, err = run_cli(["predict", str(out), str(given), "-o", str(tmp_path / "out.csv")], capsys)
    assert code == 0, err
    got = pd.read_csv(tmp_path / "out.csv")
    probs = got[[f"prob_{n}" for n in SINGLE.label_names]].to_numpy()
    np.testing.assert_allclose(probs[0::2], probs[1::2], atol=1e-6)  # each sentence: NFC row == NFD row
    assert got["label"].tolist()[0::2] == got["label"].tolist()[1::2]
    assert got["label"][0] == "positive"
    assert got["text"][1] == nfd(sentences[0])  # the input column is written as given

    # a model saved with the version-4 block keeps its rules: texts reach its tokenizer in the form given
    old = tmp_path / "old"
    shutil.copytree(out, old)
    for name, key in (("sxhub.json", "preprocessing"), ("config.json", "sxhub_preprocessing")):
        saved = json.loads((old / name).read_text(encoding="utf-8"))
        del saved[key]["normalize"]
        saved[key]["version"] = 4
        (old / name).write_text(json.dumps(saved), encoding="utf-8")
    before = Predictor(old).predict_proba([sentences[0], nfd(sentences[0])])
    assert np.abs(before[0] - before[1]).max() > 1e-3
    np.testing.assert_allclose(before[0], probs[1], atol=1e-5)  # NFC text: what it gave, and what v5 gives both


def test_texts_longer_than_max_length_are_counted_in_the_summary(
    single_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file of support tickets, two of them pages long: each was labelled on its first max_length tokens and the
    summary said only 'Labelled 5 texts'; it now counts the texts cut (torch and ONNX alike), in --json too."""
    from sxhub.export import export_onnx

    max_length = read_model_info(single_model).max_length
    paragraph = "the bank of the city a year of the market " * 3
    ticket = "profit rose\n\n" + "\n\n".join([paragraph.strip()] * 12)  # far past max_length
    source, out = tmp_path / "tickets.jsonl", tmp_path / "out.csv"
    pd.DataFrame({"text": [ticket, *TEXTS[:3], ticket.upper(), ""]}).to_json(source, orient="records", lines=True)
    code, stdout, err = run_cli(["predict", str(single_model), str(source), "-o", str(out)], capsys)
    assert code == 0, err
    line = stdout.strip().splitlines()[-1]
    assert f"; 2 text(s) (40%) longer than the model's {max_length} tokens labelled on their first" in line, line
    assert "split long texts into passages" in line
    code, stdout, err = run_cli(["predict", str(single_model), str(source), "-o", str(out), "--json"], capsys)
    assert code == 0 and (json.loads(stdout)["truncated"], json.loads(stdout)["max_length"]) == (2, max_length)
    short = tmp_path / "short.csv"
    pd.DataFrame({"text": TEXTS}).to_csv(short, index=False)
    assert predict_file(single_model, short, tmp_path / "s.csv").truncated == 0
    model = tmp_path / "student"
    shutil.copytree(single_model, model)
    export_onnx(model)
    summary = predict_file(model, source, tmp_path / "onnx.csv", onnx=True, chunk_rows=2)
    assert summary.truncated == 2 and "2 text(s) (40%) longer" in summary.summary_line()


def test_evaluate_counts_the_texts_it_cut_as_predict_does(
    single_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """evaluate scored texts longer than the student's max_length on their first max_length tokens and said nothing,
    where predict (and train) count them; its report and --json now say how many were cut, in predict's words."""
    max_length = read_model_info(single_model).max_length
    ticket = "profit rose " + "the bank of the city a year of the market " * 60  # far past max_length
    data = tmp_path / "gold.csv"
    pd.DataFrame(
        {
            "text": [ticket, "loss widened", ticket.upper(), "the company is in the city"],
            "label": ["positive", "negative", "positive", "neutral"],
        }
    ).to_csv(data, index=False)
    code, stdout, err = run_cli(["evaluate", str(single_model), str(data)], capsys)
    assert code == 0, err
    assert f"2 text(s) (50%) longer than the model's {max_length} tokens scored on their first" in stdout, stdout
    code, stdout, err = run_cli(["evaluate", str(single_model), str(data), "--json"], capsys)
    assert code == 0 and (json.loads(stdout)["truncated"], json.loads(stdout)["max_length"]) == (2, max_length)
    short = tmp_path / "short.csv"
    pd.DataFrame({"text": ["profit rose", "loss widened"], "label": ["positive", "negative"]}).to_csv(
        short, index=False
    )
    code, stdout, err = run_cli(["evaluate", str(single_model), str(short), "--json"], capsys)
    assert code == 0 and json.loads(stdout)["truncated"] == 0
    assert not any("longer than the model" in n for n in json.loads(stdout).get("notes", []))


def test_a_slow_tokenizer_counts_the_texts_it_cut(
    single_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A model whose tokenizer is a slow (Python) one cut the same two tickets at max_length, but the count read a
    fast tokenizer's overflowing tokens, which a slow one has not: the summary said nothing and --json truncated 0.
    It now counts them as the fast tokenizer does; a text of exactly max_length tokens is not counted."""
    model = slow_tokenizer_copy(single_model, tmp_path / "slow")
    max_length = read_model_info(model).max_length
    tokenizer = Predictor(model).tokenizer
    exact = " ".join(["profit"] * (max_length - 2))  # [CLS] + max_length - 2 words + [SEP]: fits exactly
    assert len(tokenizer(exact)["input_ids"]) == max_length
    ticket = "profit rose " + "the bank of the city a year of the market " * 12
    source, out = tmp_path / "tickets.jsonl", tmp_path / "out.csv"
    pd.DataFrame({"text": [ticket, *TEXTS[:2], exact, ticket.upper()]}).to_json(source, orient="records", lines=True)
    code, stdout, err = run_cli(["predict", str(model), str(source), "-o", str(out), "--json"], capsys)
    assert code == 0, err
    assert (json.loads(stdout)["truncated"], json.loads(stdout)["max_length"]) == (2, max_length)
    code, stdout, err = run_cli(["predict", str(model), str(source), "-o", str(out)], capsys)
    assert f"; 2 text(s) (40%) longer than the model's {max_length} tokens" in stdout.strip().splitlines()[-1]
    fast = predict_file(single_model, source, tmp_path / "fast.csv")
    assert fast.truncated == 2
    pd.testing.assert_frame_equal(pd.read_csv(out), pd.read_csv(tmp_path / "fast.csv"))


def test_a_roberta_classifier_reads_no_further_than_its_position_table(tmp_path: Path) -> None:
    """A RoBERTa-family classifier (BERTweet: 130 positions, padding index 1) numbers its positions from the padding
    index on, so it takes 128 tokens, not 130: `sxhub predict` on a plain transformers folder read texts of 129-130
    tokens past its table (IndexError in the embeddings). A BERT's table holds all its positions; training limits
    the same way (recipe.length_limit)."""
    import transformers

    from sxhub.recipe import length_limit

    folder = build_tiny_model(tmp_path / "roberta")  # its tokenizer; the model is replaced by a RoBERTa
    for name in ("model.safetensors", "config.json"):
        (folder / name).unlink()
    config = transformers.RobertaConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_position_embeddings=12, pad_token_id=1, num_labels=3,
    )  # fmt: skip
    transformers.RobertaForSequenceClassification(config).save_pretrained(folder)
    long = " ".join(f"w{i}" for i in range(30))
    predictor = Predictor(folder)
    assert predictor.info.max_length == 10  # 12 positions, less the padding index and the one before it
    assert predictor.predict_proba([long, "w1"]).shape == (2, 3)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    assert length_limit(tokenizer, config) == 10
    assert length_limit(tokenizer, transformers.BertConfig(max_position_embeddings=12, pad_token_id=1)) == 12
