"""What the cards say about where the labels came from: the model card and the Space name the teachers whose votes
labelled the training data (``sxhub.json`` ``teachers``, recorded by ``sxhub train``), not the task spec's or the
publisher's default; and reviewed data scores the teachers on their own labels, the reviewed labels apart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import build_tiny_model

from sxhub.spec import TaskSpec

LLAMA = "meta-llama/Llama-3.3-70B-Instruct"
NAMES = ["positive", "neutral", "negative"]
CAVEAT = "Teacher quality caveat"


def _spec(teachers: list[str] | None = None) -> TaskSpec:
    return TaskSpec(name="fin-sent", description="Sentiment of financial news.", labels=NAMES, teachers=teachers or [])


def _votes(label: str, teachers: list[str], failing: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    return [
        {
            "teacher": t,
            "sample": s,
            "labels": None if t in failing else [label],
            "reason": "",
            "error": "timeout" if t in failing else "",
            "raw": "",
        }
        for t in teachers
        for s in range(2)
    ]


def _labelled(teachers: list[str], n: int = 40, failing: tuple[str, ...] = ()) -> pd.DataFrame:
    """Annotate output: every text voted by ``teachers`` (those in ``failing`` failed every request), and an expert
    ``gold`` column that agrees with the teachers on a third of the texts."""
    rows = []
    for i in range(n):
        label = NAMES[i % 3]
        rows.append(
            {
                "text": f"company profit rose {i}",
                "label": label,
                "votes": _votes(label, teachers, failing),
                "agreement": 1.0,
                "failed": False,
                "error": "",
                "gold": NAMES[(i + i // 3) % 3],
            }
        )
    return pd.DataFrame(rows)


def _trained(tmp_path: Path, base: Path, spec: TaskSpec, data: pd.DataFrame) -> Path:
    from sxhub.train import train
    from sxhub.train_config import TrainConfig

    out = tmp_path / "student"
    train(spec, data, TrainConfig(output_dir=out, base_model=str(base), epochs=1, threads=1))
    return out


def _old_student(path: Path, spec: TaskSpec, **record: Any) -> Path:
    """A student folder whose ``sxhub.json`` holds what ``record`` gives (none: no ``teachers``, as before train
    recorded them)."""
    build_tiny_model(path, num_labels=len(NAMES))
    config = json.loads((path / "config.json").read_text())
    config["id2label"] = {str(i): n for i, n in enumerate(NAMES)}
    config["label2id"] = spec.label2id
    (path / "config.json").write_text(json.dumps(config))
    info = {"task": spec.to_dict(), "multi_label": False, "labels": NAMES, "max_length": 64, **record}
    (path / "sxhub.json").write_text(json.dumps(info))
    return path


def _published(tmp_path: Path, student: Path, **kwargs: Any) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The model card, the published sxhub.json's ``about`` and the Space's ``config.json`` ``about``."""
    from sxhub.publish import publish_model, publish_space

    model = Path(publish_model(student, to=tmp_path / f"{student.name}-model", repo_id="me/fin", **kwargs))
    space = Path(publish_space(student, to=tmp_path / f"{student.name}-space", repo_id="me/fin-demo"))
    about = json.loads((model / "sxhub.json").read_text())["about"]
    return (model / "README.md").read_text(encoding="utf-8"), about, json.loads((space / "config.json").read_text())


