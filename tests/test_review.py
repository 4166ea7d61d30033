"""Human review: the queue a reviewer sees, the append-only decisions, agreement, apply-review, the cards, and the
review Space against the Hub stand-in (the browser test is tests/test_review_browser.py)."""

from __future__ import annotations

import hashlib
import importlib
import json
import re
import sys
import unicodedata
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import CHANGED_TWIN, LEAKED_TWIN, run_cli, sxhub_logged, twins_shaped

from sxhub.data import read_table, write_table
from sxhub.errors import InputError
from sxhub.labelled import failed_flags, load_labelled
from sxhub.review import decisions_path, load_review
from sxhub.review_apply import apply_review
from sxhub.review_log import DecisionLog, Review, ReviewConfig, read_events, set_alpha, text_hash
from sxhub.spec import TaskSpec

NAMES = ["positive", "neutral", "negative"]


def _vote(teacher: str, sample: int, labels: list[str] | None, reason: str = "") -> dict[str, Any]:
    return {"teacher": teacher, "sample": sample, "labels": labels, "reason": reason, "error": "", "raw": "{}"}


def labelled_rows(n: int = 9) -> list[dict[str, Any]]:
    """Annotate-style rows; row 4 failed. Rows 1, 5 and 7 have split votes (agreement 1/3 or 2/3)."""
    rows = []
    for i in range(n):
        lab = NAMES[i % 3]
        other = NAMES[(i + 1) % 3]
        split = {1: 1, 5: 2, 7: 2}.get(i, 0)  # how many of the 3 votes go to `other`
        votes = [_vote("big-llm", s, [other if s < split else lab], f"reason {i}.{s}") for s in range(3)]
        row = {"text": f"company profit {i}", "label": lab, "votes": votes, "agreement": (3 - split) / 3}
        row.update(failed=False, error="", gold=NAMES[(i + 2) % 3] if i in (0, 2) else lab)
        rows.append(row)
    rows[1]["label"] = NAMES[2]  # 1 vote for neutral... but the label is its majority: keep it consistent
    rows[1]["votes"] = [_vote("big-llm", s, [NAMES[2] if s else NAMES[1]], f"reason 1.{s}") for s in range(3)]
    rows[4].update(label=None, votes=[_vote("big-llm", s, None) for s in range(3)], failed=True, error="timeout")
    rows[4]["agreement"] = None
    return rows


def queue_rows(rows: list[dict[str, Any]], order: list[int]) -> list[dict[str, Any]]:
    """A queue as `sxhub doubts` writes it (columns from its contract), highest doubt first."""
    out = []
    for rank, i in enumerate(order):
        out.append(
            {
                "row": i,
                "text": rows[i]["text"],
                "label": rows[i]["label"],
                "doubt": round(0.9 - 0.1 * rank, 3),
                "suggested": NAMES[(i + 2) % 3],
                "signal_vote_split": 0.5,
                "signal_oof_disagreement": 0.75,
                "signal_label_quality": 0.25,
                "oof_probs": {"positive": 0.2, "neutral": 0.3, "negative": 0.5},
                "votes": rows[i]["votes"],
            }
        )
    return out


@pytest.fixture
def labelled(tmp_path: Path) -> Path:
    path = tmp_path / "labelled.parquet"
    pd.DataFrame(labelled_rows()).to_parquet(path)
    return path


@pytest.fixture
def queue_csv(tmp_path: Path) -> Path:
    """A CSV queue (dict and list cells JSON-encoded, numbers as text) in a non-file order."""
    return write_table(pd.DataFrame(queue_rows(labelled_rows(), [7, 2, 0, 5, 1, 3, 6, 8])), tmp_path / "queue.csv")


def _review(labelled: Path, tmp_path: Path, queue: Path | None = None) -> Review:
    items, config = load_review(labelled, queue=queue)
    return Review(items, config, DecisionLog(tmp_path / "decisions.jsonl"))


# --------------------------------------------------------------------------------------------------------------
# what the reviewer sees
# --------------------------------------------------------------------------------------------------------------
def test_queue_order_and_what_each_text_shows(labelled: Path, queue_csv: Path) -> None:
    items, config = load_review(labelled, queue=queue_csv)
    assert [i.row for i in items] == [7, 2, 0, 5, 1, 3, 6, 8]
    assert config.labels == NAMES and not config.multi_label  # the order of the queue's probabilities
    first = items[0]
    assert first.text == "company profit 7" and first.current == ["neutral"]
    assert first.doubt == pytest.approx(0.9) and first.suggested == ["positive"]
    assert first.probs == {"positive": 0.2, "neutral": 0.3, "negative": 0.5}
    assert first.signals == {"vote split": 0.5, "oof disagreement": 0.75, "label quality": 0.25}
    assert [v["reason"] for v in first.votes] == ["reason 7.0", "reason 7.1", "reason 7.2"]
    assert [v["labels"] for v in first.votes] == [["negative"], ["negative"], ["neutral"]]


def test_without_a_queue_the_most_split_votes_come_first(labelled: Path, tmp_path: Path) -> None:
    items, _ = load_review(labelled)
    assert [i.row for i in items] == [5, 7, 1, 0, 2, 3, 6, 8]  # agreement 1/3, 1/3, 2/3, then file order; 4 failed
    frame = pd.DataFrame(labelled_rows()).drop(columns=["votes", "agreement"])
    items, _ = load_review(frame, spec=_spec())
    assert [i.row for i in items] == [0, 1, 2, 3, 5, 6, 7, 8]


def test_a_queue_from_another_file_is_one_clear_error(labelled: Path, tmp_path: Path, capsys: Any) -> None:
    rows = queue_rows(labelled_rows(), [3, 2])
    rows[0]["text"] = "some other text"
    bad = write_table(pd.DataFrame(rows), tmp_path / "bad.jsonl")
    with pytest.raises(ValueError, match=re.escape("does not match the labelled file at row 3")):
        load_review(labelled, queue=bad)
    one_label = tmp_path / "one.csv"
    pd.DataFrame({"text": ["a", "b"], "label": ["x", "x"]}).to_csv(one_label, index=False)
    with pytest.raises(ValueError, match=re.escape("pass --task TASK.yaml")):
        load_review(one_label)


def test_rows_the_queue_does_not_hold_are_named_not_dropped_in_silence(
    tmp_path: Path, queue_csv: Path, caplog: pytest.LogCaptureFixture, capsys: Any
) -> None:
    """Texts appended to the labelled file after `sxhub doubts` made the queue were never shown, and the progress
    counted the queue's rows as all there was: nothing said that two labelled rows would not be reviewed."""
    rows = labelled_rows()
    rows += [{**rows[0], "text": "sales fell 9"}, {**rows[2], "text": "sales fell 10"}]
    labelled = write_table(pd.DataFrame(rows), tmp_path / "labelled.parquet")
    with caplog.at_level("WARNING", logger="sxhub.review"):
        items, _ = load_review(labelled, queue=queue_csv)
    assert [i.row for i in items] == [7, 2, 0, 5, 1, 3, 6, 8]  # the queue's order, as before
    assert sxhub_logged(caplog) == [
        f"2 labelled row(s) of {str(labelled)!r} are not in queue {str(queue_csv)!r} (rows 9, 10), so they are "
        "not shown: rows added or labelled after the queue was made, or a queue cut short. To review them too, "
        "make the queue again: sxhub doubts LABELLED -o QUEUE."
    ]
    caplog.clear()
    pd.DataFrame(labelled_rows()).to_parquet(tmp_path / "same.parquet")
    with caplog.at_level("WARNING", logger="sxhub.review"):
        load_review(tmp_path / "same.parquet", queue=queue_csv)  # every labelled row queued (row 4 failed): silent
    assert not sxhub_logged(caplog)

    # publish review reads the queue twice (its early check, then the Space it writes): the line is given once
    argv = ["publish", "review", str(labelled), "--queue", str(queue_csv), "--to", str(tmp_path / "space")]
    caplog.clear()
    with caplog.at_level("WARNING", logger="sxhub.review"):
        code, _, err = run_cli([*argv, "--dataset-repo", "me/ds"], capsys)
    assert code == 0, err
    assert sum("are not in queue" in r.getMessage() for r in caplog.records) == 1


# --------------------------------------------------------------------------------------------------------------
# decisions: saved at once, replayed on restart
# --------------------------------------------------------------------------------------------------------------
def test_every_action_is_one_appended_line_and_a_restart_resumes(
    labelled: Path, queue_csv: Path, tmp_path: Path
) -> None:
    review = _review(labelled, tmp_path, queue_csv)
    log = tmp_path / "decisions.jsonl"
    pos = review.resume("alice")
    assert pos == 0
    pos = review.decide(pos, "alice", ["negative"])  # row 7: neutral -> negative
    assert pos == 1 and len(log.read_text().splitlines()) == 1
    pos = review.keep(pos, "alice")  # row 2
    pos = review.skip(pos, "alice")  # row 0
    assert pos == 3
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["action"] for e in lines] == ["label", "keep", "skip"]
    assert lines[0]["reviewer"] == "alice" and lines[0]["row"] == 7 and lines[0]["labels"] == ["negative"]
    assert lines[0]["previous"] == ["neutral"] and lines[0]["text_hash"] == text_hash("company profit 7")
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00$", lines[0]["time"])
    assert review.progress("alice") == {"total": 8, "decided": 2, "changed": 1, "skipped": 1}

    restarted = _review(labelled, tmp_path, queue_csv)  # a new process over the same file
    assert restarted.resume("alice") == 3
    assert restarted.resume("bob") == 0  # each reviewer has their own place
    assert restarted.back(3) == 2 and restarted.back(0) == 0
    assert restarted.undo("alice") == 2  # the skip of row 0 (position 2) is cancelled...
    assert restarted.resume("alice") == 2  # ...so row 0 is open again
    assert restarted.undo("alice") == 1 and restarted.undo("alice") == 0
    assert restarted.undo("alice") is None
    assert restarted.progress("alice")["decided"] == 0
    assert len(log.read_text().splitlines()) == 6  # nothing was rewritten: three actions and three undos


def test_skipped_texts_come_back_after_the_rest(labelled: Path, tmp_path: Path) -> None:
    review = _review(labelled, tmp_path)
    pos = review.skip(0, "alice")
    while pos < len(review.items) and pos != 0:
        pos = review.keep(pos, "alice")
    assert pos == 0  # only the skipped text is left
    assert review.decide(pos, "alice", ["positive"]) == len(review.items)  # done
    with pytest.raises(ValueError, match="every text has been reviewed"):
        review.keep(len(review.items), "alice")


def test_bad_actions_are_refused_before_anything_is_written(labelled: Path, tmp_path: Path) -> None:
    review = _review(labelled, tmp_path)
    with pytest.raises(ValueError, match="type your name"):
        review.keep(0, "  ")
    with pytest.raises(ValueError, match=re.escape("unknown label(s) ['bullish']")):
        review.decide(0, "alice", ["bullish"])
    with pytest.raises(ValueError, match="exactly one label"):
        review.decide(0, "alice", ["positive", "negative"])
    assert not (tmp_path / "decisions.jsonl").exists()


def test_a_torn_last_line_is_skipped_and_the_next_write_starts_afresh(labelled: Path, tmp_path: Path) -> None:
    review = _review(labelled, tmp_path)
    review.keep(0, "alice")
    log = tmp_path / "decisions.jsonl"
    with log.open("a", encoding="utf-8") as fh:
        fh.write('{"id": "cut", "time": "2026-')  # the machine died mid-write
    assert len(read_events([log])) == 1
    review.keep(1, "alice")
    assert [e["row"] for e in read_events([log])] == [5, 7]
    assert _review(labelled, tmp_path).progress("alice")["decided"] == 2


def test_a_decision_line_replay_cannot_use_is_skipped_with_a_warning(
    labelled: Path, tmp_path: Path, caplog: Any
) -> None:
    """A JSON line with no reviewer or no row number (edited by hand, merged from elsewhere) made every click of
    the app and apply-review fail with a bare KeyError / ValueError; it is skipped with a warning, as a torn line is."""
    review = _review(labelled, tmp_path)
    review.decide(0, "alice", ["negative"])
    log = tmp_path / "decisions.jsonl"
    bad = [
        {"id": "a", "time": "2026-12-05T07:00:00+00:00", "action": "keep", "row": 5, "labels": ["negative"]},
        {"id": "b", "time": "2026-12-05T07:00:00+00:00", "action": "label", "row": "x", "reviewer": "zed"},
        {"id": "c", "time": "2026-12-05T07:00:00+00:00", "action": "label", "row": 5, "reviewer": "zed"},
        {"id": "d", "time": "2026-12-05T07:00:00+00:00", "action": "undo", "row": 5, "reviewer": "alice"},
    ]
    with log.open("a", encoding="utf-8") as fh:
        fh.writelines(json.dumps(line) + "\n" for line in bad)
    with caplog.at_level("WARNING", logger="sxhub.review_log"):
        assert _review(labelled, tmp_path).progress("alice")["decided"] == 1
    assert "skipping line 2 of" in caplog.text and "names no reviewer" in caplog.text
    assert "its row 'x' is not a row number" in caplog.text and "its labels None are not a list" in caplog.text
    assert "names no line it undoes" in caplog.text
    result = apply_review(labelled, log)
    assert result.n_decisions == 1 and result.reviewers == ["alice"]


