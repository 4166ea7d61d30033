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
from .model_info import read_model_info

CALIBRATION_TEXTS = 256  # static int8's activation ranges, and "mixed"'s ranking of the MatMuls, use this many texts
METHODS = ("per-channel", "dynamic", "static")  # what quantize_int8 builds ("mixed" is per-channel with exclusions)


def external_data_files(path: Path) -> list[str]:
    """The external data files (names beside ``path``) that the ONNX file's tensors are kept in; none when inline."""
    import onnx
    from onnx.external_data_helper import uses_external_data

    model = onnx.load(str(path), load_external_data=False)
    tensors = onnx.external_data_helper._get_all_tensors(model)
    found = {e.value for t in tensors if uses_external_data(t) for e in t.external_data if e.key == "location"}
    return sorted(found)


def data_file(path: Path) -> Path:
    """Where the tensors of ``path`` go when it is written with external data: ``<name>.data`` beside it, as
    onnxruntime and :func:`save_graph` name it. Removed before each write: onnx appends to a data file already there."""
    return path.with_name(path.name + ".data")


def save_graph(model: Any, path: Path, *, external: bool) -> None:
    """Write the ONNX ``model`` to ``path``; ``external``: its tensors in :func:`data_file` (a graph whose source kept
    them so, as torch exports one over 2 GB, which one protobuf file cannot hold)."""
    import onnx

    data_file(path).unlink(missing_ok=True)
    if external:
        onnx.save_model(model, str(path), save_as_external_data=True, location=data_file(path).name)
    else:
        onnx.save(model, str(path))


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
        data_file(alone).unlink(missing_ok=True)
    return sorted(shift, key=lambda n: -shift[n])


SMOOTH_ALPHA = 0.75  # how much of each activation channel's range moves into the weights (SmoothQuant's alpha)
SMOOTH_TEXTS = 1000  # texts whose activation peaks fit the smoothing (fewer made it depend on which texts they were)


def smooth_graph(source: Path, target: Path, model_dir: Path, texts: list[str], *, alpha: float = SMOOTH_ALPHA) -> int:
    """Write ``source`` to ``target`` with its MatMul activations smoothed for int8 (SmoothQuant, Xiao et al. 2023,
    arXiv:2211.10438); returns how many MatMul inputs were smoothed.

    Dynamic int8 gives an activation one scale per batch, so a few channels with a wide range (transformers have
    them) leave the others few steps. For each input ``X`` of MatMuls with constant weights, channel ``j`` is divided
    by ``s_j = max|X_j| ** alpha / max|W_j| ** (1 - alpha)`` (a ``Mul`` before the MatMuls) and weight row ``j``
    is multiplied by it: the same function in fp32 (to float rounding), with part of the range moved from the
    activations to the weights, which have a fixed scale per output channel. ``max|X_j|`` is measured on the first
    :data:`SMOOTH_TEXTS` of ``texts`` (real tokens only, not padding). ``alpha`` 0.75: on three PhraseBank students
    (6, 4 and 3 layers) per-channel int8 of the smoothed graph changed 12-27% fewer of fp32's labels over the full
    PhraseBank than of the plain graph (6 layers: 55 against 72 of 4,846); alpha 0.5 was worse than none on all
    three, 0.7 to 0.8 best (``bench/results/smooth.md``). Which texts fit it matters: fitted on other samples the
    gain ranged from none to a third, so ``sxhub export`` keeps it only where its check says so."""
    import onnx
    from onnx import helper, numpy_helper

    external = bool(external_data_files(source))
    model = onnx.load(str(source))
    graph = model.graph
    weights = {i.name: i for i in graph.initializer}
    nodes = list(graph.node)
    groups: dict[str, list[int]] = {}  # an input tensor -> the MatMuls (by position) that read it
    for i, node in enumerate(nodes):
        weight = weights.get(node.input[1]) if node.op_type == "MatMul" and len(node.input) == 2 else None
        if weight is not None and len(weight.dims) == 2 and node.input[0] not in weights:
            groups.setdefault(node.input[0], []).append(i)
    probe = target.with_name(target.stem + ".probe.onnx")
    peaks = _activation_peaks(model, probe, model_dir, texts, list(groups), external=external)
    before: dict[int, list[Any]] = {}  # the Mul nodes to insert before each position
    for name, members in groups.items():
        rows = [numpy_helper.to_array(weights[nodes[i].input[1]]) for i in members]
        w_peak = np.max([np.abs(w).max(axis=1) for w in rows], axis=0)
        scale = np.ones_like(w_peak, dtype=np.float32)
        ok = (peaks[name] > 0) & (w_peak > 0)
        scale[ok] = np.clip(peaks[name][ok] ** alpha / w_peak[ok] ** (1 - alpha), 1e-3, 1e3)
        inverse, smoothed = f"{name}/smooth_inverse", f"{name}/smoothed"
        graph.initializer.append(numpy_helper.from_array((1 / scale).astype(np.float32), inverse))
        before.setdefault(min(members), []).append(helper.make_node("Mul", [name, inverse], [smoothed], name=smoothed))
        for i, w in zip(members, rows, strict=True):
            scaled = f"{nodes[i].input[1]}/smoothed_{i}"
            graph.initializer.append(numpy_helper.from_array((w * scale[:, None]).astype(w.dtype), scaled))
            nodes[i].input[0], nodes[i].input[1] = smoothed, scaled
    ordered = _copies(new for i, node in enumerate(nodes) for new in (*before.get(i, ()), node))
    used = {x for node in ordered for x in node.input}
    kept = _copies(i for i in graph.initializer if i.name in used)
    del graph.node[:], graph.initializer[:]
    graph.node.extend(ordered)
    graph.initializer.extend(kept)
    save_graph(model, target, external=external)
    return len(groups)


