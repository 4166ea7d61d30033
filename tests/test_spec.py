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
        # the run hung (no host) or ended in an OverflowError traceback (port out of range)
        ({"name": "t", "labels": ["a", "b"], "teachers": ["http://"]}, "has no host or an invalid port"),
        ({"name": "t", "labels": ["a", "b"], "teachers": ["http://127.0.0.1:99999/v1"]}, "has no host or an invalid"),
        # the chat route pasted from a server's docs: vLLM answered 404, llama.cpp and Ollama went undetected (their
        # schema never sent) and the run stopped on invalid answers, advising `server:`
        (
            {"name": "t", "labels": ["a", "b"], "teachers": ["http://127.0.0.1:8000/v1/chat/completions/"]},
            "ends with /chat/completions, the route sxhub adds itself; write 'http://127.0.0.1:8000/v1'",
        ),
        # an address without http://: taken for a Hub model id, refused for want of an HF token (or sent to the Hub)
        ({"name": "t", "labels": ["a", "b"], "teachers": ["localhost:8000/v1"]}, "write http://localhost:8000/v1"),
        ({"name": "t", "labels": ["a", "b"], "teachers": [{"model": "10.0.0.5:8080"}]}, "write http://10.0.0.5:8080"),
        ({"name": "t", "labels": ["a", "b"], "teachers": [{"modle": "x"}]}, "unknown key(s) ['modle']"),
        # answers are matched ignoring case and spacing: one of two such labels could never be chosen
        ({"name": "t", "labels": ["Positive", "positive"]}, "['Positive', 'positive'] differ only in case or spacing"),
        ({"name": "t", "labels": ["very good", "very  good"]}, "differ only in case or spacing"),
        # wrong types: one line naming the field, never a traceback or a silent misreading
        ({"name": "t", "labels": "positive"}, "labels: must be a list of names"),
        ({"name": "t", "labels": [{"name": "a", "description": 3}, "b"]}, "description of 'a': must be text, got 3"),
        ({"name": "t", "labels": ["a", "b"], "examples": [{"text": "x", "labels": 3}]}, "'labels' must be a list"),
        ({"name": "t", "labels": ["a", "b"], "examples": [{"text": "x", "labels": {"a": 1}}]}, "must be a list"),
        ({"name": "t", "labels": ["a", "b"], "teachers": [{"model": 123}]}, "teachers: model: must be text"),
        ({"name": "t", "labels": ["a", "b"], "teachers": [{"base_url": 123}]}, "teachers: base_url: must be text"),
        ({"name": "t", "labels": ["a", "b"], "teachers": 5}, "teachers: must be a list"),
        ({"name": "t", "labels": ["a", "b"], "prompt_template": 3}, "prompt_template: must be text"),
        ({"name": "t", "labels": ["a", "b"], "preprocess": "false"}, "preprocess: must be true or false"),
        ({"name": "t", "labels": ["a", "b"], "temperature": True}, "temperature: must be a number"),
        ({"name": "t", "labels": ["a", "b"], "teachers": [{"model": "m", "max_tokens": True}]}, "max_tokens=True"),
        ({"name": "t", "labels": ["a", "b"], "teachers": [{"model": "m", "timeout": 0}]}, "timeout=0 would fail"),
        (
            {
                "name": "t",
                "labels": ["a", "b"],
                "teachers": [{"model": "m", "price_input": float("inf"), "price_output": 1}],
            },
            "price_input=inf must be a number >= 0",
        ),
        (
            {
                "name": "t",
                "labels": ["a", "b"],
                "multi_label": True,
                "examples": [{"text": "x", "labels": ["a", "a"]}],
            },
            "lists ['a'] more than once",
        ),
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


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [
        ("empty.yaml", "", "task spec '{path}' is empty; write a YAML mapping with at least name: and labels:"),
        ("list.yaml", "- positive\n- negative\n", "task spec '{path}' is a list, not a mapping; write a YAML"),
        ("texts.csv", "text,label\nProfit rose.,positive\n", "pass the task YAML here and the texts as INPUT"),
    ],
)
def test_a_spec_file_that_is_not_a_mapping_names_the_file_and_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, body: str, message: str
) -> None:
    """An empty task YAML, a list, or the texts' CSV passed as TASK (arguments swapped) said only "the task spec
    must be a YAML mapping, got NoneType": no file, no fix."""
    from conftest import run_cli

    spec = tmp_path / name
    spec.write_text(body, encoding="utf-8")
    texts = tmp_path / "in.csv"
    texts.write_text("text\nProfit rose.\n", encoding="utf-8")
    with pytest.raises(SpecError, match=re.escape(message.format(path=spec))):
        load_spec(spec)
    code, out, err = run_cli(["annotate", str(spec), str(texts), "-o", str(tmp_path / "out.csv"), "--dry-run"], capsys)
    assert code == 2 and out == ""
    assert "Traceback" not in err and "NoneType" not in err
    assert err.strip().splitlines() == [f"Error: {load_spec_error(spec)}"]
    example = re.search(r"\(see (.+?)\)", err)
    assert example and Path(example.group(1)).is_file(), err  # the example it names is there to read


