"""The student on ONNX Runtime without torch or transformers: ``tokenizer.json`` through ``tokenizers``.

``sxhub predict --onnx`` is the path that runs millions of times, so it loads only what it runs: the Rust
tokenizer (``tokenizers``, a dependency of transformers and so always installed) and an ``onnxruntime`` session.
Importing transformers' tokenizer classes alone costs seconds of startup (it pulls in torch); ``tokenizers`` costs a
tenth of a second. The tokenizer is set up as ``AutoTokenizer`` sets it up for ``predict`` (truncation at the model's
``max_length``, the model's own pad token), so the token ids are the same ones: ``tests/test_predict.py`` checks it.

Texts are tokenized once, sorted by token length and cut into batches padded only to their longest text; the
logits come back in input order.

With more than one thread the batches run side by side, one single-threaded ``session.run`` per thread on one shared
session (ONNX Runtime's ``Run`` is thread-safe and releases the GIL), instead of one batch at a time split over an
intra-op thread pool. An encoder's matrices for a batch of short texts are small, so splitting each one over the
cores costs a synchronisation per operator; whole batches in parallel do not. On the AVX-512 VNNI EPYC (2 cores,
MiniLM-L6, 29,560 PhraseBank sentences, compute only, 5 interleaved rounds): int8 median 1,131 texts/s against 893
with the intra-op pool, fp32 484 against 420 (``bench/results/onnx_threads.md``). The batches are the same whatever
the thread count.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from .errors import ModelError

TOKENIZER_FILE = "tokenizer.json"


def load_tokenizer(model_dir: str | os.PathLike[str], max_length: int) -> Any:
    """The model folder's fast tokenizer (``tokenizer.json``), truncating at ``max_length``, never padding."""
    try:
        from tokenizers import Tokenizer
    except ImportError as exc:  # pragma: no cover - tokenizers comes with transformers
        raise ModelError('--onnx needs tokenizers; run pip install "sxhub[onnx]".') from exc
    path = Path(model_dir) / TOKENIZER_FILE
    if not path.is_file():
        raise ModelError(
            f"{str(path)!r} not found: the ONNX path reads the fast tokenizer's tokenizer.json; save the tokenizer "
            "with transformers (AutoTokenizer.from_pretrained(...).save_pretrained(MODEL_DIR)) or predict without --onnx."
        )
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length)
    return tokenizer


def pad_token_id(model_dir: str | os.PathLike[str], tokenizer: Any) -> int:
    """The pad token's id, as ``tokenizer_config.json`` names it (``[PAD]`` for BERT-likes); 0 without one."""
    config_path = Path(model_dir) / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
    token = config.get("pad_token")
    if isinstance(token, dict):  # older tokenizers saved an AddedToken as a dict
        token = token.get("content")
    found = tokenizer.token_to_id(token) if isinstance(token, str) else None
    return int(found if found is not None else tokenizer.token_to_id("[PAD]") or 0)


def decision_margins(logits: np.ndarray, cuts: np.ndarray | None = None) -> np.ndarray:
    """How far each text's labels are from changing, in logits.

    Single-label (``cuts`` None): the gap between the two highest logits. Multi-label: the smallest distance of a
    label's logit from its threshold's logit (``cuts``, :func:`threshold_logits`). A model whose logits move by less
    than this (as :func:`decision_shifts` measures the move) gives the same labels."""
    logits = np.asarray(logits, dtype=np.float64)
    if not len(logits):
        return np.zeros(0)
    if cuts is not None:
        return np.abs(logits - cuts).min(axis=1)
    if logits.shape[1] < 2:
        return np.full(len(logits), np.inf)
    top = np.partition(logits, -2, axis=1)
    return top[:, -1] - top[:, -2]


def decision_shifts(reference: np.ndarray, other: np.ndarray, multi_label: bool) -> np.ndarray:
    """How far ``other``'s logits moved each text's decision margin from ``reference``'s, at most.

    Single-label: the largest minus the smallest change of a logit (the most the gap between any two labels moved);
    multi-label: the largest change of a logit. A text changes label only where this reaches the margin that
    :func:`decision_margins` gives on ``other``, so rechecking the texts under a margin ``m`` leaves only texts whose
    logits moved by ``m`` or more able to change."""
    change = np.asarray(other, dtype=np.float64) - np.asarray(reference, dtype=np.float64)
    if not len(change):
        return np.zeros(0)
    if multi_label:
        return np.abs(change).max(axis=1)
    return change.max(axis=1) - change.min(axis=1)


Margin = float | list[float]  # int8's recheck margin: one (single-label) or one per label (multi-label)


