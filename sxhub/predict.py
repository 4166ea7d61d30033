"""Label texts with a trained student, from a Python list or a file of millions of rows.

``Predictor`` loads a model folder (torch, or the ONNX export beside it) and returns labels and per-label
probabilities; the Gradio Space and ``sxhub evaluate`` reuse it. Texts are tokenised, sorted by length for tight
padding, run in batches and put back in input order. Texts are first cleaned and truncated exactly as at training
time (the preprocessing block saved in ``sxhub.json``), and multi-label decisions use the per-label thresholds saved
then too. ``predict_file`` (:mod:`sxhub.predict_files`) streams a file in chunks, so memory stays bounded whatever
the input's size.

    from sxhub.predict import Predictor
    labels, probs = Predictor("student").predict(["Operating profit rose to EUR 9m."])
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .activations import sigmoid, softmax
from .data import apply_preprocessing, is_missing_text
from .errors import InputError, ModelError, UserError

# what a model folder says about itself (labels, thresholds, preprocessing, its ONNX files) is read in
# :mod:`sxhub.model_info`; the names below stay importable from here, where they were first
from .model_info import DEFAULT_MAX_LENGTH as DEFAULT_MAX_LENGTH  # re-exported, as before the split
from .model_info import (
    ONNX_DIR,
    ONNX_FILE,
    ONNX_INT8_FILE,
    read_model_info,
    recorded_weights,
    recorded_weights_stat,
    resolve_model_dir,
)
from .model_info import ModelInfo as ModelInfo  # re-exported, as before the split
from .model_info import onnx_path as onnx_path  # re-exported, as before the split
from .recipe import cut_count
from .run_record import SXHUB_JSON as SXHUB_JSON  # re-exported, as before the split
from .sequences import SequenceNotStr, refuse_one_string

logger = logging.getLogger(__name__)


def check_predictor_model(model_dir: str | os.PathLike[str], predictor: Predictor) -> None:
    """Refuse a ``predictor=`` loaded from another folder than ``model_dir``: ``evaluate(other, data,
    predictor=p)`` scored ``p``'s model and reported it as if it were ``other``'s, without a word. A Hub id (no such
    local path) is left to the predictor, which resolved it when it loaded."""
    given = Path(model_dir)
    if given.exists() and given.resolve() != Path(predictor.model_dir).resolve():
        raise UserError(
            f"model_dir {os.fspath(model_dir)!r} is not the model predictor= was loaded from "
            f"({os.fspath(predictor.model_dir)!r}); pass that folder as model_dir, or leave predictor= out to load "
            f"{os.fspath(model_dir)!r}."
        )


# --------------------------------------------------------------------------------------------------------------
# the predictor
# --------------------------------------------------------------------------------------------------------------
@dataclass
class Prepared:
    """Texts made ready for a :class:`Predictor`'s model (:meth:`Predictor.prepare`): ``n`` texts, cleaned, and their
    token ids on the ONNX path."""

    n: int
    texts: list[str] = field(default_factory=list)
    ids: list[list[int]] = field(default_factory=list)
    truncated: int = 0  # ONNX: texts longer than max_length, whose ids were cut there


class Predictor:
    """Labels and probabilities from a model folder (or a Hub model id), with torch or ONNX Runtime.

    ``predict(texts)`` returns ``(labels, probs)``: a label name per text (single-label) or a list of names
    (multi-label, decided with the saved per-label thresholds), and an ``(n, n_labels)`` float array. ``texts`` is
    a list (one string is refused). Load a Predictor once and call it many times; several threads may call it at
    once (torch's forward and ONNX Runtime's ``run`` are thread-safe; ``rechecked`` is a count, not exact then).

    With torch, a BERT or RoBERTa classifier runs its last layer for the first token only (:mod:`sxhub.cls_only`:
    the same logits, a sixth less work for MiniLM-L6); ``cls_only=False`` runs transformers' own forward.

    With int8, the texts whose decision int8 left within ``recheck`` logits of changing run again through the fp32
    export, whose logits replace int8's for them (``True``: the margin ``sxhub export`` fitted and recorded, none
    when it recorded none; ``False``: never). int8's error is small on most texts and large on a few; a text can
    change label only where its margin is under that error, so this gives fp32's labels on near-ties at the cost of
    running a few texts twice (:func:`sxhub.export.fit_recheck_margin`). ``rechecked`` counts them.

    ``onnx_dir`` is the folder the ONNX files are read from (default ``MODEL_DIR/onnx``): ``sxhub export`` checks the
    files it is writing in a work folder before they replace the model's, so that an export stopped or failed
    part-way leaves the earlier export and its record as they were. ``sxhub.json``'s ``export`` block describes the
    model's own files, so its int8 warning is not given for others.
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str],
        *,
        onnx: bool = False,
        int8: bool = False,
        batch_size: int = 32,
        threads: int | None = None,
        bf16: bool = False,
        cls_only: bool = True,
        recheck: bool | float | Sequence[float] = True,
        onnx_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if batch_size < 1:
            raise InputError(f"batch_size={batch_size!r} must be a positive integer.")
        if bf16 and onnx:
            raise InputError(
                "bf16 runs the torch model in bfloat16, not the ONNX export; drop --onnx, or drop --bf16 (the ONNX "
                "variants are fp32 and int8)."
            )
        if int8 and not onnx:  # the torch model ran in fp32 without a word, where --int8 alone is refused
            raise InputError(
                "int8 runs the quantised ONNX export; add --onnx (Python: onnx=True), after sxhub export --int8."
            )
        self.model_dir = resolve_model_dir(model_dir)
        self.info = read_model_info(self.model_dir)
        self.batch_size = batch_size
        self.bf16 = bf16
        self.backend = backend_name(onnx=onnx, int8=int8, bf16=bf16)
        self._session: Any = None
        self._model: Any = None
        self._cls_only: Any = None
        self._onnx: Any = None
        self._fp32: Any = None  # int8's recheck: the fp32 export, loaded when a text first needs it
        self.recheck_margin: float | list[float] | None = None  # multi-label: one per label
        self.rechecked = 0  # texts int8 left near a tie, rerun in fp32
        # texts longer than the model's max_length, labelled on their first max_length tokens (a count, as rechecked)
        self.truncated = 0
        self._threads = threads
        self._onnx_dir = Path(onnx_dir) if onnx_dir is not None else self.model_dir / ONNX_DIR
        if onnx:  # tokenizers + onnxruntime only: no torch or transformers import (seconds of startup)
            from .onnx_runtime import OnnxClassifier

            path = self._onnx_dir / (ONNX_INT8_FILE if int8 else ONNX_FILE)
            self._onnx = OnnxClassifier(self.model_dir, path, max_length=self.info.max_length, threads=threads,
                                        batch_size=batch_size, n_labels=len(self.info.labels),
                                        weights=recorded_weights(self.info.extra),
                                        weights_stat=recorded_weights_stat(self.info.extra))  # fmt: skip
            self._session, self.tokenizer = self._onnx.session, self._onnx.tokenizer
            if int8:
                if onnx_dir is None:  # the recorded export's files: its record says whether int8 is the default
                    _warn_if_int8_is_not_the_default(self.info.extra.get("export") or {})
                self.recheck_margin = _recheck_margin(recheck, self.info.extra, len(self.info.labels))
                if self.recheck_margin and not (self._onnx_dir / ONNX_FILE).is_file():
                    raise ModelError(
                        f"{str(self._onnx_dir / ONNX_FILE)!r} not found: int8 reruns its near-ties with the fp32 "
                        f"export; run sxhub export {self.model_dir} --int8 again, or pass --no-recheck."
                    )
        else:
            _refuse_onnx_only(self.model_dir, self._onnx_dir)
            _refuse_without_torch(self.model_dir, self._onnx_dir)
            self.tokenizer = load_tokenizer(self.model_dir)
            # padded on the right as the ONNX path and single texts are: left padding moves an encoder's positions,
            # so a text's probabilities depended on its batch (a folder saved with padding_side "left")
            self.tokenizer.padding_side = "right"
            self._model, self._device = _torch_model(self.model_dir, threads)
            if cls_only:  # the last layer for the first token only: the same logits, ~1/L less work
                from .cls_only import ClsOnly, cls_only_reason

                if cls_only_reason(self._model) is None:
                    self._cls_only = ClsOnly(self._model).eval()
            if bf16 and not native_bf16(self._device):
                logger.warning(
                    "this %s has no native bfloat16 (AVX-512 BF16, AMX or Arm BF16): --bf16 is emulated here and "
                    "likely slower than fp32; drop --bf16.",
                    "GPU" if self._device.type == "cuda" else "CPU",
                )

    @property
    def labels(self) -> list[str]:
        return self.info.labels

    @property
    def device(self) -> str:
        """The device type the model runs on: ``cuda`` (torch on the GPU, :func:`torch_device`) or ``cpu`` (ONNX
        Runtime runs on the CPU's threads)."""
        device = getattr(self, "_device", None) if self._model is not None else None
        return str(device.type) if device is not None else "cpu"

    @property
    def multi_label(self) -> bool:
        return self.info.multi_label

    def predict(self, texts: SequenceNotStr[str], *, progress: Any = None) -> tuple[list[Any], np.ndarray]:
        """Labels and probabilities for ``texts`` (a list of str), in input order."""
        return self.predict_prepared(self.prepare(text_list(texts)), progress=progress)

    def predict_prepared(self, prepared: Prepared, *, progress: Any = None) -> tuple[list[Any], np.ndarray]:
        """``predict`` of texts :meth:`prepare` has made ready."""
        probs = self.prepared_proba(prepared, progress=progress)
        return self.decide(probs), probs

    def decide(self, probs: np.ndarray) -> list[Any]:
        """Label names from probabilities: argmax, or each label over its threshold (multi-label)."""
        if self.multi_label:
            over = probs >= self.info.threshold_vector()
            return [[self.labels[j] for j in np.flatnonzero(row)] for row in over]
        return [self.labels[j] for j in probs.argmax(axis=1)]

    def predict_proba(self, texts: SequenceNotStr[str], *, progress: Any = None) -> np.ndarray:
        """An ``(n, n_labels)`` array: softmax (single-label) or sigmoid (multi-label) of the logits."""
        return self.prepared_proba(self.prepare(text_list(texts)), progress=progress)

    def prepare(self, texts: SequenceNotStr[str]) -> Prepared:
        """The work before the model: each text cleaned as at training time and, on the ONNX path, tokenized.
        ``predict_file`` runs it for the next chunk in a second thread while the model runs this one."""
        refuse_one_string("texts", texts, "texts")  # a str is a Sequence[str]: each character was labelled as a text
        cleaned = [clean_text(t, self.info.preprocessing) for t in texts]
        if self._onnx is not None:
            ids, truncated = self._onnx.encode_counted(cleaned)
            return Prepared(len(cleaned), ids=ids, truncated=truncated)
        return Prepared(len(cleaned), texts=cleaned)  # transformers' tokenizer stays on the thread that pads

    def prepared_proba(self, prepared: Prepared, *, progress: Any = None) -> np.ndarray:
        """``predict_proba`` of texts :meth:`prepare` has made ready."""
        out = np.zeros((prepared.n, len(self.labels)), dtype=np.float32)
        if not prepared.n:
            return out
        if self._onnx is not None:
            self.truncated += prepared.truncated
            logits = self._onnx.logits_of_ids(prepared.ids, progress=progress)
            if self.recheck_margin:
                self._recheck(logits, prepared.ids)
            return self._probabilities(logits)
        texts = prepared.texts
        encoded = self.tokenizer(texts, truncation=True, max_length=self.info.max_length)
        self.truncated += cut_count(self.tokenizer, texts, encoded, self.info.max_length)
        order = np.argsort([len(ids) for ids in encoded["input_ids"]], kind="stable")
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            batch = self.tokenizer.pad(
                {k: [encoded[k][i] for i in idx] for k in encoded}, padding=True, return_tensors="np"
            )
            logits = self._logits(batch)
            out[idx] = self._probabilities(logits)
            if progress is not None:
                progress.update(len(idx))
        return out

    def _recheck(self, logits: np.ndarray, ids: list[list[int]]) -> None:
        """Replace int8's logits with fp32's (in place) for the texts within ``recheck_margin`` of a label change."""
        from .onnx_runtime import near_ties, threshold_logits

        if self.recheck_margin is None:
            return
        cuts = threshold_logits(self.info.threshold_vector()) if self.multi_label else None
        rows = np.flatnonzero(near_ties(logits, self.recheck_margin, cuts))
        if not rows.size:
            return
        logits[rows] = self.load_recheck().logits_of_ids([ids[i] for i in rows])
        self.rechecked += int(rows.size)

    def load_recheck(self) -> Any:
        """The fp32 export that int8's near-ties rerun on (loaded on first use)."""
        from .onnx_runtime import OnnxClassifier

        if self._fp32 is None:
            self._fp32 = OnnxClassifier(self.model_dir, self._onnx_dir / ONNX_FILE, max_length=self.info.max_length,
                                        threads=self._threads, batch_size=self.batch_size,
                                        n_labels=len(self.info.labels),
                                        weights=recorded_weights(self.info.extra),
                                        weights_stat=recorded_weights_stat(self.info.extra))  # fmt: skip
        return self._fp32

    def _probabilities(self, logits: np.ndarray) -> np.ndarray:
        return (sigmoid(logits) if self.multi_label else softmax(logits)).astype(np.float32)

    def _logits(self, batch: Mapping[str, Any]) -> np.ndarray:
        import torch

        # bf16: autocast runs the matrix multiplications in bfloat16 and keeps LayerNorm and softmax in fp32
        with torch.inference_mode(), torch.autocast(self._device.type, dtype=torch.bfloat16, enabled=self.bf16):
            inputs = {k: torch.as_tensor(v).to(self._device) for k, v in batch.items()}
            forward = self._cls_only or (lambda **kw: self._model(**kw).logits)
            try:
                return forward(**inputs).float().cpu().numpy()
            except RuntimeError as exc:
                if not (self.bf16 and bf16_failure(exc)):
                    raise
                raise NoBf16Error(no_bf16_reason(self._model, exc)) from exc


