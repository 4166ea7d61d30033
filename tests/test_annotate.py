"""The annotate engine and CLI with the scripted fake teacher (no network)."""

from __future__ import annotations

import errno
import json
import os
import re
import unicodedata
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from sxhub.annotate import annotate
from sxhub.cache import LabelCache
from sxhub.cards import format_cost
from sxhub.cli import cli
from sxhub.data import read_table
from sxhub.errors import TeacherUnavailableError, UserError
from sxhub.spec import TaskSpec, TeacherSpec
from sxhub.teachers import FakeTeacher, RetryableTeacherError

LABELS = ["positive", "neutral", "negative"]


def make_spec(**kwargs) -> TaskSpec:
    return TaskSpec.from_dict({"name": "fin", "description": "Financial sentiment.", "labels": LABELS, **kwargs})


def by_keyword(messages: list[dict[str, str]]) -> dict[str, str]:
    text = messages[-1]["content"].lower()
    return {"label": "positive" if "rose" in text else "negative" if "fell" in text else "neutral"}


def run(spec: TaskSpec, texts, teachers, tmp_path: Path, **kwargs):
    kwargs.setdefault("cache", tmp_path / "cache")
    return annotate(spec, texts, teachers=teachers, progress=False, backoff=0.01, **kwargs)


def test_labels_votes_and_rows_follow_the_contract(tmp_path: Path) -> None:
    fake = FakeTeacher(responder=by_keyword)
    result = run(make_spec(samples=2), ["Profit rose.", "Sales fell.", "The AGM is in May."], [fake], tmp_path)
    rows = result.rows
    assert [r["label"] for r in rows] == ["positive", "negative", "neutral"]
    assert list(result.frame.columns) == ["text", "label", "votes", "agreement", "failed", "error"]
    assert rows[0]["votes"] == [
        {"teacher": "fake", "sample": s, "labels": ["positive"], "reason": "", "error": "", "raw": ""} for s in (0, 1)
    ]
    assert all(r["agreement"] == 1.0 and not r["failed"] and r["error"] == "" for r in rows)
    assert sorted(call.seed for call in fake.history) == [0, 0, 0, 1, 1, 1]
    assert "Profit rose." in fake.history[0].messages[-1]["content"]
    assert fake.history[0].schema == make_spec().answer_schema()


def test_invalid_answer_is_asked_again_with_a_fresh_seed(tmp_path: Path) -> None:
    fake = FakeTeacher(responder=by_keyword).enqueue("I think positive", '{"label": "bullish"}')
    result = run(make_spec(), ["Profit rose."], [fake], tmp_path)
    assert result.rows[0]["label"] == "positive"
    assert [call.seed for call in fake.history] == [0, 1000, 2000]
    assert result.ledger["invalid_answers"] == 2 and result.ledger["failed_votes"] == 0


def test_persistently_invalid_answers_fail_the_text_with_the_raw_reply(tmp_path: Path) -> None:
    fake = FakeTeacher(responder=lambda m: "no idea")
    result = run(make_spec(), ["Profit rose."], [fake], tmp_path, max_invalid=1)
    row = result.rows[0]
    assert row["failed"] and row["label"] is None
    assert "invalid answer" in row["error"]
    assert row["votes"][0]["raw"] == "no idea" and row["votes"][0]["labels"] is None
    assert len(fake.history) == 2


def test_transient_errors_are_retried_then_recorded(tmp_path: Path) -> None:
    boom = RetryableTeacherError("fake: HTTP 503")
    fake = FakeTeacher(responder=by_keyword).enqueue(boom, boom)
    ok = run(make_spec(), ["Profit rose."], [fake], tmp_path)
    assert ok.rows[0]["label"] == "positive" and ok.ledger["retries"] == 2 and ok.ledger["requests"] == 3

    always = FakeTeacher(name="down", responder=lambda m: (_ for _ in ()).throw(RetryableTeacherError("HTTP 503")))
    bad = run(make_spec(), ["Sales fell."], [always], tmp_path, max_retries=2)
    assert bad.rows[0]["failed"] and "HTTP 503 (gave up after 3 tries)" in bad.rows[0]["error"]
    assert len(always.history) == 3


def test_unauthorised_teacher_stops_the_run(tmp_path: Path) -> None:
    fake = FakeTeacher(responder=lambda m: (_ for _ in ()).throw(TeacherUnavailableError("HTTP 401; set HF_TOKEN")))
    with pytest.raises(TeacherUnavailableError, match="HF_TOKEN"):
        run(make_spec(), ["a", "b", "c"], [fake], tmp_path)


def test_several_teachers_vote_together(tmp_path: Path) -> None:
    a = FakeTeacher(name="a", responder=lambda m: {"label": "positive"})
    b = FakeTeacher(name="b", responder=lambda m: {"label": "negative"})
    c = FakeTeacher(name="c", responder=lambda m: {"label": "negative"})
    result = run(make_spec(), ["x"], [a, b, c], tmp_path)
    row = result.rows[0]
    assert row["label"] == "negative" and row["agreement"] == pytest.approx(2 / 3)
    assert [v["teacher"] for v in row["votes"]] == ["a", "b", "c"]
    assert set(result.ledger["teachers"]) == {"a", "b", "c"}


def test_one_failed_teacher_does_not_fail_the_text(tmp_path: Path) -> None:
    good = FakeTeacher(name="good", responder=by_keyword)
    bad = FakeTeacher(name="bad", responder=lambda m: "garbage")
    row = run(make_spec(), ["Sales fell."], [good, bad], tmp_path, max_invalid=0).rows[0]
    assert row["label"] == "negative" and not row["failed"]
    assert row["votes"][1]["labels"] is None and row["votes"][1]["raw"] == "garbage"


def test_multi_label(tmp_path: Path) -> None:
    spec = TaskSpec.from_dict({"name": "topics", "labels": ["price", "service", "delivery"], "multi_label": True})
    fake = FakeTeacher(responder=lambda m: {"labels": ["Delivery", "price"]})
    result = run(spec, ["Cheap but late."], [fake], tmp_path, samples=3)
    row = result.rows[0]
    assert "labels" in result.frame.columns and "label" not in result.frame.columns
    assert row["labels"] == ["price", "delivery"]
    assert row["agreement"] == {"price": 1.0, "service": None, "delivery": 1.0}  # no vote named service


def test_reasons_are_stored_when_asked_for(tmp_path: Path) -> None:
    fake = FakeTeacher(responder=lambda m: {"reason": "profit went up", "label": "positive"})
    row = run(make_spec(reasoning=True), ["Profit rose."], [fake], tmp_path).rows[0]
    assert row["votes"][0]["reason"] == "profit went up"
    assert "reason" in fake.history[0].schema["required"]


def test_ledger_counts_tokens_and_cost(tmp_path: Path) -> None:
    fake = FakeTeacher(responder=by_keyword)
    fake.spec = TeacherSpec(model="org/model", price_input=1.0, price_output=2.0)
    result = run(make_spec(samples=3), ["a", "b"], [fake], tmp_path)
    led = result.ledger
    assert led["requests"] == 6 and led["cached"] == 0 and led["n_texts"] == 2 and led["samples"] == 3
    assert led["input_tokens"] > 0 and led["output_tokens"] > 0
    expected = (led["input_tokens"] * 1.0 + led["output_tokens"] * 2.0) / 1e6
    assert led["cost_usd"] == pytest.approx(expected)
    assert led["failed_texts"] == 0 and led["ties"] == 0 and led["seconds"] >= 0
    assert "labelled 2/2 texts" in result.summary_line()


def test_a_teacher_without_prices_has_an_unknown_cost_not_zero(tmp_path: Path) -> None:
    fake = FakeTeacher(responder=by_keyword)
    fake.spec = TeacherSpec(model="org/model")
    priced = FakeTeacher(name="priced", responder=by_keyword)
    priced.spec = TeacherSpec(model="org/other", price_input=1.0, price_output=1.0)
    result = run(make_spec(), ["a", "b"], [fake, priced], tmp_path)
    led = result.ledger
    assert led["teachers"]["fake"]["cost_usd"] is None and led["teachers"]["priced"]["cost_usd"] > 0
    assert led["cost_usd"] is None  # one unknown part makes the total unknown
    assert "estimated cost unknown" in result.summary_line() and "$0.00" not in result.summary_line()


