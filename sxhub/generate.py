"""Synthetic data from topics: the teacher writes new texts for every label, then labels them blind.

1. A grid of (topic, label) cells (topics optional) is filled round-robin up to ``n`` requests; every request has
   its own seed and rotates through the seed examples and style notes, so the texts differ.
2. Exact and near duplicates (MiniLM cosine similarity above ``1 - min_distance``, also against earlier rounds
   and every seed example, so that a reworded seed example is no new text) are dropped, and so are texts copied
   from their own prompt (a seed example, the instruction); further rounds
   with new seeds top the set up to ``n``, asking the cells of the dropped texts again (at most ``max_rounds``; two
   rounds in a row that keep nothing stop).
3. Every kept text goes through :func:`sxhub.annotate.aannotate`: its ``label`` is the teachers' vote, not the label
   it was written for, which is kept as ``prompted_label``. A text whose votes all failed has no label.

``balance=True`` (``--balance``, single-label tasks) aims at about ``n / len(labels)`` texts per **voted** label,
and ``min_agreement`` (``--min-agreement``) keeps only texts whose vote reached that agreement: both vote on every
round as it is written and ask the next round for what is still short (:mod:`sxhub.generate_rounds`). Nothing pads a
shortfall; it is reported in the summary and a warning.

``writers`` (``--writer``) write the texts when given, e.g. a synthetic model from ``sxhub tune``, and the
``teachers`` only vote; without them the teachers take turns writing too.

:func:`export_rows` writes the result as a table (csv/jsonl/parquet), as chat messages JSONL
(``{"messages": [system, user, assistant]}``) or as prompt/completion JSONL, for fine-tuning LLMs.
"""

from __future__ import annotations

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

from .cache import LabelCache
from .data import write_table
from .errors import InputError, SxhubError
from .generate_checks import check_balance as check_balance  # re-exported: the CLI checks --balance before reading
from .generate_checks import check_before_writing
from .generate_checks import unreachable_voters as unreachable_voters  # re-exported, as before the split
from .generate_rounds import (
    AGREEMENT_COLUMNS,
    BALANCE_STALL_ROUNDS,
    ROUNDS_MAX,
    balanced_rounds,
    confident_rounds,
    kept_frame,
    voted_rows,
)
from .generate_writer import Writer
from .generate_writer import generation_messages as generation_messages  # re-exported, as before the split
from .ledger import cached_note, format_cost, format_tokens, merge_ledgers, unique_names
from .prompt import answer_example, system_prompt
from .sequences import SequenceNotStr, refuse_one_string
from .spec import Example, TaskSpec, TeacherSpec, load_spec
from .synth import Embedder, EmbedFn, MemoEmbed, check_threshold, cli_option
from .teachers import Teacher

logger = logging.getLogger(__name__)

FORMATS = ("csv", "jsonl", "parquet", "chat", "completion")
DEFAULT_MAX_ROUNDS = 3
# the most texts one run writes: a round's requests are built before the first is sent (about 1.2 kB each) and
# every text is compared with every earlier one, in memory; --n 10000000 took GBs and never sent a request
MAX_N = 100_000


