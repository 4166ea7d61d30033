"""generate --balance: quotas per voted label, sized by the measured hit rate, over-quota and unlabelled texts dropped,
shortfalls reported (never padded), free reruns from the cache, multi-label refused, and the CLI flag."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from fake_openai_server import Answer, FakeOpenAIServer, schema_of, user_text

from sxhub.cache import LabelCache
from sxhub.cli import cli, main
from sxhub.errors import InputError
from sxhub.generate import DEFAULT_MAX_ROUNDS, GenerateOptions, generate
from sxhub.generate_rounds import BALANCE_MAX_BOOST, BALANCE_MAX_ROUNDS, balance_quotas, requests_for
from sxhub.spec import TaskSpec
from sxhub.teachers import FakeTeacher

SENTIMENT3 = TaskSpec(name="fin", labels=["positive", "neutral", "negative"], samples=1)
FOUR_P = TaskSpec(name="4p", multi_label=True, labels=["Product", "Place", "Price", "Promotion"], samples=1)
ASKED = re.compile(r"would label '(\w+)'")
WRITTEN = re.compile(r"(\w+) text (\d+)")


def hashed_embed(texts: Sequence[str]) -> np.ndarray:
    """A random unit vector per distinct text (seeded by its hash): distinct texts are never near duplicates."""
    rows = []
    for text in texts:
        rng = np.random.default_rng(int(hashlib.md5(text.encode()).hexdigest()[:8], 16))
        vec = rng.standard_normal(256)
        rows.append(vec / np.linalg.norm(vec))
    return np.asarray(rows, dtype=np.float32)


def biased_teacher(vote: Any) -> FakeTeacher:
    """Writes '<label> text <i>' (i counts per label asked) and votes ``vote(label asked, i)`` (a str or None)."""
    written: Counter[str] = Counter()

    def responder(messages: list[dict[str, str]]) -> Any:
        user = messages[-1]["content"]
        asked = ASKED.search(user)
        if "Write one new text" in user and asked:
            label = asked.group(1)
            written[label] += 1
            return {"text": f"{label} text {written[label] - 1}"}
        found = WRITTEN.search(user)
        assert found, user
        answer = vote(found.group(1), int(found.group(2)))
        return {"label": answer} if answer else "not a label"  # None: every vote on this text fails

    return FakeTeacher(responder=responder)


def half_negative(label: str, i: int) -> str | None:
    """Texts written for negative are voted neutral half the time; 'positive text 3' gets no valid vote."""
    if label == "negative":
        return "neutral" if i % 2 == 0 else "negative"
    return None if (label, i) == ("positive", 3) else label


def written_for(teacher: FakeTeacher) -> list[str]:
    users = [call.messages[-1]["content"] for call in teacher.history]
    return [m.group(1) for m in (ASKED.search(u) for u in users if "Write one new text" in u) if m]


def test_quotas_hit_rates_and_round_sizes() -> None:
    assert balance_quotas(["a", "b", "c"], 10) == {"a": 4, "b": 3, "c": 3}
    assert requests_for(5, asked=0, hits=0) == 5  # first round: as many as missing
    assert requests_for(5, asked=10, hits=5) == 10  # half of its texts get its vote: twice as many
    assert requests_for(1, asked=12, hits=11) == 2
    assert requests_for(3, asked=3, hits=0) == BALANCE_MAX_BOOST * 3  # never voted: bounded
    assert requests_for(0, asked=3, hits=1) == 0
    assert GenerateOptions(n=3).max_rounds == DEFAULT_MAX_ROUNDS == 3
    assert GenerateOptions(n=3, balance=True).max_rounds == BALANCE_MAX_ROUNDS
    assert GenerateOptions(n=3, balance=True, max_rounds=2).max_rounds == 2


def test_balance_meets_quotas_by_vote_and_drops_over_quota() -> None:
    teacher = biased_teacher(half_negative)
    options = GenerateOptions(n=30, balance=True, topics=["banks", "retail"], seed=3)
    result = generate(
        SENTIMENT3, options, teachers=[teacher], embed=hashed_embed, progress=False, cache=False, concurrency=1
    )
    frame = result.frame
    assert Counter(frame["label"]) == {"positive": 10, "neutral": 10, "negative": 10}
    assert not frame["failed"].any() and frame["text"].is_unique
    assert "positive text 3" not in set(frame["text"])  # its votes failed: dropped, not padded in
    # round 1 asks 10 per label: 5 texts written for negative are voted neutral (over quota), one positive text is
    # unlabelled; round 2 asks only for the short labels, sized by their hit rates: negative 5 missing at 0.5 -> 10,
    # positive 1 missing at 0.9 -> 2 (one of them over quota)
    assert Counter(written_for(teacher)) == {"positive": 12, "neutral": 10, "negative": 20}
    assert result.dropped == {
        "invalid": 0,
        "failed": 0,
        "copied_prompt": 0,
        "duplicate": 0,
        "over_quota": 11,
        "unlabelled": 1,
    }
    balance = result.summary()["balance"]
    assert balance["short"] == {} and balance["rounds"] == 2 and balance["given_up"] == []
    assert balance["hit_rate"] == {"positive": round(11 / 12, 4), "neutral": 1.0, "negative": 0.5}
    # the texts written for neutral fill neutral first; those voted neutral from negative prompts are the dropped ones
    assert (frame.loc[frame["label"] == "neutral", "prompted_label"] == "neutral").all()
    assert set(frame.loc[frame["prompted_label"] == "negative", "label"]) == {"negative"}
    assert set(frame["topic"]) == {"banks", "retail"}
    line = result.summary_line()
    assert "positive 10/10, neutral 10/10, negative 10/10 after 2 rounds (every label at quota)" in line


def test_balance_reports_a_label_never_voted_and_pads_nothing(caplog: pytest.LogCaptureFixture) -> None:
    teacher = biased_teacher(lambda label, i: "neutral" if label == "negative" else label)
    with caplog.at_level(logging.WARNING, logger="sxhub.generate_rounds"):
        result = generate(
            SENTIMENT3,
            GenerateOptions(n=9, balance=True),
            teachers=[teacher],
            embed=hashed_embed,
            progress=False,
            cache=False,
        )
    frame = result.frame
    assert Counter(frame["label"]) == {"positive": 3, "neutral": 3}  # nothing stands in for negative
    balance = result.balance
    assert balance is not None and balance["short"] == {"negative": 3} and balance["given_up"] == ["negative"]
    # asked 3, then 4 x 3 at hit rate 0; nothing gained twice in a row: no longer asked for
    assert balance["requests_per_label"]["negative"] == 3 + BALANCE_MAX_BOOST * 3 and balance["rounds"] == 2
    assert result.dropped["over_quota"] == 15 and result.dropped["unlabelled"] == 0
    assert "(SHORT of quota: negative 3)" in result.summary_line()
    warning = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warning) == 1 and "negative 0/3" in warning[0] and "--max-rounds" in warning[0]


def test_balance_rerun_from_the_cache_sends_no_request(tmp_path: Path) -> None:
    options = GenerateOptions(n=30, balance=True, seed=1)
    args: dict[str, Any] = {"embed": hashed_embed, "progress": False, "concurrency": 1}
    teacher = biased_teacher(half_negative)
    with LabelCache(tmp_path / "cache") as cache:
        first = generate(SENTIMENT3, options, teachers=[teacher], cache=cache, **args)
    assert first.balance is not None and first.balance["rounds"] == 2
    # the ledger of both rounds, writing and votes: every call the teacher got (the invalid votes' re-asks too)
    assert first.ledger["requests"] == len(teacher.history) > 2 * 30 and first.ledger["cached"] == 0
    again = biased_teacher(half_negative)
    with LabelCache(tmp_path / "cache") as cache:
        second = generate(SENTIMENT3, options, teachers=[again], cache=cache, **args)
    assert again.history == [] and second.ledger["requests"] == 0
    assert second.ledger["input_tokens"] == 0 and second.ledger["cached_input_tokens"] > 0
    pd.testing.assert_frame_equal(first.frame, second.frame)
    assert second.dropped == first.dropped and second.balance == first.balance


def test_balance_refuses_a_multi_label_task_before_any_request() -> None:
    teacher = FakeTeacher()
    with pytest.raises(InputError, match=r"single-label task.*drop --balance"):
        generate(FOUR_P, GenerateOptions(n=8, balance=True), teachers=[teacher], progress=False, cache=False)
    with pytest.raises(InputError, match=r"pass --n 3 or more"):
        generate(SENTIMENT3, GenerateOptions(n=2, balance=True), teachers=[teacher], progress=False, cache=False)
    assert teacher.history == []


def write_task(tmp_path: Path, spec: TaskSpec, url: str) -> Path:
    path = tmp_path / f"{spec.name}.yaml"
    path.write_text(spec.with_teachers([{"base_url": url, "model": "fake"}]).to_yaml(), encoding="utf-8")
    return path


def never_negative(body: dict[str, Any], n: int) -> Answer:
    """Writes a text per request (its seed makes it unique); votes 'positive' whatever the text."""
    if "text" in schema_of(body).get("properties", {}):
        asked = ASKED.search(user_text(body))
        return Answer(json.dumps({"text": f"{asked.group(1) if asked else 'x'} text {body.get('seed')}"}))
    return Answer(json.dumps({"label": "positive"}))


def test_cli_balance_flag_reports_the_shortfall_and_reruns_free(tmp_path: Path) -> None:
    spec = TaskSpec(name="sentiment", labels=["positive", "negative"], samples=1)
    runner = CliRunner()
    out = tmp_path / "gen.csv"
    with FakeOpenAIServer(never_negative) as server:
        task = write_task(tmp_path, spec, server.url)
        args = ["generate", str(task), "-o", str(out), "--n", "4", "--balance", "--cache-dir", str(tmp_path / "c")]
        run = runner.invoke(cli, [*args, "--json", "--min-distance", "0"])
        assert run.exit_code == 0, run.output
        summary = json.loads(run.stdout)
        assert summary["n"] == 2 and summary["balance"]["short"] == {"negative": 2}
        assert summary["balance"]["max_rounds"] == BALANCE_MAX_ROUNDS and summary["ledger"]["requests"] > 0
        assert summary["dropped"]["over_quota"] > 0
        frame = pd.read_csv(out)
        assert frame["label"].tolist() == ["positive", "positive"]
        rerun = runner.invoke(cli, [*args, "--min-distance", "0"])
        assert rerun.exit_code == 0, rerun.output
        assert "SHORT of quota: negative 2" in rerun.stdout and " 0 requests (" in rerun.stdout
        pd.testing.assert_frame_equal(pd.read_csv(out), frame)


def test_cli_balance_on_a_multi_label_task_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task = write_task(tmp_path, FOUR_P, "http://127.0.0.1:9/v1")
    with pytest.raises(SystemExit) as info:
        main(["-q", "generate", str(task), "-o", str(tmp_path / "x.csv"), "--n", "8", "--balance"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "--balance" in err and "multi-label" in err and "\n" not in err


def test_balance_stopped_in_a_later_vote_saves_no_text_an_earlier_vote_dropped() -> None:
    """Ctrl-C (or a teacher gone) in round 2's vote saved every text written so far for `sxhub annotate`, the ones
    round 1's vote had dropped too (over quota, no valid vote): labelled, they made a file of more than --n texts,
    its labels as unbalanced as the writer's. The saved texts are those still kept and those not yet voted on."""
    import signal

    def vote(label: str, i: int) -> str | None:
        if i >= 10:  # a text of round 2 (round 1 asks 10 per label)
            signal.raise_signal(signal.SIGINT)  # as a terminal's Ctrl-C, while this vote is on its way
        return half_negative(label, i)

    teacher = biased_teacher(vote)
    with pytest.raises(KeyboardInterrupt) as info:
        generate(
            SENTIMENT3,
            GenerateOptions(n=30, balance=True, seed=3),
            teachers=[teacher],
            embed=hashed_embed,
            progress=False,
            cache=False,
            concurrency=1,
        )
    saved = set(info.value.sxhub_written["text"])  # type: ignore[attr-defined]
    dropped = {f"negative text {i}" for i in range(0, 10, 2)} | {"positive text 3"}  # voted neutral; no vote
    assert len(written_for(teacher)) == 42 and not saved & dropped
    assert len(saved) == 42 - len(dropped) == info.value.sxhub_written_ledger["n_texts"]  # type: ignore[attr-defined]


def test_balance_writes_about_every_topic_when_n_is_below_the_grid() -> None:
    """Each label took the topics from the first one on: 10 topics and --n 9 --balance over 3 labels wrote about 3
    of them, 3 texts each, as a plain run did before its grid was fixed. A label's requests take the plain grid's
    cells of that label, so the first texts spread over the topics."""
    teacher = biased_teacher(lambda label, i: label)
    options = GenerateOptions(n=9, balance=True, topics=[f"sector{i}" for i in range(10)])
    result = generate(SENTIMENT3, options, teachers=[teacher], embed=hashed_embed, progress=False, cache=False)
    assert Counter(result.frame["label"]) == {"positive": 3, "neutral": 3, "negative": 3}
    assert result.frame["topic"].nunique() == 9  # was 3: sector0..sector2, each with all 3 labels
