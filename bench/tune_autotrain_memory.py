"""Where ``sxhub tune --backend autotrain`` holds its memory: the whole process tree sampled, written to
bench/results/tune_autotrain_memory.{json,md} (``--record NAME`` adds or replaces one run in the json).

Runs ``python -m sxhub tune`` under ``/usr/bin/time -v`` (whose "Maximum resident set size" is the largest single
process's peak, not the tree's) and samples every process below it every ``--every`` seconds with psutil: each
process's RSS and PSS (``/proc/PID/smaps_rollup``; PSS splits shared pages, so the tree's PSS sum counts the torch
libraries once) by its command. The sxhub and AutoTrain output lines are stamped with the time they arrived, so each
peak can be placed in a phase of AutoTrain's log ("loading model", "Finished training, saving model", "Merging
adapter weights", ...).

    PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python bench/tune_autotrain_memory.py --record before -- \
        --max-train 30 --holdout 10 --writing 0.5 --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "financial_phrasebank" / "sentences_allagree.csv"
RESULTS = ROOT / "bench" / "results"
TASK = ROOT / "examples" / "financial-sentiment" / "task.yaml"
PHASES = (
    "Starting SFT training",
    "loading model",
    "creating trainer",
    "Finished training, saving model",
    "Merging adapter weights",
    "Saving target model",
    "Job ID",
    "held-out",
    "tuned ",
)


def _pss_mb(proc: psutil.Process) -> float:
    try:
        text = Path(f"/proc/{proc.pid}/smaps_rollup").read_text()
    except OSError:
        return 0.0
    found = re.search(r"^Pss:\s+(\d+) kB", text, re.M)
    return int(found.group(1)) / 1024 if found else 0.0


def _name(proc: psutil.Process) -> str:
    try:
        cmd = proc.cmdline()
    except psutil.Error:
        return "?"
    short = [Path(c).name if c.startswith("/") else c for c in cmd[:4]]
    return " ".join(short)[:80]


def sample(root: psutil.Process, t0: float, every: float, out: list[dict[str, Any]], done: threading.Event) -> None:
    while not done.is_set():
        try:
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            break
        rows = []
        for proc in procs:
            try:
                rows.append({"pid": proc.pid, "cmd": _name(proc), "rss_mb": proc.memory_info().rss / 2**20,
                             "pss_mb": _pss_mb(proc)})  # fmt: skip
            except psutil.Error:
                continue
        out.append({"t": round(time.monotonic() - t0, 2), "procs": rows})
        done.wait(every)


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="sxhub-atmem-"))
    out_dir = work / "model"
    cmd = [
        "/usr/bin/time", "-v", sys.executable, "-m", "sxhub", "tune", str(TASK), str(args.data), "--text-column",
        "sentence", "--label-column", "label", "-o", str(out_dir), "--backend", args.backend, *args.tune_args,
    ]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=work)
    samples: list[dict[str, Any]] = []
    done = threading.Event()
    sampler = threading.Thread(target=sample, args=(psutil.Process(proc.pid), t0, args.every, samples, done))
    sampler.start()
    lines: list[tuple[float, str]] = []
    assert proc.stdout is not None
    buf = b""
    for chunk in iter(lambda: proc.stdout.read1(65536), b""):  # type: ignore[union-attr]
        buf += chunk
        *whole, buf = re.split(rb"[\r\n]", buf)
        now = round(time.monotonic() - t0, 2)
        lines += [(now, w.decode("utf-8", "replace")) for w in whole if w.strip()]
    code = proc.wait()
    done.set()
    sampler.join()
    wall = time.monotonic() - t0
    log = [(t, ln) for t, ln in lines]
    time_v = {k.strip(): v.strip() for k, _, v in (ln.partition(": ") for _, ln in log) if "Maximum resident" in k
              or "Elapsed (wall" in k}  # fmt: skip
    phases = [{"t": t, "line": ln[:160]} for t, ln in log if any(p in ln for p in PHASES)]
    tree = [{"t": s["t"], "rss_mb": sum(p["rss_mb"] for p in s["procs"]), "pss_mb": sum(p["pss_mb"] for p in s["procs"]),
             "top": max(s["procs"], key=lambda p: p["rss_mb"], default={})} for s in samples]  # fmt: skip
    per_proc: dict[int, dict[str, Any]] = {}
    for s in samples:
        for p in s["procs"]:
            seen = per_proc.setdefault(p["pid"], {"cmd": p["cmd"], "peak_rss_mb": 0.0, "at": 0.0, "first": s["t"]})
            if p["cmd"] != seen["cmd"].split(" -> ")[-1]:  # the process became another program (exec)
                seen["cmd"] += " -> " + p["cmd"]
            if p["rss_mb"] > seen["peak_rss_mb"]:
                seen.update(peak_rss_mb=round(p["rss_mb"]), at=s["t"])
            seen["last"] = s["t"]
    peak = max(tree, key=lambda r: r["rss_mb"], default={"t": 0, "rss_mb": 0, "pss_mb": 0})
    peak_pss = max((r["pss_mb"] for r in tree), default=0)
    summary = next((ln for _, ln in reversed(log) if ln.startswith("tuned ")), None)
    held = re.search(r"held-out accuracy ([0-9.]+) on (\d+) texts", summary or "")
    info = json.loads((out_dir / "sxhub.json").read_text()) if (out_dir / "sxhub.json").is_file() else {}
    return {
        "exit_code": code,
        "command": " ".join(cmd[2:]).replace(str(ROOT) + "/", ""),
        "wall_s": round(wall, 1),
        "time_v": time_v,
        "tree_peak_rss_mb": round(peak["rss_mb"]),
        "tree_peak_pss_mb": round(peak_pss),
        "tree_peak_at_s": peak["t"],
        "processes": sorted(per_proc.values(), key=lambda p: -p["peak_rss_mb"]),
        "phases": phases,
        "heldout_accuracy": float(held.group(1)) if held else None,
        "heldout": info.get("heldout"),
        "summary": summary,
        "timeline": [
            {
                "t": r["t"],
                "rss_mb": round(r["rss_mb"]),
                "pss_mb": round(r["pss_mb"]),
                "top": r["top"].get("cmd"),
                "top_rss_mb": round(r["top"].get("rss_mb", 0)),
            }
            for r in tree
        ],
        "tail": [ln for _, ln in log[-8:]],
    }


def machine() -> dict[str, Any]:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())  # fmt: skip
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "kernel": platform.release(), "python": platform.python_version()}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--record", required=True, help="the run's name in the results json (replaced if there)")
    parser.add_argument("--backend", default="autotrain")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--every", type=float, default=0.5, help="seconds between samples of the process tree")
    parser.add_argument("--note", default="")
    parser.add_argument("tune_args", nargs="*", help="after --: the arguments given to sxhub tune")
    args = parser.parse_args()
    result = run(args)
    result.update(date=time.strftime("%Y-%m-%d %H:%M"), note=args.note, load_avg=os.getloadavg(), machine=machine())
    path = RESULTS / "tune_autotrain_memory.json"
    runs = json.loads(path.read_text()) if path.is_file() else {}
    runs[args.record] = result
    path.write_text(json.dumps(runs, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k not in ("timeline",)}, indent=1))


if __name__ == "__main__":
    main()
