"""``sxhub train --search``: what is searched, what is held as given, the time cap, and trials without a score.

The search itself is tested here around a stand-in for :func:`sxhub.train.train` (each trial writes a folder and
returns a chosen score), so that these run in a second; ``test_train.py`` runs a search with real training.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import require_modules

from sxhub import search as search_module
from sxhub.errors import BackendError, InputError, UserError
from sxhub.interrupts import Terminated
from sxhub.spec import TaskSpec
from sxhub.train_config import TrainConfig, TrainResult

SPEC = TaskSpec(name="fin", labels=["positive", "negative"])
ROWS = [{"text": f"profit rose {i}", "label": "positive"} for i in range(6)] + [
    {"text": f"loss fell {i}", "label": "negative"} for i in range(6)
]


@dataclass
class Trials:
    """What the stand-in train() saw (``configs``, in order) and the scores it gives (``scores``; empty: trial n
    scores 0.5 + n / 10)."""

    configs: list[TrainConfig] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    beside: list[list[str]] = field(default_factory=list)  # the other trial folders there as each trial started
    seconds: float = 0.0  # how long each trial takes
    data: list[Any] = field(default_factory=list)  # the labelled data each trial was given


@pytest.fixture
def trials(monkeypatch: pytest.MonkeyPatch) -> Trials:
    """Replace train() in the search: each trial writes its folder and returns its score."""
    require_modules("optuna", install='pip install "sxhub[search]"')
    seen = Trials()

    def fake_train(spec: TaskSpec, data: Any, config: TrainConfig, **_: Any) -> TrainResult:
        n = len(seen.configs)
        seen.configs.append(config)
        seen.data.append(data)
        out = Path(config.output_dir)
        seen.beside.append(sorted(p.name for p in out.parent.iterdir()))
        time.sleep(seen.seconds)
        out.mkdir(parents=True)
        (out / "sxhub.json").write_text(json.dumps({"train": {}}), encoding="utf-8")
        return TrainResult(
            model_dir=out,
            backend="local",
            base_model="tiny",
            multi_label=False,
            labels=SPEC.label_names,
            max_length=16,
            n_train=10,
            n_val=2,
            epochs=1.0,
            seconds=0.1,
            best_metric="macro_f1",
            best_score=seen.scores[n] if seen.scores else 0.5 + n / 10,
        )

    monkeypatch.setattr(search_module, "train", fake_train)
    return seen


def _frame() -> Any:
    import pandas as pd

    return pd.DataFrame(ROWS)


def test_given_batch_size_learning_rate_and_weight_decay_are_held(tmp_path: Path, trials: Trials) -> None:
    config = TrainConfig(output_dir=tmp_path / "best", batch_size=8, learning_rate=1e-3, weight_decay=0.05)
    with pytest.raises(UserError, match=r"nothing left to search.*drop --learning-rate or --batch-size"):
        search_module.search(SPEC, _frame(), config, trials=2)
    assert trials.configs == [], "refused before any trial trained"

    config = TrainConfig(output_dir=tmp_path / "best", batch_size=8, weight_decay=0.05)
    result = search_module.search(SPEC, _frame(), config, trials=3)
    assert [(c.batch_size, c.weight_decay) for c in trials.configs] == [(8, 0.05)] * 3
    assert len({c.learning_rate for c in trials.configs}) == 3, "the learning rate, left to sxhub, is searched"
    record = json.loads((tmp_path / "best" / "sxhub.json").read_text())["train"]["search"]
    assert record["held"] == {"batch_size": 8, "weight_decay": 0.05}
    assert set(record["best"]) == {"number", "value", "learning_rate"}
    assert "Held as given: batch_size=8, weight_decay=0.05." in result.notes[-1]


def test_what_is_left_to_sxhub_is_searched(tmp_path: Path, trials: Trials) -> None:
    search_module.search(SPEC, _frame(), TrainConfig(output_dir=tmp_path / "best"), trials=4)
    assert {c.batch_size for c in trials.configs} <= {16, 32, 64}
    assert {c.weight_decay for c in trials.configs} <= {0.0, 0.01, 0.1}
    record = json.loads((tmp_path / "best" / "sxhub.json").read_text())["train"]["search"]
    assert record["held"] == {}
    assert set(record["best"]) == {"number", "value", "learning_rate", "batch_size", "weight_decay"}


@pytest.mark.parametrize("minutes", [-1, 0, float("nan")])
def test_search_minutes_must_be_positive(tmp_path: Path, trials: Trials, minutes: float) -> None:
    with pytest.raises(UserError, match=r"minutes=.* is out of range; it must be a number > 0"):
        search_module.search(SPEC, _frame(), TrainConfig(output_dir=tmp_path / "best"), trials=2, minutes=minutes)
    assert trials.configs == []


@pytest.mark.parametrize("minutes", ["-1", "0"])
def test_cli_refuses_search_minutes_of_zero_or_less(tmp_path: Path, minutes: str) -> None:
    from sxhub.cli.train import train as train_command

    task = tmp_path / "task.yaml"
    task.write_text("name: fin\nlabels: [positive, negative]\n", encoding="utf-8")
    got = CliRunner().invoke(
        train_command, [str(task), "x.csv", "-o", str(tmp_path / "m"), "--search", "2", "--search-minutes", minutes]
    )
    assert got.exit_code == 2
    assert "--search-minutes" in got.output and "not in the range x>0" in got.output


def test_trials_without_a_score_count_as_failed(tmp_path: Path, trials: Trials) -> None:
    trials.scores.extend([float("nan"), 0.7, float("nan")])
    result = search_module.search(SPEC, _frame(), TrainConfig(output_dir=tmp_path / "best"), trials=3)
    assert result.best_score == 0.7
    record = json.loads((tmp_path / "best" / "sxhub.json").read_text())["train"]["search"]
    assert record["failed_trials"] == 2 and [t["number"] for t in record["trials"]] == [1]


def test_no_trial_with_a_score_is_one_clear_error(tmp_path: Path, trials: Trials) -> None:
    trials.scores.extend([float("nan"), float("nan")])
    with pytest.raises(BackendError, match=r"none of the 2 trial\(s\) gave a validation macro_f1"):
        search_module.search(SPEC, _frame(), TrainConfig(output_dir=tmp_path / "best"), trials=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "no trial folder is left behind"


def test_only_the_best_trials_folder_is_kept_while_searching(tmp_path: Path, trials: Trials) -> None:
    """Every trial's model folder stayed beside -o until the search ended (20 MiniLM trials: 1.8 GB)."""
    trials.scores.extend([0.6, 0.5, 0.8, 0.7, float("nan")])
    result = search_module.search(SPEC, _frame(), TrainConfig(output_dir=tmp_path / "best"), trials=5)
    assert trials.beside == [[], ["trial-0"], ["trial-0"], ["trial-2"], ["trial-2"]]
    assert result.best_score == 0.8 and sorted(p.name for p in tmp_path.iterdir()) == ["best"]


