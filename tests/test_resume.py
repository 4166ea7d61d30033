"""A run killed with SIGKILL resumes from the label cache: same result, no text asked twice beyond those in flight."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from fake_openai_server import FakeOpenAIServer

N_TEXTS = 30
CONCURRENCY = 2


def write_inputs(tmp_path: Path, url: str) -> tuple[Path, Path]:
    task = tmp_path / "task.yaml"
    task.write_text(
        "name: fin\nlabels: [positive, neutral, negative]\nsamples: 1\n"
        f"teachers:\n  - base_url: {url}\n    model: fake\n    name: srv\n    timeout: 10\n",
        encoding="utf-8",
    )
    data = tmp_path / "in.csv"
    pd.DataFrame({"text": [f"Company {i} reported results for quarter {i % 4 + 1}." for i in range(N_TEXTS)]}).to_csv(
        data, index=False
    )
    return task, data


def command(task: Path, data: Path, out: Path, cache: Path, *, quiet: bool = True) -> list[str]:
    return [
        sys.executable, "-m", "sxhub", *(["-q"] if quiet else []), "annotate", str(task), str(data), "-o", str(out),
        "--cache-dir", str(cache), "--concurrency", str(CONCURRENCY),
    ]  # fmt: skip


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_midway_then_resume_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    env = {**os.environ, "TQDM_DISABLE": "1"}
    with FakeOpenAIServer(delay=0.1) as server:
        task, data = write_inputs(tmp_path, server.url)
        out, cache = tmp_path / "resumed.jsonl", tmp_path / "cache"
        proc = subprocess.Popen(command(task, data, out, cache), env=env, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while len(server.requests) < N_TEXTS // 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode() if proc.stderr else ""
        assert not out.exists()
        asked_before = len(server.requests)
        assert N_TEXTS // 3 <= asked_before < N_TEXTS

        done = subprocess.run(  # its summary says what the cache answered: -q prints none
            command(task, data, out, cache, quiet=False), env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert "from cache" in done.stderr
        asked_total = len(server.requests)
        # only requests that were in flight when the process died may be asked again
        assert asked_total <= N_TEXTS + CONCURRENCY
        assert sum(n - 1 for n in server.per_text.values()) <= CONCURRENCY
        assert len(server.per_text) == N_TEXTS

        fresh = tmp_path / "fresh.jsonl"
        clean = subprocess.run(
            command(task, data, fresh, tmp_path / "cache2"), env=env, capture_output=True, text=True, timeout=120
        )
        assert clean.returncode == 0, clean.stderr
    resumed = pd.read_json(out, lines=True)
    uninterrupted = pd.read_json(fresh, lines=True)
    pd.testing.assert_frame_equal(resumed, uninterrupted)
    assert not resumed["failed"].any()
    assert (tmp_path / "resumed.ledger.json").is_file()
