"""The public API is what __all__ says, and importing sxhub has no side effects."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import sxhub


def test_all_names_exist_and_nothing_else_is_public() -> None:
    for name in sxhub.__all__:
        assert getattr(sxhub, name) is not None, name
    public = {n for n in dir(sxhub) if not n.startswith("_")} - {"annotations", "importlib", "TYPE_CHECKING", "Any"}
    modules = {n for n in public if type(getattr(sxhub, n)).__name__ == "module"}
    assert public - modules == set(sxhub.__all__) - {"__version__"}


def test_type_checkers_see_each_lazy_name_and_no_other() -> None:
    # a module __getattr__ seen by mypy made any name Any (`from sxhub import AgreeReprot` passed the check): mypy
    # reads the imports under TYPE_CHECKING instead, and they must name what __getattr__ serves (its home included)
    import ast
    from pathlib import Path

    tree = ast.parse(Path(sxhub.__file__ or "").read_text(encoding="utf-8"))
    (guard,) = [n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"]
    seen = {a.name: (n.module or "") for n in guard.body if isinstance(n, ast.ImportFrom) for a in n.names}
    assert seen == dict(sxhub._LAZY)
    assert [ast.unparse(n)[:15] for n in guard.orelse] == ["def __getattr__"]
    assert "__getattr__" not in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert sxhub.TwinOptions.__module__ == "sxhub.twins" and sxhub.GenerateOptions.__module__ == "sxhub.generate"


def test_import_is_light_and_has_no_side_effects() -> None:
    code = (
        "import logging, os, sys, warnings; env = dict(os.environ); n = len(warnings.filters);"
        "import sxhub; assert dict(os.environ) == env; assert len(warnings.filters) == n;"
        "assert not logging.getLogger().handlers;"
        "heavy = [m for m in ('torch', 'transformers', 'datasets') if m in sys.modules]; print(heavy or 'ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


def test_cli_version_and_unknown_verb() -> None:
    from click.testing import CliRunner

    from sxhub.cli import cli

    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and sxhub.__version__ in result.output
    result = CliRunner().invoke(cli, ["no-such-verb"])
    assert result.exit_code == 2 and "No such command" in result.output


def test_every_design_verb_is_registered() -> None:
    from click.testing import CliRunner

    from sxhub.cli import cli

    verbs = [
        "annotate",
        "agree",
        "train",
        "evaluate",
        "predict",
        "export",
        "publish",
        "space",
        "run",
        "twins",
        "generate",
        "insights",
    ]
    for verb in verbs:
        result = CliRunner().invoke(cli, [verb, "--help"])
        assert result.exit_code == 0, (verb, result.output)
        assert "Usage: " in result.output


def test_the_sync_stages_refuse_a_running_event_loop_in_one_line() -> None:
    # a notebook runs an event loop: make_twins and generate ended in asyncio's own RuntimeError ('asyncio.run()
    # cannot be called from a running event loop') and a coroutine never awaited, where annotate named its async twin
    import asyncio

    from sxhub import Label, TaskSpec, UserError
    from sxhub.annotate import annotate
    from sxhub.generate import GenerateOptions, generate
    from sxhub.twins import make_twins

    spec = TaskSpec(name="t", labels=[Label("yes"), Label("no")], teachers=["http://127.0.0.1:9/v1"])
    calls = {
        "annotate": lambda: annotate(spec, ["a text"]),
        "make_twins": lambda: make_twins(spec, ["a text"]),
        "generate": lambda: generate(spec, GenerateOptions(n=2)),
    }

    async def notebook_cell() -> dict[str, str]:
        found = {}
        for name, call in calls.items():
            try:
                call()
            except UserError as exc:
                found[name] = str(exc)
        return found

    found = asyncio.run(notebook_cell())
    assert set(found) == set(calls)
    for name, message in found.items():
        assert message.startswith(f"{name}() was called inside a running event loop"), message
        assert f"await a{name}(" in message, message


def test_annotate_shows_the_options_of_aannotate() -> None:
    # annotate(spec, inputs, **kwargs: Any): help(annotate), a notebook's signature tip and mypy saw no option, so
    # annotate(spec, texts, sample=3) type-checked and was found out only when it ran
    import inspect

    from sxhub import aannotate
    from sxhub.annotate import annotate

    assert inspect.signature(annotate) == inspect.signature(aannotate)
    assert {"samples", "concurrency", "cache", "progress", "teachers"} <= set(inspect.signature(annotate).parameters)
    assert annotate.__name__ == "annotate" and "aannotate" in (annotate.__doc__ or "")


@pytest.mark.parametrize("stage", ["make_twins", "generate"])
def test_make_twins_and_generate_show_their_options_and_refuse_a_misspelt_one(
    stage: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # make_twins(spec, data, **kwargs: Any) and generate(spec, options, **kwargs: Any): help(), a notebook's tips and
    # mypy saw no option, and `sample=3` opened the teachers (a local model loads for minutes) before amake_twins
    # refused it
    import inspect

    import sxhub.teachers
    from sxhub import Label, TaskSpec
    from sxhub.generate import GenerateOptions, agenerate, generate
    from sxhub.twins import amake_twins, make_twins

    opened: list[object] = []
    monkeypatch.setattr(sxhub.teachers, "teachers_for", lambda *args: opened.append(args))
    spec = TaskSpec(name="t", labels=[Label("yes"), Label("no")], teachers=["local"])
    sync, async_, second, wrong = {
        "make_twins": (make_twins, amake_twins, ["a text"], "sample"),
        "generate": (generate, agenerate, GenerateOptions(n=2), "writer"),
    }[stage]
    # Python 3.13 adds its own hint to the message: ". Did you mean 'samples'?"
    refused = rf"^{stage}\(\) got an unexpected keyword argument '{wrong}'(\. Did you mean '{wrong}s'\?)?$"
    with pytest.raises(TypeError, match=refused):
        sync(spec, second, **{wrong: ["local"]})
    assert opened == []  # refused at the call, before any teacher
    # the async stage's options, defaults and types; teachers (and writers) may also be specs, opened here
    params, async_params = inspect.signature(sync).parameters, inspect.signature(async_).parameters
    assert all(p.kind is not inspect.Parameter.VAR_KEYWORD for p in params.values())
    widened = {"teachers", "writers"}
    assert {n: (p.default, p.annotation) for n, p in params.items() if n not in widened} == {
        n: (p.default, p.annotation) for n, p in async_params.items() if n not in widened
    }
    for name in widened & set(async_params):
        assert params[name].default is None and "TeacherSpec | str" in str(params[name].annotation)
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY


def test_one_string_where_a_list_goes_is_refused_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    # a str is a sequence of strings: RunConfig(keep_columns="id") kept the columns 'i' and 'd', teachers="local"
    # opened the teachers 'l', 'o', 'c'..., make_twins(spec, "a text") rewrote each letter. Each is refused at the
    # call, before a teacher opens, naming the list to pass (mypy refuses them too: tests/test_typing.py)
    import sxhub.teachers
    from sxhub import GenerateOptions, InputError, Label, RunConfig, TaskSpec, UserError
    from sxhub.annotate import annotate
    from sxhub.generate import generate
    from sxhub.twins import make_twins

    opened: list[object] = []
    real = sxhub.teachers.open_teachers
    monkeypatch.setattr(sxhub.teachers, "open_teachers", lambda specs: opened.append(specs) or real(specs))
    spec = TaskSpec(name="t", labels=[Label("yes"), Label("no")], teachers=["http://127.0.0.1:9/v1"])
    # one wording everywhere (sxhub.sequences.refuse_one_string): the parameter, the list of what, the list to pass
    calls = [
        ("keep_columns= takes a list of column names", "['id']", lambda: RunConfig(keep_columns="id")),
        ("teachers= takes a list of teachers", "['local']", lambda: RunConfig(teachers="local")),
        ("teachers= takes a list of teachers", "['local']", lambda: annotate(spec, ["a text"], teachers="local")),
        ("inputs= takes a list of texts (or a DataFrame)", "['a text']", lambda: annotate(spec, "a text")),
        ("data= takes a list of texts (or a DataFrame)", "['a text']", lambda: make_twins(spec, "a text")),
        ("teachers= takes a list of teachers", "['local']", lambda: make_twins(spec, ["a"], teachers="local")),
        # the topics b, a, n, k, s
        ("topics= takes a list of topics", "['banks']", lambda: GenerateOptions(n=2, topics="banks")),  # type: ignore[arg-type]
    ]
    for takes, fix, call in calls:
        with pytest.raises(UserError) as refused:
            call()
        assert str(refused.value) == f"{takes}, not one string: pass {fix}."
    assert opened == []
    with pytest.raises(
        UserError, match=re.escape("writers= takes a list of teachers, not one string: pass ['local'].")
    ):
        generate(spec, GenerateOptions(n=2), writers="local")  # the voters open first (a URL: nothing starts)
    # any other sequence is a list; None (which the run read as no teachers) too
    config = RunConfig(keep_columns=("id",), teachers=None)
    assert config.keep_columns == ["id"] and config.teachers == []
    with pytest.raises(InputError, match=r"^keep_columns= takes a list, got 3\.$"):
        RunConfig(keep_columns=3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"concurrency": 0}, "concurrency=0 must be an integer >= 1 (option --concurrency)."),
        ({"concurrency": "8"}, "concurrency='8' must be an integer >= 1 (option --concurrency)."),
        ({"samples": 0}, "samples=0 must be an integer >= 1 (option --samples)."),
        ({"samples": 65}, "samples=65 must be an integer from 1 to 64 (option --samples)."),
        ({"cpu_usd_per_hour": -1}, "cpu_usd_per_hour=-1 must be a number >= 0 (option --cpu-usd-per-hour)."),
        (
            {"server": "vlm"},
            "server='vlm' is not one of tgi, vllm, llamacpp, llamacpp-python, ollama, sglang, transformers, "
            "openai (option --server).",
        ),
        ({"vote": "mean"}, "vote='mean' is not one of majority, dawid-skene, scores (option --vote)."),
        ({"backend": "gpu"}, "backend='gpu' is not one of local, autotrain (option --backend)."),
        # wrong types: a TypeError traceback (out=None, limit='5'), or taken as given (private='no' made it private)
        ({"limit": "5"}, "limit='5' must be a positive integer."),
        ({"private": "no"}, "private='no' must be True or False."),
        ({"gold": 3}, "gold=3 must be a column name (a str) or None."),
        ({"keep_columns": ["id", 1]}, "keep_columns= takes a list of column names (str), got 1 in it."),
        ({"teachers": [3]}, "teachers= takes a list of teachers (str), got 3 in it."),
        ({"min_steps": -1}, "min_steps=-1 must be an integer >= 0 (option --min-steps)."),
        ({"epochs": 0}, "epochs=0 is out of range; it must be a number > 0 and <= 1000 (option --epochs)."),
        ({"threads": 0}, "threads=0 must be an integer >= 1 (option --threads)."),
    ],
)
def test_run_config_refuses_a_bad_option_when_built(option: dict[str, object], message: str, tmp_path: Path) -> None:
    # RunConfig(concurrency=0) and RunConfig(samples=0) were refused only inside run_pipeline, after the input was read
    # and the teachers' Inference Endpoints resumed; server, vote and backend once run_pipeline started;
    # cpu_usd_per_hour=-1 never (the cards priced the student below nothing). Each is refused at RunConfig(...), in one
    # line naming the parameter, so nothing is read or written
    from sxhub import RunConfig, UserError

    with pytest.raises(UserError) as refused:
        RunConfig(out=tmp_path / "run", **option)  # type: ignore[arg-type]
    assert str(refused.value) == message
    assert not (tmp_path / "run").exists()
    with pytest.raises(UserError, match=re.escape("out=None must be a folder path (a str or a pathlib.Path).")):
        RunConfig(out=None)  # type: ignore[arg-type]
    good = {"concurrency": 1, "samples": 64, "cpu_usd_per_hour": 0.0, "server": "vllm", "vote": "dawid-skene"}
    assert RunConfig(out=tmp_path / "run", **good).concurrency == 1  # type: ignore[arg-type]


def test_errors_met_from_python_name_the_parameter_beside_the_flag(tmp_path: Path) -> None:
    # a notebook read "pass --gold with the column..." from publish_dataset(gold=), "pass a smaller --test-size" from
    # publish_dataset(test_size=), "pass --label-column" from load_labelled(label_column=) and "--n=0" from
    # GenerateOptions(n=0): flags a Python caller has no way to pass (the form of 576b906's "(Python: repo_id=)")
    import pandas as pd

    from sxhub import GenerateOptions, TaskSpec, UserError, load_labelled, publish_dataset

    spec = TaskSpec(name="fin", labels=["positive", "negative"])
    frame = pd.DataFrame({"text": [f"text {i}" for i in range(20)], "label": ["positive", "negative"] * 10})
    calls = {
        "pass --gold (Python: gold=) with the column that holds the experts' labels.": lambda: publish_dataset(
            frame, spec=spec, to=tmp_path / "a", gold="expert"
        ),
        "--gold 'label' (Python: gold=) is the teachers' label column": lambda: publish_dataset(
            frame, spec=spec, to=tmp_path / "b", gold="label"
        ),
        "to train on; pass a smaller --test-size (Python: test_size=).": lambda: publish_dataset(
            frame, spec=spec, to=tmp_path / "c", test_size=0.95
        ),
        "pass --label-column (Python: label_column=) with one of them.": lambda: load_labelled(
            frame, label_column="gold"
        ),
        "n=0 must be a positive integer (option --n).": lambda: GenerateOptions(n=0),
        "min_agreement=0 (option --min-agreement) must be above 0": lambda: GenerateOptions(n=2, min_agreement=0),
    }
    for fix, call in calls.items():
        with pytest.raises(UserError) as refused:
            call()
        assert fix in str(refused.value) and "\n" not in str(refused.value), str(refused.value)
    assert not any((tmp_path / name).exists() and any((tmp_path / name).iterdir()) for name in "abc")


def test_run_pipelines_report_shows_a_line_per_stage_and_is_report_json(tmp_path: Path) -> None:
    """A notebook cell ending in run_pipeline(...) printed all of report.json (14 KB for make demo's run). The report
    is the same dict (==, json.dumps, keys) whose repr is a line per stage: its seconds and summary, cut to a width."""
    import json
    import time

    from sxhub.run_config import RunConfig
    from sxhub.run_report import Report, shown_by_stage
    from sxhub.spec import TaskSpec

    spec = TaskSpec(name="financial-sentiment", labels=["positive", "negative", "neutral"])
    report = Report(spec, RunConfig(out=tmp_path / "run"))
    started = time.perf_counter()
    long_figures = {"per_teacher": [{"name": f"teacher-{i}", "agreement": i / 10} for i in range(200)]}
    report.add("annotate", started, {"summary": "labelled 36/36 texts, 0 failed " + "x" * 400, **long_figures})
    report.add("split", started, {"test": 7})
    report.add(
        "evaluate",
        started,
        {
            "summary": "student vs teacher labels: accuracy 1.000",
            "scores": {"student_vs_teacher": {"n": 7, "accuracy": 1.0}},
        },
    )
    report.stopped = {"stage": "publish", "why": "interrupted"}
    plain = report.to_dict()
    shown = shown_by_stage(plain)
    assert shown == plain and json.dumps(shown) == json.dumps(plain) and isinstance(shown, dict)
    assert shown["stages"]["evaluate"]["scores"]["student_vs_teacher"]["n"] == 7
    lines = repr(shown).splitlines()
    assert lines[0].startswith("RunReport('financial-sentiment': 3 stage(s) in ")
    assert [line.split()[0] for line in lines[1:4]] == ["annotate", "split", "evaluate"]
    assert lines[3].endswith(": student vs teacher labels: accuracy 1.000")
    assert "stopped: {'stage': 'publish', 'why': 'interrupted'}" in lines[4]
    assert all(len(line) <= 160 for line in lines) and len(repr(shown)) < 1000 < len(json.dumps(plain))


def test_run_and_train_configs_take_numpy_numbers_as_the_python_numbers_they_hold(tmp_path: Path) -> None:
    """RunConfig(samples=df["n"].max()) was refused as "must be an integer >= 1" since RunConfig checks its options
    when built (a notebook's numbers are numpy's), and a numpy value that got through reached sxhub.json as the
    string "3" (json.dumps default=str). They are the Python numbers they hold; a numpy bool is still refused."""
    import json

    import numpy as np

    from sxhub.errors import UserError
    from sxhub.run_config import RunConfig
    from sxhub.train_config import TrainConfig

    run = RunConfig(out=tmp_path / "run", samples=np.int64(3), concurrency=np.int32(4), epochs=np.float32(2.5))
    assert (run.samples, run.concurrency, run.epochs) == (3, 4, 2.5)
    assert [type(v) for v in (run.samples, run.concurrency, run.epochs)] == [int, int, float]
    train = TrainConfig(output_dir=tmp_path / "m", seed=np.int64(7), batch_size=np.int64(8), epochs=np.float64(2))
    assert json.loads(json.dumps({"seed": train.seed, "batch_size": train.batch_size}, default=str)) == {
        "seed": 7,
        "batch_size": 8,
    }
    with pytest.raises(UserError, match=r"^samples=True must be an integer >= 1"):
        RunConfig(out=tmp_path / "run", samples=np.bool_(True))