def test_a_resumed_run_reports_what_its_cached_answers_first_cost(tmp_path: Path) -> None:
    def priced(name: str = "fake") -> FakeTeacher:
        fake = FakeTeacher(name=name, responder=by_keyword)
        fake.spec = TeacherSpec(model="org/model", price_input=1.0, price_output=2.0)
        return fake

    first = run(make_spec(samples=2), ["Profit rose.", "Sales fell."], [priced()], tmp_path).ledger
    second = run(make_spec(samples=2), ["Profit rose.", "Sales fell.", "New."], [priced()], tmp_path).ledger
    assert second["cached"] == 4 and second["requests"] == 2
    assert second["cached_input_tokens"] == first["input_tokens"]
    assert second["cached_output_tokens"] == first["output_tokens"]
    assert second["cached_cost_usd"] == pytest.approx(first["cost_usd"])


@pytest.mark.parametrize("structured", ["auto", "json_schema"], ids=["hub-client", "plain-http"])
def test_replies_without_usage_have_unknown_tokens_and_cost_not_zero(tmp_path: Path, structured: str) -> None:
    """A priced teacher whose server sent no ``usage`` (optional in the OpenAI schema) was billed "0 input + 0 output
    tokens, estimated cost $0.0000" for 10 requests; its tokens and cost are unknown, and a rerun's first cost too."""
    from fake_openai_server import Answer, FakeOpenAIServer, default_answer

    texts = ["Profit rose.", "Sales fell.", "The AGM is in May."]
    with FakeOpenAIServer(lambda body, n: Answer(default_answer(body), usage="Sales" not in str(body))) as server:
        teacher = TeacherSpec(
            base_url=server.url, model="fake", price_input=1.0, price_output=2.0, structured=structured
        )
        first = run(make_spec(), texts, [teacher], tmp_path)
        again = run(make_spec(), texts, [teacher], tmp_path)
    led = first.ledger
    assert led["requests"] == 3 and led["replies_without_usage"] == 1  # one of three: the sum is not the bill
    assert led["input_tokens"] is None and led["output_tokens"] is None and led["cost_usd"] is None
    assert led["teachers"][teacher.name]["cost_usd"] is None
    line = first.summary_line()
    assert "unknown input + unknown output tokens (1 reply without token counts)" in line
    assert "estimated cost unknown" in line and "$0" not in line
    cached = again.ledger
    assert cached["requests"] == 0 and cached["cached"] == 3 and cached["cached_without_usage"] == 1
    assert cached["cost_usd"] == 0.0 and cached["cached_input_tokens"] is None and cached["cached_cost_usd"] is None
    assert "first cost unknown input + unknown output tokens (1 answer without token counts))" in again.summary_line()


def test_cli_ledger_of_a_server_without_usage_says_unknown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The audit's run: 10 requests to a priced teacher without ``usage``, written as 0 tokens and $0.0000."""
    from conftest import run_cli
    from fake_openai_server import Answer, FakeOpenAIServer, default_answer

    texts, out = tmp_path / "texts.csv", tmp_path / "labelled.jsonl"
    pd.DataFrame({"text": [f"Company {i} reported results." for i in range(10)]}).to_csv(texts, index=False)
    with FakeOpenAIServer(lambda body, n: Answer(default_answer(body), usage=False)) as server:
        task = tmp_path / "task.yaml"
        task.write_text(
            "name: fin\nlabels: [positive, neutral, negative]\nsamples: 1\nteachers:\n"
            f"  - base_url: {server.url}\n    model: fake\n    name: srv\n    price_input: 1.0\n    price_output: 2.0\n",
            encoding="utf-8",
        )
        argv = ["annotate", str(task), str(texts), "-o", str(out), "--cache-dir", str(tmp_path / "c")]
        code, _, err = run_cli(argv, capsys)
        assert code == 0, err
        ledger = json.loads((tmp_path / "labelled.ledger.json").read_text(encoding="utf-8"))
        assert ledger["requests"] == 10 and ledger["replies_without_usage"] == 10
        assert ledger["input_tokens"] is None and ledger["cost_usd"] is None
        assert ledger["teachers"]["srv"]["output_tokens"] is None and ledger["teachers"]["srv"]["cost_usd"] is None
        line = err.strip().splitlines()[-1]
        assert "(10 replies without token counts)" in line and line.endswith("estimated cost unknown")

        # a rerun to the same OUT resumes its parts: what those answers first cost stays unknown, never $0
        code, _, err = run_cli(argv, capsys)
    assert code == 0, err
    ledger = json.loads((tmp_path / "labelled.ledger.json").read_text(encoding="utf-8"))
    assert ledger["requests"] == 0 and ledger["cached"] == 10 and ledger["cached_without_usage"] == 10
    assert ledger["cached_cost_usd"] is None and ledger["cached_input_tokens"] is None


