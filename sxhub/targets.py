"""What the student learns from: checks, the validation split (stratified, or a validation file), hard and soft
targets, loss weights.

Kept apart from :mod:`sxhub.train_local` (the Trainer wiring) so that each stays short.
"""

from __future__ import annotations

import json
import logging
import math
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from .errors import InputError
from .labelled import LabelledData
from .vote import mean_agreement, score_distribution, vote_error

logger = logging.getLogger(__name__)

MIN_ROWS = 4
MAX_POS_WEIGHT = 10.0


def same_text_key(text: str) -> str:
    """What makes two texts the same text for the split and the validation file: Unicode-normalised (NFKC),
    case-folded, runs of spaces as one. Keyed on the exact string, 'Profit rose.' and 'PROFIT ROSE.  ' (a
    re-scraped or re-cased copy) landed on both sides: the default base is uncased, so it saw the same tokens in
    training and validation, and the scores, the epoch kept and the thresholds rewarded memorising them."""
    return " ".join(unicodedata.normalize("NFKC", text).split()).casefold()


def check_trainable(data: LabelledData, *, learner: str = "the student (a classifier)") -> None:
    """One clear error when the data cannot train ``learner``, the model the line names: train's student, or tune's
    synthetic model (which was told "a classifier needs at least two classes", train's wording)."""
    n = len(data.texts)
    if n < MIN_ROWS:
        raise InputError(f"only {n} labelled row(s); training needs at least {MIN_ROWS} (more than 100 is better).")
    if data.multi_label:
        present = {lab for row in data.labels for lab in row}
        if not present:
            raise InputError(f"no row has any label; {learner} needs positive examples (label more texts).")
        if len({tuple(sorted(row)) for row in data.labels}) < 2:
            raise InputError(
                f"every row has the same label set; {learner} needs at least two different ones (label more texts)."
            )
    else:
        counts = Counter(data.labels)
        if len(counts) < 2:
            only = next(iter(counts))
            raise InputError(
                f"every row has the label {only!r}; {learner} needs texts of at least two labels to tell them apart "
                "(label more texts, of the task's other labels)."
            )


def keep_agreed(data: LabelledData, min_agreement: float | None) -> LabelledData:
    """``data`` without the rows whose teachers agreed less than ``min_agreement`` (``train --min-agreement``).

    A row's agreement is its one number (:func:`sxhub.vote.mean_agreement`: the share or confidence of the winner;
    multi-label, the mean over the labels some vote named), the number the dataset card's histogram shows. Rows
    without one (an expert-labelled row concatenated with sxhub's output) were not voted on and are kept, and so
    are rows a person labelled (``label_source`` ``human``, from ``sxhub apply-review``): their ``agreement`` is
    still the teachers', and review puts the least agreed rows first, so the filter would drop exactly the labels
    people fixed. The count left out goes into the training notes (:func:`data_notes`).
    """
    if min_agreement is None:
        return data
    if "agreement" not in data.frame.columns:
        raise InputError(
            "--min-agreement reads the 'agreement' column of sxhub's labelled output (annotate, generate); this "
            "data has none: drop the option or label the texts with sxhub annotate."
        )
    values = [mean_agreement(cell) for cell in data.frame["agreement"].tolist()]
    # a hair of tolerance: a share written as text (a CSV cell) may read back a rounding below the threshold
    frame = data.frame
    human = frame["label_source"].astype(str).eq("human") if "label_source" in frame.columns else [False] * len(frame)
    kept = [
        i
        for i, (value, by_person) in enumerate(zip(values, human, strict=True))
        if by_person or value is None or value >= min_agreement - 1e-9
    ]
    if not kept:
        top = max(v for v in values if v is not None)
        raise InputError(
            f"every row's agreement is below {min_agreement:g} (the highest is {top:.3f}); lower --min-agreement."
        )
    return replace(
        data,
        texts=[data.texts[i] for i in kept],
        labels=[data.labels[i] for i in kept],
        frame=data.frame.iloc[kept].reset_index(drop=True),
        source_rows=None if data.source_rows is None else data.source_rows[kept],
        n_low_agreement=len(values) - len(kept),
        min_agreement=min_agreement,
    )


