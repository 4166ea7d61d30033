"""Scoring the student on its validation split: the metrics after each epoch, per-label decision thresholds.

Single-label students are scored by accuracy and macro F1. Multi-label students get one decision threshold per
label, tuned on validation for pooled micro-F1 (:func:`tune_thresholds_micro`, saved with the model), and are scored
with them honestly:
cross-fitted (:func:`cross_fitted_predictions`), thresholds tuned on one half of validation and scored on the other.
The best checkpoint and early stopping follow :func:`best_metric_name`. :mod:`sxhub.train_local` wires these into the
Trainer (:func:`metrics_fn`) and records :func:`validate`'s figures; numpy at import, scikit-learn when scoring.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .activations import sigmoid
from .spec import TaskSpec

THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.025), 3)
THRESHOLD_SCORING = "cross-fitted: thresholds tuned on one half of validation, scored on the other, both ways"
# what sxhub.json's train.validation says of the thresholds a student saved (absent: each label's own F1, before
# 2026-12-04); the model card repeats it
THRESHOLD_FIT = "pooled micro-F1"


def best_metric_name(multi_label: bool) -> str:
    """The validation metric early stopping and the best checkpoint follow."""
    return "micro_f1" if multi_label else "macro_f1"


def metrics_fn(multi_label: bool, label_names: list[str] | None = None, seed: int = 42) -> Any:
    """Validation metrics after each epoch. Multi-label checkpoints are compared as they will be used, with tuned
    per-label thresholds: ``micro_f1`` is cross-fitted (thresholds tuned on one half of validation, scored on the
    other, :func:`cross_fitted_predictions`), so the choice of checkpoint does not reward thresholds fitted to the
    rows they are scored on; ``micro_f1_at_0.5`` is the untuned figure."""
    from sklearn.metrics import accuracy_score, f1_score

    def compute(eval_pred: Any) -> dict[str, float]:
        logits, labels = eval_pred.predictions, eval_pred.label_ids
        if isinstance(logits, tuple):
            logits = logits[0]
        if multi_label:
            probs = sigmoid(logits)
            gold = (labels >= 0.5).astype(int)
            at_half = (probs >= 0.5).astype(int)
            names = label_names or [str(j) for j in range(gold.shape[1])]
            pred = cross_fitted_predictions(probs, gold, names, seed) if len(gold) >= 2 else at_half
            return {
                "micro_f1": float(f1_score(gold, pred, average="micro", zero_division=0)),
                "macro_f1": float(f1_score(gold, pred, average="macro", zero_division=0)),
                "micro_f1_at_0.5": float(f1_score(gold, at_half, average="micro", zero_division=0)),
            }
        gold = labels.argmax(-1) if labels.ndim == 2 else labels
        pred = logits.argmax(-1)
        return {
            "accuracy": float(accuracy_score(gold, pred)),
            "macro_f1": float(f1_score(gold, pred, average="macro", zero_division=0)),
        }

    return compute


def untuned_labels(gold: np.ndarray, label_names: list[str]) -> list[str]:
    """Labels without a positive example in ``gold``: nothing to tune on, so their threshold stays 0.5."""
    return [name for j, name in enumerate(label_names) if not gold[:, j].any()]


FEW_POSITIVES = 5  # validation positives below which a label's tuned threshold is said to rest on a handful


def thinly_tuned(gold: np.ndarray, label_names: list[str]) -> dict[str, int]:
    """Labels with some but fewer than :data:`FEW_POSITIVES` positives in ``gold`` (name: count): their thresholds
    are tuned, but on one to four texts, so they may be far from where more examples would put them."""
    counts = gold.astype(bool).sum(axis=0)
    return {name: int(n) for name, n in zip(label_names, counts, strict=True) if 0 < n < FEW_POSITIVES}


def tune_thresholds(probs: np.ndarray, gold: np.ndarray, label_names: list[str]) -> dict[str, float]:
    """Per label, the threshold on the grid that maximises that label's own F1 on the validation split (0.5 with no
    positives). sxhub's thresholds until 2026-12-04, kept for the benches that compare with it: students now save
    :func:`tune_thresholds_micro`'s (``bench/results/many_labels_thresholds.json``)."""
    from sklearn.metrics import f1_score

    thresholds: dict[str, float] = {}
    for j, name in enumerate(label_names):
        if gold[:, j].sum() == 0:
            thresholds[name] = 0.5
            continue
        scores = [f1_score(gold[:, j], probs[:, j] >= t, zero_division=0) for t in THRESHOLD_GRID]
        best = int(np.argmax(scores))  # the first best: ties go to the lower threshold
        thresholds[name] = float(THRESHOLD_GRID[best])
    return thresholds


