"""Repo folders: the helpers that ``publish`` (pushing repos) and ``space`` (running the Space) both use.

What a model folder must hold and what it says about itself, valid repo ids, copying a model folder into a repo,
and the evaluation and benchmark figures given for its cards. ``sxhub.publish`` and ``sxhub.space`` both import
this module; neither imports the other. The labelled data a repo shows is read by :mod:`sxhub.dataset_build`
(:func:`~sxhub.dataset_build.load_annotated`), and the Space's repo folder is written by :mod:`sxhub.space_folder`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from . import trained_texts
from .errors import ModelError, PublishError
from .spec import TaskSpec, load_spec

WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
# a student's trained_texts.npz (sxhub.trained_texts) stays local: hashes of short texts can be guessed back; the
# work folder of an `sxhub export` that was killed (onnx/.export-*, its raw graph and int8 candidates) is no export;
# the .git of a student cloned from the Hub belongs to its own repo (copied, it pointed the folder at that remote);
# the checkpoint and staging folders a killed `sxhub train` left in -o (sxhub.model_folder) are no part of the model
NOT_PUBLISHED = (
    ".git",
    "checkpoint-*",
    "runs",
    "training_args.bin",
    "*.lock",
    ".cache",
    "__pycache__",
    trained_texts.FILE,
    ".export-*",
    ".checkpoints-*",
    ".sxhub-saving-*",
)
DEFAULT_EXAMPLE = "Operating profit rose from EUR 7m to 9m."


# --------------------------------------------------------------------------------------------------------------
# model folders
# --------------------------------------------------------------------------------------------------------------
def check_model_dir(model_dir: str | os.PathLike[str], *, made_by: str = "sxhub train") -> Path:
    """The model folder, or :class:`PublishError` when it holds no config or no weights; the error names the
    command that writes such a folder (``made_by``: ``sxhub tune`` for a synthetic model)."""
    path = Path(model_dir)
    if path.is_file():  # a file of the folder (model.safetensors, config.json): "missing or empty" misled
        inside = path.parent if (path.parent / "config.json").is_file() else None
        fix = f"pass its folder {str(inside)!r}" if inside is not None else f"pass the folder `{made_by}` wrote"
        raise PublishError(f"nothing to publish: {str(path)!r} is a file, not a model folder; {fix}.")
    if not path.is_dir() or not any(path.iterdir()):
        raise PublishError(
            f"nothing to publish: {str(path)!r} is missing or empty; pass the folder `{made_by}` wrote."
        )
    if not (path / "config.json").is_file() or not any((path / w).is_file() for w in WEIGHTS):
        raise PublishError(
            f"nothing to publish: {str(path)!r} has no config.json or model weights (model.safetensors); "
            f"pass the folder `{made_by}` wrote."
        )
    return path


def hub_endpoint() -> str:
    """The Hub the repos are pushed to and the cards link to: ``$HF_ENDPOINT`` without a trailing ``/``, else
    huggingface_hub's own default (``constants.ENDPOINT``, ``https://huggingface.co``). ``HfApi`` is built with it
    (:func:`sxhub.hub.hub_api`), so a card's links name the Hub its repos were pushed to: with
    ``HF_ENDPOINT=https://hub.example.org`` they pointed to huggingface.co, where the repos do not exist."""
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or "").rstrip("/") or constants.ENDPOINT or "https://huggingface.co"


