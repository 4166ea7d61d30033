"""Training in bfloat16 mixed precision (`sxhub train --bf16`) against fp32: time and accuracy over seeds, written
to bench/results/train_bf16.{json,md}.

The Financial PhraseBank all-agree split of ``bench/student.py`` (stratified 80/20, seed 42), the issue's time-goal
recipe: a fixed 3 epochs on the 1,811 training sentences (10% of them for validation), 2 threads. For each seed the
same student is trained in fp32 and with ``--bf16`` (the order alternates between seeds) and scored on the 20% test
split: training seconds, accuracy, the paired difference and its standard error. bf16 pays only on a CPU that runs
it natively (AVX-512 BF16 or AMX); the report records whether this one does.

    .venv/bin/python bench/train_bf16.py              # about 10 minutes on 2 quiet cores
    .venv/bin/python bench/train_bf16.py --quick      # a smoke run (small samples, 1 epoch)
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from student import DATA, FPB_LABELS, RESULTS, THREADS, split

SEEDS = (42, 43, 44)


def run(quick: bool, seeds: tuple[int, ...]) -> dict[str, Any]:
    from sxhub.evaluate import evaluate
    from sxhub.labelled import load_labelled
    from sxhub.predict import native_bf16
    from sxhub.spec import load_spec
    from sxhub.train import TrainConfig, train

    frame = pd.read_csv(DATA / "financial_phrasebank" / "sentences_allagree.csv", dtype=str)
    train_df, test_df = split(frame, frame["label"].tolist())
    if quick:
        train_df, test_df = train_df.sample(300, random_state=0), test_df.sample(100, random_state=0)
    spec = load_spec({"name": "financial-sentiment", "labels": FPB_LABELS})
    data = load_labelled(train_df, label_names=FPB_LABELS, multi_label=False)
    fixed: dict[str, Any] = {"epochs": 1 if quick else 3, "early_stopping_patience": 10_000}

    def trained(folder: Path, **options: Any) -> dict[str, Any]:
        load = os.getloadavg()[0]
        result = train(spec, data, TrainConfig(output_dir=folder, threads=THREADS, **fixed, **options))
        scores = evaluate(folder, test_df, gold_column="label", batch_size=64)
        return {"accuracy": scores["accuracy"], "train_seconds": result.seconds, "load_before": round(load, 2)}

    runs: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="sxhub-bf16-") as tmp:
        work = Path(tmp)
        for i, seed in enumerate(seeds):
            order = ("fp32", "bf16") if i % 2 == 0 else ("bf16", "fp32")
            runs[str(seed)] = {
                name: trained(work / f"{name}-{seed}", seed=seed, bf16=name == "bf16") for name in order
            }
            print(f"[seed {seed}] {json.dumps(runs[str(seed)])}", flush=True)
    acc = np.array([(r["bf16"]["accuracy"] - r["fp32"]["accuracy"]) * 100 for r in runs.values()])
    speed = np.array([r["fp32"]["train_seconds"] / r["bf16"]["train_seconds"] for r in runs.values()])
    return {
        "date": time.strftime("%Y-%m-%d"),
        "quick": quick,
        "native_bf16": native_bf16(),
        "n_train_split": len(train_df),
        "n_test": len(test_df),
        "epochs": fixed["epochs"],
        "runs": runs,
        "mean_fp32": float(np.mean([r["fp32"]["accuracy"] for r in runs.values()])),
        "mean_bf16": float(np.mean([r["bf16"]["accuracy"] for r in runs.values()])),
        "difference_points": float(acc.mean()),
        "difference_se": float(acc.std(ddof=1) / np.sqrt(len(acc))) if len(acc) > 1 else None,
        "speedup_mean": float(speed.mean()),
        "load_average_at_end": os.getloadavg(),
    }


def markdown(r: dict[str, Any]) -> str:
    rows = [
        f"| {seed} | {v['fp32']['accuracy']:.4f} ({v['fp32']['train_seconds']:.0f} s) | {v['bf16']['accuracy']:.4f} "
        f"({v['bf16']['train_seconds']:.0f} s) | {(v['bf16']['accuracy'] - v['fp32']['accuracy']) * 100:+.1f} | "
        f"{v['fp32']['train_seconds'] / v['bf16']['train_seconds']:.2f}x |"
        for seed, v in r["runs"].items()
    ]
    se = f" (standard error {r['difference_se']:.1f})" if r["difference_se"] is not None else ""
    return "\n".join(
        [
            f"# Training in bf16 against fp32 ({r['date']}{', --quick smoke run' if r['quick'] else ''})",
            "",
            f"Financial PhraseBank all-agree, `bench/student.py`'s split: {r['n_train_split']:,} training sentences "
            f"(10% of them for validation), {r['n_test']} test sentences; the default student (MiniLM-L6) for a fixed "
            f"{r['epochs']} epochs, 2 threads, fp32 and `sxhub train --bf16` per seed (the order alternating). This "
            f"CPU runs bf16 natively: {'yes (AVX-512 BF16 or AMX)' if r['native_bf16'] else 'no (emulated)'}.",
            "",
            "| seed | fp32 accuracy (training time) | bf16 | difference (points) | bf16 speed-up |",
            "|---|---:|---:|---:|---:|",
            *rows,
            f"| **mean** | **{r['mean_fp32']:.4f}** | **{r['mean_bf16']:.4f}** | **{r['difference_points']:+.1f}** | "
            f"**{r['speedup_mean']:.2f}x** |",
            "",
            f"bf16 against fp32: {r['difference_points']:+.1f} points of accuracy on the mean{se}, "
            f"{r['speedup_mean']:.2f}x the training speed.",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(THREADS)
    results = run(args.quick, SEEDS[:2] if args.quick else SEEDS)
    report = markdown(results)
    if not args.quick or args.out != RESULTS:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "train_bf16.json").write_text(json.dumps(results, indent=2) + "\n")
        (args.out / "train_bf16.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
