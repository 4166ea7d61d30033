"""Writing with the synthetic model (split out of :mod:`sxhub.teachers.synthetic_model`, which re-exports
:class:`WriteJob`, :func:`json_string_content`, :func:`readable` and the writing limits).

* :class:`SyntheticWriter`: the writing methods of :class:`~sxhub.teachers.synthetic_model.SyntheticModel`, which
  inherits them. :meth:`SyntheticWriter.write_batch`: the JSON opening ``{"text": "`` forced, the string sampled up
  to its closing quote (top-p, a seed per row), rows decoded together on the model's cached shared prompt prefix;
  a string its token budget stopped first is a :class:`CutText`, no text.
* :func:`json_string_content` and :func:`readable`: what a written string's tokens decode to, as the text kept.

This module does not import :mod:`sxhub.teachers.synthetic_model`, which imports it: it names what it uses of the
model (its tokenizer, prompt tokens, context and key/value cache of shared prompt parts) as a Protocol
(:class:`_WritingModel`).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import TeacherError
from .base import ContextLengthError
from .chat_tokens import _pad_id, encode

MAX_WRITE_TOKENS = 128  # a written text stops here at the latest (the learned budget is usually lower)
WRITE_TRIES = 3


@dataclass(frozen=True)
class WriteJob:
    """One writing request: the chat, the JSON key of the text, and how to sample it."""

    messages: list[dict[str, str]]
    key: str
    temperature: float
    seed: int
    max_tokens: int


@dataclass(frozen=True)
class CutText:
    """A string the row's token budget (the learned ``write_budget``, ``MAX_WRITE_TOKENS``, the request's
    ``max_tokens`` or the end of the context) stopped before its closing quote: a runaway or unfinished text, cut
    mid-sentence. It was kept as a text; the reply is now the JSON as written, unclosed (:attr:`reply`), which no
    reader takes for a text (generate drops it as ``cut_off`` and writes another; twins asks again)."""

    key: str
    raw: str  # the string's content as the model wrote it (its escapes), up to the budget
    prompt_tokens: int
    written_tokens: int

    @property
    def reply(self) -> str:
        return '{"' + self.key + '": "' + self.raw


class _WritingModel(Protocol):
    """What the writing methods use of :class:`~sxhub.teachers.synthetic_model.SyntheticModel`."""

    model: Any
    tokenizer: Any
    _lock: Any
    write_budget: int
    context: int | None

    def prompt_ids(self, messages: list[dict[str, str]]) -> tuple[list[int], int]: ...

    def too_long(self, messages: list[dict[str, str]], answer_tokens: int) -> ContextLengthError | None: ...

    def _decode_padded(
        self, decoder: Any, rests: list[list[int]], start: int, kv: Any, pad: int
    ) -> tuple[Any, Any]: ...

    def _prefix(self, ids: list[int], shared: int) -> tuple[int, list[tuple[Any, Any]] | None]: ...

    def write_batch(self, jobs: Sequence[WriteJob]) -> list[tuple[str, int, int] | CutText | TeacherError]: ...

    def _sample(self, jobs: Sequence[WriteJob], attempt: int) -> list[tuple[int, list[int], bool]]: ...


class SyntheticWriter:
    """String writing for :class:`~sxhub.teachers.synthetic_model.SyntheticModel` (a mixin: it has no state of its
    own; the model's lock makes it one call at a time)."""

    def write(
        self: _WritingModel,
        messages: list[dict[str, str]],
        key: str,
        *,
        temperature: float,
        seed: int,
        max_tokens: int,
    ) -> tuple[str, int, int]:
        """One string for ``{"key": ...}``: (text, prompt tokens, written tokens). See :meth:`write_batch`."""
        result = self.write_batch([WriteJob(messages, key, temperature, seed, max_tokens)])[0]
        if isinstance(result, BaseException):
            raise result
        if isinstance(result, CutText):
            raise TeacherError(
                f"the tuned model's text reached its token budget before its closing quote (seed {seed}): cut "
                "mid-sentence"
            )
        return result

    def write_batch(
        self: _WritingModel, jobs: Sequence[WriteJob]
    ) -> list[tuple[str, int, int] | CutText | TeacherError]:
        """Strings for several writing requests at once: per job (text, prompt tokens, written tokens), a
        :class:`CutText` for a string its budget stopped before its closing quote, or the error.

        The JSON opening ``{"key": "`` is forced and each row is sampled (temperature, top-p 0.95, its own seed) up
        to its closing quote, the end of the turn or its token budget. Rows run together (one forward pass per
        token for all of them): a small model's decoding costs about the same for one row as for sixteen. A row that
        wrote nothing, or nothing but bytes that are no characters (:func:`readable`), is written again with the next seed, up to
        ``WRITE_TRIES`` times.
        """
        results: list[tuple[str, int, int] | CutText | TeacherError | None] = [None] * len(jobs)
        written = [0] * len(jobs)
        unreadable = [False] * len(jobs)
        for i, job in enumerate(jobs):  # no room left in the context for one token of the text
            results[i] = self.too_long(job.messages, len(encode(self.tokenizer, '{"' + job.key + '": "')) + 1)
        todo = [i for i in range(len(jobs)) if results[i] is None]
        for attempt in range(WRITE_TRIES):
            if not todo:
                break
            outputs = self._sample([jobs[i] for i in todo], attempt)
            for i, (prompt_len, tokens, cut) in zip(todo, outputs, strict=True):
                written[i] += len(tokens)
                decoded = self.tokenizer.decode(tokens, skip_special_tokens=True)
                if cut:  # never closed within its budget: no text to keep, nor to write again here
                    results[i] = CutText(jobs[i].key, decoded, prompt_len, written[i])
                    continue
                raw = json_string_content(decoded)
                text = readable(raw)
                unreadable[i] = bool(raw) and not text
                if text:
                    results[i] = (text, prompt_len, written[i])
            todo = [i for i in todo if results[i] is None]
        for i in todo:
            what = "only bytes that are no characters" if unreadable[i] else ("an empty text")
            results[i] = TeacherError(
                f"the tuned model wrote {what} {WRITE_TRIES} times in a row (seed {jobs[i].seed})"
            )
        return [r for r in results if r is not None]

    def _sample(self: _WritingModel, jobs: Sequence[WriteJob], attempt: int) -> list[tuple[int, list[int], bool]]:
        """(prompt tokens, sampled tokens, cut) per job: one batched decoding loop over a shared prompt prefix; cut:
        the row reached its budget before its string's closing quote (one that ended its turn was not cut)."""
        import torch

        prompts = []
        for job in jobs:
            ids, shared = self.prompt_ids(job.messages)
            prompts.append((len(ids), ids + encode(self.tokenizer, '{"' + job.key + '": "'), shared))
        causal = self.model
        decoder, head = causal.get_decoder(), causal.get_output_embeddings()
        rows = len(jobs)
        with self._lock, torch.inference_mode():
            start, kv = self._prefix(prompts[0][1], prompts[0][2])
            if kv is not None and any(p[1][:start] != prompts[0][1][:start] for p in prompts):
                start, kv = 0, None
            rests = [p[1][start:] for p in prompts]
            out, mask = self._decode_padded(decoder, rests, start, kv, _pad_id(self.tokenizer))
            cache = out.cache
            ends = torch.tensor([len(r) - 1 for r in rests])
            logits = head(out.last_hidden_state[torch.arange(rows), ends]).float()
            generators = [torch.Generator().manual_seed(job.seed + 1000 * attempt) for job in jobs]
            budgets = [max(8, min(int(job.max_tokens), self.write_budget)) for job in jobs]
            if self.context is not None:  # a text stops at the end of the context, as at its budget
                budgets = [min(b, self.context - len(p[1])) for b, p in zip(budgets, prompts, strict=True)]
            sampled: list[list[int]] = [[] for _ in jobs]
            cut = [False] * rows
            live = list(range(rows))  # the rows still writing, in the order of the cache's batch
            eos = self.tokenizer.eos_token_id
            for step in range(max(budgets)):
                tokens = [_pick(logits[k], jobs[b].temperature, generators[b]) for k, b in enumerate(live)]
                keep = []
                for k, b in enumerate(live):
                    if tokens[k] == eos:
                        continue
                    sampled[b].append(tokens[k])
                    if _closed(self.tokenizer.decode(sampled[b])):
                        continue
                    if len(sampled[b]) < budgets[b]:
                        keep.append(k)
                    else:
                        cut[b] = True
                if not keep:
                    break
                if len(keep) < len(live):  # finished rows leave the batch: later steps cost less
                    index = torch.tensor(keep)
                    cache.batch_select_indices(index)
                    mask = mask[index]
                    live = [live[k] for k in keep]
                    tokens = [tokens[k] for k in keep]
                mask = torch.cat([mask, torch.ones(len(live), 1, dtype=mask.dtype)], dim=1)
                out = decoder(
                    input_ids=torch.tensor(tokens).unsqueeze(1),
                    attention_mask=mask,
                    position_ids=torch.tensor([[start + len(rests[b]) + step] for b in live]),
                    cache=cache,
                    use_cache=True,
                )
                cache = out.cache
                logits = head(out.last_hidden_state[:, -1]).float()
        return [(p[0], tokens, stopped) for p, tokens, stopped in zip(prompts, sampled, cut, strict=True)]


def _pick(logits: Any, temperature: float, generator: Any, top_p: float = 0.95) -> int:
    """The next token: the most probable at temperature 0, else a top-p sample with the row's own generator."""
    import torch

    if temperature <= 0:
        return int(logits.argmax())
    probs = torch.softmax(logits / temperature, dim=-1)
    ordered, index = probs.sort(descending=True)
    keep = ordered.cumsum(0) - ordered < top_p  # the smallest head whose mass reaches top_p
    ordered = ordered * keep
    choice = torch.multinomial(ordered / ordered.sum(), 1, generator=generator)
    return int(index[choice])


def _closed(text: str) -> bool:
    """Whether a forced-open JSON string has reached its closing (unescaped) quote."""
    return _STRING_RE.match(text) is not None


_STRING_RE = re.compile(r'((?:[^"\\]|\\.)*)"')


def json_string_content(raw: str) -> str:
    """The content of a JSON string whose opening quote was forced: up to the closing quote, unescaped, and with
    whitespace normalised (what :func:`sxhub.synth.parse_text_reply` would read)."""
    match = _STRING_RE.match(raw)
    body = match.group(1) if match else raw.rstrip("\\")
    try:
        text = json.loads(f'"{body}"')
    except json.JSONDecodeError:
        text = body.replace('\\"', '"').replace("\\n", " ").replace("\\\\", "\\")
    return " ".join(str(text).split())


def readable(text: str) -> str:
    """``text`` without what is no character: a byte-level model samples bytes, and a character cut at the token
    budget, or bytes that form none, decode as U+FFFD; a control character (whitespace aside, which
    :func:`json_string_content` already made spaces) is none either. They reached the written data as they were
    ("paper\ufffd\ufffd qut\x03"); they are dropped, and a text left empty is written again."""
    kept = "".join(c for c in text if c != "\ufffd" and unicodedata.category(c) != "Cc")
    return " ".join(kept.split())
