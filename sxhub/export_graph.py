"""The graph stage of ``sxhub export`` (split out of :mod:`sxhub.export`, which imports it): the student traced to
ONNX with eager attention (:func:`_export_graph`; its last layer for the first token only, :mod:`sxhub.cls_only`),
then fused offline by ONNX Runtime's transformer optimizer (:func:`optimize_graph`: LayerNorm and GELU; attention
left as MatMuls and Softmax, which measured faster). The check, the int8 stage and the record stay in
:mod:`sxhub.export`, :mod:`sxhub.export_int8` and :mod:`sxhub.export_check`.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

from .errors import ModelError
from .predict import load_student, load_tokenizer
from .quantize import external_data_files

SAMPLE_TEXTS = (
    "Operating profit rose from EUR 7m to 9m compared with the previous year.",
    "The company said it will cut 200 jobs after sales fell sharply in the third quarter.",
    "The annual general meeting will be held in Helsinki on 15 March.",
    "Our new store opens downtown this weekend: 20% off every pair of shoes!",
    "Prices went up again, I can't believe how expensive groceries are.",
    "Loved the product, fast delivery and great customer service.",
    "Shares of the bank traded flat on Tuesday.",
    "Terrible experience, the app keeps crashing since the last update.",
)


def _export_graph(model_dir: Path, path: Path, opset: int, *, cls_only: bool = True) -> str | None:
    """torch.onnx.export of the classifier with dynamic batch and sequence axes; returns logits only.

    Eager attention exports as MatMul/Softmax, the pattern ONNX Runtime fuses; SDPA exports a masked-softmax
    pattern (IsNaN/Where) that no fusion matches. Both compute the same function. With ``cls_only`` the graph is
    :class:`~sxhub.cls_only.ClsOnly`'s (the last layer for the first token); returns None then, else why the
    graph runs the last layer for every token.
    """
    import torch

    tokenizer = load_tokenizer(model_dir)  # a folder without its tokenizer fails here, not after the export
    try:
        model = load_student(model_dir, attn_implementation="eager").eval()
    except (ValueError, TypeError):  # a model class without the eager switch
        model = load_student(model_dir).eval()
    # truncated to the student's max_length like every text it serves: a sample longer than a short-text student's
    # model_max_length (16 tokens on short tweets) made transformers warn of "indexing errors" on every export
    sample = tokenizer(list(SAMPLE_TEXTS[:2]), padding=True, truncation=True, return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]
    from .cls_only import ClsOnly, cls_only_reason

    why_not = cls_only_reason(model) if cls_only else "cls_only=False"
    if "attention_mask" not in names:
        why_not = why_not or "the tokenizer makes no attention_mask"
    first_token = ClsOnly(model).eval() if why_not is None else None

    class LogitsOnly(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *args: torch.Tensor) -> torch.Tensor:
            inputs = dict(zip(names, args, strict=True))
            return first_token(**inputs) if first_token is not None else self.model(**inputs).logits

    axes = {name: {0: "batch", 1: "sequence"} for name in names} | {"logits": {0: "batch"}}
    try:
        with (
            torch.no_grad(),
            contextlib.redirect_stdout(io.StringIO()),
            _native_stdout_dropped(),
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore")  # TracerWarnings about shapes that are constant for an encoder
            torch.onnx.export(
                LogitsOnly(),
                tuple(sample[n] for n in names),
                str(path),
                input_names=names,
                output_names=["logits"],
                dynamic_axes=axes,
                opset_version=opset,
                dynamo=False,
            )
    except (RuntimeError, torch.onnx.errors.OnnxExporterError) as exc:  # type: ignore[attr-defined]
        # an operator ONNX has no counterpart for (FNet's Fourier transform: "Exporting the operator 'aten::fft_fftn'
        # to ONNX opset version 17 is not supported"): the line was cut at 200 characters and named no way on
        said = str(exc).strip().split("\n")[0].split(". ")[0][:200] or type(exc).__name__
        raise ModelError(
            f"ONNX export of {str(model_dir)!r} ({type(model).__name__}) failed: {said}; it cannot be served with "
            "--onnx; serve it with torch (sxhub predict without --onnx)."
        ) from exc
    return why_not


@contextlib.contextmanager
def _native_stdout_dropped() -> Iterator[None]:
    """Drop what native code writes to the process's stdout (file descriptor 1) for the block: torch's ONNX exporter
    logs the whole TorchScript graph there when an export fails ("Torch IR graph at exception: ...", a hundred lines
    for a 2-layer model), past ``redirect_stdout``, into the data a command writes on stdout."""
    import sys

    for stream in (sys.stdout, sys.__stdout__):  # what Python holds for fd 1 goes out now, not into /dev/null
        if stream is not None:
            stream.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no file descriptor 1 (a service started without one): nothing to drop
        yield
        return
    try:
        with open(os.devnull, "w", encoding="utf-8") as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def optimize_graph(source: Path, target: Path, model_dir: Path, *, fuse_attention: bool = False) -> list[str]:
    """Fuse LayerNorm and GELU with ONNX Runtime's transformer optimizer; returns notes.

    Only those two: on the AVX-512 VNNI EPYC (2 threads, ONNX Runtime 1.32, MiniLM-L6) the graph with attention, the
    embedding LayerNorm, skip LayerNorms and bias-GELU fused into contrib kernels ran slower than this one, in int8
    most (QAttention), by 10-35% across interleaved runs (``bench/graph.py``, ``bench/results/graph.md``);
    the unfused attention's projections quantize per channel like the other MatMuls and its score products stay
    fp32 MLAS GEMMs. Fusing only the attention core (``MultiHeadAttention``, projections still int8) was slower too
    (``bench/attention_core.py``). ``fuse_attention=True`` fuses everything the optimizer can, as sxhub did before.
    The BERT rules also match RoBERTa, XLM-R, ELECTRA and MiniLM encoders; a graph they cannot fuse is written as
    exported (a note says so), since an unfused graph is only slower, not different.
    """
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    heads, hidden = int(config.get("num_attention_heads") or 0), int(config.get("hidden_size") or 0)
    try:
        from onnxruntime.transformers.fusion_options import FusionOptions
        from onnxruntime.transformers.optimizer import optimize_model
    except ImportError:
        os.replace(source, target)
        return ["graph not fused: onnxruntime is missing (pip install 'sxhub[onnx]')"]
    options = FusionOptions("bert")
    if not fuse_attention:
        options.enable_attention = options.enable_skip_layer_norm = options.enable_bias_gelu = False
        options.enable_embed_layer_norm = False
    with contextlib.redirect_stdout(io.StringIO()):
        model = optimize_model(
            str(source),
            model_type="bert",
            num_heads=heads,
            hidden_size=hidden,
            opt_level=0,
            use_gpu=False,
            optimization_options=options,
        )
    fused = {k: v for k, v in model.get_fused_operator_statistics().items() if v}
    # a graph exported with external data (torch writes one over 2 GB so) is saved so: its tensors in
    # <target>.data beside it (one file inline cannot pass protobuf's 2 GB)
    model.save_model_to_file(str(target), use_external_data_format=bool(external_data_files(source)))
    wanted = ("Attention", "SkipLayerNormalization") if fuse_attention else ("LayerNormalization",)
    if not any(fused.get(op) for op in wanted):
        return [f"graph not fused for model_type {config.get('model_type')!r} (fused: {fused or 'nothing'})"]
    return []
