"""What the expert reveals: a 4P expert and a sentiment expert read the fashion-brand Synthetic Twins.

Trains two MiniLM students on ../shared/data (the 4P expert on the 5,000 GPT-4-labelled Demo tweets, 80% of them; the
sentiment expert on Financial PhraseBank all-agree, 80%) and runs ``sxhub insights`` on the 4,050 tweets of one
fashion brand: 4P label shares per @handle and per month, and the sentiment of each 4P label per group. Writes the
CSVs, small PNGs and summary.json to bench/results/insights/ (and the experts' test scores to summary_bench.json).

    .venv/bin/python bench/insights.py            # about 10 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
FOURP = ["Product", "Place", "Price", "Promotion"]


def sxhub(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "sxhub", "-q", *args], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "insights")
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"../shared/data not found at {DATA}: this benchmark reads the real expert-labelled data")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sklearn.model_selection import train_test_split

    from sxhub.evaluate import evaluate

    work = Path(tempfile.mkdtemp(prefix="sxhub-insights-"))
    tweets = pd.read_csv(DATA / "synthetic-experts" / "Demo_5000_Labeled_SyntheticTwins.csv")
    tweets["labels"] = [json.dumps([n for n in FOURP if str(r[n]) == "True"]) for _, r in tweets.iterrows()]
    tweets = tweets.rename(columns={"Text": "text"})[["text", "labels"]]
    train4, test4 = train_test_split(tweets, test_size=0.2, random_state=42)
    train4.to_csv(work / "4p_train.csv", index=False)
    test4.to_csv(work / "4p_test.csv", index=False)
    fin = pd.read_csv(DATA / "financial_phrasebank" / "sentences_allagree.csv").rename(columns={"sentence": "text"})
    trainf, testf = train_test_split(fin, test_size=0.2, random_state=42, stratify=fin["label"])
    trainf.to_csv(work / "fin_train.csv", index=False)
    testf.to_csv(work / "fin_test.csv", index=False)

    started = time.perf_counter()
    epochs = str(args.epochs)
    sxhub(
        "train",
        str(ROOT / "examples/4p-marketing/task.yaml"),
        str(work / "4p_train.csv"),
        "-o",
        str(work / "4p-expert"),
        "--epochs",
        epochs,
        "--threads",
        "2",
    )
    sxhub(
        "train",
        str(ROOT / "examples/financial-sentiment/task.yaml"),
        str(work / "fin_train.csv"),
        "-o",
        str(work / "sentiment-expert"),
        "--epochs",
        epochs,
        "--threads",
        "2",
    )
    train_seconds = time.perf_counter() - started
    scores = {
        "4p_expert_test": evaluate(work / "4p-expert", work / "4p_test.csv"),
        "sentiment_expert_test": evaluate(work / "sentiment-expert", work / "fin_test.csv"),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    fashion = DATA / "synthetic-experts" / "Demo_FashionBrand_SyntheticTwins.csv"
    sxhub(
        "insights",
        str(work / "4p-expert"),
        str(fashion),
        "--group-by",
        "handle",
        "--date-column",
        "created_at",
        "--freq",
        "M",
        "--top",
        "12",
        "--sentiment-model",
        str(work / "sentiment-expert"),
        "-o",
        str(args.out),
    )
    keep = ("accuracy", "macro_f1", "micro_f1", "krippendorff_alpha", "n")
    summary = {
        "epochs": args.epochs,
        "train_seconds_both": round(train_seconds, 1),
        "experts": {name: {k: res.get(k) for k in keep} for name, res in scores.items()},
        "note": "the sentiment expert learned financial news (PhraseBank); on fashion tweets it is out of domain",
    }
    (args.out / "summary_bench.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
