"""Distillation from a trained classifier (``sxhub train --distill MODEL``): the teacher's logits on the training
texts (:func:`teacher_logits`, kept once per search by :class:`TeacherLogits`), a row a person corrected learning its
own label instead (:func:`people_overrule`), and the loss that mixes the two targets (:func:`distillation_loss`).
:mod:`sxhub.train_local` trains with them; :mod:`sxhub.train` re-exports them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import InputError
from .labelled import LabelledData
from .spec import TaskSpec
from .targets import hard_targets

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)


def distillation_loss(
    logits: torch.Tensor,
    teacher: torch.Tensor,
    multi_label: bool,
    temperature: float,
    weight: float,
    *,
    hard_loss: torch.Tensor,
) -> torch.Tensor:
    """Hinton et al. (2015): ``weight`` x T^2 x the divergence of the student's temperature-softened outputs from
    the teacher's (KL of the softmax; multi-label: binary cross-entropy against each label's softened sigmoid) +
    (1 - ``weight``) x the loss on the labels. T^2 keeps the soft part's gradients on the hard part's scale."""
    import torch
    import torch.nn.functional as F

    t = teacher.to(logits.dtype)
    if multi_label:
        soft = F.binary_cross_entropy_with_logits(logits / temperature, torch.sigmoid(t / temperature))
    else:
        student_log = F.log_softmax(logits / temperature, dim=-1)
        soft = F.kl_div(student_log, F.log_softmax(t / temperature, dim=-1), log_target=True, reduction="batchmean")
    return weight * temperature**2 * soft + (1 - weight) * hard_loss


def check_distill_teacher(model: str, spec: TaskSpec) -> None:
    """``--distill MODEL``: a classifier folder whose labels are the task's, in any order (else one error):
    :func:`teacher_logits` puts its outputs in the task's order, as ``--base`` a student reorders its head. Refused
    for labels in another order, a model trained for this very task was called one of another task."""
    from .model_info import read_model_info

    info = read_model_info(model)
    if sorted(info.labels) != sorted(spec.label_names) or info.multi_label != spec.multi_label:
        kind = "multi-label" if info.multi_label else "single-label"
        raise InputError(
            f"--distill {model}: that model is {kind} with labels {info.labels}, the task is "
            f"{'multi-label' if spec.multi_label else 'single-label'} with {spec.label_names}; distil from a model "
            "trained for this task."
        )


def teacher_logits(model: str, texts: list[str], spec: TaskSpec, threads: int | None) -> np.ndarray:
    """A trained classifier's logits on ``texts`` for distillation (``--distill``; :func:`train` checked it with
    :func:`check_distill_teacher`), recovered from its probabilities (log-softmax, or the logit of each sigmoid:
    softmax ignores the per-row constant), in the task's label order whatever the model's."""
    from .predict import Predictor

    predictor = Predictor(model, threads=threads, batch_size=64)
    order = [predictor.labels.index(name) for name in spec.label_names]
    probs = np.clip(predictor.predict_proba(texts).astype(np.float64)[:, order], 1e-7, 1 - 1e-7)
    logits = np.log(probs) - np.log1p(-probs) if spec.multi_label else np.log(probs)
    return logits.astype(np.float32)


class TeacherLogits:
    """The distillation teacher's logits (:func:`teacher_logits`), computed once for a teacher and a list of texts
    and handed out again after: the trials of a search (:func:`sxhub.search.search`) train on the same texts with
    the same teacher, whose outputs do not change between them, and each trial ran it over every training text
    again (N trials, N times the teacher's inference). One is made per search and passed to each trial's
    :func:`train`; the logits it keeps are those the first trial computed, so every trial trains as before."""

    def __init__(self) -> None:
        self._kept: dict[tuple[Any, ...], np.ndarray] = {}

    def __call__(self, model: str, texts: list[str], spec: TaskSpec, threads: int | None) -> np.ndarray:
        key = (model, tuple(spec.label_names), spec.multi_label, tuple(texts))
        if key not in self._kept:
            self._kept[key] = teacher_logits(model, texts, spec, threads)
            self._kept[key].flags.writeable = False  # shared by the trials: none may change another's targets
        return self._kept[key]


def people_overrule(logits: np.ndarray, data: LabelledData, rows: Sequence[int]) -> np.ndarray:
    """The distillation targets of training ``rows``, with a row a person corrected (``label_source == "human"``,
    from ``sxhub apply-review``) given its own label as the target (a one-hot softened to 0.999, as logits): the
    distilled model, trained on the teacher's labels, would pull the reviewed row back to the label the reviewer
    overruled, as ``--soft-labels`` keeps a corrected row's hard label."""
    if "label_source" not in data.frame.columns:
        return logits
    sources = data.frame["label_source"].astype(str).to_numpy()[list(rows)]
    people = sources == "human"
    if not people.any():
        return logits
    hard = hard_targets(data)[list(rows)][people].astype(np.float64)
    eps = 1e-3
    if data.multi_label:
        probs = np.clip(hard, eps, 1 - eps)
        own = np.log(probs) - np.log1p(-probs)
    else:
        own = np.log(hard * (1 - eps) + (1 - hard) * eps / max(hard.shape[1] - 1, 1))
    out = logits.copy()
    out[people] = own.astype(out.dtype)
    logger.info("distillation: %d rows a person corrected learn their own label", int(people.sum()))
    return out
