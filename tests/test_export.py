"""ONNX export of a trained student: files, dynamic axes, fused graph, agreement and speed on real samples, int8
recipes, the default variant and its record, and the torch-free ONNX path."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pandas as pd
import pytest
from conftest import build_tiny_model, require_modules, run_cli, sxhub_logged, tiny_deberta
from test_predict import TEXTS
from test_train import MULTI, SINGLE, fast_config, multi_frame, single_frame

import sxhub.cards
import sxhub.export
import sxhub.export_int8
import sxhub.onnx_runtime
import sxhub.quantize
from sxhub.errors import InputError, ModelError
from sxhub.evaluate import evaluate
from sxhub.export import (
    AGREEMENT_BAR,
    Agreement,
    ExportResult,
    check_sample,
    choose_default,
    compare,
    export_onnx,
)
from sxhub.onnx_runtime import decision_margins, decision_shifts, describe_margin, near_ties, threshold_logits
from sxhub.predict import Predictor, predict_file
from sxhub.quantize import Probe, _activation_peaks, lower_bound, quantizable_nodes, smooth_graph
from sxhub.spec import TaskSpec
from sxhub.train import train


@pytest.fixture(autouse=True)
def _needs_onnxruntime() -> None:
    require_modules("onnxruntime", "onnx", install='pip install "sxhub[onnx]"')


@pytest.fixture(scope="module")
def student(tiny_base_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "student"
    train(SINGLE, single_frame(), fast_config(out, tiny_base_model, epochs=5))
    return out


def texts_file(path: Path, n: int) -> Path:
    """``n`` texts made of the single-label cue words (a stand-in for the training data)."""
    words = ["profit rose", "loss fell", "the company", "strong growth", "weak decline", "in the city", "market"]
    rng = np.random.default_rng(3)
    texts: dict[str, None] = {}  # distinct: the check samples each text once
    while len(texts) < n:
        texts[" ".join(rng.choice(words, size=int(rng.integers(1, 6))))] = None
    pd.DataFrame({"text": list(texts), "label": "neutral"}).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("spec", [SINGLE, MULTI], ids=["single", "multi"])
def test_export_agrees_with_torch(spec: TaskSpec, tiny_base_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "student"
    train(spec, multi_frame() if spec.multi_label else single_frame(), fast_config(out, tiny_base_model, epochs=5))

    result = export_onnx(out, int8=True, quantization="dynamic")

    assert result.onnx_path == out / "onnx" / "model.onnx" and result.onnx_path.is_file()
    assert result.int8_path == out / "onnx" / "model_int8.onnx" and result.int8_path.is_file()
    assert result.agreement["onnx"].label_agreement == 1.0
    assert result.agreement["onnx"].max_abs_diff < 1e-4
    assert result.agreement["onnx-int8"].max_abs_diff < 0.1
    assert result.agreement["onnx"].n == 8 and "built-in sample texts" in result.check_source
    # dynamic batch and sequence axes: other batch sizes and lengths than at export time
    torch_probs = Predictor(out, batch_size=3).predict_proba(TEXTS * 2)
    onnx_probs = Predictor(out, onnx=True, batch_size=3).predict_proba(TEXTS * 2)
    np.testing.assert_allclose(onnx_probs, torch_probs, atol=1e-4)
    session = Predictor(out, onnx=True)._session
    assert [i.name for i in session.get_inputs()] == ["input_ids", "attention_mask", "token_type_ids"]
    assert "onnx:" in result.summary_lines()[1]


def test_the_graph_is_fused(student: Path) -> None:
    result = export_onnx(student)
    ops = [node.op_type for node in onnx.load(str(student / "onnx" / "model.onnx")).graph.node]
    # LayerNorm and GELU fused; attention left as MatMuls and Softmax (faster than the fused kernel, bench/graph.py):
    # in the 2-layer student one Softmax per layer, the last one attending from the first token only
    assert {"LayerNormalization", "Gelu"} <= set(ops) and "Erf" not in ops, ops
    assert not {"Attention", "SkipLayerNormalization", "BiasGelu"} & set(ops), ops
    assert ops.count("Softmax") == 2, ops
    # no note but, on a CPU without native bfloat16, the one saying bf16 was not measured there
    assert result.last_layer == "first token" and not [n for n in result.notes if not n.startswith("torch bf16")]

    full = export_onnx(student, cls_only=False, fuse_attention=True)
    ops = [node.op_type for node in onnx.load(str(student / "onnx" / "model.onnx")).graph.node]
    assert ops.count("Attention") == 2 and {"SkipLayerNormalization", "BiasGelu"} <= set(ops), ops
    assert "Softmax" not in ops and not [n for n in full.notes if not n.startswith("torch bf16")]
    assert full.last_layer == "every token (cls_only=False)"
    assert json.loads((student / "sxhub.json").read_text())["export"]["last_layer"] == full.last_layer


def test_the_check_samples_the_training_data_and_is_recorded(
    student: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = texts_file(tmp_path / "train.csv", 300)
    monkeypatch.setattr(sxhub.export, "native_bf16", lambda device=None: False)  # a CPU without bf16

    result = export_onnx(student, int8=True, data=data, check_n=120, quantization="per-channel")

    assert result.agreement["onnx"].n == result.agreement["onnx-int8"].n == 120
    assert result.check_source == "120 texts from train.csv"
    assert set(result.speed) == {"torch", "onnx", "onnx-int8"} and all(v > 0 for v in result.speed.values())
    # 120 texts are too few to vouch for int8: fp32 stays the default, and the record says why
    assert result.default == "onnx"
    record = json.loads((student / "sxhub.json").read_text())["export"]
    assert record["default"] == "onnx" and record["agreement_bar"] == AGREEMENT_BAR
    assert record["variants"]["onnx-int8"]["quantization"] == "per-channel"
    assert record["variants"]["onnx-int8"]["n"] == 120
    assert set(record["versions"]) == {"onnxruntime", "onnx"}  # the libraries that made the exports
    assert record["variants"]["torch"]["texts_per_s"] == result.speed["torch"]
    assert any("checked on 120 texts only" in note for note in record["notes"])
    assert any(
        "torch bf16 (sxhub predict --bf16) not measured: this machine has no native" in n for n in record["notes"]
    )
    assert json.loads((student / "sxhub.json").read_text())["labels"] == SINGLE.label_names  # the rest is kept


def test_the_model_card_states_each_variant(student: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export_onnx(student, int8=True, data=texts_file(tmp_path / "train.csv", 60), quantization="dynamic")
    record = json.loads((student / "sxhub.json").read_text())["export"]["variants"]

    code, _, err = run_cli(
        ["publish", "model", str(student), "--to", str(tmp_path / "repo"), "--repo-id", "me/x"], capsys
    )

    assert code == 0, err
    card = (tmp_path / "repo" / "README.md").read_text(encoding="utf-8")
    assert "**Variants.**" in card and "on 60 texts from train.csv" in card
    int8 = record["onnx-int8"]
    rerun = (
        f", texts within {int8['recheck']['margin']:.2f} logits of a label change rerun in fp32 ("
        if int8["recheck"]["margin"]
        else ""
    )
    assert (
        f"| ONNX int8 (dynamic){rerun}" in card
        and f"`onnx/model_int8.onnx` | {int8['label_agreement']:.2%} of 60 |" in card
    )
    assert f"| ONNX fp32 | `onnx/model.onnx` | {record['onnx']['label_agreement']:.2%} of 60 |" in card
    assert "| transformers (torch, fp32) | `model.safetensors` | reference | 0 |" in card
    assert "int8 is not the default: checked on 60 texts only" in card  # and the Space is not said to serve it
    # 60 texts are all check texts: the int8 recipe and its recheck margin were fitted on them, and the card says so
    assert "- int8 recipes and int8's recheck margin were fitted on the check texts" in card
    assert "the Space serves it" not in card
    assert "run the last encoder layer for the first token only" in card


def test_bf16_is_measured_where_the_machine_runs_it(
    student: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sxhub.export, "native_bf16", lambda device=None: True)

    result = export_onnx(student, data=texts_file(tmp_path / "train.csv", 60))

    bf16 = result.agreement["torch-bf16"]
    assert bf16.n == 60 and 0 < bf16.max_abs_diff < 0.05 and result.speed["torch-bf16"] > 0
    assert result.default == "onnx"  # a runtime mode of the torch weights, never the served file
    variant = json.loads((student / "sxhub.json").read_text())["export"]["variants"]["torch-bf16"]
    assert "file" not in variant and variant["n"] == 60
    code, _, err = run_cli(
        ["publish", "model", str(student), "--to", str(tmp_path / "repo"), "--repo-id", "me/x"], capsys
    )
    assert code == 0, err
    card = (tmp_path / "repo" / "README.md").read_text(encoding="utf-8")
    assert (
        "| transformers (torch, bf16 autocast: `sxhub predict --bf16`) | `model.safetensors` | "
        f"{bf16.label_agreement:.2%} of 60 | {bf16.max_abs_diff:.4f} |"
    ) in card


def test_a_model_that_cannot_run_in_bf16_is_exported_with_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the machine runs bf16 natively, export measures ``predict --bf16`` too; a DeBERTa (v1) student fails
    under bf16 autocast, and that measurement failed the whole export ("Error: RuntimeError: value cannot be converted
    to type c10::BFloat16 without overflow"), after the ONNX files were written and checked."""
    monkeypatch.setattr(sxhub.export, "native_bf16", lambda device=None: True)
    folder = tiny_deberta(tmp_path / "deberta")

    result = export_onnx(folder)

    assert result.onnx_path.is_file() and result.agreement["onnx"].label_agreement == 1.0
    assert "torch-bf16" not in result.agreement and "torch-bf16" not in result.speed
    [note] = [n for n in result.notes if "bf16" in n]
    assert note.startswith(
        "torch bf16 (sxhub predict --bf16) not measured: DebertaForSequenceClassification does not run in bfloat16 ("
    )


