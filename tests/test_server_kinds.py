"""Each teacher server kind gets the request that makes it enforce the answer schema, and a run labels every text.

The servers are the conformance stand-ins of ``tests/servers/``: each judges requests the way that server's own
code does (their docstrings cite repository, file and commit) and enforces what that server would. sxhub is not
told the kind: it detects it from the server's routes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli
from provider_router import routes_named_providers
from servers import SERVER_KINDS, LocalAIServer, TGIServer, VLLMServer

from sxhub.annotate import annotate
from sxhub.annotate_stops import EARLY_STOP_REJECTIONS, RequestShapeError
from sxhub.ledger import teacher_servers
from sxhub.spec import TaskSpec, TeacherSpec
from sxhub.teachers.servers import PROBE_ROUTES

LABELS = ["positive", "neutral", "negative"]
TEXTS = [f"Operating profit rose to EUR {i}m." for i in range(12)]
SCHEMA_KINDS = [k for k in SERVER_KINDS if k != "openai"]
FORMS = {
    "tgi": "response_format json + value",
    "vllm": "structured_outputs (extra_body)",
    "llamacpp": "response_format json_object + schema",
    "llamacpp-python": "response_format json_object + schema",
    "ollama": "/api/chat format json schema, truncate false, shift false",
    "sglang": "response_format json_schema",
}


def spec_for(url: str, *, multi_label: bool = False, **teacher: object) -> TaskSpec:
    entry = TeacherSpec(base_url=url, model="stub-model", name="srv", **teacher)  # type: ignore[arg-type]
    return TaskSpec(name="fin", labels=LABELS, multi_label=multi_label, reasoning=True, teachers=[entry])


def run(spec: TaskSpec, tmp_path: Path, *, texts: list[str] = TEXTS, **kwargs: object):
    kwargs = {"cache": tmp_path / "cache", "progress": False, "concurrency": 4, "max_invalid": 0, **kwargs}
    return annotate(spec, texts, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("multi_label", [False, True], ids=["single", "multi"])
@pytest.mark.parametrize("kind", SCHEMA_KINDS)
def test_every_kind_is_detected_sent_its_form_and_enforces_the_schema(
    kind: str, multi_label: bool, tmp_path: Path
) -> None:
    with SERVER_KINDS[kind]() as server:
        result = run(spec_for(server.url, multi_label=multi_label), tmp_path)
        probes = [e for e in server.exchanges if e.method == "GET"]
    assert not result.frame["failed"].any()  # no re-asks (max_invalid=0): the server's enforcement alone
    assert server.enforced == ["schema"] * len(TEXTS)
    led = result.ledger["teachers"]["srv"]
    assert (led["server"], led["enforced"], led["request_form"]) == (kind, "schema", FORMS[kind])
    assert led["invalid_answers"] == 0 and led["rejected"] == 0
    assert len(probes) <= len(PROBE_ROUTES)  # detection happened once, not per request
    body = server.requests[0]  # never two constraint kinds at once (vLLM refuses that)
    assert not ("response_format" in body and ({"structured_outputs", "guided_json"} & set(body)))


def test_vllm_before_0_10_2_gets_guided_json(tmp_path: Path) -> None:
    with VLLMServer(version="0.9.2") as server:
        result = run(spec_for(server.url), tmp_path)
    assert "guided_json" in server.requests[0] and "structured_outputs" not in server.requests[0]
    assert server.enforced == ["schema"] * len(TEXTS) and not result.frame["failed"].any()


@pytest.mark.parametrize("ollama_api", [True, False], ids=["localai", "localai-before-ollama-routes"])
def test_a_server_that_answers_vllms_and_ollamas_version_routes_is_not_taken_for_either(
    ollama_api: bool, tmp_path: Path
) -> None:
    """LocalAI answers ``GET /version`` with ``{"version": ...}`` as vLLM does (so do many unrelated apps) and, from
    April 2026, ``GET /api/version`` as Ollama does, and ignores both vLLM's ``structured_outputs`` and the
    ``format`` of Ollama's ``/api/chat``. It was detected as vLLM (or Ollama) and the ledger said the schema was
    enforced while nothing was. It is a generic OpenAI server now: asked for JSON, and the ledger says so."""
    with LocalAIServer(ollama_api=ollama_api) as server:
        result = run(spec_for(server.url), tmp_path, texts=TEXTS[:2])
        posts = {e.path for e in server.exchanges if e.method == "POST"}
    led = result.ledger["teachers"]["srv"]
    assert (led["server"], led["enforced"]) == ("openai", "json")
    assert posts == {"/v1/chat/completions"}
    assert server.requests[0]["response_format"] == {"type": "json_object"}
    assert not {"structured_outputs", "guided_json"} & set(server.requests[0])
    assert set(server.enforced) == {"json"}


def test_an_unknown_server_is_asked_for_json_and_every_reply_is_validated(tmp_path: Path) -> None:
    with SERVER_KINDS["openai"]() as server:
        result = run(spec_for(server.url), tmp_path, texts=TEXTS[:2])
    assert server.requests[0]["response_format"] == {"type": "json_object"}
    led = result.ledger["teachers"]["srv"]
    assert led["server"] == "openai" and led["enforced"] == "json"
    # this stand-in enforces nothing: its prose replies fail sxhub's own check, and no text gets a guessed label
    assert result.frame["failed"].all() and result.frame["label"].isna().all()
    assert "schema NOT enforced by the server" in result.summary_line()


def test_a_teacher_whose_first_texts_get_only_invalid_answers_stops_the_run(tmp_path: Path) -> None:
    """A server that enforces no schema, and a model answering prose: every text was asked max_invalid + 1 times and
    failed, to the end of the input (40 texts, 240 requests paid, then "every text failed"). Its first five texts
    without a valid answer now stop the run, with what its server enforced and the fix."""
    from sxhub.errors import TeacherUnavailableError

    with SERVER_KINDS["openai"]() as server, pytest.raises(TeacherUnavailableError) as info:
        run(spec_for(server.url), tmp_path, concurrency=1)
    message = str(info.value)
    assert "gave no valid answer for its first 5 texts" in message and "enforced json, not the schema" in message
    assert "`server:`" in message and "\n" not in message
    assert len(server.requests) == 5  # max_invalid=0: one request per text, five texts, not twelve


def test_server_in_the_spec_skips_detection(tmp_path: Path) -> None:
    with TGIServer() as server:
        result = run(spec_for(server.url, server="tgi"), tmp_path)
        gets = [e.path for e in server.exchanges if e.method == "GET"]
    assert gets == [] and not result.frame["failed"].any()
    assert result.ledger["teachers"]["srv"]["server"] == "tgi"


def test_tgi_refusing_the_shape_stops_the_run_with_its_own_words(tmp_path: Path) -> None:
    """llama.cpp's form sent to TGI (``structured: json_object``) has no ``value``: TGI answers 422 every time."""
    with TGIServer() as server, pytest.raises(RequestShapeError) as info:
        run(spec_for(server.url, structured="json_object"), tmp_path, concurrency=1)
    message = str(info.value)
    assert "HTTP 422" in message and "missing field `value`" in message and "`server:`" in message
    assert len(server.requests) == EARLY_STOP_REJECTIONS


