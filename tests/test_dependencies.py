"""Declared dependencies match the imports.

Every module under ``sxhub/`` is read with ``ast`` (whatever modules exist at the time: the package layout moves),
each third-party import is mapped to the distribution that provides it (``importlib.metadata``), and that
distribution must be declared in pyproject.toml: in ``[project] dependencies``, or, for an optional feature, in the
extra named by the error message. An import that needs an extra must sit inside a function (so that ``import
sxhub.x`` works without the extra), and every declared dependency must be imported or have a stated reason.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "sxhub"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]

# Declared distributions that sxhub needs although no module of it imports them by name.
NEEDED_WITHOUT_IMPORT = {
    "accelerate": "transformers.Trainer refuses to start without it (sxhub train)",
    "onnx": "torch.onnx.export writes the model with it (sxhub export)",
    "gradio": "the Space app (spaces/app.py) imports it; `sxhub space` runs that app and `publish space` pins it",
}
DEV_EXTRAS = {"dev"}
# Scripts in the package that another environment's Python runs: their imports are that environment's, not sxhub's.
OTHER_ENVIRONMENT = {
    "sxhub/autotrain_launch.py": "AutoTrain's Python runs it in AutoTrain's venv (make autotrain-env); sxhub never "
    "imports it",
}


@dataclass(frozen=True)
class Import:
    """One absolute import of a top-level module in sxhub's source."""

    module: str  # the top-level name, e.g. ``sklearn``
    where: str  # ``sxhub/x.py:12``
    deferred: bool  # inside a function, or under ``if TYPE_CHECKING:`` (not run when the module is imported)


def _literal_import(call: ast.Call) -> str | None:
    """The module named by ``importlib.import_module("m")`` / ``importlib.util.find_spec("m")``, else None."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    if name not in {"import_module", "find_spec"} or not call.args:
        return None
    arg = call.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and not arg.value.startswith("."):
        return arg.value
    return None


class _Collector(ast.NodeVisitor):
    def __init__(self, where: str) -> None:
        self.where = where
        self.depth = 0  # functions (and TYPE_CHECKING blocks) we are inside
        self.found: list[Import] = []

    def _add(self, module: str, node: ast.AST) -> None:
        top = module.split(".")[0]
        self.found.append(Import(top, f"{self.where}:{getattr(node, 'lineno', 0)}", self.depth > 0))

    def _nested(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _nested

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
            isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
        ):
            self.depth += 1
            for child in node.body:
                self.visit(child)
            self.depth -= 1
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level == 0 and node.module:
            self._add(node.module, node)

    def visit_Call(self, node: ast.Call) -> None:
        module = _literal_import(node)
        if module is not None:
            self._add(module, node)
        self.generic_visit(node)


def third_party_imports() -> list[Import]:
    """Every import in ``sxhub/**/*.py`` of a module that is neither the standard library nor sxhub itself."""
    found: list[Import] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if str(path.relative_to(ROOT)) in OTHER_ENVIRONMENT:
            continue
        collector = _Collector(str(path.relative_to(ROOT)))
        collector.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        found += collector.found
    return [i for i in found if i.module not in sys.stdlib_module_names and i.module not in {"sxhub", "__future__"}]


def _declared() -> tuple[set[str], dict[str, set[str]]]:
    """(core distributions, distribution -> the extras that declare it), names canonicalized."""
    core = {canonicalize_name(Requirement(r).name) for r in PROJECT["dependencies"]}
    extras: dict[str, set[str]] = defaultdict(set)
    for extra, requirements in PROJECT.get("optional-dependencies", {}).items():
        for line in requirements:
            name = canonicalize_name(Requirement(line).name)
            if name != "sxhub":  # `all = ["sxhub[...]"]`
                extras[name].add(extra)
    return core, extras


@cache
def _module_owners() -> dict[str, list[str]]:
    return packages_distributions()  # walks every installed distribution's RECORD: once per session


def _distributions(module: str) -> set[str]:
    """The (canonical) names of the installed distributions that provide the top-level module ``module``."""
    return {canonicalize_name(d) for d in _module_owners().get(module, [])}


def test_the_scan_sees_the_whole_package() -> None:
    """Guards the scanner itself: it finds imports at module level, inside functions and via find_spec."""
    imports = third_party_imports()
    modules = {i.module for i in imports}
    assert {"torch", "transformers", "huggingface_hub", "click"} <= modules
    assert any(i.deferred for i in imports) and any(not i.deferred for i in imports)
    assert all(i.module.isidentifier() for i in imports)


def test_every_import_is_declared() -> None:
    core, extras = _declared()
    problems = []
    for imp in third_party_imports():
        dists = _distributions(imp.module)
        if not dists:
            problems.append(
                f"{imp.where}: `{imp.module}` comes from no installed distribution "
                "(install sxhub[all,dev], or declare the package that provides it)"
            )
        elif not dists & (core | set(extras)):
            problems.append(f"{imp.where}: `{imp.module}` (from {', '.join(sorted(dists))}) is not declared")
    assert not problems, "\n".join(problems)


def test_an_import_that_needs_an_extra_is_deferred() -> None:
    """A module-level import of an extra's package would make `import sxhub...` fail without that extra."""
    core, extras = _declared()
    problems = []
    for imp in third_party_imports():
        dists = _distributions(imp.module)
        if dists and not dists & core and not imp.deferred:
            needs = sorted({e for d in dists for e in extras.get(d, set())})
            problems.append(
                f"{imp.where}: `{imp.module}` needs sxhub[{'|'.join(needs)}] but is imported at module level"
            )
    assert not problems, "\n".join(problems)


