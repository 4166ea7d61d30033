"""sxhub's Python API type-checks as it is called: mypy --strict finds no error in ``typing_snippets/api_usage.py``
(label names, teachers as URLs and mappings, ``RunConfig(out="run")``, run_pipeline's report read by key,
make_twins' and generate's options, agree's figures) nor in README.md's "From Python" code, and the snippet runs;
it finds the misspelt options that ``**kwargs: Any`` let through, and refuses each call ``typing_snippets/refused.py``
marks (one string where a list goes, a name sxhub does not export).

The constructors that normalise a field in ``__post_init__`` declare, for type checkers only, an ``__init__`` that
takes what they accept; the dataclass generates the one that runs. A test here keeps the two in step.

mypy runs with ``--no-site-packages``: sxhub is read from this checkout, third-party libraries are left out
(``Any``), so that a cold run takes seconds rather than minutes (torch's and numpy's stubs). ``--follow-imports
silent`` reports only the checked files' errors, as mypy does for an installed package.
"""

from __future__ import annotations

import ast
import dataclasses
import re
import runpy
from pathlib import Path

import pytest

from sxhub import Example, RunConfig, TaskSpec
from sxhub.run_report import Report, RunReport

ROOT = Path(__file__).resolve().parent.parent
SNIPPET = ROOT / "tests" / "typing_snippets" / "api_usage.py"
REFUSED = ROOT / "tests" / "typing_snippets" / "refused.py"
# the calls README's From Python prose shows inline, and how the checked code holds each result
CALLS = {
    "TaskSpec": "spec_{i} = {call}\n",
    "run_pipeline": "report_{i}: RunReport = {call}  # not run: mypy only\n",
    "agree": "agreement_{i}: AgreeReport = {call}  # not run: mypy only\n",
}
# the fields whose typing-only __init__ parameter is wider than the field (what __post_init__ normalises)
WIDENED = {
    TaskSpec: {"labels", "examples", "teachers"},
    Example: {"labels"},
    RunConfig: {"out", "keep_columns", "teachers"},
}


def _mypy(files: list[Path], cache: Path) -> tuple[str, int]:
    api = pytest.importorskip("mypy.api", reason="mypy is in sxhub[dev]")
    args = ["--strict", "--follow-imports=silent", "--no-site-packages", "--ignore-missing-imports"]
    stdout, stderr, status = api.run([*args, "--config-file=", f"--cache-dir={cache}", *map(str, files)])
    return stdout + stderr, status


