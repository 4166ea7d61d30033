"""Dataset and model cards: the figures they show, their plots, and rendering from ``dataset_cards/`` and
``model_cards/`` with huggingface_hub's card classes."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from . import __version__
from ._paths import asset_dir
from .data import parse_label_cell
from .errors import PublishError
from .spec import TaskSpec

LABEL_PLOT = "label_distribution.png"
CONFUSION_PLOT = "confusion_matrix.png"
UNKNOWN = "unknown"


# -- small formatting helpers ----------------------------------------------------------------------------------
def fmt(value: Any, digits: int = 3) -> str:
    """A number as card text (``unknown`` for None/NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return UNKNOWN
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def size_category(n: int) -> str:
    """The Hub's ``size_categories`` bucket for ``n`` rows."""
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")]
    for limit, name in bounds:
        if n < limit:
            return name
    return "1M<n<10M" if n < 10_000_000 else "n>1T" if n > 10**12 else "10M<n<100M"


def versions() -> dict[str, str]:
    """Versions of the libraries a card names."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("transformers", "datasets", "huggingface_hub", "torch"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = UNKNOWN
    return out


# -- the cost ledger -------------------------------------------------------------------------------------------
def load_ledger(ledger: str | Path | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The annotate run's ledger as a dict (a path to ``<stem>.ledger.json`` or a dict), or None."""
    if ledger is None or isinstance(ledger, Mapping):
        return dict(ledger) if ledger is not None else None
    path = Path(ledger)
    if not path.is_file():
        raise PublishError(f"ledger {str(path)!r} not found; pass the <stem>.ledger.json that annotate wrote.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise PublishError(
            f"ledger {str(path)!r} is not JSON; pass the <stem>.ledger.json that annotate wrote."
        ) from exc
    if not isinstance(data, dict):
        raise PublishError(f"ledger {str(path)!r} must hold a JSON object, got {type(data).__name__}.")
    return data


def ledger_rows(ledger: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """Every scalar of the ledger as (dotted name, value) rows, nested dicts flattened."""
    if not ledger:
        return []
    rows: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, sub in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), sub)
        elif isinstance(value, (list, tuple)):
            if all(not isinstance(v, (Mapping, list, tuple)) for v in value):
                rows.append((prefix, ", ".join(str(v) for v in value)))
            else:
                for i, sub in enumerate(value):
                    walk(f"{prefix}[{i}]", sub)
        else:
            rows.append((prefix, fmt(value, 4)))

    walk("", ledger)
    return rows


def _first_number(data: Mapping[str, Any], keys: Iterable[str]) -> float | None:
    for key in keys:
        value = data.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def ledger_speed(ledger: Mapping[str, Any] | None) -> tuple[float | None, float | None]:
    """(texts per second, USD per million texts) of the teachers from an annotate ledger; None where unknown."""
    if not ledger:
        return None, None
    nested = ledger.get("totals")
    totals: Mapping[str, Any] = nested if isinstance(nested, Mapping) else ledger
    texts = _first_number(totals, ("n_texts", "texts", "n", "rows", "n_labelled"))
    seconds = _first_number(totals, ("seconds", "elapsed_s", "wall_s", "duration_s", "time_s"))
    cost = _first_number(totals, ("cost_usd", "usd", "cost", "estimated_cost_usd", "cost_estimate_usd"))
    rate = _first_number(totals, ("texts_per_s", "texts_per_second"))
    if rate is None and texts and seconds:
        rate = texts / seconds
    per_million = cost / texts * 1e6 if cost is not None and texts else None
    return rate, per_million


