"""What the dataset and model cards share: number formatting, the cost ledger, the plots, and rendering from
``dataset_cards/`` and ``model_cards/`` with huggingface_hub's card classes. The figures of each card are in
``dataset_card.py`` and ``model_card.py``."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ._paths import asset_dir
from .errors import PublishError

LABEL_PLOT = "label_distribution.png"
CONFUSION_PLOT = "confusion_matrix.png"
UNKNOWN = "unknown"


# -- small formatting helpers ----------------------------------------------------------------------------------
def agreeing(n: int, one: str, many: str) -> str:
    """The verb that agrees with a count: "1 of the 26 training texts was", "2 of the 26 ... were" (the cards said
    "1 of the 26 training texts were")."""
    return one if n == 1 else many


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


def table_cell(text: str | None) -> str:
    """Free text (a label's definition) as one Markdown table cell: a definition written over several lines (a YAML
    ``|`` block) ended the card's table row at its first line break, and a '|' in it started a new column."""
    return " ".join(str(text or "").split()).replace("|", "\\|")


# --gold columns whose name says they hold people's labels: the cards and the Space keep calling them "experts"
EXPERT_NAMED = ("gold", "human", "humans", "annotator", "annotators")


def reference_name(gold: str | None) -> str:
    """How the cards and the Space name the labels of the ``--gold`` column: "experts" when the column is named so
    (``expert``, ``expert_label``, ``gold``, ...) or is not known (a card made before it was recorded), else the column
    itself as inline code: ``--gold gpt4`` was called "experts", which says people labelled it."""
    if gold is None or "expert" in gold.casefold() or gold.casefold() in EXPERT_NAMED:
        return "experts"
    plain = gold.replace("`", "'")  # a backtick in the name would end the code span
    return f"`{plain}`"