def test_the_record_says_where_each_variant_ran(
    student: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    # a container limited to 3 CPUs (ONNX Runtime runs 3 threads, whatever os.cpu_count() says) on a machine with a
    # GPU: torch's Predictor runs there (torch_device)
    monkeypatch.setattr(sxhub.onnx_runtime, "cpu_threads", lambda: 3)
    monkeypatch.setattr(Predictor, "device", property(lambda self: "cuda" if self._model is not None else "cpu"))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "Test GPU")

    export_onnx(student)

    where = json.loads((student / "sxhub.json").read_text())["export"]["threads"]
    assert where == "ONNX Runtime on 3 CPU thread(s), torch on a GPU (Test GPU)"
    code, _, err = run_cli(
        ["publish", "model", str(student), "--to", str(tmp_path / "repo"), "--repo-id", "me/x"], capsys
    )
    assert code == 0, err
    assert f"({where}):" in (tmp_path / "repo" / "README.md").read_text(encoding="utf-8")

    monkeypatch.undo()
    export_onnx(student)  # torch on the CPU: its threads
    where = json.loads((student / "sxhub.json").read_text())["export"]["threads"]
    assert (
        where
        == f"ONNX Runtime on {sxhub.onnx_runtime.cpu_threads()} CPU thread(s), torch on {torch.get_num_threads()}"
    )


