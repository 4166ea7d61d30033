"""What each publish's commit says in the repo's history: a title naming what was published and a short
description of it, read from the repo folder just written (so it says what the repo holds, never what was meant).

Every publish was committed as "Publish with sxhub VERSION", so a repo's history did not tell a new dataset from a
new model or its scores; transformers' ``push_to_hub`` commits "Upload model", datasets' "Upload dataset". The
titles follow them and name the detail that tells one publish from the next; sxhub's version ends the title.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from . import __version__

# a commit title shows on one line of the Hub's history; longer titles are cut there
TITLE_CHARS = 100


# the titles of sxhub's publish commits, this version's and the older "Publish with sxhub VERSION"
_SXHUB_TITLE = re.compile(r"\(sxhub [^()\s]+\)$|^Publish with sxhub \S+$")


def is_sxhub_commit(title: str | None) -> bool:
    """Whether a commit ``title`` is one of sxhub's publishes (a file last changed by one is sxhub's to delete)."""
    return bool(title) and _SXHUB_TITLE.search(title or "") is not None


def commit_title(text: str) -> str:
    end = f" (sxhub {__version__})"
    room = TITLE_CHARS - len(end)
    return (text if len(text) <= room else text[: room - 1].rstrip() + "…") + end


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _scores(about: dict[str, Any]) -> list[str]:
    """One line per set of figures the card and the Space show (``about['scores']``), as ``name: accuracy ...``."""
    lines = []
    for name, row in (about.get("scores") or {}).items():
        figures = [
            f"{label} {row[key]:.3f}"
            for key, label in (("accuracy", "accuracy"), ("macro_f1", "macro F1"))
            if isinstance(row.get(key), (int, float))
        ]
        if figures:
            n = f" on {row['n']} texts" if isinstance(row.get("n"), int) else ""
            lines.append(f"- {name}: {', '.join(figures)}{n}")
    return lines


def dataset_commit(folder: Path) -> tuple[str, str]:
    """``Upload dataset: N labelled texts``, and the texts per split and the labels."""
    import pyarrow.parquet as pq

    order = {"train": 0, "validation": 1, "test": 2}
    files = sorted((folder / "data").glob("*.parquet"), key=lambda p: (order.get(p.name.split("-", 1)[0], 3), p.name))
    rows = {path.name.split("-", 1)[0]: pq.read_metadata(path).num_rows for path in files}
    splits = ", ".join(f"{name} {n}" for name, n in rows.items())
    return commit_title(f"Upload dataset: {sum(rows.values())} labelled texts"), f"Splits: {splits}."


def model_commit(folder: Path, *, dataset_repo: str | None, dataset_revision: str | None) -> tuple[str, str]:
    """``Upload model trained on DATASET@REV``, and its base model and the scores its card shows."""
    info = _read_json(folder / "sxhub.json")
    about = info.get("about") or {}
    on = ""
    if dataset_repo:
        on = f" trained on {dataset_repo}" + (f"@{dataset_revision[:12]}" if dataset_revision else "")
    lines = [f"Fine-tuned from {about['base_model']}."] if about.get("base_model") else []
    scores = _scores(about)
    if scores:
        lines += [f"Scores ({about.get('split') or 'test'} split):", *scores]
    return commit_title(f"Upload model{on}"), "\n".join(lines)


def generator_commit(folder: Path) -> tuple[str, str]:
    """``Upload synthetic model (LoRA of BASE)``, and its held-out scores."""
    info = _read_json(folder / "sxhub.json")
    base = (info.get("base") or {}).get("hub_id") or info.get("base_model")
    heldout = info.get("heldout") or {}
    figures = [
        f"{label} {heldout[key]:.3f}"
        for key, label in (("accuracy", "accuracy"), ("macro_f1", "macro F1"))
        if isinstance(heldout.get(key), (int, float))
    ]
    lines = [f"Held-out labelling: {', '.join(figures)} on {heldout.get('n')} texts."] if figures else []
    return commit_title("Upload synthetic model" + (f" (LoRA of {base}, merged)" if base else "")), "\n".join(lines)


def space_commit(folder: Path) -> tuple[str, str]:
    """``Upload Space serving MODEL``, and the repos it links."""
    config = _read_json(folder / "config.json")
    about = config.get("about") or {}
    model = str(config.get("model") or "")
    serving = "the model in model/" if model == "model" else model
    lines = [f"Dataset: {about['dataset_repo']}."] if about.get("dataset_repo") else []
    return commit_title(f"Upload Space serving {serving}" if serving else "Upload Space"), "\n".join(lines)


def review_commit(folder: Path, *, dataset_repo: str) -> tuple[str, str]:
    """``Upload review Space: N texts to review``, and where the decisions go."""
    items = folder / "items.jsonl"
    n = sum(1 for line in items.read_text(encoding="utf-8").splitlines() if line.strip()) if items.is_file() else 0
    return (
        commit_title(f"Upload review Space: {n} texts to review"),
        f"Decisions are committed to dataset {dataset_repo} under review/decisions/.",
    )
