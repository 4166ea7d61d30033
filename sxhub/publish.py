"""Publish: the labelled dataset, the student and its Space as Hugging Face Hub repos.

Each ``publish_*`` function first writes the exact repo folder (cards, plots, data files), then either leaves it in
``to`` (offline review) or uploads it in one commit through ``HfApi(library_name="sxhub")``. The token is used only
for the upload and never written into any file.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from . import __version__
from .cards import (
    LABEL_PLOT,
    agreement_facts,
    dataset_card_data,
    dataset_context,
    fmt,
    label_counts,
    load_ledger,
    plot_label_distribution,
    render_dataset_card,
)
from .data import parse_label_cell, read_table
from .errors import PublishError
from .spec import TaskSpec, load_spec

SPLITS = ("train", "validation", "test")
VOTE_KEYS = ("teacher", "sample", "labels", "reason", "error", "raw")
_DROPPED = {"failed", "error"}


# ==============================================================================================================
# the labelled dataset
# ==============================================================================================================
def _plain(value: Any) -> Any:
    """numpy / pandas cells as plain Python (lists, dicts, None for NaN)."""
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _is_failed(value: Any) -> bool:
    return str(value).strip().lower() in {"true", "1", "1.0"}


def _vote(value: Any) -> dict[str, Any]:
    vote = dict(value) if isinstance(value, Mapping) else {}
    labels = vote.get("labels")
    return {
        "teacher": str(vote.get("teacher") or ""),
        "sample": int(vote.get("sample") or 0),
        "labels": [str(v) for v in labels] if isinstance(labels, (list, tuple)) else None,
        "reason": str(vote.get("reason") or ""),
        "error": str(vote.get("error") or ""),
        "raw": str(vote.get("raw") or ""),
    }


def load_annotated(source: str | os.PathLike[str] | pd.DataFrame, spec: TaskSpec) -> tuple[pd.DataFrame, int, int]:
    """The annotate output without its failed rows: (frame, rows read, rows failed); list cells as Python lists."""
    frame = source.copy() if isinstance(source, pd.DataFrame) else read_table(source)
    col = spec.label_column
    missing = [c for c in ("text", col) if c not in frame.columns]
    if missing:
        raise PublishError(
            f"the labelled data has no {missing} column(s) (columns: {list(frame.columns)[:12]}); pass the output "
            f"of `sxhub annotate` for this {'multi' if spec.multi_label else 'single'}-label task."
        )
    n_input = len(frame)
    failed = frame["failed"].map(_is_failed) if "failed" in frame.columns else pd.Series(False, index=frame.index)
    labels = [parse_label_cell(_plain(v), multi_label=spec.multi_label) for v in frame[col]]
    if not spec.multi_label:
        failed |= pd.Series([lab is None for lab in labels], index=frame.index)
    frame[col] = labels
    frame = frame[~failed].reset_index(drop=True)
    for c in frame.columns:
        frame[c] = [_plain(v) for v in frame[c]]
    unknown = sorted({n for v in frame[col] for n in (v if spec.multi_label else [v])} - set(spec.label_names))
    if unknown:
        raise PublishError(f"labels {unknown[:10]} are not in the task's labels {spec.label_names}; fix the spec.")
    if "votes" in frame.columns:
        frame["votes"] = [[_vote(v) for v in (votes or [])] for votes in frame["votes"]]
    if len(frame) == 0:
        raise PublishError("nothing to publish: every row failed or has no label; annotate again.")
    return frame, n_input, int(failed.sum())


def dataset_features(frame: pd.DataFrame, spec: TaskSpec) -> Any:
    """Typed features: ClassLabel (or a list of them), the vote structs and agreement; other columns inferred."""
    from datasets import ClassLabel, Features, List, Value
    from datasets.features.features import generate_from_arrow_type

    label = ClassLabel(names=spec.label_names)
    feats: dict[str, Any] = {"text": Value("string"), spec.label_column: List(label) if spec.multi_label else label}
    if "votes" in frame.columns:
        vote = {k: Value("string") for k in VOTE_KEYS}
        vote.update(sample=Value("int32"), labels=List(Value("string")))
        feats["votes"] = List(vote)
    if "agreement" in frame.columns:
        per_label = any(isinstance(v, Mapping) for v in frame["agreement"])
        feats["agreement"] = {n: Value("float32") for n in spec.label_names} if per_label else Value("float32")
    import pyarrow as pa

    for col in frame.columns:
        if col not in feats and col not in _DROPPED:
            feats[col] = generate_from_arrow_type(pa.array(frame[col].tolist()).type)
    return Features(feats)


def _stratum(labels: Any, counts: Counter[str]) -> str:
    if isinstance(labels, list):
        return min(labels, key=lambda n: (counts[n], n)) if labels else "(none)"
    return str(labels)


def split_frame(
    frame: pd.DataFrame, spec: TaskSpec, *, seed: int = 42, validation_size: float = 0.1, test_size: float = 0.1
) -> tuple[dict[str, pd.DataFrame], bool]:
    """Seeded train/validation/test split, stratified by label (multi-label: by each row's rarest label)."""
    from sklearn.model_selection import train_test_split

    col = spec.label_column
    n = len(frame)
    counts: Counter[str] = Counter(n for v in frame[col] for n in (v if isinstance(v, list) else [v]))
    keys = [_stratum(v, counts) for v in frame[col]]
    n_test, n_val = (round(n * test_size), round(n * validation_size)) if n >= 10 else (0, 0)
    if n_test == 0 and n_val == 0:
        return {"train": frame}, False
    per_key = Counter(keys)
    stratified = min(per_key.values()) >= 3 and min(n_test, n_val) >= len(per_key)
    idx = list(range(n))
    rest, test = train_test_split(idx, test_size=n_test, random_state=seed, stratify=keys if stratified else None)
    rest_keys = [keys[i] for i in rest]
    train, val = train_test_split(rest, test_size=n_val, random_state=seed, stratify=rest_keys if stratified else None)
    parts = {"train": train, "validation": val, "test": test}
    return {name: frame.iloc[sorted(ix)].reset_index(drop=True) for name, ix in parts.items()}, stratified


def build_dataset(
    source: str | os.PathLike[str] | pd.DataFrame,
    spec: TaskSpec | str | os.PathLike[str],
    *,
    seed: int = 42,
    validation_size: float = 0.1,
    test_size: float = 0.1,
) -> tuple[Any, dict[str, Any]]:
    """A typed ``DatasetDict`` (train/validation/test) from annotate output, and the facts the card states."""
    from datasets import Dataset, DatasetDict

    spec = load_spec(spec)
    frame, n_input, n_failed = load_annotated(source, spec)
    features = dataset_features(frame, spec)
    splits, stratified = split_frame(frame, spec, seed=seed, validation_size=validation_size, test_size=test_size)
    cols = list(features)
    dd = DatasetDict(
        {
            name: Dataset.from_dict({c: part[c].tolist() for c in cols}, features=features)
            for name, part in splits.items()
        }
    )
    facts = {"n_input": n_input, "n_failed": n_failed, "stratified": stratified, "seed": seed, "frame": frame}
    facts["splits"] = splits
    return dd, facts


def write_dataset_folder(
    source: str | os.PathLike[str] | pd.DataFrame,
    spec: TaskSpec | str | os.PathLike[str],
    folder: Path,
    *,
    repo_id: str,
    gold: str | None = None,
    ledger: str | Path | Mapping[str, Any] | None = None,
    seed: int = 42,
    test_size: float = 0.1,
) -> Path:
    """Write the dataset repo folder: ``data/<split>-00000-of-00001.parquet``, ``README.md``, the plot."""
    spec = load_spec(spec)
    dd, facts = build_dataset(source, spec, seed=seed, test_size=test_size)
    (folder / "data").mkdir(parents=True, exist_ok=True)
    for name, ds in dd.items():
        ds.to_parquet(str(folder / "data" / f"{name}-00000-of-00001.parquet"))
    counts = label_counts(facts["splits"], spec)
    plot_label_distribution(counts, spec.label_names, folder / LABEL_PLOT)
    agreement = agreement_facts(facts["frame"], spec)
    card = render_dataset_card(
        dataset_card_data(dd, spec, repo_id=repo_id),
        **dataset_context(spec, dd, facts, counts, agreement, repo_id=repo_id, gold=gold, ledger=ledger),
    )
    card.save(folder / "README.md")
    return folder


def publish_dataset(
    source: str | os.PathLike[str] | pd.DataFrame,
    *,
    spec: TaskSpec | str | os.PathLike[str],
    repo_id: str | None = None,
    to: str | os.PathLike[str] | None = None,
    token: str | None = None,
    private: bool | None = None,
    revision: str | None = None,
    exist_ok: bool = False,
    gold: str | None = None,
    ledger: str | Path | Mapping[str, Any] | None = None,
    seed: int = 42,
    test_size: float = 0.1,
) -> str:
    """Publish a labelled file as a dataset repo (``load_dataset(repo_id)`` loads it); returns the URL or folder."""
    spec = load_spec(spec)
    return _publish(
        lambda folder, rid: write_dataset_folder(
            source, spec, folder, repo_id=rid, gold=gold, ledger=ledger, seed=seed, test_size=test_size
        ),
        repo_type="dataset",
        default_name=spec.name,
        repo_id=repo_id,
        to=to,
        token=token,
        private=private,
        revision=revision,
        exist_ok=exist_ok,
    )


# ==============================================================================================================
# the model
# ==============================================================================================================
WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
_NOT_PUBLISHED = ("checkpoint-*", "runs", "training_args.bin", "*.lock", ".cache", "__pycache__")
DEFAULT_EXAMPLE = "Operating profit rose from EUR 7m to 9m."


def check_model_dir(model_dir: str | os.PathLike[str]) -> Path:
    """The model folder, or :class:`PublishError` when it holds no config or no weights."""
    path = Path(model_dir)
    if not path.is_dir() or not any(path.iterdir()):
        raise PublishError(
            f"nothing to publish: {str(path)!r} is missing or empty; pass the folder `sxhub train` wrote."
        )
    if not (path / "config.json").is_file() or not any((path / w).is_file() for w in WEIGHTS):
        raise PublishError(
            f"nothing to publish: {str(path)!r} has no config.json or model weights (model.safetensors); "
            "pass the folder `sxhub train` wrote."
        )
    return path


def model_info(model_dir: Path) -> tuple[dict[str, Any], TaskSpec]:
    """``sxhub.json`` (or what config.json tells) and the task spec the model was trained for."""
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
    return info, TaskSpec(name=name, labels=names, multi_label=multi)


def evaluate_student(
    model_dir: Path,
    data: str | os.PathLike[str] | pd.DataFrame,
    spec: TaskSpec,
    info: Mapping[str, Any],
    *,
    gold: str | None,
    seed: int,
    limit: int = 2000,
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Score the student on the dataset's test split (the same seeded split the dataset repo has), and its speed."""
    from .evaluate import compare_on_split, measure_speed
    from .predict import Predictor

    _, facts = build_dataset(data, spec, seed=seed)
    part = facts["splits"].get("test", facts["frame"]).head(limit)
    if gold is not None and gold not in part.columns:
        raise PublishError(f"gold column {gold!r} not found; columns are {list(part.columns)[:12]}.")
    predictor = Predictor(model_dir)
    results = compare_on_split(predictor, part, spec, gold=gold)
    return results, measure_speed(predictor, facts["frame"]["text"].tolist())


def _load_json_arg(value: str | Path | Mapping[str, Any] | None, what: str) -> dict[str, Any] | None:
    if value is None or isinstance(value, Mapping):
        return dict(value) if value is not None else None
    path = Path(value)
    if not path.is_file():
        raise PublishError(f"{what} file {str(path)!r} not found; pass a JSON file (e.g. `sxhub evaluate --json`).")
    return json.loads(path.read_text(encoding="utf-8"))


def _given_evaluations(evaluation: Mapping[str, Any] | None, info: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    if evaluation:
        if "macro_f1" in evaluation or "accuracy" in evaluation:
            return {"student vs reference": dict(evaluation)}
        return {str(k): dict(v) for k, v in evaluation.items() if isinstance(v, Mapping)}
    validation = (info.get("train") or {}).get("validation") or {}
    return {"student vs teacher labels (validation)": dict(validation)} if "macro_f1" in validation else {}


def write_model_folder(
    model_dir: str | os.PathLike[str],
    folder: Path,
    *,
    repo_id: str,
    dataset_repo: str | None = None,
    ledger: str | Path | Mapping[str, Any] | None = None,
    evaluation: str | Path | Mapping[str, Any] | None = None,
    data: str | os.PathLike[str] | pd.DataFrame | None = None,
    gold: str | None = None,
    benchmark: str | Path | Mapping[str, Any] | None = None,
    seed: int = 42,
) -> Path:
    """Copy the student folder (weights, tokenizer, config, ``sxhub.json``, ``onnx/``) and add its card and plot."""
    from .cards import (
        CONFUSION_PLOT,
        eval_results,
        eval_table,
        hub_base_model,
        model_card_data,
        plot_confusion,
        render_model_card,
        speed_rows,
        training_rows,
        versions,
    )

    src = check_model_dir(model_dir)
    info, spec = model_info(src)
    copy_tree(src, folder, ignore=_NOT_PUBLISHED)
    evaluations = _given_evaluations(_load_json_arg(evaluation, "evaluation"), info)
    student_speed = _load_json_arg(benchmark, "benchmark")
    split = "test"
    if data is not None:
        evaluations, measured = evaluate_student(src, data, spec, info, gold=gold, seed=seed)
        student_speed = {**measured, **(student_speed or {})}
    elif evaluations and "validation" in next(iter(evaluations)):
        split = "validation"
    main = evaluations.get("student vs experts") or next(iter(evaluations.values()), None)
    confusion = plot_confusion(main, folder / CONFUSION_PLOT, title="student") if main else None
    ledger_dict = load_ledger(ledger)
    teachers = [t.model or t.base_url or "local" for t in spec.default_teachers()]
    thresholds = info.get("thresholds") or {}
    labels = [
        {"name": lab.name, "description": lab.description, "threshold": fmt(thresholds.get(lab.name))}
        for lab in spec.labels
    ]
    card = render_model_card(
        model_card_data(
            info=info,
            spec=spec,
            repo_id=repo_id,
            dataset_repo=dataset_repo,
            results=eval_results(evaluations, dataset=dataset_repo or spec.name, split=split),
        ),
        repo_id=repo_id,
        model_name=repo_id.split("/")[-1],
        description=spec.description,
        multi_label=spec.multi_label,
        labels=labels,
        dataset_repo=dataset_repo,
        base_model=info.get("base_model") or "unknown",
        base_model_id=hub_base_model(info.get("base_model")),
        example_text=(spec.examples[0].text if spec.examples else DEFAULT_EXAMPLE).replace('"', "'"),
        max_length=int(info.get("max_length") or 128),
        thresholds_json=json.dumps(thresholds),
        has_onnx=(src / "onnx").is_dir(),
        eval_rows=eval_table(evaluations),
        eval_note=_eval_note(split, data is not None),
        confusion_file=CONFUSION_PLOT if confusion else None,
        speed_rows=speed_rows(teachers=teachers, ledger=ledger_dict, student=student_speed),
        training=training_rows(info),
        has_gold="student vs experts" in evaluations,
        local_teacher=any(t.is_local for t in spec.default_teachers()),
        sxhub_version=__version__,
        versions=versions(),
    )
    card.save(folder / "README.md")
    return folder


def _eval_note(split: str, measured: bool) -> str:
    where = "the dataset's held-out test split, scored when this card was made" if measured else f"the {split} split"
    return f'Figures on {where}. "teacher labels" are the voted LLM labels the student learned from; "experts" are human labels.'


def publish_model(
    model_dir: str | os.PathLike[str],
    *,
    repo_id: str | None = None,
    to: str | os.PathLike[str] | None = None,
    token: str | None = None,
    private: bool | None = None,
    revision: str | None = None,
    exist_ok: bool = False,
    dataset_repo: str | None = None,
    ledger: str | Path | Mapping[str, Any] | None = None,
    evaluation: str | Path | Mapping[str, Any] | None = None,
    data: str | os.PathLike[str] | pd.DataFrame | None = None,
    gold: str | None = None,
    benchmark: str | Path | Mapping[str, Any] | None = None,
    seed: int = 42,
) -> str:
    """Publish a trained student folder as a model repo with its card; returns the repo URL or the folder.

    ``data`` (the labelled file, with ``gold`` its expert column) scores the student on the same seeded test split
    the dataset repo has; ``evaluation`` passes figures from ``sxhub evaluate --json`` instead.
    """
    src = check_model_dir(model_dir)
    if dataset_repo is not None:
        check_repo_id(dataset_repo)
    return _publish(
        lambda folder, rid: write_model_folder(
            src,
            folder,
            repo_id=rid,
            dataset_repo=dataset_repo,
            ledger=ledger,
            evaluation=evaluation,
            data=data,
            gold=gold,
            benchmark=benchmark,
            seed=seed,
        ),
        repo_type="model",
        default_name=model_info(src)[1].name,
        repo_id=repo_id,
        to=to,
        token=token,
        private=private,
        revision=revision,
        exist_ok=exist_ok,
    )


# ==============================================================================================================
# the Space
# ==============================================================================================================
def publish_space(
    model: str | os.PathLike[str],
    *,
    repo_id: str | None = None,
    to: str | os.PathLike[str] | None = None,
    token: str | None = None,
    private: bool | None = None,
    revision: str | None = None,
    exist_ok: bool = False,
    model_repo: str | None = None,
    dataset_repo: str | None = None,
    data: str | os.PathLike[str] | pd.DataFrame | None = None,
    examples: Sequence[str] | None = None,
    title: str | None = None,
) -> str:
    """Publish the Gradio Space that runs ``model`` (a local folder or a Hub id); returns the URL or the folder."""
    if not Path(model).is_dir() and not model_repo:
        check_repo_id(str(model))
    for rid in (model_repo, dataset_repo):
        if rid is not None:
            check_repo_id(rid)
    return _publish(
        lambda folder, rid: _write_space(
            model,
            folder,
            repo_id=rid,
            model_repo=model_repo,
            dataset_repo=dataset_repo,
            data=data,
            examples=examples,
            title=title,
        ),
        repo_type="space",
        default_name=Path(str(model)).name,
        repo_id=repo_id,
        to=to,
        token=token,
        private=private,
        revision=revision,
        exist_ok=exist_ok,
    )


# ==============================================================================================================
# the Hub
# ==============================================================================================================
def _publish(
    write: Any,
    *,
    repo_type: str,
    default_name: str,
    repo_id: str | None,
    to: str | os.PathLike[str] | None,
    token: str | None,
    private: bool | None,
    revision: str | None,
    exist_ok: bool,
) -> str:
    """Write the repo folder with ``write(folder, repo_id)``; keep it in ``to`` or upload it to ``repo_id``."""
    if repo_id is None and to is None:
        raise PublishError("nothing to publish to: pass --repo-id NAMESPACE/NAME (the Hub) or --to DIR (a folder).")
    if repo_id is not None:
        check_repo_id(repo_id)
    if to is not None:
        folder = Path(to)
        if folder.exists() and any(folder.iterdir()) and not exist_ok:
            raise PublishError(f"folder {str(folder)!r} is not empty; pass --exist-ok to write into it anyway.")
        folder.mkdir(parents=True, exist_ok=True)
        write(folder, repo_id or default_name)
        return str(folder)
    assert repo_id is not None
    token = resolve_token(token)
    api = hub_api(token)
    url = create_repo(api, repo_id, repo_type=repo_type, private=private, exist_ok=exist_ok)
    with tempfile.TemporaryDirectory(prefix="sxhub-publish-") as tmp:
        folder = Path(tmp)
        write(folder, repo_id)
        upload(api, repo_id, folder, repo_type=repo_type, revision=revision)
    return url


def check_repo_id(repo_id: str) -> None:
    """Raise :class:`PublishError` when ``repo_id`` is not a valid ``namespace/name`` on the Hub."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise PublishError(
            f"repo id {repo_id!r} is invalid: {exc}. Use NAMESPACE/NAME with letters, digits, '-', '_', '.'."
        ) from exc


def resolve_token(token: str | None) -> str:
    """The token to push with: the argument, else ``HF_TOKEN``, else the saved login."""
    from huggingface_hub import get_token

    token = token or get_token()
    if not token:
        raise PublishError(
            "no Hugging Face token: run `hf auth login` (or `huggingface-cli login`), set HF_TOKEN, or pass --token."
        )
    return token


def hub_api(token: str) -> Any:
    """``HfApi`` at ``$HF_ENDPOINT`` (the Hub by default), tagged as sxhub in the user agent."""
    from huggingface_hub import HfApi

    return HfApi(
        endpoint=os.environ.get("HF_ENDPOINT") or None, token=token, library_name="sxhub", library_version=__version__
    )


def create_repo(api: Any, repo_id: str, *, repo_type: str, private: bool | None, exist_ok: bool) -> str:
    """Create the repo (``exist_ok`` to reuse one) and return its URL; Hub refusals become one-line errors."""
    from huggingface_hub.errors import HfHubHTTPError

    kind = "Space" if repo_type == "space" else repo_type
    if not exist_ok and api.repo_exists(repo_id, repo_type=repo_type):
        raise PublishError(f"{kind} repo {repo_id!r} already exists; pass --exist-ok to push a new commit to it.")
    try:
        extra = {"space_sdk": "gradio"} if repo_type == "space" else {}
        return str(api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True, **extra))
    except HfHubHTTPError as exc:
        raise PublishError(_http_message(exc, f"creating {kind} repo {repo_id!r}")) from exc


def upload(api: Any, repo_id: str, folder: Path, *, repo_type: str, revision: str | None) -> None:
    """Upload the whole folder in one commit."""
    from huggingface_hub.errors import HfHubHTTPError

    try:
        api.upload_folder(
            repo_id=repo_id,
            folder_path=folder,
            repo_type=repo_type,
            revision=revision,
            commit_message=f"Publish with sxhub {__version__}",
        )
    except HfHubHTTPError as exc:
        raise PublishError(_http_message(exc, f"uploading to {repo_id!r}")) from exc


def _http_message(exc: Any, doing: str) -> str:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if status == 401:
        return f"the Hub rejected the token while {doing} (HTTP 401); check it with `hf auth whoami` or pass --token."
    if status == 403:
        return (
            f"the Hub refused {doing} (HTTP 403: {detail}); use a namespace that is yours or your organisation's and "
            "a token with write access."
        )
    return f"the Hub answered HTTP {status} while {doing}: {detail}"


def _write_space(model: Any, folder: Path, **kwargs: Any) -> Path:
    from .space import write_space_folder

    return write_space_folder(model, folder, **kwargs)


def copy_tree(src: Path, dst: Path, *, ignore: Sequence[str] = ()) -> None:
    """Copy a folder's content into ``dst`` (created), leaving out names matching ``ignore``."""
    shutil.copytree(src, dst, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*ignore))
