"""Teachers: the LLMs that label texts, behind one interface with one async method.

* :mod:`sxhub.teachers.base`: the :class:`Teacher` interface, :class:`Reply` and the error kinds;
* :mod:`sxhub.teachers.servers`: server kinds (TGI, vLLM, llama.cpp, Ollama, ...), their detection and the request
  form that makes each enforce the answer schema;
* one module per backend: :mod:`~sxhub.teachers.inference_client` (a Hub model id via Inference Providers, or any
  server's ``base_url``; what its failed requests mean in :mod:`~sxhub.teachers.inference_errors`),
  :mod:`~sxhub.teachers.local` (the embedded llama.cpp teacher, started on first use) and
  :mod:`~sxhub.teachers.fake` (a scripted fake for tests) and :mod:`~sxhub.teachers.tuned` (a synthetic model
  folder from ``sxhub tune``, served in-process);
* here: the factory, :func:`make_teacher`, :func:`open_teachers` and :func:`teachers_for`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

from ..errors import TeacherError, TeacherUnavailableError
from ..sequences import SequenceNotStr, refuse_one_string
from ..spec import TaskSpec, TeacherSpec
from .base import (
    AnswerCappedError,
    AnswerCutError,
    ContextLengthError,
    HubBusyError,
    RefusedError,
    RejectedRequestError,
    Reply,
    RetryableTeacherError,
    ServerGoneError,
    Teacher,
    classify_error,
    parse_retry_after,
)
from .fake import FakeCall, FakeTeacher
from .inference_client import InferenceClientTeacher
from .servers import KINDS, RequestShape, detect_server, request_shape

if TYPE_CHECKING:
    from .local import LocalTeacher

__all__ = [
    "KINDS",
    "AnswerCappedError",
    "AnswerCutError",
    "ContextLengthError",
    "FakeCall",
    "FakeTeacher",
    "HubBusyError",
    "InferenceClientTeacher",
    "RefusedError",
    "RejectedRequestError",
    "Reply",
    "RequestShape",
    "RetryableTeacherError",
    "ServerGoneError",
    "Teacher",
    "TeacherError",
    "TeacherUnavailableError",
    "check_installed",
    "classify_error",
    "detect_server",
    "make_teacher",
    "open_teachers",
    "parse_retry_after",
    "request_shape",
    "teachers_for",
]


def _local(spec: TeacherSpec, **kwargs: object) -> LocalTeacher:
    from .local import LocalTeacher  # imports nothing heavy, but keeps llama.cpp's module out of plain imports

    return LocalTeacher(spec, **kwargs)  # type: ignore[arg-type]


def _is_folder(model: str | None) -> bool:
    """A local folder: a synthetic model from `sxhub tune` (anything else there gets a clear error, not a Hub call)."""
    from pathlib import Path

    return bool(model) and Path(str(model)).expanduser().is_dir()


def _names_a_path(model: str | None) -> bool:
    """A model string that can only be a path (``./x``, ``/x``, ``~/x``, ``a/b/c``), never a Hub id (``user/name``):
    a mistyped tuned-model folder went to the Hub as a model id, every request failed and the command exited 0."""
    text = str(model or "")
    return text.startswith((".", "/", "~")) or text.count("/") > 1


def make_teacher(spec: TeacherSpec | str, *, base_url: str | None = None) -> Teacher:
    """A teacher for one spec entry. The ``local`` teacher needs a running server: pass its ``base_url``
    (:func:`open_teachers` starts one). A spec naming an Inference Endpoint gets its URL and engine's server kind, the
    endpoint resumed first if it is paused or scaled to zero."""
    spec = TeacherSpec.parse(spec)
    if spec.endpoint and not spec.base_url:
        from ..endpoints import resolve

        spec = resolve(spec)
    if not spec.base_url and _is_folder(spec.model):  # a folder from `sxhub tune`, served in-process
        from .tuned import TunedTeacher  # no torch import until the model is first asked

        return TunedTeacher(spec)
    if not spec.base_url and _names_a_path(spec.model):
        raise TeacherUnavailableError(
            f"teacher folder {spec.model!r} not found; pass a folder written by `sxhub tune` (check the path) or a "
            "Hub model id (user/name)."
        )
    if spec.is_local:
        if not base_url:
            raise TeacherUnavailableError(
                "the local teacher needs its llama.cpp server; use `open_teachers(...)` (it starts one) or pass "
                "base_url."
            )
        return _local(spec, base_url=base_url)
    return InferenceClientTeacher(spec, base_url=base_url)


def check_installed(entries: Sequence[Teacher | TeacherSpec | str]) -> None:
    """Refuse, before any work, a ``local`` teacher whose packages are missing: a plain ``pip install sxhub`` made
    ``OUT.parts/`` and showed the progress bar before the first chunk failed, and that folder's manifest then
    refused the rerun with another teacher."""
    from .local import smollm2_gguf_path

    if any(not isinstance(t, Teacher) and TeacherSpec.parse(t).is_local for t in entries):
        smollm2_gguf_path()


@asynccontextmanager
async def open_teachers(specs: Sequence[TeacherSpec | str]) -> AsyncIterator[list[Teacher]]:
    """Teachers for ``specs``; a ``local`` one starts its llama.cpp server when first asked; all closed on exit."""
    parsed = [TeacherSpec.parse(s) for s in specs]
    async with AsyncExitStack() as stack:
        teachers: list[Teacher] = []
        for entry in parsed:
            if entry.is_local:  # its server starts on the first request that the cache cannot answer
                teachers.append(_local(entry, stack=stack))
            else:
                teachers.append(make_teacher(entry))
        for teacher in teachers:
            stack.push_async_callback(teacher.aclose)
        yield teachers


@asynccontextmanager
async def teachers_for(
    spec: TaskSpec, given: SequenceNotStr[Teacher | TeacherSpec | str] | None, *, name: str = "teachers"
) -> AsyncIterator[list[Teacher]]:
    """``given`` in order: Teacher objects as they are (left open), specs opened here (default: the spec's
    teachers). A list mixing both keeps both, as :func:`sxhub.annotate.aannotate` does; the objects were dropped."""
    refuse_one_string(name, given, "teachers")  # it was read letter by letter: teachers 'l', 'o', 'c'...
    entries = list(given or spec.default_teachers())
    specs = [t for t in entries if not isinstance(t, Teacher)]
    if not specs:
        yield [t for t in entries if isinstance(t, Teacher)]
        return
    async with open_teachers(specs) as opened:
        rest = iter(opened)
        yield [t if isinstance(t, Teacher) else next(rest) for t in entries]
