"""Peak memory and wall time of ``sxhub publish dataset --to`` by input format (CSV, JSONL, Parquet) and size.

Makes an annotate-style labelled file (3 votes a text with a reason each, one text in 50 failed, an expert column;
the rows of tests/test_publish.py's ``_rows`` at scale) in each format as ``sxhub annotate -o`` writes it
(:func:`sxhub.tables.write_table`: JSON text in a CSV's list cells), then runs ``publish dataset FILE --to DIR`` under
``/usr/bin/time -v`` (the process's own peak RSS, ``Maximum resident set size``) with the sxhub of ``--code`` (a
worktree of the code to measure: the same files, old and new code), and checks with ``cmp`` that every file two
runs wrote is the same (``--compare OTHER_OUT``).

    python bench/publish_scale.py make --n 200000 --work /tmp/pubscale
    python bench/publish_scale.py run --n 200000 --work /tmp/pubscale --code /tmp/old --tag before
    python bench/publish_scale.py run --n 200000 --work /tmp/pubscale --code . --tag after --compare before

``--sample`` runs the command under ``bench/rss_sampler.py`` (RSS and the main thread's stack every 0.5 s, in
``WORK/samples_TAG_FORMAT_N.jsonl``) and adds where the peak was reached and the highest RSS of each stage.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

FORMATS = ("csv", "jsonl", "parquet")
NAMES = ("positive", "neutral", "negative")
WORDS = [
    "company",
    "profit",
    "rose",
    "sharply",
    "quarter",
    "revenue",
    "fell",
    "shares",
    "analysts",
    "expect",
    "guidance",
    "margin",
    "costs",
    "growth",
    "market",
    "sales",
    "outlook",
    "dividend",
    "board",
    "chief",
    "executive",
    "said",
    "results",
    "strong",
    "weak",
    "demand",
    "orders",
]

TASK = """name: fin-sent
description: Sentiment of financial news.
labels:
  - name: positive
    description: good news
  - name: neutral
  - name: negative
teachers: [local]
samples: 3
reasoning: true
"""


def rows(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` annotate-style rows: a text of 8-24 words, 3 votes (two agree) with a reason each, agreement, failed
    and error, an expert ``gold`` column; every 50th text failed (no label, 3 failed votes)."""
    rng = np.random.default_rng(seed)
    words = np.array(WORDS)
    lengths = rng.integers(8, 25, size=n)
    labs = rng.integers(0, 3, size=n)
    texts, labels, votes, agreement, failed, error, gold = [], [], [], [], [], [], []
    for i in range(n):
        text = " ".join(words[rng.integers(0, len(words), size=lengths[i])]) + f" {i}"
        lab, other = NAMES[labs[i]], NAMES[(labs[i] + 1) % 3]
        bad = i % 50 == 49
        if bad:
            cast = [
                {"teacher": "local", "sample": s, "labels": None, "reason": "", "error": "timeout", "raw": ""}
                for s in range(3)
            ]
        else:
            cast = [
                {
                    "teacher": "local",
                    "sample": s,
                    "labels": [lab if s < 2 else other],
                    "reason": f"the text says {words[(i + s) % len(words)]} and {words[(i * 7 + s) % len(words)]}, "
                    f"which reads as {lab if s < 2 else other} news for the company",
                    "error": "",
                    "raw": "",
                }
                for s in range(3)
            ]
        texts.append(text)
        labels.append(None if bad else lab)
        votes.append(cast)
        agreement.append(None if bad else 2 / 3)
        failed.append(bad)
        error.append("all votes failed" if bad else "")
        gold.append(NAMES[(labs[i] + (i % 5 == 0)) % 3])
    return pd.DataFrame(
        {
            "text": texts,
            "label": labels,
            "votes": votes,
            "agreement": agreement,
            "failed": failed,
            "error": error,
            "gold": gold,
        }
    )


