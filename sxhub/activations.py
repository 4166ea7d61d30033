"""Sigmoid and softmax over numpy logits: what turns a student's logits into probabilities.

One home for both, used when the student is scored on its validation split (:mod:`sxhub.validation`) and when it
predicts (:class:`sxhub.predict.Predictor`). numpy only: importing it pulls in no torch.
"""

from __future__ import annotations

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Independent per-label probabilities (multi-label)."""
    return 1.0 / (1.0 + np.exp(-x))


def softmax(x: np.ndarray) -> np.ndarray:
    """Probabilities over the last axis that sum to 1 (single-label); the row maximum is taken off first."""
    z = np.exp(x - x.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)
