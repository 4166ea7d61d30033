"""Fault injection: the real InferenceClientTeacher against a local OpenAI-compatible server that misbehaves.

Every text must end either labelled or failed with its error, and nothing else: no guessed labels.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from fake_openai_server import (
    Action,
    Answer,
    Fail,
    FakeOpenAIServer,
    Hang,
    Raw,
    completion,
    default_answer,
    user_text,
)

from sxhub.annotate import annotate
from sxhub.spec import TaskSpec, TeacherSpec

LABELS = ["positive", "neutral", "negative"]


def faulty(body: dict, n: int) -> Action:
    """Each text names its fault; 'flaky' faults pass on the second or third try."""
    text = user_text(body)
    if "rate-limited" in text and n == 1:
        return Fail(429, {"Retry-After": "1"})
    if "flaky-500" in text and n <= 2:
        return Fail(500)
    if "slow-once" in text and n == 1:
        return Hang(1.5)
    if "always-500" in text:
        return Fail(503)
    if "always-hangs" in text:
        return Hang(1.5)
    if "not-json" in text:
        return Answer("The sentiment is positive.")
    if "outside" in text:
        return Answer('{"label": "bullish"}')
    if "bad-request" in text:
        return Fail(400, body='{"error": "prompt too long"}')
    return Answer(default_answer(body))


def run(server: FakeOpenAIServer, texts: list[str], tmp_path: Path, **kwargs):
    teacher = TeacherSpec(base_url=server.url, model="fake", name="srv", timeout=0.5)
    spec = TaskSpec(name="fin", labels=LABELS, teachers=[teacher])
    kwargs = {"cache": tmp_path / "cache", "progress": False, "backoff": 0.05, "max_retries": 3, **kwargs}
    return annotate(spec, texts, **kwargs)


EXPECTED_FAILURES = {
    "always-500": "HTTP 503",
    "always-hangs": "timed out (no answer within 0.5 s; if the server is only slow, raise this teacher's timeout",
    "not-json": "invalid answer: reply holds no JSON object",
    "outside": "invalid answer: reply does not fit the answer schema: label: 'bullish' is not one of",
    "bad-request": "HTTP 400",
}


def test_every_text_ends_labelled_or_failed_with_its_error(tmp_path: Path) -> None:
    texts = ["fine", "rate-limited", "flaky-500", "slow-once", *EXPECTED_FAILURES]
    with FakeOpenAIServer(faulty) as server:
        result = run(server, texts, tmp_path, concurrency=4, max_invalid=1)
    for row in result.rows:
        if row["text"] in EXPECTED_FAILURES:
            assert row["failed"] is True and row["label"] is None
            assert EXPECTED_FAILURES[row["text"]] in row["error"]
        else:
            assert row["failed"] is False and row["label"] in LABELS and row["error"] == ""
    ledger = result.ledger
    assert ledger["failed_texts"] == len(EXPECTED_FAILURES)
    assert ledger["retries"] >= 1 + 2 + 1 + 3 + 3  # 429, two 500s, one hang, always-500, always-hangs
    counts = server.per_text
    assert counts[next(k for k in counts if "always-500" in k)] == 4  # 1 try + 3 retries
    assert counts[next(k for k in counts if "bad-request" in k)] == 1  # 400 is not retried
    assert counts[next(k for k in counts if "not-json" in k)] == 2  # asked again once with a fresh seed
    not_json = next(r for r in result.rows if r["text"] == "not-json")
    assert not_json["votes"][0]["raw"] == "The sentiment is positive."


def test_retry_after_header_is_honoured(tmp_path: Path) -> None:
    times: list[float] = []

    def rate_limited(body: dict, n: int) -> Action:
        times.append(time.monotonic())
        return Fail(429, {"Retry-After": "1"}) if n == 1 else Answer(default_answer(body))

    with FakeOpenAIServer(rate_limited) as server:
        result = run(server, ["only one"], tmp_path, backoff=0.01)
    assert result.rows[0]["label"] in LABELS
    assert len(times) == 2 and times[1] - times[0] >= 0.95


def test_failed_requests_are_retried_by_the_next_run(tmp_path: Path) -> None:
    with FakeOpenAIServer(lambda body, n: Fail(503)) as server:
        first = run(server, ["a", "b"], tmp_path, max_retries=0)
    assert all(first.frame["failed"])
    with FakeOpenAIServer() as server:
        second = run(server, ["a", "b"], tmp_path)
    assert not any(second.frame["failed"]) and len(server.requests) == 2


@pytest.mark.parametrize("status", [401, 404])
def test_permanent_errors_stop_with_a_fix(tmp_path: Path, status: int) -> None:
    from sxhub.errors import TeacherUnavailableError

    with FakeOpenAIServer(lambda body, n: Fail(status)) as server, pytest.raises(TeacherUnavailableError) as info:
        run(server, ["a", "b", "c"], tmp_path)
    assert f"HTTP {status}" in str(info.value)
    assert len(server.requests) <= 3  # no retries of a permanent error


def test_credits_running_out_mid_run_stop_it_and_the_next_run_resumes(tmp_path: Path) -> None:
    """The Hugging Face router answers 402 once a token's Inference Providers credits are spent (OpenRouter and other
    paid APIs too). It was a refusal of that one request: every remaining text failed at once, and annotate exited 0
    with a file of failed rows (35 of 40 in the reproduction). It now stops the run with the fix; the answers so far
    are cached, and the run after credit was added asks only for the rest."""
    from sxhub.errors import TeacherUnavailableError

    body = '{"error": "You have exceeded your monthly included credits for Inference Providers."}'
    texts = [f"text {i}" for i in range(12)]
    answered = 0

    def out_of_credit(request: dict, n: int) -> Action:
        nonlocal answered
        answered += 1
        return Answer(default_answer(request)) if answered <= 4 else Fail(402, body=body)

    with FakeOpenAIServer(out_of_credit) as server, pytest.raises(TeacherUnavailableError) as info:
        run(server, texts, tmp_path, concurrency=1)
    message = str(info.value)
    assert "HTTP 402" in message and "out of credit" in message and "run the same command" in message
    assert len(server.requests) == 5  # the 402 is neither retried nor asked for the other texts
    port = int(server.url.rsplit(":", 1)[1].split("/")[0])
    with FakeOpenAIServer(port=port) as server:  # the same server, credit added
        result = run(server, texts, tmp_path)
    assert not any(result.frame["failed"]) and len(server.requests) == len(texts) - 4


@pytest.mark.parametrize(
    ("status", "fix"), [(502, "Check the server"), (429, "lower --concurrency"), (503, "`endpoint:`")]
)
def test_a_server_answering_only_errors_stops_the_run_and_the_next_run_resumes(
    tmp_path: Path, status: int, fix: str
) -> None:
    """A server behind a proxy whose backend died answers every request with nginx's 502 (a spent daily quota, 429):
    each remaining text was retried for some 15 s and ended failed, and annotate exited 0 (13 of 16 texts failed in
    68 s in the reproduction; a large input, hours). Three texts in a row whose every try failed, with no reply in
    between, now stop the run in one line; the answers so far are cached for the next run."""
    from sxhub.errors import TeacherUnavailableError

    gateway = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
    texts = [f"text {i}" for i in range(12)]
    answered = 0

    def backend_died(request: dict, n: int) -> Action:
        nonlocal answered
        answered += 1
        return Answer(default_answer(request)) if answered <= 2 else Fail(status, body=gateway)

    with FakeOpenAIServer(backend_died) as server, pytest.raises(TeacherUnavailableError) as info:
        run(server, texts, tmp_path, concurrency=1, max_retries=1, backoff=0.01)
    message = str(info.value)
    assert "answered only errors" in message and f"HTTP {status}" in message and fix in message
    assert "run the same command" in message and "\n" not in message
    # two replies, three texts of two tries, then one request answered before (the backend is not back): not all twelve
    assert len(server.requests) == 2 + 3 * 2 + 1
    port = int(server.url.rsplit(":", 1)[1].split("/")[0])
    with FakeOpenAIServer(port=port) as server:  # the backend back up
        result = run(server, texts, tmp_path)
    assert not any(result.frame["failed"]) and len(server.requests) == len(texts) - 2


def test_texts_failing_between_replies_never_stop_the_run(tmp_path: Path) -> None:
    """Errors that replies interrupt are the texts' own (each fails alone), never a server answering only errors."""

    def every_other(request: dict, n: int) -> Action:
        return Fail(503) if "odd" in user_text(request) else Answer(default_answer(request))

    texts = [f"{'odd' if i % 2 else 'even'} {i}" for i in range(10)]
    with FakeOpenAIServer(every_other) as server:
        result = run(server, texts, tmp_path, concurrency=1, max_retries=1, backoff=0.01)
    assert list(result.frame["failed"]) == [bool(i % 2) for i in range(10)]


