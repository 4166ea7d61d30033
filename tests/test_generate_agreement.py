"""generate --min-agreement: only texts whose vote reached the agreement are kept, rounds sized by the share that
reached it, round 1 the same requests as a plain run (its cache answers them), with --balance too, and the CLI."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner
from fake_openai_server import Answer, FakeOpenAIServer, schema_of, user_text
from test_generate_balance import ASKED, hashed_embed, write_task, written_for

from sxhub.cache import LabelCache
from sxhub.cli import cli, main
from sxhub.errors import InputError
from sxhub.generate import GenerateOptions, generate
from sxhub.generate_rounds import ROUNDS_MAX
from sxhub.spec import TaskSpec
from sxhub.teachers import FakeTeacher

VOTED3 = TaskSpec(name="fin", labels=["positive", "neutral", "negative"], samples=3)
WRITTEN_SEED = re.compile(r"(\w+) text (\d+)")


def shaky_teacher() -> FakeTeacher:
    """Writes '<label> text <seed>'; votes that label unanimously, except on texts whose seed is a multiple of 3,
    where the third vote on the text says another label (agreement 2/3)."""
    votes_on: Counter[str] = Counter()
    teacher = FakeTeacher()

    def responder(messages: list[dict[str, str]]) -> Any:
        user = messages[-1]["content"]
        asked = ASKED.search(user)
        if "Write one new text" in user and asked:
            return {"text": f"{asked.group(1)} text {teacher.history[-1].seed}"}
        found = WRITTEN_SEED.search(user)
        assert found, user
        label, seed = found.group(1), int(found.group(2))
        votes_on[found.group(0)] += 1
        if seed % 3 == 0 and votes_on[found.group(0)] % 3 == 0:
            return {"label": "neutral" if label != "neutral" else "positive"}
        return {"label": label}

    teacher.responder = responder
    return teacher


def run(options: GenerateOptions, teacher: FakeTeacher, cache: Any = False, spec: TaskSpec = VOTED3) -> Any:
    return generate(spec, options, teachers=[teacher], embed=hashed_embed, progress=False, cache=cache, concurrency=1)


def test_options_check_the_minimum_and_give_more_rounds() -> None:
    assert GenerateOptions(n=3, min_agreement=0.9).max_rounds == ROUNDS_MAX
    assert GenerateOptions(n=3, min_agreement=0.9, max_rounds=2).max_rounds == 2
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(InputError, match=r"min_agreement|--min-agreement"):
            GenerateOptions(n=3, min_agreement=bad)


def test_keeps_only_texts_that_reached_the_agreement_and_writes_the_shortfall() -> None:
    teacher = shaky_teacher()
    result = run(GenerateOptions(n=12, min_agreement=0.9, seed=0), teacher)
    frame = result.frame
    assert len(frame) == 12 and frame["text"].is_unique and not frame["failed"].any()
    assert (frame["agreement"] >= 0.9).all()
    assert (frame["label"] == frame["prompted_label"]).all()
    # round 1: seeds 0..11, the 4 multiples of 3 reach only 2/3; 8 of 12 reached it, so round 2 asks 4 / (8/12) = 6
    # (seeds 100015..100020 with the round stride): 100017 and 100020 fall short, the other 4 fill the set exactly
    report = result.agreement
    assert report == {
        "min_agreement": 0.9,
        "kept": 12,
        "rounds": 2,
        "max_rounds": ROUNDS_MAX,
        "requests": 18,
        "reach_rate": round(12 / 18, 4),
        "highest": 1.0,
        "given_up": False,
    }
    assert len(written_for(teacher)) == 18
    assert result.dropped == {
        "invalid": 0,
        "failed": 0,
        "copied_prompt": 0,
        "duplicate": 0,
        "low_agreement": 6,
        "unlabelled": 0,
        "surplus": 0,
    }
    assert result.summary()["min_agreement"] == report
    assert "12 reached agreement 0.9 after 2 rounds (18 written, 67% reached it)" in result.summary_line()


def test_round_one_is_a_plain_runs_requests_so_its_cache_answers_them(tmp_path: Path) -> None:
    with LabelCache(tmp_path / "cache") as cache:
        plain = run(GenerateOptions(n=12, seed=0), shaky_teacher(), cache=cache)
    assert len(plain.frame) == 12 and (plain.frame["agreement"] < 0.9).sum() == 4
    again = shaky_teacher()
    with LabelCache(tmp_path / "cache") as cache:
        confident = run(GenerateOptions(n=12, min_agreement=0.9, seed=0), again, cache=cache)
    # only round 2 reaches the teacher: its 6 writes and their 3 votes each
    assert len(written_for(again)) == 6 and len(again.history) == 6 + 6 * 3
    kept_from_plain = plain.frame[plain.frame["agreement"] >= 0.9]
    assert confident.frame["text"].tolist()[:8] == kept_from_plain["text"].tolist()


def test_a_shortfall_is_reported_never_padded(caplog: pytest.LogCaptureFixture) -> None:
    teacher = shaky_teacher()
    with caplog.at_level(logging.WARNING, logger="sxhub.generate_rounds"):
        result = run(GenerateOptions(n=12, min_agreement=1.0, seed=0, max_rounds=1), teacher)
    assert len(result.frame) == 8 and result.agreement is not None and result.agreement["kept"] == 8
    warning = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warning) == 1 and "8 of 12 texts reached it after 1 rounds" in warning[0]
    assert "--max-rounds" in warning[0] and "--min-agreement" in warning[0]


def never_unanimous() -> tuple[FakeTeacher, Any]:
    """A teacher (and the same as a server's answer function) that writes '<label> text <seed>' and votes that label
    on 2 of every 3 votes on a text, another on the third: agreement 2/3 at best, never 1."""
    votes: Counter[str] = Counter()
    counting = threading.Lock()  # the server answers the votes on a text concurrently, from one thread each
    teacher = FakeTeacher()

    def vote(user: str) -> str:
        found = WRITTEN_SEED.search(user)
        assert found, user
        with counting:  # unlocked, two votes could read the same count: all three alike, or two dissenting
            votes[found.group(0)] += 1
            count = votes[found.group(0)]
        label = found.group(1)
        return label if count % 3 else ("positive" if label != "positive" else "negative")

    def responder(messages: list[dict[str, str]]) -> Any:
        user = messages[-1]["content"]
        asked = ASKED.search(user)
        if "Write one new text" in user and asked:
            return {"text": f"{asked.group(1)} text {teacher.history[-1].seed}"}
        return {"label": vote(user)}

    def server(body: dict[str, Any], n: int) -> Answer:
        if "text" in schema_of(body).get("properties", {}):
            asked = ASKED.search(user_text(body))
            return Answer(json.dumps({"text": f"{asked.group(1) if asked else 'x'} text {body.get('seed')}"}))
        return Answer(json.dumps({"label": vote(user_text(body))}))

    teacher.responder = responder
    return teacher, server


def test_a_minimum_no_vote_reaches_stops_after_two_barren_rounds() -> None:
    """--min-agreement above every vote (1, with votes of 2 of 3 at best) wrote 4 x n requests in each of the 8
    rounds (29 x n in all) to keep nothing. Rounds that keep nothing stop, as --balance gives up a label, and the
    report names the highest agreement reached (what the option could be)."""
    teacher, _ = never_unanimous()
    result = run(GenerateOptions(n=4, min_agreement=1.0, seed=0), teacher)
    assert len(result.frame) == 0
    report = result.agreement
    assert report is not None and report["rounds"] == 2 and report["given_up"] is True
    assert report["requests"] == 4 + 16 == len(written_for(teacher))  # round 2: 4 per missing text, then stop
    assert report["highest"] == round(2 / 3, 4)


def test_cli_a_minimum_no_vote_reaches_is_one_line_naming_the_highest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI's error blamed the writer ("fix the writer (refusals, invalid answers)") when every text was written
    and voted on and only --min-agreement kept them out: it names the option and the highest agreement reached."""
    _, server_answer = never_unanimous()
    out = tmp_path / "gen.csv"
    with FakeOpenAIServer(server_answer) as server:
        task = write_task(tmp_path, VOTED3, server.url)
        args = ["generate", str(task), "-o", str(out), "--n", "3", "--min-agreement", "1", "--min-distance", "0"]
        with pytest.raises(SystemExit) as info:
            main(["-q", *args, "--cache-dir", str(tmp_path / "c")])
    assert info.value.code == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, errors
    assert "--min-agreement 1 (the highest agreement reached was 0.6667, after 15 texts written)" in errors[0]
    assert "lower --min-agreement" in errors[0] and "fix the writer" not in errors[0]
    assert pd.read_csv(out).empty


def test_with_balance_a_text_counts_toward_its_label_only_once_it_reached_the_agreement() -> None:
    result = run(GenerateOptions(n=9, balance=True, min_agreement=0.9, seed=0), shaky_teacher())
    frame = result.frame
    assert Counter(frame["label"]) == {"positive": 3, "neutral": 3, "negative": 3}
    assert (frame["agreement"] >= 0.9).all()
    assert result.dropped["low_agreement"] > 0 and result.balance is not None and result.balance["short"] == {}


def shaky_server(body: dict[str, Any], n: int) -> Answer:
    """Writes '<label> text <seed>'; votes that label, but 'negative' on the vote whose seed is odd for texts whose
    seed is a multiple of 3."""
    if "text" in schema_of(body).get("properties", {}):
        asked = ASKED.search(user_text(body))
        return Answer(json.dumps({"text": f"{asked.group(1) if asked else 'x'} text {body.get('seed')}"}))
    found = WRITTEN_SEED.search(user_text(body))
    assert found
    label, seed = found.group(1), int(found.group(2))
    if seed % 3 == 0 and int(body.get("seed") or 0) % 2:
        return Answer(json.dumps({"label": "negative" if label != "negative" else "positive"}))
    return Answer(json.dumps({"label": label}))


def test_cli_min_agreement_writes_only_confident_texts_and_reruns_free(tmp_path: Path) -> None:
    spec = TaskSpec(name="sentiment", labels=["positive", "negative"], samples=3)
    out = tmp_path / "gen.parquet"
    runner = CliRunner()
    with FakeOpenAIServer(shaky_server) as server:
        task = write_task(tmp_path, spec, server.url)
        args = ["generate", str(task), "-o", str(out), "--n", "6", "--min-agreement", "1", "--min-distance", "0"]
        args += ["--cache-dir", str(tmp_path / "c")]
        first = runner.invoke(cli, [*args, "--json"])
        assert first.exit_code == 0, first.output
        summary = json.loads(first.stdout)
        assert summary["n"] == 6 and summary["min_agreement"]["kept"] == 6
        frame = pd.read_parquet(out)
        assert (frame["agreement"] == 1.0).all() and len(frame) == 6
        rerun = runner.invoke(cli, args)
        assert rerun.exit_code == 0, rerun.output
        assert "6 reached agreement 1" in rerun.stdout and " 0 requests (" in rerun.stdout
        pd.testing.assert_frame_equal(pd.read_parquet(out), frame)


def test_cli_min_agreement_out_of_range_exits_2_naming_the_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task = write_task(tmp_path, VOTED3, "http://127.0.0.1:9/v1")
    with pytest.raises(SystemExit) as info:
        main(["-q", "generate", str(task), "-o", str(tmp_path / "x.csv"), "--n", "4", "--min-agreement", "0"])
    assert info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]  # click's usage lines, then the one error line
    assert error.startswith("Error:") and "--min-agreement" in error and "0<x<=1" in error.replace(" ", "")