@pytest.mark.parametrize("name", ["in.parquet", "texts.bin", "texts.csv"])
def test_a_table_passed_as_task_says_to_swap_the_arguments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """A Parquet file passed as TASK (``sxhub annotate in.parquet task.yaml``, the arguments swapped) was told it
    "is not UTF-8 text; save it as UTF-8", and a CSV that is not valid YAML to "fix the syntax": wrong fixes both.
    A file with a table's suffix, or Parquet's magic bytes under any name, is told to swap the arguments."""
    import pandas as pd
    from conftest import run_cli

    spec = tmp_path / name
    if name == "texts.csv":
        spec.write_text('text,label\n"Profit: rose", positive\n- Sales fell., negative\n', encoding="utf-8")
    else:
        pd.DataFrame({"text": ["Profit rose.", "Sales fell."]}).to_parquet(spec)
    task = tmp_path / "task.yaml"
    task.write_text("name: fin\nlabels: [positive, negative]\n", encoding="utf-8")
    swapped = f"task spec '{spec}' is not {{}} (it looks like a table of texts: pass the task YAML here and the texts as INPUT)."
    expected = swapped.format("valid YAML at line 2" if name == "texts.csv" else "a YAML file")
    with pytest.raises(SpecError) as raised:
        load_spec(spec)
    assert str(raised.value) == expected
    code, out, err = run_cli(["annotate", str(spec), str(task), "-o", str(tmp_path / "out.csv")], capsys)
    assert code == 2 and out == "" and err.strip().splitlines() == [f"Error: {expected}"]
    assert not (tmp_path / "out.csv").exists()
    # a spec that is only badly saved keeps its own fix
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: caf\xe9\n".encode("latin-1"))
    assert load_spec_error(latin).endswith("is not UTF-8 text; save it as UTF-8.")


def load_spec_error(path: Path) -> str:
    try:
        load_spec(path)
    except SpecError as exc:
        return str(exc)
    raise AssertionError("the spec loaded")


