"""The review Space's start (``sxhub publish review``): decisions kept in the dataset repo, or one line why not.

On a Hugging Face Space decisions go to the dataset repo under ``review/decisions/`` through
``huggingface_hub.CommitScheduler``: each app process writes its own file, and a restarted Space downloads the earlier
ones and resumes. Before any of it the token's access to the dataset repo is checked (:func:`repo_access`, which
``sxhub publish review`` asks too); a Space that cannot keep decisions serves one line saying why instead of the
review (:func:`main`), the page itself being :mod:`sxhub.review_app`'s.

This module imports nothing from sxhub but :mod:`sxhub.review_app` and :mod:`sxhub.review_log` (gradio and
huggingface_hub only when used): ``sxhub publish review`` copies the three into the Space as they are, as the package
``sxhub_review/`` whose :func:`main` its ``app.py`` runs.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

from .review_app import PLAIN, _cell, _code, build_demo, launch
from .review_log import CONFIG_FILE, DECISIONS_IN_REPO, ITEMS_FILE, DecisionLog, Review, ReviewConfig, read_items


def hub_log(
    dataset_repo: str, *, every: float = 1.0, token: str | None = None, folder: Path | None = None
) -> tuple[DecisionLog, Any]:
    """A :class:`DecisionLog` whose file a ``CommitScheduler`` commits to ``dataset_repo`` every ``every`` minutes.

    Earlier decisions in the repo (``review/decisions/*.jsonl``) are downloaded and replayed, so a restarted Space
    resumes. ``folder`` (default: ``/data/sxhub-review`` on a Space with persistent storage, else ``decisions/`` in
    the working directory) holds this process's own file. Returns ``(log, scheduler)``.
    """
    from huggingface_hub import HfApi, snapshot_download

    # before the page is served, not at the first push a minute later
    if check_writable(dataset_repo, token=token) == ABSENT:
        # created here, before the decisions folder: CommitScheduler makes its folder, then creates the repo, so a
        # token that could not create it left an empty decisions/ folder behind a Space that refused to start
        HfApi(token=token).create_repo(dataset_repo, repo_type="dataset", exist_ok=True)
    # the earlier decisions before this process's folder and scheduler: a download that failed after them left an
    # empty decisions/ folder and a scheduler thread pushing it every minute behind a Space that keeps nothing
    earlier = Path(
        snapshot_download(
            dataset_repo, repo_type="dataset", allow_patterns=[f"{DECISIONS_IN_REPO}/*.jsonl"], token=token
        )
    )
    folder = folder or _local_folder()
    made = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    scheduler = None
    try:
        scheduler = _watched_scheduler()(
            repo_id=dataset_repo,
            repo_type="dataset",
            folder_path=folder,
            path_in_repo=DECISIONS_IN_REPO,
            allow_patterns=["*.jsonl"],
            every=every,
            token=token,
        )
        paths = sorted((earlier / DECISIONS_IN_REPO).glob("*.jsonl")) + sorted(folder.glob("*.jsonl"))
        log = DecisionLog(folder / f"decisions-{uuid.uuid4().hex[:12]}.jsonl", read_paths=paths, lock=scheduler.lock)
    except BaseException:  # create_repo refused, or the earlier decisions did not read: nothing of this start stays
        if scheduler is not None:
            scheduler.stop()
        if made and not any(folder.iterdir()):
            folder.rmdir()
        raise
    return log, scheduler


class NotWritable(Exception):
    """The token cannot write to the dataset repo that keeps the decisions (one line: what and the fix)."""


WRITABLE, NOT_WRITABLE, ABSENT = "writable", "not writable", "absent"


def repo_access(api: Any, repo_id: str, *, repo_type: str = "dataset") -> str:
    """What ``api``'s token may do with ``repo_id``: :data:`WRITABLE`, :data:`NOT_WRITABLE` (the repo is there, and
    this token may read it, or is refused it, but may not write to it) or :data:`ABSENT` (not there, or not visible
    to this token). One classification for ``sxhub publish review`` (``sxhub.review.check_decisions_repo``) and the
    Space (:func:`check_writable`), which used to decide the 403 and the not-found answers each their own way.

    The check is huggingface_hub's ``auth_check`` (2.4.0 as installed, ``hf_api.py``: ``GET
    /api/{type}s/{id}/auth-check[/write]``, the answer read by ``hf_raise_for_status`` only), whose answers are:
    nothing (access); ``GatedRepoError`` (a subclass of ``RepositoryNotFoundError``, ``X-Error-Code: GatedRepo``):
    the repo is there, gated; ``RepositoryNotFoundError`` (``RepoNotFound``, or a 401 on a repo route other than
    "Invalid credentials"): not there, private, or no access, so for the write check the repo may be one this token
    reads but cannot write (huggingface_hub's ``hf spaces hot-reload`` takes that error for a failed write check),
    which the read check then tells apart; a plain 403 (``HfHubHTTPError``): the repo is there and this token may
    not (write to) it. Anything else (a rejected token's 401, a 5xx) is raised as huggingface_hub raised it."""
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

    def refused(write: bool) -> str | None:
        try:
            api.auth_check(repo_id, repo_type=repo_type, write=write)
        except GatedRepoError:
            return NOT_WRITABLE
        except RepositoryNotFoundError:
            return ABSENT
        except HfHubHTTPError as exc:
            if exc.response is None or exc.response.status_code != 403:
                raise
            return NOT_WRITABLE
        return None

    write_refused = refused(write=True)
    if write_refused is None:
        return WRITABLE
    if write_refused == NOT_WRITABLE:
        return NOT_WRITABLE
    return ABSENT if refused(write=False) == ABSENT else NOT_WRITABLE


def check_writable(dataset_repo: str, *, token: str | None) -> str:
    """Raise :class:`NotWritable` (or huggingface_hub's error for a rejected token) when ``token`` cannot write to
    ``dataset_repo``, before any reviewer works: a token that could read but not write an existing repo (read-only,
    or another's dataset) started the Space, and reviewers learnt of it only when the first push failed, a minute
    (``every``) later. The check is :func:`repo_access`; returns its answer, :data:`WRITABLE` or :data:`ABSENT` (a
    repo that is not there: :func:`hub_log` creates it, and is refused there when the token cannot)."""
    from huggingface_hub import HfApi

    access = repo_access(HfApi(token=token), dataset_repo)
    if access == NOT_WRITABLE:
        raise NotWritable(f"{dataset_repo} exists, and this token may not write to it")
    return access


def _watched_scheduler() -> Any:
    """``CommitScheduler`` that keeps the outcome of its last push: it pushes in a background thread and only logs a
    failure, so a Space whose token was revoked (or whose dataset repo stopped taking writes) after it started showed
    reviewers "Saved" while nothing reached the repo, and a restart without persistent storage lost those decisions.
    ``push_to_hub`` is the method huggingface_hub documents for subclasses to override (``CommitScheduler``'s
    docstring, huggingface_hub 2.4 ``src/huggingface_hub/_commit_scheduler.py``)."""
    from huggingface_hub import CommitScheduler

    class WatchedScheduler(CommitScheduler):  # type: ignore[misc]
        failure: str | None = None  # the last push's error, None once one succeeds

        def push_to_hub(self) -> Any:
            try:
                info = super().push_to_hub()
            except Exception as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                self.failure = first
                raise
            self.failure = None
            return info

    return WatchedScheduler


def push_warning(scheduler: Any, dataset_repo: str, *, persistent: bool) -> str | None:
    """What the page says while the last push of decisions to ``dataset_repo`` failed (None when it did not)."""
    failure = getattr(scheduler, "failure", None)
    if not failure:
        return None
    kept = (
        "they are kept on this Space's persistent storage"
        if persistent
        else "they are kept on this Space's disk only, and lost if it restarts before a push succeeds"
    )
    return (
        f"**Not yet in the dataset repo:** the last push of decisions to {_code(dataset_repo)} failed ({_cell(failure)}); "
        f"{kept}. Ask the Space's owner to check its HF_TOKEN secret (write access to {_code(dataset_repo)}); the push is "
        "tried again on its schedule."
    )


def _local_folder() -> Path:
    if os.environ.get("SXHUB_REVIEW_DIR"):
        return Path(os.environ["SXHUB_REVIEW_DIR"])
    persistent = Path("/data")
    if persistent.is_dir() and os.access(persistent, os.W_OK):
        return persistent / "sxhub-review"
    return Path("decisions").resolve()


def load_space(folder: Path, *, token: str | None = None, decisions_folder: Path | None = None) -> tuple[Review, Any]:
    """The Space's review (its ``config.json`` and ``items.jsonl``, decisions in the dataset repo) and scheduler."""
    config = ReviewConfig.from_dict(json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8")))
    if not config.dataset_repo:
        raise ValueError(f"{folder / CONFIG_FILE} names no dataset_repo to keep the decisions in")
    log, scheduler = hub_log(
        config.dataset_repo, every=config.every, token=token or os.environ.get("HF_TOKEN"), folder=decisions_folder
    )
    return Review(read_items(folder / ITEMS_FILE), config, log), scheduler


def cannot_save_line(repo: str | None, problem: str, fix: str | None = None) -> str:
    """The one line a Space that cannot keep decisions in ``repo`` logs and shows: what is wrong and, for its owner,
    the fix (by default: an HF_TOKEN secret with write access to ``repo``, then a restart)."""
    fix = fix or (
        f"set the secret HF_TOKEN to a token with write access to {repo} (Settings → Variables and secrets), then "
        "restart the Space"
    )
    return (
        f"This review Space cannot save decisions: {problem}. For the Space's owner: {fix}. Reviewers: nothing can "
        "be reviewed here until then."
    )


def stopped_demo(line: str) -> Any:
    """The page a Space that cannot save serves instead of the review: ``line`` and nothing else, no text to review
    and no control that could take a decision (which would be lost). A Space that exited showed its visitors
    "Runtime error", the reason only in the logs its owner must open."""
    import gradio as gr

    with gr.Blocks(title="Review unavailable") as demo:
        gr.Markdown("# Review unavailable", **PLAIN)
        gr.Markdown(_cell(line), elem_id="sxr-stopped", **PLAIN)
    return demo


def _start(folder: Path) -> tuple[tuple[Review, Any] | None, str]:
    """The Space's review and scheduler, or None and the one line saying why decisions could not be kept (no
    HF_TOKEN, a token that cannot write the dataset repo, a Hub that refused or could not be reached)."""
    from huggingface_hub import get_token
    from huggingface_hub.errors import HfHubHTTPError

    repo = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8")).get("dataset_repo")
    token = get_token()
    if not token:
        return None, cannot_save_line(repo, f"it keeps them in the dataset repo {repo}, and has no HF_TOKEN secret")
    try:
        return load_space(folder, token=token), ""
    except NotWritable as exc:
        return None, cannot_save_line(
            repo, f"it keeps them in the dataset repo {repo}, and the HF_TOKEN secret cannot write there ({exc})"
        )
    except Exception as exc:  # a read-only, expired or wrong token, or no Hub: one line, not a traceback
        if not isinstance(exc, (HfHubHTTPError, *_unreachable())):
            raise
        response = exc.response if isinstance(exc, HfHubHTTPError) else None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if response is not None and response.status_code in (401, 403):
            return None, cannot_save_line(
                repo, f"it keeps them in the dataset repo {repo}, and the HF_TOKEN secret cannot write there ({first})"
            )
        return None, cannot_save_line(
            repo,
            f"it could not reach the dataset repo {repo} that keeps them ({first})",
            "restart the Space, and check the repo's name in config.json if it goes on",
        )


def _unreachable() -> tuple[type[BaseException], ...]:
    """What huggingface_hub raises when the Hub cannot be reached at all (refused, timed out, no DNS): its HTTP
    client's transport errors, not ``HfHubHTTPError``, which needs an answer. huggingface_hub 2.0 moved to ``httpx2``
    (and the Space's requirements ask for huggingface_hub>=2.0); plain ``httpx`` is no dependency of sxhub's."""
    import httpx2

    return (httpx2.TransportError, ConnectionError)


def main(folder: Path) -> None:
    """Run the Space in ``folder`` (its ``app.py`` calls this): needs the ``HF_TOKEN`` secret with write access to
    the dataset repo. Without it, the reason goes to the logs (stderr) in one line, and the page says the same line
    to whoever opens the Space, with nothing to review on it."""
    loaded, line = _start(folder)
    if loaded is None:
        print(line, file=sys.stderr, flush=True)
        launch(stopped_demo(line), keys=False)
        return
    review, scheduler = loaded
    repo = review.config.dataset_repo or ""
    persistent = _local_folder().is_relative_to("/data")
    launch(build_demo(review, unsaved=lambda: push_warning(scheduler, repo, persistent=persistent)))
