"""Human review: people check the teacher's labels (``sxhub review``), and their corrections flow back into the
dataset (``sxhub apply-review``), its card and the expert trained on it.

* :func:`load_review` turns a labelled file (and the queue ``sxhub doubts`` wrote, if any) into the texts to review,
  in queue order; without a queue, the texts whose votes split most come first (file order without votes).
* :func:`launch_review` serves the review app (:mod:`sxhub.review_app`) on this machine; decisions go to an
  append-only JSONL beside the labelled file (:mod:`sxhub.review_log`).
* :func:`sxhub.review_apply.apply_review` sets the human labels: per text, the reviewers' majority decides; a tie keeps the teacher's
  label and is listed. It writes ``label_source`` (``teacher`` / ``human``), ``reviewers`` and the teacher's own
  label (``teacher_label`` / ``teacher_labels``), so applying the same, longer decisions file again is safe.
* :func:`publish_review` publishes the app as a Space that keeps decisions in the dataset repo.
"""

from __future__ import annotations

import getpass
import json
import logging
import math
import os
import shutil
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ._paths import asset_dir
from .data import is_missing_text, read_table, with_column_named, with_text_column
from .errors import InputError, PublishError, require
from .labelled import _as_named, failed_flags, flagged_twins, flagged_twins_line, parse_label_cell, with_flag_labels
from .review_log import (
    CONFIG_FILE,
    ITEMS_FILE,
    DecisionLog,
    Item,
    Review,
    ReviewConfig,
    write_items,
)
from .spec import TaskSpec, load_spec
from .table_read import decode_ledger_columns

__all__ = [
    "decisions_path",
    "launch_review",
    "load_review",
    "publish_review",
    "write_review_space",
]

logger = logging.getLogger(__name__)

SOURCE_COLUMN = "label_source"
REVIEWERS_COLUMN = "reviewers"
SPACE_PACKAGE = "sxhub_review"  # the app's three modules in the Space
REVIEW_COLUMNS = (SOURCE_COLUMN, REVIEWERS_COLUMN, "teacher_label", "teacher_labels")  # what apply-review adds


def _plain(value: Any) -> Any:
    """A cell as plain Python: numpy arrays as lists, JSON text (a CSV cell) decoded, NaN as None."""
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
    if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
        try:
            return _plain(json.loads(value))
        except json.JSONDecodeError:
            return value
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _number(value: Any) -> Any:
    """A number cell as a float (a CSV gives text), a dict of them per label as such; NaN as None."""
    value = _plain(value)
    if isinstance(value, dict):
        return {k: _number(v) for k, v in value.items()}
    if isinstance(value, str) and not value.strip():  # an empty CSV cell: no value, as in a Parquet queue
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    return None if math.isnan(number) else number


def decisions_path(labelled: str | os.PathLike[str]) -> Path:
    """Where ``sxhub review`` keeps decisions by default: ``<stem>.decisions.jsonl`` beside the labelled file."""
    path = Path(labelled)
    return path.with_name(f"{path.stem}.decisions.jsonl")


# ==============================================================================================================
# what to review
# ==============================================================================================================
@dataclass
class _Labelled:
    """The labelled file as review needs it: every row (failed ones too, so that row numbers hold)."""

    frame: pd.DataFrame
    column: str  # label or labels
    multi_label: bool
    texts: list[str]
    labels: list[list[str] | None]  # None: no label (failed, or no text)
    votes: list[list[dict[str, Any]]]
    label_names: list[str] = field(default_factory=list)
    # the twins of a sxhub twins file that failed a check (ok false): kept with their label (apply-review writes every
    # row back), but not reviewed, as train leaves them out
    flagged: list[bool] = field(default_factory=list)
    # the file's own names of the columns read under another (frame name -> file name): the texts' column, and the
    # file's own `text` read as `text_input` beside --text-column; apply-review writes them back under their names
    renamed: dict[str, str] = field(default_factory=dict)