@dataclass
class GenerateOptions:
    """What to write and how varied it must be; checks itself."""

    n: int
    topics: list[str] = field(default_factory=list)
    seed_examples: list[Example] = field(default_factory=list)
    style: str = ""
    temperature: float = 1.0
    min_distance: float = 0.1
    max_rounds: int | None = None  # None: DEFAULT_MAX_ROUNDS, or ROUNDS_MAX with balance or min_agreement
    examples_per_prompt: int = 3
    seed: int = 0
    balance: bool = False  # about n / len(labels) texts per voted label (single-label tasks)
    min_agreement: float | None = None  # keep only texts whose vote reached this agreement, writing until n do
    max_minutes: float | None = None  # no writing request starts after this; what was written by then is voted on

    def __post_init__(self) -> None:
        if not isinstance(self.n, int) or self.n < 1:
            raise InputError(f"n={self.n!r} must be a positive integer (option --n).")
        if self.n > MAX_N:
            raise InputError(
                f"n={self.n!r} (option --n) is above the {MAX_N:,} texts one generate run writes (it holds a round's "
                f"requests and compares every text with every other in memory); write them in runs of at most "
                f"{MAX_N:,}, each with its own --seed, and concatenate the outputs."
            )
        refuse_one_string("topics", self.topics, "topics")  # taken letter by letter, "banks" was b, a, n, k, s
        check_threshold("temperature", self.temperature, high=2.0)
        check_threshold("min_distance", self.min_distance, high=2.0)
        if self.min_agreement is not None:
            check_threshold("min_agreement", self.min_agreement, high=1.0)
            if self.min_agreement <= 0:
                raise InputError(
                    f"min_agreement={self.min_agreement!r} (option --min-agreement) must be above 0 (1 keeps only "
                    "unanimous votes); leave it out to keep every text."
                )
        if self.max_minutes is not None:
            check_threshold("max_minutes", self.max_minutes, high=10_000.0)
            if self.max_minutes <= 0:
                raise InputError(
                    f"max_minutes={self.max_minutes!r} (option --max-minutes) must be above 0; leave it out to write "
                    "until --n texts are kept."
                )
        if self.max_rounds is None:
            self.max_rounds = ROUNDS_MAX if self.balance or self.min_agreement is not None else DEFAULT_MAX_ROUNDS
        if not isinstance(self.max_rounds, int) or self.max_rounds < 1:
            raise InputError(f"max_rounds={self.max_rounds!r} must be a positive integer {cli_option('max_rounds')}.")
        self.topics = [t.strip() for t in self.topics if t and t.strip()]

    @property
    def max_similarity(self) -> float:
        return 1.0 - self.min_distance

    @property
    def rounds(self) -> int:
        """``max_rounds`` resolved (an int after ``__post_init__``)."""
        return int(self.max_rounds or DEFAULT_MAX_ROUNDS)


