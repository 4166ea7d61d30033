"""Prompt building and strict reply parsing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sxhub.errors import SpecError, TeacherError
from sxhub.prompt import InvalidAnswer, build_messages, parse_reply
from sxhub.spec import TaskSpec


def make_spec(**kwargs) -> TaskSpec:
    base = {
        "name": "fin",
        "description": "Sentiment of financial news.",
        "labels": [
            {"name": "positive", "description": "good news for investors"},
            {"name": "neutral", "description": "no clear effect"},
            {"name": "negative", "description": "bad news for investors"},
        ],
    }
    base.update(kwargs)
    return TaskSpec.from_dict(base)


def test_default_prompt_holds_task_labels_schema_and_text() -> None:
    spec = make_spec()
    messages = build_messages(spec, "Operating profit rose.")
    assert [m["role"] for m in messages] == ["system", "user"]
    system = messages[0]["content"]
    assert "Sentiment of financial news." in system
    assert "- negative: bad news for investors" in system
    assert json.dumps(spec.answer_schema()) in system
    assert "Operating profit rose." in messages[-1]["content"]


def test_examples_become_chat_turns_with_json_answers() -> None:
    spec = make_spec(
        examples=[{"text": "Sales fell.", "labels": ["negative"], "reason": "sales down"}], reasoning=True
    )
    messages = build_messages(spec, "x")
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert "Sales fell." in messages[1]["content"]
    assert json.loads(messages[2]["content"]) == {"reason": "sales down", "label": "negative"}
    assert "'reason'" in messages[0]["content"]


def test_multi_label_prompt_asks_for_a_list() -> None:
    spec = make_spec(multi_label=True, examples=[{"text": "Mixed.", "labels": ["positive", "negative"]}])
    messages = build_messages(spec, "x")
    assert "possibly none" in messages[0]["content"]
    assert json.loads(messages[2]["content"]) == {"labels": ["positive", "negative"]}


def test_inline_template_overrides_the_prompt() -> None:
    spec = make_spec(
        prompt_template="Classify: {{ text }} as one of {% for l in labels %}{{ l.name }} {% endfor %}"
        "schema={{ schema.required | join(',') }}"
    )
    assert build_messages(spec, "Profit rose") == [
        {"role": "user", "content": "Classify: Profit rose as one of positive neutral negative schema=label"}
    ]


def test_template_file(tmp_path: Path) -> None:
    path = tmp_path / "p.jinja"
    path.write_text("Task {{ spec.name }} ({{ examples | length }} examples): {{ text }}", encoding="utf-8")
    spec = make_spec(prompt_template=str(path))
    assert build_messages(spec, "hi")[0]["content"] == "Task fin (0 examples): hi"


def test_a_template_file_edited_in_the_same_process_is_read_again(tmp_path: Path) -> None:
    """In a notebook: annotate, edit prompt.jinja, annotate again. The compiled template was cached by path, so
    the old prompt kept being sent (and the label cache answered it) while the parts manifest recorded the new."""
    path = tmp_path / "p.jinja"
    path.write_text("OLD PROMPT: {{ text }}", encoding="utf-8")
    spec = make_spec(prompt_template=str(path))
    assert build_messages(spec, "hi")[0]["content"] == "OLD PROMPT: hi"
    path.write_text("NEW: {{ text }}", encoding="utf-8")
    assert build_messages(spec, "hi")[0]["content"] == "NEW: hi"


def test_missing_template_file_is_a_spec_error(tmp_path: Path) -> None:
    spec = make_spec(prompt_template=str(tmp_path / "missing.jinja"))
    with pytest.raises(SpecError, match=r"missing\.jinja.*not found"):
        build_messages(spec, "x")


def test_template_with_unknown_variable_is_a_spec_error() -> None:
    spec = make_spec(prompt_template="{{ nope }} {{ text }}")
    with pytest.raises(SpecError, match="could not be rendered"):
        build_messages(spec, "x")


@pytest.mark.parametrize(
    "raw",
    [
        '{"label": "positive"}',
        '```json\n{"label": "positive"}\n```',
        'Sure! Here it is: {"label": "positive"} Hope this helps.',
        '{"label": " Positive "}',
        '{"label": "POSITIVE"}',
    ],
)
def test_parse_accepts_fences_surrounding_text_and_case(raw: str) -> None:
    assert parse_reply(make_spec(), raw) == (["positive"], "")


@pytest.mark.parametrize(
    "raw",
    [
        '<think>A draft: {"label": "positive"}? No, profit fell.</think>\n{"label": "negative"}',
        'Profit fell, so not {"label": "positive"}.\n</think>\n\n```json\n{"label": "negative"}\n```',  # R1's
    ],
)
def test_parse_reads_the_answer_after_a_models_thinking(raw: str) -> None:
    """A server without a reasoning parser leaves a reasoning model's thinking in the content; the first object in
    it, a draft, was taken as the answer. DeepSeek-R1's chat template opens <think> in the prompt, so its content
    has only the closing tag."""
    assert parse_reply(make_spec(), raw) == (["negative"], "")


def test_parse_returns_the_reason() -> None:
    spec = make_spec(reasoning=True)
    assert parse_reply(spec, '{"reason": " profit up ", "label": "positive"}') == (["positive"], "profit up")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("positive", "holds no JSON object"),
        ("", "the reply has no content"),
        ("<think>The profit rose, so", "holds only the model's thinking (no </think>)"),
        ('<think>{"label": "positive"}?</think>', "holds only the model's thinking, no answer after </think>"),
        ('["positive"]', "not a JSON object"),
        ('{"label": "bullish"}', "'bullish' is not one of"),
        ('{"answer": "positive"}', "('answer' was unexpected)"),
        ('{"label": "positive", "labels": ["positive"]}', "('labels' was unexpected)"),
        ('{"label": 3}', "label: 3 is not one of"),
        ('{"labels": ["positive", "negative"]}', "('labels' was unexpected)"),
        ('{"labels": []}', "('labels' was unexpected)"),
        ('{"label": "positive", "reason": 5}', "('reason' was unexpected)"),
        ('{"label": "pos itive"}', "is not one of"),
    ],
)
def test_parse_is_strict(raw: str, message: str) -> None:
    with pytest.raises(InvalidAnswer, match=re.escape(message)):
        parse_reply(make_spec(), raw)


def test_replies_are_checked_against_the_answer_schema_itself() -> None:
    """jsonschema checks what the schema says, e.g. the reason's type and maxLength when reasoning is on."""
    spec = make_spec(reasoning=True)
    with pytest.raises(InvalidAnswer, match=re.escape("reason: 5 is not of type 'string'")):
        parse_reply(spec, '{"label": "positive", "reason": 5}')
    with pytest.raises(InvalidAnswer, match="reason: value breaks maxLength=400"):
        parse_reply(spec, json.dumps({"label": "positive", "reason": "x" * 401}))
    with pytest.raises(InvalidAnswer, match=re.escape("'reason' is a required property")):
        parse_reply(spec, '{"label": "positive"}')