def _read_labelled(
    source: str | os.PathLike[str] | pd.DataFrame, spec: TaskSpec | None, text_column: str | None = None
) -> _Labelled:
    # rows numbered 0..n-1 as a file's are: the decisions' row numbers are positions, and the new columns are
    # assigned by position (a frame numbered 10..12 had every label blanked)
    # a CSV's kept list columns as lists, as its ledger names them: apply-review -o reviewed.parquet held them as text
    frame = (
        source.reset_index(drop=True)
        if isinstance(source, pd.DataFrame)
        else decode_ledger_columns(read_table(source), source)
    )
    columns = list(frame.columns)
    if text_column is None:
        frame = with_text_column(frame)
    elif text_column not in frame.columns:
        raise InputError(
            f"--text-column {text_column!r} is not a column of the labelled file; its columns are "
            f"{list(frame.columns)[:12]}."
        )
    elif text_column != "text":  # named "text", as a usual name is (an own "text" column kept as text_input)
        frame = frame.rename(columns={"text": "text_input"}).rename(columns={text_column: "text"})
    # a Kaggle "Label" read as "label" (found as the texts are), written back under its own name by apply-review
    frame = with_column_named(frame, *([spec.label_column] if spec else ["labels", "label"]), text_column="text")
    renamed = {new: old for new, old in zip(frame.columns, columns, strict=True) if new != old}
    if spec is not None:
        frame = with_flag_labels(frame, spec.label_names, spec.multi_label, column=spec.label_column)
    if "text" not in frame.columns:
        raise InputError(
            f"the labelled file has no 'text' column (columns: {list(frame.columns)[:12]}); pass --text-column with "
            "the column of texts."
        )
    if spec is not None:
        column, multi = spec.label_column, spec.multi_label
    elif "labels" in frame.columns:
        column, multi = "labels", True
    elif "label" in frame.columns:
        column, multi = "label", False
    else:
        column, multi = "", False
    if column not in frame.columns:
        raise InputError(
            f"the labelled file has no {column or 'label or labels'!r} column (columns: {list(frame.columns)[:12]}); "
            "review the output of `sxhub annotate` (or any file with text and label columns; for one true/false "
            "column per label, pass --task)."
        )
    failed = failed_flags(frame["failed"]).tolist() if "failed" in frame.columns else [False] * len(frame)
    texts, labels = [], []
    for text, cell, bad in zip(frame["text"], frame[column], failed, strict=True):
        texts.append("" if is_missing_text(text) else str(text))
        parsed = None if bad or is_missing_text(text) else parse_label_cell(_plain(cell), multi_label=multi)
        labels.append(None if parsed is None else (list(parsed) if multi else [str(parsed)]))
    if spec is not None:  # the task's names, as train reads them: a "Positive" cell is the task's "positive"
        labels = [
            None if labs is None else _as_named([labs], spec.label_names, multi_label=True)[0][0] for labs in labels
        ]
    votes = [_votes(v) for v in frame["votes"]] if "votes" in frame.columns else [[] for _ in texts]
    return _Labelled(
        frame, column, multi, texts, labels, votes, flagged=flagged_twins(frame).tolist(), renamed=renamed
    )


def _votes(cell: Any) -> list[dict[str, Any]]:
    votes = _plain(cell)
    if not isinstance(votes, list):
        return []
    out = []
    for vote in votes:
        if isinstance(vote, Mapping):
            labels = vote.get("labels")
            out.append(
                {
                    "teacher": str(vote.get("teacher") or ""),
                    "sample": int(vote.get("sample") or 0),
                    "labels": [str(v) for v in labels] if isinstance(labels, list) else None,
                    "reason": str(vote.get("reason") or vote.get("error") or ""),
                }
            )
    return out


