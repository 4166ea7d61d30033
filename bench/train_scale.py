"""Scale: peak memory and time of ``sxhub train`` up to its first optimizer step, on 100k and 1M labelled texts.

``sxhub train`` runs as a user runs it (``python -m sxhub train TASK FILE -o DIR --base TINY``) under
``/usr/bin/time -v``, with one change: the first call of ``Trainer.training_step`` (the first batch's forward and
backward, before the first optimizer step) prints the seconds since the process started and ``ru_maxrss`` and ends
the process (``os._exit``). Everything before it runs unchanged: reading the Parquet file, cleaning, the checks
(conflicting labels, the leakage of a ``--base`` student's texts), the stratified split that keeps repeated texts on
one side, the token lengths, the targets, the two ``datasets`` maps that tokenize, the model and the Trainer. The
step itself and validation are not what grows with the file (a step is one batch; validation is batched).

The base is the tests' tiny random BERT (``tests/conftest.build_tiny_model``: 2 layers, a word-level vocab), so the
model's own memory (a few MB) does not hide the data's. The input (``make_input``): annotate-shaped Parquet (text,
label or labels, three teacher votes with a reason each, agreement, failed, error, an expert ``gold`` column), texts
of 6-20 words from the tiny vocab plus a row number (every text distinct), 1 in 100 failed; a single-label task of 3
labels and a multi-label one of 4.

Usage: ``python bench/train_scale.py --n 100000 [--n 1000000] [--task single,multi] [--label LABEL]``; appends to
``bench/results/train_scale.json``. Run one at a time (OMP_NUM_THREADS=1 is set for the command).
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
sys.path.insert(0, str(ROOT / "tests"))  # the tiny model lives with the tests

from conftest import WORDS, build_tiny_model  # noqa: E402

SINGLE = ["positive", "neutral", "negative"]
MULTI = ["people", "product", "price", "place"]
TASKS = {
    "single": "name: fin-sent\nlabels:\n" + "".join(f"  - name: {n}\n" for n in SINGLE),
    "multi": "name: four-p\nmulti_label: true\nlabels:\n" + "".join(f"  - name: {n}\n" for n in MULTI),
}

# sxhub's own CLI; the first training step reports the time since start and the peak RSS, and ends the process
RUN = """
import os, resource, sys, time
START = time.perf_counter()
import transformers

def first_step(self, *args, **kwargs):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"FIRST_STEP seconds={time.perf_counter() - START:.1f} peak_kb={peak}", file=sys.stderr, flush=True)
    os._exit(0)

transformers.Trainer.training_step = first_step
from sxhub.cli import main
sys.argv = ["sxhub", *sys.argv[1:]]
main()
"""


def make_input(n: int, path: Path, multi: bool, seed: int = 0) -> None:
    """An annotate-shaped Parquet file of ``n`` rows (module docstring), written in parts of 100k rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = MULTI if multi else SINGLE
    column = "labels" if multi else "label"
    rng = np.random.default_rng(seed)
    words = np.array(WORDS)
    writer = None
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        lengths = rng.integers(6, 21, m)
        picks = rng.integers(0, len(names), (m, 2))
        texts, labels, votes, agreement, failed, gold = [], [], [], [], [], []
        for i in range(m):
            texts.append(" ".join(words[rng.integers(0, len(words), lengths[i])]) + f" {start + i}")
            bad = (start + i) % 100 == 99
            if multi:
                label: Any = sorted({names[picks[i, 0]], names[picks[i, 1]]}, key=names.index)
                share: Any = {name: (1.0 if name in label else None) for name in names}
            else:
                label = names[picks[i, 0]]
                share = 1.0
            gold.append(json.dumps(label) if multi else label)
            failed.append(bad)
            if bad:
                labels.append(None)
                votes.append([{"teacher": "t", "sample": s, "labels": None, "reason": ""} for s in range(3)])
                agreement.append(None)
                continue
            cast = label if multi else [label]
            labels.append(label)
            votes.append(
                [{"teacher": "t", "sample": s, "labels": cast, "reason": f"says {words[s]}"} for s in range(3)]
            )
            agreement.append(share)
        part = pd.DataFrame(
            {
                "text": texts,
                column: pd.Series(labels, dtype=object),
                "votes": votes,
                "agreement": agreement,
                "failed": failed,
                "error": ["all votes failed" if f else "" for f in failed],
                "gold": gold,
            }
        )
        table = pa.Table.from_pandas(part, preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()


def measure(command: list[str], n: int, *, first_step: bool) -> dict[str, Any]:
    """``command`` (sxhub's arguments) under /usr/bin/time -v: peak RSS, wall seconds, the first step's time."""
    load = os.getloadavg()[0]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    full = ["/usr/bin/time", "-v", sys.executable, "-c", RUN, *command]
    started = time.perf_counter()
    proc = subprocess.run(full, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    step = re.search(r"FIRST_STEP seconds=([\d.]+) peak_kb=(\d+)", proc.stderr)
    if proc.returncode != 0 or (first_step and step is None):
        raise SystemExit(f"{command[0]} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))  # type: ignore[union-attr]
    return {
        "n": n,
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "seconds": round(wall, 1),
        "first_step_s": float(step.group(1)) if step else None,
        "load_start": round(load, 2),
        "load_end": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, action="append", required=True)
    parser.add_argument("--task", default="single,multi")
    parser.add_argument("--commands", default="train", help="train,agree")
    parser.add_argument("--label", default="", help="what code ran (e.g. before / after)")
    parser.add_argument("--work", type=Path, default=None, help="keep inputs here between runs")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="train-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    base = work / "tiny-bert"
    if not base.is_dir():
        build_tiny_model(base)
    out = RESULTS / "train_scale.json"
    runs = json.loads(out.read_text(encoding="utf-8")) if out.is_file() else []
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    for kind in args.task.split(","):
        task = work / f"{kind}.yaml"
        task.write_text(TASKS[kind], encoding="utf-8")
        for n in args.n:
            data = work / f"{kind}-{n}.parquet"
            if not data.is_file():
                make_input(n, data, multi=kind == "multi")
            for verb in args.commands.split(","):
                if verb == "train":
                    command = ["-q", "train", str(task), str(data), "-o", str(work / f"student-{kind}-{n}")]
                    command += ["--base", str(base), "--threads", "1"]
                else:
                    command = ["-q", "agree", str(data), "--gold", "gold", "--task", str(task), "--json"]
                run = measure(command, n, first_step=verb == "train")
                run |= {"command": verb, "task": kind, "label": args.label, "commit": commit.stdout.strip()}
                print(json.dumps(run), flush=True)
                runs.append(run)
                out.write_text(json.dumps(runs, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
