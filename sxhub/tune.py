"""Tune: fine-tune a small causal LM on labelled examples into a *synthetic model* that labels and writes texts.

``sxhub tune TASK LABELLED -o DIR`` trains LoRA adapters (peft) with TRL's ``SFTTrainer`` in one run on two kinds
of chat examples built from LABELLED and the task spec:

* **labelling**: the exact prompt sxhub's teachers get (:func:`sxhub.prompt.build_messages`), answered with the JSON
  answer (:func:`sxhub.prompt.answer_example`; without a reason: expert labels come without one). With
  ``reasoning: true`` the prompt still asks for a reason: it is the prompt the tuned teacher is served, and the
  reasonless answer is the one it scores (:mod:`sxhub.teachers.tuned` writes the label scores as the reason);
* **writing**: the prompt ``sxhub generate`` sends (:func:`sxhub.generate.generation_messages`: "write one new text
  that a careful annotator would label L", about topic T for half of them), answered with a real text of that label
  as ``{"text": ...}``. A text's topic is its most distinctive word or word pair (TF-IDF over the training texts).

A stratified share of LABELLED (``holdout``) is never trained on; the tuned model labels it by scoring every
label's answer (:mod:`sxhub.teachers.synthetic_model`) and the scores against its labels go into ``sxhub.json`` and
the card.

The base model is resolved and checked in :mod:`sxhub.base_model`; training (shared-prefix batches, the local
backend) is in :mod:`sxhub.lora`, the AutoTrain backend in :mod:`sxhub.lora_autotrain`; the examples and the
held-out split are built in :mod:`sxhub.tune_examples`, the record and the card in :mod:`sxhub.tune_record` (their
names are imported from here too).

DIR holds the merged model (``from_pretrained`` loads it), its tokenizer with the chat template, ``sxhub.json``
(kind ``synthetic-model``: base, LoRA settings, data, the task, held-out scores, cost) and a card (README.md from
``model_cards/generator.md``). A local tune keeps its checkpoints in a hidden folder in DIR until the model has moved
in; a stopped one's are continued by ``--resume`` (:mod:`sxhub.tune_resume`). ``--backend autotrain`` trains the
same examples with AutoTrain's ``llm-sft`` trainer from its own venv, which saves the LoRA adapter; sxhub merges it in
float32 as the local backend does.
"""

from __future__ import annotations

import dataclasses
import errno
import itertools
import json
import logging
import os
import random
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .base_model import BaseModel, check_causal_lm, float32_bytes, no_space, resolve_base
from .errors import InputError
from .head import check_base
from .labelled import LabelledData, load_labelled
from .lora import ChatExample, train_local
from .lora_autotrain import train_autotrain, whole_epochs
from .model_folder import INCOMPLETE, STAGING_PREFIX, drop_leftovers, move_into, staging_folder
from .run_record import task_record
from .spec import TaskSpec, load_spec
from .train_config import refused_flags
from .tune_examples import (  # noqa: F401  (MAX_WRITING_REPEATS, text_topics, writing_picks: imported from here too)
    MAX_WRITING_REPEATS,
    build_examples,
    plain_spec,
    split_heldout,
    text_topics,
    writing_picks,
)
from .tune_record import (  # noqa: F401  (CARD_TEMPLATE: imported from here too)
    CARD_TEMPLATE,
    _data_facts,
    _threads,
    _versions,
    cpu_seconds,
    peak_rss_mb,
    training_device,
    write_card,
)
from .tune_resume import Checkpoints, drop_tune_checkpoints, fingerprint, tune_checkpoints

logger = logging.getLogger(__name__)

BACKENDS = ("local", "autotrain")
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


