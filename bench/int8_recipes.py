"""Which int8 recipe keeps fp32's labels, and at what speed: the alternatives issue #9 asks to measure.

On one PhraseBank student (``--model``, e.g. the one ``bench/student.py`` trains) and the full PhraseBank (4,846
sentences, 50agree), each recipe's share of labels identical to the fp32 ONNX model, its accuracy against the experts
and its speed (texts per CPU-second x 2 threads, in one process, after a warm-up batch):

- ``dynamic`` and ``per-channel``: onnxruntime's dynamic int8 (``sxhub export --quantization``);
- ``per-channel, k most sensitive in fp32``: each quantizable node is quantized alone on a 800-sentence sample and
  ranked by how far it moves the probabilities; the k worst stay fp32 (onnxruntime ``nodes_to_exclude``);
- ``weight-only int8 (MatMulNBits)``: 8-bit block-wise weights with int8 compute on blocks of 32 activations
  (``accuracy_level=4``): activations are quantized per block of one row, not per tensor, and the fused attention
  stays fp32 or gets dynamic int8.

    .venv/bin/python bench/int8_recipes.py --model DIR     # about 15 minutes on 2 quiet cores

Writes bench/results/int8_recipes.{json,md}.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results"
LABELS = ["positive", "neutral", "negative"]
THREADS = 2
EXTRA = {"DefaultTensorType": 1}  # onnx.TensorProto.FLOAT: the fused contrib ops are not typed by shape inference


def dynamic(source: Path, target: Path, **kwargs: Any) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, extra_options=EXTRA, **kwargs)


def weight_only(source: Path, target: Path, *, attention: bool) -> None:
    from onnxruntime.quantization.matmul_nbits_quantizer import DefaultWeightOnlyQuantConfig, MatMulNBitsQuantizer

    config = DefaultWeightOnlyQuantConfig(block_size=32, is_symmetric=True, accuracy_level=4, bits=8)
    quantizer = MatMulNBitsQuantizer(str(source), algo_config=config)
    quantizer.process()
    middle = target.with_suffix(".nbits.onnx")
    quantizer.model.save_model_to_file(str(middle), use_external_data_format=False)
    if attention:
        dynamic(middle, target, per_channel=True, op_types_to_quantize=["Attention"])
        middle.unlink()
    else:
        os.replace(middle, target)


class Bench:
    def __init__(self, model_dir: Path, work: Path) -> None:
        from sxhub.predict import Predictor

        self.model_dir, self.work = model_dir, work
        frame = pd.read_csv(DATA / "financial_phrasebank" / "sentences_50agree.csv", dtype=str)
        self.texts, self.gold = frame["sentence"].tolist(), frame["label"].tolist()
        self.folder = work / "variant"
        (self.folder / "onnx").mkdir(parents=True, exist_ok=True)
        for name in ("config.json", "sxhub.json", "tokenizer.json", "tokenizer_config.json"):
            if (model_dir / name).is_file():
                shutil.copy(model_dir / name, self.folder / name)
        self.source = model_dir / "onnx" / "model.onnx"
        self.reference = self.timed(Predictor(model_dir, onnx=True, threads=THREADS))[0]
        self.sample = np.sort(np.random.default_rng(0).choice(len(self.texts), 800, replace=False))

    def timed(self, predictor: Any, idx: np.ndarray | None = None) -> tuple[np.ndarray, float]:
        texts = self.texts if idx is None else [self.texts[i] for i in idx]
        predictor.predict_proba(texts[:64])
        start = time.process_time()
        probs = predictor.predict_proba(texts)
        return probs, round(len(texts) / max(time.process_time() - start, 1e-9) * THREADS, 1)

    def variant(self, build: Any, idx: np.ndarray | None = None) -> dict[str, Any]:
        from sxhub.predict import Predictor

        build(self.source, self.folder / "onnx" / "model_int8.onnx")
        probs, speed = self.timed(Predictor(self.folder, onnx=True, int8=True, threads=THREADS), idx)
        reference = self.reference if idx is None else self.reference[idx]
        gold = self.gold if idx is None else [self.gold[i] for i in idx]
        return {
            "agreement": round(float((probs.argmax(1) == reference.argmax(1)).mean()), 4),
            "accuracy_vs_experts": round(
                float(np.mean([LABELS[j] == g for j, g in zip(probs.argmax(1), gold, strict=True)])), 4
            ),
            "mean_abs_prob_shift": round(float(np.abs(probs - reference).mean()), 5),
            "texts_per_cpu_second_x_threads": speed,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="A PhraseBank student with onnx/model.onnx.")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--keep", type=int, nargs="+", default=[3, 6, 9, 12])
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sxhub.predict import Predictor
    from sxhub.quantize import quantizable_nodes

    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "onnxruntime": importlib.metadata.version("onnxruntime"),
        "load_average_at_start": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory(prefix="sxhub-int8-") as tmp:
        bench = Bench(args.model, Path(tmp))
        _, results["fp32_texts_per_cpu_second_x_threads"] = bench.timed(
            Predictor(args.model, onnx=True, threads=THREADS)
        )
        rows: dict[str, Any] = {}
        rows["dynamic"] = bench.variant(lambda s, t: dynamic(s, t, per_channel=False))
        rows["per-channel"] = bench.variant(lambda s, t: dynamic(s, t, per_channel=True))
        nodes = quantizable_nodes(bench.source)
        shift = {}
        for node in nodes:  # each node quantized alone, on the sample
            figures = bench.variant(
                lambda s, t, n=node: dynamic(s, t, per_channel=True, nodes_to_quantize=[n]), bench.sample
            )
            shift[node] = figures["mean_abs_prob_shift"]
        order = sorted(nodes, key=lambda n: -shift[n])
        results["sensitivity"] = {n: shift[n] for n in order}
        for k in args.keep:
            rows[f"per-channel, {k} most sensitive in fp32"] = {
                **bench.variant(lambda s, t, k=k: dynamic(s, t, per_channel=True, nodes_to_exclude=order[:k])),
                "fp32_nodes": order[:k],
            }
        rows["weight-only int8 (MatMulNBits), attention fp32"] = bench.variant(
            lambda s, t: weight_only(s, t, attention=False)
        )
        rows["weight-only int8 (MatMulNBits), attention dynamic int8"] = bench.variant(
            lambda s, t: weight_only(s, t, attention=True)
        )
        results["recipes"] = rows
    results["load_average_at_end"] = os.getloadavg()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "int8_recipes.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "int8_recipes.md").write_text(markdown(results))
    print(markdown(results))


def markdown(results: dict[str, Any]) -> str:
    start, end = results["load_average_at_start"][0], results["load_average_at_end"][0]
    lines = [
        "# int8 recipes on the full PhraseBank (4,846 sentences, 50agree)",
        "",
        f"Run {results['date']}, onnxruntime {results['onnxruntime']}, 2 threads; 1-minute load average {start:.1f} "
        f"at the start and {end:.1f} at the end. How each recipe was built and measured: the docstring of "
        "`bench/int8_recipes.py`. fp32 ONNX runs at "
        f"{results['fp32_texts_per_cpu_second_x_threads']:,.0f} texts per CPU-second x 2.",
        "",
        "| recipe | labels identical to fp32 | accuracy vs experts | mean prob shift | texts/s (CPU time / 2) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in results["recipes"].items():
        lines.append(
            f"| {name} | {r['agreement']:.2%} | {r['accuracy_vs_experts']:.4f} | {r['mean_abs_prob_shift']:.4f} | "
            f"{r['texts_per_cpu_second_x_threads']:,.0f} |"
        )
    ranked = list(results["sensitivity"])[:6]
    lines += ["", "Most sensitive nodes (quantized alone): " + ", ".join(f"`{n}`" for n in ranked) + "."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
