"""The labelled dataset as a typed ``DatasetDict``: the annotate output read without its failed rows
(:func:`load_annotated`, which the Space's examples are picked from too), features, the seeded stratified splits,
and the facts its card states (:func:`build_dataset`). ``sxhub.publish`` writes it as a dataset repo; the model card
scores the student on the same test split."""

from __future__ import annotations

import math
import os
import sys
from collections import Counter
from collections.abc import Mapping
from typing import Any

import pandas as pd

from .data import read_table, with_text_column
from .errors import PublishError
from .labelled import failed_flags, gold_from_flag_columns, has_flag_columns, parse_label_cell, with_flag_labels
from .spec import TaskSpec, load_spec, rejoin_comma_names

VOTE_KEYS = ("teacher", "sample", "labels", "reason", "error", "raw")
SPLITS = ("train", "validation", "test")
_DROPPED = {"failed", "error"}


def _plain(value: Any) -> Any:
    """numpy / pandas cells as plain Python (lists, dicts, None for NaN)."""
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _vote(value: Any) -> dict[str, Any]:
    vote = dict(value) if isinstance(value, Mapping) else {}
    labels = vote.get("labels")
    out: dict[str, Any] = {
        "teacher": str(vote.get("teacher") or ""),
        "sample": int(vote.get("sample") or 0),
        "labels": [str(v) for v in labels] if isinstance(labels, (list, tuple)) else None,
        "reason": str(vote.get("reason") or ""),
        "error": str(vote.get("error") or ""),
        "raw": str(vote.get("raw") or ""),
    }
    scores = vote.get("scores")
    if scores is not None and len(scores):  # a scoring teacher's (sxhub tune's): what `vote: scores` decides on
        out["scores"] = [{"label": str(c["label"]), "p": float(c["p"])} for c in scores]
    return out


def _votes_column(column: pd.Series) -> pd.Series:
    """Every ``votes`` cell as a list of :func:`_vote` dicts, converted cell by cell in place: each cell as read
    (numpy arrays of dicts from parquet) is released as its plain list replaces it, so the votes, the bulk of an
    annotate output, are held once rather than two or three times over (a 1M-row file held ~2 copies at its peak).
    Teacher names repeat in every vote and are interned (one string per teacher, not one per vote)."""
    cells, index = column.to_numpy(dtype=object, copy=True), column.index
    del column
    scored = False
    for i, cell in enumerate(cells):
        votes = []
        for value in _plain(cell) or []:
            vote = _vote(value)
            vote["teacher"] = sys.intern(vote["teacher"])
            scored = scored or "scores" in vote
            votes.append(vote)
        cells[i] = votes
    if scored:  # one vote type for the dataset's features
        for row in cells:
            for v in row:
                v.setdefault("scores", None)
    return pd.Series(cells, index=index, dtype=object)


def load_annotated(source: str | os.PathLike[str] | pd.DataFrame, spec: TaskSpec) -> tuple[pd.DataFrame, int, int]:
    """The annotate output without its failed rows: (frame, rows read, rows failed); list cells as Python lists."""
    frame = source.copy() if isinstance(source, pd.DataFrame) else read_table(source)
    # the layouts train and evaluate read too, so that a file a student was trained on can be scored and published
    frame = with_flag_labels(with_text_column(frame), spec.label_names, spec.multi_label, column=spec.label_column)
    col = spec.label_column
    missing = [c for c in ("text", col) if c not in frame.columns]
    if missing:
        raise PublishError(
            f"the labelled data has no {missing} column(s) (columns: {list(frame.columns)[:12]}); pass the output "
            f"of `sxhub annotate` for this {'multi' if spec.multi_label else 'single'}-label task"
            + (", or a file with one true/false column per label." if spec.multi_label else ".")
        )
    n_input = len(frame)
    failed = failed_flags(frame["failed"]) if "failed" in frame.columns else pd.Series(False, index=frame.index)
    labels = [parse_label_cell(_plain(v), multi_label=spec.multi_label) for v in frame[col]]
    if spec.multi_label:  # a comma-separated cell split a label name with a comma ("joy, pure"): joined again
        labels = [rejoin_comma_names(lab, spec.label_names) if isinstance(lab, list) else lab for lab in labels]
    else:
        failed |= pd.Series([lab is None for lab in labels], index=frame.index)
    frame[col] = labels
    frame = frame[~failed].reset_index(drop=True)
    for c in frame.columns:
        if c == "votes":  # converted once, below: a second whole copy of every vote was most of the peak memory
            continue
        # as objects: put back into a pandas 3 string column, None became NaN, which Arrow refuses as a string
        frame[c] = pd.Series([_plain(v) for v in frame[c]], index=frame.index, dtype=object)
    unknown = sorted({n for v in frame[col] for n in (v if spec.multi_label else [v])} - set(spec.label_names))
    if unknown:
        raise PublishError(f"labels {unknown[:10]} are not in the task's labels {spec.label_names}; fix the spec.")
    if "votes" in frame.columns:
        at = frame.columns.get_loc("votes")  # out of the frame first, so that each cell read can be released
        frame.insert(at, "votes", _votes_column(frame.pop("votes")))
    if len(frame) == 0:
        raise PublishError("nothing to publish: every row failed or has no label; annotate again.")
    return frame, n_input, int(failed.sum())