def _label_names(data: _Labelled, spec: TaskSpec | None, probs: Sequence[Mapping[str, Any]]) -> list[str]:
    seen = {n for labs in data.labels if labs for n in labs}
    seen |= {n for votes in data.votes for v in votes for n in (v["labels"] or [])}
    if spec is not None:
        unknown = sorted(seen - set(spec.label_names))
        if unknown:
            raise InputError(f"label(s) {unknown[:10]} are not in the task's labels {spec.label_names}; fix the spec.")
        return list(spec.label_names)
    names = list(dict.fromkeys(str(k) for p in probs for k in p))  # the queue's model knows every label, in order
    names += sorted(seen - set(names))
    if len(names) < 2:
        raise InputError(
            f"the labelled file shows only the label(s) {names}; pass --task TASK.yaml so that every label can be "
            "picked."
        )
    return names


def _split_order(data: _Labelled, rows: Sequence[int]) -> list[int]:
    """Rows with the most split votes first (lowest agreement; ties in file order); file order without votes."""
    from .vote import mean_agreement

    agreement = data.frame["agreement"].tolist() if "agreement" in data.frame.columns else [None] * len(data.texts)

    def share(row: int) -> float:
        value = mean_agreement(_plain(agreement[row]))
        if value is None:
            answers = [tuple(sorted(v["labels"])) for v in data.votes[row] if v["labels"] is not None]
            value = Counter(answers).most_common(1)[0][1] / len(answers) if answers else 1.0
        return value

    return sorted(rows, key=share)


def load_review(
    labelled: str | os.PathLike[str] | pd.DataFrame,
    *,
    queue: str | os.PathLike[str] | pd.DataFrame | None = None,
    spec: TaskSpec | str | os.PathLike[str] | None = None,
    title: str | None = None,
    dataset_repo: str | None = None,
    text_column: str | None = None,
) -> tuple[list[Item], ReviewConfig]:
    """The texts to review, in order, and the app's config (labels from ``spec``, else from the data).

    ``queue`` (``sxhub doubts`` output) gives the order, the doubt and its signals, the suggested label and the
    out-of-fold probabilities; its ``row`` numbers must point at the same texts in ``labelled``. Rows without a
    label (failed, or without a text) are not reviewed, nor the twins of a ``sxhub twins`` file that failed a check
    (``ok`` false; one warning says how many).
    """
    task = load_spec(spec) if spec is not None else None
    data = _read_labelled(labelled, task, text_column)
    open_rows = [r for r, labs in enumerate(data.labels) if labs is not None and not data.flagged[r]]
    if any(data.flagged):
        logger.warning("%s", flagged_twins_line("review", sum(data.flagged)))
    extra: dict[int, dict[str, Any]] = {}
    if queue is not None:
        order, extra = _read_queue(queue, data)
        unqueued = [r for r in open_rows if r not in extra]
        if order and unqueued:  # rows appended after `sxhub doubts` ran were left out without a word
            logger.warning(
                "%d labelled row(s) of %s are not in %s (rows %s%s), so they are not shown: rows added or labelled "
                "after the queue was made, or a queue cut short. To review them too, make the queue again: sxhub "
                "doubts LABELLED -o QUEUE.",
                len(unqueued),
                "the labelled data" if isinstance(labelled, pd.DataFrame) else repr(str(labelled)),
                "the queue" if isinstance(queue, pd.DataFrame) else f"queue {str(queue)!r}",
                ", ".join(map(str, unqueued[:10])),
                "" if len(unqueued) <= 10 else ", ...",
            )
    else:
        order = _split_order(data, open_rows) if data.votes and any(data.votes) else open_rows
    names = _label_names(data, task, [e["probs"] for e in extra.values()])
    items = []
    for row in order:
        more = extra.get(row, {})
        suggested = more.get("suggested")
        items.append(
            Item(
                row=row,
                text=data.texts[row],
                current=[n for n in names if n in (data.labels[row] or [])],
                votes=data.votes[row],
                probs=more.get("probs") or {},
                doubt=more.get("doubt"),
                suggested=[]
                if suggested is None
                else [str(s) for s in (suggested if isinstance(suggested, list) else [suggested])],
                signals=more.get("signals") or {},
            )
        )
    if not items and queue is not None and open_rows:  # the queue holds none of the labelled rows
        raise InputError(
            f"nothing to review: the queue holds none of the {len(open_rows)} labelled rows; make it again with "
            "`sxhub doubts LABELLED -o QUEUE`, or review without --queue."
        )
    if not items:
        raise InputError(
            "nothing to review: no row of the labelled file has a label (each is failed, or has no text"
            + (", or is a twin that failed a check of sxhub twins (ok false)" if any(data.flagged) else "")
            + "); label them first (`sxhub annotate`)."
        )
    name = task.name if task else (Path(str(labelled)).stem if not isinstance(labelled, pd.DataFrame) else "data")
    config = ReviewConfig(
        labels=names,
        multi_label=data.multi_label,
        descriptions={lab.name: lab.description for lab in task.labels if lab.description} if task else {},
        title=title or f"Review: {name}",
        dataset_repo=dataset_repo,
    )
    return items, config