def test_two_outputs_of_one_stem_do_not_share_one_ledger(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``-o x.csv`` then ``-o x.parquet`` in one folder both wrote ``x.ledger.json``: the second (all cached: 0
    requests, $0) replaced the ledger of the run that paid, and x.csv was left without one. The second is refused in
    one line before any request; the same -o again (a rerun) writes its ledger as before. A second run writing that
    ledger while the first runs is refused too."""
    from conftest import run_cli
    from fake_openai_server import FakeOpenAIServer

    from sxhub.locks import output_lock

    texts = tmp_path / "texts.csv"
    pd.DataFrame({"text": [f"Company {i} reported results." for i in range(4)]}).to_csv(texts, index=False)
    with FakeOpenAIServer() as server:
        task = tmp_path / "task.yaml"
        task.write_text(f"name: fin\nlabels: [positive, neutral, negative]\nteachers: [{server.url}]\n")

        def annotate_to(name: str) -> tuple[int, str]:
            argv = ["annotate", str(task), str(texts), "-o", str(tmp_path / name), "--cache-dir", str(tmp_path / "c")]
            code, _, err = run_cli(argv, capsys)
            return code, err

        assert annotate_to("x.csv")[0] == 0
        paid = (tmp_path / "x.ledger.json").read_bytes()
        asked = len(server.requests)
        code, err = annotate_to("x.parquet")
        assert code == 2, err
        assert err.strip().splitlines()[-1] == (
            f"Error: {tmp_path / 'x.ledger.json'} is the ledger of {tmp_path / 'x.csv'}, and -o "
            f"{tmp_path / 'x.parquet'} would write over it (both outputs' ledger is <stem>.ledger.json); pass -o "
            f"with another name before the suffix (e.g. {tmp_path / 'x-2.parquet'}), or move "
            f"{tmp_path / 'x.csv'} and its ledger away first."
        )
        assert (tmp_path / "x.ledger.json").read_bytes() == paid and not (tmp_path / "x.parquet").exists()
        assert len(server.requests) == asked

        assert annotate_to("x.csv")[0] == 0  # a rerun to the same OUT: its ledger, written again
        assert json.loads((tmp_path / "x.ledger.json").read_text())["cached"] == 4
        assert annotate_to("x-2.parquet")[0] == 0 and (tmp_path / "x-2.ledger.json").is_file()

        with output_lock(tmp_path / "y.ledger.json"):  # another run writes y.ledger.json now (-o y.jsonl)
            code, err = annotate_to("y.csv")
        assert code == 2 and "another sxhub annotate is writing" in err.strip().splitlines()[-1], err
        assert not (tmp_path / "y.csv").exists() and len(server.requests) == asked


def test_the_same_teacher_listed_twice_votes_with_other_seeds(tmp_path: Path) -> None:
    one, two = FakeTeacher(responder=by_keyword), FakeTeacher(responder=by_keyword)
    result = run(make_spec(samples=2), ["Profit rose."], [one, two], tmp_path)
    assert sorted(c.seed for c in one.history) == [0, 1]
    assert sorted(c.seed for c in two.history) == [1_000_000, 1_000_001]
    assert [v["teacher"] for v in result.rows[0]["votes"]] == ["fake", "fake", "fake#2", "fake#2"]
    again = FakeTeacher(responder=lambda m: pytest.fail("the cache should answer"))
    again2 = FakeTeacher(responder=lambda m: pytest.fail("the cache should answer"))
    assert run(make_spec(samples=2), ["Profit rose."], [again, again2], tmp_path).ledger["cached"] == 4


def test_second_run_is_served_by_the_cache(tmp_path: Path) -> None:
    texts = ["Profit rose.", "Sales fell.", "Meeting today."]
    first = FakeTeacher(responder=by_keyword)
    one = run(make_spec(samples=2), texts, [first], tmp_path)
    second = FakeTeacher(responder=lambda m: pytest.fail("the cache should answer"))
    two = run(make_spec(samples=2), texts, [second], tmp_path)
    assert second.history == [] and two.ledger["requests"] == 0 and two.ledger["cached"] == 6
    pd.testing.assert_frame_equal(one.frame, two.frame)
    assert len(LabelCache(tmp_path / "cache")) == 6


def test_cache_key_changes_with_what_changes_the_output(tmp_path: Path) -> None:
    run(make_spec(), ["x"], [FakeTeacher(responder=by_keyword)], tmp_path)
    hotter = FakeTeacher(responder=by_keyword)
    run(make_spec(temperature=0.1), ["x"], [hotter], tmp_path, concurrency=3)
    assert len(hotter.history) == 1  # a new temperature is a new request; concurrency is not part of the key


@pytest.mark.parametrize("temperature", [0.8, 0.0, 1, 0.1234567])
def test_cache_keys_equal_cache_key(temperature: float) -> None:
    """The engine's precomputed keys are cache_key's, byte for byte: caches written before stay valid."""
    from sxhub.cache import CacheKeys, cache_key
    from sxhub.prompt import build_messages

    spec = make_spec(reasoning=True, examples=[{"text": "Profit rose é €", "labels": ["positive"]}])
    teacher = {"name": "teacher@http://x/v1", "model": "m", "base_url": "http://x/v1", "extra": {"b": 1, "a": [2]}}
    keys = CacheKeys(teacher=teacher, schema=spec.answer_schema(), temperature=temperature, max_tokens=300)
    for text, seed in [("Sales fell.", 0), ('quote " and \\ and \n', 7), ("ünïcode 日本", 1_000_003)]:
        messages = build_messages(spec, text)
        expected = cache_key(
            teacher=teacher,
            messages=messages,
            schema=spec.answer_schema(),
            temperature=temperature,
            max_tokens=300,
            seed=seed,
        )
        assert keys(messages, seed) == expected
    assert CacheKeys(teacher=teacher, schema=None, temperature=0.5, max_tokens=1)([], 0) == cache_key(
        teacher=teacher, messages=[], schema=None, temperature=0.5, max_tokens=1, seed=0
    )


def test_failures_are_not_cached(tmp_path: Path) -> None:
    fake = FakeTeacher(responder=lambda m: (_ for _ in ()).throw(RetryableTeacherError("HTTP 500")))
    run(make_spec(), ["x"], [fake], tmp_path, max_retries=0)
    again = FakeTeacher(responder=by_keyword)
    assert run(make_spec(), ["x"], [again], tmp_path).rows[0]["label"] == "neutral"
    assert len(again.history) == 1


def test_dry_run_calls_no_teacher(tmp_path: Path) -> None:
    fake = FakeTeacher(responder=lambda m: pytest.fail("dry run must not call"))
    fake.spec = TeacherSpec(model="org/m", price_input=10.0, price_output=10.0, max_tokens=100)
    result = run(make_spec(samples=2), ["a" * 400, "b"], [fake], tmp_path, dry_run=True)
    led = result.ledger
    assert led["dry_run"] and led["requests_planned"] == 4
    assert led["input_tokens"] > 200
    # the bound counts the re-asks after invalid answers (max_invalid=2: three tries a vote)
    assert led["requests_max"] == 12 and led["output_tokens_max"] == 1200 and led["cost_usd"] < led["cost_usd_max"]
    assert "dry run" in result.summary_line()


def test_the_dry_runs_bound_holds_for_a_teacher_whose_every_answer_is_invalid(tmp_path: Path) -> None:
    """The dry run's "at most" counted one request per vote, but the run asks a vote again after an invalid answer
    (``max_invalid`` times): 1,000 texts, 3 samples, planned at most $1.08, could cost $3.23. The bound now counts
    every try, and the line says what it assumes."""
    spec = make_spec(samples=2)
    texts = ["a" * 400, "b"]

    def teacher() -> FakeTeacher:
        fake = FakeTeacher(responder=lambda m: "I would say it is positive.")  # prose: never a valid answer
        fake.spec = TeacherSpec(model="org/m", price_input=10.0, price_output=10.0, max_tokens=100)
        return fake

    for max_invalid in (2, 0):
        dry = run(spec, texts, [teacher()], tmp_path, dry_run=True, max_invalid=max_invalid)
        real = run(spec, texts, [teacher()], tmp_path, cache=False, max_invalid=max_invalid).ledger
        led = dry.ledger
        assert real["requests"] == led["requests_max"] == 4 * (max_invalid + 1) and real["invalid_answers"] == 4 * (
            max_invalid + 1
        )
        assert real["input_tokens"] <= led["input_tokens_max"] and real["cost_usd"] <= led["cost_usd_max"]
        worst = "every answer at max_tokens" + (" and invalid, so asked 3 times" if max_invalid else ")")
        assert f"(at most {format_cost(led['cost_usd_max'])}: {worst}" in dry.summary_line()
    unpriced = FakeTeacher(responder=lambda m: pytest.fail("dry run must not call"))
    line = run(spec, texts, [unpriced], tmp_path, dry_run=True).summary_line()
    assert line.endswith("estimated cost unknown")  # not "(at most unknown: every answer at max_tokens ...)"


def test_a_dry_run_plans_only_what_the_label_cache_does_not_answer(tmp_path: Path) -> None:
    """A dry run before resuming a killed run (or before the whole input after --limit) planned and priced every
    vote again, the answers already in the label cache too: 2,259 texts whose every answer was cached, "4518
    requests planned, estimated cost $1.47", and the run then sent none. It now plans what the run will send."""

    def teacher(responder=by_keyword) -> FakeTeacher:
        fake = FakeTeacher(responder=responder)
        fake.spec = TeacherSpec(model="org/m", price_input=10.0, price_output=10.0, max_tokens=100)
        return fake

    spec = make_spec(samples=2)
    done, texts = ["Profit rose.", "Sales fell."], ["Profit rose.", "Sales fell.", "The AGM is in May."]
    run(spec, done, [teacher()], tmp_path)  # the killed run's (or the --limit run's) answers
    dry = run(spec, texts, [teacher(lambda m: pytest.fail("dry run must not call"))], tmp_path, dry_run=True)
    led = dry.ledger
    assert led["requests_planned"] == 2 and led["cached"] == 4 and led["requests_max"] == 2 * 3
    assert "2 requests planned (4 answers in the label cache)" in dry.summary_line()
    real = run(spec, texts, [teacher()], tmp_path).ledger
    assert real["requests"] == led["requests_planned"] and real["cached"] == led["cached"]
    assert real["input_tokens"] <= led["input_tokens_max"]
    assert run(spec, texts, [teacher()], tmp_path, dry_run=True).ledger["requests_planned"] == 0

    # a cached invalid answer is asked again (with the next seed), as the run does: planned, not counted as cached
    other = tmp_path / "invalid"
    run(spec, ["x"], [teacher(lambda m: "no label here")], other, max_invalid=0)
    led = run(spec, ["x"], [teacher()], other, dry_run=True).ledger
    assert led["requests_planned"] == 2 and led["cached"] == 0 and led["requests_max"] == 2 * 2
    # no cache, or a teacher whose key needs its server (a URL without a model): every vote planned, no file made
    assert run(spec, texts, [teacher()], tmp_path, dry_run=True, cache=False).ledger["requests_planned"] == 6
    assert run(spec, texts, [teacher()], tmp_path / "none", dry_run=True).ledger["requests_planned"] == 6
    assert not (tmp_path / "none").exists()
    url_only = TeacherSpec(base_url="http://127.0.0.1:9/v1", price_input=1.0, price_output=1.0)
    assert run(spec, texts, [url_only], tmp_path, dry_run=True).ledger["requests_planned"] == 6


@pytest.mark.parametrize("as_specs", [False, True], ids=["teachers", "specs"])
def test_dry_run_names_a_teacher_listed_twice_as_the_run_does(tmp_path: Path, as_specs: bool) -> None:
    """Keyed on a name given twice, the second teacher replaced the first: the plan said 40 requests, the run made
    60, and the plan's table had no dear#2 (its total cost counted it)."""

    def teacher(name: str, price: float) -> FakeTeacher:
        fake = FakeTeacher(name=name, responder=by_keyword)
        fake.spec = TeacherSpec(model="org/model", name=name, price_input=price, price_output=price)
        return fake

    def teachers() -> list:
        made = [teacher("cheap", 0.1), teacher("dear", 10.0), teacher("dear", 10.0)]
        return [t.spec for t in made] if as_specs else made

    texts = ["Profit rose.", "Sales fell."]
    dry = run(make_spec(samples=2), texts, teachers(), tmp_path, dry_run=True).ledger
    assert list(dry["teachers"]) == ["cheap", "dear", "dear#2"]
    assert dry["requests_planned"] == sum(t["requests_planned"] for t in dry["teachers"].values()) == 12
    assert dry["input_tokens"] == sum(t["input_tokens"] for t in dry["teachers"].values())
    assert dry["cost_usd"] == pytest.approx(sum(t["cost_usd"] for t in dry["teachers"].values()))
    if not as_specs:  # (a spec's org/model has no server here)
        real = run(make_spec(samples=2), texts, teachers(), tmp_path).ledger
        assert list(real["teachers"]) == list(dry["teachers"]) and real["requests"] == dry["requests_planned"]


def test_bad_arguments_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="concurrency"):
        run(make_spec(), ["x"], [FakeTeacher()], tmp_path, concurrency=0)
    with pytest.raises(UserError, match="list of texts"):
        run(make_spec(), "just one string", [FakeTeacher()], tmp_path)


