"""A training stopped part-way (Ctrl-C, SIGTERM, kill -9) keeps its checkpoint in -o; --resume continues it to the
model an unstopped run gives, and refuses in one line a run that trains something else."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli
from safetensors.torch import load_file
from test_sigterm import TASK, _terminate_when
from test_train import SINGLE, fast_config, single_frame

import sxhub.train_local
from sxhub.errors import UserError
from sxhub.train import train
from sxhub.train_config import TrainConfig
from sxhub.train_resume import RESUME_FILE, stopped_runs


def _stop_after_first_save(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C lands in training right after the Trainer saved its first checkpoint (the time cap's callback slot)."""
    from transformers import TrainerCallback

    class CtrlC(TrainerCallback):
        stopped = False

        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            raise KeyboardInterrupt

    monkeypatch.setattr(sxhub.train_local, "time_budget", lambda minutes: CtrlC())


def _stopped(monkeypatch: pytest.MonkeyPatch, data: Any, config: TrainConfig, **options: Any) -> KeyboardInterrupt:
    """Train ``data`` with ``config`` (and train()'s ``options``), Ctrl-C'd right after the first checkpoint; the
    interruption, whose ``sxhub_rerun`` says what was kept."""
    with monkeypatch.context() as patch:
        _stop_after_first_save(patch)
        with pytest.raises(KeyboardInterrupt) as stop:
            train(SINGLE, data, config, **options)
    return stop.value


def _config(out: Path, base: Path, **more: Any) -> TrainConfig:
    # validation improves until epoch 3 here: the model kept is one the stopped run never reached; resumable from the
    # first checkpoint (by default only after a minute of training)
    return fast_config(out, base, epochs=6, min_steps=0, learning_rate=1e-3, resumable_after=0, **more)


