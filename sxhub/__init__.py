"""sxhub: synthetic experts. An open LLM labels texts; a small student learns them; the Hub hosts the result.

The stages are importable from here; heavy modules (torch, transformers, datasets) load only when a stage that
needs them is first used, so ``import sxhub`` stays fast and has no side effects. The stage functions that share their module's name
live there: ``from sxhub.annotate import annotate``, ``from sxhub.train import train``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from .errors import InputError, SpecError, SxhubError, TeacherError, UserError
from .spec import Example, Label, TaskSpec, TeacherSpec, load_spec

# name -> module that defines it (imported on first access)
_LAZY = {
    "agree": "agreement",
    "AgreeReport": "agreement",
    "aannotate": "annotate",
    "AnnotateResult": "annotate",
    "Teacher": "teachers",
    "FakeTeacher": "teachers",
    "Reply": "teachers",
    "decide": "vote",
    "score": "metrics",
    "load_labelled": "labelled",
    "TrainConfig": "train_config",
    "Predictor": "predict",
    "export_onnx": "export",
    "publish_dataset": "publish",
    "publish_model": "publish",
    "publish_space": "publish",
    "run_pipeline": "pipeline",
    "RunConfig": "pipeline",
    "RunReport": "run_report",
    "TwinOptions": "twins",
    "GenerateOptions": "generate",
}

__all__ = [
    "AgreeReport",
    "AnnotateResult",
    "Example",
    "FakeTeacher",
    "GenerateOptions",
    "InputError",
    "Label",
    "Predictor",
    "Reply",
    "RunConfig",
    "RunReport",
    "SpecError",
    "SxhubError",
    "TaskSpec",
    "Teacher",
    "TeacherError",
    "TeacherSpec",
    "TrainConfig",
    "TwinOptions",
    "UserError",
    "__version__",
    "aannotate",
    "agree",
    "decide",
    "export_onnx",
    "load_labelled",
    "load_spec",
    "publish_dataset",
    "publish_model",
    "publish_space",
    "run_pipeline",
    "score",
]


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


# Type checkers read the names from these imports; at run time __getattr__ imports each on first use. It is not
# defined for them: a module __getattr__ made every name Any to mypy, so `from sxhub import AnyTypo` passed the check.
if TYPE_CHECKING:
    from .agreement import AgreeReport, agree
    from .annotate import AnnotateResult, aannotate
    from .export import export_onnx
    from .generate import GenerateOptions
    from .labelled import load_labelled
    from .metrics import score
    from .pipeline import RunConfig, run_pipeline
    from .predict import Predictor
    from .publish import publish_dataset, publish_model, publish_space
    from .run_report import RunReport
    from .teachers import FakeTeacher, Reply, Teacher
    from .train_config import TrainConfig
    from .twins import TwinOptions
    from .vote import decide
else:

    def __getattr__(name: str) -> Any:
        module = _LAZY.get(name)
        if module is None:
            raise AttributeError(f"module 'sxhub' has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{module}", __name__), name)
        globals()[name] = value
        return value
