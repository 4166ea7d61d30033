"""Streaming on one machine: annotate in parts (resumable, same output as in memory), row slices, Hub streaming."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import build_tiny_model, run_cli
from fake_openai_server import Answer, FakeOpenAIServer

from sxhub.annotate import annotate
from sxhub.data import prepare_texts, read_table, write_table
from sxhub.errors import InputError, TeacherUnavailableError, UserError
from sxhub.parts import ROW, ShardJob, annotate_to_file, assemble, label_shard, parts_dir, shard_dir
from sxhub.spec import TaskSpec
from sxhub.stream import RowSlice, TableWriter, iter_table
from sxhub.teachers import FakeTeacher
from sxhub.teachers.base import CONTEXT_FIX

LABELS = ["positive", "neutral", "negative"]


def make_spec(**kwargs) -> TaskSpec:
    return TaskSpec.from_dict({"name": "fin", "description": "Financial sentiment.", "labels": LABELS, **kwargs})


def by_keyword(messages: list[dict[str, str]]) -> dict[str, str]:
    text = messages[-1]["content"].lower()
    return {"label": "positive" if "rose" in text else "negative" if "fell" in text else "neutral"}


def corpus(n: int = 60) -> pd.DataFrame:
    """Texts with duplicates far apart (across chunks), empty rows, PII to preprocess, and a column to keep."""
    verbs = ["rose", "fell", "was flat"]
    texts = [f"Sales of unit {i % 20} {verbs[i % 20 % 3]}  in Q{i % 4 + 1}." for i in range(n)]
    texts[5] = ""  # no text: left out and counted
    texts[17] = "   "
    texts[min(40, n - 1)] = "Mail ir@example.com: profit rose."
    return pd.DataFrame({"text": texts, "gold": [verbs[i % 3] for i in range(n)], "id": [str(i) for i in range(n)]})


def in_memory(spec: TaskSpec, frame: pd.DataFrame, out: Path, **kwargs) -> dict:
    """Today's path: the whole input prepared and labelled at once, written at the end."""
    prepared = prepare_texts(frame, keep_columns=["gold"])
    result = annotate(
        spec, prepared, teachers=[FakeTeacher(responder=by_keyword)], cache=False, progress=False, **kwargs
    )
    write_table(result.frame, out)
    return result.ledger


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".json", ".parquet"])
def test_parts_assemble_to_the_in_memory_output(tmp_path: Path, suffix: str) -> None:
    frame = corpus()
    source = write_table(frame, tmp_path / "in.csv")
    spec = make_spec(samples=2)
    expected = tmp_path / f"memory{suffix}"
    ledger = in_memory(spec, read_table(source), expected)

    fake = FakeTeacher(responder=by_keyword)
    out = tmp_path / f"streamed{suffix}"
    result = annotate_to_file(
        spec, source, out, teachers=[fake], keep_columns=["gold"], chunk_rows=7, cache=False, progress=False
    )
    if suffix == ".parquet":
        pd.testing.assert_frame_equal(read_table(out), read_table(expected))
    else:
        assert out.read_bytes() == expected.read_bytes()
    for key in ("n_texts", "n_input", "n_duplicates", "n_empty", "failed_texts", "ties", "requests"):
        assert result.ledger[key] == ledger[key], key
    assert result.ledger["votes"]["label_counts"] == ledger["votes"]["label_counts"]
    assert result.ledger["n_duplicates"] == 60 - 2 - 21  # 20 texts repeat every 20 rows, 1 more, 2 empty
    assert len(fake.history) == 2 * result.ledger["n_texts"]  # a duplicate in a later chunk is never asked
    parts = sorted(shard_dir(parts_dir(out), 0, 1).glob("part-*.parquet"))
    assert len(parts) >= 4 and ROW not in read_table(out).columns
    assert "labelled 21/21 texts" in result.summary_line()


def dies_after(n: int) -> Callable[[Any], Any]:
    """A keyword teacher's responder that answers ``n`` requests, then finds its server gone."""
    calls = {"n": 0}

    def responder(messages: Any) -> Any:
        calls["n"] += 1
        if calls["n"] > n:
            raise TeacherUnavailableError("the server went away")
        return by_keyword(messages)

    return responder


def test_a_killed_run_resumes_from_its_parts_and_the_cache(tmp_path: Path) -> None:
    source = write_table(corpus(), tmp_path / "in.jsonl")
    spec, out, cache = make_spec(), tmp_path / "out.jsonl", tmp_path / "cache"
    dies_after_ten = dies_after(10)

    with pytest.raises(TeacherUnavailableError):
        annotate_to_file(
            spec, source, out, teachers=[FakeTeacher(responder=dies_after_ten)], chunk_rows=4, cache=cache
        )
    assert not out.exists()
    done = sorted(shard_dir(parts_dir(out), 0, 1).glob("part-*.parquet"))
    assert 1 <= len(done) < 7

    fake = FakeTeacher(responder=by_keyword)
    resumed = annotate_to_file(spec, source, out, teachers=[fake], chunk_rows=4, cache=cache, progress=False)
    assert resumed.ledger["resumed_chunks"] >= len(done)
    # the chunks in parts are not asked again; the answers of the chunk that was cut are in the cache
    in_parts = sum(len(read_table(p)) for p in done)
    assert resumed.ledger["requests"] == len(fake.history) < 21 - in_parts
    assert resumed.ledger["requests"] + resumed.ledger["cached"] == 21  # the parts' answers count as cached
    clean = tmp_path / "clean.jsonl"
    annotate_to_file(spec, source, clean, teachers=[FakeTeacher(responder=by_keyword)], chunk_rows=4, cache=False)
    assert out.read_bytes() == clean.read_bytes()

    again = FakeTeacher(responder=by_keyword)  # a finished job: assembled again, nothing asked
    rerun = annotate_to_file(spec, source, out, teachers=[again], chunk_rows=4, cache=False, progress=False)
    assert again.history == [] and rerun.ledger["requests"] == 0 and out.read_bytes() == clean.read_bytes()


def test_a_rerun_labels_the_failed_rows_of_committed_chunks_again(tmp_path: Path) -> None:
    """A chunk committed with failed rows (the server was down for them) is labelled again by a rerun, as the
    in-memory engine does: only its failed texts are asked (the cache answers the rest), a copy of a failed text in
    a later chunk stays a dropped duplicate, and the counts are those of a clean run."""
    from sxhub.teachers import RetryableTeacherError

    source = write_table(corpus(), tmp_path / "in.jsonl")
    spec, out, cache = make_spec(), tmp_path / "out.jsonl", tmp_path / "cache"
    down = ("unit 3 ", "unit 9 ")  # rows 3 (chunk 0, again at rows 23 and 43) and 9 (chunk 1)

    def down_for_some(messages):
        if any(t in messages[-1]["content"] for t in down):
            raise RetryableTeacherError("HTTP 503")
        return by_keyword(messages)

    kwargs = {"chunk_rows": 7, "cache": cache, "progress": False, "max_retries": 0, "backoff": 0.0}
    first = annotate_to_file(spec, source, out, teachers=[FakeTeacher(responder=down_for_some)], **kwargs)
    assert first.ledger["failed_texts"] == 2

    fake = FakeTeacher(responder=by_keyword)
    rerun = annotate_to_file(spec, source, out, teachers=[fake], **kwargs)
    asked = sorted(call.messages[-1]["content"] for call in fake.history)
    assert len(asked) == 2 and all(any(t in text for t in down) for text in asked)
    clean = tmp_path / "clean.jsonl"
    ledger = annotate_to_file(
        spec, source, clean, teachers=[FakeTeacher(responder=by_keyword)], chunk_rows=7, cache=False, progress=False
    ).ledger
    assert out.read_bytes() == clean.read_bytes()
    for key in ("n_texts", "n_input", "n_duplicates", "n_empty", "failed_texts", "chunks"):
        assert rerun.ledger[key] == ledger[key], key
    assert rerun.ledger["votes"] == ledger["votes"]
    assert rerun.ledger["requests"] == 2

    again = FakeTeacher(responder=by_keyword)  # nothing failed any more: assembled again, nothing asked
    annotate_to_file(spec, source, out, teachers=[again], **kwargs)
    assert again.history == [] and out.read_bytes() == clean.read_bytes()


def test_a_rerun_asks_the_votes_of_a_teacher_that_was_down_again(tmp_path: Path) -> None:
    """One of two teachers down for some texts: those rows keep a label from the other teacher's vote alone (no
    failed row), and a rerun once it is back asked nothing, so OUT kept the one-vote labels for good. Now the rerun
    asks exactly the unanswered votes (the cache answers the rest), and OUT equals a clean run's. Votes that failed
    on invalid answers are not asked again: the cache would replay the same answers."""
    from sxhub.teachers import RetryableTeacherError

    source = write_table(corpus(), tmp_path / "in.jsonl")
    spec, out, cache = make_spec(), tmp_path / "out.jsonl", tmp_path / "cache"
    down = ("unit 3 ", "unit 9 ")

    def down_for_some(messages):
        if any(t in messages[-1]["content"] for t in down):
            raise RetryableTeacherError("HTTP 503")
        return by_keyword(messages)

    def pair(second):
        return [FakeTeacher(name="a", responder=by_keyword), FakeTeacher(name="b", responder=second)]

    kwargs = {"chunk_rows": 7, "cache": cache, "progress": False, "max_retries": 0, "backoff": 0.0}
    first = annotate_to_file(spec, source, out, teachers=pair(down_for_some), **kwargs)
    assert first.ledger["failed_texts"] == 0 and first.ledger["teachers"]["b"]["failed_votes"] == 2

    rerun = pair(by_keyword)
    annotate_to_file(spec, source, out, teachers=rerun, **kwargs)
    assert rerun[0].history == []
    asked = sorted(call.messages[-1]["content"] for call in rerun[1].history)
    assert len(asked) == 2 and all(any(t in text for t in down) for text in asked)
    clean = tmp_path / "clean.jsonl"
    annotate_to_file(spec, source, clean, teachers=pair(by_keyword), chunk_rows=7, cache=False, progress=False)
    assert out.read_bytes() == clean.read_bytes()

    again = pair(by_keyword)  # every vote answered now: assembled again, nothing asked
    annotate_to_file(spec, source, out, teachers=again, **kwargs)
    assert again[0].history == again[1].history == []

    def garbled_for_some(messages):
        return "not json" if any(t in messages[-1]["content"] for t in down) else by_keyword(messages)

    invalid = tmp_path / "invalid.jsonl"
    kwargs = {**kwargs, "cache": False, "max_invalid": 0}
    first = annotate_to_file(spec, source, invalid, teachers=pair(garbled_for_some), **kwargs)
    assert first.ledger["teachers"]["b"]["failed_votes"] == 2
    again = pair(by_keyword)  # invalid answers are not asked again: a finished job
    annotate_to_file(spec, source, invalid, teachers=again, **kwargs)
    assert again[0].history == again[1].history == []


