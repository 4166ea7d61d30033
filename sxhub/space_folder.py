"""The Space's repo folder (:func:`write_space_folder`): ``app.py``, ``requirements.txt`` (ONNX Runtime or torch,
and the gradio pin), ``README.md`` with its YAML header (what it says of the model's cleaning and its int8 variant),
``config.json`` with the expert's facts, ``examples.json``, and the model folder when it is local.

``sxhub publish space`` pushes this folder and ``sxhub space`` runs it locally. It builds on :mod:`sxhub.repo` (the
model folder and what it says about itself) and on :mod:`sxhub.dataset_build`'s reading of the labelled data (the
example texts); neither imports it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ._paths import asset_dir
from .dataset_build import load_annotated
from .errors import PublishError
from .repo import (
    DEFAULT_EXAMPLE,
    check_model_dir,
    check_repo_id,
    copy_model,
    given_evaluations,
    hub_endpoint,
    is_evaluate_result,
    load_json_arg,
    model_info,
)
from .spec import UNSTATED_LICENSE, TaskSpec, load_spec

INT8_ONNX = Path("onnx") / "model_int8.onnx"
FP32_ONNX = Path("onnx") / "model.onnx"


def space_examples(spec: TaskSpec, data: str | os.PathLike[str] | pd.DataFrame | None, *, k: int = 6) -> list[str]:
    """Example texts for the Space: one per label from the labelled data when given, else the spec's examples."""
    if data is not None:
        frame, _, _ = load_annotated(data, spec)
        picks: list[str] = []
        for name in spec.label_names:
            hits = [
                t
                for t, v in zip(frame["text"], frame[spec.label_column], strict=True)
                if name in (v if spec.multi_label else [v])
            ]
            picks += [t for t in hits if t not in picks][:1]  # a multi-label text with two labels shows once
        return (picks or frame["text"].head(k).tolist())[:k]
    return [ex.text for ex in spec.examples][:k] or [DEFAULT_EXAMPLE]


def space_title(name: str) -> str:
    """A task name as a Space title (``fin-sent`` → ``Fin Sent``)."""
    return " ".join(part.capitalize() for part in re.split(r"[-_.]+", name) if part)


# the oldest gradio sxhub's Spaces are tested with: pyproject's `space` extra (gradio>=6.30, the first release that
# installs beside huggingface_hub 2, which the Spaces' requirements.txt asks for)
GRADIO_FLOOR = "6.30.0"


