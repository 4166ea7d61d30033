"""LoRA fine-tuning of a causal LM on chat examples: the training half of ``sxhub tune`` (:mod:`sxhub.tune`).

* **Shared-prefix batches** (:func:`group_examples`, :class:`SharedPrefixCollator`, the trainer of
  :func:`train_local`). Every labelling prompt starts with the same system prompt and few-shot turns (about 370 of
  its 410 tokens for the PhraseBank task), every writing prompt with the same system turn. A batch is a group of
  examples that share a token prefix: the prefix runs through the model once, its key/value cache is expanded to
  the group, and only the rest of each example runs per example. Gradients flow through the shared part as they
  would through each copy, so loss and gradient are those of plain batches, for a fraction of the compute. The
  loss counts the answer tokens only, with the LM head applied at those positions only.
* **Backends**: :func:`train_local` (TRL's ``SFTTrainer`` + PEFT in this process) and
  :func:`~sxhub.lora_autotrain.train_autotrain` (AutoTrain's ``llm-sft`` trainer in its own venv, driven like the
  student's AutoTrain backend in :mod:`sxhub.autotrain`), in :mod:`sxhub.lora_autotrain`, which builds on the
  examples and checks here. Both return the merged model, its tokenizer and the training figures.

The base model they adapt (:class:`~sxhub.base_model.BaseModel`: which one, and the checks made on it) is
:mod:`sxhub.base_model`'s stage; this module builds on it, and it does not import this one.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .base_model import (
    INSTALL_HINT,
    BaseModel,
    _no_target_modules,
    model_context,
    top_layers,
)
from .errors import InputError, ModelError
from .tune_resume import save_steps

if TYPE_CHECKING:
    from .tune_resume import Checkpoints

logger = logging.getLogger(__name__)

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + "
    "'\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


class TrainSettings(Protocol):
    """What training reads from its options: :class:`sxhub.tune.TuneOptions` is one (so this module never imports
    :mod:`sxhub.tune`, which imports it)."""

    epochs: float
    group_size: int
    learning_rate: float
    lora_r: int
    lora_alpha: int
    lora_dropout: float
    target_modules: list[str]
    lora_layers: int | None
    max_length: int
    seed: int


@dataclass
class ChatExample:
    """One training example: chat ``messages`` answered by the assistant with ``answer``."""

    kind: str  # "labelling" or "writing"
    messages: list[dict[str, str]]
    answer: str
    label: str | None = None  # writing: the label the text is asked for
    labels: tuple[str, ...] = ()  # labelling: the text's labels (the answer)


# ------------------------------------------------------------------------------------------------------------------
# tokens and shared-prefix groups
# ------------------------------------------------------------------------------------------------------------------
def prepare_tokenizer(tokenizer: Any) -> bool:
    """Give the tokenizer a pad token and (when it has none) the ChatML template; True when ChatML was added."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    if getattr(tokenizer, "chat_template", None):
        return False
    tokenizer.chat_template = CHATML
    return True


def encode_examples(
    tokenizer: Any, examples: Sequence[ChatExample], max_length: int
) -> tuple[list[dict[str, Any]], int]:
    """Token ids, prompt length and shared-prefix length of each example; and how many were too long."""
    from .teachers.chat_tokens import chat_prompt_ids, encode, end_of_turn

    closing = end_of_turn(tokenizer)
    encoded, too_long = [], 0
    for ex in examples:
        prompt, shared = chat_prompt_ids(tokenizer, ex.messages)
        answer = encode(tokenizer, ex.answer + closing)
        if len(prompt) + len(answer) > max_length:
            too_long += 1
            continue
        encoded.append({"ids": prompt + answer, "n_prompt": len(prompt), "shared": shared, "kind": ex.kind, "ex": ex})
    return encoded, too_long


