"""Teacher servers: per kind, what sxhub sends, what the server enforced, and labels/s at concurrency 16.

Each kind runs against its conformance stand-in (``tests/servers/``: written from that server's own source, which
each stand-in cites) with a fixed answer delay, so labels/s measures sxhub's engine and request path, not a model.
sxhub detects the kind from the server's routes (nothing is configured), and every reply is validated against the
answer schema with jsonschema: a kind that enforces only JSON shows up as invalid answers and failed texts.

A second row per kind forces ``structured: none`` (the prompt alone asks for JSON), to show what enforcement buys.

Usage: ``.venv/bin/python bench/backends.py [--n 200] [--delay 0.05]``; writes ``bench/results/backends.json`` and
``bench/results/backends.md``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the stand-ins live with the tests

from servers import SERVER_KINDS  # noqa: E402

from sxhub.annotate import annotate  # noqa: E402
from sxhub.errors import TeacherUnavailableError  # noqa: E402
from sxhub.spec import TaskSpec, TeacherSpec  # noqa: E402
from sxhub.teachers.servers import forget_detected  # noqa: E402

LABELS = ["positive", "neutral", "negative"]


def texts(n: int) -> list[str]:
    path = ROOT.parent / "shared" / "data" / "financial_phrasebank" / "sentences_allagree.csv"
    if path.is_file():
        import pandas as pd

        return pd.read_csv(path)["sentence"].head(n).tolist()
    return [f"Company {i} reported results for quarter {i % 4 + 1}." for i in range(n)]


def _serve(kind: str, delay: float, conn: Any) -> None:
    """In a child process: run the stand-in until told to stop, then send back what it recorded."""
    with SERVER_KINDS[kind](delay=delay) as server:
        conn.send(server.url)
        conn.recv()  # stop
        conn.send(
            {
                "enforced": list(server.enforced),
                "first": server.requests[0] if server.requests else {},
                "requests": len(server.requests),
            }
        )


def one(kind: str, items: list[str], *, delay: float, concurrency: int, structured: str = "auto") -> dict[str, Any]:
    forget_detected()
    parent, child = multiprocessing.Pipe()
    proc = multiprocessing.get_context("fork").Process(target=_serve, args=(kind, delay, child), daemon=True)
    proc.start()  # the stand-in runs in its own process: its checks do not share sxhub's GIL
    try:
        url = parent.recv()
        teacher = TeacherSpec(base_url=url, model="stub-model", name=kind, structured=structured)
        spec = TaskSpec(name="bench", labels=LABELS, teachers=[teacher])
        start = time.perf_counter()
        try:
            result, stopped = (
                annotate(spec, items, concurrency=concurrency, cache=False, progress=False, max_invalid=0),
                "",
            )
        except TeacherUnavailableError as exc:  # the early stop: a teacher whose first texts were all invalid
            result, stopped = None, str(exc)
        seconds = time.perf_counter() - start
        parent.send("stop")
        record = parent.recv()
    finally:
        proc.join(timeout=10)
        if proc.is_alive():
            proc.kill()
    enforced_by_server = sorted(set(record["enforced"]))
    first_request = record["first"]
    if result is None:  # what the user gets: the run stops after the first texts, with the line that says why
        return {
            "kind": kind,
            "structured": structured,
            "detected": kind,
            "request_form": (
                f"response_format {first_request['response_format'].get('type')}"
                if isinstance(first_request.get("response_format"), dict)
                else "no constraint (prompt only)"
            ),
            "sent": {},
            "server_enforced": enforced_by_server,
            "texts": len(items),
            "labelled": 0,
            "stopped": stopped,
            "requests": record["requests"],
            "seconds": round(seconds, 3),
            "labels_per_s": 0.0,
            "requests_per_s": round(record["requests"] / seconds, 1),
        }
    led = result.ledger["teachers"][kind]
    labelled = int((~result.frame["failed"]).sum())
    sent = {
        k: first_request[k] for k in ("response_format", "structured_outputs", "guided_json") if k in first_request
    }
    return {
        "kind": kind,
        "structured": structured,
        "detected": led["server"],
        "request_form": led["request_form"],
        "sent": sent,
        "sxhub_enforced": led["enforced"],
        "server_enforced": enforced_by_server,
        "texts": len(items),
        "labelled": labelled,
        "invalid_answers": led["invalid_answers"],
        "seconds": round(seconds, 3),
        "labels_per_s": round(labelled / seconds, 1),
        "requests_per_s": round(led["requests"] / seconds, 1),
    }


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        "# Teacher servers: what sxhub sends, what each enforces, labels/s",
        "",
        f"`bench/backends.py`, {meta['n']} PhraseBank sentences per row, concurrency {meta['concurrency']}, "
        f"each stand-in answering after {meta['delay'] * 1000:.0f} ms; {meta['machine']}. Invalid answers are not "
        "asked again (`max_invalid=0`), so the labelled count shows what the server's enforcement alone delivers. A run "
        "whose teacher gave no valid answer for its first texts stops there with one line saying why (the early stop "
        "of `sxhub annotate`), as a user's would: such rows give the requests sent before it stopped.",
        "",
        "| kind | structured | detected | sxhub sent | server enforced | labelled | labels/s | requests/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['kind']} | {r['structured']} | {r['detected']} | {r['request_form']} | "
            f"{' / '.join(r['server_enforced'])} | {r['labelled']}/{r['texts']}"
            + (f", run stopped after {r['requests']} requests" if r.get("stopped") else "")
            + f" | {r['labels_per_s']} | {r['requests_per_s']} |"
        )
    lines += [
        "",
        f"The ceiling at this delay and concurrency is {meta['concurrency'] / meta['delay']:.0f} requests/s. Each "
        "stand-in runs in its own process, but on the same 2 cores as the client, and its request checks (TGI's and "
        "vLLM's validate the schema against the JSON Schema meta-schema on every request) cost CPU there: the "
        "figures are a floor for sxhub's engine, not a measure of any server. Load average at the start (other work "
        f"on the machine slows every row): {meta['load_average']}.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--delay", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    items = texts(args.n)
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    rows = []
    for kind in SERVER_KINDS:
        rows.append(one(kind, items, delay=args.delay, concurrency=args.concurrency))
        rows.append(one(kind, items, delay=args.delay, concurrency=args.concurrency, structured="none"))
        print(json.dumps(rows[-2]), file=sys.stderr)
    meta = {
        "n": args.n,
        "delay": args.delay,
        "concurrency": args.concurrency,
        "machine": f"{platform.processor() or platform.machine()}, Python {platform.python_version()}",
        "load_average": load,
    }
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "backends.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n", encoding="utf-8")
    (out / "backends.md").write_text(markdown(rows, meta), encoding="utf-8")
    print(markdown(rows, meta))


if __name__ == "__main__":
    main()
