"""Calls a Python user writes against sxhub's API. ``tests/test_typing.py`` checks that mypy --strict finds no error
here (a label list of names, teachers as URLs and mappings, ``RunConfig(out="run")`` were refused: the fields were
declared as what ``__post_init__`` makes of them) and that it runs, asserting what each call normalises to.
``make_twins`` and ``generate`` are called with their options by keyword (they took ``**kwargs: Any``: a misspelt
option passed the check), and ``agree`` scores a DataFrame as ``sxhub agree --json`` scores a file.

Not a test module (pytest collects only ``test_*.py``); nothing here needs a teacher, a model or the network.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sxhub import (
    AgreeReport,
    Example,
    GenerateOptions,
    Label,
    RunConfig,
    RunReport,
    TaskSpec,
    TeacherSpec,
    TwinOptions,
    agree,
    run_pipeline,
)
from sxhub.generate import GenerateResult, generate
from sxhub.twins import TwinsResult, make_twins

URL = "http://127.0.0.1:8080/v1"

names = ["positive", "negative"]  # a list[str] variable, not a literal: list is invariant
by_name = TaskSpec(name="fin", labels=names)
as_tuple = TaskSpec(name="fin", labels=("positive", "negative"))
mixed = TaskSpec(name="fin", labels=[Label("positive", "good news"), "negative", {"name": "neutral"}])
described = TaskSpec(name="fin", labels={"positive": "good news", "negative": "bad news"})
taught = TaskSpec(
    name="fin",
    labels=names,
    teachers=[{"base_url": URL, "server": "vllm"}, "local", TeacherSpec(model="local", name="second")],
    examples=[Example("Profit rose.", "positive"), {"text": "Sales fell.", "labels": ["negative"]}],
)
urls = [URL]
swapped = by_name.with_teachers(urls)
one = by_name.with_teachers(URL)

# the fields read back as what __post_init__ made of them
assert [lab.name for lab in by_name.labels] == names and by_name.labels == as_tuple.labels
assert [(lab.name, lab.description) for lab in mixed.labels] == [
    ("positive", "good news"),
    ("negative", ""),
    ("neutral", ""),
]
assert described.labels[1].description.upper() == "BAD NEWS"
assert [t.name for t in taught.teachers] == [f"teacher@{URL}", "local", "second"] and taught.teachers[
    0
].server == "vllm"
assert [ex.labels for ex in taught.examples] == [["positive"], ["negative"]]
assert [t.base_url for t in swapped.teachers] == [URL] == [t.base_url for t in one.teachers]

config = RunConfig(out="run", teachers=urls, epochs=3)
assert isinstance(config.out, Path) and config.out / "model" == Path("run", "model")
assert RunConfig(out=Path("run")).out == config.out
kept = RunConfig(keep_columns=("id",), teachers=(URL,))  # any sequence of names: stored as a list
assert kept.keep_columns == ["id"] and kept.teachers == urls


def stage_seconds(report: RunReport) -> dict[str, float]:
    """Each stage's seconds, from what run_pipeline returns (also report.json's content)."""
    return {stage: float(figures["seconds"]) for stage, figures in report["stages"].items()}


def run(texts: str) -> tuple[str, list[str], dict[str, float]]:
    """Not called here (it runs every stage): mypy checks how its result is read."""
    report = run_pipeline(taught, texts, config)
    return report["task"], report["labels"], stage_seconds(report)


def twins(texts: list[str]) -> TwinsResult:
    """Not called here (it asks the teachers): mypy checks make_twins' options."""
    options = TwinOptions(focal_brand="Acme", min_similarity=0.7)
    return make_twins(taught, texts, teachers=urls, options=options, samples=3, cache=False, progress=False)


def written(tuned: str) -> GenerateResult:
    """Not called here: generate's options, the teachers voting on what a tuned model writes."""
    options = GenerateOptions(n=100, topics=["banks", "retail"], balance=True)
    return generate(
        taught, options, teachers=[URL, "local"], writers=[tuned], samples=1, concurrency=4, progress=False
    )


labelled = pd.DataFrame(
    {
        "text": ["Profit rose.", "Sales fell.", "Costs rose.", "Orders grew."],
        "label": ["positive", "negative", "positive", "positive"],  # the teachers'
        "expert": ["positive", "negative", "negative", "positive"],
    }
)
figures: AgreeReport = agree(labelled, gold="expert", task=by_name)
assert (figures["n"], figures["accuracy"], figures["labels"]) == (4, 0.75, names)
assert figures.get("confusion_matrix") == [[2, 0], [1, 1]] and figures.get("reliability") is None  # no votes column
