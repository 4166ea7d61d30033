"""Option types shared by the verbs: an output path is checked when the command line is read, before any work.

``-o fx/notes.txt/out.csv`` (a file where a folder must be) or ``-o`` in a folder nobody may write to ended, after the
whole run, in ``Error: NotADirectoryError: ...`` or ``PermissionError`` and exit 1: the teacher's labels or the
training were paid for and nothing was written. :class:`OutputPath` refuses such a path at once, as a usage error
(exit 2) that names the option, the part of the path in the way, and the fix.

:func:`requires` and :func:`only_applies` refuse, the same way, an option the user gave where it has no effect
(``--workers`` without ``--engine ray``, ``--search-minutes`` without ``--search``): it used to be ignored without a
word, and the user believed it had been applied.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource


def output_problem(path: str | os.PathLike[str], *, folder: bool) -> str | None:
    """Why ``path`` cannot be written as an output file (``folder=False``) or folder, or None when it can.

    Nothing is created: the path, or the nearest part of it that exists, is looked at. That part must be a folder
    this process may write to (a file may be replaced when it is writable; a folder may already exist). An existing
    path of the wrong kind (a file for a folder) is click.Path's to refuse, before this runs.
    """
    target = Path(path).expanduser()
    if target.exists():
        if not os.access(target, os.W_OK | (os.X_OK if folder else 0)):
            return f"{str(target)!r} is not writable; pass a path you can write to, or change its permissions."
        return None
    nearest = target.parent
    while not nearest.exists() and nearest != nearest.parent:
        nearest = nearest.parent
    if not nearest.is_dir():
        return (
            f"{str(nearest)!r} is a file, so {str(target)!r} cannot be made inside it; "
            "pass a path whose folders are folders."
        )
    if not os.access(nearest, os.W_OK | os.X_OK):
        return (
            f"the folder {str(nearest)!r} is not writable, so {str(target)!r} cannot be made; "
            "pass a path you can write to."
        )
    return None


class OutputPath(click.Path):
    """A ``click.Path`` for something the command writes: a file (default) or, with ``folder=True``, a folder.

    The command holds the output's lock (:func:`sxhub.locks.output_lock`) until it ends: a second command writing
    the same path meanwhile is refused at once. ``lock=False`` is for paths several runs use together on purpose (a
    label cache, the review app's append-only decisions) or that the command locks itself (``annotate -o``).
    ``allow_dash=True``: ``-`` is standard output, taken as it is (no file, no lock)."""

    def __init__(
        self, *, folder: bool = False, path_type: Any = None, lock: bool = True, allow_dash: bool = False
    ) -> None:
        super().__init__(file_okay=not folder, dir_okay=folder, path_type=path_type, allow_dash=allow_dash)
        self.folder = folder
        self.lock = lock

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if self.allow_dash and os.fsdecode(value) == "-":
            return value
        converted = super().convert(value, param, ctx)
        problem = output_problem(os.fsdecode(value), folder=self.folder)
        if problem is not None:
            self.fail(problem, param, ctx)
        if ctx is not None and self.lock:
            hold_output(os.fsdecode(value), ctx, lambda message: self.fail(message, param, ctx))
        return converted


def locks_output(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """A parameter callback: the command holds the lock of the path it writes into that is not an
    :class:`OutputPath` (``export``'s MODEL_DIR), as an OutputPath's command does."""

    def fail(message: str) -> None:
        raise click.BadParameter(message, ctx, param)

    if value is not None:
        hold_output(os.fsdecode(value), ctx, fail)
    return value


def hold_output(path: str, ctx: click.Context, fail: Any) -> None:
    """Take the lock of output ``path`` until ``ctx`` (the running command) ends, or ``fail`` with one line.

    Under torchrun or ``accelerate launch`` every process runs the command: rank 0 (the one that writes) locks."""
    from ..distributed import is_main_process
    from ..locks import OutputBusy, output_lock

    if not is_main_process():
        return
    try:
        ctx.with_resource(output_lock(path))
    except OutputBusy:
        fail(f"another sxhub command is writing {path!r}; wait for it to end, or pass another path.")


def threads_option(help_text: str) -> Any:
    """``--threads``, 1 to this machine's CPU count: 100000 ended in ``ImportError: failed to map segment`` (torch
    tried to start that many threads) and exit 1; more threads than CPUs only makes them wait for each other."""
    most = os.cpu_count() or 1
    return click.option("--threads", type=click.IntRange(1, most), help=f"{help_text}; at most this machine's CPUs.")


def resumable_after_option(help_text: str) -> Any:
    """``--resumable-after MINUTES`` (TrainConfig.resumable_after) of ``train`` and ``run``, with its default."""
    return click.option(
        "--resumable-after", metavar="MINUTES", type=click.FloatRange(min=0), default=1.0, show_default=True,
        help=help_text,
    )  # fmt: skip


def given(option: str) -> bool:
    """Whether the user gave ``option`` (spelled as on the command line, e.g. ``--workers``) to the running command:
    on the command line or through its environment variable, even with its default value; never its default."""
    ctx = click.get_current_context()
    param = next((p for p in ctx.command.params if option in p.opts or option in p.secondary_opts), None)
    if param is None or param.name is None:
        raise LookupError(f"{ctx.command.name} has no option {option}")  # a typo in the verb, not the user's input
    return ctx.get_parameter_source(param.name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)


def only_applies(option: str, where: str, fix: str, *, when: bool) -> None:
    """Refuse ``option`` when the user gave it where it has no effect (``when`` is false): one usage error line,
    exit 2, before any work. ``where`` completes "OPTION only applies ...", ``fix`` says what to change.

    ``--workers 8`` without ``--engine ray`` ran on one machine, and the user believed eight workers had run."""
    if not when and given(option):
        raise click.UsageError(f"{option} only applies {where}; {fix}.")


def requires(option: str, partner: str, *, when: bool) -> None:
    """:func:`only_applies` for an option that means something only together with ``partner`` (``--engine ray``):
    ``--workers only applies with --engine ray; add --engine ray, or drop --workers.``"""
    only_applies(option, f"with {partner}", f"add {partner}, or drop {option}", when=when)