def test_two_apps_on_one_file_see_each_others_decisions(labelled: Path, tmp_path: Path) -> None:
    first, second = _review(labelled, tmp_path), _review(labelled, tmp_path)
    first.decide(0, "alice", ["positive"])
    second.decide(0, "bob", ["negative"])
    assert first.agreement()["reviewers"] == ["alice", "bob"]


def test_multi_label_decisions_are_label_sets(tmp_path: Path) -> None:
    spec = _spec(multi_label=True)
    frame = pd.DataFrame({"text": ["a b", "c d", "e f"], "labels": [["positive"], [], ["neutral", "negative"]]})
    items, config = load_review(frame, spec=spec)
    assert config.multi_label and [i.current for i in items] == [["positive"], [], ["neutral", "negative"]]
    review = Review(items, config, DecisionLog(tmp_path / "d.jsonl"))
    pos = review.decide(0, "alice", ["negative", "positive"])  # stored in the task's order
    pos = review.decide(pos, "alice", [])  # "none of the labels" is an answer
    review.keep(pos, "alice")
    decided = review.state("alice").decided
    assert decided[0]["labels"] == ["positive", "negative"] and decided[1]["action"] == "keep"
    assert decided[2]["labels"] == ["neutral", "negative"]
    assert review.progress("alice")["changed"] == 1


def test_a_multi_label_task_of_one_label_is_reviewed_and_applied(tmp_path: Path, capsys: Any) -> None:
    """A multi-label task may have one label (a toxic flag: on or off; the spec allows it, doubts ranks it), but
    `sxhub review --task` ended in "ValueError: a review needs two or more distinct labels", a traceback."""
    task = tmp_path / "task.yaml"
    task.write_text("name: tox\nmulti_label: true\nlabels:\n  - name: toxic\nteachers: [local]\n", encoding="utf-8")
    labelled = tmp_path / "labelled.parquet"
    pd.DataFrame({"text": ["you fool", "nice day", "get lost"], "labels": [["toxic"], [], []]}).to_parquet(labelled)
    items, config = load_review(labelled, spec=task)
    assert config.labels == ["toxic"] and config.multi_label
    review = Review(items, config, DecisionLog(decisions_path(labelled)))
    review.decide(review.keep(0, "alice"), "alice", [])
    review.decide(2, "alice", ["toxic"])
    out = tmp_path / "out.parquet"
    argv = ["apply-review", str(labelled), str(decisions_path(labelled)), "-o", str(out), "--task", str(task)]
    code, _, err = run_cli(argv, capsys)
    assert code == 0, err
    assert [list(v) for v in read_table(out)["labels"]] == [["toxic"], [], ["toxic"]]
    with pytest.raises(ValueError, match="two or more distinct labels"):
        ReviewConfig(labels=["toxic"])  # single-label: one label leaves nothing to choose


# --------------------------------------------------------------------------------------------------------------
# agreement
# --------------------------------------------------------------------------------------------------------------
def test_alpha_is_the_same_figure_as_sxhub_metrics() -> None:
    from sxhub.metrics import alpha_with_note, set_alpha_with_note

    a = [["positive"], ["neutral"], ["negative"], ["neutral"], None, ["positive"]]
    b = [["positive"], ["negative"], ["negative"], ["neutral"], ["neutral"], ["neutral"]]
    index = {n: i for i, n in enumerate(NAMES)}
    codes = [[float("nan") if x is None else index[x[0]] for x in row] for row in (a, b)]
    assert set_alpha([a, b]) == pytest.approx(alpha_with_note(codes)[0])
    sets = [[["positive", "neutral"], [], ["negative"], ["neutral"]], [["positive"], [], ["negative"], ["positive"]]]
    assert set_alpha(sets) == pytest.approx(set_alpha_with_note(sets)[0])
    assert set_alpha([[["positive"]], [["positive"]]]) is None  # one value only: undefined


def test_agreement_between_reviewers_and_with_the_teacher(labelled: Path, tmp_path: Path) -> None:
    review = _review(labelled, tmp_path)  # rows in order 5, 7, 1, 0, 2, ...
    for pos, (a, b) in enumerate([("positive", "positive"), ("negative", "negative"), ("negative", "neutral")]):
        review.decide(pos, "alice", [a])
        review.decide(pos, "bob", [b])
    review.keep(3, "alice")
    result = review.agreement()
    assert result["reviewers"] == ["alice", "bob"] and result["n_shared"] == 3
    assert result["alpha_between"] == pytest.approx(
        set_alpha([[["positive"], ["negative"], ["negative"]], [["positive"], ["negative"], ["neutral"]]])
    )
    alice, bob = result["per_reviewer"]
    assert (alice["decided"], alice["same_as_teacher"]) == (4, 2)  # rows 5 (negative->positive), 7, 1 (kept), 0
    assert (bob["decided"], bob["same_as_teacher"]) == (3, 0)
    # alpha with the teacher: the reviewer's answers against the teacher's labels on the texts they decided
    teacher = {item.row: item.current for item in review.items}
    rows = [item.row for item in review.items[:4]]
    alice_says = [["positive"], ["negative"], ["negative"], teacher[rows[3]]]
    assert alice["alpha_with_teacher"] == pytest.approx(set_alpha([alice_says, [teacher[r] for r in rows]]))
    # the page shows both figures (the Agreement panel of the app)
    from sxhub.review_app import agreement_markdown

    shown = agreement_markdown(result)
    assert f"alpha between reviewers: **{result['alpha_between']:.3g}** over 3 text(s)" in shown
    assert f"| alice | 4 | 2 | {alice['alpha_with_teacher']:.3g} |" in shown
    assert f"| bob | 3 | 0 | {bob['alpha_with_teacher']:.3g} |" in shown


# --------------------------------------------------------------------------------------------------------------
# apply-review
# --------------------------------------------------------------------------------------------------------------
def _spec(multi_label: bool = False) -> TaskSpec:
    return TaskSpec(
        name="fin-sent",
        description="Sentiment of financial news.",
        labels=[{"name": n} for n in NAMES],
        multi_label=multi_label,
        teachers=["local"],
    )


def _decide_three_reviewers(labelled: Path, tmp_path: Path) -> Review:
    """Row 5 (teacher: negative): 2 say positive, 1 neutral -> positive. Row 7 (neutral): 1 positive, 1 negative
    -> tie, the teacher's label stays. Row 1 (negative): two keep it -> human, unchanged. Row 0 (positive): carol
    says negative, undoes it, then says neutral -> changed."""
    review = _review(labelled, tmp_path)
    pos = {item.row: i for i, item in enumerate(review.items)}
    review.decide(pos[5], "alice", ["positive"])
    review.decide(pos[5], "bob", ["positive"])
    review.decide(pos[5], "carol", ["neutral"])
    review.decide(pos[7], "alice", ["positive"])
    review.decide(pos[7], "bob", ["negative"])
    review.keep(pos[1], "alice")
    review.keep(pos[1], "carol")
    review.decide(pos[0], "carol", ["negative"])
    review.undo("carol")  # ...changed her mind
    review.decide(pos[0], "carol", ["neutral"])
    return review


def test_majority_decides_ties_keep_the_teacher_and_are_listed(labelled: Path, tmp_path: Path) -> None:
    _decide_three_reviewers(labelled, tmp_path)
    result = apply_review(labelled, tmp_path / "decisions.jsonl")
    frame = result.frame
    assert result.summary() == {
        "rows": 9,
        "reviewers": ["alice", "bob", "carol"],
        "decisions": 8,
        "reviewed": 3,
        "changed": 2,
        "by_teachers": 5,
        "unlabelled": 1,  # row 4, every vote failed
        "ties": [7],
        "twins_left_out": [],
    }
    assert frame["label"].tolist()[:9] == [
        "neutral",
        "negative",
        "negative",
        "positive",
        None,
        "positive",
        "positive",
        "neutral",
        "negative",
    ]
    assert frame.loc[[0, 1, 5], "label_source"].tolist() == ["human"] * 3
    assert frame.loc[[2, 7], "label_source"].tolist() == ["teacher"] * 2
    assert frame.loc[5, "teacher_label"] == "negative" and frame.loc[5, "reviewers"] == ["alice", "bob", "carol"]
    assert frame.loc[7, "reviewers"] == ["alice", "bob"] and frame.loc[2, "reviewers"] == []
    assert list(frame.columns[:3]) == ["text", "label", "teacher_label"]

    # applying the (longer) decisions file again to the output starts from the teacher's label, not the last run's
    out = write_table(frame, tmp_path / "reviewed.jsonl")
    review = _review(labelled, tmp_path)
    review.decide([i.row for i in review.items].index(5), "dave", ["neutral"])  # now 2 positive, 2 neutral
    again = apply_review(out, tmp_path / "decisions.jsonl")
    assert again.ties == [5, 7]
    assert again.frame.loc[5, "label"] == "negative" and again.frame.loc[5, "label_source"] == "teacher"
    assert again.frame.loc[5, "teacher_label"] == "negative" and again.n_changed == 1


def test_apply_review_of_a_csv_keeps_agreement_a_number_in_parquet(
    labelled: Path, tmp_path: Path, capsys: Any
) -> None:
    """A labelled CSV holds every cell as text: `apply-review labelled.csv ... -o OUT.parquet` wrote `agreement` as
    strings ('0.6666666666666666'), where annotate's Parquet, and apply-review's from it, hold numbers (null for a
    failed row). Both OUTs now hold the same numbers; the CSV OUT reads back as the labelled CSV did."""
    import pyarrow.parquet as pq

    _decide_three_reviewers(labelled, tmp_path)
    decisions = tmp_path / "decisions.jsonl"
    as_csv = write_table(read_table(labelled), tmp_path / "labelled.csv")
    outs = {}
    for source, out in ((labelled, "from_parquet.parquet"), (as_csv, "from_csv.parquet"), (as_csv, "from_csv.csv")):
        outs[out] = tmp_path / out
        code, _, err = run_cli(["apply-review", str(source), str(decisions), "-o", str(outs[out])], capsys)
        assert code == 0, err
    for out in ("from_parquet.parquet", "from_csv.parquet"):
        assert str(pq.read_schema(outs[out]).field("agreement").type) == "double", out
    shares = [read_table(outs[out])["agreement"].tolist() for out in ("from_parquet.parquet", "from_csv.parquet")]
    assert shares[0][4] != shares[0][4] and shares[1][4] != shares[1][4]  # the failed row: null (NaN) in both
    assert (
        shares[0][:4] + shares[0][5:]
        == shares[1][:4] + shares[1][5:]
        == [1.0, 2 / 3, 1.0, 1.0, 1 / 3, 1.0, 1 / 3, 1.0]
    )
    assert read_table(outs["from_csv.csv"])["agreement"].tolist() == read_table(as_csv)["agreement"].tolist()


def test_a_second_round_on_the_reviewed_file_keeps_the_first_rounds_labels(labelled: Path, tmp_path: Path) -> None:
    """Reviewing the output of apply-review writes a new decisions file (its own stem); applying that one reset
    every row of the first round to the teacher's label, silently. A row the new file does not decide keeps its
    label; a row it decides, or whose decision it undoes, is decided by it, from the teacher's label."""
    first = _review(labelled, tmp_path)
    pos = {item.row: i for i, item in enumerate(first.items)}
    first.decide(pos[5], "alice", ["positive"])  # teacher: negative
    first.decide(pos[2], "alice", ["positive"])  # teacher: negative
    reviewed = write_table(apply_review(labelled, tmp_path / "decisions.jsonl").frame, tmp_path / "reviewed.parquet")

    items, config = load_review(reviewed)
    second = Review(items, config, DecisionLog(decisions_path(reviewed)))
    pos = {item.row: i for i, item in enumerate(second.items)}
    second.decide(pos[0], "bob", ["neutral"])  # teacher: positive
    second.decide(pos[2], "bob", ["neutral"])  # a row of the first round, decided again
    result = apply_review(reviewed, decisions_path(reviewed))
    frame = result.frame
    assert frame.loc[[5, 0, 2], "label"].tolist() == ["positive", "neutral", "neutral"]
    assert frame.loc[[5, 0, 2], "label_source"].tolist() == ["human"] * 3
    assert frame.loc[5, "reviewers"] == ["alice"] and frame.loc[2, "reviewers"] == ["bob"]
    assert frame.loc[5, "teacher_label"] == "negative" and result.n_reviewed == 3 and result.n_changed == 3

    # the first round's file, grown by an undo, still decides its rows: undone, row 5 is the teacher's again
    first.undo("alice")  # row 2
    first.undo("alice")  # row 5
    again = apply_review(reviewed, tmp_path / "decisions.jsonl").frame
    assert again.loc[[5, 2], "label"].tolist() == ["negative", "negative"]
    assert again.loc[[5, 2], "label_source"].tolist() == ["teacher"] * 2