def label_shifts(reference: np.ndarray, other: np.ndarray) -> np.ndarray:
    """How far ``other`` moved each label's logit from ``reference``'s: an ``(n, n_labels)`` array. A multi-label
    label changes only where this reaches its own distance from its threshold."""
    return np.abs(np.asarray(other, dtype=np.float64) - np.asarray(reference, dtype=np.float64))


def near_ties(logits: np.ndarray, margin: Margin, cuts: np.ndarray | None = None) -> np.ndarray:
    """Which texts are within ``margin`` of a label change (a boolean array): single-label, the gap between the two
    highest logits under ``margin``; multi-label (``cuts``: the thresholds' logits), a label's logit within its own
    margin of its threshold (``margin`` one per label, or one for all: a single number gives what the smallest
    distance to any threshold under it gave)."""
    if cuts is None:
        return decision_margins(logits) < float(np.max(margin))
    distance = np.abs(np.asarray(logits, dtype=np.float64) - cuts)
    return (distance < np.asarray(margin, dtype=np.float64)).any(axis=1)


def margin_values(margin: Any) -> Margin | None:
    """A recorded or given margin as :data:`Margin`, or None when it reruns nothing (missing, zero, all zeros)."""
    if margin is None or margin is False:
        return None
    if isinstance(margin, (list, tuple, np.ndarray)):
        values = [float(m) for m in margin]
        return values if any(values) else None
    return float(margin) or None


def describe_margin(margin: Margin, labels: Sequence[str] = ()) -> str:
    """``"within 0.86 logits of a label change"``, or per label ``"within their own margin of a label's threshold
    (Product 0.19, Price 0.51 logits)"``: how card, Space and export notes say which texts are rerun."""
    if isinstance(margin, list):
        if len(margin) > LISTED_MARGINS:  # GoEmotions' 28: a list as long as a paragraph, in a table cell, twice
            return (
                f"within a label's own margin of its threshold ({len(margin)} labels, {_logits(min(margin))} to "
                f"{_logits(max(margin))} logits; each label's in sxhub.json)"
            )
        names = list(labels) if len(labels) == len(margin) else [f"label {i}" for i in range(len(margin))]
        each = ", ".join(f"{name} {_logits(m)}" for name, m in zip(names, margin, strict=True))
        return f"within a label's own margin of its threshold ({each} logits)"
    return f"within {_logits(margin)} logits of a label change"


def _logits(margin: float) -> str:
    """A margin as the notes write it: two decimals, or one significant digit under 0.01 (a tiny student's margin
    of 0.0004 read "within 0.00 logits", as if no text were rerun)."""
    return f"{margin:.2f}" if margin == 0 or abs(margin) >= 0.005 else f"{margin:.1g}"


LISTED_MARGINS = 8  # up to this many labels, each label's margin is named; above it, their range