def bf16_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is a model's own failure under bfloat16 autocast: transformers' DeBERTa (v1) fills masked
    scores with float32's lowest value, which bf16 cannot hold ("value cannot be converted to type c10::BFloat16
    without overflow"), X-MOD puts bf16 into a float32 tensor ("... got Float for the destination and BFloat16 for
    the source"). Not an out-of-memory error, also a RuntimeError."""
    import torch

    return isinstance(exc, RuntimeError) and not isinstance(exc, torch.OutOfMemoryError) and "BFloat16" in str(exc)


def no_bf16_reason(model: Any, exc: BaseException) -> str:
    """``"DebertaForSequenceClassification does not run in bfloat16 (<torch's first line>)"``."""
    said = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
    return f"{type(model).__name__} does not run in bfloat16 ({said})"


class NoBf16Error(ModelError):
    """A model that fails under bfloat16 autocast; ``reason`` says why (``sxhub export`` notes it, the export stands)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"{reason}; drop --bf16 to run it in fp32.")
        self.reason = reason


def backend_name(*, onnx: bool = False, int8: bool = False, bf16: bool = False) -> str:
    """How ``sxhub predict`` and its summary name the runtime: torch, torch-bf16, onnx or onnx-int8."""
    if onnx:
        return "onnx-int8" if int8 else "onnx"
    return "torch-bf16" if bf16 else "torch"


def torch_device() -> Any:
    """The device a torch Predictor runs on: the GPU when torch sees one, else the CPU."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _recheck_margin(
    recheck: bool | float | Sequence[float], extra: Mapping[str, Any], n_labels: int
) -> float | list[float] | None:
    """The margin under which int8's texts are rerun in fp32: ``recheck`` when a number (or, multi-label, one per
    label), the one ``sxhub export`` recorded for the int8 model when ``True`` (none if it recorded none), none when
    ``False``."""
    from .onnx_runtime import margin_values

    if recheck is False:
        return None
    if recheck is not True:
        many = isinstance(recheck, (list, tuple, np.ndarray))
        try:
            given: Sequence[Any] = recheck if many else [recheck]  # type: ignore[assignment]
            values = [float(v) for v in given]
        except (TypeError, ValueError):
            values = []
        if not values or not all(v >= 0 for v in values) or (many and len(values) != n_labels):
            raise InputError(
                f"recheck={recheck!r} must be a margin in logits (>= 0), or one per label ({n_labels}), True or False."
            )
        return margin_values(values if many else values[0])
    variant = (((extra.get("export") or {}).get("variants") or {}).get("onnx-int8")) or {}
    return margin_values((variant.get("recheck") or {}).get("margin"))