def too_long_labels_note(
    examples: Sequence[ChatExample], kept: Sequence[ChatExample], max_length: int, context: int | None = None
) -> str | None:
    """The note on the labels some labelling example teaches and none of those ``kept`` (within the token limit)
    does: every text of theirs is longer than the limit, so the model never learns to label them (decided before the
    drop, :func:`sxhub.tune.tune_notes` said nothing of them). None when there is none."""
    had = dict.fromkeys(name for ex in examples if ex.kind == "labelling" for name in ex.labels)
    left = {name for ex in kept if ex.kind == "labelling" for name in ex.labels}
    missing = [name for name in had if name not in left]
    if not missing:
        return None
    them = "it" if len(missing) == 1 else "them"
    if context is not None and context < max_length:
        limit, fix = f"the base model's context of {context} tokens", "pass a base with a longer context with --base"
    else:
        limit, fix = f"--max-length {max_length} tokens", "raise --max-length"
    return (
        f"Every training text of the label(s) {missing} is longer than {limit}: the synthetic model cannot learn to "
        f"label {them}; {fix}, or label shorter texts of {them}."
    )


def token_limit(max_length: int, context: int | None) -> int:
    """The longest example trained on: ``--max-length``, or the base's context when that is shorter (a base with
    learned positions failed mid-training on a longer example: "IndexError: index out of range in self")."""
    return max_length if context is None else min(max_length, context)


def _targets_conv1d(model: Any, target_modules: Sequence[str]) -> bool:
    """Whether the modules LoRA adapts are transformers' ``Conv1D`` (GPT-2's), whose weights are stored transposed."""
    from transformers.pytorch_utils import Conv1D

    names = set(target_modules)
    return any(isinstance(m, Conv1D) and name.rsplit(".", 1)[-1] in names for name, m in model.named_modules())


def check_every_kind_fits(
    examples: Sequence[ChatExample],
    fitting: set[str],
    length: Callable[[int], int],
    max_length: int,
    context: int | None = None,
) -> None:
    """One error line when no example of a kind (labelling, writing) is within ``max_length`` tokens (``fitting``:
    the kinds that have one): the model would be tuned without learning that job. A labelling prompt lists every
    label with its description, so on a task with long label texts every labelling example was left out while the
    writing ones fitted, and the "teacher" tune wrote had never seen a labelling answer, its summary line still
    counting them. ``length`` (example ``i``'s tokens) is only called for a kind that does not fit, to name the
    --max-length to ask for; where the base's ``context`` is the shorter limit, raising --max-length is no fix and
    the line names the context instead."""
    kinds = list(dict.fromkeys(ex.kind for ex in examples))
    missing = [kind for kind in kinds if kind not in fitting]
    if not missing:
        return
    need = max(min(length(i) for i, ex in enumerate(examples) if ex.kind == kind) for kind in missing)
    which = "every example is" if len(missing) == len(kinds) else f"every {missing[0]} example is"
    job = "" if len(missing) == len(kinds) else f", so the model would not learn {missing[0]}"
    only_labels = " (or pass --writing 0 for a model that only labels)" if missing == ["writing"] else ""
    if context is not None and context < max_length:
        raise InputError(
            f"{which} longer than the base model's context of {context} tokens{job}; pass a base with a context of "
            f"at least {need} tokens with --base, or shorten the task's label descriptions and examples"
            f"{only_labels}."
        )
    raise InputError(
        f"{which} longer than --max-length {max_length} tokens{job}; raise --max-length to at least {need}"
        f"{only_labels}."
    )


def example_tokens(tokenizer: Any, example: ChatExample) -> int:
    """An example's length in tokens as :func:`encode_examples` counts it."""
    from .teachers.chat_tokens import chat_prompt_ids, encode, end_of_turn

    prompt, _ = chat_prompt_ids(tokenizer, example.messages)
    return len(prompt) + len(encode(tokenizer, example.answer + end_of_turn(tokenizer)))


