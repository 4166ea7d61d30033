"""The review app (Gradio): people check the teacher's labels one text at a time.

A reviewer sees one text at a time in queue order (most doubtful first when ``sxhub doubts`` made the queue), with
the teacher's votes and their reasons, the out-of-fold probabilities, the current label and the signals behind the
doubt. They pick the right label(s) or keep the current one, skip, go back or undo, with a keyboard shortcut for each
(1..9 and 0 pick labels, k keep, s skip, b back, u undo, Enter saves a multi-label choice), and see their progress
and how the reviewers agree with each other and with the teacher. Every action is saved at once
(:mod:`sxhub.review_log`).

On a Hugging Face Space (``sxhub publish review``) :mod:`sxhub.review_space` starts it, with the decisions kept in
the dataset repo.

This module imports nothing from sxhub but :mod:`sxhub.review_log` (gradio only when used): ``sxhub publish review``
copies it, :mod:`sxhub.review_log` and :mod:`sxhub.review_space` into the Space as they are, as the package
``sxhub_review/`` that its ``app.py`` runs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .review_log import Item, Review, ReviewConfig

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
    ``unsaved`` (the Space: :func:`sxhub.review_space.push_warning`) returns a warning while decisions are not
    reaching the dataset repo; the page shows it above every message until a push succeeds.
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
