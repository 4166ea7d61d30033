"""The AutoTrain backend: input checks, config, env discovery, label remapping, a fake and a real AutoTrain run."""

from __future__ import annotations

import json
import os
import re
import stat
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import build_tiny_model, missing_component

from sxhub import autotrain, autotrain_env
from sxhub.autotrain import (
    AutoTrainMissingError,
    build_config,
    find_autotrain,
    label_permutation,
    log_tail,
    normalise_model,
    run_autotrain,
)
from sxhub.errors import BackendError, InputError, ModelError, UserError

TASK_LABELS = ["positive", "neutral", "negative"]  # not alphabetical: AutoTrain's order differs
ALPHABETICAL = sorted(TASK_LABELS)
TEXTS = {
    "positive": "profit rose and sales growth was strong",
    "neutral": "the company will open a new store in the city",
    "negative": "net loss and weak sales as shares fell",
}


def _frame(n_per_label: int = 3) -> pd.DataFrame:
    rows = [{"text": f"{TEXTS[name]} w{i}", "label": name} for name in TASK_LABELS for i in range(n_per_label)]
    return pd.DataFrame(rows)


def _kwargs(tmp_path: Path, base: Path | str, **over: object) -> dict[str, object]:
    kwargs: dict[str, object] = {
        "label_names": TASK_LABELS,
        "base_model": base,
        "output_dir": tmp_path / "model",
        "epochs": 1,
        "batch_size": 4,
        "learning_rate": 5e-5,
        "max_length": 32,
        "seed": 0,
        "workdir": tmp_path / "work",
        "echo": False,
    }
    kwargs.update(over)
    return kwargs


