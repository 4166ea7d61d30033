"""Publishing: the exact repo folders (--to), pushes to the local Hub stand-in and back, and one-line errors."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import HubFixture, build_tiny_model, corrupt_parquet_pages, run_cli

from sxhub.spec import TaskSpec

SECRET = "hf_secret_never_in_files_42"


def _spec(multi_label: bool = False, teachers: list[Any] | None = None) -> TaskSpec:
    labels = [{"name": "positive", "description": "good news"}, {"name": "neutral"}, {"name": "negative"}]
    return TaskSpec(
        name="fin-sent",
        description="Sentiment of financial news.",
        labels=labels,
        multi_label=multi_label,
        teachers=teachers or ["local"],
        samples=3,
        reasoning=True,
        temperature=0.8,
    )


def _rows(spec: TaskSpec, n: int = 40) -> list[dict]:
    """Annotate-style rows: 3 votes per text, one failed text, an expert ``gold`` column."""
    names = spec.label_names
    rows = []
    for i in range(n):
        lab = names[i % 3]
        winner = [lab, names[(i + 1) % 3]] if spec.multi_label else [lab]
        votes = [
            {
                "teacher": "local",
                "sample": s,
                "labels": winner if s < 2 else [names[(i + 1) % 3]],
                "reason": "r",
                "error": "",
                "raw": "{}",
            }
            for s in range(3)
        ]
        failed = i == n - 1
        if failed:
            votes = [
                {"teacher": "local", "sample": s, "labels": None, "reason": "", "error": "timeout", "raw": ""}
                for s in range(3)
            ]
        agreement = {m: 2 / 3 for m in names} if spec.multi_label else 2 / 3
        row = {
            "text": f"company profit rose {i}",
            "votes": votes,
            "agreement": agreement,
            "failed": failed,
            "error": "timeout" if failed else "",
            "gold": names[(i + i // 3) % 3],
        }
        row[spec.label_column] = None if failed else (winner if spec.multi_label else lab)
        rows.append(row)
    return rows


@pytest.fixture
def labelled(tmp_path: Path) -> tuple[Path, Path]:
    spec = _spec()
    data = tmp_path / "labelled.parquet"
    pd.DataFrame(_rows(spec)).to_parquet(data)
    task = tmp_path / "task.yaml"
    task.write_text(spec.to_yaml(), encoding="utf-8")
    return data, task


def make_student(path: Path, spec: TaskSpec) -> Path:
    """A tiny random student folder with id2label and a plausible sxhub.json (as `sxhub train` writes)."""
    build_tiny_model(path, num_labels=len(spec.labels))
    config = json.loads((path / "config.json").read_text())
    config["id2label"] = {str(i): n for i, n in enumerate(spec.label_names)}
    config["label2id"] = spec.label2id
    (path / "config.json").write_text(json.dumps(config))
    info = {
        "task": spec.to_dict(),
        "multi_label": spec.multi_label,
        "labels": spec.label_names,
        "thresholds": None,
        "max_length": 64,
        "base_model": "sentence-transformers/all-MiniLM-L6-v2",
        "backend": "local",
        "train": {"epochs": 1.0, "seconds": 1.5, "n_train": 31, "best_metric": "macro_f1"},
    }
    (path / "sxhub.json").write_text(json.dumps(info))
    return path


@pytest.fixture
def student(tmp_path: Path) -> Path:
    return make_student(tmp_path / "student", _spec())


def _files_text(folder: Path) -> str:
    return "\n".join(p.read_bytes().decode("latin-1") for p in folder.rglob("*") if p.is_file())


def test_to_dir_writes_the_three_repo_folders(
    tmp_path: Path,
    labelled: tuple[Path, Path],
    student: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from datasets import ClassLabel, load_dataset
    from huggingface_hub import DatasetCard, ModelCard

    monkeypatch.setenv("HF_TOKEN", SECRET)
    data, task = labelled
    ledger = tmp_path / "labelled.ledger.json"
    ledger.write_text(json.dumps({"totals": {"texts": 40, "seconds": 8.0, "cost_usd": 0.0}}))
    ds_dir, model_dir, space_dir = tmp_path / "ds", tmp_path / "model", tmp_path / "space"
    # the token comes from HF_TOKEN: --token only applies when pushing, and --to writes folders
    common = ["--ledger", str(ledger), "--gold", "gold"]
    code, out, err = run_cli(
        ["publish", "dataset", str(data), "--task", str(task), "--to", str(ds_dir), *common], capsys
    )
    assert code == 0, err
    assert out.strip() == str(ds_dir)
    code, _, err = run_cli(
        [
            "publish",
            "model",
            str(student),
            "--to",
            str(model_dir),
            "--data",
            str(data),
            "--dataset-repo",
            "me/fin",
            "--repo-id",
            "me/fin-student",
            *common,
        ],
        capsys,
    )
    assert code == 0, err
    code, _, err = run_cli(["publish", "space", str(student), "--to", str(space_dir), "--data", str(data)], capsys)
    assert code == 0, err

    card = DatasetCard.load(ds_dir / "README.md")
    assert card.data.task_categories == ["text-classification"]
    assert card.data.task_ids == ["multi-class-classification"]
    assert {"synthetic", "sxhub"} <= set(card.data.tags)
    assert "Agreement with experts" in card.text and "totals.cost_usd" in card.text
    assert (ds_dir / "label_distribution.png").stat().st_size > 1000
    ds = load_dataset(str(ds_dir))
    assert set(ds) == {"train", "validation", "test"}
    assert sum(len(s) for s in ds.values()) == 39  # the failed text is left out
    assert isinstance(ds["train"].features["label"], ClassLabel)
    assert ds["train"].features["label"].names == ["positive", "neutral", "negative"]
    assert ds["train"][0]["votes"][0]["teacher"] == "local"

    mcard = ModelCard.load(model_dir / "README.md")
    assert mcard.data.base_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert mcard.data.datasets == ["me/fin"] and mcard.data.pipeline_tag == "text-classification"
    metrics = {(r.dataset_name, r.metric_type, str(r.metric_args)) for r in mcard.data.eval_results}
    assert ("me/fin (student vs experts)", "f1", "{'average': 'macro'}") in metrics
    assert ("me/fin (student vs experts)", "krippendorff_alpha", "None") in metrics
    # the teacher's score is in the card's table, not in the model-index, where the Hub shows it as the student's
    assert not any("teacher vs experts" in name for name, _, _ in metrics)
    assert "teacher vs experts" in mcard.text
    assert 'pipeline("text-classification", model="me/fin-student", top_k=None)' in mcard.text
    assert "chance level" in mcard.text
    assert "does not record the texts it learned from" in mcard.text  # a folder without trained_texts.npz
    assert (model_dir / "confusion_matrix.png").is_file() and (model_dir / "model.safetensors").is_file()

    readme = (space_dir / "README.md").read_text()
    header = __import__("yaml").safe_load(readme.split("---")[1])
    assert header["sdk"] == "gradio" and header["app_file"] == "app.py"
    assert json.loads((space_dir / "config.json").read_text())["model"] == "model"
    assert len(json.loads((space_dir / "examples.json").read_text())) == 3
    assert (space_dir / "model" / "model.safetensors").is_file()
    for folder in (ds_dir, model_dir, space_dir):
        assert SECRET not in _files_text(folder)


def test_multi_label_features_and_split() -> None:
    from datasets import ClassLabel, List

    from sxhub.publish import build_dataset

    spec = _spec(multi_label=True)
    dd, facts = build_dataset(pd.DataFrame(_rows(spec, n=50)), spec, seed=1)
    feature = dd["train"].features["labels"]
    assert isinstance(feature, List) and isinstance(feature.feature, ClassLabel)
    assert set(dd["train"].features["agreement"]) == set(spec.label_names)
    assert facts["n_failed"] == 1 and sum(len(d) for d in dd.values()) == 49
    again, _ = build_dataset(pd.DataFrame(_rows(spec, n=50)), spec, seed=1)
    assert again["test"]["text"] == dd["test"]["text"]  # seeded


def test_push_and_load_back(hub, labelled: tuple[Path, Path], student: Path) -> None:
    from datasets import load_dataset
    from transformers import AutoModelForSequenceClassification, pipeline

    from sxhub.publish import publish_dataset, publish_model, publish_space

    data, task = labelled
    url = publish_dataset(data, spec=task, repo_id=f"{hub.user}/fin-sent", gold="gold")
    assert "fin-sent" in url
    ds = load_dataset(f"{hub.user}/fin-sent")
    assert ds["train"].features["label"].names == ["positive", "neutral", "negative"]
    assert sum(len(s) for s in ds.values()) == 39

    publish_model(
        student, repo_id=f"{hub.user}/fin-student", dataset_repo=f"{hub.user}/fin-sent", data=data, gold="gold"
    )
    model = AutoModelForSequenceClassification.from_pretrained(f"{hub.user}/fin-student")
    assert model.config.id2label[2] == "negative"
    texts = ["profit rose strong growth", "shares fell loss"]
    remote = pipeline("text-classification", model=f"{hub.user}/fin-student", top_k=None)(texts)
    local = pipeline("text-classification", model=str(student), top_k=None)(texts)
    assert [[s["label"] for s in r] for r in remote] == [[s["label"] for s in r] for r in local]
    assert [r[0]["score"] for r in remote] == pytest.approx([r[0]["score"] for r in local])

    publish_space(
        student,
        repo_id=f"{hub.user}/fin-demo",
        model_repo=f"{hub.user}/fin-student",
        dataset_repo=f"{hub.user}/fin-sent",
    )
    files = set(hub.stub.list_files(f"{hub.user}/fin-demo", repo_type="space"))
    assert {"app.py", "requirements.txt", "README.md", "config.json", "examples.json"} <= files


def test_errors_are_one_line_with_exit_2(
    hub,
    labelled: tuple[Path, Path],
    student: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data, task = labelled
    base = ["publish", "dataset", str(data), "--task", str(task)]
    code, _, err = run_cli([*base, "--repo-id", "bad name/../x"], capsys)
    assert code == 2 and "invalid" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli([*base, "--repo-id", "me/bad name"], capsys)
    assert code == 2 and "'me/bad name'. Use NAMESPACE/NAME" in err  # one full stop, not huggingface_hub's and ours

    code, _, err = run_cli([*base, "--repo-id", f"{hub.user}/exists"], capsys)
    assert code == 0, err
    code, _, err = run_cli([*base, "--repo-id", f"{hub.user}/exists"], capsys)
    assert code == 2 and "--exist-ok" in err
    code, _, err = run_cli([*base, "--repo-id", f"{hub.user}/exists", "--exist-ok"], capsys)
    assert code == 0, err

    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run_cli(["publish", "model", str(empty), "--repo-id", "me/m"], capsys)
    assert code == 2 and "nothing to publish" in err
    (empty / "config.json").write_text("{}")
    code, _, err = run_cli(["publish", "model", str(empty), "--repo-id", "me/m"], capsys)
    assert code == 2 and "weights" in err
    # a file of the folder, given for the folder: it said "'.../config.json' is missing or empty"
    for given, fix in [(empty / "config.json", f"pass its folder {str(empty)!r}"), (empty.parent / "x.bin", None)]:
        given.touch()
        code, out, err = run_cli(
            ["publish", "model", str(given), "--repo-id", "me/m", "--to", str(tmp_path / "pub")], capsys
        )
        fix = fix or "pass the folder `sxhub train` wrote"
        line = f"Error: nothing to publish: {str(given)!r} is a file, not a model folder; {fix}."
        assert code == 2 and out == "" and err.strip().splitlines() == [line]

    monkeypatch.delenv("HF_TOKEN")
    code, _, err = run_cli(["publish", "model", str(student), "--repo-id", "me/m"], capsys)
    assert code == 2 and "hf auth login" in err and "HF_TOKEN" in err


def test_the_missing_token_line_names_only_commands_that_are_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The line said "run `hf auth login` (or `huggingface-cli login`)"; huggingface_hub 2, sxhub's floor, installs
    only `hf`: a user who tried the second got "command not found"."""
    import re
    from importlib.metadata import entry_points

    import huggingface_hub

    from sxhub.errors import PublishError
    from sxhub.hub import resolve_token

    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)  # no HF_TOKEN, no saved login
    with pytest.raises(PublishError) as caught:
        resolve_token(None)
    commands = re.findall(r"`([^`]+)`", str(caught.value))
    assert commands, str(caught.value)
    scripts = {e.name for e in entry_points(group="console_scripts")}
    assert [c for c in commands if c.split()[0] not in scripts] == [], str(caught.value)


def _break(folder: Path, how: str) -> Path:
    """A student folder made into one sxhub cannot publish as a classifier, as ``how`` says."""
    if how == "config not JSON":
        (folder / "config.json").write_text("{", encoding="utf-8")
    elif how == "sxhub.json not JSON":
        (folder / "sxhub.json").write_text("[1", encoding="utf-8")
    elif how in ("no id2label", "one label"):
        (folder / "sxhub.json").unlink()
        config = json.loads((folder / "config.json").read_text())
        config.pop("label2id")
        config["id2label"] = {"0": "a"} if how == "one label" else {}
        (folder / "config.json").write_text(json.dumps(config))
    elif how == "synthetic model":
        info = json.loads((folder / "sxhub.json").read_text())
        (folder / "sxhub.json").write_text(json.dumps({**info, "kind": "synthetic-model"}))
    return folder


@pytest.mark.parametrize(
    ("how", "says"),
    [
        ("config not JSON", "config.json' is not valid JSON"),
        ("sxhub.json not JSON", "sxhub.json' is not valid JSON"),
        ("no id2label", "names no labels (id2label)"),
        ("one label", "id2label ['a'], problem_type None), not a classifier"),
        ("synthetic model", "`sxhub publish generator`"),
    ],
)
@pytest.mark.parametrize("target", ["model", "space"])
def test_a_folder_that_is_no_student_is_one_line_naming_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str, says: str, target: str
) -> None:
    """A model folder sxhub cannot run as a classifier: a config.json or sxhub.json cut short was a JSONDecodeError
    with exit 1, and a config.json with one label or none the spec's "needs at least 2 labels", naming no folder."""
    folder = _break(make_student(tmp_path / "student", _spec()), how)
    capsys.readouterr()  # save_pretrained's progress bar
    out = tmp_path / "out"
    code, _, err = run_cli(["publish", target, str(folder), "--to", str(out)], capsys)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and says in err
    assert "pass the folder sxhub train wrote" in err or "`sxhub train` wrote" in err or "download the model" in err
    assert not out.exists()