@pytest.mark.parametrize("fault", ["always-500", "always-hangs"])
def test_texts_the_server_always_fails_never_stop_the_run_that_asks_only_them(tmp_path: Path, fault: str) -> None:
    """A server that answers most texts but fails a few of them on every try (a 500 for those inputs, or a
    generation that never ends in time): those texts, retried for seconds, ended after every other reply, three in a
    row with no reply between, and the run stopped with 'answered only errors ... restart it'; every rerun asks only
    them (the rest are cached), so it stopped again and OUT was never written. Before stopping, the engine asks once
    a request the server answered (this run or the cache): it answers, so those texts fail alone and the run ends."""
    texts = [f"text {i}" for i in range(6)] + [f"{fault} {i}" for i in range(4)]
    with FakeOpenAIServer(faulty) as server:
        first = run(server, texts, tmp_path, concurrency=2, max_retries=1, backoff=0.01)
    assert list(first.frame["failed"]) == [False] * 6 + [True] * 4
    assert set(first.frame[first.frame["failed"]]["label"]) == {None}
    assert first.ledger["failed_texts"] == 4
    with FakeOpenAIServer(faulty) as server:  # the rerun: only the four failing texts are asked, then one probe
        second = run(server, texts, tmp_path, concurrency=1, max_retries=1, backoff=0.01)
        fault_requests = sum(1 for body in server.requests if fault in user_text(body))
    assert list(second.frame["failed"]) == [False] * 6 + [True] * 4
    assert fault_requests == 4 * 2 and len(server.requests) - fault_requests >= 1  # a probe of a cached text
    assert second.ledger["teachers"]["srv"]["requests"] == len(server.requests)


def test_invalid_answers_after_a_valid_vote_never_stop_the_run(tmp_path: Path) -> None:
    """Only a teacher's first texts, before any valid vote, can stop the run on invalid answers (its format is
    wrong); after one, texts it answers invalidly are its own failed votes, however many in a row."""
    texts = ["fine", *[f"outside {i}" for i in range(5)]]
    with FakeOpenAIServer(faulty) as server:
        result = run(server, texts, tmp_path, concurrency=1, max_invalid=0)
    assert list(result.frame["failed"]) == [False] + [True] * 5


def test_a_teacher_whose_first_texts_get_only_invalid_answers_stops_the_run(tmp_path: Path) -> None:
    from sxhub.errors import TeacherUnavailableError

    texts = [f"outside {i}" for i in range(10)]
    with FakeOpenAIServer(faulty) as server, pytest.raises(TeacherUnavailableError) as info:
        run(server, texts, tmp_path, concurrency=1, max_invalid=1)
    message = str(info.value)
    assert "no valid answer for its first 5 texts (2 tries each" in message and "'bullish'" in message
    assert len(server.requests) == 5 * 2


def test_invalid_answers_replayed_by_the_cache_never_stop_a_rerun(tmp_path: Path) -> None:
    """Texts a model refuses in prose, first in the input, stop a first run; counted again when the cache replays
    them, they stopped every rerun at once. The rerun goes on to new texts, and labels those it can."""
    from sxhub.errors import TeacherUnavailableError

    def refuses(body: dict, n: int) -> Action:
        text = user_text(body)
        return Answer("I cannot help with that.") if "insult" in text else Answer(default_answer(body))

    texts = [f"insult {i}" for i in range(6)] + [f"fine {i}" for i in range(4)]
    with FakeOpenAIServer(refuses) as server, pytest.raises(TeacherUnavailableError):
        run(server, texts, tmp_path, concurrency=1, max_invalid=0)
    port = int(server.url.rsplit(":", 1)[1].split("/")[0])
    with FakeOpenAIServer(refuses, port=port) as server:
        result = run(server, texts, tmp_path, concurrency=1, max_invalid=0)
    assert list(result.frame["failed"]) == [True] * 6 + [False] * 4
    assert len(server.requests) == 5  # the sixth insult and the four others: the cache replayed five


def test_the_same_refusal_for_the_first_requests_stops_the_run_with_the_servers_words(tmp_path: Path) -> None:
    """A server that refuses the request shape (TGI's 422 without ``value``) stops the run after a few requests."""
    from sxhub.annotate_stops import EARLY_STOP_REJECTIONS, RequestShapeError

    refusal = '{"error": "Failed to deserialize the JSON body into the target type: missing field `value`"}'
    texts = [f"text {i}" for i in range(40)]
    with FakeOpenAIServer(lambda body, n: Fail(422, body=refusal)) as server, pytest.raises(RequestShapeError) as info:
        run(server, texts, tmp_path, concurrency=1)
    message = str(info.value)
    assert "HTTP 422" in message and "missing field `value`" in message and "server:" in message
    assert "\n" not in message
    assert len(server.requests) == EARLY_STOP_REJECTIONS  # not one failing request per text


