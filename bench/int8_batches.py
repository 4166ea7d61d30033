"""Does a text's int8 label depend on the texts batched with it? ONNX Runtime's dynamic int8 quantizes each batch's
activations with one scale per tensor (``DynamicQuantizeLinear``), set by the batch's largest activations, so a text
batched with others is quantized more or less coarsely than alone. fp32 has no such dependence (right padding and
the attention mask keep a text's logits its own).

Over the texts of ``--texts`` (a CSV; the full PhraseBank by default), ``Predictor`` labels them with the student's
ONNX fp32 export and with its int8 export alone (``recheck=False``) and as served (the near-ties rerun), each at
``--batch-sizes``; reported: each run's share of fp32's labels, and how many labels and how far the probabilities
change between the smallest and the largest batch size. Written to bench/results/int8_batches.{json,md}.

    .venv/bin/python bench/int8_batches.py --model DIR      # a student exported with sxhub export --int8
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results"


def main() -> None:
    from recheck import cpu_line

    from sxhub.predict import Predictor

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--texts", type=Path, default=DATA / "financial_phrasebank" / "sentences_50agree.csv")
    parser.add_argument("--text-column", default="sentence")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32, 64])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    texts = pd.read_csv(args.texts, dtype=str, keep_default_na=False)[args.text_column].tolist()
    reference, _ = Predictor(args.model, onnx=True, batch_size=32).predict(texts)
    runs: dict[str, dict[int, tuple[list[Any], np.ndarray]]] = {"int8 alone": {}, "int8 as served": {}}
    rows = []
    for name, recheck in (("int8 alone", False), ("int8 as served", True)):
        for size in args.batch_sizes:
            predictor = Predictor(args.model, onnx=True, int8=True, recheck=recheck, batch_size=size)
            labels, probs = predictor.predict(texts)
            runs[name][size] = (labels, probs)
            rows.append({
                "int8": name, "batch_size": size,
                "identical_to_fp32": round(float(np.mean([a == b for a, b in zip(labels, reference, strict=True)])), 4),
                "rerun": round(predictor.rechecked / len(texts), 4),
            })  # fmt: skip
    small, large = min(args.batch_sizes), max(args.batch_sizes)
    between = {}
    for name, by_size in runs.items():
        (l1, p1), (l2, p2) = by_size[small], by_size[large]
        change = np.abs(p1 - p2).max(axis=1)
        between[name] = {
            "labels_changed": int(sum(a != b for a, b in zip(l1, l2, strict=True))),
            "max_probability_change": round(float(change.max()), 4),
            "q99_probability_change": round(float(np.quantile(change, 0.99)), 4),
        }
    results = {
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "cpu": cpu_line(),
        "model": str(args.model),
        "n": len(texts),
        "runs": rows,
        f"batch_{small}_against_{large}": between,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "int8_batches.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        "# Does a text's int8 label depend on its batch? (`bench/int8_batches.py`)",
        "",
        f"{results['date']}, {results['cpu']}; {len(texts):,} texts of `{args.texts.name}`; the student "
        f"`{args.model.name}`. How it was run: the docstring of `bench/int8_batches.py`.",
        "",
        "| int8 | batch size | labels identical to fp32 | texts rerun in fp32 |",
        "|---|---:|---:|---:|",
        *(f"| {r['int8']} | {r['batch_size']} | {r['identical_to_fp32']:.2%} | {r['rerun']:.2%} |" for r in rows),
        "",
        f"| int8 | labels changed, batch {small} against {large} | largest probability change | its 0.99 quantile |",
        "|---|---:|---:|---:|",
        *(
            f"| {name} | {b['labels_changed']} of {len(texts):,} | {b['max_probability_change']:.3f} | "
            f"{b['q99_probability_change']:.3f} |"
            for name, b in between.items()
        ),
    ]
    (args.out / "int8_batches.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
