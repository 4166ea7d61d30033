"""The license a card declares: one of the Hub's identifiers, or ``other`` with a name and a link.

The Hub reads a card's ``license:`` only from its own list of identifiers; a free-text license (``Apache License
2.0``, ``proprietary``) makes it refuse the push or flag the card. A license off that list is declared the way the
Hub's docs give it: ``license: other``, ``license_name`` (an id for it) and ``license_link`` (a URL of its text).
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from .errors import SpecError

# The Hub's license identifiers, in its order: huggingface/hub-docs docs/hub/repositories-licenses.md (the table
# between its "region licenses" comments), at commit fd6cf1f56e1514af08c5a7262d9f79b3becb810d (2026-06-06, the
# latest change of that file in the snapshot of 242f4a1eeb867daf4ac3f44026a5df4a68908a3d). huggingface_hub holds
# no copy of the list (its card classes pass ``license`` through unchecked).
HUB_LICENSES = (
    "apache-2.0", "mit", "openrail", "bigscience-openrail-m", "creativeml-openrail-m", "bigscience-bloom-rail-1.0",
    "bigcode-openrail-m", "afl-3.0", "artistic-2.0", "bsl-1.0", "bsd", "bsd-2-clause", "bsd-3-clause",
    "bsd-3-clause-clear", "c-uda", "cc", "cc0-1.0", "cc-by-2.0", "cc-by-2.5", "cc-by-3.0", "cc-by-4.0", "cc-by-sa-3.0",
    "cc-by-sa-4.0", "cc-by-nc-2.0", "cc-by-nc-3.0", "cc-by-nc-4.0", "cc-by-nd-4.0", "cc-by-nc-nd-3.0",
    "cc-by-nc-nd-4.0", "cc-by-nc-sa-2.0", "cc-by-nc-sa-3.0", "cc-by-nc-sa-4.0", "cdla-sharing-1.0",
    "cdla-permissive-1.0", "cdla-permissive-2.0", "wtfpl", "ecl-2.0", "epl-1.0", "epl-2.0", "etalab-2.0", "eupl-1.1",
    "eupl-1.2", "agpl-3.0", "gfdl", "gpl", "gpl-2.0", "gpl-3.0", "lgpl", "lgpl-2.1", "lgpl-3.0", "isc", "h-research",
    "intel-research", "lppl-1.3c", "ms-pl", "apple-ascl", "apple-amlr", "mpl-2.0", "odc-by", "odbl", "openmdw-1.0",
    "openmdw-1.1", "openrail++", "osl-3.0", "postgresql", "ofl-1.1", "ncsa", "unlicense", "zlib", "pddl", "lgpl-lr",
    "deepfloyd-if-license", "fair-noncommercial-research-license", "llama2", "llama3", "llama3.1", "llama3.2",
    "llama3.3", "llama4", "grok2-community", "gemma", "unknown", "other",
)  # fmt: skip
LICENSES_URL = "https://huggingface.co/docs/hub/repositories-licenses"
OTHER = "other"
_SEPARATORS = re.compile(r"[\s_]+")


def hub_license_id(value: str | None) -> str | None:
    """The Hub's spelling of ``value`` when it names one of the Hub's licenses (``MIT``, ``Apache 2.0``,
    ``CC_BY_4.0``: case, spaces and underscores aside), else None."""
    if not isinstance(value, str):
        return None
    key = _SEPARATORS.sub("-", value.strip().lower())
    return key if key in HUB_LICENSES else None


def license_slug(value: str) -> str:
    """An id for a license off the Hub's list, as ``license_name`` holds it (``ACME Data License v2`` ->
    ``acme-data-license-v2``)."""
    return re.sub(r"[^a-z0-9.+]+", "-", value.strip().lower()).strip("-.")


def check_license_link(link: str | None) -> None:
    """``license_link`` is a URL of the license text: sxhub writes no LICENSE file a relative link could name."""
    if link is None:
        return
    if not re.match(r"^https?://[^\s/]+\.[^\s/]+(/\S*)?$", link.strip()):
        raise SpecError(
            f"license_link: {link!r} is not a URL; give the http(s) address of the license's text "
            "(sxhub writes no LICENSE file into the repos)."
        )


def card_license(license: str | None, *, name: str | None = None, link: str | None = None) -> dict[str, Any]:
    """The card metadata for a task's ``license`` (with its ``license_name`` / ``license_link``): ``{"license":
    id}`` for a Hub identifier, ``{"license": "other", "license_name": ..., "license_link": ...}`` for a named license
    off the list with a link, and ``{"license": "other"}`` when none is stated. Anything else is a SpecError with
    one line naming the fix, raised before anything is labelled, trained or pushed."""
    check_license_link(link)
    if license is None or not license.strip():
        if name or link:
            raise SpecError(
                "license_name and license_link name a license off the Hub's list: add 'license: other' beside them "
                f"(or drop them and give one of the Hub's identifiers as license; see {LICENSES_URL})."
            )
        return {"license": OTHER}
    known = hub_license_id(license)
    if known is not None and known != OTHER:
        if name or link:
            raise SpecError(
                f"license: {license!r} is the Hub's {known!r}, which takes no license_name or license_link (they are "
                "for 'license: other'); remove them."
            )
        return {"license": known}
    if known == OTHER:
        if not name and not link:
            return {"license": OTHER}
        if not name or not link:
            missing = "license_name (an id for the license)" if not name else "license_link (the URL of its text)"
            raise SpecError(f"license: other with {'license_link' if link else 'license_name'} needs {missing} too.")
        label = name
    else:
        if not link and re.search(r"\s(OR|AND|WITH)\s", license):  # an SPDX expression: "MIT OR Apache-2.0"
            parts = [hub_license_id(p) for p in re.split(r"\s+(?:OR|AND|WITH)\s+|[()]", license) if p.strip()]
            ids = list(dict.fromkeys(p for p in parts if p and p != OTHER))
            choice = not re.search(r"\s(AND|WITH)\s", license) and len(ids) > 1  # a choice of licenses only
            raise SpecError(
                f"license: {license!r} is an SPDX expression, and a card's license: takes one of the Hub's "
                "identifiers; "
                + (
                    f"write the one you offer the data and model under ({' or '.join(ids)}), or keep "
                    if choice
                    else "keep "
                )
                + "the expression and add license_link: the URL of its text (the cards then declare license: other)."
            )
        if not link:
            close = difflib.get_close_matches(license_slug(license), HUB_LICENSES[:-2], n=1, cutoff=0.6)
            guess = f" (did you mean {close[0]}?)" if close else ""
            raise SpecError(
                f"license: {license!r} is not one of the Hub's license identifiers{guess}, and the Hub refuses a card "
                f"with it; write one of them (apache-2.0, mit, cc-by-4.0, ...: {LICENSES_URL}), or keep this name and "
                "add license_link: the URL of its text (the cards then declare license: other)."
            )
        label = name or license
    slug = license_slug(label)
    if not slug:
        raise SpecError(f"license_name: {label!r} has no letter or digit to make an id of; name the license.")
    return {"license": OTHER, "license_name": slug, "license_link": link.strip() if link else link}
