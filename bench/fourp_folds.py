"""The 4P default recipe scored on every tweet once: 5 folds of 1,000, so its micro-F1 is not one test split's.

Every 4P figure so far (``bench/results/fourp_*.json``, thirteen runs, 0.763 to 0.787) was measured on the same 1,000
tweets (``bench/student.py``'s 80/20 split, seed 42), whose micro-F1 alone has a standard error of about a point: the
goal (0.80) is about one standard error above the default's runs there. This measures the default recipe on a
partition of all 5,000 tweets into five test folds of 1,000:

- fold 0 is that split's test set, so its figure is the default recipe's recorded runs there (``student.json``'s
  ``fourp`` and ``fourp_default_rerun.json``), not trained again;
- folds 1 to 4 partition the other 4,000 tweets (scikit-learn ``StratifiedKFold``, 4 splits, shuffled with seed 42,
  stratified like the split on each tweet's rarest label); each is scored by a student trained with the default
  recipe (``bench/student.py``'s ``fourp_on``: early stopping within the epoch cap, 10% of the training tweets to
  validate and tune the thresholds on) on the 4,000 tweets outside it.

The check, stated in the commit before any fold ran: the mean micro-F1 over the five folds >= 0.80. Each fold is
written to ``bench/results/fourp_folds.json`` when it ends, and a run skips the folds already there.

Then the issue's own split: the 0.799 the issue quotes for "a plain MiniLM recipe" was measured "on an 80/20 split
stratified on Price", the split of the Synthetic Experts training notebook that gave the roberta-large reference
(``train_test_split(test_size=0.2, random_state=42, stratify=<the rarest label column, Price>)``,
SyntheticExperts_Train_MMX_Classifier.ipynb, dringel/Synthetic-Experts@45ce5d8). The notebook trains on all 4,000
(its test set is also its eval set), thresholds at 0.5, and computes alpha over the pooled (text, label) decisions;
sxhub's default recipe holds 10% of the 4,000 out to validate on and tune thresholds. The check, stated in the commit
before it ran: the default recipe's micro-F1 on that split's 1,000 test tweets >= 0.80 (one run, seed 42).

Last, a diagnostic, not a result: the notebook's own protocol on its split, to see how much of the gap between its
0.799 and the default's figure the protocol explains. The student trains on all 4,000 tweets for 4 epochs at a
learning rate of 1e-4 with the test tweets as its eval set (``validation_file``): the checkpoint is chosen, and the
thresholds tuned, on the very tweets it is scored on. Scored at thresholds of 0.5 (the notebook's) and at the tuned
ones. Both figures are optimistic by construction; they are stored as ``notebook_protocol``.

``--cleaned`` measures the five folds again after sxhub train began cleaning its texts as predict does (the saved
preprocessing block; before, 4P tweets were trained with their raw @handles and scored with ``@user``): every fold
trained, fold 0 included, into ``bench/results/fourp_folds_cleaned.json``, the notebook runs left out. The check,
stated in the commit before it ran: mean micro-F1 over the five folds >= 0.80.

``--raw`` measures the five folds with the task's ``preprocess: false``: no PII masks and no whitespace step, so
the student trains and is scored on the tweets as written (brand @handles and links kept), as the Synthetic Experts
notebook trained them; ``--cleaned`` is the same folds with sxhub's default cleaning on both sides. Every fold
trained, into ``bench/results/fourp_folds_raw.json``. The check, stated in the commit before it ran: mean micro-F1
over the five folds >= 0.80; beside it, the paired difference against ``--cleaned`` per fold, and preprocess off is
recommended for tweets in the README only if it is higher by more than twice its standard error.

``--micro`` measures the five folds again after students began saving per-label thresholds fitted for pooled
micro-F1 (``sxhub.validation.tune_thresholds_micro``, which also picks the checkpoint) instead of each label's own
F1: every fold trained, into ``bench/results/fourp_folds_micro.json``, with the paired difference against
``--cleaned`` (the same folds and cleaning, own-F1 thresholds). The checks, stated in the commit before it ran: mean
micro-F1 >= 0.80; and the change, made for many-label tasks (GoEmotions +13.5 points), costs the 4P tweets nothing:
the mean paired difference is not below minus twice its standard error.

    .venv/bin/python bench/fourp_folds.py [--cleaned | --raw | --micro] [FOLD ...]    # about 10-25 minutes a fold on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import student
from sklearn.model_selection import StratifiedKFold

from sxhub.labelled import load_labelled
from sxhub.targets import stratify_keys

OUT = student.RESULTS / "fourp_folds.json"
GOAL = 0.80


def folds(frame: Any) -> list[Any]:
    """Five disjoint test folds of ``frame``'s row labels: the split's test set, then four over the rest."""
    keys = stratify_keys(load_labelled(frame, label_names=student.FOURP_LABELS, multi_label=True))
    indexed = frame.assign(_row=range(len(frame)))
    train_df, test_df = student.split(indexed, keys)
    rest_keys = [keys[i] for i in train_df["_row"]]
    kfold = StratifiedKFold(n_splits=4, shuffle=True, random_state=42)
    return [test_df["_row"].tolist()] + [
        train_df["_row"].iloc[test].tolist() for _, test in kfold.split(train_df, rest_keys)
    ]


def notebook_split(frame: Any) -> tuple[Any, Any]:
    """The Synthetic Experts notebook's split: 20% test, seed 42, stratified on the rarest label's column (Price)."""
    from sklearn.model_selection import train_test_split

    rarest = min(student.FOURP_LABELS, key=lambda name: (frame[name] == "True").sum())
    train_df, test_df = train_test_split(frame, test_size=0.2, random_state=42, stratify=frame[rarest])
    return train_df.reset_index(drop=True), test_df.reset_index(drop=True)


def recorded_fold0() -> list[float]:
    """The default recipe's recorded micro-F1 on fold 0 (the 80/20 split's test set)."""
    runs = [
        json.loads((student.RESULTS / name).read_text())["fourp"]
        for name in ("student.json", "fourp_default_rerun.json")
    ]
    assert all(r["n_test"] == 1000 and r["recipe"].startswith("default") for r in runs), runs
    return [float(r["micro_f1"]) for r in runs]


VARIANT_NOTES = {
    "cleaned": "The five 4P folds again, training texts cleaned as predict cleans them (every fold trained).",
    "raw": "The five 4P folds with preprocess: false: trained and scored on the raw tweets (every fold).",
    "micro": "The five 4P folds with thresholds fitted for pooled micro-F1 (tune_thresholds_micro; every fold).",
}


def summary(done: dict[str, Any], variant: str | None = None) -> dict[str, Any]:
    if variant is not None:  # --cleaned, --raw: fold 0 trained like the others
        per_fold = [done[str(k)]["micro_f1"] for k in range(5) if str(k) in done]
        out: dict[str, Any] = {"per_fold": per_fold, "folds_done": len(per_fold)}
    else:
        fold0 = recorded_fold0()
        per_fold = [statistics.mean(fold0)] + [done[str(k)]["micro_f1"] for k in range(1, 5) if str(k) in done]
        out = {"fold0_recorded": fold0, "per_fold": per_fold, "folds_done": len(per_fold)}
    if len(per_fold) == 5:
        mean, sd = statistics.mean(per_fold), statistics.stdev(per_fold)
        out |= {
            "mean": mean,
            "sd": sd,
            "se": sd / 5**0.5,
            "mean_new_folds": statistics.mean(per_fold[1:]),
            "goal": GOAL,
            "met": mean >= GOAL,
        }
    return out | (against_cleaned(done, variant) if variant in ("raw", "micro") else {})


def against_cleaned(done: dict[str, Any], variant: str) -> dict[str, Any]:
    """The paired per-fold difference, this variant (raw, micro) minus cleaned, over the folds both runs have."""
    cleaned_file = OUT.with_name("fourp_folds_cleaned.json")
    cleaned = json.loads(cleaned_file.read_text())["folds"] if cleaned_file.exists() else {}
    both = [k for k in map(str, range(5)) if k in done and k in cleaned]
    diffs = [done[k]["micro_f1"] - cleaned[k]["micro_f1"] for k in both]
    out: dict[str, Any] = {"minus_cleaned_per_fold": dict(zip(both, diffs, strict=True))}
    if len(diffs) >= 2:
        mean, se = statistics.mean(diffs), statistics.stdev(diffs) / len(diffs) ** 0.5
        out |= {"minus_cleaned_mean": mean, "minus_cleaned_se": se}
        out |= {"recommend_raw": mean > 2 * se} if variant == "raw" else {"worse_beyond_noise": mean < -2 * se}
    return out


def train_and_score(train_df: Any, test_df: Any) -> dict[str, Any]:
    """The default recipe on ``train_df``, scored on ``test_df``, with its wall time and the load before it."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.time()
        load_before = round(os.getloadavg()[0], 2)
        result = student.fourp_on(Path(tmp), train_df, test_df, epochs=None)
    return result | {
        "wall_s": round(time.time() - start),
        "load_before": load_before,
        "date": time.strftime("%Y-%m-%d"),
        "versions": student.versions_line("torch", "transformers"),  # per run: a file's folds may span upgrades
    }


