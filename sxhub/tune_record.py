"""The record and the card of a synthetic model (:mod:`sxhub.tune`'s last stage): the data's figures, the cost
(CPU seconds, peak memory, threads), the library versions, and ``README.md`` from ``model_cards/generator.md``.
"""

from __future__ import annotations

import json
import os
import resource
from pathlib import Path
from typing import Any

from . import __version__
from .labelled import LabelledData
from .spec import TaskSpec

CARD_TEMPLATE = "generator.md"


def _data_facts(
    source: Any, data: LabelledData, train_idx: list[int], held_idx: list[int], label_column: str | None
) -> dict[str, Any]:
    from collections import Counter

    def counts(idx: list[int]) -> dict[str, int]:
        found: Counter[str] = Counter()
        for i in idx:
            found.update([data.labels[i]] if isinstance(data.labels[i], str) else data.labels[i])
        return dict(found)

    return {
        "source": str(source) if isinstance(source, (str, os.PathLike)) else "a DataFrame",
        "label_column": label_column or data.label_column,
        "n_rows": len(data.texts),
        "n_train": len(train_idx),
        "n_heldout": len(held_idx),
        "train_label_counts": counts(train_idx),
        "heldout_label_counts": counts(held_idx),
    }


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its finished children (AutoTrain) so far: a cost that does
    not depend on what else the machine runs."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return float(own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime)


def peak_rss_mb() -> float:
    """The peak resident memory in MB (Linux reports KB) of this process or of its largest finished child, whichever
    is more: with ``--backend autotrain`` the training runs in AutoTrain's trainer process, which this process's own
    peak left out (the card gave sxhub's 510 MB for a run whose trainer held 574 MB)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return max(own.ru_maxrss, children.ru_maxrss) / 1024


def _threads() -> int:
    import torch

    return int(torch.get_num_threads())


def training_device() -> str | None:
    """The accelerator a tune trains on, by name, or None for the CPU: the local backend trains on CUDA where there is
    one (:mod:`sxhub.lora`: ``use_cpu=not torch.cuda.is_available()``, else the Trainer's MPS on a Mac), as AutoTrain's
    accelerate does on the same machine, and the card said "N s wall clock on 16 CPU threads" of a run on a GPU."""
    import torch

    if torch.cuda.is_available():
        return str(torch.cuda.get_device_name(0))
    mps = getattr(torch.backends, "mps", None)
    return "Apple MPS" if mps is not None and mps.is_available() else None


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"sxhub": __version__}
    for name in ("transformers", "trl", "peft", "torch"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def write_card(folder: Path, info: dict[str, Any], *, repo_id: str | None = None, revision: str | None = None) -> Path:
    """README.md of a synthetic model folder, from ``model_cards/generator.md`` (huggingface_hub's ModelCard)."""
    from huggingface_hub import ModelCard, ModelCardData

    from ._paths import asset_dir
    from .repo import card_revision, hub_endpoint

    spec = TaskSpec.from_dict(info["task"])
    name = repo_id or folder.resolve().name
    data = ModelCardData(
        model_name=name.split("/")[-1],
        base_model=info["base"].get("hub_id"),
        library_name="transformers",
        pipeline_tag="text-generation",
        **spec.card_license(),  # the Hub refuses a license off its list: sxhub.licenses
        **spec.card_language(),  # a code the Hub accepts (sxhub.card_language)
        tags=["sxhub", "synthetic-model", "lora", "peft", "trl", "text-classification", "synthetic-data"],
    )
    card = ModelCard.from_template(
        card_data=data,
        template_path=str(asset_dir("model_cards") / CARD_TEMPLATE),
        info=info,
        spec=spec,
        repo_id=name,
        load_revision=card_revision(revision),  # the branch pushed to (--revision), which the loading code must name
        hub_url=hub_endpoint(),  # the base model's link: the Hub of $HF_ENDPOINT, as the card's base_model
        heldout=info.get("heldout") or {},
        # a Python string literal: a newline, a backslash or a quote in the example broke the snippet as written
        example_text=json.dumps(
            spec.examples[0].text if spec.examples else "Operating profit rose from EUR 7m to 9m.", ensure_ascii=False
        ),
    )
    path = folder / "README.md"
    card.save(path)
    return path
