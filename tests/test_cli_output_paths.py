"""An output path that cannot be written is a usage error when the command line is read, before any work.

``-o notes.txt/out.csv`` (a file where a folder must be) and an output in a folder nobody may write to ended after
the run (the teacher paid, the student trained) in ``Error: NotADirectoryError`` or ``PermissionError`` and exit 1.
"""

from __future__ import annotations

import os
from pathlib import Path

import click
import pandas as pd
import pytest
from conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent
TASK = str(ROOT / "examples" / "financial-sentiment" / "task.yaml")
TEACHER = ["--teacher", "http://127.0.0.1:9/v1"]

# (argv with {f}: the labelled input and {x}: the output under test, whether that output is a folder)
VERBS: list[tuple[list[str], bool]] = [
    (["agree", "{f}", "--gold", "expert", "--review", "{x}"], False),
    (["doubts", "{f}", "-o", "{x}"], False),
    (["annotate", TASK, "{f}", "-o", "{x}", *TEACHER], False),
    (["annotate", TASK, "{f}", "-o", "{f}.out.csv", "--cache-dir", "{x}", *TEACHER], True),
    (["predict", "{f}.model", "{f}", "-o", "{x}"], False),
    (["twins", TASK, "{f}", "-o", "{x}", *TEACHER], False),
    (["generate", TASK, "-o", "{x}", "--n", "5", *TEACHER], False),
    (["apply-review", "{f}", "{f}.decisions.jsonl", "-o", "{x}"], False),
    (["review", "{f}", "--decisions", "{x}"], False),
    (["train", TASK, "{f}", "-o", "{x}"], True),
    (["tune", TASK, "{f}", "-o", "{x}"], True),
    (["insights", "{f}.model", "{f}", "--group-by", "expert", "-o", "{x}"], True),
    (["publish", "dataset", "{f}", "--repo-id", "me/ds", "--to", "{x}", "--task", TASK], True),
    (["run", TASK, "{f}", "--out", "{x}", *TEACHER], True),
]


@pytest.fixture
def labelled(tmp_path: Path) -> Path:
    source = tmp_path / "labelled.csv"
    pd.DataFrame({"text": ["Profit rose", "Loss widened"], "label": ["positive", "negative"]}).assign(
        expert=lambda d: d["label"]
    ).to_csv(source, index=False)
    return source


@pytest.mark.parametrize(("argv", "folder"), VERBS, ids=[f"{a[0]}-{a[a.index('{x}') - 1]}" for a, _ in VERBS])
def test_an_output_under_a_file_is_refused_before_any_work(
    tmp_path: Path, labelled: Path, capsys: pytest.CaptureFixture[str], argv: list[str], folder: bool
) -> None:
    (tmp_path / "notes.txt").write_text("keep me", encoding="utf-8")
    target = tmp_path / "notes.txt" / ("sub" if folder else "sub/out.csv")
    before = labelled.read_bytes()
    code, _, err = run_cli([a.format(f=labelled, x=target) for a in argv], capsys)
    last = err.strip().splitlines()[-1]
    assert code == 2, err
    assert f"'{tmp_path / 'notes.txt'}' is a file, so '{target}' cannot be made inside it" in last
    assert last.startswith("Error: Invalid value for") and sum(ln.startswith("Error") for ln in err.splitlines()) == 1
    assert labelled.read_bytes() == before and (tmp_path / "notes.txt").read_text(encoding="utf-8") == "keep me"


@pytest.mark.parametrize(("argv", "folder"), VERBS, ids=[f"{a[0]}-{a[a.index('{x}') - 1]}" for a, _ in VERBS])
def test_an_output_in_a_folder_that_is_not_writable_is_refused(
    tmp_path: Path,
    labelled: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    folder: bool,
) -> None:
    """Tests run as root here, where chmod does not stop a write: os.access answers as for an ordinary user."""
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != locked and real_access(p, mode))
    target = locked / ("new" if folder else "new/out.csv")
    code, _, err = run_cli([a.format(f=labelled, x=target) for a in argv], capsys)
    assert code == 2, err
    assert f"the folder '{locked}' is not writable, so '{target}' cannot be made" in err.strip().splitlines()[-1]
    assert list(locked.iterdir()) == []


