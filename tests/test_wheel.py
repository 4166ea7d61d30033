"""The wheel works like the checkout.

Builds the sdist from the checkout and the wheel from that sdist (so both are complete, and nothing left in the
checkout's ``build/`` can leak in), installs the wheel, not editable, into a fresh venv, and from a folder outside
the checkout runs ``sxhub run`` (teacher: a local fake OpenAI-compatible server; student: a tiny random BERT) and
``sxhub publish model|dataset|space --to``.

The fresh venv reuses the dependencies already installed in the test interpreter's environment instead of
downloading them: a ``.pth`` file adds that site-packages *after* the venv's own, and the editable sxhub there is not
activated (a ``.pth`` inside a folder added by a ``.pth`` is not processed). Each check asserts that the sxhub that
runs is the wheel's, from the fresh venv.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import build_tiny_model, require_modules
from fake_openai_server import FakeOpenAIServer

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ("model_cards", "dataset_cards", "spaces", "examples")


@dataclass(frozen=True)
class Venv:
    """The fresh venv the wheel is installed in."""

    root: Path
    python: Path
    sxhub: Path
    site_packages: Path
    wheel: Path


def _run(args: list[str | Path], *, cwd: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=600
    )
    assert proc.returncode == 0, f"{args} exited {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    require_modules("build", install="the wheel test needs the sdist builder (pip install 'sxhub[dev]')")
    work = tmp_path_factory.mktemp("wheel")
    dist = work / "dist"
    py = sys.executable
    _run([py, "-m", "build", "--sdist", "--no-isolation", "--outdir", dist, ROOT], cwd=ROOT)
    (sdist,) = dist.glob("sxhub-*.tar.gz")
    _run([py, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", dist, sdist], cwd=work)
    (wheel,) = dist.glob("sxhub-*.whl")

    root = work / "venv"
    _run([py, "-m", "venv", "--without-pip", root], cwd=work)
    python = root / "bin" / "python"
    site_packages = Path(
        _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=work).strip()
    )
    here = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site_packages / "_reuse_test_env.pth").write_text("".join(f"{p}\n" for p in here), encoding="utf-8")
    # pip comes from the reused site-packages but installs into the fresh venv; --ignore-installed: the editable
    # sxhub of the reused environment is neither looked at nor touched
    _run([python, "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed", "-q", wheel], cwd=work)
    return Venv(root, python, root / "bin" / "sxhub", site_packages, wheel)


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    return env | {"OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1", "PYTHONNOUSERSITE": "1"}


@pytest.mark.slow
def test_the_wheel_carries_the_assets_and_they_are_what_runs(venv: Venv, tmp_path: Path) -> None:
    import zipfile

    names = set(zipfile.ZipFile(venv.wheel).namelist())
    for asset in ASSETS:
        for path in (ROOT / asset).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                assert f"sxhub/_assets/{path.relative_to(ROOT).as_posix()}" in names
    assert "sxhub/py.typed" in names  # PEP 561 (setuptools 69+ ships it): type checkers read sxhub's annotations
    # the package says Apache-2.0 and shipped no license text (the license asks that a copy go with the work)
    [license_file] = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
    assert zipfile.ZipFile(venv.wheel).read(license_file) == (ROOT / "LICENSE").read_bytes()
    assert b"Apache License" in (ROOT / "LICENSE").read_bytes()
    probe = (
        "import json, sxhub; from sxhub._paths import asset_dir; "
        f"print(json.dumps([sxhub.__file__, *(str(asset_dir(n)) for n in {ASSETS!r})]))"
    )
    found = json.loads(_run([venv.python, "-c", probe], cwd=tmp_path, env=_env(tmp_path)))
    # `sxhub --version` is the version pip installed (the version was written twice, in pyproject and __init__)
    [metadata] = [n for n in names if n.endswith(".dist-info/METADATA")]
    version = next(
        ln for ln in zipfile.ZipFile(venv.wheel).read(metadata).decode().splitlines() if ln.startswith("Version:")
    )
    said = _run([venv.sxhub, "--version"], cwd=tmp_path, env=_env(tmp_path)).strip()
    assert said == f"sxhub, version {version.split(':', 1)[1].strip()}"
    package = venv.site_packages / "sxhub"
    assert Path(found[0]).parent == package  # the wheel's sxhub, not the checkout's
    assert found[1:] == [str(package / "_assets" / n) for n in ASSETS]
    # an unrelated `examples/` beside sxhub in site-packages (some wheels install one) is never picked up
    (venv.site_packages / "examples").mkdir(exist_ok=True)
    again = json.loads(_run([venv.python, "-c", probe], cwd=tmp_path, env=_env(tmp_path)))
    assert again == found


@pytest.mark.slow
def test_pip_check_is_clean(venv: Venv, tmp_path: Path) -> None:
    out = _run([venv.python, "-m", "pip", "check"], cwd=tmp_path, env=_env(tmp_path))
    assert "No broken requirements found" in out


@pytest.mark.slow
def test_run_then_publish_from_the_installed_wheel(venv: Venv, tmp_path: Path) -> None:
    env = _env(tmp_path)
    examples = venv.site_packages / "sxhub" / "_assets" / "examples" / "financial-sentiment"
    task, texts = examples / "task.yaml", examples / "texts.csv"
    base = build_tiny_model(tmp_path / "tiny-bert")
    work = tmp_path / "cwd"  # outside the checkout: nothing can be found relative to it
    work.mkdir()
    with FakeOpenAIServer() as server:
        common = ["--base", base, "--epochs", "1", "--samples", "1", "--no-int8", "--teacher", server.url]
        report = json.loads(
            _run([venv.sxhub, "run", task, texts, "--out", "out", *common, "--json"], cwd=work, env=env)
        )
        n_texts = len(texts.read_text(encoding="utf-8").strip().splitlines()) - 1
        assert len(server.requests) == n_texts
    assert report["stages"]["annotate"]["failed"] == 0
    out = work / "out"
    for repo in ("dataset", "model", "space"):
        assert (out / "repos" / repo / "README.md").is_file(), f"sxhub run wrote no {repo} card"

    to = work / "published"
    _run(
        [venv.sxhub, "publish", "dataset", out / "labelled.parquet", "--task", task, "--repo-id", "u/x-data",
         "--to", to / "dataset"],
        cwd=work, env=env,
    )  # fmt: skip
    _run(
        [venv.sxhub, "publish", "model", out / "model", "--repo-id", "u/x", "--data", out / "labelled.parquet",
         "--dataset-repo", "u/x-data", "--to", to / "model"],
        cwd=work, env=env,
    )  # fmt: skip
    _run(
        [venv.sxhub, "publish", "space", out / "model", "--repo-id", "u/x-demo", "--model-repo", "u/x",
         "--to", to / "space"],
        cwd=work, env=env,
    )  # fmt: skip

    dataset_card = (to / "dataset" / "README.md").read_text(encoding="utf-8")
    model_card = (to / "model" / "README.md").read_text(encoding="utf-8")
    space_card = (to / "space" / "README.md").read_text(encoding="utf-8")
    for card in (dataset_card, model_card, space_card):
        assert card.startswith("---\n") and "{{" not in card and "{%" not in card  # rendered, front matter first
    assert "pretty_name: Financial Sentiment" in dataset_card and list((to / "dataset").rglob("*.parquet"))
    assert "u/x-data" in model_card and (to / "model" / "config.json").is_file()
    assert "sdk: gradio" in space_card
    app = (to / "space" / "app.py").read_text(encoding="utf-8")
    assert app == (venv.site_packages / "sxhub" / "_assets" / "spaces" / "app.py").read_text(encoding="utf-8")


def test_asset_dir_prefers_the_packaged_copy_and_never_a_stranger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lookup order, without building anything: packaged copy, then sxhub's own checkout, else one clear error."""
    from sxhub import _paths

    site = tmp_path / "site-packages"  # a wheel install: sxhub/ beside other projects' folders
    (site / "examples").mkdir(parents=True)
    monkeypatch.setattr(_paths, "_PACKAGE", site / "sxhub")
    monkeypatch.setattr(_paths, "_PACKAGED", site / "sxhub" / "_assets")
    monkeypatch.setattr(_paths, "_CHECKOUT", site)
    with pytest.raises(FileNotFoundError, match=r"sxhub's examples/ folder is missing .* reinstall sxhub"):
        _paths.asset_dir("examples")  # site-packages/examples belongs to someone else
    (site / "pyproject.toml").write_text('[project]\nname = "other"\n', encoding="utf-8")
    with pytest.raises(FileNotFoundError):
        _paths.asset_dir("examples")
    (site / "pyproject.toml").write_text('[project]\nname = "sxhub"\n', encoding="utf-8")
    assert _paths.asset_dir("examples") == site / "examples"  # sxhub's own source tree
    (site / "sxhub" / "_assets" / "examples").mkdir(parents=True)
    assert _paths.asset_dir("examples") == site / "sxhub" / "_assets" / "examples"  # the packaged copy wins
    with pytest.raises(ValueError, match="unknown asset folder 'cards'"):
        _paths.asset_dir("cards")