def test_rerun_from_the_cache_contacts_no_server(tmp_path: Path) -> None:
    with VLLMServer() as server:
        url = server.url
        first = run(spec_for(url), tmp_path)
        n = len(server.exchanges)
        second = run(spec_for(url), tmp_path)
        assert len(server.exchanges) == n  # neither detection probes nor requests
    assert second.ledger["cached"] == len(TEXTS) and second.frame["label"].tolist() == first.frame["label"].tolist()
    assert "not contacted" in " ".join(teacher_servers(second.ledger))


def test_cli_server_option_and_ledger_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    task = tmp_path / "task.yaml"
    task.write_text(json.dumps({"name": "fin", "labels": LABELS}), encoding="utf-8")
    texts = tmp_path / "texts.csv"
    texts.write_text("text\n" + "\n".join(TEXTS) + "\n", encoding="utf-8")
    out = tmp_path / "labelled.jsonl"
    with VLLMServer() as server:
        argv = ["annotate", str(task), str(texts), "-o", str(out), "--teacher", server.url, "--server", "vllm"]
        code, _, err = run_cli([*argv, "--cache-dir", str(tmp_path / "c")], capsys)
        gets = [e.path for e in server.exchanges if e.method == "GET"]
    assert code == 0, err
    assert gets == ["/v1/models"]  # no detection probes; the one model the server lists names the requests
    assert {body["model"] for body in server.requests} == {"stub-model"}
    ledger = json.loads((tmp_path / "labelled.ledger.json").read_text(encoding="utf-8"))
    (teacher,) = ledger["teachers"].values()
    assert teacher["server"] == "vllm" and teacher["enforced"] == "schema"
    code, _, err = run_cli([*argv[:-2], "--server", "nope"], capsys)
    assert code == 2 and "nope" in err