def test_a_server_that_goes_away_mid_run_stops_it_and_the_next_run_resumes(tmp_path: Path) -> None:
    """A server that answered and then went away (its process killed: connections refused) was retried with backoff
    for every remaining text, and each ended failed: 12 texts took 52 s at concurrency 4, a large input hours. Now
    the first vote still refused after its retries stops the run with one line; the answers so far are cached, and
    the same run against the server restarted asks only for the rest."""
    import threading

    from sxhub.errors import TeacherUnavailableError

    texts = [f"text {i}" for i in range(30)]
    server = FakeOpenAIServer()

    def dies_after_five(body: dict, n: int) -> Action:
        if len(server.requests) <= 5:
            return Answer(default_answer(body))
        if len(server.requests) == 6:  # the process dies: nothing listens any more, and its connections close
            threading.Thread(target=server.__exit__, args=(None, None, None), daemon=True).start()
        return Fail(503, {"Connection": "close"})

    server.responder = dies_after_five
    with server, pytest.raises(TeacherUnavailableError) as info:
        run(server, texts, tmp_path, concurrency=2)
    message = str(info.value)
    assert "stopped answering" in message and server.url in message and "run the same command" in message
    assert "\n" not in message
    port = int(server.url.rsplit(":", 1)[1].split("/")[0])
    with FakeOpenAIServer(port=port) as again:  # restarted where it ran (the URL is part of the cache key)
        result = run(again, texts, tmp_path, concurrency=2)
    assert not result.frame["failed"].any()
    assert len(again.requests) == len(texts) - 5  # the 5 answers before it went away came from the cache


def test_an_answer_cut_off_at_max_tokens_says_so_and_how_to_fix_it(tmp_path: Path) -> None:
    """A reply stopped at max_tokens mid-JSON (finish_reason "length": its completion tokens equal max_tokens) was
    reported as "reply holds no JSON object", which does not say that raising max_tokens fixes it. The label cache
    replays such answers, so the rerun (the server restarted on its port) says it too, without a request."""

    def cut_off(body: dict, n: int) -> Action:
        if "long-winded" in user_text(body):  # the stand-in bills every answer 8 completion tokens: max_tokens=8
            return Answer('{"reason": "Operating profit rose, which investors read as a sign of')
        return Answer(default_answer(body))

    port = 0
    for _ in range(2):
        with FakeOpenAIServer(cut_off, port=port) as server:
            teacher = TeacherSpec(base_url=server.url, model="fake", name="srv", timeout=5, max_tokens=8)
            spec = TaskSpec(name="fin", labels=LABELS, reasoning=True, teachers=[teacher])
            result = annotate(spec, ["long-winded", "short"], cache=tmp_path / "cache", progress=False, max_invalid=1)
        port = int(server.url.rsplit(":", 1)[1].split("/")[0])
        rows = {row["text"]: row for row in result.rows}
        error = rows["long-winded"]["error"]
        assert error.startswith("invalid answer: reply holds no JSON object"), error
        assert "cut off at max_tokens=8: raise max_tokens for teacher 'srv' in the task spec" in error
        assert "reasoning: false" in error
        assert rows["short"]["error"] == "" and not rows["short"]["failed"]
    assert server.requests == []  # the rerun was answered from the cache


