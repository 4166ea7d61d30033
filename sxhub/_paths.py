"""Where sxhub finds the files it ships (card templates, the Space, the examples), from a wheel or a checkout."""

from __future__ import annotations

import re
from pathlib import Path

ASSETS = ("model_cards", "dataset_cards", "spaces", "examples")
_PACKAGE = Path(__file__).resolve().parent
# setup.py's build_py copies the top-level asset folders here when it builds a wheel (never in an editable install)
_PACKAGED = _PACKAGE / "_assets"
_CHECKOUT = _PACKAGE.parent


def _is_checkout(root: Path) -> bool:
    """True when ``root`` is sxhub's own source tree (not, say, a site-packages folder that holds ``examples/``)."""
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        return False
    return re.search(r'^name\s*=\s*"sxhub"\s*$', pyproject.read_text(encoding="utf-8"), re.MULTILINE) is not None


def asset_dir(name: str) -> Path:
    """Return the shipped folder ``name``: one of ``model_cards``, ``dataset_cards``, ``spaces``, ``examples``.

    An installed wheel has them under ``sxhub/_assets/``, and that copy wins; a checkout (editable install) has
    them at the top of the repository.
    """
    if name not in ASSETS:
        raise ValueError(f"unknown asset folder {name!r}; expected one of {', '.join(ASSETS)}")
    packaged = _PACKAGED / name
    if packaged.is_dir():
        return packaged
    if _is_checkout(_CHECKOUT) and (_CHECKOUT / name).is_dir():
        return _CHECKOUT / name
    raise FileNotFoundError(
        f"sxhub's {name}/ folder is missing from {_PACKAGED} (and {_PACKAGE} is not in a source checkout); "
        "reinstall sxhub from its wheel or sdist (`pip install --force-reinstall sxhub`)."
    )


def shipped_example(path: str | Path) -> Path | None:
    """The file sxhub ships for a relative ``examples/...`` path that does not exist where the user is, else None.

    The README's commands name ``examples/financial-sentiment/task.yaml``, which exists only at the top of a checkout:
    an installed wheel keeps the examples under ``sxhub/_assets/examples/``, so the not-found error names that file.
    """
    parts = Path(path).parts
    if Path(path).is_absolute() or len(parts) < 2 or parts[0] != "examples":
        return None
    try:
        candidate = asset_dir("examples").joinpath(*parts[1:])
    except FileNotFoundError:
        return None
    return candidate if candidate.is_file() else None