def make(work: Path, n: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from sxhub.tables import write_table

    work.mkdir(parents=True, exist_ok=True)
    (work / "task.yaml").write_text(TASK, encoding="utf-8")
    frame = rows(n)
    for fmt in FORMATS:
        path = work / f"labelled_{n}.{fmt}"
        write_table(frame, path)
        print(f"{path}: {path.stat().st_size / 1e6:.1f} MB", flush=True)


STAGES = ("build_dataset", "write_dataset_folder", "agreement_facts", "gold_facts", "reliability_facts")


def sampled_peaks(path: Path) -> dict[str, Any]:
    """Where a sampled run (``bench/rss_sampler.py``) reached its highest RSS (its stack), and each stage's highest."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if '"t"' in line]
    top = max(rows, key=lambda r: r["rss"])
    stages = {}
    for stage in STAGES:
        inside = [r for r in rows if any(f":{stage}" in s for s in r["stack"])]
        if stage == "write_dataset_folder":  # the writing itself: not building, not the card's figures
            inside = [r for r in inside if not any(f":{o}" in s for o in STAGES[:1] + STAGES[2:] for s in r["stack"])]
        if inside:
            stages[stage] = max(r["rss"] for r in inside)
    return {"peak_t_s": top["t"], "peak_rss_mb": top["rss"], "peak_stack": top["stack"], "stage_max_rss_mb": stages}


def measure(work: Path, n: int, fmt: str, code: Path, tag: str, sample: bool = False) -> dict[str, Any]:
    out = work / f"out_{tag}_{fmt}_{n}"
    subprocess.run(["rm", "-rf", str(out)], check=True)
    env = {**os.environ, "PYTHONPATH": str(code.resolve()), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    samples = work / f"samples_{tag}_{fmt}_{n}.jsonl"
    if sample:
        env["SAMPLE_OUT"] = str(samples)
    runner = [str(Path(__file__).resolve().parent / "rss_sampler.py")] if sample else ["-m", "sxhub"]
    command = [
        "/usr/bin/time",
        "-v",
        sys.executable,
        *runner,
        "publish",
        "dataset",
        str(work / f"labelled_{n}.{fmt}"),
        "--task",
        str(work / "task.yaml"),
        "--gold",
        "gold",
        "--to",
        str(out),
    ]
    load = os.getloadavg()[0]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{fmt} {n} {tag}: exit {done.returncode}\n{done.stderr[-3000:]}")
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)[1])
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", done.stderr)[1]
    seconds = sum(float(p) * 60**k for k, p in enumerate(reversed(wall.split(":"))))
    user = float(re.search(r"User time \(seconds\): ([\d.]+)", done.stderr)[1])
    system = float(re.search(r"System time \(seconds\): ([\d.]+)", done.stderr)[1])
    row = {
        "format": fmt,
        "n": n,
        "tag": tag,
        "peak_rss_mb": round(rss_kb / 1024, 1),
        "wall_s": round(seconds, 1),
        "cpu_s": round(user + system, 1),
        "load_1min_at_start": round(load, 2),
        "out": str(out),
    }
    if sample:
        row["sampled"] = sampled_peaks(samples)
    return row


def same_files(a: Path, b: Path) -> tuple[int, list[str]]:
    """How many files the two folders hold, and those that differ (``cmp``) or are in one only."""
    names = sorted(
        {p.relative_to(a) for p in a.rglob("*") if p.is_file()}
        | {p.relative_to(b) for p in b.rglob("*") if p.is_file()}
    )
    differ = []
    for name in names:
        x, y = a / name, b / name
        if not (x.is_file() and y.is_file()) or subprocess.run(["cmp", "-s", str(x), str(y)]).returncode != 0:
            differ.append(str(name))
    return len(names), differ


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["make", "run"])
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--work", type=Path, default=Path("/tmp/pubscale"))
    parser.add_argument("--code", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--tag", default="after")
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--compare", help="tag of earlier runs to cmp every written file with")
    parser.add_argument("--json", type=Path, default=Path("/tmp/pubscale/runs.jsonl"))
    parser.add_argument("--sample", action="store_true", help="under bench/rss_sampler.py: where the peak is")
    args = parser.parse_args()
    if args.what == "make":
        make(args.work, args.n)
        return
    for fmt in args.formats.split(","):
        row = measure(args.work, args.n, fmt, args.code, args.tag, args.sample)
        if args.compare:
            total, differ = same_files(Path(row["out"]), args.work / f"out_{args.compare}_{fmt}_{args.n}")
            row["cmp"] = {"against": args.compare, "files": total, "differ": differ}
        row["date"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        row["machine"] = f"{platform.node()} {os.cpu_count()} cores {platform.processor() or platform.machine()}"
        print(json.dumps(row), flush=True)
        with args.json.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
