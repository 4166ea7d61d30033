"""SIGTERM (kill, a scheduler's time limit, docker stop) tidies up as Ctrl-C does: killed outright, train left its
``.checkpoints-*`` folder in the model folder and predict its half-written ``OUT.tmp``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from conftest import build_tiny_model
from test_train import single_frame

TASK = "name: fin\nlabels: [positive, neutral, negative]\n"


def _terminate_when(
    argv: list[str], ready: Callable[[], bool], timeout: float = 120, sig: int = signal.SIGTERM
) -> subprocess.CompletedProcess[str]:
    """Run ``sxhub ARGV``, send SIGTERM (or ``sig``) as soon as ``ready()`` holds, and return how it ended."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sxhub", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"the work under test ended (or never began) before SIGTERM could be sent: {err[-2000:]}")
        time.sleep(0.01)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_sigterm_during_train_keeps_the_checkpoint_for_resume(tmp_path: Path, tiny_base_model: Path) -> None:
    task = tmp_path / "task.yaml"
    task.write_text(TASK, encoding="utf-8")
    labelled = tmp_path / "labelled.csv"
    single_frame(n=300).to_csv(labelled, index=False)
    model = tmp_path / "student"
    argv = ["train", str(task), str(labelled), "-o", str(model), "--base", str(tiny_base_model), "--epochs", "500",
            "--resumable-after", "0"]  # fmt: skip

    def checkpoint_saved() -> bool:  # training is under way: the Trainer has saved a checkpoint
        return any(model.glob(".checkpoints-*/checkpoint-*/trainer_state.json"))

    done = _terminate_when(argv, checkpoint_saved)

    assert done.returncode == 128 + signal.SIGTERM, done.stderr
    # it said "nothing half-written is left ... a rerun starts over" and removed hours of checkpoints
    last = done.stderr.strip().splitlines()[-1]
    assert (
        last.startswith("Terminated; the checkpoint of epoch ") and "continues from it, --restart starts over." in last
    )
    assert len(list(model.glob(".checkpoints-*/checkpoint-*/optimizer.pt"))) >= 1
    # no half-trained model left where a finished one goes
    assert sorted(p.name for p in model.iterdir()) == [Path(last.split(" is kept in ")[1].split(":")[0]).name]


@pytest.mark.slow
def test_ctrl_c_during_a_search_keeps_the_best_finished_trial(tmp_path: Path, tiny_base_model: Path) -> None:
    """A real Ctrl-C in the second trial of ``train --search``: the finished trial was lost (-o kept the earlier
    model, or none), and with it what the search had found. It is kept, with its record, and the line says so."""
    pytest.importorskip("optuna")
    task = tmp_path / "task.yaml"
    task.write_text(TASK, encoding="utf-8")
    labelled = tmp_path / "labelled.csv"
    single_frame().to_csv(labelled, index=False)
    model = tmp_path / "student"
    argv = ["train", str(task), str(labelled), "-o", str(model), "--base", str(tiny_base_model), "--epochs", "500",
            "--max-minutes", "0.05", "--val-size", "0.2", "--search", "20"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sxhub", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # Ctrl-C's default, as a terminal gives it
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not list(model.glob(".sxhub-saving-*/trial-1")):  # trial 0 finished, trial 1 under way
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the search ended (or never began) before Ctrl-C could be sent: {proc.communicate()[1]}")
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("Interrupted; the search stopped after 1 finished of 20 trials, the one under way dropped")
    assert f"is kept in {model}, its trials in sxhub.json's train.search." in last
    record = json.loads((model / "sxhub.json").read_text())["train"]["search"]
    assert record["interrupted"] == "Ctrl-C" and [t["number"] for t in record["trials"]] == [0]
    assert (model / "model.safetensors").is_file() and not list(model.glob(".sxhub-*"))


def test_sigterm_during_predict_leaves_no_partial_output(tmp_path: Path) -> None:
    from test_train import SINGLE, fast_config

    from sxhub.train import train

    base = build_tiny_model(tmp_path / "base")
    model = tmp_path / "student"
    train(SINGLE, single_frame(), fast_config(model, base))
    texts = tmp_path / "texts.csv"
    pd.DataFrame({"text": single_frame(n=200_000)["text"]}).to_csv(texts, index=False)
    out = tmp_path / "predicted.csv"
    tmp = out.with_name(out.name + ".tmp")

    done = _terminate_when(["predict", str(model), str(texts), "-o", str(out)], lambda: tmp.exists())

    assert done.returncode == 128 + signal.SIGTERM, done.stderr
    # it said "finished work is kept (the label cache makes a rerun resume)": predict keeps nothing and starts over
    assert "Terminated; nothing half-written is left and earlier outputs are untouched; a rerun starts over." in (
        done.stderr
    )
    assert not tmp.exists() and not out.exists()


def test_the_interruption_line_says_what_a_rerun_of_the_verb_does(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C in any verb said the label cache makes a rerun resume; only the verbs that ask teachers keep answers."""
    import click
    from conftest import run_cli

    from sxhub.cli import cli

    @click.command("boom")
    def boom() -> None:
        raise KeyboardInterrupt

    monkeypatch.setitem(cli.commands, "boom", boom)
    code, _, err = run_cli(["boom"], capsys)
    assert code == 130
    assert (
        err.strip()
        == "Interrupted; nothing half-written is left and earlier outputs are untouched; a rerun starts over."
    )
    monkeypatch.setattr("sxhub.cli.COMMANDS", {}, raising=True)  # "annotate" resolves to the stand-in below
    monkeypatch.setitem(cli.commands, "annotate", boom)
    code, _, err = run_cli(["annotate"], capsys)
    assert code == 130
    assert err.strip() == (
        "Interrupted; finished work is kept: the same command resumes from OUT.parts/ and the label cache."
    )