# ----------------------------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------------------------
@pytest.fixture
def task_file(tmp_path: Path) -> Path:
    path = tmp_path / "task.yaml"
    path.write_text("name: fin\nlabels: [positive, neutral, negative]\n", encoding="utf-8")
    return path


def invoke(*args: str):
    return CliRunner().invoke(cli, ["-q", *args])


def test_cli_dry_run_json(task_file: Path, tmp_path: Path) -> None:
    data = tmp_path / "in.csv"
    data.write_text("sentence,gold\nProfit rose.,positive\nProfit rose.,positive\nSales fell.,negative\n")
    res = invoke("annotate", str(task_file), str(data), "--dry-run", "--json", "--teacher", "org/model")
    assert res.exit_code == 0, res.output
    led = json.loads(res.stdout)
    assert led["dry_run"] and led["n_texts"] == 2 and led["n_duplicates"] == 1


def test_a_text_column_of_numbers_is_refused_as_predict_refuses_it(
    task_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """predict refuses a text column of numbers or true/false values (--text-column idx: ids labelled as the texts
    "1", "2"); annotate sent them to the teacher, paid, with exit 0 (a dry run planned them). Each way in now gives
    predict's line and asks nothing. Texts one per line (.txt) are texts whatever they read like, as in predict, and
    a column of texts some of which are numbers ("2024") is read as written."""
    from fake_openai_server import Answer, FakeOpenAIServer

    from sxhub.cli import main

    data = tmp_path / "in.csv"
    pd.DataFrame({"idx": [1, 2, 3], "text": ["Profit rose.", "2024", "Sales fell."]}).to_csv(data, index=False)
    line = 'column \'idx\' holds numbers (["1", "2", "3"]), not texts; pass --text-column (Python: text_column=)'
    asked: list[str] = []

    def answer(body, n):
        asked.append(body["messages"][-1]["content"])
        return Answer('{"label": "neutral"}')

    with FakeOpenAIServer(answer) as server:
        base = ["-q", "annotate", str(task_file), str(data), "--teacher", server.url, "--text-column", "idx"]
        for extra in (["--dry-run"], ["-o", str(tmp_path / "o.csv")]):
            with pytest.raises(SystemExit) as info:
                main([*base, *extra])
            assert info.value.code == 2 and line in capsys.readouterr().err, extra
        assert not asked and not (tmp_path / "o.csv").exists()
        from sxhub.parts import prepare_job
        from sxhub.ray_annotate import split_by_text

        job, parts = prepare_job(
            make_spec(), str(data), tmp_path / "r.csv", teachers=[server.url], samples=None, concurrency=2, rows=None,
            split="train", text_column="idx", keep_columns=[], preprocess=None, max_chars=20_000, chunk_rows=2,
            restart=False, shards=2, max_invalid=2, seed=0,
        )  # fmt: skip
        with pytest.raises(UserError, match=re.escape(line)):  # --engine ray's split pass, before Ray starts
            split_by_text(job, parts, 2)
        frame = pd.read_csv(data)
        with pytest.raises(UserError, match=re.escape(line.replace('"', ""))):
            annotate(make_spec(), frame, text_column="idx", teachers=[FakeTeacher(responder=by_keyword)])
        lines = tmp_path / "in.txt"
        lines.write_text("2024\n42\n", encoding="utf-8")
        out = tmp_path / "lines.csv"
        main(["-q", "annotate", str(task_file), str(lines), "--teacher", server.url, "-o", str(out)])
        assert pd.read_csv(out, dtype=str)["text"].tolist() == ["2024", "42"]
        out = tmp_path / "mixed.csv"
        main(["-q", "annotate", str(task_file), str(data), "--teacher", server.url, "-o", str(out)])
        assert pd.read_csv(out, dtype=str)["text"].tolist() == ["Profit rose.", "2024", "Sales fell."]


def test_cli_dry_run_counts_texts_over_max_chars_as_a_run_does_instead_of_stopping(
    task_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run fails a text over --max-chars alone, unasked; --dry-run stopped at it (exit 2, no estimate). It now
    plans no request for it and says so; a limit below every text is refused in one line, as a run refuses it."""
    data = tmp_path / "in.csv"
    data.write_text("text\nProfit rose.\n" + "x" * 500 + "\nSales fell.\n")
    args = ["annotate", str(task_file), str(data), "--dry-run", "--teacher", "org/model", "--max-chars", "100"]
    res = invoke(*args, "--json")
    assert res.exit_code == 0, res.output
    led = json.loads(res.stdout)
    assert led["n_texts"] == 2 and led["over_max_chars"] == 1 and led["requests_planned"] == 2 * led["samples"]
    res = invoke(*args)
    assert res.exit_code == 0 and "; 1 text over --max-chars 100 not planned" in res.stdout, res.output
    from sxhub.cli import main

    with pytest.raises(SystemExit) as info:
        main(["-q", *args[:-1], "5"])
    err = capsys.readouterr().err.strip()
    assert info.value.code == 2 and "--max-chars 5 is below every text (3 of 11 to 500 characters)" in err


def test_cli_a_max_chars_below_every_text_is_a_user_error_naming_the_lengths_and_keeps_the_failed_rows(
    tmp_path: Path, task_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A text over --max-chars fails its row alone, unasked (it stopped the run, exit 2). Where every text is over
    it, the run exited 1 "every text failed", as for a teacher that answered nothing: the limit is the user's option,
    so it exits 2 in one line naming --max-chars and the shortest and longest text's length, OUT keeping the failed
    rows; the rerun with the limit raised asks them."""
    from fake_openai_server import Answer, FakeOpenAIServer

    from sxhub.cli import main

    data = tmp_path / "in.csv"
    data.write_text("text\n" + "x" * 1_000_000 + "\n" + "y" * 30_000 + "\n", encoding="utf-8")
    out = tmp_path / "o.csv"
    with FakeOpenAIServer(lambda body, n: Answer('{"label": "neutral"}')) as server:
        argv = ["-q", "annotate", str(task_file), str(data), "-o", str(out), "--teacher", server.url]
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("Error: --max-chars 20000 is below every text (2 texts of 30000 to 1000000 characters)")
        assert "--max-chars 1000000 asks them all" in err and "\n" not in err
        assert server.requests == [] and pd.read_csv(out)["failed"].tolist() == [True, True]
        main([*argv, "--max-chars", "1000000"])  # returns on success
    assert len(server.requests) == 2 and not pd.read_csv(out)["failed"].any()


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (None, [], "not found"),
        (b"", [], "is empty"),
        (b"body\nhello\n", ["--text-column", "missing"], "text column 'missing' not found"),
        ("text\ncaf\u00e9\n".encode("latin-1"), [], "not UTF-8"),
    ],
)
def test_cli_bad_inputs_exit_2_with_one_line(
    tmp_path: Path, task_file: Path, content, args, message, capsys: pytest.CaptureFixture[str]
) -> None:
    """A teacher at a URL, not the task's default (the embedded one): without the [local] extra these five failed on
    "the local teacher needs llama-cpp-python", checked before the input is read; no request reaches it."""
    from fake_openai_server import Answer, FakeOpenAIServer

    from sxhub.cli import main

    data = tmp_path / "in.csv"
    if content is not None:
        data.write_bytes(content)
    out = tmp_path / "o.csv"
    with FakeOpenAIServer(lambda body, n: Answer('{"label": "neutral"}')) as server, pytest.raises(SystemExit) as info:
        main(["-q", "annotate", str(task_file), str(data), "-o", str(out), *args, "--teacher", server.url])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err
    assert not out.exists() and server.requests == []


