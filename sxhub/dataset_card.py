"""The dataset card's figures: rows per label and split, the teachers' agreement, gold labels and their
reliability, and the context ``dataset_cards/template.md`` renders."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from . import __version__
from .cards import (
    LABEL_PLOT,
    fmt,
    ledger_cost_note,
    ledger_rows,
    load_ledger,
    metric_rows,
    reference_name,
    size_category,
    table_cell,
    versions,
)
from .errors import PublishError
from .labelled import expert_label_cell
from .prompt import template_text
from .repo import card_load_id, card_revision, hub_link_id
from .spec import Label, TaskSpec


def label_counts(splits: Mapping[str, pd.DataFrame], spec: TaskSpec) -> dict[str, dict[str, int]]:
    """Rows per label in each split."""
    out = {}
    for name, part in splits.items():
        values = part[spec.label_column]
        out[name] = dict(Counter(n for v in values for n in (v if spec.multi_label else [v])))
    return out


def agreement_facts(frame: pd.DataFrame, spec: TaskSpec) -> dict[str, Any]:
    """Mean agreement, its histogram, unanimous texts, ties (re-voted from ``votes``; for ``dawid-skene`` unknown
    here: :func:`dataset_context` takes them from the fit of :func:`reliability_facts`) and failed votes."""
    from .vote import decide, decide_by_scores, mean_agreement

    # per text: the share, or the mean over the labels some vote named (a label all votes left off is not agreement);
    # a text without a valid vote (failed, then labelled by a reviewer) has no share to state, not a share of 0
    cells = list(frame["agreement"]) if "agreement" in frame.columns else [None] * len(frame)
    rule = decide_by_scores if spec.vote == "scores" else decide
    # Dawid-Skene decides every text at once: its ties are counted where it is fitted (reliability_facts, for
    # dataset_context); the majority rule's were shown as the ties of decisions it never made
    weighed = spec.vote == "dawid-skene"
    counted = _vote_counts(frame["votes"], rule, spec) if "votes" in frame.columns and len(frame) else None
    if "votes" in frame.columns:
        voted = counted["voted"] if counted else []
        cells = [c for c, ok in zip(cells, voted, strict=True) if ok]
    means = [m for m in map(mean_agreement, cells) if m is not None]
    buckets = [("< 0.5", 0.0, 0.5), ("0.5 – 0.75", 0.5, 0.75), ("0.75 – 1", 0.75, 1.0 - 1e-9)]
    hist = [(name, sum(lo <= m < hi for m in means)) for name, lo, hi in buckets]
    hist.append(("1 (unanimous)", sum(m >= 1.0 - 1e-9 for m in means)))
    return {
        "mean": fmt(sum(means) / len(means)) if means else fmt(None),
        "unanimous": hist[-1][1] if means else fmt(None),
        "histogram": hist if means else [],
        "ties": fmt(counted["ties"] if counted and not weighed else None),
        "failed_votes": fmt(counted["failed_votes"] if counted else None),
        "n_votes": fmt(counted["n_votes"] if counted else None),
        "teachers": counted["teachers"] if counted else [],
        # the samples per teacher and text the votes hold: `--samples` may have overridden the spec's
        "samples": counted["samples"] if counted else None,
    }


def _vote_counts(column: pd.Series, rule: Any, spec: TaskSpec) -> dict[str, Any]:
    """Per text whether some vote gave labels; ties (re-voted by ``rule``), failed votes, votes, teachers (in order
    of first vote) and the most samples of one teacher on one text, counted a batch of texts at a time (a votes
    column kept as Arrow is never whole Python, and its reasons are left unread)."""
    from .vote import vote_teachers
    from .votes_column import vote_batches

    ties = failed = n_votes = 0
    voted: list[bool] = []
    teachers: dict[str, None] = {}
    samples: int | None = None
    for batch in vote_batches(column, fields=("teacher", "labels", "error", "scores")):
        voted += [any(v.get("labels") is not None for v in row or ()) for row in batch]
        ties += sum(rule(v, spec.label_names, spec.multi_label).tie for v in batch)
        failed += sum(v["labels"] is None for row in batch for v in row)
        n_votes += sum(len(row) for row in batch)
        teachers.update(dict.fromkeys(vote_teachers(batch)))
        most = max(
            (max(Counter(v["teacher"] for v in row).values()) for row in batch if row is not None and len(row)),
            default=None,
        )
        if most is not None:
            samples = most if samples is None else max(samples, most)
    return {
        "voted": voted,
        "ties": ties,
        "failed_votes": failed,
        "n_votes": n_votes,
        "teachers": list(teachers),
        "samples": samples,
    }


def check_gold_column(gold: str, spec: TaskSpec, columns: Any) -> None:
    """The expert column must exist and not be the teachers' label column (scored against itself, a card would
    claim perfect agreement)."""
    if gold not in columns:
        raise PublishError(
            f"gold column {gold!r} not found; columns are {list(columns)[:12]}; pass --gold (Python: gold=) with the "
            "column that holds the experts' labels."
        )
    if gold == spec.label_column:
        raise PublishError(
            f"--gold {gold!r} (Python: gold=) is the teachers' label column; pass the column that holds the experts' labels (sxhub "
            "run --gold keeps an expert 'label' column as 'gold')."
        )


def gold_facts(frame: pd.DataFrame, spec: TaskSpec, gold: str) -> dict[str, Any]:
    """Teacher labels scored against the expert column ``gold`` with ``sxhub.metrics.score``.

    Reviewed data (``apply-review``) is scored on the teachers' own labels (``teacher_label``), leaving out texts
    the teachers gave none; the label column, which people changed, is scored apart as ``reviewed``.
    """
    from .metrics import UNSCORED_NOTE, score, unscored_labels
    from .review_apply import pre_review_labels

    check_gold_column(gold, spec, frame.columns)
    cells = [expert_label_cell(g, multi_label=spec.multi_label) for g in frame[gold]]
    n = sum(g is not None for g in cells)
    if not n:
        raise PublishError(f"gold column {gold!r} is empty; pass a column that holds expert labels.")
    final = frame[spec.label_column].tolist()
    teacher = pre_review_labels(frame, spec)

    def scored(labels: list[Any]) -> dict[str, Any] | None:
        pairs = [(g, p) for g, p in zip(cells, labels, strict=True) if g is not None and p is not None]
        if not pairs:
            return None
        return score([g for g, _ in pairs], [p for _, p in pairs], spec.label_names, spec.multi_label)

    result = scored(final if teacher is None else teacher)
    unscored = set(unscored_labels(result)) if result else set()  # no expert text has it, no teacher gave it
    per_label = [
        (name, {k: ("–" if name in unscored and k != "support" else fmt(v)) for k, v in row.items()})
        for name, row in (result or {}).get("per_label", {}).items()
    ]
    facts = {
        "column": gold,
        "n": n,
        "figures": metric_rows(result) if result else [],
        "per_label": per_label,
        "unscored_note": UNSCORED_NOTE if unscored else None,
        "result": result,
        "reviewed": None,
    }
    if teacher is not None:
        after = scored(final)
        multi = spec.multi_label
        changed = sum((set(t or []) != set(f or [])) if multi else t != f for t, f in zip(teacher, final, strict=True))
        facts["reviewed"] = {"figures": metric_rows(after) if after else [], "result": after, "n_changed": changed}
    return facts


def reliability_facts(frame: pd.DataFrame, spec: TaskSpec, gold: str | None) -> dict[str, Any] | None:
    """Each teacher's and sample's reliability (``sxhub.reliability``) as card rows; ``None`` without votes."""
    from .reliability import teacher_reliability
    from .votes_column import VoteRows

    if "votes" not in frame.columns:
        return None
    experts = [expert_label_cell(v, multi_label=spec.multi_label) for v in frame[gold]] if gold else None
    result = teacher_reliability(
        VoteRows(frame["votes"], fields=("teacher", "sample", "labels", "error", "scores")),
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
    return {"rows": rows, "gold": gold is not None, "versus": versus, "ties": result.get("ties")}


def _reviewed(dd: Any) -> bool:
    """Whether people set some labels (``sxhub apply-review``'s ``label_source`` ``human``): the card's metadata said
    ``machine-generated`` alone for them, while its text says who reviewed them. The reviewers of ``sxhub review``
    are the task's own people, so ``expert-generated`` (hub-docs datasetcard.md's values), not ``crowdsourced``."""
    from .review import SOURCE_COLUMN

    return any(
        SOURCE_COLUMN in split.column_names and "human" in set(split.unique(SOURCE_COLUMN)) for split in dd.values()
    )


def dataset_card_data(
    dd: Any, spec: TaskSpec, *, repo_id: str, has_votes: bool = True, download_size: int | None = None
) -> Any:
    """YAML metadata: license, language, task, size, tags, and the ``configs`` / ``dataset_info`` push_to_hub writes:
    each split's ``num_bytes`` (its Arrow table's size), ``dataset_size``, and ``download_size`` (the bytes of the
    data files written, when given); the card said ``num_bytes: 0`` for every split.

    ``has_votes``: the labels carry teacher votes (``sxhub annotate`` output). Without them the labels came with the
    file (``found``), whoever gave them: the card claimed ``machine-generated`` and ``llm-labelled`` for them."""
    from datasets import DatasetInfo, SplitDict, SplitInfo
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCardData

    n = sum(len(d) for d in dd.values())
    data = DatasetCardData(
        **spec.card_license(),  # the Hub refuses a license off its list: sxhub.licenses
        **spec.card_language(),  # a code the Hub accepts (sxhub.card_language)
        task_categories=["text-classification"],
        task_ids=["multi-label-classification" if spec.multi_label else "multi-class-classification"],
        size_categories=[size_category(n)],
        annotations_creators=["machine-generated" if has_votes else "found", *(["expert-generated"] * _reviewed(dd))],
        pretty_name=_pretty(spec.name),
        tags=["synthetic", "sxhub", *(["llm-labelled"] if has_votes else []), "distillation"],
    )
    configs = [{"split": s, "path": f"data/{s}-*"} for s in dd]
    MetadataConfigs({"default": {"data_files": configs}}).to_dataset_card_data(data)
    splits = SplitDict()
    for name, ds in dd.items():
        splits.add(SplitInfo(name=name, num_bytes=ds.data.nbytes, num_examples=len(ds)))
    dataset_size = sum(split.num_bytes for split in splits.values())
    info = DatasetInfo(
        features=next(iter(dd.values())).features,
        splits=splits,
        config_name="default",
        download_size=download_size,
        dataset_size=dataset_size,
        size_in_bytes=None if download_size is None else download_size + dataset_size,
    )
    DatasetInfosDict({"default": info}).to_dataset_card_data(data)
    return data


WRITTEN_COLUMNS = {  # what `sxhub generate` adds beside each text it wrote (the card said "kept from the input")
    "prompted_label": "the label the text was written for (the vote, `label`, may differ)",
    "topic": "the topic it was written about (empty: none given)",
    "teacher": "the model that wrote it",
}


def written_facts(frame: pd.DataFrame, ledger: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Whether the texts were written by ``sxhub generate`` (its own ledger names its ``writers``; an annotate of
    its saved texts carries that ledger as ``written``; or the frame has its ``prompted_label``), and by whom: the
    card read as one of real texts an LLM labelled. None for other texts."""
    ledger = ledger or {}
    own = "writers" in ledger
    carried = ledger.get("written") if isinstance(ledger.get("written"), Mapping) else None
    prompted = "prompted_label" in frame.columns
    if not (own or carried is not None or prompted):
        return None
    writers = (ledger if own else carried or {}).get("writers") or []
    return {"writers": [str(w) for w in writers], "own_ledger": own, "prompted": prompted}


