"""Finding the AutoTrain installation ``sxhub train|tune --backend autotrain`` runs: its own venv
(``$SXHUB_AUTOTRAIN_ENV``, else ``.venv-autotrain`` at the repo root, else ``autotrain`` on PATH), checked to start
and to be the autotrain-advanced sxhub is tested with, before any data is written. Writing AutoTrain's inputs and
reading what it made stay in :mod:`sxhub.autotrain`; running it in :mod:`sxhub.autotrain_run`."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

from .autotrain_run import AutoTrainEnv
from .errors import UserError

REPO_ROOT = Path(__file__).resolve().parent.parent
ENV_VAR = "SXHUB_AUTOTRAIN_ENV"
DEFAULT_ENV = REPO_ROOT / ".venv-autotrain"
TESTED_VERSION = "0.8.36"  # the autotrain-advanced that scripts/autotrain-env.sh installs and sxhub is tested with
TESTED_TORCH = "2.13.0"  # the torch scripts/autotrain-env.sh installs beside it
logger = logging.getLogger(__name__)
_version_checked: set[Path] = set()


def install_hint() -> str:
    """How to build AutoTrain's venv: ``make autotrain-env`` in sxhub's checkout; from a wheel, which has neither the
    Makefile nor ``scripts/`` (the line named both), the commands ``scripts/autotrain-env.sh`` runs."""
    from ._paths import _is_checkout

    if _is_checkout(REPO_ROOT):
        return (
            "run `make autotrain-env` (or `bash scripts/autotrain-env.sh`) to build .venv-autotrain, "
            f"or point {ENV_VAR} at a venv with autotrain-advanced=={TESTED_VERSION}"
        )
    return (
        f"build a venv of its own (`python3 -m venv VENV && VENV/bin/pip install "
        f"autotrain-advanced=={TESTED_VERSION} torch=={TESTED_TORCH} && VENV/bin/pip uninstall -y torchvision timm`) "
        f"and set {ENV_VAR}=VENV"
    )


class AutoTrainMissingError(UserError):
    """No AutoTrain installation was found (the fix is to build its venv)."""


def find_autotrain() -> AutoTrainEnv:
    """``$SXHUB_AUTOTRAIN_ENV/bin/autotrain``, else ``.venv-autotrain`` at the repo root, else ``autotrain`` on PATH."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        executable = Path(configured).expanduser() / "bin" / "autotrain"
        if not executable.is_file():
            raise AutoTrainMissingError(f"{ENV_VAR}={configured} has no bin/autotrain: {install_hint()}")
        return _checked(_runnable(executable.absolute()))
    default = DEFAULT_ENV / "bin" / "autotrain"
    if default.is_file():
        return _checked(_runnable(default))
    on_path = shutil.which("autotrain")
    if on_path:
        return _checked(_runnable(Path(on_path).absolute()))
    raise AutoTrainMissingError(f"AutoTrain is not installed: {install_hint()}")


def _checked(env: AutoTrainEnv) -> AutoTrainEnv:
    """``env``, with one warning (once per AutoTrain per process) when it is not the autotrain-advanced sxhub was
    tested with: its config keys, label order and output files are what sxhub relies on, and another version
    failed in ways that named neither it nor the fix. Read without starting AutoTrain (:func:`installed_version`)."""
    if env.executable not in _version_checked:
        _version_checked.add(env.executable)
        version = installed_version(env)
        if version != TESTED_VERSION:
            logger.warning(
                "AutoTrain at %s is autotrain-advanced %s, but sxhub is tested with %s: if it fails, %s",
                env.bin_dir.parent,
                version or "of unknown version",
                TESTED_VERSION,
                install_hint(),
            )
    return env


def installed_version(env: AutoTrainEnv) -> str | None:
    """autotrain-advanced's version in ``env``: from its dist-info folder in a venv, else from
    ``importlib.metadata`` in the Python beside the executable (an install outside a venv); None when neither
    tells. Cheap: AutoTrain itself (which imports torch and transformers) is not started."""
    version = env.versions()["autotrain"]
    if version is not None:
        return version
    pythons = [env.bin_dir / name for name in ("python3", "python")]
    python = next((p for p in pythons if p.is_file() and os.access(p, os.X_OK)), None)
    if python is None:
        return None
    try:
        found = subprocess.run(
            [str(python), "-I", "-c", "import importlib.metadata as m; print(m.version('autotrain-advanced'))"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (found.stdout.strip() or None) if found.returncode == 0 else None


def _runnable(executable: Path) -> AutoTrainEnv:
    """``executable`` if it can be started: a venv whose Python was removed or moved (a pyenv version uninstalled,
    the venv copied from elsewhere) keeps a ``bin/autotrain`` whose ``#!`` line names a missing interpreter, and
    starting it failed with "cannot use '.../bin/autotrain': No such file or directory" about a file that exists."""
    if not os.access(executable, os.X_OK):
        raise AutoTrainMissingError(f"{executable} is not executable: {install_hint()}")
    try:
        with executable.open("rb") as script:
            first = script.readline(4096)
    except OSError as exc:
        raise AutoTrainMissingError(f"cannot read {executable} ({exc.strerror}): {install_hint()}") from None
    interpreter = None
    if first.startswith(b"#!"):
        words = first[2:].decode("utf-8", errors="replace").split()
        interpreter = Path(words[0]) if words else None
        if interpreter is not None and interpreter.is_absolute() and not interpreter.exists():
            raise AutoTrainMissingError(
                f"the AutoTrain venv is broken: {executable} runs {interpreter}, which no longer exists (its Python "
                f"was removed or the venv was moved); rebuild it: {install_hint()}"
            )
    return AutoTrainEnv(executable, _python(executable, interpreter))


def _python(executable: Path, interpreter: Path | None) -> Path:
    """The Python that runs ``executable``, which sxhub starts AutoTrain's trainer with: the one its ``#!`` line
    names (a console script's), else ``python3`` or ``python`` beside it."""
    if interpreter is not None and interpreter.is_absolute() and interpreter.name.startswith("python"):
        return interpreter
    beside = [executable.parent / name for name in ("python3", "python")]
    found = next((p for p in beside if p.is_file() and os.access(p, os.X_OK)), None)
    if found is None:
        raise AutoTrainMissingError(
            f"found no Python that runs {executable} (no python3 or python beside it, nor one on its #! line): "
            f"{install_hint()}"
        )
    return found