def test_cli_bad_spec_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sxhub.cli import main

    bad = tmp_path / "task.yaml"
    bad.write_text("name: fin\nlabels: [only]\n")
    data = tmp_path / "in.csv"
    data.write_text("text\nhello\n")
    with pytest.raises(SystemExit) as info:
        main(["-q", "annotate", str(bad), str(data), "-o", str(tmp_path / "o.csv")])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("Error: labels:") and "\n" not in err


def test_cli_needs_out_unless_dry_run(task_file: Path, tmp_path: Path) -> None:
    data = tmp_path / "in.csv"
    data.write_text("text\nhello\n")
    res = invoke("annotate", str(task_file), str(data))
    assert res.exit_code != 0 and "-o OUT" in str(res.exception)


def test_a_hub_model_teacher_without_a_token_is_refused_before_any_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every request failed with huggingface_hub's "You must provide an api_key", each text was written as failed,
    and annotate exited 0."""
    from conftest import run_cli

    task = Path(__file__).resolve().parent.parent / "examples" / "financial-sentiment" / "task.yaml"
    texts = tmp_path / "texts.csv"
    pd.DataFrame({"text": ["Profit rose", "Loss widened"]}).to_csv(texts, index=False)
    out = tmp_path / "labelled.csv"
    code, _, err = run_cli(
        ["annotate", str(task), str(texts), "-o", str(out), "--teacher", "some-org/some-model"], capsys
    )
    assert code == 2
    assert err.strip().splitlines()[-1] == (
        "Error: teacher 'some-org/some-model' is a Hub model id, called through Hugging Face Inference Providers, "
        "which need a token, and none is set; run `hf auth login` or set HF_TOKEN to a token allowed to call "
        "Inference Providers, or give the teacher a base_url (a server of your own)."
    )
    assert not out.exists()
    # nor its parts folder: a lock, a manifest and an empty shard, nothing a rerun resumes, were left beside it
    assert not (tmp_path / "labelled.csv.parts").exists()


def test_a_run_where_every_text_failed_exits_1_and_keeps_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A teacher that answered nothing usable gave a file of failed rows and exit 0, and `annotate && train` went on."""
    from conftest import run_cli
    from fake_openai_server import Answer, Fail, FakeOpenAIServer

    task = Path(__file__).resolve().parent.parent / "examples" / "financial-sentiment" / "task.yaml"
    texts = tmp_path / "texts.csv"
    pd.DataFrame({"text": ["Profit rose", "Loss widened"]}).to_csv(texts, index=False)
    out = tmp_path / "labelled.csv"
    argv = ["annotate", str(task), str(texts), "-o", str(out), "--samples", "1"]
    fixed = [False]  # the server first refuses the request (400: neither retried nor cached)
    with FakeOpenAIServer(lambda body, n: Answer('{"label": "positive"}') if fixed[0] else Fail(400)) as server:
        code, _, err = run_cli([*argv, "--teacher", server.url], capsys)
        last = err.strip().splitlines()[-1]
        assert code == 1
        assert last.startswith("Error: every text failed (2 of 2); the first error: ") and "400" in last
        assert last.endswith(f"Fix that and run annotate again; {out} keeps the failed rows.")
        written = pd.read_csv(out)
        assert written["failed"].tolist() == [True, True] and written["label"].isna().all()

        fixed[0] = True  # the server fixed: the rerun asks again for the failed texts, and succeeds
        code, _, err = run_cli([*argv, "--teacher", server.url], capsys)
    assert code == 0, err
    assert pd.read_csv(out)["label"].tolist() == ["positive", "positive"]


def test_a_missing_input_leaves_no_parts_folder_to_refuse_the_corrected_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The parts folder was made before the input was read: its manifest recorded the missing texts.csv as a Hub id,
    and the rerun with the file in place was refused ("the parts of an earlier run ... with another input")."""
    from conftest import run_cli
    from fake_openai_server import Answer, FakeOpenAIServer

    task = Path(__file__).resolve().parent.parent / "examples" / "financial-sentiment" / "task.yaml"
    texts, out = tmp_path / "texts.csv", tmp_path / "labelled.parquet"
    with FakeOpenAIServer(lambda body, n: Answer('{"label": "positive"}')) as server:
        argv = ["annotate", str(task), str(texts), "-o", str(out), "--samples", "1", "--teacher", server.url]
        code, _, err = run_cli(argv, capsys)
        assert code == 2 and err.strip().splitlines()[-1] == (
            f"Error: input {str(texts)!r} not found; pass a .csv, .jsonl, .parquet file or a Hub dataset id."
        )
        assert not (tmp_path / "labelled.parquet.parts").exists() and server.requests == []
        pd.DataFrame({"text": ["Profit rose"]}).to_csv(texts, index=False)
        code, _, err = run_cli(argv, capsys)
    assert code == 0, err
    assert pd.read_parquet(out)["label"].tolist() == ["positive"]


def test_copies_of_a_text_asked_side_by_side_are_paid_for_once(tmp_path: Path) -> None:
    """A list given to annotate() keeps its repeated texts; copies in flight together were each sent and paid (16
    requests for 2 texts at concurrency 8, 2 at concurrency 1). A failed request fails each copy's vote alike."""
    from fake_openai_server import Answer, Fail, FakeOpenAIServer, default_answer

    texts = ["Profit rose."] * 8 + ["Sales fell."] * 8
    fail = [False]
    handler = lambda body, n: Fail(400) if fail[0] else Answer(default_answer(body))  # noqa: E731
    with FakeOpenAIServer(handler, delay=0.05) as server:
        spec = TaskSpec.from_dict(
            {"name": "fin", "labels": ["positive", "neutral", "negative"], "samples": 1,
             "teachers": [{"base_url": server.url, "model": "fake", "name": "srv"}]}
        )  # fmt: skip
        result = annotate(spec, texts, cache=tmp_path / "c1", progress=False, concurrency=8)
        assert len(server.requests) == 2
        assert result.ledger["requests"] == 2 and result.ledger["cached"] == 14
        assert len(set(result.frame["label"][:8])) == 1 and not result.frame["failed"].any()
        result = annotate(spec, texts, cache=False, progress=False, concurrency=8)  # no cache: still sent once
        assert len(server.requests) == 4 and result.ledger["requests"] == 2

        fail[0] = True
        result = annotate(spec, texts, cache=tmp_path / "c2", progress=False, concurrency=8)
    assert len(server.requests) == 6 and result.frame["failed"].all()
    assert result.frame["error"].nunique() == 1