def test_asset_dir_in_this_checkout_is_the_top_level_folders() -> None:
    from sxhub._paths import ASSETS as PATHS_ASSETS
    from sxhub._paths import asset_dir

    tree = ast.parse((ROOT / "setup.py").read_text(encoding="utf-8"))
    assigned = {
        t.id: n.value for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)
    }
    copied = ast.literal_eval(assigned["ASSETS"])
    assert PATHS_ASSETS == copied == ASSETS  # what setup.py copies into the wheel is what asset_dir looks up
    assert all(asset_dir(name) == ROOT / name for name in ASSETS)


def test_a_crashed_local_server_names_the_portable_build(tmp_path: Path) -> None:
    """llama.cpp killed by SIGSEGV (pip's -march=native build on a CPU with AMX the VM does not grant) said only
    'exited with code -11'; the fix, scripts/llama-wheel.sh, is not in the wheel: the line gives its build."""
    import time

    from sxhub.errors import TeacherUnavailableError
    from sxhub.teachers.local import PORTABLE_FLAGS, _wait_ready

    assert f'CMAKE_ARGS="{PORTABLE_FLAGS} ${{CMAKE_ARGS:-}}"' in (ROOT / "scripts" / "llama-wheel.sh").read_text()
    log = tmp_path / "server.log"
    log.write_text("llama_model_loader: loaded meta data\n", encoding="utf-8")
    messages = []
    for code in ("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", "raise SystemExit(3)"):
        proc = subprocess.Popen([sys.executable, "-c", code])
        proc.wait(timeout=60)
        with pytest.raises(TeacherUnavailableError) as stopped:
            _wait_ready(proc, "http://127.0.0.1:9/v1", log, time.monotonic() + 60)
        messages.append(str(stopped.value))
    crashed, exited = messages
    assert crashed.startswith("the local llama.cpp server exited with code -11: llama_model_loader: loaded meta data")
    assert "killed by SIGSEGV" in crashed
    assert (
        f'rebuild it portable: CMAKE_ARGS="{PORTABLE_FLAGS}" pip install --force-reinstall --no-cache-dir' in crashed
    )
    assert exited.startswith("the local llama.cpp server exited with code 3:") and "rebuild" not in exited
