"""Does ``--soft-labels`` help? Hard majority labels vs vote shares from noisy teacher votes.

Financial PhraseBank all-agree, stratified 80/20 split (seed 42). For every training sentence a simulated teacher
casts ``--samples`` votes: each vote is the expert label with probability ``--teacher-accuracy``, otherwise one of the
other labels at random (seeded). The votes are stored as ``sxhub annotate`` stores them; the hard student learns the
majority (``sxhub.vote.decide``), the soft student the vote shares (``--soft-labels``). Both are MiniLM, 3 epochs,
scored on the real 20% against the expert labels. Writes bench/results/soft_labels.json.

    .venv/bin/python bench/soft_labels.py     # about 5 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
LABELS = ["positive", "neutral", "negative"]


def noisy_votes(gold: str, *, samples: int, accuracy: float, rng: np.random.Generator) -> list[dict]:
    votes = []
    for sample in range(samples):
        label = gold if rng.random() < accuracy else str(rng.choice([x for x in LABELS if x != gold]))
        votes.append(
            {"teacher": "simulated", "sample": sample, "labels": [label], "reason": "", "error": "", "raw": ""}
        )
    return votes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--teacher-accuracy", type=float, default=0.75)
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "soft_labels.json")
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"../shared/data not found at {DATA}: this benchmark reads the real expert-labelled data")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from sklearn.model_selection import train_test_split

    from sxhub.evaluate import evaluate
    from sxhub.spec import load_spec
    from sxhub.train import TrainConfig, train
    from sxhub.vote import decide

    torch.set_num_threads(2)
    spec = load_spec(ROOT / "examples" / "financial-sentiment" / "task.yaml")
    df = pd.read_csv(DATA / "financial_phrasebank" / "sentences_allagree.csv").rename(columns={"sentence": "text"})
    train_df, test_df = train_test_split(df, test_size=0.2, random_state=42, stratify=df["label"])
    rng = np.random.default_rng(0)
    votes = [noisy_votes(g, samples=args.samples, accuracy=args.teacher_accuracy, rng=rng) for g in train_df["label"]]
    decisions = [decide(v, LABELS, False) for v in votes]
    labelled = pd.DataFrame(
        {
            "text": train_df["text"].tolist(),
            "label": [d.label for d in decisions],
            "votes": votes,
            "agreement": [d.agreement for d in decisions],
            "expert": train_df["label"].tolist(),
        }
    )
    work = Path(tempfile.mkdtemp(prefix="sxhub-soft-"))
    test_path = work / "test.csv"
    test_df.to_csv(test_path, index=False)
    results: dict = {
        "dataset": "financial_phrasebank sentences_allagree, 80/20 stratified, seed 42",
        "simulated_teacher": {"samples": args.samples, "vote_accuracy": args.teacher_accuracy},
        "majority_label_accuracy_on_train": float((labelled["label"] == labelled["expert"]).mean()),
        "n_train": len(labelled),
        "n_test": len(test_df),
        "epochs": args.epochs,
    }
    for name, soft in (("hard", False), ("soft", True)):
        started = time.perf_counter()
        config = TrainConfig(output_dir=work / name, epochs=args.epochs, soft_labels=soft, threads=2)
        train(spec, labelled, config)
        scores = evaluate(work / name, test_path)
        results[name] = {
            "accuracy": scores["accuracy"],
            "macro_f1": scores["macro_f1"],
            "krippendorff_alpha": scores["krippendorff_alpha"],
            "train_seconds": round(time.perf_counter() - started, 1),
        }
        print(name, results[name], flush=True)
    gain = results["soft"]["accuracy"] - results["hard"]["accuracy"]
    results["soft_minus_hard_accuracy_points"] = round(100 * gain, 2)
    results["note"] = "one seed, one split: differences under about 1 point are within run-to-run noise"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