def native_bf16(device: Any = None) -> bool:
    """Whether ``device`` runs bfloat16 matrix multiplications in hardware: a GPU that supports bf16, or a CPU with
    AVX-512 BF16 or AMX (x86) or the BF16 extension (Arm). Elsewhere oneDNN emulates bf16, slower than fp32."""
    import platform

    import torch

    device = device or torch_device()
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    try:
        if platform.machine().lower() in {"aarch64", "arm64"}:  # oneDNN's own check is the Arm BF16 extension there
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        # on x86 oneDNN's check accepts any AVX-512 CPU, which emulates bf16: ask for the instructions themselves
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):  # probes private to torch: absent in some build, then no native bf16
        return False


def text_list(texts: SequenceNotStr[str]) -> list[str]:
    """The texts of ``predict``/``predict_proba`` as a list, each a str, or one line naming what to pass instead.
    A DataFrame was read as its column names (two labels for 'text' and 'label'), a datasets.Dataset as its rows'
    dicts (each row's repr predicted, the gold label inside it), and None, NaN or a number as the word: each was
    labelled without a word. (``predict_file`` keeps a file's rows without a text, unlabelled.)"""
    refuse_one_string("texts", texts, "texts")  # a str is a Sequence[str]: each character was labelled as a text
    kind = type(texts).__name__
    if hasattr(texts, "columns") or hasattr(texts, "column_names") or isinstance(texts, Mapping):
        column = "df['text'].tolist()" if hasattr(texts, "columns") else "ds['text']"
        raise InputError(f"texts= takes a list of texts, not a {kind}: pass its column of texts, e.g. {column}.")
    items = list(texts)
    for i, text in enumerate(items):
        if not isinstance(text, str):
            shown = repr(text) if len(repr(text)) <= 60 else f"{repr(text)[:40]}..."
            raise InputError(
                f"texts[{i}] is {shown} ({type(text).__name__}), not a text: pass a list of str, without the rows "
                "that have no text (e.g. df['text'].dropna().tolist())."
            )
    return items


