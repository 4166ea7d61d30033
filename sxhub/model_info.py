"""What a model folder says about itself, read before any model is loaded: :func:`resolve_model_dir` finds the folder
(a Hub model id downloaded to the Hub cache first), :func:`read_model_info` reads its labels, problem type,
thresholds, max length and text preprocessing (:class:`ModelInfo`, from ``sxhub.json`` when present, else the
transformers ``config.json``), and :func:`onnx_path` names its ONNX export. Split out of :mod:`sxhub.predict`, which
re-exports these names, so that the stages that only read a folder (publish, the Space, Ray's driver, quantize)
need not import the predictor.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .data import preprocessing_config
from .errors import ModelError
from .model_folder import SXHUB_JSON, check_complete

ONNX_DIR = "onnx"
ONNX_FILE = "model.onnx"
ONNX_INT8_FILE = "model_int8.onnx"
DEFAULT_MAX_LENGTH = 256
# the sha256 of the weights an ONNX file was exported from: a key of its metadata_props, written by sxhub export
ONNX_WEIGHTS_KEY = "sxhub.weights_sha256"


@dataclass
class ModelInfo:
    """Labels, problem type, thresholds, max length and text preprocessing of a model folder.

    ``preprocessing`` is the block ``sxhub train`` saved (``sxhub.json`` ``preprocessing``, or ``config.json``
    ``sxhub_preprocessing``); for a model saved before that block existed it is rebuilt from the task's
    ``preprocess`` flag, and a plain transformers folder gets none (texts as given).
    """

    labels: list[str]
    multi_label: bool
    thresholds: dict[str, float] = field(default_factory=dict)
    max_length: int = DEFAULT_MAX_LENGTH
    preprocessing: dict[str, Any] = field(default_factory=lambda: preprocessing_config(False))
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def preprocess(self) -> bool:
        """Whether any cleaning step runs before tokenisation."""
        return bool(self.preprocessing.get("steps"))

    def threshold_vector(self) -> np.ndarray:
        return np.array([self.thresholds.get(name, 0.5) for name in self.labels], dtype=np.float32)


def resolve_model_dir(model: str | os.PathLike[str]) -> Path:
    """A local model folder as is; a Hub model id (``user/name``) downloaded to the Hub cache first."""
    path = Path(model)
    if path.exists() or not re.match(r"^[\w.-]+/[\w.-]+$", str(model)):
        return path
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(str(model)))
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError) as exc:
        if constants.HF_HUB_OFFLINE:  # no request was sent: the id and the token were never the question
            raise ModelError(
                f"model {str(model)!r} is neither a local folder nor in the Hugging Face cache, and HF_HUB_OFFLINE "
                f"is set; pass the local model folder, or download it first (`hf download {model}`, or run once "
                "without HF_HUB_OFFLINE)."
            ) from exc
        raise ModelError(
            f"model {str(model)!r} is neither a local folder nor a Hub model that can be downloaded "
            f"({type(exc).__name__}); check the path or the repo id and HF_TOKEN."
        ) from exc


# model types whose position ids start after the padding index (transformers' create_position_ids_from_input_ids)
OFFSET_POSITIONS = frozenset(
    {"roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "longformer", "roberta-prelayernorm", "data2vec-text",
     "xmod", "mpnet", "ibert"}
)  # fmt: skip


def position_limit(config: Mapping[str, Any]) -> int:
    """The longest input a classifier's position table takes: ``max_position_embeddings``, less the padding index
    and one for the RoBERTa family, whose positions start after it. A BERTweet classifier (130 positions, padding 1)
    read texts of 129 and 130 tokens past its table: IndexError in the embeddings, where 128 fit."""
    limit = int(config.get("max_position_embeddings") or DEFAULT_MAX_LENGTH)
    pad = config.get("pad_token_id")
    if config.get("model_type") in OFFSET_POSITIONS and isinstance(pad, int) and 0 <= pad < limit:
        limit -= pad + 1
    return max(1, limit)


def read_model_info(model_dir: str | os.PathLike[str]) -> ModelInfo:
    """Read ``sxhub.json`` when present, else the transformers config (any fine-tuned classifier works)."""
    path = Path(model_dir)
    check_complete(path)  # a run replacing its model was stopped part-way: files of two models
    if not (path / "config.json").is_file():
        raise ModelError(
            f"{str(path)!r} is not a model folder (no config.json); pass the folder sxhub train wrote (-o MODEL_DIR)."
        )
    _refuse_synthetic_model(path)
    config = _model_json(path / "config.json")
    id2label = {int(k): v for k, v in (config.get("id2label") or {}).items()}
    labels = [id2label[i] for i in sorted(id2label)]
    multi = config.get("problem_type") == "multi_label_classification"
    thresholds = dict(config.get("sxhub_thresholds") or {})
    max_length = min(position_limit(config), DEFAULT_MAX_LENGTH)
    info = ModelInfo(labels=labels, multi_label=multi, thresholds=thresholds, max_length=max_length)
    saved = config.get("sxhub_preprocessing")
    if (path / SXHUB_JSON).is_file():
        extra = _model_json(path / SXHUB_JSON)
        info.labels = list(extra.get("labels") or labels)
        info.multi_label = bool(extra.get("multi_label", multi))
        info.thresholds = dict(extra.get("thresholds") or thresholds)
        info.max_length = int(extra.get("max_length") or max_length)
        saved = extra.get("preprocessing") or saved
        if not saved:  # saved before sxhub wrote the block: today's reading of the task's flag, the texts in the
            # Unicode form given as it was trained on them (no block put them in NFC before version 5)
            saved = preprocessing_config(bool((extra.get("task") or {}).get("preprocess", False)))
            saved.pop("normalize", None)
        info.extra = extra
    if saved:
        info.preprocessing = dict(saved)
        info.max_length = int(saved.get("max_length") or info.max_length)
    info.preprocessing["max_length"] = info.max_length
    if not labels:
        raise ModelError(
            f"{str(path)!r}: config.json names no labels (id2label), so it is not a classifier sxhub can run; pass "
            "the folder sxhub train wrote (-o MODEL_DIR)."
        )
    if not info.multi_label and (len(labels) < 2 or config.get("problem_type") == "regression"):
        # a score head (num_labels=1, or problem_type regression): the softmax of its one logit labelled every text
        # with its one label at probability 1.0, where transformers gives a sigmoid or the raw score
        outputs = "one output" if len(labels) < 2 else f"{len(labels)} outputs"
        raise ModelError(
            f"{str(path)!r}: config.json describes a regression or score head ({outputs}, id2label {labels}, "
            f"problem_type {config.get('problem_type')!r}), not a classifier sxhub can run; pass the folder sxhub train "
            "wrote, another classifier of two labels or more, or a multi-label one (problem_type "
            "multi_label_classification)."
        )
    if labels != info.labels:
        raise ModelError(
            f"{str(path)!r}: config.json id2label {labels} does not match sxhub.json labels {info.labels}."
        )
    return info


def _model_json(path: Path) -> dict[str, Any]:
    """A model folder's JSON file as a dict; one that is not valid JSON (a truncated copy) is one line naming it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(
            f"{str(path)!r} is not valid JSON ({exc}); copy or download the model folder again, or train it again."
        ) from exc
    if not isinstance(data, dict):
        raise ModelError(
            f"{str(path)!r} holds a JSON {type(data).__name__}, not an object; copy or download the model folder "
            "again, or train it again."
        )
    return data


