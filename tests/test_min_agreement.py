"""``train --min-agreement``: rows the teachers agreed on too little are left out, counted, and recorded."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_cli
from test_train import MULTI, SINGLE, fast_config, single_frame

from sxhub.errors import InputError, UserError
from sxhub.labelled import load_labelled
from sxhub.targets import data_notes, keep_agreed, vote_shares
from sxhub.train import train
from sxhub.train_config import TrainConfig


def _single(agreement: list[object]) -> pd.DataFrame:
    labels = ["positive", "neutral", "negative", "positive", "neutral"][: len(agreement)]
    return pd.DataFrame({"text": [f"t{i}" for i in range(len(agreement))], "label": labels, "agreement": agreement})


def test_rows_below_the_minimum_are_left_out_and_rows_without_agreement_kept() -> None:
    """Expert rows (no agreement: NaN, None, "") concatenated with voted rows are kept; a text share is read."""
    frame = _single([1.0, 0.5, None, "0.8", float("nan")])
    data = keep_agreed(load_labelled(frame, label_names=SINGLE.label_names, multi_label=False), 0.8)
    assert data.texts == ["t0", "t2", "t3", "t4"]
    assert data.labels == ["positive", "negative", "positive", "neutral"]
    assert data.frame["text"].tolist() == data.texts  # texts, labels and frame stay aligned (soft labels read it)
    assert (data.n_low_agreement, data.min_agreement) == (1, 0.8)
    assert "1 row(s) with agreement below 0.8 were left out (--min-agreement)." in data_notes(data)


def test_rows_a_person_labelled_are_kept_whatever_the_teachers_agreed() -> None:
    """``apply-review`` marks corrected rows ``label_source: human`` and keeps the teachers' agreement; review shows
    the least agreed rows first, so --min-agreement dropped exactly the labels people had fixed."""
    frame = _single([1.0, 0.4, 0.0, 0.5])
    frame["label_source"] = ["teacher", "human", "human", "teacher"]
    data = keep_agreed(load_labelled(frame, label_names=SINGLE.label_names, multi_label=False), 0.8)
    assert data.texts == ["t0", "t1", "t2"] and data.n_low_agreement == 1


def test_a_share_at_the_minimum_is_kept() -> None:
    """2 of 3 votes read back from a CSV as 0.6666666666666666 is kept at --min-agreement 0.6666666666666666."""
    frame = _single([2 / 3, 1 / 3, 1.0])
    data = keep_agreed(load_labelled(frame, label_names=SINGLE.label_names, multi_label=False), 2 / 3)
    assert data.texts == ["t0", "t2"]


def test_no_minimum_changes_nothing_and_notes_nothing() -> None:
    loaded = load_labelled(_single([0.1, 0.2, 0.3]), label_names=SINGLE.label_names, multi_label=False)
    assert keep_agreed(loaded, None) is loaded
    assert data_notes(loaded) == []


def test_multi_label_reads_the_texts_one_number(tmp_path: Path) -> None:
    """Per-label agreement: the mean over the labels some vote named (``None``: never named) is the row's number.

    Read back from a CSV, where sxhub writes list and dict cells as JSON."""
    frame = pd.DataFrame(
        {
            "text": ["a", "b", "c"],
            "labels": [["product"], ["price"], []],
            "agreement": [
                {"product": 1.0, "place": None, "price": 0.5},  # mean 0.75
                {"product": None, "place": None, "price": 1.0},  # mean 1.0
                {"product": None, "place": None, "price": None},  # every vote named no label: 1.0
            ],
        }
    )
    from sxhub.tables import write_table

    path = tmp_path / "labelled.csv"
    write_table(frame, path)
    data = keep_agreed(load_labelled(path, label_names=MULTI.label_names, multi_label=True), 0.8)
    assert data.texts == ["b", "c"] and data.labels == [["price"], []] and data.n_low_agreement == 1


def test_soft_labels_read_the_kept_rows_votes() -> None:
    vote = {"teacher": "t", "sample": 0, "reason": "", "error": ""}
    frame = _single([0.5, 1.0])
    frame["votes"] = [[{**vote, "labels": ["negative"]}], [{**vote, "labels": ["neutral"]}]]
    data = keep_agreed(load_labelled(frame, label_names=SINGLE.label_names, multi_label=False), 0.9)
    assert vote_shares(data).tolist() == [[0.0, 1.0, 0.0]]


def test_no_agreement_column_is_one_clear_error() -> None:
    loaded = load_labelled(single_frame(), label_names=SINGLE.label_names, multi_label=False)
    with pytest.raises(InputError, match=re.escape("this data has none: drop the option")):
        keep_agreed(loaded, 0.9)


def test_every_row_below_names_the_highest_agreement() -> None:
    loaded = load_labelled(_single([0.4, 0.55]), label_names=SINGLE.label_names, multi_label=False)
    with pytest.raises(InputError, match=re.escape("the highest is 0.550); lower --min-agreement")):
        keep_agreed(loaded, 0.9)


@pytest.mark.parametrize("value", [0.0, 1.5, -0.1])
def test_the_config_refuses_a_minimum_outside_0_1(value: float, tmp_path: Path) -> None:
    with pytest.raises(UserError, match=re.escape(f"min_agreement={value} is out of range")):
        TrainConfig(output_dir=tmp_path, min_agreement=value)


def test_training_leaves_the_rows_out_and_records_the_minimum(tiny_base_model: Path, tmp_path: Path) -> None:
    frame = single_frame()
    # every tenth row has a wrong label the teachers split on: the filter should take exactly those out
    wrong = frame.index % 10 == 0
    frame["agreement"] = [0.4 if w else 0.9 for w in wrong]
    frame.loc[wrong, "label"] = (
        frame.loc[wrong, "label"].map({"positive": "negative", "neutral": "positive"}).fillna("neutral")
    )
    out = tmp_path / "student"
    result = train(SINGLE, frame, fast_config(out, tiny_base_model, min_agreement=0.5))
    assert result.n_train + result.n_val == len(frame) - int(wrong.sum())
    assert "9 row(s) with agreement below 0.5 were left out (--min-agreement)." in result.summary_line()
    info = json.loads((out / "sxhub.json").read_text())
    assert info["train"]["min_agreement"] == 0.5
    assert any("agreement below 0.5" in note for note in info["train"]["notes"])
    from sxhub.model_card import training_rows

    assert ("min_agreement", "0.5") in training_rows(info)  # the model card's training table


def test_the_cli_option_and_its_bad_values(
    tiny_base_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task = tmp_path / "task.yaml"
    task.write_text("name: fin\nlabels: [positive, neutral, negative]\n")
    labelled = tmp_path / "labelled.csv"
    single_frame().to_csv(labelled, index=False)
    base = ["train", str(task), str(labelled), "-o", str(tmp_path / "m"), "--base", str(tiny_base_model)]
    code, _, err = run_cli([*base, "--min-agreement", "1.2"], capsys)
    assert code == 2 and "--min-agreement" in err and "0<x<=1" in err.replace(" ", "")
    code, _, err = run_cli([*base, "--min-agreement", "0.9"], capsys)  # a table without votes: one line, exit 2
    assert code == 2 and "this data has none: drop the option" in err
    assert not (tmp_path / "m" / "model.safetensors").exists()


@pytest.mark.parametrize("cells", [["50", "66", "75", "100", "100"], [50.0, 66.0, 75.0, 100.0, 100.0], [1.0, -0.2]])
def test_an_agreement_column_that_is_not_a_share_is_one_clear_error(cells: list[object]) -> None:
    """A file's own agreement in percent (PhraseBank's 50/66/75/100 annotator agreement): every cell passed
    --min-agreement 0.75 as a share far above 1, so '0 row(s) with agreement below 0.75 were left out', exit 0."""
    data = load_labelled(_single(cells), label_names=SINGLE.label_names, multi_label=False)
    with pytest.raises(InputError, match=r"is not a share from 0 to 1 \(a percentage\? divide the column by 100\)"):
        keep_agreed(data, 0.75)