def _read_queue(
    queue: str | os.PathLike[str] | pd.DataFrame, data: _Labelled
) -> tuple[list[int], dict[int, dict[str, Any]]]:
    where = "the queue" if isinstance(queue, pd.DataFrame) else f"queue {str(queue)!r}"
    try:
        frame = queue if isinstance(queue, pd.DataFrame) else read_table(queue)
    except InputError as exc:
        if "has no rows" not in str(exc):
            raise
        frame = pd.DataFrame(columns=["row", "text"])  # a queue of no rows: said below, with the fix
    missing = [c for c in ("row", "text") if c not in frame.columns]
    if missing:
        raise InputError(f"{where} has no {missing} column(s); make it with `sxhub doubts LABELLED -o QUEUE`.")
    order: list[int] = []
    extra: dict[int, dict[str, Any]] = {}
    changed: list[int] = []
    signals = [c for c in frame.columns if c.startswith("signal_")]
    label_column = data.column if data.column in frame.columns else None
    for record in frame.to_dict("records"):
        row = int(record["row"])
        # in either Unicode form, as decisions match their texts (review_log.text_hash): a file of NFD texts
        # re-saved in NFC by an editor after `sxhub doubts` holds the same texts
        if not 0 <= row < len(data.texts) or not _same_text(str(record["text"]), data.texts[row]):
            raise InputError(
                f"{where} does not match the labelled file at row {row}: it was made from another file, or from this "
                "one before rows were added, removed or reordered; run `sxhub doubts LABELLED -o QUEUE` on this one."
            )
        current = data.labels[row]
        if row in extra or current is None or data.flagged[row]:  # a queue doubts made before it left them out
            continue
        if label_column is not None and _queued_labels(record.get(label_column)) not in (None, set(current)):
            changed.append(row)
        doubt = _number(record.get("doubt"))
        order.append(row)
        extra[row] = {
            "doubt": doubt if isinstance(doubt, float) else None,
            "suggested": _plain(record.get("suggested")),
            "probs": {str(k): float(v) for k, v in (_plain(record.get("oof_probs")) or {}).items()},
            "signals": {c.removeprefix("signal_").replace("_", " "): _number(record[c]) for c in signals},
        }
    if changed:  # the doubt and the suggestion were worked out for the label the row had then
        logger.warning(
            "%d row(s) of %s have another label now than when the queue was made (rows %s%s): their doubt and "
            "suggested label are of the old one. Make the queue again: sxhub doubts LABELLED -o QUEUE.",
            len(changed),
            where,
            ", ".join(map(str, changed[:10])),
            "" if len(changed) <= 10 else ", ...",
        )
    return order, extra


def _same_text(a: str, b: str) -> bool:
    return a == b or unicodedata.normalize("NFC", a) == unicodedata.normalize("NFC", b)


def _queued_labels(cell: Any) -> set[str] | None:
    """A queue's label cell as a set of names (a name; a list; a CSV's JSON list), or None when it holds none."""
    value = _plain(cell)  # JSON text decoded, NaN as None
    if value is None or value == "":
        return None
    return {str(v) for v in value} if isinstance(value, list) else {str(value)}


