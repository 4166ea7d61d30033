"""README.md's "From Python" block runs as written, against a local teacher and a tiny base model.

The block once labelled a single text and then trained on it: `train` refused the one-row file (it needs at least
4), so the first Python a new user copied ended in an error. Here the block is taken from the README verbatim; only
the teacher URL is pointed at the fake server and the default base model (all-MiniLM-L6-v2) at a tiny BERT.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import build_tiny_model
from fake_openai_server import FakeOpenAIServer

ROOT = Path(__file__).resolve().parent.parent
README_URL = "http://127.0.0.1:8080/v1"


def _from_python_block() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## From Python", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "README.md's 'From Python' section has no python block"
    return match.group(1)


def test_readme_python_block_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code = _from_python_block()
    assert README_URL in code
    tiny = build_tiny_model(tmp_path / "tiny-bert")
    monkeypatch.setattr("sxhub.train_local.default_base_model", lambda: str(tiny))
    work = tmp_path / "work"
    (work / "examples").mkdir(parents=True)
    (work / "examples" / "financial-sentiment").symlink_to(ROOT / "examples" / "financial-sentiment")
    monkeypatch.chdir(work)
    namespace: dict[str, object] = {}
    with FakeOpenAIServer() as server:
        exec(compile(code.replace(README_URL, server.url), "README.md (From Python)", "exec"), namespace)
    labels, probs = namespace["labels"], namespace["probs"]
    assert isinstance(labels, list) and len(labels) == 1 and labels[0] in {"positive", "neutral", "negative"}
    assert probs.shape == (1, 3)  # type: ignore[attr-defined]
    assert (work / "student" / "config.json").is_file()