def onnx_path(model_dir: str | os.PathLike[str], *, int8: bool = False) -> Path:
    return Path(model_dir) / ONNX_DIR / (ONNX_INT8_FILE if int8 else ONNX_FILE)


def _refuse_synthetic_model(path: Path) -> None:
    """One line for the folder ``sxhub tune`` writes (a causal LM that answers as a teacher): evaluate and predict
    said its config.json named no labels and to pass the folder sxhub train wrote, without saying what it is or
    how to score it."""
    from .teachers.synthetic_folder import read_info

    if read_info(path) is not None:
        raise ModelError(
            f"{str(path)!r} is a synthetic model from sxhub tune (a teacher), not a student classifier: label the "
            f"texts with it (sxhub annotate TASK DATA --teacher {path} --keep-column GOLD -o OUT) and score them with "
            "sxhub agree OUT --gold GOLD; evaluate and predict take the folder sxhub train wrote (-o MODEL_DIR)."
        )


def recorded_weights(extra: dict[str, Any]) -> str | None:
    """The sha256 of the folder's weights as its ``sxhub.json`` records it: the export's (the weights it read), else
    training's (the weights it wrote); None in a record written before sxhub recorded it."""
    export, weights = extra.get("export"), extra.get("weights")
    export = export if isinstance(export, dict) else {}
    weights = weights if isinstance(weights, dict) else {}
    for found in (export.get("weights_sha256"), weights.get("sha256")):
        if isinstance(found, str) and found:
            return found
    return None


def recorded_weights_stat(extra: dict[str, Any]) -> list[Any] | None:
    """The size and mtime of the weights files (:func:`sxhub.model_folder.weights_stat`) that the export block of
    ``sxhub.json`` records beside its sha256; None where it records none (training's record, an older export)."""
    export = extra.get("export")
    if not isinstance(export, dict) or export.get("weights_sha256") != recorded_weights(extra):
        return None
    stat = export.get("weights_stat")
    return stat if isinstance(stat, list) else None