def threshold_logits(thresholds: np.ndarray) -> np.ndarray:
    """Each multi-label threshold as the logit where the sigmoid reaches it."""
    t = np.clip(np.asarray(thresholds, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(t / (1 - t))


def cpu_quota(cgroup: Path = Path("/sys/fs/cgroup")) -> int | None:
    """The CPUs a container's cgroup lets this process use (its CPU bandwidth limit, ``docker run --cpus 2`` or a
    Kubernetes limit: cgroup v2 ``cpu.max``, or v1 ``cpu/cpu.cfs_quota_us`` over ``cpu.cfs_period_us``), rounded
    up; None without a limit. The container's own view, read as joblib's ``cpu_count`` reads it (loky's
    ``_cpu_count_cgroup``): neither ``sched_getaffinity`` nor ONNX Runtime's thread count sees this limit."""
    try:
        quota, period = (cgroup / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        try:
            quota = (cgroup / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (cgroup / "cpu" / "cpu.cfs_period_us").read_text().strip()
        except OSError:
            return None
    try:
        share = int(quota) / int(period)
    except ValueError:  # "max": no limit
        return None
    return max(1, math.ceil(share)) if share > 0 else None


def cpu_threads(topology: Path = Path("/sys/devices/system/cpu"), cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """The threads to run on by default: the physical cores this process may use (as ONNX Runtime's own default
    counts them), or the CPUs it may use where the physical count is unknown; at most the container's CPU limit.

    On Linux the cores are counted from ``topology`` (each usable CPU's ``thread_siblings_list``: hyperthreads of
    one core share it), so a process pinned to both hyperthreads of one core gets one thread, not two; elsewhere
    psutil's machine-wide ratio of cores to CPUs is applied to the usable CPUs. A container limited to 2 CPUs on a
    32-core host gets 2 (:func:`cpu_quota`), not 32 threads throttled to 2 CPUs' time. The Space (``spaces/app.py``)
    counts the same way.
    """
    return min(_cores(topology), cpu_quota(cgroup) or sys.maxsize)


def _cores(topology: Path) -> int:
    usable = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    if usable:
        try:
            cores = {(topology / f"cpu{c}" / "topology" / "thread_siblings_list").read_text().strip() for c in usable}
            return max(1, len(cores))
        except OSError:  # no sysfs (a container without it): count below
            pass
    n = len(usable) if usable else (os.cpu_count() or 1)
    physical, logical = psutil.cpu_count(logical=False), psutil.cpu_count(logical=True)
    if physical and logical and logical > physical:  # hyperthreads: one thread per core this process may use
        return max(1, n * physical // logical)
    return max(1, n)


def session(path: Path, threads: int | None) -> Any:
    """An ``onnxruntime.InferenceSession`` on the CPU with every graph optimization and ``threads`` intra-op threads
    (``None``: ONNX Runtime's default, one per physical core).

    Inter-op parallelism stays at 1: an encoder's graph is one chain, and a second pool only competes for the cores.
    """
    if not path.is_file():
        int8 = path.name.endswith("_int8.onnx")
        raise ModelError(
            f"{str(path)!r} not found; run sxhub export {path.parent.parent}{' --int8' if int8 else ''} first."
        )
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ModelError('--onnx needs onnxruntime; run pip install "sxhub[onnx]".') from exc
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or 0
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's own errors (a truncated or corrupt file): no common base class to name
        raise ModelError(
            f"{str(path)!r} could not be loaded ({type(exc).__name__}: {str(exc)[:160]}); export it again (sxhub "
            f"export {path.parent.parent}{' --int8' if path.name.endswith('_int8.onnx') else ''})."
        ) from exc


class OnnxClassifier:
    """Logits from an exported student: ``tokenizers`` in, ``onnxruntime`` out, nothing from torch.

    ``logits(texts)`` returns an ``(n, n_labels)`` float32 array in input order; ``batch_size`` texts of similar
    length run together, ``threads`` batches at a time (default: :func:`cpu_threads`), each on one thread.
    """

    def __init__(
        self,
        model_dir: Path,
        path: Path,
        *,
        max_length: int,
        threads: int | None,
        batch_size: int,
        n_labels: int | None = None,
        weights: str | None = None,
        weights_stat: list[Any] | None = None,
    ) -> None:
        self.workers = threads or cpu_threads()
        self.session = session(path, 1)  # the parallelism is across batches (see the module's docstring)
        self.tokenizer = load_tokenizer(model_dir, max_length)
        self.pad_id = pad_token_id(model_dir, self.tokenizer)
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.batch_size = batch_size
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid = os.getpid()
        self._check_fits(Path(model_dir), path, n_labels)
        self._check_weights(Path(model_dir), path, weights, weights_stat)

    def _check_fits(self, model_dir: Path, path: Path, n_labels: int | None) -> None:
        """Refuse an ONNX file that is not an export of ``model_dir`` (one copied from another model's folder): one
        text made of the folder's last token id runs through it, which an embedding table of a smaller vocabulary
        cannot look up, and its logits must be one per label. Without this the first batch failed in ONNX Runtime's
        words ('indices element out of data bounds' on a Gather node, with ONNX Runtime's own error lines on stderr)
        or numpy's ('could not broadcast (300,2) into (300,3)'), exit 1."""
        import onnxruntime as ort

        config_path = model_dir / "config.json"
        config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
        vocabulary = self.tokenizer.get_vocab_size()
        if isinstance(config.get("vocab_size"), int) and config["vocab_size"] > 0:
            vocabulary = min(vocabulary, config["vocab_size"])  # ids the folder's own model can look up
        quiet = ort.RunOptions()
        quiet.log_severity_level = 4  # the exception below says it; ONNX Runtime's own error lines would repeat it
        again = f"run sxhub export {model_dir}{' --int8' if path.name.endswith('_int8.onnx') else ''} again"
        try:
            logits = self.session.run([self.session.get_outputs()[0].name], self.feed([[vocabulary - 1]]), quiet)[0]
        except Exception as exc:  # onnxruntime's own errors have no common base class to name
            said = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            said = said.split("Status Message: ")[-1][:160]  # "indices element out of data bounds, idx=..."
            raise ModelError(
                f"{str(path)!r} is not an export of {str(model_dir)!r}: it cannot read token id {vocabulary - 1} of "
                f"the folder's tokenizer ({said}); {again}."
            ) from exc
        width = int(np.shape(logits)[-1])
        if n_labels is not None and width != n_labels:
            raise ModelError(
                f"{str(path)!r} is not an export of {str(model_dir)!r}: it gives {width} logits a text, the folder "
                f"has {n_labels} labels; {again}."
            )

    def _check_weights(self, model_dir: Path, path: Path, weights: str | None, stat: list[Any] | None) -> None:
        """Refuse an ONNX file exported from other weights than the folder's: another student of the same task (the
        same vocabulary and labels, which :meth:`_check_fits` cannot tell apart) copied in, labelled every text with
        that student's weights, exit 0. ``sxhub export`` writes the sha256 of the weights it read into the file's
        metadata (:data:`~sxhub.model_info.ONNX_WEIGHTS_KEY`); ``weights`` is the folder's as ``sxhub.json``
        records it, trusted while the weights files keep the size and mtime recorded with it (``stat``), else
        they are hashed here (:func:`~sxhub.model_folder.current_weights_sha256`): a ``model.safetensors`` replaced
        after the export (retrained with plain ``save_pretrained``) no longer serves the stale export. A file
        without the key (an older export) and a folder with neither record nor weights load as before."""
        from .model_folder import current_weights_sha256
        from .model_info import ONNX_WEIGHTS_KEY

        stamp = (self.session.get_modelmeta().custom_metadata_map or {}).get(ONNX_WEIGHTS_KEY)
        if not stamp:
            return
        own = current_weights_sha256(model_dir, weights, stat)
        if own is None or own == stamp:
            return
        again = f"run sxhub export {model_dir}{' --int8' if path.name.endswith('_int8.onnx') else ''} again"
        changed = ": they changed after the export" if weights == stamp else ""
        raise ModelError(
            f"{str(path)!r} is not an export of {str(model_dir)!r}: it was exported from other weights (sha256 "
            f"{stamp[:12]}, the folder's are {own[:12]}{changed}); {again}."
        )

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text (special tokens added, truncated at ``max_length``)."""
        return self.encode_counted(texts)[0]

    def encode_counted(self, texts: Sequence[str]) -> tuple[list[list[int]], int]:
        """:meth:`encode`, and how many of the texts were longer than ``max_length`` (cut: their encoding has
        overflowing tokens). ``encode_batch_fast`` skips the character offsets, which nothing here reads: a sixth less
        tokenizer time."""
        encode = getattr(self.tokenizer, "encode_batch_fast", self.tokenizer.encode_batch)  # tokenizers >= 0.20.2
        encodings = encode(list(texts))
        return [e.ids for e in encodings], sum(bool(e.overflowing) for e in encodings)

    def logits(self, texts: Sequence[str], *, progress: Any = None) -> np.ndarray:
        return self.logits_of_ids(self.encode(texts), progress=progress)

    def logits_of_ids(self, ids: list[list[int]], *, progress: Any = None) -> np.ndarray:
        """``logits`` of texts already encoded (:meth:`encode`)."""
        lengths = np.fromiter((len(row) for row in ids), dtype=np.int64, count=len(ids))
        order = np.argsort(lengths, kind="stable")
        # the batches do not depend on the threads: int8 quantizes activations per batch, so a text's numbers are the
        # same on any machine (and in the Space, which batches alike); fewer texts than a batch run on one thread
        batches = [order[start : start + self.batch_size] for start in range(0, len(order), self.batch_size)]
        out: np.ndarray | None = None
        for idx, logits in zip(batches, self._run_all([[ids[i] for i in idx] for idx in batches]), strict=True):
            if out is None:
                out = np.zeros((len(ids), logits.shape[1]), dtype=np.float32)
            out[idx] = logits
            if progress is not None:
                progress.update(len(idx))
        return out if out is not None else np.zeros((0, 0), dtype=np.float32)

    def _run_all(self, batches: list[list[list[int]]]) -> Iterator[np.ndarray]:
        """Each batch's logits, in order; up to ``workers`` batches run at once."""
        if self.workers == 1 or len(batches) == 1:
            yield from map(self.run_batch, batches)
            return
        # kept for the classifier's life (streaming calls logits() once per chunk), made anew in a forked child,
        # where the parent's threads do not exist
        if self._pool is None or self._pool_pid != os.getpid():
            self._pool, self._pool_pid = ThreadPoolExecutor(self.workers, thread_name_prefix="sxhub-onnx"), os.getpid()
        yield from self._pool.map(self.run_batch, batches)

    def run_batch(self, rows: list[list[int]]) -> np.ndarray:
        """One padded batch through the session."""
        return np.asarray(self.session.run(None, self.feed(rows))[0], dtype=np.float32)

    def feed(self, rows: list[list[int]]) -> dict[str, np.ndarray]:
        """The session's inputs for one batch of token ids, padded to the longest (attention mask 1 on tokens, 0 on
        padding; segment ids 0)."""
        width = max(len(row) for row in rows)
        input_ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for r, row in enumerate(rows):
            input_ids[r, : len(row)] = row
            mask[r, : len(row)] = 1
        feed = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}
        return {n: feed[n] for n in self.input_names}
