"""Can torch's fp32 path reach issue 9's 400 texts/s without changing the arithmetic? The student's forward as
``sxhub predict`` runs it (:class:`sxhub.cls_only.ClsOnly`, fp32, length-sorted batches) against the ways torch offers
to run the same function faster on a CPU, each timed in the same process in alternating rounds (so that other work
on a shared machine weighs on both alike), with the largest logit difference from eager:

- ``torchscript``: ``torch.jit.trace`` + ``torch.jit.freeze`` + ``torch.jit.optimize_for_inference`` (oneDNN
  weight layouts and fusions for CPU);
- ``mkl_packed``: every ``Linear`` through MKL's packed-weight sgemm (``torch.ops.mkl._mkl_linear``, what
  inductor's weight prepacking uses for fp32);
- ``onednn_packed``: every ``Linear`` through oneDNN with its weight reordered once
  (``torch.ops.mkldnn._linear_pointwise``);
- ``compile``: ``torch.compile`` (inductor, ``freezing``, dynamic shapes), with its compile time, which a whole
  command would pay (about a minute here) unless inductor's on-disk cache holds it.

The tokenizer and padding are done once beforehand (they take about 1% of predict's time); only the forward is
timed. Speed does not depend on the weights: any student folder will do. Written to
bench/results/torch_paths.{json,md}.

    .venv/bin/python bench/torch_paths.py --model DIR   # about 5 minutes
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def batches_of(model_dir: Path, n: int, batch: int) -> tuple[Any, list[tuple[Any, ...]]]:
    """The Predictor's ClsOnly module and ``n`` 50agree PhraseBank sentences as padded torch batches, as predict
    makes them (its tokenizer, truncation at the model's max_length, length-sorted)."""
    from sxhub.predict import Predictor

    texts = pd.read_csv(DATA / "financial_phrasebank" / "sentences_50agree.csv", dtype=str)["sentence"].tolist()[:n]
    predictor = Predictor(model_dir, threads=2, batch_size=batch)
    if predictor._cls_only is None:
        raise SystemExit(
            f"{model_dir}: not a BERT or RoBERTa classifier; ClsOnly (predict's torch path) cannot run it"
        )
    tokenizer = predictor.tokenizer
    encoded = tokenizer(texts, truncation=True, max_length=predictor.info.max_length)
    order = np.argsort([len(ids) for ids in encoded["input_ids"]], kind="stable")
    out = []
    for start in range(0, len(order), batch):
        idx = order[start : start + batch]
        padded = tokenizer.pad({k: [encoded[k][i] for i in idx] for k in encoded}, padding=True, return_tensors="pt")
        out.append((padded["input_ids"], padded["attention_mask"], padded.get("token_type_ids")))
    return predictor._cls_only, out


def swap_linears(module: Any, make: Any) -> None:
    import torch

    for name, child in module.named_children():
        if isinstance(child, torch.nn.Linear):
            setattr(module, name, make(child))
        else:
            swap_linears(child, make)


def variant(name: str, eager: Any, example: tuple[Any, ...]) -> tuple[Any, float]:
    """The forward of ``name`` and the seconds it took to build."""
    import torch

    start = time.perf_counter()
    model = copy.deepcopy(eager)
    if name == "torchscript":
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(model, example, check_trace=False, strict=False)
            model = torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))
    elif name == "mkl_packed":

        class MklLinear(torch.nn.Module):
            def __init__(self, linear: Any) -> None:
                super().__init__()
                self.weight, self.bias = linear.weight, linear.bias
                self.packed = torch.ops.mkl._mkl_reorder_linear_weight(linear.weight.detach(), 1024)

            def forward(self, x: Any) -> Any:
                flat = x.reshape(-1, x.shape[-1])
                out = torch.ops.mkl._mkl_linear(flat, self.packed, self.weight, self.bias, flat.shape[0])
                return out.reshape(*x.shape[:-1], -1)

        swap_linears(model, MklLinear)
    elif name == "onednn_packed":

        class OneDnnLinear(torch.nn.Module):
            def __init__(self, linear: Any) -> None:
                super().__init__()
                self.bias = linear.bias
                self.packed = torch.ops.mkldnn._reorder_linear_weight(linear.weight.detach(), None)

            def forward(self, x: Any) -> Any:
                return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "none", [], "")

        swap_linears(model, OneDnnLinear)
    elif name == "compile":
        import torch._inductor.config as inductor

        inductor.freezing = True
        model.compile(dynamic=True)
    with torch.inference_mode():
        model(*example)  # compile / first-call work belongs to the build time
    return model, time.perf_counter() - start


