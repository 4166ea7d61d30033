"""The report of ``sxhub run``: each stage's figures, written as ``report.json`` and ``report.md`` after every stage
(:class:`Report`), and why a run stopped when it did (:func:`stop_reason`)."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict, cast

from .cards import against_column, comparison_name
from .reliability import format_reliability
from .spec import TaskSpec

if TYPE_CHECKING:
    from .run_config import RunConfig

logger = logging.getLogger(__name__)


@dataclass
class Stage:
    name: str
    seconds: float
    figures: dict[str, Any]


class _RunReportKeys(TypedDict):
    task: str  # the task spec's name
    multi_label: bool
    labels: list[str]  # the label names, in the spec's order
    # each finished stage (annotate, dataset, train, evaluate, export, publish...) -> its seconds and figures
    stages: dict[str, dict[str, Any]]


class RunReport(_RunReportKeys, total=False):
    """What :func:`sxhub.pipeline.run_pipeline` returns, and ``report.json`` holds: a plain dict, typed."""

    # report.json of a run that stopped: the stage under way and why ({"stage": ..., "why": ...}; in train, the
    # "checkpoint" it kept, where it kept one: "epoch 2 of 10, step 340"); run_pipeline
    # raises instead of returning such a report. (total=False, not NotRequired: with postponed annotations, 3.11's
    # TypedDict counted a NotRequired key among __required_keys__)
    stopped: dict[str, str]


class _RunFigures(dict):  # type: ignore[type-arg]
    """:func:`sxhub.pipeline.run_pipeline`'s dict, shown by a line per stage: a notebook cell ending in
    ``run_pipeline(...)`` printed all of report.json (14 KB for ``make demo``'s run: every stage's figures, the
    teachers' reliability, the export's checks). It is a dict in all else (keys, ``==``, ``json.dumps``);
    ``report["stages"]["evaluate"]`` or ``dict(report)`` show the rest."""

    WIDTH = 160  # a stage's line is cut here: the summaries the CLI prints run to several sentences

    def __repr__(self) -> str:
        stages = self.get("stages") or {}
        total = sum(float(v.get("seconds") or 0) for v in stages.values() if isinstance(v, Mapping))
        lines = [f"RunReport({self.get('task')!r}: {len(stages)} stage(s) in {total:.0f} s"]
        for name, figures in stages.items():
            figures = figures if isinstance(figures, Mapping) else {}
            summary = " ".join(str(figures.get("summary") or "").split())
            line = f"  {name} ({float(figures.get('seconds') or 0):.0f} s)" + (f": {summary}" if summary else "")
            lines.append(line if len(line) <= self.WIDTH else line[: self.WIDTH - 3] + "...")
        if self.get("stopped"):
            lines.append(f"  stopped: {self['stopped']}")
        lines.append("  figures: report['stages'][STAGE]; all of it: dict(report))")
        return "\n".join(lines)


def shown_by_stage(report: RunReport) -> RunReport:
    """``report`` as :func:`sxhub.pipeline.run_pipeline` returns it: the same dict, its repr a line per stage."""
    return cast(RunReport, _RunFigures(report))


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
        if self.running == "train":  # the checkpoint a rerun continues, where it kept one (sxhub.train_resume)
            from .train_resume import stopped_runs, where

            kept = stopped_runs(self.config.out / "model")
            if kept:
                self.stopped["checkpoint"] = where(kept[0][1])
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

    def add_unfinished(self, name: str, started: float, figures: dict[str, Any]) -> None:
        """Add what stage ``name`` got done before it stopped (the repos pushed before a push failed); the run's
        :meth:`stop` then says why it stopped there."""
        self.stages.append(Stage(name, time.perf_counter() - started, figures))
        self.write()

    def extend(self, name: str, figures: dict[str, Any]) -> None:
        """Add figures to the stage ``name`` (already added) and rewrite the report."""
        next(s for s in self.stages if s.name == name).figures.update(figures)
        self.write()

    def to_dict(self) -> RunReport:
        report: RunReport = {
            "task": self.spec.name,
            "multi_label": self.spec.multi_label,
            "labels": self.spec.label_names,
            "stages": {s.name: {"seconds": round(s.seconds, 2), **s.figures} for s in self.stages},
        }
        if self.stopped:
            report["stopped"] = self.stopped
        return report

    def write(self) -> None:
        out = self.config.out
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(self.to_dict(), indent=1, default=jsonable) + "\n", "utf-8")
        (out / "report.md").write_text(render_markdown(self.to_dict()), encoding="utf-8")


def jsonable(value: Any) -> Any:
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


def render_markdown(report: Mapping[str, Any]) -> str:
    """The run report as markdown: one section per stage, the comparison table first."""
    stages = report["stages"]
    lines = [f"# sxhub run: {report['task']}", ""]
    stopped = report.get("stopped")
    if stopped:
        done = "The stages below finished and their files are kept" if stages else "No stage finished"
        if stopped["stage"] in stages:  # it got part of the way (publish: the repos pushed before it stopped)
            done = f"The stages below finished, {stopped['stage']} only as far as it shows, and their files are kept"
        rerun = "the label cache answering the texts already labelled"
        if "train" in stages:  # the student is kept too (sxhub.run_reuse)
            rerun += (
                f" and the student in {stages['train'].get('model_dir', 'OUT/model')} reused (--retrain trains anew)"
            )
            if "export" in stages:  # and its export (sxhub.run_reuse)
                rerun += " with its ONNX export"
        elif stopped["stage"] == "train" and stopped.get("checkpoint"):  # continued (sxhub.train_resume)
            rerun += (
                f" and the training continued from the checkpoint it left ({stopped['checkpoint']}), where it matches "
                "(--retrain starts over)"
            )
        elif stopped["stage"] == "train":  # stopped before --resumable-after: nothing to continue
            rerun += (
                " and the training started anew: it stopped before its checkpoints could be resumed "
                "(--resumable-after)"
            )
        lines += [
            f"> **The run stopped during {stopped['stage']}** ({stopped['why']}). {done}; the same command runs "
            f"again from the start, {rerun}.",
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
            # multi-label: a text counts as right only when all its labels are (the cards say so too)
            f"| comparison | n | {'subset accuracy' if report['multi_label'] else 'accuracy'} | {main} | alpha |",
            "|---|---|---|---|---|",
        ]
        gold = against_column(ev)  # --gold gpt4: "student vs `gpt4`", not "experts"
        for name, res in ev.items():
            lines.append(
                f"| {comparison_name(name, gold)} | {res.get('n')} | {_fmt(res.get('accuracy'))} | {_fmt(res.get(main))} | "
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