def test_a_renamed_teacher_or_another_spelling_of_its_url_is_answered_from_the_cache(tmp_path: Path) -> None:
    """The cache keys a request by what the server receives: the name (it only labels the votes) is not in it, and
    the URL is normalised (host case, trailing slash, default port). Each of these asked every text again."""
    from fake_openai_server import FakeOpenAIServer

    texts = ["Profit rose.", "Sales fell."]
    with FakeOpenAIServer() as server:
        host = server.url.replace("127.0.0.1", "localhost")
        run(make_spec(), texts, [TeacherSpec(base_url=host, model="m")], tmp_path)
        assert len(server.requests) == 2
        for other in (
            TeacherSpec(base_url=host, model="m", name="renamed"),
            TeacherSpec(base_url=host + "/", model="m"),
            TeacherSpec(base_url=host.replace("localhost", "LocalHost"), model="m"),
        ):
            result = run(make_spec(), texts, [other], tmp_path)
            assert result.ledger["cached"] == 2, other
        assert len(server.requests) == 2
        run(make_spec(), texts, [TeacherSpec(base_url=host, model="other")], tmp_path)
        assert len(server.requests) == 4  # another model is another request


def test_a_url_only_teacher_and_one_naming_the_model_it_serves_share_the_cache(tmp_path: Path) -> None:
    """Given by URL only, a teacher names in its requests the one model its server lists: the same requests as a
    teacher that names that model in the spec, answered from the same cache entries (either way round)."""
    from fake_openai_server import FakeOpenAIServer

    with FakeOpenAIServer() as server:  # lists one model, "fake"
        run(make_spec(), ["Profit rose."], [TeacherSpec(base_url=server.url)], tmp_path)
        asked = len(server.requests)
        named = run(make_spec(), ["Profit rose."], [TeacherSpec(base_url=server.url, model="fake")], tmp_path)
        assert len(server.requests) == asked and named.ledger["cached"] == 1


def test_normalize_base_url_keeps_what_can_change_the_route() -> None:
    from sxhub.teachers.base import normalize_base_url

    assert normalize_base_url("http://Host.Example:80/v1/") == "http://host.example/v1"
    assert normalize_base_url("https://host:443/v1") == normalize_base_url("https://HOST/v1//")
    assert normalize_base_url("http://host:8080/v1") != normalize_base_url("http://host:8080")  # /v1 stays
    assert normalize_base_url("http://host/V1?api-version=2") == "http://host/V1?api-version=2"
    assert normalize_base_url("http://User:Pw@HOST:81/v1") == "http://User:Pw@host:81/v1"
    assert normalize_base_url("http://[::1]:8080/v1/") == "http://[::1]:8080/v1"


def test_replies_cached_under_the_keys_of_earlier_versions_are_still_found(tmp_path: Path) -> None:
    """A cache written when the key held the teacher's name and its URL as written: its answers are read (and
    copied to the new key), not asked again."""
    from fake_openai_server import Answer, FakeOpenAIServer

    from sxhub.cache import CacheKeys
    from sxhub.prompt import build_messages
    from sxhub.teachers.base import Reply, spec_identity

    spec = make_spec()
    with FakeOpenAIServer(lambda body, n: Answer('{"label": "neutral"}')) as server:
        teacher = TeacherSpec(base_url=server.url + "/", model="m")
        old = CacheKeys(
            teacher=spec_identity(teacher.name, teacher),
            schema=spec.answer_schema(),
            temperature=spec.temperature,
            max_tokens=teacher.max_tokens,
        )
        with LabelCache(tmp_path / "cache") as cache:
            cache.put(old(build_messages(spec, "Profit rose."), 0), Reply('{"label": "positive"}', 3, 4))
        result = run(spec, ["Profit rose."], [teacher], tmp_path)
        assert server.requests == [] and result.rows[0]["label"] == "positive"
        assert len(LabelCache(tmp_path / "cache")) == 2  # copied under the new key


def test_several_samples_at_temperature_0_are_warned_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Self-consistency samples at temperature 0 are greedy decodes of one prompt: the same answer paid for once per
    sample, and an agreement of 1.0 on every text that the dataset card reported as unanimous. Said once, with the
    fix; one sample, or a temperature above 0, says nothing."""
    monkeypatch.setattr("sxhub.annotate_engine._WARNED", set())
    for samples, temperature, warns in ((3, 0.0, True), (1, 0.0, False), (3, 0.7, False), (3, 0.0, False)):
        caplog.clear()
        with caplog.at_level("WARNING"):
            spec = make_spec(samples=samples, temperature=temperature)
            run(spec, ["Profit rose."], [FakeTeacher(responder=by_keyword)], tmp_path)
        assert ("at temperature 0" in caplog.text and "samples: 1" in caplog.text) == warns  # the last: said before


def test_a_txt_file_is_one_text_per_line_as_predict_reads_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``annotate TASK texts.txt`` was refused ("has extension '.txt'") while ``predict`` read the same file one text
    per line. It is read by predict's reader now: a line is a text (CRLF and a UTF-8 BOM read as predict reads
    them), and an empty line is an empty text, left out and counted (n_empty) as an empty CSV cell is; a repeated
    text is asked once. The output equals that of the CSV of the same texts, and a rerun resumes from the cache."""
    import io
    import sys

    from conftest import run_cli
    from fake_openai_server import Answer, FakeOpenAIServer

    texts = ["Profit rose.", "", "Sales fell.", "Profit rose.", "42"]
    txt, csv = tmp_path / "texts.txt", tmp_path / "texts.csv"
    txt.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(texts).encode("utf-8"))  # a BOM, CRLF, no final newline
    pd.DataFrame({"text": texts}).to_csv(csv, index=False)

    def answer(body, n):
        return Answer(json.dumps(by_keyword(body["messages"])))

    with FakeOpenAIServer(answer) as server:
        task = tmp_path / "task.yaml"
        task.write_text(f"name: fin\nlabels: [positive, neutral, negative]\nsamples: 1\nteachers: [{server.url}]\n")

        def annotate_cli(source: Path | str, out: str, *extra: str, quiet: bool = True) -> tuple[int, str]:
            argv = [*(["-q"] if quiet else []), "annotate", str(task), str(source), "-o", str(tmp_path / out), *extra]
            code, out, err = run_cli([*argv, "--cache-dir", str(tmp_path / "c")], capsys)
            return code, out + err

        code, said = annotate_cli(txt, "from-txt.jsonl", quiet=False)  # the summary: -q prints none
        assert code == 0 and "1 duplicates dropped, 1 empty texts left out, 3 requests" in said, said
        assert len(server.requests) == 3
        assert annotate_cli(csv, "from-csv.jsonl")[0] == 0
        assert len(server.requests) == 3  # the same texts: every answer from the cache
        got = pd.read_json(tmp_path / "from-txt.jsonl", lines=True)
        assert got["text"].tolist() == ["Profit rose.", "Sales fell.", "42"]
        assert got["label"].tolist() == ["positive", "negative", "neutral"]
        expected = pd.read_json(tmp_path / "from-csv.jsonl", lines=True)
        pd.testing.assert_frame_equal(got[["text", "label", "failed"]], expected[["text", "label", "failed"]])
        ledger = json.loads((tmp_path / "from-txt.ledger.json").read_text(encoding="utf-8"))
        assert (ledger["n_input"], ledger["n_empty"], ledger["n_duplicates"], ledger["n_texts"]) == (5, 1, 1, 3)

        code, err = annotate_cli(txt, "from-txt.jsonl")  # a rerun to the same OUT: its parts, nothing asked
        assert code == 0, err
        assert len(server.requests) == 3
        code, err = annotate_cli(txt, "x.jsonl", "--limit", "1")
        assert code == 0 and pd.read_json(tmp_path / "x.jsonl", lines=True)["text"].tolist() == ["Profit rose."]

        code, err = annotate_cli(txt, "y.jsonl", "--text-column", "body")
        assert code == 2 and err.strip() == (
            f"Error: --text-column picks a column of a table, and input {str(txt)!r} is one text per line; drop "
            "--text-column."
        )
        (tmp_path / "empty.txt").write_bytes(b"")
        code, err = annotate_cli(tmp_path / "empty.txt", "z.jsonl")
        assert code == 2 and err.strip().endswith("is empty; give it one text per line.")

        # stdin: a run is refused in one line before any request (it could not resume); --dry-run reads it
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(txt.read_bytes())))
        code, err = annotate_cli("-", "s.jsonl")
        assert code == 2 and err.strip() == (
            "Error: annotate cannot read INPUT from stdin: a stopped run resumes by reading INPUT again and skipping "
            "the chunks already labelled, which a pipe cannot give; save the texts to a file, one per line (e.g. "
            "`... > texts.txt`), and pass texts.txt."
        )
        assert not (tmp_path / "s.jsonl").exists() and not (tmp_path / "s.jsonl.parts").exists()
        assert len(server.requests) == 3
        code, out, err = run_cli(["-q", "annotate", str(task), "-", "--dry-run", "--json"], capsys)
    assert code == 0, err
    dry = json.loads(out)
    assert (dry["n_texts"], dry["n_empty"], dry["n_duplicates"]) == (3, 1, 1)