# -- plots -----------------------------------------------------------------------------------------------------
def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_label_distribution(counts: Mapping[str, Mapping[str, int]], label_names: Sequence[str], path: Path) -> Path:
    """Grouped bars: rows per label in each split. Saved as a PNG at ``path``."""
    plt = _pyplot()
    splits = list(counts)
    width = 0.8 / max(len(splits), 1)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.7 * len(label_names) + 2), 3.6), dpi=110)
    for i, split in enumerate(splits):
        xs = [j + (i - (len(splits) - 1) / 2) * width for j in range(len(label_names))]
        ax.bar(xs, [counts[split].get(n, 0) for n in label_names], width=width, label=split)
    ax.set_xticks(range(len(label_names)), list(label_names), rotation=30 if len(label_names) > 5 else 0, ha="right")
    ax.set_ylabel("texts")
    ax.set_title("Label distribution")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_confusion(result: Mapping[str, Any], path: Path, *, title: str) -> Path | None:
    """The confusion matrix of a ``metrics.score`` result (one 2x2 panel per label for multi-label)."""
    plt = _pyplot()
    names = list(result.get("labels") or [])
    if result.get("multi_label"):
        mats = result.get("confusion_matrices") or {}
        if not mats:
            return None
        cols = min(4, len(mats))
        rows = math.ceil(len(mats) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.5 * rows), dpi=110, squeeze=False)
        items = list(mats.items()) if isinstance(mats, Mapping) else list(zip(names, mats, strict=False))
        for ax, (name, mat) in zip(axes.flat, items, strict=False):
            _matrix(ax, mat, ["off", "on"], name)
        for ax in list(axes.flat)[len(items) :]:
            ax.axis("off")
    else:
        mat = result.get("confusion_matrix")
        if not mat:
            return None
        size = max(3.5, 0.6 * len(names) + 2)
        fig, ax = plt.subplots(figsize=(size, size), dpi=110)
        _matrix(ax, mat, names, title)
        ax.set_xlabel("predicted")
        ax.set_ylabel("reference")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _matrix(ax: Any, mat: Sequence[Sequence[int]], names: Sequence[str], title: str) -> None:
    ax.imshow(mat, cmap="Blues")
    ax.set_xticks(range(len(names)), list(names), rotation=45, ha="right")
    ax.set_yticks(range(len(names)), list(names))
    ax.set_title(title, fontsize=9)
    top = max((max(row) for row in mat), default=0) or 1
    for i, row in enumerate(mat):
        for j, value in enumerate(row):
            ax.text(j, i, str(value), ha="center", va="center", color="white" if value > top / 2 else "black")


# -- rendering -------------------------------------------------------------------------------------------------
def render_dataset_card(card_data: Any, **context: Any) -> Any:
    """A ``DatasetCard`` from ``dataset_cards/template.md``."""
    from huggingface_hub import DatasetCard

    template = asset_dir("dataset_cards") / "template.md"
    return DatasetCard.from_template(card_data=card_data, template_path=str(template), **context)


def render_model_card(card_data: Any, **context: Any) -> Any:
    """A ``ModelCard`` from ``model_cards/template.md``."""
    from huggingface_hub import ModelCard

    template = asset_dir("model_cards") / "template.md"
    return ModelCard.from_template(card_data=card_data, template_path=str(template), **context)


