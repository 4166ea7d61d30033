"""``sxhub agree``: figures equal scikit-learn's and krippendorff's on real expert data; failed rows, votes, review."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import krippendorff
import numpy as np
import pandas as pd
import pytest
from conftest import run_cli, twins_shaped
from sklearn.metrics import accuracy_score, f1_score
from test_metrics import jaccard

SXHUB = Path(sys.executable).parent / "sxhub"
P4 = ["Product", "Place", "Price", "Promotion"]


def perturb(labels: list[str], names: list[str], share: float, seed: int) -> list[str]:
    """Replace ``share`` of the labels by another label (fixed seed)."""
    rng = np.random.default_rng(seed)
    out = list(labels)
    for i in np.flatnonzero(rng.random(len(labels)) < share):
        out[i] = str(rng.choice([n for n in names if n != labels[i]]))
    return out


def vote(teacher: str, sample: int, labels: list[str] | None) -> dict:
    return {"teacher": teacher, "sample": sample, "labels": labels, "reason": "", "error": "" if labels else "timeout"}


@pytest.fixture
def phrasebank(shared_data: Path, tmp_path: Path) -> Path:
    """Expert labels plus a 'teacher' column with ~15% of them changed (seed 13)."""
    df = pd.read_csv(shared_data / "financial_phrasebank" / "sentences_allagree.csv")
    names = sorted(df["label"].unique())
    df["teacher"] = perturb(df["label"].tolist(), names, 0.15, seed=13)
    path = tmp_path / "phrasebank.csv"
    df.to_csv(path, index=False)
    return path


def test_acceptance_phrasebank_json_equals_sklearn_and_krippendorff(phrasebank: Path) -> None:
    proc = subprocess.run(
        [str(SXHUB), "agree", str(phrasebank), "--gold", "label", "--pred", "teacher", "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)  # one JSON object and nothing else on stdout
    df = pd.read_csv(phrasebank)
    gold, pred = df["label"].tolist(), df["teacher"].tolist()
    assert 0.80 < accuracy_score(gold, pred) < 0.90  # the perturbation changed ~15%
    ids = {name: i for i, name in enumerate(sorted(set(gold)))}
    alpha = krippendorff.alpha(
        reliability_data=[[ids[g] for g in gold], [ids[p] for p in pred]], level_of_measurement="nominal"
    )
    assert result["n"] == len(df) and result["n_failed"] == 0
    assert result["accuracy"] == pytest.approx(accuracy_score(gold, pred), abs=1e-12)
    assert result["macro_f1"] == pytest.approx(f1_score(gold, pred, average="macro"), abs=1e-12)
    assert result["krippendorff_alpha"] == pytest.approx(alpha, abs=1e-12)
    assert result["labels"] == ["negative", "neutral", "positive"] and result["multi_label"] is False
    assert sum(map(sum, result["confusion_matrix"])) == len(df)


def test_markdown_report_on_stdout(phrasebank: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["agree", str(phrasebank), "--gold", "label", "--pred", "teacher"], capsys)
    assert code == 0
    for piece in ("| accuracy |", "| macro-F1 |", "Krippendorff's alpha (vs gold)", "### Per label", "| neutral |"):
        assert piece in out
    assert "### Confusion matrix" in out


@pytest.fixture
def twins(shared_data: Path, tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """4P marketing labels as a JSON-list column, plus a copy with ~10% of the label decisions flipped."""
    df = pd.read_csv(shared_data / "synthetic-experts" / "Demo_5000_Labeled_SyntheticTwins.csv")
    hot = df[P4].astype(str).apply(lambda col: col.str.lower().eq("true")).to_numpy()
    flips = np.random.default_rng(7).random(hot.shape) < 0.10
    noisy = hot ^ flips
    table = pd.DataFrame(
        {
            "text": df["Text"],
            "expert": [json.dumps([n for n, on in zip(P4, row, strict=True) if on]) for row in hot],
            "labels": [json.dumps([n for n, on in zip(P4, row, strict=True) if on]) for row in noisy],
        }
    )
    path = tmp_path / "twins.csv"
    table.to_csv(path, index=False)
    return path, pd.DataFrame({"hot": list(hot), "noisy": list(noisy)})


def test_multi_label_micro_f1_equals_sklearn(
    twins: tuple[Path, pd.DataFrame], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, truth = twins
    task = tmp_path / "task.yaml"
    task.write_text(
        "name: four-p\nmulti_label: true\nlabels:\n" + "".join(f"  - name: {n}\n" for n in P4), encoding="utf-8"
    )
    code, out, err = run_cli(["agree", str(path), "--gold", "expert", "--task", str(task), "--json"], capsys)
    assert code == 0, err
    result = json.loads(out)
    y_true, y_pred = np.stack(truth["hot"]).astype(int), np.stack(truth["noisy"]).astype(int)
    assert result["multi_label"] is True and result["labels"] == P4 and result["pred_column"] == "labels"
    assert result["micro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="micro"), abs=1e-12)
    assert result["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"), abs=1e-12)
    assert result["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred), abs=1e-12)
    # alpha over label sets (Jaccard distance), from its two-coder closed form on the distinct sets
    gold = [frozenset(n for n, on in zip(P4, row, strict=True) if on) for row in y_true]
    pred = [frozenset(n for n, on in zip(P4, row, strict=True) if on) for row in y_pred]
    n = 2 * len(gold)
    observed = 2 * sum(jaccard(a, b) for a, b in zip(gold, pred, strict=True)) / n
    counts = Counter([*gold, *pred])
    expected = sum(c * k * jaccard(s, t) for s, c in counts.items() for t, k in counts.items()) / (n * (n - 1))
    assert result["krippendorff_alpha"] == pytest.approx(1 - observed / expected, abs=1e-9)
    assert set(result["confusion_matrices"]) == set(P4)


def test_teacher_labels_as_one_flag_column_per_label_score_the_same(
    twins: tuple[Path, pd.DataFrame], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The 4P tweets' own layout for the teacher's labels (``Text`` and one True/False column per label), with
    --task: the same figures as the same labels in a ``labels`` column."""
    path, truth = twins
    task = tmp_path / "task.yaml"
    task.write_text(
        "name: four-p\nmulti_label: true\nlabels:\n" + "".join(f"  - name: {n}\n" for n in P4), encoding="utf-8"
    )
    listed = pd.read_csv(path)
    flags = pd.DataFrame({"Text": listed["text"], "expert": listed["expert"]})
    for j, name in enumerate(P4):
        flags[name] = [bool(row[j]) for row in truth["noisy"]]
    flagged = tmp_path / "flags.csv"
    flags.to_csv(flagged, index=False)
    results = []
    for file in (path, flagged):
        code, out, err = run_cli(["agree", str(file), "--gold", "expert", "--task", str(task), "--json"], capsys)
        assert code == 0, err
        results.append(json.loads(out))
    assert {**results[1], "title": ""} == {**results[0], "title": ""} and results[0]["n"] == len(listed)


