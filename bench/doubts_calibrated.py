"""``sxhub doubts`` on multi-label data: each label's out-of-fold probability read against 0.5, or against its own
fitted threshold.

On multi-label data the out-of-fold model (one logistic regression per label on MiniLM embeddings) gives a rare
label low probabilities even where it is right: read against 0.5, nearly every row that has a rare label looks
wrong (its ``signal_oof_disagreement`` is high) and the label is never suggested. GoEmotions' dev comments without
votes came out 84% "doubtful", with ``[neutral]`` suggested almost everywhere. ``calibrated`` reads each label's
probability against the threshold that best matches the labels given (pooled micro-F1, as a student's thresholds are
fitted: ``sxhub.doubt_signals.label_thresholds``), by shifting its log-odds so that the threshold reads as 0.5.
cleanlab's label-quality signal already adjusts for each label's threshold and is unchanged.

Same data and planted errors as ``bench/doubts_multilabel.py`` (the 4P tweets with GPT-4's labels, GoEmotions' dev
comments with the raters'; one simulated teacher, 3 samples, 7% of rows wrong). Each row set is scored twice, with the
teacher's votes in the file and without them (labels only, as a file labelled elsewhere), by both readings.

    python bench/doubts_calibrated.py   # writes bench/results/doubts_calibrated.{json,md}
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from doubts_multilabel import embeddings, load
from review import at_shares, teacher_votes_multi

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
# the share of rows under which a label is read against its fitted threshold (sxhub.doubt_signals.CALIBRATE_BELOW)
READINGS = {"plain": None, "calibrated": 1.01, "rare": 0.05}


def describe(below: float | None) -> str:
    if below is None:
        return "every label against 0.5"
    if below > 1:
        return "every label against its fitted threshold"
    return f"labels on fewer than {below:.0%} of the rows against their fitted threshold, the others against 0.5"


def figures(queue: pd.DataFrame, errors: np.ndarray, ref: list[set[str]]) -> dict[str, Any]:
    """The queue's doubtful count and precision, its top-k recall of the planted errors, and how often its
    suggestion is the reference label set (on the planted errors, and on every row)."""
    rows = queue["row"].to_numpy()
    flagged = rows[queue["doubt"].to_numpy() >= 0.5]
    found = int(errors[flagged].sum())
    suggested = {int(r): set(s) for r, s in zip(rows, queue["suggested"], strict=True)}
    right = np.array([suggested[i] == ref[i] for i in range(len(ref))])
    return {
        "doubtful": len(flagged),
        "doubtful_precision": found / len(flagged) if len(flagged) else None,
        "doubtful_recall": found / max(1, int(errors.sum())),
        **at_shares(rows, errors),  # the queue is in doubt order
        "suggested_right_on_errors": float(right[errors].mean()) if errors.any() else None,
        "suggested_right_all": float(right.mean()),
    }


def run_once(
    texts: list[str],
    ref: list[list[str]],
    names: list[str],
    emb: np.ndarray,
    seed: int,
    n: int,
    error: float,
    readings: tuple[str, str],
) -> dict[str, Any]:
    import sxhub.doubt_signals as doubt_signals
    import sxhub.doubts as doubts
    from sxhub.vote import decide

    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(texts), size=min(n, len(texts)), replace=False))
    votes = [teacher_votes_multi(ref[i], error=error, samples=3, rng=rng, names=names) for i in pick]
    decisions = [decide(v, names, True) for v in votes]
    labels = [list(d.labels or ()) for d in decisions]
    reference = [set(ref[i]) for i in pick]
    errors = np.array([set(lab) != r for lab, r in zip(labels, reference, strict=True)])
    out: dict[str, Any] = {"seed": seed, "n": len(pick), "planted_errors": int(errors.sum())}
    for setting in ("votes", "no_votes"):
        frame = pd.DataFrame({"text": [texts[i] for i in pick], "labels": labels})
        if setting == "votes":
            frame["votes"] = votes
        for reading in readings:
            doubt_signals.CALIBRATE_BELOW = READINGS[reading]
            queue = doubts.find_doubts(
                frame, label_names=names, multi_label=True, embedder=lambda _t: emb[pick], seed=seed
            ).queue
            out[f"{setting}/{reading}"] = figures(queue, errors, reference)
    return out


def summarise(runs: list[dict[str, Any]], readings: tuple[str, str]) -> dict[str, Any]:
    keys = {
        "doubtful": lambda f: f["doubtful"],
        "doubtful_precision": lambda f: f["doubtful_precision"] or 0.0,
        "top_10%_recall": lambda f: f["top_10%"]["recall"],
        "top_20%_recall": lambda f: f["top_20%"]["recall"],
        "suggested_right_on_errors": lambda f: f["suggested_right_on_errors"] or 0.0,
        "suggested_right_all": lambda f: f["suggested_right_all"],
    }
    summary: dict[str, Any] = {}
    for setting in ("votes", "no_votes"):
        for name, key in keys.items():
            base = np.array([key(r[f"{setting}/{readings[0]}"]) for r in runs], dtype=float)
            other = np.array([key(r[f"{setting}/{readings[1]}"]) for r in runs], dtype=float)
            diff = other - base
            summary[f"{setting}/{name}"] = {
                readings[0]: float(base.mean()),
                readings[1]: float(other.mean()),
                "difference": float(diff.mean()),
                "se": float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else float("nan"),
            }
    return summary


def render(results: dict[str, Any]) -> str:
    lines = [
        "# `sxhub doubts` on multi-label data: each label read against 0.5, or against its fitted threshold",
        "",
        f"`bench/doubts_calibrated.py`, {results['date']}, {results['machine']}. {results['setup']} Load average "
        f"{results['load_before']:.1f} before, {results['load_after']:.1f} after (other work shared the 2 cores; "
        "no timings are reported).",
        "",
    ]
    for name, title in (
        ("4p", "4P tweets (4 labels; reference: GPT-4's labels)"),
        ("goemotions", "GoEmotions dev (28 labels; reference: the raters')"),
    ):
        if name not in results:
            continue
        block = results[name]
        errors = np.mean([r["planted_errors"] for r in block["runs"]])
        lines += [f"## {title}: {len(block['runs'])} seeds, {errors:.0f} planted errors on average", ""]
        first, second = results["readings"]
        lines += [f"| with | figure | {first} | {second} | difference (SE) |", "|---|---|---:|---:|---:|"]
        for key, row in block["summary"].items():
            setting, figure = key.split("/")
            fmt = "{:.0f}" if figure == "doubtful" else "{:.3f}"
            lines.append(
                f"| {setting.replace('_', ' ')} | {figure.replace('_', ' ')} | {fmt.format(row[first])} | "
                f"{fmt.format(row[second])} | {row['difference']:+.3f} ({row['se']:.3f}) |"
            )
        lines.append("")
    if results.get("verdict"):
        lines += ["## Verdict", "", results["verdict"]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--readings", nargs=2, default=["plain", "calibrated"], choices=list(READINGS))
    parser.add_argument("--name", default="doubts_calibrated", help="bench/results/NAME.{json,md}")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--error", type=float, default=0.07)
    parser.add_argument("--datasets", nargs="+", default=["4p", "goemotions"])
    parser.add_argument("--work", type=Path, default=ROOT / "out" / "bench-doubts-multilabel")
    parser.add_argument("--verdict", help="A paragraph for the report (written after reading the figures).")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "setup": f"{args.n} rows per seed, planted error rate {args.error:.0%} (one simulated teacher, 3 samples, "
        f"majority vote), 5 folds, seeds {args.first_seed}..{args.first_seed + args.seeds - 1}. Readings: "
        + ", ".join(f"{r} ({describe(READINGS[r])})" for r in args.readings)
        + ".",
        "readings": list(args.readings),
        "load_before": os.getloadavg()[0],
    }
    for name in args.datasets:
        texts, ref, names = load(name)
        emb = embeddings(name, texts, args.work)
        runs = []
        readings = (args.readings[0], args.readings[1])
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            runs.append(run_once(texts, ref, names, emb, seed, args.n, args.error, readings))
            print(name, seed, {k: v for k, v in runs[-1].items() if "/" not in k}, flush=True)
        results[name] = {"labels": len(names), "runs": runs, "summary": summarise(runs, readings)}
    results["load_after"] = os.getloadavg()[0]
    if args.verdict:
        results["verdict"] = args.verdict
    (RESULTS / f"{args.name}.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    (RESULTS / f"{args.name}.md").write_text(render(results) + "\n", encoding="utf-8")
    print(render(results))


if __name__ == "__main__":
    main()
