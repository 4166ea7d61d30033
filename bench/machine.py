"""How fast this machine multiplies today: the int8 and fp32 matrix products MiniLM's student is made of, timed
alone on one core with ONNX Runtime (the kernels ``sxhub predict --onnx`` runs), so that runs of the student's speed
on different days (or different machines behind the same CPU name) can be compared by what the CPU delivered, not
by its nominal clock. Written to bench/results/machine.{json,md}.

The shapes are the student's feed-forward and projection products for a length-sorted batch of 32 PhraseBank
sentences (about 30 tokens each): (960 x 384) @ (384 x 1536), (960 x 1536) @ (1536 x 384) and (960 x 384) @
(384 x 384). int8 is ``MatMulInteger`` with uint8 activations and int8 weights (the u8s8 kernels that per-channel
dynamic int8 uses; AVX-512 VNNI where the CPU has it); fp32 is ``MatMul``. Each is run for ``--seconds`` after a
warm-up; the figure is the median of ``--rounds`` rounds, in billions of multiply-adds a second (GMAC/s), and as
multiply-adds per cycle at the nominal clock. ``texts_per_s_2_cores`` turns it into the rate of a 282M
multiply-add text (the student's, first-token last layer) on 2 cores if the products were all it did.

    .venv/bin/python bench/machine.py            # about 30 seconds
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
SHAPES = ((960, 384, 1536), (960, 1536, 384), (960, 384, 384))  # M, K, N
MACS_PER_TEXT = 282e6  # bench/results/student.md: MiniLM-L6, 30.3 tokens, the last layer for the first token only


def cpu() -> dict[str, Any]:
    """The CPU's name, nominal clock and the flags that decide the int8 and bf16 kernels."""
    name, mhz = "unknown CPU", 0.0
    flags: set[str] = set()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and name == "unknown CPU":
            name = value.strip()
        elif key == "cpu MHz" and not mhz:
            mhz = float(value)
        elif key == "flags" and not flags:
            flags = set(value.split())
    return {
        "name": name,
        "ghz": round(mhz / 1000, 2),
        "avx512_vnni": "avx512_vnni" in flags,
        "avx512_bf16": "avx512_bf16" in flags,
    }


def product_session(m: int, k: int, n: int, int8: bool) -> tuple[Any, dict[str, np.ndarray]]:
    """A one-node ONNX graph (``MatMulInteger`` or ``MatMul``) on one thread, and a random feed for it."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    feed: dict[str, np.ndarray]
    if int8:
        weight = numpy_helper.from_array(rng.integers(-127, 128, (k, n), dtype=np.int8), "w")
        node = helper.make_node("MatMulInteger", ["a", "w"], ["y"])
        a_type, y_type = TensorProto.UINT8, TensorProto.INT32
        feed = {"a": rng.integers(0, 256, (m, k), dtype=np.uint8)}
    else:
        weight = numpy_helper.from_array(rng.standard_normal((k, n), dtype=np.float32), "w")
        node = helper.make_node("MatMul", ["a", "w"], ["y"])
        a_type = y_type = TensorProto.FLOAT
        feed = {"a": rng.standard_normal((m, k), dtype=np.float32)}
    graph = helper.make_graph(
        [node],
        "product",
        [helper.make_tensor_value_info("a", a_type, [m, k])],
        [helper.make_tensor_value_info("y", y_type, [m, n])],
        initializer=[weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session, feed


def rate(int8: bool, seconds: float) -> float:
    """GMAC/s of the student's products, one thread, over ``seconds`` (after a warm-up)."""
    sessions = [(product_session(m, k, n, int8), m * k * n) for m, k, n in SHAPES]
    for (session, feed), _ in sessions:
        session.run(None, feed)
    macs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for (session, feed), work in sessions:
            session.run(None, feed)
            macs += work
    return macs / (time.perf_counter() - start) / 1e9


def measure(seconds: float, rounds: int) -> dict[str, Any]:
    import os

    import onnxruntime as ort

    info = cpu()
    figures: dict[str, Any] = {"cpu": info, "onnxruntime": ort.__version__, "load_before": os.getloadavg()[0]}
    for name, int8 in (("int8", True), ("fp32", False)):
        runs = [rate(int8, seconds) for _ in range(rounds)]
        gmacs = statistics.median(runs)
        figures[name] = {
            "gmac_per_s_one_core": round(gmacs, 1),
            "rounds": [round(r, 1) for r in runs],
            "macs_per_cycle_at_nominal_clock": round(gmacs / info["ghz"], 1) if info["ghz"] else None,
            "texts_per_s_2_cores": round(2 * gmacs * 1e9 / MACS_PER_TEXT),
        }
    figures["load_after"] = os.getloadavg()[0]
    return figures


def render(figures: dict[str, Any]) -> str:
    info = figures["cpu"]
    lines = [
        "# How fast this machine multiplies (`bench/machine.py`)",
        "",
        f"{figures['date']}: {info['name']} at {info['ghz']:.2f} GHz (nominal), AVX-512 VNNI: "
        f"{'yes' if info['avx512_vnni'] else 'no'}, AVX-512 BF16: {'yes' if info['avx512_bf16'] else 'no'}; "
        f"onnxruntime {figures['onnxruntime']}, one thread; load {figures['load_before']:.2f} before, "
        f"{figures['load_after']:.2f} after. How it was run: the docstring of `bench/machine.py`.",
        "",
        "| product | GMAC/s, one core (median) | rounds | multiply-adds a cycle at the nominal clock | "
        "texts/s on 2 cores if the products were all the work |",
        "|---|---:|---|---:|---:|",
    ]
    for name in ("int8", "fp32"):
        f = figures[name]
        lines.append(
            f"| {name} | {f['gmac_per_s_one_core']} | {', '.join(map(str, f['rounds']))} | "
            f"{f['macs_per_cycle_at_nominal_clock']} | {f['texts_per_s_2_cores']:,} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="Seconds per round and product type.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    figures = measure(args.seconds, args.rounds)
    figures["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "machine.json").write_text(json.dumps(figures, indent=2) + "\n")
    (args.out / "machine.md").write_text(render(figures))
    print(render(figures))


if __name__ == "__main__":
    main()