def test_the_wrong_kind_of_existing_output_is_refused(
    tmp_path: Path, labelled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A model folder that is a file, and an output file that is a folder."""
    code, _, err = run_cli(["train", TASK, str(labelled), "-o", str(labelled)], capsys)
    assert code == 2 and f"'{labelled}' is a file" in err
    code, _, err = run_cli(["doubts", str(labelled), "-o", str(tmp_path)], capsys)
    assert code == 2 and "is a directory" in err


def test_writable_outputs_pass(tmp_path: Path) -> None:
    from sxhub.cli.params import output_problem

    assert output_problem(tmp_path / "a" / "b" / "out.csv", folder=False) is None
    assert output_problem(tmp_path / "a" / "b", folder=True) is None
    assert output_problem(tmp_path, folder=True) is None  # an existing folder may be written into
    (tmp_path / "old.csv").write_text("x", encoding="utf-8")
    assert output_problem(tmp_path / "old.csv", folder=False) is None  # an existing file may be replaced
    assert output_problem(Path("relative-out.csv"), folder=False) is None


def test_a_refused_path_the_command_line_did_not_check_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A path the system refuses later (one named inside a spec, say) is one line with the path and the reason."""
    from sxhub.cli import cli

    @click.command("boom")
    def boom() -> None:
        raise PermissionError(13, "Permission denied", "/data/out.csv")

    monkeypatch.setitem(cli.commands, "boom", boom)
    code, _, err = run_cli(["boom"], capsys)
    assert code == 1
    assert err.strip() == (
        "Error: cannot use '/data/out.csv': Permission denied; check that the path exists, is a file or a folder "
        "as needed, and that you may write there; or pass another path."
    )


# the outputs that take a lock: annotate locks OUT.parts/ itself; a label cache and the review decisions are shared
LOCKED = [
    (argv, folder)
    for argv, folder in VERBS
    if argv[argv.index("{x}") - 1] not in ("--cache-dir", "--decisions") and argv[0] != "annotate"
]


@pytest.mark.parametrize(("argv", "folder"), LOCKED, ids=[f"{a[0]}-{a[a.index('{x}') - 1]}" for a, _ in LOCKED])
def test_an_output_another_command_is_writing_is_refused(
    tmp_path: Path,
    labelled: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    folder: bool,
) -> None:
    """Two commands writing one output mixed their work (two predicts appended to one temporary file, two trains
    saved one run's weights beside the other's thresholds). While one holds the output, a second is refused with one
    line before any work, however it spells the path."""
    from sxhub.locks import output_lock

    target = tmp_path / ("student" if folder else "out.csv")
    monkeypatch.chdir(tmp_path)
    before = labelled.read_bytes()
    with output_lock(target):
        code, _, err = run_cli([a.format(f=labelled, x=f"./{target.name}") for a in argv], capsys)
    assert code == 2, err
    assert (
        err.strip()
        .splitlines()[-1]
        .endswith(f"another sxhub command is writing './{target.name}'; wait for it to end, or pass another path.")
    )
    assert sum(ln.startswith("Error") for ln in err.splitlines()) == 1
    assert not target.exists() and labelled.read_bytes() == before


def test_export_holds_its_model_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``export`` writes into MODEL_DIR: refused while ``train -o MODEL_DIR`` (or another export) holds it."""
    from sxhub.locks import output_lock

    with output_lock(tmp_path / "student"):
        code, _, err = run_cli(["export", str(tmp_path / "student")], capsys)
    assert code == 2 and "another sxhub command is writing" in err.strip().splitlines()[-1], err


def test_the_lock_holds_across_processes_and_ends_with_its_holder(
    tmp_path: Path, labelled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second process is refused while the first lives; killed, the first leaves nothing that blocks."""
    import signal
    import subprocess
    import sys

    out = tmp_path / "queue.csv"
    hold = (
        "import sys, time\nfrom sxhub.locks import output_lock\n"
        f"with output_lock({str(out)!r}):\n    print('held', flush=True)\n    time.sleep(600)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", hold], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        code, _, err = run_cli(["doubts", str(labelled), "-o", str(out)], capsys)
        assert code == 2 and "another sxhub command is writing" in err, err
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    from sxhub.locks import output_lock

    with output_lock(out):  # free again: taking it raises nothing
        pass