@dataclass
class GenerateResult:
    frame: pd.DataFrame  # text, label(s), prompted_label, topic, teacher, votes, agreement, failed, error
    ledger: dict[str, Any]
    dropped: dict[str, int]  # why generated texts were dropped: invalid replies, duplicates (balance: over_quota, ...)
    balance: dict[str, Any] | None = None  # balance mode: quota, counts, short, hit_rate, rounds, given_up
    agreement: dict[str, Any] | None = (
        None  # min_agreement mode: kept, rounds, requests, reach_rate, highest, given_up
    )
    spec: TaskSpec | None = field(default=None, repr=False)  # the task written for: chat/completion records need it

    def write(self, path: str | os.PathLike[str], *, fmt: str | None = None) -> Path:
        """Write :attr:`frame` to ``path`` as ``sxhub generate -o OUT [--format FMT]`` does (:func:`export_rows`: a
        table by its extension, or chat/completion JSONL of the labelled rows): a table gets its
        ``<stem>.ledger.json`` beside it, this run's ledger (requests, tokens, cost), a CSV/TSV's naming its list and
        dict columns (:func:`sxhub.tables.carry_ledger`), which ``publish dataset`` reads for the card's cost table, as it
        does a twins or annotate file's. A ``<stem>.ledger.json`` of another output of the same stem, or a bad
        name for ``fmt``, is refused in one line (:class:`InputError`) before anything is written.
        ``write_table(result.frame, "gen.csv")`` wrote no ledger, nor did the CLI."""
        from .tables import carry_ledger, refuse_others_ledger

        kind = export_format(path, fmt)
        if kind in {"chat", "completion"}:  # JSONL records, no ledger: not a table publish dataset reads
            if self.spec is None:
                raise InputError(
                    f"writing {kind} records needs the task's prompt, and this GenerateResult holds no spec: set "
                    "result.spec to the TaskSpec it was generated for, then write again."
                )
            return export_rows(self.spec, self.frame, path, kind)
        refuse_others_ledger(path, tail="-generated")
        out = write_table(self.frame, path)
        carry_ledger(None, out, self.frame, ledger=self.ledger)
        return out

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
        if self.agreement is not None:
            out["min_agreement"] = self.agreement
        return out

    def summary_line(self) -> str:
        s, led = self.summary(), self.ledger
        match = "n/a" if s["label_matches_prompt"] is None else f"{s['label_matches_prompt']:.0%}"
        return (
            f"generated {s['n']} {'text' if s['n'] == 1 else 'texts'} ({s['failed']} unlabelled; vote = prompted label for {match}); "
            f"{self._balance_note()}{self._agreement_note()}dropped {self.dropped}; "
            f"{led['stopped'] + '; ' if led.get('stopped') else ''}"
            f"{led['requests']} requests ({led['cached']} from cache), "
            f"{format_tokens(led)}, "
            f"estimated cost {format_cost(led['cost_usd'])}{cached_note(led)}"
        )

    def _agreement_note(self) -> str:
        a = self.agreement
        if a is None:
            return ""
        rate = "n/a" if a["reach_rate"] is None else f"{a['reach_rate']:.0%}"
        return (
            f"{a['kept']} reached agreement {a['min_agreement']:g} after {a['rounds']} rounds ({a['requests']} "
            f"written, {rate} reached it); "
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
# the (topic, label) grid (the prompts and the writer: sxhub.generate_writer)
# ------------------------------------------------------------------------------------------------------------------
def grid(spec: TaskSpec, topics: Sequence[str]) -> list[tuple[str | None, str]]:
    """Every (topic, label) cell once, ordered so that any first ``n`` cells spread over the labels and the topics
    alike (counts within one); one cell per label without topics.

    Cell ``k`` is label ``k % L`` and topic ``(k + k // lcm(T, L)) % T``: the shift by the block number reaches
    the pairs that ``k % T`` alone skips when T and L share a factor. Topics outer (every label of the first topic,
    then of the second...) left every topic past the first ``n / L`` unwritten: 10 topics and ``--n 9`` over 3
    labels wrote about 3 of them, without a word.
    """
    labels = spec.label_names
    outer: list[str | None] = list(topics) or [None]
    block = math.lcm(len(outer), len(labels))
    return [(outer[(k + k // block) % len(outer)], labels[k % len(labels)]) for k in range(len(outer) * len(labels))]


# ------------------------------------------------------------------------------------------------------------------
# the stage
# ------------------------------------------------------------------------------------------------------------------
async def agenerate(
    spec: TaskSpec | str | os.PathLike[str],
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
    """Write about ``options.n`` new texts with the open ``teachers`` and label them by vote (module docstring).

    A voting teacher that no request can reach is refused before a text the cache does not hold is written (its vote
    cannot be cached either): a rerun of a run is answered from the cache, and a vote that the cache cannot answer
    stops it, the texts written so far kept. An error (or Ctrl-C) after texts were written carries them, unlabelled,
    as ``exc.sxhub_written`` (a frame of failed rows; not the texts a round's vote dropped): the CLI saves it.
    ``spec`` is a :class:`TaskSpec` or the path of its YAML."""
    spec = load_spec(spec, name="spec")
    unreachable = check_before_writing(spec, options, teachers=teachers, writers=writers, samples=samples, cache=cache)
    start = time.perf_counter()
    store = cache if isinstance(cache, LabelCache) else (LabelCache() if cache is not False else None)
    run = Writer(
        spec=spec,
        teachers=list(teachers),
        authors=list(writers) if writers else list(teachers),
        opts=options,
        encoder=MemoEmbed(embed if embed is not None else Embedder()),  # every round compares with the same texts
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
        dropped={"invalid": 0, "failed": 0, "copied_prompt": 0, "duplicate": 0},
        unreachable=unreachable,
        deadline=None if options.max_minutes is None else time.monotonic() + 60 * options.max_minutes,
    )
    balance = agreement = None
    try:
        if options.balance:
            frame, balance = await balanced_rounds(run)
        elif options.min_agreement is not None:
            frame, agreement = await confident_rounds(run, grid(spec, options.topics))
        else:
            frame = await _plain(run)
    except (SxhubError, KeyboardInterrupt) as exc:  # Ctrl-C too: the texts written so far go with the error
        if run.to_save:  # not those a round's vote dropped (--balance, --min-agreement)
            exc.sxhub_written = unvoted_frame(spec, run.to_save, exc)  # type: ignore[union-attr]
            exc.sxhub_written_ledger = stopped_ledger(run, time.perf_counter() - start, exc)  # type: ignore[union-attr]
        raise
    finally:
        if store is not None and not isinstance(cache, LabelCache):
            store.close()
    ledger = merge_ledgers(*run.ledgers)
    ledger["seconds"] = round(time.perf_counter() - start, 2)
    ledger.update(
        writers=unique_names([t.name for t in run.authors]), voters=unique_names([t.name for t in run.teachers])
    )
    if run.cut_short:  # as a stopped run's ledger says why it stopped (stopped_ledger)
        ledger["stopped"] = time_cap_note(options)
    return GenerateResult(
        frame=frame, ledger=ledger, dropped=run.dropped, balance=balance, agreement=agreement, spec=spec
    )


def time_cap_note(options: GenerateOptions) -> str:
    """Why a run that reached ``--max-minutes`` kept fewer texts: its ledger's ``stopped`` and the summary's words."""
    return (
        f"stopped by the time cap after {options.max_minutes:g} min (--max-minutes): no text was asked for after it; "
        "the texts written by then were voted on and kept"
    )


def unvoted_frame(spec: TaskSpec, rows: Sequence[dict[str, Any]], exc: BaseException) -> pd.DataFrame:
    """The written ``rows`` as generate's output frame, unlabelled (``failed``, ``error`` saying why): what a vote
    that stopped (a teacher that cannot be called, Ctrl-C) leaves to label with ``sxhub annotate``."""
    col = spec.label_column
    why = f"not labelled: {type(exc).__name__ if isinstance(exc, KeyboardInterrupt) else str(exc)}"
    unvoted = [{**row, col: None, "votes": None, "agreement": None, "failed": True, "error": why} for row in rows]
    return kept_frame(unvoted, col)


def stopped_ledger(run: Writer, seconds: float, exc: BaseException) -> dict[str, Any]:
    """The ledger of a run that stopped after it wrote texts (:func:`unvoted_frame`): what its requests cost so far
    (the writing, and the rounds voted on before it stopped), who wrote the texts and who was to vote, how many it
    wrote and why it stopped. The saved texts had none, while every other file sxhub writes has one: ``publish
    dataset`` and a later run could not tell whose they were, nor what writing them had cost. A vote (or a round of
    writing) that stopped half way is in it too (:meth:`Writer.spent`): its answers were paid for, and are in the
    cache, where the next run finds them."""
    ledger = merge_ledgers(*run.ledgers)
    written = len(run.to_save)
    ledger.update(
        seconds=round(seconds, 2),
        n_texts=written,
        failed_texts=written,
        writers=unique_names([t.name for t in run.authors]),
        voters=unique_names([t.name for t in run.teachers]),
        stopped=type(exc).__name__ if isinstance(exc, KeyboardInterrupt) else str(exc),
    )
    return ledger


async def _plain(run: Writer) -> pd.DataFrame:
    """Top the texts up to ``n`` over the (topic, label) grid, then label them all by vote. A top-up round asks the
    cells of the texts the last round dropped: it asked the grid's next cells after the kept ones, so a label (or
    topic) whose texts were dropped (duplicates, cut off) stayed short while others got more."""
    opts, spec = run.opts, run.spec
    cells = grid(spec, opts.topics)
    wanted = [cells[j % len(cells)] for j in range(opts.n)]  # the cells still to write, in the grid's order
    kept: list[dict[str, Any]] = []
    rounds = barren = 0
    for round_no in range(opts.rounds):
        need = opts.n - len(kept)
        if need <= 0 or barren >= BALANCE_STALL_ROUNDS or run.stop_for_time():
            break
        rounds += 1
        base = opts.n * round_no if round_no else 0
        plan = [(base + len(kept) + j, *cell) for j, cell in enumerate(wanted[:need])]
        fresh = await run.write(plan, round_no, [r["text"] for r in kept])
        written = {row["seed"] for row in fresh}  # a row's seed is its request k
        wanted = [(topic, label) for k, topic, label in plan if k not in written]
        # as --balance and --min-agreement stop: a writer that repeats itself wrote --n requests a round for every
        # one of --max-rounds rounds to keep nothing more
        barren = 0 if fresh else barren + 1
        kept += fresh
    kept = kept[: opts.n]
    labelled = await run.vote([r["text"] for r in kept]) if kept else None
    frame = _frame(spec, kept, labelled)
    if len(frame) < opts.n:
        stalled = f", stopped after {barren} rounds in a row that kept none" if barren >= BALANCE_STALL_ROUNDS else ""
        stalled += f", stopped at --max-minutes {opts.max_minutes:g}" if run.cut_short else ""
        logger.warning(
            "generate: %d of %d texts after %d rounds%s (%s dropped)", len(frame), opts.n, rounds, stalled, run.dropped
        )
    return frame


def _frame(spec: TaskSpec, kept: list[dict[str, Any]], labelled: Any) -> pd.DataFrame:
    col = spec.label_column
    if not kept:
        return pd.DataFrame(columns=["text", col, "prompted_label", "topic", "teacher", *AGREEMENT_COLUMNS])
    return kept_frame(voted_rows(kept, labelled, col), col)


def generate(
    spec: TaskSpec | str | os.PathLike[str],
    options: GenerateOptions,
    *,
    teachers: SequenceNotStr[Teacher | TeacherSpec | str] | None = None,
    writers: SequenceNotStr[Teacher | TeacherSpec | str] | None = None,
    embed: EmbedFn | None = None,
    samples: int | None = None,
    concurrency: int = 8,
    cache: LabelCache | bool | None = None,
    progress: bool = True,
    max_retries: int = 4,
    backoff: float = 1.0,
) -> GenerateResult:
    """Synchronous :func:`agenerate` (the same options) with teachers and ``writers=`` opened from specs (teachers
    default to the spec's; no writers: the teachers write); :class:`Teacher` objects are used as they are. Nothing
    is written: :meth:`GenerateResult.write` writes the result as ``sxhub generate -o`` does, a CSV's ledger too."""
    from contextlib import nullcontext

    from .teachers import teachers_for

    task = load_spec(spec, name="spec")  # a TaskSpec or its YAML, as annotate and run_pipeline take

    async def run() -> GenerateResult:
        async with (
            teachers_for(task, teachers) as voters,
            teachers_for(task, writers, name="writers") if writers else nullcontext(None) as authors,
        ):
            return await agenerate(
                task,
                teachers=voters,
                options=options,
                writers=authors,
                embed=embed,
                samples=samples,
                concurrency=concurrency,
                cache=cache,
                progress=progress,
                max_retries=max_retries,
                backoff=backoff,
            )

    from .sync import run_sync

    fix = "`await agenerate(spec, teachers=teachers, options=options)` in `async with teachers_for(spec) as teachers:`"
    return run_sync(run, name="generate", fix=fix + " (sxhub.teachers.teachers_for)")


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
    """The format to write: ``fmt`` if given, else from the extension (``.jsonl`` -> jsonl table). Chat and
    completion records are JSONL and need a ``.jsonl`` name: written to ``out.csv`` or ``out.parquet`` they made a
    file that its own extension's reader cannot open. A table format needs its own extension (``-o out.csv
    --format parquet`` was refused only by the export, after every text was written and voted on)."""
    suffix = Path(path).suffix.lower().lstrip(".")
    if fmt:
        if fmt not in FORMATS:
            raise InputError(f"--format {fmt!r} is not one of {list(FORMATS)}.")
        if fmt in {"chat", "completion"} and suffix != "jsonl":
            raise InputError(
                f"--format {fmt} writes JSONL lines, but the output {str(path)!r} does not end in .jsonl; "
                f"name it e.g. {(Path(path).stem or 'out') + '.jsonl'!r}."
            )
        if fmt not in {"chat", "completion"} and suffix != fmt:  # checked before any request, not after the run
            raise InputError(
                f"--format {fmt} needs an output name ending in .{fmt}, got {str(path)!r}; name it e.g. "
                f"{(Path(path).stem or 'out') + '.' + fmt!r}, or leave --format out."
            )
        return fmt
    if suffix in {"csv", "jsonl", "parquet"}:
        return suffix
    raise InputError(f"output {str(path)!r}: use a .csv, .jsonl or .parquet name, or pass --format.")


def export_rows(spec: TaskSpec, frame: pd.DataFrame, path: str | os.PathLike[str], fmt: str | None = None) -> Path:
    """Write ``frame`` as a table, or (chat/completion) as JSONL of the labelled rows; failed rows are left out."""
    kind = export_format(path, fmt)
    path = Path(path)
    if kind in {"csv", "jsonl", "parquet"}:
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