def tune_thresholds_micro(probs: np.ndarray, gold: np.ndarray, label_names: list[str]) -> dict[str, float]:
    """Per-label thresholds on the grid for pooled micro-F1, the metric multi-label students are selected and
    reported by (0.5 for a label with no positive: nothing to tune on).

    :func:`tune_thresholds` fits each label for its own F1, which a weak, rare label maximises by saying yes to
    almost every text (recall 1, precision its base rate): harmless with a few labels, ruinous with many (GoEmotions'
    28: test micro-F1 0.314 against 0.449 with these, ``bench/many_labels_thresholds.py``). Here one
    threshold for every tunable label is chosen first, then each label's in turn (coordinate ascent) while pooled
    micro-F1 strictly improves. Each trial sums per-label counts counted once, not a rescoring.
    """
    grid = THRESHOLD_GRID
    gold = gold.astype(bool)
    pred = probs[:, :, None] >= grid[None, None, :]  # texts x labels x grid
    tp = (pred & gold[:, :, None]).sum(axis=0)  # labels x grid
    wrong = (pred != gold[:, :, None]).sum(axis=0)  # false positives + false negatives
    labels, tunable = np.arange(gold.shape[1]), gold.any(axis=0)

    def micro(choice: np.ndarray) -> float:  # pooled micro-F1 with label j at grid[choice[j]]
        hits, misses = tp[labels, choice].sum(), wrong[labels, choice].sum()
        return 2 * hits / (2 * hits + misses) if hits or misses else 0.0

    half = int(np.flatnonzero(np.isclose(grid, 0.5))[0])
    # max keeps the first best: ties go to the lower threshold
    choice = max((np.where(tunable, g, half) for g in range(len(grid))), key=micro)
    for _ in range(50):
        changed = False
        for j in np.flatnonzero(tunable):
            scores = [micro(np.where(labels == j, g, choice)) for g in range(len(grid))]
            best = int(np.argmax(scores))
            if scores[best] > scores[choice[j]]:
                choice[j], changed = best, True
        if not changed:
            break
    return {name: float(grid[choice[j]]) for j, name in enumerate(label_names)}


def validation_halves(gold: np.ndarray, seed: int) -> np.ndarray:
    """0 or 1 per validation row: two halves, stratified by each row's rarest label (rows without one together).

    Rows are sorted by that label (random order within it, seeded) and dealt alternately, so every label's
    positives are split as evenly as they can be, even a label with one or three positives (where scikit-learn's
    ``StratifiedKFold`` warns or refuses).
    """
    freq = gold.sum(axis=0)
    keys = [min(np.flatnonzero(row), key=lambda j: (freq[j], j)) if row.any() else -1 for row in gold]
    jitter = np.random.default_rng(seed).random(len(gold))
    order = sorted(range(len(gold)), key=lambda i: (keys[i], jitter[i]))
    halves = np.empty(len(gold), dtype=int)
    halves[order] = np.arange(len(gold)) % 2
    return halves


def cross_fitted_predictions(probs: np.ndarray, gold: np.ndarray, label_names: list[str], seed: int) -> np.ndarray:
    """Multi-hot decisions on validation where every row's thresholds were tuned on the *other* half only.

    Scoring thresholds on the rows they were tuned on reports the best of 35 tries per label, not what a new text
    gets; cross-fitting keeps every validation row for scoring and never scores a row with thresholds that saw it.
    The figure is, if anything, a little pessimistic: each half's thresholds saw half the rows the saved ones did.
    """
    halves = validation_halves(gold, seed)
    pred = np.zeros_like(gold)
    for half in (0, 1):
        tuned_on, scored = halves != half, halves == half
        thresholds = tune_thresholds_micro(probs[tuned_on], gold[tuned_on], label_names)
        pred[scored] = probs[scored] >= np.array([thresholds[n] for n in label_names])
    return pred


def validate(
    spec: TaskSpec, logits: np.ndarray, gold: np.ndarray, *, seed: int = 42
) -> tuple[dict[str, Any], dict[str, float] | None]:
    """Validation figures of the best model; for multi-label, the per-label thresholds and their honest scores.

    The saved thresholds are tuned on the whole validation split. The scores reported with them (``micro_f1``,
    ``macro_f1``, ``subset_accuracy``) are cross-fitted (:func:`cross_fitted_predictions`), because thresholds
    scored on the rows they were tuned on overstate them. Labels without a positive example in validation keep
    threshold 0.5 (:func:`untuned_labels`, reported in the result) and stay out of the macro average unless
    predicted. ``micro_f1_at_0.5`` is the untuned figure. The best checkpoint is also chosen on validation, so
    the held-out test split (``sxhub run``, ``sxhub evaluate``) remains the figure to quote.
    """
    from sklearn.metrics import accuracy_score, f1_score

    if not spec.multi_label:
        pred = logits.argmax(-1)
        return {
            "accuracy": float(accuracy_score(gold, pred)),
            "macro_f1": float(f1_score(gold, pred, average="macro", zero_division=0)),
        }, None
    probs = sigmoid(logits)
    gold = (gold >= 0.5).astype(int)
    thresholds = tune_thresholds_micro(probs, gold, spec.label_names)
    pred = cross_fitted_predictions(probs, gold, spec.label_names, seed)
    present = [j for j in range(gold.shape[1]) if gold[:, j].any() or pred[:, j].any()]
    at_half = (probs >= 0.5).astype(int)
    return {
        "micro_f1": float(f1_score(gold, pred, average="micro", zero_division=0)),
        "macro_f1": float(f1_score(gold, pred, labels=present, average="macro", zero_division=0)) if present else 0.0,
        "micro_f1_at_0.5": float(f1_score(gold, at_half, average="micro", zero_division=0)),
        "subset_accuracy": float(accuracy_score(gold, pred)),
        "threshold_scoring": THRESHOLD_SCORING,
        "threshold_fit": THRESHOLD_FIT,
    }, thresholds
