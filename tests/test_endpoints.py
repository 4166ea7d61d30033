"""The teacher on a managed Inference Endpoint, driven through the real huggingface_hub client.

The Hub stand-in serves the Inference Endpoints API (tests/hubstub/endpoints.py); a running endpoint's URL is a
TGI conformance stand-in (tests/servers/tgi.py), so annotate labels through it exactly as through a real one.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import click
import pandas as pd
import pytest
from conftest import run_cli
from servers import TGIServer, VLLMServer

from sxhub.data import read_table, write_table
from sxhub.errors import SpecError
from sxhub.spec import TaskSpec, TeacherSpec

NAME = "fin-teacher"


@pytest.fixture
def endpoints(hub, monkeypatch: pytest.MonkeyPatch):
    """The stand-in's endpoints API, with a running endpoint answering through a TGI stand-in."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "INFERENCE_ENDPOINTS_ENDPOINT", hub.stub.endpoints_url)
    monkeypatch.setenv("SXHUB_ENDPOINT_REFRESH", "0.05")
    with TGIServer(model="HuggingFaceTB/SmolLM2-1.7B-Instruct") as tgi:
        hub.stub.endpoints.serve_url = tgi.root
        hub.stub.endpoints.served = tgi
        hub.stub.endpoints.warmup = 2
        yield hub.stub.endpoints, tgi


def test_endpoint_up_creates_a_tgi_endpoint_waits_and_prints_its_url(endpoints, hub, capsys) -> None:
    api, tgi = endpoints
    code, out, err = run_cli(
        ["endpoint", "up", "HuggingFaceTB/SmolLM2-1.7B-Instruct", "--name", NAME, "--max-replicas", "2", "--json"],
        capsys,
    )
    assert code == 0, err
    info = json.loads(out)
    assert info["status"] == "running" and info["base_url"] == tgi.root + "/v1"
    assert info["price_per_hour"] == 0.8 and info["replicas"] == {"min": 0, "max": 2}
    raw = api.items[(hub.user, NAME)]
    assert raw["model"]["repository"] == "HuggingFaceTB/SmolLM2-1.7B-Instruct"
    assert raw["model"]["image"]["custom"]["url"].startswith("ghcr.io/huggingface/text-generation-inference:")
    assert raw["model"]["env"] == {"MODEL_ID": "/repository"} and raw["model"]["task"] == "text-generation"
    assert raw["compute"]["instanceType"] == "nvidia-l4" and raw["compute"]["scaling"]["scaleToZeroTimeout"] == 15
    assert raw["type"] == "authenticated"

    code, out, err = run_cli(["endpoint", "pause", NAME], capsys)
    assert code == 0 and api.state(NAME, hub.user) == "paused" and "paused" in err
    code, out, err = run_cli(["endpoint", "status", NAME], capsys)
    assert code == 0 and f"{NAME}: paused" in err and "$0.80/h" in err and out == ""
    code, out, err = run_cli(["endpoint", "resume", NAME], capsys)
    assert code == 0 and api.state(NAME, hub.user) == "running" and out.strip() == tgi.root + "/v1"
    code, out, err = run_cli(["endpoint", "delete", NAME, "--yes"], capsys)
    assert code == 0 and (hub.user, NAME) not in api.items