def check_repo_id(repo_id: str) -> None:
    """Raise :class:`PublishError` when ``repo_id`` is not a valid ``namespace/name`` on the Hub."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise PublishError(
            f"repo id {repo_id!r} is invalid: {str(exc).rstrip('.')}. Use NAMESPACE/NAME with letters, digits, '-', '_', '.'."
        ) from exc


def check_namespaced(repo_id: str, option: str, *, use: str) -> None:
    """``repo_id`` valid and with a namespace, else one :class:`PublishError` line: a repo that a published Space
    loads, links or writes to on the Hub (``use``) is named there as given, and a bare name is no Hub repo (the
    Space's ``snapshot_download`` failed at startup with a 404; a review Space's decisions went to the namespace of
    its own token)."""
    check_repo_id(repo_id)
    if "/" not in repo_id:
        raise PublishError(
            f"{option} {repo_id!r} has no namespace, and the Space {use} it on the Hub by that id; pass "
            f"NAMESPACE/NAME (e.g. 'your-name/{repo_id}')."
        )


def hub_link_id(repo_id: str | None) -> str | None:
    """``repo_id`` when a card may link it: a Hub repo always has a namespace, so a bare name (``sxhub run`` without
    --push, ``publish --to`` with ``--repo-id NAME``) would link a page that does not exist; ``None`` for one."""
    return repo_id if repo_id and "/" in repo_id else None


def card_load_id(repo_id: str) -> str:
    """The id a card's code loads (``pipeline(model=...)``, ``load_dataset(...)``): ``repo_id``, or for a bare name
    (``sxhub run`` without --push) ``NAMESPACE/name``, the id ``--push NAMESPACE`` gives it, which the card says is a
    placeholder (``unpushed``): the bare name loaded no Hub repo, nor the folder."""
    return repo_id if hub_link_id(repo_id) else f"NAMESPACE/{repo_id}"


def card_revision(revision: str | None) -> str | None:
    """The branch a card's code loads, as a Python string literal (``revision="dev"``), or ``None`` for main: a push
    with ``--revision dev`` left main with only .gitattributes, and the cards on dev loaded the repo by id alone, so
    ``pipeline(...)`` found no config.json and ``load_dataset`` no data. ``refs/heads/dev`` is named ``dev``."""
    if revision is None:
        return None
    branch = revision.removeprefix("refs/heads/")
    return None if branch == "main" else json.dumps(branch, ensure_ascii=False)


def names_a_repo(source: str) -> bool:
    """Whether ``source``, which is no file or folder here, names a Hub repo: a bare, valid ``owner/name``. A name
    with a table suffix, one starting ./ ../ / or ~, one without or with more than one '/', or one whose parent folder
    is here, is a file or folder that is missing: ``apply-review`` looked ``dir/x.jsonl`` up on the Hub, and
    ``publish space`` made a Space for the Hub model ``studnet`` (a mistyped model folder)."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    from .tables import TABLE_SUFFIXES, table_suffix

    path = Path(source)
    if (
        source.count("/") != 1
        or source.startswith(("./", "../", "/", "~"))
        or table_suffix(path) in TABLE_SUFFIXES
        or path.parent.is_dir()
    ):
        return False
    try:
        validate_repo_id(source)
    except HFValidationError:
        return False
    return True


def model_info(model_dir: Path) -> tuple[dict[str, Any], TaskSpec]:
    """``sxhub.json`` (or what config.json tells) and the task spec the model was trained for.

    A folder that ``sxhub predict`` could not run (a config.json or sxhub.json that is not JSON, no id2label, labels
    that disagree) is one :class:`PublishError` line naming the fix, as is one whose labels make no task (a single
    label): a JSONDecodeError (exit 1) or the spec's "needs at least 2 labels" did not say what to pass."""
    from .errors import SpecError
    from .model_info import read_model_info
    from .teachers.synthetic_folder import read_info

    if read_info(model_dir) is not None:  # a causal LM: no classifier head, no labels to serve
        raise PublishError(
            f"{str(model_dir)!r} is a synthetic model from `sxhub tune`, not a student classifier: pass the folder "
            "`sxhub train` wrote (a synthetic model is published with `sxhub publish generator`)."
        )
    try:
        read_model_info(model_dir)
    except ModelError as exc:
        raise PublishError(str(exc)) from exc
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    sx = model_dir / "sxhub.json"
    info: dict[str, Any] = json.loads(sx.read_text(encoding="utf-8")) if sx.is_file() else {}
    if info.get("task"):
        return info, load_spec(info["task"])
    id2label = config.get("id2label") or {}
    names = [id2label[k] for k in sorted(id2label, key=int)]
    multi = config.get("problem_type") == "multi_label_classification"
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", model_dir.resolve().name).strip("-") or "model"
    info.setdefault("base_model", config.get("_name_or_path"))
    try:
        return info, TaskSpec(name=name, labels=names, multi_label=multi)
    except SpecError as exc:
        raise PublishError(
            f"{str(model_dir)!r}: its config.json id2label {names} makes no classifier sxhub can publish ({str(exc).rstrip('.')}); "
            "pass the folder sxhub train wrote."
        ) from exc


