"""Export a trained student to ONNX (and int8) beside its weights, and measure how faithful and fast each one is.

``MODEL_DIR/onnx/model.onnx`` takes ``input_ids``, ``attention_mask`` (and ``token_type_ids`` when the tokenizer
makes them) with dynamic batch and sequence axes and returns ``logits``. It is exported with eager attention (the
pattern ONNX Runtime's transformer optimizer recognises) and then fused offline: attention, the embedding
LayerNorm, skip LayerNorms and bias-GELU become one kernel each (``onnxruntime.transformers.optimizer``); ONNX
Runtime does not find these fusions by itself at load time. ``model_int8.onnx`` is the fused graph with int8
weights; ``quantization`` picks how (:data:`QUANTIZATIONS`).

Every variant is checked on a real sample: at least :data:`CHECK_TEXTS` texts from the training data (``data``, or
the file ``sxhub train`` recorded in ``sxhub.json``), else the task's examples and a few built-in sentences, said
so. The check reports the share of identical labels against the torch model, the largest probability gap and each
variant's speed on this machine. The int8 model becomes the default variant only when its agreement reaches
:data:`AGREEMENT_BAR` on at least :data:`CHECK_TEXTS` texts; ``sxhub.json`` (``export``) and the model card say
which variant is the default and why.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError, ModelError
from .predict import ONNX_DIR, ONNX_FILE, ONNX_INT8_FILE, SXHUB_JSON, Predictor, read_model_info

logger = logging.getLogger(__name__)

OPSET = 17
AGREEMENT_BAR = 0.995  # int8 is the default variant only when it gives fp32's label on at least this share
CHECK_TEXTS = 1000  # texts the agreement check needs before int8 can become the default
CALIBRATION_TEXTS = 256  # static quantisation: texts whose activations set the int8 ranges
# int8 recipes, in the order "auto" tries them. On MiniLM over the full PhraseBank (bench/results/student.md) per-channel
# kept 98.7% of fp32's labels at 2% less speed than per-tensor dynamic (95.9%); static QDQ kept 94.9%
QUANTIZATIONS = ("per-channel", "dynamic", "static")
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
    speed: dict[str, float] = field(default_factory=dict)  # texts/s of torch, onnx, onnx-int8 on the check texts
    default: str = "onnx"  # the variant sxhub.json and the card name as the one to serve
    quantization: str | None = None  # the int8 recipe kept
    check_source: str = ""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_dir": str(self.model_dir),
            "onnx": str(self.onnx_path),
            "int8": str(self.int8_path) if self.int8_path else None,
            "agreement": {k: asdict(v) for k, v in self.agreement.items()},
            "speed": self.speed,
            "default": self.default,
            "quantization": self.quantization,
            "check_source": self.check_source,
            "notes": self.notes,
        }

    def summary_lines(self) -> list[str]:
        lines = [f"Exported {self.onnx_path}" + (f" and {self.int8_path}" if self.int8_path else "")]
        lines += [a.line(name) for name, a in self.agreement.items()]
        if self.speed:
            lines.append("speed here: " + ", ".join(f"{k} {v:,.0f} texts/s" for k, v in self.speed.items()))
        lines.append(f"default variant: {self.default}")
        return lines + self.notes

    def record(self) -> dict[str, Any]:
        """The ``export`` block of ``sxhub.json``: every variant's agreement and speed, and the default."""
        variants: dict[str, Any] = {"torch": {"texts_per_s": self.speed.get("torch")}}
        for name, agreement in self.agreement.items():
            variants[name] = {
                "file": f"{ONNX_DIR}/{ONNX_INT8_FILE if name == 'onnx-int8' else ONNX_FILE}",
                "texts_per_s": self.speed.get(name),
                **asdict(agreement),
            }
        if self.quantization and "onnx-int8" in variants:
            variants["onnx-int8"]["quantization"] = self.quantization
        return {
            "variants": variants,
            "default": self.default,
            "agreement_bar": AGREEMENT_BAR,
            "check": self.check_source,
            "threads": _threads_label(),
            "notes": self.notes,
        }