def data_notes(data: LabelledData) -> list[str]:
    """What reading the data left out, as notes for the training summary and ``sxhub.json`` (empty when nothing)."""
    notes = []
    if data.n_empty_text:
        notes.append(f"{data.n_empty_text} row(s) without a text (empty or NaN) were left out.")
    if data.n_failed:
        notes.append(f"{data.n_failed} failed row(s) (no teacher label) were left out.")
    if data.n_flagged_twins:
        notes.append(
            f"{data.n_flagged_twins} twin(s) that failed a check of sxhub twins (ok false: a name kept, the meaning or "
            "the label lost, wording copied; see 'flags') were left out."
        )
    if data.n_no_label:
        notes.append(f"{data.n_no_label} row(s) with an empty label cell were left out.")
    if data.min_agreement is not None:
        notes.append(
            f"{data.n_low_agreement} row(s) with agreement below {data.min_agreement:g} were left out (--min-agreement)."
        )
    if data.n_validation:
        dropped = data.n_validation_dropped
        notes.append(
            f"Validated on the {data.n_validation} row(s) of the validation file (--validation)"
            + (
                f"; {dropped} other row(s) of it (failed, or without a text or a label) were left out."
                if dropped
                else "."
            )
        )
    if data.n_in_validation:
        notes.append(
            f"{data.n_in_validation} training row(s) whose text is also in the validation file were left out of "
            "training."
        )
    return notes


def with_validation(data: LabelledData, validation: LabelledData) -> LabelledData:
    """``data`` with ``validation``'s rows appended as its held-out set (``train --validation FILE``).

    :func:`holdout` then validates on exactly those rows and trains on all the others. A training row whose text
    is also a validation text (up to case and spacing, :func:`same_text_key`) is left out, so that validation scores a text never trained on; the count
    goes into the training notes. Typical use: synthetic or teacher-labelled rows to learn from, expert-labelled
    rows to pick the epoch and tune the thresholds on.
    """
    if validation.label_names != data.label_names or validation.multi_label != data.multi_label:
        raise InputError(
            f"the validation file's labels {validation.label_names} do not match the training data's "
            f"{data.label_names}; fix the file or the spec."
        )
    held = {same_text_key(text) for text in validation.texts}
    kept = [i for i, text in enumerate(data.texts) if same_text_key(text) not in held]
    if len(kept) < MIN_ROWS:
        raise InputError(
            f"{len(data.texts) - len(kept)} of the {len(data.texts)} training rows are also in the validation file, "
            f"which leaves {len(kept)} to train on; validate on texts that are not in the training data."
        )
    import pandas as pd

    # only the columns the training rows have: validation scores the labels alone, and a column that only the file
    # holds (its votes, agreement) would otherwise make the training rows look as if theirs were missing; e.g.
    # --soft-labels on a file without votes would then train on hard labels without a word
    shared = [column for column in validation.frame.columns if column in data.frame.columns]
    frame = pd.concat([data.frame.iloc[kept], validation.frame[shared]], ignore_index=True)
    return replace(
        data,
        texts=[data.texts[i] for i in kept] + validation.texts,
        labels=[data.labels[i] for i in kept] + validation.labels,
        frame=frame,
        source_rows=None if data.source_rows is None else data.source_rows[kept],  # the training rows'
        n_validation=len(validation.texts),
        n_in_validation=len(data.texts) - len(kept),
        n_validation_dropped=validation.n_failed + validation.n_empty_text + validation.n_no_label,
    )


def holdout(
    data: LabelledData, *, val_size: float, seed: int, trained_before: Sequence[bool] | np.ndarray | None = None
) -> tuple[list[int], list[int]]:
    """Training and validation rows: the validation file's rows where one was given (:func:`with_validation`),
    else a stratified ``val_size`` share (:func:`split_indices`; ``trained_before`` marks the rows a ``--base``
    student was trained on, kept out of validation there)."""
    if data.n_validation:
        n_train = len(data.texts) - data.n_validation
        return list(range(n_train)), list(range(n_train, len(data.texts)))
    return split_indices(data, val_size=val_size, seed=seed, trained_before=trained_before)


def stratify_keys(data: LabelledData) -> list[str]:
    """The key to stratify on: the label (single-label) or the rarest label present in the row (multi-label)."""
    if not data.multi_label:
        return [str(lab) for lab in data.labels]
    freq = Counter(lab for row in data.labels for lab in row)
    return [min(row, key=lambda lab: (freq[lab], lab)) if row else "<none>" for row in data.labels]


