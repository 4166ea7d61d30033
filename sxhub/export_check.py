"""How an export is checked against the torch model: the share of identical decisions, the largest probability gap
(:func:`compare`), and texts per second after a warm-up (:func:`timed`). Used by :mod:`sxhub.export` and its int8
stage, :mod:`sxhub.export_int8`."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .predict import Predictor


@dataclass
class Agreement:
    """How closely an export follows the torch model on the check texts."""

    n: int
    label_agreement: float
    max_abs_diff: float

    def line(self, name: str) -> str:
        return (
            f"{name}: {self.label_agreement:.1%} identical labels, max |Δp| {self.max_abs_diff:.4f} on {self.n} texts"
        )


def compare(reference: np.ndarray, other: np.ndarray, thresholds: np.ndarray | None = None) -> Agreement:
    """Share of identical decisions (argmax, or every label at its threshold) and the largest prob gap."""
    if thresholds is not None:
        same = ((reference >= thresholds) == (other >= thresholds)).all(axis=1)
    else:
        same = reference.argmax(axis=1) == other.argmax(axis=1)
    return Agreement(
        n=len(reference),
        label_agreement=float(same.mean()) if len(same) else 1.0,
        max_abs_diff=float(np.abs(reference - other).max()) if len(same) else 0.0,
    )


def timed(predictor: Predictor, texts: list[str]) -> tuple[np.ndarray, float]:
    """Probabilities and texts/s (after a warm-up batch) of ``predictor`` on ``texts``."""
    predictor.predict_proba(texts[: predictor.batch_size])
    if predictor.recheck_margin:  # int8's recheck: the fp32 export loaded before the clock starts, its count reset
        predictor.load_recheck()
        predictor.rechecked = 0
    start = time.perf_counter()
    probs = predictor.predict_proba(texts)
    return probs, round(len(texts) / max(time.perf_counter() - start, 1e-9), 1)
