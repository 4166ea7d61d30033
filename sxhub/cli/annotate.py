"""``sxhub annotate``: label a table of texts with the task's teachers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import UserError
from ..spec import SERVER_KINDS
from . import check_pause_after, is_quiet, say, vote_option
from .params import OutputPath, only_applies, requires

if TYPE_CHECKING:
    from ..annotate import AnnotateResult
    from ..parts import PartsResult


def hold_ledger(out: Path, ctx: click.Context) -> Path:
    """``OUT``'s ledger file, held for this run: refused (one line, before any request) where it is the ledger of
    another output of the same stem (``-o x.csv`` beside ``x.parquet``: both are ``x.ledger.json``), or where another
    run writes it now. The second run replaced the first's ledger without a word: ``-o x.parquet`` after ``-o x.csv``
    (all cached) left a ledger of 0 requests and $0 for the run that paid, and ``x.csv`` no ledger at all."""
    from ..locks import OutputBusy, output_lock
    from ..tables import ledger_path, others_ledger

    ledger_file = ledger_path(out)
    fix = f"pass -o with another name before the suffix (e.g. {out.with_name(f'{out.stem}-2{out.suffix}')})"
    try:
        ctx.with_resource(output_lock(ledger_file))
    except OutputBusy:
        raise UserError(
            f"another sxhub annotate is writing {ledger_file} (the ledger of every -o {out.stem}.*): wait for it to "
            f"end, or {fix}."
        ) from None
    other = others_ledger(out)  # none, not annotate's, or its output gone: written over as before
    if other is not None:
        raise UserError(
            f"{ledger_file} is the ledger of {other}, and -o {out} would write over it (both outputs' ledger is "
            f"<stem>.ledger.json); {fix}, or move {other} and its ledger away first."
        )
    return ledger_file


@click.command("annotate")
@click.argument("task", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("input_", metavar="INPUT")
# OUT takes no OutputPath lock: the run locks OUT.parts/ (sxhub.parts.layout.locked), on shared storage too
@click.option("-o", "--out", type=OutputPath(path_type=Path, lock=False), help="Output file (.csv, .jsonl, .parquet).")
@click.option("--teacher", "teachers", multiple=True, help="Teacher: 'local', a Hub model id or a URL (repeatable).")
@click.option(
    "--server",
    type=click.Choice(SERVER_KINDS),
    help="The kind of server behind the teachers' base_url (default: detected from its routes).",
)
@click.option("--samples", type=click.IntRange(1, 64), help="Self-consistency samples per teacher and text.")
@vote_option
@click.option("--concurrency", type=click.IntRange(1, 512), default=8, show_default=True, help="Requests in flight.")
@click.option("--text-column", help="Column holding the texts (default: 'text' or a usual synonym).")
@click.option("--keep-column", "keep_columns", multiple=True, help="Input column to copy to the output (repeatable).")
@click.option("--limit", type=click.IntRange(1), help="Only the first N rows of INPUT (after --offset).")
@click.option("--offset", type=click.IntRange(0), default=0, help="Skip the first N rows of INPUT.")
@click.option("--shard", metavar="I/N", help="Only shard I of N (rows whose position is I modulo N), e.g. 0/4.")
@click.option("--split", default="train", show_default=True, help="Split of a Hub dataset INPUT (or INPUT:split).")
@click.option(
    "--engine",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="ray: label shards of INPUT as Ray tasks on a cluster (--address, $RAY_ADDRESS, `ray start`'s, else a local one).",
)
@click.option(
    "--address",
    help="With --engine ray: the Ray cluster to join (default $RAY_ADDRESS, else one `ray start` left running here "
    "that answers, else a local one for the run; local: always a new one).",
)
@click.option(
    "--shards", type=click.IntRange(1), default=16, show_default=True, help="With --engine ray: shards of INPUT."
)
@click.option(
    "--restart", is_flag=True, help="Start over when OUT.parts/ holds the parts of a run with other parameters."
)
@click.option(
    "--pause-after", is_flag=True, help="Pause the teachers' Inference Endpoints when the run ends (even on failure)."
)
@click.option(
    "--cache-dir",
    type=OutputPath(folder=True, path_type=Path, lock=False),
    help="Label cache (default $SXHUB_CACHE).",
)
@click.option("--no-preprocess", is_flag=True, help="Keep texts as they are (no PII masking or whitespace fixes).")
@click.option("--max-chars", type=click.IntRange(1), default=20_000, show_default=True, help="Longest text allowed.")
@click.option(
    "--dry-run", is_flag=True, help="Print an estimate of requests, tokens and cost on stdout; call no teacher."
)
@click.option("--json", "as_json", is_flag=True, help="Print the ledger as one JSON object on stdout.")
def annotate(
    task: Path,
    input_: str,
    out: Path | None,
    teachers: tuple[str, ...],
    server: str | None,
    samples: int | None,
    vote: str | None,
    concurrency: int,
    text_column: str | None,
    keep_columns: tuple[str, ...],
    limit: int | None,
    offset: int,
    shard: str | None,
    split: str,
    engine: str,
    address: str | None,
    shards: int,
    restart: bool,
    pause_after: bool,
    cache_dir: Path | None,
    no_preprocess: bool,
    max_chars: int,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Label INPUT (csv, tsv, jsonl, json, parquet, a Hub dataset id, or a .txt file of one text per line) with the
    teachers of TASK (a task YAML). Empty texts (empty lines of a .txt) are left out and counted (n_empty), as are
    repeated ones (n_duplicates). INPUT - (stdin) is read by --dry-run only: a run needs a file to resume from.

    Writes OUT with text, label (or labels), votes, agreement, failed and error columns, and the run's ledger
    (requests, cache hits, tokens, retries, cost) beside it as <stem>.ledger.json (so two outputs of one stem, x.csv
    and x.parquet, are refused in one folder). INPUT is read in chunks and
    each labelled chunk is committed to OUT.parts/ as it is done; OUT is assembled at the end. Finished answers
    are cached too, so a rerun after a crash resumes where it stopped, in memory that does not grow with INPUT.
    """
    from ..annotate import annotate as run_annotate
    from ..data import prepare_texts, read_table
    from ..spec import load_spec
    from ..stream import RowSlice, is_hub_source
    from . import emit_json

    requires("--address", "--engine ray", when=engine == "ray")
    requires("--shards", "--engine ray", when=engine == "ray")
    only_applies("--split", "to a Hub dataset INPUT (user/name)", "drop --split", when=is_hub_source(input_))
    named = input_.rpartition(":")[2]
    only_applies(
        "--split",
        f"when INPUT names no split (it ends in :{named})",
        f"drop --split, or :{named} from INPUT",
        when=":" not in input_,
    )
    if out is None and not dry_run:
        raise UserError("annotate needs -o OUT (e.g. -o labelled.jsonl), or --dry-run for an estimate.")
    if not dry_run:
        from ..parts import refuse_stdin

        refuse_stdin(input_)  # before an Inference Endpoint is resumed for the run
    spec = load_spec(task)
    if teachers:
        spec = spec.with_teachers(list(teachers))
    if server:
        spec = spec.with_server(server)
    if vote:
        spec = spec.with_vote(vote)
    check_pause_after(spec)
    rows = RowSlice.parse(offset=offset, limit=limit, shard=shard)
    if engine == "ray" and cache_dir is not None:
        raise UserError(
            "--engine ray keeps one label cache per shard (under OUT.parts/, so a rerun resumes on any node) and "
            "reads $SXHUB_CACHE where a node has it; leave out --cache-dir (SXHUB_CACHE=DIR reads the answers of "
            "an earlier run with --cache-dir DIR)."
        )
    if engine == "ray" and not dry_run:
        from ..distributed import ray_module

        ray_module()  # a missing sxhub[ray] is named before an Inference Endpoint is resumed for the run
    from ..tables import refuse_input_as_output

    refuse_input_as_output(out, input_, "-o")
    ctx = click.get_current_context()
    quiet = is_quiet()
    reading: dict[str, Any] = {
        "text_column": text_column,
        "keep_columns": keep_columns,
        "preprocess": spec.preprocess and not no_preprocess,
        "max_chars": max_chars,
    }
    result: AnnotateResult | PartsResult
    if dry_run:
        from ..data import check_text_values, find_text_column, raw_texts
        from ..errors import InputError
        from ..stream import is_lines_source

        frame = read_table(input_, rows=rows, split=split, lines=True)
        column = find_text_column(frame, text_column)
        if not is_lines_source(input_):  # ids (--text-column idx): refused as a run refuses them
            check_text_values(frame, column)
        # texts over --max-chars: a run fails their rows unasked, so the estimate counts them and plans no request
        chars = raw_texts(frame, column).map(len)
        over = chars > max_chars
        if len(frame) and over.all():
            raise InputError(
                f"--max-chars {max_chars} is below every text ({len(frame)} of {chars.min()} to {chars.max()} "
                f"characters), so a run would ask none; raise it (--max-chars {chars.max()} asks them all) or split "
                "the texts into passages."
            )
        prepared = prepare_texts(frame[~over], **{**reading, "max_chars": None})  # type: ignore[arg-type]
        result = run_annotate(spec, prepared, samples=samples, concurrency=concurrency, cache=cache_dir, dry_run=True)
        result.ledger.update(over_max_chars=int(over.sum()), max_chars=max_chars)
        ledger = dict(result.ledger)
    else:
        from ..endpoint_run import EndpointRun, format_endpoints
        from ..tables import writing_ledger

        assert out is not None
        ledger_file = hold_ledger(out, ctx)
        options: dict[str, Any] = {
            "samples": samples,
            "concurrency": concurrency,
            "rows": rows,
            "split": split,
            "restart": restart,
        }
        # pauses them with --pause-after, even when labelling fails; else an interruption says how to stop them
        with EndpointRun.of(spec.default_teachers(), pause_after=pause_after) as endpoints:
            # only a run with endpoints checks first whether it will ask anything (a pass over the input)
            wake = endpoints.start if endpoints.names else None
            if engine == "ray":
                from ..ray_annotate import annotate_ray

                # resumed before the shards run, not for a finished job run again (every shard complete)
                result = annotate_ray(
                    spec,
                    input_,
                    out,
                    address=address,
                    shards=shards,
                    progress=not quiet,
                    before_asking=wake,
                    **options,
                    **reading,
                )
            else:
                from ..parts import annotate_to_file

                # resumed before the first request, not for a finished job run again (its parts leave nothing to
                # ask): that woke a paused endpoint (billed, --pause-after paused it again) to only assemble OUT
                result = annotate_to_file(
                    spec,
                    input_,
                    out,
                    cache=cache_dir,
                    progress=not quiet,
                    before_asking=wake,
                    **options,
                    **reading,
                )
        used = endpoints.info
        ledger = dict(result.ledger)
        if used:
            ledger["endpoints"] = used
            say(format_endpoints(used))
        ledger["output"] = str(out)
        written = writing_ledger(input_)  # texts sxhub generate wrote: what writing them cost, for the card
        if written is not None:
            ledger["written"] = written
        ledger_file.write_text(json.dumps(ledger, indent=1, ensure_ascii=False, default=str), encoding="utf-8")
    if dry_run and not as_json:
        # the estimate is what a dry run was asked for: its result, on stdout as other verbs print theirs. On
        # stderr (say) it was lost under ``sxhub -q`` (the command printed nothing) and could not be piped.
        click.echo(result.summary_line())
    else:
        say(result.summary_line())
    if as_json:
        emit_json(ledger)
    if not dry_run:
        assert out is not None
        refuse_all_failed(ledger, out)


