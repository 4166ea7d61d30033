"""The synthetic model: the folder ``sxhub tune`` writes, and the causal LM behind the tuned teacher, in-process.

* **The folder** (:func:`read_info`, :func:`check_synthetic_model`, :func:`content_hash`): in
  :mod:`sxhub.teachers.synthetic_folder`, imported here.
* **Scores** (:meth:`SyntheticModel.label_probs`, :meth:`SyntheticModel.label_texts`,
  :meth:`SyntheticModel.score_texts`): the log-probability of every valid answer after the teachers' prompt.
  Single-label: a softmax over the labels' answers; multi-label: the marginal probability of each label over the
  label sets (every subset when there are at most 64, else the subsets up to the size that keeps 64 or fewer), and
  the chosen set's own probability. The prompt part that requests share (system prompt, few-shot turns) runs
  once and its key/value cache is reused; texts scored together run in one padded forward pass, then each text's
  answers together on a view of its key/value cache (not a copy per answer).
* **Writing** (:meth:`SyntheticModel.write_batch`): the JSON opening ``{"text": "`` forced, the string sampled up
  to its closing quote (top-p, a seed per row), rows decoded together. In :mod:`sxhub.teachers.synthetic_writer`
  (:class:`~sxhub.teachers.synthetic_writer.SyntheticWriter`, which the model inherits), imported here.
* **Chat tokens** (:func:`chat_prompt_ids`, :func:`encode`, :func:`end_of_turn`): in
  :mod:`sxhub.teachers.chat_tokens`, shared with training (:mod:`sxhub.lora`).

:mod:`sxhub.teachers.tuned` serves this model behind the Teacher interface.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ModelError
from .base import ContextLengthError
from .chat_tokens import _pad_id, chat_prompt_ids, encode, end_of_turn
from .synthetic_folder import (
    content_hash,
    read_info,
)
from .synthetic_writer import (  # noqa: F401  (the writing names: imported from here too, as before the split)
    MAX_WRITE_TOKENS,
    WRITE_TRIES,
    SyntheticWriter,
    WriteJob,
    json_string_content,
    readable,
)

if TYPE_CHECKING:
    import numpy as np

    from ..spec import TaskSpec

logger = logging.getLogger(__name__)

MAX_CANDIDATES = 64  # multi-label answers scored per text at most
MIN_SHARED_PREFIX = 8  # tokens; a shorter shared prompt part is not worth a cache entry
PREFIX_CACHE_SIZE = 4
SCORED_CACHE_SIZE = 256  # texts whose label scores are kept (the samples of a text are scored once)
MAX_ROWS = 64  # answer rows (texts x candidate answers) scored in one forward pass
# padded prompt tokens in one pass's answer rows (prompts x candidate answers x the longest prompt): the prompts run
# right-padded to the longest and their key/value cache was repeated once per answer, so 21 prompts padded to one of
# 20,000 characters (annotate's default --max-chars) needed tens of GB. 21 PhraseBank prompts x 3 answers x ~300
# tokens fit, as before; a prompt over the budget is scored alone. The answers now run one prompt at a time on a view
# of its cache; the budget still bounds the padded prompt pass and keeps the passes (and so the scores) as they were
MAX_PASS_TOKENS = 24_576
TEXTS_PER_BATCH = 16  # texts label_texts hands to one scoring call


# ------------------------------------------------------------------------------------------------------------------
# answers
# ------------------------------------------------------------------------------------------------------------------
def label_answer(labels: Sequence[str], multi_label: bool) -> str:
    """The JSON answer for ``labels`` exactly as :func:`sxhub.prompt.answer_example` writes it (no reason)."""
    return json.dumps({"labels": list(labels)} if multi_label else {"label": labels[0]}, ensure_ascii=False)


def candidate_sets(labels: Sequence[str], multi_label: bool, limit: int = MAX_CANDIDATES) -> list[tuple[str, ...]]:
    """The answers scored: each label (single-label), or label sets in label order, smallest first (multi-label)."""
    if not multi_label:
        return [(name,) for name in labels]
    sets: list[tuple[str, ...]] = []
    for size in range(len(labels) + 1):
        more = list(itertools.combinations(labels, size))
        if sets and len(sets) + len(more) > limit:
            break
        sets += more
    return sets


def learned_order(learned: Any, labels: Sequence[str], multi_label: bool) -> Sequence[str]:
    """The order a multi-label answer lists its labels in: the one tune taught (``learned``, the ``labels`` of
    ``sxhub.json``; :func:`sxhub.tune_examples.build_examples`), where ``labels`` are those in another order (a task
    with them reordered is accepted). Scored in the task's order, ``{"labels": ["Promotion", "Product"]}`` was an
    answer the model never learned, where it learned ``{"labels": ["Product", "Promotion"]}``."""
    if not multi_label or not isinstance(learned, (list, tuple)) or not all(isinstance(n, str) for n in learned):
        return labels
    if sorted(learned) == sorted(labels):
        return tuple(learned)
    return labels


# ------------------------------------------------------------------------------------------------------------------
# the model
# ------------------------------------------------------------------------------------------------------------------
class SyntheticModel(SyntheticWriter):
    """A causal LM and its tokenizer, with answer scoring and string writing; thread-safe (one call at a time).

    Works with any chat model folder (the untuned base too); ``info`` is the folder's ``sxhub.json`` when it has one.
    """

    def __init__(self, model: Any, tokenizer: Any, *, info: dict[str, Any] | None = None) -> None:
        if not getattr(tokenizer, "chat_template", None):
            raise ModelError("the model's tokenizer has no chat template; tune it with `sxhub tune` (it adds one).")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.info = info or {}
        self._lock = threading.RLock()
        self._prefixes: OrderedDict[tuple[int, ...], list[tuple[Any, Any]]] = OrderedDict()
        self._scored: OrderedDict[str, tuple[list[tuple[str, ...]], list[float]]] = OrderedDict()
        self.end_of_turn = end_of_turn(tokenizer)
        # tokens a written text may take: what `sxhub tune` measured on the texts it learned from, else the cap
        learned = (self.info.get("writing") or {}).get("max_tokens")
        self.write_budget = min(int(learned), MAX_WRITE_TOKENS) if learned else MAX_WRITE_TOKENS
        from ..base_model import model_context

        self.context = model_context(model.config)  # the most tokens its positions reach (None: no limit known)

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> SyntheticModel:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = Path(folder).expanduser()
        try:
            tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
        except (OSError, ValueError) as exc:
            raise ModelError(f"could not load the model in {str(path)!r} ({exc}); pass a causal LM folder.") from exc
        return cls(model, tokenizer, info=read_info(path))

    # -- tokens ----------------------------------------------------------------------------------------------------
    def prompt_ids(self, messages: list[dict[str, str]]) -> tuple[list[int], int]:
        return chat_prompt_ids(self.tokenizer, messages)

    def answer_ids(self, answer: str) -> list[int]:
        """An answer's tokens as training saw them: the answer and the end of the assistant turn."""
        return encode(self.tokenizer, answer + self.end_of_turn)

    def too_long(self, messages: list[dict[str, str]], answer_tokens: int) -> ContextLengthError | None:
        """The error for a prompt that, with ``answer_tokens`` more, runs past the model's context, else None.

        A text longer than the context failed the whole batch, and so the run, with "IndexError: index out of range
        in self" where the model has learned positions (GPT-2), and got a label read from positions it never
        learned where they are rotary: it is a failed vote with its fix, as a server's context-window refusal is."""
        if self.context is None:
            return None
        need = len(self.prompt_ids(messages)[0]) + answer_tokens
        if need <= self.context:
            return None
        return ContextLengthError(
            f"the prompt and answer take {need} tokens, more than the synthetic model's context of {self.context} "
            "tokens: shorten or split the text (annotate --max-chars N refuses longer texts before any request)",
            status=400,
            detail="longer than the model's context",
        )

    def label_too_long(
        self, messages: list[dict[str, str]], labels: Sequence[str], multi_label: bool
    ) -> ContextLengthError | None:
        """:meth:`too_long` for a labelling prompt and its longest valid answer."""
        if self.context is None:
            return None
        answers = [label_answer(s, multi_label) for s in candidate_sets(labels, multi_label)]
        return self.too_long(messages, max(len(self.answer_ids(a)) for a in answers))

    # -- the key/value cache of shared prompt parts -----------------------------------------------------------------
    def _decode_padded(self, decoder: Any, rests: list[list[int]], start: int, kv: Any, pad: int) -> tuple[Any, Any]:
        """One forward pass over ``rests`` (the prompts after the cached ``start`` tokens), right-padded with ``pad``;
        returns the output and the attention mask (cached prefix included) that later steps extend."""
        import torch

        rows, width = len(rests), max(len(r) for r in rests)
        mask = torch.tensor([[1] * (start + len(r)) + [0] * (width - len(r)) for r in rests])
        out = decoder(
            input_ids=torch.tensor([r + [pad] * (width - len(r)) for r in rests]),
            attention_mask=mask,
            position_ids=torch.arange(start, start + width).expand(rows, -1),
            cache=self._cache(kv, rows) if kv is not None else None,
            use_cache=True,
        )
        return out, mask

    def _cache(self, kv: list[tuple[Any, Any]], repeats: int = 1) -> Any:
        from transformers import DynamicCache

        data = [(k.expand(repeats, -1, -1, -1), v.expand(repeats, -1, -1, -1)) for k, v in kv]
        return DynamicCache(ddp_cache_data=data, config=self.model.config)

    def _prefix(self, ids: list[int], shared: int) -> tuple[int, list[tuple[Any, Any]] | None]:
        """The longest cached prefix of ``ids``, computing and keeping ``ids[:shared]`` when it is new."""
        for key in list(self._prefixes):
            if len(key) < len(ids) and tuple(ids[: len(key)]) == key:
                self._prefixes.move_to_end(key)
                return len(key), self._prefixes[key]
        if shared < MIN_SHARED_PREFIX:
            return 0, None
        import torch

        out = self.model(input_ids=torch.tensor([ids[:shared]]), use_cache=True, logits_to_keep=1)
        kv = [(layer.keys, layer.values) for layer in out.cache.layers]
        self._prefixes[tuple(ids[:shared])] = kv
        while len(self._prefixes) > PREFIX_CACHE_SIZE:
            self._prefixes.popitem(last=False)
        return shared, kv

    # -- scoring ---------------------------------------------------------------------------------------------------
    def answer_logprobs(self, messages: list[dict[str, str]], answers: Sequence[str]) -> list[float]:
        """The total log-probability of each answer (with the end of the turn) after ``messages``."""
        return self.batch_answer_logprobs([messages], answers)[0]

    def batch_answer_logprobs(
        self, prompts: Sequence[list[dict[str, str]]], answers: Sequence[str]
    ) -> list[list[float]]:
        """Per prompt, the total log-probability of each answer.

        The prompts run together on the cached shared prefix, right-padded, in one forward pass; then each prompt's
        answers run together on its key/value cache (viewed once per answer, not copied), at its own positions.
        """
        import torch

        encoded = [self.prompt_ids(m) for m in prompts]
        targets = [self.answer_ids(a) for a in answers]
        count, longest, rows = len(targets), max(len(t) for t in targets), len(encoded)
        decoder, head = self.model.get_decoder(), self.model.get_output_embeddings()
        pad = _pad_id(self.tokenizer)
        with self._lock, torch.inference_mode():
            start, kv = self._prefix(*encoded[0])
            if kv is not None and any(len(ids) <= start or ids[:start] != encoded[0][0][:start] for ids, _ in encoded):
                start, kv = 0, None
            rests = [ids[start:] for ids, _ in encoded]
            out, mask = self._decode_padded(decoder, rests, start, kv, pad)
            ends = torch.tensor([len(r) - 1 for r in rests])
            first = torch.log_softmax(head(out.last_hidden_state[torch.arange(rows), ends]).float(), dim=-1)
            totals = [[float(first[b, t[0]]) for t in targets] for b in range(rows)]
            if longest > 1:
                # one prompt's answers at a time, on a view of its key/value cache (no copy): the whole pass's cache
                # repeated once per answer, and its copy with the answer tokens appended, held 1.5 GB at once for 10
                # PhraseBank prompts and 3 labels (tune's held-out scoring peaked at 3.0 GB for a 0.54 GB model)
                inputs = torch.tensor([t[:-1] + [pad] * (longest - len(t)) for t in targets])
                answer_mask = torch.tensor([[1] * (len(t) - 1) + [0] * (longest - len(t)) for t in targets])
                for b, rest in enumerate(rests):
                    out2 = decoder(
                        input_ids=inputs,
                        attention_mask=torch.cat([mask[b : b + 1].expand(count, -1), answer_mask], dim=1),
                        position_ids=torch.arange(start + len(rest), start + len(rest) + longest - 1).expand(
                            count, -1
                        ),
                        cache=self._cache(
                            [(layer.keys[b : b + 1], layer.values[b : b + 1]) for layer in out.cache.layers], count
                        ),
                        use_cache=False,
                    )
                    logp = torch.log_softmax(head(out2.last_hidden_state).float(), dim=-1)
                    for c, t in enumerate(targets):
                        totals[b][c] += float(sum(logp[c, j - 1, t[j]] for j in range(1, len(t))))
        return totals

    def label_distribution(
        self, messages: list[dict[str, str]], labels: Sequence[str], multi_label: bool
    ) -> tuple[list[tuple[str, ...]], list[float]]:
        """The scored answers and their probabilities (a softmax over the valid answers' log-probabilities)."""
        return self.label_distributions([messages], labels, multi_label)[0]

    def label_distributions(
        self, prompts: Sequence[list[dict[str, str]]], labels: Sequence[str], multi_label: bool
    ) -> list[tuple[list[tuple[str, ...]], list[float]]]:
        """:meth:`label_distribution` for several prompts, scored in batches of up to ``MAX_ROWS`` answer rows and
        :data:`MAX_PASS_TOKENS` padded tokens in them.

        The last few are kept, and a prompt that comes several times in one call is scored once: the samples of one
        text (``samples: N``) are scored once, whether they arrive in one batch or in several.
        """
        sets = candidate_sets(labels, multi_label)
        answers = [label_answer(s, multi_label) for s in sets]
        if self.context is not None:  # callers that score texts one by one leave these out first (too_long)
            longest = max(len(self.answer_ids(a)) for a in answers)
            for messages in prompts:
                error = self.too_long(messages, longest)
                if error is not None:
                    raise error
        keys = [json.dumps([m, list(labels), multi_label], ensure_ascii=False) for m in prompts]
        with self._lock:
            first: dict[str, int] = {}  # each prompt not scored yet, once, at its first place
            for i, key in enumerate(keys):
                if key not in self._scored:
                    first.setdefault(key, i)
            todo = list(first.values())
            for part in self._passes(todo, prompts, len(answers)):
                for i, logps in zip(
                    part, self.batch_answer_logprobs([prompts[i] for i in part], answers), strict=True
                ):
                    self._scored[keys[i]] = (sets, softmax(logps))
            found = [self._scored[key] for key in keys]
            while len(self._scored) > SCORED_CACHE_SIZE:
                self._scored.popitem(last=False)
        return found

    def _passes(self, todo: list[int], prompts: Sequence[list[dict[str, str]]], answers: int) -> list[list[int]]:
        """``todo`` (prompt indices, in order) cut into forward passes of at most ``MAX_ROWS`` answer rows and
        :data:`MAX_PASS_TOKENS` padded tokens in them (a prompt over that alone): one long text no longer pads every
        prompt of its pass, times every candidate answer, to its length."""
        step = max(1, MAX_ROWS // answers)
        passes: list[list[int]] = []
        part: list[int] = []
        longest = 0
        for i in todo:
            n = len(self.prompt_ids(prompts[i])[0])
            if part and (len(part) >= step or (len(part) + 1) * answers * max(longest, n) > MAX_PASS_TOKENS):
                passes.append(part)
                part, longest = [], 0
            part.append(i)
            longest = max(longest, n)
        if part:
            passes.append(part)
        return passes

    def label_probs(
        self, messages: list[dict[str, str]], labels: Sequence[str], multi_label: bool
    ) -> dict[str, float]:
        """Per label: its probability (single-label, summing to 1) or its marginal probability (multi-label)."""
        sets, probs = self.label_distribution(messages, labels, multi_label)
        return marginals(sets, probs, labels)

    def label_texts(
        self, spec: TaskSpec, texts: Sequence[str], *, progress: bool = False
    ) -> tuple[list[Any], np.ndarray]:
        """The most probable answer for each text (a label, or a list of labels for multi-label tasks) and the label
        probabilities (rows: texts; columns: the spec's labels), from the teachers' prompt for ``spec``."""
        chosen, probs, _ = self.score_texts(spec, texts, progress=progress)
        return chosen, probs

    def score_texts(
        self, spec: TaskSpec, texts: Sequence[str], *, progress: bool = False
    ) -> tuple[list[Any], np.ndarray, list[float]]:
        """:meth:`label_texts` and, per text, the probability of the answer chosen: the label's (single-label) or
        the whole label set's (multi-label). A multi-label task's label probabilities are marginals, each summed
        over every set that holds the label, so the largest of them overstates how sure the model is of its set."""

        import numpy as np

        from ..progress import progress_bar
        from ..prompt import build_messages

        chosen: list[Any] = []
        rows = []
        confidence: list[float] = []
        with progress_bar(total=len(texts), desc="scoring", unit="text", enabled=progress) as bar:
            for start in range(0, len(texts), TEXTS_PER_BATCH):
                part = [build_messages(spec, text) for text in texts[start : start + TEXTS_PER_BATCH]]
                order = learned_order(self.info.get("labels"), spec.label_names, spec.multi_label)
                for sets, probs in self.label_distributions(part, order, spec.multi_label):
                    top = max(range(len(sets)), key=probs.__getitem__)
                    best = sets[top]
                    chosen.append(list(best) if spec.multi_label else best[0])
                    confidence.append(probs[top])
                    scores = marginals(sets, probs, spec.label_names)
                    rows.append([scores[name] for name in spec.label_names])
                bar.update(len(part))
        return chosen, np.asarray(rows, dtype=np.float64).reshape(len(rows), len(spec.label_names)), confidence


def softmax(logps: Sequence[float], temperature: float = 1.0) -> list[float]:
    top = max(logps)
    weights = [math.exp((x - top) / temperature) for x in logps]
    total = sum(weights)
    return [w / total for w in weights]


def marginals(sets: Sequence[tuple[str, ...]], probs: Sequence[float], labels: Sequence[str]) -> dict[str, float]:
    """Per label, the total probability of the answers that hold it."""
    return {name: float(sum(p for s, p in zip(sets, probs, strict=True) if name in s)) for name in labels}


_LOADING = threading.Lock()


def shared_model(folder: str | os.PathLike[str]) -> SyntheticModel:
    """One loaded model per folder content in this process (a writer and a labeller share it).

    Loads one at a time: ``from_pretrained`` swaps torch's weight initialisers process-wide while it runs, and two
    loads in parallel threads (concurrent first requests) would leave them swapped for every later load.
    """
    path = str(Path(folder).expanduser().resolve())
    with _LOADING:
        return _load_shared(path, content_hash(path))


@functools.lru_cache(maxsize=2)
def _load_shared(folder: str, digest: str) -> SyntheticModel:
    logger.info("loading the synthetic model %s (%s)", folder, digest[:12])
    return SyntheticModel.load(folder)
