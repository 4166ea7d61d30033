"""``SequenceNotStr``: what the public API's list parameters are typed as, so that a type checker refuses one string.

A ``str`` is a ``Sequence[str]``: ``TaskSpec(labels="ab")``, ``RunConfig(teachers="http://...")`` or
``Predictor.predict("a text")`` passed mypy and were refused at run time, or worse, taken letter by letter. This
protocol is ``Sequence``'s reading methods with ``__contains__`` taking any object, which ``str`` (and ``bytes``)
narrows: lists and tuples match it, a string does not. It is covariant, so a ``list[str]`` variable is accepted
where the items may also be labels or mappings. Type checkers only read it; at run time it is a plain protocol
(the functions still refuse a string in one line for callers that run no type checker: :func:`refuse_one_string`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol, SupportsIndex, TypeVar, overload

from .errors import InputError

_T_co = TypeVar("_T_co", covariant=True)


class SequenceNotStr(Protocol[_T_co]):
    """A sequence (list, tuple, range...) that is not a ``str`` or ``bytes``."""

    @overload
    def __getitem__(self, index: SupportsIndex, /) -> _T_co: ...
    @overload
    def __getitem__(self, index: slice, /) -> Sequence[_T_co]: ...
    def __contains__(self, value: object, /) -> bool: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[_T_co]: ...
    def __reversed__(self) -> Iterator[_T_co]: ...
    def index(self, value: Any, start: int = 0, stop: int = ..., /) -> int: ...
    def count(self, value: Any, /) -> int: ...


def refuse_one_string(name: str, value: object, items: str = "strings") -> None:
    """Refuse one string passed for the list parameter ``name`` (a list of ``items``), in one line that names the
    parameter and the list to pass. A str is a sequence of strings, so it was read letter by letter (the columns
    'i' and 'd' kept, the teachers 'l', 'o', 'c'... opened, each letter of a text labelled); the six places that
    refused it said so in three wordings."""
    if isinstance(value, str):
        shown = value if len(value) <= 60 else f"{value[:40]}..."
        raise InputError(f"{name}= takes a list of {items}, not one string: pass [{shown!r}].")
