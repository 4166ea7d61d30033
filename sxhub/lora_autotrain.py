"""The AutoTrain backend of ``sxhub tune --backend autotrain``: AutoTrain's ``llm-sft`` trainer (LoRA) in its own venv,
driven like the student's AutoTrain backend in :mod:`sxhub.autotrain`, its adapter merged here as the local backend
merges (:func:`train_autotrain`).

It trains on the chat examples of :mod:`sxhub.lora` with that module's checks (which kinds fit, the token limit) and
returns what :func:`sxhub.lora.train_local` returns: the merged model, its tokenizer and the training figures. It
imports :mod:`sxhub.lora`; the names it defines stay importable from there, where they were first.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .base_model import INSTALL_HINT, BaseModel, check_target_modules, model_context
from .errors import BackendError, InputError, ModelError
from .lora import (
    ChatExample,
    TrainSettings,
    check_every_kind_fits,
    prepare_tokenizer,
    token_limit,
    too_long_labels_note,
)

logger = logging.getLogger(__name__)


def train_autotrain(
    examples: Sequence[ChatExample], base: BaseModel, opts: TrainSettings, *, progress: bool
) -> tuple[Any, Any, dict[str, Any]]:
    """AutoTrain's ``llm-sft`` trainer (LoRA, merged) on the same chat examples, rendered with the base's template."""
    import pandas as pd
    import torch
    import yaml
    from transformers import AutoConfig, AutoTokenizer

    from .autotrain import find_autotrain
    from .autotrain_run import ADAPTER_FILES, _subprocess_env, check_outputs, run_subprocess, trainer_command

    epochs = whole_epochs(opts.epochs)
    try:
        import peft  # noqa: F401  (sxhub merges AutoTrain's adapter: asked before AutoTrain trains, not after)
    except ImportError as exc:
        raise ModelError(f"merging AutoTrain's LoRA adapter needs PEFT; run `{INSTALL_HINT}`.") from exc
    env = find_autotrain()
    # LoRA on the top --lora-layers decoder layers, as the local backend: AutoTrain was given the bare names
    # (q_proj, ...) and adapted every layer, so backward ran through all 30 of SmolLM2's layers and its trainer
    # kept their activations (8.5 GB on 30 PhraseBank texts, where the local backend peaks at 2.7 GB); PEFT matches
    # each full name given (model.layers.20.self_attn.q_proj) as it matches a bare one, and autograd then starts at
    # the lowest adapted layer
    targets, layers = check_target_modules(base, opts.target_modules, opts.lora_layers)
    tokenizer = AutoTokenizer.from_pretrained(base.path)
    prepare_tokenizer(tokenizer)
    rendered = []
    for ex in examples:
        messages = [*ex.messages, {"role": "assistant", "content": ex.answer}]
        rendered.append(tokenizer.apply_chat_template(messages, tokenize=False))
    lengths = [len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in rendered]
    context = model_context(AutoConfig.from_pretrained(base.path))
    limit = token_limit(opts.max_length, context)  # AutoTrain's blocks too: longer ones ran past a short context
    fitting = {ex.kind for ex, n in zip(examples, lengths, strict=True) if n <= limit}
    check_every_kind_fits(examples, fitting, lengths.__getitem__, opts.max_length, context)  # AutoTrain failed on none
    kept = [text for text, n in zip(rendered, lengths, strict=True) if n <= limit]
    fits = [ex for ex, n in zip(examples, lengths, strict=True) if n <= limit]
    labels_note = too_long_labels_note(examples, fits, opts.max_length, context)
    if labels_note:
        logger.warning(labels_note)  # before the long run; sxhub.json and the card keep it (sxhub.tune)
    blocks = blocks_per_step(opts, [n for n in lengths if n <= limit])
    work = Path(tempfile.mkdtemp(prefix="sxhub-tune-autotrain-"))  # kept (and named in the error) on failure
    (work / "data").mkdir()
    pd.DataFrame({"text": kept}).to_json(work / "data" / "train.jsonl", orient="records", lines=True)
    base_dir = _autotrain_base(base, tokenizer, work / "base")
    config = {
        "task": "llm-sft",
        "base_model": str(base_dir),
        "project_name": "autotrain-project",
        "log": "none",
        "backend": "local",
        "data": {
            "path": "data",
            "train_split": "train",
            "valid_split": None,
            "chat_template": None,
            "column_mapping": {"text_column": "text"},
        },
        "params": {
            "block_size": limit,
            "model_max_length": limit,
            "epochs": epochs,
            # a step's blocks one at a time, their gradients summed (the same step: packed blocks are all
            # block_size tokens long): the trainer held the logits of every block of the step at once (49,152
            # vocabulary x 1,024 tokens x 4 bytes, 0.2 GB a block, and their log-softmax and gradients)
            "batch_size": 1,
            "lr": opts.learning_rate,
            "peft": True,
            "quantization": None,
            "target_modules": ",".join(targets if layers is not None else opts.target_modules),
            # the adapter only: AutoTrain merges into a float16 copy of the base (autotrain-advanced 0.8.36,
            # trainers/clm/utils.py, merge_adapter), which rounded every weight of the tuned model, the layers LoRA
            # did not touch too; sxhub merges it into the float32 base as the local backend does (_merge_adapter)
            "merge_adapter": False,
            "lora_r": opts.lora_r,
            "lora_alpha": opts.lora_alpha,
            "lora_dropout": opts.lora_dropout,
            "mixed_precision": None,
            "gradient_accumulation": blocks,
            "padding": "right",
            "seed": opts.seed,
            "disable_gradient_checkpointing": True,
            "save_total_limit": 1,
        },
        "hub": {"username": None, "token": None, "push_to_hub": False},
    }
    (work / "conf.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    log = work / "autotrain.log"
    child_env = _subprocess_env(env, offline=True)
    # --threads (torch.set_num_threads here, and the record's "threads"): AutoTrain's trainer is a process of its
    # own, which took every core whatever the user gave
    child_env["OMP_NUM_THREADS"] = str(torch.get_num_threads())
    project = work / "autotrain-project"
    try:
        code = run_subprocess(
            trainer_command(env, "conf.yml"),
            cwd=work,
            env=child_env,
            log_path=log,
            timeout=None,  # as the local backend: a tune has no time cap (a 6 h one ended long tunes in an error)
            echo=progress,
            remove_if_orphaned=[work],
        )
        check_outputs(project, log, code, files=ADAPTER_FILES)
        model = _merge_adapter(base, project, log)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: AutoTrain or the merge stopped; the base's copy and data go too
        shutil.rmtree(work, ignore_errors=True)
        raise
    shutil.rmtree(work, ignore_errors=True)
    figures = {
        "n_examples": len(kept),
        "n_too_long": len(rendered) - len(kept),
        "labels_note": labels_note,
        "context": context,
        "autotrain_version": env.versions().get("autotrain"),
        "autotrain_env": env.versions(),  # what trained (sxhub.json's versions are sxhub's, which merged and saved)
        "packing": True,
        "blocks_per_step": blocks,
        "loss": "whole sequence (AutoTrain's SFT trainer packs prompt and answer together)",
        "lora_layers": layers,
    }
    return model, tokenizer, figures


def _merge_adapter(base: BaseModel, project: Path, log: Path) -> Any:
    """The base in float32 with the LoRA adapter AutoTrain saved in ``project`` merged in, as the local backend merges.

    AutoTrain's own merge (autotrain-advanced 0.8.36, ``trainers/clm/utils.py``, ``merge_adapter``) loaded the base in
    float16, so every weight of the tuned model was rounded to float16, those LoRA left alone too. The embeddings
    are resized first as AutoTrain resized them for training and for its merge: to the length of the tokenizer it
    saved (no change unless that differs from the base's embedding rows); PEFT then loads the resized embeddings it
    saved with the adapter, over the rows added here. AutoTrain's merge, when loading the adapter fails, tries again
    with the rows padded to a multiple of 8 on the model the failed load already changed; its training never pads
    them, so sxhub does not. A merge that fails is one error line naming the folder, which is kept."""
    import torch
    from peft import PeftModel
    from safetensors import SafetensorError
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .autotrain_run import log_tail

    try:
        model = AutoModelForCausalLM.from_pretrained(base.path, dtype=torch.float32)
        rows = len(AutoTokenizer.from_pretrained(project))
        if rows != model.get_input_embeddings().num_embeddings:
            model.resize_token_embeddings(rows, mean_resizing=False)  # the rows are the adapter's (saved with it)
        with warnings.catch_warnings():  # PEFT 0.21 on transformers 5.25, as in train_local
            warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated", FutureWarning)
            merged = PeftModel.from_pretrained(model, project).merge_and_unload()
    except (OSError, ValueError, KeyError, RuntimeError, SafetensorError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise BackendError(
            f"AutoTrain's LoRA adapter in {project} could not be merged into {base.name!r} ({reason}); full log: {log}. "
            f"Last lines: {log_tail(log)}"
        ) from exc
    merged.eval()
    return merged


def blocks_per_step(opts: Any, lengths: Sequence[int]) -> int:
    """How many packed blocks of ``opts.max_length`` tokens AutoTrain's step takes: about the tokens of the local
    backend's step of ``opts.group_size`` examples (``lengths``: the kept examples' tokens), at least one.

    AutoTrain's SFT trainer packs the examples into blocks of ``block_size`` tokens and takes ``batch_size`` blocks a
    step (autotrain-advanced 0.8.36, ``trainers/clm/train_clm_sft.py``: ``packing=True``, ``max_seq_length =
    block_size``). It was given ``batch_size = group_size``: 8 blocks of 1,024 tokens, 8,192 tokens a step where the
    local backend's 8 chat examples of PhraseBank hold about 1,200, and its trainer was killed at 21 GB on a 24 GB
    machine (the local backend: 2.7 GB) after four minutes a step."""
    mean = sum(lengths) / len(lengths) if lengths else opts.max_length
    return max(1, min(opts.group_size, round(opts.group_size * mean / opts.max_length)))


def whole_epochs(epochs: float) -> int:
    """``epochs`` as the whole number AutoTrain runs, or one error line: it trains whole epochs only, and rounding
    here would train a number of epochs that the record and the card do not state."""
    if epochs != int(epochs) or epochs < 1:
        raise InputError(
            f"epochs={epochs!r}: the autotrain backend trains whole epochs only; give a whole number (e.g. "
            "--epochs 1) or use --backend local for part of an epoch."
        )
    return int(epochs)


def _autotrain_base(base: BaseModel, tokenizer: Any, target: Path) -> Path:
    """The base as a folder AutoTrain's transformers 4.x reads: ``rope_theta`` and ``torch_dtype`` spelled out
    (transformers 5 writes ``rope_parameters``; 4.x would silently fall back to its default rope theta)."""
    from .autotrain_run import readable_by_transformers4

    path = Path(base.path)
    if not path.is_dir():
        return Path(base.path)  # a Hub id: AutoTrain downloads its own copy
    target.mkdir(parents=True)
    for item in path.iterdir():
        if item.name not in {"config.json"} and item.is_file() and not item.name.startswith("tokenizer"):
            os.symlink(item.resolve(), target / item.name)
    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    rope = config.get("rope_parameters") or {}
    if "rope_theta" not in config and "rope_theta" in rope:
        config["rope_theta"] = rope["rope_theta"]
    config.setdefault("torch_dtype", config.get("dtype", "float32"))
    (target / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    tokenizer.save_pretrained(target)
    readable_by_transformers4(target)
    return target