def group_examples(encoded: Sequence[dict[str, Any]], group_size: int, seed: int) -> list[dict[str, Any]]:
    """Rows of up to ``group_size`` examples with the same shared part: their common token prefix, and per example
    the rest and its labels (-100 on prompt tokens). The prefix always stops before each prompt's last token."""
    buckets: dict[tuple[int, ...], list[dict[str, Any]]] = {}
    for ex in encoded:
        buckets.setdefault(tuple(ex["ids"][: ex["shared"]]), []).append(ex)
    rng = random.Random(seed)
    rows = []
    for bucket in buckets.values():
        rng.shuffle(bucket)
        for start in range(0, len(bucket), group_size):
            group = bucket[start : start + group_size]
            limit = min(ex["n_prompt"] for ex in group) - 1
            common = 0
            first = group[0]["ids"]
            while common < limit and all(ex["ids"][common] == first[common] for ex in group):
                common += 1
            rows.append(
                {
                    "prefix_ids": first[:common],
                    "input_ids": [ex["ids"][common:] for ex in group],
                    "labels": [[-100] * (ex["n_prompt"] - common) + ex["ids"][ex["n_prompt"] :] for ex in group],
                }
            )
    rng.shuffle(rows)
    return rows


class SharedPrefixCollator:
    """One group per batch: the prefix ``[1, P]``, the rests right-padded ``[G, S]``, their labels and mask."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        if len(rows) != 1:
            raise ValueError(f"shared-prefix batches hold one group each, got {len(rows)}")
        row = rows[0]
        width = max(len(s) for s in row["input_ids"])
        return {
            "prefix_ids": torch.tensor([row["prefix_ids"]], dtype=torch.long),
            "input_ids": torch.tensor([s + [self.pad_id] * (width - len(s)) for s in row["input_ids"]]),
            "labels": torch.tensor([lab + [-100] * (width - len(lab)) for lab in row["labels"]]),
            "attention_mask": torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in row["input_ids"]]),
        }


def stderr_progress(*, disable: bool) -> Any:
    """A ``TrainerCallback``: the training progress bar on stderr, with the last logged loss."""
    from transformers import TrainerCallback

    from .progress import progress_bar

    class StderrProgress(TrainerCallback):  # type: ignore[misc]
        bar: Any = None

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.bar = progress_bar(total=state.max_steps, desc="tune", unit="step", enabled=not disable)

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.bar.update(state.global_step - self.bar.n)

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
            if self.bar is not None and logs and "loss" in logs:
                self.bar.set_postfix(loss=f"{float(logs['loss']):.3f}")

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.bar.close()

    return StderrProgress()


def _trainer_class() -> Any:
    """TRL's SFTTrainer with the loss of shared-prefix groups (module docstring).

    The prefix runs once and its key/value cache is expanded to the group; the rests run on it. The loss is the mean
    cross-entropy of the answer tokens, with the LM head applied at those positions only (TRL's fused head computes
    the weight gradient of the frozen head too: a third of a step's time here).
    """
    import torch
    from transformers import DynamicCache
    from trl import SFTTrainer

    class SharedPrefixSFTTrainer(SFTTrainer):  # type: ignore[misc]
        def compute_loss(
            self,
            model: Any,
            inputs: dict[str, Any],
            return_outputs: bool = False,
            num_items_in_batch: Any = None,
        ) -> Any:
            causal = model.get_base_model() if hasattr(model, "get_base_model") else model
            decoder = causal.get_decoder()
            prefix, labels, mask = inputs["prefix_ids"], inputs["labels"], inputs["attention_mask"]
            groups, length = inputs["input_ids"].shape
            width = prefix.shape[1]
            extra: dict[str, Any] = {}
            if width:
                kv = [
                    (layer.keys.expand(groups, -1, -1, -1), layer.values.expand(groups, -1, -1, -1))
                    for layer in decoder(input_ids=prefix, use_cache=True).cache.layers
                ]
                extra["cache"] = DynamicCache(ddp_cache_data=kv, config=causal.config)
                mask = torch.cat([mask.new_ones(groups, width), mask], dim=1)
                extra["position_ids"] = torch.arange(width, width + length, device=mask.device).expand(groups, -1)
            hidden = decoder(input_ids=inputs["input_ids"], attention_mask=mask, use_cache=False, **extra)
            targets = labels[:, 1:]
            keep = targets != -100
            logits = causal.get_output_embeddings()(hidden.last_hidden_state[:, :-1][keep]).float()
            total = torch.nn.functional.cross_entropy(logits, targets[keep], reduction="sum")
            count = num_items_in_batch if num_items_in_batch is not None else keep.sum()
            loss = total / torch.as_tensor(count, device=total.device).clamp(min=1)
            return (loss, None) if return_outputs else loss

    return SharedPrefixSFTTrainer


def train_local(
    examples: Sequence[ChatExample],
    base: BaseModel,
    opts: TrainSettings,
    *,
    progress: bool,
    checkpoints: Checkpoints | None = None,
) -> tuple[Any, Any, dict[str, Any]]:
    """LoRA with TRL's SFTTrainer on shared-prefix groups; returns the merged model, tokenizer and figures.
    ``checkpoints``: the run saves its checkpoints there about 20 times (:mod:`sxhub.tune_resume`) and continues a
    stopped run's; None: none are saved."""
    try:
        import peft
        import trl
    except ImportError as exc:
        raise ModelError(f"tuning needs TRL and PEFT; run `{INSTALL_HINT}`.") from exc
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.trainer_callback import PrinterCallback

    try:
        tokenizer = AutoTokenizer.from_pretrained(base.path)
        model = AutoModelForCausalLM.from_pretrained(base.path, dtype=torch.float32)
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"base model {base.name!r} could not be loaded ({exc}); pass a causal LM with --base."
        ) from exc
    chatml = prepare_tokenizer(tokenizer)
    context = model_context(model.config)
    encoded, too_long = encode_examples(tokenizer, examples, token_limit(opts.max_length, context))
    check_every_kind_fits(
        examples,
        {e["kind"] for e in encoded},
        lambda i: example_tokens(tokenizer, examples[i]),
        opts.max_length,
        context,
    )
    labels_note = too_long_labels_note(examples, [e["ex"] for e in encoded], opts.max_length, context)
    if labels_note:
        logger.warning(labels_note)  # before the long run; sxhub.json and the card keep it (sxhub.tune)
    rows = group_examples(encoded, opts.group_size, opts.seed)
    resume_from = checkpoints.open(rows) if checkpoints is not None else None
    with (
        contextlib.nullcontext(str(checkpoints.folder))
        if checkpoints is not None
        else tempfile.TemporaryDirectory(prefix="sxhub-tune-")
    ) as work:
        saves: dict[str, Any] = {"save_strategy": "no"}
        logging_steps = max(1, len(rows) // 20)
        if checkpoints is not None:  # the adapter and the optimizer, scheduler, RNG states: what a resume needs
            steps = math.ceil(len(rows) * opts.epochs)  # the Trainer's max_steps (one group per step)
            saves = {"save_strategy": "steps", "save_steps": save_steps(steps), "save_total_limit": 1}
            # a log at each checkpoint: a resumed run's log history then holds every step's loss (whole_run_loss)
            logging_steps = save_steps(steps)
        args = trl.SFTConfig(
            output_dir=work,
            num_train_epochs=opts.epochs,
            per_device_train_batch_size=1,
            learning_rate=opts.learning_rate,
            lr_scheduler_type="linear",
            warmup_steps=round(0.05 * len(rows) * opts.epochs),
            logging_steps=logging_steps,
            **saves,
            report_to="none",
            seed=opts.seed,
            bf16=False,
            **_no_checkpointing(trl.SFTConfig),
            remove_unused_columns=False,
            dataset_kwargs={"skip_prepare_dataset": True},
            max_length=None,
            use_cpu=not torch.cuda.is_available(),
            dataloader_num_workers=0,
            disable_tqdm=True,  # its bar writes the logs to stdout; ours goes to stderr
        )
        layers = top_layers(model, opts.lora_layers)
        lora = peft.LoraConfig(
            r=opts.lora_r,
            lora_alpha=opts.lora_alpha,
            lora_dropout=opts.lora_dropout,
            target_modules=list(opts.target_modules),
            layers_to_transform=layers,
            task_type="CAUSAL_LM",
            # GPT-2's layers are Conv1D (weights stored transposed): PEFT set this itself, with a UserWarning on
            # every tune of such a base ("fan_in_fan_out is set to False but the target module is `Conv1D`")
            fan_in_fan_out=_targets_conv1d(model, opts.target_modules),
        )
        try:
            with warnings.catch_warnings():
                # PEFT 0.21 reads the model's `is_gradient_checkpointing`, which transformers 5.25 renamed: a
                # FutureWarning on every tune that no sxhub user can act on (peft/peft_model.py, PeftModel.__init__)
                warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated", FutureWarning)
                trainer = _trainer_class()(
                    model=model,
                    args=args,
                    train_dataset=Dataset.from_list(rows),
                    data_collator=SharedPrefixCollator(tokenizer.pad_token_id),
                    processing_class=tokenizer,
                    peft_config=lora,
                )
        except peft.utils.error.NoMatchingPeftModuleError as exc:
            raise _no_target_modules(opts.target_modules) from exc
        trainer.remove_callback(PrinterCallback)  # it prints every log to stdout, which `--json` keeps clean
        trainer.add_callback(stderr_progress(disable=not progress))
        # a stop or an error keeps the checkpoints for --resume (sxhub.tune.tune says so)
        result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from is not None else None)
        merged = trainer.model.merge_and_unload()
    merged.eval()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    resumed_at = checkpoints.resumed_step if checkpoints is not None else None
    train_loss = whole_run_loss(trainer.state.log_history, resumed_at, result.training_loss, result.global_step)
    figures: dict[str, Any] = {
        "n_examples": len(encoded),
        "n_too_long": too_long,
        "labels_note": labels_note,
        "context": context,
        "steps": int(result.global_step),
        "train_loss": round(float(train_loss if train_loss is not None else result.training_loss), 4),
        "final_loss": round(float(losses[-1]), 4) if losses else None,
        "chatml_added": chatml,
        "lora_layers": layers,
    }
    if checkpoints is not None and checkpoints.resumed_from is not None:
        figures["resumed_from"] = checkpoints.resumed_from
        if train_loss is None:  # the stopped run's losses up to its checkpoint were not all logged
            figures["train_loss_from_resume"] = True
    return merged, tokenizer, figures


