"""The model card's figures (evaluation results, speed, training, the exported variants) and what the Space
says about the expert."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .cards import against_column, comparison_name, fmt, ledger_cached, ledger_speed, reference_name
from .onnx_runtime import describe_margin, margin_values
from .spec import LOCAL_TEACHER, TaskSpec

EVAL_METRICS = (  # (key, the metric's id, its name, its compute() average)
    ("accuracy", "accuracy", "Accuracy", None),
    ("macro_f1", "f1", "F1 (macro)", "macro"),
    ("micro_f1", "f1", "F1 (micro)", "micro"),
    ("krippendorff_alpha", "krippendorff_alpha", "Krippendorff's alpha", None),
)


def eval_results(
    evaluations: Mapping[str, Mapping[str, Any]],
    *,
    dataset: str,
    split: str | None,
    revision: str | None = None,
    multi_label: bool = False,
) -> list[Any]:
    """``EvalResult`` objects (the Hub's model-index) for the student's headline metrics.

    The model-index holds this model's results: the Hub shows them on the model's page (its evaluation widget, the
    leaderboards that read them) as scores of the model. Comparisons of other labels ("teacher vs experts", "labels
    after review vs experts") stay in the card's evaluation table and out of the index, where they would read as the
    student's own scores. A result names the dataset, its subset (``config``: "the name of the dataset subset used
    in ``load_dataset()``", huggingface/hub-docs modelcard.md) and split, and huggingface_hub merges the results that
    share them: one comparison goes in, the student against the experts where there is one (the card's confusion
    matrix's), else against the dataset's labels. Each comparison was its own ``config`` (``student-vs-experts``),
    a subset the dataset has not. The dataset's default subset is cited by naming none, as ``load_dataset(id)``
    loads it. Its name says the comparison (``student vs gpt4`` for a ``--gold`` column not named for people:
    :func:`sxhub.cards.reference_name`). The F1 averages are ``args`` of evaluate's ``f1`` (``average``), not
    metric configurations; a multi-label student's metrics are evaluate's ``multilabel`` configuration, and its
    accuracy is subset accuracy (every label of a text right), named "Subset accuracy".
    """
    from huggingface_hub import EvalResult

    gold = against_column(evaluations)
    named = gold is not None and reference_name(gold) != "experts"  # --gold gpt4: "student vs gpt4", not "experts"
    students = [name for name in evaluations if name.lower().startswith("student")]
    key_name = next((name for name in students if "experts" in name), students[0] if students else None)
    if key_name is None:
        return []
    result = evaluations[key_name]
    name = key_name.replace("experts", str(gold)) if named else key_name
    out = []
    for key, metric_type, metric_name, average in EVAL_METRICS:
        value = result.get(key)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
            continue
        out.append(
            EvalResult(
                task_type="text-classification",
                task_name="Text Classification",
                dataset_type=dataset,
                dataset_name=f"{dataset} ({name})",
                dataset_split=split,
                dataset_revision=revision,
                metric_type=metric_type,
                metric_name="Subset accuracy" if multi_label and key == "accuracy" else metric_name,
                metric_config="multilabel" if multi_label and metric_type in ("accuracy", "f1") else None,
                metric_args={"average": average} if average else None,
                metric_value=round(float(value), 4),
            )
        )
    return out


def eval_table(evaluations: Mapping[str, Mapping[str, Any]]) -> list[dict[str, str]]:
    """One row per comparison for the card's evaluation table, the ``--gold`` column named (:func:`comparison_name`)."""
    gold = against_column(evaluations)
    return [
        {
            "name": comparison_name(name, gold),
            "n": fmt(r.get("n")),
            "accuracy": fmt(r.get("accuracy")),
            "macro_f1": fmt(r.get("macro_f1")),
            "micro_f1": fmt(r.get("micro_f1")),
            "alpha": fmt(r.get("krippendorff_alpha")),
        }
        for name, r in evaluations.items()
    ]


def speed_rows(
    *, teachers: Sequence[str] | None, ledger: Mapping[str, Any] | None, student: Mapping[str, Any] | None
) -> list[dict[str, str]]:
    """Teacher vs student throughput and cost; every figure says where it comes from or that it is unknown."""
    rate, per_million = ledger_speed(ledger)
    if not ledger:
        teacher_source = "no ledger given"
    elif cached := ledger_cached(ledger):
        teacher_source = (
            f"annotate ledger: {cached:,} answers came from the label cache, so the run did not time the teacher"
        )
    else:
        teacher_source = "annotate ledger (all samples of all teachers)"
    rows = [
        {
            "name": teacher_row_name(teachers),
            "texts_per_s": fmt(rate, 2),
            "usd_per_million": fmt(per_million, 2),
            "source": teacher_source,
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

    base = hub_base_of(info)
    return ModelCardData(
        model_name=repo_id.split("/")[-1],
        base_model=base,
        datasets=[dataset_repo] if dataset_repo else None,
        library_name="transformers",
        pipeline_tag="text-classification",
        **spec.card_license(),  # the Hub refuses a license off its list: sxhub.licenses
        **spec.card_language(),  # a code the Hub accepts (sxhub.card_language)
        tags=["sxhub", "synthetic-expert", "distillation", "text-classification"]
        + (["multi-label-classification"] if spec.multi_label else []),
        metrics=["accuracy", "f1", "krippendorff_alpha"],
        eval_results=results or None,
    )


def hub_base_of(info: Mapping[str, Any]) -> str | None:
    """The card's ``base_model``: the student's base as a Hub id, else the first Hub id among the models that base
    was itself fine-tuned from (``base_lineage``: a student folder used as ``--base``), else None."""
    lineage = info.get("base_lineage")
    for model in [info.get("base_model"), *(lineage if isinstance(lineage, list) else [])]:
        if hub := hub_base_model(model):
            return hub
    return None


def base_lineage_rows(info: Mapping[str, Any]) -> list[dict[str, str | None]]:
    """The models the base was itself fine-tuned from, nearest first, each by its public name and its Hub id (None
    for a local folder), for the card's sentence on how the student was made."""
    lineage = info.get("base_lineage")
    if not isinstance(lineage, list):
        return []
    return [{"name": public_model_name(m), "id": hub_base_model(m)} for m in lineage if isinstance(m, str) and m]


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
    rows += [
        (k, _setting(v) if isinstance(v, float) else fmt(v))
        for k, v in train.items()
        if isinstance(v, (int, float, str, bool)) and v is not None
    ]
    search = train.get("search")
    if isinstance(search, Mapping) and search.get("trials"):
        metric = f" {search['metric']}" if search.get("metric") else ""
        rows.append(
            (
                "hyperparameter search (`--search`)",
                f"best of {len(search['trials'])} trials on the validation{metric} (settings above: the best trial's)",
            )
        )
    if train.get("untuned_labels"):  # multi-label: no positive example in validation, so nothing to tune on
        untuned = ", ".join(f"`{name}`" for name in train["untuned_labels"])
        rows.append(("labels without a validation positive (threshold 0.5, not tuned)", untuned))
    return rows


def _setting(value: float) -> str:
    """A training setting with its significant digits (a learning rate of 2e-5 is not ``0.0000``)."""
    if math.isnan(value) or math.isinf(value):
        return fmt(None) if math.isnan(value) else str(value)
    if abs(value) >= 1000:
        return f"{value:,.1f}"
    return f"{value:.4g}"


# export's note (sxhub.export_int8.choose_int8) when int8 was fitted and checked on the same texts
IN_SAMPLE_INT8 = "fitted on the check texts"
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
    # code spans, as the card's labels table writes them: a name with markup in it (`café *star*`, `<b>x</b>`,
    # fastText's `__label__pos`) was rendered in the variants' rows, and a visitor read a label the model has not
    labels = [f"`{name}`" for name in info.get("labels") or []]
    rerun_margin = margin_values(((variants.get("onnx-int8") or {}).get("recheck") or {}).get("margin"))
    rows = []
    for key, name in VARIANT_NAMES.items():
        v = variants.get(key)
        if v is None:
            continue
        agreement = "reference" if key == "torch" else f"{v['label_agreement']:.2%} of {v['n']:,}"
        recheck = v.get("recheck") or {}
        rerun = ""
        margin = margin_values(recheck.get("margin"))
        if margin is not None:  # int8 as predict serves it: its near-ties rerun on the fp32 export
            rerun = (
                f", texts {describe_margin(margin, labels)} rerun in fp32 "
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
        "recheck": describe_margin(rerun_margin, labels) if rerun_margin is not None else "",
        # why int8 is not served, and whether its agreement above was measured on the texts it was fitted to
        "notes": [n for n in record.get("notes") or () if "is not the default" in n or IN_SAMPLE_INT8 in n],
    }


# -- what the Space says about the expert ---------------------------------------------------------------------
SCORE_KEYS = ("n", "accuracy", "macro_f1", "micro_f1", "krippendorff_alpha")


def teacher_names(info: Mapping[str, Any], spec: TaskSpec | None) -> list[str] | None:
    """The teachers whose votes labelled the student's training data, as cards and the Space name them.

    ``sxhub train`` records them from the votes (``teachers`` in ``sxhub.json``, empty when the labels carried no
    votes); for a folder trained before that record, the teachers its task spec names (``TeacherSpec.name``: no URL
    credentials or queries). None when neither says: never ``$SXHUB_TEACHER`` or the embedded default of the machine
    that publishes, which need not be what labelled the data (``annotate --teacher``).
    """
    recorded = info.get("teachers")
    if isinstance(recorded, list):
        return [str(t) for t in recorded if t]
    if spec is not None and spec.teachers:
        return [t.name or t.model or LOCAL_TEACHER for t in spec.teachers]
    return None


def labelled_by_local(teachers: Sequence[str] | None) -> bool:
    """Whether the embedded SmolLM2 teacher (``local``, which labels at about chance level) is among ``teachers``."""
    return LOCAL_TEACHER in (teachers or ())


def teacher_row_name(teachers: Sequence[str] | None) -> str:
    """The teacher as the card's speed table names it; says so when the teachers are unknown or gave no labels."""
    if teachers:
        return "teacher: " + ", ".join(f"`{t}`" for t in teachers)
    if teachers is None:
        return "teacher: not recorded"
    return "teacher: none (the training labels carry no teacher votes)"


def expert_facts(
    info: Mapping[str, Any],
    spec: TaskSpec | None,
    *,
    evaluations: Mapping[str, Mapping[str, Any]] | None = None,
    speed: Mapping[str, Any] | None = None,
    split: str = "test",
    model_repo: str | None = None,
    dataset_repo: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """What a visitor of the Space should know (JSON-ready): the task, its teachers, the student's base model, its
    scores against the teacher labels and the experts, its measured speed, and the model and dataset repos.
    ``split`` says where the scores come from: ``test`` (the dataset's held-out split), ``validation`` (the training
    run's), or ``given`` (an ``sxhub evaluate`` result on texts the publisher chose).

    Figures that were not given stay out (the Space then says they are unknown); nothing is made up here.
    """
    scores = {
        str(name): {k: _json_number(result.get(k)) for k in SCORE_KEYS if _json_number(result.get(k)) is not None}
        for name, result in (evaluations or {}).items()
    }
    rate = _json_number((speed or {}).get("texts_per_s"))
    facts: dict[str, Any] = {
        "description": spec.description if spec else "",
        # None: not recorded; []: the training labels carried no teacher votes (the Space words the two apart)
        "teachers": teacher_names(info, spec),
        "local_teacher": labelled_by_local(teacher_names(info, spec)),
        "base_model": public_model_name(info.get("base_model")),
        "scores": {name: row for name, row in scores.items() if row},
        "split": split,
        "speed": {"texts_per_s": rate, "source": str((speed or {}).get("source") or "")} if rate else None,
        "model_repo": model_repo,
        "dataset_repo": dataset_repo,
    }
    reference = reference_name(against_column(evaluations or {}))
    if reference != "experts":  # the --gold column scored against, named on the page (people's labels: "experts")
        facts["reference"] = reference
    if note:  # where the scores come from, in the model card's words (which texts were left out, which validated)
        facts["scores_note"] = note
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