@pytest.mark.parametrize(
    ("body", "line"),
    [
        (
            "labels: positive, negative\n",
            "labels: 'positive, negative' is one string, not a list; write it as a YAML list: labels: [positive, "
            "negative].",
        ),
        ("labels: 'good: yes, bad'\n", "write it as a YAML list: labels: ['good: yes', bad]."),  # quoted as YAML must
        (
            "labels: [positive, negative]\nexamples: profit rose\n",
            "examples: 'profit rose' is one string, not a list; write it as a YAML list of {text, labels} mappings: "
            "examples: [{text: profit rose, labels: [positive]}].",
        ),
        (  # one example's labels without the brackets: read as the one label 'price, place', "not in labels"
            "multi_label: true\nlabels: [price, place, quality]\nexamples:\n  - {text: cheap, labels: [price]}\n"
            "  - {text: near the station, labels: place}\n  - text: cheap and near\n    labels: price, place\n",
            "examples[2].labels: 'price, place' is one string, not a list; write it as a YAML list: labels: [price, "
            "place].",
        ),
        (
            "multi_label: true\nlabels: {price: cost, place: where}\nexamples:\n  - {text: cheap and near, label: "
            "'place,price'}\n",
            "examples[0].label: 'place,price' is one string, not a list; write it as a YAML list: labels: [place, "
            "price].",
        ),
    ],
)
def test_one_string_where_the_yaml_wants_a_list_names_the_yaml_list(
    body: str, line: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``labels: positive, negative`` (the brackets left out) was refused with TaskSpec's own words, "labels: must
    be a list of names or of {name, description} mappings (or one mapping of name to description), got '...'",
    which says what it got, not what to write: the line now gives the YAML list, before any request, exit 2. A spec
    built in Python keeps TaskSpec's line (it has no YAML to fix)."""
    from conftest import run_cli

    monkeypatch.chdir(tmp_path)
    (tmp_path / "task.yaml").write_text(f"name: fin\n{body}", encoding="utf-8")
    (tmp_path / "in.csv").write_text("text\nprofit rose\n", encoding="utf-8")
    code, out, err = run_cli(["annotate", "task.yaml", "in.csv", "--teacher", "local", "-o", "out.csv"], capsys)
    assert code == 2 and out == "", err
    assert err.startswith("Error: ") and err.endswith(f"{line}\n") and err.count("\n") == 1, err
    assert not (tmp_path / "out.csv").exists()
    with pytest.raises(SpecError, match="must be a list of"):
        load_spec({"name": "fin", "labels": "positive, negative", "examples": "profit rose"})
    with pytest.raises(SpecError, match="must be a list of"):
        TaskSpec(name="fin", labels=["positive", "negative"], examples="profit rose")  # type: ignore[arg-type]


def test_an_example_label_string_is_a_list_only_where_every_part_is_a_label() -> None:
    """The YAML-list line for an example's ``labels: a, b`` is given only where it is the fix: a label named with a
    comma stays one label, a single-label example names one label, and parts that are not all labels keep
    TaskSpec's "not in labels" line."""
    from sxhub.spec import _refuse_one_yaml_string

    comma = {"name": "e", "multi_label": True, "labels": ["joy, pure", "sad"]}
    _refuse_one_yaml_string({**comma, "examples": [{"text": "t", "labels": "joy, pure"}]})  # the label itself
    with pytest.raises(SpecError, match=re.escape("write it as a YAML list: labels: ['joy, pure', sad].")):
        _refuse_one_yaml_string({**comma, "examples": [{"text": "t", "labels": "joy, pure, sad"}]})
    single = {"name": "s", "labels": [{"name": "price"}, {"name": "place"}]}
    _refuse_one_yaml_string({**single, "examples": [{"text": "t", "label": "price"}]})
    _refuse_one_yaml_string({**single, "examples": [{"text": "t", "label": "price, place"}]})  # single-label: as was
    multi = {"name": "m", "multi_label": True, "labels": ["price", "place"]}
    _refuse_one_yaml_string({**multi, "examples": [{"text": "t", "labels": "price, colour"}]})
    with pytest.raises(SpecError, match=re.escape("label(s) ['price, colour'] of example 't' are not in labels")):
        load_spec({**multi, "examples": [{"text": "t", "labels": "price, colour"}]})


def test_a_single_label_example_naming_two_labels_says_to_pick_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A single-label task whose example has ``label: price, place`` (two of its labels joined by a comma) was
    refused with "label(s) ['price, place'] ... are not in labels ['price', 'place', 'product']", though both are.
    The line names the two labels and says a single-label example takes one (or to set multi_label: true), exit 2;
    a label that is not the task's keeps its line, and a label named with a comma of its own stays one label."""
    from conftest import run_cli

    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.csv").write_text("text\ncheap and close by\n", encoding="utf-8")

    def annotate(body: str) -> tuple[int, str]:
        (tmp_path / "task.yaml").write_text(f"name: topic\n{body}", encoding="utf-8")
        code, out, err = run_cli(["annotate", "task.yaml", "in.csv", "--teacher", "local", "-o", "out.csv"], capsys)
        assert out == "" and not (tmp_path / "out.csv").exists()
        return code, err

    example = "examples:\n  - text: cheap and close by\n    label: {}\n"
    code, err = annotate("labels: [price, place, product]\n" + example.format("price, place"))
    assert code == 2 and err.count("\n") == 1, err
    assert err == (
        "Error: examples: example 'cheap and close by' names 2 labels, ['price', 'place'] (in 'price, place'), but a "
        "single-label task's example takes exactly one label; pick one of them, or set multi_label: true if a text "
        "can have several labels.\n"
    )
    # the other fix it names: multi_label: true gets the YAML list to write
    code, err = annotate("multi_label: true\nlabels: [price, place, product]\n" + example.format("price, place"))
    assert code == 2 and "write it as a YAML list: labels: [price, place]." in err, err
    # a label that is not the task's: "not in labels", as before
    code, err = annotate("labels: [price, place, product]\n" + example.format("price, colour"))
    assert code == 2 and "label(s) ['price, colour'] of example 'cheap and close by' are not in labels" in err, err
    # a label named with a comma: the example's one label, and with another label joined to it, two
    assert TaskSpec(name="t", labels=["joy, pure", "sad"], examples=[{"text": "x", "labels": "joy, pure"}])
    with pytest.raises(SpecError, match=re.escape("names 2 labels, ['joy, pure', 'sad'] (in 'joy, pure, sad')")):
        TaskSpec(name="t", labels=["joy, pure", "sad"], examples=[{"text": "x", "labels": "joy, pure, sad"}])
    # a list of two labels: the same line
    with pytest.raises(SpecError, match=re.escape("names 2 labels, ['a', 'b'], but a single-label task's example")):
        load_spec({"name": "t", "labels": ["a", "b"], "examples": [{"text": "x", "labels": ["a", "b"]}]})


def test_teacher_parsing_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    assert TeacherSpec.parse("local").is_local
    url = TeacherSpec.parse("http://127.0.0.1:8080/v1")
    assert url.base_url == "http://127.0.0.1:8080/v1" and not url.is_local
    hub = TeacherSpec.parse("mistralai/Mixtral-8x7B-Instruct-v0.1")
    assert TeacherSpec.parse("meta-llama/Llama-3.3-70B-Instruct:fireworks-ai").model  # a provider suffix is no port
    assert hub.name == "mistralai/Mixtral-8x7B-Instruct-v0.1"
    spec = TaskSpec(name="t", labels=["a", "b"])
    assert [t.model for t in spec.default_teachers()] == ["local"]
    monkeypatch.setenv("SXHUB_TEACHER", "meta-llama/Llama-3.1-8B-Instruct")
    assert [t.model for t in spec.default_teachers()] == ["meta-llama/Llama-3.1-8B-Instruct"]
    swapped = spec.with_teachers(["local", "http://h:1/v1"])
    assert [t.is_local for t in swapped.teachers] == [True, False]
    # one teacher alone, not in a list: a URL was taken letter by letter (24 teachers named 'h', 't', 't', 'p'...)
    for one in ("http://h:1/v1", {"base_url": "http://h:1/v1"}, TeacherSpec(base_url="http://h:1/v1")):
        assert [t.base_url for t in spec.with_teachers(one).teachers] == ["http://h:1/v1"]


def test_round_trip_through_yaml(tmp_path: Path) -> None:
    spec = load_spec(EXAMPLES / "4p-marketing" / "task.yaml")
    path = tmp_path / "task.yaml"
    path.write_text(spec.to_yaml(), encoding="utf-8")
    again = load_spec(path)
    assert again == spec


def test_labels_as_one_mapping_keep_their_descriptions_and_order() -> None:
    """``labels: {positive: good news, negative: bad news}`` lost every description (its keys were taken as names)."""
    spec = TaskSpec.from_dict({"name": "t", "labels": {"positive": "good news", "neutral": None, "negative": "bad"}})
    assert [(lab.name, lab.description) for lab in spec.labels] == [
        ("positive", "good news"),
        ("neutral", ""),
        ("negative", "bad"),
    ]


def test_a_reasoning_example_without_a_reason_is_listed_not_answered_with_a_made_up_reason() -> None:
    """With ``reasoning: true`` an example without a ``reason`` was shown as answering "a short reason"; it is
    listed with its label in the system prompt, and an example with a reason stays an answered turn."""
    from sxhub.prompt import build_messages

    spec = TaskSpec.from_dict(
        {
            "name": "t",
            "labels": ["positive", "negative"],
            "reasoning": True,
            "examples": [
                {"text": "Operating profit rose.", "labels": ["positive"]},
                {"text": "Loss widened.", "labels": ["negative"], "reason": "a wider loss"},
            ],
        }
    )
    messages = build_messages(spec, "Sales fell.")
    assert '- "Operating profit rose.": positive' in messages[0]["content"]
    answers = [m["content"] for m in messages if m["role"] == "assistant"]
    assert answers == ['{"reason": "a wider loss", "label": "negative"}']
    assert "Operating profit rose." not in " ".join(m["content"] for m in messages[1:])


def _licensed(**fields: object) -> TaskSpec:
    return TaskSpec.from_dict({"name": "t", "labels": ["a", "b"], **fields})


@pytest.mark.parametrize(
    ("given", "declared"),
    [
        (None, {"license": "other"}),
        ("mit", {"license": "mit"}),
        ("MIT", {"license": "mit"}),
        (" Apache 2.0 ", {"license": "apache-2.0"}),
        ("CC_BY_4.0", {"license": "cc-by-4.0"}),
        ("Llama3.1", {"license": "llama3.1"}),
        ("other", {"license": "other"}),
    ],
)
def test_a_license_the_hub_knows_is_declared_in_its_spelling(given: str | None, declared: dict) -> None:
    """The cards wrote the spec's license as typed ('MIT', 'Apache 2.0'); the Hub reads only its own identifiers."""
    spec = _licensed(license=given)
    assert spec.card_license() == declared
    assert TaskSpec.from_dict(spec.to_dict()).card_license() == declared
    assert "license_name" not in spec.to_dict() and "license_link" not in spec.to_dict()


def test_a_license_off_the_hub_list_is_refused_with_the_fix_unless_it_has_a_link() -> None:
    """'Apache License 2.0' went into the cards' ``license:`` as written, a card the Hub refuses on push. The spec
    still loads (a model folder with it still predicts); the cards refuse it in one line naming both fixes."""
    spec = _licensed(license="Apache License 2.0")
    with pytest.raises(SpecError) as refused:
        spec.card_license()
    line = str(refused.value)
    assert "\n" not in line and "'Apache License 2.0' is not one of the Hub's license identifiers" in line
    assert "did you mean apache-2.0?" in line and "https://huggingface.co/docs/hub/repositories-licenses" in line
    assert "add license_link" in line

    linked = _licensed(license="ACME Data License v2", license_link="https://acme.example/license")
    assert linked.card_license() == {
        "license": "other",
        "license_name": "acme-data-license-v2",
        "license_link": "https://acme.example/license",
    }
    named = _licensed(license="other", license_name="ACME Data", license_link="https://acme.example/l")
    assert named.card_license()["license_name"] == "acme-data"
    assert TaskSpec.from_dict(named.to_dict()).card_license() == named.card_license()


@pytest.mark.parametrize(
    ("expression", "offers"),
    [
        ("MIT OR Apache-2.0", "(mit or apache-2.0)"),
        ("(MIT AND BSD-3-Clause)", None),
        ("GPL-2.0 WITH X-exception", None),
    ],
)
def test_an_spdx_license_expression_is_refused_with_its_choices_not_a_guess(
    expression: str, offers: str | None
) -> None:
    """'MIT OR Apache-2.0' was refused with "did you mean apache-2.0?", a guess that drops the other license. A choice
    (OR) names its licenses to pick from; AND and WITH, which bind both, say to declare it with its link."""
    with pytest.raises(SpecError) as refused:
        _licensed(license=expression).card_license()
    line = str(refused.value)
    assert "\n" not in line and "is an SPDX expression" in line and "did you mean" not in line
    assert "add license_link" in line
    assert (offers in line) if offers else ("write the one you offer" not in line)
    linked = _licensed(license=expression, license_link="https://example.org/license")
    assert linked.card_license()["license"] == "other"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"license": "mit", "license_link": "https://x.example/l"}, "takes no license_name or license_link"),
        ({"license": "other", "license_link": "https://x.example/l"}, "needs license_name"),
        ({"license": "other", "license_name": "acme"}, "needs license_link"),
        ({"license_name": "acme", "license_link": "https://x.example/l"}, "add 'license: other'"),
        ({"license": "ACME", "license_link": "LICENSE"}, "license_link: 'LICENSE' is not a URL"),
    ],
)
def test_license_name_and_link_are_checked_when_the_spec_loads(fields: dict, message: str) -> None:
    with pytest.raises(SpecError, match=re.escape(message)):
        _licensed(**fields)


