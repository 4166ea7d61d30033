"""The exported ONNX graph, step by step: the last layer for the first token only (``sxhub.cls_only``) and attention
left unfused, against the graph ``sxhub export`` wrote before; written to bench/results/graph.{json,md}.

One PhraseBank student (``bench/student.py``'s split; trained here for 3 epochs, ``--bf16`` where native, unless
``--model`` is given) is exported three times with the same int8 recipe (per-channel, fitted on the training split):

- ``before``: every token through the last layer, attention, skip LayerNorms and bias-GELU fused into ONNX
  Runtime's kernels (``cls_only=False, fuse_attention=True``);
- ``first_token``: the last layer for the first token, the same fusions (``fuse_attention=True``);
- ``now``: what ``sxhub export`` writes: the first token, LayerNorm and GELU fused, attention left as MatMuls.

Then the whole ``sxhub predict --onnx --int8`` and ``--onnx`` commands on 29,560 PhraseBank sentences (all four
files, twice), 2 threads, timed as ``bench/student.py`` times them (startup, reading and writing included), each
after waiting for a load average under 2, the graphs in turn (the order reversed each round), ``--repeats`` rounds:
the median and the fastest. Also how many of the 29,560 labels each graph shares with ``before``, the multiply-adds
per text, and torch in one warm process with and without the first-token last layer (the CLI has no switch for it).

    .venv/bin/python bench/graph.py                 # about 30 minutes on 2 quiet cores
    .venv/bin/python bench/graph.py --model DIR     # an existing PhraseBank student
    .venv/bin/python bench/graph.py --quick         # a smoke run (500 texts, 1 round)
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
from student import (
    RESULTS,
    THREADS,
    hardware_bound,
    macs_per_text,
    phrasebank_texts,
    timed_command,
    train_split_csv,
    versions_line,
    wait_for_quiet,
)

GRAPHS = {
    "before": {"cls_only": False, "fuse_attention": True},
    "first_token": {"cls_only": True, "fuse_attention": True},
    "now": {"cls_only": True, "fuse_attention": False},
}
VARIANTS = {"first_token": True, "every_token": False}  # torch in one process: Predictor(cls_only=...)
COMMANDS = {"onnx_int8": ["--onnx", "--int8"], "onnx_fp32": ["--onnx"]}


def trained_student(work: Path, train_csv: Path) -> Path:
    """A 3-epoch PhraseBank student (bf16 where native: speed does not depend on the weights' quality)."""
    from sxhub.predict import native_bf16

    out = work / "student"
    command = [
        sys.executable,
        "-m",
        "sxhub",
        "-q",
        "train",
        str(ROOT / "examples" / "financial-sentiment" / "task.yaml"),
    ]
    command += [str(train_csv), "-o", str(out), "--epochs", "3", "--threads", str(THREADS), "--seed", "42"]
    subprocess.run(command + (["--bf16"] if native_bf16() else []), check=True)
    return out


def one_process(model_dir: Path, n: int) -> dict[str, Any]:
    """Warm ``Predictor`` throughput with and without the first-token last layer (fp32 and bf16)."""
    from sxhub.predict import Predictor, native_bf16

    texts = phrasebank_texts()[:n]
    figures: dict[str, Any] = {"n_texts": n}
    for bf16 in (False, True) if native_bf16() else (False,):
        for variant, cls_only in VARIANTS.items():
            predictor = Predictor(model_dir, threads=THREADS, bf16=bf16, cls_only=cls_only)
            predictor.predict(texts[:64])
            start = time.perf_counter()
            _, probs = predictor.predict(texts)
            wall = time.perf_counter() - start
            key = f"torch{'_bf16' if bf16 else ''}_{variant}"
            figures[key] = {"texts_per_second": round(n / wall, 1), "load": round(os.getloadavg()[0], 2)}
            figures[key]["labels"] = probs.argmax(axis=1).tolist()
        prefix = f"torch{'_bf16' if bf16 else ''}"
        a, b = (figures[f"{prefix}_{v}"].pop("labels") for v in VARIANTS)
        figures[f"{prefix}_same_labels"] = float(np.mean(np.asarray(a) == np.asarray(b)))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="A PhraseBank student: skip training one.")
    parser.add_argument("--n", type=int, default=29_560)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quiet-wait", type=float, default=600)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    from sxhub.export import export_onnx

    torch.set_num_threads(THREADS)
    n, repeats = (500, 1) if args.quick else (args.n, args.repeats)
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "versions": versions_line("torch", "transformers", "onnxruntime"),
        "n_texts": n,
        "threads": THREADS,
    }
    with tempfile.TemporaryDirectory(prefix="sxhub-graph-") as tmp:
        work = Path(tmp)
        train_csv = train_split_csv(work / "fpb_train.csv")
        source = args.model or trained_student(work, train_csv)
        dirs: dict[str, Path] = {}
        for graph, options in GRAPHS.items():
            dirs[graph] = work / graph
            shutil.copytree(source, dirs[graph], ignore=shutil.ignore_patterns("onnx"))
            exported = export_onnx(dirs[graph], int8=True, data=train_csv, quantization="per-channel", **options)
            results[f"export_{graph}"] = exported.record()
        bound = hardware_bound(dirs["now"])
        results["bound"] = bound
        config = json.loads((dirs["now"] / "config.json").read_text())
        results["macs_per_text_millions"] = {
            v: round(macs_per_text(config, bound["mean_tokens"], first_token=v == "first_token") / 1e6, 1)
            for v in VARIANTS
        }
        results["one_process"] = one_process(dirs["now"], 200 if args.quick else 2000)
        texts = phrasebank_texts()
        inputs = work / "in.csv"
        pd.DataFrame({"text": (texts * (n // len(texts) + 1))[:n]}).to_csv(inputs, index=False)
        runs: dict[str, dict[str, list[dict[str, Any]]]] = {c: {g: [] for g in GRAPHS} for c in COMMANDS}
        labels: dict[str, dict[str, np.ndarray]] = {c: {} for c in COMMANDS}
        for command, extra in COMMANDS.items():
            for round_ in range(repeats):
                for graph in list(GRAPHS)[:: 1 if round_ % 2 == 0 else -1]:
                    out = work / f"out-{command}-{graph}.csv"
                    wait_for_quiet(0 if args.quick else args.quiet_wait)
                    cmd = [sys.executable, "-m", "sxhub", "-q", "predict", str(dirs[graph]), str(inputs)]
                    runs[command][graph].append(
                        timed_command([*cmd, "-o", str(out), "--threads", str(THREADS), *extra], n)
                    )
                    labels[command][graph] = pd.read_csv(out)["label"].astype(str).to_numpy()
        results["whole_command"] = runs
        results["same_labels_as_before"] = {
            c: {g: float(np.mean(labels[c][g] == labels[c]["before"])) for g in GRAPHS} for c in COMMANDS
        }
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.quick or args.out != RESULTS:
        (args.out / "graph.json").write_text(json.dumps(results, indent=2) + "\n")
        (args.out / "graph.md").write_text(markdown(results))
    print(markdown(results))


def median(runs: list[dict[str, Any]]) -> float:
    return float(np.median([r["texts_per_second"] for r in runs]))


def fastest(runs: list[dict[str, Any]]) -> float:
    return max(r["texts_per_second"] for r in runs)


def markdown(r: dict[str, Any]) -> str:
    b, m = r["bound"], r["macs_per_text_millions"]
    ghz, lanes = b["ghz"], b["int8_macs_per_cycle_per_core"]
    bound = {v: THREADS * lanes * ghz * 1e9 / (m[v] * 1e6) for v in VARIANTS}
    rounds = len(next(iter(r["whole_command"].values()))["now"])
    lines = [
        f"# The exported graph, step by step ({r['date']})",
        "",
        f"CPU: {b['cpu']} at {ghz:.2f} GHz, {THREADS} threads; {r['versions']}. One PhraseBank student "
        f"({b['layers']} layers), exported three times with per-channel int8 fitted on the training split: "
        "`before` (every token through the last layer; attention, skip LayerNorms and bias-GELU fused into ONNX "
        "Runtime's kernels, as `sxhub export` wrote it until now), `first_token` (the last layer for the first token, "
        "the same fusions) and `now` (the first token, LayerNorm and GELU fused, attention left as MatMuls and "
        f"Softmax: what `sxhub export` writes now). PhraseBank sentences average {b['mean_tokens']} tokens: "
        f"{m['every_token']}M multiply-adds per text with every token through the last layer, {m['first_token']}M "
        f"with the first token only ({1 - m['first_token'] / m['every_token']:.1%} less); the int8 bound ({lanes} "
        f"multiply-adds a cycle and core) moves from {bound['every_token']:,.0f} to {bound['first_token']:,.0f} "
        "texts/s.",
        "",
        f"## Whole `sxhub predict` command, {r['n_texts']:,} sentences, {rounds} rounds",
        "",
        "| command | graph | texts/s, median | fastest | against `before` (median) | same labels as `before` |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for command, runs in r["whole_command"].items():
        for graph, items in runs.items():
            ratio = median(items) / median(runs["before"])
            lines.append(
                f"| `{' '.join(COMMANDS[command])}` | {graph} | **{median(items):,.0f}** | {fastest(items):,.0f} | "
                f"{ratio:.2f}x | {r['same_labels_as_before'][command][graph]:.2%} |"
            )
    lines += ["", "Every run (texts/s, load average before it):", ""]
    for command, runs in r["whole_command"].items():
        for graph, items in runs.items():
            lines.append(
                f"- {command} {graph}: "
                + ", ".join(f"{x['texts_per_second']:,.0f} ({x['load_before']})" for x in items)
            )
    op = r["one_process"]
    lines += [
        "",
        f"## torch in one warm process, {op['n_texts']:,} sentences",
        "",
        "| runtime | every token | first token | speed-up | same labels |",
        "|---|---:|---:|---:|---:|",
    ]
    for prefix in ("torch", "torch_bf16"):
        if f"{prefix}_first_token" not in op:
            continue
        every, first = op[f"{prefix}_every_token"]["texts_per_second"], op[f"{prefix}_first_token"]["texts_per_second"]
        lines.append(
            f"| {prefix.replace('_', ' ')} | {every:,.0f} | **{first:,.0f}** | {first / every:.2f}x | "
            f"{op[f'{prefix}_same_labels']:.2%} |"
        )
    agreement = {g: r[f"export_{g}"]["variants"]["onnx-int8"]["label_agreement"] for g in GRAPHS}
    lines += [
        "",
        "`sxhub export`'s own check of each (int8 against its torch reference, 1,000 training texts): "
        + ", ".join(f"{g} {a:.2%}" for g, a in agreement.items())
        + ".",
        "",
    ]
    return "\n".join(lines)


ROOT = Path(__file__).resolve().parent.parent

if __name__ == "__main__":
    main()
