"""Does distillation help a thin student, beyond one run's noise? (`sxhub train --layers 3` with and without
``--distill`` from a full-depth student), written to bench/results/thin_student.{json,md}.

The Financial PhraseBank all-agree split of ``bench/student.py`` (stratified 80/20, seed 42). One full-depth default
student (6 layers, seed 42) is the teacher; then, for each seed, a 3-layer student of the default recipe on the
experts' labels alone and one that also learns from the teacher (temperature 2, weight 0.5). Accuracy on the 20% test
split per seed, the paired difference and its standard error. CPU training is not bit-reproducible, so one run's
difference of a point is within the noise: the seeds say whether the gain holds.

    .venv/bin/python bench/thin_student.py              # about 20 minutes on 2 quiet cores
    .venv/bin/python bench/thin_student.py --quick      # a smoke run (small samples, 1 epoch)
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
LAYERS = 3


def run(quick: bool, seeds: tuple[int, ...]) -> dict[str, Any]:
    from sxhub.evaluate import evaluate
    from sxhub.labelled import load_labelled
    from sxhub.spec import load_spec
    from sxhub.train import TrainConfig, train

    frame = pd.read_csv(DATA / "financial_phrasebank" / "sentences_allagree.csv", dtype=str)
    train_df, test_df = split(frame, frame["label"].tolist())
    if quick:
        train_df, test_df = train_df.sample(300, random_state=0), test_df.sample(100, random_state=0)
    spec = load_spec({"name": "financial-sentiment", "labels": FPB_LABELS})
    data = load_labelled(train_df, label_names=FPB_LABELS, multi_label=False)
    fixed: dict[str, Any] = {"epochs": 1} if quick else {}

    def trained(folder: Path, **options: Any) -> dict[str, Any]:
        result = train(spec, data, TrainConfig(output_dir=folder, threads=THREADS, **fixed, **options))
        scores = evaluate(folder, test_df, gold_column="label", batch_size=64)
        return {"accuracy": scores["accuracy"], "epochs": result.epochs, "train_seconds": result.seconds}

    with tempfile.TemporaryDirectory(prefix="sxhub-thin-") as tmp:
        work = Path(tmp)
        teacher = trained(work / "full", seed=42)
        print(f"[teacher] {json.dumps(teacher)}", flush=True)
        runs: dict[str, Any] = {}
        for seed in seeds:
            plain = trained(work / f"thin-{seed}", seed=seed, layers=LAYERS)
            taught = trained(work / f"distilled-{seed}", seed=seed, layers=LAYERS, distill=str(work / "full"))
            runs[str(seed)] = {"plain": plain, "distilled": taught}
            print(f"[seed {seed}] {json.dumps(runs[str(seed)])}", flush=True)
    diffs = np.array([(r["distilled"]["accuracy"] - r["plain"]["accuracy"]) * 100 for r in runs.values()])
    return {
        "date": time.strftime("%Y-%m-%d"),
        "quick": quick,
        "n_train_split": len(train_df),
        "n_test": len(test_df),
        "layers": LAYERS,
        "distill": {"temperature": 2.0, "weight": 0.5},
        "teacher": teacher,
        "runs": runs,
        "mean_plain": float(np.mean([r["plain"]["accuracy"] for r in runs.values()])),
        "mean_distilled": float(np.mean([r["distilled"]["accuracy"] for r in runs.values()])),
        "gain_points": float(diffs.mean()),
        "gain_se": float(diffs.std(ddof=1) / np.sqrt(len(diffs))) if len(diffs) > 1 else None,
        "seeds_above": int((diffs > 0).sum()),
        "load_average_at_end": os.getloadavg(),
    }


def markdown(r: dict[str, Any]) -> str:
    rows = [
        f"| {seed} | {v['plain']['accuracy']:.4f} ({v['plain']['epochs']:g} epochs, {v['plain']['train_seconds']:.0f} s) "
        f"| {v['distilled']['accuracy']:.4f} ({v['distilled']['epochs']:g} epochs, {v['distilled']['train_seconds']:.0f} s) "
        f"| {(v['distilled']['accuracy'] - v['plain']['accuracy']) * 100:+.1f} |"
        for seed, v in r["runs"].items()
    ]
    se = f", standard error {r['gain_se']:.1f}" if r["gain_se"] is not None else ""
    return "\n".join(
        [
            f"# A thin student with and without distillation ({r['date']}{', --quick smoke run' if r['quick'] else ''})",
            "",
            f"Financial PhraseBank all-agree, `bench/student.py`'s split: {r['n_train_split']:,} training sentences "
            f"(10% of them for validation), {r['n_test']} test sentences. Teacher: the full-depth default student "
            f"(seed 42), {r['teacher']['accuracy']:.4f} on the test split ({r['teacher']['train_seconds']:.0f} s). "
            f"Students: `sxhub train --layers {r['layers']}` (the default recipe otherwise), alone or with `--distill "
            f"TEACHER` (temperature {r['distill']['temperature']:g}, weight {r['distill']['weight']:g}). 2 threads.",
            "",
            "| seed | 3 layers, labels only | 3 layers, distilled | difference (points) |",
            "|---|---:|---:|---:|",
            *rows,
            f"| **mean** | **{r['mean_plain']:.4f}** | **{r['mean_distilled']:.4f}** | **{r['gain_points']:+.1f}** |",
            "",
            f"Distillation against the labels alone: {r['gain_points']:+.1f} points on the mean{se}; above with "
            f"{r['seeds_above']} of {len(r['runs'])} seeds.",
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
        (args.out / "thin_student.json").write_text(json.dumps(results, indent=2) + "\n")
        (args.out / "thin_student.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
