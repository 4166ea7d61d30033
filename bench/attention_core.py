"""Would fusing the attention core help the int8 student? ONNX Runtime's ``MultiHeadAttention`` contrib kernel in
place of the score MatMuls, Softmax and Transposes that ``sxhub export`` leaves unfused, its Q/K/V projections still
MatMuls quantized per channel like the rest; written to bench/results/attention_core.{json,md}.

``bench/graph.py`` compared the unfused graph with the fully fused one (``Attention``, which the quantizer turns into
``QAttention``); this is the step between them. From the fp32 graph of an exported student (``onnx/model.onnx``,
LayerNorm and GELU fused), the optimizer's BERT rules with ``use_multi_head_attention`` fuse the attention core of
every layer whose attention reads every token (not the first-token last layer); both graphs are then quantized with
the same per-channel recipe (:func:`sxhub.quantize.quantize_int8`). The first ``--n`` PhraseBank 50agree sentences,
cut at the student's ``max_length``, run in length-sorted batches of 64 on one thread, the graphs in turn for
``--rounds`` rounds; the rate is texts per CPU-second of the running thread (``time.thread_time``: what other work on
the machine takes is not counted). Also the share of the unfused int8 graph's kernel time its int8 products take
(ONNX Runtime's profiler), and the labels each graph gives against the fp32 graph.

    .venv/bin/python bench/attention_core.py --model DIR   # a student exported with sxhub export --int8; ~2 minutes
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from ops_profile import INT8_PRODUCTS, cpu
from student import RESULTS, phrasebank_texts, versions_line


def batches(model_dir: Path, texts: list[str], size: int = 64) -> list[dict[str, np.ndarray]]:
    from sxhub.model_info import read_model_info
    from sxhub.onnx_runtime import load_tokenizer, pad_token_id

    tokenizer = load_tokenizer(model_dir, read_model_info(model_dir).max_length)
    pad = pad_token_id(model_dir, tokenizer)
    ids = sorted((e.ids for e in tokenizer.encode_batch(texts)), key=len)
    out = []
    for start in range(0, len(ids), size):
        rows = ids[start : start + size]
        width = max(map(len, rows))
        input_ids = np.full((len(rows), width), pad, dtype=np.int64)
        mask = np.zeros_like(input_ids)
        for r, row in enumerate(rows):
            input_ids[r, : len(row)], mask[r, : len(row)] = row, 1
        out.append({"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)})
    return out


def session(path: Path, profile: str | None = None) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if profile:
        options.enable_profiling, options.profile_file_prefix = True, profile
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run(sess: Any, feeds: list[dict[str, np.ndarray]]) -> np.ndarray:
    names = [i.name for i in sess.get_inputs()]
    return np.concatenate([sess.run(None, {n: f[n] for n in names})[0] for f in feeds])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="A student folder exported with sxhub export.")
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    from sxhub.quantize import quantize_int8

    config = json.loads((args.model / "config.json").read_text())
    feeds = batches(args.model, phrasebank_texts()[: args.n])
    n = sum(len(f["input_ids"]) for f in feeds)
    with tempfile.TemporaryDirectory(prefix="sxhub-mha-") as tmp:
        work, fp32 = Path(tmp), args.model / "onnx" / "model.onnx"
        options = FusionOptions("bert")
        options.enable_skip_layer_norm = options.enable_bias_gelu = options.enable_embed_layer_norm = False
        options.enable_attention, options.use_multi_head_attention = True, True
        with contextlib.redirect_stdout(io.StringIO()):
            fused = optimize_model(
                str(fp32),
                model_type="bert",
                num_heads=int(config["num_attention_heads"]),
                hidden_size=int(config["hidden_size"]),
                opt_level=0,
                use_gpu=False,
                optimization_options=options,
            )
        n_fused = int(fused.get_fused_operator_statistics().get("MultiHeadAttention", 0))
        fused.save_model_to_file(str(work / "mha.onnx"))
        graphs = {"fp32": fp32, "int8_unfused": work / "unfused_int8.onnx", "int8_mha": work / "mha_int8.onnx"}
        quantize_int8(fp32, graphs["int8_unfused"], method="per-channel")
        quantize_int8(work / "mha.onnx", graphs["int8_mha"], method="per-channel")
        sessions = {name: session(path) for name, path in graphs.items()}
        rates: dict[str, list[float]] = {name: [] for name in graphs}
        logits: dict[str, np.ndarray] = {}
        for _ in range(args.rounds):
            for name, sess in sessions.items():
                start = time.thread_time()
                logits[name] = run(sess, feeds)
                rates[name].append(round(n / (time.thread_time() - start), 1))
        profiled = session(graphs["int8_unfused"], profile=str(work / "profile"))
        run(profiled, feeds)
        kernel: collections.Counter[str] = collections.Counter()
        for event in json.loads(Path(profiled.end_profiling()).read_text()):
            if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
                kernel[event["args"]["op_name"]] += event["dur"]
    total = sum(kernel.values())
    results = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": cpu(),
        "versions": versions_line("onnxruntime", "onnx"),
        "n_texts": n,
        "load": round(os.getloadavg()[0], 2),
        "mha_layers_fused": n_fused,
        "texts_per_cpu_second": rates,
        "median": {name: float(np.median(r)) for name, r in rates.items()},
        "same_labels_as_fp32": {
            name: float(np.mean(v.argmax(1) == logits["fp32"].argmax(1))) for name, v in logits.items()
        },
        "int8_unfused_kernel_shares": {op: round(t / total, 4) for op, t in kernel.most_common()},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "attention_core.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "attention_core.md").write_text(markdown(results))
    print(markdown(results))


def markdown(r: dict[str, Any]) -> str:
    shares = r["int8_unfused_kernel_shares"]
    products = sum(v for op, v in shares.items() if op in INT8_PRODUCTS)
    rate = r["median"]["int8_unfused"]
    lines = [
        "# Would fusing the attention core help the int8 student? (`bench/attention_core.py`)",
        "",
        f"{r['date']}: {r['cpu']}; {r['versions']}; {r['n_texts']:,} PhraseBank sentences in length-sorted batches of "
        f"64, one thread, texts per CPU-second of that thread (1-minute load average {r['load']} on 2 cores when it "
        "ended: other work shared the machine, which slows a thread's CPU-second too, through the caches). The "
        "student: a 6-layer PhraseBank student exported by `sxhub export --int8`. How it was run: the docstring of "
        f"`bench/attention_core.py`. `MultiHeadAttention` fused in {r['mha_layers_fused']} layers (the first-token "
        "last layer is left as it is).",
        "",
        "| graph | texts per CPU-second (each round) | median | labels identical to fp32 |",
        "|---|---|---:|---:|",
    ]
    for name, rates in r["texts_per_cpu_second"].items():
        same = r["same_labels_as_fp32"][name]
        lines.append(f"| {name} | {', '.join(f'{x:.0f}' for x in rates)} | {r['median'][name]:.0f} | {same:.2%} |")
    lines += [
        "",
        f"The unfused int8 graph spends {products:.0%} of its kernel time in its int8 products, so they alone run at "
        f"about {rate / products:,.0f} texts per CPU-second; the rest of its kernel time: "
        + ", ".join(f"{op} {v:.1%}" for op, v in shares.items() if op not in INT8_PRODUCTS and v >= 0.01)
        + ".",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