# ------------------------------------------------------------------------------------------------------------------
# options
# ------------------------------------------------------------------------------------------------------------------
@dataclass
class TuneOptions:
    """How to tune; checks itself. ``holdout`` is a share (< 1) or a number of texts; ``writing`` is the number of
    writing examples per training text (1.0: 1,000 writing examples for 1,000 texts, balanced over the labels: see
    :func:`writing_picks`)."""

    base: str | None = None  # None: the embedded SmolLM2-135M-Instruct
    backend: str = "local"
    epochs: float = 1.0
    group_size: int = 8  # examples per optimizer step (they share their prompt's prefix)
    learning_rate: float = 5e-4
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0  # 1 epoch on a few hundred texts: no dropout needed, and it costs 5% of a step
    target_modules: list[str] = field(default_factory=lambda: list(LORA_TARGETS))
    lora_layers: int | None = 10  # adapt the top N decoder layers only (backward stops there); None: all
    writing: float = 1.0
    topic_share: float = 0.5
    holdout: float = 0.1
    max_train: int | None = None  # training texts at most (after the held-out split)
    max_length: int = 1024  # longer examples are left out (never truncated: the prompt must stay exact)
    seed: int = 0
    # resume: continue the stopped tune whose checkpoint is in -o, or refuse in one line; restart: remove such a
    # checkpoint and tune from the start (sxhub.tune_resume)
    resume: bool = False
    restart: bool = False

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise InputError(f"--backend {self.backend!r} is not one of {list(BACKENDS)}.")
        refused = refused_flags(self.resume, self.restart, self.backend, "tune")
        if refused:
            raise InputError(refused)
        for name in ("epochs", "learning_rate"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
                raise InputError(f"{name}={value!r} must be a number above 0.")
        for name in ("group_size", "lora_r", "lora_alpha", "max_length"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InputError(f"{name}={value!r} must be a positive integer.")
        for name, high in (("lora_dropout", 0.9), ("topic_share", 1.0), ("writing", 10.0)):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0 <= value <= high:
                raise InputError(f"{name}={value!r} must be a number from 0 to {high}.")
        if self.backend == "autotrain":
            whole_epochs(self.epochs)  # refused here, before the data is read, not after the examples are built
        if not isinstance(self.holdout, (int, float)) or self.holdout < 0 or (0.5 < self.holdout < 1):
            raise InputError(f"holdout={self.holdout!r}: give a share below 0.5 (e.g. 0.1) or a number of texts.")
        if self.max_train is not None and (not isinstance(self.max_train, int) or self.max_train < 2):
            raise InputError(f"max_train={self.max_train!r} must be an integer of at least 2.")
        if self.lora_layers is not None and (not isinstance(self.lora_layers, int) or self.lora_layers < 1):
            raise InputError(f"lora_layers={self.lora_layers!r} must be a positive integer (or None for every layer).")
        if not self.target_modules:
            raise InputError("target_modules is empty; name the layers LoRA adapts (e.g. q_proj,v_proj).")


@dataclass
class TuneResult:
    output_dir: Path
    info: dict[str, Any]

    def summary_line(self) -> str:
        train, held = self.info["train"], self.info.get("heldout") or {}
        acc = held.get("accuracy")
        shown = f"held-out accuracy {acc:.3f} on {held.get('n')} texts" if acc is not None else "no held-out split"
        if held.get("n_too_long"):
            shown += f" ({held['n_too_long']} longer than the model's context left out)"
        elif acc is None and (self.info.get("data") or {}).get("n_heldout"):
            shown = "no held-out scores (no held-out text fits the model's context)"
        # examples over --max-length are left out: the count said "tuned on 53 labelling" of which 37 were not
        context = train.get("context")
        limit = (
            "--max-length" if not context or context >= train["max_length"] else f"the base's {context}-token context"
        )
        dropped = f" ({train['n_too_long']} longer than {limit} left out)" if train.get("n_too_long") else ""
        return (
            f"tuned {self.info['base_model']} on {train['n_labelling']} labelling + {train['n_writing']} writing "
            f"examples{dropped} in {train['seconds']:.0f} s ({train['examples_per_s']:.2f} examples/s, peak "
            f"{train['peak_rss_mb']:.0f} MB); {shown}; wrote {self.output_dir}"
        )


# ------------------------------------------------------------------------------------------------------------------
# the stage
# ------------------------------------------------------------------------------------------------------------------
def tune(
    spec: TaskSpec | str | os.PathLike[str],
    labelled: str | os.PathLike[str] | Any,
    output_dir: str | os.PathLike[str],
    options: TuneOptions | None = None,
    *,
    label_column: str | None = None,
    text_column: str | None = None,
    progress: bool = True,
) -> TuneResult:
    """Tune a synthetic model on ``labelled`` for ``spec`` and write it to ``output_dir`` (module docstring)."""
    spec = load_spec(spec)
    spec.card_license()  # the card written at the end declares it: a license the Hub refuses, before training
    spec.card_language()
    opts = options or TuneOptions()
    out = Path(output_dir)
    check_output_folder(out)
    data = load_labelled(  # the error for a text column it cannot guess names --text-column, which tune lacked
        labelled,
        label_names=spec.label_names,
        multi_label=spec.multi_label,
        label_column=label_column,
        text_column=text_column,
        label_option="--label-column (Python: label_column=)",
    )
    from .data import preprocess_text
    from .targets import check_trainable

    # the texts as annotate hands them to a teacher (the task's preprocess: PII masked, spaces normalised), as train
    # cleans its own: learned as written, "@JohnDoe ... https://..." was served as "@user ... URL", never tuned on
    clean = preprocess_text if spec.preprocess else str.strip
    data = dataclasses.replace(data, texts=[clean(text) for text in data.texts])
    check_trainable(data, learner="the synthetic model")
    train_idx, held_idx = split_heldout(data, opts.holdout, opts.seed, spec=spec)
    if opts.max_train is not None and len(train_idx) > opts.max_train:
        train_idx = sorted(random.Random(opts.seed).sample(train_idx, opts.max_train))
    texts = [data.texts[i] for i in train_idx]
    labels = [data.labels[i] for i in train_idx]
    for note in tune_notes(spec, data, labels):
        logger.warning(note)  # now, before a long run; sxhub.json and the card keep them
    examples = build_examples(spec, texts, labels, writing=opts.writing, topic_share=opts.topic_share, seed=opts.seed)
    base = resolve_base(opts.base)
    check_base(base.path)  # its config and tokenizer before -o is made: a config-only folder left an empty -o
    check_causal_lm(base)  # a student (a classifier) failed in the middle of training
    check_room(out, base)  # a disk too small for the merged model failed after the whole training, which was lost
    created = not out.exists()
    # a local tune keeps its checkpoints in -o until its model has moved in, for --resume (sxhub.tune_resume)
    checkpoints = (
        Checkpoints(out, fingerprint(spec, base, opts), resume=opts.resume, restart=opts.restart)
        if opts.backend == "local"
        else None
    )
    # written into a hidden folder inside -o (its filesystem, where -o is a symlink or a mount point: beside it, the
    # move failed across devices) and moved in once whole: an interrupted run leaves -o (an earlier model) as it was
    staging = staging_folder(out)
    try:
        drop_leftovers(out, staging, checkpoints=False)  # a killed run's staging folder
        if opts.restart and checkpoints is None:
            drop_tune_checkpoints(out)
        info = _tune_into(
            staging, spec, labelled, data, train_idx, held_idx, examples, base, opts, label_column, progress,
            checkpoints,
        )  # fmt: skip
        write_card(staging, info, repo_id=out.resolve().name)
        move_into(staging, out)
        if checkpoints is not None:
            checkpoints.done()  # the model is in: its checkpoints (and a stopped tune's) go
            checkpoints = None
    except KeyboardInterrupt as exc:  # Ctrl-C, SIGTERM (Terminated): the CLI's line says how to continue
        if checkpoints is not None:
            checkpoints.stopped(exc)
        raise
    except Exception as exc:
        if no_space(exc):  # safetensors said "SafetensorError: Error while serializing: I/O error: No space left..."
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(out)) from exc
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if checkpoints is not None:  # stopped or failed: a whole checkpoint stays for --resume, else its folder goes
            checkpoints.drop_unsaved()
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # nothing was saved
    return TuneResult(out, info)


ROOM_SLACK = 64 * 2**20  # bytes beyond the weights: tokenizer, configs, card, sxhub.json


def check_room(out: Path, base: BaseModel) -> None:
    """One error line, before training, when the disk of ``out`` has no room for the merged float32 model (and its
    tokenizer): saving is the last step, so a full disk threw the whole training away. A retune needs the room too:
    the new model is written whole before the earlier one is replaced."""
    need = float32_bytes(base) + ROOM_SLACK
    where = out
    while not where.exists() and where != where.parent:
        where = where.parent
    free = shutil.disk_usage(where).free
    if free < need:
        raise InputError(
            f"-o {str(out)!r}: its disk has {free / 1e6:,.0f} MB free and the tuned model takes about "
            f"{need / 1e6:,.0f} MB; free space there, or pass -o on another disk."
        )


def tune_notes(spec: TaskSpec, data: LabelledData, train_labels: Sequence[Any]) -> list[str]:
    """What reading LABELLED left out (failed rows, rows without a text or a label: :func:`sxhub.targets.data_notes`,
    as train says them) and the task's labels no training text has: tune said neither, and such a label was never
    learnt, to label or to write (its writing examples come from its texts), while the summary looked whole."""
    from .targets import data_notes

    seen = {name for label in train_labels for name in ([label] if isinstance(label, str) else label)}
    missing = [name for name in spec.label_names if name not in seen]
    notes = data_notes(data)
    if missing:
        them = "it" if len(missing) == 1 else "them"
        notes.append(
            f"No training text has the label(s) {missing}: the synthetic model cannot learn to label or write {them}; "
            f"label more texts of {them}, or drop {them} from the task."
        )
    return notes


def check_output_folder(out: Path) -> None:
    """-o is new, empty or a synthetic model (tuned again: replaced once the new one is whole); anything else (a
    student from ``sxhub train``, a folder of other files) is one error line: tune would write over its files."""
    from .teachers.synthetic_folder import read_info

    # a staging folder a killed run left is no file of the user's (the run removes it), nor a stopped tune's
    # checkpoints (--resume continues them)
    held = out.is_dir() and any(
        not item.name.startswith(STAGING_PREFIX) and not tune_checkpoints(item) for item in out.iterdir()
    )
    if held and read_info(out) is None and not stopped_retune(out):
        raise InputError(
            f"-o {str(out)!r} holds files and no synthetic model (a student from `sxhub train`, say), which tune "
            "would write over; pass a new or empty folder with -o."
        )


def stopped_retune(out: Path) -> bool:
    """Whether ``out`` is a synthetic model folder that a tune stopped while moving its new model in: marked
    incomplete, its ``sxhub.json`` gone (it moves in last) and its config, if any, a causal LM's (an interrupted
    ``sxhub train`` leaves a classifier's). Tuning into it again is the fix its error line names, which tune
    refused as a folder that "holds files and no synthetic model"."""
    if not (out / INCOMPLETE).exists():
        return False
    try:
        config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return True
    except (OSError, ValueError):
        return False
    names = config.get("architectures") if isinstance(config, dict) else None
    return isinstance(names, list) and bool(names) and all(str(name).endswith("ForCausalLM") for name in names)


def _tune_into(
    out: Path,
    spec: TaskSpec,
    labelled: Any,
    data: LabelledData,
    train_idx: list[int],
    held_idx: list[int],
    examples: list[ChatExample],
    base: BaseModel,
    opts: TuneOptions,
    label_column: str | None,
    progress: bool,
    checkpoints: Checkpoints | None = None,
) -> dict[str, Any]:
    """Train, save the merged model into ``out``, score the held-out texts and write ``sxhub.json``; its record."""
    start, cpu_start = time.perf_counter(), cpu_seconds()
    if opts.backend == "autotrain":
        model, tokenizer, figures = train_autotrain(examples, base, opts, progress=progress)
    else:
        model, tokenizer, figures = train_local(examples, base, opts, progress=progress, checkpoints=checkpoints)
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    n_trained = figures.pop("n_examples")
    labels_note = figures.pop("labels_note", None)  # a label whose every text is too long: said with the others
    # a resumed run's seconds are those of the steps after its checkpoint: its rate counts those steps' examples
    resumed_at = checkpoints.resumed_step if checkpoints is not None else None
    steps = figures.get("steps")
    ran = (steps - resumed_at) / steps if resumed_at and steps and steps > resumed_at else 1.0
    info = {
        "kind": "synthetic-model",
        "task": task_record(spec),  # teacher URLs without credentials, as a student's sxhub.json
        "labels": spec.label_names,
        "multi_label": spec.multi_label,
        "base_model": base.name,
        "base": asdict(base),
        "backend": opts.backend,
        "lora": {
            "r": opts.lora_r,
            "alpha": opts.lora_alpha,
            "dropout": opts.lora_dropout,
            "target_modules": list(opts.target_modules),
            "layers": figures.pop("lora_layers", None),
            "merged": True,
        },
        "data": {
            **_data_facts(labelled, data, train_idx, held_idx, label_column),
            "notes": [*tune_notes(spec, data, [data.labels[i] for i in train_idx]), *filter(None, [labels_note])],
        },
        "train": {
            "n_labelling": sum(e.kind == "labelling" for e in examples),
            "n_writing": sum(e.kind == "writing" for e in examples),
            "n_trained": n_trained,
            "epochs": opts.epochs,
            "group_size": opts.group_size,
            "learning_rate": opts.learning_rate,
            "max_length": opts.max_length,
            "seed": opts.seed,
            "seconds": round(seconds, 1),
            "cpu_seconds": round(cpu, 1),
            "examples_per_s": round(n_trained * opts.epochs * ran / max(seconds, 1e-9), 3),
            "peak_rss_mb": round(peak_rss_mb(), 1),
            "threads": _threads(),
            "gpu": training_device(),  # None: trained on the CPU's threads
            **figures,
        },
        "writing": {
            "topic_share": opts.topic_share,
            "share": opts.writing,
            "per_label": dict(Counter(e.label for e in examples if e.kind == "writing")),  # balanced: writing_picks
            "max_tokens": writing_budget(tokenizer, [e.answer for e in examples if e.kind == "writing"]),
        },
        "heldout": None,
        "versions": _versions(),
    }
    if held_idx:
        from .teachers.synthetic_model import SyntheticModel

        info["heldout"] = heldout_scores(
            SyntheticModel(model, tokenizer),
            spec,
            [data.texts[i] for i in held_idx],
            [data.labels[i] for i in held_idx],
            progress=progress,
        )
    (out / "sxhub.json").write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return info


def writing_budget(tokenizer: Any, answers: Sequence[str]) -> int | None:
    """Tokens a written text may take when the model writes: 1.5 times the 95th percentile of the answers it learned
    from (at least 32), so that a text that never closes its string stops near the longest real ones."""
    if not answers:
        return None
    import numpy as np

    lengths = [len(tokenizer(a, add_special_tokens=False)["input_ids"]) for a in answers]
    return max(32, int(np.ceil(1.5 * np.percentile(lengths, 95))))


def heldout_scores(
    model: Any, spec: TaskSpec, texts: Sequence[str], gold: Sequence[Any], *, progress: bool = False
) -> dict[str, Any] | None:
    """The model's labels (most probable answer) on held-out texts against their labels, with its confidence: the
    mean probability of the answer it chose (for multi-label the label set's, not the largest label marginal).
    Texts longer than the model's context are left out and counted (``n_too_long``); None when none is left."""
    from .metrics import score
    from .prompt import build_messages

    # a text longer than the model's context was never trained on either (its example is left out): scoring it
    # failed after the whole training ("IndexError: index out of range in self"), losing it; it is counted instead
    fits = [
        i
        for i, text in enumerate(texts)
        if model.label_too_long(build_messages(spec, text), spec.label_names, spec.multi_label) is None
    ]
    if not fits:
        logger.warning("none of the %d held-out texts fits the model's context: no held-out scores", len(texts))
        return None
    too_long = len(texts) - len(fits)
    texts, gold = [texts[i] for i in fits], [gold[i] for i in fits]
    predicted, probs, confidence = model.score_texts(spec, texts, progress=progress)
    result = score(list(gold), predicted, spec.label_names, spec.multi_label)
    keep = ("n", "accuracy", "macro_f1", "micro_f1", "weighted_f1", "krippendorff_alpha", "per_label")
    figures = {k: result[k] for k in keep if k in result}
    figures["n_too_long"] = too_long
    figures["confusion_matrix"] = result.get("confusion_matrix")
    figures["mean_confidence"] = round(sum(confidence) / len(confidence), 4) if confidence else None
    if not spec.multi_label:
        figures["ece"] = round(calibration_error(probs, [spec.label_names.index(g) for g in gold]), 4)
    return figures


def calibration_error(probs: Any, gold_ids: Sequence[int], bins: int = 10) -> float:
    """Expected calibration error: the confidence-weighted gap between confidence and accuracy, over 10 bins."""
    import numpy as np

    probs = np.asarray(probs)
    conf = probs.max(axis=1)
    hit = probs.argmax(axis=1) == np.asarray(gold_ids)
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for low, high in itertools.pairwise(edges):
        inside = (conf > low) & (conf <= high)
        if inside.any():
            total += inside.mean() * abs(hit[inside].mean() - conf[inside].mean())
    return float(total)