def test_search_minutes_caps_the_trial_under_way_and_is_said(tmp_path: Path, trials: Trials) -> None:
    """Optuna's timeout only stops starting trials: one begun near the cap trained its whole --max-minutes (60 by
    default) past it, and the note said "1 trial(s)" without a word of the trials not run."""
    trials.seconds = 0.2  # longer than the whole search's minutes: Optuna starts no second trial
    result = search_module.search(SPEC, _frame(), TrainConfig(output_dir=tmp_path / "best"), trials=3, minutes=0.001)
    assert len(trials.configs) == 1
    assert (
        trials.configs[0].max_minutes is not None and trials.configs[0].max_minutes <= search_module.MIN_TRIAL_MINUTES
    )
    assert "Stopped at --search-minutes 0.001 after 1 of the 3 trials." in result.notes[-1]
    assert result.notes[-1].startswith("Hyperparameter search: 1 trial(s) in 0.0 min, best macro_f1")
    record = json.loads((tmp_path / "best" / "sxhub.json").read_text())["train"]["search"]
    assert record["seconds"] >= trials.seconds  # the whole search; the result's seconds are the kept trial's
    # the trial's own time-cap note names what capped it: the search's minutes, not a --max-minutes never passed
    assert trials.configs[0].max_minutes_from == "what was left of --search-minutes"
    trials.configs.clear()
    search_module.search(SPEC, _frame(), TrainConfig(output_dir=tmp_path / "b2", max_minutes=60), trials=1, minutes=30)
    assert 29 < (trials.configs[0].max_minutes or 0) <= 30
    trials.configs.clear()
    search_module.search(SPEC, _frame(), TrainConfig(output_dir=tmp_path / "b3", max_minutes=5), trials=1, minutes=30)
    assert (trials.configs[0].max_minutes, trials.configs[0].max_minutes_from) == (5, "--max-minutes")


