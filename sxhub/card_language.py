"""The language a card declares: what the Hub takes in its ``language`` metadata, from the task spec's ``language``.
Split from :mod:`sxhub.spec`, which checks the spec's fields; this one checks what the Hub accepts of one."""

from __future__ import annotations

import re
from typing import Any

from .errors import SpecError

# what the Hub takes in a card's ``language``: an ISO 639-1/2/3 code (lowercase), or one of its special values; a
# BCP-47 tag goes in ``language_bcp47`` beside its language's code
_LANGUAGE_CODE = re.compile(r"[a-z]{2,3}")
_BCP47 = re.compile(r"([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})+")
_SPECIAL_LANGUAGES = ("multilingual", "code")


def card_language(language: str) -> dict[str, Any]:
    """The cards' ``language`` metadata (and ``language_bcp47`` for a tag like ``zh-Hant``) from the spec's
    ``language``: one code, or several separated by commas (``de, fr``). A name the Hub would show as "YAML Metadata
    Error" on the published card (``German``, ``Deutsch``) is a SpecError naming the code to write."""
    codes: list[str] = []
    tags: list[str] = []
    for part in (p.strip() for p in language.split(",")):
        bcp47 = _BCP47.fullmatch(part)
        if _LANGUAGE_CODE.fullmatch(part) or part in _SPECIAL_LANGUAGES:
            codes.append(part)
        elif bcp47:
            codes.append(bcp47[1].lower())
            tags.append(part.replace("_", "-"))
        else:
            import locale

            alias = locale.locale_alias.get(part.lower().replace(" ", ""), "")  # 'german' -> 'de_DE.ISO8859-1'
            guess = re.match(r"[a-z]{2,3}(?=_|$)", alias)
            hint = f" ({guess[0]} for {part})" if guess else ""
            raise SpecError(
                f"language: {part!r} is not a language code the Hub accepts on a card; write its ISO 639-1 code"
                f"{hint or ' (e.g. de, fr, zh, ja, ar, he, hi)'}, several separated by commas (de, fr), or multilingual."
            )
    return {"language": list(dict.fromkeys(codes)), **({"language_bcp47": tags} if tags else {})}
