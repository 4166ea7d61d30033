"""One expert, the same answer everywhere: ``Predictor`` (torch, ONNX fp32, ONNX int8), the Space launched from the
folder ``sxhub publish space --to`` writes (serving torch, then int8), and plain ``transformers.pipeline`` with the
usage snippet of the model card ``sxhub publish model --to`` writes, on 50 texts with URLs, @handles, e-mails,
phone numbers, odd whitespace and more tokens than the model's ``max_length``.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import random
import re
import sys
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import require_modules, run_cli
from test_train import CUES, MULTI, SINGLE, fast_config, multi_frame, single_frame

from sxhub.data import apply_preprocessing, preprocess_text
from sxhub.model_info import read_model_info
from sxhub.predict import Predictor


@pytest.fixture(autouse=True)
def _needs_onnxruntime() -> None:
    require_modules("onnxruntime", install='pip install "sxhub[onnx]"')


MAX_LENGTH = 16  # tokens: the long texts below have about 40
PII = [
    "https://example.com/ir/q3?id=7&lang=en",
    "www.shop.example.eu/sale",
    "@JaneDoe",
    "@bank_news",
    "jane.doe@example.com",
    "investor.relations@company.fi",
    "+44 20 7946 0958",
    "(555) 123-4567 ext",
    "+358 40 123 4567",
    "040-1234567",
]
FILLER = ["the", "a", "of", "market", "year", "bank", "shares", "price", "new", "online", "w3", "w7"]


def texts_50(labels: list[str], seed: int = 8) -> list[str]:
    """Cue words of each label with PII around them, odd whitespace, and texts far longer than ``MAX_LENGTH``."""
    rng = random.Random(seed)
    out = []
    for i in range(50):
        cue = CUES[labels[i % len(labels)]]
        if i % 4 == 1:  # two labels' cues (both on for a multi-label task)
            cue += " " + CUES[labels[(i + 1) % len(labels)]]
        pii, other = PII[i % len(PII)], PII[(3 * i + 1) % len(PII)]
        filler = " ".join(rng.choice(FILLER) for _ in range(40))
        out.append(
            [
                f"{cue} {pii}",
                f"{pii} {cue} the year, up 12 % to EUR 31.5 in 2023",
                f"  {cue}\tsee {pii}\n\nand {other}  ",
                f"{cue} {pii} {filler}",
                f"{pii} {filler} {other} {cue}",
            ][i % 5]
        )
    return out


def _load_app(folder: Path, name: str) -> ModuleType:
    """The published Space's ``app.py``, imported from its folder (as the Space runs it)."""
    spec = importlib.util.spec_from_file_location(name, folder / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _card_snippet(card: str, repo_id: str, folder: Path) -> str:
    """The card's usage snippet, pointed at the published folder, run on the variable ``TEXTS`` instead of its example."""
    blocks = re.findall(r"```python\n(.*?)```", card, flags=re.S)
    snippet = next(b for b in blocks if "pipeline(" in b)
    assert f'model="{repo_id}"' in snippet
    snippet = snippet.replace(f'model="{repo_id}"', f"model={str(folder)!r}")
    snippet, n = re.subn(r"^texts = \[.*\]$", "texts = TEXTS", snippet, flags=re.M)
    assert n == 1, snippet
    return snippet


@pytest.fixture(scope="module", params=["single", "multi"])
def expert(request: pytest.FixtureRequest, tiny_base_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT trained briefly on the cue words (max_length 16), exported to ONNX fp32 and int8."""
    from sxhub.export import export_onnx
    from sxhub.train import train

    spec = MULTI if request.param == "multi" else SINGLE
    out = tmp_path_factory.mktemp(request.param) / "student"
    frame = multi_frame() if spec.multi_label else single_frame()
    train(spec, frame, fast_config(out, tiny_base_model, epochs=8, max_length=MAX_LENGTH))
    export_onnx(out, int8=True)
    return out


@pytest.fixture
def space(expert: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[str], Any]]:
    """``sxhub publish space MODEL --to DIR``; yields a function that launches DIR/app.py with a backend and
    returns a gradio_client ``Client`` for it."""
    from gradio_client import Client

    folder = tmp_path / "space"
    code, _, err = run_cli(["publish", "space", str(expert), "--to", str(folder)], capsys)
    assert code == 0, err
    app = _load_app(folder, f"space_app_{expert.parent.name}")
    demos = []

    def launch(backend: str) -> Any:
        demo = app.build_demo(backend=backend)
        demos.append(demo)
        _, url, _ = demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
        return Client(url, verbose=False)

    try:
        yield launch
    finally:
        for demo in demos:
            demo.close()


def _space_probs(client: Any, texts: list[str], labels: list[str]) -> tuple[np.ndarray, list[str]]:
    """Every label's probability and the decision line, one ``/predict`` call per text."""
    rows, decisions = [], []
    for text in texts:
        probs, decision = client.predict(text, api_name="/predict")
        found = {c["label"]: c["confidence"] for c in probs["confidences"]}
        rows.append([found[n] for n in labels])
        decisions.append(decision)
    return np.array(rows, dtype=np.float64), decisions


def _space_csv(client: Any, path: Path, labels: list[str]) -> tuple[np.ndarray, list[Any]]:
    """The Space's labelled CSV: the probability columns and the label(s) per row."""
    from gradio_client import handle_file

    out = pd.read_csv(client.predict(handle_file(str(path)), api_name="/label_csv"))
    decided = [json.loads(v) for v in out["labels"]] if "labels" in out.columns else out["label"].tolist()
    return out[[f"prob_{n}" for n in labels]].to_numpy(dtype=np.float64), decided


def _decisions(lines: list[str]) -> list[str]:
    """The Space's decision lines without the note a text past ``MAX_LENGTH`` gets under it ("Read the first 16
    tokens of 26: ..."), which only such a text gets (checked here), so that the labels compare alone."""
    firsts = []
    for line in lines:
        first, _, note = line.partition("\n\n")
        assert not note or note.startswith(f"Read the first {MAX_LENGTH} tokens of "), line
        firsts.append(first)
    assert any("\n\n" in line for line in lines)  # the texts far longer than MAX_LENGTH say so
    return firsts


def _decision_line(labels: Any, multi: bool) -> str:
    """The Space's decision line for ``labels`` (see ``label_text`` in spaces/app.py)."""
    if multi:
        return f"Labels on (probability ≥ the label's threshold): {', '.join(f'**{n}**' for n in labels) or 'none'}."
    return f"Label: **{labels}**."


def test_one_expert_gives_the_same_answer_everywhere(
    expert: Path, space: Callable[[str], Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    info = read_model_info(expert)
    names, multi = info.labels, info.multi_label
    texts = texts_50(names)
    assert info.preprocessing["max_length"] == MAX_LENGTH and info.preprocess

    # 1. sxhub predict: torch, ONNX fp32, ONNX int8
    torch_pred = Predictor(expert, batch_size=8)
    labels, p_torch = torch_pred.predict(texts)
    long_texts = [i for i, t in enumerate(texts) if len(torch_pred.tokenizer(t)["input_ids"]) > 2 * MAX_LENGTH]
    assert len(long_texts) >= 20, "the check needs texts longer than max_length"
    onnx_labels, p_onnx = Predictor(expert, onnx=True, batch_size=8).predict(texts)
    int8 = Predictor(expert, onnx=True, int8=True, batch_size=1)  # one text per run, as the Space's text box
    int8_labels, p_int8 = int8.predict(texts)

    # 2. the card's snippet with plain transformers.pipeline, on the published model folder
    model_dir = tmp_path / "model-repo"
    code, _, err = run_cli(["publish", "model", str(expert), "--to", str(model_dir), "--repo-id", "me/x"], capsys)
    assert code == 0, err
    scope: dict[str, Any] = {"TEXTS": texts}
    exec(_card_snippet((model_dir / "README.md").read_text(encoding="utf-8"), "me/x", model_dir), scope)
    card_labels = ast.literal_eval(capsys.readouterr().out.strip().splitlines()[-1])  # the snippet prints them
    typed_on_a_mac = unicodedata.normalize("NFD", f"Café @José {texts[0]}")
    assert scope["preprocess"](typed_on_a_mac) == torch_pred.prepare([typed_on_a_mac]).texts[0]
    p_card = np.array([[{r["label"]: r["score"] for r in res}[n] for n in names] for res in scope["results"]])

    # 3. the Space from its published folder, serving torch and then int8
    torch_client, int8_client = space("torch"), space("onnx-int8")
    assert int8_client.predict(api_name="/info")["backend"] == "onnx-int8"
    p_space, space_lines = _space_probs(torch_client, texts, names)
    p_space8, space8_lines = _space_probs(int8_client, texts, names)
    csv = tmp_path / "texts.csv"
    pd.DataFrame({"text": texts}).to_csv(csv, index=False)
    csv_torch, csv_int8 = (_space_csv(c, csv, names) for c in (torch_client, int8_client))

    for name, probs in {"onnx": p_onnx, "space (torch)": p_space, "pipeline + card snippet": p_card}.items():
        np.testing.assert_allclose(probs, p_torch, atol=1e-4, err_msg=f"{name} vs Predictor (torch)")
        assert torch_pred.decide(probs.astype(np.float32)) == labels, name
    assert onnx_labels == labels
    assert _decisions(space_lines) == [_decision_line(lab, multi) for lab in labels]
    # int8: dynamically quantised activations depend on the batch, so both sides run one text at a time
    np.testing.assert_allclose(p_space8, p_int8, atol=1e-6, err_msg="Space (int8) vs Predictor (int8)")
    assert _decisions(space8_lines) == [_decision_line(lab, multi) for lab in int8_labels]
    # a CSV: the Space batches as sxhub predict does (32 texts, sorted by length), so int8 agrees batch for batch
    np.testing.assert_allclose(csv_torch[0], p_torch, atol=1e-4, err_msg="Space CSV (torch) vs Predictor")
    assert csv_torch[1] == labels
    int8_batched_labels, p_int8_batched = Predictor(expert, onnx=True, int8=True).predict(texts)
    np.testing.assert_allclose(csv_int8[0], p_int8_batched, atol=1e-6, err_msg="Space CSV (int8) vs Predictor")
    assert csv_int8[1] == int8_batched_labels
    if multi:  # the snippet lists a text's labels by probability, Predictor in label order
        assert [sorted(c) for c in card_labels] == [sorted(lab) for lab in labels]
    else:
        assert card_labels == labels

    # the check has teeth: raw texts, or no truncation, give other probabilities
    from transformers import pipeline

    raw = pipeline("text-classification", model=str(expert), top_k=None)(texts, truncation=True)
    p_raw = np.array([[{r["label"]: r["score"] for r in res}[n] for n in names] for res in raw])
    assert np.abs(p_raw - p_torch).max(axis=1).max() > 1e-3
    whole = pipeline("text-classification", model=str(expert), top_k=None)(
        [preprocess_text(texts[i]) for i in long_texts], truncation=False
    )
    p_whole = np.array([[{r["label"]: r["score"] for r in res}[n] for n in names] for res in whole])
    assert np.abs(p_whole - p_torch[long_texts]).max() > 1e-3


def test_the_saved_rules_are_data_py_rules(expert: Path, tmp_path: Path) -> None:
    """sxhub.json and config.json carry data.py's rules; the Space's copy of the 8-line applier agrees with data.py."""
    saved = json.loads((expert / "sxhub.json").read_text())["preprocessing"]
    config = json.loads((expert / "config.json").read_text())["sxhub_preprocessing"]
    assert saved == config and saved["max_length"] == MAX_LENGTH
    assert json.loads((expert / "tokenizer_config.json").read_text())["model_max_length"] == MAX_LENGTH
    texts = texts_50(read_model_info(expert).labels)
    app = _load_app(Path(__file__).resolve().parent.parent / "spaces", "space_app_rules")
    for text in texts:
        assert apply_preprocessing(text, saved) == preprocess_text(text)
        assert app.preprocess(text, saved) == preprocess_text(text)
    # version 5: one Unicode form first, so a text typed NFD on a Mac reaches the tokenizer as its NFC copy does
    nfc = "Merci José ! café crème à josé@exemple.fr ou @José_Núñez"
    nfd = unicodedata.normalize("NFD", nfc)
    assert apply_preprocessing(nfd, saved) == app.preprocess(nfd, saved) == preprocess_text(nfc)
    assert preprocess_text(nfd) == unicodedata.normalize("NFD", preprocess_text(nfc))  # annotate keeps the spelling
    masked = [preprocess_text(t) for t in texts]
    assert all("URL" in t or "EMAIL" in t or "@user" in t or "PHONE" in t for t in masked)
    assert "12 % to EUR 31.5 in 2023" in masked[1]  # numbers that are not phone numbers stay


def test_a_model_saved_before_the_block_keeps_its_preprocessing(expert: Path, tmp_path: Path) -> None:
    """No block in sxhub.json / config.json: predict falls back to the task's ``preprocess`` flag, and publishing
    writes that block into the repo's config.json for the Space and the card."""
    import shutil

    from sxhub.publish import publish_model

    old = tmp_path / "old"
    shutil.copytree(expert, old)
    info = json.loads((old / "sxhub.json").read_text())
    del info["preprocessing"]
    (old / "sxhub.json").write_text(json.dumps(info))
    config = json.loads((old / "config.json").read_text())
    del config["sxhub_preprocessing"]
    (old / "config.json").write_text(json.dumps(config))
    texts = texts_50(info["labels"])

    np.testing.assert_allclose(Predictor(old).predict_proba(texts), Predictor(expert).predict_proba(texts), atol=1e-6)
    published = Path(publish_model(old, to=tmp_path / "repo", repo_id="me/old"))
    block = json.loads((published / "config.json").read_text())["sxhub_preprocessing"]
    # today's masks, the texts in the form given as the model was trained on them (no NFC before version 5)
    assert block == {k: v for k, v in read_model_info(expert).preprocessing.items() if k != "normalize"}

    info["task"]["preprocess"] = False
    (old / "sxhub.json").write_text(json.dumps(info))
    assert not read_model_info(old).preprocess
    assert not np.allclose(Predictor(old).predict_proba(texts), Predictor(expert).predict_proba(texts), atol=1e-4)
