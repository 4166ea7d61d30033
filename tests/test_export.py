"""ONNX export of a trained student: files, dynamic axes, agreement with torch, int8."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import require_modules
from test_predict import TEXTS
from test_train import MULTI, SINGLE, fast_config, multi_frame, single_frame

from sxhub.export import compare, export_onnx
from sxhub.predict import Predictor
from sxhub.spec import TaskSpec
from sxhub.train import train


@pytest.fixture(autouse=True)
def _needs_onnxruntime() -> None:
    require_modules("onnxruntime", "onnx", install='pip install "sxhub[onnx]"')


@pytest.mark.parametrize("spec", [SINGLE, MULTI], ids=["single", "multi"])
def test_export_agrees_with_torch(spec: TaskSpec, tiny_base_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "student"
    train(spec, multi_frame() if spec.multi_label else single_frame(), fast_config(out, tiny_base_model, epochs=5))

    result = export_onnx(out, int8=True)

    assert result.onnx_path == out / "onnx" / "model.onnx" and result.onnx_path.is_file()
    assert result.int8_path == out / "onnx" / "model_int8.onnx" and result.int8_path.is_file()
    assert result.agreement["onnx"].label_agreement == 1.0
    assert result.agreement["onnx"].max_abs_diff < 1e-4
    assert result.agreement["onnx-int8"].max_abs_diff < 0.1
    assert result.agreement["onnx"].n == 8
    # dynamic batch and sequence axes: other batch sizes and lengths than at export time
    torch_probs = Predictor(out, batch_size=3).predict_proba(TEXTS * 2)
    onnx_probs = Predictor(out, onnx=True, batch_size=3).predict_proba(TEXTS * 2)
    np.testing.assert_allclose(onnx_probs, torch_probs, atol=1e-4)
    session = Predictor(out, onnx=True)._session
    assert [i.name for i in session.get_inputs()] == ["input_ids", "attention_mask", "token_type_ids"]
    assert "onnx:" in result.summary_lines()[1]


def test_compare_counts_identical_decisions() -> None:
    reference = np.array([[0.9, 0.1], [0.4, 0.6], [0.5, 0.5]])
    other = np.array([[0.8, 0.2], [0.6, 0.4], [0.5, 0.5]])
    agreement = compare(reference, other)
    assert agreement.label_agreement == pytest.approx(2 / 3)
    assert agreement.max_abs_diff == pytest.approx(0.2)
    assert compare(reference, other, thresholds=np.array([0.3, 0.3])).label_agreement == 1.0
    assert compare(reference, other, thresholds=np.array([0.85, 0.15])).label_agreement == pytest.approx(2 / 3)