def timed(model: Any, batches: list[tuple[Any, ...]]) -> tuple[float, list[Any]]:
    import torch

    with torch.inference_mode():
        start = time.perf_counter()
        outs = [model(*b) for b in batches]
    return time.perf_counter() - start, outs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="A student folder (sxhub train).")
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=32, help="predict's default batch size")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--variants", nargs="+", default=["torchscript", "mkl_packed", "onednn_packed", "compile"])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    import torch
    from ops_profile import cpu

    torch.set_num_threads(2)
    eager, batches = batches_of(args.model, args.n, args.batch)
    n = sum(len(b[0]) for b in batches)
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": cpu(),
        "torch": torch.__version__,
        "threads": 2,
        "n": n,
        "batch": args.batch,
        "rounds": args.rounds,
        "variants": {},
    }
    for name in args.variants:
        try:
            model, build = variant(name, eager, batches[len(batches) // 2])
        except Exception as exc:  # a variant this torch build lacks is recorded, not fatal
            results["variants"][name] = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
            continue
        base_rates, rates, diff = [], [], 0.0
        for _ in range(args.rounds):  # alternating: a busy moment slows both
            seconds, reference = timed(eager, batches)
            base_rates.append(n / seconds)
            seconds, outs = timed(model, batches)
            rates.append(n / seconds)
            diff = max(diff, max(float((a - b).abs().max()) for a, b in zip(reference, outs, strict=True)))
        results["variants"][name] = {
            "build_s": round(build, 1),
            "eager_texts_per_s": round(statistics.median(base_rates), 1),
            "texts_per_s": round(statistics.median(rates), 1),
            "speedup": round(statistics.median(r / b for r, b in zip(rates, base_rates, strict=True)), 3),
            "max_logit_diff": diff,
            "load": round(os.getloadavg()[0], 2),
        }
        print(name, results["variants"][name], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "torch_paths.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "torch_paths.md").write_text(markdown(results))


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "# torch's fp32 forward, and the faster ways torch offers to run it (`bench/torch_paths.py`)",
        "",
        f"{results['date']}: {results['cpu']}; torch {results['torch']}, {results['threads']} threads; "
        f"{results['n']:,} PhraseBank 50agree sentences in length-sorted batches of {results['batch']}, the "
        "forward only (tokenized beforehand). Each variant is timed against eager in "
        f"{results['rounds']} alternating rounds in one process; the medians are given.",
        "",
        "| variant | texts/s | eager texts/s | speed-up (median of paired rounds) | largest logit difference | "
        "build s | load |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results["variants"].items():
        if "error" in r:
            lines.append(f"| {name} | failed: {r['error']} | | | | | |")
            continue
        lines.append(
            f"| {name} | {r['texts_per_s']:.0f} | {r['eager_texts_per_s']:.0f} | {r['speedup']:.2f}x | "
            f"{r['max_logit_diff']:.1e} | {r['build_s']} | {r['load']} |"
        )
    ran = {k: v for k, v in results["variants"].items() if "error" not in v}
    if ran:
        best = max(ran, key=lambda k: ran[k]["speedup"])
        r = ran[best]
        lines += [
            "",
            f"The fastest here: `{best}`, {r['speedup']:.2f}x eager's rate, after {r['build_s']} s of building that "
            "a whole `sxhub predict` command would pay on each run (unless it is cached). Issue 9's 400 texts/s for "
            "the whole torch command on 29,560 sentences leaves 74 s; with its 6 s of start-up, the forward must "
            "run at about 435 texts/s, about 1.3x the eager rate of `bench/results/student_amx.md` (334 in one "
            "process).",
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
