"""The Gradio Space of an sxhub synthetic expert: type a text and see every label's probability, or label a CSV.

It needs only transformers, torch, pandas and gradio (no sxhub install). The model comes from, in order: the
``SXHUB_MODEL`` environment variable, ``config.json`` beside this file (written by ``sxhub publish space``), or a
``model/`` folder beside this file. Multi-label thresholds come from the model's ``sxhub.json`` or its config
(``sxhub_thresholds``); without them a label is on at probability 0.5.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

HERE = Path(__file__).resolve().parent
MAX_CSV_ROWS = 5000
DEFAULT_EXAMPLES = ["Operating profit rose from EUR 7m to 9m.", "The company cut its sales forecast for the year."]


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def resolve_model(model: str | None = None) -> str:
    """The model to serve: the argument, ``$SXHUB_MODEL``, ``config.json``'s ``model``, else ``model/``."""
    ref = model or os.environ.get("SXHUB_MODEL") or (_read_json(HERE / "config.json") or {}).get("model") or "model"
    local = HERE / ref
    return str(local) if not Path(ref).is_absolute() and local.is_dir() else str(ref)


def _sxhub_json(model: str) -> dict[str, Any]:
    """The model's ``sxhub.json`` (local folder or Hub repo); ``{}`` when it has none."""
    if Path(model).is_dir():
        return _read_json(Path(model) / "sxhub.json") or {}
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    try:
        return _read_json(Path(hf_hub_download(model, "sxhub.json"))) or {}
    except EntryNotFoundError:
        return {}


@dataclass
class Expert:
    """A text-classification pipeline with the label order, the task type and the multi-label thresholds."""

    model: str
    pipe: Any = field(repr=False)
    labels: list[str]
    multi_label: bool
    thresholds: dict[str, float]

    @classmethod
    def load(cls, model: str | None = None) -> Expert:
        from transformers import pipeline

        ref = resolve_model(model)
        pipe = pipeline("text-classification", model=ref, top_k=None)
        config = pipe.model.config
        info = _sxhub_json(ref)
        labels = [config.id2label[i] for i in sorted(config.id2label)]
        multi = bool(info.get("multi_label", config.problem_type == "multi_label_classification"))
        thresholds = info.get("thresholds") or getattr(config, "sxhub_thresholds", None) or {}
        return cls(ref, pipe, labels, multi, {n: float(thresholds.get(n, 0.5)) for n in labels})

    def probabilities(self, texts: list[str]) -> list[dict[str, float]]:
        """Every label's probability for each text, in label order."""
        outputs = self.pipe(texts, batch_size=32, truncation=True)
        return [{n: float({s["label"]: s["score"] for s in out}.get(n, 0.0)) for n in self.labels} for out in outputs]

    def decide(self, probs: dict[str, float]) -> str | list[str]:
        """The label (single-label) or the labels at or above their thresholds (multi-label)."""
        if self.multi_label:
            return [n for n in self.labels if probs[n] >= self.thresholds[n]]
        return max(probs, key=probs.__getitem__)


def label_text(expert: Expert, text: str) -> tuple[dict[str, float], str]:
    """One text: the probabilities for ``gr.Label`` and a line that states the decision."""
    if not text or not text.strip():
        return {}, "Type a text first."
    probs = expert.probabilities([text])[0]
    decision = expert.decide(probs)
    if expert.multi_label:
        on = ", ".join(f"**{n}**" for n in decision) or "none"
        return probs, f"Labels on (probability ≥ the label's threshold): {on}."
    return probs, f"Label: **{decision}**."


def _text_column(frame: pd.DataFrame) -> str:
    for name in ("text", "sentence", "content", "body"):
        if name in frame.columns:
            return name
    for name in frame.columns:
        if frame[name].dtype == object:
            return str(name)
    raise gr.Error("The CSV has no text column: add a column named 'text'.")


def label_csv(expert: Expert, path: str | None) -> str:
    """Label a CSV's text column; return the path of a CSV with label(s) and one probability column per label."""
    if not path:
        raise gr.Error("Upload a CSV file with a 'text' column first.")
    frame = pd.read_csv(path)
    if len(frame) > MAX_CSV_ROWS:
        raise gr.Error(f"The CSV has {len(frame)} rows; this Space labels at most {MAX_CSV_ROWS}. Split it up.")
    texts = frame[_text_column(frame)].fillna("").astype(str).tolist()
    probs = expert.probabilities(texts) if texts else []
    decisions = [expert.decide(p) for p in probs]
    out = frame.copy()
    out["labels" if expert.multi_label else "label"] = [json.dumps(d) if expert.multi_label else d for d in decisions]
    for name in expert.labels:
        out[f"prob_{name}"] = [round(p[name], 6) for p in probs]
    target = Path(tempfile.mkdtemp(prefix="sxhub-space-")) / f"{Path(path).stem}-labelled.csv"
    out.to_csv(target, index=False)
    return str(target)


def build_demo(model: str | None = None, *, examples: list[str] | None = None, title: str | None = None) -> gr.Blocks:
    """The Space: a text box → every label's probability; a CSV upload → a labelled CSV download."""
    expert = Expert.load(model)
    config = _read_json(HERE / "config.json") or {}
    examples = examples or _read_json(HERE / "examples.json") or DEFAULT_EXAMPLES
    title = title or config.get("title") or Path(expert.model).name
    note = (
        "Multi-label: a text can have any number of labels. A label is on when its probability reaches its "
        "threshold: " + ", ".join(f"{n} ≥ {t:.2f}" for n, t in expert.thresholds.items()) + "."
        if expert.multi_label
        else "Single-label: the label with the highest probability wins."
    )
    with gr.Blocks(title=title) as demo:
        gr.Markdown(f"# {title}\nA synthetic expert made with sxhub: `{expert.model}`.\n\n{note}")
        with gr.Tab("Text"):
            text = gr.Textbox(label="Text", lines=4, placeholder="Type or paste a text")
            button = gr.Button("Label", variant="primary")
            probs = gr.Label(label="Probabilities", num_top_classes=len(expert.labels))
            decision = gr.Markdown()
            gr.Examples(examples=[[e] for e in examples], inputs=text)
            button.click(lambda t: label_text(expert, t), text, [probs, decision], api_name="predict")
            text.submit(lambda t: label_text(expert, t), text, [probs, decision], api_name=False)
        with gr.Tab("CSV"):
            upload = gr.File(label="CSV with a 'text' column", file_types=[".csv"], type="filepath")
            run = gr.Button("Label the CSV", variant="primary")
            download = gr.File(label="Labelled CSV")
            run.click(lambda p: label_csv(expert, p), upload, download, api_name="label_csv")
    return demo


if __name__ == "__main__":
    build_demo().launch()