def export_onnx(
    model_dir: str | os.PathLike[str],
    *,
    int8: bool = False,
    data: str | os.PathLike[str] | None = None,
    text_column: str | None = None,
    check_n: int = CHECK_TEXTS,
    quantization: str = "auto",
    check_texts: list[str] | None = None,
    opset: int = OPSET,
) -> ExportResult:
    """Write ``onnx/model.onnx`` (and ``onnx/model_int8.onnx``), check them against torch, record the result.

    ``data`` is a file with the training texts (any format ``sxhub predict`` reads); ``check_n`` of them (a seeded
    sample) check agreement and speed, and static quantisation calibrates on the first :data:`CALIBRATION_TEXTS`.
    ``quantization`` is one of :data:`QUANTIZATIONS` or ``auto`` (each in turn until one reaches the bar; the most
    faithful is kept when none does).
    """
    if quantization != "auto" and quantization not in QUANTIZATIONS:
        raise InputError(f"quantization={quantization!r}; use auto or one of {', '.join(QUANTIZATIONS)}.")
    if check_n < 1:
        raise InputError(f"check_n={check_n!r} must be a positive number of texts.")
    model_dir = Path(model_dir)
    info = read_model_info(model_dir)
    texts, source = (
        (check_texts, f"{len(check_texts)} given texts")
        if check_texts
        else check_sample(model_dir, info.extra, data=data, text_column=text_column, n=check_n)
    )
    out_dir = model_dir / ONNX_DIR
    out_dir.mkdir(exist_ok=True)
    path = out_dir / ONNX_FILE
    result = ExportResult(model_dir=model_dir, onnx_path=path, check_source=source)
    with tempfile.TemporaryDirectory(prefix=".export-", dir=out_dir) as tmp:
        raw = Path(tmp) / "raw.onnx"
        _export_graph(model_dir, raw, opset)
        result.notes += optimize_graph(raw, path, model_dir)
        thresholds = info.threshold_vector() if info.multi_label else None
        reference, result.speed["torch"] = _timed(Predictor(model_dir), texts)
        probs, result.speed["onnx"] = _timed(Predictor(model_dir, onnx=True), texts)
        result.agreement["onnx"] = compare(reference, probs, thresholds)
        if int8:
            target = out_dir / ONNX_INT8_FILE
            methods = QUANTIZATIONS if quantization == "auto" else (quantization,)
            best: tuple[float, str, Path, Agreement, float] | None = None
            for method in methods:
                candidate = Path(tmp) / f"int8-{method}.onnx"
                try:
                    quantize_int8(path, candidate, method=method, raw=raw, calibration=texts[:CALIBRATION_TEXTS],
                                  model_dir=model_dir)  # fmt: skip
                except (RuntimeError, ValueError, KeyError, TypeError) as exc:  # an op the quantiser cannot handle
                    if quantization != "auto":
                        raise ModelError(f"int8 {method} quantisation failed: {str(exc)[:200]}") from exc
                    result.notes.append(f"int8 {method}: failed ({type(exc).__name__}: {str(exc)[:120]})")
                    continue
                os.replace(candidate, target)  # Predictor reads the int8 model from its place
                probs, speed = _timed(Predictor(model_dir, onnx=True, int8=True), texts)
                agreement = compare(reference, probs, thresholds)
                logger.info("int8 %s: %s, %.0f texts/s", method, agreement.line("agreement"), speed)
                result.notes.append(f"int8 {method}: {agreement.label_agreement:.2%} agreement, {speed:,.0f} texts/s")
                if best is None or agreement.label_agreement > best[0]:
                    if best is not None:
                        best[2].unlink(missing_ok=True)
                    best = (agreement.label_agreement, method, Path(tmp) / f"keep-{method}.onnx", agreement, speed)
                    os.replace(target, best[2])
                if agreement.label_agreement >= AGREEMENT_BAR:
                    break
            if best is None:
                raise ModelError(f"no int8 recipe worked for {str(model_dir)!r}: {'; '.join(result.notes[-3:])}")
            os.replace(best[2], target)
            result.int8_path, result.quantization = target, best[1]
            result.agreement["onnx-int8"], result.speed["onnx-int8"] = best[3], best[4]
    result.default = choose_default(result, len(texts))
    write_record(model_dir, result)
    return result


def choose_default(result: ExportResult, n_checked: int) -> str:
    """``onnx-int8`` when it reaches the bar on enough real texts, else fp32 ``onnx`` (with a note saying why)."""
    int8 = result.agreement.get("onnx-int8")
    if int8 is None:
        return "onnx"
    if n_checked < CHECK_TEXTS:
        result.notes.append(
            f"int8 is not the default: checked on {n_checked} texts only (needs {CHECK_TEXTS:,}); pass --data with "
            f"the training data (at least {CHECK_TEXTS:,} texts, --check-n {CHECK_TEXTS} or more)."
        )
        return "onnx"
    if int8.label_agreement < AGREEMENT_BAR:
        result.notes.append(
            f"int8 is not the default: it gives the fp32 label on {int8.label_agreement:.2%} of {int8.n} texts, "
            f"under the {AGREEMENT_BAR:.1%} bar; serve onnx/model.onnx (or torch)."
        )
        return "onnx"
    return "onnx-int8"


