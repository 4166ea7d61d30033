"""The options of ``sxhub run`` (:func:`sxhub.pipeline.run_pipeline`), in a module of their own so that the run's
checks and report can name them without importing the pipeline that imports them."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import InputError, UserError
from .sequences import SequenceNotStr, refuse_one_string


@dataclass
class RunConfig:
    """Options of ``sxhub run`` (everything else comes from the task spec)."""

    out: Path = Path("out")
    gold: str | None = None
    keep_columns: list[str] = field(default_factory=list)  # input columns the labelled dataset keeps (an id)
    text_column: str | None = None
    teachers: list[str] = field(default_factory=list)
    server: str | None = None  # the kind of server behind the teachers' base_url (None: detect it)
    samples: int | None = None
    vote: str | None = None  # how votes become labels (None: the spec's vote)
    concurrency: int = 8
    limit: int | None = None
    base_model: str | None = None
    backend: str = "local"
    epochs: float = 10.0  # a cap, as in TrainConfig: early stopping ends training once validation stops improving
    min_agreement: float | None = None  # train without the labelled rows below it (TrainConfig.min_agreement)
    min_steps: int = 100  # on small sets, epochs raised to this many optimizer steps (TrainConfig.min_steps)
    resumable_after: float = 1.0  # minutes before train's checkpoints can be resumed (TrainConfig.resumable_after)
    threads: int | None = None
    push: str | None = None  # a Hub namespace (user or org); None: write the repo folders under out/repos
    private: bool = False
    exist_ok: bool = False
    int8: bool = True
    retrain: bool = False  # train the student even when OUT/model holds one trained on the same rows and options
    cache_dir: str | None = None
    progress: bool = True
    cpu_usd_per_hour: float | None = None  # price of the machine the student runs on, for $ per million texts
    pause_after: bool = False  # pause the teachers' Inference Endpoints once annotate is done (sxhub.endpoints)
    on_stage: Callable[[str], None] | None = None  # told each stage's name as it starts (the CLI's Ctrl-C line)

    # for type checkers only (tests/test_typing.py): out may be a str or any path, __post_init__ makes it a Path; the
    # lists may be any sequence but one string (a tuple is a list; 'id' was kept as the columns 'i' and 'd')
    if TYPE_CHECKING:

        def __init__(
            self,
            out: str | os.PathLike[str] = ...,
            gold: str | None = ...,
            keep_columns: SequenceNotStr[str] = ...,
            text_column: str | None = ...,
            teachers: SequenceNotStr[str] = ...,
            server: str | None = ...,
            samples: int | None = ...,
            vote: str | None = ...,
            concurrency: int = ...,
            limit: int | None = ...,
            base_model: str | None = ...,
            backend: str = ...,
            epochs: float = ...,
            min_agreement: float | None = ...,
            min_steps: int = ...,
            resumable_after: float = ...,
            threads: int | None = ...,
            push: str | None = ...,
            private: bool = ...,
            exist_ok: bool = ...,
            int8: bool = ...,
            retrain: bool = ...,
            cache_dir: str | None = ...,
            progress: bool = ...,
            cpu_usd_per_hour: float | None = ...,
            pause_after: bool = ...,
            on_stage: Callable[[str], None] | None = ...,
        ) -> None: ...

    def __post_init__(self) -> None:
        from .train_config import plain_numbers

        plain_numbers(self)
        if not isinstance(self.out, (str, os.PathLike)):  # Path(None) was a TypeError traceback
            raise InputError(f"out={self.out!r} must be a folder path (a str or a pathlib.Path).")
        self.out = Path(self.out)
        for name in ("keep_columns", "teachers"):  # one string was read letter by letter: columns 'i' and 'd'
            value = getattr(self, name)
            items = "column names" if name == "keep_columns" else "teachers"
            refuse_one_string(name, value, items)
            if value is not None and not isinstance(value, Sequence):
                raise InputError(f"{name}= takes a list, got {value!r}.")
            odd = next((item for item in value or [] if not isinstance(item, str)), None)
            if odd is not None:
                raise InputError(f"{name}= takes a list of {items} (str), got {odd!r} in it.")
            setattr(self, name, list(value or []))
        if self.limit is not None and (
            not isinstance(self.limit, int) or isinstance(self.limit, bool) or self.limit < 1
        ):
            raise InputError(f"limit={self.limit!r} must be a positive integer.")
        for name in ("gold", "text_column", "base_model", "push"):  # a number went on as given, to fail far later
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                what = "a column name" if name in ("gold", "text_column") else "a name"
                raise InputError(f"{name}={value!r} must be {what} (a str) or None.")
        for name in ("private", "exist_ok", "int8", "retrain", "progress", "pause_after"):
            if not isinstance(getattr(self, name), bool):  # private='no' is true: the repos were made private
                raise InputError(f"{name}={getattr(self, name)!r} must be True or False.")
        self._check_options()

    def _check_options(self) -> None:
        """What the CLI's option types refuse, refused here for a Python caller: concurrency=0 and samples=0 were
        found out only once the input was read and the teachers' Inference Endpoints resumed, a bad server, vote or
        backend after the output folder was made, and cpu_usd_per_hour=-1 never (the cards priced the student
        below nothing). Each names the parameter (and the CLI's option)."""
        from .reliability import VOTE_METHODS
        from .spec import SERVER_KINDS
        from .train_config import BACKENDS, check_int, check_number

        check_int("concurrency", self.concurrency, low=1)
        if self.samples is not None:
            check_int("samples", self.samples, low=1)
            if self.samples > 64:
                raise UserError(f"samples={self.samples!r} must be an integer from 1 to 64 (option --samples).")
        for name, value, kinds in (
            ("backend", self.backend, BACKENDS),
            ("server", self.server, SERVER_KINDS),
            ("vote", self.vote, VOTE_METHODS),
        ):
            if value is not None and value not in kinds:
                raise UserError(f"{name}={value!r} is not one of {', '.join(kinds)} (option --{name}).")
        # as TrainConfig checks them (run_pipeline builds one from these), but when this config is built
        check_number("epochs", self.epochs, low=0, low_open=True, high=1000)
        if self.min_agreement is not None:
            check_number("min_agreement", self.min_agreement, low=0, low_open=True, high=1)
        check_int("min_steps", self.min_steps, low=0)
        check_number("resumable_after", self.resumable_after, low=0, high=10_000)
        if self.threads is not None:
            check_int("threads", self.threads, low=1)
        price = self.cpu_usd_per_hour
        if price is not None and not (
            isinstance(price, (int, float)) and not isinstance(price, bool) and 0 <= price < math.inf
        ):
            raise UserError(f"cpu_usd_per_hour={price!r} must be a number >= 0 (option --cpu-usd-per-hour).")