def _copies(messages: Any) -> list[Any]:
    """Standalone copies of protobuf messages (before the container they came from is cleared)."""
    out = []
    for message in messages:
        copy = type(message)()
        copy.CopyFrom(message)
        out.append(copy)
    return out


def _activation_peaks(
    model: Any, probe_path: Path, model_dir: Path, texts: list[str], names: list[str], *, external: bool = False
) -> dict:
    """``max |x|`` of each channel of the tensors ``names`` over the first :data:`SMOOTH_TEXTS` texts (``external``:
    the probe graph is written with its tensors in a data file, as its source was)."""
    import onnx
    from onnx import helper

    from .onnx_runtime import OnnxClassifier

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    probe.graph.output.extend(helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None) for n in names)
    save_graph(probe, probe_path, external=external)
    try:
        info = read_model_info(model_dir)
        classifier = OnnxClassifier(model_dir, probe_path, max_length=info.max_length, threads=None, batch_size=32)
        ids = sorted(classifier.encode(texts[:SMOOTH_TEXTS]), key=len)
        peaks: dict[str, np.ndarray] = {}
        for start in range(0, len(ids), 32):
            rows = ids[start : start + 32]
            width = max(len(row) for row in rows)
            real = np.arange(width)[None, :] < np.array([len(row) for row in rows])[:, None]
            for name, value in zip(names, classifier.session.run(names, classifier.feed(rows)), strict=True):
                x = value[real] if value.ndim == 3 and value.shape[:2] == real.shape else value
                peak = np.abs(x.reshape(-1, x.shape[-1])).max(axis=0)
                peaks[name] = np.maximum(peaks[name], peak) if name in peaks else peak
    finally:
        probe_path.unlink(missing_ok=True)
        data_file(probe_path).unlink(missing_ok=True)
    return peaks


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

    ``exclude`` names nodes to keep fp32 and ``only`` the nodes to quantize (dynamic and per-channel). A graph whose
    tensors are kept in an external data file (torch exports one over 2 GB so) is quantized to one that keeps them
    in :func:`data_file` too (onnxruntime otherwise holds the graph in one protobuf, 2 GB at most).
    """
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static

    # the fused kernels (Attention, SkipLayerNormalization) are contrib ops that shape inference does not type
    extra = {"DefaultTensorType": onnx.TensorProto.FLOAT}
    data_file(target).unlink(missing_ok=True)  # an earlier candidate's: onnx appends to it
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
                use_external_data_format=bool(external_data_files(source)),
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
                use_external_data_format=bool(external_data_files(raw)),
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


class _AsWithoutHandler(logging.Handler):
    """Stands in on a root logger that had no handler: passes records on to ``logging.lastResort``, as Python does
    when there is none, so that a module-level ``logging.warning`` does not run ``basicConfig`` meanwhile."""

    def emit(self, record: logging.LogRecord) -> None:
        last = logging.lastResort
        if last is not None and record.levelno >= last.level:
            last.handle(record)


@contextlib.contextmanager
def _quiet_quantizer() -> Any:
    """Hide onnxruntime.quantization's logs (a pre-processing hint on every call) and leave the caller's logging as
    it was: it logs through the root logger itself (``logging.warning``), which runs ``logging.basicConfig()`` when
    the root logger has no handler (a script's own ``basicConfig`` then did nothing). Only records made inside
    onnxruntime are dropped; the root logger's level is left alone (setting it to ERROR hid the caller's warnings)."""
    import onnxruntime

    package = str(Path(onnxruntime.__file__).parent)

    def not_onnxruntimes(record: logging.LogRecord) -> bool:
        return not record.pathname.startswith(package)

    root = logging.getLogger()
    stand_in = _AsWithoutHandler() if not root.handlers else None
    root.addFilter(not_onnxruntimes)  # a logger's filters see the records made on it: the module-level calls
    if stand_in is not None:
        root.addHandler(stand_in)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        if stand_in is not None:
            root.removeHandler(stand_in)
        root.removeFilter(not_onnxruntimes)
