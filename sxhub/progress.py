"""Progress bars on stderr that ``sxhub -q`` turns off.

``-q`` sets ``TQDM_DISABLE``, which tqdm reads only as a default: a bar made with an explicit ``disable=False`` (every
bar whose function takes ``progress=True``) stayed on, so ``sxhub -q generate`` still drew its bars. These bars read
the variable themselves.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def bars_off() -> bool:
    """True when ``TQDM_DISABLE`` is set and not empty (``sxhub -q`` sets it), as tqdm reads it: its ``envwrap``
    converts the value with ``bool``, so ``0`` and ``false`` turn tqdm's own bars off too. sxhub's bars read ``0`` as
    "on", and a ``TQDM_DISABLE=0`` run drew sxhub's bars while transformers' and datasets' (plain tqdm) stayed off."""
    return bool(os.environ.get("TQDM_DISABLE", ""))


def progress_bar(*, enabled: bool = True, **kwargs: Any) -> Any:
    """A ``tqdm.auto`` bar on stderr: off when not ``enabled`` or when bars are off for the whole process."""
    from tqdm.auto import tqdm

    return tqdm(file=sys.stderr, disable=not enabled or bars_off(), **kwargs)


def say(line: str) -> None:
    """One line on stderr, above any progress bar rather than through it (``sxhub -q`` keeps it: it is no bar)."""
    from tqdm.auto import tqdm

    tqdm.write(line, file=sys.stderr)
