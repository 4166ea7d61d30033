"""What ``sxhub generate`` refuses before a text is written (split out of :mod:`sxhub.generate`, which re-exports it).

* :func:`check_before_writing`: the teachers and writers can do the task, the writers can write, ``--balance`` has
  quotas, ``--samples`` is valid, and a voting teacher that no request can reach (:func:`unreachable_voters`) is
  refused without a cache.
* :func:`check_cached`: with such a voter and a cache, every round writes only the texts the cache holds (a rerun);
  a new text, whose vote the cache cannot hold either, is refused before it is written (:func:`voters_error`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from .annotate import resolve_samples, uncached_requests
from .cache import LabelCache
from .errors import InputError, TeacherUnavailableError, UserError
from .spec import TaskSpec
from .teachers import Teacher


class Options(Protocol):
    """What these checks read of :class:`sxhub.generate.GenerateOptions`: named here, not imported, so that this
    module does not import :mod:`sxhub.generate`, which imports it."""

    n: int
    balance: bool


def check_before_writing(
    spec: TaskSpec,
    options: Options,
    *,
    teachers: Sequence[Teacher],
    writers: Sequence[Teacher] | None,
    samples: int | None,
    cache: LabelCache | bool | None,
) -> list[TeacherUnavailableError]:
    """Every refusal due before a text is written; the voters no request can reach (answered from the cache only)."""
    if not teachers:
        raise UserError("generate: give at least one teacher.")
    for teacher in [*teachers, *(writers or [])]:  # before anything is written (the vote checks the voters again)
        teacher.check_task(spec)
    for author in writers or teachers:  # whoever writes the texts: the writers, else the teachers
        author.check_writer()
    unreachable = unreachable_voters(teachers)
    if unreachable and cache is False:
        raise voters_error(unreachable[0], "generate has the teachers label every text it writes, so it wrote none")
    check_balance(spec, options)
    resolve_samples(spec, samples)  # the vote reads it after every text is written: a bad one fails here, first
    return unreachable


def check_balance(spec: TaskSpec, options: Options) -> None:
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


def unreachable_voters(teachers: Sequence[Teacher]) -> list[TeacherUnavailableError]:
    """Why each voting teacher that no request can reach (on the Hub under HF_HUB_OFFLINE, no token) cannot be asked.
    The vote comes after the writing, which with a local ``--writer`` took minutes, and then stopped on the first
    request, every written text unsaved: without a cache such a voter is refused before a text is written, with one only
    the texts the cache holds are written (:func:`check_cached`), and their vote answered from it."""
    errors = []
    for teacher in teachers:
        try:
            teacher.check_callable()
        except TeacherUnavailableError as exc:
            errors.append(exc)
    return errors


def voters_error(exc: TeacherUnavailableError, why: str) -> TeacherUnavailableError:
    """``exc`` (a voter that cannot be asked), saying ``why`` generate stops and the way round."""
    fix = "fix that, or vote with teachers that can be called (--teacher, e.g. a `sxhub tune` folder)."
    error = TeacherUnavailableError(f"{str(exc).rstrip('.')}; {why}: {fix}")
    error.__cause__ = exc
    return error


async def check_cached(
    spec: TaskSpec,
    authors: Sequence[Teacher],
    requests: list[tuple[int, list[dict[str, str]], int]],
    *,
    schema: dict[str, Any],
    temperature: float,
    store: LabelCache | None,
    unreachable: Sequence[TeacherUnavailableError],
    written: bool,
) -> None:
    """With a voter no request can reach, write only texts the cache holds (a rerun): new texts, whose votes the
    cache cannot hold either, are refused before they are written (``written``: texts were kept by earlier rounds)."""
    if not unreachable or store is None:
        return
    missing = await uncached_requests(spec, authors, requests, schema=schema, temperature=temperature, cache=store)
    if missing:
        wrote, held = ("no more" if written else "none"), len(requests) - missing
        raise voters_error(
            unreachable[0],
            f"the cache holds {held or 'none'} of the {len(requests)} texts asked for next (a new text "
            f"has no cached vote), and generate has the teachers label every text it writes, so it wrote {wrote}",
        )
