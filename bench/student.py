"""Benchmark of the student on real expert-labelled data (2 CPU threads), written to bench/results/student.{json,md}.

(a) Financial PhraseBank (sentences_allagree, 2,264 sentences): stratified 80/20 split (seed 42); the MiniLM student
    is trained on the 80% (sxhub holds 10% of it out for validation / early stopping) and scored on the 20%
    against the expert labels. Reference: RoBERTa-base .940 accuracy.
(b) 4P tweets (Synthetic Experts Demo_5000, GPT-4 labels as booleans Product/Place/Price/Promotion), 80/20:
    micro-F1 and Krippendorff's alpha on the 20%. Reference: roberta-large micro-F1 .827, alpha .743.
(c) Throughput on 2,000 sentences with 2 threads: torch fp32, ONNX fp32, ONNX int8; accuracy of int8 vs fp32;
    peak memory of ``sxhub predict`` as a subprocess.

    .venv/bin/python bench/student.py            # the full run (about 10 minutes on 2 cores)
    .venv/bin/python bench/student.py --quick    # a smoke run on small samples
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
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results"
FPB_LABELS = ["positive", "neutral", "negative"]
FOURP_LABELS = ["Product", "Place", "Price", "Promotion"]
THREADS = 2


def split(frame: pd.DataFrame, keys: list[str], *, seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame]:
    from sklearn.model_selection import train_test_split

    train_df, test_df = train_test_split(frame, test_size=0.2, random_state=seed, stratify=keys)
    return train_df.reset_index(drop=True), test_df.reset_index(drop=True)


def train_student(spec: Any, frame: pd.DataFrame, out: Path, epochs: float) -> Any:
    from sxhub.data import load_labelled
    from sxhub.train import TrainConfig, train

    data = load_labelled(frame, label_names=spec.label_names, multi_label=spec.multi_label)
    return train(spec, data, TrainConfig(output_dir=out, epochs=epochs, threads=THREADS, seed=42))


def phrasebank(work: Path, quick: bool) -> tuple[dict[str, Any], Path, pd.DataFrame]:
    from sxhub.evaluate import evaluate
    from sxhub.spec import TaskSpec

    frame = pd.read_csv(DATA / "financial_phrasebank" / "sentences_allagree.csv", dtype=str)
    train_df, test_df = split(frame, frame["label"].tolist())
    if quick:
        train_df, test_df = train_df.sample(300, random_state=0), test_df.sample(100, random_state=0)
    spec = TaskSpec(name="financial-sentiment", labels=FPB_LABELS)
    result = train_student(spec, train_df, work / "fpb", epochs=1 if quick else 3)
    scores = evaluate(work / "fpb", test_df, gold_column="label", batch_size=64)
    return (
        {
            "n_train_split": len(train_df),
            "n_train": result.n_train,
            "n_val": result.n_val,
            "n_test": scores["n"],
            "epochs": result.epochs,
            "train_seconds": result.seconds,
            "accuracy": scores["accuracy"],
            "macro_f1": scores["macro_f1"],
            "krippendorff_alpha": scores["krippendorff_alpha"],
            "reference": {"roberta-base accuracy": 0.940},
        },
        work / "fpb",
        test_df,
    )


def fourp(work: Path, quick: bool, epochs: float) -> dict[str, Any]:
    from sxhub.data import load_labelled
    from sxhub.evaluate import evaluate
    from sxhub.spec import TaskSpec
    from sxhub.targets import stratify_keys

    frame = pd.read_csv(DATA / "synthetic-experts" / "Demo_5000_Labeled_SyntheticTwins.csv", dtype=str)
    spec = TaskSpec(name="fourp-tweets", labels=FOURP_LABELS, multi_label=True)
    keys = stratify_keys(load_labelled(frame, label_names=FOURP_LABELS, multi_label=True))
    train_df, test_df = split(frame, keys)
    if quick:
        train_df, test_df = train_df.sample(400, random_state=0), test_df.sample(100, random_state=0)
    result = train_student(spec, train_df, work / "fourp", epochs=1 if quick else epochs)
    scores = evaluate(work / "fourp", test_df, batch_size=64)
    return {
        "n_train_split": len(train_df),
        "n_train": result.n_train,
        "n_val": result.n_val,
        "n_test": scores["n"],
        "epochs": result.epochs,
        "train_seconds": result.seconds,
        "micro_f1": scores["micro_f1"],
        "macro_f1": scores["macro_f1"],
        "krippendorff_alpha": scores["krippendorff_alpha"],
        "thresholds": result.thresholds,
        "reference": {"roberta-large micro_f1": 0.827, "roberta-large alpha": 0.743},
    }


def throughput(model_dir: Path, test_df: pd.DataFrame, n: int) -> dict[str, Any]:
    from sxhub.evaluate import evaluate
    from sxhub.export import export_onnx
    from sxhub.predict import Predictor

    export = export_onnx(model_dir, int8=True)
    pool = pd.read_csv(DATA / "financial_phrasebank" / "sentences_50agree.csv", dtype=str)["sentence"].tolist()
    texts = (pool * (n // len(pool) + 1))[:n]
    figures: dict[str, Any] = {"n_texts": n, "threads": THREADS, "export_agreement": export.to_dict()["agreement"]}
    for name, onnx, int8 in (("torch_fp32", False, False), ("onnx_fp32", True, False), ("onnx_int8", True, True)):
        predictor = Predictor(model_dir, onnx=onnx, int8=int8, batch_size=32, threads=THREADS)
        predictor.predict(texts[:64])  # warm-up
        start = time.perf_counter()
        predictor.predict(texts)
        seconds = time.perf_counter() - start
        scores = evaluate(model_dir, test_df, gold_column="label", predictor=predictor)
        figures[name] = {
            "texts_per_second": round(n / seconds, 1),
            "test_accuracy": scores["accuracy"],
            "test_macro_f1": scores["macro_f1"],
        }
    return figures


def peak_memory(model_dir: Path, work: Path, n: int, extra: list[str]) -> dict[str, Any]:
    """Peak RSS of ``sxhub predict`` in its own process (ru_maxrss of the children of a small wrapper)."""
    pool = pd.read_csv(DATA / "financial_phrasebank" / "sentences_50agree.csv", dtype=str)
    source = work / "predict_input.csv"
    pd.concat([pool] * (n // len(pool) + 1)).head(n).to_csv(source, index=False)
    command = [sys.executable, "-m", "sxhub", "-q", "predict", str(model_dir), str(source), "-o",
               str(work / "predictions.csv"), "--threads", str(THREADS), *extra]  # fmt: skip
    wrapper = (
        "import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:]).returncode; "
        "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", wrapper, *command], capture_output=True, text=True, check=True)
    rc, maxrss_kb = out.stdout.split()[-2:]
    if rc != "0":
        raise RuntimeError(f"sxhub predict failed: {out.stderr[-500:]}")
    return {"n_texts": n, "args": extra, "peak_rss_mb": round(int(maxrss_kb) / 1024, 1),
            "seconds": round(time.perf_counter() - start, 1)}  # fmt: skip


def markdown(results: dict[str, Any]) -> str:
    fpb, fourp_, speed = results["phrasebank"], results["fourp"], results["throughput"]
    load = "/".join(f"{x:.1f}" for x in (*results["load_average_at_start"][:1], *results["load_average_at_end"][:1]))
    goal_train = "met" if fpb["train_seconds"] < 180 else "missed"
    int8 = speed["onnx_int8"]
    gap = (speed["onnx_fp32"]["test_accuracy"] - int8["test_accuracy"]) * 100
    lines = [
        "# Student benchmark (all-MiniLM-L6-v2, 2 CPU threads)",
        "",
        f"Run {results['date']}{' (--quick smoke run: small samples, 1 epoch)' if results['quick'] else ''}; "
        f"{results['versions']}; 1-minute load average at start/end {load} on the 2 cores (above 2 means "
        + "other work shared them and slowed the timings).",
        "",
        "| task | student | reference |",
        "|---|---|---|",
        f"| Financial PhraseBank allagree, 20% test (n={fpb['n_test']}) | accuracy {fpb['accuracy']:.3f}, "
        f"macro-F1 {fpb['macro_f1']:.3f} | RoBERTa-base accuracy .940 |",
        f"| 4P tweets, 20% test (n={fourp_['n_test']}) | micro-F1 {fourp_['micro_f1']:.3f}, alpha "
        f"{fourp_['krippendorff_alpha']:.3f} | roberta-large micro-F1 .827, alpha .743 |",
        "",
        "| training | texts (train/val) | epochs | seconds | goal |",
        "|---|---|---|---|---|",
        f"| PhraseBank | {fpb['n_train']}/{fpb['n_val']} | {fpb['epochs']:g} | {fpb['train_seconds']:.0f} | "
        f"{fpb['n_train_split']} texts x 3 epochs < 180 s: {goal_train} |",
        f"| 4P tweets | {fourp_['n_train']}/{fourp_['n_val']} | {fourp_['epochs']:g} | "
        f"{fourp_['train_seconds']:.0f} | |",
        "",
        f"| inference ({speed['n_texts']} sentences, 2 threads) | texts/s | PhraseBank test accuracy |",
        "|---|---|---|",
        *(
            f"| {name} | {speed[name]['texts_per_second']:.0f} | {speed[name]['test_accuracy']:.3f} |"
            for name in ("torch_fp32", "onnx_fp32", "onnx_int8")
        ),
        "",
        f"- int8 goal >= 600 texts/s: {'met' if int8['texts_per_second'] >= 600 else 'missed'} "
        f"({int8['texts_per_second']:.0f}); accuracy within 0.5 points of fp32: "
        f"{'met' if abs(gap) <= 0.5 else 'missed'} (fp32 minus int8: {gap:+.2f} points).",
        *(
            f"- peak memory of `sxhub predict {' '.join(m['args'])}` on {m['n_texts']} texts: {m['peak_rss_mb']:.0f} MB "
            f"(goal < 1 GB: {'met' if m['peak_rss_mb'] < 1024 else 'missed'})."
            for m in results["memory"]
        ),
    ]
    return "\n".join(lines) + "\n" + results.get("notes", "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="Small samples and 1 epoch (a smoke run).")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--fourp-epochs", type=float, default=3.0, help="Epochs for the 4P tweets student.")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch

    torch.set_num_threads(THREADS)
    from sxhub.train import library_versions

    n = 200 if args.quick else 2000
    versions = library_versions()
    results: dict[str, Any] = {
        "quick": args.quick,
        "date": time.strftime("%Y-%m-%d"),
        "versions": ", ".join(f"{k} {versions[k]}" for k in ("torch", "transformers") if k in versions),
        "load_average_at_start": os.getloadavg(),
    }
    save = not (args.quick and args.out == RESULTS)  # a smoke run does not overwrite the real results
    with tempfile.TemporaryDirectory(prefix="sxhub-bench-") as tmp:
        work = Path(tmp)
        results["phrasebank"], model_dir, test_df = phrasebank(work, args.quick)
        _checkpoint(results, args.out, save)
        results["throughput"] = throughput(model_dir, test_df, n)
        results["memory"] = [
            peak_memory(model_dir, work, n, []),
            peak_memory(model_dir, work, n, ["--onnx", "--int8"]),
        ]
        _checkpoint(results, args.out, save)
        results["fourp"] = fourp(work, args.quick, args.fourp_epochs)
    results["load_average_at_end"] = os.getloadavg()
    _checkpoint(results, args.out, save)
    report = markdown(results)
    if save:
        (args.out / "student.md").write_text(report)
    print(report)


def _checkpoint(results: dict[str, Any], out: Path, save: bool) -> None:
    """Write what is done so far (a long run that is stopped keeps its finished parts)."""
    print(json.dumps(results, default=str), file=sys.stderr)
    if save:
        out.mkdir(parents=True, exist_ok=True)
        (out / "student.json").write_text(json.dumps(results, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