def write_record(model_dir: Path, result: ExportResult) -> None:
    """Add the ``export`` block to ``sxhub.json`` (written when missing: a plain transformers folder)."""
    path = model_dir / SXHUB_JSON
    info = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    info["export"] = result.record()
    path.write_text(json.dumps(info, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")


def check_sample(
    model_dir: Path,
    info: dict[str, Any],
    *,
    data: str | os.PathLike[str] | None,
    text_column: str | None,
    n: int,
) -> tuple[list[str], str]:
    """Up to ``n`` texts (a seeded sample) from ``data`` (a file or a Hub dataset id, e.g. the dataset the model
    card cites); else the task's few-shot examples and the built-in sentences, too few to make int8 the default.
    Returns the texts and a line saying where they came from."""
    if data is not None:
        from .data import find_text_column, is_missing_text, read_table

        source = str(data)
        frame = read_table(source)
        column = find_text_column(frame, text_column)
        texts = [str(t) for t in frame[column].tolist() if not is_missing_text(t)]
        if not texts:
            raise InputError(f"{str(source)!r} has no texts in column {column!r}; pass the training data with --data.")
        if len(texts) > n:
            keep = np.sort(np.random.default_rng(0).choice(len(texts), size=n, replace=False))
            texts = [texts[i] for i in keep]
        return texts, f"{len(texts)} texts from {Path(source).name if Path(source).exists() else source}"
    examples = [ex["text"] for ex in (info.get("task") or {}).get("examples", []) if ex.get("text")]
    texts = [*examples, *SAMPLE_TEXTS]
    return texts, f"{len(texts)} built-in sample texts (no training data given: pass --data)"


def check_texts_for(info: dict[str, Any]) -> list[str]:
    """The task's few-shot examples and built-in sample sentences."""
    examples = [ex["text"] for ex in (info.get("task") or {}).get("examples", []) if ex.get("text")]
    return [*examples, *SAMPLE_TEXTS]


def _timed(predictor: Predictor, texts: list[str]) -> tuple[np.ndarray, float]:
    """Probabilities and texts/s (after a warm-up batch) of ``predictor`` on ``texts``."""
    predictor.predict_proba(texts[: predictor.batch_size])
    start = time.perf_counter()
    probs = predictor.predict_proba(texts)
    return probs, round(len(texts) / max(time.perf_counter() - start, 1e-9), 1)


def _threads_label() -> str:
    return f"{os.cpu_count()} CPU core(s), all threads"


def _export_graph(model_dir: Path, path: Path, opset: int) -> None:
    """torch.onnx.export of the classifier with dynamic batch and sequence axes; returns logits only.

    Eager attention exports as MatMul/Softmax, the pattern ONNX Runtime fuses; SDPA exports a masked-softmax
    pattern (IsNaN/Where) that no fusion matches. Both compute the same function.
    """
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    try:
        model = AutoModelForSequenceClassification.from_pretrained(model_dir, attn_implementation="eager").eval()
    except (ValueError, TypeError):  # a model class without the eager switch
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


def optimize_graph(source: Path, target: Path, model_dir: Path) -> list[str]:
    """Fuse attention, LayerNorms and GELU with ONNX Runtime's transformer optimizer; returns notes.

    The optimizer's BERT rules also match RoBERTa, XLM-R, ELECTRA and MiniLM encoders; a graph it cannot fuse is
    written as exported (a note says so), since an unfused graph is only slower, not different.
    """
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    heads, hidden = int(config.get("num_attention_heads") or 0), int(config.get("hidden_size") or 0)
    try:
        from onnxruntime.transformers.optimizer import optimize_model
    except ImportError:
        os.replace(source, target)
        return ["graph not fused: onnxruntime is missing (pip install 'sxhub[onnx]')"]
    with contextlib.redirect_stdout(io.StringIO()):
        model = optimize_model(
            str(source), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=0, use_gpu=False
        )
    fused = {k: v for k, v in model.get_fused_operator_statistics().items() if v}
    model.save_model_to_file(str(target))
    if not fused.get("Attention"):
        return [f"attention not fused for model_type {config.get('model_type')!r} (fused: {fused or 'nothing'})"]
    return []


def quantize_int8(
    source: Path,
    target: Path,
    *,
    method: str = "dynamic",
    raw: Path | None = None,
    calibration: list[str] | None = None,
    model_dir: Path | None = None,
) -> Path:
    """int8 weights for ``source`` (the fused fp32 graph) by ``method``:

    - ``dynamic``: weights int8 per tensor, activations quantised per batch at run time (no data needed);
    - ``per-channel``: the same with one scale per output channel of each weight (finer, a little slower);
    - ``static``: QDQ int8 with per-channel weights and activation ranges calibrated on ``calibration`` texts
      (needs ``raw``, the unfused export, and ``model_dir`` for the tokenizer).
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
            raise InputError(f"quantization {method!r}; use one of {', '.join(QUANTIZATIONS)}.")
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