def clean_text(text: Any, preprocessing: Mapping[str, Any]) -> str:
    """A text as the model saw texts in training: its saved preprocessing applied; a missing text is ``""``."""
    text = "" if is_missing_text(text) else str(text)  # never the word "nan" or "<NA>"
    return apply_preprocessing(text, preprocessing)


def _warn_if_int8_is_not_the_default(record: Mapping[str, Any]) -> None:
    """``sxhub export`` did not make int8 the default (under the agreement bar, checked on too few texts, or no
    faster than fp32 there): say so once, on stderr, with the reason export recorded in its notes. The line said
    "measured 100.00% ... (bar 99.5%) ... export again with --data to check on more texts" whatever the reason, so
    an int8 model that agreed on 1,000+ texts but ran no faster sent the user to re-export for nothing."""
    int8 = (record.get("variants") or {}).get("onnx-int8") or {}
    if record.get("default") in (None, "onnx-int8") or "label_agreement" not in int8:
        return
    prefix = "int8 is not the default: "
    reason = next((n for n in record.get("notes") or [] if isinstance(n, str) and n.startswith(prefix)), None)
    if reason is not None:
        logger.warning(
            "onnx/model_int8.onnx is not this model's default; sxhub export noted: %s Drop --int8 (Python: int8=False) "
            "for fp32 ONNX.",
            reason[len(prefix) :],
        )
        return
    logger.warning(  # a record written before export noted its reason
        "onnx/model_int8.onnx is not this model's default: sxhub export measured %.2f%% of fp32's labels on %d "
        "texts (bar %.1f%%); drop --int8 (Python: int8=False) for fp32 ONNX, or export again with --data to check on "
        "more texts.",
        100 * int8["label_agreement"],
        int8.get("n", 0),
        100 * float(record.get("agreement_bar") or 0.995),
    )


