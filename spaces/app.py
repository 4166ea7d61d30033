"""The Gradio Space of an sxhub synthetic expert: type a text and see every label's probability, or label a CSV.

It needs no sxhub install: gradio, pandas, huggingface_hub, and either onnxruntime + tokenizers (it serves the ONNX
variant ``sxhub export`` made the default: ``onnx/model_int8.onnx`` when int8 met the agreement bar, else
``onnx/model.onnx``) or transformers + torch. The model comes from, in order: the ``SXHUB_MODEL`` environment
variable, ``config.json`` beside this file (written by ``sxhub publish space``), or a ``model/`` folder beside this
file. ``SXHUB_BACKEND`` (or ``backend`` in ``config.json``: auto, onnx-int8, onnx, torch) picks the runtime.

Every text is cleaned and truncated as the model's training texts were, with the steps saved in the model's
``config.json`` (``sxhub_preprocessing``): the same block ``sxhub predict`` applies. Multi-label thresholds come
from the model's ``sxhub.json`` or its config (``sxhub_thresholds``); without them a label is on at probability 0.5.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import tempfile
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import gradio as gr
import numpy as np
import pandas as pd
import psutil

HERE = Path(__file__).resolve().parent
MAX_CSV_ROWS = 5000
# an upload's size limit: launch(max_file_size=) makes gradio refuse a larger file as it streams in (its page says so
# before sending it, an API client gets a 413); label_csv checks it again for an app launched without the limit
MAX_CSV_BYTES = 50 * 1024 * 1024
# gradio's delete_cache: every hour, the uploads and labelled CSVs older than a day are deleted (a public Space kept
# every one, and its disk filled up)
DELETE_CACHE = (3600, 24 * 3600)
BATCH = 32
INT8_FILE = "onnx/model_int8.onnx"
ONNX_FILES = {"onnx-int8": INT8_FILE, "onnx": "onnx/model.onnx"}  # the ONNX variants `sxhub export` writes
SMALL_FILES = ["*.json", "*.txt", "*.model"]  # config, sxhub.json and the tokenizer: what ONNX serving needs
DEFAULT_EXAMPLES = ["Operating profit rose from EUR 7m to 9m.", "The company cut its sales forecast for the year."]
BACKENDS = ("auto", "onnx-int8", "onnx", "torch")
TEXT_COLUMNS = ("text", "sentence", "content", "tweet", "body", "document")  # sxhub.data.TEXT_COLUMN_GUESSES
DEFAULT_MAX_LENGTH = 256  # sxhub.predict.DEFAULT_MAX_LENGTH: a plain folder's cut, as sxhub predict makes it
MISSING_TEXTS = frozenset({"nan", "none", "null", "<na>", "nat"})  # sxhub.data.MISSING_TEXT_STRINGS
# the characters that are markup inside a line of gr.Markdown: a label name shown there is escaped (md_escape)
MARKDOWN_INLINE = re.compile(r"([\\`*_\[\]<>~&|])")
# a Space that serves ONNX leaves torch out of its requirements.txt (smaller, faster to build), commented there
TORCH_FIX = "uncomment the torch and transformers lines of the Space's requirements.txt (or add them there)"


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def md_escape(text: str) -> str:
    """``text`` (a label name) as written in a ``gr.Markdown`` line: each character that is inline markup gets
    CommonMark's backslash escape, so ``<b>x</b>``, ``*5*`` or ``__label__pos`` show as typed, not as HTML or emphasis."""
    return MARKDOWN_INLINE.sub(r"\\\1", str(text))


def resolve_model(model: str | None = None) -> str:
    """The model to serve: the argument, ``$SXHUB_MODEL``, ``config.json``'s ``model``, else ``model/``."""
    ref = model or os.environ.get("SXHUB_MODEL") or (_read_json(HERE / "config.json") or {}).get("model") or "model"
    local = HERE / ref
    return str(local) if not Path(ref).is_absolute() and local.is_dir() else str(ref)


def model_files(ref: str, *, onnx: list[str] | None = None) -> Path:
    """A folder with the model's config, ``sxhub.json`` and tokenizer (and the ONNX variants ``onnx`` names, keys
    of :data:`ONNX_FILES`, when asked for)."""
    if Path(ref).is_dir():
        return Path(ref)
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    # and each file's external data (an export over 2 GB keeps its tensors in onnx/<file>.data beside it)
    extra = [pattern for name in onnx or () for pattern in (ONNX_FILES[name], ONNX_FILES[name] + ".data")]
    try:
        return Path(snapshot_download(ref, allow_patterns=SMALL_FILES + extra))
    except Exception as exc:  # a private model: the Space has no token unless given
        # (or, with the small files cached from a run that had one, the cached snapshot lacks the ONNX file asked)
        if denied(exc, RepositoryNotFoundError, GatedRepoError):
            raise no_access(ref) from exc
        raise


def denied(exc: BaseException, *kinds: type[BaseException]) -> bool:
    """Whether ``exc`` is, or was raised from, one of the Hub's errors for a repo it may not read (``kinds``)."""
    return isinstance(exc, kinds) or isinstance(exc.__cause__, kinds)


def no_access(ref: str) -> RuntimeError:
    """The app's line for a model repo it may not read (not found, or private or gated without a token)."""
    return RuntimeError(
        f"model repo {ref!r} was not found, or it is private or gated and this Space has no token that may read "
        f"it: add a secret HF_TOKEN (a token with read access to {ref}) in the Space's settings, or publish the "
        "Space with the model in it (`sxhub publish space MODEL_DIR` without --model-repo)."
    )


def recheck_margin(info: Mapping[str, Any]) -> np.ndarray:
    """The margin (in logits) under which int8's texts run again in fp32, as ``sxhub export`` recorded it: one
    number (single-label), or one per label (multi-label); all zeros: none. ``sxhub predict --onnx --int8`` reruns
    the same texts (``sxhub.onnx_runtime.near_ties``), so both give the same labels."""
    variant = (((info.get("export") or {}).get("variants") or {}).get("onnx-int8")) or {}
    margin = (variant.get("recheck") or {}).get("margin") or 0.0
    return np.atleast_1d(np.asarray(margin, dtype=np.float64))


