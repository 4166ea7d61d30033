"""Synthetic Twins: rewrite real texts so they keep their meaning and labels but name nobody real.

For each text (Ringel 2023, "Synthetic Experts"):

1. PII is masked (``sxhub.data.mask_pii``) and a focal brand may be replaced by a fixed placeholder (``SynFcl``).
2. The teachers label the masked original (:func:`sxhub.annotate.aannotate`), so the rewrite prompt can name the
   task-relevant content to keep.
3. A teacher rewrites it: same idea, tone and task-relevant content; different people, brands, places, handles and
   wording. Teachers take turns over the texts (a synthetic model from ``sxhub tune`` only votes: it never learned to
   rewrite); an unreadable reply is asked again with a new seed.
4. The teachers label the twin, and every twin is checked; the checks are kept as columns:

   * ``similarity``: cosine similarity of original and twin (MiniLM); below ``min_similarity`` the meaning is lost;
   * ``leaked``: handles, URLs, e-mails, phone numbers, long numbers, capitalised names and the focal brand of the
     original still in the twin (the placeholder excepted); ``shared_ngrams``: word 5-grams copied from it; a twin
     with the original's very words (any case or spacing) is flagged ``copy of the original``;
   * ``label_kept``: the twin's label equals the original's.

   A twin that fails a check is kept with ``ok=False`` and the reasons in ``flags``; a twin that could not be
   written (or labelled) is ``failed=True`` with the ``error``, and never gets a label.

Requests go through the annotate engine: the same bounded concurrency, retries with backoff, cache (a rerun is
free, a killed run resumes) and ledger.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .annotate import aannotate, acomplete_requests
from .annotate_engine import seed_shift
from .cache import LabelCache
from .data import MAX_CHARS, check_frame_text_values, find_text_column, raw_texts
from .errors import InputError, TeacherError, UserError
from .ledger import cached_note, format_cost, format_tokens, merge_ledgers
from .prompt import InvalidAnswer
from .sequences import SequenceNotStr, refuse_one_string
from .spec import TaskSpec, TeacherSpec, load_spec
from .synth import (
    Embedder,
    EmbedFn,
    check_threshold,
    cli_option,
    identity_tokens,
    leaked_identity,
    normalise_for_dedup,
    pair_similarity,
    parse_text_reply,
    protect_brand,
    shared_ngrams,
    text_schema,
)
from .teachers import Reply, Teacher

logger = logging.getLogger(__name__)

TWIN_KEY = "twin"
SEED_STRIDE = 1000


def request_seed(seed: int, row: int, attempt: int) -> int:
    """The seed of row ``row``'s rewrite on try ``attempt`` under ``--seed``: ``row + SEED_STRIDE * attempt`` for
    ``--seed 0`` (as ever: earlier runs' caches answer it), moved by :func:`sxhub.annotate_engine.seed_shift` of any
    other ``--seed``, as generate and annotate move theirs. It was ``--seed + row``: ``--seed 1`` sent row i's rewrite
    with the seed ``--seed 0`` had sent row i + 1's, the same request where the two rows hold the same text."""
    return (seed_shift(seed) + row + SEED_STRIDE * attempt) % 2**31


@dataclass
class TwinOptions:
    """How twins are written and checked; checks itself."""

    focal_brand: str | None = None
    placeholder: str | None = None
    min_similarity: float = 0.6
    max_shared_ngrams: int = 0
    ngram: int = 5
    min_number_digits: int = 3
    temperature: float = 0.7
    max_invalid: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        check_threshold("min_similarity", self.min_similarity, low=-1.0)
        check_threshold("temperature", self.temperature, high=2.0)
        for name in ("max_shared_ngrams", "max_invalid", "min_number_digits"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                flag = f" {cli_option(name)}" if name == "max_shared_ngrams" else ""  # the others are Python only
                raise InputError(f"{name}={getattr(self, name)!r} must be an integer >= 0{flag}.")
        if not isinstance(self.ngram, int) or self.ngram < 2:
            raise InputError(f"ngram={self.ngram!r} must be an integer >= 2.")
        if self.focal_brand and not self.placeholder:
            self.placeholder = "SynFcl"
        if self.placeholder and (not self.placeholder.strip("@").isalnum()):
            raise InputError(f"placeholder {self.placeholder!r} must be one word of letters/digits, e.g. SynFcl.")


@dataclass
class TwinsResult:
    """One row per input text (``frame``) and the ledger of every request (rewrites and labels)."""

    frame: pd.DataFrame
    ledger: dict[str, Any]
    n_empty: int = 0  # input rows without a text (empty, NaN): left out, no twin

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write :attr:`frame` to ``path`` (by its extension) as ``sxhub twins -o`` does: it gets its
        ``<stem>.ledger.json`` beside it, this run's ledger (requests, tokens, cost), a CSV/TSV's naming its list and dict columns
        (``json_columns``: ``flags``, ``leaked``, an input's column of lists kept beside each twin), so that
        ``publish dataset`` reads them back as the lists a Parquet file holds and gives the card its cost table
        (:func:`sxhub.tables.carry_ledger`); a ``<stem>.ledger.json`` of another output of the same stem is refused in
        one line (:class:`InputError`) before anything is written. ``write_table(result.frame, "twins.csv")`` wrote
        no ledger, and such a column was published as JSON text."""
        from .tables import carry_ledger, refuse_others_ledger, write_table

        refuse_others_ledger(path, tail="-twins")
        out = write_table(self.frame, path)
        carry_ledger(None, out, self.frame, ledger=self.ledger)
        return out

    def summary(self) -> dict[str, Any]:
        frame = self.frame
        flagged = frame[~frame["ok"] & ~frame["failed"]]
        counts: dict[str, int] = {}
        for flags in flagged["flags"]:
            for flag in flags:
                kind = flag.split(" (")[0].split(":")[0]
                counts[kind] = counts.get(kind, 0) + 1
        return {
            "n": len(frame),
            "n_empty": self.n_empty,
            "ok": int(frame["ok"].sum()),
            "flagged": len(flagged),
            "failed": int(frame["failed"].sum()),
            "flag_counts": counts,
            "mean_similarity": _mean(frame["similarity"]),
            "label_kept": _mean(frame["label_kept"].dropna().astype(float)),
            "ledger": self.ledger,
        }

    def summary_line(self) -> str:
        s = self.summary()
        led = s["ledger"]
        empty = (
            f" ({s['n_empty']} row{'s' if s['n_empty'] > 1 else ''} without a text left out)" if s["n_empty"] else ""
        )
        return (
            f"twinned {s['n']} texts{empty}: {s['ok']} ok, {s['flagged']} flagged {s['flag_counts']}, {s['failed']} failed; "
            f"{led['requests']} requests ({led['cached']} from cache), {format_tokens(led)}, "
            f"estimated cost {format_cost(led['cost_usd'])}{cached_note(led)}"
        )


def _mean(values: pd.Series) -> float | None:
    values = pd.to_numeric(values, errors="coerce").dropna()
    return round(float(values.mean()), 4) if len(values) else None


# ------------------------------------------------------------------------------------------------------------------
# prompts
# ------------------------------------------------------------------------------------------------------------------
def twin_messages(spec: TaskSpec, text: str, labels: Sequence[str] | None, opts: TwinOptions) -> list[dict[str, str]]:
    """Chat messages asking for the Synthetic Twin of ``text`` (already masked)."""
    label_lines = "\n".join(
        f"- {lab.name}: {lab.description}" if lab.description else f"- {lab.name}" for lab in spec.labels
    )
    keep = [
        "You rewrite social media posts and short texts into 'Synthetic Twins' for privacy-safe research.",
        "A twin keeps the idea, the tone, the sentiment and everything that matters for the task below, "
        "but changes every identifying detail: other people's names, other brands, other places, other @handles, "
        "other numbers, and new wording (do not copy phrases of five or more words).",
        "Keep the placeholders URL, EMAIL, PHONE and @user as they are.",
    ]
    if opts.placeholder:
        keep.append(f"The brand {opts.placeholder} is a placeholder: keep it exactly as written.")
    keep += [
        "",
        f"Task: {spec.description or spec.name}",
        "Labels of the task:",
        label_lines,
        "",
        'Answer with one JSON object {"twin": "<the rewritten text>"} and nothing else.',
    ]
    user = f"Text: {text}\n"
    if labels is not None:
        shown = ", ".join(labels) if labels else "none of the labels"
        user += f"Its labels: {shown}. The twin must have the same labels.\n"
    user += "\nWrite its Synthetic Twin as JSON."
    return [{"role": "system", "content": "\n".join(keep)}, {"role": "user", "content": user}]


# ------------------------------------------------------------------------------------------------------------------
# checks
# ------------------------------------------------------------------------------------------------------------------
def twin_flags(
    raw_original: str,
    masked_original: str,
    twin: str,
    *,
    similarity: float | None,
    original_labels: Any,
    twin_labels: Any,
    opts: TwinOptions,
) -> tuple[list[str], list[str], int, bool | None]:
    """The checks of one twin: ``(flags, leaked, shared_ngrams, label_kept)``; no flags means ok."""
    flags: list[str] = []
    tokens = identity_tokens(
        raw_original,
        min_number_digits=opts.min_number_digits,
        keep=[opts.placeholder] if opts.placeholder else [],
        brands=[opts.focal_brand] if opts.focal_brand else [],
    )
    leaked = leaked_identity(tokens, twin)
    shared = shared_ngrams(masked_original, twin, n=opts.ngram)
    if similarity is not None and similarity < opts.min_similarity:
        flags.append(f"meaning lost (similarity {similarity:.2f} < {opts.min_similarity})")
    if leaked:
        flags.append(f"identity kept: {', '.join(leaked)}")
    if _copy_key(twin) in {_copy_key(masked_original), _copy_key(raw_original)}:
        flags.append("copy of the original")  # a short text handed back shares no 5-gram and passed every check
    elif shared > opts.max_shared_ngrams:
        flags.append(f"wording copied ({shared} shared {opts.ngram}-grams)")
    label_kept: bool | None = None
    if original_labels is None or twin_labels is None:
        flags.append("label not checked (a labelling failed)")
    else:
        label_kept = _as_set(original_labels) == _as_set(twin_labels)
        if not label_kept:
            flags.append(f"label changed ({_show(original_labels)} -> {_show(twin_labels)})")
    return flags, leaked, shared, label_kept


def _copy_key(text: str) -> str:
    """``text`` as the copy check compares it: its words, any case or spacing; a text without a word (emoji,
    punctuation) as written, whitespace aside: every emoji-only twin had the empty key of its emoji-only original, and
    "👌" for "👍" was flagged a copy."""
    return normalise_for_dedup(text) or " ".join(text.split())


def _as_set(labels: Any) -> frozenset[str]:
    return frozenset(labels) if isinstance(labels, (list, tuple)) else frozenset([labels])


def _show(labels: Any) -> str:
    return "[" + ", ".join(labels) + "]" if isinstance(labels, (list, tuple)) else str(labels)


# ------------------------------------------------------------------------------------------------------------------
# the stage
# ------------------------------------------------------------------------------------------------------------------
async def _rewrite(
    spec: TaskSpec,
    teachers: Sequence[Teacher],
    masked: list[str],
    original_labels: list[Any],
    opts: TwinOptions,
    engine_args: dict[str, Any],
) -> tuple[list[str], list[str], list[str], list[dict[str, Any]]]:
    """Twins (``""`` where none), the teacher of each, errors, and the ledgers; unreadable replies re-asked."""
    n = len(masked)
    twins, errors = [""] * n, [""] * n
    owner = [teachers[i % len(teachers)].name for i in range(n)]
    ledgers = []
    todo = list(range(n))
    for attempt in range(opts.max_invalid + 1):
        if not todo:
            break
        requests = [
            (
                i % len(teachers),
                twin_messages(spec, masked[i], _labels_list(original_labels[i]), opts),
                request_seed(opts.seed, i, attempt),
            )
            for i in todo
        ]
        replies, ledger = await acomplete_requests(
            spec,
            teachers,
            requests,
            schema=text_schema(TWIN_KEY),
            temperature=opts.temperature,
            desc="twins",
            **engine_args,
        )
        ledgers.append(ledger)
        retry = []
        for i, reply in zip(todo, replies, strict=True):
            errors[i], twins[i], again = _read_twin(reply)
            if again:
                retry.append(i)
        todo = retry
    return twins, owner, errors, ledgers


def _read_twin(reply: Reply | TeacherError) -> tuple[str, str, bool]:
    """(error, twin, ask again?) of one reply."""
    if isinstance(reply, TeacherError):
        return str(reply), "", False
    try:
        return "", parse_text_reply(reply.text, TWIN_KEY), False
    except InvalidAnswer as exc:
        return f"invalid rewrite: {exc}", "", True


def _labels_list(label: Any) -> list[str] | None:
    if label is None:
        return None
    return list(label) if isinstance(label, (list, tuple)) else [label]


def _refuse_one_string(data: object) -> None:
    # a str is a sequence of texts to mypy, where pandas is Any: each letter was rewritten
    refuse_one_string("data", data, "texts (or a DataFrame)")


async def amake_twins(
    spec: TaskSpec | str | os.PathLike[str],
    data: pd.DataFrame | SequenceNotStr[str],
    *,
    teachers: Sequence[Teacher],
    options: TwinOptions | None = None,
    text_column: str | None = None,
    embed: EmbedFn | None = None,
    samples: int | None = None,
    concurrency: int = 8,
    cache: LabelCache | bool | None = None,
    progress: bool = True,
    max_retries: int = 4,
    backoff: float = 1.0,
) -> TwinsResult:
    """Write and check one Synthetic Twin per text of ``data`` with open ``teachers`` (see the module docstring).

    Output columns: the input's other columns, ``original`` (masked), ``text`` (the twin), the twin's label column
    (``label``/``labels``), ``original_label(s)``, ``similarity``, ``leaked``, ``shared_ngrams``, ``label_kept``,
    ``ok``, ``flags``, ``teacher``, ``votes``, ``agreement``, ``failed`` and ``error``. ``spec`` is a
    :class:`TaskSpec` or the path of its YAML.
    """
    spec = load_spec(spec, name="spec")
    _refuse_one_string(data)
    opts = options or TwinOptions()
    if not teachers:
        raise UserError("twins: give at least one teacher.")
    # a synthetic model (sxhub tune) labels and votes, but never learned to rewrite a text: the others write the twins
    rewriters = [t for t in teachers if t.rewrites]
    if not rewriters:
        names = ", ".join(repr(t.name) for t in teachers)
        raise UserError(
            f"twins: {names} learned to label texts and to write new ones, not to rewrite a given text; add a teacher "
            "that follows instructions (a Hub model id or a server URL) with --teacher: it writes the twins, and the "
            "synthetic model still votes on their labels."
        )
    frame = pd.DataFrame({"text": list(data)}) if not isinstance(data, pd.DataFrame) else data.reset_index(drop=True)
    column = find_text_column(frame, text_column)
    # ids (--text-column id) are not texts to rewrite: refused as train refuses them, before the columns' clash
    check_frame_text_values(frame, column, text_column)
    _check_input_columns(spec, frame, column)
    # a cell that writes a missing value ("None", "nan", pd.NA) is no text, as the vote on the originals reads it: kept
    # here, the labels no longer lined up with the texts (an IndexError)
    raw_all = raw_texts(frame, column).tolist()
    _check_lengths(raw_all, column)
    keep = [bool(t.strip()) for t in raw_all]
    if not any(keep):
        raise InputError(f"column {column!r} holds no text; check --text-column.")
    n_empty = keep.count(False)
    if n_empty:
        logger.warning("twins: %d rows without a text left out", n_empty)
        frame = frame[keep].reset_index(drop=True)
    raw = [t for t, k in zip(raw_all, keep, strict=True) if k]
    masked = [
        " ".join(protect_brand(t, focal_brand=opts.focal_brand, placeholder=opts.placeholder).split()) for t in raw
    ]
    start = time.perf_counter()
    store = cache if isinstance(cache, LabelCache) else (LabelCache() if cache is not False else None)
    engine_args: dict[str, Any] = {
        "cache": store,
        "concurrency": concurrency,
        "progress": progress,
        "max_retries": max_retries,
        "backoff": backoff,
    }
    label_args: dict[str, Any] = {
        **engine_args,
        "teachers": list(teachers),
        "samples": samples,
        "seed": opts.seed,
        "cache": store if store is not None else False,
    }
    try:
        originals = await aannotate(spec, masked, **label_args)
        original_labels = originals.frame[spec.label_column].tolist()
        twins, owner, errors, ledgers = await _rewrite(spec, rewriters, masked, original_labels, opts, engine_args)
        written = [i for i, t in enumerate(twins) if t]
        twin_result = await aannotate(spec, [twins[i] for i in written], **label_args) if written else None
    finally:
        if store is not None and not isinstance(cache, LabelCache):
            store.close()
    out = _twin_frame(
        spec,
        frame,
        column,
        raw,
        masked,
        twins,
        owner,
        errors,
        original_labels,
        written,
        twin_result,
        opts,
        embed if embed is not None else Embedder(),
    )
    ledger = merge_ledgers(originals.ledger, *ledgers, *([twin_result.ledger] if twin_result else []))
    ledger["seconds"] = round(time.perf_counter() - start, 2)
    return TwinsResult(frame=out, ledger=ledger, n_empty=n_empty)


def _check_lengths(texts: Sequence[str], column: str) -> None:
    """Refuse, before any request, a text longer than the vote takes, naming its row of the input: the vote refused it
    with the row counted after the empty texts were left out, and with annotate's --max-chars, which twins has not."""
    for row, text in enumerate(texts):
        if len(text) > MAX_CHARS:
            raise InputError(
                f"row {row} of column {column!r} has {len(text):,} characters (limit {MAX_CHARS:,}); a twin rewrites "
                "a short text: split long documents into passages first."
            )


def twin_columns(spec: TaskSpec) -> list[str]:
    """The columns twins writes beside the input's own (:func:`_twin_frame`)."""
    col = spec.label_column
    return [
        "original", "text", col, f"original_{col}", "similarity", "leaked", "shared_ngrams", "label_kept", "flags",
        "ok", "teacher", "votes", "agreement", "failed", "error",
    ]  # fmt: skip


def _check_input_columns(spec: TaskSpec, frame: pd.DataFrame, text_column: str) -> None:
    """Refuse, before a teacher is asked, input columns twins would overwrite: an expert ``label`` column was
    silently replaced by the twins' teacher labels (as ``annotate`` refuses, :func:`check_kept_columns`)."""
    clash = [c for c in frame.columns if c != text_column and c in twin_columns(spec)]
    if clash:
        raise InputError(
            f"input column(s) {clash} would be overwritten by what twins writes ({', '.join(twin_columns(spec))}); "
            "rename them in the input (e.g. an expert 'label' column to 'gold')."
        )


def _twin_frame(
    spec: TaskSpec,
    frame: pd.DataFrame,
    column: str,
    raw: list[str],
    masked: list[str],
    twins: list[str],
    owner: list[str],
    errors: list[str],
    original_labels: list[Any],
    written: list[int],
    twin_result: Any,
    opts: TwinOptions,
    embed: EmbedFn,
) -> pd.DataFrame:
    """The output rows: kept input columns, the twin, its labels and votes, and the checks."""
    n, col = len(raw), spec.label_column
    twin_labels: list[Any] = [None] * n
    votes: list[Any] = [[] for _ in range(n)]
    agreement: list[Any] = [None] * n
    if twin_result is not None:
        tf = twin_result.frame
        for row, i in enumerate(written):
            twin_labels[i], votes[i], agreement[i] = (
                tf[col].iloc[row],
                tf["votes"].iloc[row],
                tf["agreement"].iloc[row],
            )
            if tf["failed"].iloc[row]:
                errors[i] = f"twin not labelled: {tf['error'].iloc[row]}"
    sims = pair_similarity(embed, [masked[i] for i in written], [twins[i] for i in written])
    similarity: list[float | None] = [None] * n
    for i, s in zip(written, sims, strict=True):
        similarity[i] = s
    rows: list[dict[str, Any]] = []
    for i in range(n):
        if not twins[i]:
            rows.append({"flags": [f"no twin: {errors[i]}"], "leaked": [], "shared_ngrams": None, "label_kept": None})
            continue
        flags, leaked, shared, kept = twin_flags(
            raw[i],
            masked[i],
            twins[i],
            similarity=similarity[i],
            original_labels=original_labels[i],
            twin_labels=twin_labels[i],
            opts=opts,
        )
        rows.append({"flags": flags, "leaked": leaked, "shared_ngrams": shared, "label_kept": kept})
    out = frame.drop(columns=[column]).copy()
    out["original"] = masked
    out["text"] = twins
    out[col] = pd.Series(twin_labels, dtype=object)
    out[f"original_{col}"] = pd.Series(original_labels, dtype=object)
    out["similarity"] = similarity
    for key in ("leaked", "shared_ngrams", "label_kept", "flags"):
        out[key] = [r[key] for r in rows]
    out["ok"] = [not r["flags"] for r in rows]
    out["teacher"] = owner
    out["votes"] = votes
    out["agreement"] = agreement
    out["failed"] = [not twins[i] or twin_labels[i] is None for i in range(n)]
    out["error"] = [errors[i] if out["failed"].iloc[i] else "" for i in range(n)]
    return out


def make_twins(
    spec: TaskSpec | str | os.PathLike[str],
    data: pd.DataFrame | SequenceNotStr[str],
    *,
    teachers: SequenceNotStr[Teacher | TeacherSpec | str] | None = None,
    options: TwinOptions | None = None,
    text_column: str | None = None,
    embed: EmbedFn | None = None,
    samples: int | None = None,
    concurrency: int = 8,
    cache: LabelCache | bool | None = None,
    progress: bool = True,
    max_retries: int = 4,
    backoff: float = 1.0,
) -> TwinsResult:
    """Synchronous :func:`amake_twins` (the same options) with teachers opened from ``teachers=`` specs (default: the
    spec's); :class:`Teacher` objects among them are used as they are and left open. Nothing is written:
    :meth:`TwinsResult.write` writes the result as ``sxhub twins -o`` does, a CSV's ledger too."""
    from .teachers import teachers_for

    task = load_spec(spec, name="spec")  # a TaskSpec or its YAML, as annotate and run_pipeline take
    _refuse_one_string(data)  # before a teacher opens

    async def run() -> TwinsResult:
        async with teachers_for(task, teachers) as opened:
            return await amake_twins(
                task,
                data,
                teachers=opened,
                options=options,
                text_column=text_column,
                embed=embed,
                samples=samples,
                concurrency=concurrency,
                cache=cache,
                progress=progress,
                max_retries=max_retries,
                backoff=backoff,
            )

    from .sync import run_sync

    fix = "`await amake_twins(spec, data, teachers=teachers)` in `async with teachers_for(spec) as teachers:`"
    return run_sync(run, name="make_twins", fix=fix + " (sxhub.teachers.teachers_for)")
