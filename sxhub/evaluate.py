"""Score a trained student against expert (gold) labels with the same metrics as ``sxhub agree``.

from sxhub.evaluate import evaluate
result = evaluate("student", "test.csv", gold="expert")
print(format_report(result))
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pandas as pd

from . import trained_texts
from .data import read_table
from .errors import InputError
from .labelled import expert_label_cell, load_labelled, parse_label_cell
from .metrics import score
from .model_info import read_model_info, resolve_model_dir
from .predict import Predictor, check_predictor_model
from .predict_files import truncated_note
from .spec import TaskSpec


def evaluate(
    model_dir: str | os.PathLike[str],
    data: str | os.PathLike[str] | pd.DataFrame,
    *,
    gold: str | None = None,
    text_column: str | None = None,
    batch_size: int = 32,
    onnx: bool = False,
    int8: bool = False,
    recheck: bool = True,
    predictor: Predictor | None = None,
    gold_column: str | None = None,
) -> dict[str, Any]:
    """Predict the texts of ``data`` and score the predictions against column ``gold`` (``metrics.score``).

    ``gold`` is spelt as in :func:`sxhub.agree` and ``--gold``; ``gold_column``, its earlier name, is accepted too.
    Without ``gold`` the gold labels are the ``label``/``labels`` column, or one boolean column per label
    (multi-label). ``onnx``/``int8``/``recheck`` pick the runtime as ``sxhub predict`` does (:class:`Predictor`),
    so that the variant a user serves is the one scored; the result's ``backend`` names it. Rows without a gold label
    and rows without a text (empty or NaN: never predicted as the word "nan") are left out, as in ``agree``, and
    counted (``n_empty_text``); so are rows marked ``failed`` when the gold labels are the teachers' own column
    (``n_failed``: another column, such as the experts', still holds a label for them), and a ``sxhub twins`` file's
    twins that failed a check (``ok`` false), against any ``gold`` column (``n_flagged_twins``).
    """
    if gold_column is not None:  # the earlier name: callers that wrote evaluate(..., gold_column="expert") still run
        if gold is not None and gold != gold_column:
            raise InputError(
                f"gold={gold!r} and gold_column={gold_column!r} name the same option (gold_column= is its earlier "
                "name); pass gold= alone."
            )
        gold = gold_column
    # the data and the model's labels are checked before the model loads (seconds for a real student): a bad file,
    # a missing --gold column or a label the model does not know is refused at once
    frame = data if isinstance(data, pd.DataFrame) else read_table(data)
    if predictor is not None:
        check_predictor_model(model_dir, predictor)
    model_path = predictor.model_dir if predictor else resolve_model_dir(model_dir)
    info = predictor.info if predictor else read_model_info(model_path)
    labelled = load_labelled(
        frame,
        label_names=info.labels,
        multi_label=info.multi_label,
        label_column=gold,
        text_column=text_column,
        label_option="--gold (Python: gold=)",
        labels_of="model",
    )
    predictor = predictor or Predictor(model_path, onnx=onnx, int8=int8, batch_size=batch_size, recheck=recheck)
    truncated_before = predictor.truncated  # a predictor= given may have labelled texts before
    rechecked_before = predictor.rechecked  # a predictor= given may have labelled texts before
    start = time.perf_counter()
    pred, _ = predictor.predict(labelled.texts)
    seconds = time.perf_counter() - start
    truncated = predictor.truncated - truncated_before
    result = score(labelled.labels, pred, predictor.labels, predictor.multi_label)
    runtime = "" if predictor.backend == "torch" else f" ({predictor.backend})"  # which variant these figures are of
    # the folder's own name: `sxhub evaluate . test.csv` (or `student/..`) was titled "Student  vs label"
    name = Path(model_dir).name if Path(model_dir).name not in ("", ".", "..") else Path(model_dir).resolve().name
    result.update(
        title=f"Student {name}{runtime} vs {labelled.label_column}",
        label_column=labelled.label_column,  # what the student was scored against: `publish model --evaluation` names it
        model_dir=str(model_dir),
        backend=predictor.backend,
        n_failed=labelled.n_failed,
        n_flagged_twins=labelled.n_flagged_twins,  # load_labelled leaves a twins file's failed twins out: said, as agree
        n_empty_text=labelled.n_empty_text,
        n_missing=labelled.n_no_label,  # rows whose gold cell is empty: nobody labelled them (agree's n_missing)
        texts_per_second=round(len(labelled.texts) / seconds, 1) if seconds > 0 else None,
        truncated=truncated,  # scored on their first max_length tokens, as predict labels them (and says so)
        max_length=predictor.info.max_length,
    )
    cut = truncated_note(truncated, len(labelled.texts), predictor.info.max_length, done="scored", do="score")
    if cut:
        result["notes"] = [*result.get("notes", []), cut.removeprefix("; ") + "."]
    if predictor.recheck_margin:  # int8: texts near a tie were labelled by the fp32 export (as sxhub predict does)
        result["rechecked"] = predictor.rechecked - rechecked_before
    # a student folder from sxhub train records the texts it learned from (a published one does not)
    was = trained_texts.seen(predictor.model_dir, labelled.texts, predictor.info.preprocessing)
    if was is not None:
        result.update(was.counts())
        if was.used.any():
            result["notes"] = [
                *result.get("notes", []),
                f"The student learned from {int(was.used.sum())} of these {len(labelled.texts)} texts (trained on "
                f"{result['n_trained_on']}, validated on {result['n_validated_on']}): these scores are not held out.",
            ]
        if was.exact_only:  # the count above can miss texts it learned from in other case or spacing: say so
            result["notes"] = [
                *result.get("notes", []),
                "The student's record of the texts it learned from predates matching them up to case and spacing "
                "(trained with an older sxhub): a text it learned from, written here in other case or spacing, is not "
                "counted above. Retrain with this sxhub for a full count.",
            ]
    return result


def compare_on_split(
    model: str | os.PathLike[str] | Predictor,
    frame: pd.DataFrame,
    spec: TaskSpec,
    *,
    gold: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Student vs teacher labels on ``frame`` (a labelled split), and with ``gold`` also both against the experts.

    ``frame`` holds ``text`` and the teacher's ``label``/``labels``; rows whose gold cell is empty are left out of
    the expert comparisons. Reviewed data (``apply-review``) scores the teachers on their own labels
    (``teacher_label``), and the student and the experts against the labels after review. The keys are the names the
    model card and the run report show.
    """
    from .review_apply import pre_review_labels

    if gold is not None and gold not in frame.columns:
        raise InputError(
            f"gold column {gold!r} not found; columns are {list(frame.columns)[:12]}; pass --gold (Python: gold=) with the column "
            "that holds the experts' labels."
        )
    predictor = model if isinstance(model, Predictor) else Predictor(model)
    preds, _ = predictor.predict(frame["text"].tolist())
    names, multi = spec.label_names, spec.multi_label
    labels = [parse_label_cell(v, multi_label=multi) for v in frame[spec.label_column].tolist()]
    before = pre_review_labels(frame, spec)  # None unless people reviewed the labels
    teacher = labels if before is None else before
    learned = "student vs teacher labels" if before is None else "student vs labels after review"
    results = {learned: score(labels, preds, names, multi)}
    if gold:
        # an empty cell is a text the experts did not label (multi-label too: none at all is written [])
        cells = [expert_label_cell(v, multi_label=multi) for v in frame[gold].tolist()]
        keep = [i for i, g in enumerate(cells) if g is not None]
        if keep:
            gl = [cells[i] for i in keep]
            scored = [i for i in keep if teacher[i] is not None]  # the teachers gave no label: a person did
            if scored:
                results["teacher vs experts"] = score(
                    [cells[i] for i in scored], [teacher[i] for i in scored], names, multi
                )
            if before is not None:
                results["labels after review vs experts"] = score(gl, [labels[i] for i in keep], names, multi)
            results["student vs experts"] = score(gl, [preds[i] for i in keep], names, multi)
        for name in results:  # the column scored against: the cards name it (--gold gpt4 is not "experts")
            if "experts" in name:
                results[name]["against"] = gold
    return results


def measure_speed(
    model: str | os.PathLike[str] | Predictor, texts: list[str], *, n: int = 512, threads: int | None = None
) -> dict[str, Any]:
    """The student's texts/s on ``texts`` repeated up to ``n``, after a warm-up, where the predictor runs: torch on
    the GPU when torch sees one (:func:`sxhub.predict.torch_device`), which the source names, else the CPU's
    threads. The source said "16 CPU thread(s)" of a speed measured on a GPU, in the model card and the Space."""
    import torch

    predictor = model if isinstance(model, Predictor) else Predictor(model, threads=threads)
    if not texts:
        raise InputError("no texts to measure the student's speed on.")
    sample = (texts * (n // len(texts) + 1))[:n]
    predictor.predict(sample[:32])  # warm-up: first-call allocations are not throughput
    start = time.perf_counter()
    predictor.predict(sample)
    seconds = time.perf_counter() - start
    on = (
        f"a GPU ({torch.cuda.get_device_name()})"
        if predictor.device == "cuda"
        else f"{threads or torch.get_num_threads()} CPU thread(s)"
    )
    return {
        "texts_per_s": len(sample) / seconds,
        "n": len(sample),
        "source": f"measured by sxhub: {len(sample)} texts, {predictor.backend}, {on}, batch {predictor.batch_size}",
    }