def near_ties(logits: np.ndarray, margin: np.ndarray, cuts: np.ndarray | None) -> np.ndarray:
    """The texts within ``margin`` of a label change, as ``sxhub.onnx_runtime.near_ties`` finds them: the gap
    between the top two logits (single-label), or a label's logit within its own margin of its threshold's logit
    ``cuts`` (multi-label)."""
    if cuts is None:
        return decision_margins(logits, None) < float(np.max(margin))
    return (np.abs(logits.astype(np.float64) - cuts) < margin).any(axis=1)


def describe_margin(margin: np.ndarray, labels: list[str]) -> str:
    """How the page says which texts run again in fp32 (``sxhub.onnx_runtime.describe_margin``)."""
    if len(margin) > 8:  # as sxhub names them: above 8 labels (GoEmotions' 28), their range
        return (
            f"within a label's own margin of its threshold ({len(margin)} labels, {float(margin.min()):.2f} to "
            f"{float(margin.max()):.2f} logits; each label's in sxhub.json)"
        )
    if len(margin) > 1:
        names = labels if len(labels) == len(margin) else [f"label {i}" for i in range(len(margin))]
        each = ", ".join(f"{md_escape(name)} {m:.2f}" for name, m in zip(names, margin, strict=True))
        return f"within a label's own margin of its threshold ({each} logits)"
    return f"within {float(margin[0]):.2f} logits of a label change"


def decision_margins(logits: np.ndarray, cuts: np.ndarray | None) -> np.ndarray:
    """How far each text's labels are from changing, in logits: the gap between the two highest (single-label), or
    the closest a label's logit is to its threshold's logit ``cuts`` (multi-label); as ``sxhub`` computes it."""
    if cuts is not None:
        return np.abs(logits.astype(np.float64) - cuts).min(axis=1)
    if logits.shape[1] < 2:
        return np.full(len(logits), np.inf)
    top = np.partition(logits.astype(np.float64), -2, axis=1)
    return top[:, -1] - top[:, -2]


def auto_backend(info: Mapping[str, Any]) -> str:
    """What ``auto`` serves: the variant ``sxhub export`` made the default (``export.default`` in ``sxhub.json``):
    int8 only where it gave fp32's label on enough real texts, else fp32 ONNX. A model exported before that record
    existed serves int8, as it always did."""
    default = (info.get("export") or {}).get("default")
    return default if default in ONNX_FILES else "onnx-int8"


def preprocess(text: str, preprocessing: Mapping[str, Any]) -> str:
    """The model's saved preprocessing block applied to one text, as ``sxhub.data.apply_preprocessing`` does."""
    if preprocessing.get("normalize"):  # one Unicode form ("café" typed NFD on a Mac is the same text)
        text = unicodedata.normalize(preprocessing["normalize"], text)
    for step in preprocessing.get("steps") or ():
        text = re.sub(step["pattern"], _replacer(step), text)
    return text.strip() if preprocessing.get("strip") else text


def _replacer(step: Mapping[str, Any]) -> Callable[[re.Match[str]], str]:
    need = int(step.get("min_digits") or 0)
    return lambda m: step["replacement"] if sum(ch.isdigit() for ch in m[0]) >= need else m[0]


# --------------------------------------------------------------------------------------------------------------
# runtimes: token ids in, logits out, batched as ``sxhub predict`` batches them
# --------------------------------------------------------------------------------------------------------------
def batched_logits(ids: list[list[int]], run: Callable[[list[int]], np.ndarray], workers: int = 1) -> np.ndarray:
    """Logits for every text: sorted by token length (stable), in batches of ``BATCH``, back in input order;
    ``workers`` batches at a time on as many threads.

    ``sxhub predict`` batches the same way, so a CSV labelled here gets its very numbers, also with int8 weights
    (whose activations are quantised per batch).
    """
    order = np.argsort([len(row) for row in ids], kind="stable")
    batches = [order[start : start + BATCH] for start in range(0, len(order), BATCH)]
    if workers > 1 and len(batches) > 1:
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(lambda idx: run(idx.tolist()), batches))
    else:
        results = [run(idx.tolist()) for idx in batches]
    out = np.zeros((len(ids), results[0].shape[1]), dtype=np.float32)
    for idx, logits in zip(batches, results, strict=True):
        out[idx] = logits
    return out