def test_a_rerun_asks_only_the_texts_too_long_for_the_context_window_again_and_says_so(tmp_path: Path) -> None:
    """A context-length refusal goes away when the server is restarted with a longer context, so a rerun asks the
    refused texts again (and says how many), and only them: the label cache answers the rest of their chunks. With
    the same server they are refused again, and their rows stay failed with the fix, OUT as it was."""
    from sxhub.teachers import ContextLengthError

    source = write_table(corpus(), tmp_path / "in.jsonl")
    spec, out = make_spec(), tmp_path / "out.jsonl"
    long = ("unit 3 ", "unit 9 ")

    def refuses_long(messages):
        if any(t in messages[-1]["content"] for t in long):
            raise ContextLengthError(
                f"fake: HTTP 400; {CONTEXT_FIX}.", status=400, detail="maximum context length is 8 tokens"
            )
        return by_keyword(messages)

    kwargs = {"chunk_rows": 7, "cache": tmp_path / "cache", "progress": False, "max_retries": 0, "backoff": 0.0}
    first = annotate_to_file(spec, source, out, teachers=[FakeTeacher(responder=refuses_long)], **kwargs)
    assert first.ledger["failed_texts"] == 2
    written = out.read_bytes()
    again = FakeTeacher(responder=refuses_long)
    rerun = annotate_to_file(spec, source, out, teachers=[again], **kwargs)
    asked = {call.messages[-1]["content"] for call in again.history}
    assert len(asked) == 2 and all(any(t in text for t in long) for text in asked)
    assert (
        rerun.ledger["reasked_too_long"] == 2
        and "re-asking 2 texts refused as too long earlier" in rerun.summary_line()
    )
    assert rerun.ledger["failed_texts"] == 2 and out.read_bytes() == written
    errors = [r["error"] for r in read_table(out).to_dict(orient="records") if r["failed"]]
    assert len(errors) == 2 and all("context window" in e for e in errors)


def test_a_text_over_max_chars_fails_its_row_alone_and_a_rerun_with_the_limit_raised_asks_only_it(
    tmp_path: Path,
) -> None:
    """One text over --max-chars stopped the whole run (a pasted log among 200,000 tickets: none labelled after it).
    Now its row alone fails, unasked, with an error naming the limit and the text's length, and the summary counts
    it; a rerun with the same limit asks nothing, one with the limit raised asks that text alone (the label cache
    answers the rest of its chunk) and ends as a clean run would; a lowered limit is still refused."""
    frame = corpus(40)
    long = "Profit rose. " * 10  # 130 characters, in the fifth chunk
    frame.loc[30, "text"] = long
    source = write_table(frame, tmp_path / "in.jsonl")
    spec, out = make_spec(), tmp_path / "out.jsonl"
    kwargs = {"chunk_rows": 7, "cache": tmp_path / "cache", "progress": False}

    def asked(teacher: FakeTeacher) -> list[str]:
        return [call.messages[-1]["content"] for call in teacher.history]

    first = FakeTeacher(responder=by_keyword)
    result = annotate_to_file(spec, source, out, teachers=[first], max_chars=100, **kwargs)
    rows = read_table(out).to_dict(orient="records")  # the corpus repeats texts: 22 distinct ones
    assert len(rows) == 22 and [r["failed"] for r in rows] == [r["text"] == long.strip() for r in rows]
    (failed,) = [r for r in rows if r["failed"]]
    assert pd.isna(failed["label"]) and len(failed["votes"]) == 1
    assert "130 characters, over --max-chars 100" in failed["error"] and "--max-chars 130 or more" in failed["error"]
    assert not any(long.strip() in text for text in asked(first))
    assert result.ledger["over_max_chars"] == 1 and result.ledger["failed_texts"] == 1
    assert "1 text over --max-chars 100 not asked" in result.summary_line()
    written = out.read_bytes()
    same = FakeTeacher(responder=by_keyword)
    again = annotate_to_file(spec, source, out, teachers=[same], max_chars=120, **kwargs)  # still over: unasked
    assert same.history == [] and out.read_bytes() == written and again.ledger["over_max_chars"] == 1
    raised = FakeTeacher(responder=by_keyword)
    rerun = annotate_to_file(spec, source, out, teachers=[raised], max_chars=200, **kwargs)
    assert asked(raised) and all(long.strip() in text for text in asked(raised))
    assert rerun.ledger["over_max_chars"] == 0 and rerun.ledger["reasked_over_max_chars"] == 1
    assert "asking 1 text an earlier run left out over --max-chars" in rerun.summary_line()
    clean = tmp_path / "clean.jsonl"
    annotate_to_file(spec, source, clean, teachers=[FakeTeacher(responder=by_keyword)], max_chars=200, **kwargs)
    assert out.read_bytes() == clean.read_bytes()
    with pytest.raises(UserError, match="another max_chars"):
        annotate_to_file(spec, source, out, teachers=[FakeTeacher(responder=by_keyword)], max_chars=150, **kwargs)


def test_the_ledger_of_a_resumed_or_rerun_job_shows_the_whole_bill(tmp_path: Path) -> None:
    """The chunks an earlier run labelled count as cached answers: a resumed run and a rerun of a finished job
    show the whole job's tokens and cost (not $0), and give the model card no teacher speed (their seconds did not
    label the rows)."""
    from sxhub.cards import ledger_speed
    from sxhub.spec import TeacherSpec

    def priced(responder):
        teacher = FakeTeacher(responder=responder)
        teacher.spec = TeacherSpec(model="fake-model", price_input=1.0, price_output=2.0)
        return teacher

    source = write_table(corpus(), tmp_path / "in.jsonl")
    spec, out = make_spec(), tmp_path / "out.jsonl"
    clean = annotate_to_file(
        spec, source, tmp_path / "clean.jsonl", teachers=[priced(by_keyword)], chunk_rows=4, cache=False
    ).ledger
    dies_after_ten = dies_after(10)

    cache = tmp_path / "cache"
    with pytest.raises(TeacherUnavailableError):
        annotate_to_file(spec, source, out, teachers=[priced(dies_after_ten)], chunk_rows=4, cache=cache)
    resumed = annotate_to_file(spec, source, out, teachers=[priced(by_keyword)], chunk_rows=4, cache=cache)
    rerun = annotate_to_file(spec, source, out, teachers=[priced(by_keyword)], chunk_rows=4, cache=False)
    assert resumed.ledger["resumed_chunks"] > 0 and rerun.ledger["requests"] == 0
    for ledger in (resumed.ledger, rerun.ledger):
        assert ledger["requests"] + ledger["cached"] == clean["requests"] == 21
        for kind in ("input", "output"):
            assert ledger[f"{kind}_tokens"] + ledger[f"cached_{kind}_tokens"] == clean[f"{kind}_tokens"]
        assert ledger["cost_usd"] + ledger["cached_cost_usd"] == pytest.approx(clean["cost_usd"])
        rate, per_million = ledger_speed(ledger)
        assert rate is None and per_million == pytest.approx(ledger_speed(clean)[1])
    teacher = rerun.ledger["teachers"]["fake"]
    assert teacher["cached"] == 21 and teacher["cached_cost_usd"] == pytest.approx(clean["cost_usd"])

    import sqlite3  # parts written before the answers were recorded: counted from the parts' votes

    with sqlite3.connect(shard_dir(parts_dir(out), 0, 1) / "state.sqlite") as db:
        db.execute("UPDATE chunks SET stats = json_remove(stats, '$.answers')")
    older = annotate_to_file(spec, source, out, teachers=[priced(by_keyword)], chunk_rows=4, cache=False)
    assert older.ledger["teachers"] == rerun.ledger["teachers"]


def test_parts_written_with_an_edited_prompt_template_file_are_never_mixed(tmp_path: Path) -> None:
    """The spec records a template file by its path; the manifest also records what the file holds, so a run
    resumed after the template was edited stops with one line instead of mixing parts of both prompts."""
    import sxhub.prompt

    template = tmp_path / "prompt.jinja"
    template.write_text("v1: {{ text }}", encoding="utf-8")
    source = write_table(corpus(20), tmp_path / "in.csv")
    out = tmp_path / "out.jsonl"
    spec = make_spec(prompt_template=str(template))
    annotate_to_file(spec, source, out, teachers=[FakeTeacher(responder=by_keyword)], cache=False, progress=False)
    template.write_text("v2: {{ text }}", encoding="utf-8")
    sxhub.prompt._compile.cache_clear()  # a new process, as a rerun of the command would be
    with pytest.raises(UserError, match=r"another prompt_template_file .*add --restart to start over"):
        annotate_to_file(spec, source, out, teachers=[FakeTeacher(responder=by_keyword)], cache=False)


def test_a_template_file_edited_while_a_run_goes_on_does_not_change_its_prompt(tmp_path: Path) -> None:
    """The template file was read per text (and per chunk): edited while a run went on, its later texts were asked
    with the new prompt, mixed in one OUT with the old, while the manifest recorded the old file."""
    template = tmp_path / "prompt.jinja"
    template.write_text("v1: {{ text }}", encoding="utf-8")
    source = write_table(pd.DataFrame({"text": [f"Sales of unit {i} rose." for i in range(12)]}), tmp_path / "in.csv")
    seen: list[str] = []

    def edits_the_template(messages: list[dict[str, str]]) -> dict[str, str]:
        seen.append(messages[-1]["content"][:3])
        template.write_text("v2 with other words: {{ text }}", encoding="utf-8")  # the user edits it meanwhile
        return by_keyword(messages)

    spec = make_spec(prompt_template=str(template))
    teacher = FakeTeacher(responder=edits_the_template)
    annotate_to_file(spec, source, tmp_path / "out.jsonl", teachers=[teacher], cache=False, chunk_rows=4,
                     concurrency=1, progress=False)  # fmt: skip
    assert len(seen) == 12 and set(seen) == {"v1:"}


def test_a_manifest_written_before_it_held_the_rendered_prompt_still_resumes(tmp_path: Path) -> None:
    """Parts folders started before the manifest held the template's rendered prompt were refused on resume
    ("another prompt (null there, ...)")."""
    template = tmp_path / "prompt.jinja"
    template.write_text("v1: {{ text }}", encoding="utf-8")
    source = write_table(corpus(20), tmp_path / "in.csv")
    out = tmp_path / "out.jsonl"
    spec = make_spec(prompt_template=str(template))
    annotate_to_file(spec, source, out, teachers=[FakeTeacher(responder=by_keyword)], cache=False, progress=False)
    manifest = parts_dir(out) / "manifest.json"
    older = json.loads(manifest.read_text(encoding="utf-8"))
    del older["prompt"]
    manifest.write_text(json.dumps(older), encoding="utf-8")
    again = FakeTeacher(responder=lambda m: pytest.fail("a finished job resumes without asking"))
    annotate_to_file(spec, source, out, teachers=[again], cache=False, progress=False)


