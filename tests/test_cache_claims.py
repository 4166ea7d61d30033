"""Two runs sharing the label cache at once pay for each reply once: a run claims the keys it asks, and another run
that meets a live claim waits for that answer instead of asking again; a claim whose run died, hangs or failed the
request is taken over, so that a claim never blocks a run for good."""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import sxhub.cache as cache_module
from sxhub.annotate import aannotate
from sxhub.cache import Claim, Failed, LabelCache
from sxhub.spec import TaskSpec
from sxhub.teachers import FakeTeacher, Reply

LABELS = ["positive", "neutral", "negative"]
TEXTS = [f"Company {i} reported results." for i in range(8)]


def make_spec() -> TaskSpec:
    return TaskSpec.from_dict({"name": "fin", "labels": LABELS, "samples": 1})


@dataclass
class SlowTeacher(FakeTeacher):
    """A FakeTeacher whose answers take ``delay`` seconds, as a server's do."""

    delay: float = 0.05

    async def acomplete(self, messages: list[dict[str, str]], **kwargs: Any) -> Reply:
        await asyncio.sleep(self.delay)
        return await super().acomplete(messages, **kwargs)


def answer(messages: list[dict[str, str]]) -> dict[str, str]:
    return {"label": LABELS[len(messages[-1]["content"]) % 3]}


def claims(folder: Path) -> list[tuple[Any, ...]]:
    """The live claims (a request on its way), not the failures kept for the runs that waited on them."""
    with sqlite3.connect(folder / "labels.sqlite") as db:
        return db.execute("SELECT key, owner, pid, host FROM claims WHERE failed IS NULL").fetchall()


def a_dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_two_runs_started_together_pay_for_each_answer_once(tmp_path: Path) -> None:
    """Both runs missed the cache, asked the teacher for every text and wrote: each answer was paid twice."""
    first, second = SlowTeacher(responder=answer), SlowTeacher(responder=answer)

    async def both() -> list[Any]:
        caches = [LabelCache(tmp_path / "cache"), LabelCache(tmp_path / "cache")]  # two runs: two owners
        try:
            return await asyncio.gather(
                *(
                    aannotate(make_spec(), TEXTS, teachers=[t], cache=c, progress=False, concurrency=4)
                    for t, c in zip((first, second), caches, strict=True)
                )
            )
        finally:
            for c in caches:
                c.close()

    one, two = asyncio.run(both())
    assert len(first.history) + len(second.history) == len(TEXTS)
    assert one.ledger["requests"] + two.ledger["requests"] == len(TEXTS)
    assert one.ledger["cached"] + two.ledger["cached"] == len(TEXTS)  # what one paid, the other got as cached
    paid = one.ledger["input_tokens"] + two.ledger["input_tokens"]
    assert paid > 0 and paid == one.ledger["cached_input_tokens"] + two.ledger["cached_input_tokens"]
    assert [r["label"] for r in one.rows] == [r["label"] for r in two.rows]
    assert claims(tmp_path / "cache") == []  # every claim went with its answer


def test_two_runs_through_one_cache_object_pay_once(tmp_path: Path) -> None:
    """asyncio.gather of two aannotate calls given one LabelCache (a notebook): the claims were that object's, so
    each call took the other's for its own and both asked."""
    first, second = SlowTeacher(responder=answer), SlowTeacher(responder=answer)

    async def both() -> None:
        with LabelCache(tmp_path / "cache") as store:
            await asyncio.gather(
                *(aannotate(make_spec(), TEXTS, teachers=[t], cache=store, progress=False) for t in (first, second))
            )

    asyncio.run(both())
    assert len(first.history) + len(second.history) == len(TEXTS)
    assert claims(tmp_path / "cache") == []


def test_a_live_claim_is_waited_for_and_its_answer_counted_as_cached(tmp_path: Path) -> None:
    other, this = LabelCache(tmp_path / "cache"), LabelCache(tmp_path / "cache")
    key = "k"
    assert other.claim(key) is None  # the other run asks the teacher
    held = this.claim(key)
    assert held == Claim(pid=os.getpid(), host=socket.gethostname())
    assert this.claim(key) == held  # still asking: still waited for
    other.put(key, Reply(text='{"label": "neutral"}', input_tokens=5, output_tokens=2))
    got = this.claim(key)
    assert isinstance(got, Reply) and got.text == '{"label": "neutral"}'
    assert claims(tmp_path / "cache") == []
    other.close(), this.close()


