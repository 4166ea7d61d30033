"""int8 with its near-ties rerun in fp32 (``sxhub predict --onnx --int8``) on a MULTI-LABEL student: how many of
fp32's label sets it keeps and what the rerun costs. ``bench/recheck.py`` measures the single-label PhraseBank
student; this measures the 4P tweets (Synthetic Experts Demo_5000, GPT-4's Product/Place/Price/Promotion), where a
text's decision is four thresholds, not one argmax, and the margin is the nearest label's distance from its threshold
(:func:`sxhub.onnx_runtime.decision_margins`). Written to bench/results/recheck_multilabel.{json,md}.

A seeded 1,500 of the 5,000 tweets (``--train-n``, seed 42) train a short student (``sxhub train
examples/4p-marketing/task.yaml``, ``--epochs 2``, 2 threads, unless ``--model`` is given); it is exported as a user
exports it, ``sxhub export DIR --int8 --data <training split>`` (1,000 check texts, the recheck margin fitted on the
other 500). Over the 3,500 tweets not used for training:

1. **Fidelity against ONNX fp32:** the share of tweets whose whole label set is fp32's, and each label's agreement,
   for int8 alone (``recheck=False``), int8 as served (the margin the export fitted) and the margins other quantiles
   of the same fitting texts would give; the share of tweets rerun in fp32 in each case; and agreement with GPT-4
   (exact label set, micro-F1) beside. Then why tweets are rerun: each label's logits against its threshold, and
   for comparison (not what sxhub does) one margin per label.
2. **Cost, compute only, one warm process:** int8 alone, int8 with the fitted margin and fp32 over the 3,500 tweets,
   in turn for ``--repeats`` rounds (bench/recheck.py's ``compute_only``), with the load average before and after.

    .venv/bin/python bench/recheck_multilabel.py                # about 10-15 minutes on 2 cores (training 3-5)
    .venv/bin/python bench/recheck_multilabel.py --model DIR    # a 4P student already trained; exported again here
    .venv/bin/python bench/recheck_multilabel.py --model DIR --fidelity-only   # part 1 again, timings kept
    .venv/bin/python bench/recheck_multilabel.py --quick        # a smoke run (1 epoch, fewer texts, 1 round)
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

import numpy as np
import pandas as pd
from recheck import compute_only, cpu_line, median
from student import FOURP_LABELS, RESULTS, ROOT, THREADS, fourp_frame, versions_line

QUANTILES = (0.99, 0.995, 0.999)
TASK = ROOT / "examples" / "4p-marketing" / "task.yaml"


def split_csv(work: Path, n_train: int) -> tuple[Path, pd.DataFrame]:
    """A seeded ``n_train`` of the 4P tweets written for ``sxhub train`` and ``sxhub export --data`` (``text`` and
    one True/False column per label); the rest returned, never seen by training or the export."""
    frame = fourp_frame().rename(columns={"Text": "text"})[["text", *FOURP_LABELS]]
    order = np.random.default_rng(42).permutation(len(frame))
    train, rest = frame.iloc[np.sort(order[:n_train])], frame.iloc[np.sort(order[n_train:])]
    path = work / "fourp_train.csv"
    train.to_csv(path, index=False)
    return path, rest.reset_index(drop=True)


def sxhub(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "sxhub", "-q", *args], check=True)


def train(work: Path, train_csv: Path, epochs: float) -> Path:
    out = work / "student"
    sxhub("train", str(TASK), str(train_csv), "-o", str(out), "--epochs", f"{epochs:g}", "--threads", str(THREADS),
          "--seed", "42")  # fmt: skip
    return out


def compared(reference: np.ndarray, decided: np.ndarray, gold: np.ndarray) -> dict[str, Any]:
    """Label sets (``(n, labels)`` booleans) against fp32's and against GPT-4's."""
    from sklearn.metrics import f1_score

    return {
        "sets_identical_to_fp32": round(float((decided == reference).all(axis=1).mean()), 5),
        "tweets_changed": int((decided != reference).any(axis=1).sum()),
        "per_label_agreement": {
            name: round(float((decided[:, j] == reference[:, j]).mean()), 5) for j, name in enumerate(FOURP_LABELS)
        },
        "label_decisions_changed": int((decided != reference).sum()),
        "sets_identical_to_gpt4": round(float((decided == gold).all(axis=1).mean()), 4),
        "micro_f1_vs_gpt4": round(float(f1_score(gold, decided, average="micro", zero_division=0)), 4),
    }


def fidelity(model_dir: Path, texts: list[str], gold: np.ndarray, fitting: list[str]) -> dict[str, Any]:
    """ONNX fp32, int8 alone, int8 as served and int8 with each quantile's margin over ``texts``; the margins fitted
    on ``fitting`` (the export's own fitting texts). Decided as ``Predictor.decide`` decides: each label's sigmoid
    against its saved threshold."""
    from sxhub.activations import sigmoid
    from sxhub.export import RECHECK_QUANTILE, onnx_logits
    from sxhub.model_info import read_model_info
    from sxhub.onnx_runtime import decision_margins, decision_shifts, label_shifts, near_ties, threshold_logits
    from sxhub.predict import Predictor

    info = read_model_info(model_dir)
    assert info.labels == FOURP_LABELS and info.multi_label, info.labels
    thresholds = info.threshold_vector()
    cuts = threshold_logits(thresholds)

    def decide(logits: np.ndarray) -> np.ndarray:
        return sigmoid(logits).astype(np.float32) >= thresholds

    record = json.loads((model_dir / "sxhub.json").read_text())["export"]["variants"]["onnx-int8"]
    fp32_path, int8_path = model_dir / "onnx" / "model.onnx", model_dir / "onnx" / "model_int8.onnx"
    fp32, int8 = onnx_logits(model_dir, fp32_path, texts), onnx_logits(model_dir, int8_path, texts)
    reference = decide(fp32)
    fit32, fit8 = onnx_logits(model_dir, fp32_path, fitting), onnx_logits(model_dir, int8_path, fitting)
    shifts = decision_shifts(fit32, fit8, True)  # the largest change of any label: the one margin used before
    label_fit = label_shifts(fit32, fit8)  # each label's own change: its own margin (sxhub since 2026-12-05)
    margins = decision_margins(int8, cuts)
    out: dict[str, Any] = {
        "n": len(texts),
        "thresholds": dict(zip(FOURP_LABELS, (round(float(t), 4) for t in thresholds), strict=True)),
        "fitted_on": len(fitting),
        "fp32": compared(reference, reference, gold),
    }
    alone = Predictor(model_dir, onnx=True, int8=True, recheck=False, threads=THREADS)
    alone_sets = alone.predict_proba(texts) >= thresholds
    out["int8_alone"] = {"margin": 0.0, "rerun": 0.0, **compared(reference, alone_sets, gold)}
    served = Predictor(model_dir, onnx=True, int8=True, threads=THREADS)  # the margin the export recorded
    served_sets = served.predict_proba(texts) >= thresholds
    out["served"] = {"margin": served.recheck_margin, "rerun": round(served.rechecked / len(texts), 4),
                     **compared(reference, served_sets, gold)}  # fmt: skip
    # the margin the export recorded, refitted from the same texts here: they should match (a check of this bench)
    out["served"]["margin_refitted_here"] = [
        round(float(m), 4) for m in np.quantile(label_fit, record["recheck"]["quantile"], axis=0)
    ]
    out["margins"] = {}
    for q in QUANTILES:
        margin = [float(m) for m in np.quantile(label_fit, q, axis=0)]
        near = near_ties(int8, margin, cuts)
        mixed = np.where(near[:, None], fp32, int8)
        out["margins"][str(q)] = {"margin": [round(m, 4) for m in margin], "rerun": round(float(near.mean()), 4),
                                  **compared(reference, decide(mixed), gold)}  # fmt: skip
    # what sxhub did before 2026-12-05: one margin, the largest change of any label, set against the nearest label; a
    # label int8 moves much and one the student leaves near its threshold together made every tweet a near-tie
    single = float(np.quantile(shifts, RECHECK_QUANTILE))
    near = margins < single
    out["single_margin"] = {
        "margin": round(single, 4),
        "rerun": round(float(near.mean()), 4),
        **compared(reference, decide(np.where(near[:, None], fp32, int8)), gold),
    }
    distance = np.abs(fp32 - cuts)
    out["labels"] = {
        name: {
            "fp32_logit_q05_q50_q95": [round(float(v), 3) for v in np.quantile(fp32[:, j], [0.05, 0.5, 0.95])],
            "distance_from_threshold_q10_q50_q90": [
                round(float(v), 3) for v in np.quantile(distance[:, j], [0.1, 0.5, 0.9])
            ],
            "int8_change_q50_q99": [
                round(float(v), 3) for v in np.quantile(np.abs(int8[:, j] - fp32[:, j]), [0.5, 0.99])
            ],
            "nearest_label_share": round(float((distance.argmin(axis=1) == j).mean()), 4),
        }
        for j, name in enumerate(FOURP_LABELS)
    }
    out["int8_margin_q10_q50_q90_q99"] = [round(float(v), 3) for v in np.quantile(margins, [0.1, 0.5, 0.9, 0.99])]
    # the tweets int8 as served still changes: how far int8 moved them against the margin it left them
    changed = np.flatnonzero((served_sets != reference).any(axis=1))
    moved = decision_shifts(fp32, int8, True)
    out["served"]["still_changed"] = [
        {"shift": round(float(moved[i]), 3), "int8_margin": round(float(margins[i]), 3)} for i in changed[:20]
    ]
    out["shift_quantiles"] = {
        "fitting": [round(float(v), 3) for v in np.quantile(shifts, [0.5, 0.9, 0.99, 0.999])],
        "these": [round(float(v), 3) for v in np.quantile(moved, [0.5, 0.9, 0.99, 0.999])],
    }
    out["export_record"] = record
    return out


def markdown(r: dict[str, Any]) -> str:
    fid = r["fidelity"]
    served = fid["served"]
    bar = 0.995

    def m(margin: Any) -> str:  # per label, or one number (records written before 2026-12-05)
        if isinstance(margin, list):
            return "/".join(f"{v:.3f}" for v in margin)
        return f"{margin:.3f}"

    lines = [
        "# int8 with its near-ties rerun in fp32, on a multi-label student (4P tweets)",
        "",
        f"Run {r['date']}; {r['versions']}; {r['cpu']}; {THREADS} threads. How it was run: the docstring of "
        f"`bench/recheck_multilabel.py`. One 4P student ({r['student']}) trained on a seeded {r['n_train']:,} of the "
        "5,000 Synthetic Experts tweets (GPT-4's labels), exported with `sxhub export DIR --int8 --data <training "
        f"split>`: int8 recipe `{fid['export_record'].get('quantization')}`, recheck margins {m(served['margin'])} "
        f"logits ({'/'.join(FOURP_LABELS)}: each label's {r['quantile']} quantile of how far int8 moved its logit on "
        f"{fid['fitted_on']} training tweets outside the export's check). Thresholds: "
        + ", ".join(f"{k} {v:.3f}" for k, v in fid["thresholds"].items())
        + f". Load average (1 min) at the start: {r['load_start']}.",
        "",
    ]
    verdict = (
        f"**Under the 99.5% bar:** int8 as served gave fp32's whole label set on {served['sets_identical_to_fp32']:.2%}"
        f" of the {fid['n']:,} tweets ({served['tweets_changed']} changed), rerunning {served['rerun']:.2%}."
        if served["sets_identical_to_fp32"] < bar
        else f"int8 as served gave fp32's whole label set on {served['sets_identical_to_fp32']:.2%} of the "
        f"{fid['n']:,} tweets ({served['tweets_changed']} changed), rerunning {served['rerun']:.2%}: over the 99.5% bar."
    )
    if served["rerun"] >= 0.99:
        verdict += (
            " That is fp32's own answer, not int8's: every tweet was rerun in fp32, so int8 as served does fp32's work "
            "and int8's besides (its timing below)."
        )
    lines += [
        verdict,
        "",
        f"## Fidelity against ONNX fp32 ({fid['n']:,} tweets never used for training or the export)",
        "",
        "| int8 | tweets rerun in fp32 | label sets identical to fp32 | tweets changed | "
        + " | ".join(FOURP_LABELS)
        + " | sets = GPT-4's | micro-F1 vs GPT-4 |",
        "|---|---:|---:|---:|" + "---:|" * len(FOURP_LABELS) + "---:|---:|",
    ]

    def row(name: str, d: dict[str, Any], bold: bool = False) -> str:
        b = "**" if bold else ""
        per = " | ".join(f"{d['per_label_agreement'][k]:.2%}" for k in FOURP_LABELS)
        return (f"| {b}{name}{b} | {d['rerun']:.2%} | {b}{d['sets_identical_to_fp32']:.2%}{b} | {d['tweets_changed']} "
                f"| {per} | {d['sets_identical_to_gpt4']:.2%} | {d['micro_f1_vs_gpt4']:.4f} |")  # fmt: skip

    lines.append(row("fp32 (reference)", {**fid["fp32"], "rerun": 0.0}))
    lines.append(row("int8 alone (`--no-recheck`)", fid["int8_alone"]))
    lines.append(row(f"int8 as served (`sxhub predict --onnx --int8`; margins {m(served['margin'])})", served, True))
    for q, d in fid["margins"].items():
        lines.append(row(f"margins at quantile {q} ({m(d['margin'])})", d))
    single = fid.get("single_margin")
    if single:
        lines.append(row(f"one margin for all labels, as before 2026-12-05 ({single['margin']:.3f})", single))
    lines += [
        "",
        "Per-label columns: the share of tweets where int8 decided that label as fp32 did. The quantile rows rerun the "
        "tweets a label of which is within its own margin of its threshold (computed from the same logits, not by "
        "`Predictor`); the served row is `Predictor`'s own (margins refitted here from the fitting tweets: "
        f"{m(served['margin_refitted_here'])}). The last row is the rule before 2026-12-05: one margin, the quantile of "
        "the largest change int8 makes to any label, against the nearest label's distance from its threshold.",
        "",
        f"How far int8 moved the largest logit change (quantiles 0.5/0.9/0.99/0.999): fitting tweets "
        f"{fid['shift_quantiles']['fitting']}, these {fid['shift_quantiles']['these']}.",
        "",
    ]
    if single:
        lines += [
            "### Why one margin for all labels reran nearly every tweet",
            "",
            "Int8's margin on these tweets, the nearest label's distance from its threshold (quantiles "
            f"0.1/0.5/0.9/0.99): {fid['int8_margin_q10_q50_q90_q99']}.",
            "",
            "| label | fp32 logit (q05, q50, q95) | distance from threshold (q10, q50, q90) | int8's change (q50, q99) "
            "| nearest label on | its own margin (served) |",
            "|---|---|---|---|---:|---:|",
        ]
        own = served["margin"] if isinstance(served["margin"], list) else [served["margin"]] * len(FOURP_LABELS)
        for (name, d), mine in zip(fid["labels"].items(), own, strict=True):
            lines.append(f"| {name} | {d['fp32_logit_q05_q50_q95']} | {d['distance_from_threshold_q10_q50_q90']} | "
                         f"{d['int8_change_q50_q99']} | {d['nearest_label_share']:.1%} | {mine:.3f} |")  # fmt: skip
        lines.append("")
    if served["still_changed"]:
        lines += [
            "Tweets int8 as served still changes (int8's move of the logits against the margin it left them): "
            + ", ".join(f"{d['shift']:.2f} vs {d['int8_margin']:.2f}" for d in served["still_changed"])
            + ".",
            "",
        ]
    comp = r["compute_only"]
    rates = {k: median(v) for k, v in comp["texts_per_second"].items()}
    lines += [
        f"## Cost, compute only ({comp['n_texts']:,} tweets, one warm process, median of "
        f"{len(comp['texts_per_second']['fp32'])} interleaved rounds)",
        "",
        f"Load average (1 min) before {comp['load_before']}, after {comp['load_after']}"
        + (f"; {r['load_note']}" if r.get("load_note") else "")
        + ".",
        "",
        "| runtime | texts/s (each round) | median |",
        "|---|---|---:|",
    ]
    if comp.get("note"):  # timings kept from an earlier run (--fidelity-only)
        lines[-2:-2] = [comp["note"], ""]
    for name, values in comp["texts_per_second"].items():
        lines.append(f"| {name} | {', '.join(f'{v:,.0f}' for v in values)} | {rates[name]:,.0f} |")
    cost = 1 - rates["int8_recheck"] / rates["int8_alone"]
    extra = comp["rerun"] * rates["int8_alone"] / rates["fp32"]  # the rerun's time over int8's own, per text
    lines += [
        "",
        f"Rerunning {comp['rerun']:.2%} of the tweets cost {cost:.1%} of int8's throughput here; the arithmetic "
        f"predicts {1 - 1 / (1 + extra):.1%} (1 - 1 / (1 + share rerun x int8's speed / fp32's); recheck.py's "
        f"product, {extra:.1%}, holds only for small shares). int8 as served ran "
        f"{rates['int8_recheck'] / rates['fp32']:.2f}x fp32's speed.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="A 4P student trained on this split [train one].")
    parser.add_argument("--train-n", type=int, default=1500, help="Tweets in the training split (seed 42).")
    parser.add_argument("--epochs", type=float, default=2, help="Most epochs of the student's training.")
    parser.add_argument("--repeats", type=int, default=5, help="Interleaved rounds of the compute-only timing.")
    parser.add_argument("--quick", action="store_true", help="A smoke run: 1 epoch, 600 tweets scored, one round.")
    parser.add_argument("--work", type=Path, help="Keep the split and the student here [a temporary folder].")
    parser.add_argument("--load-note", default="", help="What else ran on the machine, for the results.")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--fidelity-only", action="store_true", help="Remake the fidelity; keep the timings on file.")
    parser.add_argument("--stem", default="recheck_multilabel", help="Results file names [recheck_multilabel].")
    args = parser.parse_args()
    from sxhub.export import RECHECK_QUANTILE, check_sample

    with tempfile.TemporaryDirectory(prefix="sxhub-recheck-ml-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "versions": versions_line("onnxruntime", "onnx"),
                                   "cpu": cpu_line(), "quantile": RECHECK_QUANTILE, "n_train": args.train_n,
                                   "load_start": round(os.getloadavg()[0], 2), "load_note": args.load_note}  # fmt: skip
        train_csv, rest = split_csv(work, args.train_n)
        start = time.perf_counter()
        model_dir = args.model or train(work, train_csv, 1 if args.quick else args.epochs)
        results["train_seconds"] = None if args.model else round(time.perf_counter() - start, 1)
        trained = json.loads((model_dir / "sxhub.json").read_text()).get("train") or {}
        results["student"] = f"{trained.get('epochs', 0):g} epochs" + ("" if args.model is None else ", --model")
        start = time.perf_counter()
        sxhub("export", str(model_dir), "--int8", "--data", str(train_csv))
        results["export_seconds"] = round(time.perf_counter() - start, 1)
        if args.quick:
            rest = rest.iloc[:600]
        texts = rest["text"].tolist()
        gold = rest[FOURP_LABELS].apply(lambda c: c.astype(str).str.lower() == "true").to_numpy()
        _, _, fitting = check_sample(model_dir, {}, data=train_csv, text_column=None, n=1000)
        results["fidelity"] = fidelity(model_dir, texts, gold, fitting)
        print(json.dumps(results["fidelity"]["served"], default=str), flush=True)
        stem = args.stem + ("_quick" if args.quick else "")
        if args.fidelity_only:
            kept = json.loads((args.out / f"{stem}.json").read_text())
            results["compute_only"], results["load_note"] = kept["compute_only"], kept.get("load_note", "")
            results["timings_from"] = kept.get("timings_from") or kept["date"]
            results["train_seconds"] = kept.get("train_seconds")
        else:
            load_before = round(os.getloadavg()[0], 2)
            results["compute_only"] = compute_only(model_dir, texts, 1 if args.quick else args.repeats)
            results["compute_only"] |= {"load_before": load_before, "load_after": round(os.getloadavg()[0], 2)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (args.out / f"{stem}.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