@pytest.fixture
def no_autotrain(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if anything tries to find (and so run) AutoTrain."""

    def refuse() -> None:
        raise AssertionError("AutoTrain was looked up although the input should have been refused first")

    monkeypatch.setattr(autotrain, "find_autotrain", refuse)


@pytest.fixture
def autotrain_style_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT saved the way AutoTrain saves it: labels sorted alphabetically in config.json."""
    from transformers import AutoConfig

    path = build_tiny_model(tmp_path_factory.mktemp("autotrain-out"), num_labels=3, seed=1)
    config = AutoConfig.from_pretrained(path)
    config.id2label = dict(enumerate(ALPHABETICAL))
    config.label2id = {name: i for i, name in enumerate(ALPHABETICAL)}
    config.save_pretrained(path)
    return path


# --- input checks: refused before anything runs ------------------------------------------------------------------


def test_multi_label_rows_are_refused_before_anything_runs(tmp_path: Path, no_autotrain: None) -> None:
    train = pd.DataFrame({"text": ["a", "b", "c"], "label": [["positive"], ["neutral", "negative"], ["negative"]]})
    with pytest.raises(InputError, match=r"single-label only.*--backend local"):
        run_autotrain(train, _frame(), **_kwargs(tmp_path, "unused"))
    assert not (tmp_path / "work").exists()


def test_labels_column_is_refused_as_multi_label(tmp_path: Path, no_autotrain: None) -> None:
    train = pd.DataFrame({"text": ["a"], "labels": [["positive"]]})
    with pytest.raises(InputError, match=re.escape("AutoTrain's text classifier is single-label only")):
        run_autotrain(train, _frame(), **_kwargs(tmp_path, "unused"))


def test_non_string_labels_are_refused(tmp_path: Path, no_autotrain: None) -> None:
    for bad, shown in ((None, "None"), (2, "2")):
        train = _frame().astype({"label": object})
        train.loc[0, "label"] = bad
        with pytest.raises(InputError, match=rf"1 non-string \({shown}\) label.*drop the rows whose label failed"):
            run_autotrain(train, _frame(), **_kwargs(tmp_path, "unused"))


def test_unknown_and_missing_labels_are_refused(tmp_path: Path, no_autotrain: None) -> None:
    train = _frame()
    train.loc[0, "label"] = "bullish"
    with pytest.raises(InputError, match=r"labels \['bullish'\] that are not in the task's labels"):
        run_autotrain(train, _frame(), **_kwargs(tmp_path, "unused"))
    valid = _frame()[lambda df: df["label"] != "neutral"]
    with pytest.raises(InputError, match=r"validation data has no example of label\(s\) \['neutral'\]"):
        run_autotrain(_frame(), valid, **_kwargs(tmp_path, "unused"))


def test_bad_training_figures_are_refused(tmp_path: Path, no_autotrain: None) -> None:
    with pytest.raises(InputError, match="epochs >= 1"):
        run_autotrain(_frame(), _frame(), **_kwargs(tmp_path, "unused", epochs=0))


def test_missing_local_base_model_is_refused(tmp_path: Path, no_autotrain: None) -> None:
    with pytest.raises(UserError, match="does not exist"):
        run_autotrain(_frame(), _frame(), **_kwargs(tmp_path, tmp_path / "nope"))


# --- finding AutoTrain ---------------------------------------------------------------------------------------------


def test_missing_env_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SXHUB_AUTOTRAIN_ENV", str(tmp_path / "empty-venv"))
    with pytest.raises(AutoTrainMissingError, match=r"has no bin/autotrain: run `make autotrain-env`"):
        find_autotrain()
    monkeypatch.delenv("SXHUB_AUTOTRAIN_ENV")
    monkeypatch.setattr(autotrain_env, "DEFAULT_ENV", tmp_path / "absent")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(AutoTrainMissingError, match=r"AutoTrain is not installed: run `make autotrain-env`"):
        find_autotrain()
    # installed from the wheel (site-packages is no checkout): no Makefile, no scripts/, so the commands themselves
    monkeypatch.setattr(autotrain_env, "REPO_ROOT", tmp_path)
    with pytest.raises(AutoTrainMissingError) as missing:
        find_autotrain()
    assert str(missing.value) == (
        "AutoTrain is not installed: build a venv of its own (`python3 -m venv VENV && VENV/bin/pip install "
        "autotrain-advanced==0.8.36 torch==2.13.0 && VENV/bin/pip uninstall -y torchvision timm`) and set "
        "SXHUB_AUTOTRAIN_ENV=VENV"
    )


def test_a_broken_env_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A venv whose Python is gone (its bin/autotrain's #! line names a missing interpreter) or whose autotrain is
    not executable: before, starting it failed with "cannot use '.../bin/autotrain': No such file or directory"
    about a file that exists (exit 1), after the data and base had been prepared."""
    venv = _fake_venv(tmp_path, "exit 0\n")
    script = venv / "bin" / "autotrain"
    script.write_text(f"#!{tmp_path / 'gone' / 'python3'}\nprint('hi')\n", encoding="utf-8")
    monkeypatch.setenv("SXHUB_AUTOTRAIN_ENV", str(venv))
    with pytest.raises(
        AutoTrainMissingError, match=r"venv is broken: .*gone/python3, which no longer exists.*rebuild"
    ):
        find_autotrain()
    script.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    script.chmod(0o644)
    with pytest.raises(AutoTrainMissingError, match=r"bin/autotrain is not executable: run `make autotrain-env`"):
        find_autotrain()


def test_env_var_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    venv = _fake_venv(tmp_path, "exit 0\n")
    monkeypatch.setenv("SXHUB_AUTOTRAIN_ENV", str(venv))
    assert find_autotrain().executable == venv / "bin" / "autotrain"


def test_an_untested_autotrain_version_gives_one_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """sxhub relies on autotrain-advanced 0.8.36's config keys, label order and output files; a venv with another
    version ran without a word and failed (or trained differently) in ways that named neither it nor the fix. Its
    version is read from the dist-info folder (or importlib.metadata in its Python), without starting AutoTrain."""
    venv = _fake_venv(tmp_path, f'touch "{tmp_path}/started"\nexit 1\n', version=None)
    site = venv / "lib" / "python3.11" / "site-packages"
    (site / "autotrain_advanced-0.9.1.dist-info").mkdir(parents=True)
    monkeypatch.setenv("SXHUB_AUTOTRAIN_ENV", str(venv))
    monkeypatch.setattr(autotrain_env, "_version_checked", set())
    caplog.set_level("WARNING", logger="sxhub.autotrain")
    find_autotrain()
    find_autotrain()  # sxhub run looks it up before the teachers and again to train: still one line
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert re.search(
        r"is autotrain-advanced 0\.9\.1, but sxhub is tested with 0\.8\.36.*make autotrain-env", warnings[0]
    )
    assert not (tmp_path / "started").exists(), "AutoTrain was started to read its version"

    caplog.clear()
    monkeypatch.setattr(autotrain_env, "_version_checked", set())
    (site / "autotrain_advanced-0.9.1.dist-info").rename(
        site / f"autotrain_advanced-{autotrain.TESTED_VERSION}.dist-info"
    )
    find_autotrain()
    assert not [r for r in caplog.records if r.levelname == "WARNING"]

    # no dist-info where a venv keeps it: the version from importlib.metadata in the Python beside the executable
    (site / f"autotrain_advanced-{autotrain.TESTED_VERSION}.dist-info").rmdir()
    python = venv / "bin" / "python3"
    python.write_text(f'#!/bin/sh\necho "$*" > "{tmp_path}/python-args"\necho 0.8.35\n', encoding="utf-8")
    python.chmod(0o755)
    monkeypatch.setattr(autotrain_env, "_version_checked", set())
    find_autotrain()
    assert "importlib.metadata" in (tmp_path / "python-args").read_text()
    assert [r.getMessage() for r in caplog.records if "autotrain-advanced 0.8.35" in r.getMessage()]
    assert not (tmp_path / "started").exists()


def test_the_tested_version_is_the_one_autotrain_env_installs() -> None:
    script = (Path(__file__).parent.parent / "scripts" / "autotrain-env.sh").read_text(encoding="utf-8")
    assert f'AUTOTRAIN_VERSION="{autotrain.TESTED_VERSION}"' in script
    assert f'TORCH_VERSION="{autotrain_env.TESTED_TORCH}"' in script  # what the wheel's line tells to install


# --- the config ----------------------------------------------------------------------------------------------------


def test_config_is_a_local_single_label_run_without_hub() -> None:
    config = build_config(
        base_model="/models/base", epochs=2, batch_size=16, learning_rate=3e-5, max_length=96, seed=7
    )
    assert config["task"] == "text_classification"
    assert config["backend"] == "local"
    assert config["base_model"] == "/models/base"
    assert not Path(config["project_name"]).is_absolute()
    assert config["data"] == {
        "path": "data",
        "train_split": "train",
        "valid_split": "valid",
        "column_mapping": {"text_column": "text", "target_column": "label"},
    }
    assert config["params"]["epochs"] == 2
    assert config["params"]["batch_size"] == 16
    assert config["params"]["lr"] == 3e-5
    assert config["params"]["max_seq_length"] == 96
    assert config["params"]["seed"] == 7
    assert config["params"]["weight_decay"] == 0.01, "the local recipe's, not AutoTrain's 0"
    # epochs is a cap: AutoTrain stops as sxhub's own backend does (patience 2, any improvement counts)
    assert config["params"]["early_stopping_patience"] == 2
    assert config["params"]["early_stopping_threshold"] == 0.0
    assert config["hub"]["push_to_hub"] is False
    assert config["log"] == "none"
    assert yaml.safe_load(yaml.safe_dump(config)) == config


# --- label remapping -----------------------------------------------------------------------------------------------


def test_label_permutation() -> None:
    assert label_permutation({0: "negative", 1: "neutral", 2: "positive"}, TASK_LABELS) == [2, 1, 0]
    assert label_permutation({"0": "a", "1": "b"}, ["a", "b"]) == [0, 1]
    with pytest.raises(BackendError, match="does not fit the task"):
        label_permutation({0: "negative", 1: "positive"}, TASK_LABELS)


def _probs_by_label(model_dir: Path, text: str) -> dict[str, float]:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    with torch.no_grad():
        probs = model(**tokenizer(text, return_tensors="pt")).logits.softmax(-1)[0]
    return {model.config.id2label[i]: float(p) for i, p in enumerate(probs)}


def test_normalise_puts_labels_in_task_order_and_keeps_predictions(
    tmp_path: Path, autotrain_style_model: Path
) -> None:
    out = tmp_path / "normalised"
    order = normalise_model(autotrain_style_model, out, TASK_LABELS)
    assert order == ALPHABETICAL
    config = json.loads((out / "config.json").read_text())
    assert config["id2label"] == {str(i): name for i, name in enumerate(TASK_LABELS)}
    assert config["label2id"] == {name: i for i, name in enumerate(TASK_LABELS)}
    assert (out / "model.safetensors").is_file()
    assert (out / "tokenizer.json").is_file()
    for text in TEXTS.values():
        before, after = _probs_by_label(autotrain_style_model, text), _probs_by_label(out, text)
        assert after == pytest.approx(before, abs=1e-6)
        assert list(after) == TASK_LABELS


# --- run_autotrain with a fake AutoTrain executable ---------------------------------------------------------------


def _fake_venv(tmp_path: Path, body: str, version: str | None = autotrain.TESTED_VERSION) -> Path:
    """A venv-shaped folder whose bin/python3 (which sxhub starts AutoTrain's trainer with) is a shell script, and
    whose bin/autotrain is the CLI sxhub no longer starts (it records that it was). With the ``version``'s
    dist-info, as a venv has it: without one, sxhub asks bin/python3 for the version, and so ran the script."""
    venv = tmp_path / "fake-venv"
    (venv / "bin").mkdir(parents=True, exist_ok=True)
    if version is not None:
        (venv / "lib" / "python3.11" / "site-packages" / f"autotrain_advanced-{version}.dist-info").mkdir(
            parents=True, exist_ok=True
        )
    cli = f'echo "$*" >> "{tmp_path}/autotrain-cli-started"\nexit 99\n'
    for name, text in (("python3", body), ("autotrain", cli)):
        script = venv / "bin" / name
        script.write_text("#!/bin/sh\n" + text, encoding="utf-8")
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return venv


def test_fake_run_normalises_the_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, autotrain_style_model: Path, tiny_base_model: Path
) -> None:
    body = (
        'echo "args: $*" > seen.txt; echo "offline=$HF_HUB_OFFLINE path=$PATH" >> seen.txt\n'
        f'cp -r "{autotrain_style_model}" autotrain-project\n'
        "echo training done\n"
    )
    monkeypatch.setenv("SXHUB_AUTOTRAIN_ENV", str(_fake_venv(tmp_path, body)))
    out = run_autotrain(_frame(), _frame(), **_kwargs(tmp_path, tiny_base_model))
    assert out == tmp_path / "model"
    seen = (tmp_path / "work" / "seen.txt").read_text()
    assert f"args: {Path(autotrain.__file__).with_name('autotrain_launch.py')} conf.yml" in seen
    assert not (tmp_path / "autotrain-cli-started").exists(), "AutoTrain's CLI (and its accelerate launch) ran"
    assert "offline=1" in seen
    assert f"path={tmp_path / 'fake-venv' / 'bin'}{os.pathsep}" in seen
    conf = yaml.safe_load((tmp_path / "work" / "conf.yml").read_text())
    assert conf["base_model"] == str(tiny_base_model.resolve())
    train_rows = pd.read_json(tmp_path / "work" / "data" / "train.jsonl", lines=True)
    assert list(train_rows.columns) == ["text", "label"]
    assert len(train_rows) == 9
    summary = json.loads((out / "sxhub.json").read_text())
    assert summary["backend"] == "autotrain"
    assert summary["labels"] == TASK_LABELS
    assert summary["multi_label"] is False
    assert summary["train"]["max_epochs"] == 1
    assert summary["train"]["selected_by"] == "eval_loss", "AutoTrain's Trainer keeps the lowest validation loss"
    assert summary["train"]["epochs"] == 0, "the fake saved no checkpoint: no epoch is known to have run"
    assert summary["train"]["n_train"] == 9
    assert summary["train"]["autotrain_label_order"] == ALPHABETICAL
    assert json.loads((out / "config.json").read_text())["id2label"]["0"] == "positive"


def test_threads_reach_autotrains_trainer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, autotrain_style_model: Path, tiny_base_model: Path
) -> None:
    """sxhub run --backend autotrain --threads 2 ("CPU threads for training and prediction"): the threads reached
    TrainConfig, and AutoTrain's trainer, a process of its own, took every core (or the shell's OMP_NUM_THREADS)."""
    from sxhub.spec import TaskSpec
    from sxhub.train import train
    from sxhub.train_config import TrainConfig

    body = f'echo "$OMP_NUM_THREADS" > "{tmp_path}/threads"\ncp -r "{autotrain_style_model}" autotrain-project\n'
    monkeypatch.setenv("SXHUB_AUTOTRAIN_ENV", str(_fake_venv(tmp_path, body)))
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    config = TrainConfig(output_dir=tmp_path / "m", base_model=str(tiny_base_model), backend="autotrain", epochs=1,
                         val_size=0.25, threads=2)  # fmt: skip
    train(TaskSpec(name="fin", labels=TASK_LABELS), _frame(8), config)
    assert (tmp_path / "threads").read_text().strip() == "2"
    train(TaskSpec(name="fin", labels=TASK_LABELS), _frame(8), replace(config, threads=None))
    assert (tmp_path / "threads").read_text().strip() == "7", "without --threads the environment's setting holds"


def test_label_column_is_autotrains_target(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    autotrain_style_model: Path,
    tiny_base_model: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """sxhub train --backend autotrain --label-column gold: AutoTrain's trainer gets the experts' gold as its target
    (written as codes into data/train.jsonl and data/valid.jsonl), not the teachers' label beside it."""
    from conftest import run_cli

    body = f'cat data/train.jsonl data/valid.jsonl > "{tmp_path}/given.jsonl"\ncp -r "{autotrain_style_model}" autotrain-project\n'
    monkeypatch.setenv("SXHUB_AUTOTRAIN_ENV", str(_fake_venv(tmp_path, body)))
    frame = _frame(4)
    swapped = {"positive": "negative", "negative": "positive", "neutral": "neutral"}
    frame = frame.assign(gold=frame["label"], label=frame["label"].map(swapped))
    frame.to_csv(tmp_path / "labelled.csv", index=False)
    (tmp_path / "task.yaml").write_text(f"name: fin\nlabels: {TASK_LABELS}\n")
    argv = ["train", str(tmp_path / "task.yaml"), str(tmp_path / "labelled.csv"), "-o", str(tmp_path / "m")]
    argv += ["--base", str(tiny_base_model), "--backend", "autotrain", "--epochs", "1", "--val-size", "0.25"]
    code, _, err = run_cli([*argv, "--label-column", "gold"], capsys)
    assert code == 0, err
    given = pd.read_json(tmp_path / "given.jsonl", lines=True)
    names = {code: name for name, code in autotrain.label_codes(TASK_LABELS).items()}
    gold = dict(zip(frame["text"], frame["gold"], strict=True))
    assert len(given) == 12 and [names[c] for c in given["label"]] == [gold[t] for t in given["text"]]
    assert json.loads((tmp_path / "m" / "sxhub.json").read_text())["train"]["label_column"] == "gold"


def test_fake_run_that_exits_0_without_a_model_is_a_backend_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_base_model: Path
) -> None:
    body = 'echo "ERROR | train has failed due to an exception: Traceback"\necho "ValueError: bad things"\nexit 0\n'
    monkeypatch.setenv("SXHUB_AUTOTRAIN_ENV", str(_fake_venv(tmp_path, body)))
    with pytest.raises(BackendError, match=r"AutoTrain failed \(its log reports a failed training, no config.json"):
        run_autotrain(_frame(), _frame(), **_kwargs(tmp_path, tiny_base_model))
    with pytest.raises(BackendError, match=r"Last lines: .*ValueError: bad things"):
        run_autotrain(_frame(), _frame(), **_kwargs(tmp_path, tiny_base_model))
    assert not (tmp_path / "model").exists()


def test_fake_run_with_nonzero_exit_is_a_backend_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, autotrain_style_model: Path, tiny_base_model: Path
) -> None:
    body = f'cp -r "{autotrain_style_model}" autotrain-project\nexit 3\n'
    monkeypatch.setenv("SXHUB_AUTOTRAIN_ENV", str(_fake_venv(tmp_path, body)))
    with pytest.raises(BackendError, match="exit code 3"):
        run_autotrain(_frame(), _frame(), **_kwargs(tmp_path, tiny_base_model))