def test_every_declared_dependency_is_used() -> None:
    """A declared (non-dev) distribution is imported by sxhub, or NEEDED_WITHOUT_IMPORT says why it is needed."""
    core, extras = _declared()
    imported = {d for imp in third_party_imports() for d in _distributions(imp.module)}
    runtime = {canonicalize_name(n) for n in NEEDED_WITHOUT_IMPORT}
    user_facing = core | {d for d, names in extras.items() if names - DEV_EXTRAS}
    unused = sorted(user_facing - imported - runtime)
    assert not unused, f"declared but never imported, with no reason in NEEDED_WITHOUT_IMPORT: {unused}"
    stale = sorted(runtime - user_facing)
    assert not stale, f"NEEDED_WITHOUT_IMPORT names distributions that are not declared: {stale}"


def test_every_requirement_has_a_floor() -> None:
    lines = [*PROJECT["dependencies"], *(r for rs in PROJECT["optional-dependencies"].values() for r in rs)]
    requirements = [Requirement(line) for line in lines if Requirement(line).name != "sxhub"]
    floorless = [str(r) for r in requirements if not any(s.operator in {">=", "==", "~="} for s in r.specifier)]
    assert not floorless, f"give these a version floor (the oldest release that has what sxhub calls): {floorless}"


def test_the_space_asks_for_the_pandas_sxhub_needs() -> None:
    """The Space's requirements.txt allowed pandas>=2.0 while sxhub needs pandas>=3.0 (on Python 3.11, as the Space's
    README asks): a Space resolved at its floors ran a pandas no test runs."""
    lines = (ROOT / "spaces" / "requirements.txt").read_text(encoding="utf-8").splitlines()
    space = {r.name: r.specifier for r in map(Requirement, (ln for ln in lines if ln.strip()))}
    ours = {r.name: r.specifier for r in map(Requirement, PROJECT["dependencies"])}
    assert space["pandas"] == ours["pandas"]
    assert 'python_version: "3.11"' in (ROOT / "spaces" / "README.md").read_text(encoding="utf-8")
    assert PROJECT["requires-python"] == ">=3.11"


@pytest.mark.parametrize("space", ["spaces", "spaces/review"])
def test_the_space_asks_for_no_release_older_than_sxhub_is_tested_with(space: str) -> None:
    """The Space's requirements.txt allowed transformers>=5.0, torch>=2.4 and huggingface_hub>=1.0 (the review
    Space's too) while sxhub, and the Spaces with it, are tested from transformers 5.18, torch 2.5 and
    huggingface_hub 2.0: a Space resolved at its floors ran releases no test runs (transformers before 5.18 does not
    install beside huggingface_hub 2). Each package both name has a Space floor at least sxhub's (its core
    dependency's, else its extras')."""
    from packaging.version import Version

    def floor(requirement: Requirement) -> Version | None:
        return max(
            (Version(s.version) for s in requirement.specifier if s.operator in {">=", "==", "~="}), default=None
        )

    lines = (ROOT / space / "requirements.txt").read_text(encoding="utf-8").splitlines()
    wanted = {r.name.lower().replace("-", "_"): r for r in map(Requirement, (ln for ln in lines if ln.strip()))}
    ours: dict[str, Version] = {}  # the core dependency's floor; else the highest an extra asks for (onnxruntime)
    extras = [r for rs in PROJECT["optional-dependencies"].values() for r in rs]
    for lines_, core in ((extras, False), (PROJECT["dependencies"], True)):
        for requirement in map(Requirement, lines_):
            name, low = requirement.name.lower().replace("-", "_"), floor(requirement)
            if low is not None and name != "sxhub":
                ours[name] = low if core else max(low, ours.get(name, low))
    older = {
        name: f"{req.specifier} (sxhub: >={ours[name]})"
        for name, req in wanted.items()
        if name in ours and (floor(req) is None or floor(req) < ours[name])
    }
    assert not older, f"raise these floors in {space}/requirements.txt to sxhub's: {older}"


def test_a_missing_synth_extra_is_one_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from sxhub.errors import ModelError
    from sxhub.synth import Embedder

    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # as if not installed
    with pytest.raises(ModelError, match=re.escape("pip install 'sxhub[synth]'")):
        Embedder()(["a text"])


def test_scripts_for_another_environment_are_never_imported_by_sxhub() -> None:
    """The scripts whose imports the scan leaves out (AutoTrain's modules) run only in their own environment: a
    module of sxhub that imported one would need AutoTrain in sxhub's."""
    for script in OTHER_ENVIRONMENT:
        assert (ROOT / script).is_file(), script
        name = Path(script).stem
        for path in sorted(PACKAGE.rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom):
                    names = [node.module or "", *(a.name for a in node.names)]
                elif isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                else:
                    continue
                assert not any(n == name or n.endswith("." + name) for n in names), f"{path} imports {name}"