def _pretty(name: str) -> str:
    return " ".join(part.capitalize() for part in name.replace("_", "-").split("-") if part)


def text_lengths(frame: pd.DataFrame) -> list[dict[str, str]]:
    """The published texts' lengths in words and in characters (min, median, 95th percentile, max), for the card:
    it gave rows and labels only, so a reader could not tell tweets from multi-page articles (which a student cuts
    at its max_length) without downloading the data."""
    texts = frame["text"].astype(str) if "text" in frame.columns and len(frame) else None
    if texts is None:
        return []
    rows = []
    for unit, values in (("words", texts.str.split().str.len()), ("characters", texts.str.len())):
        q = values.quantile([0.5, 0.95])
        rows.append(
            {
                "unit": unit,
                "min": f"{int(values.min()):,}",
                "median": f"{q.iloc[0]:,.0f}",
                "p95": f"{q.iloc[1]:,.0f}",
                "max": f"{int(values.max()):,}",
            }
        )
    return rows


def dataset_context(
    spec: TaskSpec,
    split_sizes: Mapping[str, int],
    facts: dict[str, Any],
    counts: dict[str, dict[str, int]],
    agreement: dict[str, Any],
    *,
    repo_id: str,
    gold: str | None,
    ledger: str | Path | Mapping[str, Any] | None,
    revision: str | None = None,
) -> dict[str, Any]:
    frame = facts["frame"]
    teachers = agreement["teachers"] or [t.model or t.name for t in spec.default_teachers()]
    from .review import REVIEW_COLUMNS
    from .review_apply import review_facts

    review = review_facts(frame, spec)
    reliability = reliability_facts(frame, spec, gold)
    if spec.vote == "dawid-skene" and reliability is not None:  # its ties, counted where Dawid-Skene was fitted
        agreement = {**agreement, "ties": fmt(reliability["ties"])}
    bill = load_ledger(ledger)
    known = {"text", spec.label_column, "votes", "agreement", "failed", "error", *(REVIEW_COLUMNS if review else ())}
    return {
        "repo_id": card_load_id(repo_id),  # a bare name (sxhub run without --push): NAMESPACE/name, said so
        "unpushed": hub_link_id(repo_id) is None,
        "load_revision": card_revision(revision),  # the branch pushed to (--revision), which load_dataset must name
        "pretty_name": _pretty(spec.name),
        "description": spec.description,
        "multi_label": spec.multi_label,
        "label_column": spec.label_column,
        "labels": [Label(lab.name, table_cell(lab.description)) for lab in spec.labels],
        "split_sizes": dict(split_sizes),
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
        "text_lengths": text_lengths(frame),
        "plot_file": LABEL_PLOT,
        "teachers": teachers,
        "samples": agreement["samples"] or spec.samples,
        "temperature": spec.temperature,
        "reasoning": spec.reasoning,
        "prompt_template": template_text(spec.prompt_template) if spec.prompt_template else None,
        "n_examples": len(spec.examples),
        "answer_schema": json.dumps(spec.answer_schema(), indent=2),
        "agreement": agreement,
        "gold": gold_facts(frame, spec, gold) if gold else None,
        "reference": reference_name(gold),  # "experts", or the --gold column when it is not named for people
        "vote": spec.vote,
        "reliability": reliability,
        "ledger": ledger_rows(bill),
        "ledger_note": ledger_cost_note(bill),
        "has_votes": "votes" in frame.columns,
        "has_agreement": "agreement" in frame.columns,
        "review": review,
        "extra_columns": [c for c in frame.columns if c not in known],
        "written": (written := written_facts(frame, bill)),
        "written_columns": WRITTEN_COLUMNS if written else {},
        "sxhub_version": __version__,
        "versions": versions(),
    }