def test_resumed_run_gives_the_model_of_an_unstopped_run(
    tiny_base_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = single_frame(n=150)
    whole = train(SINGLE, data, _config(tmp_path / "whole", tiny_base_model))
    out = tmp_path / "student"
    stop = _stopped(monkeypatch, data, _config(out, tiny_base_model))
    assert "epoch 1 of 6, step 8 is kept in" in stop.sxhub_rerun  # type: ignore[attr-defined]
    assert not (out / "model.safetensors").exists()
    [(folder, checkpoint, _)] = stopped_runs(out)
    assert checkpoint.name == "checkpoint-8" and (checkpoint / "optimizer.pt").is_file()
    at_stop = load_file(checkpoint / "model.safetensors")

    resumed = train(SINGLE, data, _config(out, tiny_base_model, resume=True))

    assert "Resumed from epoch 1 of 6, step 8 of a stopped run (--resume)." in resumed.notes
    assert resumed.best_score == whole.best_score and resumed.epochs == whole.epochs
    a, b = load_file(tmp_path / "whole" / "model.safetensors"), load_file(out / "model.safetensors")
    assert a.keys() == b.keys()
    for name in a:  # exactly equal on CPU: the optimizer, scheduler and RNG states come back with the weights
        assert (a[name] == b[name]).all(), name
    assert any((b[name] != at_stop[name]).any() for name in b)  # the model kept was trained after the stop
    assert not folder.exists() and not list(out.glob(".checkpoints-*"))  # gone once the model is in


def test_resume_refuses_other_settings_and_a_new_run_keeps_the_checkpoint_until_it_completes(
    tiny_base_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    data = single_frame(n=150)
    out = tmp_path / "student"
    _stopped(monkeypatch, data, _config(out, tiny_base_model))
    [(folder, _, record)] = stopped_runs(out)
    assert json.loads((folder / RESUME_FILE).read_text()) == record

    with pytest.raises(UserError, match=r"other settings \(the data \(data_sha256\)\).*--restart"):
        train(SINGLE, single_frame(n=150, seed=1), _config(out, tiny_base_model, resume=True))
    with pytest.raises(UserError, match=r"--seed \(42, now 7\)"):
        train(SINGLE, data, _config(out, tiny_base_model, resume=True, seed=7))
    assert folder.is_dir()  # refused: nothing lost

    # without --resume: one line says it would continue it; the checkpoint stays while this run trains
    _stopped(monkeypatch, data, _config(out, tiny_base_model))
    said = [r.getMessage() for r in caplog.records if "--resume would continue it" in r.getMessage()]
    assert len(said) == 1 and "(epoch 1 of 6, step 8)" in said[0]
    assert folder.is_dir() and len(stopped_runs(out)) == 2

    train(SINGLE, data, _config(out, tiny_base_model, restart=True))
    assert not list(out.glob(".checkpoints-*")) and (out / "model.safetensors").is_file()

    with pytest.raises(UserError, match="holds no checkpoint of a stopped run"):
        train(SINGLE, data, _config(out, tiny_base_model, resume=True))


def test_resume_options_that_cannot_apply_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(UserError, match="pass one of them"):
        TrainConfig(output_dir=tmp_path, resume=True, restart=True)
    with pytest.raises(UserError, match="AutoTrain keeps none in -o"):
        TrainConfig(output_dir=tmp_path, resume=True, backend="autotrain")
    (tmp_path / "task.yaml").write_text(TASK, encoding="utf-8")
    code, _, err = run_cli(
        ["train", str(tmp_path / "task.yaml"), "x.csv", "-o", str(tmp_path / "m"), "--search", "2", "--resume"],
        capsys,
    )
    assert code == 2 and err.strip() == (
        "Error: --resume applies to one training; --search trains its trials anew: drop --resume or --search."
    )


def test_resume_in_a_distributed_run_is_refused(
    tiny_base_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(UserError, match="one-process run; this one has 2 processes"):
        train(SINGLE, single_frame(), _config(tmp_path / "m", tiny_base_model, resume=True))


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_sigterm_or_kill_then_resume_from_the_cli(tmp_path: Path, tiny_base_model: Path, how: int) -> None:
    task = tmp_path / "task.yaml"
    task.write_text(TASK, encoding="utf-8")
    labelled = tmp_path / "labelled.csv"
    single_frame(n=300).to_csv(labelled, index=False)
    model = tmp_path / "student"
    argv = ["train", str(task), str(labelled), "-o", str(model), "--base", str(tiny_base_model),
            "--resumable-after", "0", "--epochs", "500"]  # fmt: skip

    done = _terminate_when(argv, lambda: any(model.glob(".checkpoints-*/checkpoint-*/trainer_state.json")), sig=how)

    assert done.returncode == (128 + signal.SIGTERM if how == signal.SIGTERM else -signal.SIGKILL), done.stderr
    if how == signal.SIGTERM:
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith("Terminated; the checkpoint of epoch ") and " of 500, step " in last
        assert "the same command with --resume (Python: TrainConfig(resume=True)) continues from it" in last
    [(_, checkpoint, _)] = stopped_runs(model)
    other = subprocess.run([*done.args[:3], *argv[:-1], "1", "--resume"], capture_output=True, text=True, env=_env())
    # the stopped run's --epochs 500 is part of what it trains: another number is refused, naming it
    assert other.returncode == 2 and "--epochs (500.0, now 1.0)" in other.stderr.strip().splitlines()[-1]
    assert checkpoint.is_dir()

    # the same command with --resume continues it (here only for 3 s more: --max-minutes is the new run's own)
    same = subprocess.run(
        [*done.args[:3], *argv, "--resume", "--max-minutes", "0.05"], capture_output=True, text=True, env=_env()
    )
    assert same.returncode == 0, same.stderr
    step = checkpoint.name.split("-")[1]
    assert "resuming from epoch " in same.stderr and f", step {step} ({checkpoint})" in same.stderr
    assert f", step {step} of a stopped run (--resume)." in same.stdout
    assert (model / "model.safetensors").is_file() and not list(model.glob(".checkpoints-*"))


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}


def test_a_hub_base_whose_weights_came_after_the_stopped_runs_record_is_the_same_base(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Hub id as --base, not in the cache before: the stopped run's record was written when check_base had
    cached the config alone ({'base_revision': X}); the weights came next, so a --resume found {'base_revision': X,
    'base_sha256': ...} and refused "trained on other settings (the base model)". The same snapshot is the same
    base; another snapshot, or other weights, is not."""
    import huggingface_hub.constants

    from sxhub.run_record import base_record
    from sxhub.train_resume import differences

    cache = tmp_path / "hub"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    repo = cache / "models--org--base"
    snapshot = repo / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}", encoding="utf-8")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123", encoding="utf-8")
    stopped = base_record("org/base")
    assert stopped == {"base_revision": "abc123"}
    (snapshot / "model.safetensors").write_bytes(b"weights")
    now = base_record("org/base")
    assert set(now) == {"base_revision", "base_sha256"}
    same = {"data_sha256": "d", "labels": {}, "options": {}}
    assert differences({**same, "base": stopped}, {**same, "base": now}) == []
    assert differences({**same, "base": {"base_revision": "old999"}}, {**same, "base": now}) == ["the base model"]
    other = {**now, "base_sha256": "0" * 64}
    assert differences({**same, "base": other}, {**same, "base": now}) == ["the base model"]


def test_a_rerun_of_sxhub_run_continues_the_training_sigterm_stopped(tmp_path: Path, tiny_base_model: Path) -> None:
    """SIGTERM during sxhub run's train stage removed its checkpoints, and the same command trained from step 0
    again. The checkpoint is kept, the last line says the same command continues from it, and the rerun does."""
    import pandas as pd
    from test_run import FIN, _oracle, _run_args

    out = tmp_path / "out"
    with _oracle(pd.read_csv(FIN / "texts.csv")) as server:
        argv = [*_run_args(out, tiny_base_model), "--teacher", server.url, "--no-int8", "--resumable-after", "0"]
        argv[argv.index("--epochs") + 1] = "60"
        done = _terminate_when(argv, lambda: any(out.glob("model/.checkpoints-*/checkpoint-*/trainer_state.json")))
        assert done.returncode == 128 + signal.SIGTERM, done.stderr
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith("Terminated during train; the teachers' answers are kept and the checkpoint of epoch ")
        assert last.endswith(": the same command continues training from it (--retrain starts over).")
        [(_, checkpoint, _)] = stopped_runs(out / "model")
        step = checkpoint.name.split("-")[1]

        again = subprocess.run([*done.args[:3], *argv], capture_output=True, text=True, env=_env())
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"train: resuming the stopped run from epoch 1 of 60, step {step} ({checkpoint})" in again.stderr
    train_stage = json.loads((out / "report.json").read_text())["stages"]["train"]
    assert f"continued from its checkpoint (epoch 1 of 60, step {step})" in train_stage["resumed"]
    assert (
        f"Resumed from epoch 1 of 60, step {step} of a stopped run (the same sxhub run again)."
        in (train_stage["summary"])
    )
    assert (out / "model" / "model.safetensors").is_file() and not list(out.glob("model/.checkpoints-*"))


def test_sxhub_runs_training_starts_over_saying_why_when_the_stopped_one_trained_otherwise(
    tiny_base_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """What sxhub run asks of train (resume_if_same; --retrain: restart): another training starts over in one line
    and keeps the stopped one's checkpoint until it completes; --retrain removes it at once."""
    data = single_frame(n=150)
    out = tmp_path / "student"

    def stop(**more: Any) -> None:
        stopped = _stopped(monkeypatch, data, _config(out, tiny_base_model, **more), resume_if_same=True)
        assert stopped.sxhub_rerun.endswith(  # type: ignore[attr-defined]
            ": the same command continues training from it (--retrain starts over)"
        )

    stop()
    [(folder, _, _)] = stopped_runs(out)
    other = train(SINGLE, data, _config(out, tiny_base_model, seed=7), resume_if_same=True)
    said = [r.getMessage() for r in caplog.records if "trained on other settings" in r.getMessage()]
    assert len(said) == 1 and "(--seed (42, now 7)), so this one starts from step 0" in said[0]
    assert other.resumed_from is None and not folder.exists()  # removed once this run completed

    stop()
    resumed = train(SINGLE, data, _config(out, tiny_base_model), resume_if_same=True)
    assert resumed.resumed_from == "epoch 1 of 6, step 8" and not list(out.glob(".checkpoints-*"))

    stop()
    train(SINGLE, data, _config(out, tiny_base_model, restart=True), resume_if_same=True)  # sxhub run --retrain
    assert not list(out.glob(".checkpoints-*"))


def test_a_search_into_the_folder_leaves_a_stopped_trainings_checkpoint(
    tiny_base_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """train --search removed the checkpoint a stopped sxhub train kept for --resume, without a word. It is left,
    one line says so and how to continue it, and --resume then continues it."""
    pytest.importorskip("optuna")
    from sxhub.search import search

    data = single_frame(n=150)
    out = tmp_path / "student"
    _stopped(monkeypatch, data, _config(out, tiny_base_model))
    [(folder, checkpoint, _)] = stopped_runs(out)

    searched = search(SINGLE, data, fast_config(out, tiny_base_model, epochs=1, min_steps=0), trials=1)

    assert searched.model_dir == out and (out / "model.safetensors").is_file()
    assert stopped_runs(out) == [(folder, checkpoint, json.loads((folder / RESUME_FILE).read_text()))]
    said = [r.getMessage() for r in caplog.records if "--search leaves it there" in r.getMessage()]
    assert len(said) == 1 and "(epoch 1 of 6, step 8)" in said[0] and "with --resume in place of --search" in said[0]
    assert "sxhub train --restart (without --search)" in said[0]  # --search refuses --restart beside it
    resumed = train(SINGLE, data, _config(out, tiny_base_model, resume=True))
    assert resumed.resumed_from == "epoch 1 of 6, step 8" and not list(out.glob(".checkpoints-*"))


def test_how_a_run_of_sxhub_run_starts_leaves_its_students_fingerprint_alone(tmp_path: Path) -> None:
    """A rerun of sxhub run reuses the student when what it trains is the same (OUT/train.fingerprint.json). The
    hash took in --resumable-after, which says when checkpoints hold the optimizer state, not what is learned: a rerun
    with another value trained the whole student again, and so did every rerun of an OUT trained before the option
    (its hash had no such key)."""
    from sxhub.run_reuse import train_fingerprint

    rows = single_frame(n=12)
    plain = train_fingerprint(SINGLE, rows, TrainConfig(output_dir=tmp_path), gold=None)
    for how in ({"resumable_after": 0.0}, {"resumable_after": 30.0}, {"threads": 2}, {"restart": True}):
        assert train_fingerprint(SINGLE, rows, TrainConfig(output_dir=tmp_path, **how), gold=None) == plain, how
    assert train_fingerprint(SINGLE, rows, TrainConfig(output_dir=tmp_path, epochs=3), gold=None) != plain


def test_a_checkpoint_whose_files_were_being_removed_is_passed_over(tmp_path: Path) -> None:
    """At the end of training the Trainer deletes the last checkpoint when it is not the best (save_total_limit 1);
    kill -9 during that rmtree left it without some of its files but with trainer_state.json and optimizer.pt, which
    were all last_checkpoint looked for: --resume picked it, the highest step, and failed on its missing weights."""
    from sxhub.train_resume import last_checkpoint

    names = ("model.safetensors", "optimizer.pt", "scheduler.pt", "rng_state.pth")
    for step, missing in ((4, None), (8, "model.safetensors"), (12, "scheduler.pt"), (16, "rng_state.pth")):
        checkpoint = tmp_path / f"checkpoint-{step}"
        checkpoint.mkdir()
        (checkpoint / "trainer_state.json").write_text(json.dumps({"global_step": step}), encoding="utf-8")
        for name in names:
            if name != missing:
                (checkpoint / name).write_bytes(b"x")
    assert last_checkpoint(tmp_path) == tmp_path / "checkpoint-4"


def test_sxhub_runs_training_stopped_before_resumable_after_names_the_option(
    tiny_base_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sxhub run has --resumable-after too (5e28ded), but the line of its training stopped in its first minute named
    the option only for sxhub train, so a run's user read that a minute of training was fixed."""
    config = fast_config(tmp_path / "model", tiny_base_model, epochs=6, min_steps=0)
    stopped = _stopped(monkeypatch, single_frame(40), config, resume_if_same=True)  # as sxhub run's train stage
    said = stopped.sxhub_rerun  # type: ignore[attr-defined]
    assert "(they can after 1 min of training, --resumable-after), so none is kept" in said, said


def test_a_runs_report_says_whether_its_stopped_training_left_a_checkpoint(tmp_path: Path) -> None:
    """report.md of a run stopped in train said the rerun continues 'from the checkpoint it left', though a training
    stopped before --resumable-after leaves none (5e28ded): the rerun trains from the start. It now says which, and
    from where the rerun goes on."""
    from sxhub.run_config import RunConfig
    from sxhub.run_report import Report

    def stopped(out: Path) -> tuple[dict[str, Any], str]:
        report = Report(SINGLE, RunConfig(out=out))
        report.begin("train")
        report.stop(KeyboardInterrupt())
        return report.to_dict()["stopped"], (out / "report.md").read_text(encoding="utf-8")

    said, markdown = stopped(tmp_path / "none")
    assert said == {"stage": "train", "why": "interrupted"}
    assert "checkpoint it left" not in markdown
    assert "the training started anew: it stopped before its checkpoints could be resumed (--resumable-after)" in (
        markdown
    )

    kept = tmp_path / "kept" / "model" / ".checkpoints-ab12"
    checkpoint = kept / "checkpoint-8"
    checkpoint.mkdir(parents=True)
    (kept / RESUME_FILE).write_text("{}", encoding="utf-8")
    state = {"epoch": 1.0, "num_train_epochs": 6, "global_step": 8}
    (checkpoint / "trainer_state.json").write_text(json.dumps(state), encoding="utf-8")
    for name in ("model.safetensors", "optimizer.pt", "scheduler.pt", "rng_state.pth"):
        (checkpoint / name).write_bytes(b"x")
    said, markdown = stopped(tmp_path / "kept")
    assert said == {"stage": "train", "why": "interrupted", "checkpoint": "epoch 1 of 6, step 8"}
    assert "the training continued from the checkpoint it left (epoch 1 of 6, step 8), where it matches" in markdown


def test_an_autotrain_run_into_the_folder_leaves_a_stopped_trainings_checkpoint(
    tiny_base_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """train --backend autotrain removed the checkpoint a stopped local sxhub train kept for --resume, without a word
    (as --search did before ff0d625): AutoTrain keeps none of its own, so its run dropped every checkpoint folder in
    -o. It is left, one line says so; --restart removes it."""
    import sxhub.autotrain_train

    data = single_frame(n=150)
    out = tmp_path / "student"
    _stopped(monkeypatch, data, _config(out, tiny_base_model))
    [(folder, _, _)] = stopped_runs(out)

    def stopped(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt  # what AutoTrain did after sxhub's start does not matter here

    monkeypatch.setattr(sxhub.autotrain_train, "train_autotrain", stopped)
    autotrain = fast_config(out, tiny_base_model, backend="autotrain", min_steps=0)
    with pytest.raises(KeyboardInterrupt):
        train(SINGLE, data, autotrain)
    assert folder.is_dir()
    said = [r.getMessage() for r in caplog.records if "--backend autotrain leaves it there" in r.getMessage()]
    assert len(said) == 1 and "(epoch 1 of 6, step 8)" in said[0]
    with pytest.raises(KeyboardInterrupt):
        train(SINGLE, data, fast_config(out, tiny_base_model, backend="autotrain", min_steps=0, restart=True))
    assert not folder.exists()


def test_a_distributed_run_into_the_folder_says_it_leaves_a_stopped_trainings_checkpoint(
    tiny_base_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Under torchrun a run leaves checkpoint folders alone (its other processes make theirs): a stopped
    one-process training's stayed without a word, and --restart did not remove it. One line says it is left and how to
    continue it; --restart removes it."""
    import sxhub.train

    data = single_frame(n=150)
    out = tmp_path / "student"
    _stopped(monkeypatch, data, _config(out, tiny_base_model))
    [(folder, _, _)] = stopped_runs(out)

    def stopped(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt  # what the processes trained does not matter here

    monkeypatch.setattr(sxhub.train, "train_local", stopped)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(KeyboardInterrupt):
        train(SINGLE, data, fast_config(out, tiny_base_model, min_steps=0))
    assert folder.is_dir()
    said = [
        r.getMessage() for r in caplog.records if "(torchrun / accelerate launch) leaves it there" in r.getMessage()
    ]
    assert len(said) == 1 and "(epoch 1 of 6, step 8)" in said[0]
    assert "--resume (one process, without the launcher) continues it, --restart removes it" in said[0]
    with pytest.raises(KeyboardInterrupt):
        train(SINGLE, data, fast_config(out, tiny_base_model, min_steps=0, restart=True))
    assert not folder.exists()


def test_a_new_run_says_it_will_remove_a_stopped_run_of_other_settings(
    tiny_base_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A run without --resume beside a stopped run of the same training says that --resume would continue it; beside
    one of other settings (another --seed, a changed file) it said nothing, and removed it once it completed: the
    epochs trained before the stop went without a word. One line names what differs and that it goes."""
    data = single_frame(n=150)
    out = tmp_path / "student"
    _stopped(monkeypatch, data, _config(out, tiny_base_model))
    [(folder, _, _)] = stopped_runs(out)

    train(SINGLE, data, _config(out, tiny_base_model, seed=7))

    said = [r.getMessage() for r in caplog.records if " of other settings (" in r.getMessage()]
    assert len(said) == 1 and "--seed (42, now 7)" in said[0] and "(epoch 1 of 6, step 8)" in said[0], said
    assert "this run removes it once it completes" in said[0] and not folder.exists()


def test_resume_knows_files_by_their_path_and_a_distill_model_by_its_weights(
    tiny_base_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stopped run's --validation and --distill were compared as typed: `--validation val.csv` then its absolute
    path was refused as other settings (the same file, the same rows), and a --distill model retrained in place was
    taken as the same. Files count by their absolute path, the --distill model by its weights too."""
    monkeypatch.chdir(tmp_path)
    single_frame(n=30, seed=5).to_csv(tmp_path / "val.csv", index=False)
    teacher = tmp_path / "teacher"
    train(SINGLE, single_frame(n=90), fast_config(teacher, tiny_base_model, epochs=1, min_steps=0))
    data, out = single_frame(n=150), tmp_path / "student"

    def config(validation: Path, **more: Any) -> TrainConfig:
        return _config(out, tiny_base_model, validation_file=validation, distill=str(teacher), **more)

    _stopped(monkeypatch, data, config(Path("val.csv")))
    [(folder, _, _)] = stopped_runs(out)
    train(SINGLE, single_frame(n=90), fast_config(teacher, tiny_base_model, epochs=1, min_steps=0, seed=3))  # again
    # the same validation file by another path is not named: only the weights that changed
    with pytest.raises(UserError, match=r"other settings \(the --distill model's weights\)"):
        train(SINGLE, data, config(tmp_path / "val.csv", resume=True))
    assert folder.is_dir()
