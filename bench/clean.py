"""Cleaning cost on crafted text: the e-mail pattern before and after its runs were bounded (``sxhub/data.py``).

A text is cleaned by ``train``, ``annotate``, ``predict`` and the Space with the steps saved with the model. Before
PREPROCESSING_VERSION 3 the e-mail step's open runs (``[\\w.+-]+@...``) rescanned a long run of word characters and
dots from every start inside it: quadratic in the text's length. This measures both patterns on crafted texts of
growing length and checks that they mask the same spans on every text of ../shared/data.

    python bench/clean.py [--data ../shared/data] [--out bench/results/clean.json]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import re
import time
from pathlib import Path

import pandas as pd

from sxhub.data import EMAIL_RE

OPEN_EMAIL = re.compile(r"(?i)\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")  # PREPROCESSING_VERSION 2's pattern
CRAFTED = {
    "a.a.a.": lambda n: "a." * (n // 2),
    "1-1-1-x": lambda n: "1-" * (n // 2) + "x",
    "b@a-a-a-": lambda n: "b@" + "a-" * (n // 2),
}


def seconds(pattern: re.Pattern[str], text: str) -> float:
    start = time.perf_counter()
    pattern.sub("EMAIL", text)
    return time.perf_counter() - start


def real_texts(root: Path) -> list[str]:
    texts: list[str] = []
    for path in sorted(glob.glob(str(root / "**" / "*.csv"), recursive=True)):
        frame = pd.read_csv(path, dtype=str)
        for column in frame.columns:
            texts += [v for v in frame[column].dropna().tolist() if isinstance(v, str)]
    return texts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("bench/results/clean.json"))
    args = parser.parse_args()
    rows = []
    for name, make in CRAFTED.items():
        for n in (10_000, 20_000, 40_000):
            text = make(n)
            rows.append(
                {
                    "text": name,
                    "chars": len(text),
                    "open_s": seconds(OPEN_EMAIL, text),
                    "bounded_s": seconds(EMAIL_RE, text),
                }
            )
            print(rows[-1], flush=True)
    texts = real_texts(args.data)
    differ = [t for t in texts if OPEN_EMAIL.sub("EMAIL", t) != EMAIL_RE.sub("EMAIL", t)]
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
        "crafted": rows,
        "real_texts": len(texts),
        "real_texts_masked_differently": len(differ),
        "examples_differing": differ[:5],
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "crafted"}, indent=2))


if __name__ == "__main__":
    main()