def test_static_int8_is_calibrated_qdq(student: Path, tmp_path: Path) -> None:
    data = texts_file(tmp_path / "train.csv", 80)

    result = export_onnx(student, int8=True, data=data, quantization="static")

    ops = {node.op_type for node in onnx.load(str(result.int8_path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert result.quantization == "static" and result.agreement["onnx-int8"].n == 80


def unique_texts_file(path: Path, n: int) -> Path:
    """``n`` distinct texts (cue words and a number), so that which texts a sample took can be told apart."""
    words = ["profit rose", "loss fell", "strong growth", "weak decline", "market"]
    texts = [f"{words[i % len(words)]} {words[(i * 7) % len(words)]} number {i}" for i in range(n)]
    pd.DataFrame({"text": texts}).to_csv(path, index=False)
    return path


def test_the_recipes_are_fitted_on_texts_outside_the_check(tmp_path: Path) -> None:
    data = unique_texts_file(tmp_path / "train.csv", 1100)

    texts, source, spare = check_sample(tmp_path, {}, data=data, text_column=None, n=150)

    assert len(texts) == 150 and source == "150 texts from train.csv"
    assert len(spare) == 950 and not set(spare) & set(texts)  # every other text, up to FITTING_TEXTS
    assert len(check_sample(tmp_path, {}, data=data, text_column=None, n=10)[2]) == sxhub.export.FITTING_TEXTS
    assert check_sample(tmp_path, {}, data=data, text_column=None, n=150)[0] == texts  # seeded
    most, _, rest = check_sample(tmp_path, {}, data=data, text_column=None, n=1000)
    assert len(most) == 1000 and len(rest) == 100
    assert check_sample(tmp_path, {}, data=data, text_column=None, n=2000)[2] == []


def test_int8_margin_is_fitted_on_texts_the_student_never_trained_on(student: Path, tmp_path: Path) -> None:
    """int8 moves the logits of texts a student never trained on further than those of its training texts (a 4P
    student: median 0.17 against 0.10 logits), so a margin fitted on training texts reran too few served texts
    (99.23% of fp32's label sets on unseen tweets, under the bar). With the folder's record of what it trained on,
    the texts of --data it never trained on (its validation texts) go to the fitting texts and the margin is fitted
    on them alone; with too few of them it is fitted on all, and the record and a note say so."""

    from sxhub.export_int8 import MIN_UNTRAINED, TRAINING_TEXTS, UNTRAINED_TEXTS
    from sxhub.trained_texts import save

    model = tmp_path / "student"
    shutil.copytree(student, model)
    data = pd.read_csv(texts_file(tmp_path / "all.csv", 500))["text"].tolist()
    trained, validation = data[:380], data[380:]  # 120 validation texts, more than MIN_UNTRAINED
    save(model, trained, validation)
    path = tmp_path / "train.csv"
    pd.DataFrame({"text": data}).to_csv(path, index=False)

    check, _, spare = check_sample(model, {}, data=path, text_column=None, n=300)
    assert set(validation) <= set(spare) and not set(validation) & set(check)  # all go to the fitting texts

    export_onnx(model, int8=True, data=path, check_n=300, quantization="per-channel")
    recheck = json.loads((model / "sxhub.json").read_text())["export"]["variants"]["onnx-int8"]["recheck"]
    assert recheck["fitted_on_texts"] == UNTRAINED_TEXTS and recheck["fitted_on"] == len(validation)

    save(model, data[: 500 - MIN_UNTRAINED + 1], data[500 - MIN_UNTRAINED + 1 :])  # one too few never trained on
    export_onnx(model, int8=True, data=path, check_n=300, quantization="per-channel")
    record = json.loads((model / "sxhub.json").read_text())["export"]
    recheck = record["variants"]["onnx-int8"]["recheck"]
    assert recheck["fitted_on_texts"] == TRAINING_TEXTS and recheck["fitted_on"] == 200
    assert any("margin was fitted on texts the student trained on" in note for note in record["notes"])


def test_a_repeated_text_is_never_both_checked_and_fitted_on(tmp_path: Path) -> None:
    """Row positions were shuffled, so a text twice in --data could be one of the check texts and one of the
    texts the int8 recipe was fitted on (261 of 1,000 with 600 texts twice), and counted twice in the check."""
    path = unique_texts_file(tmp_path / "once.csv", 600)
    once = pd.read_csv(path)
    pd.concat([once, once]).sample(frac=1.0, random_state=0).to_csv(tmp_path / "twice.csv", index=False)

    texts, _, spare = check_sample(tmp_path, {}, data=tmp_path / "twice.csv", text_column=None, n=150)

    assert len(texts) == len(set(texts)) == 150 and len(spare) == 450 and not set(spare) & set(texts)


def test_exporting_again_without_int8_removes_the_earlier_int8_file(student: Path, tmp_path: Path) -> None:
    """The record written now no longer holds the earlier int8 file's check and near-tie recheck, yet
    ``predict --onnx --int8`` and the Space served the file without them."""
    model = tmp_path / "student"
    shutil.copytree(student, model)
    data = texts_file(tmp_path / "train.csv", 200)
    export_onnx(model, int8=True, data=data, check_n=50, quantization="per-channel")
    assert (model / "onnx" / "model_int8.onnx").is_file()
    again = export_onnx(model, data=data, check_n=50)
    assert not (model / "onnx" / "model_int8.onnx").exists()
    assert any(note.startswith("Removed onnx/model_int8.onnx, an earlier export's") for note in again.notes)
    assert "onnx-int8" not in json.loads((model / "sxhub.json").read_text())["export"]["variants"]


@pytest.mark.parametrize("stop", [KeyboardInterrupt(), ModelError("int8 dynamic quantisation failed")])
def test_an_export_stopped_part_way_leaves_the_earlier_export_and_its_record(
    student: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stop: BaseException
) -> None:
    """An export again with another recipe, stopped (Ctrl-C) or failing while it checks int8, had already written
    its candidate over onnx/model_int8.onnx: the earlier record's recipe and near-tie margin then described another
    file (or, with auto, the file was gone). The earlier files and sxhub.json stay as they were."""
    model = tmp_path / "student"
    shutil.copytree(student, model)
    export_onnx(model, int8=True, quantization="per-channel")
    earlier = {p.name: p.read_bytes() for p in [*(model / "onnx").iterdir(), model / "sxhub.json"]}

    def stopped(*args: object, **kwargs: object) -> None:
        raise stop

    monkeypatch.setattr(sxhub.export_int8, "_check_int8", stopped)
    with pytest.raises(type(stop)):
        export_onnx(model, int8=True, quantization="dynamic")
    assert {p.name: p.read_bytes() for p in [*(model / "onnx").iterdir(), model / "sxhub.json"]} == earlier


def test_exporting_again_does_not_warn_about_the_earlier_int8_record(
    student: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The int8 checks of an export again warned, twice, that the earlier export's int8 file was not the default
    and to drop --int8: a warning for predict, about files the export was replacing."""
    model = tmp_path / "student"
    shutil.copytree(student, model)
    export_onnx(model, int8=True, quantization="dynamic")  # 8 built-in texts: int8 is not the default
    with caplog.at_level("WARNING", logger="sxhub.predict"):
        export_onnx(model, int8=True, quantization="dynamic")
    assert "not this model's default" not in caplog.text
    with caplog.at_level("WARNING", logger="sxhub.predict"):
        Predictor(model, onnx=True, int8=True)  # predict still says so
    assert "not this model's default" in caplog.text


def test_int8_recipes_are_fitted_on_texts_cleaned_as_predict_serves_them(
    student: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Static int8's calibration, smooth's activation peaks and mixed's ranking read the --data texts as written:
    a URL or an e-mail address the model never sees served (predict masks them, as training did) set the ranges
    and ranks that int8 is fitted to."""
    model = tmp_path / "student"
    shutil.copytree(student, model)
    data = tmp_path / "train.csv"
    texts = [f"profit rose {i} see https://example.com/{i} or mail ir{i}@example.com" for i in range(40)]
    pd.DataFrame({"text": texts}).to_csv(data, index=False)
    seen: list[str] = []
    calibration_reader = sxhub.quantize._CalibrationReader

    def spy(model_dir: Path, texts: list[str], names: list[str]) -> object:
        seen.extend(texts)
        return calibration_reader(model_dir, texts, names)

    monkeypatch.setattr(sxhub.quantize, "_CalibrationReader", spy)
    export_onnx(model, int8=True, data=data, check_n=10, quantization="static")
    assert len(seen) == 30
    assert all("URL" in text and "EMAIL" in text and "example.com" not in text for text in seen)


def test_mixed_keeps_the_most_sensitive_matmuls_fp32(student: Path, tmp_path: Path) -> None:
    data = unique_texts_file(tmp_path / "train.csv", 300)

    result = export_onnx(student, int8=True, data=data, check_n=100, quantization="mixed")

    nodes = quantizable_nodes(result.onnx_path)
    assert result.quantization == "mixed" and result.fp32_nodes
    assert set(result.fp32_nodes) < set(nodes) and len(result.fp32_nodes) <= len(nodes) // 2
    # the kept nodes are still float ops under their names in the int8 graph; every other one was quantized
    graph = {n.name: n.op_type for n in onnx.load(str(result.int8_path)).graph.node}
    assert all(graph.get(name) in {"MatMul", "Gemm", "Attention"} for name in result.fp32_nodes)
    assert all(graph.get(name) not in {"MatMul", "Gemm"} for name in set(nodes) - set(result.fp32_nodes))
    assert "DynamicQuantizeMatMul" in graph.values() or "MatMulInteger" in graph.values()
    assert any(f"int8 mixed ({len(result.fp32_nodes)} MatMuls fp32): " in note for note in result.notes)
    # the step was chosen on the fitting texts (the 200 outside the check), and then checked
    fitting = [note for note in result.notes if "of fp32's labels on 200 fitting texts (one standard error" in note]
    assert fitting and fitting[-1].startswith(f"int8 mixed ({len(result.fp32_nodes)} MatMuls fp32)")
    record = json.loads((student / "sxhub.json").read_text())["export"]["variants"]["onnx-int8"]
    assert record["quantization"] == "mixed" and record["fp32_nodes"] == result.fp32_nodes
    card_row = sxhub.cards.export_facts({"export": {"variants": {"onnx-int8": record}}})["rows"][0]["name"]
    # (then the near-ties rerun in fp32, where the export fitted a margin)
    assert card_row.startswith(f"ONNX int8 (mixed: {len(result.fp32_nodes)} most sensitive MatMuls kept fp32)")
    assert "smoothing" not in record and result.smoothing is None  # mixed quantizes the plain graph


def matmul_inputs(path: Path) -> int:
    """How many distinct inputs the graph's MatMuls with constant weights read (what smoothing scales)."""
    graph = onnx.load(str(path)).graph
    weights = {i.name for i in graph.initializer}
    return len({n.input[0] for n in graph.node if n.op_type == "MatMul" and n.input[1] in weights})


def test_smoothing_keeps_the_function_and_moves_the_range_into_the_weights(student: Path, tmp_path: Path) -> None:
    source = tmp_path / "fp32.onnx"
    export_onnx(student)
    source.write_bytes((student / "onnx" / "model.onnx").read_bytes())
    texts = (list(TEXTS) * 20)[:64]

    inputs = smooth_graph(source, tmp_path / "smoothed.onnx", student, texts)

    graph = onnx.load(str(tmp_path / "smoothed.onnx")).graph
    muls = [n for n in graph.node if n.op_type == "Mul" and n.name.endswith("/smoothed")]
    assert inputs == len(muls) == matmul_inputs(source) > 0
    # every smoothed input feeds only through its Mul now, and each Mul comes before the MatMuls reading it
    position = {out: i for i, n in enumerate(graph.node) for out in n.output}
    for mul in muls:
        readers = [i for i, n in enumerate(graph.node) if mul.output[0] in n.input]
        assert readers and min(readers) > position[mul.output[0]]
    assert not [i.name for i in graph.initializer if i.name not in {x for n in graph.node for x in n.input}]
    probe = Probe(student, texts)
    assert np.abs(probe(tmp_path / "smoothed.onnx") - probe(source)).max() < 1e-4  # the same function in fp32
    # the scales moved range out of the widest activation channels: a smoothed input's max |x| is flatter
    peaks = _activation_peaks(onnx.load(str(source)), tmp_path / "p.onnx", student, texts, [muls[0].input[0]])
    after = _activation_peaks(onnx.load(str(tmp_path / "smoothed.onnx")), tmp_path / "p.onnx", student, texts,
                              [muls[0].output[0]])  # fmt: skip
    spread = lambda p: float(p.max() / np.median(p))  # noqa: E731
    assert spread(after[muls[0].output[0]]) < spread(peaks[muls[0].input[0]])


def test_smooth_is_recorded_and_named_on_the_card(student: Path, tmp_path: Path) -> None:
    data = unique_texts_file(tmp_path / "train.csv", 300)

    result = export_onnx(student, int8=True, data=data, check_n=100, quantization="smooth")

    assert result.quantization == "smooth" and not result.fp32_nodes
    graph = {n.op_type for n in onnx.load(str(result.int8_path)).graph.node}
    assert "Mul" in graph and ("DynamicQuantizeMatMul" in graph or "MatMulInteger" in graph)
    record = json.loads((student / "sxhub.json").read_text())["export"]["variants"]["onnx-int8"]
    # fitted on the 200 texts outside the check
    smoothing = {"method": "SmoothQuant", "alpha": 0.75, "texts": 200, "inputs": matmul_inputs(result.onnx_path)}
    assert record["quantization"] == "smooth" and record["smoothing"] == smoothing
    card_row = sxhub.cards.export_facts({"export": {"variants": {"onnx-int8": record}}})["rows"][0]["name"]
    assert card_row.startswith("ONNX int8 (smooth: per-channel, activations smoothed (SmoothQuant, alpha 0.75))")
    plain = export_onnx(student, int8=True, data=data, check_n=100, quantization="per-channel")
    assert plain.smoothing is None
    assert "smoothing" not in json.loads((student / "sxhub.json").read_text())["export"]["variants"]["onnx-int8"]
    # without texts outside the check, smoothing is fitted on the check texts, and the notes say so
    few = export_onnx(student, int8=True, quantization="smooth")
    assert few.smoothing is not None and few.smoothing["texts"] == 8
    assert any(
        note.startswith(
            "int8 recipes and int8's recheck margin were fitted on the check texts (no training texts outside the "
            "sample), so int8's agreement is measured on the texts it was fitted to and leans optimistic"
        )
        for note in few.notes
    )


def test_auto_tries_each_recipe_and_keeps_the_most_faithful(
    student: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sxhub.export, "AGREEMENT_BAR", 1.01)  # no recipe reaches it: every one is tried
    monkeypatch.setattr(sxhub.export, "CHECK_TEXTS", 100)  # and 100 texts are enough to make int8 the default
    data = unique_texts_file(tmp_path / "train.csv", 300)

    result = export_onnx(student, int8=True, data=data, check_n=100, quantization="auto")

    trials = [note for note in result.notes if note.startswith("int8 ") and "% agreement, " in note]
    tried = [note.split(":")[0] for note in trials]
    assert tried[:2] == ["int8 per-channel", "int8 smooth"] and tried[-2:] == ["int8 dynamic", "int8 static"]
    assert any(name.startswith("int8 mixed (") for name in tried)
    shares = [float(note.split(": ")[1].split("%")[0]) for note in trials]
    assert result.agreement["onnx-int8"].label_agreement * 100 == pytest.approx(max(shares), abs=0.006)


def test_auto_skips_the_mixed_search_when_int8_cannot_be_the_default(student: Path) -> None:
    result = export_onnx(student, int8=True, quantization="auto")  # 8 built-in texts, under CHECK_TEXTS

    assert "int8 mixed not tried: 8 check texts cannot make int8 the default." in result.notes
    assert not any(note.startswith("int8 mixed (") for note in result.notes) and result.default == "onnx"


def test_mixed_takes_a_step_only_when_its_agreement_clears_the_bar_by_a_standard_error() -> None:
    assert lower_bound(0.995, 1000) < AGREEMENT_BAR  # 5 flips in 1,000: as likely under the bar as over it
    assert lower_bound(0.997, 1000) < AGREEMENT_BAR < lower_bound(0.998, 1000)
    assert lower_bound(1.0, 256) > AGREEMENT_BAR > lower_bound(1.0, 150)  # few texts: no flip allowed, or not enough
    assert lower_bound(0.5, 10) == pytest.approx(0.3492, abs=1e-4)  # Wilson, z = 1
    assert lower_bound(0.9, 0) == 0.0


def test_int8_is_the_default_only_over_the_bar_on_enough_texts(tmp_path: Path) -> None:
    def result(agreement: float) -> ExportResult:
        return ExportResult(
            model_dir=tmp_path,
            onnx_path=tmp_path / "m.onnx",
            agreement={"onnx": Agreement(1000, 1.0, 0.0), "onnx-int8": Agreement(1000, agreement, 0.1)},
        )

    assert choose_default(result(0.996), 1000) == "onnx-int8"
    under = result(0.990)
    assert choose_default(under, 1000) == "onnx"
    assert "99.00% of 1000 texts, under the 99.5% bar" in under.notes[0]
    few = result(1.0)
    assert choose_default(few, 999) == "onnx" and "checked on 999 texts only" in few.notes[0]
    assert choose_default(ExportResult(model_dir=tmp_path, onnx_path=tmp_path / "m.onnx"), 5000) == "onnx"
    # over the bar, but no faster than fp32 where it was measured: fp32 is served
    slow = result(0.999)
    slow.speed = {"onnx": 500.0, "onnx-int8": 480.0}
    assert choose_default(slow, 1000) == "onnx"
    assert slow.notes == ["int8 is not the default: it ran at 480 texts/s here, no faster than ONNX fp32 (500); "
                          "serve onnx/model.onnx."]  # fmt: skip
    fast = result(0.999)
    fast.speed = {"onnx": 500.0, "onnx-int8": 600.0}
    assert choose_default(fast, 1000) == "onnx-int8" and not fast.notes


def test_predict_says_when_int8_is_not_the_default(student: Path, caplog: pytest.LogCaptureFixture) -> None:
    export_onnx(student, int8=True, quantization="dynamic")  # 8 built-in texts: too few to vouch for int8
    with caplog.at_level("WARNING", logger="sxhub.predict"):
        Predictor(student, onnx=True, int8=True)
    assert "onnx/model_int8.onnx is not this model's default" in caplog.text and "on 8 texts" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="sxhub.predict"):
        Predictor(student, onnx=True)
    assert not sxhub_logged(caplog)


def test_a_summary_counts_the_near_ties_of_its_own_file(student: Path, tmp_path: Path) -> None:
    """``predict_file(..., predictor=p)`` (and ``evaluate``'s) said p's near-ties since it was loaded (texts predicted
    before, a file labelled earlier) as rerun in this file: its truncated count was this file's own, its rechecked
    count was not."""
    export_onnx(student, int8=True, quantization="dynamic")
    predictor = Predictor(student, onnx=True, int8=True, recheck=1e9)  # every text is a near-tie
    predictor.predict(["profit rose", "loss fell", "the city"])
    source = tmp_path / "in.txt"
    source.write_text("profit rose\nloss fell\n", encoding="utf-8")
    for out in ("a.csv", "b.csv"):
        summary = predict_file(student, source, tmp_path / out, predictor=predictor)
        assert summary.rechecked == 2, out
        assert "2 near-ties (100.0%) rerun in fp32" in summary.summary_line()
    gold = pd.DataFrame({"text": ["profit rose", "loss fell"], "label": ["positive", "negative"]})
    assert evaluate(student, gold, gold="label", predictor=predictor)["rechecked"] == 2


def test_the_onnx_path_needs_neither_torch_nor_transformers(student: Path) -> None:
    export_onnx(student, int8=True, quantization="dynamic")
    torch_ids = Predictor(student).tokenizer(TEXTS, truncation=True, max_length=8)["input_ids"]
    onnx_pred = Predictor(student, onnx=True, int8=True)
    onnx_pred._onnx.tokenizer.enable_truncation(8)
    assert onnx_pred._onnx.encode(TEXTS) == torch_ids, "tokenizers and AutoTokenizer give the same ids"
    code = (
        "import sys; from sxhub.predict import Predictor; "
        f"labels, _ = Predictor({str(student)!r}, onnx=True, int8=True).predict(['profit rose', 'loss fell']); "
        "print(labels, sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("[]"), out


def test_threads_run_whole_batches_side_by_side(student: Path) -> None:
    """With threads > 1 the batches run concurrently, each single-threaded on one shared session; the logits are the
    same as one batch at a time, in input order, and the batches are the same whatever the threads."""
    from sxhub.onnx_runtime import OnnxClassifier, cpu_threads

    export_onnx(student, int8=True, quantization="dynamic")
    texts = [f"{t} {'again ' * (i % 7)}" for i, t in enumerate(TEXTS * 12)]  # lengths differ: sorting reorders
    for name in ("model.onnx", "model_int8.onnx"):
        one, two = (
            OnnxClassifier(student, student / "onnx" / name, max_length=64, threads=n, batch_size=5) for n in (1, 2)
        )
        assert two.session.get_session_options().intra_op_num_threads == 1 and two.workers == 2
        counted: list[int] = []
        progress = type("P", (), {"update": staticmethod(counted.append)})()
        # int8's activation scales are per batch, so compare the same batches run one at a time
        np.testing.assert_array_equal(two.logits(texts, progress=progress), one.logits(texts))
        assert sum(counted) == len(texts) and len(counted) == -(-len(texts) // 5)
        if name == "model.onnx":  # and fp32 does not depend on the batching: text by text, input order
            alone = np.concatenate([one.run_batch([ids]) for ids in one.encode(texts)])
            np.testing.assert_allclose(two.logits(texts), alone, atol=1e-5)
        # the batches do not depend on the threads (int8's numbers would): fewer texts than a batch is one batch
        counted.clear()
        np.testing.assert_array_equal(two.logits(texts[:4], progress=progress), one.logits(texts[:4]))
        assert counted == [4]
        assert two.logits([]).shape == (0, 0)
    if hasattr(os, "fork"):  # a child forked after the pool started makes its own (the parent's threads are gone)
        import multiprocessing

        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        child = context.Process(target=lambda: queue.put(two.logits(texts)))  # forked: nothing is pickled
        child.start()
        np.testing.assert_array_equal(queue.get(timeout=60), two.logits(texts))
        child.join(timeout=60)
        assert child.exitcode == 0
    assert 1 <= cpu_threads() <= (os.cpu_count() or 1)


def test_predict_file_prepares_the_next_chunk_while_this_one_runs(
    student: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each chunk is read, cleaned and tokenized on a second thread (while the model runs the one before); the
    output is what one ``predict`` call gives, rows without a text kept; an error there stops the run, nothing
    half-written."""
    import threading

    from sxhub.errors import InputError
    from sxhub.predict import predict_file

    export_onnx(student)
    texts = [f"{t} {'again ' * (i % 5)}" for i, t in enumerate(TEXTS * 3)]
    texts[4] = ""
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    pd.DataFrame({"text": texts}).to_csv(source, index=False)
    predictor = Predictor(student, onnx=True)
    threads: list[str] = []
    prepare = predictor.prepare

    def spy(batch: list[str]) -> object:
        threads.append(threading.current_thread().name)
        return prepare(batch)

    monkeypatch.setattr(predictor, "prepare", spy)
    summary = predict_file(student, source, out, predictor=predictor, chunk_rows=4)
    got = pd.read_csv(out)
    assert summary.n == len(texts) and summary.n_empty == 1 and len(threads) == -(-len(texts) // 4)
    assert all(name.startswith("sxhub-read") for name in threads), threads
    kept = [t for t in texts if t]
    labels, probs = Predictor(student, onnx=True).predict(kept)
    assert got["label"].isna().tolist() == [not t for t in texts]
    assert got["label"].dropna().tolist() == labels
    np.testing.assert_allclose(got.dropna()[[f"prob_{n}" for n in predictor.labels]].to_numpy(), probs, atol=1e-6)

    calls = iter(range(100))

    def fails_third(batch: list[str]) -> object:
        if next(calls) == 2:
            raise InputError("the third chunk is bad")
        return prepare(batch)

    monkeypatch.setattr(predictor, "prepare", fails_third)
    with pytest.raises(InputError, match="third chunk"):
        predict_file(student, source, tmp_path / "never.csv", predictor=predictor, chunk_rows=4)
    assert not (tmp_path / "never.csv").exists()


def test_cli_export_errors_are_one_line(student: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["export", str(student), "--int8", "--data", str(tmp_path / "missing.csv")], capsys)
    assert code == 2 and "missing.csv" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(["export", str(student), "--int8", "--quantization", "fp4"], capsys)
    assert code == 2 and "fp4" in err


def test_a_model_onnx_cannot_hold_is_one_line_naming_torch(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """FNet mixes tokens with a Fourier transform, which ONNX's opset 17 has no operator for: its export was one
    line cut mid-sentence at 200 characters that named no way on ("... Support for this operator was added in
    version"), after torch had written the model's whole TorchScript graph to stdout; the line names the model class
    and how to serve it (torch), and stdout stays empty."""
    import transformers

    folder = build_tiny_model(tmp_path / "fnet")  # its tokenizer; the model is replaced by an FNet
    for name in ("model.safetensors", "config.json"):
        (folder / name).unlink()
    config = transformers.FNetConfig(
        vocab_size=len(transformers.AutoTokenizer.from_pretrained(folder)), hidden_size=32, num_hidden_layers=2,
        intermediate_size=64, max_position_embeddings=128, num_labels=3,
    )  # fmt: skip
    transformers.FNetForSequenceClassification(config).save_pretrained(folder)
    capfd.readouterr()

    code, out, err = run_cli(["export", str(folder)], capfd)  # capfd: torch's native code writes to the descriptors

    assert code == 2 and out == ""
    line = err.strip().splitlines()[-1]  # after the progress bars
    assert line.startswith(f"Error: ONNX export of {str(folder)!r} (FNetForSequenceClassification) failed: ")
    assert "'aten::fft_fftn'" in line
    assert line.endswith("it cannot be served with --onnx; serve it with torch (sxhub predict without --onnx).")
    assert not (folder / "onnx").exists()


@pytest.mark.slow
def test_a_graph_that_does_not_run_on_its_own_tokens_is_one_line_naming_torch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Longformer pads its input to its attention window inside forward, which the traced graph keeps for the
    sample's length: the graph exported does not run on other lengths. The export said its own work file
    ('.../onnx/.export-xxx/staged/model.onnx', gone once it ended) "is not an export of" the folder and to run the
    same export again, which fails the same way; the line says the graph does not run and names torch."""
    import transformers

    folder = build_tiny_model(tmp_path / "longformer")  # its tokenizer; the model is replaced by a Longformer
    for name in ("model.safetensors", "config.json"):
        (folder / name).unlink()
    config = transformers.LongformerConfig(
        vocab_size=len(transformers.AutoTokenizer.from_pretrained(folder)), hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=64, max_position_embeddings=130, attention_window=[4, 4],
        pad_token_id=1, num_labels=3,
    )  # fmt: skip
    transformers.LongformerForSequenceClassification(config).save_pretrained(folder)
    capsys.readouterr()

    code, out, err = run_cli(["export", str(folder)], capsys)

    assert code == 2 and out == ""
    line = err.strip().splitlines()[-1]  # after the progress bars and transformers' own lines
    assert line.startswith(f"Error: the ONNX graph exported from {str(folder)!r} does not run on the folder's own ")
    assert "staged" not in line and "again" not in line
    assert line.endswith("it cannot be served with --onnx; serve it with torch (sxhub predict without --onnx).")
    assert not (folder / "onnx").exists()


def other_models_onnx(tmp_path: Path, *, num_labels: int, vocab_size: int) -> Path:
    """onnx/model.onnx of another classifier: a random BERT with its own label count and vocabulary size."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(vocab_size=vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=128, num_labels=num_labels)  # fmt: skip
    model = BertForSequenceClassification(config).eval()

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.model(input_ids=input_ids, attention_mask=attention_mask).logits

    path = tmp_path / "other.onnx"
    ids = torch.ones((1, 4), dtype=torch.long)
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on constant shapes, as sxhub's export ignores them
        torch.onnx.export(Logits(), (ids, torch.ones_like(ids)), str(path), input_names=["input_ids", "attention_mask"],
                          output_names=["logits"], dynamic_axes=axes | {"logits": {0: "batch"}}, dynamo=False)  # fmt: skip
    return path


@pytest.mark.parametrize("other", ["labels", "vocabulary"])
def test_an_onnx_file_of_another_model_is_one_line_naming_the_export(
    student: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], other: str
) -> None:
    """onnx/model.onnx copied from another model's folder: another label count ended predict --onnx in numpy's
    'ValueError: shape mismatch: value array of shape (300,2) could not be broadcast ... (300,3)', a smaller
    vocabulary in ONNX Runtime's 'indices element out of data bounds' on a Gather node after its own red error lines,
    both exit 1. Each is now one line saying the file is not this folder's export and to export again, exit 2, before
    any text runs and with nothing written; the folder's own export still serves."""
    model = tmp_path / "student"
    shutil.copytree(student, model)
    export_onnx(model)
    vocab_size = json.loads((student / "config.json").read_text())["vocab_size"]
    shape = {"labels": (2, vocab_size), "vocabulary": (3, vocab_size // 2)}[other]
    onnx_file = model / "onnx" / "model.onnx"
    own = onnx_file.read_bytes()
    shutil.copy(other_models_onnx(tmp_path, num_labels=shape[0], vocab_size=shape[1]), onnx_file)
    data = texts_file(tmp_path / "texts.csv", 40)
    out = tmp_path / "out.csv"
    capsys.readouterr()  # the export's loading bars
    code, stdout, err = run_cli(["predict", str(model), str(data), "-o", str(out), "--onnx"], capsys)
    assert code == 2, err
    assert err.strip().splitlines() == [err.strip()] and err.startswith(f"Error: '{onnx_file}' is not an export of")
    assert f"run sxhub export {model} again." in err
    said = {"labels": "gives 2 logits a text, the folder has 3 labels", "vocabulary": "cannot read token id"}
    assert said[other] in err
    assert not out.exists() and not stdout
    with pytest.raises(ModelError, match="is not an export of"):
        Predictor(model, onnx=True)
    onnx_file.write_bytes(own)
    code, _, err = run_cli(["predict", str(model), str(data), "-o", str(out), "--onnx"], capsys)
    assert code == 0 and len(pd.read_csv(out)) == 40, err


@pytest.fixture(scope="module")
def twin(tiny_base_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second student of ``student``'s task: the same base (vocabulary) and labels, trained with another seed."""
    out = tmp_path_factory.mktemp("export-twin") / "student"
    train(SINGLE, single_frame(), fast_config(out, tiny_base_model, epochs=5, seed=7))
    return out


def strip_weights_records(model: Path) -> None:
    """sxhub.json as sxhub wrote it before it recorded the weights' sha256 (training's and the export's)."""
    info = json.loads((model / "sxhub.json").read_text())
    info.pop("weights", None)
    (info.get("export") or {}).pop("weights_sha256", None)
    (model / "sxhub.json").write_text(json.dumps(info))


@pytest.mark.parametrize("variant", ["fp32", "int8", "no record"])
def test_an_onnx_file_of_another_student_of_the_same_task_is_refused(
    student: Path, twin: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], variant: str
) -> None:
    """onnx/ copied from another student of the same task (the same vocabulary and labels, trained again or with
    another seed) passed the load probe and labelled every text with that student's weights, exit 0. sxhub export
    now stamps the sha256 of the weights it read into each ONNX file (and sxhub.json; train records it too), and
    loading compares it with the folder's: one line naming the export to run, exit 2, before any text, nothing
    written. A folder whose sxhub.json predates the record ("no record") has its weights hashed instead."""
    import hashlib

    int8 = variant == "int8"
    model, other = tmp_path / "student", tmp_path / "other"
    shutil.copytree(student, model)
    shutil.copytree(twin, other)
    own = hashlib.sha256((model / "model.safetensors").read_bytes()).hexdigest()
    assert json.loads((model / "sxhub.json").read_text())["weights"] == {"sha256": own}  # train's record
    export_onnx(other, int8=int8, quantization="dynamic")
    shutil.rmtree(model / "onnx", ignore_errors=True)
    shutil.copytree(other / "onnx", model / "onnx")  # the other student's export, copied in
    if variant == "no record":
        strip_weights_records(model)
    data = texts_file(tmp_path / "texts.csv", 40)
    out = tmp_path / "out.csv"
    flags = ["--onnx", "--int8"] if int8 else ["--onnx"]
    capsys.readouterr()  # the export's loading bars
    code, stdout, err = run_cli(["predict", str(model), str(data), "-o", str(out), *flags], capsys)
    onnx_file = model / "onnx" / ("model_int8.onnx" if int8 else "model.onnx")
    assert code == 2, err
    assert err.strip().splitlines() == [err.strip()] and err.startswith(f"Error: '{onnx_file}' is not an export of")
    assert "exported from other weights" in err and f"the folder's are {own[:12]}" in err
    assert f"run sxhub export {model}{' --int8' if int8 else ''} again." in err
    assert not out.exists() and not stdout
    with pytest.raises(ModelError, match="exported from other weights"):
        Predictor(model, onnx=True, int8=int8)
    export_onnx(model, int8=int8, quantization="dynamic")  # the fix the line names
    assert json.loads((model / "sxhub.json").read_text())["export"]["weights_sha256"] == own
    stamps = {p.key: p.value for p in onnx.load(str(onnx_file), load_external_data=False).metadata_props}
    assert stamps["sxhub.weights_sha256"] == own
    code, _, err = run_cli(["predict", str(model), str(data), "-o", str(out), *flags], capsys)
    assert code == 0 and len(pd.read_csv(out)) == 40, err


@pytest.mark.parametrize("how", ["save_pretrained", "copied"])
def test_weights_replaced_after_the_export_are_caught(
    student: Path,
    twin: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    """model.safetensors replaced by hand after sxhub export (a retrain into the folder with plain transformers
    save_pretrained, another student's weights copied in, the same size) left sxhub.json's record as it was, and
    predict --onnx compared the ONNX stamp with that record: the stale export labelled every text, exit 0. The
    weights files' size and mtime are recorded with their sha256, and a load hashes them again when either changed:
    one line naming the export to run, exit 2, nothing written. An untouched folder is not hashed at all."""
    import sxhub.model_folder

    model = tmp_path / "student"
    shutil.copytree(student, model)
    export_onnx(model)
    hashed: list[Path] = []
    real_hash = sxhub.model_folder.weights_sha256

    def counted(folder: Any) -> str | None:
        hashed.append(Path(folder))
        return real_hash(folder)

    monkeypatch.setattr(sxhub.model_folder, "weights_sha256", counted)
    assert Predictor(model, onnx=True).predict(TEXTS)[0] and hashed == []  # size and mtime as recorded: no hash
    if how == "save_pretrained":
        from transformers import AutoModelForSequenceClassification

        AutoModelForSequenceClassification.from_pretrained(twin).save_pretrained(model)
    else:
        shutil.copy2(twin / "model.safetensors", model / "model.safetensors")  # keeps the twin's mtime
    assert (model / "model.safetensors").stat().st_size == (student / "model.safetensors").stat().st_size
    data = texts_file(tmp_path / "texts.csv", 40)
    out = tmp_path / "out.csv"
    capsys.readouterr()
    code, stdout, err = run_cli(["predict", str(model), str(data), "-o", str(out), "--onnx"], capsys)
    assert code == 2, err
    assert err.strip().splitlines() == [err.strip()] and err.startswith(f"Error: '{model / 'onnx' / 'model.onnx'}'")
    assert "they changed after the export" in err and f"run sxhub export {model} again." in err
    assert not out.exists() and not stdout and hashed
    export_onnx(model)  # the fix the line names
    code, _, err = run_cli(["predict", str(model), str(data), "-o", str(out), "--onnx"], capsys)
    assert code == 0 and len(pd.read_csv(out)) == 40, err
    torch_labels = Predictor(model).predict(TEXTS)[0]
    assert Predictor(model, onnx=True).predict(TEXTS)[0] == torch_labels


def test_the_weights_stamp_keeps_an_exports_external_data(student: Path, tmp_path: Path) -> None:
    """sxhub export stamped the weights' sha256 by loading the ONNX file whole and saving it again: a graph whose
    tensors live in an external data file (torch writes an export over 2 GB so) came back with every tensor inline
    (over 2 GB protobuf cannot hold that), its model.onnx.data left beside it unused. The stamp now rewrites the graph
    alone: the tensors stay in the same file, under the same name, and the file serves as before."""
    from onnx.external_data_helper import uses_external_data

    from sxhub.export import stamp_weights

    model = tmp_path / "student"
    shutil.copytree(student, model)
    export_onnx(model)
    path = model / "onnx" / "model.onnx"
    inline = Predictor(model, onnx=True).predict_proba(TEXTS)
    graph = onnx.load(str(path))
    onnx.save_model(graph, str(path), save_as_external_data=True, location="model.onnx.data", size_threshold=0)
    data = (model / "onnx" / "model.onnx.data").read_bytes()
    own = json.loads((model / "sxhub.json").read_text())["export"]["weights_sha256"]
    stamp_weights(path, own)
    graph = onnx.load(str(path), load_external_data=False)
    assert all(uses_external_data(t) for t in graph.graph.initializer)
    assert {e.value for t in graph.graph.initializer for e in t.external_data if e.key == "location"} == {
        "model.onnx.data"
    }
    assert (model / "onnx" / "model.onnx.data").read_bytes() == data
    assert {p.key: p.value for p in graph.metadata_props}["sxhub.weights_sha256"] == own
    np.testing.assert_allclose(Predictor(model, onnx=True).predict_proba(TEXTS), inline, atol=1e-6)


def test_an_export_with_external_data_moves_in_whole_and_serves(
    student: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A model whose torch export comes with external data (over 2 GB; forced here for a tiny one) is fused, stamped
    and moved into onnx/ with its data file under the name the loaders look for (model.onnx.data beside
    model.onnx), and predict --onnx gives what the inline export gives."""
    from onnx.external_data_helper import uses_external_data

    model = tmp_path / "student"
    shutil.copytree(student, model)
    export_onnx(model)
    inline = Predictor(model, onnx=True).predict_proba(TEXTS)
    real = sxhub.export._export_graph

    def large(model_dir: Path, path: Path, opset: int, *, cls_only: bool = True) -> str | None:
        why = real(model_dir, path, opset, cls_only=cls_only)
        graph = onnx.load(str(path))
        onnx.save_model(graph, str(path), save_as_external_data=True, location="raw.onnx.data", size_threshold=0)
        return why

    monkeypatch.setattr(sxhub.export, "_export_graph", large)
    export_onnx(model)
    path = model / "onnx" / "model.onnx"
    graph = onnx.load(str(path), load_external_data=False)
    assert any(uses_external_data(t) for t in graph.graph.initializer)
    assert (model / "onnx" / "model.onnx.data").is_file()
    assert sorted(p.name for p in (model / "onnx").iterdir()) == ["model.onnx", "model.onnx.data"]
    np.testing.assert_allclose(Predictor(model, onnx=True).predict_proba(TEXTS), inline, atol=1e-6)
    data = texts_file(tmp_path / "texts.csv", 20)
    out = tmp_path / "out.csv"
    capsys.readouterr()
    code, _, err = run_cli(["predict", str(model), str(data), "-o", str(out), "--onnx"], capsys)
    assert code == 0 and len(pd.read_csv(out)) == 20, err


@pytest.mark.parametrize("quantization", ["per-channel", "smooth", "mixed", "static"])
def test_int8_of_an_export_with_external_data_is_written_and_serves(
    quantization: str,
    student: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """sxhub export --int8 of a model whose torch export comes with external data (over 2 GB; forced here for a tiny
    one) quantized the fused graph without onnxruntime's use_external_data_format, so the int8 file was written as one
    protobuf (over 2 GB it cannot be). It now keeps its tensors in onnx/model_int8.onnx.data, moved in with it, and
    predict --onnx --int8 serves it."""
    from onnx.external_data_helper import uses_external_data

    model = tmp_path / "student"
    shutil.copytree(student, model)
    real = sxhub.export._export_graph

    def large(model_dir: Path, path: Path, opset: int, *, cls_only: bool = True) -> str | None:
        why = real(model_dir, path, opset, cls_only=cls_only)
        graph = onnx.load(str(path))
        onnx.save_model(graph, str(path), save_as_external_data=True, location="raw.onnx.data", size_threshold=0)
        return why

    monkeypatch.setattr(sxhub.export, "_export_graph", large)
    data = texts_file(tmp_path / "train.csv", 60)
    capsys.readouterr()
    code, _, err = run_cli(
        ["export", str(model), "--int8", "--data", str(data), "--quantization", quantization], capsys
    )
    assert code == 0, err
    int8 = model / "onnx" / "model_int8.onnx"
    graph = onnx.load(str(int8), load_external_data=False)
    assert any(uses_external_data(t) for t in graph.graph.initializer)
    assert sorted(p.name for p in (model / "onnx").iterdir()) == [
        "model.onnx", "model.onnx.data", "model_int8.onnx", "model_int8.onnx.data"
    ]  # fmt: skip
    assert json.loads((model / "sxhub.json").read_text())["export"]["variants"]["onnx-int8"]["quantization"] == (
        quantization
    )
    out = tmp_path / "out.csv"
    code, _, err = run_cli(["predict", str(model), str(data), "-o", str(out), "--onnx", "--int8"], capsys)
    assert code == 0 and len(pd.read_csv(out)) == 60, err


def test_an_export_without_the_weights_stamp_still_loads(student: Path, tmp_path: Path) -> None:
    """An export made before sxhub stamped the weights' sha256 (no metadata, no record in sxhub.json) loads as it
    did, and gives what the stamped file gives."""
    model = tmp_path / "student"
    shutil.copytree(student, model)
    export_onnx(model)
    stamped = Predictor(model, onnx=True).predict_proba(TEXTS)
    path = model / "onnx" / "model.onnx"
    graph = onnx.load(str(path))
    assert [p.key for p in graph.metadata_props] == ["sxhub.weights_sha256"]
    del graph.metadata_props[:]
    onnx.save(graph, str(path))
    strip_weights_records(model)
    assert np.array_equal(Predictor(model, onnx=True).predict_proba(TEXTS), stamped)


def test_an_onnx_only_folder_loads_and_refuses_another_students_export(
    student: Path, twin: Path, tmp_path: Path
) -> None:
    """A folder with the ONNX export and no torch weights (a published model's onnx/ with its config, tokenizer and
    sxhub.json: what the Space downloads) loads with --onnx, checked against sxhub.json's record; another student's
    onnx/ copied into it is refused the same way, without weights to hash."""
    model, other = tmp_path / "student", tmp_path / "other"
    shutil.copytree(student, model)
    shutil.copytree(twin, other)
    export_onnx(model)
    export_onnx(other)
    (model / "model.safetensors").unlink()
    assert Predictor(model, onnx=True).predict(TEXTS)[0]
    shutil.copy(other / "onnx" / "model.onnx", model / "onnx" / "model.onnx")
    with pytest.raises(ModelError, match="exported from other weights"):
        Predictor(model, onnx=True)


def test_compare_counts_identical_decisions() -> None:
    reference = np.array([[0.9, 0.1], [0.4, 0.6], [0.5, 0.5]])
    other = np.array([[0.8, 0.2], [0.6, 0.4], [0.5, 0.5]])
    agreement = compare(reference, other)
    assert agreement.label_agreement == pytest.approx(2 / 3)
    assert agreement.max_abs_diff == pytest.approx(0.2)
    assert compare(reference, other, thresholds=np.array([0.3, 0.3])).label_agreement == 1.0
    assert compare(reference, other, thresholds=np.array([0.85, 0.15])).label_agreement == pytest.approx(2 / 3)


@pytest.mark.parametrize("multi_label", [False, True], ids=["single", "multi"])
def test_a_label_changes_only_where_the_logits_moved_by_its_margin(multi_label: bool) -> None:
    """What the recheck rests on: a text whose label differs between two models has a margin (on either model) no
    larger than how far its logits moved, so the texts under margin m are the only ones that can differ by less."""
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(5000, 4)) * 2
    other = reference + rng.normal(size=(5000, 4)) * rng.exponential(0.3, size=(5000, 1))  # a heavy-tailed error
    cuts = threshold_logits(np.array([0.3, 0.5, 0.6, 0.8])) if multi_label else None

    def labels(logits: np.ndarray) -> np.ndarray:
        return logits >= cuts if cuts is not None else logits.argmax(axis=1)[:, None]

    changed = (labels(reference) != labels(other)).any(axis=1)
    margins, shifts = decision_margins(other, cuts), decision_shifts(reference, other, multi_label)
    assert 50 < changed.sum() < 4000
    assert (margins[changed] <= shifts[changed] + 1e-9).all()
    # the margins themselves: the top two logits' gap, or the closest logit to its threshold's
    assert decision_margins(np.array([[1.0, 3.0, 2.5]])) == pytest.approx([0.5])
    assert decision_margins(np.array([[0.0, 2.0]]), threshold_logits(np.array([0.5, 0.5]))) == pytest.approx([0.0])
    assert threshold_logits(np.array([0.5]))[0] == pytest.approx(0.0)
    assert decision_shifts(np.array([[0.0, 1.0]]), np.array([[0.5, 0.0]]), False) == pytest.approx([1.5])
    assert decision_shifts(np.array([[0.0, 1.0]]), np.array([[0.5, 0.0]]), True) == pytest.approx([1.0])


def test_a_multi_label_margin_is_fitted_per_label_so_a_calm_label_near_its_threshold_is_not_a_near_tie() -> None:
    """One margin for all labels (the largest move of any label against the nearest label's distance) reran every
    text of a 4P student: Promotion's logits sit near its threshold, int8 moves Price's most
    (bench/results/recheck_multilabel.md). Each label changes only where its own logit crosses its own threshold,
    so each gets its own margin: a text is rerun where a label is within its own margin, and what is not rerun can
    change only where a label moved by more than its margin."""
    rng = np.random.default_rng(0)
    n = 4000
    cuts = threshold_logits(np.array([0.5, 0.5]))
    # label 0 ("Promotion"): always close to its threshold, barely moved; label 1 ("Price"): far, moved a lot
    fp32 = np.column_stack([rng.uniform(-0.3, 0.3, n), rng.choice([-1, 1], n) * rng.uniform(1.0, 6.0, n)])
    int8 = fp32 + np.column_stack([rng.normal(0, 0.01, n), rng.normal(0, 0.4, n)])
    fitting, served = slice(0, 2000), slice(2000, n)

    margin = sxhub.export.fit_recheck_margin(fp32[fitting], int8[fitting], multi_label=True)
    assert isinstance(margin, list) and len(margin) == 2 and margin[0] < 0.05 < 0.5 < margin[1]
    one = float(np.quantile(decision_shifts(fp32[fitting], int8[fitting], True), sxhub.export.RECHECK_QUANTILE))
    assert near_ties(int8[served], one, cuts).mean() > 0.99  # one margin: nearly every text rerun
    rerun = near_ties(int8[served], margin, cuts)
    assert 0.05 < rerun.mean() < 0.5  # per label: label 0's few near-ties and label 1's near ones
    changed = ((fp32[served] >= cuts) != (int8[served] >= cuts)).any(axis=1)
    assert changed.sum() > 10 and (changed & ~rerun).mean() < 0.01  # what is left changes only past a margin
    # a single number for every label rerun what the nearest label's distance under it did before (old records)
    assert (near_ties(int8, 0.2, cuts) == (decision_margins(int8, cuts) < 0.2)).all()
    # single-label: one margin, the gap between the top two
    assert isinstance(sxhub.export.fit_recheck_margin(fp32, int8, multi_label=False), float)
    assert describe_margin(0.8647) == "within 0.86 logits of a label change"
    assert describe_margin([0.01, 0.6], ["Promotion", "Price"]) == (
        "within a label's own margin of its threshold (Promotion 0.01, Price 0.60 logits)"
    )
    # a tiny student's margin read "within 0.00 logits", as if nothing were rerun
    assert describe_margin(0.0004) == "within 0.0004 logits of a label change"
    assert describe_margin(0.0) == "within 0.00 logits of a label change"


def test_the_cards_variant_rows_show_label_names_with_markup_as_typed() -> None:
    """The card's variants table and its rerun note named each multi-label margin's label as plain Markdown: a label
    `café *star*` showed as an italic "café star", `<b>bold</b>` in bold, fastText's `__label__pos` as a bold "label".
    They are code spans now, as in the card's labels table."""
    from markdown_it import MarkdownIt

    record = {
        "file": "onnx/model_int8.onnx", "label_agreement": 0.99, "n": 1000, "max_abs_diff": 0.1, "texts_per_s": 500.0,
        "quantization": "per-channel", "recheck": {"margin": [0.1, 0.2, 0.3], "rechecked": 0.05},
    }  # fmt: skip
    names = ["café *star*", "<b>bold</b>", "__label__pos"]
    facts = sxhub.cards.export_facts({"labels": names, "export": {"variants": {"onnx-int8": record}}})
    assert facts is not None
    for html in (
        MarkdownIt("commonmark").render(facts["rows"][0]["name"]),
        MarkdownIt("commonmark").render(facts["recheck"]),
    ):
        assert "<em>" not in html and "<strong>" not in html and "<b>" not in html
        assert "<code>café *star*</code>" in html and "<code>&lt;b&gt;bold&lt;/b&gt;</code>" in html
        assert "<code>__label__pos</code>" in html


def test_a_multi_label_student_reruns_in_fp32_only_texts_a_label_of_which_is_within_its_margin(
    tiny_base_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "student"
    train(MULTI, multi_frame(), fast_config(out, tiny_base_model, epochs=5))
    data = unique_texts_file(tmp_path / "train.csv", 300)
    export_onnx(out, int8=True, data=data, check_n=100, quantization="per-channel")
    recheck = json.loads((out / "sxhub.json").read_text())["export"]["variants"]["onnx-int8"]["recheck"]
    assert isinstance(recheck["margin"], list) and len(recheck["margin"]) == len(MULTI.label_names)

    texts = [f"{t} {'again ' * (i % 5)}" for i, t in enumerate(TEXTS * 30)]
    fp32 = Predictor(out, onnx=True).predict_proba(texts)
    alone = Predictor(out, onnx=True, int8=True, recheck=False)
    int8_logits = alone._onnx.logits_of_ids(alone.prepare(texts).ids)
    cuts = threshold_logits(alone.info.threshold_vector())
    distance = np.abs(int8_logits - cuts)
    margin = [float(m) for m in np.quantile(distance, 0.2, axis=0)]  # a fifth of each label's texts near it
    near = (distance < np.array(margin)).any(axis=1)
    assert 0 < near.sum() < len(texts)
    served = Predictor(out, onnx=True, int8=True, recheck=margin)
    probs = served.predict_proba(texts)
    assert served.rechecked == near.sum()
    np.testing.assert_allclose(probs[near], fp32[near], atol=1e-5)
    np.testing.assert_allclose(probs[~near], alone.predict_proba(texts)[~near], atol=1e-6)
    assert Predictor(out, onnx=True, int8=True).recheck_margin == recheck["margin"]
    with pytest.raises(InputError, match=r"one per label \(3\)"):
        Predictor(out, onnx=True, int8=True, recheck=[0.1, 0.2])

    # the card says which texts are rerun, label by label
    code, _, err = run_cli(["publish", "model", str(out), "--to", str(tmp_path / "repo"), "--repo-id", "me/x"], capsys)
    assert code == 0, err
    card = (tmp_path / "repo" / "README.md").read_text(encoding="utf-8")
    assert "texts within a label's own margin of its threshold (" in card


def test_int8_reruns_its_near_ties_in_fp32(student: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = unique_texts_file(tmp_path / "train.csv", 300)
    result = export_onnx(student, int8=True, data=data, check_n=100, quantization="per-channel")

    # the margin is fitted on the 200 training texts outside the check, and int8 is checked as predict serves it
    recheck = json.loads((student / "sxhub.json").read_text())["export"]["variants"]["onnx-int8"]["recheck"]
    assert recheck["fitted_on"] == 200 and recheck["quantile"] == sxhub.export.RECHECK_QUANTILE
    assert recheck["margin"] == result.recheck["margin"] > 0 and 0 <= recheck["rechecked"] <= 1
    assert recheck["alone"]["n"] == 100 and recheck["alone"]["texts_per_s"] > 0
    assert result.agreement["onnx-int8"].label_agreement >= recheck["alone"]["label_agreement"]
    note = next(n for n in result.notes if n.startswith("int8 per-channel: "))
    assert "those within " in note and " logits of a label change, rerun in fp32; alone " in note

    texts = [f"{t} {'again ' * (i % 5)}" for i, t in enumerate(TEXTS * 30)]
    fp32 = Predictor(student, onnx=True).predict_proba(texts)
    alone = Predictor(student, onnx=True, int8=True, recheck=False)
    int8 = alone.predict_proba(texts)
    margins = decision_margins(alone._onnx.logits_of_ids(alone.prepare(texts).ids))
    margin = float(np.median(margins))
    served = Predictor(student, onnx=True, int8=True, recheck=margin)
    probs = served.predict_proba(texts)
    near = margins < margin
    assert served.rechecked == near.sum() and 0 < near.sum() < len(texts) and alone.rechecked == 0
    np.testing.assert_allclose(probs[~near], int8[~near], atol=1e-6)  # the rest keep int8's numbers
    np.testing.assert_allclose(probs[near], fp32[near], atol=1e-5)  # the near-ties get fp32's
    assert not np.allclose(probs[near], int8[near], atol=1e-5)
    # every text under an endless margin: fp32's numbers throughout; the recorded margin by default
    everything = Predictor(student, onnx=True, int8=True, recheck=1e9)
    np.testing.assert_allclose(everything.predict_proba(texts), fp32, atol=1e-5)
    assert everything.rechecked == len(texts)
    assert Predictor(student, onnx=True, int8=True).recheck_margin == recheck["margin"]
    assert Predictor(student, onnx=True, int8=True, recheck=0.0).recheck_margin is None
    assert Predictor(student, onnx=True).recheck_margin is None  # fp32 has nothing to recheck
    with pytest.raises(InputError, match=r"recheck=-1\.0 must be a margin"):
        Predictor(student, onnx=True, int8=True, recheck=-1.0)

    # the command says how many it reran, and --no-recheck turns it off
    source = tmp_path / "in.csv"
    pd.DataFrame({"text": texts}).to_csv(source, index=False)
    code, out, err = run_cli(["predict", str(student), str(source), "-o", str(tmp_path / "out.csv"), "--onnx",
                              "--int8", "--json"], capsys)  # fmt: skip
    assert code == 0, err
    summary = json.loads(out)
    near_recorded = int((margins < recheck["margin"]).sum())
    assert summary["rechecked"] == near_recorded
    code, out, err = run_cli(["predict", str(student), str(source), "-o", str(tmp_path / "out.csv"), "--onnx",
                              "--int8"], capsys)  # fmt: skip
    assert code == 0, err
    assert f"onnx-int8, {near_recorded:,} near-ties ({near_recorded / 150:.1%}) rerun in fp32)" in out
    code, out, err = run_cli(["predict", str(student), str(source), "-o", str(tmp_path / "out2.csv"), "--onnx",
                              "--int8", "--no-recheck"], capsys)  # fmt: skip
    assert code == 0, err
    assert out.startswith("Labelled 150 texts") and "rerun in fp32" not in out
    labelled = pd.read_csv(tmp_path / "out2.csv")
    assert labelled["label"].tolist() == [SINGLE.label_names[j] for j in int8.argmax(axis=1)]

    # a folder whose fp32 export is gone: one line that names the fix
    (student / "onnx" / "model.onnx").rename(tmp_path / "model.onnx")
    try:
        with pytest.raises(ModelError, match="int8 reruns its near-ties with the fp32 export; run sxhub export"):
            Predictor(student, onnx=True, int8=True)
        assert Predictor(student, onnx=True, int8=True, recheck=False).recheck_margin is None
    finally:
        (tmp_path / "model.onnx").rename(student / "onnx" / "model.onnx")


def test_the_model_card_states_int8_alone_and_with_its_near_ties_rerun(
    student: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export_onnx(student, int8=True, data=unique_texts_file(tmp_path / "train.csv", 300), check_n=100,
                quantization="per-channel")  # fmt: skip
    int8 = json.loads((student / "sxhub.json").read_text())["export"]["variants"]["onnx-int8"]
    code, _, err = run_cli(
        ["publish", "model", str(student), "--to", str(tmp_path / "repo"), "--repo-id", "me/x"], capsys
    )
    assert code == 0, err
    card = (tmp_path / "repo" / "README.md").read_text(encoding="utf-8")
    margin, alone = int8["recheck"]["margin"], int8["recheck"]["alone"]
    assert (
        f"| ONNX int8 (per-channel), texts within {margin:.2f} logits of a label change rerun in fp32 "
        f"({int8['recheck']['rechecked']:.1%} of the check texts) | `onnx/model_int8.onnx` | "
        f"{int8['label_agreement']:.2%} of 100 |"
    ) in card
    assert (
        "| ONNX int8 (per-channel) alone (`sxhub predict --onnx --int8 --no-recheck`) | `onnx/model_int8.onnx` | "
        f"{alone['label_agreement']:.2%} of 100 |"
    ) in card
    assert f"the texts within {margin:.2f} logits of a label change (single-label: the gap" in card


def test_texts_that_clean_to_one_text_are_checked_or_fitted_on_not_both(student: Path, tmp_path: Path) -> None:
    """check_sample took each raw text once, so two tweets differing only in a @handle or a link (one text once
    cleaned, as the model reads them) could be one a check text and the other a fitting text."""
    model = tmp_path / "student"

    shutil.copytree(student, model)
    info = json.loads((model / "sxhub.json").read_text())
    info["preprocessing"] = {"steps": [{"pattern": r"https?://\S+", "replacement": "URL"}], "strip": True}
    (model / "sxhub.json").write_text(json.dumps(info))
    texts = [f"profit rose {i} https://x.example/{j}" for i in range(200) for j in range(2)]
    path = tmp_path / "links.csv"
    pd.DataFrame({"text": texts}).to_csv(path, index=False)

    check, _, spare = check_sample(model, {}, data=path, text_column=None, n=100)

    cleaned = [re.sub(r"https?://\S+", "URL", t) for t in check + spare]
    assert len(check) + len(spare) == 200 and len(set(cleaned)) == 200


def test_export_does_not_warn_of_indexing_errors_on_a_short_text_student(
    student: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A student of short texts has a small model_max_length (16 tokens on the 4P example's tweets); the export's
    tracing sample was tokenized untruncated, so every `sxhub export` and `sxhub run` printed transformers' "Token
    indices sequence length is longer than the specified maximum ... will result in indexing errors"."""
    import logging

    from transformers.utils import logging as hf_logging

    model = tmp_path / "student"
    shutil.copytree(student, model)
    config = json.loads((model / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert config["model_max_length"] < 20  # fitted to the short training texts, shorter than the tracing sample
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())  # type: ignore[method-assign]
    root = hf_logging.get_logger()  # the "transformers" library logger: its own handler, no propagation
    monkeypatch.setattr(root, "level", logging.WARNING)
    root.addHandler(handler)
    try:
        result = export_onnx(model)
    finally:
        root.removeHandler(handler)
    assert result.agreement["onnx"].label_agreement == 1.0
    assert not [r for r in records if "Token indices sequence length" in r], records


def test_quantizing_leaves_the_callers_logging_as_it_was() -> None:
    # onnxruntime.quantization logs with logging.warning(...), which runs logging.basicConfig() when the root logger
    # has no handler: after export_onnx(int8=True) a script's root logger had a StreamHandler it never added (and its
    # own basicConfig did nothing); and the quantizer was hushed by setting the root logger to ERROR, which hid the
    # script's own warnings meanwhile. Run in a fresh process: pytest puts handlers on the root logger.
    code = (
        "import logging, onnxruntime; from pathlib import Path; from sxhub.quantize import _quiet_quantizer\n"
        "inside = str(Path(onnxruntime.__file__).parent / 'quantization' / 'onnx_quantizer.py')\n"
        "with _quiet_quantizer():\n"
        "    exec(compile(\"import logging; logging.warning('consider pre-processing')\", inside, 'exec'))\n"
        "    logging.getLogger('app').warning('the app warns')\n"
        "root = logging.getLogger(); print(len(root.handlers), root.level, len(root.filters))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["0", str(logging.WARNING), "0"]
    assert "the app warns" in done.stderr and "pre-processing" not in done.stderr


def test_weights_in_a_hub_cache_snapshot_are_known_by_their_blob_not_hashed_on_every_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A student loaded by Hub id is a cache snapshot whose files have the download's mtime, never the one recorded
    at export: `predict --onnx` hashed its weights on every load (and in every Ray actor). A snapshot's
    model.safetensors links to blobs/<sha256>: that name is its hash. A plain copy is still read and hashed."""
    import hashlib

    from sxhub.model_folder import current_weights_sha256, weights_sha256

    content = b"weights" * 1000
    sha = hashlib.sha256(content).hexdigest()
    blobs = tmp_path / "models--org--student" / "blobs"
    blobs.mkdir(parents=True)
    (blobs / sha).write_bytes(content)
    snapshot = tmp_path / "models--org--student" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "model.safetensors").symlink_to(Path("../../blobs") / sha)
    read: list[Path] = []
    real_open = Path.open

    def spy(self: Path, *args: Any, **kwargs: Any) -> Any:
        read.append(self)
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", spy)
    assert current_weights_sha256(snapshot, sha, [["model.safetensors", len(content), 1]]) == sha
    assert read == []
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "model.safetensors").write_bytes(content)
    read.clear()
    assert weights_sha256(plain) == sha and read == [plain / "model.safetensors"]
