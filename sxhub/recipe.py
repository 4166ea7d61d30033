"""The default training recipe's choices: batch size and learning rate fitted to the data and the base model,
the max length (the texts' 95th percentile of tokens, within the base's limit) and a cap on training time (early
stopping and the epoch cap are ``TrainConfig``'s). Both backends use them (the local trainer and AutoTrain)."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np


def fit_batch_size(n_train: int) -> int:
    """16 texts a step below 2,000 training texts (enough optimizer steps on a small set), 32 below 20,000, else 64
    (fewer, larger steps where there are plenty)."""
    return 16 if n_train < 2_000 else 32 if n_train < 20_000 else 64


def fit_learning_rate(hidden_size: int | None) -> float:
    """1e-4 for MiniLM-sized encoders (384 wide: on the 4P tweets 1e-4 beat 5e-5 by 3 micro-F1 points), 5e-5 up
    to BERT-base width, 2e-5 for larger bases (the usual fine-tuning rates, which diverge less on big models)."""
    if hidden_size is None or hidden_size <= 384:
        return 1e-4
    return 5e-5 if hidden_size <= 768 else 2e-5


def base_width(base: str) -> int | None:
    """``hidden_size`` from the base model folder's config.json (None for a Hub id not on disk)."""
    path = Path(base) / "config.json"
    if not path.is_file():
        return None
    width = json.loads(path.read_text(encoding="utf-8")).get("hidden_size")
    return int(width) if isinstance(width, int) else None


def time_budget(minutes: float) -> Any:
    """A callback that ends training once ``minutes`` have passed, evaluating and saving that step first, so
    ``load_best_model_at_end`` still picks the best checkpoint seen."""
    from transformers import TrainerCallback

    class TimeBudget(TrainerCallback):
        def __init__(self) -> None:
            self.start = time.monotonic()
            self.stopped = False

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.start = time.monotonic()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            if time.monotonic() - self.start > minutes * 60 and not control.should_training_stop:
                self.stopped = True
                control.should_training_stop = True
                control.should_evaluate = control.should_save = True
            return control

    return TimeBudget()


def length_limit(tokenizer: Any, model_config: Any) -> int:
    """The most tokens the base takes: its position table (:func:`sxhub.model_info.position_limit`: the RoBERTa
    family's starts after the padding index) and its tokenizer's own limit."""
    from .model_info import position_limit

    table = {"max_position_embeddings": getattr(model_config, "max_position_embeddings", 512) or 512,
             "model_type": getattr(model_config, "model_type", None),
             "pad_token_id": getattr(model_config, "pad_token_id", None)}  # fmt: skip
    return min(
        position_limit(table),
        int(tokenizer.model_max_length) if tokenizer.model_max_length < 1_000_000 else 512,
    )


LENGTH_SAMPLE = 20_000  # texts whose token lengths choose max_length (a seeded sample of larger sets)


def token_lengths(tokenizer: Any, texts: list[str]) -> list[int]:
    """The token lengths of ``texts`` (past :data:`LENGTH_SAMPLE` texts, of a seeded sample of them)."""
    if len(texts) > LENGTH_SAMPLE:
        picked = np.sort(np.random.default_rng(0).choice(len(texts), LENGTH_SAMPLE, replace=False))
        texts = [texts[i] for i in picked]
    return [len(ids) for ids in tokenizer(texts, truncation=False)["input_ids"]]


def cut_count(tokenizer: Any, texts: list[str], encoded: Any, max_length: int) -> int:
    """How many of ``texts`` ``tokenizer`` cut at ``max_length`` tokens, given ``encoded``, its output for them with
    ``truncation=True``. A fast tokenizer keeps what it cut as overflowing tokens; a slow (Python) one keeps nothing,
    and its count was a silent 0: the texts whose ids reached ``max_length`` are encoded again uncut, which tells a
    text cut there from one that fits exactly (a slow tokenizer splits the whole text either way). ``encoded`` may be
    padded (lists or tensors): its attention mask gives each text's own length."""
    encodings = getattr(encoded, "encodings", None)
    if encodings:
        return sum(bool(e.overflowing) for e in encodings)
    mask = encoded.get("attention_mask")
    lengths = [int(sum(m)) for m in mask] if mask is not None else [len(ids) for ids in encoded["input_ids"]]
    full = [texts[i] for i, n in enumerate(lengths) if n >= max_length]
    if not full:
        return 0
    return sum(len(ids) > max_length for ids in tokenizer(full, truncation=False, verbose=False)["input_ids"])


def choose_max_length(tokenizer: Any, texts: list[str], model_config: Any, lengths: list[int] | None = None) -> int:
    """The 95th percentile of the token lengths, rounded up to a multiple of 8, capped by the model's limit.

    Past :data:`LENGTH_SAMPLE` texts, a seeded sample from the whole set: the first 20,000 stood for all of them,
    so a file that put its short texts first (tweets, then articles; or sorted by length) truncated the rest at the
    short ones' length. ``lengths``: :func:`token_lengths` of ``texts``, where the caller has them."""
    cap = length_limit(tokenizer, model_config)
    if lengths is None:
        lengths = token_lengths(tokenizer, texts)
    p95 = int(np.percentile(lengths, 95)) if lengths else cap
    return int(min(cap, max(16, math.ceil(p95 / 8) * 8)))


def truncated_count(lengths: list[int], n_texts: int, max_length: int) -> int:
    """How many of the ``n_texts`` training texts are longer than ``max_length`` tokens (cut to their first
    ``max_length``): counted in ``lengths`` (:func:`token_lengths`), scaled to ``n_texts`` where they are a sample."""
    over = sum(n > max_length for n in lengths)
    if not over or not lengths or len(lengths) == n_texts:
        return over
    return max(1, round(over / len(lengths) * n_texts))


def over_limit_note(
    lengths: list[int], n_texts: int, limit: int, max_length: int | None = None, *, given: bool = False
) -> str:
    """A note when training texts are cut: longer than ``max_length`` tokens (the training max_length, the 95th
    percentile of ``lengths``, or ``--max-length`` when ``given``; ``limit`` when None or not below it), which
    they are cut to, so the student never sees the rest (nor does predict). ``limit``: the most the base takes. ``lengths`` are :func:`token_lengths` of the ``n_texts`` training texts (a sample of them past
    :data:`LENGTH_SAMPLE`); empty when none is over.

    Only texts past the base's limit were counted, and said to be cut at the limit: a file of tweets and a few
    articles (p95 64 tokens) had its articles cut at 64 tokens with no word, or with a note naming 512."""
    cut = limit if max_length is None else min(max_length, limit)
    over = sum(n > cut for n in lengths)
    if not over or not lengths:
        return ""
    share = over / len(lengths)
    counted = f"{over} of the {n_texts}" if len(lengths) == n_texts else f"about {share:.0%} of the {n_texts}"
    are = "is" if over == 1 and len(lengths) == n_texts else "are"  # "1 of the 26 training texts are longer"
    if cut == limit:
        return (
            f"{counted} training texts {are} longer than the base model takes ({limit} tokens, the longest "
            f"{max(lengths)}): the student learns only their first {limit} tokens, and predict reads no more; split "
            "long texts into passages, or train a base that takes longer texts (--base)."
        )
    why = "--max-length" if given else "the 95th percentile of the training texts' lengths"
    return (
        f"{counted} training texts {are} longer than the max_length of {cut} tokens ({why}; the longest "
        f"{max(lengths)}): the student learns only their first {cut} tokens, and predict reads no more; pass "
        f"--max-length N (up to {limit}, what the base takes) to read more of them, or split long texts into passages."
    )