def split_indices(
    data: LabelledData, *, val_size: float, seed: int, trained_before: Sequence[bool] | np.ndarray | None = None
) -> tuple[list[int], list[int]]:
    """A stratified train/validation split (rare keys folded together; random when stratifying is impossible).

    Rows that repeat a text (the same text twice in a file, or texts that cleaning made equal; up to case and
    spacing, :func:`same_text_key`) stay on one side:
    split by rows, a repeated text was trained on and scored as validation too, which flattered the checkpoint
    and threshold choices. The texts are split by their first row's key; without repeats this is the row split.

    ``trained_before`` (one flag per row): texts a ``--base`` student already learned from, which stay on the
    training side when the other texts are enough to validate on. Training further on a file that holds the base's
    texts and new ones, about a third of the validation texts were the base's training texts: the epoch kept, the
    thresholds and the validation score then rewarded what the base had memorised."""
    keys = stratify_keys(data)
    first: dict[str, int] = {}  # each text's first row, in order of appearance
    keys_of = [same_text_key(text) for text in data.texts]  # copies that differ in case or spacing are one text
    for i, text in enumerate(keys_of):
        first.setdefault(text, i)
    seen = list(trained_before) if trained_before is not None and any(trained_before) else None
    if len(first) == len(data.texts):
        return _split_rows(keys, val_size=val_size, seed=seed, seen=seen)
    logger.info("%d rows repeat a text: each text's rows stay on one side of the split", len(data.texts) - len(first))
    heads = list(first.values())
    head_seen = None if seen is None else [seen[i] for i in heads]
    _, val_heads = _split_rows([keys[i] for i in heads], val_size=val_size, seed=seed, seen=head_seen)
    val_texts = {keys_of[heads[j]] for j in val_heads}
    train_idx = [i for i, text in enumerate(keys_of) if text not in val_texts]
    val_idx = [i for i, text in enumerate(keys_of) if text in val_texts]
    return train_idx, val_idx


def _split_rows(
    keys: list[str], *, val_size: float, seed: int, seen: list[bool] | None = None
) -> tuple[list[int], list[int]]:
    """Stratified by ``keys``. A key held by one row only (a label with a single example) is trained on: drawn into
    validation it left the student without any example of its label, and folded with the other rare keys it alone
    could make the whole split random. Where those rows would leave too few to validate on, all rows are split.
    The rows ``seen`` marks (a base student's training texts) are trained on, and the validation rows drawn from
    the others, where those are enough (else all rows are split, and :func:`sxhub.train.train` says so)."""
    n = len(keys)
    n_val = max(1, round(n * val_size))
    if n - n_val < 2:
        raise InputError(f"{n} rows are too few to split off a validation set of {val_size:.0%}; label more texts.")
    fresh = [i for i in range(n) if seen is None or not seen[i]]
    if seen is not None and len(fresh) >= n_val + 2:
        train_fresh, val_fresh = _split_counted([keys[i] for i in fresh], n_val=n_val, seed=seed)
        old = [i for i in range(n) if seen[i]]
        return sorted(old + [fresh[j] for j in train_fresh]), sorted(fresh[j] for j in val_fresh)
    return _split_counted(keys, n_val=n_val, seed=seed)


def _split_counted(keys: list[str], *, n_val: int, seed: int) -> tuple[list[int], list[int]]:
    """:func:`_split_rows` once the number of validation rows is fixed."""
    n = len(keys)
    counts = Counter(keys)
    single = [i for i, k in enumerate(keys) if counts[k] == 1]
    if single and n - len(single) >= n_val + 2:
        rest = [i for i, k in enumerate(keys) if counts[k] > 1]
        train_rest, val_rest = _split_rows_stratified([keys[i] for i in rest], n_val=n_val, seed=seed)
        return sorted(single + [rest[j] for j in train_rest]), sorted(rest[j] for j in val_rest)
    return _split_rows_stratified(keys, n_val=n_val, seed=seed)