def test_cli_dry_run_prints_its_estimate_on_stdout_under_quiet(task_file: Path, tmp_path: Path) -> None:
    """``sxhub -q annotate ... --dry-run`` printed nothing: the estimate, the only thing asked for, went to stderr,
    which -q silences. It is the command's result now: on stdout (kept by -q, pipeable), as JSON with --json."""
    data = tmp_path / "in.csv"
    data.write_text("text\nProfit rose.\nSales fell.\n", encoding="utf-8")
    res = invoke("annotate", str(task_file), str(data), "--dry-run", "--teacher", "org/model")
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith("dry run: 2 texts, ") and "requests planned" in res.stdout
    assert len(res.stdout.splitlines()) == 1 and res.stderr == ""
    loud = CliRunner().invoke(cli, ["annotate", str(task_file), str(data), "--dry-run", "--teacher", "org/model"])
    assert loud.exit_code == 0 and loud.stdout == res.stdout  # printed once, on stdout, without -q too
    assert "dry run" not in loud.stderr
    as_json = invoke("annotate", str(task_file), str(data), "--dry-run", "--json", "--teacher", "org/model")
    assert as_json.exit_code == 0, as_json.output
    planned = json.loads(as_json.stdout)["requests_planned"]  # one JSON object, nothing else on stdout
    assert planned > 0 and f"dry run: 2 texts, {planned} requests planned" in res.stdout


def test_a_dataframe_takes_text_column_and_keep_columns_as_the_cli_does(tmp_path: Path) -> None:
    """annotate(spec, df) with texts in an unusual column said "pass --text-column (Python: text_column=)", but
    annotate took no text_column= (TypeError), nor a way to keep an expert column for agree; an empty list said
    "column 'text' holds no non-empty text; check --text-column", and a generator was read empty."""
    fake = FakeTeacher(responder=by_keyword)
    frame = pd.DataFrame({"headline": ["Profit rose.", "Sales fell."], "expert": ["positive", "negative"]})
    with pytest.raises(UserError, match=r"no text column found .* \(Python: text_column=\)"):
        run(make_spec(), frame, [fake], tmp_path)
    result = run(make_spec(), frame, [fake], tmp_path, text_column="headline", keep_columns=["expert"])
    assert result.frame["text"].tolist() == ["Profit rose.", "Sales fell."]
    assert result.frame["label"].tolist() == result.frame["expert"].tolist() == ["positive", "negative"]
    with pytest.raises(UserError, match=re.escape("text column 'body' not found")):
        run(make_spec(), frame, [fake], tmp_path, text_column="body")
    with pytest.raises(UserError, match=re.escape("text_column= and keep_columns= pick the columns of a DataFrame")):
        run(make_spec(), ["Profit rose."], [fake], tmp_path, text_column="headline")
    with pytest.raises(UserError, match=re.escape("keep_columns= takes a list of column names, not one string")):
        run(make_spec(), frame, [fake], tmp_path, text_column="headline", keep_columns="expert")
    with pytest.raises(UserError, match=re.escape("annotate: inputs is an empty list; pass at least one text.")):
        run(make_spec(), [], [fake], tmp_path)
    generated = run(make_spec(), (t for t in ["Profit rose."]), [fake], tmp_path)
    assert generated.frame["label"].tolist() == ["positive"]


def test_the_result_repr_does_not_grow_with_the_texts(tmp_path: Path) -> None:
    # a notebook cell ending in `result` printed every Decision after the (cut short) frame: ~100 characters a text
    fake = FakeTeacher(responder=by_keyword)
    result = run(make_spec(), [f"Profit rose {i}." for i in range(2000)], [fake], tmp_path, cache=False)
    shown = repr(result)
    assert shown.startswith("AnnotateResult(frame=") and "Decision(" not in shown
    assert len(shown) < 10_000 and "'n_texts': 2000" in shown
    assert len(result.decisions) == 2000 and result.decisions[0].label == "positive"


def test_replies_cached_before_server_kinds_were_keyed_are_still_found(tmp_path: Path) -> None:
    """A label cache of sxhub before 2026-12-01 keyed a teacher by name, model and URL alone (no provider, server or
    structured setting): upgrading asked every cached text again (paid twice, '0 from cache'). Such a reply is read
    now, for a teacher with its model named and the default settings, and copied to the new key; a teacher given by
    URL only was keyed by the placeholder model 'tgi', not the model its server served, so it is asked again."""
    from fake_openai_server import Answer, FakeOpenAIServer

    from sxhub.cache import cache_key
    from sxhub.prompt import build_messages
    from sxhub.teachers.base import Reply

    spec = make_spec()

    def old_key(url: str, model: str) -> str:  # the key's documented shape then: {v: 1, teacher: {name, model, ...}}
        return cache_key(
            teacher={"name": f"{model}@{url}", "model": model, "base_url": url},
            messages=build_messages(spec, "Profit rose."),
            schema=spec.answer_schema(),
            temperature=spec.temperature,
            max_tokens=TeacherSpec(model="m").max_tokens,
            seed=0,
        )

    with FakeOpenAIServer(lambda body, n: Answer('{"label": "neutral"}')) as server:
        with LabelCache(tmp_path / "cache") as cache:
            cache.put(old_key(server.url, "m"), Reply('{"label": "positive"}', 3, 4))
            cache.put(old_key(server.url, "tgi"), Reply('{"label": "positive"}', 3, 4))
        teacher = TeacherSpec(base_url=server.url, model="m")
        assert run(spec, ["Profit rose."], [teacher], tmp_path, dry_run=True).ledger["requests_planned"] == 0
        result = run(spec, ["Profit rose."], [teacher], tmp_path)
        assert server.requests == [] and result.rows[0]["label"] == "positive"
        assert result.ledger["cached"] == 1
        assert len(LabelCache(tmp_path / "cache")) == 3  # copied under the new key
        url_only = run(spec, ["Profit rose."], [TeacherSpec(base_url=server.url)], tmp_path)
        assert len(server.requests) == 1 and url_only.rows[0]["label"] == "neutral"