def test_a_trainer_killed_by_the_out_of_memory_killer_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_base_model: Path
) -> None:
    """AutoTrain's trainer is sxhub's own child now, with no `accelerate launch` to log its death in a traceback
    ("died with <Signals.SIGKILL: 9>"): the signal it died of, and what SIGKILL likely means, come from its exit."""
    monkeypatch.setenv("SXHUB_AUTOTRAIN_ENV", str(_fake_venv(tmp_path, "echo training\nkill -9 $$\n")))
    with pytest.raises(BackendError) as err:
        run_autotrain(_frame(), _frame(), **_kwargs(tmp_path, tiny_base_model))
    assert "\n" not in str(err.value)
    assert "AutoTrain failed (killed by SIGKILL, what the kernel's out-of-memory killer sends: it likely ran out of " \
        "memory, no config.json" in str(err.value)  # fmt: skip
    monkeypatch.setenv("SXHUB_AUTOTRAIN_ENV", str(_fake_venv(tmp_path, "kill -11 $$\n")))
    with pytest.raises(BackendError, match=r"AutoTrain failed \(killed by SIGSEGV, no config\.json"):
        run_autotrain(_frame(), _frame(), **_kwargs(tmp_path, tiny_base_model))


def test_fake_run_past_its_timeout_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_base_model: Path
) -> None:
    monkeypatch.setenv("SXHUB_AUTOTRAIN_ENV", str(_fake_venv(tmp_path, "echo started\nsleep 60\n")))
    with pytest.raises(BackendError, match=r"ran past its 1 s timeout.*started"):
        run_autotrain(_frame(), _frame(), **_kwargs(tmp_path, tiny_base_model, timeout=1.0))


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def test_ctrl_c_stops_autotrain_and_its_children(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_base_model: Path
) -> None:
    """AutoTrain runs in a session of its own (the terminal's Ctrl-C does not reach it): sxhub ends its whole group
    when it is interrupted. Before, the accelerate trainer trained on after sxhub had printed "Interrupted", and
    the temporary work folder was left in /tmp."""
    import _thread
    import signal
    import threading

    body = f'echo $$ > "{tmp_path}/autotrain.pid"\nsleep 60 &\necho $! > "{tmp_path}/trainer.pid"\nwait\n'
    monkeypatch.setenv("SXHUB_AUTOTRAIN_ENV", str(_fake_venv(tmp_path, body)))
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    pids = [tmp_path / "autotrain.pid", tmp_path / "trainer.pid"]

    def interrupt_once_running() -> None:
        deadline = time.monotonic() + 20
        while not all(p.is_file() and p.read_text().strip() for p in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        _thread.interrupt_main(signal.SIGINT)

    # Python's own Ctrl-C handler, as a terminal gives it: pytest started in the background by a shell without job
    # control has SIGINT ignored, and interrupt_main then does nothing (the run waited out its timeout)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    threading.Thread(target=interrupt_once_running, daemon=True).start()
    try:
        with pytest.raises(KeyboardInterrupt):
            run_autotrain(_frame(), _frame(), **_kwargs(tmp_path, tiny_base_model, workdir=None, timeout=30.0))
    finally:
        signal.signal(signal.SIGINT, previous)
    deadline = time.monotonic() + 5
    alive = [int(p.read_text()) for p in pids if _running(int(p.read_text()))]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [int(p.read_text()) for p in pids if _running(int(p.read_text()))]
    assert not alive, "AutoTrain's processes ran on after Ctrl-C"
    assert list(temp.iterdir()) == [], "the temporary work folder of the interrupted run was left behind"
    assert not (tmp_path / "model").exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_kill_9_of_sxhub_ends_autotrain_and_its_children(tmp_path: Path, tiny_base_model: Path) -> None:
    """`kill -9` of sxhub (or the out-of-memory killer) gives it no chance to end AutoTrain's group, which runs in a
    session of its own: the trainer trained on, holding the cores, and the work folders stayed in /tmp. A watcher
    with Linux's parent-death signal ends the group and removes the run's temporary folders."""
    import signal
    import subprocess

    body = f'echo $$ > "{tmp_path}/autotrain.pid"\nsleep 300 &\necho $! > "{tmp_path}/trainer.pid"\nwait\n'
    venv = _fake_venv(tmp_path, body)
    temp, extra = tmp_path / "tmp", tmp_path / "base-links"
    temp.mkdir()
    extra.mkdir()
    script = (
        "import sys, tempfile, pandas as pd\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "from test_autotrain import _frame\n"
        "from sxhub.autotrain import run_autotrain\n"
        "run_autotrain(_frame(), _frame(), label_names=['positive', 'neutral', 'negative'], base_model=sys.argv[2],"
        " output_dir=sys.argv[3], epochs=1, batch_size=4, learning_rate=5e-5, max_length=32, seed=0, echo=False,"
        " temp_dirs=[sys.argv[4]])\n"
    )
    env = {**os.environ, "SXHUB_AUTOTRAIN_ENV": str(venv), "TMPDIR": str(temp)}
    sxhub = subprocess.Popen(
        [sys.executable, "-c", script, str(Path(__file__).parent), str(tiny_base_model), str(tmp_path / "model"),
         str(extra)], env=env,
    )  # fmt: skip
    pids = [tmp_path / "autotrain.pid", tmp_path / "trainer.pid"]
    deadline = time.monotonic() + 60
    try:
        while not all(p.is_file() and p.read_text().strip() for p in pids):
            assert sxhub.poll() is None and time.monotonic() < deadline, "AutoTrain did not start"
            time.sleep(0.05)
        assert [p.name[:16] for p in temp.iterdir()] == ["sxhub-autotrain-"]
        sxhub.send_signal(signal.SIGKILL)
        sxhub.wait()
        deadline = time.monotonic() + 5
        alive = [int(p.read_text()) for p in pids if _running(int(p.read_text()))]
        while alive and time.monotonic() < deadline:
            time.sleep(0.05)
            alive = [int(p.read_text()) for p in pids if _running(int(p.read_text()))]
        assert not alive, "AutoTrain's processes ran on after sxhub was killed"
        while (list(temp.iterdir()) or extra.exists()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(temp.iterdir()) == [], "the killed run's temporary work folder was left behind"
        assert not extra.exists(), "the caller's temporary folder was left behind"
    finally:
        for p in pids:  # the old code's leftovers: end them, not the test run
            if p.is_file() and p.read_text().strip() and _running(int(p.read_text())):
                os.kill(int(p.read_text()), signal.SIGKILL)


def test_max_minutes_beyond_the_default_timeout_is_the_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, autotrain_style_model: Path, tiny_base_model: Path
) -> None:
    """--max-minutes longer than the 6 h default timeout (--max-minutes 600): the timeout won, and AutoTrain was
    stopped at 6 h in an error that dropped every checkpoint it had saved. The user's cap is the limit, and the best
    checkpoint is kept at it (here 3 s against a 1 s timeout)."""
    checkpoint = "autotrain-project/checkpoint-1"
    state = json.dumps({"epoch": 1.0, "best_model_checkpoint": checkpoint, "log_history": []})
    body = f'mkdir -p {checkpoint}\ncp -r "{autotrain_style_model}"/* {checkpoint}/\n'
    body += f"echo '{state}' > {checkpoint}/trainer_state.json\nsleep 60\n"
    monkeypatch.setenv("SXHUB_AUTOTRAIN_ENV", str(_fake_venv(tmp_path, body)))
    started = time.monotonic()
    out = run_autotrain(_frame(), _frame(), **_kwargs(tmp_path, tiny_base_model, max_minutes=0.05, timeout=1.0))
    assert time.monotonic() - started >= 3
    summary = json.loads((out / "sxhub.json").read_text())["train"]
    assert summary["stopped_by_time"] is True and summary["epochs"] == 1.0
    assert json.loads((out / "config.json").read_text())["id2label"]["0"] == "positive"


def test_log_tail_shows_the_exception_of_a_failed_training(tmp_path: Path) -> None:
    log = tmp_path / "autotrain.log"
    log.write_text(
        "INFO | starting\r 50%|#####     | 3/6 [00:00<00:00, 45.88it/s]\n"
        "ERROR | autotrain.trainers.common:wrapper:215 - train has failed due to an exception: Traceback (most recent"
        ' call last):\n  File "x.py", line 1, in train\n    model = load()\n    ^^^^^^\n'
        "OSError: Error no file named model.safetensors found in directory /base.\n"
        "INFO | Job ID: 1\n"
    )
    assert log_tail(log) == "OSError: Error no file named model.safetensors found in directory /base."
    log.write_text("one\n 10%|#         | 1/6 [00:00<00:00, 45.88it/s]\ntwo\n")
    assert log_tail(log) == "one | two"
    assert log_tail(tmp_path / "absent.log") == "(no log)"


def test_log_tail_of_a_trainer_killed_mid_run_is_its_one_exception_line(tmp_path: Path) -> None:
    """The trainer killed mid-run (the out-of-memory killer's SIGKILL): AutoTrain logs no failure marker, only
    accelerate's traceback, and the error's "Last lines" were 15 lines of it (file paths, carets) on one line."""
    log = tmp_path / "autotrain.log"
    died = (
        "subprocess.CalledProcessError: Command '['/venv/bin/python3', '-m', 'autotrain.trainers.text_classification'"
        ", '--training_config', 'autotrain-project/training_params.json']' died with <Signals.SIGKILL: 9>."
    )
    log.write_text(
        "INFO | handled earlier\nTraceback (most recent call last):\n  File \"a.py\", line 1\nKeyError: 'old'\n"
        "To avoid this warning pass in values for each of the problematic parameters or run `accelerate config`.\n"
        "Traceback (most recent call last):\n"
        '  File "/venv/bin/accelerate", line 6, in <module>\n    sys.exit(main())\n             ^^^^^^\n'
        '  File "/venv/lib/python3.11/site-packages/accelerate/commands/launch.py", line 763, in simple_launcher\n'
        "    raise subprocess.CalledProcessError(returncode=process.returncode, cmd=cmd)\n"
        f"{died}\nINFO | 2026-12-05 18:54:28 | autotrain.parser:run:229 - Job ID: 10609\n"
    )
    assert (
        log_tail(log)
        == f"{died} (SIGKILL is what the kernel's out-of-memory killer sends: it likely ran out of memory)"
    )
    log.write_text(log.read_text().replace("SIGKILL: 9", "SIGSEGV: 11"))
    assert log_tail(log) == died.replace("SIGKILL: 9", "SIGSEGV: 11")


def test_log_tail_finds_the_traceback_printed_after_a_progress_bar(tmp_path: Path) -> None:
    """The trainer killed in the middle of a step (tune --backend autotrain on SmolLM2-135M, 21 GB at its second
    step): tqdm's bar ends in a carriage return, not a newline, so accelerate's "Traceback" is on the bar's line, which
    the progress filter dropped whole; the error then gave 15 lines of the traceback and no out-of-memory hint."""
    log = tmp_path / "autotrain.log"
    died = (
        "subprocess.CalledProcessError: Command '['/venv/bin/python3', '-m', 'autotrain.trainers.clm', "
        "'--training_config', 'autotrain-project/training_params.json']' died with <Signals.SIGKILL: 9>."
    )
    log.write_text(
        "INFO | autotrain.trainers.common:on_train_begin:386 - Starting to train...\n"
        "\r  0%|          | 0/2 [00:00<?, ?it/s]\r 50%|\u2588\u2588\u2588\u2588\u2588     | 1/2 [03:46<03:46, 226.96s/it]"
        "INFO | autotrain.trainers.common:on_log:367 - {'loss': 1.6825, 'epoch': 0.5}\n"
        "\r 50%|\u2588\u2588\u2588\u2588\u2588     | 1/2 [03:46<03:46, 226.96s/it]Traceback (most recent call last):\n"
        '  File "/venv/bin/accelerate", line 6, in <module>\n    sys.exit(main())\n             ^^^^^^\n'
        '  File "/venv/lib/python3.11/site-packages/accelerate/commands/launch.py", line 763, in simple_launcher\n'
        "    raise subprocess.CalledProcessError(returncode=process.returncode, cmd=cmd)\n"
        f"{died}\nINFO | 2026-12-06 04:17:32 | autotrain.parser:run:229 - Job ID: 911\n",
        encoding="utf-8",
    )
    assert (
        log_tail(log)
        == f"{died} (SIGKILL is what the kernel's out-of-memory killer sends: it likely ran out of memory)"
    )


# --- the real thing ------------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.autotrain
def test_real_autotrain_run(tmp_path: Path, shared_data: Path, tiny_base_model: Path) -> None:
    """60 financial sentences, 1 epoch on the tiny BERT; the result loads and predicts in sxhub's transformers."""
    try:
        find_autotrain()
    except AutoTrainMissingError as err:
        missing_component(f"AutoTrain venv absent ({err}); build it with make autotrain-env")
    from transformers import AutoModelForSequenceClassification, pipeline

    frame = pd.read_csv(shared_data / "financial_phrasebank" / "sentences_allagree.csv")
    frame = frame.rename(columns={"sentence": "text"}).groupby("label").head(20).sample(frac=1, random_state=0)
    valid = frame.groupby("label").head(5)
    train = frame.drop(valid.index)
    out = run_autotrain(train, valid, **_kwargs(tmp_path, tiny_base_model, max_length=64))

    model = AutoModelForSequenceClassification.from_pretrained(out)
    assert [model.config.id2label[i] for i in range(3)] == TASK_LABELS
    assert model.config.label2id == {name: i for i, name in enumerate(TASK_LABELS)}
    classify = pipeline("text-classification", model=str(out), top_k=None)
    scores = classify(["Operating profit rose from EUR 7m to 9m."])[0]
    assert {s["label"] for s in scores} == set(TASK_LABELS)
    assert sum(s["score"] for s in scores) == pytest.approx(1.0, abs=1e-4)

    raw = tmp_path / "work" / "autotrain-project"
    codes = autotrain.label_codes(TASK_LABELS)  # AutoTrain is given codes, in the names' sorted order
    assert json.loads((raw / "config.json").read_text())["id2label"] == dict(
        (str(i), codes[n]) for i, n in enumerate(ALPHABETICAL)
    )
    for text in TEXTS.values():
        raw_probs = {name: _probs_by_label(raw, text)[code] for name, code in codes.items()}
        assert _probs_by_label(out, text) == pytest.approx(raw_probs, abs=1e-5)
    summary = json.loads((out / "sxhub.json").read_text())
    assert summary["autotrain_version"] == "0.8.36"
    assert summary["train"]["n_train"] == 45
    assert summary["train"]["n_val"] == 15
    assert "eval_accuracy" in summary["train"]


@pytest.mark.slow
@pytest.mark.autotrain
def test_real_autotrain_failure_is_a_backend_error(tmp_path: Path, tiny_base_model: Path) -> None:
    """AutoTrain exits 0 when its trainer fails (here: a base folder without weights); sxhub still says so."""
    try:
        find_autotrain()
    except AutoTrainMissingError as err:
        missing_component(f"AutoTrain venv absent ({err}); build it with make autotrain-env")
    broken = tmp_path / "broken-base"
    broken.mkdir()
    (broken / "config.json").write_text((tiny_base_model / "config.json").read_text())
    with pytest.raises(BackendError, match=r"its log reports a failed training.*Last lines: OSError: .*no file named"):
        run_autotrain(_frame(), _frame(), **_kwargs(tmp_path, broken))
    assert not (tmp_path / "model").exists()


@pytest.mark.slow
@pytest.mark.autotrain
def test_real_autotrain_trains_in_one_process_without_its_launchers(tmp_path: Path, tiny_base_model: Path) -> None:
    """`autotrain --config` kept its CLI and `accelerate launch` waiting for the whole run (0.5 and 0.43 GB, each a
    Python that imported torch), on top of the trainer. sxhub now starts AutoTrain's Python on its launcher, which
    writes the params and becomes (exec) `python -m autotrain.trainers.text_classification --training_config ...`:
    every AutoTrain process seen during the run is that one process."""
    import threading

    import psutil

    try:
        find_autotrain()
    except AutoTrainMissingError as err:
        missing_component(f"AutoTrain venv absent ({err}); build it with make autotrain-env")
    seen: dict[int, set[str]] = {}
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            for proc in psutil.Process().children(recursive=True):
                try:
                    seen.setdefault(proc.pid, set()).add(" ".join(proc.cmdline()))
                except psutil.Error:
                    continue
            done.wait(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        out = run_autotrain(_frame(), _frame(), **_kwargs(tmp_path, tiny_base_model))
    finally:
        done.set()
        watcher.join()
    assert (out / "config.json").is_file()
    # every process but sxhub's watcher (group_watch.py, which names the command it starts)
    autotrain_procs = {pid: cmds for pid, cmds in seen.items() if not any("group_watch.py" in c for c in cmds)}
    cmds = {c for cs in autotrain_procs.values() for c in cs}
    assert not [c for c in cmds if "accelerate launch" in c or re.search(r"bin/autotrain( |$)", c)], cmds
    trainer = [pid for pid, cs in autotrain_procs.items() if any(
        "-m autotrain.trainers.text_classification --training_config autotrain-project/training_params.json" in c
        for c in cs)]  # fmt: skip
    assert len(trainer) == 1, cmds
    launched = [pid for pid, cs in autotrain_procs.items() if any("autotrain_launch.py conf.yml" in c for c in cs)]
    assert launched in ([], trainer), "the launcher became the trainer (exec), not its parent"
    params = json.loads((tmp_path / "work" / "autotrain-project" / "training_params.json").read_text())
    assert (params["data_path"], params["text_column"], params["target_column"], params["valid_split"]) == (
        "autotrain-project/autotrain-data",
        "autotrain_text",
        "autotrain_label",
        "validation",
    ), "the params as AutoTrain's CLI writes them, its data prepared by its own munging"


@pytest.mark.slow
@pytest.mark.autotrain
def test_a_config_autotrain_refuses_is_one_error_line(
    tmp_path: Path, tiny_base_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A config AutoTrain rejects while preparing (before any trainer runs) fails in one line naming its error, as
    the CLI's did: the launcher runs AutoTrain's own parsing, whose traceback ends the log."""
    try:
        find_autotrain()
    except AutoTrainMissingError as err:
        missing_component(f"AutoTrain venv absent ({err}); build it with make autotrain-env")
    real = autotrain.build_config

    def bad_config(**kwargs: object) -> dict[str, object]:
        config = real(**kwargs)  # type: ignore[arg-type]
        config["params"]["batch_size"] = "four"  # type: ignore[index]
        return config

    monkeypatch.setattr(autotrain, "build_config", bad_config)
    with pytest.raises(BackendError) as err:
        run_autotrain(_frame(), _frame(), **_kwargs(tmp_path, tiny_base_model))
    message = str(err.value)
    assert "\n" not in message
    assert re.search(r"AutoTrain failed \(exit code 1, no config\.json.*Last lines: \S*ValidationError: 1 validation "
                     r"error for TextClassificationParams$", message), message  # fmt: skip
    assert not (tmp_path / "model").exists()


@pytest.mark.slow
@pytest.mark.autotrain
def test_autotrain_students_split_symbols_off_words_as_local_ones(tmp_path: Path, tiny_base_model: Path) -> None:
    """`sxhub train --backend autotrain` trains with the local backend's tokenizer: AutoTrain reads the base from a
    folder of links whose tokenizer splits symbols off words, and the student loads with that split."""
    try:
        find_autotrain()
    except AutoTrainMissingError as err:
        missing_component(f"AutoTrain venv absent ({err}); build it with make autotrain-env")
    from transformers import AutoTokenizer

    from sxhub.spec import TaskSpec
    from sxhub.train import train
    from sxhub.train_config import TrainConfig

    text = "profit👍rose 🚨loss fell"
    base = AutoTokenizer.from_pretrained(tiny_base_model)
    assert base.tokenize(text)[:2] == ["[UNK]", "[UNK]"], "the base loses both glued words"
    out = tmp_path / "student"
    spec = TaskSpec(name="fin", labels=TASK_LABELS)
    config = TrainConfig(
        output_dir=out,
        base_model=str(tiny_base_model),
        backend="autotrain",
        epochs=1,
        batch_size=4,
        learning_rate=5e-5,
        max_length=32,
        val_size=0.25,
    )
    result = train(spec, _frame(8), config)
    assert result.backend == "autotrain"
    assert '"Split"' in (out / "tokenizer.json").read_text(), "AutoTrain saved the tokenizer it trained with"
    student = AutoTokenizer.from_pretrained(out)
    assert student.tokenize(text)[:5] == ["profit", "[UNK]", "rose", "[UNK]", "loss"]
    assert student.model_input_names == base.model_input_names
    assert json.loads((out / "tokenizer_config.json").read_text())["tokenizer_class"] == "PreTrainedTokenizerFast"
    assert json.loads((out / "sxhub.json").read_text())["base_model"] == str(tiny_base_model)


def test_a_student_as_the_autotrain_base_keeps_its_answers_by_label_name(
    tmp_path: Path, tiny_base_model: Path
) -> None:
    """Written texts first, then real ones, with `--backend autotrain`: the base student's head reaches AutoTrain in
    AutoTrain's label order (alphabetical), so a run that barely moves the weights gives each text the base's label
    and probabilities, by name (AutoTrain alone would keep the head's rows in the task's order)."""
    try:
        find_autotrain()
    except AutoTrainMissingError as err:
        missing_component(f"AutoTrain venv absent ({err}); build it with make autotrain-env")
    import numpy as np

    from sxhub.predict import Predictor
    from sxhub.spec import TaskSpec
    from sxhub.train import train
    from sxhub.train_config import TrainConfig

    spec = TaskSpec(name="fin", labels=TASK_LABELS)
    base = tmp_path / "student-written"
    common = dict(batch_size=4, max_length=32, val_size=0.25)
    train(spec, _frame(8), TrainConfig(output_dir=base, base_model=str(tiny_base_model), epochs=15,
                                       learning_rate=3e-3, **common))  # fmt: skip
    texts = list(TEXTS.values())
    labels_before, probs_before = Predictor(base).predict(texts)
    assert labels_before == TASK_LABELS, "the base student learned the cues"

    out = tmp_path / "student"
    result = train(spec, _frame(8), TrainConfig(output_dir=out, base_model=str(base), backend="autotrain", epochs=1,
                                                learning_rate=1e-9, **common))  # fmt: skip
    labels_after, probs_after = Predictor(out).predict(texts)
    assert labels_after == labels_before
    np.testing.assert_allclose(probs_after, probs_before, atol=1e-3)
    assert any(note.startswith("The base's head listed the labels as") for note in result.notes), result.notes
    assert json.loads((out / "sxhub.json").read_text())["base_model"] == str(base)


def _binary_frame(n: int = 40) -> pd.DataFrame:
    rows = [{"text": f"profit rose strong w{i}", "label": "yes"} for i in range(n // 2)]
    rows += [{"text": f"loss fell weak w{i}", "label": "no"} for i in range(n // 2)]
    return pd.DataFrame(rows)


@pytest.mark.slow
@pytest.mark.autotrain
def test_a_two_label_autotrain_run_scores_its_kept_model(tmp_path: Path, tiny_base_model: Path) -> None:
    """For two labels AutoTrain logs eval_f1, not eval_f1_macro: the validation figures are sxhub's own, computed
    from the kept model's predictions on the validation rows, so best_score is a number (and --search can rank it)."""
    try:
        find_autotrain()
    except AutoTrainMissingError as err:
        missing_component(f"AutoTrain venv absent ({err}); build it with make autotrain-env")
    from sklearn.metrics import f1_score

    from sxhub.predict import Predictor
    from sxhub.spec import TaskSpec
    from sxhub.targets import holdout
    from sxhub.train import train
    from sxhub.train_config import TrainConfig

    spec = TaskSpec(name="yn", labels=["yes", "no"])
    # one text twice with two labels: train's early warning reached neither AutoTrain's result nor its sxhub.json
    frame = pd.concat([_binary_frame(), pd.DataFrame([{"text": "profit rose strong w0", "label": "no"}])])
    out = tmp_path / "student"
    config = TrainConfig(output_dir=out, base_model=str(tiny_base_model), backend="autotrain", epochs=2,
                         batch_size=8, learning_rate=3e-3, max_length=16, val_size=0.25)  # fmt: skip
    result = train(spec, frame, config)
    assert result.best_metric == "macro_f1"
    assert set(result.validation) == {"accuracy", "macro_f1"}
    from sxhub.labelled import load_labelled

    data = load_labelled(frame, label_names=spec.label_names, multi_label=False)
    _, val_idx = holdout(data, val_size=0.25, seed=config.seed)
    gold = [data.labels[i] for i in val_idx]
    predicted, _ = Predictor(out).predict([data.texts[i] for i in val_idx])
    assert result.best_score == pytest.approx(f1_score(gold, predicted, average="macro", zero_division=0))
    recorded = json.loads((out / "sxhub.json").read_text())["train"]
    assert recorded["validation"] == pytest.approx(result.validation)
    assert recorded["best_score"] == pytest.approx(result.best_score)
    conflict = "1 text(s) have rows with different labels"
    assert any(conflict in note for note in result.notes) and recorded["notes"] == result.notes


def test_data_reaches_autotrain_without_missing_value_or_number_parsing(tmp_path: Path) -> None:
    """AutoTrain reads its data with pandas: a CSV label or text spelled None / NA / null / N/A came back NaN, and
    a label like 01 comes back the number 1. Texts go as JSON lines and labels as codes, which read back as written."""
    names = ["None", "NA", "01"]
    frame = pd.DataFrame({"text": ["null", "N/A", "7"], "label": names})
    codes = autotrain.label_codes(names)
    assert list(codes.values()) == sorted(codes.values()) == ["label_0000", "label_0001", "label_0002"]
    assert [n for n, _ in sorted(codes.items(), key=lambda item: item[1])] == sorted(names), "AutoTrain's order"
    autotrain.write_inputs(tmp_path, frame, frame, build_config(base_model="b", epochs=1, batch_size=4,
                           learning_rate=1e-4, max_length=16, seed=0), codes)  # fmt: skip
    back = pd.read_json(tmp_path / "data" / "train.jsonl", lines=True)  # as AutoTrain reads it
    assert back["text"].tolist() == ["null", "N/A", "7"]
    assert back["label"].tolist() == [codes[n] for n in names]


@pytest.mark.slow
@pytest.mark.autotrain
def test_labels_spelled_like_missing_values_or_numbers_train(tmp_path: Path, tiny_base_model: Path) -> None:
    try:
        find_autotrain()
    except AutoTrainMissingError as err:
        missing_component(f"AutoTrain venv absent ({err}); build it with make autotrain-env")
    names = ["None", "NA", "01"]
    frame = pd.DataFrame({"text": [f"{word} w{i}" for word in ("null", "N/A", "profit") for i in range(4)],
                          "label": [name for name in names for _ in range(4)]})  # fmt: skip
    out = run_autotrain(frame, frame, **_kwargs(tmp_path, tiny_base_model, label_names=names))
    config = json.loads((out / "config.json").read_text())
    assert config["id2label"] == {str(i): name for i, name in enumerate(names)}
    assert json.loads((out / "sxhub.json").read_text())["train"]["autotrain_label_order"] == sorted(names)


def test_fractional_epochs_are_refused_for_autotrain(tmp_path: Path, no_autotrain: None) -> None:
    """AutoTrain trains whole epochs: --epochs 2.5 was silently rounded to 2 while the record said the cap."""
    from sxhub.spec import TaskSpec
    from sxhub.train import train
    from sxhub.train_config import TrainConfig

    config = TrainConfig(output_dir=tmp_path / "m", base_model="unused", backend="autotrain", epochs=2.5)
    with pytest.raises(UserError, match=r"epochs=2\.5: the autotrain backend trains whole epochs only.*--epochs 2"):
        train(TaskSpec(name="fin", labels=TASK_LABELS), _frame(8), config)


@pytest.mark.slow
@pytest.mark.autotrain
def test_autotrain_stops_at_max_minutes_and_keeps_its_best_checkpoint(tmp_path: Path, tiny_base_model: Path) -> None:
    """--max-minutes caps AutoTrain as it caps the local backend (AutoTrain has no time limit of its own): the run
    is stopped, the best checkpoint saved so far is the model, and the epochs recorded are those run, not the cap."""
    try:
        find_autotrain()
    except AutoTrainMissingError as err:
        missing_component(f"AutoTrain venv absent ({err}); build it with make autotrain-env")
    from sxhub.predict import Predictor
    from sxhub.spec import TaskSpec
    from sxhub.train import train
    from sxhub.train_config import TrainConfig

    out = tmp_path / "student"
    config = TrainConfig(output_dir=out, base_model=str(tiny_base_model), backend="autotrain", epochs=1000,
                         batch_size=4, learning_rate=1e-4, max_length=16, val_size=0.25, max_minutes=0.6,
                         early_stopping_patience=1000)  # fmt: skip
    started = time.monotonic()
    result = train(TaskSpec(name="fin", labels=TASK_LABELS), _frame(16), config)
    assert time.monotonic() - started < 90
    assert 0 < result.epochs < 1000
    assert any(note.startswith("Stopped by the time cap after 0.6 min") for note in result.notes), result.notes
    recorded = json.loads((out / "sxhub.json").read_text())["train"]
    assert recorded["stopped_by_time"] is True and recorded["max_epochs"] == 1000
    assert recorded["epochs"] == result.epochs
    labels, _ = Predictor(out).predict(list(TEXTS.values()))
    assert set(labels) <= set(TASK_LABELS)


def test_autotrain_gets_the_local_recipes_max_length_and_weight_decay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_base_model: Path
) -> None:
    """AutoTrain was given max_length 128 whatever the texts (padding every short text to 128), and no weight decay:
    both backends now train with the local recipe's (the 95th percentile of the training texts' tokens;
    TrainConfig.weight_decay)."""
    from transformers import AutoConfig, AutoTokenizer

    from sxhub.spec import TaskSpec
    from sxhub.train import choose_max_length, train
    from sxhub.train_config import TrainConfig

    seen: dict[str, object] = {}

    class Captured(Exception):
        pass

    def capture(train_df: pd.DataFrame, valid_df: pd.DataFrame, **kwargs: object) -> Path:
        seen.update(kwargs, texts=train_df["text"].tolist())
        raise Captured

    monkeypatch.setattr(autotrain, "run_autotrain", capture)
    frame = _frame(8)  # short texts: about a dozen tokens each
    config = TrainConfig(output_dir=tmp_path / "m", base_model=str(tiny_base_model), backend="autotrain",
                         epochs=2, weight_decay=0.05, val_size=0.25)  # fmt: skip
    with pytest.raises(Captured):
        train(TaskSpec(name="fin", labels=TASK_LABELS), frame, config)
    tokenizer = AutoTokenizer.from_pretrained(tiny_base_model)
    expected = choose_max_length(tokenizer, seen["texts"], AutoConfig.from_pretrained(tiny_base_model))
    assert expected < 128
    assert seen["max_length"] == expected
    assert seen["weight_decay"] == 0.05


def test_epochs_run_are_the_last_logged_not_the_surviving_checkpoints(tmp_path: Path) -> None:
    """AutoTrain's Trainer (save_total_limit 1) deletes the last checkpoint at the end when an earlier one was best:
    the checkpoint left says epoch 1 of a run that trained 2; the log says how far it got."""
    project = tmp_path / "autotrain-project"
    (project / "checkpoint-6").mkdir(parents=True)
    (project / "checkpoint-6" / "trainer_state.json").write_text(json.dumps({"epoch": 1.0, "log_history": []}))
    log = tmp_path / "autotrain.log"
    log.write_text(
        "{'eval_loss': 0.69, 'epoch': 1.0}\n{'eval_loss': 0.7, 'epoch': 2.0}\n{'train_runtime': 3.1, 'epoch': 2.0}\n"
    )
    assert autotrain.epochs_run(project, log) == 2.0
    log.write_text("no figures\n")
    assert autotrain.epochs_run(project, log) == 1.0
    assert autotrain.epochs_run(tmp_path / "none", tmp_path / "absent.log") == 0.0


def test_a_checkpoint_cut_off_by_the_time_cap_is_passed_over(tmp_path: Path) -> None:
    """--max-minutes stops AutoTrain at any moment: a checkpoint whose trainer_state.json was cut off mid-write was
    read as a JSON error that lost the run. The state before it (its weights whole when it was written) is used."""
    from sxhub.autotrain_run import _best_checkpoint, _trainer_state

    for step, best in ((10, "checkpoint-10"), (20, "checkpoint-20")):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"weights")
        state = {"epoch": step / 10, "best_model_checkpoint": f"/elsewhere/{best}", "log_history": []}
        (folder / "trainer_state.json").write_text(json.dumps(state), encoding="utf-8")
    assert _trainer_state(tmp_path)["epoch"] == 2.0
    (tmp_path / "checkpoint-30").mkdir()
    (tmp_path / "checkpoint-30" / "trainer_state.json").write_text('{"epoch": 3.0, "best_model_ch', encoding="utf-8")
    assert _trainer_state(tmp_path)["epoch"] == 2.0
    assert _best_checkpoint(tmp_path) == tmp_path / "checkpoint-20"


def test_max_length_past_the_base_is_refused_before_autotrain_runs(
    tmp_path: Path, no_autotrain: None, tiny_base_model: Path
) -> None:
    """--max-length 512 on a base of 128 positions: the local backend refuses it in one line (exit 2); the autotrain
    backend started AutoTrain, which failed in the embeddings tens of seconds later (exit 1). Refused alike now,
    and a --max-length the base takes still reaches AutoTrain as given."""
    from sxhub.spec import TaskSpec
    from sxhub.train import train
    from sxhub.train_config import TrainConfig

    def config(max_length: int) -> TrainConfig:
        return TrainConfig(output_dir=tmp_path / "m", base_model=str(tiny_base_model), backend="autotrain",
                           epochs=1, max_length=max_length, val_size=0.25)  # fmt: skip

    spec = TaskSpec(name="fin", labels=TASK_LABELS)
    with pytest.raises(InputError, match=r"--max-length 512 is more than the base model takes \(128 tokens\); pass "):
        train(spec, _frame(8), config(512))
    assert not (tmp_path / "m").exists()
    with pytest.raises(AssertionError, match="AutoTrain was looked up"):  # past the check, on to AutoTrain
        train(spec, _frame(8), config(128))


@pytest.mark.slow
@pytest.mark.autotrain
def test_a_decoder_base_trains_with_autotrain_padded_by_its_end_of_text_token(tmp_path: Path) -> None:
    """`--backend autotrain --base` a decoder (GPT-2, Llama, Qwen, SmolLM: no pad token) stopped in AutoTrain's log
    at 'Tokenizer class TokenizersBackend does not exist' (transformers 5's name for the tokenizer it saved), then,
    past that, at 'Asking to pad but the tokenizer does not have a padding token', where the local backend pads with
    the end-of-text token. AutoTrain now reads the base through a folder whose tokenizer pads with it, and the
    student predicts as the local backend's would be served; the base folder is left as it was."""
    try:
        find_autotrain()
    except AutoTrainMissingError as err:
        missing_component(f"AutoTrain venv absent ({err}); build it with make autotrain-env")
    from test_train import build_tiny_decoder

    from sxhub.predict import Predictor
    from sxhub.spec import TaskSpec
    from sxhub.train import train
    from sxhub.train_config import TrainConfig

    base = build_tiny_decoder(tmp_path / "gpt2")
    before = {p.name: p.read_bytes() for p in base.iterdir()}
    out = tmp_path / "student"
    spec = TaskSpec(name="fin", labels=TASK_LABELS)
    config = TrainConfig(output_dir=out, base_model=str(base), backend="autotrain", epochs=1, batch_size=4,
                         max_length=32, val_size=0.25)  # fmt: skip
    result = train(spec, _frame(8), config)
    assert any("had no pad token" in note for note in result.notes), result.notes
    assert json.loads((out / "tokenizer_config.json").read_text())["pad_token"] == "<|endoftext|>"
    assert json.loads((out / "config.json").read_text())["pad_token_id"] == 0
    labels, probs = Predictor(out).predict(["profit rose w1", "loss fell", "flat"])
    assert set(labels) <= set(TASK_LABELS) and probs.shape == (3, 3)
    assert {p.name: p.read_bytes() for p in base.iterdir()} == before


# --- parity with the local backend's record (a fake AutoTrain: its trainer copies a saved model) -----------------


def _fake_student(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    trained: Path,
    base: Path,
    frame: pd.DataFrame,
    name: str = "student",
    **over: object,
) -> Path:
    """``sxhub train --backend autotrain`` on ``frame`` with a fake AutoTrain whose trainer leaves ``trained`` (a
    model saved as AutoTrain saves it) as its result; returns the student folder, ``name`` in ``tmp_path``."""
    from sxhub.spec import TaskSpec
    from sxhub.train import train
    from sxhub.train_config import TrainConfig

    monkeypatch.setenv("SXHUB_AUTOTRAIN_ENV", str(_fake_venv(tmp_path, f'cp -r "{trained}" autotrain-project\n')))
    out = tmp_path / name
    config = TrainConfig(output_dir=out, base_model=str(base), backend="autotrain", epochs=1, val_size=0.25)
    train(TaskSpec(name="fin", labels=TASK_LABELS), frame, replace(config, **over))  # type: ignore[arg-type]
    return out


def test_an_autotrain_student_records_its_weights_sha256_so_another_export_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, autotrain_style_model: Path, tiny_base_model: Path
) -> None:
    """`sxhub train` records the sha256 of the weights it saved (sxhub.json weights.sha256), which loading an ONNX
    export compares with the file's stamp; the autotrain backend wrote its own sxhub.json without it, so its
    ONNX-only folder (a published model's onnx/, config, tokenizer, sxhub.json) loaded another student's export
    copied into onnx/ and labelled every text with that student's weights."""
    import hashlib
    import shutil

    from sxhub.export import export_onnx
    from sxhub.predict import Predictor

    model = _fake_student(tmp_path, monkeypatch, autotrain_style_model, tiny_base_model, _frame(8))
    own = hashlib.sha256((model / "model.safetensors").read_bytes()).hexdigest()
    assert json.loads((model / "sxhub.json").read_text())["weights"] == {"sha256": own}
    other = tmp_path / "other"
    shutil.copytree(autotrain_style_model, other)  # the same vocabulary and number of labels, other weights
    export_onnx(other, check_n=4)
    shutil.copytree(other / "onnx", model / "onnx")
    (model / "model.safetensors").unlink()
    with pytest.raises(ModelError, match=f"exported from other weights .*the folder's are {own[:12]}"):
        Predictor(model, onnx=True)


