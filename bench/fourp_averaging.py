"""Does averaging the student's epoch checkpoints lift the 4P tweets past the best single checkpoint?

The default recipe picks one checkpoint (the epoch with the best threshold-tuned micro-F1 on 400 validation tweets)
and tunes its thresholds on the same 400. The earlier runs scored that pick at 0.81 on validation and 0.78 on the
1,000 test tweets: the choice is noisy. Averaging the weights of several epochs (Izmailov et al. 2018, "Averaging
Weights Leads to Wider Optima"; Wortsman et al. 2022, "Model soups") smooths that noise at no inference cost.

One training run of the default recipe (bench/student.py's 4P split, seed 42), with every epoch's weights kept
in memory; then, each scored on the test split with thresholds tuned on validation as sxhub tunes them:
- ``best``: what ``sxhub train`` saves (the best epoch);
- ``tail`` (the candidate, fixed before the run): the uniform average of every epoch from the second to the last
  (early stopping's patience epochs included);
- ``best3``: the best epoch and its two neighbours;
- ``all``: every epoch.

    python bench/fourp_averaging.py --out /tmp/fourp-averaging
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from student import DATA, FOURP_LABELS, THREADS, split  # type: ignore[import-not-found]  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="Folder for averaging.json.")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--quick", action="store_true", help="1,000 training and 100 test tweets, 3 epochs (a smoke run)."
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch
    import transformers.trainer_callback
    from transformers import AutoModelForSequenceClassification

    from sxhub.evaluate import evaluate
    from sxhub.labelled import load_labelled
    from sxhub.predict import Predictor
    from sxhub.spec import load_spec
    from sxhub.targets import hard_targets, split_indices, stratify_keys
    from sxhub.train import TrainConfig, train
    from sxhub.validation import tune_thresholds_micro  # what sxhub train saves (own-F1 before 2026-12-04)

    torch.set_num_threads(THREADS)
    snapshots: list[dict[str, torch.Tensor]] = []
    scores: list[float] = []

    class Snapshots(transformers.EarlyStoppingCallback):  # type: ignore[misc]
        """Early stopping as sxhub sets it up, plus a copy of the weights at each epoch's end."""

        def on_epoch_end(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> Any:
            snapshots.append({k: v.detach().clone() for k, v in model.state_dict().items()})
            return super().on_epoch_end(args, state, control, model=model, **kw)

        def on_evaluate(self, args: Any, state: Any, control: Any, metrics: Any = None, **kw: Any) -> Any:
            scores.append(float(metrics["eval_micro_f1"]))
            return super().on_evaluate(args, state, control, metrics=metrics, **kw)

    # sxhub.train_local imports it from transformers when train() runs: replaced in transformers' lazy module (which
    # cached it when read above) and where that module reads it from
    transformers.EarlyStoppingCallback = Snapshots
    transformers.trainer_callback.EarlyStoppingCallback = Snapshots
    frame = pd.read_csv(DATA / "synthetic-experts" / "Demo_5000_Labeled_SyntheticTwins.csv", dtype=str)
    spec = load_spec({"name": "fourp-tweets", "labels": FOURP_LABELS, "multi_label": True})
    keys = stratify_keys(load_labelled(frame, label_names=FOURP_LABELS, multi_label=True))
    train_df, test_df = split(frame, keys)
    if args.quick:
        train_df, test_df = train_df.sample(1000, random_state=0), test_df.sample(100, random_state=0)
    data = load_labelled(train_df, label_names=FOURP_LABELS, multi_label=True)
    config = TrainConfig(output_dir="unused", threads=THREADS, seed=args.seed, **({"epochs": 3} if args.quick else {}))
    _, val_idx = split_indices(data, val_size=config.val_size, seed=config.seed)
    val_texts = [data.texts[i] for i in val_idx]
    val_gold = (hard_targets(data)[val_idx] >= 0.5).astype(int)
    out: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "seed": args.seed, "cpu_threads": THREADS}
    with tempfile.TemporaryDirectory(prefix="sxhub-avg-") as tmp:
        work = Path(tmp)
        config.output_dir = work / "best"
        start = time.perf_counter()
        result = train(spec, data, config)
        out["train_seconds"] = round(time.perf_counter() - start, 1)
        out["epochs"] = result.epochs
        out["validation_by_epoch"] = [round(s, 4) for s in scores]
        best = int(np.argmax(scores))
        out["best_epoch"] = best + 1
        groups = {
            "tail": list(range(1, len(snapshots))),
            "best3": [e for e in (best - 1, best, best + 1) if 0 <= e < len(snapshots)],
            "all": list(range(len(snapshots))),
        }
        variants: dict[str, Any] = {}
        test = evaluate(work / "best", test_df, batch_size=64)
        variants["best"] = {"epochs": [best + 1], "micro_f1": test["micro_f1"], "macro_f1": test["macro_f1"]}
        model = AutoModelForSequenceClassification.from_pretrained(work / "best")
        for name, epochs in groups.items():
            folder = work / name
            shutil.copytree(work / "best", folder)
            averaged = {k: torch.stack([snapshots[e][k].float() for e in epochs]).mean(0) for k in snapshots[0]}
            model.load_state_dict({k: v.to(snapshots[0][k].dtype) for k, v in averaged.items()})
            model.save_pretrained(folder)  # the config (thresholds, preprocessing) comes along unchanged
            probs = Predictor(folder, threads=THREADS).predict_proba(val_texts)
            thresholds = tune_thresholds_micro(probs, val_gold, FOURP_LABELS)
            config_path = folder / "config.json"
            saved = json.loads(config_path.read_text())
            saved["sxhub_thresholds"] = thresholds
            config_path.write_text(json.dumps(saved, indent=2))
            test = evaluate(folder, test_df, batch_size=64)
            variants[name] = {
                "epochs": [e + 1 for e in epochs],
                "micro_f1": test["micro_f1"],
                "macro_f1": test["macro_f1"],
                "thresholds": thresholds,
            }
            print(name, variants[name], flush=True)
        out["variants"] = variants
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "averaging.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
