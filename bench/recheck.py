"""int8 with its near-ties rerun in fp32 (what ``sxhub predict --onnx --int8`` does since this bench was written): how
many of fp32's labels it keeps over the full PhraseBank and what the rerun costs. Written to
bench/results/recheck.{json,md}.

One PhraseBank student (``bench/student.py``'s split; trained here for 3 epochs, ``--bf16`` where native, unless
``--model`` is given) is exported as a user exports it, ``sxhub export --int8 --data <training split>``: per-channel
int8, its recheck margin fitted on the 811 training texts outside the 1,000 check texts.

1. **Fidelity over the full PhraseBank** (4,846 sentences, 50agree; near-ties the training split does not have): the
   share of fp32's labels (ONNX fp32) given by int8 alone, by int8 with the margin the export fitted, and with the
   margins other quantiles of the same fitting texts would give (how the choice of
   :data:`sxhub.export.RECHECK_QUANTILE` trades reruns against agreement); accuracy against the experts for each.
2. **Given served-like texts:** ``sxhub export --int8 --data`` with a seeded half of the 50agree sentences (no labels),
   scored on the other half, which the export never saw.
3. **Cost, compute only, one warm process:** int8 alone, int8 with the fitted margin and fp32 over the full PhraseBank,
   in turn for ``--repeats`` rounds (2 threads, batches side by side).
4. **Cost, the whole command** as a user times it (``bench/student.py``'s ``timed_command``): ``sxhub predict --onnx
   --int8`` and ``... --no-recheck`` on the 29,560 sentences of the four PhraseBank files twice over, in turn.

    .venv/bin/python bench/recheck.py --model DIR   # about 10 minutes on 2 quiet cores
    .venv/bin/python bench/recheck.py --quick       # a smoke run (fewer texts, 1 round)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from graph import trained_student
from student import (
    DATA,
    FPB_LABELS,
    RESULTS,
    THREADS,
    phrasebank_texts,
    served_half,
    timed_command,
    train_split_csv,
    versions_line,
    wait_for_quiet,
)

QUANTILES = (0.9, 0.95, 0.98, 0.99, 0.995, 0.999)


def cpu_line() -> str:
    """The CPU and whether it has the int8 instructions (VNNI) and tiles (AMX): int8's speed against fp32 depends on
    them (ONNX Runtime's int8 products ran 3x faster on AMX's tiles than on the VNNI of another 2-core machine)."""
    flags = set()
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name") and model == "unknown CPU":
            model = line.split(":", 1)[1].strip()
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    vnni = "avx512_vnni" in flags or "avx_vnni" in flags
    amx = "amx_int8" in flags
    return (
        f"{model}, AVX-512: {'yes' if 'avx512f' in flags else 'no'}, VNNI: {'yes' if vnni else 'no'}, "
        f"AMX: {'yes' if amx else 'no'}"
    )


def scored(fp32: np.ndarray, probs: np.ndarray, gold: list[str]) -> dict[str, Any]:
    from sxhub.metrics import score

    pred = [FPB_LABELS[j] for j in probs.argmax(axis=1)]
    return {
        "agreement_with_fp32": round(float((probs.argmax(1) == fp32.argmax(1)).mean()), 5),
        "accuracy_vs_experts": round(float(score(gold, pred, FPB_LABELS, False)["accuracy"]), 4),
    }


def fidelity(model_dir: Path, texts: list[str], gold: list[str], fitting: list[str]) -> dict[str, Any]:
    """fp32, int8 alone and int8 with each quantile's margin over ``texts``; the margins fitted on ``fitting``. Texts
    are cleaned and batched as ``sxhub predict`` cleans and batches them."""
    from sxhub.activations import softmax
    from sxhub.export import onnx_logits
    from sxhub.onnx_runtime import decision_margins, decision_shifts
    from sxhub.predict import Predictor

    record = json.loads((model_dir / "sxhub.json").read_text())["export"]["variants"]["onnx-int8"]
    fp32_path, int8_path = model_dir / "onnx" / "model.onnx", model_dir / "onnx" / "model_int8.onnx"
    fp32, int8 = onnx_logits(model_dir, fp32_path, texts), onnx_logits(model_dir, int8_path, texts)
    p32 = softmax(fp32)
    shifts = decision_shifts(
        onnx_logits(model_dir, fp32_path, fitting), onnx_logits(model_dir, int8_path, fitting), False
    )
    margins = decision_margins(int8)
    out: dict[str, Any] = {
        "n": len(texts),
        "fp32": scored(p32, p32, gold),
        "int8_alone": scored(p32, softmax(int8), gold),
    }
    out["margins"] = {}
    for q in QUANTILES:
        margin = float(np.quantile(shifts, q))
        near = margins < margin
        mixed = np.where(near[:, None], fp32, int8)
        out["margins"][str(q)] = {"margin": round(margin, 4), "rerun": round(float(near.mean()), 4),
                                  **scored(p32, softmax(mixed), gold)}  # fmt: skip
    served = Predictor(model_dir, onnx=True, int8=True, threads=THREADS)  # the margin the export recorded
    probs = served.predict_proba(texts)
    out["served"] = {"margin": served.recheck_margin, "rerun": round(served.rechecked / len(texts), 4),
                     **scored(p32, probs, gold)}  # fmt: skip
    # what the export predicted for the served texts: the shifts of the fitting texts against those of these
    out["shift_quantiles"] = {
        "fitting": [round(float(v), 3) for v in np.quantile(shifts, [0.5, 0.9, 0.99, 0.999])],
        "these": [
            round(float(v), 3) for v in np.quantile(decision_shifts(fp32, int8, False), [0.5, 0.9, 0.99, 0.999])
        ],
    }
    out["export_record"] = record
    return out


def compute_only(model_dir: Path, texts: list[str], repeats: int) -> dict[str, Any]:
    """Texts/s in one warm process: int8 alone, int8 with its near-ties rerun, fp32; interleaved rounds."""
    from sxhub.predict import Predictor

    ways = {
        "int8_alone": Predictor(model_dir, onnx=True, int8=True, recheck=False, threads=THREADS),
        "int8_recheck": Predictor(model_dir, onnx=True, int8=True, threads=THREADS),
        "fp32": Predictor(model_dir, onnx=True, threads=THREADS),
    }
    for predictor in ways.values():
        predictor.predict_proba(texts[:256])
        if predictor.recheck_margin:
            predictor.load_recheck()
    prepared = {name: p.prepare(texts) for name, p in ways.items()}
    runs: dict[str, list[float]] = {name: [] for name in ways}
    for round_ in range(repeats):
        for name in list(ways)[:: 1 if round_ % 2 == 0 else -1]:
            start = time.perf_counter()
            ways[name].prepared_proba(prepared[name])
            runs[name].append(round(len(texts) / (time.perf_counter() - start), 1))
    rerun = ways["int8_recheck"].rechecked / (len(texts) * repeats + 256)
    return {"n_texts": len(texts), "texts_per_second": runs, "rerun": round(rerun, 4)}


def whole_command(model_dir: Path, work: Path, n: int, repeats: int, quiet_wait: float) -> dict[str, Any]:
    texts = phrasebank_texts()
    source = work / "speed_input.csv"
    pd.DataFrame({"text": (texts * (n // len(texts) + 1))[:n]}).to_csv(source, index=False)
    commands = {"int8_recheck": ["--onnx", "--int8"], "int8_alone": ["--onnx", "--int8", "--no-recheck"]}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in commands}
    labels: dict[str, list[str]] = {}
    for round_ in range(repeats):
        for name in list(commands)[:: 1 if round_ % 2 == 0 else -1]:
            out = work / f"{name}.csv"
            base = [sys.executable, "-m", "sxhub", "-q", "predict", str(model_dir), str(source), "-o", str(out)]
            wait_for_quiet(quiet_wait)
            runs[name].append(timed_command([*base, "--threads", str(THREADS), *commands[name]], n))
            labels[name] = pd.read_csv(out)["label"].tolist()
    changed = sum(a != b for a, b in zip(labels["int8_recheck"], labels["int8_alone"], strict=True))
    return {"n_texts": n, "runs": runs, "labels_changed_by_the_rerun": changed}


def median(values: list[float]) -> float:
    return float(np.median(values))


def markdown(results: dict[str, Any]) -> str:
    fid, served = results["fidelity"], results["served_half"]
    lines = [
        "# int8 with its near-ties rerun in fp32",
        "",
        f"Run {results['date']}; {results['versions']}; {results['cpu']}; {THREADS} threads. How it was run: the "
        "docstring of `bench/recheck.py`. One PhraseBank student trained on the all-agree training split "
        f"({results.get('student', '3 epochs')}), exported with `sxhub export --int8 --data <training split>`: per-channel int8, recheck margin "
        f"{fid['served']['margin']:.3f} logits (the {results['quantile']} quantile of how far int8 moved the decision "
        f"margins of {fid['export_record']['recheck']['fitted_on']} training texts outside the check).",
        "",
        f"## Fidelity over the full PhraseBank ({fid['n']:,} sentences, 50agree)",
        "",
        "| int8 as served | texts rerun in fp32 | labels identical to fp32 | accuracy vs experts |",
        "|---|---:|---:|---:|",
        f"| fp32 (reference) | | 100.00% | {fid['fp32']['accuracy_vs_experts']:.4f} |",
        f"| int8 alone (`--no-recheck`) | 0 | {fid['int8_alone']['agreement_with_fp32']:.2%} | "
        f"{fid['int8_alone']['accuracy_vs_experts']:.4f} |",
        f"| **int8, near-ties rerun (`sxhub predict --onnx --int8`; margin {fid['served']['margin']:.3f})** | "
        f"**{fid['served']['rerun']:.2%}** | **{fid['served']['agreement_with_fp32']:.2%}** | "
        f"{fid['served']['accuracy_vs_experts']:.4f} |",
    ]
    for q, row in fid["margins"].items():
        lines.append(f"| margin at quantile {q} ({row['margin']:.3f}) | {row['rerun']:.2%} | "
                     f"{row['agreement_with_fp32']:.2%} | {row['accuracy_vs_experts']:.4f} |")  # fmt: skip
    lines += [
        "",
        f"**Given served-like texts** (`--data`: a seeded half of the 50agree sentences, no labels): the export kept "
        f"`{served['quantization']}` with margin {served['margin']:.3f}; on the {served['unseen']['n']:,} sentences it "
        f"never saw, int8 alone gave fp32's label on {served['unseen']['alone']['agreement_with_fp32']:.2%}, int8 as "
        f"served on {served['unseen']['served']['agreement_with_fp32']:.2%}, rerunning "
        f"{served['unseen']['served']['rerun']:.2%} of them.",
        "",
    ]
    comp = results["compute_only"]
    rates = {k: median(v) for k, v in comp["texts_per_second"].items()}
    lines += [
        f"## Cost, compute only ({comp['n_texts']:,} sentences, one warm process, median of "
        f"{len(comp['texts_per_second']['fp32'])} interleaved rounds)",
        "",
        "| runtime | texts/s (each round) | median |",
        "|---|---|---:|",
    ]
    for name, values in comp["texts_per_second"].items():
        lines.append(f"| {name} | {', '.join(f'{v:,.0f}' for v in values)} | {rates[name]:,.0f} |")
    cost = 1 - rates["int8_recheck"] / rates["int8_alone"]
    if comp.get("margin") and comp["margin"] != fid["served"]["margin"]:
        lines += ["", f"Timed with margin {comp['margin']:.3f}: {comp.get('note', '')}."]
    lines += [
        "",
        f"Rerunning {comp['rerun']:.2%} of the texts cost {cost:.1%} of int8's throughput here; the arithmetic "
        f"predicts {comp['rerun'] * rates['int8_alone'] / rates['fp32']:.1%} (the share rerun times int8's speed over "
        "fp32's).",
        "",
    ]
    whole = results.get("whole_command")
    if whole:
        lines += [
            f"## Cost, the whole command ({whole['n_texts']:,} sentences, startup, reading and writing included)",
            "",
            "| command | texts/s (each round) | median | CPU-time texts/s x 2 (median) |",
            "|---|---|---:|---:|",
        ]
        for name, runs in whole["runs"].items():
            wall = [r["texts_per_second"] for r in runs]
            cpu = [r["texts_per_cpu_second_x_threads"] for r in runs]
            args = "--onnx --int8" + (" --no-recheck" if name == "int8_alone" else "")
            lines.append(f"| `sxhub predict {args}` | {', '.join(f'{v:,.0f}' for v in wall)} | {median(wall):,.0f} | "
                         f"{median(cpu):,.0f} |")  # fmt: skip
        lines += [
            "",
            f"Labels the rerun changed: {whole['labels_changed_by_the_rerun']:,} of {whole['n_texts']:,}.",
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="A PhraseBank student of bench/student.py's split [train one].")
    parser.add_argument("--quick", action="store_true", help="A smoke run: fewer texts, one round.")
    parser.add_argument("--repeats", type=int, default=5, help="Interleaved rounds of the compute-only timing.")
    parser.add_argument("--whole-repeats", type=int, default=3, help="Interleaved rounds of the whole command.")
    parser.add_argument("--n", type=int, default=29_560, help="Sentences for the whole-command timing.")
    parser.add_argument("--quiet-wait", type=float, default=300, help="Seconds to wait for a load under 2 per timing.")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--fidelity-only", action="store_true", help="Remake parts 1-2; keep the timings on file.")
    args = parser.parse_args()
    from sxhub.export import RECHECK_QUANTILE, check_sample, export_onnx

    with tempfile.TemporaryDirectory(prefix="sxhub-recheck-") as tmp:
        work = Path(tmp)
        train_csv = train_split_csv(work / "fpb_train.csv")
        model_dir = args.model or trained_student(work, train_csv)
        gold = pd.read_csv(DATA / "financial_phrasebank" / "sentences_50agree.csv", dtype=str)
        texts, labels = gold["sentence"].tolist(), gold["label"].tolist()
        if args.quick:
            texts, labels = texts[:600], labels[:600]
        results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "versions": versions_line("onnxruntime", "onnx"),
                                   "cpu": cpu_line(), "quantile": RECHECK_QUANTILE}  # fmt: skip
        trained = json.loads((model_dir / "sxhub.json").read_text()).get("train") or {}
        results["student"] = f"{trained.get('epochs', 0):g} epochs" + (
            "" if args.model is None else ", given with --model"
        )

        # served-like texts first: the export made from the training split is the one every later part measures
        served_csv, unseen = served_half(texts, work / "served_half.csv")
        exported = export_onnx(model_dir, int8=True, data=served_csv)
        from sxhub.predict import Predictor

        fp32 = Predictor(model_dir, onnx=True, threads=THREADS).predict_proba(texts)  # cleaned as predict cleans
        alone = Predictor(model_dir, onnx=True, int8=True, recheck=False, threads=THREADS).predict_proba(texts)
        served = Predictor(model_dir, onnx=True, int8=True, threads=THREADS)
        probs = served.predict_proba([texts[i] for i in unseen])
        gold_unseen = [labels[i] for i in unseen]
        results["served_half"] = {
            "quantization": exported.quantization,
            "margin": (exported.recheck or {}).get("margin") or 0.0,
            "unseen": {
                "n": len(unseen),
                "alone": scored(fp32[unseen], alone[unseen], gold_unseen),
                "served": {
                    **scored(fp32[unseen], probs, gold_unseen),
                    "rerun": round(served.rechecked / len(unseen), 4),
                },
            },
        }

        exported = export_onnx(model_dir, int8=True, data=train_csv)
        _, _, fitting = check_sample(model_dir, {}, data=train_csv, text_column=None, n=1000)
        results["fidelity"] = fidelity(model_dir, texts, labels, fitting)
        everything = phrasebank_texts()
        if args.fidelity_only:
            kept = json.loads((args.out / "recheck.json").read_text())
            results["compute_only"], results["whole_command"] = kept["compute_only"], kept["whole_command"]
            results["timings_from"] = kept.get("timings_from") or kept["date"]
        else:
            results["timings_from"] = results["date"]
            results["compute_only"] = compute_only(model_dir, everything[:3000] if args.quick else everything,
                                               1 if args.quick else args.repeats)  # fmt: skip
            results["whole_command"] = whole_command(model_dir, work, 2000 if args.quick else args.n,
                                                     1 if args.quick else args.whole_repeats, args.quiet_wait)  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "recheck_quick" if args.quick else "recheck"
    (args.out / f"{stem}.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (args.out / f"{stem}.md").write_text(markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
