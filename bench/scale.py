"""Scale: peak memory and throughput of predict and annotate as the input grows, in one process and on Ray.

Every measurement runs ``sxhub`` as a user does, in a subprocess, and reports its wall time, throughput and
memory: the peak resident set of the sxhub process itself (``ru_maxrss``, exact) and, for Ray runs, the peak of the
summed RSS of the whole process tree (driver, raylet, GCS, workers; sampled every 0.2 s with psutil, shared pages
counted once per process, so an upper bound).

1. ``predict --onnx --int8``, one process, 10k / 100k / 1M short texts: the int8 tiny BERT of the tests (the
   pipeline's memory, model aside) and all-MiniLM-L6-v2 with a fresh 3-label head (the default student's size and
   speed; its labels are meaningless, which does not change either).
2. ``predict --engine ray`` with 1 and 2 student actors on the same input (a local Ray started by the command).
3. ``annotate`` (streamed in parts), one process, against a local server answering after a fixed delay.
4. ``annotate --engine ray`` with 1 and 2 Ray workers against a 50 ms server, at the same total concurrency and at
   twice it.

Usage: ``.venv/bin/python bench/scale.py [--quick] [--only predict,ray-predict,annotate,ray-annotate]``; writes
``bench/results/scale.json`` and ``scale.md`` (measurements already in the JSON are kept unless rerun).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT / "tests"))  # the fake server and the tiny model live with the tests

import psutil  # noqa: E402
from conftest import WORDS, build_tiny_model  # noqa: E402
from fake_openai_server import FakeOpenAIServer  # noqa: E402

WRAPPER = (
    "import resource, subprocess, sys, time; t = time.perf_counter(); "
    "p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE); "
    "wall = time.perf_counter() - t; u = resource.getrusage(resource.RUSAGE_CHILDREN); "
    "sys.stderr.write(p.stderr.decode(errors='replace')[-1500:]); "
    "print(p.returncode, wall, u.ru_utime + u.ru_stime, u.ru_maxrss)"
)


# ------------------------------------------------------------------------------------------------------------------
# measuring a command
# ------------------------------------------------------------------------------------------------------------------
def run_measured(command: list[str], n: int, *, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Wall time, CPU time, the sxhub process's peak RSS and the process tree's peak summed RSS of ``command``."""
    load_before = os.getloadavg()[0]
    proc = subprocess.Popen(
        [sys.executable, "-c", WRAPPER, *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TQDM_DISABLE": "1", **(env or {})},
    )
    peak_tree = 0
    samples: list[tuple[float, int]] = []
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak_tree
        wrapper = psutil.Process(proc.pid)
        start = time.perf_counter()
        while not stop.is_set():
            try:
                tree = [p for p in wrapper.children(recursive=True)]
                rss = sum(_rss(p) for p in tree)
            except psutil.Error:
                rss = 0
            peak_tree = max(peak_tree, rss)
            samples.append((round(time.perf_counter() - start, 1), rss))
            stop.wait(0.2)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    out, err = proc.communicate()
    stop.set()
    thread.join()
    rc, wall, cpu, maxrss = out.split()[-4:]
    if rc != "0":
        raise RuntimeError(f"{' '.join(command[:8])} failed (exit {rc}): {err[-1200:]}")
    wall_s = float(wall)
    return {
        "n": n,
        "seconds": round(wall_s, 1),
        "per_second": round(n / wall_s, 1),
        "cpu_seconds": round(float(cpu), 1),
        "peak_rss_mb": round(int(maxrss) / 1024, 1),
        "peak_tree_rss_mb": round(peak_tree / 2**20, 1),
        "rss_over_time_mb": _thin(samples),
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }


def _rss(process: psutil.Process) -> int:
    try:
        return int(process.memory_info().rss)
    except psutil.Error:
        return 0


def _thin(samples: list[tuple[float, int]], keep: int = 12) -> list[list[float]]:
    """A dozen (seconds, MB) points of the tree's RSS over the run, to see whether it grows with the input."""
    if not samples:
        return []
    step = max(1, len(samples) // keep)
    return [[t, round(rss / 2**20, 1)] for t, rss in samples[::step]]


def sxhub(*args: str) -> list[str]:
    return [sys.executable, "-m", "sxhub", "-q", *args]


# ------------------------------------------------------------------------------------------------------------------
# inputs and models
# ------------------------------------------------------------------------------------------------------------------
def short_texts(path: Path, n: int, *, unique: bool) -> Path:
    """``n`` tweet-length texts (6-18 words from the tiny model's vocabulary), one CSV column; ``unique`` numbers
    them so that annotate labels every one (it drops exact duplicates)."""
    if path.is_file():
        return path
    rng = random.Random(n)
    words = [w for w in WORDS if len(w) > 1]
    with path.open("w", encoding="utf-8") as fh:
        fh.write("id,text\n")
        for i in range(n):
            text = " ".join(rng.choice(words) for _ in range(rng.randint(6, 18)))
            fh.write(f"{i},{text} {i}\n" if unique else f"{i},{text}\n")
    return path


def students(work: Path) -> dict[str, Path]:
    """The tiny BERT of the tests and MiniLM-L6 with a fresh 3-label head, each exported to int8 ONNX."""
    from sxhub.export import export_onnx

    made = {}
    tiny = work / "tiny-bert"
    if not (tiny / "onnx" / "model_int8.onnx").is_file():
        build_tiny_model(tiny)
        export_onnx(tiny, int8=True)
    made["tiny-bert"] = tiny
    minilm = work / "minilm-l6"
    if not (minilm / "onnx" / "model_int8.onnx").is_file():
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from sxhub.train import default_base_model

        base = default_base_model()
        labels = {0: "positive", 1: "neutral", 2: "negative"}
        model = AutoModelForSequenceClassification.from_pretrained(
            base, num_labels=3, id2label=labels, label2id={v: k for k, v in labels.items()}
        )
        model.save_pretrained(minilm)
        AutoTokenizer.from_pretrained(base).save_pretrained(minilm)
        export_onnx(minilm, int8=True)
    made["minilm-l6"] = minilm
    return made


# ------------------------------------------------------------------------------------------------------------------
# the measurements
# ------------------------------------------------------------------------------------------------------------------
def predict_single(work: Path, models: dict[str, Path], sizes: dict[str, list[int]]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name, ns in sizes.items():
        for n in ns:
            source = short_texts(work / f"texts_{n}.csv", n, unique=False)
            out = work / "pred.parquet"
            args = ["predict", str(models[name]), str(source), "-o", str(out), "--onnx", "--int8"]
            figures = run_measured(sxhub(*args, "--threads", "2", "--batch-size", "64"), n)
            results[f"{name}/{n}"] = {"model": name, **figures}
            print(f"predict {name} {n}: {figures['per_second']}/s, peak {figures['peak_rss_mb']} MB", file=sys.stderr)
    return results


def predict_ray(work: Path, models: dict[str, Path], model: str, n: int) -> dict[str, Any]:
    source = short_texts(work / f"texts_{n}.csv", n, unique=False)
    results: dict[str, Any] = {}
    for workers in (1, 2):
        out = work / "pred_ray.parquet"
        args = ["predict", str(models[model]), str(source), "-o", str(out), "--onnx", "--int8", "--batch-size", "64"]
        figures = run_measured(sxhub(*args, "--engine", "ray", "--workers", str(workers)), n)
        results[f"{model}/{n}/ray x{workers}"] = {"model": model, "workers": workers, **figures}
        print(f"predict ray x{workers} {n}: {figures['per_second']}/s", file=sys.stderr)
    return results


def task_file(work: Path, url: str) -> Path:
    task = work / "task.yaml"
    task.write_text(
        "name: bench\nlabels: [positive, neutral, negative]\nsamples: 1\n"
        f"teachers:\n  - base_url: {url}\n    model: fake\n    server: llamacpp\n    timeout: 60\n",
        encoding="utf-8",
    )
    return task


def annotate_single(
    work: Path, sizes: list[int], delay: float, concurrency: int, *, done: Any = None
) -> dict[str, Any]:
    """One row per size; ``done(key, row)`` is called as each finishes (a 1M run takes an hour)."""
    results: dict[str, Any] = {}
    with FakeOpenAIServer(delay=delay) as server:  # in this process: only sxhub's memory is measured
        task = task_file(work, server.url)
        for n in sizes:
            source = short_texts(work / f"unique_{n}.csv", n, unique=True)
            out = work / f"labelled_{n}.parquet"
            _clean(out, cache=work / f"cache_{n}")  # a killed earlier run's cache would answer part of this one
            args = ["annotate", str(task), str(source), "-o", str(out), "--concurrency", str(concurrency)]
            figures = run_measured(sxhub(*args, "--cache-dir", str(work / f"cache_{n}")), n)
            _clean(out, cache=work / f"cache_{n}")
            key = f"{n} at concurrency {concurrency}, delay {delay:g} s"
            results[key] = {"delay_s": delay, "concurrency": concurrency, **figures}
            if done is not None:
                done(key, results[key])
            print(f"annotate {n}: {figures['per_second']}/s, peak {figures['peak_rss_mb']} MB", file=sys.stderr)
    return results


def annotate_ray(work: Path, n: int, delay: float, concurrency: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    source = short_texts(work / f"unique_{n}.csv", n, unique=True)
    with FakeOpenAIServer(delay=delay) as server:
        task = task_file(work, server.url)
        for total in (concurrency, 2 * concurrency):
            for workers in (1, 2):
                out = work / "labelled_ray.parquet"
                _clean(out)
                args = ["annotate", str(task), str(source), "-o", str(out), "--concurrency", str(total)]
                args += ["--engine", "ray", "--shards", str(workers)]
                figures = run_measured(sxhub(*args), n)
                _clean(out)
                key = f"ray x{workers}, concurrency {total}"
                results[key] = {"workers": workers, "concurrency": total, "delay_s": delay, **figures}
                print(f"annotate {key}: {figures['per_second']}/s", file=sys.stderr)
    return results


def _clean(out: Path, cache: Path | None = None) -> None:
    import shutil

    for path in (out.with_name(out.name + ".parts"), cache):
        if path is not None and path.exists():
            shutil.rmtree(path)
    out.unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------------------------------
# the report
# ------------------------------------------------------------------------------------------------------------------
def markdown(results: dict[str, Any]) -> str:
    env = results.get("environment", {})
    lines = [
        "# Scale: memory and throughput as the input grows",
        "",
        f"Run {env.get('date')} on {env.get('cpus')} CPU cores shared with other work (1-minute load average "
        f"{env.get('load_start')} at the start, {env.get('load_end')} at the end: above 2 the cores were "
        "oversubscribed and every throughput below is lower than on an idle machine). Peak RSS is the sxhub "
        "process's own (exact, `ru_maxrss`); for Ray runs the tree column adds the driver, raylet, GCS and workers.",
        "",
    ]
    sections = [
        ("predict", "`sxhub predict --onnx --int8`, one process", ["model", "n"]),
        ("ray_predict", "`sxhub predict --onnx --int8 --engine ray` (a local Ray started by the command)", ["model", "workers", "n"]),
        ("annotate", "`sxhub annotate` (streamed in parts) against a fixed-delay local server", ["concurrency", "delay_s", "n"]),
        ("ray_annotate", "`sxhub annotate --engine ray` against a 50 ms server", ["workers", "concurrency", "n"]),
    ]  # fmt: skip
    for key, title, cols in sections:
        rows = results.get(key) or {}
        if not rows:
            continue
        lines += [
            f"## {title}",
            "",
            "| " + " | ".join([*cols, "seconds", "per second", "peak RSS MB", "tree RSS MB", "load"]) + " |",
        ]
        lines.append("|" + "---|" * (len(cols) + 5))
        for r in rows.values():
            values = [str(r.get(c)) for c in cols]
            values += [str(r["seconds"]), f"{r['per_second']:,.0f}", str(r["peak_rss_mb"]), str(r["peak_tree_rss_mb"])]
            values.append(f"{r['load_before']}/{r['load_after']}")
            lines.append("| " + " | ".join(values) + " |")
        lines.append("")
    lines += [notes(results)]
    return "\n".join(lines) + "\n"


def notes(results: dict[str, Any]) -> str:
    """What the numbers show and what they cannot, written from them."""
    out = ["## What this shows, and what 2 cores cannot", ""]
    pred = results.get("predict") or {}
    for model in ("tiny-bert", "minilm-l6"):
        rows = sorted((r for r in pred.values() if r["model"] == model), key=lambda r: r["n"])
        if len(rows) >= 2:
            first, last = rows[0], rows[-1]
            growth = (last["peak_rss_mb"] - first["peak_rss_mb"]) / first["peak_rss_mb"] * 100
            out.append(
                f"- predict ({model}): peak RSS {first['peak_rss_mb']} MB at {first['n']:,} texts and "
                f"{last['peak_rss_mb']} MB at {last['n']:,} ({growth:+.0f}%): memory does not follow the input's size "
                f"(chunks of 8,192 rows are read, labelled and written one at a time)."
            )
    for model in ("tiny-bert", "minilm-l6"):
        rows = [r for r in pred.values() if r["model"] == model]
        if rows:
            big = max(rows, key=lambda r: r["n"])
            out.append(
                f"- predict ({model}) CPU cost: {big['cpu_seconds'] / big['n'] * 1000:.2f} ms of CPU per text at "
                f"{big['n']:,} texts, so about {big['n'] / big['cpu_seconds']:,.0f} texts/s per busy core: the figure "
                "to size a cluster by (wall-clock rates above are lower because the cores were shared)."
            )
    biggest = max(pred.values(), key=lambda r: r["n"], default=None)
    if biggest:
        verdict = "met" if biggest["n"] >= 1_000_000 and biggest["peak_rss_mb"] < 1536 else "not shown at 1M"
        line = (
            f"- Goal predict 1M under 1.5 GB: {verdict} ({biggest['model']}, {biggest['n']:,} texts, "
            f"{biggest['peak_rss_mb']} MB)."
        )
        minilm = sorted((r for r in pred.values() if r["model"] == "minilm-l6"), key=lambda r: r["n"])
        if minilm and minilm[-1]["n"] < biggest["n"]:
            m = minilm[-1]
            line += (
                f" MiniLM was run to {m['n']:,} texts ({m['peak_rss_mb']} MB); 1M of it was not run (at "
                f"{m['per_second']:,.0f} texts/s on these shared cores, ~{1_000_000 / m['per_second'] / 3600:.1f} h). "
                "Its memory is the tiny model's plus the larger model and batches, flat in the input as above: an "
                "estimate well under 1.5 GB, not a measurement."
            )
        out.append(line)
    groups: dict[tuple[Any, Any], list[dict[str, Any]]] = {}
    for row in (results.get("annotate") or {}).values():
        groups.setdefault((row["concurrency"], row["delay_s"]), []).append(row)
    for (concurrency, delay), rows in sorted(groups.items()):
        ann = sorted(rows, key=lambda r: r["n"])
        b = ann[-1]
        for a in ann[:-1]:
            growth = (b["peak_rss_mb"] - a["peak_rss_mb"]) / a["peak_rss_mb"] * 100
            out.append(
                f"- annotate (concurrency {concurrency}, {delay:g} s server): peak RSS {a['peak_rss_mb']} MB at "
                f"{a['n']:,} texts, {b['peak_rss_mb']} MB at {b['n']:,} ({growth:+.1f}%)."
            )
        if b["n"] >= 1_000_000 and any(a["n"] == 100_000 for a in ann):
            a = next(a for a in ann if a["n"] == 100_000)
            growth = (b["peak_rss_mb"] - a["peak_rss_mb"]) / a["peak_rss_mb"] * 100
            out.append(
                f"- Goal annotate RSS grows <= 10% from 100k to 1M: {'met' if growth <= 10 else 'missed'} "
                f"({growth:+.1f}%, measured: {b['n']:,} requests sent at concurrency {concurrency})."
            )
        out.append(
            f"- annotate CPU cost (concurrency {concurrency}): {b['cpu_seconds'] / b['n'] * 1000:.1f} ms of CPU per "
            f"label (request, reply check, cache, parts) at {b['n']:,} texts: one busy core keeps about "
            f"{b['n'] / b['cpu_seconds']:,.0f} labels/s going, whatever the teacher's latency, as long as "
            "--concurrency covers latency x rate."
        )
    ray_a = results.get("ray_annotate") or {}
    if ray_a:
        rate = {(r["workers"], r["concurrency"]): r["per_second"] for r in ray_a.values()}
        conc = sorted({c for _, c in rate})
        delay = next(iter(ray_a.values()))["delay_s"]
        parts = []
        for c in conc:
            if (1, c) in rate and (2, c) in rate:
                parts.append(
                    f"at concurrency {c}: 1 worker {rate[(1, c)]:,.0f}/s, 2 workers {rate[(2, c)]:,.0f}/s "
                    f"(x{rate[(2, c)] / rate[(1, c)]:.2f}; the ideal for a {delay * 1000:.0f} ms teacher is "
                    f"{c / delay:,.0f}/s)"
                )
        if len(conc) == 2 and (1, conc[0]) in rate and (1, conc[1]) in rate:
            parts.append(f"twice the concurrency, 1 worker: x{rate[(1, conc[1])] / rate[(1, conc[0])]:.2f}")
        per_worker = max(r["per_second"] / r["workers"] for r in ray_a.values())
        out.append(
            f"- annotate on Ray ({next(iter(ray_a.values()))['n']:,} texts, Ray's start included): "
            + "; ".join(parts)
            + ". --concurrency is shared by the workers, so against one teacher a second worker adds no requests in "
            "flight: it only helps when one process cannot keep them in flight (CPU-bound parsing and bookkeeping), "
            "which needs more cores than 2 shared ones to show. Where the rate stays below the ideal, the 2 cores "
            "(the fake server, the workers and Ray on the same 2 cores) are the limit, not the teacher. Sizing a "
            f"many-node run: up to {per_worker:,.0f} labels/s per worker here; a cluster needs enough workers to keep "
            "the teacher's capacity in flight (its concurrency / its latency), and no more."
        )
    ray_p = results.get("ray_predict") or {}
    if ray_p:
        rows = sorted(ray_p.values(), key=lambda r: r["workers"])
        ratio = rows[-1]["per_second"] / rows[0]["per_second"] if len(rows) > 1 else 1.0
        single = sorted((r for r in pred.values() if r["model"] == rows[0]["model"]), key=lambda r: r["n"])
        versus = (
            "; one process without Ray, same kind of texts: "
            + ", ".join(f"{r['per_second']:,.0f}/s at {r['n']:,}" for r in single)
            + (
                " (Ray was run on fewer rows than 1M to fit the time the shared machine allowed)"
                if rows[0]["n"] < 1_000_000
                else ""
            )
            if single
            else ""
        )
        out.append(
            f"- predict on Ray ({rows[0]['n']:,} texts, {rows[0]['model']}): {_rates(ray_p)} (2 vs 1 actor: "
            f"x{ratio:.2f}){versus}. Ray's start (about 20 s on this machine), its reading and writing tasks and the final join "
            "into one Parquet file are included; on 2 shared cores a second actor competes with the first and with "
            "Ray's own processes for the same cores, so the speed-up of a second machine cannot show here. What "
            "sizes a cluster is the per-actor rate, one actor per core: "
            f"{max(r['per_second'] / r['workers'] for r in rows):,.0f} texts/s per actor at best here, with the "
            "tree's memory (the tree RSS column) as the per-node cost of Ray itself."
        )
    out.append(
        "- Not measured: a real multi-node cluster, a GPU, a real teacher (its latency and rate limits decide "
        "annotate's speed), and inputs on network storage."
    )
    return "\n".join(out)


def _rates(rows: dict[str, Any]) -> str:
    return ", ".join(f"{key}: {row['per_second']:,.0f}/s" for key, row in rows.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="Small sizes: checks that the script runs.")
    parser.add_argument("--only", default="predict,ray-predict,annotate,ray-annotate")
    parser.add_argument("--work", type=Path, default=Path("/tmp/sxhub-bench-scale"))
    parser.add_argument("--delay", type=float, default=0.05, help="Seconds the fake teacher takes per answer.")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--minilm-sizes", default="10000,100000")
    parser.add_argument("--tiny-sizes", default="10000,100000,1000000")
    parser.add_argument("--ray-predict-n", type=int, default=1_000_000)
    parser.add_argument("--annotate-sizes", default="10000,100000")
    parser.add_argument("--ray-annotate-n", type=int, default=100_000)
    args = parser.parse_args()
    if args.quick:
        args.minilm_sizes, args.tiny_sizes, args.annotate_sizes = "500", "500,2000", "200,800"
        args.ray_predict_n, args.ray_annotate_n = 2000, 400
    args.work.mkdir(parents=True, exist_ok=True)
    only = set(args.only.split(","))
    out_json = RESULTS / ("scale_quick.json" if args.quick else "scale.json")
    environment = {
        "date": time.strftime("%Y-%m-%d"),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "load_start": round(os.getloadavg()[0], 2),
    }

    def save(section: str, rows: dict[str, Any]) -> None:
        _save(out_json, section, rows, environment)

    sizes = lambda text: [int(x) for x in text.split(",") if x]  # noqa: E731
    models = students(args.work) if only & {"predict", "ray-predict"} else {}
    if "predict" in only:
        save(
            "predict",
            predict_single(
                args.work, models, {"tiny-bert": sizes(args.tiny_sizes), "minilm-l6": sizes(args.minilm_sizes)}
            ),
        )
    if "ray-predict" in only:
        save("ray_predict", predict_ray(args.work, models, "tiny-bert", args.ray_predict_n))
    if "annotate" in only:
        annotate_single(
            args.work,
            sizes(args.annotate_sizes),
            args.delay,
            args.concurrency,
            done=lambda key, row: save("annotate", {key: row}),
        )
    if "ray-annotate" in only:
        save("ray_annotate", annotate_ray(args.work, args.ray_annotate_n, args.delay, args.concurrency))


def _keyed_annotate(rows: dict[str, Any]) -> dict[str, Any]:
    """Earlier annotate rows under today's keys (size, concurrency and delay: rows were once keyed by size only)."""
    return {f"{r['n']} at concurrency {r['concurrency']}, delay {r['delay_s']:g} s": r for r in rows.values()}


def _save(out_json: Path, section: str, rows: dict[str, Any], environment: dict[str, Any]) -> None:
    """Write one section's new rows into the results file, re-read first: runs of other sections (in other
    processes) keep theirs. Annotate rows of other settings are kept beside the new ones; other sections are
    replaced whole."""
    results: dict[str, Any] = json.loads(out_json.read_text()) if out_json.is_file() else {}
    if section == "annotate":
        rows = {**_keyed_annotate(results.get("annotate") or {}), **rows}
    results[section] = rows
    results["environment"] = {**environment, "load_end": round(os.getloadavg()[0], 2)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    tmp = out_json.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    tmp.replace(out_json)
    out_json.with_suffix(".md").write_text(markdown(results), encoding="utf-8")


if __name__ == "__main__":
    main()
