"""Export a trained student to ONNX (and int8) beside its weights, and check that it agrees with torch.

``MODEL_DIR/onnx/model.onnx`` takes ``input_ids``, ``attention_mask`` (and ``token_type_ids`` when the tokenizer
makes them) with dynamic batch and sequence axes and returns ``logits``; ``model_int8.onnx`` is the same graph with
dynamically quantised int8 weights (``onnxruntime.quantization.quantize_dynamic``). The agreement check runs the
torch model and each export on the same texts: the share of identical labels and the largest probability gap.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelError
from .predict import ONNX_DIR, ONNX_FILE, ONNX_INT8_FILE, Predictor, read_model_info

logger = logging.getLogger(__name__)

OPSET = 17
SAMPLE_TEXTS = (
    "Operating profit rose from EUR 7m to 9m compared with the previous year.",
    "The company said it will cut 200 jobs after sales fell sharply in the third quarter.",
    "The annual general meeting will be held in Helsinki on 15 March.",
    "Our new store opens downtown this weekend: 20% off every pair of shoes!",
    "Prices went up again, I can't believe how expensive groceries are.",
    "Loved the product, fast delivery and great customer service.",
    "Shares of the bank traded flat on Tuesday.",
    "Terrible experience, the app keeps crashing since the last update.",
)


@dataclass
class Agreement:
    """How closely an export follows the torch model on the check texts."""

    n: int
    label_agreement: float
    max_abs_diff: float

    def line(self, name: str) -> str:
        return (
            f"{name}: {self.label_agreement:.1%} identical labels, max |Δp| {self.max_abs_diff:.4f} on {self.n} texts"
        )


@dataclass
class ExportResult:
    model_dir: Path
    onnx_path: Path
    int8_path: Path | None = None
    agreement: dict[str, Agreement] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_dir": str(self.model_dir),
            "onnx": str(self.onnx_path),
            "int8": str(self.int8_path) if self.int8_path else None,
            "agreement": {k: vars(v) for k, v in self.agreement.items()},
        }

    def summary_lines(self) -> list[str]:
        lines = [f"Exported {self.onnx_path}" + (f" and {self.int8_path}" if self.int8_path else "")]
        lines += [a.line(name) for name, a in self.agreement.items()]
        return lines


def export_onnx(
    model_dir: str | os.PathLike[str],
    *,
    int8: bool = False,
    check_texts: list[str] | None = None,
    opset: int = OPSET,
) -> ExportResult:
    """Write ``onnx/model.onnx`` (and ``onnx/model_int8.onnx``) and compare them with the torch model."""
    model_dir = Path(model_dir)
    info = read_model_info(model_dir)
    out_dir = model_dir / ONNX_DIR
    out_dir.mkdir(exist_ok=True)
    path = out_dir / ONNX_FILE
    _export_graph(model_dir, path, opset)
    result = ExportResult(model_dir=model_dir, onnx_path=path)
    if int8:
        result.int8_path = quantize_int8(path, out_dir / ONNX_INT8_FILE)
    texts = check_texts or check_texts_for(info.extra)
    thresholds = info.threshold_vector() if info.multi_label else None
    reference = Predictor(model_dir).predict_proba(texts)
    for name, quantized in (("onnx", False), ("onnx-int8", True))[: 2 if int8 else 1]:
        probs = Predictor(model_dir, onnx=True, int8=quantized).predict_proba(texts)
        result.agreement[name] = compare(reference, probs, thresholds)
    return result


def check_texts_for(info: dict[str, Any]) -> list[str]:
    """The task's few-shot examples and built-in sample sentences."""
    examples = [ex["text"] for ex in (info.get("task") or {}).get("examples", []) if ex.get("text")]
    return [*examples, *SAMPLE_TEXTS]


def _export_graph(model_dir: Path, path: Path, opset: int) -> None:
    """torch.onnx.export of the classifier with dynamic batch and sequence axes; returns logits only."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    sample = tokenizer(list(SAMPLE_TEXTS[:2]), padding=True, return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]

    class LogitsOnly(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *args: torch.Tensor) -> torch.Tensor:
            return self.model(**dict(zip(names, args, strict=True))).logits

    axes = {name: {0: "batch", 1: "sequence"} for name in names} | {"logits": {0: "batch"}}
    try:
        with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TracerWarnings about shapes that are constant for an encoder
            torch.onnx.export(
                LogitsOnly(),
                tuple(sample[n] for n in names),
                str(path),
                input_names=names,
                output_names=["logits"],
                dynamic_axes=axes,
                opset_version=opset,
                dynamo=False,
            )
    except (RuntimeError, torch.onnx.errors.OnnxExporterError) as exc:  # type: ignore[attr-defined]
        raise ModelError(f"ONNX export of {str(model_dir)!r} failed: {str(exc)[:200]}") from exc


def quantize_int8(source: Path, target: Path) -> Path:
    """Dynamic int8 quantisation of the weights (activations stay float; no calibration data needed)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
    return target


def compare(reference: np.ndarray, other: np.ndarray, thresholds: np.ndarray | None = None) -> Agreement:
    """Share of identical decisions (argmax, or every label at its threshold) and the largest prob gap."""
    if thresholds is not None:
        same = ((reference >= thresholds) == (other >= thresholds)).all(axis=1)
    else:
        same = reference.argmax(axis=1) == other.argmax(axis=1)
    return Agreement(
        n=len(reference),
        label_agreement=float(same.mean()) if len(same) else 1.0,
        max_abs_diff=float(np.abs(reference - other).max()) if len(same) else 0.0,
    )
