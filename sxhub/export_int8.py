"""The int8 stage of ``sxhub export``: which recipe makes ``onnx/model_int8.onnx`` and how int8 is served.

Each recipe (:data:`QUANTIZATIONS`) is written in turn (``auto``) and checked as ``sxhub predict --onnx --int8`` serves
it: its near-ties rerun in fp32 under a margin fitted on the fitting texts (:func:`fit_recheck_margin`). The machinery
that quantizes, smooths and ranks lives in :mod:`sxhub.quantize`; the check's measures in :mod:`sxhub.export_check`; the default and
the record in :mod:`sxhub.export`.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelError
from .export_check import Agreement, compare, timed
from .model_info import ONNX_INT8_FILE, read_model_info
from .onnx_runtime import describe_margin, margin_values
from .predict import Predictor, clean_text
from .quantize import (
    CALIBRATION_TEXTS,
    SMOOTH_ALPHA,
    SMOOTH_TEXTS,
    Probe,
    data_file,
    external_data_files,
    lower_bound,
    quantize_int8,
    rank_sensitivity,
    smooth_graph,
)

logger = logging.getLogger("sxhub.export")

# int8 recipes, in the order "auto" tries them. On the MiniLM PhraseBank student over the full PhraseBank, with the
# graph exported before the first-token last layer and unfused attention, on an AVX2-only CPU
# (bench/results/int8_recipes.md; with the present graph per-channel kept 98.58%, bench/results/student_avx512.md)
# per-channel kept 98.89% of fp32's labels at 221 texts/s, per-tensor dynamic 97.83% at 226; per-channel with the 9
# most sensitive MatMuls kept fp32 ("mixed") 99.57% at 168 (fp32: 139); static QDQ kept 94.9% in an earlier run
# (bench/results/student.md). "smooth" is per-channel on the graph with its activations
# smoothed (quantize.smooth_graph): as fast, and 12-27% fewer changed labels than per-channel over the full PhraseBank
# on three students, but which 1,000 texts fit it matters (bench/results/smooth.md), so the check decides
QUANTIZATIONS = ("per-channel", "smooth", "mixed", "dynamic", "static")
# the recipes that quantize the smoothed graph. "mixed" does not: on three PhraseBank students given served-like texts,
# mixed on the smoothed graph kept 9 / 9 / 9 MatMuls fp32 where the plain graph's kept 18 / 9 / 9, at the same speed,
# and gave 99.67 / 99.55 / 99.50% on the texts the export never saw against 99.71 / 99.46 / 99.59% (bench/smooth.py)
SMOOTHED = ("smooth",)
# int8 reruns in fp32 the texts it leaves within this quantile of its own decision shifts on the fitting texts (how
# far int8 moved the margin between labels, in logits; fit_recheck_margin). Three MiniLM PhraseBank students, margin
# fitted on ~810 training texts, scored over the full PhraseBank (bench/recheck.py): 0.99 gave fp32's label on
# 99.61% (AVX2 CPU, recheck.md), 99.63% and 99.40% (AVX-512 VNNI CPU, recheck_avx512_3epochs.md and
# recheck_avx512.md; the last, the default recipe's student, under the 99.5% bar); 0.995 gave 99.79%, 99.77% and
# 99.55%, rerunning 3.03%, 3.67% and 1.63% of the texts (0.99: 2.10%, 2.64%, 1.20%), about 1% more of int8's
# throughput on the VNNI CPU
RECHECK_QUANTILE = 0.995
MIXED_STEPS = (3, 6, 9, 12, 18)  # "mixed": how many of the most sensitive MatMuls stay fp32, tried fewest first


@dataclass
class Int8Choice:
    """The int8 model :func:`choose_int8` kept, and how it was checked."""

    path: Path
    quantization: str
    fp32_nodes: list[str]
    smoothing: dict[str, Any] | None
    agreement: Agreement
    speed: float
    recheck: dict[str, Any]


def choose_int8(
    model_dir: Path,
    path: Path,
    quantization: str,
    *,
    raw: Path,
    tmp: Path,
    texts: list[str],
    spare: list[str],
    reference: np.ndarray,
    thresholds: np.ndarray | None,
    notes: list[str],
    bar: float,
    enough: int,
) -> Int8Choice:
    """Write ``onnx/model_int8.onnx`` by ``quantization`` (or, for ``auto``, each recipe in turn until one gives the
    fp32 label on ``bar`` of ``texts``; the most faithful is kept when none does); what was tried goes to ``notes``.
    ``enough``: the check texts int8 needs to become the default (fewer: ``mixed``'s slow search is skipped).

    ``spare`` are training texts outside the check sample: they calibrate static int8 and rank the MatMuls for
    ``mixed``, so that the agreement is measured on texts the recipe was not fitted to (the check texts serve
    when there are none, said in a note)."""
    target = path.with_name(ONNX_INT8_FILE)
    fitting = spare or texts
    methods: tuple[str, ...] = QUANTIZATIONS if quantization == "auto" else (quantization,)
    if quantization == "auto" and len(texts) < enough:  # int8 cannot be the default: skip the slow search
        methods = tuple(m for m in methods if m != "mixed")
        notes.append(f"int8 mixed not tried: {len(texts)} check texts cannot make int8 the default.")
    if not spare:  # every recipe's recheck margin is fitted, and some recipes are
        notes.append(
            f"int8 recipes and int8's recheck margin were fitted on the check texts (no training texts outside the "
            f"sample), so int8's agreement is measured on the texts it was fitted to and leans optimistic; pass --data "
            f"with more than {len(texts)} texts for a check on others."
        )
    best: tuple[float, str, Path, Agreement, float, list[str], dict[str, Any]] | None = None
    smoothing: dict[str, Any] = {}  # filled once the smoothed graph is written
    margin_fitting, margin_kind = margin_texts(model_dir, fitting)
    if margin_kind == TRAINING_TEXTS and spare:
        notes.append(
            f"int8's recheck margin was fitted on texts the student trained on (fewer than {MIN_UNTRAINED} of --data's "
            "it never trained on), which int8 moves less than served texts (bench/results/recheck_fitting.md), so it "
            "may rerun too few: pass --data with its whole training file (its validation texts) or other texts."
        )
    fitting_fp32 = onnx_logits(model_dir, path, margin_fitting)  # what each candidate's recheck margin is fitted to
    # the recipes are fitted (calibrated, smoothed, ranked) on the texts as predict serves them: cleaned as in training
    preprocessing = read_model_info(model_dir).preprocessing
    served = [clean_text(t, preprocessing) for t in fitting]
    for method in methods:
        try:
            candidates = _int8_candidates(method, path, target, raw=raw, tmp=tmp, model_dir=model_dir,
                                          fitting=served, thresholds=thresholds, notes=notes,
                                          smoothing=smoothing, bar=bar)  # fmt: skip
            for fp32_nodes in candidates:  # each candidate has been written to ``target``, where Predictor reads it
                agreement, speed, recheck = _check_int8(model_dir, target, texts=texts, reference=reference,
                                                        thresholds=thresholds, fitting=margin_fitting,
                                                        fitting_fp32=fitting_fp32)  # fmt: skip
                recheck["fitted_on_texts"] = margin_kind
                name = method + (f" ({len(fp32_nodes)} MatMuls fp32)" if fp32_nodes else "")
                logger.info("int8 %s: %s, %.0f texts/s", name, agreement.line("agreement"), speed)
                notes.append(
                    f"int8 {name}: {_recheck_line(agreement, speed, recheck, read_model_info(model_dir).labels)}"
                )
                if best is None or agreement.label_agreement > best[0]:
                    if best is not None:
                        shutil.rmtree(best[2].parent)
                    # in a folder of its own under the same name: a file with external data names its data file
                    best = (agreement.label_agreement, method, tmp / f"keep-{method}" / target.name, agreement, speed,
                            fp32_nodes, recheck)  # fmt: skip
                    best[2].parent.mkdir()
                    move_graph(target, best[2])
                if agreement.label_agreement >= bar:
                    break
        except (RuntimeError, ValueError, KeyError, TypeError) as exc:  # an op the quantiser cannot handle
            if quantization != "auto":
                raise ModelError(f"int8 {method} quantisation failed: {str(exc)[:200]}") from exc
            notes.append(f"int8 {method}: failed ({type(exc).__name__}: {str(exc)[:120]})")
            continue
        if best is not None and best[0] >= bar:
            break
    if best is None:
        raise ModelError(f"no int8 recipe worked for {str(model_dir)!r}: {'; '.join(notes[-3:])}")
    move_graph(best[2], target)
    return Int8Choice(path=target, quantization=best[1], fp32_nodes=best[5],
                      smoothing=smoothing if best[1] in SMOOTHED else None, agreement=best[3], speed=best[4],
                      recheck=best[6])  # fmt: skip


def move_graph(source: Path, target: Path) -> None:
    """Move the ONNX file ``source`` to ``target`` (the same name, another folder) with its external data file, which
    keeps its name (the graph refers to it by name); a data file of an earlier one at ``target`` goes."""
    data_file(target).unlink(missing_ok=True)
    for name in external_data_files(source):
        os.replace(source.with_name(name), target.with_name(name))
    os.replace(source, target)


# what int8's recheck margin was fitted on (sxhub.json's export record)
UNTRAINED_TEXTS = "texts the student never trained on"
TRAINING_TEXTS = "texts it trained on, mostly"
UNRECORDED_TEXTS = "texts of --data (the model folder does not record which it trained on)"
MIN_UNTRAINED = 100  # fewer texts the student never trained on: the margin is fitted on all the fitting texts


def margin_texts(model_dir: Path, fitting: list[str]) -> tuple[list[str], str]:
    """The texts int8's recheck margin is fitted on, and what they are: those of ``fitting`` the student never
    trained on when the folder records its texts (``trained_texts.npz``) and there are at least
    :data:`MIN_UNTRAINED`, else ``fitting``.

    int8 moves the logits of texts a student never trained on further than those of its training texts: on a 4P
    student the median of the largest move was 0.17 logits on its validation tweets and 0.19 on unseen ones, against
    0.10 on the tweets it trained on, and a margin fitted on training tweets alone gave fp32's label sets on 99.23% of
    unseen tweets, under the 99.5% bar; fitted on the validation tweets, 99.83% (``bench/results/
    recheck_fitting.md``). Served texts are texts the student never trained on."""
    from .trained_texts import FILE, seen

    recorded = bool(fitting) and (model_dir / FILE).is_file()
    marks = seen(model_dir, fitting, read_model_info(model_dir).preprocessing) if recorded else None
    if marks is None:
        return fitting, UNRECORDED_TEXTS
    untrained = [t for t, trained in zip(fitting, marks.trained, strict=True) if not trained]
    if len(untrained) < MIN_UNTRAINED:
        return fitting, TRAINING_TEXTS
    return untrained, UNTRAINED_TEXTS


def onnx_logits(model_dir: Path, path: Path, texts: list[str]) -> np.ndarray:
    """Logits of the ONNX model ``path`` (an export of ``model_dir``) on ``texts``, cleaned and batched as ``predict``
    cleans and batches them."""
    from .onnx_runtime import OnnxClassifier

    info = read_model_info(model_dir)
    classifier = OnnxClassifier(model_dir, path, max_length=info.max_length, threads=None, batch_size=32)
    return classifier.logits([clean_text(t, info.preprocessing) for t in texts])


def fit_recheck_margin(fp32: np.ndarray, int8: np.ndarray, multi_label: bool) -> float | list[float]:
    """The margin under which ``sxhub predict --int8`` reruns a text in fp32: the :data:`RECHECK_QUANTILE` of how far
    int8 moved the decision margins (:func:`~sxhub.onnx_runtime.decision_shifts`) of the fitting texts (``fp32`` and
    ``int8``: their logits). Multi-label, one per label: the quantile of how far int8 moved that label's logit
    (:func:`~sxhub.onnx_runtime.label_shifts`), since each label changes only where its own logit crosses its own
    threshold. One margin for all (the largest move of any label against the nearest label's distance) reran every
    text of a 4P student, whose Promotion logits sit near their threshold while int8 moves Price's most
    (``bench/results/recheck_multilabel.md``).

    A text can change label only where int8 moved its margin by at least the margin int8 gives it. int8's error is
    near nothing on most texts and large on a few, whose activations it quantizes coarsely; so rerunning the texts
    under this margin leaves changeable only the texts whose error is above it, about 1 in 200 at this quantile, and
    of those only the ones that are near a tie as well."""
    from .onnx_runtime import decision_shifts, label_shifts

    if not len(fp32):
        return [0.0] * int(np.shape(fp32)[1]) if multi_label and np.ndim(fp32) == 2 else 0.0
    if multi_label:
        per_label = np.quantile(label_shifts(fp32, int8), RECHECK_QUANTILE, axis=0)
        return [round(float(m), 4) for m in per_label]
    return round(float(np.quantile(decision_shifts(fp32, int8, multi_label), RECHECK_QUANTILE)), 4)


def _check_int8(
    model_dir: Path,
    int8_path: Path,
    *,
    texts: list[str],
    reference: np.ndarray,
    thresholds: np.ndarray | None,
    fitting: list[str],
    fitting_fp32: np.ndarray,
) -> tuple[Agreement, float, dict[str, Any]]:
    """The int8 model at ``int8_path`` as ``sxhub predict --onnx --int8`` serves it: its recheck margin fitted on
    ``fitting`` (:func:`fit_recheck_margin`), then its agreement with ``reference`` and speed on ``texts`` with the
    near-ties rerun in fp32; the returned record also holds int8 alone."""
    alone_probs, alone_speed = timed(
        Predictor(model_dir, onnx=True, int8=True, recheck=False, onnx_dir=int8_path.parent), texts
    )
    alone = compare(reference, alone_probs, thresholds)
    margin = fit_recheck_margin(fitting_fp32, onnx_logits(model_dir, int8_path, fitting), thresholds is not None)
    record: dict[str, Any] = {"margin": margin, "quantile": RECHECK_QUANTILE, "fitted_on": len(fitting)}
    record["alone"] = {**asdict(alone), "texts_per_s": alone_speed}
    if margin_values(margin) is None:  # int8 moved no margin: nothing to rerun
        return alone, alone_speed, {**record, "rechecked": 0.0}
    predictor = Predictor(model_dir, onnx=True, int8=True, recheck=margin, onnx_dir=int8_path.parent)
    probs, speed = timed(predictor, texts)
    record["rechecked"] = round(predictor.rechecked / max(len(texts), 1), 4)
    return compare(reference, probs, thresholds), speed, record


def _recheck_line(agreement: Agreement, speed: float, recheck: dict[str, Any], labels: Sequence[str] = ()) -> str:
    """``"99.70% agreement, 390 texts/s (2.1% of texts, those within 0.69 logits of a label change, rerun in fp32;
    alone 98.90%, 412 texts/s)"``: int8 as predict serves it, then int8 alone."""
    line = f"{agreement.label_agreement:.2%} agreement, {speed:,.0f} texts/s"
    margin = margin_values(recheck.get("margin"))
    if margin is None:
        return line
    alone = recheck["alone"]
    return (
        f"{line} ({recheck['rechecked']:.1%} of texts, those {describe_margin(margin, labels)}, rerun in "
        f"fp32; alone {alone['label_agreement']:.2%}, {alone['texts_per_s']:,.0f} texts/s)"
    )


def _int8_candidates(
    method: str,
    path: Path,
    target: Path,
    *,
    raw: Path,
    tmp: Path,
    model_dir: Path,
    fitting: list[str],
    thresholds: np.ndarray | None,
    notes: list[str],
    smoothing: dict[str, Any],
    bar: float,
) -> Iterator[list[str]]:
    """Write each candidate of ``method`` to ``target`` in turn and yield the nodes it keeps fp32.

    ``mixed`` ranks every quantizable node by how far quantizing it alone moves the probabilities on the first
    :data:`CALIBRATION_TEXTS` of ``fitting`` (:func:`rank_sensitivity`), then keeps the :data:`MIXED_STEPS` most
    sensitive fp32, fewest first, up to half of the nodes (beyond that int8 would not pay). A step is yielded (for
    the check) only once its agreement with fp32 on ``fitting`` is over ``bar`` by one standard error
    (:func:`lower_bound`); choosing the step by the check texts themselves would make the check flatter the recipe
    it chose. The last step is always yielded.

    The recipes in :data:`SMOOTHED` quantize the graph with its activations smoothed on ``fitting``
    (:func:`~sxhub.quantize.smooth_graph`: the same function in fp32), written once; ``smoothing`` records how."""
    source = _smoothed(path, tmp, model_dir, fitting, smoothing) if method in SMOOTHED else path
    if method != "mixed":
        quantize_int8(
            source,
            target,
            method="per-channel" if method == "smooth" else method,
            raw=raw,
            calibration=fitting[:CALIBRATION_TEXTS],
            model_dir=model_dir,
        )
        yield []
        return
    probe = Probe(model_dir, fitting)
    fp32 = probe(path)
    order = rank_sensitivity(source, tmp, probe, fp32)
    steps = [k for k in MIXED_STEPS if k <= len(order) // 2] or [max(1, len(order) // 2)]
    for i, k in enumerate(steps):
        quantize_int8(source, target, method="per-channel", exclude=order[:k])
        share = compare(fp32, probe(target), thresholds).label_agreement
        bound = lower_bound(share, len(fitting))
        notes.append(
            f"int8 mixed ({k} MatMuls fp32): {share:.2%} of fp32's labels on {len(fitting)} fitting texts "
            f"(one standard error below: {bound:.2%})"
        )
        if bound >= bar or i == len(steps) - 1:
            yield order[:k]


def _smoothed(path: Path, tmp: Path, model_dir: Path, fitting: list[str], smoothing: dict[str, Any]) -> Path:
    """``path`` with its MatMul activations smoothed on ``fitting`` (written to ``tmp`` on the first call)."""
    target = tmp / "smoothed.onnx"
    if not target.is_file():
        inputs = smooth_graph(path, target, model_dir, fitting)
        smoothing.update(method="SmoothQuant", alpha=SMOOTH_ALPHA, texts=min(len(fitting), SMOOTH_TEXTS),
                         inputs=inputs)  # fmt: skip
    return target
