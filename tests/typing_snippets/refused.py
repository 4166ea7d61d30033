"""Calls that fail at run time and that mypy --strict must refuse: each line marked ``# refused`` is one error, and
``tests/test_typing.py`` checks that mypy reports an error on exactly those lines.

One string where a list goes: a ``str`` is a ``Sequence[str]``, so these passed the check, and at run time they were
refused, or read letter by letter (teachers ``'h'``, ``'t'``...; kept columns ``'i'`` and ``'d'``). A name sxhub does
not export: its lazy module ``__getattr__`` made every name ``Any`` to mypy. Not run (it is mypy's input only).
"""

from __future__ import annotations

from sxhub import AgreeReprot, Predictor, RunConfig, TaskSpec  # refused
from sxhub.doubts import find_doubts
from sxhub.generate import GenerateOptions, generate
from sxhub.review_apply import apply_review
from sxhub.twins import make_twins

URL = "http://127.0.0.1:8080/v1"
figures: AgreeReprot | None = None

TaskSpec(name="fin", labels="positive")  # refused
spec = TaskSpec(name="fin", labels=["positive", "negative"])
TaskSpec(name="fin", labels=["positive", "negative"], teachers=URL)  # refused
RunConfig(keep_columns="id")  # refused
RunConfig(teachers=URL)  # refused
make_twins(spec, ["a text"], teachers=URL)  # refused
generate(spec, GenerateOptions(n=2), writers="local")  # refused
Predictor("student").predict("a text")  # refused
find_doubts("labelled.parquet", label_names="positive")  # refused
apply_review("labelled.parquet", {"row": 0, "labels": ["positive"]})  # refused
