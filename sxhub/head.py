"""The classification head a base brings with it (``train --base`` a student or a fine-tuned classifier).

transformers keeps a base's head whenever its shape fits the new task, whatever labels its rows stood for: a
student of ``[positive, neutral, negative]`` used as the base of a task listing ``[negative, neutral, positive]``
would start with every row on the wrong label, and one of another task's three labels would start from its
answers. :func:`fit_head` keeps the head only where it speaks of the task's labels, by name; :func:`load_classifier`
loads a base with its head so fitted, for both backends (the local trainer through :func:`sxhub.train_local.load_base`,
AutoTrain through :func:`base_in_label_order`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import InputError, ModelError, UserError
from .spec import TaskSpec


def base_labels(base_config: Any) -> list[str] | None:
    """The labels of a classifier base, in its head's order; None for a base without a classification head or
    with transformers' placeholder names (``LABEL_0``...)."""
    architectures = getattr(base_config, "architectures", None) or []
    if not any(str(a).endswith("ForSequenceClassification") for a in architectures):
        return None
    id2label = getattr(base_config, "id2label", None) or {}
    names = [str(id2label[k]) for k in sorted(id2label, key=int)]
    if not names or all(name == f"LABEL_{i}" for i, name in enumerate(names)):
        return None
    return names


def _unnamed_note(problem: str, base_config: Any, spec: TaskSpec) -> str | None:
    """A note for a classifier head whose labels have no names (``LABEL_0``..., as many Hub sentiment models ship):
    transformers keeps it when its size fits, its rows taken as the task's labels in the spec's order; nothing can
    check that order, so the training notes say it."""
    architectures = getattr(base_config, "architectures", None) or []
    size = len(getattr(base_config, "id2label", None) or {})
    classifier = any(str(a).endswith("ForSequenceClassification") for a in architectures)
    if not classifier or size != len(spec.label_names) or _problem(base_config) != problem:
        return None
    rows = ", ".join(f"LABEL_{i} as {name}" for i, name in enumerate(spec.label_names))
    return (
        f"The base's head names no labels: it was kept, its rows taken in the task's order ({rows}); if they stood "
        "for other labels, list the task's labels in that order or save the base with their names (id2label)."
    )


def _problem(config: Any) -> str:
    return getattr(config, "problem_type", None) or "single_label_classification"


def fit_head(model: Any, base_config: Any, spec: TaskSpec) -> str | None:
    """Keep, reorder or renew the head ``model`` loaded from a base whose own config is ``base_config``.

    - Same labels in the same order, same problem type: kept (written texts first, then real ones).
    - Same labels in another order: the output rows are put in the task's order.
    - Other labels, or single- against multi-label, with a head of the same size: a fresh head, as for a base of
      another size (transformers renews that one itself).

    Returns a line for the training notes, or None when the head was kept as it was or the base had none.
    """
    names = base_labels(base_config)
    if names is None:
        return _unnamed_note(_problem(model.config), base_config, spec)
    wanted = spec.label_names
    same_problem = _problem(base_config) == _problem(model.config)
    if names == wanted and same_problem:
        return None
    if len(names) != len(wanted):
        return f"The base's head was for {len(names)} labels {names}: the task's head starts fresh."
    import torch

    prefix = getattr(model, "base_model_prefix", "")
    head = [
        module
        for name, module in model.named_modules()
        if name
        and not (prefix and (name == prefix or name.startswith(prefix + ".")))
        and isinstance(module, torch.nn.Linear)
    ]
    outputs = [module for module in head if module.out_features == len(wanted)]
    if sorted(names) == sorted(wanted) and same_problem and outputs:
        order = torch.tensor([names.index(label) for label in wanted])
        with torch.no_grad():
            for module in outputs:
                module.weight.copy_(module.weight[order])
                if module.bias is not None:
                    module.bias.copy_(module.bias[order])
        return f"The base's head listed the labels as {names}: its rows were put in the task's order {wanted}."
    std = float(getattr(model.config, "initializer_range", 0.02) or 0.02)
    with torch.no_grad():
        for module in head:
            torch.nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
    kind = "" if same_problem else f" ({_problem(base_config).split('_')[0]}-label)"
    return f"The base's head was for the labels {names}{kind}, not this task's: the task's head starts fresh."


