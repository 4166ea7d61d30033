"""The review app (Gradio): people check the teacher's labels one text at a time.

A reviewer sees one text at a time in queue order (most doubtful first when ``sxhub doubts`` made the queue), with
the teacher's votes and their reasons, the out-of-fold probabilities, the current label and the signals behind the
doubt. They pick the right label(s) or keep the current one, skip, go back or undo, with a keyboard shortcut for each
(1..9 and 0 pick labels, k keep, s skip, b back, u undo, Enter saves a multi-label choice), and see their progress
and how the reviewers agree with each other and with the teacher. Every action is saved at once
(:mod:`sxhub.review_log`).

On a Hugging Face Space (``sxhub publish review``) decisions go to the dataset repo under ``review/decisions/``
through ``huggingface_hub.CommitScheduler``: each app process writes its own file, and a restarted Space downloads
the earlier ones and resumes.

This module imports nothing from sxhub but :mod:`sxhub.review_log` (gradio and huggingface_hub only when used):
``sxhub publish review`` copies both into the Space as they are, as the package ``sxhub_review/`` that its
``app.py`` runs.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .review_log import (
    CONFIG_FILE,
    DECISIONS_IN_REPO,
    ITEMS_FILE,
    DecisionLog,
    Item,
    Review,
    ReviewConfig,
    read_items,
)

MAX_LABEL_KEYS = 10  # 1..9 and 0
# the page's markdown: no LaTeX ('$$' in a teacher's reason or a label definition was typeset as a formula)
PLAIN: dict[str, Any] = {"latex_delimiters": []}

# document-level key bindings: each key clicks a button (found by its elem_id); typing in a text field is left alone.
# The text, votes and facts take each paragraph's direction from its own first letters (unicode-bidi: plaintext), so a
# right-to-left text reads from the right (the page's ltr put its full stop and any leading number on the wrong side)
HEAD = """<style>
#sxr-text textarea, #sxr-votes td, #sxr-facts p { unicode-bidi: plaintext; text-align: start; }
</style>
<script>
(() => {
  if (window.__sxhubReviewKeys) return;
  window.__sxhubReviewKeys = true;
  const named = {k: "sxr-keep", s: "sxr-skip", b: "sxr-back", u: "sxr-undo", enter: "sxr-save"};
  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.repeat) return;
    const t = ev.target;
    const typing = t && (t.tagName === "TEXTAREA" || t.isContentEditable ||
      (t.tagName === "INPUT" && t.type !== "checkbox" && t.type !== "radio"));
    if (typing) return;
    const key = ev.key.toLowerCase();
    if (key === "enter" && t && t.tagName === "BUTTON") return;  // the browser already clicks a focused button
    let el = null;
    if (/^[0-9]$/.test(key)) {
      const n = key === "0" ? 10 : Number(key);
      el = document.getElementById("sxr-label-" + n) ||
        document.querySelectorAll("#sxr-choices input[type=checkbox]")[n - 1] || null;
    } else if (named[key]) {
      el = document.getElementById(named[key]);
    }
    if (!el) return;
    ev.preventDefault();
    el.click();
  });
})();
</script>"""


# ==============================================================================================================
# what the page shows
# ==============================================================================================================
def _fmt(value: Any, digits: int = 3) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {_fmt(v, digits)}" for k, v in value.items())
    if isinstance(value, bool) or value is None:
        return "–" if value is None else str(value)
    if isinstance(value, (int, float)):
        return "–" if isinstance(value, float) and math.isnan(value) else f"{value:.{digits}g}"
    return str(value)


SIGNAL_LABELS = 3  # a per-label signal shows its most doubtful labels only


def _signal(value: Any) -> str:
    """A signal: its value, or for a per-label one (multi-label) the labels it doubts most, highest first (all 28 of
    GoEmotions' made a wall of numbers, the doubted label somewhere in it)."""
    if not isinstance(value, Mapping):
        return _fmt(value)
    ranked = sorted(value.items(), key=lambda kv: -float(kv[1]) if isinstance(kv[1], (int, float)) else 0.0)
    shown = _fmt(dict(ranked[:SIGNAL_LABELS]))
    return shown + (f" (+{len(ranked) - SIGNAL_LABELS} more)" if len(ranked) > SIGNAL_LABELS else "")


# every ASCII punctuation character: CommonMark lets each be escaped with a backslash, and then shows it as itself
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def _cell(value: Any) -> str:
    """``value`` as literal text on one line of the page's markdown (a table cell too): a teacher's reason that
    quotes ``**bold**``, a link, an image or ``<b>`` shows those characters; none of it is rendered or fetched."""
    return _PUNCTUATION.sub(r"\\\1", " ".join(str(value).split()))


def _code(name: Any) -> str:
    """A label name as inline code, whatever backticks it holds (a fence longer than its longest run)."""
    text = " ".join(str(name).split())
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _names(labels: Sequence[str]) -> str:
    return ", ".join(_code(n) for n in labels) if labels else "(none)"


def facts_markdown(item: Item, mine: Mapping[str, Any] | None) -> str:
    lines = [f"**Current label:** {_names(item.current)}"]
    if item.suggested:
        lines[0] += f" · **suggested:** {_names(item.suggested)}"
    if item.doubt is not None:
        lines[0] += f" · **doubt:** {_fmt(item.doubt)}"
    if item.signals:
        lines.append("Signals: " + " · ".join(f"{_cell(k)} {_cell(_signal(v))}" for k, v in item.signals.items()))
    if mine is not None:
        verb = "kept" if mine["action"] == "keep" else "chose"
        lines.append(f"**You {verb}:** {_names(mine.get('labels') or [])}")
    return "\n\n".join(lines)


def votes_markdown(item: Item) -> str:
    if not item.votes:
        return "*No teacher votes for this text.*"
    rows = ["| teacher | sample | labels | reason |", "|---|---:|---|---|"]
    for vote in item.votes:
        labels = vote.get("labels")
        shown = "(failed)" if labels is None else ", ".join(map(str, labels)) or "(none)"
        rows.append(
            f"| {_cell(vote.get('teacher', ''))} | {_cell(vote.get('sample', ''))} | {_cell(shown)} "
            f"| {_cell(vote.get('reason') or vote.get('error') or '')} |"
        )
    return "\n".join(rows)


def progress_markdown(review: Review, pos: int, reviewer: str) -> str:
    if not reviewer.strip():
        return "**Type your name** in the Reviewer box to start."
    p = review.progress(reviewer)
    where = "done" if pos >= p["total"] else f"text {pos + 1} of {p['total']}"
    return (
        f"**{_cell(reviewer)}**: {p['decided']} of {p['total']} decided ({p['changed']} changed) · "
        f"{p['skipped']} skipped · {p['total'] - p['decided']} to go · {where}"
    )


def agreement_markdown(result: Mapping[str, Any]) -> str:
    if not result["reviewers"]:
        return "*No decisions yet.*"
    between = (
        f"Krippendorff's alpha between reviewers: **{_fmt(result['alpha_between'])}** over {result['n_shared']} "
        "text(s) decided by two or more."
        if result["n_shared"]
        else "Alpha between reviewers needs two reviewers on the same text."
    )
    rows = ["| reviewer | decided | kept the teacher's label | alpha with the teacher |", "|---|---:|---:|---:|"]
    for r in result["per_reviewer"]:
        rows.append(
            f"| {_cell(r['reviewer'])} | {r['decided']} | {r['same_as_teacher']} | {_fmt(r['alpha_with_teacher'])} |"
        )
    return between + "\n\n" + "\n".join(rows)


def help_markdown(config: ReviewConfig) -> str:
    keys = ", ".join(f"**{(i + 1) % 10}** {_code(n)}" for i, n in enumerate(config.labels[:MAX_LABEL_KEYS]))
    pick = "toggle" if config.multi_label else "pick"
    save = " · **Enter** save the choice" if config.multi_label else ""
    lines = [f"Keys: {keys} ({pick}){save} · **k** keep the current label · **s** skip · **b** back · **u** undo."]
    described = [(n, config.descriptions.get(n)) for n in config.labels if config.descriptions.get(n)]
    if described:
        lines.append(" · ".join(f"{_code(n)}: {_cell(d)}" for n, d in described))
    return "\n\n".join(lines)


# ==============================================================================================================
# the Gradio app
# ==============================================================================================================
def build_demo(
    review: Review, *, reviewer: str = "", login: str = "", unsaved: Callable[[], str | None] | None = None
) -> Any:
    """The review page as ``gr.Blocks``; launch it with :func:`launch` (which adds the keyboard shortcuts).

    ``reviewer`` (``sxhub review --reviewer``) fills the Reviewer box; without it, ``login`` (the login name of
    whoever started the app) does, unless this browser typed a name before: that person is still the one here.
    ``unsaved`` (the Space: :func:`push_warning`) returns a warning while decisions are not reaching the dataset
    repo; the page shows it above every message until a push succeeds.
    """
    import gradio as gr

    config = review.config
    with gr.Blocks(title=config.title) as demo:
        gr.Markdown(f"# {_cell(config.title)}", **PLAIN)
        gr.Markdown(help_markdown(config), **PLAIN)
        with gr.Row():
            who = gr.Textbox(
                value=reviewer or login, label="Reviewer", placeholder="your name", scale=1, elem_id="sxr-who"
            )
            progress = gr.Markdown(elem_id="sxr-progress", **PLAIN)
        pos = gr.State(0)
        # the name typed last in this browser: a reload (or the Space restarting) resumes that reviewer's queue
        # instead of asking for the name again at the first text; not a secret, so a fixed key reads it after a
        # restart too
        remembered = gr.BrowserState("", storage_key="sxhub-review-reviewer", secret="sxhub-review-reviewer")
        text = gr.Textbox(label="Text", interactive=False, lines=4, elem_id="sxr-text")
        facts = gr.Markdown(elem_id="sxr-facts", **PLAIN)
        choices = None
        label_buttons = []
        if config.multi_label:
            choices = gr.CheckboxGroup(config.labels, label="Labels", elem_id="sxr-choices")
            save = gr.Button("Save (Enter)", variant="primary", elem_id="sxr-save")
        else:
            with gr.Row():
                for i, name in enumerate(config.labels):
                    key = f"{(i + 1) % 10} " if i < MAX_LABEL_KEYS else ""
                    label_buttons.append(gr.Button(f"{key}{name}", variant="primary", elem_id=f"sxr-label-{i + 1}"))
        with gr.Row():
            keep = gr.Button("Keep current (k)", elem_id="sxr-keep")
            skip = gr.Button("Skip (s)", elem_id="sxr-skip")
            back = gr.Button("Back (b)", elem_id="sxr-back")
            undo = gr.Button("Undo (u)", elem_id="sxr-undo")
        status = gr.Markdown(elem_id="sxr-status", **PLAIN)
        with gr.Row():
            probs = gr.Label(label="Out-of-fold probabilities", num_top_classes=len(config.labels))
            with gr.Column():
                gr.Markdown("**Teacher votes**", **PLAIN)
                votes = gr.Markdown(elem_id="sxr-votes", **PLAIN)
        with gr.Accordion("Agreement", open=False):
            agree = gr.Markdown(elem_id="sxr-agreement", **PLAIN)

        outputs = [pos, progress, text, facts, probs, votes, agree, status, *([choices] if choices else [])]

        def show(p: int, name: str, message: str = "") -> tuple[Any, ...]:
            name = (name or "").strip()
            done = p >= len(review.items)
            item = None if done else review.items[p]
            mine = review.state(name).decided.get(item.row) if item is not None and name else None
            values: list[Any] = [
                p,
                progress_markdown(review, p, name),
                "" if item is None else item.text,
                "**All texts are decided.** Go back (b) to change a decision."
                if item is None
                else facts_markdown(item, mine),
                gr.update(value=item.probs if item is not None and item.probs else None),
                "" if item is None else votes_markdown(item),
                agreement_markdown(review.agreement()),
                "\n\n".join(m for m in ((unsaved() if unsaved else None), message) if m),
            ]
            if choices is not None:
                chosen = [] if item is None else (mine.get("labels") or []) if mine else item.current
                values.append(gr.update(value=list(chosen)))
            return tuple(values)

        def guarded(action: Callable[[], tuple[int, str]], name: str) -> tuple[Any, ...]:
            try:
                new_pos, message = action()
            except ValueError as exc:
                raise gr.Error(str(exc)) from exc
            return show(new_pos, name, message)

        def on_load(name: str, saved: str, request: gr.Request) -> tuple[Any, ...]:
            # the link's ?reviewer=, else sxhub review --reviewer, else the name this browser typed last, else the box
            # (the login name of whoever started the app: a second reviewer on the network who typed their name and
            # reloaded became that person, and their next decisions went under that name)
            query = request.query_params.get("reviewer") if request is not None else None
            asked = query or reviewer.strip() or saved or name
            asked = (asked or "").strip()
            return (asked, *show(review.resume(asked) if asked else 0, asked))

        # gradio injects the request by the annotation's class; this module's annotations are strings
        on_load.__annotations__["request"] = gr.Request

        def on_reviewer(name: str) -> tuple[Any, ...]:
            name = (name or "").strip()
            return (name, *show(review.resume(name) if name else 0, name))

        def on_label(index: int) -> Callable[[int, str], tuple[Any, ...]]:
            label = config.labels[index]

            def pick(p: int, name: str) -> tuple[Any, ...]:
                return guarded(lambda: (review.decide(p, name, [label]), f"Saved: `{label}`."), name)

            return pick

        def on_save(p: int, name: str, chosen: list[str]) -> tuple[Any, ...]:
            return guarded(lambda: (review.decide(p, name, chosen or []), f"Saved: {_names(chosen or [])}."), name)

        def on_keep(p: int, name: str) -> tuple[Any, ...]:
            return guarded(lambda: (review.keep(p, name), "Kept the current label."), name)

        def on_skip(p: int, name: str) -> tuple[Any, ...]:
            return guarded(lambda: (review.skip(p, name), "Skipped."), name)

        def on_back(p: int, name: str) -> tuple[Any, ...]:
            return show(review.back(p), name)

        def on_undo(p: int, name: str) -> tuple[Any, ...]:
            def act() -> tuple[int, str]:
                back_to = review.undo(name)
                return (p, "Nothing to undo.") if back_to is None else (back_to, "Undone.")

            return guarded(act, name)

        demo.load(on_load, [who, remembered], [who, *outputs])  # only a typed name is remembered
        who.submit(on_reviewer, [who], [remembered, *outputs])
        who.blur(on_reviewer, [who], [remembered, *outputs])
        for i, button in enumerate(label_buttons):
            button.click(on_label(i), [pos, who], outputs)
        if choices is not None:
            save.click(on_save, [pos, who, choices], outputs)
        keep.click(on_keep, [pos, who], outputs)
        skip.click(on_skip, [pos, who], outputs)
        back.click(on_back, [pos, who], outputs)
        undo.click(on_undo, [pos, who], outputs)
    return demo


def launch(demo: Any, *, keys: bool = True, **kwargs: Any) -> tuple[Any, str, str | None]:
    """``demo.launch`` with the keyboard shortcuts in the page head (unless not ``keys``); returns what gradio
    returns. This module runs inside a published review Space without sxhub: ``sxhub review`` turns a port it cannot
    bind into one error line (``sxhub.space.listen``), not this function."""
    return demo.launch(head=HEAD if keys else None, **kwargs)  # type: ignore[no-any-return]


# ==============================================================================================================
# the Space
# ==============================================================================================================
def hub_log(
    dataset_repo: str, *, every: float = 1.0, token: str | None = None, folder: Path | None = None
) -> tuple[DecisionLog, Any]:
    """A :class:`DecisionLog` whose file a ``CommitScheduler`` commits to ``dataset_repo`` every ``every`` minutes.

    Earlier decisions in the repo (``review/decisions/*.jsonl``) are downloaded and replayed, so a restarted Space
    resumes. ``folder`` (default: ``/data/sxhub-review`` on a Space with persistent storage, else ``decisions/`` in
    the working directory) holds this process's own file. Returns ``(log, scheduler)``.
    """
    from huggingface_hub import snapshot_download

    check_writable(dataset_repo, token=token)  # before the page is served, not at the first push a minute later
    folder = folder or _local_folder()
    folder.mkdir(parents=True, exist_ok=True)
    scheduler = _watched_scheduler()(
        repo_id=dataset_repo,
        repo_type="dataset",
        folder_path=folder,
        path_in_repo=DECISIONS_IN_REPO,
        allow_patterns=["*.jsonl"],
        every=every,
        token=token,
    )
    earlier = Path(
        snapshot_download(
            dataset_repo, repo_type="dataset", allow_patterns=[f"{DECISIONS_IN_REPO}/*.jsonl"], token=token
        )
    )
    paths = sorted((earlier / DECISIONS_IN_REPO).glob("*.jsonl")) + sorted(folder.glob("*.jsonl"))
    log = DecisionLog(folder / f"decisions-{uuid.uuid4().hex[:12]}.jsonl", read_paths=paths, lock=scheduler.lock)
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


def check_writable(dataset_repo: str, *, token: str | None) -> None:
    """Raise :class:`NotWritable` (or huggingface_hub's error for a rejected token) when ``token`` cannot write to
    ``dataset_repo``, before any reviewer works: a token that could read but not write an existing repo (read-only,
    or another's dataset) started the Space, and reviewers learnt of it only when the first push failed, a minute
    (``every``) later. The check is :func:`repo_access`. A repo that is not there is left to ``CommitScheduler``,
    which creates it (and is refused there when the token cannot)."""
    from huggingface_hub import HfApi

    if repo_access(HfApi(token=token), dataset_repo) == NOT_WRITABLE:
        raise NotWritable(f"{dataset_repo} exists, and this token may not write to it")


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