def test_an_autotrain_student_counts_the_training_texts_cut_at_max_length(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, autotrain_style_model: Path, tiny_base_model: Path
) -> None:
    """3 articles among 90 short texts were cut at the max_length the local recipe chose (the 95th percentile, 16
    tokens) without a word from the autotrain backend: the local one says so in a note and records n_truncated and
    longest_tokens in sxhub.json, which the model card's limitations read; both backends now do."""
    from transformers import AutoTokenizer

    from sxhub.student_repo import write_model_folder

    articles = [" ".join([TEXTS[name]] * (i + 8)) for i, name in enumerate(TASK_LABELS)]
    frame = pd.concat([_frame(30), pd.DataFrame({"text": articles, "label": TASK_LABELS})], ignore_index=True)
    _frame(2).assign(text=lambda f: f["text"] + " held").to_csv(tmp_path / "val.csv", index=False)
    # validated on a file of its own, so every row of frame is a training text
    model = _fake_student(
        tmp_path, monkeypatch, autotrain_style_model, tiny_base_model, frame, validation_file=tmp_path / "val.csv"
    )
    longest = max(len(ids) for ids in AutoTokenizer.from_pretrained(tiny_base_model)(articles)["input_ids"])
    info = json.loads((model / "sxhub.json").read_text())
    assert info["max_length"] == 16 < longest
    assert (info["train"]["n_truncated"], info["train"]["longest_tokens"]) == (3, longest)
    note = next(n for n in info["train"]["notes"] if n.startswith("3 of the 93 training texts are longer than"))
    assert (
        f"the max_length of 16 tokens (the 95th percentile of the training texts' lengths; the longest {longest})"
        in (note)
    )
    card = (write_model_folder(model, tmp_path / "repo", repo_id="me/fin") / "README.md").read_text()
    assert f"3 of the 93 training texts were (3%; the longest had {longest} tokens)" in card