def test_gold_that_is_the_teachers_label_column_is_refused(
    hub, labelled: tuple[Path, Path], student: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--gold label`` would score the teachers against themselves, and the card would claim perfect agreement
    with the experts: one error line, nothing written, no repo created on the Hub."""
    from huggingface_hub import HfApi

    data, task = labelled
    dataset = ["publish", "dataset", str(data), "--task", str(task), "--to", str(tmp_path / "ds"), "--gold", "label"]
    code, out, err = run_cli(dataset, capsys)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "is the teachers' label column" in err and not (tmp_path / "ds").exists()
    model = ["publish", "model", str(student), "--to", str(tmp_path / "m"), "--data", str(data), "--gold", "label"]
    code, _, err = run_cli(model, capsys)
    assert code == 2 and "is the teachers' label column" in err and not (tmp_path / "m").exists()
    for argv in (dataset, model):  # a column the file does not have: the line names the option to change
        code, _, err = run_cli([*argv[:-1], "nope"], capsys)
        assert (
            code == 2
            and "gold column 'nope' not found" in err
            and "pass --gold (Python: gold=) with the column" in err
        )
    code, _, err = run_cli([*dataset[:5], "--repo-id", f"{hub.user}/fin", "--gold", "label"], capsys)
    assert code == 2 and "is the teachers' label column" in err
    assert not HfApi().repo_exists(f"{hub.user}/fin", repo_type="dataset")
    code, _, err = run_cli([*dataset[:5], "--repo-id", f"{hub.user}/fin", "--gold", "gold"], capsys)
    assert code == 0, err  # no --exist-ok needed after the refusal


def test_a_card_scores_only_texts_the_student_was_not_trained_on(
    labelled: tuple[Path, Path], tiny_base_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``sxhub train`` on a file, then ``publish model --data`` with a file that holds its training texts: the
    texts the student was trained on are left out of the card's test-split scores, and the card says how many and
    how many of the rest were its validation texts; when every test text was trained on, publish refuses.
    ``sxhub evaluate`` counts both."""
    from sxhub import trained_texts
    from sxhub.model_info import read_model_info
    from sxhub.publish import build_dataset
    from sxhub.train import train
    from sxhub.train_config import TrainConfig

    data, task = labelled
    student = tmp_path / "trained"
    train(str(task), data, TrainConfig(output_dir=student, base_model=str(tiny_base_model), epochs=1, threads=1))
    assert (student / trained_texts.FILE).is_file()
    command = ["publish", "model", str(student), "--gold", "gold", "--dataset-repo", "me/fin"]
    capsys.readouterr()  # training's progress bars

    # the file it was trained on: train's validation 10% and publish's test 10% are the same seeded stratified split
    code, _, err = run_cli([*command, "--to", str(tmp_path / "m1"), "--data", str(data)], capsys)
    assert code == 0, err
    card = (tmp_path / "m1" / "README.md").read_text(encoding="utf-8")
    assert "The student was trained on none of its texts. 4 of the texts scored were its validation texts" in card
    assert not (tmp_path / "m1" / trained_texts.FILE).exists(), "the hashes stay on this machine"

    # more texts: the test split's training texts are left out, and the card says how many
    more = pd.concat([pd.read_parquet(data), pd.DataFrame(_rows(_spec(), 100)[40:])], ignore_index=True)
    mixed = tmp_path / "mixed.parquet"
    more.to_parquet(mixed)
    code, _, err = run_cli([*command, "--to", str(tmp_path / "m2"), "--data", str(mixed)], capsys)
    assert code == 0, err
    test_split = build_dataset(mixed, _spec(), seed=42)[1]["splits"]["test"]
    was = trained_texts.seen(student, test_split["text"].tolist(), read_model_info(student).preprocessing)
    assert was is not None and 0 < was.trained.sum() < len(test_split)
    card = (tmp_path / "m2" / "README.md").read_text(encoding="utf-8")
    n_trained = int(was.trained.sum())
    left = (
        "is left out: the student was trained on it"
        if n_trained == 1
        else "are left out: the student was trained on them"
    )
    assert f"{n_trained} of the split's {len(test_split)} texts {left}." in card
    about = json.loads((tmp_path / "m2" / "sxhub.json").read_text())["about"]
    assert about["scores"]["student vs experts"]["n"] == len(test_split) - n_trained

    # a student trained on every row of the file (validated on another): nothing held out is left, publish refuses
    other = tmp_path / "val.parquet"
    pd.DataFrame(_rows(_spec(), 100)[50:70]).to_parquet(other)
    every = tmp_path / "every"
    config = TrainConfig(output_dir=every, base_model=str(tiny_base_model), epochs=1, threads=1, validation_file=other)
    train(str(task), data, config)
    capsys.readouterr()
    code, _, err = run_cli(
        ["publish", "model", str(every), "--to", str(tmp_path / "m3"), "--data", str(data), "--gold", "gold"], capsys
    )
    assert code == 2 and err.strip().splitlines()[-1].startswith("Error: the student was trained on all 4 texts")
    assert not (tmp_path / "m3").exists()

    code, out, err = run_cli(["evaluate", str(student), str(data), "--gold", "gold", "--json"], capsys)
    assert code == 0, err
    result = json.loads(out)
    # the row the teacher failed on still has the experts' label: the student is scored on it too
    assert (result["n_trained_on"], result["n_validated_on"], result["n"], result["n_failed"]) == (35, 4, 40, 0)


def test_an_unreachable_hub_is_one_line_with_exit_2(
    labelled: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No network or a wrong HF_ENDPOINT: one PublishError line naming the step and the --to way out (it was
    httpx2's ConnectError, exit 1)."""
    data, task = labelled
    monkeypatch.setenv("HF_TOKEN", SECRET)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    argv = ["publish", "dataset", str(data), "--task", str(task), "--repo-id", "me/fin"]
    for extra in ([], ["--exist-ok"]):  # the existence check, then the repo's creation
        code, out, err = run_cli([*argv, *extra], capsys)
        assert code == 2 and out == ""
        line = err.strip().splitlines()[-1]
        assert (
            line.startswith("Error: could not reach the Hub while ") and "ConnectError" in line and "--to DIR" in line
        )


def test_hf_hub_offline_is_named_as_what_stops_the_push(
    labelled: tuple[Path, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """HF_HUB_OFFLINE=1 left in the environment: the push said "could not reach the Hub ... check the network or
    HF_ENDPOINT", sending the user to a network that was fine; a model with --dataset-repo stopped at the dataset's
    revision with huggingface_hub's OfflineModeIsEnabled, exit 1."""
    from huggingface_hub import constants

    data, task = labelled
    student = make_student(data.parent / "student", _spec())
    monkeypatch.setenv("HF_TOKEN", SECRET)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # read when huggingface_hub was imported
    argv = ["publish", "dataset", str(data), "--task", str(task), "--repo-id", "me/fin"]
    model = ["publish", "model", str(student), "--repo-id", "me/m", "--dataset-repo", "me/fin"]
    for command in ([*argv], [*argv, "--exist-ok"], model):  # the existence check, the repo's creation, the dataset
        code, out, err = run_cli(command, capsys)
        assert code == 2 and out == ""
        line = err.strip().splitlines()[-1]  # after the progress bars of the data files written first
        assert line.startswith("Error: HF_HUB_OFFLINE is set") and "unset it" in line and "network" not in line


def test_publish_and_space_do_not_import_each_other() -> None:
    """The repo-folder helpers both use live in sxhub.repo (the Space's folder in sxhub.space_folder); neither module
    imports the other, not even lazily."""
    import ast

    import sxhub

    def imports(module: str) -> set[str]:
        tree = ast.parse((Path(sxhub.__file__).parent / f"{module}.py").read_text(encoding="utf-8"))
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                base = "." * node.level + (node.module or "")
                found.add(base)
                found.update(base + ("." if node.module else "") + a.name for a in node.names)  # from . import x
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
        return found

    assert not imports("publish") & {".space", "sxhub.space"}
    assert not imports("space") & {".publish", "sxhub.publish"}
    assert ".repo" in imports("publish") and ".repo" in imports("space")


def test_a_published_model_carries_its_preprocessing_and_facts(
    tmp_path: Path, labelled: tuple[Path, Path], student: Path
) -> None:
    """A student saved without the preprocessing block (as before sxhub saved it) gets the block predict applies,
    in config.json (read by the Space and the card's snippet) and sxhub.json, plus the facts the Space shows."""
    from sxhub.model_info import read_model_info
    from sxhub.publish import publish_model

    data, _ = labelled
    assert "sxhub_preprocessing" not in json.loads((student / "config.json").read_text())
    folder = Path(
        publish_model(student, to=tmp_path / "m", repo_id="me/fin-student", dataset_repo="me/fin", data=data)
    )
    config = json.loads((folder / "config.json").read_text())
    info = json.loads((folder / "sxhub.json").read_text())
    assert config["sxhub_preprocessing"] == info["preprocessing"] == read_model_info(student).preprocessing
    assert [s["name"] for s in config["sxhub_preprocessing"]["steps"]] == [
        "whitespace",  # first since block version 2: cleaning twice equals cleaning once
        "url",
        "email",
        "handle",
        "phone",
    ]
    assert config["sxhub_preprocessing"]["max_length"] == 64
    about = info["about"]
    assert about["model_repo"] == "me/fin-student" and about["dataset_repo"] == "me/fin"
    assert set(about["scores"]) == {"student vs teacher labels"} and about["split"] == "test"
    assert about["speed"]["texts_per_s"] > 0
    card = (folder / "README.md").read_text()
    assert "sxhub_preprocessing" in card and "def preprocess(text):" in card
    assert "url, email, handle, phone masked" in card


def test_a_thin_distilled_student_says_so_without_local_paths(tmp_path: Path, labelled: tuple[Path, Path]) -> None:
    from sxhub.publish import publish_model

    student = make_student(tmp_path / "thin", _spec())
    info = json.loads((student / "sxhub.json").read_text())
    teacher = tmp_path / "work" / "full-student"
    info["train"].update(layers=3, distilled_from=str(teacher), distill_temperature=2.0, distill_weight=0.5)
    (student / "sxhub.json").write_text(json.dumps(info))
    folder = Path(publish_model(student, to=tmp_path / "m", repo_id="me/fin-thin"))
    card = (folder / "README.md").read_text()
    assert "keeping its first 3 layers" in card
    assert "the outputs of a deeper student, `full-student`, trained on them (knowledge distillation)" in card
    assert str(tmp_path) not in _files_text(folder), "no local path in the repo"
    assert json.loads((folder / "sxhub.json").read_text())["train"]["distilled_from"] == "full-student"


def test_a_file_with_one_flag_column_per_label_publishes_as_train_reads_it(tmp_path: Path) -> None:
    """The 4P tweets' layout (``Text`` and one True/False column per label, no votes), which ``train`` and
    ``evaluate`` read: ``publish dataset``, ``publish model --data`` and ``publish space --data`` read it too, with
    the same labels, and the cards do not claim teacher votes the file does not hold."""
    from sxhub.labelled import load_labelled
    from sxhub.publish import build_dataset, publish_dataset, publish_model, publish_space

    spec = _spec(multi_label=True)
    names = spec.label_names
    rows = [
        {"idx": i, "Text": f"company profit rose {i}", **{n: str((i + k) % 3 == 0) for k, n in enumerate(names)}}
        for i in range(40)
    ]
    rows[5]["neutral"] = "1"  # 0/1 cells as well as True/False
    rows[0]["neutral"] = "True"  # the first text of two labels: the Space shows it once
    data = tmp_path / "flags.csv"
    pd.DataFrame(rows).to_csv(data, index=False)
    trained_as = load_labelled(data, label_names=names, multi_label=True)

    dd, facts = build_dataset(data, spec)
    frame = facts["frame"]
    assert list(frame.columns) == ["idx", "text", "labels"], "the flag columns become `labels`, not extra columns"
    assert dict(zip(frame["text"], map(sorted, frame["labels"]), strict=True)) == dict(
        zip(trained_as.texts, map(sorted, trained_as.labels), strict=True)
    )
    assert "neutral" in frame["labels"][5]

    folder = Path(publish_dataset(data, spec=spec, to=tmp_path / "ds"))
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert "holds no teacher votes" in card and "labelled by" not in card and "## Vote agreement" not in card
    assert "| `labels` | the labels as given" in card and "| `text` | the text as given |" in card

    student = make_student(tmp_path / "student", spec)
    model = Path(publish_model(student, to=tmp_path / "m", repo_id="me/4p", data=data))
    about = json.loads((model / "sxhub.json").read_text())["about"]
    assert about["scores"]["student vs teacher labels"]["n"] == len(dd["test"])
    card = (model / "README.md").read_text(encoding="utf-8")
    assert '"teacher labels" are its label column as given' in card
    assert "This student saved no tuned thresholds: every label's is 0.5." in card  # make_student saves none

    space = Path(publish_space(student, to=tmp_path / "sp", data=data))
    examples = json.loads((space / "examples.json").read_text())
    assert len(examples) == len(set(examples)) == len(names), "one text per label, none twice"


def test_expert_labels_as_one_flag_column_per_label_are_the_gold_of_both_cards(tmp_path: Path) -> None:
    """The teacher's ``labels`` beside the experts' labels as one true/false column per label (GoEmotions'
    layout): ``--gold`` naming one of them scores against all of them, as a list column would, in the dataset card
    and the model card. Before, the one column named was read as each text's label set ("True" or "False")."""
    from sxhub.publish import publish_dataset, publish_model

    spec = _spec(multi_label=True)
    names = spec.label_names
    experts = [[n for k, n in enumerate(names) if (i + k) % 3 == 0] for i in range(60)]
    teacher = [labs if i % 4 else [n for n in names if n not in labs] for i, labs in enumerate(experts)]
    listed = pd.DataFrame(
        {"text": [f"company profit rose {i}" for i in range(60)], "labels": teacher, "gold": experts}
    )
    flags = listed.drop(columns=["gold"])
    for name in names:
        flags[name] = [name in labs for labs in experts]
    cards = {}
    for kind, frame, gold in (("listed", listed, "gold"), ("flags", flags, "neutral")):
        folder = Path(publish_dataset(frame, spec=spec, to=tmp_path / f"ds-{kind}", gold=gold))
        cards[kind] = (folder / "README.md").read_text(encoding="utf-8")
    assert "Agreement with experts" in cards["flags"]
    assert "| `gold` | the experts' labels, kept from the input (see *Agreement with experts*) |" in cards["flags"]
    assert cards["flags"] == cards["listed"]  # the flags become the same `gold` list column

    student = make_student(tmp_path / "student", spec)
    scores = {}
    for kind, frame, gold in (("listed", listed, "gold"), ("flags", flags, "negative")):
        model = Path(publish_model(student, to=tmp_path / f"m-{kind}", repo_id="me/m", data=frame, gold=gold))
        scores[kind] = json.loads((model / "sxhub.json").read_text())["about"]["scores"]
    assert scores["flags"] == scores["listed"] and scores["flags"]["teacher vs experts"]["micro_f1"] < 1.0


def test_a_dataset_without_teacher_votes_claims_no_llm_labelling(tmp_path: Path, labelled: tuple[Path, Path]) -> None:
    """A labelled file without votes (not `sxhub annotate` output): its card said "labelled by open LLMs" and its
    metadata ``annotations_creators: machine-generated`` with an ``llm-labelled`` tag, while the card's own text
    said it cannot tell who gave the labels. With votes, both stay as they were."""
    from huggingface_hub import DatasetCard

    from sxhub.publish import publish_dataset

    data, _ = labelled
    spec = TaskSpec.from_dict({**_spec().to_dict(), "description": ""})
    voted = pd.read_parquet(data)
    plain = voted[["text", "label"]].dropna()
    cards = {}
    for kind, frame in (("voted", voted), ("plain", plain)):
        folder = Path(publish_dataset(frame, spec=spec, to=tmp_path / kind, repo_id="me/ds"))
        cards[kind] = DatasetCard.load(folder / "README.md")
    assert (
        cards["voted"].data.annotations_creators == ["machine-generated"]
        and "llm-labelled" in cards["voted"].data.tags
    )
    assert "labelled by open LLMs" in cards["voted"].text
    assert cards["plain"].data.annotations_creators == ["found"] and "llm-labelled" not in cards["plain"].data.tags
    assert "LLM" not in cards["plain"].text.split("## Task")[0]
    assert "cannot say who or what gave them" in cards["plain"].text


def test_label_names_with_dollar_signs_are_plotted_as_written(tmp_path: Path) -> None:
    """matplotlib read two '$' in a label name as TeX: "save $ on #1 $ deal" failed the publish with a
    ParseException (exit 1), and "$5-$10" was drawn as the formula 5-10."""

    from sxhub.cards import plot_confusion
    from sxhub.publish import publish_dataset

    names = ["save $ on #1 $ deal", "$5-$10", "other"]
    spec = TaskSpec(name="deals", labels=names)
    frame = pd.DataFrame({"text": [f"deal {i}" for i in range(30)], "label": [names[i % 3] for i in range(30)]})
    folder = Path(publish_dataset(frame, spec=spec, to=tmp_path / "ds", repo_id="me/ds"))
    assert (folder / "label_distribution.png").stat().st_size > 0
    result = {"labels": names, "confusion_matrix": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}
    assert plot_confusion(result, tmp_path / "cm.png", title="student $ vs $ experts") == tmp_path / "cm.png"


@pytest.mark.parametrize("multi", [True, False])
def test_the_confusion_plot_names_its_comparison_and_which_axis_is_which(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, multi: bool
) -> None:
    """The model card's confusion plot of a multi-label student (the 4P tweets: one 2x2 panel per label) had neither
    a title nor axis names: whether its rows were the experts' labels or the student's, and which comparison of the
    card's table it drew, could not be read from it; a single-label plot was titled "student", not what it was
    compared with. Each now names the comparison it draws, rows "reference" and columns "predicted"."""
    from matplotlib.figure import Figure

    from sxhub.cards import plot_confusion
    from sxhub.metrics import score

    drawn: list[Figure] = []
    save = Figure.savefig

    def keep(fig: Figure, *args: Any, **kwargs: Any) -> Any:
        drawn.append(fig)
        return save(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    names = ["Product", "Place", "Price", "Promotion"] if multi else ["positive", "neutral", "negative"]
    gold: list[Any] = [[names[0], names[1]], [names[2]], []] if multi else names
    pred: list[Any] = [[names[0]], [names[2], names[3]], [names[1]]] if multi else names[::-1]
    assert plot_confusion(score(gold, pred, names, multi), tmp_path / "cm.png", title="student vs experts")
    [fig] = drawn
    shown = [ax for ax in fig.axes if ax.get_images()]  # the panels drawn (a multi-label grid may have empty ones)
    assert len(shown) == (len(names) if multi else 1)
    titles = [fig.get_suptitle()] + [ax.get_title() for ax in shown]
    assert any("student vs experts" in t for t in titles)
    for ax in shown:
        assert ax.get_ylabel() == "reference" and ax.get_xlabel() == "predicted"

    # the card's plot is of the comparison it names (the experts' where given), and its alt text says which
    from sxhub.publish import publish_model

    spec = TaskSpec(name="fourp", labels=names, multi_label=multi)
    scores = {
        "student vs teacher labels": score(gold, gold, names, multi),
        "student vs experts": score(gold, pred, names, multi),
    }
    folder = Path(
        publish_model(make_student(tmp_path / "student", spec), to=tmp_path / "m", evaluation={"scores": scores})
    )
    fig = drawn[-1]
    assert any("student vs experts" in t for t in [fig.get_suptitle()] + [ax.get_title() for ax in fig.axes])
    assert "![Confusion matrix: student vs experts, rows reference, columns predicted](confusion_matrix.png)" in (
        folder / "README.md"
    ).read_text(encoding="utf-8")


def test_a_definition_over_several_lines_stays_in_its_table_row(tmp_path: Path) -> None:
    """A label definition written as a YAML ``|`` block: its line breaks ended the Labels table row of the model
    and dataset cards mid-definition, and a '|' in it opened a fourth column."""
    from sxhub.publish import publish_dataset, publish_model

    definition = "Good news for the company.\nAlso an upbeat | optimistic tone.\n"
    spec = TaskSpec.from_dict(
        {**_spec().to_dict(), "labels": [{"name": "positive", "description": definition}, "neutral", "negative"]}
    )
    frame = pd.DataFrame(
        {"text": [f"news {i}" for i in range(30)], "label": [spec.label_names[i % 3] for i in range(30)]}
    )
    cards = [
        Path(publish_model(make_student(tmp_path / "student", spec), to=tmp_path / "m", repo_id="me/m")) / "README.md",
        Path(publish_dataset(frame, spec=spec, to=tmp_path / "d", repo_id="me/d")) / "README.md",
    ]
    for card in cards:
        table = card.read_text(encoding="utf-8").split("| id | label | definition |")[1].split("\n\n")[0]
        rows = table.strip().splitlines()[1:]  # after the alignment row
        assert [r.split(" | ")[1] for r in rows] == ["`positive`", "`neutral`", "`negative`"], table
        assert rows[0] == "| 0 | `positive` | Good news for the company. Also an upbeat \\| optimistic tone. |"


def _unanimous(teacher: str, labels: list[str] | None, n: int = 3, **extra: Any) -> list[dict]:
    return [
        {
            "teacher": teacher,
            "sample": s,
            "labels": labels,
            "reason": "",
            "error": "" if labels else "timeout",
            "raw": "",
            **extra,
        }
        for s in range(n)
    ]


def test_dataset_card_figures_leave_out_what_has_no_value(tmp_path: Path) -> None:
    """Multi-label texts the experts did not label (an empty cell) are left out of the teachers' reliability as
    they are of "Agreement with experts" (they were scored as "no labels": accuracy 0.75 beside 1.000); a text
    whose votes all failed and that a person labelled has no vote share (it entered the mean as 0)."""
    from sxhub.publish import publish_dataset
    from sxhub.vote import decide

    names = ["Product", "Place", "Price", "Promotion"]
    spec = TaskSpec(name="4p", labels=names, multi_label=True, teachers=["t1"], samples=3)
    rows = []
    for i in range(40):
        labels = [names[i % 4]]
        votes = _unanimous("t1", None if i == 7 else labels)
        decision = decide(votes, names, True)
        rows.append(
            {
                "text": f"tweet {i}",
                "labels": labels if i == 7 else decision.labels,  # row 7: failed, then labelled by a reviewer
                "votes": votes,
                "agreement": decision.agreement,
                "expert": "" if i % 4 == 0 else json.dumps(labels),
                **({"label_source": "human" if i == 7 else "teacher"}),
            }
        )
    card = Path(publish_dataset(pd.DataFrame(rows), spec=spec, to=tmp_path / "ds", gold="expert")) / "README.md"
    text = card.read_text(encoding="utf-8")
    assert "The column `expert` holds expert labels for 30 texts" in text
    assert "| `t1` | all | 117/120 | 1.000 | 1.000 | 1.000 | 1.000 |" in text  # row 7's 3 failed votes: not valid
    assert "| mean agreement | 1.000 |" in text and "| unanimous texts (agreement = 1) | 39 |" in text
    # a label a reviewer set (apply-review's label_source human): the metadata said machine-generated alone
    from huggingface_hub import DatasetCard

    assert DatasetCard.load(card).data.annotations_creators == ["machine-generated", "expert-generated"]


def test_scored_votes_are_published_with_their_scores(tmp_path: Path) -> None:
    """``vote: scores`` decides on each vote's label scores; publishing dropped them, so the card re-decided the
    votes by counting labels (30 "ties" where the scores broke none) and the dataset lost what decided its labels."""
    from sxhub.publish import publish_dataset
    from sxhub.vote import decide_by_scores, vote_scores

    names = ["positive", "neutral", "negative"]
    spec = TaskSpec(name="sc", labels=names, teachers=["t1", "t2"], samples=1, vote="scores")
    rows = []
    for i in range(30):
        a, b, c = names[i % 3], names[(i + 1) % 3], names[(i + 2) % 3]
        votes = [
            {**_unanimous("t1", [a], 1)[0], "scores": vote_scores({a: 0.9, b: 0.05, c: 0.05}, names)},
            {**_unanimous("t2", [b], 1)[0], "scores": vote_scores({b: 0.6, a: 0.35, c: 0.05}, names)},
        ]
        decision = decide_by_scores(votes, names, False)
        rows.append({"text": f"t {i}", "label": decision.label, "votes": votes, "agreement": decision.agreement})
    folder = Path(publish_dataset(pd.DataFrame(rows), spec=spec, to=tmp_path / "ds"))
    assert "| decisions that needed the tie rule | 0 |" in (folder / "README.md").read_text(encoding="utf-8")
    published = pd.concat(pd.read_parquet(p) for p in (folder / "data").iterdir())
    first = published["votes"].iloc[0][0]
    assert {c["label"] for c in first["scores"]} == set(names)


def test_a_dawid_skene_card_counts_the_ties_of_dawid_skene(tmp_path: Path) -> None:
    """``vote: dawid-skene`` weighs each teacher by its reliability; the card re-decided the votes by counting labels,
    so a text where a reliable teacher and an unreliable one split (the third failed) was a "decision that needed
    the tie rule" though Dawid-Skene decided it without one."""
    from sxhub.publish import publish_dataset
    from sxhub.reliability import decide_all
    from sxhub.vote import decide

    names = ["positive", "neutral", "negative"]
    spec = TaskSpec(name="ds", labels=names, teachers=["t1", "t2", "t3"], samples=1, vote="dawid-skene")
    rows, cells = [], []
    for i in range(30):
        truth, other = names[i % 3], names[(i + 1) % 3]
        split = i % 5 == 0  # t1 right, t2 wrong, t3 failed: a tie for the majority rule
        votes = [
            *_unanimous("t1", [truth], 1),
            *_unanimous("t2", [other if split or i % 4 == 0 else truth], 1),
            *_unanimous("t3", None if split else [truth], 1),
        ]
        cells.append(votes)
    decisions = decide_all(cells, names, False, method="dawid-skene")
    for i, (votes, decision) in enumerate(zip(cells, decisions, strict=True)):
        rows.append({"text": f"t {i}", "label": decision.label, "votes": votes, "agreement": decision.agreement})
    ties = sum(d.tie for d in decisions)
    assert ties < sum(decide(v, names, False).tie for v in cells) == 6  # the rules differ on these votes
    folder = Path(publish_dataset(pd.DataFrame(rows), spec=spec, to=tmp_path / "ds"))
    assert f"| decisions that needed the tie rule | {ties} |" in (folder / "README.md").read_text(encoding="utf-8")


def test_a_given_benchmark_is_not_credited_to_sxhubs_own_measurement(tmp_path: Path) -> None:
    """``publish model --data D --benchmark B``: B's speed was shown beside the source line of sxhub's own timing
    ("measured by sxhub: 512 texts, torch, ...")."""
    from sxhub.publish import publish_model

    spec = _spec()
    student = make_student(tmp_path / "student", spec)
    data = pd.DataFrame(_rows(spec))
    folder = Path(
        publish_model(student, to=tmp_path / "m", repo_id="me/m", data=data, benchmark={"texts_per_s": 5000.0})
    )
    card = (folder / "README.md").read_text(encoding="utf-8")
    row = next(line for line in card.splitlines() if line.startswith("| student (this model)"))
    assert "5,000.0" in row and "given with --benchmark" in row and "measured by sxhub" not in row


def test_the_students_speed_says_where_it_was_measured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Predictor runs torch on the GPU when there is one, and the card's speed row said "measured by sxhub: 512
    texts, torch, 16 CPU thread(s)" of it; it names the GPU there, the CPU threads elsewhere."""
    import torch

    from sxhub.predict import Predictor
    from sxhub.publish import publish_model

    spec = _spec()
    student = make_student(tmp_path / "student", spec)

    def speed_row(to: str) -> str:
        folder = Path(publish_model(student, to=tmp_path / to, repo_id="me/m", data=pd.DataFrame(_rows(spec))))
        card = (folder / "README.md").read_text(encoding="utf-8")
        return next(line for line in card.splitlines() if line.startswith("| student (this model)"))

    assert Predictor(student).device == "cpu"  # no GPU here
    assert f"torch, {torch.get_num_threads()} CPU thread(s), batch 32" in speed_row("cpu")
    monkeypatch.setattr(Predictor, "device", property(lambda self: "cuda"))  # as torch_device() picks on a GPU
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H100 80GB HBM3")
    row = speed_row("gpu")
    assert "measured by sxhub: 512 texts, torch, a GPU (NVIDIA H100 80GB HBM3), batch 32" in row
    assert "CPU thread" not in row


def test_the_model_card_scores_the_test_split_the_dataset_was_published_with(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--test-size`` on both (``sxhub run`` publishes with 0.2): re-publishing a run's model from its labelled
    file scored the default 10% split while calling it the dataset's test split (4 of 7 rows on the demo)."""
    spec = _spec()
    task = tmp_path / "task.yaml"
    task.write_text(__import__("yaml").safe_dump(spec.to_dict()), encoding="utf-8")
    data = tmp_path / "labelled.parquet"
    pd.DataFrame(_rows(spec, 60)).to_parquet(data)
    student = make_student(tmp_path / "student", spec)
    dataset = tmp_path / "ds"
    args = ["publish", "dataset", str(data), "--task", str(task), "--to", str(dataset), "--test-size", "0.2"]
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    test_rows = len(pd.read_parquet(next((dataset / "data").glob("test-*.parquet"))))
    model = tmp_path / "m"
    args = ["publish", "model", str(student), "--to", str(model), "--data", str(data), "--test-size", "0.2"]
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    about = json.loads((model / "sxhub.json").read_text())["about"]
    assert about["scores"]["student vs teacher labels"]["n"] == test_rows > 6


def test_an_expert_column_with_a_missing_cell_publishes(tmp_path: Path) -> None:
    """Experts who labelled some texts only: the column's None became NaN in a pandas 3 string column, and Arrow
    stopped publish dataset with "Expected bytes, got a 'float' object"."""
    from sxhub.publish import publish_dataset

    spec = _spec()
    names = spec.label_names
    rows = [{"text": f"t{i}", "label": names[i % 3], "gold": None if i == 3 else names[i % 3]} for i in range(30)]
    source = tmp_path / "labelled.parquet"
    pd.DataFrame(rows).to_parquet(source)
    folder = Path(publish_dataset(source, spec=spec, to=tmp_path / "ds", gold="gold"))
    assert "The column `gold` holds expert labels for 29 texts" in (folder / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("multi_label", [False, True])
def test_the_gold_column_is_published_typed_as_the_labels_whatever_the_file(
    tmp_path: Path, multi_label: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    """`annotate --keep-column gold` to a CSV writes a multi-label expert cell as JSON text, and `publish dataset
    --gold gold` published it as that string ('["negative", "positive"]', a `Value('string')` feature), while the same
    file as JSONL or Parquet gave a list of strings, and a single-label one a plain string. The experts' column is
    now typed as the labels are (`ClassLabel`, or a list of them) from any file, a cell the experts left empty is
    null and `[]` no label, and the card's figures are the same; a name the task lacks is refused in one line."""
    from datasets import load_dataset

    from sxhub.tables import write_table

    spec = _spec(multi_label)
    names, col = spec.label_names, spec.label_column
    rows = _rows(spec)
    expected: dict[str, Any] = {}
    for i, row in enumerate(rows):
        if multi_label:
            row["gold"] = [] if i == 6 else [names[i % 3], names[(i + i // 3) % 3]][: 1 + i % 2]
        row["gold"] = None if i == 5 else row["gold"]
        expected[row["text"]] = row["gold"]
    task = tmp_path / "task.yaml"
    task.write_text(spec.to_yaml(), encoding="utf-8")
    agreement = {}
    for fmt in ("csv", "jsonl", "parquet"):
        data = write_table(rows, tmp_path / f"labelled.{fmt}")
        folder = tmp_path / f"ds-{fmt}"
        argv = ["publish", "dataset", str(data), "--task", str(task), "--gold", "gold", "--to", str(folder)]
        code, _, err = run_cli([*argv, "--repo-id", "me/x"], capsys)
        assert code == 0, err
        files = {s: str(folder / "data" / f"{s}-00000-of-00001.parquet") for s in ("train", "validation", "test")}
        dd = load_dataset("parquet", data_files=files)
        for split in dd.values():
            assert split.features["gold"] == split.features[col], fmt
            label = split.features["gold"].feature if multi_label else split.features["gold"]
            for text, gold in zip(split["text"], split["gold"], strict=True):
                read = (
                    None if gold is None else [label.int2str(g) for g in gold] if multi_label else label.int2str(gold)
                )
                assert read == expected[text], (fmt, text)
        card = (folder / "README.md").read_text(encoding="utf-8")
        agreement[fmt] = card[card.index("## Agreement with experts") : card.index("## Cost")]
    assert "holds expert labels for 38 texts" in agreement["csv"]  # 40, less the failed text and the empty cell
    assert agreement["csv"] == agreement["jsonl"] == agreement["parquet"]

    rows[2]["gold"] = ["bogus"] if multi_label else "bogus"
    data = write_table(rows, tmp_path / "bogus.csv")
    argv = ["publish", "dataset", str(data), "--task", str(task), "--gold", "gold", "--to", str(tmp_path / "bogus")]
    code, _, err = run_cli([*argv, "--repo-id", "me/x"], capsys)
    assert code == 2 and not (tmp_path / "bogus").exists()
    assert err.strip().splitlines()[-1] == (
        "Error: the --gold column 'gold' holds label(s) ['bogus'] that are not among the task's labels "
        "['positive', 'neutral', 'negative']; fix the data or the task's labels."
    )


def test_list_columns_annotate_wrote_to_a_csv_are_published_as_the_same_lists_as_from_parquet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A JSONL input's column of lists kept with `annotate --keep-column` is a list column of OUT.parquet but JSON
    text in OUT.csv, and `publish dataset` published it as a list from the one and as the string '["a", "b"]' from
    the other (`Value('string')`): a `load_dataset` user had to json.loads it. annotate's ledger now names the CSV's
    JSON columns, and publish reads them back: both files give the same features and the same data files. A kept
    column of the user's own text stays text, even where it looks like JSON, and so does every kept column of a CSV
    whose ledger is not beside it (nothing says it was a list)."""
    from datasets import List, Value, load_dataset
    from fake_openai_server import FakeOpenAIServer

    texts = tmp_path / "texts.jsonl"
    rows = [
        {
            "text": f"Company {i} reported its results for quarter {i % 4}.",
            "tags": [] if i == 3 else ["q", f"t{i % 3}"],  # the user's own lists
            "expert": ["positive", "negative"][: 1 + i % 2],
            "note": '["looks", "like JSON"]' if i % 2 else "plain",  # the user's text
        }
        for i in range(24)
    ]
    pd.DataFrame(rows).to_json(texts, orient="records", lines=True)
    features = {}
    with FakeOpenAIServer() as server:
        two = [{"base_url": server.url, "model": "one"}, {"base_url": server.url, "model": "other"}]
        spec = _spec(multi_label=True, teachers=two)  # two teachers' votes
        task = tmp_path / "task.yaml"
        task.write_text(spec.to_yaml(), encoding="utf-8")
        for fmt in ("csv", "parquet"):
            out = tmp_path / f"labelled-{fmt}.{fmt}"
            keep = [a for c in ("tags", "expert", "note") for a in ("--keep-column", c)]
            argv = ["annotate", str(task), str(texts), "-o", str(out), *keep, "--cache-dir", str(tmp_path / "c")]
            code, _, err = run_cli(argv, capsys)
            assert code == 0, err
            folder = tmp_path / f"ds-{fmt}"
            argv = ["publish", "dataset", str(out), "--task", str(task), "--to", str(folder), "--repo-id", "me/x"]
            code, _, err = run_cli(argv, capsys)
            assert code == 0, err
            dd = load_dataset(str(folder))
            features[fmt] = dd["train"].features
            assert dd["train"].features["tags"] == List(Value("string")), fmt
            assert dd["train"].features["note"] == Value("string"), fmt
            by_text = {r["text"]: r for r in rows}
            for split in dd.values():
                for row in split:
                    assert row["tags"] == by_text[row["text"]]["tags"], fmt
                    assert row["note"] == by_text[row["text"]]["note"], fmt
    assert json.loads((tmp_path / "labelled-csv.ledger.json").read_text(encoding="utf-8"))["json_columns"] == [
        "labels",
        "votes",
        "agreement",
        "tags",
        "expert",
    ]
    assert "json_columns" not in json.loads((tmp_path / "labelled-parquet.ledger.json").read_text(encoding="utf-8"))
    assert features["csv"] == features["parquet"]
    assert features["csv"]["expert"] == List(Value("string"))
    for name in ("train", "validation", "test"):
        part = f"data/{name}-00000-of-00001.parquet"
        assert (tmp_path / "ds-csv" / part).read_bytes() == (tmp_path / "ds-parquet" / part).read_bytes()

    # the CSV without its ledger: its kept columns are the user's text, as the file holds them
    (tmp_path / "alone").mkdir()
    alone = tmp_path / "alone" / "labelled-csv.csv"
    alone.write_bytes((tmp_path / "labelled-csv.csv").read_bytes())
    argv = ["publish", "dataset", str(alone), "--task", str(task), "--to", str(tmp_path / "ds-alone")]
    code, _, err = run_cli([*argv, "--repo-id", "me/x"], capsys)
    assert code == 0, err
    plain = load_dataset(str(tmp_path / "ds-alone"))["train"]
    assert plain.features["tags"] == Value("string") and plain.features["labels"] == features["csv"]["labels"]


def test_apply_review_carries_the_ledger_so_a_reviewed_csv_publishes_its_kept_lists_as_lists(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """apply-review wrote the reviewed CSV and no ledger beside it, so publish dataset read a column of lists kept
    with annotate --keep-column back as JSON text (`Value('string')`), where the same review written as Parquet
    published a list; and from the annotate CSV, `-o reviewed.parquet` held that column as text. apply-review now
    reads the column as a list and writes the reviewed CSV's own ledger (annotate's, carried, naming its
    json_columns): every way publishes the same features and rows. It never writes over the ledger of another output
    of the same stem: that is one line, before anything is written."""
    from datasets import List, Value, load_dataset
    from fake_openai_server import FakeOpenAIServer

    from sxhub.data import read_table
    from sxhub.review_log import text_hash

    texts = tmp_path / "texts.jsonl"
    rows = [
        {"text": f"Company {i} reported its results for quarter {i % 4}.", "tags": ["q", f"t{i % 3}"]}
        for i in range(24)
    ]
    pd.DataFrame(rows).to_json(texts, orient="records", lines=True)
    with FakeOpenAIServer() as server:
        task = tmp_path / "task.yaml"
        task.write_text(_spec(teachers=[{"base_url": server.url, "model": "one"}]).to_yaml(), encoding="utf-8")
        for fmt in ("csv", "parquet"):
            argv = ["annotate", str(task), str(texts), "-o", str(tmp_path / f"labelled-{fmt}.{fmt}")]
            code, _, err = run_cli([*argv, "--keep-column", "tags", "--cache-dir", str(tmp_path / "c")], capsys)
            assert code == 0, err
    first = read_table(tmp_path / "labelled-csv.csv")["text"][0]
    decision = {"id": "zed-0", "time": "2026-12-05T06:00:00.000000+00:00", "reviewer": "zed", "action": "label",
                "row": 0, "text_hash": text_hash(first), "labels": ["negative"]}  # fmt: skip
    decisions = tmp_path / "labelled.decisions.jsonl"
    decisions.write_text(json.dumps(decision) + "\n", encoding="utf-8")
    features, data = {}, {}
    for src, out in [("csv", "reviewed.csv"), ("csv", "reviewed-c.parquet"), ("parquet", "reviewed-p.csv")]:
        argv = ["apply-review", str(tmp_path / f"labelled-{src}.{src}"), str(decisions), "-o", str(tmp_path / out)]
        code, _, err = run_cli([*argv, "--task", str(task)], capsys)
        assert code == 0, err
        folder = tmp_path / f"ds-{out}"
        argv = ["publish", "dataset", str(tmp_path / out), "--task", str(task), "--to", str(folder)]
        code, _, err = run_cli([*argv, "--repo-id", "me/x"], capsys)
        assert code == 0, err
        dd = load_dataset(str(folder))
        features[out] = dd["train"].features
        assert features[out]["tags"] == List(Value("string")), out
        by_text = {r["text"]: r["tags"] for r in rows}
        assert all(row["tags"] == by_text[row["text"]] for split in dd.values() for row in split), out
        assert [r["label_source"] for split in dd.values() for r in split].count("human") == 1, out
        data[out] = {p.name: p.read_bytes() for p in sorted((folder / "data").glob("*.parquet"))}
    assert features["reviewed.csv"] == features["reviewed-c.parquet"] == features["reviewed-p.csv"]
    assert data["reviewed.csv"] == data["reviewed-c.parquet"] == data["reviewed-p.csv"]
    ledger = json.loads((tmp_path / "reviewed.ledger.json").read_text(encoding="utf-8"))
    assert ledger["output"] == str(tmp_path / "reviewed.csv") and "tags" in ledger["json_columns"]
    assert ledger["n_texts"] == 24  # annotate's figures, carried: the run that labelled these rows
    # a Parquet output holds its lists as lists: its ledger carries the cost (the card's table), no json_columns
    parquet_ledger = json.loads((tmp_path / "reviewed-c.ledger.json").read_text(encoding="utf-8"))
    assert parquet_ledger["n_texts"] == 24 and "json_columns" not in parquet_ledger

    # -o x.csv beside x.parquet, whose ledger x.ledger.json is: refused, nothing written, that ledger kept
    (tmp_path / "x.parquet").write_bytes((tmp_path / "labelled-parquet.parquet").read_bytes())
    kept = (tmp_path / "labelled-parquet.ledger.json").read_text(encoding="utf-8").replace("labelled-parquet", "x")
    (tmp_path / "x.ledger.json").write_text(kept, encoding="utf-8")
    argv = ["apply-review", str(tmp_path / "labelled-csv.csv"), str(decisions), "-o", str(tmp_path / "x.csv")]
    capsys.readouterr()
    code, _, err = run_cli(argv, capsys)
    assert code == 2 and "x.ledger.json is the ledger of x.parquet" in err and "-o with another name" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.csv").exists() and (tmp_path / "x.ledger.json").read_text(encoding="utf-8") == kept

    # from Python: apply_review(...).write(OUT) writes what the CLI does (write_table(result.frame, OUT) wrote no
    # ledger, and publish read the column back as JSON text), and refuses another output's ledger alike
    from sxhub.errors import InputError
    from sxhub.publish import publish_dataset
    from sxhub.review_apply import apply_review

    result = apply_review(tmp_path / "labelled-csv.csv", decisions, spec=task)
    assert result.write(tmp_path / "py.csv") == tmp_path / "py.csv"
    assert json.loads((tmp_path / "py.ledger.json").read_text(encoding="utf-8")) == {
        **ledger,
        "output": str(tmp_path / "py.csv"),
    }
    folder = publish_dataset(tmp_path / "py.csv", spec=task, to=tmp_path / "ds-py")
    assert {p.name: p.read_bytes() for p in sorted(Path(folder, "data").glob("*.parquet"))} == data["reviewed.csv"]
    with pytest.raises(InputError, match=r"x\.ledger\.json is the ledger of x\.parquet.*x-reviewed\.csv"):
        result.write(tmp_path / "x.csv")
    assert not (tmp_path / "x.csv").exists() and (tmp_path / "x.ledger.json").read_text(encoding="utf-8") == kept


def test_a_twins_csv_publishes_the_features_and_rows_a_twins_parquet_does(tmp_path: Path) -> None:
    """sxhub twins writes numbers and booleans beside each twin (`similarity`, `shared_ngrams`, `label_kept`, `ok`)
    and the failed checks as a list (`flags`): from a twins CSV publish dataset published them all as strings
    (`Value('string')`, the text '0.91', 'True', '[]'), from Parquet as float64, int64, bool and a list. The numbers
    are now read back by name from a CSV, so both files give the same features and the same data files; `ok`,
    `flags` and `label_kept` are left out as `original` and `leaked` are: a published twin passed every check, so
    they were true, [] and true on every row. A column of the input named alike is kept as the input has it."""
    from datasets import Value, load_dataset

    from sxhub.publish import publish_dataset
    from sxhub.tables import write_table
    from sxhub.twins import twin_columns

    spec = _spec()
    rows = []
    for i, row in enumerate(_rows(spec, 30)):
        twin = {c: None for c in twin_columns(spec)}
        ok = i % 5 != 0
        flags = [] if ok else ["wording copied (3 shared 5-grams)"]
        twin.update(row, original=f"original {i}", original_label=row["label"], leaked=[], flags=flags, ok=ok)
        twin.update(similarity=0.5 + i / 97, shared_ngrams=i % 4, label_kept=ok, teacher="local", id=f"{i:03d}")
        rows.append(twin)
    features, data = {}, {}
    for fmt in ("csv", "parquet"):
        folder = publish_dataset(write_table(rows, tmp_path / f"twins.{fmt}"), spec=spec, to=tmp_path / f"ds-{fmt}")
        train = load_dataset(str(folder))["train"]
        features[fmt] = train.features
        assert train.features["similarity"] == Value("float64"), fmt
        assert train.features["shared_ngrams"] == Value("int64"), fmt
        assert train.features["id"] == Value("string"), fmt  # the input's own, numbers or not
        assert not {"original", "original_label", "leaked", "ok", "flags", "label_kept"} & set(train.features), fmt
        by_id = {r["id"]: r for r in rows}
        for got in train:
            assert got["similarity"] == by_id[got["id"]]["similarity"], fmt
            assert got["shared_ngrams"] == by_id[got["id"]]["shared_ngrams"], fmt
        data[fmt] = {p.name: p.read_bytes() for p in sorted(Path(folder, "data").glob("*.parquet"))}
    assert features["csv"] == features["parquet"]
    assert data["csv"] == data["parquet"] and data["csv"]


def test_a_twins_csv_keeps_an_input_column_of_lists_as_the_list_a_twins_parquet_publishes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """sxhub twins keeps the input's other columns beside each twin, but wrote no ledger: from a JSONL input's
    column of lists, `twins -o twins.parquet` published a list (`List(Value('string'))`) and `twins -o twins.csv`
    the JSON text the CSV holds (`Value('string')`). A twins CSV now has its own ledger (the run's requests, tokens
    and cost, and json_columns), so both give the same features and data files; an -o whose <stem>.ledger.json is
    another output's is one line, before any teacher is asked."""
    from datasets import List, Value, load_dataset
    from fake_openai_server import Answer, FakeOpenAIServer, default_answer, schema_of, user_text

    def responder(body: dict[str, Any], n: int) -> Answer:
        if "twin" in schema_of(body).get("properties", {}):  # the twin: the text, its company renamed
            text = user_text(body).splitlines()[0].removeprefix("Text: ")
            return Answer(json.dumps({"twin": text.replace("Acme", "A firm")}))
        return Answer(default_answer(body))

    texts = tmp_path / "texts.jsonl"
    words = ["profit rose", "loss widened", "sales were flat"]
    rows = [{"text": f"Acme {words[i % 3]} in quarter {i}.", "tags": ["q", f"t{i % 3}"]} for i in range(12)]
    pd.DataFrame(rows).to_json(texts, orient="records", lines=True)
    features, data = {}, {}
    with FakeOpenAIServer(responder) as server:
        task = tmp_path / "task.yaml"
        task.write_text(_spec(teachers=[{"base_url": server.url, "model": "one"}]).to_yaml(), encoding="utf-8")
        for fmt in ("csv", "parquet"):
            argv = ["twins", str(task), str(texts), "-o", str(tmp_path / f"twins.{fmt}"), "--min-similarity", "-1"]
            argv += ["--max-shared-ngrams", "99", "--cache-dir", str(tmp_path / "c")]  # checks passed, as copied
            code, _, err = run_cli(argv, capsys)
            assert code == 0, err
            folder = tmp_path / f"ds-{fmt}"
            argv = ["publish", "dataset", str(tmp_path / f"twins.{fmt}"), "--task", str(task), "--to", str(folder)]
            code, _, err = run_cli([*argv, "--repo-id", "me/x"], capsys)
            assert code == 0, err
            dd = load_dataset(str(folder))
            features[fmt] = dd["train"].features
            assert features[fmt]["tags"] == List(Value("string")), fmt
            tags = {f"quarter {i}.": r["tags"] for i, r in enumerate(rows)}
            published = [row for split in dd.values() for row in split]
            assert published and all(r["tags"] == tags[r["text"].split(" in ")[-1]] for r in published), fmt
            data[fmt] = {p.name: p.read_bytes() for p in sorted((folder / "data").glob("*.parquet"))}
        assert features["csv"] == features["parquet"]
        assert data["csv"] == data["parquet"]
        ledger = json.loads((tmp_path / "twins.ledger.json").read_text(encoding="utf-8"))
        assert ledger["output"] == str(tmp_path / "twins.csv") and "tags" in ledger["json_columns"]
        assert ledger["requests"] > 0 and "cost_usd" in ledger  # this run's figures

        # -o x.csv beside x.parquet, whose ledger x.ledger.json is: refused before any request, that ledger kept
        (tmp_path / "x.parquet").write_bytes((tmp_path / "twins.parquet").read_bytes())
        kept = json.dumps({"output": str(tmp_path / "x.parquet"), "requests": 7})
        (tmp_path / "x.ledger.json").write_text(kept, encoding="utf-8")
        before = len(server.requests)
        argv = ["twins", str(task), str(texts), "-o", str(tmp_path / "x.csv"), "--cache-dir", str(tmp_path / "c2")]
        capsys.readouterr()
        code, _, err = run_cli(argv, capsys)
        assert code == 2 and "x.ledger.json is the ledger of x.parquet" in err and "x-twins.csv" in err
        assert len(err.strip().splitlines()) == 1 and len(server.requests) == before
        assert not (tmp_path / "x.csv").exists() and (tmp_path / "x.ledger.json").read_text(encoding="utf-8") == kept


def _word_embed(texts: Any) -> Any:
    """A stand-in for MiniLM: a hashed bag of words, unit length (the twins' and generate's checks run on it)."""
    import hashlib

    import numpy as np

    out = np.zeros((len(texts), 64), dtype=np.float32)
    for i, text in enumerate(texts):
        for word in str(text).lower().split():
            out[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % 64] += 1.0
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def test_make_twins_from_python_writes_the_ledger_the_cli_does(tmp_path: Path) -> None:
    """From Python, make_twins(...) gave a result whose frame a notebook wrote with write_table(result.frame,
    "twins.csv"): no ledger beside it, so publish dataset read the input's column of lists kept beside each twin
    back as JSON text (Value('string')) where the same twins in Parquet published List(Value('string')), and the
    card had no cost table. TwinsResult.write(OUT) writes what `sxhub twins -o OUT` writes (the CLI calls it): the
    run's ledger naming json_columns, so CSV and Parquet publish the same; another output's ledger is refused."""
    from datasets import List, Value, load_dataset

    from sxhub.errors import InputError
    from sxhub.teachers import FakeTeacher
    from sxhub.twins import TwinOptions, make_twins

    def responder(messages: list[dict[str, str]]) -> Any:
        text = messages[-1]["content"].splitlines()[0].removeprefix("Text: ")
        if "Synthetic Twin" in messages[0]["content"]:
            return {"twin": text.replace("Acme", "A firm")}
        return {"label": "negative" if "loss" in text else "positive"}

    spec = TaskSpec(name="fin-sent", labels=["positive", "neutral", "negative"], samples=1)
    words = ["profit rose", "loss widened", "sales were flat"]
    frame = pd.DataFrame(
        [{"text": f"Acme {words[i % 3]} in quarter {i}.", "tags": ["q", f"t{i % 3}"]} for i in range(12)]
    )
    options = TwinOptions(min_similarity=-1, max_shared_ngrams=99)  # every twin passes, copied as it is
    result = make_twins(spec, frame, teachers=[FakeTeacher(responder=responder)], options=options, embed=_word_embed,
                        progress=False, cache=False)  # fmt: skip
    assert result.frame["ok"].all()
    features, data = {}, {}
    for fmt in ("csv", "parquet"):
        assert result.write(tmp_path / f"twins.{fmt}") == tmp_path / f"twins.{fmt}"
        folder = _publish_to(tmp_path / f"twins.{fmt}", spec, tmp_path / f"ds-{fmt}")
        train = load_dataset(str(folder))["train"]
        features[fmt] = train.features
        assert train.features["tags"] == List(Value("string")), fmt
        data[fmt] = {p.name: p.read_bytes() for p in sorted((folder / "data").glob("*.parquet"))}
        card = (folder / "README.md").read_text(encoding="utf-8")
        if fmt == "csv":  # the run's requests, from its own ledger
            assert f"| requests | {result.ledger['requests']} |" in card, card
    assert features["csv"] == features["parquet"] and data["csv"] == data["parquet"] and data["csv"]
    ledger = json.loads((tmp_path / "twins.ledger.json").read_text(encoding="utf-8"))
    assert ledger == json.loads(
        json.dumps({**result.ledger, "output": str(tmp_path / "twins.csv"), "json_columns": ledger["json_columns"]})
    )
    assert {"tags", "flags", "leaked"} <= set(ledger["json_columns"])

    # x.csv beside x.parquet, whose ledger x.ledger.json is: one line naming another name, nothing written
    (tmp_path / "x.parquet").write_bytes((tmp_path / "twins.parquet").read_bytes())
    kept = json.dumps({"output": str(tmp_path / "x.parquet"), "requests": 7})
    (tmp_path / "x.ledger.json").write_text(kept, encoding="utf-8")
    with pytest.raises(InputError, match=r"x\.ledger\.json is the ledger of x\.parquet.*x-twins\.csv"):
        result.write(tmp_path / "x.csv")
    assert not (tmp_path / "x.csv").exists() and (tmp_path / "x.ledger.json").read_text(encoding="utf-8") == kept


def test_generate_writes_a_ledger_from_python_and_the_cli_and_an_empty_topic_publishes_alike(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """generate(...) gave a result whose frame a notebook wrote with write_table, and `sxhub generate -o gen.csv`
    wrote the same: no ledger, so the published card said "No cost ledger was given" for a run whose requests and
    cost sxhub had counted (a twins or annotate file's card reads its own ledger). GenerateResult.write(OUT) writes
    OUT as the CLI does (which now calls it): a CSV gets the run's ledger (json_columns named), another output's
    <stem>.ledger.json is refused in one line before anything is written (the CLI's before any request). Without a
    topic, `topic` is "" on every row: CSV and Parquet publish it alike, Value('string'), and the same data files."""
    import itertools

    from datasets import Value, load_dataset
    from fake_openai_server import Answer, FakeOpenAIServer, default_answer, schema_of

    from sxhub.errors import InputError
    from sxhub.generate import GenerateOptions, generate
    from sxhub.teachers import FakeTeacher

    count = itertools.count()

    def responder(messages: list[dict[str, str]]) -> Any:
        if "Write one new text" in messages[-1]["content"]:
            k = next(count)
            return {"text": f"Note {k}: firm{k} reported item{k * 7} and unit{k * 13}."}
        return {"label": "negative" if "1" in messages[-1]["content"] else "positive"}

    spec = TaskSpec(name="fin-sent", labels=["positive", "neutral", "negative"], samples=1)
    result = generate(spec, GenerateOptions(n=30), teachers=[FakeTeacher(responder=responder)], embed=_word_embed,
                      progress=False, cache=False)  # fmt: skip
    assert len(result.frame) == 30 and set(result.frame["topic"]) == {""}
    features, data = {}, {}
    for fmt in ("csv", "parquet"):
        assert result.write(tmp_path / f"gen.{fmt}") == tmp_path / f"gen.{fmt}"
        folder = _publish_to(tmp_path / f"gen.{fmt}", spec, tmp_path / f"ds-{fmt}")
        dd = load_dataset(str(folder))
        features[fmt] = dd["train"].features
        assert features[fmt]["topic"] == Value("string"), fmt
        assert {row["topic"] for split in dd.values() for row in split} == {""}, fmt
        data[fmt] = {p.name: p.read_bytes() for p in sorted((folder / "data").glob("*.parquet"))}
        card = (folder / "README.md").read_text(encoding="utf-8")
        if fmt == "csv":  # the run's requests, from its own ledger
            assert f"| requests | {result.ledger['requests']} |" in card and "No cost ledger" not in card
    assert features["csv"] == features["parquet"] and data["csv"] == data["parquet"] and data["csv"]
    ledger = json.loads((tmp_path / "gen.ledger.json").read_text(encoding="utf-8"))
    assert ledger == json.loads(
        json.dumps({**result.ledger, "output": str(tmp_path / "gen.csv"), "json_columns": ["votes"]})
    )
    chat = result.write(tmp_path / "gen-chat.jsonl", fmt="chat")  # records, no ledger: not a table to publish
    assert (
        len(chat.read_text(encoding="utf-8").splitlines()) == 30 and not (tmp_path / "gen-chat.ledger.json").exists()
    )

    (tmp_path / "x.parquet").write_bytes((tmp_path / "gen.parquet").read_bytes())
    kept = json.dumps({"output": str(tmp_path / "x.parquet"), "requests": 7})
    (tmp_path / "x.ledger.json").write_text(kept, encoding="utf-8")
    with pytest.raises(InputError, match=r"x\.ledger\.json is the ledger of x\.parquet.*x-generated\.csv"):
        result.write(tmp_path / "x.csv")
    assert not (tmp_path / "x.csv").exists() and (tmp_path / "x.ledger.json").read_text(encoding="utf-8") == kept

    # the CLI writes the same way: its CSV's ledger, and the same refusal before any request
    def server_responder(body: dict[str, Any], n: int) -> Answer:
        if "text" in schema_of(body).get("properties", {}):
            return Answer(json.dumps({"text": f"Memo {n}: desk{n} booked lot{n * 7} and run{n * 13}."}))
        return Answer(default_answer(body))

    with FakeOpenAIServer(server_responder) as server:
        task = tmp_path / "task.yaml"
        task.write_text(spec.with_teachers([{"base_url": server.url, "model": "one"}]).to_yaml(), encoding="utf-8")
        argv = ["generate", str(task), "--n", "6", "--cache-dir", str(tmp_path / "c"), "--json"]
        code, out, err = run_cli([*argv, "-o", str(tmp_path / "cli.csv")], capsys)
        assert code == 0, err
        cli_ledger = json.loads((tmp_path / "cli.ledger.json").read_text(encoding="utf-8"))
        assert cli_ledger["output"] == str(tmp_path / "cli.csv") and cli_ledger["json_columns"] == ["votes"]
        assert cli_ledger["requests"] == json.loads(out)["ledger"]["requests"] > 0
        before = len(server.requests)
        code, _, err = run_cli([*argv, "-o", str(tmp_path / "x.csv")], capsys)
        assert code == 2 and "x.ledger.json is the ledger of x.parquet" in err and "x-generated.csv" in err
        assert len(err.strip().splitlines()) == 1 and len(server.requests) == before
        assert not (tmp_path / "x.csv").exists() and (tmp_path / "x.ledger.json").read_text(encoding="utf-8") == kept


def _publish_to(source: Path, spec: TaskSpec, to: Path) -> Path:
    from sxhub.publish import publish_dataset

    return Path(publish_dataset(source, spec=spec, to=to, repo_id="me/x"))


def test_the_card_of_generated_texts_says_they_were_written_and_by_whom(tmp_path: Path) -> None:
    """The card of a `sxhub generate` file read as that of real texts an LLM labelled: nothing said a model wrote
    them, `prompted_label`, `topic` and `teacher` were "kept from the input" (there was none), and the Cost table
    was "From the annotate run's ledger" for the generate run's, the writing in it. It says who wrote the texts, what
    those columns are, and whose ledger it shows; an annotated file's card is as before."""
    import itertools

    from sxhub.generate import GenerateOptions, generate
    from sxhub.teachers import FakeTeacher

    count = itertools.count()

    def responder(messages: list[dict[str, str]]) -> Any:
        if "Write one new text" in messages[-1]["content"]:
            k = next(count)
            return {"text": f"Note {k}: firm{k} reported item{k * 7} and unit{k * 13}."}
        return {"label": "negative" if "1" in messages[-1]["content"] else "positive"}

    spec = TaskSpec(name="fin-sent", labels=["positive", "negative"], samples=1)
    writer, voter = FakeTeacher(name="writer", responder=responder), FakeTeacher(name="voter", responder=responder)
    result = generate(spec, GenerateOptions(n=12, topics=["banks"]), teachers=[voter], writers=[writer],
                      embed=_word_embed, progress=False, cache=False)  # fmt: skip
    card = (_publish_to(result.write(tmp_path / "gen.parquet"), spec, tmp_path / "ds") / "README.md").read_text()
    assert "The texts were written by an LLM with `sxhub generate` (writer: `writer`), not collected" in card
    assert "| `prompted_label` | the label the text was written for (the vote, `label`, may differ) |" in card
    assert "| `topic` | the topic it was written about (empty: none given) |" in card
    assert "| `teacher` | the model that wrote it |" in card and "kept from the input" not in card
    assert "From the generate run's ledger (writing the texts and the vote):" in card
    annotated = result.frame.drop(columns=["prompted_label", "topic", "teacher"])
    annotated.to_parquet(tmp_path / "labelled.parquet")
    card = (_publish_to(tmp_path / "labelled.parquet", spec, tmp_path / "ds2") / "README.md").read_text()
    assert "sxhub generate" not in card and "written by" not in card


@pytest.mark.parametrize("multi_label", [False, True])
def test_a_doubts_queue_csv_publishes_the_numbers_a_queue_parquet_does(tmp_path: Path, multi_label: bool) -> None:
    """A queue of sxhub doubts holds its `row`, `doubt` and signal columns as numbers; from a CSV queue publish
    dataset published them as strings (`Value('string')`), from Parquet as int64 and float64. A CSV queue is now read
    as `sxhub review --queue` reads it, so both give the same features and data files. A multi-label queue's signals
    are one number per label (dicts) and its `suggested` a list: the same from either file, published and read back
    by review."""
    from datasets import Value, load_dataset

    from sxhub.doubts import QUEUE_COLUMNS, SIGNALS, read_queue, write_queue
    from sxhub.publish import publish_dataset

    spec = _spec(multi_label=multi_label)
    names = spec.label_names
    queue = pd.DataFrame(_rows(spec, 30)).drop(columns=["failed", "error", "gold"])
    queue = queue[~queue[spec.label_column].isna()].reset_index(drop=True)
    queue["row"] = range(len(queue))
    queue["doubt"] = [round(1 - i / 40, 6) for i in range(len(queue))]
    queue["suggested"] = [names[: i % 3] if multi_label else names[(i + 1) % 3] for i in range(len(queue))]
    for k, name in enumerate(SIGNALS):
        signal = [(i * (k + 3)) % 17 / 17 for i in range(len(queue))]
        queue[name] = [{n: v / (j + 1) for j, n in enumerate(names)} for v in signal] if multi_label else signal
    queue["oof_probs"] = [{n: 1 / 3 for n in names} for _ in range(len(queue))]
    assert set(QUEUE_COLUMNS) - {"label"} <= set(queue.columns)
    features, data, read = {}, {}, {}
    for fmt in ("csv", "parquet"):
        folder = publish_dataset(write_queue(queue, tmp_path / f"queue.{fmt}"), spec=spec, to=tmp_path / f"ds-{fmt}")
        features[fmt] = load_dataset(str(folder))["train"].features
        assert features[fmt]["row"] == Value("int64") and features[fmt]["doubt"] == Value("float64"), fmt
        per_label = {n: Value("float64") for n in names}
        assert all(features[fmt][name] == (per_label if multi_label else Value("float64")) for name in SIGNALS), fmt
        data[fmt] = {p.name: p.read_bytes() for p in sorted(Path(folder, "data").glob("*.parquet"))}
        read[fmt] = read_queue(tmp_path / f"queue.{fmt}")
    assert features["csv"] == features["parquet"]
    assert data["csv"] == data["parquet"] and data["csv"]
    for column in ("row", "doubt", "suggested", *SIGNALS, "oof_probs", spec.label_column):
        as_python = [v.tolist() if hasattr(v, "tolist") else v for v in read["parquet"][column]]
        assert read["csv"][column].tolist() == as_python == queue[column].tolist(), column


def _writer(files: dict[str, str]) -> Any:
    def write(folder: Path, repo_id: str) -> None:
        for name, text in files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text, encoding="utf-8")

    return write


def test_publishing_again_removes_what_the_last_publish_wrote_and_this_one_did_not(tmp_path: Path, hub) -> None:
    """``run --exist-ok`` over an earlier run: the int8 ONNX of the earlier weights stayed in the model folder and
    in the Hub repo beside the new weights. A folder keeps files a person added; a failed write leaves it as it
    was; the Hub repo becomes what was published, in one commit."""
    from sxhub.errors import PublishError
    from sxhub.hub import publish_folder

    first = {"model.safetensors": "v1", "onnx/model.onnx": "v1", "onnx/model_int8.onnx": "v1"}
    second = {"model.safetensors": "v2", "onnx/model.onnx": "v2"}
    folder = tmp_path / "model"
    common = {"repo_type": "model", "default_name": "m", "token": None, "private": None, "revision": None}
    publish_folder(_writer(first), repo_id=None, to=folder, exist_ok=False, **common)
    (folder / "NOTES.md").write_text("mine", encoding="utf-8")
    publish_folder(_writer(second), repo_id=None, to=folder, exist_ok=True, **common)
    files = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and ".cache" not in p.parts}
    assert files == {"model.safetensors", "onnx/model.onnx", "NOTES.md"}
    assert (folder / "model.safetensors").read_text() == "v2"

    def fails(staging: Path, repo_id: str) -> None:
        (staging / "model.safetensors").write_text("half", encoding="utf-8")
        raise PublishError("refused input")

    with pytest.raises(PublishError, match="refused input"):
        publish_folder(fails, repo_id=None, to=folder, exist_ok=True, **common)
    assert (folder / "model.safetensors").read_text() == "v2" and not list(tmp_path.glob(".model.sxhub-*"))

    repo = f"{hub.user}/m"
    publish_folder(_writer(first), repo_id=repo, to=None, exist_ok=False, **common)
    publish_folder(_writer(second), repo_id=repo, to=None, exist_ok=True, **common)
    assert set(hub.stub.list_files(repo)) - {".gitattributes"} == {"model.safetensors", "onnx/model.onnx"}


def test_publishing_again_keeps_the_files_a_person_or_the_review_space_added_to_the_repo(tmp_path: Path, hub) -> None:
    """A publish deleted every file of the repo it did not hold (``delete_patterns="*"``): a LICENSE added by hand,
    and in a dataset repo the review Space's decisions (committed by its CommitScheduler as "Scheduled Commit"), were
    gone after ``--exist-ok``. Only what an earlier sxhub publish wrote goes now: its stale int8 ONNX, and a file
    whose last commit is one of the older "Publish with sxhub VERSION" commits; a name that reads as a glob pattern
    deletes only itself."""
    from huggingface_hub import HfApi

    from sxhub.hub import publish_folder

    api = HfApi()
    repo = f"{hub.user}/m"
    common = {"repo_type": "model", "default_name": "m", "token": None, "private": None, "revision": None}
    first = {"model.safetensors": "v1", "onnx/model.onnx": "v1", "onnx/model_int8.onnx": "v1", "eval/[a].json": "1"}
    publish_folder(_writer(first), repo_id=repo, to=None, exist_ok=False, **common)
    api.upload_file(path_or_fileobj=b"MIT", path_in_repo="LICENSE", repo_id=repo)  # "Upload LICENSE with ..."
    api.upload_file(path_or_fileobj=b"{}", path_in_repo="eval/a.json", repo_id=repo, commit_message="my eval")
    api.upload_file(
        path_or_fileobj=b"{}\n",
        path_in_repo="review/decisions/d.jsonl",
        repo_id=repo,
        commit_message="Scheduled Commit",
    )
    api.upload_file(
        path_or_fileobj=b"old", path_in_repo="old.bin", repo_id=repo, commit_message="Publish with sxhub 0.1.0"
    )
    publish_folder(_writer({"model.safetensors": "v2"}), repo_id=repo, to=None, exist_ok=True, **common)
    kept = set(hub.stub.list_files(repo)) - {".gitattributes"}
    assert kept == {"model.safetensors", "LICENSE", "eval/a.json", "review/decisions/d.jsonl"}
    assert hub.stub.read_file(repo, "model.safetensors") == b"v2"


def test_publishing_again_over_a_repo_listed_in_several_pages_deletes_the_stale_files_of_every_page(
    tmp_path: Path, hub: HubFixture
) -> None:
    """The Hub lists a repo's tree in pages (50 entries with the last commits ``--exist-ok`` reads), and the stand-in
    served one page, so a repo of more files than a page was untested: a stale file on a later page might be kept, or
    read without its last commit. Pages of two entries here: the stale sxhub files and a person's files lie on pages
    up to the last, and the publish follows every page and deletes exactly the stale ones."""
    import httpx
    from huggingface_hub import HfApi

    from sxhub.hub import publish_folder

    api = HfApi()
    repo = f"{hub.user}/m"
    common = {"repo_type": "model", "default_name": "m", "token": None, "private": None, "revision": None}
    kept_ours = {"config.json": "v2", "model.safetensors": "v2", "onnx/model.onnx": "v2"}
    stale = {"a_stale.txt", "eval/s1.json", "eval/s2.json", "onnx/model_int8.onnx", "z_stale.txt"}
    first = _writer({**dict.fromkeys(kept_ours, "v1"), **dict.fromkeys(stale, "v1")})
    publish_folder(first, repo_id=repo, to=None, exist_ok=False, **common)
    theirs = {"LICENSE": None, "eval/mine.json": "my eval", "notes/p.md": "notes", "zz.md": "mine"}
    for path, message in theirs.items():
        api.upload_file(path_or_fileobj=b"x", path_in_repo=path, repo_id=repo, commit_message=message)
    api.upload_file(
        path_or_fileobj=b"old", path_in_repo="old.bin", repo_id=repo, commit_message="Publish with sxhub 0.1.0"
    )
    stale.add("old.bin")
    hub.stub.page_tree(plain=3, expand=2)

    # where each file lies in the listing with last commits, page by page, as the Hub would serve it
    pages: list[set[str]] = []
    url: str | None = f"{hub.url}/api/models/{repo}/tree/main?recursive=true&expand=true"
    while url is not None:
        response = httpx.get(url)
        pages.append({entry["path"] for entry in response.json() if entry["type"] == "file"})
        url = response.links.get("next", {}).get("url")
    assert len(pages) >= 6 and sum(len(page) for page in pages) == len(kept_ours) + len(stale) + len(theirs) + 1
    stale_pages = [i for i, page in enumerate(pages) if stale & page]
    their_pages = [i for i, page in enumerate(pages) if theirs.keys() & page]
    assert len(stale_pages) >= 4 and stale_pages[-1] == len(pages) - 2
    assert len(their_pages) >= 4 and their_pages[-1] == len(pages) - 1 and set(stale_pages) & set(their_pages)

    served = len(hub.stub.requests)
    publish_folder(_writer(kept_ours), repo_id=repo, to=None, exist_ok=True, **common)
    assert set(hub.stub.list_files(repo)) == {".gitattributes", *kept_ours, *theirs}
    assert hub.stub.read_file(repo, "model.safetensors") == b"v2"
    followed = [r for r in hub.stub.requests[served:] if "/tree/main?" in r and "expand=true&cursor=" in r]
    assert len(followed) == len(pages) - 1  # stale_files read every page after the first


@pytest.mark.parametrize("target", ["model", "space"])
@pytest.mark.parametrize("inside", ["repo", "."])
def test_a_folder_written_inside_the_model_folder_it_publishes_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], target: str, inside: str
) -> None:
    """``--to student/repo``: the copy of the student took in its own staging folder, a hidden second copy of the
    weights in the repo folder, and each publish there again nested the last one a level deeper."""
    student = make_student(tmp_path / "student", _spec())
    capsys.readouterr()
    before = sorted(p.relative_to(student) for p in student.rglob("*"))
    out = student / inside
    code, _, err = run_cli(
        ["publish", target, str(student), "--to", str(out), "--repo-id", "me/x", "--exist-ok"], capsys
    )
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "pass a --to outside" in err
    assert sorted(p.relative_to(student) for p in student.rglob("*")) == before  # nothing written, nothing lost

    # a Space that loads its model from the Hub copies no model folder: it may be written anywhere
    if target == "space":
        argv = ["publish", "space", str(student), "--to", str(student / "space"), "--model-repo", "me/m"]
        code, _, err = run_cli([*argv, "--repo-id", "me/x"], capsys)
        assert code == 0, err
        assert not any(".sxhub-" in p.name for p in (student / "space").rglob("*"))


def test_the_work_folder_of_a_killed_export_and_a_clones_git_are_not_published(tmp_path: Path) -> None:
    """``sxhub export`` works in ``onnx/.export-*`` (its raw graph, int8 candidates); killed (out of memory while
    quantising, say) it leaves that folder behind, and publish copied it into the model repo and the Space's
    ``model/``, where ``hf upload`` pushes hidden folders too. A student cloned with git: its ``.git`` (the files, not
    the empty folders) made the published folder a broken clone of the student's own repo."""
    from sxhub.publish import publish_model, publish_space

    student = make_student(tmp_path / "student", _spec())
    (student / ".git").mkdir()  # a student cloned from the Hub: its git folder belongs to that repo
    (student / ".git" / "config").write_text('[remote "origin"]\n\turl = https://huggingface.co/someone/student\n')
    (student / "onnx" / ".export-k1x2").mkdir(parents=True)
    (student / "onnx" / "model.onnx").write_bytes(b"")  # an empty graph (publish space refuses one cut short)
    (student / "onnx" / ".export-k1x2" / "raw.onnx").write_bytes(b"raw graph")
    model = Path(publish_model(student, to=tmp_path / "model", repo_id="me/m"))
    space = Path(publish_space(student, to=tmp_path / "space", repo_id="me/s"))
    for folder in (model, space / "model"):
        assert sorted(p.name for p in (folder / "onnx").iterdir()) == ["model.onnx"]
        assert not (folder / ".git").exists()


def test_the_card_snippet_runs_as_written_with_any_example_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The snippet's ``texts = ["..."]`` pasted the task's first example in: one with a line break was a
    SyntaxError, and a backslash (``C:\\new``) became an escape, so the snippet did not run as written."""
    import re

    from sxhub.publish import publish_model

    example = 'Dear team,\nprofit rose in C:\\new "Q3" \u2014 great'
    spec = TaskSpec.from_dict({**_spec().to_dict(), "examples": [{"text": example, "labels": ["positive"]}]})
    student = make_student(tmp_path / "student", spec)
    folder = Path(publish_model(student, to=tmp_path / "model", repo_id="me/m"))
    card = (folder / "README.md").read_text(encoding="utf-8")
    snippet = re.search(r"```python\n(.*?)```", card, flags=re.S).group(1)  # type: ignore[union-attr]
    scope: dict[str, Any] = {}
    capsys.readouterr()
    exec(compile(snippet.replace('model="me/m"', f"model={str(folder)!r}"), "card", "exec"), scope)
    assert scope["texts"] == [example]
    printed = ast.literal_eval(capsys.readouterr().out.strip().splitlines()[-1])
    assert len(printed) == 1 and printed[0] in spec.label_names


def test_a_folder_written_without_a_repo_id_says_its_card_names_no_repo(
    tmp_path: Path,
    labelled: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``--to DIR`` alone: the card's ``pipeline(model="fin-sent")`` / ``load_dataset("fin-sent")`` named a repo
    without a namespace, which loads nothing once the folder is uploaded, and nothing said so."""
    data, task = labelled
    student = make_student(tmp_path / "student", _spec())
    for target, source, extra in (("model", student, []), ("dataset", data, ["--task", str(task)])):
        caplog.clear()
        with caplog.at_level("WARNING", logger="sxhub.hub"):
            code, _, err = run_cli(["publish", target, str(source), "--to", str(tmp_path / target), *extra], capsys)
        assert code == 0, err
        assert "no --repo-id: the card's usage code loads the placeholder 'NAMESPACE/fin-sent'" in caplog.text
        card = (tmp_path / target / "README.md").read_text(encoding="utf-8")
        assert '"NAMESPACE/fin-sent"' in card and '"fin-sent"' not in card
        assert "`sxhub publish --to` without `--repo-id`): `NAMESPACE/fin-sent` stands for the repo" in card
        caplog.clear()
        argv = ["publish", target, str(source), "--to", str(tmp_path / f"{target}-2"), "--repo-id", "me/x", *extra]
        with caplog.at_level("WARNING", logger="sxhub.hub"):
            code, _, err = run_cli(argv, capsys)
        assert code == 0 and "--repo-id" not in caplog.text
    # a refused input: its one error line, not the card's warning above it (the card was never written)
    gold_only = tmp_path / "gold_only.csv"
    gold_only.write_text("text,gold\nprofits rose,positive\nsales fell,negative\n", encoding="utf-8")
    caplog.clear()
    with caplog.at_level("WARNING", logger="sxhub.hub"):
        code, _, err = run_cli(
            ["publish", "dataset", str(gold_only), "--to", str(tmp_path / "g"), "--task", str(task), "--gold", "gold"],
            capsys,
        )
    assert code == 2 and err.count("\n") == 1
    assert "no 'label' column, only the experts' 'gold'" in err and "rename 'gold' to 'label' and drop --gold" in err
    assert "--repo-id" not in caplog.text and not (tmp_path / "g").exists()


# -- where the card's figures come from ---------------------------------------------------------------------------
def _card(folder: Path) -> tuple[str, Any]:
    from huggingface_hub import ModelCard

    text = (folder / "README.md").read_text(encoding="utf-8")
    return text, ModelCard(text).data


@pytest.mark.parametrize("license", [None, "apache-2.0"])
def test_the_model_card_footer_is_its_own_paragraph(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], license: str | None
) -> None:
    """The footer ("Made with sxhub ...") followed the last limitation with no blank line between, so Markdown read
    it as the rest of that bullet: the Hub showed it inside "License: ... ask the publisher" (or "Texts longer ...")."""
    student = make_student(tmp_path / "student", _spec())
    info = json.loads((student / "sxhub.json").read_text(encoding="utf-8"))
    info["task"]["license"] = license
    (student / "sxhub.json").write_text(json.dumps(info), encoding="utf-8")
    code, _, err = run_cli(
        ["publish", "model", str(student), "--repo-id", "me/m", "--to", str(tmp_path / "m")], capsys
    )
    assert code == 0, err
    text = _card(tmp_path / "m")[0]
    before = text.rsplit("*Made with sxhub", 1)[0]
    assert before.endswith("\n\n") and before.rstrip().splitlines()[-1].startswith("- ")


def test_the_dataset_card_states_the_sizes_of_its_splits(
    tmp_path: Path, labelled: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """The dataset card's ``dataset_info`` said ``num_bytes: 0`` for every split and no download or dataset size
    (push_to_hub writes all three as the Arrow tables' and the data files' sizes)."""
    from huggingface_hub import DatasetCard

    data, task = labelled
    folder = tmp_path / "ds"
    code, _, err = run_cli(["publish", "dataset", str(data), "--task", str(task), "--to", str(folder)], capsys)
    assert code == 0, err
    info = DatasetCard.load(folder / "README.md").data.dataset_info
    splits = {s["name"]: s for s in info["splits"]}
    assert set(splits) == {"train", "validation", "test"}
    assert all(s["num_bytes"] > 0 for s in splits.values())
    assert info["dataset_size"] == sum(s["num_bytes"] for s in splits.values())
    assert info["download_size"] == sum(f.stat().st_size for f in (folder / "data").glob("*.parquet"))


@pytest.mark.parametrize(
    ("option", "content", "says"),
    [
        (
            "--benchmark",
            '{"texts_per_s": "350", "usd_per_hour": 0.5}',
            "texts_per_s must be a number above 0, got '350'",
        ),
        ("--benchmark", '{"texts_per_s": 350, "usd_per_hour": "0.5"}', "usd_per_hour must be a number, 0 or more"),
        ("--benchmark", "[350]", "holds a JSON list, not an object"),
        ("--benchmark", "{texts_per_s: 350}", "is not JSON"),
        ("--evaluation", "{bad", "is not JSON"),
        ("--evaluation", '[{"accuracy": 0.9}]', "holds a JSON list, not an object"),
        ("--evaluation", '{"acc": 0.9, "f1": 0.8}', "the evaluation holds no figures to show (its keys: acc, f1)"),
    ],
)
@pytest.mark.parametrize("verb", ["model", "space"])
def test_a_benchmark_or_evaluation_file_that_is_not_one_is_one_line(
    tmp_path: Path, student: Path, capsys: pytest.CaptureFixture[str], verb: str, option: str, content: str, says: str
) -> None:
    """A --benchmark with ``"texts_per_s": "350"`` (a string) failed with "TypeError: unsupported operand type(s)"
    and exit 1 after the card was half made; a file that is no JSON, or a JSON list, with a JSONDecodeError or an
    AttributeError; an object with no figures sxhub reads was dropped, and the card said "No evaluation was given"
    (without the validation figures it had shown). Each is one line saying what it must hold, exit 2, and nothing
    is written."""
    given = tmp_path / "given.json"
    given.write_text(content, encoding="utf-8")
    out = tmp_path / "out"
    argv = ["publish", verb, str(student), "--repo-id", "me/x", "--to", str(out), option, str(given)]
    code, _, err = run_cli(argv, capsys)
    assert code == 2, err
    assert says in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_a_test_size_that_leaves_a_split_empty_is_one_line_or_no_split(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``publish dataset --test-size 0.95`` (with the 10% validation split, more than all the texts) failed with
    scikit-learn's "ValueError: test_size=... should be ... smaller than the number of samples", exit 1; 0.9 (one
    training row, three labels) with "The train_size = 1 should be greater or equal to the number of classes"; and
    12 texts with --test-size 0.01 (a test split of 0 rows) with "InvalidParameterError". The first is one line
    naming the fix; the second splits without stratifying; the third publishes the texts as one train split, as
    fewer than 10 texts always were."""
    spec = _spec()
    task = tmp_path / "task.yaml"
    task.write_text(spec.to_yaml(), encoding="utf-8")
    data = tmp_path / "labelled.parquet"
    pd.DataFrame(_rows(spec, n=41)).to_parquet(data)  # 40 texts and a failed one
    argv = ["publish", "dataset", str(data), "--task", str(task), "--repo-id", "me/d", "--to"]
    code, _, err = run_cli([*argv, str(tmp_path / "a"), "--test-size", "0.95"], capsys)
    assert code == 2 and "leave none of the 40 texts to train on; pass a smaller --test-size" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "a").exists()
    code, _, err = run_cli([*argv, str(tmp_path / "b"), "--test-size", "0.85"], capsys)
    assert code == 0, err
    assert sorted(p.name.split("-")[0] for p in (tmp_path / "b" / "data").iterdir()) == ["test", "train", "validation"]
    small = tmp_path / "small.parquet"
    pd.DataFrame(_rows(spec, n=13)).to_parquet(small)
    code, _, err = run_cli([*argv[:2], str(small), *argv[3:], str(tmp_path / "c"), "--test-size", "0.01"], capsys)
    assert code == 0, err
    assert [p.name for p in (tmp_path / "c" / "data").iterdir()] == ["train-00000-of-00001.parquet"]


def test_an_evaluation_of_texts_the_student_trained_on_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``sxhub evaluate --json`` on the training file says ``n_trained_on: 107`` and "these scores are not held out";
    ``publish model --evaluation`` published them as "Figures on the test split" (model-index ``split: test``)."""
    student = make_student(tmp_path / "student", _spec())
    capsys.readouterr()  # the tiny model's progress bars
    evaluation = tmp_path / "eval.json"
    note = "The student learned from 119 of these 120 texts (trained on 107, validated on 12): these scores are not held out."
    result = {"n": 120, "accuracy": 0.5, "macro_f1": 0.4, "title": "Student student vs gold", "label_column": "gold"}
    evaluation.write_text(json.dumps({**result, "n_trained_on": 107, "n_validated_on": 12, "notes": [note]}))
    for target in ("model", "space"):
        out_dir = tmp_path / target
        argv = [
            "publish",
            target,
            str(student),
            "--to",
            str(out_dir),
            "--repo-id",
            "me/m",
            "--evaluation",
            str(evaluation),
        ]
        code, _, err = run_cli(argv, capsys)
        assert code == 2, err
        assert len(err.strip().splitlines()) == 1 and "107 of 120 texts the student was trained on" in err
        assert "pass --data" in err and not out_dir.exists()


def test_evaluate_says_when_the_students_record_matches_learned_texts_only_as_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A student trained before the record keyed texts up to case and spacing (a ``trained_texts.npz`` without
    ``key``) cannot be re-keyed: evaluate counted 'COMPANY PROFIT ROSE 1' as held out without a word. The count stays
    what the record allows; a note says it can miss texts written in other case or spacing. A record written now
    gets no such note."""
    import hashlib

    import numpy as np

    from sxhub import trained_texts

    spec = _spec()
    student = make_student(tmp_path / "student", spec)
    rows = _rows(spec)
    data = tmp_path / "fresh.parquet"
    frame = pd.DataFrame(rows)
    frame.loc[1, "text"] = frame.loc[1, "text"].upper()
    frame.to_parquet(data)

    def old_key(text: str) -> int:
        return int.from_bytes(hashlib.blake2b(text.strip().encode("utf-8"), digest_size=8).digest(), "little")

    learned = [rows[0]["text"], rows[1]["text"]]  # the second is asked in capitals
    np.savez(student / trained_texts.FILE, train=np.array([old_key(t) for t in learned], dtype=np.uint64),
             validation=np.array([], dtype=np.uint64))  # fmt: skip
    capsys.readouterr()
    code, out, err = run_cli(["evaluate", str(student), str(data), "--gold", "gold", "--json"], capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["n_trained_on"] == 1
    assert any("predates matching them up to case and spacing" in n for n in result["notes"])

    trained_texts.save(student, learned, [])  # a record written now: both found, no such note
    code, out, err = run_cli(["evaluate", str(student), str(data), "--gold", "gold", "--json"], capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["n_trained_on"] == 2
    assert not any("predates" in n for n in result["notes"])


def test_a_given_evaluation_against_experts_is_named_so_and_tied_to_no_split(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An ``sxhub evaluate --gold gold --json`` result was shown as "student vs reference" under "Figures on the test
    split", its notes dropped, and the limitations said "No expert labels were given"."""
    spec = _spec()
    student = make_student(tmp_path / "student", spec)
    data = tmp_path / "fresh.parquet"
    pd.DataFrame(_rows(spec)).to_parquet(data)
    code, out, err = run_cli(["evaluate", str(student), str(data), "--gold", "gold", "--json"], capsys)
    assert code == 0, err
    result = json.loads(out)
    assert result["label_column"] == "gold"
    # as from a student folder that records its texts: none trained on, 3 were its validation texts
    note = (
        "The student learned from 3 of these 40 texts (trained on 0, validated on 3): these scores are not held out."
    )
    evaluation = tmp_path / "eval.json"
    evaluation.write_text(json.dumps({**result, "n_trained_on": 0, "n_validated_on": 3, "notes": [note]}))
    argv = ["publish", "model", str(student), "--to", str(tmp_path / "m"), "--repo-id", "me/m"]
    code, _, err = run_cli([*argv, "--evaluation", str(evaluation), "--dataset-repo", "me/fin"], capsys)
    assert code == 0, err
    card, data_ = _card(tmp_path / "m")
    assert f"| student vs experts | {result['n']} |" in card and "student vs reference" not in card
    assert "Figures on the test split" not in card and "No expert labels were given" not in card
    assert "on 40 texts of a file given when this card was made against its `gold` column" in card
    assert "3 of them were its validation texts" in card and note in card
    assert {r.dataset_split for r in data_.eval_results} == {None}
    assert {r.dataset_name for r in data_.eval_results} == {"me/fin (student vs experts)"}
    for folder in (tmp_path / "m", tmp_path / "m-space"):  # the Space says these are texts the publisher chose
        if folder.name == "m-space":
            space = ["publish", "space", str(student), "--to", str(folder), "--evaluation", str(evaluation)]
            code, _, err = run_cli(space, capsys)
            assert code == 0, err
        info = json.loads((folder / ("config.json" if folder.name == "m-space" else "sxhub.json")).read_text())
        assert info["about"]["split"] == "given"

    # against the teachers' own label column: a reference, and still no expert labels
    code, out, err = run_cli(["evaluate", str(student), str(data), "--json"], capsys)
    assert code == 0, err
    evaluation.write_text(out)
    code, _, err = run_cli([*argv[:3], "--to", str(tmp_path / "m2"), "--evaluation", str(evaluation)], capsys)
    assert code == 0, err
    card, _ = _card(tmp_path / "m2")
    assert "| student vs reference |" in card and "against its `label` column" in card
    assert "No expert labels were given" in card
    assert "does not say whether the student learned from these texts" in card
    assert "Figures from `sxhub evaluate` on" in card  # the torch model: no runtime named

    # evaluate --onnx --int8: the card said nothing of which runtime gave the figures
    evaluation.write_text(json.dumps({**json.loads(out), "backend": "onnx-int8"}))
    code, _, err = run_cli([*argv[:3], "--to", str(tmp_path / "m3"), "--evaluation", str(evaluation)], capsys)
    assert code == 0, err
    card = _card(tmp_path / "m3")[0]
    assert "Figures from `sxhub evaluate` with the `onnx-int8` runtime on 39 texts" in card


def test_publish_space_shows_the_given_evaluation_benchmark_and_gold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``publish space --evaluation E --benchmark B --gold G`` exited 0 with the training validation figures and no
    speed: the CLI did not pass them on."""
    spec = _spec()
    student = make_student(tmp_path / "student", spec)
    data = tmp_path / "labelled.parquet"
    pd.DataFrame(_rows(spec)).to_parquet(data)
    evaluation, bench = tmp_path / "eval.json", tmp_path / "bench.json"
    evaluation.write_text(json.dumps({"student vs experts": {"n": 500, "accuracy": 0.91, "macro_f1": 0.9}}))
    bench.write_text(json.dumps({"texts_per_s": 1234.5}))
    argv = ["publish", "space", str(student), "--repo-id", "me/demo", "--data", str(data)]
    code, _, err = run_cli(
        [*argv, "--to", str(tmp_path / "s1"), "--evaluation", str(evaluation), "--benchmark", str(bench)], capsys
    )
    assert code == 0, err
    about = json.loads((tmp_path / "s1" / "config.json").read_text())["about"]
    assert about["scores"] == {"student vs experts": {"n": 500, "accuracy": 0.91, "macro_f1": 0.9}}
    assert about["split"] == "test"  # named comparisons, as `sxhub run` writes them
    assert about["speed"] == {"texts_per_s": 1234.5, "source": "given with --benchmark"}

    # --gold with --data: the test split scored as the model card scores it
    code, _, err = run_cli([*argv, "--to", str(tmp_path / "s2"), "--gold", "gold"], capsys)
    assert code == 0, err
    about = json.loads((tmp_path / "s2" / "config.json").read_text())["about"]
    assert about["split"] == "test" and about["scores"]["student vs experts"]["n"] == 4
    # which texts were left out, as the model card says it: "held-out" was said of texts the student validated on
    assert about["scores_note"].startswith("Figures on the dataset's test split, scored when this card was made.")
    from types import SimpleNamespace

    from sxhub.space import load_app_module

    expert = SimpleNamespace(multi_label=False, info={}, backend="torch", model="m", preprocessing={"max_length": 8})
    page = load_app_module().describe(expert, about)
    assert about["scores_note"] in page and "held-out test split" not in page
    assert about["speed"]["source"].startswith("measured by sxhub")

    code, _, err = run_cli([*argv[:5], "--to", str(tmp_path / "s3"), "--gold", "gold"], capsys)
    assert code == 2 and "add --data, or drop --gold" in err and not (tmp_path / "s3").exists()


def test_a_file_too_small_for_a_test_split_is_scored_whole_and_said_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``publish model --data`` of 9 texts: the dataset keeps no test split, every text was scored, and the card
    (model-index and note) and the Space said the figures were on the dataset's test split."""
    spec = _spec()
    student = make_student(tmp_path / "student", spec)
    data = tmp_path / "labelled.parquet"
    pd.DataFrame(_rows(spec, 10)).to_parquet(data)  # one of the 10 failed: 9 texts
    code, _, err = run_cli(
        [
            "publish",
            "model",
            str(student),
            "--to",
            str(tmp_path / "m"),
            "--data",
            str(data),
            "--dataset-repo",
            "me/fin",
        ],
        capsys,
    )
    assert code == 0, err
    card, meta = _card(tmp_path / "m")
    assert {r.dataset_split for r in meta.eval_results} == {"train"}
    assert "Figures on all 9 texts of the dataset (its one train split: too few texts" in card
    assert "the dataset's test split" not in card
    about = json.loads((tmp_path / "m" / "sxhub.json").read_text())["about"]
    assert about["split"] == "train" and about["scores"]["student vs teacher labels"]["n"] == 9

    argv = ["publish", "space", str(student), "--repo-id", "me/demo", "--data", str(data), "--gold", "gold"]
    code, _, err = run_cli([*argv, "--to", str(tmp_path / "s")], capsys)
    assert code == 0, err
    about = json.loads((tmp_path / "s" / "config.json").read_text())["about"]
    assert about["split"] == "train" and about["scores_note"].startswith("Figures on all 9 texts of the dataset")
    from types import SimpleNamespace

    from sxhub.space import load_app_module

    expert = SimpleNamespace(multi_label=False, info={}, backend="torch", model="m", preprocessing={"max_length": 8})
    page = load_app_module().describe(expert, about)
    assert "the dataset's train split, as the note below" in page and "the dataset's test split" not in page


def _with_train(student: Path, **train: Any) -> Path:
    info = json.loads((student / "sxhub.json").read_text())
    info["train"] = {**info["train"], **train}
    (student / "sxhub.json").write_text(json.dumps(info))
    return student


def test_training_validation_figures_cite_no_dataset_split(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``publish model --dataset-repo`` without ``--data``: the model-index cited the dataset's ``validation`` split
    for the training run's validation texts (on the audit's data the dataset's *test* split; the student trained on
    every text of the dataset's validation split), and the table's rows were "unknown" though ``n_val`` is known."""
    validation = {"accuracy": 0.5, "macro_f1": 0.4}
    student = _with_train(make_student(tmp_path / "student", _spec()), n_val=12, validation=validation)
    argv = ["publish", "model", str(student), "--to", str(tmp_path / "m"), "--repo-id", "me/m"]
    code, _, err = run_cli([*argv, "--dataset-repo", "me/fin", "--dataset-revision", "abc123"], capsys)
    assert code == 0, err
    card, data = _card(tmp_path / "m")
    assert data.eval_results and {r.dataset_split for r in data.eval_results} == {None}
    assert {(r.dataset_type, r.dataset_revision) for r in data.eval_results} == {("me/fin", "abc123")}
    assert "| student vs teacher labels (validation) | 12 |" in card
    assert "come from the training run's validation split, 12 texts held out of its training file" in card
    assert "not the dataset's `validation` split" in card and "best of" not in card
    about = json.loads((tmp_path / "m" / "sxhub.json").read_text())["about"]
    assert about["split"] == "validation" and about["scores"]["student vs teacher labels (validation)"]["n"] == 12


def test_a_searched_student_says_its_figures_are_the_best_of_its_trials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``train --search``: the card showed the best-of-trials validation score as plain "Figures on the validation
    split", and its Training table rounded the learning rate 5.5e-5 to 0.0001 (2e-5 and 1e-5 to 0.0000)."""
    trials = [
        {"number": 0, "value": 0.4, "learning_rate": 5.5147e-05, "batch_size": 16, "weight_decay": 1e-5},
        {"number": 1, "value": 0.3, "learning_rate": 2e-05, "batch_size": 32, "weight_decay": 0.0},
    ]
    search = {"trials": trials, "best": trials[0], "metric": "macro_f1", "note": "best of the trials on validation"}
    student = _with_train(
        make_student(tmp_path / "student", _spec()),
        n_val=12,
        validation={"accuracy": 0.5, "macro_f1": 0.4},
        learning_rate=5.5147e-05,
        weight_decay=1e-5,
        search=search,
    )
    code, _, err = run_cli(
        ["publish", "model", str(student), "--to", str(tmp_path / "m"), "--repo-id", "me/m"], capsys
    )
    assert code == 0, err
    card, _ = _card(tmp_path / "m")
    assert "| student vs teacher labels (validation) | 12 |" in card
    assert (
        "are the best of 2 trials of a hyperparameter search (`sxhub train --search`) on the validation split" in card
    )
    assert "12 texts held out of its training file: optimistic" in card
    assert "| learning_rate | 5.515e-05 |" in card and "| weight_decay | 1e-05 |" in card
    assert "| hyperparameter search (`--search`) | best of 2 trials on the validation macro_f1" in card


def test_the_training_table_keeps_significant_digits() -> None:
    from sxhub.model_card import training_rows

    rows = dict(
        training_rows({"train": {"learning_rate": 2e-5, "weight_decay": 0.0, "seconds": 12345.67, "epochs": 3.0}})
    )
    assert rows == {"learning_rate": "2e-05", "weight_decay": "0", "seconds": "12,345.7", "epochs": "3"}


def test_the_cost_table_shows_chosen_fields_without_local_paths_and_small_costs_unrounded(tmp_path: Path) -> None:
    """The Cost table dumped every ledger field: `parts | /home/.../a.jsonl.parts` and `output | .../a.jsonl` went
    to the Hub, and a real bill of $1.98e-05 showed as 0.0000."""
    from sxhub.publish import publish_dataset

    spec = _spec()
    ledger = {
        "n_texts": 40, "samples": 3, "concurrency": 8, "dry_run": False, "requests": 0, "cached": 120,
        "input_tokens": 0, "output_tokens": 0, "cached_input_tokens": 300, "cached_output_tokens": 48,
        "replies_without_usage": 0, "cost_usd": 0.0, "cached_cost_usd": 1.98e-05, "seconds": 0.12,
        "votes": {"n": 40, "decided": 39}, "vote_method": "majority",
        "teachers": {
            "local": {"requests": 0, "cached": 120, "cost_usd": 0.0, "cached_cost_usd": 1.98e-05, "server": None},
            "unpriced": {"requests": 3, "cost_usd": None, "server": "vllm", "enforced": "schema"},
        },
        "parts": str(tmp_path / "home" / "me" / "a.jsonl.parts"), "chunks": 1, "resumed_chunks": 1,
        "output": str(tmp_path / "home" / "me" / "a.jsonl"),
        "endpoints": {"fin-teacher": {"hours": 0.5, "price_per_hour": 0.8, "cost_usd_estimate": 0.4}},
    }  # fmt: skip
    card = Path(publish_dataset(pd.DataFrame(_rows(spec)), spec=spec, to=tmp_path / "ds", ledger=ledger))
    text = (card / "README.md").read_text(encoding="utf-8")
    table = text[text.index("## Cost") : text.index("## Columns")]
    assert str(tmp_path) not in text and "a.jsonl" not in table
    for left_out in ("parts", "output", "concurrency", "chunks", "resumed_chunks", "dry_run", "votes", "votes.n"):
        assert f"| {left_out} |" not in table
    for row in (
        "| cost_usd | $0 |",
        "| cached_cost_usd | $0.0000198 |",
        "| cached_input_tokens | 300 |",
        "| teachers.local.cached_cost_usd | $0.0000198 |",
        "| teachers.unpriced.cost_usd | unknown |",
        "| teachers.unpriced.server | vllm |",
        "| endpoints.fin-teacher.cost_usd_estimate | $0.400 |",
    ):
        assert row in table
    assert "teachers.local.server" not in table and "without_usage" not in table


def test_the_cost_table_counts_texts_too_long_for_the_teacher_only_when_there_were_some(tmp_path: Path) -> None:
    """annotate's ledger counts the texts a teacher refused as longer than its context window (``too_long``), but
    the card's Cost table listed `rejected` and `context_cuts` and never said why that text failed."""
    from sxhub.publish import publish_dataset

    spec = _spec()

    def cost_section(ledger: dict, name: str) -> str:
        card = Path(publish_dataset(pd.DataFrame(_rows(spec)), spec=spec, to=tmp_path / name, ledger=ledger))
        text = (card / "README.md").read_text(encoding="utf-8")
        return text[text.index("## Cost") : text.index("## Columns")]

    teacher = {"requests": 40, "rejected": 1, "too_long": 1, "context_cuts": 0, "failed_votes": 1, "server": "vllm"}
    ledger = {"n_texts": 40, "failed_texts": 1, "requests": 40, "rejected": 1, "too_long": 1, "context_cuts": 0}
    table = cost_section({**ledger, "teachers": {"vllm": teacher}}, "refused")
    assert "| rejected | 1 |\n| too_long | 1 |\n" in table and "| teachers.vllm.too_long | 1 |" in table
    quiet = cost_section({**ledger, "too_long": 0, "teachers": {"vllm": {**teacher, "too_long": 0}}}, "none")
    assert "too_long" not in quiet and "| rejected | 1 |" in quiet and "| context_cuts | 0 |" in quiet


def test_the_cost_table_says_cached_answers_were_not_paid_again(tmp_path: Path) -> None:
    """A resumed (or rerun) annotate's card showed `cost_usd | $0` beside `cached_cost_usd | $0.298` and said
    neither which one this run paid, nor that the cached answers were not paid again, nor what the labels cost."""
    from sxhub.publish import publish_dataset

    spec = _spec()

    def cost_section(ledger: dict, name: str) -> str:
        card = Path(publish_dataset(pd.DataFrame(_rows(spec)), spec=spec, to=tmp_path / name, ledger=ledger))
        text = (card / "README.md").read_text(encoding="utf-8")
        return text[text.index("## Cost") : text.index("## Columns")]

    resumed = {"n_texts": 40, "requests": 30, "cached": 90, "cost_usd": 0.1, "cached_cost_usd": 0.2}
    assert (
        "90 answers came from the label cache: an earlier run paid for them, and `cached_cost_usd` ($0.200) is what "
        "they first cost; they were not paid again, and `cost_usd` ($0.100) is what this run paid. The labels cost "
        "$0.300 in all."
    ) in cost_section(resumed, "resumed")
    unpriced = cost_section({**resumed, "cost_usd": None, "cached_cost_usd": None}, "unpriced")
    assert "What the labels cost in all is unknown" in unpriced and "$0" not in unpriced
    assert "label cache" not in cost_section({**resumed, "cached": 0, "cached_cost_usd": 0.0}, "fresh")


def test_costs_keep_significant_digits_in_cards_and_summary_lines() -> None:
    from sxhub.annotate import AnnotateResult
    from sxhub.ledger import format_cost

    assert [format_cost(v) for v in (None, 0, 1.98e-05, 0.0123, 0.5, 12.3456, 1234.5)] == [
        "unknown", "$0", "$0.0000198", "$0.0123", "$0.500", "$12.35", "$1,234.50",
    ]  # fmt: skip
    ledger = {
        "n_texts": 6, "failed_texts": 0, "n_duplicates": 0, "requests": 6, "cached": 0, "retries": 0, "ties": 0,
        "input_tokens": 300, "output_tokens": 48, "seconds": 0.1, "cost_usd": 1.98e-05,
    }  # fmt: skip
    assert AnnotateResult(pd.DataFrame(), [], ledger).summary_line().endswith("estimated cost $0.0000198")


def test_a_multi_label_card_calls_its_accuracy_subset_accuracy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Multi-label subset accuracy was "accuracy" in the model card's table and "Accuracy" in its model-index, while
    the dataset card and ``sxhub evaluate`` call it subset accuracy."""
    validation = {"accuracy": 0.25, "macro_f1": 0.5, "micro_f1": 0.6}
    student = _with_train(make_student(tmp_path / "student", _spec(True)), n_val=12, validation=validation)
    code, _, err = run_cli(
        ["publish", "model", str(student), "--to", str(tmp_path / "m"), "--repo-id", "me/m", "--dataset-repo", "me/d"],
        capsys,
    )
    assert code == 0, err
    card, data = _card(tmp_path / "m")
    assert "| comparison | rows | subset accuracy | macro F1 |" in card
    assert "Subset accuracy counts a text as right only when all of its labels are." in card
    accuracy = [r for r in data.eval_results if r.metric_type == "accuracy"]
    assert [(r.metric_name, r.metric_value) for r in accuracy] == [("Subset accuracy", 0.25)]

    single = _with_train(make_student(tmp_path / "single", _spec()), n_val=12, validation=validation)
    code, _, err = run_cli(
        ["publish", "model", str(single), "--to", str(tmp_path / "s"), "--repo-id", "me/s", "--dataset-repo", "me/d"],
        capsys,
    )
    assert code == 0, err
    card, data = _card(tmp_path / "s")
    assert "| comparison | rows | accuracy | macro F1 |" in card and "subset" not in card.lower()
    assert {r.metric_name for r in data.eval_results if r.metric_type == "accuracy"} == {"Accuracy"}


def test_without_a_license_every_card_and_the_space_declare_other(
    tmp_path: Path, labelled: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """No license in the spec: the model card and the Space declared apache-2.0 (a license nobody chose), the dataset
    card "other"."""
    from huggingface_hub import DatasetCard, SpaceCard

    data, task = labelled
    student = make_student(tmp_path / "student", _spec())
    for target, source, extra in (
        ("dataset", data, ["--task", str(task)]),
        ("model", student, []),
        ("space", student, []),
    ):
        argv = ["publish", target, str(source), "--to", str(tmp_path / target), "--repo-id", "me/x", *extra]
        code, _, err = run_cli(argv, capsys)
        assert code == 0, err
    card, data_ = _card(tmp_path / "model")
    assert data_.license == "other" and "the task spec states none, so this card declares `license: other`" in card
    assert DatasetCard.load(tmp_path / "dataset" / "README.md").data.license == "other"
    assert SpaceCard.load(tmp_path / "space" / "README.md").data.license == "other"

    # a stated license is the one every card and the Space declare, and the card says nothing more
    spec = TaskSpec.from_dict({**_spec().to_dict(), "license": "mit"})
    stated = make_student(tmp_path / "mit", spec)
    for target in ("model", "space"):
        argv = ["publish", target, str(stated), "--to", str(tmp_path / f"mit-{target}"), "--repo-id", "me/x"]
        code, _, err = run_cli(argv, capsys)
        assert code == 0, err
    card, data_ = _card(tmp_path / "mit-model")
    assert data_.license == "mit" and "states none" not in card
    assert SpaceCard.load(tmp_path / "mit-space" / "README.md").data.license == "mit"


def test_a_license_off_the_hub_list_is_refused_before_any_repo_folder_or_declared_as_other_with_its_link(
    tmp_path: Path, labelled: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A task's 'Apache License 2.0' went into every card's ``license:`` as written, which the Hub refuses on push.
    It is refused first, in one line, with nothing written; with a license_link it is declared as the Hub's docs
    say (license: other, license_name, license_link), and a known id in any spelling as the Hub spells it."""
    from huggingface_hub import DatasetCard, SpaceCard

    data, _ = labelled
    for license_, link, declared in (
        ("Apache License 2.0", None, None),
        ("ACME Data License", "https://acme.example/license", "other"),
        ("Apache 2.0", None, "apache-2.0"),
    ):
        spec = TaskSpec.from_dict({**_spec().to_dict(), "license": license_, "license_link": link})
        case = tmp_path / license_.replace(" ", "-")
        task = case / "task.yaml"
        case.mkdir()
        task.write_text(spec.to_yaml(), encoding="utf-8")
        student = make_student(case / "student", spec)
        for target, source, extra in (
            ("dataset", data, ["--task", str(task)]),
            ("model", student, []),
            ("space", student, []),
        ):
            argv = ["publish", target, str(source), "--to", str(case / target), "--repo-id", "me/x", *extra]
            code, _, err = run_cli(argv, capsys)
            if declared is None:
                assert code == 2
                line = err.strip().splitlines()[-1]
                assert line.startswith("Error: license: "), err
                assert "'Apache License 2.0' is not one of the Hub's license identifiers" in line, line
                if target != "dataset":  # the license a model folder's cards declare lives in its sxhub.json
                    assert f"{str(student / 'sxhub.json')!r}" in line and 'under its "task"' in line, line
                assert not (case / target).exists()
                continue
            assert code == 0, err
        if declared is None:
            continue
        cards = [
            _card(case / "model")[1],
            DatasetCard.load(case / "dataset" / "README.md").data,
            SpaceCard.load(case / "space" / "README.md").data,
        ]
        for card in cards:
            assert card.license == declared
            assert card.get("license_name") == ("acme-data-license" if link else None)
            assert card.get("license_link") == link


def test_a_model_folder_license_fixed_where_the_error_says_publishes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder trained before licenses were checked carries the task's free-text license in its sxhub.json, and
    publish has no option to override it: the error names that file, and editing the license there is enough."""
    spec = TaskSpec.from_dict({**_spec().to_dict(), "license": "Apache License 2.0"})
    student = make_student(tmp_path / "student", spec)
    argv = ["publish", "model", str(student), "--to", str(tmp_path / "model"), "--repo-id", "me/x"]
    code, _, err = run_cli(argv, capsys)
    assert code == 2 and str(student / "sxhub.json") in err.strip().splitlines()[-1], err
    info = json.loads((student / "sxhub.json").read_text(encoding="utf-8"))
    info["task"]["license"] = "apache-2.0"
    (student / "sxhub.json").write_text(json.dumps(info), encoding="utf-8")
    code, _, err = run_cli(argv, capsys)
    assert code == 0, err
    assert _card(tmp_path / "model")[1].license == "apache-2.0"


def test_private_makes_an_existing_public_repo_private_and_says_so(
    hub, labelled: tuple[Path, Path], capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """``--private --exist-ok`` on a public repo left it public, without a word (create_repo(exist_ok=True) leaves
    an existing repo's visibility alone). Without ``--private`` an existing repo keeps its visibility: a private
    repo is never made public."""
    from huggingface_hub import HfApi

    data, task = labelled
    argv = ["publish", "dataset", str(data), "--task", str(task), "--repo-id", f"{hub.user}/priv"]
    api = HfApi()
    assert run_cli(argv, capsys)[0] == 0
    assert not api.dataset_info(f"{hub.user}/priv").private
    with caplog.at_level("WARNING", logger="sxhub.hub"):
        code, _, err = run_cli([*argv, "--private", "--exist-ok"], capsys)
    assert code == 0, err
    assert api.dataset_info(f"{hub.user}/priv").private
    assert "was public; made it private" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="sxhub.hub"):
        assert run_cli([*argv, "--private", "--exist-ok"], capsys)[0] == 0  # private already: nothing to say
        assert run_cli([*argv, "--exist-ok"], capsys)[0] == 0  # no --private: left as it is
    assert api.dataset_info(f"{hub.user}/priv").private
    assert "made it private" not in caplog.text
    assert "PUT /api/datasets/tester/priv/settings" in " ".join(hub.stub.requests)


def test_a_repo_id_without_namespace_is_pushed_to_the_tokens_own(
    hub, student: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """``--repo-id fin-model`` (no namespace): the Hub created ``USER/fin-model``, but the existence check, the card's
    ``pipeline(model=...)`` line and the upload used ``fin-model``, so the upload answered 404 and the error said to
    rerun with --exist-ok, which failed the same way. The token's namespace is put in front, and said."""
    from huggingface_hub import HfApi

    repo = f"{hub.user}/fin-model"
    with caplog.at_level("WARNING", logger="sxhub.hub"):
        code, out, err = run_cli(["publish", "model", str(student), "--repo-id", "fin-model"], capsys)
    assert code == 0, err
    assert out.strip().endswith(repo)
    assert f"publishing to {repo!r}" in caplog.text
    assert {"README.md", "config.json", "model.safetensors"} <= set(HfApi().list_repo_files(repo))
    assert f'model="{repo}"' in hub.stub.read_file(repo, "README.md").decode()
    # the repo exists now: a second push without --exist-ok is refused, not silently made over it
    code, _, err = run_cli(["publish", "model", str(student), "--repo-id", "fin-model"], capsys)
    assert code == 2 and f"model repo {repo!r} already exists" in err


def test_an_existing_repo_of_another_user_is_refused_as_theirs(
    student: Path, hub, capsys: pytest.CaptureFixture[str]
) -> None:
    """``publish --repo-id someone-else/NAME`` where that repo exists said to "pass --exist-ok to push a new commit
    to it", a push the Hub refuses (HTTP 403): the line now says whose repo it is and which --repo-id to pass."""
    from sxhub.hub import token_fix

    hub.stub.store.create("model", "someone-else/fin-model", private=False, sdk=None)
    code, _, err = run_cli(["publish", "model", str(student), "--repo-id", "someone-else/fin-model"], capsys)
    assert code == 2
    assert err.strip().splitlines()[-1] == (
        "Error: model repo 'someone-else/fin-model' already exists in 'someone-else', where the token of "
        f"'{hub.user}' cannot push; pass a --repo-id in '{hub.user}' or 'test-org' (e.g. {hub.user}/fin-model)."
    )
    assert hub.stub.list_files("someone-else/fin-model") == [".gitattributes"]  # nothing pushed
    # with --exist-ok it is pushed to, and the Hub refuses the commit: one line naming the fix
    argv = ["publish", "model", str(student), "--repo-id", "someone-else/fin-model", "--exist-ok"]
    code, _, err = run_cli(argv, capsys)
    assert code == 2 and err.strip().splitlines()[-1].startswith(
        "Error: the Hub refused uploading to 'someone-else/fin-model' (HTTP 403: "
    )
    assert err.strip().endswith("use a namespace that is yours or your organisation's, and " + token_fix(403) + ".")
    assert hub.stub.list_files("someone-else/fin-model") == [".gitattributes"]
    # the user's own existing repo is still refused as before: --exist-ok is the way to push to it
    hub.stub.store.create("model", f"{hub.user}/fin-model", private=False, sdk=None)
    code, _, err = run_cli(["publish", "model", str(student), "--repo-id", f"{hub.user}/fin-model"], capsys)
    assert code == 2 and err.strip().splitlines()[-1] == (
        f"Error: model repo '{hub.user}/fin-model' already exists; pass --exist-ok to push a new commit to it."
    )


@pytest.mark.parametrize(
    ("verb", "option"), [("space", "--model-repo"), ("space", "--dataset-repo"), ("review", "--dataset-repo")]
)
def test_a_repo_a_space_uses_without_namespace_is_refused(
    tmp_path: Path,
    labelled: tuple[Path, Path],
    student: Path,
    capsys: pytest.CaptureFixture[str],
    verb: str,
    option: str,
) -> None:
    """``publish space --model-repo fin-model`` wrote a Space whose app loads the Hub model ``fin-model`` (no such
    repo: it failed at startup with a 404), a bare --dataset-repo linked a page that does not exist, and a review
    Space committed its decisions to a bare dataset id. Refused in one line before anything is written."""
    data, task = labelled
    source = [str(student)] if verb == "space" else [str(data), "--task", str(task)]
    out = tmp_path / "out"
    argv = ["publish", verb, *source, "--repo-id", "me/s", "--to", str(out), option, "fin-repo"]
    code, _, err = run_cli(argv, capsys)
    assert code == 2
    assert f"{option} 'fin-repo' has no namespace" in err and "NAMESPACE/NAME" in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()
    code, _, err = run_cli([*argv[:-1], "me/fin-repo"], capsys)
    assert code == 0, err


def test_revision_creates_the_branch_it_pushes_to(
    hub, student: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """``--revision dev`` on a new repo created the repo, then failed with "HTTP 404 while uploading" (the branch
    did not exist) and left the repo empty, so that a rerun stopped at "already exists". The branch is now created
    from main and the publish lands there; main keeps what it had."""
    from huggingface_hub import HfApi

    repo = f"{hub.user}/rev-model"
    argv = ["publish", "model", str(student), "--repo-id", repo]
    with caplog.at_level("WARNING", logger="sxhub.hub"):
        code, out, err = run_cli([*argv, "--revision", "dev"], capsys)
    assert code == 0, err
    assert out.strip().endswith(f"{repo}/tree/dev")  # the branch's page: main's is empty
    assert "branch 'dev' did not exist" in caplog.text
    api = HfApi()
    assert {"README.md", "config.json", "model.safetensors"} <= set(api.list_repo_files(repo, revision="dev"))
    assert api.list_repo_files(repo) == [".gitattributes"]
    caplog.clear()
    with caplog.at_level("WARNING", logger="sxhub.hub"):
        code, _, err = run_cli([*argv, "--revision", "dev", "--exist-ok"], capsys)  # the branch exists now
    assert code == 0, err
    assert "did not exist" not in caplog.text
    assert sorted(b.name for b in api.list_repo_refs(repo).branches) == ["dev", "main"]


def test_the_cards_code_loads_the_branch_it_was_pushed_to(
    hub, labelled: tuple[Path, Path], student: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With ``--revision dev`` the repo's main holds only .gitattributes, and the cards on dev loaded the repo by id
    alone (main): the model card's ``pipeline(...)`` found no config.json and the dataset card's ``load_dataset``
    no data. Their code now names the branch; without --revision (or with main) it names none."""
    import re

    from sxhub.publish import publish_dataset, publish_model

    data, task = labelled
    dataset, model = f"{hub.user}/rev-data", f"{hub.user}/rev-student"
    publish_dataset(data, spec=task, repo_id=dataset, revision="dev")
    publish_model(student, repo_id=model, revision="refs/heads/dev")
    scopes: dict[str, dict[str, Any]] = {}
    for repo_id, repo_type in ((dataset, "dataset"), (model, "model")):
        card = hub.stub.read_file(repo_id, "README.md", repo_type=repo_type, revision="dev").decode("utf-8")
        snippet = re.search(r"```python\n(.*?)```", card, flags=re.S).group(1)  # type: ignore[union-attr]
        assert 'revision="dev"' in snippet
        exec(compile(snippet, "card", "exec"), scopes.setdefault(repo_type, {}))  # main has no model, no data
    assert scopes["dataset"]["names"] == _spec().label_names and scopes["dataset"]["ds"]["train"].num_rows > 0
    assert scopes["model"]["results"][0][0]["label"] in _spec().label_names
    publish_model(student, repo_id=model, revision="main", exist_ok=True)
    assert "revision=" not in hub.stub.read_file(model, "README.md").decode("utf-8")


def test_a_push_that_fails_after_creating_the_repo_names_the_rerun(
    hub, student: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A failure after the repo was created (here: a pull request that does not exist) left a repo that a rerun
    refused with "already exists": the error now names the revision and --exist-ok for the rerun."""
    repo = f"{hub.user}/pr-model"
    code, _, err = run_cli(["publish", "model", str(student), "--repo-id", repo, "--revision", "refs/pr/7"], capsys)
    line = err.strip().splitlines()[-1]
    assert code == 2 and "HTTP 404" in line and "no revision 'refs/pr/7'" in line
    assert f"repo '{repo}' was created" in line and "--exist-ok" in line
    code, _, err = run_cli(["publish", "model", str(student), "--repo-id", repo, "--exist-ok"], capsys)
    assert code == 0, err
    assert "model.safetensors" in hub.stub.list_files(repo)


def test_a_space_for_a_model_folder_that_is_not_here_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mistyped model folder became a Space for the Hub model of that name, linked to huggingface.co/studnet."""
    data = tmp_path / "texts.csv"
    data.write_text("text\nProfit rose\n", encoding="utf-8")
    for missing, extra in [
        ("studnet", []),
        (str(tmp_path / "studnet"), []),
        ("./models/studnet", ["--data", str(data)]),
    ]:
        out = tmp_path / "space"
        argv = ["publish", "space", missing, "--repo-id", "me/demo", "--to", str(out), *extra]
        code, _, err = run_cli(argv, capsys)
        assert code == 2, err
        assert err.strip() == (
            f"Error: model {missing!r} is neither a model folder here nor a Hub model id (owner/name); pass the "
            "folder sxhub train wrote, or the model's repo id."
        )
        assert not out.exists()
    code, _, err = run_cli(["publish", "space", "me/student", "--repo-id", "me/demo", "--to", str(out)], capsys)
    assert code == 0, err
    assert json.loads((out / "config.json").read_text())["model"] == "me/student"


def test_repo_ids_without_a_namespace_are_not_linked(
    tmp_path: Path, labelled: tuple[Path, Path], student: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``sxhub run`` without --push names its repos by the task alone: the model card linked
    huggingface.co/datasets/fin, listed ``fin`` as its dataset (which the Hub links too) and its sxhub.json gave the
    Space links to huggingface.co/fin-student: pages that do not exist, since every Hub repo has a namespace. Where
    the namespace is unknown nothing links; a namespaced id still does. (``publish --to`` refuses a bare --repo-id.)
    """
    from huggingface_hub import ModelCard

    from sxhub.publish import publish_model

    data, _ = labelled
    folder = tmp_path / "model"
    args = ["publish", "model", str(student), "--to", str(folder), "--data", str(data), "--gold", "gold"]
    # as sxhub run without --push writes its repo folders
    publish_model(student, repo_id="fin-student", dataset_repo="fin", to=folder, data=data, gold="gold")
    card = ModelCard.load(folder / "README.md")
    assert "huggingface.co/datasets/fin" not in card.text and "huggingface.co/fin-student" not in card.text
    assert card.data.datasets is None
    about = json.loads((folder / "sxhub.json").read_text())["about"]
    assert about["model_repo"] is None and about["dataset_repo"] is None

    code, _, err = run_cli([*args, "--repo-id", "me/fin-student", "--dataset-repo", "me/fin", "--exist-ok"], capsys)
    assert code == 0, err
    card = ModelCard.load(folder / "README.md")
    assert "[me/fin](https://huggingface.co/datasets/me/fin)" in card.text and card.data.datasets == ["me/fin"]
    about = json.loads((folder / "sxhub.json").read_text())["about"]
    assert about["model_repo"] == "me/fin-student" and about["dataset_repo"] == "me/fin"


def test_cards_written_without_a_namespace_load_a_placeholder_that_says_how_to_push(
    tmp_path: Path, labelled: tuple[Path, Path], student: Path
) -> None:
    """``sxhub run`` without --push writes its repo folders under the bare task name: their cards' code loaded it
    (``pipeline(model="fin")``, ``load_dataset("fin")``), which is no Hub repo (every repo has a namespace) nor the
    folder, so the snippet a reader copied failed with "not a valid model identifier", and a folder uploaded as it was
    kept the wrong id. The code now loads ``NAMESPACE/fin`` (the id ``--push NAMESPACE`` gives it), and the card says
    it is a placeholder and how to push; a namespaced id is loaded as given, without the note."""
    from huggingface_hub import DatasetCard, ModelCard

    from sxhub.publish import publish_dataset, publish_model

    data, task = labelled
    # as sxhub run without --push writes its repo folders (sxhub.run_checks.repo_ids)
    publish_dataset(data, spec=task, repo_id="fin", to=tmp_path / "dataset")
    publish_model(student, repo_id="fin", dataset_repo="fin", to=tmp_path / "model", data=data)
    for kind, load in (("model", 'pipeline("text-classification", model='), ("dataset", "load_dataset(")):
        text = (tmp_path / kind / "README.md").read_text(encoding="utf-8")
        assert f'{load}"fin"' not in text
        assert f'{load}"NAMESPACE/fin"' in text
        assert "`NAMESPACE/fin` stands for the repo this folder is pushed to" in text
        assert "sxhub run TASK INPUT --push NAMESPACE" in text
    # the YAML still loads as a Hub card (the note is in the text, not the metadata)
    assert ModelCard.load(tmp_path / "model" / "README.md").data.pipeline_tag == "text-classification"
    assert DatasetCard.load(tmp_path / "dataset" / "README.md").data.pretty_name

    publish_dataset(data, spec=task, repo_id="me/fin", to=tmp_path / "dataset2")
    publish_model(student, repo_id="me/fin-student", dataset_repo="me/fin", to=tmp_path / "model2", data=data)
    model_card = (tmp_path / "model2" / "README.md").read_text(encoding="utf-8")
    dataset_card = (tmp_path / "dataset2" / "README.md").read_text(encoding="utf-8")
    assert 'model="me/fin-student"' in model_card and 'load_dataset("me/fin")' in dataset_card
    assert "NAMESPACE" not in model_card and "NAMESPACE" not in dataset_card


@pytest.mark.parametrize("target", ["dataset", "model", "space"])
def test_a_repo_id_without_namespace_is_refused_with_to(
    tmp_path: Path, labelled: tuple[Path, Path], student: Path, capsys: pytest.CaptureFixture[str], target: str
) -> None:
    """``publish dataset SRC --repo-id fin --to DIR`` wrote a folder whose card loads ``load_dataset("fin")`` (and
    a model's ``pipeline(model="fin")``): pushing puts the token's namespace in front of a bare name, but --to asks
    no token, and the folder uploaded later as YOU/fin kept the bare id. Refused for every target, in one line naming
    the fix, before anything is written; NAMESPACE/NAME writes the folder, and the card names that id."""
    data, task = labelled
    source = [str(data), "--task", str(task)] if target == "dataset" else [str(student)]
    out = tmp_path / "out"
    argv = ["publish", target, *source, "--to", str(out), "--repo-id"]
    code, stdout, err = run_cli([*argv, "fin"], capsys)
    assert code == 2 and stdout == "" and not out.exists()
    assert err.strip().splitlines() == [
        "Error: --repo-id 'fin' has no namespace, and with --to no token puts its own in front (as a push does): "
        "the folder would be written for the repo 'fin', which is no Hub repo; pass --repo-id NAMESPACE/NAME, the "
        "repo you will upload the folder to (e.g. 'your-name/fin')."
    ]
    code, _, err = run_cli([*argv, "fin/"], capsys)  # an invalid id keeps its own line
    assert (
        code == 2 and err.strip().splitlines()[-1].startswith("Error: repo id 'fin/' is invalid") and not out.exists()
    )
    code, _, err = run_cli([*argv, "me/fin"], capsys)
    assert code == 0, err
    card = (out / "README.md").read_text(encoding="utf-8")
    if target == "dataset":
        assert 'load_dataset("me/fin")' in card
    elif target == "model":
        assert 'model="me/fin"' in card
        # the dataset repo a model card links: a push puts the token's namespace in front of a bare one
        # (publish.dataset_namespace); with --to it named a repo the dataset is never uploaded as
        code, stdout, err = run_cli([*argv, "me/fin", "--exist-ok", "--dataset-repo", "fin-data"], capsys)
        assert code == 2 and stdout == ""
        assert err.strip().splitlines() == [
            "Error: --dataset-repo 'fin-data' has no namespace, and with --to no token puts its own in front (as a "
            "push does): the model card would name the dataset repo 'fin-data', which is no Hub repo; pass "
            "--dataset-repo NAMESPACE/NAME, the repo you will upload the dataset to (e.g. 'your-name/fin-data')."
        ]
        assert (out / "README.md").read_text(encoding="utf-8") == card


def test_a_bare_dataset_repo_of_a_pushed_model_is_the_tokens_as_the_pushed_dataset_is(
    labelled: tuple[Path, Path], student: Path, hub, capsys: pytest.CaptureFixture[str], caplog
) -> None:
    """``publish dataset ... --repo-id fin`` pushes to USER/fin, but ``publish model --dataset-repo fin`` then
    named a bare 'fin' in the card (no link, no revision, model-index on a dataset that does not exist) and warned
    that the dataset just pushed was "not on the Hub". Pushing, a bare --dataset-repo is the token's, as
    --repo-id is."""
    from huggingface_hub import HfApi, ModelCard

    data, task = labelled
    code, _, err = run_cli(["publish", "dataset", str(data), "--task", str(task), "--repo-id", "fin"], capsys)
    assert code == 0, err
    sha = HfApi().dataset_info(f"{hub.user}/fin").sha
    with caplog.at_level("WARNING"):
        code, _, err = run_cli(
            ["publish", "model", str(student), "--repo-id", "fin-model", "--dataset-repo", "fin"], capsys
        )
    assert code == 0, err
    assert "is not on the Hub" not in caplog.text
    assert f"--dataset-repo 'fin' has no namespace: the model card links '{hub.user}/fin'" in caplog.text
    card = ModelCard(hub.stub.read_file(f"{hub.user}/fin-model", "README.md").decode())
    assert card.data.datasets == [f"{hub.user}/fin"]
    assert f"[{hub.user}/fin]({hub.url}/datasets/{hub.user}/fin) at revision [`{sha[:12]}`]" in card.text


def _table_rows_with_too_many_cells(card: str) -> list[str]:
    """The rows of the card's Markdown tables whose cell count is not their header's: GitHub-flavoured Markdown
    (the Hub's) splits cells at every '|' not escaped with a backslash, inside a `code span` too."""
    import re

    bad, width = [], None
    for line in card.splitlines():
        if not line.startswith("|"):
            width = None
            continue
        cells = len(re.split(r"(?<!\\)\|", line.strip().strip("|")))
        if width is None:
            width = cells
        elif cells != width:
            bad.append(line)
    return bad


def test_label_names_with_a_pipe_stay_in_their_table_cell(tmp_path: Path) -> None:
    """A label named 'anger|rage' (a pipe in a name, e.g. one label for two words) opened a new column in every
    card table that names labels: in the Labels table its definition went under 'definition' and the threshold
    column showed the definition, and the label distribution, per-label scores and the training table shifted
    the same way, on the Hub's rendering, although the label name was in a `code span`."""
    from sxhub.publish import publish_dataset, publish_model

    names = ["anger|rage", "joy, pure", "other"]
    spec = TaskSpec(name="odd", labels=names, multi_label=True)
    rows = [[names[i % 3]] + ([names[(i + 1) % 3]] if i % 4 == 0 else []) for i in range(40)]
    frame = pd.DataFrame(
        {"text": [f"text {i}" for i in range(40)], "labels": rows, "gold": [json.dumps(r) for r in rows]}
    )
    student = make_student(tmp_path / "student", spec)
    info = json.loads((student / "sxhub.json").read_text())
    info["thresholds"] = dict.fromkeys(names, 0.5)
    info["train"]["untuned_labels"] = ["anger|rage"]
    (student / "sxhub.json").write_text(json.dumps(info))
    cards = {
        "dataset": Path(publish_dataset(frame, spec=spec, to=tmp_path / "d", repo_id="me/d", gold="gold")),
        "model": Path(publish_model(student, to=tmp_path / "m", repo_id="me/m")),
    }
    for kind, folder in cards.items():
        card = (folder / "README.md").read_text(encoding="utf-8")
        assert "`anger\\|rage`" in card, kind
        assert _table_rows_with_too_many_cells(card) == [], kind


def test_an_evaluation_against_one_flag_column_per_label_reads_as_such(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`sxhub evaluate --gold labels --json` on GoEmotions' layout (one 0/1 column per label), given to `publish
    model --evaluation`: the card said "against its `the 3 true/false label columns` column"."""
    spec = _spec(multi_label=True)
    student = make_student(tmp_path / "student", spec)
    data = tmp_path / "flags.csv"
    flags = {n: [int((i + k) % 3 == 0) for i in range(12)] for k, n in enumerate(spec.label_names)}
    pd.DataFrame({"text": [f"company profit rose {i}" for i in range(12)], **flags}).to_csv(data, index=False)
    code, out, err = run_cli(["evaluate", str(student), str(data), "--gold", "labels", "--json"], capsys)
    assert code == 0, err
    evaluation = tmp_path / "eval.json"
    evaluation.write_text(out)
    argv = ["publish", "model", str(student), "--to", str(tmp_path / "m"), "--repo-id", "me/m"]
    code, _, err = run_cli([*argv, "--evaluation", str(evaluation)], capsys)
    assert code == 0, err
    card, _ = _card(tmp_path / "m")
    assert "on 12 texts of a file given when this card was made against its 3 true/false label columns," in card
    assert "true/false label columns` column" not in card


def test_a_rejected_or_read_only_token_names_where_it_came_from(
    hub, student: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stale HF_TOKEN answered 401 with "check it with `hf auth whoami` or pass --token": HF_TOKEN is read before
    the saved login, so `hf auth login` changed nothing and `hf auth whoami` showed the same token. The line names
    where the token came from and what to change there; a read-only token (403) the same, asking for write access."""
    from huggingface_hub import HfApi, constants

    repo = f"{hub.user}/tok-model"
    argv = ["publish", "model", str(student), "--repo-id", repo]

    monkeypatch.setenv("HF_TOKEN", "invalid_stale")
    code, _, err = run_cli(argv, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "HTTP 401" in err and "set HF_TOKEN to a valid token, or unset it" in err

    code, _, err = run_cli([*argv, "--token", "invalid_given"], capsys)
    assert code == 2 and "pass a valid token with --token" in err

    monkeypatch.delenv("HF_TOKEN")
    Path(constants.HF_TOKEN_PATH).parent.mkdir(parents=True, exist_ok=True)
    Path(constants.HF_TOKEN_PATH).write_text("invalid_saved", encoding="utf-8")
    code, _, err = run_cli(argv, capsys)
    assert code == 2 and "run `hf auth login` with a valid token" in err

    monkeypatch.setenv("HF_TOKEN", "read_only_token")
    code, _, err = run_cli(argv, capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "HTTP 403" in err and "set HF_TOKEN to a token with write access" in err
    assert not HfApi(token=hub.token).repo_exists(repo)  # refused before anything was made

    monkeypatch.setenv("HF_TOKEN", hub.token)
    assert run_cli(argv, capsys)[0] == 0
    monkeypatch.setenv("HF_TOKEN", "read_only_token")  # the repo exists: create_repo passes, the upload is refused
    code, _, err = run_cli([*argv, "--exist-ok"], capsys)
    assert code == 2 and "HTTP 403" in err and "uploading to" in err and "HF_TOKEN" in err


def test_a_push_interrupted_after_creating_the_repo_says_to_rerun_with_exist_ok(
    hub, student: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C during the upload of a new repo said "nothing half-written is left ...; a rerun starts over", and the
    rerun stopped at "already exists": the repo had been created. The line now names the repo and --exist-ok."""
    from huggingface_hub import HfApi

    real = HfApi.upload_folder

    def interrupted(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(HfApi, "upload_folder", interrupted)
    repo = f"{hub.user}/cut-model"
    argv = ["publish", "model", str(student), "--repo-id", repo]
    code, _, err = run_cli(argv, capsys)
    assert code == 130
    assert f"the model repo {repo!r} was created before the upload finished: run again with --exist-ok" in err
    assert "starts over" not in err
    code, _, err = run_cli([*argv, "--exist-ok"], capsys)  # still interrupted: the repo existed, nothing to add
    assert code == 130 and "--exist-ok" not in err
    monkeypatch.setattr(HfApi, "upload_folder", real)
    code, _, err = run_cli([*argv, "--exist-ok"], capsys)
    assert code == 0, err
    assert "model.safetensors" in hub.stub.list_files(repo)


def test_a_dataset_repo_the_hub_does_not_have_is_warned_of(
    hub,
    labelled: tuple[Path, Path],
    student: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``publish model --dataset-repo`` with a mistyped id published a card that links a dataset page that does not
    exist (and a model-index citing it), exit 0 without a word. It is said in a warning; an existing dataset's latest
    commit is cited, without one."""
    data, task = labelled
    repo = f"{hub.user}/ds-model"
    argv = ["publish", "model", str(student), "--repo-id", repo, "--exist-ok", "--dataset-repo"]
    with caplog.at_level("WARNING", logger="sxhub.hub"):
        code, _, err = run_cli([*argv, f"{hub.user}/fin-snet"], capsys)
    assert code == 0, err
    assert f"dataset repo '{hub.user}/fin-snet' is not on the Hub" in caplog.text
    caplog.clear()
    assert (
        run_cli(["publish", "dataset", str(data), "--task", str(task), "--repo-id", f"{hub.user}/fin-sent"], capsys)[0]
        == 0
    )
    with caplog.at_level("WARNING", logger="sxhub.hub"):
        code, _, err = run_cli([*argv, f"{hub.user}/fin-sent"], capsys)
    assert code == 0, err
    assert "is not on the Hub" not in caplog.text
    sha = hub.stub.repo(f"{hub.user}/fin-sent", repo_type="dataset").branches["main"]
    assert sha in hub.stub.read_file(repo, "README.md").decode()


def test_a_full_disk_while_the_repo_folder_is_written_is_one_line_naming_the_fix(
    hub, student: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk while the weights were copied into the repo folder ended in "Error: Error: [('...', '...',
    '[Errno 28] No space left on device: ...')]" (shutil.copytree gathers the OSError into strings), exit 1: no fix
    named. It is one line naming the file and the fix: TMPDIR for a push (its card is written in the temporary
    folder), another --to for a folder; nothing is pushed and the folder is as it was."""
    import errno
    import shutil

    from huggingface_hub import HfApi, ModelCard

    def card_full(self: Any, filepath: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(filepath))

    with monkeypatch.context() as patched:
        patched.setattr(ModelCard, "save", card_full)
        repo = f"{hub.user}/full-model"
        code, _, err = run_cli(["publish", "model", str(student), "--repo-id", repo], capsys)
    (line,) = err.strip().splitlines()
    assert code == 1 and line.startswith("Error: no space left on the device writing '")
    assert "README.md'" in line and "set TMPDIR" in line and f"nothing was pushed to {repo!r}" in line
    assert not HfApi().repo_exists(repo)

    real = shutil.copyfile

    def full(src: Any, dst: Any, *args: Any, **kwargs: Any) -> Any:
        if str(dst).endswith(".safetensors"):
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(shutil, "copyfile", full)
    out = tmp_path / "repo"
    code, _, err = run_cli(["publish", "model", str(student), "--repo-id", repo, "--to", str(out)], capsys)
    (line,) = err.strip().splitlines()
    assert code == 1 and "no space left on the device" in line and "pass a --to on a disk with room" in line
    assert not out.exists() or not any(out.iterdir())


def test_an_hf_endpoint_with_a_trailing_slash_is_read_as_huggingface_hub_reads_it(
    hub: HubFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``HF_ENDPOINT=https://hub.example/`` (a slash at the end, as a URL is often copied) was passed to ``HfApi`` as
    given, so every request went to ``//api/...``; huggingface_hub's own default strips it
    (``constants.ENDPOINT = os.getenv("HF_ENDPOINT", ...).rstrip("/")``). sxhub now does the same."""
    from sxhub.hub import hub_api

    monkeypatch.setenv("HF_ENDPOINT", hub.url + "/")
    api = hub_api(hub.token)
    assert api.endpoint == hub.url.rstrip("/")
    api.create_repo("tester/slash-model")  # and the stub is reached at its routes
    assert "tester/slash-model" in {m.id for m in api.list_models(author="tester")}


def test_the_cards_and_the_spaces_link_the_hub_they_were_pushed_to(
    hub: HubFixture, labelled: tuple[Path, Path], student: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With ``HF_ENDPOINT`` set (an Enterprise Hub deployment, a mirror, this stand-in) the pushed model card linked
    its dataset, the dataset's revision and its base model on huggingface.co, and the Space (README and page) and
    the review Space their repos there, where none of them is. Every link now names the Hub pushed to, as
    huggingface_hub's own URLs do (the printed repo URLs); with no ``HF_ENDPOINT``, huggingface.co (test_space)."""
    from types import SimpleNamespace

    from huggingface_hub import HfApi

    from sxhub.review import publish_review
    from sxhub.space import load_app_module

    data, task = labelled
    ds, model, space = (f"{hub.user}/{name}" for name in ("fin", "fin-model", "fin-demo"))
    for argv in (
        ["publish", "dataset", str(data), "--task", str(task), "--repo-id", ds],
        ["publish", "model", str(student), "--repo-id", model, "--dataset-repo", ds],
        ["publish", "space", str(student), "--repo-id", space, "--model-repo", model, "--dataset-repo", ds],
    ):
        code, out, err = run_cli(argv, capsys)
        assert code == 0, err
        assert out.strip().startswith(hub.url + "/"), out  # the printed repo URL: huggingface_hub's RepoUrl
    sha = HfApi().dataset_info(ds).sha
    card = hub.stub.read_file(model, "README.md").decode()
    assert f"[{ds}]({hub.url}/datasets/{ds}) at revision [`{sha[:12]}`]({hub.url}/datasets/{ds}/tree/{sha})" in card
    base = "sentence-transformers/all-MiniLM-L6-v2"  # the card's base_model, which the Hub holding it resolves
    assert f"[`{base}`]({hub.url}/{base})" in card
    readme = hub.stub.read_file(space, "README.md", repo_type="space").decode()
    assert f"[{model}]({hub.url}/{model})" in readme and f"[{ds}]({hub.url}/datasets/{ds})" in readme
    about = json.loads(hub.stub.read_file(space, "config.json", repo_type="space"))["about"]
    expert = SimpleNamespace(
        multi_label=False, info={}, backend="torch", model=model, preprocessing={"max_length": 64}
    )
    page = load_app_module().describe(expert, about)
    assert f"model [{model}]({hub.url}/{model}) · dataset [{ds}]({hub.url}/datasets/{ds})" in page
    del about["hub_url"]  # a Space published before sxhub wrote its Hub: huggingface.co, as it linked then
    assert f"model [{model}](https://huggingface.co/{model})" in load_app_module().describe(expert, about)
    review = Path(publish_review(data, dataset_repo=ds, spec=task, to=tmp_path / "review"))
    assert f"[{ds}]({hub.url}/datasets/{ds})" in (review / "README.md").read_text(encoding="utf-8")
    for text in (card, readme, page, (review / "README.md").read_text(encoding="utf-8")):
        assert "https://huggingface.co/" not in text


def test_each_publish_commits_what_it_published(
    hub: HubFixture, labelled: tuple[Path, Path], student: Path, tmp_path: Path
) -> None:
    """Every publish was committed as "Publish with sxhub VERSION": a repo's history did not say whether a commit
    brought new data, a model trained on which dataset revision, or its scores. Each kind now says what it is, as
    transformers' "Upload model" and datasets' "Upload dataset" do, with the detail in the description."""
    from huggingface_hub import HfApi

    from sxhub import __version__
    from sxhub.publish import publish_dataset, publish_model, publish_space
    from sxhub.review import publish_review

    data, task = labelled
    ds, model = f"{hub.user}/fin", f"{hub.user}/fin-model"
    publish_dataset(data, spec=task, repo_id=ds, gold="gold")
    sha = HfApi().dataset_info(ds).sha
    publish_model(student, repo_id=model, dataset_repo=ds, data=data, gold="gold")
    publish_space(student, repo_id=f"{hub.user}/fin-demo", dataset_repo=ds)
    publish_space(student, repo_id=f"{hub.user}/fin-demo2", model_repo=model)
    publish_review(data, dataset_repo=ds, spec=task, repo_id=f"{hub.user}/fin-review")

    def last(repo_id: str, repo_type: str = "model") -> tuple[str, str]:
        commit = HfApi().list_repo_commits(repo_id, repo_type=repo_type)[0]
        return commit.title, commit.message

    end = f" (sxhub {__version__})"
    assert last(ds, "dataset") == (
        f"Upload dataset: 39 labelled texts{end}",
        "Splits: train 31, validation 4, test 4.",
    )
    title, message = last(model)
    assert title == f"Upload model trained on {ds}@{sha[:12]}{end}"
    assert message.startswith("Fine-tuned from sentence-transformers/all-MiniLM-L6-v2.\nScores (test split):\n")
    assert "- student vs experts: accuracy " in message and " on 4 texts" in message
    assert last(f"{hub.user}/fin-demo", "space") == (
        f"Upload Space serving the model in model/{end}",
        f"Dataset: {ds}.",
    )
    assert last(f"{hub.user}/fin-demo2", "space") == (f"Upload Space serving {model}{end}", "")
    assert last(f"{hub.user}/fin-review", "space") == (
        f"Upload review Space: 39 texts to review{end}",
        f"Decisions are committed to dataset {ds} under review/decisions/.",
    )


@pytest.mark.parametrize("target", ["model", "space"])
def test_a_push_uploads_the_model_files_from_the_model_folder_not_a_copy_in_tmpdir(
    hub: HubFixture, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    """A push copied the whole model folder into a temporary folder before the upload, so a model needed twice its
    size free in TMPDIR, and a full TMPDIR failed the push ("no space left on the device writing
    '.../model.safetensors'; ... set TMPDIR") although the Hub had room. The model's files are uploaded from where
    they are: with TMPDIR refusing every copy of them, the push goes through, in one commit, with the files and bytes that
    --to writes as real files, and nothing is written into the model folder."""
    import errno
    import shutil
    import tempfile

    student = make_student(tmp_path / "student", _spec())
    (student / "README.md").write_text("the card of the repo it was cloned from\n", encoding="utf-8")
    before = {p: p.read_bytes() for p in student.rglob("*") if p.is_file()}
    tmpdir = (tmp_path / "tmpdir").resolve()
    tmpdir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
    real = shutil.copyfile

    def tmpdir_full(src: Any, dst: Any, *args: Any, **kwargs: Any) -> Any:
        # TMPDIR has room for what sxhub writes (cards, app.py), not for a copy of the model
        if Path(src).resolve().is_relative_to(student.resolve()) and Path(dst).resolve().is_relative_to(tmpdir):
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real(src, dst, *args, **kwargs)

    monkeypatch.setattr(shutil, "copyfile", tmpdir_full)
    repo, repo_type = f"{hub.user}/fin-{target}", "space" if target == "space" else "model"
    code, _, err = run_cli(["publish", target, str(student), "--repo-id", repo], capsys)
    assert code == 0, err
    assert {p: p.read_bytes() for p in student.rglob("*") if p.is_file()} == before  # nothing written through
    assert not any(tmpdir.iterdir())

    out = tmp_path / "folder"
    code, _, err = run_cli(["publish", target, str(student), "--repo-id", repo, "--to", str(out)], capsys)
    assert code == 0, err
    written = {
        str(p.relative_to(out)): p for p in out.rglob("*") if p.is_file() and ".cache" not in p.relative_to(out).parts
    }
    assert not any(p.is_symlink() for p in out.rglob("*"))  # --to: real files, not links
    weights = "model/model.safetensors" if target == "space" else "model.safetensors"
    assert written[weights].read_bytes() == before[student / "model.safetensors"]
    pushed = set(hub.stub.list_files(repo, repo_type=repo_type)) - {".gitattributes"}
    assert pushed == set(written)
    for name, path in written.items():
        assert hub.stub.read_file(repo, name, repo_type=repo_type) == path.read_bytes(), name
    assert len(hub.stub.repo(repo, repo_type=repo_type).history("main")) == 2  # the repo's first commit, and ours


@pytest.mark.parametrize("push", [True, False])
def test_a_full_disk_that_names_no_file_names_the_folder_being_written(
    hub: HubFixture,
    labelled: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    push: bool,
) -> None:
    """A dataset too large for TMPDIR (pyarrow's ENOSPC names no file) ended in "no space left on the device; free
    space there, or set TMPDIR ...": there was nowhere. The line names the folder being written."""
    import errno
    import tempfile

    from datasets import Dataset

    def full(self: Any, path_or_buf: Any, *args: Any, **kwargs: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")  # as pyarrow raises it: no file name

    monkeypatch.setattr(Dataset, "to_parquet", full)
    tmpdir = (tmp_path / "tmpdir").resolve()
    tmpdir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
    data, task = labelled
    repo = f"{hub.user}/full-data"
    where = [] if push else ["--to", str(tmp_path / "ds")]
    code, _, err = run_cli(["publish", "dataset", str(data), "--task", str(task), "--repo-id", repo, *where], capsys)
    (line,) = err.strip().splitlines()
    assert code == 1
    folder = str(tmpdir / "sxhub-publish-") if push else str(tmp_path / ".ds.sxhub-")
    assert line.startswith(f"Error: no space left on the device writing '{folder}"), line
    assert "free space there" in line


def _varied_rows(spec: TaskSpec, *, scored: bool) -> list[dict[str, Any]]:
    """Annotate-style rows whose votes take every shape :func:`sxhub.votes_column._vote` reads: two teachers,
    failed votes and failed rows, a missing reason, a field annotate no longer writes, a text without votes, and (a
    scoring teacher's) label scores, some of them empty."""
    rows = _rows(spec, n=60)
    names = spec.label_names
    for i, row in enumerate(rows):
        for vote in row["votes"]:
            vote["latency"] = None
            vote["scores"] = None
        if i % 7 == 0:
            row["votes"][0]["reason"] = None
        if i % 5 == 0 and not row["failed"]:
            row["votes"].append(
                {"teacher": "other", "sample": 0, "labels": None, "reason": "", "error": "503", "raw": ""}
                | {"latency": 1.5, "scores": None}
            )
        if scored and i % 2 == 0:
            for k, vote in enumerate(row["votes"]):
                p = [0.2 + 0.1 * (k % 2), 0.5, 0.3 - 0.1 * (k % 2)]
                vote["scores"] = (
                    [] if k == 1 and i % 4 == 0 else [{"label": n, "p": q} for n, q in zip(names, p, strict=True)]
                )
    rows[3]["votes"] = None  # labelled with no votes (a reviewer's label)
    rows[4]["failed"], rows[4][spec.label_column] = True, None
    return rows


@pytest.mark.parametrize(
    ("multi_label", "scored", "internals"),
    [(False, False, True), (True, False, True), (False, True, True), (True, True, True), (True, True, False)],
)
def test_a_parquet_files_votes_kept_as_arrow_publish_what_python_votes_did(
    tmp_path: Path, multi_label: bool, scored: bool, internals: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """publish dataset of a 1M-row annotate output peaked at 4.2 GB: every vote became a Python dict (read as one by
    pandas first) and each split was built from them. A Parquet file's votes now stay one Arrow array, normalised
    in Arrow, taken per split and read batch by batch for the card; the folder written (data files byte for byte,
    card, plot) is the one the Python votes (the path a CSV, JSONL or DataFrame takes) write. ``internals=False``:
    a datasets release without the internal column typing sxhub uses falls back to its public from_dict, same
    files."""
    if not internals:
        import datasets.arrow_writer

        monkeypatch.delattr(datasets.arrow_writer, "OptimizedTypedSequence")
    from sxhub import votes_column
    from sxhub.data import read_table
    from sxhub.dataset_build import build_dataset
    from sxhub.publish import write_dataset_folder

    spec = _spec(multi_label)
    if scored:
        spec.vote = "scores"
    path = tmp_path / "labelled.parquet"
    pd.DataFrame(_varied_rows(spec, scored=scored)).to_parquet(path)
    _, facts = build_dataset(path, spec)
    assert isinstance(facts["frame"]["votes"].dtype, pd.ArrowDtype)  # never a Python dict per vote
    assert facts["n_failed"] == 2
    frame = read_table(path)
    assert frame["votes"].dtype == object

    votes_column.VOTES_BATCH = 7  # the card's figures read the votes in several batches
    try:
        arrow = write_dataset_folder(path, spec, tmp_path / "arrow", repo_id="me/x", gold="gold")
        python = write_dataset_folder(frame, spec, tmp_path / "python", repo_id="me/x", gold="gold")
    finally:
        votes_column.VOTES_BATCH = 20_000
    written = sorted(p.relative_to(python) for p in python.rglob("*") if p.is_file())
    assert written == sorted(p.relative_to(arrow) for p in arrow.rglob("*") if p.is_file())
    assert len([p for p in written if p.suffix == ".parquet"]) == 3
    for name in written:
        assert (arrow / name).read_bytes() == (python / name).read_bytes(), name
    card = (arrow / "README.md").read_text()
    assert "| `other` | all | 0/12 |" in card  # a teacher every request of which failed, counted


def test_a_parquet_file_whose_votes_are_corrupt_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The votes of a Parquet file are read after its other columns, a batch at a time: a corrupt page of votes
    (the other columns whole) ended publish dataset with pyarrow's own message and exit 1, where the file read whole
    had said it is not a readable Parquet file, with the fix, and exit 2."""
    spec = _spec()
    path = tmp_path / "labelled.parquet"
    pd.DataFrame(_rows(spec, n=200)).to_parquet(path)
    corrupt_parquet_pages(path, ".reason")
    task = tmp_path / "task.yaml"
    task.write_text(spec.to_yaml(), encoding="utf-8")
    code, _, err = run_cli(
        ["publish", "dataset", str(path), "--task", str(task), "--repo-id", "me/x", "--to", str(tmp_path / "ds")],
        capsys,
    )
    (line,) = err.strip().splitlines()
    assert code == 2
    assert "is not a readable Parquet file" in line and "re-export it" in line


def test_the_dataset_cards_expert_table_has_no_f1_for_a_label_neither_side_gave(tmp_path: Path) -> None:
    """A label no expert gave and no teacher gave was shown with precision, recall and F1 0.000 in the dataset
    card's agreement-with-experts table (scikit-learn's zero_division), as if the teachers had missed it, while the
    macro-F1 above leaves it out: '–', with the line that says why, as evaluate's and agree's tables show it."""
    from sxhub.publish import publish_dataset
    from sxhub.spec import TaskSpec

    names = ["positive", "neutral", "negative"]
    spec = TaskSpec(name="sc", labels=names)
    rows = [{"text": f"t{i}", "label": names[2 * (i % 2)], "gold": names[2 * (i % 3 == 0)]} for i in range(30)]
    folder = Path(publish_dataset(pd.DataFrame(rows), spec=spec, to=tmp_path / "ds", gold="gold"))
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert "| `neutral` | – | – | – | 0 |" in card
    assert "not in the reference labels and never predicted: no precision, recall or F1" in card
    assert "| `positive` | 0." in card  # the others keep their figures


@pytest.mark.parametrize(("n_labels", "align"), [(3, "center"), (8, "right")])
def test_the_label_plots_names_sit_under_their_bars(tmp_path: Path, n_labels: int, align: str) -> None:
    """The dataset card's label-distribution plot aligned every tick label right of its tick, so an upright name
    (five labels or fewer) stood left of its bars; upright names are centred on their tick now, slanted ones end
    at it."""
    from sxhub.cards import _plot_label_distribution, _pyplot

    real = _pyplot()
    kept: list[Any] = []

    class Keep:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def close(self, fig: Any) -> None:
            kept.append(fig)

    names = [f"label{i}" for i in range(n_labels)]
    counts = {"train": {n: 3 for n in names}, "test": {n: 1 for n in names}}
    _plot_label_distribution(Keep(), counts, names, tmp_path / "plot.png")
    (ax,) = kept[0].axes
    ticks = ax.get_xticklabels()
    assert [t.get_text() for t in ticks] == names and {t.get_horizontalalignment() for t in ticks} == {align}
    real.close(kept[0])


def test_the_cards_and_the_space_name_a_gold_column_that_is_not_named_for_experts(tmp_path: Path, capsys: Any) -> None:
    """`--gold gpt4` (another model's labels) was called "experts" in the model card ("student vs experts",
    '"experts" are human labels'), the dataset card ("## Agreement with experts", "holds expert labels") and the
    Space ("*experts* are people"). A column not named for people is now named as itself; `--gold gold` (or an
    `expert` column) reads as before."""
    from types import SimpleNamespace

    from sxhub.space import load_app_module

    spec = _spec()
    student = make_student(tmp_path / "student", spec)
    rows = _rows(spec)
    for row in rows:
        row["gpt4"] = row["gold"]
    data = tmp_path / "labelled.parquet"
    pd.DataFrame(rows).to_parquet(data)
    task = tmp_path / "task.yaml"
    task.write_text(spec.to_yaml(), encoding="utf-8")
    expert = SimpleNamespace(multi_label=False, info={}, backend="torch", model="m", preprocessing={"max_length": 8})
    pages = {}
    for gold in ("gpt4", "gold"):
        base = ["--data", str(data), "--gold", gold, "--repo-id", "me/fin-model"]
        code, _, err = run_cli(["publish", "model", str(student), *base, "--to", str(tmp_path / f"m-{gold}")], capsys)
        assert code == 0, err
        code, _, err = run_cli(["publish", "space", str(student), *base, "--to", str(tmp_path / f"s-{gold}")], capsys)
        assert code == 0, err
        argv = ["publish", "dataset", str(data), "--task", str(task), "--gold", gold, "--repo-id", "me/fin"]
        code, _, err = run_cli([*argv, "--to", str(tmp_path / f"d-{gold}")], capsys)
        assert code == 0, err
        about = json.loads((tmp_path / f"s-{gold}" / "config.json").read_text())["about"]
        pages[gold] = (
            _card(tmp_path / f"m-{gold}")[0],
            (tmp_path / f"d-{gold}" / "README.md").read_text(encoding="utf-8"),
            load_app_module().describe(expert, about),
            about,
        )
    card, dataset_card, page, about = pages["gpt4"]
    assert "| student vs `gpt4` |" in card and "student vs experts" not in card
    assert "`gpt4` is the --gold column the figures are scored against" in card and "human labels" not in card
    assert (
        "## Agreement with `gpt4`" in dataset_card and "The column `gpt4` holds the reference labels" in dataset_card
    )
    assert "alpha vs `gpt4`" in dataset_card and "experts" not in dataset_card.replace("synthetic experts", "")
    assert about["reference"] == "`gpt4`" and "student vs experts" in about["scores"]  # the data keeps its keys
    assert "| student vs `gpt4` |" in page and "`gpt4` is the --gold column, as given" in page
    assert "*experts* are people" not in page

    card, dataset_card, page, about = pages["gold"]
    assert "| student vs experts |" in card and '"experts" are human labels.' in card
    assert "## Agreement with experts" in dataset_card and "The column `gold` holds expert labels" in dataset_card
    assert "reference" not in about and "| student vs experts |" in page and "*experts* are people" in page


def _folder_with_every_split_held(source: Path, spec: TaskSpec, folder: Path, gold: str) -> None:
    """The dataset folder as ``write_dataset_folder`` wrote it before it released the written splits: the card's
    figures computed with the splits' Datasets and frames still held."""
    from sxhub.cards import LABEL_PLOT, plot_label_distribution, render_dataset_card
    from sxhub.dataset_build import build_dataset
    from sxhub.dataset_card import agreement_facts, dataset_card_data, dataset_context, label_counts

    dd, facts = build_dataset(source, spec, gold=gold)
    (folder / "data").mkdir(parents=True)
    for name, ds in dd.items():
        ds.to_parquet(str(folder / "data" / f"{name}-00000-of-00001.parquet"))
    counts = label_counts(facts["splits"], spec)
    plot_label_distribution(counts, spec.label_names, folder / LABEL_PLOT)
    agreement = agreement_facts(facts["frame"], spec)
    sizes = {name: len(ds) for name, ds in dd.items()}
    card = render_dataset_card(
        dataset_card_data(
            dd,
            spec,
            repo_id="me/x",
            has_votes=True,
            download_size=sum(f.stat().st_size for f in (folder / "data").glob("*.parquet")),
        ),
        **dataset_context(spec, sizes, facts, counts, agreement, repo_id="me/x", gold=gold, ledger=None),
    )
    card.save(folder / "README.md")


@pytest.mark.parametrize(("multi_label", "scored"), [(False, False), (True, False), (False, True)])
def test_publish_dataset_releases_the_written_splits_before_the_cards_figures(
    tmp_path: Path, multi_label: bool, scored: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """publish dataset of 1M texts peaked at 2.1 GB in the card's reliability figures, with the splits' Datasets
    (a second copy of every vote, and the texts as Arrow) still held though already written. They are released once
    written and the card's split figures taken: the card's figures run without them (their Arrow memory freed), and
    the folder is the one written with them held, byte for byte."""
    import weakref

    import pyarrow as pa

    from sxhub import publish
    from sxhub.votes_column import arrow_votes

    spec = _spec(multi_label)
    if scored:
        spec.vote = "scores"
    rows = [dict(r, text=f"{r['text']} {'x' * 200}") for r in _varied_rows(spec, scored=scored) * 30]
    path = tmp_path / "labelled.parquet"
    pd.DataFrame(rows).to_parquet(path)
    seen: dict[str, Any] = {}
    build, figures = publish.build_dataset, publish.agreement_facts

    def built(*args: Any, **kwargs: Any) -> Any:
        dd, facts = build(*args, **kwargs)
        seen["splits_held"] = [weakref.ref(ds) for ds in dd.values()]
        seen["held"] = pa.total_allocated_bytes()
        seen["splits"] = sum(ds.data.nbytes for ds in dd.values())
        return dd, facts

    def counted(frame: pd.DataFrame, spec: TaskSpec) -> Any:
        assert all(ref() is None for ref in seen["splits_held"])  # the written splits are gone
        seen["during"] = pa.total_allocated_bytes()
        assert seen["during"] <= arrow_votes(frame["votes"]).nbytes * 1.5  # the frame's votes, all Arrow still holds
        return figures(frame, spec)

    monkeypatch.setattr(publish, "build_dataset", built)
    monkeypatch.setattr(publish, "agreement_facts", counted)
    new = publish.write_dataset_folder(path, spec, tmp_path / "new", repo_id="me/x", gold="gold")
    assert seen["held"] - seen["during"] >= 0.9 * seen["splits"]
    monkeypatch.undo()

    _folder_with_every_split_held(path, spec, tmp_path / "held", "gold")
    held = tmp_path / "held"
    written = sorted(p.relative_to(new) for p in new.rglob("*") if p.is_file())
    assert written == sorted(p.relative_to(held) for p in held.rglob("*") if p.is_file())
    assert len(written) == 5  # 3 splits, the card, the plot
    for name in written:
        assert (new / name).read_bytes() == (held / name).read_bytes(), name


def test_equal_strings_of_a_published_column_are_one_object_and_write_the_same_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every cell read was its own Python string: the label and expert columns of 1M rows held ~57 MB each for three
    names. Equal strings are one object now (a column of distinct texts only its first ``SHARED_STRINGS``), and the
    folder written is the same as with none shared."""
    from sxhub import dataset_build
    from sxhub.dataset_build import build_dataset
    from sxhub.publish import write_dataset_folder

    spec = _spec()
    path = tmp_path / "labelled.parquet"
    pd.DataFrame(_rows(spec, n=300)).to_parquet(path)
    monkeypatch.setattr(dataset_build, "SHARED_STRINGS", 50)
    frame = build_dataset(path, spec)[1]["frame"]
    assert len({id(v) for v in frame["gold"]}) == 3 and len({id(v) for v in frame["label"]}) == 3
    rows = _rows(spec, n=300)[:-1]  # the last one failed
    assert frame["gold"].tolist() == [r["gold"] for r in rows] and frame["text"].tolist() == [r["text"] for r in rows]
    shared = write_dataset_folder(path, spec, tmp_path / "shared", repo_id="me/x", gold="gold")
    monkeypatch.setattr(dataset_build, "SHARED_STRINGS", 0)
    own = write_dataset_folder(path, spec, tmp_path / "own", repo_id="me/x", gold="gold")
    written = sorted(p.relative_to(own) for p in own.rglob("*") if p.is_file())
    assert written == sorted(p.relative_to(shared) for p in shared.rglob("*") if p.is_file())
    for name in written:
        assert (shared / name).read_bytes() == (own / name).read_bytes(), name


def test_publish_from_python_names_the_parameters_beside_the_flags(
    tmp_path: Path, labelled: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    """A notebook's publish_model(folder, to=...) logged 'pass --repo-id with the id you will upload the folder to'
    and its refusals said 'pass --repo-id ... or --to DIR', 'pass --exist-ok': options a Python caller has no way to
    pass. Each now names the parameter beside the flag (the form of predict's '--int8 (Python: int8=False)')."""
    from sxhub import publish_dataset, publish_model
    from sxhub.errors import PublishError

    data, task = labelled
    student = make_student(tmp_path / "student", _spec())
    with caplog.at_level("WARNING", logger="sxhub.hub"):
        assert publish_model(student, to=tmp_path / "m") == str(tmp_path / "m")
    assert "pass --repo-id (Python: repo_id=) with the id you will upload the folder to" in caplog.text
    refusals = {
        "nothing to publish to: pass --repo-id NAMESPACE/NAME (the Hub) or --to DIR (a folder) (Python: repo_id= or "
        "to=).": lambda: publish_dataset(data, spec=task),
        f"folder {str(tmp_path / 'm')!r} is not empty; pass --exist-ok (Python: exist_ok=True) to write into it "
        "anyway.": lambda: publish_model(student, to=tmp_path / "m"),
        f"--to {str(student / 'repo')!r} is the folder being published, {str(student)!r}, or lies in it, so the repo "
        f"folder would copy itself; pass a --to outside {str(student)!r} (Python: to=).": lambda: publish_model(
            student, to=student / "repo"
        ),
    }
    for message, call in refusals.items():
        with pytest.raises(PublishError) as refused:
            call()
        assert str(refused.value) == message


def test_the_cards_language_is_a_code_the_hub_accepts(
    tmp_path: Path, labelled: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A task's ``language: German`` went into the cards as written, which the Hub shows as "YAML Metadata Error"
    ('must be an ISO 639-1, 639-2 or 639-3 code'), as it does ``zh-Hant`` and ``de, fr``. A name is refused in one
    line naming the code, before any folder is written; a BCP-47 tag gives its language's code plus
    ``language_bcp47``; codes separated by commas give a list."""
    from huggingface_hub import DatasetCard

    data, _ = labelled
    for language, declared, bcp47 in (
        ("German", None, None),
        ("Deutsch", None, None),
        ("zh-Hant", ["zh"], ["zh-Hant"]),
        ("de, fr", ["de", "fr"], None),
        ("ar", ["ar"], None),
    ):
        spec = TaskSpec.from_dict({**_spec().to_dict(), "language": language})
        case = tmp_path / language.replace(", ", "-")
        case.mkdir()
        task = case / "task.yaml"
        task.write_text(spec.to_yaml(), encoding="utf-8")
        student = make_student(case / "student", spec)
        for target, source, extra in (("dataset", data, ["--task", str(task)]), ("model", student, [])):
            argv = ["publish", target, str(source), "--to", str(case / target), "--repo-id", "me/x", *extra]
            code, _, err = run_cli(argv, capsys)
            if declared is None:
                line = err.strip().splitlines()[-1]
                assert code == 2 and line.startswith(f"Error: language: {language!r} is not a language code"), err
                assert "ISO 639-1 code (de for " in line, line
                assert not (case / target).exists()
                continue
            assert code == 0, err
        if declared is None:
            continue
        for card in (_card(case / "model")[1], DatasetCard.load(case / "dataset" / "README.md").data):
            assert card.language == declared
            assert card.get("language_bcp47") == bcp47


def test_the_dataset_card_gives_the_texts_lengths(tmp_path: Path) -> None:
    """The card gave rows and labels only: a dataset of news articles and one of headlines read alike. It now gives
    the published texts' lengths in words and characters (min, median, 95th percentile, max); failed rows, which
    are left out, are not counted."""
    from sxhub.publish import publish_dataset

    spec = TaskSpec(name="news", labels=["positive", "negative"])
    paragraph = "Shares of the retailer rose after it raised its full-year outlook, citing strong holiday demand."
    article = "\n\n".join([paragraph] * 20)  # 20 paragraphs, 300 words
    texts = [f"headline {i} about markets" for i in range(19)] + [article]
    frame = pd.DataFrame({"text": texts, "label": ["positive", "negative"] * 10})
    frame = pd.concat([frame, pd.DataFrame({"text": ["x " * 5000], "label": [None], "failed": [True]})])
    frame["failed"] = frame["failed"].fillna(False).astype(bool)
    card = (Path(publish_dataset(frame, spec=spec, to=tmp_path / "ds")) / "README.md").read_text(encoding="utf-8")
    assert "Text lengths of the 20 texts:" in card
    assert "| words | 4 | 4 | 19 | 300 |" in card, card
    # ten headlines of 24 characters, nine of 25, the article of 1,958 (the 95th percentile interpolates to it)
    assert len(article) == 1958 and "| characters | 24 | 24 | 122 | 1,958 |" in card


def test_the_ledger_beside_the_labelled_file_gives_the_card_its_cost_table(tmp_path: Path) -> None:
    """publish dataset read annotate's ledger beside a CSV for its list columns, but the card's Cost table needed
    --ledger: `publish dataset labelled.csv` said "No cost ledger was given" with labelled.ledger.json beside it.
    The file's own ledger (its `output` names the file) gives the table; another output's ledger, or an explicit
    --ledger, does not get mixed up with it."""
    from sxhub.publish import publish_dataset

    spec = _spec()
    labelled = tmp_path / "labelled.csv"
    pd.DataFrame(_rows(spec)).to_csv(labelled, index=False)
    beside = tmp_path / "labelled.ledger.json"

    def cost_section(name: str, **kw: Any) -> str:
        card = Path(publish_dataset(labelled, spec=spec, to=tmp_path / name, **kw))
        text = (card / "README.md").read_text(encoding="utf-8")
        return text[text.index("## Cost") : text.index("## Columns")]

    assert "No cost ledger was given" in cost_section("none")
    beside.write_text(json.dumps({"output": str(labelled), "n_texts": 40, "requests": 77}), encoding="utf-8")
    own = cost_section("own")
    assert "| requests | 77 |" in own and "No cost ledger was given" not in own
    given = tmp_path / "other.ledger.json"
    given.write_text(json.dumps({"output": "other.csv", "n_texts": 40, "requests": 12}), encoding="utf-8")
    assert "| requests | 12 |" in cost_section("given", ledger=given)  # --ledger wins
    beside.write_text(json.dumps({"output": str(tmp_path / "labelled.parquet"), "requests": 5}), encoding="utf-8")
    assert "No cost ledger was given" in cost_section("other_output")  # labelled.parquet's, not this file's


def test_a_column_empty_on_every_row_publishes_as_the_same_feature_from_csv_and_parquet(
    tmp_path: Path, hub, capsys: pytest.CaptureFixture[str]
) -> None:
    """An input column empty on every row (a `note` nobody filled in) was published as `Value('string')` from a CSV
    (its cells are "") but as `Value('null')` from the same rows saved as Parquet (datasets' type for an all-null
    Arrow column): a user who converted CSV->Parquet got other features on the Hub. Both are a string column now,
    which also holds what a later publish puts in it; a column with values keeps its own type."""
    from datasets import Value, load_dataset

    from sxhub.tables import write_table

    spec = _spec()
    rows = [{**row, "note": None, "year": 2024} for row in _rows(spec, 30)]
    task = tmp_path / "task.yaml"
    task.write_text(spec.to_yaml(), encoding="utf-8")
    features = {}
    for fmt in ("csv", "parquet"):
        data = write_table(rows, tmp_path / f"labelled.{fmt}")
        repo = f"{hub.user}/empty-{fmt}"
        code, _, err = run_cli(["publish", "dataset", str(data), "--task", str(task), "--repo-id", repo], capsys)
        assert code == 0, err
        train = load_dataset(repo)["train"]
        assert train.features["note"] == Value("string"), fmt
        assert {v or None for v in train["note"]} == {None}, fmt  # "" from the CSV, null from Parquet
        features[fmt] = train.features
    assert features["parquet"]["year"] == Value("int64")  # typed as the file has it: not widened to a string
    assert {k: v for k, v in features["csv"].items() if k != "year"} == {
        k: v for k, v in features["parquet"].items() if k != "year"
    }


def test_an_input_column_of_mixed_types_is_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A JSONL file's kept column whose cells are of several types (ids written as 123 and as "00123") ended publish
    in "Error: ArrowTypeError: Expected bytes, got a 'int' object" (exit 1), naming neither the column nor the fix."""
    spec = _spec()
    task = tmp_path / "task.yaml"
    task.write_text(spec.to_yaml(), encoding="utf-8")
    data = tmp_path / "labelled.jsonl"
    rows = [{**row, "id": i if i % 2 else f"{i:05d}"} for i, row in enumerate(_rows(spec, 30))]
    data.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    argv = ["publish", "dataset", str(data), "--task", str(task), "--to", str(tmp_path / "ds")]
    code, _, err = run_cli(argv, capsys)
    line = err.strip().splitlines()[-1]
    assert code == 2 and "column 'id'" in line and "int" in line and "str" in line, err
    assert not (tmp_path / "ds").exists()


def test_the_dataset_cards_size_category_is_the_hubs_bucket_for_every_size() -> None:
    """From 100M rows on every size was put in "10M<n<100M" (the Hub's buckets go on to "n>1T": datasets'
    utils/resources/size_categories.json, as huggingface_hub's DatasetCardData names them)."""
    import datasets

    from sxhub.cards import size_category

    known = json.loads((Path(datasets.__file__).parent / "utils" / "resources" / "size_categories.json").read_text())

    sizes = {999: "n<1K", 1_000: "1K<n<10K", 99_999: "10K<n<100K", 5_000_000: "1M<n<10M", 99_999_999: "10M<n<100M"}
    sizes |= {150_000_000: "100M<n<1B", 2 * 10**9: "1B<n<10B", 5 * 10**11: "100B<n<1T", 2 * 10**12: "n>1T"}
    assert {n: size_category(n) for n in sizes} == sizes
    assert set(sizes.values()) <= set(known)


def test_the_model_index_cites_a_subset_and_split_of_the_dataset_pushed_beside_it(
    tmp_path: Path, labelled: tuple[Path, Path], student: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The model-index's ``dataset.config`` is "the name of the dataset subset used in ``load_dataset()``"
    (huggingface/hub-docs modelcard.md, commit 242f4a1eeb867daf4ac3f44026a5df4a68908a3d), and its metric ``config``
    the metric's configuration (``args`` the arguments of its ``compute()``). Each comparison was cited as a subset
    of its own (``student-vs-experts``), which ``load_dataset`` refuses, and the macro/micro F1 averages as metric
    configurations evaluate's ``f1`` has not. huggingface_hub groups results by (task, dataset, subset, split,
    revision): one result per dataset split, the experts' comparison where there is one."""
    from datasets import get_dataset_config_names, get_dataset_split_names

    data, task = labelled
    ds_dir, model_dir = tmp_path / "ds", tmp_path / "m"
    code, _, err = run_cli(
        ["publish", "dataset", str(data), "--task", str(task), "--to", str(ds_dir), "--gold", "gold"], capsys
    )
    assert code == 0, err
    argv = ["publish", "model", str(student), "--to", str(model_dir), "--repo-id", "me/fin-student"]
    code, _, err = run_cli([*argv, "--data", str(data), "--gold", "gold", "--dataset-repo", "me/fin"], capsys)
    assert code == 0, err
    _, meta = _card(model_dir)
    configs = get_dataset_config_names(str(ds_dir))
    for r in meta.eval_results:
        config = r.dataset_config or "default"  # no subset named: load_dataset's default one
        assert config in configs and r.dataset_split in get_dataset_split_names(str(ds_dir), config)
    assert {r.dataset_name for r in meta.eval_results} == {"me/fin (student vs experts)"}
    f1 = {(r.metric_config, json.dumps(r.metric_args)) for r in meta.eval_results if r.metric_type == "f1"}
    assert f1 == {(None, '{"average": "macro"}'), (None, '{"average": "micro"}')}
    # the teacher labels' comparison stays in the card's table
    assert "| student vs teacher labels |" in (model_dir / "README.md").read_text(encoding="utf-8")


def test_without_a_dataset_repo_the_model_index_names_no_hub_dataset(
    tmp_path: Path, labelled: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A model-index result's ``dataset.type`` is a dataset id on the Hub (huggingface/hub-docs modelcard.md, commit
    242f4a1eeb867daf4ac3f44026a5df4a68908a3d: "Use dataset id from https://hf.co/datasets"), where the Hub shows the
    score on that dataset's leaderboard too. Without ``--dataset-repo`` the card cited the task's name: a task named
    ``emotion`` claimed the student's scores on the Hub's ``emotion`` dataset. The scores stay in the card's table."""
    data, _ = labelled
    spec = TaskSpec.from_dict({**_spec().to_dict(), "name": "emotion"})
    student = make_student(tmp_path / "student", spec)
    argv = ["publish", "model", str(student), "--to", str(tmp_path / "m"), "--repo-id", "me/emotion-student"]
    code, _, err = run_cli([*argv, "--data", str(data), "--gold", "gold"], capsys)
    assert code == 0, err
    card, meta = _card(tmp_path / "m")
    assert meta.eval_results is None and "model-index" not in card.split("---")[1]
    assert "| student vs experts |" in card
    code, _, err = run_cli(
        [*argv[:4], str(tmp_path / "m2"), *argv[5:], "--data", str(data), "--dataset-repo", "me/emo"], capsys
    )
    assert code == 0, err
    assert {r.dataset_type for r in _card(tmp_path / "m2")[1].eval_results} == {"me/emo"}