def load_classifier(base: str, spec: TaskSpec, layers: int | None = None) -> tuple[Any, Any, str | None]:
    """``base``'s tokenizer and a sequence classifier for ``spec``, its head fitted by :func:`fit_head`, and what
    became of that head (a line for the notes, or None); ``layers`` keeps only the base's first N transformer layers
    (the rest of its weights are not loaded). A base that cannot be loaded is one error naming it."""
    from transformers import AutoConfig, AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    problem = "multi_label_classification" if spec.multi_label else "single_label_classification"
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "some weights were newly initialised" is expected for a new head
    try:
        tokenizer, base_config = base_parts(base)  # the base's own labels, before the task's replace them
        tokenizer.padding_side = "right"  # the student is an encoder: trained, saved and served padded on the right
        config = AutoConfig.from_pretrained(
            base,
            num_labels=len(spec.label_names),
            id2label=spec.id2label,
            label2id=spec.label2id,
            problem_type=problem,
        )
        if layers is not None:
            config.num_hidden_layers = check_depth(base, config, layers)
        pad_note = give_pad_token(base, tokenizer)
        if pad_note:
            config.pad_token_id = tokenizer.pad_token_id
        model = AutoModelForSequenceClassification.from_pretrained(base, config=config, ignore_mismatched_sizes=True)
        head_note = fit_head(model, base_config, spec)
        return model, tokenizer, " ".join(note for note in (pad_note, head_note) if note) or None
    except UserError:
        raise
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"base model {base!r} could not be loaded ({type(exc).__name__}: {load_reason(exc)}); pass a local "
            "model folder or a Hub id available offline with --base."
        ) from exc
    finally:
        hf_logging.set_verbosity(verbosity)


def give_pad_token(base: str, tokenizer: Any) -> str | None:
    """A tokenizer without a pad token (a decoder's: GPT-2, Llama, Qwen, SmolLM) gets its end-of-text token as one,
    as transformers' guides do for their ``...ForSequenceClassification`` (which reads the last token before the
    padding); the caller sets the model's ``pad_token_id`` to it. Without it, training such a ``--base`` ended in
    transformers' 'Asking to pad but the tokenizer does not have a padding token' (exit 1) once every text was
    tokenized. Returns a note for the training notes, or None when the tokenizer had a pad token. A tokenizer with
    neither is one error naming ``--base``."""
    if tokenizer.pad_token is not None:
        return None
    token = tokenizer.eos_token or tokenizer.unk_token
    if token is None:
        raise ModelError(
            f"base model {base!r}: its tokenizer has no pad, end-of-text or unknown token to pad texts with; save it "
            "with a pad token (tokenizer.add_special_tokens({'pad_token': ...})) or pass another --base."
        )
    tokenizer.pad_token = token
    return f"The base's tokenizer had no pad token: its {token!r} pads the texts (saved with the student)."


