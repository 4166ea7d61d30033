"""A tune stopped part-way (Ctrl-C, SIGTERM, kill -9) keeps its checkpoint in -o; --resume continues it to the
model an unstopped tune gives, and refuses in one line a tune of something else (sxhub.tune_resume)."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import run_cli
from safetensors.torch import load_file
from test_sigterm import _terminate_when
from test_tune import SPEC, build_tiny_llama, corpus, error_line, labelled_frame

import sxhub.lora
import sxhub.tune
from sxhub.errors import InputError, UserError
from sxhub.train_resume import RESUME_FILE, stopped_runs
from sxhub.tune import TuneOptions, tune

TASK = """\
name: fin-sent
description: Sentiment of a sentence from financial news.
labels: [positive, neutral, negative]
"""


def _stop_at_save(monkeypatch: pytest.MonkeyPatch, saves: int) -> None:
    """Ctrl-C lands in training right after the Trainer saved its ``saves``-th checkpoint (in the progress bar's
    callback slot)."""
    from transformers import TrainerCallback

    class CtrlC(TrainerCallback):  # type: ignore[misc]
        seen = 0

        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.seen += 1
            if self.seen == saves:
                raise KeyboardInterrupt

    monkeypatch.setattr(sxhub.lora, "stderr_progress", lambda disable: CtrlC())


def _options(base: Path, **more: Any) -> TuneOptions:
    given = {"epochs": 1, "group_size": 4, "lora_r": 4, "lora_alpha": 8, "holdout": 6, "seed": 1, **more}
    return TuneOptions(base=str(base), **given)


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"), corpus())


@pytest.fixture
def labelled(tmp_path: Path) -> Path:
    path = tmp_path / "labelled.csv"
    labelled_frame().to_csv(path, index=False)
    return path


def test_a_resumed_tune_gives_the_model_of_an_unstopped_one(
    tiny_llama: Path, tmp_path: Path, labelled: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = tune(SPEC, labelled, tmp_path / "whole", _options(tiny_llama), progress=False)
    assert not list(whole.output_dir.glob(".checkpoints-*"))  # a finished tune leaves no checkpoint folder
    steps = whole.info["train"]["steps"]
    out = tmp_path / "model"
    with monkeypatch.context() as patch:
        _stop_at_save(patch, 2)
        with pytest.raises(KeyboardInterrupt) as stop:
            tune(SPEC, labelled, out, _options(tiny_llama), progress=False)
    note = stop.value.sxhub_rerun  # type: ignore[attr-defined]
    assert f"the checkpoint of epoch {2 / steps:g} of 1, step 2 is kept in {out}/.checkpoints-" in note
    assert "the same command with --resume (Python: TuneOptions(resume=True)) continues from it" in note
    assert not (out / "model.safetensors").exists() and not (out / "sxhub.json").exists()
    [(folder, checkpoint, record)] = stopped_runs(out, "tune")
    assert checkpoint.name == "checkpoint-2" and [c.name for c in folder.glob("checkpoint-*")] == ["checkpoint-2"]
    assert (checkpoint / "adapter_model.safetensors").is_file() and (checkpoint / "optimizer.pt").is_file()
    assert record == json.loads((folder / RESUME_FILE).read_text()) and record["kind"] == "tune"

    from transformers import TrainerCallback

    ran: list[int] = []

    class Steps(TrainerCallback):  # type: ignore[misc]
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            ran.append(state.global_step)

    clock = iter([100.0, 110.0])  # the resumed run's training takes 10 s
    with monkeypatch.context() as patch:
        patch.setattr(sxhub.lora, "stderr_progress", lambda disable: Steps())
        patch.setattr(sxhub.tune, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
        resumed = tune(SPEC, labelled, out, _options(tiny_llama, resume=True), progress=False)

    assert ran == list(range(3, steps + 1))  # it went on from step 2 (from step 0 it gives the same model too)

    assert resumed.info["train"]["resumed_from"] == f"epoch {2 / steps:g} of 1, step 2"
    assert "resumed from epoch" in (out / "README.md").read_text(encoding="utf-8")
    assert "resumed_from" not in whole.info["train"] and resumed.info["train"]["steps"] == steps
    # the rate of the steps those 10 s trained (it divided every step's examples by them: 1.3 times the rate here)
    trained = resumed.info["train"]["n_trained"] * (steps - 2) / steps
    assert resumed.info["train"]["seconds"] == 10 and resumed.info["train"]["examples_per_s"] == round(trained / 10, 3)
    a, b = load_file(whole.output_dir / "model.safetensors"), load_file(out / "model.safetensors")
    assert a.keys() == b.keys()
    for name in a:  # exactly equal on CPU: the adapter, optimizer, scheduler and RNG states come back
        assert (a[name] == b[name]).all(), name
    assert resumed.info["heldout"] == whole.info["heldout"]
    # the training loss of every step, the stopped run's too (not only the Trainer's mean since the resume)
    assert resumed.info["train"]["train_loss"] == pytest.approx(whole.info["train"]["train_loss"], abs=1.2e-4)
    assert resumed.info["train"]["final_loss"] == whole.info["train"]["final_loss"]
    assert "train_loss_from_resume" not in resumed.info["train"]
    base = load_file(tiny_llama / "model.safetensors")
    assert any((a[name] != base[name]).any() for name in base)  # the tune changed the base's weights
    assert not folder.exists() and not list(out.glob(".checkpoints-*"))  # gone once the model is in


def test_resume_refuses_other_settings_or_nothing_to_continue_and_restart_removes_it(
    tiny_llama: Path, tmp_path: Path, labelled: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    out = tmp_path / "model"
    with pytest.raises(UserError, match=r"^--resume: .* holds no checkpoint of a stopped run to continue; drop"):
        tune(SPEC, labelled, out, _options(tiny_llama, resume=True), progress=False)
    assert not out.exists()
    with monkeypatch.context() as patch:
        _stop_at_save(patch, 1)
        with pytest.raises(KeyboardInterrupt):
            tune(SPEC, labelled, out, _options(tiny_llama), progress=False)
    [(folder, _, _)] = stopped_runs(out, "tune")

    with pytest.raises(
        UserError, match=r"other settings \(--learning-rate \(0.0005, now 0.001\); --lora-r \(4, now 8\)\).*--restart"
    ):
        tune(SPEC, labelled, out, _options(tiny_llama, resume=True, lora_r=8, learning_rate=1e-3), progress=False)
    other = tmp_path / "other.csv"
    labelled_frame(repeats=5).to_csv(other, index=False)
    with pytest.raises(UserError, match=r"other settings \(the examples \(examples_sha256"):
        tune(SPEC, other, out, _options(tiny_llama, resume=True), progress=False)
    assert folder.is_dir()  # refused: nothing lost

    # without --resume: one line says it would continue it; the checkpoint stays while this run tunes
    with monkeypatch.context() as patch:
        _stop_at_save(patch, 1)
        with pytest.raises(KeyboardInterrupt):
            tune(SPEC, labelled, out, _options(tiny_llama), progress=False)
    said = [r.getMessage() for r in caplog.records if "--resume would continue it" in r.getMessage()]
    assert len(said) == 1 and "step 1)" in said[0]
    assert folder.is_dir() and len(stopped_runs(out, "tune")) == 2

    tune(SPEC, labelled, out, _options(tiny_llama, restart=True), progress=False)
    assert not list(out.glob(".checkpoints-*")) and (out / "model.safetensors").is_file()


def test_a_tune_stopped_before_its_first_checkpoint_names_the_earlier_one_that_resume_continues(
    tiny_llama: Path, tmp_path: Path, labelled: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rerun without --resume stopped before its own first checkpoint ended on "a rerun starts over", while the
    stopped run's checkpoint it had warned of was still in -o for --resume; its line names that one, as the first
    stop's did (not where that run tuned other settings: --resume would refuse it)."""
    from transformers import TrainerCallback

    from sxhub.train_resume import where
    from sxhub.tune_resume import TUNE_HOW

    class StopAtOnce(TrainerCallback):  # type: ignore[misc]
        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            raise KeyboardInterrupt

    out = tmp_path / "model"
    with monkeypatch.context() as patch:
        _stop_at_save(patch, 1)
        with pytest.raises(KeyboardInterrupt):
            tune(SPEC, labelled, out, _options(tiny_llama), progress=False)
    [(folder, checkpoint, _)] = stopped_runs(out, "tune")
    for options, named in ((_options(tiny_llama), True), (_options(tiny_llama, lora_r=8), False)):
        with monkeypatch.context() as patch:
            patch.setattr(sxhub.lora, "stderr_progress", lambda disable: StopAtOnce())
            with pytest.raises(KeyboardInterrupt) as stop:
                tune(SPEC, labelled, out, options, progress=False)
        note = getattr(stop.value, "sxhub_rerun", None)
        assert note == (f"the checkpoint of {where(checkpoint)} is kept in {folder}: {TUNE_HOW}" if named else None)
        assert stopped_runs(out, "tune") == [(folder, checkpoint, json.loads((folder / RESUME_FILE).read_text()))]