def test_a_url_only_teacher_serving_another_model_never_mixes_parts(tmp_path: Path) -> None:
    """A teacher given by URL only labels with the model its server lists; the shard records it with the first
    chunk labelled, so a run resumed after the server was restarted with another model stops with one line
    instead of adding that model's labels to the parts of the first one."""
    from fake_openai_server import Answer, Fail

    from sxhub.errors import SxhubError

    source = write_table(corpus(20), tmp_path / "in.csv")
    out, state = tmp_path / "out.jsonl", {"n": 0, "die_after": 8}

    def by_model(body, n):
        state["n"] += 1
        if state["die_after"] and state["n"] > state["die_after"]:
            return Fail(401)  # the run stops midway
        return Answer(json.dumps({"label": "positive" if body["model"] == "model-A" else "negative"}))

    with FakeOpenAIServer(by_model) as server:
        server.models = ["model-A"]
        spec = make_spec(samples=1, teachers=[{"base_url": server.url, "name": "srv"}])  # no model: the served one
        kwargs = {"cache": tmp_path / "cache", "progress": False, "chunk_rows": 5, "concurrency": 1}
        with pytest.raises(SxhubError):
            annotate_to_file(spec, source, out, **kwargs)
        assert list(shard_dir(parts_dir(out), 0, 1).glob("part-*.parquet"))
        server.models, state["die_after"] = ["model-B"], 0  # restarted with another model
        asked = len(server.requests)
        with pytest.raises(
            UserError, match=r"""another served_model of teacher 'srv' \("model-A" there, "model-B" now\).*--restart"""
        ):
            annotate_to_file(spec, source, out, **kwargs)
        assert len(server.requests) == asked and not out.exists()
        server.models = ["model-A"]  # served again: the run resumes
        assert annotate_to_file(spec, source, out, **kwargs).ledger["failed_texts"] == 0
        assert set(read_table(out)["label"]) == {"positive"}
        server.models = ["model-B"]
        labels = read_table(annotate_to_file(spec, source, out, restart=True, **kwargs).output)["label"]
        assert set(labels) == {"negative"}


def test_parts_of_a_run_with_other_parameters_are_never_mixed(tmp_path: Path) -> None:
    source = write_table(corpus(20), tmp_path / "in.csv")
    out = tmp_path / "out.jsonl"
    annotate_to_file(make_spec(), source, out, teachers=[FakeTeacher(responder=by_keyword)], cache=False)
    with pytest.raises(UserError, match=r"another samples \(1 there, 2 now\).*add --restart to start over"):
        annotate_to_file(make_spec(), source, out, teachers=[FakeTeacher(responder=by_keyword)], samples=2)
    fake = FakeTeacher(responder=by_keyword)
    annotate_to_file(make_spec(), source, out, teachers=[fake], samples=2, cache=False, restart=True)
    assert len(fake.history) == 2 * len(read_table(out)) and len(read_table(out)["votes"][0]) == 2
    with pytest.raises(InputError, match=r"extension '\.xlsx'"):  # refused before any request
        annotate_to_file(make_spec(), source, tmp_path / "out.xlsx", teachers=[FakeTeacher(responder=by_keyword)])


def test_a_run_that_labelled_nothing_does_not_hold_its_parameters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A teacher URL with a typo: nothing answers, no text is labelled, and OUT.parts/ keeps the run's manifest. The
    corrected rerun was refused ('holds the parts of an earlier run of out.csv with another base_url ... add
    --restart'), though there was nothing to resume. It now starts over; parts with labels still refuse."""
    source = write_table(corpus(20), tmp_path / "in.csv")
    task = tmp_path / "task.yaml"
    task.write_text("name: fin\nlabels: [positive, neutral, negative]\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    argv = ["annotate", str(task), str(source), "-o", str(out), "--teacher"]
    code, _, err = run_cli([*argv, "http://127.0.0.1:9/v1"], capsys)
    assert code == 2 and "nothing answers at http://127.0.0.1:9/v1" in err, err
    assert not parts_dir(out).exists()  # made by this run, which wrote nothing into it: not left behind
    with FakeOpenAIServer(lambda body, n: Answer('{"label": "neutral"}')) as server:
        code, _, err = run_cli([*argv, server.url], capsys)
        assert code == 0, err
        assert len(read_table(out)) == len(server.requests) > 0
        code, _, err = run_cli([*argv, server.url, "--samples", "2"], capsys)  # labels there now: refused
    assert code == 2 and "holds the parts of an earlier run" in err


def test_an_edit_that_changes_no_label_resumes_the_parts_without_a_request(tmp_path: Path) -> None:
    """The manifest compares what decides the labels, as the label cache's key does. It held the whole spec, so a
    corrected price, a longer timeout, the license or the language (cards, the bill, the wait) refused the resume
    with two identical excerpts of the spec's JSON, and --restart asked every text again."""
    source = write_table(corpus(20), tmp_path / "in.csv")
    out = tmp_path / "out.jsonl"
    with FakeOpenAIServer() as server:
        teacher = {"base_url": server.url, "model": "fake", "name": "srv", "price_input": 1.0, "price_output": 2.0}
        first = annotate_to_file(make_spec(teachers=[teacher]), source, out, cache=False, chunk_rows=5, progress=False)
        asked, labelled = len(server.requests), read_table(out)
        assert asked == first.ledger["requests"] > 0
        edits: list[dict[str, Any]] = [
            {"teachers": [{**teacher, "price_output": 3.0, "timeout": 600.0}]},
            {"teachers": [teacher], "license": "mit", "language": "de", "name": "fin-v2"},
            {"teachers": [teacher], "vote": "dawid-skene"},  # decided from the parts' votes when OUT is assembled
        ]
        for edit in edits:
            rerun = annotate_to_file(make_spec(**edit), source, out, cache=False, chunk_rows=5, progress=False)
            assert len(server.requests) == asked and rerun.ledger["requests"] == 0
            assert rerun.ledger["vote_method"] == edit.get("vote", "majority")
            pd.testing.assert_frame_equal(read_table(out), labelled)  # one teacher: Dawid-Skene keeps its votes
        assert rerun.ledger["cached"] == asked  # answered by the parts


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (
            {"labels": [*LABELS, "mixed"]},
            r'another spec \(labels: \["positive", "neutral", "negative"\] there, '
            r'\["positive", "neutral", "negative", "mixed"\] now\)',
        ),
        (
            {"labels": [*LABELS[:2], {"name": "negative", "description": "bad news for investors"}]},
            r'another spec \(labels\[2\]\.description: "" there, "bad news for investors" now\)',
        ),
        ({"temperature": 0.1}, r"another spec \(temperature: 0\.7 there, 0\.1 now\)"),
        (
            {"teachers": [{"model": "fake", "name": "srv", "max_tokens": 64}]},
            r"another max_tokens of teacher 'srv' \(256 there, 64 now\)",
        ),
    ],
)
def test_an_edit_that_changes_the_labels_is_refused_naming_what_changed(
    tmp_path: Path, edit: dict[str, Any], named: str
) -> None:
    """A spec edit that changes the prompt, the schema or the sampling stops the resume with one line naming the
    field and both values; it named only "another spec" with two excerpts of the JSON cut at the same place."""
    source = write_table(corpus(20), tmp_path / "in.csv")
    out = tmp_path / "out.jsonl"
    with FakeOpenAIServer() as server:
        base = {"teachers": [{"base_url": server.url, "model": "fake", "name": "srv"}]}
        annotate_to_file(make_spec(**base), source, out, cache=False, progress=False)
        asked = len(server.requests)
        if "teachers" in edit:
            edit = {"teachers": [{**edit["teachers"][0], "base_url": server.url}]}
        with pytest.raises(UserError, match=named + r": rerun with the same parameters.*add --restart"):
            annotate_to_file(make_spec(**{**base, **edit}), source, out, cache=False, progress=False)
        assert len(server.requests) == asked


def test_a_spec_field_a_prompt_template_uses_is_compared_by_the_prompt_it_renders(tmp_path: Path) -> None:
    """The language changes no label with sxhub's prompt, but a prompt_template may print it: the manifest holds
    the messages it renders for one text, so that edit stops the resume instead of mixing two prompts' labels."""
    source = write_table(corpus(20), tmp_path / "in.csv")
    out = tmp_path / "out.jsonl"
    spec = make_spec(prompt_template="Answer in {{ spec.language }}. Label: {{ text }}")
    annotate_to_file(spec, source, out, teachers=[FakeTeacher(responder=by_keyword)], cache=False, progress=False)
    fake = FakeTeacher(responder=by_keyword)
    with pytest.raises(UserError, match=r"another prompt \(the prompt_template renders other messages"):
        annotate_to_file(replace(spec, language="de"), source, out, teachers=[fake], cache=False)
    assert not fake.history
    assert (
        annotate_to_file(replace(spec, license="mit"), source, out, teachers=[fake], cache=False).ledger["requests"]
        == 0
    )