# llama-cpp-python 0.3.36's server (llama_cpp/server/errors.py), run here with --n_ctx 256, answered a long text so
LLAMA_CPP_PYTHON_CONTEXT_400 = json.dumps(
    {
        "error": {
            "message": "This model's maximum context length is 256 tokens. However, you requested 730 tokens (474 in "
            "the messages, 256 in the completion). Please reduce the length of the messages or completion.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        }
    }
)


# vLLM's renderer (vllm/renderers/params.py, commit 1aa021e827032484a7f89194c7e528fc40655204) words it otherwise
VLLM_CONTEXT_400 = json.dumps(
    {
        "error": {
            "message": "You passed 1210 input tokens and requested 256 output tokens. However, the model's context "
            "length is only 1024 tokens, resulting in a maximum input length of 768 tokens. Please reduce the length "
            "of the input prompt.",
            "type": "BadRequestError",
            "param": "input_tokens",
            "code": 400,
        }
    }
)


@pytest.mark.parametrize("body", [LLAMA_CPP_PYTHON_CONTEXT_400, VLLM_CONTEXT_400], ids=["llama-cpp-python", "vllm"])
def test_a_text_too_long_for_the_context_window_fails_alone_with_its_fix(body: str, tmp_path: Path) -> None:
    """One long text first, asked once per sample, gave the teacher's first 3 requests the same HTTP 400: the run
    stopped with "set `server:` ... or `structured: none`", wrong advice, and no other text was labelled. Now that
    text is a failed vote that says how to fix it, asked once (its other samples are the same prompt, refused the
    same way: they were asked too, and vLLM's wording was not recognised at all), and the summary says why it
    failed where it said only "1 failed"."""
    long = "Profit fell sharply. " * 60

    def context(body_: dict, n: int) -> Action:
        if user_text(body_).count("Profit fell sharply.") > 10:
            return Fail(400, body=body)
        return Answer(default_answer(body_))

    with FakeOpenAIServer(context) as server:
        result = run(server, [long, "rose", "flat", "fell"], tmp_path, concurrency=1, samples=3)
    rows = {row["text"]: row for row in result.rows}
    failed = rows[long.strip()]
    assert failed["failed"] is True and failed["label"] is None
    assert json.loads(body)["error"]["message"][:40] in failed["error"] and "--max-chars" in failed["error"]
    assert "passages" in failed["error"] and "a teacher with a longer context" in failed["error"]
    assert [v["error"] for v in failed["votes"]] == [failed["error"]] * 3
    assert all(not rows[t]["failed"] for t in ("rose", "flat", "fell"))
    assert sum("Profit fell sharply." in user_text(b) for b in server.requests) == 1  # not once per sample
    assert result.ledger["too_long"] == 1 and result.ledger["rejected"] == 1
    assert "1 failed" in result.summary_line()
    assert (
        "; 1 request was refused as a text too long for the teacher's context window (one per text and teacher; see "
        "the error column): split long texts into "
        "passages" in result.summary_line()
    )


def test_one_text_refused_for_each_of_its_samples_does_not_stop_the_run(tmp_path: Path) -> None:
    """A text refused with HTTP 400 for a reason of its own (here Azure OpenAI-style content filtering), asked once
    per sample, gave the teacher's first 3 requests the same refusal: the run stopped, blaming the request shape.
    The early stop now needs that many different texts refused; this one fails alone."""
    refusal = '{"error": {"message": "The prompt was filtered.", "code": "content_filter"}}'

    def filtered(body: dict, n: int) -> Action:
        return Fail(400, body=refusal) if "flagged" in user_text(body) else Answer(default_answer(body))

    with FakeOpenAIServer(filtered) as server:
        result = run(server, ["flagged text", "fine", "also fine"], tmp_path, concurrency=1, samples=3)
    rows = {row["text"]: row for row in result.rows}
    assert rows["flagged text"]["failed"] and "The prompt was filtered." in rows["flagged text"]["error"]
    assert not rows["fine"]["failed"] and not rows["also fine"]["failed"]


def test_a_url_only_teacher_is_not_answered_from_another_served_models_cache(tmp_path: Path) -> None:
    """A teacher given by URL only names the model its server lists; the same URL serving another model (a server
    restarted with it) must not be answered from the first model's cached replies. Before, its cache identity was
    the URL alone: 0 requests, the first model's labels."""

    def by_model(body: dict, n: int) -> Action:
        return Answer(json.dumps({"label": "positive" if body.get("model") == "model-a" else "negative"}))

    texts = ["Profits rose.", "Sales fell."]
    with FakeOpenAIServer(by_model) as server:
        spec = TaskSpec(name="fin", labels=LABELS, teachers=[TeacherSpec(base_url=server.url, timeout=2)])
        kwargs = {"cache": tmp_path / "cache", "progress": False, "samples": 1}
        server.models = ["model-a"]
        first = annotate(spec, texts, **kwargs)
        again = annotate(spec, texts, **kwargs)
        assert len(server.requests) == 2, "the same served model: answered from the cache"
        server.models = ["model-b"]
        switched = annotate(spec, texts, **kwargs)
    assert first.frame["label"].tolist() == again.frame["label"].tolist() == ["positive", "positive"]
    assert switched.frame["label"].tolist() == ["negative", "negative"] and len(server.requests) == 4


def test_free_form_requests_are_cached_under_the_schema_they_send(tmp_path: Path) -> None:
    """``acomplete_requests`` (generate, twins) keyed its cache on the spec's label schema, not the one it sends:
    the same messages under another schema were answered with the first schema's reply, 0 requests."""
    import asyncio

    from fake_openai_server import schema_of

    from sxhub.annotate import acomplete_requests
    from sxhub.cache import LabelCache
    from sxhub.teachers import open_teachers

    def echo_key(body: dict, n: int) -> Action:
        return Answer(json.dumps({next(iter(schema_of(body).get("properties", {}))): "hello"}))

    def schema(key: str) -> dict:
        return {"type": "object", "properties": {key: {"type": "string"}}, "required": [key]}

    messages = [{"role": "user", "content": "Write one sentence."}]
    with FakeOpenAIServer(echo_key) as server:
        spec = TaskSpec(name="fin", labels=LABELS, teachers=[TeacherSpec(base_url=server.url, model="fake")])

        async def ask(key: str) -> str:
            async with open_teachers(spec.default_teachers()) as teachers:
                replies, _ = await acomplete_requests(
                    spec, teachers, [(0, messages, 0)], schema=schema(key), cache=LabelCache(tmp_path), progress=False
                )
            return replies[0].text

        assert [asyncio.run(ask(k)) for k in ("text", "twin", "text")] == [
            '{"text": "hello"}',
            '{"twin": "hello"}',
            '{"text": "hello"}',
        ]
        assert len(server.requests) == 2  # the third from the cache


def test_a_damaged_label_cache_is_one_line_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A truncated or foreign cache file stopped every run with sqlite's "file is not a database", naming no file."""
    from conftest import run_cli

    from sxhub.cache import CACHE_FILE

    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / CACHE_FILE).write_bytes(b"this is not sqlite" * 100)
    task = Path(__file__).resolve().parent.parent / "examples" / "financial-sentiment" / "task.yaml"
    texts = tmp_path / "texts.csv"
    texts.write_text("text\nProfit rose\n", encoding="utf-8")
    argv = ["annotate", str(task), str(texts), "-o", str(tmp_path / "out.csv"), "--cache-dir", str(cache)]
    code, _, err = run_cli([*argv, "--teacher", "http://127.0.0.1:9/v1"], capsys)
    assert code == 2
    assert err.strip().splitlines()[-1] == (
        f"Error: label cache {str(cache / CACHE_FILE)!r} is damaged (file is not a database); move it away or delete "
        "it (its answers are then asked again), or pass another --cache-dir."
    )


def _annotate_cli(tmp_path: Path, cache: Path, server: FakeOpenAIServer, n: int) -> list[str]:
    task = tmp_path / "task.yaml"
    task.write_text(
        f"name: fin\nlabels: [positive, neutral, negative]\nteachers:\n  - base_url: {server.url}\n"
        "    model: fake\nsamples: 1\n",
        encoding="utf-8",
    )
    texts = tmp_path / "texts.csv"
    texts.write_text("text\n" + "".join(f"text number {i}\n" for i in range(n)), encoding="utf-8")
    out = tmp_path / "out.csv"
    return ["annotate", str(task), str(texts), "-o", str(out), "--cache-dir", str(cache), "--concurrency", "1"]


