"""The ``sxhub`` command line: one verb per pipeline stage.

Each verb lives in its own module under ``sxhub/cli/`` and is imported only when it runs, so ``sxhub --help``
stays fast. Errors are turned into one line and an exit code here, in one place: 2 for a user error (bad input,
bad spec; the line names the fix), 1 for anything else, 130 for Ctrl-C. Data goes to stdout, logs and progress
bars to stderr.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import importlib
import importlib.util
import logging
import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterator, Sequence
from typing import Any, NoReturn

import click

from .. import __version__
from ..errors import SxhubError, UserError, one_line
from ..interrupts import Terminated, raise_terminated
from ..torch_threads import torch_threads_restored

# verb -> "module:attribute"; the module is imported only when the verb is used
COMMANDS: dict[str, str] = {
    "annotate": "sxhub.cli.annotate:annotate",
    "agree": "sxhub.cli.agree:agree",
    "doubts": "sxhub.cli.doubts:doubts",
    "train": "sxhub.cli.train:train",
    "tune": "sxhub.cli.tune:tune",
    "evaluate": "sxhub.cli.evaluate:evaluate",
    "predict": "sxhub.cli.predict:predict",
    "export": "sxhub.cli.export:export",
    "publish": "sxhub.cli.publish:publish",
    "space": "sxhub.cli.space:space",
    "run": "sxhub.cli.run:run",
    "twins": "sxhub.cli.synth:twins",
    "generate": "sxhub.cli.synth:generate",
    "insights": "sxhub.cli.insights:insights",
    "endpoint": "sxhub.cli.endpoint:endpoint",
    "review": "sxhub.cli.review:review",
    "apply-review": "sxhub.cli.review:apply_review",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        names = [n for n, target in COMMANDS.items() if importlib.util.find_spec(target.split(":")[0]) is not None]
        return sorted(set(names) | set(super().list_commands(ctx)))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, attr = target.split(":")
        if importlib.util.find_spec(module_name) is None:
            return None
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="sxhub")
@click.option("-v", "--verbose", count=True, help="More logging on stderr (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr, no progress bars.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """sxhub: make synthetic experts.

    An open LLM (the teacher) labels your texts, sxhub checks the labels, fine-tunes a small student on them and
    publishes dataset, model and Space on the Hugging Face Hub.
    """
    _verb[:] = [ctx.invoked_subcommand or ""]
    # what this sets up (logging, -q's switches) is put back when the command's context closes, however the group
    # was invoked: main(), click's CliRunner, or a program that embeds this group and calls it directly (a -q run
    # there left huggingface_hub's and transformers' bars off for the rest of the process)
    restore = contextlib.ExitStack()
    restore.enter_context(_logging_restored())
    restore.enter_context(_quiet_switches_restored())
    restore.enter_context(torch_threads_restored())  # --threads: torch's, for the whole process
    ctx.call_on_close(restore.close)
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if verbose < 2:  # one line per HTTP request is debugging detail, not information
        for noisy in NOISY_LOGGERS:
            logging.getLogger(noisy).setLevel(logging.WARNING)
    from huggingface_hub.utils import logging as hub_logging

    # huggingface_hub prints through a handler of its own and also passed every record on to ours: each of its
    # warnings (a retry, an unreachable Hub) came out twice, -q or not. Its own handler stays, at our level.
    hub_logging.disable_propagation()
    hub_logging.set_verbosity(logging.ERROR if quiet else logging.DEBUG if verbose >= 2 else logging.WARNING)
    if quiet:
        os.environ["TQDM_DISABLE"] = "1"
        os.environ["TRANSFORMERS_VERBOSITY"] = "error"  # transformers has its own handler: read when it is imported
        # transformers reads this switch of huggingface_hub's for its own bars when it is imported: "Loading
        # weights" is off from here on, whenever transformers comes in
        _hub_bars(off=True)
        if "transformers" in sys.modules:  # already imported (sxhub used as a library, then the CLI in-process)
            with warnings.catch_warnings():  # HF_HUB_DISABLE_PROGRESS_BARS=0 makes it warn; -q warns of nothing
                warnings.simplefilter("ignore")
                sys.modules["transformers"].logging.set_verbosity_error()
                # its tqdm read TQDM_DISABLE when tqdm was imported, before -q set it: "Loading weights" still drew
                sys.modules["transformers"].logging.disable_progress_bar()


def _hub_bars(*, off: bool) -> None:
    """Turn huggingface_hub's progress bars (its downloads and uploads, and transformers' at its import) off or on,
    unless HF_HUB_DISABLE_PROGRESS_BARS decides them; only where the switch is not already so."""
    from huggingface_hub import constants
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    if constants.HF_HUB_DISABLE_PROGRESS_BARS is None and are_progress_bars_disabled() != off:
        disable_progress_bars() if off else enable_progress_bars()


def is_quiet() -> bool:
    """True under ``sxhub -q`` (read from the group's context; False outside a command, as in a library call)."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.find_root().params.get("quiet"))


def say(line: str) -> None:
    """An informational line on stderr (a summary, what was written where, which endpoints ran): none under
    ``sxhub -q``, which promises only errors there. The verbs printed theirs with ``click.echo(..., err=True)``
    whatever -q said, so ``sxhub -q annotate`` still wrote "labelled 8/8 texts, ..." and a cron job that wanted
    silence on success got a line every run. A line that says work was lost or left out on a run that exits 0 is a
    warning: log it (``logger.warning``; -q shows none) and put its count in ``--json``."""
    if not is_quiet():
        click.echo(line, err=True)


# what a rerun of an interrupted verb does with the work it had done; every other verb leaves nothing half-written
RERUN = {
    "annotate": "finished work is kept: the same command resumes from OUT.parts/ and the label cache",
    "run": "the teachers' answers are kept: a rerun asks only what the label cache does not hold, then trains again",
    "twins": "the teachers' answers are kept: a rerun asks only what the cache does not hold",
    "generate": "the teachers' answers are kept: a rerun asks only what the cache does not hold",
}
_verb: list[str] = []  # the verb running (set by the group): what the interruption line says about a rerun
_stage: list[str] = []  # the stage of a verb with several (run) under way: the interruption line names it


def doing(stage: str) -> None:
    """Tell the interruption line which stage the running verb is in (``sxhub run``'s annotate, train, ...)."""
    _stage[:] = [stage]


def interrupted_line(word: str, exc: BaseException | None = None) -> str:
    """``Interrupted; ...`` / ``Terminated; ...`` saying what a rerun of the running verb does (and, for a verb of
    several stages, the stage it stopped in). Every verb said
    "finished work is kept (the label cache makes a rerun resume)", which is false for predict (its partial output
    is removed) and train (it starts over)."""
    verb = _verb[0] if _verb else ""
    what = getattr(exc, "sxhub_rerun", None) or RERUN.get(  # the work itself may say what it kept (train --search)
        verb, "nothing half-written is left and earlier outputs are untouched; a rerun starts over"
    )
    left = getattr(exc, "sxhub_left", None)  # what it left that a rerun must know of (a Hub repo it created)
    if left:
        what = f"{what}; {left}" if verb in RERUN else left
    return f"{word}{f' during {_stage[0]}' if _stage else ''}; {what}."


def _exit_terminated(exc: BaseException | None = None) -> NoReturn:
    click.echo(interrupted_line("Terminated", exc), err=True)
    sys.exit(128 + signal.SIGTERM)  # 143, as a shell reports a process SIGTERM ended


# what ``-q`` sets in os.environ for tqdm and transformers (read by each bar, and at transformers' import)
QUIET_ENV = ("TQDM_DISABLE", "TRANSFORMERS_VERBOSITY")
# the HTTP libraries' loggers, held at WARNING below -vv
NOISY_LOGGERS = ("httpx", "httpx2", "httpcore", "httpcore2", "urllib3", "filelock")


def main(argv: list[str] | None = None) -> Any:
    """Entry point of the ``sxhub`` console script. What ``-q`` switched off for tqdm and transformers is switched
    back when it returns: ``main(["-q", ...])`` in a test or a script left ``TQDM_DISABLE=1`` behind, and every bar
    of the process after it (another ``main`` without -q, the caller's own) was off. The group puts it back (with
    the logging) when its context closes, before ``_main`` prints an error line, so main needs no restore of its own."""
    previous = None
    # only where Python may handle signals, and only over the default: a program that runs sxhub keeps its own
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        return _main(argv)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _logging_restored() -> Iterator[None]:
    """The logging the CLI sets up (``basicConfig``'s handler and level on the root logger, the HTTP libraries'
    loggers at WARNING, huggingface_hub's level and its propagation turned off) is as it was when the block ends.
    ``main([...])`` in a notebook or a script left it behind: the caller's own ``logging.basicConfig`` then did
    nothing, and huggingface_hub's warnings stayed off after a ``-q`` run."""
    root = logging.getLogger()
    handlers, root_level = list(root.handlers), root.level
    loggers = [logging.getLogger(name) for name in (*NOISY_LOGGERS, "huggingface_hub")]
    states = [(lg.level, lg.propagate) for lg in loggers]
    try:
        yield
    finally:
        for handler in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(handler)
        root.setLevel(root_level)
        for lg, (level, propagate) in zip(loggers, states, strict=True):
            lg.setLevel(level)
            lg.propagate = propagate


@contextlib.contextmanager
def _quiet_switches_restored() -> Iterator[None]:
    """What ``-q`` switches off (its variables, transformers' level and bars, huggingface_hub's bars) is as it was
    when the block ends, an error exit too. transformers first imported inside it is left as a fresh import without
    -q would be: its level stayed at error, as TRANSFORMERS_VERBOSITY=error had been read at its import."""
    env = {name: os.environ.get(name) for name in QUIET_ENV}
    transformers = sys.modules.get("transformers")
    before = (
        (transformers.logging.get_verbosity(), transformers.logging.is_progress_bar_enabled())
        if transformers
        else None
    )
    tqdm_new = "tqdm.std" not in sys.modules  # first imported in the command: it reads -q's TQDM_DISABLE then
    hub_bars_off = False  # huggingface_hub's switch as a first import sets it (or HF_HUB_DISABLE_PROGRESS_BARS)
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import are_progress_bars_disabled

        hub_bars_off = are_progress_bars_disabled()
    try:
        yield
    finally:
        for name, value in env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if tqdm_new:
            _tqdm_default_as_fresh()
        _restore_bars(before, hub_bars_off)


def _tqdm_default_as_fresh() -> None:
    """tqdm's default ``disable`` as a fresh import in this environment sets it. tqdm reads ``TQDM_*`` variables
    once, at its import, into its ``__init__``'s defaults (``tqdm.utils.envwrap``): first imported during a -q
    command, it had read ``TQDM_DISABLE=1`` and every bar of the process after it (the caller's own, a later command
    without -q) was off, though the variable was gone. Only ``disable`` is put right: -q sets no other variable."""
    std = sys.modules.get("tqdm.std")
    if std is None:
        return
    init = vars(std.tqdm).get("__init__")
    if not isinstance(init, functools.partialmethod):  # a tqdm that does not read its variables so: nothing to undo
        return
    defaults = {k: v for k, v in init.keywords.items() if k != "disable"}
    if "TQDM_DISABLE" in os.environ:  # as envwrap converts it: the type of the parameter's default, bool
        defaults["disable"] = bool(os.environ["TQDM_DISABLE"])
    if defaults != init.keywords:
        std.tqdm.__init__ = functools.partialmethod(init.func, *init.args, **defaults)


def _restore_bars(before: tuple[int, bool] | None, hub_bars_off: bool) -> None:
    """transformers' level and bars, and huggingface_hub's bars, put back as ``before`` (or, for a transformers first
    imported since, as a fresh import without -q sets them)."""
    if "huggingface_hub" not in sys.modules:
        return  # so neither is transformers, which imports it
    with warnings.catch_warnings():  # HF_HUB_DISABLE_PROGRESS_BARS set makes either switch warn
        warnings.simplefilter("ignore")
        _hub_bars(off=hub_bars_off)
        transformers = sys.modules.get("transformers")
        if transformers is not None:
            from huggingface_hub.utils import are_progress_bars_disabled

            fresh_level = transformers.logging.get_log_levels_dict().get(
                os.environ.get("TRANSFORMERS_VERBOSITY", ""), logging.WARNING
            )
            verbosity, bars = before or (fresh_level, not are_progress_bars_disabled())  # read at its import
            transformers.logging.set_verbosity(verbosity)
            if transformers.logging.is_progress_bar_enabled() != bars:
                (transformers.logging.enable_progress_bar if bars else transformers.logging.disable_progress_bar)()
                _hub_bars(off=hub_bars_off)  # transformers' switch sets huggingface_hub's too


def _main(argv: list[str] | None) -> Any:
    _verb.clear()
    _stage.clear()
    try:
        return cli.main(args=argv, prog_name="sxhub", standalone_mode=False)
    except click.exceptions.Abort as exc:  # click turns Ctrl-C (and so SIGTERM) inside a command into Abort
        if isinstance(exc.__cause__, Terminated):
            _exit_terminated(exc.__cause__)
        if isinstance(exc.__cause__, KeyboardInterrupt):  # Ctrl-C: what a rerun does (it said "Aborted.")
            click.echo(interrupted_line("Interrupted", exc.__cause__), err=True)
            sys.exit(130)
        # "no" to a prompt: click's word and exit code (130 told a script the user had pressed Ctrl-C)
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except Terminated as exc:
        _exit_terminated(exc)
    except KeyboardInterrupt as exc:
        click.echo(interrupted_line("Interrupted", exc), err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except UserError as exc:
        click.echo(f"Error: {one_line(str(exc))}", err=True)
        sys.exit(2)
    except SxhubError as exc:
        click.echo(f"Error: {one_line(str(exc))}", err=True)
        sys.exit(1)
    except Exception as exc:  # the last resort: one line, the traceback only when asked for
        if os.environ.get("SXHUB_DEBUG"):
            raise
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:  # said "OSError: [Errno 28] Error writing ..."
            where = f" writing {os.fsdecode(exc.filename)!r}" if exc.filename else ""
            kept = RERUN.get(_verb[0] if _verb else "", "nothing half-written is left; a rerun starts over")
            click.echo(
                f"Error: no space left on the device{where}; free space there, or write the output to another disk "
                f"(-o), and run the command again ({kept}).",
                err=True,
            )
            sys.exit(1)
        if isinstance(exc, OSError) and exc.filename:  # a path the command line did not check (one inside a spec)
            click.echo(f"Error: {os_error_line(exc)}", err=True)
            sys.exit(1)
        click.echo(
            f"Error: {type(exc).__name__}: {one_line(str(exc))} (set SXHUB_DEBUG=1 for the traceback)", err=True
        )
        sys.exit(1)


def os_error_line(exc: OSError) -> str:
    """One line for a file the system refused: which path, why (strerror), and what to do about it."""
    paths = " -> ".join(repr(os.fsdecode(p)) for p in (exc.filename, exc.filename2) if p)
    why = exc.strerror or type(exc).__name__
    return (
        f"cannot use {paths}: {why}; check that the path exists, is a file or a folder as needed, and that you may "
        "write there; or pass another path."
    )


def vote_option(func: Any) -> Any:
    """``--vote``, the same on every command that labels (annotate, generate, run)."""
    from ..reliability import VOTE_METHODS  # when the command's module loads, not at ``sxhub --help``

    return click.option(
        "--vote",
        type=click.Choice(VOTE_METHODS),
        help="How votes become labels (default: the spec's vote, else majority); dawid-skene weighs teachers; "
        "scores averages label scores (a tuned teacher's most probable label).",
    )(func)


def min_agreement_option(func: Any) -> Any:
    """``--min-agreement``, the same on the commands that train a student (train, run)."""
    return click.option(
        "--min-agreement",
        type=click.FloatRange(0, 1, min_open=True),
        help="Train without the rows whose agreement (vote share, or confidence under vote: scores) is below this; "
        "rows without one (expert labels) are kept.",
    )(func)


def check_pause_after(spec: Any, writers: Sequence[Any] = ()) -> None:
    """``--pause-after`` (annotate, run, generate, twins) pauses the Inference Endpoints of the teachers (and of
    generate's ``writers``); refused when they name none, where it did nothing and the user believed some endpoint
    would stop charging."""
    from ..endpoint_run import endpoint_names
    from .params import only_applies

    only_applies(
        "--pause-after",
        "with an Inference Endpoint teacher (--teacher endpoint:NAME, or endpoint: NAME in the task spec)",
        "name one, or drop --pause-after",
        when=bool(endpoint_names([*spec.default_teachers(), *writers])),
    )


def emit_json(data: Any) -> None:
    """Print one JSON object on stdout (``--json``) and nothing else.

    Valid JSON whatever the figures: a NaN or an infinity (a score with nothing to score, a speed over no time) is
    ``null``, as RFC 8259 has no other way to write it (``json.dumps`` writes ``NaN``, which ``jq``, JavaScript and
    most other readers refuse); ``allow_nan=False`` makes one that got through an error rather than bad output."""
    import json

    click.echo(json.dumps(_finite(data), ensure_ascii=False, default=_json_default, allow_nan=False))


def _finite(value: Any) -> Any:
    """``value`` with every NaN and infinity in it (Python or numpy floats, in dicts, lists and arrays, pandas'
    NA and NaT) as None, and numpy arrays and scalars as plain lists and numbers."""
    import math
    import sys

    if isinstance(value, dict):
        return {_finite(k) if hasattr(k, "item") else k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy arrays and scalars, pandas Series
        plain = value.tolist()
        return plain if plain is value else _finite(plain)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    pandas = sys.modules.get("pandas")  # NA and NaT can only come from pandas, once it is imported
    if pandas is not None and (value is pandas.NA or value is pandas.NaT):
        return None
    return value


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    return str(value)
