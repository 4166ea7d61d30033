"""Writing the texts of ``sxhub generate``, one round at a time (split out of :mod:`sxhub.generate`, which re-exports
:func:`generation_messages`).

* :func:`generation_messages`: the prompt for one new text of a label (a topic, the style, seed examples rotated so
  that prompts differ).
* :class:`Writer`: what every round of one run shares (the spec, who writes and who votes, the options, the cache,
  the ledgers and the drop counts). :meth:`Writer.write` asks for a round's planned texts and keeps the valid ones
  that copy neither their prompt nor a seed example and duplicate no text kept before; :meth:`Writer.vote` has the
  teachers label texts. :mod:`sxhub.generate_rounds` and :mod:`sxhub.generate` decide what to ask for and keep.

This module does not import :mod:`sxhub.generate`, which imports it: it names what it reads of the options as a
Protocol (:class:`WriterOptions`).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .annotate import aannotate, acomplete_requests
from .annotate_engine import seed_shift
from .cache import LabelCache
from .data import MAX_CHARS
from .errors import SxhubError, TeacherUnavailableError
from .generate_checks import check_cached, voters_error
from .generate_rounds import RoundOptions
from .prompt import InvalidAnswer
from .spec import Example, TaskSpec
from .synth import EmbedFn, near_duplicates, normalise_for_dedup, parse_text_reply, text_schema
from .teachers import Teacher

logger = logging.getLogger("sxhub.generate")  # the stage's logger, as before the split (the CLI's -v names it)

TEXT_KEY = "text"
SEED_STRIDE = 100_003


class WriterOptions(RoundOptions, Protocol):
    """What the writer reads of :class:`sxhub.generate.GenerateOptions`, on top of what the rounds read of it
    (:class:`~sxhub.generate_rounds.RoundOptions`): named here, not imported, so that this module does not import
    :mod:`sxhub.generate`, which imports it."""

    @property
    def examples_per_prompt(self) -> int: ...
    @property
    def style(self) -> str: ...
    @property
    def seed(self) -> int: ...
    @property
    def temperature(self) -> float: ...
    @property
    def max_similarity(self) -> float: ...


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
    language = _language_line(spec.language)
    if language:
        user.append(language)
    if examples:
        user.append("Real texts of this task, for tone and length only (do not copy them):")
        user += [f"- {ex.text}" for ex in examples]
    user.append("Invent your own details. Answer with the JSON object.")
    return [{"role": "system", "content": "\n".join(system)}, {"role": "user", "content": "\n".join(user)}]


def _language_line(language: str) -> str:
    """The line naming the task's ``language`` to write in (a task of ``language: de`` was written in English, its
    card declaring German); none for English, the default (its prompts, and their cached answers, as before), nor
    for ``multilingual`` or ``code``."""
    codes = [part.strip() for part in language.split(",") if part.strip()]
    if not codes or codes == ["en"] or set(codes) & {"multilingual", "code"}:
        return ""
    if len(codes) == 1:
        return f"Write the text in the language of code {codes[0]!r} (ISO 639, BCP 47)."
    return f"Write the text in one of the languages of codes {', '.join(repr(c) for c in codes)} (ISO 639, BCP 47)."


def request_seed(seed: int, k: int, round_no: int) -> int:
    """The seed of writing request ``k`` of round ``round_no`` under ``--seed``: ``k + SEED_STRIDE * round_no`` for
    ``--seed 0`` (as ever: earlier runs' caches answer it), moved by a multiplicative hash of any other ``--seed``
    (under 2**31, which every server takes). It was ``--seed + k``: ``--seed 2`` sent request k with the seed that
    ``--seed 0`` had sent request k + 2 (the same label, so the same prompt), and wrote the same texts again."""
    return (seed_shift(seed) + k + SEED_STRIDE * round_no) % 2**31


def examples_for(pool: Sequence[Example], label: str, k: int, offset: int) -> list[Example]:
    """Up to ``k`` examples, those of ``label`` first, rotated by ``offset`` so that prompts differ."""
    if not pool or k <= 0:
        return []
    ordered = [e for e in pool if label in e.labels] + [e for e in pool if label not in e.labels]
    start = offset % len(ordered)
    rotated = ordered[start:] + ordered[:start]
    return rotated[:k]


@dataclass
class Writer:
    """What every round of one run shares: the spec, who writes and votes, the options, the cache and the counters."""

    spec: TaskSpec
    teachers: list[Teacher]
    authors: list[Teacher]
    opts: WriterOptions
    encoder: EmbedFn
    pool: list[Example]
    store: LabelCache | None
    engine_args: dict[str, Any]
    samples: int | None
    dropped: dict[str, int]
    unreachable: list[TeacherUnavailableError] = field(default_factory=list)  # voters only the cache answers for
    ledgers: list[dict[str, Any]] = field(default_factory=list)
    written: list[dict[str, Any]] = field(default_factory=list)  # every text kept by the dedup, all rounds
    discarded: set[str] = field(default_factory=set)  # of those, the texts a round's vote dropped (--balance, ...)
    deadline: float | None = None  # time.monotonic() at --max-minutes: no writing request starts after it

    cut_short: bool = False  # --max-minutes stopped something still wanted: a round, or a round's requests
    sent: int = 0  # how many of the last round's planned requests were sent (fewer once --max-minutes passed)

    @property
    def to_save(self) -> list[dict[str, Any]]:
        """The written texts a stopped run saves for ``sxhub annotate``: those not dropped after a round's vote
        (over quota, under the agreement, no valid vote, a surplus). Saving those too made, once labelled, a file of
        more than ``--n`` texts, as unbalanced (or unsure) as the options were there to prevent."""
        return [row for row in self.written if row["text"] not in self.discarded]

    @property
    def timed_out(self) -> bool:
        """True once ``--max-minutes`` has passed: no round starts, and no writing request is sent, after it."""
        return self.deadline is not None and time.monotonic() >= self.deadline

    def stop_for_time(self) -> bool:
        """Whether ``--max-minutes`` stops a round that is still needed (ask it only then): it marks the run
        :attr:`cut_short`, which its ledger and summary say. A run that wrote every text before the cap, and whose
        vote ran past it, was said to have stopped at the cap."""
        if self.timed_out:
            self.cut_short = True
        return self.cut_short

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
                    examples=examples_for(self.pool, label, opts.examples_per_prompt, k),
                    style=opts.style,
                ),
                request_seed(opts.seed, k, round_no),
            )
            for k, topic, label in plan
        ]
        await check_cached(
            self.spec,
            self.authors,
            requests,
            schema=text_schema(TEXT_KEY),
            temperature=opts.temperature,
            store=self.store,
            unreachable=self.unreachable,
            written=bool(self.written),
        )
        try:
            replies, ledger = await acomplete_requests(
                self.spec,
                self.authors,
                requests,
                schema=text_schema(TEXT_KEY),
                temperature=opts.temperature,
                desc=f"generate (round {round_no + 1})",
                deadline=self.deadline,
                **self.engine_args,
            )
        except (SxhubError, KeyboardInterrupt) as exc:
            self.spent(exc)
            raise
        self.ledgers.append(ledger)
        self.sent = len(replies)
        if len(replies) < len(plan):  # --max-minutes: those asked before it
            self.cut_short = True
        plan, requests = plan[: len(replies)], requests[: len(replies)]
        prompts = ["\n".join(m["content"] for m in messages) for _, messages, _ in requests]
        fresh = _read_replies(plan, replies, self.authors, self.dropped, prompts, self.spec.label_names)
        reasons = near_duplicates(  # the seed examples too: a reworded seed example only copies real data
            [r["text"] for r in fresh],
            self.encoder,
            max_similarity=opts.max_similarity,
            against=[*(e.text for e in self.pool), *against],
        )
        self.dropped["duplicate"] += sum(bool(r) for r in reasons)
        kept = [row for row, why in zip(fresh, reasons, strict=True) if not why]
        self.written += kept
        return kept

    async def vote(self, texts: list[str]) -> Any:
        """The teachers' vote on ``texts`` (an AnnotateResult; its ledger is added to the run's)."""
        try:
            labelled = await aannotate(
                self.spec,
                texts,
                teachers=self.teachers,
                samples=self.samples,
                seed=self.opts.seed,
                cache=self.store if self.store is not None else False,
                **{k: v for k, v in self.engine_args.items() if k != "cache"},
            )
        except (SxhubError, KeyboardInterrupt) as exc:
            self.spent(exc)
            if not isinstance(exc, TeacherUnavailableError):
                raise
            if str(exc) not in {str(u) for u in self.unreachable}:  # not a voter that only the cache answers for
                raise
            raise voters_error(  # the cache held the texts, not every vote on them: the rerun needs the voters
                exc, "the cache holds the texts but not every vote on them (the votes it holds are kept)"
            ) from exc
        self.ledgers.append(labelled.ledger)
        return labelled

    def spent(self, exc: BaseException) -> None:
        """Count what a round's requests that stopped part-way had spent (``exc.sxhub_ledger``,
        :func:`sxhub.annotate.spent_so_far`): the run's ledger, and the saved texts' (:func:`sxhub.generate.
        stopped_ledger`), left out a vote that stopped half way, whose answers were paid for and are in the cache."""
        ledger = getattr(exc, "sxhub_ledger", None)
        if ledger is not None:
            self.ledgers.append(ledger)


# a reply whose text string never reached its closing quote: the writer's token budget stopped it mid-sentence (a
# server's finish_reason "length" at max_tokens; the tuned writer's budget, sxhub.teachers.synthetic_writer.CutText)
_CUT_RE = re.compile(r'\s*(?:```(?:json)?\s*)?\{\s*"' + TEXT_KEY + r'"\s*:\s*"(?:[^"\\]|\\.)*\\?\Z', re.DOTALL)

# a text that opens with a line of its prompt this long (the instruction) echoes it; a shorter one ("- positive",
# "Topic: banks.") may open a real text
ECHO_MIN_WORDS = 5


def _label_first(labels: Sequence[str]) -> re.Pattern[str]:
    """A text's start that is a label name (case and spacing ignored, as :func:`sxhub.label_names.label_key`
    matches labels), in markup or quotes or not, and then a colon or a dash and a space: ``Positive: ...``,
    ``**NEGATIVE** - ...``; not ``Positive earnings ...`` nor ``Positive-sum ...``."""
    names = sorted((r"\s+".join(map(re.escape, name.split())) for name in labels), key=len, reverse=True)
    return re.compile(rf"[\s*_\"'\[(]*(?:{'|'.join(names)})[\s*_\"'\])]*(?::|[-\u2013\u2014]+)\s", re.IGNORECASE)


def _copies_prompt(text: str, prompt: str, label_first: re.Pattern[str]) -> bool:
    """Whether ``text`` is its prompt's, not a new text: every word of it stands, in order, in the prompt (a seed
    example or the instruction handed back); it opens with a line of the prompt's instructions of
    :data:`ECHO_MIN_WORDS` words or more (echoed, a text of its own after it); or it opens with a label name and a
    colon or dash (the writer labelling its own text, :func:`_label_first`)."""
    words = normalise_for_dedup(text)
    if f" {words} " in f" {normalise_for_dedup(prompt)} ":
        return True
    for line in prompt.splitlines():
        if line.startswith("- "):  # a label, a seed example: the label check, and the near-duplicate check
            continue
        said = normalise_for_dedup(line)
        if len(said.split()) >= ECHO_MIN_WORDS and f"{words} ".startswith(f"{said} "):
            return True
    return label_first.match(text) is not None


def _read_replies(
    plan: list[tuple[int, str | None, str]],
    replies: list[Any],
    teachers: Sequence[Teacher],
    dropped: dict[str, int],
    prompts: Sequence[str],
    labels: Sequence[str],
) -> list[dict[str, Any]]:
    """The valid texts of ``replies``; a text that copies its own prompt (:func:`_copies_prompt`) is no new text
    and is dropped as ``copied_prompt``, one over :data:`~sxhub.data.MAX_CHARS` characters, which the vote
    cannot take, as ``too_long``, and a reply whose text string never closed (:data:`_CUT_RE`) as ``cut_off``."""
    label_first = _label_first(labels)
    rows = []
    for (k, topic, label), reply, prompt in zip(plan, replies, prompts, strict=True):
        if not hasattr(reply, "text"):
            dropped["failed"] += 1
            logger.info("generate: request %d failed: %s", k, reply)
            continue
        try:
            text = parse_text_reply(reply.text, TEXT_KEY)
        except InvalidAnswer:
            if _CUT_RE.match(reply.text or ""):  # cut mid-sentence: a runaway or unfinished text
                dropped["cut_off"] = dropped.get("cut_off", 0) + 1
                logger.info("generate: request %d's text was cut off at its token budget", k)
            else:
                dropped["invalid"] += 1
            continue
        if len(text) > MAX_CHARS:  # the vote refused the whole batch over it, after every text was written
            dropped["too_long"] = dropped.get("too_long", 0) + 1
            logger.info(
                "generate: request %d wrote %d characters, over the %d a text may have", k, len(text), MAX_CHARS
            )
            continue
        if _copies_prompt(text, prompt, label_first):
            dropped["copied_prompt"] += 1
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