def test_decisions_follow_their_texts_into_a_re_sorted_file(labelled: Path, tmp_path: Path, capsys: Any) -> None:
    """A labelled file sorted after review (by agreement, by text) had every decision refused as made on other
    texts; each decision now goes to the row that holds its text, when exactly one row does."""
    _decide_three_reviewers(labelled, tmp_path)
    decisions = tmp_path / "decisions.jsonl"
    expected = apply_review(labelled, decisions).frame.set_index("text")
    shuffled = tmp_path / "sorted.parquet"
    read_table(labelled).iloc[::-1].reset_index(drop=True).to_parquet(shuffled)
    result = apply_review(shuffled, decisions)
    got = result.frame.set_index("text")
    for column in ("label", "label_source", "reviewers", "teacher_label"):
        assert got[column].loc[expected.index].tolist() == expected[column].tolist(), column
    assert result.ties == [8 - 7] and result.n_reviewed == 3  # row 7 is row 1 now

    # a text on two rows, neither the one decided: which is meant is not known, so nothing is guessed
    rows = labelled_rows()
    doubled = tmp_path / "doubled.parquet"
    pd.DataFrame([rows[5], *rows[:5], *rows[6:], rows[5]]).to_parquet(doubled)
    code, _, err = run_cli(["apply-review", str(doubled), str(decisions), "-o", str(tmp_path / "o.csv")], capsys)
    assert code == 2 and "were made on other texts" in err and len(err.strip().splitlines()) == 1


def test_reviewing_a_re_sorted_file_places_each_decision_on_its_text(labelled: Path, tmp_path: Path) -> None:
    """The app keyed decisions by row number only: reviewing a file sorted after review (with the decisions beside
    it) showed texts nobody saw as decided, and a new decision on row 1 (another text now) replaced the decision on
    the text row 1 held before, so apply-review dropped that reviewer from it. Decisions follow their texts, as
    apply-review places them."""
    review = _review(labelled, tmp_path)
    pos = {item.row: i for i, item in enumerate(review.items)}
    review.decide(pos[1], "alice", ["positive"])
    review.decide(pos[1], "bob", ["neutral"])
    review.decide(pos[3], "bob", ["negative"])
    shuffled = tmp_path / "sorted.parquet"
    read_table(labelled).iloc[::-1].reset_index(drop=True).to_parquet(shuffled)  # row r is row 8 - r now
    items, config = load_review(shuffled)
    again = Review(items, config, DecisionLog(tmp_path / "decisions.jsonl"))
    assert set(again.state("alice").decided) == {7} and set(again.state("bob").decided) == {5, 7}
    assert again.progress("alice")["decided"] == 1 and again.progress("bob")["decided"] == 2
    first = again.resume("alice")
    assert again.items[first].row == 1  # company profit 7: alice has not decided it (row 1 held hers before)
    again.decide(first, "alice", ["negative"])
    assert set(again.state("alice").decided) == {1, 7}
    assert again.undo("alice") == first  # back to the text of the decision undone...
    again.decide(first, "alice", ["negative"])  # ...and decided again
    frame = apply_review(shuffled, tmp_path / "decisions.jsonl").frame.set_index("text")
    assert frame.loc["company profit 1", "reviewers"] == ["alice", "bob"]  # alice's first decision is kept: a tie
    assert frame.loc["company profit 1", "label_source"] == "teacher"
    assert frame.loc["company profit 7", "reviewers"] == ["alice"]
    assert frame.loc["company profit 7", "label"] == "negative"
    assert frame.loc["company profit 3", "label"] == "negative" and frame.loc["company profit 3", "reviewers"] == [
        "bob"
    ]


def test_decisions_match_their_texts_in_either_unicode_form(tmp_path: Path, capsys: Any) -> None:
    """A decision was tied to its text by a hash of the raw bytes: a labelled file holding "Café" with a combining
    accent (NFD, as macOS writes it) re-saved after review by an editor or pandas in NFC had those rows' decisions
    refused as 'made on other texts'. Texts are hashed in NFC; lines written by older versions (the raw bytes' hash)
    still match, on the file they were made on and on its NFC re-save."""
    rows = labelled_rows()[:4]
    for i, word in enumerate(["Café", "Crème brûlée", "Naïve"]):
        rows[i]["text"] = unicodedata.normalize("NFD", f"{word} sales, quarter {i}")
    nfd = tmp_path / "labelled.csv"
    write_table(pd.DataFrame(rows), nfd)
    nfc = tmp_path / "resaved.csv"
    frame = pd.read_csv(nfd)
    frame["text"] = [unicodedata.normalize("NFC", t) for t in frame["text"]]
    frame.to_csv(nfc, index=False)
    assert read_table(nfc)["text"][0] != read_table(nfd)["text"][0]  # the bytes differ

    review = _review(nfd, tmp_path)
    pos = {item.row: i for i, item in enumerate(review.items)}
    for row in (0, 1, 3):
        review.decide(pos[row], "alice", ["negative" if rows[row]["label"] != "negative" else "positive"])
    decisions = tmp_path / "decisions.jsonl"
    for path in (nfd, nfc):
        out = tmp_path / f"out-{path.stem}.csv"
        code, stdout, err = run_cli(["apply-review", str(path), str(decisions), "-o", str(out)], capsys)
        assert code == 0, err
        assert "3 text(s) now labelled by people" in stdout
        assert read_table(out)["label_source"].tolist() == ["human", "human", "teacher", "human"]

    # a decisions file an older sxhub wrote: the hash of the raw (NFD) bytes
    old = tmp_path / "old-decisions.jsonl"
    lines = [_decision(rows, row, ["negative"], who="bob") for row in (0, 2)]
    for line in lines:
        line["text_hash"] = hashlib.sha256(rows[line["row"]]["text"].encode("utf-8")).hexdigest()[:16]
    assert lines[0]["text_hash"] != text_hash(rows[0]["text"])
    old.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    for path in (nfd, nfc):
        result = apply_review(path, old)
        assert result.frame["label_source"].tolist() == ["human", "teacher", "human", "teacher"], path.name
        assert result.frame["label"][0] == "negative" and result.frame["label"][2] == "negative"
    # and on a file sorted since: each line still goes to the row of its text
    flipped = tmp_path / "flipped.csv"
    frame.iloc[::-1].to_csv(flipped, index=False)
    assert apply_review(flipped, old).frame["label_source"].tolist() == ["teacher", "human", "teacher", "human"]


def test_a_queue_made_before_the_file_was_re_saved_in_the_other_unicode_form_still_matches(tmp_path: Path) -> None:
    """Decisions match their texts in either Unicode form, but the queue did not: `sxhub doubts` run on a file of
    NFD texts (as macOS writes them), the file re-saved in NFC by an editor, and `sxhub review --queue` refused every
    queue "made from another file" and asked to run doubts again on the same texts."""
    rows = labelled_rows()
    rows[0]["text"] = unicodedata.normalize("NFD", "Café sales rose, quarter 0")
    queue = write_table(pd.DataFrame(queue_rows(rows, [0, 2, 3])), tmp_path / "queue.csv")
    frame = pd.DataFrame(rows)
    frame["text"] = [unicodedata.normalize("NFC", t) for t in frame["text"]]
    resaved = write_table(frame, tmp_path / "labelled.csv")
    assert read_table(resaved)["text"][0] != rows[0]["text"]  # the bytes differ

    items, _ = load_review(resaved, queue=queue)
    assert [item.row for item in items[:3]] == [0, 2, 3] and items[0].doubt == pytest.approx(0.9)
    assert items[0].text == frame["text"][0]  # the file's own text, as decisions are made on it
    with pytest.raises(InputError, match="does not match the labelled file at row 0"):
        load_review(resaved, queue=pd.DataFrame(queue_rows(labelled_rows(), [0])))  # another text stays refused


def test_older_decisions_on_a_text_of_mixed_spellings_match_after_a_re_save(tmp_path: Path, capsys: Any) -> None:
    """A text pasted together from a Mac and elsewhere holds "Café" precomposed and "naïve" decomposed. A decision
    an older sxhub wrote on it carries the hash of those raw bytes, which is neither the NFC nor the NFD form's: after
    the labelled file was re-saved in NFC, apply-review refused it as 'made on other texts' (exit 2). It matches
    on its own row now; a line on another text of that row, or of no row, is still refused."""
    rows = labelled_rows()[:4]
    mixed = "Café " + unicodedata.normalize("NFD", "naïve crème") + " sales fell"
    assert not unicodedata.is_normalized("NFC", mixed) and not unicodedata.is_normalized("NFD", mixed)
    rows[0]["text"] = mixed
    labelled = tmp_path / "labelled.csv"
    write_table(pd.DataFrame(rows), labelled)
    old = tmp_path / "old-decisions.jsonl"
    line = _decision(rows, 0, ["negative"], who="bob")
    line["text_hash"] = hashlib.sha256(mixed.encode("utf-8")).hexdigest()[:16]  # as sxhub wrote it before NFC
    stray = _decision(rows, 1, ["negative"], who="bob")
    stray["text_hash"] = hashlib.sha256(unicodedata.normalize("NFD", "Café naïve").encode("utf-8")).hexdigest()[:16]
    old.write_text(json.dumps(line) + "\n", encoding="utf-8")
    resaved = tmp_path / "resaved.csv"
    frame = pd.read_csv(labelled)
    frame["text"] = [unicodedata.normalize("NFC", t) for t in frame["text"]]
    frame.to_csv(resaved, index=False)
    for path in (labelled, resaved):
        out = tmp_path / f"out-{path.stem}.csv"
        code, stdout, err = run_cli(["apply-review", str(path), str(old), "-o", str(out)], capsys)
        assert code == 0, err
        assert "1 text(s) now labelled by people" in stdout
        assert read_table(out)["label_source"].tolist() == ["human", "teacher", "teacher", "teacher"]
        assert read_table(out)["label"][0] == "negative"
    old.write_text(json.dumps(line) + "\n" + json.dumps(stray) + "\n", encoding="utf-8")
    code, _, err = run_cli(["apply-review", str(resaved), str(old), "-o", str(tmp_path / "o.csv")], capsys)
    assert code == 2 and "(rows [1]) were made on other texts" in err


def test_an_older_mixed_spelling_decision_in_a_re_sorted_file_says_to_apply_in_the_reviewed_order(
    tmp_path: Path, capsys: Any
) -> None:
    """A decision an older sxhub wrote on a text of mixed spellings (its raw bytes' hash) is matched on its own row
    only: searching every row's 2**k spellings for it costs about 74 s on 1M French-like rows. In a file both
    re-sorted and re-saved in NFC it was refused with 'apply the decisions to the labelled file they were made on',
    which the user had done; the line now says the file was sorted since and to apply them in the reviewed row order
    and sort the output, exit 2 and no output written. In that order they are applied."""
    rows = labelled_rows()[:4]
    mixed = "Café " + unicodedata.normalize("NFD", "naïve crème") + " sales fell"
    rows[0]["text"] = mixed
    labelled = tmp_path / "labelled.csv"
    write_table(pd.DataFrame(rows), labelled)
    old = tmp_path / "old-decisions.jsonl"
    line = _decision(rows, 0, ["negative"], who="bob")
    line["text_hash"] = hashlib.sha256(mixed.encode("utf-8")).hexdigest()[:16]  # as sxhub wrote it before NFC
    moved = _decision(rows, 2, ["negative"], who="bob")
    old.write_text(json.dumps(line) + "\n" + json.dumps(moved) + "\n", encoding="utf-8")
    frame = pd.read_csv(labelled)
    frame["text"] = [unicodedata.normalize("NFC", t) for t in frame["text"]]
    resorted = tmp_path / "resorted.csv"
    frame.iloc[::-1].to_csv(resorted, index=False)
    out = tmp_path / "out.csv"
    code, _, err = run_cli(["apply-review", str(resorted), str(old), "-o", str(out)], capsys)
    assert code == 2 and not out.exists()
    said = [x for x in err.splitlines() if "were made on other texts" in x]
    assert len(said) == 1 and "(rows [0])" in said[0], err
    assert "in the row order it was reviewed in (this file was sorted since" in said[0]
    assert "then sort apply-review's output" in said[0]
    resaved = tmp_path / "resaved.csv"
    frame.to_csv(resaved, index=False)  # the reviewed order, still re-saved in NFC
    code, _, err = run_cli(["apply-review", str(resaved), str(old), "-o", str(out)], capsys)
    assert code == 0, err
    assert read_table(out)["label_source"].tolist() == ["human", "teacher", "human", "teacher"]


def test_train_reads_the_corrected_labels(labelled: Path, tmp_path: Path, capsys: Any) -> None:
    _decide_three_reviewers(labelled, tmp_path)
    out = tmp_path / "reviewed.csv"
    code, stdout, err = run_cli(
        ["apply-review", str(labelled), str(tmp_path / "decisions.jsonl"), "-o", str(out)], capsys
    )
    assert code == 0, err
    assert "3 text(s) now labelled by people, 2 changed; 1 tie(s) kept the teacher's label (rows [7])" in stdout
    data = load_labelled(out, label_names=NAMES, multi_label=False)  # exactly what `sxhub train` calls
    by_text = dict(zip(data.texts, data.labels, strict=True))
    assert by_text["company profit 5"] == "positive" and by_text["company profit 0"] == "neutral"
    assert "company profit 4" not in by_text  # the failed row stays failed


