"""The Space: launched locally on 127.0.0.1, driven with gradio_client, and screenshotted in headless Chromium."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import CHROMIUM, missing_component, require_modules, run_cli
from test_publish import _spec, make_student

from sxhub.spec import TaskSpec


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    from sxhub.space import launch_space

    model = make_student(tmp_path / "student", _spec())
    demo, url = launch_space(model, host="127.0.0.1", block=False)
    try:
        yield url, model
    finally:
        demo.close()


def test_single_prediction_and_csv_round_trip(served: tuple[str, Path], tmp_path: Path) -> None:
    from gradio_client import Client, handle_file

    url, _ = served
    client = Client(url, verbose=False)
    probs, decision = client.predict("profit rose strong growth", api_name="/predict")
    names = {c["label"] for c in probs["confidences"]}
    assert names == {"positive", "neutral", "negative"}
    assert sum(c["confidence"] for c in probs["confidences"]) == pytest.approx(1.0, abs=1e-4)
    assert probs["label"] in decision

    upload = tmp_path / "texts.csv"
    upload.write_text("id,text\n1,profit rose\n2,shares fell loss\n3,new store open\n", encoding="utf-8")
    result: Any = client.predict(handle_file(str(upload)), api_name="/label_csv")
    with open(result, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["id"] for r in rows] == ["1", "2", "3"]
    assert all(r["label"] in names for r in rows)
    assert {"prob_positive", "prob_neutral", "prob_negative"} <= set(rows[0])


def test_a_pasted_article_says_the_label_read_its_first_max_length_tokens(
    served: tuple[str, Path], tmp_path: Path
) -> None:
    """A visitor pasting a whole article saw a label and nothing else, though the model read its first max_length
    tokens alone; the decision line now says so (as sxhub predict's summary does), and says nothing for a short text.
    The same line from the published app.py, on ONNX and on torch."""
    from gradio_client import Client

    from sxhub.export import export_onnx
    from sxhub.model_info import read_model_info
    from sxhub.publish import publish_space

    url, model = served
    limit = read_model_info(model).max_length
    article = "\n\n".join(["profit rose strong growth while sales fell in every region"] * 60)
    client = Client(url, verbose=False)
    _, decision = client.predict(article, api_name="/predict")
    line = re.search(r"Read the first ([\d,]+) tokens of ([\d,]+): the label is given on those alone", decision)
    assert line and int(line[1].replace(",", "")) == limit < int(line[2].replace(",", "")), decision
    _, short = client.predict("profit rose", api_name="/predict")
    assert "Read the first" not in short

    exported = tmp_path / "exported"
    shutil.copytree(model, exported)
    export_onnx(exported)
    folder = Path(publish_space(exported, to=tmp_path / "space", repo_id="me/demo"))
    app = _load_published_app(folder, "space_app_cut_note")
    for backend in ("onnx", "torch"):
        expert = app.Expert.load(backend=backend)
        _, said = app.label_text(expert, article)
        assert f"Read the first {limit:,} tokens of {line[2]}" in said, (backend, said)
        assert "Read the first" not in app.label_text(expert, "profit rose")[1]


def test_a_csv_is_labelled_from_its_text_column_and_keeps_its_own(tmp_path: Path) -> None:
    """The Space's CSV labelling finds the texts as ``sxhub predict`` does (``Tweet``, any case), keeps a ``label``
    column of the upload as ``label_input``, and never guesses between several string columns (it labelled the
    first one, an ID column say, and under pandas 3, whose strings are not ``object``, it found none at all)."""
    import gradio as gr
    import pandas as pd

    from sxhub.data import TEXT_COLUMN_GUESSES
    from sxhub.predict import Predictor
    from sxhub.space import load_app_module

    app = load_app_module()
    assert app.TEXT_COLUMNS == TEXT_COLUMN_GUESSES  # the Space runs without sxhub: its own copy must not drift
    model = make_student(tmp_path / "student", _spec())
    expert = app.Expert.load(str(model))
    texts = ["profit rose strong growth", "shares fell loss", "new store open"]
    upload = tmp_path / "tweets.csv"
    pd.DataFrame({"id": ["a1", "b2", "c3"], "Tweet": texts, "label": ["x", "y", "z"]}).to_csv(upload, index=False)
    out = pd.read_csv(app.label_csv(expert, str(upload)))
    assert out["label_input"].tolist() == ["x", "y", "z"] and out["id"].tolist() == ["a1", "b2", "c3"]
    assert out["label"].tolist() == Predictor(model).predict(texts)[0]

    only = tmp_path / "only.csv"
    pd.DataFrame({"n": [1, 2, 3], "words": texts}).to_csv(only, index=False)
    with pytest.warns(UserWarning, match="texts are taken from column 'words'"):
        assert pd.read_csv(app.label_csv(expert, str(only)))["label"].tolist() == Predictor(model).predict(texts)[0]

    several = tmp_path / "several.csv"
    pd.DataFrame({"id": ["a1", "b2", "c3"], "comment": texts}).to_csv(several, index=False)
    with pytest.raises(gr.Error, match="Which column holds the texts"):
        app.label_csv(expert, str(several))
    broken = tmp_path / "broken.csv"
    broken.write_bytes(b"\xff\xfe\x00\x00 not a csv \x81\x82")
    with pytest.raises(gr.Error, match="Could not read the file as a CSV"):
        app.label_csv(expert, str(broken))


def test_a_csv_of_texts_without_a_header_says_its_first_text_was_taken_for_one(tmp_path: Path) -> None:
    """A CSV of texts with no header line (one text per line, as many are saved): its first text became the column's
    name and was left out of the labelled file, without a word. The page says which column it took the texts from,
    and what to do when that is the first text."""
    import pandas as pd

    from sxhub.space import load_app_module

    app = load_app_module()
    expert = app.Expert.load(str(make_student(tmp_path / "student", _spec())))
    upload = tmp_path / "texts.csv"
    upload.write_text("Profit rose sharply\nShares fell\nNew store opened\n", encoding="utf-8")
    with pytest.warns(UserWarning, match="taken from column 'Profit rose sharply'.*add a first line 'text'"):
        out = pd.read_csv(app.label_csv(expert, str(upload)))
    assert out["Profit rose sharply"].tolist() == ["Shares fell", "New store opened"]
    header = tmp_path / "with_header.csv"
    header.write_text("text\nProfit rose sharply\nShares fell\n", encoding="utf-8")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a file whose column is named text: nothing to say
        assert len(pd.read_csv(app.label_csv(expert, str(header)))) == 2


def test_a_csv_is_read_as_sxhub_predict_reads_it(tmp_path: Path) -> None:
    """Cells as written ("NA" is a text, "007" is not 7.0), a row without a text left unlabelled (it got the label
    of an empty text) and the visitor told how many (the blank labels came with no word why), non-ASCII label names written as they are, and a plain transformers folder cut where
    ``sxhub predict`` cuts it (256 tokens, not 512)."""
    import pandas as pd

    from sxhub.data import MISSING_TEXT_STRINGS
    from sxhub.model_info import DEFAULT_MAX_LENGTH
    from sxhub.predict import Predictor
    from sxhub.space import load_app_module

    app = load_app_module()
    assert app.MISSING_TEXTS == MISSING_TEXT_STRINGS and app.DEFAULT_MAX_LENGTH == DEFAULT_MAX_LENGTH
    model = make_student(tmp_path / "student", _spec())
    expert = app.Expert.load(str(model))
    upload = tmp_path / "in.csv"
    upload.write_text("id,text\n1,NA\n2,007\n3,\n4,null\n5,profit rose\n", encoding="utf-8")
    with pytest.warns(UserWarning, match="2 of the 5 rows have no text; they are left unlabelled"):
        out = pd.read_csv(app.label_csv(expert, str(upload)), dtype=str, keep_default_na=False)
    predicted = Predictor(model).predict(["NA", "007", "profit rose"])[0]
    assert out["text"].tolist() == ["NA", "007", "", "null", "profit rose"]
    assert out["label"].tolist() == [predicted[0], predicted[1], "", "", predicted[2]]
    assert out["prob_positive"].tolist()[2:4] == ["", ""]

    multi = make_student(tmp_path / "multi", TaskSpec(name="m", labels=["négatif", "中立"], multi_label=True))
    record = json.loads((multi / "sxhub.json").read_text(encoding="utf-8"))
    record["thresholds"] = {"négatif": 0.0, "中立": 0.0}  # every label on: the names are written
    (multi / "sxhub.json").write_text(json.dumps(record), encoding="utf-8")
    with pytest.warns(UserWarning, match="left unlabelled"):
        written = Path(app.label_csv(app.Expert.load(str(multi)), str(upload))).read_text(encoding="utf-8")
    assert '"[""négatif"", ""中立""]"' in written and "\\u" not in written

    plain = tmp_path / "plain"
    shutil.copytree(model, plain)
    (plain / "sxhub.json").unlink()
    config = json.loads((plain / "config.json").read_text())
    config.pop("sxhub_preprocessing", None)
    (plain / "config.json").write_text(json.dumps(config))
    assert app.Expert.load(str(plain)).preprocessing["max_length"] == Predictor(plain).info.max_length


def test_a_csv_text_with_an_unpaired_quote_is_refused_in_the_ui_not_merged_with_the_rows_after_it(
    tmp_path: Path,
) -> None:
    """The Space's own pd.read_csv took a text starting with a quote it does not close as a field running to the
    next quote: 6 rows were labelled as 4, lines merged into one text, without a word. The visitor is now told which
    lines and the fix (as ``sxhub predict`` refuses the file), in any separator; well-quoted line breaks still read."""
    import gradio as gr
    import pandas as pd

    from sxhub.data import read_table
    from sxhub.errors import InputError
    from sxhub.space import load_app_module

    app = load_app_module()
    expert = app.Expert.load(str(make_student(tmp_path / "student", _spec())))
    rows = ["ok fine", '"broken start', "next row", 'last "x', "later", "more"]
    for sep, name in ((",", "comma.csv"), (";", "semicolon.csv"), ("|", "pipe.csv")):
        upload = tmp_path / name
        upload.write_text("".join(f"{row}{sep}neutral\n" for row in ["text", *rows]), encoding="utf-8")
        with pytest.raises(gr.Error, match=re.escape("on line 3 is closed only on line 5, so lines 3-5 would be")):
            app.label_csv(expert, str(upload))
    with pytest.raises(InputError, match="on line 3 is closed only on line 5"):  # the same file, the same lines
        read_table(tmp_path / "comma.csv")

    closed = tmp_path / "closed.csv"  # closed by a later text's quote right before its separator: the rows inside
    closed.write_text(
        'text,label\nok,neutral\n"Great start, said the CEO,positive\nRevenue fell,negative\nMargins grew",positive\n'
        "Costs,negative\nflat,neutral\n",
        encoding="utf-8",
    )
    with pytest.raises(gr.Error, match=r"on line 3 is closed only on line 5, .*Revenue fell,negative.{1,4} inside it"):
        app.label_csv(expert, str(closed))
    with pytest.raises(InputError, match=r"on line 3 is closed only on line 5, .*'Revenue fell,negative' inside it"):
        read_table(closed)

    quoted = tmp_path / "quoted.csv"
    texts = ["two\nlines", 'a "quoted" word, and a comma', "plain"]
    pd.DataFrame({"text": texts, "label": ["neutral"] * 3}).to_csv(quoted, index=False)
    out = pd.read_csv(app.label_csv(expert, str(quoted)), dtype=str, keep_default_na=False)
    assert out["text"].tolist() == texts
    spaced = tmp_path / "spaced.csv"  # quoted over two lines, a space after the closing quote: read whole, as sxhub
    spaced.write_text('text,label\nok,a\n"two\nlines" ,b\nlater,c\n', encoding="utf-8")
    out = pd.read_csv(app.label_csv(expert, str(spaced)), dtype=str, keep_default_na=False)
    assert out["text"].tolist() == read_table(spaced)["text"].tolist() == ["ok", "two\nlines ", "later"]


def test_sxhub_space_cleans_texts_as_predict_does(served: tuple[str, Path]) -> None:
    """``make_student`` has no saved preprocessing block (as models before it): the local Space masks PII anyway,
    from the task's flag, exactly as ``Predictor`` does."""
    from gradio_client import Client

    from sxhub.predict import Predictor

    url, model = served
    client = Client(url, verbose=False)
    texts = ["profit rose https://x.co/a?b=1 via @JaneDoe", "shares fell, call +44 20 7946 0958 or jane@example.com"]
    expected = Predictor(model).predict_proba(texts)
    info = client.predict(api_name="/info")
    assert info["backend"] == "torch" and "url" in [s["name"] for s in info["preprocessing"]["steps"]]
    for text, want in zip(texts, expected, strict=True):
        probs, _ = client.predict(text, api_name="/predict")
        got = {c["label"]: c["confidence"] for c in probs["confidences"]}
        assert [got[n] for n in ("positive", "neutral", "negative")] == pytest.approx(want.tolist(), abs=1e-5)


def test_app_py_on_a_model_saved_before_the_block_cleans_as_predict_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``app.py`` run on a model folder itself (``SXHUB_MODEL=folder python app.py``, not through ``sxhub space``)
    served a ``preprocess: true`` model saved before sxhub wrote its block with no cleaning at all: URLs, handles
    and e-mails reached the tokenizer, unlike ``sxhub predict``. It reads the block as sxhub does; where sxhub is not
    installed it says in a warning that texts are served uncleaned, and how to fix it."""
    import sys

    from sxhub.data import apply_preprocessing
    from sxhub.predict import Predictor
    from sxhub.space import load_app_module

    app = load_app_module()
    model = make_student(tmp_path / "student", _spec())
    saved = Predictor(model).info.preprocessing
    expert = app.Expert.load(str(model))
    assert expert.preprocessing == saved and "url" in [s["name"] for s in saved["steps"]]
    text = " profit rose https://x.co/a?b=1 via @JaneDoe, mail jane@example.com "
    assert app.preprocess(text, expert.preprocessing) == apply_preprocessing(text, saved) != text

    monkeypatch.setitem(sys.modules, "sxhub.predict", None)  # a Space with no sxhub beside it
    with pytest.warns(UserWarning, match="texts are served uncleaned.*sxhub publish model"):
        bare = app.Expert.load(str(model))
    assert app.preprocess(text, bare.preprocessing) == text

    off = make_student(tmp_path / "off", TaskSpec(name="off", labels=["a", "b"], preprocess=False))
    assert app.Expert.load(str(off)).preprocessing.get("steps") is None  # preprocess: false: nothing to read


@pytest.mark.browser
def test_page_renders_in_headless_chromium(served: tuple[str, Path], tmp_path: Path) -> None:
    if not CHROMIUM.is_file():
        missing_component("/usr/bin/chromium not installed: apt-get install -y chromium (or make chromium)")
    from PIL import Image

    url, _ = served
    png = tmp_path / "space.png"
    args = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chrome'}",
        f"--screenshot={png}",
        "--window-size=1200,900",
        "--virtual-time-budget=8000",
        url,
    ]
    subprocess.run(args, check=True, capture_output=True, timeout=120)
    image = Image.open(png).convert("RGB")
    colours = image.getcolors(maxcolors=1_000_000) or []
    assert image.size == (1200, 900)
    assert len(colours) > 50, f"the screenshot looks blank ({len(colours)} colours)"


@pytest.mark.slow
def test_sxhub_space_command_serves_the_app(tmp_path: Path) -> None:
    """``sxhub space MODEL --port P`` prints the URL and serves the same app a published Space runs."""
    import os
    import socket
    import sys
    import time

    from gradio_client import Client

    model = make_student(tmp_path / "student", _spec())
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "sxhub", "space", str(model), "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, "sxhub space exited early"
            try:
                client = Client(url, verbose=False)
                break
            except Exception:  # not up yet: gradio_client raises several types while the server starts
                assert time.monotonic() < deadline, "sxhub space did not come up in 90 s"
                time.sleep(1)
        probs, _ = client.predict("shares fell loss", api_name="/predict")
        assert {c["label"] for c in probs["confidences"]} == {"positive", "neutral", "negative"}
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert url in out


def _load_published_app(folder: Path, name: str) -> Any:
    """``app.py`` of a Space folder that ``sxhub publish space --to`` wrote, imported from there."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(name, folder / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _page_text(demo: Any) -> str:
    import gradio as gr

    return "\n".join(str(b.value) for b in demo.blocks.values() if isinstance(b, gr.Markdown))


def test_the_space_says_what_the_expert_is(tmp_path: Path) -> None:
    """Teachers, scores against the teacher labels and the experts, speed, repo links and the runtime it serves."""
    from sxhub.publish import publish_space

    model = make_student(tmp_path / "student", _spec())
    scores = {
        "student vs teacher labels": {"n": 40, "accuracy": 0.9, "macro_f1": 0.875},
        "teacher vs experts": {"n": 40, "accuracy": 0.8, "macro_f1": 0.75, "krippendorff_alpha": 0.61},
        "student vs experts": {"n": 40, "accuracy": 0.775, "macro_f1": 0.7},
    }
    speed = {"texts_per_s": 812.4, "source": "measured by sxhub: 512 texts, torch, 1 CPU thread(s), batch 32"}
    folder = Path(
        publish_space(
            model,
            to=tmp_path / "space",
            repo_id="me/fin-demo",
            dataset_repo="me/fin",
            evaluation={"scores": scores, "speed": speed},
            benchmark=speed,
        )
    )
    about = __import__("json").loads((folder / "config.json").read_text())["about"]
    assert about["teachers"] == ["local"] and about["dataset_repo"] == "me/fin"
    assert about["scores"]["teacher vs experts"]["krippendorff_alpha"] == 0.61

    app = _load_published_app(folder, "space_app_about")
    page = _page_text(app.build_demo())
    assert "Sentiment of financial news." in page
    assert "`local`" in page and "chance level" in page  # the teacher, and what the embedded one is worth
    assert "sentence-transformers/all-MiniLM-L6-v2" in page
    assert "| student vs experts | 40 | 0.775 | 0.700 |" in page and "| teacher vs experts |" in page
    assert "held-out test split" in page
    assert "812 texts/s" in page and "1 CPU thread(s)" in page
    assert "[me/fin](https://huggingface.co/datasets/me/fin)" in page
    assert "PyTorch" in page  # no int8 model in this folder: served with torch, and said so
    assert "url, email, handle, phone masked" in page and "cut at 64 tokens" in page


def _int8_default(model: Path) -> None:
    """Record int8 as the default variant, as ``sxhub export`` does when int8 meets the agreement bar on 1,000 texts
    (a test student checked on a handful of built-in texts never does)."""
    path = model / "sxhub.json"
    info = json.loads(path.read_text())
    info["export"]["default"] = "onnx-int8"
    path.write_text(json.dumps(info))


@pytest.mark.parametrize("variant", ["onnx-int8", "onnx", "torch"])
def test_the_space_serves_the_variant_export_made_the_default(tmp_path: Path, variant: str) -> None:
    """auto serves int8 only where export made it the default (agreement bar met), else fp32 ONNX, else torch."""
    require_modules("onnxruntime", install='pip install "sxhub[onnx]"')
    from sxhub.export import export_onnx
    from sxhub.publish import publish_space

    model = make_student(tmp_path / "student", _spec())
    if variant != "torch":
        result = export_onnx(model, int8=True)
        assert result.default == "onnx"  # checked on the built-in sample only: int8 stays off the default
        if variant == "onnx-int8":
            _int8_default(model)
    folder = Path(publish_space(model, to=tmp_path / "space", repo_id="me/fin-demo"))
    requirements = (folder / "requirements.txt").read_text().splitlines()
    names = {line.split(">")[0].split("=")[0].split("<")[0] for line in requirements}
    onnx = variant != "torch"
    assert {"onnxruntime", "tokenizers", "gradio", "huggingface_hub", "psutil"} <= names
    assert ("torch" in names) is not onnx and ("transformers" in names) is not onnx
    readme = (folder / "README.md").read_text()
    assert ("int8 ONNX model" in readme) is (variant == "onnx-int8")
    assert ("full-precision ONNX model (`onnx/model.onnx`)" in readme) is (variant == "onnx")

    app = _load_published_app(folder, f"space_app_{variant}")
    expert = app.Expert.load()
    assert expert.backend == variant
    page = _page_text(app.build_demo())
    assert ("ONNX Runtime, int8 weights" in page) is (variant == "onnx-int8")
    assert ("ONNX Runtime, full-precision weights" in page) is (variant == "onnx")
    if onnx:
        assert app.Expert.load(backend="torch").backend == "torch"  # SXHUB_BACKEND=torch / config "backend"
        assert app.Expert.load(backend="onnx-int8").backend == "onnx-int8"  # asked for by name: served
    else:
        with pytest.raises(FileNotFoundError, match="sxhub export MODEL --int8"):
            app.Expert.load(backend="onnx-int8")


def test_the_space_refuses_an_onnx_export_of_another_student(tmp_path: Path) -> None:
    """onnx/ copied from another student of the same task (same vocabulary and labels, other weights) was served by
    the Space as this model's, without a word. The Space reads the sha256 sxhub export stamped into the file and
    sxhub.json's record (it downloads no torch weights) and refuses it in one line naming the export to run; the
    model's own export serves."""
    pytest.importorskip("onnxruntime")
    from safetensors.torch import load_file, save_file

    from sxhub.export import export_onnx
    from sxhub.space import load_app_module

    app = load_app_module()
    model, other = make_student(tmp_path / "student", _spec()), make_student(tmp_path / "other", _spec())
    weights = load_file(str(other / "model.safetensors"))
    weights = {k: v + 0.1 if k.startswith("classifier.") else v for k, v in weights.items()}  # another student
    save_file(weights, str(other / "model.safetensors"), metadata={"format": "pt"})
    export_onnx(model)
    export_onnx(other)
    assert app.Expert.load(str(model), backend="onnx").probabilities(["profit rose"])
    shutil.copy(other / "onnx" / "model.onnx", model / "onnx" / "model.onnx")
    with pytest.raises(
        ValueError, match=r"onnx/model.onnx is not an export of this model: .*run `sxhub export MODEL`"
    ):
        app.Expert.load(str(model), backend="onnx")


def test_publishing_a_space_of_weights_changed_after_their_export_is_refused(tmp_path: Path) -> None:
    """A model retrained into its folder with plain save_pretrained after `sxhub export`: the Space was published
    without a word, and on the Hub (no sxhub there, so app.py checks the ONNX stamp against sxhub.json's export
    record, which is the old weights') it served the stale export, labels the published weights do not give.
    publish space now checks each ONNX file the Space ships against the weights as they are, and refuses in one
    line naming the export to run (as a file cut short, which the Space would not start on); exported again, it
    publishes."""
    pytest.importorskip("onnxruntime")
    from safetensors.torch import load_file, save_file

    from sxhub.errors import PublishError
    from sxhub.export import export_onnx
    from sxhub.publish import publish_space

    model = make_student(tmp_path / "student", _spec())
    export_onnx(model, int8=True)
    weights = load_file(str(model / "model.safetensors"))
    weights = {k: v + 0.1 if k == "classifier.bias" else v for k, v in weights.items()}  # retrained in place
    save_file(weights, str(model / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(PublishError, match=r"onnx/model\.onnx is not an export of .*: run sxhub export .* again"):
        publish_space(model, to=tmp_path / "space", repo_id="me/fin-demo")
    assert not (tmp_path / "space").exists()
    export_onnx(model, int8=True)
    whole = (model / "onnx" / "model_int8.onnx").read_bytes()
    (model / "onnx" / "model_int8.onnx").write_bytes(whole[:1000])  # a copy cut short
    with pytest.raises(PublishError, match=r"onnx/model_int8\.onnx of .* could not be read .*--int8 again"):
        publish_space(model, to=tmp_path / "space", repo_id="me/fin-demo")
    (model / "onnx" / "model_int8.onnx").write_bytes(whole)
    folder = Path(publish_space(model, to=tmp_path / "space", repo_id="me/fin-demo"))
    assert (folder / "model" / "onnx" / "model.onnx").is_file()


def test_publishing_a_model_of_weights_changed_after_their_export_is_refused(tmp_path: Path) -> None:
    """publish model shipped a stale onnx/ (weights saved after `sxhub export`) without a word: a Space loading the
    repo by id (`publish space --model-repo`, not checked there since the Space ships no copy) and anyone loading
    the ONNX file served labels the published weights do not give. It is refused as publish space refuses it."""
    pytest.importorskip("onnxruntime")
    from safetensors.torch import load_file, save_file

    from sxhub.errors import PublishError
    from sxhub.export import export_onnx
    from sxhub.publish import publish_model

    model = make_student(tmp_path / "student", _spec())
    export_onnx(model, int8=True)
    weights = load_file(str(model / "model.safetensors"))
    save_file({k: v + 0.1 if k == "classifier.bias" else v for k, v in weights.items()}, str(model / "model.safetensors"),
              metadata={"format": "pt"})  # fmt: skip
    with pytest.raises(
        PublishError, match=r"onnx/model\.onnx is not an export of .*a Space of the repo .*: run sxhub export"
    ):
        publish_model(model, to=tmp_path / "repo", repo_id="me/fin-student")
    assert not (tmp_path / "repo").exists()
    export_onnx(model, int8=True)
    assert (
        Path(publish_model(model, to=tmp_path / "repo", repo_id="me/fin-student")) / "onnx" / "model.onnx"
    ).is_file()


@pytest.mark.parametrize("older", ["no stamp, no record", "no record"])
def test_the_space_serves_an_older_export_and_logs_that_it_could_not_check_it(tmp_path: Path, older: str) -> None:
    """A model exported before sxhub recorded the weights' sha256 (no stamp in the ONNX file, none in sxhub.json)
    was served without a word that its ONNX file was never checked against the weights. The Space still serves it
    (older repos keep working), with the same numbers, and its log gets one warning naming the fix; a stamped export
    with its record loads without it."""
    pytest.importorskip("onnxruntime")
    import warnings

    import onnx

    from sxhub.export import export_onnx
    from sxhub.space import load_app_module

    app = load_app_module()
    model = make_student(tmp_path / "student", _spec())
    export_onnx(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # checked: nothing said
        checked = app.Expert.load(str(model), backend="onnx").probabilities(["profit rose", "shares fell"])
    if older == "no stamp, no record":
        path = model / "onnx" / "model.onnx"
        graph = onnx.load(str(path))
        del graph.metadata_props[:]
        onnx.save(graph, str(path))
    info = json.loads((model / "sxhub.json").read_text())
    info.pop("weights", None)
    info["export"].pop("weights_sha256")
    (model / "sxhub.json").write_text(json.dumps(info))
    (model / "model.safetensors").unlink()  # as the Space downloads a Hub repo: onnx/ and the small files, no weights
    with pytest.warns(UserWarning) as said:
        expert = app.Expert.load(str(model), backend="onnx")
    lines = [str(w.message) for w in said if "could not be checked" in str(w.message)]
    assert len(lines) == 1 and "\n" not in lines[0], lines
    assert lines[0].startswith("onnx/model.onnx could not be checked against the model's weights")
    assert "run `sxhub export MODEL` on the model folder and publish again" in lines[0]
    assert expert.backend == "onnx" and expert.probabilities(["profit rose", "shares fell"]) == checked


def test_the_space_pads_with_the_pad_token_an_older_tokenizer_config_names_as_a_dict(tmp_path: Path) -> None:
    """A tokenizer saved by older transformers names its pad token as an AddedToken dict in tokenizer_config.json.
    sxhub predict --onnx reads its content; the Space took only a string, padded with [PAD]'s id instead, and its int8
    probabilities (activations quantised per batch, padding included) differed from predict's on the same texts."""
    pytest.importorskip("onnxruntime")
    from sxhub.export import export_onnx
    from sxhub.predict import Predictor
    from sxhub.space import load_app_module

    model = make_student(tmp_path / "student", _spec())
    export_onnx(model, int8=True)
    path = model / "tokenizer_config.json"
    config = json.loads(path.read_text())
    config["pad_token"] = {"__type": "AddedToken", "content": "w5", "lstrip": False, "rstrip": False, "special": True}
    path.write_text(json.dumps(config))
    texts = ["profit", "profit rose strong growth shares fell loss new store open " * 3, "loss"]
    expert = load_app_module().Expert.load(str(model), backend="onnx-int8")
    served = [list(p.values()) for p in expert.probabilities(texts)]
    assert served == Predictor(model, onnx=True, int8=True).predict_proba(texts).tolist()


def test_the_space_hashes_a_local_models_weights_when_sxhub_json_records_none(tmp_path: Path) -> None:
    """A local model folder whose sxhub.json records no sha256 of its weights (trained before sxhub recorded it) but
    holds the weights: the Space only warned that its ONNX file could not be checked, and served another student's
    onnx/ copied in. It now hashes the weights as predict --onnx does and checks the file's stamp: its own export
    serves without a warning, another student's is refused in one line naming the export to run."""
    pytest.importorskip("onnxruntime")
    import warnings

    from safetensors.torch import load_file, save_file

    from sxhub.export import export_onnx
    from sxhub.space import load_app_module

    app = load_app_module()
    model, other = make_student(tmp_path / "student", _spec()), make_student(tmp_path / "other", _spec())
    weights = load_file(str(other / "model.safetensors"))
    weights = {k: v + 0.1 if k.startswith("classifier.") else v for k, v in weights.items()}  # another student
    save_file(weights, str(other / "model.safetensors"), metadata={"format": "pt"})
    export_onnx(model)
    export_onnx(other)
    info = json.loads((model / "sxhub.json").read_text())
    info.pop("weights", None)
    del info["export"]["weights_sha256"], info["export"]["weights_stat"]
    (model / "sxhub.json").write_text(json.dumps(info))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # checked against the hashed weights: nothing said
        assert app.Expert.load(str(model), backend="onnx").probabilities(["profit rose"])
    shutil.copy(other / "onnx" / "model.onnx", model / "onnx" / "model.onnx")
    with pytest.raises(
        ValueError, match=r"onnx/model.onnx is not an export of this model: .*run `sxhub export MODEL`"
    ):
        app.Expert.load(str(model), backend="onnx")


def test_the_space_loads_a_hub_model_and_serves_its_int8_onnx(hub: Any, tmp_path: Path) -> None:
    """A Space that names a model repo downloads only the small files and the int8 model, and answers as predict."""
    pytest.importorskip("onnxruntime")
    import numpy as np

    from sxhub.export import export_onnx
    from sxhub.onnx_runtime import decision_margins
    from sxhub.predict import Predictor
    from sxhub.publish import publish_model, publish_space

    model = make_student(tmp_path / "student", _spec())
    export_onnx(model, int8=True)
    _int8_default(model)
    texts = ["profit rose https://x.co/a", "shares fell, call +44 20 7946 0958"]
    many = [f"{t} {'again ' * (i % 9)}" for i, t in enumerate(texts * 40)]
    # int8's near-ties run again in fp32 (predict and the Space alike): a margin that reruns about half of the texts
    alone = Predictor(model, onnx=True, int8=True, recheck=False)
    margins = decision_margins(alone._onnx.logits_of_ids(alone.prepare(many).ids))
    _recheck_margin(model, float(np.median(margins)))
    repo = f"{hub.user}/fin-student"
    publish_model(model, repo_id=repo)
    folder = Path(publish_space(model, to=tmp_path / "space", repo_id="me/fin-demo", model_repo=repo))
    assert not (folder / "model").exists()

    app = _load_published_app(folder, "space_app_hub")
    expert = app.Expert.load()
    assert expert.model == repo and expert.backend == "onnx-int8"
    # one text per run on both sides: int8 activations are quantised per batch
    got = np.array([[p[n] for n in expert.labels] for t in texts for p in expert.probabilities([t])])
    want = np.concatenate([Predictor(model, onnx=True, int8=True).predict_proba([t]) for t in texts])
    np.testing.assert_allclose(got, want, atol=1e-6)
    # a CSV's worth: three batches of 32 or fewer, run side by side on both sides, batched alike, the near-ties
    # rerun on fp32 alike: the same numbers
    got = np.array([[p[n] for n in expert.labels] for p in expert.probabilities(many)])
    served = Predictor(model, onnx=True, int8=True)
    np.testing.assert_allclose(got, served.predict_proba(many), atol=1e-6)
    assert 0 < served.rechecked < len(many)
    assert not np.allclose(got, alone.predict_proba(many), atol=1e-6)  # the rerun texts are fp32's, not int8's
    assert "texts within " in app.describe(
        expert, {}
    ) and "logits of a label change run again in fp32" in app.describe(expert, {})
    cached = {p.name for p in (tmp_path / "_hf_home" / "hub").rglob("*") if p.is_file()}
    # int8 and, for its near-ties, fp32; never the torch weights
    assert {"model_int8.onnx", "model.onnx"} <= cached and "model.safetensors" not in cached


def test_sxhub_space_on_a_hub_model_offers_its_tasks_examples(hub: Any, tmp_path: Path) -> None:
    """``sxhub space OWNER/NAME`` offered two financial news sentences as examples whatever the model's task (the
    app's stand-ins), though the downloaded sxhub.json holds the task and its examples, which ``sxhub space
    MODEL_DIR`` offers: a click labelled a text of another task. It now offers the task's own, as on a folder."""
    import gradio as gr

    from sxhub.publish import publish_model
    from sxhub.space import build_space
    from sxhub.spec import Example

    spec = _spec()
    spec.examples = [Example(text="Quarterly dividend held at 5 cents.", labels=["neutral"])]
    model = make_student(tmp_path / "student", spec)
    repo = f"{hub.user}/fin-student"
    publish_model(model, repo_id=repo)
    for source in (model, repo):
        [examples] = [b for b in build_space(source).blocks.values() if isinstance(b, gr.Dataset)]
        assert [row[0] for row in examples.samples] == ["Quarterly dividend held at 5 cents."], source


def test_a_space_published_for_a_hub_model_by_its_id_shows_that_models_task(
    hub: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``sxhub publish space OWNER/NAME`` never read the model's sxhub.json: the Space offered financial news as
    examples whatever the task, and its card had no description and license "other", where the same Space of the
    local folder shows the task's. A model without sxhub.json keeps the stand-ins, and one line says so."""
    from huggingface_hub import HfApi

    from sxhub.publish import publish_model, publish_space
    from sxhub.spec import Example

    spec = _spec()
    spec.examples = [Example(text="Quarterly dividend held at 5 cents.", labels=["neutral"])]
    model = make_student(tmp_path / "student", spec)
    repo = f"{hub.user}/fin-student"
    publish_model(model, repo_id=repo)
    space = f"{hub.user}/fin-demo"
    publish_space(repo, repo_id=space)
    examples = json.loads(hub.stub.read_file(space, "examples.json", repo_type="space"))
    readme = hub.stub.read_file(space, "README.md", repo_type="space").decode()
    assert examples == ["Quarterly dividend held at 5 cents."]
    assert spec.description in readme and "license: other" not in readme
    config = json.loads(hub.stub.read_file(space, "config.json", repo_type="space"))
    assert config["model"] == repo and config["title"] != "fin-student"  # the task's title, as for a folder

    HfApi().delete_file("sxhub.json", repo_id=repo)  # a classifier sxhub did not train
    with caplog.at_level("WARNING", logger="sxhub.publish"):
        publish_space(repo, repo_id=f"{hub.user}/fin-demo-2")
    assert "has no sxhub.json with its task" in caplog.text and "pass --examples" in caplog.text


def test_a_space_of_a_private_model_repo_says_it_needs_a_token(
    hub: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """``sxhub run --push NS --private`` pushed a private model and a Space that loads it by id: a Space has no token
    unless an HF_TOKEN secret is added, so it failed at startup with a RepositoryNotFoundError traceback, and the
    publish said nothing. The publish now says what to add, and the app's error names the secret."""
    from huggingface_hub import HfApi

    from sxhub.publish import publish_model, publish_space

    model = make_student(tmp_path / "student", _spec())
    repo = f"{hub.user}/secret-student"
    publish_model(model, repo_id=repo, private=True)
    with caplog.at_level("WARNING", logger="sxhub.hub"):
        publish_space(model, repo_id=f"{hub.user}/secret-demo", model_repo=repo, private=True)
    assert f"model repo {repo!r} is private" in caplog.text and "secret HF_TOKEN" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="sxhub.hub"):  # the model named by its id, not --model-repo
        publish_space(repo, repo_id=f"{hub.user}/secret-demo-2")
    assert f"model repo {repo!r} is private" in caplog.text
    caplog.clear()
    HfApi().update_repo_settings(repo, private=False)
    with caplog.at_level("WARNING", logger="sxhub.hub"):
        publish_space(model, repo_id=f"{hub.user}/open-demo", model_repo=repo)
    assert "HF_TOKEN" not in caplog.text  # a public model: nothing to add
    HfApi().update_repo_settings(repo, private=True)

    folder = Path(publish_space(model, to=tmp_path / "space", repo_id="me/demo", model_repo=repo))
    app = _load_published_app(folder, "space_app_private")
    monkeypatch.delenv("HF_TOKEN")  # as on the Space, where no secret was added
    with pytest.raises(RuntimeError, match=f"model repo '{repo}' was not found, or it is private.*secret HF_TOKEN"):
        app.Expert.load()


def test_a_space_of_a_private_model_whose_small_files_are_cached_says_it_needs_a_token(
    hub: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Space that once read its private model (a token then, since removed: the small files are in its cache)
    got them from the cache without a word, then failed in transformers' from_pretrained with an OSError
    traceback ("... is not a local folder and is not a valid model identifier"). It gives the app's own line now."""
    from huggingface_hub import snapshot_download

    from sxhub.publish import publish_model, publish_space

    model = make_student(tmp_path / "student", _spec())
    repo = f"{hub.user}/secret-student"
    publish_model(model, repo_id=repo, private=True)
    folder = Path(publish_space(model, to=tmp_path / "space", repo_id="me/demo", model_repo=repo))
    app = _load_published_app(folder, "space_app_private_cached")
    snapshot_download(repo, allow_patterns=app.SMALL_FILES)  # with the token: config, sxhub.json, tokenizer
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(RuntimeError, match=f"model repo '{repo}' was not found, or it is private.*secret HF_TOKEN"):
        app.Expert.load(backend="torch")
    # an ONNX export: its file is not among the cached ones ("the cached snapshot is incomplete")
    pytest.importorskip("onnxruntime")
    from sxhub.export import export_onnx

    export_onnx(model)
    monkeypatch.setenv("HF_TOKEN", hub.token)
    publish_model(model, repo_id=f"{repo}-onnx", private=True)
    snapshot_download(f"{repo}-onnx", allow_patterns=app.SMALL_FILES)
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(RuntimeError, match=f"model repo '{repo}-onnx' was not found, or it is private"):
        app.Expert.load(f"{repo}-onnx", backend="onnx")


def _recheck_margin(model: Path, margin: float) -> None:
    """Record ``margin`` as int8's recheck margin, where ``sxhub export`` records the one it fitted."""
    path = model / "sxhub.json"
    info = json.loads(path.read_text())
    info["export"]["variants"]["onnx-int8"]["recheck"] = {"margin": margin}
    path.write_text(json.dumps(info))


def test_the_space_and_predict_count_physical_cores_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both run one batch per physical core this process may use: hyperthreads of one core (the same
    ``thread_siblings_list``) count once; without that topology both apply psutil's ratio of cores to CPUs; a
    container's CPU limit caps both."""
    import os

    from sxhub._paths import asset_dir
    from sxhub.onnx_runtime import cpu_threads

    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("no sched_getaffinity on this platform")
    app = _load_published_app(asset_dir("spaces"), "space_app_cores")
    topology = tmp_path / "cpu"
    for cpu, siblings in {0: "0,2", 1: "1,3", 2: "0,2", 3: "1,3"}.items():  # 2 cores, 2 hyperthreads each
        (topology / f"cpu{cpu}" / "topology").mkdir(parents=True)
        (topology / f"cpu{cpu}" / "topology" / "thread_siblings_list").write_text(siblings + "\n")
    free = tmp_path / "no-cgroup"  # no CPU limit: the cores count
    for usable, cores in (({0, 1, 2, 3}, 2), ({0, 2}, 1), ({0, 1}, 2), ({3}, 1)):
        monkeypatch.setattr(os, "sched_getaffinity", lambda _pid, usable=usable: usable)
        assert cpu_threads(topology, free) == app.cpu_threads(topology, free) == cores, usable
    # no topology to read (a container without sysfs): psutil's machine-wide ratio of cores to CPUs, in both
    import psutil

    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3})
    for (n_cores, n_cpus), expected in (((8, 16), 2), ((16, 16), 4), ((None, 16), 4)):
        monkeypatch.setattr(psutil, "cpu_count", lambda logical=True, c=n_cores, n=n_cpus: n if logical else c)
        assert cpu_threads(tmp_path / "none", free) == app.cpu_threads(tmp_path / "none", free) == expected
    monkeypatch.undo()
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3})
    # a container's CPU limit caps it (docker run --cpus, a Kubernetes limit): cgroup v2 cpu.max, or v1's CFS quota
    # over its period, rounded up; "max" or -1 is no limit
    limits = {
        "v2 one": ({"cpu.max": "100000 100000\n"}, 1),
        "v2 one and a half": ({"cpu.max": "150000 100000\n"}, 2),
        "v2 none": ({"cpu.max": "max 100000\n"}, 2),
        "v1 one": ({"cpu/cpu.cfs_quota_us": "50000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 1),
        "v1 none": ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, 2),
        "v2 four": ({"cpu.max": "400000 100000\n"}, 2),  # more than the cores: the cores
    }
    for name, (files, expected) in limits.items():
        cgroup = tmp_path / name
        for relative, text in files.items():
            (cgroup / relative).parent.mkdir(parents=True, exist_ok=True)
            (cgroup / relative).write_text(text)
        assert cpu_threads(topology, cgroup) == app.cpu_threads(topology, cgroup) == expected, name


def test_a_model_that_is_neither_a_folder_nor_on_the_hub_is_one_line(
    hub: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bare name that is no folder here, and a Hub id the Hub does not have: one error line each, exit 2 (a
    traceback from inside the app's model loading, exit 1, before)."""
    code, _, err = run_cli(["space", "no-such-folder"], capsys)
    assert code == 2 and err.strip().splitlines()[-1].startswith("Error: model 'no-such-folder' is not a folder here")
    code, _, err = run_cli(["space", f"{hub.user}/no-such-model"], capsys)
    assert code == 2 and err.strip().splitlines()[-1].startswith(f"Error: model '{hub.user}/no-such-model' is neither")


def test_a_port_in_use_is_one_line(tmp_path: Path, taken_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    """gradio's OSError for a taken --port came out with exit 1."""
    require_modules("gradio", install='pip install "sxhub[space]"')
    model = make_student(tmp_path / "student", _spec())
    code, _, err = run_cli(["space", str(model), "--port", str(taken_port)], capsys)
    assert code == 2
    assert err.strip().splitlines()[-1].startswith(f"Error: could not listen on 127.0.0.1, port {taken_port}")


# --------------------------------------------------------------------------------------------------------------
# --host: checked before any work (a host gradio cannot serve on made `review` and `space` retry forever)
# --------------------------------------------------------------------------------------------------------------
class _App:
    """Stands in for the gradio app: records where it was asked to listen, and serves nothing."""

    def __init__(self) -> None:
        self.hosts: list[str] = []

    def launch(self, *, server_name: str, **_: Any) -> tuple[None, str, None]:
        self.hosts.append(server_name)
        return None, f"http://{server_name}:7860/", None

    def block_thread(self) -> None:
        pass


@pytest.fixture
def app_stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[_App, list[str], dict[str, list[str]]]:
    """`sxhub space` and `sxhub review` with the app replaced by an :class:`_App`; returns the app, the work done
    before the launch (a model loaded, a labelled file read) and each verb's arguments."""
    import sxhub.review
    import sxhub.review_app
    import sxhub.space

    app, work = _App(), []
    load_review = sxhub.review.load_review
    monkeypatch.setattr(sxhub.space, "build_space", lambda model, **_: work.append(f"model {model}") or app)
    monkeypatch.setattr(sxhub.review_app, "build_demo", lambda review, **_: app)
    monkeypatch.setattr(
        sxhub.review, "load_review", lambda path, **kw: work.append(f"labelled {path}") or load_review(path, **kw)
    )
    labelled = tmp_path / "labelled.csv"
    labelled.write_text("text,label\nProfit rose,positive\nLoss widened,negative\n", encoding="utf-8")
    verbs = {"space": ["space", str(tmp_path / "model")], "review": ["review", str(labelled)]}
    return app, work, verbs


def _ipv6_here() -> bool:
    import socket

    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.parametrize("verb", ["space", "review"])
@pytest.mark.parametrize(
    ("host", "server_name"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("0.0.0.0", "0.0.0.0"),
        ("localhost", "localhost"),
        ("::", "[::]"),  # gradio writes its URL as http://HOST:PORT/: a bare "::" was "InvalidURL: Invalid port"
        ("[::1]", "[::1]"),
    ],
)
def test_a_host_this_machine_has_is_served_on(
    app_stand_in: tuple[_App, list[str], dict[str, list[str]]],
    capsys: pytest.CaptureFixture[str],
    verb: str,
    host: str,
    server_name: str,
) -> None:
    if ":" in host and not _ipv6_here():
        pytest.skip("no IPv6 on this machine")
    app, work, verbs = app_stand_in
    code, out, err = run_cli([*verbs[verb], "--host", host], capsys)
    assert code == 0, err
    assert app.hosts == [server_name] and out.strip() == f"http://{server_name}:7860/"
    assert len(work) == 1


@pytest.mark.parametrize("verb", ["space", "review"])
@pytest.mark.parametrize(
    "host",
    [
        "999.1.1.1",  # resolves to nothing
        "192.0.2.1",  # TEST-NET-1: resolves, but is none of this machine's addresses (it cannot be bound)
        "",
    ],
)
def test_a_host_this_machine_cannot_serve_on_is_one_line_before_any_work(
    app_stand_in: tuple[_App, list[str], dict[str, list[str]]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    verb: str,
    host: str,
) -> None:
    """gradio waited for a server that never started, port after port: `review --host 999.1.1.1` never ended."""
    app, work, verbs = app_stand_in
    code, out, err = run_cli([*verbs[verb], "--host", host], capsys)
    assert code == 2 and out == ""
    [line] = err.strip().splitlines()
    assert line.startswith(f"Error: --host '{host}' is not an address this machine can serve on: ")
    assert line.endswith("; pass 127.0.0.1 (this machine) or 0.0.0.0 (the network).")
    reason = line.split("can serve on: ", 1)[1].rsplit("; pass", 1)[0]
    assert reason.strip()  # the resolver's or the kernel's words ("Name or service not known")
    assert app.hosts == [] and work == [] and not (tmp_path / "labelled.decisions.jsonl").exists()


@pytest.mark.parametrize(
    ("note", "reason"),
    [
        (
            "int8 is not the default: checked on 120 texts only (needs 1,000); pass --data with the training data.",
            "checked on 120 texts only (needs 1,000).",
        ),
        (
            "int8 is not the default: it gives the fp32 label on 98.00% of 1000 texts, under the 99.5% bar; serve "
            "onnx/model.onnx (or torch).",
            "it gives the fp32 label on 98.00% of 1000 texts, under the 99.5% bar.",
        ),
    ],
)
def test_the_space_readme_says_why_export_kept_int8_off_as_recorded(tmp_path: Path, note: str, reason: str) -> None:
    """The README said int8 was kept off "because it changed too many of fp32's labels" whatever export recorded
    (int8 agreed 100% and was kept off for too few check texts): it now gives export's recorded reason."""
    from sxhub.publish import publish_space

    model = make_student(tmp_path / "student", _spec())
    (model / "onnx").mkdir()
    (model / "onnx" / "model.onnx").write_bytes(b"")  # an empty graph: the README names it; nothing here runs it
    info = json.loads((model / "sxhub.json").read_text())
    info["export"] = {"default": "onnx", "variants": {}, "notes": ["int8 mixed not tried.", note]}
    (model / "sxhub.json").write_text(json.dumps(info))
    readme = (Path(publish_space(model, to=tmp_path / "space", repo_id="me/demo")) / "README.md").read_text()
    assert "full-precision ONNX model (`onnx/model.onnx`)" in readme
    assert f"`sxhub export` kept int8 off the default: {reason}" in readme
    assert "changed too many" not in readme and "pass --data" not in readme

    info["export"]["notes"] = []  # exported without --int8: no int8 to keep off, no reason given
    (model / "sxhub.json").write_text(json.dumps(info))
    readme = (Path(publish_space(model, to=tmp_path / "space2", repo_id="me/demo")) / "README.md").read_text()
    assert "(`onnx/model.onnx`) with ONNX Runtime. " in readme and "kept int8 off" not in readme


def test_the_space_readme_says_how_texts_are_cleaned_as_the_model_records(tmp_path: Path) -> None:
    """The README said "Texts are cleaned (e.g. URLs ... masked)" for a ``preprocess: false`` model, whose texts the
    app itself uses as typed: it now names the saved steps, or says the texts are used as typed."""
    from sxhub.publish import publish_space

    model = make_student(tmp_path / "student", _spec())
    readme = (Path(publish_space(model, to=tmp_path / "space", repo_id="me/demo")) / "README.md").read_text()
    assert "Texts are cleaned (URLs, e-mails, @handles and phone numbers masked) and cut at 64 tokens" in readme

    info = json.loads((model / "sxhub.json").read_text())
    info["preprocessing"] = {"version": 2, "steps": [], "strip": False, "max_length": 64}
    (model / "sxhub.json").write_text(json.dumps(info))
    folder = Path(publish_space(model, to=tmp_path / "raw", repo_id="me/demo"))
    readme = (folder / "README.md").read_text()
    assert "Texts are used as typed" in readme and "cut at 64 tokens" in readme
    assert "masked" not in readme and "cleaned (" not in readme
    page = _page_text(_load_published_app(folder, "space_app_raw").build_demo())
    assert "Texts are used as typed" in page  # the README and the app say the same


def test_a_multi_label_space_shows_no_headline_label(tmp_path: Path) -> None:
    """A multi-label Space's probability box headlined the most probable label (gr.Label's heading) while the
    decision line said "Labels on: none" (every probability under its threshold): the box now has no heading for a
    multi-label expert; a single-label one keeps it (its heading is the label given)."""
    import gradio as gr

    from sxhub.publish import publish_space

    for multi in (True, False):
        model = make_student(tmp_path / f"student-{multi}", _spec(multi_label=multi))
        if multi:
            info = json.loads((model / "sxhub.json").read_text())
            info["thresholds"] = {name: 0.999 for name in info["labels"]}
            (model / "sxhub.json").write_text(json.dumps(info))
        folder = Path(publish_space(model, to=tmp_path / f"space-{multi}", repo_id="me/demo"))
        app = _load_published_app(folder, f"space_app_heading_{multi}")
        demo = app.build_demo()
        [box] = [b for b in demo.blocks.values() if isinstance(b, gr.Label)]
        assert box.show_heading is not multi
        [props] = [c["props"] for c in demo.config["components"] if c.get("type") == "label"]
        assert props["show_heading"] is not multi
        _, line = app.label_text(app.Expert.load(), "profit rose")
        if multi:
            assert line.endswith("none.")


@pytest.mark.parametrize("multi", [True, False])
def test_label_names_with_markup_show_as_typed_on_the_page(tmp_path: Path, multi: bool) -> None:
    """Label names are free text: a label ``café *star*`` showed as "café star" in italics, ``<b>bold</b>`` as a bold
    "bold" and ``__label__pos`` (fastText's form) as a bold "label" in the decision line and the thresholds note,
    so a visitor read a label the expert does not have. Rendered as CommonMark (gradio's Markdown), each shows as
    typed."""
    import dataclasses
    from html.parser import HTMLParser

    import markdown_it
    import numpy as np

    from sxhub.publish import publish_space

    names = ["café *star*", "<b>bold</b>", "__label__pos", "a_b", "[x](y)"]
    spec = TaskSpec(name="odd", description="Odd labels.", labels=names, multi_label=multi, teachers=["local"])
    model = make_student(tmp_path / "student", spec)
    if multi:
        info = json.loads((model / "sxhub.json").read_text())
        info["thresholds"] = {name: 0.0 for name in names}  # every label on: the line names them all
        (model / "sxhub.json").write_text(json.dumps(info))
    folder = Path(publish_space(model, to=tmp_path / "space", repo_id="me/odd"))
    app = _load_published_app(folder, f"space_app_markup_{multi}")

    def shown(markdown: str) -> str:
        """The text a browser shows for ``markdown``: its HTML's text, tags dropped."""
        parts: list[str] = []
        parser = HTMLParser()
        parser.handle_data = parts.append  # type: ignore[method-assign]
        parser.feed(markdown_it.MarkdownIt("commonmark").render(markdown))
        parser.close()
        return "".join(parts)

    expert = app.Expert.load()
    if multi:
        _, line = app.label_text(expert, "profit rose")
        assert shown(line).strip() == "Labels on (probability ≥ the label's threshold): " + ", ".join(names) + "."
        assert all(f"{name} ≥ 0.000" in shown(_page_text(app.build_demo())) for name in names)
    else:
        for i, name in enumerate(names):  # each label the one given in turn
            winner = dataclasses.replace(expert, run=lambda texts, i=i: np.eye(len(names))[[i] * len(texts)] * 9)
            _, line = app.label_text(winner, "profit rose")
            assert shown(line).strip() == f"Label: {name}."


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("multi", [True, False])
def test_the_probability_box_headline_in_chromium(tmp_path: Path, multi: bool, browser: Any) -> None:
    """In a real browser: a multi-label Space's probability box shows the bars without a headline label (it named
    the most probable label while no label was on); a single-label one headlines the label it gives."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from sxhub.space import launch_space

    model = make_student(tmp_path / "student", _spec(multi_label=multi))
    if multi:
        info = json.loads((model / "sxhub.json").read_text())
        info["thresholds"] = {name: 0.999 for name in info["labels"]}
        (model / "sxhub.json").write_text(json.dumps(info))
    demo, url = launch_space(model, host="127.0.0.1", block=False)
    driver = browser
    try:
        driver.get(url)
        wait = WebDriverWait(driver, 60)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "textarea"))
        driver.find_element(By.CSS_SELECTOR, "textarea").send_keys("profit rose strong growth")
        [button] = [b for b in driver.find_elements(By.TAG_NAME, "button") if b.text.strip() == "Label"]
        button.click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "dd.confidence")) == 3)
        said = "Labels on (probability ≥ the label's threshold): none." if multi else "Label: "
        wait.until(lambda d: said in d.find_element(By.TAG_NAME, "body").text)
        headings = [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".output-class") if e.is_displayed()]
    finally:
        demo.close()
    if multi:
        assert headings == []
    else:
        assert len(headings) == 1 and headings[0] in {"positive", "neutral", "negative"}


@pytest.mark.slow
@pytest.mark.browser
def test_clicking_an_example_shows_that_examples_label_not_the_last_texts(
    tmp_path: Path, tiny_base_model: Path, browser: Any
) -> None:
    """In a real browser: a visitor labels a text, then clicks an example. The example filled the text box, but the
    probabilities and "Label: ..." below still were the earlier text's, now shown beside the example (a negative
    example read as positive) until the visitor thought of clicking Label again. Clicking an example labels it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    from test_train import CUES, SINGLE, fast_config, single_frame

    from sxhub.space import build_space, listen, load_app_module
    from sxhub.train import train

    model = tmp_path / "student"
    train(SINGLE, single_frame(), fast_config(model, tiny_base_model))  # learns the cue words in about a second
    expert = load_app_module().Expert.load(str(model))
    first, example = CUES["positive"], CUES["negative"]
    said = {t: expert.decide(expert.probabilities([t])[0]) for t in (first, example)}
    assert said == {first: "positive", example: "negative"}  # the stale answer differs from the example's
    demo = build_space(model, examples=[example])
    _, url, _ = listen(demo, host="127.0.0.1", port=None, prevent_thread_lock=True, quiet=True)
    driver = browser
    try:
        driver.get(url)
        wait = WebDriverWait(driver, 60)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "textarea"))
        driver.find_element(By.CSS_SELECTOR, "textarea").send_keys(first)
        [button] = [b for b in driver.find_elements(By.TAG_NAME, "button") if b.text.strip() == "Label"]
        button.click()
        wait.until(lambda d: f"Label: {said[first]}." in d.find_element(By.TAG_NAME, "body").text)
        [shown] = [b for b in driver.find_elements(By.TAG_NAME, "button") if b.text.strip() == example]
        shown.click()
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "textarea").get_attribute("value") == example)
        WebDriverWait(driver, 20).until(
            lambda d: f"Label: {said[example]}." in d.find_element(By.TAG_NAME, "body").text
        )
        body = driver.find_element(By.TAG_NAME, "body").text
    finally:
        demo.close()
    assert f"Label: {said[first]}." not in body


def test_an_onnx_space_forced_to_torch_says_which_requirements_to_add(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Space that serves ONNX leaves torch and transformers out of requirements.txt; SXHUB_BACKEND=torch (the
    README's advice, and the fix the app's own error gave) then crashed with "No module named 'torch'". The torch
    lines are now in requirements.txt, commented, and the app says to uncomment them, in one line."""
    from sxhub.publish import publish_space

    model = make_student(tmp_path / "student", _spec())
    (model / "onnx").mkdir()
    (model / "onnx" / "model.onnx").write_bytes(b"")  # an empty graph, served by auto; never run here
    info = json.loads((model / "sxhub.json").read_text())
    info["export"] = {"default": "onnx", "variants": {}, "notes": []}
    (model / "sxhub.json").write_text(json.dumps(info))
    folder = Path(publish_space(model, to=tmp_path / "space", repo_id="me/demo"))
    lines = (folder / "requirements.txt").read_text().splitlines()
    assert not [ln for ln in lines if ln.startswith(("torch", "transformers"))]  # the ONNX Space stays lean
    assert {ln.split(">")[0] for ln in lines if ln.startswith("# ")} >= {"# torch", "# transformers"}
    assert "uncomment their lines there" in (folder / "README.md").read_text()

    app = _load_published_app(folder, "space_app_no_torch")
    monkeypatch.setitem(__import__("sys").modules, "torch", None)  # as on a Space built from that requirements.txt
    monkeypatch.setitem(__import__("sys").modules, "transformers", None)
    monkeypatch.setenv("SXHUB_BACKEND", "torch")
    with pytest.raises(ModuleNotFoundError, match="uncomment the torch and transformers lines") as err:
        app.build_demo()
    assert "SXHUB_BACKEND=torch" in str(err.value) and "\n" not in str(err.value)
    monkeypatch.setenv("SXHUB_BACKEND", "onnx-int8")  # no int8 here: its fix names the torch lines too
    with pytest.raises(FileNotFoundError, match="SXHUB_BACKEND=torch and uncomment the torch and transformers"):
        app.build_demo()


@pytest.mark.parametrize("multi_label", [False, True])
def test_the_space_says_where_its_scores_come_from(multi_label: bool) -> None:
    """An ``sxhub evaluate`` result given with --evaluation was shown under "held-out test split", and a multi-label
    expert's subset accuracy as "accuracy"."""
    from types import SimpleNamespace

    from sxhub.space import load_app_module

    app = load_app_module()
    expert = SimpleNamespace(
        multi_label=multi_label, info={}, backend="torch", model="student", preprocessing={"max_length": 128}
    )
    scores = {"student vs experts": {"n": 40, "accuracy": 0.8, "macro_f1": 0.7}}
    words = {
        "test": "**Scores** (held-out test split;",
        "validation": "**Scores** (the training run's validation texts, which chose the checkpoint: optimistic;",
        "given": "**Scores** (texts the publisher scored with `sxhub evaluate`;",
    }
    for split, expected in words.items():
        page = app.describe(expert, {"scores": scores, "split": split})
        assert expected in page
        assert ("| subset accuracy |" in page) == multi_label and ("| accuracy |" in page) != multi_label


def test_a_csv_the_space_cannot_label_rightly_is_one_message(tmp_path: Path) -> None:
    """A CSV saved with ';' (a European spreadsheet's CSV) was read as one column named 'text;label' and labelled
    whole: the texts with a comma lost their start to pandas' index ('although that is where ... .;neutral', the
    expert label inside the text), and the output had no 'text' column. A comma CSV whose texts are not quoted was
    shifted the same way (the ids became texts). A header-only CSV, or one whose texts are all empty, gave a file
    with no labels and no word why. Now ';', tab and '|' files are read by their header's separator (a '|' file was
    one column, 'text|label', labelled whole or refused as a comma CSV), and the others are one message each."""
    import gradio as gr
    import pandas as pd

    from sxhub.predict import Predictor
    from sxhub.space import load_app_module

    app = load_app_module()
    model = make_student(tmp_path / "student", _spec())
    expert = app.Expert.load(str(model))
    texts = ["Sales rose , and profit too .", "Shares fell", "A new store , in Oslo , opened ."]
    for sep, name in ((";", "semi.csv"), ("\t", "tab.csv"), ("|", "pipe.csv")):
        upload = tmp_path / name
        pd.DataFrame({"text": texts, "label": ["positive", "negative", "neutral"]}).to_csv(
            upload, sep=sep, index=False
        )
        out = pd.read_csv(app.label_csv(expert, str(upload)), dtype=str, keep_default_na=False)
        assert out["text"].tolist() == texts and out["label_input"].tolist() == ["positive", "negative", "neutral"]
        assert out["label"].tolist() == Predictor(model).predict(texts)[0]
    # the header's fields as the csv module reads them: a separator inside a quoted name, or texts' commas in the
    # header's last name, do not outvote the one that splits it
    for header, sep in (('"text, cleaned"|"label"', "|"), ("id|text|note, if any", "|"), ('"a|b",text', ",")):
        upload = tmp_path / "header.csv"
        upload.write_text(f"{header}\n", encoding="utf-8")
        assert app._separator(str(upload)) == sep

    cases = {
        "id,text\n1,Sales rose, and profit too\n2,Shares fell, sharply\n": "more fields than its header",
        # the separator the file has is the one named (a ';' file was said to hold a text with a comma)
        "id;text\n1;Sales rose; and profit too\n2;Shares fell; sharply\n": r"header \(a text with a semicolon,",
        "id|text\n1|Sales rose| and profit too\n2|Shares fell| sharply\n": r"header \(a text with a '\|',",
        "id,text\n": "no rows",
        "id,text\n1,\n2,null\n": "no texts",
    }
    for i, (content, message) in enumerate(cases.items()):
        upload = tmp_path / f"bad{i}.csv"
        upload.write_text(content, encoding="utf-8")
        with pytest.raises(gr.Error, match=message):
            app.label_csv(expert, str(upload))


def test_labelled_csvs_and_uploads_do_not_pile_up_on_the_space_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every labelled CSV was written to a fresh temporary folder that nothing deleted, and gradio served a copy of
    it from its cache, which the app never cleared either (nor the uploads): a public Space's disk filled up with
    every file visitors sent. The labelled CSV is now written in gradio's cache (served as it is, no copy) and the
    app deletes old uploads and results there (gradio's ``delete_cache``; after 5 seconds here)."""
    import tempfile
    import time

    from gradio_client import Client, handle_file

    from sxhub.space import load_app_module

    cache, scratch = tmp_path / "gradio-cache", tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(cache))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where a temporary folder of the app's own would go
    app = load_app_module()
    monkeypatch.setattr(app, "DELETE_CACHE", (1, 5))
    demo = app.build_demo(str(make_student(tmp_path / "student", _spec())))
    assert demo.delete_cache == (1, 5)
    _, url, _ = demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        upload = tmp_path / "texts.csv"
        upload.write_text("text\nprofit rose\nshares fell\n", encoding="utf-8")
        client = Client(url, verbose=False, download_files=str(tmp_path / "downloads"))
        result = client.predict(handle_file(str(upload)), api_name="/label_csv")
        assert Path(result).read_text(encoding="utf-8").startswith("text,label,")
        assert "texts-labelled.csv" in {f.name for f in cache.rglob("*.csv")}  # served from the cache
        deadline = time.monotonic() + 30
        while list(cache.rglob("*.csv")) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert list(cache.rglob("*.csv")) == []  # the upload and the labelled CSV, deleted
    finally:
        demo.close()
    assert [f for f in scratch.rglob("*") if f.is_file()] == []  # and no copy left outside the cache


def test_a_space_published_without_gradio_installed_pins_the_gradio_sxhub_is_tested_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``sxhub publish space`` needs no gradio, and without it the Space was pinned to gradio 6.0.0 (README
    ``sdk_version`` and requirements.txt): a release sxhub never tests, which does not install beside the
    huggingface_hub 2 the same requirements.txt asks for, so the Space failed to build. It now pins the floor of
    sxhub's ``space`` extra."""
    import importlib.metadata
    import tomllib

    from packaging.requirements import Requirement
    from packaging.version import Version

    from sxhub.publish import publish_space

    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text(encoding="utf-8"))
    [gradio] = [
        r for r in map(Requirement, pyproject["project"]["optional-dependencies"]["space"]) if r.name == "gradio"
    ]
    [floor] = [s.version for s in gradio.specifier if s.operator == ">="]
    installed = importlib.metadata.version

    def version(name: str) -> str:
        if name == "gradio":
            raise importlib.metadata.PackageNotFoundError(name)
        return installed(name)

    monkeypatch.setattr(importlib.metadata, "version", version)
    model = make_student(tmp_path / "student", _spec())
    folder = Path(publish_space(model, to=tmp_path / "space", repo_id="me/demo"))
    pins = [ln for ln in (folder / "requirements.txt").read_text().splitlines() if ln.startswith("gradio")]
    from huggingface_hub import SpaceCard

    sdk = SpaceCard.load(folder / "README.md").data.sdk_version
    assert pins == [f"gradio=={sdk}"]
    assert Version(sdk) == Version(floor)


@pytest.mark.parametrize("version", ["6.30", "6.31.0"])
def test_the_spaces_sdk_version_is_read_as_the_version_it_pins(
    version: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README wrote ``sdk_version: 6.30`` unquoted, which YAML reads as the number 6.3: a Space pinned to a
    gradio that is not the one its requirements.txt installs (hub-docs spaces-config-reference.md: a string)."""
    from huggingface_hub import SpaceCard

    import sxhub.space_folder as space_folder
    from sxhub.publish import publish_space

    monkeypatch.setattr(space_folder, "gradio_version", lambda: version)
    model = make_student(tmp_path / "student", _spec())
    folder = Path(publish_space(model, to=tmp_path / "space", repo_id="me/demo"))
    assert SpaceCard.load(folder / "README.md").data.sdk_version == version


def test_a_csv_over_the_limit_is_refused_from_its_first_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Space read the whole upload before counting its rows: a 190 MB CSV (1.45 million texts) held 290 MB more
    in the app for good, to say it was too long, and a bad line far past the limit was reported instead of the
    size. It now reads one row past the limit, and the upload box says the limit before the visitor tries."""
    import gradio as gr

    from sxhub.space import load_app_module

    app = load_app_module()
    model = make_student(tmp_path / "student", _spec())
    monkeypatch.setattr(app, "MAX_CSV_ROWS", 3)
    upload = tmp_path / "long.csv"
    upload.write_text("text\n" + "profit rose\n" * 4 + '"an unclosed quote\n', encoding="utf-8")
    with pytest.raises(gr.Error, match="more than 3 rows; this Space labels at most 3"):
        app.label_csv(app.Expert.load(str(model)), str(upload))
    demo = app.build_demo(str(model))
    assert "(at most 3 rows, 50 MB)" in next(b.label for b in demo.blocks.values() if isinstance(b, gr.File))


def test_an_upload_over_the_byte_limit_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Space capped a CSV's rows but not its bytes: a 60 MB upload streamed in whole (200), and a file of a few
    huge lines was read whole to find its header and first rows. Now the app launches with gradio's
    ``max_file_size`` (its page refuses a larger file before sending it, the upload route answers 413), under both
    ``sxhub space`` and the published ``python app.py``, and ``label_csv`` refuses one that came in another way."""
    import runpy

    import gradio as gr
    import httpx

    import sxhub.space
    from sxhub.space import launch_space, load_app_module

    model = make_student(tmp_path / "student", _spec())
    app = load_app_module()
    monkeypatch.setattr(app, "MAX_CSV_BYTES", 1024 * 1024)
    upload = tmp_path / "big.csv"
    upload.write_text("text\n" + "profit rose\n" * 131_072, encoding="utf-8")  # 1.5 MB
    with pytest.raises(gr.Error, match=r"The file is 1.5 MB; this Space labels CSVs of at most 1 MB \(5,000 rows\)"):
        app.label_csv(app.Expert.load(str(model)), str(upload))

    def small_limit() -> Any:
        module = load_app_module()
        module.MAX_CSV_BYTES = 1000
        return module

    monkeypatch.setattr(sxhub.space, "load_app_module", small_limit)
    demo, url = launch_space(model, host="127.0.0.1", block=False)
    try:
        assert httpx.get(f"{url}config").json()["max_file_size"] == 1000  # the page refuses a larger file itself
        small = httpx.post(f"{url}gradio_api/upload", files={"files": ("small.csv", b"text\nprofit rose\n")})
        assert small.status_code == 200
        big = httpx.post(f"{url}gradio_api/upload", files={"files": ("big.csv", b"text\n" + b"x" * 2000)})
        assert big.status_code == 413 and "maximum allowed size of 1000 bytes" in big.text
    finally:
        demo.close()

    launched: list[dict[str, Any]] = []
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kw: launched.append(kw))
    monkeypatch.setenv("SXHUB_MODEL", str(model))
    runpy.run_path(str(Path(app.__file__)), run_name="__main__")  # as the Space runs it
    assert launched == [{"max_file_size": 50 * 1024 * 1024}]


def test_a_space_of_a_student_without_teacher_votes_does_not_credit_teachers(tmp_path: Path) -> None:
    """A student trained on labels without teacher votes (the PhraseBank's own labels, say) got a Space whose README
    said "open LLM teachers labelled the texts and a small student model learned their labels" and that the Space
    "says which teachers the expert learned from, its scores against them and against human experts, and its
    speed" (none were there), and whose score legend called its training labels the teachers'. Both now say what
    is so; a student with teachers keeps its wording, with the teachers named."""
    from sxhub.publish import publish_space

    for teachers in ([], ["mistralai/Mixtral-8x7B-Instruct-v0.1"]):
        model = make_student(tmp_path / f"student-{len(teachers)}", _spec())
        info = json.loads((model / "sxhub.json").read_text())
        info["teachers"] = teachers
        info["train"]["validation"] = {"n": 60, "accuracy": 0.9, "macro_f1": 0.87}
        (model / "sxhub.json").write_text(json.dumps(info))
        folder = Path(publish_space(model, to=tmp_path / f"space-{len(teachers)}", repo_id="me/demo"))
        readme = (folder / "README.md").read_text()
        page = _page_text(_load_published_app(folder, f"space_app_teachers_{len(teachers)}").build_demo())
        assert "which teachers the expert learned from" not in readme and "against human experts" not in readme
        if teachers:
            assert "open LLM teachers (`mistralai/Mixtral-8x7B-Instruct-v0.1`) labelled the texts" in readme
            assert "*teacher labels* are what the student learned" in page
        else:
            assert "LLM teachers" not in readme and "carry no teacher votes" in readme
            assert "*teacher labels* are what the student learned" not in page
            assert "*teacher labels* here are the training data's own labels" in page


def test_sxhub_space_on_a_folder_says_what_its_card_says_of_teachers_and_thresholds(tmp_path: Path) -> None:
    """``sxhub space MODEL`` on a student trained on labels without teacher votes (``teachers: []``) said its
    "training labels came from LLM teachers that were not recorded" (the app dropped the empty list as not given),
    where its card says the labels carry no teacher votes; and a multi-label page showed a threshold of 0.725 as
    "≥ 0.72" (0.775 as "≥ 0.78"), so a probability of 0.723 looked on and was not."""
    from sxhub.space import build_space

    model = make_student(tmp_path / "student", _spec(multi_label=True))
    info = json.loads((model / "sxhub.json").read_text())
    info["teachers"] = []
    info["thresholds"] = {"positive": 0.725, "neutral": 0.775, "negative": 0.5}
    (model / "sxhub.json").write_text(json.dumps(info))
    page = _page_text(build_space(model))
    assert "trained on labels that carry no teacher votes" in page and "not recorded" not in page
    assert "positive ≥ 0.725, neutral ≥ 0.775, negative ≥ 0.500" in page


def test_a_probability_at_its_threshold_is_decided_as_predict_decides_it() -> None:
    """sxhub predict compares float32 probabilities with float32 thresholds; the Space compared the same float32
    probability with the threshold as a float64. A label whose probability was float32's 0.7 (0.699999988) was on
    in predict and off on the page, beside "≥ 0.700": the Space decides in float32 too."""
    import numpy as np

    from sxhub.activations import sigmoid
    from sxhub.model_info import ModelInfo
    from sxhub.space import load_app_module

    app = load_app_module()
    logits = np.array([[0.8472977, -3.0]], dtype=np.float32)  # float32's sigmoid: exactly float32(0.7)
    info = ModelInfo(labels=["a", "b"], multi_label=True, thresholds={"a": 0.7, "b": 0.5})
    over = sigmoid(logits).astype(np.float32) >= info.threshold_vector()
    want = [info.labels[j] for j in np.flatnonzero(over[0])]
    assert want == ["a"]  # predict's decision
    expert = app.Expert("m", ["a", "b"], True, dict(info.thresholds), {}, "onnx", lambda texts: logits)
    probs = expert.probabilities(["a text"])[0]
    assert probs["a"] == float(np.float32(0.7))
    assert expert.decide(probs) == want


def test_a_threshold_left_at_half_for_want_of_a_validation_positive_is_said_on_the_page(tmp_path: Path) -> None:
    """A multi-label student with no validation positive for a label keeps 0.5 for it, untuned (train's note, the
    card's label table: "0.500 (not tuned: no validation example)"), but the Space's thresholds line showed
    "Price ≥ 0.500" as if it had been tuned like the others (the 4P tweets, 300 texts, 2 with Price)."""
    from sxhub.space import build_space

    model = make_student(tmp_path / "student", _spec(multi_label=True))
    info = json.loads((model / "sxhub.json").read_text())
    info["thresholds"] = {"positive": 0.725, "neutral": 0.5, "negative": 0.5}
    info["train"]["untuned_labels"] = ["neutral"]
    (model / "sxhub.json").write_text(json.dumps(info))
    page = _page_text(build_space(model))
    assert "positive ≥ 0.725, neutral ≥ 0.500 (not tuned: no validation example), negative ≥ 0.500." in page
    # a threshold tuned on one to four validation positives (train's note) is said so too, on the page and the card
    info["train"]["thinly_tuned"] = {"positive": 2}
    (model / "sxhub.json").write_text(json.dumps(info))
    page = _page_text(build_space(model))
    assert "positive ≥ 0.725 (tuned on 2 validation example(s) only), neutral ≥ 0.500 (not tuned" in page
    from sxhub.publish import publish_model

    card = (Path(publish_model(model, to=tmp_path / "m", repo_id="me/m")) / "README.md").read_text()
    assert (
        "| 0.725 (tuned on 2 validation example(s) only) |" in card
        and "| 0.500 (not tuned: no validation example) |" in card
    )


@pytest.mark.parametrize(
    ("name", "title", "license_"),
    [("yes", None, "cc-by-4.0"), ("fin-sent", "Fin: sentiment #1", "other"), ("2024", "'q' @home", None)],
)
def test_the_space_readme_front_matter_keeps_title_and_license_as_given(
    tmp_path: Path, name: str, title: str | None, license_: str | None
) -> None:
    """The Space README's YAML header was written by pasting the title and license in: a title with ': ' or quotes
    was YAML the Hub refuses, one with ' #' was cut at the '#', and a task named ``yes`` (title ``Yes``) or ``2024``
    gave a boolean or a number for the title."""
    from huggingface_hub import SpaceCard

    from sxhub.publish import publish_space

    spec = TaskSpec.from_dict({**_spec().to_dict(), "name": name, "license": license_})
    model = make_student(tmp_path / "student", spec)
    folder = Path(publish_space(model, to=tmp_path / "space", repo_id="me/demo", title=title))
    data = SpaceCard.load(folder / "README.md").data
    assert data.title == (title or " ".join(part.capitalize() for part in name.split("-")))
    assert data.license == (license_ or "other")
    assert (data.sdk, data.app_file) == ("gradio", "app.py")
    # the Python the app is tested on here: the Hub's default is older (3.10), where pip resolves pandas 2
    assert data.python_version == "3.11"


def test_an_unpaired_quote_after_lines_of_spaces_is_refused_in_the_ui(tmp_path: Path) -> None:
    """The Space scanned as many records as pandas read rows, but counted a line of spaces (which pandas skips) as
    one: with three of them before it, the quote that ran over lines was past the scan's end and 4 rows were
    labelled as 2, without a word."""
    import gradio as gr

    from sxhub.space import load_app_module

    app = load_app_module()
    expert = app.Expert.load(str(make_student(tmp_path / "student", _spec())))
    upload = tmp_path / "spaces.csv"
    upload.write_text('text,label\nok fine,a\n \n \n \n"broken start,b\nnext row,c\nlast "x,d\n', encoding="utf-8")
    with pytest.raises(gr.Error, match=re.escape("on line 6 is closed only on line 8")):
        app.label_csv(expert, str(upload))


def test_a_multi_label_space_reruns_the_texts_predict_reruns_with_per_label_margins(tmp_path: Path) -> None:
    """A multi-label int8 export records one margin per label (sxhub.export.fit_recheck_margin); the Space reruns in
    fp32 the texts a label of which is within its own margin of its threshold, as predict does, so both give the
    same numbers, and the page says so label by label. It read the margin as one number (float() of a list)."""
    import numpy as np

    from sxhub.export import export_onnx
    from sxhub.onnx_runtime import threshold_logits
    from sxhub.predict import Predictor
    from sxhub.publish import publish_space

    model = make_student(tmp_path / "student", _spec(multi_label=True))
    export_onnx(model, int8=True)
    _int8_default(model)
    texts = ["profit rose https://x.co/a", "shares fell, call +44 20 7946 0958", "new store open in the city"]
    many = [f"{t} {'again ' * (i % 9)}" for i, t in enumerate(texts * 30)]
    alone = Predictor(model, onnx=True, int8=True, recheck=False)
    distance = np.abs(
        alone._onnx.logits_of_ids(alone.prepare(many).ids) - threshold_logits(alone.info.threshold_vector())
    )
    margin = [float(m) for m in np.quantile(distance, 0.2, axis=0)]
    info = json.loads((model / "sxhub.json").read_text())
    info["export"]["variants"]["onnx-int8"]["recheck"] = {"margin": margin}
    (model / "sxhub.json").write_text(json.dumps(info))

    folder = Path(publish_space(model, to=tmp_path / "space", repo_id="me/fin-demo"))
    app = _load_published_app(folder, "space_app_per_label_margins")
    expert = app.Expert.load()
    assert expert.backend == "onnx-int8"
    served = Predictor(model, onnx=True, int8=True)
    got = np.array([[p[n] for n in expert.labels] for p in expert.probabilities(many)])
    np.testing.assert_allclose(got, served.predict_proba(many), atol=1e-6)
    assert 0 < served.rechecked < len(many)
    assert not np.allclose(got, alone.predict_proba(many), atol=1e-6)
    assert "texts within a label's own margin of its threshold (" in app.describe(expert, {})


def test_the_space_reruns_in_fp32_at_predicts_float32_thresholds(tmp_path: Path) -> None:
    """int8's near-ties are the texts whose label's logit is within its margin of its threshold's logit. predict
    reads the thresholds as float32 (ModelInfo.threshold_vector), the Space read them as float64: 0.3 is two
    numbers 6e-8 logits apart, so a text whose distance sat between them was rerun in fp32 by one and not by the
    other, and the Space's answer was not predict's. The Space now takes the thresholds' logits as predict does."""
    import numpy as np

    from sxhub.export import export_onnx
    from sxhub.onnx_runtime import threshold_logits
    from sxhub.predict import Predictor
    from sxhub.publish import publish_space

    model = make_student(tmp_path / "student", _spec(multi_label=True))
    export_onnx(model, int8=True)
    _int8_default(model)
    path = model / "sxhub.json"
    info = json.loads(path.read_text())
    info["thresholds"] = {name: 0.3 for name in info["labels"]}  # 0.3 is not a float32 number
    path.write_text(json.dumps(info))
    texts = ["profit rose https://x.co/a", "shares fell, call +44 20 7946 0958", "new store open in the city"]
    many = [f"{t} {'again ' * (i % 9)}" for i, t in enumerate(texts * 3)]
    alone = Predictor(model, onnx=True, int8=True, recheck=False)
    logits = alone._onnx.logits_of_ids(alone.prepare(many).ids)
    # the text int8 moves most from fp32, and a margin on its first label half-way between the two distances
    moved = np.abs(alone.predict_proba(many) - Predictor(model, onnx=True).predict_proba(many)).max(axis=1)
    row = int(np.argmax(moved))
    assert moved[row] > 1e-5
    as_predict = abs(logits[row, 0] - threshold_logits(alone.info.threshold_vector())[0])
    as_float64 = abs(float(logits[row, 0]) - float(threshold_logits(np.array([0.3]))[0]))
    assert as_predict != as_float64
    margin = [0.0] * len(info["labels"])
    margin[0] = (as_predict + as_float64) / 2
    info["export"]["variants"]["onnx-int8"]["recheck"] = {"margin": margin}
    path.write_text(json.dumps(info))

    app = _load_published_app(Path(publish_space(model, to=tmp_path / "space", repo_id="me/d")), "space_app_f32")
    expert = app.Expert.load()
    assert expert.backend == "onnx-int8"
    got = np.array([[p[n] for n in expert.labels] for p in expert.probabilities(many)])
    np.testing.assert_allclose(got, Predictor(model, onnx=True, int8=True).predict_proba(many), atol=1e-6)


def test_28_int8_margins_are_said_as_their_range_on_the_page_and_the_card() -> None:
    """A GoEmotions student (28 labels) exported with --int8: the Space page, the export line and the model card
    (twice, once in a table cell) listed all 28 margins, "admiration 0.01, amusement 0.00, anger 0.01, ..." (a
    paragraph in one cell). Above 8 labels they are said as their range; each stays in sxhub.json."""
    import numpy as np

    from sxhub._paths import asset_dir
    from sxhub.onnx_runtime import describe_margin

    app = _load_published_app(asset_dir("spaces"), "space_app_margins")
    names = [f"emotion{i}" for i in range(28)]
    margin = [0.01 * (i % 3) for i in range(28)]
    said = "within a label's own margin of its threshold (28 labels, 0.00 to 0.02 logits; each label's in sxhub.json)"
    assert describe_margin(margin, names) == said
    assert app.describe_margin(np.array(margin), names) == said
    few = [0.01, 0.6, 0.3]  # up to 8 labels each is named, as before
    assert app.describe_margin(np.array(few), names[:3]) == describe_margin(few, names[:3])
    assert describe_margin(few, names[:3]) == (
        "within a label's own margin of its threshold (emotion0 0.01, emotion1 0.60, emotion2 0.30 logits)"
    )


def test_the_api_names_its_parameters_as_a_caller_writes_them(served: tuple[str, Path], tmp_path: Path) -> None:
    """``view_api`` showed ``predict(t, ...)`` and ``predict(p, api_name="/label_csv")`` (the lambdas' parameters),
    so a caller had to write ``t=``; the endpoints take ``text=`` and ``file=``, say what they do, name the decision
    they return, and still take positional arguments."""
    from gradio_client import Client, handle_file

    url, _ = served
    client = Client(url, verbose=False)
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    predict, csv_ = endpoints["/predict"], endpoints["/label_csv"]
    assert [p["parameter_name"] for p in predict["parameters"]] == ["text"]
    assert [p["parameter_name"] for p in csv_["parameters"]] == ["file"]
    assert [r["label"] for r in predict["returns"]] == ["Probabilities", "Decision"]
    assert predict["description"].startswith("Label one text") and csv_["description"].startswith("Label a CSV")
    by_name = client.predict(text="profit rose", api_name="/predict")
    assert by_name == client.predict("profit rose", api_name="/predict")
    assert by_name[1] == f"Label: **{by_name[0]['label']}**."
    upload = tmp_path / "texts.csv"
    upload.write_text("text\nprofit rose\n", encoding="utf-8")
    with open(client.predict(file=handle_file(str(upload)), api_name="/label_csv"), encoding="utf-8") as fh:
        assert [r["label"] for r in csv.DictReader(fh)] == [by_name[0]["label"]]


def test_predict_refuses_what_is_not_one_text_and_predict_batch_labels_each(served: tuple[str, Path]) -> None:
    """gradio's Textbox made whatever a client sent a string: a list of texts sent to /predict was labelled as the one
    text "['a', 'b']", and a number or a dict as its repr. /predict now refuses them, naming /predict_batch for a
    list; /predict_batch labels each text of a list as /predict labels it alone, and leaves a blank one unlabelled."""
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    url, _ = served
    client = Client(url, verbose=False)
    texts = ["profit rose strong growth", "shares fell loss"]
    with pytest.raises(AppError, match=r"/predict labels one text, and got a list of 2\. .*/predict_batch"):
        client.predict(texts, api_name="/predict")
    for value, kind in ((3, "3 (int)"), ({"text": "x"}, "{'text': 'x'} (dict)")):
        with pytest.raises(AppError, match=re.escape(f"got {kind}. Send the text as a string")):
            client.predict(text=value, api_name="/predict")
    assert client.predict(text=None, api_name="/predict") == ({}, "Type a text first.")

    batch = client.predict(texts=[texts[0], " ", texts[1]], api_name="/predict_batch")
    assert batch[1] == {"label": None, "probabilities": None}
    for text, row in zip(texts, (batch[0], batch[2]), strict=True):
        probs, _ = client.predict(text=text, api_name="/predict")
        alone = {c["label"]: c["confidence"] for c in probs["confidences"]}
        assert row["label"] == probs["label"] and row["probabilities"] == pytest.approx(alone, abs=1e-5)
    with pytest.raises(AppError, match=re.escape("got one string. Send [text], or call /predict")):
        client.predict(texts="profit rose", api_name="/predict_batch")
    with pytest.raises(AppError, match=re.escape("item 1 is 7 (int)")):
        client.predict(texts=["profit rose", 7], api_name="/predict_batch")


def test_predict_batch_says_what_it_returns(served: tuple[str, Path], tmp_path: Path) -> None:
    """``view_api`` showed /predict_batch's return as ``Any``: a caller could not tell a row's keys or what they hold
    without calling it. Each row's keys and types are declared: ``label`` (``labels`` for a multi-label expert, the
    keys it answers with), a string or None for a blank text, and ``probabilities``, a number per label."""
    from gradio_client import Client

    from sxhub.space import launch_space

    url, _ = served
    endpoint = Client(url, verbose=False).view_api(return_format="dict", print_info=False)["named_endpoints"]
    returned = endpoint["/predict_batch"]["returns"][0]
    assert set(returned["type"]["items"]["properties"]) == {"label", "probabilities"}
    assert returned["python_type"]["type"] == "list[dict(label: None | str, probabilities: None | dict(str, float))]"

    model = make_student(tmp_path / "multi", _spec(multi_label=True))
    demo, multi_url = launch_space(model, host="127.0.0.1", block=False)
    try:
        client = Client(multi_url, verbose=False)
        returned = client.view_api(return_format="dict", print_info=False)["named_endpoints"]["/predict_batch"]
        answered = client.predict(texts=["profit rose"], api_name="/predict_batch")
    finally:
        demo.close()
    assert returned["returns"][0]["python_type"]["type"] == (
        "list[dict(labels: None | list[str], probabilities: None | dict(str, float))]"
    )
    assert set(answered[0]) == {"labels", "probabilities"}


def test_the_space_launches_behind_a_proxy_set_in_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With HTTP_PROXY set (a company proxy) and no NO_PROXY, `sxhub space` (and `sxhub review`, which launches the
    same way) stopped with "ConnectError: [Errno 111] Connection refused": gradio's launch checks its own URL with
    httpx, which sent it to the proxy. The proxy here is a closed port: the page answers only if it is bypassed."""
    import urllib.request

    from sxhub.space import build_space, listen

    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    demo = build_space(make_student(tmp_path / "student", _spec()))
    try:
        _, url, _ = listen(demo, host="127.0.0.1", port=None, prevent_thread_lock=True, quiet=True)
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with direct.open(url, timeout=30) as page:
            assert page.status == 200
    finally:
        demo.close()
