"""Facts README.md states about the code and the Makefile, checked against them.

- The task-spec section said TGI gets the answer schema as ``json_schema`` while the Teacher servers table (and
  sxhub.teachers.servers) send TGI ``{"type": "json", "value": S}``, the form TGI enforces (it answers 422 without
  ``value``): a user configuring a proxy or reading their server's logs was told the wrong form.
- ``make bench``'s comment listed the scripts it runs, without bench/tune.py, which it also runs (the longest).
- The command table said ``agree`` prints "teacher vs experts" whatever ``--gold`` names; its report names the
  column (``--gold gpt4``: "Agreement of 'label' with gold 'gpt4'"), as run's line, the report and the cards do.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_cli

from sxhub.teachers.servers import _openai_shape

ROOT = Path(__file__).resolve().parent.parent
README = re.sub(r"\s+", " ", (ROOT / "README.md").read_text(encoding="utf-8"))


def test_readme_names_the_form_sxhub_sends_tgi() -> None:
    schema = {"type": "object"}
    sent = _openai_shape("tgi", schema).response_format
    assert sent == {"type": "json", "value": schema}
    spans = re.findall(r"TGI: `([^`]*)`", README)
    row = re.search(r"\| TGI / Inference Endpoints \(`tgi`\) \|[^|]*\| `response_format=([^`]*)`", README)
    assert row, "the Teacher servers table has no TGI row naming what sxhub sends"
    spans.append(row.group(1))
    assert len(spans) >= 2, spans
    for span in spans:
        assert '"type": "json"' in span and '"value"' in span, f"README says TGI gets `{span}`; sxhub sends {sent}"
    assert json.loads(row.group(1).replace("S", "{}")) == {"type": "json", "value": {}}


def test_make_bench_comment_names_every_script() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\nbench:", 1)[1].split("\n\n", 1)[0]
    run = set(re.findall(r"bench/(\w+)\.py", recipe))
    comment = re.search(r"make bench +# bench/\{([\w,]+)\}\.py", README)
    assert comment, "README's Development block has no `make bench` comment listing its scripts"
    assert set(comment.group(1).split(",")) == run


def test_readme_agree_row_says_what_agree_prints(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    row = re.search(r"\| `sxhub agree LABELLED --gold COLUMN` \|([^|]*)\|", README)
    assert row, "README's command table has no agree row"
    assert "experts" not in row.group(1), "agree names the --gold column, experts or not"
    title = re.search(r"`(## Agreement of [^`]*)`", row.group(1))
    assert title, "the agree row does not show the report's title"
    data = tmp_path / "labelled.csv"
    pd.DataFrame(
        {"text": ["up", "down", "flat"], "label": ["pos", "neg", "neg"], "gpt4": ["pos", "neg", "neu"]}
    ).to_csv(data, index=False)
    code, out, err = run_cli(["agree", str(data), "--gold", "gpt4"], capsys)
    assert code == 0, err
    assert out.splitlines()[0] == title.group(1).replace("COLUMN", "gpt4").replace("LABELLED", data.name)
