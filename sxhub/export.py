"""Export a trained student to ONNX (and int8) beside its weights, and measure how faithful and fast each one is.

``MODEL_DIR/onnx/model.onnx`` takes ``input_ids``, ``attention_mask`` (and ``token_type_ids`` when the tokenizer
makes them) with dynamic batch and sequence axes and returns ``logits``. Its last layer runs for the first token
only (:mod:`sxhub.cls_only`: the same logits, less work). It is exported with eager attention and then fused offline
by ``onnxruntime.transformers.optimizer``: LayerNorm and GELU become one kernel each; attention stays MatMuls and
Softmax, which measured faster than ONNX Runtime's fused attention kernel (:func:`optimize_graph`).
``model_int8.onnx`` is that graph with int8 weights; ``quantization`` picks how (:mod:`sxhub.export_int8`): ``mixed`` ranks the MatMuls by how far int8 moves the
probabilities on training texts outside the check sample and keeps the most sensitive in fp32.

Every variant is checked on a real sample: at least :data:`CHECK_TEXTS` texts from the training data (``data``, or
the file ``sxhub train`` recorded in ``sxhub.json``), else the task's examples and a few built-in sentences, said
so. The check reports the share of identical labels against the torch model, the largest probability gap and each
variant's speed on this machine. The int8 model becomes the default variant only when its agreement reaches
:data:`AGREEMENT_BAR` on at least :data:`CHECK_TEXTS` texts; ``sxhub.json`` (``export``) and the model card say
which variant is the default and why.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InputError, ModelError, require
from .export_check import Agreement, compare, timed
from .export_graph import (  # the graph stage; its names stay importable from here
    SAMPLE_TEXTS,
    _export_graph,
    optimize_graph,
)
from .export_int8 import (  # the int8 stage; its recipes, margin and logits stay importable from here
    QUANTIZATIONS,
    RECHECK_QUANTILE,  # noqa: F401
    choose_int8,
    fit_recheck_margin,  # noqa: F401
    move_graph,
    onnx_logits,  # noqa: F401
)
from .model_folder import weights_sha256, weights_stat
from .model_info import ONNX_DIR, ONNX_FILE, ONNX_INT8_FILE, ONNX_WEIGHTS_KEY, read_model_info
from .predict import (
    NoBf16Error,
    Predictor,
    clean_text,
    native_bf16,
)
from .quantize import data_file
from .run_record import SXHUB_JSON, library_versions
from .trained_texts import FILE as TRAINED_TEXTS_FILE
from .trained_texts import seen

logger = logging.getLogger(__name__)

OPSET = 17
AGREEMENT_BAR = 0.995  # int8 is the default variant only when it gives fp32's label on at least this share
CHECK_TEXTS = 1000  # texts the agreement check needs before int8 can become the default
FITTING_TEXTS = 1000  # training texts outside the check that int8 recipes are fitted on (when the data has them)


@dataclass
class ExportResult:
    model_dir: Path
    onnx_path: Path
    int8_path: Path | None = None
    agreement: dict[str, Agreement] = field(default_factory=dict)
    speed: dict[str, float] = field(default_factory=dict)  # texts/s of each variant (torch, torch-bf16, onnx, ...)
    default: str = "onnx"  # the variant sxhub.json and the card name as the one to serve
    quantization: str | None = None  # the int8 recipe kept
    fp32_nodes: list[str] = field(default_factory=list)  # "mixed": the nodes the int8 model keeps fp32
    smoothing: dict[str, Any] | None = None  # the recipes in SMOOTHED ("smooth"): how the activations were smoothed
    recheck: dict[str, Any] | None = None  # int8's near-ties rerun in fp32: the margin, how it was fitted, its cost
    check_source: str = ""
    last_layer: str = "first token"  # or "every token (<why>)": see sxhub.cls_only
    torch_gpu: str | None = None  # the GPU the torch variants ran on (torch_device), None on the CPU
    threads: tuple[int, int] | None = None  # the CPU threads ONNX Runtime and torch ran on
    notes: list[str] = field(default_factory=list)
    weights_sha256: str | None = None  # of the weights exported: in each ONNX file's metadata and in sxhub.json
    weights_stat: list[Any] = field(default_factory=list)  # their files' [name, size, mtime_ns]: in sxhub.json

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_dir": str(self.model_dir),
            "onnx": str(self.onnx_path),
            "int8": str(self.int8_path) if self.int8_path else None,
            "agreement": {k: asdict(v) for k, v in self.agreement.items()},
            "speed": self.speed,
            "default": self.default,
            "quantization": self.quantization,
            "fp32_nodes": self.fp32_nodes,
            "smoothing": self.smoothing,
            "recheck": self.recheck,
            "check_source": self.check_source,
            "last_layer": self.last_layer,
            "notes": self.notes,
            "weights_sha256": self.weights_sha256,
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
        files = {"onnx": f"{ONNX_DIR}/{ONNX_FILE}", "onnx-int8": f"{ONNX_DIR}/{ONNX_INT8_FILE}"}
        for name, agreement in self.agreement.items():
            file = {"file": files[name]} if name in files else {}  # torch-bf16 runs the torch weights
            variants[name] = {**file, "texts_per_s": self.speed.get(name), **asdict(agreement)}
        if self.quantization and "onnx-int8" in variants:
            variants["onnx-int8"]["quantization"] = self.quantization
            if self.fp32_nodes:
                variants["onnx-int8"]["fp32_nodes"] = self.fp32_nodes
            if self.smoothing:
                variants["onnx-int8"]["smoothing"] = self.smoothing
            if self.recheck:
                variants["onnx-int8"]["recheck"] = self.recheck
        return {
            "variants": variants,
            "default": self.default,
            "agreement_bar": AGREEMENT_BAR,
            "check": self.check_source,
            "last_layer": self.last_layer,
            "threads": _threads_label(self.threads, self.torch_gpu),
            "versions": {k: v for k, v in library_versions().items() if k in ("onnxruntime", "onnx")},
            "notes": self.notes,
            # loading an ONNX file compares its own (stamp_weights) with this: onnx/ copied from another student
            "weights_sha256": self.weights_sha256,
            # and the size and mtime of the files it hashed: while they hold, a load need not hash them again
            "weights_stat": self.weights_stat,
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
    cls_only: bool = True,
    fuse_attention: bool = False,
) -> ExportResult:
    """Write ``onnx/model.onnx`` (and ``onnx/model_int8.onnx``), check them against torch, record the result.

    ``data`` is a file with the training texts (any format ``sxhub predict`` reads); ``check_n`` of them (a seeded
    sample) check agreement and speed; up to :data:`FITTING_TEXTS` others calibrate static int8, and rank the MatMuls
    and choose how many stay fp32 for ``mixed``. ``quantization`` is one of :data:`QUANTIZATIONS` or ``auto`` (each
    in turn until one reaches the bar; the most faithful is kept when none does). The graph computes the last layer
    for the first token only where :mod:`sxhub.cls_only` can (the same logits); ``cls_only=False`` exports
    transformers' own forward. ``fuse_attention`` fuses attention into ONNX Runtime's kernel (:func:`optimize_graph`).
    """
    if quantization != "auto" and quantization not in QUANTIZATIONS:
        raise InputError(f"quantization={quantization!r}; use auto or one of {', '.join(QUANTIZATIONS)}.")
    if check_n < 1:
        raise InputError(f"check_n={check_n!r} must be a positive number of texts.")
    # before the weights load: torch.onnx.export writes with onnx; the check runs ONNX Runtime with tokenizers. On a
    # machine set up for ONNX Runtime alone a missing torch ended in 'Error: ModuleNotFoundError', exit 1
    require(["torch", "transformers", "onnx", "onnxruntime", "tokenizers"], "sxhub export", "onnx")
    model_dir = Path(model_dir)
    info = read_model_info(model_dir)
    spare: list[str] = []
    if check_texts:
        texts, source = check_texts, f"{len(check_texts)} given texts"
    else:
        texts, source, spare = check_sample(model_dir, info.extra, data=data, text_column=text_column, n=check_n)
    out_dir = model_dir / ONNX_DIR
    result = ExportResult(model_dir=model_dir, onnx_path=out_dir / ONNX_FILE, check_source=source)
    # before the weights load: the bytes the export reads; their size and mtime first, so that a file written while
    # it is hashed is hashed again at the next load
    result.weights_stat = weights_stat(model_dir)
    result.weights_sha256 = weights_sha256(model_dir)  # before the weights load: the bytes the export reads
    with _new_folder_kept_on_success(out_dir), tempfile.TemporaryDirectory(prefix=".export-", dir=out_dir) as tmp:
        # the new files are written and checked in a work folder and replace the model's only once all is done: an
        # export stopped or failed part-way (Ctrl-C, a recipe that fails) left a model_int8.onnx of another recipe,
        # or none, under the earlier export's record (its recipe, near-tie margin and default)
        staged = Path(tmp) / "staged"
        staged.mkdir()
        path, raw = staged / ONNX_FILE, Path(tmp) / "raw.onnx"
        why_not = _export_graph(model_dir, raw, opset, cls_only=cls_only)
        if why_not is not None:
            result.last_layer = f"every token ({why_not})"
        result.notes += optimize_graph(raw, path, model_dir, fuse_attention=fuse_attention)
        thresholds = info.threshold_vector() if info.multi_label else None
        torch_predictor = Predictor(model_dir, cls_only=cls_only)
        reference, result.speed["torch"] = timed(torch_predictor, texts)
        result.torch_gpu = _gpu_name() if torch_predictor.device == "cuda" else None
        onnx_predictor = _staged_predictor(model_dir, staged)
        probs, result.speed["onnx"] = timed(onnx_predictor, texts)
        result.threads = (onnx_predictor._onnx.workers, _torch_threads())
        result.agreement["onnx"] = compare(reference, probs, thresholds)
        if int8:
            chosen = choose_int8(model_dir, path, quantization, raw=raw, tmp=Path(tmp), texts=texts, spare=spare,
                                 reference=reference, thresholds=thresholds, notes=result.notes, bar=AGREEMENT_BAR,
                                 enough=CHECK_TEXTS)  # fmt: skip
            result.int8_path, result.quantization = out_dir / ONNX_INT8_FILE, chosen.quantization
            result.recheck = chosen.recheck
            result.fp32_nodes, result.smoothing = chosen.fp32_nodes, chosen.smoothing
            result.agreement["onnx-int8"], result.speed["onnx-int8"] = chosen.agreement, chosen.speed
        elif (out_dir / ONNX_INT8_FILE).is_file():  # an earlier export's: its check is not in the record written now
            result.notes.append(
                f"Removed {ONNX_DIR}/{ONNX_INT8_FILE}, an earlier export's: sxhub.json no longer holds its check and "
                "near-tie recheck; export with --int8 to make it again."
            )
        _check_bf16(result, texts, reference, thresholds)
        result.default = choose_default(result, len(texts))
        for name in (ONNX_FILE, ONNX_INT8_FILE):  # the checked files move in, then their record is written
            if (staged / name).is_file():
                stamp_weights(staged / name, result.weights_sha256)
                move_graph(staged / name, out_dir / name)  # an export over 2 GB: with its tensors' file
            else:
                (out_dir / name).unlink(missing_ok=True)
                data_file(out_dir / name).unlink(missing_ok=True)
        write_record(model_dir, result)
    return result


def _staged_predictor(model_dir: Path, staged: Path) -> Predictor:
    """The fp32 graph just exported, loaded as ``predict --onnx`` loads it. A graph that does not run on the folder's
    own token ids (Longformer pads to its attention window inside forward, which the trace keeps for the sample's
    length) was said to be "not an export of" the folder, named by its work file, with the same export as the fix."""
    try:
        return Predictor(model_dir, onnx=True, onnx_dir=staged)
    except ModelError as exc:
        said = str(exc.__cause__ or exc).strip().splitlines()[0].split("Status Message: ")[-1][:160]
        raise ModelError(
            f"the ONNX graph exported from {str(model_dir)!r} does not run on the folder's own token ids ({said}); "
            "it cannot be served with --onnx; serve it with torch (sxhub predict without --onnx)."
        ) from exc


@contextlib.contextmanager
def _new_folder_kept_on_success(folder: Path) -> Iterator[None]:
    """Make ``folder`` for the block; when the block fails and the folder was not there before, remove it (a model
    whose weights could not be loaded was left with an empty onnx/, which predict --onnx then took for an export)."""
    made = not folder.exists()
    folder.mkdir(exist_ok=True)
    try:
        yield
    except BaseException:
        if made:
            shutil.rmtree(folder, ignore_errors=True)
        raise


def _check_bf16(result: ExportResult, texts: list[str], reference: np.ndarray, thresholds: np.ndarray | None) -> None:
    """Where this machine runs bfloat16 natively, measure ``sxhub predict --bf16`` (the same weights under torch
    autocast) like the ONNX variants: agreement with fp32 and speed. Elsewhere bf16 is emulated: a note says so."""
    if not native_bf16():
        result.notes.append(
            "torch bf16 (sxhub predict --bf16) not measured: this machine has no native bfloat16, where it is slower "
            "than fp32."
        )
        return
    try:
        probs, speed = timed(Predictor(result.model_dir, bf16=True), texts)
    except NoBf16Error as exc:  # a model that cannot run in bf16 (DeBERTa v1): the export stands, fp32 serves it
        result.notes.append(f"torch bf16 (sxhub predict --bf16) not measured: {exc.reason}.")
        return
    result.speed["torch-bf16"] = speed
    result.agreement["torch-bf16"] = compare(reference, probs, thresholds)


def choose_default(result: ExportResult, n_checked: int) -> str:
    """``onnx-int8`` when it reaches the bar on enough real texts and ran faster than fp32 here, else fp32 ``onnx``
    (with a note saying why). An int8 model no faster than fp32 (a CPU without fast int8 kernels, or ``mixed`` with
    many MatMuls kept fp32) would be slower or as slow, and less faithful."""
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
    fast, slow = result.speed.get("onnx-int8"), result.speed.get("onnx")
    if fast and slow and fast <= slow:
        result.notes.append(
            f"int8 is not the default: it ran at {fast:,.0f} texts/s here, no faster than ONNX fp32 ({slow:,.0f}); "
            "serve onnx/model.onnx."
        )
        return "onnx"
    return "onnx-int8"


def stamp_weights(path: Path, sha256: str | None) -> None:
    """Write ``sha256`` (of the weights exported) into the ONNX file's ``metadata_props``
    (:data:`~sxhub.model_info.ONNX_WEIGHTS_KEY`): loading it checks it against the folder's, so an ``onnx/`` copied
    from another student of the same task (same vocabulary and labels) is refused instead of serving that student.

    In the file, not only in ``sxhub.json``: the folder's record stays the folder's when another ``onnx/`` is copied
    in. Only the graph is read and written again: tensors kept in external data files (an export over 2 GB, which
    protobuf cannot hold in one file) keep their files and names, untouched; reading them in made ``onnx.save``
    write every tensor into the graph (over 2 GB it cannot) and left the data file beside it unused."""
    if sha256 is None:
        return
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    kept = [p for p in model.metadata_props if p.key != ONNX_WEIGHTS_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    model.metadata_props.add(key=ONNX_WEIGHTS_KEY, value=sha256)
    onnx.save(model, str(path))


def write_record(model_dir: Path, result: ExportResult) -> None:
    """Add the ``export`` block to ``sxhub.json`` (written when missing: a plain transformers folder)."""
    path = model_dir / SXHUB_JSON
    info = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    info["export"] = result.record()
    tmp = path.with_name(f".export-{SXHUB_JSON}")  # replaced whole: a write stopped part-way left invalid JSON
    tmp.write_text(json.dumps(info, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def check_sample(
    model_dir: Path,
    info: dict[str, Any],
    *,
    data: str | os.PathLike[str] | None,
    text_column: str | None,
    n: int,
) -> tuple[list[str], str, list[str]]:
    """Up to ``n`` texts (a seeded sample) from ``data`` (a file or a Hub dataset id, e.g. the dataset the model
    card cites); else the task's few-shot examples and the built-in sentences, too few to make int8 the default.
    Returns the texts, a line saying where they came from, and up to :data:`FITTING_TEXTS` other texts of
    ``data`` (a seeded sample outside the check texts; none when the check takes them all). Where the model folder
    records the texts it trained on (``trained_texts.npz``), those it never trained on (its validation texts, texts
    from outside its training file) go to the fitting texts first."""
    if data is not None:
        from .data import find_text_column, is_missing_text, read_table

        source = str(data)
        frame = read_table(source)
        column = find_text_column(frame, text_column)
        # each text once, as the model reads it (cleaned: two tweets differing in a @handle are one text to it): a
        # repeated text would be checked and fitted on (static int8, mixed, the recheck margin)
        preprocessing = read_model_info(model_dir).preprocessing if (Path(model_dir) / "config.json").is_file() else {}
        once: dict[str, str] = {}
        for t in frame[column].tolist():
            if not is_missing_text(t):
                once.setdefault(clean_text(str(t), preprocessing), str(t))
        texts = list(once.values())
        if not texts:
            raise InputError(f"{str(source)!r} has no texts in column {column!r}; pass the training data with --data.")
        order = np.random.default_rng(0).permutation(len(texts))
        recorded = (Path(model_dir) / TRAINED_TEXTS_FILE).is_file()
        marks = seen(model_dir, texts, preprocessing) if recorded else None
        if marks is not None:  # the texts the student never trained on go to the fitting texts first: int8's
            # near-ties margin is fitted on them (sxhub.export_int8.margin_texts)
            first = order[~marks.trained[order]][:FITTING_TEXTS]
            rest = order[~np.isin(order, first)]
            order = np.concatenate([rest[:n], first, rest[n:]])
        check, spare = np.sort(order[:n]), np.sort(order[n : n + FITTING_TEXTS])
        name = Path(source).name if Path(source).exists() else source
        return [texts[i] for i in check], f"{len(check)} texts from {name}", [texts[i] for i in spare]
    texts = check_texts_for(info)
    return texts, f"{len(texts)} built-in sample texts (no training data given: pass --data)", []


def check_texts_for(info: dict[str, Any]) -> list[str]:
    """The task's few-shot examples and built-in sample sentences."""
    examples = [ex["text"] for ex in (info.get("task") or {}).get("examples", []) if ex.get("text")]
    return [*examples, *SAMPLE_TEXTS]


def _threads_label(threads: tuple[int, int] | None, torch_gpu: str | None = None) -> str:
    """Where the variants ran: ONNX Runtime on ``threads[0]`` CPU threads (:func:`~sxhub.onnx_runtime.cpu_threads`:
    the physical cores this process may use, at most the container's CPU limit), torch (and torch-bf16) on
    ``threads[1]``, or on the GPU ``torch_gpu`` where torch sees one (:func:`~sxhub.predict.torch_device`). The record
    and the card said "16 CPU core(s), all threads", ``os.cpu_count()``: the logical CPUs, the host's in a container
    limited to 2, of speeds measured on 8 or 2 threads, and of torch's measured on a GPU."""
    if threads is None:
        return f"{os.cpu_count()} CPU core(s), all threads"
    onnx, torch_threads = threads
    torch_on = f"a GPU ({torch_gpu})" if torch_gpu else f"{torch_threads}"
    return f"ONNX Runtime on {onnx} CPU thread(s), torch on {torch_on}"


def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


def _gpu_name() -> str:
    import torch

    return str(torch.cuda.get_device_name())