def test_cards_name_the_teacher_whose_votes_labelled_the_data(
    tmp_path: Path, tiny_base_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's flow: a task.yaml without ``teachers:``, ``annotate --teacher <Llama>``, train, publish. The
    model card and the Space read the spec's default teacher at publish time (``local``) and printed the SmolLM2
    chance-level caveat for a student the Llama teacher had labelled."""
    monkeypatch.delenv("SXHUB_TEACHER", raising=False)
    student = _trained(tmp_path, tiny_base_model, _spec(), _labelled([LLAMA]))
    assert json.loads((student / "sxhub.json").read_text())["teachers"] == [LLAMA]

    card, about, space = _published(tmp_path, student)
    assert f"| teacher: `{LLAMA}` |" in card
    assert CAVEAT not in card and "`local`" not in card
    assert "distilled from open LLM teachers" in card and "no LLM teacher votes" not in card
    assert about["teachers"] == space["about"]["teachers"] == [LLAMA]
    assert about["local_teacher"] is space["about"]["local_teacher"] is False


def test_the_chance_level_caveat_is_shown_when_the_local_teacher_labelled(
    tmp_path: Path, tiny_base_model: Path
) -> None:
    """A spec that names a Llama teacher, annotated with ``--teacher local`` (and a second teacher whose every request
    failed): the votes say SmolLM2 labelled the data, so the caveat stays, and the failed teacher is not named."""
    data = _labelled(["local", "broken/teacher"], failing=("broken/teacher",))
    student = _trained(tmp_path, tiny_base_model, _spec([LLAMA]), data)
    assert json.loads((student / "sxhub.json").read_text())["teachers"] == ["local"]

    card, about, space = _published(tmp_path, student)
    assert "| teacher: `local` |" in card and CAVEAT in card
    assert LLAMA not in card and "broken/teacher" not in card
    assert about["teachers"] == space["about"]["teachers"] == ["local"]
    assert about["local_teacher"] is space["about"]["local_teacher"] is True


def test_a_student_without_a_teacher_record_is_not_given_the_publishers_teacher(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder trained before sxhub recorded its teachers: the spec's teachers when it names some, else "not
    recorded"; never ``$SXHUB_TEACHER`` or ``local`` of the machine that publishes. A record with no teacher
    (labels without votes) says so."""
    monkeypatch.setenv("SXHUB_TEACHER", "local")

    card, about, space = _published(tmp_path, _old_student(tmp_path / "unknown", _spec()))
    assert "| teacher: not recorded |" in card and CAVEAT not in card and "`local`" not in card
    assert about["teachers"] is space["about"]["teachers"] is None
    assert about["local_teacher"] is space["about"]["local_teacher"] is False
    assert "LLM teachers that were not recorded" in _space_words(space)

    card, about, _ = _published(tmp_path, _old_student(tmp_path / "named", _spec([LLAMA])))
    assert f"| teacher: `{LLAMA}` |" in card and CAVEAT not in card and about["teachers"] == [LLAMA]

    card, about, _ = _published(tmp_path, _old_student(tmp_path / "legacy-local", _spec(["local"])))
    assert "| teacher: `local` |" in card and CAVEAT in card and about["local_teacher"] is True

    card, about, space = _published(tmp_path, _old_student(tmp_path / "no-votes", _spec(["local"]), teachers=[]))
    assert "| teacher: none (the training labels carry no teacher votes) |" in card and CAVEAT not in card
    assert about["teachers"] == [] and about["local_teacher"] is False
    # the card credits no LLM teacher (it said "distilled from open LLM teachers ... the teachers labelled the texts")
    assert "on labels that carry no LLM teacher votes: the labels came with the texts" in card
    assert "distilled from open LLM teachers" not in card and "as good as its training labels" in card
    assert "the voted LLM labels" not in card
    # the Space words it as the card does: "none", where it said "LLM teacher(s) unknown"
    words = _space_words(space)
    assert "trained on labels that carry no teacher votes" in words and "unknown" not in words


def _space_words(config: dict[str, Any]) -> str:
    """The Space's "What this is" line, as its app renders it from the published ``config.json``."""
    from types import SimpleNamespace

    from sxhub.space import load_app_module

    expert = SimpleNamespace(
        multi_label=False, info={}, backend="torch", model="me/fin", preprocessing={"max_length": 128}
    )
    page = load_app_module().describe(expert, config["about"])
    return next(line for line in page.splitlines() if line.startswith("**What this is.**"))


def test_train_records_only_the_teachers_whose_votes_gave_the_labels() -> None:
    """Labels without votes (expert labels, another tool's table) have no teacher; votes of texts people relabelled
    and of a teacher whose every vote failed do not count; the others in order of first appearance."""
    from sxhub.labelled import load_labelled
    from sxhub.run_record import label_teachers

    def teachers(frame: pd.DataFrame) -> list[str]:
        return label_teachers(load_labelled(frame, label_names=NAMES, multi_label=False))

    data = _labelled(["b/second", LLAMA, "c/dead"], failing=("c/dead",))
    assert teachers(data) == ["b/second", LLAMA]
    assert teachers(data.drop(columns="votes")) == []
    reviewed = data.assign(label_source=["human"] * 20 + ["teacher"] * 20)
    reviewed["votes"] = [_votes(lab, ["x/reviewed-away"] if i < 20 else [LLAMA]) for i, lab in enumerate(data.label)]
    assert teachers(reviewed) == [LLAMA]


def _reviewed(n: int = 60) -> tuple[pd.DataFrame, int]:
    """Annotated data whose labels people set to the experts' on the first texts the teachers got wrong; the number
    of texts they changed."""
    from sxhub.review_apply import apply_review
    from sxhub.review_log import text_hash

    frame = _labelled([LLAMA], n=n)
    wrong = [i for i in range(n) if frame.label[i] != frame.gold[i]][:20]
    events = [
        {
            "id": str(i),
            "time": "2026-01-01T00:00:00.000000+00:00",
            "reviewer": "alice",
            "action": "label",
            "row": i,
            "text_hash": text_hash(frame.text[i]),
            "labels": [frame.gold[i]],
        }
        for i in wrong
    ]
    return apply_review(frame, events, spec=_spec()).frame, len(wrong)


def test_after_review_the_dataset_card_scores_the_teachers_on_their_own_labels(tmp_path: Path) -> None:
    """``publish dataset --gold`` of reviewed data scored the label column, which people had set to the experts'
    labels, as "Teacher labels against them"; the teachers' line now scores ``teacher_label`` and the reviewed labels
    are a line of their own."""
    from sxhub.cards import fmt
    from sxhub.publish import publish_dataset

    reviewed, changed = _reviewed()
    teacher_accuracy = (reviewed.teacher_label == reviewed.gold).mean()
    after_accuracy = (reviewed.label == reviewed.gold).mean()
    assert after_accuracy > teacher_accuracy
    folder = Path(publish_dataset(reviewed, spec=_spec(), to=tmp_path / "ds", gold="gold"))
    card = (folder / "README.md").read_text(encoding="utf-8")
    section = card.split("## Agreement with experts", 1)[1].split("## Human review", 1)[0]
    teachers, after = section.split(f"**Labels after review ({changed} texts changed by people)**")
    assert "Teacher labels as they were before human review (`teacher_label`) against them" in teachers
    assert f"| accuracy | {fmt(teacher_accuracy)} |" in teachers
    assert f"| accuracy | {fmt(after_accuracy)} |" in after


def test_after_review_the_model_card_scores_the_teachers_on_their_own_labels(tmp_path: Path) -> None:
    """``publish model --data reviewed --gold``: "teacher vs experts" scored the reviewed labels, and "student vs
    teacher labels" compared the student with labels people had changed without saying so."""
    from sxhub.publish import build_dataset, publish_model

    reviewed, _ = _reviewed()
    test = build_dataset(reviewed, _spec(), seed=42)[1]["splits"]["test"]
    assert (test.teacher_label != test.label).any(), "the test split holds reviewed texts"
    student = _old_student(tmp_path / "student", _spec(), teachers=[LLAMA])
    folder = Path(publish_model(student, to=tmp_path / "m", repo_id="me/fin", data=reviewed, gold="gold"))
    scores = json.loads((folder / "sxhub.json").read_text())["about"]["scores"]
    assert "student vs teacher labels" not in scores and "student vs labels after review" in scores
    assert scores["teacher vs experts"]["accuracy"] == round((test.teacher_label == test.gold).mean(), 4)
    assert scores["labels after review vs experts"]["accuracy"] == round((test.label == test.gold).mean(), 4)
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert "| student vs labels after review |" in card and "| labels after review vs experts |" in card