def cpu_threads(topology: Path = Path("/sys/devices/system/cpu"), cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """The physical cores this process may use, as ``sxhub predict`` counts them (hyperthreads of one core share
    its ``thread_siblings_list``; where that cannot be read, psutil's machine-wide ratio of cores to CPUs applied to
    the usable CPUs), at most the container's CPU limit (cgroup v2 ``cpu.max`` or v1's CFS quota, rounded up, as
    joblib's ``cpu_count`` reads it)."""
    usable = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    try:
        cores = {(topology / f"cpu{c}" / "topology" / "thread_siblings_list").read_text().strip() for c in usable}
    except OSError:  # no sysfs (a container without it)
        cores = set()
    count = len(cores)
    if not count:
        count = len(usable) or os.cpu_count() or 1
        physical, logical = psutil.cpu_count(logical=False), psutil.cpu_count(logical=True)
        if physical and logical and logical > physical:  # hyperthreads: one thread per core this process may use
            count = count * physical // logical
    count = max(1, count)
    try:
        quota, period = (cgroup / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        try:
            quota = (cgroup / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (cgroup / "cpu" / "cpu.cfs_period_us").read_text().strip()
        except OSError:
            return count
    try:
        share = int(quota) / int(period)
    except ValueError:  # "max": no limit
        return count
    return min(count, max(1, math.ceil(share))) if share > 0 else count


WEIGHTS_KEY = "sxhub.weights_sha256"  # an export's metadata: the sha256 of the weights it was exported from


def recorded_weights(info: dict[str, Any]) -> str | None:
    """The sha256 of the model's weights as ``sxhub.json`` records it (``sxhub.model_info.recorded_weights``): the
    export's, else training's; None in a record that predates it."""
    export = info.get("export") if isinstance(info.get("export"), dict) else {}
    weights = info.get("weights") if isinstance(info.get("weights"), dict) else {}
    found = export.get("weights_sha256") or weights.get("sha256")
    return found if isinstance(found, str) and found else None


def current_weights(folder: Path, info: dict[str, Any]) -> str | None:
    """The sha256 an ONNX file's stamp is checked against. Where sxhub is installed (``sxhub space`` or ``app.py``
    on a local model folder), sxhub's own reading, as ``sxhub predict --onnx`` makes it
    (``sxhub.model_folder.current_weights_sha256``): a folder that holds the torch weights has them hashed when
    ``sxhub.json`` records no sha256 or they changed since it did; else, and in a folder without them (a Hub repo:
    the Space downloads only onnx/ and the small files), ``sxhub.json``'s record."""
    recorded = recorded_weights(info)
    try:
        from sxhub.model_folder import current_weights_sha256
        from sxhub.model_info import recorded_weights_stat
    except ImportError:
        return recorded
    return current_weights_sha256(folder, recorded, recorded_weights_stat(info))


def onnx_runner(
    folder: Path,
    max_length: int,
    file: str = INT8_FILE,
    *,
    recheck: np.ndarray | None = None,
    cuts: np.ndarray | None = None,
    weights: str | None = None,
) -> tuple[Callable[[list[str]], np.ndarray], Callable[[str], int]]:
    """ONNX Runtime on ``file`` (the int8 or fp32 export) with the model's own ``tokenizer.json`` (no torch), and
    how many tokens a text has before the cut at ``max_length``.

    ``recheck`` (int8): the texts within that margin of a label change (:func:`near_ties`, multi-label with the
    thresholds' logits ``cuts``) run again on the fp32 export, whose logits replace int8's."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()
    full = Tokenizer.from_file(str(folder / "tokenizer.json"))  # a text's whole length, to say where it was cut
    full.no_padding()
    full.no_truncation()
    tokenizer.enable_truncation(max_length)
    # as sxhub.onnx_runtime.pad_token_id reads it: older tokenizers saved the token as an AddedToken dict
    pad_token = (_read_json(folder / "tokenizer_config.json") or {}).get("pad_token")
    if isinstance(pad_token, dict):
        pad_token = pad_token.get("content")
    found = tokenizer.token_to_id(pad_token) if isinstance(pad_token, str) else None
    pad_id = found if found is not None else tokenizer.token_to_id("[PAD]") or 0
    options = ort.SessionOptions()
    # whole batches side by side, one thread each (as sxhub predict runs them): faster than one batch at a time split
    # over an intra-op pool for an encoder's small matrices; a single text runs on one thread
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(folder / file), sess_options=options, providers=["CPUExecutionProvider"])
    fp32 = None
    if recheck is not None and np.any(recheck > 0) and file == INT8_FILE:
        fp32 = ort.InferenceSession(str(folder / ONNX_FILES["onnx"]), options, providers=["CPUExecutionProvider"])
    unchecked = []
    for name, loaded in ((file, session), (ONNX_FILES["onnx"], fp32)):
        if loaded is None:
            continue
        stamp = (loaded.get_modelmeta().custom_metadata_map or {}).get(WEIGHTS_KEY)
        if stamp and weights and stamp != weights:  # sxhub.onnx_runtime.OnnxClassifier refuses it the same way
            raise ValueError(
                f"{name} is not an export of this model: it was exported from other weights (sha256 {stamp[:12]}, "
                f"the model's are {weights[:12]}); run `sxhub export MODEL` on the model folder and publish again."
            )
        if not (stamp and weights):
            unchecked.append(name)
    if unchecked:  # an export older than the stamp: served as before, and the Space's log says it was not checked
        import warnings

        why = "sxhub.json records no sha256 of the model's weights" if not weights else "it carries no weights sha256"
        warnings.warn(
            f"{' and '.join(unchecked)} could not be checked against the model's weights ({why}: an export older "
            "than that record), so it is served unchecked; run `sxhub export MODEL` on the model folder and publish "
            "again.",
            UserWarning,
            stacklevel=2,
        )

    def logits(model: Any, encoded: list[Any]) -> np.ndarray:
        names = [i.name for i in model.get_inputs()]

        def batch(idx: list[int]) -> np.ndarray:
            width = max(len(encoded[i].ids) for i in idx)

            def pad(rows: list[list[int]], value: int) -> np.ndarray:
                return np.array([row + [value] * (width - len(row)) for row in rows], dtype=np.int64)

            feed = {
                "input_ids": pad([encoded[i].ids for i in idx], pad_id),
                "attention_mask": pad([encoded[i].attention_mask for i in idx], 0),
                "token_type_ids": pad([encoded[i].type_ids for i in idx], 0),
            }
            return np.asarray(model.run(None, {n: feed[n] for n in names})[0], dtype=np.float32)

        return batched_logits([e.ids for e in encoded], batch, workers=cpu_threads())

    def run(texts: list[str]) -> np.ndarray:
        encoded = tokenizer.encode_batch(texts)
        out = logits(session, encoded)
        if fp32 is not None and recheck is not None:
            rows = np.flatnonzero(near_ties(out, recheck, cuts))
            if rows.size:
                out[rows] = logits(fp32, [encoded[i] for i in rows])
        return out

    return run, lambda text: len(full.encode(text).ids)


def torch_runner(ref: str, max_length: int) -> tuple[Callable[[list[str]], np.ndarray], Callable[[str], int]]:
    """transformers + torch on the model's weights, and how many tokens a text has before the cut."""
    import torch
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(ref)
        model = AutoModelForSequenceClassification.from_pretrained(ref).eval()
    except Exception as exc:
        # the small files came from the cache (read once with a token, since removed), the weights cannot: the
        # Hub's error as it is, or wrapped in transformers' OSError
        if denied(exc, RepositoryNotFoundError, GatedRepoError):
            raise no_access(ref) from exc
        raise

    def run(texts: list[str]) -> np.ndarray:
        encoded = tokenizer(texts, truncation=True, max_length=max_length)

        def batch(idx: list[int]) -> np.ndarray:
            inputs = tokenizer.pad({k: [encoded[k][i] for i in idx] for k in encoded}, return_tensors="pt")
            with torch.inference_mode():
                return model(**inputs).logits.float().numpy()

        return batched_logits(encoded["input_ids"], batch)

    return run, lambda text: len(tokenizer(text, truncation=False, verbose=False)["input_ids"])


def _onnx_installed() -> bool:
    return _installed("onnxruntime", "tokenizers")


def _torch_installed() -> bool:
    return _installed("torch", "transformers")


def _installed(*names: str) -> bool:
    import importlib.util

    try:
        return all(importlib.util.find_spec(name) is not None for name in names)
    except (ImportError, ValueError):  # a module set to None in sys.modules, or one without a spec
        return False


def saved_before_the_block(folder: Path, ref: str) -> dict[str, Any]:
    """The cleaning ``sxhub predict`` gives a model trained with ``preprocess: true`` before sxhub saved its block:
    sxhub's own reading where sxhub is installed (``app.py`` run on a model folder); else none, said in a warning
    (``sxhub publish model`` writes the block into every copy it publishes, so a published model has it)."""
    try:
        from sxhub.predict import read_model_info
    except ImportError:
        import warnings

        warnings.warn(
            f"{ref} was trained with preprocess: true but saved no preprocessing block, and sxhub is not installed "
            "here to read it: texts are served uncleaned, unlike sxhub predict; publish the model again with "
            "`sxhub publish model` (it writes the block), or install sxhub beside this app.",
            UserWarning,
            stacklevel=3,
        )
        return {}
    return dict(read_model_info(folder).preprocessing)


# --------------------------------------------------------------------------------------------------------------
# the expert
# --------------------------------------------------------------------------------------------------------------
@dataclass
class Expert:
    """The model with its label order, task type, thresholds, saved preprocessing and the runtime serving it."""

    model: str
    labels: list[str]
    multi_label: bool
    thresholds: dict[str, float]
    preprocessing: dict[str, Any]
    backend: str
    run: Callable[[list[str]], np.ndarray] = field(repr=False)
    info: dict[str, Any] = field(default_factory=dict, repr=False)
    tokens: Callable[[str], int] | None = field(default=None, repr=False)  # a cleaned text's tokens, uncut

    @classmethod
    def load(
        cls, model: str | None = None, *, backend: str | None = None, preprocessing: dict[str, Any] | None = None
    ) -> Expert:
        ref = resolve_model(model)
        choice = backend or os.environ.get("SXHUB_BACKEND") or (_read_json(HERE / "config.json") or {}).get("backend")
        choice = choice or "auto"
        if choice not in BACKENDS:
            raise ValueError(
                f"backend {choice!r} is not one of {', '.join(BACKENDS)}; fix SXHUB_BACKEND or config.json."
            )
        folder = model_files(ref)
        config = _read_json(folder / "config.json") or {}
        info = _read_json(folder / "sxhub.json") or {}
        wanted = auto_backend(info) if choice == "auto" else choice
        recheck = recheck_margin(info) if wanted == "onnx-int8" else None
        if recheck is not None and not np.any(recheck > 0):  # none recorded: int8 alone
            recheck = None
        if wanted in ONNX_FILES:  # int8 with a recheck reruns its near-ties on the fp32 export: both files
            folder = model_files(ref, onnx=[wanted, "onnx"] if recheck is not None else [wanted])
        id2label = {int(k): v for k, v in (config.get("id2label") or {}).items()}
        labels = [id2label[i] for i in sorted(id2label)]
        multi = bool(info.get("multi_label", config.get("problem_type") == "multi_label_classification"))
        thresholds = info.get("thresholds") or config.get("sxhub_thresholds") or {}
        # as sxhub.predict.read_model_info reads them: sxhub.json's block first, then config.json's; a plain
        # transformers folder is cut at its position embeddings, at most DEFAULT_MAX_LENGTH tokens
        steps = preprocessing or info.get("preprocessing") or config.get("sxhub_preprocessing") or {}
        if not steps and (info.get("task") or {}).get("preprocess"):
            steps = saved_before_the_block(folder, ref)
        fallback = min(int(config.get("max_position_embeddings") or DEFAULT_MAX_LENGTH), DEFAULT_MAX_LENGTH)
        max_length = int(steps.get("max_length") or info.get("max_length") or fallback)
        file = ONNX_FILES.get(wanted)
        needed = [file, ONNX_FILES["onnx"]] if file and recheck is not None else [file]
        servable = bool(file) and all((folder / f).is_file() for f in needed) and (folder / "tokenizer.json").is_file()
        if choice in ONNX_FILES and not (servable and _onnx_installed()):
            raise FileNotFoundError(
                f"{ref} has no {file} and tokenizer.json (or onnxruntime/tokenizers are missing); run "
                f"`sxhub export MODEL{' --int8' if choice == 'onnx-int8' else ''}` and publish again, or set "
                "SXHUB_BACKEND=torch" + ("" if _torch_installed() else f" and {TORCH_FIX}") + "."
            )
        thresholds = {n: float(thresholds.get(n, 0.5)) for n in labels}
        if file and servable and _onnx_installed():
            cuts = None
            if multi:  # each threshold as the logit where the sigmoid reaches it, from the float32 thresholds
                # sxhub predict reads (ModelInfo.threshold_vector): 0.3 in float64 is another cut, and a text between
                # the two was rerun in fp32 by one and not by the other
                t = np.array([thresholds[n] for n in labels], dtype=np.float32).astype(np.float64)
                t = np.clip(t, 1e-6, 1 - 1e-6)
                cuts = np.log(t / (1 - t))
            (run, tokens), served = (
                onnx_runner(
                    folder, max_length, file, recheck=recheck, cuts=cuts, weights=current_weights(folder, info)
                ),
                wanted,
            )
        elif not _torch_installed():  # an ONNX Space's requirements.txt leaves torch out: one line, not a traceback
            if choice == "torch":
                why = "SXHUB_BACKEND=torch (or config.json's backend) serves the model with PyTorch"
                other = "unset SXHUB_BACKEND"
            else:
                why = (
                    f"{ref} has no ONNX export this Space can serve ({file} and tokenizer.json, with onnxruntime and "
                    "tokenizers), so it would be served with PyTorch"
                )
                other = "run `sxhub export MODEL` and publish again"
            raise ModuleNotFoundError(
                f"{why}, but torch and transformers are not installed: {TORCH_FIX}, or {other} to serve ONNX."
            )
        else:
            (run, tokens), served = torch_runner(ref, max_length), "torch"
        steps = dict(steps, max_length=max_length)
        return cls(ref, labels, multi, thresholds, steps, served, run, info, tokens)

    def probabilities(self, texts: list[str]) -> list[dict[str, float]]:
        """Every label's probability for each text, in label order (texts cleaned as in training)."""
        if not texts:
            return []
        logits = self.run([preprocess(str(t), self.preprocessing) for t in texts])
        if self.multi_label:
            probs = 1.0 / (1.0 + np.exp(-logits))
        else:
            z = np.exp(logits - logits.max(axis=-1, keepdims=True))
            probs = z / z.sum(axis=-1, keepdims=True)
        return [{n: float(p[j]) for j, n in enumerate(self.labels)} for p in probs.astype(np.float32)]

    def decide(self, probs: dict[str, float]) -> str | list[str]:
        """The label (single-label) or the labels at or above their thresholds (multi-label)."""
        if self.multi_label:  # in float32, as sxhub predict compares (0.7 as a float64 is above float32's 0.7)
            return [n for n in self.labels if np.float32(probs[n]) >= np.float32(self.thresholds[n])]
        return max(probs, key=probs.__getitem__)


def _kind(value: Any) -> str:
    """What a caller sent, for an error line: ``3 (int)``, ``a dict``."""
    shown = repr(value)
    return f"{shown if len(shown) <= 60 else shown[:57] + '...'} ({type(value).__name__})"


def label_text(expert: Expert, text: Any) -> tuple[dict[str, float], str]:
    """One text: the probabilities for ``gr.Label`` and a line that states the decision.

    ``text`` is what the caller sent, as it came (the event does not preprocess it): gradio's Textbox made any value a
    string, so a list of texts was labelled as the one text ``"['a', 'b']"``, and a number as its digits."""
    if isinstance(text, (list, tuple)):
        raise gr.Error(
            f"/predict labels one text, and got a list of {len(text)}. Send a list of texts to /predict_batch: "
            'client.predict(texts=[...], api_name="/predict_batch").'
        )
    if text is not None and not isinstance(text, str):
        raise gr.Error(f"/predict takes a text (a string), and got {_kind(text)}. Send the text as a string.")
    if not text or not text.strip():
        return {}, "Type a text first."
    probs = expert.probabilities([text])[0]
    decision = expert.decide(probs)
    if expert.multi_label:
        on = ", ".join(f"**{md_escape(n)}**" for n in decision) or "none"
        return probs, f"Labels on (probability ≥ the label's threshold): {on}.{cut_note(expert, text)}"
    return probs, f"Label: **{md_escape(decision)}**.{cut_note(expert, text)}"


def cut_note(expert: Expert, text: str) -> str:
    """A line under the label when the text is longer than the model reads: a pasted article was labelled on its
    first ``max_length`` tokens alone (as in training, and as ``sxhub predict`` says), and the page did not say so."""
    limit = int(expert.preprocessing.get("max_length") or 0)
    if expert.tokens is None or not limit:
        return ""
    n = expert.tokens(preprocess(text, expert.preprocessing))
    if n <= limit:
        return ""
    return f"\n\nRead the first {limit:,} tokens of {n:,}: the label is given on those alone (split a long text into passages)."


class LabelledText(TypedDict):
    """A row of /predict_batch's answer (single-label): the label and every label's probability, None for both when
    the text was blank. Declared so that ``view_api`` shows callers the row's keys and types."""

    label: str | None
    probabilities: dict[str, float] | None


class MultiLabelledText(TypedDict):
    """A row of /predict_batch's answer (multi-label): the labels over their thresholds, and every label's
    probability; None for both when the text was blank."""

    labels: list[str] | None
    probabilities: dict[str, float] | None


def label_batch(expert: Expert, texts: Any) -> list[dict[str, Any]]:
    """Many texts in one call: for each, in order, ``label`` (``labels`` for multi-label) and ``probabilities``, as
    ``sxhub predict`` decides them. A blank text is left unlabelled (both None), as a CSV's blank row is."""
    if isinstance(texts, str):
        raise gr.Error(
            "/predict_batch takes a list of texts, and got one string. Send [text], or call /predict for one text."
        )
    if not isinstance(texts, (list, tuple)):
        raise gr.Error(f"/predict_batch takes a list of texts (strings), and got {_kind(texts)}.")
    if len(texts) > MAX_CSV_ROWS:
        raise gr.Error(
            f"/predict_batch got {len(texts):,} texts; this Space labels at most {MAX_CSV_ROWS:,} in one call. "
            "Send them in parts."
        )
    wrong = next((i for i, t in enumerate(texts) if t is not None and not isinstance(t, str)), None)
    if wrong is not None:
        raise gr.Error(
            f"/predict_batch takes a list of texts (strings); item {wrong} is {_kind(texts[wrong])}. "
            "Send every text as a string."
        )
    filled = [i for i, t in enumerate(texts) if t is not None and not _missing_text(t)]
    key = "labels" if expert.multi_label else "label"
    out: list[dict[str, Any]] = [{key: None, "probabilities": None} for _ in texts]
    for i, probs in zip(filled, expert.probabilities([texts[i] for i in filled]), strict=True):
        out[i] = {key: expert.decide(probs), "probabilities": probs}
    return out


def _missing_text(value: str) -> bool:
    """A cell with no text (blank, or what a missing value prints as): left unlabelled, as ``sxhub predict`` does."""
    return not value.strip() or value.strip().lower() in MISSING_TEXTS


def _all_numbers(column: pd.Series) -> bool:
    """Whether every filled cell of a column read as text is a number (an ID or a score, not the texts)."""
    filled = column[~column.map(_missing_text)]
    return bool(len(filled)) and bool(pd.to_numeric(filled, errors="coerce").notna().all())


def _text_column(frame: pd.DataFrame) -> str:
    """The texts: a column named as ``sxhub predict`` looks for them (``text``, ``Tweet``, ...), else the only column
    of strings; never a guess between several (an ID column labelled as text would look like an answer)."""
    lower = {str(c).strip().lower(): str(c) for c in frame.columns}
    for name in TEXT_COLUMNS:
        if name in lower:
            return lower[name]
    strings = [str(c) for c in frame.columns if not _all_numbers(frame[c])]
    if len(strings) == 1:
        # a file of texts without a header: its first text is this column's name, and would go unlabelled unsaid
        gr.Warning(
            f"No column is named 'text': the texts are taken from column {strings[0][:80]!r}. If that is your "
            "first text rather than a header, add a first line 'text' and upload again: it was not labelled."
        )
        return strings[0]
    raise gr.Error(
        f"Which column holds the texts? Name it 'text' (the CSV's columns: {', '.join(map(str, frame.columns[:10]))})."
    )


SEPARATORS = (",", ";", "\t", "|")  # a spreadsheet's CSV may be separated by ';' (Europe), a tab or '|'
SEPARATOR_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "'|'"}


def _separator(path: str) -> str:
    """The CSV's separator: the one of :data:`SEPARATORS` that splits its header into the most fields as the csv
    module reads it (a separator inside a quoted name does not count), a comma on a tie (a one-column header)."""
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as fh:
        header = fh.readline()

    def fields(sep: str) -> int:
        try:
            return len(next(csv.reader([header], delimiter=sep), []))
        except csv.Error:  # a name longer than the csv module's field limit: pandas, which has none, says more
            return 0

    return max(SEPARATORS, key=fields)


def _closed_before_spaces(line: str, sep: str) -> bool:
    """Whether the quote closing a field continued onto ``line`` is followed by spaces or tabs only, then ``sep`` or
    the line's end: a well-quoted field with a stray space, which pandas reads whole (``sxhub.tables``' rule)."""
    i = line.find('"')
    while i != -1 and line.startswith('""', i):  # a doubled quote inside the field
        i = line.find('"', i + 2)
    if i == -1:
        return False
    rest = line[i + 1 :].lstrip(" \t")
    return not rest.strip("\r\n") or rest.startswith(sep)


def _quote_run_over(path: str, sep: str, rows: int) -> tuple[int, int] | None:
    """The first and last line of a quoted field in the first ``rows`` rows of CSV ``path`` that spans lines and is
    not closed as CSV requires (``"broken start`` closed by the ``last "x`` of a later line), else None: pandas
    read the lines between as one text and their rows vanished. The rule of ``sxhub.csv_checks.check_csv_quotes``
    (read with the csv module in strict mode), copied here: the Space runs without sxhub."""
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, 1 << 30))  # a long well-quoted field is not the error looked for
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            last = [""]  # the line the reader took last: the one its error is on

            def lines() -> Iterator[str]:
                for line in fh:
                    last[0] = line
                    yield line

            reader = csv.reader(lines(), delimiter=sep, strict=True)
            read, end = 0, 0  # records read, the header first; end: the last line of the last one
            while read <= rows:
                try:
                    record = next(reader)
                except StopIteration:
                    return None
                except csv.Error as exc:
                    spans = reader.line_num > end + 1 and "expected after" in str(exc)
                    if spans and not _closed_before_spaces(last[0], sep):
                        return end + 1, reader.line_num
                    record = ["one line that breaks a rule"]  # the reader starts afresh on the next line
                if record and (len(record) > 1 or record[0].strip(" \t")):  # pandas skips a line of spaces too
                    read += 1
                end = reader.line_num
            return None
    except (OSError, UnicodeDecodeError):
        return None  # pandas read it: its own errors are the ones shown
    finally:
        csv.field_size_limit(limit)