@pytest.mark.parametrize("provider", [None, "together"], ids=["auto-router", "together"])
def test_inference_providers_get_the_openai_form_that_huggingface_hub_adapts(
    provider: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Hub model id: sxhub sends the OpenAI json_schema form; huggingface_hub routes it (and flattens it for
    Together), and the router stand-in (written from huggingface_hub's own routing code) sees a constrained request."""
    from huggingface_hub.inference._providers import _common
    from provider_router import MODEL, ProviderRouter, point_client_at, routes_named_providers

    with ProviderRouter() as router:
        monkeypatch.setenv("HF_TOKEN", "hf_provider_test_token")
        point_client_at(router, monkeypatch)
        _common._fetch_inference_provider_mapping.cache_clear()
        teacher = TeacherSpec(model=MODEL, provider=provider, name="hub")
        spec = TaskSpec(name="fin", labels=LABELS, reasoning=True, teachers=[teacher])
        result = run(spec, tmp_path)
        _common._fetch_inference_provider_mapping.cache_clear()
    sent = {(path, body["model"]) for path, body in router.requests}
    if provider is None:
        assert sent == {("/v1/chat/completions", MODEL)}
    elif routes_named_providers():  # huggingface_hub >= 2.5: the router resolves model:provider itself
        assert sent == {("/v1/chat/completions", f"{MODEL}:together")}
    else:
        assert sent == {("/together/v1/chat/completions", "together-org/teacher-model-turbo")}
    assert router.enforced == ["schema"] * len(TEXTS) and not result.frame["failed"].any()
    led = result.ledger["teachers"]["hub"]
    assert led["server"] == "providers" and led["enforced"] == "schema"


@pytest.mark.parametrize("kind", ["ollama", "vllm"])
def test_a_root_url_that_answers_404_names_the_v1_fix(kind: str, tmp_path: Path) -> None:
    """``http://localhost:11434`` / ``:8000``, the addresses Ollama and vLLM print: sxhub's own requests went to the
    root (Ollama's 404 page, vLLM's "The model `default` does not exist") and the error said only "check the model id
    or base_url"; it now names the base_url with /v1 that works."""
    from sxhub.errors import TeacherUnavailableError

    with SERVER_KINDS[kind]() as server, pytest.raises(TeacherUnavailableError) as info:
        root = server.url.removesuffix("/v1")
        run(TaskSpec(name="fin", labels=LABELS, teachers=[TeacherSpec(base_url=root, name="srv")]), tmp_path)
    assert f"use base_url {root}/v1 for teacher 'srv'" in str(info.value)


@pytest.mark.parametrize("version", ["0.33.0", "0.20.0"])
def test_a_text_over_an_ollama_context_fails_with_the_context_fix_instead_of_a_label(
    version: str, tmp_path: Path
) -> None:
    """Ollama drops the head of a prompt longer than the model's context (the task's instructions) and answers 200
    by default; sxhub recorded a label from a teacher that never saw the task. It now asks /api/chat with
    ``truncate: false``: that text fails with the context error and its fix, the others are labelled."""
    from servers import OllamaServer

    from sxhub.teachers.base import CONTEXT_FIX

    texts = [TEXTS[0], "Operating profit rose to EUR 9m. " * 200, TEXTS[1]]
    with OllamaServer(num_ctx=400, version=version) as server:
        result = run(spec_for(server.url), tmp_path, texts=texts)
    frame = result.frame
    assert frame["failed"].tolist() == [False, True, False] and frame["label"].notna().tolist() == [True, False, True]
    assert CONTEXT_FIX in frame["error"][1] and "HTTP 400" in frame["error"][1]
    assert server.cut == []  # no prompt was answered with its head cut
    sent = server.requests[0]
    assert sent["truncate"] is False and sent["stream"] is False and sent["options"]["num_predict"] > 0
    assert {e.path for e in server.exchanges if e.method == "POST"} == {"/api/chat"}


def test_an_ollama_too_old_to_refuse_a_long_prompt_is_named_in_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Before 0.12.6 Ollama ignores ``truncate``: a long text is still cut and labelled; the user is told once, with
    the fixes, instead of nothing."""
    from servers import OllamaServer

    with OllamaServer(version="0.12.3") as server, caplog.at_level("WARNING", logger="sxhub"):
        result = run(spec_for(server.url), tmp_path, texts=TEXTS[:3])
    assert not result.frame["failed"].any()
    warnings = [r.getMessage() for r in caplog.records if "truncate: false" in r.getMessage()]
    assert len(warnings) == 1 and "Ollama 0.12.3" in warnings[0] and "--max-chars" in warnings[0]


@pytest.mark.parametrize("server_kind", ["ollama", None], ids=["server-ollama", "detected"])
def test_an_ollama_behind_a_v1_only_gateway_falls_back_to_the_openai_route_with_one_warning(
    server_kind: str | None, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A gateway in front of Ollama that serves only its ``/v1`` routes (reached with ``server: ollama``, or through an
    ``/api/version`` it forwards) answered 404 to every ``/api/chat`` request and the run stopped with "check the
    model id or base_url". sxhub now sends its requests to ``/v1/chat/completions`` with the json_schema form, and
    says once that over-long prompts can then be cut silently, and how to avoid it."""
    from servers import OllamaServer

    teacher = {"server": server_kind} if server_kind else {}
    with OllamaServer(api_chat=False) as server, caplog.at_level("WARNING", logger="sxhub"):
        result = run(spec_for(server.url, **teacher), tmp_path, texts=TEXTS[:6])
    assert not result.frame["failed"].any() and server.enforced == ["schema"] * 6
    posts = [e.path for e in server.exchanges if e.method == "POST"]
    # /api/chat is tried by the requests sent before the first 404 came back (concurrency 4), never again
    assert posts.count("/v1/chat/completions") == 6 and 1 <= posts.count("/api/chat") <= 4
    assert server.requests[0]["response_format"]["type"] == "json_schema"
    warnings = [r.getMessage() for r in caplog.records if "/api/chat answered HTTP 404" in r.getMessage()]
    assert len(warnings) == 1 and "num_ctx" in warnings[0] and "--max-chars" in warnings[0]
    led = result.ledger["teachers"]["srv"]
    assert (led["server"], led["enforced"], led["request_form"]) == ("ollama", "schema", "response_format json_schema")


def test_an_ollama_that_has_not_pulled_the_model_is_not_taken_for_a_v1_only_gateway(tmp_path: Path) -> None:
    """Ollama's own 404 on /api/chat ("model 'X' not found") still stops the run with the model fix."""
    from servers import OllamaServer

    from sxhub.errors import TeacherUnavailableError

    with OllamaServer() as server, pytest.raises(TeacherUnavailableError, match="model 'other' not found"):
        run(TaskSpec(name="fin", labels=LABELS, teachers=[TeacherSpec(base_url=server.url, model="other")]), tmp_path)
    assert {e.path for e in server.exchanges if e.method == "POST"} == {"/api/chat"}


@pytest.mark.parametrize("version", ["0.33.0", "0.20.0"])
def test_an_ollama_answer_that_fills_the_context_fails_naming_num_ctx_instead_of_a_label(
    version: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A prompt that fits the context and an answer that does not: Ollama's context shift dropped the prompt's head,
    the task's instructions, while answering, and sxhub recorded the label it finished with (nothing in the answer
    said so). Its requests now carry ``shift: false``: Ollama stops such an answer (``done_reason: "length"``), and
    that vote fails once, not asked again, with a reason that names num_ctx; a warning names num_ctx once it keeps
    happening."""
    from servers import OllamaServer
    from servers.ollama import prompt_tokens

    from sxhub.annotate_engine import unanswered
    from sxhub.prompt import message_builder
    from sxhub.teachers.base import ANSWER_CONTEXT_FIX

    spec = spec_for("http://unused/v1")
    words = sum(len(m["content"].split()) for m in message_builder(spec)("x"))
    near = [f"text {i} " + "profit " * (400 - words - 6) for i in range(3)]  # prompt fits 400, answer does not
    texts = [TEXTS[0], *near, TEXTS[1]]
    with OllamaServer(num_ctx=400, version=version) as server, caplog.at_level("WARNING", logger="sxhub"):
        result = run(spec_for(server.url), tmp_path, texts=texts, concurrency=1, max_invalid=2)
    frame = result.frame
    assert frame["failed"].tolist() == [False, True, True, True, False]
    assert frame["label"].notna().tolist() == [True, False, False, False, True]
    assert all(ANSWER_CONTEXT_FIX in e and "done_reason length" in e for e in frame["error"][1:4])
    # a resumed job does not ask these again, as for a prompt over the context (annotate_engine.unanswered)
    assert not any(unanswered(v) for votes in frame["votes"][1:4] for v in votes)
    assert server.cut == []  # no answer was finished over a prompt whose head was dropped
    assert len(server.requests) == 5 and all(r["shift"] is False for r in server.requests)  # never asked again
    warnings = [r.getMessage() for r in caplog.records if "ran past the model's context window" in r.getMessage()]
    assert len(warnings) == 1 and "num_ctx" in warnings[0] and "OLLAMA_CONTEXT_LENGTH" in warnings[0]
    # the cut answers are counted as such, with the tokens Ollama spent on them (they were left out of the bill)
    led = result.ledger
    assert led["context_cuts"] == 3 and led["rejected"] == 0 and led["invalid_answers"] == 0
    assert led["input_tokens"] == sum(prompt_tokens(r["messages"]) for r in server.requests)
    assert "num_ctx" in result.summary_line()


def test_an_openai_route_answer_that_fills_the_context_fails_naming_the_servers_context(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """llama-cpp-python's server lowers max_tokens to what is left of its n_ctx after the prompt and stops the answer
    there with ``finish_reason: "length"``, below the request's max_tokens. The cut JSON read "invalid answer: reply
    holds no JSON object" with no reason, was asked three times (each filling the same context) and the summary said
    only "1 failed". Now the vote fails once with a reason that names --n_ctx, a resumed job does not ask it again,
    the cut answers' tokens are in the ledger (the server spent them), which counts the cuts, and the summary line
    and a warning name the fix."""
    from servers import LlamaCppPythonServer

    from sxhub.annotate_engine import unanswered
    from sxhub.prompt import message_builder
    from sxhub.teachers.base import ANSWER_CUT

    spec = spec_for("http://unused/v1")
    words = sum(len(m["content"].split()) for m in message_builder(spec)("x"))
    near = [f"text {i} " + "profit " * (400 - words - 4) for i in range(3)]  # prompt fits 400, answer does not
    texts = [TEXTS[0], *near, TEXTS[1]]
    with LlamaCppPythonServer(n_ctx=400) as server, caplog.at_level("WARNING", logger="sxhub"):
        result = run(spec_for(server.url), tmp_path, texts=texts, concurrency=1, max_invalid=2)
    frame = result.frame
    assert frame["failed"].tolist() == [False, True, True, True, False]
    for error in frame["error"][1:4]:
        assert ANSWER_CUT in error and "--n_ctx" in error and "below max_tokens=256" in error, error
        assert "invalid answer" not in error
    assert not any(unanswered(v) for votes in frame["votes"][1:4] for v in votes)
    assert len(server.requests) == 5  # each cut answer asked once, not max_invalid + 1 times
    led = result.ledger
    assert led["context_cuts"] == 3 and led["invalid_answers"] == 0 and led["rejected"] == 0
    prompts = [server.usage(body, "")["prompt_tokens"] for body in server.requests]
    assert led["input_tokens"] == sum(prompts)  # the cut answers' prompts were paid for too
    assert led["output_tokens"] >= 3 * 2  # each cut answer made n_ctx - prompt (2) tokens
    line = result.summary_line()
    assert "3 answers were stopped when the teacher's context window filled up" in line and "--n_ctx" in line
    warnings = [r.getMessage() for r in caplog.records if "ran past the server's context window" in r.getMessage()]
    assert len(warnings) == 1 and "--n_ctx" in warnings[0] and "-c N" in warnings[0]


@pytest.mark.parametrize("named", [False, True], ids=["detected", "server-named"])
def test_an_answer_a_vllm_server_caps_below_max_tokens_is_not_blamed_on_its_context(
    named: bool, tmp_path: Path
) -> None:
    """vLLM stops an answer at the least of what its context leaves, the request's max_tokens and a cap the server
    sets (``--override-generation-config '{"max_new_tokens": N}'``). Stopped at such a cap, far from its 4096-token
    context, the answer failed with "the server stopped the answer when its context window filled up" and the fix
    "serve the model with a longer context (llama.cpp: --n_ctx ...)", which changes nothing. It names the cap.

    With ``server: vllm`` in the spec (or an Inference Endpoint whose image says vLLM) nothing was detected, so the
    context its ``/v1/models`` states was never read and the cap was blamed on the context again: it is read once."""
    with VLLMServer(max_new_tokens=5) as server:
        spec = spec_for(server.url, server="vllm") if named else spec_for(server.url)
        result = run(spec, tmp_path, texts=TEXTS[:2], concurrency=1)
    errors = result.frame["error"].tolist()
    assert result.frame["failed"].all() and len(server.requests) == 2  # a cut answer is not asked again
    for error in errors:
        assert "context window filled up" not in error and "--n_ctx" not in error, error
        assert "below max_tokens=256" in error and "of its 4096-token context" in error, error
        assert "max_new_tokens" in error and "--override-generation-config" in error, error
    line = result.summary_line()  # the summary said "2 answers were stopped when ... context window filled up"
    assert "context window" not in line and "--n_ctx" not in line, line
    assert "2 answers were stopped at the teacher server's own cap on answer length" in line, line
    assert result.ledger["capped_answers"] == 2 and result.ledger["context_cuts"] == 0


def test_an_answer_cut_by_the_embedded_teachers_context_names_a_fix_the_user_has(tmp_path: Path) -> None:
    """sxhub starts the embedded teacher's server itself, with a 2048-token context: "serve the model with a longer
    context (--n_ctx N)" named an option no sxhub command takes. Its cut answers say what the user can change."""
    from servers import LlamaCppPythonServer

    from sxhub.prompt import message_builder
    from sxhub.teachers.base import ANSWER_CUT
    from sxhub.teachers.local import LOCAL_N_CTX, LocalTeacher

    spec = spec_for("http://unused/v1")
    words = sum(len(m["content"].split()) for m in message_builder(spec)("x"))
    text = "text " + "profit " * (400 - words - 3)  # the prompt fits the stand-in's 400 tokens, the answer does not
    with LlamaCppPythonServer(n_ctx=400, model="local") as server:
        teacher = LocalTeacher(TeacherSpec(model="local"), base_url=server.url)
        result = annotate(spec, [text], teachers=[teacher], cache=tmp_path / "cache", progress=False, max_invalid=2)
    error = result.frame["error"][0]
    assert ANSWER_CUT in error and f"runs with a {LOCAL_N_CTX}-token context" in error and "--max-chars" in error
    assert "base_url" in error and "-c N for llama-server" not in error
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("kind", "structured"),
    [*((k, "auto") for k in SERVER_KINDS), ("vllm", "json_schema"), ("llamacpp", "json_schema")],
)
def test_under_hf_hub_offline_each_kind_gets_what_huggingface_hubs_client_sends_it_online(
    kind: str, structured: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HF_HUB_OFFLINE=1 refused every teacher, a server of the user's own included. Each kind is now sent, offline,
    the requests (paths and bodies) huggingface_hub's own client sends it online: the same client builds them, only
    its offline refusal is left out. ``structured: json_schema`` and Ollama go over plain HTTP, as online."""
    from huggingface_hub import AsyncInferenceClient, constants

    from sxhub.teachers import inference_client

    def sent(cache: str) -> list[tuple[str, str, str]]:
        with SERVER_KINDS[kind]() as server:
            run(spec_for(server.url, structured=structured), tmp_path, texts=TEXTS[:3], cache=tmp_path / cache)
        assert len(server.enforced) == 3 and "rejected" not in server.enforced
        return sorted((e.method, e.path, json.dumps(e.body, sort_keys=True)) for e in server.exchanges)

    with monkeypatch.context() as hub_client:
        hub_client.setattr(inference_client, "own_server_client", lambda: AsyncInferenceClient, raising=False)
        online = sent("online")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert sent("offline") == online


@pytest.mark.parametrize(
    ("teacher", "said"),
    [
        (
            "  - model: someone/unserved-model\n",
            "answered HTTP 400 (The requested model 'someone/unserved-model' is not supported by any provider you "
            "have enabled.); no Inference Provider you have enabled serves this model",
        ),
        (
            "  - model: org/teacher-model\n    provider: fireworks-ai\n",
            "Inference Providers cannot serve model 'org/teacher-model' with provider 'fireworks-ai' ("
            + (
                "Model not supported by provider fireworks-ai"  # the router's 400 (huggingface_hub >= 2.5)
                if routes_named_providers()
                else "Model org/teacher-model is not supported by provider fireworks-ai"  # the client's ValueError
            )
            + "); set `provider:`",
        ),
    ],
    ids=["no-provider-serves-it", "named-provider-does-not"],
)
def test_a_hub_model_id_no_provider_serves_stops_in_one_line_naming_the_fix(
    teacher: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Hub model id that no enabled provider serves: the router's 400 stopped the run after three texts saying
    to set `server:` or `structured: none`. A `provider:` that does not serve the model: huggingface_hub's
    ValueError, raised before any request, was read as an unreadable answer, every text failed alone (the ledger
    counting 12 requests that never left) and the run ended "every text failed". Both now stop at once, naming
    the providers' settings, `provider:` or an Inference Endpoint. From huggingface_hub 2.5 the router itself refuses
    ``org/teacher-model:fireworks-ai`` with a 400, which stopped the run after three texts; it stops at the first."""
    from huggingface_hub.inference._providers import _common
    from provider_router import ProviderRouter, point_client_at

    task = tmp_path / "task.yaml"
    task.write_text(f"name: fin\nlabels: [{', '.join(LABELS)}]\nteachers:\n{teacher}")
    source = tmp_path / "in.csv"
    source.write_text("text\n" + "\n".join(TEXTS) + "\n")
    out = tmp_path / "out.jsonl"
    with ProviderRouter() as router:
        monkeypatch.setenv("HF_TOKEN", "hf_provider_test_token")
        point_client_at(router, monkeypatch)
        _common._fetch_inference_provider_mapping.cache_clear()
        code, _, err = run_cli(["annotate", str(task), str(source), "-o", str(out), "--concurrency", "1"], capsys)
        _common._fetch_inference_provider_mapping.cache_clear()
    last = err.strip().splitlines()[-1]
    assert code == 2 and said in last and not out.exists(), err
    assert "server:" not in last and "every text failed" not in err and not router.requests
    assert router.chats <= 1  # refused before any request (the client), or at the first (the router)