def test_one_text_in_two_unicode_spellings_is_asked_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """ "Café" typed with one code point (NFC) and as "e" + U+0301 (NFD, macOS) is one text: a CSV holding reviews
    both ways got "0 duplicates dropped", two requests and, from a teacher that reads bytes, two different labels.
    Now the second spelling is a duplicate (in one chunk and across chunks), kept as first written, and a later file
    of the NFD spellings is answered from the cache."""
    import hashlib
    import unicodedata

    from conftest import run_cli
    from fake_openai_server import Answer, FakeOpenAIServer

    from sxhub.parts import annotate_to_file
    from sxhub.spec import load_spec

    reviews = [
        "Das Café war großartig, sehr empfehlenswert!",
        "Le café était froid et le serveur impoli.",
        "这家店的服务很好，价格也便宜。",
        "המוצר הגיע שבור, מאוד מאוכזב",
        "यह उत्पाद बहुत अच्छा है 👍🏽",
    ]
    nfd = [unicodedata.normalize("NFD", t) for t in reviews]
    assert nfd[0] != reviews[0] and nfd[1] != reviews[1]
    pd.DataFrame({"text": [*reviews, nfd[0], nfd[1]]}).to_csv(tmp_path / "mixed.csv", index=False)
    pd.DataFrame({"text": nfd}).to_csv(tmp_path / "nfd.csv", index=False)

    def answer(body, n):  # a label from the bytes of the text, as a teacher reading tokens may well differ
        text = body["messages"][-1]["content"]
        return Answer(json.dumps({"label": ["positive", "negative"][hashlib.sha256(text.encode()).digest()[0] % 2]}))

    with FakeOpenAIServer(answer) as server:
        task = tmp_path / "task.yaml"
        task.write_text(f"name: reviews\nlanguage: de\nlabels: [positive, negative]\nteachers: [{server.url}]\n")
        argv = ["annotate", str(task), str(tmp_path / "mixed.csv"), "-o", str(tmp_path / "out.jsonl")]
        code, out, err = run_cli([*argv, "--cache-dir", str(tmp_path / "c")], capsys)
        assert code == 0 and "2 duplicates dropped, 5 requests" in out + err, out + err
        got = pd.read_json(tmp_path / "out.jsonl", lines=True)
        assert got["text"].tolist() == reviews  # as first written, nothing rewritten
        argv = ["annotate", str(task), str(tmp_path / "nfd.csv"), "-o", str(tmp_path / "nfd.jsonl")]
        code, out, err = run_cli([*argv, "--cache-dir", str(tmp_path / "c")], capsys)
        assert code == 0 and "0 requests (5 from cache)" in out + err, out + err
        assert pd.read_json(tmp_path / "nfd.jsonl", lines=True)["label"].tolist() == got["label"].tolist()

        result = annotate_to_file(
            load_spec(task),
            tmp_path / "mixed.csv",
            tmp_path / "chunks.jsonl",
            teachers=[TeacherSpec(base_url=server.url)],
            chunk_rows=2,
            cache=False,
            progress=False,
        )
        chunked = pd.read_json(tmp_path / "chunks.jsonl", lines=True)
        assert chunked["text"].tolist() == reviews, result  # the NFD copies sit in the last chunk


def test_a_text_in_either_unicode_form_is_asked_once_in_nfc_and_written_as_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The label cache keys a request by its NFC form, but the teacher was sent the text as given: "Café" typed with
    a combining accent (NFD, as macOS writes it) was asked in NFD, and the same text precomposed then got that reply
    from the cache although it was never asked in its own words. Every message is sent in NFC now (an inline
    prompt_template's too), so one cache entry is one prompt; the ``text`` column keeps the input's spelling, which
    users diff against."""
    from conftest import run_cli
    from fake_openai_server import FakeOpenAIServer, user_text

    from sxhub.prompt import build_messages

    nfd = unicodedata.normalize("NFD", "Café crème prices rose.")
    nfc = unicodedata.normalize("NFC", nfd)
    assert nfd != nfc
    with FakeOpenAIServer() as server:
        task = tmp_path / "task.yaml"
        task.write_text(f"name: fin\nlabels: [positive, neutral, negative]\nteachers: [{server.url}]\nsamples: 1\n")
        written = []
        for i, text in enumerate((nfd, nfc)):
            texts, out = tmp_path / f"texts{i}.csv", tmp_path / f"out{i}.csv"
            pd.DataFrame({"text": [text]}).to_csv(texts, index=False)
            argv = ["annotate", str(task), str(texts), "-o", str(out), "--cache-dir", str(tmp_path / "c")]
            code, _, err = run_cli(argv, capsys)
            assert code == 0, err
            written.append(read_table(out)["text"][0])
        assert [user_text(body) for body in server.requests] == [
            f"Text: {nfc}\n\nAnswer with the JSON object."
        ]  # asked once, in NFC; the second run's answer is that one, from the cache
    assert written == [nfd, nfc]  # each file as its input spelled it
    spec = make_spec(prompt_template="Label this: {{ text }}")
    assert (
        build_messages(spec, nfd) == build_messages(spec, nfc) == [{"role": "user", "content": f"Label this: {nfc}"}]
    )


def test_a_run_without_inference_endpoints_makes_no_pass_over_the_input_before_labelling(
    task_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check that a run will ask nothing (so that a sleeping Inference Endpoint is not woken) reads the input
    and counts the label cache's answers before the shard labels: it ran for every annotate, endpoints or not (a
    second read of an input the cache answers whole). It runs only for a run with an endpoint teacher."""
    from fake_openai_server import Answer, FakeOpenAIServer

    from sxhub.cli import main
    from sxhub.parts import shard

    def no_pass(job: object) -> bool:
        raise AssertionError("shard_asks ran for a run without endpoints")

    monkeypatch.setattr(shard, "shard_asks", no_pass)
    data = tmp_path / "in.csv"
    pd.DataFrame({"text": ["Profit rose.", "Sales fell."]}).to_csv(data, index=False)
    with FakeOpenAIServer(lambda body, n: Answer('{"label": "neutral"}')) as server:
        for out in ("a.csv", "b.csv"):  # the second: every answer cached, into a new OUT
            main(["-q", "annotate", str(task_file), str(data), "--teacher", server.url, "-o", str(tmp_path / out)])
    assert pd.read_csv(tmp_path / "b.csv")["label"].tolist() == ["neutral", "neutral"]


def test_another_seed_samples_the_vote_with_other_seeds(tmp_path: Path) -> None:
    """Sample s was sent with seed ``--seed + s``: with 3 samples ``--seed 1`` sent two of the three requests of
    ``--seed 0`` (the same prompt, the same seeds) and read them from the label cache, so two runs meant to vote
    independently shared two answers of three. Another seed now samples with other seeds; ``--seed 0`` sends what it
    did (earlier caches answer it)."""
    first, second = FakeTeacher(responder=by_keyword), FakeTeacher(responder=by_keyword)
    run(make_spec(samples=3), ["Profit rose."], [first], tmp_path, seed=0)
    run(make_spec(samples=3), ["Profit rose."], [second], tmp_path, seed=1)
    assert sorted(c.seed for c in first.history) == [0, 1, 2]
    assert len(second.history) == 3 and not {c.seed for c in second.history} & {0, 1, 2}
    assert all(0 <= c.seed < 2**31 for c in second.history)


@pytest.mark.parametrize("error", [errno.ENOLCK, errno.EOPNOTSUPP], ids=["nfs-without-lockd", "fuse-bucket"])
def test_a_filesystem_without_locks_runs_without_them_and_says_so(
    error: int,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``flock`` fails with ENOLCK on an NFS mount without a lock daemon (``nolock``, NFSv3 with no ``rpc.statd``)
    and with EOPNOTSUPP on some FUSE mounts (object-store buckets): annotate stopped there with a traceback ("OSError:
    [Errno 37] No locks available"), before any request, on the very file systems a cluster's runs share. The locks
    guard against a mistake (two runs on one OUT); without them the run goes on, and says once that they are off."""
    import fcntl

    from conftest import run_cli, sxhub_logged
    from fake_openai_server import FakeOpenAIServer

    def no_locks(fd: int, operation: int) -> None:
        raise OSError(error, os.strerror(error))

    monkeypatch.setattr(fcntl, "flock", no_locks)
    texts = tmp_path / "texts.csv"
    pd.DataFrame({"text": [f"Company {i} reported results." for i in range(3)]}).to_csv(texts, index=False)
    with FakeOpenAIServer() as server:
        task = tmp_path / "task.yaml"
        task.write_text(f"name: fin\nlabels: [positive, neutral, negative]\nteachers: [{server.url}]\n")
        argv = ["annotate", str(task), str(texts), "-o", str(tmp_path / "x.csv"), "--cache-dir", str(tmp_path / "c")]
        code, _, err = run_cli(argv, capsys)
    assert code == 0, err
    assert len(pd.read_csv(tmp_path / "x.csv")) == 3 and len(server.requests) == 3
    parts = str(tmp_path / "x.csv.parts")
    said = [line for line in sxhub_logged(caplog) if line.startswith(f"{parts}: its file system does not take")]
    assert len(said) == 1, sxhub_logged(caplog)  # once, not once per lock taken there
    assert os.strerror(error) in said[0] and "one sxhub command at a time" in said[0], said