def test_a_student_as_the_autotrain_base_does_not_cap_max_length_at_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, autotrain_style_model: Path, tiny_base_model: Path
) -> None:
    """A student trained at 16 tokens as the base of another (texts first, then longer ones): the local backend
    reads its tokenizer's model_max_length (16) as its training max_length, not a limit, and trains at --max-length
    64; the autotrain backend read the base from a folder of links without the student's sxhub.json (its head put in
    AutoTrain's label order), so it refused --max-length 64 as 'more than the base model takes (16 tokens)' and,
    without it, cut every text at 16."""
    first = _fake_student(tmp_path, monkeypatch, autotrain_style_model, tiny_base_model, _frame(8), name="first")
    assert json.loads((first / "tokenizer_config.json").read_text())["model_max_length"] == 16
    second = _fake_student(tmp_path, monkeypatch, autotrain_style_model, first, _frame(8), name="second",
                           max_length=64)  # fmt: skip
    assert json.loads((second / "sxhub.json").read_text())["max_length"] == 64


def test_a_student_base_with_an_older_block_leaves_no_stale_block_in_the_autotrain_students_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, autotrain_style_model: Path, tiny_base_model: Path
) -> None:
    """A student saved with preprocessing block 4 (no NFC) as the base: AutoTrain's model kept that base's config
    keys, and train_autotrain only set config.json's sxhub_preprocessing where it was missing, so the new student's
    config.json said block 4 and its max_length, texts as given, while it was trained on texts cleaned by today's
    block in NFC and sxhub.json said so: a plain transformers user (the card's snippet) served it NFD texts. The
    config now carries the block its training texts were cleaned with, as the local backend saves it."""
    import shutil
    import unicodedata

    from sxhub.data import apply_preprocessing, preprocessing_config

    old_block = {**preprocessing_config(True, max_length=48), "version": 4}
    old_block.pop("normalize")
    carried = tmp_path / "autotrain-out"  # what AutoTrain saves from such a base: its config keys come along
    shutil.copytree(autotrain_style_model, carried)
    config = json.loads((carried / "config.json").read_text())
    config.update(sxhub_preprocessing=old_block, sxhub_thresholds={"joy": 0.3})
    (carried / "config.json").write_text(json.dumps(config))
    model = _fake_student(tmp_path, monkeypatch, carried, tiny_base_model, _frame(8))
    saved = json.loads((model / "config.json").read_text())
    recorded = json.loads((model / "sxhub.json").read_text())["preprocessing"]
    assert saved["sxhub_preprocessing"] == recorded == preprocessing_config(True, max_length=recorded["max_length"])
    assert "sxhub_thresholds" not in saved
    nfd = unicodedata.normalize("NFD", "café crème profit rose")
    assert apply_preprocessing(nfd, saved["sxhub_preprocessing"]) == "café crème profit rose"