def whole_run_loss(
    history: Sequence[dict[str, Any]], resumed_at: int | None, loss_now: float, steps: int
) -> float | None:
    """The mean training loss over every step of a run, resumed or not.

    The Trainer's ``training_loss`` is the mean over the steps one ``train()`` call ran: after ``--resume``, only
    the steps after the checkpoint. Each logged ``loss`` is the mean since the log before it, so the stopped run's
    steps are the logged losses up to the checkpoint, weighted by their spans. None where they do not reach it
    (a checkpoint between two logs)."""
    if not resumed_at:
        return float(loss_now)
    total, last = 0.0, 0
    for entry in history:
        step = int(entry.get("step", 0))
        if "loss" in entry and last < step <= resumed_at:
            total += float(entry["loss"]) * (step - last)
            last = step
    if last != resumed_at or steps <= resumed_at:
        return None
    return (total + float(loss_now) * (steps - resumed_at)) / steps


def _no_checkpointing(config_class: Any) -> dict[str, Any]:
    """The keyword that turns activation checkpointing off (TRL's configs default it on; a 135M model on a CPU does
    not need the memory it saves and pays a third more compute). transformers 5.25 renamed ``gradient_checkpointing``
    to ``activation_checkpointing`` and warns (FutureWarning) on every run that sets the old name; 5.24, which
    ``sxhub[tune]`` accepts, knows only the old one."""
    import dataclasses

    names = {f.name for f in dataclasses.fields(config_class)}
    return (
        {"activation_checkpointing": False}
        if "activation_checkpointing" in names
        else {"gradient_checkpointing": False}
    )
