"""How ``sxhub doubts`` combines a multi-label row's signals: its doubtful count, and its queue, on planted errors.

A multi-label row has three signals per label (vote split, out-of-fold disagreement, label quality). Two ways to
make one doubt of them:

* ``worst_then_mean`` (sxhub's rule until this benchmark, kept here to reproduce it): each signal's worst label, then the mean of those three
  numbers. The three maxima may come from three different labels, so a row whose every label is probably right can
  still reach 0.5.
* ``mean_then_worst``: the mean of the three signals of each label, then the worst label: the row's doubt is the
  doubt of its most doubtful label, read the way a single-label row's doubt is read (sxhub's rule since: adopted by
  the rule stated before the first run, see the verdict in ``bench/results/doubts_multilabel.md``).

Data: the 4P tweets (GPT-4's labels as the reference: no human gold exists) and GoEmotions' dev comments (28 labels,
the raters' labels as the reference), each 2,000 rows drawn per seed. One simulated teacher (3 samples,
``bench/review.py`` ``teacher_votes_multi``) gets ``error`` of the rows wrong (one label dropped or added, repeated
by 80% of its samples); the majority of its samples is the label checked. Both rules score the same signals of the
same run. Embeddings (the packaged MiniLM, as ``sxhub doubts`` embeds) are computed once per dataset.

    python bench/doubts_multilabel.py            # 5 seeds, both datasets; writes bench/results/doubts_multilabel.*
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
from review import DATA, P4, SHARES, at_shares, teacher_votes_multi

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def load(name: str) -> tuple[list[str], list[list[str]], list[str]]:
    """Texts, reference label sets and label names of a dataset."""
    if name == "4p":
        raw = pd.read_csv(DATA / "synthetic-experts" / "Demo_5000_Labeled_SyntheticTwins.csv")
        ref = [[n for n in P4 if str(row[n]) == "True"] for _, row in raw[P4].iterrows()]
        return raw["Text"].astype(str).tolist(), ref, list(P4)
    raw = pd.read_csv(DATA / "goemotions" / "dev_multihot.csv")
    names = [c for c in raw.columns if c not in ("id", "text")]
    flags = raw[names].to_numpy().astype(bool)
    ref = [[n for n, on in zip(names, row, strict=True) if on] for row in flags]
    return raw["text"].astype(str).tolist(), ref, names


def embeddings(name: str, texts: list[str], work: Path) -> np.ndarray:
    from sxhub.doubts_oof import embed_texts

    path = work / f"{name}-embeddings.npy"
    if path.is_file():
        cached = np.load(path)
        if cached.shape[0] == len(texts):
            return cached
    started = time.perf_counter()
    out = embed_texts(texts)
    print(f"{name}: embedded {len(texts)} texts in {time.perf_counter() - started:.0f} s", flush=True)
    np.save(path, out)
    return out


def per_label(value: Any, names: list[str]) -> dict[str, float] | None:
    """A signal as one value per label (a scalar, e.g. 1 - the agreement column, applies to every label)."""
    if isinstance(value, dict):
        return {n: float(value[n]) for n in names}
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    return dict.fromkeys(names, float(value))


def worst_then_mean(signals: list[Any]) -> float:
    """sxhub's rule before this benchmark: each signal's worst label, then the mean of those values."""
    values = [max(v.values()) if isinstance(v, dict) else float(v) for v in signals if v is not None]
    values = [v for v in values if not np.isnan(v)]
    return float(np.clip(np.mean(values), 0.0, 1.0)) if values else 0.0


def mean_then_worst(signals: list[Any], names: list[str]) -> float:
    values = [v for v in (per_label(s, names) for s in signals) if v is not None]
    if not values:
        return 0.0
    return float(np.clip(max(np.mean([v[n] for v in values]) for n in names), 0.0, 1.0))


def rule_figures(queue: pd.DataFrame, doubt: np.ndarray, errors: np.ndarray) -> dict[str, Any]:
    order = queue["row"].to_numpy()[np.lexsort((queue["row"].to_numpy(), -doubt))]
    flagged = queue["row"].to_numpy()[doubt >= 0.5]
    found = int(errors[flagged].sum())
    return {
        "doubtful": len(flagged),
        "doubtful_errors": found,
        "doubtful_precision": found / len(flagged) if len(flagged) else None,
        "doubtful_recall": found / max(1, int(errors.sum())),
        **at_shares(order, errors),
    }


def run_once(
    name: str,
    texts: list[str],
    ref: list[list[str]],
    names: list[str],
    emb: np.ndarray,
    seed: int,
    n: int,
    error: float,
) -> dict[str, Any]:
    from sxhub.doubts import SIGNALS, find_doubts
    from sxhub.vote import decide

    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(texts), size=min(n, len(texts)), replace=False))
    votes = [teacher_votes_multi(ref[i], error=error, samples=3, rng=rng, names=names) for i in pick]
    decisions = [decide(v, names, True) for v in votes]
    frame = pd.DataFrame({"text": [texts[i] for i in pick], "labels": [d.labels for d in decisions], "votes": votes})
    errors = np.array([set(d.labels or ()) != set(ref[i]) for d, i in zip(decisions, pick, strict=True)])
    started = time.perf_counter()
    result = find_doubts(frame, label_names=names, multi_label=True, embedder=lambda _t: emb[pick], seed=seed)
    seconds = time.perf_counter() - started
    queue = result.queue
    signals = list(zip(*(queue[s] for s in SIGNALS), strict=True))
    old = np.array([worst_then_mean(list(s)) for s in signals])
    new = np.array([mean_then_worst(list(s), names) for s in signals])
    rule = "mean_then_worst" if np.allclose(new, queue["doubt"].to_numpy()) else "worst_then_mean"
    assert np.allclose(old if rule == "worst_then_mean" else new, queue["doubt"].to_numpy()), "one rule is sxhub's"
    out = {
        "seed": seed,
        "n": len(queue),
        "true_errors": int(errors.sum()),
        "base_error_rate": float(errors.mean()),
        "seconds_without_embedding": round(seconds, 1),
        "sxhub_rule": rule,  # which of the two the installed sxhub applies
        "worst_then_mean": rule_figures(queue, old, errors),
        "mean_then_worst": rule_figures(queue, new, errors),
    }
    print(
        f"{name} seed {seed}: errors {out['true_errors']}; "
        + "; ".join(
            f"{r}: doubtful {out[r]['doubtful']} ({out[r]['doubtful_errors']} errors), top10 recall "
            f"{out[r]['top_10%']['recall']:.3f}"
            for r in ("worst_then_mean", "mean_then_worst")
        ),
        flush=True,
    )
    return out


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def paired(key: Any) -> dict[str, float]:
        diffs = np.array([key(r["mean_then_worst"]) - key(r["worst_then_mean"]) for r in runs], dtype=float)
        se = float(diffs.std(ddof=1) / np.sqrt(len(diffs))) if len(diffs) > 1 else float("nan")
        return {"mean": float(diffs.mean()), "se": se}

    out: dict[str, Any] = {"true_errors": float(np.mean([r["true_errors"] for r in runs]))}
    for rule in ("worst_then_mean", "mean_then_worst"):
        out[rule] = {
            "doubtful": float(np.mean([r[rule]["doubtful"] for r in runs])),
            "doubtful_precision": float(np.mean([r[rule]["doubtful_precision"] or 0.0 for r in runs])),
            "doubtful_recall": float(np.mean([r[rule]["doubtful_recall"] for r in runs])),
            **{
                f"top_{round(s * 100)}%_{k}": float(np.mean([r[rule][f"top_{round(s * 100)}%"][k] for r in runs]))
                for s in SHARES
                for k in ("precision", "recall")
            },
        }
    out["paired_new_minus_old"] = {
        "doubtful_precision": paired(lambda f: f["doubtful_precision"] or 0.0),
        "doubtful_recall": paired(lambda f: f["doubtful_recall"]),
        **{
            f"top_{round(s * 100)}%_recall": paired(lambda f, s=s: f[f"top_{round(s * 100)}%"]["recall"])
            for s in SHARES
        },
    }
    return out


def render(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        "# `sxhub doubts` on multi-label data: how a row's signals become one doubt",
        "",
        f"`bench/doubts_multilabel.py`, {results['date']}, {m['cpu']}, {m['threads']} threads. {results['setup']}",
        "",
    ]
    for name, title in (
        ("4p", "4P tweets (4 labels; reference: GPT-4's labels)"),
        ("goemotions", "GoEmotions dev (28 labels; reference: the raters')"),
    ):
        d = results.get(name)
        if not d:
            continue
        s = d["summary"]
        lines += [
            f"## {title}: {len(d['runs'])} seeds of {d['runs'][0]['n']} rows, {s['true_errors']:.0f} planted errors on average",
            "",
            "| rule | doubtful rows | of them errors | errors found | top 5% recall | top 10% precision | top 10% recall | top 20% recall |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for rule in ("worst_then_mean", "mean_then_worst"):
            r = s[rule]
            lines.append(
                f"| `{rule}` | {r['doubtful']:.0f} | {r['doubtful_precision']:.1%} | {r['doubtful_recall']:.1%} | "
                f"{r['top_5%_recall']:.1%} | {r['top_10%_precision']:.1%} | {r['top_10%_recall']:.1%} | "
                f"{r['top_20%_recall']:.1%} |"
            )
        p = s["paired_new_minus_old"]
        lines += [
            "",
            "Paired over the seeds, `mean_then_worst` minus `worst_then_mean` (standard error): "
            + ", ".join(f"{k.replace('_', ' ')} {v['mean']:+.1%} ({v['se']:.1%})" for k, v in p.items())
            + ".",
            "",
        ]
    if results.get("verdict"):
        lines += ["## Verdict", "", results["verdict"], ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--error", type=float, default=0.07)
    parser.add_argument("--datasets", nargs="+", default=["4p", "goemotions"])
    parser.add_argument("--work", type=Path, default=ROOT / "out" / "bench-doubts-multilabel")
    parser.add_argument("--verdict", help="A sentence for the report (written after reading the figures).")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    import torch

    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads()},
        "setup": f"{args.n} rows per seed, planted error rate {args.error:.0%} (one simulated teacher, 3 samples, "
        "majority vote), 5 folds, seeds 0.." + str(args.seeds - 1) + ".",
        "load_before": os.getloadavg()[0],
    }
    for name in args.datasets:
        texts, ref, names = load(name)
        emb = embeddings(name, texts, args.work)
        runs = [run_once(name, texts, ref, names, emb, seed, args.n, args.error) for seed in range(args.seeds)]
        results[name] = {"labels": len(names), "runs": runs, "summary": summarise(runs)}
    results["load_after"] = os.getloadavg()[0]
    if args.verdict:
        results["verdict"] = args.verdict
    (RESULTS / "doubts_multilabel.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    (RESULTS / "doubts_multilabel.md").write_text(render(results) + "\n", encoding="utf-8")
    print(render(results))


if __name__ == "__main__":
    main()
