"""Synthetic data from topics: the teacher writes new texts for every label, then labels them blind.

1. A grid of (topic, label) cells (topics optional) is filled round-robin up to ``n`` requests; every request has
   its own seed and rotates through the seed examples and style notes, so the texts differ.
2. Exact and near duplicates (MiniLM cosine similarity above ``1 - min_distance``, also against earlier rounds)
   are dropped; further rounds with new seeds top the set up to ``n`` (at most ``max_rounds``).
3. Every kept text goes through :func:`sxhub.annotate.aannotate`: its ``label`` is the teachers' vote, not the label
   it was written for, which is kept as ``prompted_label``. A text whose votes all failed has no label.

``balance=True`` (``--balance``, single-label tasks) aims at about ``n / len(labels)`` texts per **voted** label
instead: every round is written, deduplicated and labelled by vote, and the next round asks only for the labels
still short of their quota, with more requests for a label whose written texts rarely get its vote (its measured hit
rate over the earlier rounds, at most :data:`BALANCE_MAX_BOOST` requests per missing text). Texts voted for a label
already at its quota are dropped (``over_quota``), and so are texts whose votes all failed (``unlabelled``); a label
that gains no text in :data:`BALANCE_STALL_ROUNDS` rounds in a row is no longer asked for. After ``max_rounds``
(:data:`BALANCE_MAX_ROUNDS` by default in this mode) the labels still short are reported in the summary and a
warning; nothing pads them.

``writers`` (``--writer``) write the texts when given, e.g. a synthetic model from ``sxhub tune``, and the
``teachers`` only vote; without them the teachers take turns writing too.

:func:`export_rows` writes the result as a table (csv/jsonl/parquet), as chat messages JSONL
(``{"messages": [system, user, assistant]}``) or as prompt/completion JSONL, for fine-tuning LLMs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .annotate import aannotate, acomplete_requests
from .cache import LabelCache
from .data import write_table
from .errors import InputError, UserError
from .ledger import format_cost
from .prompt import InvalidAnswer, answer_example, system_prompt
from .spec import Example, TaskSpec
from .synth import Embedder, EmbedFn, check_threshold, merge_ledgers, near_duplicates, parse_text_reply, text_schema
from .teachers import Teacher

logger = logging.getLogger(__name__)

TEXT_KEY = "text"
SEED_STRIDE = 100_003
FORMATS = ("csv", "jsonl", "parquet", "chat", "completion")
DEFAULT_MAX_ROUNDS = 3
BALANCE_MAX_ROUNDS = 8  # balance mode keeps asking for the short labels, so it gets more rounds by default
BALANCE_MAX_BOOST = 4  # at most this many requests per missing text of a label in one round
BALANCE_STALL_ROUNDS = 2  # a label that gains nothing in this many rounds in a row is no longer asked for


@dataclass
class GenerateOptions:
    """What to write and how varied it must be; checks itself."""

    n: int
    topics: list[str] = field(default_factory=list)
    seed_examples: list[Example] = field(default_factory=list)
    style: str = ""
    temperature: float = 1.0
    min_distance: float = 0.1
    max_rounds: int | None = None  # None: DEFAULT_MAX_ROUNDS, or BALANCE_MAX_ROUNDS with balance
    examples_per_prompt: int = 3
    seed: int = 0
    balance: bool = False  # about n / len(labels) texts per voted label (single-label tasks)

    def __post_init__(self) -> None:
        if not isinstance(self.n, int) or self.n < 1:
            raise InputError(f"--n={self.n!r} must be a positive integer.")
        check_threshold("temperature", self.temperature, high=2.0)
        check_threshold("min_distance", self.min_distance, high=2.0)
        if self.max_rounds is None:
            self.max_rounds = BALANCE_MAX_ROUNDS if self.balance else DEFAULT_MAX_ROUNDS
        if not isinstance(self.max_rounds, int) or self.max_rounds < 1:
            raise InputError(f"max_rounds={self.max_rounds!r} must be a positive integer.")
        self.topics = [t.strip() for t in self.topics if t and t.strip()]

    @property
    def max_similarity(self) -> float:
        return 1.0 - self.min_distance

    @property
    def rounds(self) -> int:
        """``max_rounds`` resolved (an int after ``__post_init__``)."""
        return int(self.max_rounds or DEFAULT_MAX_ROUNDS)


def check_balance(spec: TaskSpec, options: GenerateOptions) -> None:
    """Refuse ``balance`` where per-label quotas are not defined (before any request is sent)."""
    if not options.balance:
        return
    if spec.multi_label:
        raise InputError(
            f"--balance needs a single-label task, but {spec.name!r} is multi-label (a text may carry several labels "
            "or none, so there is no one label to count it under); drop --balance."
        )
    if options.n < len(spec.label_names):
        raise InputError(
            f"--balance with --n {options.n} leaves some of the {len(spec.label_names)} labels without a text; "
            f"pass --n {len(spec.label_names)} or more."
        )


def balance_quotas(labels: Sequence[str], n: int) -> dict[str, int]:
    """``n`` texts spread over ``labels``: ``n // len(labels)`` each, one more for the first ``n % len(labels)``."""
    base, extra = divmod(n, len(labels))
    return {label: base + (i < extra) for i, label in enumerate(labels)}