def test_a_run_waits_for_another_runs_answer_and_does_not_ask(tmp_path: Path, caplog) -> None:
    """End to end: the other run (another cache object) holds every key; its answers arrive later."""
    from sxhub.annotate_engine import _Engine, _Options

    other = LabelCache(tmp_path / "cache")
    teacher = FakeTeacher(responder=lambda m: pytest.fail("the other run's claim should be waited for"))
    store = LabelCache(tmp_path / "cache")
    engine = _Engine(make_spec(), [teacher], ["fake"], store, _Options(1, 2, 0, 0, 0.01, 0.01, 0))
    messages = engine.messages_for(TEXTS[0])
    key = engine.keys[0](messages, 0)
    assert other.claim(key) is None
    timer = threading.Timer(
        0.6, other.put, (key, Reply(text='{"label": "negative"}', input_tokens=7, output_tokens=3))
    )
    timer.start()
    vote = asyncio.run(engine.vote(TEXTS[0], 0, 0))
    timer.join()
    assert vote["labels"] == ["negative"] and teacher.history == []
    ledger = engine.ledgers["fake"]
    assert ledger.requests == 0 and ledger.cached == 1 and ledger.cached_input_tokens == 7
    assert "another sxhub run (pid" in caplog.text and "waits for its answers" in caplog.text
    other.close(), store.close()


def test_a_claim_released_without_an_answer_is_taken_over(tmp_path: Path) -> None:
    """The other run's request failed (or it was interrupted): this run asks the teacher itself."""
    other, this = LabelCache(tmp_path / "cache"), LabelCache(tmp_path / "cache")
    assert other.claim("k") is None
    assert isinstance(this.claim("k"), Claim)
    other.release("k")
    assert this.claim("k") is None
    assert [row[1] for row in claims(tmp_path / "cache")] == [this._owner]
    other.close(), this.close()


def test_the_claim_of_a_run_that_died_is_taken_over_at_once(tmp_path: Path) -> None:
    this = LabelCache(tmp_path / "cache")
    with sqlite3.connect(tmp_path / "cache" / "labels.sqlite") as db:  # left by a run killed with SIGKILL
        db.execute(
            "INSERT INTO claims (key, owner, pid, host, heartbeat) VALUES ('k', 'dead', ?, ?, ?)",
            (a_dead_pid(), socket.gethostname(), time.time()),
        )
    assert this.claim("k") is None
    this.close()


def test_a_claim_whose_heartbeat_stopped_is_taken_over(tmp_path: Path) -> None:
    """Another machine's run (its pid cannot be checked from here) that hangs or whose machine is gone."""
    this = LabelCache(tmp_path / "cache")
    with sqlite3.connect(tmp_path / "cache" / "labels.sqlite") as db:
        now = time.time()
        db.execute(
            "INSERT INTO claims (key, owner, pid, host, heartbeat) VALUES ('fresh', 'far', 1, 'elsewhere', ?)", (now,)
        )
        db.execute(
            "INSERT INTO claims (key, owner, pid, host, heartbeat) VALUES ('old', 'far', 1, 'elsewhere', ?)",
            (now - cache_module.STALE_S - 1,),
        )
    assert this.claim("fresh") == Claim(pid=1, host="elsewhere")
    assert this.claim("old") is None
    this.close()


def test_the_heartbeat_keeps_a_long_request_claimed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache_module, "HEARTBEAT_S", 0.05)
    monkeypatch.setattr(cache_module, "STALE_S", 0.5)
    other, this = LabelCache(tmp_path / "cache"), LabelCache(tmp_path / "cache")
    with sqlite3.connect(tmp_path / "cache" / "labels.sqlite") as db:  # another host: only the heartbeat counts
        assert other.claim("k") is None
        db.execute("UPDATE claims SET host = 'elsewhere'")
    time.sleep(1.0)  # twice STALE_S: the heartbeat kept it fresh
    assert isinstance(this.claim("k"), Claim)
    other.close()  # its claims go with it
    assert this.claim("k") is None
    this.close()


def test_a_failed_request_gives_its_claim_back(tmp_path: Path) -> None:
    from sxhub.teachers import RejectedRequestError

    store = LabelCache(tmp_path / "cache")
    teacher = FakeTeacher().enqueue(RejectedRequestError("refused", status=400, detail="bad"))
    result = asyncio.run(aannotate(make_spec(), TEXTS[:1], teachers=[teacher], cache=store, progress=False))
    assert result.rows[0]["failed"]
    assert claims(tmp_path / "cache") == []  # before the cache closes: a waiting run gets its error at once
    later = LabelCache(tmp_path / "cache")
    assert later.claim(next(iter(failures(tmp_path / "cache")))) is None  # failures are not cached: asked again
    store.close(), later.close()