def notebook_protocol(train_df: Any, test_df: Any) -> dict[str, Any]:
    """The notebook's protocol (see the module's docstring): test tweets as the eval set, scored at 0.5 and tuned."""
    import numpy as np
    from sklearn.metrics import f1_score

    from sxhub.predict import Predictor
    from sxhub.spec import load_spec

    spec = load_spec({"name": "fourp-tweets", "labels": student.FOURP_LABELS, "multi_label": True})
    texts = load_labelled(test_df, label_names=student.FOURP_LABELS, multi_label=True).texts
    with tempfile.TemporaryDirectory() as tmp:
        eval_csv = Path(tmp) / "eval.csv"
        test_df.to_csv(eval_csv, index=False)
        start = time.time()
        result = student.train_student(
            spec, train_df, Path(tmp) / "model", epochs=4, learning_rate=1e-4, validation_file=eval_csv
        )
        probs = Predictor(Path(tmp) / "model", threads=student.THREADS).predict_proba(texts)
    gold = np.array([[v == "True" for v in test_df[name]] for name in student.FOURP_LABELS]).T
    tuned = np.array([(result.thresholds or {}).get(name, 0.5) for name in student.FOURP_LABELS])
    return {
        "n_train": result.n_train,
        "n_eval": result.n_val,
        "epochs": result.epochs,
        "train_seconds": result.seconds,
        "wall_s": round(time.time() - start),
        "micro_f1_at_0.5": float(f1_score(gold, probs >= 0.5, average="micro")),
        "micro_f1_tuned_on_test": float(f1_score(gold, probs >= tuned, average="micro")),
        "thresholds": result.thresholds,
        "note": "diagnostic: checkpoint chosen and thresholds tuned on the scored tweets; optimistic by construction",
        "date": time.strftime("%Y-%m-%d"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    rerun = parser.add_mutually_exclusive_group()
    rerun.add_argument("--cleaned", action="store_true", help="all five folds trained, into fourp_folds_cleaned.json")
    rerun.add_argument(
        "--raw", action="store_true", help="preprocess: false, all five folds, into fourp_folds_raw.json"
    )
    rerun.add_argument(
        "--micro", action="store_true", help="the present code (micro-F1 thresholds), into fourp_folds_micro.json"
    )
    parser.add_argument("folds", nargs="*", type=int, help="the folds to run (default: all)")
    args = parser.parse_args()
    variant = "raw" if args.raw else "micro" if args.micro else "cleaned" if args.cleaned else None
    out = OUT if variant is None else OUT.with_name(f"fourp_folds_{variant}.json")
    if args.raw:
        student.PREPROCESS = False
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(student.THREADS)
    frame = student.fourp_frame()
    parts = folds(frame)
    assert sorted(i for p in parts for i in p) == list(range(len(frame)))
    record: dict[str, Any] = (
        json.loads(out.read_text()) if out.exists() else {"note": __doc__.split("\n\n")[0], "folds": {}}
    )
    if variant is not None:
        record["note"] = VARIANT_NOTES[variant]
    for k in args.folds or (range(1, 5) if variant is None else range(5)):
        if str(k) in record["folds"]:
            continue
        test_rows = set(parts[k])
        train_df = frame[[i not in test_rows for i in range(len(frame))]].reset_index(drop=True)
        test_df = frame.iloc[parts[k]].reset_index(drop=True)
        result = train_and_score(train_df, test_df)
        record["folds"][str(k)] = result
        record["summary"] = summary(record["folds"], variant)
        out.write_text(json.dumps(record, default=str, indent=2) + "\n")
        print(
            f"fold {k}: micro-F1 {result['micro_f1']:.4f} ({result['epochs']:g} epochs, {result['wall_s']} s)",
            flush=True,
        )
    record["summary"] = summary(record["folds"], variant)
    out.write_text(json.dumps(record, default=str, indent=2) + "\n")
    print(json.dumps(record["summary"], indent=2))
    if variant is not None:
        return
    if "notebook_split" not in record:
        train_df, test_df = notebook_split(frame)
        result = train_and_score(train_df, test_df)
        result |= {"goal": GOAL, "met": result["micro_f1"] >= GOAL}
        record["notebook_split"] = result
        out.write_text(json.dumps(record, default=str, indent=2) + "\n")
        print(f"the notebook's split: micro-F1 {result['micro_f1']:.4f} ({result['epochs']:g} epochs)", flush=True)
    if "notebook_protocol" not in record:
        train_df, test_df = notebook_split(frame)
        record["notebook_protocol"] = notebook_protocol(train_df, test_df)
        out.write_text(json.dumps(record, default=str, indent=2) + "\n")
        print(json.dumps(record["notebook_protocol"], indent=2), flush=True)


if __name__ == "__main__":
    main()