@pytest.mark.parametrize("error", [KeyboardInterrupt, InputError])
def test_a_trial_that_raises_prints_no_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], error: type[BaseException]
) -> None:
    """Ctrl-C (or SIGTERM, or a bad input) during a trial: Optuna logged its whole traceback as a warning before
    the CLI's one line ("Interrupted; ..."); nothing is left beside -o."""
    require_modules("optuna", install='pip install "sxhub[search]"')

    def failing_train(spec: TaskSpec, data: Any, config: TrainConfig, **_: Any) -> TrainResult:
        Path(config.output_dir).mkdir(parents=True)
        raise error("stop")

    monkeypatch.setattr(search_module, "train", failing_train)
    with pytest.raises(error):
        search_module.search(SPEC, _frame(), TrainConfig(output_dir=tmp_path / "best"), trials=2)
    assert "Traceback" not in capfd.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("error", "said"), [(KeyboardInterrupt, "Ctrl-C"), (Terminated, "SIGTERM")])
def test_an_interrupted_search_keeps_the_best_finished_trial(
    tmp_path: Path, trials: Trials, monkeypatch: pytest.MonkeyPatch, error: type[BaseException], said: str
) -> None:
    """Ctrl-C (or SIGTERM) in the fourth trial: every finished trial was lost, -o kept the earlier model and no
    setting the trials found was left. The best finished trial is kept with its record; the interrupt goes on."""
    trials.scores.extend([0.6, 0.8, 0.7, 0.9])
    out = tmp_path / "best"
    (out / "notes.txt").parent.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "model.safetensors").write_bytes(b"earlier weights")
    (out / "sxhub.json").write_text(json.dumps({"train": {"earlier": True}}))
    fake_train = search_module.train

    def stopped_in_the_fourth(spec: TaskSpec, data: Any, config: TrainConfig, **_: Any) -> TrainResult:
        if len(trials.configs) == 3:
            Path(config.output_dir).mkdir(parents=True)  # the trial under way had begun writing
            raise error()
        return fake_train(spec, data, config)

    monkeypatch.setattr(search_module, "train", stopped_in_the_fourth)
    with pytest.raises(error) as stop:
        search_module.search(SPEC, _frame(), TrainConfig(output_dir=out), trials=10)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "sxhub.json"]  # the trial's files (one here)
    record = json.loads((out / "sxhub.json").read_text())["train"]["search"]
    assert record["interrupted"] == said and record["failed_trials"] == 0
    assert [t["number"] for t in record["trials"]] == [0, 1, 2] and record["best"]["number"] == 1
    rerun = stop.value.sxhub_rerun  # type: ignore[attr-defined]
    assert rerun.startswith("the search stopped after 3 finished of 10 trials, the one under way dropped; the best "
                            "(macro_f1 0.8000, learning_rate=")  # fmt: skip
    assert f"is kept in {out}" in rerun


def test_searching_into_a_model_folder_keeps_the_users_files(tmp_path: Path, trials: Trials) -> None:
    """-o holding an earlier model: the search deleted the whole folder and moved the kept trial in its place,
    which lost the user's notes and a clone's .git. The kept trial moves in as train moves a student in: the
    earlier model's files and its onnx/ go, the rest stays, and no work folder is left."""
    out = tmp_path / "best"
    (out / ".git").mkdir(parents=True)
    (out / ".git" / "HEAD").write_text("ref")
    (out / "notes.txt").write_text("mine")
    (out / "pytorch_model.bin").write_bytes(b"earlier weights")
    (out / "onnx").mkdir()
    (out / "onnx" / "model.onnx").write_bytes(b"earlier export")
    (out / "sxhub.json").write_text(json.dumps({"train": {"earlier": True}}))
    result = search_module.search(SPEC, _frame(), TrainConfig(output_dir=out), trials=2)
    assert sorted(p.name for p in out.iterdir()) == [".git", "notes.txt", "sxhub.json"]
    assert (out / "notes.txt").read_text() == "mine" and (out / ".git" / "HEAD").read_text() == "ref"
    record = json.loads((out / "sxhub.json").read_text())["train"]
    assert "earlier" not in record and record["search"]["best"]["number"] == 1
    assert any(note.startswith("Removed onnx/") for note in result.notes)


