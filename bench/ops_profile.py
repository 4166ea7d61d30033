"""Where the exported student's time goes, op by op: ONNX Runtime's own profiler over the int8 and fp32 graphs that
``sxhub export`` wrote (``onnx/model_int8.onnx`` and ``onnx/model.onnx``), so that a speed goal can be chased where
the time is, not where it is guessed. Written to bench/results/ops_profile.{json,md}.

PhraseBank's 50agree sentences (the first ``--n``), tokenized with the model's ``tokenizer.json`` and cut at its
``max_length``, run in length-sorted batches of ``--batch`` on one thread (``--threads``); each op type's share of
the summed kernel time, and the texts/s of that loop (no file I/O, no near-ties rerun). The torch model as ``sxhub
predict`` runs it in fp32 (its last layer for the first token) is profiled the same way with torch's profiler, with
the rate its products ran at. The tokenizer's own rate (one ``encode_batch`` call) is given beside it. Speed does not depend on the weights: any student exported with
``sxhub export --int8`` will do.

    .venv/bin/python bench/ops_profile.py --model DIR   # about a minute
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results"
# the int8 graph's products: activations quantized per batch, then integer products turned back to float
INT8_PRODUCTS = {"DynamicQuantizeMatMul", "MatMulIntegerToFloat", "DynamicQuantizeLinear", "MatMulInteger"}


def cpu() -> str:
    """The CPU's name and the int8/bf16 units it has, from /proc/cpuinfo."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    name = re.search(r"model name\s*:\s*(.*)", info)
    flags = set((re.search(r"flags\s*:\s*(.*)", info) or [None, ""])[1].split())
    units = [f for f in ("avx512_vnni", "avx512_bf16", "amx_int8", "amx_bf16") if f in flags]
    return f"{name[1] if name else 'unknown'} ({', '.join(units) or 'no VNNI, BF16 or AMX'})"