def against_column(evaluations: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The ``--gold`` column the "... vs experts" comparisons were scored against (``against``, written by
    ``sxhub.evaluate.compare_on_split``), or None when none records it."""
    for name, result in evaluations.items():
        if "experts" in name and isinstance(result.get("against"), str):
            return str(result["against"])
    return None


def comparison_name(name: str, gold: str | None) -> str:
    """A comparison's name as shown: "student vs experts" becomes "student vs `gpt4`" for ``--gold gpt4``."""
    return name.replace("experts", reference_name(gold))


def format_cost(value: float | None) -> str:
    """A cost in USD to three significant digits below a dollar (``$0.0123``, ``$0.0000198``: a real bill of
    $1.98e-05 printed as ``$0.0000``), cents above (``$12.35``); ``unknown`` for None (a teacher without prices or
    token counts), never a made-up ``$0``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return UNKNOWN
    if value == 0:
        return "$0"
    if abs(value) >= 1:
        return f"${value:,.2f}"
    return f"${value:.{2 - math.floor(math.log10(abs(value)))}f}"


def size_category(n: int) -> str:
    """The Hub's ``size_categories`` bucket for ``n`` rows (every row from 100M on was put in "10M<n<100M")."""
    names = ["1K", "10K", "100K", "1M", "10M", "100M", "1B", "10B", "100B", "1T"]
    for i, name in enumerate(names):
        if n < 10 ** (i + 3):
            return f"{names[i - 1]}<n<{name}" if i else f"n<{name}"
    return "n>1T"


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


# What the card shows of a ledger, in this order: counts and figures of the run, never where it ran (the ``output``
# file and ``parts`` folder that annotate records are local paths, and the concurrency and chunking are this
# machine's). A ledger is annotate's (its figures at the top level, or under ``totals``), or a dry run's.
LEDGER_FIELDS = (
    "n_texts", "n_input", "n_duplicates", "n_empty", "failed_texts", "samples", "vote_method", "ties", "seconds",
    "max_invalid",
    "requests_planned", "requests_max", "requests", "cached", "retries", "rejected", "too_long", "invalid_answers",
    "context_cuts", "capped_answers", "failed_votes", "input_tokens", "input_tokens_max", "output_tokens", "output_tokens_max", "replies_without_usage",
    "cached_input_tokens", "cached_output_tokens", "cached_without_usage",
    "cost_usd", "cost_usd_max", "cached_cost_usd",
)  # fmt: skip
TEACHER_FIELDS = (
    "requests_planned", "requests_max", "requests", "cached", "retries", "rejected", "too_long", "invalid_answers",
    "context_cuts", "capped_answers", "failed_votes", "input_tokens", "input_tokens_max", "output_tokens", "output_tokens_max", "replies_without_usage",
    "cached_input_tokens", "cached_output_tokens", "cached_without_usage",
    "cost_usd", "cost_usd_max", "cached_cost_usd", "server", "enforced",
)  # fmt: skip
ENDPOINT_FIELDS = ("hours", "price_per_hour", "replicas", "cost_usd_estimate")
COST_FIELDS = {"cost_usd", "cost_usd_max", "cached_cost_usd", "price_per_hour", "cost_usd_estimate"}


def _idle(key: str, value: Any) -> bool:
    """A row that says nothing: no reply without token counts, no text refused as too long for a teacher's context
    window (``too_long``, of ``rejected``), or the server of a teacher never contacted."""
    return (
        (key.endswith("_without_usage") and not value)
        or (key == "too_long" and not value)
        or (key in ("server", "enforced") and value is None)
    )


def ledger_rows(ledger: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """The card's Cost table: a chosen set of a ledger's fields as (dotted name, value) rows, the run's, then each
    teacher's and Inference Endpoint's. Every field used to be dumped, the local ``output`` and ``parts`` paths
    too, and costs at 4 decimals (a $1.98e-05 bill showed as 0.0000); costs are :func:`format_cost`'s now."""
    if not ledger:
        return []

    def rows(prefix: str, data: Any, keys: Sequence[str]) -> list[tuple[str, str]]:
        if not isinstance(data, Mapping):
            return []
        return [
            (
                prefix + key,
                format_cost(data[key]) if key in COST_FIELDS else fmt(data[key], 1 if key == "seconds" else 3),
            )
            for key in keys
            if key in data and not isinstance(data[key], (Mapping, list, tuple)) and not _idle(key, data[key])
        ]

    out = rows("totals." if isinstance(ledger.get("totals"), Mapping) else "", _totals(ledger), LEDGER_FIELDS)
    for group, keys in (("teachers", TEACHER_FIELDS), ("endpoints", ENDPOINT_FIELDS)):
        for name, sub in (ledger.get(group) or {}).items():
            out += rows(f"{group}.{name}.", sub, keys)
    written = ledger.get("written")  # texts sxhub generate wrote: what writing them cost (annotate carries it)
    if isinstance(written, Mapping):
        out += rows("written.", written, LEDGER_FIELDS)
        for name, sub in (written.get("teachers") or {}).items():
            out += rows(f"written.teachers.{name}.", sub, TEACHER_FIELDS)
    return out


def _first_number(data: Mapping[str, Any], keys: Iterable[str]) -> float | None:
    for key in keys:
        value = data.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def ledger_speed(ledger: Mapping[str, Any] | None) -> tuple[float | None, float | None]:
    """(texts per second, USD per million texts) of the teachers from an annotate ledger; None where unknown.

    Answers read from the label cache (``cached``) took no teacher time: a run that read any cannot give the
    teacher's speed (a rerun from the cache made the demo's teacher "615 texts/s"), and its cost counts the cached
    answers' first cost (``cached_cost_usd``) as well."""
    if not ledger:
        return None, None
    totals = _totals(ledger)
    texts = _first_number(totals, ("n_texts", "texts", "n", "rows", "n_labelled"))
    seconds = _first_number(totals, ("seconds", "elapsed_s", "wall_s", "duration_s", "time_s"))
    cost = _first_number(totals, ("cost_usd", "usd", "cost", "estimated_cost_usd", "cost_estimate_usd"))
    cached = _first_number(totals, ("cached",)) or 0
    if cached and cost is not None:
        first_cost = _first_number(totals, ("cached_cost_usd",))
        cost = cost + first_cost if first_cost is not None else None
    rate = _first_number(totals, ("texts_per_s", "texts_per_second"))
    if rate is None and texts and seconds and not cached:
        rate = texts / seconds
    per_million = cost / texts * 1e6 if cost is not None and texts else None
    return rate, per_million


def ledger_cached(ledger: Mapping[str, Any] | None) -> int:
    """How many answers of an annotate ledger came from the label cache (0 without a ledger)."""
    return int(_first_number(_totals(ledger), ("cached",)) or 0) if ledger else 0


def ledger_cost_note(ledger: Mapping[str, Any] | None) -> str:
    """What the Cost table's figures mean when answers came from the label cache (empty when none did): the table
    showed ``cost_usd | $0`` beside ``cached_cost_usd | $0.298`` and said neither which was paid by this run, nor
    that the cached answers were not paid again, nor what the labels cost in all."""
    cached = ledger_cached(ledger)
    if not ledger or not cached:
        return ""
    totals = _totals(ledger)
    if totals.get("dry_run"):  # a plan: its cached answers are the ones the run would not pay for
        return ""
    prefix = "totals." if totals is not ledger else ""
    spent = _first_number(totals, ("cost_usd",))
    first = _first_number(totals, ("cached_cost_usd",))
    whole = (
        f"The labels cost {format_cost(spent + first)} in all."
        if spent is not None and first is not None
        else "What the labels cost in all is unknown (a teacher without prices, or replies without token counts)."
    )
    return (
        f"{cached:,} answers came from the label cache: an earlier run paid for them, and `{prefix}cached_cost_usd` "
        f"({format_cost(first)}) is what they first cost; they were not paid again, and `{prefix}cost_usd` "
        f"({format_cost(spent)}) is what this run paid. {whole}"
    )


def _totals(ledger: Mapping[str, Any]) -> Mapping[str, Any]:
    """A ledger's figures: its ``totals`` block where it has one, else the ledger itself (annotate's)."""
    nested = ledger.get("totals")
    return nested if isinstance(nested, Mapping) else ledger


# -- plots -----------------------------------------------------------------------------------------------------
def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# label names are plain text: two '$' in one ("save $ on #1 $ deal") were read as TeX, which failed the publish with a
# ParseException, and "$5-$10" lost its dollar signs
PLAIN_TEXT = {"text.parse_math": False}


def plot_label_distribution(counts: Mapping[str, Mapping[str, int]], label_names: Sequence[str], path: Path) -> Path:
    """Grouped bars: rows per label in each split. Saved as a PNG at ``path``."""
    plt = _pyplot()
    with plt.rc_context(PLAIN_TEXT):
        return _plot_label_distribution(plt, counts, label_names, path)


def _plot_label_distribution(
    plt: Any, counts: Mapping[str, Mapping[str, int]], label_names: Sequence[str], path: Path
) -> Path:
    splits = list(counts)
    width = 0.8 / max(len(splits), 1)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.7 * len(label_names) + 2), 3.6), dpi=110)
    for i, split in enumerate(splits):
        xs = [j + (i - (len(splits) - 1) / 2) * width for j in range(len(label_names))]
        ax.bar(xs, [counts[split].get(n, 0) for n in label_names], width=width, label=split)
    # a slanted name ends at its tick; an upright one is centred on it (ha="right" for both put each upright name
    # left of its bars)
    slanted = len(label_names) > 5
    ax.set_xticks(
        range(len(label_names)),
        list(label_names),
        rotation=30 if slanted else 0,
        ha="right" if slanted else "center",
        rotation_mode="anchor" if slanted else "default",
    )
    ax.set_ylabel("texts")
    ax.set_title("Label distribution")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_confusion(result: Mapping[str, Any], path: Path, *, title: str) -> Path | None:
    """The confusion matrix of a ``metrics.score`` result (one 2x2 panel per label for multi-label), titled ``title``
    (the comparison drawn, e.g. "student vs experts"): rows the reference, columns the predictions."""
    plt = _pyplot()
    with plt.rc_context(PLAIN_TEXT):
        return _plot_confusion(plt, result, path, title=title)