def _swallowed_row(frame: pd.DataFrame, sep: str) -> tuple[int, str] | None:
    """The first row with a cell whose lines read as the file's own rows (its field count; in the columns of few
    repeated values, such as a label, values those columns hold), and that line: a text opening an unpaired quote
    that a later text closed right before its separator (``Margins grew",positive``) swallowed them. The rule of
    ``sxhub.csv_checks.swallowed_row``, copied here: the Space runs without sxhub."""
    values: dict[int, set[str]] = {}
    for j in range(len(frame.columns)):
        seen = set(frame.iloc[:, j].astype(str).unique())
        if len(seen) <= 50 and len(seen) < len(frame) and not any("\n" in v or "\r" in v for v in seen):
            values[j] = seen
    width = len(frame.columns)
    for j in range(width) if values else ():
        cells = frame.iloc[:, j].astype(str)
        for row, cell in cells[cells.str.contains("[\r\n]", regex=True)].items():
            lines = cell.splitlines()
            for i, line in enumerate(lines):
                first, last = (j if i == 0 else 0), (j if i == len(lines) - 1 else width - 1)
                known = [p for p in range(first, last + 1) if p in values]
                if not known or (last > first and sep not in line):
                    continue
                fields = next(csv.reader([line], delimiter=sep), [])
                if len(fields) == last - first + 1 and all(fields[p - first] in values[p] for p in known):
                    return int(row), line
    return None


