from __future__ import annotations

import re
from pathlib import Path

import pytest

from sxhub.errors import SpecError, UserError
from sxhub.spec import Label, TaskSpec, TeacherSpec, load_spec

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_shipped_examples_load() -> None:
    fin = load_spec(EXAMPLES / "financial-sentiment" / "task.yaml")
    assert fin.label_names == ["positive", "neutral", "negative"]
    assert fin.multi_label is False and fin.samples == 3 and fin.label_column == "label"
    assert fin.id2label == {0: "positive", 1: "neutral", 2: "negative"}
    four = load_spec(EXAMPLES / "4p-marketing" / "task.yaml")
    assert four.multi_label is True and four.label_column == "labels"
    assert four.label_names == ["Product", "Place", "Price", "Promotion"]


def test_answer_schema_single_and_multi() -> None:
    single = TaskSpec(name="t", labels=[Label("a"), Label("b")], reasoning=True)
    schema = single.answer_schema()
    assert schema["required"] == ["reason", "label"]
    assert schema["properties"]["label"]["enum"] == ["a", "b"]
    multi = TaskSpec(name="t", labels=["x", "y", "z"], multi_label=True)
    items = multi.answer_schema()["properties"]["labels"]
    assert items["type"] == "array" and items["items"]["enum"] == ["x", "y", "z"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"labels": ["a", "b"]}, "name: missing"),
        ({"name": "bad name!", "labels": ["a", "b"]}, "is not usable as a repo name"),
        ({"name": "t", "labels": ["a"]}, "needs at least 2 labels"),
        ({"name": "t", "labels": ["a", "a"]}, "duplicate label name(s) ['a']"),
        ({"name": "t", "labels": ["a", "b"], "samples": 0}, "samples: must be an integer from 1 to 64, got 0"),
        ({"name": "t", "labels": ["a", "b"], "temperature": 3}, "temperature: must be a number from 0 to 2"),
        ({"name": "t", "labels": ["a", "b"], "colour": "red"}, "unknown field(s) ['colour']"),
        ({"name": "t", "labels": ["a", "b"], "examples": [{"text": "x", "labels": ["c"]}]}, "are not in labels"),
        ({"name": "t", "labels": ["a", "b"], "examples": [{"text": "x", "labels": ["a", "b"]}]}, "exactly one label"),
        ({"name": "t", "labels": ["a", "b"], "teachers": [{"base_url": "ftp://x"}]}, "is not an http(s) URL"),
        ({"name": "t", "labels": ["a", "b"], "teachers": [{"modle": "x"}]}, "unknown key(s) ['modle']"),
    ],
)
def test_bad_specs_fail_with_one_line(data: dict, message: str) -> None:
    with pytest.raises(SpecError, match=re.escape(message)) as info:
        TaskSpec.from_dict(data)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, UserError) and isinstance(info.value, ValueError)


def test_load_spec_file_errors(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="not found"):
        load_spec(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(SpecError, match="not valid YAML at line"):
        load_spec(bad)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(SpecError, match="not UTF-8"):
        load_spec(latin)


def test_teacher_parsing_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    assert TeacherSpec.parse("local").is_local
    url = TeacherSpec.parse("http://127.0.0.1:8080/v1")
    assert url.base_url == "http://127.0.0.1:8080/v1" and not url.is_local
    hub = TeacherSpec.parse("mistralai/Mixtral-8x7B-Instruct-v0.1")
    assert hub.name == "mistralai/Mixtral-8x7B-Instruct-v0.1"
    spec = TaskSpec(name="t", labels=["a", "b"])
    assert [t.model for t in spec.default_teachers()] == ["local"]
    monkeypatch.setenv("SXHUB_TEACHER", "meta-llama/Llama-3.1-8B-Instruct")
    assert [t.model for t in spec.default_teachers()] == ["meta-llama/Llama-3.1-8B-Instruct"]
    swapped = spec.with_teachers(["local", "http://h:1/v1"])
    assert [t.is_local for t in swapped.teachers] == [True, False]


def test_round_trip_through_yaml(tmp_path: Path) -> None:
    spec = load_spec(EXAMPLES / "4p-marketing" / "task.yaml")
    path = tmp_path / "task.yaml"
    path.write_text(spec.to_yaml(), encoding="utf-8")
    again = load_spec(path)
    assert again == spec