def test_expert_labels_as_one_flag_column_per_label_score_the_same(
    twins: tuple[Path, pd.DataFrame], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """GoEmotions' layout for the experts' labels (one 0/1 column per label) beside the teacher's ``labels``:
    ``--gold`` naming any of those columns reads them all, with the same figures as a list column. Before, a single
    0/1 column was taken as each text's label set ("1" or "0"), or the flags could not be named at all."""
    path, truth = twins
    task = tmp_path / "task.yaml"
    task.write_text(
        "name: four-p\nmulti_label: true\nlabels:\n" + "".join(f"  - name: {n}\n" for n in P4), encoding="utf-8"
    )
    listed = pd.read_csv(path)
    flags = listed.drop(columns=["expert"])
    for j, name in enumerate(P4):
        flags[name] = [int(row[j]) for row in truth["hot"]]
    flagged = tmp_path / "flags.csv"
    flags.to_csv(flagged, index=False)
    code, out, err = run_cli(["agree", str(path), "--gold", "expert", "--task", str(task), "--json"], capsys)
    assert code == 0, err
    listed_result = json.loads(out)
    code, out, err = run_cli(["agree", str(flagged), "--gold", "Price", "--task", str(task), "--json"], capsys)
    assert code == 0, err
    flagged_result = json.loads(out)
    assert flagged_result["gold_column"] == "gold" and flagged_result["pred_column"] == "labels"
    same = ("micro_f1", "macro_f1", "accuracy", "krippendorff_alpha", "per_label", "n")
    assert {k: flagged_result[k] for k in same} == {k: listed_result[k] for k in same}
    assert listed_result["micro_f1"] < 1.0  # the teacher is noisy: the flags were not scored against themselves
    code, out, err = run_cli(["agree", str(flagged), "--gold", "Price", "--json"], capsys)  # no --task
    assert code == 2 and out == ""
    assert err.strip().splitlines()[-1] == (
        "Error: --gold 'Price' holds true/false cells, not label names: pass --task TASK.yaml to read the experts' "
        "labels from the file's one true/false column per label, or --gold with a column of label names."
    )
    # --gold labels, as the option's help says, where 'labels' is the teacher's column (annotate --keep-column): the
    # error said to pass "--gold with the experts' one", a column this file has not; it names the way that works
    code, out, err = run_cli(["agree", str(flagged), "--gold", "labels", "--task", str(task), "--json"], capsys)
    assert code == 2 and out == "" and err.strip().count("\n") == 0
    assert "true/false columns Product, Place, Price, Promotion: pass --gold 'Product'" in err


def test_multi_label_guessed_from_json_cells_and_comma_gold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "m.csv"
    pd.DataFrame(
        {
            "text": ["a", "b", "c", "d"],
            "gold": ["Price, Place", "Product", "", "[]"],
            "teacher": ['["Price", "Place"]', '["Promotion"]', "[]", "[]"],
        }
    ).to_csv(path, index=False)
    code, out, err = run_cli(["agree", str(path), "--gold", "gold", "--pred", "teacher", "--json"], capsys)
    assert code == 0, err
    result = json.loads(out)
    # "[]" is the experts' empty set; an empty cell is a text they did not label, left out as the cards leave it
    assert result["multi_label"] is True and result["accuracy"] == pytest.approx(2 / 3)
    assert result["n"] == 3 and result["n_missing"] == 1
    assert result["labels"] == ["Place", "Price", "Product", "Promotion"]  # no task: sorted names


def test_multi_label_guessed_past_a_run_of_empty_cells(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A sorted file whose first 250 texts have no label: the kind was guessed from the first 200 cells, all empty,
    and the JSON lists below them were scored as single-label names."""
    path = tmp_path / "m.csv"
    lists = [["Price", "Place"], ["Product"], [], ["Promotion"]]
    pd.DataFrame(
        {
            "text": [f"t{i}" for i in range(254)],
            "gold": [""] * 250 + [json.dumps(cell) for cell in lists],
            "teacher": [""] * 250 + [json.dumps(cell) for cell in [["Price"], ["Product"], [], ["Promotion"]]],
        }
    ).to_csv(path, index=False)
    code, out, err = run_cli(["agree", str(path), "--gold", "gold", "--pred", "teacher", "--json"], capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["multi_label"] is True and result["n"] == 4
    assert result["labels"] == ["Place", "Price", "Product", "Promotion"]
    assert result["accuracy"] == pytest.approx(3 / 4)


@pytest.mark.parametrize(("column", "role"), [("gold", "the gold column"), ("label", "the column being scored")])
def test_a_text_column_that_is_the_gold_or_the_scored_one_is_exit_2(
    column: str, role: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--text-column gold renamed the gold column to "text" and said "gold column 'gold' not found; the file has
    columns ['text_input', 'label', 'text']", columns the file did not have; one line names the mistake."""
    path = tmp_path / "s.csv"
    pd.DataFrame({"text": ["a", "b", "c"], "label": ["x", "y", "x"], "gold": ["x", "y", "y"]}).to_csv(
        path, index=False
    )
    code, out, err = run_cli(["agree", str(path), "--gold", "gold", "--text-column", column], capsys)
    assert code == 2 and out == "" and err.strip().count("\n") == 0, err
    assert f"--text-column {column!r} is also {role}; pass --text-column with the column of texts" in err, err


def labelled_with_votes() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "text": ["good quarter", "flat year", "loss widened", "merger talks", "broken reply"],
            "label": ["positive", "neutral", "negative", "neutral", None],
            "expert": ["positive", "neutral", "negative", "positive", "neutral"],
            "votes": [
                [vote("A", 0, ["positive"]), vote("A", 1, ["positive"]), vote("B", 0, ["positive"])],
                [vote("A", 0, ["neutral"]), vote("A", 1, ["neutral"]), vote("B", 0, ["positive"])],
                [vote("A", 0, ["negative"]), vote("A", 1, None), vote("B", 0, ["negative"])],
                [vote("A", 0, ["neutral"]), vote("A", 1, ["positive"]), vote("B", 0, ["negative"])],
                [vote("A", 0, None), vote("A", 1, None), vote("B", 0, None)],
            ],
            "agreement": [1.0, 2 / 3, 1.0, 1 / 3, 0.0],
            "failed": [False, False, False, False, True],
            "error": ["", "", "", "", "timeout"],
        }
    )


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_failed_rows_excluded_votes_alpha_and_review(
    suffix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sxhub.data import write_table

    path = write_table(labelled_with_votes(), tmp_path / f"labelled{suffix}")
    review = tmp_path / "review.csv"
    argv = ["agree", str(path), "--gold", "expert", "--json", "--review", str(review), "--top", "2"]
    code, out, err = run_cli(argv, capsys)
    assert code == 0, err
    result = json.loads(out)
    assert (result["n"], result["n_failed"], result["n_rows"]) == (4, 1, 5)
    assert result["accuracy"] == pytest.approx(0.75)
    assert result["n_raters"] == 3 and result["inter_rater_alpha"] is not None
    assert result["votes"]["decided"] == 4 and result["votes"]["ties"] == 1  # the three-way split
    assert "most split" in err and result["review"] == {"path": str(review), "n": 2}
    rows = pd.read_csv(review, keep_default_na=False)
    assert rows["text"].tolist() == ["merger talks", "flat year"]
    assert rows.loc[0, "votes"] == "neutral ×1 | positive ×1 | negative ×1"
    assert rows.loc[0, "gold"] == "positive" and rows.loc[0, "label"] == "neutral"


def test_review_names_each_row_by_its_place_in_the_file_and_its_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--review wrote text, label, gold and the votes only: a text written twice, or a row to fix in the file, had
    to be found by its text. Each row has its 0-based ``row`` in LABELLED (as the doubts queue's ``row``), counted
    before the failed rows and those without a text are left out, and the input's ``id`` under its own name."""
    from sxhub.data import write_table

    frame = labelled_with_votes().iloc[[4, 0, 1, 2, 3]]  # the failed row first
    frame.insert(0, "ID", ["r4", "r0", "r1", "r2", "r3"])
    path = write_table(pd.concat([frame.iloc[:1].assign(text=""), frame]), tmp_path / "labelled.csv")
    review = tmp_path / "review.csv"
    code, _, err = run_cli(["agree", str(path), "--gold", "expert", "--review", str(review), "--top", "2"], capsys)
    assert code == 0, err
    rows = pd.read_csv(review, keep_default_na=False)
    assert rows.columns.tolist()[:3] == ["row", "ID", "text"]
    assert rows["text"].tolist() == ["merger talks", "flat year"]
    assert rows["row"].tolist() == [5, 3] and rows["ID"].tolist() == ["r3", "r1"]


def test_review_writes_no_label_at_all_as_none(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A multi-label text whose votes tie is often labelled [] (no label on): --review wrote its label cell blank,
    which reads as "not labelled" beside votes that say "(none)"; it is "(none)" as the review app shows it."""
    path = tmp_path / "x.jsonl"
    pd.DataFrame(
        {
            "text": ["tie", "clear"],
            "labels": [[], ["Price"]],
            "expert": [["Place"], ["Price"]],
            "votes": [
                [vote("A", 0, ["Place"]), vote("B", 0, ["Promotion"])],
                [vote("A", 0, ["Price"]), vote("B", 0, ["Price"])],
            ],
            "agreement": [{"Place": 0.5, "Promotion": 0.5}, {"Price": 1.0}],
            "failed": [False, False],
        }
    ).to_json(path, orient="records", lines=True)
    review = tmp_path / "review.csv"
    code, _, err = run_cli(["agree", str(path), "--gold", "expert", "--review", str(review)], capsys)
    assert code == 0, err
    rows = pd.read_csv(review, keep_default_na=False)
    assert rows["text"].tolist() == ["tie", "clear"] and rows["label"].tolist() == ["(none)", "Price"]


def test_report_shows_between_rater_alpha_and_failed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sxhub.data import write_table

    path = write_table(labelled_with_votes(), tmp_path / "labelled.jsonl")
    code, out, _ = run_cli(["agree", str(path), "--gold", "expert"], capsys)
    assert code == 0
    assert "Krippendorff's alpha (between 3 raters)" in out and "| failed rows left out | 1 |" in out


def test_unknown_gold_column_is_one_line_exit_2(phrasebank: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["agree", str(phrasebank), "--gold", "expert_label"], capsys)
    assert code == 2 and out == ""
    assert err.strip().count("\n") == 0
    assert "'expert_label' not found" in err and "['sentence', 'label', 'teacher']" in err


def test_label_outside_the_task_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "l.csv"
    pd.DataFrame({"text": ["x", "y"], "label": ["pos", "neg"], "gold": ["pos", "bullish"]}).to_csv(path, index=False)
    task = tmp_path / "t.yaml"
    task.write_text("name: t\nlabels: [{name: pos}, {name: neg}]\n", encoding="utf-8")
    code, _, err = run_cli(["agree", str(path), "--gold", "gold", "--task", str(task)], capsys)
    assert code == 2 and "['bullish']" in err


def test_review_needs_votes_or_agreement(phrasebank: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["agree", str(phrasebank), "--gold", "label", "--pred", "teacher", "--review", str(tmp_path / "r.csv")]
    code, _, err = run_cli(argv, capsys)
    assert code == 2 and "--review needs a 'votes' or 'agreement' column" in err
    assert not (tmp_path / "r.csv").exists()


def test_missing_pred_column_names_the_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "x.csv"
    pd.DataFrame({"text": ["a"], "gold": ["pos"]}).to_csv(path, index=False)
    code, _, err = run_cli(["agree", str(path), "--gold", "gold"], capsys)
    assert code == 2 and "--pred" in err


def test_gold_that_is_the_scored_column_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--gold label`` on a file whose teacher labels are in ``label`` would score the column against itself."""
    path = tmp_path / "x.csv"
    pd.DataFrame({"text": ["a", "b"], "label": ["pos", "neg"]}).to_csv(path, index=False)
    code, out, err = run_cli(["agree", str(path), "--gold", "label"], capsys)
    assert code == 2 and out == "" and err.strip().count("\n") == 0
    assert "also the column being scored" in err and "--pred" in err


def test_one_label_file_scores_without_a_warning(tmp_path: Path) -> None:
    """Without --task, a file holding one label name gives a 1x1 confusion matrix; sklearn's warning about it is
    noise on the user's terminal."""
    path = tmp_path / "x.csv"
    pd.DataFrame({"text": ["a", "b"], "label": ["pos", "pos"], "gold": ["pos", "pos"]}).to_csv(path, index=False)
    proc = subprocess.run(
        [sys.executable, "-W", "error::UserWarning", "-m", "sxhub", "agree", str(path), "--gold", "gold", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["confusion_matrix"] == [[2]]
    assert "Warning" not in proc.stderr


def _flat_vote(teacher: str, sample: int, label: str) -> dict:
    return {"teacher": teacher, "sample": sample, "labels": [label], "reason": "", "error": "", "raw": ""}


def test_without_a_task_a_vote_for_a_label_no_column_holds_is_a_valid_vote(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The label names come from the votes too: a vote for "neu" (in neither the gold nor the label column) counted
    as a failed vote, which raised the raters' alpha (0.625 for 0.25) and gave teacher C accuracy 1.0 for 0.5."""
    votes = [
        ["pos", "pos", "neu"],
        ["neg", "neg", "neu"],
        ["pos", "neg", "pos"],
        ["neg", "neg", "neg"],
    ]
    rows = [
        {
            "text": f"t{i}",
            "label": max(set(v), key=v.count),
            "gold": max(set(v), key=v.count),
            "votes": [_flat_vote(t, 0, lab) for t, lab in zip("ABC", v, strict=True)],
        }
        for i, v in enumerate(votes)
    ]
    path = tmp_path / "votes.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    code, out, err = run_cli(["agree", str(path), "--gold", "gold", "--json"], capsys)
    assert code == 0, err
    result = json.loads(out)
    names = ["neg", "neu", "pos"]
    data = [[names.index(v[k]) for v in votes] for k in range(3)]
    assert result["inter_rater_alpha"] == pytest.approx(
        krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    )
    c = next(r for r in result["reliability"]["teachers"] if r["teacher"] == "C" and r["sample"] is None)
    assert c["valid"] == 4 and c["gold"]["accuracy"] == pytest.approx(0.5)


def test_revoting_reports_and_ranks_by_the_new_rules_agreement(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--vote dawid-skene``: the vote summary is Dawid-Skene's (it was the majority rule's), and ``--review``
    shows each text's vote share for the label Dawid-Skene chose (it showed, and ranked by, the majority's)."""
    from sxhub.reliability import decide_all
    from sxhub.vote import summarize

    names = ["negative", "neutral", "positive"]
    rng = np.random.default_rng(0)

    def noisy(gold: str, right: float) -> str:
        return gold if rng.random() < right else str(rng.choice([n for n in names if n != gold]))

    rows = []
    for i in range(150):
        gold = names[int(rng.integers(3))]
        bad = noisy(gold, 0.4)  # one poor teacher whose three samples agree with each other
        votes = [_flat_vote("good", 0, noisy(gold, 0.9)), _flat_vote("fair", 0, noisy(gold, 0.8))]
        votes += [_flat_vote("bad", s, bad) for s in range(3)]
        rows.append({"text": f"text {i}", "label": bad, "gold": gold, "votes": votes, "agreement": 0.6})
    path = tmp_path / "votes.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    review = tmp_path / "review.csv"
    args = ["agree", str(path), "--gold", "gold", "--vote", "dawid-skene", "--review", str(review), "--top", "150"]
    code, out, err = run_cli([*args, "--json"], capsys)
    assert code == 0, err
    decisions = decide_all([r["votes"] for r in rows], names, False, method="dawid-skene")
    assert json.loads(out)["votes"] == json.loads(json.dumps(summarize(decisions)))
    majority = summarize(decide_all([r["votes"] for r in rows], names, False))
    assert majority["label_counts"] != summarize(decisions)["label_counts"], "the two rules must differ here"
    shown = pd.read_csv(review)
    by_text = {r["text"]: r["votes"] for r in rows}
    for text, label, agreement in zip(shown["text"], shown["label"], shown["agreement"], strict=True):
        votes = by_text[text]
        assert agreement == pytest.approx(sum(v["labels"] == [label] for v in votes) / len(votes))


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_every_row_failed_is_one_line_exit_2(suffix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file whose every row failed has nothing to score: one line saying so, not a ValueError from summing an
    empty column (exit 1)."""
    from sxhub.data import write_table

    frame = pd.DataFrame({"text": ["a", "b"], "label": ["", ""], "gold": ["pos", "neg"], "failed": [True, True]})
    path = write_table(frame, tmp_path / f"failed{suffix}")
    code, out, err = run_cli(["agree", str(path), "--gold", "gold", "--json"], capsys)
    assert code == 2 and out == "" and err.strip().count("\n") == 0
    assert "nothing to score: of 2 rows, 2 failed" in err


def test_goemotions_dev_set_scores_in_bounded_memory(shared_data: Path, tmp_path: Path) -> None:
    """GoEmotions' 5,426 dev texts as label sets (hundreds of distinct sets): the krippendorff package builds a
    texts x sets x sets array first (24 GB, and agree was killed); sxhub sums the coincidences itself, and the
    figures still equal scikit-learn's and alpha's closed form. Run under a 3 GB address-space cap."""
    import resource

    folder = shared_data / "goemotions"
    names = (folder / "labels.txt").read_text(encoding="utf-8").split()
    raw = pd.read_csv(folder / "dev.tsv", sep="\t", header=None, names=["text", "ids", "id"], dtype=str)
    gold = [sorted({names[int(i)] for i in ids.split(",")}) for ids in raw["ids"]]
    rng = np.random.default_rng(3)
    pred = [sorted({*g[1:], str(rng.choice(names))} if rng.random() < 0.3 else g) for g in gold]
    path = tmp_path / "goemotions.csv"
    pd.DataFrame({"text": raw["text"], "expert": map(json.dumps, gold), "labels": map(json.dumps, pred)}).to_csv(
        path, index=False
    )

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))

    proc = subprocess.run(
        [sys.executable, "-m", "sxhub", "agree", str(path), "--gold", "expert", "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        preexec_fn=cap,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    from sklearn.preprocessing import MultiLabelBinarizer

    binarizer = MultiLabelBinarizer(classes=names)
    y_true, y_pred = binarizer.fit_transform(gold), binarizer.transform(pred)
    assert result["n"] == len(raw) and result["multi_label"] is True and result["labels"] == sorted(names)
    assert result["micro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="micro"), abs=1e-12)
    assert result["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro", zero_division=0), abs=1e-12)
    assert result["accuracy"] == pytest.approx(accuracy_score(y_true, y_pred), abs=1e-12)
    sets_gold, sets_pred = [frozenset(g) for g in gold], [frozenset(p) for p in pred]
    n = 2 * len(gold)
    observed = 2 * sum(jaccard(a, b) for a, b in zip(sets_gold, sets_pred, strict=True)) / n
    counts = Counter([*sets_gold, *sets_pred])
    expected = sum(c * k * jaccard(s, t) for s, c in counts.items() for t, k in counts.items()) / (n * (n - 1))
    assert result["krippendorff_alpha"] == pytest.approx(1 - observed / expected, abs=1e-9)


@pytest.mark.parametrize("gold", ["Positive", "positive "])
def test_gold_names_that_differ_only_in_case_or_spaces_are_exit_2(
    gold: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --task an expert column written ``Positive`` (or with a trailing space) beside the teacher's
    ``positive`` made two labels: accuracy 0.0 and exit 0. One line, exit 2, naming both spellings."""
    path = tmp_path / "x.csv"
    pd.DataFrame({"text": ["a", "b"], "label": ["positive", "negative"], "gold": [gold, "negative"]}).to_csv(
        path, index=False
    )
    code, out, err = run_cli(["agree", str(path), "--gold", "gold", "--json"], capsys)
    assert code == 2 and out == "" and err.strip().count("\n") == 0
    assert f"labels {gold!r} and 'positive'" in err or f"labels 'positive' and {gold!r}" in err
    assert "differ only in case or spaces" in err


def test_without_a_task_class_ids_beside_label_names_are_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """PhraseBank as the Hub serves it has class ids (0 negative, 1 neutral, 2 positive): without --task an expert
    column of ids beside the teacher's names shared no label with it, and agree printed accuracy 0.0, exit 0."""
    path = tmp_path / "x.csv"
    pd.DataFrame({"text": ["a", "b", "c"], "label": ["negative", "neutral", "positive"], "gold": [0, 1, 2]}).to_csv(
        path, index=False
    )
    code, out, err = run_cli(["agree", str(path), "--gold", "gold", "--json"], capsys)
    assert code == 2 and out == "" and err.strip().count("\n") == 0
    assert "'gold' holds numbers (0, 1, 2) where 'label' holds label names" in err and "int2str" in err
    # labels that are numbers on both sides (star ratings) are scored as ever
    pd.DataFrame({"text": ["a", "b"], "label": [1, 5], "gold": [1, 4]}).to_csv(path, index=False)
    code, out, _ = run_cli(["agree", str(path), "--gold", "gold", "--json"], capsys)
    assert code == 0 and json.loads(out)["accuracy"] == 0.5


def test_malformed_json_labels_cell_names_the_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "x.csv"
    frame = pd.DataFrame({"text": ["a", "b"], "labels": ['["joy", "anger"', '["joy"]'], "expert": ['["joy"]'] * 2})
    frame.to_csv(path, index=False)
    code, out, err = run_cli(["agree", str(path), "--gold", "expert", "--json"], capsys)
    assert code == 2 and out == "" and err.strip().count("\n") == 0
    assert "is not a JSON list of names; close its brackets and quotes" in err and "comma-separated" in err


def test_without_a_task_na_label_cells_are_rows_left_out_not_labels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A CSV's cells are read as written, so without --task the label names came from the cells: "NA" (R's write.csv
    for a missing value), "N/A", "null" and "None" were scored as four labels, accuracy 0.29 over 7 rows. They are
    rows left out and counted, as an empty cell; a task that names a label "None" still scores it."""
    path = tmp_path / "x.csv"
    path.write_text(
        "text,label,gold\nprofit rose,positive,positive\nloss widened,negative,negative\nsales flat,NA,neutral\n"
        "shares fell,negative,NA\nmargin up,positive,N/A\nno comment,null,positive\ncosts up,negative,None\n",
        encoding="utf-8",
    )
    code, out, err = run_cli(["agree", str(path), "--gold", "gold", "--json"], capsys)
    result = json.loads(out)
    assert code == 0, err
    assert result["labels"] == ["negative", "positive"] and result["n"] == 2 and result["n_missing"] == 5
    assert result["accuracy"] == 1.0
    task = tmp_path / "t.yaml"
    task.write_text('name: t\nlabels: [{name: positive}, {name: negative}, {name: "None"}]\n', encoding="utf-8")
    named = tmp_path / "named.csv"
    pd.DataFrame(
        {"text": ["a", "b", "c"], "label": ["None", "positive", "None"], "gold": ["None", "positive", "negative"]}
    ).to_csv(named, index=False)
    code, out, err = run_cli(["agree", str(named), "--gold", "gold", "--task", str(task), "--json"], capsys)
    result = json.loads(out)
    assert code == 0, err
    assert result["labels"] == ["positive", "negative", "None"] and result["n"] == 3


def test_with_a_task_names_in_another_case_or_spacing_are_the_tasks(
    phrasebank: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``train`` and ``evaluate`` read ``Positive`` or ``neutral `` in a file as the task's ``positive`` and
    ``neutral``; ``agree --task`` refused the same file ("gold label(s) ['Negative', 'Neutral', 'Positive'] are not
    among the labels"). It scores it as written in the task's names, with the same figures."""
    task = tmp_path / "t.yaml"
    task.write_text("name: t\nlabels: [{name: positive}, {name: neutral}, {name: negative}]\n", encoding="utf-8")
    frame = pd.read_csv(phrasebank)
    code, out, err = run_cli(
        ["agree", str(phrasebank), "--gold", "label", "--pred", "teacher", "--task", str(task), "--json"], capsys
    )
    assert code == 0, err
    expected = json.loads(out)
    spelled = tmp_path / "spelled.csv"
    frame.assign(label=frame["label"].str.capitalize(), teacher=frame["teacher"] + " ").to_csv(spelled, index=False)
    code, out, err = run_cli(
        ["agree", str(spelled), "--gold", "label", "--pred", "teacher", "--task", str(task), "--json"], capsys
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["n"] == len(frame) and result["labels"] == ["positive", "neutral", "negative"]
    for key in ("accuracy", "macro_f1", "krippendorff_alpha", "per_label", "confusion_matrix"):
        assert result[key] == expected[key]


def test_with_a_multi_label_task_list_cells_in_another_case_are_the_tasks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "x.csv"
    pd.DataFrame(
        {
            "text": ["a", "b", "c"],
            "labels": ['["Product", "price"]', '["Place"]', "[]"],
            "gold": ['["product", "Price"]', "place", "[]"],
        }
    ).to_csv(path, index=False)
    task = tmp_path / "t.yaml"
    task.write_text("name: t\nmulti_label: true\nlabels: [{name: Product}, {name: Place}, {name: Price}]\n")
    code, out, err = run_cli(["agree", str(path), "--gold", "gold", "--task", str(task), "--json"], capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["n"] == 3 and result["accuracy"] == 1.0 and result["micro_f1"] == 1.0


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_an_empty_multi_label_teacher_cell_is_a_text_the_teacher_did_not_label(
    suffix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A teacher that labelled a sample of the texts (the 4P notebook labels 30%) has empty cells on the rest; agree
    scored each as the teacher saying "no label": a teacher right on every text it labelled got subset accuracy 0.33
    on 4P tweets. Such rows are left out and counted, as for single-label and as train reads them; ``[]`` is still
    the teacher's empty set."""
    frame = pd.DataFrame(
        {
            "text": ["a", "b", "c", "d", "e"],
            "labels": [["Price", "Place"], ["Product"], [], None, None],
            "gold": [["Price", "Place"], ["Product"], [], ["Product"], ["Promotion"]],
        }
    )
    path = tmp_path / f"x{suffix}"
    if suffix == ".csv":
        frame.assign(
            **{c: frame[c].map(lambda v: "" if v is None else json.dumps(v)) for c in ("labels", "gold")}
        ).to_csv(path, index=False)
    else:
        frame.to_parquet(path)
    code, out, err = run_cli(["agree", str(path), "--gold", "gold", "--json"], capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["multi_label"] is True and result["n"] == 3 and result["n_missing"] == 2
    assert result["accuracy"] == 1.0 and result["micro_f1"] == 1.0


def test_a_label_name_with_a_comma_in_comma_separated_cells(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A multi-label task with a label 'joy, pure': a cell written comma-separated, ``joy, pure`` or
    ``surprise/shock, Joy,pure``, was read as the labels 'joy' and 'pure' and refused ("gold label(s) ['joy',
    'pure'] are not among the labels [..., 'joy, pure', ...]; fix the data"), by agree, train and publish alike."""
    from sxhub.labelled import load_labelled
    from sxhub.publish import publish_dataset
    from sxhub.spec import TaskSpec

    names = ["joy, pure", "très triste", "surprise/shock", "joy"]
    spec = TaskSpec(name="odd", labels=names, multi_label=True)
    task = tmp_path / "task.yaml"
    task.write_text(spec.to_yaml(), encoding="utf-8")
    cells = ["joy, pure", "très triste", "surprise/shock, Joy,pure", "joy", "joy, très triste"] * 6
    expected = [["joy, pure"], ["très triste"], ["surprise/shock", "joy, pure"], ["joy"], ["joy", "très triste"]] * 6
    frame = pd.DataFrame({"text": [f"text {i}" for i in range(len(cells))], "labels": cells, "gold": cells})
    data = tmp_path / "labelled.csv"
    frame.to_csv(data, index=False)

    assert load_labelled(data, label_names=names, multi_label=True).labels == expected
    code, out, err = run_cli(["agree", str(data), "--gold", "gold", "--task", str(task), "--json"], capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["n"] == len(cells) and result["accuracy"] == 1.0
    assert result["per_label"]["joy, pure"]["support"] == 12
    folder = Path(publish_dataset(frame, spec=spec, to=tmp_path / "ds", repo_id="me/ds", gold="gold"))
    published = pd.read_parquet(next((folder / "data").glob("train-*.parquet")))
    assert sorted({names[i] for row in published["labels"] for i in row}) == sorted(names)
    # where every part is a label as it stands, a cell is not joined: the task names 'joy', 'pure' and 'joy, pure'
    from sxhub.spec import rejoin_comma_names

    assert rejoin_comma_names(["joy", "pure"], ["joy", "pure", "joy, pure"]) == ["joy", "pure"]


def test_a_label_name_with_a_pipe_stays_in_its_report_cell(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """agree's Markdown report with a label 'anger|rage': the per-label, confusion-matrix and reliability rows
    opened a new column at its '|', so every figure after the name stood under the wrong heading."""
    import re

    names = ["anger|rage", "calm", "joy"]
    labels = [names[i % 3] for i in range(30)]
    gold = [names[(i + i // 4) % 3] for i in range(30)]
    votes = [
        [{"teacher": "t|1", "sample": s, "labels": [lab], "reason": "", "error": ""} for s in range(2)]
        for lab in labels
    ]
    data = tmp_path / "labelled.jsonl"
    pd.DataFrame({"text": [f"t {i}" for i in range(30)], "label": labels, "gold": gold, "votes": votes}).to_json(
        data, orient="records", lines=True
    )
    code, out, err = run_cli(["agree", str(data), "--gold", "gold", "--vote", "dawid-skene"], capsys)
    assert code == 0, err
    width = None
    for line in out.splitlines():
        if not line.startswith("|"):
            width = None
            continue
        cells = len(re.split(r"(?<!\\)\|", line.strip().strip("|")))
        width = cells if width is None else width
        assert cells == width, line
    assert "| anger\\|rage |" in out and "| t\\|1 |" in out


def _scored_labelled_csv(path: Path) -> list[str]:
    """An annotate-style CSV (votes with a scoring teacher's scores) written by sxhub; its lines."""
    from sxhub.tables import write_table

    names = ["positive", "neutral", "negative"]
    rows = []
    for i in range(12):
        lab = names[i % 3]
        scores = [{"label": n, "p": 0.8 if n == lab else 0.1} for n in names]
        votes = [{**vote("A", s, [lab]), "scores": scores} for s in range(2)]
        rows.append({"text": f"text {i}", "label": lab, "gold": names[(i + i // 5) % 3], "votes": votes})
    write_table(pd.DataFrame(rows), path)
    return path.read_text(encoding="utf-8").splitlines()


def test_a_damaged_votes_cell_is_one_line_naming_file_row_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A labelled CSV whose votes cell was cut short (a truncated copy: '... "scores": [{"label": "positive", "p":
    0.8}, {"lab'): agree ended in 'Error: JSONDecodeError: Expecting value ...' naming neither the file, the row nor
    the fix, and publish dataset kept the whole column as text and wrote every row's votes as one empty vote per
    character, exit 0."""
    path = tmp_path / "labelled.csv"
    _scored_labelled_csv(path)
    code, _, err = run_cli(["agree", str(path), "--gold", "gold"], capsys)
    assert code == 0, err  # the intact file reads
    cells = pd.read_csv(path, dtype=str, keep_default_na=False)
    whole = cells.loc[3, "votes"]
    cells.loc[3, "votes"] = whole[: whole.index('{"label": "neutral"') + 5]  # row 4, cut inside its scores
    assert cells.loc[3, "votes"].endswith('"p": 0.8}, {"lab')
    cells.to_csv(path, index=False)
    code, out, err = run_cli(["agree", str(path), "--gold", "gold"], capsys)
    assert code == 2 and out == ""
    line = err.strip()
    assert "\n" not in line and "JSONDecodeError" not in line
    assert str(path) in line and "row 4 (after the header), column 'votes'" in line and "restore that cell" in line
    spec = tmp_path / "task.yaml"
    spec.write_text("name: t\ndescription: d\nlabels: [positive, neutral, negative]\n", encoding="utf-8")
    argv = ["publish", "dataset", str(path), "--task", str(spec), "--repo-id", "me/t", "--to", str(tmp_path / "out")]
    code, _, err = run_cli(argv, capsys)
    assert code == 2 and "row 4 (after the header), column 'votes'" in err
    assert not (tmp_path / "out" / "data").exists()


@pytest.mark.parametrize(
    ("cell", "said"),
    [("[x", "votes cell '[x' is not a JSON list of votes."), ([1, 2], "votes cell '[1, 2]' is not a list of votes:")],
    ids=["cut-json", "not-votes"],
)
def test_a_malformed_votes_cell_in_jsonl_or_a_frame_is_one_line(
    cell: object, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # agree read votes with a copy of reliability.plain_votes that took a cell it could not read for no votes, or
    # crashed: 'Error: JSONDecodeError: Expecting value' or 'Error: TypeError: 'int' object is not iterable', exit 1
    from sxhub import InputError, agree
    from sxhub.data import write_table

    frame = labelled_with_votes()
    frame["votes"] = [cell, *frame["votes"][1:]]  # a row that is scored (the last one failed)
    path = write_table(frame, tmp_path / "labelled.jsonl")
    for review in ([], ["--review", str(tmp_path / "review.csv")]):
        code, out, err = run_cli(["agree", str(path), "--gold", "expert", *review], capsys)
        assert code == 2 and out == "" and err.count("\n") == 1 and err.startswith(f"Error: {said}"), err
    with pytest.raises(InputError, match=re.escape(said)):
        agree(frame, gold="expert")


def test_votes_written_as_python_lists_read_as_votes(tmp_path: Path) -> None:
    """pandas' to_csv writes list cells in Python's notation ([{'teacher': 'A', ...}]): such a cell beside JSON ones
    is read, not taken for a damaged one."""
    from sxhub.data import read_table

    path = tmp_path / "labelled.csv"
    lines = _scored_labelled_csv(path)
    frame = read_table(path)
    votes = frame["votes"][2]
    head = lines[3].split(',"[', 1)[0]
    lines[3] = head + ',"' + repr(votes).replace('"', '""') + '"'
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert read_table(path)["votes"].tolist() == frame["votes"].tolist()


def test_an_empty_gold_column_says_to_fill_it_not_to_annotate_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every --gold cell empty (the experts' column not filled in yet) said "annotate again or fix the file", which
    fills the teachers' column, never the experts'. The line says to fill the column or name the one that holds them;
    an empty teachers' column still says to annotate again."""
    frame = pd.DataFrame({"text": ["a", "b"], "label": ["pos", "neg"], "gold": ["", ""]})
    frame.to_csv(tmp_path / "no-gold.csv", index=False)
    code, out, err = run_cli(["agree", str(tmp_path / "no-gold.csv"), "--gold", "gold"], capsys)
    assert code == 2 and out == ""
    assert err.strip() == (
        "Error: nothing to score: of 2 rows, 0 failed, 0 have no text and 2 lack a 'gold' or 'label' label; column "
        "'gold' has no label in any row with a text: fill it with the experts' labels, or pass --gold with the column "
        "that holds them."
    )
    frame.assign(label="", gold=["pos", "neg"]).to_csv(tmp_path / "no-label.csv", index=False)
    code, _, err = run_cli(["agree", str(tmp_path / "no-label.csv"), "--gold", "gold"], capsys)
    assert code == 2 and err.strip().endswith("label; annotate again or fix the file.")


def test_agree_leaves_out_twins_that_failed_a_check_and_says_how_many(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """train and publish dataset leave out a sxhub twins file's twins that failed a check (ok false), but agree
    scored them like any row: a twin whose label changed counted as the teacher's miss against the original's
    experts' label (12 texts scored, accuracy 0.83 on a file whose checked twins agree throughout). They are left
    out and counted, in the table and in --json."""
    twins = twins_shaped(tmp_path / "twins.csv")
    code, out, err = run_cli(["agree", str(twins), "--gold", "expert", "--json"], capsys)
    assert code == 0, err
    result = json.loads(out)
    assert (result["n"], result["n_flagged_twins"], result["n_failed"], result["n_rows"]) == (10, 2, 1, 13)
    assert result["accuracy"] == 1.0
    code, out, err = run_cli(["agree", str(twins), "--gold", "expert"], capsys)
    assert code == 0, err
    assert "| twins that failed a check of sxhub twins (ok false) left out | 2 |" in out.splitlines()
    plain = tmp_path / "plain.csv"  # the same rows without the twins' check columns: read as before, every row
    pd.read_csv(twins).drop(columns=["original", "leaked", "flags", "ok"]).to_csv(plain, index=False)
    code, out, err = run_cli(["agree", str(plain), "--gold", "expert", "--json"], capsys)
    assert code == 0, err
    assert (json.loads(out)["n"], json.loads(out)["n_flagged_twins"]) == (12, 0)


def multi_label_flags() -> tuple[pd.DataFrame, str]:
    """A multi-label file whose experts' labels are one true/false column per label (read only with a task)."""
    rows = [(["Price"], ["Price"]), (["Place", "Price"], ["Place"]), ([], []), (["Product"], ["Promotion"])]
    frame = pd.DataFrame({"text": ["cheap", "near and cheap", "nothing", "new phone"]})
    frame["labels"] = [json.dumps(pred) for _, pred in rows]
    for name in P4:
        frame[name] = [name in gold for gold, _ in rows]
    task = "name: four-p\nmulti_label: true\nlabels:\n" + "".join(f"  - name: {n}\n" for n in P4)
    return frame, task


@pytest.mark.parametrize(
    ("case", "options"),
    [
        ("votes", ["--gold", "expert"]),
        ("votes", ["--gold", "expert", "--vote", "dawid-skene", "--text-column", "text"]),
        ("flags", ["--gold", "Price"]),
    ],
    ids=["votes", "dawid-skene", "multi-label-flags"],
)
def test_library_agree_returns_the_figures_of_agree_json(
    case: str, options: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # agree had no library function: a Python user ran the CLI in a subprocess and parsed its --json
    from sxhub import AgreeReport, agree
    from sxhub.data import write_table

    if case == "votes":
        frame, task = labelled_with_votes(), None
    else:
        frame, yaml = multi_label_flags()
        task = tmp_path / "task.yaml"
        task.write_text(yaml, encoding="utf-8")
    path = write_table(frame, tmp_path / "labelled.jsonl")
    argv = ["agree", str(path), *options, "--json", *(["--task", str(task)] if task else [])]
    code, out, err = run_cli(argv, capsys)
    assert code == 0, err
    printed = json.loads(out)
    kwargs = dict(zip([o.lstrip("-").replace("-", "_") for o in options[::2]], options[1::2], strict=True))
    result = agree(path, task=task, **kwargs)
    assert capsys.readouterr() == ("", "")  # a library call prints nothing
    assert result == printed and "krippendorff_alpha" in result
    assert set(AgreeReport.__required_keys__) <= set(result) <= set(AgreeReport.__annotations__)
    if case == "votes":
        assert {"reliability", "votes", "n_raters"} <= set(result) and result["n_failed"] == 1
    else:
        assert result["multi_label"] and result["labels"] == P4 and result["n"] == 4
    # a DataFrame goes where the file does (and is left as it was), a loaded TaskSpec where its YAML does
    from sxhub import load_spec

    before = frame.copy()
    from_frame = agree(frame, task=load_spec(task) if task else None, **kwargs)
    pd.testing.assert_frame_equal(frame, before)
    assert from_frame["title"].endswith("(the DataFrame)")
    assert {**from_frame, "title": ""} == {**result, "title": ""}


def test_library_agree_refuses_bad_input_with_the_clis_message(tmp_path: Path) -> None:
    from sxhub import InputError, agree
    from sxhub.data import write_table

    path = write_table(labelled_with_votes(), tmp_path / "labelled.csv")
    with pytest.raises(InputError, match="gold column 'experts' not found; the file has columns"):
        agree(path, gold="experts")
    with pytest.raises(InputError, match=r"vote='dawid' is not one of \['majority', 'dawid-skene', 'scores'\]"):
        agree(path, gold="expert", vote="dawid")
    with pytest.raises(InputError, match=r"^text_column='body' is not a column of the DataFrame"):
        agree(labelled_with_votes(), gold="expert", text_column="body")


def _bad_agree_inputs() -> dict[str, tuple[pd.DataFrame, dict[str, str], bool]]:
    """Each message that names an option: the file, agree()'s keywords, and whether the task goes with them."""
    votes = labelled_with_votes()
    flags, _ = multi_label_flags()
    return {
        "gold-is-scored": (votes, {"gold": "label"}, False),
        "pred-missing": (votes, {"gold": "expert", "pred": "teacher"}, False),
        "no-label-column": (votes.drop(columns=["label"]), {"gold": "expert"}, False),
        "gold-missing": (votes, {"gold": "experts"}, False),
        "gold-empty": (votes.assign(expert=None), {"gold": "expert"}, False),
        "text-column": (votes, {"gold": "expert", "text_column": "body"}, False),
        "vote-without-votes": (votes.drop(columns=["votes"]), {"gold": "expert", "vote": "majority"}, False),
        "case": (votes.assign(expert=votes["expert"].str.title()), {"gold": "expert"}, False),
        "flag-gold": (flags, {"gold": "Price"}, False),
        "teachers-column-as-gold": (flags, {"gold": "labels"}, True),
    }


@pytest.mark.parametrize("case", list(_bad_agree_inputs()))
def test_agree_names_its_parameters_and_the_cli_its_flags(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # sxhub.agree raised the CLI's messages: a Python caller read "pass --gold with one of them", "--vote majority
    # needs a 'votes' column", "pass --task TASK.yaml", options that agree() does not have. The library names its
    # parameters (gold=, vote=, task=); sxhub agree still names its flags, in the same message otherwise
    from sxhub import InputError, agree
    from sxhub.data import write_table

    frame, kwargs, with_task = _bad_agree_inputs()[case]
    path = write_table(frame, tmp_path / "labelled.jsonl")
    task = tmp_path / "task.yaml"
    task.write_text(multi_label_flags()[1], encoding="utf-8")
    argv = [f"--{k.replace('_', '-')}={v}" for k, v in kwargs.items()] + (["--task", str(task)] if with_task else [])
    code, out, err = run_cli(["agree", str(path), *argv], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1, err
    said = err.strip().removeprefix("Error: ")
    with pytest.raises(InputError) as refused:
        agree(path, task=task if with_task else None, **kwargs)
    told = str(refused.value)
    assert re.search(r"--(gold|pred|task|vote|text-column)\b", said), said
    assert "--" not in told and re.search(r"\b(gold|pred|task|vote|text_column)=", told), told
    # the same message, each flag written as the parameter: --gold 'x' as gold='x', --vote majority as
    # vote='majority', --task TASK.yaml as task= (the TaskSpec or its YAML), a bare --pred as pred=
    expected = said.replace("--task TASK.yaml", "task= (the TaskSpec or its YAML)")
    expected = re.sub(r"--vote (\S+)", r"vote='\1'", expected)
    expected = re.sub(r"--(gold|pred|text-column) '", lambda m: m[1].replace("-", "_") + "='", expected)
    expected = re.sub(r"--(gold|pred)\b", r"\1=", expected)
    assert told == expected


def test_agree_reports_repr_is_its_headline_and_the_rest_is_a_dict(tmp_path: Path) -> None:
    # a notebook cell ending in agree(...) showed the whole dict (per-label table, confusion matrix, each teacher's and
    # sample's reliability: 4 KB on 5 rows): its repr is now one line of headline figures, and it is still the dict
    # that `sxhub agree --json` prints
    from sxhub import agree

    result = agree(labelled_with_votes(), gold="expert")
    full = dict(result)
    shown = repr(result)
    assert len(shown) < 400 < len(repr(full)) and "\n" not in shown
    assert shown.startswith(f"AgreeReport({result['title']!r}: n={result['n']} of {result['n_rows']} rows, ")
    assert f"accuracy={result['accuracy']:.3f}" in shown and f"macro_f1={result['macro_f1']:.3f}" in shown
    assert "krippendorff_alpha=" in shown and "per_label" in shown  # where the rest is
    assert isinstance(result, dict) and result == full and json.loads(json.dumps(result)) == full
    assert result["per_label"] == full["per_label"] and "reliability" in result


def test_a_text_column_of_numbers_is_refused_as_train_refuses_it(tmp_path: Path) -> None:
    """--text-column id counted and ranked (--review) rows by their ids read as texts, with exit 0; train and
    predict refuse such a column in one line, and agree now says it alike."""
    from sxhub import InputError, agree

    frame = labelled_with_votes().assign(id=lambda f: range(len(f)))
    with pytest.raises(InputError, match=r"^column 'id' holds numbers \(.*\), not texts; pass --text-column"):
        agree(frame, gold="expert", text_column="id")