def test_a_multi_label_task_keeps_texts_by_their_mean_agreement_over_the_labels() -> None:
    """A multi-label text's agreement is one share per label: ``float()`` of it ended every multi-label
    ``--min-agreement`` run in a TypeError, after all the writing had been paid for. It is read as one number as
    ``train --min-agreement`` reads it (the mean over the labels a vote named)."""
    spec = TaskSpec(name="4p", multi_label=True, labels=["Product", "Place", "Price"], samples=2)
    teacher = FakeTeacher()
    written = Counter[str]()

    def responder(messages: list[dict[str, str]]) -> Any:
        user = messages[-1]["content"]
        if "Write one new text" in user:
            return {"text": f"text {teacher.history[-1].seed}"}
        text = re.search(r"text (\d+)", user)
        assert text
        written[text.group(0)] += 1
        # texts with an odd seed get a split second vote on Price: agreement {Product: 1.0, Price: 0.5}
        split = int(text.group(1)) % 2 and written[text.group(0)] % 2 == 0
        return {"labels": ["Product"] if split else ["Product", "Price"]}

    teacher.responder = responder
    result = run(GenerateOptions(n=4, min_agreement=0.9, seed=0), teacher, spec=spec)
    frame = result.frame
    assert len(frame) == 4 and not frame["failed"].any()
    assert all({v for v in cell.values() if v is not None} == {1.0} for cell in frame["agreement"])
    assert result.dropped["low_agreement"] >= 2


