"""Facts README.md states about the code and the Makefile, checked against them.

- The task-spec section said TGI gets the answer schema as ``json_schema`` while the Teacher servers table (and
  sxhub.teachers.servers) send TGI ``{"type": "json", "value": S}``, the form TGI enforces (it answers 422 without
  ``value``): a user configuring a proxy or reading their server's logs was told the wrong form.
- ``make bench``'s comment listed the scripts it runs, without bench/tune.py, which it also runs (the longest).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

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
