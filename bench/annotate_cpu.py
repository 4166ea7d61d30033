"""CPU per label of ``sxhub annotate`` against bench/scale.py's fixed-delay local server, for two sxhub trees.

Runs ``sxhub annotate`` (streamed in parts, a fresh label cache) on N unique short texts against the 50 ms fake
teacher of bench/scale.py, in a subprocess, and reports the subprocess's CPU seconds (user + sys) per label. CPU
time, not wall time: the teacher's delay and other load on the machine do not enter it (cache and frequency effects
of a loaded machine still do, so compare trees measured side by side, alternating). The start-up cost (imports) is
measured with a run of 100 texts and taken off, so the figure is the marginal cost per label.

``--tree DIR`` runs the sxhub found in DIR (e.g. ``git archive <commit> sxhub | tar -x -C DIR``) instead of this
checkout. ``--profile`` writes a cProfile (CPU-time clock) of the run to ``--work``.

Usage: ``.venv/bin/python bench/annotate_cpu.py [--n 3000] [--tree DIR] [--tag NAME] [--profile]``; appends the
result to ``bench/results/annotate_cpu.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from fake_openai_server import FakeOpenAIServer  # noqa: E402
from scale import _clean, short_texts, task_file  # noqa: E402


def cpu_of(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of a subprocess."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:6])} failed: {done.stderr[-1500:]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def annotate_cpu(work: Path, n: int, *, env: dict[str, str], concurrency: int, profile: Path | None) -> dict:
    with FakeOpenAIServer(delay=0.05) as server:
        task = task_file(work, server.url)
        source = short_texts(work / f"unique_{n}.csv", n, unique=True)
        out, cache = work / f"labelled_{n}.parquet", work / f"cache_{n}"
        _clean(out, cache=cache)
        head = [sys.executable]
        if profile is not None:
            code = (
                "import cProfile, runpy, sys, time; sys.argv = ['sxhub'] + sys.argv[1:]; "
                "p = cProfile.Profile(time.process_time); p.enable()\n"
                "try:\n    runpy.run_module('sxhub', run_name='__main__')\nexcept SystemExit:\n    pass\n"
                f"p.disable(); p.dump_stats({str(profile)!r})"
            )
            head += ["-c", code]
        else:
            head += ["-m", "sxhub"]
        args = ["-q", "annotate", str(task), str(source), "-o", str(out), "--concurrency", str(concurrency)]
        cpu, wall = cpu_of([*head, *args, "--cache-dir", str(cache)], env)
        asked = len(server.requests)
        _clean(out, cache=cache)
    if asked != n:
        raise RuntimeError(f"the teacher was asked {asked} times for {n} texts")
    return {"n": n, "cpu_s": round(cpu, 2), "wall_s": round(wall, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--tree", type=Path, help="An sxhub source tree to run instead of this checkout.")
    parser.add_argument("--tag", default="checkout")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--work", type=Path, default=Path("/tmp/sxhub-bench-annotate-cpu"))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TQDM_DISABLE": "1"}
    if args.tree:
        env["PYTHONPATH"] = str(args.tree.resolve())  # ahead of the editable install's path
    load = os.getloadavg()[0]
    start_up = annotate_cpu(args.work, 100, env=env, concurrency=args.concurrency, profile=None)
    run = annotate_cpu(
        args.work,
        args.n,
        env=env,
        concurrency=args.concurrency,
        profile=args.work / f"{args.tag}.prof" if args.profile else None,
    )
    per_label = (run["cpu_s"] - start_up["cpu_s"]) / (run["n"] - start_up["n"]) * 1000
    result = {
        "tag": args.tag,
        "tree": str(args.tree or ROOT),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "n": args.n,
        "concurrency": args.concurrency,
        "cpu_ms_per_label": round(per_label, 2),
        "run": run,
        "start_up": start_up,
        "load_before": round(load, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "profiled": args.profile,
    }
    print(json.dumps(result))
    path = ROOT / "bench" / "results" / "annotate_cpu.json"
    rows = json.loads(path.read_text()) if path.is_file() else []
    path.write_text(json.dumps([*rows, result], indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