def test_errors_are_one_line_naming_the_fix(endpoints, hub, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = run_cli(["endpoint", "status", "nope"], capsys)
    assert code == 2 and "no Inference Endpoint named 'nope'" in err and "sxhub endpoint up" in err
    assert len(err.strip().splitlines()) == 1
    code, _, err = run_cli(["endpoint", "up", "m/x", "--min-replicas", "3", "--max-replicas", "2"], capsys)
    assert code == 2 and "need 0 <= min <= max" in err
    # the Hub's reason, not huggingface_hub's first line ("could not create endpoint 'x': Bad request:", exit 1)
    code, _, err = run_cli(["endpoint", "up", "m/x", "--name", NAME, "--no-wait"], capsys)
    assert code == 0, err
    code, _, err = run_cli(["endpoint", "up", "m/x", "--name", NAME, "--no-wait"], capsys)
    assert code == 2 and err.strip().splitlines() == [
        f"Error: the Hub refused to create endpoint {NAME!r} (HTTP 400: Endpoint name {NAME} is already taken); "
        "pass another --name, or change the option it names."
    ]
    # a name no task spec could use (`endpoint: My Endpoint!` is refused): the endpoint was created all the same
    code, _, err = run_cli(["endpoint", "up", "m/x", "--name", "My Endpoint!", "--no-wait"], capsys)
    assert code == 2 and err.strip().splitlines() == [
        "Error: --name 'My Endpoint!' is not a name a task spec can use for the endpoint; pass one of letters, "
        "digits, '-', '.' and '_' that starts with a letter or digit, e.g. --name sxhub-my-endpoint."
    ]
    assert not [key for key in endpoints[0].items if key[1] == "My Endpoint!"]
    for verb in (["up", "m/x"], ["resume", NAME]):  # was a ValueError from huggingface_hub's wait(), exit 1
        code, _, err = run_cli(["endpoint", *verb, "--timeout", "-5"], capsys)
        assert code == 2 and "Invalid value for '--timeout': -5.0 is not in the range x>=0." in err
    monkeypatch.setenv("HF_TOKEN", "invalid-token")
    code, _, err = run_cli(["endpoint", "pause", NAME], capsys)
    assert code == 2 and "set HF_TOKEN" in err
    monkeypatch.delenv("HF_TOKEN")  # no token at all (and none saved): a UserError line, not the Hub's traceback
    monkeypatch.setenv("HF_TOKEN_PATH", str(Path(hub.root) / "no-token-here"))
    code, _, err = run_cli(["endpoint", "status", NAME], capsys)
    assert code == 2 and err.strip().splitlines()[-1].startswith("Error: no Hugging Face token to read endpoint")
    with pytest.raises(SpecError, match="is not an Inference Endpoint name"):
        TeacherSpec(endpoint="my endpoint!")
    assert TeacherSpec.parse("endpoint:fin-teacher").endpoint == "fin-teacher"


@pytest.mark.parametrize("asleep", ["paused", "scaledToZero"])
def test_annotate_resumes_the_endpoint_labels_through_it_and_pauses_after(
    endpoints, hub, tmp_path: Path, capsys, asleep: str
) -> None:
    api, tgi = endpoints
    code, _, err = run_cli(["endpoint", "up", "HuggingFaceTB/SmolLM2-1.7B-Instruct", "--name", NAME], capsys)
    assert code == 0, err
    api.set_state(NAME, hub.user, asleep)
    task = tmp_path / "task.yaml"
    task.write_text(f"name: fin\nlabels: [positive, neutral, negative]\nteachers:\n  - endpoint: {NAME}\n")
    source = write_table(pd.DataFrame({"text": [f"Profit rose {i}%." for i in range(6)]}), tmp_path / "in.csv")
    out = tmp_path / "out.jsonl"

    code, stdout, err = run_cli(
        ["annotate", str(task), str(source), "-o", str(out), "--pause-after", "--json"], capsys
    )
    assert code == 0, err
    ledger = json.loads(stdout)
    assert not read_table(out)["failed"].any() and len(tgi.requests) == 6
    teacher = ledger["teachers"][f"teacher@endpoint:{NAME}"]
    assert teacher["server"] == "tgi" and teacher["enforced"] == "schema"  # detected nothing: named tgi
    entry = ledger["endpoints"][NAME]
    assert entry["price_per_hour"] == 0.8 and entry["paused_after"] is True
    assert entry["cost_usd_estimate"] == pytest.approx(0.8 * entry["hours"], abs=1e-4)
    assert "endpoints: fin-teacher ($0.80/h" in err and "paused" in err
    assert api.state(NAME, hub.user) == "paused"
    resumed = [c for c in api.calls if c.endswith("/resume")]
    # a paused one is resumed once, before the first request; a scaled-to-zero one wakes on a request to its URL
    # (huggingface_hub InferenceEndpoint.scale_to_zero: "resumed on the next request"), not on /resume
    assert len(resumed) == (1 if asleep == "paused" else 0)
    assert [e.path for e in tgi.exchanges[:1]] == ["/health"]  # the wake-up knock (or wait()'s check) came first


def test_an_endpoint_on_the_vllm_engine_is_sent_vllms_request_not_tgis(endpoints, hub, tmp_path: Path, capsys) -> None:
    """Every `endpoint:` teacher was sent TGI's `{"type": "json", "value": S}`: an endpoint on the vLLM engine
    (Inference Endpoints' `model.image` key `vLLM`) answered each request 400 and the run stopped after its first
    texts. The engine is read from the endpoint's image: vLLM gets vLLM's request; a `server:` in the spec wins."""
    from huggingface_hub import HfApi

    from sxhub.endpoints import engine_server, get

    api, _ = endpoints
    model = "Qwen/Qwen3-8B"
    with VLLMServer(model=model) as vllm:
        api.serve_url, api.served = vllm.root, vllm
        HfApi().create_inference_endpoint(
            NAME,
            repository=model,
            framework="pytorch",
            accelerator="gpu",
            vendor="aws",
            region="us-east-1",
            instance_size="x1",
            instance_type="nvidia-l4",
            task="text-generation",
            custom_image={"url": "vllm/vllm-openai:v0.12.0", "port": 8000},  # sent as image.custom
        )
        raw = api.items[(hub.user, NAME)]
        raw["model"]["image"] = {"vLLM": raw["model"]["image"]["custom"]}  # the key the Endpoints UI's engine sets
        assert engine_server(get(NAME)) == "vllm"
        task = tmp_path / "task.yaml"
        task.write_text(f"name: fin\nlabels: [positive, neutral, negative]\nteachers:\n  - endpoint: {NAME}\n")
        source = write_table(pd.DataFrame({"text": [f"Profit rose {i}%." for i in range(4)]}), tmp_path / "in.csv")
        code, stdout, err = run_cli(
            ["annotate", str(task), str(source), "-o", str(tmp_path / "o.jsonl"), "--json"], capsys
        )
        assert code == 0, err
        assert not read_table(tmp_path / "o.jsonl")["failed"].any()
        assert vllm.enforced == ["schema"] * 4  # structured_outputs, enforced; no 400
        assert json.loads(stdout)["teachers"][f"teacher@endpoint:{NAME}"]["server"] == "vllm"

    # a custom container is read by its image; an engine sxhub has no request for is left to detection
    for image, kind in (
        ({"custom": {"url": "ghcr.io/huggingface/text-generation-inference:3.3.4"}}, "tgi"),
        ({"custom": {"url": "vllm/vllm-openai:v0.12.0"}}, "vllm"),
        ({"llamacpp": {"url": "ghcr.io/ggml-org/llama.cpp:server"}}, "llamacpp"),
        ({"tgi": {"url": "ghcr.io/huggingface/text-generation-inference:3.3.4"}}, "tgi"),
        ({"sGLang": {"url": "lmsysorg/sglang:latest"}}, None),
        ({"custom": {"url": "my.registry/my-server:1"}}, None),
    ):
        raw["model"]["image"] = image
        assert engine_server(get(NAME)) == kind, image
    spec = TeacherSpec(endpoint=NAME, server="openai")
    assert make_served(spec, NAME).server == "openai"  # the spec's server: is kept


def make_served(spec: TeacherSpec, name: str) -> TeacherSpec:
    from sxhub.endpoints import get, served_by

    return served_by(spec, get(name))


def test_a_spec_endpoint_resolves_to_its_url_in_the_teacher_factory(endpoints, hub, capsys) -> None:
    from sxhub.teachers import make_teacher

    api, tgi = endpoints
    code, _, err = run_cli(["endpoint", "up", "m/x", "--name", NAME, "--no-wait"], capsys)
    assert code == 0, err
    assert api.state(NAME, hub.user) == "pending"
    teacher = make_teacher(TeacherSpec(endpoint=NAME))  # waits until it runs
    assert teacher.spec is not None and teacher.spec.base_url == tgi.root + "/v1" and teacher.spec.server == "tgi"
    assert teacher.name == f"teacher@endpoint:{NAME}"
    spec = TaskSpec.from_dict({"name": "fin", "labels": ["a", "b"], "teachers": [{"endpoint": NAME}]})
    assert spec.teachers[0].endpoint == NAME and spec.to_dict()["teachers"][0]["endpoint"] == NAME


def test_a_spec_endpoint_may_name_its_namespace(endpoints, hub, capsys) -> None:
    """An endpoint made with ``endpoint up --namespace ORG`` lives in ORG: a spec could not name it (the name
    allowed no slash, and the lookup used the token's user). ``endpoint: ORG/NAME`` finds it, and pauses it after."""
    from sxhub.endpoint_run import EndpointRun
    from sxhub.teachers import make_teacher

    api, tgi = endpoints
    code, _, err = run_cli(["endpoint", "up", "m/x", "--name", NAME, "--namespace", hub.user], capsys)
    assert code == 0, err
    ref = f"{hub.user}/{NAME}"
    teacher = make_teacher(TeacherSpec(endpoint=ref))
    assert teacher.spec is not None and teacher.spec.base_url == tgi.root + "/v1"
    run = EndpointRun.of([TeacherSpec(endpoint=ref)], pause_after=True)
    run.start()
    assert run.finish()[ref]["paused_after"] and api.state(NAME, hub.user) == "paused"
    with pytest.raises(SpecError, match="as ORG/NAME"):
        TeacherSpec(endpoint="a/b/c")


def test_the_verbs_take_an_endpoint_as_namespace_slash_name(endpoints, hub, capsys) -> None:
    """``NAMESPACE/NAME``, the form a spec's ``endpoint:`` takes and the run's lines print, was refused by status,
    pause, resume and delete ("no Inference Endpoint named 'ORG/NAME'"): each now reads it as --namespace and NAME;
    a second, different namespace in --namespace is one line."""
    api, tgi = endpoints
    code, _, err = run_cli(["endpoint", "up", "m/x", "--name", NAME, "--namespace", hub.user], capsys)
    assert code == 0, err
    ref = f"{hub.user}/{NAME}"
    code, out, err = run_cli(["endpoint", "pause", ref], capsys)
    assert code == 0 and api.state(NAME, hub.user) == "paused", err
    code, out, err = run_cli(["endpoint", "status", ref, "--namespace", hub.user], capsys)
    assert code == 0 and f"{NAME}: paused" in err
    code, out, err = run_cli(["endpoint", "resume", ref], capsys)
    assert code == 0 and api.state(NAME, hub.user) == "running" and out.strip() == tgi.root + "/v1"
    code, out, err = run_cli(["endpoint", "status", ref, "--namespace", "someone-else"], capsys)
    assert code == 2 and "--namespace is 'someone-else'" in err.strip().splitlines()[-1]
    code, out, err = run_cli(["endpoint", "delete", ref, "--yes"], capsys)
    assert code == 0 and (hub.user, NAME) not in api.items


def _endpoint_task(tmp_path: Path) -> Path:
    task = tmp_path / "task.yaml"
    task.write_text(f"name: fin\nlabels: [positive, neutral, negative]\nteachers:\n  - endpoint: {NAME}\n")
    return task


@pytest.mark.parametrize("who", ["generate-teacher", "generate-writer", "twins"])
def test_generate_and_twins_book_the_endpoint_they_wake_and_pause_it_after(
    endpoints, hub, tmp_path: Path, capsys, who: str
) -> None:
    """generate and twins (a spec's ``endpoint:``, or generate's ``--writer endpoint:NAME``) resumed a paused
    endpoint and left it running: no --pause-after, no ledger entry (hours, price, cost), no line saying it runs on
    and how to pause it. They now do what annotate does."""
    api, tgi = endpoints
    code, _, err = run_cli(["endpoint", "up", "HuggingFaceTB/SmolLM2-1.7B-Instruct", "--name", NAME], capsys)
    assert code == 0, err
    task = _endpoint_task(tmp_path)
    if who == "generate-writer":  # the teachers vote through the server's own URL (no endpoint to resume)
        task.write_text(f"name: fin\nlabels: [positive, neutral, negative]\nteachers:\n  - base_url: {tgi.root}/v1\n")
    if who == "twins":
        source = write_table(pd.DataFrame({"text": ["Profit rose at Acme.", "Sales fell."]}), tmp_path / "in.csv")
        args = ["twins", str(task), str(source)]
    else:
        args = ["generate", str(task), "--n", "2", "--topic", "banks", "--min-distance", "0"]
        args += ["--writer", f"endpoint:{NAME}"] if who == "generate-writer" else []
    for pause_after in (True, False):
        api.set_state(NAME, hub.user, "paused")
        out = tmp_path / f"out-{pause_after}.csv"
        code, _, err = run_cli([*args, "-o", str(out), *(["--pause-after"] if pause_after else [])], capsys)
        assert code == 0, err
        entry = json.loads(out.with_suffix(".ledger.json").read_text())["endpoints"][NAME]
        assert entry["price_per_hour"] == 0.8 and entry["cost_usd_estimate"] is not None
        assert f"endpoints: {NAME} ($0.80/h" in err
        if pause_after:
            assert entry["paused_after"] is True and api.state(NAME, hub.user) == "paused" and ", paused)" in err
        else:
            assert "paused_after" not in entry and api.state(NAME, hub.user) == "running"
            assert f"still running: `sxhub endpoint pause {NAME}` stops it" in err
    assert len([c for c in api.calls if c.endswith("/resume")]) == 2 and tgi.requests


def test_generate_interrupted_says_the_writers_endpoint_is_left_running_and_where_the_texts_are(
    endpoints, hub, tmp_path: Path, capsys
) -> None:
    """Ctrl-C in generate's vote: the line says both what EndpointRun leaves (the writer's endpoint runs on, and
    how to pause it) and where the written texts are; the saved texts' ledger books the endpoint."""
    import os
    import signal

    from fake_openai_server import Answer, FakeOpenAIServer, default_answer

    def ctrl_c(body: dict[str, Any], n: int) -> Answer:
        os.kill(os.getpid(), signal.SIGINT)  # as a terminal's Ctrl-C, while the vote is on its way
        return Answer(default_answer(body))

    api, _ = endpoints
    code, _, err = run_cli(["endpoint", "up", "HuggingFaceTB/SmolLM2-1.7B-Instruct", "--name", NAME], capsys)
    assert code == 0, err
    api.set_state(NAME, hub.user, "paused")
    out = tmp_path / "gen.csv"
    with FakeOpenAIServer(ctrl_c) as voter:
        task = tmp_path / "task.yaml"
        task.write_text(
            f"name: fin\nlabels: [positive, negative]\nteachers:\n  - base_url: {voter.url}\n    model: m\n"
        )
        argv = ["generate", str(task), "-o", str(out), "--n", "2", "--min-distance", "0", "--concurrency", "1"]
        code, _, err = run_cli([*argv, "--writer", f"endpoint:{NAME}"], capsys)
    last = err.strip().splitlines()[-1]
    assert code == 130 and api.state(NAME, hub.user) == "running", err
    assert (
        f"endpoint {NAME!r} is left running (billed while it runs): stop it with `sxhub endpoint pause {NAME}`" in last
    )
    assert f"written texts are saved unlabelled in '{out}'" in last
    assert json.loads(out.with_suffix(".ledger.json").read_text())["endpoints"][NAME]["price_per_hour"] == 0.8


@pytest.mark.slow  # the run goes on to the reliability and doubts figures before it stops
def test_run_pauses_the_endpoint_after_annotate_even_when_the_run_fails(
    endpoints, hub, tmp_path: Path, capsys
) -> None:
    api, tgi = endpoints
    code, _, err = run_cli(["endpoint", "up", "HuggingFaceTB/SmolLM2-1.7B-Instruct", "--name", NAME], capsys)
    assert code == 0, err
    api.set_state(NAME, hub.user, "scaledToZero")
    source = write_table(pd.DataFrame({"text": [f"Sales fell {i}%." for i in range(6)]}), tmp_path / "in.csv")
    # six texts: annotate labels them, then the run stops (a student needs ten) after the endpoint was paused
    code, _, err = run_cli(
        ["run", str(_endpoint_task(tmp_path)), str(source), "--out", str(tmp_path / "o"), "--pause-after"], capsys
    )
    assert code == 2 and "only 6 of the 6 input rows were labelled" in err and len(tgi.requests) == 6
    assert api.state(NAME, hub.user) == "paused"
    ledger = json.loads((tmp_path / "o" / "labelled.ledger.json").read_text())
    assert ledger["endpoints"][NAME]["paused_after"] is True

    pauses = [c for c in api.calls if c.endswith("/pause")]
    assert len(pauses) == 1
    api.set_state(NAME, hub.user, "running")
    code, _, err = run_cli(["run", str(_endpoint_task(tmp_path)), str(source), "--out", str(tmp_path / "p")], capsys)
    assert code == 2 and len(tgi.requests) == 6  # the cache answered; without --pause-after it keeps running
    assert api.state(NAME, hub.user) == "running" and [c for c in api.calls if c.endswith("/pause")] == pauses


@pytest.mark.slow
def test_run_with_pause_after_reports_the_endpoint_paused(
    endpoints, hub, tmp_path: Path, tiny_base_model: Path, capsys
) -> None:
    api, tgi = endpoints
    code, _, err = run_cli(["endpoint", "up", "HuggingFaceTB/SmolLM2-1.7B-Instruct", "--name", NAME], capsys)
    assert code == 0, err
    api.set_state(NAME, hub.user, "paused")
    words = ["profit", "loss", "sales", "growth", "costs", "orders"]
    texts = [f"The company said {w} changed by {i} percent." for i in range(5) for w in words]
    source = write_table(pd.DataFrame({"text": texts}), tmp_path / "in.csv")
    args = ["run", str(_endpoint_task(tmp_path)), str(source), "--out", str(tmp_path / "out"), "--pause-after"]
    code, stdout, err = run_cli(
        [*args, "--base", str(tiny_base_model), "--epochs", "1", "--no-int8", "--json"], capsys
    )
    assert code == 0, err[-3000:]
    report = json.loads(stdout)
    entry = report["stages"]["annotate"]["endpoints"][NAME]
    assert entry["paused_after"] is True and entry["price_per_hour"] == 0.8
    assert api.state(NAME, hub.user) == "paused" and len(tgi.requests) == len(texts)
    assert len([c for c in api.calls if c.endswith("/resume")]) == 1
    assert "paused_after" in (tmp_path / "out" / "report.md").read_text()


class _Terminal(io.StringIO):
    """A stdin that is a terminal, answering the prompt with its text."""

    def isatty(self) -> bool:
        return True


def test_delete_without_a_terminal_refuses_naming_yes_and_keeps_the_endpoint(
    endpoints, hub, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --yes and with no terminal (CI, a pipe, </dev/null) the prompt read end-of-file: "Aborted." and exit
    130, as if the user had pressed Ctrl-C. It refuses in one line naming --yes, exit 2, and deletes nothing."""
    api, _ = endpoints
    code, _, err = run_cli(["endpoint", "up", "m/x", "--name", NAME, "--no-wait"], capsys)
    assert code == 0, err
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code, out, err = run_cli(["endpoint", "delete", NAME], capsys)
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        f"Error: not deleting endpoint {NAME!r}: there is no terminal to confirm on; pass --yes to delete it "
        "without asking."
    ]
    assert (hub.user, NAME) in api.items and not [c for c in api.calls if c.startswith("DELETE")]

    monkeypatch.setattr("sys.stdin", _Terminal("n\n"))  # a terminal: the question is asked, and "no" keeps it
    code, _, err = run_cli(["endpoint", "delete", NAME], capsys)
    assert code == 1 and "Delete endpoint" in err and err.rstrip().endswith("Aborted.")  # not 130: no Ctrl-C
    assert (hub.user, NAME) in api.items
    monkeypatch.setattr("sys.stdin", _Terminal("y\n"))
    code, _, err = run_cli(["endpoint", "delete", NAME], capsys)
    assert code == 0 and f"deleted endpoint {NAME}" in err and (hub.user, NAME) not in api.items

    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # --yes needs no terminal; a missing one is the usual line
    code, _, err = run_cli(["endpoint", "delete", NAME, "--yes"], capsys)
    assert code == 2 and f"no Inference Endpoint named {NAME!r}" in err


def test_scale_to_zero_help_states_the_range_it_takes(capsys: pytest.CaptureFixture[str]) -> None:
    """`endpoint up --help` said "Idle minutes (min 0)" for an option that refuses 0 (IntRange(1)): a user who
    passed 0 after reading it was refused. The help now says when it applies, and 0 is still refused in one line."""
    from sxhub.cli.endpoint import up

    option = next(p for p in up.params if p.name == "scale_to_zero_after")
    assert isinstance(option.type, click.IntRange) and option.type.min == 1
    assert "min 0" not in (option.help or "")
    assert "--min-replicas 0" in (option.help or "")
    code, _, err = run_cli(["endpoint", "up", "org/model", "--scale-to-zero-after", "0"], capsys)
    assert code == 2 and "x>=1" in err


def _waits(monkeypatch: pytest.MonkeyPatch, *, interrupt: bool) -> None:
    """huggingface_hub's ``InferenceEndpoint.wait()`` with Ctrl-C at its first sleep, or with a clock that runs
    past any timeout (its own ``time`` module only: the stand-ins' threads keep theirs)."""
    import itertools
    import types

    import huggingface_hub._inference_endpoints as module

    clock = itertools.count(step=0 if interrupt else 10_000)

    def sleep(seconds: float) -> None:
        if interrupt:
            raise KeyboardInterrupt

    monkeypatch.setattr(module, "time", types.SimpleNamespace(time=lambda: float(next(clock)), sleep=sleep))


@pytest.mark.parametrize("interrupt", [True, False], ids=["ctrl-c", "timeout"])
def test_a_wait_cut_short_says_the_endpoint_goes_on_and_how_to_stop_it(
    endpoints, hub, capsys, monkeypatch: pytest.MonkeyPatch, interrupt: bool
) -> None:
    """Ctrl-C while `endpoint up` waited said "nothing half-written is left ... a rerun starts over": the endpoint
    was created and went on starting (and billing once up), and the rerun stopped at "name is taken". A timeout
    said "retry", to the same end. Both now say that it goes on and name `sxhub endpoint pause NAME`; so does
    `endpoint resume`."""
    api, _ = endpoints
    api.warmup = 10**9  # never runs
    _waits(monkeypatch, interrupt=interrupt)
    code, _, err = run_cli(["endpoint", "up", "m/x", "--name", NAME], capsys)
    last = err.strip().splitlines()[-1]
    assert code == (130 if interrupt else 1) and f"`sxhub endpoint pause {NAME}`" in last, err
    assert "a rerun starts over" not in last and "retry" not in last
    assert (f"endpoint {NAME!r} was created" in last) and api.state(NAME, hub.user) == "pending"
    api.set_state(NAME, hub.user, "paused")
    code, _, err = run_cli(["endpoint", "resume", NAME, "--namespace", hub.user], capsys)
    last = err.strip().splitlines()[-1]
    assert code == (130 if interrupt else 1) and api.state(NAME, hub.user) == "initializing"
    assert f"`sxhub endpoint pause {NAME} --namespace {hub.user}`" in last and "a rerun starts over" not in last


@pytest.mark.parametrize("interrupt", [True, False], ids=["ctrl-c", "timeout"])
def test_annotate_pause_after_pauses_an_endpoint_it_resumed_whose_wait_was_cut_short(
    endpoints, hub, tmp_path: Path, capsys, caplog, monkeypatch: pytest.MonkeyPatch, interrupt: bool
) -> None:
    """annotate --pause-after resumed the endpoint and, when the wait for it was interrupted or timed out, left it
    starting: finish() paused only the endpoints that had come up. Without --pause-after Ctrl-C said only what a
    rerun of annotate does, not that the endpoint runs on nor how to stop it."""
    api, tgi = endpoints
    code, _, err = run_cli(["endpoint", "up", "m/x", "--name", NAME, "--no-wait"], capsys)
    assert code == 0, err
    api.warmup = 10**9
    _waits(monkeypatch, interrupt=interrupt)
    source = write_table(pd.DataFrame({"text": ["Profit rose.", "Sales fell."]}), tmp_path / "in.csv")
    args = ["annotate", str(_endpoint_task(tmp_path)), str(source), "-o", str(tmp_path / "out.jsonl")]
    api.set_state(NAME, hub.user, "paused")
    code, _, err = run_cli([*args, "--pause-after"], capsys)
    assert code == (130 if interrupt else 1) and api.state(NAME, hub.user) == "paused", err
    assert len([c for c in api.calls if c.endswith("/resume")]) == 1 and not tgi.requests
    said = err + caplog.text  # Ctrl-C: the interruption line; an error: a warning beside the error line
    assert "paused (--pause-after)" in said and "is left running" not in said

    caplog.clear()
    api.set_state(NAME, hub.user, "paused")
    code, _, err = run_cli(args, capsys)
    assert code == (130 if interrupt else 1) and api.state(NAME, hub.user) == "initializing"
    said = err + caplog.text
    assert f"endpoint {NAME!r} is left running" in said and f"`sxhub endpoint pause {NAME}`" in said


@pytest.mark.parametrize("failed", ["failed", "updateFailed"])
def test_a_run_with_a_failed_endpoint_says_it_failed_not_that_it_is_left_running(
    endpoints, hub, tmp_path: Path, capsys, caplog, failed: str
) -> None:
    """A failed endpoint bills nothing and cannot be woken: the run's error line says so, and no warning beside it
    told the user that it was "left running (billed while it runs)" (nor does --pause-after try to pause it)."""
    api, tgi = endpoints
    code, _, err = run_cli(["endpoint", "up", "m/x", "--name", NAME, "--no-wait"], capsys)
    assert code == 0, err
    api.set_state(NAME, hub.user, failed)
    source = write_table(pd.DataFrame({"text": ["Profit rose."]}), tmp_path / "in.csv")
    args = ["annotate", str(_endpoint_task(tmp_path)), str(source), "-o", str(tmp_path / "out.jsonl")]
    for extra in ([], ["--pause-after"]):
        caplog.clear()
        code, _, err = run_cli([*args, *extra], capsys)
        assert code == 1 and err.strip().splitlines()[-1].startswith(f"Error: endpoint {NAME!r} failed to start")
        assert "left running" not in err + caplog.text and "information.;" not in err
    assert api.state(NAME, hub.user) == failed and not [c for c in api.calls if c.endswith("/pause")]
    assert not tgi.requests


def test_resume_of_a_scaled_to_zero_endpoint_wakes_it_with_a_request_not_resume(endpoints, hub, capsys) -> None:
    """``resume`` (and a run naming the endpoint) POSTed /resume to a scaled-to-zero endpoint, which huggingface_hub
    keeps for paused ones (``InferenceEndpoint.pause``: "would require a manual resume"; ``scale_to_zero``: "resumed
    on the next request to it"): a request to its URL wakes it, and the wait follows it to running."""
    api, tgi = endpoints
    code, _, err = run_cli(["endpoint", "up", "m/x", "--name", NAME], capsys)
    assert code == 0, err
    api.set_state(NAME, hub.user, "scaledToZero")
    before = len(tgi.exchanges)
    code, out, err = run_cli(["endpoint", "resume", NAME], capsys)
    assert code == 0, err
    assert api.state(NAME, hub.user) == "running" and out.strip() == tgi.root + "/v1"
    assert not [c for c in api.calls if c.endswith("/resume")]
    assert len(tgi.exchanges) > before  # woken by a request to its URL
    api.set_state(NAME, hub.user, "paused")  # a paused one still takes /resume: a request would not wake it
    code, out, err = run_cli(["endpoint", "resume", NAME], capsys)
    assert code == 0 and api.state(NAME, hub.user) == "running", err
    assert len([c for c in api.calls if c.endswith("/resume")]) == 1


def test_each_refusal_of_the_hub_names_its_own_fix(endpoints, hub, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every 4xx but 429 ended "pass another --name, or change the option it names": wrong for a 402 (no payment
    method), a 403 (no write access to the namespace) and a 404 on create (no such namespace, and the fix it named
    was `sxhub endpoint up`, the command that failed). Each refusal now names its own fix, in one line."""
    api, _ = endpoints

    def refused(args: list[str]) -> str:
        code, _, err = run_cli(args, capsys)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1, err
        return lines[0]

    api.unbilled.add(hub.user)
    line = refused(["endpoint", "up", "m/x", "--name", NAME, "--no-wait"])
    assert "HTTP 402" in line and "https://huggingface.co/settings/billing" in line and "--name" not in line
    code, _, err = run_cli(["endpoint", "up", "m/x", "--name", NAME, "--no-wait", "--namespace", "test-org"], capsys)
    assert code == 0 and (hub.user, NAME) not in api.items and ("test-org", NAME) in api.items, err  # billed
    api.unbilled.discard(hub.user)
    code, _, err = run_cli(["endpoint", "up", "m/x", "--name", NAME, "--no-wait"], capsys)
    assert code == 0, err
    run_cli(["endpoint", "pause", NAME], capsys)
    api.unbilled.add(hub.user)  # credits ran out while it was paused
    line = refused(["endpoint", "resume", NAME])
    assert "HTTP 402" in line and "https://huggingface.co/settings/billing" in line and "status" not in line
    api.unbilled.clear()
    line = refused(["endpoint", "up", "m/x", "--name", NAME, "--no-wait", "--namespace", "read-org"])
    assert "HTTP 403" in line and "write access to 'read-org'" in line and "--name" not in line
    assert "https://huggingface.co/organizations/read-org/settings/billing" not in line
    line = refused(["endpoint", "up", "m/x", "--name", NAME, "--no-wait", "--namespace", "no-such-org"])
    assert "HTTP 404" in line and "'no-such-org'" in line and "--namespace" in line and "endpoint up" not in line
    line = refused(["endpoint", "status", NAME, "--namespace", "test-org-typo"])
    assert "'test-org-typo'" in line and "your namespace" not in line
    line = refused(["endpoint", "status", "nope", "--namespace", "test-org"])
    assert "no Inference Endpoint named 'nope' in namespace 'test-org'" in line
    monkeypatch.setenv("HF_TOKEN", "read-only-token")
    line = refused(["endpoint", "pause", NAME])
    assert "HTTP 403" in line and "write access" in line and api.state(NAME, hub.user) == "paused"


def test_a_409_on_create_says_the_name_is_taken() -> None:
    """The stand-in answers a taken name with 400 (as the stub's notes say); a 409 Conflict, the HTTP status for it,
    gets the name's fix too, not "change the option it names"."""
    from types import SimpleNamespace

    from sxhub.endpoints import _refusal

    exc = SimpleNamespace(response=SimpleNamespace(status_code=409), server_message="Endpoint name exists")
    line = str(_refusal(exc, "create", NAME, "test-org"))
    assert "HTTP 409: Endpoint name exists" in line and "the name is taken: pass another --name" in line
    assert f"`sxhub endpoint status {NAME} --namespace test-org`" in line and "option" not in line


def test_a_run_whose_resume_is_refused_does_not_say_the_endpoint_is_left_running(
    endpoints, hub, tmp_path: Path, capsys, caplog
) -> None:
    """The Hub refused to resume the paused endpoint (402: no payment method): the run stopped on that line, and a
    warning beside it said the endpoint "is left running (billed while it runs)" though it never left paused;
    --pause-after then paused it again as if this run had woken it. A refusal leaves nothing running to report."""
    api, tgi = endpoints
    code, _, err = run_cli(["endpoint", "up", "m/x", "--name", NAME, "--no-wait"], capsys)
    assert code == 0, err
    api.set_state(NAME, hub.user, "paused")
    api.unbilled.add(hub.user)
    source = write_table(pd.DataFrame({"text": ["Profit rose."]}), tmp_path / "in.csv")
    args = ["annotate", str(_endpoint_task(tmp_path)), str(source), "-o", str(tmp_path / "out.jsonl")]
    for extra in ([], ["--pause-after"]):
        caplog.clear()
        code, _, err = run_cli([*args, *extra], capsys)
        assert code == 2 and "HTTP 402" in err.strip().splitlines()[-1], err
        assert "left running" not in err + caplog.text and "paused (--pause-after)" not in err + caplog.text
    assert api.state(NAME, hub.user) == "paused" and not [c for c in api.calls if c.endswith("/pause")]
    assert not tgi.requests


def _paused_by_someone_else(api, tgi, user: str, *, after: int, status: int, body: str) -> None:
    """The endpoint is paused behind the run's back once its URL has answered ``after`` chat requests; from then on
    its URL answers what a paused endpoint's answers: HTTP 400 "Bad Request: Invalid state" (elastic/elasticsearch
    issue #112033, a request to a paused Hugging Face endpoint, 2024) or 502 Bad Gateway (huggingface/huggingface_hub
    issue #1605, the same, 2023). The stand-in's URL otherwise keeps answering whatever the endpoint's state."""
    from servers.base import Reply

    answer, answered = tgi.answer_chat, []

    def paused_answer(raw: bytes, headers: dict[str, str], **kwargs: Any) -> Reply:
        if api.state(NAME, user) == "paused":
            return Reply(status, {"error": body})
        answered.append(1)
        if len(answered) == after:
            api.set_state(NAME, user, "paused")
        return answer(raw, headers, **kwargs)

    tgi.answer_chat = paused_answer


@pytest.mark.parametrize(("status", "body"), [(400, "Bad Request: Invalid state"), (502, "Bad Gateway")])
def test_an_endpoint_paused_during_the_run_stops_it_in_one_line_and_the_rerun_resumes_it(
    endpoints, hub, tmp_path: Path, capsys, caplog, status: int, body: str
) -> None:
    """Someone paused the endpoint while annotate labelled with it. With a 400 every remaining text failed at once
    and annotate exited 0 ("labelled 4/12 texts, 8 failed", the endpoints line saying "still running"); with a 502
    each text was retried until "answered only errors ... restart it", 50 s later, and a warning said the endpoint
    "is left running (billed while it runs)". The run now stops at the first such answer, naming the endpoint's
    state and the fix; the same command resumes the endpoint and asks only the texts not answered yet."""
    api, tgi = endpoints
    code, _, err = run_cli(["endpoint", "up", "m/x", "--name", NAME], capsys)
    assert code == 0, err
    _paused_by_someone_else(api, tgi, hub.user, after=4, status=status, body=body)
    source = write_table(pd.DataFrame({"text": [f"Profit rose {i}%." for i in range(12)]}), tmp_path / "in.csv")
    out = tmp_path / "out.jsonl"
    args = ["annotate", str(_endpoint_task(tmp_path)), str(source), "-o", str(out), "--concurrency", "1"]
    code, _, err = run_cli(args, capsys)
    last = err.strip().splitlines()[-1]
    assert code == 2 and not out.exists(), err
    assert f"endpoint {NAME!r} is paused, not running (its URL answered HTTP {status})" in last
    assert "run the same command to resume it" in last and "label cache" in last
    assert "left running" not in err + caplog.text and "still running" not in err
    chats = [e.status for e in tgi.exchanges if e.path == "/v1/chat/completions"]
    assert chats == [200] * 4 + [status]  # nothing more was sent to a paused endpoint

    code, _, err = run_cli([*args, "--pause-after"], capsys)
    assert code == 0 and not read_table(out)["failed"].any(), err
    assert "8 requests (4 from cache)" in err and len(tgi.requests) == 12
    assert api.state(NAME, hub.user) == "paused"


@pytest.mark.parametrize("answer", [503, 404])
def test_a_status_read_refused_while_up_waits_does_not_say_the_endpoint_was_not_created(
    endpoints, hub, capsys, monkeypatch: pytest.MonkeyPatch, answer: int
) -> None:
    """`endpoint up` reads the new endpoint's state until it runs (huggingface_hub ``InferenceEndpoint.wait`` ->
    ``fetch`` -> ``get_inference_endpoint``, whose HTTP errors it does not catch). A 503 on one of those reads said
    "could not create endpoint ... retry in a while", and the retry stopped at "name is taken" while the endpoint
    went on starting; a 404 (deleted meanwhile, on the Hub's page) said the namespace was not found and to pass
    --namespace. The 503 now says the endpoint was created and goes on starting, with how to check and stop it;
    the 404 says there is no such endpoint (any more)."""
    from hubstub.store import HubError

    api, _ = endpoints
    api.warmup = 10**9  # still pending when the read is refused

    def refused(namespace: str, name: str) -> dict[str, Any]:
        raise HubError(answer, "Service Unavailable" if answer == 503 else f"Endpoint {name} not found")

    monkeypatch.setattr(api, "_read", refused)
    code, _, err = run_cli(["endpoint", "up", "m/x", "--name", NAME], capsys)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and code == (1 if answer == 503 else 2), err
    assert api.state(NAME, hub.user) == "pending"  # created all the same
    if answer == 503:
        assert f"endpoint {NAME!r} was created" in lines[0] and "HTTP 503: Service Unavailable" in lines[0]
        assert f"`sxhub endpoint status {NAME}`" in lines[0] and f"`sxhub endpoint pause {NAME}`" in lines[0]
        assert "retry" not in lines[0]
    else:
        assert f"no Inference Endpoint named {NAME!r}" in lines[0] and "to create endpoint" not in lines[0]


def test_the_cost_estimate_counts_the_replicas_an_endpoint_keeps(endpoints, hub, capsys) -> None:
    """The catalogue's price is per replica (huggingface_hub ``InferenceEndpointHardware.price_per_hour``: "Cost per
    replica per hour"), and an endpoint made with ``--min-replicas 2`` runs two the whole time: the ledger's estimate
    was one replica's, half of what it cost at least. It now counts the replicas the endpoint keeps (one at least)."""
    from sxhub.cards import ledger_rows
    from sxhub.endpoint_run import EndpointRun, format_endpoints

    code, _, err = run_cli(
        ["endpoint", "up", "m/x", "--name", NAME, "--min-replicas", "2", "--max-replicas", "3"], capsys
    )
    assert code == 0, err
    run = EndpointRun.of([TeacherSpec(endpoint=NAME)])
    run.start()
    run.started -= 1800  # half an hour of labelling
    entry = run.finish()[NAME]
    assert entry["price_per_hour"] == 0.8 and entry["replicas"] == 2 and entry["hours"] == pytest.approx(0.5, abs=1e-3)
    assert entry["cost_usd_estimate"] == pytest.approx(0.8 * 2 * entry["hours"], abs=1e-4)
    assert "$0.80/h x 2 replicas x 0.50 h = ~$0.80" in format_endpoints(run.info)
    assert (f"endpoints.{NAME}.replicas", "2") in ledger_rows({"endpoints": run.info})  # the card's cost table


def test_a_pause_after_the_hub_cannot_be_reached_for_keeps_the_run_and_says_how_to_pause(
    endpoints, hub, tmp_path: Path, capsys, caplog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--pause-after's pause is best effort once the labels are written ("the run's own result or error matters
    more"): a refusal of the Hub was one loud line, but the network failing at the pause (huggingface_hub passes
    httpx's ConnectError on, not as an HfHubHTTPError) escaped the run: exit 1 on "ConnectError: ...", no ledger,
    and no word that the endpoint was left running or how to pause it."""
    import httpx2
    from huggingface_hub import HfApi

    api, _ = endpoints
    code, _, err = run_cli(["endpoint", "up", "m/x", "--name", NAME], capsys)
    assert code == 0, err

    def unreachable(self: Any, name: str, **kwargs: Any) -> Any:
        raise httpx2.ConnectError("[Errno 101] Network is unreachable")

    monkeypatch.setattr(HfApi, "pause_inference_endpoint", unreachable)
    source = write_table(pd.DataFrame({"text": ["Profit rose.", "Sales fell."]}), tmp_path / "in.csv")
    out = tmp_path / "out.jsonl"
    args = ["annotate", str(_endpoint_task(tmp_path)), str(source), "-o", str(out), "--pause-after", "--json"]
    code, stdout, err = run_cli(args, capsys)
    assert code == 0, err
    assert json.loads(stdout)["endpoints"][NAME]["paused_after"] is False and len(read_table(out)) == 2
    assert "could not pause endpoint" in caplog.text and "Network is unreachable" in caplog.text
    assert f"still running: `sxhub endpoint pause {NAME}` stops it" in err and api.state(NAME, hub.user) == "running"


def test_the_hub_out_of_reach_is_one_line_and_up_says_the_endpoint_was_created(
    endpoints, hub, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A network error (httpx's ConnectError: huggingface_hub passes it on, it is no HfHubHTTPError) was the last
    resort's "ConnectError: ..." line: from `endpoint status` without a word of the network, and from `endpoint up`,
    whose wait reads the new endpoint's state, without a word that the endpoint was created and goes on starting."""
    import httpx2
    from huggingface_hub import HfApi

    api, _ = endpoints
    api.warmup = 10**9

    def unreachable(self: Any, name: str, **kwargs: Any) -> Any:
        raise httpx2.ConnectError("[Errno 101] Network is unreachable")

    monkeypatch.setattr(HfApi, "get_inference_endpoint", unreachable)
    code, _, err = run_cli(["endpoint", "up", "m/x", "--name", NAME], capsys)
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and f"endpoint {NAME!r} was created" in lines[0], err
    assert "Network is unreachable" in lines[0] and f"`sxhub endpoint pause {NAME}`" in lines[0]
    assert api.state(NAME, hub.user) == "pending"
    code, _, err = run_cli(["endpoint", "status", NAME], capsys)
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and "could not reach the Hub to read endpoint" in lines[0], err
    assert "check the network" in lines[0] and not lines[0].startswith("Error: ConnectError")


def test_a_rerun_of_a_finished_annotate_does_not_wake_the_paused_endpoint(
    endpoints, hub, tmp_path: Path, capsys
) -> None:
    """A finished annotate run again (with --pause-after) resumed the paused endpoint before reading that its parts
    left nothing to ask: minutes of wait and an hour's billing for no request, then paused again, and the ledger
    booked those hours. The rerun now leaves it paused, books no endpoint and writes the same OUT; a run that has a
    text to ask still resumes it before the first request."""
    api, tgi = endpoints
    code, _, err = run_cli(["endpoint", "up", "m/x", "--name", NAME], capsys)
    assert code == 0, err
    api.set_state(NAME, hub.user, "paused")
    texts = [f"Profit rose {i}%." for i in range(6)]
    source = write_table(pd.DataFrame({"text": texts}), tmp_path / "in.csv")
    out = tmp_path / "out.jsonl"
    args = ["annotate", str(_endpoint_task(tmp_path)), str(source), "-o", str(out), "--pause-after", "--json"]
    code, stdout, err = run_cli(args, capsys)
    assert code == 0 and NAME in json.loads(stdout)["endpoints"], err
    first = read_table(out)
    resumes = [c for c in api.calls if c.endswith("/resume")]
    assert len(resumes) == 1 and api.state(NAME, hub.user) == "paused" and len(tgi.requests) == 6

    code, stdout, err = run_cli(args, capsys)
    assert code == 0, err
    assert [c for c in api.calls if c.endswith("/resume")] == resumes  # not woken for nothing
    assert api.state(NAME, hub.user) == "paused" and len(tgi.requests) == 6
    assert "endpoints" not in json.loads(stdout) and "endpoints:" not in err and "paused (--pause-after)" not in err
    pd.testing.assert_frame_equal(read_table(out), first)

    more = write_table(pd.DataFrame({"text": [*texts, "Profit fell 9%."]}), tmp_path / "more.csv")
    other = tmp_path / "more.jsonl"
    code, stdout, err = run_cli([*args[:2], str(more), "-o", str(other), *args[5:]], capsys)
    assert code == 0, err
    assert len([c for c in api.calls if c.endswith("/resume")]) == 2 and len(tgi.requests) == 7
    assert json.loads(stdout)["endpoints"][NAME]["paused_after"] is True and api.state(NAME, hub.user) == "paused"


def endpoint_task_with_model(tmp_path: Path, capsys: Any) -> Path:
    """Endpoint NAME up, and a task spec whose teacher names it and its ``model:`` (so the label cache's key needs
    no answer from the server: a run can tell whether it will ask anything without waking the endpoint)."""
    model = "HuggingFaceTB/SmolLM2-1.7B-Instruct"
    code, _, err = run_cli(["endpoint", "up", model, "--name", NAME], capsys)
    assert code == 0, err
    task = tmp_path / "task.yaml"
    task.write_text(
        f"name: fin\nlabels: [positive, neutral, negative]\nteachers:\n  - endpoint: {NAME}\n    model: {model}\n"
    )
    return task


@pytest.mark.slow  # three runs that stop after annotate (a student needs ten texts)
def test_a_run_the_label_cache_answers_whole_does_not_wake_the_endpoint(
    endpoints, hub, tmp_path: Path, capsys
) -> None:
    """`sxhub run` woke the endpoint before annotate even when the label cache answered every text (a rerun): a
    scaled-to-zero one got a request that started a replica (billed), and the ledger booked its hours. A run that
    the cache answers whole now leaves it as it is and books no endpoint; one new text still wakes it first."""
    api, tgi = endpoints
    task = endpoint_task_with_model(tmp_path, capsys)
    texts = [f"Sales fell {i}%." for i in range(6)]
    source = write_table(pd.DataFrame({"text": texts}), tmp_path / "in.csv")

    def run(src: Path, out: str) -> dict[str, Any]:
        code, _, err = run_cli(["run", str(task), str(src), "--out", str(tmp_path / out), "--pause-after"], capsys)
        assert code == 2 and f"only {len(read_table(src))} of" in err, err
        return json.loads((tmp_path / out / "labelled.ledger.json").read_text())

    api.set_state(NAME, hub.user, "scaledToZero")
    assert run(source, "o")["endpoints"][NAME]["paused_after"] is True and len(tgi.requests) == 6
    api.set_state(NAME, hub.user, "scaledToZero")  # resumed since and idle again
    seen, pauses = len(tgi.exchanges), [c for c in api.calls if c.endswith("/pause")]
    ledger = run(source, "p")
    assert len(tgi.exchanges) == seen and api.state(NAME, hub.user) == "scaledToZero"  # no knock, no request
    assert "endpoints" not in ledger and [c for c in api.calls if c.endswith("/pause")] == pauses
    assert ledger["cached"] == 6 and ledger["requests"] == 0

    more = write_table(pd.DataFrame({"text": [*texts, "Sales rose 9%."]}), tmp_path / "more.csv")
    assert run(more, "q")["endpoints"][NAME]["paused_after"] is True
    assert len(tgi.requests) == 7 and tgi.exchanges[seen].path == "/health"  # woken before its first request


def test_annotate_into_a_new_out_the_label_cache_answers_whole_does_not_wake_the_endpoint(
    endpoints, hub, tmp_path: Path, capsys
) -> None:
    """`sxhub annotate` of texts labelled before, into a new -o, resumed the endpoint before the first chunk though
    the label cache answered every vote: a scaled-to-zero one got the request that starts a replica (billed) and
    the ledger booked its hours. It now labels from the cache with the URL the Hub gives while it sleeps and leaves
    it as it is; one new text still wakes it before the first request, and that OUT resumes with the spec's teacher."""
    api, tgi = endpoints
    task = endpoint_task_with_model(tmp_path, capsys)
    texts = [f"Costs fell {i}%." for i in range(6)]
    source = write_table(pd.DataFrame({"text": texts}), tmp_path / "in.csv")

    def annotate(src: Path, out: str) -> dict[str, Any]:
        args = ["annotate", str(task), str(src), "-o", str(tmp_path / out), "--pause-after", "--json"]
        code, stdout, err = run_cli(args, capsys)
        assert code == 0, err
        return json.loads(stdout)

    api.set_state(NAME, hub.user, "scaledToZero")
    assert annotate(source, "a.jsonl")["endpoints"][NAME]["paused_after"] is True and len(tgi.requests) == 6
    api.set_state(NAME, hub.user, "scaledToZero")  # resumed since and idle again
    seen, pauses = len(tgi.exchanges), [c for c in api.calls if c.endswith("/pause")]
    ledger = annotate(source, "b.jsonl")
    assert len(tgi.exchanges) == seen and api.state(NAME, hub.user) == "scaledToZero"  # no knock, no request
    assert "endpoints" not in ledger and [c for c in api.calls if c.endswith("/pause")] == pauses
    assert ledger["cached"] == 6 and ledger["requests"] == 0
    pd.testing.assert_frame_equal(read_table(tmp_path / "b.jsonl"), read_table(tmp_path / "a.jsonl"))
    manifest = json.loads((tmp_path / "b.jsonl.parts" / "manifest.json").read_text())
    assert manifest["teachers"][0]["endpoint"] == NAME and manifest["teachers"][0]["base_url"] is None

    more = write_table(pd.DataFrame({"text": [*texts, "Costs rose 9%."]}), tmp_path / "more.csv")
    assert annotate(more, "c.jsonl")["endpoints"][NAME]["paused_after"] is True
    assert len(tgi.requests) == 7 and tgi.exchanges[seen].path == "/health"  # woken before its first request
    api.set_state(NAME, hub.user, "scaledToZero")
    assert annotate(source, "b.jsonl")["requests"] == 0  # b's parts, finished, resumed with the spec's teacher
    assert api.state(NAME, hub.user) == "scaledToZero"


def test_a_rerun_of_a_finished_annotate_on_ray_does_not_wake_the_paused_endpoint(
    endpoints, hub, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--engine ray resumed the paused endpoint before anything else, also for a finished job run again (every
    shard complete: nothing to ask, Ray not even joined). It is now resumed once the input is split and Ray joined,
    only when a shard is left to label. The shards run here in this process (Ray's part is its own tests')."""
    from dataclasses import replace

    from sxhub import ray_annotate
    from sxhub.parts import label_shard, shard_dir

    joined: list[str | None] = []

    def shards_here(job: Any, parts: Path, todo: list[int], *, shards: int, **_: Any) -> None:
        for i in todo:
            folder = shard_dir(parts, i, shards)
            rows = str(folder / ray_annotate.SHARD_ROWS)
            label_shard(replace(job, folder=folder, cache=folder, positions=rows))

    monkeypatch.setattr(ray_annotate, "connect", lambda address, quiet: joined.append(address) or False)
    monkeypatch.setattr(ray_annotate, "disconnect", lambda owned: None)
    monkeypatch.setattr(ray_annotate, "_run_shards", shards_here)
    api, tgi = endpoints
    code, _, err = run_cli(["endpoint", "up", "m/x", "--name", NAME], capsys)
    assert code == 0, err
    api.set_state(NAME, hub.user, "paused")
    source = write_table(pd.DataFrame({"text": [f"Profit rose {i}%." for i in range(6)]}), tmp_path / "in.csv")
    out = tmp_path / "out.jsonl"
    args = ["annotate", str(_endpoint_task(tmp_path)), str(source), "-o", str(out), "--engine", "ray"]
    args += ["--shards", "2", "--pause-after", "--json"]
    code, stdout, err = run_cli(args, capsys)
    assert code == 0 and json.loads(stdout)["endpoints"][NAME]["paused_after"] is True, err
    resumes = [c for c in api.calls if c.endswith("/resume")]
    assert len(resumes) == 1 and len(tgi.requests) == 6 and len(joined) == 1
    first = read_table(out)

    code, stdout, err = run_cli(args, capsys)
    assert code == 0, err
    assert [c for c in api.calls if c.endswith("/resume")] == resumes and len(joined) == 1  # not woken, nor Ray
    assert api.state(NAME, hub.user) == "paused" and len(tgi.requests) == 6
    assert "endpoints" not in json.loads(stdout) and "endpoints:" not in err
    pd.testing.assert_frame_equal(read_table(out), first)


@pytest.mark.parametrize("verb", ["generate", "twins"])
def test_a_generate_or_twins_rerun_the_label_cache_answers_whole_does_not_wake_the_endpoint(
    endpoints, hub, tmp_path: Path, capsys, verb: str
) -> None:
    """generate and twins resumed the endpoint before the first request even when the label cache held every answer
    they needed (the same command run again): a scaled-to-zero one got the request that starts a replica (billed),
    and the ledger booked its hours. As annotate does, a rerun the cache answers whole now labels with the URL the
    Hub gives while it sleeps and leaves it as it is; a run that asks something still wakes it before the request."""
    api, tgi = endpoints
    task = endpoint_task_with_model(tmp_path, capsys)
    if verb == "twins":
        source = write_table(pd.DataFrame({"text": ["Profit rose at Acme.", "Sales fell."]}), tmp_path / "in.csv")
        args = ["twins", str(task), str(source)]
    else:
        args = ["generate", str(task), "--n", "2", "--topic", "banks", "--min-distance", "0"]

    def run(out: str, *more: str) -> dict[str, Any]:
        code, _, err = run_cli([*args, "-o", str(tmp_path / out), "--pause-after", *more], capsys)
        assert code == 0, err
        return json.loads((tmp_path / out).with_suffix(".ledger.json").read_text())

    api.set_state(NAME, hub.user, "scaledToZero")
    assert run("a.csv")["endpoints"][NAME]["paused_after"] is True and tgi.requests
    api.set_state(NAME, hub.user, "scaledToZero")  # resumed since and idle again
    seen, pauses = len(tgi.exchanges), [c for c in api.calls if c.endswith("/pause")]
    ledger = run("b.csv")
    assert len(tgi.exchanges) == seen and api.state(NAME, hub.user) == "scaledToZero"  # no knock, no request
    assert "endpoints" not in ledger and [c for c in api.calls if c.endswith("/pause")] == pauses
    pd.testing.assert_frame_equal(read_table(tmp_path / "b.csv"), read_table(tmp_path / "a.csv"))
    # another seed asks new texts: woken (a knock on /health) before the first request, and paused after
    assert run("c.csv", "--seed", "1")["endpoints"][NAME]["paused_after"] is True
    assert tgi.exchanges[seen].path == "/health" and len(tgi.exchanges) > seen + 1


def test_a_generate_whose_late_wake_is_refused_stops_on_that_line(
    endpoints, hub, tmp_path: Path, capsys, caplog
) -> None:
    """Woken at its first request the cache cannot answer (not before generate began), an endpoint whose resume the
    Hub refuses (402) stops the run on the Hub's line, exit 2, nothing said to be left running, nothing asked."""
    api, tgi = endpoints
    task = endpoint_task_with_model(tmp_path, capsys)
    api.set_state(NAME, hub.user, "paused")
    api.items[(hub.user, NAME)]["status"]["url"] = tgi.root  # a URL the Hub gives while paused: opened asleep
    api.unbilled.add(hub.user)
    args = ["generate", str(task), "--n", "2", "--topic", "banks", "-o", str(tmp_path / "g.csv"), "--pause-after"]
    code, _, err = run_cli(args, capsys)
    assert code == 2 and "HTTP 402" in err.strip().splitlines()[-1], err
    assert "Traceback" not in err and "left running" not in err + caplog.text
    assert api.state(NAME, hub.user) == "paused" and not [c for c in api.calls if c.endswith("/pause")]
    assert not tgi.requests
