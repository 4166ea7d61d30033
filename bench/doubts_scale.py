"""Scale: peak memory of ``sxhub doubts`` on an annotate-shaped Parquet file of 200k and 1M rows.

The whole command runs under ``/usr/bin/time -v`` (peak = "Maximum resident set size"), one at a time, with the
1-minute load average said at each start. The texts' embedding is the one step replaced: MiniLM on 1M texts takes
hours on a CPU, so ``sxhub.doubts.embed_texts`` is swapped for a hashed bag of words of MiniLM's width (384,
float32, unit length, made 8,192 texts at a time), which returns the array embed_texts returns; reading, the
vote split, the out-of-fold model, cleanlab, the queue and writing it run as a user runs them.

The input (``make_input``): PhraseBank-like texts of three labels, 8% of them wrong, three teacher votes per row
(teacher, sample, labels, reason) as annotate writes them, a ``failed`` column (1% failed, no label) and an
``agreement`` column.

Usage: ``python bench/doubts_scale.py --n 200000 [--n 1000000] [--label before] [--keep DIR]``; appends to
``bench/results/doubts_scale.json`` and rewrites ``doubts_scale.md``. ``--keep DIR`` keeps each queue (to compare
the files of two versions: ``cmp``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
LABELS = ["positive", "neutral", "negative"]
VOCAB = {
    "positive": ["profit", "rose", "growth", "record", "strong", "gain", "up", "beat"],
    "neutral": ["meeting", "office", "board", "annual", "located", "named", "held", "plans"],
    "negative": ["loss", "fell", "weak", "cut", "decline", "layoffs", "down", "missed"],
}
NOTES = "## What this shows"
FILLER = ["the", "company", "said", "in", "its", "report", "today", "group", "quarter", "shares", "for", "of"]

# the command: sxhub's own CLI, with embed_texts replaced by a hashed bag of words of MiniLM's shape
RUN = """
import sys
import numpy as np
import sxhub.doubts
from sklearn.feature_extraction.text import HashingVectorizer

def embed(texts, model=None, counts=None):  # counts: what find_doubts asks of embed_texts (475bbd7)
    hv = HashingVectorizer(n_features=384, alternate_sign=False, norm="l2", dtype=np.float32)
    out = np.empty((len(texts), 384), dtype=np.float32)
    for start in range(0, len(texts), 8192):
        out[start : start + 8192] = hv.transform(texts[start : start + 8192]).toarray()
    return out

sxhub.doubts.embed_texts = embed
from sxhub.cli import main
sys.argv = ["sxhub", *sys.argv[1:]]
main()
"""


def make_input(n: int, path: Path, seed: int = 0) -> None:
    """An annotate-shaped Parquet file of ``n`` rows (module docstring), written in parts of 100k rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    writer = None
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        gold = rng.integers(0, 3, m)
        wrong = rng.random(m) < 0.08
        given = np.where(wrong, (gold + rng.integers(1, 3, m)) % 3, gold)
        failed = rng.random(m) < 0.01
        texts, labels, votes, agreement = [], [], [], []
        for i in range(m):
            words = [*rng.choice(VOCAB[LABELS[gold[i]]], 3), *rng.choice(FILLER, 6)]
            texts.append(" ".join(words) + f" {start + i}.")
            if failed[i]:
                labels.append(None)
                votes.append([])
                agreement.append(None)
                continue
            label = LABELS[given[i]]
            answers = [label if rng.random() < 0.85 else LABELS[rng.integers(0, 3)] for _ in range(3)]
            labels.append(label)
            votes.append(
                [
                    {"teacher": "gpt-4o-mini", "sample": s, "labels": [a], "reason": f"mentions {words[0]}"}
                    for s, a in enumerate(answers)
                ]
            )
            agreement.append(answers.count(label) / 3)
        part = pd.DataFrame(
            {"text": texts, "label": labels, "votes": votes, "agreement": agreement, "failed": failed.tolist()}
        )
        table = pa.Table.from_pandas(part, preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()


def measure(n: int, data: Path, queue: Path) -> dict[str, Any]:
    load = os.getloadavg()[0]
    print(f"n={n}: 1-minute load at start {load:.2f}", file=sys.stderr, flush=True)
    env = {**os.environ, "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    command = ["/usr/bin/time", "-v", sys.executable, "-c", RUN, "doubts", str(data), "-o", str(queue), "--json"]
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"doubts failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))  # type: ignore[union-attr]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    return {
        "n": n,
        "scored": summary["n"],
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "seconds": round(wall, 1),
        "load_start": round(load, 2),
        "load_end": round(os.getloadavg()[0], 2),
    }


def write_md(runs: list[dict[str, Any]]) -> None:
    lines = [
        "# `sxhub doubts`: peak memory as the input grows",
        "",
        "Command: `python bench/doubts_scale.py --n 200000 --n 1000000 --label LABEL` (the whole `sxhub doubts "
        "IN.parquet -o QUEUE.parquet --json` under `/usr/bin/time -v`, one run at a time; peak = its Maximum resident "
        "set size). Input: annotate-shaped Parquet (text, label, three votes with reasons, agreement, failed; 1% failed). "
        "The MiniLM embedding is replaced by a 384-d float32 hashed bag of words (the same array shape; MiniLM on 1M "
        "texts takes hours on these 2 shared cores); every other step runs as a user runs it.",
        "",
        "| version | commit | n | scored | peak RSS MB | seconds | load at start | load at end |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        lines.append(
            f"| {r['label']} | {r['commit']} | {r['n']:,} | {r['scored']:,} | {r['peak_rss_mb']:,.1f} | {r['seconds']} "
            f"| {r['load_start']} | {r['load_end']} |"
        )
    path = RESULTS / "doubts_scale.md"
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    notes = old[old.index(NOTES) :] if NOTES in old else ""  # written by hand: kept when the table is rewritten
    path.write_text("\n".join(lines) + "\n" + ("\n" + notes if notes else ""), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, action="append", required=True)
    parser.add_argument("--label", default="current")
    parser.add_argument("--keep", type=Path, help="keep each queue here (queue_<n>.parquet)")
    parser.add_argument("--data", type=Path, help="keep the inputs here (reused when present)")
    args = parser.parse_args()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    out = RESULTS / "doubts_scale.json"
    runs = json.loads(out.read_text()) if out.exists() else []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.n:
            data = (args.data or Path(tmp)) / f"doubts_in_{n}.parquet"
            if not data.exists():
                data.parent.mkdir(parents=True, exist_ok=True)
                make_input(n, data)
            queue_dir = args.keep or Path(tmp)
            queue_dir.mkdir(parents=True, exist_ok=True)
            run = {"label": args.label, "commit": commit, **measure(n, data, queue_dir / f"queue_{n}.parquet")}
            print(json.dumps(run), flush=True)
            runs.append(run)
            out.write_text(json.dumps(runs, indent=1) + "\n", encoding="utf-8")
            write_md(runs)


if __name__ == "__main__":
    main()
