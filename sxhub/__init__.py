"""sxhub: synthetic experts. An open LLM labels texts; a small student learns them; the Hub hosts the result."""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import InputError, SpecError, SxhubError, TeacherError, UserError
from .spec import Example, Label, TaskSpec, TeacherSpec, load_spec

__all__ = [
    "Example",
    "InputError",
    "Label",
    "SpecError",
    "SxhubError",
    "TaskSpec",
    "TeacherError",
    "TeacherSpec",
    "UserError",
    "__version__",
    "load_spec",
]