def requests_for(missing: int, asked: int, hits: int) -> int:
    """Requests to write for a label short of ``missing`` texts, from its hit rate so far (``hits / asked``).

    The first round asks for ``missing``; later ones for ``missing / rate``, the rate floored at
    ``1 / BALANCE_MAX_BOOST`` (so at most ``BALANCE_MAX_BOOST * missing`` requests, also when it was never voted).
    """
    if missing <= 0:
        return 0
    if asked <= 0:
        return missing
    rate = max(hits / asked, 1.0 / BALANCE_MAX_BOOST)
    return min(math.ceil(missing / rate - 1e-9), BALANCE_MAX_BOOST * missing)


@dataclass
class GenerateResult:
    frame: pd.DataFrame  # text, label(s), prompted_label, topic, teacher, votes, agreement, failed, error
    ledger: dict[str, Any]
    dropped: dict[str, int]  # why generated texts were dropped: invalid replies, duplicates (balance: over_quota, ...)
    balance: dict[str, Any] | None = None  # balance mode: quota, counts, short, hit_rate, rounds, given_up

    def summary(self) -> dict[str, Any]:
        frame = self.frame
        out = {
            "n": len(frame),
            "failed": int(frame["failed"].sum()) if len(frame) else 0,
            "label_matches_prompt": _match_rate(frame),
            "dropped": self.dropped,
            "ledger": self.ledger,
        }
        if self.balance is not None:
            out["balance"] = self.balance
        return out

    def summary_line(self) -> str:
        s, led = self.summary(), self.ledger
        match = "n/a" if s["label_matches_prompt"] is None else f"{s['label_matches_prompt']:.0%}"
        return (
            f"generated {s['n']} texts ({s['failed']} unlabelled; vote = prompted label for {match}); "
            f"{self._balance_note()}dropped {self.dropped}; {led['requests']} requests ({led['cached']} from cache), "
            f"{led['input_tokens']:,} input + {led['output_tokens']:,} output tokens, "
            f"estimated cost {format_cost(led['cost_usd'])}"
        )

    def _balance_note(self) -> str:
        if self.balance is None:
            return ""
        b = self.balance
        counts = ", ".join(f"{label} {b['counts'][label]}/{q}" for label, q in b["quota"].items())
        short = ", ".join(f"{label} {missing}" for label, missing in b["short"].items())
        gap = f"SHORT of quota: {short}" if short else "every label at quota"
        return f"per voted label {counts} after {b['rounds']} rounds ({gap}); "


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
@dataclass
class _Writer:
    """What every round of one run shares: the spec, who writes and votes, the options, the cache and the counters."""

    spec: TaskSpec
    teachers: list[Teacher]
    authors: list[Teacher]
    opts: GenerateOptions
    encoder: EmbedFn
    pool: list[Example]
    store: LabelCache | None
    engine_args: dict[str, Any]
    samples: int | None
    dropped: dict[str, int]
    ledgers: list[dict[str, Any]] = field(default_factory=list)

    async def write(
        self, plan: list[tuple[int, str | None, str]], round_no: int, against: list[str]
    ) -> list[dict[str, Any]]:
        """Ask for the planned texts ``(k, topic, label)``; the valid ones that duplicate nothing (nor ``against``)."""
        opts = self.opts
        requests = [
            (
                k % len(self.authors),
                generation_messages(
                    self.spec,
                    label,
                    topic=topic,
                    examples=_examples_for(self.pool, label, opts.examples_per_prompt, k),
                    style=opts.style,
                ),
                opts.seed + k + SEED_STRIDE * round_no,
            )
            for k, topic, label in plan
        ]
        replies, ledger = await acomplete_requests(
            self.spec,
            self.authors,
            requests,
            schema=text_schema(TEXT_KEY),
            temperature=opts.temperature,
            desc=f"generate (round {round_no + 1})",
            **self.engine_args,
        )
        self.ledgers.append(ledger)
        fresh = _read_replies(plan, replies, self.authors, self.dropped)
        reasons = near_duplicates(
            [r["text"] for r in fresh], self.encoder, max_similarity=opts.max_similarity, against=against
        )
        self.dropped["duplicate"] += sum(bool(r) for r in reasons)
        return [row for row, why in zip(fresh, reasons, strict=True) if not why]

    async def vote(self, texts: list[str]) -> Any:
        """The teachers' vote on ``texts`` (an AnnotateResult; its ledger is added to the run's)."""
        labelled = await aannotate(
            self.spec,
            texts,
            teachers=self.teachers,
            samples=self.samples,
            seed=self.opts.seed,
            cache=self.store if self.store is not None else False,
            **{k: v for k, v in self.engine_args.items() if k != "cache"},
        )
        self.ledgers.append(labelled.ledger)
        return labelled


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
    check_balance(spec, options)
    start = time.perf_counter()
    store = cache if isinstance(cache, LabelCache) else (LabelCache() if cache is not False else None)
    run = _Writer(
        spec=spec,
        teachers=list(teachers),
        authors=list(writers) if writers else list(teachers),
        opts=options,
        encoder=embed if embed is not None else Embedder(),
        pool=list(options.seed_examples) or list(spec.examples),
        store=store,
        engine_args={
            "cache": store,
            "concurrency": concurrency,
            "progress": progress,
            "max_retries": max_retries,
            "backoff": backoff,
        },
        samples=samples,
        dropped={"invalid": 0, "failed": 0, "duplicate": 0},
    )
    balance = None
    try:
        if options.balance:
            frame, balance = await _balanced(run)
        else:
            frame = await _plain(run)
    finally:
        if store is not None and not isinstance(cache, LabelCache):
            store.close()
    ledger = merge_ledgers(*run.ledgers)
    ledger["seconds"] = round(time.perf_counter() - start, 2)
    return GenerateResult(frame=frame, ledger=ledger, dropped=run.dropped, balance=balance)