def profile(graph: Path, batches: list[dict[str, np.ndarray]], threads: int) -> dict[str, Any]:
    """Each op type's share of the kernel time over ``batches``, and the loop's texts/s."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory(prefix="sxhub-ops-") as tmp:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "profile")
        session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        wanted = {i.name for i in session.get_inputs()}
        session.run(None, {k: v for k, v in batches[0].items() if k in wanted})  # warm-up (profiled, small)
        start = time.perf_counter()
        for feed in batches:
            session.run(None, {k: v for k, v in feed.items() if k in wanted})
        seconds = time.perf_counter() - start
        events = json.loads(Path(session.end_profiling()).read_text())
    kernel: collections.Counter[str] = collections.Counter()
    for event in events:
        if event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time"):
            kernel[event["args"]["op_name"]] += event["dur"]
    total = sum(kernel.values())
    texts = sum(len(feed["input_ids"]) for feed in batches)
    return {
        "texts_per_s": round(texts / seconds, 1),
        "share": {op: round(us / total, 4) for op, us in kernel.most_common()},
        "int8_products_share": round(sum(us for op, us in kernel.items() if op in INT8_PRODUCTS) / total, 4),
    }


def linear_macs(config: dict[str, Any], batch: dict[str, np.ndarray]) -> float:
    """The multiply-adds of the student's linear layers on one padded batch, as :mod:`sxhub.cls_only` runs it: every
    layer but the last for every token, the last one's keys and values for every token and the rest (query, output
    projection, feed-forward) for the first, then the pooler."""
    h, ff, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    n, tokens = batch["input_ids"].shape
    layer = 4 * h * h + 2 * h * ff
    return float(n * (tokens * ((layers - 1) * layer + 2 * h * h) + 2 * h * h + 2 * h * ff + h * h))


def torch_profile(model_dir: Path, batches: list[dict[str, np.ndarray]], threads: int) -> dict[str, Any]:
    """torch's own profiler over the student as ``sxhub predict`` runs it in fp32 (:class:`sxhub.cls_only.ClsOnly`):
    each op's share of the summed self time, the loop's texts/s, and the rate of its products (``addmm``/``mm``)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from sxhub.cls_only import ClsOnly
    from sxhub.predict import load_student

    torch.set_num_threads(threads)
    model = ClsOnly(load_student(model_dir).eval()).eval()
    feeds = [{k: torch.as_tensor(v) for k, v in feed.items()} for feed in batches]
    with torch.inference_mode():
        model(**feeds[0])  # warm-up
        start = time.perf_counter()
        for feed in feeds:
            model(**feed)
        seconds = time.perf_counter() - start
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for feed in feeds:
                model(**feed)
    self_us = {e.key: e.self_cpu_time_total for e in prof.key_averages() if e.self_cpu_time_total > 0}
    total = sum(self_us.values())
    products = sum(us for op, us in self_us.items() if op in ("aten::addmm", "aten::mm"))
    config = json.loads((model_dir / "config.json").read_text())
    macs = sum(linear_macs(config, feed) for feed in batches)
    texts = sum(len(feed["input_ids"]) for feed in batches)
    return {
        "texts_per_s": round(texts / seconds, 1),
        "share": {op: round(us / total, 4) for op, us in sorted(self_us.items(), key=lambda kv: -kv[1])},
        "products_share": round(products / total, 4),
        "products_gmacs_per_core": round(macs / (products / 1e6) / 1e9 / threads, 1),
        "products_alone_texts_per_s": round(texts / (products / 1e6), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="A student folder with onnx/ (sxhub export --int8).")
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    from tokenizers import Tokenizer

    texts = pd.read_csv(DATA / "financial_phrasebank" / "sentences_50agree.csv", dtype=str)["sentence"].tolist()
    texts = texts[: args.n]
    info = json.loads((args.model / "sxhub.json").read_text())
    tokenizer = Tokenizer.from_file(str(args.model / "tokenizer.json"))
    tokenizer.enable_truncation(int(info.get("max_length") or 128))
    start = time.perf_counter()
    encoded = tokenizer.encode_batch(texts)
    tokenize = len(texts) / (time.perf_counter() - start)
    order = np.argsort([len(e.ids) for e in encoded], kind="stable")
    batches = []
    for i in range(0, len(order), args.batch):
        rows = [encoded[j].ids for j in order[i : i + args.batch]]
        ids = np.zeros((len(rows), max(map(len, rows))), dtype=np.int64)
        mask = np.zeros_like(ids)
        for r, row in enumerate(rows):
            ids[r, : len(row)], mask[r, : len(row)] = row, 1
        batches.append({"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})
    import onnxruntime as ort

    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": cpu(),
        "onnxruntime": ort.__version__,
        "model": {
            "layers": json.loads((args.model / "config.json").read_text()).get("num_hidden_layers"),
            "max_length": int(info.get("max_length") or 128),
            "int8_recipe": ((info.get("export") or {}).get("variants") or {}).get("onnx-int8", {}).get("quantization"),
            "last_layer": (info.get("export") or {}).get("last_layer"),
        },
        "n": len(texts),
        "batch": args.batch,
        "threads": args.threads,
        "tokenize_texts_per_s": round(tokenize),
        "graphs": {
            name: profile(args.model / "onnx" / file, batches, args.threads)
            for name, file in (("int8", "model_int8.onnx"), ("fp32", "model.onnx"))
        },
    }
    import torch

    results["torch"] = torch.__version__
    results["graphs"]["torch"] = torch_profile(args.model, batches, args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ops_profile.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [
        "# Where the exported student's time goes, op by op (`bench/ops_profile.py`)",
        "",
        f"{results['date']}: {results['cpu']}; onnxruntime {results['onnxruntime']}, torch {results['torch']}; "
        f"{results['n']:,} PhraseBank "
        f"sentences in length-sorted batches of {args.batch}, {args.threads} thread(s). How it was run: the docstring "
        "of `bench/ops_profile.py`. "
        f"The student: {results['model']['layers']} layers, cut at {results['model']['max_length']} tokens, int8 "
        f"recipe `{results['model']['int8_recipe']}`, last layer: {results['model']['last_layer'] or 'every token'}.",
        "",
    ]
    for name, graph in results["graphs"].items():
        lines += [
            f"## {name}: {graph['texts_per_s']:,.0f} texts/s in this loop"
            + (
                f"; its int8 products take {graph['int8_products_share']:.0%} of the kernel time"
                if name == "int8"
                else f"; its products (`addmm`, `mm`) take {graph['products_share']:.0%} of the ops' time, at "
                f"{graph['products_gmacs_per_core']:,.1f} GMAC/s a core (alone they would allow "
                f"{graph['products_alone_texts_per_s']:,.0f} texts/s)"
                if name == "torch"
                else ""
            ),
            "",
            "| op type | share of kernel time |",
            "|---|---:|",
            *(f"| {op} | {share:.1%} |" for op, share in graph["share"].items() if share >= 0.001),
            "",
        ]
    lines.append(
        f"The tokenizer (one `encode_batch` call, its own threads): {results['tokenize_texts_per_s']:,} texts/s."
    )
    (args.out / "ops_profile.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
