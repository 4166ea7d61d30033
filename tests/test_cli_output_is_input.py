"""An output path that is the input file is one line and exit 2 before any work: agree --review, doubts -o and
annotate -o wrote over the input and exited 0, the experts' columns gone."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent
TASK = ROOT / "examples" / "financial-sentiment" / "task.yaml"


@pytest.mark.parametrize(
    "argv",
    [
        ["agree", "{f}", "--gold", "expert", "--review", "{f}"],
        ["doubts", "{f}", "-o", "{f}"],
        ["annotate", str(TASK), "{f}", "-o", "{f}", "--teacher", "http://127.0.0.1:9/v1"],
        ["predict", "{tmp}/no-model", "{f}", "-o", "{f}"],
        ["twins", str(TASK), "{f}", "-o", "{f}", "--teacher", "http://127.0.0.1:9/v1"],
        ["apply-review", "{f}", "{tmp}/decisions.jsonl", "-o", "{f}"],
        # review appended its decision lines to the labelled file (or the queue) given as --decisions
        ["review", "{f}", "--decisions", "{f}"],
        ["review", "{tmp}/decisions.jsonl", "--queue", "{f}", "--decisions", "{f}"],  # refused before LABELLED is read
        # generate reads no INPUT, but its seed examples and topics are the user's files too
        ["generate", str(TASK), "--seed-examples", "{f}", "-o", "{f}", "--n", "2", "--teacher", "http://127.0.0.1:9"],
        ["generate", str(TASK), "--topics", "{f}", "-o", "{f}", "--n", "2", "--teacher", "http://127.0.0.1:9"],
    ],
)
def test_an_output_that_is_the_input_is_refused_and_the_input_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    source = tmp_path / "labelled.csv"
    pd.DataFrame(
        {
            "text": ["Profit rose", "Loss widened"],
            "label": ["positive", "negative"],
            "expert": ["positive", "negative"],
        }
    ).to_csv(source, index=False)
    (tmp_path / "decisions.jsonl").write_text("", encoding="utf-8")
    before = source.read_bytes()
    code, _, err = run_cli([a.format(f=source, tmp=tmp_path) for a in argv], capsys)
    assert code == 2 and "is the input file: writing it would replace the input" in err.strip().splitlines()[-1]
    assert source.read_bytes() == before


@pytest.mark.parametrize("verb", [["space", "{tmp}"], ["review", "{tmp}/labelled.csv"]])
def test_a_port_out_of_range_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], verb: list[str]
) -> None:
    """--port 70000 ended in "Error: OverflowError: bind(): port must be 0-65535" and exit 1."""
    code, _, err = run_cli([*(a.format(tmp=tmp_path) for a in verb), "--port", "70000"], capsys)
    assert code == 2 and "70000 is not in the range 1<=x<=65535" in err