def load_tokenizer(model_dir: str | os.PathLike[str]) -> Any:
    """``AutoTokenizer.from_pretrained(model_dir)``; a folder without its tokenizer files is one :class:`ModelError`.

    transformers 5 builds a tokenizer from nothing but ``config.json`` when the folder has no tokenizer.json,
    vocab.txt or the like: its vocabulary is the special tokens alone, every word is ``[UNK]``, and every text got
    the same label and probabilities, with exit code 0. A folder that lost tokenizer.json alone (a student's
    tokenizer_config.json names PreTrainedTokenizerFast, whose only vocabulary is that file) failed in transformers'
    words instead, "Couldn't instantiate the backend tokenizer ... install sentencepiece", exit 1."""
    from transformers import AutoTokenizer

    from .head import has_vocabulary

    missing = ModelError(
        f"{str(model_dir)!r} has no tokenizer vocabulary (no tokenizer.json, vocab.txt or the like beside its "
        "config.json); copy or download the model folder again with its tokenizer files, or train it again."
    )
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
    except ValueError as exc:  # tokenizer_config.json names a fast tokenizer whose tokenizer.json is gone
        if Path(model_dir, "tokenizer.json").is_file():
            raise
        raise missing from exc
    if not has_vocabulary(tokenizer):
        raise missing
    return tokenizer


