"""int8 quantization of a fused ONNX student, the machinery :mod:`sxhub.export` chooses among: onnxruntime's
dynamic (per-tensor or per-channel) and static QDQ recipes, and for ``mixed`` the ranking of the quantizable nodes by
how far int8 moves the probabilities, with the statistical margin a step must clear."""

from __future__ import annotations

import contextlib
import io
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError
from .predict import read_model_info

CALIBRATION_TEXTS = 256  # static int8's activation ranges, and "mixed"'s ranking of the MatMuls, use this many texts
METHODS = ("per-channel", "dynamic", "static")  # what quantize_int8 builds ("mixed" is per-channel with exclusions)


def lower_bound(share: float, n: int, z: float = 1.0) -> float:
    """Wilson score interval's lower end for ``share`` observed on ``n`` texts, ``z`` standard errors down.

    ``mixed`` takes a step only when this reaches the bar: on 1,000 texts a step measured at exactly 99.5% is as
    likely to be under the bar as over it on the next texts (PhraseBank: 99.50% on the fitting and the check texts,
    99.17% on 2,423 others), and it needs about 99.7% for this bound to reach 99.5%."""
    if n <= 0:
        return 0.0
    centre = share + z * z / (2 * n)
    spread = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n))
    return (centre - spread) / (1 + z * z / n)


class Probe:
    """Probabilities of an ONNX export of ``model_dir`` on fixed texts (softmax, or sigmoid for multi-label)."""

    def __init__(self, model_dir: Path, texts: list[str]) -> None:
        self.model_dir, self.texts = model_dir, texts
        self.info = read_model_info(model_dir)

    def __call__(self, model: Path, n: int | None = None) -> np.ndarray:
        from .activations import sigmoid, softmax
        from .onnx_runtime import OnnxClassifier

        classifier = OnnxClassifier(
            self.model_dir, model, max_length=self.info.max_length, threads=None, batch_size=32
        )
        logits = classifier.logits(self.texts[:n])
        return sigmoid(logits) if self.info.multi_label else softmax(logits)


def quantizable_nodes(path: Path) -> list[str]:
    """The nodes dynamic quantization turns int8: MatMul, Gemm and fused Attention with a constant weight."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    weights = {i.name for i in graph.initializer}
    return [
        n.name
        for n in graph.node
        if n.op_type in ("MatMul", "Gemm", "Attention") and any(name in weights for name in n.input[1:])
    ]


def rank_sensitivity(path: Path, tmp: Path, probe: Probe, fp32: np.ndarray) -> list[str]:
    """The quantizable nodes of ``path``, most sensitive first: each is quantized alone (per-channel) and scored
    by the mean absolute change it makes to the probabilities of the probe's first :data:`CALIBRATION_TEXTS` texts
    (``fp32``: the fp32 model's on all of them; bench/int8_recipes.py measured the recipe this feeds)."""
    shift: dict[str, float] = {}
    for node in quantizable_nodes(path):
        alone = tmp / "alone.onnx"
        quantize_int8(path, alone, method="per-channel", only=[node])
        shift[node] = float(np.abs(probe(alone, CALIBRATION_TEXTS) - fp32[:CALIBRATION_TEXTS]).mean())
        alone.unlink()
    return sorted(shift, key=lambda n: -shift[n])


def quantize_int8(
    source: Path,
    target: Path,
    *,
    method: str = "dynamic",
    raw: Path | None = None,
    calibration: list[str] | None = None,
    model_dir: Path | None = None,
    exclude: list[str] | None = None,
    only: list[str] | None = None,
) -> Path:
    """int8 weights for ``source`` (the fused fp32 graph) by ``method``:

    - ``dynamic``: weights int8 per tensor, activations quantised per batch at run time (no data needed);
    - ``per-channel``: the same with one scale per output channel of each weight (finer, a little slower);
    - ``static``: QDQ int8 with per-channel weights and activation ranges calibrated on ``calibration`` texts
      (needs ``raw``, the unfused export, and ``model_dir`` for the tokenizer).

    ``exclude`` names nodes to keep fp32 and ``only`` the nodes to quantize (dynamic and per-channel).
    """
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static

    # the fused kernels (Attention, SkipLayerNormalization) are contrib ops that shape inference does not type
    extra = {"DefaultTensorType": onnx.TensorProto.FLOAT}
    with _quiet_quantizer():
        if method in {"dynamic", "per-channel"}:
            quantize_dynamic(
                str(source),
                str(target),
                weight_type=QuantType.QInt8,
                per_channel=method == "per-channel",
                extra_options=extra,
                nodes_to_exclude=exclude or [],
                nodes_to_quantize=only or [],
            )
        elif method == "static":
            if raw is None or model_dir is None or not calibration:
                raise InputError("static int8 needs calibration texts (pass --data with the training data).")
            quantize_static(
                str(raw),
                str(target),
                _CalibrationReader(model_dir, calibration, _input_names(raw)),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                weight_type=QuantType.QInt8,
                activation_type=QuantType.QUInt8,
                op_types_to_quantize=["MatMul"],
                extra_options={**extra, "ActivationSymmetric": False, "WeightSymmetric": True},
            )
        else:
            raise InputError(f"quantization {method!r}; use one of {', '.join(METHODS)}.")
    return target


class _CalibrationReader:
    """onnxruntime's CalibrationDataReader over tokenized texts, 16 at a time, padded as ``predict`` pads them."""

    def __init__(self, model_dir: Path, texts: list[str], names: list[str]) -> None:
        from .onnx_runtime import load_tokenizer, pad_token_id

        tokenizer = load_tokenizer(model_dir, read_model_info(model_dir).max_length)
        pad = pad_token_id(model_dir, tokenizer)
        ids = sorted((e.ids for e in tokenizer.encode_batch(texts)), key=len)
        self._batches: list[dict[str, np.ndarray]] = []
        for start in range(0, len(ids), 16):
            rows = ids[start : start + 16]
            width = max(len(r) for r in rows)
            input_ids = np.array([r + [pad] * (width - len(r)) for r in rows], dtype=np.int64)
            mask = np.array([[1] * len(r) + [0] * (width - len(r)) for r in rows], dtype=np.int64)
            feed = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}
            self._batches.append({name: feed[name] for name in names})
        self._iter = iter(self._batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._iter, None)

    def rewind(self) -> None:
        self._iter = iter(self._batches)


def _input_names(path: Path) -> list[str]:
    import onnx

    return [i.name for i in onnx.load(str(path), load_external_data=False).graph.input]


@contextlib.contextmanager
def _quiet_quantizer() -> Any:
    """onnxruntime.quantization logs a pre-processing hint through the root logger on every call; hide it."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.setLevel(level)
