"""Run the sxhub CLI in-process while a thread records RSS, the peak so far and the main thread's stack every
``SAMPLE_S`` seconds (0.5) as JSON lines in ``SAMPLE_OUT``: where a command's peak memory is reached.

    SAMPLE_OUT=/tmp/s.jsonl /usr/bin/time -v python bench/rss_sampler.py publish dataset FILE --task T --gold gold --to D
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import traceback

INTERVAL = float(os.environ.get("SAMPLE_S", "0.5"))
MAIN = threading.main_thread().ident
done = threading.Event()


def status() -> dict[str, float]:
    """VmRSS and VmHWM of this process, in MB."""
    out = {}
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(("VmRSS", "VmHWM")):
                key, value = line.split(":")
                out[key] = int(value.split()[0]) / 1024
    return out


def sample(path: str) -> None:
    start, last = time.time(), 0.0
    with open(path, "w", encoding="utf-8") as out:
        while not done.is_set():
            now = status()
            frame = sys._current_frames().get(MAIN)
            stack = [f"{os.path.basename(f.filename)}:{f.lineno}:{f.name}" for f in traceback.extract_stack(frame)]
            stack = [s for s in stack if not s.startswith(("<frozen", "runpy"))][-14:]
            row = {"t": round(time.time() - start, 2), "rss": round(now["VmRSS"]), "hwm": round(now["VmHWM"])}
            out.write(json.dumps({**row, "hwm_up": now["VmHWM"] > last, "stack": stack}) + "\n")
            out.flush()
            last = now["VmHWM"]
            time.sleep(INTERVAL)
        out.write(json.dumps({"final": status()}) + "\n")


def main() -> None:
    thread = threading.Thread(target=sample, args=(os.environ.get("SAMPLE_OUT", "samples.jsonl"),), daemon=True)
    thread.start()
    from sxhub.cli import main as cli

    sys.argv = ["sxhub", *sys.argv[1:]]
    try:
        cli()
    except SystemExit as exc:
        print("exit", exc.code, file=sys.stderr)
    finally:
        done.set()
        thread.join()


if __name__ == "__main__":
    main()
