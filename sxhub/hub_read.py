"""What a publish reads from the Hub about the repos it links before it writes (:mod:`sxhub.hub` writes): whether
the model a Space loads by id can be loaded there, that model's ``sxhub.json``, and the dataset commit a model card
cites. A check that cannot be made says so or stays silent; the push itself reports an unreachable Hub."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from .errors import PublishError
from .hub import hub_api, resolve_token

logger = logging.getLogger("sxhub.hub")  # the lines these checks give, under the logger they always had


def warn_unloadable_model(model_repo: str, *, token: str | None) -> None:
    """Say so when the Space about to be pushed could not load its ``--model-repo``: a private (or gated) model is
    read on the Space only with a token, and a Space has none unless an ``HF_TOKEN`` secret is added (``sxhub run
    --push --private`` made a private model and a Space that failed at startup with "Repository not found"). A
    check that cannot be made says nothing: the push itself reports an unreachable Hub."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    try:
        info = hub_api(resolve_token(token)).model_info(model_repo)
    except RepositoryNotFoundError:
        logger.warning(
            "model repo %r is not on the Hub (or this token cannot see it): the Space will fail to start until it is; "
            "push it with `sxhub publish model`, or publish the Space without --model-repo to carry the model in it",
            model_repo,
        )
        return
    except (HfHubHTTPError, PublishError, httpx2.TransportError, ConnectionError):
        return
    if info.private or info.gated:
        logger.warning(
            "model repo %r is %s: the Space can load it only with a token; add a secret HF_TOKEN (read access to it) "
            "in the Space's settings, or publish the Space without --model-repo to carry the model in it",
            model_repo,
            "private" if info.private else "gated",
        )


def hub_model_record(model_repo: str, *, token: str | None) -> dict[str, Any] | None:
    """The ``sxhub.json`` of a student on the Hub (its task, teachers, scores), which a Space published for the model
    by its id shows as a Space of a local folder does: without it the page offered financial news as examples for any
    task, and its card had no description and license "other". None where the repo has none (a model sxhub did not
    train) or it cannot be read (:func:`warn_unloadable_model` says why)."""
    import httpx2
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError

    from .run_record import SXHUB_JSON

    try:  # into a folder of its own: the Hub cache is the Space's and the user's (sxhub space OWNER/NAME) to fill
        with tempfile.TemporaryDirectory(prefix="sxhub-record-") as folder:
            path = hf_hub_download(model_repo, SXHUB_JSON, token=resolve_token(token), local_dir=folder)
            record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (HfHubHTTPError, PublishError, httpx2.TransportError, ConnectionError, OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def latest_revision(dataset_repo: str, *, token: str | None = None) -> str | None:
    """The latest commit of a dataset repo (what a model card cites), or ``None`` when the repo is not there. A repo
    the Hub does not have is said in a warning: a mistyped --dataset-repo published a card that links, and whose
    model-index cites, a dataset that does not exist, with no word (a Space's --model-repo is warned of alike)."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    try:
        return str(hub_api(resolve_token(token)).dataset_info(dataset_repo).sha or "") or None
    except RepositoryNotFoundError:
        logger.warning(
            "dataset repo %r is not on the Hub (or this token cannot see it): the model card links it and cites no "
            "revision of it; push it with `sxhub publish dataset`, or fix --dataset-repo",
            dataset_repo,
        )
        return None
    # an unreachable Hub (or HF_HUB_OFFLINE: a ConnectionError, exit 1 before) fails the push after, in one line
    except (HfHubHTTPError, PublishError, httpx2.TransportError, ConnectionError):
        return None
