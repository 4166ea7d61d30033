"""Teacher URLs with credentials or a query string never reach datasets, ledgers, cards, sxhub.json or reports."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_cli
from fake_openai_server import FakeOpenAIServer

from sxhub.spec import TaskSpec, TeacherSpec, redact_url

FIN = Path(__file__).resolve().parent.parent / "examples" / "financial-sentiment"
SECRET = "s3cret-pw"


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("http://user:pass@host:8080/v1?api_key=k#frag", "http://host:8080/v1"),
        ("https://tok%40en:p%3Aw@gpu.example.com/v1", "https://gpu.example.com/v1"),
        ("http://127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1"),
        ("https://api.example.com/v1/?key=abc&x=1", "https://api.example.com/v1/"),
        ("tgi@http://u:p@h/v1?token=t", "tgi@http://h/v1"),  # a URL inside a longer name
        ("mistralai/Mixtral-8x7B-Instruct-v0.1", "mistralai/Mixtral-8x7B-Instruct-v0.1"),
    ],
)
def test_redact_url(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted


def test_teacher_names_carry_no_credentials_or_query() -> None:
    assert TeacherSpec(base_url="http://u:pw@h:1/v1?api_key=k", model="m").name == "m@http://h:1/v1"
    assert TeacherSpec.parse("https://u:pw@h/v1").name.endswith("@https://h/v1")
    assert TeacherSpec(base_url="http://h/v1", name="mine via http://u:pw@h/v1?k=1").name == "mine via http://h/v1"
    spec = TeacherSpec(base_url="http://u:pw@h/v1?api_key=k", model="m")
    assert spec.base_url == "http://u:pw@h/v1?api_key=k"  # the client still gets the URL as written
    assert TaskSpec(name="t", labels=["a", "b"], teachers=[spec]).teachers[0].name == "m@http://h/v1"


@pytest.mark.slow
def test_run_with_a_credentialed_teacher_url_writes_it_nowhere(
    tmp_path: Path, tiny_base_model: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``sxhub run`` with ``http://user:password@host/v1``: every file it writes, and its output, lack the password."""
    monkeypatch.setenv("TQDM_DISABLE", "1")
    texts = pd.read_csv(FIN / "texts.csv").head(30)
    source = tmp_path / "texts.csv"
    texts.to_csv(source, index=False)
    out = tmp_path / "out"
    with FakeOpenAIServer() as server:
        teacher = server.url.replace("http://", f"http://sxhub-user:{SECRET}@", 1)
        argv = ["run", str(FIN / "task.yaml"), str(source), "--out", str(out), "--samples", "1", "--teacher", teacher]
        argv += ["--base", str(tiny_base_model), "--epochs", "1", "--gold", "expert", "--no-int8", "--json"]
        code, stdout, stderr = run_cli(argv, capsys)
        sent = list(server.headers)
    assert code == 0, stderr[-3000:]
    # the client used the credentials (HTTP basic auth), so they were really in play
    basic = "Basic " + base64.b64encode(f"sxhub-user:{SECRET}".encode()).decode()
    assert any(basic in headers.values() for headers in sent)
    leaks = [str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and SECRET in _readable(p)]
    assert leaks == [], f"the teacher's password was written to {leaks}"
    assert SECRET not in stdout and SECRET not in stderr
    votes = pd.read_parquet(out / "labelled.parquet")["votes"]
    names = {vote["teacher"] for row in votes for vote in row}
    assert len(names) == 1 and names.pop().endswith(f"@{redact_url(teacher)}")
    info = json.loads((out / "model" / "sxhub.json").read_text(encoding="utf-8"))
    assert info["task"]["teachers"][0]["base_url"] == redact_url(teacher)


def _readable(path: Path) -> str:
    """A file's content as text to search: Parquet decoded (its pages may be compressed), anything else as bytes."""
    if path.suffix == ".parquet":
        return pd.read_parquet(path).to_json(orient="records", force_ascii=False)
    return path.read_bytes().decode("utf-8", errors="replace")