def refuse_all_failed(ledger: dict[str, Any], out: Path) -> None:
    """Exit 1 when no text got a label: a teacher that answered nothing (no token, a wrong model id) gave a file of
    failed rows and exit 0, and a script went on to train on nothing. The output is kept; a rerun asks again for the
    texts whose votes failed without an answer (an answer that was not a valid label is cached, and given again).
    Every text over ``--max-chars`` (none asked) is the user's limit, not a teacher's failure: exit 2, one line naming
    the limit and the texts' lengths (it said "every text failed", exit 1)."""
    n, failed = int(ledger.get("n_texts") or 0), int(ledger.get("failed_texts") or 0)
    if not n or failed < n:
        return
    over, lengths = int(ledger.get("over_max_chars") or 0), ledger.get("over_max_chars_lengths")
    if over >= n and lengths:  # a limit below every text: the user's option, not a teacher's failure (exit 2)
        from ..errors import InputError

        shortest, longest = lengths
        each = f"of {shortest} to {longest} characters" if longest > shortest else f"of {shortest} characters"
        raise InputError(
            f"--max-chars {ledger.get('max_chars')} is below every text ({n} {'texts' if n != 1 else 'text'} {each}), "
            f"so none was asked; raise it (--max-chars {longest} asks them all) or split the texts into passages, "
            f"then run again: a rerun into the same OUT asks only those texts; {out} keeps the failed rows."
        )
    from ..data import read_table
    from ..errors import TeacherError

    try:
        first = str(read_table(out, limit=1)["error"].iloc[0])
    except Exception:  # the reason is a courtesy: the count alone says what went wrong
        first = "see the error column"
    raise TeacherError(
        f"every text failed ({failed} of {n}); the first error: {first}. Fix that and run annotate again; {out} keeps the failed rows."
    )