def test_a_run_started_before_prompts_were_sent_in_nfc_resumes(tmp_path: Path) -> None:
    """A spec whose own text is in NFD (a description typed on a Mac) renders other messages since every message is
    sent in NFC, so the prompt identity in the manifest of a run started before that upgrade no longer matched and
    the resume was refused as 'another prompt'. The identity the older sxhub wrote (the template's output as
    rendered, before NFC) is taken for today's: the run resumes asking nothing (the label cache keys requests in NFC
    either way) and its manifest is written again; an edit of the description is still refused."""
    import hashlib
    import unicodedata

    from sxhub.parts.layout import MANIFEST
    from sxhub.prompt import render_template

    source = write_table(corpus(20), tmp_path / "in.csv")
    out = tmp_path / "out.jsonl"
    description = unicodedata.normalize("NFD", "Le sentiment d'une phrase de presse économique.")
    spec = make_spec(description=description, prompt_template="{{ spec.description }} Étiquette : {{ text }}")
    annotate_to_file(spec, source, out, teachers=[FakeTeacher(responder=by_keyword)], cache=False, progress=False)
    manifest = parts_dir(out) / MANIFEST
    today = json.loads(manifest.read_text(encoding="utf-8"))
    # the manifest as sxhub wrote it before 1681465: the messages of e814053's build_messages, not put in NFC
    rendered = [{"role": "user", "content": render_template(spec, "\u2063sxhub manifest probe\u2063")}]
    older = hashlib.sha256(json.dumps(rendered, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()
    assert older != today["prompt"]
    manifest.write_text(json.dumps({**today, "prompt": older}), encoding="utf-8")
    fake = FakeTeacher(responder=by_keyword)
    assert annotate_to_file(spec, source, out, teachers=[fake], cache=False).ledger["requests"] == 0
    assert not fake.history
    assert json.loads(manifest.read_text(encoding="utf-8"))["prompt"] == today["prompt"]
    manifest.write_text(json.dumps({**today, "prompt": older}), encoding="utf-8")
    edited = replace(spec, description=unicodedata.normalize("NFD", "Le sentiment d'une dépêche."))
    with pytest.raises(UserError, match=r"another spec"):
        annotate_to_file(edited, source, out, teachers=[fake], cache=False)
    assert not fake.history


def test_shards_labelled_apart_assemble_to_the_one_process_output(tmp_path: Path) -> None:
    """What ``--engine ray`` does with Ray tasks, here in one process: each shard has its own folder and cache;
    assembling merges them in input order and drops a text a lower shard already holds."""
    source = write_table(corpus(), tmp_path / "in.parquet")
    spec = make_spec()
    single = tmp_path / "single.jsonl"
    annotate_to_file(spec, source, single, teachers=[FakeTeacher(responder=by_keyword)], cache=False, chunk_rows=5)

    out = tmp_path / "sharded.jsonl"
    parts = parts_dir(out)
    for i in range(3):
        folder = shard_dir(parts, i, 3)
        job = ShardJob(spec, str(source), folder, RowSlice().subshard(i, 3), [FakeTeacher(responder=by_keyword)], "r1")
        job.chunk_rows, job.cache, job.progress = 5, folder, False
        label_shard(job)
    done = assemble(parts, out, spec, shards=3)
    assert out.read_bytes() == single.read_bytes()
    assert done.dropped > 0 and done.written == 21


def test_shards_split_by_text_ask_each_distinct_text_once(tmp_path: Path) -> None:
    """``--engine ray``'s split (here in one process): every copy of a text, also one that preprocessing makes equal
    (extra spaces), lands in one shard, so the teacher is asked once per distinct text and nothing is left for the
    merge to drop; OUT equals the one-process output."""
    import numpy as np

    from sxhub.parts import prepare_job
    from sxhub.ray_annotate import SHARD_ROWS, split_by_text

    frame = corpus(90)
    frame.loc[70, "text"] = "Sales of unit 3 rose  in   Q4."  # "Sales of unit 3 rose  in Q4." after preprocessing
    source = write_table(frame, tmp_path / "in.csv")
    spec = make_spec()
    single = tmp_path / "single.jsonl"
    one = FakeTeacher(responder=by_keyword)
    annotate_to_file(spec, source, single, teachers=[one], keep_columns=["gold", "id"], cache=False, chunk_rows=7)
    distinct = len({call.messages[-1]["content"] for call in one.history})

    out = tmp_path / "sharded.jsonl"
    teacher = FakeTeacher(responder=by_keyword)
    job, parts = prepare_job(
        spec, str(source), out, teachers=[teacher], samples=None, concurrency=2, rows=None, split="train",
        text_column=None, keep_columns=["gold", "id"], preprocess=None, max_chars=20_000, chunk_rows=7,
        restart=False, shards=3, max_invalid=2, seed=0,
    )  # fmt: skip
    split_by_text(job, parts, 3)
    held = [np.load(shard_dir(parts, i, 3) / SHARD_ROWS) for i in range(3)]
    assert sorted(np.concatenate(held).tolist()) == list(range(90))  # every row in exactly one shard
    assert all(len(h) for h in held) and all((np.diff(h) > 0).all() for h in held)
    for i in range(3):
        folder = shard_dir(parts, i, 3)
        label_shard(replace(job, folder=folder, cache=folder, progress=False, positions=str(folder / SHARD_ROWS)))
    done = assemble(parts, out, spec, shards=3)
    asked = [call.messages[-1]["content"] for call in teacher.history]
    assert len(asked) == len(set(asked)) == distinct  # each distinct text asked once, over all shards
    assert done.dropped == 0
    assert out.read_bytes() == single.read_bytes()


def _label_in_shards(spec: TaskSpec, source: Path, out: Path, shards: int, *, restart: bool = False) -> dict:
    """``annotate_ray`` without Ray: the same job, split and shard caches (one per shard, under OUT.parts/)."""
    from contextlib import ExitStack

    from sxhub.parts import finish, prepare_job
    from sxhub.ray_annotate import SHARD_ROWS, split_by_text

    with ExitStack() as hold:
        job, parts = prepare_job(
            spec, str(source), out, teachers=None, samples=None, concurrency=2, rows=None, split="train",
            text_column=None, keep_columns=[], preprocess=None, max_chars=20_000, chunk_rows=7,
            restart=restart, shards=shards, max_invalid=2, seed=0, hold=hold,
        )  # fmt: skip
        split_by_text(job, parts, shards)
        for i in range(shards):
            folder = shard_dir(parts, i, shards)
            label_shard(replace(job, folder=folder, cache=folder, progress=False, positions=str(folder / SHARD_ROWS)))
        return finish(job, parts, out, shards=shards, start=0.0).ledger


def test_a_restart_asks_no_answer_the_shards_caches_hold(tmp_path: Path) -> None:
    """--engine ray keeps each shard's label cache in its folder under OUT.parts/, and --restart deleted the folder:
    the answers the refusal promised the label cache keeps were all paid again. A restart now keeps the shards'
    caches, and a run with another number of shards, or the one-process engine, reads their answers."""
    source = write_table(corpus(40), tmp_path / "in.csv")
    out = tmp_path / "out.jsonl"
    with FakeOpenAIServer() as server:
        spec = make_spec(teachers=[{"base_url": server.url, "model": "fake", "name": "srv"}])
        first = _label_in_shards(spec, source, out, 2)
        asked, labelled = len(server.requests), read_table(out)
        assert asked == first["requests"] > 0
        for shards in (2, 3):  # the same shards, then others (each text in another shard's folder)
            ledger = _label_in_shards(spec, source, out, shards, restart=True)
            assert len(server.requests) == asked and ledger["cached"] == asked
            pd.testing.assert_frame_equal(read_table(out), labelled)
        user_cache = tmp_path / "user-cache"  # the one-process engine, with a cache that has none of them
        again = annotate_to_file(spec, source, out, cache=user_cache, chunk_rows=7, restart=True, progress=False)
        assert len(server.requests) == asked and again.ledger["cached"] == asked
        pd.testing.assert_frame_equal(read_table(out), labelled)
        again = annotate_to_file(spec, source, out, cache=user_cache, chunk_rows=5, restart=True, progress=False)
        assert len(server.requests) == asked  # its own cache answers a restart too
        assert sorted(p.name for p in parts_dir(out).iterdir() if not p.name.startswith("shard-")) == [
            "lock",
            "manifest.json",
        ]


def test_dawid_skene_decides_over_every_part(tmp_path: Path) -> None:
    pytest.importorskip("crowdkit")
    if "vote" not in TaskSpec.__dataclass_fields__:
        pytest.skip("this checkout's TaskSpec has no vote method")
    source = write_table(corpus(), tmp_path / "in.csv")
    spec = make_spec(samples=3, vote="dawid-skene")
    expected = tmp_path / "memory.jsonl"

    def noisy(messages):
        text = messages[-1]["content"]
        return {"label": LABELS[sum(map(ord, text)) % 3]} if "unit 1" in text else by_keyword(messages)

    prepared = prepare_texts(read_table(source), keep_columns=["gold"])
    memory = annotate(spec, prepared, teachers=[FakeTeacher(responder=noisy)], cache=False, progress=False)
    write_table(memory.frame, expected)
    out = tmp_path / "streamed.jsonl"
    result = annotate_to_file(
        spec, source, out, teachers=[FakeTeacher(responder=noisy)], keep_columns=["gold"], chunk_rows=6, cache=False
    )
    assert out.read_bytes() == expected.read_bytes()
    assert result.ledger["vote_method"] == "dawid-skene"


# --------------------------------------------------------------------------------------------------------------
# row slices
# --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet", ".json"])
def test_slices_are_deterministic_and_shards_partition_the_slice(tmp_path: Path, suffix: str) -> None:
    source = write_table(pd.DataFrame({"text": [f"t{i}" for i in range(103)]}), tmp_path / f"in{suffix}")
    chunks = list(iter_table(source, chunk_rows=10, rows=RowSlice(offset=5, limit=50, shard=(1, 3))))
    assert [len(c) for c in chunks] == [10, 7]
    assert [i for c in chunks for i in c.index] == [i for i in range(5, 55) if (i - 5) % 3 == 1]
    union = sorted(
        i for k in range(4) for c in iter_table(source, chunk_rows=7, rows=RowSlice(shard=(k, 4))) for i in c.index
    )
    assert union == list(range(103))
    sub = [i for c in iter_table(source, chunk_rows=9, rows=RowSlice(shard=(1, 2)).subshard(2, 3)) for i in c.index]
    assert sub == [p for p in range(103) if p % 2 == 1 and (p // 2) % 3 == 2]
    assert read_table(source, rows=RowSlice(offset=100))["text"].tolist() == ["t100", "t101", "t102"]


def test_a_slice_gets_a_progress_total_and_so_an_eta(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """predict and annotate with --limit, --offset or --shard I/N (one slice per machine, as the README advises for
    millions of rows) showed a bar with no total and no ETA: the total was counted for the whole input only. A
    slice's total is its row count, from the input's."""
    import sxhub.progress
    from sxhub.predict_files import predict_file

    source = write_table(pd.DataFrame({"text": [f"t{i} rose" for i in range(103)]}), tmp_path / "in.csv")
    for rows in (RowSlice(), RowSlice(limit=50), RowSlice(offset=100), RowSlice(offset=5, limit=50, shard=(1, 3))):
        assert rows.count(103) == sum(len(c) for c in iter_table(source, chunk_rows=10, rows=rows)), rows
    for k in range(3):
        assert RowSlice(offset=98, shard=(k, 3)).count(103) == [2, 2, 1][k]
    assert RowSlice(offset=200).count(103) == 0 and RowSlice(limit=5).count(None) is None

    totals: list[Any] = []
    real = sxhub.progress.progress_bar

    def spy(*args: Any, **kwargs: Any) -> Any:
        totals.append(kwargs.get("total"))
        return real(*args, **kwargs)

    monkeypatch.setattr(sxhub.progress, "progress_bar", spy)
    model = build_tiny_model(tmp_path / "model")
    summary = predict_file(model, source, tmp_path / "out.csv", rows=RowSlice(offset=3, shard=(0, 4)))
    assert totals == [summary.n] == [25]
    totals.clear()
    out = tmp_path / "labelled.csv"
    annotate_to_file(
        make_spec(), source, out, teachers=[FakeTeacher(responder=by_keyword)], rows=RowSlice(limit=40), cache=None
    )
    assert totals[0] == len(read_table(out)) == 40


@pytest.mark.parametrize(
    ("shard", "message"),
    [("3/3", r"--shard 3/3: write I/N with 0 <= I < N"), ("1-4", r"--shard '1-4' is not I/N")],
)
def test_a_bad_shard_is_one_line_naming_the_form(shard: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        RowSlice.parse(shard=shard)


def test_annotate_and_predict_cli_take_offset_limit_and_shard(tmp_path: Path, capsys) -> None:
    source = write_table(
        corpus(40).assign(text=lambda d: [f"Unique text {i} rose." for i in range(40)]), tmp_path / "in.csv"
    )
    with FakeOpenAIServer() as server:
        task = tmp_path / "task.yaml"
        task.write_text(
            f"name: fin\nlabels: [positive, neutral, negative]\nteachers:\n  - base_url: {server.url}\n    model: fake\n",
            encoding="utf-8",
        )
        outs = []
        for k in range(2):
            out = tmp_path / f"shard{k}.jsonl"
            argv = ["-q", "annotate", str(task), str(source), "-o", str(out), "--offset", "4", "--limit", "30"]
            code, _, err = run_cli([*argv, "--shard", f"{k}/2", "--keep-column", "id"], capsys)
            assert code == 0, err
            outs.append(read_table(out))
        code, _, err = run_cli(
            ["-q", "annotate", str(task), str(source), "-o", str(tmp_path / "x.jsonl"), "--shard", "2/2"], capsys
        )
        assert code == 2 and "--shard 2/2: write I/N" in err
    assert sorted(int(i) for o in outs for i in o["id"]) == list(range(4, 34))
    assert outs[0]["id"].tolist() == [str(i) for i in range(4, 34, 2)]

    model = build_tiny_model(tmp_path / "model")
    predicted = tmp_path / "pred.csv"
    code, _, err = run_cli(
        ["predict", str(model), str(source), "-o", str(predicted), "--offset", "10", "--limit", "5"], capsys
    )
    assert code == 0, err
    assert read_table(predicted)["id"].tolist() == ["10", "11", "12", "13", "14"]
    code, _, err = run_cli(["predict", str(model), str(source), "-o", str(predicted), "--shard", "1/4"], capsys)
    assert code == 0, err
    assert read_table(predicted)["id"].tolist() == [str(i) for i in range(1, 40, 4)]


def test_predict_json_output_streams_and_equals_the_whole_file_writer(tmp_path: Path) -> None:
    from sxhub.predict import Predictor, predict_file

    model = build_tiny_model(tmp_path / "model")
    frame = pd.DataFrame({"text": [f"profit rose {i}" if i % 7 else "" for i in range(50)], "id": range(50)})
    source = write_table(frame, tmp_path / "in.jsonl")
    predictor = Predictor(model)
    summary = predict_file(model, source, tmp_path / "out.json", predictor=predictor, chunk_rows=8)
    whole = tmp_path / "whole.json"
    predict_file(model, source, tmp_path / "whole.parquet", predictor=predictor, chunk_rows=1000)
    write_table(read_table(tmp_path / "whole.parquet"), whole)
    assert summary.n == 50 and summary.n_empty == 8
    assert json.loads((tmp_path / "out.json").read_text()) == json.loads(whole.read_text())


def test_table_writer_equals_write_table_for_every_format(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"text": [f"t{i}" for i in range(45)], "labels": [[f"x{i}"] if i % 2 else [] for i in range(45)]}
    ).assign(meta=[{"k": i} for i in range(45)])
    for suffix in (".csv", ".tsv", ".jsonl", ".json", ".parquet"):
        whole, chunked = tmp_path / f"whole{suffix}", tmp_path / f"chunked{suffix}"
        write_table(frame, whole)
        writer = TableWriter(chunked)
        for start in range(0, 45, 10):
            writer.write(frame.iloc[start : start + 10])
        writer.close()
        pd.testing.assert_frame_equal(read_table(chunked), read_table(whole))
        if suffix != ".parquet":
            assert chunked.read_bytes() == whole.read_bytes(), suffix
        assert not chunked.with_name(chunked.name + ".tmp").exists()


def test_table_writer_writes_one_header_after_a_first_chunk_without_rows(tmp_path: Path) -> None:
    """A first chunk of no rows (an empty Parquet block of ray predict's, read back in order) wrote the CSV header,
    and the next chunk, the writer still at 0 rows, wrote it again: a row of the column names in the output (JSONL:
    a blank first line)."""
    frame = pd.DataFrame({"text": ["a", "b", "c"], "label": ["x", "y", "x"]})
    for suffix in (".csv", ".tsv", ".jsonl", ".json", ".parquet"):
        whole, chunked = tmp_path / f"whole{suffix}", tmp_path / f"chunked{suffix}"
        write_table(frame, whole)
        writer = TableWriter(chunked)
        writer.write(frame.iloc[:0])
        writer.write(frame.iloc[:2])
        writer.write(frame.iloc[2:])
        writer.close()
        pd.testing.assert_frame_equal(read_table(chunked), read_table(whole))
        if suffix != ".parquet":
            assert chunked.read_bytes() == whole.read_bytes(), suffix


# --------------------------------------------------------------------------------------------------------------
# Hub datasets stream
# --------------------------------------------------------------------------------------------------------------
def test_hub_dataset_inputs_stream_for_annotate_predict_and_insights(hub, tmp_path: Path, capsys) -> None:
    from datasets import Dataset

    repo = f"{hub.user}/tweets"
    texts = [f"Shares of company {i} rose today." for i in range(30)]
    Dataset.from_dict({"text": texts, "brand": [f"b{i % 3}" for i in range(30)]}).push_to_hub(repo)
    datasets_cache = Path(hub.root).parent / "_hf_home" / "datasets"
    before = {p for p in datasets_cache.rglob("*") if p.is_file()} if datasets_cache.exists() else set()

    with FakeOpenAIServer() as server:
        task = tmp_path / "task.yaml"
        task.write_text(
            f"name: fin\nlabels: [positive, neutral, negative]\nteachers:\n  - base_url: {server.url}\n    model: fake\n",
            encoding="utf-8",
        )
        out = tmp_path / "hub.jsonl"
        code, _, err = run_cli(["-q", "annotate", str(task), repo, "-o", str(out), "--limit", "12"], capsys)
        assert code == 0, err
        assert len(server.requests) == 12
    assert read_table(out)["text"].tolist() == texts[:12]

    model = build_tiny_model(tmp_path / "model")
    predicted = tmp_path / "pred.parquet"
    code, _, err = run_cli(["predict", str(model), repo, "-o", str(predicted), "--offset", "25"], capsys)
    assert code == 0, err
    assert read_table(predicted)["text"].tolist() == texts[25:]
    code, out_json, err = run_cli(
        ["insights", str(model), repo, "--group-by", "brand", "--limit", "9", "-o", str(tmp_path / "ins"), "--json"],
        capsys,
    )
    assert code == 0, err
    assert json.loads(out_json)["n"] == 9
    # streamed: datasets wrote no Arrow copy of the dataset (a download would leave one in its cache)
    after = {p for p in datasets_cache.rglob("*") if p.is_file()} if datasets_cache.exists() else set()
    assert not [p for p in after - before if p.suffix == ".arrow"]
    assert not any(re.search(r"\.arrow$", str(p)) for p in after)


def test_a_hub_dataset_offline_names_hf_hub_offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """With HF_HUB_OFFLINE set, a Hub dataset input (predict INPUT, export --data) said to check the id and HF_TOKEN,
    though no request was sent and a streamed dataset cannot be read offline."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read when huggingface_hub is imported
    with pytest.raises(InputError, match=r"'nobody/texts' is read from the Hub as it streams, and HF_HUB_OFFLINE"):
        next(iter_table("nobody/texts"))


def test_engine_ray_refuses_a_shared_cache_dir_before_anything_runs(tmp_path: Path, capsys) -> None:
    source = write_table(corpus(20), tmp_path / "in.csv")
    task = tmp_path / "task.yaml"
    task.write_text("name: fin\nlabels: [positive, neutral, negative]\nteachers: [http://127.0.0.1:9/v1]\n")
    argv = ["annotate", str(task), str(source), "-o", str(tmp_path / "o.jsonl"), "--engine", "ray"]
    code, _, err = run_cli([*argv, "--cache-dir", str(tmp_path / "c")], capsys)
    assert code == 2 and "--engine ray keeps one label cache per shard" in err and "SXHUB_CACHE=DIR" in err
    assert not (tmp_path / "o.jsonl.parts").exists()


def test_engine_ray_refuses_kept_ids_typed_apart_by_shard_before_any_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A --keep-column whose ids were numbers in the rows of one shard and text in the rows of another passed each
    shard's own check: Ray started, every text was labelled (and paid), and OUT's assembly stopped on the clash. The
    driver's pass over the input (the split by text) now checks the kept columns over every row: the same line,
    before Ray starts and before any request; an empty text's id (a row no shard keeps) is not held against it."""
    import sxhub.ray_annotate as ray_annotate
    from sxhub.parts import text_hash

    texts = [f"Sales of unit {i} rose in Q{i % 4 + 1}." for i in range(40)]
    shard = [int.from_bytes(text_hash(t)[:8], "little") % 2 for t in texts]
    assert set(shard) == {0, 1}
    rows = [{"text": t, "id": i if s == 0 else f"x{i}"} for i, (t, s) in enumerate(zip(texts, shard, strict=True))]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")

    def never(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("Ray was started")

    monkeypatch.setattr(ray_annotate, "connect", never)
    out = tmp_path / "out.parquet"
    with FakeOpenAIServer() as server:
        spec = make_spec(teachers=[server.url])
        with pytest.raises(
            InputError, match=r"in\.jsonl \(--keep-column\): column 'id' holds values of more than one"
        ):
            ray_annotate.annotate_ray(spec, source, out, shards=2, keep_columns=["id"], chunk_rows=7, progress=False)
        assert server.requests == [] and not out.exists()

        # ids all numbers but for an empty text's: nothing for a shard to keep, so no clash; the run goes on to Ray
        rows = [{"text": t, "id": i} for i, t in enumerate(texts)] + [{"text": "", "id": "none"}]
        source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        with pytest.raises(AssertionError, match="Ray was started"):
            ray_annotate.annotate_ray(
                spec, source, out, shards=2, keep_columns=["id"], chunk_rows=7, progress=False, restart=True
            )
        assert server.requests == []


def test_a_second_run_on_the_same_out_is_refused_while_the_first_holds_it(tmp_path: Path, capsys) -> None:
    """Two annotate processes on one -o both asked every text (93 requests for 80) and each counted the other's
    answers as cached in its ledger. The run now holds OUT.parts/'s lock: a second one stops with one line before
    any request, and a run killed with the lock held leaves nothing that blocks the next one."""
    import signal
    import subprocess
    import sys

    from sxhub.ray_annotate import annotate_ray

    source = write_table(corpus(20), tmp_path / "in.csv")
    out = tmp_path / "out.jsonl"
    with FakeOpenAIServer() as server:
        task = tmp_path / "task.yaml"
        task.write_text(f"name: fin\nlabels: [positive, neutral, negative]\nteachers: [{server.url}]\n")
        argv = ["annotate", str(task), str(source), "-o", str(out)]
        holder = subprocess.Popen(  # the first run, in another process, killed while it holds the lock
            [sys.executable, "-c", "import fcntl, os, sys, time; os.makedirs(sys.argv[1], exist_ok=True)\n"
             "lock = open(os.path.join(sys.argv[1], 'lock'), 'a+b'); fcntl.flock(lock, fcntl.LOCK_EX)\n"
             "print('held', flush=True); time.sleep(120)", str(parts_dir(out))],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
            code, _, err = run_cli(argv, capsys)
            assert code == 2, err
            assert (
                err.strip()
                .splitlines()[-1]
                .endswith(
                    f"another sxhub annotate is writing {out} (out.jsonl.parts/ is locked); wait for it or use another -o."
                )
            )
            with pytest.raises(UserError, match=r"another sxhub annotate is writing .*out\.jsonl.parts/ is locked"):
                annotate_ray(make_spec(teachers=[server.url]), source, out, shards=2)  # before Ray starts
            assert server.requests == [] and not out.exists()
        finally:
            holder.send_signal(signal.SIGKILL)
            holder.wait()
        assert (parts_dir(out) / "lock").exists()  # left by the killed run: blocks nothing
        code, _, err = run_cli(argv, capsys)
        assert code == 0, err
        assert len(read_table(out)) == len(server.requests) > 0


def test_keeping_a_column_annotate_writes_is_refused_before_any_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An expert ``label`` column kept as it is would replace the teachers' labels in the output: one error line,
    no request, no output, no parts folder."""
    source = write_table(corpus(20).rename(columns={"gold": "label"}), tmp_path / "in.csv")
    task = tmp_path / "task.yaml"
    task.write_text("name: fin\nlabels: [positive, neutral, negative]\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    with FakeOpenAIServer(lambda body, n: None) as server:
        argv = ["annotate", str(task), str(source), "-o", str(out), "--teacher", server.url, "--keep-column", "label"]
        code, _, err = run_cli(argv, capsys)
        assert len(server.requests) == 0
    assert code == 2 and err.strip().count("\n") == 0
    assert "['label'] to keep would overwrite" in err and "rename" in err
    assert not out.exists() and not parts_dir(out).exists()
    with pytest.raises(InputError, match=r"\['votes'\] to keep"):
        annotate(make_spec(), prepare_texts(corpus(20).rename(columns={"gold": "votes"}), keep_columns=["votes"]))


def test_a_part_where_every_vote_failed_assembles(tmp_path: Path) -> None:
    """A part whose votes all failed has null-typed labels, which Arrow could not cast (not even to its own type):
    annotate labelled every text, then stopped with ArrowInvalid writing OUT."""
    source = write_table(
        [{"text": f"fails {i}"} for i in range(4)] + [{"text": "price cheap"}] * 1, tmp_path / "in.csv"
    )
    spec, out = replace(make_spec(), samples=3), tmp_path / "out.csv"  # lists of several null-label votes

    def responder(messages: Any) -> Any:
        return "not json" if "fails" in messages[-1]["content"] else by_keyword(messages)

    result = annotate_to_file(
        spec, source, out, teachers=[FakeTeacher(responder=responder)], chunk_rows=4, cache=False
    )
    frame = read_table(out)
    assert len(frame) == 5 and frame["failed"].tolist() == ["True"] * 4 + ["False"]  # CSV cells
    assert "labelled 1/5 texts, 4 failed" in result.summary_line()
    # every part failed: nothing to unify the null type with
    only = write_table([{"text": f"fails {i}"} for i in range(4)], tmp_path / "only.csv")
    result = annotate_to_file(spec, only, tmp_path / "only.out.csv", teachers=[FakeTeacher(responder=responder)])
    assert "labelled 0/4 texts, 4 failed" in result.summary_line()
    assert read_table(tmp_path / "only.out.csv")["failed"].tolist() == ["True"] * 4


def test_an_earlier_caches_answer_without_token_counts_stays_unknown(tmp_path: Path) -> None:
    """A restart reading an earlier shard's cache made its unknown token counts 0 and copied them so: the first
    cost of answers from a server without usage showed as $0."""
    from sxhub.cache import LabelCache, ReadThroughCache
    from sxhub.teachers.base import Reply

    with LabelCache(tmp_path / "earlier") as earlier:
        earlier.put("k", Reply(text='{"label": "positive"}', input_tokens=None, output_tokens=None), teacher="srv")
        path = earlier.path
    through = ReadThroughCache(LabelCache(tmp_path / "own"), [path], owns=True)
    got = through.get("k")
    assert got is not None and got.input_tokens is None and got.output_tokens is None
    through.close()
    with LabelCache(tmp_path / "own") as own:
        kept = own.get("k")
    assert kept is not None and kept.input_tokens is None and kept.output_tokens is None


@pytest.mark.parametrize("damage", ["part", "state", "manifest", "part deleted"])
def test_a_damaged_parts_folder_is_one_line_naming_the_file_and_restart_mends_it(tmp_path: Path, damage: str) -> None:
    """A truncated part, a state file that is not sqlite or a manifest cut short stopped every rerun in "Error:
    ArrowInvalid: Parquet magic bytes not found in footer" (or "DatabaseError: file is not a database",
    "JSONDecodeError: ..."), exit 1, naming neither the file nor the fix."""
    source = write_table(corpus(20), tmp_path / "in.csv")
    spec, out, cache = make_spec(), tmp_path / "out.csv", tmp_path / "cache"

    def label(fake: FakeTeacher, **kwargs: Any) -> Any:
        return annotate_to_file(
            spec, source, out, teachers=[fake], chunk_rows=4, cache=cache, progress=False, **kwargs
        )

    first = label(FakeTeacher(responder=by_keyword))
    labelled = out.read_bytes()
    shard = shard_dir(parts_dir(out), 0, 1)
    damaged = {
        "part": shard / "part-000000.parquet",
        "part deleted": shard / "part-000001.parquet",
        "state": shard / "state.sqlite",
        "manifest": parts_dir(out) / "manifest.json",
    }[damage]
    for extra in shard.glob("state.sqlite-*"):
        extra.unlink()
    if damage == "part deleted":
        damaged.unlink()
    else:
        damaged.write_bytes(damaged.read_bytes()[:40] if damage != "state" else b"not sqlite" * 10)
    with pytest.raises(UserError) as info:
        label(FakeTeacher(responder=lambda m: pytest.fail("nothing is asked")))
    assert str(info.value).startswith(f"{damaged} is {'missing' if damage == 'part deleted' else 'damaged ('}")
    assert str(info.value).endswith(
        "rerun with --restart to start over (the label cache keeps every answer, so they are not paid again)."
    )
    again = FakeTeacher(responder=lambda m: pytest.fail("the label cache answers"))
    assert label(again, restart=True).ledger["cached"] == first.ledger["requests"]
    assert out.read_bytes() == labelled


def test_parts_without_their_manifest_are_never_resumed_unasked(tmp_path: Path) -> None:
    """With OUT.parts/manifest.json gone (a --restart killed after removing it, or deleted by hand), the next run
    wrote its own manifest and resumed the parts as its own: after the labels were edited it asked nothing and
    wrote the old spec's labels. It now refuses in one line, and --restart (which a missing manifest refused too)
    starts over."""
    source = write_table(corpus(20), tmp_path / "in.csv")
    out, cache = tmp_path / "out.csv", tmp_path / "cache"
    old = make_spec()
    annotate_to_file(old, source, out, teachers=[FakeTeacher(responder=by_keyword)], chunk_rows=4, cache=cache)
    (parts_dir(out) / "manifest.json").unlink()
    edited = TaskSpec.from_dict(
        {"name": "fin", "description": "Financial sentiment.", "labels": ["up", "flat", "down"]}
    )
    asked = FakeTeacher(responder=lambda m: {"label": "flat"})
    with pytest.raises(UserError, match=r"holds parts but no manifest.json .* add --restart to start over"):
        annotate_to_file(edited, source, out, teachers=[asked], chunk_rows=4, cache=cache, progress=False)
    assert not asked.history
    annotate_to_file(edited, source, out, teachers=[asked], chunk_rows=4, cache=cache, progress=False, restart=True)
    assert asked.history and set(read_table(out)["label"]) == {"flat"}


def test_an_earlier_cache_damaged_past_its_first_pages_is_read_no_more(tmp_path: Path) -> None:
    """An earlier shard's cache (kept by --restart) damaged where opening it did not read stopped the run at the
    first lookup in "Error: DatabaseError: database disk image is malformed", for a file the run only reads: it is
    now left out, as one unreadable when it opened, and its answers are asked again."""
    import sqlite3

    from sxhub.cache import LabelCache, ReadThroughCache
    from sxhub.teachers.base import Reply

    with LabelCache(tmp_path / "earlier") as earlier:
        for i in range(300):  # the table and its key index span many pages
            earlier.put(f"{i:064x}", Reply(text="x" * 500, input_tokens=1, output_tokens=1))
        path = earlier.path
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=DELETE")  # as settle() leaves it
    page = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    data = bytearray(path.read_bytes())
    data[3 * page :] = b"\xff" * (len(data) - 3 * page)
    path.write_bytes(bytes(data))
    through = ReadThroughCache(LabelCache(tmp_path / "own"), [path], owns=True)
    assert through.get(f"{7:064x}") is None and through.get(f"{8:064x}") is None
    through.put("k", Reply(text='{"label": "positive"}', input_tokens=1, output_tokens=1))
    got = through.get("k")
    assert got is not None and got.text == '{"label": "positive"}'
    through.close()


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_a_row_split_by_an_unquoted_separator_is_one_line_not_a_shifted_table(tmp_path: Path, suffix: str) -> None:
    """With ``id,text`` and a first row ``1,Sales rose, and profit too``, pandas took the ids for an implicit index:
    ``id`` became "Sales rose", the text " and profit too", and every verb labelled the fragments without a word."""
    sep = "\t" if suffix == ".tsv" else ","
    source = tmp_path / f"in{suffix}"
    source.write_text(f"id{sep}text\n1{sep}Sales rose{sep} and profit too\n2{sep}Flat year\n", encoding="utf-8")
    word = "tab" if suffix == ".tsv" else "comma"
    with pytest.raises(InputError, match=rf"one field more than the header .* unquoted {word}\?"):
        read_table(source)
    with pytest.raises(InputError, match=r"one field more than the header"):
        list(iter_table(source, chunk_rows=1))
    quoted = tmp_path / f"quoted{suffix}"
    pd.DataFrame({"id": ["1", "2"], "text": [f"Sales rose{sep} and profit too", "Flat year"]}).to_csv(
        quoted, sep=sep, index=False
    )
    assert read_table(quoted)["text"].tolist() == [f"Sales rose{sep} and profit too", "Flat year"]


def test_a_tsv_text_opening_an_unpaired_quote_is_one_line_not_merged_rows(tmp_path: Path) -> None:
    """In a TSV written without quoting, a text starting with a quote opened a quoted field that closed at the next
    quote rows later: the rows between were read as one text (tabs, line breaks and labels inside it) and labelled as
    one, without a word. Both readers now refuse the file with the row and the fix; GoEmotions' quoted TSV reads."""
    source = tmp_path / "in.tsv"
    source.write_text(
        'text\tlabel\nok fine\tneutral\n"broken start\tnegative\nnext row\tpositive\nlast "x\tneutral\nlater\tok\n',
        encoding="utf-8",
    )
    with pytest.raises(InputError, match=r"row 1 of column 'text' holds tabs and line breaks.* \.jsonl"):
        read_table(source)
    with pytest.raises(InputError, match=r"row 1 of column 'text' holds tabs and line breaks"):
        list(iter_table(source, chunk_rows=1))
    quoted = tmp_path / "quoted.tsv"
    texts = ['"Great" he said', "two\nlines", "a\ttab"]
    pd.DataFrame({"text": texts, "label": ["a", "b", "c"]}).to_csv(quoted, sep="\t", index=False)
    assert read_table(quoted)["text"].tolist() == texts


def test_a_csv_text_opening_an_unpaired_quote_is_one_line_not_merged_rows(tmp_path: Path, capsys) -> None:
    """In a CSV, a text starting with a quote it does not close opened a quoted field that closed at the next quote
    lines later: pandas read those lines as one text and their rows vanished (6 rows read as 4), without a word. Both
    readers and the CLI now refuse the file with its lines and the fix; well-quoted line breaks, commas, doubled
    quotes and a quote that closes on its own line still read."""
    source = tmp_path / "in.csv"
    source.write_text(
        'text,gold\nok fine,neutral\n"broken start,negative\nnext row,positive\nlast "x,neutral\nlater,ok\nmore,a\n',
        encoding="utf-8",
    )
    message = r"in\.csv': a quote at the start of a field on line 3 is closed only on line 5, .* re-export the file"
    with pytest.raises(InputError, match=message):
        read_table(source)
    with pytest.raises(InputError, match=message):
        list(iter_table(source, chunk_rows=2))
    code, out, err = run_cli(["agree", str(source), "--gold", "gold", "--pred", "text"], capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and not out and len(lines) == 1 and "on line 3 is closed only on line 5" in lines[0], err
    assert read_table(source, limit=1)["text"].tolist() == ["ok fine"]  # the rows before it read alone

    texts = ['He said ""hi""\nthen left, fast', "two\r\nlines", '"Great" he said', "a, b", 'end"', "plain"]
    quoted = tmp_path / "quoted.csv"
    pd.DataFrame({"text": texts, "label": list("abcdef")}).to_csv(quoted, index=False)
    assert read_table(quoted)["text"].tolist() == texts
    assert [t for c in iter_table(quoted, chunk_rows=2) for t in c["text"]] == texts
    loose = tmp_path / "loose.csv"  # a quote closed on its own line, then text: pandas keeps the row, as before
    loose.write_text('text,label\n"Great" he said,a\n"two\nlines",b\n', encoding="utf-8")
    assert read_table(loose)["text"].tolist() == ["Great he said", "two\nlines"]


def refused_locally(source: Path) -> InputError:
    with pytest.raises(InputError) as refused:
        read_table(source)
    return refused.value


def test_an_unpaired_quote_closed_by_a_later_one_before_a_comma_is_refused_when_its_lines_read_as_rows(
    tmp_path: Path, capsys
) -> None:
    """A text opening an unpaired quote that a later text closes right before its comma (``Margins grew",positive``)
    makes a well-formed quoted field over the lines between, so the strict scan passed it, and pandas read those
    rows into one text without a word (7 rows read as 5). The lines inside it that read as rows of the file (its
    field count, a label the label column holds) now give the one-line refusal, with the lines and that row; texts
    well quoted over lines, commas in them included, still read."""
    rows = 'ok fine,neutral\n"Great start, said the CEO,positive\nRevenue fell,negative\nMargins grew",positive\n'
    source = tmp_path / "in.csv"
    source.write_text("text,label\n" + rows + "Costs,negative\nfine,neutral\nflat,neutral\n", encoding="utf-8")
    assert len(pd.read_csv(source)) == 5  # the rows pandas itself reads: two gone inside one text
    message = r"in\.csv': .* on line 3 is closed only on line 5, .*'Revenue fell,negative' inside it reads as a row"
    with pytest.raises(InputError, match=message):
        read_table(source)
    with pytest.raises(InputError, match=message):
        list(iter_table(source, chunk_rows=100))
    code, out, err = run_cli(["agree", str(source), "--gold", "label", "--pred", "text"], capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and not out and len(lines) == 1 and "on line 3 is closed only on line 5" in lines[0], err
    from sxhub.ray_predict import check_csv_source  # --engine ray: a CSV at a URL, scanned on the driver in one pass

    with pytest.raises(InputError) as at_url:
        check_csv_source(source.as_uri(), RowSlice())
    assert str(at_url.value) == str(refused_locally(source)).replace(str(source), source.as_uri())
    check_csv_source(source.as_uri(), RowSlice(limit=1))  # the rows before it read alone

    flags = tmp_path / "flags.csv"  # multi-label columns after the text; the swallowed row is told by its flags
    flags.write_text(
        'id,text,Price,Promotion\n1,cheap,True,False\n2,"Sale now, 50% off,True,True\n3,new shop,False,False\n'
        '4,big deal",False,True\n5,fine,False,False\n',
        encoding="utf-8",
    )
    with pytest.raises(InputError, match=r"on line 3 is closed only on line 5, .*'3,new shop,False,False'"):
        read_table(flags)

    texts = ["He said, fine\nthen left, fast", "Q3:\nrevenue up, costs down", "plain", "a\nb,c"]
    quoted = tmp_path / "quoted.csv"
    pd.DataFrame({"text": texts, "label": ["a", "b", "a", "b"]}).to_csv(quoted, index=False)
    assert read_table(quoted)["text"].tolist() == texts
    check_csv_source(quoted.as_uri(), RowSlice())
    loner = tmp_path / "loner.csv"  # a line of a text that is a label alone, with no comma: not a row of 2 fields
    pd.DataFrame({"text": ["Verdict:\npositive", "x"], "label": ["positive", "positive"]}).to_csv(loner, index=False)
    assert read_table(loner)["text"].tolist() == ["Verdict:\npositive", "x"]


def test_a_well_quoted_field_over_lines_with_a_space_after_its_closing_quote_reads_as_pandas_reads_it(
    tmp_path: Path,
) -> None:
    """A field quoted over two lines with a space before the comma (``"two\nlines" ,b``, as hand-written CSVs have)
    was refused as a text opening an unpaired quote, though pandas reads it whole; the check now tells the two apart,
    and a real run-over after such a field is still refused with its own lines."""
    spaced = tmp_path / "spaced.csv"
    spaced.write_text('text,label\nok,a\n"two\nlines" ,b\n"tab\nend"\t\nlater,c\n', encoding="utf-8")
    assert read_table(spaced)["text"].tolist() == ["ok", "two\nlines ", "tab\nend\t", "later"]
    assert [t for c in iter_table(spaced, chunk_rows=2) for t in c["text"]] == read_table(spaced)["text"].tolist()
    after = tmp_path / "after.csv"
    after.write_text('text,label\n"two\nlines" ,b\n"broken start,c\nnext,d\nlast "x,e\nlater,f\n', encoding="utf-8")
    with pytest.raises(InputError, match="on line 4 is closed only on line 6"):
        read_table(after)


def test_predict_engine_ray_refuses_an_unpaired_quote_on_the_driver_as_one_process_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--engine ray: a CSV at a URL is read by pyarrow, which merged the lines up to the next quote into one text (6
    rows labelled as 4, without a word); a local one failed inside a Ray task (a RayTaskError and its traceback)
    after the students had loaded. Both are refused on the driver, before the cluster is joined, in the one line
    single-process predict gives; well-quoted line breaks read."""
    import sxhub.ray_predict as ray_predict

    source = tmp_path / "in.csv"
    source.write_text(
        'text,gold\nok fine,neutral\n"broken start,negative\nnext row,positive\nlast "x,neutral\nlater,ok\nmore,a\n',
        encoding="utf-8",
    )
    with pytest.raises(InputError) as local:
        read_table(source)

    def no_cluster(*args: object, **kwargs: object) -> bool:
        raise AssertionError("the cluster was joined before the input was checked")

    monkeypatch.setattr(ray_predict, "connect", no_cluster)
    model = build_tiny_model(tmp_path / "model")
    for given in (str(source), source.as_uri()):
        with pytest.raises(InputError) as refused:
            ray_predict.predict_ray(model, given, tmp_path / "out.parquet", progress=False)
        assert str(refused.value) == str(local.value).replace(str(source), given)
    ray_predict.check_csv_source(source.as_uri(), RowSlice(limit=1))  # the rows before it read alone
    with pytest.raises(InputError, match="on line 3 is closed only on line 5"):  # --offset 3 --limit 1: the merge
        ray_predict.check_csv_source(source.as_uri(), RowSlice(offset=3, limit=1))  # shifts the rows of the slice

    texts = ['He said ""hi""\nthen left, fast', "two\r\nlines", '"Great" he said', "a, b", 'end"', "plain"]
    quoted = tmp_path / "quoted.csv"
    pd.DataFrame({"text": texts, "label": list("abcdef")}).to_csv(quoted, index=False)
    loose = tmp_path / "loose.csv"  # a quote closed on its own line, then text: read as one process reads it
    loose.write_text('text,label\n"Great" he said,a\n"two\nlines",b\n', encoding="utf-8")
    for fine in (quoted, loose):
        ray_predict.check_csv_source(str(fine), RowSlice())
        ray_predict.check_csv_source(fine.as_uri(), RowSlice())


def test_predict_engine_ray_refuses_a_tsv_at_a_url_whose_quote_ran_over_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--engine ray: a TSV at a URL is read by pyarrow with CSV quoting, so a text starting with an unpaired quote
    ran to the next quote, rows later, and the rows between were labelled as one text without a word (a local TSV
    was refused by one process's reader). It is refused on the driver in the line one process gives, only when the
    run-over is in the rows asked for; well-quoted TSVs read."""
    import pyarrow.csv as pacsv

    import sxhub.ray_predict as ray_predict

    source = tmp_path / "in.tsv"
    source.write_text(
        'text\tgold\nok fine\tneutral\n\n"broken start\tnegative\nnext row\tpositive\nlast "x\tneutral\nlater\tok\n',
        encoding="utf-8",
    )
    parsed = pacsv.read_csv(source, parse_options=pacsv.ParseOptions(delimiter="\t", newlines_in_values=True))
    assert parsed.num_rows == 3  # what the read task would have labelled: 5 rows as 3
    with pytest.raises(InputError) as local:
        read_table(source)
    assert "row 1 of column 'text'" in str(local.value)

    def no_cluster(*args: object, **kwargs: object) -> bool:
        raise AssertionError("the cluster was joined before the input was checked")

    monkeypatch.setattr(ray_predict, "connect", no_cluster)
    model = build_tiny_model(tmp_path / "model")
    with pytest.raises(InputError) as refused:
        ray_predict.predict_ray(model, source.as_uri(), tmp_path / "out.parquet", progress=False)
    assert str(refused.value) == str(local.value).replace(str(source), source.as_uri())
    ray_predict.check_csv_source(source.as_uri(), RowSlice(limit=1))  # the row before it reads alone
    with pytest.raises(InputError, match="row 1 of column 'text'"):  # --offset 1 --limit 1: the merged row
        ray_predict.check_csv_source(source.as_uri(), RowSlice(offset=1, limit=1))

    texts = ['He said "hi"\nthen left', "two\r\nlines", '"Great" he said', "a\tb", 'end"', "plain"]
    quoted = tmp_path / "quoted.tsv"
    pd.DataFrame({"text": texts, "label": list("abcdef")}).to_csv(quoted, sep="\t", index=False)
    assert read_table(quoted)["text"].tolist() == texts
    ray_predict.check_csv_source(quoted.as_uri(), RowSlice())


@pytest.mark.parametrize("command", ["annotate", "predict"])
def test_engine_ray_with_no_cluster_at_the_address_is_one_line_at_once(
    command: str, tmp_path: Path, capsys, monkeypatch
) -> None:
    """Ray retried an address where nothing listens for some twenty minutes, printing warnings; now one line, exit 2,
    before the parts folder is made or the input read. Its fix said "leave out --address and RAY_ADDRESS for a local
    Ray", which joins a cluster `ray start` left running since 992c898: it names --address local."""
    import socket

    pytest.importorskip("ray")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]  # nothing listens there once closed
    source = write_table(corpus(20), tmp_path / "in.jsonl")
    out = tmp_path / "out.parquet"
    if command == "annotate":
        task = tmp_path / "task.yaml"
        task.write_text("name: fin\ndescription: d\nlabels: [positive, negative]\n", encoding="utf-8")
        args = ["annotate", str(task), str(source), "--teacher", "http://127.0.0.1:9/v1"]
    else:
        args = ["predict", str(build_tiny_model(tmp_path / "student")), str(source)]
        capsys.readouterr()  # the model's writing
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{closed}")  # the environment's address is checked too
    code, _, err = run_cli([*args, "-o", str(out), "--engine", "ray"], capsys)
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and f"no Ray cluster answers at '127.0.0.1:{closed}'" in lines[0], err
    # without an address a cluster `ray start` left running is joined: the local Ray is --address local's
    assert "--address local for a local Ray" in lines[0], err
    assert not parts_dir(out).exists() and not out.exists()


def test_an_unpaired_csv_quote_after_lines_of_spaces_is_refused_not_merged(tmp_path: Path) -> None:
    """pandas skips a line of spaces or tabs as it skips a blank one, the csv module read it as a row: the scan's row
    for a quote that ran over lines came out one later per such line than pandas' row, past the rows read, and the
    merged rows (6 read as 4) passed without a word, in a whole read, a --limit read and a stream alike."""
    source = tmp_path / "in.csv"
    source.write_text(
        'text,gold\nok fine,neutral\n   \n\t\n"broken start,negative\nnext row,positive\nlast "x,neutral\nlater,ok\n',
        encoding="utf-8",
    )
    message = r"a quote at the start of a field on line 5 is closed only on line 7"
    with pytest.raises(InputError, match=message):
        read_table(source)
    with pytest.raises(InputError, match=message):
        read_table(source, limit=2)
    with pytest.raises(InputError, match=message):
        list(iter_table(source, chunk_rows=2))
    assert read_table(source, limit=1)["text"].tolist() == ["ok fine"]


def test_a_kept_column_of_mixed_types_stops_before_its_chunk_is_labelled_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--keep-column id`` with ids that are numbers in some rows and text in others: the parts are Parquet, so it
    failed whatever OUT's format, on pyarrow's raw tuple within one chunk, or, across chunks, on "ArrowTypeError:
    Unable to merge" when OUT was assembled, after every text was labelled. It is now one line naming the column and
    the fix, exit 2, before the chunk that holds the other type is sent; the chunks before it stay in the parts."""
    rows = [{"id": i, "text": f"profit rose {i}"} for i in range(4)] + [
        {"id": f"x{i}", "text": f"loss {i}"} for i in range(3)
    ]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    fix = "give the column one type in the input (e.g. every id as text), or leave it out of --keep-column"
    with FakeOpenAIServer() as server:
        with pytest.raises(InputError, match=r"^in\.jsonl \(--keep-column\): column 'id' holds values of more") as e:
            annotate_to_file(
                make_spec(), source, tmp_path / "out.jsonl", teachers=[server.url], keep_columns=["id"],
                cache=False, chunk_rows=4, progress=False,
            )  # fmt: skip
        assert "Unable to merge" in str(e.value) and fix in str(e.value)
        assert len(server.requests) == 4 and not (tmp_path / "out.jsonl").exists()
        assert len(list(parts_dir(tmp_path / "out.jsonl").glob("shard-*/part-*.parquet"))) == 1
        mixed = tmp_path / "one.jsonl"
        mixed.write_text('{"id": 1, "text": "profit rose"}\n{"id": "a2", "text": "sales fell"}\n', encoding="utf-8")
        task = tmp_path / "task.yaml"
        task.write_text("name: fin\nlabels: [positive, negative]\n", encoding="utf-8")
        argv = ["-q", "annotate", str(task), str(mixed), "-o", str(tmp_path / "one.csv"), "--teacher", server.url]
        code, _, err = run_cli([*argv, "--keep-column", "id", "--cache-dir", str(tmp_path / "c")], capsys)
        assert len(server.requests) == 4  # not one more
    assert code == 2 and err.strip().splitlines() == [
        "Error: one.jsonl (--keep-column): column 'id' holds values of more than one type, which Parquet cannot store "
        "(Could not convert 'a2' with type str: tried to convert to int64); annotate keeps its parts in Parquet "
        f"whatever OUT is, so {fix} (Python: keep_columns=)."
    ]
    # the fix it names
    with FakeOpenAIServer() as server:
        done = annotate_to_file(make_spec(), source, tmp_path / "fixed.jsonl", teachers=[server.url], cache=False,
                                chunk_rows=4, progress=False)  # fmt: skip
    assert len(read_table(tmp_path / "fixed.jsonl")) == 7, done


def test_a_kept_column_null_in_the_first_chunk_is_checked_against_every_part_written_so_far(tmp_path: Path) -> None:
    """Each chunk's kept columns were checked against the first part alone: ids null in the first chunk, numbers in
    the second and text in the third passed (null unifies with either), every text was sent, and the clash stopped
    only at OUT. The third chunk is now checked against the types of all parts so far (int64) and refused before its
    texts are sent, in the same one line; a rerun, which reads the parts' types back from disk, sends nothing."""
    rows = [{"id": None, "text": f"profit rose {i}"} for i in range(3)]
    rows += [{"id": i, "text": f"sales fell {i}"} for i in range(3)]
    rows += [{"id": f"x{i}", "text": f"third chunk {i}"} for i in range(3)]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    message = (
        r"^in\.jsonl \(--keep-column\): column 'id' holds values of more than one type, which Parquet cannot store "
        r"\(Unable to merge: Field id has incompatible types: int64 vs (large_)?string\); annotate keeps its parts in "
        r"Parquet whatever OUT is, so give the column one type in the input .*\(Python: keep_columns=\)\.$"
    )
    with FakeOpenAIServer() as server:
        for sent in (6, 6):  # the run, then a rerun resuming from its two parts
            with pytest.raises(InputError, match=message):
                annotate_to_file(
                    make_spec(), source, out, teachers=[server.url], keep_columns=["id"], cache=False,
                    chunk_rows=3, progress=False,
                )  # fmt: skip
            texts = [m["content"] for r in server.requests for m in r["messages"] if m["role"] == "user"]
            assert len(server.requests) == sent and not any("third chunk" in t for t in texts)
    parts = sorted(p.name for p in parts_dir(out).glob("shard-*/part-*.parquet"))
    assert parts == ["part-000000.parquet", "part-000001.parquet"] and not out.exists()


def test_cli_annotate_progress_counts_the_records_of_a_csv_whose_cells_hold_line_breaks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bar's total was the CSV's line count: 4 texts of 11 lines each showed ``4/44 rows`` at the end, and a
    TSV or a file with blank lines as much off. It counts the records as the reading does (quoted line breaks, a
    literal quote inside a cell, blank lines, CRLF), and the lines only where the parser cannot (uneven rows)."""
    from sxhub.predict_files import count_rows

    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    source = tmp_path / "four.csv"
    texts = ["\n".join(f"line {j} of text {i}" for j in range(11)) for i in range(4)]
    pd.DataFrame({"text": texts}).to_csv(source, index=False)
    spec = TaskSpec(name="s", labels=["positive", "negative", "neutral"], samples=1)
    with FakeOpenAIServer() as server:
        task = tmp_path / "task.yaml"
        task.write_text(spec.with_teachers([{"base_url": server.url, "model": "fake"}]).to_yaml(), encoding="utf-8")
        argv = ["annotate", str(task), str(source), "-o", str(tmp_path / "out.csv")]
        code, _, err = run_cli([*argv, "--cache-dir", str(tmp_path / "c")], capsys)
    assert code == 0, err
    totals = set(re.findall(r"\| *\d+/(\d+) \[", err))
    assert totals == {"4"}, err[-600:]
    cases = {
        "quoted.tsv": 'text\tlabel\n"a\nb\nc"\tx\nplain\ty\n',
        "inches.csv": 'text\nmy 5" screen broke\nanother 3" one\nthird\n',
        "blank.csv": "text\na\n\nb\n",
        "crlf.csv": 'text\r\n"a\r\nb"\r\nc\r\n',
        "uneven.csv": "text\na,b\nc\n",  # pyarrow refuses it: its 2 lines, as before
        # the header was skipped as the file's first line: a blank line before it, or a quoted line break in it,
        # made the header (or half of it) a record
        "blank_first.csv": "\n\ntext,id\na,1\nb,2\n",
        "header_break.csv": '"the\ntext",id\na,1\nb,2\n',
    }
    counted = {}
    for name, body in cases.items():
        (tmp_path / name).write_bytes(body.encode())
        counted[name] = count_rows(tmp_path / name)
    assert counted == {
        "quoted.tsv": 2, "inches.csv": 3, "blank.csv": 2, "crlf.csv": 2, "uneven.csv": 2, "blank_first.csv": 2,
        "header_break.csv": 2,
    }  # fmt: skip
    for name in ("blank_first.csv", "header_break.csv"):
        assert counted[name] == len(read_table(tmp_path / name))
    assert counted["quoted.tsv"] == len(read_table(tmp_path / "quoted.tsv"))


def test_the_records_of_a_csv_whose_column_changes_type_after_the_first_block_are_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counting read every column, typed from the first block (16 MiB): ids numeric there and "doc-7" further on
    made pyarrow fail, and the bar counted lines again (600,000 for 300,000 texts of two lines, second reviewer).
    Only the first column is read, as bytes. (The block is lowered to 1 KiB here.)"""
    import sxhub.predict_files
    from sxhub.predict_files import count_rows

    monkeypatch.setattr(sxhub.predict_files, "CSV_BLOCK", 1 << 10)
    ids = [str(i) if i < 150 else f"doc-{i}" for i in range(200)]
    frame = pd.DataFrame({"id": ids, "text": [f"first line {i}\nsecond line" for i in range(200)], "n": ids})
    frame.to_csv(tmp_path / "ids.csv", index=False)
    assert count_rows(tmp_path / "ids.csv") == 200 == len(read_table(tmp_path / "ids.csv"))
    frame[["text", "id"]].to_csv(tmp_path / "text_first.csv", index=False)  # a first column with line breaks
    assert count_rows(tmp_path / "text_first.csv") == 200
