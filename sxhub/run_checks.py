"""What ``sxhub run`` refuses before a teacher is paid or a student trained: an ``--out`` holding files no run wrote,
repo folders or Hub repos it would write over, a reviewed file, expert labels the task does not name."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from .data import with_column_named
from .errors import InputError
from .labelled import gold_from_flag_columns, has_flag_columns
from .spec import TaskSpec

if TYPE_CHECKING:
    from .run_config import RunConfig

logger = logging.getLogger(__name__)


REPO_KINDS = ("dataset", "model", "space")  # the publish stage's repos; each kind is also its Hub repo_type


def repo_ids(spec: TaskSpec, push: str | None) -> dict[str, str]:
    """The repo the publish stage writes for each kind: NAMESPACE/TASK on the Hub, or TASK in a folder."""
    return {kind: f"{push}/{spec.name}" if push else spec.name for kind in REPO_KINDS}


# what the stages write under --out (the repo folders are check_publish_targets'); any of them here without a run's
# report.json is something else's, which the run would overwrite (a model/ folder: mix into, and publish)
RUN_OUTPUTS = (
    "labelled.parquet",
    "labelled.ledger.json",
    "labelled.doubts.parquet",
    "splits",
    "model",
    "train.fingerprint.json",
    "export.fingerprint.json",
    "evaluation.json",
    "report.json",
    "report.md",
)


def check_out_folder(out: Path) -> None:
    """Refuse an ``out`` that holds files by these names that no ``sxhub run`` wrote (``--out`` defaults to ``out``,
    a common name): the run overwrote them, wrote its student into a ``model/`` folder that held another model, and
    published whatever that folder held besides. An earlier run's folder (its ``report.json``) is rerun into."""
    if not out.is_dir():
        return
    try:
        earlier = json.loads((out / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        earlier = None
    if isinstance(earlier, dict) and "stages" in earlier:
        return
    taken = [name + "/" * (out / name).is_dir() for name in RUN_OUTPUTS if (out / name).exists()]
    if taken:
        raise InputError(
            f"--out {str(out)!r} holds {', '.join(taken)}, which no sxhub run wrote there and this run would "
            "overwrite; pass an --out that is new or empty."
        )


def check_publish_targets(spec: TaskSpec, config: RunConfig) -> None:
    """Refuse at the start what the publish stage would refuse at the end, after the teachers were paid and the
    student trained: a repo folder under ``out/repos`` that an earlier run filled, or with ``push``, an invalid
    repo id, no token, a token that cannot write to the namespace, or a Hub repo that exists; each unless ``exist_ok``; and a license the cards cannot declare
    (one off the Hub's list without a link), in the folders or on the Hub."""
    from .errors import PublishError

    spec.card_license()
    spec.card_language()
    if config.push is None:
        for kind in REPO_KINDS:
            folder = config.out / "repos" / kind
            if not config.exist_ok and folder.is_dir() and any(folder.iterdir()):
                raise PublishError(
                    f"folder {str(folder)!r} holds an earlier run's {kind} repo; pass --exist-ok to write over it, "
                    "or choose another --out."
                )
        return
    from .hub import check_can_push, hub_api, refuse_existing, resolve_token
    from .repo import check_repo_id

    if "/" in config.push:  # a repo id (or a URL): refused as an invalid repo id "NAMESPACE/fin/task", whose fix
        # said to "use NAMESPACE/NAME", the form that had been given
        parts = [part for part in config.push.split("/") if part]
        namespace = parts[0] if len(parts) <= 2 and ":" not in config.push else None  # USER/NAME, USER/
        hint = f"pass --push {namespace}" if namespace and names_a_namespace(namespace) else "pass --push NAMESPACE"
        raise PublishError(
            f"--push takes a namespace (your user or an organisation), not {config.push!r}: the three repos are named "
            f"after the task, NAMESPACE/{spec.name}; {hint}, or change 'name' in the task spec for other repo names."
        )
    ids = repo_ids(spec, config.push)
    for repo_id in ids.values():
        check_repo_id(repo_id)
    api = hub_api(resolve_token(None))
    check_can_push(api, config.push, offline_fix="run without --push to write the repos into --out")
    for kind in REPO_KINDS:
        refuse_existing(
            api,
            ids[kind],
            repo_type=kind,
            exist_ok=config.exist_ok,
            offline_fix="run without --push to write the repos into --out",
            other=", or --push another namespace",
            owned=True,  # check_can_push: the namespace is one the token writes to
        )


def names_a_namespace(name: str) -> bool:
    """Whether ``name`` is spelled as a Hub user or organisation name can be."""
    import re

    return re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name) is not None


def check_not_reviewed(frame: pd.DataFrame, spec: TaskSpec, gold: str | None) -> None:
    """A file ``sxhub apply-review`` wrote (labels people set, ``label_source`` human) is not texts to label: run
    labels every text again and kept none of the people's labels, without a word. With ``--gold`` naming the label
    column they are the expert labels that score the teachers and the student, as asked."""
    from .review import SOURCE_COLUMN

    if gold or SOURCE_COLUMN not in frame.columns:
        return
    people = int(frame[SOURCE_COLUMN].astype(str).eq("human").sum())
    if people:
        raise InputError(
            f"INPUT holds {people} label(s) people set (its {SOURCE_COLUMN!r} column, from sxhub apply-review), which "
            f"sxhub run would drop: it labels every text again. Train on it with `sxhub train TASK INPUT -o "
            f"MODEL_DIR`, or pass --gold {spec.label_column} (Python: RunConfig(gold={spec.label_column!r})) to score the teachers and the student against them."
        )


def gold_column(frame: pd.DataFrame, spec: TaskSpec, gold: str | None) -> tuple[pd.DataFrame, str | None]:
    """The input with its expert column under a name annotate does not write, and that name.

    A multi-label input with one true/false column per label (GoEmotions' layout) gives the experts' labels as
    those columns: ``--gold labels`` (or any of the label columns) reads them all into one list column
    (:func:`sxhub.labelled.gold_from_flag_columns`); without ``--gold`` a warning says so, since ``run`` would
    otherwise drop them unscored.

    ``--gold label`` is the natural call on a file like Financial PhraseBank's (``sentence,label``), but ``label``
    is where the teachers' labels go: kept under its own name, the experts' labels would replace the teachers'.
    Such a column is kept as ``gold`` (or the first free one of ``expert``, ``gold_<name>``), and the report says so.
    """
    from .annotate import output_columns

    if not gold:
        if has_flag_columns(frame, spec.label_names, spec.multi_label):
            logger.warning(
                "the input has one true/false column per label (%s): if they are the experts' labels, pass --gold "
                "labels (Python: RunConfig(gold='labels')) to score the teachers and the student against them",
                ", ".join(spec.label_names[:4]) + (", ..." if len(spec.label_names) > 4 else ""),
            )
        return frame, gold
    flags, experts = gold_from_flag_columns(
        frame, spec.label_names, spec.multi_label, gold, taken=output_columns(spec)
    )
    if experts != gold:  # the experts' labels, one true/false column per label, as one list column
        logger.info(
            "the experts' labels are read from the %d true/false label columns, as %r", len(spec.label_names), experts
        )
        return flags, experts
    frame = with_column_named(frame, gold)  # "--gold expert" reads "Expert", found as the texts are
    if gold not in frame.columns:
        hint = (
            " This file has one true/false column per label: pass --gold labels (Python: RunConfig(gold='labels')) to read the "
            "experts' labels from them."
            if has_flag_columns(frame, spec.label_names, spec.multi_label)
            else ""
        )
        raise InputError(f"gold column {gold!r} not found; the input has columns {list(frame.columns)[:20]}.{hint}")
    check_gold_labels(frame[gold], gold, spec)
    if gold not in output_columns(spec):
        return frame, gold
    free = next(c for c in ("gold", "expert", f"gold_{gold}", f"gold_{gold}_input") if c not in frame.columns)
    logger.info("gold column %r is kept as %r in the labelled dataset: annotate writes %r", gold, free, gold)
    return frame.rename(columns={gold: free}), free


def check_gold_labels(cells: pd.Series, column: str, spec: TaskSpec) -> None:
    """Refuse expert labels the task does not name before a teacher is paid: the run stopped on them only when it
    scored the teachers, after every text was labelled."""
    from .labelled import expert_label_cell

    seen: set[str] = set()
    for cell in cells:
        value = expert_label_cell(cell, multi_label=spec.multi_label)
        seen.update([value] if isinstance(value, str) else value or [])
    unknown = sorted(seen - set(spec.label_names))
    if unknown:
        raise InputError(
            f"gold column {column!r} has label(s) {unknown[:10]} that the task does not name (its labels: "
            f"{spec.label_names}); fix those cells, or add the labels to the task."
        )