def test_a_label_cache_damaged_past_its_first_pages_is_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A cache whose damage lies past the pages read when it opens passed the check at open, and the run ended at
    the first lookup in "Error: DatabaseError: database disk image is malformed", exit 1, naming neither the file
    nor the fix."""
    import sqlite3

    from conftest import run_cli

    from sxhub.cache import CACHE_FILE, LabelCache
    from sxhub.teachers import Reply

    cache = tmp_path / "cache"
    with LabelCache(cache) as store:
        for i in range(300):  # enough rows for the table and its key index to span many pages
            store.put(f"{i:064x}", Reply(text="x" * 500, input_tokens=1, output_tokens=1))
    db = sqlite3.connect(cache / CACHE_FILE)
    db.execute("PRAGMA journal_mode=DELETE")  # the WAL folded into the file, so that the damage below is all of it
    page = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    data = bytearray((cache / CACHE_FILE).read_bytes())
    data[3 * page :] = b"\xff" * (len(data) - 3 * page)  # every page past the schema and the two roots
    (cache / CACHE_FILE).write_bytes(bytes(data))
    with FakeOpenAIServer() as server:
        code, _, err = run_cli(_annotate_cli(tmp_path, cache, server, 3), capsys)
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"Error: label cache {str(cache / CACHE_FILE)!r} is damaged (")
    assert last.endswith("move it away or delete it (its answers are then asked again), or pass another --cache-dir.")


def test_a_label_cache_whose_disk_fills_up_during_the_run_is_one_line_naming_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk of the cache filling up during a run ended it in "Error: OperationalError: database or disk is full",
    exit 1. sqlite's own limit on the file's pages stands in for the full disk: the same error, from the same call."""
    from conftest import run_cli

    from sxhub.cache import CACHE_FILE, LabelCache

    opened = LabelCache.__init__

    def small_disk(self: LabelCache, cache_dir: Path | None = None) -> None:
        opened(self, cache_dir)
        pages = self._db.execute("PRAGMA page_count").fetchone()[0]
        self._db.execute(f"PRAGMA max_page_count = {pages + 2}")

    monkeypatch.setattr(LabelCache, "__init__", small_disk)
    cache = tmp_path / "cache"
    with FakeOpenAIServer(lambda body, n: Answer(json.dumps({"label": "neutral", "pad": "x" * 3000}))) as server:
        code, _, err = run_cli(_annotate_cli(tmp_path, cache, server, 20), capsys)
    assert code == 2
    assert err.strip().splitlines()[-1] == (
        f"Error: label cache {str(cache / CACHE_FILE)!r} cannot be written (database or disk is full); free space "
        "there or pass --cache-dir (or set SXHUB_CACHE) to a folder on another disk, and run the same command to "
        "resume."
    )


def test_a_full_disk_under_the_output_is_one_line_naming_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk under OUT filling up ended annotate in "Error: OSError: [Errno 28] Error writing bytes to file.
    Detail: [errno 28] No space left on device (set SXHUB_DEBUG=1 ...)": no fix, and no word of what was kept. The
    parts writer's own ENOSPC stands in for the full disk."""
    import errno

    import pandas as pd
    from conftest import run_cli

    def full(self: pd.DataFrame, *args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "Error writing bytes to file. Detail: [errno 28] No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", full)
    with FakeOpenAIServer() as server:
        code, _, err = run_cli(_annotate_cli(tmp_path, tmp_path / "cache", server, 3), capsys)
    assert code == 1
    assert err.strip().splitlines()[-1] == (
        "Error: no space left on the device; free space there, or write the output to another disk (-o), and run "
        "the command again (finished work is kept: the same command resumes from OUT.parts/ and the label cache)."
    )


def test_a_label_cache_that_cannot_be_written_is_refused_before_a_request() -> None:
    """A read-only cache file let the run pay for its requests, then crashed at the first answer's put
    ("attempt to write a readonly database", exit 1), and every rerun paid again. Run as a user who may read the
    cache but not write it (root writes anywhere: the test drops to nobody where it runs as root, in a folder under
    /tmp that nobody may enter, which pytest's own temporary folders are not)."""
    import os
    import shutil
    import subprocess
    import sys
    import tempfile

    from sxhub.cache import CACHE_FILE, LabelCache

    root = Path(tempfile.mkdtemp(prefix="sxhub-ro-cache-"))
    try:
        cache = root / "cache"
        LabelCache(cache).close()
        for p in (root, cache, cache / CACHE_FILE):
            p.chmod(0o755 if p.is_dir() else 0o644)  # readable by all, writable by the owner only
        as_root = os.geteuid() == 0
        prefix = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"] if as_root else []
        # an interpreter that nobody may not load (a pyenv build under /root, linked to its libpython there) does
        # not start as nobody, and no cache would be opened at all
        starts = subprocess.run([*prefix, sys.executable, "-c", "pass"], capture_output=True, text=True)
        if starts.returncode != 0:
            pytest.skip(f"{sys.executable} does not start as nobody: {starts.stderr.strip()[-200:]}")
        if not as_root:
            (cache / CACHE_FILE).chmod(0o444)
            cache.chmod(0o555)
        code = f"from sxhub.cache import LabelCache\nLabelCache({str(cache)!r})"
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        done = subprocess.run([*prefix, sys.executable, "-c", code], capture_output=True, text=True, env=env)
    finally:
        for p in (root, root / "cache"):
            p.chmod(0o755)
        shutil.rmtree(root)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    why = "(attempt to write a readonly database)" if as_root else "("
    assert last.startswith(f"sxhub.errors.InputError: label cache {str(cache / CACHE_FILE)!r} cannot be written {why}")
    assert last.endswith("pass --cache-dir (or set SXHUB_CACHE) to a folder you can write, or make it writable.")


def test_a_server_that_answers_nothing_stops_the_run_after_three_texts(tmp_path: Path) -> None:
    """A server that takes connections and never answers cost the timeout times the tries for every text (hours on a
    large input, at the default 60 s), and each ended failed. After three texts in a row whose every try timed out,
    the run stops with one line; a timeout between answers (one slow text) still only fails that vote."""
    from sxhub.errors import TeacherUnavailableError

    texts = [f"text {i}" for i in range(20)]
    with FakeOpenAIServer(lambda body, n: Hang(1.5)) as server, pytest.raises(TeacherUnavailableError) as info:
        run(server, texts, tmp_path, concurrency=1, max_retries=1)
    message = str(info.value)
    assert "answered nothing: every try for 3 texts in a row timed out (2 tries each" in message
    assert "raise its timeout in the task spec" in message and "run the same command to resume" in message
    assert len(server.requests) == 3 * 2

    def every_third_hangs(body: dict, n: int) -> Action:
        hangs = any(f"text {i}" in user_text(body) for i in (0, 3, 6))
        return Hang(1.5) if hangs else Answer(default_answer(body))

    with FakeOpenAIServer(every_third_hangs) as server:
        result = run(server, texts[:9], tmp_path / "b", concurrency=1, max_retries=0)
    assert result.ledger["failed_texts"] == 3 and result.ledger["n_texts"] == 9


def reply_body(message: dict, finish_reason: str = "stop", completion_tokens: int = 8) -> dict:
    """A chat-completion body with this message and finish_reason (the fake server's usual envelope)."""
    body = completion("")
    body["choices"][0].update(message={"role": "assistant", **message}, finish_reason=finish_reason)
    body["usage"]["completion_tokens"] = completion_tokens
    return body