class _CopyFailed(Exception):
    """A file copy's OSError, carried past ``shutil.copytree`` (which gathers OSErrors into one ``shutil.Error`` of
    strings: a full disk ended publish in "Error: Error: [('...', '...', '[Errno 28] No space left on device')]")."""


def _copy_file(src: str, dst: str) -> Any:
    try:
        return shutil.copy2(src, dst)
    except OSError as exc:
        raise _CopyFailed(exc) from exc


# while the temporary repo folder of a push is written (sxhub.hub.publish_folder), the files copy_tree would copy, by
# their path in that folder: the push uploads them from where they are, so a model needs no second copy of its
# weights in TMPDIR (a full TMPDIR failed a push whose target had room). A folder written for --to gets real copies.
_from_source: ContextVar[dict[Path, Path] | None] = ContextVar("sxhub_from_source", default=None)


@contextlib.contextmanager
def files_from_source() -> Iterator[dict[Path, Path]]:
    """Within it, :func:`copy_tree` copies nothing: it records each file it would copy (its path in ``dst`` -> its
    source) in the dict yielded, for the caller to upload from its source. Nothing is linked or written meanwhile,
    so a file written into the repo folder afterwards (a rewritten ``config.json``, a card) can never be written
    through into the model folder."""
    sources: dict[Path, Path] = {}
    token = _from_source.set(sources)
    try:
        yield sources
    finally:
        _from_source.reset(token)


def copy_tree(src: Path, dst: Path, *, ignore: Sequence[str] = ()) -> None:
    """Copy a folder's content into ``dst`` (created), leaving out names matching ``ignore``; a file that cannot be
    copied raises its own ``OSError`` (errno and file name kept). Inside :func:`files_from_source`, the files are
    recorded there instead of copied."""
    sources = _from_source.get()

    def record(source: str, target: str) -> str:
        assert sources is not None
        sources[Path(target)] = Path(source)
        return target

    copy = _copy_file if sources is None else record
    try:
        shutil.copytree(src, dst, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*ignore), copy_function=copy)
    except _CopyFailed as failed:
        raise failed.args[0] from None


