"""All of sxhub's errors in one place.

Each error inherits :class:`SxhubError` and a built-in exception, so that ``except ValueError`` or
``except OSError`` written against older code keeps working. Messages say what was expected, what was found,
and the fix; the CLI prints them as one line and exits with code 2 for :class:`UserError`, 1 for the rest.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence


class SxhubError(Exception):
    """Base class of every error sxhub raises on purpose."""


class UserError(SxhubError, ValueError):
    """Bad input from the user (a spec, a file, an option): exit code 2 and a one-line fix."""


class SpecError(UserError):
    """The task spec is invalid; the message names the field and the fix."""


class InputError(UserError):
    """An input file or dataset cannot be used as given."""


class ModelError(UserError):
    """A model folder or id cannot be loaded or does not fit the task."""


class PublishError(UserError):
    """The Hub (or the target folder) refused a publish: no token, repo exists, bad name, nothing to publish."""


class TeacherError(SxhubError, RuntimeError):
    """A teacher could not answer (after retries) or answered with something that is not a valid label."""


class TeacherUnavailableError(UserError):
    """A teacher backend cannot be started or reached at all (missing extra, bad URL)."""


class HubUnreachableError(SxhubError, RuntimeError):
    """The Hugging Face Hub could not be reached (the network, a proxy, ``HF_ENDPOINT``): not the user's input, so
    exit code 1; it stops the run, as no request can be sent without it."""


class BackendError(SxhubError, RuntimeError):
    """An external training backend (AutoTrain) failed."""


def one_line(message: str) -> str:
    """Collapse a message onto one line (the CLI prints errors as a single line)."""
    return " ".join(str(message).split())


def require(modules: Sequence[str], what: str, extra: str) -> None:
    """Refuse ``what`` (e.g. ``sxhub space``) in one line naming the extra to install when one of ``modules`` is
    missing, before any work: a plain ``pip install sxhub`` ended in ``Error: ModuleNotFoundError: No module named
    'gradio'`` (exit 1), or loaded the model first and then failed in the middle."""
    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise UserError(f'{what} needs {module}; run pip install "sxhub[{extra}]".')


def require_extras(what: str, needs: Mapping[str, Sequence[str]], instead: Mapping[str, str] | None = None) -> None:
    """Refuse ``what`` in one line naming every missing module of ``needs`` (extra -> its modules) and one
    ``pip install "sxhub[a,b]"`` for all their extras; ``instead`` (extra -> an option) adds what avoids an extra.

    ``sxhub run`` needs several extras at once (the default student, the export stage, the embedded teacher): after
    a plain ``pip install sxhub`` it named them one per try (``[student]``, then ``[onnx]``, then ``[local]``).
    """
    missing = {e: [m for m in modules if importlib.util.find_spec(m) is None] for e, modules in needs.items()}
    missing = {e: found for e, found in missing.items() if found}
    if not missing:
        return
    modules = ", ".join(m for found in missing.values() for m in found)
    alternatives = [option for e, option in (instead or {}).items() if e in missing]
    other = f" (or pass {', '.join(alternatives)})" if alternatives else ""
    raise UserError(f'{what} needs {modules}; run pip install "sxhub[{",".join(sorted(missing))}]"{other}.')
