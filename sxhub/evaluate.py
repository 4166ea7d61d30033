"""Score a trained student against expert (gold) labels with the same metrics as ``sxhub agree``.

from sxhub.evaluate import evaluate
result = evaluate("student", "test.csv", gold_column="expert")
print(format_report(result))
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pandas as pd

from .data import load_labelled
from .metrics import score
from .predict import Predictor


def evaluate(
    model_dir: str | os.PathLike[str],
    data: str | os.PathLike[str] | pd.DataFrame,
    *,
    gold_column: str | None = None,
    text_column: str | None = None,
    batch_size: int = 32,
    onnx: bool = False,
    int8: bool = False,
    predictor: Predictor | None = None,
) -> dict[str, Any]:
    """Predict the texts of ``data`` and score the predictions against ``gold_column`` (``metrics.score``).

    Without ``gold_column`` the gold labels are the ``label``/``labels`` column, or one boolean column per label
    (multi-label). Rows marked ``failed`` and rows without a gold label are left out, as in ``agree``.
    """
    predictor = predictor or Predictor(model_dir, onnx=onnx, int8=int8, batch_size=batch_size)
    gold = load_labelled(
        data,
        label_names=predictor.labels,
        multi_label=predictor.multi_label,
        label_column=gold_column,
        text_column=text_column,
    )
    start = time.perf_counter()
    pred, _ = predictor.predict(gold.texts)
    seconds = time.perf_counter() - start
    result = score(gold.labels, pred, predictor.labels, predictor.multi_label)
    result.update(
        title=f"Student {Path(model_dir).name} vs {gold_column or gold.label_column}",
        model_dir=str(model_dir),
        backend=predictor.backend,
        n_failed=gold.n_failed,
        texts_per_second=round(len(gold.texts) / seconds, 1) if seconds > 0 else None,
    )
    return result