def dataset_features(frame: pd.DataFrame, spec: TaskSpec) -> Any:
    """Typed features: ClassLabel (or a list of them), the vote structs and agreement; other columns inferred."""
    from datasets import ClassLabel, Features, List, Value
    from datasets.features.features import generate_from_arrow_type

    label = ClassLabel(names=spec.label_names)
    feats: dict[str, Any] = {"text": Value("string"), spec.label_column: List(label) if spec.multi_label else label}
    if "votes" in frame.columns:
        vote = {k: Value("string") for k in VOTE_KEYS}
        vote.update(sample=Value("int32"), labels=List(Value("string")))
        if any("scores" in v for row in frame["votes"] for v in row):  # a scoring teacher's label probabilities
            vote["scores"] = List({"label": Value("string"), "p": Value("float32")})
        feats["votes"] = List(vote)
    if "agreement" in frame.columns:
        per_label = any(isinstance(v, Mapping) for v in frame["agreement"])
        feats["agreement"] = {n: Value("float32") for n in spec.label_names} if per_label else Value("float32")
    import pyarrow as pa

    for col in frame.columns:
        if col not in feats and col not in _DROPPED:
            feats[col] = generate_from_arrow_type(pa.array(frame[col].tolist()).type)
    return Features(feats)


def _stratum(labels: Any, counts: Counter[str]) -> str:
    if isinstance(labels, list):
        return min(labels, key=lambda n: (counts[n], n)) if labels else "(none)"
    return str(labels)


def split_frame(
    frame: pd.DataFrame, spec: TaskSpec, *, seed: int = 42, validation_size: float = 0.1, test_size: float = 0.1
) -> tuple[dict[str, pd.DataFrame], bool]:
    """Seeded train/validation/test split, stratified by label (multi-label: by each row's rarest label)."""
    from sklearn.model_selection import train_test_split

    col = spec.label_column
    n = len(frame)
    counts: Counter[str] = Counter(n for v in frame[col] for n in (v if isinstance(v, list) else [v]))
    keys = [_stratum(v, counts) for v in frame[col]]
    n_test, n_val = (round(n * test_size), round(n * validation_size)) if n >= 10 else (0, 0)
    if n_test == 0 or n_val == 0:  # too few rows for one of the shares (train_test_split refuses a size of 0)
        return {"train": frame}, False
    n_train = n - n_test - n_val
    if n_train < 1:  # --test-size 0.95: a ValueError from scikit-learn, exit 1
        raise PublishError(
            f"a test share of {test_size} and a validation share of {validation_size} leave none of the {n} texts "
            "to train on; pass a smaller --test-size."
        )
    per_key = Counter(keys)
    # every split holds each stratum at least once (a train split of 1 row and 3 labels was a ValueError, exit 1)
    stratified = min(per_key.values()) >= 3 and min(n_test, n_val, n_train) >= len(per_key)
    idx = list(range(n))
    rest, test = train_test_split(idx, test_size=n_test, random_state=seed, stratify=keys if stratified else None)
    rest_keys = [keys[i] for i in rest]
    train, val = train_test_split(rest, test_size=n_val, random_state=seed, stratify=rest_keys if stratified else None)
    parts = {"train": train, "validation": val, "test": test}
    return {name: frame.iloc[sorted(ix)].reset_index(drop=True) for name, ix in parts.items()}, stratified


def build_dataset(
    source: str | os.PathLike[str] | pd.DataFrame,
    spec: TaskSpec | str | os.PathLike[str],
    *,
    seed: int = 42,
    validation_size: float = 0.1,
    test_size: float = 0.1,
) -> tuple[Any, dict[str, Any]]:
    """A typed ``DatasetDict`` (train/validation/test) from annotate output, and the facts the card states."""
    from datasets import Dataset, DatasetDict

    spec = load_spec(spec)
    frame, n_input, n_failed = load_annotated(source, spec)
    features = dataset_features(frame, spec)
    splits, stratified = split_frame(frame, spec, seed=seed, validation_size=validation_size, test_size=test_size)
    cols = list(features)
    dd = DatasetDict(
        {
            name: Dataset.from_dict({c: part[c].tolist() for c in cols}, features=features)
            for name, part in splits.items()
        }
    )
    facts = {"n_input": n_input, "n_failed": n_failed, "stratified": stratified, "seed": seed, "frame": frame}
    facts["splits"] = splits
    return dd, facts


def with_flag_gold(
    source: str | os.PathLike[str] | pd.DataFrame, spec: TaskSpec, gold: str | None
) -> tuple[str | os.PathLike[str] | pd.DataFrame, str | None]:
    """``source`` and its experts' column: ``--gold`` naming one of a multi-label file's true/false label columns (or
    ``labels`` where it has none) reads them all as one list column, ``gold``, as ``run``, ``agree`` and
    ``evaluate`` do (:func:`sxhub.labelled.gold_from_flag_columns`)."""
    if gold is None or not spec.multi_label:
        return source, gold
    frame = source if isinstance(source, pd.DataFrame) else read_table(source)
    if not has_flag_columns(frame, spec.label_names, spec.multi_label):
        return source, gold
    return gold_from_flag_columns(frame, spec.label_names, spec.multi_label, gold, taken=[spec.label_column])