def test_examples_path_outside_a_checkout_names_the_shipped_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's commands name examples/financial-sentiment/task.yaml, which exists only at the top of a checkout;
    from anywhere else (a pip-installed sxhub keeps them under sxhub/_assets/examples/) the error said 'see
    examples/', a folder the user does not have. It now names the file sxhub ships, and that path loads."""
    from sxhub.errors import InputError
    from sxhub.tables import check_file

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SpecError, match="sxhub ships that example as") as caught:
        load_spec("examples/financial-sentiment/task.yaml")
    shipped = str(caught.value).split(" as ", 1)[1].split("'")[1]
    assert Path(shipped).is_absolute() and load_spec(shipped).name == "financial-sentiment"
    with pytest.raises(InputError, match="sxhub ships that example as") as caught_input:
        check_file("examples/4p-marketing/texts.csv")
    assert check_file(str(caught_input.value).split(" as ", 1)[1].split("'")[1]).name == "texts.csv"
    with pytest.raises(SpecError, match=r"not found; pass the path of a YAML file"):
        load_spec("examples/no-such-task/task.yaml")  # not an example sxhub ships: the plain error


@pytest.mark.parametrize(
    ("body", "line"),
    [
        ("lables: [a, b]\n", "unknown field(s) ['lables'] in the task spec (did you mean 'labels'?)"),
        (
            "labels: [a, b]\nteacher: local\n",
            "unknown field(s) ['teacher'] in the task spec (did you mean 'teachers'?)",
        ),
        ("labels: [a, b]\nmultilabel: true\n", "(did you mean 'multi_label'?)"),
        ("labels: [a, b]\nteachers:\n  - model: m\n    max_token: 9\n", "['max_token'] (did you mean 'max_tokens'?)"),
        ("labels:\n  - name: a\n    descripton: x\n  - b\n", "['descripton'] (did you mean 'description'?)"),
        ("labels: [a, b]\nexamples:\n  - txt: hi\n    label: a\n", "['txt'] (did you mean 'text'?)"),
    ],
)
def test_a_misspelt_key_is_named_with_the_key_it_was_meant_as(
    body: str, line: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``teacher:`` for ``teachers:`` or ``lables:`` was refused with the list of every allowed key, leaving the user
    to spot which one they meant; the line now names it, exit 2 from the CLI."""
    from conftest import run_cli

    monkeypatch.chdir(tmp_path)
    (tmp_path / "task.yaml").write_text(f"name: t\n{body}", encoding="utf-8")
    (tmp_path / "in.csv").write_text("text\nhi\n", encoding="utf-8")
    code, out, err = run_cli(["annotate", "task.yaml", "in.csv", "-o", "out.csv", "--dry-run"], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1 and line in err, err
    # a key like none of them gets no guess
    with pytest.raises(SpecError) as raised:
        TaskSpec.from_dict({"name": "t", "labels": ["a", "b"], "colour": "red"})
    assert "did you mean" not in str(raised.value)
    # two unknown keys of mixed types (YAML's `yes:` is True) were sorted together: a TypeError traceback
    with pytest.raises(SpecError, match=re.escape("unknown field(s) [True, 'colour'] in the task spec")):
        TaskSpec.from_dict({"name": "t", "labels": ["a", "b"], "colour": "red", True: 1})


@pytest.mark.parametrize(
    ("body", "line"),
    [
        (
            "labels: [yes, no]\n",
            "labels: YAML reads yes unquoted as true, not as a label name; quote the labels: labels: ['yes', 'no'].",
        ),
        (
            "labels: [on, off]\n",
            "YAML reads on unquoted as true, not as a label name; quote the labels: labels: ['on', ",
        ),
        (
            "labels: [1, 2, 3]\n",
            "YAML reads 1 unquoted as a number, not as a label name; quote the labels: labels: ['1',",
        ),
        (
            "labels: [low, 0.5]\n",
            "YAML reads 0.5 unquoted as a number, not as a label name; quote the labels: labels: ",
        ),
        (
            "labels:\n  yes: it is\n  no: it is not\n",
            "YAML reads yes unquoted as true, not as a label name; quote it: 'yes'.",
        ),
        (
            "labels:\n  - name: yes\n  - name: maybe\n",
            "labels: YAML reads yes unquoted as true, not as a label name; quote it: name: 'yes'.",
        ),
        (
            "labels: ['yes', 'no']\nexamples:\n  - text: hi\n    label: yes\n",
            "examples[0].label: YAML reads yes unquoted as true, not as a label name; quote it: label: 'yes'.",
        ),
        (
            "multi_label: true\nlabels: ['1', '2']\nexamples:\n  - text: hi\n    labels: [1, 2]\n",
            "examples[0].labels: YAML reads 1 unquoted as a number, not as a label name; quote it: labels: ['1', '2'].",
        ),
    ],
)
def test_labels_yaml_reads_as_booleans_or_numbers_say_to_quote_them(
    body: str, line: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``labels: [yes, no]`` (YAML 1.1 reads yes/no/on/off as booleans) or ``labels: [1, 2, 3]`` was refused with
    "each label is a name or a mapping with 'name' and 'description', got True": the user wrote no True, and the
    line did not say to quote them. It now names what was written and gives the quoted YAML, exit 2."""
    from conftest import run_cli

    monkeypatch.chdir(tmp_path)
    (tmp_path / "task.yaml").write_text(f"name: t\n{body}", encoding="utf-8")
    (tmp_path / "in.csv").write_text("text\nhi\n", encoding="utf-8")
    code, out, err = run_cli(["annotate", "task.yaml", "in.csv", "-o", "out.csv", "--dry-run"], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1 and line in err, err


@pytest.mark.parametrize(
    ("name", "body", "line"),
    [
        # tabs: PyYAML's "found character '\t' that cannot start any token" became "fix the syntax"
        (
            "task.yaml",
            "name: t\nlabels:\n\t- a\n\t- b\n",
            "is not valid YAML at line 3: a tab; YAML indents with spaces",
        ),
        # a key written twice: YAML kept the last one and dropped the first block unsaid
        ("task.yaml", "name: t\nteachers: [local]\nlabels: [a, b]\nteachers: [x/y]\n", "'teachers' is written twice"),
        ("task.yaml", "name: t\nlabels:\n  a: one\n  a: two\n", "'a' is written twice (lines 3 and 4)"),
        # a JSON spec indented with tabs (valid JSON) was "not valid YAML ... it looks like a table of texts"
        ("task.json", '{\n\t"name": "t",\n\t"labels": ["a", "b"],\n\t"lables": 1\n}\n', "(did you mean 'labels'?)"),
        ("task.json", '{\n  "name": "t",\n  "labels": ["a", "b"],\n}\n', "is not valid JSON at line 4"),
    ],
)
def test_a_spec_file_s_syntax_slips_name_the_slip(
    name: str,
    body: str,
    line: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from conftest import run_cli

    monkeypatch.chdir(tmp_path)
    (tmp_path / name).write_text(body, encoding="utf-8")
    (tmp_path / "in.csv").write_text("text\nhi\n", encoding="utf-8")
    code, out, err = run_cli(["annotate", name, "in.csv", "-o", "out.csv", "--dry-run"], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1 and line in err, err
    assert "looks like a table" not in err


def test_a_json_spec_loads_with_tabs_and_a_folder_is_named_a_folder(tmp_path: Path) -> None:
    spec = tmp_path / "task.json"
    spec.write_text('{\n\t"name": "t",\n\t"labels": ["a", "b"]\n}\n', encoding="utf-8")
    assert load_spec(spec).label_names == ["a", "b"]
    (tmp_path / "fin").mkdir()
    (tmp_path / "fin" / "task.yaml").write_text("name: t\nlabels: [a, b]\n", encoding="utf-8")
    with pytest.raises(
        SpecError, match=re.escape(f"is a folder; pass its task YAML, {str(tmp_path / 'fin' / 'task.yaml')!r}")
    ):
        load_spec(tmp_path / "fin")


@pytest.mark.parametrize(
    ("body", "line"),
    [
        ("temperature: 1e-1\n", "temperature: '1e-1' is text to YAML, not a number (YAML 1.1 reads an exponent "),
        ("samples: '3'\n", "samples: '3' is text to YAML, not a number; write it unquoted: samples: 3."),
        (
            "teachers:\n  - model: m\n    price_input: 5e-1\n    price_output: 1\n",
            "teachers[0].price_input: '5e-1' is text to YAML, not a number (YAML 1.1 reads an exponent without a dot "
            "as text); write it as price_input: 0.5.",
        ),
    ],
)
def test_a_number_yaml_reads_as_text_says_how_to_write_it(
    body: str, line: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``temperature: 1e-1`` is a string to YAML 1.1 (an exponent needs a dot: 1.0e-1), and the line said "must be a
    number from 0 to 2, got '1e-1'" of what the user wrote as a number; it now says why and what to write."""
    from conftest import run_cli

    monkeypatch.chdir(tmp_path)
    (tmp_path / "task.yaml").write_text(f"name: t\nlabels: [a, b]\n{body}", encoding="utf-8")
    (tmp_path / "in.csv").write_text("text\nhi\n", encoding="utf-8")
    code, out, err = run_cli(["annotate", "task.yaml", "in.csv", "-o", "out.csv", "--dry-run"], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1 and line in err, err


def test_a_yaml_merge_may_override_a_merged_key(tmp_path: Path) -> None:
    """Keys written twice are refused, but a key that overrides one brought in by a merge (``<<: *base``) is YAML's
    way of reusing a block, not a slip."""
    spec = tmp_path / "task.yaml"
    spec.write_text(
        "name: t\nlabels: [a, b]\nteachers:\n  - &hub {model: x/y, max_tokens: 64}\n  - <<: *hub\n    max_tokens: 128\n",
        encoding="utf-8",
    )
    assert [t.max_tokens for t in load_spec(spec).teachers] == [64, 128]