def _split_rows_stratified(keys: list[str], *, n_val: int, seed: int) -> tuple[list[int], list[int]]:
    from sklearn.model_selection import train_test_split

    n = len(keys)
    counts = Counter(keys)
    keys = [k if counts[k] >= 2 else "<rare>" for k in keys]
    counts = Counter(keys)
    can_stratify = min(counts.values()) >= 2 and n_val >= len(counts) and n - n_val >= len(counts)
    if not can_stratify:
        logger.warning("too few rows per label to stratify the validation split; splitting at random")
    train_idx, val_idx = train_test_split(
        np.arange(n), test_size=n_val, random_state=seed, stratify=keys if can_stratify else None
    )
    return sorted(train_idx.tolist()), sorted(val_idx.tolist())


def vote_shares(data: LabelledData) -> np.ndarray:
    """Per row, the share of valid votes for each label (single-label: a distribution; multi-label: per label).

    A vote that carries label scores (the tuned teacher's, ``scores``) counts as its probabilities instead of a
    one-hot of its label: the mean over a text's votes is then the teacher's own distribution, not an estimate of
    it from a few samples.

    A row a person corrected (``label_source == "human"``, written by ``sxhub apply-review``) keeps its hard label:
    the teachers' votes are what the reviewer overruled.
    """
    if "votes" not in data.frame.columns:
        raise InputError(
            "--soft-labels needs a 'votes' column (the output of sxhub annotate); drop --soft-labels to train on "
            "the labels."
        )
    from .reliability import plain_votes

    index = {name: i for i, name in enumerate(data.label_names)}
    hard = hard_targets(data)
    shares = np.zeros_like(hard)
    sources = data.frame["label_source"].tolist() if "label_source" in data.frame.columns else [None] * len(hard)
    n_voted = 0  # rows whose shares come from their votes
    for row, (cell, source) in enumerate(zip(data.frame["votes"].tolist(), sources, strict=True)):
        if source == "human":
            shares[row] = hard[row]
            continue
        # a 'votes' column that is not sxhub's (a count of raters, free text) is said in one line: read leniently,
        # every row fell back to its own label, and a hard-label model was saved as trained on soft labels (exit 0)
        try:
            cell_votes = plain_votes(cell)
        except InputError as exc:
            raise InputError(f"--soft-labels reads the 'votes' column: {exc} Or drop --soft-labels.") from exc
        votes = [v for v in cell_votes if v.get("labels") is not None]
        # the votes the vote rule counts: a single-label vote naming 0 or 2 labels was counted here (as its first
        # label, or as nothing with its share in the denominator), so the shares disagreed with the vote
        valid = [(v, _as_list(v.get("labels"))) for v in votes]
        valid = [
            (v, labs) for v, labs in valid if not vote_error({"labels": labs}, data.label_names, data.multi_label)
        ]
        if not valid:
            shares[row] = hard[row]  # no usable vote: the row's own label
            continue
        n_voted += 1
        for vote, labs in valid:
            distribution = score_distribution(vote, data.label_names, data.multi_label)
            if distribution is not None:
                for name, p in distribution.items():
                    shares[row, index[name]] += p
                continue
            for lab in dict.fromkeys(labs):  # a label named twice in one vote counts once, as in the vote
                shares[row, index[lab]] += 1.0
        shares[row] /= len(valid)
    if not n_voted:
        raise InputError(
            "--soft-labels: no row's 'votes' cell holds a valid teacher vote, so there are no vote shares to learn "
            "from (only the labels); drop --soft-labels, or pass sxhub annotate's output with its votes."
        )
    return shares


def _as_list(value: Any) -> list[Any]:
    """A votes cell as a list: empty for a row without votes (None, or NaN in a file that joins rows with votes and
    rows without, such as expert rows beside annotated ones)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, str):
        stripped = value.strip()
        if not stripped:
            return []
        value = json.loads(value) if stripped.startswith("[") else [value]
    if hasattr(value, "tolist"):
        value = value.tolist()
    return list(value)


def hard_targets(data: LabelledData) -> np.ndarray:
    if data.multi_label:
        return np.asarray(data.multi_hot(), dtype=np.float32)
    return np.eye(len(data.label_names), dtype=np.float32)[data.label_ids()]


def _labels_absent(data: LabelledData, rows: list[int]) -> tuple[list[str], str]:
    """The task's labels that none of ``rows`` has, and the pronoun for them ("it" or "them")."""
    counts = hard_targets(data)[rows].sum(axis=0)
    missing = [name for name, n in zip(data.label_names, counts, strict=True) if n == 0]
    return missing, "it" if len(missing) == 1 else "them"


