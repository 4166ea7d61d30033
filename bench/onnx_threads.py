"""How the ONNX path uses its threads: whole batches side by side, one single-threaded ``session.run`` per thread
(what ``sxhub predict --onnx`` does since this bench was written), against one batch at a time split over ONNX
Runtime's intra-op thread pool (what it did before); and, for the whole command, the next chunk read, cleaned and
tokenized on a second thread while the model runs this one. Written to bench/results/onnx_threads.{json,md}.

One PhraseBank student (``bench/student.py``'s split; trained here for 3 epochs, ``--bf16`` where native, unless
``--model`` is given) is exported as ``sxhub export`` does it (per-channel int8, fitted on the training split).

1. **Compute only, in one process:** the 29,560 sentences tokenized once, then the same length-sorted batches of 32
   through ``OnnxClassifier`` with 2 threads (batches side by side) and through a session with 2 intra-op threads (one
   batch at a time), int8 and fp32, in turn for ``--repeats`` rounds. Both give the same logits (checked).
2. **The whole command** as a user times it (``bench/student.py``'s ``timed_command``: startup, reading and writing
   included), ``sxhub predict --onnx [--int8] --threads 2`` with the present code and with the code at ``--before``
   (a ``git worktree``, run with ``python -P`` and ``PYTHONPATH``), in turn (the order reversed each round), after
   waiting for a load average under 2. The labels written must be the same.

    .venv/bin/python bench/onnx_threads.py --model DIR   # about 15 minutes on 2 quiet cores
    .venv/bin/python bench/onnx_threads.py --quick       # a smoke run (2,000 texts, 1 round)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from graph import trained_student
from student import (
    RESULTS,
    ROOT,
    THREADS,
    phrasebank_texts,
    timed_command,
    train_split_csv,
    versions_line,
    wait_for_quiet,
)

BEFORE = "38381b0"  # the last commit that split each batch over the intra-op pool
FILES = {"int8": "model_int8.onnx", "fp32": "model.onnx"}
COMMANDS = {"int8": ["--onnx", "--int8"], "fp32": ["--onnx"]}


def compute_only(model_dir: Path, texts: list[str], repeats: int) -> dict[str, Any]:
    """Texts/s of the two ways of running the same batches in one warm process, and whether the logits agree."""
    from sxhub.onnx_runtime import OnnxClassifier, session

    figures: dict[str, Any] = {}
    for variant, name in FILES.items():
        path = model_dir / "onnx" / name
        side_by_side = OnnxClassifier(model_dir, path, max_length=128, threads=THREADS, batch_size=32)
        pooled = OnnxClassifier(model_dir, path, max_length=128, threads=1, batch_size=32)
        pooled.session = session(path, THREADS)  # one batch at a time over the intra-op pool, as before
        ways = {"batches_side_by_side": side_by_side, "intra_op_pool": pooled}
        logits = {way: c.logits(texts[:256]) for way, c in ways.items()}  # warm-up
        runs: dict[str, list[float]] = {way: [] for way in ways}
        for round_ in range(repeats):
            for way in list(ways)[:: 1 if round_ % 2 == 0 else -1]:
                start = time.perf_counter()
                logits[way] = ways[way].logits(texts)
                runs[way].append(round(len(texts) / (time.perf_counter() - start), 1))
        same = float(np.abs(logits["batches_side_by_side"] - logits["intra_op_pool"]).max())
        figures[variant] = {"texts_per_second": runs, "max_abs_logit_diff": same}
    return figures


def worktree(rev: str, where: Path) -> Path:
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), rev], check=True, capture_output=True
    )
    return where


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="A PhraseBank student: skip training one.")
    parser.add_argument("--before", default=BEFORE, help=f"The revision to compare with [{BEFORE}].")
    parser.add_argument("--n", type=int, default=29_560)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compute-repeats", type=int, default=5)
    parser.add_argument("--quiet-wait", type=float, default=600)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sxhub.export import export_onnx

    n, repeats = (2000, 1) if args.quick else (args.n, args.repeats)
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "versions": versions_line("onnxruntime", "tokenizers"),
        "cpu": _cpu(),
        "n_texts": n,
        "threads": THREADS,
        "before": args.before,
    }
    with tempfile.TemporaryDirectory(prefix="sxhub-threads-") as tmp:
        work = Path(tmp)
        train_csv = train_split_csv(work / "fpb_train.csv")
        model = work / "student"
        shutil.copytree(args.model or trained_student(work, train_csv), model, ignore=shutil.ignore_patterns("onnx"))
        results["export"] = export_onnx(model, int8=True, data=train_csv, quantization="per-channel").record()
        texts = phrasebank_texts()
        texts = (texts * (n // len(texts) + 1))[:n]
        results["compute_only"] = compute_only(model, texts, 1 if args.quick else args.compute_repeats)
        inputs = work / "in.csv"
        pd.DataFrame({"text": texts}).to_csv(inputs, index=False)
        before = worktree(args.before, work / "before")
        try:
            code = {"now": {}, "before": {"PYTHONPATH": str(before)}}
            runs: dict[str, dict[str, list[dict[str, Any]]]] = {c: {v: [] for v in code} for c in COMMANDS}
            labels: dict[str, dict[str, np.ndarray]] = {c: {} for c in COMMANDS}
            for command, extra in COMMANDS.items():
                for round_ in range(repeats):
                    for version in list(code)[:: 1 if round_ % 2 == 0 else -1]:
                        out = work / f"out-{command}-{version}.csv"
                        wait_for_quiet(0 if args.quick else args.quiet_wait)
                        env = [f"{k}={v}" for k, v in code[version].items()]
                        cmd = [
                            "env",
                            *env,
                            sys.executable,
                            "-P",
                            "-m",
                            "sxhub",
                            "-q",
                            "predict",
                            str(model),
                            str(inputs),
                        ]
                        runs[command][version].append(
                            timed_command([*cmd, "-o", str(out), "--threads", str(THREADS), *extra], n)
                        )
                        labels[command][version] = pd.read_csv(out)["label"].astype(str).to_numpy()
            results["whole_command"] = runs
            results["same_labels"] = {c: float(np.mean(labels[c]["now"] == labels[c]["before"])) for c in COMMANDS}
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(before)], check=False)
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.quick or args.out != RESULTS:
        (args.out / "onnx_threads.json").write_text(json.dumps(results, indent=2) + "\n")
        (args.out / "onnx_threads.md").write_text(markdown(results))
    print(markdown(results))


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def _med(values: list[float]) -> float:
    return float(np.median(values))


def _each(values: list[float]) -> str:
    return ", ".join(f"{x:,.0f}" for x in values)


def markdown(r: dict[str, Any]) -> str:
    c, w = r["compute_only"], r["whole_command"]
    lines = [
        "# The ONNX path's threads: whole batches side by side against the intra-op pool, the next chunk prepared alongside",
        "",
        f"{r['date']}, {r['cpu']}, {r['threads']} threads, {r['versions']}; MiniLM-L6 PhraseBank student exported by "
        f"`sxhub export` (per-channel int8); {r['n_texts']:,} sentences. Written by `bench/onnx_threads.py`.",
        "",
        "## Compute only, one warm process (the same length-sorted batches of 32)",
        "",
        "| model | batches side by side (now) | one batch at a time, intra-op pool (before) | gain | max logit diff |",
        "|---|---:|---:|---:|---:|",
    ]
    for variant, f in c.items():
        now, before = f["texts_per_second"]["batches_side_by_side"], f["texts_per_second"]["intra_op_pool"]
        a, b = _med(now), _med(before)
        lines.append(
            f"| ONNX {variant} | **{a:,.0f}** ({_each(now)}) | {b:,.0f} ({_each(before)}) | {a / b - 1:+.0%} "
            f"| {f['max_abs_logit_diff']:.1g} |"
        )
    rounds = len(next(iter(w.values()))["now"])
    lines += [
        "",
        "Median texts/s (each round's figure in brackets).",
        "",
        f"## The whole `sxhub predict` command, {r['n_texts']:,} sentences, {rounds} rounds",
        "",
        f"| command | now | before ({r['before']}) | gain | same labels |",
        "|---|---:|---:|---:|---:|",
    ]
    for command, v in w.items():
        speeds = {k: [x["texts_per_second"] for x in v[k]] for k in ("now", "before")}
        a, b = _med(speeds["now"]), _med(speeds["before"])
        flags = " ".join(COMMANDS[command])
        lines.append(
            f"| `{flags}` | **{a:,.0f}** ({_each(speeds['now'])}) | {b:,.0f} ({_each(speeds['before'])}) "
            f"| {a / b - 1:+.0%} | {r['same_labels'][command]:.2%} |"
        )
    lines += [
        "",
        "Median texts/s of the whole command (startup, reading and writing included; each run in brackets). Peak "
        "memory: "
        + ", ".join(
            f"{command} {_med([x['peak_rss_mb'] for x in v['now']]):.0f} MB now, "
            f"{_med([x['peak_rss_mb'] for x in v['before']]):.0f} MB before"
            for command, v in w.items()
        )
        + ".",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