def failures(folder: Path) -> dict[str, str]:
    with sqlite3.connect(folder / "labels.sqlite") as db:
        return dict(db.execute("SELECT key, failed FROM claims WHERE failed IS NOT NULL").fetchall())


def test_a_failure_goes_to_the_runs_that_waited_on_it_only(tmp_path: Path) -> None:
    """The run waited on failed: a run waiting on it gets that error instead of asking (and paying its retries)
    again; a run that was not waiting (a rerun) asks again, since failures are never cached."""
    other, waiter, later = (LabelCache(tmp_path / "cache") for _ in range(3))
    assert other.claim("k") is None
    assert isinstance(waiter.claim("k"), Claim)
    other.release("k", "srv: HTTP 500 (gave up after 5 tries)")
    assert waiter.claim("k", waiting=True) == Failed(
        "srv: HTTP 500 (gave up after 5 tries)", os.getpid(), socket.gethostname()
    )
    assert later.claim("k") is None  # not waiting: takes the key over
    assert isinstance(waiter.claim("k", waiting=True), Claim)  # and is waited on in turn
    other.release("k")  # no error (interrupted): not another run's failure to give
    assert waiter.claim("k", waiting=True) == Claim(pid=os.getpid(), host=socket.gethostname())
    other.close(), waiter.close(), later.close()


def test_a_failing_request_is_paid_once_by_two_runs_at_once(tmp_path: Path) -> None:
    """Both runs ask for a text the teacher answers only with 5xx: the one that claimed it paid its retries, then
    the waiting one asked again and paid them too (N runs: N times). The waiting run's vote fails with the error."""
    from sxhub.teachers import RetryableTeacherError

    def failing(messages: list[dict[str, str]]) -> Any:
        if "Company 3 " in messages[-1]["content"]:
            return RetryableTeacherError("srv: HTTP 503 (busy)", status=503)
        return answer(messages)

    first, second = SlowTeacher(responder=failing), SlowTeacher(responder=failing)

    async def both() -> list[Any]:
        caches = [LabelCache(tmp_path / "cache"), LabelCache(tmp_path / "cache")]
        try:
            return await asyncio.gather(
                *(
                    aannotate(
                        make_spec(), TEXTS, teachers=[t], cache=c, progress=False, concurrency=4, max_retries=2,
                        backoff=0.05, max_wait=0.05,
                    )
                    for t, c in zip((first, second), caches, strict=True)
                )
            )  # fmt: skip
        finally:
            for c in caches:
                c.close()

    one, two = asyncio.run(both())
    asked = [c for t in (first, second) for c in t.history if "Company 3 " in c.messages[-1]["content"]]
    assert len(asked) == 3  # one run's 3 tries, not 3 per run
    assert len(first.history) + len(second.history) == len(TEXTS) - 1 + 3
    errors = sorted(run.rows[3]["error"] for run in (one, two))
    assert errors[0].startswith("srv: HTTP 503 (busy) (gave up after 3 tries)")
    assert errors[1] == f"{errors[0]} (asked by another sxhub run, pid {os.getpid()} on {socket.gethostname()})"
    assert one.ledger["failed_votes"] == two.ledger["failed_votes"] == 1
    assert claims(tmp_path / "cache") == []


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="the CLI in two processes, as users start it")
def test_two_cli_runs_on_one_cache_pay_once(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    from fake_openai_server import FakeOpenAIServer

    n = 12
    with FakeOpenAIServer(delay=0.3) as server:
        task = tmp_path / "task.yaml"
        task.write_text(
            "name: fin\nlabels: [positive, neutral, negative]\nsamples: 1\n"
            f"teachers:\n  - base_url: {server.url}\n    model: fake\n    name: srv\n    timeout: 10\n",
            encoding="utf-8",
        )
        data = tmp_path / "in.csv"
        pd.DataFrame({"text": [f"Company {i} reported results." for i in range(n)]}).to_csv(data, index=False)
        env = {**os.environ, "TQDM_DISABLE": "1"}
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "sxhub",
                    "annotate",
                    str(task),
                    str(data),
                    "-o",
                    str(tmp_path / f"o{k}.jsonl"),
                    "--cache-dir",
                    str(tmp_path / "cache"),
                    "--concurrency",
                    "2",
                ],
                env=env,
                stderr=subprocess.PIPE,
                text=True,
            )
            for k in range(2)
        ]
        errs = [p.communicate(timeout=120)[1] for p in procs]
        assert [p.returncode for p in procs] == [0, 0], errs
        assert len(server.requests) == n
    pd.testing.assert_frame_equal(
        pd.read_json(tmp_path / "o0.jsonl", lines=True), pd.read_json(tmp_path / "o1.jsonl", lines=True)
    )