# What real servers and proxies send besides an answer (each seen from their source or documentation):
ODD_REPLIES = {
    # OpenAI's ChatCompletionMessage.refusal (also a field of vLLM's ChatMessage)
    "refused": reply_body({"content": None, "refusal": "I'm sorry, I can't help with that."}),
    # finish_reason "content_filter" (OpenAI, Azure OpenAI): the content was withheld
    "filtered": reply_body({"content": None}, "content_filter", 0),
    # OpenRouter: "the returned HTTP response status will be 200 and any error occurred while the LLM is producing the
    # output will be emitted in the response body" (openrouter.ai/docs/api/reference/errors-and-debugging)
    "upstream-down": {"error": {"code": 502, "message": "Provider returned error: model overloaded"}},
    "bad-200": {"error": {"code": 400, "message": "Invalid request: unsupported parameter 'seed'"}},
    "no-choices": {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "fake", "choices": []},
}


@pytest.mark.parametrize("structured", ["auto", "json_schema"])  # through huggingface_hub, and over plain HTTP
def test_refusals_and_error_bodies_say_what_the_server_said(tmp_path: Path, structured: str) -> None:
    """A refusal or a content filter was "invalid answer: reply holds no JSON object: ''", asked three times; an
    HTTP 200 carrying an ``error`` object was "the server returned no choices", retried whatever it said, its
    message never shown. Now a refusal fails its text once with the server's words, and an error body is sorted by
    its code like the HTTP error it stands for."""

    def odd(body: dict, n: int) -> Action:
        text = user_text(body).split("\n")[0].removeprefix("Text: ")
        return Raw(ODD_REPLIES[text]) if text in ODD_REPLIES else Answer(default_answer(body))

    with FakeOpenAIServer(odd) as server:
        teacher = TeacherSpec(base_url=server.url, model="fake", name="srv", timeout=5, structured=structured)
        spec = TaskSpec(name="fin", labels=LABELS, teachers=[teacher])
        result = annotate(
            spec, [*ODD_REPLIES, "fine"], cache=tmp_path / "cache", progress=False, backoff=0.01, max_retries=2
        )
    rows = {row["text"]: row for row in result.rows}
    asked = {t: server.per_text[next(k for k in server.per_text if k.startswith(f"Text: {t}\n"))] for t in rows}
    assert rows["refused"]["error"] == "srv refused to answer this text: \"I'm sorry, I can't help with that.\""
    assert "content filter withheld the answer" in rows["filtered"]["error"]
    assert asked["refused"] == asked["filtered"] == 1  # another seed is refused the same way
    assert rows["upstream-down"]["error"].startswith(
        "srv: HTTP 502 (in an HTTP 200 body: Provider returned error: model overloaded)"
    )
    assert asked["upstream-down"] == 3  # a 502 is worth retrying
    assert rows["bad-200"]["error"] == (
        "srv: HTTP 400 (in an HTTP 200 body: Invalid request: unsupported parameter 'seed')"
    )
    assert asked["bad-200"] == 1
    assert '"choices": []' in rows["no-choices"]["error"]  # the body is shown
    assert all(rows[t]["failed"] for t in ODD_REPLIES) and not rows["fine"]["failed"]


def test_a_reasoning_model_cut_off_while_thinking_says_so_and_how_to_fix_it(tmp_path: Path) -> None:
    """A reasoning model behind vLLM's reasoning parser that spends max_tokens thinking answers ``content: null``,
    the thinking in ``reasoning`` (vLLM >= 0.10; ``reasoning_content`` before, and in llama.cpp), finish_reason
    "length": vllm/reasoning/basic_parsers.py (BaseThinkingReasoningParser.extract_reasoning, vllm-project/vllm at
    9b533e7bd0d4945f0e808ea8fb17e9ceee402a91) returns no content when </think> never came. The vote said "reply
    holds no JSON object: ''", and its fix only "raise max_tokens"; thinking that could be turned off went unnamed.
    The cache keeps the reply, so the rerun says it too without a request."""

    def thinking(body: dict, n: int) -> Action:
        if "long-thinker" in user_text(body):
            message = {"content": None, "reasoning": "The operating profit rose by 12%, but margins", "refusal": None}
            return Raw(reply_body(message, "length", completion_tokens=32))
        if "draft-thinker" in user_text(body):  # no reasoning parser: the thinking stays in the content
            return Answer('<think>{"label": "positive"}? No: it fell.</think>{"label": "negative"}')
        return Answer(default_answer(body))

    port = 0
    for _ in range(2):
        with FakeOpenAIServer(thinking, port=port) as server:
            teacher = TeacherSpec(base_url=server.url, model="fake", name="srv", timeout=5, max_tokens=32)
            spec = TaskSpec(name="fin", labels=LABELS, teachers=[teacher])
            texts = ["long-thinker", "draft-thinker"]
            result = annotate(spec, texts, cache=tmp_path / "cache", progress=False, max_invalid=0)
        port = int(server.url.rsplit(":", 1)[1].split("/")[0])
        rows = {row["text"]: row for row in result.rows}
        assert rows["long-thinker"]["error"] == (
            "invalid answer: the reply has no content (the reply was cut off at max_tokens=32: raise max_tokens for teacher 'srv' in the task spec, or turn the model's thinking off "
            "on its server)"
        )
        assert rows["draft-thinker"]["label"] == "negative"
    assert server.requests == []  # the rerun was answered from the cache


def test_replies_cut_off_at_max_tokens_for_three_texts_in_a_row_stop_the_run(tmp_path: Path) -> None:
    """A model that thinks or explains past max_tokens before its JSON (a reasoning model, a long reason) failed
    every text that way, each asked max_invalid + 1 times at the full token budget: the run paid for every text and
    labelled none. Three texts in a row whose every reply was cut off now stop it in one line naming the fix; a
    valid answer in between resets the count, as the hung-server stop does."""
    from sxhub.errors import TeacherUnavailableError

    def thinking(body: dict, n: int) -> Action:
        if "fine" in user_text(body):
            return Answer(default_answer(body))
        message = {"content": None, "reasoning": "The operating profit rose by 12%, but margins", "refusal": None}
        return Raw(reply_body(message, "length", completion_tokens=32))

    teacher = TeacherSpec(base_url="", model="fake", name="srv", timeout=5, max_tokens=32)
    texts = [f"text {i}" for i in range(10)]
    with FakeOpenAIServer(thinking) as server, pytest.raises(TeacherUnavailableError) as info:
        spec = TaskSpec(name="fin", labels=LABELS, teachers=[TeacherSpec(**{**vars(teacher), "base_url": server.url})])
        annotate(spec, texts, cache=tmp_path / "cache", progress=False, max_invalid=1, concurrency=1)
    message = str(info.value)
    assert message.startswith("teacher 'srv' at ") and "\n" not in message
    assert "every reply for 3 texts in a row was cut off at max_tokens=32" in message
    assert "Raise max_tokens for this teacher" in message and "thinking off" in message
    assert len(server.requests) == 3 * 2  # three texts, two tries each; the other seven never asked

    mixed = ["text a", "text b", "fine 1", "text c", "text d", "fine 2", "text e"]
    with FakeOpenAIServer(thinking) as server:
        spec = TaskSpec(name="fin", labels=LABELS, teachers=[TeacherSpec(**{**vars(teacher), "base_url": server.url})])
        result = annotate(spec, mixed, cache=False, progress=False, max_invalid=0, concurrency=1)
    failed = {row["text"] for row in result.rows if row["failed"]}
    assert failed == {"text a", "text b", "text c", "text d", "text e"}  # never three in a row: every text asked