def copy_model(src: Path, dst: Path, *, about: Mapping[str, Any] | None = None) -> None:
    """Copy a model folder into a repo folder, with its preprocessing block in ``config.json`` and ``sxhub.json``.

    A model trained before sxhub saved that block gets the one ``sxhub predict`` applies to it, so the Space and
    the card's snippet (which read ``config.json``) clean texts as ``predict`` does. ``about`` (what the Space
    shows: teachers, scores, speed, repos) is stored in the copy's ``sxhub.json``.
    """
    from .model_info import read_model_info

    try:
        preprocessing = read_model_info(src).preprocessing
    except ModelError as exc:
        raise PublishError(str(exc)) from exc
    copy_tree(src, dst, ignore=NOT_PUBLISHED)
    # read from the source, not the copy: within files_from_source (a push) the copy is not made
    config = json.loads((src / "config.json").read_text(encoding="utf-8"))
    if config.get("sxhub_preprocessing") != preprocessing:
        config["sxhub_preprocessing"] = preprocessing
        (dst / "config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    sx = dst / "sxhub.json"
    info = json.loads((src / "sxhub.json").read_text(encoding="utf-8")) if (src / "sxhub.json").is_file() else {}
    info["preprocessing"] = preprocessing
    info = without_local_paths(info)
    if about is not None:
        info["about"] = dict(about)
    sx.write_text(json.dumps(info, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")


def without_local_paths(info: dict[str, Any]) -> dict[str, Any]:
    """``sxhub.json`` with the base model, the models it was fine-tuned from (``base_lineage``),
    ``train.distilled_from`` (``train --distill``), the task's teacher models (a ``sxhub tune`` folder) and its
    prompt template file each reduced to its Hub id or name: no local path of the machine that trained reaches a
    public repo or card."""
    from .model_card import public_model_name

    out = dict(info)
    if isinstance(out.get("base_model"), str) and out["base_model"]:
        out["base_model"] = public_model_name(out["base_model"])
    if isinstance(out.get("base_lineage"), list):
        out["base_lineage"] = [public_model_name(m) or m for m in out["base_lineage"]]
    train = out.get("train")
    if isinstance(train, dict) and train.get("distilled_from"):
        out["train"] = {**train, "distilled_from": public_model_name(train["distilled_from"])}
    if isinstance(out.get("task"), dict):
        out["task"] = task_without_local_paths(out["task"])
    return out


def task_without_local_paths(task: dict[str, Any]) -> dict[str, Any]:
    """A recorded task with a tuned teacher's folder and a prompt template file by name, not by local path, and
    teacher URLs without credentials or query (:func:`sxhub.spec.redact_url`, as ``sxhub.json`` records them)."""
    from .model_card import public_model_name
    from .spec import redact_url

    def public(teacher: Any) -> Any:
        if not isinstance(teacher, dict):
            return teacher
        teacher = dict(teacher)
        if teacher.get("model"):
            if teacher.get("name") == teacher["model"]:  # a name left to default is the model: a folder's path too
                teacher["name"] = public_model_name(teacher["name"])
            teacher["model"] = public_model_name(teacher["model"])
        if isinstance(teacher.get("base_url"), str):
            teacher["base_url"] = redact_url(teacher["base_url"])
        return teacher

    task = dict(task)
    task["teachers"] = [public(t) for t in task.get("teachers") or []]
    template = task.get("prompt_template")
    if isinstance(template, str) and "\n" not in template.strip() and Path(template.strip()).suffix:
        task["prompt_template"] = Path(template.strip()).name
    return task


def generator_without_local_paths(info: dict[str, Any]) -> dict[str, Any]:
    """A synthetic model's ``sxhub.json`` (``sxhub tune``) with the file it learned from (``data.source``), the
    base's local copy (``base.path``) and a local base (``--base DIR``) each reduced to its name: the card and the
    repo say which file and which base, not where they lay on the machine that tuned. Hub ids stay as they are."""
    out = dict(info)
    data = out.get("data")
    if isinstance(data, dict) and isinstance(data.get("source"), str):
        source = Path(data["source"])
        if source.is_absolute() or source.exists() or source.suffix:
            out["data"] = {**data, "source": source.name}
    from .model_card import public_model_name

    if isinstance(out.get("base_model"), str) and out["base_model"]:
        out["base_model"] = public_model_name(out["base_model"])  # a local base (--base DIR) by its folder name
    base = out.get("base")
    if isinstance(base, dict):
        base = dict(base)
        if isinstance(base.get("path"), str) and base["path"]:
            base["path"] = Path(base["path"]).name
        if isinstance(base.get("name"), str) and base["name"]:
            base["name"] = public_model_name(base["name"])
        out["base"] = base
    if isinstance(out.get("task"), dict):  # its teachers (a tuned folder, a URL with a password) as for a student
        out["task"] = task_without_local_paths(out["task"])
    return out


def load_json_arg(value: str | Path | Mapping[str, Any] | None, what: str) -> dict[str, Any] | None:
    """A dict given as is, or read from a JSON file (``sxhub evaluate --json``, a benchmark); None stays None."""
    if value is None or isinstance(value, Mapping):
        return dict(value) if value is not None else None
    path = Path(value)
    made_by = (
        "`sxhub evaluate --json`" if what == "evaluation" else "a JSON object with texts_per_s (and usd_per_hour)"
    )
    if not path.is_file():
        raise PublishError(f"{what} file {str(path)!r} not found; pass a JSON file ({made_by}).")
    try:  # a file that is no JSON object was a JSONDecodeError or AttributeError: exit 1, no fix named
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PublishError(f"{what} file {str(path)!r} is not JSON ({exc}); pass {made_by}.") from exc
    if not isinstance(data, dict):
        raise PublishError(
            f"{what} file {str(path)!r} holds a JSON {type(data).__name__}, not an object; pass {made_by}."
        )
    if what == "benchmark":
        check_benchmark(data, str(path))
    return data


def check_benchmark(data: Mapping[str, Any], where: str) -> None:
    """A benchmark's figures the cards compute with are numbers: ``texts_per_s`` above 0 and ``usd_per_hour`` 0 or
    more (``"350"`` failed with a TypeError, exit 1, after the student was scored)."""
    for key, low in (("texts_per_s", 0.0), ("usd_per_hour", None)):
        value = data.get(key)
        if value is None:
            continue
        number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not number or value < 0 or (low is not None and value <= low):
            need = "a number above 0" if low is not None else "a number, 0 or more"
            raise PublishError(f"benchmark {where!r}: {key} must be {need}, got {value!r}; fix it there.")


def is_evaluate_result(evaluation: Mapping[str, Any] | None) -> bool:
    """Whether ``evaluation`` is one ``sxhub evaluate --json`` result (figures on a file the caller chose), not
    named comparisons (``{"student vs experts": {...}}``, the ``evaluation.json`` ``sxhub run`` writes)."""
    return bool(evaluation) and ("macro_f1" in evaluation or "accuracy" in evaluation)  # type: ignore[operator]


def evaluated_against(result: Mapping[str, Any]) -> str | None:
    """The label column an ``sxhub evaluate`` result scored the student against (its ``label_column``, or the
    end of its title ``Student MODEL vs COLUMN``)."""
    column = result.get("label_column")
    if not column and isinstance(result.get("title"), str) and " vs " in result["title"]:
        column = result["title"].rsplit(" vs ", 1)[1]
    return str(column) if column else None


def given_evaluations(evaluation: Mapping[str, Any] | None, info: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Comparisons from an evaluation given by the caller, else the training run's validation figures (with their
    row count, ``train.n_val``).

    One ``sxhub evaluate`` result is "student vs experts" when it scored against another column than the teachers'
    ``label``/``labels`` (``--gold``), else "student vs reference"; its ``n_trained_on``/``notes`` are kept. A given
    evaluation that scored texts the student was trained on is refused (:class:`PublishError`): its figures would be
    published as held out.
    """
    if evaluation:
        if is_evaluate_result(evaluation):
            column = evaluated_against(evaluation)
            gold = column is not None and column not in ("label", "labels") and not column.startswith("the ")
            evaluations = {"student vs experts" if gold else "student vs reference": dict(evaluation)}
            if gold:
                evaluations["student vs experts"].setdefault("against", column)
        else:
            if isinstance(evaluation.get("scores"), Mapping):  # the evaluation.json `sxhub run` writes
                evaluation = evaluation["scores"]
            evaluations = {str(k): dict(v) for k, v in evaluation.items() if isinstance(v, Mapping)}
        if not evaluations:  # the card said "No evaluation was given" and dropped the validation figures
            keys = ", ".join(map(str, list(evaluation)[:6]))
            raise PublishError(
                f"the evaluation holds no figures to show (its keys: {keys}): pass the output of "
                "`sxhub evaluate --json` (accuracy, macro_f1, ...), or the evaluation.json `sxhub run` writes."
            )
        for name, result in evaluations.items():
            trained = result.get("n_trained_on")
            if isinstance(trained, int) and not isinstance(trained, bool) and trained > 0:
                n = f" of {result['n']:,}" if isinstance(result.get("n"), int) else ""
                raise PublishError(
                    f"the evaluation ({name}) scored {trained:,}{n} texts the student was trained on, so its figures "
                    "are not held out: run `sxhub evaluate --json` on texts it never saw, or pass --data with the "
                    "labelled file to score its test split without them."
                )
        return evaluations
    train = info.get("train") or {}
    validation = dict(train.get("validation") or {})
    if "macro_f1" not in validation:
        return {}
    if validation.get("n") is None and isinstance(train.get("n_val"), int):
        validation["n"] = train["n_val"]
    return {"student vs teacher labels (validation)": validation}
