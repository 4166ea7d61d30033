"""Where sxhub finds the templates it ships (cards, the Space) both from a checkout and from an installed wheel."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parent.parent


def asset_dir(name: str) -> Path:
    """Return the folder ``name`` (``model_cards``, ``dataset_cards``, ``spaces``, ``examples``).

    In a checkout (editable install) these are the top-level folders of the repository; in a wheel they are
    packaged under ``sxhub/_assets/``.
    """
    checkout = _REPO_ROOT / name
    if checkout.is_dir():
        return checkout
    packaged = Path(str(resources.files("sxhub"))) / "_assets" / name
    if packaged.is_dir():
        return packaged
    raise FileNotFoundError(f"sxhub asset folder {name!r} not found in {checkout} or {packaged}; reinstall sxhub.")