WEIGHTS_FILES = (  # what from_pretrained reads a PyTorch model's weights from
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


def has_vocabulary(tokenizer: Any) -> bool:
    """Whether ``tokenizer`` has words beyond its special tokens: transformers 5 builds one from nothing but a
    folder's config.json when its tokenizer files are missing, and every word then reads as ``[UNK]``."""
    return len(tokenizer) > len(tokenizer.all_special_tokens)


def check_base(base: str | None) -> str:
    """The base model ``base`` names (None: the default student base), checked without loading its weights: its
    config and tokenizer load, the tokenizer has a vocabulary, and a local folder holds weights whose header reads.
    A second or so, so ``run`` calls it before a teacher is asked and ``train`` before training starts (a bad base
    was found only when training loaded it, after every text had been annotated). Returns the base to load; a base
    that fails is one :class:`ModelError` naming ``--base`` and the fix."""
    if base is None:
        from .train_config import default_base_model

        base = default_base_model()
    tokenizer, _ = base_parts(base)
    if not has_vocabulary(tokenizer):
        raise ModelError(
            f"base model {base!r} has no tokenizer vocabulary (no tokenizer.json, vocab.txt or the like beside its "
            "config); pass a model folder saved with its tokenizer, or a Hub id, with --base."
        )
    folder = Path(base).expanduser()
    weights = [folder / name for name in WEIGHTS_FILES if (folder / name).is_file()] if folder.is_dir() else []
    if folder.is_dir() and not weights:
        raise ModelError(
            f"base model folder {base!r} has no weights ({' or '.join(WEIGHTS_FILES[::2])}); pass a transformers "
            "model folder with its weights, or a Hub id, with --base."
        )
    if weights and weights[0].name == "model.safetensors":  # its header only: a truncated or foreign file
        from safetensors import safe_open

        try:
            with safe_open(str(weights[0]), framework="pt"):
                pass
        except Exception as exc:  # safetensors raises its own SafetensorError, and OSError
            raise ModelError(
                f"base model folder {base!r}: its model.safetensors does not read ({type(exc).__name__}: "
                f"{str(exc)[:120]}); pass a model folder whose weights are whole (save or download it again) with "
                "--base."
            ) from exc
    return base


def base_parts(base: str) -> tuple[Any, Any]:
    """``base``'s tokenizer and its own config, each loaded as training loads it (not its weights). A base whose
    config or tokenizer does not load is one :class:`ModelError` that says which, naming ``--base``."""
    from huggingface_hub import constants
    from transformers import AutoConfig, AutoTokenizer

    folder = Path(base).expanduser()
    if base.startswith(("/", ".", "~")) and not folder.exists():  # a path, not a Hub id: say so
        raise ModelError(f"base model folder {base!r} not found; pass a model folder or a Hub id with --base.")
    if folder.is_file():  # its config.json or weights file: transformers read it as a pickle (UnpicklingError)
        where = f" ({str(folder.parent)!r})" if (folder.parent / "config.json").is_file() else ""
        raise ModelError(
            f"base model {base!r} is a file, not a model folder; pass the folder that holds its config.json, tokenizer "
            f"and weights{where}, or a Hub id, with --base."
        )
    if folder.is_dir() and not (folder / "config.json").is_file():
        raise ModelError(
            f"base model folder {base!r} has no config.json; pass a transformers model folder (config, tokenizer "
            "and weights) or a Hub id with --base."
        )
    what = "config"
    try:
        config = AutoConfig.from_pretrained(base)
        what = "tokenizer"
        tokenizer = AutoTokenizer.from_pretrained(base)
    except (OSError, ValueError) as exc:
        sentencepiece = _sentencepiece_file(base) if what == "tokenizer" else None
        if sentencepiece is not None:
            raise ModelError(
                f"base model {base!r}: its tokenizer is a SentencePiece model ({sentencepiece}), which transformers "
                "reads with the sentencepiece package; run pip install sentencepiece, or pass a base saved with its "
                "tokenizer.json with --base."
            ) from exc
        if not folder.is_dir() and isinstance(exc, OSError) and constants.HF_HUB_OFFLINE:
            raise ModelError(
                f"base model {base!r} is neither a local folder nor in the Hugging Face cache, and HF_HUB_OFFLINE "
                f"is set; pass a local model folder with --base, or download it first (`hf download {base}`, or "
                "run once without HF_HUB_OFFLINE)."
            ) from exc
        raise ModelError(
            f"base model {base!r}: its {what} could not be loaded ({type(exc).__name__}: {load_reason(exc)}); pass a "
            "local model folder or a Hub id available offline with --base."
        ) from exc
    return tokenizer, config


SENTENCEPIECE_FILES = ("spm.model", "spiece.model", "sentencepiece.bpe.model", "tokenizer.model")


def _sentencepiece_file(base: str) -> str | None:
    """The SentencePiece model file of a base without a ``tokenizer.json`` (DeBERTa-v3's ``spm.model``, ALBERT's
    ``spiece.model``), in its folder or the Hugging Face cache, when the sentencepiece package that reads it is not
    installed; else None. transformers then falls back to tiktoken and fails in its words ("`tiktoken` is required to
    read a `tiktoken` file")."""
    from huggingface_hub import try_to_load_from_cache
    from transformers.utils import is_sentencepiece_available  # transformers' own check, as its tokenizers ask

    if is_sentencepiece_available():
        return None

    folder = Path(base).expanduser()

    def present(name: str) -> bool:
        if folder.is_dir():
            return (folder / name).is_file()
        try:
            return isinstance(try_to_load_from_cache(base, name), str)
        except ValueError:  # not a Hub id
            return False

    if present("tokenizer.json"):
        return None
    return next((name for name in SENTENCEPIECE_FILES if present(name)), None)


def load_reason(exc: BaseException, limit: int = 300) -> str:
    """transformers' reason on one line, cut at a word with "…" when long: the first 160 characters ended
    "...Check your internet connection or see how to run )", mid-sentence."""
    text = " ".join(str(exc).split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def check_depth(base: str, config: Any, layers: int) -> int:
    """``layers`` when the base has at least that many transformer layers; otherwise an error naming its depth."""
    depth = getattr(config, "num_hidden_layers", None)
    if not isinstance(depth, int):
        raise InputError(
            f"--layers {layers}: the base model {base!r} does not say how many layers it has (no num_hidden_layers "
            "in its config); leave --layers out for this base."
        )
    if layers > depth:
        raise InputError(f"--layers {layers}: the base model {base!r} has {depth} layers; pass 1 to {depth}.")
    return layers


def base_in_label_order(base: str, spec: TaskSpec, order: list[str], folder: Path) -> tuple[str, str | None]:
    """The base for a trainer that loads it by path and numbers the labels in ``order`` itself (AutoTrain: its
    labels sorted by name) and, like transformers, keeps any head whose shape fits. A local classifier base whose
    head is not already in that order is written to ``folder`` with its head fitted by :func:`fit_head` (rows put in
    ``order``, or fresh for other labels) beside links to its tokenizer files; a head naming no labels (``LABEL_0``...)
    has its rows read in the task's order, as the local backend reads them, and put in ``order`` (with the local
    backend's note). Returns the base to load and the note, or the base as given and None (its note, if any)."""
    import copy
    from dataclasses import replace

    from transformers import AutoConfig

    path = Path(base).expanduser()
    if not path.is_dir():
        return base, None
    base_config = AutoConfig.from_pretrained(path)
    names = base_labels(base_config)
    named = unnamed = None
    if (
        names is None
    ):  # LABEL_0...: the local backend keeps such a head, its rows read in the task's order, and says so
        problem = "multi_label_classification" if spec.multi_label else "single_label_classification"
        unnamed = _unnamed_note(problem, base_config, spec)
        if unnamed is None or order == spec.label_names:
            return base, unnamed
        # the trainer would read its rows in ``order``: named as the local backend reads them, they are put in it
        named = copy.deepcopy(base_config)
        named.id2label = dict(enumerate(spec.label_names))
        named.label2id = {name: i for i, name in enumerate(spec.label_names)}
    elif names == order:
        return base, None
    by_name = {label.name: label for label in spec.labels}
    ordered = replace(spec, labels=[by_name[n] for n in order])
    model, _, note = load_classifier(str(path), ordered)
    if named is not None:
        fit_head(model, named, ordered)
        note = unnamed
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    written = {item.name for item in folder.iterdir()}
    for item in path.iterdir():  # the base's own tokenizer files, as the trainer's transformers reads them
        if item.name not in written and not item.name.startswith(("model", "pytorch_model", "sxhub", "onnx")):
            (folder / item.name).symlink_to(item.resolve())
    return str(folder), note