def unlearnable_note(data: LabelledData, train_idx: list[int]) -> str:
    """A warning when some of the task's labels have no training example (an empty string when all have one): the
    student keeps an output for such a label but never sees it, so it (almost) never predicts it, silently."""
    missing, them = _labels_absent(data, train_idx)
    if not missing:
        return ""
    return (
        f"No training text has the label(s) {missing}: the student cannot learn {them} and will (almost) never "
        f"predict {them}; label more texts of {them}, or drop {them} from the task."
    )


def always_on_note(data: LabelledData, train_idx: list[int]) -> str:
    """A warning when a multi-label task's label is on in every training text (an empty string otherwise): the
    student learns to say it whatever the text, so it tells nothing apart (often a default a labelling step added
    to every row)."""
    if not data.multi_label or not train_idx:
        return ""
    counts = hard_targets(data)[train_idx].sum(axis=0)
    always = [name for name, n in zip(data.label_names, counts, strict=True) if n == len(train_idx)]
    if not always:
        return ""
    them = "it" if len(always) == 1 else "them"
    return (
        f"Every training text has the label(s) {always}: the student learns to predict {them} for every text; "
        f"label texts without {them}, or drop {them} from the task."
    )


def conflicting_note(data: LabelledData) -> str:
    """A warning when one text (as cleaned) has rows with different labels (an empty string when none has): each
    row is trained on as given, so the student is taught both answers for the same input."""
    seen: dict[str, set[Any]] = {}
    for text, label in zip(data.texts, data.labels, strict=True):
        seen.setdefault(text, set()).add(tuple(sorted(label)) if data.multi_label else label)
    conflicting = [text for text, labels in seen.items() if len(labels) > 1]
    if not conflicting:
        return ""
    first = conflicting[0]
    labels = sorted(seen[first], key=str)
    shown = ", ".join(str(list(lab)) if data.multi_label else str(lab) for lab in labels)
    return (
        f"{len(conflicting)} text(s) have rows with different labels (e.g. {first[:60]!r}: {shown}); each row is "
        "trained on as given, so the student learns both answers; keep one row per text, with the label it should "
        "have."
    )


def unscored_note(data: LabelledData, val_idx: list[int]) -> str:
    """A warning when a single-label task's labels have no validation text (an empty string when all have one, and
    for multi-label tasks, whose untuned thresholds say it): macro-F1 then averages the other labels only, so the
    validation score and the checkpoint chosen by it say nothing of how the student predicts those."""
    if data.multi_label:
        return ""
    missing, them = _labels_absent(data, val_idx)
    if not missing:
        return ""
    return (
        f"No validation text has the label(s) {missing}: the validation scores (and the epoch kept) do not measure "
        f"how the student predicts {them}; label more texts of {them}, or validate on a file that has {them} "
        "(--validation)."
    )


def loss_weights(data: LabelledData, train_idx: list[int]) -> np.ndarray:
    """Balanced class weights (single-label) or pos_weight = negatives / positives, capped (multi-label)."""
    hard = hard_targets(data)[train_idx]
    positives = hard.sum(axis=0)
    if data.multi_label:
        negatives = len(train_idx) - positives
        return np.clip(negatives / np.maximum(positives, 1.0), 1.0, MAX_POS_WEIGHT).astype(np.float32)
    weights = len(train_idx) / (len(data.label_names) * np.maximum(positives, 1.0))
    return np.where(positives > 0, weights, 1.0).astype(np.float32)


# --------------------------------------------------------------------------------------------------------------
# trainer
# --------------------------------------------------------------------------------------------------------------


def tokenized_dataset(tokenizer: Any, texts: list[str], targets: Any, max_length: int) -> Any:
    from datasets import Dataset

    ds = Dataset.from_dict({"text": texts, "labels": targets})
    return ds.map(
        lambda batch: tokenizer(batch["text"], truncation=True, max_length=max_length),
        batched=True,
        remove_columns=["text"],
        desc="tokenizing",
    )


# --------------------------------------------------------------------------------------------------------------
# the stage
# --------------------------------------------------------------------------------------------------------------
