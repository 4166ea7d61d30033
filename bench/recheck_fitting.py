"""Which texts should int8's near-ties margin be fitted on? ``sxhub export --int8 --data TRAIN`` fits it on training
texts outside its check sample (the 0.995 quantile of how far int8 moved them, :func:`sxhub.export_int8.fit_recheck_margin`).
This measures how far int8 moves three kinds of text of the same student, and what a margin fitted on each gives on
texts the student never saw:

- **trained**: the rows of ``--data`` the student was trained on;
- **validation**: the rows of ``--data`` it only validated on (never trained on; ``trained_texts.npz`` says which);
- **unseen**: ``--unseen``, texts outside its training file (the served texts this stands for).

For each fitted margin: the share of unseen texts rerun in fp32 and the share whose label (single-label) or whole
label set (multi-label) is fp32's. Both ONNX graphs are the ones the student's ``sxhub export --int8`` wrote; no
timing. The result is appended, under ``--name``, to bench/results/recheck_fitting.{json,md}.

    .venv/bin/python bench/recheck_fitting.py --model DIR --data TRAIN.csv --unseen UNSEEN.csv --name NAME
    .venv/bin/python bench/recheck_fitting.py ... --name NAME --export-label "another export"   # a row added
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
RESULTS = ROOT / "bench" / "results"
QUANTILE = 0.995


def texts_of(path: Path, column: str) -> list[str]:
    return pd.read_csv(path, dtype=str, keep_default_na=False)[column].astype(str).tolist()


def main() -> None:
    from sxhub.export_int8 import onnx_logits
    from sxhub.model_info import read_model_info
    from sxhub.onnx_runtime import decision_shifts, label_shifts, near_ties, threshold_logits
    from sxhub.trained_texts import seen

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="A student exported with sxhub export --int8.")
    parser.add_argument("--data", type=Path, required=True, help="Its training file (CSV).")
    parser.add_argument("--unseen", type=Path, required=True, help="Texts it never saw (CSV).")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--name", required=True, help="The key of this student in the results.")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--export-label",
        default="export (recorded)",
        help="The row of the margin the student's export recorded; rows of other labels under --name are kept.",
    )
    args = parser.parse_args()

    info = read_model_info(args.model)
    multi = info.multi_label
    train_texts = texts_of(args.data, args.text_column)
    unseen_texts = texts_of(args.unseen, args.text_column)
    marks = seen(args.model, train_texts, info.preprocessing)
    if marks is None:
        raise SystemExit(f"{args.model} has no trained_texts.npz: train it with this version of sxhub")
    outside = seen(args.model, unseen_texts, info.preprocessing)
    assert outside is not None
    unseen_texts = [t for t, used in zip(unseen_texts, outside.used, strict=True) if not used]

    def logits(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        return (
            onnx_logits(args.model, args.model / "onnx" / "model.onnx", texts),
            onnx_logits(args.model, args.model / "onnx" / "model_int8.onnx", texts),
        )

    fp32, int8 = logits(train_texts)
    shifts = label_shifts(fp32, int8) if multi else decision_shifts(fp32, int8, False)
    kinds = {"trained": marks.trained, "validation": marks.validated & ~marks.trained}
    u_fp32, u_int8 = logits(unseen_texts)
    u_shifts = label_shifts(u_fp32, u_int8) if multi else decision_shifts(u_fp32, u_int8, False)
    largest = (lambda s: s.max(axis=1)) if multi else (lambda s: s)
    cuts = threshold_logits(info.threshold_vector()) if multi else None

    def decisions(x: np.ndarray) -> np.ndarray:
        return x >= cuts if multi else x.argmax(axis=1)

    def served(margin: Any) -> dict[str, Any]:
        rows = near_ties(u_int8, margin, cuts)
        fixed = u_int8.copy()
        fixed[rows] = u_fp32[rows]
        same = decisions(fixed) == decisions(u_fp32)
        return {
            "margin": np.round(margin, 4).tolist(),
            "rerun": round(float(rows.mean()), 4),
            "identical_to_fp32": round(float(same.all(axis=1).mean() if multi else same.mean()), 4),
        }

    alone = decisions(u_int8) == decisions(u_fp32)
    result: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "model": str(args.model),
        "multi_label": multi,
        "labels": info.labels,
        "n": {
            "trained": int(kinds["trained"].sum()),
            "validation": int(kinds["validation"].sum()),
            "unseen": len(unseen_texts),
        },
        "largest_shift_quantiles_50_90_99": {
            **{
                k: np.round(np.quantile(largest(shifts[mask]), [0.5, 0.9, 0.99]), 3).tolist()
                for k, mask in kinds.items()
            },
            "unseen": np.round(np.quantile(largest(u_shifts), [0.5, 0.9, 0.99]), 3).tolist(),
        },
        "int8_alone_identical": round(float(alone.all(axis=1).mean() if multi else alone.mean()), 4),
        "served_by_margin_fitted_on": {
            k: served(np.quantile(shifts[mask], QUANTILE, axis=0)) for k, mask in kinds.items()
        },
    }
    recorded = info.extra.get("export", {}).get("variants", {}).get("onnx-int8", {}).get("recheck", {}).get("margin")
    path = args.out / "recheck_fitting.json"
    results = json.loads(path.read_text()) if path.is_file() else {}
    earlier = results.get(args.name, {}).get("served_by_margin_fitted_on", {})
    for label, row in earlier.items():  # another export of the same student, recorded by an earlier run
        result["served_by_margin_fitted_on"].setdefault(label, row)
    if recorded is not None:
        result["served_by_margin_fitted_on"][args.export_label] = served(recorded)
    args.out.mkdir(parents=True, exist_ok=True)
    results[args.name] = result
    path.write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        "# Which texts int8's near-ties margin is fitted on (`bench/recheck_fitting.py`)",
        "",
        "How it was run: the docstring of `bench/recheck_fitting.py`. The 0.995 quantile of int8's shifts "
        "(per label for a multi-label student) fitted on each kind of text, applied to the unseen texts.",
    ]
    for name, r in results.items():
        q = r["largest_shift_quantiles_50_90_99"]
        lines += [
            "",
            f"## {name} ({'multi-label' if r['multi_label'] else 'single-label'}, {r['date']})",
            "",
            f"Texts: {r['n']['trained']:,} trained, {r['n']['validation']:,} validation, {r['n']['unseen']:,} unseen. "
            f"int8 alone gives fp32's decision on {r['int8_alone_identical']:.2%} of the unseen texts.",
            "",
            "| texts | int8's largest shift (q50, q90, q99, logits) |",
            "|---|---|",
            *(f"| {k} | {', '.join(f'{x:.3f}' for x in v)} |" for k, v in q.items()),
            "",
            "| margin fitted on | margin (logits) | unseen texts rerun | unseen decisions identical to fp32 |",
            "|---|---|---:|---:|",
            *(
                f"| {k} | {v['margin'] if isinstance(v['margin'], float) else ' / '.join(f'{m:.3f}' for m in v['margin'])} "
                f"| {v['rerun']:.2%} | {v['identical_to_fp32']:.2%} |"
                for k, v in r["served_by_margin_fitted_on"].items()
            ),
        ]
    (args.out / "recheck_fitting.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