def test_invalid_answer_is_a_teacher_error() -> None:
    assert issubclass(InvalidAnswer, TeacherError)


def test_multi_label_parse_orders_and_dedupes() -> None:
    spec = make_spec(multi_label=True)
    assert parse_reply(spec, '{"labels": ["negative", "positive", "Negative"]}') == (["positive", "negative"], "")
    assert parse_reply(spec, '{"labels": []}') == ([], "")
    with pytest.raises(InvalidAnswer, match="is not of type 'array'"):
        parse_reply(spec, '{"labels": "positive"}')


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"reasoning": True, "examples": [{"text": "Sales rose.", "labels": ["positive"]}]}, {"multi_label": True}],
)
def test_builders_for_many_texts_equal_the_one_text_functions(kwargs: dict) -> None:
    from sxhub.prompt import message_builder, reply_parser

    spec = make_spec(**kwargs)
    build, parse = message_builder(spec), reply_parser(spec)
    for text in ["Sales rose.", "", "Ünïcode {json} text"]:
        assert build(text) == build_messages(spec, text)
    build("x")[0]["content"] = "changed"  # a caller changing its messages changes no later ones
    assert build("y") == build_messages(spec, "y")
    key = "labels" if spec.multi_label else "label"
    answer = {
        key: ["NEUTRAL", "positive"] if spec.multi_label else " Neutral",
        **({"reason": "r"} if spec.reasoning else {}),
    }
    good = json.dumps(answer)
    assert parse(good) == parse_reply(spec, good)
    for bad in ['{"label": "great"}', '{"labels": "x"}', "no json"]:
        with pytest.raises(InvalidAnswer) as one:
            parse_reply(spec, bad)
        with pytest.raises(InvalidAnswer) as many:
            parse(bad)
        assert str(one.value) == str(many.value)


def test_a_template_file_named_beside_the_spec_is_found_from_any_folder_and_carded_as_its_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``prompt_template: prompt.jinja`` beside task.yaml was looked up in the folder the command ran in (found
    from the spec's folder only), and the dataset card showed the file's local path instead of the prompt."""
    import pandas as pd

    from sxhub.prompt import template_text
    from sxhub.publish import publish_dataset
    from sxhub.spec import load_spec

    task_dir = tmp_path / "task"
    task_dir.mkdir()
    (task_dir / "prompt.jinja").write_text("Label this: {{ text }}", encoding="utf-8")
    (task_dir / "task.yaml").write_text(
        "name: fin\nlabels: [positive, negative]\nprompt_template: prompt.jinja\n", encoding="utf-8"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    spec = load_spec(task_dir / "task.yaml")
    assert build_messages(spec, "Profit rose") == [{"role": "user", "content": "Label this: Profit rose"}]
    assert template_text(spec.prompt_template or "") == "Label this: {{ text }}"
    labels = ["positive", "negative"] * 5
    votes = [[{"teacher": "t", "sample": 0, "labels": [lab], "reason": ""}] for lab in labels]
    frame = pd.DataFrame({"text": [f"text {i}" for i in range(10)], "label": labels, "votes": votes})
    publish_dataset(frame, spec=spec, to=tmp_path / "repo")
    card = (tmp_path / "repo" / "README.md").read_text(encoding="utf-8")
    assert "Label this: {{ text }}" in card and str(task_dir) not in card
