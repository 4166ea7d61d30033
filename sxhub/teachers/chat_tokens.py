"""How chat prompts and answers become tokens, shared by training (:mod:`sxhub.lora`) and scoring
(:mod:`sxhub.teachers.synthetic_model`), so that scoring sees exactly what training saw."""

from __future__ import annotations

from typing import Any


def encode(tokenizer: Any, text: str) -> list[int]:
    """Token ids of ``text`` without added special tokens (the chat template writes its own)."""
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def chat_prompt_ids(tokenizer: Any, messages: list[dict[str, str]]) -> tuple[list[int], int]:
    """The prompt's token ids (ending where the assistant answers) and how many of them the turns before the last
    one fill: the part that requests of one kind share (0 when it is no clean token prefix)."""
    ids = encode(tokenizer, tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
    shared = 0
    if len(messages) > 1:
        head = encode(tokenizer, tokenizer.apply_chat_template(messages[:-1], tokenize=False))
        if len(head) < len(ids) and ids[: len(head)] == head:
            shared = len(head)
    return ids, shared


def _pad_id(tokenizer: Any) -> int:
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    return int(pad or 0)


def end_of_turn(tokenizer: Any) -> str:
    """What the chat template writes after an assistant's content (``<|im_end|>`` for ChatML), without the newline."""
    marker = "\ue000"
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": "x"}, {"role": "assistant", "content": marker}], tokenize=False
    )
    return rendered.split(marker, 1)[1].rstrip() if marker in rendered else ""