def test_resume_and_restart_are_one_of_them_and_local_only(tmp_path: Path, capsys: Any) -> None:
    with pytest.raises(InputError, match="pass one of them"):
        TuneOptions(resume=True, restart=True)
    with pytest.raises(InputError, match="AutoTrain keeps none in -o"):
        TuneOptions(resume=True, backend="autotrain", epochs=1)
    (tmp_path / "task.yaml").write_text(TASK, encoding="utf-8")
    argv = ["tune", str(tmp_path / "task.yaml"), "x.csv", "-o", str(tmp_path / "m"), "--resume", "--restart"]
    code, _, err = run_cli(argv, capsys)
    assert code == 2 and error_line(err) == (
        "Error: --resume continues the stopped run and --restart starts over; pass one of them."
    )


def test_sigterm_keeps_the_checkpoint_and_says_how_to_continue(tiny_llama: Path, tmp_path: Path) -> None:
    task = tmp_path / "task.yaml"
    task.write_text(TASK, encoding="utf-8")
    labelled = tmp_path / "labelled.csv"
    labelled_frame().to_csv(labelled, index=False)
    model = tmp_path / "model"
    argv = ["tune", str(task), str(labelled), "-o", str(model), "--base", str(tiny_llama), "--group-size", "4",
            "--lora-r", "4", "--lora-alpha", "8", "--holdout", "6", "--epochs", "40"]  # fmt: skip

    done = _terminate_when(argv, lambda: any(model.glob(".checkpoints-*/checkpoint-*/trainer_state.json")))

    assert done.returncode == 128 + signal.SIGTERM, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("Terminated; the checkpoint of epoch ") and " of 40, step " in last
    assert f"is kept in {model}/.checkpoints-" in last
    assert "the same command with --resume (Python: TuneOptions(resume=True)) continues from it" in last
    assert len(stopped_runs(model, "tune")) == 1 and not (model / "sxhub.json").exists()


def test_whole_run_loss_weights_the_stopped_runs_logged_losses_by_their_spans() -> None:
    from sxhub.lora import whole_run_loss

    history = [{"loss": 4.0, "step": 2}, {"eval": 1, "step": 3}, {"loss": 1.0, "step": 6}, {"loss": 9.0, "step": 8}]
    # steps 1-2 at 4.0, 3-6 at 1.0 (logged up to the checkpoint at step 6), then 4 steps at 0.5 after the resume
    assert whole_run_loss(history, 6, 0.5, 10) == pytest.approx((2 * 4.0 + 4 * 1.0 + 4 * 0.5) / 10)
    assert whole_run_loss(history, None, 0.5, 10) == 0.5  # not resumed: the Trainer's mean is every step's
    assert whole_run_loss(history, 5, 0.5, 10) is None  # a checkpoint between two logs: its losses are unknown