def test_a_rate_limit_wait_past_the_backoff_cap_is_waited_out_and_the_run_goes_on(tmp_path: Path) -> None:
    """A 429 whose Retry-After (90 s from an OpenAI-compatible server; the Hub's windows are 5 minutes) is past the
    cap on sxhub's own backoff (``max_wait``, 60 s) stopped the whole run at once with nothing labelled. It is waited
    out as the server asks, and the run goes on; only a wait past 15 minutes (a spent quota) stops the run. Here
    max_wait is 0.2 s and the server asks 1 s."""
    times: list[float] = []

    def rate_limited(body: dict, n: int) -> Action:
        times.append(time.monotonic())
        return Fail(429, {"Retry-After": "1"}) if n == 1 else Answer(default_answer(body))

    with FakeOpenAIServer(rate_limited) as server:
        result = run(server, ["only one"], tmp_path, backoff=0.01, max_wait=0.2)
    assert result.rows[0]["label"] in LABELS
    assert len(times) == 2 and times[1] - times[0] >= 0.95


def test_a_rerun_asks_again_the_texts_refused_as_too_long_once_the_server_has_a_longer_context(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ticket too long for llama-cpp-python's --n_ctx 256 failed its row; the user restarted the server with a
    longer context and ran the same command, which asked nothing (a finished job): the row stayed failed until
    --restart or a new OUT. A rerun now asks the refused text again, and only it (the others' answers stay in
    OUT), and the summary says so; once it is labelled, a further rerun asks nothing."""
    from conftest import run_cli

    ticket = "Customer reports the invoice total is wrong. " * 12

    def short_context(body: dict, n: int) -> Action:
        if "Customer reports" in user_text(body):
            return Fail(400, body=LLAMA_CPP_PYTHON_CONTEXT_400)
        return Answer(default_answer(body))

    texts = tmp_path / "tickets.csv"
    texts.write_text("text\nrose\n" + ticket + "\nflat\nfell\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    port = 0
    for responder, reasked, failed in ((short_context, 0, 1), (short_context, 1, 1), (completion_only, 1, 0)):
        with FakeOpenAIServer(responder, port=port) as server:
            port = int(server.url.rsplit(":", 1)[1].split("/")[0])
            task = tmp_path / "task.yaml"
            task.write_text(
                f"name: fin\nlabels: [positive, neutral, negative]\nteachers:\n  - base_url: {server.url}\n"
                "    model: fake\nsamples: 3\n",
                encoding="utf-8",
            )
            argv = ["annotate", str(task), str(texts), "-o", str(out), "--cache-dir", str(tmp_path / "cache")]
            code, stdout, err = run_cli(argv, capsys)
        assert code == 0, err
        summary = stdout + err
        assert f"labelled {4 - failed}/4 texts, {failed} failed" in summary, summary
        assert ("re-asking 1 text refused as too long earlier" in summary) == bool(reasked), summary
        asked = [user_text(b) for b in server.requests]
        if reasked:  # the refused ticket alone, once per sample it had to ask again
            assert asked and all("Customer reports" in t for t in asked), asked
        rows = pd.read_csv(out, keep_default_na=False)
        assert list(rows["failed"]) == [False, bool(failed), False, False]
    with FakeOpenAIServer(completion_only, port=port) as server:
        code, stdout, err = run_cli(argv, capsys)
    assert code == 0 and server.requests == [] and "re-asking" not in stdout + err


def completion_only(body: dict, n: int) -> Action:
    return Answer(default_answer(body))


def test_a_text_too_long_for_the_context_window_is_asked_once_at_the_default_concurrency(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """At --concurrency 8 (the default) the 3 samples of a text too long for llama-cpp-python's context were sent at
    once, before the first refusal came back: "3 requests were refused" per long text (the once-per-teacher memo
    caught only samples asked after it). Once the teacher has refused one text as too long, the other samples of
    each text wait for its first one's answer and share its refusal: the second long ticket is asked once. The
    first may still be asked up to 3 times: waiting on every first sample before any refusal cost a run with no
    long text a quarter of its requests/s. The other texts are labelled as before."""
    from conftest import run_cli

    first, second = ("Customer reports the invoice total is wrong. " * 12, "Customer reports a late parcel. " * 15)

    refused = threading.Event()

    def short_context(body: dict, n: int) -> Action:
        if "Customer reports" in user_text(body):
            time.sleep(0.5)  # a refusal slower than the answers: the workers reach the other samples meanwhile
            refused.set()
            return Fail(400, body=LLAMA_CPP_PYTHON_CONTEXT_400)
        refused.wait(10)  # the short texts of the first window hold the workers until the first refusal is in
        time.sleep(0.05)
        return Answer(default_answer(body))

    short = [f"Sales rose {i}%" for i in range(14)]
    rows = [first, *short[:10], second, *short[10:]]  # the second ticket after the first window of 8 texts
    texts = tmp_path / "tickets.csv"
    texts.write_text("text\n" + "\n".join(rows) + "\n", encoding="utf-8")
    with FakeOpenAIServer(short_context, delay=0.02) as server:
        task = tmp_path / "task.yaml"
        task.write_text(
            f"name: fin\nlabels: [positive, neutral, negative]\nteachers:\n  - base_url: {server.url}\n"
            "    model: fake\nsamples: 3\n",
            encoding="utf-8",
        )
        out = tmp_path / "out.csv"
        argv = ["annotate", str(task), str(texts), "-o", str(out), "--cache-dir", str(tmp_path / "cache")]
        code, stdout, err = run_cli(argv, capsys)
    assert code == 0, err
    assert sum("late parcel" in user_text(b) for b in server.requests) == 1
    asked_first = sum("invoice total" in user_text(b) for b in server.requests)
    assert 1 <= asked_first <= 3
    summary = stdout + err
    assert f"labelled {len(short)}/{len(rows)} texts, 2 failed" in summary
    assert f"{asked_first + 1} requests were refused as a text too long" in summary
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table["failed"]) == [text.startswith("Customer") for text in rows]
    assert len(server.requests) == asked_first + 1 + 3 * len(short)


def test_after_a_refusal_as_too_long_the_later_samples_of_a_text_are_still_asked_together(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Once a text was refused as too long, any sample could register as its text's "first" (sample 1 taken after
    sample 0 was answered), and sample 2 then waited for it: every later text's samples went one after the other
    (160 texts, 0.1 s server: 40 requests/s against 69). Only sample 0 is waited on: samples 1 and 2 of a text
    overlap."""
    from conftest import run_cli

    lock, in_flight, most = threading.Lock(), Counter[str](), Counter[str]()

    def short_context(body: dict, n: int) -> Action:
        text = user_text(body)
        if "Customer reports" in text:
            return Fail(400, body=LLAMA_CPP_PYTHON_CONTEXT_400)
        with lock:
            in_flight[text] += 1
            most[text] = max(most[text], in_flight[text])
        time.sleep(0.1)
        with lock:
            in_flight[text] -= 1
        return Answer(default_answer(body))

    rows = ["Customer reports the invoice total is wrong.", *(f"Sales rose {i}%" for i in range(40))]
    texts = tmp_path / "texts.csv"
    texts.write_text("text\n" + "\n".join(rows) + "\n", encoding="utf-8")
    with FakeOpenAIServer(short_context) as server:
        task = tmp_path / "task.yaml"
        task.write_text(
            f"name: fin\nlabels: [positive, neutral, negative]\nteachers:\n  - base_url: {server.url}\n"
            "    model: fake\nsamples: 3\n",
            encoding="utf-8",
        )
        argv = ["annotate", str(task), str(texts), "-o", str(tmp_path / "out.csv"), "--cache-dir", str(tmp_path / "c")]
        code, _, err = run_cli(argv, capsys)
    assert code == 0, err
    overlapped = [text for text, n in most.items() if n >= 2]
    assert len(overlapped) >= 20, most  # the texts after the refusal: their samples 1 and 2 asked together


@pytest.mark.parametrize("structured", ["auto", "json_schema"])  # through huggingface_hub, and over plain HTTP
def test_an_answer_sent_as_a_list_of_content_chunks_is_read_from_its_text_chunks(
    tmp_path: Path, structured: str
) -> None:
    """Mistral's API (an OpenAI-compatible base_url) answers a reasoning model's (Magistral) message ``content`` as
    a list of chunks, ``[{"type": "thinking", "thinking": [{"type": "text", ...}]}, {"type": "text", "text":
    ANSWER}]`` (docs.mistral.ai/capabilities/reasoning; mistralai/client-python issue #252). The list went on as
    the reply's text and the run stopped at its first answer blaming the label cache ("label cache '...' cannot be
    used (Error binding parameter 3: type 'list' is not supported)"). The answer is its text chunks, joined; a
    thinking chunk is never read as the answer."""

    def chunked(body: dict, n: int) -> Action:
        answer = default_answer(body)
        draft = '{"label": "neutral"}' if '"neutral"' not in answer else '{"label": "positive"}'
        content = [
            {"type": "thinking", "thinking": [{"type": "text", "text": f"maybe {draft}? no."}]},
            {"type": "text", "text": answer[:5]},
            {"type": "text", "text": answer[5:]},
        ]
        return Raw(reply_body({"content": content}))

    with FakeOpenAIServer(chunked) as server:
        teacher = TeacherSpec(base_url=server.url, model="fake", name="srv", timeout=5, structured=structured)
        spec = TaskSpec(name="fin", labels=LABELS, teachers=[teacher])
        texts = ["profits rose", "profits fell"]
        result = annotate(spec, texts, cache=tmp_path / "cache", progress=False, max_invalid=0)
        expected = {
            user_text(body).split("\n")[0]: json.loads(default_answer(body))["label"] for body in server.requests
        }
    labels = {f"Text: {row['text']}": row["label"] for row in result.rows}
    assert labels == expected and not any(row["failed"] for row in result.rows)


def test_a_batch_that_failed_on_the_server_during_generation_is_asked_again(tmp_path: Path) -> None:
    """TGI answers HTTP 424 ``{"error": "Request failed during generation: ...", "error_type": "generation"}`` to
    every request of a batch that one of its model shards failed (a CUDA out-of-memory error, say): the batch is
    discarded and the next one runs (backends/v3/src/backend.rs ``prefill``/``decode`` -> ``send_errors``;
    router/src/server.rs maps ``InferError::GenerationError`` to 424 FAILED_DEPENDENCY;
    huggingface/text-generation-inference at db931fcf). It was a refusal of the request: each text of the batch
    failed with no second try, and a batch holding the run's first three texts stopped the run saying the request
    shape was wrong ("set `server:` ... or `structured: none`"). It is retried like a 5xx, and those texts are
    labelled."""
    oom = '{"error":"Request failed during generation: Server error: CUDA out of memory.","error_type":"generation"}'

    def batch_failed(body: dict, n: int) -> Action:
        return Fail(424, body=oom) if n == 1 else Answer(default_answer(body))

    texts = ["profits rose", "profits fell", "profits held", "sales rose"]
    with FakeOpenAIServer(batch_failed) as server:
        result = run(server, texts, tmp_path, max_retries=2, concurrency=4)
    assert not any(row["failed"] for row in result.rows), [row["error"] for row in result.rows]
    assert all(row["label"] in LABELS for row in result.rows)
    assert sorted(server.per_text.values()) == [2, 2, 2, 2]  # each asked again once


@pytest.mark.parametrize("structured", ["auto", "json_schema"])  # through huggingface_hub, and over plain HTTP
def test_a_base_url_answering_a_web_page_names_what_it_sent_and_the_fix(tmp_path: Path, structured: str) -> None:
    """A base_url that is a web application, not the model server's API (a chat UI in front of it, a proxy's login
    page), answers the chat request with HTTP 200 and an HTML page. Each text failed with "unreadable response
    (JSONDecodeError: Expecting value: line 1 column 1 (char 0))", naming neither what came back nor the fix. The
    error now shows the start of what the server sent and says to check base_url."""
    page = "<!doctype html><html><head><title>Chat UI</title></head><body>sign in</body></html>"
    with FakeOpenAIServer(lambda body, n: Fail(200, body=page)) as server:
        teacher = TeacherSpec(base_url=server.url, model="fake", name="srv", timeout=5, structured=structured)
        spec = TaskSpec(name="fin", labels=LABELS, teachers=[teacher])
        result = annotate(spec, ["profits rose"], cache=False, progress=False, max_retries=0)
    error = result.rows[0]["error"]
    assert error.startswith("srv: the server's answer is not JSON: '<!doctype html><html><head><title>Chat UI")
    assert f"check that base_url {server.url} is the server's OpenAI-compatible API" in error
    assert "\n" not in error
