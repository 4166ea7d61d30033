"""``sxhub train`` on a large labelled file: the ``votes`` column (three votes with reasons per text, most of an
annotated file) is left unread unless ``--soft-labels`` learns from it, and the teachers recorded in ``sxhub.json``
are read from it in a streamed pass of that one column, the same teachers as from the whole file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from sxhub.data import write_table
from sxhub.labelled import load_labelled
from sxhub.run_record import label_teachers
from sxhub.spec import TaskSpec
from sxhub.targets import keep_agreed

NAMES = ["positive", "neutral", "negative"]


def _vote(teacher: str, label: str | None) -> dict[str, Any]:
    return {
        "teacher": teacher,
        "sample": 0,
        "labels": None if label is None else [label],
        "reason": "why",
        "error": "",
    }


def _rows() -> pd.DataFrame:
    """Annotate output in which each teacher first labels a row that train leaves out: ``early`` a failed row,
    ``blank`` a row without a text, ``low`` a row below --min-agreement 0.9, ``person`` a row a person relabelled;
    ``dead`` never gives a label. The rows train learns from are voted by ``main`` and, later, ``late``."""
    rows: list[dict[str, Any]] = [
        {"text": "failed row", "label": None, "votes": [_vote("early", "positive")], "agreement": 1.0, "failed": True},
        {"text": "", "label": "neutral", "votes": [_vote("blank", "neutral")], "agreement": 1.0, "failed": False},
        {"text": "split vote", "label": "positive", "votes": [_vote("low", "positive")], "agreement": 0.5,
         "failed": False},
        {"text": "a person fixed it", "label": "negative", "votes": [_vote("person", "positive")], "agreement": 1.0,
         "failed": False, "label_source": "human"},
    ]  # fmt: skip
    for i in range(40):
        label = NAMES[i % 3]
        votes = [_vote("main", label), _vote("dead", None)] + ([_vote("late", label)] if i >= 30 else [])
        rows.append({"text": f"company profit rose {i}", "label": label, "votes": votes, "agreement": 1.0,
                     "failed": False})  # fmt: skip
    frame = pd.DataFrame(rows)
    frame["label_source"] = frame["label_source"].fillna("teacher")
    frame["error"] = ""
    return frame


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
@pytest.mark.parametrize("min_agreement", [None, 0.9])
def test_teachers_streamed_from_the_file_equal_those_of_the_whole_file(
    tmp_path: Path, suffix: str, min_agreement: float | None
) -> None:
    path = tmp_path / f"labelled{suffix}"
    write_table(_rows(), path)
    read = {"label_names": NAMES, "multi_label": False, "label_option": None}
    whole = keep_agreed(load_labelled(path, **read), min_agreement)
    lean = keep_agreed(load_labelled(path, read_votes=False, **read), min_agreement)
    assert "votes" in whole.frame.columns and "votes" not in lean.frame.columns
    assert lean.texts == whole.texts and lean.labels == whole.labels
    expected = ["low", "main", "late"] if min_agreement is None else ["main", "late"]
    assert label_teachers(whole) == label_teachers(lean) == expected


def test_train_leaves_the_votes_unread_and_records_their_teachers(
    tmp_path: Path, tiny_base_model: Path, parquet_columns_asked: list[Any]
) -> None:
    """A 1M-row annotated file took 2.7 GB to read for train, most of it the votes, a dict per vote: train now
    reads the Parquet file without that column, and still names the teachers in ``sxhub.json``."""
    from sxhub.train import train
    from sxhub.train_config import TrainConfig

    path = tmp_path / "labelled.parquet"
    write_table(_rows(), path)
    asked = parquet_columns_asked
    spec = TaskSpec(name="fin-sent", description="Sentiment of financial news.", labels=NAMES)
    out = tmp_path / "student"
    train(spec, str(path), TrainConfig(output_dir=out, base_model=str(tiny_base_model), epochs=1, threads=1))
    assert asked and all(columns is not None and "votes" not in columns for columns in asked)
    assert json.loads((out / "sxhub.json").read_text())["teachers"] == ["low", "main", "late"]


def test_soft_labels_still_read_the_votes(tmp_path: Path) -> None:
    path = tmp_path / "labelled.parquet"
    write_table(_rows(), path)
    data = load_labelled(path, label_names=NAMES, multi_label=False, label_option=None, read_votes=True)
    assert "votes" in data.frame.columns and data.source is None


@pytest.mark.parametrize("multi", [False, True])
def test_labels_read_from_a_file_are_the_tasks_name_objects(tmp_path: Path, multi: bool) -> None:
    """Each label cell read from a Parquet file was a str of its own: 3 names held 990,000 strings in a 1M-row
    file. Every cell is now the task's own name (written in another case too), one object per name."""
    column = "labels" if multi else "label"
    cells = ["positive", "Negative", "neutral", "positive", "negative "] * 20
    frame = pd.DataFrame(
        {"text": [f"text {i}" for i in range(len(cells))], column: [[c] if multi else c for c in cells]}
    )
    path = tmp_path / "labelled.parquet"
    write_table(frame, path)
    data = load_labelled(path, label_names=NAMES, multi_label=multi, read_votes=False)
    flat = [lab for row in data.labels for lab in row] if multi else data.labels
    assert flat == [c.strip().lower() for c in cells]
    assert {id(lab) for lab in flat} == {id(n) for n in NAMES}


def test_cleaning_keeps_each_text_it_leaves_unchanged(tmp_path: Path) -> None:
    """Cleaning built a new string for every text with a space (the whitespace step), already clean or not: train
    held a second copy of a whole file's texts. A text cleaning leaves as it was is now kept as it is."""
    from sxhub.data import preprocessing_config
    from sxhub.labelled import preprocessed

    texts = ["profit rose today", "mail anna@shop.com  now", "shares fell"]
    data = load_labelled(pd.DataFrame({"text": texts, "label": ["positive", "neutral", "negative"]}))
    cleaned = preprocessed(data, preprocessing_config(True))
    assert cleaned.texts == ["profit rose today", "mail EMAIL now", "shares fell"]
    assert cleaned.texts[0] is data.texts[0] and cleaned.texts[2] is data.texts[2]


def test_train_keeps_only_the_columns_it_reads(
    tmp_path: Path, tiny_base_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole table read from the file stayed in memory through tokenizing, where training peaks: a 1M-row
    multi-label file held ~400 MB of a label column as read (a numpy array per row, beside ``data.labels``) and of
    agreement dicts that train no longer reads once --min-agreement has kept its rows. The rows that train keep the
    columns it reads (the votes' teachers, a person's labels) and the teachers are still named."""
    import sxhub.train as train_module
    from sxhub.train_config import TrainConfig

    seen: list[list[str]] = []
    local = train_module.train_local

    def recording(spec: Any, data: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(list(data.frame.columns))
        return local(spec, data, *args, **kwargs)

    monkeypatch.setattr(train_module, "train_local", recording)
    frame = _rows().assign(gold="positive")
    path = tmp_path / "labelled.parquet"
    write_table(frame, path)
    spec = TaskSpec(name="fin-sent", description="Sentiment of financial news.", labels=NAMES)
    out = tmp_path / "student"
    config = TrainConfig(output_dir=out, base_model=str(tiny_base_model), epochs=1, threads=1, min_agreement=0.9)
    train_module.train(spec, str(path), config)
    assert seen == [["label_source"]]
    assert json.loads((out / "sxhub.json").read_text())["teachers"] == ["main", "late"]