# ==============================================================================================================
# the app on this machine
# ==============================================================================================================
def launch_review(
    labelled: str | os.PathLike[str],
    *,
    queue: str | os.PathLike[str] | None = None,
    spec: TaskSpec | str | os.PathLike[str] | None = None,
    reviewer: str | None = None,
    decisions: str | os.PathLike[str] | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    block: bool = True,
    text_column: str | None = None,
) -> tuple[Any, str, Review]:
    """Serve the review app; returns ``(demo, url, review)``. With ``block=False`` it serves in a thread until
    ``demo.close()``. Decisions go to ``decisions`` (default :func:`decisions_path`), read back on every start."""
    require(["gradio"], "sxhub review", "space")
    from .review_app import HEAD, build_demo
    from .space import check_host, listen

    check_host(host)
    items, config = load_review(labelled, queue=queue, spec=spec, text_column=text_column)
    log_path = Path(decisions) if decisions is not None else decisions_path(labelled)
    review = Review(items, config, DecisionLog(log_path))
    demo = build_demo(review, reviewer=reviewer or "", login=getpass.getuser() if reviewer is None else "")
    _, url, _ = listen(demo, host=host, port=port, head=HEAD, prevent_thread_lock=True, quiet=True)
    if block:
        print(url, flush=True)
        demo.block_thread()
    return demo, url, review


# ==============================================================================================================
# the review Space
# ==============================================================================================================
def write_review_space(
    labelled: str | os.PathLike[str] | pd.DataFrame,
    folder: Path,
    *,
    repo_id: str,
    dataset_repo: str,
    queue: str | os.PathLike[str] | pd.DataFrame | None = None,
    spec: TaskSpec | str | os.PathLike[str] | None = None,
    title: str | None = None,
    every: float = 1.0,
    text_column: str | None = None,
) -> Path:
    """The review Space's folder: ``app.py``, the app's modules (``sxhub_review/``), ``items.jsonl`` (the texts in queue order),
    ``config.json`` (labels, the dataset repo for decisions), ``requirements.txt`` and ``README.md``."""
    import jinja2

    from .repo import hub_endpoint
    from .space_folder import gradio_version

    items, config = load_review(
        labelled, queue=queue, spec=spec, title=title, dataset_repo=dataset_repo, text_column=text_column
    )
    config = ReviewConfig.from_dict({**config.to_dict(), "every": every})
    template = asset_dir("spaces") / "review"
    here = Path(__file__).resolve().parent
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy2(template / "app.py", folder / "app.py")
    package = folder / SPACE_PACKAGE
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text('"""The review app, copied from sxhub as it is."""\n', encoding="utf-8")
    for module in ("review_app.py", "review_log.py", "review_space.py"):
        shutil.copy2(here / module, package / module)
    requirements = (template / "requirements.txt").read_text(encoding="utf-8").rstrip("\n")
    (folder / "requirements.txt").write_text(f"{requirements}\ngradio=={gradio_version()}\n", encoding="utf-8")
    (folder / CONFIG_FILE).write_text(json.dumps(config.to_dict(), indent=2, ensure_ascii=False) + "\n", "utf-8")
    write_items(items, folder / ITEMS_FILE)
    readme = jinja2.Template((template / "README.md").read_text(encoding="utf-8"), keep_trailing_newline=True)
    (folder / "README.md").write_text(
        readme.render(
            title=config.title[:60],
            sdk_version=gradio_version(),
            dataset_repo=dataset_repo,
            hub_url=hub_endpoint(),  # the decisions' dataset repo is on the Hub pushed to ($HF_ENDPOINT)
            repo_id=repo_id,
            n_items=len(items),
            labels=config.labels,
            multi_label=config.multi_label,
            every=every,
        ),
        encoding="utf-8",
    )
    return folder