def test_apply_review_cli_in_place_json_and_errors(labelled: Path, tmp_path: Path, capsys: Any) -> None:
    decisions = tmp_path / "decisions.jsonl"
    code, _, err = run_cli(["apply-review", str(labelled), str(decisions), "-o", str(tmp_path / "o.csv")], capsys)
    assert code == 2 and f"decisions file '{decisions}' does not exist" in err
    _decide_three_reviewers(labelled, tmp_path)
    code, _, err = run_cli(["apply-review", str(labelled), str(decisions)], capsys)
    assert code == 2 and "pass -o OUT, or --in-place" in err
    code, out, err = run_cli(["apply-review", str(labelled), str(decisions), "--in-place", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["changed"] == 2 and json.loads(out)["output"] == str(labelled)
    assert read_table(labelled)["label_source"].tolist().count("human") == 3

    other = tmp_path / "other.parquet"
    rows = labelled_rows()
    rows[5]["text"] = "a different text"
    pd.DataFrame(rows).to_parquet(other)
    code, _, err = run_cli(["apply-review", str(other), str(decisions), "-o", str(tmp_path / "x.csv")], capsys)
    assert code == 2 and "were made on other texts" in err and "[5]" in err
    assert len(err.strip().splitlines()) == 1


def test_apply_review_refuses_to_write_over_the_decisions_file(labelled: Path, tmp_path: Path, capsys: Any) -> None:
    """`apply-review LABELLED DECISIONS -o DECISIONS` (a slip of tab completion) wrote the corrected table over the
    reviewers' decisions, exit 0: their work gone, the only record of it. One line, before anything is written."""
    _decide_three_reviewers(labelled, tmp_path)
    decisions = tmp_path / "decisions.jsonl"
    before = decisions.read_bytes()
    capsys.readouterr()
    code, _, err = run_cli(["apply-review", str(labelled), str(decisions), "-o", str(decisions)], capsys)
    assert code == 2 and err.strip().splitlines() == [
        f"Error: -o {str(decisions)!r} is the DECISIONS file: writing it would replace the reviewers' decisions; "
        "pass another path."
    ]
    assert decisions.read_bytes() == before


def _decision(rows: list[dict[str, Any]], row: int, labels: list[str], who: str = "zed") -> dict[str, Any]:
    return {
        "id": f"{who}-{row}-{'-'.join(labels)}",
        "time": "2026-12-05T06:00:00.000000+00:00",
        "reviewer": who,
        "action": "label",
        "row": row,
        "text_hash": text_hash(rows[row]["text"]),
        "labels": labels,
        "previous": [rows[row]["label"]],
    }


@pytest.mark.parametrize(
    ("labels", "says"),
    [
        (["bullish"], "['bullish'] are not among this file's labels"),  # no --task: the file's labels
        (["positive", "negative"], "a single-label file needs one label per decision"),  # was the first, sorted
        ([], "a single-label file needs one label per decision"),  # was an IndexError, exit 1
    ],
)
def test_a_decision_whose_labels_do_not_fit_the_file_is_one_line_not_a_guess(
    labelled: Path, tmp_path: Path, capsys: Any, labels: list[str], says: str
) -> None:
    decisions = tmp_path / "bad.jsonl"
    decisions.write_text(json.dumps(_decision(labelled_rows(), 3, labels)) + "\n", encoding="utf-8")
    out = tmp_path / "out.parquet"
    code, _, err = run_cli(["apply-review", str(labelled), str(decisions), "-o", str(out)], capsys)
    assert code == 2 and says in err and "zed's decision on row 3" in err, err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


NO_DECISIONS = (
    "does not exist; pass the decisions file `sxhub review` wrote (<LABELLED stem>.decisions.jsonl), a folder of "
    "them, or a dataset repo id (owner/name)."
)


@pytest.fixture
def hub_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The repo ids apply-review asked the Hub for (none is downloaded)."""
    import huggingface_hub

    calls: list[str] = []
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo_id, **_: calls.append(repo_id) or "")
    return calls


@pytest.mark.parametrize(
    "decisions",
    ["fx/nonexist.jsonl", "out/r9", "a/b/c", "./x", "../no-such-sxhub-decisions", "~/no-such-sxhub-decisions", "x"],
)
def test_decisions_that_are_not_here_are_one_line_not_a_hub_lookup(
    labelled: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: Any,
    hub_calls: list[str],
    decisions: str,
) -> None:
    """`apply-review L fx/nonexist.jsonl` looked `fx/nonexist.jsonl` up as a dataset repo and failed with the Hub's
    words. A table suffix, a ./ ../ / ~ start, two '/' or a parent folder that is here (out/) make it a path."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    code, out, err = run_cli(["apply-review", str(labelled), decisions, "-o", "out/r.csv"], capsys)
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [f"Error: decisions file {decisions!r} {NO_DECISIONS}"]
    assert hub_calls == [] and not (tmp_path / "out" / "r.csv").exists()


def test_a_bare_owner_name_is_the_dataset_repo_a_review_space_writes_to(
    labelled: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any, hub_calls: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["apply-review", str(labelled), "me/fin-sent", "-o", "r.csv"], capsys)
    assert hub_calls == ["me/fin-sent"]
    assert code == 2 and err.strip().splitlines() == [
        "Error: no decisions in 'me/fin-sent'; review some texts first (`sxhub review LABELLED`)."
    ]


def test_a_decisions_file_saved_with_a_byte_order_mark_keeps_its_first_decision(
    labelled: Path, tmp_path: Path, capsys: Any
) -> None:
    """A decisions file re-saved on Windows (Notepad, PowerShell's utf8) starts with a UTF-8 byte order mark: its
    first line was "skipping a broken line 1 (a write cut short?)", a warning -q hides, and apply-review went on
    without that decision, exit 0. Every table reader of sxhub reads past the mark; so does the decisions reader."""
    rows = labelled_rows()
    decisions = tmp_path / "decisions.jsonl"
    lines = [json.dumps(_decision(rows, 0, ["negative"])), json.dumps(_decision(rows, 2, ["neutral"], "amy"))]
    for encoding in ("utf-8-sig", "utf-16"):  # and UTF-16, as PowerShell 5's `>` writes: "is it another file?"
        decisions.write_text("\r\n".join(lines) + "\r\n", encoding=encoding)
        capsys.readouterr()
        code, out, err = run_cli(
            ["apply-review", str(labelled), str(decisions), "-o", str(tmp_path / "o.csv"), "--json"], capsys
        )
        assert code == 0 and "skipping" not in err, (encoding, err)
        assert json.loads(out)["decisions"] == 2 and json.loads(out)["changed"] == 2
        assert read_table(tmp_path / "o.csv")["label"].tolist()[:3] == ["negative", "negative", "neutral"]


@pytest.mark.parametrize("given", ["corrections.csv", "labelled.parquet", "folder"])
def test_decisions_that_are_another_file_say_so_not_review_some_texts_first(
    labelled: Path, tmp_path: Path, capsys: Any, given: str
) -> None:
    """`apply-review L corrections.csv` (a table of text,label), the labelled file itself, or a folder without a
    .jsonl said "no decisions in ...; review some texts first", sending the user back to review texts they had
    reviewed. An empty decisions file (the app opened, nothing decided yet) keeps that line."""
    source = tmp_path / given
    if given == "corrections.csv":
        source.write_text("text,label\nProfit rose.,positive\n", encoding="utf-8")
    elif given == "folder":
        source.mkdir()
        (source / "notes.txt").write_text("decided on paper\n", encoding="utf-8")
    else:
        source = labelled
    code, out, err = run_cli(["apply-review", str(labelled), str(source), "-o", str(tmp_path / "r.csv")], capsys)
    what = (
        f"folder {str(source)!r} holds no .jsonl decisions file"
        if given == "folder"
        else (f"{str(source)!r} holds no decision line of `sxhub review` (is it another file?)")
    )
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [f"Error: {what}; {NO_DECISIONS.removeprefix('does not exist; ')}"]
    assert not (tmp_path / "r.csv").exists()
    empty = tmp_path / "labelled.decisions.jsonl"
    empty.write_text("", encoding="utf-8")
    code, _, err = run_cli(["apply-review", str(labelled), str(empty), "-o", str(tmp_path / "r.csv")], capsys)
    assert code == 2 and err.strip().splitlines() == [
        f"Error: no decisions in {str(empty)!r}; review some texts first (`sxhub review LABELLED`)."
    ]


@pytest.mark.parametrize(
    ("break_line", "why"),
    [
        (lambda line: re.sub(r'"action": "(\w+)"', r'"action": \1', line), "not JSON"),
        (lambda line: line.replace('"action"', '"Action"'), "no 'action'"),
        (lambda line: re.sub(r'"action": "\w+"', '"action": "relabel"', line), "its action 'relabel' is not one of"),
        (lambda line: line.replace('"reviewer": "alice"', '"reviewer": ""'), "it names no reviewer"),
    ],
)
def test_decisions_all_broken_by_hand_say_which_line_and_why(
    labelled: Path, tmp_path: Path, capsys: Any, break_line: Any, why: str
) -> None:
    """A decisions file whose every line was edited by hand into a broken form got "holds no decision line of
    `sxhub review` (is it another file?)", and the warnings that said why were hidden under -q. The one line names
    the first unusable line and why; nothing is written."""
    review = _review(labelled, tmp_path)
    pos = review.decide(0, "alice", ["negative"])
    review.decide(pos, "alice", ["positive"])
    good = (tmp_path / "decisions.jsonl").read_text(encoding="utf-8").splitlines()
    broken = tmp_path / "edited.jsonl"
    broken.write_text("\n".join(["", *map(break_line, good)]) + "\n", encoding="utf-8")  # a blank line 1
    out_file = tmp_path / "r.csv"
    code, out, err = run_cli(["-q", "apply-review", str(labelled), str(broken), "-o", str(out_file)], capsys)
    [line] = err.strip().splitlines()
    assert code == 2 and out == "" and not out_file.exists()
    assert line.startswith(f"Error: {str(broken)!r} holds no usable decision line of `sxhub review`: line 2: {why}"), (
        line
    )
    assert "(and 1 more such line(s)); mend those lines to the form `sxhub review` writes" in line
    assert line.endswith(NO_DECISIONS.removeprefix("does not exist; "))
    # the lines as written apply
    code, _, err = run_cli(
        ["-q", "apply-review", str(labelled), str(tmp_path / "decisions.jsonl"), "-o", str(out_file)], capsys
    )
    assert code == 0 and out_file.exists(), err


def test_broken_decision_lines_give_each_reason_once(
    labelled: Path, tmp_path: Path, capsys: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Without -q, apply-review on a decisions file whose every line names no reviewer warned "skipping line 1 of
    ...: it names no reviewer" and then gave the error line "line 1: it names no reviewer (and 2 more ...)": the
    first reason twice. The error line names the first line and counts the rest; a warning names each of the rest.
    Another file (a CSV) gets its one error line, without a "a write cut short?" warning per line; a file with some
    usable lines still warns for each line it skips."""
    review = _review(labelled, tmp_path)
    pos = review.decide(0, "alice", ["negative"])
    pos = review.decide(pos, "alice", ["positive"])
    review.decide(pos, "alice", ["neutral"])
    good = (tmp_path / "decisions.jsonl").read_text(encoding="utf-8").splitlines()
    broken = tmp_path / "edited.jsonl"
    broken.write_text("".join(line.replace('"reviewer": "alice"', '"reviewer": ""') + "\n" for line in good))
    out_file = tmp_path / "r.csv"
    with caplog.at_level("WARNING"):
        code, out, err = run_cli(["apply-review", str(labelled), str(broken), "-o", str(out_file)], capsys)
    assert code == 2 and out == "" and not out_file.exists()
    [line] = [x for x in err.strip().splitlines() if x.startswith("Error:")]
    assert "line 1: it names no reviewer (and 2 more such line(s))" in line, line
    assert sxhub_logged(caplog) == [f"skipping line {n} of {broken}: it names no reviewer" for n in (2, 3)]
    # another file: the error line alone
    caplog.clear()
    table = tmp_path / "table.csv"
    table.write_text("text,label\ngood,positive\nbad,negative\n", encoding="utf-8")
    with caplog.at_level("WARNING"):
        code, _, err = run_cli(["apply-review", str(labelled), str(table), "-o", str(out_file)], capsys)
    assert code == 2 and "(is it another file?)" in err and not out_file.exists()
    assert sxhub_logged(caplog) == []
    # one usable line among broken ones: applied, with a warning per skipped line
    caplog.clear()
    broken.write_text(good[0] + "\n" + broken.read_text(encoding="utf-8").split("\n", 1)[1], encoding="utf-8")
    with caplog.at_level("WARNING"):
        code, _, err = run_cli(["apply-review", str(labelled), str(broken), "-o", str(out_file)], capsys)
    assert code == 0 and out_file.exists(), err
    assert sxhub_logged(caplog) == [f"skipping line {n} of {broken}: it names no reviewer" for n in (2, 3)]


def test_a_dataset_repo_the_hub_cannot_give_is_one_line_naming_the_fix(
    labelled: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """`apply-review L nobody/repo` with HF_HUB_OFFLINE=1 ended in "Error: LocalEntryNotFoundError: Cannot find an
    appropriate cached snapshot folder ..." and exit 1; an unreachable Hub the same."""
    from huggingface_hub import constants

    argv = ["apply-review", str(labelled), "nobody/repo", "-o", str(tmp_path / "r.csv")]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # huggingface_hub reads the variable once, at import
    code, _, err = run_cli(argv, capsys)
    assert code == 2 and err.strip().splitlines() == [
        "Error: dataset repo 'nobody/repo' could not be reached: HF_HUB_OFFLINE is set and its decisions are not in "
        "the local cache; unset HF_HUB_OFFLINE, or pass the decisions file `sxhub review` wrote or a folder of them."
    ]
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # the discard port: nothing listens
    code, _, err = run_cli(argv, capsys)
    [line] = err.strip().splitlines()
    assert code == 2 and line.startswith("Error: dataset repo 'nobody/repo' could not be read from the Hub (")
    assert line.endswith(
        "check the id, the network (HF_ENDPOINT) and the token (--token or HF_TOKEN), or pass the "
        "decisions file `sxhub review` wrote or a folder of them."
    )
    assert not (tmp_path / "r.csv").exists()


def test_a_dataset_repo_the_hub_has_not_is_one_line(hub: Any, labelled: Path, tmp_path: Path, capsys: Any) -> None:
    repo = f"{hub.user}/no-such-decisions"
    code, _, err = run_cli(["apply-review", str(labelled), repo, "-o", str(tmp_path / "r.csv")], capsys)
    assert code == 2 and err.strip().splitlines() == [
        f"Error: dataset repo {repo!r} not found on the Hub, or the token cannot read it; check the id and the token "
        "(--token or HF_TOKEN), or pass the decisions file `sxhub review` wrote or a folder of them."
    ]


def test_sxhub_review_cli_names_bad_input(tmp_path: Path, capsys: Any) -> None:
    bad = tmp_path / "nolabels.csv"
    pd.DataFrame({"text": ["a"]}).to_csv(bad, index=False)
    code, _, err = run_cli(["review", str(bad), "--port", "7999"], capsys)
    assert code == 2 and "no 'label or labels' column" in err


def test_sxhub_review_on_a_port_in_use_is_one_line(labelled: Path, taken_port: int, capsys: Any) -> None:
    code, _, err = run_cli(["review", str(labelled), "--port", str(taken_port)], capsys)
    assert code == 2
    assert err.strip().splitlines()[-1].startswith(f"Error: could not listen on 127.0.0.1, port {taken_port}")


def test_a_reload_keeps_the_name_this_browser_typed_over_the_login_name(
    labelled: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sxhub review` without --reviewer fills the box with the login name of whoever started it: a second
    reviewer on the network who typed "bob" and reloaded was shown that name again, and their next decisions went
    under it (and replaced its owner's). The name this browser typed wins over the login name; the link's
    ?reviewer= and an explicit --reviewer still win over it."""
    import getpass

    from sxhub.review import launch_review

    monkeypatch.setattr(getpass, "getuser", lambda: "root")
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    review = _review(labelled, tmp_path)
    review.decide(0, "bob", ["positive"])
    decisions = tmp_path / "decisions.jsonl"

    def on_load(reviewer: str | None) -> Any:
        demo, _, _ = launch_review(labelled, reviewer=reviewer, decisions=decisions, block=False)
        demo.close()
        return next(f.fn for f in demo.fns.values() if f.name == "on_load")

    class Request:
        def __init__(self, **query: str) -> None:
            self.query_params = query

    load = on_load(None)
    assert load("root", "", Request())[:2] == ("root", 0)  # nobody typed a name here: the login name
    assert load("root", "bob", Request())[:2] == ("bob", 1)  # bob typed his name, then reloaded: bob, at his next
    assert load("root", "bob", Request(reviewer="carol"))[0] == "carol"
    assert on_load("alice")("alice", "bob", Request())[0] == "alice"


def test_the_default_decisions_file_sits_beside_the_data(labelled: Path) -> None:
    assert decisions_path(labelled) == labelled.with_name("labelled.decisions.jsonl")


# --------------------------------------------------------------------------------------------------------------
# cards, and the review Space against the Hub stand-in
# --------------------------------------------------------------------------------------------------------------
def _task_file(tmp_path: Path) -> Path:
    task = tmp_path / "task.yaml"
    task.write_text(_spec().to_yaml(), encoding="utf-8")
    return task


@pytest.mark.slow
def test_dataset_card_says_how_many_labels_people_reviewed_and_changed(labelled: Path, tmp_path: Path) -> None:
    from sxhub.publish import publish_dataset

    _decide_three_reviewers(labelled, tmp_path)
    reviewed = write_table(apply_review(labelled, tmp_path / "decisions.jsonl").frame, tmp_path / "rev.parquet")
    folder = Path(publish_dataset(reviewed, spec=_task_file(tmp_path), to=tmp_path / "ds"))
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert "People reviewed **3** of the 8 labels with `sxhub review` and changed **2** of them" in card
    assert "3 reviewer(s): alice, bob, carol" in card and "on 1 text(s) they tied" in card
    assert "| `reviewers` | who reviewed the text |" in card and "| `label_source` | kept from the input" not in card
    parts = pd.concat(pd.read_parquet(p) for p in (folder / "data").glob("*.parquet"))
    assert sorted(parts["label_source"].unique()) == ["human", "teacher"]
    plain = Path(publish_dataset(labelled, spec=_task_file(tmp_path), to=tmp_path / "plain"))
    assert "Human review" not in (plain / "README.md").read_text(encoding="utf-8")


@pytest.mark.slow
def test_new_dataset_revision_and_the_model_card_cites_it(hub: Any, labelled: Path, tmp_path: Path) -> None:
    from huggingface_hub import HfApi
    from test_publish import make_student

    from sxhub.publish import publish_dataset, publish_model

    repo = f"{hub.user}/fin-sent"
    task = _task_file(tmp_path)
    publish_dataset(labelled, spec=task, repo_id=repo)
    first = HfApi().dataset_info(repo).sha
    _decide_three_reviewers(labelled, tmp_path)
    reviewed = write_table(apply_review(labelled, tmp_path / "decisions.jsonl").frame, tmp_path / "rev.parquet")
    code_url = publish_dataset(reviewed, spec=task, repo_id=repo, exist_ok=True)
    assert repo in code_url
    second = HfApi().dataset_info(repo).sha
    assert second and second != first
    card = hub.stub.read_file(repo, "README.md", repo_type="dataset").decode()
    assert "and changed **2** of them" in card

    student = make_student(tmp_path / "student", _spec())
    publish_model(student, repo_id=f"{hub.user}/fin-student", dataset_repo=repo, data=reviewed, gold="gold")
    model_card = hub.stub.read_file(f"{hub.user}/fin-student", "README.md").decode()
    assert f"at revision [`{second[:12]}`]({hub.url}/datasets/{repo}/tree/{second})" in model_card
    assert f"revision: {second}" in model_card.split("---")[1]  # the model-index results name the revision too


@pytest.fixture
def space_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Import the app from a published Space folder (not from sxhub): ``load(folder)`` returns its review_space (the
    Space's start, which names the page's ``build_demo`` and ``launch`` it serves)."""
    loaded: list[str] = []

    def load(folder: Path) -> Any:
        monkeypatch.syspath_prepend(str(folder))
        module = importlib.import_module("sxhub_review.review_space")
        loaded.extend(m for m in sys.modules if m.startswith("sxhub_review"))
        assert Path(module.__file__).is_relative_to(folder)
        return module

    yield load
    for name in set(loaded):
        sys.modules.pop(name, None)


@pytest.mark.slow
def test_review_space_keeps_decisions_in_the_dataset_repo(
    hub: Any,
    labelled: Path,
    queue_csv: Path,
    tmp_path: Path,
    space_modules: Any,
    capsys: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from huggingface_hub import snapshot_download

    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")  # gradio's telemetry would go to the Hub stand-in

    space, dataset = f"{hub.user}/fin-review", f"{hub.user}/fin-sent"
    code, out, err = run_cli(
        ["publish", "review", str(labelled), "--queue", str(queue_csv), "--repo-id", space, "--dataset-repo", dataset],
        capsys,
    )
    assert code == 0, err
    assert "fin-review" in out
    files = set(hub.stub.list_files(space, repo_type="space"))
    assert {"app.py", "README.md", "requirements.txt", "config.json", "items.jsonl"} <= files
    shipped = {f"sxhub_review/{name}.py" for name in ("__init__", "review_app", "review_log", "review_space")}
    assert shipped <= files
    readme = hub.stub.read_file(space, "README.md", repo_type="space").decode()
    assert "sdk: gradio" in readme and f"- {dataset}" in readme and "HF_TOKEN" in readme
    assert 'python_version: "3.11"' in readme  # the Python it is tested on, not the Hub's older default
    requirements = hub.stub.read_file(space, "requirements.txt", repo_type="space").decode()
    assert "krippendorff" in requirements and "gradio==" in requirements

    folder = Path(snapshot_download(space, repo_type="space", local_dir=tmp_path / "space"))  # as a Space checks out
    app = space_modules(folder)
    review, scheduler = app.load_space(folder, token=hub.token, decisions_folder=tmp_path / "run1")
    try:
        assert [i.row for i in review.items] == [7, 2, 0, 5, 1, 3, 6, 8]
        app.build_demo(review, reviewer="alice")  # the page builds from the Space's own files
        pos = review.decide(0, "alice", ["negative"])
        review.keep(pos, "alice")
        scheduler.trigger().result(timeout=60)
    finally:
        scheduler.stop()
    committed = [f for f in hub.stub.list_files(dataset, repo_type="dataset") if f.startswith("review/decisions/")]
    assert len(committed) == 1 and committed[0].endswith(".jsonl")

    # a restarted Space (fresh disk) reads the decisions back from the dataset repo and resumes
    again, scheduler2 = app.load_space(folder, token=hub.token, decisions_folder=tmp_path / "run2")
    try:
        assert again.resume("alice") == 2 and again.progress("alice")["decided"] == 2
        again.decide(2, "bob", ["neutral"])  # row 0: positive -> neutral
        scheduler2.trigger().result(timeout=60)
    finally:
        scheduler2.stop()

    # and apply-review reads them all from the dataset repo
    code, out, err = run_cli(
        ["apply-review", str(labelled), dataset, "-o", str(tmp_path / "rev.csv"), "--json"], capsys
    )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["reviewers"] == ["alice", "bob"] and summary["reviewed"] == 3 and summary["changed"] == 2


def test_publish_review_errors_are_one_line(labelled: Path, tmp_path: Path, capsys: Any) -> None:
    code, _, err = run_cli(["publish", "review", str(labelled), "--to", str(tmp_path / "s")], capsys)
    assert code == 2 and "needs --dataset-repo" in err
    code, _, err = run_cli(
        ["publish", "review", str(labelled), "--to", str(tmp_path / "s"), "--dataset-repo", "bad id"], capsys
    )
    assert code == 2 and len(err.strip().splitlines()) == 1
    args = ["publish", "review", str(labelled), "--to", str(tmp_path / "s"), "--dataset-repo", "me/ds"]
    code, _, err = run_cli([*args, "--task", str(_task_file(tmp_path))], capsys)
    assert code == 0, err
    config = ReviewConfig.from_dict(json.loads((tmp_path / "s" / "config.json").read_text()))
    assert config.dataset_repo == "me/ds" and config.labels == NAMES and config.descriptions == {}


def test_publish_review_takes_the_text_column_its_error_names(tmp_path: Path, capsys: Any) -> None:
    """A file whose texts are in a column of no usual name: publish review said "pass --text-column", an option it
    did not have (exit 2 on "No such option"). It has it now, as `sxhub review` does."""
    source = tmp_path / "labelled.parquet"
    pd.DataFrame(labelled_rows()).rename(columns={"text": "snippet_fr"}).to_parquet(source)
    args = ["publish", "review", str(source), "--to", str(tmp_path / "s"), "--dataset-repo", "me/ds"]
    code, _, err = run_cli(args, capsys)
    assert code == 2 and "pass --text-column" in err
    code, _, err = run_cli([*args, "--text-column", "snippet_fr"], capsys)
    assert code == 0, err
    items = [json.loads(line) for line in (tmp_path / "s" / "items.jsonl").read_text().splitlines()]
    assert {item["text"] for item in items} >= {"company profit 0", "company profit 8"}
    code, _, err = run_cli(
        ["publish", "dataset", str(source), "--text-column", "snippet_fr", "--to", str(tmp_path / "d")], capsys
    )
    assert code == 2 and "--text-column" in err  # the review's alone


def test_publish_review_refuses_a_dataset_repo_the_token_cannot_write_before_pushing(
    hub: Any, labelled: Path, capsys: Any, caplog: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`publish review --dataset-repo` named a repo the Space could never write to (another's namespace, or an
    existing repo this token only reads), pushed the Space with exit 0, and the Space failed at its start or at its
    first push. Now the publish stops first, in one line, and no Space repo is made; a repo that is not there yet
    (the Space creates it) is a warning; a writable one passes without a word."""
    from huggingface_hub import HfApi

    space = f"{hub.user}/fin-review"
    args = ["publish", "review", str(labelled), "--repo-id", space, "--dataset-repo"]
    code, _, err = run_cli([*args, "someone-else/fin-sent"], capsys)
    assert code == 2 and err.strip().splitlines() == [
        "Error: there is no dataset repo 'someone-else/fin-sent' (--dataset-repo), and the token of 'tester' cannot "
        "create one in 'someone-else' for the review Space's decisions; pass the id of the labelled dataset's repo, "
        "or one in 'tester' or 'test-org'."
    ]
    dataset = f"{hub.user}/fin-sent"
    HfApi().create_repo(dataset, repo_type="dataset")
    monkeypatch.setenv("HF_TOKEN", "read_only_token")
    code, _, err = run_cli([*args, dataset], capsys)
    [line] = err.strip().splitlines()
    assert code == 2 and line.startswith(f"Error: the token cannot write to dataset repo {dataset!r} (--dataset-repo)")
    assert "the token came from HF_TOKEN" in line and line.endswith("or pass a --dataset-repo you can write to.")
    assert not HfApi(token=hub.token).repo_exists(space, repo_type="space")

    monkeypatch.setenv("HF_TOKEN", hub.token)
    code, _, err = run_cli([*args, dataset], capsys)
    assert code == 0 and not sxhub_logged(caplog), err
    code, _, err = run_cli([*args, f"{hub.user}/new-decisions", "--exist-ok"], capsys)
    assert code == 0, err
    said = sxhub_logged(caplog)
    assert (
        len(said) == 1
        and "'tester/new-decisions' is not on the Hub: the review Space creates it at its start" in said[0]
    )


def test_the_review_spaces_modules_import_only_each_other() -> None:
    """``publish review`` copies review_app.py, review_log.py and review_space.py into the Space as ``sxhub_review``,
    without sxhub: any other relative import, even inside a function, fails there when it runs (a ``from .space
    import`` in ``launch`` did, for a while, on this stop's branch)."""
    import ast

    import sxhub

    shipped = {"review_app", "review_log", "review_space"}
    for name in shipped:
        tree = ast.parse((Path(sxhub.__file__).parent / f"{name}.py").read_text(encoding="utf-8"))
        relative = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level}
        assert relative <= shipped, (name, relative - shipped)
        absolute = {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom) and not getattr(node, "level", 0)
            for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])
        }
        assert not {m for m in absolute if m == "sxhub" or m.startswith("sxhub.")}, name


def test_a_frame_numbered_from_elsewhere_gets_its_decisions_by_position() -> None:
    """``apply_review`` on a DataFrame numbered 10..12 (a filtered frame): the new columns were assigned by index,
    which blanked every label, teacher label and reviewer list while the summary said the review succeeded."""
    frame = pd.DataFrame({"text": ["t0", "t1", "t2"], "label": ["pos", "neg", "pos"]}, index=[10, 11, 12])
    event = {
        "id": "1",
        "time": "2026-01-01T00:00:00.000000+00:00",
        "reviewer": "alice",
        "action": "label",
        "row": 1,
        "text_hash": text_hash("t1"),
        "labels": ["pos"],
    }
    out = apply_review(frame, [event]).frame
    assert out["label"].tolist() == ["pos", "pos", "pos"] and out["label_source"].tolist()[1] == "human"
    assert out["reviewers"].tolist()[1] == ["alice"] and out.filter(like="teacher").iloc[:, 0].tolist()[1] == "neg"


def test_review_facts_read_a_reviewed_multi_label_parquet(tmp_path: Path) -> None:
    """Parquet gives list cells back as arrays: ``review_facts`` (publish dataset's) stopped with "truth value of an
    array is ambiguous"."""
    from sxhub.review_apply import review_facts

    spec = TaskSpec(name="m", labels=["a", "b", "c"], multi_label=True)
    frame = pd.DataFrame({"text": ["x y", "z w"], "labels": [["a"], ["b"]]})
    event = {
        "id": "1",
        "time": "2026-01-01T00:00:00.000000+00:00",
        "reviewer": "alice",
        "action": "label",
        "row": 0,
        "text_hash": text_hash("x y"),
        "labels": ["b", "c"],
    }
    path = write_table(apply_review(frame, [event], spec=spec).frame, tmp_path / "reviewed.parquet")
    facts = review_facts(read_table(path), spec)
    assert (facts["n_reviewed"], facts["n_changed"], facts["reviewers"]) == (1, 1, ["alice"])


def test_a_queue_of_no_rows_and_a_file_of_no_labels_name_their_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A header-only queue said 'has no rows; give it at least one text' (the queue holds no texts to give); a
    labelled file of failed rows said 'every text failed?'. Each now names the command that makes what is missing."""
    labelled = tmp_path / "labelled.csv"
    pd.DataFrame({"text": ["Profit rose", "Sales fell"], "label": ["positive", "negative"]}).to_csv(
        labelled, index=False
    )
    queue = tmp_path / "queue.csv"
    queue.write_text("row,text,doubt\n", encoding="utf-8")
    code, _, err = run_cli(["review", str(labelled), "--queue", str(queue)], capsys)
    assert code == 2 and err.strip().splitlines()[-1] == (
        "Error: nothing to review: the queue holds none of the 2 labelled rows; make it again with `sxhub doubts "
        "LABELLED -o QUEUE`, or review without --queue."
    )
    failed = tmp_path / "failed.csv"
    pd.DataFrame({"text": ["Profit rose"], "label": [""], "failed": [True]}).to_csv(failed, index=False)
    task = Path(__file__).resolve().parent.parent / "examples" / "financial-sentiment" / "task.yaml"
    code, _, err = run_cli(["review", str(failed), "--task", str(task)], capsys)
    assert code == 2 and "label them first (`sxhub annotate`)" in err.strip().splitlines()[-1]


def test_a_multi_label_queue_shows_its_most_doubted_labels_and_a_csv_empty_signal_as_none(tmp_path: Path) -> None:
    from sxhub.review_app import facts_markdown

    names = [f"emotion{i}" for i in range(28)]
    spec = TaskSpec(name="emotions", labels=names, multi_label=True, teachers=["local"])
    texts = [f"text {i}" for i in range(4)]
    data = write_table(pd.DataFrame({"text": texts, "labels": [[names[i]] for i in range(4)]}), tmp_path / "d.csv")
    oof = {n: 0.01 for n in names} | {"emotion5": 0.9, "emotion0": 0.7, "emotion9": 0.3}
    queue = pd.DataFrame(
        {
            "row": range(4),
            "text": texts,
            "labels": [[names[i]] for i in range(4)],
            "doubt": 0.9,
            "suggested": [["emotion5"]] * 4,
            "signal_vote_split": None,  # no votes: an empty cell in a CSV
            "signal_oof_disagreement": [oof] * 4,
            "oof_probs": [{n: 0.5 for n in names}] * 4,
        }
    )
    items, _ = load_review(data, queue=write_table(queue, tmp_path / "q.csv"), spec=spec)
    assert items[0].signals["vote split"] is None  # was '' from the CSV: shown blank, unlike a Parquet queue's '–'
    facts = facts_markdown(items[0], None)
    assert "vote split –" in facts
    shown = facts.split("oof disagreement ")[1]
    assert re.findall(r"emotion\d+", shown) == ["emotion5", "emotion0", "emotion9"]  # not all 28, highest first
    assert "+25 more" in shown.replace("\\", "")


def test_with_a_task_labels_in_another_case_are_reviewed_and_applied_as_the_tasks(tmp_path: Path) -> None:
    """``train`` reads ``Positive`` as the task's ``positive``; ``sxhub review --task`` refused such a file ("label(s)
    ['Negative', 'Neutral', 'Positive'] are not in the task's labels; fix the spec"), and apply-review kept the
    file's spellings beside the reviewers' names. Both read them as the task's names."""
    path = tmp_path / "spelled.parquet"
    frame = pd.DataFrame(labelled_rows())
    frame["label"] = frame["label"].map(lambda v: v.capitalize() if isinstance(v, str) else None)
    frame.to_parquet(path)
    items, config = load_review(path, spec=_spec())
    assert config.labels == NAMES
    assert {tuple(item.current) for item in items} == {("positive",), ("neutral",), ("negative",)}
    review = Review(items, config, DecisionLog(tmp_path / "d.jsonl"))
    pos = {item.row: i for i, item in enumerate(review.items)}
    review.keep(pos[1], "alice")
    review.decide(pos[0], "alice", ["neutral"])
    result = apply_review(path, tmp_path / "d.jsonl", spec=_spec())
    assert result.n_reviewed == 2 and result.n_changed == 1
    labels = result.frame["label"].tolist()
    assert labels[:4] == ["neutral", "negative", "negative", "positive"] and labels[4] is None
    assert result.frame.loc[0, "teacher_label"] == "positive"


def test_a_text_column_of_no_usual_name_is_named_with_text_column(tmp_path: Path, capsys: Any) -> None:
    """doubts takes --text-column; review and apply-review had none, and on the same file said only "the labelled
    file has no 'text' column". Both take --text-column, and the error names it."""
    path = tmp_path / "contenu.csv"
    rows = labelled_rows()
    pd.DataFrame(rows).rename(columns={"text": "contenu"}).to_csv(path, index=False)
    code, _, err = run_cli(["review", str(path), "--port", "7999"], capsys)
    assert code == 2 and "no 'text' column" in err and "pass --text-column" in err
    code, _, err = run_cli(["review", str(path), "--text-column", "nope", "--port", "7999"], capsys)
    assert code == 2 and "--text-column 'nope' is not a column" in err
    items, config = load_review(path, text_column="contenu")
    assert {item.text for item in items} == {r["text"] for r in rows if not r["failed"]}
    review = Review(items, config, DecisionLog(tmp_path / "d.jsonl"))
    review.decide([item.row for item in items].index(0), "alice", ["neutral"])
    out = tmp_path / "out.csv"
    argv = ["apply-review", str(path), str(tmp_path / "d.jsonl"), "-o", str(out), "--json"]
    code, _, err = run_cli(argv, capsys)
    assert code == 2 and "pass --text-column" in err and not out.exists()
    code, stdout, err = run_cli([*argv, "--text-column", "contenu"], capsys)
    assert code == 0, err
    assert json.loads(stdout)["changed"] == 1
    frame = read_table(out)
    assert frame.loc[0, "label"] == "neutral" and frame.loc[0, "label_source"] == "human"
    assert frame["contenu"].tolist() == [r["text"] for r in rows] and "text" not in frame.columns


def test_apply_review_in_place_keeps_the_files_own_text_columns(tmp_path: Path, capsys: Any) -> None:
    """apply-review wrote the texts under `text`, whatever the file named them: `--text-column body` on a file
    with its own `text` column wrote body's texts as `text` and that column as `text_input`, so the same
    `apply-review --in-place --text-column body` run again (the decisions file grown: safe, the README says) was
    "--text-column 'body' is not a column"; a usual name (`sentence`) came back as `text`. Each column keeps its name."""
    rows = labelled_rows()
    decisions = tmp_path / "d.jsonl"
    for name, option in (("sentence", []), ("body", ["--text-column", "body"])):
        frame = pd.DataFrame(rows).rename(columns={"text": name})
        if option:  # the file's own `text` column, which is not the texts
            frame.insert(0, "text", [f"title {i}" for i in range(len(frame))])
        path = write_table(frame, tmp_path / f"{name}.csv")
        decisions.unlink(missing_ok=True)
        items, config = load_review(path, text_column=option[1] if option else None)
        review = Review(items, config, DecisionLog(decisions))
        pos = {item.row: i for i, item in enumerate(review.items)}
        review.decide(pos[0], "alice", ["neutral"])
        argv = ["apply-review", str(path), str(decisions), "--in-place", *option]
        assert run_cli(argv, capsys)[0] == 0
        review.decide(pos[2], "alice", ["positive"])  # the decisions file grows; applied again the same way
        code, _, err = run_cli(argv, capsys)
        assert code == 0, err
        out = read_table(path)
        assert set(frame.columns) <= set(out.columns) and "text_input" not in out.columns
        assert out[name].tolist() == frame[name].tolist()
        if option:
            assert out["text"].tolist() == frame["text"].tolist()
        assert out["label"][:3].tolist() == ["neutral", "negative", "positive"]


def test_a_reviewed_file_reads_back_and_publishes_alike_in_every_format(tmp_path: Path) -> None:
    """From a reviewed CSV, `teacher_labels` and `reviewers` came back as JSON text while Parquet and JSONL gave
    lists, so `sxhub publish dataset` typed them string or list by the file's format."""
    from sxhub.dataset_build import dataset_features, load_annotated

    spec = _spec(multi_label=True)
    rows = [
        {"text": f"text {i}", "labels": [NAMES[i % 3]], "votes": [_vote("t", 0, [NAMES[i % 3]])], "failed": False}
        for i in range(6)
    ]
    labelled = write_table(pd.DataFrame(rows), tmp_path / "labelled.parquet")
    items, config = load_review(labelled, spec=spec)
    review = Review(items, config, DecisionLog(tmp_path / "decisions.jsonl"))
    review.decide(0, "alice", ["neutral", "negative"])
    frame = apply_review(labelled, tmp_path / "decisions.jsonl", spec=spec).frame
    features = {}
    for suffix in (".csv", ".jsonl", ".parquet"):
        back = read_table(write_table(frame, tmp_path / f"reviewed{suffix}"))
        assert [list(v) for v in back["teacher_labels"]][:2] == [["positive"], ["neutral"]], suffix
        assert [list(v) for v in back["reviewers"]][:2] == [["alice"], []], suffix
        features[suffix] = dataset_features(load_annotated(back, spec)[0], spec)
    assert features[".csv"] == features[".jsonl"] == features[".parquet"]


def _published_review_space(
    labelled: Path, folder: Path, dataset: str, space_modules: Any, capsys: Any
) -> tuple[Path, Any]:
    """``publish review --to folder`` keeping decisions in ``dataset``, and the Space's app module loaded from it."""
    code, _, err = run_cli(
        ["publish", "review", str(labelled), "--to", str(folder), "--dataset-repo", dataset], capsys
    )
    assert code == 0, err
    return folder, space_modules(folder)


def _stopped_space(app: Any, folder: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[str, list[str]]:
    """Run the Space's ``main`` and serve what it serves on 127.0.0.1; returns the one line it logged (stderr) and
    the texts of the page as gradio serves them (``/config``), after checking that the page has no control at all,
    so no decision can be taken on a Space that cannot save it."""
    import httpx

    served: list[Any] = []
    real_launch = app.launch

    def launch(demo: Any, **kwargs: Any) -> Any:
        served.append(demo)
        assert kwargs == {"keys": False}  # no keyboard shortcuts either
        return real_launch(
            demo, server_name="127.0.0.1", server_port=None, prevent_thread_lock=True, quiet=True, **kwargs
        )

    capsys.readouterr()
    with monkeypatch.context() as patch:
        patch.setattr(app, "launch", launch)
        app.main(folder)  # returns (the Space blocks in gradio's launch): no SystemExit, no "Runtime error"
    [logged] = capsys.readouterr().err.strip().splitlines()
    [demo] = served
    try:
        config = httpx.get(f"{demo.local_url.rstrip('/')}/config", timeout=30).json()
    finally:
        demo.close()
    kinds = {c["type"] for c in config["components"]} - {"column", "row", "form"}
    assert kinds == {"markdown"} and config["dependencies"] == [], kinds
    texts = [re.sub(r"\\(.)", r"\1", c["props"]["value"]) for c in config["components"] if c["type"] == "markdown"]
    return logged, texts


def test_a_review_space_whose_token_cannot_write_the_dataset_repo_says_so_on_its_page_and_in_its_logs(
    hub: Any, labelled: Path, tmp_path: Path, space_modules: Any, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Space given a read-only (or expired) HF_TOKEN died with huggingface_hub's traceback ('403 Forbidden: ...
    read-only', or '401 Unauthorized for url .../api/repos/create') in its logs, naming neither the dataset repo nor
    the fix; then with one line in its logs, but visitors saw only "Runtime error". Now the line is logged and is
    the page the Space serves, with nothing on it to review; the same for a Space with no HF_TOKEN at all."""
    dataset = f"{hub.user}/fin-sent"
    folder, app = _published_review_space(labelled, tmp_path / "space", dataset, space_modules, capsys)
    monkeypatch.chdir(tmp_path)  # the Space's decisions/ folder
    fix = (
        f"For the Space's owner: set the secret HF_TOKEN to a token with write access to {dataset} (Settings → "
        "Variables and secrets), then restart the Space. Reviewers: nothing can be reviewed here until then."
    )
    for token in ("read_only_token", "invalid_token", None):
        if token is None:
            monkeypatch.delenv("HF_TOKEN")
        else:
            monkeypatch.setenv("HF_TOKEN", token)
        logged, page = _stopped_space(app, folder, capsys, monkeypatch)
        assert page == ["# Review unavailable", logged], token
        assert logged.startswith("This review Space cannot save decisions: it keeps them in the dataset repo ")
        what = "has no HF_TOKEN secret" if token is None else "the HF_TOKEN secret cannot write there"
        assert f"the dataset repo {dataset}, and {what}" in logged and logged.endswith(fix), logged
    assert [r for r in hub.stub.requests if "/commit/" in r] == []


def test_a_review_space_whose_token_can_read_but_not_write_the_dataset_repo_serves_no_review(
    hub: Any, labelled: Path, tmp_path: Path, space_modules: Any, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the dataset repo already there (``publish dataset`` made it), a read-only HF_TOKEN passed the start:
    CommitScheduler's ``create_repo(exist_ok=True)`` takes a 403 on a repo that exists as done, the earlier decisions
    downloaded, and the review was served; reviewers learnt that nothing was saved only when the first push failed, a
    minute later. Now the Space serves no review: its page and its logs say, in one line, that it cannot save, with
    the repo and the fix; a token that can write still starts it and pushes
    (test_review_space_keeps_decisions_in_the_dataset_repo)."""
    from huggingface_hub import HfApi

    dataset = f"{hub.user}/fin-sent"
    HfApi().create_repo(dataset, repo_type="dataset")
    folder, app = _published_review_space(labelled, tmp_path / "space", dataset, space_modules, capsys)
    monkeypatch.chdir(tmp_path)  # the Space's decisions/ folder
    monkeypatch.setattr(
        app, "build_demo", lambda *a, **k: pytest.fail("the review was built with a token that cannot write")
    )
    monkeypatch.setenv("HF_TOKEN", "read_only_token")
    logged, page = _stopped_space(app, folder, capsys, monkeypatch)
    assert page == ["# Review unavailable", logged]
    assert f"the dataset repo {dataset}, and the HF_TOKEN secret cannot write there ({dataset} exists" in logged
    assert f"set the secret HF_TOKEN to a token with write access to {dataset}" in logged
    assert not (tmp_path / "decisions").exists()  # stopped before the scheduler's folder was made
    pushes = [r for r in hub.stub.requests if "/commit/" in r]
    assert pushes == []

    monkeypatch.setenv("HF_TOKEN", hub.token)  # the owner fixed the secret: the Space starts, and pushes
    review, scheduler = app.load_space(folder, token=hub.token, decisions_folder=tmp_path / "d")
    try:
        review.decide(0, "alice", ["negative"])
        scheduler.trigger().result(timeout=60)
    finally:
        scheduler.stop()
    pushed = [f for f in hub.stub.list_files(dataset, repo_type="dataset") if f.startswith("review/decisions/")]
    assert len(pushed) == 1


def test_a_review_space_that_cannot_reach_the_hub_says_so_on_its_page(
    hub: Any, labelled: Path, tmp_path: Path, space_modules: Any, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the Hub unreachable at its start (refused, timed out), the Space died with httpx's ConnectError
    traceback; now it logs and serves one line saying it could not reach the dataset repo, and the way out."""
    dataset = f"{hub.user}/fin-sent"
    folder, app = _published_review_space(labelled, tmp_path / "space", dataset, space_modules, capsys)
    monkeypatch.chdir(tmp_path)
    hub.stub.stop()  # the Hub goes away
    logged, page = _stopped_space(app, folder, capsys, monkeypatch)
    assert page == ["# Review unavailable", logged]
    assert logged.startswith(f"This review Space cannot save decisions: it could not reach the dataset repo {dataset}")
    assert "For the Space's owner: restart the Space, and check the repo's name in config.json" in logged


# what the Hub answers each auth-check of a repo (write, then read): None grants it, else (status, X-Error-Code,
# X-Error-Message), which huggingface_hub's hf_raise_for_status turns into its errors as it does for the Hub's
AUTH_ANSWERS: dict[str, tuple[Any, Any]] = {
    "writable": (None, None),
    "read-only": ((404, "RepoNotFound", None), None),  # the write check may answer "not found" for a readable repo
    "forbidden": ((403, None, "You don't have the rights to write"), None),
    "gated": ((403, "GatedRepo", None), (403, "GatedRepo", None)),
    "absent": ((404, "RepoNotFound", None), (404, "RepoNotFound", None)),
    "bad-token": ((401, None, "Invalid credentials in Authorization header"), None),
    "down": ((500, None, None), None),
}


def test_the_publish_and_the_space_classify_a_dataset_repo_alike(
    hub: Any, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    """``publish review`` and the Space checked the dataset repo each their own way: a gated repo was "exists" at
    publish time but "absent" in the Space (left to CommitScheduler), and a 403 a refusal to publish but a raw
    HTTP error in the Space. Both now ask ``review_space.repo_access``: writable, there but not writable, or absent."""
    import httpx2
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError
    from huggingface_hub.utils import hf_raise_for_status

    from sxhub import review_space
    from sxhub.errors import PublishError
    from sxhub.review import check_decisions_repo

    def auth_check(self: Any, repo_id: str, *, repo_type: str | None = None, write: bool = False, **_: Any) -> None:
        answer = AUTH_ANSWERS[repo_id.split("/")[1]][0 if write else 1]
        if answer is not None:
            status, code, message = answer
            headers = {k: v for k, v in (("X-Error-Code", code), ("X-Error-Message", message)) if v}
            url = f"{hub.url}/api/{repo_type}s/{repo_id}/auth-check" + ("/write" if write else "")
            hf_raise_for_status(httpx2.Response(status, headers=headers, request=httpx2.Request("GET", url)))

    monkeypatch.setattr(HfApi, "auth_check", auth_check)
    api = HfApi(token=hub.token)
    access = {name: review_space.repo_access(api, f"{hub.user}/{name}") for name in list(AUTH_ANSWERS)[:5]}
    assert access == {
        "writable": review_space.WRITABLE,
        "read-only": review_space.NOT_WRITABLE,
        "forbidden": review_space.NOT_WRITABLE,
        "gated": review_space.NOT_WRITABLE,
        "absent": review_space.ABSENT,
    }
    for name in ("bad-token", "down"):  # a rejected token or a failing Hub is not a classification
        with pytest.raises(HfHubHTTPError):
            review_space.repo_access(api, f"{hub.user}/{name}")
    for name, said in access.items():
        repo = f"{hub.user}/{name}"
        if said == review_space.NOT_WRITABLE:
            with pytest.raises(review_space.NotWritable, match=f"{repo} exists, and this token may not write to it"):
                review_space.check_writable(repo, token=hub.token)
            with pytest.raises(PublishError, match=f"the token cannot write to dataset repo '{repo}'"):
                check_decisions_repo(repo, token=hub.token)
        else:
            review_space.check_writable(repo, token=hub.token)
            caplog.clear()
            check_decisions_repo(repo, token=hub.token)
            warned = ["is not on the Hub: the review Space creates it" in m for m in sxhub_logged(caplog)]
            assert warned == ([] if said == review_space.WRITABLE else [True]), name


def test_a_review_space_whose_pushes_fail_after_it_started_tells_the_reviewer(
    hub: Any, labelled: Path, tmp_path: Path, space_modules: Any, capsys: Any
) -> None:
    """CommitScheduler pushes in a background thread and only logs a failure: with the token revoked after the Space
    started, reviewers read "Saved" while nothing reached the dataset repo (and a restart without persistent storage
    lost it all). The page now says so above every message until a push succeeds, and the decisions made meanwhile
    reach the repo with that push."""
    from huggingface_hub import HfApi

    dataset = f"{hub.user}/fin-sent"
    folder, app = _published_review_space(labelled, tmp_path / "space", dataset, space_modules, capsys)
    review, scheduler = app.load_space(folder, token=hub.token, decisions_folder=tmp_path / "d")
    try:
        demo = app.build_demo(
            review, reviewer="alice", unsaved=lambda: app.push_warning(scheduler, dataset, persistent=False)
        )
        keep = next(f.fn for f in demo.fns.values() if getattr(f.fn, "__name__", "") == "on_keep")
        pos = review.decide(0, "alice", ["negative"])
        scheduler.trigger().result(timeout=60)
        assert app.push_warning(scheduler, dataset, persistent=False) is None
        assert keep(pos, "alice")[7] == "Kept the current label."

        good = scheduler.api
        scheduler.api = HfApi(endpoint=good.endpoint, token="read_only_token")  # the secret revoked / made read-only
        pos = review.decide(pos + 1, "alice", ["neutral"])
        with pytest.raises(Exception, match="403"):
            scheduler.trigger().result(timeout=60)
        status = keep(pos, "alice")[7]
        assert status.startswith("**Not yet in the dataset repo:**") and status.endswith("Kept the current label.")
        assert f"`{dataset}` failed (403" in status and "lost if it restarts before a push succeeds" in status
        assert "persistent storage" in app.push_warning(scheduler, dataset, persistent=True)

        scheduler.api = good  # the owner fixed the secret: the next push carries every decision since
        scheduler.trigger().result(timeout=60)
        assert app.push_warning(scheduler, dataset, persistent=False) is None
        assert keep(pos + 1, "alice")[7] == "Kept the current label."
    finally:
        scheduler.stop()
    pushed = [f for f in hub.stub.list_files(dataset, repo_type="dataset") if f.startswith("review/decisions/")]
    assert len(pushed) == 1
    lines = hub.stub.read_file(dataset, pushed[0], repo_type="dataset").decode().splitlines()
    assert len(lines) == 4  # two decisions and two keeps, the ones made while pushes failed included


def test_a_reviewed_csv_can_be_written_as_parquet(tmp_path: Path, capsys: Any) -> None:
    """A CSV's `failed` column reads as text ("False"); apply-review set the reviewed rows' cells to the bool False
    beside it, so `-o OUT.parquet` stopped with pyarrow's "Could not convert 'False' with type str" (exit 1) after
    the work, and nothing was written."""
    rows = labelled_rows()
    labelled = write_table(pd.DataFrame(rows), tmp_path / "labelled.csv")
    decisions = tmp_path / "decisions.jsonl"
    decisions.write_text(json.dumps(_decision(rows, 3, ["negative"])) + "\n", encoding="utf-8")
    out = tmp_path / "reviewed.parquet"
    code, stdout, err = run_cli(["apply-review", str(labelled), str(decisions), "-o", str(out)], capsys)
    assert code == 0, err
    assert "1 text(s) now labelled by people, 1 changed" in stdout
    back = pd.read_parquet(out)
    assert back["failed"].tolist() == [i == 4 for i in range(len(rows))]  # the failed row stays failed
    assert back.loc[3, "label"] == "negative" and back.loc[3, "label_source"] == "human"


def test_a_queue_made_before_labels_changed_says_which_rows_changed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A labelled file whose labels changed after `sxhub doubts` made the queue (apply-review --in-place, a second
    teacher) was reviewed with the old queue in silence: each text showed its new label beside the doubt and the
    suggested label worked out for the old one. The rows whose label changed are named, with the fix."""
    rows = labelled_rows()
    queue = write_table(pd.DataFrame(queue_rows(rows, [7, 2, 0, 5, 1, 3, 6, 8])), tmp_path / "queue.csv")
    rows[2]["label"], rows[6]["label"] = NAMES[0], NAMES[2]
    changed = write_table(pd.DataFrame(rows), tmp_path / "labelled.parquet")
    with caplog.at_level("WARNING", logger="sxhub.review"):
        items, _ = load_review(changed, queue=queue)
    assert [i.row for i in items] == [7, 2, 0, 5, 1, 3, 6, 8]  # still reviewed, in the queue's order
    assert sxhub_logged(caplog) == [
        f"2 row(s) of queue {str(queue)!r} have another label now than when the queue was made (rows 2, 6): their "
        "doubt and suggested label are of the old one. Make the queue again: sxhub doubts LABELLED -o QUEUE."
    ]
    caplog.clear()
    same = write_table(pd.DataFrame(labelled_rows()), tmp_path / "same.parquet")
    with caplog.at_level("WARNING", logger="sxhub.review"):
        load_review(same, queue=queue)  # CSV cells read back as the names they were
    assert not sxhub_logged(caplog)


def test_twins_that_failed_a_check_are_not_reviewed_and_apply_review_keeps_them_as_they_are(
    tmp_path: Path, capsys: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """train leaves out a sxhub twins file's twins that failed a check (ok false), but review showed them like any
    row (a twin that kept @anna and her e-mail, one whose label changed), with or without a queue doubts had made
    before it left them out. They are not shown, and one line says how many; apply-review writes every row back,
    those twins with their label and ok false, so that train still leaves them out."""
    twins = twins_shaped(tmp_path / "twins.csv")
    frame = read_table(twins)
    queue = write_table(
        pd.DataFrame({"row": range(12), "text": frame["text"][:12], "label": frame["label"][:12]}).iloc[::-1],
        tmp_path / "queue.csv",
    )
    for with_queue in (None, queue):
        caplog.clear()
        review = _review(twins, tmp_path, with_queue)
        assert sorted(item.row for item in review.items) == list(range(10))
        assert not {LEAKED_TWIN, CHANGED_TWIN} & {item.text for item in review.items}
        assert "review: 2 twin(s) that failed a check of sxhub twins (ok false; see 'flags') left out" in caplog.text
    review.decide([item.row for item in review.items].index(0), "alice", ["negative"])  # row 0 was positive
    out = tmp_path / "reviewed.csv"
    code, _, err = run_cli(["apply-review", str(twins), str(tmp_path / "decisions.jsonl"), "-o", str(out)], capsys)
    assert code == 0, err
    reviewed = read_table(out)
    labels = reviewed["label"].tolist()
    assert len(reviewed) == 13 and [labels[0], *labels[10:12]] == ["negative", "positive", "negative"]
    assert (
        reviewed["label_source"].tolist().count("human") == 1
        and reviewed["ok"].astype(str).tolist()[10:] == ["False"] * 3
    )
    data = load_labelled(out, label_names=["positive", "negative"], multi_label=False)
    assert len(data.texts) == 10 and data.n_flagged_twins == 2 and data.n_failed == 1


def test_a_decision_on_a_failed_or_flagged_twin_is_not_counted_as_labelled_by_people(
    tmp_path: Path, capsys: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A decision on a twin that failed (no label: row 12) or failed a check (ok false: row 10) was applied and
    counted: "3 text(s) now labelled by people", the failed twin's failed flag and error cleared, yet train, evaluate
    and tune leave both rows out (and counted the failed twin as a flagged one). They are not applied now: the rows
    keep what twins wrote, the count holds the one real text, and a warning and --json name the twins."""
    twins = twins_shaped(tmp_path / "twins.csv")
    frame = read_table(twins)
    events = [
        {"id": f"d{row}", "time": f"2026-01-01T00:00:0{i}+00:00", "reviewer": "alice", "action": "label", "row": row}
        | {"text_hash": text_hash(str(frame["text"][row])), "labels": ["negative"], "previous": []}
        for i, row in enumerate((0, 10, 12))
    ]
    decisions = tmp_path / "decisions.jsonl"
    decisions.write_text("".join(json.dumps(e) + "\n" for e in events))
    out = tmp_path / "reviewed.csv"
    code, stdout, err = run_cli(["apply-review", str(twins), str(decisions), "-o", str(out)], capsys)
    assert code == 0, err
    assert "1 decision(s) by 1 reviewer(s): 1 text(s) now labelled by people, 1 changed" in stdout
    assert "apply-review: 2 twin(s) that failed a check" in caplog.text and "rows [10, 12]" in caplog.text
    reviewed = read_table(out)
    assert reviewed["label_source"].tolist() == ["human"] + ["teacher"] * 12
    for column in ("label", "failed", "error"):  # the twins' rows as twins wrote them
        assert reviewed[column].astype(str).tolist()[1:] == frame[column].astype(str).tolist()[1:], column
    assert reviewed["label"][0] == "negative" and reviewed["error"][12] == "twin not labelled: timeout"
    before = load_labelled(twins, label_names=["positive", "negative"], multi_label=False)
    after = load_labelled(out, label_names=["positive", "negative"], multi_label=False)
    assert (after.n_failed, after.n_flagged_twins) == (before.n_failed, before.n_flagged_twins) == (1, 2)
    code, stdout, _ = run_cli(["apply-review", str(twins), str(decisions), "-o", str(out), "--json"], capsys)
    summary = json.loads(stdout)
    assert (summary["reviewed"], summary["decisions"], summary["twins_left_out"]) == (1, 1, [10, 12])


def test_a_review_space_that_cannot_create_its_dataset_repo_leaves_no_decisions_folder(
    hub: Any, labelled: Path, tmp_path: Path, space_modules: Any, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Space whose dataset repo is not on the Hub yet, with a token that cannot create it (read-only, or the repo
    in another's namespace), served "Review unavailable" but had made its ``decisions/`` folder first
    (CommitScheduler makes its folder before it creates the repo), an empty folder left behind by a Space that keeps
    nothing. Now the refusal comes before any folder is made."""
    from huggingface_hub import HfApi

    for dataset, token in ((f"{hub.user}/new-decisions", "read_only_token"), ("someone-else/decisions", hub.token)):
        work = tmp_path / dataset.replace("/", "-")
        work.mkdir()
        folder, app = _published_review_space(labelled, work / "space", dataset, space_modules, capsys)
        monkeypatch.chdir(work)  # the Space's decisions/ folder
        monkeypatch.setenv("HF_TOKEN", token)
        logged, page = _stopped_space(app, folder, capsys, monkeypatch)
        assert page == ["# Review unavailable", logged]
        assert logged.startswith(
            f"This review Space cannot save decisions: it keeps them in the dataset repo {dataset}"
        )
        assert not (work / "decisions").exists(), dataset
        assert not HfApi(token=hub.token).repo_exists(dataset, repo_type="dataset")
        for name in [m for m in sys.modules if m.startswith("sxhub_review")]:  # the next Space's own modules
            sys.modules.pop(name)


def test_a_review_space_whose_earlier_decisions_cannot_be_downloaded_leaves_no_folder_or_scheduler(
    hub: Any, labelled: Path, tmp_path: Path, space_modules: Any, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Space made its ``decisions/`` folder and started CommitScheduler's thread before it downloaded the earlier
    decisions: with that download failing (the Hub dropped the connection), it served "Review unavailable" yet left
    the empty folder behind, and a scheduler that went on pushing that folder every minute for a Space that keeps
    nothing. Now nothing is left: no folder, no scheduler that has not been stopped, no push."""
    import threading

    import httpx2
    import huggingface_hub

    dataset = f"{hub.user}/fin-sent"
    folder, app = _published_review_space(labelled, tmp_path / "space", dataset, space_modules, capsys)
    monkeypatch.chdir(tmp_path)  # the Space's decisions/ folder

    def dropped(*args: Any, **kwargs: Any) -> str:
        raise httpx2.ConnectError("Connection reset by peer")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", dropped)
    before = set(threading.enumerate())
    logged, page = _stopped_space(app, folder, capsys, monkeypatch)
    assert page == ["# Review unavailable", logged]
    assert logged.startswith(f"This review Space cannot save decisions: it could not reach the dataset repo {dataset}")
    assert "(Connection reset by peer)" in logged
    assert not (tmp_path / "decisions").exists()
    running = [
        t._target.__self__  # type: ignore[attr-defined]
        for t in set(threading.enumerate()) - before
        if getattr(getattr(t, "_target", None), "__name__", "") == "_run_scheduler"
    ]
    assert [s for s in running if not s._CommitScheduler__stopped] == []
    assert [r for r in hub.stub.requests if "/commit/" in r] == []


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_apply_review_again_on_its_multi_label_output_gives_a_failed_text_no_label(
    tmp_path: Path, capsys: Any, suffix: str
) -> None:
    """A multi-label text whose every vote failed has no label (``labels`` None, ``failed`` true). apply-review kept
    it so, but applied again to its own output (a second round of review, or the same decisions again) it read the
    empty ``teacher_labels`` cell as "none of the labels" and wrote ``labels`` [] for the failed text: a guessed
    answer, and a second run that differed from the first. Now the failed text keeps no label, and the second run
    writes what the first wrote."""
    spec = _spec(multi_label=True)
    task = tmp_path / "task.yaml"
    task.write_text(spec.to_yaml(), encoding="utf-8")
    rows = [
        {"text": "profit up, costs down", "labels": ["positive"], "failed": False, "error": ""},
        {"text": "the board met", "labels": [], "failed": False, "error": ""},  # none of the labels: an answer
        {"text": "every teacher failed", "labels": None, "failed": True, "error": "timeout"},
        {"text": "sales fell", "labels": ["neutral"], "failed": False, "error": ""},
    ]
    labelled = write_table(pd.DataFrame(rows), tmp_path / f"labelled{suffix}")
    decision = {"id": "1", "time": "2026-01-01T00:00:00.000000+00:00", "reviewer": "alice", "action": "label"}
    decision |= {"row": 3, "text_hash": text_hash("sales fell"), "labels": ["negative"], "previous": ["neutral"]}
    decisions = tmp_path / "decisions.jsonl"
    decisions.write_text(json.dumps(decision) + "\n", encoding="utf-8")
    outs = []
    source = labelled
    for run in range(2):
        out = tmp_path / f"reviewed{run}{suffix}"
        args = ["apply-review", str(source), str(decisions), "-o", str(out), "--task", str(task)]
        code, stdout, err = run_cli(args, capsys)
        assert code == 0, err
        assert "1 text(s) now labelled by people, 1 changed" in stdout
        # the rows add up: reviewed + by the teachers ("none of the labels" is their answer) + the failed one
        assert "(4 row(s): 1 labelled by people, 2 by the teachers, 1 with no label)" in stdout
        data = load_labelled(out, label_names=NAMES, multi_label=True)
        assert data.n_failed == 1 and len(data.texts) == 3
        frame = read_table(out)
        cells = [None if c is None or (isinstance(c, float) and pd.isna(c)) else list(c) for c in frame["labels"]]
        assert cells == [["positive"], [], None, ["negative"]], (run, cells)
        assert failed_flags(frame["failed"]).tolist() == [False, False, True, False]
        outs.append(cells)
        source = out
    assert outs[0] == outs[1]


def test_decisions_given_in_python_are_checked_as_a_file_s_lines_are() -> None:
    """apply_review(frame, [{"row": 0, "label": "negative"}]) (a notebook's corrections, typed as
    ``Sequence[Mapping]``) ended in ``KeyError: 'reviewer'`` from the replay, one mapping in a ``TypeError``; each is
    one line naming ``decisions=``, and decisions in the form `sxhub review` writes are applied, in time order."""
    frame = pd.DataFrame(labelled_rows())
    line = {"id": "a", "time": "2026-12-05T07:00:00+00:00", "reviewer": "ann", "action": "label", "row": 0}
    line.update(text_hash=text_hash(frame.text[0]), labels=["negative"])
    refused = {
        "its action None is not one of label, keep, skip, undo": [{"row": 0, "label": "negative"}],
        "it names no reviewer": [{k: v for k, v in line.items() if k != "reviewer"}],
        "it has no 'id'": [{**line, "id": ""}],
        "its labels 'negative' are not a list of label names": [{**line, "labels": "negative"}],
        # was "1 decision(s) (rows [0]) were made on other texts than this file holds at those rows"
        "it has no 'text_hash' (sxhub.review_log.text_hash of its text)": [
            {k: v for k, v in line.items() if k != "text_hash"}
        ],
        "it is a str, not a mapping": ["negative"],
    }
    for why, decisions in refused.items():
        with pytest.raises(InputError) as caught:
            apply_review(frame, decisions)
        assert str(caught.value).startswith(f"decisions[0] is not a decision line: {why}; pass decision mappings")
    with pytest.raises(InputError, match=r"^decisions= takes a list of decision mappings .*, not a dict\.$"):
        apply_review(frame, line)  # type: ignore[arg-type]
    # the same text decided twice by ann: the later line wins though it comes first in the list
    later = {**line, "id": "b", "time": "2026-12-05T08:00:00+00:00", "labels": ["neutral"]}
    result = apply_review(frame, (later, line))
    assert result.frame.label[0] == "neutral" and result.n_reviewed == 1 and result.reviewers == ["ann"]
