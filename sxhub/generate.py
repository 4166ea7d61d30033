"""Synthetic data from topics: the teacher writes new texts for every label, then labels them blind.

1. A grid of (topic, label) cells (topics optional) is filled round-robin up to ``n`` requests; every request has
   its own seed and rotates through the seed examples and style notes, so the texts differ.
2. Exact and near duplicates (MiniLM cosine similarity above ``1 - min_distance``, also against earlier rounds)
   are dropped; further rounds with new seeds top the set up to ``n`` (at most ``max_rounds``).
3. Every kept text goes through :func:`sxhub.annotate.aannotate`: its ``label`` is the teachers' vote, not the label
   it was written for, which is kept as ``prompted_label``. A text whose votes all failed has no label.

``writers`` (``--writer``) write the texts when given, e.g. a synthetic model from ``sxhub tune``, and the
``teachers`` only vote; without them the teachers take turns writing too.

:func:`export_rows` writes the result as a table (csv/jsonl/parquet), as chat messages JSONL
(``{"messages": [system, user, assistant]}``) or as prompt/completion JSONL, for fine-tuning LLMs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .annotate import aannotate, acomplete_requests, format_cost
from .cache import LabelCache
from .data import write_table
from .errors import InputError, UserError
from .prompt import InvalidAnswer, answer_example, system_prompt
from .spec import Example, TaskSpec
from .synth import Embedder, EmbedFn, check_threshold, merge_ledgers, near_duplicates, parse_text_reply, text_schema
from .teachers import Teacher

logger = logging.getLogger(__name__)

TEXT_KEY = "text"
SEED_STRIDE = 100_003
FORMATS = ("csv", "jsonl", "parquet", "chat", "completion")


@dataclass
class GenerateOptions:
    """What to write and how varied it must be; checks itself."""

    n: int
    topics: list[str] = field(default_factory=list)
    seed_examples: list[Example] = field(default_factory=list)
    style: str = ""
    temperature: float = 1.0
    min_distance: float = 0.1
    max_rounds: int = 3
    examples_per_prompt: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.n, int) or self.n < 1:
            raise InputError(f"--n={self.n!r} must be a positive integer.")
        check_threshold("temperature", self.temperature, high=2.0)
        check_threshold("min_distance", self.min_distance, high=2.0)
        if not isinstance(self.max_rounds, int) or self.max_rounds < 1:
            raise InputError(f"max_rounds={self.max_rounds!r} must be a positive integer.")
        self.topics = [t.strip() for t in self.topics if t and t.strip()]

    @property
    def max_similarity(self) -> float:
        return 1.0 - self.min_distance


@dataclass
class GenerateResult:
    frame: pd.DataFrame  # text, label(s), prompted_label, topic, teacher, votes, agreement, failed, error
    ledger: dict[str, Any]
    dropped: dict[str, int]  # why generated texts were dropped: invalid replies, duplicates

    def summary(self) -> dict[str, Any]:
        frame = self.frame
        return {
            "n": len(frame),
            "failed": int(frame["failed"].sum()) if len(frame) else 0,
            "label_matches_prompt": _match_rate(frame),
            "dropped": self.dropped,
            "ledger": self.ledger,
        }

    def summary_line(self) -> str:
        s, led = self.summary(), self.ledger
        match = "n/a" if s["label_matches_prompt"] is None else f"{s['label_matches_prompt']:.0%}"
        return (
            f"generated {s['n']} texts ({s['failed']} unlabelled; vote = prompted label for {match}); dropped "
            f"{self.dropped}; {led['requests']} requests ({led['cached']} from cache), {led['input_tokens']:,} input + "
            f"{led['output_tokens']:,} output tokens, estimated cost {format_cost(led['cost_usd'])}"
        )


def _match_rate(frame: pd.DataFrame) -> float | None:
    done = frame[~frame["failed"]] if len(frame) else frame
    if not len(done):
        return None
    col = "labels" if "labels" in done.columns else "label"
    hits = [
        (p in got) if isinstance(got, (list, tuple)) else p == got
        for p, got in zip(done["prompted_label"], done[col], strict=True)
    ]
    return round(sum(hits) / len(hits), 4)


# ------------------------------------------------------------------------------------------------------------------
# prompts
# ------------------------------------------------------------------------------------------------------------------
def grid(spec: TaskSpec, topics: Sequence[str]) -> list[tuple[str | None, str]]:
    """The (topic, label) cells, topics outer; one cell per label without topics."""
    outer: list[str | None] = list(topics) or [None]
    return [(topic, label) for topic in outer for label in spec.label_names]


def generation_messages(
    spec: TaskSpec,
    label: str,
    *,
    topic: str | None,
    examples: Sequence[Example],
    style: str,
) -> list[dict[str, str]]:
    """Chat messages asking for one new text that an annotator would give ``label``."""
    described = {lab.name: lab.description for lab in spec.labels}
    system = [
        "You write realistic, varied example texts for training a text classifier.",
        f"Task: {spec.description or spec.name}",
        "Labels:",
        *(f"- {name}: {desc}" if desc else f"- {name}" for name, desc in described.items()),
        'Answer with one JSON object {"text": "<the new text>"} and nothing else.',
    ]
    user = [f"Write one new text that a careful annotator would label {label!r}."]
    if described.get(label):
        user.append(f"{label}: {described[label]}.")
    if topic:
        user.append(f"Topic: {topic}.")
    if style:
        user.append(f"Style: {style}.")
    if examples:
        user.append("Real texts of this task, for tone and length only (do not copy them):")
        user += [f"- {ex.text}" for ex in examples]
    user.append("Invent your own details. Answer with the JSON object.")
    return [{"role": "system", "content": "\n".join(system)}, {"role": "user", "content": "\n".join(user)}]


def _examples_for(pool: Sequence[Example], label: str, k: int, offset: int) -> list[Example]:
    """Up to ``k`` examples, those of ``label`` first, rotated by ``offset`` so that prompts differ."""
    if not pool or k <= 0:
        return []
    ordered = [e for e in pool if label in e.labels] + [e for e in pool if label not in e.labels]
    start = offset % len(ordered)
    rotated = ordered[start:] + ordered[:start]
    return rotated[:k]


# ------------------------------------------------------------------------------------------------------------------
# the stage
# ------------------------------------------------------------------------------------------------------------------
async def agenerate(
    spec: TaskSpec,
    *,
    teachers: Sequence[Teacher],
    options: GenerateOptions,
    writers: Sequence[Teacher] | None = None,
    embed: EmbedFn | None = None,
    samples: int | None = None,
    concurrency: int = 8,
    cache: LabelCache | bool | None = None,
    progress: bool = True,
    max_retries: int = 4,
    backoff: float = 1.0,
) -> GenerateResult:
    """Write about ``options.n`` new texts with the open ``teachers`` and label them by vote (module docstring)."""
    if not teachers:
        raise UserError("generate: give at least one teacher.")
    authors = list(writers) if writers else list(teachers)
    opts = options
    encoder = embed if embed is not None else Embedder()
    pool = list(opts.seed_examples) or list(spec.examples)
    cells = grid(spec, opts.topics)
    start = time.perf_counter()
    store = cache if isinstance(cache, LabelCache) else (LabelCache() if cache is not False else None)
    engine_args: dict[str, Any] = {
        "cache": store,
        "concurrency": concurrency,
        "progress": progress,
        "max_retries": max_retries,
        "backoff": backoff,
    }
    kept: list[dict[str, Any]] = []
    dropped = {"invalid": 0, "failed": 0, "duplicate": 0}
    ledgers = []
    try:
        for round_no in range(opts.max_rounds):
            need = opts.n - len(kept)
            if need <= 0:
                break
            base = opts.n * round_no if round_no else 0
            plan = [(base + len(kept) + j, *cells[(len(kept) + j) % len(cells)]) for j in range(need)]
            requests = [
                (
                    k % len(authors),
                    generation_messages(
                        spec,
                        label,
                        topic=topic,
                        examples=_examples_for(pool, label, opts.examples_per_prompt, k),
                        style=opts.style,
                    ),
                    opts.seed + k + SEED_STRIDE * round_no,
                )
                for k, topic, label in plan
            ]
            replies, ledger = await acomplete_requests(
                spec,
                authors,
                requests,
                schema=text_schema(TEXT_KEY),
                temperature=opts.temperature,
                desc=f"generate (round {round_no + 1})",
                **engine_args,
            )
            ledgers.append(ledger)
            fresh = _read_replies(plan, replies, authors, dropped)
            reasons = near_duplicates(
                [r["text"] for r in fresh],
                encoder,
                max_similarity=opts.max_similarity,
                against=[r["text"] for r in kept],
            )
            dropped["duplicate"] += sum(bool(r) for r in reasons)
            kept += [row for row, why in zip(fresh, reasons, strict=True) if not why]
        kept = kept[: opts.n]
        labelled = None
        if kept:
            labelled = await aannotate(
                spec,
                [r["text"] for r in kept],
                teachers=list(teachers),
                samples=samples,
                seed=opts.seed,
                cache=store if store is not None else False,
                **{k: v for k, v in engine_args.items() if k != "cache"},
            )
    finally:
        if store is not None and not isinstance(cache, LabelCache):
            store.close()
    frame = _frame(spec, kept, labelled)
    ledger = merge_ledgers(*ledgers, *([labelled.ledger] if labelled else []))
    ledger["seconds"] = round(time.perf_counter() - start, 2)
    if len(frame) < opts.n:
        logger.warning(
            "generate: %d of %d texts after %d rounds (%s dropped)", len(frame), opts.n, opts.max_rounds, dropped
        )
    return GenerateResult(frame=frame, ledger=ledger, dropped=dropped)


def _read_replies(
    plan: list[tuple[int, str | None, str]], replies: list[Any], teachers: Sequence[Teacher], dropped: dict[str, int]
) -> list[dict[str, Any]]:
    rows = []
    for (k, topic, label), reply in zip(plan, replies, strict=True):
        if not hasattr(reply, "text"):
            dropped["failed"] += 1
            logger.info("generate: request %d failed: %s", k, reply)
            continue
        try:
            text = parse_text_reply(reply.text, TEXT_KEY)
        except InvalidAnswer:
            dropped["invalid"] += 1
            continue
        rows.append(
            {
                "text": text,
                "prompted_label": label,
                "topic": topic or "",
                "teacher": teachers[k % len(teachers)].name,
                "seed": k,
            }
        )
    return rows


def _frame(spec: TaskSpec, kept: list[dict[str, Any]], labelled: Any) -> pd.DataFrame:
    col = spec.label_column
    columns = ["text", col, "prompted_label", "topic", "teacher", "votes", "agreement", "failed", "error"]
    if not kept:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(kept)
    lf = labelled.frame
    frame[col] = pd.Series(lf[col].tolist(), dtype=object)
    for key in ("votes", "agreement", "failed", "error"):
        frame[key] = lf[key].tolist()
    return frame[columns]


def generate(spec: TaskSpec, options: GenerateOptions, **kwargs: Any) -> GenerateResult:
    """Synchronous :func:`agenerate` with teachers (and ``writers=``) opened from specs (default: the spec's)."""
    from .teachers import teachers_for

    async def run() -> GenerateResult:
        writers = kwargs.pop("writers", None)
        async with teachers_for(spec, kwargs.pop("teachers", None)) as teachers:
            if not writers:
                return await agenerate(spec, teachers=teachers, options=options, **kwargs)
            async with teachers_for(spec, writers) as authors:
                return await agenerate(spec, teachers=teachers, options=options, writers=authors, **kwargs)

    return asyncio.run(run())


# ------------------------------------------------------------------------------------------------------------------
# export
# ------------------------------------------------------------------------------------------------------------------
def _answer(spec: TaskSpec, label: Any) -> list[str]:
    return list(label) if isinstance(label, (list, tuple)) else [label]


def chat_record(spec: TaskSpec, text: str, label: Any) -> dict[str, Any]:
    """One fine-tuning example in chat-messages form: the task's system prompt, the text, the JSON answer."""
    plain = spec if not spec.reasoning else TaskSpec.from_dict({**spec.to_dict(), "reasoning": False})
    return {
        "messages": [
            {"role": "system", "content": system_prompt(plain)},
            {"role": "user", "content": f"Text: {text}"},
            {"role": "assistant", "content": answer_example(plain, _answer(spec, label))},
        ]
    }


def completion_record(spec: TaskSpec, text: str, label: Any) -> dict[str, str]:
    """One fine-tuning example in prompt/completion form: ``Text: ...\\nLabel:`` -> `` name`` (comma-joined)."""
    names = ", ".join(_answer(spec, label)) or "none"
    labels = ", ".join(spec.label_names)
    head = f"{spec.description or spec.name}\nLabels: {labels}\n\n"
    return {"prompt": f"{head}Text: {text}\nLabel:", "completion": f" {names}"}


def export_format(path: str | os.PathLike[str], fmt: str | None) -> str:
    """The format to write: ``fmt`` if given, else from the extension (``.jsonl`` -> jsonl table)."""
    if fmt:
        if fmt not in FORMATS:
            raise InputError(f"--format {fmt!r} is not one of {list(FORMATS)}.")
        return fmt
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix in {"csv", "jsonl", "parquet"}:
        return suffix
    raise InputError(f"output {str(path)!r}: use a .csv, .jsonl or .parquet name, or pass --format.")


def export_rows(spec: TaskSpec, frame: pd.DataFrame, path: str | os.PathLike[str], fmt: str | None = None) -> Path:
    """Write ``frame`` as a table, or (chat/completion) as JSONL of the labelled rows; failed rows are left out."""
    kind = export_format(path, fmt)
    path = Path(path)
    if kind in {"csv", "jsonl", "parquet"}:
        if Path(path).suffix.lower().lstrip(".") != kind:
            raise InputError(f"--format {kind} needs an output name ending in .{kind}, got {str(path)!r}.")
        return write_table(frame, path)
    col = spec.label_column
    rows = frame[~frame["failed"].astype(bool)] if len(frame) else frame
    make = chat_record if kind == "chat" else completion_record
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for text, label in zip(rows["text"], rows[col], strict=True):
            handle.write(json.dumps(make(spec, text, label), ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path