async def _plain(run: _Writer) -> pd.DataFrame:
    """Top the texts up to ``n`` over the (topic, label) grid, then label them all by vote."""
    opts, spec = run.opts, run.spec
    cells = grid(spec, opts.topics)
    kept: list[dict[str, Any]] = []
    for round_no in range(opts.rounds):
        need = opts.n - len(kept)
        if need <= 0:
            break
        base = opts.n * round_no if round_no else 0
        plan = [(base + len(kept) + j, *cells[(len(kept) + j) % len(cells)]) for j in range(need)]
        kept += await run.write(plan, round_no, [r["text"] for r in kept])
    kept = kept[: opts.n]
    labelled = await run.vote([r["text"] for r in kept]) if kept else None
    frame = _frame(spec, kept, labelled)
    if len(frame) < opts.n:
        logger.warning(
            "generate: %d of %d texts after %d rounds (%s dropped)", len(frame), opts.n, opts.rounds, run.dropped
        )
    return frame


async def _balanced(run: _Writer) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Rounds of write, dedup and vote until every voted label holds its quota (module docstring)."""
    opts, spec = run.opts, run.spec
    labels = spec.label_names
    col = spec.label_column
    quota = balance_quotas(labels, opts.n)
    run.dropped.update(over_quota=0, unlabelled=0)
    counts = dict.fromkeys(labels, 0)
    asked = dict.fromkeys(labels, 0)  # requests written for each label, all rounds
    hits = dict.fromkeys(labels, 0)  # of those, texts the vote gave that label
    stalled = dict.fromkeys(labels, 0)
    given_up: list[str] = []
    seen: list[str] = []  # every text kept by the dedup so far (accepted or dropped after the vote)
    kept: list[dict[str, Any]] = []
    next_k = rounds = 0
    for round_no in range(opts.rounds):
        short = {lab: quota[lab] - counts[lab] for lab in labels if counts[lab] < quota[lab] and lab not in given_up}
        if not short:
            break
        rounds += 1
        ask = {lab: requests_for(missing, asked[lab], hits[lab]) for lab, missing in short.items()}
        plan = []
        for lab, topic in _interleave(ask, opts.topics, asked):
            plan.append((next_k, topic, lab))
            next_k += 1
        for lab, many in ask.items():
            asked[lab] += many
        fresh = await run.write(plan, round_no, seen)
        seen += [r["text"] for r in fresh]
        if not fresh:
            gained = dict.fromkeys(labels, 0)
        else:
            labelled = await run.vote([r["text"] for r in fresh])
            rows = [
                {**row, col: vote, "votes": votes, "agreement": agreement, "failed": bool(failed), "error": error}
                for row, vote, votes, agreement, failed, error in zip(
                    fresh,
                    labelled.frame[col].tolist(),
                    labelled.frame["votes"].tolist(),
                    labelled.frame["agreement"].tolist(),
                    labelled.frame["failed"].tolist(),
                    labelled.frame["error"].tolist(),
                    strict=True,
                )
            ]
            for row in rows:
                if not row["failed"] and row[col] == row["prompted_label"]:
                    hits[row["prompted_label"]] += 1
            accepted = _accept(rows, col, quota, counts, run.dropped)
            kept += accepted
            gained = {lab: sum(r[col] == lab for r in accepted) for lab in labels}
        for lab in short:
            stalled[lab] = stalled[lab] + 1 if not gained[lab] else 0
            if stalled[lab] >= BALANCE_STALL_ROUNDS and counts[lab] < quota[lab]:
                given_up.append(lab)
    missing = {lab: quota[lab] - counts[lab] for lab in labels if counts[lab] < quota[lab]}
    rate = {lab: round(hits[lab] / asked[lab], 4) if asked[lab] else None for lab in labels}
    if missing:
        logger.warning(
            "generate --balance: short of quota after %d rounds: %s (vote = prompted label: %s; no longer asked for, "
            "nothing gained in %d rounds: %s); no other text pads them: raise --max-rounds, or give seed examples "
            "or a better --writer for them",
            rounds,
            ", ".join(f"{lab} {counts[lab]}/{quota[lab]}" for lab in missing),
            ", ".join(f"{lab} {rate[lab]}" for lab in missing),
            BALANCE_STALL_ROUNDS,
            ", ".join(given_up) or "none",
        )
    report = {
        "quota": quota,
        "counts": counts,
        "short": missing,
        "rounds": rounds,
        "max_rounds": opts.rounds,
        "requests_per_label": asked,
        "hit_rate": rate,
        "given_up": given_up,
    }
    columns = ["text", col, "prompted_label", "topic", "teacher", "votes", "agreement", "failed", "error"]
    frame = pd.DataFrame(kept, columns=columns)
    frame[col] = pd.Series(frame[col].tolist(), dtype=object)
    frame["failed"] = frame["failed"].astype(bool)
    return frame, report


def _interleave(ask: dict[str, int], topics: Sequence[str], asked: dict[str, int]) -> list[tuple[str, str | None]]:
    """(label, topic) for every request, the labels taken in turns; each label's topics rotate across rounds."""
    out: list[tuple[str, str | None]] = []
    for j in range(max(ask.values(), default=0)):
        for lab, many in ask.items():
            if j < many:
                topic = topics[(asked[lab] + j) % len(topics)] if topics else None
                out.append((lab, topic))
    return out


def _accept(
    rows: list[dict[str, Any]], col: str, quota: dict[str, int], counts: dict[str, int], dropped: dict[str, int]
) -> list[dict[str, Any]]:
    """The rows that fill their voted label's quota (counted into ``counts``), in their order; the others dropped.

    Where a label has more candidates than room, those written for it come first, then the higher agreement.
    """
    labelled = [i for i, r in enumerate(rows) if not r["failed"]]
    dropped["unlabelled"] += len(rows) - len(labelled)
    ranked = sorted(
        labelled, key=lambda i: (rows[i][col] != rows[i]["prompted_label"], -float(rows[i]["agreement"] or 0.0), i)
    )
    take = set()
    for i in ranked:
        lab = rows[i][col]
        if counts[lab] < quota[lab]:
            counts[lab] += 1
            take.add(i)
        else:
            dropped["over_quota"] += 1
    return [rows[i] for i in sorted(take)]


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