def test_a_trial_that_runs_out_of_memory_fails_and_the_search_goes_on(
    tmp_path: Path, trials: Trials, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A searched batch size of 64 the GPU cannot hold: the OutOfMemoryError ended the whole search, and the trials
    already finished were lost (-o kept the earlier model). That trial now counts as failed and the search goes on;
    when every trial runs out of memory, one line names the fix."""
    import torch

    fake_train = search_module.train

    def short_of_memory(spec: TaskSpec, data: Any, config: TrainConfig, **_: Any) -> TrainResult:
        if len(trials.configs) == 1:
            trials.configs.append(config)
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return fake_train(spec, data, config)

    monkeypatch.setattr(search_module, "train", short_of_memory)
    trials.scores.extend([0.6, math.nan, 0.8])
    result = search_module.search(SPEC, _frame(), TrainConfig(output_dir=tmp_path / "best"), trials=3)
    assert result.best_score == 0.8
    record = json.loads((tmp_path / "best" / "sxhub.json").read_text())["train"]["search"]
    assert record["failed_trials"] == 1 and record["out_of_memory_trials"] == [1]
    assert [t["number"] for t in record["trials"]] == [0, 2]

    def never_fits(spec: TaskSpec, data: Any, config: TrainConfig, **_: Any) -> TrainResult:
        raise torch.OutOfMemoryError("CUDA out of memory.")

    monkeypatch.setattr(search_module, "train", never_fits)
    with pytest.raises(BackendError, match=r"all 2 trial\(s\) ran out of memory.*--batch-size 16"):
        search_module.search(SPEC, _frame(), TrainConfig(output_dir=tmp_path / "none"), trials=2)
    assert not (tmp_path / "none").exists()


def test_the_cli_puts_optunas_verbosity_back(
    tmp_path: Path, trials: Trials, capsys: pytest.CaptureFixture[str]
) -> None:
    """The search sets Optuna's verbosity to ERROR (a failed trial's traceback came before the CLI's one line) and
    left it so: ``main(["train", ..., "--search", "2"])`` in a notebook or a script silenced the caller's own studies
    after it. It is as it was once the search ends, an error too."""
    import optuna
    from conftest import run_cli

    task = tmp_path / "task.yaml"
    task.write_text(SPEC.to_yaml(), encoding="utf-8")
    _frame().to_csv(tmp_path / "labelled.csv", index=False)
    start = optuna.logging.get_verbosity()
    try:
        optuna.logging.set_verbosity(optuna.logging.DEBUG)  # the caller's
        for scores, expected in (([], 0), ([math.nan, math.nan], 1)):
            trials.scores[:] = scores
            argv = ["train", str(task), str(tmp_path / "labelled.csv"), "-o", str(tmp_path / "m"), "--search", "2"]
            code, _, err = run_cli(argv, capsys)
            assert code == expected, err
            assert optuna.logging.get_verbosity() == optuna.logging.DEBUG
    finally:
        optuna.logging.set_verbosity(start)


def test_search_learns_the_label_column_asked_for(
    tmp_path: Path, trials: Trials, capsys: pytest.CaptureFixture[str]
) -> None:
    """train --search --label-column gold: every trial learns the experts' gold, not the teachers' label beside it."""
    from conftest import run_cli

    task = tmp_path / "task.yaml"
    task.write_text(SPEC.to_yaml(), encoding="utf-8")
    frame = _frame()
    frame = frame.assign(
        gold=frame["label"], label=frame["label"].map({"positive": "negative", "negative": "positive"})
    )
    frame.to_csv(tmp_path / "labelled.csv", index=False)
    argv = ["train", str(task), str(tmp_path / "labelled.csv"), "-o", str(tmp_path / "m"), "--search", "2"]
    code, _, err = run_cli([*argv, "--label-column", "gold"], capsys)
    assert code == 0, err
    assert len(trials.data) == 2
    for data in trials.data:
        assert data.label_column == "gold" and data.labels == frame["gold"].tolist()