def test_a_base_whose_head_names_no_labels_is_read_and_said_as_the_local_backend_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, autotrain_style_model: Path, tiny_base_model: Path
) -> None:
    """A classifier base naming its labels LABEL_0.. (many Hub sentiment models): the local backend keeps its head,
    its rows taken in the task's order, and says so in a note; the autotrain backend said nothing, and AutoTrain
    took the rows in its own (alphabetical) order, so LABEL_0 started as `negative` there and `positive` here."""
    from safetensors.torch import load_file
    from transformers import AutoConfig

    from sxhub.head import base_in_label_order
    from sxhub.spec import TaskSpec

    assert AutoConfig.from_pretrained(tiny_base_model).id2label == {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}
    model = _fake_student(tmp_path, monkeypatch, autotrain_style_model, tiny_base_model, _frame(8))
    rows = ", ".join(f"LABEL_{i} as {name}" for i, name in enumerate(TASK_LABELS))
    notes = json.loads((model / "sxhub.json").read_text())["train"]["notes"]
    assert any(f"The base's head names no labels: it was kept, its rows taken in the task's order ({rows})" in note
               for note in notes), notes  # fmt: skip

    # what AutoTrain loads: the head's rows in its own order, each the row the local backend gives that label
    read, note = base_in_label_order(str(tiny_base_model), TaskSpec(name="fin", labels=TASK_LABELS), ALPHABETICAL,
                                     tmp_path / "head")  # fmt: skip
    assert note is not None and rows in note and read != str(tiny_base_model)
    assert AutoConfig.from_pretrained(read).id2label == dict(enumerate(ALPHABETICAL))
    before, after = load_file(tiny_base_model / "model.safetensors"), load_file(Path(read) / "model.safetensors")
    for key in ("classifier.weight", "classifier.bias"):
        for row, name in enumerate(ALPHABETICAL):
            assert after[key][row].equal(before[key][TASK_LABELS.index(name)]), (key, name)