def test_an_interrupt_stops_a_wait_on_another_runs_claim(tmp_path: Path) -> None:
    """A first Ctrl-C stops sending; a vote waiting on another run's answer stops too (no vote), not at its end."""
    from sxhub.annotate_engine import _Engine, _Options
    from sxhub.annotate_stops import _Stopped

    other, store = LabelCache(tmp_path / "cache"), LabelCache(tmp_path / "cache")
    teacher = FakeTeacher(responder=lambda m: pytest.fail("an interrupted run sends nothing"))
    engine = _Engine(make_spec(), [teacher], ["fake"], store, _Options(1, 1, 0, 0, 0.01, 0.01, 0))
    assert other.claim(engine.keys[0](engine.messages_for(TEXTS[0]), 0)) is None

    async def interrupted() -> float:
        asyncio.get_running_loop().call_later(0.3, engine.stopping.set)
        started = time.monotonic()
        with pytest.raises(_Stopped):
            await engine.vote(TEXTS[0], 0, 0)
        return time.monotonic() - started

    assert asyncio.run(interrupted()) < 2
    assert teacher.history == []
    other.close(), store.close()


def test_a_dry_run_says_which_planned_requests_another_run_is_asking(tmp_path: Path) -> None:
    """A dry run beside a run on the same cache planned the answers that run was asking for as this run's, without
    a word; they stay planned (that run may fail), and the line says another run is asking them now."""
    from sxhub.annotate import annotate
    from sxhub.annotate_engine import _Engine, _Options

    other = LabelCache(tmp_path / "cache")
    engine = _Engine(make_spec(), [FakeTeacher()], ["fake"], other, _Options(1, 1, 0, 0, 0.01, 0.01, 0))
    for text in TEXTS[:2]:
        assert other.claim(engine.keys[0](engine.messages_for(text), 0)) is None
    teacher = FakeTeacher(responder=lambda m: pytest.fail("a dry run asks no teacher"))
    result = annotate(make_spec(), TEXTS, teachers=[teacher], cache=tmp_path / "cache", dry_run=True, progress=False)
    ledger = result.ledger
    assert ledger["requests_planned"] == len(TEXTS) and ledger["being_asked"] == 2
    assert ledger["being_asked_by"] == [f"pid {os.getpid()} on {socket.gethostname()}"]
    assert (
        f"{len(TEXTS)} requests planned (2 of those planned being asked now by another sxhub run "
        f"(pid {os.getpid()} on {socket.gethostname()}) with this label cache"
    ) in result.summary_line()
    other.close()
    again = annotate(make_spec(), TEXTS, teachers=[teacher], cache=tmp_path / "cache", dry_run=True, progress=False)
    assert again.ledger["being_asked"] == 0 and "being asked" not in again.summary_line()


def test_runs_opening_an_older_cache_at_once_all_start(tmp_path: Path) -> None:
    """A cache of an older sxhub (no ``scores``, no ``failed`` column) opened by several runs at once (shards
    started together after an upgrade): each saw the column missing and added it, and all but one stopped in
    "label cache ... cannot be used (duplicate column name: scores)". The test holds the write lock while they open
    (so they all reach the upgrade together), then lets go."""
    folder = tmp_path / "cache"
    folder.mkdir()
    db = sqlite3.connect(folder / "labels.sqlite", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(
        "CREATE TABLE replies (key TEXT PRIMARY KEY, teacher TEXT, text TEXT NOT NULL, input_tokens INTEGER, "
        "output_tokens INTEGER, created REAL)"
    )
    db.execute(
        "CREATE TABLE claims (key TEXT PRIMARY KEY, owner TEXT NOT NULL, pid INTEGER, host TEXT, heartbeat REAL)"
    )
    db.execute("INSERT INTO replies VALUES ('k', 'srv', '{\"label\": \"neutral\"}', 5, 2, 0)")
    errors: list[BaseException] = []
    opened: list[LabelCache] = []

    def open_cache() -> None:
        try:
            opened.append(LabelCache(folder))
        except BaseException as exc:  # collected for the assertion
            errors.append(exc)

    db.execute("BEGIN IMMEDIATE")
    threads = [threading.Thread(target=open_cache) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    db.execute("COMMIT")
    for t in threads:
        t.join()
    db.close()
    assert errors == [] and len(opened) == 3
    assert opened[0].get("k") == Reply(text='{"label": "neutral"}', input_tokens=5, output_tokens=2)
    for store in opened:
        store.close()
