"""Smoothed activations for int8 (``sxhub export --quantization smooth``, and ``mixed``, which starts from it).

For each PhraseBank student given (``--model``, repeatable; e.g. ``bench/student.py``'s default 6-layer one and
``train --layers 4 / 3`` ones), over the full PhraseBank (4,846 sentences, 50agree):

- per-channel int8 of the exported graph, and of the graph smoothed by :func:`sxhub.quantize.smooth_graph` at each
  ``--alpha``, fitted on the first 1,000 sentences of the student's training split (the all-agree 80% of
  ``bench/student.py``): labels identical to the fp32 ONNX model, accuracy against the experts, mean probability
  shift, and speed (texts per CPU-second x 2 threads, in one process, after a warm-up batch);
- what ``sxhub export --int8 --data HALF`` keeps when given a seeded half of the sentences as served-like texts (no
  labels; ``bench/student.py``'s fidelity protocol): its recipe, the MatMuls it keeps fp32, its agreement on its own
  1,000 check texts and its speed there; then its agreement over all 4,846 and on the half it never saw. Twice: as
  ``sxhub export`` runs (``mixed`` ranks and quantizes the plain graph), and with ``mixed`` on the smoothed graph
  (``sxhub.export_int8.SMOOTHED`` patched: tried, and not kept).

The alpha curve is measured on the same sentences the default (0.75) was picked on, so the gain at the default is a
little optimistic there; the export rows fit and check on the served half and report the other half too.

    .venv/bin/python bench/smooth.py --model DIR [--model DIR ...]      # about 5 minutes a student, 2 quiet cores

Writes bench/results/smooth.{json,md}.
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

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
THREADS = 2
sys.path.insert(0, str(ROOT / "bench"))


def scored(probs: np.ndarray, reference: np.ndarray, gold: list[str], labels: list[str], rows: Any = None) -> dict:
    rows = np.arange(len(gold)) if rows is None else rows
    pred = probs[rows].argmax(1)
    return {
        "agreement": round(float((pred == reference[rows].argmax(1)).mean()), 4),
        "accuracy_vs_experts": round(
            float(np.mean([labels[j] == gold[i] for j, i in zip(pred, rows, strict=True)])), 4
        ),
        "mean_abs_prob_shift": round(float(np.abs(probs[rows] - reference[rows]).mean()), 5),
    }


def run_graph(model_dir: Path, graph: Path, texts: list[str]) -> tuple[np.ndarray, float]:
    """Probabilities of ``graph`` on ``texts`` and its speed in texts per CPU-second x threads."""
    from sxhub.activations import softmax
    from sxhub.model_info import read_model_info
    from sxhub.onnx_runtime import OnnxClassifier

    classifier = OnnxClassifier(model_dir, graph, max_length=read_model_info(model_dir).max_length,
                                threads=THREADS, batch_size=32)  # fmt: skip
    classifier.logits(texts[:64])
    start = time.process_time()
    logits = classifier.logits(texts)
    return softmax(logits), round(len(texts) / max(time.process_time() - start, 1e-9) * THREADS, 1)


def one_student(model_dir: Path, alphas: list[float], work: Path) -> dict[str, Any]:
    import student  # type: ignore[import-not-found]

    from sxhub.export import export_onnx
    from sxhub.quantize import quantize_int8, smooth_graph

    frame = pd.read_csv(student.DATA / "financial_phrasebank" / "sentences_allagree.csv", dtype=str)
    train_df, _ = student.split(frame, frame["label"].tolist())
    fitting = train_df["sentence"].tolist()
    gold_frame = pd.read_csv(student.DATA / "financial_phrasebank" / "sentences_50agree.csv", dtype=str)
    texts, gold, labels = gold_frame["sentence"].tolist(), gold_frame["label"].tolist(), student.FPB_LABELS
    config = json.loads((model_dir / "config.json").read_text())
    fp32_graph = work / "fp32.onnx"
    shutil.copy(model_dir / "onnx" / "model.onnx", fp32_graph)  # the graph sxhub export wrote (present version)
    reference, fp32_speed = run_graph(model_dir, fp32_graph, texts)
    out: dict[str, Any] = {"model": str(model_dir), "layers": config["num_hidden_layers"],
                           "fp32": {**scored(reference, reference, gold, labels), "texts_per_cpu_second_x_threads": fp32_speed}}  # fmt: skip
    quantize_int8(fp32_graph, work / "pc.onnx", method="per-channel")
    probs, speed = run_graph(model_dir, work / "pc.onnx", texts)
    out["per-channel"] = {**scored(probs, reference, gold, labels), "texts_per_cpu_second_x_threads": speed}
    for alpha in alphas:
        smooth_graph(fp32_graph, work / "smooth.onnx", model_dir, fitting, alpha=alpha)
        quantize_int8(work / "smooth.onnx", work / "smooth_int8.onnx", method="per-channel")
        probs, speed = run_graph(model_dir, work / "smooth_int8.onnx", texts)
        out[f"smooth, alpha {alpha:g}"] = {**scored(probs, reference, gold, labels),
                                           "texts_per_cpu_second_x_threads": speed}  # fmt: skip
    # the export given served-like texts: a copy of the student, so its own record stays as it was
    copy = work / "student"
    shutil.copytree(model_dir, copy, ignore=shutil.ignore_patterns("onnx", "checkpoint-*"))
    served_csv, unseen = student.served_half(texts, work / "served_half.csv")
    started = time.perf_counter()
    exported = export_onnx(copy, int8=True, data=served_csv)
    seconds = round(time.perf_counter() - started, 1)
    out["export_served"] = served_export(copy, served_csv, texts, gold, labels, reference, unseen, seconds, exported)
    # the same export with "mixed" ranking and quantizing the smoothed graph instead, for comparison
    import sxhub.export_int8

    saved, sxhub.export_int8.SMOOTHED = sxhub.export_int8.SMOOTHED, ("smooth", "mixed")
    try:
        started = time.perf_counter()
        exported = export_onnx(copy, int8=True, data=served_csv)
        seconds = round(time.perf_counter() - started, 1)
    finally:
        sxhub.export_int8.SMOOTHED = saved
    out["export_served_smoothed_mixed"] = served_export(copy, served_csv, texts, gold, labels, reference, unseen,
                                                     seconds, exported)  # fmt: skip
    return out


def served_export(copy: Path, served_csv: Path, texts: list[str], gold: list[str], labels: list[str],
                  reference: np.ndarray, unseen: np.ndarray, seconds: float, exported: Any) -> dict[str, Any]:  # fmt: skip
    probs, speed = run_graph(copy, copy / "onnx" / "model_int8.onnx", texts)
    return {
        "quantization": exported.quantization,
        "fp32_nodes": len(exported.fp32_nodes),
        "default": exported.default,
        "check_agreement": exported.agreement["onnx-int8"].label_agreement,
        "speed_in_export": exported.speed,
        "seconds": seconds,
        "notes": exported.notes,
        "all": {**scored(probs, reference, gold, labels), "texts_per_cpu_second_x_threads": speed},
        "unseen": {"n": len(unseen), **scored(probs, reference, gold, labels, unseen)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, action="append", required=True)
    parser.add_argument("--alpha", type=float, nargs="+", default=[0.5, 0.6, 0.7, 0.75, 0.8, 0.9, 1.0])
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--note", default="")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import onnxruntime

    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "onnxruntime": onnxruntime.__version__,
        "load_average_at_start": os.getloadavg(),
        "note": args.note,
        "students": [],
    }
    for model in args.model:
        with tempfile.TemporaryDirectory(prefix="sxhub-smooth-") as tmp:
            results["students"].append(one_student(model, args.alpha, Path(tmp)))
        print(json.dumps(results["students"][-1])[:400], flush=True)
    results["load_average_at_end"] = os.getloadavg()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "smooth.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "smooth.md").write_text(markdown(results))
    print(markdown(results))


def markdown(results: dict[str, Any]) -> str:
    start, end = results["load_average_at_start"][0], results["load_average_at_end"][0]
    lines = [
        "# Smoothed activations for int8, on the full PhraseBank (4,846 sentences, 50agree)",
        "",
        f"Run {results['date']}, onnxruntime {results['onnxruntime']}, 2 threads; 1-minute load average {start:.1f} at "
        f"the start and {end:.1f} at the end. How each row was built and measured: the docstring of `bench/smooth.py`.",
        "",
    ]
    if results.get("note"):
        lines += [results["note"], ""]
    for s in results["students"]:
        lines += [
            f"## {s['layers']} layers (`{Path(s['model']).name}`)",
            "",
            "| recipe | labels identical to fp32 | labels changed | accuracy vs experts | mean prob shift | texts/s (CPU time / 2) |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name, r in s.items():
            if isinstance(r, dict) and "agreement" in r:
                changed = round((1 - r["agreement"]) * 4846)
                lines.append(
                    f"| {name} | {r['agreement']:.2%} | {changed} | {r['accuracy_vs_experts']:.4f} | "
                    f"{r['mean_abs_prob_shift']:.4f} | {r['texts_per_cpu_second_x_threads']:,.0f} |"
                )
        for key, what in (("export_served", "as it runs (`mixed` on the plain graph)"),
                          ("export_served_smoothed_mixed", "with `mixed` on the smoothed graph (tried, not kept)")):  # fmt: skip
            e = s[key]
            kept = f", {e['fp32_nodes']} MatMuls kept fp32" if e["fp32_nodes"] else ""
            lines += [
                "",
                f"`sxhub export --int8 --data <half of the sentences>`, {what}: kept **{e['quantization']}**{kept} "
                f"(default `{e['default']}`, {e['seconds']:.0f} s): {e['check_agreement']:.2%} on its 1,000 check "
                f"texts; {e['all']['agreement']:.2%} over all 4,846, **{e['unseen']['agreement']:.2%} on the "
                f"{e['unseen']['n']:,} it never saw**; accuracy vs experts {e['all']['accuracy_vs_experts']:.4f} "
                f"(fp32 {s['fp32']['accuracy_vs_experts']:.4f}); {e['all']['texts_per_cpu_second_x_threads']:,.0f} "
                "texts per CPU-second x 2 over all 4,846; in the export's own timing: "
                + ", ".join(f"{k} {v:,.0f}" for k, v in e["speed_in_export"].items())
                + " texts/s.",
                "",
                "Its trials: " + "; ".join(n for n in e["notes"] if n.startswith("int8")) + ".",
            ]
        lines.append("")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
