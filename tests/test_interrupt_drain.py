"""Ctrl-C or SIGTERM during annotate finishes the requests already in flight and keeps their answers.

The server still computes an abandoned request (and a paid endpoint still bills it): the run interrupted while 4
requests were on their way asked those 4 texts again on the rerun. The first interrupt now stops sending, finishes
those in flight (their answers go to the label cache) and exits as an interrupted run does; a second one abandons
them at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fake_openai_server import Action, Answer, FakeOpenAIServer, Hang, default_answer

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

N_TEXTS = 8
CONCURRENCY = 4
INTERRUPTED = "Interrupted; finished work is kept: the same command resumes from OUT.parts/ and the label cache."
TERMINATED = "Terminated; finished work is kept: the same command resumes from OUT.parts/ and the label cache."


class Slow:
    """Answers after ``seconds`` while ``slow`` holds (the interrupted run), at once after (the rerun)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.slow = True

    def __call__(self, body: dict[str, Any], n: int) -> Action:
        return Hang(self.seconds) if self.slow else Answer(default_answer(body))


def write_inputs(tmp_path: Path, url: str) -> tuple[Path, Path]:
    task = tmp_path / "task.yaml"
    task.write_text(
        "name: fin\nlabels: [positive, neutral, negative]\nsamples: 1\n"
        f"teachers:\n  - base_url: {url}\n    model: fake\n    name: srv\n    timeout: 120\n",
        encoding="utf-8",
    )
    data = tmp_path / "in.csv"
    pd.DataFrame({"text": [f"Company {i} reported results for quarter {i % 4 + 1}." for i in range(N_TEXTS)]}).to_csv(
        data, index=False
    )
    return task, data


def command(verb: list[str], task: Path, data: Path, out: Path, cache: Path) -> list[str]:
    return [
        sys.executable, "-m", "sxhub", *verb, str(task), str(data), "-o", str(out),
        "--cache-dir", str(cache), "--concurrency", str(CONCURRENCY),
    ]  # fmt: skip


