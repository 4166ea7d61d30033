"""The AutoTrain backend as ``sxhub train --backend autotrain`` runs it: the options it refuses, the base (its head
in AutoTrain's label order, a tokenizer AutoTrain can pad with, the local backend's symbol split and max_length),
and the model :func:`sxhub.autotrain.run_autotrain` trained, recorded as the local backend records its own.

This module imports :mod:`sxhub.autotrain` (and calls ``run_autotrain`` there, where tests replace it); the names
it defines stay importable from there, where they were first.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from . import autotrain
from .autotrain_run import readable_by_transformers4, validation_logits
from .data import preprocessing_config
from .errors import InputError, UserError
from .labelled import LabelledData
from .progress import bars_off
from .recipe import fit_batch_size, fit_learning_rate, over_limit_note, truncated_count
from .run_record import SXHUB_JSON, _file_name, base_lineage, task_record, weights_record
from .spec import TaskSpec
from .targets import data_notes, holdout
from .train_config import DEFAULT_BASE, TrainConfig, TrainResult, default_base_model
from .validation import best_metric_name, validate

logger = logging.getLogger(__name__)


def _local_max_length(
    base: str | Path, texts: list[str], given: int | None = None, *, student: bool = False
) -> tuple[int, list[int], int]:
    """The max_length the local backend would choose for these training texts and this base
    (:func:`sxhub.recipe.choose_max_length`: their 95th percentile of tokens, capped by the model), not AutoTrain's
    fixed 128, so both backends truncate alike; with the texts' token lengths and the most the base takes, for the
    local backend's note and counts of the texts cut (:func:`sxhub.recipe.over_limit_note`). A ``given`` one
    (``--max-length``) past what the base takes is refused as the local backend refuses it: AutoTrain started, then
    failed in the embeddings (exit 1). ``student``: the base given is an sxhub student (``base`` may be a folder of
    links to it without its ``sxhub.json``), whose tokenizer's model_max_length is its training max_length, not a
    limit (as :func:`sxhub.train_local.load_base` reads it): a student trained at 16 tokens capped the next at 16."""
    from transformers import AutoConfig, AutoTokenizer

    from .recipe import choose_max_length, length_limit, token_lengths

    tokenizer = AutoTokenizer.from_pretrained(base)
    model_config = AutoConfig.from_pretrained(base)
    if student or (Path(base) / SXHUB_JSON).is_file():
        tokenizer.model_max_length = int(getattr(model_config, "max_position_embeddings", 512) or 512)
    limit = length_limit(tokenizer, model_config)
    if given and given > limit:
        raise InputError(
            f"--max-length {given} is more than the base model takes ({limit} tokens); pass --max-length "
            f"{limit} or less, or leave it out to fit it to the texts."
        )
    lengths = token_lengths(tokenizer, texts)
    return given or choose_max_length(tokenizer, texts, model_config, lengths=lengths), lengths, limit


def base_tokenizer_for_autotrain(base: str, folder: Path) -> tuple[str, str | None]:
    """``base`` with a tokenizer AutoTrain's transformers 4 can load and pad with, for a local base folder: a
    decoder's (GPT-2, Llama, Qwen, SmolLM) has no pad token, and AutoTrain stopped at transformers' 'Asking to pad but
    the tokenizer does not have a padding token' (the local backend pads with the end-of-text token:
    :func:`sxhub.head.give_pad_token`); a tokenizer transformers 5 saved under its generic class name
    (``TokenizersBackend``) stopped it at 'Tokenizer class TokenizersBackend does not exist'. ``folder`` then holds
    the tokenizer with the end-of-text token as its pad token (padding on the right, where AutoTrain's transformers
    4 looks for a decoder's last token), ``config.json`` with that ``pad_token_id``, and links to the base's other
    files. Returns the base to load and the note for the training notes; the base as given and None otherwise."""
    from transformers import AutoTokenizer

    from .head import give_pad_token

    path = Path(base).expanduser()
    if not path.is_dir():
        return base, None
    settings_file = path / "tokenizer_config.json"
    settings = json.loads(settings_file.read_text(encoding="utf-8")) if settings_file.is_file() else {}
    tokenizer = AutoTokenizer.from_pretrained(path)
    note = give_pad_token(base, tokenizer)
    if note is None and settings.get("tokenizer_class") != "TokenizersBackend":
        return base, None
    folder.mkdir(parents=True, exist_ok=True)
    if note is not None:
        tokenizer.padding_side = "right"
        model_config = json.loads((path / "config.json").read_text(encoding="utf-8"))
        model_config["pad_token_id"] = tokenizer.pad_token_id
        (folder / "config.json").write_text(json.dumps(model_config, indent=2) + "\n", encoding="utf-8")
    tokenizer.save_pretrained(folder)
    readable_by_transformers4(folder)
    present = {item.name for item in folder.iterdir()}
    for item in path.iterdir():
        if item.name not in present:
            (folder / item.name).symlink_to(item.resolve())  # the weights and the rest, not copied
    return str(folder), note


def check_options(spec: TaskSpec, config: TrainConfig) -> None:
    """What the AutoTrain backend cannot do, refused before anything is loaded (and by ``run`` before a teacher is
    asked): a multi-label task, the local backend's own options, part of an epoch."""
    if spec.multi_label:
        raise UserError(
            "--backend autotrain trains single-label classifiers only; use --backend local for this multi-label task."
        )
    if config.soft_labels:
        raise UserError("--soft-labels needs --backend local (AutoTrain trains on hard labels only).")
    if config.layers is not None:
        raise UserError("--layers needs --backend local (AutoTrain trains the base model's full depth).")
    if config.distill:
        raise UserError("--distill needs --backend local (AutoTrain trains on the labels only).")
    if config.bf16:
        raise UserError("--bf16 needs --backend local (AutoTrain is run with its own precision settings).")
    if config.epochs != int(config.epochs):
        raise UserError(
            f"epochs={config.epochs!r}: the autotrain backend trains whole epochs only; give a whole number (e.g. "
            f"--epochs {max(1, round(config.epochs))}) or use --backend local for part of an epoch."
        )


def train_autotrain(
    spec: TaskSpec,
    data: LabelledData,
    config: TrainConfig,
    early_notes: Sequence[str] = (),
    *,
    split: tuple[list[int], list[int]] | None = None,
) -> TrainResult:
    """Train with AutoTrain Advanced (single-label only) on the same stratified split. ``early_notes`` are the
    warnings :func:`sxhub.train.train` gave before the run (a label no training text has, conflicting rows): the
    result and ``sxhub.json`` carry them, as the local backend's do."""
    check_options(spec, config)
    base = config.base_model or default_base_model()
    train_idx, val_idx = split or holdout(data, val_size=config.val_size, seed=config.seed)  # train()'s, if given
    frame = pd.DataFrame({"text": data.texts, "label": data.labels})
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sxhub-autotrain-base-") as tmp:
        from .head import base_in_label_order
        from .symbol_split import base_with_isolated_symbols, keep_split_on_load

        # a classifier as the base (a student, written texts first): its head in AutoTrain's label order (sorted),
        # since AutoTrain, like transformers, would keep any head of the right size whatever its rows stood for
        base_read, head_note = base_in_label_order(base, spec, sorted(spec.label_names), Path(tmp) / "head")
        base_read, pad_note = base_tokenizer_for_autotrain(base_read, Path(tmp) / "tokenizer")
        # the local backend's tokenizer (symbols split off words, sxhub.symbol_split), so that both backends
        # read "thanks👍" as a word and a symbol; AutoTrain loads the base by path from a folder of links to it
        read_base, split_inputs = base_with_isolated_symbols(base_read, Path(tmp) / "base")
        train_texts = [data.texts[i] for i in train_idx]
        student = Path(base).expanduser().joinpath(SXHUB_JSON).is_file()
        max_length, lengths, limit = _local_max_length(read_base, train_texts, config.max_length, student=student)
        # the local backend's note on the texts cut at max_length, said now, before a long run (train_local)
        cut_note = over_limit_note(lengths, len(train_texts), limit, max_length, given=bool(config.max_length))
        if cut_note:
            logger.warning(cut_note)
        out = Path(
            autotrain.run_autotrain(
                frame.iloc[train_idx].reset_index(drop=True),
                frame.iloc[val_idx].reset_index(drop=True),
                label_names=spec.label_names,
                base_model=read_base,
                output_dir=Path(config.output_dir),
                epochs=int(config.epochs),
                batch_size=config.batch_size or fit_batch_size(len(data.texts)),  # train() fitted both already
                learning_rate=config.learning_rate or fit_learning_rate(None),
                max_length=max_length,
                seed=config.seed,
                early_stopping_patience=config.early_stopping_patience,
                weight_decay=config.weight_decay,
                max_minutes=config.max_minutes,
                threads=config.threads,
                echo=not bars_off(),  # AutoTrain's log and bars on stderr; none under sxhub -q, as sxhub's own bars
                temp_dirs=[tmp],
            )
        )
    if split_inputs is not None and (out / "tokenizer_config.json").is_file():
        keep_split_on_load(out, split_inputs)  # as the local backend saves it, whatever AutoTrain's transformers wrote
    seconds = time.perf_counter() - start
    info = json.loads((out / SXHUB_JSON).read_text(encoding="utf-8")) if (out / SXHUB_JSON).is_file() else {}
    if (out / "tokenizer_config.json").is_file() and info.get("max_length"):
        # the training max_length, as the local backend saves it (train_local._save): the base's (AutoTrain keeps it) made
        # pipeline(..., truncation=True) read 128 tokens of a text the student learned and sxhub predicts at 64
        tokenizer_config = json.loads((out / "tokenizer_config.json").read_text(encoding="utf-8"))
        tokenizer_config["model_max_length"] = int(info["max_length"])
        (out / "tokenizer_config.json").write_text(
            json.dumps(tokenizer_config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    info["base_model"] = str(base)  # the base, not the folder of links AutoTrain read it from
    if lineage := base_lineage(base):  # a student folder as the base: what it was fine-tuned from
        info["base_lineage"] = lineage
    info.setdefault("task", task_record(spec))
    info.setdefault("thresholds", None)
    max_length = int(info.get("max_length") or config.max_length or 128)
    # predict, the Space and the card apply this block: the one train() cleaned the training texts with
    info["preprocessing"] = preprocessing_config(spec.preprocess, max_length=max_length)
    # accuracy and macro F1 of the kept model on the validation rows, computed as the local backend computes them
    val_gold = np.asarray(data.label_ids())[val_idx]
    val_logits = validation_logits(out, [data.texts[i] for i in val_idx], max_length)
    validation, _ = validate(spec, val_logits, val_gold, seed=config.seed)
    metric = best_metric_name(False)
    figures = info.setdefault("train", {})
    selection_note = (
        f"AutoTrain kept the epoch with the lowest validation loss (it cannot select by {metric}); the validation "
        f"figures are that model's."
    )
    stopped_note = (
        [
            f"Stopped by the time cap after {config.max_minutes:g} min at epoch {figures.get('epochs', 0):g} "
            f"({config.max_minutes_from}); the best checkpoint so far is kept."
        ]
        if figures.get("stopped_by_time")
        else []
    )
    base_notes = [note for note in (pad_note, head_note) if note]
    cut = [cut_note] if cut_note else []
    notes = [*data_notes(data), *early_notes, *base_notes, *cut, selection_note, *stopped_note]
    figures.update(validation=validation, best_metric=metric, best_score=validation[metric], notes=notes)
    # what the local backend's record says of the data (write_sxhub_json), which the model card reads: without them
    # the card's evaluation counted "unknown" rows and called a --validation file's rows "held out of its training
    # file"
    figures.update(
        n_val=len(val_idx),
        val_size=None if config.validation_file is not None else config.val_size,
        validation_file=_file_name(config.validation_file),
        min_agreement=config.min_agreement,
        class_weights=False,  # AutoTrain's loss has none
        soft_labels=False,
        # what the local backend counts of the texts cut at max_length, which the model card's limitations say
        n_truncated=truncated_count(lengths, len(train_texts), max_length),
        longest_tokens=max(lengths, default=None),
    )
    # the sha256 of the weights normalise_model saved, as the local backend records it (write_sxhub_json): without it
    # an ONNX-only folder of an autotrain student loaded another student's export copied into onnx/, and the Space
    # had nothing to check its export against
    info.update(weights_record(out))
    (out / SXHUB_JSON).write_text(json.dumps(info, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    if (out / "config.json").is_file():  # for plain transformers users, as the local backend saves it (train_local)
        model_config = json.loads((out / "config.json").read_text(encoding="utf-8"))
        # this model's block, not the one AutoTrain carried over from a student base's config: a base trained with
        # block 4 left its block (no NFC) beside a model trained on NFC texts cleaned by block 6
        model_config["sxhub_preprocessing"] = info["preprocessing"]
        # nor that base's thresholds (a multi-label student's, for its labels): this model is single-label
        model_config.pop("sxhub_thresholds", None)
        (out / "config.json").write_text(json.dumps(model_config, indent=2) + "\n", encoding="utf-8")
    return TrainResult(
        model_dir=out,
        backend="autotrain",
        base_model=base if config.base_model else DEFAULT_BASE,
        multi_label=False,
        labels=spec.label_names,
        max_length=max_length,
        n_train=len(train_idx),
        n_val=len(val_idx),
        epochs=float(figures.get("epochs", 0.0)),
        seconds=round(float(figures.get("seconds", seconds)), 1),
        best_metric=metric,
        best_score=float(validation[metric]),
        validation=validation,
        notes=notes,
        n_truncated=figures["n_truncated"],
        longest_tokens=figures["longest_tokens"],
    )