def _readme_code() -> str:
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("## From Python", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block, "README.md's 'From Python' section has no python block"
    code = (
        block.group(1) + "from sxhub import AgreeReport, Label, RunConfig, RunReport, TaskSpec, agree, run_pipeline\n"
    )
    for name, line in CALLS.items():
        calls = [" ".join(c.split()) for c in re.findall(rf"`({name}\(.+?)`", section, re.S)]
        assert calls, f"README.md's 'From Python' section no longer shows {name}(...) called in Python"
        code += "".join(line.format(i=i, call=call) for i, call in enumerate(calls))
    return code


def test_api_usage_and_readme_type_check_and_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = tmp_path / "readme_from_python.py"
    readme.write_text(_readme_code(), encoding="utf-8")
    monkeypatch.chdir(ROOT)  # mypy finds this checkout's sxhub in the working folder
    output, status = _mypy([SNIPPET, readme], tmp_path / "mypy_cache")
    assert status == 0, output
    assert "Success: no issues found in 2 source files" in output
    monkeypatch.chdir(tmp_path)
    names = runpy.run_path(str(SNIPPET))  # its asserts check what each call normalised to
    assert isinstance(names["config"].out, Path) and names["one"].teachers[0].base_url == names["URL"]


def test_the_snippet_check_finds_what_users_met(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the check is not vacuous: the calls it is there for, against the declarations they met before
    bad = tmp_path / "bad_usage.py"
    bad.write_text(
        "from sxhub.spec import TaskSpec\nTaskSpec(name='t', labels=3)\nTaskSpec(name='t', labels=['a'], samples='2')\n"
        "from sxhub.generate import GenerateOptions, generate\nfrom sxhub.twins import make_twins\n"
        "spec = TaskSpec(name='t', labels=['a', 'b'])\nmake_twins(spec, ['a text'], sample=3)\n"
        "generate(spec, GenerateOptions(n=2), writer=['local'])\n"
    )
    monkeypatch.chdir(ROOT)
    output, status = _mypy([bad], tmp_path / "mypy_cache")
    assert status == 1 and output.count("error:") == 4, output
    assert 'Unexpected keyword argument "sample" for "make_twins"' in output, output
    assert 'Unexpected keyword argument "writer" for "generate"' in output, output


def test_mypy_refuses_one_string_for_a_list_and_an_unknown_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # before: `TaskSpec(labels="positive")`, `RunConfig(teachers=URL)`, `predict("a text")` passed the check (a str is
    # a Sequence[str]) and `from sxhub import AgreeReprot` was Any; keep_columns=("id",) was refused (list[str])
    monkeypatch.chdir(ROOT)
    output, status = _mypy([REFUSED], tmp_path / "mypy_cache")
    lines = REFUSED.read_text(encoding="utf-8").splitlines()
    marked = {i for i, line in enumerate(lines, 1) if line.endswith("# refused")}
    found = {int(m) for m in re.findall(rf"^{re.escape(str(REFUSED.relative_to(ROOT)))}:(\d+): error:", output, re.M)}
    assert status == 1 and found == marked and output.count(" error:") == len(marked), output
    assert 'Module "sxhub" has no attribute "AgreeReprot"' in output, output
    assert 'incompatible type "str"; expected "SequenceNotStr[str]"' in output, output


def _typing_init(cls: type) -> ast.FunctionDef:
    tree = ast.parse(Path(__import__(cls.__module__, fromlist=["_"]).__file__ or "").read_text(encoding="utf-8"))
    (node,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls.__name__]
    (guard,) = [n for n in node.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"]
    (init,) = [n for n in guard.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"]
    return init


@pytest.mark.parametrize("cls", list(WIDENED), ids=lambda c: c.__name__)
def test_typing_only_init_matches_the_dataclass(cls: type) -> None:
    # a field added, renamed, reordered, given a default or a new type without its __init__ line: mypy would check
    # callers against a constructor that is not the one that runs
    init = _typing_init(cls)
    assert "__init__" not in vars(cls) or vars(cls)["__init__"].__qualname__ == f"{cls.__name__}.__init__"
    params = init.args.args[1:]
    fields = [f for f in dataclasses.fields(cls) if f.init]
    assert [p.arg for p in params] == [f.name for f in fields]
    with_default = {f.name for f in fields if f.default is not dataclasses.MISSING}
    with_default |= {f.name for f in fields if f.default_factory is not dataclasses.MISSING}
    assert {p.arg for p in params[len(params) - len(init.args.defaults) :]} == with_default
    same = {p.arg: ast.unparse(p.annotation) for p in params if p.arg not in WIDENED[cls] and p.annotation}
    assert same == {name: cls.__annotations__[name] for name in same}
    assert len(same) == len(params) - len(WIDENED[cls])


def test_run_report_type_is_what_run_pipeline_returns(tmp_path: Path) -> None:
    spec = TaskSpec(name="fin", labels=["positive", "negative"])
    report = Report(spec, RunConfig(out=tmp_path / "out", progress=False))
    started = report.begin("annotate")
    report.add("annotate", started, {"summary": "2 texts", "texts": 2})
    done = report.to_dict()
    assert set(done) == RunReport.__required_keys__
    assert done["labels"] == ["positive", "negative"] and done["stages"]["annotate"]["texts"] == 2
    report.begin("train")
    report.stop(RuntimeError("out of memory"))
    stopped = report.to_dict()
    assert set(stopped) - set(done) == RunReport.__optional_keys__ == {"stopped"}
    assert stopped.get("stopped") == {"stage": "train", "why": "out of memory"}