def _plot_confusion(plt: Any, result: Mapping[str, Any], path: Path, *, title: str) -> Path | None:
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
            ax.set_xlabel("predicted", fontsize=8)
            ax.set_ylabel("reference", fontsize=8)
        for ax in list(axes.flat)[len(items) :]:
            ax.axis("off")
        fig.suptitle(title, fontsize=10)  # the panels are titled by label: the comparison is named above them
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


# the dataset card's and the model card's figures moved to dataset_card.py and model_card.py; importing them from
# here still works
_DATASET_CARD = frozenset(
    ["label_counts", "agreement_facts", "gold_facts", "reliability_facts", "dataset_card_data", "dataset_context"]
)
_MODEL_CARD = frozenset(
    [
        "EVAL_METRICS",
        "eval_results",
        "eval_table",
        "speed_rows",
        "model_card_data",
        "hub_base_model",
        "training_rows",
        "VARIANT_NAMES",
        "export_facts",
        "SCORE_KEYS",
        "teacher_names",
        "expert_facts",
        "public_model_name",
    ]
)


def __getattr__(name: str) -> Any:
    if name in _DATASET_CARD:
        from . import dataset_card

        return getattr(dataset_card, name)
    if name in _MODEL_CARD:
        from . import model_card

        return getattr(model_card, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