def _refuse_onnx_only(model_dir: Path, onnx_dir: Path) -> None:
    """One line naming --onnx for a folder that holds the ONNX export and no torch weights (the files a Space or a
    server needs, copied without model.safetensors): loading it said to copy the folder again or train it again,
    though ``--onnx`` runs what it holds."""
    from .head import WEIGHTS_FILES

    if not model_dir.is_dir() or any((model_dir / name).is_file() for name in WEIGHTS_FILES):
        return
    exported = [name for name in (ONNX_FILE, ONNX_INT8_FILE) if (onnx_dir / name).is_file()]
    if exported:
        flags = "--onnx" if ONNX_FILE in exported else "--onnx --int8"
        raise ModelError(
            f"{str(model_dir)!r} holds the ONNX export ({', '.join(ONNX_DIR + '/' + n for n in exported)}) but no "
            f"torch weights ({WEIGHTS_FILES[0]}); add {flags} to run the export (Python: onnx=True), or copy the "
            "folder again with its weights."
        )


def _refuse_without_torch(model_dir: Path, onnx_dir: Path) -> None:
    """One line for the torch path on a machine without torch or transformers (a server set up for ONNX Runtime
    alone, as ``predict --onnx`` needs): it ended in ``Error: ModuleNotFoundError: No module named 'torch'``, exit 1.
    It names --onnx where the folder holds the export."""
    import importlib.util

    for module in ("torch", "transformers"):
        if importlib.util.find_spec(module) is None:
            onnx = " (Python: onnx=True)" if (onnx_dir / ONNX_FILE).is_file() else ""
            instead = f", or add --onnx{onnx} to run its ONNX export with ONNX Runtime alone" if onnx else ""
            raise ModelError(
                f"{str(model_dir)!r}: the torch model needs {module}, which is not installed; run pip install "
                f"sxhub (torch's CPU build first: pip install torch --index-url https://download.pytorch.org/whl/cpu)"
                f"{instead}."
            )


def load_student(model_dir: str | os.PathLike[str], **kwargs: Any) -> Any:
    """``AutoModelForSequenceClassification.from_pretrained(model_dir, **kwargs)``; weights that are missing,
    truncated or corrupt are one :class:`ModelError` naming the folder and the fix (predict, evaluate, export)."""
    from safetensors import SafetensorError
    from transformers import AutoModelForSequenceClassification

    try:
        return AutoModelForSequenceClassification.from_pretrained(model_dir, **kwargs)
    except (OSError, SafetensorError) as exc:  # a truncated or corrupt weights file too
        raise ModelError(
            f"{str(model_dir)!r} could not be loaded ({type(exc).__name__}: {str(exc)[:160]}); copy or download the "
            "folder again, or train it again."
        ) from exc


def _torch_model(model_dir: Path, threads: int | None) -> tuple[Any, Any]:
    if threads:
        from .torch_threads import set_torch_threads

        set_torch_threads(threads)
    device = torch_device()
    return load_student(model_dir).to(device).eval(), device


# the file stage (``predict_file`` and its parts) lives in :mod:`sxhub.predict_files`; these names stay importable from
# here, where they were first
_FILE_STAGE = frozenset(
    (
        "PredictSummary",
        "iter_chunks",
        "count_rows",
        "prediction_columns",
        "predict_chunk",
        "prepare_chunk",
        "finish_chunk",
        "predict_file",
    )
)


def __getattr__(name: str) -> Any:
    if name in _FILE_STAGE:
        from . import predict_files

        return getattr(predict_files, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