def check_decisions_repo(dataset_repo: str, *, token: str | None) -> None:
    """Refuse a ``--dataset-repo`` this token cannot write to, before the review Space is pushed: the Space's
    ``HF_TOKEN`` (usually the same person's) would be refused too, and the Space said so only at its first push (or,
    for a repo this token reads, not at all until then). The check is ``review_space.repo_access``, the Space's own
    (``review_space.check_writable``): a repo there that this token may not write to is refused. A repo that
    is not on the Hub is created by the Space at its start: said in a warning, and refused when its namespace is
    not the token's user's or one of its organisations'."""
    from .hub import hub_api, hub_errors, resolve_token, token_fix, writable_namespaces
    from .review_space import ABSENT, WRITABLE, repo_access

    api = hub_api(resolve_token(token))
    with hub_errors(f"checking that the token may write to dataset repo {dataset_repo!r} (--dataset-repo)"):
        access = repo_access(api, dataset_repo)
        if access == WRITABLE:
            return
        if access == ABSENT:
            user, orgs, _ = writable_namespaces(api.whoami())
    if access != ABSENT:
        raise PublishError(
            f"the token cannot write to dataset repo {dataset_repo!r} (--dataset-repo), where the review Space keeps "
            f"its decisions, and the Space's HF_TOKEN secret will need to; {token_fix(403)}, or pass a --dataset-repo "
            "you can write to."
        )
    namespace = dataset_repo.split("/", 1)[0]
    if namespace.casefold() not in {name.casefold() for name in (user, *orgs)}:
        yours = f"{user!r}" + (f" or {', '.join(map(repr, orgs))}" if orgs else "")
        raise PublishError(
            f"there is no dataset repo {dataset_repo!r} (--dataset-repo), and the token of {user!r} cannot create one "
            f"in {namespace!r} for the review Space's decisions; pass the id of the labelled dataset's repo, or one "
            f"in {yours}."
        )
    logger.warning(
        "dataset repo %r is not on the Hub: the review Space creates it at its start to keep the decisions; if the "
        "labelled data is published elsewhere, pass that repo's id as --dataset-repo",
        dataset_repo,
    )


def publish_review(
    labelled: str | os.PathLike[str] | pd.DataFrame,
    *,
    dataset_repo: str | None,
    queue: str | os.PathLike[str] | pd.DataFrame | None = None,
    spec: TaskSpec | str | os.PathLike[str] | None = None,
    repo_id: str | None = None,
    to: str | os.PathLike[str] | None = None,
    token: str | None = None,
    private: bool | None = None,
    revision: str | None = None,
    exist_ok: bool = False,
    title: str | None = None,
    every: float = 1.0,
    text_column: str | None = None,
) -> str:
    """Publish the review app as a Space whose decisions go to ``dataset_repo`` (``review/decisions/*.jsonl``,
    committed every ``every`` minutes); returns the Space URL or the folder.

    The Space needs an ``HF_TOKEN`` secret with write access to ``dataset_repo``; ``sxhub apply-review LABELLED
    DATASET_REPO`` then reads the decisions back.
    """
    from .commits import review_commit
    from .hub import publish_folder
    from .repo import check_namespaced

    if not dataset_repo:
        raise PublishError(
            "publish review needs --dataset-repo NAMESPACE/NAME: the dataset repo where the Space keeps decisions."
        )
    check_namespaced(dataset_repo, "--dataset-repo", use="commits the decisions to")
    level = logger.level  # its warnings are given once, when the Space is written below
    logger.setLevel(logging.ERROR)
    try:
        # bad input fails here, before any repo is created
        load_review(labelled, queue=queue, spec=spec, text_column=text_column)
    finally:
        logger.setLevel(level)
    if to is None and repo_id is not None:  # pushing: the Space would start, and learn at its first push
        check_decisions_repo(dataset_repo, token=token)
    default = Path(str(labelled)).stem if not isinstance(labelled, pd.DataFrame) else "review"
    return publish_folder(
        lambda folder, rid: write_review_space(
            labelled,
            folder,
            repo_id=rid,
            dataset_repo=dataset_repo,
            queue=queue,
            spec=spec,
            title=title,
            every=every,
            text_column=text_column,
        ),
        repo_type="space",
        default_name=f"{default}-review",
        repo_id=repo_id,
        to=to,
        token=token,
        private=private,
        revision=revision,
        exist_ok=exist_ok,
        commit=lambda folder: review_commit(folder, dataset_repo=dataset_repo),
    )