def gradio_version() -> str:
    """The gradio a Space pins (its README's ``sdk_version`` and requirements.txt): the one installed here, which
    ``sxhub space`` ran it with; without gradio here (publishing needs none), the oldest one sxhub is tested with."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gradio")
    except PackageNotFoundError:
        return GRADIO_FLOOR


def served_onnx(model_dir: Path) -> Path | None:
    """The ONNX file the Space's ``auto`` backend serves for a local model (``spaces/app.py`` ``auto_backend``): the
    variant ``sxhub export`` made the default (int8 only at the agreement bar), or None when that file is missing."""
    info = (
        json.loads((model_dir / "sxhub.json").read_text(encoding="utf-8"))
        if (model_dir / "sxhub.json").is_file()
        else {}
    )
    default = (info.get("export") or {}).get("default")
    path = model_dir / (FP32_ONNX if default == "onnx" else INT8_ONNX)
    return path if path.is_file() else None


def onnx_stamp(path: Path) -> str | None:
    """The sha256 of the weights ``sxhub export`` stamped into an ONNX file (``sxhub.export.stamp_weights``), read
    with onnx (the graph only), else ONNX Runtime; None for an export older than the stamp, or with neither here."""
    from .model_info import ONNX_WEIGHTS_KEY

    try:
        import onnx
    except ImportError:
        try:
            import onnxruntime as ort
        except ImportError:
            return None
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return (session.get_modelmeta().custom_metadata_map or {}).get(ONNX_WEIGHTS_KEY) or None
    graph = onnx.load(str(path), load_external_data=False)
    return next((p.value for p in graph.metadata_props if p.key == ONNX_WEIGHTS_KEY), None) or None


def check_space_export(model_dir: Path, *, served_by: str = "the Space") -> None:
    """Refuse a Space whose ONNX files are not an export of the model's weights as they are now (the model retrained
    into its folder with plain ``save_pretrained`` after ``sxhub export``). The published ``app.py`` has no sxhub
    to hash the weights: it checks a file's stamp against ``sxhub.json``'s export record, the old weights', and so
    served the stale export; ``sxhub predict --onnx`` refuses it. A file without a stamp is checked against that
    record; a folder without weights (nothing to compare) passes; a file that cannot be read (cut short) is refused,
    as the Space would fail to start on it. ``served_by``: who would serve the file, for the line (``publish model``:
    the model repo's ONNX users, a Space loading it by id among them)."""
    from .model_folder import current_weights_sha256
    from .model_info import recorded_weights, recorded_weights_stat

    files = [rel for rel in (FP32_ONNX, INT8_ONNX) if (model_dir / rel).is_file()]
    if not files:
        return
    sx = model_dir / "sxhub.json"
    info = json.loads(sx.read_text(encoding="utf-8")) if sx.is_file() else {}
    export = info.get("export")
    recorded_export = export.get("weights_sha256") if isinstance(export, dict) else None
    own = current_weights_sha256(model_dir, recorded_weights(info), recorded_weights_stat(info))
    for rel in files:
        again = f"run sxhub export {model_dir}{' --int8' if rel == INT8_ONNX else ''} again, then publish"
        try:
            exported = onnx_stamp(model_dir / rel) or recorded_export
        except Exception as exc:  # a truncated or corrupt file: onnx's DecodeError, onnxruntime's InvalidProtobuf
            raise PublishError(
                f"{rel.as_posix()} of {str(model_dir)!r} could not be read ({type(exc).__name__}: "
                f"{str(exc)[:120]}), and {served_by} would fail to start on it: {again}."
            ) from exc
        if own and isinstance(exported, str) and exported and exported != own:
            raise PublishError(
                f"{rel.as_posix()} is not an export of {str(model_dir)!r}: it was exported from other weights "
                f"(sha256 {exported[:12]}, the folder's are {own[:12]}), and {served_by} would serve it: {again}."
            )


# the steps of sxhub.data.PII_STEPS as the Space README names them
MASK_NAMES = {"url": "URLs", "email": "e-mails", "handle": "@handles", "phone": "phone numbers"}


def space_cleaning(model_dir: Path) -> str:
    """What the Space README says of the model's preprocessing, from its saved block (as ``sxhub predict`` reads it):
    the masks it applies, or that texts are used as typed (a ``preprocess: false`` model has no steps)."""
    from .model_info import read_model_info

    block = read_model_info(model_dir).preprocessing
    masks = [MASK_NAMES.get(str(s.get("name")), str(s.get("name"))) for s in block.get("steps") or ()]
    masks = [m for m in masks if m != "whitespace"]
    cut = f"cut at {block['max_length']} tokens" if block.get("max_length") else "truncated"
    if masks:
        listed = ", ".join(masks[:-1]) + " and " + masks[-1] if len(masks) > 1 else masks[0]
        return f"Texts are cleaned ({listed} masked) and {cut} exactly as in training"
    return f"Texts are used as typed (this model was trained without cleaning) and {cut} as in training"


def int8_off_reason(model_dir: Path) -> str | None:
    """Why ``sxhub export`` kept int8 off the default, as it recorded it (its note, less the fix for the model's
    owner), or None when it recorded no reason (no int8 variant was made)."""
    sx = model_dir / "sxhub.json"
    info = json.loads(sx.read_text(encoding="utf-8")) if sx.is_file() else {}
    prefix = "int8 is not the default: "
    for note in (info.get("export") or {}).get("notes") or ():
        if isinstance(note, str) and note.startswith(prefix):
            return note[len(prefix) :].split("; ")[0].rstrip(".")
    return None


def space_requirements(*, int8: bool) -> str:
    """``requirements.txt`` of the Space: ONNX Runtime + tokenizers when it serves an ONNX model, with the torch
    lines commented out (``SXHUB_BACKEND=torch`` needs them: the app's error says to uncomment them), else torch."""
    lines = (asset_dir("spaces") / "requirements.txt").read_text(encoding="utf-8").splitlines()
    torch_only = {"transformers", "torch"}

    def for_torch(line: str) -> bool:
        return int8 and re.split(r"[<>=!~\[ ]", line, maxsplit=1)[0] in torch_only

    keep = [ln for ln in lines if ln.strip() and not for_torch(ln)]
    out = [*keep, f"gradio=={gradio_version()}"]
    commented = [f"# {ln}" for ln in lines if ln.strip() and for_torch(ln)]
    if commented:
        out += ["# SXHUB_BACKEND=torch (serve with PyTorch, not ONNX) needs these lines uncommented:", *commented]
    return "\n".join(out) + "\n"


def write_space_folder(
    model: str | os.PathLike[str],
    folder: Path,
    *,
    repo_id: str,
    model_repo: str | None = None,
    dataset_repo: str | None = None,
    data: str | os.PathLike[str] | pd.DataFrame | None = None,
    examples: Sequence[str] | None = None,
    title: str | None = None,
    evaluation: str | Path | Mapping[str, Any] | None = None,
    benchmark: str | Path | Mapping[str, Any] | None = None,
    note: str | None = None,
    split: str | None = None,
    hub_record: Mapping[str, Any] | None = None,
) -> Path:
    """The Space folder: ``app.py``, ``requirements.txt``, ``README.md`` (YAML header), ``config.json``,
    ``examples.json``, and ``model/`` when the model is a local folder not published under ``model_repo``.

    ``config.json`` holds what the Space shows about the expert (``about``: teachers, scores, speed, repos); a local
    model folder gives the teachers and, without ``evaluation``, its validation scores. ``split`` names the dataset
    split ``evaluation`` was scored on when the caller knows it (``publish space --gold``: ``train`` for a file too
    small for a test split). ``hub_record``: the ``sxhub.json`` of ``model`` given as a Hub id (its task, teachers
    and scores, shown as a local folder's are).
    """
    import jinja2

    from .model_card import expert_facts

    spaces = asset_dir("spaces")
    local = Path(model).is_dir()
    info, spec = model_info(check_model_dir(model)) if local else ({}, None)
    if not local and hub_record and hub_record.get("task"):  # a Hub model's own sxhub.json (publish_space reads it)
        info, spec = dict(hub_record), load_spec(hub_record["task"])
    given = load_json_arg(evaluation, "evaluation")
    evaluations = given_evaluations(given, info)
    speed = load_json_arg(benchmark, "benchmark")
    if speed and not speed.get("source"):  # the Space would credit it to sxhub's own measurement
        speed["source"] = "given with --benchmark"
    if split is None and is_evaluate_result(given):  # `sxhub evaluate --json` on a file of the caller's
        split = "given"
    elif split is None:
        split = "validation" if evaluations and "validation" in next(iter(evaluations)) else "test"
    if model_repo:
        ref = model_repo
    elif local:
        ref = "model"
    else:
        check_repo_id(str(model))
        ref = str(model)
    about = expert_facts(
        info,
        spec,
        evaluations=evaluations,
        speed=speed,
        split=split,
        model_repo=ref if ref != "model" else None,
        dataset_repo=dataset_repo,
        note=note,
    )
    about["hub_url"] = hub_endpoint()  # where the page links the repos: the Hub they are pushed to ($HF_ENDPOINT)
    if ref == "model":
        copy_model(Path(model), folder / "model", about=about)
    shutil.copy2(spaces / "app.py", folder / "app.py")
    onnx_file = served_onnx(Path(model)) if local else None
    (folder / "requirements.txt").write_text(space_requirements(int8=onnx_file is not None), encoding="utf-8")
    texts = list(examples) if examples else (space_examples(spec, data) if spec else [DEFAULT_EXAMPLE])
    title = title or (space_title(spec.name) if spec else repo_id.split("/")[-1])
    config = {"model": ref, "title": title, "backend": "auto", "about": about}
    (folder / "config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (folder / "examples.json").write_text(json.dumps(texts, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    template = jinja2.Template((spaces / "README.md").read_text(encoding="utf-8"), keep_trailing_newline=True)
    readme = template.render(
        title=title[:60],
        sdk_version=gradio_version(),
        license=spec.card_license() if spec else {"license": UNSTATED_LICENSE},
        model_repo=ref if ref != "model" else None,
        dataset_repo=dataset_repo,
        hub_url=about["hub_url"],
        repo_id=repo_id,
        description=spec.description if spec else "",
        teachers=about["teachers"],  # None: not recorded; []: the labels carry no teacher votes
        onnx_file=onnx_file.relative_to(Path(model)).as_posix() if onnx_file else None,
        int8=onnx_file is not None and onnx_file.name == INT8_ONNX.name,
        int8_off=int8_off_reason(Path(model)) if onnx_file else None,
        cleaning=space_cleaning(Path(model)) if local else None,
    )
    (folder / "README.md").write_text(readme, encoding="utf-8")
    return folder