@pytest.mark.parametrize("mode", ["min_agreement", "balance"])
def test_a_round_cut_by_max_minutes_reports_the_requests_sent_not_those_planned(
    mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    """--max-minutes stopped a round after a few of its requests: the report counted every planned request as
    written ("30 written, 17% reached it" for 5 written that all reached it; --balance's requests_per_label and
    hit_rate alike), and the warning told to raise --max-rounds. The rates are over the requests sent, and the
    warning names the cap."""
    import time

    def slow(messages: list[dict[str, str]]) -> Any:
        user = messages[-1]["content"]
        asked = ASKED.search(user)
        if "Write one new text" in user and asked:
            time.sleep(0.05)
            return {"text": f"{asked.group(1)} text {teacher.history[-1].seed}"}
        found = WRITTEN_SEED.search(user)
        assert found, user
        return {"label": found.group(1)}  # every text gets the label it was written for, unanimously

    teacher = FakeTeacher(responder=slow)
    extra = {"min_agreement": 0.5} if mode == "min_agreement" else {"balance": True}
    options = GenerateOptions(n=30, seed=0, max_minutes=0.004, **extra)  # 0.24 s: a few of the 30 requests
    with caplog.at_level(logging.WARNING, logger="sxhub.generate_rounds"):
        result = run(options, teacher, spec=TaskSpec(name="fin", labels=["positive", "neutral", "negative"]))
    sent = len(written_for(teacher))
    assert 1 <= len(result.frame) == sent < 30 and "time cap" in result.ledger["stopped"]
    if mode == "min_agreement":
        assert result.agreement["requests"] == sent and result.agreement["reach_rate"] == 1.0
        assert f"({sent} written, 100% reached it)" in result.summary_line()
    else:
        assert sum(result.balance["requests_per_label"].values()) == sent
        assert all(rate == 1.0 for rate in result.balance["hit_rate"].values() if rate is not None)
    warning = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warning) == 1 and "--max-minutes 0.004" in warning[0] and "--max-rounds" not in warning[0]