def metric_rows(result: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The headline figures of a ``metrics.score`` result as (name, value) rows."""
    names = [
        ("rows", "n"),
        ("accuracy" + (" (subset)" if result.get("multi_label") else ""), "accuracy"),
        ("macro F1", "macro_f1"),
        ("micro F1", "micro_f1"),
        ("weighted F1", "weighted_f1"),
        ("Krippendorff's alpha", "krippendorff_alpha"),
    ]
    return [(title, fmt(result.get(key))) for title, key in names if key in result]


# -- the dataset card ------------------------------------------------------------------------------------------
def label_counts(splits: Mapping[str, pd.DataFrame], spec: TaskSpec) -> dict[str, dict[str, int]]:
    """Rows per label in each split."""
    out = {}
    for name, part in splits.items():
        values = part[spec.label_column]
        out[name] = dict(Counter(n for v in values for n in (v if spec.multi_label else [v])))
    return out


def agreement_facts(frame: pd.DataFrame, spec: TaskSpec) -> dict[str, Any]:
    """Mean agreement, its histogram, unanimous texts, ties (re-voted from ``votes``) and failed votes."""
    from .vote import decide, decide_by_scores, mean_agreement

    # per text: the share, or the mean over the labels some vote named (a label all votes left off is not agreement)
    means = [m for m in map(mean_agreement, frame.get("agreement", pd.Series([], dtype=float))) if m is not None]
    buckets = [("< 0.5", 0.0, 0.5), ("0.5 – 0.75", 0.5, 0.75), ("0.75 – 1", 0.75, 1.0 - 1e-9)]
    hist = [(name, sum(lo <= m < hi for m in means)) for name, lo, hi in buckets]
    hist.append(("1 (unanimous)", sum(m >= 1.0 - 1e-9 for m in means)))
    votes = frame["votes"].tolist() if "votes" in frame.columns else []
    rule = decide_by_scores if spec.vote == "scores" else decide
    ties = sum(rule(v, spec.label_names, spec.multi_label).tie for v in votes) if votes else None
    all_votes = [v for row in votes for v in row]
    return {
        "mean": fmt(sum(means) / len(means)) if means else fmt(None),
        "unanimous": hist[-1][1] if means else fmt(None),
        "histogram": hist if means else [],
        "ties": fmt(ties),
        "failed_votes": fmt(sum(v["labels"] is None for v in all_votes)) if votes else fmt(None),
        "n_votes": fmt(len(all_votes)) if votes else fmt(None),
        "teachers": list(dict.fromkeys(v["teacher"] for v in all_votes if v["teacher"])),
    }


def gold_facts(frame: pd.DataFrame, spec: TaskSpec, gold: str) -> dict[str, Any]:
    """Teacher labels scored against the expert column ``gold`` with ``sxhub.metrics.score``."""
    from .metrics import score

    if gold not in frame.columns:
        raise PublishError(f"gold column {gold!r} not found; columns are {list(frame.columns)[:12]}.")
    pairs = [
        (parse_label_cell(g, multi_label=spec.multi_label), p)
        for g, p in zip(frame[gold], frame[spec.label_column], strict=True)
        if g is not None and g != ""
    ]
    if not pairs:
        raise PublishError(f"gold column {gold!r} is empty; pass a column that holds expert labels.")
    result = score([g for g, _ in pairs], [p for _, p in pairs], spec.label_names, spec.multi_label)
    per_label = [(name, {k: fmt(v) for k, v in row.items()}) for name, row in result["per_label"].items()]
    return {"column": gold, "n": len(pairs), "figures": metric_rows(result), "per_label": per_label, "result": result}


def reliability_facts(frame: pd.DataFrame, spec: TaskSpec, gold: str | None) -> dict[str, Any] | None:
    """Each teacher's and sample's reliability (``sxhub.reliability``) as card rows; ``None`` without votes."""
    from .reliability import teacher_reliability

    if "votes" not in frame.columns:
        return None
    experts = [parse_label_cell(v, multi_label=spec.multi_label) for v in frame[gold]] if gold else None
    result = teacher_reliability(
        frame["votes"].tolist(),
        frame[spec.label_column].tolist(),
        spec.label_names,
        spec.multi_label,
        gold=experts,
        method=spec.vote,
    )
    rows = []
    for r in result["teachers"]:
        g = r.get("gold") or {}
        rows.append(
            {
                "teacher": r["teacher"],
                "sample": "all" if r["sample"] is None else r["sample"],
                "valid": f"{r['valid']}/{r['votes']}",
                "agreement": fmt(r["agreement_with_vote"]),
                "accuracy": fmt(g.get("accuracy")),
                "macro_f1": fmt(g.get("macro_f1")),
                "alpha": fmt(g.get("krippendorff_alpha")),
                "per_label": {n: f"{fmt(m['f1'])} / {fmt(m['alpha'])}" for n, m in g.get("per_label", {}).items()},
            }
        )
    versus = [
        (m, {k: fmt(v.get(k)) for k in ("accuracy", "macro_f1")}) for m, v in result.get("vote_vs_gold", {}).items()
    ]
    return {"rows": rows, "gold": gold is not None, "versus": versus}


def dataset_card_data(dd: Any, spec: TaskSpec, *, repo_id: str) -> Any:
    """YAML metadata: license, language, task, size, tags, and the ``configs`` / ``dataset_info`` push_to_hub writes."""
    from datasets import DatasetInfo, SplitDict, SplitInfo
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCardData

    n = sum(len(d) for d in dd.values())
    data = DatasetCardData(
        license=spec.license or "other",
        language=[spec.language],
        task_categories=["text-classification"],
        task_ids=["multi-label-classification" if spec.multi_label else "multi-class-classification"],
        size_categories=[size_category(n)],
        annotations_creators=["machine-generated"],
        pretty_name=_pretty(spec.name),
        tags=["synthetic", "sxhub", "llm-labelled", "distillation"],
    )
    configs = [{"split": s, "path": f"data/{s}-*"} for s in dd]
    MetadataConfigs({"default": {"data_files": configs}}).to_dataset_card_data(data)
    splits = SplitDict()
    for name, ds in dd.items():
        splits.add(SplitInfo(name=name, num_examples=len(ds)))
    info = DatasetInfo(features=next(iter(dd.values())).features, splits=splits, config_name="default")
    DatasetInfosDict({"default": info}).to_dataset_card_data(data)
    return data


def _pretty(name: str) -> str:
    return " ".join(part.capitalize() for part in name.replace("_", "-").split("-") if part)


def dataset_context(
    spec: TaskSpec,
    dd: Any,
    facts: dict[str, Any],
    counts: dict[str, dict[str, int]],
    agreement: dict[str, Any],
    *,
    repo_id: str,
    gold: str | None,
    ledger: str | Path | Mapping[str, Any] | None,
) -> dict[str, Any]:
    frame = facts["frame"]
    teachers = agreement["teachers"] or [t.model or t.name for t in spec.default_teachers()]
    from .review import REVIEW_COLUMNS, review_facts

    review = review_facts(frame, spec)
    known = {"text", spec.label_column, "votes", "agreement", "failed", "error", *(REVIEW_COLUMNS if review else ())}
    return {
        "repo_id": repo_id,
        "pretty_name": _pretty(spec.name),
        "description": spec.description,
        "multi_label": spec.multi_label,
        "label_column": spec.label_column,
        "labels": spec.labels,
        "split_sizes": {name: len(ds) for name, ds in dd.items()},
        "distribution": [
            {
                "label": n,
                "counts": [counts[s].get(n, 0) for s in counts],
                "total": sum(c.get(n, 0) for c in counts.values()),
            }
            for n in spec.label_names
        ],
        "stratified": facts["stratified"],
        "seed": facts["seed"],
        "n_failed": facts["n_failed"],
        "n_input": facts["n_input"],
        "plot_file": LABEL_PLOT,
        "teachers": teachers,
        "samples": spec.samples,
        "temperature": spec.temperature,
        "reasoning": spec.reasoning,
        "prompt_template": spec.prompt_template,
        "n_examples": len(spec.examples),
        "answer_schema": json.dumps(spec.answer_schema(), indent=2),
        "agreement": agreement,
        "gold": gold_facts(frame, spec, gold) if gold else None,
        "vote": spec.vote,
        "reliability": reliability_facts(frame, spec, gold),
        "ledger": ledger_rows(load_ledger(ledger)),
        "has_votes": "votes" in frame.columns,
        "has_agreement": "agreement" in frame.columns,
        "review": review,
        "extra_columns": [c for c in frame.columns if c not in known],
        "sxhub_version": __version__,
        "versions": versions(),
    }


# -- the model card --------------------------------------------------------------------------------------------
EVAL_METRICS = (
    ("accuracy", "accuracy", "Accuracy", None),
    ("macro_f1", "f1", "F1 (macro)", "macro"),
    ("micro_f1", "f1", "F1 (micro)", "micro"),
    ("krippendorff_alpha", "krippendorff_alpha", "Krippendorff's alpha", None),
)


def eval_results(
    evaluations: Mapping[str, Mapping[str, Any]], *, dataset: str, split: str, revision: str | None = None
) -> list[Any]:
    """``EvalResult`` objects (the Hub's model-index) for every comparison and headline metric.

    The Hub groups results by (task, dataset, config, split), so each comparison (which labels are the reference)
    is its own dataset config, e.g. ``student-vs-experts``.
    """
    from huggingface_hub import EvalResult

    out = []
    for name, result in evaluations.items():
        for key, metric_type, metric_name, config in EVAL_METRICS:
            value = result.get(key)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
                continue
            out.append(
                EvalResult(
                    task_type="text-classification",
                    task_name="Text Classification",
                    dataset_type=dataset,
                    dataset_name=f"{dataset} ({name})",
                    dataset_config=re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-"),
                    dataset_split=split,
                    dataset_revision=revision,
                    metric_type=metric_type,
                    metric_name=metric_name,
                    metric_config=config,
                    metric_value=round(float(value), 4),
                )
            )
    return out


def eval_table(evaluations: Mapping[str, Mapping[str, Any]]) -> list[dict[str, str]]:
    """One row per comparison for the card's evaluation table."""
    return [
        {
            "name": name,
            "n": fmt(r.get("n")),
            "accuracy": fmt(r.get("accuracy")),
            "macro_f1": fmt(r.get("macro_f1")),
            "micro_f1": fmt(r.get("micro_f1")),
            "alpha": fmt(r.get("krippendorff_alpha")),
        }
        for name, r in evaluations.items()
    ]


def speed_rows(
    *, teachers: Sequence[str], ledger: Mapping[str, Any] | None, student: Mapping[str, Any] | None
) -> list[dict[str, str]]:
    """Teacher vs student throughput and cost; every figure says where it comes from or that it is unknown."""
    rate, per_million = ledger_speed(ledger)
    rows = [
        {
            "name": "teacher: " + ", ".join(f"`{t}`" for t in teachers),
            "texts_per_s": fmt(rate, 2),
            "usd_per_million": fmt(per_million, 2),
            "source": "annotate ledger (all samples of all teachers)" if ledger else "no ledger given",
        }
    ]
    student = dict(student or {})
    s_rate = student.get("texts_per_s")
    usd_hour = student.get("usd_per_hour")
    s_cost = usd_hour / 3600 / s_rate * 1e6 if s_rate and usd_hour is not None else None
    source = student.get("source") or ("benchmark" if s_rate else "not measured")
    if s_rate and s_cost is None:
        source += "; $ unknown (no hardware price given)"
    rows.append(
        {
            "name": "student (this model)",
            "texts_per_s": fmt(s_rate, 1),
            "usd_per_million": fmt(s_cost, 4),
            "source": source,
        }
    )
    return rows


def model_card_data(
    *, info: Mapping[str, Any], spec: TaskSpec, repo_id: str, dataset_repo: str | None, results: list[Any]
) -> Any:
    """YAML metadata of the model card (base_model only when it is a Hub id)."""
    from huggingface_hub import ModelCardData

    base = hub_base_model(info.get("base_model"))
    return ModelCardData(
        model_name=repo_id.split("/")[-1],
        base_model=base,
        datasets=[dataset_repo] if dataset_repo else None,
        library_name="transformers",
        pipeline_tag="text-classification",
        license=spec.license or "apache-2.0",
        language=[spec.language],
        tags=["sxhub", "synthetic-expert", "distillation", "text-classification"]
        + (["multi-label-classification"] if spec.multi_label else []),
        metrics=["accuracy", "f1", "krippendorff_alpha"],
        eval_results=results or None,
    )


def hub_base_model(base: Any) -> str | None:
    """The base model as a Hub id, or None for a local path (the Hub rejects paths in ``base_model``)."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    if not isinstance(base, str) or not base or Path(base).exists() or base.count("/") != 1:
        return None
    try:
        validate_repo_id(base)
    except HFValidationError:
        return None
    return base


def training_rows(info: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Scalar training figures from ``sxhub.json`` (backend, base, epochs, sizes, seconds, ...)."""
    rows = [(k, fmt(info.get(k))) for k in ("backend", "base_model", "max_length") if info.get(k) is not None]
    train = info.get("train") or {}
    rows += [(k, fmt(v, 4)) for k, v in train.items() if isinstance(v, (int, float, str, bool)) and v is not None]
    if train.get("untuned_labels"):  # multi-label: no positive example in validation, so nothing to tune on
        untuned = ", ".join(f"`{name}`" for name in train["untuned_labels"])
        rows.append(("labels without a validation positive (threshold 0.5, not tuned)", untuned))
    return rows


VARIANT_NAMES = {
    "torch": "transformers (torch, fp32)",
    "torch-bf16": "transformers (torch, bf16 autocast: `sxhub predict --bf16`)",
    "onnx": "ONNX fp32",
    "onnx-int8": "ONNX int8",
}


def _recipe(variant: Mapping[str, Any]) -> str:
    """The int8 recipe as the card names it: `` (per-channel)``, `` (smooth: per-channel, activations smoothed
    (SmoothQuant, alpha 0.75))``, or `` (mixed: 9 most sensitive MatMuls kept fp32)``."""
    if not variant.get("quantization"):
        return ""
    kept = len(variant.get("fp32_nodes") or [])
    parts = [f"{kept} most sensitive MatMuls kept fp32"] if kept else []
    if variant.get("quantization") == "smooth":
        parts.append("per-channel")
    if variant.get("smoothing"):
        parts.append(f"activations smoothed (SmoothQuant, alpha {variant['smoothing'].get('alpha')})")
    return f" ({variant['quantization']}" + (f": {', '.join(parts)})" if parts else ")")


def export_facts(info: Mapping[str, Any]) -> dict[str, Any] | None:
    """Each published variant (torch, ONNX fp32, ONNX int8) as card rows: its file, how often it gives the torch
    model's label and its speed, as ``sxhub export`` measured them, and which one is the default and why."""
    record = info.get("export") or {}
    variants = record.get("variants") or {}
    if not variants:
        return None
    rerun_margin = ((variants.get("onnx-int8") or {}).get("recheck") or {}).get("margin")  # int8's near-ties
    rows = []
    for key, name in VARIANT_NAMES.items():
        v = variants.get(key)
        if v is None:
            continue
        agreement = "reference" if key == "torch" else f"{v['label_agreement']:.2%} of {v['n']:,}"
        recheck = v.get("recheck") or {}
        rerun = ""
        if recheck.get("margin"):  # int8 as predict serves it: its near-ties rerun on the fp32 export
            rerun = (
                f", texts within {recheck['margin']:.2f} logits of a label change rerun in fp32 "
                f"({recheck.get('rechecked', 0):.1%} of the check texts)"
            )
        rows.append(
            {
                "name": name + _recipe(v) + rerun,
                "file": f"`{v['file']}`" if v.get("file") else "`model.safetensors`",
                "agreement": agreement,
                "max_diff": "0" if key == "torch" else f"{v['max_abs_diff']:.4f}",
                "texts_per_s": fmt(v.get("texts_per_s"), 1),
                "default": "yes" if record.get("default") == key else "",
            }
        )
        if rerun and recheck.get("alone"):
            alone = recheck["alone"]
            rows.append(
                {
                    "name": name + _recipe(v) + " alone (`sxhub predict --onnx --int8 --no-recheck`)",
                    "file": f"`{v['file']}`",
                    "agreement": f"{alone['label_agreement']:.2%} of {alone['n']:,}",
                    "max_diff": f"{alone['max_abs_diff']:.4f}",
                    "texts_per_s": fmt(alone.get("texts_per_s"), 1),
                    "default": "",
                }
            )
    return {
        "rows": rows,
        "default": record.get("default"),
        "check": record.get("check") or "",
        "bar": record.get("agreement_bar"),
        "threads": record.get("threads") or "",
        "first_token": record.get("last_layer") == "first token",
        "recheck": f"{rerun_margin:.2f}" if rerun_margin else "",
        "notes": [n for n in record.get("notes") or () if "is not the default" in n],
    }


# -- what the Space says about the expert ---------------------------------------------------------------------
SCORE_KEYS = ("n", "accuracy", "macro_f1", "micro_f1", "krippendorff_alpha")


def teacher_names(spec: TaskSpec) -> list[str]:
    """The teachers as cards and the Space name them (``TeacherSpec.name``: no URL credentials or queries)."""
    return [t.name or t.model or "local" for t in spec.default_teachers()]


def expert_facts(
    info: Mapping[str, Any],
    spec: TaskSpec | None,
    *,
    evaluations: Mapping[str, Mapping[str, Any]] | None = None,
    speed: Mapping[str, Any] | None = None,
    split: str = "test",
    model_repo: str | None = None,
    dataset_repo: str | None = None,
) -> dict[str, Any]:
    """What a visitor of the Space should know (JSON-ready): the task, its teachers, the student's base model, its
    scores against the teacher labels and the experts, its measured speed, and the model and dataset repos.

    Figures that were not given stay out (the Space then says they are unknown); nothing is made up here.
    """
    scores = {
        str(name): {k: _json_number(result.get(k)) for k in SCORE_KEYS if _json_number(result.get(k)) is not None}
        for name, result in (evaluations or {}).items()
    }
    rate = _json_number((speed or {}).get("texts_per_s"))
    facts: dict[str, Any] = {
        "description": spec.description if spec else "",
        "teachers": teacher_names(spec) if spec else [],
        "local_teacher": any(t.is_local for t in spec.default_teachers()) if spec else False,
        "base_model": public_model_name(info.get("base_model")),
        "scores": {name: row for name, row in scores.items() if row},
        "split": split,
        "speed": {"texts_per_s": rate, "source": str((speed or {}).get("source") or "")} if rate else None,
        "model_repo": model_repo,
        "dataset_repo": dataset_repo,
    }
    return facts


def public_model_name(base: Any) -> str | None:
    """A model (the base, or the distillation teacher) as a Hub id, or only its folder name when it was a local path
    (no local paths in a public card or Space)."""
    if not isinstance(base, str) or not base:
        return None
    return hub_base_model(base) or Path(base).name


def _json_number(value: Any) -> float | int | None:
    if hasattr(value, "item") and not isinstance(value, (int, float)):  # numpy scalars
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 4)
    return value