def _record_lines(path: str, sep: str, row: int) -> tuple[int, int] | None:
    """The first and last line (from 1) of record ``row`` (from 0, under the header) of CSV ``path``, as pandas
    reads it (lines blank or of spaces skipped)."""
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, 1 << 30))  # a long well-quoted field before it
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh, delimiter=sep)
            read, end = 0, 0
            for record in reader:
                if record and (len(record) > 1 or record[0].strip(" \t")):
                    if read == row + 1:
                        return end + 1, reader.line_num
                    read += 1
                end = reader.line_num
    finally:
        csv.field_size_limit(limit)
    return None


def _megabytes(size: int) -> str:
    return f"{size / 1024 / 1024:,.1f} MB".replace(".0 MB", " MB")


def label_csv(expert: Expert, path: str | None) -> str:
    """Label a CSV's text column; return the path of a CSV with label(s) and one probability column per label.

    A column of the upload with one of those names is kept as ``<name>_input``, as ``sxhub predict`` keeps it."""
    if not path:
        raise gr.Error("Upload a CSV file with a 'text' column first.")
    size = os.path.getsize(path)
    if size > MAX_CSV_BYTES:
        raise gr.Error(
            f"The file is {_megabytes(size)}; this Space labels CSVs of at most {_megabytes(MAX_CSV_BYTES)} "
            f"({MAX_CSV_ROWS:,} rows). Split it up."
        )
    try:
        # as sxhub predict reads a CSV: every cell as written ("NA" is a text, "007" is not 7.0); a spreadsheet's
        # CSV may be separated by ';' (or a tab, or '|'): the header says which. One row past the limit is read: a
        # huge upload is refused without holding it in memory
        sep = _separator(path)
        frame = pd.read_csv(
            path, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig", nrows=MAX_CSV_ROWS + 1
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise gr.Error(
            f"Could not read the file as a CSV ({first}). Upload a UTF-8 CSV with a 'text' column."
        ) from exc
    if not isinstance(frame.index, pd.RangeIndex):  # pandas made a row's extra leading fields its index
        raise gr.Error(
            f"The CSV's rows have more fields than its header (a text with a {SEPARATOR_NAMES[sep]}, not in double "
            "quotes?). Put each text in double quotes, or save the file from a spreadsheet as CSV."
        )
    if frame.empty:
        raise gr.Error("The CSV has no rows under its header; add at least one text.")
    breaks = any(frame[c].str.contains("[\r\n]", regex=True).any() for c in frame.columns)
    found = _quote_run_over(path, sep, len(frame)) if breaks else None  # only a cell with a line break can be one
    swallowed = _swallowed_row(frame, sep) if breaks and found is None else None
    if swallowed is not None:
        found = _record_lines(path, sep, swallowed[0])
    if found is not None:
        start, end = found
        evidence = "" if swallowed is None else f", though {swallowed[1][:60]!r} inside it reads as a row of the file"
        raise gr.Error(
            f"A quote at the start of a field on line {start} is closed only on line {end}, so lines {start}-{end} "
            f'would be read as one text{evidence} (a text starting with an unpaired "?). Double every quote inside a '
            "text and put the text in double quotes, or save the file from a spreadsheet as CSV."
        )
    if len(frame) > MAX_CSV_ROWS:
        raise gr.Error(
            f"The CSV has more than {MAX_CSV_ROWS:,} rows; this Space labels at most {MAX_CSV_ROWS:,}. Split it up."
        )
    source = _text_column(frame)
    texts = frame[source].tolist()
    filled = [i for i, t in enumerate(texts) if not _missing_text(t)]  # a row without a text is not labelled
    if not filled:
        raise gr.Error(
            f"The CSV's column {source!r} has no texts (every cell is blank, or null/nan/none); fill it in."
        )
    if len(filled) < len(texts):  # said, as sxhub predict says it: the blank labels are not a failure to find
        gr.Warning(f"{len(texts) - len(filled)} of the {len(texts)} rows have no text; they are left unlabelled.")
    probs: list[dict[str, float] | None] = [None] * len(texts)
    for i, p in zip(filled, expert.probabilities([texts[i] for i in filled]), strict=True):
        probs[i] = p
    column = "labels" if expert.multi_label else "label"
    new = [column, *(f"prob_{name}" for name in expert.labels)]
    out = frame.rename(columns={c: f"{c}_input" for c in new if c in frame.columns})
    decisions = [None if p is None else expert.decide(p) for p in probs]
    out[column] = [
        "" if d is None else json.dumps(d, ensure_ascii=False) if expert.multi_label else d for d in decisions
    ]
    for name in expert.labels:
        out[f"prob_{name}"] = [None if p is None else round(p[name], 6) for p in probs]
    # written in gradio's cache, which serves it as it is (a file elsewhere is copied there, and the original was
    # left behind for good) and deletes it with the uploads (DELETE_CACHE)
    cache = Path(gr.utils.get_upload_folder())
    cache.mkdir(parents=True, exist_ok=True)
    target = Path(tempfile.mkdtemp(prefix="sxhub-space-", dir=cache)) / f"{Path(path).stem}-labelled.csv"
    out.to_csv(target, index=False)
    return str(target)


# --------------------------------------------------------------------------------------------------------------
# what the visitor is trying
# --------------------------------------------------------------------------------------------------------------
def _num(value: Any, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, float) else ("unknown" if value is None else str(value))


def describe(expert: Expert, about: Mapping[str, Any]) -> str:
    """Markdown: the task, the teachers, the scores, the speed, the repos, and what serves the model here."""
    lines = [about["description"], ""] if about.get("description") else []
    teachers = about.get("teachers")
    base = f" (fine-tuned from `{about['base_model']}`)" if about.get("base_model") else ""
    if teachers:
        learned = "that learned the labels of the LLM teacher(s) " + ", ".join(f"`{t}`" for t in teachers)
    elif teachers is None:  # the model card's "teacher: not recorded"
        learned = "whose training labels came from LLM teachers that were not recorded"
    else:  # the model card's "teacher: none": the labels carried no teacher votes
        learned = "trained on labels that carry no teacher votes"
    lines.append(f"**What this is.** A small student model{base} {learned}.")
    if about.get("local_teacher"):
        lines.append(
            "\n> **Teacher caveat:** the embedded SmolLM2-135M teacher labels at about chance level; this expert shows "
            "that the pipeline works, not that its labels are good."
        )
    scores = about.get("scores") or {}
    if scores:
        where = {
            "validation": "the training run's validation texts, which chose the checkpoint: optimistic",
            "given": "texts the publisher scored with `sxhub evaluate`",
        }.get(about.get("split") or "test", "held-out test split")
        if about.get("scores_note"):  # scored at publish time: the note says what was left out and why
            where = f"the dataset's {about.get('split') or 'test'} split, as the note below the table says"
        learned = (
            "*teacher labels* here are the training data's own labels (they carry no teacher votes)"
            if teachers == []
            else "*teacher labels* are what the student learned"
        )
        # the --gold column scored against, as sxhub names it ("experts" when people's labels; a Space published
        # before the name was recorded has none)
        reference = str(about.get("reference") or "experts")
        who = "*experts* are people" if reference == "experts" else f"{reference} is the --gold column, as given"
        lines += ["", f"**Scores** ({where}; {learned}, {who}):", ""]
        accuracy = "subset accuracy" if expert.multi_label else "accuracy"  # multi-label: every label right
        lines += [
            f"| comparison | texts | {accuracy} | macro F1 | micro F1 | Krippendorff's α |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name, row in scores.items():
            cells = [_num(row.get(k)) for k in ("n", "accuracy", "macro_f1", "micro_f1", "krippendorff_alpha")]
            shown = str(name).replace("experts", reference).replace("|", "\\|")
            lines.append(f"| {shown} | " + " | ".join(cells) + " |")
        if about.get("scores_note"):
            lines += ["", str(about["scores_note"])]
    else:
        lines += ["", "**Scores:** unknown (none were given when this Space was published)."]
    speed = about.get("speed") or {}
    rate = speed.get("texts_per_s")
    lines += [
        "",
        f"**Speed:** {rate:,.0f} texts/s ({speed.get('source') or 'measured by sxhub'})."
        if rate
        else "**Speed:** not measured.",
    ]
    margin = recheck_margin(expert.info)
    labels = list(expert.info.get("labels") or [])
    recheck = f"; texts {describe_margin(margin, labels)} run again in fp32" if np.any(margin > 0) else ""
    served = {
        "onnx-int8": f"ONNX Runtime, int8 weights (`{INT8_FILE}`{recheck})",
        "onnx": f"ONNX Runtime, full-precision weights (`{ONNX_FILES['onnx']}`)",
    }.get(expert.backend, "PyTorch (transformers), full-precision weights")
    lines += ["", f"**Served here by** {served}."]
    links = []
    # the Hub the repos were pushed to (sxhub writes its $HF_ENDPOINT); a Space published before says none
    hub = str(about.get("hub_url") or "https://huggingface.co").rstrip("/")
    if about.get("model_repo"):
        links.append(f"model [{about['model_repo']}]({hub}/{about['model_repo']})")
    if about.get("dataset_repo"):
        links.append(f"dataset [{about['dataset_repo']}]({hub}/datasets/{about['dataset_repo']})")
    lines += [
        "",
        "**Repos:** " + " · ".join(links) if links else f"**Model:** `{Path(expert.model).name}` (no Hub repo linked)",
    ]
    masks = [s.get("name", "?") for s in expert.preprocessing.get("steps") or [] if s.get("name") != "whitespace"]
    lines += [
        "",
        (
            f"Texts are cleaned as in training ({', '.join(masks)} masked) and "
            if masks
            else "Texts are used as typed and "
        )
        + f"cut at {expert.preprocessing['max_length']} tokens.",
    ]
    return "\n".join(lines)


def build_demo(
    model: str | None = None,
    *,
    examples: list[str] | None = None,
    title: str | None = None,
    about: Mapping[str, Any] | None = None,
    backend: str | None = None,
    preprocessing: dict[str, Any] | None = None,
) -> gr.Blocks:
    """The Space: a text box → every label's probability; a CSV upload → a labelled CSV download."""
    expert = Expert.load(model, backend=backend, preprocessing=preprocessing)
    config = _read_json(HERE / "config.json") or {}
    examples = examples or _read_json(HERE / "examples.json") or DEFAULT_EXAMPLES
    title = title or config.get("title") or Path(expert.model).name
    # the facts given here fill in the model's own, where given: an empty one (no scores) does not wipe the model's,
    # but "teachers": [] is a fact (the labels carried no teacher votes; None: not recorded)
    facts = {
        **(expert.info.get("about") or {}),
        **{k: v for k, v in (about or config.get("about") or {}).items() if v or (k == "teachers" and v == [])},
    }
    # a label without a validation positive kept 0.5, untuned: said as the model card's label table says it
    untuned = set((expert.info.get("train") or {}).get("untuned_labels") or ())
    thin = (expert.info.get("train") or {}).get("thinly_tuned") or {}  # tuned on 1-4 validation positives
    note = (
        "Multi-label: a text can have any number of labels. A label is on when its probability reaches its "
        "threshold: "
        + ", ".join(
            f"{md_escape(n)} ≥ {t:.3f}"
            + (" (not tuned: no validation example)" if n in untuned else "")
            + (f" (tuned on {thin[n]} validation example(s) only)" if n in thin else "")
            for n, t in expert.thresholds.items()
        )
        + "."
        if expert.multi_label
        else "Single-label: the label with the highest probability wins."
    )
    with gr.Blocks(title=title, delete_cache=DELETE_CACHE) as demo:
        gr.Markdown(f"# {title}\nA synthetic expert made with [sxhub](https://pypi.org/project/sxhub/).")
        with gr.Accordion("About this expert", open=True):
            gr.Markdown(describe(expert, facts))
        gr.Markdown(note)
        with gr.Tab("Text"):
            text = gr.Textbox(label="Text", lines=4, placeholder="Type or paste a text")
            button = gr.Button("Label", variant="primary")
            # multi-label: no headline, which would name the most probable label even when no label is on (the
            # decision line below says which are); single-label: the headline is the label the expert gives
            probs = gr.Label(
                label="Probabilities" + (" (a label is on at its threshold)" if expert.multi_label else ""),
                num_top_classes=len(expert.labels),
                show_heading=not expert.multi_label,
            )
            decision = gr.Markdown(label="Decision")  # the label names the value in the API docs, not on the page

            # named functions: gradio takes the API's parameter names from the signature and the endpoint's
            # description from the docstring (a lambda's `t` was what a caller had to write: predict(t=...)).
            # preprocess=False: the Textbox made whatever a client sent a string, so a list was labelled as one text
            def predict(text: str) -> tuple[dict[str, float], str]:
                """Label one text: every label's probability and the decision (for several texts, /predict_batch).

                Args:
                    text: the text to label, cleaned and cut as the model's training texts were
                """
                return label_text(expert, text)

            button.click(predict, text, [probs, decision], api_name="predict", preprocess=False)
            text.submit(predict, text, [probs, decision], api_name=False, preprocess=False)
            # a click on an example labels it: it only filled the text box, and the probabilities and decision of the
            # text labelled before stayed beside it, read as the example's. Run on click, never cached at startup
            gr.Examples(
                examples=[[e] for e in examples],
                inputs=text,
                outputs=[probs, decision],
                fn=predict,
                run_on_click=True,
                cache_examples=False,
            )
        with gr.Tab("CSV"):
            upload = gr.File(
                label=f"CSV with a 'text' column (at most {MAX_CSV_ROWS:,} rows, {_megabytes(MAX_CSV_BYTES)})",
                file_types=[".csv"],
                type="filepath",
            )
            run = gr.Button("Label the CSV", variant="primary")
            download = gr.File(label="Labelled CSV")

            def label_file(file: str) -> str:
                """Label a CSV's text column: the labelled CSV, with label(s) and one probability column per label.

                Args:
                    file: a UTF-8 CSV with a 'text' column, sent as handle_file(path)
                """
                return label_csv(expert, file)

            run.click(label_file, upload, download, api_name="label_csv")

        def predict_batch(texts: list[str]) -> list[dict[str, Any]]:
            """Label many texts in one call: for each, in order, its label(s) and every label's probability.

            Args:
                texts: the texts to label (a list of strings; a blank one is left unlabelled)
            """
            return label_batch(expert, texts)

        def info() -> dict:
            """What this Space serves: runtime (onnx-int8, onnx or torch), labels, thresholds, preprocessing, facts."""
            return expert_info(expert, facts)

        # gradio reads the return type from the signature, where this module's postponed annotations leave a string
        # it cannot read ('Any' in view_api): the row type itself, by the expert's kind
        predict_batch.__annotations__["return"] = list[MultiLabelledText] if expert.multi_label else list[LabelledText]
        gr.api(predict_batch, api_name="predict_batch")
        gr.api(info, api_name="info")
    return demo


def expert_info(expert: Expert, facts: Mapping[str, Any]) -> dict[str, Any]:
    """What the Space serves, for API clients: runtime, labels, thresholds, preprocessing and the expert's facts."""
    return {
        "model": expert.model,
        "backend": expert.backend,
        "labels": expert.labels,
        "multi_label": expert.multi_label,
        "thresholds": expert.thresholds,
        "preprocessing": expert.preprocessing,
        "about": dict(facts),
    }


if __name__ == "__main__":
    build_demo().launch(max_file_size=MAX_CSV_BYTES)
