"""The Gradio Space of a synthetic expert: the repo folder ``sxhub publish space`` writes, and running the same
app locally (``sxhub space MODEL``). The app itself is ``spaces/app.py``; it needs no sxhub install."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd

from ._paths import asset_dir
from .errors import ModelError
from .publish import (
    _NOT_PUBLISHED,
    DEFAULT_EXAMPLE,
    check_model_dir,
    check_repo_id,
    copy_tree,
    load_annotated,
    model_info,
)
from .spec import TaskSpec


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
            picks += hits[:1]
        return (picks or frame["text"].head(k).tolist())[:k]
    return [ex.text for ex in spec.examples][:k] or [DEFAULT_EXAMPLE]


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
) -> Path:
    """The Space folder: ``app.py``, ``requirements.txt``, ``README.md`` (YAML header), ``config.json``,
    ``examples.json``, and ``model/`` when the model is a local folder not published under ``model_repo``."""
    import jinja2

    spaces = asset_dir("spaces")
    local = Path(model).is_dir()
    spec = model_info(check_model_dir(model))[1] if local else None
    if model_repo:
        ref = model_repo
    elif local:
        copy_tree(Path(model), folder / "model", ignore=_NOT_PUBLISHED)
        ref = "model"
    else:
        check_repo_id(str(model))
        ref = str(model)
    shutil.copy2(spaces / "app.py", folder / "app.py")
    requirements = (spaces / "requirements.txt").read_text(encoding="utf-8").rstrip("\n")
    (folder / "requirements.txt").write_text(f"{requirements}\ngradio=={_gradio_version()}\n", encoding="utf-8")
    texts = list(examples) if examples else (space_examples(spec, data) if spec else [DEFAULT_EXAMPLE])
    title = title or (_title(spec.name) if spec else repo_id.split("/")[-1])
    (folder / "config.json").write_text(json.dumps({"model": ref, "title": title}, indent=2) + "\n", encoding="utf-8")
    (folder / "examples.json").write_text(json.dumps(texts, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    template = jinja2.Template((spaces / "README.md").read_text(encoding="utf-8"), keep_trailing_newline=True)
    readme = template.render(
        title=title[:60],
        sdk_version=_gradio_version(),
        license=(spec.license if spec and spec.license else "apache-2.0"),
        model_repo=ref if ref != "model" else None,
        dataset_repo=dataset_repo,
        repo_id=repo_id,
        description=spec.description if spec else "",
    )
    (folder / "README.md").write_text(readme, encoding="utf-8")
    return folder


def _title(name: str) -> str:
    return " ".join(part.capitalize() for part in re.split(r"[-_.]+", name) if part)


def _gradio_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gradio")
    except PackageNotFoundError:
        return "6.0.0"


# -- running the Space locally ---------------------------------------------------------------------------------
def load_app_module() -> ModuleType:
    """``spaces/app.py`` imported as a module (the very file a published Space runs)."""
    path = asset_dir("spaces") / "app.py"
    spec = importlib.util.spec_from_file_location("sxhub_space_app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses in app.py look their module up there
    spec.loader.exec_module(module)
    return module


def build_space(model: str | os.PathLike[str], *, examples: Sequence[str] | None = None) -> Any:
    """The Space's ``gr.Blocks`` for ``model`` (a local folder or a Hub repo id), examples from its task."""
    ref, title = str(model), None
    if Path(ref).is_dir():
        check_model_dir(ref)
        ref = str(Path(ref).resolve())
        task = model_info(Path(ref))[1]
        title = _title(task.name)
        if examples is None:
            examples = space_examples(task, None)
    elif Path(ref).exists() or ref.startswith((".", "/")):
        raise ModelError(f"model {ref!r} is not a folder; pass a model folder or a Hub repo id (NAMESPACE/NAME).")
    else:
        check_repo_id(ref)
    app = load_app_module()
    return app.build_demo(ref, examples=list(examples) if examples else None, title=title)


def launch_space(
    model: str | os.PathLike[str],
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    share: bool = False,
    block: bool = True,
) -> tuple[Any, str]:
    """Run the Space locally; returns ``(demo, url)``. With ``block=False`` it serves in a thread until ``demo.close()``."""
    demo = build_space(model)
    _, local_url, share_url = demo.launch(
        server_name=host, server_port=port, share=share, prevent_thread_lock=True, quiet=True
    )
    url = share_url or local_url
    if block:
        print(url, flush=True)
        demo.block_thread()
    return demo, url