class Running:
    """``sxhub ARGV`` in a subprocess, its stderr read line by line as it comes."""

    def __init__(self, argv: list[str], **popen: Any) -> None:
        env = {**os.environ, "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1"}
        # Ctrl-C's default in the child, as a terminal gives it: pytest started in the background by a shell without
        # job control (`pytest ... &` in a script) has SIGINT ignored, its children inherit that, and the run went on
        popen.setdefault("preexec_fn", lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        self.proc = subprocess.Popen(
            argv, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, **popen
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, ready: Any, what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                pytest.fail(f"never saw {what}: {self.stderr()[-2000:]}")
            time.sleep(0.02)

    def end(self, timeout: float) -> int:
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return code

    def stderr(self) -> str:
        return "\n".join(self.lines)


def interrupt_midway(tmp_path: Path, sig: signal.Signals, verb: list[str]) -> tuple[FakeOpenAIServer, Any]:
    """Start annotate against a slow server, send ``sig`` once CONCURRENCY requests are in flight; returns the server
    (still running, the caller's to close) and how the run ended (its exit code and stderr)."""
    responder = Slow(2.0)
    server = FakeOpenAIServer(responder).__enter__()
    task, data = write_inputs(tmp_path, server.url)
    out, cache = tmp_path / "labelled.jsonl", tmp_path / "cache"
    run = Running(command(verb, task, data, out, cache))
    run.wait_for(lambda: len(server.requests) >= CONCURRENCY, f"{CONCURRENCY} requests in flight")
    run.proc.send_signal(sig)
    code = run.end(timeout=60)
    responder.slow = False
    return server, (code, run.stderr(), task, data, out, cache)


@pytest.mark.parametrize(
    ("sig", "code", "last"), [(signal.SIGINT, 130, INTERRUPTED), (signal.SIGTERM, 143, TERMINATED)]
)
def test_an_interrupted_annotate_keeps_the_answers_in_flight(
    tmp_path: Path, sig: signal.Signals, code: int, last: str
) -> None:
    server, (returncode, err, task, data, out, cache) = interrupt_midway(tmp_path, sig, ["annotate"])
    try:
        assert returncode == code, err
        assert err.splitlines()[-1] == last  # the line an interrupted run gives, last as before
        assert f"finishing the {CONCURRENCY} requests in flight" in err, err
        asked = len(server.requests)
        assert asked == CONCURRENCY  # nothing new was sent after the interrupt
        first = set(server.per_text)

        done = subprocess.run(
            command(["annotate"], task, data, out, cache), capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        # the rerun asked only the texts never asked: the ones in flight were answered from the cache
        rerun = [str(b["messages"][-1]["content"]) for b in server.requests[asked:]]
        assert len(rerun) == N_TEXTS - CONCURRENCY
        assert not first & set(rerun)
        assert all(n == 1 for n in server.per_text.values())
        assert f"({CONCURRENCY} from cache)" in done.stderr
    finally:
        server.__exit__(None, None, None)
    assert not pd.read_json(out, lines=True)["failed"].any()


def test_a_second_interrupt_abandons_the_requests_in_flight(tmp_path: Path) -> None:
    responder = Slow(90.0)  # far past the test's bound: only abandoning them ends the run in time
    with FakeOpenAIServer(responder) as server:
        task, data = write_inputs(tmp_path, server.url)
        run = Running(command(["annotate"], task, data, tmp_path / "out.jsonl", tmp_path / "cache"))
        run.wait_for(lambda: len(server.requests) >= CONCURRENCY, f"{CONCURRENCY} requests in flight")
        run.proc.send_signal(signal.SIGINT)
        run.wait_for(lambda: any("in flight" in line for line in run.lines), "the line saying it finishes them")
        run.proc.send_signal(signal.SIGINT)
        try:
            code = run.end(timeout=45)
        except subprocess.TimeoutExpired:
            run.proc.kill()
            pytest.fail(f"a second Ctrl-C did not end the run: {run.stderr()[-2000:]}")
        assert code == 130, run.stderr()
        assert run.lines[-1] == INTERRUPTED
        assert len(server.requests) == CONCURRENCY
        responder.slow = False


def test_an_interrupted_run_keeps_the_answers_in_flight(tmp_path: Path, tiny_base_model: Path) -> None:
    """``sxhub run``'s annotate stage goes through the same request loop: Ctrl-C there keeps the answers too."""
    from sxhub.cache import LabelCache

    examples = Path(__file__).resolve().parent.parent / "examples" / "financial-sentiment"
    cache = tmp_path / "cache"
    responder = Slow(2.0)
    with FakeOpenAIServer(responder) as server:
        argv = [sys.executable, "-m", "sxhub", "run", str(examples / "task.yaml"), str(examples / "texts.csv")]
        argv += ["--out", str(tmp_path / "out"), "--samples", "1", "--base", str(tiny_base_model), "--epochs", "1"]
        argv += ["--teacher", server.url, "--concurrency", str(CONCURRENCY), "--cache-dir", str(cache)]
        run = Running(argv)
        run.wait_for(lambda: len(server.requests) >= CONCURRENCY, f"{CONCURRENCY} requests in flight")
        run.proc.send_signal(signal.SIGINT)
        code = run.end(timeout=60)
        responder.slow = False
        assert code == 130, run.stderr()
        assert run.lines[-1] == (
            "Interrupted during annotate; the teachers' answers are kept: a rerun asks only what the label cache "
            "does not hold, then trains again."
        )
        assert len(server.requests) == CONCURRENCY
    with LabelCache(cache) as kept:
        assert len(kept) == CONCURRENCY  # every request sent was answered and kept: the rerun pays for none again


LIBRARY = """
import sys
from sxhub.annotate import annotate
from sxhub.spec import TaskSpec, TeacherSpec

spec = TaskSpec(name="fin", labels=["positive", "neutral", "negative"])
teacher = TeacherSpec(base_url=sys.argv[1], model="fake", timeout=120)
texts = [f"Company {i} reported results." for i in range(8)]
annotate(spec, texts, teachers=[teacher], samples=1, concurrency=4, cache=sys.argv[2], progress=False)
"""


def test_sigterm_to_a_program_without_a_handler_drains_then_ends_by_sigterm(tmp_path: Path) -> None:
    """A script calling annotate() sets no SIGTERM handler: it still dies by SIGTERM, once the answers in flight are
    kept (a scheduler's stop gives it a grace period before SIGKILL)."""
    from sxhub.cache import LabelCache

    cache = tmp_path / "cache"
    responder = Slow(2.0)
    with FakeOpenAIServer(responder) as server:
        run = Running([sys.executable, "-c", LIBRARY, server.url, str(cache)])
        run.wait_for(lambda: len(server.requests) >= CONCURRENCY, f"{CONCURRENCY} requests in flight")
        run.proc.send_signal(signal.SIGTERM)
        code = run.end(timeout=60)
        responder.slow = False
        assert code == -signal.SIGTERM, run.stderr()
        assert len(server.requests) == CONCURRENCY
    with LabelCache(cache) as kept:
        assert len(kept) == CONCURRENCY
